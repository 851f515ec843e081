#!/bin/sh
# Early media (RFC 3960) on the loopback dataplane (net_ring), plan tests/integration/plans/loopback-early.ini:
# callees answer 183 with their SDP and play their media through a 2 s ring before the 200; their callers'
# streams must hold that early media and the call's (about (2 + 3) s x 50 packets received, 3 s x 50 sent), the
# callees' the reverse.  Refusers play 2 s of early media, then reject with 486: their callers end CALL_FAILED 486
# with their early stream reported (about 100 packets, early_only), and the refusers' played stream (nothing
# expected back) is listed but not counted as a received stream in the quality figures.
set -eu
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

rc=0
timeout -k 5 120 "$worker" run tests/integration/plans/loopback-early.ini --json-summary "$dir/s.json" \
	--eal "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0,1 --no-telemetry --log-level=*:warning" \
	>"$dir/run.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$dir/run.out"; echo "FAIL: expected exit 1 (the refused calls), got $rc"; exit 1; }
grep -q "with early media  *16" "$dir/run.out" || { cat "$dir/run.out"; echo "FAIL: no early media row"; exit 1; }
python3 - "$dir/s.json" <<'PY' || { cat "$dir/run.out"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
e, c, q = s["endpoints"], s["calls"], s["quality"]
assert e["total"] == 16 and e["SUCCESS"] == 13 and e["CALL_FAILED"] == 3, e
assert c["attempted"] == 8 and c["answered"] == 5 and c["early_media"] == 16, c
assert [(f["outcome"], f["code"], f["count"]) for f in s["failures"]] == [("CALL_FAILED", 486, 3)], s["failures"]
flows = {f["endpoint"]: f for f in s["flows"]}
assert len(flows) == 16, sorted(flows)
def near(v, want):
    return want - 15 <= v <= want + 15
for ep in range(0, 5):      # callees: 2 s early + 3 s call sent, the 3 s call received
    f = flows[ep]
    assert near(f["packets_sent"], 250) and near(f["packets_received"], 150) and not f.get("early_only"), f
for ep in range(5, 10):     # callers: the early media and the call received, the call sent
    f = flows[ep]
    assert near(f["packets_received"], 250) and near(f["packets_sent"], 150), f
    assert f["packets_lost"] == 0 and f["mos"] >= 4.3 and not f.get("early_only"), f
for ep in range(10, 13):    # refusers: 2 s played, nothing back
    f = flows[ep]
    assert f["early_only"] and near(f["packets_sent"], 100) and f["packets_received"] == 0, f
for ep in range(13, 16):    # their callers: the 2 s of early media measured, the call failed
    f = flows[ep]
    assert f["early_only"] and near(f["packets_received"], 100) and f["packets_sent"] == 0, f
    assert f["packets_lost"] == 0 and f["mos"] >= 4.3, f
assert q["streams"] == 13 and q["mos"]["min"] >= 4.3, q
print("early media: 5 calls with 2 s of early media then answered (%d..%d packets received by the callers), "
      "3 rejected with 486 after 2 s of it (%d..%d early packets measured), quality over 13 received streams"
      % (min(flows[i]["packets_received"] for i in range(5, 10)), max(flows[i]["packets_received"] for i in range(5, 10)),
         min(flows[i]["packets_received"] for i in range(13, 16)), max(flows[i]["packets_received"] for i in range(13, 16))))
PY
