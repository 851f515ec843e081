/* Runs on the gateway: a submitted plan is split across ONLINE workers by free effective capacity and
 * dispatched in phases — callee (and both-role) parts first, caller parts once every earlier part is accepted,
 * so callees are registered before anyone dials them.  The store is the state (the CLI submits and cancels by
 * writing it; `serve` picks that up on its tick), so runs and their results survive a gateway restart.
 *
 *   run:  PENDING → QUEUED → DISPATCHING → RUNNING → COMPLETED | FAILED;  CANNOT_RUN_FOR_NOW;  CANCELLED
 *   part: WAITING → ASSIGNED → ACCEPTED → DONE | FAILED;  REFUSED;  CANCELLED
 *
 * A refused part fails the run (the others are cancelled).  A worker that disconnects keeps its parts: it may
 * come back and finish (its metrics are kept until acknowledged).  One OFFLINE for lost_after_s (serve
 * --lost-after) has lost them, and so has one that comes back without them (it restarted): the run fails,
 * and a worker that comes back still running a part that is no longer live here is told to cancel it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "gateway/gateway.h"
#include "gateway/gateway_internal.h"

static const char *const role_names[] = {
	[GW_ROLE_CALLEE] = "callee",
	[GW_ROLE_BOTH] = "both",
	[GW_ROLE_CALLER] = "caller",
};

const char *gw_role_name(enum gw_role r)
{
	return (unsigned)r < CM_ARRAY_SIZE(role_names) ? role_names[r] : "both";
}

/* ---- plan reading ------------------------------------------------------------------------------------ */

struct plan_ctx {
	struct gw_plan *p;
};

static int plan_cb(struct cfg_ini_ctx *ctx, const char *section, const char *key, const char *value, void *arg)
{
	struct gw_plan *p = ((struct plan_ctx *)arg)->p;
	const char *gname;
	uint32_t g;

	if (strcmp(section, "test") == 0) {
		if (strcmp(key, "name") == 0)
			cm_strlcpy(p->name, value, sizeof(p->name));
		return 0;
	}
	if (strncmp(section, "group ", 6) != 0)
		return 0; /* the worker reads the rest */
	gname = section + 6;
	while (*gname == ' ')
		gname++;
	if (!*gname || strlen(gname) >= sizeof(p->groups[0].name)) {
		cfg_ini_error(ctx, key, "group name missing or longer than %zu characters", sizeof(p->groups[0].name) - 1);
		return -EINVAL;
	}
	for (g = 0; g < p->ngroups; g++)
		if (strcmp(p->groups[g].name, gname) == 0)
			break;
	if (g == p->ngroups) {
		if (p->ngroups == GW_PLAN_GROUPS_MAX) {
			cfg_ini_error(ctx, key, "more than %d groups", GW_PLAN_GROUPS_MAX);
			return -EINVAL;
		}
		p->ngroups++;
		cm_strlcpy(p->groups[g].name, gname, sizeof(p->groups[g].name));
		p->groups[g].role = GW_ROLE_BOTH;
	}
	if (strcmp(key, "endpoints") == 0) {
		uint64_t n;
		if (cm_parse_u64(value, 1, 1000000, &n) < 0) {
			cfg_ini_error(ctx, key, "expected a number of endpoints 1-1000000, got '%s'", value);
			return -EINVAL;
		}
		p->groups[g].endpoints = (uint32_t)n;
	} else if (strcmp(key, "role") == 0) {
		uint32_t r;
		for (r = 0; r < CM_ARRAY_SIZE(role_names); r++)
			if (strcmp(value, role_names[r]) == 0)
				break;
		if (r == CM_ARRAY_SIZE(role_names)) {
			cfg_ini_error(ctx, key, "expected caller, callee or both, got '%s'", value);
			return -EINVAL;
		}
		p->groups[g].role = (enum gw_role)r;
	}
	return 0;
}

int gw_plan_read(const char *file, const char *text, struct gw_plan *p, char *err, size_t errlen)
{
	struct plan_ctx ctx = { .p = p };
	int rc;

	memset(p, 0, sizeof(*p));
	rc = cfg_ini_parse_string(file, text, plan_cb, &ctx, err, errlen);
	if (rc < 0)
		return rc;
	if (p->ngroups == 0) {
		snprintf(err, errlen, "%s: no [group NAME] section: nothing to run", file);
		return -EINVAL;
	}
	for (uint32_t g = 0; g < p->ngroups; g++) {
		if (!p->groups[g].endpoints) {
			snprintf(err, errlen, "%s: [group %s] has no 'endpoints'", file, p->groups[g].name);
			return -EINVAL;
		}
		p->endpoints += p->groups[g].endpoints;
	}
	if (!p->name[0])
		cm_strlcpy(p->name, file, sizeof(p->name));
	return 0;
}

