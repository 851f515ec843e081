#!/bin/sh
# INVITE and REGISTER failover across DNS targets (RFC 3263 §4.3) with callmeter-worker run: a dnsmasq the test
# starts serves SRV records whose first (preferred) target fails and whose second is a SIPp UAS echoing RTP in the
# test's namespace (the dataplane on a second veth through net_af_packet).
# 1. TCP: the first target's port is closed (connection refused): every call must be answered by the second.
# 2. UDP: the first target is a SIPp that answers every INVITE and REGISTER with 503: every call must go on to the
#    second (the 503 SIPp must have seen every INVITE once), and a registering group must fail over the same way
#    to a second SIPp that accepts REGISTERs.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
. tests/integration/lib/sipp.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
command -v sipp >/dev/null 2>&1 || tb_skip "sipp (sip-tester) not installed"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || tb_skip "dnsmasq (dnsmasq-base) not installed"

tb_netns cmfail
tb_media_link
CALLS=4
UAS=$(pwd)/tests/integration/lib/sipp_uas.xml
DNS_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$DNSMASQ" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
	--port="$DNS_PORT" --user=root \
	--srv-host=_sip._tcp.svc.test,dead.svc.test,5999,10,0 --srv-host=_sip._tcp.svc.test,uas.svc.test,5070,20,0 \
	--srv-host=_sip._udp.svc.test,busy.svc.test,5080,10,0 --srv-host=_sip._udp.svc.test,uas.svc.test,5070,20,0 \
	--srv-host=_sip._udp.reg.test,busy.svc.test,5081,10,0 --srv-host=_sip._udp.reg.test,uas.svc.test,5071,20,0 \
	--host-record=dead.svc.test,"$TB_NS_IP" --host-record=busy.svc.test,"$TB_NS_IP" \
	--host-record=uas.svc.test,"$TB_NS_IP" >"$TB_WORK/dnsmasq.log" 2>&1 &
export CALLMETER_DNS_SERVERS="127.0.0.1:$DNS_PORT"

