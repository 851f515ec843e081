# Shared by integration tests (sourced, not run): a network namespace joined to the host by a veth pair, and a
# Kamailio started inside it.  Addresses come from 10.251.X.0/30 with X from the caller's PID, so parallel runs
# do not collide; only the two addresses of the pair are ever used.
#
#   tb_netns NAME        creates namespace and veth; sets TB_NS, TB_HOST_IP, TB_NS_IP (exit 77 if impossible)
#   tb_kamailio_proxy_cfg FILE [PASSWORD]  writes a Kamailio config: registrar (usrloc in memory) and
#                        record-routing proxy, digest auth on REGISTER (401) and INVITE (407), every REGISTER
#                        logged as "REG user expires"
#   tb_kamailio CFGFILE  starts Kamailio in the namespace with the config, waits until it listens
#   tb_kamailio_kill     kills every process in the namespace (Kamailio loses its state)
#   tb_cleanup           kills what was started, removes namespace, veth and TB_WORK (install it as the trap)

TB_WORK=$(mktemp -d)
TB_NS= TB_VH= TB_KPID=

tb_cleanup() {
	[ -n "$TB_KPID" ] && kill "$TB_KPID" 2>/dev/null && sleep 0.2
	[ -f "$TB_WORK/kamailio.pid" ] && kill "$(cat "$TB_WORK/kamailio.pid")" 2>/dev/null
	if [ -n "$TB_NS" ]; then
		ip netns pids "$TB_NS" 2>/dev/null | xargs -r kill 2>/dev/null
		ip link del "$TB_VH" 2>/dev/null
		ip netns del "$TB_NS" 2>/dev/null
	fi
	rm -rf "$TB_WORK"
}

tb_skip() {
	echo "SKIP: $*"
	exit 77
}

tb_netns() {
	command -v ip >/dev/null 2>&1 || tb_skip "iproute2 not installed"
	TB_NS=$1$$
	TB_VH=cmh$$
	o=$(( $$ % 250 + 1 ))
	TB_HOST_IP=10.251.$o.1
	TB_NS_IP=10.251.$o.2
	ip netns add "$TB_NS" 2>/dev/null || { TB_NS=; tb_skip "cannot create a network namespace (needs root)"; }
	ip link add "$TB_VH" type veth peer name cmn$$ || tb_skip "cannot create a veth pair"
	ip link set cmn$$ netns "$TB_NS"
	ip addr add "$TB_HOST_IP/30" dev "$TB_VH"
	ip link set "$TB_VH" up
	ip -n "$TB_NS" addr add "$TB_NS_IP/30" dev cmn$$
	ip -n "$TB_NS" link set cmn$$ up
	ip -n "$TB_NS" link set lo up
}

tb_kamailio_proxy_cfg() {
	cat >"$1" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:$TB_NS_IP:5060
mpath="@MPATH@"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 5)
request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (\$tt != \$null) {
		if (loose_route()) { t_relay(); exit; }
		if (method == "ACK") { if (t_check_trans()) t_relay(); exit; }
		sl_send_reply("404", "Not Here"); exit;
	}
	if (method == "CANCEL") { if (t_check_trans()) t_relay(); exit; }
	if (!pv_auth_check("\$fd", "${2:-secret}", "0", "1")) {
		auth_challenge("\$fd", "1");
		exit;
	}
	consume_credentials();
	if (method == "REGISTER") {
		xlog("L_INFO", "REG \$fU \$hdr(Expires)\n");
		if (!save("location")) sl_reply_error();
		exit;
	}
	if (method == "INVITE") {
		record_route();
		if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
		t_relay();
		exit;
	}
	sl_send_reply("405", "Method Not Allowed");
}
CFG
}

tb_kamailio_kill() {
	ip netns pids "$TB_NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
	TB_KPID=
	rm -f "$TB_WORK/kamailio.pid"
	sleep 0.3
}

tb_kamailio() {
	command -v kamailio >/dev/null 2>&1 || tb_skip "kamailio not installed"
	mpath=$(dirname "$(find /usr/lib -name registrar.so -path '*kamailio*' 2>/dev/null | head -1)")
	[ -n "$mpath" ] || tb_skip "Kamailio modules not found"
	sed -i "s|@MPATH@|$mpath/|" "$1"
	[ -f "$TB_WORK/kamailio.log" ] && cat "$TB_WORK/kamailio.log" >>"$TB_WORK/kamailio.old.log"
	kamailio -c -f "$1" >"$TB_WORK/check.log" 2>&1 || { cat "$TB_WORK/check.log"; echo "FAIL: Kamailio rejected $1"; exit 1; }
	ip netns exec "$TB_NS" kamailio -f "$1" -DD -E -m 32 -M 8 -Y "$TB_WORK" -P "$TB_WORK/kamailio.pid" \
		>"$TB_WORK/kamailio.log" 2>&1 &
	TB_KPID=$!
	for _ in $(seq 1 50); do
		kill -0 "$TB_KPID" 2>/dev/null || { cat "$TB_WORK/kamailio.log"; echo "FAIL: Kamailio exited"; exit 1; }
		ip netns exec "$TB_NS" ss -lun 2>/dev/null | grep -q "$TB_NS_IP:5060" && return 0
		sleep 0.1
	done
	cat "$TB_WORK/kamailio.log"
	echo "FAIL: Kamailio did not start listening"
	exit 1
}
