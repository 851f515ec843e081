/* Reliable provisional responses (RFC 3262, 100rel and PRACK) over real UDP sockets.
 *
 * RAck parsing and option tags; this stack's UAC calling its own UAS with 100rel (the 183 with the SDP answer
 * PRACKed, early media negotiated from it, the 2xx waiting for the PRACK); the UAS against a scripted caller
 * (the reliable 1xx re-sent at T1, 2*T1… until the PRACK, a PRACK with the wrong RAck answered 481, 500 when no
 * PRACK comes in 64*T1, 420 and 421 when only one side wants 100rel); the UAC against a scripted callee (a PRACK
 * per reliable 1xx with the right RAck, retransmissions and an RSeq that skips one discarded, the answer taken
 * from the reliable 183 and kept when the 2xx has no SDP). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "check_main.h"
#include "testutil.h"
#include "sippeer.h"
#include "uapair.h"

static const struct sdp_codec pcmu[] = { { .name = "PCMU", .clock_rate = 8000, .pt = 0 } };

/* ---- RAck and option tags --------------------------------------------------------------------------------- */

START_TEST(rack_parse)
{
	static const struct {
		const char *in;
		int rc;
		uint32_t rseq, cseq;
	} cases[] = {
		{ "776656 1 INVITE", 0, 776656, 1 },
		{ "  1\t 2147483647 INVITE ", 0, 1, 2147483647u },
		{ "4294967295 5 INVITE", 0, 4294967295u, 5 },
		{ "0 1 INVITE", -ERANGE, 0, 0 },             /* RSeq starts at 1 */
		{ "4294967296 1 INVITE", -ERANGE, 0, 0 },
		{ "1 2147483648 INVITE", -ERANGE, 0, 0 },    /* a CSeq number is below 2^31 */
		{ "1 INVITE", -EINVAL, 0, 0 },
		{ "x 1 INVITE", -EINVAL, 0, 0 },
		{ "1 1", -EINVAL, 0, 0 },
		{ "", -EINVAL, 0, 0 },
	};

	for (size_t i = 0; i < CM_ARRAY_SIZE(cases); i++) {
		struct sip_rack r;
		const char *why = NULL;
		int rc = sip_parse_rack((struct sip_str){ cases[i].in, strlen(cases[i].in) }, &r, &why);

		ck_assert_msg(rc == cases[i].rc, "'%s': %d", cases[i].in, rc);
		if (rc == 0) {
			ck_assert_uint_eq(r.rseq, cases[i].rseq);
			ck_assert_uint_eq(r.cseq.seq, cases[i].cseq);
			ck_assert_int_eq(r.cseq.method_id, SIP_INVITE);
		} else {
			ck_assert_ptr_nonnull(why);
		}
	}
}
END_TEST

START_TEST(option_tags)
{
	static const char msg[] = "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
				  "To: <sip:b@h>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nSupported: timer, replaces\r\n"
				  "k: 100REL\r\nRequire: precondition\r\nContent-Length: 0\r\n\r\n";
	struct sip_msg m;

	ck_assert_int_eq(sip_msg_parse(&m, msg, sizeof(msg) - 1), 0);
	ck_assert(sip_msg_has_option(&m, SIP_HDR_SUPPORTED, "100rel"));  /* the second Supported, compact form */
	ck_assert(sip_msg_has_option(&m, SIP_HDR_SUPPORTED, "timer"));
	ck_assert(!sip_msg_has_option(&m, SIP_HDR_REQUIRE, "100rel"));
	ck_assert(!sip_msg_has_option(&m, SIP_HDR_SUPPORTED, "100"));
}
END_TEST

/* ---- our UAC calling our UAS ------------------------------------------------------------------------------ */

static void pair_setup(struct ua_pair *b, enum sip_100rel uas_rel, bool early, uint32_t ring_ms)
{
	struct sip_ua_config cfg = { .answer = { .media = { .addr = "127.0.0.1", .port = 42000, .codecs = pcmu,
							    .ncodecs = 1, .dir = SDP_SENDRECV },
						 .ring_ms = ring_ms, .contact_user = "callee", .rel100 = uas_rel,
						 .early_media = early } };

	ua_pair_start(b, &cfg, "127.0.0.1");
}

