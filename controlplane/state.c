/* Worker status as /health and the gateway heartbeat report it.
 *
 * ERROR wins (the dataplane is down or failed to start), then DRAINING (SIGTERM or a gateway drain), then, in
 * daemon mode, OFFLINE while the gateway session is down; otherwise ONLINE.  A standalone worker (no gateway
 * configured) that is healthy is ONLINE with "connected": false. */
#include <errno.h>
#include <stdio.h>

#include "controlplane/controlplane.h"

static const char *const status_names[] = {
	[CP_STATUS_ONLINE] = "ONLINE",
	[CP_STATUS_OFFLINE] = "OFFLINE",
	[CP_STATUS_DRAINING] = "DRAINING",
	[CP_STATUS_ERROR] = "ERROR",
};

const char *cp_status_name(enum cp_status s)
{
	return (unsigned)s < CM_ARRAY_SIZE(status_names) ? status_names[s] : "ERROR";
}

enum cp_status cp_state_status(const struct cp_state *st)
{
	if (!st->dataplane_ok)
		return CP_STATUS_ERROR;
	if (st->draining)
		return CP_STATUS_DRAINING;
	if (st->daemon_mode && !st->gateway_connected)
		return CP_STATUS_OFFLINE;
	return CP_STATUS_ONLINE;
}

int cp_state_health_json(const struct cp_state *st, char *buf, size_t len)
{
	char name[2 * CFG_NAME_MAX], err[2 * sizeof(st->error)], gwerr[2 * sizeof(st->gateway_last_error)];
	enum cp_status status = cp_state_status(st);
	int n;

	cm_json_escape(st->name ? st->name : "", name, sizeof(name));
	cm_json_escape(st->error, err, sizeof(err));
	cm_json_escape(st->gateway_last_error, gwerr, sizeof(gwerr));
	n = snprintf(buf, len,
		     "{\"status\":\"%s\",\"connected\":%s,\"name\":\"%s\",\"version\":\"%s\",\"mode\":\"%s\","
		     "\"uptime_s\":%llu,\"active_endpoints\":%u,\"capacity\":%u,"
		     "\"dataplane\":{\"ok\":%s,\"port\":\"%s\",\"mac\":\"%s\",\"link_up\":%s,\"speed_mbps\":%u},"
		     "\"gateway\":{\"attempts\":%u,\"last_error\":\"%s\"},\"error\":\"%s\"}",
		     cp_status_name(status), st->gateway_connected ? "true" : "false", name, CM_VERSION,
		     st->daemon_mode ? "daemon" : "standalone",
		     (unsigned long long)((cm_now_ms() - st->started_ms) / 1000), st->active_endpoints, st->capacity,
		     st->dataplane_ok ? "true" : "false", st->port_name, st->port_mac, st->link_up ? "true" : "false",
		     st->link_speed_mbps, st->gateway_attempts, gwerr, err);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}
