/* The UAC side of a call (RFC 3261 §13-§15, RFC 3264): INVITE with an SDP offer, provisional responses (PDD,
 * ringing), 401/407 answered with digest credentials, 2xx → dialog (remote tag, remote target from Contact,
 * route set from Record-Route reversed, loose routing) → ACK end to end → BYE after the call duration; CANCEL
 * when unanswered; the answer checked against the offer (a failed negotiation is ACKed and BYEd at once). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip_internal.h"

#define ROUTES_MAX 8
#define CALL_BUCKETS 4096u /* answered calls by Call-ID, to re-ACK retransmitted 2xx */

struct sip_call {
	struct sip_client_handler h; /* first: the client transactions' user pointer */
	struct sip_tp *tp;
	struct sip_call_config cfg;
	char from_user[SIP_CALL_FIELD_MAX], from_domain[SIP_CALL_FIELD_MAX], to_uri[SIP_CALL_FIELD_MAX];
	char route[SIP_CALL_FIELD_MAX], auth_user[SIP_CALL_FIELD_MAX], password[SIP_CALL_FIELD_MAX];
	char call_id[48], local_tag[24], remote_tag[SIP_CALL_FIELD_MAX];
	char invite_branch[40];
	char remote_target[SIP_CALL_FIELD_MAX];
	char route_set[SIP_CALL_ROUTE_MAX];
	struct sockaddr_storage next_hop;
	uint32_t cseq, invite_cseq;
	unsigned auth_tries;
	bool got_provisional, cancel_wanted, cancelled;
	struct sip_challenge chal;
	bool have_chal;
	uint32_t nc;
	struct sip_txn *invite_txn, *other_txn;
	struct cp_timer hangup_timer, no_answer_timer;
	uint64_t invite_ms, ack_ms;
	char *answer;               /* the SDP answer the negotiated strings point into */
	char *ack;                  /* the ACK for the 2xx, re-sent for each retransmitted 2xx */
	size_t ack_len;
	struct sip_call *hnext;
	bool hashed;
	struct sip_call_stats st;
	sip_call_cb cb;
	void *arg;
};

static _Thread_local struct sdp_session answer_sdp;
static _Thread_local struct sip_call *by_call_id[CALL_BUCKETS];

static uint32_t call_hash(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h % CALL_BUCKETS;
}

static void unhash(struct sip_call *c)
{
	struct sip_call **pp = &by_call_id[call_hash(c->call_id, strlen(c->call_id))];

	if (!c->hashed)
		return;
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->hashed = false;
}

void sip_call_stray_response(const struct sip_msg *m)
{
	const struct sip_hdr *cid = sip_msg_hdr(m, SIP_HDR_CALL_ID), *cs = sip_msg_hdr(m, SIP_HDR_CSEQ);
	struct sip_cseq cseq;
	const char *why;

	if (m->is_request || m->status < 200 || m->status >= 300 || !cid || !cs ||
	    sip_parse_cseq(cs->value, &cseq, &why) < 0 || cseq.method_id != SIP_INVITE)
		return;
	for (struct sip_call *c = by_call_id[call_hash(cid->value.p, cid->value.len)]; c; c = c->hnext)
		if (sip_str_eq(cid->value, c->call_id) && c->ack && cseq.seq == c->invite_cseq) {
			sip_tp_send(c->tp, &c->next_hop, c->ack, c->ack_len);
			c->st.ack_retransmissions++;
			return;
		}
}

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

static void set_state(struct sip_call *c, enum sip_call_state s)
{
	c->st.state = s;
	if (c->cb)
		c->cb(c, c->arg);
}

static void end_call(struct sip_call *c)
{
	struct cp_loop *loop = sip_tp_loop(c->tp);

	cp_timer_stop(loop, &c->hangup_timer);
	cp_timer_stop(loop, &c->no_answer_timer);
	set_state(c, SIP_CALL_ENDED);
}

static uint64_t since_invite(const struct sip_call *c)
{
	uint64_t d = cm_now_ms() - c->invite_ms;
	return d ? d : 1;
}

