/* Session timers (RFC 4028) and UPDATE (RFC 3311) over real UDP sockets.
 *
 * This stack calling itself: the caller asks for a 2 s session, the callee (which sees Supported: timer) makes
 * the caller the refresher, and the caller refreshes with UPDATE about every second while the call lasts; a
 * callee whose Min-SE is larger answers 422 and the caller asks again with that interval.  Against a scripted
 * peer: as caller, a refresh by re-INVITE (the unchanged offer, same SDP version) when the peer does not allow
 * UPDATE, and BYE at the interval less a third when the peer is the refresher and does not refresh; as callee,
 * refresher=uas honoured (our UPDATEs), 422 with our Min-SE for too short an interval, and BYE when the peer
 * that was to refresh does not. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "check_main.h"
#include "sippeer.h"
#include "testutil.h"
#include "uapair.h"

static const struct sdp_codec pcmu[] = { { .name = "PCMU", .clock_rate = 8000, .pt = 0 } };
static const struct sdp_local our_media = { .addr = "127.0.0.1", .port = 30000, .sess_id = 9, .sess_version = 1,
					    .codecs = pcmu, .ncodecs = 1, .dir = SDP_SENDRECV };

/* ---- this stack on both sides ----------------------------------------------------------------------------- */

static struct sip_call *callee_call;
static uint32_t callee_min_se;

static void callee_state(struct sip_call *c, void *arg)
{
	(void)arg;
	if (sip_call_stats(c)->state == SIP_CALL_CONFIRMED)
		callee_call = c;
	else if (sip_call_stats(c)->state == SIP_CALL_ENDED && callee_call == c)
		callee_call = NULL;
}

static const struct sip_call_handler callee_handler = { .on_state = callee_state };

static unsigned incoming(void *arg, struct sip_str user, const struct sip_msg *invite, struct sip_answer *a,
			 const struct sip_call_handler **h, void **harg)
{
	(void)arg;
	(void)user;
	(void)invite;
	*a = (struct sip_answer){ .media = our_media, .contact_user = "callee", .min_se_s = callee_min_se };
	a->media.port = 42000;
	*h = &callee_handler;
	*harg = NULL;
	return 0;
}

static void run_for(struct cp_loop *loop, struct sip_call *c, enum sip_call_state until, uint64_t ms)
{
	uint64_t t0 = cm_now_ms();

	while (cm_now_ms() - t0 < ms && (!c || sip_call_stats(c)->state != until))
		cp_loop_run_once(loop, 20);
}

static struct sip_call *call_self(struct ua_pair *b, uint32_t session_s, uint32_t min_se_s)
{
	char to[64];
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .to_uri = to,
				       .media = our_media, .session_expires_s = session_s, .min_se_s = min_se_s };
	struct sip_call *c;

	callee_call = NULL;
	ua_pair_start(b, &(struct sip_ua_config){ .incoming = incoming }, "127.0.0.1");
	snprintf(to, sizeof(to), "sip:bob@127.0.0.1:%u", sip_udp_port(b->uas_u));
	sip_addr_from(&cfg.dst, "127.0.0.1", sip_udp_port(b->uas_u));
	c = sip_call_new(b->uac, &cfg, NULL, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sip_call_start(c), 0);
	run_for(b->loop, c, SIP_CALL_CONFIRMED, 3000);
	ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_CONFIRMED);
	return c;
}

static void hang_up(struct ua_pair *b, struct sip_call *c)
{
	ck_assert_int_eq(sip_call_hangup(c), 0);
	run_for(b->loop, c, SIP_CALL_ENDED, 3000);
	ck_assert_uint_eq(sip_call_stats(c)->bye_status, 200);
	sip_call_free(c);
	ua_pair_stop(b);
}

