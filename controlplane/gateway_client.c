/* Outbound session to the Worker Gateway: the worker always dials out, never listens for it
 * (docs/gateway-protocol.md).
 *
 *   resolve + TCP connect (non-blocking, GW_CONNECT_TIMEOUT_MS) → TLS (server certificate verified against the
 *   system store or ca_file, SNI, host name or IP checked) → hello → welcome | reject → heartbeats every
 *   heartbeat_s, metrics frames from the outbox, ack/drain/assign/cancel from the gateway.
 *
 * Any failure closes the session and retries with exponential backoff and jitter; a reject's reason is logged
 * as the gateway worded it.  "connected" in /health is true only between welcome and the session's end.
 *
 * The gateway's (or proxy's) name is resolved with c-ares on the loop (sip_dns_resolve, A records), so a slow DNS
 * server never stalls the SIP side or a run in progress; the connect timeout covers the lookup too. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "controlplane/controlplane.h"
#include "controlplane/gw_internal.h"
#include "gateway/gateway.h"
#include "sip/sip.h"

#define GW_CONNECT_TIMEOUT_MS 10000
#define GW_WELCOME_TIMEOUT_MS 15000
#define GW_DRAIN_LINGER_MS 5000
#define GW_STATUS_POLL_MS 500 /* longest wait for the DRAINING heartbeat to leave before exiting anyway */

enum gw_phase { PH_IDLE, PH_RESOLVING, PH_CONNECTING, PH_PROXY, PH_SESSION };

#define GW_PROXY_REPLY_MAX 8192

/* HTTPS_PROXY (or https_proxy): http://[user:password@]host[:port]; NO_PROXY lists host names (or .suffixes)
 * reached directly.  Read from the environment like curl does, since proxies are a property of the host's
 * network rather than of callmeter's configuration. */
struct gw_proxy {
	bool on;
	char host[CFG_HOST_MAX];
	uint16_t port;
	char auth[512]; /* base64 user:password, empty: none */
};

struct cp_gateway {
	struct cp_loop *loop;
	const struct cfg_worker *cfg;
	struct cp_state *st;
	SSL_CTX *ctx;
	enum gw_phase phase;
	int fd;            /* while connecting; the session owns it afterwards */
	struct gw_conn conn;
	bool welcomed;
	uint32_t heartbeat_s;
	uint64_t worker_id;
	uint32_t attempt;  /* consecutive failures */
	struct cp_timer retry;
	struct cp_timer connect_timeout;
	struct cp_timer heartbeat;
	struct cp_timer status_poll;
	enum cp_status sent_status; /* in the last heartbeat */
	struct gw_outbox outbox;
	cp_gateway_drained_cb drained;
	void *drained_arg;
	bool drain_done;
	struct cp_timer drain_linger;
	struct cm_ratelimit rl;
	struct gw_proxy proxy;
	struct cp_parts *parts;     /* runs assigned to this worker */
	struct sip_dns *dns;        /* created at the first name to resolve */
	bool lookup_pending;        /* a lookup's callback is still to come (at most one at a time) */
	char reply[GW_PROXY_REPLY_MAX];
	size_t reply_len;
};

uint32_t cp_backoff_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd)
{
	uint64_t d = min_ms;

	for (uint32_t i = 1; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* Full-range jitter would let a fleet reconnect in lockstep less often, but keep a floor so a gateway
	 * restart is not met by an immediate storm: take off up to a quarter. */
	return (uint32_t)(d - (d / 4) * (rnd % 1001) / 1000);
}

static void gw_close(struct cp_gateway *gw)
{
	cp_timer_stop(gw->loop, &gw->connect_timeout);
	cp_timer_stop(gw->loop, &gw->heartbeat);
	cp_timer_stop(gw->loop, &gw->status_poll);
	if (gw->phase == PH_SESSION) {
		cp_loop_del_fd(gw->loop, gw->conn.fd);
		gw_conn_close(&gw->conn);
	} else if (gw->fd >= 0) {
		cp_loop_del_fd(gw->loop, gw->fd);
		close(gw->fd);
	}
	gw->fd = -1;
	gw->phase = PH_IDLE;
	gw->welcomed = false;
	gw->st->gateway_connected = false;
}

static void gw_schedule_retry(struct cp_gateway *gw, const char *why)
{
	uint32_t rnd = 0, delay;
	bool was_up = gw->welcomed;

	gw_close(gw);
	if (gw->drain_done)
		return;
	gw->attempt++;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)cm_now_us();
	delay = cp_backoff_ms(gw->attempt, gw->cfg->reconnect_min_ms, gw->cfg->reconnect_max_ms, rnd);
	cm_strlcpy(gw->st->gateway_last_error, why, sizeof(gw->st->gateway_last_error));
	if (was_up)
		cm_log(CM_LOG_WARN, "gateway", "session with gateway %s:%u lost: %s; reconnecting in %u.%03u s",
		       gw->cfg->cloud_host, gw->cfg->cloud_port, why, delay / 1000, delay % 1000);
	else
		cm_log(gw->attempt <= 3 || gw->attempt % 10 == 0 ? CM_LOG_WARN : CM_LOG_DEBUG, "gateway",
		       "cannot connect to gateway %s:%u: %s; retry %u in %u.%03u s", gw->cfg->cloud_host,
		       gw->cfg->cloud_port, why, gw->attempt, delay / 1000, delay % 1000);
	cp_timer_start(gw->loop, &gw->retry, delay);
}

