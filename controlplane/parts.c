/* Gateway parts: the runs a gateway assigns to this worker (docs/gateway-protocol.md, "Runs on workers").
 *
 * Each `assign` becomes one executor (controlplane/exec.c) over the whole plan with only the part's endpoints
 * present, so the endpoint numbering, targets and reports are the plan's own.  The appliance's media addresses,
 * RTP ports and SIP address replace the plan's (they belong to the worker, not to a plan shared by the fleet);
 * each part gets its own range of the dataplane's flow table, and with it its own RTP ports.
 *
 *   assign → (registrations settle) accept {sip} → start {targets} → dialing … calls_done → release → done
 *
 * Messages that cannot leave while the session is down wait on the part and go after the next welcome. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "controlplane/controlplane.h"

#define PART_FREE_DELAY_MS 1000    /* flow deletions reach the lcores before the frame caches go */
#define PART_METRICS_FRAME 262144  /* sample bytes per metrics frame (frames are at most 1 MiB) */

enum part_state { PART_REGISTERING, PART_READY, PART_RUNNING, PART_DONE };

struct part {
	struct part *next;
	struct cp_parts *owner;
	char run_id[96];
	uint64_t num;
	enum part_state state;
	uint32_t flow_base, flows;
	uint32_t endpoints;
	struct cp_exec *exec;
	struct cp_metrics_out *metrics;
	bool accept_pending, calls_done_pending, done_pending, cancelled;
	char sip[64];
	struct cp_timer free_timer;
};

struct cp_parts {
	struct cp_loop *loop;
	const struct cfg_worker *cfg;
	struct cp_state *st;
	struct cp_gateway *gw;
	struct part *head;
	uint32_t live;
};

struct cp_parts *cp_parts_new(struct cp_loop *loop, const struct cfg_worker *cfg, struct cp_state *st,
			      struct cp_gateway *gw)
{
	struct cp_parts *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->loop = loop;
	ps->cfg = cfg;
	ps->st = st;
	ps->gw = gw;
	return ps;
}

static void part_free(struct part *p)
{
	cp_timer_stop(p->owner->loop, &p->free_timer);
	cp_exec_free(p->exec);
	cp_metrics_close(p->metrics);
	free(p);
}