static struct sip_call *pair_call(struct ua_pair *b, enum sip_100rel rel)
{
	char to[64];
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .to_uri = to,
				       .duration_ms = 100, .rel100 = rel,
				       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = pcmu, .ncodecs = 1,
						  .dir = SDP_SENDRECV } };
	struct sip_call *c;
	uint64_t t0 = cm_now_ms();

	snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%u", sip_udp_port(b->uas_u));
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(b->uas_u));
	c = sip_call_new(b->uac, &cfg, NULL, NULL);
	ck_assert_int_eq(sip_call_start(c), 0);
	while (sip_call_stats(c)->state != SIP_CALL_ENDED && cm_now_ms() - t0 < 5000)
		cp_loop_run_once(b->loop, 20);
	return c;
}

START_TEST(own_uac_uas_early_media)
{
	struct ua_pair b;
	struct sip_call *c;
	const struct sip_call_stats *st;

	pair_setup(&b, SIP_100REL_SUPPORTED, true, 150);
	c = pair_call(&b, SIP_100REL_REQUIRED);
	st = sip_call_stats(c);
	ck_assert_int_eq(st->result, SIP_RESULT_ANSWERED);
	ck_assert_uint_eq(st->reliable_provisionals, 1);
	ck_assert_uint_eq(st->pracks, 1);        /* our PRACK answered 200 */
	ck_assert(st->early_media);              /* the answer came in the 183 */
	ck_assert_uint_eq(st->media.remote_port, 42000);
	ck_assert_uint_ge(st->setup_ms, 150);
	ck_assert_uint_gt(st->pdd_ms, 0);
	ck_assert_uint_eq(st->time_to_ringing_ms, 0); /* a 183, never a 180 */
	ck_assert_uint_eq(st->bye_status, 200);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->pracks, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->answered, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	sip_call_free(c);
	ua_pair_stop(&b);
}
END_TEST

/* A UAS that only supports 100rel sends its 180 reliably to a caller that supports it, unreliably to one that
 * does not. */
START_TEST(own_uac_uas_180_supported_only)
{
	struct ua_pair b;
	struct sip_call *c;
	const struct sip_call_stats *st;

	pair_setup(&b, SIP_100REL_SUPPORTED, false, 50);
	c = pair_call(&b, SIP_100REL_SUPPORTED);
	st = sip_call_stats(c);
	ck_assert_int_eq(st->result, SIP_RESULT_ANSWERED);
	ck_assert_uint_eq(st->reliable_provisionals, 1);
	ck_assert_uint_eq(st->pracks, 1);
	ck_assert(!st->early_media);             /* a 180 without SDP: the answer is in the 2xx */
	ck_assert_uint_gt(st->time_to_ringing_ms, 0);
	sip_call_free(c);
	/* a caller that does not offer 100rel gets an unreliable 180 from a UAS that only supports it */
	c = pair_call(&b, SIP_100REL_OFF);
	st = sip_call_stats(c);
	ck_assert_int_eq(st->result, SIP_RESULT_ANSWERED);
	ck_assert_uint_eq(st->reliable_provisionals, 0);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->pracks, 1);
	sip_call_free(c);
	ua_pair_stop(&b);
}
END_TEST

START_TEST(extension_mismatch)
{
	struct ua_pair b;
	struct sip_call *c;

	/* we require 100rel, the UAS has it off: 420 Bad Extension */
	pair_setup(&b, SIP_100REL_OFF, false, 0);
	c = pair_call(&b, SIP_100REL_REQUIRED);
	ck_assert_uint_eq(sip_call_stats(c)->final_status, 420);
	ck_assert_int_eq(sip_call_stats(c)->result, SIP_RESULT_FAILED);
	sip_call_free(c);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->bad_extension, 1);
	ua_pair_stop(&b);
	/* the UAS requires it, the caller does not offer it: 421 Extension Required */
	pair_setup(&b, SIP_100REL_REQUIRED, false, 0);
	c = pair_call(&b, SIP_100REL_OFF);
	ck_assert_uint_eq(sip_call_stats(c)->final_status, 421);
	sip_call_free(c);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->bad_extension, 1);
	ck_assert_uint_eq(sip_ua_stats(b.uas)->live, 0);
	ua_pair_stop(&b);
}
END_TEST

/* ---- a scripted UDP peer (sippeer.h) and what only these tests look for ---------------------------------- */

static bool is_prack(const struct sip_msg *m) { return m->is_request && m->method_id == SIP_PRACK; }
static bool is_reliable_1xx(const struct sip_msg *m)
{
	return !m->is_request && m->status > 100 && m->status < 200 && sip_msg_hdr_by_name(m, "RSeq");
}

/* ---- the UAS against a scripted caller -------------------------------------------------------------------- */

