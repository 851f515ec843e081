/* The SIP timer wheel and the RFC 3261 §17 transactions on a fake clock and a fake transport: every timer A–K
 * fires when the RFC says (within one wheel tick), retransmission counts and intervals, the ACK generated for a
 * non-2xx, absorption of retransmissions; a few hundred thousand timers at once; and the UDP transport on the
 * real event loop exchanging a transaction over 127.0.0.1 with a peer that ignores the first request. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "sip/sip_internal.h"
#include "check_main.h"
#include "testutil.h"

/* ---- timer wheel ------------------------------------------------------------------------------------------ */

struct probe {
	struct sip_wtimer t;
	uint64_t want_ms;
	uint64_t fired_at;
	int fired;
};

static uint64_t fake_now;

static void probe_cb(struct sip_wtimer *w)
{
	struct probe *p = (struct probe *)w;

	p->fired++;
	p->fired_at = fake_now;
}

/* 300,000 timers with delays up to 100 s (beyond one revolution): each fires once, never early, at most one tick
 * late; stopped ones never fire. */
START_TEST(wheel_many_timers)
{
	enum { N = 300000 };
	static struct sip_wheel w;
	struct probe *p = calloc(N, sizeof(*p));
	uint32_t seed = 12345;
	unsigned fired = 0, stopped = 0;

	fake_now = 1000000;
	sip_wheel_init(&w, fake_now);
	for (unsigned i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i].want_ms = fake_now + (seed >> 8) % 100000;
		sip_wtimer_start(&w, &p[i].t, p[i].want_ms - fake_now, probe_cb);
	}
	ck_assert_uint_eq(w.armed, N);
	for (unsigned i = 0; i < N; i += 10) {
		sip_wtimer_stop(&w, &p[i].t);
		stopped++;
	}
	while (fake_now < 1000000 + 101000) {
		fake_now += 7; /* not aligned with the tick on purpose */
		fired += sip_wheel_advance(&w, fake_now);
	}
	ck_assert_uint_eq(fired, N - stopped);
	ck_assert_uint_eq(w.armed, 0);
	for (unsigned i = 0; i < N; i++) {
		if (i % 10 == 0) {
			ck_assert_int_eq(p[i].fired, 0);
			continue;
		}
		ck_assert_int_eq(p[i].fired, 1);
		ck_assert_msg(p[i].fired_at >= p[i].want_ms, "timer %u early: %lu < %lu", i,
			      (unsigned long)p[i].fired_at, (unsigned long)p[i].want_ms);
		ck_assert_msg(p[i].fired_at <= p[i].want_ms + 2 * SIP_WHEEL_TICK_MS + 7, "timer %u late", i);
	}
	free(p);
}
END_TEST

/* Two timers due in the same tick, each stopping the other: exactly one fires, whatever the order; a timer
 * re-arming itself from its callback fires again. */
static struct sip_wheel cw;
static struct probe a_, b_, c_;
static void stop_b(struct sip_wtimer *w)
{
	(void)w;
	a_.fired++;
	sip_wtimer_stop(&cw, &b_.t);
}
static void stop_a(struct sip_wtimer *w)
{
	(void)w;
	b_.fired++;
	sip_wtimer_stop(&cw, &a_.t);
}
static void rearm(struct sip_wtimer *w)
{
	c_.fired++;
	if (c_.fired < 3)
		sip_wtimer_start(&cw, w, 100, rearm);
}

START_TEST(wheel_callbacks_stop_and_rearm)
{
	sip_wheel_init(&cw, 0);
	memset(&a_, 0, sizeof(a_));
	memset(&b_, 0, sizeof(b_));
	memset(&c_, 0, sizeof(c_));
	sip_wtimer_start(&cw, &a_.t, 50, stop_b);
	sip_wtimer_start(&cw, &b_.t, 50, stop_a);
	sip_wtimer_start(&cw, &c_.t, 50, rearm);
	ck_assert_int_eq(sip_wheel_next_ms(&cw), 50);
	ck_assert_uint_eq(sip_wheel_advance(&cw, 49), 0);
	ck_assert_uint_eq(sip_wheel_advance(&cw, 1000), 4);
	ck_assert_int_eq(a_.fired + b_.fired, 1);
	ck_assert_int_eq(c_.fired, 3);
	ck_assert_int_eq(sip_wheel_next_ms(&cw), -1);
	ck_assert_uint_eq(cw.armed, 0);
}
END_TEST

static void noop(struct sip_wtimer *t)
{
	(void)t;
}

/* The remembered scan position never hides a timer: after random starts (near, far, beyond one revolution),
 * stops and advances, sip_wheel_next_ms equals a full scan from the current tick. */
