#!/bin/sh
# Early media (RFC 3960) on the loopback dataplane (net_ring), plan tests/integration/plans/loopback-early.ini:
# callees answer 183 with their SDP and play their media through a 2 s ring before the 200; their callers'
# streams must hold that early media and the call's (about (2 + 3) s x 50 packets received, 3 s x 50 sent), the
# callees' the reverse.  Refusers play 2 s of early media, then reject with 486: their callers end CALL_FAILED 486
# with their early stream reported (about 100 packets, early_only), and the refusers' played stream (nothing
# expected back) is listed but not counted as a received stream in the quality figures.
# The per-second samples (--metrics-out) show the early media while it plays: a ringing caller's samples carry
# the packets it receives and their quality, a ringing callee's the packets it sends (counts only), and per
# endpoint the samples add up to its flows.
set -eu
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
py=python3
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import msgpack' 2>/dev/null; then py=$p; break; fi
done
"$py" -c 'import msgpack' 2>/dev/null || { echo "SKIP: python3-msgpack not installed"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

rc=0
timeout -k 5 120 "$worker" run tests/integration/plans/loopback-early.ini --json-summary "$dir/s.json" \
	--metrics-out "$dir/s.msgpack" \
	--eal "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0,1 --no-telemetry --log-level=*:warning" \
	>"$dir/run.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$dir/run.out"; echo "FAIL: expected exit 1 (the refused calls), got $rc"; exit 1; }
grep -q "with early media  *16" "$dir/run.out" || { cat "$dir/run.out"; echo "FAIL: no early media row"; exit 1; }
"$py" - "$dir/s.json" "$dir/s.msgpack" <<'PY' || { cat "$dir/run.out"; exit 1; }
import collections, json, sys, msgpack
s = json.load(open(sys.argv[1]))
# per-endpoint samples; the dataplane's (kind "dataplane") are test_run_samples.sh's
samples = [x for x in msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False) if "kind" not in x]
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
keys = ("packets_sent", "packets_received", "packets_lost")
sums = collections.defaultdict(collections.Counter)
for x in samples:
    for k in keys:
        sums[x["endpoint"]][k] += x[k] or 0
for ep, f in flows.items():
    assert all(sums[ep][k] == f[k] for k in keys), (ep, dict(sums[ep]), f)
ringing = collections.defaultdict(list)   # the callers' samples while ringing, with what they heard
for x in samples:
    if x["state"] == "ringing":
        ringing[x["endpoint"]].append(x)
for ep in list(range(5, 10)) + list(range(13, 16)):
    heard = [x for x in ringing[ep] if x["packets_received"]]
    assert heard and all(x["mos"] is not None and x["mos"] >= 4.3 and x["packets_sent"] == 0 for x in heard), \
        (ep, ringing[ep])
    # before the first early packet there is nothing to judge: no MOS (not that of silence)
    before = [x for x in ringing[ep] if x["t"] < heard[0]["t"]]
    assert all(x["mos"] is None for x in before), (ep, before)
for ep in range(10, 13):                  # refusers: what they played, second by second, never judged
    played = [x for x in samples if x["endpoint"] == ep and x["packets_sent"]]
    assert len(played) >= 2 and all(x["mos"] is None for x in played), (ep, played)
print("early media: 5 calls with 2 s of early media then answered (%d..%d packets received by the callers), "
      "3 rejected with 486 after 2 s of it (%d..%d early packets measured), quality over 13 received streams"
      % (min(flows[i]["packets_received"] for i in range(5, 10)), max(flows[i]["packets_received"] for i in range(5, 10)),
         min(flows[i]["packets_received"] for i in range(13, 16)), max(flows[i]["packets_received"] for i in range(13, 16))))
PY
