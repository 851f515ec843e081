/* The gateway's TLS listener and worker sessions, all on one cp_loop.
 *
 * A session starts unauthenticated with GW_HELLO_TIMEOUT_MS to present a hello; the token decides which worker
 * it is (one live session per worker).  After welcome, each heartbeat re-arms a timer of timeout_s; when it
 * fires, or the connection drops, the worker is OFFLINE.  Statuses go to the store in one transaction a
 * second.  Commands run by other processes (`worker regenerate|delete|drain`) are noticed through SQLite's
 * data_version on the same tick: a regenerated or deleted worker's session is dropped at once, a drain is
 * sent to it. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "gateway/gateway.h"
#include "gateway/gateway_internal.h"

static void session_end(struct gw_session *s, const char *why);

static void session_want(struct gw_session *s)
{
	uint32_t want = gw_conn_wanted(&s->c);

	if (want != s->c.events && cp_loop_mod_fd(s->srv->loop, s->c.fd, want) == 0)
		s->c.events = want;
}

int gw_session_send(struct gw_session *s, struct gw_enc *e)
{
	int rc = gw_conn_send_enc(&s->c, e);

	session_want(s);
	return rc;
}

static void send_reject(struct gw_session *s, const char *code, const char *reason)
{
	struct gw_enc e;

	cm_log(CM_LOG_WARN, "gateway", "session from %s rejected (%s): %s", s->peer, code, reason);
	if (gw_enc_start(&e, GW_MSG_REJECT, 2) == 0) {
		gw_enc_str(&e, "code", code);
		gw_enc_str(&e, "reason", reason);
		gw_session_send(s, &e);
	}
	s->rejected = true;
	s->c.closing = true;
}

static struct gw_session *find_worker(struct gw_server *srv, int64_t id)
{
	for (struct gw_session *s = srv->head; s; s = s->next)
		if (s->worker_id == id)
			return s;
	return NULL;
}

static void set_status(struct gw_session *s, const char *status, const char *error)
{
	if (strcmp(s->status, status) != 0)
		cm_log(CM_LOG_INFO, "gateway", "worker '%s' %s -> %s%s%s", s->name, s->status[0] ? s->status : "(new)",
		       status, error && error[0] ? ": " : "", error ? error : "");
	cm_strlcpy(s->status, status, sizeof(s->status));
	cm_strlcpy(s->error, error ? error : "", sizeof(s->error));
	s->dirty = true;
}

static void send_drain(struct gw_session *s)
{
	struct gw_enc e;

	if (gw_enc_start(&e, GW_MSG_DRAIN, 0) == 0 && gw_session_send(s, &e) == 0) {
		s->drain_sent = true;
		cm_log(CM_LOG_INFO, "gateway", "drain sent to worker '%s'", s->name);
	}
}

static int on_hello(struct gw_session *s, struct gw_msg *m)
{
	struct gw_server *srv = s->srv;
	char token[GW_TOKEN_LEN + 8], reason[2 * GW_PROTO_STR_MAX];
	struct gw_worker w;
	struct gw_session *other;
	uint64_t version = 0, own = 0;
	struct gw_enc e;
	int rc;

	if (s->worker_id) {
		send_reject(s, GW_REJECT_PROTOCOL, "second hello on one session");
		return 0;
	}
	rc = gw_msg_u64(m, "version", &version);
	if (rc < 0) {
		send_reject(s, GW_REJECT_PROTOCOL, "hello without a numeric \"version\"");
		return 0;
	}
	if (version != GW_PROTO_VERSION) {
		snprintf(reason, sizeof(reason), "protocol version %llu is not supported; this gateway speaks %d",
			 (unsigned long long)version, GW_PROTO_VERSION);
		send_reject(s, GW_REJECT_VERSION, reason);
		return 0;
	}
	rc = gw_msg_str(m, "token", token, sizeof(token));
	if (rc == -ENOENT || rc == -EPROTO) {
		send_reject(s, GW_REJECT_BAD_TOKEN, "hello without a string \"token\"");
		return 0;
	}
	switch (rc < 0 ? GW_AUTH_BAD_FORMAT : gw_store_auth(srv->store, token, &w)) {
	case GW_AUTH_BAD_FORMAT:
		send_reject(s, GW_REJECT_BAD_TOKEN,
			    "malformed worker token: expected 'cmw_' followed by 64 lowercase hex digits");
		goto out;
	case GW_AUTH_UNKNOWN:
		send_reject(s, GW_REJECT_UNKNOWN, "unknown worker token: not issued by this gateway");
		goto out;
	case GW_AUTH_REVOKED:
		send_reject(s, GW_REJECT_REVOKED,
			    "revoked worker token: it was regenerated or its worker deleted; use the current token");
		goto out;
	case GW_AUTH_OK:
		break;
	}
	other = find_worker(srv, w.id);
	if (other) {
		snprintf(reason, sizeof(reason), "worker token already in use by a live session (worker '%s' from %s)",
			 w.name, other->peer);
		send_reject(s, GW_REJECT_IN_USE, reason);
		goto out;
	}
	s->worker_id = w.id;
	s->c.rd.limit = GW_PROTO_MAX_FRAME;
	s->token_gen = w.token_gen;
	s->eff_capacity = gw_effective_capacity(w.capacity, w.license);
	/* a worker also knows what its own flow table holds: never give it more */
	if (gw_msg_u64(m, "capacity", &own) == 0 && own > 0 && own < s->eff_capacity)
		s->eff_capacity = (uint32_t)own;
	cm_strlcpy(s->name, w.name, sizeof(s->name));
	if (gw_msg_str(m, "host", s->host, sizeof(s->host)) < 0)
		s->host[0] = '\0';
	s->last_hb = cm_wallclock_ms();
	s->active = 0;
	set_status(s, "ONLINE", "");
	cm_log(CM_LOG_INFO, "gateway", "worker '%s' (id %lld) connected from %s", s->name, (long long)s->worker_id,
	       s->peer);
	if (gw_enc_start(&e, GW_MSG_WELCOME, 4) == 0) {
		gw_enc_u64(&e, "worker_id", (uint64_t)w.id);
		gw_enc_str(&e, "name", w.name);
		gw_enc_u64(&e, "heartbeat_s", srv->o.heartbeat_s);
		gw_enc_u64(&e, "capacity", s->eff_capacity);
		gw_session_send(s, &e);
	}
	cp_timer_start(srv->loop, &s->timeout, (uint64_t)srv->o.timeout_s * 1000);
	if (gw_runs_on_hello(srv, s, gw_obj_get(m->map, "parts")) < 0)
		cm_log_rl(&srv->rl_proto, CM_LOG_WARN, "gateway", "worker '%s': hello with a malformed \"parts\"", s->name);
	if (w.drain_requested)
		send_drain(s);