START_TEST(caller_refreshes_with_update)
{
	struct ua_pair b;
	struct sip_call *c;
	const struct sip_call_stats *st, *cst;

	callee_min_se = 1;
	c = call_self(&b, 2, 1);
	st = sip_call_stats(c);
	ck_assert_ptr_nonnull(callee_call);
	cst = sip_call_stats(callee_call);
	ck_assert_uint_eq(st->session_expires_s, 2);
	ck_assert(st->session_refresher);
	ck_assert_uint_eq(cst->session_expires_s, 2);
	ck_assert(!cst->session_refresher);
	/* 4.5 s: a refresh at 1, 2, 3 and 4 s; the callee would hang up at 2 - 2/3 s without them */
	run_for(b.loop, NULL, SIP_CALL_ENDED, 4500);
	ck_assert_int_eq(st->state, SIP_CALL_CONFIRMED);
	ck_assert_ptr_nonnull(callee_call);
	ck_assert_uint_ge(st->session_refreshes, 3);
	ck_assert_uint_le(st->session_refreshes, 5);
	ck_assert_uint_eq(cst->session_refreshes_received, st->session_refreshes);
	ck_assert_uint_eq(cst->updates, st->session_refreshes); /* UPDATE: the callee allows it */
	ck_assert_uint_eq(st->reinvites_sent, 0);
	ck_assert(!st->session_expired && !cst->session_expired);
	hang_up(&b, c);
}
END_TEST

START_TEST(too_short_is_answered_422)
{
	struct ua_pair b;
	struct sip_call *c;

	callee_min_se = 3;
	c = call_self(&b, 2, 1);
	ck_assert_uint_eq(sip_call_stats(c)->session_422, 1);
	ck_assert_uint_eq(sip_call_stats(c)->session_expires_s, 3); /* asked again with the callee's Min-SE */
	ck_assert_ptr_nonnull(callee_call);
	ck_assert_uint_eq(sip_call_stats(callee_call)->session_expires_s, 3);
	hang_up(&b, c);
}
END_TEST

/* ---- against a scripted peer ------------------------------------------------------------------------------ */

static bool is_update(const struct sip_msg *m) { return m->is_request && m->method_id == SIP_UPDATE; }

static bool header_is(const struct sip_msg *m, const char *name, const char *value)
{
	const struct sip_hdr *h = sip_msg_hdr_by_name(m, name);

	return h && h->value.len == strlen(value) && strncasecmp(h->value.p, value, h->value.len) == 0;
}

/* What the owner of a call placed to the scripted peer hears. */
static struct {
	unsigned media_calls, reinvites, status;
	bool applied;
	uint16_t port;
	enum sdp_dir dir;
} rec;

static bool rec_media(struct sip_call *c, void *arg, const struct sdp_negotiated *m)
{
	(void)c;
	(void)arg;
	rec.media_calls++;
	rec.port = m->remote_port;
	rec.dir = m->dir;
	return true;
}

static void rec_reinvite(struct sip_call *c, void *arg, unsigned status, bool applied)
{
	(void)c;
	(void)arg;
	rec.reinvites++;
	rec.status = status;
	rec.applied = applied;
}

static const struct sip_call_handler rec_handler = { .on_media = rec_media, .on_reinvite = rec_reinvite };

/* Our caller (asking for `ask` s) against the scripted peer, which answers 200 with `extra`; returns the call up. */
static struct sip_call *call_peer(struct ua_pair *b, struct peer *p, uint32_t ask, const char *extra)
{
	char to[64];
	struct sip_call_config cfg = { .from_user = "alice", .from_domain = "uac.test", .to_uri = to,
				       .media = our_media, .session_expires_s = ask, .min_se_s = 1 };
	struct sip_call *c;

	b->loop = cp_loop_new();
	b->uac = sip_ua_new(&(struct sip_ua_config){ 0 });
	b->uac_u = ua_listen(b->loop, b->uac, "127.0.0.1");
	b->uas = NULL;
	b->uas_u = NULL;
	peer_open(p, sip_udp_port(b->uac_u));
	snprintf(to, sizeof(to), "sip:peer@127.0.0.1:%u", p->port);
	sip_addr_from(&cfg.dst, "127.0.0.1", p->port);
	memset(&rec, 0, sizeof(rec));
	c = sip_call_new(b->uac, &cfg, &rec_handler, NULL);
	ck_assert_int_eq(sip_call_start(c), 0);
	ck_assert(peer_wait(b->loop, p, is_invite, 2000));
	ck_assert(header_is(&p->m, "Supported", "timer"));
	ck_assert(sip_msg_hdr_by_name(&p->m, "Session-Expires"));
	peer_respond(p, 200, extra, peer_sdp);
	ck_assert(peer_wait(b->loop, p, is_ack, 2000));
	ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_CONFIRMED);
	return c;
}