static void gw_want(struct cp_gateway *gw)
{
	uint32_t want = gw_conn_wanted(&gw->conn);

	if (want != gw->conn.events && cp_loop_mod_fd(gw->loop, gw->conn.fd, want) == 0)
		gw->conn.events = want;
}

static int gw_send(struct cp_gateway *gw, struct gw_enc *e)
{
	int rc = gw_conn_send_enc(&gw->conn, e);

	gw_want(gw);
	return rc;
}

static enum cp_status session_status(const struct cp_state *st)
{
	enum cp_status s = cp_state_status(st);

	return s == CP_STATUS_OFFLINE ? CP_STATUS_ONLINE : s;
}

static void send_heartbeat(struct cp_gateway *gw)
{
	struct cp_state *st = gw->st;
	enum cp_status s = session_status(st); /* the session is up: OFFLINE only means "no gateway" locally */
	bool err = s == CP_STATUS_ERROR;
	struct gw_enc e;

	if (gw_enc_start(&e, GW_MSG_HEARTBEAT, err ? 4 : 3) < 0)
		return;
	gw->sent_status = s;
	gw_enc_str(&e, "status", cp_status_name(s));
	gw_enc_u64(&e, "active_endpoints", st->active_endpoints);
	gw_enc_u64(&e, "capacity", st->capacity);
	if (err)
		gw_enc_str(&e, "error", st->error[0] ? st->error : "unhealthy");
	gw_send(gw, &e);
}

/* Puts unsent outbox frames on the wire; memory frames only, so the wire queue stays bounded. */
static void send_metrics(struct cp_gateway *gw)
{
	if (!gw->welcomed)
		return;
	for (struct gw_out_frame *f = gw->outbox.head; f; f = f->next) {
		if (f->sent)
			continue;
		if (gw_conn_send(&gw->conn, f->data, f->len) < 0)
			break;
		f->sent = true;
	}
	gw_want(gw);
}

/* A status change (the dataplane port going down or up) is told at once, not at the next heartbeat. */
static void on_status_poll(struct cp_loop *loop, void *arg)
{
	struct cp_gateway *gw = arg;

	if (!gw->welcomed)
		return;
	if (session_status(gw->st) != gw->sent_status) {
		send_heartbeat(gw);
		cp_timer_start(loop, &gw->heartbeat, (uint64_t)gw->heartbeat_s * 1000);
	}
	cp_timer_start(loop, &gw->status_poll, GW_STATUS_POLL_MS);
}

static void on_heartbeat_timer(struct cp_loop *loop, void *arg)
{
	struct cp_gateway *gw = arg;

	send_heartbeat(gw);
	cp_timer_start(loop, &gw->heartbeat, (uint64_t)gw->heartbeat_s * 1000);
}

/* A drain completes once no part is in hand and the DRAINING heartbeat (and every metrics frame, within the
 * linger time) has gone out. */
static void finish_drain(struct cp_gateway *gw)
{
	if (gw->drain_done)
		return;
	gw->drain_done = true;
	cp_timer_stop(gw->loop, &gw->drain_linger);
	cm_log(CM_LOG_INFO, "gateway", "drained: no runs in hand, closing the gateway session");
	gw_close(gw);
	cp_timer_stop(gw->loop, &gw->retry);
	if (gw->drained)
		gw->drained(gw->drained_arg);
}

static void on_drain_linger(struct cp_loop *loop, void *arg)
{
	(void)loop;
	finish_drain(arg);
}

static void start_drain(struct cp_gateway *gw, const char *why)
{
	if (!gw->st->draining)
		cm_log(CM_LOG_INFO, "gateway", "draining (%s): accepting no new runs", why);
	gw->st->draining = true;
	if (cp_parts_live(gw->parts)) {
		if (gw->welcomed)
			send_heartbeat(gw); /* the parts in hand finish first: cp_gateway_parts_idle */
		return;
	}
	if (gw->welcomed) {
		/* finished in on_session_io once the heartbeat is out (never from here: this may run inside the
		 * session's own message callback), or by the linger timer */
		send_heartbeat(gw);
		cp_timer_start(gw->loop, &gw->drain_linger, GW_DRAIN_LINGER_MS);
		gw_want(gw);
	} else {
		finish_drain(gw);
	}
}

