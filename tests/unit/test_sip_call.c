/* Calls from the UAC side over real UDP sockets on the event loop, against an in-process UAS built on the same
 * transaction layer: answered call (PDD, ringing, setup, negotiated codec, ACK with the remote tag, BYE through
 * the Record-Route route set after the call duration), a retransmitted 2xx ACKed again, 486 busy, 407 challenge answered, CANCEL on no answer
 * (487), an unusable SDP answer (negotiation failed: ACK then BYE).  With CALLMETER_SIP_UAS=IP:PORT
 * (tests/integration/test_sip_call.sh sets it, SIPp's uas scenario in a network namespace) the same client
 * places calls to that real UAS. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "check_main.h"
#include "sippeer.h"
#include "testutil.h"

enum uas_mode { UAS_ANSWER, UAS_BUSY, UAS_CHALLENGE, UAS_RING_ONLY, UAS_BAD_SDP, UAS_ANSWER_TWICE, UAS_CROSS_CANCEL };

static struct {
	enum uas_mode mode;
	struct sip_udp *u;
	unsigned invites, acks, byes, cancels;
	bool ack_had_tag, bye_had_route, bye_to_target;
	struct sip_txn *ringing; /* the INVITE left ringing */
	struct sip_txn *cancel;  /* UAS_CROSS_CANCEL: the CANCEL answered only at the end */
	char last[4096];         /* the last response sent */
	int last_len;
} uas;

static const struct sdp_codec uas_codecs[] = { { .name = "PCMU", .clock_rate = 8000, .pt = 0 } };

/* A response with body and extra headers, built from the server transaction's request. */
static void reply(struct sip_txn *st, unsigned status, const char *extra, const char *ctype, const char *body)
{
	const struct sip_msg *req = sip_txn_request(st);
	char buf[4096];
	struct sip_builder b;
	int n;

	sip_build_response(&b, buf, sizeof(buf), status, NULL);
	sip_build_copy_hdrs(&b, req, SIP_HDR_VIA);
	sip_build_copy_hdrs(&b, req, SIP_HDR_FROM);
	sip_build_hdrf(&b, "To", "%.*s;tag=uas77", (int)sip_msg_hdr(req, SIP_HDR_TO)->value.len,
		       sip_msg_hdr(req, SIP_HDR_TO)->value.p);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CALL_ID);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CSEQ);
	if (extra)
		sip_build_raw(&b, extra);
	n = sip_build_finish(&b, ctype, (struct sip_str){ body ? body : "", body ? strlen(body) : 0 });
	ck_assert_int_gt(n, 0);
	memcpy(uas.last, buf, (size_t)n);
	uas.last_len = n;
	ck_assert_int_eq(sip_txn_respond(st, buf, (size_t)n), 0);
}

static void answer(struct sip_txn *st, const struct sip_msg *req)
{
	static struct sdp_session offer;
	struct sdp_local l = { .addr = "127.0.0.1", .port = 40000, .codecs = uas_codecs, .ncodecs = 1,
			       .dir = SDP_SENDRECV };
	struct sdp_negotiated neg;
	enum sdp_neg why;
	char sdp[1024], extra[256];

	ck_assert_int_eq(sdp_parse(&offer, req->body.p, req->body.len), 0);
	if (uas.mode == UAS_BAD_SDP)
		snprintf(sdp, sizeof(sdp), "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
					   "m=audio 40000 RTP/AVP 18\r\n");
	else
		ck_assert_int_gt(sdp_build_answer(&offer, &l, sdp, sizeof(sdp), &neg, &why), 0);
	snprintf(extra, sizeof(extra),
		 "Contact: <sip:uas@127.0.0.1:%u>\r\nRecord-Route: <sip:127.0.0.1:%u;lr;proxy=one>\r\n",
		 sip_udp_port(uas.u), sip_udp_port(uas.u));
	reply(st, 200, extra, "application/sdp", sdp);
}