static void peer_done(struct ua_pair *b, struct peer *p, struct sip_call *c)
{
	sip_call_free(c);
	close(p->fd);
	sip_ua_free(b->uac);
	sip_udp_stop(b->uac_u);
	cp_loop_free(b->loop);
}

START_TEST(caller_refreshes_with_reinvite_without_update)
{
	struct ua_pair b;
	struct peer p;
	struct sip_call *c = call_peer(&b, &p, 2, "Session-Expires: 2;refresher=uac\r\nAllow: INVITE, ACK, BYE\r\n");
	uint64_t t0 = cm_now_ms();

	ck_assert(sip_call_stats(c)->session_refresher);
	/* at half the interval: a re-INVITE (the peer does not allow UPDATE) with the same offer */
	ck_assert(peer_wait(b.loop, &p, is_invite, 2000));
	ck_assert_uint_ge(cm_now_ms() - t0, 800);
	ck_assert(memmem(sip_msg_hdr(&p.m, SIP_HDR_TO)->value.p, sip_msg_hdr(&p.m, SIP_HDR_TO)->value.len, "tag=peer1",
			 9)); /* in the dialog */
	ck_assert(header_is(&p.m, "Session-Expires", "2;refresher=uac"));
	ck_assert(memmem(p.m.body.p, p.m.body.len, " 9 1 IN IP4 ", 12)); /* o=: session 9, version still 1 */
	peer_respond(&p, 200, "Session-Expires: 2;refresher=uac\r\n", peer_sdp);
	ck_assert(peer_wait(b.loop, &p, is_ack, 2000));
	run_for(b.loop, NULL, SIP_CALL_ENDED, 100);
	ck_assert_uint_eq(sip_call_stats(c)->session_refreshes, 1);
	ck_assert_uint_eq(sip_call_stats(c)->reinvites_sent, 0); /* a refresh, not an offer of the owner's */
	ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_CONFIRMED);
	peer_done(&b, &p, c);
}
END_TEST

START_TEST(caller_ends_an_unrefreshed_session)
{
	struct ua_pair b;
	struct peer p;
	struct sip_call *c = call_peer(&b, &p, 3, "Session-Expires: 3;refresher=uas\r\n");
	uint64_t t0 = cm_now_ms(), t;

	ck_assert(!sip_call_stats(c)->session_refresher);
	/* the peer was to refresh and does not: BYE at 3 - min(32, 3/3) = 2 s */
	ck_assert(peer_wait(b.loop, &p, is_bye, 4000));
	t = cm_now_ms() - t0;
	ck_assert_msg(t >= 1800 && t <= 2600, "BYE after %llu ms", (unsigned long long)t);
	ck_assert(sip_call_stats(c)->session_expired);
	peer_respond(&p, 200, NULL, NULL);
	run_for(b.loop, c, SIP_CALL_ENDED, 2000);
	ck_assert_int_eq(sip_call_stats(c)->state, SIP_CALL_ENDED);
	peer_done(&b, &p, c);
}
END_TEST

static const char peer_sdp_recvonly[] = "v=0\r\no=peer 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
					"m=audio 31000 RTP/AVP 0\r\na=recvonly\r\n";
static const char peer_sdp_moved[] = "v=0\r\no=peer 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
				     "m=audio 31002 RTP/AVP 0\r\n";

static bool body_has(const struct sip_msg *m, const char *s)
{
	return memmem(m->body.p, m->body.len, s, strlen(s)) != NULL;
}

/* The peer answers the re-INVITE in p->m 491: the next re-INVITE comes after the §14.1 wait (2.1 to 4 s: we placed
 * the call; the upper bound with room for a loaded machine's late timers). */
static void answer_491(struct ua_pair *b, struct peer *p)
{
	uint64_t t491, t;

	peer_respond(p, 491, NULL, NULL);
	t491 = cm_now_ms();
	ck_assert(peer_wait(b->loop, p, is_invite, 5500));
	t = cm_now_ms() - t491;
	ck_assert_msg(t >= 2100 && t <= 4000 + 1000, "re-INVITE %llu ms after the 491", (unsigned long long)t);
}