static int on_welcome(struct cp_gateway *gw, struct gw_msg *m)
{
	char name[GW_PROTO_STR_MAX] = "";
	uint64_t hb = 0, id = 0;

	if (gw->welcomed || gw_msg_u64(m, "heartbeat_s", &hb) < 0 || hb == 0 || hb > 3600 ||
	    gw_msg_u64(m, "worker_id", &id) < 0)
		return -EPROTO;
	gw_msg_str(m, "name", name, sizeof(name));
	gw->welcomed = true;
	gw->heartbeat_s = (uint32_t)hb;
	cp_timer_stop(gw->loop, &gw->connect_timeout);
	{
		/* heartbeats are data: if none is acknowledged by the gateway's host for three intervals (at least 30 s)
		 * the kernel fails the socket, so a vanished gateway is noticed even without a RST */
		unsigned int ut = (unsigned int)(3 * hb < 30 ? 30 : 3 * hb) * 1000u;
		setsockopt(gw->conn.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	}
	gw->worker_id = id;
	gw->attempt = 0;
	gw->st->gateway_connected = true;
	gw->st->gateway_last_error[0] = '\0';
	cm_log(CM_LOG_INFO, "gateway", "session up with gateway %s:%u as worker '%s' (id %llu); heartbeat every %u s",
	       gw->cfg->cloud_host, gw->cfg->cloud_port, name, (unsigned long long)id, gw->heartbeat_s);
	gw_outbox_rewind(&gw->outbox);
	on_heartbeat_timer(gw->loop, gw);
	cp_timer_start(gw->loop, &gw->status_poll, GW_STATUS_POLL_MS);
	send_metrics(gw);
	cp_parts_connected(gw->parts);
	if (gw->st->draining)
		start_drain(gw, "resumed after reconnect");
	return 0;
}

static int on_reject(struct cp_gateway *gw, struct gw_msg *m)
{
	char code[64] = "?", reason[GW_PROTO_STR_MAX] = "no reason given", why[GW_PROTO_STR_MAX + 96];

	gw_msg_str(m, "code", code, sizeof(code));
	gw_msg_str(m, "reason", reason, sizeof(reason));
	cm_log(CM_LOG_ERROR, "gateway", "gateway rejected this worker (%s): %s", code, reason);
	snprintf(why, sizeof(why), "rejected (%s): %s", code, reason);
	cm_strlcpy(gw->st->gateway_last_error, why, sizeof(gw->st->gateway_last_error));
	return -ECONNREFUSED;
}

static int send_refuse(struct cp_gateway *gw, const char *run_id, uint64_t part, const char *reason)
{
	struct gw_enc e;

	cm_log(CM_LOG_WARN, "gateway", "refusing run '%s' part %llu: %s", run_id, (unsigned long long)part, reason);
	if (gw_enc_start(&e, GW_MSG_REFUSE, 3) < 0)
		return -ENOMEM;
	gw_enc_str(&e, "run_id", run_id);
	gw_enc_u64(&e, "part", part);
	gw_enc_str(&e, "reason", reason);
	return gw_send(gw, &e);
}

static int obj_u64(const msgpack_object *o, uint64_t *out)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -EPROTO;
	*out = o->via.u64;
	return 0;
}

static int on_assign(struct cp_gateway *gw, struct gw_msg *m)
{
	char run_id[GW_PROTO_STR_MAX] = "", group[CFG_NAME_MAX], why[CFG_ERR_MAX + 64];
	const msgpack_object *plan = gw_obj_get(m->map, "plan"), *eps = gw_obj_get(m->map, "endpoints");
	struct cp_part_assign a = { 0 };
	char *text;
	int rc;

	if (gw_msg_str(m, "run_id", run_id, sizeof(run_id)) < 0 || gw_msg_u64(m, "part", &a.part) < 0 ||
	    gw_msg_str(m, "group", group, sizeof(group)) < 0 || !plan || plan->type != MSGPACK_OBJECT_STR || !eps ||
	    eps->type != MSGPACK_OBJECT_ARRAY || eps->via.array.size != 2 ||
	    obj_u64(&eps->via.array.ptr[0], &a.first) < 0 || obj_u64(&eps->via.array.ptr[1], &a.count) < 0)
		return -EPROTO;
	/* as `run` refuses such a plan file: a NUL would silently cut the plan short */
	if (memchr(plan->via.str.ptr, '\0', plan->via.str.size))
		return send_refuse(gw, run_id, a.part, "bad plan: a NUL byte: not a text plan");
	text = strndup(plan->via.str.ptr, plan->via.str.size);
	if (!text)
		return send_refuse(gw, run_id, a.part, "out of memory");
	a.run_id = run_id;
	a.plan = text;
	a.group = group;
	rc = cp_parts_assign(gw->parts, &a, why, sizeof(why));
	free(text);
	if (rc < 0)
		return send_refuse(gw, run_id, a.part, why);
	return 0;
}

