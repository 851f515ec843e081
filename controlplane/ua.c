/* The SIP user agent behind the endpoint engine: the transaction user of sip/'s transaction layer.
 *
 * Each group has one UDP socket (its local_ip:local_port) and its own transaction layer; an endpoint is found
 * from the user part of a Request-URI (a hash of "user" per group), its dialogs from the Call-ID.  Outgoing
 * Call-IDs carry the endpoint index so that a stray 2xx retransmission finds its dialog in O(1).
 *
 * Registration is sip/'s client (struct sip_reg: digest, 423, refresh, unregister), one per endpoint.
 * UAC: INVITE with an SDP offer, ACK for 2xx (end to end, RFC 3261 §13.2.2.4), BYE, CANCEL before the answer.
 * UAS: 180 then 200 with an SDP answer after the group's ring time, or the group's rejection; CANCEL (200 +
 * 487), BYE, OPTIONS.  Dialog route sets come from Record-Route (§12.1), so calls work through a proxy.
 * Not here yet: 2xx retransmission by the UAS core until the ACK (§13.3.1.4), re-INVITE, TCP/TLS. */
#include <arpa/inet.h>
#include <errno.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "codecs/codecs.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"

#define UA_MSG_MAX 4096
#define UA_SDP_MAX 2048
#define UA_URI_MAX 160
#define UA_ROUTE_MAX 512
#define UA_DTMF_PT 101
#define UA_MAX_AUTH_TRIES 2
#define UA_DNS_WAIT_MS 10000 /* names are resolved at setup within this */

#define NO_BODY ((struct sip_str){ "", 0 })

enum ua_kind { UA_OUT = 1, UA_IN };
enum dlg_state { DLG_IDLE, DLG_CALLING, DLG_EARLY, DLG_CONFIRMED, DLG_ENDING };

struct ua_ep;

/* A dialog (or the attempt at one).  The handler first: transactions' user pointer points here (sip/'s
 * client-handler convention; server transactions point here too). */
struct ua_dlg {
	struct sip_client_handler h;
	uint8_t kind;
	uint8_t state;
	uint8_t auth_tries;
	bool answered;             /* UAS: 200 sent / UAC: 2xx received */
	struct ua_ep *ep;
	char call_id[64];
	char local_tag[24];
	char remote_tag[64];
	char remote_uri[UA_URI_MAX];   /* the peer's AOR (To of our INVITE, From of theirs) */
	char remote_target[UA_URI_MAX];/* the peer's Contact */
	char route[UA_ROUTE_MAX];      /* Route header value for in-dialog requests, empty: none */
	struct sockaddr_storage next_hop;
	uint32_t cseq;
	uint32_t invite_cseq;
	char invite_branch[40];
	char ruri[UA_URI_MAX];         /* of the INVITE */
	struct sip_txn *invite_txn;    /* UAC: client INVITE; UAS: server INVITE */
	char *sdp_answer;              /* UAS: built at INVITE time, sent with the 200 */
	struct cp_call_media media;
	struct cp_timer ring;          /* UAS: ring time */
	uint8_t srtp_key[30];          /* our SDES master key||salt for this call */
	char srtp_key_b64[48];
};

struct ua_ep {
	struct cp_ua *ua;
	uint32_t idx;
	uint16_t group;
	char user[64];
	char password[64];
	struct sip_reg *reg;
	bool unregistering;
	bool registered_once;
	struct ua_dlg out, in;
};

struct ua_group {
	struct cp_ua *ua;
	const struct cfg_group *cfg;
	struct sip_tp *tp;
	char ip[48];
	uint16_t port;
	char domain[CFG_HOST_MAX];
	struct sockaddr_storage registrar;   /* also where calls go when the group registers (the proxy) */
	bool has_registrar;
	struct sockaddr_storage reg_fallback[SIP_DNS_MAX_TARGETS]; /* the registrar's other DNS destinations */
	unsigned nreg_fallback;
	struct ua_locate {                   /* a name being resolved at setup: [0] registrar, [1] target */
		struct ua_group *g;
		char host[CFG_HOST_MAX];
		uint16_t port;
		bool pending;
		const char *error;
	} loc[2];
	struct sdp_codec codecs[CFG_MAX_CODECS];
	char fmtp[CFG_MAX_CODECS][128];
	uint32_t first_ep;
};

struct cp_ua {
	struct cp_loop *loop;
	const struct cfg_plan *plan;
	struct cp_media *media;
	struct cp_engine *engine;
	struct ua_group groups[CFG_MAX_GROUPS];
	struct sip_dns *dns;
	unsigned dns_pending;
	struct ua_ep *eps;
	uint32_t n;
	uint32_t *hash;                      /* open addressing: endpoint index + 1, 0 empty */
	uint32_t hash_mask;
	uint64_t rng;
	uint64_t sess_id;
};

/* ---- small helpers ---------------------------------------------------------------------------------------- */

static uint64_t rnd(struct cp_ua *ua)
{
	/* xorshift64*: identifiers only need to be unique, not secret */
	ua->rng ^= ua->rng >> 12;
	ua->rng ^= ua->rng << 25;
	ua->rng ^= ua->rng >> 27;
	return ua->rng * 2685821657736338717ull;
}

static void rnd_hex(struct cp_ua *ua, char *out, size_t len)
{
	snprintf(out, len, "%016llx", (unsigned long long)rnd(ua));
}

