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
stream = list(msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False))
samples = [x for x in stream if "kind" not in x]           # per endpoint
dps = [x for x in stream if x.get("kind") == "dataplane"]  # the dataplane's, one a second
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
# The dataplane's samples: one a second over the same seconds as the endpoints', each second's counters adding up
# to the summary's `dataplane` (port statistics, TX, drops by reason) and its xstats to `port_xstats`; the running
# totals are those sums, the last one is the summary; per-second pacing within what the run's pacing says.
d, xs = s["dataplane"], s["port_xstats"]
ts = [x["t"] for x in dps]
assert ts == list(range(1, len(ts) + 1)) and ts[-1] == max(x["t"] for x in samples), (ts, max(x["t"] for x in samples))
counters = [k for k in d if not k.startswith("tx_pacing_")]
assert {"port_ipackets", "port_opackets", "port_ibytes", "port_obytes", "port_imissed", "port_ierrors", "port_oerrors",
        "port_rx_nombuf", "tx_packets", "rx_drop_unknown_port"} <= set(counters), counters
run = collections.Counter()
for x in dps:
    assert x["v"] == 1 and 0 < x["ms"] <= 3000 and set(x["second"]) == set(counters) | {"tx_paced", "tx_pacing_p50_ns",
        "tx_pacing_p99_ns", "tx_pacing_max_ns"} and set(x["total"]) == set(d), x
    run.update({k: x["second"][k] for k in counters})
    assert all(x["total"][k] == run[k] for k in counters), (x["t"], x["total"], run)
    sec = x["second"]
    if sec["tx_paced"]:  # bucket upper bounds: 100 ns at least
        assert 100 <= sec["tx_pacing_p50_ns"] <= sec["tx_pacing_p99_ns"] <= sec["tx_pacing_max_ns"] + 100, sec
        assert sec["tx_pacing_max_ns"] <= d["tx_pacing_max_ns"], (sec, d)
    else:
        assert sec["tx_pacing_p50_ns"] == sec["tx_pacing_p99_ns"] == sec["tx_pacing_max_ns"] == 0, sec
assert all(run[k] == d[k] for k in counters), (dict(run), d)
assert dps[-1]["total"] == d, (dps[-1]["total"], d)
sent = sum(f["packets_sent"] for f in s["flows"])
assert d["port_opackets"] >= d["tx_packets"] >= sent > 0 and d["port_ipackets"] >= sent, (d, sent)
assert d["port_imissed"] == d["port_ierrors"] == d["port_oerrors"] == d["port_rx_nombuf"] == 0, d
# the seconds that carried the calls' media: 21 endpoints' streams at 50 packets a second each way
assert max(x["second"]["port_opackets"] for x in dps) >= 18 * 50, [x["second"]["port_opackets"] for x in dps]
paced = sum(x["second"]["tx_paced"] for x in dps)
assert sent <= paced <= d["tx_packets"], (paced, sent, d["tx_packets"])
assert max(x["second"]["tx_pacing_max_ns"] for x in dps) == d["tx_pacing_max_ns"], d
xsum = collections.Counter()
for x in dps:
    assert x["xstats_changed"] == len(x["xstats"]) <= 64, x
    xsum.update(x["xstats"])
assert all(xsum[k] == v for k, v in xs.items()), (dict(xsum), xs)
assert xsum["rx_good_packets"] == d["port_ipackets"] and xsum["tx_good_packets"] == d["port_opackets"], (xsum, d)
print("dataplane samples: %d seconds, port %d packets in / %d out adding up to the summary, TX pacing p99 worst "
      "second %.1f us, run %.1f us" % (len(dps), d["port_ipackets"], d["port_opackets"],
      max(x["second"]["tx_pacing_p99_ns"] for x in dps) / 1e3, d["tx_pacing_p99_ns"] / 1e3))
PY