START_TEST(wheel_next_matches_full_scan)
{
	static struct sip_wheel w;
	static struct sip_wtimer t[200];
	uint64_t now = 1000000;
	unsigned seed = 7;

	sip_wheel_init(&w, now);
	memset(t, 0, sizeof(t));
	for (unsigned step = 0; step < 20000; step++) {
		unsigned k = (unsigned)rand_r(&seed) % 200, op = (unsigned)rand_r(&seed) % 4;
		if (op == 0)
			sip_wtimer_stop(&w, &t[k]);
		else if (op == 1)
			sip_wheel_advance(&w, now += (unsigned)rand_r(&seed) % 700);
		else
			sip_wtimer_start(&w, &t[k], (unsigned)rand_r(&seed) % (op == 2 ? 2000 : 90000), noop);
		int want = -1;
		for (unsigned i = 1; w.armed && i <= SIP_WHEEL_SLOTS; i++)
			if (w.slot[(w.tick + i) % SIP_WHEEL_SLOTS]) {
				want = (int)(i * SIP_WHEEL_TICK_MS);
				break;
			}
		ck_assert_int_eq(sip_wheel_next_ms(&w), want);
	}
}
END_TEST

/* ---- transactions on a fake clock ------------------------------------------------------------------------- */

#define MAX_SENT 64
static struct {
	char msg[MAX_SENT][2048];
	uint64_t at[MAX_SENT];
	unsigned n;
} sent;
static struct {
	unsigned requests, responses, timeouts, terminated, stray;
	unsigned last_status;
	struct sip_txn *last_st;
	uint64_t timeout_at;
} tu;

static bool count_only;
static unsigned long sends_counted;

static int fake_send(void *ctx, const struct sockaddr_storage *dst, const char *buf, size_t len)
{
	(void)ctx;
	(void)dst;
	if (count_only) {
		sends_counted++;
		return 0;
	}
	ck_assert_uint_lt(sent.n, MAX_SENT);
	ck_assert_uint_lt(len, sizeof(sent.msg[0]));
	memcpy(sent.msg[sent.n], buf, len);
	sent.msg[sent.n][len] = '\0';
	sent.at[sent.n++] = fake_now;
	return 0;
}

static void tu_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	(void)arg;
	(void)req;
	(void)src;
	tu.requests++;
	tu.last_st = st;
}

static void tu_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp)
{
	(void)arg;
	if (!ct)
		tu.stray++;
	tu.responses++;
	tu.last_status = resp->status;
}

static void tu_timeout(void *arg, struct sip_txn *t)
{
	(void)arg;
	(void)t;
	tu.timeouts++;
	tu.timeout_at = fake_now;
}

static void tu_terminated(void *arg, struct sip_txn *t)
{
	(void)arg;
	if (t == tu.last_st)
		tu.last_st = NULL;
	tu.terminated++;
}

static const struct sip_txn_user_ops ops = {
	.on_request = tu_request, .on_response = tu_response, .on_timeout = tu_timeout,
	.on_terminated = tu_terminated,
};

static struct sip_txn_layer *fresh_layer(void)
{
	memset(&sent, 0, sizeof(sent));
	memset(&tu, 0, sizeof(tu));
	fake_now = 5000;
	return sip_txn_layer_new(fake_now, false, fake_send, NULL, &ops, NULL);
}

static void run_until(struct sip_txn_layer *l, uint64_t until)
{
	while (fake_now < until) {
		fake_now += 1;
		sip_txn_tick(l, fake_now);
	}
}

static const struct sockaddr_storage *peer(void)
{
	static struct sockaddr_storage a;
	sip_addr_from(&a, "127.0.0.1", 5060);
	return &a;
}

static int request(char *buf, size_t cap, const char *method, const char *branch, unsigned cseq)
{
	return snprintf(buf, cap,
			"%s sip:bob@biloxi.example.com SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=%s\r\n"
			"Route: <sip:proxy.example.com;lr>\r\n"
			"Max-Forwards: 70\r\nFrom: <sip:alice@atlanta.example.com>;tag=a1\r\n"
			"To: <sip:bob@biloxi.example.com>\r\nCall-ID: call-%s\r\nCSeq: %u %s\r\n"
			"Content-Length: 0\r\n\r\n",
			method, branch, branch, cseq, method);
}

static int response(char *buf, size_t cap, unsigned status, const char *method, const char *branch, unsigned cseq)
{
	return snprintf(buf, cap,
			"SIP/2.0 %u %s\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=%s\r\n"
			"From: <sip:alice@atlanta.example.com>;tag=a1\r\nTo: <sip:bob@biloxi.example.com>;tag=b2\r\n"
			"Call-ID: call-%s\r\nCSeq: %u %s\r\nContent-Length: 0\r\n\r\n",
			status, sip_reason_phrase(status), branch, branch, cseq, method);
}

