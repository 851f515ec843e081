/* UDP transport on the control-plane loop: one non-blocking socket, datagrams drained on EPOLLIN into the
 * transaction layer, and the SIP timer wheel ticked from one cp_loop timer that is armed only while SIP timers
 * are (so an idle worker does not wake up every tick). */
#include <arpa/inet.h>
#include <errno.h>
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

/* One receive area per thread, shared by every UDP transport of that thread's loop (a worker with per-endpoint
 * sockets would otherwise hold a megabyte per socket). */
static _Thread_local struct {
	char buf[UDP_RX_BATCH][SIP_MAX_MSG_SIZE + 1];
	struct sockaddr_storage src[UDP_RX_BATCH];
	struct iovec iov[UDP_RX_BATCH];
	struct mmsghdr msgs[UDP_RX_BATCH];
} rx;

struct sip_udp {
	struct sip_tp tp; /* first: the generic handle (loop, transaction layer, wheel tick, address) */
	int fd;
};

static struct cm_ratelimit tx_rl = CM_RATELIMIT_INIT(10000, 5);

static int udp_send(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	struct sip_udp *u = (struct sip_udp *)tp;

	if (sendto(u->fd, buf, len, 0, (const struct sockaddr *)dst, sip_sockaddr_len(dst)) < 0) {
		int e = errno;
		cm_log_rl(&tx_rl, CM_LOG_WARN, "sip", "UDP send failed: %s", strerror(e));
		return -e;
	}
	return 0;
}

static void udp_stop(struct sip_tp *tp)
{
	sip_udp_stop((struct sip_udp *)tp);
}

static const struct sip_tp_ops udp_ops = {
	.via = "UDP",
	.uri_param = "",
	.reliable = false,
	.send = udp_send,
	.stop = udp_stop,
};

/* Drains the socket with recvmmsg: one system call per batch, none wasted on a final EAGAIN when the batch
 * comes back short. */
static void on_readable(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sip_udp *u = arg;

	(void)loop;
	(void)events;
	sip_tp_tick(&u->tp);
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
		for (int i = 0; i < n; i++)
			sip_txn_receive(u->tp.txl, rx.buf[i], rx.msgs[i].msg_len, &rx.src[i]);
		if (n < UDP_RX_BATCH)
			break;
	}
	sip_tp_kick(&u->tp);
}

struct sip_udp *sip_udp_start(struct cp_loop *loop, const char *ip, uint16_t port,
			      const struct sip_txn_user_ops *ops, void *ops_arg)
{
	struct sip_udp *u = calloc(1, sizeof(*u));
	struct sockaddr_storage a;

	if (!u) {
		cm_log(CM_LOG_ERROR, "sip", "out of memory for a UDP transport");
		return NULL;
	}
	u->fd = -1;
	if (sip_addr_from(&a, ip, port) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "'%s' is not a numeric IP address", ip);
		goto free_u;
	}
	u->fd = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0 || bind(u->fd, (struct sockaddr *)&a, sip_sockaddr_len(&a)) < 0 ||
	    (port = sip_sock_port(u->fd)) == 0) {
		cm_log(CM_LOG_ERROR, "sip", "UDP %s:%u: %s", ip, port, strerror(errno));
		goto close_fd;
	}
	if (sip_tp_init(&u->tp, SIP_TP_UDP, &udp_ops, loop, ip, port, ops, ops_arg) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "out of memory for the transaction layer");
		goto close_fd;
	}
	if (cp_loop_add_fd(loop, u->fd, EPOLLIN, on_readable, u) < 0) {
		cm_log(CM_LOG_ERROR, "sip", "cannot add the UDP socket to the event loop");
		goto fini_tp;
	}
	return u;

fini_tp:
	sip_tp_fini(&u->tp);
close_fd:
	if (u->fd >= 0)
		close(u->fd);
free_u:
	free(u);
	return NULL;
}

void sip_udp_stop(struct sip_udp *u)
{
	if (!u)
		return;
	sip_tp_fini(&u->tp);
	cp_loop_del_fd(u->tp.loop, u->fd);
	close(u->fd);
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
	if (!ct) {
		sip_call_stray_response(resp);
		return;
	}
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
