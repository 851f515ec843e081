/* Registration client (RFC 3261 §10.2): REGISTER with Expires, digest challenges answered (401 and 407, stale
 * nonces, nc counting), 423 Interval Too Brief answered with Min-Expires, refresh before expiry from a coarse
 * cp_loop timer, unregister with Expires: 0.  One Call-ID per binding, CSeq incrementing (§10.2.4). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip_internal.h"

#define REG_FIELD_MAX 128

/* The last challenge, kept at its real size (a struct sip_challenge reserves 3 × 256 bytes for realm, nonce and
 * opaque); send_register() expands it on its stack.  With it H(user:realm:password) for its realm and
 * algorithm: every REGISTER answering it (refreshes count nc up on the same nonce) and a new challenge for the
 * same realm and algorithm (a stale nonce) reuse it; another realm or algorithm computes it again (the user
 * and password are the registration's own, fixed from sip_reg_new). */
struct reg_chal {
	bool proxy, qop_auth, stale, has_opaque;
	bool safe;                    /* realm, nonce and opaque hold no CR or LF (send_register's fast path) */
	enum sip_digest_alg alg;
	uint16_t nonce, opaque, ha1;  /* offsets into s; the realm is at 0 */
	char s[];
};

/* One binding.  Everything an idle registered endpoint keeps lives here (issue target ≤ 2 KiB each): the
 * configured strings share one allocation with the struct, the challenge and the failover destinations are
 * allocated at their real size and only when there are any. */
struct sip_reg {
	struct sip_client_handler h;  /* first: the client transactions' user pointer */
	struct sip_tp *tp;
	struct sockaddr_storage dst;  /* where REGISTERs go now */
	const char *domain, *user, *password, *auth_user, *route; /* into str[] */
	char call_id[48], from_tag[24];
	uint32_t cseq;
	uint32_t expires;             /* what we ask for next */
	bool unregistering;
	bool unreg_waits;             /* the unREGISTER waits for the final response to a refresh in flight */
	bool flow_retry;              /* this REGISTER is the one sent again after its connection failed */
	bool built_ok;                /* the configured strings leave REGISTERs parsable: sip_tp_request_built */
	uint8_t auth_tries, tries_423;
	uint8_t nfallback, next_fallback;
	uint32_t nc;
	struct reg_chal *chal;        /* NULL until the first 401/407 */
	struct sockaddr_storage *fallback;
	struct sip_txn *pending;
	struct cp_timer refresh;
	uint64_t first_sent_ms;
	struct sip_reg_stats st;
	sip_reg_cb cb;
	void *arg;
	char str[];
};

static const char *const reg_states[] = { "idle", "registering", "registered", "unregistering", "unregistered",
					  "failed" };

const char *sip_reg_state_name(enum sip_reg_state s)
{
	return (unsigned)s < CM_ARRAY_SIZE(reg_states) ? reg_states[s] : "?";
}

static void set_state(struct sip_reg *r, enum sip_reg_state s)
{
	r->st.state = s;
	if (r->cb)
		r->cb(r, r->arg);
}

static void chal_expand(const struct reg_chal *k, struct sip_challenge *c)
{
	c->proxy = k->proxy;
	c->qop_auth = k->qop_auth;
	c->stale = k->stale;
	c->has_opaque = k->has_opaque;
	c->alg = k->alg;
	/* each came from a field of a struct sip_challenge: they fit */
	strcpy(c->realm, k->s);
	strcpy(c->nonce, k->s + k->nonce);
	strcpy(c->opaque, k->s + k->opaque);
}

/* "<sip:user@domain>": the address of record, in From and To (RFC 3261 §10.2). */
static void aor(struct sip_builder *b, const struct sip_reg *r)
{
	sip_build_lit(b, "<sip:");
	sip_build_cstr(b, r->user);
	sip_build_lit(b, "@");
	sip_build_cstr(b, r->domain);
	sip_build_lit(b, ">");
}

