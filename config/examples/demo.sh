#!/bin/sh
# make demo: the main job on the embedded default plan.
# The end-to-end run (endpoint engine, 'callmeter-worker run', config/examples/*.ini) is not built yet; say so
# plainly instead of pretending.  What exists today is shown by: build/callmeter-worker (see README).
echo "make demo: the demo run (two groups of SIP endpoints calling each other with RTP over the DPDK"
echo "dataplane) is not built yet. Today's worker starts its dataplane on net_ring0 and serves /health:"
echo "    HEALTH_PORT=3030 LOG_FORMAT=pretty $1"
exit 2