out:
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

static int on_heartbeat(struct gw_session *s, struct gw_msg *m)
{
	char status[STATUS_MAX], error[GW_PROTO_STR_MAX] = "";
	uint64_t active = 0;

	if (gw_msg_str(m, "status", status, sizeof(status)) < 0 ||
	    (strcmp(status, "ONLINE") != 0 && strcmp(status, "DRAINING") != 0 && strcmp(status, "ERROR") != 0)) {
		cm_log_rl(&s->srv->rl_proto, CM_LOG_WARN, "gateway", "worker '%s': heartbeat with a bad status",
			  s->name);
		return -EPROTO;
	}
	if (gw_msg_u64(m, "active_endpoints", &active) == -EPROTO || active > UINT32_MAX)
		return -EPROTO;
	if (gw_msg_str(m, "error", error, sizeof(error)) == -EPROTO)
		return -EPROTO;
	s->last_hb = cm_wallclock_ms();
	s->active = (uint32_t)active;
	set_status(s, status, error);
	if (s->drain_sent && strcmp(status, "DRAINING") == 0) {
		/* the worker has taken the drain: it is no longer pending for its next session */
		gw_store_worker_drain(s->srv->store, s->name, false);
		s->drain_sent = false;
	}
	cp_timer_start(s->srv->loop, &s->timeout, (uint64_t)s->srv->o.timeout_s * 1000);
	return 0;
}