/* The common header block of every request in this call. */
static void common_headers(struct sip_call *c, struct sip_builder *b, const char *branch, bool with_remote_tag,
			   const char *route, uint32_t cseq, const char *method)
{
	char via[160];

	sip_tp_via(c->tp, branch, via, sizeof(via));
	sip_build_hdrf(b, "Via", "%s", via);
	sip_build_hdrf(b, "Max-Forwards", "70");
	if (route && route[0])
		sip_build_hdrf(b, "Route", "%s", route);
	sip_build_hdrf(b, "From", "<sip:%s@%s>;tag=%s", c->from_user, c->from_domain, c->local_tag);
	if (with_remote_tag && c->remote_tag[0])
		sip_build_hdrf(b, "To", "<%s>;tag=%s", c->to_uri, c->remote_tag);
	else
		sip_build_hdrf(b, "To", "<%s>", c->to_uri);
	sip_build_hdrf(b, "Call-ID", "%s", c->call_id);
	sip_build_hdrf(b, "CSeq", "%u %s", cseq, method);
}

static int new_branch(char *out, size_t len)
{
	char rnd[33];

	if (sip_digest_cnonce(rnd, sizeof(rnd)) < 0)
		return -EIO;
	snprintf(out, len, SIP_MAGIC_COOKIE "%.24s", rnd);
	return 0;
}

static int send_invite(struct sip_call *c)
{
	char buf[8192], sdp[2048], auth[1024], contact[SIP_CALL_FIELD_MAX + 96];
	struct sip_builder b;
	int n, sl, err;

	sl = sdp_build_offer(&c->cfg.media, sdp, sizeof(sdp));
	if (sl < 0 || new_branch(c->invite_branch, sizeof(c->invite_branch)) < 0)
		return -ENOSPC;
	c->invite_cseq = ++c->cseq;
	sip_build_request(&b, buf, sizeof(buf), "INVITE", (struct sip_str){ c->to_uri, strlen(c->to_uri) });
	common_headers(c, &b, c->invite_branch, false, c->route, c->invite_cseq, "INVITE");
	sip_tp_contact_uri(c->tp, c->from_user, contact, sizeof(contact));
	sip_build_hdrf(&b, "Contact", "<%s>", contact);
	sip_build_hdrf(&b, "Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO");
	if (c->have_chal) {
		char cnonce[33];
		if (sip_digest_cnonce(cnonce, sizeof(cnonce)) < 0)
			return -EIO;
		n = sip_digest_authorization(&c->chal, c->auth_user, c->password, "INVITE", c->to_uri, cnonce, ++c->nc,
					     auth, sizeof(auth));
		if (n < 0)
			return n;
		sip_build_hdrf(&b, c->chal.proxy ? "Proxy-Authorization" : "Authorization", "%s", auth);
	}
	sip_build_hdrf(&b, "User-Agent", "callmeter/%s", CM_VERSION);
	n = sip_build_finish(&b, "application/sdp", (struct sip_str){ sdp, (size_t)sl });
	if (n < 0)
		return n;
	c->invite_txn = sip_tp_request(c->tp, buf, (size_t)n, &c->cfg.dst, &c->h, &err);
	return c->invite_txn ? 0 : err;
}

/* CANCEL (§9.1): the INVITE's Request-URI, top Via (same branch), Route, From, To, Call-ID and CSeq number. */
static int send_cancel(struct sip_call *c)
{
	char buf[4096];
	struct sip_builder b;
	int n, err;

	sip_build_request(&b, buf, sizeof(buf), "CANCEL", (struct sip_str){ c->to_uri, strlen(c->to_uri) });
	common_headers(c, &b, c->invite_branch, false, c->route, c->invite_cseq, "CANCEL");
	n = sip_build_finish(&b, NULL, (struct sip_str){ "", 0 });
	if (n < 0)
		return n;
	c->other_txn = sip_tp_request(c->tp, buf, (size_t)n, &c->cfg.dst, &c->h, &err);
	c->cancelled = c->other_txn != NULL;
	return c->other_txn ? 0 : err;
}

