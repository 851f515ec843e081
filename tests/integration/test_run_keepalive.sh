#!/bin/sh
# RFC 5626 CRLF keep-alive on TCP flows with callmeter-worker run and a real Kamailio (registrar over TCP, which
# answers CRLFCRLF pings with CRLF) in a namespace the test creates.  Two endpoints register over one TCP flow
# with keepalive = 1s, two more each over a flow of its own (port_per_endpoint).  While Kamailio runs, its pongs keep the flow up: no flow is declared dead.  Then Kamailio
# is frozen (SIGSTOP: its kernel still takes TCP segments, the application answers nothing) for 13 s: the worker
# must declare each flow dead 1 s + 10 s (the pong time) after a ping, close it and register its endpoints again
# at once over a new flow, which Kamailio answers when it is thawed: every endpoint SUCCESS, and Kamailio's log
# shows each endpoint's REGISTER twice (the first registration and the one after the dead flow).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}

tb_netns cmka
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
sed -i "/^listen=udp/a listen=tcp:$TB_NS_IP:5060" "$TB_WORK/kamailio.cfg"
tb_kamailio "$TB_WORK/kamailio.cfg"
for _ in $(seq 1 50); do ip netns exec "$TB_NS" ss -ltn 2>/dev/null | grep -q "$TB_NS_IP:5060" && break; sleep 0.1; done

cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = keepalive
duration = 24s

[group phones]
endpoints = 2
target = external
transport = tcp
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 1000
local_ip = $TB_HOST_IP
local_port = 39960
keepalive = 1s

[group desks]
endpoints = 2
target = external
transport = tcp
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 2000
local_ip = $TB_HOST_IP
local_port = 39970
port_per_endpoint = yes
keepalive = 1s

[dataplane]
media_ip = 192.0.2.70, 192.0.2.71
rtp_ports = 46000-46999
PLAN
LOG_LEVEL=info timeout -k 5 90 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" \
	>"$TB_WORK/run.out" 2>&1 &
wpid=$!
sleep 5
if grep -q "no answer to a keep-alive" "$TB_WORK/run.out"; then
	cat "$TB_WORK/run.out"; echo "FAIL: a flow declared dead while Kamailio answers its pings"; exit 1
fi
kpids=$(ip netns pids "$TB_NS")
kill -STOP $kpids
sleep 13
kill -CONT $kpids
wait $wpid
rc=$?
if [ $rc -ne 0 ]; then
	grep -v '"level":"debug"' "$TB_WORK/run.out"; tail -20 "$TB_WORK/kamailio.log"
	echo "FAIL: run exit $rc"
	exit 1
fi
python3 - "$TB_WORK/s.json" "$TB_WORK/kamailio.log" "$TB_WORK/run.out" <<'PY' || { cat "$TB_WORK/run.out"; exit 1; }
import json, re, sys
s = json.load(open(sys.argv[1])); log = open(sys.argv[2]).read(); out = open(sys.argv[3]).read()
assert s["endpoints"]["SUCCESS"] == 4, s["endpoints"]
regs = re.findall(r"REG (\d+) (\d+)", log)
binds = sorted(u for u, exp in regs if exp != "0")
# the first registration and the one after the dead flow
assert binds == ["1000", "1000", "1001", "1001", "2000", "2000", "2001", "2001"], regs
assert sorted(u for u, exp in regs if exp == "0") == ["1000", "1001", "2000", "2001"], regs
# one flow shared by the phones, one of its own for each desk
assert out.count("no answer to a keep-alive") == 3, out.count("no answer to a keep-alive")
print("keepalive: pongs kept the TCP flows up; frozen Kamailio -> the shared flow and each per-endpoint flow "
      "declared dead after the pong time, every endpoint registered again over a new flow, SUCCESS")
PY
