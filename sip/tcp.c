/* Stream transports on the control-plane loop (RFC 3261 §18): TCP, and TLS as an option of the same code.  One
 * listening socket; connections accepted or opened on demand (non-blocking connect from our own address,
 * output queued until the connection, and for TLS its handshake, is up), each with its own stream framer so
 * messages split across reads or packed into one are framed by Content-Length (sip_frame) before parsing.  The
 * transaction layer is "reliable": no retransmission timers, zero-length wait timers.  Responses go back on the
 * connection the request came in on (matched by the peer address).  A connection that fails or closes fails
 * the client transactions waiting on that peer at once (RFC 3261 §8.1.3.1, §17.1.4) instead of after Timer B/F.
 *
 * Keep-alives (RFC 5626 §3.5.1, §4.4.1): a CRLFCRLF ping between messages is answered with a CRLF pong on every
 * connection; with sip_tp_set_keepalive, the connections we open send a ping every interval and expect an answer
 * (the pong, or any input) within the pong time, else the flow is dead: closed, and the owner told. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip_internal.h"

#define TCP_IN_MAX (2 * SIP_MAX_MSG_SIZE) /* a connection's unframed input, at most */
#define TCP_IN_FIRST 4096                 /* its buffer at first: grown as messages need (idle endpoints' flows) */
#define TCP_OUT_MAX (16 * SIP_MAX_MSG_SIZE)
#define TCP_READ_CHUNK 16384
#define TCP_READ_ROUNDS 8 /* reads per wake-up before yielding (TLS: until OpenSSL's buffer is empty too) */

struct tcp_conn {
	struct tcp_conn *next;
	struct sip_tcp *t;
	int fd;
	bool connected;     /* the TCP connection is established */
	bool up;            /* and so is TLS, if any: application data may flow */
	bool want_write;    /* OpenSSL waits for the socket to become writable */
	struct ssl_st *ssl; /* NULL: plain TCP */
	bool ours;          /* we opened it (keep-alive pings are the client's) */
	bool await_pong;    /* a ping is out */
	bool in_io;         /* conn_io runs for it: a close from a callback leaves the memory to conn_io */
	bool closed;
	struct cp_timer setup; /* armed until the connection is up */
	struct cp_timer ka;    /* keep-alive: the next ping, or the pong's deadline */
	struct sockaddr_storage peer;
	struct sip_framer framer;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_cap;
};

/* A transport, or a per-endpoint handle of one (sip_tcp_open_port): its own listener and its own connections,
 * the transport's transaction layer, TLS context and settings.  Settings and statistics live in the root. */
struct sip_tcp {
	struct sip_tp tp; /* first: the generic handle (loop, transaction layer, wheel tick, address) */
	int lfd;
	struct sockaddr_storage local; /* outgoing connections leave from our address (port chosen by the kernel) */
	struct sip_tls *tls;           /* NULL: plain TCP; the root's */
	struct tcp_conn *conns;
	struct sip_tcp *root;          /* the transport: itself, or the one this handle was opened on */
	struct sip_tcp *handles;       /* root: the per-endpoint handles opened on it */
	struct sip_tcp *next_handle;
	uint32_t setup_ms;
	uint32_t ka_ms, ka_pong_ms;    /* keep-alive interval (0: off) and pong deadline */
	void (*ka_dead)(void *arg, struct sip_tp *tp, const struct sockaddr_storage *peer);
	void *ka_arg;
	bool stopping;
	struct sip_tcp_stats st;
};

static struct cm_ratelimit tcp_rl = CM_RATELIMIT_INIT(10000, 5);

static void conn_free(struct tcp_conn *c)
{
	free(c->in);
	free(c->out);
	free(c);
}

/* Closes a connection; client transactions still waiting on this peer learn at once that the transport failed
 * (not while the handle or the whole transport stops: the layer goes with it, or moves them to the transport).
 * Their callbacks may close or stop anything: callers that run it hold the transport (sip_tp_hold). */
