/* Calls: INVITE dialogs of both roles (RFC 3261 §12-§15, RFC 3264 offer/answer, RFC 2976 INFO DTMF).
 *
 * Placed (UAC): INVITE with an SDP offer; provisional responses (PDD, ringing); 401/407 answered with digest
 * credentials; 2xx -> dialog (remote tag, remote target from Contact, route set = Record-Route reversed, loose
 * routing) -> ACK end to end, re-sent for every retransmitted 2xx -> BYE after the call duration or on
 * sip_call_hangup; CANCEL when unanswered (once a provisional response came, §9.1), ACK + BYE when the 2xx
 * crosses it; an answer that does not fit the offer is ACKed and BYEd at once.
 *
 * Received (UAS, from the UA's new INVITE): 180 with Contact at once; after the ring time 200 with the SDP
 * answer, or the configured rejection; 488 when the offer cannot be answered; CANCEL -> 487; the 2xx re-sent
 * (T1 doubling to T2) until the ACK, and BYE when none came in 64*T1 (§13.3.1.4); route set = Record-Route as
 * is; a retransmitted INVITE gets the 2xx again, another INVITE with the same Call-ID and From tag 482.
 *
 * Reliable provisional responses (RFC 3262, sip.h enum sip_100rel): the UAC PRACKs each reliable 1xx once, in
 * RSeq order, in its early dialog, and takes an SDP answer in it as the call's answer; the UAS sends its 180/183
 * reliably, re-sends it until the PRACK and answers 500 when none comes in 64*T1.
 *
 * Both: the peer's BYE; re-INVITE (hold/resume: the answer mirrors the new direction, the owner hears the new
 * media); our own re-INVITE (sip_call_reinvite: a new offer, ACK for its 2xx, 491 retried after the §14.1 random
 * wait, any other failure keeps the old media); INFO application/dtmf-relay received, and sent from a queue one
 * request at a time; OPTIONS.
 *
 * Lifetime: every entry point (transaction callbacks, timers, the API) holds the call; sip_call_free and the
 * UA's free-after-ENDED only mark it while it is held, and the outermost entry frees it on the way out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/call_internal.h"

#define SE_MIN_S 90u /* RFC 4028 §4: the smallest Min-SE */
#define TAG_MAX 40u
#define BRANCH_MAX 40u
#define MSG_MAX 8192u
#define SDP_MAX 2048u
#define MEDIA_ADDR_MAX 48u
#define SUITE_MAX 32u
#define KEY_MAX 64u
#define GLARE_POLL_MS 50u /* an offer of ours waiting for another INVITE transaction to end looks again this often */

struct sip_call {
	struct sip_client_handler h; /* first: the client transactions' user pointer */
	struct sip_ua *ua;
	struct sip_tp *tp;           /* the socket it sends from: the UA's, or an endpoint's own port */
	struct sip_call *hnext;      /* in the UA's table */
	uint32_t hash;
	bool hashed, incoming, doomed, got_provisional, cancel_wanted, cancelled;
	bool built_ok;               /* check_*_strings(): requests go to sip_tp_request_built */
	unsigned depth;              /* entry points on the stack */
	const struct sip_call_handler *cb;
	void *arg;
	struct sip_call_stats st;

	char call_id[SIP_CALL_FIELD_MAX], local_tag[TAG_MAX], remote_tag[SIP_CALL_FIELD_MAX];
	char local_uri[SIP_CALL_FIELD_MAX], remote_uri[SIP_CALL_FIELD_MAX], remote_target[SIP_CALL_FIELD_MAX];
	char contact_user[64];
	char *route_set;             /* Route header text for in-dialog requests; NULL: none */
	struct sockaddr_storage dst; /* placed: where the INVITE went; received: where it came from */
	struct sockaddr_storage next_hop;
	uint32_t cseq, invite_cseq, remote_cseq;
	char invite_branch[BRANCH_MAX];

	/* placed calls */
	char route[SIP_CALL_FIELD_MAX], auth_user[SIP_CALL_FIELD_MAX], password[SIP_CALL_FIELD_MAX];
	struct sip_challenge *chal;  /* the last challenge, once there is one */
	uint32_t nc;
	unsigned auth_tries;
	uint32_t duration_ms, no_answer_ms;
	struct sockaddr_storage *fallback; /* further destinations for the INVITE (RFC 3263 §4.3) */
	unsigned nfallback, next_fallback;
	char *ack;                   /* the ACK for the 2xx, re-sent for each retransmitted 2xx */
	size_t ack_len;

	struct sip_txn *invite_txn;  /* placed: client INVITE; received: server INVITE until its final response */
	struct sip_txn *other_txn;   /* BYE */
	struct sip_txn *cancel_txn;
	struct sip_txn *info_txn;
	struct sip_txn *reinvite_txn; /* our re-INVITE */
	struct cp_timer glare;       /* our re-INVITE, answered 491, is sent again when this fires (§14.1) */
	uint32_t reinvite_cseq;
	uint32_t ack_cseq;           /* of the INVITE whose 2xx c->ack answers */
	unsigned glare_tries;
	enum sdp_dir dir_before;     /* our direction before the pending re-INVITE: restored if it fails */
	enum sdp_dir glare_dir;      /* what our re-INVITE offers, kept for a retry after 491 */
	struct cp_timer timer;       /* placed: no answer, then the call duration; received: the ring time */
	struct cp_timer retx;        /* received: 2xx retransmission until the ACK */
	uint64_t invite_ms, answer_ms;

	struct sdp_local media;      /* ours; strings in the buffers below */
	char media_addr[MEDIA_ADDR_MAX], crypto_suite[SUITE_MAX], crypto_key[KEY_MAX];
	char *peer_sdp;              /* the peer's SDP the negotiated strings point into */

	/* received calls */
	uint32_t ring_ms;
	unsigned answer_status;
	char *answer_sdp;            /* built when the INVITE came, sent with the 2xx */
	char *ok;                    /* the last 2xx to an INVITE, re-sent until its ACK */
	size_t ok_len;
	uint32_t ok_cseq, ok_retx_ms;
	uint64_t ok_first_ms;

	/* reliable provisional responses (RFC 3262) */
	enum sip_100rel rel100;
	bool rseq_seen;              /* placed: a reliable 1xx came in this early dialog */
	uint32_t rseq_last;          /* placed: the last one's RSeq; received: the RSeq of ours */
	struct sip_txn *prack_txn;
	bool early_answered;         /* placed: the answer came in a reliable 1xx */
	bool reliable;               /* received: our 1xx goes reliably */
	bool rel_sdp;                /* received: it carries the SDP answer, so the 2xx waits for its PRACK */
	bool answer_deferred;        /* received: the ring time is over, the 2xx waits for that PRACK */
	char *rel;                   /* received: the reliable 1xx, re-sent until its PRACK */
	size_t rel_len;
	uint32_t rel_retx_ms;
	uint64_t rel_first_ms;
	struct cp_timer rel_timer;

	/* session timer (RFC 4028) */
	uint32_t se_req_s, min_se_s; /* placed: the interval we ask for (0: none); both: our Min-SE */
	uint32_t se_s;               /* the dialog's session interval, 0: no session timer */
	bool se_refresh;             /* we refresh it; else the peer must, or we end the call at its expiry */
	bool se_refreshing;          /* the pending re-INVITE is a refresh (the owner is not told) */
	bool peer_update;            /* the peer allows UPDATE: our refreshes are UPDATEs, else re-INVITEs */
	unsigned tries_422;
	struct cp_timer se_timer;    /* our next refresh, or the session's expiry */
	struct sip_txn *update_txn;  /* our refreshing UPDATE */

	/* INFO DTMF */
	char dtmf_q[SIP_CALL_DTMF_MAX];
	unsigned dtmf_qlen;
	uint32_t dtmf_ms;
};

static _Thread_local struct sdp_session sdp_scratch;

/* A call is 2.6 KiB, past the allocator's per-thread cache: freed ones are kept by their UA for the next (a run
 * places and takes calls all the time). */
static const unsigned call_spare_max = SIP_ASAN ? 0 : 64;

/* ---- names ------------------------------------------------------------------------------------------------ */

static const char *const call_states[] = { "idle", "calling", "ringing", "confirmed", "ending", "ended" };
static const char *const call_results[] = { "none", "answered", "busy", "rejected", "timeout", "cancelled",
					    "unavailable", "failed", "negotiation_failed" };

const char *sip_call_state_name(enum sip_call_state s)
{
	return (unsigned)s < CM_ARRAY_SIZE(call_states) ? call_states[s] : "?";
}

const char *sip_call_result_name(enum sip_call_result r)
{
	return (unsigned)r < CM_ARRAY_SIZE(call_results) ? call_results[r] : "?";
}

enum sip_call_result sip_call_result_from_status(unsigned status)
{
	if (status >= 200 && status < 300)
		return SIP_RESULT_ANSWERED;
	switch (status) {
	case 486: case 600: return SIP_RESULT_BUSY;
	case 403: case 603: return SIP_RESULT_REJECTED;
	case 408: return SIP_RESULT_TIMEOUT;
	case 487: return SIP_RESULT_CANCELLED;
	case 480: case 503: return SIP_RESULT_UNAVAILABLE;
	default: return SIP_RESULT_FAILED;
	}
}

/* ---- the UA's table --------------------------------------------------------------------------------------- */