/* ---- helpers over the store -------------------------------------------------------------------------- */

static int first_text(void *arg, int n, const char **cols)
{
	char **out = arg;

	if (n > 0 && !*out)
		*out = strdup(cols[0]);
	return 1;
}

static int64_t query_i64(struct gw_store *st, const char *sql, const char *run_id, int64_t arg)
{
	char *v = NULL;
	int64_t x = 0;

	gw_store_query(st, sql, "si", first_text, &v, run_id, arg);
	if (v)
		x = strtoll(v, NULL, 10);
	free(v);
	return x;
}

static void set_run(struct gw_server *srv, const char *id, const char *status, const char *reason)
{
	bool terminal = strcmp(status, "COMPLETED") == 0 || strcmp(status, "FAILED") == 0 ||
			strcmp(status, "CANCELLED") == 0 || strcmp(status, "CANNOT_RUN_FOR_NOW") == 0;

	gw_store_exec(srv->store,
		      "UPDATE runs SET status=?2, reason=?3, started=CASE WHEN ?4=1 AND started=0 THEN ?5 ELSE started END,"
		      " ended=CASE WHEN ?6=1 THEN ?5 ELSE ended END WHERE id=?1",
		      "sssiii", id, status, reason ? reason : "", (int64_t)(strcmp(status, "DISPATCHING") == 0),
		      (int64_t)cm_wallclock_ms(), (int64_t)terminal);
	cm_log(terminal && strcmp(status, "COMPLETED") != 0 ? CM_LOG_WARN : CM_LOG_INFO, "runs", "run %s %s%s%s", id,
	       status, reason && reason[0] ? ": " : "", reason ? reason : "");
}

static struct gw_session *session_of(struct gw_server *srv, int64_t worker_id)
{
	for (struct gw_session *s = srv->head; s; s = s->next)
		if (s->worker_id == worker_id)
			return s;
	return NULL;
}

/* ---- cancelling ---------------------------------------------------------------------------------------- */

struct cancel_ctx {
	struct gw_server *srv;
	const char *id;
};

static int cancel_worker(void *arg, int n, const char **cols)
{
	struct cancel_ctx *c = arg;
	struct gw_session *s = n > 0 ? session_of(c->srv, strtoll(cols[0], NULL, 10)) : NULL;
	struct gw_enc e;

	if (s && gw_enc_start(&e, GW_MSG_CANCEL, 1) == 0) {
		gw_enc_str(&e, "run_id", c->id);
		gw_session_send(s, &e);
	}
	return 0;
}

/* Tells every worker holding a live part to stop, and closes the parts. */
static void cancel_parts(struct gw_server *srv, const char *id)
{
	struct cancel_ctx c = { .srv = srv, .id = id };

	gw_store_query(srv->store,
		       "SELECT DISTINCT worker_id FROM run_parts WHERE run_id=?1 AND status IN ('ASSIGNED','ACCEPTED')",
		       "s", cancel_worker, &c, id);
	gw_store_exec(srv->store,
		      "UPDATE run_parts SET status='CANCELLED' WHERE run_id=?1 AND status IN ('WAITING','ASSIGNED','ACCEPTED')",
		      "s", id);
}

/* ---- dispatch ------------------------------------------------------------------------------------------ */

struct cand {
	struct gw_session *s;
	int64_t free;
};

static int cmp_free_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->free < y->free ? 1 : x->free > y->free ? -1 : 0;
}

