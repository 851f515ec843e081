# callmeter host checks shared by the container entrypoint, callmeter-host-check and callmeter-hugepages.
# POSIX sh, sourced (not run).  Every check reads the host through CALLMETER_HOST_ROOT (default: /), so that a
# container with the host's / mounted at /host can inspect it, and so that tests can point it at a fake tree.
#
# Conventions: functions print nothing on success unless they are "show"/"report" functions; problems are
# appended to CM_PROBLEMS (one per line, already phrased for the operator) and the function returns 1.

CM_ROOT=${CALLMETER_HOST_ROOT:-}
CM_ROOT=${CM_ROOT%/}
CM_SYS=$CM_ROOT/sys
CM_PROC=$CM_ROOT/proc
CM_DEV=$CM_ROOT/dev
CM_PROBLEMS=""

# The worker's own default (config/config.h CFG_DEFAULT_EAL_ARGS): no hugepages, no NIC, one loopback device.
CM_NOHUGE_EAL_ARGS="--no-huge --no-shconf -m 512 --no-pci --vdev=net_ring0 --no-telemetry --log-level=*:warning"

# Kernel drivers a DPDK port can sit on: vfio-pci (the one to use), the uio drivers, and the bifurcated
# Mellanox drivers where DPDK talks to the kernel driver itself.
CM_DPDK_DRIVERS="vfio-pci uio_pci_generic igb_uio mlx5_core mlx4_core"

cm_problem() {
	CM_PROBLEMS="${CM_PROBLEMS}$1
"
}