static uint32_t str_hash(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static bool streq(const char *s, struct sip_str v)
{
	return strlen(s) == v.len && memcmp(s, v.p, v.len) == 0;
}

void sip_call_table_add(struct sip_call_table *t, struct sip_call *c)
{
	if (t->n + 1 > t->mask + 1) {
		/* double: every chain stays about one call long */
		uint32_t mask = 2 * t->mask + 1;
		struct sip_call **b = calloc((size_t)mask + 1, sizeof(*b));

		if (b) {
			for (uint32_t i = 0; i <= t->mask; i++)
				while (t->b[i]) {
					struct sip_call *x = t->b[i];
					t->b[i] = x->hnext;
					x->hnext = b[x->hash & mask];
					b[x->hash & mask] = x;
				}
			free(t->b);
			t->b = b;
			t->mask = mask;
		}
	}
	c->hash = str_hash(c->call_id, strlen(c->call_id));
	c->hnext = t->b[c->hash & t->mask];
	t->b[c->hash & t->mask] = c;
	c->hashed = true;
	t->n++;
}

void sip_call_table_del(struct sip_call_table *t, struct sip_call *c)
{
	if (!c->hashed)
		return;
	for (struct sip_call **pp = &t->b[c->hash & t->mask]; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->hashed = false;
	t->n--;
}

struct sip_call *sip_call_find(struct sip_call_table *t, struct sip_str call_id, struct sip_str local_tag,
			       struct sip_str remote_tag)
{
	uint32_t h = str_hash(call_id.p, call_id.len);

	for (struct sip_call *c = t->b[h & t->mask]; c; c = c->hnext) {
		if (c->hash != h || !streq(c->call_id, call_id))
			continue;
		if (local_tag.len ? streq(c->local_tag, local_tag) : c->incoming && streq(c->remote_tag, remote_tag))
			return c;
	}
	return NULL;
}

void sip_call_table_free(struct sip_call_table *t)
{
	for (uint32_t i = 0; t->b && i <= t->mask; i++)
		while (t->b[i])
			sip_call_destroy(t->b[i]); /* placed calls left over are freed too: their creators are gone */
	free(t->b);
	t->b = NULL;
}

/* ---- lifetime --------------------------------------------------------------------------------------------- */

static void hold(struct sip_call *c)
{
	c->depth++;
}

/* false when the call is gone */
static bool release(struct sip_call *c)
{
	if (--c->depth == 0 && c->doomed) {
		sip_call_destroy(c);
		return false;
	}
	return true;
}

static struct cp_loop *loop_of(const struct sip_call *c)
{
	return c->ua->loop;
}

void sip_call_destroy(struct sip_call *c)
{
	struct cp_loop *loop = loop_of(c);

	cp_timer_stop(loop, &c->timer);
	cp_timer_stop(loop, &c->retx);
	cp_timer_stop(loop, &c->glare);
	cp_timer_stop(loop, &c->se_timer);
	if (c->update_txn)
		sip_txn_set_user(c->update_txn, NULL);
	if (c->invite_txn)
		sip_txn_set_user(c->invite_txn, NULL);
	if (c->reinvite_txn)
		sip_txn_set_user(c->reinvite_txn, NULL);
	cp_timer_stop(loop, &c->rel_timer);
	if (c->invite_txn)
		sip_txn_set_user(c->invite_txn, NULL);
	if (c->prack_txn)
		sip_txn_set_user(c->prack_txn, NULL);
	if (c->other_txn)
		sip_txn_set_user(c->other_txn, NULL);
	if (c->cancel_txn)
		sip_txn_set_user(c->cancel_txn, NULL);
	if (c->info_txn)
		sip_txn_set_user(c->info_txn, NULL);
	sip_call_table_del(&c->ua->calls, c);
	c->ua->st.live--;
	free(c->chal);
	free(c->route_set);
	free(c->peer_sdp);
	free(c->answer_sdp);
	free(c->ack);
	free(c->ok);
	free(c->rel);
	free(c->fallback);
	if (c->ua->nspare < call_spare_max) {
		c->hnext = c->ua->spare;
		c->ua->spare = c;
		c->ua->nspare++;
	} else {
		free(c);
	}
}

void sip_call_spares_free(struct sip_ua *ua)
{
	while (ua->spare) {
		struct sip_call *c = ua->spare;
		ua->spare = c->hnext;
		free(c);
	}
	ua->nspare = 0;
}

void sip_call_free(struct sip_call *c)
{
	if (!c)
		return;
	if (c->depth) {
		c->doomed = true;
		return;
	}
	sip_call_destroy(c);
}

static void set_state(struct sip_call *c, enum sip_call_state s)
{
	c->st.state = s;
	if (c->cb && c->cb->on_state)
		c->cb->on_state(c, c->arg);
}

static void end_call(struct sip_call *c)
{
	struct cp_loop *loop = loop_of(c);

	cp_timer_stop(loop, &c->timer);
	cp_timer_stop(loop, &c->retx);
	cp_timer_stop(loop, &c->glare);
	cp_timer_stop(loop, &c->rel_timer);
	cp_timer_stop(loop, &c->se_timer);
	if (c->answer_ms && !c->st.duration_ms)
		c->st.duration_ms = cm_now_ms() - c->answer_ms;
	if (c->incoming) {
		/* the UA's: freed once the owner has heard */
		sip_call_table_del(&c->ua->calls, c);
		c->doomed = true;
	}
	set_state(c, SIP_CALL_ENDED);
}

static uint64_t since_invite(const struct sip_call *c)
{
	uint64_t d = cm_now_ms() - c->invite_ms;
	return d ? d : 1;
}

/* ---- building requests ------------------------------------------------------------------------------------ */

/* n lowercase hex digits of v at out, NUL-terminated (identifiers are made for every call: no printf). */
static char *put_hex(char *out, uint64_t v, unsigned n)
{
	for (unsigned i = n; i-- > 0; v >>= 4)
		out[i] = "0123456789abcdef"[v & 15];
	out[n] = '\0';
	return out + n;
}

static void new_branch(struct sip_call *c, char *out)
{
	memcpy(out, SIP_MAGIC_COOKIE, sizeof(SIP_MAGIC_COOKIE) - 1);
	put_hex(out + sizeof(SIP_MAGIC_COOKIE) - 1, sip_ua_random(c->ua), 16);
}

static void contact(struct sip_call *c, struct sip_builder *b)
{
	sip_build_lit(b, "Contact: <");
	sip_build_contact_uri(b, c->tp, c->contact_user);
	sip_build_lit(b, ">\r\n");
}

/* Whether the strings of the call that go into its requests leave them parsable (no CR or LF; URIs we put in a
 * request line without white space): then its transactions take the key from us (sip_tp_request_built)
 * instead of parsing each request again.  Each string is checked when the call takes it (configuration at
 * sip_call_new, the peer's at the dialog, a challenge); one odd string (configuration, or a peer's folded
 * header) keeps the call on the parsing path, with its errors, from then on. */
static void check_config_strings(struct sip_call *c)
{
	c->built_ok = sip_hdr_safe(c->local_uri) && sip_ruri_safe(c->remote_uri) && sip_hdr_safe(c->contact_user) &&
		      sip_hdr_safe(c->route) && sip_hdr_safe(c->auth_user);
}

static void check_dialog_strings(struct sip_call *c)
{
	c->built_ok = c->built_ok && sip_hdr_safe(c->call_id) && sip_hdr_safe(c->remote_tag) &&
		      sip_ruri_safe(c->remote_target) && sip_hdr_safe(c->route_set);
}

static void check_challenge_strings(struct sip_call *c)
{
	c->built_ok = c->built_ok && sip_hdr_safe(c->chal->realm) && sip_hdr_safe(c->chal->nonce) &&
		      sip_hdr_safe(c->chal->opaque);
}

/* Starts the client transaction of a request built in buf with this branch and method. */
static struct sip_txn *request(struct sip_call *c, const char *buf, int n, const struct sockaddr_storage *dst,
			       const char *branch, enum sip_method method, int *err)
{
	if (!c->built_ok)
		return sip_tp_request(c->tp, buf, (size_t)n, dst, &c->h, err);
	return sip_tp_request_built(c->tp, buf, (size_t)n, dst, (struct sip_str){ branch, strlen(branch) }, method,
				    &c->h, err);
}

/* The headers of every request in this dialog, either role (§12.2.1.1): From is us, To the peer. */
static void dialog_headers(struct sip_call *c, struct sip_builder *b, const char *branch, const char *route,
			   bool remote_tag, uint32_t cseq, const char *method)
{
	sip_build_lit(b, "Via: ");
	sip_build_via(b, c->tp, branch);
	sip_build_lit(b, "\r\nMax-Forwards: 70\r\n");
	if (route && route[0]) {
		sip_build_lit(b, "Route: ");
		sip_build_cstr(b, route);
		sip_build_lit(b, "\r\n");
	}
	sip_build_lit(b, "From: <");
	sip_build_cstr(b, c->local_uri);
	sip_build_lit(b, ">;tag=");
	sip_build_cstr(b, c->local_tag);
	sip_build_lit(b, "\r\nTo: <");
	sip_build_cstr(b, c->remote_uri);
	if (remote_tag && c->remote_tag[0]) {
		sip_build_lit(b, ">;tag=");
		sip_build_cstr(b, c->remote_tag);
		sip_build_lit(b, "\r\n");
	} else {
		sip_build_lit(b, ">\r\n");
	}
	sip_build_lit(b, "Call-ID: ");
	sip_build_cstr(b, c->call_id);
	sip_build_lit(b, "\r\nCSeq: ");
	sip_build_uint(b, cseq);
	sip_build_lit(b, " ");
	sip_build_cstr(b, method);
	sip_build_lit(b, "\r\n");
}

static int send_invite(struct sip_call *c)
{
	char buf[MSG_MAX], sdp[SDP_MAX], auth[1024];
	struct sip_builder b;
	int n, sl, err;

	sl = sdp_build_offer(&c->media, sdp, sizeof(sdp));
	if (sl < 0)
		return sl;
	new_branch(c, c->invite_branch);
	c->invite_cseq = ++c->cseq;
	sip_build_request(&b, buf, sizeof(buf), "INVITE", (struct sip_str){ c->remote_uri, strlen(c->remote_uri) });
	dialog_headers(c, &b, c->invite_branch, c->route, false, c->invite_cseq, "INVITE");
	contact(c, &b);
	sip_build_lit(&b, "Allow: " SIP_ALLOW "\r\n");
	if (c->rel100 == SIP_100REL_REQUIRED)
		sip_build_hdrf(&b, "Require", "100rel");
	if (c->rel100 != SIP_100REL_OFF)
		sip_build_hdrf(&b, "Supported", "100rel");
	if (c->se_req_s) { /* RFC 4028 §7.1 */
		sip_build_hdrf(&b, "Supported", "timer");
		sip_build_hdrf(&b, "Session-Expires", "%u", c->se_req_s);
		sip_build_hdrf(&b, "Min-SE", "%u", c->min_se_s);
	}
	c->rseq_seen = false; /* a new INVITE: new early dialogs */
	if (c->chal) {
		char cnonce[33];
		if (sip_digest_cnonce(cnonce, sizeof(cnonce)) < 0)
			return -EIO;
		n = sip_digest_authorization(c->chal, c->auth_user, c->password, "INVITE", c->remote_uri, cnonce,
					     ++c->nc, auth, sizeof(auth));
		if (n < 0)
			return n;
		sip_build_hdrf(&b, c->chal->proxy ? "Proxy-Authorization" : "Authorization", "%s", auth);
	}
	sip_build_lit(&b, "User-Agent: callmeter/" CM_VERSION "\r\n");
	n = sip_build_finish(&b, "application/sdp", (struct sip_str){ sdp, (size_t)sl });
	if (n < 0)
		return n;
	c->invite_txn = request(c, buf, n, &c->dst, c->invite_branch, SIP_INVITE, &err);
	return c->invite_txn ? 0 : err;
}

/* CANCEL (§9.1): the INVITE's Request-URI, top Via (same branch), Route, From, To, Call-ID and CSeq number. */
static int send_cancel(struct sip_call *c)
{
	char buf[4096];
	struct sip_builder b;
	int n, err;

	sip_build_request(&b, buf, sizeof(buf), "CANCEL", (struct sip_str){ c->remote_uri, strlen(c->remote_uri) });
	dialog_headers(c, &b, c->invite_branch, c->route, false, c->invite_cseq, "CANCEL");
	n = sip_build_finish(&b, NULL, (struct sip_str){ "", 0 });
	if (n < 0)
		return n;
	c->cancel_txn = request(c, buf, n, &c->dst, c->invite_branch, SIP_CANCEL, &err);
	c->cancelled = c->cancel_txn != NULL;
	return c->cancel_txn ? 0 : err;
}

/* A request inside the dialog to the remote target through the route set (loose routing, §12.2.1.1); an ACK
 * for a 2xx goes straight to the transport and is kept for retransmitted 2xx. */
static int in_dialog_hdrs(struct sip_call *c, const char *method, uint32_t cseq, const char *extra,
			  const char *ctype, const char *body, struct sip_txn **txn)
{
	char buf[4096], branch[BRANCH_MAX];
	struct sip_builder b;
	int n, err;

	new_branch(c, branch);
	sip_build_request(&b, buf, sizeof(buf), method,
			  (struct sip_str){ c->remote_target, strlen(c->remote_target) });
	dialog_headers(c, &b, branch, c->route_set, true, cseq, method);
	if (strcmp(method, "INVITE") == 0) { /* a re-INVITE: Contact is mandatory (§8.1.1.8) */
		contact(c, &b);
		sip_build_lit(&b, "Allow: " SIP_ALLOW "\r\n");
	}
	if (extra)
		sip_build_raw(&b, extra);
	n = sip_build_finish(&b, ctype, (struct sip_str){ body ? body : "", body ? strlen(body) : 0 });
	if (n < 0)
		return n;
	if (!txn) {
		free(c->ack);
		c->ack = malloc((size_t)n);
		if (c->ack) {
			memcpy(c->ack, buf, (size_t)n);
			c->ack_len = (size_t)n;
			c->ack_cseq = cseq;
		}
		return sip_tp_send(c->tp, &c->next_hop, buf, (size_t)n);
	}
	*txn = request(c, buf, n, &c->next_hop, branch, sip_method_from_str((struct sip_str){ method, strlen(method) }),
		       &err);
	return *txn ? 0 : err;
}

static int in_dialog(struct sip_call *c, const char *method, uint32_t cseq, const char *ctype, const char *body,
		     struct sip_txn **txn)
{
	return in_dialog_hdrs(c, method, cseq, NULL, ctype, body, txn);
}

static void send_bye(struct sip_call *c)
{
	cp_timer_stop(loop_of(c), &c->timer);
	set_state(c, SIP_CALL_ENDING);
	if (c->st.state != SIP_CALL_ENDING) /* the owner hung up from its callback */
		return;
	if (in_dialog(c, "BYE", ++c->cseq, NULL, NULL, &c->other_txn) < 0) {
		c->st.bye_status = 503;
		end_call(c);
	}
}

/* ---- session timer (RFC 4028) -----------------------------------------------------------------------------
 * The refresher re-sends the session at half its interval: an UPDATE without a body when the peer allows UPDATE,
 * else a re-INVITE with the unchanged offer.  The other side ends the call with BYE when no refresh came by the
 * interval less min(32 s, a third of it) (§10).  Any successful re-INVITE or UPDATE either way refreshes it.  In
 * a Session-Expires, "refresher=uac" names the side that sent that request, "uas" the side that answered it. */

enum se_who { SE_ANY, SE_UAC, SE_UAS };

/* The Session-Expires (or x) header of m: its interval and refresher; false when absent or malformed. */
static bool se_parse(const struct sip_msg *m, uint32_t *delta, enum se_who *who)
{
	const struct sip_hdr *h = sip_msg_hdr_by_name(m, "Session-Expires");
	struct sip_str num, params = { "", 0 }, r;
	const char *semi, *why;

	if (!h)
		h = sip_msg_hdr_by_name(m, "x");
	if (!h)
		return false;
	semi = memchr(h->value.p, ';', h->value.len);
	num = (struct sip_str){ h->value.p, semi ? (size_t)(semi - h->value.p) : h->value.len };
	while (num.len && (num.p[num.len - 1] == ' ' || num.p[num.len - 1] == '\t'))
		num.len--;
	if (semi)
		params = (struct sip_str){ semi + 1, h->value.len - (size_t)(semi + 1 - h->value.p) };
	if (sip_parse_uint(num, SIP_MAX_EXPIRES, delta, &why) < 0 || *delta == 0)
		return false;
	*who = SE_ANY;
	if (sip_param_get(params, "refresher", &r) > 0)
		*who = sip_str_caseeq(r, "uac") ? SE_UAC : sip_str_caseeq(r, "uas") ? SE_UAS : SE_ANY;
	return true;
}

/* A Min-SE header's interval, 0 when absent or malformed. */
static uint32_t min_se_of(const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_by_name(m, "Min-SE");
	const char *semi, *why;
	uint32_t v;

	if (!h)
		return 0;
	semi = memchr(h->value.p, ';', h->value.len);
	if (sip_parse_uint((struct sip_str){ h->value.p, semi ? (size_t)(semi - h->value.p) : h->value.len },
			   SIP_MAX_EXPIRES, &v, &why) < 0)
		return 0;
	return v;
}

/* The session was set up or refreshed now: our next refresh at half the interval, or the peer's deadline. */
static void se_arm(struct sip_call *c)
{
	uint64_t s = c->se_s;

	c->st.session_expires_s = c->se_s;
	c->st.session_refresher = c->se_refresh;
	if (!s || c->st.state != SIP_CALL_CONFIRMED) {
		cp_timer_stop(loop_of(c), &c->se_timer);
		return;
	}
	cp_timer_start(loop_of(c), &c->se_timer, c->se_refresh ? s * 500 : (s - (s / 3 < 32 ? s / 3 : 32)) * 1000);
}

/* A 2xx to our INVITE, re-INVITE or UPDATE: the session it settles (none without a Session-Expires). */
static void se_from_response(struct sip_call *c, const struct sip_msg *m)
{
	enum se_who who;
	uint32_t d;

	if (!se_parse(m, &d, &who)) {
		c->se_s = 0;
	} else {
		/* below our Min-SE (which the request said): a peer's mistake, not a reason to refresh ever faster */
		c->se_s = d < c->min_se_s ? c->min_se_s : d;
		c->se_refresh = who != SE_UAS; /* we sent the request */
	}
	c->peer_update = c->peer_update || sip_msg_has_option(m, SIP_HDR_ALLOW, "UPDATE");
	se_arm(c);
}

/* A request of the peer that sets up or refreshes the session (INVITE, re-INVITE, UPDATE): 422 when it asks for
 * less than our Min-SE, else 0 (se_hdrs() then gives what our 2xx says).  A refresh that does not carry
 * Session-Expires keeps the session and its refresher (§9: the UAS may insert one). */
static unsigned se_from_request(struct sip_call *c, const struct sip_msg *req)
{
	bool timer = sip_msg_has_option(req, SIP_HDR_SUPPORTED, "timer") ||
		     sip_msg_has_option(req, SIP_HDR_REQUIRE, "timer");
	enum se_who who;
	uint32_t d;

	c->peer_update = c->peer_update || sip_msg_has_option(req, SIP_HDR_ALLOW, "UPDATE");
	if (se_parse(req, &d, &who)) {
		if (d < c->min_se_s)
			return 422;
		c->se_s = d;
		/* §9: the request's choice; else the peer refreshes if it can (it supports timer), else we do */
		if (who == SE_ANY)
			who = timer ? SE_UAC : SE_UAS;
	} else if (c->se_s) {
		if (!c->se_refresh && !timer)
			c->se_refresh = true; /* it cannot be asked to refresh: we keep the session up */
		who = c->se_refresh ? SE_UAS : SE_UAC;
	} else {
		return 0;
	}
	c->se_refresh = who == SE_UAS; /* we answer the request */
	return 0;
}

/* What a 2xx of ours to a request of the peer says about the session ("" without one): the refresher in that
 * transaction's terms, and Require: timer when the peer is to refresh (§9). */
static const char *se_hdrs(const struct sip_call *c, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (c->se_s)
		snprintf(buf, cap, "Session-Expires: %u;refresher=%s\r\n%s", c->se_s, c->se_refresh ? "uas" : "uac",
			 c->se_refresh ? "" : "Require: timer\r\n");
	return buf;
}

/* A 422 Session Interval Too Small with our Min-SE. */
static void se_too_small(struct sip_call *c, struct sip_txn *st, const char *tag)
{
	char extra[48];

	c->st.session_422++;
	snprintf(extra, sizeof(extra), "Min-SE: %u\r\n", c->min_se_s);
	sip_txn_respond_simple(st, 422, tag, extra);
}

static int send_reinvite(struct sip_call *c, bool refresh);

/* §14.1 after a 491: the Call-ID's owner (who placed the call) waits 2.1-4 s, the other 0-2 s, in 10 ms units, so
 * that the two offers do not cross again. */
static uint32_t glare_wait_ms(struct sip_call *c)
{
	uint64_t r = sip_ua_random(c->ua);

	return c->incoming ? (uint32_t)(r % 201) * 10 : (uint32_t)(210 + r % 191) * 10;
}

/* Our refresh: an UPDATE, or a re-INVITE when the peer does not allow UPDATE; a moment later when another
 * offer is in progress (that one refreshes the session too, if it succeeds). */
static void se_refresh_now(struct sip_call *c)
{
	char extra[96];

	if (c->update_txn || c->reinvite_txn || c->invite_txn || c->ok || cp_timer_armed(&c->glare)) {
		cp_timer_start(loop_of(c), &c->se_timer, 1000);
		return;
	}
	if (!c->peer_update) {
		c->se_refreshing = true;
		c->dir_before = c->media.dir;
		if (send_reinvite(c, true) == 0)
			return;
		c->se_refreshing = false;
	} else {
		snprintf(extra, sizeof(extra), "Session-Expires: %u;refresher=uac\r\nSupported: timer\r\n", c->se_s);
		if (in_dialog_hdrs(c, "UPDATE", ++c->cseq, extra, NULL, NULL, &c->update_txn) == 0)
			return;
	}
	cp_timer_start(loop_of(c), &c->se_timer, 1000);
}

static void se_expire(struct cp_loop *loop, void *arg)
{
	struct sip_call *c = arg;

	(void)loop;
	hold(c);
	if (c->st.state == SIP_CALL_CONFIRMED) {
		if (c->se_refresh) {
			se_refresh_now(c);
		} else {
			/* §10: the peer did not refresh: the session is over */
			c->st.session_expired = true;
			send_bye(c);
		}
		sip_tp_kick(c->tp);
	}
	release(c);
}

/* The final response to our refresh (UPDATE, or re-INVITE with se_refreshing). */
static void se_refresh_done(struct sip_call *c, const struct sip_msg *m, unsigned status)
{
	if (c->st.state != SIP_CALL_CONFIRMED)
		return;
	if (status >= 200 && status < 300) {
		c->st.session_refreshes++;
		se_from_response(c, m);
	} else if (status == 481 || status == 408) {
		send_bye(c); /* §12.2.1.2: the dialog, or the peer, is gone */
	} else if (status == 422 && m && min_se_of(m) > c->se_s) {
		c->se_s = min_se_of(m); /* §7.4: again, with the interval it asks for */
		c->st.session_422++;
		se_refresh_now(c);
	} else if ((status == 405 || status == 501) && c->peer_update) {
		c->peer_update = false; /* it said it allows UPDATE and then did not: re-INVITE instead */
		se_refresh_now(c);
	} else if (status == 491) {
		/* §14.1: the peer's offer crossed ours; an offer of the owner's waiting behind the refresh goes after
		 * the same wait (it refreshes the session too), the refresh itself is tried again then */
		uint32_t wait_ms = glare_wait_ms(c);

		c->st.glare++;
		if (cp_timer_armed(&c->glare))
			cp_timer_start(loop_of(c), &c->glare, wait_ms);
		cp_timer_start(loop_of(c), &c->se_timer, wait_ms);
	} else {
		/* a refusal: try again before the session runs out */
		cp_timer_start(loop_of(c), &c->se_timer, (uint64_t)c->se_s * 125);
	}
}

/* A numeric host:port from a URI, if it has one. */
static bool uri_addr(struct sip_str uri_str, struct sockaddr_storage *out)
{
	struct sip_uri u;
	char host[64];
	const char *why;

	if (sip_parse_uri(uri_str, &u, &why) < 0 || u.host.len < 1 || u.host.len >= sizeof(host))
		return false;
	if (u.host.p[0] == '[' && u.host.len > 2) {
		memcpy(host, u.host.p + 1, u.host.len - 2);
		host[u.host.len - 2] = '\0';
	} else {
		memcpy(host, u.host.p, u.host.len);
		host[u.host.len] = '\0';
	}
	return sip_addr_from(out, host, u.port ? u.port : 5060) == 0;
}

static void copy_str(char *dst, size_t len, struct sip_str s)
{
	size_t n = s.len < len - 1 ? s.len : len - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* The dialog's route set from Record-Route: reversed for the UAC (§12.1.2), as is for the UAS (§12.1.1); the
 * next hop is the first route's address, else the remote target's, else where the call went or came from. */
static int route_set(struct sip_call *c, const struct sip_msg *m, bool reverse)
{
	struct sip_str routes[SIP_CALL_ROUTES_MAX];
	unsigned nr = 0;
	char buf[SIP_CALL_ROUTE_MAX];
	size_t len = 0;
	struct sip_addr a;
	const char *why;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_RECORD_ROUTE); h; h = sip_msg_next_hdr(m, h)) {
		struct sip_str rest = h->value, elem;
		while (nr < SIP_CALL_ROUTES_MAX && sip_next_value(&rest, &elem) > 0)
			routes[nr++] = elem;
	}
	free(c->route_set);
	c->route_set = NULL;
	c->next_hop = c->dst;
	if (nr == 0) {
		if (c->route[0]) {
			/* no Record-Route: keep going through our outbound proxy */
			c->route_set = strdup(c->route);
			return c->route_set ? 0 : -ENOMEM;
		}
		uri_addr((struct sip_str){ c->remote_target, strlen(c->remote_target) }, &c->next_hop);
		return 0;
	}
	for (unsigned i = 0; i < nr; i++) {
		struct sip_str r = routes[reverse ? nr - 1 - i : i];
		int w = snprintf(buf + len, sizeof(buf) - len, "%s%.*s", len ? ", " : "", (int)r.len, r.p);
		if (w < 0 || (size_t)w >= sizeof(buf) - len)
			return -E2BIG;
		len += (size_t)w;
	}
	c->route_set = strdup(buf);
	if (!c->route_set)
		return -ENOMEM;
	if (sip_parse_addr(routes[reverse ? nr - 1 : 0], &a, &why) == 0)
		uri_addr(a.uri_str, &c->next_hop);
	return 0;
}

/* ---- placed calls: responses ------------------------------------------------------------------------------ */

static int make_dialog(struct sip_call *c, const struct sip_msg *m)
{
	struct sip_addr a;
	const char *why;
	int rc;

	if (sip_parse_addr(sip_msg_hdr(m, SIP_HDR_TO)->value, &a, &why) < 0 || a.tag.len == 0 ||
	    a.tag.len >= sizeof(c->remote_tag))
		return -EINVAL;
	copy_str(c->remote_tag, sizeof(c->remote_tag), a.tag);
	/* the remote target is the 2xx's Contact; without one, the peer's AOR (a broken peer still gets its ACK) */
	if (sip_msg_hdr(m, SIP_HDR_CONTACT) && sip_parse_addr(sip_msg_hdr(m, SIP_HDR_CONTACT)->value, &a, &why) == 0 &&
	    a.uri_str.len < sizeof(c->remote_target))
		copy_str(c->remote_target, sizeof(c->remote_target), a.uri_str);
	else
		cm_strlcpy(c->remote_target, c->remote_uri, sizeof(c->remote_target));
	rc = route_set(c, m, true);
	check_dialog_strings(c);
	return rc;
}

/* Keeps a copy of the peer's SDP and parses it into the scratch session; strings then point into the copy. */
static int take_peer_sdp(struct sip_call *c, struct sip_str body)
{
	char *copy;

	if (body.len == 0)
		return -EINVAL;
	copy = malloc(body.len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, body.p, body.len);
	if (sdp_parse(&sdp_scratch, copy, body.len) < 0) {
		free(copy);
		return -EINVAL;
	}
	free(c->peer_sdp);
	c->peer_sdp = copy;
	return 0;
}

static bool owner_accepts(struct sip_call *c, const struct sdp_negotiated *m)
{
	return !c->cb || !c->cb->on_media || c->cb->on_media(c, c->arg, m);
}

static void on_2xx(struct sip_call *c, const struct sip_msg *m)
{
	enum sdp_neg neg = SDP_NEG_NO_AUDIO;
	uint64_t now = cm_now_ms(); /* the answer's time: setup and, once ACKed, the call's start */
	bool media_ok;

	c->st.setup_ms = now - c->invite_ms ? now - c->invite_ms : 1;
	cp_timer_stop(loop_of(c), &c->timer);
	if (make_dialog(c, m) < 0) {
		c->st.result = SIP_RESULT_FAILED;
		end_call(c);
		return;
	}
	if (c->early_answered) {
		/* the answer came in a reliable 1xx: an SDP in the 2xx can only repeat it (RFC 3262 §5) */
		media_ok = c->st.negotiation == SDP_NEG_OK;
	} else {
		media_ok = take_peer_sdp(c, m->body) == 0 &&
			   sdp_accept_answer(&c->media, &sdp_scratch, &c->st.media, &neg) == 0;
		c->st.negotiation = media_ok ? SDP_NEG_OK : neg;
	}
	/* ACK the 2xx end to end (§13.2.2.4), even when the call cannot go on: then BYE at once */
	in_dialog(c, "ACK", c->invite_cseq, NULL, NULL, NULL);
	c->answer_ms = now;
	if (c->cancel_wanted) {
		/* our CANCEL crossed the 2xx */
		c->st.result = SIP_RESULT_CANCELLED;
		send_bye(c);
		return;
	}
	if (media_ok && !c->early_answered && !owner_accepts(c, &c->st.media)) {
		media_ok = false;
		c->st.negotiation = SDP_NEG_BAD_ANSWER;
	}
	if (!media_ok) {
		c->st.result = SIP_RESULT_NEGOTIATION_FAILED;
		send_bye(c);
		return;
	}
	c->st.result = SIP_RESULT_ANSWERED;
	set_state(c, SIP_CALL_CONFIRMED);
	if (c->st.state == SIP_CALL_CONFIRMED && c->duration_ms)
		cp_timer_start(loop_of(c), &c->timer, c->duration_ms);
	if (c->st.state == SIP_CALL_CONFIRMED && c->se_req_s) /* a session timer only if we asked for one */
		se_from_response(c, m);
}

static bool retry_with_credentials(struct sip_call *c, const struct sip_msg *m)
{
	struct sip_challenge ch;
	const char *why;

	if (!c->password[0] || c->cancel_wanted || c->auth_tries >= SIP_CALL_MAX_AUTH_TRIES)
		return false;
	c->st.challenges++;
	if (sip_digest_challenge_from_msg(m, &ch, &why) < 0)
		return false;
	/* a second challenge in a row means wrong credentials, unless it only says the nonce went stale */
	if (c->auth_tries++ > 0 && !ch.stale)
		return false;
	if (!c->chal) {
		c->chal = malloc(sizeof(*c->chal));
		if (!c->chal)
			return false;
		c->nc = 0;
	} else if (strcmp(ch.nonce, c->chal->nonce) != 0) {
		c->nc = 0; /* nc counts requests per nonce */
	}
	*c->chal = ch;
	check_challenge_strings(c);
	c->got_provisional = false;
	return send_invite(c) == 0;
}

/* An SDP answer in a 1xx — reliable (RFC 3262 §5), or the first session description in an unreliable one (RFC
 * 3261 §13.2.1) — settles the offer: the call's media from now on, whatever the 2xx carries. */
static void early_answer(struct sip_call *c, const struct sip_msg *m)
{
	enum sdp_neg neg = SDP_NEG_NO_AUDIO;
	bool ok = take_peer_sdp(c, m->body) == 0 && sdp_accept_answer(&c->media, &sdp_scratch, &c->st.media, &neg) == 0;

	c->early_answered = true;
	c->st.negotiation = ok ? SDP_NEG_OK : neg;
	if (ok && !owner_accepts(c, &c->st.media)) {
		ok = false;
		c->st.negotiation = SDP_NEG_BAD_ANSWER;
	}
	c->st.early_media = ok;
	if (ok && c->cb && c->cb->on_early_media)
		c->cb->on_early_media(c, c->arg);
}

/* RFC 3262 §4: a reliable 1xx (Require: 100rel, RSeq) is processed once and in order within its early dialog
 * (a retransmission, or an RSeq that skips one, is discarded: false) and PRACKed with RAck there. */
static bool reliable_provisional(struct sip_call *c, const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_by_name(m, "RSeq");
	struct sip_addr to;
	uint32_t rseq;
	const char *why;
	char rack[64];

	if (!h || sip_parse_uint(h->value, SIP_MAX_RSEQ, &rseq, &why) < 0 || rseq == 0 ||
	    sip_parse_addr(sip_msg_hdr(m, SIP_HDR_TO)->value, &to, &why) < 0 || to.tag.len == 0)
		return false;
	if (c->rseq_seen && streq(c->remote_tag, to.tag) && rseq != c->rseq_last + 1)
		return false;
	if (make_dialog(c, m) < 0) /* the early dialog: remote tag, target, route set */
		return false;
	c->rseq_seen = true;
	c->rseq_last = rseq;
	c->st.reliable_provisionals++;
	if (m->body.len && !c->early_answered)
		early_answer(c, m);
	if (c->prack_txn) { /* the previous PRACK is still out: its answer no longer matters */
		sip_txn_set_user(c->prack_txn, NULL);
		c->prack_txn = NULL;
	}
	snprintf(rack, sizeof(rack), "RAck: %u %u INVITE\r\n", rseq, c->invite_cseq);
	in_dialog_hdrs(c, "PRACK", ++c->cseq, rack, NULL, NULL, &c->prack_txn);
	return true;
}

/* RFC 3263 §4.3: the destination did not answer, its connection failed or it answered 503: the INVITE goes to
 * the next one, as a new transaction.  false when none is left (or the call is being cancelled). */
static bool invite_failover(struct sip_call *c)
{
	while (c->next_fallback < c->nfallback && !c->cancel_wanted) {
		c->dst = c->next_hop = c->fallback[c->next_fallback++];
		c->st.failovers++;
		c->got_provisional = false;
		if (send_invite(c) == 0)
			return true;
	}
	return false;
}

static void invite_response(struct sip_call *c, const struct sip_msg *m)
{
	if (m->status < 200) {
		if (m->status > 100 && c->rel100 != SIP_100REL_OFF && sip_msg_has_option(m, SIP_HDR_REQUIRE, "100rel") &&
		    !reliable_provisional(c, m))
			return;
		if ((m->status == 180 || m->status == 183) &&
		    (!c->st.pdd_ms || (m->status == 180 && !c->st.time_to_ringing_ms))) {
			uint64_t since = since_invite(c);
			if (!c->st.pdd_ms)
				c->st.pdd_ms = since;
			if (m->status == 180 && !c->st.time_to_ringing_ms)
				c->st.time_to_ringing_ms = since;
		}
		/* RFC 3261 §13.2.1: the first session description received is the answer, in an unreliable 1xx too
		 * (the 2xx must repeat it; what it carries then is ignored); early media may flow from it */
		if (m->status > 100 && m->body.len && !c->early_answered && !c->cancel_wanted &&
		    !sip_msg_has_option(m, SIP_HDR_REQUIRE, "100rel"))
			early_answer(c, m);
		c->got_provisional = true;
		if (c->cancel_wanted && !c->cancelled) {
			send_cancel(c); /* §9.1: CANCEL only after a provisional response */
			return;
		}
		if (m->status > 100 && c->st.state == SIP_CALL_CALLING)
			set_state(c, SIP_CALL_RINGING);
		return;
	}
	c->st.final_status = m->status;
	copy_str(c->st.reason, sizeof(c->st.reason), m->reason);
	if (m->status < 300) {
		on_2xx(c, m);
		return;
	}
	if ((m->status == 401 || m->status == 407) && retry_with_credentials(c, m))
		return;
	if (m->status == 503 && invite_failover(c))
		return;
	if (m->status == 422 && c->se_req_s && c->tries_422 < 2 && min_se_of(m) > c->se_req_s && !c->cancel_wanted) {
		/* RFC 4028 §7.4: again, asking for the interval the peer wants at least */
		c->se_req_s = c->min_se_s = min_se_of(m);
		c->tries_422++;
		c->st.session_422++;
		c->got_provisional = false;
		if (send_invite(c) == 0)
			return;
	}
	c->st.result = sip_call_result_from_status(m->status);
	end_call(c);
}

static void info_done(struct sip_call *c, unsigned status);
static void reinvite_response(struct sip_call *c, const struct sip_msg *m);
static void reinvite_done(struct sip_call *c, unsigned status, bool applied);
static void refresh_answer(struct sip_call *c, struct sip_str body);

static void on_response(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *m)
{
	struct sip_call *c = (struct sip_call *)h;

	hold(c);
	if (m->status >= 200)
		sip_txn_set_user(ct, NULL); /* done with it: only in-flight transactions point back here */
	if (ct == c->invite_txn && !c->incoming) {
		if (m->status >= 200)
			c->invite_txn = NULL;
		if (c->st.state != SIP_CALL_ENDED)
			invite_response(c, m);
	} else if (ct == c->info_txn) {
		if (m->status >= 200) {
			c->info_txn = NULL;
			info_done(c, m->status);
		}
	} else if (ct == c->reinvite_txn) {
		if (m->status >= 200) {
			c->reinvite_txn = NULL;
			reinvite_response(c, m);
		}
	} else if (ct == c->update_txn) {
		if (m->status >= 200) {
			c->update_txn = NULL;
			se_refresh_done(c, m, m->status);
		}
	} else if (ct == c->cancel_txn) {
		if (m->status >= 200)
			c->cancel_txn = NULL; /* its 200 needs nothing: the INVITE gets its 487 */
	} else if (ct == c->prack_txn) {
		if (m->status >= 200)
			c->prack_txn = NULL;
		if (m->status >= 200 && m->status < 300)
			c->st.pracks++;
	} else if (ct == c->other_txn && m->status >= 200) {
		c->other_txn = NULL;
		if (c->st.state == SIP_CALL_ENDING) {
			/* the BYE's final response */
			c->st.bye_status = m->status;
			end_call(c);
		}
	}
	release(c);
}

static void on_timeout(struct sip_client_handler *h, struct sip_txn *ct)
{
	struct sip_call *c = (struct sip_call *)h;

	/* the transaction is over for us (it is destroyed next): it must not call back into a call that this
	 * timeout ends and its owner frees */
	sip_txn_set_user(ct, NULL);
	hold(c);
	if (ct == c->invite_txn) {
		c->invite_txn = NULL;
		if (c->st.state != SIP_CALL_ENDED && invite_failover(c)) {
			release(c);
			return;
		}
		if (sip_txn_last_status(ct) == 503) { /* the transport failed (connection, ICMP unreachable) */
			c->st.final_status = 503;
			snprintf(c->st.reason, sizeof(c->st.reason), "Service Unavailable");
			c->st.result = SIP_RESULT_UNAVAILABLE;
		} else {
			c->st.final_status = 408;
			snprintf(c->st.reason, sizeof(c->st.reason), "Request Timeout");
			c->st.result = SIP_RESULT_TIMEOUT;
		}
		if (c->st.state != SIP_CALL_ENDED)
			end_call(c);
	} else if (ct == c->info_txn) {
		c->info_txn = NULL;
		info_done(c, 408);
	} else if (ct == c->reinvite_txn) {
		c->reinvite_txn = NULL;
		c->media.dir = c->dir_before;
		if (c->se_refreshing) {
			c->se_refreshing = false;
			se_refresh_done(c, NULL, 408);
		} else if (c->st.state == SIP_CALL_CONFIRMED) {
			reinvite_done(c, 408, false);
		}
	} else if (ct == c->update_txn) {
		c->update_txn = NULL;
		se_refresh_done(c, NULL, 408);
	} else if (ct == c->cancel_txn) {
		c->cancel_txn = NULL;
	} else if (ct == c->prack_txn) {
		c->prack_txn = NULL;
	} else if (ct == c->other_txn) {
		c->other_txn = NULL;
		if (c->st.state == SIP_CALL_ENDING) {
			c->st.bye_status = sip_txn_last_status(ct) == 503 ? 503 : 408; /* transport failed, or no answer */
			end_call(c);
		}
	}
	release(c);
}

static void on_terminated(struct sip_client_handler *h, struct sip_txn *ct)
{
	struct sip_call *c = (struct sip_call *)h;

	if (c->invite_txn == ct)
		c->invite_txn = NULL;
	if (c->other_txn == ct)
		c->other_txn = NULL;
	if (c->cancel_txn == ct)
		c->cancel_txn = NULL;
	if (c->info_txn == ct)
		c->info_txn = NULL;
	if (c->reinvite_txn == ct)
		c->reinvite_txn = NULL;
	if (c->prack_txn == ct)
		c->prack_txn = NULL;
	if (c->update_txn == ct)
		c->update_txn = NULL;
}

void sip_call_stray_2xx(struct sip_call *c, const struct sip_msg *resp)
{
	struct sip_cseq cs;
	const char *why;

	if (c->incoming || !c->ack || sip_parse_cseq(sip_msg_hdr(resp, SIP_HDR_CSEQ)->value, &cs, &why) < 0 ||
	    cs.method_id != SIP_INVITE || cs.seq != c->ack_cseq)
		return;
	sip_tp_send(c->tp, &c->next_hop, c->ack, c->ack_len);
	c->st.ack_retransmissions++;
}

/* ---- placed calls: timers and the API --------------------------------------------------------------------- */

static void on_timer(struct cp_loop *loop, void *arg)
{
	struct sip_call *c = arg;

	(void)loop;
	hold(c);
	if (c->st.state == SIP_CALL_CONFIRMED || c->st.state == SIP_CALL_CALLING || c->st.state == SIP_CALL_RINGING)
		sip_call_hangup(c); /* call duration over, or no answer in time */
	release(c);
}

static void ok_retransmit(struct cp_loop *loop, void *arg);
static void glare_retry(struct cp_loop *loop, void *arg);
static void rel_retransmit(struct cp_loop *loop, void *arg);

static int copy(char *dst, const char *src)
{
	return cm_strlcpy(dst, src ? src : "", SIP_CALL_FIELD_MAX) < 0 ? -ENAMETOOLONG : 0;
}

static struct sip_call *call_alloc(struct sip_ua *ua, const struct sip_call_handler *h, void *arg)
{
	struct sip_call *c = ua->spare;

	if (c) {
		ua->spare = c->hnext;
		ua->nspare--;
		memset(c, 0, sizeof(*c));
	} else if (!(c = calloc(1, sizeof(*c)))) {
		return NULL;
	}
	c->h = (struct sip_client_handler){ .on_response = on_response, .on_timeout = on_timeout,
					    .on_terminated = on_terminated };
	c->ua = ua;
	c->tp = ua->tp;
	c->cb = h;
	c->arg = arg;
	put_hex(c->local_tag, sip_ua_random(ua), 16);
	c->cseq = (uint32_t)(sip_ua_random(ua) & 0xfff) + 1; /* any start below 2^31 (§8.1.1.5) */
	cp_timer_init(&c->timer, on_timer, c);
	cp_timer_init(&c->retx, ok_retransmit, c);
	cp_timer_init(&c->glare, glare_retry, c);
	cp_timer_init(&c->rel_timer, rel_retransmit, c);
	cp_timer_init(&c->se_timer, se_expire, c);
	c->min_se_s = SE_MIN_S;
	ua->st.live++;
	return c;
}

struct sip_call *sip_call_new(struct sip_ua *ua, const struct sip_call_config *cfg, const struct sip_call_handler *h,
			      void *arg)
{
	struct sip_builder b;
	struct sip_call *c;

	if (!ua || !ua->tp || !cfg->from_user || !cfg->from_domain || !cfg->to_uri)
		return NULL;
	c = call_alloc(ua, h, arg);
	if (!c)
		return NULL;
	if (copy(c->remote_uri, cfg->to_uri) || copy(c->route, cfg->route) || copy(c->password, cfg->password) ||
	    copy(c->auth_user, cfg->auth_user ? cfg->auth_user : cfg->from_user) ||
	    cm_strlcpy(c->contact_user, cfg->from_user, sizeof(c->contact_user)) < 0)
		goto free_c;
	b = (struct sip_builder){ .buf = c->local_uri, .cap = sizeof(c->local_uri) - 1 };
	sip_build_lit(&b, "sip:");
	sip_build_cstr(&b, cfg->from_user);
	sip_build_lit(&b, "@");
	sip_build_cstr(&b, cfg->from_domain);
	if (b.overflow)
		goto free_c;
	c->local_uri[b.len] = '\0';
	*put_hex(put_hex(c->call_id, sip_ua_random(ua), 16), sip_ua_random(ua), 8) = '@';
	cm_strlcpy(c->call_id + 16 + 8 + 1, sip_tp_local_ip(c->tp), sizeof(c->call_id) - (16 + 8 + 1));
	sip_sdp_local_copy(&c->media, &cfg->media, c->media_addr, sizeof(c->media_addr), c->crypto_suite,
			   sizeof(c->crypto_suite), c->crypto_key, sizeof(c->crypto_key));
	if (cfg->tp)
		c->tp = cfg->tp;
	c->dst = c->next_hop = cfg->dst;
	c->duration_ms = cfg->duration_ms;
	c->no_answer_ms = cfg->no_answer_ms;
	c->rel100 = cfg->rel100;
	c->se_req_s = cfg->session_expires_s;
	if (cfg->min_se_s)
		c->min_se_s = cfg->min_se_s;
	if (c->se_req_s && c->se_req_s < c->min_se_s)
		c->se_req_s = c->min_se_s;
	if (cfg->fallback && cfg->nfallback) {
		c->nfallback = cfg->nfallback < SIP_DNS_MAX_TARGETS ? cfg->nfallback : SIP_DNS_MAX_TARGETS;
		c->fallback = malloc(c->nfallback * sizeof(*c->fallback));
		if (!c->fallback)
			goto free_c;
		memcpy(c->fallback, cfg->fallback, c->nfallback * sizeof(*c->fallback));
	}
	sip_call_table_add(&ua->calls, c);
	check_config_strings(c);
	return c;

free_c:
	ua->st.live--;
	free(c);
	return NULL;
}

int sip_call_start(struct sip_call *c)
{
	int rc;

	if (c->incoming || c->st.state != SIP_CALL_IDLE)
		return -EINVAL;
	hold(c);
	c->invite_ms = cm_now_ms();
	c->st.state = SIP_CALL_CALLING;
	rc = send_invite(c);
	if (rc < 0) {
		c->st.result = SIP_RESULT_FAILED;
		end_call(c);
	} else {
		set_state(c, SIP_CALL_CALLING);
		if (c->st.state == SIP_CALL_CALLING && c->no_answer_ms)
			cp_timer_start(loop_of(c), &c->timer, c->no_answer_ms);
	}
	release(c);
	return rc;
}

/* ---- received calls --------------------------------------------------------------------------------------- */

static uint32_t t1(const struct sip_call *c)
{
	return c->ua->cfg.t1_ms ? c->ua->cfg.t1_ms : SIP_T1_MS;
}

/* A response to the INVITE with our Contact: Via, Record-Route (101-299, §12.1.1), From, To with our tag,
 * Call-ID, CSeq copied from the request. */
static int build_invite_response(struct sip_call *c, const struct sip_msg *req, unsigned status, const char *extra,
				 const char *ctype, const char *body, char *buf, size_t cap)
{
	const struct sip_hdr *to = sip_msg_hdr(req, SIP_HDR_TO);
	struct sip_builder b;
	struct sip_addr a;
	const char *why;

	sip_build_response(&b, buf, cap, status, NULL);
	sip_build_copy_hdrs(&b, req, SIP_HDR_VIA);
	if (status > 100 && status < 300)
		sip_build_copy_hdrs(&b, req, SIP_HDR_RECORD_ROUTE);
	sip_build_copy_hdrs(&b, req, SIP_HDR_FROM);
	if (sip_parse_addr(to->value, &a, &why) == 0 && a.tag.len == 0)
		sip_build_hdrf(&b, "To", "%.*s;tag=%s", (int)to->value.len, to->value.p, c->local_tag);
	else
		sip_build_hdr(&b, "To", to->value);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CALL_ID);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CSEQ);
	contact(c, &b);
	sip_build_lit(&b, "Allow: " SIP_ALLOW "\r\n");
	if (extra)
		sip_build_raw(&b, extra);
	return sip_build_finish(&b, ctype, (struct sip_str){ body ? body : "", body ? strlen(body) : 0 });
}

