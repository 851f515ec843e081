#!/bin/sh
# The installed units' command lines, run for real (no systemd here to start them): each Exec line of the
# installed unit, with its absolute paths mapped into the DESTDIR tree and the systemd specifiers filled the
# way systemd fills them (%d credentials directory, %S state directory, ${VAR} from Environment=/EnvironmentFile=).
#   worker:  ExecStartPre helpers succeed with the installed --no-huge default (nothing to reserve or bind),
#            ExecStart starts the installed worker with the installed worker.conf: /health ONLINE, SIGTERM -> 0;
#   gateway: ExecStart starts the gateway on a test certificate, it completes a TLS handshake, stops on SIGTERM,
#            and its store is created under the state directory, mode 0600.  (Skipped, said so, while the built
#            gateway has no 'serve'.)
set -u
cd "$(dirname "$0")/../.." || exit 1
if ! command -v curl >/dev/null || ! command -v openssl >/dev/null; then
	echo "SKIP: curl/openssl missing (appliance/deps.sh installs them)"
	exit 77
fi
T=$(mktemp -d /tmp/cm-units-XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $1"; [ -n "${2:-}" ] && sed 's/^/    | /' "$2"; fails=$((fails + 1)); }
pass() { echo "ok: $1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

D=$T/root
make -s --no-print-directory install DESTDIR="$D" >"$T/make.out" 2>&1 || { fail "make install" "$T/make.out"; exit 1; }
UNITS=$D/usr/local/lib/systemd/system

# exec_lines UNIT KEY: the unit's KEY= command lines, '+'/'-' prefixes dropped, paths mapped into $D.
exec_lines() {
	sed -n "s/^$2=[-+]*//p" "$UNITS/$1" | sed -e "s|/usr/local/|$D/usr/local/|g" -e "s| /etc/callmeter/| $D/etc/callmeter/|g"
}

# ---- worker -------------------------------------------------------------------------------------------------
exec_lines callmeter-worker.service ExecStartPre >"$T/pre"
n=0
while read -r line; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	if env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $line >"$T/pre$n.out" 2>&1; then
		pass "worker ExecStartPre #$n: $(head -n 1 "$T/pre$n.out")"
	else
		fail "worker ExecStartPre #$n: $line" "$T/pre$n.out"
	fi
done <"$T/pre"
[ "$n" -eq 2 ] || fail "expected 2 ExecStartPre lines, found $n"
start=$(exec_lines callmeter-worker.service ExecStart)
port=$(free_port)
# The environment systemd would give: the installed worker.env read as EnvironmentFile= reads it (KEY=VALUE
# lines, comments skipped, the value kept whole; empty token: standalone) plus a test port.
set --
while IFS= read -r kv; do
	set -- "$@" "$kv"
done <<ENVFILE
$(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$D/etc/callmeter/worker.env")
ENVFILE
[ $# -ge 2 ] || fail "installed worker.env has no WORKER_TOKEN/CLOUD_URL lines"
# shellcheck disable=SC2086
env "$@" HEALTH_PORT="$port" HEALTH_BIND=127.0.0.1 $start >"$T/worker.out" 2>&1 &
pid=$!
status=""
for _ in $(seq 1 100); do
	status=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/health" 2>/dev/null | sed -n 's/.*"status":"\([A-Z]*\)".*/\1/p')
	[ -n "$status" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$status" = ONLINE ] && grep -q "config $D/etc/callmeter/worker.conf" "$T/worker.out"; then
	pass "worker ExecStart with the installed worker.conf: /health ONLINE"
else
	fail "worker ExecStart (status '$status'): $start" "$T/worker.out"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=""
if [ $rc -eq 0 ]; then pass "worker stops on the unit's KillSignal (SIGTERM) with exit 0"; else fail "worker SIGTERM exit $rc" "$T/worker.out"; fi

# ---- gateway ------------------------------------------------------------------------------------------------
GW=$D/usr/local/bin/callmeter-gateway
if ! "$GW" --help 2>&1 | grep -q -- "serve --cert"; then
	echo "skip: gateway ExecStart (the built callmeter-gateway has no 'serve' yet)"
else
	mkdir -p "$T/creds" "$T/state/callmeter-gateway"
	chmod 700 "$T/state/callmeter-gateway"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
		-keyout "$T/creds/tls.key" -out "$T/creds/tls.crt" >/dev/null 2>&1
	gport=$(free_port)
	listen=$(sed -n 's/^Environment=GATEWAY_LISTEN=//p' "$UNITS/callmeter-gateway.service")
	[ "$listen" = "0.0.0.0:443" ] || fail "gateway unit's default GATEWAY_LISTEN is '$listen'"
	gstart=$(exec_lines callmeter-gateway.service ExecStart | sed -e "s|%d|$T/creds|g" -e "s|%S|$T/state|g" \
		-e "s|\${GATEWAY_LISTEN}|127.0.0.1:$gport|g")
	# shellcheck disable=SC2086
	(umask 077 && exec $gstart) >"$T/gw.out" 2>&1 &
	pid=$!
	ok=0
	for _ in $(seq 1 100); do
		if echo | openssl s_client -connect "127.0.0.1:$gport" -CAfile "$T/creds/tls.crt" >"$T/tls.out" 2>&1 &&
			grep -q "Verify return code: 0" "$T/tls.out"; then
			ok=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ $ok -eq 1 ]; then pass "gateway ExecStart: TLS handshake on the unit's --cert/--key"; else fail "gateway ExecStart: $gstart" "$T/gw.out"; fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	pid=""
	if [ $rc -eq 0 ]; then pass "gateway stops on SIGTERM with exit 0"; else fail "gateway SIGTERM exit $rc" "$T/gw.out"; fi
	db=$T/state/callmeter-gateway/gateway.db
	if [ -f "$db" ] && [ "$(stat -c %a "$db")" = 600 ]; then
		pass "gateway store created in the unit's state directory, mode 0600"
	else
		fail "gateway store $db: $(stat -c %a "$db" 2>&1)" "$T/gw.out"
	fi
fi

[ $fails -eq 0 ] || { echo "test_appliance_units_run: $fails failed"; exit 1; }
echo "test_appliance_units_run: all passed"