static void conn_close(struct tcp_conn *c)
{
	struct sip_tcp *t = c->t;
	struct sockaddr_storage peer = c->peer;

	if (c->closed)
		return;
	c->closed = true;
	for (struct tcp_conn **pp = &t->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	cp_timer_stop(t->tp.loop, &c->setup);
	cp_timer_stop(t->tp.loop, &c->ka);
	cp_loop_del_fd(t->tp.loop, c->fd);
	sip_tls_conn_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	if (!c->in_io)
		conn_free(c);
	t->root->st.closed++;
	if (!t->stopping && !sip_tp_stopping(&t->tp))
		sip_txn_transport_failed(t->tp.txl, &t->tp, &peer);
}

static void conn_io(struct cp_loop *loop, int fd, uint32_t events, void *arg);
static void on_keepalive(struct cp_loop *loop, void *arg);

/* The connection is up: keep-alive pings start on the ones we opened. */
static void conn_up(struct tcp_conn *c)
{
	c->up = true;
	cp_timer_stop(c->t->tp.loop, &c->setup);
	if (c->ours && c->t->root->ka_ms)
		cp_timer_start(c->t->tp.loop, &c->ka, c->t->root->ka_ms);
}

static void on_setup_timeout(struct cp_loop *loop, void *arg)
{
	struct tcp_conn *c = arg;
	struct sip_tcp *t = c->t;

	(void)loop;
	t->root->st.setup_timeouts++;
	cm_log_rl(&tcp_rl, CM_LOG_WARN, "sip", "%s connection not up after %u ms: closing", t->tp.ops->via,
		  t->root->setup_ms);
	sip_tp_hold(&t->tp);
	conn_close(c);
	sip_tp_release(&t->tp);
}

static struct tcp_conn *conn_new(struct sip_tcp *t, int fd, const struct sockaddr_storage *peer, bool accepted)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c || !(c->in = malloc(TCP_IN_FIRST)))
		goto free_c;
	c->in_cap = TCP_IN_FIRST;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->t = t;
	c->fd = fd;
	c->peer = *peer;
	c->connected = accepted;
	c->ours = !accepted;
	if (t->tls) {
		c->ssl = accepted ? sip_tls_server(t->tls, fd) : sip_tls_client(t->tls, fd, peer);
		if (!c->ssl)
			goto free_in;
	} else {
		c->up = accepted;
	}
	sip_framer_reset(&c->framer);
	if (cp_loop_add_fd(t->tp.loop, fd, EPOLLIN | (accepted ? 0 : EPOLLOUT), conn_io, c) < 0)
		goto free_ssl;
	cp_timer_init(&c->setup, on_setup_timeout, c);
	cp_timer_init(&c->ka, on_keepalive, c);
	if (!c->up)
		cp_timer_start(t->tp.loop, &c->setup, t->root->setup_ms);
	c->next = t->conns;
	t->conns = c;
	return c;

free_ssl:
	sip_tls_conn_free(c->ssl);
free_in:
	free(c->in);
free_c:
	free(c);
	close(fd);
	return NULL;
}

/* Readiness we wait for: always input; output while connecting, while OpenSSL asks for it, or while queued
 * data can go. */
static int conn_watch(struct tcp_conn *c)
{
	bool out = !c->connected || c->want_write || (c->up && c->out_len);

	return cp_loop_mod_fd(c->t->tp.loop, c->fd, EPOLLIN | (out ? EPOLLOUT : 0));
}

