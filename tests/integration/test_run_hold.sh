#!/bin/sh
# Hold and resume from our side on the loopback dataplane (net_ring): each of 10 callers puts its answered 8 s
# call on hold 2 s after the answer (re-INVITE a=sendonly, answered a=recvonly by our own callee) for 3 s, then
# resumes it (a=sendrecv).  Checks: every endpoint SUCCESS; both legs of every call stopped sending while held, so
# each received stream has about (8 - 3) s x 50 packets, none counted lost; the jitter after the resume stays clean
# (MOS >= 4.3); the holds are counted per flow and in total.  The same plan with hold_mode = inactive once more.
set -eu
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

check() {
	python3 - "$1" "$2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); mode = sys.argv[2]
e, q, c = s["endpoints"], s["quality"], s["calls"]
assert s["run"]["outcome"] == "COMPLETED", s["run"]
assert e["total"] == 20 and e["SUCCESS"] == 20, e
assert c["attempted"] == 10 and c["answered"] == 10, c
assert s["holds"] == {"held": 10, "resumed": 10, "failed": 0}, s["holds"]
assert s["failures"] == [], s["failures"]
assert len(s["flows"]) == 20, len(s["flows"])
for f in s["flows"]:
    # 8 s calls held 3 s: 5 s of 20 ms packets each way (about 400 without the hold)
    assert 225 <= f["packets_received"] <= 275, f
    assert 225 <= f["packets_sent"] <= 275, f
    assert f["packets_lost"] == 0 and f["out_of_order_packets"] == 0, f
    assert f["holds"] == 1, f
    assert f["jitter_ms"] < 10 and 4.3 <= f["mos"] <= 4.5, f   # the jitter at the end, after the resume
assert q["packets_lost"] == 0 and q["fraction_lost"] == 0, q
print("hold (%s) on loopback: 10 calls held 3 s of 8 s, %d-%d packets per stream, no loss, max jitter %.2f ms, "
      "MOS min %.2f" % (mode, min(f["packets_received"] for f in s["flows"]),
                        max(f["packets_received"] for f in s["flows"]), q["jitter_ms"]["max"], q["mos"]["min"]))
PY
}

timeout -k 5 120 "$worker" run tests/integration/plans/loopback-hold.ini --json-summary "$dir/hold.json" \
	>"$dir/hold.out" 2>&1 || { cat "$dir/hold.out"; exit 1; }
check "$dir/hold.json" sendonly || { cat "$dir/hold.out"; exit 1; }

sed 's/^hold_for = 3s$/hold_for = 3s\nhold_mode = inactive/' tests/integration/plans/loopback-hold.ini \
	>"$dir/inactive.ini"
grep -q '^hold_mode = inactive$' "$dir/inactive.ini"
timeout -k 5 120 "$worker" run "$dir/inactive.ini" --json-summary "$dir/inactive.json" \
	>"$dir/inactive.out" 2>&1 || { cat "$dir/inactive.out"; exit 1; }
check "$dir/inactive.json" inactive || { cat "$dir/inactive.out"; exit 1; }