static bool in_list(const char *csv, const char *name)
{
	size_t n = strlen(name);

	if (!csv[0])
		return true;
	for (const char *p = csv; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

struct assign_ctx {
	struct gw_server *srv;
	const char *id;
	const char *plan;
	int sent, missing;
};

static int send_assign(void *arg, int n, const char **cols)
{
	struct assign_ctx *a = arg;
	int64_t part = strtoll(cols[0], NULL, 10), worker = strtoll(cols[1], NULL, 10);
	struct gw_session *s = session_of(a->srv, worker);
	struct gw_enc e;

	if (n < 6)
		return 1;
	if (!s || gw_enc_start(&e, GW_MSG_ASSIGN, 6) < 0) {
		a->missing++;
		return 0;
	}
	gw_enc_str(&e, "run_id", a->id);
	gw_enc_u64(&e, "part", (uint64_t)part);
	gw_enc_str(&e, "plan", a->plan);
	gw_enc_str(&e, "group", cols[2]);
	gw_enc_str(&e, "role", cols[3]);
	gw_enc_key(&e, "endpoints");
	msgpack_pack_array(&e.pk, 2);
	msgpack_pack_uint64(&e.pk, strtoull(cols[4], NULL, 10));
	msgpack_pack_uint64(&e.pk, strtoull(cols[5], NULL, 10));
	if (gw_session_send(s, &e) < 0) {
		a->missing++;
		return 0;
	}
	gw_store_exec(a->srv->store, "UPDATE run_parts SET status='ASSIGNED' WHERE run_id=?1 AND part=?2", "si", a->id,
		      part);
	a->sent++;
	return 0;
}

static int send_phase(struct gw_server *srv, const char *id, int64_t phase)
{
	struct assign_ctx a = { .srv = srv, .id = id };
	char *plan = NULL;

	gw_store_query(srv->store, "SELECT plan FROM runs WHERE id=?1", "s", first_text, &plan, id);
	a.plan = plan ? plan : "";
	gw_store_query(srv->store,
		       "SELECT part, worker_id, grp, role, first, count FROM run_parts "
		       "WHERE run_id=?1 AND phase=?2 AND status='WAITING' ORDER BY part",
		       "si", send_assign, &a, id, phase);
	free(plan);
	if (a.missing) {
		cancel_parts(srv, id);
		set_run(srv, id, "FAILED", "a worker chosen for a part is no longer connected");
		return -ENOTCONN;
	}
	if (a.sent)
		cm_log(CM_LOG_INFO, "runs", "run %s: phase %lld dispatched (%d parts)", id, (long long)phase, a.sent);
	return a.sent;
}

struct run_row {
	char *name, *plan, *workers;
};

static int read_run(void *arg, int n, const char **cols)
{
	struct run_row *r = arg;

	if (n >= 3) {
		r->name = strdup(cols[0]);
		r->plan = strdup(cols[1]);
		r->workers = strdup(cols[2]);
	}
	return 1;
}

static void dispatch(struct gw_server *srv, const char *id)
{
	struct run_row r = { 0 };
	struct gw_plan *plan = calloc(1, sizeof(*plan));
	struct cand *cands = NULL;
	char err[CFG_ERR_MAX];
	int ncand = 0, part = 0;
	int64_t total_free = 0;
	static const enum gw_role order[] = { GW_ROLE_CALLEE, GW_ROLE_BOTH, GW_ROLE_CALLER };

	gw_store_query(srv->store, "SELECT name, plan, workers FROM runs WHERE id=?1", "s", read_run, &r, id);
	if (!plan || !r.plan)
		goto out;
	set_run(srv, id, "QUEUED", "");
	if (gw_plan_read(r.name, r.plan, plan, err, sizeof(err)) < 0) {
		set_run(srv, id, "FAILED", err);
		goto out;
	}
	cands = calloc(srv->nsessions ? srv->nsessions : 1, sizeof(*cands));
	if (!cands)
		goto out;
	for (struct gw_session *s = srv->head; s; s = s->next) {
		int64_t reserved, free_cap;

		if (!s->worker_id || strcmp(s->status, "ONLINE") != 0 || s->drain_sent || !in_list(r.workers, s->name))
			continue;
		reserved = query_i64(srv->store,
				     "SELECT ifnull(sum(count),0) FROM run_parts WHERE ?1=?1 AND worker_id=?2 AND "
				     "status IN ('WAITING','ASSIGNED','ACCEPTED')", id, s->worker_id);
		/* the worker's active endpoints are those of its parts in hand: counted once, whichever is larger
		 * (its heartbeat may still count a part that just ended, or not yet one just assigned) */
		free_cap = (s->eff_capacity == UINT32_MAX ? INT64_C(1) << 40 : (int64_t)s->eff_capacity) -
			   ((int64_t)s->active > reserved ? (int64_t)s->active : reserved);
		if (free_cap <= 0)
			continue;
		cands[ncand++] = (struct cand){ .s = s, .free = free_cap };
		total_free += free_cap;
	}
	if (total_free < (int64_t)plan->endpoints) {
		snprintf(err, sizeof(err), "the plan needs %llu endpoints; %lld free on %d ONLINE worker%s%s",
			 (unsigned long long)plan->endpoints, (long long)total_free, ncand, ncand == 1 ? "" : "s",
			 r.workers[0] ? " of those named" : "");
		set_run(srv, id, "CANNOT_RUN_FOR_NOW", err);
		goto out;
	}
	gw_store_begin(srv->store);
	for (size_t o = 0; o < CM_ARRAY_SIZE(order); o++) {
		for (uint32_t g = 0; g < plan->ngroups; g++) {
			uint32_t left = plan->groups[g].endpoints, first = 0;

			if (plan->groups[g].role != order[o])
				continue;
			qsort(cands, (size_t)ncand, sizeof(*cands), cmp_free_desc);
			for (int c = 0; c < ncand && left; c++) {
				uint32_t take = cands[c].free < left ? (uint32_t)cands[c].free : left;

				if (!take)
					continue;
				gw_store_exec(srv->store,
					      "INSERT INTO run_parts(run_id, part, worker_id, worker_name, grp, role, phase,"
					      " first, count, status) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,'WAITING')",
					      "siisssiii", id, (int64_t)part++, cands[c].s->worker_id, cands[c].s->name,
					      plan->groups[g].name, gw_role_name(order[o]),
					      (int64_t)(order[o] == GW_ROLE_CALLER ? 2 : 1), (int64_t)first, (int64_t)take);
				cands[c].free -= take;
				first += take;
				left -= take;
			}
		}
	}
	gw_store_commit(srv->store);
	set_run(srv, id, "DISPATCHING", "");
	if (send_phase(srv, id, 1) == 0)
		send_phase(srv, id, 2);
out:
	free(cands);
	free(plan);
	free(r.name);
	free(r.plan);
	free(r.workers);
}

/* ---- start and release ------------------------------------------------------------------------------------ */

struct target_ctx {
	struct gw_enc *e;
	uint32_t n;
};

static int pack_target(void *arg, int n, const char **cols)
{
	struct target_ctx *t = arg;

	if (n < 4)
		return 1;
	msgpack_pack_array(&t->e->pk, 4);
	msgpack_pack_str(&t->e->pk, strlen(cols[0]));
	msgpack_pack_str_body(&t->e->pk, cols[0], strlen(cols[0]));
	msgpack_pack_uint64(&t->e->pk, strtoull(cols[1], NULL, 10));
	msgpack_pack_uint64(&t->e->pk, strtoull(cols[2], NULL, 10));
	msgpack_pack_str(&t->e->pk, strlen(cols[3]));
	msgpack_pack_str_body(&t->e->pk, cols[3], strlen(cols[3]));
	return 0;
}

struct run_msg_ctx {
	struct gw_server *srv;
	const char *id;
	enum gw_msg_type type;
	int64_t ntargets;
	int sent;
};

#define TARGETS_SQL \
	"FROM run_parts WHERE run_id=?1 AND role!='caller' AND sip!='' AND status IN ('ACCEPTED','DONE') AND ?2=?2"

/* start {run_id, targets} or release {run_id} to one worker holding parts of the run. */
static int send_run_msg(void *arg, int n, const char **cols)
{
	struct run_msg_ctx *c = arg;
	struct gw_session *s = n > 0 ? session_of(c->srv, strtoll(cols[0], NULL, 10)) : NULL;
	struct gw_enc e;

	if (!s || gw_enc_start(&e, c->type, c->type == GW_MSG_START ? 2 : 1) < 0)
		return 0;
	gw_enc_str(&e, "run_id", c->id);
	if (c->type == GW_MSG_START) {
		struct target_ctx t = { .e = &e };

		gw_enc_key(&e, "targets");
		msgpack_pack_array(&e.pk, (uint32_t)c->ntargets);
		gw_store_query(c->srv->store, "SELECT grp, first, count, sip " TARGETS_SQL " ORDER BY part", "si",
			       pack_target, &t, c->id, (int64_t)0);
	}
	if (gw_session_send(s, &e) == 0)
		c->sent++;
	return 0;
}

static void send_to_workers(struct gw_server *srv, const char *id, enum gw_msg_type type)
{
	struct run_msg_ctx c = { .srv = srv, .id = id, .type = type };

	if (type == GW_MSG_START)
		c.ntargets = query_i64(srv->store, "SELECT count(*) " TARGETS_SQL, id, 0);
	gw_store_query(srv->store,
		       "SELECT DISTINCT worker_id FROM run_parts WHERE run_id=?1 AND status IN ('ACCEPTED','ASSIGNED')",
		       "s", send_run_msg, &c, id);
	cm_log(CM_LOG_INFO, "runs", "run %s: %s sent to %d worker(s)", id, gw_msg_type_name(type), c.sent);
}

/* Every part that places calls is through with them: callees everywhere may leave. */
static void maybe_release(struct gw_server *srv, const char *id)
{
	int64_t calling = query_i64(srv->store,
				    "SELECT count(*) FROM run_parts WHERE run_id=?1 AND role!='callee' AND calls_done=0 "
				    "AND status IN ('WAITING','ASSIGNED','ACCEPTED') AND ?2=?2", id, 0);
	int64_t released = query_i64(srv->store, "SELECT released FROM runs WHERE id=?1 AND ?2=?2", id, 0);

	if (calling || released)
		return;
	gw_store_exec(srv->store, "UPDATE runs SET released=1 WHERE id=?1", "s", id);
	send_to_workers(srv, id, GW_MSG_RELEASE);
}

/* After each part event: next phase, RUNNING (and `start` to every worker of the run), or the end. */
static void evaluate(struct gw_server *srv, const char *id)
{
	int64_t parts = query_i64(srv->store, "SELECT count(*) FROM run_parts WHERE run_id=?1 AND ?2=?2", id, 0);
	int64_t waiting = query_i64(srv->store,
				    "SELECT count(*) FROM run_parts WHERE run_id=?1 AND status='WAITING' AND ?2=?2", id, 0);
	int64_t assigned = query_i64(srv->store,
				     "SELECT count(*) FROM run_parts WHERE run_id=?1 AND status='ASSIGNED' AND ?2=?2", id, 0);
	int64_t finished = query_i64(srv->store,
				     "SELECT count(*) FROM run_parts WHERE run_id=?1 AND status IN ('DONE','FAILED') AND ?2=?2",
				     id, 0);
	int64_t failed = query_i64(srv->store,
				   "SELECT count(*) FROM run_parts WHERE run_id=?1 AND status='FAILED' AND ?2=?2", id, 0);
	char *status = NULL;

	gw_store_query(srv->store, "SELECT status FROM runs WHERE id=?1", "s", first_text, &status, id);
	if (!status)
		return;
	if (strcmp(status, "DISPATCHING") == 0 || strcmp(status, "RUNNING") == 0) {
		if (finished == parts) {
			char why[96] = "";
			if (failed)
				snprintf(why, sizeof(why), "%lld of %lld parts failed", (long long)failed, (long long)parts);
			set_run(srv, id, failed ? "FAILED" : "COMPLETED", why);
		} else if (assigned == 0 && waiting > 0) {
			send_phase(srv, id, 2);
		} else if (assigned == 0 && waiting == 0 && strcmp(status, "DISPATCHING") == 0) {
			set_run(srv, id, "RUNNING", "");
			send_to_workers(srv, id, GW_MSG_START);
		}
	}
	free(status);
}

/* ---- messages from workers ----------------------------------------------------------------------------- */

struct result_ctx {
	struct gw_server *srv;
	const char *id;
	int64_t part;
	const char *kind;
};

/* outcomes {NAME: count}, summary {name: number}: numbers only, saved per part and summed by `run show`. */
static int save_results(struct result_ctx *c, const msgpack_object *map)
{
	if (!map)
		return 0;
	if (map->type != MSGPACK_OBJECT_MAP)
		return -EPROTO;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *v = &map->via.map.ptr[i].val;
		char key[48], val[40];
		double d;

		if (!gw_key_name(&map->via.map.ptr[i].key, "_", sizeof(key) - 1, key))
			return -EPROTO;
		if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			d = (double)v->via.u64;
		else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			d = (double)v->via.i64;
		else if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64)
			d = v->via.f64;
		else
			return -EPROTO;
		snprintf(val, sizeof(val), "%.17g", d);
		gw_store_exec(c->srv->store,
			      "INSERT OR REPLACE INTO part_results(run_id, part, kind, key, value) VALUES(?1,?2,?3,?4,?5)",
			      "sisss", c->id, c->part, c->kind, key, val);
	}
	return 0;
}