static void uas_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	(void)arg;
	if (req->method_id == SIP_ACK) {
		struct sip_addr a;
		const char *why;
		uas.acks++;
		uas.ack_had_tag = sip_parse_addr(sip_msg_hdr(req, SIP_HDR_TO)->value, &a, &why) == 0 &&
				  sip_str_eq(a.tag, "uas77");
		return;
	}
	if (!st)
		return;
	switch (req->method_id) {
	case SIP_INVITE:
		uas.invites++;
		if (uas.mode == UAS_CHALLENGE && !sip_msg_hdr(req, SIP_HDR_PROXY_AUTHORIZATION)) {
			reply(st, 407, "Proxy-Authenticate: Digest realm=\"uas.test\", nonce=\"n1\", qop=\"auth\"\r\n",
			      NULL, NULL);
			return;
		}
		if (uas.mode == UAS_CHALLENGE) {
			struct sip_auth cred;
			const char *why;
			ck_assert_int_eq(sip_parse_auth(sip_msg_hdr(req, SIP_HDR_PROXY_AUTHORIZATION)->value, &cred, &why),
					 0);
			ck_assert_int_eq(sip_digest_verify(&cred, "INVITE", "pw", &why), 0);
		}
		reply(st, 180, NULL, NULL, NULL);
		if (uas.mode == UAS_BUSY)
			reply(st, 486, NULL, NULL, NULL);
		else if (uas.mode == UAS_RING_ONLY || uas.mode == UAS_CROSS_CANCEL)
			uas.ringing = st;
		else
			answer(st, req);
		if (uas.mode == UAS_ANSWER_TWICE) /* as if the ACK had been lost: the 2xx again */
			ck_assert_int_eq(sip_tp_send(sip_udp_tp(uas.u), src, uas.last, (size_t)uas.last_len), 0);
		break;
	case SIP_BYE:
		uas.byes++;
		uas.bye_had_route = sip_msg_hdr(req, SIP_HDR_ROUTE) &&
				    memmem(sip_msg_hdr(req, SIP_HDR_ROUTE)->value.p, sip_msg_hdr(req, SIP_HDR_ROUTE)->value.len,
					   "proxy=one", 9);
		uas.bye_to_target = sip_str_eq((struct sip_str){ req->ruri.p, 4 }, "sip:") &&
				    memmem(req->ruri.p, req->ruri.len, "uas@127.0.0.1", 13);
		reply(st, 200, NULL, NULL, NULL);
		break;
	case SIP_CANCEL:
		uas.cancels++;
		if (uas.mode == UAS_CROSS_CANCEL) {
			/* the callee answered just before the CANCEL came: the 200 to the INVITE crosses it */
			uas.cancel = st;
			answer(uas.ringing, sip_txn_request(uas.ringing));
			uas.ringing = NULL;
			break;
		}
		reply(st, 200, NULL, NULL, NULL);
		if (uas.ringing) {
			reply(uas.ringing, 487, NULL, NULL, NULL);
			uas.ringing = NULL;
		}
		break;
	default:
		reply(st, 405, NULL, NULL, NULL);
	}
}

static void uas_terminated(void *arg, struct sip_txn *t)
{
	(void)arg;
	if (t == uas.ringing)
		uas.ringing = NULL;
}

static const struct sip_txn_user_ops uas_ops = { .on_request = uas_request, .on_terminated = uas_terminated };
static struct sip_ua *uac_ua; /* the UAC's user agent core (one per place()) */

/* A UAC transport with its UA core, as the product runs them. */
static struct sip_udp *uac_start(struct cp_loop *loop, const char *ip)
{
	struct sip_udp *u;

	uac_ua = sip_ua_new(&(struct sip_ua_config){ 0 });
	ck_assert_ptr_nonnull(uac_ua);
	u = sip_udp_start(loop, ip, 0, &sip_ua_txn_ops, uac_ua);
	ck_assert_ptr_nonnull(u);
	sip_ua_attach(uac_ua, sip_udp_tp(u));
	return u;
}
static const struct sdp_codec uac_codecs[] = {
	{ .name = "PCMA", .clock_rate = 8000, .pt = 8 },
	{ .name = "PCMU", .clock_rate = 8000, .pt = 0 },
};

static bool ended(const struct sip_call *c)
{
	return sip_call_stats(c)->state == SIP_CALL_ENDED;
}

static void run_until_ended(struct cp_loop *loop, struct sip_call *c, int ms)
{
	uint64_t t0 = cm_now_ms();

	while (!ended(c) && cm_now_ms() - t0 < (uint64_t)ms)
		cp_loop_run_once(loop, 50);
}

