#!/bin/sh
# Endpoints that each keep a TLS connection of their own (port_per_endpoint over TLS), as a fleet of phones would,
# against a real Kamailio registrar (digest) in a namespace this script creates: for each N in STEPS, N endpoints
# register over N TLS connections (Kamailio's certificate verified), stay registered, then unregister; then the
# same N over the group's one shared connection.  A step passes when every endpoint is SUCCESS and Kamailio holds
# N established TLS connections while they are registered.  Prints registration time p50/p99, the worker's CPU
# and peak RSS for both, and the memory each endpoint's own TLS flow costs (the difference over N).
# No reference is measured: Debian's SIPp is built without TLS.  Kamailio 5.6's TLS module crashes (OpenSSL 3,
# several TCP workers: "qm: fragm. ... beginning overwritten" from tls_init.c) under ~1,000 concurrent
# handshakes, so it runs with one TCP worker and more shared memory here.
# Final lines: BENCH tls_endpoint_flows <largest N passed> endpoints; BENCH tls_flow_memory <KiB> KiB/endpoint
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/testbed.sh
trap tb_cleanup EXIT INT TERM
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
steps=${BENCH_TLS_STEPS:-1000 5000}
command -v kamailio >/dev/null 2>&1 || tb_skip "kamailio not installed"

tb_netns cmbtls
tb_kamailio_proxy_cfg "$TB_WORK/kamailio.cfg"
tb_pki
tb_cert kamailio "IP:$TB_NS_IP"
tb_kamailio_add_tls "$TB_WORK/kamailio.cfg" "$TB_WORK/kamailio.pem" "$TB_WORK/kamailio.key"
sed -i "/^listen=udp/i tcp_max_connections=40000\ntls_max_connections=40000\ntcp_children=1" "$TB_WORK/kamailio.cfg"
TB_KAMAILIO_MEM="-m 2048 -M 64" tb_kamailio "$TB_WORK/kamailio.cfg"

# one_run N yes|no: prints "ok|fail p50 p99 cpu_s rss_kib established"
one_run() {
	cat >"$TB_WORK/plan.ini" <<PLAN
[test]
name = tls-endpoints-$1
duration = $(($1 / 400 + 25))s
register_rate = 500

[group phones]
endpoints = $1
target = external
transport = tls
registrar = $TB_NS_IP:5061
username = {n}
password = secret
first_number = 100000
local_ip = $TB_HOST_IP
local_port = 20000
port_per_endpoint = $2
tls_verify = ca
tls_ca_file = $TB_WORK/ca.pem

[dataplane]
media_ip = 192.0.2.30, 192.0.2.31, 192.0.2.32, 192.0.2.33
rtp_ports = 30000-39999
PLAN
	/usr/bin/time -f "%U %S %M" -o "$TB_WORK/time" timeout -k 5 300 "$worker" run "$TB_WORK/plan.ini" \
		--json-summary "$TB_WORK/s.json" >"$TB_WORK/run.out" 2>&1 &
	wp=$!
	# every endpoint registered (register_rate 500/s) and holding its binding: count Kamailio's TLS connections
	sleep $(($1 / 500 + 12))
	est=$(ip netns exec "$TB_NS" ss -tn state established "( sport = :5061 )" | tail -n +2 | wc -l)
	wait $wp
	python3 - "$TB_WORK/s.json" "$TB_WORK/time" "$1" "$est" <<'PY' || echo "fail 0 0 0 0 $est"
import json, sys
s = json.load(open(sys.argv[1])); u, st, rss = open(sys.argv[2]).read().split()[-3:]
n, est = int(sys.argv[3]), int(sys.argv[4])
ok = s["endpoints"]["SUCCESS"] == n
t = s["registrations"]["time_ms"]
print("ok" if ok else "fail", t["p50"], t["p99"], "%.1f" % (float(u) + float(st)), rss, est)
PY
}

best=0 kib=0
for n in $steps; do
	set -- $(one_run "$n" yes)
	own_ok=$1 own_p50=$2 own_p99=$3 own_cpu=$4 own_rss=$5 own_est=$6
	set -- $(one_run "$n" no)
	sh_ok=$1 sh_p50=$2 sh_p99=$3 sh_cpu=$4 sh_rss=$5 sh_est=$6
	echo "$n endpoints, own TLS connection each: $own_ok, $own_est connections at Kamailio, registration p50 ${own_p50} ms" \
		"p99 ${own_p99} ms, worker CPU ${own_cpu} s, peak RSS $((own_rss / 1024)) MiB"
	echo "$n endpoints, one shared TLS connection: $sh_ok, $sh_est connection(s) at Kamailio, registration p50 ${sh_p50} ms" \
		"p99 ${sh_p99} ms, worker CPU ${sh_cpu} s, peak RSS $((sh_rss / 1024)) MiB"
	if [ "$own_ok" != ok ] || [ "$own_est" -lt "$n" ]; then
		tail -20 "$TB_WORK/run.out"; grep -E "CRIT|ALERT|ERROR" "$TB_WORK/kamailio.log" | tail -5
		break
	fi
	best=$n
	kib=$(( (own_rss - sh_rss) / n ))
	# the worker's CPU includes the dataplane lcore's busy polling, the same in both runs: the difference is
	# what the N handshakes and connections cost
	echo "own connections: $(python3 -c "print('%.2f' % (($own_cpu - $sh_cpu) * 1000 / $n))") ms CPU and $kib KiB" \
		"per endpoint more than one shared connection"
done
echo "BENCH tls_flow_memory $kib KiB/endpoint"
echo "BENCH tls_endpoint_flows $best endpoints"