/* Writes what is queued: 0, or a negative errno when the connection is broken. */
static int conn_flush(struct tcp_conn *c)
{
	while (c->up && c->out_len) {
		ssize_t n;

		if (c->ssl) {
			n = sip_tls_write(c->ssl, c->out, c->out_len, &c->want_write);
		} else {
			n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
			if (n < 0)
				n = errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return conn_watch(c);
}

static int conn_send(struct tcp_conn *c, const char *buf, size_t len);

/* RFC 5626 §4.4.1 between messages: each CRLFCRLF is a ping, answered with a CRLF pong; a CRLF left over is a
 * pong on a connection we opened, and on one a peer opened the first half of a ping still arriving (kept) unless
 * a message follows it.  Only while nothing but line ends has arrived since the last message. */
static int conn_keepalives(struct tcp_conn *c)
{
	size_t n = 0, pings = 0;

	if (c->framer.hdr_end || c->framer.scanned > c->framer.skip)
		return 0;
	while (n + 4 <= c->in_len && memcmp(c->in + n, "\r\n\r\n", 4) == 0) {
		n += 4;
		pings++;
	}
	if (n + 2 <= c->in_len && memcmp(c->in + n, "\r\n", 2) == 0 &&
	    (n + 2 == c->in_len ? c->ours : c->in[n + 2] != '\r'))
		n += 2;
	if (n == 0)
		return 0;
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	sip_framer_reset(&c->framer);
	for (; pings; pings--) {
		c->t->root->st.keepalive_pongs_sent++;
		if (conn_send(c, "\r\n", 2) < 0)
			return -EPIPE;
	}
	return 0;
}

/* Frames and delivers every complete message in the input buffer. */
static int conn_deliver(struct tcp_conn *c)
{
	size_t msg_len;

	for (;;) {
		enum sip_frame_rc rc;

		if (conn_keepalives(c) < 0)
			return -EPIPE;
		rc = sip_frame(&c->framer, c->in, c->in_len, &msg_len);

		if (rc == SIP_FRAME_AGAIN)
			return 0;
		if (rc == SIP_FRAME_ERROR) {
			c->t->root->st.framing_errors++;
			cm_log_rl(&tcp_rl, CM_LOG_WARN, "sip", "%s stream cannot be framed (%s): closing",
				  c->t->tp.ops->via, c->framer.error);
			return -EPROTO;
		}
		/* what arrives on a handle's connection is answered from that handle */
		void *old = sip_txn_set_send_ctx(c->t->tp.txl, &c->t->tp);
		sip_txn_receive(c->t->tp.txl, c->in + c->framer.skip, msg_len - c->framer.skip, &c->peer);
		sip_txn_set_send_ctx(c->t->tp.txl, old);
		c->t->root->st.messages++;
		if (c->closed || sip_tp_stopping(&c->t->tp)) /* by the callback: nothing more is read or delivered */
			return 0;
		memmove(c->in, c->in + msg_len, c->in_len - msg_len);
		c->in_len -= msg_len;
		sip_framer_reset(&c->framer);
	}
}

/* Reads and delivers what has arrived: 0, or a negative errno (closed, broken, unframeable). */
static int conn_read(struct tcp_conn *c)
{
	for (int round = 0; round < TCP_READ_ROUNDS || (c->ssl && sip_tls_pending(c->ssl)); round++) {
		size_t room;
		ssize_t n;

		if (c->in_cap - c->in_len < TCP_IN_FIRST / 2 && c->in_cap < TCP_IN_MAX) {
			size_t cap = c->in_cap * 2 < TCP_IN_MAX ? c->in_cap * 2 : TCP_IN_MAX;
			char *in = realloc(c->in, cap);

			if (!in)
				return -ENOMEM;
			c->in = in;
			c->in_cap = cap;
		}
		room = c->in_cap - c->in_len;
		if (room == 0) /* the framer bounds a message by SIP_MAX_MSG_SIZE: this much unframed input is an error */
			return -EMSGSIZE;
		if (room > TCP_READ_CHUNK)
			room = TCP_READ_CHUNK;
		if (c->ssl) {
			n = sip_tls_read(c->ssl, c->in + c->in_len, room, &c->want_write);
		} else {
			n = read(c->fd, c->in + c->in_len, room);
			if (n < 0)
				n = errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		if (n == -EAGAIN)
			return 0;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		c->in_len += (size_t)n;
		if (c->await_pong) { /* the pong, or anything else: the flow is alive */
			c->await_pong = false;
			c->t->root->st.keepalive_answered++;
			cp_timer_start(c->t->tp.loop, &c->ka, c->t->root->ka_ms);
		}
		if (conn_deliver(c) < 0)
			return -EPROTO;
		if (c->closed || sip_tp_stopping(&c->t->tp))
			return 0;
	}
	return 0;
}

/* Readiness on a connection.  Callbacks run from here (the wheel's, the messages', a failure's) may close this
 * connection or stop its handle or transport: the transport is held meanwhile (stops wait for the release at
 * the end), the connection's memory stays until the end, and after each of them nothing more is done on it. */
static void conn_io(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct tcp_conn *c = arg;
	struct sip_tcp *t = c->t;

	(void)loop;
	sip_tp_hold(&t->tp);
	c->in_io = true;
	sip_tp_tick(&t->tp);
	if (c->closed || sip_tp_stopping(&t->tp))
		goto out;
	if (!c->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			cm_log_rl(&tcp_rl, CM_LOG_WARN, "sip", "%s connect failed: %s", t->tp.ops->via, strerror(err));
			t->root->st.connect_failures++;
			conn_close(c);
			goto out;
		}
		c->connected = true;
		if (!c->ssl)
			conn_up(c);
	}
	if (c->connected && !c->up) {
		int rc = sip_tls_handshake(c->ssl, &c->peer, &c->want_write, &t->root->st);

		if (rc < 0) {
			conn_close(c);
			goto out;
		}
		if (rc == 0) {
			conn_watch(c);
			goto out;
		}
		conn_up(c); /* queued requests go now; records that came with the handshake are read below */
		events |= EPOLLOUT | EPOLLIN;
	}
	if (c->up) {
		/* OpenSSL asked for writability (from a read or a write): writable now, retry both */
		bool retry = c->want_write && (events & EPOLLOUT);

		c->want_write = false;
		if ((events & EPOLLOUT) && conn_flush(c) < 0) {
			conn_close(c);
			goto out;
		}
		if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || retry) {
			int rc = conn_read(c);

			if (c->closed || sip_tp_stopping(&t->tp))
				goto out;
			if (rc < 0) {
				conn_close(c);
				goto out;
			}
		}
		conn_watch(c);
	}
out:
	c->in_io = false;
	if (c->closed)
		conn_free(c);
	sip_tp_release(&t->tp); /* the stops asked for meanwhile; the wheel's next tick */
}

static void on_accept(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sip_tcp *t = arg;

	(void)loop;
	(void)events;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int cfd = accept4(fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0)
			return;
		if (t->tls && !sip_tls_can_serve(t->tls)) {
			t->root->st.tls_refused++;
			cm_log_rl(&tcp_rl, CM_LOG_WARN, "sip",
				  "TLS: incoming connection refused: no certificate of our own (tls_cert_file)");
			close(cfd);
			continue;
		}
		if (conn_new(t, cfd, &peer, true))
			t->root->st.accepted++;
	}
}