struct uas {
	struct cp_loop *loop;
	struct sip_ua *ua;
	struct sip_udp *u;
};

static void uas_setup(struct uas *s, enum sip_100rel rel, bool early, uint32_t ring_ms, uint32_t t1_ms)
{
	struct sip_ua_config cfg = { .answer = { .media = { .addr = "127.0.0.1", .port = 42000, .codecs = pcmu,
							    .ncodecs = 1, .dir = SDP_SENDRECV },
						 .ring_ms = ring_ms, .contact_user = "callee", .rel100 = rel,
						 .early_media = early },
				     .t1_ms = t1_ms };

	s->loop = cp_loop_new();
	s->ua = sip_ua_new(&cfg);
	s->u = ua_listen(s->loop, s->ua, "127.0.0.1");
}

static void uas_teardown(struct uas *s, struct peer *p)
{
	close(p->fd);
	sip_ua_free(s->ua);
	sip_udp_stop(s->u);
	cp_loop_free(s->loop);
}

static void send_invite(struct peer *p, const char *hdrs)
{
	peer_sendf(p, "INVITE sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKinv1\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>\r\n"
		   "Call-ID: prack-1@127.0.0.1\r\nCSeq: 7 INVITE\r\nContact: <sip:peer@127.0.0.1:%u>\r\n%s"
		   "Content-Type: application/sdp\r\nContent-Length: %zu\r\n\r\n%s",
		   ntohs(p->to.sin_port), p->port, p->port, hdrs, strlen(peer_sdp), peer_sdp);
}

static void send_prack(struct peer *p, const char *to_tag, uint32_t rseq, uint32_t cseq, const char *branch)
{
	peer_sendf(p, "PRACK sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=%s\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>;tag=%s\r\n"
		   "Call-ID: prack-1@127.0.0.1\r\nCSeq: %u PRACK\r\nRAck: %u 7 INVITE\r\nContent-Length: 0\r\n\r\n",
		   ntohs(p->to.sin_port), p->port, branch, to_tag, cseq, rseq);
}

static uint32_t rseq_of(const struct sip_msg *m)
{
	uint32_t v = 0;
	const char *why;

	ck_assert_int_eq(sip_parse_uint(sip_msg_hdr_by_name(m, "RSeq")->value, SIP_MAX_RSEQ, &v, &why), 0);
	return v;
}

static void to_tag_of(const struct sip_msg *m, char *out, size_t len)
{
	struct sip_addr a;
	const char *why;

	ck_assert_int_eq(sip_parse_addr(sip_msg_hdr(m, SIP_HDR_TO)->value, &a, &why), 0);
	snprintf(out, len, "%.*s", (int)a.tag.len, a.tag.p);
}

/* The 183 with SDP goes reliably and is re-sent at T1, 2*T1 until the PRACK; the 2xx (ring time 0) waits for
 * it; a PRACK with the wrong RSeq gets 481 and changes nothing. */
