#!/bin/sh
# port_per_endpoint against a real Kamailio (registrar and record-routing proxy with digest auth) in a network
# namespace the test creates: every endpoint registers, calls and is called from its own port (local_port + its
# index in the group), over UDP, TCP and TLS (a listener of its own, and its own connection to Kamailio).  Kamailio logs the source address of every REGISTER and INVITE and the
# Request-URI its location lookup chose: the registrar must see one distinct source per endpoint (UDP: exactly the
# plan's ports; TCP/TLS: one connection per endpoint, used for all its requests), INVITEs from the callers' own
# ports or connections, and route each call to the callee's own port; every endpoint SUCCESS.  Then a port of the range already taken: the run refuses to start, naming the port.
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

n=8
tb_pki
tb_cert kamailio "IP:$TB_NS_IP"
tb_cert worker "IP:$TB_HOST_IP"
tb_kamailio_add_tls "$TB_WORK/kamailio.cfg" "$TB_WORK/kamailio.pem" "$TB_WORK/kamailio.key"
tb_kamailio "$TB_WORK/kamailio.cfg"

# run_case TRANSPORT REGISTRAR_PORT BASE: the plan with both groups on TRANSPORT, local ports from BASE (agents)
# and BASE + 1000 (customers)
run_case() {
	tls=
	[ "$1" = tls ] && tls="tls_verify = ca
tls_ca_file = $TB_WORK/ca.pem
tls_cert_file = $TB_WORK/worker.pem
tls_key_file = $TB_WORK/worker.key"
	cat >"$TB_WORK/plan-$1.ini" <<PLAN
[test]
name = port-per-endpoint-$1
duration = 15s
call_duration = 2s
cps = 20
register_rate = 100

[group agents]
endpoints = $n
role = callee
registrar = $TB_NS_IP:$2
transport = $1
username = {n}
password = secret
first_number = 1000
local_ip = $TB_HOST_IP
local_port = $3
port_per_endpoint = yes
ring_time = 200ms
$tls

[group customers]
endpoints = $n
registrar = $TB_NS_IP:$2
transport = $1
username = {n}
password = secret
first_number = 2000
target = group:agents
local_ip = $TB_HOST_IP
local_port = $(($3 + 1000))
port_per_endpoint = yes
$tls

[dataplane]
media_ip = 192.0.2.30, 192.0.2.31
rtp_ports = 42000-42999
PLAN
	start=$(wc -l <"$TB_WORK/kamailio.log")
	timeout -k 5 120 "$worker" run "$TB_WORK/plan-$1.ini" --json-summary "$TB_WORK/s-$1.json" >"$TB_WORK/run-$1.out" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		cat "$TB_WORK/run-$1.out"; tail -30 "$TB_WORK/kamailio.log"
		echo "FAIL: $1: expected exit 0, got $rc"
		exit 1
	fi
	tail -n +"$((start + 1))" "$TB_WORK/kamailio.log" >"$TB_WORK/kamailio-$1.log"
	python3 - "$TB_WORK/s-$1.json" "$TB_WORK/kamailio-$1.log" "$TB_HOST_IP" "$n" "$1" "$3" <<'PY' ||
import json, re, sys
s = json.load(open(sys.argv[1]))
log, ip, n, tp, base = open(sys.argv[2]).read(), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
e, c = s["endpoints"], s["calls"]
assert e["total"] == 2 * n and e["SUCCESS"] == 2 * n, e
assert c["attempted"] == n and c["answered"] == n, c
want = {str(1000 + k): base + k for k in range(n)}          # each endpoint's own port (Via, Contact)
want.update({str(2000 + k): base + 1000 + k for k in range(n)})
reg = {}   # user -> set of source ports of its REGISTERs (registration and unregistration)
for user, exp, sip, sport in re.findall(r"REG (\d+) (\d+) src=([\d.]+):(\d+)", log):
    assert sip == ip, (user, sip)
    reg.setdefault(user, set()).add(int(sport))
assert set(reg) == set(want), sorted(reg)
for user, ports in reg.items():
    # UDP: from its own port; TCP/TLS: over its own connection (one source port, the kernel's choice, for all)
    assert ports == {want[user]} if tp == "udp" else len(ports) == 1, (user, ports)
src = {u: min(p) for u, p in reg.items()}
assert len(set(src.values())) == 2 * n, src
param = "" if tp == "udp" else ";transport=" + tp
inv = re.findall(r"INV (\d+) src=([\d.]+):(\d+) ruri=sip:(\d+)@([\d.]+):(\d+)([^\s]*)", log)
assert len(inv) >= n, inv   # the challenged INVITE and its retry both pass the lookup log
callers = {u for u, *_ in inv}
assert callers == {str(2000 + k) for k in range(n)}, callers
for user, sip, sport, callee, cip, cport, rest in inv:
    assert int(sport) == src[user], ("INVITE from", user, sport, "not its registration's source", src[user])
    assert cip == ip and int(cport) == want[callee], ("INVITE routed to", callee, cport)
    assert rest == param, ("INVITE routed with", rest)
how = "ports" if tp == "udp" else "connections"
print("port_per_endpoint %s: %d endpoints registered from %d distinct %s (Contact ports %d-%d, %d-%d), %d calls "
      "from the callers' own %s to the callees' own ports, all SUCCESS"
      % (tp, 2 * n, len(set(src.values())), how, base, base + n - 1, base + 1000, base + 1000 + n - 1,
         c["answered"], how))
PY
	{ cat "$TB_WORK/run-$1.out"; tail -40 "$TB_WORK/kamailio-$1.log"; exit 1; }
}

run_case udp 5060 37100
run_case tcp 5060 37200
run_case tls 5061 37300

# a port of the range is taken: a clear setup error naming it, nothing run
python3 -c "
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$TB_HOST_IP', 38103))
sys.stdout.write('bound\n'); sys.stdout.flush(); time.sleep(30)" >"$TB_WORK/hold.out" &
holder=$!
for _ in $(seq 1 50); do grep -q bound "$TB_WORK/hold.out" 2>/dev/null && break; sleep 0.1; done
timeout -k 5 60 "$worker" run "$TB_WORK/plan-udp.ini" >"$TB_WORK/busy.out" 2>&1
rc=$?
kill "$holder" 2>/dev/null
if [ $rc -eq 0 ] || ! grep -q "cannot open SIP/UDP on $TB_HOST_IP:38103 for '2003'" "$TB_WORK/busy.out"; then
	cat "$TB_WORK/busy.out"
	echo "FAIL: a taken port should stop the run with an error naming it (exit $rc)"
	exit 1
fi
echo "port_per_endpoint: a taken port refused the run: $(grep -o "cannot open SIP/UDP[^(]*" "$TB_WORK/busy.out")"