static int send_register(struct sip_reg *r)
{
	char buf[4096], branch[48], rnd[33], auth[1024], ruri[REG_FIELD_MAX + 8];
	struct sip_builder b;
	int n, err;

	if (sip_digest_cnonce(rnd, sizeof(rnd)) < 0)
		return -EIO;
	memcpy(branch, SIP_MAGIC_COOKIE, sizeof(SIP_MAGIC_COOKIE) - 1);
	memcpy(branch + sizeof(SIP_MAGIC_COOKIE) - 1, rnd, sizeof(rnd));
	memcpy(ruri, "sip:", 4);
	cm_strlcpy(ruri + 4, r->domain, sizeof(ruri) - 4);
	r->cseq++;
	sip_build_request(&b, buf, sizeof(buf), "REGISTER", (struct sip_str){ ruri, strlen(ruri) });
	sip_build_lit(&b, "Via: ");
	sip_build_via(&b, r->tp, branch);
	sip_build_lit(&b, "\r\nMax-Forwards: 70\r\n");
	if (r->route[0]) {
		sip_build_lit(&b, "Route: ");
		sip_build_cstr(&b, r->route);
		sip_build_lit(&b, "\r\n");
	}
	sip_build_lit(&b, "From: ");
	aor(&b, r);
	sip_build_lit(&b, ";tag=");
	sip_build_cstr(&b, r->from_tag);
	sip_build_lit(&b, "\r\nTo: ");
	aor(&b, r);
	sip_build_lit(&b, "\r\nCall-ID: ");
	sip_build_cstr(&b, r->call_id);
	sip_build_lit(&b, "\r\nCSeq: ");
	sip_build_uint(&b, r->cseq);
	sip_build_lit(&b, " REGISTER\r\nContact: <");
	sip_build_contact_uri(&b, r->tp, r->user);
	sip_build_lit(&b, ">\r\nExpires: ");
	sip_build_uint(&b, r->unregistering ? 0 : r->expires);
	sip_build_lit(&b, "\r\n");
	if (r->chal) {
		char cnonce[33];
		struct sip_challenge c;

		if (sip_digest_cnonce(cnonce, sizeof(cnonce)) < 0)
			return -EIO;
		chal_expand(r->chal, &c);
		r->nc++;
		n = sip_digest_authorization_ha1(&c, r->chal->s + r->chal->ha1, r->auth_user, "REGISTER", ruri, cnonce,
						 r->nc, auth, sizeof(auth));
		if (n < 0)
			return n;
		sip_build_hdrf(&b, c.proxy ? "Proxy-Authorization" : "Authorization", "%s", auth);
	}
	sip_build_lit(&b, "User-Agent: callmeter/" CM_VERSION "\r\n");
	n = sip_build_finish(&b, NULL, (struct sip_str){ "", 0 });
	if (n < 0)
		return n;
	if (r->built_ok && (!r->chal || r->chal->safe))
		r->pending = sip_tp_request_built(r->tp, buf, (size_t)n, &r->dst, (struct sip_str){ branch, strlen(branch) },
						  SIP_REGISTER, &r->h, &err);
	else
		r->pending = sip_tp_request(r->tp, buf, (size_t)n, &r->dst, &r->h, &err);
	if (!r->pending)
		return err;
	r->st.registers_sent++;
	return 0;
}

/* Keeps challenge c at its real size in place of the previous one, with its HA1 (the previous one's when the
 * realm and algorithm are the same); -ENOMEM or -EIO leaves the previous one. */
static int chal_keep(struct sip_reg *r, const struct sip_challenge *c)
{
	size_t lr = strlen(c->realm) + 1, ln = strlen(c->nonce) + 1, lo = strlen(c->opaque) + 1;
	const struct reg_chal *old = r->chal;
	char ha1[SIP_DIGEST_HEX_MAX + 1];
	size_t lh;
	struct reg_chal *k;

	if (old && old->alg == c->alg && strcmp(old->s, c->realm) == 0)
		cm_strlcpy(ha1, old->s + old->ha1, sizeof(ha1));
	else if (sip_digest_ha1(c->alg, r->auth_user, c->realm, r->password, ha1) < 0)
		return -EIO;
	lh = strlen(ha1) + 1;
	k = malloc(sizeof(*k) + lr + ln + lo + lh);
	if (!k)
		return -ENOMEM;
	*k = (struct reg_chal){ .proxy = c->proxy, .qop_auth = c->qop_auth, .stale = c->stale,
				.has_opaque = c->has_opaque, .alg = c->alg, .nonce = (uint16_t)lr,
				.opaque = (uint16_t)(lr + ln), .ha1 = (uint16_t)(lr + ln + lo),
				.safe = sip_hdr_safe(c->realm) && sip_hdr_safe(c->nonce) && sip_hdr_safe(c->opaque) };
	memcpy(k->s, c->realm, lr);
	memcpy(k->s + lr, c->nonce, ln);
	memcpy(k->s + lr + ln, c->opaque, lo);
	memcpy(k->s + k->ha1, ha1, lh);
	free(r->chal);
	r->chal = k;
	return 0;
}

