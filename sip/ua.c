/* The user agent core of one transport: the transaction user that routes what arrives to the calls.
 *
 * Requests with a To tag belong to a dialog: found by Call-ID + our tag, or 481 (§12.2.2).  Without one: a new
 * INVITE goes to the owner's incoming callback (Request-URI user -> the answer settings, or a status to refuse
 * with), a retransmitted INVITE and a CANCEL to the received call with that Call-ID and From tag, OPTIONS is
 * answered here, anything else gets 405.  A 2xx with no client transaction left goes to the call that placed
 * the INVITE (to be ACKed again); every other client event goes on to sip_client_on_* (registrations). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/common.h"
#include "sip/call_internal.h"

#define ALLOW_HDRS "Allow: " SIP_ALLOW "\r\n"

uint64_t sip_ua_random(struct sip_ua *ua)
{
	ua->rng ^= ua->rng >> 12;
	ua->rng ^= ua->rng << 25;
	ua->rng ^= ua->rng >> 27;
	return ua->rng * 2685821657736338717ull;
}

void sip_sdp_local_copy(struct sdp_local *dst, const struct sdp_local *src, char *addr, size_t addr_len,
			char *suite, size_t suite_len, char *key, size_t key_len)
{
	*dst = *src;
	cm_strlcpy(addr, src->addr ? src->addr : "", addr_len);
	dst->addr = addr;
	if (src->crypto_suite) {
		cm_strlcpy(suite, src->crypto_suite, suite_len);
		cm_strlcpy(key, src->crypto_key ? src->crypto_key : "", key_len);
		dst->crypto_suite = suite;
		dst->crypto_key = key;
	}
}

static struct sip_str tag_of(const struct sip_msg *m, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr(m, id);
	struct sip_addr a;
	const char *why;

	if (!h || sip_parse_addr(h->value, &a, &why) < 0)
		return (struct sip_str){ "", 0 };
	return a.tag;
}

static void new_invite(struct sip_ua *ua, struct sip_txn *st, const struct sip_msg *req,
		       const struct sockaddr_storage *src)
{
	struct sip_answer a = ua->cfg.answer;
	const struct sip_call_handler *h = NULL;
	void *harg = NULL;
	struct sip_uri u;
	const char *why;
	unsigned refuse = 0;

	ua->st.invites++;
	if (sip_msg_hdr(req, SIP_HDR_CALL_ID)->value.len >= SIP_CALL_FIELD_MAX) {
		sip_txn_respond_simple(st, 400, NULL, NULL);
		return;
	}
	if (ua->cfg.incoming) {
		if (sip_parse_uri(req->ruri, &u, &why) < 0)
			refuse = 404;
		else
			refuse = ua->cfg.incoming(ua->cfg.arg, u.user, req, &a, &h, &harg);
	}
	if (refuse) {
		ua->st.refused++;
		sip_txn_respond_simple(st, refuse, NULL, NULL);
		return;
	}
	sip_call_incoming(ua, st, req, src, &a, h, harg);
}

static void on_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	struct sip_ua *ua = arg;
	struct sip_str call_id = sip_msg_hdr(req, SIP_HDR_CALL_ID)->value;
	struct sip_str to_tag = tag_of(req, SIP_HDR_TO);
	struct sip_call *c = sip_call_find(&ua->calls, call_id, to_tag, tag_of(req, SIP_HDR_FROM));

	if (req->method_id == SIP_OPTIONS && !c) {
		ua->st.options++;
		if (st)
			sip_txn_respond_simple(st, 200, NULL, ALLOW_HDRS "Accept: application/sdp\r\n");
		return;
	}
	if (c) {
		sip_call_request(c, st, req);
		return;
	}
	if (!st) /* an ACK for a call that is gone */
		return;
	if (req->method_id == SIP_INVITE && to_tag.len == 0)
		new_invite(ua, st, req, src);
	else if (req->method_id == SIP_INVITE || req->method_id == SIP_BYE || req->method_id == SIP_CANCEL ||
		 req->method_id == SIP_INFO || to_tag.len)
		sip_txn_respond_simple(st, 481, NULL, NULL);
	else
		sip_txn_respond_simple(st, 405, NULL, ALLOW_HDRS);
}

static void on_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp)
{
	struct sip_ua *ua = arg;
	struct sip_call *c;

	if (ct) {
		sip_client_on_response(arg, ct, resp);
		return;
	}
	if (resp->status < 200 || resp->status >= 300)
		return;
	c = sip_call_find(&ua->calls, sip_msg_hdr(resp, SIP_HDR_CALL_ID)->value, tag_of(resp, SIP_HDR_FROM),
			  (struct sip_str){ NULL, 0 });
	if (c)
		sip_call_stray_2xx(c, resp);
}

static void on_terminated(void *arg, struct sip_txn *t)
{
	if (sip_txn_kind(t) == SIP_TXN_SERVER_INVITE) {
		if (sip_txn_user(t))
			sip_call_txn_gone(sip_txn_user(t), t);
		return;
	}
	sip_client_on_terminated(arg, t);
}

const struct sip_txn_user_ops sip_ua_txn_ops = {
	.on_request = on_request,
	.on_response = on_response,
	.on_timeout = sip_client_on_timeout, /* server transactions' timeouts (Timer H) need nothing */
	.on_terminated = on_terminated,
};

struct sip_ua *sip_ua_new(const struct sip_ua_config *cfg)
{
	struct sip_ua *ua = calloc(1, sizeof(*ua));

	if (!ua)
		return NULL;
	ua->cfg = *cfg;
	sip_sdp_local_copy(&ua->cfg.answer.media, &cfg->answer.media, ua->media_addr, sizeof(ua->media_addr),
			   ua->crypto_suite, sizeof(ua->crypto_suite), ua->crypto_key, sizeof(ua->crypto_key));
	cm_strlcpy(ua->contact_user, cfg->answer.contact_user ? cfg->answer.contact_user : "callmeter",
		   sizeof(ua->contact_user));
	ua->cfg.answer.contact_user = ua->contact_user;
	if (getrandom(&ua->rng, sizeof(ua->rng), 0) != sizeof(ua->rng) || !ua->rng)
		ua->rng = cm_now_us() | 1;
	ua->calls.mask = 1023;
	ua->calls.b = calloc(ua->calls.mask + 1, sizeof(*ua->calls.b));
	if (!ua->calls.b) {
		free(ua);
		return NULL;
	}
	return ua;
}

void sip_ua_attach(struct sip_ua *ua, struct sip_tp *tp)
{
	ua->tp = tp;
	ua->loop = sip_tp_loop(tp);
}

void sip_ua_free(struct sip_ua *ua)
{
	if (!ua)
		return;
	sip_call_table_free(&ua->calls);
	sip_call_spares_free(ua);
	free(ua);
}

const struct sip_ua_stats *sip_ua_stats(const struct sip_ua *ua)
{
	return &ua->st;
}