# The eal_args value of [dataplane] in an INI file (indented continuation lines joined by one space, inline
# "; comments" dropped, as libinih reads it).  Prints nothing when the file or key is absent.
cm_config_eal_args() {
	[ -r "$1" ] || return 0
	awk '
	function clean(v) { sub(/[ \t]+;.*$/, "", v); gsub(/^[ \t]+|[ \t]+$/, "", v); return v }
	/^[ \t]*[;#]/ { next }
	/^[ \t]*\[/ { sec = $0; gsub(/[][ \t]/, "", sec); inkey = 0; next }
	sec == "dataplane" && /^eal_args[ \t]*[=:]/ { v = $0; sub(/^[^=:]*[=:]/, "", v); out = clean(v); inkey = 1; next }
	inkey && /^[ \t]+[^ \t]/ { out = out " " clean($0); next }
	{ inkey = 0 }
	END { if (out != "") print out }' "$1"
}

# cm_eal_has ARGS FLAG: the EAL arguments contain FLAG (exactly, or as FLAG=...).
cm_eal_has() {
	cm_tokens "$1" | grep -q -x -e "$2" -e "$2=.*"
}

# Each white-space separated word of $1 on its own line (no globbing: "--log-level=*:warning" stays as is).
cm_tokens() {
	set -f
	# shellcheck disable=SC2086
	printf '%s\n' $1
	set +f
}

# cm_opt_values ARGS SHORT LONG...: values of an option with a short form (-a) and long forms (--allow).
cm_opt_values() {
	_a=$1 _s=$2
	shift 2
	cm_tokens "$_a" | awk -v s="$_s" -v longs="$*" '
	BEGIN { n = split(longs, L, " ") }
	take { print; take = 0; next }
	{
		if (s != "" && $0 == s) { take = 1; next }
		if (s != "" && index($0, s) == 1 && length($0) > length(s) && substr($0, 1, 2) != "--") { print substr($0, length(s) + 1); next }
		for (i = 1; i <= n; i++) {
			if ($0 == L[i]) { take = 1; next }
			if (index($0, L[i] "=") == 1) { print substr($0, length(L[i]) + 2); next }
		}
	}'
}

# Memory the EAL arguments ask for, in MB: -m N, or the sum of --socket-mem A,B,...; 0 when not said.
cm_eal_mem_mb() {
	_m=$(cm_opt_values "$1" -m | tail -n 1)
	if [ -n "$_m" ]; then
		echo "${_m%%[!0-9]*}"
		return
	fi
	_sm=$(cm_opt_values "$1" "" --socket-mem | tail -n 1)
	if [ -n "$_sm" ]; then
		echo "$_sm" | tr ',' '\n' | awk '{ s += $1 } END { print s + 0 }'
		return
	fi
	echo 0
}

# Hugepages per size as "SIZE_KB TOTAL FREE" lines, from sysfs.
cm_hugepage_sizes() {
	for _d in "$CM_SYS"/kernel/mm/hugepages/hugepages-*kB; do
		[ -d "$_d" ] || continue
		_kb=${_d##*/hugepages-}
		_kb=${_kb%kB}
		echo "$_kb $(cat "$_d/nr_hugepages" 2>/dev/null || echo 0) $(cat "$_d/free_hugepages" 2>/dev/null || echo 0)"
	done
}

# Free hugepage memory over all sizes, in MB.
cm_hugepages_free_mb() {
	cm_hugepage_sizes | awk '{ s += $1 * $3 } END { print int(s / 1024) }'
}

# "2M: 0 free of 0, 1G: 0 free of 0" for messages.
cm_hugepages_summary() {
	_s=$(cm_hugepage_sizes | awk '{ sz = ($1 >= 1048576) ? ($1 / 1048576) "G" : ($1 / 1024) "M";
		printf "%s%s: %d free of %d", (NR > 1 ? ", " : ""), sz, $3, $2 }')
	echo "${_s:-no hugepage support in $CM_SYS/kernel/mm/hugepages}"
}

cm_hugetlbfs_mounted() {
	awk '$3 == "hugetlbfs" { found = 1 } END { exit !found }' "$CM_PROC/mounts" 2>/dev/null
}

# Hugepages the EAL arguments need: free pages covering -m/--socket-mem (or at least one page), and a
# hugetlbfs mount unless --in-memory (which maps them anonymously).
cm_check_hugepages() {
	_eal=$1
	cm_eal_has "$_eal" --no-huge && return 0
	_need=$(cm_eal_mem_mb "$_eal")
	_free=$(cm_hugepages_free_mb)
	_rc=0
	if [ "$_free" -eq 0 ] || [ "$_free" -lt "$_need" ]; then
		_want=$_need _what="${_need} MB of hugepages"
		[ "$_want" -gt 0 ] || _want=1024 _what="hugepages (no -m/--socket-mem: at least one page)"
		cm_problem "hugepages missing: the EAL arguments need ${_what}, this host has ${_free} MB free ($(cm_hugepages_summary)).
  Reserve them on the host:  callmeter-hugepages reserve ${_want}M   (wraps: dpdk-hugepages.py -p 2M --reserve ${_want}M --mount)
  and give a container the pages (docker: --privileged -v /dev/hugepages:/dev/hugepages; Kubernetes: hugepages-2Mi/1Gi resources).
  Or run without hugepages (for trials; slower, no NIC): the --no-huge fallback,
    CALLMETER_EAL_ARGS=\"$CM_NOHUGE_EAL_ARGS\""
		_rc=1
	fi
	if ! cm_eal_has "$_eal" --in-memory && ! cm_hugetlbfs_mounted; then
		cm_problem "hugetlbfs not mounted (none in $CM_PROC/mounts) and the EAL arguments lack --in-memory.
  Mount it:  dpdk-hugepages.py --mount   (or add --in-memory to CALLMETER_EAL_ARGS; or the --no-huge fallback above)"
		_rc=1
	fi
	return $_rc
}

# "0000:03:00.0" from "03:00.0" or "0000:03:00.0,devargs"; empty when it is not a PCI address.
cm_pci_norm() {
	_p=${1%%,*}
	case $_p in
	[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F].[0-7]) echo "0000:$_p" ;;
	[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F].[0-7]) echo "$_p" ;;
	esac
}

cm_pci_driver() {
	_l=$(readlink "$CM_SYS/bus/pci/devices/$1/driver" 2>/dev/null) || return 0
	echo "${_l##*/}"
}

# One PCI port named by the configuration: present, and on a driver DPDK can use.
cm_check_pci_port() {
	_pci=$1 _from=$2
	if [ ! -e "$CM_SYS/bus/pci/devices/$_pci" ]; then
		cm_problem "port $_pci (from $_from) not found in $CM_SYS/bus/pci/devices.
  Check the address (lspci -D | grep -i ethernet); in a container, mount /sys/bus/pci and run privileged (or give the device through the SR-IOV device plugin)."
		return 1
	fi
	_drv=$(cm_pci_driver "$_pci")
	case " $CM_DPDK_DRIVERS " in
	*" $_drv "*) ;;
	*)
		cm_problem "port $_pci (from $_from) is bound to '${_drv:-no driver}', not to a driver DPDK can use (vfio-pci).
  Bind it on the host:  callmeter-bind-nic $_pci   (wraps: dpdk-devbind.py --bind=vfio-pci $_pci)"
		return 1
		;;
	esac
	if [ "$_drv" = vfio-pci ] && [ ! -e "$CM_DEV/vfio/vfio" ]; then
		cm_problem "port $_pci is on vfio-pci but $CM_DEV/vfio/vfio is missing: load the module (modprobe vfio-pci); in a container, run privileged or pass /dev/vfio."
		return 1
	fi
	return 0
}

