#!/bin/sh
# Runs every tests/integration/test_*.sh.  Each script creates its own network namespaces and peers, cleans up
# on exit, and prints "SKIP: <reason>" and exits 77 where the machine cannot run it (not a silent pass).
# The closing line counts them in the form CI reads: "N passed, N failed, N skipped".
set -u
pass=0 fail=0 skip=0
for t in tests/integration/test_*.sh; do
	[ -e "$t" ] || continue
	echo "== $(basename "$t")"
	# a hung test must not hang CI: each script has 10 minutes (its own worker runs have less, see below)
	timeout -k 20 600 sh "$t"
	rc=$?
	[ $rc -eq 124 ] && echo "TIMEOUT: $t ran longer than 600 s"
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)); echo "FAILED: $t (exit $rc)" ;;
	esac
done
[ $((pass + fail + skip)) -gt 0 ] && echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
