#!/bin/sh
# PRACK / 100rel (RFC 3262) between callmeter-worker run and SIPp, both directions, on the DESIGN.md testbed (SIP
# on one veth, the dataplane on a second one through net_af_packet, SIPp echoing RTP in the namespace).
# 1. The worker calls (100rel = required): SIPp's UAS answers with a reliable 183 carrying the SDP answer
#    (Require: 100rel, RSeq 1) and only sends its 200 after a PRACK; the scenario fails without one.  SIPp's
#    message trace must show one PRACK per call with RAck "1 <the INVITE's CSeq> INVITE" and the INVITEs with
#    Require: 100rel; every endpoint SUCCESS with echoed media.
# 2. SIPp calls in (Supported: 100rel): the worker's group (100rel = required, early_media = yes) must answer with
#    a reliable 183 with SDP; SIPp PRACKs it with the RSeq it read, and needs the PRACK's 200 and then the
#    INVITE's 200; the worker reports every call answered with media.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
. tests/integration/lib/sipp.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
command -v sipp >/dev/null 2>&1 || tb_skip "sipp (sip-tester) not installed"

tb_netns cmprack
tb_media_link
CALLS=4

cat >"$TB_WORK/uas.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="UAS with a reliable 183">
  <recv request="INVITE" crlf="true"/>
  <send retrans="500"><![CDATA[
SIP/2.0 183 Session Progress
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Require: 100rel
RSeq: 1
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="PRACK" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: [cseq] INVITE
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
XML
# the INVITE's 200 goes after the PRACK, whose Via and CSeq [last_*] would copy: the scenario keeps the INVITE's
python3 - "$TB_WORK/uas.xml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('<recv request="INVITE" crlf="true"/>',
              '<recv request="INVITE" crlf="true"><action>'
              '<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" check_it="true" assign_to="icseq"/>'
              '<ereg regexp=".*" search_in="hdr" header="Via:" check_it="true" assign_to="ivia"/>'
              '</action></recv>', 1)
s = s.replace("CSeq: [cseq] INVITE", "CSeq: [$icseq] INVITE", 1)
i = s.index("CSeq: [$icseq] INVITE")
j = s.rindex("[last_Via:]", 0, i)
s = s[:j] + "Via: [$ivia]" + s[j + len("[last_Via:]"):]
open(p, "w").write(s)
PY

(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf "$TB_WORK/uas.xml" -i "$TB_NS_IP" -p 5060 \
	-mi "$TB_MEDIA_NS_IP" -rtp_echo -m $CALLS -nostdin -timeout 60s -trace_msg -message_file "$TB_WORK/uas.msg" \
	>"$TB_WORK/sipp.log" 2>&1) &
SPID=$!
for _ in $(seq 1 50); do ip netns exec "$TB_NS" ss -lun 2>/dev/null | grep -q "$TB_NS_IP:5060" && break; sleep 0.1; done

cat >"$TB_WORK/out.ini" <<PLAN
[test]
name = prack-out
duration = 20s
call_duration = 2s
cps = 10

[group callers]
endpoints = $CALLS
target = sip:service@$TB_NS_IP:5060
local_ip = $TB_HOST_IP
local_port = 39460
100rel = required

[dataplane]
media_ip = $TB_MEDIA_DP_IP
netmask = 255.255.255.0
rtp_ports = 43000-43999
eal_args = --no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$TB_MEDIA_IF --no-telemetry
  --log-level=*:warning
PLAN
timeout -k 5 120 "$worker" run "$TB_WORK/out.ini" --json-summary "$TB_WORK/out.json" >"$TB_WORK/out.out" 2>&1
rc=$?
for _ in $(seq 1 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
kill "$SPID" 2>/dev/null
wait "$SPID"
src=$?
if [ $rc -ne 0 ] || [ $src -ne 0 ]; then
	cat "$TB_WORK/out.out"; tail -30 "$TB_WORK/sipp.log"; cat "$TB_WORK"/*errors.log 2>/dev/null | tail -30
	echo "FAIL: worker calling SIPp's reliable-183 UAS: worker exit $rc, sipp exit $src"
	exit 1
fi
python3 - "$TB_WORK/out.json" "$TB_WORK/uas.msg" "$CALLS" <<'PY' || { cat "$TB_WORK/out.out"; exit 1; }
import json, re, sys
s = json.load(open(sys.argv[1])); log = open(sys.argv[2], errors="replace").read(); calls = int(sys.argv[3])
assert s["endpoints"]["SUCCESS"] == calls and s["calls"]["answered"] == calls, (s["endpoints"], s["calls"])
for f in s["flows"]:
    assert f["packets_lost"] == 0 and f["packets_received"] >= 70 and f["mos"] >= 4.3, f   # 2 s echoed
invites, pracks = {}, {}
for m in re.findall(r"^(?:INVITE|PRACK) sip:.*?(?=\n\s*\n)", log, re.S | re.M):
    cid = re.search(r"^Call-ID:\s*(\S+)", m, re.M | re.I).group(1)
    cseq = re.search(r"^CSeq:\s*(\d+) (\w+)", m, re.M | re.I)
    if m.startswith("INVITE"):
        assert re.search(r"^Require:\s*100rel", m, re.M | re.I), m
        invites[cid] = int(cseq.group(1))
    else:
        rack = re.search(r"^RAck:\s*(\d+) (\d+) (\w+)", m, re.M | re.I)
        assert rack, m
        pracks.setdefault(cid, set()).add((int(rack.group(1)), int(rack.group(2)), rack.group(3)))
assert len(invites) == calls and set(pracks) == set(invites), (invites, pracks)
for cid, cseq in invites.items():
    assert pracks[cid] == {(1, cseq, "INVITE")}, (cid, cseq, pracks[cid])
print("prack out: %d calls to SIPp's reliable-183 UAS, each 183 PRACKed with RAck 1 <INVITE CSeq> INVITE, "
      "answered, MOS min %.2f" % (calls, s["quality"]["mos"]["min"]))
PY
[ $? -eq 0 ] || exit 1

# 2. SIPp calls in with Supported: 100rel
{
	sipp_head "UAC that PRACKs"
	sipp_request INVITE 1 -h "Supported: 100rel" -s - -v 1
	cat <<'XML'
  <recv response="100" optional="true"/>
  <recv response="183">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="RSeq:" check_it="true" assign_to="rseq"/>
      <ereg regexp="100rel" search_in="hdr" header="Require:" check_it="true" assign_to="req"/>
      <ereg regexp="m=audio" search_in="body" check_it="true" assign_to="sdp"/>
    </action>
  </recv>
XML
	sipp_request PRACK 2 -h 'RAck: [$rseq] 1 INVITE'
	cat <<'XML'
  <recv response="200" crlf="true">
    <action><ereg regexp="PRACK" search_in="hdr" header="CSeq:" check_it="true" assign_to="pr"/></action>
  </recv>
  <recv response="200">
    <action><ereg regexp="INVITE" search_in="hdr" header="CSeq:" check_it="true" assign_to="inv"/></action>
  </recv>
XML
	sipp_request ACK 1
	echo '  <pause milliseconds="2000"/>'
	sipp_request BYE 3
	echo '  <recv response="200"/>'
	sipp_tail "req,sdp,pr,inv"
} >"$TB_WORK/uac.xml"
cat >"$TB_WORK/in.ini" <<PLAN
[test]
name = prack-in
duration = 14s

[group external]
endpoints = 1
target = external
local_ip = $TB_HOST_IP
local_port = 39560
ring_time = 300ms
100rel = required
early_media = yes

[dataplane]
media_ip = $TB_MEDIA_DP_IP
rtp_ports = 43000-43999
eal_args = --no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$TB_MEDIA_IF --no-telemetry
  --log-level=*:warning
PLAN
timeout -k 5 120 "$worker" run "$TB_WORK/in.ini" --json-summary "$TB_WORK/in.json" >"$TB_WORK/in.out" 2>&1 &
wpid=$!
for _ in $(seq 1 50); do ss -lun | grep -q "$TB_HOST_IP:39560" && break; sleep 0.1; done
(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf "$TB_WORK/uac.xml" -s external-1 "$TB_HOST_IP:39560" \
	-i "$TB_NS_IP" -p 5062 -mi "$TB_MEDIA_NS_IP" -rtp_echo -m 3 -l 1 -nostdin -timeout 30s >"$TB_WORK/uac.log" 2>&1)
src=$?
wait $wpid
rc=$?
if [ $src -ne 0 ] || [ $rc -ne 0 ]; then
	cat "$TB_WORK/in.out"; tail -30 "$TB_WORK/uac.log"; cat "$TB_WORK"/*errors.log 2>/dev/null | tail -30
	echo "FAIL: SIPp UAC with PRACK: sipp exit $src, worker exit $rc"
	exit 1
fi
python3 - "$TB_WORK/in.json" <<'PY' || { cat "$TB_WORK/in.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s["endpoints"]["SUCCESS"] == 1, s["endpoints"]
assert s["calls"]["received"] == 3, s["calls"]
assert len(s["flows"]) == 3, s["flows"]
for f in s["flows"]:
    assert f["packets_received"] >= 80 and f["packets_lost"] == 0 and f["mos"] >= 4.3, f   # ~2 s echoed
print("prack in: SIPp's UAC got a reliable 183 with SDP 3 times, PRACKed it with the RSeq it read, the worker "
      "answered after the PRACK; echoed media MOS min %.2f" % s["quality"]["mos"]["min"])
PY