static struct tcp_conn *conn_for(struct sip_tcp *t, const struct sockaddr_storage *dst, bool open_new)
{
	struct tcp_conn *c;
	int fd;

	for (c = t->conns; c; c = c->next)
		if (sip_same_addr(&c->peer, dst))
			return c;
	if (!open_new)
		return NULL;
	fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if ((t->local.ss_family == dst->ss_family &&
	     bind(fd, (const struct sockaddr *)&t->local, sip_sockaddr_len(&t->local)) < 0) ||
	    (connect(fd, (const struct sockaddr *)dst, sip_sockaddr_len(dst)) < 0 && errno != EINPROGRESS)) {
		close(fd);
		t->root->st.connect_failures++;
		return NULL;
	}
	c = conn_new(t, fd, dst, false);
	if (c)
		t->root->st.connected++;
	return c;
}

/* The transaction layer's send: queue on the peer's connection, opening one if there is none (for a response
 * whose connection has gone, that is the source address, as RFC 3261 §18.2.2 allows). */
static int stream_send(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	struct tcp_conn *c = conn_for((struct sip_tcp *)tp, dst, true);

	if (!c)
		return -ENOTCONN;
	return conn_send(c, buf, len);
}

/* Queues bytes on a connection and writes what it can: 0 or a negative errno. */
static int conn_send(struct tcp_conn *c, const char *buf, size_t len)
{
	if (c->out_cap - c->out_len < len) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;
		while (cap - c->out_len < len)
			cap *= 2;
		if (cap > TCP_OUT_MAX)
			return -ENOBUFS;
		n = realloc(c->out, cap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return conn_flush(c);
}

/* The next ping, or no answer to the last one in time: the flow is dead (RFC 5626 §4.4.1). */
static void on_keepalive(struct cp_loop *loop, void *arg)
{
	struct tcp_conn *c = arg;
	struct sip_tcp *t = c->t;

	if (c->await_pong) {
		struct sockaddr_storage peer = c->peer;

		t->root->st.keepalive_failures++;
		cm_log_rl(&tcp_rl, CM_LOG_WARN, "sip", "%s flow: no answer to a keep-alive in %u ms: closing",
			  t->tp.ops->via, t->root->ka_pong_ms);
		sip_tp_hold(&t->tp);
		conn_close(c);
		if (t->root->ka_dead && !sip_tp_stopping(&t->tp))
			t->root->ka_dead(t->root->ka_arg, &t->tp, &peer);
		sip_tp_release(&t->tp);
		return;
	}
	c->await_pong = true;
	t->root->st.keepalive_pings++;
	if (conn_send(c, "\r\n\r\n", 4) < 0) {
		sip_tp_hold(&t->tp);
		conn_close(c);
		sip_tp_release(&t->tp);
		return;
	}
	cp_timer_start(loop, &c->ka, t->root->ka_pong_ms);
}

int sip_tp_set_keepalive(struct sip_tp *tp, uint32_t interval_ms, uint32_t pong_ms,
			 void (*dead)(void *arg, struct sip_tp *tp, const struct sockaddr_storage *peer), void *arg)
{
	struct sip_tcp *t;

	if (!tp->ops->reliable)
		return -ENOTSUP;
	t = ((struct sip_tcp *)tp)->root;
	t->ka_ms = interval_ms;
	t->ka_pong_ms = pong_ms ? pong_ms : SIP_KEEPALIVE_PONG_MS;
	t->ka_dead = dead;
	t->ka_arg = arg;
	for (struct sip_tcp *h = t; h; h = h == t ? t->handles : h->next_handle)
		for (struct tcp_conn *c = h->conns; c; c = c->next)
			if (c->ours && c->up && !c->await_pong) {
				if (interval_ms)
					cp_timer_start(tp->loop, &c->ka, interval_ms);
				else
					cp_timer_stop(tp->loop, &c->ka);
			}
	return 0;
}

static void tcp_stop_now(struct sip_tcp *t);

static void stream_stop(struct sip_tp *tp)
{
	tcp_stop_now((struct sip_tcp *)tp);
}

static const struct sip_tp_ops tcp_ops = {
	.via = "TCP",
	.uri_param = ";transport=tcp",
	.reliable = true,
	.send = stream_send,
	.stop = stream_stop,
};

static const struct sip_tp_ops tls_ops = {
	.via = "TLS",
	.uri_param = ";transport=tls",
	.reliable = true,
	.send = stream_send,
	.stop = stream_stop,
};

/* The listening socket on ip:port (0: any; *port gets the one bound): 0, or -1 (logged). */
static int listen_on(struct sip_tcp *t, const char *ip, uint16_t *port)
{
	const char *name = t->tls ? "TLS" : "TCP";
	struct sockaddr_storage a;
	int one = 1;

	if (sip_addr_from(&a, ip, *port) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "'%s' is not a numeric IP address", ip);
		return -1;
	}
	t->lfd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->lfd >= 0)
		setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (t->lfd < 0 || bind(t->lfd, (struct sockaddr *)&a, sip_sockaddr_len(&a)) < 0 || listen(t->lfd, 1024) < 0 ||
	    (*port = sip_sock_port(t->lfd)) == 0) {
		cm_log(CM_LOG_ERROR, "sip", "%s %s:%u: %s", name, ip, *port, strerror(errno));
		if (t->lfd >= 0)
			close(t->lfd);
		t->lfd = -1;
		return -1;
	}
	/* connections we open leave from the same address, any port; a wildcard address binds nothing */
	sip_addr_from(&t->local, ip, 0);
	if (a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_addr.s_addr == htonl(INADDR_ANY)
				   : IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a)->sin6_addr))
		t->local.ss_family = AF_UNSPEC;
	return 0;
}

