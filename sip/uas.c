/* The UAS side of calls (RFC 3261 §13.3, §15, RFC 3264): 180 at once and the final response after the ring
 * time — 200 with the SDP answer, or the configured rejection; 488 when the offer cannot be answered; CANCEL
 * (487 for the INVITE); BYE; re-INVITE (hold/resume: the answer mirrors the new direction); OPTIONS; INFO with
 * application/dtmf-relay (RFC 2976 usage).  Dialogs are found by Call-ID in a chained hash. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip_internal.h"

#define ALLOW "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\r\n"

struct uas_dialog {
	struct uas_dialog *next;
	struct sip_uas *uas;
	char call_id[SIP_CALL_FIELD_MAX];
	char local_tag[20];
	struct sip_txn *invite;  /* the INVITE server transaction until its final response */
	struct cp_timer ring;
	char answer[2048];
	int answer_len;
	bool confirmed;
};

struct sip_uas {
	struct sip_uas_config cfg;
	char contact_user[SIP_CALL_FIELD_MAX];
	struct sip_tp *tp;
	struct sip_uas_stats st;
	struct uas_dialog *buckets[SIP_UAS_BUCKETS];
	uint32_t tag_seq;
};

static uint32_t hash(struct sip_str s)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < s.len; i++)
		h = (h ^ (uint8_t)s.p[i]) * 16777619u;
	return h % SIP_UAS_BUCKETS;
}

static struct uas_dialog *find(struct sip_uas *s, struct sip_str call_id)
{
	for (struct uas_dialog *d = s->buckets[hash(call_id)]; d; d = d->next)
		if (strlen(d->call_id) == call_id.len && memcmp(d->call_id, call_id.p, call_id.len) == 0)
			return d;
	return NULL;
}

