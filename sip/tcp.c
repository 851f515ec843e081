/* TCP transport on the control-plane loop (RFC 3261 §18): one listening socket, connections accepted or opened
 * on demand (non-blocking connect, output queued until connected), each with its own stream framer so messages
 * split across reads or packed into one are framed by Content-Length (sip_frame) before parsing.  Its
 * transaction layer is "reliable": no retransmission timers, zero-length wait timers.  Responses go back on the
 * connection the request came in on (matched by the peer address). */
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

#define TCP_IN_MAX (2 * SIP_MAX_MSG_SIZE) /* a connection's unframed input */
#define TCP_READ_CHUNK 16384

struct tcp_conn {
	struct tcp_conn *next;
	struct sip_tcp *t;
	int fd;
	bool connected;
	struct sockaddr_storage peer;
	struct sip_framer framer;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
};

struct sip_tcp {
	struct sip_tp tp; /* first: the generic handle (loop, transaction layer, wheel tick, address) */
	int lfd;
	struct sockaddr_storage local; /* outgoing connections leave from our address (port chosen by the kernel) */
	struct tcp_conn *conns;
	struct sip_tcp_stats st;
};

static struct cm_ratelimit tcp_rl = CM_RATELIMIT_INIT(10000, 5);

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static void conn_close(struct tcp_conn *c)
{
	struct sip_tcp *t = c->t;

	for (struct tcp_conn **pp = &t->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	cp_loop_del_fd(t->tp.loop, c->fd);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	t->st.closed++;
}

static void conn_io(struct cp_loop *loop, int fd, uint32_t events, void *arg);

static struct tcp_conn *conn_new(struct sip_tcp *t, int fd, const struct sockaddr_storage *peer, bool connected)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c || !(c->in = malloc(TCP_IN_MAX))) {
		free(c);
		close(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->t = t;
	c->fd = fd;
	c->peer = *peer;
	c->connected = connected;
	sip_framer_reset(&c->framer);
	if (cp_loop_add_fd(t->tp.loop, fd, EPOLLIN | (connected ? 0 : EPOLLOUT), conn_io, c) < 0) {
		free(c->in);
		free(c);
		close(fd);
		return NULL;
	}
	c->next = t->conns;
	t->conns = c;
	return c;
}

/* Writes what is queued; keeps EPOLLOUT only while something is left. */
static int conn_flush(struct tcp_conn *c)
{
	while (c->connected && c->out_len) {
		ssize_t n = write(c->fd, c->out, c->out_len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return cp_loop_mod_fd(c->t->tp.loop, c->fd, EPOLLIN | (c->out_len || !c->connected ? EPOLLOUT : 0));
}

/* Frames and delivers every complete message in the input buffer. */
static int conn_deliver(struct tcp_conn *c)
{
	size_t msg_len;

	for (;;) {
		enum sip_frame_rc rc = sip_frame(&c->framer, c->in, c->in_len, &msg_len);

		if (rc == SIP_FRAME_AGAIN)
			return 0;
		if (rc == SIP_FRAME_ERROR) {
			c->t->st.framing_errors++;
			cm_log_rl(&tcp_rl, CM_LOG_WARN, "sip", "TCP stream cannot be framed (%s): closing",
				  c->framer.error);
			return -EPROTO;
		}
		sip_txn_receive(c->t->tp.txl, c->in + c->framer.skip, msg_len - c->framer.skip, &c->peer);
		c->t->st.messages++;
		memmove(c->in, c->in + msg_len, c->in_len - msg_len);
		c->in_len -= msg_len;
		sip_framer_reset(&c->framer);
	}
}

static void conn_io(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct tcp_conn *c = arg;
	struct sip_tcp *t = c->t;

	(void)loop;
	sip_tp_tick(&t->tp);
	if (!c->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			cm_log_rl(&tcp_rl, CM_LOG_WARN, "sip", "TCP connect failed: %s", strerror(err));
			t->st.connect_failures++;
			conn_close(c);
			sip_tp_kick(&t->tp);
			return;
		}
		c->connected = true;
	}
	if (events & EPOLLOUT && conn_flush(c) < 0) {
		conn_close(c);
		sip_tp_kick(&t->tp);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (int round = 0; round < 8; round++) {
			ssize_t n;

			if (c->in_len == TCP_IN_MAX) {
				/* the framer bounds a message by SIP_MAX_MSG_SIZE; this much unframed input is an error */
				conn_close(c);
				sip_tp_kick(&t->tp);
				return;
			}
			n = read(fd, c->in + c->in_len, TCP_IN_MAX - c->in_len < TCP_READ_CHUNK ? TCP_IN_MAX - c->in_len
											 : TCP_READ_CHUNK);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n <= 0 || (c->in_len += (size_t)n, conn_deliver(c) < 0)) {
				conn_close(c);
				sip_tp_kick(&t->tp);
				return;
			}
		}
	}
	sip_tp_kick(&t->tp);
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
		if (conn_new(t, cfd, &peer, true))
			t->st.accepted++;
	}
}

