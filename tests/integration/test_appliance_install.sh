#!/bin/sh
# make install into a DESTDIR: the expected tree with its modes, paths in the units filled in for the PREFIX,
# an existing configuration left alone on reinstall, and `systemd-analyze verify` clean on both units inside the
# installed tree (--root, with the system's own units beside ours so that targets resolve; ExecStart binaries
# are checked there).  A deliberately broken copy proves the verifier reports what it should.
set -u
cd "$(dirname "$0")/../.." || exit 1
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing (appliance/deps.sh installs systemd)"; exit 77; }
[ -d /usr/lib/systemd/system ] || { echo "SKIP: no /usr/lib/systemd/system to verify against"; exit 77; }
T=$(mktemp -d /tmp/cm-inst-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $1"; [ -n "${2:-}" ] && sed 's/^/    | /' "$2"; fails=$((fails + 1)); }
pass() { echo "ok: $1"; }

D=$T/root
if ! make -s --no-print-directory install DESTDIR="$D" >"$T/make.out" 2>&1; then
	fail "make install DESTDIR=$D" "$T/make.out"
	exit 1
fi

# mode path, for every file and directory that must be there (PREFIX=/usr/local).
cat >"$T/expect" <<'LIST'
755 usr/local/bin/callmeter-worker
755 usr/local/bin/callmeter-gateway
755 usr/local/sbin/callmeter-host-check
755 usr/local/sbin/callmeter-hugepages
755 usr/local/sbin/callmeter-bind-nic
755 usr/local/lib/callmeter/entrypoint.sh
755 usr/local/lib/callmeter/healthcheck.sh
644 usr/local/lib/callmeter/hostlib.sh
644 usr/local/lib/systemd/system/callmeter-worker.service
644 usr/local/lib/systemd/system/callmeter-gateway.service
644 etc/sysusers.d/callmeter.conf
755 etc/callmeter
700 etc/callmeter/gateway
640 etc/callmeter/worker.conf
600 etc/callmeter/worker.env
644 etc/callmeter/gateway.env
644 etc/callmeter/worker.conf.sample
644 etc/callmeter/worker.env.sample
644 etc/callmeter/gateway.env.sample
644 usr/local/share/callmeter/docker-compose.yml
644 usr/local/share/callmeter/k8s/worker-daemonset.yaml
644 usr/local/share/callmeter/k8s/gateway.yaml
644 usr/local/share/doc/callmeter/appliance.md
LIST
bad=0
while read -r mode path; do
	got=$(stat -c %a "$D/$path" 2>/dev/null || echo missing)
	if [ "$got" != "$mode" ]; then
		echo "    | $path: mode $got, expected $mode"
		bad=1
	fi
done <"$T/expect"
if [ $bad -eq 0 ]; then pass "installed tree: $(wc -l <"$T/expect") paths with their modes"; else fail "installed tree"; fi
# Installed binaries are the built ones and run.
if "$D/usr/local/bin/callmeter-worker" --version | grep -q '^callmeter-worker '; then
	pass "installed worker runs"
else
	fail "installed worker does not run"
fi
if grep -q '@[A-Z]*@' "$D"/usr/local/lib/systemd/system/*.service; then
	fail "unfilled @VARIABLE@ in units" "$D/usr/local/lib/systemd/system/callmeter-worker.service"
elif grep -qx 'ExecStart=/usr/local/bin/callmeter-worker serve --config /etc/callmeter/worker.conf' \
	"$D/usr/local/lib/systemd/system/callmeter-worker.service" &&
	grep -qx 'EnvironmentFile=-/etc/callmeter/worker.env' "$D/usr/local/lib/systemd/system/callmeter-worker.service" &&
	grep -qx 'Restart=on-failure' "$D/usr/local/lib/systemd/system/callmeter-worker.service" &&
	grep -q '^ExecStartPre=+/usr/local/sbin/callmeter-hugepages ensure' "$D/usr/local/lib/systemd/system/callmeter-worker.service" &&
	grep -q '^ExecStart=/usr/local/bin/callmeter-gateway serve --cert .* --key .* --listen .* --db ' \
		"$D/usr/local/lib/systemd/system/callmeter-gateway.service"; then
	pass "units: paths for PREFIX=/usr/local, token EnvironmentFile, restart policy, hugepages before start"
else
	fail "unit contents" "$D/usr/local/lib/systemd/system/callmeter-worker.service"
fi

# Reinstall over an edited configuration: kept; the samples are refreshed.
echo "; edited" >>"$D/etc/callmeter/worker.conf"
echo "WORKER_TOKEN=cmw_kept" >"$D/etc/callmeter/worker.env"
make -s --no-print-directory install DESTDIR="$D" >"$T/make2.out" 2>&1 || fail "second make install" "$T/make2.out"
if tail -n 1 "$D/etc/callmeter/worker.conf" | grep -qx '; edited' && grep -qx 'WORKER_TOKEN=cmw_kept' "$D/etc/callmeter/worker.env" &&
	cmp -s config/worker.conf.sample "$D/etc/callmeter/worker.conf.sample"; then
	pass "reinstall keeps worker.conf and worker.env"
else
	fail "reinstall overwrote the configuration"
fi

# systemd-analyze verify inside the tree.
mkdir -p "$D/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$D/usr/lib/systemd/"
systemd-analyze verify --man=no --root="$D" callmeter-worker.service callmeter-gateway.service >"$T/verify.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$T/verify.out" ]; then
	pass "systemd-analyze verify: both units clean"
else
	fail "systemd-analyze verify (rc=$rc)" "$T/verify.out"
fi
# The verifier is live: a unit with an unknown key and one whose program is missing are reported.
sed 's/^Restart=on-failure$/Restart=on-failure\nRestartBogus=1/' "$D/usr/local/lib/systemd/system/callmeter-worker.service" \
	>"$D/usr/local/lib/systemd/system/callmeter-canary.service"
systemd-analyze verify --man=no --root="$D" callmeter-canary.service >"$T/canary.out" 2>&1
if grep -q "Unknown key 'RestartBogus'" "$T/canary.out"; then
	pass "verifier reports an unknown key"
else
	fail "verifier missed an unknown key" "$T/canary.out"
fi
rm "$D/usr/local/lib/systemd/system/callmeter-canary.service" "$D/usr/local/bin/callmeter-worker"
systemd-analyze verify --man=no --root="$D" callmeter-worker.service >"$T/canary.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "callmeter-worker is not executable" "$T/canary.out"; then
	pass "verifier reports a missing ExecStart program"
else
	fail "verifier missed a missing program (rc=$rc)" "$T/canary.out"
fi

# PREFIX=/usr (the container image's layout): units where systemd's vendor units live, paths follow.
D2=$T/usr
make -s --no-print-directory install DESTDIR="$D2" PREFIX=/usr >"$T/make3.out" 2>&1 || fail "make install PREFIX=/usr" "$T/make3.out"
if [ -x "$D2/usr/bin/callmeter-worker" ] && [ -x "$D2/usr/lib/callmeter/entrypoint.sh" ] &&
	grep -qx 'ExecStart=/usr/bin/callmeter-worker serve --config /etc/callmeter/worker.conf' "$D2/usr/lib/systemd/system/callmeter-worker.service" &&
	[ -f "$D2/usr/lib/sysusers.d/callmeter.conf" ]; then
	pass "PREFIX=/usr: /usr/bin, /usr/lib/callmeter, /usr/lib/systemd/system, /usr/lib/sysusers.d"
else
	fail "PREFIX=/usr layout" "$T/make3.out"
fi

[ $fails -eq 0 ] || { echo "test_appliance_install: $fails failed"; exit 1; }
echo "test_appliance_install: all passed"