/* The peer takes the hold in p->m (recvonly): the owner hears once, of the success. */
static void hold_taken(struct ua_pair *b, struct peer *p, const char *extra)
{
	peer_respond(p, 200, extra, peer_sdp_recvonly);
	ck_assert(peer_wait(b->loop, p, is_ack, 2000));
	run_for(b->loop, NULL, SIP_CALL_ENDED, 100);
	ck_assert_uint_eq(rec.reinvites, 1);
	ck_assert_uint_eq(rec.status, 200);
	ck_assert(rec.applied);
}

/* The owner puts the call on hold while our session refresh (a re-INVITE: the peer does not allow UPDATE) is
 * pending, and the peer answers the refresh 491 (its own offer crossed ours).  The hold is not refused (it was
 * -EBUSY, a failed hold for the product): it waits for the refresh, then for the §14.1 wait after the 491 (2.1 to
 * 4 s: we placed the call), goes out as a new offer, and takes. */
START_TEST(hold_waits_for_our_refresh)
{
	struct ua_pair b;
	struct peer p;
	struct sip_call *c = call_peer(&b, &p, 2, "Session-Expires: 2;refresher=uac\r\nAllow: INVITE, ACK, BYE\r\n");
	const struct sip_call_stats *st = sip_call_stats(c);

	ck_assert(peer_wait(b.loop, &p, is_invite, 2000)); /* the refresh: the same offer */
	ck_assert(body_has(&p.m, " 9 1 IN IP4 ") && body_has(&p.m, "a=sendrecv"));
	ck_assert_int_eq(sip_call_reinvite(c, SDP_SENDONLY), 0);
	answer_491(&b, &p);
	ck_assert(body_has(&p.m, " 9 2 IN IP4 ") && body_has(&p.m, "a=sendonly")); /* the hold, a new version */
	hold_taken(&b, &p, "Session-Expires: 2;refresher=uac\r\n");
	ck_assert_int_eq(rec.dir, SDP_SENDONLY);
	ck_assert_uint_eq(st->reinvites_sent, 1);
	ck_assert_uint_eq(st->reinvites_ok, 1);
	ck_assert_uint_eq(st->reinvites_queued, 1);
	ck_assert_uint_eq(st->glare, 1);
	ck_assert_int_eq(st->state, SIP_CALL_CONFIRMED);
	peer_done(&b, &p, c);
}
END_TEST

/* The peer answers our hold re-INVITE 491 (its session refresh is pending on its side): the hold is sent again
 * after the §14.1 wait and takes; the owner hears once, of the success. */
START_TEST(hold_answered_491_is_retried)
{
	struct ua_pair b;
	struct peer p;
	struct sip_call *c = call_peer(&b, &p, 90, "Session-Expires: 90;refresher=uas\r\n");
	const struct sip_call_stats *st = sip_call_stats(c);

	ck_assert_int_eq(sip_call_reinvite(c, SDP_INACTIVE), 0);
	ck_assert(peer_wait(b.loop, &p, is_invite, 2000));
	ck_assert(body_has(&p.m, "a=inactive"));
	answer_491(&b, &p);
	ck_assert(body_has(&p.m, "a=inactive"));
	hold_taken(&b, &p, NULL);
	ck_assert_uint_eq(st->glare, 1);
	ck_assert_uint_eq(st->reinvites_sent, 2);
	ck_assert_uint_eq(st->reinvites_ok, 1);
	peer_done(&b, &p, c);
}
END_TEST

/* The peer answers our session refresh (the unchanged offer) with media on a new port: the call's media move
 * there and the owner hears of it (on_media, the product's media update); a later refresh answered the same way
 * again changes nothing. */