static void drop(struct uas_dialog *d)
{
	struct sip_uas *s = d->uas;
	struct uas_dialog **pp = &s->buckets[hash((struct sip_str){ d->call_id, strlen(d->call_id) })];

	cp_timer_stop(sip_tp_loop(s->tp), &d->ring);
	for (; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	if (d->invite)
		sip_txn_set_user(d->invite, NULL);
	s->st.live--;
	free(d);
}

static void contact(const struct sip_uas *s, char *out, size_t len)
{
	char uri[SIP_CALL_FIELD_MAX + 96];

	sip_tp_contact_uri(s->tp, s->contact_user, uri, sizeof(uri));
	snprintf(out, len, "Contact: <%s>\r\n" ALLOW, uri);
}

static void on_ring(struct cp_loop *loop, void *arg)
{
	struct uas_dialog *d = arg;
	struct sip_uas *s = d->uas;
	char hdrs[512];

	(void)loop;
	if (!d->invite)
		return;
	if (s->cfg.reject_status) {
		sip_txn_respond_simple(d->invite, s->cfg.reject_status, d->local_tag, NULL);
		s->st.rejected++;
		drop(d); /* the ACK for a non-2xx stays inside the transaction */
	} else {
		contact(s, hdrs, sizeof(hdrs));
		sip_txn_respond_body(d->invite, 200, d->local_tag, hdrs, "application/sdp",
				     (struct sip_str){ d->answer, (size_t)d->answer_len });
		sip_txn_set_user(d->invite, NULL);
		d->invite = NULL;
		s->st.answered++;
	}
	sip_tp_kick(s->tp);
}

/* Answers the offer in the request body into buf: its length, or -EPROTO / -EINVAL. */
static int answer_offer(struct sip_uas *s, const struct sip_msg *req, char *buf, size_t cap)
{
	static _Thread_local struct sdp_session offer;
	struct sdp_negotiated neg;
	enum sdp_neg why;

	if (req->body.len == 0 || sdp_parse(&offer, req->body.p, req->body.len) < 0)
		return -EINVAL;
	return sdp_build_answer(&offer, &s->cfg.media, buf, cap, &neg, &why);
}

static void new_invite(struct sip_uas *s, struct sip_txn *st, const struct sip_msg *req)
{
	struct sip_str call_id = sip_msg_hdr(req, SIP_HDR_CALL_ID)->value;
	struct uas_dialog *d;
	char hdrs[512];

	s->st.invites++;
	if (call_id.len >= SIP_CALL_FIELD_MAX || find(s, call_id)) {
		sip_txn_respond_simple(st, call_id.len >= SIP_CALL_FIELD_MAX ? 400 : 482, "x", NULL);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		sip_txn_respond_simple(st, 500, "x", NULL);
		return;
	}
	d->answer_len = answer_offer(s, req, d->answer, sizeof(d->answer));
	if (d->answer_len < 0) {
		s->st.negotiation_failed++;
		sip_txn_respond_simple(st, 488, "x", NULL);
		free(d);
		return;
	}
	d->uas = s;
	memcpy(d->call_id, call_id.p, call_id.len);
	snprintf(d->local_tag, sizeof(d->local_tag), "uas%08x", ++s->tag_seq);
	d->invite = st;
	sip_txn_set_user(st, d);
	cp_timer_init(&d->ring, on_ring, d);
	d->next = s->buckets[hash(call_id)];
	s->buckets[hash(call_id)] = d;
	s->st.live++;
	contact(s, hdrs, sizeof(hdrs));
	sip_txn_respond_simple(st, 180, d->local_tag, hdrs);
	cp_timer_start(sip_tp_loop(s->tp), &d->ring, s->cfg.ring_ms);
}

/* Signal=5 (RFC 2976 usage of application/dtmf-relay) */
static void dtmf_relay(struct sip_uas *s, const struct sip_msg *req)
{
	const struct sip_hdr *ct = sip_msg_hdr(req, SIP_HDR_CONTENT_TYPE);
	const char *p = req->body.p, *end = req->body.p + req->body.len;

	if (!ct || ct->value.len < 22 || strncasecmp(ct->value.p, "application/dtmf-relay", 22) != 0)
		return;
	for (; p + 7 < end; p++)
		if (strncasecmp(p, "Signal=", 7) == 0 && (p == req->body.p || p[-1] == '\n')) {
			const char *v = sip_skip_lws(p + 7, end);
			if (v < end && strchr("0123456789*#ABCDabcd", *v)) {
				s->st.dtmf_digits++;
				s->st.last_dtmf = *v;
			}
			return;
		}
}

void sip_uas_on_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	struct sip_uas *s = arg;
	const struct sip_hdr *cid = sip_msg_hdr(req, SIP_HDR_CALL_ID);
	struct uas_dialog *d = cid ? find(s, cid->value) : NULL;
	char hdrs[512], sdp[2048];
	int n;

	(void)src;
	if (!st) { /* the ACK for our 2xx */
		if (d && req->method_id == SIP_ACK) {
			d->confirmed = true;
			s->st.acks++;
		}
		return;
	}
	switch (req->method_id) {
	case SIP_INVITE: {
		struct sip_addr to;
		const char *why;
		if (sip_parse_addr(sip_msg_hdr(req, SIP_HDR_TO)->value, &to, &why) < 0 || to.tag.len == 0) {
			new_invite(s, st, req);
			break;
		}
		if (!d) {
			sip_txn_respond_simple(st, 481, NULL, NULL);
			break;
		}
		/* re-INVITE: hold / resume / new address; answer the new offer */
		n = answer_offer(s, req, sdp, sizeof(sdp));
		if (n < 0) {
			sip_txn_respond_simple(st, 488, NULL, NULL);
			break;
		}
		s->st.reinvites++;
		contact(s, hdrs, sizeof(hdrs));
		sip_txn_respond_body(st, 200, NULL, hdrs, "application/sdp", (struct sip_str){ sdp, (size_t)n });
		break;
	}
	case SIP_CANCEL:
		if (!d || !d->invite) {
			sip_txn_respond_simple(st, 481, NULL, NULL);
			break;
		}
		sip_txn_respond_simple(st, 200, NULL, NULL);
		sip_txn_respond_simple(d->invite, 487, d->local_tag, NULL);
		s->st.cancelled++;
		drop(d);
		break;
	case SIP_BYE:
		if (!d) {
			sip_txn_respond_simple(st, 481, NULL, NULL);
			break;
		}
		sip_txn_respond_simple(st, 200, NULL, NULL);
		s->st.byes++;
		drop(d);
		break;
	case SIP_OPTIONS:
		s->st.options++;
		sip_txn_respond_simple(st, 200, "opt", ALLOW "Accept: application/sdp\r\n");
		break;
	case SIP_INFO:
		s->st.infos++;
		dtmf_relay(s, req);
		sip_txn_respond_simple(st, d ? 200 : 481, NULL, NULL);
		break;
	default:
		sip_txn_respond_simple(st, 405, NULL, ALLOW);
	}
}

void sip_uas_on_terminated(void *arg, struct sip_txn *t)
{
	struct uas_dialog *d;

	if (sip_txn_kind(t) == SIP_TXN_CLIENT_INVITE || sip_txn_kind(t) == SIP_TXN_CLIENT_NON_INVITE) {
		sip_client_on_terminated(arg, t); /* one transport may carry both roles */
		return;
	}
	d = sip_txn_user(t);
	if (d && sip_txn_kind(t) == SIP_TXN_SERVER_INVITE && d->invite == t)
		d->invite = NULL;
}

struct sip_uas *sip_uas_new(const struct sip_uas_config *cfg)
{
	struct sip_uas *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = *cfg;
	cm_strlcpy(s->contact_user, cfg->contact_user ? cfg->contact_user : "callmeter", sizeof(s->contact_user));
	return s;
}

void sip_uas_attach(struct sip_uas *s, struct sip_tp *tp)
{
	s->tp = tp;
}

void sip_uas_free(struct sip_uas *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < SIP_UAS_BUCKETS; i++)
		while (s->buckets[i])
			drop(s->buckets[i]);
	free(s);
}

const struct sip_uas_stats *sip_uas_stats(const struct sip_uas *s)
{
	return &s->st;
}