START_TEST(uas_retransmits_until_prack)
{
	struct uas s;
	struct peer p;
	uint64_t at[8], t0;
	unsigned n = 0;
	uint32_t rseq = 0;
	char tag[64];

	uas_setup(&s, SIP_100REL_SUPPORTED, true, 0, 100);
	peer_open(&p, sip_udp_port(s.u));
	t0 = cm_now_ms();
	send_invite(&p, "Supported: 100rel\r\n");
	while (n < 3) {
		ck_assert_msg(peer_wait(s.loop, &p, NULL, 2000), "no reliable 1xx %u", n);
		ck_assert_msg(!is_resp(&p.m, 200, "INVITE"), "a 2xx before the PRACK of a 1xx with SDP");
		if (!is_reliable_1xx(&p.m))
			continue; /* 100 Trying */
		ck_assert_uint_eq(p.m.status, 183);
		ck_assert(sip_msg_has_option(&p.m, SIP_HDR_REQUIRE, "100rel"));
		ck_assert_uint_gt(p.m.body.len, 0);
		if (n == 0)
			rseq = rseq_of(&p.m);
		ck_assert_uint_eq(rseq_of(&p.m), rseq); /* a retransmission keeps its RSeq */
		ck_assert_uint_ge(rseq, 1);
		ck_assert_uint_lt(rseq, 2147483648u);
		at[n++] = cm_now_ms();
	}
	/* copies are due T1 = 100 ms after the first, then 2*T1 later (timers never fire early, so counted from
	 * before the INVITE went these are lower bounds whatever the machine's load; a fixed interval would bring the
	 * third copy at 200 ms); the ring time (0) is long over but no 2xx came: it waits for the PRACK */
	ck_assert_uint_ge(at[1] - t0, 100);
	ck_assert_uint_ge(at[2] - t0, 300);
	ck_assert_uint_lt(at[2] - t0, 1500);
	to_tag_of(&p.m, tag, sizeof(tag));
	send_prack(&p, tag, rseq + 1, 8, "z9hG4bKbad");
	ck_assert(resp_wait(s.loop, &p, 481, "PRACK", 1000));
	send_prack(&p, tag, rseq, 9, "z9hG4bKgood");
	ck_assert(resp_wait(s.loop, &p, 200, "PRACK", 1000));
	ck_assert(resp_wait(s.loop, &p, 200, "INVITE", 1000)); /* now the 2xx */
	ck_assert_int_eq(sip_msg_parse(&p.m, p.last, strlen(p.last)), 0);
	ck_assert_uint_gt(p.m.body.len, 0);
	peer_sendf(&p, "ACK sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKack\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>;tag=%s\r\n"
		   "Call-ID: prack-1@127.0.0.1\r\nCSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n",
		   ntohs(p.to.sin_port), p.port, tag);
	/* no more 183s after the PRACK */
	ck_assert(!peer_wait(s.loop, &p, is_reliable_1xx, 500));
	ck_assert_uint_eq(sip_ua_stats(s.ua)->pracks, 1);
	ck_assert_uint_eq(sip_ua_stats(s.ua)->answered, 1);
	ck_assert_uint_eq(sip_ua_stats(s.ua)->acks, 1);
	peer_sendf(&p, "BYE sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKbye\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>;tag=%s\r\n"
		   "Call-ID: prack-1@127.0.0.1\r\nCSeq: 10 BYE\r\nContent-Length: 0\r\n\r\n",
		   ntohs(p.to.sin_port), p.port, tag);
	ck_assert(resp_wait(s.loop, &p, 200, "BYE", 1000));
	ck_assert_uint_eq(sip_ua_stats(s.ua)->live, 0);
	uas_teardown(&s, &p);
}
END_TEST

/* No PRACK at all: the 180 doubles from T1 (no T2 cap) and after 64*T1 the INVITE is answered 500. */
START_TEST(uas_no_prack_500)
{
	struct uas s;
	struct peer p;
	uint64_t at[16], t0;
	unsigned n = 0;

	uas_setup(&s, SIP_100REL_REQUIRED, false, 10000, 20);
	peer_open(&p, sip_udp_port(s.u));
	t0 = cm_now_ms();
	send_invite(&p, "Require: 100rel\r\n");
	for (;;) {
		ck_assert_msg(peer_wait(s.loop, &p, NULL, 3000), "nothing after %u", n);
		if (is_reliable_1xx(&p.m)) {
			ck_assert_uint_eq(p.m.status, 180);
			ck_assert_uint_lt(n, 16);
			at[n++] = cm_now_ms();
		} else if (!p.m.is_request && p.m.status >= 200) {
			break;
		}
	}
	ck_assert_uint_eq(p.m.status, 500);
	ck_assert_uint_ge(cm_now_ms() - t0, 64 * 20);
	/* copies at 20, 60, 140, 300, 620, 1260 ms (intervals 20, 40, … 640): the first and six copies, then the 500
	 * at 64*T1 = 1280 ms.  Timers never fire early: each copy comes no sooner than its due time after the INVITE
	 * (a fixed interval would bring 63 copies, or the later ones too early) */
	ck_assert_uint_eq(n, 7);
	for (unsigned k = 1; k < n; k++)
		ck_assert_msg(at[k] - t0 >= 20u * ((1u << k) - 1), "copy %u came %llu ms after the INVITE", k,
			      (unsigned long long)(at[k] - t0));
	ck_assert_uint_eq(sip_ua_stats(s.ua)->prack_timeouts, 1);
	ck_assert_uint_eq(sip_ua_stats(s.ua)->pracks, 0);
	uas_teardown(&s, &p);
}
END_TEST

/* ---- the UAC against a scripted callee -------------------------------------------------------------------- */

static uint32_t rack_of(const struct sip_msg *m, uint32_t *cseq)
{
	struct sip_rack r;
	const char *why;

	ck_assert_ptr_nonnull(sip_msg_hdr_by_name(m, "RAck"));
	ck_assert_int_eq(sip_parse_rack(sip_msg_hdr_by_name(m, "RAck")->value, &r, &why), 0);
	ck_assert_int_eq(r.cseq.method_id, SIP_INVITE);
	*cseq = r.cseq.seq;
	return r.rseq;
}