/* done's `dataplane` {counter: n} and `port_xstats` {name: n}: the part's dataplane figures as the standalone
 * summary has them.  Checked whole before any of it is saved; one that does not check out is left out (counted,
 * logged at most once a minute), never the done with it. */
static void save_dataplane(struct gw_server *srv, struct gw_session *s, const char *id, int64_t part,
			   const msgpack_object *map, const char *kind, size_t keymax)
{
	const char *problem;

	if (!map)
		return;
	problem = gw_dp_counters_problem(map, keymax);
	if (problem) {
		srv->dataplane_refused++;
		cm_log_rl(&srv->rl_dataplane, CM_LOG_WARN, "runs", "worker '%s': done for run %s part %lld: %s left out: %s",
			  s->name, id, (long long)part, kind, problem);
		return;
	}
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		char key[64], val[32];

		gw_key_name(&map->via.map.ptr[i].key, GW_DP_KEY_PUNCT, keymax, key); /* checked above */
		snprintf(val, sizeof(val), "%llu", (unsigned long long)map->via.map.ptr[i].val.via.u64);
		gw_store_exec(srv->store,
			      "INSERT OR REPLACE INTO part_results(run_id, part, kind, key, value) VALUES(?1,?2,?3,?4,?5)",
			      "sisss", id, part, kind, key, val);
	}
}

