#!/bin/sh
# Concurrent bidirectional G.711 calls the worker sustains on this machine: SIP on 127.0.0.1, media on the DPDK
# dataplane over net_ring, calls held for HOLD_S seconds.  Steps up N (callers = callees = N) and keeps the largest
# N whose run ends with every endpoint SUCCESS, no packet lost and no dataplane drop (tx ring full, no mbuf, RX
# drops of media).  Calls start at CPS per second and each lasts HOLD_S plus the ramp, so all N are up together
# for HOLD_S seconds.  Prints CPU and peak memory of each step.
# The reference the issue names (SIPp, which breaks near 1,250 calls with media) is not measured here.
set -u
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
hold=${HOLD_S:-60}
steps=${BENCH_CALL_STEPS:-500 1000 2000 4000 8000 16000 32000 64000 100000}
cps=${CPS:-1000}
# SIP ports of the two groups: another session running this benchmark at the same time needs other ones
callee_port=${CALLEE_SIP_PORT:-47060}
caller_port=${CALLER_SIP_PORT:-48060}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
best=0
for n in $steps; do
	ramp=$(((n + cps - 1) / cps))
	cat >"$dir/p.ini" <<PLAN
[test]
name = concurrent-$n
duration = $((hold + 2 * ramp + n / 500 + 30))s
call_duration = $((hold + ramp))s
cps = $cps
setup_timeout = 20s
[group callees]
endpoints = $n
local_port = $callee_port
ring_time = 100ms
[group callers]
endpoints = $n
target = group:callees
local_port = $caller_port
[dataplane]
media_ip = 192.0.2.50, 192.0.2.51, 192.0.2.52, 192.0.2.53, 192.0.2.54, 192.0.2.55, 192.0.2.56, 192.0.2.57
rtp_ports = 10000-59999
PLAN
	/usr/bin/time -f "%e %P %M" -o "$dir/time" "$worker" run "$dir/p.ini" --json-summary "$dir/s.json" \
		>"$dir/out" 2>&1 &
	tpid=$!
	# CPU time per thread (utime + stime ticks), the last reading before the worker exits: the control plane
	# (main thread) apart from the busy-polling dataplane lcore
	: >"$dir/threads"
	sleep 1
	wpid=$(pgrep -P "$tpid" | head -n 1)
	while [ -n "$wpid" ] && kill -0 "$wpid" 2>/dev/null; do
		for t in /proc/"$wpid"/task/*; do
			echo "$(cat "$t/comm") $(cut -d' ' -f14,15 "$t/stat")"
		done >"$dir/threads.new" 2>/dev/null && mv "$dir/threads.new" "$dir/threads"
		sleep 2
	done
	wait "$tpid"
	rc=$?
	verdict=$(python3 - "$dir/s.json" "$n" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except Exception as e:
    print("FAIL no summary"); sys.exit()
n = int(sys.argv[2]); d = s["dataplane"]; q = s["quality"]
# media drops only: ARP (our own gratuitous ARPs come back on the ring), RTCP (counted, not analysed) and packets
# in flight to a flow that just closed are not losses
drops = sum(v for k, v in d.items()
            if k.startswith("rx_drop_") and k not in ("rx_drop_unknown_port", "rx_drop_arp", "rx_drop_rtcp"))
ok = (s["endpoints"]["SUCCESS"] == 2 * n and q["packets_lost"] == 0 and d["tx_ring_full"] == 0
      and d["tx_no_mbuf"] == 0 and drops == 0 and d.get("port_imissed", 0) == 0)
print("%s success=%d lost=%d ring_full=%d no_mbuf=%d rx_drops=%d mos_min=%.2f" % (
    "PASS" if ok else "FAIL", s["endpoints"]["SUCCESS"], q["packets_lost"], d["tx_ring_full"],
    d["tx_no_mbuf"], drops, q["mos"]["min"]))
PY
)
	read -r secs cpu rss <<EOF
$(tail -n 1 "$dir/time")
EOF
	threads=$(awk -v hz="$(getconf CLK_TCK)" '{ t = ($2 + $3) / hz }
		$1 ~ /^callmeter/ { cp += t } $1 ~ /^(rte|lcore)-worker/ { dp += t }
		END { printf "control_plane_cpu=%.1fs dataplane_cpu=%.1fs", cp, dp }' "$dir/threads")
	echo "calls=$n exit=$rc $verdict wall=${secs}s cpu=$cpu $threads peak_rss=$((rss / 1024))MiB"
	case $verdict in
	PASS*) best=$n ;;
	*)	# why: the outcomes and the worker's last lines
		python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("endpoints", s["endpoints"]); print("calls", {k: v for k, v in s["calls"].items() if not isinstance(v, dict)}); print("dataplane", s["dataplane"])' "$dir/s.json" 2>/dev/null
		tail -n 5 "$dir/out"
		break ;;
	esac
done
echo "BENCH concurrent_calls $best calls"