/* The HA1 send_register() answers the kept challenge with (tests: the cache follows the realm). */
const char *sip_reg_ha1(const struct sip_reg *r)
{
	return r->chal ? r->chal->s + r->chal->ha1 : NULL;
}

static void fail(struct sip_reg *r, unsigned status)
{
	r->st.last_status = status;
	cp_timer_stop(sip_tp_loop(r->tp), &r->refresh);
	set_state(r, SIP_REG_FAILED);
}

static void on_refresh(struct cp_loop *loop, void *arg)
{
	struct sip_reg *r = arg;

	(void)loop;
	r->st.refreshes++;
	r->auth_tries = 0;
	if (send_register(r) < 0)
		fail(r, 503);
}

/* Our binding in a Contact of the registrar's answer: our user at our address and port (an IPv6 host is in
 * brackets in the URI, not in the transport's address; a port left out is the scheme's default). */
static bool our_binding(const struct sip_reg *r, const struct sip_uri *u)
{
	struct sip_str host = u->host;
	const char *ip = sip_tp_local_ip(r->tp);
	uint16_t port = u->port ? u->port : u->scheme == SIP_SCHEME_SIPS ? 5061 : 5060;

	if (host.len >= 2 && host.p[0] == '[') {
		host.p++;
		host.len -= 2;
	}
	return sip_str_eq(u->user, r->user) && port == sip_tp_port(r->tp) && host.len == strlen(ip) &&
	       strncasecmp(host.p, ip, host.len) == 0;
}

/* The interval granted to our binding: its Contact expires parameter, else the Expires header. */
static uint32_t granted(const struct sip_reg *r, const struct sip_msg *m)
{
	uint32_t v = r->expires;
	const char *why;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTACT); h; h = sip_msg_next_hdr(m, h)) {
		struct sip_str rest = h->value, elem, ex;
		struct sip_addr a;

		while (sip_next_value(&rest, &elem) > 0)
			if (sip_parse_addr(elem, &a, &why) == 0 && our_binding(r, &a.uri) &&
			    sip_param_get(a.params, "expires", &ex) && sip_parse_uint(ex, SIP_MAX_EXPIRES, &v, &why) == 0)
				return v;
	}
	if (sip_msg_hdr(m, SIP_HDR_EXPIRES))
		sip_parse_uint(sip_msg_hdr(m, SIP_HDR_EXPIRES)->value, SIP_MAX_EXPIRES, &v, &why);
	return v;
}

/* RFC 3263 §4.3: this destination did not answer, its connection failed, or it answered 503: the REGISTER goes
 * to the next one.  false when none is left. */
static bool next_destination(struct sip_reg *r)
{
	while (r->next_fallback < r->nfallback) {
		r->dst = r->fallback[r->next_fallback++];
		r->st.failovers++;
		if (send_register(r) == 0)
			return true;
	}
	return false;
}