/* One call against the in-process UAS in the given mode. */
static const struct sip_call_stats *place(enum uas_mode mode, uint32_t duration_ms, uint32_t no_answer_ms,
					  const char *password, struct sip_call **out, struct cp_loop **loop_out,
					  struct sip_udp **uac_out)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *uac;
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .password = password,
				       .duration_ms = duration_ms, .no_answer_ms = no_answer_ms,
				       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = uac_codecs, .ncodecs = 2,
						  .dtmf_pt = 101, .dir = SDP_SENDRECV } };
	char to[64];
	struct sip_call *c;

	memset(&uas, 0, sizeof(uas));
	uas.mode = mode;
	uas.u = sip_udp_start(loop, "127.0.0.1", 0, &uas_ops, NULL);
	uac = uac_start(loop, "127.0.0.1");
	ck_assert_ptr_nonnull(uas.u);
	ck_assert_ptr_nonnull(uac);
	snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%u", sip_udp_port(uas.u));
	cfg.to_uri = to;
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(uas.u));
	c = sip_call_new(uac_ua, &cfg, NULL, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sip_call_start(c), 0);
	run_until_ended(loop, c, 5000);
	*out = c;
	*loop_out = loop;
	*uac_out = uac;
	return sip_call_stats(c);
}

static void done(struct sip_call *c, struct cp_loop *loop, struct sip_udp *uac)
{
	sip_call_free(c);
	sip_ua_free(uac_ua);
	sip_udp_stop(uac);
	sip_udp_stop(uas.u);
	cp_loop_free(loop);
}

START_TEST(answered_call)
{
	struct sip_call *c;
	struct cp_loop *loop;
	struct sip_udp *uac;
	const struct sip_call_stats *st = place(UAS_ANSWER, 300, 0, NULL, &c, &loop, &uac);

	ck_assert_msg(st->state == SIP_CALL_ENDED, "state %s", sip_call_state_name(st->state));
	ck_assert_int_eq(st->result, SIP_RESULT_ANSWERED);
	ck_assert_str_eq(sip_call_result_name(st->result), "answered");
	ck_assert_uint_eq(st->final_status, 200);
	ck_assert_str_eq(st->reason, "OK");
	ck_assert_uint_gt(st->pdd_ms, 0);
	ck_assert_uint_eq(st->pdd_ms, st->time_to_ringing_ms);
	ck_assert_uint_ge(st->setup_ms, st->time_to_ringing_ms);
	ck_assert_uint_ge(st->duration_ms, 300);
	ck_assert_uint_lt(st->duration_ms, 1500);
	ck_assert_uint_eq(st->bye_status, 200);
	ck_assert_int_eq(st->negotiation, SDP_NEG_OK);
	ck_assert_uint_eq(st->media.codec.pt, 0); /* the UAS only has PCMU */
	ck_assert_uint_eq(st->media.remote_port, 40000);
	ck_assert(sip_str_eq(st->media.remote_addr, "127.0.0.1"));
	ck_assert_uint_eq(uas.acks, 1);
	ck_assert(uas.ack_had_tag);
	ck_assert_uint_eq(uas.byes, 1);
	ck_assert(uas.bye_had_route);
	ck_assert(uas.bye_to_target);
	ck_assert(strstr(sip_call_route_set(c), "proxy=one"));
	done(c, loop, uac);
}
END_TEST

/* A retransmitted 2xx (the UAS did not see the ACK) is ACKed again, end to end (§13.2.2.4). */
START_TEST(retransmitted_2xx_acked_again)
{
	struct sip_call *c;
	struct cp_loop *loop;
	struct sip_udp *uac;
	const struct sip_call_stats *st = place(UAS_ANSWER_TWICE, 300, 0, NULL, &c, &loop, &uac);

	ck_assert_int_eq(st->result, SIP_RESULT_ANSWERED);
	ck_assert_uint_eq(st->ack_retransmissions, 1);
	ck_assert_uint_eq(uas.acks, 2);
	ck_assert(uas.ack_had_tag);
	ck_assert_uint_eq(uas.byes, 1);
	done(c, loop, uac);
}
END_TEST

START_TEST(busy_call)
{
	struct sip_call *c;
	struct cp_loop *loop;
	struct sip_udp *uac;
	const struct sip_call_stats *st = place(UAS_BUSY, 300, 0, NULL, &c, &loop, &uac);

	ck_assert_int_eq(st->result, SIP_RESULT_BUSY);
	ck_assert_uint_eq(st->final_status, 486);
	ck_assert_str_eq(st->reason, "Busy Here");
	ck_assert_uint_gt(st->time_to_ringing_ms, 0);
	ck_assert_uint_eq(uas.byes, 0);
	ck_assert_uint_eq(uas.acks, 0); /* the non-2xx ACK is absorbed by the server transaction */
	done(c, loop, uac);
}
END_TEST

