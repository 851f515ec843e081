#!/bin/sh
# Calls against real peers: the test creates a network namespace with a veth pair (lib/testbed.sh) and runs a
# SIPp UAS (lib/sipp_uas.xml: the built-in flow plus Record-Route) and a Record-Routing Kamailio proxy inside it
# (config written here).  The UAC
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
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
tb_netns cmsipcall
HOST_IP=$TB_HOST_IP
PEER_IP=$TB_NS_IP
NS=$TB_NS
WORK=$TB_WORK
CALLS=3

cat >"$WORK/kamailio.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:$PEER_IP:5060
mpath="@MPATH@"
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
tb_kamailio "$WORK/kamailio.cfg"
# SIPp UAS: 2 x CALLS calls (direct, then through the proxy), then it exits with its verdict.
SCENARIO=$(pwd)/tests/integration/lib/sipp_uas.xml
(cd "$WORK" && exec ip netns exec "$NS" sipp -sf "$SCENARIO" -i "$PEER_IP" -p 5070 -m $((2 * CALLS)) -nostdin \
	-trace_err -timeout 60s >"$WORK/sipp.log" 2>&1) &
SPID=$!

ok=0
for _ in $(seq 1 50); do
	ip netns exec "$NS" ss -lun 2>/dev/null | grep -q "$PEER_IP:5070" && { ok=1; break; }
	sleep 0.1
done
[ $ok -eq 1 ] || { cat "$WORK/sipp.log"; echo "FAIL: SIPp did not start"; exit 1; }

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