START_TEST(refresh_answer_moves_the_media)
{
	struct ua_pair b;
	struct peer p;
	struct sip_call *c = call_peer(&b, &p, 2, "Session-Expires: 2;refresher=uac\r\nAllow: INVITE, ACK, BYE\r\n");
	const struct sip_call_stats *st = sip_call_stats(c);

	ck_assert_uint_eq(rec.media_calls, 1);
	ck_assert_uint_eq(rec.port, 31000);
	for (int i = 0; i < 2; i++) {
		ck_assert(peer_wait(b.loop, &p, is_invite, 2000));
		ck_assert(body_has(&p.m, " 9 1 IN IP4 "));
		peer_respond(&p, 200, "Session-Expires: 2;refresher=uac\r\n", peer_sdp_moved);
		ck_assert(peer_wait(b.loop, &p, is_ack, 2000));
		run_for(b.loop, NULL, SIP_CALL_ENDED, 50);
		ck_assert_uint_eq(st->session_refreshes, (unsigned)i + 1);
		ck_assert_uint_eq(rec.media_calls, 2);
		ck_assert_uint_eq(rec.port, 31002);
		ck_assert_uint_eq(st->media.remote_port, 31002);
		ck_assert_uint_eq(st->refresh_media_changes, 1);
	}
	ck_assert_uint_eq(rec.reinvites, 0); /* refreshes are not the owner's re-INVITEs */
	ck_assert_int_eq(st->state, SIP_CALL_CONFIRMED);
	peer_done(&b, &p, c);
}
END_TEST

/* Our callee (min_se_s, 0: 90 s) and the scripted caller's INVITE with `hdrs`. */
static void callee_setup(struct ua_pair *b, struct peer *p, uint32_t min_se_s, const char *hdrs)
{
	struct sip_ua_config cfg = { .answer = { .media = our_media, .contact_user = "callee", .min_se_s = min_se_s } };

	b->loop = cp_loop_new();
	b->uas = sip_ua_new(&cfg);
	b->uas_u = ua_listen(b->loop, b->uas, "127.0.0.1");
	peer_open(p, sip_udp_port(b->uas_u));
	peer_sendf(p, "INVITE sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKse1\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>\r\n"
		   "Call-ID: se-1@127.0.0.1\r\nCSeq: 7 INVITE\r\nContact: <sip:peer@127.0.0.1:%u>\r\n%s"
		   "Content-Type: application/sdp\r\nContent-Length: %zu\r\n\r\n%s",
		   ntohs(p->to.sin_port), p->port, p->port, hdrs, strlen(peer_sdp), peer_sdp);
}

static void callee_done(struct ua_pair *b, struct peer *p)
{
	close(p->fd);
	sip_ua_free(b->uas);
	sip_udp_stop(b->uas_u);
	cp_loop_free(b->loop);
}

static void ack_200(struct peer *p)
{
	char tag[64];
	struct sip_addr a;
	const char *why;

	ck_assert_int_eq(sip_parse_addr(sip_msg_hdr(&p->m, SIP_HDR_TO)->value, &a, &why), 0);
	snprintf(tag, sizeof(tag), "%.*s", (int)a.tag.len, a.tag.p);
	peer_sendf(p, "ACK sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKse1a\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>;tag=%s\r\n"
		   "Call-ID: se-1@127.0.0.1\r\nCSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n",
		   ntohs(p->to.sin_port), p->port, tag);
}

START_TEST(callee_refreshes_when_asked)
{
	struct ua_pair b;
	struct peer p;
	uint64_t t0;

	callee_setup(&b, &p, 1, "Supported: timer\r\nSession-Expires: 2;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n");
	ck_assert(resp_wait(b.loop, &p, 200, "INVITE", 2000));
	ck_assert(header_is(&p.m, "Session-Expires", "2;refresher=uas"));
	ck_assert(!sip_msg_has_option(&p.m, SIP_HDR_REQUIRE, "timer")); /* we refresh: nothing required of it */
	ack_200(&p);
	t0 = cm_now_ms();
	for (int i = 0; i < 2; i++) {
		ck_assert(peer_wait(b.loop, &p, is_update, 2000));
		ck_assert(header_is(&p.m, "Session-Expires", "2;refresher=uac"));
		ck_assert_uint_eq(p.m.body.len, 0);
		peer_respond(&p, 200, "Session-Expires: 2;refresher=uac\r\n", NULL);
	}
	ck_assert_uint_ge(cm_now_ms() - t0, 1600); /* one each second */
	callee_done(&b, &p);
}
END_TEST

static bool is_488(const struct sip_msg *m) { return !m->is_request && m->status == 488; }
static bool update_or_bye(const struct sip_msg *m)
{
	return m->is_request && (m->method_id == SIP_UPDATE || m->method_id == SIP_BYE);
}

