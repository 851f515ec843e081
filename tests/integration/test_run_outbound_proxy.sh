#!/bin/sh
# outbound_proxy: every request goes to the proxy with a Route header naming it (RFC 3261 §8.1.2), even when the
# registrar's own address is unreachable.  Kamailio (registrar and record-routing proxy with digest auth) in a
# network namespace is the outbound proxy; the plan's registrar is a TEST-NET address nothing answers at, so
# registrations and calls can only succeed through the proxy.  tshark in the namespace checks that every REGISTER
# and INVITE from the worker carried the Route header.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
command -v tshark >/dev/null 2>&1 || tb_skip "tshark not installed"

tb_netns cmobp
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
tb_kamailio "$TB_WORK/kamailio.cfg"
ip netns exec "$TB_NS" tshark -q -i cmn$$ -f "udp port 5060 and src host $TB_HOST_IP" -w "$TB_WORK/sip.pcap" \
	>"$TB_WORK/tshark.log" 2>&1 &
for _ in $(seq 1 50); do grep -q "Capturing" "$TB_WORK/tshark.log" && break; sleep 0.1; done

cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = outbound-proxy
duration = 25s
call_duration = 2s
cps = 20

[group agents]
endpoints = 5
registrar = 192.0.2.99:5060
domain = callmeter.test
outbound_proxy = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 1000
local_ip = $TB_HOST_IP
local_port = 37160
ring_time = 200ms

[group customers]
endpoints = 5
registrar = 192.0.2.99:5060
domain = callmeter.test
outbound_proxy = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 2000
target = group:agents
local_ip = $TB_HOST_IP
local_port = 38160

[dataplane]
media_ip = 192.0.2.34
rtp_ports = 42000-42099
PLAN

timeout -k 5 180 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1
rc=$?
sleep 0.5
for p in $(ip netns pids "$TB_NS" | xargs -r ps -o pid= -o comm= -p | awk '$2 ~ /tshark|dumpcap/ {print $1}'); do
	kill "$p" 2>/dev/null
done
sleep 0.5
if [ $rc -ne 0 ]; then
	cat "$TB_WORK/run.out"; tail -30 "$TB_WORK/kamailio.log"
	echo "FAIL: expected exit 0, got $rc"
	exit 1
fi
tshark -r "$TB_WORK/sip.pcap" -Y "sip.Method == \"REGISTER\" || sip.Method == \"INVITE\"" -T fields \
	-e sip.Method -e sip.Route 2>/dev/null >"$TB_WORK/routes.txt"
python3 - "$TB_WORK/s.json" "$TB_WORK/routes.txt" "$TB_NS_IP" <<'PY' || { cat "$TB_WORK/run.out"; exit 1; }
import json, sys, collections
s = json.load(open(sys.argv[1]))
e, r, c = s["endpoints"], s["registrations"], s["calls"]
assert e["total"] == 10 and e["SUCCESS"] == 10, e
assert r["attempted"] == 10 and r["succeeded"] == 10, r
assert c["attempted"] == 5 and c["answered"] == 5, c
assert len(s["flows"]) == 10 and s["quality"]["mos"]["min"] >= 4.3, s["quality"]
lines = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
route = "<sip:%s:5060;lr>" % sys.argv[3]
methods = collections.Counter(l[0] for l in lines)
# REGISTER: 10 challenged + 10 with credentials, then 10 unREGISTERs (challenged again or not); INVITE: 5 + 5
assert methods["REGISTER"] >= 20 and methods["INVITE"] == 10, methods
bad = [l for l in lines if len(l) < 2 or route not in l[1]]
assert not bad, bad[:3]
print("outbound proxy: 10 endpoints registered and 5 calls made through Kamailio as outbound proxy "
      "(registrar unreachable); %d REGISTER and %d INVITE all carried Route %s"
      % (methods["REGISTER"], methods["INVITE"], route))
PY
