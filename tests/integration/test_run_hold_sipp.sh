#!/bin/sh
# Hold and resume from our side against a real peer: the worker calls SIPp UASes (RTP echo) in a network namespace
# (the DESIGN.md testbed: SIP on one veth, the dataplane on a second through net_af_packet).
# - group `holders` (2 calls of 10 s, hold_at 1.5 s, hold_for 2 s) calls a SIPp UAS whose scenario checks with a
#   regexp that the re-INVITE says a=sendonly, answers the first one 491 Request Pending (as if its own offer had
#   crossed ours), then the retry - which must come 2.1-4 s later (RFC 3261 §14.1, we chose the Call-ID) - 200 with
#   a=recvonly, and checks that the resume says a=sendrecv.  Both endpoints SUCCESS, holds counted, and the flow
#   sent about (10 - 2) s x 50 packets, all echoed back, none lost.
# - group `refused` (hold_mode = inactive) calls a second SIPp UAS that checks for a=inactive and refuses the hold
#   with 488: the call goes on with its media untouched (10 s of packets), the endpoint is COMPLETED_WITH_WARNINGS
#   with 488 in the summary's failures, and no resume is attempted.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
. tests/integration/lib/sipp.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
command -v sipp >/dev/null 2>&1 || tb_skip "sipp (sip-tester) not installed"

tb_netns cmhold
tb_media_link

# The parts of a UAS scenario: responses to an INVITE (initial or re-INVITE), the re-INVITE's check, the frame.
resp() { # STATUS [SDP direction]
	if [ "$1" = 200 ]; then
		sipp_respond 200 -r -c -s "$2"
	else
		sipp_respond "$1" -c
	fi
}
reinvite() { # the direction the re-INVITE must carry, checked (a mismatch fails the call)
	cat <<XML
  <recv request="INVITE">
    <action><ereg regexp="a=$1" search_in="body" check_it="true" assign_to="dir"/></action>
  </recv>
XML
}
scenario() { # FILE, then the middle part
	f=$1
	shift
	{
		sipp_head "UAS checking hold re-INVITEs"
		echo '  <recv request="INVITE"/>'
		sipp_respond 180 -t '[pid]SIPpTag01[call_number]' -c
		sipp_respond 200 -r -t '[pid]SIPpTag01[call_number]' -c -s -
		echo '  <recv request="ACK"/>'
		"$@"
		sipp_expect_bye
		sipp_tail dir
	} >"$f"
}
holders_middle() {
	reinvite sendonly; resp 491; echo '  <recv request="ACK"/>'
	reinvite sendonly; resp 200 recvonly; echo '  <recv request="ACK"/>'
	reinvite sendrecv; resp 200 sendrecv; echo '  <recv request="ACK"/>'
}
refused_middle() {
	reinvite inactive; resp 488; echo '  <recv request="ACK"/>'
}
scenario "$TB_WORK/holders.xml" holders_middle
scenario "$TB_WORK/refused.xml" refused_middle

(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf holders.xml -i "$TB_NS_IP" -p 5060 -mi "$TB_MEDIA_NS_IP" \
	-mp 16000 -rtp_echo -m 2 -nostdin -timeout 60s -trace_err -trace_msg >"$TB_WORK/holders.log" 2>&1) &
(cd "$TB_WORK" && exec ip netns exec "$TB_NS" sipp -sf refused.xml -i "$TB_NS_IP" -p 5070 -mi "$TB_MEDIA_NS_IP" \
	-mp 16100 -rtp_echo -m 1 -nostdin -timeout 60s -trace_err >"$TB_WORK/refused.log" 2>&1) &
for _ in $(seq 1 50); do
	ip netns exec "$TB_NS" ss -lun 2>/dev/null | grep -q "$TB_NS_IP:5070" &&
		ip netns exec "$TB_NS" ss -lun 2>/dev/null | grep -q "$TB_NS_IP:5060" && break
	sleep 0.1
done

cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = sipp-hold
duration = 40s
call_duration = 10s
cps = 10

[group holders]
endpoints = 2
target = sip:service@$TB_NS_IP:5060
local_ip = $TB_HOST_IP
hold_at = 1500ms
hold_for = 2s

[group refused]
endpoints = 1
target = sip:service@$TB_NS_IP:5070
local_ip = $TB_HOST_IP
hold_at = 1500ms
hold_for = 2s
hold_mode = inactive

