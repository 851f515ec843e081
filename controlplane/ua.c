/* The SIP user agent behind the endpoint engine: an adapter from the engine's signalling ops to sip/.
 *
 * Each group has one transport (UDP socket, or TCP/TLS listener and connections, on its local_ip:local_port)
 * with a sip/ user agent core (struct sip_ua) on it; with port_per_endpoint each endpoint has its own handle on
 * local_port + its index in the group, sharing the group's transaction layer (sip_tp_open_port): a UDP socket, or
 * a TCP/TLS listener with its own connections (each endpoint its own flow, and TLS session, to the registrar and
 * proxy, as each phone would have).  It registers, calls and is called from there, so Via and Contact carry its
 * port and the registrar sees one source (UDP port, or connection) per endpoint.
 * Registration is sip/'s client (struct sip_reg: digest, 423, refresh, unregister), one per endpoint; calls are
 * sip/'s dialogs (struct sip_call) of both roles: an endpoint's outgoing call is placed with sip_call_new, an
 * incoming INVITE reaches the group's incoming callback, which finds the endpoint from the Request-URI user (a
 * hash of "user" per group) and says how to answer it (ring time, the group's answer code, the leg's media
 * address and a fresh SDES key) or refuses it: 404 unknown, 480 not in service, 486 busy.  Each call's events
 * become the engine's cp_engine_on_* reports; its negotiated SDP becomes the leg's dataplane media.  A group with
 * hold_at/hold_for puts each call it placed on hold by re-INVITE (a=sendonly or a=inactive; we send nothing while
 * holding: no music on hold) and takes it off again (a=sendrecv). */
#include <arpa/inet.h>
#include <errno.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

#include <openssl/evp.h>

#include "codecs/codecs.h"
#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"
#include "sip/sip.h"

#define UA_URI_MAX 160
#define UA_DTMF_PT 101
#define UA_DNS_WAIT_MS 10000 /* names are resolved at setup within this */
#define UA_SRTP_SUITE "AES_CM_128_HMAC_SHA1_80"
#define UA_SRTP_KEY_LEN DP_SRTP_KEY_LEN /* AES-128 master key || 112-bit salt (RFC 4568 §6.1) */
#define UA_SRTP_B64_LEN DP_SRTP_B64_LEN
#define UA_DTMF_MS 120              /* each digit's length */
#define UA_DTMF_GAP_MS 100          /* pause between RFC 4733 digits */
#define UA_HOLD_BUSY_MS 200         /* an offer is in progress when the hold is due: try again this much later */

/* Where a placed call is in the plan's hold_at/hold_for. */
enum ua_hold_step { UA_HOLD_NONE, UA_HOLD_WAIT, UA_HOLD_ASKED, UA_HOLD_ON, UA_RESUME_ASKED, UA_HOLD_OVER };

struct ua_ep;

/* The plan's dtmf_digits on one leg: sent dtmf_delay after the answer. */
struct ua_dtmf {
	struct cp_timer t;
	struct ua_ep *ep;
	bool incoming;
	uint8_t next;                   /* RFC 4733: the next digit to send */
};

struct ua_ep {
	struct cp_ua *ua;
	uint32_t idx;
	uint16_t group;
	bool unregistering;
	bool registered_once;
	bool out_answered, in_answered; /* the engine was told about the answer */
	bool in_op;                     /* inside an engine op: events are not reported (the engine's rule) */
	char user[64];
	char password[64];
	struct sip_reg *reg;
	struct sip_tp *tp;              /* its own port (port_per_endpoint), else the group's transport */
	struct sip_call *out, *in;
	struct ua_dtmf dtmf[2];         /* [incoming] */
	struct cp_timer hold_t;         /* hold_at after the answer, then hold_for later */
	uint8_t hold_step;              /* enum ua_hold_step, of the placed call */
};

struct ua_group {
	struct cp_ua *ua;
	const struct cfg_group *cfg;
	struct sip_tp *tp;
	struct sip_ua *sua;
	char ip[48];
	uint16_t port;
	char domain[CFG_HOST_MAX];
	struct sockaddr_storage registrar;   /* also where calls go when the group registers (the proxy) */
	bool has_registrar;
	struct sockaddr_storage reg_fallback[SIP_DNS_MAX_TARGETS]; /* the registrar's other DNS destinations */
	unsigned nreg_fallback;
	struct ua_locate {                   /* a name resolved at setup: [0] registrar, [1] target, [2] proxy */
		struct ua_group *g;
		char host[CFG_HOST_MAX];
		uint16_t port;
		bool pending;
		const char *error;
		struct sockaddr_storage t[SIP_DNS_MAX_TARGETS]; /* every destination found, in the order to try */
		unsigned n;
	} loc[3];
	struct sockaddr_storage proxy;       /* outbound proxy: every request goes there, with a Route header */
	char proxy_route[CFG_HOST_MAX + 16];
	bool has_proxy;
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
	uint64_t sess_id;
};

/* ---- small helpers ---------------------------------------------------------------------------------------- */

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

