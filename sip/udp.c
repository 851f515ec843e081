/* UDP transport on the control-plane loop: one non-blocking socket, datagrams drained on EPOLLIN into the
 * transaction layer, and the SIP timer wheel ticked from one cp_loop timer that is armed only while SIP timers
 * are (so an idle worker does not wake up every tick).
 *
 * Sending: what the stack sends during a loop turn (answers to what was drained, ACKs, BYEs and retransmissions
 * from timers) is copied into a queue and goes out with sendmmsg when the turn ends (a cp_loop flush, run before
 * the loop sleeps and before cp_loop_run_once returns), one system call for the lot instead of one sendto each;
 * a full queue is sent at once.  Outside a turn a datagram goes out at once.  A destination that refuses a
 * queued datagram (not a full buffer: that is a loss retransmission covers) is a transport error for the
 * client transactions waiting on it (RFC 3261 §8.1.3.1: 503), reported from the flush, never from inside the
 * send that queued it.
 *
 * ICMP errors about what we sent (IP_RECVERR) are read from the socket's error queue: a destination that is
 * unreachable fails the client transactions waiting on it at once (RFC 3261 §18.4: a transport error, 503 for
 * the user) instead of at Timer B/F, so requests fail over to the next DNS destination in milliseconds, not 32 s. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip_internal.h"

#define UDP_RX_BATCH 16 /* datagrams per recvmmsg; UDP_RX_ROUNDS of them per EPOLLIN before yielding */
#define UDP_RX_ROUNDS 4
#define UDP_RCVBUF (4 << 20) /* a group's shared socket: a burst of thousands of requests waits here, not dropped */
#define UDP_TX_BATCH 64      /* datagrams queued in one turn before the queue is sent early */
#define UDP_TX_BYTES (SIP_MAX_MSG_SIZE + 1) /* bytes queued; any one message fits an empty queue */
#define UDP_TX_FAILED 8      /* refusing destinations remembered per flush (more: the rest are timeouts) */

/* One receive area per thread, shared by every UDP transport of that thread's loop (a worker with per-endpoint
 * sockets would otherwise hold a megabyte per socket). */
static _Thread_local struct {
	char buf[UDP_RX_BATCH][SIP_MAX_MSG_SIZE + 1];
	struct sockaddr_storage src[UDP_RX_BATCH];
	struct iovec iov[UDP_RX_BATCH];
	struct mmsghdr msgs[UDP_RX_BATCH];
} rx;

/* Datagrams queued during one loop turn, for every socket of a transport, in the order they were sent. */
struct udp_txq {
	unsigned n, nfailed;
	size_t used;
	int fd[UDP_TX_BATCH];
	struct sockaddr_storage dst[UDP_TX_BATCH];
	struct iovec iov[UDP_TX_BATCH];
	struct mmsghdr msgs[UDP_TX_BATCH];
	struct sockaddr_storage failed[UDP_TX_FAILED];
	char buf[UDP_TX_BYTES];
};

struct udp_port;
struct sip_udp {
	struct sip_tp tp; /* first: the generic handle (loop, transaction layer, wheel tick, address) */
	int fd;
	sa_family_t family;
	struct udp_port *ports;
	struct udp_txq *txq; /* one per transport (its per-endpoint ports share it), not per socket */
	struct cp_flush flush;
};

/* A further socket sharing the transport's transaction layer and wheel (sip_udp_open_port). */
struct udp_port {
	struct sip_tp tp; /* first */
	int fd;
	struct sip_udp *u;
	struct udp_port *next;
};

static struct cm_ratelimit tx_rl = CM_RATELIMIT_INIT(10000, 5);

/* With IP_RECVERR an ICMP error about an earlier datagram also sets the socket's pending error, and the next send
 * (to any destination) fails with it instead of going out: a refused, unreachable-host or unreachable-network
 * send is tried once more (the failed call took the pending error; a real one comes back again). */
static bool stale_icmp(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
}