/* Early media from an unreliable 183 (RFC 3261 §13.2.1: the first session description the UAC receives is the
 * answer, and later ones are ignored): reported once (on_early_media, stats early_media); a second 183 and a 2xx
 * with other SDP change nothing, a 2xx without SDP confirms the call; a first answer that does not fit our offer
 * fails the call (ACK, then BYE) even when the 2xx's would. */
static unsigned early_events;

static void count_early(struct sip_call *c, void *arg)
{
	(void)arg;
	ck_assert(sip_call_stats(c)->early_media);
	early_events++;
}

static const struct sip_call_handler early_handler = { .on_early_media = count_early };

static const char *sdp_on_port(char *buf, size_t len, unsigned pt, unsigned port)
{
	snprintf(buf, len, "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		 "m=audio %u RTP/AVP %u\r\n", port, pt);
	return buf;
}

START_TEST(uac_early_media_unreliable_183)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_ua *ua = sip_ua_new(&(struct sip_ua_config){ 0 });
	struct sip_udp *u = ua_listen(loop, ua, "127.0.0.1");
	struct peer p;
	char to[64], sdp[256];
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .to_uri = to,
				       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = pcmu, .ncodecs = 1,
						  .dir = SDP_SENDRECV } };
	struct sip_call *c;

	peer_open(&p, sip_udp_port(u));
	snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%u", p.port);
	sip_addr_from(&cfg.dst, "127.0.0.1", p.port);
	for (int round = 0; round < 3; round++) {
		early_events = 0;
		c = sip_call_new(ua, &cfg, &early_handler, NULL);
		ck_assert_int_eq(sip_call_start(c), 0);
		ck_assert(peer_wait(loop, &p, is_invite, 2000));
		/* round 2: the first answer offers PCMA only (8), which our PCMU offer cannot take */
		peer_respond(&p, 183, NULL, sdp_on_port(sdp, sizeof(sdp), round == 2 ? 8 : 0, 31000));
		peer_wait(loop, &p, NULL, 200);
		ck_assert_uint_eq(early_events, round == 2 ? 0 : 1);
		ck_assert(sip_call_stats(c)->early_media == (round != 2));
		peer_respond(&p, 183, NULL, sdp_on_port(sdp, sizeof(sdp), 0, 32000));
		peer_wait(loop, &p, NULL, 200);
		ck_assert_uint_eq(early_events, round == 2 ? 0 : 1);
		ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_RINGING);
		/* round 1: a 2xx without SDP (the answer came already); else one with other SDP, ignored */
		peer_respond(&p, 200, NULL, round == 1 ? NULL : sdp_on_port(sdp, sizeof(sdp), 0, 33000));
		ck_assert(peer_wait(loop, &p, is_ack, 2000));
		if (round == 2) {
			ck_assert(peer_wait(loop, &p, is_bye, 2000));
			peer_respond(&p, 200, NULL, NULL);
			peer_wait(loop, &p, NULL, 100);
			ck_assert_int_eq(sip_call_stats(c)->result, SIP_RESULT_NEGOTIATION_FAILED);
		} else {
			ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_CONFIRMED);
			ck_assert_int_eq(sip_call_stats(c)->negotiation, SDP_NEG_OK);
			ck_assert_uint_eq(sip_call_stats(c)->media.remote_port, 31000);
		}
		sip_call_free(c);
	}
	close(p.fd);
	sip_ua_free(ua);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