/* ---- registration: sip/'s client, reported to the engine ------------------------------------------------- */

/* Why a registered endpoint's refresh failed, from the status its registration client ended with. */
static const char *reg_lost_reason(uint16_t code)
{
	if (code < 300)
		return "registration lost: the registrar dropped it (Expires: 0)";
	if (code == 408)
		return "registration lost: no answer to its refresh";
	if (code == 503)
		return "registration lost: the registrar is unreachable or unavailable";
	return "registration lost: its refresh was refused";
}

static void reg_changed(struct sip_reg *r, void *arg)
{
	struct ua_ep *ep = arg;
	const struct sip_reg_stats *st = sip_reg_stats(r);
	struct cp_engine *e = ep->ua->engine;
	uint16_t code = (uint16_t)st->last_status;

	switch (st->state) {
	case SIP_REG_REGISTERED:
		if (!grp(ep)->has_proxy) /* RFC 3263 §4.3: calls follow the destination that answered */
			grp(ep)->registrar = *sip_reg_dst(r);
		if (!ep->registered_once) { /* refreshes are the registration client's business */
			ep->registered_once = true;
			cp_engine_on_registered(e, ep->idx, code ? code : 200, NULL);
		}
		break;
	case SIP_REG_UNREGISTERED:
		cp_engine_on_registered(e, ep->idx, code ? code : 200, NULL);
		break;
	case SIP_REG_FAILED:
		if (ep->unregistering)
			cp_engine_on_registered(e, ep->idx, code >= 300 ? code : 500, "unREGISTER failed");
		else if (ep->registered_once) /* a refresh, or registering again after a dead flow */
			cp_engine_on_registration_lost(e, ep->idx, code == 408 ? 0 : code, reg_lost_reason(code));
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

/* ---- media: SDP settings in, dataplane media out ---------------------------------------------------------- */

/* A fresh SDES master key for a call, base64 (RFC 4568 §6.1: key||salt in the a=crypto line). */
static int new_srtp_key(char b64[UA_SRTP_B64_LEN + 1])
{
	uint8_t key[UA_SRTP_KEY_LEN];

	if (getrandom(key, sizeof(key), 0) != sizeof(key))
		return -EIO;
	EVP_EncodeBlock((unsigned char *)b64, key, sizeof(key));
	return 0;
}

/* What an endpoint's leg offers or answers with; crypto_key is the caller's buffer. */
static void local_sdp(struct ua_ep *ep, bool incoming, struct sdp_local *l, char *ip, size_t iplen,
		      const char *crypto_key)
{
	struct ua_group *g = grp(ep);

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
		l->crypto_key = crypto_key;
		l->srtp_required = g->cfg->srtp == CFG_SRTP_MANDATORY;
	}
}

/* The dataplane media of a negotiated call: false if it cannot be used (codec, SDES key). */
static bool media_from(const struct sdp_negotiated *neg, const struct cfg_group *g, struct sip_call *c,
		       struct cp_call_media *m)
{
	memset(m, 0, sizeof(*m));
	if (neg->srtp) {
		const char *ours = sip_call_local_media(c)->crypto_key;

		if (!ours || !dp_srtp_key_from_b64(ours, strlen(ours), m->srtp_tx_key) ||
		    !dp_srtp_key_from_b64(neg->remote_key.p, neg->remote_key.len, m->srtp_rx_key))
			return false;
		m->srtp_suite = sip_str_eq(neg->crypto_suite, "AES_CM_128_HMAC_SHA1_32") ? 2 : 1;
	}
	copy_str(m->remote_ip, sizeof(m->remote_ip), neg->remote_addr);
	m->remote_port = neg->remote_port;
	copy_str(m->codec, sizeof(m->codec), neg->codec.encoding);
	m->payload_type = neg->codec.pt;
	m->ptime_ms = (uint16_t)(neg->ptime ? neg->ptime : g->ptime_ms);
	m->dtmf_pt = neg->dtmf_pt;
	return codec_by_name(m->codec) != NULL;
}

/* ---- DTMF: the plan's digits, by RFC 4733 events on the leg's flow or by SIP INFO ------------------------ */

static void dtmf_next(struct cp_loop *loop, void *arg)
{
	struct ua_dtmf *d = arg;
	struct ua_ep *ep = d->ep;
	const struct cfg_group *g = grp(ep)->cfg;
	struct sip_call *c = d->incoming ? ep->in : ep->out;
	static struct cm_ratelimit rl = CM_RATELIMIT_INIT(1000, 5);
	int rc;

	if (!c || sip_call_stats(c)->state != SIP_CALL_CONFIRMED)
		return;
	if (g->dtmf == CFG_DTMF_INFO) {
		rc = sip_call_send_dtmf(c, g->dtmf_digits, UA_DTMF_MS); /* one INFO after the other */
	} else {
		rc = cp_media_dtmf(ep->ua->media, CP_LEG(ep->idx, d->incoming), g->dtmf_digits[d->next], UA_DTMF_MS);
		if (rc == 0 && g->dtmf_digits[++d->next])
			cp_timer_start(loop, &d->t, UA_DTMF_MS + UA_DTMF_GAP_MS);
	}
	if (rc < 0)
		cm_log_rl(&rl, CM_LOG_WARN, "ua", "endpoint %u: cannot send DTMF: %s", ep->idx, strerror(-rc));
}

/* The call is answered: its digits go dtmf_delay later. */
static void dtmf_arm(struct ua_ep *ep, bool incoming)
{
	const struct cfg_group *g = grp(ep)->cfg;
	struct ua_dtmf *d = &ep->dtmf[incoming];

	if (!g->dtmf_digits[0] || g->dtmf == CFG_DTMF_NONE)
		return;
	d->next = 0;
	cp_timer_start(ep->ua->loop, &d->t, g->dtmf_delay_ms);
}

/* The call ended: no more digits; those SIP INFO carried join the leg's figures before its flow is reported. */
static void dtmf_end(struct ua_ep *ep, bool incoming, const struct sip_call_stats *st)
{
	cp_timer_stop(ep->ua->loop, &ep->dtmf[incoming].t);
	if (st->dtmf_sent || st->dtmf_received)
		cp_media_dtmf_info(ep->ua->media, CP_LEG(ep->idx, incoming), st->dtmf_sent, st->dtmf_received);
}

#define SESSION_EXPIRED "session expired: no refresh from the peer (RFC 4028)"

/* Any call's end: its session timer figures to the run's (422s happen on calls that never get answered too), and
 * an answered call whose session was not refreshed fails the endpoint. */
static void session_timer_end(struct ua_ep *ep, const struct sip_call_stats *st, bool answered)
{
	struct cp_engine *e = ep->ua->engine;

	if (st->session_expires_s || st->session_422)
		cp_engine_on_session_timer(e, st->session_refreshes, st->session_refreshes_received,
					   st->session_expired, st->session_422);
	if (answered && st->session_expired)
		cp_engine_on_call_dropped(e, ep->idx, 408, SESSION_EXPIRED);
}

/* ---- hold and resume of the calls we place (plan hold_at, hold_for, hold_mode) --------------------------- */

static void hold_next(struct cp_loop *loop, void *arg)
{
	struct ua_ep *ep = arg;
	const struct cfg_group *g = grp(ep)->cfg;
	bool resume = ep->hold_step == UA_HOLD_ON;
	enum sdp_dir dir = resume ? SDP_SENDRECV : g->hold_mode == CFG_HOLD_INACTIVE ? SDP_INACTIVE : SDP_SENDONLY;
	int rc;

	if (!ep->out || sip_call_stats(ep->out)->state != SIP_CALL_CONFIRMED ||
	    (ep->hold_step != UA_HOLD_WAIT && ep->hold_step != UA_HOLD_ON))
		return;
	rc = sip_call_reinvite(ep->out, dir);
	if (rc == -EBUSY) { /* the peer's offer is being settled: ours after it */
		cp_timer_start(loop, &ep->hold_t, UA_HOLD_BUSY_MS);
		return;
	}
	if (rc < 0) {
		ep->hold_step = UA_HOLD_OVER;
		cp_engine_on_hold(ep->ua->engine, ep->idx, resume, false, 0, "cannot send re-INVITE");
		return;
	}
	ep->hold_step = resume ? UA_RESUME_ASKED : UA_HOLD_ASKED;
}

/* Our re-INVITE is over: on hold -> resume hold_for later; a failure leaves the call as it was (a failed resume
 * leaves it on hold) and is a warning on the endpoint. */
static void leg_reinvited(struct sip_call *c, void *arg, unsigned status, bool applied)
{
	struct ua_ep *ep = arg;
	bool resume = ep->hold_step == UA_RESUME_ASKED;

	(void)c;
	if (ep->hold_step != UA_HOLD_ASKED && !resume)
		return;
	if (applied) {
		ep->hold_step = resume ? UA_HOLD_OVER : UA_HOLD_ON;
		if (!resume)
			cp_timer_start(ep->ua->loop, &ep->hold_t, grp(ep)->cfg->hold_for_ms);
	} else {
		ep->hold_step = UA_HOLD_OVER;
	}
	cp_engine_on_hold(ep->ua->engine, ep->idx, resume, applied, (uint16_t)status,
			  applied ? NULL : status < 300 ? "re-INVITE answer not usable"
				   : resume ? "re-INVITE to resume refused" : "re-INVITE to hold refused");
}

/* ---- calls: sip/'s events -> the engine ------------------------------------------------------------------- */

/* Every settled offer/answer: usable or not; a re-INVITE's (hold, resume, new address) reaches the leg's flow. */
static bool leg_media(struct sip_call *c, void *arg, const struct sdp_negotiated *neg)
{
	struct ua_ep *ep = arg;
	const struct sip_call_stats *st = sip_call_stats(c);
	struct cp_call_media m;
	static struct cm_ratelimit rl = CM_RATELIMIT_INIT(1000, 5);
	int rc;

	if (st->incoming)
		ep->in = c;
	if (!media_from(neg, grp(ep)->cfg, c, &m))
		return false;
	if (st->state == SIP_CALL_CONFIRMED && (st->incoming ? ep->in_answered : ep->out_answered)) {
		/* holding a call we placed, we send nothing (a sendonly hold could carry music on hold) */
		bool holding = !st->incoming && (ep->hold_step == UA_HOLD_ASKED || ep->hold_step == UA_HOLD_ON);

		rc = cp_media_modify(ep->ua->media, CP_LEG(ep->idx, st->incoming), &m,
				     !holding && (neg->dir == SDP_SENDRECV || neg->dir == SDP_SENDONLY),
				     neg->dir == SDP_SENDRECV || neg->dir == SDP_RECVONLY);
		if (rc < 0)
			cm_log_rl(&rl, CM_LOG_WARN, "ua", "endpoint %u: re-INVITE media not applied: %s", ep->idx,
				  strerror(-rc));
	}
	return true;
}

/* A placed call: ringing, answered, failed, ended. */
static void out_state(struct sip_call *c, void *arg)
{
	struct ua_ep *ep = arg;
	struct cp_engine *e = ep->ua->engine;
	const struct sip_call_stats *st = sip_call_stats(c);
	struct cp_call_media m;
	uint16_t code = (uint16_t)st->final_status;

	switch (st->state) {
	case SIP_CALL_RINGING:
		if (!ep->in_op)
			cp_engine_on_ringing(e, ep->idx, 180);
		break;
	case SIP_CALL_CONFIRMED:
		media_from(&st->media, grp(ep)->cfg, c, &m); /* on_media checked it */
		ep->out_answered = true;
		cp_engine_on_answered(e, ep->idx, false, &m);
		dtmf_arm(ep, false);
		if (grp(ep)->cfg->hold_for_ms) {
			ep->hold_step = UA_HOLD_WAIT;
			cp_timer_start(ep->ua->loop, &ep->hold_t, grp(ep)->cfg->hold_at_ms);
		}
		break;
	case SIP_CALL_ENDED:
		ep->out = NULL;
		dtmf_end(ep, false, st);
		cp_timer_stop(ep->ua->loop, &ep->hold_t);
		ep->hold_step = UA_HOLD_NONE;
		session_timer_end(ep, st, ep->out_answered && !ep->in_op);
		if (ep->in_op) {
			/* the engine hears the op's return code instead */
		} else if (ep->out_answered) {
			cp_engine_on_hungup(e, ep->idx, false, st->ended_by_peer,
					    st->ended_by_peer ? 200 : (uint16_t)st->bye_status);
		} else if (st->result == SIP_RESULT_CANCELLED && code < 300) {
			cp_engine_on_call_failed(e, ep->idx, 487, false, "cancelled"); /* our CANCEL crossed the 2xx */
		} else if (st->result == SIP_RESULT_NEGOTIATION_FAILED) {
			cp_engine_on_call_failed(e, ep->idx, code >= 300 ? code : 0, true, sdp_neg_name(st->negotiation));
		} else if (code == 408 || code == 0) {
			cp_engine_on_call_failed(e, ep->idx, 0, false, "no answer to INVITE");
		} else {
			cp_engine_on_call_failed(e, ep->idx, code, code == 488 || code == 606, sip_reason_phrase(code));
		}
		ep->out_answered = false;
		sip_call_free(c);
		break;
	default:
		break;
	}
}

/* Early media on either leg (a 183 with SDP, before the answer). */
static void leg_early(struct sip_call *c, void *arg)
{
	struct ua_ep *ep = arg;
	const struct sip_call_stats *st = sip_call_stats(c);
	struct cp_call_media m;

	if (!ep->in_op && media_from(&st->media, grp(ep)->cfg, c, &m))
		cp_engine_on_early_media(ep->ua->engine, ep->idx, st->incoming, &m);
}

/* A received call: answered, ended (the UA frees it after ENDED). */
static void in_state(struct sip_call *c, void *arg)
{
	struct ua_ep *ep = arg;
	struct cp_engine *e = ep->ua->engine;
	const struct sip_call_stats *st = sip_call_stats(c);
	struct cp_call_media m;
	bool mine;

	switch (st->state) {
	case SIP_CALL_RINGING:
		ep->in = c;
		break;
	case SIP_CALL_CONFIRMED:
		media_from(&st->media, grp(ep)->cfg, c, &m);
		ep->in_answered = true;
		cp_engine_on_answered(e, ep->idx, true, &m);
		dtmf_arm(ep, true);
		break;
	case SIP_CALL_ENDED:
		mine = ep->in == c;
		if (mine)
			ep->in = NULL;
		dtmf_end(ep, true, st);
		session_timer_end(ep, st, ep->in_answered && !ep->in_op);
		if (ep->in_answered && !ep->in_op) {
			cp_engine_on_hungup(e, ep->idx, true, st->ended_by_peer,
					    st->ended_by_peer ? 200 : (uint16_t)st->bye_status);
		} else if (!ep->in_answered && mine) {
			cp_engine_on_early_end(e, ep->idx); /* its early media, if it had any */
		}
		ep->in_answered = false;
		break;
	default:
		break;
	}
}

static const struct sip_call_handler out_handler = { .on_state = out_state, .on_media = leg_media,
						     .on_reinvite = leg_reinvited, .on_early_media = leg_early };
static const struct sip_call_handler in_handler = { .on_state = in_state, .on_media = leg_media,
						    .on_early_media = leg_early };

static bool in_service(enum cp_ep_state s)
{
	return s == CP_EP_READY || s == CP_EP_CALLING || s == CP_EP_RINGING || s == CP_EP_IN_CALL ||
	       s == CP_EP_HANGING_UP;
}

static enum sip_100rel rel100_of(const struct cfg_group *g)
{
	return g->rel100 == CFG_100REL_REQUIRED ? SIP_100REL_REQUIRED
	       : g->rel100 == CFG_100REL_SUPPORTED ? SIP_100REL_SUPPORTED : SIP_100REL_OFF;
}

/* A new INVITE to one of the group's endpoints: how to answer it, or why not. */
static unsigned incoming(void *arg, struct sip_str user, const struct sip_msg *invite, struct sip_answer *a,
			 const struct sip_call_handler **h, void **harg)
{
	static _Thread_local char ip[48], key[UA_SRTP_B64_LEN + 1];
	struct ua_group *g = arg;
	struct cp_ua *ua = g->ua;
	struct ua_ep *ep = find_ep(ua, (uint16_t)(g - ua->groups), user);

	(void)invite;
	if (!ep || g->cfg->role == CFG_ROLE_CALLER)
		return 404;
	/* an endpoint that is not in service (not registered yet, failed, finished) is unavailable */
	if (ua->engine && !in_service(cp_engine_state(ua->engine, ep->idx)))
		return 480;
	if (ep->in)
		return 486; /* one incoming call at a time, as a phone */
	if (g->cfg->srtp != CFG_SRTP_OFF && new_srtp_key(key) < 0)
		return 500;
	local_sdp(ep, true, &a->media, ip, sizeof(ip), key);
	a->ring_ms = g->cfg->ring_ms;
	a->status = g->cfg->answer_code;
	a->contact_user = ep->user;
	a->rel100 = rel100_of(g->cfg);
	a->min_se_s = g->cfg->min_se_ms / 1000;
	a->early_media = g->cfg->early_media;
	*h = &in_handler;
	*harg = ep;
	return 0;
}

/* The destinations a located name has besides dst (none for numeric hosts). */
static unsigned alternatives(const struct ua_locate *l, const struct sockaddr_storage *dst,
			     struct sockaddr_storage *out)
{
	unsigned n = 0;

	for (unsigned i = 0; l && i < l->n; i++)
		if (!sip_same_addr(&l->t[i], dst))
			out[n++] = l->t[i];
	return n;
}

static int ua_call(void *arg, uint32_t idx, int64_t callee, const char *uri)
{
	struct cp_ua *ua = arg;
	struct ua_ep *ep = &ua->eps[idx];
	struct ua_group *g = grp(ep);
	char ruri[UA_URI_MAX], ip[48], key[UA_SRTP_B64_LEN + 1] = "";
	struct sockaddr_storage alt[SIP_DNS_MAX_TARGETS];
	struct sip_call_config cfg = { .from_user = ep->user, .from_domain = g->domain, .to_uri = ruri,
				       .auth_user = ep->user, .password = ep->password };
	int rc;

	if (ep->out)
		return -EBUSY;
	if (callee >= 0) {
		struct ua_ep *to = &ua->eps[callee];
		struct ua_group *tg = grp(to);
		if (g->has_registrar || g->has_proxy) {
			/* through the registrar/proxy, addressed to the callee's AOR */
			snprintf(ruri, sizeof(ruri), "sip:%s@%s", to->user, tg->domain);
			cfg.dst = g->registrar;
		} else {
			const char *ip = tg->ip;
			uint16_t port = tg->port;

			/* a callee on another worker of a gateway run: the address its part reported */
			if (!cfg_plan_ep_here(ua->plan, (uint32_t)callee) &&
			    cfg_plan_remote_addr(ua->plan, (uint32_t)callee, &ip, &port) < 0)
				return -EHOSTUNREACH;
			if (tg->cfg->port_per_endpoint) /* validated: local_port + index fits */
				port = (uint16_t)(tg->cfg->local_port + (callee - tg->first_ep));
			snprintf(ruri, sizeof(ruri), "sip:%s@%s:%u", to->user, ip, port);
			if (sip_addr_from(&cfg.dst, ip, port) < 0)
				return -EHOSTUNREACH;
		}
	} else {
		cm_strlcpy(ruri, uri, sizeof(ruri));
		if (g->has_registrar)
			cfg.dst = g->registrar;
		else if (!g->has_proxy && resolve_uri(uri, &cfg.dst) < 0)
			return -EHOSTUNREACH;
	}
	if (g->has_proxy) {
		cfg.dst = g->proxy;
		cfg.route = g->proxy_route;
	}
	/* RFC 3263 §4.3: the other destinations of the name the INVITE goes to, tried when this one fails */
	cfg.fallback = alt;
	cfg.nfallback = alternatives(g->has_proxy ? &g->loc[2] : g->has_registrar ? &g->loc[0]
				     : callee < 0 ? &g->loc[1] : NULL, &cfg.dst, alt);
	if (g->cfg->srtp != CFG_SRTP_OFF && new_srtp_key(key) < 0)
		return -EIO;
	local_sdp(ep, false, &cfg.media, ip, sizeof(ip), key);
	cfg.tp = ep->tp;
	cfg.rel100 = rel100_of(g->cfg);
	cfg.session_expires_s = g->cfg->session_expires_ms / 1000;
	cfg.min_se_s = g->cfg->min_se_ms / 1000;
	ep->out = sip_call_new(g->sua, &cfg, &out_handler, ep);
	if (!ep->out)
		return -ENOMEM;
	ep->in_op = true;
	rc = sip_call_start(ep->out); /* a failure ends (and frees) the call at once */
	ep->in_op = false;
	return rc;
}

static int ua_hangup(void *arg, uint32_t leg)
{
	struct cp_ua *ua = arg;
	struct ua_ep *ep = &ua->eps[CP_LEG_EP(leg)];
	struct sip_call *c = CP_LEG_INCOMING(leg) ? ep->in : ep->out;
	int rc;

	bool incoming = CP_LEG_INCOMING(leg), answered = incoming ? ep->in_answered : ep->out_answered;

	if (!c)
		return -EINVAL;
	ep->in_op = true;
	rc = sip_call_hangup(c);
	ep->in_op = false;
	/* an answered call that ended inside the op: its BYE could not be sent */
	if (rc == 0 && answered && !(incoming ? ep->in : ep->out))
		rc = -EIO;
	return rc;
}

/* ---- setup ------------------------------------------------------------------------------------------------ */

static enum sip_tp_kind transport_kind(const struct cfg_group *c)
{
	return c->transport == CFG_TRANSPORT_TLS ? SIP_TP_TLS : c->transport == CFG_TRANSPORT_TCP ? SIP_TP_TCP
												  : SIP_TP_UDP;
}

static const char *kind_label(const struct cfg_group *c)
{
	return transport_kind(c) == SIP_TP_TLS ? "TLS" : transport_kind(c) == SIP_TP_TCP ? "TCP" : "UDP";
}

/* The group's SIP transport: one socket (UDP) or one listener with connections on demand (TCP, TLS with the
 * plan's tls_* keys; our certificate, if given, also lets callers reach us over TLS).  Its transaction user is
 * the group's sip/ user agent core. */
static struct sip_tp *open_transport(struct cp_ua *ua, struct ua_group *g, const struct cfg_group *c,
				     uint16_t port)
{
	static const enum sip_tls_verify verify[] = { [CFG_TLS_VERIFY_SYSTEM] = SIP_TLS_VERIFY_SYSTEM,
						      [CFG_TLS_VERIFY_CA] = SIP_TLS_VERIFY_CA,
						      [CFG_TLS_VERIFY_NONE] = SIP_TLS_VERIFY_NONE };
	struct sip_tls_config tls = { .verify = verify[c->tls_verify], .ca_file = c->tls_ca_file,
				      .cert_file = c->tls_cert_file, .key_file = c->tls_key_file };

	return sip_tp_start(ua->loop, transport_kind(c), c->local_ip, port, &tls, &sip_ua_txn_ops, g->sua);
}

/* port_per_endpoint: the group's own socket is the first endpoint here's port (local_port + its index), so
 * that the group needs no extra port; a group with no endpoint on this worker takes any port. */
static uint16_t group_port(const struct cp_ua *ua, uint32_t gi)
{
	const struct cfg_group *c = &ua->plan->groups[gi];
	uint32_t first = 0;

	if (!c->port_per_endpoint)
		return c->local_port;
	for (uint32_t g = 0; g < gi; g++)
		first += ua->plan->groups[g].endpoints;
	for (uint32_t k = 0; k < c->endpoints; k++)
		if (cfg_plan_ep_here(ua->plan, first + k))
			return (uint16_t)(c->local_port + k);
	return 0;
}

/* Descriptors per endpoint with its own port (one, or three over TCP/TLS): the soft RLIMIT_NOFILE is raised to the hard limit when the
 * sockets and a margin for everything else (DPDK, the gateway session, files) do not fit; a hard limit too low
 * is a setup error that says what to change. */
#define UA_FD_MARGIN 1024u
static int fd_limit(const struct cp_ua *ua, char *err, size_t errlen)
{
	uint64_t need = UA_FD_MARGIN;
	struct rlimit rl;

	for (uint32_t gi = 0, first = 0; gi < ua->plan->ngroups; first += ua->plan->groups[gi++].endpoints)
		for (uint32_t k = 0; ua->plan->groups[gi].port_per_endpoint && k < ua->plan->groups[gi].endpoints; k++)
			/* TCP/TLS: its listener, its flow to the registrar/proxy, and one the proxy opens to it */
			need += cfg_plan_ep_here(ua->plan, first + k) *
				(ua->plan->groups[gi].transport == CFG_TRANSPORT_UDP ? 1u : 3u);
	if (need == UA_FD_MARGIN || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		snprintf(err, errlen, "port_per_endpoint needs %llu file descriptors (per endpoint one over UDP, three over "
			 "TCP/TLS, and %u more) but the hard limit is %llu: raise it (ulimit -Hn, systemd LimitNOFILE=) or use fewer "
			 "endpoints per worker", (unsigned long long)need, UA_FD_MARGIN,
			 (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(err, errlen, "port_per_endpoint needs %llu file descriptors: cannot raise the limit: %s",
			 (unsigned long long)need, strerror(errno));
		return -EMFILE;
	}
	cm_log(CM_LOG_INFO, "ua", "open file limit raised to %llu for per-endpoint SIP ports",
	       (unsigned long long)rl.rlim_cur);
	return 0;
}

/* A registrar, target or outbound proxy name resolved (RFC 3263): the first destination is used, the
 * registrar's others are its REGISTERs' failover; over TLS each destination's certificate is checked against
 * the name. */
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
	for (unsigned i = 0; i < r->n; i++) {
		sip_tp_set_peer_name(g->tp, &r->t[i].addr, l->host);
		l->t[i] = r->t[i].addr;
	}
	l->n = r->n;
	if (l == &g->loc[2])
		g->proxy = r->t[0].addr;
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
		for (unsigned k = 0; k < 3; k++) {
			static const char *const what[] = { "registrar", "target", "outbound_proxy" };
			const struct ua_locate *l = &ua->groups[gi].loc[k];
			if (l->pending || l->error) {
				snprintf(err, errlen, "[group %s]: cannot resolve %s '%s': %s", ua->plan->groups[gi].name,
					 what[k], l->host, l->pending ? "no answer" : l->error);
				return -EHOSTUNREACH;
			}
		}
	return 0;
}

/* A TCP/TLS flow to peer died (no answer to a keep-alive): the registrations that went through it (those of the
 * endpoints on that handle: the group's shared one, or one endpoint's own) register again at once over a new
 * flow (RFC 5626 §4.4.1) instead of waiting for their refresh. */
static void flow_dead(void *arg, struct sip_tp *tp, const struct sockaddr_storage *peer)
{
	struct ua_group *g = arg;

	for (uint32_t i = g->first_ep; i < g->first_ep + g->cfg->endpoints; i++) {
		struct ua_ep *ep = &g->ua->eps[i];

		if (ep->reg && ep->tp == tp && sip_same_addr(sip_reg_dst(ep->reg), peer))
			sip_reg_refresh(ep->reg);
	}
}

static int setup_group(struct cp_ua *ua, uint32_t gi, char *err, size_t errlen)
{
	struct ua_group *g = &ua->groups[gi];
	const struct cfg_group *c = &ua->plan->groups[gi];

	g->ua = ua;
	g->cfg = c;
	g->loc[0].g = g->loc[1].g = g->loc[2].g = g;
	g->sua = sip_ua_new(&(struct sip_ua_config){ .incoming = incoming, .arg = g });
	if (!g->sua) {
		snprintf(err, errlen, "[group %s]: out of memory", c->name);
		return -ENOMEM;
	}
	g->tp = open_transport(ua, g, c, group_port(ua, gi));
	if (!g->tp) {
		snprintf(err, errlen, "[group %s]: cannot open SIP/%s on %s:%u (see the log)", c->name, kind_label(c),
			 c->local_ip, group_port(ua, gi));
		return -EADDRINUSE;
	}
	sip_ua_attach(g->sua, g->tp);
	if (c->keepalive_ms) /* TCP/TLS only (the plan says so) */
		sip_tp_set_keepalive(g->tp, c->keepalive_ms, 0, flow_dead, g);
	cm_strlcpy(g->ip, c->local_ip, sizeof(g->ip));
	g->port = sip_tp_port(g->tp);
	/* names (and numbers) of the registrar, a URI target and the outbound proxy are looked up now, on the loop
	 * (RFC 3263: SRV, then A/AAAA); locate_wait collects the answers before any endpoint exists */
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
	if (!c->registrar[0] && !c->outbound_proxy[0] && c->target_kind == CFG_TARGET_URI) {
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
	if (c->outbound_proxy[0]) {
		char host[CFG_HOST_MAX];
		uint16_t port;
		cfg_parse_hostport(c->outbound_proxy, 0, host, sizeof(host), &port);
		snprintf(g->proxy_route, sizeof(g->proxy_route), "<sip:%s:%u;lr%s>", host,
			 port ? port : transport_kind(c) == SIP_TP_TLS ? 5061 : 5060, sip_tp_uri_param(g->tp));
		g->has_proxy = true;
		if (locate(ua, &g->loc[2], host, port) < 0) {
			snprintf(err, errlen, "[group %s]: cannot resolve outbound_proxy '%s'", c->name,
				 c->outbound_proxy);
			return -EHOSTUNREACH;
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
			for (int in = 0; in < 2; in++) {
				ep->dtmf[in] = (struct ua_dtmf){ .ep = ep, .incoming = in };
				cp_timer_init(&ep->dtmf[in].t, dtmf_next, &ep->dtmf[in]);
			}
			cp_timer_init(&ep->hold_t, hold_next, ep);
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
			ep->tp = ua->groups[gi].tp;
			if (c->port_per_endpoint && cfg_plan_ep_here(ua->plan, idx) &&
			    (uint32_t)c->local_port + k != ua->groups[gi].port) {
				ep->tp = sip_tp_open_port(ua->groups[gi].tp, (uint16_t)(c->local_port + k));
				if (!ep->tp) {
					snprintf(err, errlen, "[group %s]: cannot open SIP/%s on %s:%u for '%s' (see the "
						 "log)", c->name, kind_label(c), c->local_ip, c->local_port + k, ep->user);
					if (csv)
						fclose(csv);
					return -EADDRINUSE;
				}
			}
			if (ua->groups[gi].has_registrar) {
				struct sip_reg_config rc = { .domain = ua->groups[gi].domain, .user = ep->user,
							     .password = ep->password,
							     .dst = ua->groups[gi].has_proxy ? ua->groups[gi].proxy
											      : ua->groups[gi].registrar,
							     .route = ua->groups[gi].has_proxy ? ua->groups[gi].proxy_route : NULL,
							     .expires = c->register_expires_s,
							     .fallback = ua->groups[gi].reg_fallback,
							     .nfallback = ua->groups[gi].has_proxy ? 0 : ua->groups[gi].nreg_fallback };
				ep->reg = sip_reg_new(ep->tp, &rc, reg_changed, ep);
				if (!ep->reg) {
					snprintf(err, errlen, "[group %s]: cannot set up registration of '%s'", c->name,
						 ep->user);
					if (csv)
						fclose(csv);
					return -EINVAL;
				}
			}
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
	int rc = -ENOMEM;

	if (!ua) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	ua->loop = loop;
	ua->plan = plan;
	ua->media = media;
	ua->n = plan->total_endpoints;
	if (getrandom(&ua->sess_id, sizeof(ua->sess_id), 0) != sizeof(ua->sess_id))
		ua->sess_id = cm_now_us();
	ua->sess_id >>= 20;
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
	if ((rc = fd_limit(ua, err, errlen)) < 0)
		goto fail;
	for (uint32_t g = 0; g < plan->ngroups; g++)
		if ((rc = setup_group(ua, g, err, errlen)) < 0)
			goto fail;
	if ((rc = locate_wait(ua, err, errlen)) < 0 || (rc = setup_endpoints(ua, err, errlen)) < 0)
		goto fail;
	return ua;

fail:
	cp_ua_free(ua);
	errno = -rc;
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
		sip_call_free(ua->eps[i].out); /* received calls are their UA's */
		cp_timer_stop(ua->loop, &ua->eps[i].dtmf[0].t);
		cp_timer_stop(ua->loop, &ua->eps[i].dtmf[1].t);
		cp_timer_stop(ua->loop, &ua->eps[i].hold_t);
		sip_reg_free(ua->eps[i].reg);
	}
	for (uint32_t g = 0; g < CFG_MAX_GROUPS; g++) {
		const struct sip_ua_stats *st = ua->groups[g].sua ? sip_ua_stats(ua->groups[g].sua) : NULL;

		if (st && (st->ok_retransmissions || st->ack_timeouts))
			cm_log(CM_LOG_INFO, "ua", "[group %s]: 2xx retransmitted %u times waiting for ACKs, %u never ACKed",
			       ua->plan->groups[g].name, st->ok_retransmissions, st->ack_timeouts);
		sip_ua_free(ua->groups[g].sua);
		sip_tp_stop(ua->groups[g].tp);
	}
	sip_dns_free(ua->dns);
	free(ua->hash);
	free(ua->eps);
	free(ua);
}

static uint32_t ua_reg_refreshes(void *arg)
{
	struct cp_ua *ua = arg;
	uint32_t n = 0;

	for (uint32_t i = 0; i < ua->n; i++)
		if (ua->eps[i].reg)
			n += sip_reg_stats(ua->eps[i].reg)->refreshes;
	return n;
}

const struct cp_engine_ops cp_ua_engine_ops = {
	.reg = ua_reg,
	.call = ua_call,
	.hangup = ua_hangup,
	.media_start = cp_media_start,
	.media_update = cp_media_update,
	.media_stop = cp_media_stop,
	.media_sample = cp_media_sample,
	.media_sample_begin = cp_media_sample_begin,
	.reg_refreshes = ua_reg_refreshes,
};
