#!/bin/sh
# The bare-metal helpers on fake hosts (CALLMETER_HOST_ROOT), with stand-ins for DPDK's dpdk-hugepages.py and
# dpdk-devbind.py that record their arguments and, for hugepages, act on the fake sysfs as the kernel would:
#   callmeter-hugepages ensure: nothing with --no-huge or enough free pages; reserves what -m asks on top of
#     what is in use; fails with the kernel command line to use when the kernel gives fewer pages;
#   callmeter-bind-nic --ensure: binds only the listed NICs not yet on vfio-pci;
#   callmeter-host-check: lists what is missing (exit 1) on a bare host, nothing on a ready one (exit 0).
set -u
cd "$(dirname "$0")/../.." || exit 1
T=$(mktemp -d /tmp/cm-help-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $1"; [ -n "${2:-}" ] && sed 's/^/    | /' "$2"; fails=$((fails + 1)); }
pass() { echo "ok: $1"; }

# host DIR NR FREE: 2 MB pages, NR reserved of which FREE unused.
host() {
	h=$1/sys/kernel/mm/hugepages/hugepages-2048kB
	mkdir -p "$h" "$1/proc" "$1/sys/bus/pci/devices" "$1/sys/bus/pci/drivers"
	echo "$2" >"$h/nr_hugepages"
	echo "$3" >"$h/free_hugepages"
	echo "proc /proc proc rw 0 0" >"$1/proc/mounts"
}
# dpdk-hugepages.py stand-in: "-p 2M -r NNNM" sets the pool to NNN MB (or half of it with STUB_HALF=1), as
# the kernel would, keeping the pages in use; "--mount" records a hugetlbfs mount.
cat >"$T/hp" <<'STUB'
#!/bin/sh
echo "$*" >>"$STUB_LOG"
h=$CALLMETER_HOST_ROOT/sys/kernel/mm/hugepages/hugepages-2048kB
while [ $# -gt 0 ]; do
	case $1 in
	-r) mb=${2%M}; [ "${STUB_HALF:-0}" = 1 ] && mb=$((mb / 2))
	    used=$(( $(cat "$h/nr_hugepages") - $(cat "$h/free_hugepages") ))
	    echo $((mb / 2)) >"$h/nr_hugepages"; echo $((mb / 2 - used)) >"$h/free_hugepages"; shift ;;
	--mount) echo "hugetlbfs /dev/hugepages hugetlbfs rw 0 0" >>"$CALLMETER_HOST_ROOT/proc/mounts" ;;
	esac
	shift
done
STUB
cat >"$T/db" <<'STUB'
#!/bin/sh
echo "$*" >>"$STUB_LOG"
STUB
chmod 755 "$T/hp" "$T/db"

hp() { # NAME ROOT VAR=... -- ARGS
	name=$1 root=$2
	shift 2
	: >"$T/$name.log"
	env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$root" CALLMETER_DPDK_HUGEPAGES="$T/hp" STUB_LOG="$T/$name.log" \
		"$@" >"$T/$name.out" 2>&1
	rc=$?
}

host "$T/a" 0 0
printf '[dataplane]\neal_args = --no-huge --no-pci\n  --vdev=net_ring0\n' >"$T/nohuge.conf"
# (DPDK's script is not even needed then: the stand-in's path is taken away.)
hp nohuge "$T/a" CALLMETER_DPDK_HUGEPAGES=/nonexistent sh appliance/callmeter-hugepages ensure --config "$T/nohuge.conf"
if [ $rc -eq 0 ] && grep -q "no hugepages needed" "$T/nohuge.out" && [ ! -s "$T/nohuge.log" ]; then
	pass "ensure with --no-huge: nothing reserved"
else
	fail "ensure --no-huge (rc=$rc)" "$T/nohuge.out"
fi

host "$T/b" 100 100
hp enough "$T/b" CALLMETER_EAL_ARGS="--in-memory -m 128" sh appliance/callmeter-hugepages ensure
if [ $rc -eq 0 ] && grep -q "nothing to do" "$T/enough.out" && ! grep -q -- "-r" "$T/enough.log"; then
	pass "ensure with enough free pages: nothing reserved"
else
	fail "ensure enough (rc=$rc)" "$T/enough.out"
fi

# 100 pages in use (200 MB), 0 free; -m 1024 -> the pool grows to 1224 MB, hugetlbfs mounted.
host "$T/c" 100 0
hp grow "$T/c" CALLMETER_EAL_ARGS="-m 1024 -a 0000:03:00.0" sh appliance/callmeter-hugepages ensure
if [ $rc -eq 0 ] && grep -qx -- "-p 2M -r 1224M" "$T/grow.log" && grep -q -- "--mount" "$T/grow.log" &&
	[ "$(cat "$T/c/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")" -eq 512 ]; then
	pass "ensure -m 1024 with 200 MB in use: reserves 1224M of 2M pages and mounts hugetlbfs"
else
	fail "ensure grow (rc=$rc)" "$T/grow.out"
	cat "$T/grow.log"
fi

host "$T/d" 0 0
hp half "$T/d" STUB_HALF=1 CALLMETER_HUGEPAGES=2G CALLMETER_EAL_ARGS=--in-memory sh appliance/callmeter-hugepages ensure
if [ $rc -eq 1 ] && grep -q "gave only 1024M of the 2048M" "$T/half.out" && grep -q "hugepages=1024" "$T/half.out"; then
	pass "kernel short of pages: exit 1, boot-time reservation named"
else
	fail "short reservation (rc=$rc)" "$T/half.out"
fi

