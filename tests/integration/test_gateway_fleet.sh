#!/bin/sh
# A run split across two real workers by the gateway: both workers on this machine, each with its DPDK dataplane
# on one end of a veth pair (net_af_packet) and its own media IP, SIP on 127.0.0.1.  The callee group lands on
# one worker and the caller group on the other (capacity 20 each), so every call and every RTP packet crosses
# from one worker to the other.  Two runs of the same plan:
#   1. the gateway is SIGKILLed while the run is RUNNING and started again 2 s later: the workers reconnect,
#      re-send what was not acknowledged, and the run completes with no sample lost (each worker's metrics
#      sequence numbers 1..N stored without a gap);
#   2. `run cancel` during the calls: CANCELLED, both workers hang up and end their parts, and stay ONLINE;
#   3. one worker gets SIGTERM while its part runs: it reports DRAINING, finishes the part, then exits 0;
#   4. a worker is SIGKILLed during the run and started again: its hello holds no part, so the run FAILs at
#      once naming the lost part, and the other worker's part is cancelled.
# Each run: every endpoint SUCCESS, calls and streams counted on both sides, the merged summary equals the sum
# of the parts' summaries, MOS from the media both ways, per-second samples from both workers, and each worker's
# per-second dataplane samples adding up to the dataplane figures its done carried.
set -u
GW=${CALLMETER_GATEWAY_BIN:-build/callmeter-gateway}
WK=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
for tool in openssl curl python3 ip ethtool; do
	command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -x "$GW" ] && [ -x "$WK" ] || { echo "SKIP: build the binaries first"; exit 77; }

. tests/integration/lib/testbed.sh
dir=$TB_WORK
VA=cmfa$$ VB=cmfb$$
gwpid="" apid="" bpid=""
cleanup() {
	for p in $apid $bpid $gwpid; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip link del "$VA" 2>/dev/null
	tb_cleanup
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in gw wa wb; do echo "--- $f.log"; tail -40 "$dir/$f.log"; done
	exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS COMMAND...
	n=$(($1 * 10)); shift
	while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}

ip link add "$VA" type veth peer name "$VB" 2>/dev/null || { echo "SKIP: cannot create a veth pair (needs root)"; exit 77; }
for v in $VA $VB; do
	ip link set "$v" up
	# the dataplanes check UDP checksums; veth would leave them to an offload that never happens
	ethtool -K "$v" tx off >/dev/null 2>&1
done

tb_pki
tb_cert gw DNS:localhost
export CALLMETER_GATEWAY_DB="$dir/g.db"
# configured for 30 endpoints each, but each worker's flow table (MAX_FLOWS=40) holds 20: 20 is what counts
ta=$("$GW" worker create wa --license professional --capacity 30 2>/dev/null) || fail "worker create wa"
tb=$("$GW" worker create wb --license professional --capacity 30 2>/dev/null) || fail "worker create wb"

gport=$(free_port)
serve() {
	LOG_FORMAT=pretty "$GW" serve --cert "$dir/gw.pem" --key "$dir/gw.key" --listen "127.0.0.1:$gport" \
		--heartbeat 1 --heartbeat-timeout 10 >>"$dir/gw.log" 2>&1 &
	gwpid=$!
}
serve
o=$(( $$ % 250 + 1 ))
# af_packet rings of 4096 frames (4 s of this test's traffic): two busy-polling workers on a 2-CPU machine that
# others share can be descheduled for longer than the default 512 frames last; and their threads float over both
# CPUs (--lcores): pinned, each worker's control plane shared a CPU with the other's busy-polling lcore, and under
# load both went without a heartbeat for 10 s (seen: OFFLINE mid-run, 18,486 packets lost)
spawn_worker() { # NAME TOKEN IFACE MEDIA_IP MAIN_LCORE
	printf '[worker]\nreconnect_min_ms = 100\nreconnect_max_ms = 300\n' >"$dir/$1.conf"
	WORKER_TOKEN=$2 CLOUD_URL=localhost:$gport CALLMETER_CA_FILE=$dir/ca.pem HEALTH_PORT=$(free_port) \
		WORKER_NAME=$1 LOG_FORMAT=pretty LOG_LEVEL=info MEDIA_IP=$4 MAX_FLOWS=40 SIP_IP=127.0.0.1 \
		CALLMETER_EAL_ARGS="--no-huge --no-shconf -m 256 --no-pci --vdev=net_af_packet0,iface=$3,framecnt=4096 --lcores=0@(0,1),1@(0,1) --main-lcore $5 --no-telemetry --log-level=*:warning" \
		timeout -k 5 170 "$WK" --config "$dir/$1.conf" >>"$dir/$1.log" 2>&1 &
	wpid=$!
}
# start_worker a|b: sets apid or bpid.  net_af_packet names its PACKET_FANOUT group (getpid() ^ ifindex): two
# workers on the two ends of one veth pair collide when their pids differ in just the bits their ifindexes do;
# a second start has another pid.
start_worker() {
	for try in 1 2 3; do
		: >>"$dir/w$1.log"
		if [ "$1" = a ]; then spawn_worker wa "$ta" "$VA" "10.252.$o.1" 0; else spawn_worker wb "$tb" "$VB" "10.252.$o.2" 1; fi
		eval "${1}pid=$wpid"
		wait_for 10 sh -c "tail -n 20 '$dir/w$1.log' | grep -q 'session up\|PACKET_FANOUT' || ! kill -0 $wpid 2>/dev/null"
		tail -n 20 "$dir/w$1.log" | grep -q "could not set PACKET_FANOUT" || return 0
		wait "$wpid"
		/bin/true; /bin/true # new processes: the next start gets another pid
	done
	fail "w$1 could not start its dataplane"
}
start_worker a
start_worker b
wait_for 30 sh -c "'$GW' worker list | grep -Eq '^wa +ONLINE' && '$GW' worker list | grep -Eq '^wb +ONLINE'" ||
	fail "workers not ONLINE: $("$GW" worker list)"

