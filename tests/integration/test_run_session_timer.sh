#!/bin/sh
# Session timers (RFC 4028) with callmeter-worker run against SIPp in a network namespace (the DESIGN.md testbed:
# SIP on one veth, the dataplane on a second through net_af_packet).
# - group `refreshers` (session_expires = 2s, min_se = 1s, calls of 2.6 s) calls a SIPp UAS that answers with
#   Session-Expires: 2;refresher=uac and does not allow UPDATE: our side must refresh with re-INVITEs carrying
#   Session-Expires: 2;refresher=uac at about 1 s and 2 s (SIPp's scenario expects exactly two, checked by regexp,
#   then the BYE): SUCCESS.
# - group `desk` (a callee, min_se = 1s) is called by a SIPp UAC asking for Session-Expires: 3 with Supported:
#   timer and then never refreshing: our 200 must make SIPp the refresher (refresher=uac, Require: timer, checked by
#   regexp) and our side must end the call with BYE when the session runs out (3 s less a third): the endpoint is
#   CALL_FAILED 408 "session expired", and the run exits 1.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
. tests/integration/lib/sipp.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
command -v sipp >/dev/null 2>&1 || tb_skip "sipp (sip-tester) not installed"

tb_netns cmst
tb_media_link

# the UAS: 200 with its session terms (the caller refreshes, no UPDATE), then exactly two refresh re-INVITEs
ok() { # [TO TAG]
	sipp_respond 200 -r -c ${1:+-t "$1"} -h "Allow: INVITE, ACK, BYE" -h "Session-Expires: 2;refresher=uac" \
		-h "Require: timer" -s -
	echo '  <recv request="ACK"/>'
}
{
	sipp_head "UAS making the caller refresh"
	cat <<'XML'
  <recv request="INVITE">
    <action><ereg regexp="2" search_in="hdr" header="Session-Expires:" check_it="true" assign_to="ask"/></action>
  </recv>
XML
	ok '[pid]SIPpTag01[call_number]'
	for _ in 1 2; do
		cat <<'XML'
  <recv request="INVITE">
    <action><ereg regexp="^ *2;refresher=uac" search_in="hdr" header="Session-Expires:" check_it="true"
      assign_to="refresh"/></action>
  </recv>
XML
		ok
	done
	sipp_expect_bye
	sipp_tail "ask,refresh"
} >"$TB_WORK/uas.xml"

# the UAC: asks for 3 s, checks that it is made the refresher, never refreshes, and waits for the BYE
{
	sipp_head "UAC that asks for a session timer and never refreshes"
	sipp_request INVITE 1 -h "Supported: timer" -h "Session-Expires: 3" -s -
	cat <<'XML'
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="^ *3;refresher=uac" search_in="hdr" header="Session-Expires:" check_it="true" assign_to="se"/>
      <ereg regexp="timer" search_in="hdr" header="Require:" check_it="true" assign_to="req"/>
    </action>
  </recv>
XML
	sipp_request ACK 1
	sipp_expect_bye 6000
	sipp_tail "se,req"
} >"$TB_WORK/uac.xml"

(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf uas.xml -i "$TB_NS_IP" -p 5060 -mi "$TB_MEDIA_NS_IP" \
	-mp 16000 -rtp_echo -m 1 -nostdin -timeout 40s -trace_err -trace_msg >"$TB_WORK/uas.log" 2>&1) &
uas_pid=$!
for _ in $(seq 1 50); do ip netns exec "$TB_NS" ss -lun 2>/dev/null | grep -q "$TB_NS_IP:5060" && break; sleep 0.1; done

cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = session-timer
duration = 14s
call_duration = 2600ms
cps = 10

[group refreshers]
endpoints = 1
target = sip:service@$TB_NS_IP:5060
local_ip = $TB_HOST_IP
session_expires = 2s
min_se = 1s

[group desk]
endpoints = 1
target = external
local_ip = $TB_HOST_IP
local_port = 39660
min_se = 1s

[dataplane]
media_ip = $TB_MEDIA_DP_IP
netmask = 255.255.255.0
rtp_ports = 43000-43999
eal_args = --no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$TB_MEDIA_IF --no-telemetry
  --log-level=*:warning
PLAN

LOG_LEVEL=${LOG_LEVEL:-warn} timeout -k 5 120 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1 &
wpid=$!
# the desk's SIP port is up once the run has started: then SIPp calls it
for _ in $(seq 1 100); do ss -lun 2>/dev/null | grep -q "$TB_HOST_IP:39660" && break; sleep 0.1; done
(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf uac.xml -s desk-1 "$TB_HOST_IP:39660" -i "$TB_NS_IP" \
	-p 5070 -mi "$TB_MEDIA_NS_IP" -mp 16100 -rtp_echo -m 1 -nostdin -timeout 30s -trace_err \
	>"$TB_WORK/uac.log" 2>&1)
uac_rc=$?
wait $wpid
rc=$?
# the SIPp UAS ends by itself once its call is through (-m 1): its exit says whether the scenario held
( sleep 5; kill $uas_pid 2>/dev/null ) &
wait $uas_pid
uas_rc=$?
if [ $rc -ne 1 ] || [ $uac_rc -ne 0 ] || [ $uas_rc -ne 0 ]; then
	cat "$TB_WORK/run.out"; tail -20 "$TB_WORK/uas.log" "$TB_WORK/uac.log"; cat "$TB_WORK"/*errors.log 2>/dev/null
	echo "FAIL: run exit $rc (want 1: the desk's session expired), SIPp UAC exit $uac_rc, UAS exit $uas_rc"
	exit 1
fi
python3 - "$TB_WORK/s.json" "$TB_WORK"/uas_*_messages.log <<'PY' || { cat "$TB_WORK/run.out"; cat "$TB_WORK"/*errors.log 2>/dev/null; exit 1; }
import json, re, sys
s = json.load(open(sys.argv[1]))
e = s["endpoints"]
assert e["total"] == 2 and e["SUCCESS"] + e["COMPLETED_WITH_WARNINGS"] == 1 and e["CALL_FAILED"] == 1, e
fails = {(f["outcome"], f["code"]): f["reason"] for f in s["failures"]}
assert fails.get(("CALL_FAILED", 408), "").startswith("session expired"), fails
st = s["session_timers"]
assert st == {"refreshes_sent": 2, "refreshes_received": 0, "expired": 1, "too_small_422": 0}, st
msgs = open(sys.argv[2]).read()
reinvites = re.findall(r"INVITE sip:[^\n]*\n(?:[^\n]+\n)*?Session-Expires: 2;refresher=uac", msgs)
assert len(reinvites) >= 2, len(reinvites)   # the two refreshes (the first INVITE asks without refresher)
print("session timer: the caller refreshed a 2 s session with 2 re-INVITEs (the UAS allows no UPDATE), SUCCESS; "
      "the desk made SIPp the refresher (Require: timer) and ended the unrefreshed call with BYE: CALL_FAILED 408 "
      "'%s'" % fails[("CALL_FAILED", 408)])
PY
[ $? -eq 0 ] || exit 1
