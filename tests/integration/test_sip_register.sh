#!/bin/sh
# Registration against a real Kamailio: the test creates a network namespace with a veth pair (lib/testbed.sh),
# writes a Kamailio config (registrar with usrloc in memory, digest auth with qop=auth via pv_auth_check), starts
# Kamailio inside the namespace, and runs the registration client test program against it from the host side of the veth:
# challenge, register, refresh before expiry, unregister, and a wrong password failing with 401.
set -u
cd "$(dirname "$0")/../.." || exit 1
# the test program of the build under test (build/ or build/san/, from the worker binary make exports)
BIN_DIR=$(dirname "${CALLMETER_WORKER_BIN:-build/callmeter-worker}")/tests
BIN=$BIN_DIR/test_sip_register
[ -x "$BIN" ] || { echo "SKIP: $BIN not built (run make first)"; exit 77; }
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
tb_netns cmsipreg
HOST_IP=$TB_HOST_IP
KAM_IP=$TB_NS_IP
WORK=$TB_WORK

cat >"$WORK/kamailio.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:$KAM_IP:5060
mpath="@MPATH@"
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

tb_kamailio "$WORK/kamailio.cfg"

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
