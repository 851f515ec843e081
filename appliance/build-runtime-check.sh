#!/bin/sh
# Checks that the runtime image's package list (appliance/runtime-packages.txt, installed by the Dockerfile's
# runtime stage) covers what the built programs need at run time, on this Debian 12 build host:
#   - every shared library `ldd` resolves for each binary belongs to a listed package or to one of their
#     dependencies (followed through dpkg's Pre-Depends/Depends of the installed packages);
#   - the DPDK drivers the worker loads (mempool handler, vdev and PCI buses, net_ring, af_packet, pcap and the
#     common NIC PMDs) are covered the same way;
#   - the list holds no -dev package, and the Dockerfile's runtime stage installs from it.
#
#   appliance/build-runtime-check.sh [BINARY...]      default: build/callmeter-worker build/callmeter-gateway
#
# Exit 0 covered; 1 something is not (each gap printed with the package that would cover it); 2 usage.
set -eu
cd "$(dirname "$0")/.."
list=${CALLMETER_RUNTIME_LIST:-appliance/runtime-packages.txt}
[ $# -gt 0 ] || set -- build/callmeter-worker build/callmeter-gateway
for b in "$@"; do
	[ -x "$b" ] || { echo "build-runtime-check: $b not built (make all)" >&2; exit 2; }
done

fail=0
gap() { echo "build-runtime-check: $1" >&2; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list")
for p in $pkgs; do
	case $p in *-dev) gap "$list lists the development package '$p': the runtime image takes run-time libraries only" ;; esac
done
grep -q "appliance/runtime-packages.txt" Dockerfile || gap "Dockerfile does not install from $list"

# Dependency closure of the listed packages over what dpkg has installed here (one dpkg-query, then awk):
# of "a (>= 1), b | c, d:any" the first installed alternative of each is followed; a virtual package
# (python3:any) is provided by something installed and carries no library.
dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Pre-Depends}, ${Depends}\n' >"$tmp/db"
awk -F'\t' -v want="$pkgs" '
	$1 ~ /^ii/ { deps[$2] = $3; have[$2] = 1 }
	END {
		n = split(want, q, /[ \n]+/)
		for (i = 1; i <= n; i++) if (q[i] != "") {
			if (!(q[i] in have)) { print "MISSING:" q[i]; continue }
			todo[q[i]] = 1
		}
		do {
			more = 0
			for (p in todo) {
				delete todo[p]
				if (p in seen) continue
				seen[p] = 1
				print p
				m = split(deps[p], d, ",")
				for (j = 1; j <= m; j++) {
					k = split(d[j], alt, "|")
					for (x = 1; x <= k; x++) {
						a = alt[x]; gsub(/\([^)]*\)/, "", a); gsub(/:[a-z0-9]+/, "", a); gsub(/[ \t]/, "", a)
						if (a in have) { if (!(a in seen)) { todo[a] = 1; more = 1 } break }
					}
				}
			}
		} while (more)
	}' "$tmp/db" >"$tmp/closure"
# shellcheck disable=SC2013
for m in $(sed -n 's/^MISSING://p' "$tmp/closure"); do
	gap "listed package '$m' is not installed on this host, so its dependencies cannot be followed (apt-get install $m)"
done

# What must be covered: "PATH<TAB>WHY" lines.
nlibs=0
for b in "$@"; do
	if ldd "$b" | grep -q 'not found'; then
		gap "$b: ldd cannot resolve: $(ldd "$b" | grep 'not found' | tr -s ' \t' ' ')"
	fi
	for lib in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		printf '%s\t%s\n' "$lib" "$b" >>"$tmp/files"
		nlibs=$((nlibs + 1))
	done
done
# DPDK drivers come from EAL's plugin directory, not from ldd: the ones the worker's default and the documented
# setups use.  The versioned file is the one a runtime image without -dev packages has (EAL loads *.so.ABI).
pmddir=$(pkg-config --variable=pmdsdir libdpdk 2>/dev/null || true)
[ -n "$pmddir" ] || pmddir=$(ls -d /usr/lib/*/dpdk/pmds-* 2>/dev/null | head -n 1)
ndrv=0
for d in mempool_ring bus_vdev bus_pci net_ring net_af_packet net_pcap net_ixgbe net_i40e net_ice net_iavf \
	net_mlx5 net_virtio net_vmxnet3 net_e1000; do
	f=$(ls "$pmddir/librte_$d.so".[0-9]* 2>/dev/null | head -n 1 || true)
	[ -n "$f" ] || { gap "DPDK driver $d not found in $pmddir"; continue; }
	printf '%s\t%s\n' "$f" "DPDK driver $d" >>"$tmp/files"
	ndrv=$((ndrv + 1))
done

# Owners from one dpkg -S over every spelling of each path (as given, resolved, with and without /usr: merged
# /usr means dpkg may know a library under either).
cut -f1 "$tmp/files" | while read -r f; do
	for x in "$f" "$(readlink -f "$f")"; do
		echo "$x"
		case $x in /usr/*) echo "${x#/usr}" ;; *) echo "/usr$x" ;; esac
	done
done | sort -u >"$tmp/paths"
# shellcheck disable=SC2046
dpkg -S $(cat "$tmp/paths") 2>/dev/null | sed -n 's/^\([^:,]*\)[^ ]* \(.*\)$/\1\t\2/p' >"$tmp/owners" || true
while IFS='	' read -r f what; do
	r=$(readlink -f "$f")
	o=$(awk -F'\t' -v a="$f" -v b="$r" '
		{ p = $2 } p == a || p == b || "/usr" p == a || "/usr" p == b || p == "/usr" a || p == "/usr" b { print $1; exit }' \
		"$tmp/owners")
	if [ -z "$o" ]; then
		gap "$what: $f belongs to no Debian package: it would be missing from the image"
	elif ! grep -qx "$o" "$tmp/closure"; then
		gap "$what: $f (package $o) is not covered by $list: add $o"
	fi
done <"$tmp/files"

if [ $fail -ne 0 ]; then
	echo "build-runtime-check: FAILED" >&2
	exit 1
fi
echo "build-runtime-check: $list covers the $nlibs shared libraries of $* and $ndrv DPDK drivers ($(wc -l <"$tmp/closure") packages with their dependencies)"
