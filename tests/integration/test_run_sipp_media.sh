#!/bin/sh
# The DESIGN.md testbed: the worker's SIP on the kernel side of one veth, its dataplane on a second veth through
# the net_af_packet PMD with a media IP the kernel does not own; a SIPp UAS with RTP echo in the namespace.
# 1. Calls from the worker to SIPp: the dataplane resolves SIPp's media address by ARP and answers ARP for its
#    own, SIPp echoes the RTP back, and the worker's RX analysis must see every packet it sent (no loss,
#    MOS >= 4.3); tshark in the namespace counts the RTP packets the worker says it sent.
# 2. A SIPp UAC (with RTP echo) calls an `external` group of the worker: every call answered, media both ways.
# 3. A SIPp UAC puts its call to the worker on hold for 2 s and resumes it: the worker's flow pauses with it.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
. tests/integration/lib/sipp.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
# every worker run below is bounded: a hung run is killed (SIGKILL 5 s after SIGTERM) and fails the test
command -v sipp >/dev/null 2>&1 || tb_skip "sipp (sip-tester) not installed"
command -v tshark >/dev/null 2>&1 || tb_skip "tshark not installed"

tb_netns cmmedia
# the media link: host side handed to DPDK (no kernel address), namespace side 10.252.X.2/24
tb_media_link
MEDIA_NS_IP=$TB_MEDIA_NS_IP
MEDIA_DP_IP=$TB_MEDIA_DP_IP
MH=$TB_MEDIA_IF
CALLS=6

(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sn uas -i "$TB_NS_IP" -p 5060 -mi "$MEDIA_NS_IP" -rtp_echo \
	-m $CALLS -nostdin -timeout 60s >"$TB_WORK/sipp.log" 2>&1) &
ip netns exec "$TB_NS" tshark -q -i cmmn$$ -f "udp and src host $MEDIA_DP_IP" -w "$TB_WORK/media.pcap" \
	>"$TB_WORK/tshark.log" 2>&1 &
for _ in $(seq 1 50); do
	ip netns exec "$TB_NS" ss -lun 2>/dev/null | grep -q "$TB_NS_IP:5060" && grep -q "Capturing" "$TB_WORK/tshark.log" \
		&& break
	sleep 0.1
done

cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = sipp-echo
duration = 30s
call_duration = 4s
cps = 10

[group callers]
endpoints = $CALLS
target = sip:service@$TB_NS_IP:5060
local_ip = $TB_HOST_IP
local_port = 39160

[dataplane]
media_ip = $MEDIA_DP_IP
netmask = 255.255.255.0
rtp_ports = 43000-43999
eal_args = --no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$MH --no-telemetry
  --log-level=*:warning
PLAN

timeout -k 5 180 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1
rc=$?
sleep 1
ip netns pids "$TB_NS" | xargs -r kill -INT 2>/dev/null
sleep 1
if [ $rc -ne 0 ]; then
	cat "$TB_WORK/run.out"; tail -20 "$TB_WORK/sipp.log"
	echo "FAIL: run exit $rc"
	exit 1