/* Sends a 2xx to an INVITE (initial or re-INVITE) on its transaction and keeps it for retransmission until
 * the ACK: T1, doubling to T2, for 64*T1 (§13.3.1.4); over TCP/TLS only the 64*T1 wait. */
static int send_2xx(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req, uint32_t cseq,
		    const char *sdp)
{
	char buf[MSG_MAX], se[96];
	int n = build_invite_response(c, req, 200, se_hdrs(c, se, sizeof(se)), "application/sdp", sdp, buf,
				      sizeof(buf));
	char *copy;

	if (n < 0)
		return n;
	copy = malloc((size_t)n);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, (size_t)n);
	free(c->ok);
	c->ok = copy;
	c->ok_len = (size_t)n;
	c->ok_cseq = cseq;
	c->ok_retx_ms = t1(c);
	c->ok_first_ms = cm_now_ms();
	/* a reliable transport delivers it: only the wait for the ACK is left */
	cp_timer_start(loop_of(c), &c->retx, sip_tp_reliable(c->tp) ? 64 * (uint64_t)t1(c) : c->ok_retx_ms);
	return sip_txn_respond(st, c->ok, c->ok_len);
}

static void ok_retransmit(struct cp_loop *loop, void *arg)
{
	struct sip_call *c = arg;

	uint64_t elapsed = cm_now_ms() - c->ok_first_ms, limit = 64 * (uint64_t)t1(c);

	hold(c);
	if (elapsed >= limit) {
		/* no ACK in 64*T1: the dialog is confirmed but the session ends (§13.3.1.4) */
		c->st.ack_timeout = true;
		c->ua->st.ack_timeouts++;
		free(c->ok);
		c->ok = NULL;
		if (c->st.state == SIP_CALL_CONFIRMED)
			send_bye(c);
	} else {
		sip_tp_send(c->tp, &c->dst, c->ok, c->ok_len);
		c->st.ok_retransmissions++;
		c->ua->st.ok_retransmissions++;
		c->ok_retx_ms = c->ok_retx_ms * 2 > SIP_T2_MS ? SIP_T2_MS : c->ok_retx_ms * 2;
		/* the last wait ends at 64*T1 exactly */
		cp_timer_start(loop, &c->retx, elapsed + c->ok_retx_ms > limit ? limit - elapsed : c->ok_retx_ms);
	}
	release(c);
}