static int sendto_fd(int fd, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	ssize_t n = sendto(fd, buf, len, 0, (const struct sockaddr *)dst, sip_sockaddr_len(dst));

	if (n < 0 && stale_icmp(errno))
		n = sendto(fd, buf, len, 0, (const struct sockaddr *)dst, sip_sockaddr_len(dst));
	if (n < 0) {
		int e = errno;
		cm_log_rl(&tx_rl, CM_LOG_WARN, "sip", "UDP send failed: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* A full socket buffer or a short allocation: the datagram is lost, as on the wire, and retransmitted. */
static bool transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ENOMEM || e == EINTR;
}

static void remember_failed(struct udp_txq *q, const struct sockaddr_storage *dst)
{
	for (unsigned i = 0; i < q->nfailed; i++)
		if (sip_same_addr(&q->failed[i], dst))
			return;
	if (q->nfailed < UDP_TX_FAILED)
		q->failed[q->nfailed++] = *dst;
}

/* Sends what is queued: one sendmmsg per run of datagrams for the same socket, in order.  A datagram the
 * kernel refuses is skipped (logged, its destination remembered); the rest still go.  One refused with an
 * earlier datagram's ICMP error (stale_icmp) is tried once more first. */
static void txq_send(struct udp_txq *q)
{
	unsigned i = 0;
	bool retried = false;

	while (i < q->n) {
		unsigned j = i + 1;
		int sent;

		while (j < q->n && q->fd[j] == q->fd[i])
			j++;
		if (j - i == 1) /* one datagram: sendto's path is shorter than sendmmsg's */
			sent = sendto(q->fd[i], q->iov[i].iov_base, q->iov[i].iov_len, 0,
				      (const struct sockaddr *)&q->dst[i], q->msgs[i].msg_hdr.msg_namelen) < 0 ? -1 : 1;
		else
			sent = sendmmsg(q->fd[i], &q->msgs[i], j - i, 0);
		if (sent > 0) {
			i += (unsigned)sent;
			retried = false;
			continue;
		}
		int e = sent < 0 ? errno : EIO;
		if (stale_icmp(e) && !retried) {
			retried = true;
			continue;
		}
		retried = false;
		cm_log_rl(&tx_rl, CM_LOG_WARN, "sip", "UDP send failed: %s", strerror(e));
		if (!transient(e))
			remember_failed(q, &q->dst[i]);
		i++;
	}
	q->n = 0;
	q->used = 0;
}

/* The end of the turn: send, then tell the transaction layer about destinations that refused (its callbacks may
 * queue more, which the loop flushes again). */
static void on_flush(struct cp_loop *loop, void *arg)
{
	struct sip_udp *u = arg;
	struct udp_txq *q = u->txq;
	struct sockaddr_storage failed[UDP_TX_FAILED];
	unsigned nfailed;

	(void)loop;
	txq_send(q);
	nfailed = q->nfailed;
	memcpy(failed, q->failed, nfailed * sizeof(failed[0]));
	q->nfailed = 0;
	sip_tp_hold(&u->tp); /* the callbacks may stop the transport */
	for (unsigned i = 0; i < nfailed && !sip_tp_stopping(&u->tp); i++)
		sip_txn_transport_failed(u->tp.txl, NULL, &failed[i]); /* any socket: the destination refuses */
	sip_tp_release(&u->tp);
}

static int queue_send(struct sip_udp *u, int fd, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	struct udp_txq *q = u->txq;

	/* outside a turn nothing would flush; another family fails now, where the caller hears of it */
	if (!cp_loop_in_turn(u->tp.loop) || dst->ss_family != u->family || len > UDP_TX_BYTES)
		return sendto_fd(fd, dst, buf, len);
	if (q->n == UDP_TX_BATCH || UDP_TX_BYTES - q->used < len)
		txq_send(q); /* failures found here are reported by the flush still to come */
	memcpy(q->buf + q->used, buf, len);
	q->fd[q->n] = fd;
	q->dst[q->n] = *dst;
	q->iov[q->n] = (struct iovec){ q->buf + q->used, len };
	q->msgs[q->n].msg_hdr = (struct msghdr){ .msg_name = &q->dst[q->n], .msg_namelen = sip_sockaddr_len(dst),
						 .msg_iov = &q->iov[q->n], .msg_iovlen = 1 };
	q->n++;
	q->used += len;
	cp_loop_flush_later(u->tp.loop, &u->flush);
	return 0;
}

static int udp_send(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	struct sip_udp *u = (struct sip_udp *)tp;

	return queue_send(u, u->fd, dst, buf, len);
}

static int port_send(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	struct udp_port *p = (struct udp_port *)tp;

	return queue_send(p->u, p->fd, dst, buf, len);
}

/* Before a socket closes: what is queued for it (and the rest) goes out now. */
static void flush_now(struct sip_udp *u)
{
	if (u->txq->n)
		txq_send(u->txq);
}

static void udp_stop_now(struct sip_udp *u);

static void udp_stop(struct sip_tp *tp)
{
	udp_stop_now((struct sip_udp *)tp);
}

static const struct sip_tp_ops udp_ops = {
	.via = "UDP",
	.uri_param = "",
	.reliable = false,
	.send = udp_send,
	.stop = udp_stop,
};

/* Drains a socket with recvmmsg: one system call per batch, none wasted on a final EAGAIN when the batch comes
 * back short.  What arrives on tp's socket creates transactions that answer from it. */
static void drain(int fd, struct sip_tp *tp)
{
	void *old;

	sip_tp_tick(tp);
	old = sip_txn_set_send_ctx(tp->txl, tp);
	for (int round = 0; round < UDP_RX_ROUNDS; round++) {
		int n;

		for (int i = 0; i < UDP_RX_BATCH; i++) {
			rx.iov[i] = (struct iovec){ rx.buf[i], sizeof(rx.buf[i]) };
			rx.msgs[i].msg_hdr = (struct msghdr){ .msg_name = &rx.src[i], .msg_namelen = sizeof(rx.src[i]),
							      .msg_iov = &rx.iov[i], .msg_iovlen = 1 };
		}
		n = recvmmsg(fd, rx.msgs, UDP_RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n && !sip_tp_stopping(tp); i++)
			sip_txn_receive(tp->txl, rx.buf[i], rx.msgs[i].msg_len, &rx.src[i]);
		if (n < UDP_RX_BATCH || sip_tp_stopping(tp))
			break;
	}
	sip_txn_set_send_ctx(tp->txl, old);
}

static struct cm_ratelimit icmp_rl = CM_RATELIMIT_INIT(10000, 5);

/* The error queue: each ICMP destination/port/host unreachable about a datagram of ours fails what waits on that
 * destination from this socket.  Other errors (and our own sends refused, already failed at send) are dropped. */
static void drain_errors(int fd, struct sip_tp *tp)
{
	for (int i = 0; i < UDP_RX_BATCH * UDP_RX_ROUNDS && !sip_tp_stopping(tp); i++) {
		union {
			char buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
			struct cmsghdr align;
		} ctl;
		struct sockaddr_storage dst;
		char byte;
		struct iovec iov = { &byte, 1 };
		struct msghdr mh = { .msg_name = &dst, .msg_namelen = sizeof(dst), .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };

		if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			const struct sock_extended_err *ee = (const void *)CMSG_DATA(cm);
			unsigned n;

			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)) ||
			    (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) ||
			    (ee->ee_errno != ECONNREFUSED && ee->ee_errno != EHOSTUNREACH && ee->ee_errno != ENETUNREACH))
				continue;
			n = sip_txn_transport_failed(tp->txl, tp, &dst);
			if (n)
				cm_log_rl(&icmp_rl, CM_LOG_WARN, "sip", "UDP: %s (ICMP): %u request(s) failed at once",
					  strerror((int)ee->ee_errno), n);
		}
	}
}