START_TEST(challenged_call)
{
	struct sip_call *c;
	struct cp_loop *loop;
	struct sip_udp *uac;
	const struct sip_call_stats *st = place(UAS_CHALLENGE, 100, 0, "pw", &c, &loop, &uac);

	ck_assert_int_eq(st->result, SIP_RESULT_ANSWERED);
	ck_assert_uint_eq(st->challenges, 1);
	ck_assert_uint_eq(uas.invites, 2);
	ck_assert_uint_eq(uas.byes, 1);
	done(c, loop, uac);
}
END_TEST

START_TEST(cancelled_on_no_answer)
{
	struct sip_call *c;
	struct cp_loop *loop;
	struct sip_udp *uac;
	const struct sip_call_stats *st = place(UAS_RING_ONLY, 100, 300, NULL, &c, &loop, &uac);

	ck_assert_int_eq(st->result, SIP_RESULT_CANCELLED);
	ck_assert_uint_eq(st->final_status, 487);
	ck_assert_uint_eq(uas.cancels, 1);
	ck_assert_uint_eq(uas.byes, 0);
	done(c, loop, uac);
}
END_TEST

START_TEST(negotiation_failure_acks_and_byes)
{
	struct sip_call *c;
	struct cp_loop *loop;
	struct sip_udp *uac;
	const struct sip_call_stats *st = place(UAS_BAD_SDP, 300, 0, NULL, &c, &loop, &uac);

	ck_assert_int_eq(st->result, SIP_RESULT_NEGOTIATION_FAILED);
	ck_assert_int_eq(st->negotiation, SDP_NEG_NO_COMMON_CODEC);
	ck_assert_uint_eq(st->final_status, 200);
	ck_assert_uint_eq(uas.acks, 1);
	ck_assert_uint_eq(uas.byes, 1);
	ck_assert_uint_eq(st->bye_status, 200);
	done(c, loop, uac);
}
END_TEST

/* Our CANCEL crosses the callee's 200: the call is ACKed and ended with BYE (result cancelled); the CANCEL's
 * own answer comes after the call is freed and must find nothing of it. */
START_TEST(cancel_crossing_2xx)
{
	struct sip_call *c;
	struct cp_loop *loop;
	struct sip_udp *uac;
	const struct sip_call_stats *st = place(UAS_CROSS_CANCEL, 300, 200, NULL, &c, &loop, &uac);
	uint64_t t0;

	ck_assert_int_eq(st->state, SIP_CALL_ENDED);
	ck_assert_int_eq(st->result, SIP_RESULT_CANCELLED);
	ck_assert_uint_eq(st->final_status, 200);
	ck_assert_uint_eq(uas.cancels, 1);
	ck_assert_uint_eq(uas.acks, 1);
	ck_assert_uint_eq(uas.byes, 1);
	ck_assert_uint_eq(st->bye_status, 200);
	sip_call_free(c);
	ck_assert_ptr_nonnull(uas.cancel);
	reply(uas.cancel, 200, NULL, NULL, NULL);
	for (t0 = cm_now_ms(); cm_now_ms() - t0 < 200;)
		cp_loop_run_once(loop, 20);
	ck_assert_uint_eq(sip_ua_stats(uac_ua)->live, 0);
	sip_ua_free(uac_ua);
	sip_udp_stop(uac);
	sip_udp_stop(uas.u);
	cp_loop_free(loop);
}
END_TEST

/* ---- against a real UAS (SIPp), when the integration test provides one ------------------------------------ */

/* Direct to the UAS, then (with CALLMETER_SIP_PROXY=IP:PORT) through a Record-Routing proxy. */
/* A BYE to a peer that has gone (its port closed: ICMP port unreachable, a transport error at once) ends the call
 * with BYE status 503, and the owner that frees the call when it ends does so safely (the BYE's transaction is
 * destroyed after it has told the call; under ASan this was a use after free). */
static void free_when_ended(struct sip_call *c, void *arg)
{
	if (sip_call_stats(c)->state == SIP_CALL_ENDED) {
		*(unsigned *)arg = sip_call_stats(c)->bye_status;
		sip_call_free(c);
	}
}

static const struct sip_call_handler freeing_handler = { .on_state = free_when_ended };