/* RFC 3262 §3: the reliable 1xx again after T1, 2*T1, 4*T1… (no T2 cap) until its PRACK; none in 64*T1 and
 * the INVITE is rejected with a 5xx.  Over TCP/TLS only that wait. */
static void rel_retransmit(struct cp_loop *loop, void *arg)
{
	struct sip_call *c = arg;
	uint64_t elapsed = cm_now_ms() - c->rel_first_ms, limit = 64 * (uint64_t)t1(c);

	hold(c);
	if (!c->rel || !c->invite_txn) {
		/* acknowledged, or the INVITE has its final response */
	} else if (elapsed >= limit) {
		c->st.prack_timeout = true;
		c->ua->st.prack_timeouts++;
		sip_txn_respond_simple(c->invite_txn, 500, c->local_tag, NULL);
		c->st.final_status = 500;
		snprintf(c->st.reason, sizeof(c->st.reason), "no PRACK");
		c->st.result = SIP_RESULT_FAILED;
		end_call(c);
		sip_tp_kick(c->tp);
	} else {
		sip_txn_respond(c->invite_txn, c->rel, c->rel_len);
		c->st.rel_retransmissions++;
		c->rel_retx_ms *= 2;
		cp_timer_start(loop, &c->rel_timer, elapsed + c->rel_retx_ms > limit ? limit - elapsed : c->rel_retx_ms);
		sip_tp_kick(c->tp);
	}
	release(c);
}

