#!/bin/sh
# callmeter-worker run against a real Kamailio (registrar and record-routing proxy with digest auth) in a
# network namespace the test creates: endpoints register (401 challenge), call each other through the proxy
# (INVITE challenged with 407, Record-Route honoured for ACK and BYE), media on the worker's dataplane (net_ring);
# a group with a wrong password must end REGISTRATION_FAILED with 401, and the run must report it (exit 1).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
# every worker run below is bounded: a hung run is killed (SIGKILL 5 s after SIGTERM) and fails the test

tb_netns cmkam
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
tb_kamailio "$TB_WORK/kamailio.cfg"

cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = kamailio-digest
duration = 25s
call_duration = 3s
cps = 20
register_rate = 100

[group agents]
endpoints = 15
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 1000
local_ip = $TB_HOST_IP
local_port = 37060
ring_time = 300ms

[group customers]
endpoints = 15
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 2000
target = group:agents
local_ip = $TB_HOST_IP
local_port = 38060

[group intruders]
endpoints = 3
role = callee
registrar = $TB_NS_IP:5060
username = {n}
password = wrong
first_number = 3000
local_ip = $TB_HOST_IP
local_port = 39060

[dataplane]
media_ip = 192.0.2.30, 192.0.2.31
rtp_ports = 42000-42999
PLAN

timeout -k 5 180 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1
rc=$?
if [ $rc -ne 1 ]; then
	cat "$TB_WORK/run.out"; tail -30 "$TB_WORK/kamailio.log"
	echo "FAIL: expected exit 1 (failed endpoints), got $rc"
	exit 1
fi
python3 - "$TB_WORK/s.json" <<'PY' || { cat "$TB_WORK/run.out"; tail -30 "$TB_WORK/kamailio.log"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
e, r, c, q = s["endpoints"], s["registrations"], s["calls"], s["quality"]
assert e["total"] == 33 and e["SUCCESS"] == 30 and e["REGISTRATION_FAILED"] == 3, e
assert r["attempted"] == 33 and r["succeeded"] == 30 and r["failed"] == 3, r
assert c["attempted"] == 15 and c["answered"] == 15, c
assert s["run"]["outcome"] == "COMPLETED_WITH_FAILURES", s["run"]
fails = {(f["outcome"], f["code"]): f["count"] for f in s["failures"]}
assert fails == {("REGISTRATION_FAILED", 401): 3}, fails
assert q["mos"]["min"] >= 4.3 and len(s["flows"]) == 30, q
print("kamailio: 30 endpoints registered with digest and called through the proxy, MOS min %.2f; "
      "3 wrong passwords -> REGISTRATION_FAILED 401" % q["mos"]["min"])
PY