int gw_runs_on_msg(struct gw_server *srv, struct gw_session *s, struct gw_msg *m)
{
	char id[GW_PROTO_STR_MAX], reason[GW_PROTO_STR_MAX] = "", outcome[32] = "completed", *pstatus = NULL;
	char why[2 * GW_PROTO_STR_MAX];
	uint64_t part;
	int64_t owner;

	if (gw_msg_str(m, "run_id", id, sizeof(id)) < 0 || gw_msg_u64(m, "part", &part) < 0 || part > INT32_MAX)
		return -EPROTO;
	owner = query_i64(srv->store, "SELECT worker_id FROM run_parts WHERE run_id=?1 AND part=?2", id, (int64_t)part);
	gw_store_query(srv->store, "SELECT status FROM run_parts WHERE run_id=?1 AND part=?2", "si", first_text, &pstatus,
		       id, (int64_t)part);
	if (owner != s->worker_id || !pstatus) {
		cm_log_rl(&srv->rl_proto, CM_LOG_WARN, "runs", "worker '%s': %s for run %s part %llu, which is not its own",
			  s->name, m->t, id, (unsigned long long)part);
		free(pstatus);
		return 0;
	}
	switch (m->type) {
	case GW_MSG_ACCEPT: {
		char sip[80] = "";

		if (gw_msg_str(m, "sip", sip, sizeof(sip)) == -EPROTO)
			goto bad;
		if (strcmp(pstatus, "ASSIGNED") == 0)
			gw_store_exec(srv->store, "UPDATE run_parts SET status='ACCEPTED', sip=?3 WHERE run_id=?1 AND part=?2",
				      "sis", id, (int64_t)part, sip);
		break;
	}
	case GW_MSG_CALLS_DONE:
		gw_store_exec(srv->store, "UPDATE run_parts SET calls_done=1 WHERE run_id=?1 AND part=?2", "si", id,
			      (int64_t)part);
		maybe_release(srv, id);
		break;
	case GW_MSG_REFUSE:
		gw_msg_str(m, "reason", reason, sizeof(reason));
		if (strcmp(pstatus, "ASSIGNED") != 0 && strcmp(pstatus, "ACCEPTED") != 0)
			break;
		gw_store_exec(srv->store, "UPDATE run_parts SET status='REFUSED', reason=?3 WHERE run_id=?1 AND part=?2",
			      "sis", id, (int64_t)part, reason);
		cancel_parts(srv, id);
		snprintf(why, sizeof(why), "worker '%s' refused part %llu: %s", s->name, (unsigned long long)part,
			 reason[0] ? reason : "no reason given");
		set_run(srv, id, "FAILED", why);
		break;
	case GW_MSG_DONE: {
		struct result_ctx c = { .srv = srv, .id = id, .part = (int64_t)part };

		if (strcmp(pstatus, "ACCEPTED") != 0 && strcmp(pstatus, "ASSIGNED") != 0)
			break;
		if (gw_msg_str(m, "outcome", outcome, sizeof(outcome)) == -EPROTO)
			goto bad;
		gw_msg_str(m, "reason", reason, sizeof(reason));
		c.kind = "outcome";
		if (save_results(&c, gw_obj_get(m->map, "outcomes")) < 0)
			goto bad;
		c.kind = "summary";
		if (save_results(&c, gw_obj_get(m->map, "summary")) < 0)
			goto bad;
		save_dataplane(srv, s, id, (int64_t)part, gw_obj_get(m->map, "dataplane"), "dataplane", 47);
		save_dataplane(srv, s, id, (int64_t)part, gw_obj_get(m->map, "port_xstats"), "xstat", 63);
		gw_store_exec(srv->store, "UPDATE run_parts SET status=?3, reason=?4 WHERE run_id=?1 AND part=?2", "siss", id,
			      (int64_t)part, strcmp(outcome, "failed") == 0 ? "FAILED" : "DONE", reason);
		maybe_release(srv, id);
		break;
	}
	default:
		break;
	}
	free(pstatus);
	evaluate(srv, id);
	return 0;
bad:
	free(pstatus);
	cm_log_rl(&srv->rl_proto, CM_LOG_WARN, "runs", "worker '%s': %s for run %s with fields of the wrong type",
		  s->name, m->t, id);
	return -EPROTO;
}