/* In-dialog requests go to the remote target through the route set (loose routing, §12.2.1.1). */
static int in_dialog(struct sip_call *c, const char *method, uint32_t cseq, bool transaction)
{
	char buf[4096], branch[40];
	struct sip_builder b;
	int n, err;

	if (new_branch(branch, sizeof(branch)) < 0)
		return -EIO;
	sip_build_request(&b, buf, sizeof(buf), method, (struct sip_str){ c->remote_target, strlen(c->remote_target) });
	common_headers(c, &b, branch, true, c->route_set, cseq, method);
	n = sip_build_finish(&b, NULL, (struct sip_str){ "", 0 });
	if (n < 0)
		return n;
	if (!transaction) {
		/* the ACK for a 2xx: kept for retransmitted 2xx */
		free(c->ack);
		c->ack = malloc((size_t)n);
		if (c->ack) {
			memcpy(c->ack, buf, (size_t)n);
			c->ack_len = (size_t)n;
		}
		return sip_tp_send(c->tp, &c->next_hop, buf, (size_t)n);
	}
	c->other_txn = sip_tp_request(c->tp, buf, (size_t)n, &c->next_hop, &c->h, &err);
	return c->other_txn ? 0 : err;
}

static void send_bye(struct sip_call *c)
{
	set_state(c, SIP_CALL_ENDING);
	if (in_dialog(c, "BYE", ++c->cseq, true) < 0) {
		c->st.bye_status = 503;
		end_call(c);
	}
}

/* A numeric host:port from a URI, if it has one. */
static bool uri_addr(struct sip_str uri_str, struct sockaddr_storage *out)
{
	struct sip_uri u;
	char host[64];
	const char *why;

	if (sip_parse_uri(uri_str, &u, &why) < 0 || u.host.len == 0 || u.host.len >= sizeof(host))
		return false;
	if (u.host.p[0] == '[') {
		memcpy(host, u.host.p + 1, u.host.len - 2);
		host[u.host.len - 2] = '\0';
	} else {
		memcpy(host, u.host.p, u.host.len);
		host[u.host.len] = '\0';
	}
	return sip_addr_from(out, host, u.port ? u.port : 5060) == 0;
}

/* The dialog from a 2xx (§12.1.2): remote tag, remote target, route set = Record-Route reversed. */
static int make_dialog(struct sip_call *c, const struct sip_msg *m)
{
	struct sip_str routes[ROUTES_MAX];
	unsigned nr = 0;
	struct sip_addr a;
	const char *why;
	size_t len = 0;

	if (sip_parse_addr(sip_msg_hdr(m, SIP_HDR_TO)->value, &a, &why) < 0 || a.tag.len == 0 ||
	    a.tag.len >= sizeof(c->remote_tag))
		return -EINVAL;
	memcpy(c->remote_tag, a.tag.p, a.tag.len);
	c->remote_tag[a.tag.len] = '\0';
	if (!sip_msg_hdr(m, SIP_HDR_CONTACT) || sip_parse_addr(sip_msg_hdr(m, SIP_HDR_CONTACT)->value, &a, &why) < 0 ||
	    a.uri_str.len >= sizeof(c->remote_target))
		return -EINVAL;
	memcpy(c->remote_target, a.uri_str.p, a.uri_str.len);
	c->remote_target[a.uri_str.len] = '\0';
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_RECORD_ROUTE); h; h = sip_msg_next_hdr(m, h)) {
		struct sip_str rest = h->value, elem;
		while (sip_next_value(&rest, &elem) > 0 && nr < ROUTES_MAX)
			routes[nr++] = elem;
	}
	c->route_set[0] = '\0';
	for (unsigned i = nr; i-- > 0;) {
		int w = snprintf(c->route_set + len, sizeof(c->route_set) - len, "%s%.*s", len ? ", " : "",
				 (int)routes[i].len, routes[i].p);
		if (w < 0 || (size_t)w >= sizeof(c->route_set) - len)
			return -E2BIG;
		len += (size_t)w;
	}
	c->next_hop = c->cfg.dst;
	if (nr) {
		if (sip_parse_addr(routes[nr - 1], &a, &why) == 0)
			uri_addr(a.uri_str, &c->next_hop);
	} else {
		uri_addr((struct sip_str){ c->remote_target, strlen(c->remote_target) }, &c->next_hop);
	}
	return 0;
}

