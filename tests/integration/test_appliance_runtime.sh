#!/bin/sh
# The container image without a Docker engine: the Dockerfile's stages run the project's own scripts, and the
# runtime stage's package list (appliance/runtime-packages.txt) covers every shared library of the built
# programs and the DPDK drivers they load (appliance/build-runtime-check.sh, the same check the build stage
# runs).  The check itself is shown to catch a missing library package and a -dev package in the list.  The
# ENTRYPOINT and HEALTHCHECK paths exist in the tree `make install PREFIX=/usr` gives the image.
set -u
cd "$(dirname "$0")/../.." || exit 1
command -v dpkg-query >/dev/null || { echo "SKIP: not a Debian system (dpkg-query missing)"; exit 77; }
# The image holds the plain build (not the sanitizer one, whose runtime libraries are for testing only).
W=build/callmeter-worker
G=build/callmeter-gateway
if ! make -s --no-print-directory SAN=0 all >/dev/null 2>&1 || [ ! -x "$W" ] || [ ! -x "$G" ]; then
	echo "FAIL: cannot build $W and $G"
	exit 1
fi
T=$(mktemp -d /tmp/cm-rt-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $1"; [ -n "${2:-}" ] && sed 's/^/    | /' "$2"; fails=$((fails + 1)); }
pass() { echo "ok: $1"; }

if sh appliance/build-runtime-check.sh "$W" "$G" >"$T/ok.out" 2>&1; then
	pass "runtime packages cover the binaries: $(cat "$T/ok.out")"
else
	fail "runtime package list does not cover the binaries" "$T/ok.out"
fi
# Take libmicrohttpd12 (the health endpoint's library) out: the check must name it.
grep -v '^libmicrohttpd12$' appliance/runtime-packages.txt >"$T/short.txt"
if CALLMETER_RUNTIME_LIST=$T/short.txt sh appliance/build-runtime-check.sh "$W" >"$T/short.out" 2>&1; then
	fail "check passed without libmicrohttpd12" "$T/short.out"
elif grep -q "libmicrohttpd.so.12 (package libmicrohttpd12) is not covered" "$T/short.out"; then
	pass "check names a missing library package (libmicrohttpd12)"
else
	fail "check failed for another reason" "$T/short.out"
fi
# DPDK drivers are not in ldd's list: dropping the net PMDs must be caught too.
grep -v '^librte-meta-net$' appliance/runtime-packages.txt >"$T/nopmd.txt"
if ! CALLMETER_RUNTIME_LIST=$T/nopmd.txt sh appliance/build-runtime-check.sh "$W" >"$T/nopmd.out" 2>&1 &&
	grep -q "DPDK driver net_ring: .* is not covered" "$T/nopmd.out"; then
	pass "check names missing DPDK drivers (net_ring without librte-meta-net)"
else
	fail "missing DPDK drivers not caught" "$T/nopmd.out"
fi
{ cat appliance/runtime-packages.txt; echo libssl-dev; } >"$T/dev.txt"
if ! CALLMETER_RUNTIME_LIST=$T/dev.txt sh appliance/build-runtime-check.sh "$W" >"$T/dev.out" 2>&1 &&
	grep -q "development package 'libssl-dev'" "$T/dev.out"; then
	pass "check refuses a -dev package in the runtime list"
else
	fail "-dev package not refused" "$T/dev.out"
fi

# The Dockerfile: two Debian 12 stages; the build stage runs deps.sh, make, the runtime check and make install
# into /out; the runtime stage installs the list and copies /out; entrypoint and health check paths exist in
# the PREFIX=/usr tree and are executable.
df=Dockerfile
froms=$(grep -c '^FROM debian:bookworm-slim AS ' $df)
if [ "$froms" -eq 2 ] && grep -q 'sh appliance/deps.sh' $df && grep -q 'sh appliance/build-runtime-check.sh' $df &&
	grep -q 'make install DESTDIR=/out PREFIX=/usr' $df && grep -q 'COPY --from=build /out/usr/ /usr/' $df &&
	grep -q 'appliance/runtime-packages.txt' $df && ! sed -n '/AS runtime/,$p' $df | grep -q -- '-dev\b'; then
	pass "Dockerfile: build stage (deps.sh, make, check, install) and runtime stage (package list, /out)"
else
	fail "Dockerfile structure" "$df"
fi
make -s --no-print-directory install DESTDIR="$T/img" PREFIX=/usr >"$T/inst.out" 2>&1 || fail "make install PREFIX=/usr" "$T/inst.out"
ep=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p' $df)
hc=$(sed -n 's/^HEALTHCHECK .* CMD \["\([^"]*\)".*/\1/p' $df)
if [ -n "$ep" ] && [ -x "$T/img$ep" ] && [ -n "$hc" ] && [ -x "$T/img$hc" ] && [ -r "$T/img/usr/lib/callmeter/hostlib.sh" ] &&
	[ -x "$T/img/usr/bin/callmeter-worker" ] && [ -x "$T/img/usr/bin/callmeter-gateway" ]; then
	pass "ENTRYPOINT $ep and HEALTHCHECK $hc exist in the image tree"
else
	fail "ENTRYPOINT '$ep' / HEALTHCHECK '$hc' missing from the PREFIX=/usr tree"
fi
# The installed entrypoint finds its library next to it (no source tree in the image).
if env -i PATH=/usr/bin:/bin sh "$T/img$ep" sh -c 'exit 0' >"$T/epi.out" 2>&1; then
	pass "installed entrypoint loads its library"
else
	fail "installed entrypoint" "$T/epi.out"
fi

[ $fails -eq 0 ] || { echo "test_appliance_runtime: $fails failed"; exit 1; }
echo "test_appliance_runtime: all passed"