/* ---- a worker's hello: the parts it still holds ----------------------------------------------------------- */

struct held_ctx {
	struct gw_server *srv;
	struct gw_session *s;
	const msgpack_object *held;
	struct { char run[GW_RUN_ID_MAX]; int64_t part; } lost[32];
	int nlost;
};

/* Whether an entry of hello's "parts" ([run_id, part]) names this run. */
static bool held_run_is(const msgpack_object *e, const char *run)
{
	return e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2 &&
	       e->via.array.ptr[0].type == MSGPACK_OBJECT_STR && e->via.array.ptr[0].via.str.size == strlen(run) &&
	       memcmp(e->via.array.ptr[0].via.str.ptr, run, strlen(run)) == 0;
}

static bool holds(const msgpack_object *held, const char *run, int64_t part)
{
	for (uint32_t i = 0; i < held->via.array.size; i++) {
		const msgpack_object *e = &held->via.array.ptr[i];

		if (held_run_is(e, run) && e->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    e->via.array.ptr[1].via.u64 == (uint64_t)part)
			return true;
	}
	return false;
}

static int check_held(void *arg, int n, const char **cols)
{
	struct held_ctx *c = arg;
	int64_t part;

	if (n < 2 || c->nlost == (int)CM_ARRAY_SIZE(c->lost))
		return 1;
	part = strtoll(cols[1], NULL, 10);
	if (!holds(c->held, cols[0], part)) {
		cm_strlcpy(c->lost[c->nlost].run, cols[0], GW_RUN_ID_MAX);
		c->lost[c->nlost++].part = part;
	}
	return 0;
}