static struct tcp_conn *conn_for(struct sip_tcp *t, const struct sockaddr_storage *dst, bool open_new)
{
	struct tcp_conn *c;
	int fd;

	for (c = t->conns; c; c = c->next)
		if (same_addr(&c->peer, dst))
			return c;
	if (!open_new)
		return NULL;
	fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (t->local.ss_family == dst->ss_family && bind(fd, (const struct sockaddr *)&t->local,
							 sip_sockaddr_len(&t->local)) < 0) {
		close(fd);
		t->st.connect_failures++;
		return NULL;
	}
	if (connect(fd, (const struct sockaddr *)dst, sip_sockaddr_len(dst)) < 0 && errno != EINPROGRESS) {
		close(fd);
		t->st.connect_failures++;
		return NULL;
	}
	c = conn_new(t, fd, dst, false);
	if (c)
		t->st.connected++;
	return c;
}

/* The transaction layer's send: queue on the peer's connection, opening one if there is none (for a response
 * whose connection has gone, that is the source address, as RFC 3261 §18.2.2 allows). */
static int tcp_send(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	struct sip_tcp *t = (struct sip_tcp *)tp;
	struct tcp_conn *c = conn_for(t, dst, true);

	if (!c)
		return -ENOTCONN;
	if (c->out_cap - c->out_len < len) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;
		while (cap - c->out_len < len)
			cap *= 2;
		if (cap > 16 * SIP_MAX_MSG_SIZE)
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

static void tcp_stop(struct sip_tp *tp)
{
	sip_tcp_stop((struct sip_tcp *)tp);
}

static const struct sip_tp_ops tcp_ops = {
	.via = "TCP",
	.uri_param = ";transport=tcp",
	.reliable = true,
	.send = tcp_send,
	.stop = tcp_stop,
};

struct sip_tcp *sip_tcp_start(struct cp_loop *loop, const char *ip, uint16_t port,
			      const struct sip_txn_user_ops *ops, void *ops_arg)
{
	struct sip_tcp *t = calloc(1, sizeof(*t));
	struct sockaddr_storage a;
	int one = 1;

	if (!t) {
		cm_log(CM_LOG_ERROR, "sip", "out of memory for a TCP transport");
		return NULL;
	}
	t->lfd = -1;
	if (sip_addr_from(&a, ip, port) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "'%s' is not a numeric IP address", ip);
		goto free_t;
	}
	t->lfd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->lfd >= 0)
		setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (t->lfd < 0 || bind(t->lfd, (struct sockaddr *)&a, sip_sockaddr_len(&a)) < 0 || listen(t->lfd, 128) < 0 ||
	    (port = sip_sock_port(t->lfd)) == 0) {
		cm_log(CM_LOG_ERROR, "sip", "TCP %s:%u: %s", ip, port, strerror(errno));
		goto close_fd;
	}
	/* connections we open leave from the same address, any port; a wildcard address binds nothing */
	sip_addr_from(&t->local, ip, 0);
	if (a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_addr.s_addr == htonl(INADDR_ANY)
				   : IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a)->sin6_addr))
		t->local.ss_family = AF_UNSPEC;
	if (sip_tp_init(&t->tp, SIP_TP_TCP, &tcp_ops, loop, ip, port, ops, ops_arg) < 0)
		goto close_fd;
	if (cp_loop_add_fd(loop, t->lfd, EPOLLIN, on_accept, t) < 0)
		goto fini_tp;
	return t;

fini_tp:
	sip_tp_fini(&t->tp);
close_fd:
	if (t->lfd >= 0)
		close(t->lfd);
free_t:
	free(t);
	return NULL;
}

void sip_tcp_stop(struct sip_tcp *t)
{
	if (!t)
		return;
	sip_tp_fini(&t->tp);
	while (t->conns)
		conn_close(t->conns);
	cp_loop_del_fd(t->tp.loop, t->lfd);
	close(t->lfd);
	free(t);
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
	return &t->st;
}
