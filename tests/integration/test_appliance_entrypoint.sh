#!/bin/sh
# The container entrypoint's host checks, on fake host trees (CALLMETER_HOST_ROOT) and with the real worker:
#   - no hugepages -> exit 2, a message naming the --no-huge fallback (CALLMETER_EAL_ARGS), nothing started;
#   - too few hugepages for -m, a named port absent, a port on a kernel driver -> exit 2 with the fix named;
#   - everything present -> the worker is exec'd with the environment it should get (container EAL default,
#     token from WORKER_TOKEN_DIR, port from a device plugin variable, eal_args from a config file);
#   - the --no-huge fallback -> the real worker starts (it is the process itself), /health says ONLINE, the
#     health check script agrees, SIGTERM stops it with exit 0;
#   - a malformed token -> the real worker's exit 2 and its message come through the entrypoint.
set -u
cd "$(dirname "$0")/../.." || exit 1
EP=appliance/entrypoint.sh
WORKER=$(readlink -f "${CALLMETER_WORKER_BIN:-build/callmeter-worker}")
[ -x "$WORKER" ] || { echo "SKIP: $WORKER not built"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing (appliance/deps.sh installs it)"; exit 77; }
T=$(mktemp -d /tmp/cm-ep-XXXXXX)
wpid=""
cleanup() { [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $1"; [ -n "${2:-}" ] && sed 's/^/    | /' "$2"; fails=$((fails + 1)); }
pass() { echo "ok: $1"; }

# A stub worker that records how it was started.
cat >"$T/stub-worker" <<'STUB'
#!/bin/sh
{ echo "ARGS=$*"; echo "EAL=${CALLMETER_EAL_ARGS:-}"; echo "PORT=${CALLMETER_PORT:-}"
  echo "TOKEN=${WORKER_TOKEN:-}"; } >"$STUB_OUT"
exit 0
STUB
chmod 755 "$T/stub-worker"

# fake_host DIR FREE_2M_PAGES [mounted]: a host with 2 MB and 1 GB hugepage pools and a /proc/mounts.
fake_host() {
	mkdir -p "$1/sys/kernel/mm/hugepages/hugepages-2048kB" "$1/sys/kernel/mm/hugepages/hugepages-1048576kB" \
		"$1/proc" "$1/sys/bus/pci/devices" "$1/sys/class/net" "$1/dev"
	echo "$2" >"$1/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
	echo "$2" >"$1/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
	echo 0 >"$1/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
	echo 0 >"$1/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages"
	echo "proc /proc proc rw 0 0" >"$1/proc/mounts"
	[ "${3:-}" = mounted ] && echo "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0" >>"$1/proc/mounts"
	return 0
}
# fake_nic DIR PCI DRIVER
fake_nic() {
	mkdir -p "$1/sys/bus/pci/devices/$2"
	echo 0x020000 >"$1/sys/bus/pci/devices/$2/class"
	ln -s "../../../bus/pci/drivers/$3" "$1/sys/bus/pci/devices/$2/driver"
	if [ "$3" = vfio-pci ]; then mkdir -p "$1/dev/vfio" && : >"$1/dev/vfio/vfio"; fi
}

# ep NAME ROOT [VAR=VALUE...] [-- ARGS...]: runs the entrypoint with a clean environment, an empty config file
# and the stub worker; exit status in $rc, output in $T/NAME.out, what the stub saw in $T/NAME.stub.
ep() {
	name=$1 root=$2
	shift 2
	total=$# seen=0
	for a in "$@"; do
		if [ $seen -eq 0 ] && [ "$a" = -- ]; then
			set -- "$@" sh "$EP" --config "$T/empty.conf"
			seen=1
		else
			set -- "$@" "$a"
		fi
	done
	shift "$total"
	[ $seen -eq 1 ] || set -- "$@" sh "$EP" --config "$T/empty.conf"
	rm -f "$T/$name.stub"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CALLMETER_HOST_ROOT="$root" CALLMETER_WORKER="$T/stub-worker" \
		STUB_OUT="$T/$name.stub" "$@" >"$T/$name.out" 2>&1
	rc=$?
}
: >"$T/empty.conf"

# 1. No hugepages, the container default (hugepages, NICs): refused, fallback named, worker not started.
fake_host "$T/h0" 0
ep nohuge "$T/h0"
if [ $rc -eq 2 ] && grep -q -- "--no-huge" "$T/nohuge.out" && grep -q "CALLMETER_EAL_ARGS=" "$T/nohuge.out" &&
	grep -q "hugepages missing" "$T/nohuge.out" && grep -q "2M: 0 free of 0" "$T/nohuge.out" && [ ! -e "$T/nohuge.stub" ]; then
	pass "no hugepages: exit 2, --no-huge fallback named, worker not started"
else
	fail "no hugepages (rc=$rc)" "$T/nohuge.out"
fi

# 2. Hugepages but fewer than -m asks.
fake_host "$T/h1" 256 mounted
fake_nic "$T/h1" 0000:03:00.0 vfio-pci
ep short "$T/h1" "CALLMETER_EAL_ARGS=-m 2048 -a 0000:03:00.0"
if [ $rc -eq 2 ] && grep -q "need 2048 MB of hugepages, this host has 512 MB free" "$T/short.out" && [ ! -e "$T/short.stub" ]; then
	pass "too few hugepages for -m 2048: refused with the amounts"
else
	fail "too few hugepages (rc=$rc)" "$T/short.out"
fi

# 3. A named port that does not exist; 4. a port on a kernel driver; 5. hugetlbfs not mounted without --in-memory.
ep noport "$T/h1" "CALLMETER_EAL_ARGS=--in-memory -a 0000:05:00.0"
if [ $rc -eq 2 ] && grep -q "port 0000:05:00.0 (from EAL -a) not found" "$T/noport.out" && [ ! -e "$T/noport.stub" ]; then
	pass "missing port: refused, address named"
else
	fail "missing port (rc=$rc)" "$T/noport.out"
fi
fake_nic "$T/h1" 0000:04:00.0 ixgbe
ep kernel "$T/h1" "CALLMETER_PORT=04:00.0" "CALLMETER_EAL_ARGS=--in-memory"
if [ $rc -eq 2 ] && grep -q "bound to 'ixgbe'" "$T/kernel.out" && grep -q "callmeter-bind-nic 0000:04:00.0" "$T/kernel.out"; then
	pass "port on a kernel driver: refused, bind command named"
else
	fail "port on kernel driver (rc=$rc)" "$T/kernel.out"
fi
fake_host "$T/h2" 512
fake_nic "$T/h2" 0000:03:00.0 vfio-pci
ep nomount "$T/h2" "CALLMETER_EAL_ARGS=-a 0000:03:00.0"
if [ $rc -eq 2 ] && grep -q "hugetlbfs not mounted" "$T/nomount.out"; then
	pass "hugetlbfs not mounted: refused, --in-memory named"
else
	fail "hugetlbfs not mounted (rc=$rc)" "$T/nomount.out"
fi
# EAL cores outside the CPU set this process may use (a container's cpuset).
fake_host "$T/h4" 0
mkdir -p "$T/h4/proc/self" && printf 'Name:\tsh\nCpus_allowed_list:\t0-1\n' >"$T/h4/proc/self/status"
ep cores "$T/h4" "CALLMETER_EAL_ARGS=--no-huge --no-pci --vdev=net_ring0 -l 0-3"
if [ $rc -eq 2 ] && grep -q "EAL cores -l 0-3 include CPUs this process may not use: 2 3 (allowed: 0-1)" "$T/cores.out" &&
	[ ! -e "$T/cores.stub" ]; then
	pass "EAL cores outside the CPU set: refused, the cores named"
else
	fail "EAL cores outside the CPU set (rc=$rc)" "$T/cores.out"
fi
ep cores2 "$T/h4" "CALLMETER_EAL_ARGS=--no-huge --no-pci --vdev=net_ring0 -l 0-1"
if [ $rc -eq 0 ] && [ -e "$T/cores2.stub" ]; then pass "EAL cores inside the CPU set: started"; else fail "cores inside (rc=$rc)" "$T/cores2.out"; fi

# No port named and none bound to a DPDK driver.
fake_host "$T/h3" 512
fake_nic "$T/h3" 0000:03:00.0 i40e
ep nonic "$T/h3"
if [ $rc -eq 2 ] && grep -q "no DPDK port" "$T/nonic.out" && grep -q -- "--no-huge" "$T/nonic.out"; then
	pass "no NIC for DPDK: refused, fallback named"
else
	fail "no NIC (rc=$rc)" "$T/nonic.out"
fi

# 6. Everything there: the worker starts with the container default, the token from WORKER_TOKEN_DIR and the
# port from the device plugin's variable.
mkdir -p "$T/tokens"
echo "cmw_tokenfornode" >"$T/tokens/node-a"
ep good "$T/h2" WORKER_NAME=node-a WORKER_TOKEN_DIR="$T/tokens" CALLMETER_PORT_ENV=PCIDEVICE_X \
	PCIDEVICE_X=0000:03:00.0,0000:03:00.1
if [ $rc -eq 0 ] && grep -qx "ARGS=--config $T/empty.conf" "$T/good.stub" &&
	grep -qx "EAL=--in-memory --no-telemetry --log-level=\*:warning -a 0000:03:00.0" "$T/good.stub" &&
	grep -qx "PORT=0000:03:00.0" "$T/good.stub" && grep -qx "TOKEN=cmw_tokenfornode" "$T/good.stub" &&
	! grep -q cmw_tokenfornode "$T/good.out"; then
	pass "host ready: worker started with the container EAL default, device-plugin port and per-node token"
else
	fail "host ready (rc=$rc)" "$T/good.out"
	[ -e "$T/good.stub" ] && cat "$T/good.stub"
fi
ep notoken "$T/h2" WORKER_NAME=node-b WORKER_TOKEN_DIR="$T/tokens" CALLMETER_EAL_ARGS=--in-memory
if [ $rc -eq 2 ] && grep -q "no token for worker 'node-b'" "$T/notoken.out" && [ ! -e "$T/notoken.stub" ]; then
	pass "no token file for this worker: refused, key named"
else
	fail "missing per-worker token (rc=$rc)" "$T/notoken.out"
fi

# 7. eal_args from the config file (continued on an indented line): --no-huge there means no hugepage check.
printf '[worker]\nlog_level = info\n[dataplane]\neal_args = --no-huge --no-shconf -m 512 ; comment\n  --no-pci --vdev=net_ring0\n' >"$T/w.conf"
rm -f "$T/cfg.stub"
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$T/h0" CALLMETER_WORKER="$T/stub-worker" STUB_OUT="$T/cfg.stub" \
	sh "$EP" serve --config "$T/w.conf" >"$T/cfg.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -qx "ARGS=serve --config $T/w.conf" "$T/cfg.stub" && grep -qx "EAL=" "$T/cfg.stub"; then
	pass "config file eal_args with --no-huge: no hugepages needed, worker reads its file itself"
else
	fail "config file eal_args (rc=$rc)" "$T/cfg.out"
fi

# 'check' prints the host report for the effective EAL arguments (the port from the device plugin included).
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$T/h1" CALLMETER_EAL_ARGS="--in-memory" CALLMETER_PORT=0000:04:00.0 \
	sh "$EP" check >"$T/check.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "EAL arguments: --in-memory" "$T/check.out" && grep -q "ok       NIC 0000:03:00.0 on vfio-pci" "$T/check.out" &&
	grep -q "MISSING  port 0000:04:00.0 (from CALLMETER_PORT) is bound to 'ixgbe'" "$T/check.out"; then
	pass "entrypoint check: host report with the configured port's problem"
else
	fail "entrypoint check (rc=$rc)" "$T/check.out"
fi

# 8. Another program runs as is (the gateway shares the image).
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$T/h0" sh "$EP" sh -c 'exit 7' >"$T/other.out" 2>&1
rc=$?
if [ $rc -eq 7 ]; then pass "other program exec'd without checks"; else fail "other program (rc=$rc)" "$T/other.out"; fi

# 9. The fallback with the real worker: it starts (exec: the entrypoint's PID is the worker), answers /health
# ONLINE, the health check agrees, SIGTERM -> exit 0.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$T/h0" CALLMETER_WORKER="$WORKER" HEALTH_PORT="$port" \
	HEALTH_BIND=127.0.0.1 LOG_FORMAT=pretty \
	CALLMETER_EAL_ARGS="--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 --no-telemetry --log-level=*:warning" \
	sh "$EP" --config "$T/empty.conf" >"$T/real.out" 2>&1 &
wpid=$!
status=""
for _ in $(seq 1 100); do
	status=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/health" 2>/dev/null | sed -n 's/.*"status":"\([A-Z]*\)".*/\1/p')
	[ -n "$status" ] && break
	kill -0 "$wpid" 2>/dev/null || break
	sleep 0.1
done
exe=$(readlink "/proc/$wpid/exe" 2>/dev/null || true)
if [ "$status" = ONLINE ] && [ "$exe" = "$WORKER" ]; then
	pass "--no-huge fallback: the worker itself runs (pid $wpid), /health ONLINE"
else
	fail "fallback start (status '$status', exe '$exe')" "$T/real.out"
fi
if HEALTH_PORT=$port sh appliance/healthcheck.sh >"$T/hc.out" && grep -q "live: ONLINE" "$T/hc.out" &&
	HEALTH_PORT=$port sh appliance/healthcheck.sh --ready >"$T/hc.out"; then
	pass "healthcheck.sh: live and ready"
else
	fail "healthcheck.sh on a live worker" "$T/hc.out"
fi
kill -TERM "$wpid" 2>/dev/null
wait "$wpid"
rc=$?
wpid=""
if [ $rc -eq 0 ] && grep -q "stopped cleanly" "$T/real.out"; then
	pass "SIGTERM reaches the worker: exit 0, stopped cleanly"
else
	fail "SIGTERM (rc=$rc)" "$T/real.out"
fi
if HEALTH_PORT=$port sh appliance/healthcheck.sh >"$T/hc.out"; then
	fail "healthcheck.sh says healthy with nothing listening" "$T/hc.out"
else
	pass "healthcheck.sh: unhealthy when nothing answers"
fi

# 10. A malformed token: the worker's own exit 2 and message come through; the value is never printed.
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$T/h0" CALLMETER_WORKER="$WORKER" WORKER_TOKEN=cmw_NOTATOKEN \
	CLOUD_URL=127.0.0.1:1 CALLMETER_EAL_ARGS="--no-huge --no-pci --vdev=net_ring0" \
	sh "$EP" --config "$T/empty.conf" >"$T/badtok.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "configuration error: environment variable WORKER_TOKEN" "$T/badtok.out" &&
	! grep -q NOTATOKEN "$T/badtok.out"; then
	pass "malformed token: the worker's exit 2 and message surface"
else
	fail "malformed token (rc=$rc)" "$T/badtok.out"
fi

[ $fails -eq 0 ] || { echo "test_appliance_entrypoint: $fails failed"; exit 1; }
echo "test_appliance_entrypoint: all passed"
