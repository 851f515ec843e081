#!/bin/sh
# Registration refreshes against SIPp registrars on 127.0.0.1 that grant 2 s (the plan asks for 10):
# - `keepers` register at one that accepts every REGISTER: they refresh about every second (half the granted
#   interval), unregister at the end, and end SUCCESS;
# - `dropped` register at one that accepts the first REGISTER and refuses the refresh with 403: the registration
#   is lost, so each ends REGISTRATION_FAILED 403 "registration lost: its refresh was refused" (before, a failed
#   refresh went unnoticed and the endpoint ended SUCCESS), nothing is unregistered, and the summary counts the
#   refreshes and the failed ones;
# - `unbound` register at one whose 200 to the refresh grants Expires: 0 (it dropped the binding): lost too,
#   REGISTRATION_FAILED with that 200 and the reason saying so.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/sipp.sh
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
command -v sipp >/dev/null 2>&1 || { echo "SKIP: sipp (sip-tester) not installed"; exit 77; }
work=$(mktemp -d)
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT INT TERM

ok200() { sipp_respond 200 -h "Expires: ${1:-2}"; }
{
	sipp_head "registrar granting 2 s, every REGISTER accepted"
	echo '  <label id="1"/>'
	echo '  <recv request="REGISTER"/>'
	ok200 | sed 's/<send>/<send next="1">/'
	sipp_tail
} >"$work/keep.xml"
{
	sipp_head "registrar granting 2 s, its refresh refused"
	echo '  <recv request="REGISTER"/>'
	ok200
	echo '  <recv request="REGISTER"/>'
	sipp_respond 403
	sipp_tail
} >"$work/drop.xml"
{
	sipp_head "registrar granting 2 s, then 0 to the refresh"
	echo '  <recv request="REGISTER"/>'
	ok200
	echo '  <recv request="REGISTER"/>'
	ok200 0
	sipp_tail
} >"$work/zero.xml"

port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kp=$(port) dp=$(port) zp=$(port)
timeout 60 sipp -sf "$work/keep.xml" -i 127.0.0.1 -p "$kp" -nostdin -trace_err -error_file "$work/keep.err" >>"$work/sipp.out" 2>&1 &
pids="$pids $!"
timeout 60 sipp -sf "$work/drop.xml" -i 127.0.0.1 -p "$dp" -nostdin -trace_err -error_file "$work/drop.err" >>"$work/sipp.out" 2>&1 &
pids="$pids $!"
timeout 60 sipp -sf "$work/zero.xml" -i 127.0.0.1 -p "$zp" -nostdin -trace_err -error_file "$work/zero.err" >>"$work/sipp.out" 2>&1 &
pids="$pids $!"
sleep 0.5

group() { # NAME REGISTRAR_PORT
	printf '[group %s]\nendpoints = 2\ntarget = external\nregistrar = 127.0.0.1:%s\nregister_expires = 10\n' "$1" "$2"
	printf 'username = {n}\nlocal_ip = 127.0.0.1\nlocal_port = 0\n\n'
}
{
	printf '[test]\nname = reg-refresh\nduration = 5s\n\n'
	group keepers "$kp"
	group dropped "$dp"
	group unbound "$zp"
	printf '[dataplane]\nmedia_ip = 192.0.2.90\nrtp_ports = 47000-47999\n'
} >"$work/plan.ini"

rc=0
timeout -k 5 60 "$worker" run "$work/plan.ini" --json-summary "$work/s.json" \
	--eal "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0,1 --no-telemetry --log-level=*:warning" \
	>"$work/run.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$work/run.out" "$work"/*.err 2>/dev/null; echo "FAIL: expected exit 1, got $rc"; exit 1; }
grep -q "refreshes / failed" "$work/run.out" || { cat "$work/run.out"; echo "FAIL: no refresh row in the summary"; exit 1; }
python3 - "$work/s.json" <<'PY' || { cat "$work/run.out" "$work"/*.err 2>/dev/null; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
e, r = s["endpoints"], s["registrations"]
assert e["total"] == 6 and e["SUCCESS"] == 2 and e["REGISTRATION_FAILED"] == 4, e
assert r["attempted"] == 6 and r["succeeded"] == 6 and r["failed"] == 0, r
assert r["refresh_failed"] == 4, r
# keepers: one refresh a second for about 5 s each; dropped and unbound: one each
assert 4 + 2 * 3 <= r["refreshes"] <= 4 + 2 * 7, r
assert sorted((f["outcome"], f["code"], f["reason"], f["count"]) for f in s["failures"]) == [
    ("REGISTRATION_FAILED", 200, "registration lost: the registrar dropped it (Expires: 0)", 2),
    ("REGISTRATION_FAILED", 403, "registration lost: its refresh was refused", 2)], s["failures"]
print("refresh: keepers refreshed every second and stayed SUCCESS, %d refreshes in all; a refused refresh made "
      "2 endpoints REGISTRATION_FAILED 403, a 200 with Expires: 0 2 more" % r["refreshes"])
PY
