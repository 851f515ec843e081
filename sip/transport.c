/* The part every transport shares: the generic handle (transaction layer, the loop timer that ticks its wheel,
 * local address, wire names) and the calls registrations, calls and the UAS make through it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/common.h"
#include "sip/sip_internal.h"

static const char *const kind_names[] = { [SIP_TP_UDP] = "udp", [SIP_TP_TCP] = "tcp", [SIP_TP_TLS] = "tls" };

const char *sip_tp_kind_name(enum sip_tp_kind k)
{
	return (unsigned)k < CM_ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

static void on_tick(struct cp_loop *loop, void *arg)
{
	struct sip_tp *tp = arg;

	sip_tp_hold(tp);
	sip_txn_tick(tp->txl, cp_loop_now_ms(loop));
	sip_tp_release(tp);
}

void sip_tp_hold(struct sip_tp *tp)
{
	tp->clock->busy++;
}

bool sip_tp_release(struct sip_tp *tp)
{
	struct sip_tp *root = tp->clock;

	if (--root->busy)
		return true;
	if (root->stop_pending) {
		root->pending = NULL; /* the handles go with it */
		root->ops->stop(root);
		return false;
	}
	while (root->pending) { /* a handle's stop runs no callback */
		struct sip_tp *h = root->pending;

		root->pending = h->next_pending;
		h->ops->stop(h);
	}
	sip_tp_kick(root);
	return true;
}

bool sip_tp_stopping(const struct sip_tp *tp)
{
	return tp->stop_pending || tp->clock->stop_pending;
}

static int tp_send(void *ctx, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	struct sip_tp *tp = ctx;

	return tp->ops->send(tp, dst, buf, len);
}

int sip_tp_init(struct sip_tp *tp, enum sip_tp_kind kind, const struct sip_tp_ops *ops, struct cp_loop *loop,
		const char *ip, uint16_t port, const struct sip_txn_user_ops *uops, void *uarg)
{
	tp->ops = ops;
	tp->kind = kind;
	tp->loop = loop;
	tp->clock = tp;
	sip_tp_set_addr(tp, ip, port);
	tp->txl = sip_txn_layer_new(cm_now_ms(), ops->reliable, tp_send, tp, uops, uarg);
	if (!tp->txl)
		return -ENOMEM;
	cp_timer_init(&tp->tick, on_tick, tp);
	sip_digest_prepare();
	return 0;
}

void sip_tp_fini(struct sip_tp *tp)
{
	if (!tp->txl)
		return;
	cp_timer_stop(tp->loop, &tp->tick);
	sip_txn_layer_free(tp->txl);
	tp->txl = NULL;
}

void sip_tp_tick(struct sip_tp *tp)
{
	sip_txn_tick(tp->txl, cp_loop_now_ms(tp->loop));
}

uint16_t sip_sock_port(int fd)
{
	struct sockaddr_storage a;
	socklen_t sl = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &sl) < 0)
		return 0;
	return ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
					     : ((struct sockaddr_in *)&a)->sin_port);
}

void sip_tp_kick(struct sip_tp *tp)
{
	int next;

	tp = tp->clock;
	next = sip_txn_next_ms(tp->txl);
	if (next < 0)
		cp_timer_stop(tp->loop, &tp->tick);
	else if (!cp_timer_armed(&tp->tick) || tp->tick.due_ms > cp_loop_now_ms(tp->loop) + (uint64_t)next)
		cp_timer_start(tp->loop, &tp->tick, (uint64_t)next);
	/* else it is armed no later than the wheel needs (the loop's clock is never ahead of the real one): a tick
	 * before anything is due only arms it again, and keeping it spares a clock read and a heap move after
	 * every batch and every request */
}

/* branch NULL: the layer parses req for its key; else the builder's branch and method (sip_tp_request_built). */
static struct sip_txn *start_request(struct sip_tp *tp, const char *req, size_t len,
				     const struct sockaddr_storage *dst, const struct sip_str *branch,
				     enum sip_method method, void *user, int *err)
{
	struct sip_txn *t;
	void *old;

	/* new timers count from now, not from the last tick (whose callbacks may stop the transport); the
	 * transaction sends from this handle's socket */
	sip_tp_hold(tp);
	sip_txn_tick(tp->txl, cm_now_ms());
	if (sip_tp_stopping(tp)) {
		*err = -ECANCELED;
		t = NULL;
	} else {
		old = sip_txn_set_send_ctx(tp->txl, tp);
		t = branch ? sip_txn_client_start_built(tp->txl, req, len, dst, *branch, method, user, err)
			   : sip_txn_client_start(tp->txl, req, len, dst, user, err);
		sip_txn_set_send_ctx(tp->txl, old);
	}
	sip_tp_release(tp);
	return t;
}

struct sip_txn *sip_tp_request(struct sip_tp *tp, const char *req, size_t len, const struct sockaddr_storage *dst,
			       void *user, int *err)
{
	return start_request(tp, req, len, dst, NULL, SIP_METHOD_UNKNOWN, user, err);
}

struct sip_txn *sip_tp_request_built(struct sip_tp *tp, const char *req, size_t len,
				     const struct sockaddr_storage *dst, struct sip_str branch, enum sip_method method,
				     void *user, int *err)
{
	return start_request(tp, req, len, dst, &branch, method, user, err);
}

