# Shared by integration tests (sourced, not run): a network namespace joined to the host by a veth pair, and a
# Kamailio started inside it.  Addresses come from 10.251.X.0/30 with X the first octet from the caller's PID on
# that no address of the host uses yet (picked under a lock), so parallel runs do not collide; only the two
# addresses of the pair are ever used.
#
#   tb_netns NAME        creates namespace and veth; sets TB_NS, TB_HOST_IP, TB_NS_IP (exit 77 if impossible)
#   tb_kamailio_proxy_cfg FILE [PASSWORD]  writes a Kamailio config: registrar (usrloc in memory) and
#                        record-routing proxy, digest auth on REGISTER (401) and INVITE (407), every REGISTER
#                        logged as "REG user expires"
#   tb_kamailio_add_tls CFGFILE CERT KEY  lets that config also listen on TCP 5060 and TLS 5061 (server
#                        certificate CERT/KEY; as a TLS client Kamailio does not check certificates)
#   tb_kamailio CFGFILE  starts Kamailio in the namespace with the config, waits until it listens (memory options
#                        from TB_KAMAILIO_MEM, default "-m 32 -M 8")
#   tb_media_link        a second veth for the worker's dataplane (net_af_packet on the host side, which has no
#                        address): sets TB_MEDIA_IF (host side), TB_MEDIA_NS_IP, TB_MEDIA_DP_IP (the worker's)
#   tb_pki               a CA for test certificates: TB_WORK/ca.pem
#   tb_cert NAME SAN     a key and certificate the CA signs: TB_WORK/NAME.pem, TB_WORK/NAME.key; SAN as openssl
#                        writes it, e.g. "IP:10.0.0.1,DNS:sip.test"
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
	ip netns add "$TB_NS" 2>/dev/null || { TB_NS=; tb_skip "cannot create a network namespace (needs root)"; }
	ip link add "$TB_VH" type veth peer name cmn$$ || tb_skip "cannot create a veth pair"
	ip link set cmn$$ netns "$TB_NS"
	# two runs whose PIDs agree modulo 250 would share a subnet: take the next free one, under a lock
	exec 9>/tmp/callmeter-testbed.lock
	flock -w 10 9 || true
	o=$(( $$ % 250 + 1 )) i=0
	while [ $i -lt 250 ] && ip -4 -o addr show | grep -q " 10\.251\.$o\."; do
		o=$(( o % 250 + 1 )) i=$((i + 1))
	done
	TB_OCTET=$o
	TB_HOST_IP=10.251.$o.1
	TB_NS_IP=10.251.$o.2
	ip addr add "$TB_HOST_IP/30" dev "$TB_VH"
	exec 9>&-
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

tb_kamailio_add_tls() {
	command -v kamailio >/dev/null 2>&1 || tb_skip "kamailio not installed"
	find /usr/lib -name tls.so -path '*kamailio*' 2>/dev/null | grep -q . || tb_skip "kamailio-tls-modules not installed"
	cat >"$TB_WORK/kamailio-tls.cfg" <<TLS
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = $2
private_key = $3

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
TLS
	sed -i "/^listen=udp/a listen=tcp:$TB_NS_IP:5060\nlisten=tls:$TB_NS_IP:5061\nenable_tls=yes" "$1"
	sed -i "/^loadmodule \"sl.so\"/i loadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"$TB_WORK/kamailio-tls.cfg\")" "$1"
}

tb_media_link() {
	TB_MEDIA_NS_IP=10.252.$TB_OCTET.2
	TB_MEDIA_DP_IP=10.252.$TB_OCTET.10
	TB_MEDIA_IF=cmmh$$
	ip link add "$TB_MEDIA_IF" type veth peer name cmmn$$ || tb_skip "cannot create the media veth pair"
	ip link set cmmn$$ netns "$TB_NS"
	ip link set "$TB_MEDIA_IF" up
	ip -n "$TB_NS" addr add "$TB_MEDIA_NS_IP/24" dev cmmn$$
	ip -n "$TB_NS" link set cmmn$$ up
	# veth hands packets over with the UDP checksum left to an offload that never happens; the dataplane checks
	# checksums (as a NIC would have), so the namespace side computes them in software
	command -v ethtool >/dev/null 2>&1 || tb_skip "ethtool not installed"
	ip netns exec "$TB_NS" ethtool -K cmmn$$ tx off >/dev/null
}

tb_pki() {
	command -v openssl >/dev/null 2>&1 || tb_skip "openssl not installed"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TB_WORK/ca.key" \
		-out "$TB_WORK/ca.pem" -days 2 -subj /CN=callmeter-testbed-ca 2>/dev/null || { echo "FAIL: CA"; exit 1; }
}

tb_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TB_WORK/$1.key" \
		-out "$TB_WORK/$1.csr" -subj "/CN=$1" 2>/dev/null &&
	printf 'subjectAltName=%s\n' "$2" >"$TB_WORK/$1.ext" &&
	openssl x509 -req -in "$TB_WORK/$1.csr" -CA "$TB_WORK/ca.pem" -CAkey "$TB_WORK/ca.key" -CAcreateserial \
		-days 2 -extfile "$TB_WORK/$1.ext" -out "$TB_WORK/$1.pem" 2>/dev/null || { echo "FAIL: certificate $1"; exit 1; }
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
	# shared/private memory in MB: TB_KAMAILIO_MEM overrides (thousands of TLS connections need more)
	# shellcheck disable=SC2086
	ip netns exec "$TB_NS" kamailio -f "$1" -DD -E ${TB_KAMAILIO_MEM:--m 32 -M 8} -Y "$TB_WORK" -P "$TB_WORK/kamailio.pid" \
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