static void on_ring(struct cp_loop *loop, void *arg)
{
	struct sip_call *c = arg;
	const struct sip_msg *req;

	(void)loop;
	hold(c);
	if (c->rel && c->rel_sdp && (!c->answer_status || c->answer_status == 200)) {
		/* RFC 3262 §3: no 2xx while a reliable 1xx with SDP waits for its PRACK */
		c->answer_deferred = true;
		release(c);
		return;
	}
	if (c->invite_txn && (c->st.state == SIP_CALL_RINGING || c->st.state == SIP_CALL_CALLING) &&
	    (req = sip_txn_request(c->invite_txn))) {
		cp_timer_stop(loop_of(c), &c->rel_timer); /* a final response ends the 1xx retransmissions */
		if (c->answer_status && c->answer_status != 200) {
			sip_txn_respond_simple(c->invite_txn, c->answer_status, c->local_tag, NULL);
			c->ua->st.rejected++;
			c->st.final_status = c->answer_status;
			c->st.result = sip_call_result_from_status(c->answer_status);
			end_call(c); /* the ACK for a non-2xx stays inside the transaction */
		} else if (send_2xx(c, c->invite_txn, req, c->invite_cseq, c->answer_sdp) < 0) {
			sip_txn_respond_simple(c->invite_txn, 500, c->local_tag, NULL);
			c->st.final_status = 500;
			c->st.result = SIP_RESULT_FAILED;
			end_call(c);
		} else {
			sip_txn_set_user(c->invite_txn, NULL);
			c->invite_txn = NULL;
			c->ua->st.answered++;
			c->st.final_status = 200;
			c->st.result = SIP_RESULT_ANSWERED;
			c->st.setup_ms = since_invite(c);
			c->answer_ms = cm_now_ms();
			set_state(c, SIP_CALL_CONFIRMED);
			se_arm(c);
		}
		sip_tp_kick(c->tp); /* responses sent from a timer: the layer's timers may have changed */
	}
	release(c);
}