cat >"$dir/plan.ini" <<PLAN
[test]
name = fleet
duration = 40s
call_duration = 4s
cps = 20
teardown_timeout = 3s
[group phones]
endpoints = 20
role = callee
ring_time = 200ms
[group dialers]
endpoints = 20
role = caller
target = group:phones
codecs = PCMU
PLAN
check_run() { # ID: the run's report checked, and its metrics in the store
	"$GW" run wait "$1" --timeout 90 >"$dir/show.json"
	rc=$?
	[ $rc -eq 0 ] || fail "run wait exit $rc: $(cat "$dir/show.json")"
	python3 - "$dir/show.json" "$dir/g.db" <<'PY' || fail "$(cat "$dir/show.json")"
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))
assert r["run"]["status"] == "COMPLETED", r["run"]
e, s, q = r["endpoints"], r["summary"], r["quality"]
assert e["total"] == 40 and e["SUCCESS"] == 40, e
assert s["calls_attempted"] == 20 and s["calls_answered"] == 20 and s["calls_received"] == 20, s
parts = r["parts"]
assert len(parts) == 2 and {p["worker"] for p in parts} == {"wa", "wb"}, parts
assert {p["group"] for p in parts} == {"phones", "dialers"}, parts
for k, v in s.items():  # the merged summary is the sum of the parts'
    total = sum(p["summary"].get(k, 0) for p in parts)
    assert abs(total - v) < 1e-6 * max(1, abs(v)), (k, v, total)
# 20 calls, a stream each way, analysed where it was received: 4 s of 20 ms packets
assert q["streams"] == 40 and q["mos_avg"] >= 4.2, q
assert s["packets_received"] >= 40 * 180 and q["loss_pct"] < 1.0, (s, q)
m = r["metrics"]
assert m["workers"] == 2 and m["samples"] >= 40 * 4, m
# each worker's dataplane while its part ran: a sample a second, adding up to what its done said; its port carried
# at least the part's RTP (each worker has a port of its own here, and one part)
for p in parts:
    d = p["dataplane"]
    assert d["seconds"] >= 4, p
    for k in ("port_ipackets", "port_opackets", "port_imissed", "port_ierrors", "port_oerrors", "port_rx_nombuf",
              "tx_packets"):
        assert d[k] == d["summary"][k], (p["worker"], k, d)
    assert d["port_opackets"] >= p["summary"]["packets_sent"] > 0 and d["port_imissed"] == 0, (p["worker"], d)
    assert d["worst_second_tx_pacing_p99_ns"] > 0 and d["tx_pacing_max_ns"] == d["summary"]["tx_pacing_max_ns"], d
db = sqlite3.connect(sys.argv[2])
for (w, n, lo, hi) in db.execute("SELECT worker_id, count(*), min(seq), max(seq) FROM metrics WHERE run_id=? "
                                 "GROUP BY worker_id", (r["run"]["id"],)):
    assert hi - lo + 1 == n, ("metrics sequence gap", w, n, lo, hi)
