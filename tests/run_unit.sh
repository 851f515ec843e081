#!/bin/sh
# Runs each unit-test program; each prints Check's summary line.  Fails if any fails, after running them all.
fail=0
for t in "$@"; do
	echo "== $(basename "$t")"
	"$t" || fail=1
done
exit $fail
