#!/bin/sh
# make demo: the main job on the embedded default plan — two groups of SIP endpoints on 127.0.0.1 calling each
# other, G.711 media on the DPDK dataplane over a net_ring device, about 30 s, then the summary.
set -eu
worker=${1:-build/callmeter-worker}
plan=${DEMO_PLAN:-config/examples/demo.ini}
out=${DEMO_OUT:-build/demo}
mkdir -p "$out"
echo "callmeter demo: $plan (summary in $out/summary.json, per-second samples in $out/metrics.msgpack)"
exec "$worker" run "$plan" --json-summary "$out/summary.json" --metrics-out "$out/metrics.msgpack"