START_TEST(bye_to_a_vanished_peer)
{
	struct cp_loop *loop = cp_loop_new();
	struct sip_ua *ua = sip_ua_new(&(struct sip_ua_config){ 0 });
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &sip_ua_txn_ops, ua);
	struct sdp_codec pcmu = { .name = "PCMU", .clock_rate = 8000, .pt = 0 };
	struct peer p;
	char to[64];
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .to_uri = to,
				       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = &pcmu, .ncodecs = 1,
						  .dir = SDP_SENDRECV } };
	struct sip_call *c;
	unsigned bye_status = 0;
	uint64_t t0;

	sip_ua_attach(ua, sip_udp_tp(u));
	peer_open(&p, sip_udp_port(u));
	snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%u", p.port);
	sip_addr_from(&cfg.dst, "127.0.0.1", p.port);
	c = sip_call_new(ua, &cfg, &freeing_handler, &bye_status);
	ck_assert_int_eq(sip_call_start(c), 0);
	ck_assert(peer_wait(loop, &p, is_invite, 2000));
	peer_respond(&p, 200, NULL, peer_sdp);
	ck_assert(peer_wait(loop, &p, is_ack, 2000));
	close(p.fd); /* the peer is gone */
	ck_assert_int_eq(sip_call_hangup(c), 0);
	t0 = cm_now_ms();
	while (!bye_status && cm_now_ms() - t0 < 3000)
		cp_loop_run_once(loop, 20);
	ck_assert_uint_eq(bye_status, 503);
	ck_assert_uint_lt(cm_now_ms() - t0, 1000);
	sip_ua_free(ua);
	sip_udp_stop(u);
	cp_loop_free(loop);
}
END_TEST

/* Requests are started without parsing them again only when the call's strings cannot break them: a
 * configured target with white space (a broken Request-URI) or a user with a line break still fails at
 * sip_call_start with -EINVAL, as the parsing path always did, and a registration with such a domain fails; a
 * folded header value from a peer is no such string (the same strings without them work). */
START_TEST(odd_strings_fail_as_before)
{
	static const struct {
		const char *to, *user;
		int rc;
	} cases[] = {
		{ "sip:bob@127.0.0.1:%u", "alice", 0 },
		{ "sip:bo b@127.0.0.1:%u", "alice", -EINVAL },
		{ "sip:bob@127.0.0.1:%u", "ali\r\nce", -EINVAL },
		{ "sip:bob@127.0.0.1:%u", "ali\rce", -EINVAL },
		{ "sip:bob@127.0.0.1:%u", "ali\r\n ce", 0 }, /* a folded line: the parser takes it too */
	};
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *uac;
	char to[64];

	memset(&uas, 0, sizeof(uas));
	uas.u = sip_udp_start(loop, "127.0.0.1", 0, &uas_ops, NULL);
	ck_assert_ptr_nonnull(uas.u);
	uac = uac_start(loop, "127.0.0.1");
	for (size_t i = 0; i < CM_ARRAY_SIZE(cases); i++) {
		struct sip_call_config cfg = { .from_user = cases[i].user, .from_domain = "uac.test", .duration_ms = 1,
					       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = uac_codecs,
							  .ncodecs = 2, .dir = SDP_SENDRECV } };
		struct sip_call *c;

		snprintf(to, sizeof(to), cases[i].to, sip_udp_port(uas.u));
		cfg.to_uri = to;
		sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(uas.u));
		c = sip_call_new(uac_ua, &cfg, NULL, NULL);
		ck_assert_ptr_nonnull(c);
		ck_assert_msg(sip_call_start(c) == cases[i].rc, "case %zu", i);
		if (cases[i].rc == 0)
			run_until_ended(loop, c, 3000);
		ck_assert(ended(c));
		ck_assert_int_eq(sip_call_stats(c)->result, cases[i].rc ? SIP_RESULT_FAILED : SIP_RESULT_ANSWERED);
		sip_call_free(c);
	}
	for (int bad = 0; bad < 2; bad++) {
		struct sip_reg_config rc = { .domain = bad ? "uas test" : "uas.test", .user = "alice", .expires = 60 };
		struct sip_reg *r;

		sip_addr_from(&rc.dst, "127.0.0.1", sip_udp_port(uas.u));
		r = sip_reg_new(sip_udp_tp(uac), &rc, NULL, NULL);
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(sip_reg_start(r), bad ? -EINVAL : 0);
		ck_assert_int_eq(sip_reg_stats(r)->state, bad ? SIP_REG_FAILED : SIP_REG_REGISTERING);
		sip_reg_free(r);
	}
	sip_ua_free(uac_ua);
	sip_udp_stop(uac);
	sip_udp_stop(uas.u);
	cp_loop_free(loop);
}
END_TEST