int sip_tp_send(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	return tp->ops->send(tp, dst, buf, len);
}

struct sip_tp *sip_tp_open_port(struct sip_tp *tp, uint16_t port)
{
	/* each transport's struct starts with its handle */
	return tp->kind == SIP_TP_UDP ? sip_udp_open_port((struct sip_udp *)tp, port)
				      : sip_tcp_open_port((struct sip_tcp *)tp, port);
}

/* From inside one of the transport's own callbacks the stop waits for the outermost to return (sip_tp_release):
 * the code that ran the callback still uses the transport.  No callback reaches the user for it after that. */
void sip_tp_stop(struct sip_tp *tp)
{
	struct sip_tp *root;

	if (!tp)
		return;
	root = tp->clock;
	if (!root->busy) {
		tp->ops->stop(tp);
		return;
	}
	if (tp->stop_pending)
		return;
	tp->stop_pending = true;
	if (tp == root)
		sip_txn_layer_quiet(root->txl);
	else {
		tp->next_pending = root->pending;
		root->pending = tp;
	}
}

enum sip_tp_kind sip_tp_kind(const struct sip_tp *tp)
{
	return tp->kind;
}

struct cp_loop *sip_tp_loop(const struct sip_tp *tp)
{
	return tp->loop;
}

struct sip_txn_layer *sip_tp_txn_layer(struct sip_tp *tp)
{
	return tp->txl;
}

const char *sip_tp_local_ip(const struct sip_tp *tp)
{
	return tp->ip;
}

uint16_t sip_tp_port(const struct sip_tp *tp)
{
	return tp->port;
}

bool sip_tp_reliable(const struct sip_tp *tp)
{
	return tp->ops->reliable;
}

const char *sip_tp_via_token(const struct sip_tp *tp)
{
	return tp->ops->via;
}

const char *sip_tp_uri_param(const struct sip_tp *tp)
{
	return tp->ops->uri_param;
}

/* host:port as it goes into a Via sent-by or a URI: IPv6 references in brackets (RFC 3261 §25.1).  Kept as text:
 * every Via and Contact copies it. */
void sip_tp_set_addr(struct sip_tp *tp, const char *ip, uint16_t port)
{
	bool v6 = strchr(ip, ':') != NULL;
	int n;

	cm_strlcpy(tp->ip, ip, sizeof(tp->ip));
	tp->port = port;
	n = snprintf(tp->hostport, sizeof(tp->hostport), v6 ? "[%s]:%u" : "%s:%u", tp->ip, port);
	tp->hostport_len = (uint8_t)(n > 0 && (size_t)n < sizeof(tp->hostport) ? n : 0);
}

void sip_build_via(struct sip_builder *b, const struct sip_tp *tp, const char *branch)
{
	sip_build_lit(b, "SIP/2.0/");
	sip_build_cstr(b, tp->ops->via);
	sip_build_lit(b, " ");
	sip_build_put(b, tp->hostport, tp->hostport_len);
	sip_build_lit(b, ";branch=");
	sip_build_cstr(b, branch);
	sip_build_lit(b, ";rport");
}

void sip_build_contact_uri(struct sip_builder *b, const struct sip_tp *tp, const char *user)
{
	sip_build_lit(b, "sip:");
	if (user && user[0]) {
		sip_build_cstr(b, user);
		sip_build_lit(b, "@");
	}
	sip_build_put(b, tp->hostport, tp->hostport_len);
	sip_build_cstr(b, tp->ops->uri_param);
}

/* The builder's text as a string: the pieces that fit before the NUL. */
static int builder_string(struct sip_builder *b, char *out, size_t len)
{
	if (len)
		out[b->len] = '\0';
	return b->overflow || !len ? -ENOSPC : 0;
}

int sip_tp_via(const struct sip_tp *tp, const char *branch, char *out, size_t len)
{
	struct sip_builder b = { .buf = out, .cap = len ? len - 1 : 0 };

	sip_build_via(&b, tp, branch);
	return builder_string(&b, out, len);
}

int sip_tp_contact_uri(const struct sip_tp *tp, const char *user, char *out, size_t len)
{
	struct sip_builder b = { .buf = out, .cap = len ? len - 1 : 0 };

	sip_build_contact_uri(&b, tp, user);
	return builder_string(&b, out, len);
}

int sip_addr_from(struct sockaddr_storage *a, const char *ip, uint16_t port)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)a;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)a;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

struct sip_tp *sip_tp_start(struct cp_loop *loop, enum sip_tp_kind kind, const char *ip, uint16_t port,
			    const struct sip_tls_config *tls, const struct sip_txn_user_ops *ops, void *ops_arg)
{
	switch (kind) {
	case SIP_TP_UDP: {
		struct sip_udp *u = sip_udp_start(loop, ip, port, ops, ops_arg);
		return u ? sip_udp_tp(u) : NULL;
	}
	case SIP_TP_TCP: {
		struct sip_tcp *t = sip_tcp_start(loop, ip, port, ops, ops_arg);
		return t ? sip_tcp_tp(t) : NULL;
	}
	case SIP_TP_TLS: {
		struct sip_tcp *t = sip_tls_start(loop, ip, port, tls, ops, ops_arg);
		return t ? sip_tcp_tp(t) : NULL;
	}
	}
	return NULL;
}