sipp_ns() { # NAME ARGS...: a SIPp in the namespace, its output in TB_WORK/NAME.log
	name=$1
	shift
	(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp "$@" -i "$TB_NS_IP" -nostdin -timeout 60s \
		>"$TB_WORK/$name.log" 2>&1) &
}
wait_port() { # PROTO PORT
	for _ in $(seq 1 50); do
		ip netns exec "$TB_NS" ss -l"$1"n 2>/dev/null | grep -q "$TB_NS_IP:$2" && return 0
		sleep 0.1
	done
	echo "FAIL: nothing listens on $1 $2"
	exit 1
}
plan() { # NAME TRANSPORT TARGET-GROUP-LINES
	cat >"$TB_WORK/$1.ini" <<PLAN
[test]
name = failover-$1
duration = 20s
call_duration = 2s
cps = 10

$3

[dataplane]
media_ip = $TB_MEDIA_DP_IP
netmask = 255.255.255.0
rtp_ports = 43000-43999
eal_args = --no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$TB_MEDIA_IF --no-telemetry
  --log-level=*:warning
PLAN
}
check() { # NAME CALLS: every endpoint SUCCESS, every call answered with echoed media
	python3 - "$TB_WORK/$1.json" "$2" <<'PY' || { cat "$TB_WORK/$1.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1])); calls = int(sys.argv[2])
e, c = s["endpoints"], s["calls"]
assert e["SUCCESS"] == e["total"], e
assert c["attempted"] == calls and c["answered"] == calls, c
for f in s["flows"]:
    assert f["packets_lost"] == 0 and f["packets_received"] >= 70, f
PY
}

# 1. TCP, the first SRV target refuses connections
sipp_ns uas-tcp -sf "$UAS" -t t1 -p 5070 -mi "$TB_MEDIA_NS_IP" -rtp_echo -m $CALLS
wait_port t 5070
plan tcp tcp "[group callers]
endpoints = $CALLS
transport = tcp
target = sip:service@svc.test
local_ip = $TB_HOST_IP
local_port = 39660"
timeout -k 5 120 "$worker" run "$TB_WORK/tcp.ini" --json-summary "$TB_WORK/tcp.json" >"$TB_WORK/tcp.out" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	cat "$TB_WORK/tcp.out" "$TB_WORK/dnsmasq.log"; tail -20 "$TB_WORK/uas-tcp.log"
	echo "FAIL: TCP failover run exit $rc"
	exit 1
fi
check tcp $CALLS
echo "failover tcp: $CALLS calls to svc.test answered by the second SRV target (the first refuses connections)"

# 2. UDP, the first SRV target answers 503
{
	sipp_head "503 to every INVITE"
	echo '  <recv request="INVITE"/>'
	sipp_respond 503 -t '[pid]busy[call_number]'
	echo '  <recv request="ACK"/>'
	sipp_tail
} >"$TB_WORK/busy.xml"
sed -e 's/request="INVITE"/request="REGISTER"/' -e '/request="ACK"/d' -e 's/every INVITE/every REGISTER/' \
	"$TB_WORK/busy.xml" >"$TB_WORK/busyreg.xml"
{
	sipp_head "200 to a registration and its unregistration (one Call-ID)"
	echo '  <recv request="REGISTER"/>'
	sipp_respond 200 -t '[pid]reg[call_number]' -h '[last_Contact:];expires=3600'
	echo '  <recv request="REGISTER"/>'
	sipp_respond 200 -t '[pid]reg[call_number]'
	sipp_tail
} >"$TB_WORK/registrar.xml"
# a registering group of 2: both REGISTERs get 503 from the first target, the second takes them and then the
# two unregistrations (the binding stays where it was made)
sipp_ns busy -sf "$TB_WORK/busy.xml" -p 5080 -m $CALLS
sipp_ns busyreg -sf "$TB_WORK/busyreg.xml" -p 5081 -m 2
sipp_ns registrar -sf "$TB_WORK/registrar.xml" -p 5071 -m 2
sipp_ns uas-udp -sf "$UAS" -p 5070 -mi "$TB_MEDIA_NS_IP" -rtp_echo -m $CALLS
wait_port u 5080
wait_port u 5081
wait_port u 5071
wait_port u 5070
plan udp udp "[group callers]
endpoints = $CALLS
target = sip:service@svc.test
local_ip = $TB_HOST_IP
local_port = 39760

[group phones]
endpoints = 2
role = callee
registrar = reg.test
username = p{n}
local_ip = $TB_HOST_IP
local_port = 39860"
timeout -k 5 120 "$worker" run "$TB_WORK/udp.ini" --json-summary "$TB_WORK/udp.json" >"$TB_WORK/udp.out" 2>&1
rc=$?
sleep 1
if [ $rc -ne 0 ]; then
	grep -v "\"level\"" "$TB_WORK/udp.out"; tail -n 20 "$TB_WORK/busy.log" "$TB_WORK/uas-udp.log" "$TB_WORK/registrar.log"
	echo "FAIL: UDP failover run exit $rc"
	exit 1
fi
check udp $CALLS
for name in busy busyreg registrar uas-udp; do
	for _ in $(seq 1 50); do grep -q "Test Terminated" "$TB_WORK/$name.log" && break; sleep 0.1; done
	# each SIPp ends on its own after its -m calls, all successful
	grep -qE "Successful call +\| +[0-9]+ +\| +[1-9]" "$TB_WORK/$name.log" ||
		{ tail -30 "$TB_WORK/$name.log"; echo "FAIL: SIPp $name did not see its calls"; exit 1; }
done
python3 - "$TB_WORK" <<'PY' || exit 1
import re, sys
def total(name, what):
    log = open(sys.argv[1] + "/" + name + ".log", errors="replace").read()
    return [int(x) for x in re.findall(what + r"\s+\|\s+\d+\s+\|\s+(\d+)", log)][-1]
assert total("busy", "Successful call") == 4, total("busy", "Successful call")
assert total("busyreg", "Successful call") == 2 and total("registrar", "Successful call") == 2
assert total("uas-udp", "Successful call") == 4
print("failover udp: 4 INVITEs answered 503 by the first SRV target went on to the second and were answered; "
      "2 REGISTERs answered 503 went on to the second registrar, which also got the unregistrations")
PY