START_TEST(real_uas_calls)
{
	const char *proxy = _i ? getenv("CALLMETER_SIP_PROXY") : NULL;
	struct cp_loop *loop = cp_loop_new();
	const char *ip = getenv("CALLMETER_SIP_LOCAL_IP") ? getenv("CALLMETER_SIP_LOCAL_IP") : "127.0.0.1";
	struct sip_udp *uac = uac_start(loop, ip);
	char host[64], to[128];
	unsigned port, calls = getenv("CALLMETER_SIP_CALLS") ? (unsigned)atoi(getenv("CALLMETER_SIP_CALLS")) : 3;
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .duration_ms = 200,
				       .media = { .addr = ip, .port = 30000, .codecs = uac_codecs, .ncodecs = 2,
						  .dir = SDP_SENDRECV } };

	ck_assert_int_eq(sscanf(getenv("CALLMETER_SIP_UAS"), "%63[^:]:%u", host, &port), 2);
	snprintf(to, sizeof(to), "sip:service@%s:%u", host, port);
	cfg.to_uri = to;
	ck_assert_int_eq(sip_addr_from(&cfg.dst, host, (uint16_t)port), 0);
	if (proxy) {
		/* through the proxy: INVITE to it, the dialog learns the route set from its Record-Route */
		ck_assert_int_eq(sscanf(proxy, "%63[^:]:%u", host, &port), 2);
		ck_assert_int_eq(sip_addr_from(&cfg.dst, host, (uint16_t)port), 0);
	}
	for (unsigned i = 0; i < calls; i++) {
		struct sip_call *c = sip_call_new(uac_ua, &cfg, NULL, NULL);
		const struct sip_call_stats *st = sip_call_stats(c);

		ck_assert_int_eq(sip_call_start(c), 0);
		run_until_ended(loop, c, 8000);
		ck_assert_msg(st->result == SIP_RESULT_ANSWERED, "call %u: %s, status %u", i,
			      sip_call_result_name(st->result), st->final_status);
		ck_assert_uint_eq(st->bye_status, 200);
		ck_assert_uint_eq(st->media.codec.pt, 0); /* SIPp's uas answers PCMU */
		ck_assert_uint_gt(st->media.remote_port, 0);
		if (proxy)
			ck_assert_msg(strstr(sip_call_route_set(c), host), "route set %s", sip_call_route_set(c));
		else
			ck_assert_str_eq(sip_call_route_set(c), "");
		printf("real UAS call %u%s: setup %lu ms, ringing %lu ms, duration %lu ms\n", i,
		       proxy ? " via the proxy" : "", (unsigned long)st->setup_ms, (unsigned long)st->time_to_ringing_ms,
		       (unsigned long)st->duration_ms);
		sip_call_free(c);
	}
	sip_ua_free(uac_ua);
	sip_udp_stop(uac);
	cp_loop_free(loop);
}
END_TEST

static Suite *call_suite(void)
{
	Suite *s = suite_create("sip_call");
	TCase *tc = tcase_create("in-process UAS");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, answered_call);
	tcase_add_test(tc, retransmitted_2xx_acked_again);
	tcase_add_test(tc, busy_call);
	tcase_add_test(tc, challenged_call);
	tcase_add_test(tc, cancelled_on_no_answer);
	tcase_add_test(tc, negotiation_failure_acks_and_byes);
	tcase_add_test(tc, cancel_crossing_2xx);
	tcase_add_test(tc, bye_to_a_vanished_peer);
	tcase_add_test(tc, odd_strings_fail_as_before);
	suite_add_tcase(s, tc);
	if (getenv("CALLMETER_SIP_UAS")) {
		TCase *real = tcase_create("real UAS");
		tcase_set_timeout(real, 60);
		tcase_add_loop_test(real, real_uas_calls, 0, getenv("CALLMETER_SIP_PROXY") ? 2 : 1);
		suite_add_tcase(s, real);
	}
	return s;
}

int main(void)
{
	return run_suite(call_suite());
}
