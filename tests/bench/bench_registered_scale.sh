#!/bin/sh
# Issue 5's scale claim end to end: one control-plane thread carrying N registered endpoints (default 10,000) that
# refresh their registrations while hundreds of calls a second are set up among them through a real Kamailio
# (registrar with digest, record-routing proxy) in a namespace this script creates; media on the worker's
# dataplane (net_ring).  Half the endpoints are callees, half callers placing CALLS_PER calls each at CPS.  The
# registrar grants EXPIRES seconds, so every endpoint refreshes (32 s before expiry) during the run.
# Passes when every endpoint is SUCCESS, every call answered and no refresh failed.  Prints the control-plane
# thread's CPU (the main thread; the dataplane lcore busy-polls its own core and is not counted) and its share
# of the run's wall time.  Kamailio shares this machine's CPUs with the worker, so the rates it can proxy bound
# what is measured; no reference is run (SIPp keeps no registrations of its own).
# Final line: BENCH sip_registered_scale_cp_cpu <percent of one core> % ref=<N>-registered-<CPS>cps
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
n=${BENCH_SCALE_ENDPOINTS:-10000}
cps=${BENCH_SCALE_CPS:-200}
calls_per=${BENCH_SCALE_CALLS_PER:-2}
expires=${BENCH_SCALE_EXPIRES:-60}
command -v kamailio >/dev/null 2>&1 || tb_skip "kamailio not installed"

half=$((n / 2))
tb_netns cmbscale
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
sed -i 's/^children=2/children=4/; s/xlog("L_INFO", "REG .*$//' "$TB_WORK/kamailio.cfg"
TB_KAMAILIO_MEM="-m 1024 -M 32" tb_kamailio "$TB_WORK/kamailio.cfg"

reg_s=$((n / 500 + 1))
call_s=$((half * calls_per / cps + 1))
cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = registered-scale-$n
duration = $((reg_s + call_s + 40))s
call_duration = 5s
cps = $cps
register_rate = 500
setup_timeout = 20s

[group callees]
endpoints = $half
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 100000
register_expires = $expires
local_ip = $TB_HOST_IP
local_port = 37260
ring_time = 100ms

[group callers]
endpoints = $half
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 200000
register_expires = $expires
target = group:callees
calls_per_endpoint = $calls_per
local_ip = $TB_HOST_IP
local_port = 38260

[dataplane]
media_ip = 192.0.2.40, 192.0.2.41, 192.0.2.42, 192.0.2.43
rtp_ports = 10000-59999
PLAN

start=$(date +%s.%N)
timeout -k 5 900 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1 &
wp=$!
# the control-plane (main) thread's CPU ticks, read until the worker (timeout's child) exits
hz=$(getconf CLK_TCK)
echo 0 >"$TB_WORK/cp_ticks"
while kill -0 $wp 2>/dev/null; do
	pid=$(pgrep -P $wp | head -1)
	s=$(cat "/proc/$pid/task/$pid/stat" 2>/dev/null) && echo "$s" | sed 's/.*) //' | awk '{print $12 + $13}' >"$TB_WORK/cp_ticks"
	sleep 1
done
wait $wp
rc=$?
end=$(date +%s.%N)
python3 - "$TB_WORK/s.json" "$TB_WORK/cp_ticks" "$hz" "$start" "$end" "$n" "$cps" "$rc" <<'PY' || { sed -n "/^Run run/,/^Quality/p" "$TB_WORK/run.out"; grep -E "ERROR|CRIT" "$TB_WORK/kamailio.log" | tail -5; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
ticks, hz, t0, t1 = int(open(sys.argv[2]).read()), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
n, cps, rc = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
e, r, c = s["endpoints"], s["registrations"], s["calls"]
cpu, wall = ticks / hz, t1 - t0
print("%d endpoints: %d SUCCESS, %d registered (p50 %s ms, p99 %s ms), %d refreshes (%d failed), %d/%d calls "
      "answered (setup p99 %s ms); control-plane thread %.1f s CPU in %.1f s (%.0f %% of a core)"
      % (n, e["SUCCESS"], r["succeeded"], r["time_ms"]["p50"], r["time_ms"]["p99"], r["refreshes"],
         r["refresh_failed"], c["answered"], c["attempted"], c["setup_ms"]["p99"], cpu, wall, 100 * cpu / wall))
assert rc == 0 and e["SUCCESS"] == n and r["succeeded"] == n and r["refresh_failed"] == 0, (rc, e, r)
assert r["refreshes"] >= n and c["answered"] == c["attempted"] > 0, (r, c)
print("BENCH sip_registered_scale_cp_cpu %.0f %% ref=%d-registered-%dcps" % (100 * cpu / wall, n, cps))
PY
