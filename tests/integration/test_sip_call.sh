#!/bin/sh
# Calls against real peers: the test creates a network namespace with a veth pair and runs a SIPp UAS (the
# built-in flow plus Record-Route) and a Record-Routing Kamailio proxy inside it (config written here).  The UAC
# call tests then place calls from the host side of the veth: directly to SIPp, and through Kamailio (INVITE via
# the proxy, ACK and BYE along the learned route set).  Then SIPp's built-in UAC calls our UAS from inside the
# namespace.  SIPp must report every call successful both ways.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN_DIR=$(dirname "${CALLMETER_WORKER_BIN:-build/callmeter-worker}")/tests
BIN=$BIN_DIR/test_sip_call
UAS_BIN=$BIN_DIR/test_sip_uas
[ -x "$BIN" ] && [ -x "$UAS_BIN" ] || { echo "SKIP: $BIN or $UAS_BIN not built (run make first)"; exit 77; }
command -v sipp >/dev/null 2>&1 || { echo "SKIP: sipp (sip-tester) not installed"; exit 77; }
command -v kamailio >/dev/null 2>&1 || { echo "SKIP: kamailio not installed"; exit 77; }
command -v ip >/dev/null 2>&1 || { echo "SKIP: iproute2 not installed"; exit 77; }

NS=cmsipcall$$
VH=cmsc$$h
VN=cmsc$$n
O=$(( ($$ + 97) % 250 + 1 ))
HOST_IP=10.251.$O.1
PEER_IP=10.251.$O.2
CALLS=3
WORK=$(mktemp -d)
SPID= KPID=

cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	[ -f "$WORK/kamailio.pid" ] && kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null
	sleep 0.2
	ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null
	ip link del "$VH" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ! ip netns add "$NS" 2>/dev/null; then
	echo "SKIP: cannot create a network namespace (needs root and netns support)"
	exit 77
fi
ip link add "$VH" type veth peer name "$VN" || { echo "SKIP: cannot create a veth pair"; exit 77; }
ip link set "$VN" netns "$NS"
ip addr add "$HOST_IP/30" dev "$VH"
ip link set "$VH" up
ip -n "$NS" addr add "$PEER_IP/30" dev "$VN"
ip -n "$NS" link set "$VN" up
ip -n "$NS" link set lo up

mpath=$(dirname "$(find /usr/lib -name tm.so -path '*kamailio*' 2>/dev/null | head -1)")
[ -n "$mpath" ] || { echo "SKIP: Kamailio modules not found"; exit 77; }
cat >"$WORK/kamailio.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:$PEER_IP:5060
mpath="$mpath/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (method == "ACK") { if (t_check_trans()) t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (method == "CANCEL") { if (t_check_trans()) t_relay(); exit; }
	record_route();
	t_relay();
}
CFG
kamailio -c -f "$WORK/kamailio.cfg" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log"; echo "FAIL: Kamailio rejected the config"; exit 1; }
ip netns exec "$NS" kamailio -f "$WORK/kamailio.cfg" -DD -E -m 32 -M 8 -Y "$WORK" -P "$WORK/kamailio.pid" \
	>"$WORK/kamailio.log" 2>&1 &
KPID=$!
# SIPp's built-in UAS flow (180, 200 with SDP, ACK, BYE, 200), plus Record-Route copied into the responses as a
# UAS must (RFC 3261 §12.1.1), so that in-dialog requests of proxied calls come back through Kamailio.
cat >"$WORK/uas.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="UAS with Record-Route">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_Record-Route:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_Record-Route:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
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
  <recv request="ACK" rtd="true" crlf="true"/>
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
# SIPp UAS: 2 x CALLS calls (direct, then through the proxy), then it exits with its verdict.
(cd "$WORK" && exec ip netns exec "$NS" sipp -sf "$WORK/uas.xml" -i "$PEER_IP" -p 5070 -m $((2 * CALLS)) -nostdin \
	-trace_err -timeout 60s >"$WORK/sipp.log" 2>&1) &
SPID=$!

ok=0
for _ in $(seq 1 50); do
	if ip netns exec "$NS" ss -lun 2>/dev/null | grep -q "$PEER_IP:5070" &&
	   ip netns exec "$NS" ss -lun 2>/dev/null | grep -q "$PEER_IP:5060"; then
		ok=1
		break
	fi
	sleep 0.1
done
[ $ok -eq 1 ] || { cat "$WORK/kamailio.log" "$WORK/sipp.log"; echo "FAIL: SIPp or Kamailio did not start"; exit 1; }

CALLMETER_SIP_UAS="$PEER_IP:5070" CALLMETER_SIP_PROXY="$PEER_IP:5060" CALLMETER_SIP_LOCAL_IP="$HOST_IP" \
	CALLMETER_SIP_CALLS=$CALLS "$BIN"
rc=$?
# SIPp exits after its calls; its status says whether it saw every one complete.
for _ in $(seq 1 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
wait "$SPID"
src=$?
SPID=
if [ $rc -ne 0 ] || [ $src -ne 0 ]; then
	tail -30 "$WORK/sipp.log"
	cat "$WORK"/*errors.log 2>/dev/null | tail -40
	tail -20 "$WORK/kamailio.log"
	echo "FAIL: calls against SIPp (client exit $rc, sipp exit $src)"
	exit 1
fi
CALLMETER_SIPP_NETNS="$NS" CALLMETER_SIPP_PEER_IP="$PEER_IP" CALLMETER_SIP_LOCAL_IP="$HOST_IP" "$UAS_BIN" ||
	{ echo "FAIL: SIPp UAC calling our UAS"; exit 1; }
echo "PASS: $((2 * CALLS)) calls to SIPp's UAS (half through Kamailio with Record-Route), 3 from SIPp's UAC"
exit 0