static uint32_t hash_user(uint16_t group, const char *p, size_t len)
{
	uint32_t h = 2166136261u ^ group;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static struct ua_ep *find_ep(struct cp_ua *ua, uint16_t group, struct sip_str user)
{
	for (uint32_t i = hash_user(group, user.p, user.len) & ua->hash_mask;; i = (i + 1) & ua->hash_mask) {
		struct ua_ep *ep;

		if (!ua->hash[i])
			return NULL;
		ep = &ua->eps[ua->hash[i] - 1];
		if (ep->group == group && strlen(ep->user) == user.len && memcmp(ep->user, user.p, user.len) == 0)
			return ep;
	}
}

static void copy_str(char *dst, size_t len, struct sip_str s)
{
	size_t n = s.len < len - 1 ? s.len : len - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* Names the UA sends to are resolved once, at setup, through sip/'s resolver on the loop (RFC 3263: SRV, then
 * A); a host and the port as written (0: none) map to the first destination found.  Nothing blocks later. */
#define UA_NAMES_MAX 64
static struct ua_name {
	char host[CFG_HOST_MAX];
	uint16_t port;
	struct sockaddr_storage addr;
} names[UA_NAMES_MAX];
static unsigned nnames;

static void name_learn(const char *host, uint16_t port, const struct sockaddr_storage *addr)
{
	for (unsigned i = 0; i < nnames; i++)
		if (names[i].port == port && strcasecmp(names[i].host, host) == 0) {
			names[i].addr = *addr;
			return;
		}
	if (nnames < UA_NAMES_MAX) {
		cm_strlcpy(names[nnames].host, host, sizeof(names[nnames].host));
		names[nnames].port = port;
		names[nnames++].addr = *addr;
	}
}

/* host[:port]: a numeric address, or a name resolved at setup.  -EHOSTUNREACH for any other name. */
static int resolve(const char *hostport, uint16_t default_port, struct sockaddr_storage *out)
{
	char host[CFG_HOST_MAX];
	uint16_t p;

	if (cfg_parse_hostport(hostport, 0, host, sizeof(host), &p) < 0)
		return -EINVAL;
	if (sip_addr_from(out, host, p ? p : default_port) == 0)
		return 0;
	for (unsigned i = 0; i < nnames; i++)
		if (names[i].port == p && strcasecmp(names[i].host, host) == 0) {
			*out = names[i].addr;
			return 0;
		}
	return -EHOSTUNREACH;
}

/* Where a request to `uri` goes: host and port of a sip: URI; without a port 5061 for sips: and ;transport=tls
 * (RFC 3263 §4.2), else 5060. */
static int resolve_uri(const char *uri, struct sockaddr_storage *out)
{
	struct sip_uri u;
	struct sip_str tp;
	const char *why;
	char hp[CFG_HOST_MAX + 8], host[CFG_HOST_MAX];
	bool tls;

	if (sip_parse_uri((struct sip_str){ uri, strlen(uri) }, &u, &why) < 0)
		return -EINVAL;
	copy_str(host, sizeof(host), u.host);
	tls = u.scheme == SIP_SCHEME_SIPS || (sip_param_get(u.params, "transport", &tp) && sip_str_caseeq(tp, "tls"));
	if (u.port)
		snprintf(hp, sizeof(hp), "%s:%u", host, u.port);
	else
		cm_strlcpy(hp, host, sizeof(hp));
	return resolve(hp, tls ? 5061 : 5060, out);
}

static struct ua_group *grp(struct ua_ep *ep)
{
	return &ep->ua->groups[ep->group];
}

static void contact(struct ua_ep *ep, char *out, size_t len)
{
	snprintf(out, len, "<sip:%s@%s:%u%s>", ep->user, grp(ep)->ip, grp(ep)->port, sip_tp_uri_param(grp(ep)->tp));
}

static void via(struct ua_group *g, char *branch, size_t blen, struct cp_ua *ua, char *out, size_t len)
{
	char r[20];

	rnd_hex(ua, r, sizeof(r));
	snprintf(branch, blen, SIP_MAGIC_COOKIE "%s", r);
	snprintf(out, len, "SIP/2.0/%s %s:%u;branch=%s;rport", sip_tp_via_token(g->tp), g->ip, g->port, branch);
}

static int send_request(struct ua_group *g, const char *buf, int len, const struct sockaddr_storage *dst,
			void *user, struct sip_txn **txn)
{
	int err = 0;
	struct sip_txn *t;

	if (len < 0)
		return len;
	t = sip_tp_request(g->tp, buf, (size_t)len, dst, user, &err);
	if (!t)
		return err ? err : -EIO;
	if (txn)
		*txn = t;
	return 0;
}

/* ---- registration: sip/'s client, reported to the engine ------------------------------------------------- */

static void reg_changed(struct sip_reg *r, void *arg)
{
	struct ua_ep *ep = arg;
	const struct sip_reg_stats *st = sip_reg_stats(r);
	struct cp_engine *e = ep->ua->engine;
	uint16_t code = (uint16_t)st->last_status;

	switch (st->state) {
	case SIP_REG_REGISTERED:
		grp(ep)->registrar = *sip_reg_dst(r); /* RFC 3263 §4.3: calls follow the destination that answered */
		if (!ep->registered_once) { /* refreshes are the registration client's business */
			ep->registered_once = true;
			cp_engine_on_registered(e, ep->idx, code ? code : 200, NULL);
		}
		break;
	case SIP_REG_UNREGISTERED:
		cp_engine_on_registered(e, ep->idx, code ? code : 200, NULL);
		break;
	case SIP_REG_FAILED:
		if (ep->unregistering || ep->registered_once)
			cp_engine_on_registered(e, ep->idx, code >= 300 ? code : 500, "unREGISTER failed");
		else
			cp_engine_on_registered(e, ep->idx, code == 408 ? 0 : code,
						code == 408 ? "no answer from the registrar" : sip_reason_phrase(code));
		break;
	default:
		break;
	}
}

static int ua_reg(void *arg, uint32_t idx, uint32_t expires)
{
	struct cp_ua *ua = arg;
	struct ua_ep *ep = &ua->eps[idx];

	if (!ep->reg)
		return -EINVAL;
	ep->unregistering = expires == 0;
	return expires ? sip_reg_start(ep->reg) : sip_reg_stop(ep->reg);
}

/* ---- calls: UAC ------------------------------------------------------------------------------------------- */

#define UA_SRTP_SUITE "AES_CM_128_HMAC_SHA1_80"

/* A fresh SDES master key for a call (RFC 4568 §6.1: key||salt, base64 in the a=crypto line). */
static int new_srtp_key(struct ua_dlg *d)
{
	if (getrandom(d->srtp_key, sizeof(d->srtp_key), 0) != sizeof(d->srtp_key))
		return -EIO;
	EVP_EncodeBlock((unsigned char *)d->srtp_key_b64, d->srtp_key, sizeof(d->srtp_key));
	return 0;
}

static void local_sdp(struct ua_ep *ep, bool incoming, struct sdp_local *l, char *ip, size_t iplen)
{
	struct ua_group *g = grp(ep);
	struct ua_dlg *d = incoming ? &ep->in : &ep->out;

	memset(l, 0, sizeof(*l));
	cp_media_local(ep->ua->media, CP_LEG(ep->idx, incoming), ip, iplen, &l->port);
	l->addr = ip;
	l->sess_id = ep->ua->sess_id + ep->idx;
	l->sess_version = 1;
	l->codecs = g->codecs;
	l->ncodecs = g->cfg->ncodecs;
	l->dtmf_pt = g->cfg->dtmf == CFG_DTMF_RFC4733 ? UA_DTMF_PT : 0;
	l->ptime = g->cfg->ptime_ms;
	l->dir = SDP_SENDRECV;
	if (g->cfg->srtp != CFG_SRTP_OFF) {
		l->crypto_suite = UA_SRTP_SUITE;
		l->crypto_key = d->srtp_key_b64;
		l->srtp_required = g->cfg->srtp == CFG_SRTP_MANDATORY;
	}
}

/* Headers every request inside (or establishing) a dialog carries. */
static void dialog_headers(struct sip_builder *b, struct ua_dlg *d, const char *via_val, const char *method,
			   uint32_t cseq)
{
	struct ua_ep *ep = d->ep;

	/* the same for both roles (§12.2.1.1): From is us, To the peer, with its tag once we know one */
	sip_build_hdrf(b, "Via", "%s", via_val);
	sip_build_hdrf(b, "Max-Forwards", "70");
	if (d->route[0])
		sip_build_hdrf(b, "Route", "%s", d->route);
	sip_build_hdrf(b, "From", "<sip:%s@%s>;tag=%s", ep->user, grp(ep)->domain, d->local_tag);
	sip_build_hdrf(b, "To", "<%s>%s%s", d->remote_uri, d->remote_tag[0] ? ";tag=" : "", d->remote_tag);
	sip_build_hdrf(b, "Call-ID", "%s", d->call_id);
	sip_build_hdrf(b, "CSeq", "%u %s", cseq, method);
}

static int invite_send(struct ua_dlg *d, const char *auth_hdr, const char *auth_val)
{
	struct ua_ep *ep = d->ep;
	struct ua_group *g = grp(ep);
	struct sip_builder b;
	struct sdp_local l;
	char buf[UA_MSG_MAX], sdp[UA_SDP_MAX], v[160], cont[UA_URI_MAX], ip[48];
	int sdplen;

	local_sdp(ep, false, &l, ip, sizeof(ip));
	sdplen = sdp_build_offer(&l, sdp, sizeof(sdp));
	if (sdplen < 0)
		return sdplen;
	via(g, d->invite_branch, sizeof(d->invite_branch), ep->ua, v, sizeof(v));
	contact(ep, cont, sizeof(cont));
	d->invite_cseq = ++d->cseq;
	sip_build_request(&b, buf, sizeof(buf), "INVITE", (struct sip_str){ d->ruri, strlen(d->ruri) });
	dialog_headers(&b, d, v, "INVITE", d->invite_cseq);
	sip_build_hdrf(&b, "Contact", "%s", cont);
	sip_build_hdrf(&b, "Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS");
	if (auth_hdr)
		sip_build_hdrf(&b, auth_hdr, "%s", auth_val);
	sip_build_hdrf(&b, "User-Agent", "callmeter/%s", CM_VERSION);
	return send_request(g, buf, sip_build_finish(&b, "application/sdp", (struct sip_str){ sdp, (size_t)sdplen }),
			    &d->next_hop, d, &d->invite_txn);
}

static int ua_call(void *arg, uint32_t idx, int64_t callee, const char *uri)
{
	struct cp_ua *ua = arg;
	struct ua_ep *ep = &ua->eps[idx];
	struct ua_group *g = grp(ep);
	struct ua_dlg *d = &ep->out;
	char r[20];
	int rc;

	memset(d->remote_tag, 0, sizeof(d->remote_tag));
	d->route[0] = '\0';
	d->answered = false;
	d->auth_tries = 0;
	d->invite_txn = NULL;
	rnd_hex(ua, r, sizeof(r));
	snprintf(d->call_id, sizeof(d->call_id), "cm%u-%s@%s", idx, r, g->ip);
	rnd_hex(ua, d->local_tag, sizeof(d->local_tag));
	if (callee >= 0) {
		struct ua_ep *to = &ua->eps[callee];
		struct ua_group *tg = grp(to);
		if (g->has_registrar) {
			/* through the registrar/proxy, addressed to the callee's AOR */
			snprintf(d->ruri, sizeof(d->ruri), "sip:%s@%s", to->user, tg->domain);
			d->next_hop = g->registrar;
		} else {
			const char *ip = tg->ip;
			uint16_t port = tg->port;

			/* a callee on another worker of a gateway run: the address its part reported */
			if (!cfg_plan_ep_here(ua->plan, (uint32_t)callee) &&
			    cfg_plan_remote_addr(ua->plan, (uint32_t)callee, &ip, &port) < 0)
				return -EHOSTUNREACH;
			snprintf(d->ruri, sizeof(d->ruri), "sip:%s@%s:%u", to->user, ip, port);
			if (sip_addr_from(&d->next_hop, ip, port) < 0)
				return -EHOSTUNREACH;
		}
	} else {
		cm_strlcpy(d->ruri, uri, sizeof(d->ruri));
		if (g->has_registrar)
			d->next_hop = g->registrar;
		else if (resolve_uri(uri, &d->next_hop) < 0)
			return -EHOSTUNREACH;
	}
	cm_strlcpy(d->remote_uri, d->ruri, sizeof(d->remote_uri));
	if (g->cfg->srtp != CFG_SRTP_OFF && new_srtp_key(d) < 0)
		return -EIO;
	d->state = DLG_CALLING;
	rc = invite_send(d, NULL, NULL);
	if (rc < 0)
		d->state = DLG_IDLE;
	return rc;
}

/* ACK for a 2xx: a new request of its own, straight to the remote target (or the first route). */
static void send_ack(struct ua_dlg *d)
{
	struct ua_group *g = grp(d->ep);
	struct sip_builder b;
	char buf[UA_MSG_MAX], v[160], branch[40];
	const char *target = d->remote_target[0] ? d->remote_target : d->ruri;
	int len;

	via(g, branch, sizeof(branch), d->ep->ua, v, sizeof(v));
	sip_build_request(&b, buf, sizeof(buf), "ACK", (struct sip_str){ target, strlen(target) });
	dialog_headers(&b, d, v, "ACK", d->invite_cseq);
	len = sip_build_finish(&b, NULL, NO_BODY);
	if (len > 0)
		sip_tp_send(g->tp, &d->next_hop, buf, (size_t)len);
}

/* An in-dialog request (BYE) or CANCEL, as a client transaction. */
static int dialog_request(struct ua_dlg *d, const char *method)
{
	struct ua_group *g = grp(d->ep);
	struct sip_builder b;
	char buf[UA_MSG_MAX], v[160], branch[40];
	bool cancel = strcmp(method, "CANCEL") == 0;
	const char *target = cancel || !d->remote_target[0] ? d->ruri : d->remote_target;

	if (cancel) {
		/* CANCEL repeats the INVITE's Request-URI, Via branch, Call-ID, From, To and CSeq number (§9.1) */
		snprintf(v, sizeof(v), "SIP/2.0/%s %s:%u;branch=%s;rport", sip_tp_via_token(g->tp), g->ip, g->port,
			 d->invite_branch);
		sip_build_request(&b, buf, sizeof(buf), method, (struct sip_str){ target, strlen(target) });
		sip_build_hdrf(&b, "Via", "%s", v);
		sip_build_hdrf(&b, "Max-Forwards", "70");
		sip_build_hdrf(&b, "From", "<sip:%s@%s>;tag=%s", d->ep->user, g->domain, d->local_tag);
		sip_build_hdrf(&b, "To", "<%s>", d->remote_uri);
		sip_build_hdrf(&b, "Call-ID", "%s", d->call_id);
		sip_build_hdrf(&b, "CSeq", "%u CANCEL", d->invite_cseq);
	} else {
		via(g, branch, sizeof(branch), d->ep->ua, v, sizeof(v));
		sip_build_request(&b, buf, sizeof(buf), method, (struct sip_str){ target, strlen(target) });
		dialog_headers(&b, d, v, method, ++d->cseq);
	}
	return send_request(g, buf, sip_build_finish(&b, NULL, NO_BODY), &d->next_hop, d, NULL);
}

static int ua_hangup(void *arg, uint32_t leg)
{
	struct cp_ua *ua = arg;
	struct ua_ep *ep = &ua->eps[CP_LEG_EP(leg)];
	struct ua_dlg *d = CP_LEG_INCOMING(leg) ? &ep->in : &ep->out;

	switch (d->state) {
	case DLG_CALLING:
	case DLG_EARLY:
		if (d->kind == UA_IN) {
			/* UAS before its 200: answer the INVITE with 480 instead */
			cp_timer_stop(ua->loop, &d->ring);
			if (d->invite_txn)
				sip_txn_respond_simple(d->invite_txn, 480, d->local_tag, NULL);
			sip_tp_kick(grp(ep)->tp);
			d->state = DLG_IDLE;
			return 0;
		}
		d->state = DLG_ENDING;
		return dialog_request(d, "CANCEL");
	case DLG_CONFIRMED:
		d->state = DLG_ENDING;
		return dialog_request(d, "BYE");
	default:
		return -EINVAL;
	}
}

/* Route set from Record-Route: reversed for the UAC (§12.1.2), as is for the UAS (§12.1.1). */
static void route_set(struct ua_dlg *d, const struct sip_msg *m, bool reverse)
{
	const struct sip_hdr *h;
	char vals[8][UA_ROUTE_MAX / 4];
	unsigned n = 0;

	d->route[0] = '\0';
	for (h = sip_msg_hdr(m, SIP_HDR_RECORD_ROUTE); h && n < 8; h = sip_msg_next_hdr(m, h)) {
		struct sip_str rest = h->value, elem;
		while (n < 8 && sip_next_value(&rest, &elem) == 1)
			copy_str(vals[n++], sizeof(vals[0]), elem);
	}
	for (unsigned i = 0; i < n; i++) {
		const char *v = vals[reverse ? n - 1 - i : i];
		snprintf(d->route + strlen(d->route), sizeof(d->route) - strlen(d->route), "%s%s", i ? ", " : "", v);
	}
	/* loose routing: the request goes to the first route's address */
	if (n) {
		struct sip_addr a;
		const char *why;
		char uri[UA_URI_MAX];
		const char *first = vals[reverse ? n - 1 : 0];
		if (sip_parse_addr((struct sip_str){ first, strlen(first) }, &a, &why) == 0) {
			copy_str(uri, sizeof(uri), a.uri_str);
			resolve_uri(uri, &d->next_hop);
		}
	}
}

/* Remote tag and target from a response or request that establishes the dialog. */
static void learn_peer(struct ua_dlg *d, const struct sip_msg *m, enum sip_hdr_id tag_from)
{
	const struct sip_hdr *h = sip_msg_hdr(m, tag_from), *c = sip_msg_hdr(m, SIP_HDR_CONTACT);
	struct sip_addr a;
	const char *why;

	if (h && sip_parse_addr(h->value, &a, &why) == 0)
		copy_str(d->remote_tag, sizeof(d->remote_tag), a.tag);
	if (c && sip_parse_addr(c->value, &a, &why) == 0) {
		copy_str(d->remote_target, sizeof(d->remote_target), a.uri_str);
		if (!d->route[0])
			resolve_uri(d->remote_target, &d->next_hop);
	}
}

static bool media_from(const struct sdp_negotiated *neg, const struct cfg_group *g, const struct ua_dlg *d,
		       struct cp_call_media *m)
{
	memset(m, 0, sizeof(*m));
	if (neg->srtp) {
		char b64[64];
		unsigned char key[48];

		copy_str(b64, sizeof(b64), neg->remote_key);
		/* 30 bytes of key||salt are 40 base64 characters; EVP_DecodeBlock counts the padding in */
		if (strlen(b64) != 40 || EVP_DecodeBlock(key, (const unsigned char *)b64, 40) < 30)
			return false;
		m->srtp_suite = sip_str_eq(neg->crypto_suite, "AES_CM_128_HMAC_SHA1_32") ? 2 : 1;
		memcpy(m->srtp_tx_key, d->srtp_key, sizeof(m->srtp_tx_key));
		memcpy(m->srtp_rx_key, key, sizeof(m->srtp_rx_key));
	}
	copy_str(m->remote_ip, sizeof(m->remote_ip), neg->remote_addr);
	m->remote_port = neg->remote_port;
	copy_str(m->codec, sizeof(m->codec), neg->codec.encoding);
	m->payload_type = neg->codec.pt;
	m->ptime_ms = (uint16_t)(neg->ptime ? neg->ptime : g->ptime_ms);
	return codec_by_name(m->codec) != NULL;
}

static void invite_response(struct ua_dlg *d, const struct sip_msg *resp)
{
	struct ua_ep *ep = d->ep;
	struct cp_ua *ua = ep->ua;
	unsigned st = resp->status;
	const char *why = NULL;

	if (st < 200) {
		if (st > 100 && d->state == DLG_CALLING) {
			d->state = DLG_EARLY;
			learn_peer(d, resp, SIP_HDR_TO);
			cp_engine_on_ringing(ua->engine, ep->idx, (uint16_t)st);
		}
		return;
	}
	if (st < 300) {
		struct sdp_session ans;
		struct sdp_negotiated neg;
		enum sdp_neg nr = SDP_NEG_BAD_ANSWER;
		struct sdp_local l;
		char ip[48];

		if (d->answered) { /* a retransmitted 2xx: ACK again */
			send_ack(d);
			return;
		}
		d->answered = true;
		learn_peer(d, resp, SIP_HDR_TO);
		route_set(d, resp, true);
		send_ack(d);
		local_sdp(ep, false, &l, ip, sizeof(ip));
		if (d->state == DLG_ENDING) { /* our CANCEL crossed the 200: end the call at once */
			d->state = DLG_CONFIRMED;
			dialog_request(d, "BYE");
			d->state = DLG_ENDING;
			cp_engine_on_call_failed(ua->engine, ep->idx, 487, false, "cancelled");
			return;
		}
		d->state = DLG_CONFIRMED;
		if (sdp_parse(&ans, resp->body.p, resp->body.len) < 0 || sdp_accept_answer(&l, &ans, &neg, &nr) < 0 ||
		    !media_from(&neg, grp(ep)->cfg, d, &d->media)) {
			d->state = DLG_ENDING;
			dialog_request(d, "BYE");
			cp_engine_on_call_failed(ua->engine, ep->idx, 0, true, sdp_neg_name(nr));
			return;
		}
		cp_engine_on_answered(ua->engine, ep->idx, false, &d->media);
		return;
	}
	if ((st == 401 || st == 407) && d->auth_tries < UA_MAX_AUTH_TRIES && d->state != DLG_ENDING) {
		struct sip_challenge ch;
		char cnonce[40], auth[1024];

		if (sip_digest_challenge_from_msg(resp, &ch, &why) == 0 && (d->auth_tries == 0 || ch.stale)) {
			d->auth_tries++;
			sip_digest_cnonce(cnonce, sizeof(cnonce));
			if (sip_digest_authorization(&ch, ep->user, ep->password, "INVITE", d->ruri, cnonce, 1, auth,
						     sizeof(auth)) > 0 &&
			    invite_send(d, ch.proxy ? "Proxy-Authorization" : "Authorization", auth) == 0)
				return;
		}
	}
	d->state = DLG_IDLE;
	cp_engine_on_call_failed(ua->engine, ep->idx, (uint16_t)st, st == 488 || st == 606, sip_reason_phrase(st));
}

/* BYE / CANCEL answers (client non-INVITE transactions of a dialog). */
static void dialog_response(struct ua_dlg *d, struct sip_txn *ct, const struct sip_msg *resp)
{
	const struct sip_msg *req = sip_txn_request(ct);

	if (resp->status < 200 || !req)
		return;
	if (req->method_id == SIP_BYE) {
		d->state = DLG_IDLE;
		cp_engine_on_hungup(d->ep->ua->engine, d->ep->idx, d->kind == UA_IN, false, (uint16_t)resp->status);
	}
	/* a CANCEL's answer changes nothing: the INVITE's 487 ends the attempt */
}

/* ---- calls: UAS ------------------------------------------------------------------------------------------- */

static void ring_over(struct cp_loop *loop, void *arg)
{
	struct ua_dlg *d = arg;
	struct ua_ep *ep = d->ep;
	char cont[UA_URI_MAX], extra[UA_URI_MAX + 64];
	struct sip_builder b;
	char buf[UA_MSG_MAX];
	const struct sip_msg *req;
	int len;

	(void)loop;
	if (d->state != DLG_EARLY || !d->invite_txn)
		return;
	req = sip_txn_request(d->invite_txn);
	contact(ep, cont, sizeof(cont));
	if (grp(ep)->cfg->answer_code != 200) {
		snprintf(extra, sizeof(extra), "Contact: %s\r\n", cont);
		sip_txn_respond_simple(d->invite_txn, grp(ep)->cfg->answer_code, d->local_tag, extra);
		sip_tp_kick(grp(ep)->tp);
		d->state = DLG_IDLE;
		return;
	}
	sip_build_response(&b, buf, sizeof(buf), 200, "OK");
	sip_build_copy_hdrs(&b, req, SIP_HDR_VIA);
	sip_build_copy_hdrs(&b, req, SIP_HDR_RECORD_ROUTE);
	sip_build_copy_hdrs(&b, req, SIP_HDR_FROM);
	sip_build_hdrf(&b, "To", "<%s>;tag=%s", d->ruri, d->local_tag);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CALL_ID);
	sip_build_copy_hdrs(&b, req, SIP_HDR_CSEQ);
	sip_build_hdrf(&b, "Contact", "%s", cont);
	sip_build_hdrf(&b, "Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS");
	len = sip_build_finish(&b, "application/sdp", (struct sip_str){ d->sdp_answer, strlen(d->sdp_answer) });
	if (len < 0 || sip_txn_respond(d->invite_txn, buf, (size_t)len) < 0) {
		d->state = DLG_IDLE;
		return;
	}
	sip_tp_kick(grp(ep)->tp); /* a response sent from a timer: the layer's timers may have changed */
	d->state = DLG_CONFIRMED;
	d->answered = true;
	cp_engine_on_answered(ep->ua->engine, ep->idx, true, &d->media);
}