/* Answers the offer in `body` with our media: the answer's length, or -EPROTO (no fit), -EINVAL (no offer). */
static int answer_offer(struct sip_call *c, struct sip_str body, char *buf, size_t cap, struct sdp_negotiated *neg)
{
	enum sdp_neg why;
	int n;

	if (take_peer_sdp(c, body) < 0)
		return -EINVAL;
	n = sdp_build_answer(&sdp_scratch, &c->media, buf, cap, neg, &why);
	if (n < 0) {
		c->st.negotiation = why;
		return n;
	}
	c->st.negotiation = SDP_NEG_OK;
	if (!owner_accepts(c, neg)) {
		c->st.negotiation = SDP_NEG_BAD_ANSWER;
		return -EPROTO;
	}
	return n;
}

/* 180 Ringing, or 183 Session Progress with the SDP answer (early media); reliably (Require: 100rel, RSeq)
 * when both sides agreed, kept and re-sent until its PRACK (rel_retransmit). */
static void send_provisional(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req, bool early)
{
	char buf[MSG_MAX], extra[64];
	int n;

	if (c->reliable) {
		c->rseq_last = (uint32_t)(sip_ua_random(c->ua) % SIP_100REL_RSEQ_MAX_START) + 1;
		snprintf(extra, sizeof(extra), "Require: 100rel\r\nRSeq: %u\r\n", c->rseq_last);
	}
	n = build_invite_response(c, req, early ? 183 : 180, c->reliable ? extra : NULL, early ? "application/sdp" : NULL,
				  early ? c->answer_sdp : NULL, buf, sizeof(buf));
	if (n <= 0)
		return;
	sip_txn_respond(st, buf, (size_t)n);
	c->st.early_media = early;
	if (!c->reliable)
		return;
	c->rel = malloc((size_t)n);
	if (!c->rel)
		return; /* not re-sent: the 2xx still goes after the ring time */
	memcpy(c->rel, buf, (size_t)n);
	c->rel_len = (size_t)n;
	c->rel_sdp = early;
	c->st.reliable_provisionals++;
	c->rel_first_ms = cm_now_ms();
	c->rel_retx_ms = sip_tp_reliable(c->tp) ? 64 * t1(c) : t1(c);
	cp_timer_start(loop_of(c), &c->rel_timer, c->rel_retx_ms);
}

void sip_call_incoming(struct sip_ua *ua, struct sip_txn *st, const struct sip_msg *req,
		       const struct sockaddr_storage *src, const struct sip_answer *a, const struct sip_call_handler *h,
		       void *arg)
{
	struct sip_call *c = call_alloc(ua, h, arg);
	const struct sip_hdr *ch = sip_msg_hdr(req, SIP_HDR_CONTACT);
	struct sip_addr from, to, ct;
	struct sip_cseq cs;
	char sdp[SDP_MAX];
	const char *why;
	bool peer_rel;
	int n;

	if (!c) {
		sip_txn_respond_simple(st, 500, NULL, NULL);
		return;
	}
	hold(c);
	c->incoming = c->st.incoming = true;
	c->tp = sip_txn_send_ctx(st); /* the socket the INVITE came in on (an endpoint's own port) answers it */
	c->invite_ms = cm_now_ms();
	if (sip_parse_addr(sip_msg_hdr(req, SIP_HDR_FROM)->value, &from, &why) < 0 ||
	    sip_parse_addr(sip_msg_hdr(req, SIP_HDR_TO)->value, &to, &why) < 0 ||
	    sip_parse_cseq(sip_msg_hdr(req, SIP_HDR_CSEQ)->value, &cs, &why) < 0) {
		sip_txn_respond_simple(st, 400, NULL, NULL);
		c->doomed = true;
		goto out;
	}
	copy_str(c->call_id, sizeof(c->call_id), sip_msg_hdr(req, SIP_HDR_CALL_ID)->value);
	copy_str(c->remote_tag, sizeof(c->remote_tag), from.tag);
	copy_str(c->remote_uri, sizeof(c->remote_uri), from.uri_str);
	copy_str(c->local_uri, sizeof(c->local_uri), to.uri_str);
	if (ch && sip_parse_addr(ch->value, &ct, &why) == 0)
		copy_str(c->remote_target, sizeof(c->remote_target), ct.uri_str);
	else
		copy_str(c->remote_target, sizeof(c->remote_target), from.uri_str);
	cm_strlcpy(c->contact_user, a->contact_user ? a->contact_user : "callmeter", sizeof(c->contact_user));
	c->invite_cseq = c->remote_cseq = cs.seq;
	c->dst = *src;
	route_set(c, req, false);
	c->built_ok = sip_hdr_safe(c->local_uri) && sip_ruri_safe(c->remote_uri) && sip_hdr_safe(c->contact_user);
	check_dialog_strings(c);
	sip_sdp_local_copy(&c->media, &a->media, c->media_addr, sizeof(c->media_addr), c->crypto_suite,
			   sizeof(c->crypto_suite), c->crypto_key, sizeof(c->crypto_key));
	c->ring_ms = a->ring_ms;
	c->answer_status = a->status;
	c->invite_txn = st;
	sip_txn_set_user(st, c);
	sip_call_table_add(&ua->calls, c);
	c->st.state = SIP_CALL_CALLING;

	/* RFC 3262 §3 and RFC 3261 §8.2.2.3: 100rel required by one side and not supported by the other */
	peer_rel = sip_msg_has_option(req, SIP_HDR_SUPPORTED, "100rel") ||
		   sip_msg_has_option(req, SIP_HDR_REQUIRE, "100rel");
	if ((a->rel100 == SIP_100REL_OFF && sip_msg_has_option(req, SIP_HDR_REQUIRE, "100rel")) ||
	    (a->rel100 == SIP_100REL_REQUIRED && !peer_rel)) {
		unsigned code = a->rel100 == SIP_100REL_OFF ? 420 : 421;
		ua->st.bad_extension++;
		sip_txn_respond_simple(st, code, c->local_tag,
				       code == 420 ? "Unsupported: 100rel\r\n" : "Require: 100rel\r\n");
		c->st.final_status = code;
		c->st.result = SIP_RESULT_FAILED;
		end_call(c);
		goto out;
	}
	c->reliable = a->rel100 != SIP_100REL_OFF && peer_rel;
	if (a->min_se_s)
		c->min_se_s = a->min_se_s;
	if (se_from_request(c, req) == 422) {
		se_too_small(c, st, c->local_tag);
		c->st.final_status = 422;
		c->st.result = SIP_RESULT_FAILED;
		end_call(c);
		goto out;
	}

	n = answer_offer(c, req->body, sdp, sizeof(sdp), &c->st.media);
	if (n < 0 || !(c->answer_sdp = strdup(sdp))) {
		ua->st.negotiation_failed++;
		sip_txn_respond_simple(st, 488, c->local_tag, NULL);
		c->st.final_status = 488;
		c->st.result = SIP_RESULT_NEGOTIATION_FAILED;
		end_call(c);
		goto out;
	}
	send_provisional(c, st, req, a->early_media);
	cp_timer_init(&c->timer, on_ring, c);
	cp_timer_start(loop_of(c), &c->timer, c->ring_ms);
	set_state(c, SIP_CALL_RINGING);
	if (c->st.early_media && c->st.state == SIP_CALL_RINGING && c->cb && c->cb->on_early_media)
		c->cb->on_early_media(c, c->arg);
out:
	release(c);
}

