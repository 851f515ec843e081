#!/bin/sh
# Installs every build, test and runtime dependency of callmeter from Debian 12 packages.
# Idempotent and quiet when everything is present; needs root (or sudo) only when something is missing.
set -eu

# Build: compilers and libraries (pkg-config names in the Makefile's PKGS).
BUILD_PKGS="build-essential pkg-config dpdk dpdk-dev libdpdk-dev libssl-dev libopus-dev libsrtp2-dev
 libmsgpack-dev check libsubunit-dev libmicrohttpd-dev libinih-dev libjansson-dev libspandsp-dev libsqlite3-dev libpcap-dev libspeexdsp-dev libc-ares-dev"
# Tests, fuzzing and benchmarks: real SIP peers, capture tools, sanitizer/fuzzer runtimes.
TEST_PKGS="kamailio kamailio-tls-modules sip-tester dnsmasq-base tshark iproute2 ethtool curl procps clang libclang-rt-14-dev libfuzzer-14-dev
 python3 python3-yaml python3-msgpack systemd openssl ca-certificates"

missing=""
for p in $BUILD_PKGS $TEST_PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "callmeter deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "callmeter deps: need root (or sudo) to install:$missing" >&2; exit 1; }
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
echo "callmeter deps: done" >&2