static bool in_service(enum cp_ep_state s)
{
	return s == CP_EP_READY || s == CP_EP_CALLING || s == CP_EP_RINGING || s == CP_EP_IN_CALL ||
	       s == CP_EP_HANGING_UP;
}

static void incoming_invite(struct cp_ua *ua, struct ua_group *g, struct sip_txn *st, const struct sip_msg *req,
			    const struct sockaddr_storage *src)
{
	struct sip_uri u;
	struct sip_addr from;
	const struct sip_hdr *h;
	const char *why;
	struct ua_ep *ep;
	struct ua_dlg *d;
	struct sdp_session offer;
	struct sdp_negotiated neg;
	struct sdp_local l;
	enum sdp_neg nr;
	char sdp[UA_SDP_MAX], ip[48], extra[UA_URI_MAX + 64], cont[UA_URI_MAX];
	int len;

	if (sip_parse_uri(req->ruri, &u, &why) < 0 || !(ep = find_ep(ua, (uint16_t)(g - ua->groups), u.user)) ||
	    g->cfg->role == CFG_ROLE_CALLER) {
		sip_txn_respond_simple(st, 404, NULL, NULL);
		return;
	}
	d = &ep->in;
	/* an endpoint that is not in service (not registered yet, failed, finished) is unavailable */
	if (ua->engine && !in_service(cp_engine_state(ua->engine, ep->idx))) {
		sip_txn_respond_simple(st, 480, NULL, NULL);
		return;
	}
	if (d->state != DLG_IDLE) {
		sip_txn_respond_simple(st, 486, NULL, NULL);
		return;
	}
	free(d->sdp_answer);
	d->sdp_answer = NULL;
	memset(d->remote_tag, 0, sizeof(d->remote_tag));
	d->remote_target[0] = d->route[0] = '\0';
	d->next_hop = *src;
	h = sip_msg_hdr(req, SIP_HDR_CALL_ID);
	copy_str(d->call_id, sizeof(d->call_id), h ? h->value : (struct sip_str){ "", 0 });
	h = sip_msg_hdr(req, SIP_HDR_FROM);
	if (h && sip_parse_addr(h->value, &from, &why) == 0)
		copy_str(d->remote_uri, sizeof(d->remote_uri), from.uri_str);
	learn_peer(d, req, SIP_HDR_FROM);
	route_set(d, req, false);
	copy_str(d->ruri, sizeof(d->ruri), req->ruri);
	rnd_hex(ua, d->local_tag, sizeof(d->local_tag));
	d->cseq = (uint32_t)(rnd(ua) & 0xffff) + 1;
	d->invite_txn = st;
	d->answered = false;
	sip_txn_set_user(st, d);

	if (g->cfg->srtp != CFG_SRTP_OFF && new_srtp_key(d) < 0) {
		sip_txn_respond_simple(st, 500, d->local_tag, NULL);
		return;
	}
	local_sdp(ep, true, &l, ip, sizeof(ip));
	if (sdp_parse(&offer, req->body.p, req->body.len) < 0 ||
	    (len = sdp_build_answer(&offer, &l, sdp, sizeof(sdp), &neg, &nr)) < 0 ||
	    !media_from(&neg, g->cfg, d, &d->media)) {
		sip_txn_respond_simple(st, 488, d->local_tag, NULL);
		return;
	}
	d->sdp_answer = strdup(sdp);
	contact(ep, cont, sizeof(cont));
	snprintf(extra, sizeof(extra), "Contact: %s\r\n", cont);
	sip_txn_respond_simple(st, 180, d->local_tag, extra);
	d->state = DLG_EARLY;
	cp_timer_start(ua->loop, &d->ring, g->cfg->ring_ms);
}

