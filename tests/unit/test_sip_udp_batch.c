/* Sends batched per loop turn (sip/udp.c over cp_loop's end-of-turn flushes), on real sockets on 127.0.0.1:
 * the loop runs deferred flushes once each before it returns (and a flush that defers again runs again, a
 * cancelled one never); datagrams sent during a turn are not on the wire until the turn ends and then all arrive,
 * in order, even past the queue's size; outside a turn a datagram leaves at once; Timer E retransmissions go out
 * on time while the loop otherwise sleeps; a destination the kernel refuses fails the waiting transaction with a
 * transport error (503) from the flush; a destination of another address family fails the send at once. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "check_main.h"
#include "testutil.h"

/* ---- the loop's deferred flushes ----------------------------------------------------------------------------- */

struct flusher {
	struct cp_flush f;
	int runs, again;
	bool in_turn;
};

static void on_flush(struct cp_loop *loop, void *arg)
{
	struct flusher *fl = arg;

	fl->runs++;
	fl->in_turn = cp_loop_in_turn(loop);
	if (fl->again-- > 0)
		cp_loop_flush_later(loop, &fl->f);
}

struct defer_timer {
	struct cp_timer t;
	struct flusher *a, *b, *c;
	int a_runs_inside; /* a's runs seen from the timer callback: none, the flush waits for the turn's end */
};

static void defer_from_timer(struct cp_loop *loop, void *arg)
{
	struct defer_timer *d = arg;

	cp_loop_flush_later(loop, &d->a->f);
	cp_loop_flush_later(loop, &d->a->f); /* asked twice: runs once */
	cp_loop_flush_later(loop, &d->b->f);
	cp_loop_flush_later(loop, &d->c->f);
	cp_loop_flush_cancel(loop, &d->c->f);
	d->a_runs_inside = d->a->runs;
}

START_TEST(loop_flushes_at_turn_end)
{
	struct cp_loop *loop = cp_loop_new();
	struct flusher a = { 0 }, b = { .again = 2 }, c = { 0 };
	struct defer_timer d = { .a = &a, .b = &b, .c = &c };

	cp_flush_init(&a.f, on_flush, &a);
	cp_flush_init(&b.f, on_flush, &b);
	cp_flush_init(&c.f, on_flush, &c);
	cp_timer_init(&d.t, defer_from_timer, &d);
	ck_assert(!cp_loop_in_turn(loop));
	cp_timer_start(loop, &d.t, 0);
	ck_assert_int_gt(cp_loop_run_once(loop, 100), 0);
	ck_assert_int_eq(d.a_runs_inside, 0);
	ck_assert_int_eq(a.runs, 1);
	ck_assert(a.in_turn);
	ck_assert_int_eq(b.runs, 3); /* deferred itself twice more from its own callback */
	ck_assert_int_eq(c.runs, 0);
	ck_assert(!cp_loop_in_turn(loop));
	cp_loop_run_once(loop, 0);
	ck_assert_int_eq(a.runs, 1);
	cp_loop_free(loop);
}
END_TEST

/* ---- datagrams -------------------------------------------------------------------------------------------- */

static int request(char *buf, size_t cap, const char *branch, unsigned cseq)
{
	return snprintf(buf, cap,
			"OPTIONS sip:peer@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=%s\r\n"
			"Max-Forwards: 70\r\nFrom: <sip:batch@127.0.0.1>;tag=b1\r\nTo: <sip:peer@127.0.0.1>\r\n"
			"Call-ID: batch-%s\r\nCSeq: %u OPTIONS\r\nContent-Length: 0\r\n\r\n",
			branch, branch, cseq);
}

/* The CSeq number of a received request, 0 if none. */
static unsigned cseq_of(const char *buf, size_t len)
{
	static struct sip_msg m;
	struct sip_cseq cs;
	const char *why;

	if (sip_msg_parse(&m, buf, len) < 0 || !sip_msg_hdr(&m, SIP_HDR_CSEQ) ||
	    sip_parse_cseq(sip_msg_hdr(&m, SIP_HDR_CSEQ)->value, &cs, &why) < 0)
		return 0;
	return cs.seq;
}