/* start {run_id, targets: [[group, first, count, "ip:port"], ...]} */
static int on_start(struct cp_gateway *gw, struct gw_msg *m)
{
	static struct cfg_fleet_remote remote[CFG_FLEET_REMOTE_MAX];
	const msgpack_object *t = gw_obj_get(m->map, "targets");
	char run_id[GW_PROTO_STR_MAX];
	uint32_t n = 0;

	if (gw_msg_str(m, "run_id", run_id, sizeof(run_id)) < 0 || !t || t->type != MSGPACK_OBJECT_ARRAY ||
	    t->via.array.size > CFG_FLEET_REMOTE_MAX)
		return -EPROTO;
	for (uint32_t i = 0; i < t->via.array.size; i++) {
		const msgpack_object *e = &t->via.array.ptr[i], *v;
		struct cfg_fleet_remote *r = &remote[n];
		const struct cfg_plan *plan;
		char addr[80], group[CFG_NAME_MAX];
		uint64_t first, count;

		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4)
			return -EPROTO;
		v = e->via.array.ptr;
		if (v[0].type != MSGPACK_OBJECT_STR || v[0].via.str.size >= sizeof(group) || obj_u64(&v[1], &first) < 0 ||
		    obj_u64(&v[2], &count) < 0 || v[3].type != MSGPACK_OBJECT_STR || v[3].via.str.size >= sizeof(addr) ||
		    first > UINT32_MAX || count > UINT32_MAX)
			return -EPROTO;
		memcpy(group, v[0].via.str.ptr, v[0].via.str.size);
		group[v[0].via.str.size] = '\0';
		memcpy(addr, v[3].via.str.ptr, v[3].via.str.size);
		addr[v[3].via.str.size] = '\0';
		plan = cp_parts_plan(gw->parts, run_id);
		if (!plan)
			break; /* no part of this run here (any more) */
		for (r->group = 0; r->group < plan->ngroups && strcmp(plan->groups[r->group].name, group); r->group++)
			;
		if (r->group == plan->ngroups ||
		    cfg_parse_hostport(addr, 5060, r->ip, sizeof(r->ip), &r->port) < 0) {
			cm_log_rl(&gw->rl, CM_LOG_WARN, "gateway", "start for run '%s': bad target %s %s", run_id, group,
				  addr);
			continue;
		}
		r->first = (uint32_t)first;
		r->count = (uint32_t)count;
		n++;
	}
	if (cp_parts_start(gw->parts, run_id, remote, n) == 0)
		cm_log(CM_LOG_INFO, "gateway", "start for run '%s': no such run here", run_id);
	return 0;
}

static int on_msg(void *arg, struct gw_msg *m)
{
	struct cp_gateway *gw = arg;
	char run_id[GW_PROTO_STR_MAX];
	uint64_t seq;

	if (!gw->welcomed && m->type != GW_MSG_WELCOME && m->type != GW_MSG_REJECT)
		return -EPROTO;
	switch (m->type) {
	case GW_MSG_WELCOME:
		return on_welcome(gw, m);
	case GW_MSG_REJECT:
		return on_reject(gw, m);
	case GW_MSG_ACK:
		if (gw_msg_u64(m, "seq", &seq) < 0)
			return -EPROTO;
		if (gw_msg_str(m, "error", run_id, sizeof(run_id)) == 0) {
			gw->outbox.refused++;
			cm_log_rl(&gw->rl, CM_LOG_ERROR, "gateway", "metrics frame %llu refused by the gateway: %s",
				  (unsigned long long)seq, run_id);
		}
		gw_outbox_ack(&gw->outbox, seq);
		send_metrics(gw); /* acks may have brought spilled frames back into memory */
		return 0;
	case GW_MSG_DRAIN:
		start_drain(gw, "asked by the gateway");
		return 0;
	case GW_MSG_ASSIGN:
		return on_assign(gw, m);
	case GW_MSG_START:
		return on_start(gw, m);
	case GW_MSG_RELEASE:
		if (gw_msg_str(m, "run_id", run_id, sizeof(run_id)) < 0)
			return -EPROTO;
		cp_parts_release(gw->parts, run_id);
		return 0;
	case GW_MSG_CANCEL:
		if (gw_msg_str(m, "run_id", run_id, sizeof(run_id)) < 0)
			return -EPROTO;
		if (cp_parts_cancel(gw->parts, run_id) == 0)
			cm_log(CM_LOG_INFO, "gateway", "cancel for run '%s': no such run here", run_id);
		return 0;
	case GW_MSG_UNKNOWN:
		cm_log_rl(&gw->rl, CM_LOG_INFO, "gateway", "ignoring unknown message '%s' from the gateway", m->t);
		return 0;
	default:
		return -EPROTO;
	}
}

static void on_session_io(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct cp_gateway *gw = arg;
	char why[256];
	int rc;

	(void)loop;
	(void)fd;
	(void)events;
	rc = gw_conn_io(&gw->conn, on_msg, gw, why, sizeof(why));
	if (rc == 0) {
		gw_want(gw);
		if (gw->st->draining && gw->welcomed && gw->conn.out_off == gw->conn.out_len &&
		    gw_outbox_pending(&gw->outbox) == 0 && cp_timer_armed(&gw->drain_linger))
			finish_drain(gw);
		return;
	}
	if (rc == -ECONNREFUSED) {
		char last[sizeof(gw->st->gateway_last_error)];
		cm_strlcpy(last, gw->st->gateway_last_error, sizeof(last));
		gw_schedule_retry(gw, last);
		return;
	}
	if (rc == -EPERM)
		cm_log(CM_LOG_ERROR, "gateway", "refusing gateway %s:%u: %s", gw->cfg->cloud_host, gw->cfg->cloud_port,
		       why);
	gw_schedule_retry(gw, why[0] ? why : "session closed");
}

