#!/bin/sh
# Container health check: GET /health on HEALTH_PORT (default 3030) and judge its "status".
#
#   healthcheck.sh          live:  the worker answers and its dataplane is not in ERROR (Docker HEALTHCHECK)
#   healthcheck.sh --ready  ready: status ONLINE (daemon mode: connected to the gateway; Kubernetes readiness)
#
# Exit 0 healthy, 1 not; one line on stdout says why (Docker keeps it in `docker inspect`).
set -u
port=${HEALTH_PORT:-3030}
[ "$port" != 0 ] || { echo "health endpoint turned off (HEALTH_PORT=0)"; exit 0; }
body=$(curl -fsS --max-time 3 "http://127.0.0.1:$port/health" 2>&1) || { echo "no answer on :$port/health: $body"; exit 1; }
status=$(printf '%s' "$body" | sed -n 's/.*"status":"\([A-Z]*\)".*/\1/p')
case ${1:-} in
--ready) [ "$status" = ONLINE ] && { echo "ready: $status"; exit 0; } ;;
*) [ -n "$status" ] && [ "$status" != ERROR ] && { echo "live: $status"; exit 0; } ;;
esac
echo "unhealthy: ${status:-no status in the answer}: $body"
exit 1