/* Samples are aggregated per-endpoint per-second values: flat maps of short names to numbers, booleans or short
 * strings (call_result).  Anything else — binary, nesting, long text — could be a SIP message or RTP payload,
 * which never belongs in the gateway's store. */
static const char *samples_problem(const msgpack_object *samples)
{
	for (uint32_t i = 0; i < samples->via.array.size; i++) {
		const msgpack_object *o = &samples->via.array.ptr[i];

		if (o->type != MSGPACK_OBJECT_MAP)
			return "a sample is not a map";
		for (uint32_t k = 0; k < o->via.map.size; k++) {
			const msgpack_object *key = &o->via.map.ptr[k].key, *v = &o->via.map.ptr[k].val;

			if (key->type != MSGPACK_OBJECT_STR || key->via.str.size == 0 || key->via.str.size > 32)
				return "a sample key is not a short string";
			switch (v->type) {
			case MSGPACK_OBJECT_POSITIVE_INTEGER:
			case MSGPACK_OBJECT_NEGATIVE_INTEGER:
			case MSGPACK_OBJECT_FLOAT32:
			case MSGPACK_OBJECT_FLOAT64:
			case MSGPACK_OBJECT_BOOLEAN:
			case MSGPACK_OBJECT_NIL:
				break;
			case MSGPACK_OBJECT_STR:
				if (v->via.str.size <= 64)
					break;
				return "a sample holds text longer than 64 bytes";
			default:
				return "a sample holds binary data or a nested container";
			}
		}
	}
	return NULL;
}

/* The frame's dataplane sample (a part's, docs/gateway-protocol.md), if it has one: stored by (run, worker, part,
 * t).  One that does not check out is counted and left out, logged at most once a minute; the frame's other
 * samples are kept all the same (and acknowledged, so that the worker does not send it forever).  Negative: the
 * store failed. */