/* Everything waiting on the peer socket, CSeq numbers into seen[]. */
static unsigned drain_peer(int fd, unsigned *seen, unsigned cap)
{
	char buf[4096];
	unsigned n = 0;
	ssize_t len;

	while ((len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		if (n < cap)
			seen[n++] = cseq_of(buf, (size_t)len);
	return n;
}

enum { BURST = 150 }; /* more than the queue holds (UDP_TX_BATCH): it is sent early once, in order */

struct burst {
	struct cp_timer t;
	struct sip_tp *tp;
	struct sockaddr_storage dst;
	int peer;
	unsigned started, on_wire_inside;
};

static const struct sip_txn_user_ops quiet_ops = { 0 };

static void send_burst(struct cp_loop *loop, void *arg)
{
	struct burst *b = arg;
	unsigned seen[BURST];
	char req[1024], branch[48];
	int err;

	(void)loop;
	for (unsigned i = 1; i <= BURST; i++) {
		snprintf(branch, sizeof(branch), "z9hG4bKburst%u", i);
		if (sip_tp_request(b->tp, req, (size_t)request(req, sizeof(req), branch, i), &b->dst, NULL, &err))
			b->started++;
	}
	b->on_wire_inside = drain_peer(b->peer, seen, BURST);
}

START_TEST(turn_batches_arrive_in_order)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &quiet_ops, NULL);
	struct burst b = { .tp = sip_udp_tp(u) };
	unsigned seen[BURST + 8], n = 0;
	uint16_t port;
	uint64_t t0;

	ck_assert_ptr_nonnull(u);
	b.peer = tu_udp_socket(&port);
	sip_addr_from(&b.dst, "127.0.0.1", port);
	cp_timer_init(&b.t, send_burst, &b);
	cp_timer_start(loop, &b.t, 0);
	cp_loop_run_once(loop, 100);
	ck_assert_uint_eq(b.started, BURST);
	/* inside the turn only the full queue had gone; the rest waited for the turn's end */
	ck_assert_uint_lt(b.on_wire_inside, BURST);
	t0 = cm_now_ms();
	while (n < BURST && cm_now_ms() - t0 < 2000) {
		n += drain_peer(b.peer, seen + n, BURST + 8 - n);
		usleep(1000);
	}
	ck_assert_uint_eq(n + b.on_wire_inside, BURST);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(seen[i], b.on_wire_inside + i + 1);
	close(b.peer);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

/* Outside a turn nothing would flush a queue: the datagram is on the wire when the call returns. */
START_TEST(outside_turn_sends_at_once)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &quiet_ops, NULL);
	struct sockaddr_storage dst;
	unsigned seen[4];
	char req[1024];
	uint16_t port;
	int peer = tu_udp_socket(&port);

	sip_addr_from(&dst, "127.0.0.1", port);
	ck_assert_int_eq(sip_tp_send(sip_udp_tp(u), &dst, req, (size_t)request(req, sizeof(req), "z9hG4bKnow", 7)), 0);
	ck_assert_uint_eq(drain_peer(peer, seen, 4), 1);
	ck_assert_uint_eq(seen[0], 7);
	close(peer);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

/* A silent peer: Timer E resends the request at T1, then 2*T1 later, from the wheel's cp_loop timer; the loop
 * sleeps in between with the retransmission queued, so it arrives on time only if the queue is flushed before
 * the loop sleeps. */
struct retx_peer {
	uint64_t t0, at[4];
	unsigned n;
};

static void retx_readable(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct retx_peer *p = arg;
	char buf[4096];

	(void)events;
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		if (p->n < 4)
			p->at[p->n++] = cm_now_ms() - p->t0;
	if (p->n >= 3)
		cp_loop_stop(loop);
}

struct giveup {
	struct cp_timer t;
};

static void give_up(struct cp_loop *loop, void *arg)
{
	(void)arg;
	cp_loop_stop(loop);
}