cm_dpdk_bound_ports() {
	for _d in "$CM_SYS"/bus/pci/devices/*; do
		[ -e "$_d" ] || continue
		_drv=$(cm_pci_driver "${_d##*/}")
		case " $CM_DPDK_DRIVERS " in *" $_drv "*) [ -n "$_drv" ] && echo "${_d##*/} $_drv" ;; esac
	done
}

# The ports the configuration names (EAL -a/--allow, CALLMETER_PORT, af_packet interfaces) exist and are usable;
# with none named and PCI scanning on, at least one device must be bound to a DPDK driver.
cm_check_ports() {
	_eal=$1 _port=$2
	_rc=0 _named=0
	for _v in $(cm_opt_values "$_eal" -a --allow -w --pci-whitelist); do
		_named=1
		_pci=$(cm_pci_norm "$_v")
		if [ -z "$_pci" ]; then
			cm_problem "EAL argument '-a $_v' is not a PCI address (DDDD:BB:DD.F)"
			_rc=1
			continue
		fi
		cm_check_pci_port "$_pci" "EAL -a" || _rc=1
	done
	if [ -n "$_port" ]; then
		_pci=$(cm_pci_norm "$_port")
		if [ -n "$_pci" ]; then
			_named=1
			cm_check_pci_port "$_pci" "CALLMETER_PORT" || _rc=1
		fi
	fi
	for _v in $(cm_opt_values "$_eal" "" --vdev); do
		_named=1
		case $_v in
		net_af_packet*iface=* | eth_af_packet*iface=*)
			_if=${_v#*iface=}
			_if=${_if%%,*}
			if [ ! -e "$CM_SYS/class/net/$_if" ]; then
				cm_problem "interface '$_if' (from --vdev $_v) does not exist here; in a container use the host network (network_mode: host) or attach it."
				_rc=1
			fi
			;;
		esac
	done
	if [ $_named -eq 0 ] && ! cm_eal_has "$_eal" --no-pci && [ -z "$(cm_dpdk_bound_ports)" ]; then
		cm_problem "no DPDK port: no NIC is bound to vfio-pci (or uio, or a Mellanox mlx5/mlx4 driver) and the configuration names none.
  Bind one on the host:  callmeter-bind-nic 0000:03:00.0   (then set CALLMETER_PORT or EAL '-a 0000:03:00.0')
  Or run on the loopback device without a NIC: the --no-huge fallback,
    CALLMETER_EAL_ARGS=\"$CM_NOHUGE_EAL_ARGS\""
		_rc=1
	fi
	return $_rc
}

# CPUs of list A ("0-3,6,8-9") that are not in list B, space separated; with SKIP=1 the first CPU of A is left out.
cm_cpulist_minus() {
	awk -v a="$1" -v b="$2" -v skip="${3:-0}" '
	function expand(l, set,    n, part, i, r, c) {
		n = split(l, part, ",")
		for (i = 1; i <= n; i++) {
			if (split(part[i], r, "-") == 2) { for (c = r[1] + 0; c <= r[2] + 0; c++) set[++set[0]] = c }
			else if (part[i] ~ /^[0-9]+$/) set[++set[0]] = part[i] + 0
		}
	}
	BEGIN {
		A[0] = 0; B[0] = 0
		expand(a, A); expand(b, B)
		for (i = 1; i <= B[0]; i++) inb[B[i]] = 1
		out = ""
		for (i = 1 + (skip ? 1 : 0); i <= A[0]; i++) if (!(A[i] in inb)) out = out (out == "" ? "" : " ") A[i]
		print out
	}'
}

# The EAL cores (-l LIST) must be CPUs this process may run on (its CPU set: a container's cpuset, a
# Kubernetes CPU manager allocation, taskset); EAL fails obscurely otherwise.  Other core options (-c mask,
# --lcores maps) are left to EAL.
cm_check_cores() {
	_l=$(cm_opt_values "$1" -l | tail -n 1)
	[ -n "$_l" ] || return 0
	_allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$CM_PROC/self/status" 2>/dev/null)
	[ -n "$_allowed" ] || return 0
	_missing=$(cm_cpulist_minus "$_l" "$_allowed")
	if [ -n "$_missing" ]; then
		cm_problem "EAL cores -l $_l include CPUs this process may not use: $_missing (allowed: $_allowed).
  Pick cores from the allowed set (a container's cpuset, the Kubernetes CPU manager's allocation), or leave -l out: EAL then takes the allowed CPUs."
		return 1
	fi
	return 0
}