host "$T/e" 0 0
hp reserve "$T/e" sh appliance/callmeter-hugepages reserve 512M
if [ $rc -eq 0 ] && grep -qx -- "-p 2M -r 512M" "$T/reserve.log"; then
	pass "reserve 512M"
else
	fail "reserve (rc=$rc)" "$T/reserve.out"
fi
hp badsize "$T/e" sh appliance/callmeter-hugepages reserve lots
if [ $rc -eq 2 ] && grep -q "bad size 'lots'" "$T/badsize.out" && [ ! -s "$T/badsize.log" ]; then
	pass "reserve with a bad size: exit 2, nothing reserved"
else
	fail "bad size (rc=$rc)" "$T/badsize.out"
fi

# bind-nic --ensure: 03:00.0 already on vfio-pci, 03:00.1 on ixgbe -> only 03:00.1 is bound.
mkdir -p "$T/e/sys/bus/pci/drivers/vfio-pci" "$T/e/sys/bus/pci/devices/0000:03:00.0" "$T/e/sys/bus/pci/devices/0000:03:00.1"
ln -s ../../../bus/pci/drivers/vfio-pci "$T/e/sys/bus/pci/devices/0000:03:00.0/driver"
ln -s ../../../bus/pci/drivers/ixgbe "$T/e/sys/bus/pci/devices/0000:03:00.1/driver"
: >"$T/bind.log"
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$T/e" CALLMETER_DPDK_DEVBIND="$T/db" STUB_LOG="$T/bind.log" \
	CALLMETER_BIND_NICS="0000:03:00.0 0000:03:00.1" sh appliance/callmeter-bind-nic --ensure >"$T/bind.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -qx -- "--bind=vfio-pci 0000:03:00.1" "$T/bind.log" && ! grep -q "03:00.0" "$T/bind.log"; then
	pass "bind-nic --ensure binds only what is not on vfio-pci yet"
else
	fail "bind-nic --ensure (rc=$rc)" "$T/bind.log"
fi
env -i PATH=/usr/bin:/bin CALLMETER_DPDK_DEVBIND=/nonexistent sh appliance/callmeter-bind-nic --ensure >"$T/bind0.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "nothing to bind" "$T/bind0.out"; then
	pass "bind-nic --ensure with no list: nothing"
else
	fail "bind-nic empty (rc=$rc)" "$T/bind0.out"
fi

# host-check: a bare host misses IOMMU, vfio-pci, hugepages and a DPDK port for an appliance; a ready one none.
host "$T/bare" 0 0
mkdir -p "$T/bare/sys/devices/system/cpu" && echo 0-3 >"$T/bare/sys/devices/system/cpu/online"
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$T/bare" sh appliance/callmeter-host-check --appliance >"$T/bare.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "MISSING  IOMMU" "$T/bare.out" && grep -q "MISSING  vfio-pci" "$T/bare.out" &&
	grep -q "MISSING  hugepages missing" "$T/bare.out" && grep -q "MISSING  no DPDK port" "$T/bare.out" &&
	grep -q "4 required item(s) missing" "$T/bare.out"; then
	pass "host-check on a bare host: IOMMU, vfio-pci, hugepages, DPDK port missing (exit 1)"
else
	fail "host-check bare (rc=$rc)" "$T/bare.out"
fi
R=$T/ready
host "$R" 1024 1024
mkdir -p "$R/sys/devices/system/cpu" "$R/sys/kernel/iommu_groups/7" "$R/sys/bus/pci/drivers/vfio-pci" \
	"$R/sys/bus/pci/devices/0000:03:00.0" "$R/dev/vfio"
echo 0-7 >"$R/sys/devices/system/cpu/online"
echo 2-7 >"$R/sys/devices/system/cpu/isolated"
echo 0x020000 >"$R/sys/bus/pci/devices/0000:03:00.0/class"
ln -s ../../../bus/pci/drivers/vfio-pci "$R/sys/bus/pci/devices/0000:03:00.0/driver"
: >"$R/dev/vfio/vfio"
echo "BOOT_IMAGE=/vmlinuz intel_iommu=on iommu=pt isolcpus=2-7" >"$R/proc/cmdline"
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$R" sh appliance/callmeter-host-check \
	--eal "--in-memory -m 1024 -l 1-7 -a 0000:03:00.0" >"$T/ready.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "ok       CPUs online 0-7, isolated 2-7" "$T/ready.out" && grep -q "ok       IOMMU: 1 groups" "$T/ready.out" &&
	grep -q "ok       NIC 0000:03:00.0 on vfio-pci" "$T/ready.out" && grep -q "ok       EAL cores -l 1-7: dataplane cores isolated" "$T/ready.out" &&
	grep -q "nothing required is missing" "$T/ready.out"; then
	pass "host-check on a ready host: nothing missing (exit 0)"
else
	fail "host-check ready (rc=$rc)" "$T/ready.out"
fi
# Dataplane cores that are not isolated: a warning, not a failure.
env -i PATH=/usr/bin:/bin CALLMETER_HOST_ROOT="$R" sh appliance/callmeter-host-check \
	--eal "--no-huge --no-pci --vdev=net_ring0 -l 0-3" >"$T/noiso.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "warn     EAL cores -l 0-3: dataplane cores 1 not isolated (isolated: 2-7)" "$T/noiso.out"; then
	pass "host-check warns about dataplane cores outside isolcpus"
else
	fail "host-check isolation warning (rc=$rc)" "$T/noiso.out"
fi

[ $fails -eq 0 ] || { echo "test_appliance_helpers: $fails failed"; exit 1; }
echo "test_appliance_helpers: all passed"
