#!/bin/sh
# The registrar/proxy is restarted in the middle of a run (scenario 5): Kamailio is killed (its registrations
# and transactions are gone) while calls are up, and started again empty.  The endpoints' refreshes register
# them again with the new Kamailio, the BYEs of the calls set up before the restart still reach the callees
# through it (loose routing needs no state), and every endpoint ends SUCCESS.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
# every worker run below is bounded: a hung run is killed (SIGKILL 5 s after SIGTERM) and fails the test

tb_netns cmrst
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
tb_kamailio "$TB_WORK/kamailio.cfg"

cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = registrar-restart
duration = 40s
call_duration = 9s
cps = 20

[group agents]
endpoints = 5
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 1000
register_expires = 10
local_ip = $TB_HOST_IP
local_port = 37160
ring_time = 200ms

[group customers]
endpoints = 5
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 2000
register_expires = 10
target = group:agents
local_ip = $TB_HOST_IP
local_port = 38160

[dataplane]
media_ip = 192.0.2.80, 192.0.2.81
rtp_ports = 46000-46999
PLAN

timeout -k 5 180 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1 &
wpid=$!
sleep 2.5                       # registered, calls up
tb_kamailio_kill
sleep 1.5
tb_kamailio "$TB_WORK/kamailio.cfg"   # empty: no registrations
wait $wpid
rc=$?
if [ $rc -ne 0 ]; then
	cat "$TB_WORK/run.out"; tail -30 "$TB_WORK/kamailio.log"
	echo "FAIL: run exit $rc"
	exit 1
fi
# REGISTERs the restarted Kamailio saw with a non-zero Expires: refreshes of every endpoint
reregistered=$(grep -o 'REG [0-9]* [1-9][0-9]*' "$TB_WORK/kamailio.log" | awk '{print $2}' | sort -u | wc -l)
python3 - "$TB_WORK/s.json" "$reregistered" <<'PY' || { cat "$TB_WORK/run.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1])); rereg = int(sys.argv[2])
assert s["endpoints"]["SUCCESS"] == 10, s["endpoints"]
assert s["calls"]["answered"] == 5 and s["registrations"]["succeeded"] == 10, (s["calls"], s["registrations"])
assert rereg == 10, "endpoints registered again with the restarted Kamailio: %d" % rereg
for f in s["flows"]:
    assert f["packets_received"] >= 400 and f["packets_lost"] == 0, f   # 9 s of media, undisturbed
print("registrar restart: all 10 endpoints registered again with the new Kamailio, 5 calls set up before the "
      "restart ended through it, every endpoint SUCCESS")
PY