static struct sip_tcp *stream_start(struct cp_loop *loop, const char *ip, uint16_t port,
				    const struct sip_tls_config *tls, const struct sip_txn_user_ops *ops, void *ops_arg)
{
	struct sip_tcp *t = calloc(1, sizeof(*t));

	if (!t) {
		cm_log(CM_LOG_ERROR, "sip", "out of memory for a %s transport", tls ? "TLS" : "TCP");
		return NULL;
	}
	t->lfd = -1;
	t->root = t;
	t->setup_ms = SIP_STREAM_SETUP_MS;
	if (tls && !(t->tls = sip_tls_new(tls)))
		goto free_t;
	if (listen_on(t, ip, &port) < 0)
		goto free_tls;
	if (sip_tp_init(&t->tp, tls ? SIP_TP_TLS : SIP_TP_TCP, tls ? &tls_ops : &tcp_ops, loop, ip, port, ops,
			ops_arg) < 0)
		goto close_fd;
	if (cp_loop_add_fd(loop, t->lfd, EPOLLIN, on_accept, t) < 0)
		goto fini_tp;
	return t;

fini_tp:
	sip_tp_fini(&t->tp);
close_fd:
	close(t->lfd);
free_tls:
	sip_tls_free(t->tls);
free_t:
	free(t);
	return NULL;
}

struct sip_tp *sip_tcp_open_port(struct sip_tcp *t, uint16_t port)
{
	struct sip_tcp *h;