/* A re-INVITE we refuse (488: PCMA only) that asks to make the peer the refresher changes nothing (RFC 4028 §10:
 * only a successful request does): we still refresh with UPDATE, we do not end the call as if the session had
 * expired. */
START_TEST(refused_reinvite_keeps_the_session)
{
	static const char pcma[] = "v=0\r\no=peer 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
				   "m=audio 31000 RTP/AVP 8\r\n";
	struct ua_pair b;
	struct peer p;
	struct sip_addr a;
	const char *why;
	char tag[64];

	callee_setup(&b, &p, 1, "Supported: timer\r\nSession-Expires: 2;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n");
	ck_assert(resp_wait(b.loop, &p, 200, "INVITE", 2000));
	ck_assert_int_eq(sip_parse_addr(sip_msg_hdr(&p.m, SIP_HDR_TO)->value, &a, &why), 0);
	snprintf(tag, sizeof(tag), "%.*s", (int)a.tag.len, a.tag.p);
	ack_200(&p);
	peer_sendf(&p, "INVITE sip:callee@127.0.0.1:%u SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKse2\r\n"
		   "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p1\r\nTo: <sip:callee@127.0.0.1>;tag=%s\r\n"
		   "Call-ID: se-1@127.0.0.1\r\nCSeq: 8 INVITE\r\nContact: <sip:peer@127.0.0.1:%u>\r\n"
		   "Supported: timer\r\nSession-Expires: 2;refresher=uac\r\nContent-Type: application/sdp\r\n"
		   "Content-Length: %zu\r\n\r\n%s", ntohs(p.to.sin_port), p.port, tag, p.port, strlen(pcma), pcma);
	ck_assert(peer_wait(b.loop, &p, is_488, 2000));
	ck_assert(peer_wait(b.loop, &p, update_or_bye, 2000));
	ck_assert_int_eq(p.m.method_id, SIP_UPDATE);
	callee_done(&b, &p);
}
END_TEST

START_TEST(callee_422_below_min_se)
{
	struct ua_pair b;
	struct peer p;

	callee_setup(&b, &p, 0, "Supported: timer\r\nSession-Expires: 60\r\n");
	ck_assert(resp_wait(b.loop, &p, 422, "INVITE", 2000));
	ck_assert(header_is(&p.m, "Min-SE", "90"));
	callee_done(&b, &p);
}
END_TEST

START_TEST(callee_ends_an_unrefreshed_session)
{
	struct ua_pair b;
	struct peer p;
	uint64_t t0, t;

	callee_setup(&b, &p, 1, "Supported: timer\r\nSession-Expires: 3\r\n");
	ck_assert(resp_wait(b.loop, &p, 200, "INVITE", 2000));
	/* it supports timer and named no refresher: it refreshes, and must */
	ck_assert(header_is(&p.m, "Session-Expires", "3;refresher=uac"));
	ck_assert(sip_msg_has_option(&p.m, SIP_HDR_REQUIRE, "timer"));
	ack_200(&p);
	t0 = cm_now_ms();
	ck_assert(peer_wait(b.loop, &p, is_bye, 4000));
	t = cm_now_ms() - t0;
	ck_assert_msg(t >= 1800 && t <= 2600, "BYE after %llu ms", (unsigned long long)t);
	callee_done(&b, &p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sip_session_timer");
	TCase *tc = tcase_create("session_timer");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, caller_refreshes_with_update);
	tcase_add_test(tc, too_short_is_answered_422);
	tcase_add_test(tc, caller_refreshes_with_reinvite_without_update);
	tcase_add_test(tc, caller_ends_an_unrefreshed_session);
	tcase_add_test(tc, callee_refreshes_when_asked);
	tcase_add_test(tc, callee_422_below_min_se);
	tcase_add_test(tc, refused_reinvite_keeps_the_session);
	tcase_add_test(tc, callee_ends_an_unrefreshed_session);
	tcase_add_test(tc, hold_waits_for_our_refresh);
	tcase_add_test(tc, hold_answered_491_is_retried);
	tcase_add_test(tc, refresh_answer_moves_the_media);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