START_TEST(uac_pracks_in_order)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_ua *ua = sip_ua_new(&(struct sip_ua_config){ 0 });
	struct sip_udp *u = ua_listen(loop, ua, "127.0.0.1");
	struct peer p;
	char to[64], invite[4096], rseq_hdr[64];
	struct sip_msg inv;
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .to_uri = to,
				       .rel100 = SIP_100REL_SUPPORTED,
				       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = pcmu, .ncodecs = 1,
						  .dir = SDP_SENDRECV } };
	struct sip_call *c;
	struct sip_cseq ics;
	const char *why;
	uint32_t cseq, prev_cseq;

	peer_open(&p, sip_udp_port(u));
	snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%u", p.port);
	sip_addr_from(&cfg.dst, "127.0.0.1", p.port);
	c = sip_call_new(ua, &cfg, NULL, NULL);
	ck_assert_int_eq(sip_call_start(c), 0);
	ck_assert(peer_wait(loop, &p, is_invite, 2000));
	ck_assert(sip_msg_has_option(&p.m, SIP_HDR_SUPPORTED, "100rel"));
	ck_assert(!sip_msg_has_option(&p.m, SIP_HDR_REQUIRE, "100rel"));
	memcpy(invite, p.last, sizeof(invite));
	ck_assert_int_eq(sip_msg_parse(&inv, invite, strlen(invite)), 0);
	ck_assert_int_eq(sip_parse_cseq(sip_msg_hdr(&inv, SIP_HDR_CSEQ)->value, &ics, &why), 0);

	/* RSeq 10 with the SDP answer: PRACKed with RAck 10 <INVITE CSeq> INVITE */
	p.m = inv;
	peer_respond(&p, 183, "Require: 100rel\r\nRSeq: 10\r\n", peer_sdp);
	ck_assert(peer_wait(loop, &p, is_prack, 1000));
	ck_assert_uint_eq(rack_of(&p.m, &cseq), 10);
	ck_assert_uint_eq(cseq, ics.seq);
	ck_assert(strstr(p.last, "tag=peer1")); /* in the early dialog */
	ck_assert(strstr(p.last, "PRACK sip:peer@127.0.0.1:")); /* to the 1xx's Contact */
	ck_assert_int_eq(sip_parse_cseq(sip_msg_hdr(&p.m, SIP_HDR_CSEQ)->value, &ics, &why), 0);
	prev_cseq = ics.seq;
	peer_respond(&p, 200, NULL, NULL);
	/* the same 183 again (a retransmission) and one that skips RSeq 11: neither is PRACKed */
	p.m = inv;
	peer_respond(&p, 183, "Require: 100rel\r\nRSeq: 10\r\n", peer_sdp);
	peer_respond(&p, 180, "Require: 100rel\r\nRSeq: 12\r\n", NULL);
	ck_assert(!peer_wait(loop, &p, is_prack, 300));
	/* RSeq 11 is next in order */
	snprintf(rseq_hdr, sizeof(rseq_hdr), "Require: 100rel\r\nRSeq: %u\r\n", 11u);
	peer_respond(&p, 180, rseq_hdr, NULL);
	ck_assert(peer_wait(loop, &p, is_prack, 1000));
	ck_assert_uint_eq(rack_of(&p.m, &cseq), 11);
	ck_assert_int_eq(sip_parse_cseq(sip_msg_hdr(&p.m, SIP_HDR_CSEQ)->value, &ics, &why), 0);
	ck_assert_uint_gt(ics.seq, prev_cseq);
	peer_respond(&p, 200, NULL, NULL);
	ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_RINGING);
	ck_assert(sip_call_stats(c)->early_media);
	ck_assert_uint_eq(sip_call_stats(c)->media.remote_port, 31000);
	/* the 2xx without SDP: the early answer stands */
	p.m = inv;
	peer_respond(&p, 200, NULL, NULL);
	ck_assert(peer_wait(loop, &p, is_ack, 1000));
	ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_CONFIRMED);
	ck_assert_int_eq(sip_call_stats(c)->negotiation, SDP_NEG_OK);
	ck_assert_uint_eq(sip_call_stats(c)->reliable_provisionals, 2);
	ck_assert_uint_eq(sip_call_stats(c)->pracks, 2);
	ck_assert_int_eq(sip_call_hangup(c), 0);
	ck_assert(peer_wait(loop, &p, is_bye, 1000));
	peer_respond(&p, 200, NULL, NULL);
	for (uint64_t t0 = cm_now_ms(); sip_call_stats(c)->state != SIP_CALL_ENDED && cm_now_ms() - t0 < 2000;)
		cp_loop_run_once(loop, 10);
	ck_assert_uint_eq(sip_call_stats(c)->bye_status, 200);
	sip_call_free(c);
	close(p.fd);
	sip_ua_free(ua);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

static Suite *prack_suite(void)
{
	Suite *s = suite_create("sip_prack");
	TCase *tc = tcase_create("prack");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, rack_parse);
	tcase_add_test(tc, option_tags);
	tcase_add_test(tc, own_uac_uas_early_media);
	tcase_add_test(tc, own_uac_uas_180_supported_only);
	tcase_add_test(tc, extension_mismatch);
	tcase_add_test(tc, uas_retransmits_until_prack);
	tcase_add_test(tc, uas_no_prack_500);
	tcase_add_test(tc, uac_pracks_in_order);
	tcase_add_test(tc, uac_early_media_unreliable_183);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(prack_suite());
}
