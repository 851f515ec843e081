/* Internal to gateway/: the server's sessions, shared by server.c (connections, hello, heartbeats, metrics)
 * and runs.c (splitting runs across workers, assign/accept/refuse/done/cancel). */
#ifndef CM_GATEWAY_INTERNAL_H
#define CM_GATEWAY_INTERNAL_H

#include "gateway/gateway.h"

#define TICK_MS 1000
#define STATUS_MAX 16

struct gw_session {
	struct gw_server *srv;
	struct gw_session *prev, *next;
	struct gw_conn c;
	char peer[64];
	int64_t worker_id; /* 0 until a hello is accepted */
	int64_t token_gen;
	char name[GW_PROTO_STR_MAX];
	char host[GW_PROTO_STR_MAX];
	char status[STATUS_MAX];
	char error[GW_PROTO_STR_MAX];
	uint32_t active;
	uint64_t last_hb;
	uint32_t eff_capacity; /* min(configured, licensed) from the store at hello */
	bool dirty;
	bool drain_sent;
	bool rejected;
	struct cp_timer timeout;
};

struct gw_server {
	struct cp_loop *loop;
	struct gw_store *store;
	SSL_CTX *ctx;
	struct gw_server_opts o;
	int lfd;
	int lockfd;
	uint16_t port;
	struct gw_session *head;
	uint32_t nsessions;
	uint64_t started_ms;    /* wall clock: the time the gateway was down does not count against its workers */
	struct cp_timer tick;
	struct cm_ratelimit rl_proto;
	struct cm_ratelimit rl_accept;
	uint64_t metrics_frames, metrics_samples, metrics_refused;
	uint64_t dataplane_samples, dataplane_refused; /* workers' dataplane samples stored / left out */
	struct cm_ratelimit rl_dataplane;
};

/* Queues a message on a session (finishes and frees e). */
int gw_session_send(struct gw_session *s, struct gw_enc *e);

/* runs.c */
void gw_runs_tick(struct gw_server *srv);
int gw_runs_on_msg(struct gw_server *srv, struct gw_session *s, struct gw_msg *m);
/* hello's "parts" [[run_id, part], ...]: the worker's assigned parts missing from it fail (it restarted); the ones
 * it holds that are no longer live here (cancelled, or lost while it was away) get a cancel. */
int gw_runs_on_hello(struct gw_server *srv, struct gw_session *s, const msgpack_object *held);

/* Reading the parts of a plan the gateway needs for splitting: [test] name and each [group NAME]'s endpoints
 * and role.  Everything else is the worker's business (the plan travels whole in assign). */
#define GW_PLAN_GROUPS_MAX 64
enum gw_role { GW_ROLE_CALLEE, GW_ROLE_BOTH, GW_ROLE_CALLER }; /* dispatch order */
struct gw_plan {
	char name[64];
	uint32_t ngroups;
	struct {
		char name[64];
		uint32_t endpoints;
		enum gw_role role;
	} groups[GW_PLAN_GROUPS_MAX];
	uint64_t endpoints;
};
int gw_plan_read(const char *file, const char *text, struct gw_plan *p, char *err, size_t errlen);
const char *gw_role_name(enum gw_role r);

#endif