	t = t->root;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->root = t;
	h->tls = t->tls;
	h->lfd = -1;
	if (listen_on(h, t->tp.ip, &port) < 0)
		goto free_h;
	h->tp = (struct sip_tp){ .ops = t->tp.ops, .kind = t->tp.kind, .loop = t->tp.loop, .txl = t->tp.txl,
				 .clock = &t->tp };
	sip_tp_set_addr(&h->tp, t->tp.ip, port);
	if (cp_loop_add_fd(t->tp.loop, h->lfd, EPOLLIN, on_accept, h) < 0)
		goto close_fd;
	h->next_handle = t->handles;
	t->handles = h;
	return &h->tp;

close_fd:
	close(h->lfd);
free_h:
	free(h);
	return NULL;
}

struct sip_tcp *sip_tcp_start(struct cp_loop *loop, const char *ip, uint16_t port,
			      const struct sip_txn_user_ops *ops, void *ops_arg)
{
	return stream_start(loop, ip, port, NULL, ops, ops_arg);
}

struct sip_tcp *sip_tls_start(struct cp_loop *loop, const char *ip, uint16_t port, const struct sip_tls_config *tls,
			      const struct sip_txn_user_ops *ops, void *ops_arg)
{
	if (!tls) {
		cm_log(CM_LOG_ERROR, "sip", "TLS transport without a TLS configuration");
		return NULL;
	}
	return stream_start(loop, ip, port, tls, ops, ops_arg);
}

/* A handle's listener and connections; drop: what sends from it moves to the transport's own connections (not
 * needed when the whole transaction layer is already gone). */
static void handle_close(struct sip_tcp *h, bool drop)
{
	h->stopping = true;
	while (h->conns)
		conn_close(h->conns);
	if (drop)
		sip_txn_drop_send_ctx(h->tp.txl, &h->tp);
	cp_loop_del_fd(h->tp.loop, h->lfd);
	close(h->lfd);
	free(h);
}

/* Through sip_tp_stop, which waits while one of the transport's callbacks is running. */
void sip_tcp_stop(struct sip_tcp *t)
{
	if (t)
		sip_tp_stop(&t->tp);
}

static void tcp_stop_now(struct sip_tcp *t)
{
	if (t->root != t) { /* one endpoint's handle */
		for (struct sip_tcp **pp = &t->root->handles; *pp; pp = &(*pp)->next_handle)
			if (*pp == t) {
				*pp = t->next_handle;
				break;
			}
		handle_close(t, true);
		return;
	}
	t->stopping = true;
	sip_tp_fini(&t->tp); /* first: the transactions go with it, whichever handle they send from */
	while (t->handles) {
		struct sip_tcp *h = t->handles;

		t->handles = h->next_handle;
		handle_close(h, false);
	}
	while (t->conns)
		conn_close(t->conns);
	cp_loop_del_fd(t->tp.loop, t->lfd);
	close(t->lfd);
	sip_tls_free(t->tls);
	free(t);
}

void sip_tcp_set_setup_timeout(struct sip_tcp *t, uint32_t ms)
{
	t->root->setup_ms = ms ? ms : SIP_STREAM_SETUP_MS;
}

unsigned sip_tcp_disconnect(struct sip_tcp *t, const struct sockaddr_storage *peer)
{
	struct tcp_conn *doomed = NULL;
	unsigned n = 0;

	sip_tp_hold(&t->tp);
	/* unlinked first: a request re-sent from a failure callback opens a new connection, not one of these */
	for (struct tcp_conn **pp = &t->conns; *pp;) {
		struct tcp_conn *c = *pp;
		if (!peer || sip_same_addr(&c->peer, peer)) {
			*pp = c->next;
			c->next = doomed;
			doomed = c;
		} else {
			pp = &c->next;
		}
	}
	while (doomed) {
		struct tcp_conn *c = doomed;
		doomed = c->next;
		conn_close(c);
		n++;
	}
	sip_tp_release(&t->tp);
	return n;
}

int sip_tp_set_peer_name(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *name)
{
	if (tp->kind != SIP_TP_TLS)
		return 0;
	return sip_tls_set_peer_name(((struct sip_tcp *)tp)->tls, dst, name);
}

uint16_t sip_tcp_port(const struct sip_tcp *t)
{
	return t->tp.port;
}

struct sip_tp *sip_tcp_tp(struct sip_tcp *t)
{
	return &t->tp;
}

const struct sip_tcp_stats *sip_tcp_stats(const struct sip_tcp *t)
{
	return &t->root->st;
}