static void on_answered(struct sip_call *c, const struct sip_msg *m)
{
	struct cp_loop *loop = sip_tp_loop(c->tp);
	enum sdp_neg neg = SDP_NEG_NO_AUDIO;
	bool media_ok = false;

	c->st.setup_ms = since_invite(c);
	cp_timer_stop(loop, &c->no_answer_timer);
	if (make_dialog(c, m) < 0) {
		c->st.result = SIP_RESULT_FAILED;
		end_call(c);
		return;
	}
	free(c->answer);
	c->answer = malloc(m->body.len ? m->body.len : 1);
	if (c->answer && m->body.len) {
		memcpy(c->answer, m->body.p, m->body.len);
		media_ok = sdp_parse(&answer_sdp, c->answer, m->body.len) == 0 &&
			   sdp_accept_answer(&c->cfg.media, &answer_sdp, &c->st.media, &neg) == 0;
	}
	c->st.negotiation = media_ok ? SDP_NEG_OK : neg;
	/* ACK the 2xx end to end (§13.2.2.4), even when the answer is unusable: then BYE at once */
	in_dialog(c, "ACK", c->invite_cseq, false);
	if (!c->hashed) {
		uint32_t b = call_hash(c->call_id, strlen(c->call_id));
		c->hnext = by_call_id[b];
		by_call_id[b] = c;
		c->hashed = true;
	}
	c->ack_ms = cm_now_ms();
	if (!media_ok) {
		c->st.result = SIP_RESULT_NEGOTIATION_FAILED;
		send_bye(c);
		return;
	}
	c->st.result = SIP_RESULT_ANSWERED;
	set_state(c, SIP_CALL_CONFIRMED);
	if (c->cfg.duration_ms)
		cp_timer_start(loop, &c->hangup_timer, c->cfg.duration_ms);
}

static void invite_response(struct sip_call *c, const struct sip_msg *m)
{
	if (m->status < 200) {
		if (m->status == 180 || m->status == 183) {
			if (!c->st.pdd_ms)
				c->st.pdd_ms = since_invite(c);
			if (m->status == 180 && !c->st.time_to_ringing_ms)
				c->st.time_to_ringing_ms = since_invite(c);
		}
		if (!c->got_provisional) {
			c->got_provisional = true;
			if (c->st.state == SIP_CALL_CALLING)
				set_state(c, SIP_CALL_RINGING);
			if (c->cancel_wanted && !c->cancelled)
				send_cancel(c); /* §9.1: CANCEL only after a provisional response */
		}
		return;
	}
	c->st.final_status = m->status;
	snprintf(c->st.reason, sizeof(c->st.reason), "%.*s", (int)m->reason.len, m->reason.p);
	if (m->status < 300) {
		on_answered(c, m);
		return;
	}
	if ((m->status == 401 || m->status == 407) && c->password[0] && !c->cancelled &&
	    c->auth_tries++ < SIP_CALL_MAX_AUTH_TRIES) {
		struct sip_challenge ch;
		const char *why;
		c->st.challenges++;
		if (sip_digest_challenge_from_msg(m, &ch, &why) == 0) {
			if (!c->have_chal || strcmp(ch.nonce, c->chal.nonce) != 0)
				c->nc = 0;
			c->chal = ch;
			c->have_chal = true;
			c->got_provisional = false;
			if (send_invite(c) == 0)
				return;
		}
	}
	c->st.result = sip_call_result_from_status(m->status);
	end_call(c);
}

static void on_response(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *m)
{
	struct sip_call *c = (struct sip_call *)h;

	if (m->status >= 200)
		sip_txn_set_user(ct, NULL); /* done with it: only in-flight transactions point back here */
	if (ct == c->invite_txn) {
		if (m->status >= 200)
			c->invite_txn = NULL;
		invite_response(c, m);
		return;
	}
	if (ct == c->other_txn && m->status >= 200)
		c->other_txn = NULL;
	if (c->st.state == SIP_CALL_ENDING && m->status >= 200) {
		/* the BYE's final response (a CANCEL's 200 needs nothing: the INVITE gets its 487) */
		c->st.bye_status = m->status;
		c->st.duration_ms = cm_now_ms() - c->ack_ms;
		end_call(c);
	}
}

static void on_timeout(struct sip_client_handler *h, struct sip_txn *ct)
{
	struct sip_call *c = (struct sip_call *)h;

	if (ct == c->invite_txn) {
		c->invite_txn = NULL;
		c->st.final_status = 408;
		snprintf(c->st.reason, sizeof(c->st.reason), "Request Timeout");
		c->st.result = SIP_RESULT_TIMEOUT;
		end_call(c);
	} else if (ct == c->other_txn) {
		c->other_txn = NULL;
		if (c->st.state == SIP_CALL_ENDING) {
			c->st.bye_status = 408;
			end_call(c);
		}
	}
}