void sip_call_txn_gone(struct sip_call *c, struct sip_txn *t)
{
	if (c->invite_txn == t)
		c->invite_txn = NULL;
}

/* ---- in-dialog requests from the peer --------------------------------------------------------------------- */

/* Signal=5 (RFC 2976 usage of application/dtmf-relay); Duration in ms. */
static bool dtmf_relay(const struct sip_msg *req, char *digit, uint32_t *duration)
{
	const struct sip_hdr *ct = sip_msg_hdr(req, SIP_HDR_CONTENT_TYPE);
	const char *p = req->body.p, *end = req->body.p + req->body.len;
	bool found = false;

	*duration = 0;
	if (!ct || ct->value.len < 22 || strncasecmp(ct->value.p, "application/dtmf-relay", 22) != 0)
		return false;
	for (; p + 7 < end; p++) {
		if (p != req->body.p && p[-1] != '\n')
			continue;
		if (strncasecmp(p, "Signal=", 7) == 0) {
			const char *v = sip_skip_lws(p + 7, end);
			if (v < end && *v && strchr(SIP_DTMF_CHARS "abcd", *v)) {
				*digit = (char)(*v >= 'a' ? *v - 'a' + 'A' : *v);
				found = true;
			}
		} else if (p + 9 < end && strncasecmp(p, "Duration=", 9) == 0) {
			uint32_t d = 0;
			for (const char *v = sip_skip_lws(p + 9, end); v < end && sip_is_digit((unsigned char)*v) &&
			     d < 100000; v++)
				d = d * 10 + (uint32_t)(*v - '0');
			*duration = d;
		}
	}
	return found;
}

/* A new offer from the peer in the dialog (re-INVITE, UPDATE): our answer into sdp (its length), or 488 sent
 * and -1 with the previous media kept. */
static int dialog_offer(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req, char *sdp, size_t cap)
{
	struct sdp_negotiated prev = c->st.media;
	enum sdp_neg prev_neg = c->st.negotiation;
	char *old = c->peer_sdp;
	int n;

	c->peer_sdp = NULL; /* the previous SDP stays until the new one is accepted */
	n = answer_offer(c, req->body, sdp, cap, &c->st.media);
	if (n < 0) {
		free(c->peer_sdp);
		c->peer_sdp = old;
		c->st.media = prev;
		c->st.negotiation = prev_neg;
		sip_txn_respond_simple(st, 488, NULL, NULL);
		return -1;
	}
	free(old);
	c->st.reinvites++;
	c->ua->st.reinvites++;
	return n;
}

/* A refresh from the peer (its re-INVITE or UPDATE succeeded): the session runs for another interval. */
static void se_refreshed(struct sip_call *c)
{
	if (!c->se_s)
		return;
	c->st.session_refreshes_received++;
	se_arm(c);
}

/* The session as it was before a request of the peer that se_from_request read: a request that does not
 * succeed changes nothing (RFC 4028 §10: only a successful one refreshes or changes the session). */
struct se_saved {
	uint32_t s;
	bool refresh;
};

static struct se_saved se_save(const struct sip_call *c)
{
	return (struct se_saved){ c->se_s, c->se_refresh };
}

static void se_restore(struct sip_call *c, struct se_saved v)
{
	c->se_s = v.s;
	c->se_refresh = v.refresh;
}

static void reinvite(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req, uint32_t cseq)
{
	char sdp[SDP_MAX];
	struct se_saved was = se_save(c);

	if (c->st.state != SIP_CALL_CONFIRMED || c->invite_txn || c->reinvite_txn) {
		sip_txn_respond_simple(st, 491, NULL, NULL); /* §14.2: one offer at a time, either way */
		return;
	}
	if (se_from_request(c, req) == 422) {
		se_too_small(c, st, NULL);
		return;
	}
	if (dialog_offer(c, st, req, sdp, sizeof(sdp)) < 0) {
		se_restore(c, was);
		return;
	}
	if (send_2xx(c, st, req, cseq, sdp) < 0) {
		se_restore(c, was);
		sip_txn_respond_simple(st, 500, NULL, NULL);
	} else {
		se_refreshed(c);
	}
}

/* RFC 3311: an UPDATE from the peer: a session refresh (no body), or a new offer answered in its 200 (no ACK
 * follows); an offer only in the confirmed dialog, one at a time. */
static void update(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req)
{
	char sdp[SDP_MAX], se[96], buf[MSG_MAX];
	bool offer = req->body.len > 0;
	struct se_saved was = se_save(c);
	int n = 0;

	if (offer && (c->st.state != SIP_CALL_CONFIRMED || c->invite_txn || c->reinvite_txn || c->ok)) {
		sip_txn_respond_simple(st, 491, NULL, NULL);
		return;
	}
	if (se_from_request(c, req) == 422) {
		se_too_small(c, st, NULL);
		return;
	}
	if (offer && dialog_offer(c, st, req, sdp, sizeof(sdp)) < 0) {
		se_restore(c, was);
		return;
	}
	n = build_invite_response(c, req, 200, se_hdrs(c, se, sizeof(se)), offer ? "application/sdp" : NULL,
				  offer ? sdp : NULL, buf, sizeof(buf));
	if (n < 0) {
		se_restore(c, was);
		sip_txn_respond_simple(st, 500, NULL, NULL);
		return;
	}
	sip_txn_respond(st, buf, (size_t)n);
	c->st.updates++;
	if (c->st.state == SIP_CALL_CONFIRMED)
		se_refreshed(c);
}

static void on_ring(struct cp_loop *loop, void *arg);

/* RFC 3262 §3: a PRACK matching our unacknowledged reliable 1xx (RSeq, the INVITE's CSeq number and method)
 * gets 200 and ends its retransmissions (and lets a waiting 2xx go); any other PRACK gets 481. */
static void prack(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req)
{
	const struct sip_hdr *h = sip_msg_hdr_by_name(req, "RAck");
	struct sip_rack r;
	const char *why;

	if (!c->incoming || !c->rel || !h || sip_parse_rack(h->value, &r, &why) < 0 || r.rseq != c->rseq_last ||
	    r.cseq.seq != c->invite_cseq || r.cseq.method_id != SIP_INVITE) {
		sip_txn_respond_simple(st, 481, NULL, NULL);
		return;
	}
	sip_txn_respond_simple(st, 200, NULL, NULL);
	cp_timer_stop(loop_of(c), &c->rel_timer);
	free(c->rel);
	c->rel = NULL;
	c->st.pracks++;
	c->ua->st.pracks++;
	if (c->answer_deferred) {
		c->answer_deferred = false;
		on_ring(loop_of(c), c);
	}
}

static void peer_ack(struct sip_call *c, const struct sip_msg *req)
{
	struct sip_cseq cs;
	const char *why;

	if (!c->ok || sip_parse_cseq(sip_msg_hdr(req, SIP_HDR_CSEQ)->value, &cs, &why) < 0 || cs.seq != c->ok_cseq)
		return;
	cp_timer_stop(loop_of(c), &c->retx);
	free(c->ok);
	c->ok = NULL;
	if (!c->st.acked) {
		c->st.acked = true;
		c->ua->st.acks++;
	}
}

void sip_call_request(struct sip_call *c, struct sip_txn *st, const struct sip_msg *req)
{
	struct sip_cseq cs;
	const char *why;
	bool has_to_tag = false;
	struct sip_addr to;

	hold(c);
	if (sip_parse_addr(sip_msg_hdr(req, SIP_HDR_TO)->value, &to, &why) == 0)
		has_to_tag = to.tag.len > 0;
	if (!st) {
		if (req->method_id == SIP_ACK)
			peer_ack(c, req);
		goto out;
	}
	if (sip_parse_cseq(sip_msg_hdr(req, SIP_HDR_CSEQ)->value, &cs, &why) < 0) {
		sip_txn_respond_simple(st, 400, NULL, NULL);
		goto out;
	}
	if (c->st.state == SIP_CALL_ENDED && req->method_id != SIP_OPTIONS) {
		sip_txn_respond_simple(st, 481, NULL, NULL);
		goto out;
	}
	switch (req->method_id) {
	case SIP_INVITE:
		if (!has_to_tag) {
			/* our INVITE transaction is gone: the peer did not get the 2xx, send it again; another INVITE
			 * with this Call-ID and From tag is a loop or a merged request (§8.2.2.2) */
			if (cs.seq == c->invite_cseq && c->ok && c->ok_cseq == cs.seq)
				sip_txn_respond(st, c->ok, c->ok_len);
			else
				sip_txn_respond_simple(st, 482, NULL, NULL);
			break;
		}
		c->remote_cseq = cs.seq;
		reinvite(c, st, req, cs.seq);
		break;
	case SIP_CANCEL:
		if (!c->incoming || !c->invite_txn || c->st.state == SIP_CALL_CONFIRMED) {
			sip_txn_respond_simple(st, 481, NULL, NULL);
			break;
		}
		sip_txn_respond_simple(st, 200, NULL, NULL);
		sip_txn_respond_simple(c->invite_txn, 487, c->local_tag, NULL);
		c->ua->st.cancelled++;
		c->st.final_status = 487;
		c->st.result = SIP_RESULT_CANCELLED;
		c->st.ended_by_peer = true;
		end_call(c);
		break;
	case SIP_BYE:
		if (c->st.state != SIP_CALL_CONFIRMED && c->st.state != SIP_CALL_ENDING) {
			sip_txn_respond_simple(st, 481, NULL, NULL);
			break;
		}
		sip_txn_respond_simple(st, 200, NULL, NULL);
		c->ua->st.byes++;
		c->st.ended_by_peer = true;
		end_call(c);
		break;
	case SIP_INFO: {
		char digit;
		uint32_t dur;
		c->ua->st.infos++;
		sip_txn_respond_simple(st, 200, NULL, NULL);
		if (dtmf_relay(req, &digit, &dur)) {
			if (c->st.dtmf_received < SIP_CALL_DTMF_MAX)
				c->st.dtmf_digits[c->st.dtmf_received] = digit;
			c->st.dtmf_received++;
			c->ua->st.dtmf_digits++;
			c->ua->st.last_dtmf = digit;
			if (c->cb && c->cb->on_dtmf)
				c->cb->on_dtmf(c, c->arg, digit, dur);
		}
		break;
	}
	case SIP_OPTIONS:
		c->ua->st.options++;
		sip_txn_respond_simple(st, 200, NULL, "Allow: " SIP_ALLOW "\r\nAccept: application/sdp\r\n");
		break;
	case SIP_PRACK:
		prack(c, st, req);
		break;
	case SIP_UPDATE:
		update(c, st, req);
		break;
	default:
		sip_txn_respond_simple(st, 405, NULL, "Allow: " SIP_ALLOW "\r\n");
	}
out:
	release(c);
}