/* The callbacks run from here may stop this socket or the transport: held until the end (sip_tp_release does
 * the stops, and re-arms the wheel's tick). */
static void on_readable(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sip_tp *tp = arg;

	(void)loop;
	sip_tp_hold(tp);
	if (events & EPOLLERR)
		drain_errors(fd, tp);
	if ((events & EPOLLIN) && !sip_tp_stopping(tp))
		drain(fd, tp);
	sip_tp_release(tp);
}

/* A bound non-blocking socket on ip:port (0: any), its port in *bound; -1 on failure (logged). */
static int open_socket(const char *ip, uint16_t port, uint16_t *bound)
{
	struct sockaddr_storage a;
	int fd, one = 1;

	if (sip_addr_from(&a, ip, port) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "'%s' is not a numeric IP address", ip);
		return -1;
	}
	fd = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sip_sockaddr_len(&a)) < 0 || (*bound = sip_sock_port(fd)) == 0) {
		cm_log(CM_LOG_ERROR, "sip", "UDP %s:%u: %s", ip, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* ICMP errors queued for us (drain_errors); without it an unconnected socket never hears of them */
	if (a.ss_family == AF_INET6)
		setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
	setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
	return fd;
}

/* The kernel's default receive buffer (~200 KiB) overflows when thousands of endpoints share one socket and a
 * burst of answers arrives while the loop is busy; as root the limit net.core.rmem_max is lifted for this socket
 * (SO_RCVBUFFORCE), otherwise it caps what SO_RCVBUF gets.  Per-endpoint sockets keep the default. */
static void grow_rcvbuf(int fd)
{
	int size = UDP_RCVBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

struct sip_udp *sip_udp_start(struct cp_loop *loop, const char *ip, uint16_t port,
			      const struct sip_txn_user_ops *ops, void *ops_arg)
{
	struct sip_udp *u = calloc(1, sizeof(*u));

	if (!u) {
		cm_log(CM_LOG_ERROR, "sip", "out of memory for a UDP transport");
		return NULL;
	}
	u->txq = calloc(1, sizeof(*u->txq));
	if (!u->txq) {
		cm_log(CM_LOG_ERROR, "sip", "out of memory for a UDP transport");
		goto free_u;
	}
	u->fd = open_socket(ip, port, &port);
	if (u->fd < 0)
		goto free_u;
	u->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	cp_flush_init(&u->flush, on_flush, u);
	grow_rcvbuf(u->fd);
	if (sip_tp_init(&u->tp, SIP_TP_UDP, &udp_ops, loop, ip, port, ops, ops_arg) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "out of memory for the transaction layer");
		goto close_fd;
	}
	if (cp_loop_add_fd(loop, u->fd, EPOLLIN, on_readable, &u->tp) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "cannot add the UDP socket to the event loop");
		goto fini_tp;
	}
	return u;

fini_tp:
	sip_tp_fini(&u->tp);
close_fd:
	close(u->fd);
free_u:
	free(u->txq);
	free(u);
	return NULL;
}