/* A part its worker will never finish: it fails, and its run with it (its endpoints are gone: the other parts
 * stop, as for a refused part). */
static void lose_part(struct gw_server *srv, const char *run, int64_t part, const char *part_why, const char *run_why)
{
	gw_store_exec(srv->store, "UPDATE run_parts SET status='FAILED', reason=?3 WHERE run_id=?1 AND part=?2", "sis",
		      run, part, part_why);
	cm_log(CM_LOG_WARN, "runs", "run %s part %lld: %s", run, (long long)part, part_why);
	cancel_parts(srv, run);
	set_run(srv, run, "FAILED", run_why);
}

/* A worker's parts live in its process: one that comes back without a part it was given (it restarted) will
 * never finish it, so the part fails now instead of holding its run forever.  A part it still runs that is not
 * live here any more (cancelled, or failed as lost while it was away) is cancelled on the worker. */
int gw_runs_on_hello(struct gw_server *srv, struct gw_session *s, const msgpack_object *held)
{
	struct held_ctx c = { .srv = srv, .s = s, .held = held };
	char why[160], run_why[160];

	if (!held)
		return 0; /* a worker that does not say: nothing to conclude */
	if (held->type != MSGPACK_OBJECT_ARRAY)
		return -EPROTO;
	gw_store_query(srv->store, "SELECT run_id, part FROM run_parts WHERE worker_id=?1 AND "
				   "status IN ('ASSIGNED','ACCEPTED')", "i", check_held, &c, s->worker_id);
	for (int i = 0; i < c.nlost; i++) {
		snprintf(why, sizeof(why), "worker '%s' came back without this part (restarted)", s->name);
		snprintf(run_why, sizeof(run_why), "part %lld lost: worker '%s' restarted during the run",
			 (long long)c.lost[i].part, s->name);
		lose_part(srv, c.lost[i].run, c.lost[i].part, why, run_why);
	}
	for (uint32_t i = 0; i < held->via.array.size; i++) {
		const msgpack_object *e = &held->via.array.ptr[i];
		char run[GW_RUN_ID_MAX];
		bool keep; /* a live or finishing part, or a run already cancelled in this loop */
		struct gw_enc enc;

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
		    e->via.array.ptr[0].type != MSGPACK_OBJECT_STR || e->via.array.ptr[0].via.str.size >= sizeof(run) ||
		    e->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || e->via.array.ptr[1].via.u64 > INT32_MAX)
			continue;
		memcpy(run, e->via.array.ptr[0].via.str.ptr, e->via.array.ptr[0].via.str.size);
		run[e->via.array.ptr[0].via.str.size] = '\0';
		/* a cancel stops every part of the run on the worker: only when none of its parts there is live, for
		 * a part that failed or was cancelled here (a DONE part still listed is just finishing), once */
		keep = query_i64(srv->store, "SELECT count(*) FROM run_parts WHERE run_id=?1 AND worker_id=?2 AND "
					     "status IN ('ASSIGNED','ACCEPTED')", run, s->worker_id) ||
		       query_i64(srv->store, "SELECT count(*) FROM run_parts WHERE run_id=?1 AND part=?2 AND "
					     "status='DONE'", run, (int64_t)e->via.array.ptr[1].via.u64);
		for (uint32_t j = 0; j < i && !keep; j++)
			keep = held_run_is(&held->via.array.ptr[j], run);
		if (keep || gw_enc_start(&enc, GW_MSG_CANCEL, 1) < 0)
			continue;
		gw_enc_str(&enc, "run_id", run);
		gw_session_send(s, &enc);
		cm_log(CM_LOG_INFO, "runs", "worker '%s' came back running part %llu of run %s, which is over here: "
		       "cancelled", s->name, (unsigned long long)e->via.array.ptr[1].via.u64, run);
	}
	return 0;
}