static void on_response(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *m)
{
	struct sip_reg *r = (struct sip_reg *)h;
	struct cp_loop *loop = sip_tp_loop(r->tp);
	const char *why;

	if (m->status < 200)
		return;
	/* the transaction is done for us: forget it, so only an in-flight one ever points back here */
	sip_txn_set_user(ct, NULL);
	if (r->pending != ct)
		return;
	r->pending = NULL;
	r->flow_retry = false;
	if (r->unreg_waits) {
		/* the refresh the unREGISTER waited for is answered: a challenge is answered by the unREGISTER
		 * (r->unregistering makes it one) below, anything else sends it now */
		r->unreg_waits = false;
		if (m->status != 401 && m->status != 407) {
			if (send_register(r) < 0)
				fail(r, 503);
			return;
		}
	}
	r->st.last_status = m->status;
	if (m->status < 300) {
		r->st.ok++;
		r->auth_tries = 0;
		r->tries_423 = 0;
		if (r->unregistering) {
			set_state(r, SIP_REG_UNREGISTERED);
			return;
		}
		r->st.granted_s = granted(r, m);
		if (r->st.time_to_register_ms == 0)
			r->st.time_to_register_ms = cp_loop_now_ms(loop) - r->first_sent_ms + 1;
		if (r->st.granted_s == 0) {
			fail(r, m->status); /* the registrar dropped our binding */
			return;
		}
		/* refresh ahead of expiry: SIP_REG_REFRESH_MARGIN_S early, or at half the interval if shorter */
		uint64_t g = r->st.granted_s, at = g > 2 * SIP_REG_REFRESH_MARGIN_S ? g - SIP_REG_REFRESH_MARGIN_S : g / 2;
		cp_timer_start(loop, &r->refresh, at ? at * 1000 : 500);
		if (r->st.state != SIP_REG_REGISTERED)
			set_state(r, SIP_REG_REGISTERED);
		return;
	}
	if (m->status == 503 && next_destination(r))
		return;
	if (m->status == 401 || m->status == 407) {
		struct sip_challenge c;
		r->st.challenges++;
		if (sip_digest_challenge_from_msg(m, &c, &why) < 0 || !r->password[0]) {
			fail(r, m->status);
			return;
		}
		/* a stale nonce means the password was right: it does not count against the credentials */
		if (!c.stale && ++r->auth_tries > SIP_REG_MAX_AUTH_TRIES) {
			fail(r, m->status);
			return;
		}
		if (!r->chal || strcmp(c.nonce, r->chal->s + r->chal->nonce) != 0)
			r->nc = 0;
		if (chal_keep(r, &c) < 0 || send_register(r) < 0)
			fail(r, m->status);
		return;
	}
	if (m->status == 423 && !r->unregistering && ++r->tries_423 <= SIP_REG_MAX_423) {
		const struct sip_hdr *me = sip_msg_hdr(m, SIP_HDR_MIN_EXPIRES);
		uint32_t min;
		r->st.interval_too_brief++;
		if (me && sip_parse_uint(me->value, SIP_MAX_EXPIRES, &min, &why) == 0 && min > r->expires) {
			r->expires = min;
			if (send_register(r) == 0)
				return;
		}
	}
	fail(r, m->status);
}

static void on_timeout(struct sip_client_handler *h, struct sip_txn *ct)
{
	struct sip_reg *r = (struct sip_reg *)h;

	sip_txn_set_user(ct, NULL);
	if (r->pending != ct)
		return;
	r->pending = NULL;
	/* A refresh or unREGISTER whose connection failed (a transport error, not an answer: the registrar
	 * restarted, a keep-alive found the flow dead) goes again at once over a new connection (RFC 5626 §4.4.1),
	 * once.  When an unREGISTER waited for that refresh, what goes is the unREGISTER (r->unregistering). */
	if (sip_txn_last_status(ct) == 503 && !r->flow_retry &&
	    (r->st.state == SIP_REG_REGISTERED || r->st.state == SIP_REG_UNREGISTERING)) {
		r->unreg_waits = false;
		r->flow_retry = true;
		if (send_register(r) == 0)
			return;
	}
	r->flow_retry = false;
	r->unreg_waits = false; /* no answer to the refresh: the unREGISTER goes to the next destination, if any */
	if (next_destination(r))
		return;
	/* no answer: 408; the connection failed (stream transports): 503 (RFC 3261 §8.1.3.1) */
	fail(r, sip_txn_last_status(ct) == 503 ? 503 : 408);
}

static void on_terminated(struct sip_client_handler *h, struct sip_txn *ct)
{
	struct sip_reg *r = (struct sip_reg *)h;

	if (r->pending == ct)
		r->pending = NULL;
}

/* The configured strings, each at most REG_FIELD_MAX − 1 bytes, packed after the struct. */
struct sip_reg *sip_reg_new(struct sip_tp *tp, const struct sip_reg_config *cfg, sip_reg_cb cb, void *arg)
{
	const char *src[] = { cfg->domain, cfg->user, cfg->password, cfg->auth_user ? cfg->auth_user : cfg->user,
			      cfg->route };
	const char **dst[CM_ARRAY_SIZE(src)];
	size_t len[CM_ARRAY_SIZE(src)], total = 0;
	struct sip_reg *r;
	char rnd[33], *p;

