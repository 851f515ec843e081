#!/bin/sh
# The operator's path through the real binaries, as README describes it: make a CA and a gateway certificate,
# create a worker (token printed once), serve, start the worker with WORKER_TOKEN/CLOUD_URL/CALLMETER_CA_FILE,
# see it ONLINE and "connected", regenerate its token (the live session is dropped, the old token is then
# refused as revoked), SIGTERM the worker (DRAINING, clean exit).  Checks the store's mode and that no token
# reaches a log.  Traffic stays on 127.0.0.1.
set -u
GW=${CALLMETER_GATEWAY_BIN:-build/callmeter-gateway}
WK=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
for tool in openssl curl; do
	command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -x "$GW" ] && [ -x "$WK" ] || { echo "SKIP: build the binaries first"; exit 77; }

. tests/integration/lib/testbed.sh
dir=$TB_WORK
gwpid="" wkpid=""
cleanup() {
	[ -n "$wkpid" ] && kill "$wkpid" 2>/dev/null
	[ -n "$gwpid" ] && kill "$gwpid" 2>/dev/null
	wait 2>/dev/null
	tb_cleanup
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- gateway log"; cat "$dir/gw.log"; echo "--- worker log"; cat "$dir/wk.log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
health() { curl -s --max-time 2 "http://127.0.0.1:$hport/health"; }
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
	n=$(($1 * 10)); shift
	while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}

tb_pki
tb_cert gw DNS:localhost
export CALLMETER_GATEWAY_DB="$dir/g.db"

token=$("$GW" worker create rack1 --license professional --capacity 100 2>/dev/null) || fail "worker create"
echo "$token" | grep -Eq '^cmw_[0-9a-f]{64}$' || fail "token has the wrong shape"
[ "$(stat -c %a "$dir/g.db")" = 600 ] || fail "store mode is $(stat -c %a "$dir/g.db"), not 600"

gport=$(free_port) hport=$(free_port)
LOG_FORMAT=pretty "$GW" serve --cert "$dir/gw.pem" --key "$dir/gw.key" --listen "127.0.0.1:$gport" \
	--heartbeat 1 --heartbeat-timeout 5 >"$dir/gw.log" 2>&1 &
gwpid=$!
printf '[worker]\nreconnect_min_ms = 100\nreconnect_max_ms = 300\n' >"$dir/worker.conf"
WORKER_TOKEN=$token CLOUD_URL=localhost:$gport CALLMETER_CA_FILE=$dir/ca.pem HEALTH_PORT=$hport \
	WORKER_NAME=it-worker LOG_FORMAT=pretty "$WK" --config "$dir/worker.conf" >"$dir/wk.log" 2>&1 &
wkpid=$!

wait_for 20 sh -c "curl -s --max-time 2 http://127.0.0.1:$hport/health | grep -q '\"status\":\"ONLINE\",\"connected\":true'" ||
	fail "worker never connected: $(health)"
wait_for 5 sh -c "'$GW' worker list | grep -Eq '^rack1 +ONLINE .* 100 +100 +professional'" ||
	fail "worker list: $("$GW" worker list)"

"$GW" worker regenerate rack1 >/dev/null 2>&1 || fail "regenerate"
wait_for 10 sh -c "curl -s --max-time 2 http://127.0.0.1:$hport/health | grep -q 'rejected (revoked)'" ||
	fail "old token not refused as revoked: $(health)"
grep -q "disconnected: token regenerated" "$dir/gw.log" || fail "session not dropped on regenerate"
grep -q "gateway rejected this worker (revoked)" "$dir/wk.log" || fail "reject reason not in the worker log"

kill -TERM "$wkpid"
wait "$wkpid"
rc=$?
wkpid=""
[ $rc -eq 0 ] || fail "worker exit status $rc after SIGTERM"
grep -q "stopped cleanly" "$dir/wk.log" || fail "worker did not stop cleanly"
kill -TERM "$gwpid"
wait "$gwpid" || fail "gateway exit status $?"
gwpid=""

hex=${token#cmw_}
if grep -q "$hex" "$dir/gw.log" "$dir/wk.log"; then fail "a token reached a log"; fi
for f in "$dir"/g.db*; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"
done
echo "PASS: token create/serve/connect/regenerate/revoked/SIGTERM through the real binaries"