static int dataplane_put(struct gw_session *s, const struct gw_msg *m, const char *run_id, uint64_t seq)
{
	const msgpack_object *dp = gw_obj_get(m->map, "dataplane");
	struct gw_dp_sample d;
	const char *problem;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t part = 0;
	int rc;

	if (!dp)
		return 0;
	problem = gw_dp_sample_read(dp, &d);
	if (!problem && (gw_msg_u64(m, "part", &part) < 0 || part > INT32_MAX))
		problem = "the frame has no part number";
	if (problem) {
		s->srv->dataplane_refused++;
		cm_log_rl(&s->srv->rl_dataplane, CM_LOG_WARN, "gateway",
			  "worker '%s': dataplane sample of metrics frame %s/%llu left out: %s (%llu so far)", s->name,
			  run_id, (unsigned long long)seq, problem, (unsigned long long)s->srv->dataplane_refused);
		return 0;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *dp);
	rc = gw_store_dataplane_put(s->srv->store, run_id, s->worker_id, (int64_t)part, seq, &d, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (rc == 1)
		s->srv->dataplane_samples++;
	return rc < 0 ? rc : 0;
}

static int on_metrics(struct gw_session *s, struct gw_msg *m)
{
	char run_id[GW_PROTO_STR_MAX];
	const msgpack_object *samples = gw_obj_get(m->map, "samples");
	uint64_t seq, t = 0;
	const char *problem;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct gw_enc e;
	int rc;

	if (gw_msg_str(m, "run_id", run_id, sizeof(run_id)) < 0 || run_id[0] == '\0' ||
	    gw_msg_u64(m, "seq", &seq) < 0 || gw_msg_u64(m, "ts", &t) == -EPROTO || !samples ||
	    samples->type != MSGPACK_OBJECT_ARRAY) {
		cm_log_rl(&s->srv->rl_proto, CM_LOG_WARN, "gateway",
			  "worker '%s': metrics frame without run_id, seq or a samples array", s->name);
		return -EPROTO;
	}
	problem = samples_problem(samples);
	if (problem) {
		/* refused for good: acknowledged with the reason so that the worker drops it instead of re-sending it
		 * after every reconnect */
		s->srv->metrics_refused++;
		cm_log_rl(&s->srv->rl_proto, CM_LOG_WARN, "gateway", "worker '%s': metrics frame %s/%llu refused: %s",
			  s->name, run_id, (unsigned long long)seq, problem);
		if (gw_enc_start(&e, GW_MSG_ACK, 3) == 0) {
			gw_enc_str(&e, "run_id", run_id);
			gw_enc_u64(&e, "seq", seq);
			gw_enc_str(&e, "error", problem);
			gw_session_send(s, &e);
		}
		return 0;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *samples);
	rc = gw_store_metrics_put(s->srv->store, run_id, s->worker_id, seq, t, samples->via.array.size, sb.data,
				  sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (rc < 0)
		return 0; /* not stored, not acknowledged: the worker keeps it and sends it again */
	if (rc == 1) {
		s->srv->metrics_frames++;
		s->srv->metrics_samples += samples->via.array.size;
	}
	if (dataplane_put(s, m, run_id, seq) < 0)
		return 0; /* the same: the samples are held already, the dataplane sample is stored when it comes again */
	if (gw_enc_start(&e, GW_MSG_ACK, 2) == 0) {
		gw_enc_str(&e, "run_id", run_id);
		gw_enc_u64(&e, "seq", seq);
		gw_session_send(s, &e);
	}
	return 0;
}

static int on_msg(void *arg, struct gw_msg *m)
{
	struct gw_session *s = arg;
	if (!s->worker_id && m->type != GW_MSG_HELLO) {
		send_reject(s, GW_REJECT_PROTOCOL, "the first message must be hello");
		return 0;
	}
	switch (m->type) {
	case GW_MSG_HELLO:
		return on_hello(s, m);
	case GW_MSG_HEARTBEAT:
		return on_heartbeat(s, m);
	case GW_MSG_METRICS:
		return on_metrics(s, m);
	case GW_MSG_ACCEPT:
	case GW_MSG_REFUSE:
	case GW_MSG_CALLS_DONE:
	case GW_MSG_DONE:
		return gw_runs_on_msg(s->srv, s, m);
	case GW_MSG_UNKNOWN:
		cm_log_rl(&s->srv->rl_proto, CM_LOG_INFO, "gateway", "worker '%s': ignoring unknown message '%s'",
			  s->name, m->t);
		return 0;
	default:
		cm_log_rl(&s->srv->rl_proto, CM_LOG_WARN, "gateway", "worker '%s': '%s' is not a worker's message",
			  s->name, m->t);
		return -EPROTO;
	}
}

static void on_session_io(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct gw_session *s = arg;
	char why[256];
	int rc;

	(void)loop;
	(void)fd;
	(void)events;
	rc = gw_conn_io(&s->c, on_msg, s, why, sizeof(why));
	if (rc == 0) {
		session_want(s);
		return;
	}
	if (rc == 1 && s->rejected)
		why[0] = '\0';
	if (rc == -EPROTO || rc == -EPERM)
		cm_log_rl(&s->srv->rl_proto, CM_LOG_WARN, "gateway", "session from %s%s%s: %s", s->peer,
			  s->worker_id ? " worker " : "", s->worker_id ? s->name : "", why);
	session_end(s, why[0] ? why : "closed");
}

static void on_session_timeout(struct cp_loop *loop, void *arg)
{
	struct gw_session *s = arg;
	char why[96];

	(void)loop;
	if (!s->worker_id) {
		cm_log_rl(&s->srv->rl_proto, CM_LOG_WARN, "gateway", "session from %s: no hello within %u s", s->peer,
			  GW_HELLO_TIMEOUT_MS / 1000);
		session_end(s, "no hello");
		return;
	}
	snprintf(why, sizeof(why), "no heartbeat for %u s", s->srv->o.timeout_s);
	session_end(s, why);
}

static void session_end(struct gw_session *s, const char *why)
{
	struct gw_server *srv = s->srv;

	if (s->worker_id) {
		set_status(s, "OFFLINE", why);
		gw_store_set_status(srv->store, s->worker_id, "OFFLINE", s->last_hb, 0, why);
		cm_log(CM_LOG_INFO, "gateway", "worker '%s' disconnected: %s", s->name, why);
	}
	cp_timer_stop(srv->loop, &s->timeout);
	cp_loop_del_fd(srv->loop, s->c.fd);
	gw_conn_close(&s->c);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsessions--;
	free(s);
}

static void on_accept(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct gw_server *srv = arg;

	(void)events;
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
		struct gw_session *s;
		int cfd = accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				cm_log_rl(&srv->rl_accept, CM_LOG_WARN, "gateway", "accept: %s", strerror(errno));
			return;
		}
		s = calloc(1, sizeof(*s));
		if (!s || gw_conn_init(&s->c, srv->ctx, cfd, true, NULL) < 0) {
			if (!s)
				close(cfd);
			free(s);
			continue;
		}
		getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(s->peer, sizeof(s->peer), "%s:%s", host, port);
		/* a stranger gets 16 KiB frames until its hello is accepted: thousands of half-open sessions cannot
		 * pin a megabyte each */
		s->c.rd.limit = GW_PROTO_MAX_HELLO;
		s->srv = srv;
		cp_timer_init(&s->timeout, on_session_timeout, s);
		if (cp_loop_add_fd(loop, cfd, EPOLLIN, on_session_io, s) < 0) {
			gw_conn_close(&s->c);
			free(s);
			continue;
		}
		s->next = srv->head;
		if (srv->head)
			srv->head->prev = s;
		srv->head = s;
		srv->nsessions++;
		cp_timer_start(loop, &s->timeout, GW_HELLO_TIMEOUT_MS);
	}
}