	if (!cfg->domain || !cfg->user || !cfg->domain[0] || !cfg->user[0])
		return NULL;
	for (size_t i = 0; i < CM_ARRAY_SIZE(src); i++) {
		len[i] = strlen(src[i] ? src[i] : "") + 1;
		if (len[i] > REG_FIELD_MAX)
			return NULL;
		total += len[i];
	}
	r = calloc(1, sizeof(*r) + total);
	if (!r)
		return NULL;
	dst[0] = &r->domain, dst[1] = &r->user, dst[2] = &r->password, dst[3] = &r->auth_user, dst[4] = &r->route;
	p = r->str;
	for (size_t i = 0; i < CM_ARRAY_SIZE(src); i++) {
		memcpy(p, src[i] ? src[i] : "", len[i]);
		*dst[i] = p;
		p += len[i];
	}
	r->h = (struct sip_client_handler){ .on_response = on_response, .on_timeout = on_timeout,
					    .on_terminated = on_terminated };
	r->tp = tp;
	r->dst = cfg->dst;
	r->nfallback = (uint8_t)(cfg->fallback ? (cfg->nfallback < SIP_DNS_MAX_TARGETS ? cfg->nfallback : SIP_DNS_MAX_TARGETS) : 0);
	if (r->nfallback) {
		r->fallback = malloc(r->nfallback * sizeof(r->fallback[0]));
		if (!r->fallback)
			goto free_r;
		memcpy(r->fallback, cfg->fallback, r->nfallback * sizeof(r->fallback[0]));
	}
	if (sip_digest_cnonce(rnd, sizeof(rnd)) < 0)
		goto free_r;
	memcpy(r->call_id, rnd, 32);
	memcpy(r->call_id + 32, "@callmeter", sizeof("@callmeter"));
	memcpy(r->from_tag, rnd, 16);
	r->from_tag[16] = '\0';
	r->expires = cfg->expires ? cfg->expires : 3600;
	r->built_ok = sip_ruri_safe(r->domain) && sip_hdr_safe(r->user) && sip_hdr_safe(r->auth_user) &&
		      sip_hdr_safe(r->route);
	r->cb = cb;
	r->arg = arg;
	cp_timer_init(&r->refresh, on_refresh, r);
	return r;

free_r:
	free(r->fallback);
	free(r);
	return NULL;
}

int sip_reg_start(struct sip_reg *r)
{
	int rc;

	r->unregistering = false;
	r->first_sent_ms = cp_loop_now_ms(sip_tp_loop(r->tp));
	if (r->first_sent_ms == 0)
		r->first_sent_ms = cm_now_ms();
	set_state(r, SIP_REG_REGISTERING);
	rc = send_register(r);
	if (rc < 0)
		fail(r, 503);
	return rc;
}

int sip_reg_stop(struct sip_reg *r)
{
	int rc;

	cp_timer_stop(sip_tp_loop(r->tp), &r->refresh);
	if (r->st.state != SIP_REG_REGISTERED)
		return 0;
	r->unregistering = true;
	r->auth_tries = 0;
	set_state(r, SIP_REG_UNREGISTERING);
	if (r->pending) { /* a refresh in flight: one REGISTER at a time (RFC 3261 §10.2) */
		r->unreg_waits = true;
		return 0;
	}
	rc = send_register(r);
	if (rc < 0)
		fail(r, 503);
	return rc;
}

void sip_reg_free(struct sip_reg *r)
{
	if (!r)
		return;
	cp_timer_stop(sip_tp_loop(r->tp), &r->refresh);
	if (r->pending)
		sip_txn_set_user(r->pending, NULL);
	free(r->chal);
	free(r->fallback);
	free(r);
}

const struct sockaddr_storage *sip_reg_dst(const struct sip_reg *r)
{
	return &r->dst;
}

int sip_reg_refresh(struct sip_reg *r)
{
	if (r->st.state != SIP_REG_REGISTERED || r->pending)
		return -EINVAL;
	cp_timer_start(sip_tp_loop(r->tp), &r->refresh, 0);
	return 0;
}

const struct sip_reg_stats *sip_reg_stats(const struct sip_reg *r)
{
	return &r->st;
}