/* Workers OFFLINE for lost_after_s (counted from the gateway's start at the earliest): their live parts are
 * lost. */
struct offline_ctx {
	struct { char run[GW_RUN_ID_MAX]; int64_t part; char worker[GW_PROTO_STR_MAX]; } lost[32];
	int n;
};

static int collect_offline(void *arg, int n, const char **cols)
{
	struct offline_ctx *c = arg;

	if (n < 3 || c->n == (int)CM_ARRAY_SIZE(c->lost))
		return 1;
	cm_strlcpy(c->lost[c->n].run, cols[0], sizeof(c->lost[c->n].run));
	c->lost[c->n].part = strtoll(cols[1], NULL, 10);
	cm_strlcpy(c->lost[c->n].worker, cols[2], sizeof(c->lost[c->n].worker));
	c->n++;
	return 0;
}

static void lose_offline_parts(struct gw_server *srv)
{
	uint64_t now = cm_wallclock_ms(), window = (uint64_t)srv->o.lost_after_s * 1000;
	struct offline_ctx c = { .n = 0 };
	char why[160], run_why[200];

	if (now < srv->started_ms + window)
		return;
	gw_store_query(srv->store,
		       "SELECT p.run_id, p.part, w.name FROM run_parts p JOIN workers w ON w.id=p.worker_id WHERE "
		       "p.status IN ('ASSIGNED','ACCEPTED') AND w.status='OFFLINE' AND w.offline_since<?1 ORDER BY p.run_id",
		       "i", collect_offline, &c, (int64_t)(now - window));
	for (int i = 0; i < c.n; i++) {
		/* an earlier part of the same run lost in this pass has cancelled this one already */
		if (!query_i64(srv->store, "SELECT count(*) FROM run_parts WHERE run_id=?1 AND part=?2 AND "
					   "status IN ('ASSIGNED','ACCEPTED')", c.lost[i].run, c.lost[i].part))
			continue;
		snprintf(why, sizeof(why), "worker '%s' lost: offline for %u s", c.lost[i].worker, srv->o.lost_after_s);
		snprintf(run_why, sizeof(run_why), "part %lld lost: worker '%s' offline for %u s", (long long)c.lost[i].part,
			 c.lost[i].worker, srv->o.lost_after_s);
		lose_part(srv, c.lost[i].run, c.lost[i].part, why, run_why);
	}
}

/* ---- the tick: new runs, cancellations ------------------------------------------------------------------ */

struct id_list {
	char ids[32][GW_RUN_ID_MAX];
	int n;
};

static int collect_id(void *arg, int n, const char **cols)
{
	struct id_list *l = arg;

	if (n > 0 && l->n < 32)
		cm_strlcpy(l->ids[l->n++], cols[0], GW_RUN_ID_MAX);
	return l->n == 32;
}

void gw_runs_tick(struct gw_server *srv)
{
	struct id_list l = { .n = 0 };

	lose_offline_parts(srv);
	gw_store_query(srv->store,
		       "SELECT id FROM runs WHERE cancel_requested=1 AND status IN "
		       "('PENDING','QUEUED','DISPATCHING','RUNNING')", "", collect_id, &l);
	for (int i = 0; i < l.n; i++) {
		cancel_parts(srv, l.ids[i]);
		set_run(srv, l.ids[i], "CANCELLED", "cancelled by 'run cancel'");
	}
	l.n = 0;
	gw_store_query(srv->store, "SELECT id FROM runs WHERE status='PENDING' ORDER BY created", "", collect_id, &l);
	for (int i = 0; i < l.n; i++)
		dispatch(srv, l.ids[i]);
}