/* Timer A doubles from T1 with no cap; Timer B = 64*T1 ends it with a timeout. */
START_TEST(client_invite_timer_a_b)
{
	struct sip_txn_layer *l = fresh_layer();
	static const uint64_t want[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
	char req[1024];
	int n = request(req, sizeof(req), "INVITE", "z9hG4bKa1", 1), err;
	struct sip_txn *t = sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_CALLING);
	run_until(l, 5000 + 40000);
	ck_assert_uint_eq(sent.n, CM_ARRAY_SIZE(want));
	for (unsigned i = 0; i < sent.n; i++) {
		ck_assert_msg(sent.at[i] >= 5000 + want[i] && sent.at[i] <= 5000 + want[i] + 2 * SIP_WHEEL_TICK_MS,
			      "send %u at +%lu, want +%lu", i, (unsigned long)(sent.at[i] - 5000),
			      (unsigned long)want[i]);
		ck_assert_str_eq(sent.msg[i], req);
	}
	ck_assert_uint_eq(tu.timeouts, 1);
	ck_assert_uint_ge(tu.timeout_at, 5000 + 32000);
	ck_assert_uint_le(tu.timeout_at, 5000 + 32000 + 2 * SIP_WHEEL_TICK_MS);
	ck_assert_uint_eq(tu.terminated, 1);
	ck_assert_uint_eq(sip_txn_layer_stats(l)->retransmissions, 6);
	ck_assert_uint_eq(sip_txn_layer_stats(l)->live, 0);
	sip_txn_layer_free(l);
}
END_TEST

/* 180 stops retransmission; 486 → ACK built per §17.1.1.3 and re-sent for each retransmitted 486; Timer D. */
START_TEST(client_invite_non2xx_ack_and_timer_d)
{
	struct sip_txn_layer *l = fresh_layer();
	char req[1024], resp[1024];
	int n = request(req, sizeof(req), "INVITE", "z9hG4bKa2", 7), err;
	struct sip_txn *t = sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err);
	static struct sip_msg ack;
	struct sip_cseq cs;
	const char *why;

	run_until(l, 5000 + 600); /* one retransmission */
	ck_assert_uint_eq(sent.n, 2);
	n = response(resp, sizeof(resp), 180, "INVITE", "z9hG4bKa2", 7);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_PROCEEDING);
	run_until(l, 5000 + 40000); /* Proceeding: no retransmission, no Timer B */
	ck_assert_uint_eq(sent.n, 2);
	ck_assert_uint_eq(tu.timeouts, 0);

	n = response(resp, sizeof(resp), 486, "INVITE", "z9hG4bKa2", 7);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.last_status, 486);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	ck_assert_uint_eq(sent.n, 3);
	ck_assert_int_eq(sip_msg_parse(&ack, sent.msg[2], strlen(sent.msg[2])), 0);
	ck_assert_int_eq(sip_msg_validate(&ack), 0);
	ck_assert_int_eq(ack.method_id, SIP_ACK);
	ck_assert(sip_str_eq(ack.ruri, "sip:bob@biloxi.example.com"));
	ck_assert(sip_str_eq(sip_msg_hdr(&ack, SIP_HDR_VIA)->value, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa2"));
	ck_assert(sip_str_eq(sip_msg_hdr(&ack, SIP_HDR_TO)->value, "<sip:bob@biloxi.example.com>;tag=b2"));
	ck_assert(sip_str_eq(sip_msg_hdr(&ack, SIP_HDR_ROUTE)->value, "<sip:proxy.example.com;lr>"));
	ck_assert_int_eq(sip_parse_cseq(sip_msg_hdr(&ack, SIP_HDR_CSEQ)->value, &cs, &why), 0);
	ck_assert_uint_eq(cs.seq, 7);
	ck_assert_int_eq(cs.method_id, SIP_ACK);
	/* a retransmitted 486 is absorbed and ACKed again, not passed up */
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_uint_eq(sent.n, 4);
	ck_assert_str_eq(sent.msg[3], sent.msg[2]);
	ck_assert_uint_eq(tu.responses, 2);
	/* Timer D: 32 s */
	uint64_t completed_at = fake_now;
	run_until(l, completed_at + 31900);
	ck_assert_uint_eq(tu.terminated, 0);
	run_until(l, completed_at + 32100);
	ck_assert_uint_eq(tu.terminated, 1);
	ck_assert_uint_eq(tu.timeouts, 0);
	sip_txn_layer_free(l);
}
END_TEST

/* 2xx ends the client INVITE transaction; a retransmitted 2xx is a stray for the TU (it re-ACKs). */
START_TEST(client_invite_2xx)
{
	struct sip_txn_layer *l = fresh_layer();
	char req[1024], resp[1024];
	int n = request(req, sizeof(req), "INVITE", "z9hG4bKa3", 1), err;

	ck_assert_ptr_nonnull(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	n = response(resp, sizeof(resp), 200, "INVITE", "z9hG4bKa3", 1);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.last_status, 200);
	run_until(l, fake_now + 20);
	ck_assert_uint_eq(tu.terminated, 1);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.stray, 1);
	ck_assert_uint_eq(sent.n, 1); /* no ACK from the transaction for a 2xx */
	sip_txn_layer_free(l);
}
END_TEST