/* Once a second: statuses to the store in one transaction; then what other processes changed. */
static void on_tick(struct cp_loop *loop, void *arg)
{
	struct gw_server *srv = arg;
	struct gw_session *s, *next;
	bool began = false;

	for (s = srv->head; s; s = s->next) {
		if (!s->worker_id || !s->dirty)
			continue;
		if (!began)
			began = gw_store_begin(srv->store) == 0;
		gw_store_set_status(srv->store, s->worker_id, s->status, s->last_hb, s->active, s->error);
		s->dirty = false;
	}
	if (began)
		gw_store_commit(srv->store);
	if (gw_store_changed(srv->store)) {
		for (s = srv->head; s; s = next) {
			struct gw_worker w;
			int rc;

			next = s->next;
			if (!s->worker_id)
				continue;
			rc = gw_store_worker_get_id(srv->store, s->worker_id, &w);
			if (rc == -ENOENT) {
				session_end(s, "worker deleted");
			} else if (rc == 0 && w.token_gen != s->token_gen) {
				session_end(s, "token regenerated: the session's token is no longer valid");
			} else if (rc == 0 && w.drain_requested && !s->drain_sent) {
				send_drain(s);
			}
		}
	}
	gw_runs_tick(srv);
	cp_timer_start(loop, &srv->tick, TICK_MS);
}

static int listen_on(struct gw_server *srv, const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res = NULL;
	char host[CFG_HOST_MAX], port[8];
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	uint16_t p;
	int one = 1, rc;

	if (cfg_parse_hostport(spec, 443, host, sizeof(host), &p) < 0 &&
	    !(spec[0] == ':' && cfg_parse_hostport(spec + 1, 443, host, sizeof(host), &p) == 0)) {
		snprintf(err, errlen, "--listen: expected host:port, got '%s'", spec);
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%u", p);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "--listen %s: %s", spec, gai_strerror(rc));
		return -EINVAL;
	}
	srv->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0 || setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(srv->lfd, res->ai_addr, res->ai_addrlen) < 0 || listen(srv->lfd, 4096) < 0 ||
	    getsockname(srv->lfd, (struct sockaddr *)&sa, &sl) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
		freeaddrinfo(res);
		return -errno;
	}
	freeaddrinfo(res);
	srv->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
						   : ((struct sockaddr_in *)&sa)->sin_port);
	return 0;
}