static void unlink_part(struct cp_parts *ps, struct part *p)
{
	for (struct part **pp = &ps->head; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

void cp_parts_free(struct cp_parts *ps)
{
	if (!ps)
		return;
	while (ps->head) {
		struct part *p = ps->head;
		ps->head = p->next;
		part_free(p);
	}
	free(ps);
}

uint32_t cp_parts_live(const struct cp_parts *ps)
{
	return ps ? ps->live : 0;
}

static void update_state(struct cp_parts *ps)
{
	uint32_t eps = 0, live = 0;

	for (struct part *p = ps->head; p; p = p->next) {
		if (p->state == PART_DONE)
			continue;
		eps += p->endpoints;
		live++;
	}
	ps->st->active_endpoints = eps;
	ps->live = live;
}

/* First free range of n flows in the worker's table: parts never share flows (or RTP ports). */
static int alloc_flows(struct cp_parts *ps, uint32_t n, uint32_t *base)
{
	uint32_t at = 0;
	bool moved = true;

	while (moved) {
		moved = false;
		for (struct part *p = ps->head; p; p = p->next) {
			if (p->flows && at < p->flow_base + p->flows && p->flow_base < at + n) {
				at = p->flow_base + p->flows;
				moved = true;
			}
		}
	}
	if ((uint64_t)at + n > ps->cfg->media.max_flows)
		return -ENOSPC;
	*base = at;
	return 0;
}

/* ---- messages to the gateway (kept on the part while the session is down) --------------------------------- */

static void flush_part(struct part *p)
{
	struct cp_gateway *gw = p->owner->gw;

	if (p->accept_pending && cp_gateway_part_accept(gw, p->run_id, p->num, p->sip) == 0) {
		p->accept_pending = false;
		cm_log(CM_LOG_INFO, "parts", "run %s part %llu: %u endpoint(s) ready, SIP on %s: accepted", p->run_id,
		       (unsigned long long)p->num, p->endpoints, p->sip);
	}
	if (!p->accept_pending && p->calls_done_pending &&
	    cp_gateway_part_calls_done(gw, p->run_id, p->num) == 0)
		p->calls_done_pending = false;
	if (!p->accept_pending && p->done_pending &&
	    cp_gateway_part_done(gw, p->run_id, p->num, cp_exec_report(p->exec),
				 p->cancelled ? "cancelled by the gateway" : "") == 0)
		p->done_pending = false;
	if (p->state == PART_DONE && !p->done_pending && !cp_timer_armed(&p->free_timer))
		cp_timer_start(p->owner->loop, &p->free_timer, PART_FREE_DELAY_MS);
}

void cp_parts_connected(struct cp_parts *ps)
{
	for (struct part *p = ps ? ps->head : NULL; p; p = p->next)
		flush_part(p);
}

static void on_free_timer(struct cp_loop *loop, void *arg)
{
	struct part *p = arg;
	struct cp_parts *ps = p->owner;

	(void)loop;
	unlink_part(ps, p);
	part_free(p);
	update_state(ps);
	if (ps->live == 0)
		cp_gateway_parts_idle(ps->gw);
}

static void on_ready(void *arg)
{
	struct part *p = arg;

	if (p->state != PART_REGISTERING)
		return;
	p->state = PART_READY;
	p->accept_pending = true;
	if (p->sip[0]) /* else from cp_parts_assign once the SIP address is known */
		flush_part(p);
}

static void on_calls_done(void *arg)
{
	struct part *p = arg;

	p->calls_done_pending = true;
	flush_part(p);
}

static void on_done(struct cp_exec *x, void *arg)
{
	struct part *p = arg;
	struct cp_report *r = cp_exec_report(x);

	p->state = PART_DONE;
	cm_log(CM_LOG_INFO, "parts", "run %s part %llu done: %u endpoint(s), %u SUCCESS", p->run_id,
	       (unsigned long long)p->num, r->endpoints_total, r->outcomes[CP_OUT_SUCCESS]);
	cp_metrics_flush(p->metrics);
	p->done_pending = true;
	update_state(p->owner);
	flush_part(p);
}

/* Samples of one second (or PART_METRICS_FRAME bytes of them) become one metrics frame; the second's dataplane
 * sample rides in the last one. */
static int on_samples(void *arg, const char *data, size_t len, uint32_t count, const char *dp, size_t dplen)
{
	struct part *p = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, count);
	msgpack_sbuffer_write(&sb, data, len);
	rc = cp_gateway_metrics(p->owner->gw, p->run_id, p->num, cm_wallclock_ms() / 1000, sb.data, sb.size, dp,
				dplen);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* ---- messages from the gateway ------------------------------------------------------------------------------ */

static struct part *find(struct cp_parts *ps, const char *run_id, uint64_t num, bool any_part)
{
	for (struct part *p = ps->head; p; p = p->next)
		if (strcmp(p->run_id, run_id) == 0 && (any_part || p->num == num))
			return p;
	return NULL;
}

/* The appliance's own media side and SIP address replace the plan's. */
static void localise(const struct cfg_worker *cfg, struct cfg_plan *plan)
{
	plan->dp.nmedia_ips = cfg->media.nmedia_ips;
	memcpy(plan->dp.media_ips, cfg->media.media_ips, sizeof(plan->dp.media_ips));
	memcpy(plan->dp.netmask, cfg->media.netmask, sizeof(plan->dp.netmask));
	memcpy(plan->dp.gateway_ip, cfg->media.gateway_ip, sizeof(plan->dp.gateway_ip));
	plan->dp.vlan = cfg->media.vlan;
	plan->dp.rtp_port_min = cfg->media.rtp_port_min;
	plan->dp.rtp_port_max = cfg->media.rtp_port_max;
	plan->dp.max_flows = cfg->media.max_flows;
	for (uint32_t g = 0; g < plan->ngroups; g++) {
		cm_strlcpy(plan->groups[g].local_ip, cfg->sip_ip, sizeof(plan->groups[g].local_ip));
		plan->groups[g].local_port = 0;
	}
}

int cp_parts_assign(struct cp_parts *ps, const struct cp_part_assign *a, char *why, size_t len)
{
	struct cfg_plan *plan;
	struct cp_exec_opts xo = { 0 };
	struct cp_engine_fleet fleet;
	struct part *p;
	char err[CFG_ERR_MAX], name[160];
	uint32_t g;

	if (ps->st->draining) {
		snprintf(why, len, "worker is draining");
		return -EBUSY;
	}
	if (find(ps, a->run_id, a->part, false)) {
		snprintf(why, len, "part %llu of run %s is already here", (unsigned long long)a->part, a->run_id);
		return -EEXIST;
	}
	plan = malloc(sizeof(*plan));
	p = calloc(1, sizeof(*p));
	if (!plan || !p) {
		free(plan);
		free(p);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	snprintf(name, sizeof(name), "run %s", a->run_id);
	if (cfg_plan_load_string(plan, name, a->plan, err, sizeof(err)) < 0) {
		snprintf(why, len, "bad plan: %s", err);
		goto fail;
	}
	for (g = 0; g < plan->ngroups && strcmp(plan->groups[g].name, a->group) != 0; g++)
		;
	if (g == plan->ngroups || a->count == 0 || a->first > plan->groups[g].endpoints ||
	    a->count > plan->groups[g].endpoints - a->first) {
		snprintf(why, len, "the plan has no endpoints %llu..%llu in a group '%s'", (unsigned long long)a->first,
			 (unsigned long long)(a->first + a->count), a->group);
		goto fail;
	}
	localise(ps->cfg, plan);
	plan->fleet.on = true;
	plan->fleet.group = (uint16_t)g;
	plan->fleet.first = (uint32_t)a->first;
	plan->fleet.count = (uint32_t)a->count;
	p->owner = ps;
	cm_strlcpy(p->run_id, a->run_id, sizeof(p->run_id));
	p->num = a->part;
	p->endpoints = (uint32_t)a->count;
	cp_timer_init(&p->free_timer, on_free_timer, p);
	p->metrics = cp_metrics_open_sink(on_samples, p, PART_METRICS_FRAME);
	if (!p->metrics) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	fleet = (struct cp_engine_fleet){ .ready = on_ready, .calls_done = on_calls_done, .arg = p };
	xo.run_id = a->run_id;
	xo.plan_name = name;
	xo.metrics = p->metrics;
	xo.fleet = &fleet;
	p->exec = cp_exec_new(ps->loop, plan, &xo, err, sizeof(err)); /* takes the plan */
	plan = NULL;
	if (!p->exec) {
		snprintf(why, len, "%s", err);
		goto fail;
	}
	p->flows = cp_media_flows(cp_exec_media(p->exec));
	if (alloc_flows(ps, p->flows, &p->flow_base) < 0) {
		snprintf(why, len, "no room for %u more media flows (max_flows %u)", p->flows, ps->cfg->media.max_flows);
		goto fail;
	}
	cp_exec_plan(p->exec)->dp.flow_base = p->flow_base;
	p->next = ps->head;
	ps->head = p;
	if (cp_exec_start(p->exec, on_done, p, err, sizeof(err)) < 0) {
		unlink_part(ps, p);
		snprintf(why, len, "cannot start: %s", err);
		goto fail;
	}
	{
		char ip[48];
		uint16_t port = 0;

		cp_ua_group_addr(cp_exec_ua(p->exec), (uint16_t)g, ip, sizeof(ip), &port);
		snprintf(p->sip, sizeof(p->sip), "%s:%u", ip, port);
	}
	update_state(ps);
	flush_part(p);
	cm_log(CM_LOG_INFO, "parts", "run %s part %llu: group %s endpoints %llu..%llu, flows %u..%u", a->run_id,
	       (unsigned long long)a->part, a->group, (unsigned long long)a->first,
	       (unsigned long long)(a->first + a->count - 1), p->flow_base, p->flow_base + p->flows);
	return 0;

fail:
	free(plan);
	if (p->exec || p->metrics) {
		cp_exec_free(p->exec);
		cp_metrics_close(p->metrics);
	}
	free(p);
	return -EINVAL;
}

int cp_parts_start(struct cp_parts *ps, const char *run_id, const struct cfg_fleet_remote *remote, uint32_t n)
{
	int started = 0;

	if (n > CFG_FLEET_REMOTE_MAX)
		return -E2BIG;
	for (struct part *p = ps->head; p; p = p->next) {
		struct cfg_plan *plan;

		if (strcmp(p->run_id, run_id) != 0 || p->state == PART_DONE)
			continue;
		plan = cp_exec_plan(p->exec);
		memcpy(plan->fleet.remote, remote, n * sizeof(*remote));
		plan->fleet.nremote = n;
		p->state = PART_RUNNING;
		cp_engine_go(cp_exec_engine(p->exec));
		started++;
	}
	return started;
}

void cp_parts_pack(const struct cp_parts *ps, msgpack_packer *pk)
{
	uint32_t n = 0;

	for (const struct part *p = ps->head; p && n < CP_PARTS_HELLO_MAX; p = p->next)
		n++;
	msgpack_pack_array(pk, n);
	for (const struct part *p = ps->head; p && n; p = p->next, n--) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_str_with_body(pk, p->run_id, strlen(p->run_id));
		msgpack_pack_uint64(pk, p->num);
	}
}

const struct cfg_plan *cp_parts_plan(struct cp_parts *ps, const char *run_id)
{
	for (struct part *p = ps->head; p; p = p->next)
		if (strcmp(p->run_id, run_id) == 0 && p->state != PART_DONE)
			return cp_exec_plan(p->exec);
	return NULL;
}

void cp_parts_release(struct cp_parts *ps, const char *run_id)
{
	for (struct part *p = ps->head; p; p = p->next)
		if (strcmp(p->run_id, run_id) == 0 && p->state != PART_DONE)
			cp_engine_release(cp_exec_engine(p->exec));
}

int cp_parts_cancel(struct cp_parts *ps, const char *run_id)
{
	int n = 0;

	for (struct part *p = ps->head; p; p = p->next) {
		if (strcmp(p->run_id, run_id) != 0 || p->state == PART_DONE)
			continue;
		p->cancelled = true;
		cp_engine_stop(cp_exec_engine(p->exec));
		n++;
	}
	return n;
}
