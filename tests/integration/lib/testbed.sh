# Shared by integration tests (sourced, not run): a network namespace joined to the host by a veth pair, and a
# Kamailio started inside it.  Addresses come from 10.251.X.0/30 with X from the caller's PID, so parallel runs
# do not collide; only the two addresses of the pair are ever used.
#
#   tb_netns NAME        creates namespace and veth; sets TB_NS, TB_HOST_IP, TB_NS_IP (exit 77 if impossible)
#   tb_kamailio CFGFILE  starts Kamailio in the namespace with the config, waits until it listens
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

tb_kamailio() {
	command -v kamailio >/dev/null 2>&1 || tb_skip "kamailio not installed"
	mpath=$(dirname "$(find /usr/lib -name registrar.so -path '*kamailio*' 2>/dev/null | head -1)")
	[ -n "$mpath" ] || tb_skip "Kamailio modules not found"
	sed -i "s|@MPATH@|$mpath/|" "$1"
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