struct gw_server *gw_server_new(struct cp_loop *loop, const struct gw_server_opts *o, char *err, size_t errlen)
{
	struct gw_server *srv = calloc(1, sizeof(*srv));
	char lock[CFG_PATH_MAX + 16];

	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->lockfd = -1;
	srv->loop = loop;
	srv->o = *o;
	srv->lfd = -1;
	srv->rl_proto = (struct cm_ratelimit)CM_RATELIMIT_INIT(10000, 20);
	srv->rl_dataplane = (struct cm_ratelimit)CM_RATELIMIT_INIT(60000, 1);
	srv->rl_accept = (struct cm_ratelimit)CM_RATELIMIT_INIT(10000, 5);
	if (!srv->o.heartbeat_s)
		srv->o.heartbeat_s = GW_DEFAULT_HEARTBEAT_S;
	if (!srv->o.timeout_s)
		srv->o.timeout_s = GW_DEFAULT_TIMEOUT_S;
	if (!srv->o.lost_after_s)
		srv->o.lost_after_s = GW_DEFAULT_LOST_AFTER_S;
	srv->started_ms = cm_wallclock_ms();
	srv->ctx = gw_tls_server_ctx(o->cert, o->key, err, errlen);
	if (!srv->ctx)
		goto free_srv;
	srv->store = gw_store_open(o->db, err, errlen);
	if (!srv->store)
		goto free_ctx;
	/* one serve per store: a second would mark the first one's workers OFFLINE and fight over statuses */
	snprintf(lock, sizeof(lock), "%s.serve-lock", o->db);
	srv->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (srv->lockfd < 0 || flock(srv->lockfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "store '%s' is in use by another 'callmeter-gateway serve' (lock %s: %s)", o->db, lock,
			 strerror(errno));
		goto close_store;
	}
	/* whatever a previous run left ONLINE is not connected to this one */
	gw_store_all_offline(srv->store);
	gw_store_changed(srv->store);
	if (listen_on(srv, o->listen ? o->listen : "0.0.0.0:443", err, errlen) < 0)
		goto close_store;
	if (cp_loop_add_fd(loop, srv->lfd, EPOLLIN, on_accept, srv) < 0) {
		snprintf(err, errlen, "event loop refused the listening socket");
		goto close_fd;
	}
	cp_timer_init(&srv->tick, on_tick, srv);
	cp_timer_start(loop, &srv->tick, TICK_MS);
	return srv;

close_fd:
	close(srv->lfd);
close_store:
	if (srv->lockfd >= 0)
		close(srv->lockfd);
	gw_store_close(srv->store);
free_ctx:
	SSL_CTX_free(srv->ctx);
free_srv:
	free(srv);
	return NULL;
}

void gw_server_free(struct gw_server *srv)
{
	if (!srv)
		return;
	while (srv->head)
		session_end(srv->head, "gateway shutting down");
	cm_log(CM_LOG_INFO, "gateway", "metrics this run: %llu frames, %llu samples stored; %llu frames refused; "
	       "%llu dataplane samples stored, %llu left out", (unsigned long long)srv->metrics_frames,
	       (unsigned long long)srv->metrics_samples, (unsigned long long)srv->metrics_refused,
	       (unsigned long long)srv->dataplane_samples, (unsigned long long)srv->dataplane_refused);
	cp_timer_stop(srv->loop, &srv->tick);
	cp_loop_del_fd(srv->loop, srv->lfd);
	close(srv->lfd);
	gw_store_close(srv->store);
	close(srv->lockfd);
	SSL_CTX_free(srv->ctx);
	free(srv);
}

uint16_t gw_server_port(const struct gw_server *srv)
{
	return srv->port;
}

uint32_t gw_server_sessions(const struct gw_server *srv)
{
	return srv->nsessions;
}