START_TEST(retransmissions_on_time_while_idle)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &quiet_ops, NULL);
	struct retx_peer p = { 0 };
	struct giveup g;
	struct sockaddr_storage dst;
	char req[1024];
	uint16_t port;
	int peer = tu_udp_socket(&port), err;

	sip_addr_from(&dst, "127.0.0.1", port);
	ck_assert_int_eq(cp_loop_add_fd(loop, peer, EPOLLIN, retx_readable, &p), 0);
	cp_timer_init(&g.t, give_up, &g);
	cp_timer_start(loop, &g.t, 4000);
	p.t0 = cm_now_ms();
	ck_assert_ptr_nonnull(
		sip_tp_request(sip_udp_tp(u), req, (size_t)request(req, sizeof(req), "z9hG4bKretx", 1), &dst, NULL, &err));
	cp_loop_run(loop);
	ck_assert_uint_eq(p.n, 3);
	/* within two wheel ticks and scheduling slack of when Timer E is due */
	ck_assert_uint_lt(p.at[0], 50);
	ck_assert_uint_ge(p.at[1], SIP_T1_MS - SIP_WHEEL_TICK_MS);
	ck_assert_uint_le(p.at[1], SIP_T1_MS + 2 * SIP_WHEEL_TICK_MS + 100);
	ck_assert_uint_ge(p.at[2], 3 * SIP_T1_MS - SIP_WHEEL_TICK_MS);
	ck_assert_uint_le(p.at[2], 3 * SIP_T1_MS + 2 * SIP_WHEEL_TICK_MS + 100);
	ck_assert_uint_eq(sip_txn_layer_stats(sip_tp_txn_layer(sip_udp_tp(u)))->retransmissions, 2);
	cp_timer_stop(loop, &g.t);
	cp_loop_del_fd(loop, peer);
	close(peer);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

/* A destination the kernel refuses (limited broadcast without SO_BROADCAST), sent inside a turn: the request is
 * queued, the flush finds the refusal and the waiting transaction ends with a transport error before the turn
 * returns; another address family fails at the send. */
static struct {
	unsigned timeouts, last_status;
} refused;

static void refused_timeout(void *arg, struct sip_txn *t)
{
	(void)arg;
	refused.timeouts++;
	refused.last_status = sip_txn_last_status(t);
}

struct refuse {
	struct cp_timer t;
	struct sip_tp *tp;
	struct sip_txn *queued;
	int v6_err;
};

static void send_refused(struct cp_loop *loop, void *arg)
{
	struct refuse *r = arg;
	struct sockaddr_storage dst;
	char req[1024];
	int err;

	(void)loop;
	sip_addr_from(&dst, "255.255.255.255", 5060);
	r->queued = sip_tp_request(r->tp, req, (size_t)request(req, sizeof(req), "z9hG4bKbcast", 1), &dst, NULL, &err);
	sip_addr_from(&dst, "::1", 5060);
	if (!sip_tp_request(r->tp, req, (size_t)request(req, sizeof(req), "z9hG4bKv6", 2), &dst, NULL, &err))
		r->v6_err = err;
}

START_TEST(refused_destination_is_a_transport_error)
{
	static const struct sip_txn_user_ops ops = { .on_timeout = refused_timeout };
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &ops, NULL);
	struct refuse r = { .tp = sip_udp_tp(u) };

	memset(&refused, 0, sizeof(refused));
	cp_timer_init(&r.t, send_refused, &r);
	cp_timer_start(loop, &r.t, 0);
	cp_loop_run_once(loop, 100);
	ck_assert_ptr_nonnull(r.queued);
	ck_assert_int_lt(r.v6_err, 0);
	ck_assert_uint_eq(refused.timeouts, 1);
	ck_assert_uint_eq(refused.last_status, 503);
	ck_assert_uint_eq(sip_txn_layer_stats(sip_tp_txn_layer(sip_udp_tp(u)))->transport_errors, 1);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

static Suite *batch_suite(void)
{
	Suite *s = suite_create("sip_udp_batch");
	TCase *tc = tcase_create("batch");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, loop_flushes_at_turn_end);
	tcase_add_test(tc, turn_batches_arrive_in_order);
	tcase_add_test(tc, outside_turn_sends_at_once);
	tcase_add_test(tc, retransmissions_on_time_while_idle);
	tcase_add_test(tc, refused_destination_is_a_transport_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(batch_suite());
}