/* A request our builder made, started with the key it already knows (no parsing): the same transaction as
 * sip_txn_client_start would make (responses match by branch and CSeq method, the non-2xx ACK is built from the
 * copy, a duplicate branch is refused), and the same refusals (no magic cookie, ACK, an unknown method). */
START_TEST(client_start_built)
{
	struct sip_txn_layer *l = fresh_layer();
	char req[1024], resp[1024];
	int n = request(req, sizeof(req), "INVITE", "z9hG4bKb1", 3), err;
	struct sip_txn *t = sip_txn_client_start_built(l, req, (size_t)n, peer(), SIP_STR("z9hG4bKb1"), SIP_INVITE,
						       NULL, &err);
	static struct sip_msg ack;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(sip_txn_kind(t), SIP_TXN_CLIENT_INVITE);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_CALLING);
	ck_assert_uint_eq(sent.n, 1);
	ck_assert_str_eq(sent.msg[0], req);
	ck_assert_ptr_null(sip_txn_client_start_built(l, req, (size_t)n, peer(), SIP_STR("z9hG4bKb1"), SIP_INVITE,
						      NULL, &err));
	ck_assert_int_eq(err, -EEXIST);
	ck_assert_ptr_null(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	ck_assert_int_eq(err, -EEXIST);
	ck_assert_ptr_null(sip_txn_client_start_built(l, req, (size_t)n, peer(), SIP_STR("b1"), SIP_INVITE, NULL, &err));
	ck_assert_int_eq(err, -EINVAL);
	ck_assert_ptr_null(sip_txn_client_start_built(l, req, (size_t)n, peer(), SIP_STR("z9hG4bKb2"), SIP_ACK, NULL,
						      &err));
	ck_assert_int_eq(err, -EINVAL);
	ck_assert_ptr_null(sip_txn_client_start_built(l, req, (size_t)n, peer(), SIP_STR("z9hG4bKb3"),
						      SIP_METHOD_UNKNOWN, NULL, &err));
	ck_assert_int_eq(err, -EINVAL);
	/* a response for the same branch but another method is not ours */
	n = response(resp, sizeof(resp), 200, "BYE", "z9hG4bKb1", 3);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.stray, 1);
	n = response(resp, sizeof(resp), 486, "INVITE", "z9hG4bKb1", 3);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.stray, 1);
	ck_assert_uint_eq(tu.last_status, 486);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	ck_assert_uint_eq(sent.n, 2);
	ck_assert_int_eq(sip_msg_parse(&ack, sent.msg[1], strlen(sent.msg[1])), 0);
	ck_assert_int_eq(ack.method_id, SIP_ACK);
	ck_assert(sip_str_eq(sip_msg_hdr(&ack, SIP_HDR_VIA)->value, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb1"));
	/* a non-INVITE one: Trying, then Completed by its 200 */
	n = request(req, sizeof(req), "OPTIONS", "z9hG4bKb4", 4);
	t = sip_txn_client_start_built(l, req, (size_t)n, peer(), SIP_STR("z9hG4bKb4"), SIP_OPTIONS, NULL, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(sip_txn_kind(t), SIP_TXN_CLIENT_NON_INVITE);
	n = response(resp, sizeof(resp), 200, "OPTIONS", "z9hG4bKb4", 4);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	ck_assert_uint_eq(tu.stray, 1);
	sip_txn_layer_free(l);
}
END_TEST

/* Timer E doubles to T2 and stays there; F = 64*T1 times out.  Then a second transaction gets 100 (E jumps to
 * T2) and 200 (Completed, Timer K = T4). */
START_TEST(client_non_invite_timers_e_f_k)
{
	struct sip_txn_layer *l = fresh_layer();
	static const uint64_t want[] = { 0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500 };
	char req[1024], resp[1024];
	int n = request(req, sizeof(req), "REGISTER", "z9hG4bKe1", 1), err;
	struct sip_txn *t;

	ck_assert_ptr_nonnull(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	run_until(l, 5000 + 33000);
	ck_assert_uint_eq(sent.n, CM_ARRAY_SIZE(want));
	for (unsigned i = 0; i < sent.n; i++)
		ck_assert_msg(sent.at[i] >= 5000 + want[i] && sent.at[i] <= 5000 + want[i] + 2 * SIP_WHEEL_TICK_MS,
			      "send %u at +%lu, want +%lu", i, (unsigned long)(sent.at[i] - 5000),
			      (unsigned long)want[i]);
	ck_assert_uint_eq(tu.timeouts, 1);
	ck_assert_uint_ge(tu.timeout_at, 5000 + 32000);

	sent.n = 0;
	n = request(req, sizeof(req), "OPTIONS", "z9hG4bKe2", 2);
	uint64_t start = fake_now;
	t = sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err);
	n = response(resp, sizeof(resp), 100, "OPTIONS", "z9hG4bKe2", 2);
	run_until(l, start + 100);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_PROCEEDING);
	run_until(l, start + 4400); /* E fired at 500 in Proceeding: the next one is T2 later */
	ck_assert_uint_eq(sent.n, 2);
	run_until(l, start + 4600);
	ck_assert_uint_eq(sent.n, 3);
	ck_assert_uint_ge(sent.at[2], start + 4500);
	n = response(resp, sizeof(resp), 200, "OPTIONS", "z9hG4bKe2", 2);
	ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
	ck_assert_int_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
	uint64_t done = fake_now;
	unsigned term = tu.terminated;
	run_until(l, done + 4900);
	ck_assert_uint_eq(tu.terminated, term);
	run_until(l, done + 5100); /* Timer K = T4 */
	ck_assert_uint_eq(tu.terminated, term + 1);
	ck_assert_uint_eq(sent.n, 3);
	sip_txn_layer_free(l);
}
END_TEST

/* Server INVITE: 100 at once, a retransmitted INVITE gets the last response again, a 486 is retransmitted by
 * Timer G (T1 doubling to T2) until the ACK (Confirmed), Timer I ends it; without an ACK Timer H times out. */
START_TEST(server_invite_g_h_i)
{
	struct sip_txn_layer *l = fresh_layer();
	static const uint64_t want[] = { 0, 500, 1500, 3500, 7500 };
	char req[1024], ack[1024];
	int n = request(req, sizeof(req), "INVITE", "z9hG4bKs1", 3);
	struct sip_txn *st;
	static struct sip_msg m;
	uint64_t t0;

	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.requests, 1);
	st = tu.last_st;
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(sip_txn_kind(st), SIP_TXN_SERVER_INVITE);
	ck_assert_uint_eq(sent.n, 1);
	ck_assert_int_eq(sip_msg_parse(&m, sent.msg[0], strlen(sent.msg[0])), 0);
	ck_assert_uint_eq(m.status, 100);
	ck_assert_int_eq(sip_msg_validate(&m), 0);
	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0); /* retransmission */
	ck_assert_uint_eq(tu.requests, 1);
	ck_assert_uint_eq(sent.n, 2);
	ck_assert_str_eq(sent.msg[1], sent.msg[0]);

	sent.n = 0;
	t0 = fake_now;
	ck_assert_int_eq(sip_txn_respond_simple(st, 486, "srv1", NULL), 0);
	ck_assert_int_eq(sip_msg_parse(&m, sent.msg[0], strlen(sent.msg[0])), 0);
	ck_assert_uint_eq(m.status, 486);
	ck_assert(sip_str_eq(sip_msg_hdr(&m, SIP_HDR_TO)->value, "<sip:bob@biloxi.example.com>;tag=srv1"));
	run_until(l, t0 + 8000);
	ck_assert_uint_eq(sent.n, CM_ARRAY_SIZE(want));
	for (unsigned i = 0; i < sent.n; i++)
		ck_assert_msg(sent.at[i] >= t0 + want[i] && sent.at[i] <= t0 + want[i] + 2 * SIP_WHEEL_TICK_MS,
			      "send %u at +%lu", i, (unsigned long)(sent.at[i] - t0));
	n = snprintf(ack, sizeof(ack),
		     "ACK sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKs1\r\n"
		     "From: <sip:alice@atlanta.example.com>;tag=a1\r\nTo: <sip:bob@biloxi.example.com>;tag=srv1\r\n"
		     "Call-ID: call-z9hG4bKs1\r\nCSeq: 3 ACK\r\nContent-Length: 0\r\n\r\n");
	ck_assert_int_eq(sip_txn_receive(l, ack, (size_t)n, peer()), 0);
	ck_assert_int_eq(sip_txn_state(st), SIP_TXN_CONFIRMED);
	ck_assert_uint_eq(tu.requests, 1); /* the ACK is absorbed */
	unsigned before = sent.n;
	uint64_t confirmed = fake_now;
	run_until(l, confirmed + 4900);
	ck_assert_uint_eq(sent.n, before); /* no more G */
	ck_assert_uint_eq(tu.terminated, 0);
	run_until(l, confirmed + 5100); /* Timer I = T4 */
	ck_assert_uint_eq(tu.terminated, 1);

	/* no ACK at all: G until H = 64*T1, then a timeout */
	n = request(req, sizeof(req), "INVITE", "z9hG4bKs2", 4);
	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0);
	t0 = fake_now;
	ck_assert_int_eq(sip_txn_respond_simple(tu.last_st, 603, "x", NULL), 0);
	run_until(l, t0 + 31900);
	ck_assert_uint_eq(tu.timeouts, 0);
	run_until(l, t0 + 32100);
	ck_assert_uint_eq(tu.timeouts, 1);
	sip_txn_layer_free(l);
}
END_TEST

