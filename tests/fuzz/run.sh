#!/bin/sh
# Runs each libFuzzer target for a while on a scratch copy of its seed corpus (tests/fuzz/NAME/).
# usage: run.sh BUILD_DIR SECONDS tests/fuzz/fuzz_NAME.c ...
set -eu
dir=$1 secs=$2
shift 2
[ $# -eq 0 ] && { echo "fuzz: no fuzz targets yet"; exit 0; }
for src in "$@"; do
	name=$(basename "$src" .c)
	seeds=tests/fuzz/${name#fuzz_}
	work=$(mktemp -d)
	[ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
	echo "== $name (${secs}s)"
	"$dir/$name" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/$name-" "$work" 2>&1 |
		grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|crash-|leak-|timeout-' || true
	st=$(ls "$dir/$name-"* 2>/dev/null | head -1 || true)
	rm -rf "$work"
	if [ -n "$st" ]; then
		echo "fuzz: $name found a failing input: $st"
		exit 1
	fi
done
