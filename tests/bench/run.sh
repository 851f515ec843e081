#!/bin/sh
# Runs every benchmark program (and bench_*.sh script); each prints its final line "BENCH <name> <value> <unit> [ratio=<x> ref=<what>]".
# A summary of those lines closes the run.
set -u
out=$(mktemp)
fail=0
[ $# -eq 0 ] && echo "bench: no benchmarks yet"
for b in "$@"; do
	echo "== $(basename "$b")"
	case $b in
	*.sh) sh "$b" 2>&1 | tee -a "$out" || fail=1 ;;
	*) "$b" 2>&1 | tee -a "$out" || fail=1 ;;
	esac
done
echo "== summary"
grep '^BENCH ' "$out" || true
rm -f "$out"
exit $fail