/* drop: the transactions that send from this socket move to the transport's own (not needed when the whole
 * transaction layer is already gone: that walk costs a pass over every hash bucket per socket). */
static void port_close(struct udp_port *p, bool drop)
{
	struct sip_udp *u = p->u;

	for (struct udp_port **pp = &u->ports; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (drop)
		sip_txn_drop_send_ctx(u->tp.txl, &p->tp);
	flush_now(u);
	cp_loop_del_fd(u->tp.loop, p->fd);
	close(p->fd);
	free(p);
}

static void port_stop(struct sip_tp *tp)
{
	port_close((struct udp_port *)tp, true);
}

static const struct sip_tp_ops port_ops = {
	.via = "UDP",
	.uri_param = "",
	.reliable = false,
	.send = port_send,
	.stop = port_stop,
};

struct sip_tp *sip_udp_open_port(struct sip_udp *u, uint16_t port)
{
	struct udp_port *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fd = open_socket(u->tp.ip, port, &port);
	if (p->fd < 0)
		goto free_p;
	p->tp = (struct sip_tp){ .ops = &port_ops, .kind = SIP_TP_UDP, .loop = u->tp.loop, .txl = u->tp.txl,
				 .clock = &u->tp };
	sip_tp_set_addr(&p->tp, u->tp.ip, port);
	p->u = u;
	if (cp_loop_add_fd(u->tp.loop, p->fd, EPOLLIN, on_readable, &p->tp) < 0)
		goto close_fd;
	p->next = u->ports;
	u->ports = p;
	return &p->tp;

close_fd:
	close(p->fd);
free_p:
	free(p);
	return NULL;
}

/* Through sip_tp_stop, which waits while one of the transport's callbacks is running. */
void sip_udp_stop(struct sip_udp *u)
{
	if (u)
		sip_tp_stop(&u->tp);
}

static void udp_stop_now(struct sip_udp *u)
{
	flush_now(u); /* what was sent before the stop (an unregister's last words) still goes */
	sip_tp_fini(&u->tp); /* first: the transactions go with it, whichever socket they send from */
	while (u->ports)
		port_close(u->ports, false);
	flush_now(u);
	cp_loop_flush_cancel(u->tp.loop, &u->flush);
	cp_loop_del_fd(u->tp.loop, u->fd);
	close(u->fd);
	free(u->txq);
	free(u);
}

uint16_t sip_udp_port(const struct sip_udp *u)
{
	return u->tp.port;
}

struct sip_tp *sip_udp_tp(struct sip_udp *u)
{
	return &u->tp;
}

/* Client transactions carry a struct sip_client_handler as their user pointer. */
void sip_client_on_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp)
{
	struct sip_client_handler *h = ct ? sip_txn_user(ct) : NULL;

	(void)arg;
	if (!ct)
		return; /* a stray response: calls take theirs through the UA (sip_ua_txn_ops) */
	if (h && h->on_response)
		h->on_response(h, ct, resp);
}

void sip_client_on_timeout(void *arg, struct sip_txn *t)
{
	struct sip_client_handler *h = sip_txn_user(t);

	(void)arg;
	if (h && (sip_txn_kind(t) == SIP_TXN_CLIENT_INVITE || sip_txn_kind(t) == SIP_TXN_CLIENT_NON_INVITE) &&
	    h->on_timeout)
		h->on_timeout(h, t);
}

void sip_client_on_terminated(void *arg, struct sip_txn *t)
{
	struct sip_client_handler *h = sip_txn_user(t);

	(void)arg;
	if (h && (sip_txn_kind(t) == SIP_TXN_CLIENT_INVITE || sip_txn_kind(t) == SIP_TXN_CLIENT_NON_INVITE) &&
	    h->on_terminated)
		h->on_terminated(h, t);
}
