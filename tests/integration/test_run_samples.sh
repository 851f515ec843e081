#!/bin/sh
# The per-second samples (--metrics-out, msgpack) against the JSON summary on a loopback run whose calls end
# mid-second, with endpoints placing two calls one after the other and endpoints of role both with a call of each
# direction up at once: every sample's counters are that endpoint's counts in that second, so per endpoint the
# samples must add up exactly to its flows in the summary (packets and bytes sent and received, lost, duplicates,
# reordered), and per group to the summary's `groups` figures.  Decoded with python3-msgpack (Debian).
set -eu
worker=${CALLMETER_WORKER_BIN:-build/callmeter-worker}
py=python3
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import msgpack' 2>/dev/null; then py=$p; break; fi
done
"$py" -c 'import msgpack' 2>/dev/null || { echo "SKIP: python3-msgpack not installed"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

timeout -k 5 120 "$worker" run tests/integration/plans/loopback-samples.ini --json-summary "$dir/s.json" \
	--metrics-out "$dir/s.msgpack" >"$dir/run.out" 2>&1 || { cat "$dir/run.out"; exit 1; }
"$py" - "$dir/s.json" "$dir/s.msgpack" <<'PY' || { cat "$dir/run.out"; exit 1; }
import collections, json, sys, msgpack
s = json.load(open(sys.argv[1]))
samples = list(msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False))
assert s["endpoints"] == dict(s["endpoints"], total=21, SUCCESS=21), s["endpoints"]
assert s["calls"]["answered"] == 18, s["calls"]          # 6 callers x 2, 3 mixed, 3 pingers
keys = ("packets_sent", "packets_received", "bytes_sent", "bytes_received", "packets_lost", "duplicate_packets",
        "out_of_order_packets")
flows, sums = collections.defaultdict(collections.Counter), collections.defaultdict(collections.Counter)
for f in s["flows"]:
    for k in keys:
        flows[f["endpoint"]][k] += f[k]
times = collections.defaultdict(list)
for x in samples:
    assert x["v"] == 2, x
    times[x["endpoint"]].append(x["t"])
    for k in keys:
        if x[k] is not None:
            sums[x["endpoint"]][k] += x[k]
assert sorted(flows) == list(range(21)), sorted(flows)
for ep in range(21):
    assert all(flows[ep][k] == sums[ep][k] for k in keys), (ep, dict(flows[ep]), dict(sums[ep]))
    assert times[ep] == sorted(set(times[ep])), (ep, times[ep])      # one sample per second
# the role-both endpoints had two legs; the callers two calls: their flows really are several
per_ep = collections.Counter(f["endpoint"] for f in s["flows"])
assert all(per_ep[ep] == 2 for ep in list(range(6, 12)) + list(range(15, 18))), per_ep
# a call ends inside a second: the rest of its packets come in the caller's next sample, with no call up then
carried = [x for x in samples if 6 <= x["endpoint"] < 12 and x["state"] in ("ready", "done") and x["packets_sent"]]
assert len(carried) >= 6 and all(x["mos"] is None for x in carried), carried[:3]
groups = {g["name"]: g for g in s["groups"]}
assert [g["name"] for g in s["groups"]] == ["callees", "callers", "mixed-in", "mixed", "pingers"], groups
by_group = collections.defaultdict(collections.Counter)
for x in samples:
    for k in ("packets_sent", "packets_received", "packets_lost"):
        if x[k] is not None:
            by_group[x["group"]][k] += x[k]
for name, g in groups.items():
    assert all(g[k] == by_group[name][k] for k in ("packets_sent", "packets_received", "packets_lost")), (name, g)
    assert g["outcomes"]["SUCCESS"] == g["endpoints"] and g["packets_lost"] == 0 and g["mos"]["min"] >= 4.3, g
assert (groups["callers"]["endpoints"], groups["callers"]["streams"]) == (6, 12), groups["callers"]
assert (groups["mixed"]["endpoints"], groups["mixed"]["streams"]) == (3, 6), groups["mixed"]
print("samples vs summary: %d samples of 21 endpoints add up to their %d flows exactly (%d packets received); "
      "per group too" % (len(samples), len(s["flows"]), sum(f["packets_received"] for f in s["flows"])))
PY
