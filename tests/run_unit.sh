#!/bin/sh
# Runs each unit-test program (each prints Check's summary line), then one closing line over all of them.
# Fails if any failed, after running them all.
set -u
fail=0
log=$(mktemp)
one=$(mktemp)
for t in "$@"; do
	echo "== $(basename "$t")"
	"$t" >"$one" 2>&1
	rc=$?
	cat "$one"
	cat "$one" >>"$log"
	if [ $rc -ne 0 ]; then
		fail=1
		echo "FAILED: $t (exit $rc)"
	fi
done
awk '/Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
	gsub(/[^0-9 ]/, " "); n = split($0, a, " "); c += a[n-2]; f += a[n-1] + a[n] }
     END { printf "unit: %d passed, %d failed\n", c - f, f }' "$log"
rm -f "$log" "$one"
exit $fail
