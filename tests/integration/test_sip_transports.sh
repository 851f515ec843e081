#!/bin/sh
# callmeter-worker run over TCP and TLS against real peers in a network namespace the test creates:
# 1. TCP: the worker calls a SIPp UAS started with -t t1 (RTP echoed back over the af_packet media link);
#    every call answered with no loss.
# 2. TCP: a SIPp UAC (-t t1) calls an `external` group of the worker; every call answered.
# 3. TLS: Kamailio with its TLS module (certificate from the test's CA) as registrar and record-routing proxy:
#    two groups register over TLS with digest auth, verifying Kamailio's certificate against the CA (tls_verify =
#    ca), and call each other through it (Kamailio reaches the callee group over TLS too: that group has a
#    certificate of its own); a third group that trusts another CA must refuse Kamailio's certificate and end
#    REGISTRATION_FAILED with 503.  (Debian's SIPp is built without TLS, hence Kamailio as the TLS peer.)
# 4. DNS: the registrar given by name only; c-ares (pointed at a dnsmasq the test starts on 127.0.0.1 through
#    CALLMETER_DNS_SERVERS) finds two _sip._tcp SRV records, a dead port first and Kamailio second: every
#    registration fails over to Kamailio, calls go through it.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
# every worker run below is bounded: a hung run is killed (SIGKILL 5 s after SIGTERM) and fails the test
command -v sipp >/dev/null 2>&1 || tb_skip "sipp (sip-tester) not installed"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || tb_skip "dnsmasq (dnsmasq-base) not installed"

tb_netns cmtp
tb_media_link
EAL="--no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$TB_MEDIA_IF --no-telemetry"
CALLS=4

# 1. the worker calls SIPp's UAS over TCP (lib/sipp_uas.xml: SIPp's built-in UAS would count a call failed
# when the connection closes at the end of the run, see there)
SCENARIO=$(pwd)/tests/integration/lib/sipp_uas.xml
(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf "$SCENARIO" -t t1 -i "$TB_NS_IP" -p 5060 -mi "$TB_MEDIA_NS_IP" \
	-rtp_echo -m $CALLS -nostdin -timeout 60s -trace_err >"$TB_WORK/uas.log" 2>&1) &
uas=$!
for _ in $(seq 1 50); do
	ip netns exec "$TB_NS" ss -ltn 2>/dev/null | grep -q "$TB_NS_IP:5060" && break
	sleep 0.1
done
cat >"$TB_WORK/out.ini" <<PLAN
[test]
name = tcp-to-sipp
duration = 30s
call_duration = 3s
cps = 10

[group callers]
endpoints = $CALLS
transport = tcp
target = sip:service@$TB_NS_IP:5060
local_ip = $TB_HOST_IP
local_port = 39460