/* Server non-INVITE: retransmissions absorbed in Trying, answered with the final response in Completed; Timer J;
 * a 2xx INVITE response ends the server transaction and the ACK then goes to the TU. */
START_TEST(server_non_invite_j_and_2xx_ack)
{
	struct sip_txn_layer *l = fresh_layer();
	char req[1024], ack[1024];
	int n = request(req, sizeof(req), "OPTIONS", "z9hG4bKj1", 9);
	struct sip_txn *st;
	uint64_t t0;

	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0);
	st = tu.last_st;
	ck_assert_int_eq(sip_txn_state(st), SIP_TXN_TRYING);
	ck_assert_uint_eq(sent.n, 0); /* no 100 for non-INVITE */
	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0);
	ck_assert_uint_eq(sent.n, 0);
	ck_assert_int_eq(sip_txn_respond_simple(st, 200, "t9", "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"), 0);
	ck_assert_uint_eq(sent.n, 1);
	ck_assert(strstr(sent.msg[0], "\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"));
	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0);
	ck_assert_uint_eq(sent.n, 2);
	ck_assert_str_eq(sent.msg[1], sent.msg[0]);
	ck_assert_int_eq(sip_txn_respond_simple(st, 500, NULL, NULL), -EINVAL); /* past sending */
	t0 = fake_now;
	run_until(l, t0 + 31900);
	ck_assert_uint_eq(tu.terminated, 0);
	run_until(l, t0 + 32100);
	ck_assert_uint_eq(tu.terminated, 1);

	n = request(req, sizeof(req), "INVITE", "z9hG4bKj2", 1);
	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0);
	ck_assert_int_eq(sip_txn_respond_simple(tu.last_st, 200, "ok", NULL), 0);
	run_until(l, fake_now + 20);
	ck_assert_uint_eq(tu.terminated, 2);
	n = snprintf(ack, sizeof(ack),
		     "ACK sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnew\r\n"
		     "From: <sip:alice@atlanta.example.com>;tag=a1\r\nTo: <sip:bob@biloxi.example.com>;tag=ok\r\n"
		     "Call-ID: call-z9hG4bKj2\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
	unsigned reqs = tu.requests;
	ck_assert_int_eq(sip_txn_receive(l, ack, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.requests, reqs + 1);
	ck_assert_ptr_null(tu.last_st);
	sip_txn_layer_free(l);
}
END_TEST

/* Garbage is counted and dropped; a request without the magic cookie cannot start a client transaction. */
START_TEST(bad_input_counted)
{
	struct sip_txn_layer *l = fresh_layer();
	char req[1024];
	int n = request(req, sizeof(req), "OPTIONS", "old-style-branch", 1), err;

	ck_assert_int_eq(sip_txn_receive(l, "garbage\r\n\r\n", 11, peer()), -EINVAL);
	ck_assert_int_eq(sip_txn_receive(l, "OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n", 34, peer()), -EINVAL);
	ck_assert_uint_eq(sip_txn_layer_stats(l)->parse_errors, 2);
	ck_assert_ptr_null(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	ck_assert_int_eq(err, -EINVAL);
	n = request(req, sizeof(req), "OPTIONS", "z9hG4bKdup", 1);
	ck_assert_ptr_nonnull(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	ck_assert_ptr_null(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	ck_assert_int_eq(err, -EEXIST);
	sip_txn_layer_free(l);
}
END_TEST

/* 100,000 concurrent client transactions, each with Timers E and F on the wheel: all time out after F. */
/* The transaction table (open addressing, entries shifted back on removal): thousands of transactions (the
 * table doubles under them), half of them ended in a scattered order, and every one left still matched by its
 * response while the ended ones' responses are strays; a server transaction with the same branch and method is
 * another entry.  Then all of them end and the table is empty. */
START_TEST(table_removals_keep_lookups)
{
	enum { N = 6000 };
	static char req[1024], resp[1024];
	struct sip_txn_layer *l = fresh_layer();
	uint32_t seed = 7;
	static bool gone[N];
	unsigned ngone = 0;

	count_only = true;
	for (unsigned i = 0; i < N; i++) {
		char branch[32];
		int n, err;

		snprintf(branch, sizeof(branch), "z9hG4bKt%u", i);
		n = request(req, sizeof(req), "INVITE", branch, 1);
		ck_assert_ptr_nonnull(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	}
	/* a request from a peer with a branch of ours: a server transaction, not a match for our responses */
	int n = request(req, sizeof(req), "INVITE", "z9hG4bKt5", 1);
	ck_assert_int_eq(sip_txn_receive(l, req, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.requests, 1);
	ck_assert_uint_eq(sip_txn_layer_stats(l)->live, N + 1);
	for (unsigned i = 0; i < N; i++) {
		char branch[32];

		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 2)
			continue;
		snprintf(branch, sizeof(branch), "z9hG4bKt%u", i);
		n = response(resp, sizeof(resp), 200, "INVITE", branch, 1);
		ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
		gone[i] = true;
		ngone++;
		if (ngone % 50 == 0) /* the 2xx-ended ones are freed on the next tick, in batches */
			run_until(l, fake_now + SIP_WHEEL_TICK_MS);
	}
	run_until(l, fake_now + SIP_WHEEL_TICK_MS);
	ck_assert_uint_eq(sip_txn_layer_stats(l)->live, N + 1 - ngone);
	tu.responses = tu.stray = 0;
	for (unsigned i = 0; i < N; i++) {
		char branch[32];

		snprintf(branch, sizeof(branch), "z9hG4bKt%u", i);
		n = response(resp, sizeof(resp), 180, "INVITE", branch, 1);
		ck_assert_int_eq(sip_txn_receive(l, resp, (size_t)n, peer()), 0);
		ck_assert_msg(tu.stray == (gone[i] ? 1u : 0u), "transaction %u: %s", i, gone[i] ? "matched" : "lost");
		tu.stray = 0;
	}
	ck_assert_uint_eq(tu.responses, N);
	sip_txn_layer_free(l); /* the rest, each freed from the slot it was shifted into */
	count_only = false;
	ck_assert_uint_eq(tu.terminated, N + 1);
}
END_TEST

START_TEST(many_transactions)
{
	enum { N = 100000 };
	static char req[1024];
	struct sip_txn_layer *l;

	l = fresh_layer();
	count_only = true;
	sends_counted = 0;
	for (unsigned i = 0; i < N; i++) {
		char branch[32];
		int n, err;

		snprintf(branch, sizeof(branch), "z9hG4bK%u", i);
		n = request(req, sizeof(req), "OPTIONS", branch, 1);
		ck_assert_ptr_nonnull(sip_txn_client_start(l, req, (size_t)n, peer(), NULL, &err));
	}
	ck_assert_uint_eq(sip_txn_layer_stats(l)->live, N);
	while (fake_now < 5000 + 33000) {
		fake_now += SIP_WHEEL_TICK_MS;
		sip_txn_tick(l, fake_now);
	}
	count_only = false;
	ck_assert_uint_eq(sends_counted, 11ul * N);
	ck_assert_uint_eq(tu.timeouts, N);
	ck_assert_uint_eq(sip_txn_layer_stats(l)->live, 0);
	ck_assert_uint_eq(sip_txn_layer_stats(l)->retransmissions, 10ull * N);
	sip_txn_layer_free(l);
}
END_TEST

/* ---- the UDP transport on the real event loop ------------------------------------------------------------- */

static struct {
	unsigned status;
	unsigned timeouts;
	struct cp_loop *loop;
} udp_tu;

static void udp_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp)
{
	(void)arg;
	(void)ct;
	udp_tu.status = resp->status;
	if (resp->status >= 200)
		cp_loop_stop(udp_tu.loop);
}

static void udp_timeout(void *arg, struct sip_txn *t)
{
	(void)arg;
	(void)t;
	udp_tu.timeouts++;
	cp_loop_stop(udp_tu.loop);
}

static void peer_readable(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	static struct sip_msg m;
	unsigned *seen = arg;
	struct sockaddr_storage src;
	socklen_t sl = sizeof(src);
	char buf[4096], out[4096];
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&src, &sl);
	struct sip_builder b;
	int len;

	(void)loop;
	(void)events;
	if (n <= 0 || sip_msg_parse(&m, buf, (size_t)n) < 0)
		return;
	if (++*seen == 1)
		return; /* drop the first copy: the transaction must retransmit */
	sip_build_response(&b, out, sizeof(out), 200, NULL);
	sip_build_copy_hdrs(&b, &m, SIP_HDR_VIA);
	sip_build_copy_hdrs(&b, &m, SIP_HDR_FROM);
	sip_build_copy_hdrs(&b, &m, SIP_HDR_TO);
	sip_build_copy_hdrs(&b, &m, SIP_HDR_CALL_ID);
	sip_build_copy_hdrs(&b, &m, SIP_HDR_CSEQ);
	len = sip_build_finish(&b, NULL, (struct sip_str){ "", 0 });
	ck_assert_int_gt(len, 0);
	sendto(fd, out, (size_t)len, 0, (struct sockaddr *)&src, sl);
}

START_TEST(udp_retransmits_on_real_sockets)
{
	static const struct sip_txn_user_ops uops = { .on_response = udp_response, .on_timeout = udp_timeout };
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *u;
	struct sockaddr_storage dst;
	socklen_t sl = sizeof(dst);
	unsigned seen = 0;
	char req[1024];
	int pfd, n, err;
	uint64_t t0;

	memset(&udp_tu, 0, sizeof(udp_tu));
	udp_tu.loop = loop;
	u = sip_udp_start(loop, "127.0.0.1", 0, &uops, NULL);
	ck_assert_ptr_nonnull(u);
	ck_assert_uint_gt(sip_udp_port(u), 0);
	pfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	sip_addr_from(&dst, "127.0.0.1", 0);
	ck_assert_int_eq(bind(pfd, (struct sockaddr *)&dst, sizeof(struct sockaddr_in)), 0);
	getsockname(pfd, (struct sockaddr *)&dst, &sl);
	ck_assert_int_eq(cp_loop_add_fd(loop, pfd, EPOLLIN, peer_readable, &seen), 0);

	n = request(req, sizeof(req), "OPTIONS", "z9hG4bKudp1", 1);
	t0 = cm_now_ms();
	ck_assert_ptr_nonnull(sip_tp_request(sip_udp_tp(u), req, (size_t)n, &dst, NULL, &err));
	while (!cp_loop_stopping(loop) && cm_now_ms() - t0 < 5000)
		cp_loop_run_once(loop, 100);
	ck_assert_uint_eq(udp_tu.status, 200);
	ck_assert_uint_eq(seen, 2);
	ck_assert_uint_ge(cm_now_ms() - t0, SIP_T1_MS - SIP_WHEEL_TICK_MS); /* answered after Timer E */
	ck_assert_uint_eq(sip_txn_layer_stats(sip_tp_txn_layer(sip_udp_tp(u)))->retransmissions, 1);
	cp_loop_del_fd(loop, pfd);
	close(pfd);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

/* On a reliable transport Timer K is 0: a user that sends its next request from on_response (a REGISTER
 * answering a 401, a refresh) ticks the wheel there and ends the transaction whose response it is handling; the
 * layer must not touch that transaction after the callback (it freed its request copy afterwards once: a double
 * free under ASan and glibc). */
static struct sip_txn_layer *nested_l;

static void tick_from_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp)
{
	tu_response(arg, ct, resp);
	fake_now += 3 * SIP_WHEEL_TICK_MS;
	sip_txn_tick(nested_l, fake_now); /* what sip_tp_request does first */
}

START_TEST(reliable_response_callback_ends_transaction)
{
	static const struct sip_txn_user_ops nops = { .on_response = tick_from_response,
						      .on_terminated = tu_terminated };
	char buf[1024];
	int n, err;

	memset(&sent, 0, sizeof(sent));
	memset(&tu, 0, sizeof(tu));
	fake_now = 5000;
	nested_l = sip_txn_layer_new(fake_now, true, fake_send, NULL, &nops, NULL);
	n = request(buf, sizeof(buf), "REGISTER", "z9hG4bKnested", 1);
	ck_assert_ptr_nonnull(sip_txn_client_start(nested_l, buf, (size_t)n, peer(), NULL, &err));
	n = response(buf, sizeof(buf), 401, "REGISTER", "z9hG4bKnested", 1);
	ck_assert_int_eq(sip_txn_receive(nested_l, buf, (size_t)n, peer()), 0);
	ck_assert_uint_eq(tu.responses, 1);
	ck_assert_uint_eq(tu.terminated, 1); /* ended inside the callback, freed once */
	ck_assert_uint_eq(sip_txn_layer_stats(nested_l)->live, 0);
	sip_txn_layer_free(nested_l);
}
END_TEST

static Suite *txn_suite(void)
{
	Suite *s = suite_create("sip_txn");
	TCase *tc = tcase_create("txn");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, wheel_many_timers);
	tcase_add_test(tc, wheel_callbacks_stop_and_rearm);
	tcase_add_test(tc, wheel_next_matches_full_scan);
	tcase_add_test(tc, client_invite_timer_a_b);
	tcase_add_test(tc, client_invite_non2xx_ack_and_timer_d);
	tcase_add_test(tc, client_invite_2xx);
	tcase_add_test(tc, client_start_built);
	tcase_add_test(tc, client_non_invite_timers_e_f_k);
	tcase_add_test(tc, server_invite_g_h_i);
	tcase_add_test(tc, server_non_invite_j_and_2xx_ack);
	tcase_add_test(tc, bad_input_counted);
	tcase_add_test(tc, table_removals_keep_lookups);
	tcase_add_test(tc, many_transactions);
	tcase_add_test(tc, udp_retransmits_on_real_sockets);
	tcase_add_test(tc, reliable_response_callback_ends_transaction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(txn_suite());
}
