#!/bin/sh
# callmeter container entrypoint: checks the host for what the configured dataplane needs (hugepages, the
# named ports), then execs callmeter-worker so that it is PID 1's program and gets SIGTERM itself.
#
#   entrypoint.sh [WORKER ARGS...]      callmeter-worker [serve] / run PLAN / analyze FILE with host checks
#   entrypoint.sh check                 print what this host offers and lacks (callmeter-host-check)
#   entrypoint.sh PROGRAM [ARGS...]     any other program in PATH (callmeter-gateway, sh) as is
#
# Environment (the seed's): WORKER_TOKEN, CLOUD_URL, WORKER_NAME, LOG_LEVEL, LOG_FORMAT, HEALTH_PORT are read
# by the worker itself.  Here also:
#   WORKER_TOKEN_FILE     read the token from this file (Docker secrets) instead of WORKER_TOKEN
#   WORKER_TOKEN_DIR      a directory of tokens named after the worker (a Kubernetes Secret with one key per
#                         node); the file $WORKER_TOKEN_DIR/$WORKER_NAME is the token
#   CALLMETER_EAL_ARGS    DPDK EAL arguments.  Unset (and none in the config file): CALLMETER_CONTAINER_EAL_ARGS,
#                         the appliance default that uses hugepages and the NICs bound to vfio-pci
#   CALLMETER_PORT        DPDK port (PCI address or device name)
#   CALLMETER_PORT_ENV    name of a variable holding PCI addresses (the SR-IOV device plugin's
#                         PCIDEVICE_<RESOURCE>); its first address becomes CALLMETER_PORT and an EAL "-a"
#   CALLMETER_SKIP_HOST_CHECK=1   start the worker without the checks
#   CALLMETER_WORKER      the worker binary (default: callmeter-worker in PATH)
#
# Exit status: the worker's own (0 clean, 1 runtime failure, 2 bad configuration); 2 when a check here fails,
# with a message naming what is missing and how to fix it (nothing is started).
set -eu

here=$(dirname "$0")
for lib in "${CALLMETER_LIBDIR:-}" "$here" /usr/lib/callmeter /usr/local/lib/callmeter; do
	if [ -n "$lib" ] && [ -r "$lib/hostlib.sh" ]; then
		# shellcheck source=appliance/hostlib.sh
		. "$lib/hostlib.sh"
		break
	fi
done
command -v cm_check_hugepages >/dev/null 2>&1 || { echo "callmeter entrypoint: hostlib.sh not found" >&2; exit 2; }

WORKER=${CALLMETER_WORKER:-callmeter-worker}
CONTAINER_EAL_DEFAULT=${CALLMETER_CONTAINER_EAL_ARGS:---in-memory --no-telemetry --log-level=*:warning}

die() {
	printf 'callmeter: %s\n' "$1" >&2
	exit 2
}

# Another program: run it as asked (the gateway shares the image).
if [ $# -gt 0 ] && [ "$1" != check ] && [ "$1" != "$WORKER" ] && [ "${1#-}" = "$1" ] && command -v "$1" >/dev/null 2>&1; then
	exec "$@"
fi
if [ $# -gt 0 ] && [ "$1" = "$WORKER" ]; then
	shift
fi

# The token: from a file or a per-worker directory when not given directly.  Never printed.
if [ -n "${WORKER_TOKEN_FILE:-}" ]; then
	[ -z "${WORKER_TOKEN:-}" ] || die "both WORKER_TOKEN and WORKER_TOKEN_FILE are set; use one"
	[ -r "$WORKER_TOKEN_FILE" ] || die "WORKER_TOKEN_FILE $WORKER_TOKEN_FILE is not readable"
	WORKER_TOKEN=$(tr -d ' \t\r\n' <"$WORKER_TOKEN_FILE")
	export WORKER_TOKEN
elif [ -n "${WORKER_TOKEN_DIR:-}" ] && [ -z "${WORKER_TOKEN:-}" ]; then
	[ -n "${WORKER_NAME:-}" ] || die "WORKER_TOKEN_DIR is set but WORKER_NAME is not: the token file is named after the worker"
	[ -r "$WORKER_TOKEN_DIR/$WORKER_NAME" ] ||
		die "no token for worker '$WORKER_NAME' in $WORKER_TOKEN_DIR: create one at the gateway (callmeter-gateway worker create $WORKER_NAME) and add it to the Secret under the key '$WORKER_NAME'"
	WORKER_TOKEN=$(tr -d ' \t\r\n' <"$WORKER_TOKEN_DIR/$WORKER_NAME")
	export WORKER_TOKEN
fi

# The effective EAL arguments, in the worker's order of precedence: --eal, then CALLMETER_EAL_ARGS, then the
# config file's [dataplane] eal_args; with none of them, the appliance default (hugepages, PCI NICs).
config=/etc/callmeter/worker.conf
eal_opt=""
prev=""
for a in "$@"; do
	case $prev in
	--eal) eal_opt=$a ;;
	--config | -c) config=$a ;;
	esac
	case $a in
	--eal=*) eal_opt=${a#--eal=} ;;
	--config=*) config=${a#--config=} ;;
	esac
	prev=$a
done
if [ -n "$eal_opt" ]; then
	eal=$eal_opt
elif [ -n "${CALLMETER_EAL_ARGS:-}" ]; then
	eal=$CALLMETER_EAL_ARGS
else
	eal=$(cm_config_eal_args "$config")
	if [ -z "$eal" ]; then
		eal=$CONTAINER_EAL_DEFAULT
		CALLMETER_EAL_ARGS=$eal
		export CALLMETER_EAL_ARGS
	fi
fi

# A port handed over by a device plugin (SR-IOV: PCIDEVICE_<RESOURCE>=0000:3b:02.1,...).
if [ -n "${CALLMETER_PORT_ENV:-}" ] && [ -z "${CALLMETER_PORT:-}" ]; then
	devs=$(printenv "$CALLMETER_PORT_ENV" || true)
	[ -n "$devs" ] || die "CALLMETER_PORT_ENV names $CALLMETER_PORT_ENV but it is empty or unset: is the device plugin resource requested?"
	CALLMETER_PORT=${devs%%,*}
	export CALLMETER_PORT
	if [ -z "$(cm_opt_values "$eal" -a --allow)" ] && [ -z "$eal_opt" ]; then
		eal="$eal -a $CALLMETER_PORT"
		CALLMETER_EAL_ARGS=$eal
		export CALLMETER_EAL_ARGS
	fi
fi

if [ $# -gt 0 ] && [ "$1" = check ]; then
	checker=$(command -v callmeter-host-check || echo "$here/callmeter-host-check")
	exec sh "$checker" --eal "$eal" --port "${CALLMETER_PORT:-}"
fi

if [ "${CALLMETER_SKIP_HOST_CHECK:-0}" != 1 ]; then
	rc=0
	cm_check_hugepages "$eal" || rc=1
	cm_check_ports "$eal" "${CALLMETER_PORT:-}" || rc=1
	cm_check_cores "$eal" || rc=1
	if [ $rc -ne 0 ]; then
		printf 'callmeter: this host does not offer what the dataplane is configured to use.\n' >&2
		printf '  EAL arguments: %s\n' "$eal" >&2
		printf '%s' "$CM_PROBLEMS" | sed 's/^/  /' >&2
		printf '  (CALLMETER_SKIP_HOST_CHECK=1 starts the worker anyway.)\n' >&2
		exit 2
	fi
fi

exec "$WORKER" "$@"