print("fleet: 40 endpoints SUCCESS on 2 workers, 20 calls across them, MOS %.2f, loss %.3f %%, %d samples"
      % (q["mos_avg"], q["loss_pct"], m["samples"]))
PY
}
running() { "$GW" run show "$1" | grep -q '"status":"RUNNING"'; }

sed 's/^endpoints = 20$/endpoints = 23/' "$dir/plan.ini" >"$dir/big.ini"
id=$("$GW" run submit "$dir/big.ini") || fail "run submit"
"$GW" run wait "$id" --timeout 30 >"$dir/show.json"
[ $? -eq 4 ] && grep -q "the plan needs 46 endpoints; 40 free on 2 ONLINE workers" "$dir/show.json" ||
	fail "46 endpoints on 2 x 20: $(cat "$dir/show.json")"

# 1. the gateway dies during the run and comes back
id=$("$GW" run submit "$dir/plan.ini") || fail "run submit"
wait_for 30 running "$id" || fail "run 1 never RUNNING"
sleep 1
kill -KILL "$gwpid"
wait "$gwpid" 2>/dev/null
sleep 2
serve
check_run "$id"
grep -q "session with gateway .* lost" "$dir/wa.log" && grep -q "session with gateway .* lost" "$dir/wb.log" ||
	fail "the workers did not notice the gateway going away"

# 2. cancelled during the calls
id=$("$GW" run submit "$dir/plan.ini") || fail "run submit"
wait_for 30 running "$id" || fail "run 2 never RUNNING"
sleep 1
"$GW" run cancel "$id" >/dev/null || fail "run cancel"
"$GW" run wait "$id" --timeout 30 >"$dir/show.json"
[ $? -eq 1 ] && grep -q '"status":"CANCELLED"' "$dir/show.json" || fail "not CANCELLED: $(cat "$dir/show.json")"
for w in wa wb; do
	wait_for 20 grep -q "run $id part [01] done: 20 endpoint(s)" "$dir/$w.log" || fail "$w did not end its part"
done
wait_for 10 sh -c "'$GW' worker list | grep -Eq '^wa +ONLINE .* 0 *\$' && '$GW' worker list | grep -Eq '^wb +ONLINE .* 0 *\$'" ||
	fail "workers not ONLINE and idle after the cancel: $("$GW" worker list)"

# 3. SIGTERM to one worker while its part runs: DRAINING, the part finishes, then the worker exits 0
id=$("$GW" run submit "$dir/plan.ini") || fail "run submit"
wait_for 30 running "$id" || fail "run 3 never RUNNING"
pkill -TERM -P "$apid" # the worker, not the timeout(1) around it, which would kill it 5 s later
check_run "$id"
wait "$apid" || fail "worker wa exit $? after SIGTERM during its part"
apid=""
grep -q "draining (SIGTERM)" "$dir/wa.log" && grep -q "drained: no runs in hand" "$dir/wa.log" ||
	fail "wa did not drain after finishing its part"
grep -q "worker 'wa' .*-> DRAINING" "$dir/gw.log" || fail "gateway never saw wa DRAINING"
grep -q "part 0: .*ready, SIP on 127.0.0.1:" "$dir/wa.log" "$dir/wb.log" || fail "no part became ready"

# 4. a worker dies during the run and comes back (a new process, without the part): the gateway fails the run
# at once instead of waiting for a part nobody holds, and the other worker's part is cancelled (its BYEs to the
# dead worker time out after the plan's teardown_timeout)
start_worker a
wait_for 30 sh -c "'$GW' worker list | grep -Eq '^wa +ONLINE'" || fail "wa not back: $("$GW" worker list)"
id=$("$GW" run submit "$dir/plan.ini") || fail "run submit"
wait_for 30 running "$id" || fail "run 4 never RUNNING"
pkill -KILL -P "$bpid"
wait "$bpid" 2>/dev/null
start_worker b
"$GW" run wait "$id" --timeout 60 >"$dir/show.json"
[ $? -eq 1 ] && grep -q '"status":"FAILED".*lost: worker .wb. restarted during the run' "$dir/show.json" ||
	fail "run 4 with a restarted worker: $(cat "$dir/show.json")"
wait_for 20 grep -q "run $id part [01] done" "$dir/wa.log" || fail "wa's part of run 4 was not cancelled"
pkill -TERM -P "$apid"
wait "$apid" || fail "worker wa exit $?"
apid=""

pkill -TERM -P "$bpid"
wait "$bpid" || fail "worker wb exit $?"
bpid=""
exit 0