static void on_terminated(struct sip_client_handler *h, struct sip_txn *ct)
{
	struct sip_call *c = (struct sip_call *)h;

	if (c->invite_txn == ct)
		c->invite_txn = NULL;
	if (c->other_txn == ct)
		c->other_txn = NULL;
}

static void on_hangup_timer(struct cp_loop *loop, void *arg)
{
	(void)loop;
	sip_call_hangup(arg);
}

static void on_no_answer(struct cp_loop *loop, void *arg)
{
	struct sip_call *c = arg;

	(void)loop;
	if (c->st.state == SIP_CALL_CALLING || c->st.state == SIP_CALL_RINGING)
		sip_call_hangup(c);
}

static int copy(char *dst, const char *src)
{
	return cm_strlcpy(dst, src ? src : "", SIP_CALL_FIELD_MAX) < 0 ? -ENAMETOOLONG : 0;
}

struct sip_call *sip_call_new(struct sip_tp *tp, const struct sip_call_config *cfg, sip_call_cb cb, void *arg)
{
	struct sip_call *c;
	char rnd[33];

	if (!cfg->from_user || !cfg->from_domain || !cfg->to_uri)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->h = (struct sip_client_handler){ .on_response = on_response, .on_timeout = on_timeout,
					    .on_terminated = on_terminated };
	c->tp = tp;
	c->cfg = *cfg;
	if (copy(c->from_user, cfg->from_user) || copy(c->from_domain, cfg->from_domain) ||
	    copy(c->to_uri, cfg->to_uri) || copy(c->route, cfg->route) || copy(c->password, cfg->password) ||
	    copy(c->auth_user, cfg->auth_user ? cfg->auth_user : cfg->from_user) ||
	    sip_digest_cnonce(rnd, sizeof(rnd)) < 0)
		goto free_c;
	snprintf(c->call_id, sizeof(c->call_id), "%s@callmeter", rnd);
	memcpy(c->local_tag, rnd + 16, 16);
	c->local_tag[16] = '\0';
	c->cseq = (uint32_t)(rnd[0] & 0x0f) * 100; /* any start below 2^31 (§8.1.1.5) */
	c->cb = cb;
	c->arg = arg;
	cp_timer_init(&c->hangup_timer, on_hangup_timer, c);
	cp_timer_init(&c->no_answer_timer, on_no_answer, c);
	return c;

free_c:
	free(c);
	return NULL;
}

int sip_call_start(struct sip_call *c)
{
	int rc;

	c->invite_ms = cm_now_ms();
	set_state(c, SIP_CALL_CALLING);
	rc = send_invite(c);
	if (rc < 0) {
		c->st.result = SIP_RESULT_FAILED;
		end_call(c);
		return rc;
	}
	if (c->cfg.no_answer_ms)
		cp_timer_start(sip_tp_loop(c->tp), &c->no_answer_timer, c->cfg.no_answer_ms);
	return 0;
}

int sip_call_hangup(struct sip_call *c)
{
	switch (c->st.state) {
	case SIP_CALL_CONFIRMED:
		cp_timer_stop(sip_tp_loop(c->tp), &c->hangup_timer);
		send_bye(c);
		return 0;
	case SIP_CALL_CALLING:
	case SIP_CALL_RINGING:
		c->cancel_wanted = true;
		if (c->got_provisional && !c->cancelled)
			return send_cancel(c);
		return 0;
	default:
		return -EINVAL;
	}
}

void sip_call_free(struct sip_call *c)
{
	struct cp_loop *loop;

	if (!c)
		return;
	loop = sip_tp_loop(c->tp);
	cp_timer_stop(loop, &c->hangup_timer);
	cp_timer_stop(loop, &c->no_answer_timer);
	if (c->invite_txn)
		sip_txn_set_user(c->invite_txn, NULL);
	if (c->other_txn)
		sip_txn_set_user(c->other_txn, NULL);
	unhash(c);
	free(c->answer);
	free(c->ack);
	free(c);
}

const struct sip_call_stats *sip_call_stats(const struct sip_call *c)
{
	return &c->st;
}

const char *sip_call_route_set(const struct sip_call *c)
{
	return c->route_set;
}
