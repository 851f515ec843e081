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
	tp->port = port;
	cm_strlcpy(tp->ip, ip, sizeof(tp->ip));
	tp->txl = sip_txn_layer_new(cm_now_ms(), ops->reliable, tp_send, tp, uops, uarg);
	if (!tp->txl)
		return -ENOMEM;
	cp_timer_init(&tp->tick, on_tick, tp);
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
	else
		cp_timer_start(tp->loop, &tp->tick, (uint64_t)next);
}

struct sip_txn *sip_tp_request(struct sip_tp *tp, const char *req, size_t len, const struct sockaddr_storage *dst,
			       void *user, int *err)
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
		t = sip_txn_client_start(tp->txl, req, len, dst, user, err);
		sip_txn_set_send_ctx(tp->txl, old);
	}
	sip_tp_release(tp);
	return t;
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

/* Via and Contact go into every message: written with plain copies, not printf. */
struct tp_out {
	char *p, *end;
	bool full;
};

static void out_str(struct tp_out *o, const char *s)
{
	size_t n = strlen(s);

	if (o->full || (size_t)(o->end - o->p) <= n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
	*o->p = '\0';
}

/* host:port as it goes into a Via sent-by or a URI: IPv6 references in brackets (RFC 3261 §25.1). */
static void out_hostport(struct tp_out *o, const struct sip_tp *tp)
{
	char port[8], *d = port + sizeof(port);
	unsigned v = tp->port;
	bool v6 = strchr(tp->ip, ':') != NULL;

	*--d = '\0';
	do
		*--d = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	*--d = ':';
	if (v6)
		out_str(o, "[");
	out_str(o, tp->ip);
	if (v6)
		out_str(o, "]");
	out_str(o, d);
}

int sip_tp_via(const struct sip_tp *tp, const char *branch, char *out, size_t len)
{
	struct tp_out o = { out, out + len, len == 0 };

	if (len)
		out[0] = '\0'; /* what fits stays a string */
	out_str(&o, "SIP/2.0/");
	out_str(&o, tp->ops->via);
	out_str(&o, " ");
	out_hostport(&o, tp);
	out_str(&o, ";branch=");
	out_str(&o, branch);
	out_str(&o, ";rport");
	return o.full ? -ENOSPC : 0;
}

int sip_tp_contact_uri(const struct sip_tp *tp, const char *user, char *out, size_t len)
{
	struct tp_out o = { out, out + len, len == 0 };

	if (len)
		out[0] = '\0'; /* what fits stays a string */
	out_str(&o, "sip:");
	if (user && user[0]) {
		out_str(&o, user);
		out_str(&o, "@");
	}
	out_hostport(&o, tp);
	out_str(&o, tp->ops->uri_param);
	return o.full ? -ENOSPC : 0;
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