[dataplane]
media_ip = $TB_MEDIA_DP_IP
netmask = 255.255.255.0
rtp_ports = 43000-43999
eal_args = --no-huge --no-shconf -m 512 --no-pci --vdev=net_af_packet0,iface=$TB_MEDIA_IF --no-telemetry
  --log-level=*:warning
PLAN

timeout -k 5 120 "$worker" run "$TB_WORK/plan.ini" --json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1
rc=$?
# the SIPp UASes end by themselves once their calls are through (-m); give them a moment, then report their exit
fail=0
for _ in $(seq 1 50); do
	[ -z "$(jobs -p)" ] && break
	sleep 0.1
done
for j in $(jobs -p); do kill "$j" 2>/dev/null; done
wait
if [ $rc -ne 0 ]; then
	cat "$TB_WORK/run.out"; tail -20 "$TB_WORK/holders.log" "$TB_WORK/refused.log"; cat "$TB_WORK"/*errors.log 2>/dev/null
	echo "FAIL: run exit $rc"
	exit 1
fi
python3 - "$TB_WORK/s.json" <<'PY' || { cat "$TB_WORK/run.out"; cat "$TB_WORK"/*errors.log 2>/dev/null; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
e, c = s["endpoints"], s["calls"]
assert e["total"] == 3 and e["SUCCESS"] == 2 and e["COMPLETED_WITH_WARNINGS"] == 1, e
assert c["answered"] == 3, c
fails = {(f["outcome"], f["code"]): (f["count"], f["reason"]) for f in s["failures"]}
assert fails == {("COMPLETED_WITH_WARNINGS", 488): (1, "re-INVITE to hold refused")}, fails
assert s["holds"] == {"held": 2, "resumed": 2, "failed": 1}, s["holds"]
flows = {f["endpoint"]: f for f in s["flows"]}
for ep in (0, 1):    # held 2 s of 10 s: about 400 packets sent, the echo of each received, nothing lost
    f = flows[ep]
    assert f["holds"] == 1 and 340 <= f["packets_sent"] <= 440, f
    assert f["packets_lost"] == 0 and f["packets_received"] >= f["packets_sent"] - 10 and f["mos"] >= 4.3, f
f = flows[2]         # the refused hold: the call went on as before, 10 s of media
assert f["holds"] == 0 and 460 <= f["packets_sent"] <= 520 and f["packets_lost"] == 0, f
print("sipp hold: sendonly re-INVITE answered 491 then 200 recvonly, resumed with sendrecv; %d and %d packets "
      "sent in 10 s held 2 s; the refused (488) inactive hold left the third call at %d packets, "
      "COMPLETED_WITH_WARNINGS 488" % (flows[0]["packets_sent"], flows[1]["packets_sent"], f["packets_sent"]))
PY
for s in holders refused; do
	if ! grep -Eq "Successful call +\| +[0-9]+ +\| +$([ $s = holders ] && echo 2 || echo 1) " "$TB_WORK/$s.log"; then
		tail -30 "$TB_WORK/$s.log"; cat "$TB_WORK"/*errors.log 2>/dev/null
		echo "FAIL: SIPp $s: not every call succeeded (a regexp check or message did not match)"
		exit 1
	fi
done
# RFC 3261 §14.1: after the 491 the caller (owner of the Call-ID) waits 2.1-4 s before offering again
python3 - "$TB_WORK"/holders_*_messages.log <<'PY' || exit 1
import re, sys, datetime
blocks = re.split(r"^-{20,} ", open(sys.argv[1]).read(), flags=re.M)[1:]
t491, waits = {}, []
for b in blocks:
    when = datetime.datetime.strptime(" ".join(b.split()[:2]), "%Y-%m-%d %H:%M:%S.%f")
    msg = b.split("\n\n", 1)[1].lstrip() if "\n\n" in b else ""
    cid = re.search(r"^Call-ID: *(\S+)", msg, re.M | re.I)
    if not cid:
        continue
    cid = cid.group(1)
    if msg.startswith("SIP/2.0 491"):
        t491[cid] = when
    elif msg.startswith("INVITE") and cid in t491:
        waits.append((when - t491.pop(cid)).total_seconds())
assert len(waits) == 2, waits
assert all(2.1 <= w <= 4.5 for w in waits), waits   # 4 s, and room for a late timer on a loaded machine
print("sipp hold: the re-INVITEs came again %s s after the 491s (2.1-4 s wanted)" % ", ".join("%.2f" % w for w in waits))
PY
echo "sipp hold: both SIPp UASes saw the expected a=sendonly / a=sendrecv / a=inactive offers"
