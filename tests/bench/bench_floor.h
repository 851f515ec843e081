/* The socket side of the floor clients (bench_sip_floor, bench_sip_reg_floor): one UDP socket on 127.0.0.1 with an
 * ephemeral port, datagrams to one peer queued into a batch and sent with sendmmsg once per loop turn (as the
 * product's UDP transport does), and up to FLOOR_BATCH datagrams taken with one recvmmsg per wake-up. */
#ifndef CM_BENCH_FLOOR_H
#define CM_BENCH_FLOOR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define FLOOR_BATCH 64
#define FLOOR_MSG_MAX 1400

struct floor_io {
	int fd, ep;
	struct sockaddr_in peer;
	unsigned lport;           /* ours, for Via and Contact */
	/* the datagrams of this turn */
	struct mmsghdr m[FLOOR_BATCH];
	struct iovec iov[FLOOR_BATCH];
	char buf[FLOOR_BATCH][FLOOR_MSG_MAX];
	unsigned n;
	/* the datagrams of the last wake-up, each NUL-terminated */
	struct mmsghdr rm[FLOOR_BATCH];
	struct iovec riov[FLOOR_BATCH];
	char rbuf[FLOOR_BATCH][FLOOR_MSG_MAX + 1];
};

/* 0, or -1 when the socket cannot be set up. */
static inline int floor_open(struct floor_io *io, unsigned peer_port)
{
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLIN };
	socklen_t ml = sizeof(me);

	io->peer = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)peer_port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	io->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (io->fd < 0 || bind(io->fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    getsockname(io->fd, (struct sockaddr *)&me, &ml) < 0)
		return -1;
	io->lport = ntohs(me.sin_port);
	io->ep = epoll_create1(0);
	if (io->ep < 0 || epoll_ctl(io->ep, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -1;
	for (int i = 0; i < FLOOR_BATCH; i++) {
		io->riov[i] = (struct iovec){ io->rbuf[i], FLOOR_MSG_MAX };
		io->rm[i].msg_hdr = (struct msghdr){ .msg_iov = &io->riov[i], .msg_iovlen = 1 };
	}
	io->n = 0;
	return 0;
}

static inline void floor_close(struct floor_io *io)
{
	close(io->ep);
	close(io->fd);
}

/* Room for the next datagram of this turn (FLOOR_MSG_MAX bytes), or NULL when the batch is full. */
static inline char *floor_next_buf(struct floor_io *io)
{
	return io->n < FLOOR_BATCH ? io->buf[io->n] : NULL;
}

/* Queues the len bytes written at floor_next_buf() for the peer. */
static inline void floor_queue(struct floor_io *io, int len)
{
	io->iov[io->n] = (struct iovec){ io->buf[io->n], (size_t)len };
	io->m[io->n].msg_hdr = (struct msghdr){ .msg_name = &io->peer, .msg_namelen = sizeof(io->peer),
						.msg_iov = &io->iov[io->n], .msg_iovlen = 1 };
	io->n++;
}

/* Sends this turn's datagrams (sendmmsg until all are taken or it fails). */
static inline void floor_flush(struct floor_io *io)
{
	unsigned done = 0;

	while (done < io->n) {
		int rc = sendmmsg(io->fd, io->m + done, io->n - done, 0);
		if (rc <= 0)
			break;
		done += (unsigned)rc;
	}
	io->n = 0;
}

/* Waits up to 10 ms for datagrams and takes what is there: their count, each in rbuf[i], NUL-terminated. */
static inline int floor_receive(struct floor_io *io)
{
	struct epoll_event ev;
	int n = epoll_wait(io->ep, &ev, 1, 10) > 0 ? recvmmsg(io->fd, io->rm, FLOOR_BATCH, MSG_DONTWAIT, NULL) : 0;

	for (int i = 0; i < n; i++)
		io->rbuf[i][io->rm[i].msg_len] = '\0';
	return n;
}

#endif
