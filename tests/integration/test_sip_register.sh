#!/bin/sh
# Registration against a real Kamailio: the test creates a network namespace with a veth pair, writes a Kamailio
# config (registrar with usrloc in memory, digest auth with qop=auth via pv_auth_check), starts Kamailio inside
# the namespace, and runs the registration client test program against it from the host side of the veth:
# challenge, register, refresh before expiry, unregister, and a wrong password failing with 401.
set -u
cd "$(dirname "$0")/../.." || exit 1
# the test program of the build under test (build/ or build/san/, from the worker binary make exports)
BIN_DIR=$(dirname "${CALLMETER_WORKER_BIN:-build/callmeter-worker}")/tests
BIN=$BIN_DIR/test_sip_register
[ -x "$BIN" ] || { echo "SKIP: $BIN not built (run make first)"; exit 77; }
command -v kamailio >/dev/null 2>&1 || { echo "SKIP: kamailio not installed"; exit 77; }
command -v ip >/dev/null 2>&1 || { echo "SKIP: iproute2 not installed"; exit 77; }

NS=cmsipreg$$
VH=cmsr$$h   # host side
VN=cmsr$$n   # namespace side
# 10.250.x.0/30 picked from the PID so parallel runs do not collide; only these two addresses are used.
O=$(( $$ % 250 + 1 ))
HOST_IP=10.250.$O.1
KAM_IP=10.250.$O.2
WORK=$(mktemp -d)
KPID=

cleanup() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null && sleep 0.2
	[ -f "$WORK/kamailio.pid" ] && kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null
	ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null
	ip link del "$VH" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ! ip netns add "$NS" 2>/dev/null; then
	echo "SKIP: cannot create a network namespace (needs root and netns support)"
	exit 77
fi
ip link add "$VH" type veth peer name "$VN" || { echo "SKIP: cannot create a veth pair"; exit 77; }
ip link set "$VN" netns "$NS"
ip addr add "$HOST_IP/30" dev "$VH"
ip link set "$VH" up
ip -n "$NS" addr add "$KAM_IP/30" dev "$VN"
ip -n "$NS" link set "$VN" up
ip -n "$NS" link set lo up

cat >"$WORK/kamailio.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:$KAM_IP:5060
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("registrar", "default_expires", 60)
request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (method != "REGISTER") { sl_send_reply("405", "Method Not Allowed"); exit; }
	if (!pv_auth_check("\$fd", "secret", "0", "1")) {
		auth_challenge("\$fd", "1");
		exit;
	}
	if (!save("location")) sl_reply_error();
	exit;
}
CFG

mpath=$(dirname "$(find /usr/lib -name registrar.so -path '*kamailio*' 2>/dev/null | head -1)")
[ -n "$mpath" ] || { echo "SKIP: Kamailio modules not found"; exit 77; }
sed -i "s|^mpath=.*|mpath=\"$mpath/\"|" "$WORK/kamailio.cfg"
kamailio -c -f "$WORK/kamailio.cfg" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log"; echo "FAIL: Kamailio rejected the config"; exit 1; }

ip netns exec "$NS" kamailio -f "$WORK/kamailio.cfg" -DD -E -m 32 -M 8 -Y "$WORK" -P "$WORK/kamailio.pid" \
	>"$WORK/kamailio.log" 2>&1 &
KPID=$!
# wait until it answers (any SIP response to an OPTIONS will do: 405 from the route above)
ok=0
for _ in $(seq 1 50); do
	if ! kill -0 "$KPID" 2>/dev/null; then
		cat "$WORK/kamailio.log"
		echo "FAIL: Kamailio exited"
		exit 1
	fi
	if grep -q "INFO: <core>" "$WORK/kamailio.log" 2>/dev/null && ip netns exec "$NS" ss -lun | grep -q "$KAM_IP:5060"; then
		ok=1
		break
	fi
	sleep 0.1
done
[ $ok -eq 1 ] || { cat "$WORK/kamailio.log"; echo "FAIL: Kamailio did not start listening"; exit 1; }

CALLMETER_SIP_REGISTRAR="$KAM_IP:5060" CALLMETER_SIP_LOCAL_IP="$HOST_IP" CALLMETER_SIP_DOMAIN="$KAM_IP" \
	CALLMETER_SIP_USER=alice CALLMETER_SIP_PASSWORD=secret "$BIN"
rc=$?
if [ $rc -ne 0 ]; then
	tail -40 "$WORK/kamailio.log"
	echo "FAIL: registration against Kamailio"
	exit 1
fi
echo "PASS: register, refresh, unregister and a wrong password against Kamailio $(kamailio -v | head -1 | cut -d' ' -f3)"
exit 0