/* ---- both roles: the API ---------------------------------------------------------------------------------- */

int sip_call_hangup(struct sip_call *c)
{
	int rc = 0;

	hold(c);
	switch (c->st.state) {
	case SIP_CALL_CONFIRMED:
		send_bye(c);
		break;
	case SIP_CALL_CALLING:
	case SIP_CALL_RINGING:
		if (c->incoming) {
			/* before our answer: refuse the INVITE instead */
			if (c->invite_txn)
				sip_txn_respond_simple(c->invite_txn, 480, c->local_tag, NULL);
			sip_tp_kick(c->tp);
			c->st.final_status = 480;
			c->st.result = SIP_RESULT_UNAVAILABLE;
			end_call(c);
			break;
		}
		c->cancel_wanted = true;
		if (c->got_provisional && !c->cancelled)
			rc = send_cancel(c);
		break;
	default:
		rc = -EINVAL;
	}
	release(c);
	return rc;
}

static void info_next(struct sip_call *c)
{
	char body[64];

	if (c->info_txn || c->dtmf_qlen == 0 || c->st.state != SIP_CALL_CONFIRMED)
		return;
	snprintf(body, sizeof(body), "Signal=%c\r\nDuration=%u\r\n", c->dtmf_q[0], c->dtmf_ms);
	memmove(c->dtmf_q, c->dtmf_q + 1, --c->dtmf_qlen);
	if (in_dialog(c, "INFO", ++c->cseq, "application/dtmf-relay", body, &c->info_txn) < 0)
		c->dtmf_qlen = 0;
}

static void info_done(struct sip_call *c, unsigned status)
{
	if (status >= 200 && status < 300)
		c->st.dtmf_sent++;
	info_next(c);
}

int sip_call_send_dtmf(struct sip_call *c, const char *digits, uint32_t duration_ms)
{
	size_t n = strlen(digits);

	if (c->st.state != SIP_CALL_CONFIRMED || strspn(digits, SIP_DTMF_CHARS) != n)
		return -EINVAL;
	if (c->dtmf_qlen + n > sizeof(c->dtmf_q))
		return -ENOSPC;
	memcpy(c->dtmf_q + c->dtmf_qlen, digits, n);
	c->dtmf_qlen += (unsigned)n;
	c->dtmf_ms = duration_ms;
	hold(c);
	info_next(c);
	release(c);
	return 0;
}

/* ---- both roles: re-INVITEs of ours (RFC 3261 §14.1, RFC 3264 §8) ------------------------------------------ */

/* refresh: a session timer refresh (RFC 4028), the offer unchanged (same version, RFC 3264 §8) */
static int send_reinvite(struct sip_call *c, bool refresh)
{
	char sdp[SDP_MAX], extra[96] = "";
	int n;

	if (!refresh)
		c->media.sess_version++; /* RFC 3264 §8: a changed session description has a higher version */
	n = sdp_build_offer(&c->media, sdp, sizeof(sdp));
	if (n < 0)
		return n;
	if (c->se_s)
		snprintf(extra, sizeof(extra), "Session-Expires: %u;refresher=%s\r\nSupported: timer\r\n", c->se_s,
			 c->se_refresh ? "uac" : "uas");
	c->reinvite_cseq = ++c->cseq;
	if (!refresh)
		c->st.reinvites_sent++;
	return in_dialog_hdrs(c, "INVITE", c->reinvite_cseq, extra[0] ? extra : NULL, "application/sdp", sdp,
			      &c->reinvite_txn);
}

static void reinvite_done(struct sip_call *c, unsigned status, bool applied)
{
	c->glare_tries = 0;
	if (c->cb && c->cb->on_reinvite)
		c->cb->on_reinvite(c, c->arg, status, applied);
	/* §12.2.1.2: the dialog is gone (481) or the peer is (408, or no answer at all) */
	if ((status == 481 || status == 408) && c->st.state == SIP_CALL_CONFIRMED)
		send_bye(c);
}

static bool same_str(struct sip_str a, struct sip_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* What the media of a call are made of: a change in any of them is news for the owner's flow. */
static bool media_differ(const struct sdp_negotiated *a, const struct sdp_negotiated *b)
{
	return a->codec.pt != b->codec.pt || !same_str(a->codec.encoding, b->codec.encoding) ||
	       a->codec.clock_rate != b->codec.clock_rate || a->codec.channels != b->codec.channels ||
	       a->dtmf_pt != b->dtmf_pt || !same_str(a->remote_addr, b->remote_addr) ||
	       a->remote_port != b->remote_port || a->dir != b->dir || a->ptime != b->ptime ||
	       a->rtcp_mux != b->rtcp_mux || a->srtp != b->srtp || !same_str(a->crypto_suite, b->crypto_suite) ||
	       !same_str(a->remote_key, b->remote_key);
}

/* The answer in the 2xx to our session refresh (RFC 4028 re-INVITE with the unchanged offer).  A peer may answer
 * it with other media (a new address or port after a media relay changed, another codec of our offer, another
 * direction): those are the call's media from now on, and the owner hears of them as of any other change
 * (on_media; the product's media update).  An answer that does not fit, or that the owner refuses, leaves the
 * media as they were (the refresh itself still counts: the dialog and the session are fine). */
static void refresh_answer(struct sip_call *c, struct sip_str body)
{
	struct sdp_negotiated prev = c->st.media, neg;
	enum sdp_neg why;
	char *old = c->peer_sdp;

	if (body.len == 0)
		return;
	c->peer_sdp = NULL;
	if (take_peer_sdp(c, body) == 0 && sdp_accept_answer(&c->media, &sdp_scratch, &neg, &why) == 0 &&
	    media_differ(&neg, &prev)) {
		c->st.media = neg;
		if (owner_accepts(c, &neg)) {
			free(old);
			c->st.refresh_media_changes++;
			return;
		}
		c->st.media = prev;
	}
	free(c->peer_sdp);
	c->peer_sdp = old; /* the previous answer's strings, which c->st.media points into */
}

/* The final response to our re-INVITE.  A 2xx is ACKed whatever it carries; its answer replaces the media only if
 * it fits our offer and the owner takes it. */
static void reinvite_response(struct sip_call *c, const struct sip_msg *m)
{
	struct sdp_negotiated prev = c->st.media, neg;
	enum sdp_neg why;
	char *old = c->peer_sdp;
	bool applied = false;

	if (c->se_refreshing) {
		c->se_refreshing = false;
		if (m->status < 300) {
			in_dialog(c, "ACK", c->reinvite_cseq, NULL, NULL, NULL);
			if (c->st.state == SIP_CALL_CONFIRMED)
				refresh_answer(c, m->body);
		}
		se_refresh_done(c, m, m->status);
		return;
	}
	if (m->status >= 300) {
		c->media.dir = c->dir_before;
		if (c->st.state != SIP_CALL_CONFIRMED)
			return; /* the call is ending anyway: nothing to retry or report */
		if (m->status == 491 && c->glare_tries < SIP_CALL_MAX_GLARE && c->st.state == SIP_CALL_CONFIRMED) {
			c->st.glare++;
			c->glare_tries++;
			cp_timer_start(loop_of(c), &c->glare, glare_wait_ms(c));
			return;
		}
		reinvite_done(c, m->status, false);
		return;
	}
	in_dialog(c, "ACK", c->reinvite_cseq, NULL, NULL, NULL);
	if (c->st.state != SIP_CALL_CONFIRMED)
		return; /* we hang up meanwhile */
	c->peer_sdp = NULL; /* the previous SDP stays until the new one is accepted */
	if (take_peer_sdp(c, m->body) == 0 && sdp_accept_answer(&c->media, &sdp_scratch, &neg, &why) == 0) {
		c->st.media = neg;
		applied = owner_accepts(c, &neg);
	}
	if (applied) {
		free(old);
		c->st.reinvites_ok++;
	} else {
		free(c->peer_sdp);
		c->peer_sdp = old;
		c->st.media = prev;
		c->media.dir = c->dir_before;
	}
	if (c->se_s) /* a successful re-INVITE refreshes the session too */
		se_from_response(c, m);
	reinvite_done(c, m->status, applied);
}

static void glare_retry(struct cp_loop *loop, void *arg)
{
	struct sip_call *c = arg;
	enum sdp_dir dir = c->media.dir;

	(void)loop;
	hold(c);
	if (c->st.state == SIP_CALL_CONFIRMED && (c->reinvite_txn || c->ok)) {
		/* our refresh, or the peer's INVITE until its ACK (§14.1: one INVITE at a time either way): after it */
		cp_timer_start(loop_of(c), &c->glare, GLARE_POLL_MS);
	} else if (c->st.state == SIP_CALL_CONFIRMED) {
		c->dir_before = c->media.dir;
		c->media.dir = c->glare_dir;
		if (send_reinvite(c, false) < 0) {
			c->media.dir = dir;
			reinvite_done(c, 503, false);
		}
		sip_tp_kick(c->tp);
	}
	release(c);
}

int sip_call_reinvite(struct sip_call *c, enum sdp_dir dir)
{
	int rc;

	/* §14.1: not while an INVITE is in progress either way.  An offer of the owner's still pending is busy; our
	 * own session refresh, or the peer's re-INVITE waiting for its ACK, is over in a moment: the offer is sent
	 * right after it (glare_retry), as if it had crossed (a hold is not a failure because a refresh was due). */
	if (c->st.state != SIP_CALL_CONFIRMED)
		return -EINVAL;
	if ((c->reinvite_txn && !c->se_refreshing) || c->invite_txn || cp_timer_armed(&c->glare))
		return -EBUSY;
	hold(c);
	c->glare_tries = 0;
	c->glare_dir = dir;
	if (c->reinvite_txn || c->ok) {
		c->st.reinvites_queued++;
		cp_timer_start(loop_of(c), &c->glare, GLARE_POLL_MS);
		release(c);
		return 0;
	}
	c->dir_before = c->media.dir;
	c->media.dir = dir;
	rc = send_reinvite(c, false);
	if (rc < 0)
		c->media.dir = c->dir_before;
	release(c);
	return rc;
}

const struct sip_call_stats *sip_call_stats(const struct sip_call *c)
{
	return &c->st;
}

const char *sip_call_route_set(const struct sip_call *c)
{
	return c->route_set ? c->route_set : "";
}

const struct sdp_local *sip_call_local_media(const struct sip_call *c)
{
	return &c->media;
}