static void gw_on_connected(struct cp_gateway *gw)
{
	struct gw_enc e;
	char host[256] = "";
	int fd = gw->fd, one = 1;

	cp_loop_del_fd(gw->loop, fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	gw->fd = -1;
	if (gw_conn_init(&gw->conn, gw->ctx, fd, false, gw->cfg->cloud_host) < 0) {
		gw_schedule_retry(gw, "cannot set up TLS");
		return;
	}
	gw->phase = PH_SESSION;
	gethostname(host, sizeof(host) - 1);
	/* The hello is queued now: OpenSSL runs the handshake first, and nothing leaves unless the server's
	 * certificate verified. */
	if (gw_enc_start(&e, GW_MSG_HELLO, 7) < 0) {
		gw_schedule_retry(gw, "out of memory");
		return;
	}
	gw_enc_str(&e, "token", gw->cfg->token);
	gw_enc_str(&e, "name", gw->cfg->name);
	gw_enc_u64(&e, "version", GW_PROTO_VERSION);
	gw_enc_u64(&e, "capacity", gw->st->capacity);
	gw_enc_str(&e, "host", host);
	gw_enc_key(&e, "media");
	msgpack_pack_map(&e.pk, 2);
	msgpack_pack_str_with_body(&e.pk, "ports", 5);
	msgpack_pack_uint32(&e.pk, gw->st->port_name[0] ? 1 : 0);
	msgpack_pack_str_with_body(&e.pk, "speed", 5);
	msgpack_pack_uint32(&e.pk, gw->st->link_speed_mbps);
	/* the parts this process holds: the gateway fails any other it thinks is here (a restarted worker) */
	gw_enc_key(&e, "parts");
	cp_parts_pack(gw->parts, &e.pk);
	if (gw_conn_send_enc(&gw->conn, &e) < 0 ||
	    cp_loop_add_fd(gw->loop, gw->conn.fd, EPOLLIN | EPOLLOUT, on_session_io, gw) < 0) {
		gw_schedule_retry(gw, "cannot start the session");
		return;
	}
	gw->conn.events = EPOLLIN | EPOLLOUT;
	cp_timer_start(gw->loop, &gw->connect_timeout, GW_WELCOME_TIMEOUT_MS);
}

static bool no_proxy_for(const char *host)
{
	const char *np = getenv("NO_PROXY");
	size_t hl = strlen(host);

	if (!np || !*np)
		np = getenv("no_proxy");
	for (const char *p = np; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		while (len && *p == ' ')
			p++, len--;
		if (len == 1 && *p == '*')
			return true;
		if (len && len <= hl && strncasecmp(host + hl - len, p, len) == 0 &&
		    (len == hl || p[0] == '.' || host[hl - len - 1] == '.'))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

static int proxy_setup(struct gw_proxy *px, const char *target_host)
{
	const char *v = getenv("HTTPS_PROXY"), *at, *hp;
	char userinfo[384];

	memset(px, 0, sizeof(*px));
	if (!v || !*v)
		v = getenv("https_proxy");
	if (!v || !*v || no_proxy_for(target_host))
		return 0;
	hp = v;
	if (strncmp(hp, "http://", 7) == 0)
		hp += 7;
	else if (strstr(hp, "://")) {
		cm_log(CM_LOG_ERROR, "gateway", "HTTPS_PROXY: only http:// proxies (CONNECT) are supported");
		return -EINVAL;
	}
	at = strrchr(hp, '@');
	if (at) {
		size_t ul = (size_t)(at - hp);
		if (ul >= sizeof(userinfo)) {
			cm_log(CM_LOG_ERROR, "gateway", "HTTPS_PROXY: user information too long");
			return -EINVAL;
		}
		memcpy(userinfo, hp, ul);
		userinfo[ul] = '\0';
		EVP_EncodeBlock((unsigned char *)px->auth, (const unsigned char *)userinfo, (int)ul);
		OPENSSL_cleanse(userinfo, sizeof(userinfo));
		hp = at + 1;
	}
	if (cfg_parse_hostport(hp, 3128, px->host, sizeof(px->host), &px->port) < 0) {
		cm_log(CM_LOG_ERROR, "gateway", "HTTPS_PROXY: expected http://[user:password@]host:port");
		return -EINVAL;
	}
	px->on = true;
	return 0;
}

static void gw_on_connected(struct cp_gateway *gw);

/* The proxy's answer to CONNECT: "HTTP/1.x 200 ..." then headers up to an empty line (RFC 9110 §9.3.6).  Read
 * one byte at a time so that nothing after the empty line (the server's TLS bytes) is consumed here. */
static void gw_on_proxy_io(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct cp_gateway *gw = arg;
	char why[512];
	int code = 0;

	(void)loop;
	(void)events;
	while (gw->reply_len < sizeof(gw->reply) - 1) {
		ssize_t n = read(fd, gw->reply + gw->reply_len, 1);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			gw_schedule_retry(gw, "proxy closed the connection during CONNECT");
			return;
		}
		gw->reply_len++;
		gw->reply[gw->reply_len] = '\0';
		if (gw->reply_len >= 4 && memcmp(gw->reply + gw->reply_len - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	if (gw->reply_len >= sizeof(gw->reply) - 1) {
		gw_schedule_retry(gw, "proxy reply to CONNECT too long");
		return;
	}
	if (sscanf(gw->reply, "HTTP/1.%*d %d", &code) != 1 || code != 200) {
		size_t l = strcspn(gw->reply, "\r\n");
		snprintf(why, sizeof(why), "proxy %s:%u refused CONNECT: %.*s", gw->proxy.host, gw->proxy.port,
			 (int)(l > 120 ? 120 : l), gw->reply);
		gw_schedule_retry(gw, why);
		return;
	}
	cm_log(CM_LOG_DEBUG, "gateway", "proxy %s:%u: tunnel to %s:%u open", gw->proxy.host, gw->proxy.port,
	       gw->cfg->cloud_host, gw->cfg->cloud_port);
	cp_timer_stop(gw->loop, &gw->connect_timeout);
	gw_on_connected(gw);
}

static void gw_send_connect(struct cp_gateway *gw)
{
	char req[1024], target[CFG_HOST_MAX + 16];
	bool v6 = strchr(gw->cfg->cloud_host, ':') != NULL;
	int n;

	snprintf(target, sizeof(target), "%s%s%s:%u", v6 ? "[" : "", gw->cfg->cloud_host, v6 ? "]" : "",
		 gw->cfg->cloud_port);
	n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%sUser-Agent: callmeter-worker/%s\r\n\r\n",
		     target, target, gw->proxy.auth[0] ? "Proxy-Authorization: Basic " : "", gw->proxy.auth,
		     gw->proxy.auth[0] ? "\r\n" : "", CM_VERSION);
	/* a fresh connection's send buffer takes a request this small whole */
	if (n <= 0 || (size_t)n >= sizeof(req) || write(gw->fd, req, (size_t)n) != n) {
		OPENSSL_cleanse(req, sizeof(req));
		gw_schedule_retry(gw, "cannot send CONNECT to the proxy");
		return;
	}
	OPENSSL_cleanse(req, sizeof(req));
	gw->phase = PH_PROXY;
	gw->reply_len = 0;
	cp_loop_del_fd(gw->loop, gw->fd);
	if (cp_loop_add_fd(gw->loop, gw->fd, EPOLLIN, gw_on_proxy_io, gw) < 0)
		gw_schedule_retry(gw, "event loop refused the socket");
}

static void gw_on_connect_io(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct cp_gateway *gw = arg;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	(void)loop;
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		gw_schedule_retry(gw, strerror(soerr));
		return;
	}
	if (gw->proxy.on) {
		gw_send_connect(gw); /* the connect timeout keeps running until the tunnel is open */
		return;
	}
	cp_timer_stop(gw->loop, &gw->connect_timeout);
	gw_on_connected(gw);
}

static void gw_on_connect_timeout(struct cp_loop *loop, void *arg)
{
	struct cp_gateway *gw = arg;

	(void)loop;
	if (gw->phase == PH_SESSION && gw->welcomed)
		return;
	gw_schedule_retry(gw, gw->phase == PH_SESSION	  ? "no welcome from the gateway in time"
			      : gw->phase == PH_RESOLVING ? "name lookup timed out"
							  : "connection timed out");
}

static void gw_on_resolved(void *arg, const struct sip_dns_result *r)
{
	struct cp_gateway *gw = arg;
	char why[200];
	int rc;

	gw->lookup_pending = false;
	if (gw->phase != PH_RESOLVING) /* timed out (or stopped) meanwhile: the retry starts over */
		return;
	if (r->status < 0 || r->n == 0) {
		snprintf(why, sizeof(why), "cannot resolve %shost %s: %s", gw->proxy.on ? "proxy " : "",
			 gw->proxy.on ? gw->proxy.host : gw->cfg->cloud_host, r->error ? r->error : "no address");
		gw_schedule_retry(gw, why);
		return;
	}
	gw->fd = socket(r->t[0].addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (gw->fd < 0) {
		gw_schedule_retry(gw, strerror(errno));
		return;
	}
	gw->phase = PH_CONNECTING;
	rc = connect(gw->fd, (const struct sockaddr *)&r->t[0].addr,
		     r->t[0].addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	if (rc < 0 && errno != EINPROGRESS) {
		gw_schedule_retry(gw, strerror(errno));
		return;
	}
	if (cp_loop_add_fd(gw->loop, gw->fd, EPOLLOUT, gw_on_connect_io, gw) < 0)
		gw_schedule_retry(gw, "event loop refused the socket");
}

static void gw_connect(struct cp_loop *loop, void *arg)
{
	struct cp_gateway *gw = arg;
	const char *host = gw->proxy.on ? gw->proxy.host : gw->cfg->cloud_host;
	uint16_t port = gw->proxy.on ? gw->proxy.port : gw->cfg->cloud_port;
	int rc;

	gw->st->gateway_attempts++;
	gw->phase = PH_RESOLVING;
	cp_timer_start(gw->loop, &gw->connect_timeout, GW_CONNECT_TIMEOUT_MS);
	if (gw->lookup_pending) /* the last attempt's lookup is still out: its answer serves this one */
		return;
	if (!gw->dns)
		gw->dns = sip_dns_new(loop, getenv("CALLMETER_DNS_SERVERS"));
	gw->lookup_pending = true;
	rc = sip_dns_resolve(gw->dns, host, port, SIP_TP_TCP, AF_INET, gw_on_resolved, gw);
	if (rc < 0) {
		char why[160];

		gw->lookup_pending = false;
		snprintf(why, sizeof(why), "cannot resolve %shost %s: %s", gw->proxy.on ? "proxy " : "", host,
			 strerror(-rc));
		gw_schedule_retry(gw, why);
	}
}

struct cp_gateway *cp_gateway_start(struct cp_loop *loop, const struct cfg_worker *cfg, struct cp_state *st)
{
	struct cp_gateway *gw = calloc(1, sizeof(*gw));
	char err[512];

	if (!gw)
		return NULL;
	gw->ctx = gw_tls_client_ctx(cfg->ca_file, err, sizeof(err));
	if (!gw->ctx) {
		cm_log(CM_LOG_ERROR, "gateway", "%s", err);
		free(gw);
		return NULL;
	}
	if (proxy_setup(&gw->proxy, cfg->cloud_host) < 0) {
		SSL_CTX_free(gw->ctx);
		free(gw);
		return NULL;
	}
	gw->loop = loop;
	gw->cfg = cfg;
	gw->st = st;
	gw->fd = -1;
	gw->rl = (struct cm_ratelimit)CM_RATELIMIT_INIT(10000, 5);
	gw_outbox_init(&gw->outbox, 0);
	cp_timer_init(&gw->retry, gw_connect, gw);
	cp_timer_init(&gw->connect_timeout, gw_on_connect_timeout, gw);
	cp_timer_init(&gw->heartbeat, on_heartbeat_timer, gw);
	cp_timer_init(&gw->status_poll, on_status_poll, gw);
	cp_timer_init(&gw->drain_linger, on_drain_linger, gw);
	gw->parts = cp_parts_new(loop, cfg, st, gw);
	if (!gw->parts) {
		SSL_CTX_free(gw->ctx);
		free(gw);
		return NULL;
	}
	st->capacity = cfg->media.max_flows / 2; /* endpoints, each with an outgoing and an incoming leg at most */
	cm_log(CM_LOG_INFO, "gateway", "daemon mode: connecting out to gateway %s:%u as '%s' (TLS, CA %s)%s%s%s%u",
	       cfg->cloud_host, cfg->cloud_port, cfg->name, cfg->ca_file[0] ? cfg->ca_file : "system store",
	       gw->proxy.on ? " through proxy " : "", gw->proxy.on ? gw->proxy.host : "", gw->proxy.on ? ":" : "",
	       gw->proxy.on ? gw->proxy.port : 0);
	cp_timer_start(loop, &gw->retry, 0);
	return gw;
}

void cp_gateway_stop(struct cp_gateway *gw)
{
	if (!gw)
		return;
	gw_close(gw);
	cp_timer_stop(gw->loop, &gw->retry);
	cp_timer_stop(gw->loop, &gw->drain_linger);
	cp_parts_free(gw->parts);
	sip_dns_free(gw->dns); /* a pending lookup ends without its callback */
	gw_outbox_free(&gw->outbox);
	SSL_CTX_free(gw->ctx);
	free(gw);
}

void cp_gateway_on_drained(struct cp_gateway *gw, cp_gateway_drained_cb cb, void *arg)
{
	gw->drained = cb;
	gw->drained_arg = arg;
}

void cp_gateway_drain(struct cp_gateway *gw, const char *why)
{
	start_drain(gw, why);
}

int cp_gateway_metrics(struct cp_gateway *gw, const char *run_id, uint64_t part, uint64_t t, const void *samples,
		       size_t len, const void *dp, size_t dplen)
{
	struct gw_enc e;
	int rc;

	if (!run_id[0] || strlen(run_id) >= GW_PROTO_STR_MAX)
		return -EINVAL;
	if (gw_enc_start(&e, GW_MSG_METRICS, dp && dplen ? 6 : 5) < 0)
		return -ENOMEM;
	gw_enc_str(&e, "run_id", run_id);
	gw_enc_u64(&e, "part", part);
	gw_enc_u64(&e, "seq", gw->outbox.next_seq);
	gw_enc_u64(&e, "ts", t);
	gw_enc_key(&e, "samples");
	if (samples && len)
		msgpack_sbuffer_write(&e.sb, samples, len);
	else
		msgpack_pack_array(&e.pk, 0);
	if (dp && dplen) {
		gw_enc_key(&e, "dataplane");
		msgpack_sbuffer_write(&e.sb, dp, dplen);
	}
	rc = gw_enc_finish(&e);
	if (rc == 0)
		rc = gw_outbox_push(&gw->outbox, (const uint8_t *)e.sb.data, e.sb.size);
	gw_enc_free(&e);
	if (rc == 0 && gw->phase == PH_SESSION)
		send_metrics(gw);
	return rc;
}

void cp_gateway_outbox_limit(struct cp_gateway *gw, size_t bytes)
{
	gw->outbox.mem_limit = bytes;
}

void cp_gateway_stats(const struct cp_gateway *gw, struct cp_gateway_stats *s)
{
	s->queued = gw->outbox.queued;
	s->acked = gw->outbox.acked;
	s->pending = gw_outbox_pending(&gw->outbox);
	s->spilled = gw->outbox.spilled_total;
	s->resent = gw->outbox.resent;
	s->refused = gw->outbox.refused;
	s->in_memory_bytes = gw->outbox.mem_bytes;
	s->worker_id = gw->worker_id;
}

/* ---- part messages ------------------------------------------------------------------------------------------ */

static int part_send(struct cp_gateway *gw, struct gw_enc *e)
{
	int rc;

	if (!gw->welcomed) {
		gw_enc_free(e);
		return -ENOTCONN;
	}
	rc = gw_send(gw, e);
	return rc < 0 ? rc : 0;
}

int cp_gateway_part_accept(struct cp_gateway *gw, const char *run_id, uint64_t part, const char *sip)
{
	struct gw_enc e;

	if (gw_enc_start(&e, GW_MSG_ACCEPT, 3) < 0)
		return -ENOMEM;
	gw_enc_str(&e, "run_id", run_id);
	gw_enc_u64(&e, "part", part);
	gw_enc_str(&e, "sip", sip);
	return part_send(gw, &e);
}

int cp_gateway_part_calls_done(struct cp_gateway *gw, const char *run_id, uint64_t part)
{
	struct gw_enc e;

	if (gw_enc_start(&e, GW_MSG_CALLS_DONE, 2) < 0)
		return -ENOMEM;
	gw_enc_str(&e, "run_id", run_id);
	gw_enc_u64(&e, "part", part);
	return part_send(gw, &e);
}

static void pack_num(struct gw_enc *e, const char *key, double v)
{
	gw_enc_key(e, key);
	if (v >= 0 && v < 1e19 && v == (double)(uint64_t)v)
		msgpack_pack_uint64(&e->pk, (uint64_t)v);
	else
		msgpack_pack_double(&e->pk, v);
}

/* done: outcomes by name and the report's counters; sums are sent instead of averages, so that the gateway's
 * sum over the parts is the run's (docs/gateway-protocol.md lists the keys). */
int cp_gateway_part_done(struct cp_gateway *gw, const char *run_id, uint64_t part, const struct cp_report *r,
			 const char *reason)
{
	uint64_t sent = 0, received = 0;
	uint32_t n = 0;
	struct gw_enc e;

	if (!gw->welcomed)
		return -ENOTCONN;
	/* the part's endpoints are no longer active: the gateway learns it before the run can end */
	send_heartbeat(gw);
	for (size_t i = 0; i < r->nflows; i++) {
		sent += r->flows[i].packets_sent;
		received += r->flows[i].packets_received;
	}
	if (gw_enc_start(&e, GW_MSG_DONE, 8) < 0)
		return -ENOMEM;
	gw_enc_str(&e, "run_id", run_id);
	gw_enc_u64(&e, "part", part);
	gw_enc_str(&e, "outcome", strcmp(cp_report_run_outcome(r), "COMPLETED") == 0 ? "completed" : "failed");
	gw_enc_str(&e, "reason", reason);
	for (int o = 0; o < CP_OUT_COUNT; o++)
		n += r->outcomes[o] != 0;
	gw_enc_key(&e, "outcomes");
	msgpack_pack_map(&e.pk, n);
	for (int o = 0; o < CP_OUT_COUNT; o++)
		if (r->outcomes[o])
			pack_num(&e, cp_outcome_name((enum cp_outcome)o), r->outcomes[o]);
	gw_enc_key(&e, "summary");
	msgpack_pack_map(&e.pk, 24);
	pack_num(&e, "endpoints", r->endpoints_total);
	pack_num(&e, "registrations_attempted", r->reg_attempted);
	pack_num(&e, "registrations_succeeded", r->reg_succeeded);
	pack_num(&e, "registrations_failed", r->reg_failed);
	pack_num(&e, "registrations_refreshes", r->reg_refreshes);
	pack_num(&e, "registrations_refresh_failed", r->reg_refresh_failed);
	pack_num(&e, "calls_attempted", r->calls_attempted);
	pack_num(&e, "calls_answered", r->calls_answered);
	pack_num(&e, "calls_failed", r->calls_failed);
	pack_num(&e, "calls_received", r->calls_received);
	pack_num(&e, "streams", r->quality_n);
	pack_num(&e, "mos_sum", r->mos_sum);
	pack_num(&e, "r_factor_sum", r->r_sum);
	pack_num(&e, "jitter_ms_sum", r->jitter_sum);
	pack_num(&e, "packets_sent", (double)sent);
	pack_num(&e, "packets_received", (double)received);
	pack_num(&e, "packets_lost", (double)r->packets_lost);
	pack_num(&e, "holds_held", r->holds);
	pack_num(&e, "holds_resumed", r->resumes);
	pack_num(&e, "holds_failed", r->hold_failures);
	pack_num(&e, "session_refreshes_sent", r->session_refreshes);
	pack_num(&e, "session_refreshes_received", r->session_refreshes_received);
	pack_num(&e, "session_expired", r->session_expired);
	pack_num(&e, "session_422", r->session_422);
	/* the dataplane's figures over the part, as the standalone summary's `dataplane` and `port_xstats` have them
	 * (the worker's port: shared with whatever else it ran meanwhile) */
	gw_enc_key(&e, "dataplane");
	msgpack_pack_map(&e.pk, r->ndp);
	for (unsigned i = 0; i < r->ndp; i++) {
		gw_enc_key(&e, r->dp[i].name);
		msgpack_pack_uint64(&e.pk, r->dp[i].value);
	}
	gw_enc_key(&e, "port_xstats");
	msgpack_pack_map(&e.pk, (uint32_t)r->nxstats);
	for (size_t i = 0; i < r->nxstats; i++) {
		gw_enc_key(&e, r->xstats[i].name);
		msgpack_pack_uint64(&e.pk, r->xstats[i].value);
	}
	return part_send(gw, &e);
}

void cp_gateway_parts_idle(struct cp_gateway *gw)
{
	if (gw->st->draining)
		start_drain(gw, "the last run in hand is done");
}
