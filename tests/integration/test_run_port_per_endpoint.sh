#!/bin/sh
# port_per_endpoint against a real Kamailio (registrar and record-routing proxy with digest auth) in a network
# namespace the test creates: every endpoint registers, calls and is called from its own UDP port
# (local_port + its index in the group).  Kamailio logs the source address of every REGISTER and INVITE and the
# Request-URI its location lookup chose: the registrar must see one distinct source port per endpoint (exactly
# the plan's ports), INVITEs from the callers' own ports, and route each call to the callee's own port; every
# endpoint SUCCESS.  Then a port of the range already taken: the run refuses to start, naming the port.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}

tb_netns cmppe
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
# log where each REGISTER and INVITE came from, and where the lookup sends the INVITE
sed -i 's|"REG \$fU \$hdr(Expires)\\n"|"REG $fU $hdr(Expires) src=$si:$sp\\n"|' "$TB_WORK/kamailio.cfg"
sed -i 's|if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }|&\n\t\txlog("L_INFO", "INV $fU src=$si:$sp ruri=$ru\\n");|' \
	"$TB_WORK/kamailio.cfg"
grep -q 'REG \$fU \$hdr(Expires) src=' "$TB_WORK/kamailio.cfg" && grep -q 'INV \$fU' "$TB_WORK/kamailio.cfg" ||
	{ echo "FAIL: could not add the source-port logging to the Kamailio config"; exit 1; }
tb_kamailio "$TB_WORK/kamailio.cfg"

n=8
cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = port-per-endpoint
duration = 15s
call_duration = 2s
cps = 20
register_rate = 100

[group agents]
endpoints = $n
role = callee
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 1000
local_ip = $TB_HOST_IP
local_port = 37100
port_per_endpoint = yes
ring_time = 200ms

[group customers]
endpoints = $n
registrar = $TB_NS_IP:5060
username = {n}
password = secret
first_number = 2000
target = group:agents
local_ip = $TB_HOST_IP
local_port = 38100
port_per_endpoint = yes

[dataplane]
media_ip = 192.0.2.30, 192.0.2.31
rtp_ports = 42000-42999
PLAN

timeout -k 5 120 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	cat "$TB_WORK/run.out"; tail -30 "$TB_WORK/kamailio.log"
	echo "FAIL: expected exit 0, got $rc"
	exit 1
fi
python3 - "$TB_WORK/s.json" "$TB_WORK/kamailio.log" "$TB_HOST_IP" "$n" <<'PY' || { cat "$TB_WORK/run.out"; tail -40 "$TB_WORK/kamailio.log"; exit 1; }
import json, re, sys
s = json.load(open(sys.argv[1]))
log, ip, n = open(sys.argv[2]).read(), sys.argv[3], int(sys.argv[4])
e, c = s["endpoints"], s["calls"]
assert e["total"] == 2 * n and e["SUCCESS"] == 2 * n, e
assert c["attempted"] == n and c["answered"] == n, c
reg = {}   # user -> set of source ports of its REGISTERs (registration and unregistration)
for user, exp, sip, sport in re.findall(r"REG (\d+) (\d+) src=([\d.]+):(\d+)", log):
    assert sip == ip, (user, sip)
    reg.setdefault(user, set()).add(int(sport))
want = {str(1000 + k): 37100 + k for k in range(n)}
want.update({str(2000 + k): 38100 + k for k in range(n)})
assert set(reg) == set(want), sorted(reg)
for user, ports in reg.items():
    assert ports == {want[user]}, (user, ports)
ports = [p for ps in reg.values() for p in ps]
assert len(set(ports)) == 2 * n, ports
inv = re.findall(r"INV (\d+) src=([\d.]+):(\d+) ruri=sip:(\d+)@([\d.]+):(\d+)", log)
assert len(inv) >= n, inv   # the challenged INVITE and its retry both pass the lookup log
callers = {u for u, *_ in inv}
assert callers == {str(2000 + k) for k in range(n)}, callers
for user, sip, sport, callee, cip, cport in inv:
    assert int(sport) == want[user], ("INVITE from", user, sport)
    assert cip == ip and int(cport) == want[callee], ("INVITE routed to", callee, cport)
print("port_per_endpoint: %d endpoints registered from %d distinct ports (%d-%d, %d-%d), %d calls from the callers'"
      " own ports to the callees' own ports, all SUCCESS"
      % (2 * n, len(set(ports)), 37100, 37100 + n - 1, 38100, 38100 + n - 1, c["answered"]))
PY
[ $? -eq 0 ] || exit 1

# a port of the range is taken: a clear setup error naming it, nothing run
python3 -c "
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$TB_HOST_IP', 38103))
sys.stdout.write('bound\n'); sys.stdout.flush(); time.sleep(30)" >"$TB_WORK/hold.out" &
holder=$!
for _ in $(seq 1 50); do grep -q bound "$TB_WORK/hold.out" 2>/dev/null && break; sleep 0.1; done
timeout -k 5 60 "$worker" run "$TB_WORK/plan.ini" >"$TB_WORK/busy.out" 2>&1
rc=$?
kill "$holder" 2>/dev/null
if [ $rc -eq 0 ] || ! grep -q "cannot open SIP/UDP on $TB_HOST_IP:38103 for '2003'" "$TB_WORK/busy.out"; then
	cat "$TB_WORK/busy.out"
	echo "FAIL: a taken port should stop the run with an error naming it (exit $rc)"
	exit 1
fi
echo "port_per_endpoint: a taken port refused the run: $(grep -o "cannot open SIP/UDP[^(]*" "$TB_WORK/busy.out")"