fi
captured=$(tshark -r "$TB_WORK/media.pcap" -d "udp.port==43000-43999,rtp" -Y rtp 2>/dev/null | wc -l)
python3 - "$TB_WORK/s.json" "$captured" "$CALLS" <<'PY' || { cat "$TB_WORK/run.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1])); captured = int(sys.argv[2]); calls = int(sys.argv[3])
e, c, q = s["endpoints"], s["calls"], s["quality"]
assert e["SUCCESS"] == calls and c["answered"] == calls, (e, c)
sent = sum(f["packets_sent"] for f in s["flows"])
assert len(s["flows"]) == calls, s["flows"]
for f in s["flows"]:
    assert f["packets_lost"] == 0 and f["packets_received"] >= 150, f   # 4 s at 50 packets/s, echoed back
    assert f["mos"] >= 4.3, f
assert captured == sent, (captured, sent)
print("sipp echo over af_packet: %d calls, %d RTP packets sent = %d captured by tshark in the namespace, "
      "MOS min %.2f" % (calls, sent, captured, q["mos"]["min"]))
PY

# 2. SIPp calls in: an external group answers; SIPp echoes what the worker's callee endpoint sends
cat >"$TB_WORK/in.ini" <<PLAN
[test]
name = sipp-calls-in
duration = 14s

[group external]
endpoints = 1
target = external
local_ip = $TB_HOST_IP
local_port = 39260
ring_time = 200ms

[dataplane]
media_ip = $MEDIA_DP_IP
rtp_ports = 43000-43999
eal_args = --no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$MH --no-telemetry
  --log-level=*:warning
PLAN
timeout -k 5 180 "$worker" run "$TB_WORK/in.ini" --json-summary "$TB_WORK/in.json" >"$TB_WORK/in.out" 2>&1 &
wpid=$!
for _ in $(seq 1 50); do ss -lun | grep -q "$TB_HOST_IP:39260" && break; sleep 0.1; done
(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sn uac -s external-1 "$TB_HOST_IP:39260" -i "$TB_NS_IP" \
	-p 5062 -mi "$MEDIA_NS_IP" -rtp_echo -m 4 -l 1 -d 2000 -nostdin -timeout 30s >"$TB_WORK/uac.log" 2>&1)
src=$?
wait $wpid
rc=$?
if [ $src -ne 0 ] || [ $rc -ne 0 ]; then
	cat "$TB_WORK/in.out"; tail -20 "$TB_WORK/uac.log"
	echo "FAIL: SIPp UAC exit $src, worker exit $rc"
	exit 1
fi
python3 - "$TB_WORK/in.json" <<'PY' || { cat "$TB_WORK/in.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s["endpoints"]["SUCCESS"] == 1, s["endpoints"]
assert s["calls"]["received"] == 4 and s["calls"]["attempted"] == 0, s["calls"]
assert len(s["flows"]) == 4, s["flows"]
for f in s["flows"]:
    assert f["packets_received"] >= 80 and f["packets_lost"] == 0 and f["mos"] >= 4.3, f   # ~2 s echoed
print("sipp calls in: 4 calls answered by an external group, echoed media analysed, MOS min %.2f"
      % s["quality"]["mos"]["min"])
PY

# 3. Hold and resume from the far end: a SIPp UAC (RTP echo) calls the external group, puts the call on hold with
#    a re-INVITE (a=sendonly) for 2 s and resumes it (a=sendrecv).  The worker answers recvonly, its flow stops
#    sending while held (so the echo stops too) and sends again after the resume: about 3 s of packets, not 5.
{
	sipp_head "UAC with hold and resume"
	sipp_request INVITE 1 -s - -v 1
	printf '  <recv response="100" optional="true"/>\n  <recv response="180" optional="true"/>\n'
	printf '  <recv response="200"/>\n'
	sipp_request ACK 1
	echo '  <pause milliseconds="1500"/>'
	sipp_request INVITE 2 -s sendonly -v 2
	printf '  <recv response="100" optional="true"/>\n  <recv response="200"/>\n'
	sipp_request ACK 2
	echo '  <pause milliseconds="2000"/>'
	sipp_request INVITE 3 -s sendrecv -v 3
	printf '  <recv response="100" optional="true"/>\n  <recv response="200"/>\n'
	sipp_request ACK 3
	echo '  <pause milliseconds="1500"/>'
	sipp_request BYE 4
	echo '  <recv response="200"/>'
	sipp_tail
} >"$TB_WORK/hold.xml"
sed -e 's/^name = sipp-calls-in/name = sipp-hold/' -e 's/^local_port = 39260/local_port = 39360/' "$TB_WORK/in.ini" \
	>"$TB_WORK/hold.ini"
timeout -k 5 180 "$worker" run "$TB_WORK/hold.ini" --json-summary "$TB_WORK/hold.json" >"$TB_WORK/hold.out" 2>&1 &
wpid=$!
for _ in $(seq 1 50); do ss -lun | grep -q "$TB_HOST_IP:39360" && break; sleep 0.1; done
(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf "$TB_WORK/hold.xml" -s external-1 "$TB_HOST_IP:39360" \
	-i "$TB_NS_IP" -p 5063 -mi "$MEDIA_NS_IP" -rtp_echo -m 1 -nostdin -timeout 30s >"$TB_WORK/hold.log" 2>&1)
src=$?
wait $wpid
rc=$?
if [ $src -ne 0 ] || [ $rc -ne 0 ]; then
	cat "$TB_WORK/hold.out"; tail -30 "$TB_WORK/hold.log"; cat "$TB_WORK"/*errors.log 2>/dev/null | tail -30
	echo "FAIL: SIPp hold UAC exit $src, worker exit $rc"
	exit 1
fi
python3 - "$TB_WORK/hold.json" <<'PY' || { cat "$TB_WORK/hold.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s["endpoints"]["SUCCESS"] == 1 and s["calls"]["received"] == 1, (s["endpoints"], s["calls"])
f, = s["flows"]
# 1.5 s + 1.5 s of sending around the 2 s hold (5 s without it): 150 packets, some slack for the signalling
assert 120 <= f["packets_sent"] <= 200, f
assert f["packets_received"] >= 110 and f["packets_lost"] == 0, f   # the echo of what was sent
print("sipp hold: re-INVITE sendonly, then sendrecv; the flow sent %d packets in 5 s (held 2 s), "
      "%d echoed back, none lost" % (f["packets_sent"], f["packets_received"]))
PY