/* The dialog an in-dialog request (ACK, BYE, CANCEL) belongs to: endpoint from the Request-URI user, dialog
 * from the Call-ID. */
static struct ua_dlg *find_dialog(struct cp_ua *ua, struct ua_group *g, const struct sip_msg *req)
{
	const struct sip_hdr *cid = sip_msg_hdr(req, SIP_HDR_CALL_ID);
	struct sip_uri u;
	const char *why;
	struct ua_ep *ep;

	if (!cid || sip_parse_uri(req->ruri, &u, &why) < 0 || !(ep = find_ep(ua, (uint16_t)(g - ua->groups), u.user)))
		return NULL;
	if (sip_str_eq(cid->value, ep->in.call_id) && ep->in.state != DLG_IDLE)
		return &ep->in;
	if (sip_str_eq(cid->value, ep->out.call_id) && ep->out.state != DLG_IDLE)
		return &ep->out;
	return NULL;
}

static void on_request(void *arg, struct sip_txn *st, const struct sip_msg *req, const struct sockaddr_storage *src)
{
	struct ua_group *g = arg;
	struct cp_ua *ua = g->ua;
	struct ua_dlg *d;

	switch (req->method_id) {
	case SIP_INVITE:
		incoming_invite(ua, g, st, req, src);
		return;
	case SIP_ACK:
		return; /* the 200 was answered; nothing to do (no 2xx retransmission to stop yet) */
	case SIP_OPTIONS:
		sip_txn_respond_simple(st, 200, NULL, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n");
		return;
	case SIP_BYE:
		d = find_dialog(ua, g, req);
		if (!d || (d->state != DLG_CONFIRMED && d->state != DLG_ENDING)) {
			sip_txn_respond_simple(st, 481, NULL, NULL);
			return;
		}
		sip_txn_respond_simple(st, 200, NULL, NULL);
		d->state = DLG_IDLE;
		cp_engine_on_hungup(ua->engine, d->ep->idx, d->kind == UA_IN, true, 200);
		return;
	case SIP_CANCEL:
		d = find_dialog(ua, g, req);
		if (!d || d->kind != UA_IN || d->state != DLG_EARLY) {
			sip_txn_respond_simple(st, 481, NULL, NULL);
			return;
		}
		sip_txn_respond_simple(st, 200, NULL, NULL);
		cp_timer_stop(ua->loop, &d->ring);
		if (d->invite_txn)
			sip_txn_respond_simple(d->invite_txn, 487, d->local_tag, NULL);
		d->state = DLG_IDLE;
		return;
	default:
		sip_txn_respond_simple(st, 405, NULL, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n");
	}
}

/* A 2xx retransmission arrives with no transaction (§17.1.1.2): find the dialog from our Call-ID. */
static void stray_response(struct cp_ua *ua, const struct sip_msg *resp)
{
	const struct sip_hdr *cid = sip_msg_hdr(resp, SIP_HDR_CALL_ID);
	unsigned long idx;
	char buf[64];

	if (!cid || resp->status < 200 || resp->status >= 300 || cid->value.len < 3 ||
	    memcmp(cid->value.p, "cm", 2) != 0)
		return;
	copy_str(buf, sizeof(buf), cid->value);
	idx = strtoul(buf + 2, NULL, 10);
	if (idx < ua->n && sip_str_eq(cid->value, ua->eps[idx].out.call_id) && ua->eps[idx].out.answered)
		send_ack(&ua->eps[idx].out);
}

/* Client transactions of a dialog (INVITE, BYE, CANCEL), through sip/'s client-handler convention. */
static void dlg_on_response(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *resp)
{
	struct ua_dlg *d = (struct ua_dlg *)h;

	if (ct == d->invite_txn && sip_txn_kind(ct) == SIP_TXN_CLIENT_INVITE)
		invite_response(d, resp);
	else
		dialog_response(d, ct, resp);
}

static void dlg_on_timeout(struct sip_client_handler *h, struct sip_txn *t)
{
	struct ua_dlg *d = (struct ua_dlg *)h;
	struct cp_engine *e = d->ep->ua->engine;

	if (sip_txn_kind(t) == SIP_TXN_CLIENT_INVITE) {
		if (d->kind == UA_OUT && !d->answered) {
			d->state = DLG_IDLE;
			cp_engine_on_call_failed(e, d->ep->idx, 0, false, "no answer to INVITE");
		}
	} else if (d->state == DLG_ENDING && d->answered) { /* the BYE got no answer */
		d->state = DLG_IDLE;
		cp_engine_on_hungup(e, d->ep->idx, d->kind == UA_IN, false, 0);
	}
}

static void dlg_on_terminated(struct sip_client_handler *h, struct sip_txn *t)
{
	struct ua_dlg *d = (struct ua_dlg *)h;

	if (d->invite_txn == t)
		d->invite_txn = NULL;
}

static void on_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp)
{
	struct ua_group *g = arg;

	if (!ct)
		stray_response(g->ua, resp);
	else
		sip_client_on_response(arg, ct, resp);
}

/* Server transactions carry a dialog as user too (the INVITE a UAS answers): handled here, not as clients. */
static void on_timeout(void *arg, struct sip_txn *t)
{
	if (sip_txn_kind(t) == SIP_TXN_CLIENT_INVITE || sip_txn_kind(t) == SIP_TXN_CLIENT_NON_INVITE)
		sip_client_on_timeout(arg, t);
}

static void on_terminated(void *arg, struct sip_txn *t)
{
	struct ua_dlg *d = sip_txn_user(t);

	if (sip_txn_kind(t) == SIP_TXN_SERVER_INVITE) {
		if (d && d->invite_txn == t)
			d->invite_txn = NULL;
		return;
	}
	sip_client_on_terminated(arg, t);
}

static const struct sip_txn_user_ops txn_ops = {
	.on_request = on_request,
	.on_response = on_response,
	.on_timeout = on_timeout,
	.on_terminated = on_terminated,
};

/* ---- setup ------------------------------------------------------------------------------------------------ */

static enum sip_tp_kind transport_kind(const struct cfg_group *c)
{
	return c->transport == CFG_TRANSPORT_TLS ? SIP_TP_TLS : c->transport == CFG_TRANSPORT_TCP ? SIP_TP_TCP
												  : SIP_TP_UDP;
}

/* The group's SIP transport: one socket (UDP) or one listener with connections on demand (TCP, TLS with the
 * plan's tls_* keys; our certificate, if given, also lets callers reach us over TLS). */
static struct sip_tp *open_transport(struct cp_ua *ua, struct ua_group *g, const struct cfg_group *c)
{
	static const enum sip_tls_verify verify[] = { [CFG_TLS_VERIFY_SYSTEM] = SIP_TLS_VERIFY_SYSTEM,
						      [CFG_TLS_VERIFY_CA] = SIP_TLS_VERIFY_CA,
						      [CFG_TLS_VERIFY_NONE] = SIP_TLS_VERIFY_NONE };
	struct sip_tls_config tls = { .verify = verify[c->tls_verify], .ca_file = c->tls_ca_file,
				      .cert_file = c->tls_cert_file, .key_file = c->tls_key_file };

	return sip_tp_start(ua->loop, transport_kind(c), c->local_ip, c->local_port, &tls, &txn_ops, g);
}

/* A registrar or target name resolved (RFC 3263): the first destination is used, the registrar's others are
 * its REGISTERs' failover; over TLS each destination's certificate is checked against the name. */
static void located(void *arg, const struct sip_dns_result *r)
{
	struct ua_locate *l = arg;
	struct ua_group *g = l->g;

	if (l->pending)
		g->ua->dns_pending--;
	l->pending = false;
	if (r->status < 0) {
		l->error = r->error ? r->error : "no address";
		return;
	}
	name_learn(l->host, l->port, &r->t[0].addr);
	for (unsigned i = 0; i < r->n; i++)
		sip_tp_set_peer_name(g->tp, &r->t[i].addr, l->host);
	if (l == &g->loc[0]) {
		g->registrar = r->t[0].addr;
		g->nreg_fallback = r->n - 1;
		for (unsigned i = 1; i < r->n; i++)
			g->reg_fallback[i - 1] = r->t[i].addr;
	}
}

static int locate(struct cp_ua *ua, struct ua_locate *l, const char *host, uint16_t port)
{
	struct ua_group *g = l->g;
	int rc;

	cm_strlcpy(l->host, host, sizeof(l->host));
	l->port = port;
	l->error = NULL;
	l->pending = true;
	ua->dns_pending++;
	rc = sip_dns_resolve(ua->dns, host, port, sip_tp_kind(g->tp), strchr(g->cfg->local_ip, ':') ? AF_INET6 : AF_INET,
			     located, l);
	if (rc < 0 && l->pending) {
		l->pending = false;
		ua->dns_pending--;
	}
	return rc;
}

/* Waits on the loop (nothing else runs yet) until every name is resolved; the first failure is the error. */
static int locate_wait(struct cp_ua *ua, char *err, size_t errlen)
{
	uint64_t t0 = cm_now_ms();

	while (ua->dns_pending && cm_now_ms() - t0 < UA_DNS_WAIT_MS)
		cp_loop_run_once(ua->loop, 50);
	for (uint32_t gi = 0; gi < ua->plan->ngroups; gi++)
		for (unsigned k = 0; k < 2; k++) {
			const struct ua_locate *l = &ua->groups[gi].loc[k];
			if (l->pending || l->error) {
				snprintf(err, errlen, "[group %s]: cannot resolve %s '%s': %s", ua->plan->groups[gi].name,
					 k ? "target" : "registrar", l->host, l->pending ? "no answer" : l->error);
				return -EHOSTUNREACH;
			}
		}
	return 0;
}

static int setup_group(struct cp_ua *ua, uint32_t gi, char *err, size_t errlen)
{
	struct ua_group *g = &ua->groups[gi];
	const struct cfg_group *c = &ua->plan->groups[gi];

	g->ua = ua;
	g->cfg = c;
	g->loc[0].g = g->loc[1].g = g;
	g->tp = open_transport(ua, g, c);
	if (!g->tp) {
		snprintf(err, errlen, "[group %s]: cannot open SIP/%s on %s:%u (see the log)", c->name,
			 transport_kind(c) == SIP_TP_TLS ? "TLS" : transport_kind(c) == SIP_TP_TCP ? "TCP" : "UDP",
			 c->local_ip, c->local_port);
		return -EADDRINUSE;
	}
	cm_strlcpy(g->ip, c->local_ip, sizeof(g->ip));
	g->port = sip_tp_port(g->tp);
	if (c->registrar[0]) {
		char host[CFG_HOST_MAX];
		uint16_t port;
		cfg_parse_hostport(c->registrar, 0, host, sizeof(host), &port);
		g->has_registrar = true;
		cm_strlcpy(g->domain, c->domain[0] ? c->domain : host, sizeof(g->domain));
		if (locate(ua, &g->loc[0], host, port) < 0) {
			snprintf(err, errlen, "[group %s]: cannot resolve registrar '%s'", c->name, c->registrar);
			return -EHOSTUNREACH;
		}
	} else {
		cm_strlcpy(g->domain, c->domain[0] ? c->domain : c->local_ip, sizeof(g->domain));
	}
	if (!c->registrar[0] && c->target_kind == CFG_TARGET_URI) {
		struct sip_uri u;
		const char *why;
		char host[CFG_HOST_MAX];
		struct sockaddr_storage a;

		if (sip_parse_uri((struct sip_str){ c->target, strlen(c->target) }, &u, &why) == 0) {
			copy_str(host, sizeof(host), u.host);
			if (host[0] == '[' || sip_addr_from(&a, host, 0) == 0) {
				/* numeric: nothing to look up */
			} else if (locate(ua, &g->loc[1], host, u.port) < 0) {
				snprintf(err, errlen, "[group %s]: cannot resolve target '%s'", c->name, c->target);
				return -EHOSTUNREACH;
			}
		}
	}
	for (uint8_t k = 0; k < c->ncodecs; k++) {
		const struct codec_ops *ops = codec_by_name(c->codecs[k]);
		struct codec_params p = { 0 };

		g->codecs[k] = (struct sdp_codec){ .name = ops->name, .clock_rate = ops->clock_rate,
						   .channels = ops->channels, .pt = ops->payload_type };
		if (ops->fmtp && ops->fmtp(&p, g->fmtp[k], sizeof(g->fmtp[k])) > 0)
			g->codecs[k].fmtp = g->fmtp[k];
	}
	return 0;
}

static const struct sip_client_handler dlg_handler = {
	.on_response = dlg_on_response,
	.on_timeout = dlg_on_timeout,
	.on_terminated = dlg_on_terminated,
};

static int setup_endpoints(struct cp_ua *ua, char *err, size_t errlen)
{
	uint32_t idx = 0;

	for (uint32_t gi = 0; gi < ua->plan->ngroups; gi++) {
		const struct cfg_group *c = &ua->plan->groups[gi];
		FILE *csv = c->accounts[0] ? fopen(c->accounts, "r") : NULL;
		char line[512];

		ua->groups[gi].first_ep = idx;
		for (uint32_t k = 0; k < c->endpoints; k++, idx++) {
			struct ua_ep *ep = &ua->eps[idx];
			uint32_t h;

			ep->ua = ua;
			ep->idx = idx;
			ep->group = (uint16_t)gi;
			if (csv) {
				char *comma, *end;
				do {
					if (!fgets(line, sizeof(line), csv))
						line[0] = '\0';
					line[strcspn(line, "\r\n")] = '\0';
				} while (line[0] && (line[0] == '#' || strncasecmp(line, "username,", 9) == 0));
				comma = strchr(line, ',');
				if (!comma) {
					snprintf(err, errlen, "%s: fewer accounts than endpoints", c->accounts);
					fclose(csv);
					return -EINVAL;
				}
				*comma = '\0';
				end = strchr(comma + 1, ',');
				if (end)
					*end = '\0';
				cm_strlcpy(ep->user, line, sizeof(ep->user));
				cm_strlcpy(ep->password, comma + 1, sizeof(ep->password));
			} else if (c->username[0]) {
				cfg_expand_template(c->username, c->first_number + k, ep->user, sizeof(ep->user));
				cfg_expand_template(c->password, c->first_number + k, ep->password, sizeof(ep->password));
			} else {
				snprintf(ep->user, sizeof(ep->user), "%s-%u", c->name, c->first_number + k);
			}
			if (ua->groups[gi].has_registrar) {
				struct sip_reg_config rc = { .domain = ua->groups[gi].domain, .user = ep->user,
							     .password = ep->password, .dst = ua->groups[gi].registrar,
							     .expires = c->register_expires_s,
							     .fallback = ua->groups[gi].reg_fallback,
							     .nfallback = ua->groups[gi].nreg_fallback };
				ep->reg = sip_reg_new(ua->groups[gi].tp, &rc, reg_changed, ep);
				if (!ep->reg) {
					snprintf(err, errlen, "[group %s]: cannot set up registration of '%s'", c->name,
						 ep->user);
					if (csv)
						fclose(csv);
					return -EINVAL;
				}
			}
			ep->out = (struct ua_dlg){ .h = dlg_handler, .kind = UA_OUT, .ep = ep };
			ep->in = (struct ua_dlg){ .h = dlg_handler, .kind = UA_IN, .ep = ep };
			cp_timer_init(&ep->in.ring, ring_over, &ep->in);
			if (find_ep(ua, (uint16_t)gi, (struct sip_str){ ep->user, strlen(ep->user) })) {
				snprintf(err, errlen, "[group %s]: user '%s' appears twice", c->name, ep->user);
				if (csv)
					fclose(csv);
				return -EINVAL;
			}
			for (h = hash_user((uint16_t)gi, ep->user, strlen(ep->user)) & ua->hash_mask; ua->hash[h];
			     h = (h + 1) & ua->hash_mask)
				;
			ua->hash[h] = idx + 1;
		}
		if (csv)
			fclose(csv);
	}
	return 0;
}

struct cp_ua *cp_ua_new(struct cp_loop *loop, const struct cfg_plan *plan, struct cp_media *media, char *err,
			size_t errlen)
{
	struct cp_ua *ua = calloc(1, sizeof(*ua));
	uint32_t size = 16;

	if (!ua)
		return NULL;
	ua->loop = loop;
	ua->plan = plan;
	ua->media = media;
	ua->n = plan->total_endpoints;
	if (getrandom(&ua->rng, sizeof(ua->rng), 0) != sizeof(ua->rng) || !ua->rng)
		ua->rng = cm_now_us() | 1;
	ua->sess_id = rnd(ua) >> 20;
	while (size < 2 * ua->n)
		size *= 2;
	ua->hash_mask = size - 1;
	ua->hash = calloc(size, sizeof(*ua->hash));
	ua->eps = calloc(ua->n ? ua->n : 1, sizeof(*ua->eps));
	if (!ua->hash || !ua->eps) {
		snprintf(err, errlen, "out of memory for %u endpoints", ua->n);
		goto fail;
	}
	/* without a resolver (logged) numeric addresses still work; a name is then a setup error */
	ua->dns = sip_dns_new(loop, getenv("CALLMETER_DNS_SERVERS"));
	for (uint32_t g = 0; g < plan->ngroups; g++)
		if (setup_group(ua, g, err, errlen) < 0)
			goto fail;
	if (locate_wait(ua, err, errlen) < 0 || setup_endpoints(ua, err, errlen) < 0)
		goto fail;
	return ua;

fail:
	cp_ua_free(ua);
	return NULL;
}

int cp_ua_group_addr(const struct cp_ua *ua, uint16_t group, char *ip, size_t iplen, uint16_t *port)
{
	if (group >= ua->plan->ngroups || !ua->groups[group].port)
		return -EINVAL;
	*port = ua->groups[group].port;
	return cm_strlcpy(ip, ua->groups[group].ip, iplen);
}

void cp_ua_attach(struct cp_ua *ua, struct cp_engine *engine)
{
	ua->engine = engine;
}

void cp_ua_free(struct cp_ua *ua)
{
	if (!ua)
		return;
	for (uint32_t i = 0; ua->eps && i < ua->n; i++) {
		sip_reg_free(ua->eps[i].reg);
		cp_timer_stop(ua->loop, &ua->eps[i].in.ring);
		free(ua->eps[i].in.sdp_answer);
	}
	for (uint32_t g = 0; g < CFG_MAX_GROUPS; g++)
		sip_tp_stop(ua->groups[g].tp);
	sip_dns_free(ua->dns);
	free(ua->hash);
	free(ua->eps);
	free(ua);
}

const struct cp_engine_ops cp_ua_engine_ops = {
	.reg = ua_reg,
	.call = ua_call,
	.hangup = ua_hangup,
	.media_start = cp_media_start,
	.media_stop = cp_media_stop,
	.media_sample = cp_media_sample,
};