[dataplane]
media_ip = $TB_MEDIA_DP_IP
netmask = 255.255.255.0
rtp_ports = 43000-43999
eal_args = $EAL --log-level=*:warning
PLAN
timeout -k 5 180 "$worker" run "$TB_WORK/out.ini" --json-summary "$TB_WORK/out.json" >"$TB_WORK/out.out" 2>&1
rc=$?
wait $uas
urc=$?
if [ $rc -ne 0 ] || [ $urc -ne 0 ]; then
	cat "$TB_WORK/out.out"; tail -20 "$TB_WORK/uas.log"; cat "$TB_WORK"/*errors.log
	echo "FAIL: worker exit $rc, SIPp UAS exit $urc"
	exit 1
fi
python3 - "$TB_WORK/out.json" "$CALLS" <<'PY' || { cat "$TB_WORK/out.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1])); calls = int(sys.argv[2])
e, c = s["endpoints"], s["calls"]
assert e["SUCCESS"] == calls and c["attempted"] == calls and c["answered"] == calls, (e, c)
assert len(s["flows"]) == calls, s["flows"]
for f in s["flows"]:
    assert f["packets_lost"] == 0 and f["packets_received"] >= 100 and f["mos"] >= 4.3, f
print("tcp: %d calls to SIPp's UAS (-t t1) answered, echoed media without loss, MOS min %.2f"
      % (calls, s["quality"]["mos"]["min"]))
PY

# 2. SIPp's UAC calls an external group over TCP
cat >"$TB_WORK/in.ini" <<PLAN
[test]
name = tcp-from-sipp
duration = 12s

[group external]
endpoints = 1
transport = tcp
target = external
local_ip = $TB_HOST_IP
local_port = 39560
ring_time = 200ms

[dataplane]
media_ip = $TB_MEDIA_DP_IP
netmask = 255.255.255.0
rtp_ports = 43000-43999
eal_args = $EAL --log-level=*:warning
PLAN
timeout -k 5 180 "$worker" run "$TB_WORK/in.ini" --json-summary "$TB_WORK/in.json" >"$TB_WORK/in.out" 2>&1 &
wpid=$!
# the group's listener opens once the dataplane is up (DPDK bring-up takes seconds on a loaded machine)
for _ in $(seq 1 300); do ss -ltn | grep -q "$TB_HOST_IP:39560" && break; sleep 0.1; done
(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sn uac -t t1 -s external-1 "$TB_HOST_IP:39560" \
	-i "$TB_NS_IP" -p 5062 -mi "$TB_MEDIA_NS_IP" -rtp_echo -m $CALLS -l 1 -d 1500 -nostdin -timeout 30s \
	>"$TB_WORK/uac.log" 2>&1)
src=$?
wait $wpid
rc=$?
if [ $src -ne 0 ] || [ $rc -ne 0 ]; then
	cat "$TB_WORK/in.out"; head -20 "$TB_WORK/uac.log"; tail -20 "$TB_WORK/uac.log"
	echo "FAIL: SIPp UAC exit $src, worker exit $rc"
	exit 1
fi
python3 - "$TB_WORK/in.json" "$CALLS" <<'PY' || { cat "$TB_WORK/in.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1])); calls = int(sys.argv[2])
assert s["endpoints"]["SUCCESS"] == 1, s["endpoints"]
assert s["calls"]["received"] == calls and s["calls"]["attempted"] == 0, s["calls"]
for f in s["flows"]:
    assert f["packets_received"] >= 50 and f["packets_lost"] == 0, f
print("tcp: %d calls from SIPp's UAC (-t t1) answered by an external group" % calls)
PY

# 3. TLS through Kamailio
tb_pki
tb_cert kamailio "IP:$TB_NS_IP"
tb_cert worker "IP:$TB_HOST_IP"
mkdir "$TB_WORK/other"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TB_WORK/other/ca.key" \
	-out "$TB_WORK/other/ca.pem" -days 2 -subj /CN=another-ca 2>/dev/null || { echo "FAIL: second CA"; exit 1; }
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
tb_kamailio_add_tls "$TB_WORK/kamailio.cfg" "$TB_WORK/kamailio.pem" "$TB_WORK/kamailio.key"
tb_kamailio "$TB_WORK/kamailio.cfg"
for _ in $(seq 1 50); do
	ip netns exec "$TB_NS" ss -ltn 2>/dev/null | grep -q "$TB_NS_IP:5061" && break
	sleep 0.1
done
cat >"$TB_WORK/tls.ini" <<PLAN
[test]
name = tls-kamailio
duration = 25s
call_duration = 3s
cps = 20
register_rate = 100

[group agents]
endpoints = 5
transport = tls
registrar = $TB_NS_IP:5061
username = {n}
password = secret
first_number = 1000
local_ip = $TB_HOST_IP
local_port = 39660
ring_time = 300ms
tls_verify = ca
tls_ca_file = $TB_WORK/ca.pem
tls_cert_file = $TB_WORK/worker.pem
tls_key_file = $TB_WORK/worker.key

[group customers]
endpoints = 5
transport = tls
registrar = $TB_NS_IP:5061
username = {n}
password = secret
first_number = 2000
target = group:agents
local_ip = $TB_HOST_IP
local_port = 39760
tls_verify = ca
tls_ca_file = $TB_WORK/ca.pem

[group strangers]
endpoints = 2
role = callee
transport = tls
registrar = $TB_NS_IP:5061
username = {n}
password = secret
first_number = 3000
local_ip = $TB_HOST_IP
local_port = 39860
tls_verify = ca
tls_ca_file = $TB_WORK/other/ca.pem

[dataplane]
media_ip = 192.0.2.40, 192.0.2.41
rtp_ports = 44000-44999
PLAN
timeout -k 5 180 "$worker" run "$TB_WORK/tls.ini" --json-summary "$TB_WORK/tls.json" >"$TB_WORK/tls.out" 2>&1
rc=$?
if [ $rc -ne 1 ]; then
	cat "$TB_WORK/tls.out"; tail -30 "$TB_WORK/kamailio.log"
	echo "FAIL: expected exit 1 (the strangers fail), got $rc"
	exit 1
fi
python3 - "$TB_WORK/tls.json" <<'PY' || { cat "$TB_WORK/tls.out"; tail -30 "$TB_WORK/kamailio.log"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
e, r, c, q = s["endpoints"], s["registrations"], s["calls"], s["quality"]
assert e["total"] == 12 and e["SUCCESS"] == 10 and e["REGISTRATION_FAILED"] == 2, e
assert r["succeeded"] == 10 and r["failed"] == 2, r
assert c["attempted"] == 5 and c["answered"] == 5, c
fails = {(f["outcome"], f["code"]): f["count"] for f in s["failures"]}
assert fails == {("REGISTRATION_FAILED", 503): 2}, fails
assert q["mos"]["min"] >= 4.3 and len(s["flows"]) == 10, q
print("tls: 10 endpoints registered over TLS with digest (Kamailio's certificate verified) and called through "
      "it, MOS min %.2f; 2 trusting another CA -> REGISTRATION_FAILED 503" % q["mos"]["min"])
PY
grep -q "certificate refused" "$TB_WORK/tls.out" || { cat "$TB_WORK/tls.out"; echo "FAIL: no refusal logged"; exit 1; }

# 4. the registrar by name (RFC 3263 SRV) with failover
DNS_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$DNSMASQ" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
	--port="$DNS_PORT" --user=root --srv-host=_sip._tcp.sip.test,dead.sip.test,5999,10,0 \
	--srv-host=_sip._tcp.sip.test,kamailio.sip.test,5060,20,0 --host-record=dead.sip.test,"$TB_NS_IP" \
	--host-record=kamailio.sip.test,"$TB_NS_IP" >"$TB_WORK/dnsmasq.log" 2>&1 &
DNS_PID=$!
cat >"$TB_WORK/dns.ini" <<PLAN
[test]
name = dns-srv
duration = 25s
call_duration = 2s
cps = 20

[group agents]
endpoints = 3
transport = tcp
registrar = sip.test
username = {n}
password = secret
first_number = 1000
local_ip = $TB_HOST_IP
local_port = 39960
ring_time = 200ms

[group customers]
endpoints = 3
transport = tcp
registrar = sip.test
username = {n}
password = secret
first_number = 2000
target = group:agents
local_ip = $TB_HOST_IP
local_port = 40060

[dataplane]
media_ip = 192.0.2.50, 192.0.2.51
rtp_ports = 45000-45999
PLAN
CALLMETER_DNS_SERVERS="127.0.0.1:$DNS_PORT" timeout -k 5 180 "$worker" run "$TB_WORK/dns.ini" \
	--json-summary "$TB_WORK/dns.json" >"$TB_WORK/dns.out" 2>&1
rc=$?
kill "$DNS_PID" 2>/dev/null
if [ $rc -ne 0 ]; then
	cat "$TB_WORK/dns.out" "$TB_WORK/dnsmasq.log"; tail -30 "$TB_WORK/kamailio.log"
	echo "FAIL: DNS run exit $rc"
	exit 1
fi
python3 - "$TB_WORK/dns.json" <<'PY' || { cat "$TB_WORK/dns.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
e, r, c = s["endpoints"], s["registrations"], s["calls"]
assert e["SUCCESS"] == 6 and r["succeeded"] == 6 and c["answered"] == 3, (e, r, c)
print("dns: registrar 'sip.test' located by SRV, 6 registrations failed over from the dead first target to "
      "Kamailio, 3 calls through it")
PY
grep -q "connect failed" "$TB_WORK/dns.out" || { cat "$TB_WORK/dns.out"; echo "FAIL: the first SRV target was not tried"; exit 1; }
echo "PASS: calls over TCP to and from SIPp, registrations and calls over TLS through Kamailio, registrar by SRV"
