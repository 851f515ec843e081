/* callmeter-worker analyze FILE.pcap [--json-summary FILE] [--max-flows N] [--srtp-key SSRC_OR_PORT:SUITE:KEY]...
 *                          [--sip-port N] [--owd-ext-id auto|off|1..14]
 *
 * Passive analysis of the RTP in a capture through the dataplane's own RX path: the file is read by DPDK's
 * pcap PMD (packet times from the file through the mbuf timestamp dynfield), each frame goes through
 * dp_parse() and each stream through dp_rx_packet().  Streams are learned from the traffic: any UDP packet that
 * parses as RTP version 2 (not RTCP) opens a stream keyed by (source, destination, SSRC), as Wireshark keys
 * them; a stream that never passes RFC 3550 A.1 probation (two packets in sequence) is not RTP and is not
 * reported.  RTCP (RFC 3550 §6) is read too, keyed by SSRC: a stream's sender reports, and what the other side
 * reported about it (fraction and cumulative loss, jitter), and the round trip as seen at the capture point:
 * (arrival of the report block − arrival of the SR it names) − DLSR.  MOS and R come from the codecs' G.107
 * E-model.  SRTP streams are authenticated and decrypted when a key is known: given on the command line, or
 * learned from the a=crypto lines of SDP in SIP over UDP or TCP in the same capture (each direction of a TCP
 * connection to or from the SIP port reassembled in sequence and framed by Content-Length); without one they are analysed
 * from their headers.  The RFC 8285 TX-time element the dataplane sends gives one-way delay (capture time − TX
 * time: the sender's clock and the capture's must be one, or synchronised).  Exit status: 0 done, 1 the file
 * could not be read, 2 bad arguments. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <srtp2/srtp.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane_internal.h"
#include "sip/sip.h"

#define AN_BURST 32
#define AN_MAX_FLOWS_DEFAULT 65536
#define AN_IDLE_POLLS 20000 /* empty polls after the last packet: the pcap PMD has reached the end of file */
#define AN_SIP_PORT 5060
#define AN_SRTP_WINDOW 1024 /* replay window: a capture's late packets are still checked */
#define AN_KEY_CAND 4       /* a=crypto lines kept per SDP media section (the answer picks one by tag) */
#define AN_SDP_FMTS 8       /* dynamic payload types kept per SDP media section (a=rtpmap: name and clock) */
#define AN_OWD_PROBE 32     /* packets of a stream searched for a TX-time element when its id is not given */
#define AN_OWD_PLAUSIBLE_NS (86400ull * 1000000000ull) /* a TX time this close to the capture time is one */
#define NTP_UNIX_OFFSET 2208988800ull
#define AN_TCP_STREAMS 1024 /* TCP directions to or from the SIP port followed at once (the oldest gives way) */
#define AN_TCP_FIRST 4096   /* a direction's buffer at first; it grows to two messages' worth */
#define AN_TCP_MAX (2 * SIP_MAX_MSG_SIZE)

struct an_key {
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	uint32_t ssrc;
};

struct an_flow {
	struct an_key key;
	uint8_t pt;
	uint8_t owd_id;           /* RFC 8285 id of the TX-time element (given, or found in the stream), 0: none */
	char codec[16];           /* a=rtpmap encoding of a dynamic payload type, from the call's SDP; "": none */
	uint32_t ptime_ticks;     /* the most recent timestamp step of consecutive packets, for burst durations */
	uint64_t first_ns;
	struct dp_rx_stats rx;
	/* SRTP: the key entry used (index + 1, 0: none) and the key table generation it was looked up at */
	uint32_t skey, key_gen;
	uint32_t srtp_ok, srtp_auth_fail, srtp_replay, srtp_rekeys;
	/* one-way delay: capture time − the sender's TX time from the extension */
	uint32_t owd_n;
	int64_t owd_min_ns, owd_max_ns, owd_sum_ns;
};

/* SRTP keys: from --srtp-key (by SSRC, or by the stream's source port), and from the a=crypto lines of SDP
 * bodies in SIP over UDP.  An SDP key belongs to the SDP's author, who sends with it from the address and port
 * it announces (symmetric RTP), so it is looked up by a stream's source; and, once the other side's SDP of the
 * same call and m= line is seen, by the stream's destination being that other side. */
enum an_key_kind { AN_KEY_SSRC = 1, AN_KEY_PORT, AN_KEY_SDP };

struct an_skey {
	uint8_t kind;
	bool savp;                /* SDP: an RTP/SAVP profile (SRTP) */
	uint8_t ncand, chosen, session_cand;
	uint32_t ssrc;            /* AN_KEY_SSRC */
	uint32_t ip;              /* AN_KEY_SDP: the author's media address */
	uint16_t port;            /* AN_KEY_PORT: the source port; AN_KEY_SDP: the author's media port */
	uint16_t peer_port;       /* AN_KEY_SDP: the other side's media address, 0: not seen yet */
	uint32_t peer_ip;
	uint64_t call;            /* AN_KEY_SDP: hash of the Call-ID */
	unsigned media;           /* AN_KEY_SDP: m= line index */
	struct {
		uint32_t tag;
		uint8_t suite;
		uint8_t key[DP_SRTP_KEY_LEN];
	} cand[AN_KEY_CAND];
	const char *unusable;     /* SAVP without a key this can use: why */
	unsigned nfmt;            /* AN_KEY_SDP: the section's dynamic payload types */
	struct {
		uint8_t pt;
		uint32_t clock;
		char name[16];
	} fmt[AN_SDP_FMTS];
	srtp_t session;           /* inbound, created at first use with cand[session_cand] */
	uint32_t newer;           /* the entry that replaced this one (a re-INVITE with new keys), index + 1 */
};

/* One direction of a TCP connection to or from the SIP port: bytes in sequence order, framed into messages. */
struct an_tcp {
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	bool used, synced;
	bool resync;              /* after a hole or unframeable input: skip to the next start line */
	size_t resync_scanned;    /* bytes of the buffer already searched for it (no line end in them) */
	uint32_t next_seq;        /* the sequence number of the next byte expected */
	uint64_t last_use;
	struct sip_framer framer;
	char *buf;
	size_t len, cap;
};

struct an_keys {
	struct an_skey *e;
	uint32_t n, cap;
	uint32_t gen;             /* changes with every entry: streams without a key look again */
	uint32_t from_options, from_sdp;
	uint64_t sip_messages, sdp_bodies, sdp_bad;
	uint64_t sip_tcp_messages, sip_tcp_gaps, sip_tcp_bad; /* of those over TCP; holes and unframeable streams */
	uint16_t sip_port;
	struct sip_msg *msg;
	struct sdp_session *sdp;
	struct an_tcp *tcp;       /* AN_TCP_STREAMS, allocated at the first TCP segment */
	uint64_t tcp_clock;
};

/* RTCP about one SSRC: its last sender reports (a report block names one of them by LSR), and the last report
 * block about it. */
#define AN_SR_KEEP 4
struct an_rtcp {
	uint32_t ssrc;
	uint32_t sr_count, rr_blocks;
	struct {
		uint32_t lsr;     /* middle 32 bits of the SR's NTP time */
		uint64_t at_ns;   /* its capture time */
	} sr[AN_SR_KEEP];
	unsigned sr_next;
	uint8_t fraction_lost;
	int32_t cum_lost;
	uint32_t jitter;          /* RTP timestamp units */
	uint32_t rtt_count;
	uint64_t rtt_sum_ns, rtt_min_ns, rtt_max_ns;
};

struct an_rtcp_table {
	uint32_t cap;             /* power of two, twice max */
	uint32_t *slots;          /* entry index + 1 */
	struct an_rtcp *e;
	uint32_t n, max;
	uint64_t packets;         /* well-formed compounds */
	uint64_t now_ns;          /* the capture time of the compound being read */
};

struct an_table {
	uint32_t cap;             /* power of two, twice max_flows */
	uint32_t *slots;          /* flow index + 1 */
	struct an_flow *flows;
	uint32_t n, max;
};

static uint32_t key_hash(const struct an_key *k)
{
	uint64_t h = ((uint64_t)k->src_ip << 32 | k->dst_ip) * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)k->src_port << 48 | (uint64_t)k->dst_port << 32 | k->ssrc) * 0xc2b2ae3d27d4eb4full;
	return (uint32_t)(h ^ (h >> 29));
}

/* Open addressing, linear probing; NULL when the table is full. */
static struct an_flow *an_lookup(struct an_table *t, const struct an_key *k, bool *created)
{
	uint32_t i = key_hash(k) & (t->cap - 1);

	*created = false;
	for (;;) {
		uint32_t s = t->slots[i];

		if (!s)
			break;
		if (memcmp(&t->flows[s - 1].key, k, sizeof(*k)) == 0)
			return &t->flows[s - 1];
		i = (i + 1) & (t->cap - 1);
	}
	if (t->n == t->max)
		return NULL;
	t->slots[i] = ++t->n;
	*created = true;
	return &t->flows[t->n - 1];
}

static struct an_rtcp *an_rtcp_find(struct an_rtcp_table *t, uint32_t ssrc, bool create)
{
	uint32_t i = (ssrc * 0x9e3779b1u) & (t->cap - 1);

	for (;;) {
		uint32_t s = t->slots[i];

		if (!s)
			break;
		if (t->e[s - 1].ssrc == ssrc)
			return &t->e[s - 1];
		i = (i + 1) & (t->cap - 1);
	}
	if (!create || t->n == t->max)
		return NULL;
	t->slots[i] = ++t->n;
	t->e[t->n - 1].ssrc = ssrc;
	return &t->e[t->n - 1];
}

static void an_rtcp_sender(void *arg, const struct dp_rtcp_sender *snd)
{
	struct an_rtcp_table *t = arg;
	struct an_rtcp *e;

	if (!snd->sr || !(e = an_rtcp_find(t, snd->ssrc, true)))
		return;
	e->sr_count++;
	e->sr[e->sr_next].lsr = (uint32_t)(snd->ntp >> 16);
	e->sr[e->sr_next].at_ns = t->now_ns;
	e->sr_next = (e->sr_next + 1) % AN_SR_KEEP;
}

/* RFC 3550 §6.4.1 with capture times in place of the sender's clock: the SR named by LSR was seen at a, the
 * block that names it at b, and the reporter held it DLSR: the round trip from the capture point is b − a − DLSR. */
static void an_rtcp_block(void *arg, uint32_t reporter, const struct dp_rtcp_block *b)
{
	struct an_rtcp_table *t = arg;
	struct an_rtcp *e = an_rtcp_find(t, b->ssrc, true);

	(void)reporter;
	if (!e)
		return;
	e->rr_blocks++;
	e->fraction_lost = b->fraction_lost;
	e->cum_lost = b->cum_lost;
	e->jitter = b->jitter;
	for (unsigned i = 0; b->lsr && i < AN_SR_KEEP; i++) {
		uint64_t dlsr_ns = (uint64_t)b->dlsr * 1000000000ull >> 16, rtt;

		if (e->sr[i].lsr != b->lsr || !e->sr[i].at_ns || t->now_ns < e->sr[i].at_ns + dlsr_ns)
			continue;
		rtt = t->now_ns - e->sr[i].at_ns - dlsr_ns;
		e->rtt_min_ns = !e->rtt_count || rtt < e->rtt_min_ns ? rtt : e->rtt_min_ns;
		e->rtt_max_ns = rtt > e->rtt_max_ns ? rtt : e->rtt_max_ns;
		e->rtt_sum_ns += rtt;
		e->rtt_count++;
		break;
	}
}

/* ---- SRTP keys ---------------------------------------------------------------------------------------------- */

static struct an_skey *key_new(struct an_keys *k)
{
	if (k->n == k->cap) {
		uint32_t cap = k->cap ? 2 * k->cap : 16;
		struct an_skey *e = realloc(k->e, cap * sizeof(*e));

		if (!e)
			return NULL;
		k->e = e;
		k->cap = cap;
	}
	memset(&k->e[k->n], 0, sizeof(k->e[0]));
	k->gen++;
	return &k->e[k->n++];
}

/* --srtp-key SSRC_OR_PORT:SUITE:BASE64KEY (SSRC as 0x + hex; the key may keep its "inline:" prefix). */
static int key_option(struct an_keys *k, const char *arg)
{
	const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *b64;
	char sel[16];
	uint64_t v;
	struct an_skey *e;
	uint8_t suite;

	if (!c1 || !c2 || (size_t)(c1 - arg) >= sizeof(sel))
		return -EINVAL;
	memcpy(sel, arg, (size_t)(c1 - arg));
	sel[c1 - arg] = '\0';
	suite = dp_srtp_suite_from_name(c1 + 1, (size_t)(c2 - c1 - 1));
	b64 = c2 + 1;
	if (strncmp(b64, "inline:", 7) == 0)
		b64 += 7;
	if (!suite || !(e = key_new(k)))
		return -EINVAL;
	if (!dp_srtp_key_from_b64(b64, strlen(b64), e->cand[0].key))
		goto bad;
	if ((sel[0] == '0' && (sel[1] == 'x' || sel[1] == 'X'))) {
		char *end;

		errno = 0;
		v = strtoull(sel + 2, &end, 16);
		if (errno || !sel[2] || *end || v > UINT32_MAX)
			goto bad;
		e->kind = AN_KEY_SSRC;
		e->ssrc = (uint32_t)v;
	} else {
		if (cm_parse_u64(sel, 1, 65535, &v) < 0)
			goto bad;
		e->kind = AN_KEY_PORT;
		e->port = (uint16_t)v;
	}
	e->savp = true;
	e->ncand = 1;
	e->cand[0].suite = suite;
	k->from_options++;
	return 0;
bad:
	k->n--;
	return -EINVAL;
}

/* The entry a stream (or its RTCP, one port up) uses: an option by SSRC, an option by source port, the SDP of
 * its source, the SDP of the other side of its destination; the most recent of each. */
static uint32_t key_find(const struct an_keys *k, uint32_t ssrc, uint32_t src_ip, uint16_t src_port,
			 uint32_t dst_ip, uint16_t dst_port)
{
	uint32_t by_port = 0, by_src = 0, by_dst = 0;

	for (uint32_t i = k->n; i-- > 0;) {
		const struct an_skey *e = &k->e[i];

		if (e->kind == AN_KEY_SSRC && e->ssrc == ssrc)
			return i + 1;
		if (e->kind == AN_KEY_PORT && !by_port && e->port == src_port)
			by_port = i + 1;
		if (e->kind == AN_KEY_SDP && !by_src && e->ip == src_ip && e->port == src_port)
			by_src = i + 1;
		if (e->kind == AN_KEY_SDP && !by_dst && e->peer_port && e->peer_ip == dst_ip && e->peer_port == dst_port)
			by_dst = i + 1;
	}
	return by_port ? by_port : by_src ? by_src : by_dst;
}

/* A dynamic payload type's a=rtpmap from the SDP of a stream's source (or, failing that, of its destination):
 * its clock (for jitter) and name (codec); false when no SDP seen names it. */
static bool sdp_format(const struct an_keys *k, const struct dp_pkt *pk, uint32_t *clock, char name[16])
{
	for (unsigned pass = 0; pass < 2; pass++)
		for (uint32_t i = k->n; i-- > 0;) {
			const struct an_skey *e = &k->e[i];

			if (e->kind != AN_KEY_SDP || e->ip != (pass ? pk->dst_ip : pk->src_ip) ||
			    e->port != (pass ? pk->dst_port : pk->src_port))
				continue;
			for (unsigned f = 0; f < e->nfmt; f++)
				if (e->fmt[f].pt == pk->pt) {
					*clock = e->fmt[f].clock;
					memcpy(name, e->fmt[f].name, 16);
					return true;
				}
		}
	return false;
}

/* The clock of a packet's payload type: RFC 3551's static one, else the SDP's a=rtpmap (its name into name); 0:
 * unknown (the packets of that type count for sequence and loss, not timing). */
static uint32_t pt_clock(const struct an_keys *k, const struct dp_pkt *pk, char name[16])
{
	uint32_t clock = dp_static_pt_clock(pk->pt);

	if (!clock && !sdp_format(k, pk, &clock, name))
		clock = 0;
	return clock;
}

/* The entry's inbound session, created at first use; NULL when it has no usable key. */
static srtp_t key_session(struct an_keys *k, uint32_t idx)
{
	struct an_skey *e = &k->e[idx - 1];

	if (!e->ncand)
		return NULL;
	if (e->session && e->session_cand != e->chosen) { /* the answer chose another a=crypto line */
		srtp_dealloc(e->session);
		e->session = NULL;
	}
	if (!e->session) {
		e->session = dp_srtp_session(e->cand[e->chosen].key, e->cand[e->chosen].suite, true, AN_SRTP_WINDOW);
		e->session_cand = e->chosen;
	}
	return e->session;
}

static uint64_t str_hash(struct sip_str s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < s.len; i++)
		h = (h ^ (uint8_t)s.p[i]) * 0x100000001b3ull;
	return h;
}

/* One SDP media section of a call: a new entry for its author's address (the previous one, if its keys differ,
 * points to it), paired with the other side's latest section of the same index. */
static void key_from_sdp(struct an_keys *k, uint64_t call, unsigned mi, const struct sdp_media *m)
{
	char ipbuf[48];
	struct in_addr a;
	struct an_skey n = { .kind = AN_KEY_SDP, .call = call, .media = mi, .port = m->port }, *e;
	uint32_t same = 0, other = 0;

	if (!m->port || m->addr.len >= sizeof(ipbuf))
		return;
	memcpy(ipbuf, m->addr.p, m->addr.len);
	ipbuf[m->addr.len] = '\0';
	if (inet_pton(AF_INET, ipbuf, &a) != 1)
		return;
	n.ip = ntohl(a.s_addr);
	for (size_t i = 0; i + 4 <= m->proto.len; i++)
		n.savp |= memcmp(m->proto.p + i, "SAVP", 4) == 0;
	for (unsigned c = 0; n.savp && c < m->ncrypto && n.ncand < AN_KEY_CAND; c++) {
		const struct sdp_crypto *cr = &m->crypto[c];
		uint8_t suite = dp_srtp_suite_from_name(cr->suite.p, cr->suite.len);

		if (!suite) {
			n.unusable = "a=crypto suite not supported (AES_CM_128_HMAC_SHA1_80/_32 are)";
			continue;
		}
		if (!dp_srtp_key_from_b64(cr->key.p, cr->key.len, n.cand[n.ncand].key)) {
			n.unusable = "a=crypto key is not 30 bytes of base64";
			continue;
		}
		n.cand[n.ncand].tag = cr->tag;
		n.cand[n.ncand++].suite = suite;
	}
	if (n.savp && !n.ncand && !n.unusable)
		n.unusable = "SRTP without a=crypto (DTLS-SRTP or no key in the SDP)";
	if (n.ncand)
		n.unusable = NULL;
	for (unsigned f = 0; f < m->nfmt && n.nfmt < AN_SDP_FMTS; f++) {
		const struct sdp_format *x = &m->fmt[f];

		size_t ok = 0;

		while (ok < x->encoding.len && (isalnum((unsigned char)x->encoding.p[ok]) ||
						(x->encoding.p[ok] && strchr("-_.", x->encoding.p[ok]))))
			ok++;
		if (x->pt < 96 || !x->clock_rate || !x->encoding.len || x->encoding.len >= sizeof(n.fmt[0].name) ||
		    ok < x->encoding.len)
			continue; /* the name goes into JSON as it is: token characters only */
		n.fmt[n.nfmt].pt = x->pt;
		n.fmt[n.nfmt].clock = x->clock_rate;
		memcpy(n.fmt[n.nfmt].name, x->encoding.p, x->encoding.len);
		n.fmt[n.nfmt++].name[x->encoding.len] = '\0';
	}
	for (uint32_t i = k->n; i-- > 0 && (!same || !other);) {
		const struct an_skey *x = &k->e[i];

		if (x->kind != AN_KEY_SDP || x->call != call || x->media != mi)
			continue;
		if (x->ip == n.ip && x->port == n.port)
			same = same ? same : i + 1;
		else
			other = other ? other : i + 1;
	}
	if (other) {
		n.peer_ip = k->e[other - 1].ip;
		n.peer_port = k->e[other - 1].port;
	}
	if (same) {
		e = &k->e[same - 1];
		if (e->ncand == n.ncand && e->savp == n.savp && memcmp(e->cand, n.cand, sizeof(n.cand)) == 0 &&
		    e->nfmt == n.nfmt && memcmp(e->fmt, n.fmt, sizeof(n.fmt)) == 0) {
			if (other && (e->peer_ip != n.peer_ip || e->peer_port != n.peer_port)) {
				e->peer_ip = n.peer_ip;
				e->peer_port = n.peer_port;
				k->gen++;
			}
			goto pair; /* the same description again (a retransmission, a re-INVITE keeping its keys) */
		}
	}
	if (!(e = key_new(k)))
		return;
	*e = n;
	k->from_sdp += n.ncand > 0;
	if (same)
		k->e[same - 1].newer = k->n;
pair:
	if (other) {
		struct an_skey *o = &k->e[other - 1];

		o->peer_ip = e->ip;
		o->peer_port = e->port;
		/* an answer's single a=crypto line names the offer's line it accepts */
		for (unsigned c = 0; e->ncand == 1 && c < o->ncand; c++)
			if (o->cand[c].tag == e->cand[0].tag)
				o->chosen = (uint8_t)c;
		k->gen++;
	}
}

/* A UDP datagram to or from the SIP port: false when it is not a SIP message. */
static bool sip_learn(struct an_keys *k, const uint8_t *p, uint32_t len)
{
	const struct sip_hdr *ct, *cid;

	if (sip_msg_parse(k->msg, (const char *)p, len) < 0)
		return false;
	k->sip_messages++;
	ct = sip_msg_hdr(k->msg, SIP_HDR_CONTENT_TYPE);
	cid = sip_msg_hdr(k->msg, SIP_HDR_CALL_ID);
	if (!k->msg->body.len || !ct || !cid || ct->value.len < 15 || strncasecmp(ct->value.p, "application/sdp", 15))
		return true;
	k->sdp_bodies++;
	if (sdp_parse(k->sdp, k->msg->body.p, k->msg->body.len) < 0) {
		k->sdp_bad++;
		return true;
	}
	for (unsigned i = 0; i < k->sdp->nmedia; i++)
		key_from_sdp(k, str_hash(cid->value), i, &k->sdp->media[i]);
	return true;
}

/* The direction (src → dst) of a TCP connection; a new one replaces the least recently used when all are taken.
 * NULL: out of memory. */
static struct an_tcp *tcp_stream(struct an_keys *k, const struct dp_pkt *pk, uint16_t sport, uint16_t dport)
{
	struct an_tcp *s, *lru = NULL;

	if (!k->tcp && !(k->tcp = calloc(AN_TCP_STREAMS, sizeof(*k->tcp))))
		return NULL;
	for (unsigned i = 0; i < AN_TCP_STREAMS; i++) {
		s = &k->tcp[i];
		if (s->used && s->src_ip == pk->src_ip && s->dst_ip == pk->dst_ip && s->src_port == sport &&
		    s->dst_port == dport)
			goto found;
		if (!lru || !s->used || (lru->used && s->last_use < lru->last_use))
			lru = s;
	}
	s = lru;
	*s = (struct an_tcp){ .src_ip = pk->src_ip, .dst_ip = pk->dst_ip, .src_port = sport, .dst_port = dport,
			      .used = true, .buf = s->buf, .cap = s->cap };
	sip_framer_reset(&s->framer);
found:
	s->last_use = ++k->tcp_clock;
	return s;
}

/* What is buffered cannot be read (a hole, or more than a message may be): dropped, and the stream resumes at the
 * next start line. */
static void tcp_drop(struct an_tcp *s)
{
	s->len = 0;
	s->resync = true;
	s->resync_scanned = 0;
	sip_framer_reset(&s->framer);
}

/* Appends a segment's new bytes (a retransmission's overlap skipped); a hole before it drops what was buffered
 * (the message it was part of cannot be read) and starts again from it.  false: out of memory. */
static bool tcp_append(struct an_keys *k, struct an_tcp *s, uint32_t seq, const uint8_t *p, uint32_t n)
{
	uint32_t behind;

	if (!s->synced) { /* the capture began inside the connection, perhaps inside a message */
		s->next_seq = seq;
		s->synced = true;
		s->resync = true;
		s->resync_scanned = 0;
	}
	behind = s->next_seq - seq; /* sequence space is modulo 2^32: "behind" when under half of it */
	if (behind && behind < 0x80000000u) {
		if (behind >= n)
			return true; /* all of it seen already */
		p += behind;
		n -= behind;
	} else if (behind) { /* ahead: the message the hole is in cannot be read; the next one can */
		k->sip_tcp_gaps++;
		tcp_drop(s);
		s->next_seq = seq;
	}
	s->next_seq += n;
	if (s->len + n > AN_TCP_MAX) { /* longer than any message may be: not SIP after all */
		k->sip_tcp_bad++;
		tcp_drop(s);
		return true;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : AN_TCP_FIRST;
		char *b;

		while (cap < s->len + n)
			cap *= 2;
		if (!(b = realloc(s->buf, cap)))
			return false;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return true;
}

/* Drops buffered bytes up to the next line that starts a SIP message: "SIP/2.0 " at its start (a status line) or
 * " SIP/2.0" at its end (a request line; "Via: SIP/2.0/TCP" is neither).  false while no such line is complete. */
static bool tcp_resync(struct an_tcp *s)
{
	size_t line = 0;

	for (size_t i = s->resync_scanned; i < s->len; i++) {
		size_t end = i;

		if (s->buf[i] != '\n')
			continue;
		if (end > line && s->buf[end - 1] == '\r')
			end--;
		if (end - line >= 8 && (memcmp(s->buf + line, "SIP/2.0 ", 8) == 0 ||
					memcmp(s->buf + end - 8, " SIP/2.0", 8) == 0)) {
			memmove(s->buf, s->buf + line, s->len - line);
			s->len -= line;
			s->resync = false;
			s->resync_scanned = 0;
			sip_framer_reset(&s->framer);
			return true;
		}
		line = i + 1;
	}
	memmove(s->buf, s->buf + line, s->len - line); /* only a line still arriving is kept */
	s->len -= line;
	s->resync_scanned = s->len; /* and it has no line end yet: the next search starts after it */
	return false;
}

/* A TCP segment to or from the SIP port: its bytes go to its direction's stream and every complete message
 * framed there is learned like a UDP one.  false when it is not such a segment. */
static bool tcp_learn(struct an_keys *k, const struct dp_pkt *pk)
{
	const uint8_t *t = pk->l4;
	uint16_t sport, dport;
	uint32_t hl, seq;
	uint8_t flags;
	struct an_tcp *s;
	size_t mlen;

	if (pk->ip_proto != 6 || pk->l4_len < 20)
		return false;
	sport = dp_rd16(t);
	dport = dp_rd16(t + 2);
	if (sport != k->sip_port && dport != k->sip_port)
		return false;
	seq = dp_rd32(t + 4);
	hl = (t[12] >> 4) * 4u;
	flags = t[13];
	if (hl < 20 || hl > pk->l4_len) {
		k->sip_tcp_bad++;
		return true;
	}
	if (!(s = tcp_stream(k, pk, sport, dport)))
		return true;
	if (flags & 0x02) { /* SYN: the data starts after it */
		s->next_seq = seq + 1;
		s->synced = true;
		s->resync = false;
		s->resync_scanned = 0;
		s->len = 0;
		sip_framer_reset(&s->framer);
	}
	if (pk->l4_len > hl && !tcp_append(k, s, seq, t + hl, pk->l4_len - hl))
		return true;
	while (s->len) { /* (a stream that never had data has no buffer yet) */
		enum sip_frame_rc rc;

		if (s->resync && !tcp_resync(s))
			break;
		rc = sip_frame(&s->framer, s->buf, s->len, &mlen);
		if (rc == SIP_FRAME_AGAIN)
			break;
		if (rc == SIP_FRAME_ERROR) { /* not SIP after all: from the next start line after this one */
			const char *nl = memchr(s->buf, '\n', s->len);
			size_t drop = nl ? (size_t)(nl - s->buf) + 1 : s->len;

			k->sip_tcp_bad++;
			memmove(s->buf, s->buf + drop, s->len - drop);
			s->len -= drop;
			s->resync = true;
			s->resync_scanned = 0;
			continue;
		}
		if (sip_learn(k, (const uint8_t *)s->buf + s->framer.skip, (uint32_t)(mlen - s->framer.skip)))
			k->sip_tcp_messages++;
		memmove(s->buf, s->buf + mlen, s->len - mlen);
		s->len -= mlen;
		sip_framer_reset(&s->framer);
	}
	if (flags & 0x05) /* FIN or RST: the direction is over */
		s->used = false;
	return true;
}

bool dp_an_learn_sip(struct an_keys *k, const struct dp_pkt *pk, enum dp_drop_reason r)
{
	if (!k->sip_port)
		return false;
	if (r == DP_DROP_rtp_bad_version || r == DP_DROP_rtp_truncated || r == DP_DROP_NONE)
		return (pk->src_port == k->sip_port || pk->dst_port == k->sip_port) &&
		       sip_learn(k, pk->udp_payload, pk->udp_len);
	return r == DP_DROP_not_udp && tcp_learn(k, pk);
}

/* The parser's buffers; 0 or −ENOMEM. */
static int keys_init(struct an_keys *k)
{
	k->msg = malloc(sizeof(*k->msg));
	k->sdp = malloc(sizeof(*k->sdp));
	return k->msg && k->sdp ? 0 : -ENOMEM;
}

static void keys_free(struct an_keys *k)
{
	for (uint32_t i = 0; i < k->n; i++)
		if (k->e[i].session)
			srtp_dealloc(k->e[i].session);
	free(k->e);
	free(k->msg);
	free(k->sdp);
	for (unsigned i = 0; k->tcp && i < AN_TCP_STREAMS; i++)
		free(k->tcp[i].buf);
	free(k->tcp);
}

struct an_keys *dp_an_keys_new(uint16_t sip_port)
{
	struct an_keys *k = calloc(1, sizeof(*k));

	if (k && keys_init(k) < 0) {
		dp_an_keys_free(k);
		return NULL;
	}
	if (k)
		k->sip_port = sip_port;
	return k;
}

void dp_an_keys_free(struct an_keys *k)
{
	if (!k)
		return;
	keys_free(k);
	free(k);
}

/* Authenticates and decrypts an RTP packet of a stream with a key; false when it failed (counted on the
 * stream: not analysed).  Replays pass unchecked (libsrtp checks the index before the tag) and are analysed
 * from their headers, so that duplicates count as duplicates, as tshark counts them. */
static bool srtp_check(struct an_keys *k, struct an_flow *f, struct dp_pkt *pk, int *len)
{
	srtp_t s;
	srtp_err_status_t st;
	uint32_t latest;

	if (f->key_gen != k->gen) {
		f->key_gen = k->gen;
		if (!f->skey)
			f->skey = key_find(k, pk->ssrc, pk->src_ip, pk->src_port, pk->dst_ip, pk->dst_port);
	}
	*len = pk->udp_len;
	if (!f->skey || !(s = key_session(k, f->skey)))
		return true;
	st = srtp_unprotect(s, pk->udp_payload, len);
	if (st == srtp_err_status_ok) {
		f->srtp_ok++;
		return true;
	}
	*len = pk->udp_len;
	if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old) {
		f->srtp_replay++;
		return true;
	}
	/* A re-INVITE may have brought new keys for the same side: from the packet that authenticates with them. */
	for (latest = f->skey; k->e[latest - 1].newer;)
		latest = k->e[latest - 1].newer;
	if (latest != f->skey && (s = key_session(k, latest)) && srtp_unprotect(s, pk->udp_payload, len) == srtp_err_status_ok) {
		f->skey = latest;
		f->srtp_rekeys++;
		f->srtp_ok++;
		return true;
	}
	*len = pk->udp_len;
	f->srtp_auth_fail++;
	return false;
}

/* SRTCP (RFC 3711 §3.4) of a sender with a key: 0 done (len updated), or the drop reason. */
static enum dp_drop_reason srtcp_check(struct an_keys *k, struct dp_pkt *pk, int *len)
{
	uint32_t ssrc = pk->udp_len >= 8 ? (uint32_t)pk->udp_payload[4] << 24 | (uint32_t)pk->udp_payload[5] << 16 |
						   (uint32_t)pk->udp_payload[6] << 8 | pk->udp_payload[7] : 0;
	uint32_t idx = key_find(k, ssrc, pk->src_ip, pk->src_port, pk->dst_ip, pk->dst_port);
	srtp_t s;
	srtp_err_status_t st;

	if (!idx) /* RTCP on the RTP port + 1 */
		idx = key_find(k, ssrc, pk->src_ip, (uint16_t)(pk->src_port - 1), pk->dst_ip, (uint16_t)(pk->dst_port - 1));
	*len = pk->udp_len;
	if (!idx || !(s = key_session(k, idx)))
		return DP_DROP_NONE;
	st = srtp_unprotect_rtcp(s, pk->udp_payload, len);
	if (st == srtp_err_status_ok)
		return DP_DROP_NONE;
	return st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old ? DP_DROP_srtp_replay
										    : DP_DROP_srtp_auth_fail;
}

/* What the JSON says about a stream's SRTP. */
static const char *srtp_state(const struct an_keys *k, const struct an_flow *f, const char **note)
{
	const struct an_skey *e = f->skey ? &k->e[f->skey - 1] : NULL;

	*note = NULL;
	if (!e)
		return NULL;
	if (e->ncand)
		return f->srtp_ok ? "verified" : f->srtp_auth_fail ? "auth_failed" : "unverified";
	*note = e->unusable;
	return e->savp ? "unverified" : "none";
}

/* ---- one-way delay (RFC 8285 TX-time element, 64-bit NTP) ---------------------------------------------------- */

static bool ntp_to_unix_ns(uint64_t ntp, uint64_t *ns)
{
	if ((ntp >> 32) < NTP_UNIX_OFFSET)
		return false;
	*ns = ((ntp >> 32) - NTP_UNIX_OFFSET) * 1000000000ull + (((ntp & 0xffffffffu) * 1000000000ull) >> 32);
	return true;
}

/* The TX time of a packet: from the given id, or the first id 1..14 whose 8-byte element is a time within a day
 * of the capture's (searched in the first AN_OWD_PROBE packets of a stream when no id is given). */
static void owd_packet(struct an_flow *f, const struct dp_pkt *pk, int len, int ext_id, uint64_t at)
{
	uint64_t ntp, tx;
	int64_t d;

	if (!(pk->udp_payload[0] & 0x10) || ext_id == 0)
		return;
	if (!f->owd_id && ext_id < 0 && f->rx.packets < AN_OWD_PROBE) {
		for (uint8_t id = 1; id <= 14 && !f->owd_id; id++)
			if (dp_ext_find_txtime(pk->udp_payload, (uint32_t)len, id, &ntp) && ntp_to_unix_ns(ntp, &tx) &&
			    (tx > at ? tx - at : at - tx) < AN_OWD_PLAUSIBLE_NS)
				f->owd_id = id;
	} else if (ext_id > 0) {
		f->owd_id = (uint8_t)ext_id;
	}
	if (!f->owd_id || !dp_ext_find_txtime(pk->udp_payload, (uint32_t)len, f->owd_id, &ntp) ||
	    !ntp_to_unix_ns(ntp, &tx))
		return;
	d = (int64_t)(at - tx);
	f->owd_min_ns = !f->owd_n || d < f->owd_min_ns ? d : f->owd_min_ns;
	f->owd_max_ns = !f->owd_n || d > f->owd_max_ns ? d : f->owd_max_ns;
	f->owd_sum_ns += d;
	f->owd_n++;
}

static const char *pt_name(const struct an_flow *f, char *buf, size_t len)
{
	uint8_t pt = f->pt;
	static const char *const names[35] = {
		[0] = "PCMU", [3] = "GSM", [4] = "G723", [8] = "PCMA", [9] = "G722", [13] = "CN", [18] = "G729",
		[26] = "JPEG", [31] = "H261", [34] = "H263",
	};

	if (pt < CM_ARRAY_SIZE(names) && names[pt])
		return names[pt];
	if (f->codec[0])
		return f->codec;
	snprintf(buf, len, "PT%u", pt);
	return buf;
}

static void addr(char *buf, size_t len, uint32_t ip, uint16_t port)
{
	snprintf(buf, len, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, port);
}

struct an_result {
	struct dp_rx_report r;
	double mos, r_factor;
	const struct an_flow *f;
	const struct an_rtcp *rtcp; /* RTCP about the stream's SSRC, NULL: none seen */
};

/* G.107 (codecs' E-model) for what the capture shows: the codec's Ie/Bpl (with its PLC) when the payload type
 * (or the a=rtpmap name of a dynamic one) is one the registry knows, else G.711's; loss and BurstR from the stream; one-way delay = the mean measured
 * from the TX-time extension when the stream carries it (and it is not negative), else half the RTCP round trip
 * when there is one, plus a jitter buffer of twice the maximum jitter and one packet. */
static void flow_result(const struct an_flow *f, const struct an_rtcp_table *rt, struct an_result *out)
{
	uint32_t clock = f->rx.clock_rate;
	double ptime_ms = clock && f->ptime_ticks ? 1000.0 * f->ptime_ticks / clock : 20.0;
	double loss_pct, burst_r, network_ms = 0;
	const struct codec_ops *ops = f->codec[0] ? codec_by_name(f->codec) : codec_by_pt(f->pt);
	struct emodel_input in;
	struct emodel_result em;

	out->f = f;
	out->rtcp = an_rtcp_find((struct an_rtcp_table *)rt, f->key.ssrc, false);
	dp_rx_report(&f->rx, ptime_ms, &out->r);
	loss_pct = out->r.expected ? 100.0 * (double)(out->r.packets_lost > 0 ? out->r.packets_lost : 0) /
					     (double)out->r.expected : 0;
	if (loss_pct > 100)
		loss_pct = 100;
	burst_r = dp_rx_burst_r(&out->r, ptime_ms);
	if (f->owd_n && f->owd_sum_ns >= 0)
		network_ms = (double)f->owd_sum_ns / f->owd_n / 1e6;
	else if (out->rtcp && out->rtcp->rtt_count)
		network_ms = (double)out->rtcp->rtt_sum_ns / out->rtcp->rtt_count / 2e6;
	emodel_defaults(&in);
	if (!ops)
		ops = codec_by_pt(0);
	if (ops)
		emodel_set_codec(&in, ops, true);
	emodel_set_delay(&in, emodel_one_way_delay_ms(network_ms, 2 * out->r.max_jitter_ms, ptime_ms));
	in.ppl = loss_pct;
	in.burst_r = burst_r;
	if (emodel_compute(&in, &em) < 0) {
		out->r_factor = 0;
		out->mos = 1;
		return;
	}
	out->r_factor = em.r;
	out->mos = em.mos;
}

/* The RTCP part of a flow's JSON object. */
static void json_rtcp(FILE *o, const struct an_rtcp *c, uint32_t clock)
{
	if (!c) {
		fprintf(o, "\"rtt_ms\": null, \"rtcp\": null");
		return;
	}
	if (c->rtt_count)
		fprintf(o, "\"rtt_ms\": %.3f, ", (double)c->rtt_sum_ns / c->rtt_count / 1e6);
	else
		fprintf(o, "\"rtt_ms\": null, ");
	fprintf(o, "\"rtcp\": {\"sender_reports\": %u, \"report_blocks\": %u", c->sr_count, c->rr_blocks);
	if (c->rtt_count)
		fprintf(o, ", \"rtt_ms\": {\"avg\": %.3f, \"min\": %.3f, \"max\": %.3f, \"samples\": %u}",
			(double)c->rtt_sum_ns / c->rtt_count / 1e6, c->rtt_min_ns / 1e6, c->rtt_max_ns / 1e6, c->rtt_count);
	if (c->rr_blocks)
		fprintf(o, ", \"reported_fraction_lost\": %.4f, \"reported_packets_lost\": %d, "
			"\"reported_jitter_ms\": %.3f", c->fraction_lost / 256.0, c->cum_lost,
			clock ? 1000.0 * c->jitter / clock : 0.0);
	fprintf(o, "}");
}

/* The SRTP and one-way-delay part of a flow's JSON object. */
static void json_srtp_owd(FILE *o, const struct an_keys *k, const struct an_flow *f)
{
	const char *note, *state = srtp_state(k, f, &note);
	const struct an_skey *e = f->skey ? &k->e[f->skey - 1] : NULL;

	if (state)
		fprintf(o, "\"srtp\": \"%s\", \"srtp_key\": \"%s\", ", state,
			!e->ncand ? "none" : e->kind == AN_KEY_SDP ? "sdp" : "option");
	else
		fprintf(o, "\"srtp\": null, \"srtp_key\": null, ");
	if (note)
		fprintf(o, "\"srtp_note\": \"%s\", ", note);
	fprintf(o, "\"srtp_auth_fail\": %u, \"srtp_replay\": %u, \"srtp_rekeys\": %u, ", f->srtp_auth_fail,
		f->srtp_replay, f->srtp_rekeys);
	if (!f->owd_n) {
		fprintf(o, "\"one_way_delay_ms\": null, ");
		return;
	}
	fprintf(o, "\"one_way_delay_ms\": {\"avg\": %.3f, \"min\": %.3f, \"max\": %.3f, \"variation\": %.3f, "
		"\"samples\": %u, \"ext_id\": %u}, ", (double)f->owd_sum_ns / f->owd_n / 1e6, f->owd_min_ns / 1e6,
		f->owd_max_ns / 1e6, (double)(f->owd_max_ns - f->owd_min_ns) / 1e6, f->owd_n, f->owd_id);
}

static int write_json(const char *path, const char *pcap, struct an_result *res, unsigned n,
		      const uint64_t *drops, uint64_t frames, uint64_t rtcp, uint64_t started_ms, uint64_t ended_ms,
		      const struct an_keys *k)
{
	unsigned owd_flows = 0, owd_negative = 0;

	FILE *o = fopen(path, "w");
	char esc[2048], t0[32], t1[32], src[32], dst[32], nb[16];
	double mos_sum = 0, mos_min = 0, r_sum = 0, r_min = 0, j_sum = 0, j_max = 0;
	int64_t lost = 0;
	uint64_t expected = 0;

	if (!o)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		mos_sum += res[i].mos;
		r_sum += res[i].r_factor;
		mos_min = i == 0 || res[i].mos < mos_min ? res[i].mos : mos_min;
		r_min = i == 0 || res[i].r_factor < r_min ? res[i].r_factor : r_min;
		j_sum += res[i].r.jitter_ms;
		j_max = res[i].r.max_jitter_ms > j_max ? res[i].r.max_jitter_ms : j_max;
		lost += res[i].r.packets_lost;
		expected += res[i].r.expected;
		owd_flows += res[i].f->owd_n > 0;
		owd_negative += res[i].f->owd_n > 0 && res[i].f->owd_min_ns < 0;
	}
	cm_json_escape(pcap, esc, sizeof(esc));
	cm_format_utc(started_ms, t0, sizeof(t0));
	cm_format_utc(ended_ms, t1, sizeof(t1));
	fprintf(o, "{\"run\": {\"id\": \"analyze\", \"plan\": null, \"capture\": \"%s\", \"started\": \"%s\", "
		"\"ended\": \"%s\", \"outcome\": \"%s\"},\n", esc, t0, t1, n ? "SUCCESS" : "NO_RTP");
	fprintf(o, " \"capture\": {\"frames\": %llu, \"rtcp_packets\": %llu, \"drops\": {", (unsigned long long)frames,
		(unsigned long long)rtcp);
	for (unsigned r = 1; r < DP_DROP__COUNT; r++)
		fprintf(o, "%s\"%s\": %llu", r > 1 ? ", " : "", dp_drop_name(r), (unsigned long long)drops[r]);
	fprintf(o, "}, \"sip_messages\": %llu, \"sip_tcp\": {\"messages\": %llu, \"gaps\": %llu, \"unframeable\": %llu}, "
		"\"sdp_bodies\": %llu, \"sdp_bad\": %llu, "
		"\"srtp_keys\": {\"from_options\": %u, \"from_sdp\": %u}, \"one_way_delay\": {\"flows\": %u, "
		"\"negative_flows\": %u, \"note\": \"%s\"}},\n", (unsigned long long)k->sip_messages,
		(unsigned long long)k->sip_tcp_messages, (unsigned long long)k->sip_tcp_gaps,
		(unsigned long long)k->sip_tcp_bad, (unsigned long long)k->sdp_bodies, (unsigned long long)k->sdp_bad,
		k->from_options, k->from_sdp, owd_flows,
		owd_negative,
		owd_negative ? "negative delays: the sender's clock is ahead of the capture's (clocks not synchronised)"
			     : "sender TX time against capture time: valid when both share a clock (same host) or are "
			       "synchronised (NTP/PTP)");
	fprintf(o, " \"quality\": {\"mos\": {\"avg\": %.2f, \"min\": %.2f}, \"r_factor\": {\"avg\": %.1f, \"min\": %.1f}, "
		"\"jitter_ms\": {\"avg\": %.3f, \"max\": %.3f}, \"packets_lost\": %lld, \"fraction_lost\": %.6f},\n",
		n ? mos_sum / n : 0, mos_min, n ? r_sum / n : 0, r_min, n ? j_sum / n : 0, j_max, (long long)lost,
		expected ? (double)lost / (double)expected : 0);
	fprintf(o, " \"flows\": [");
	for (unsigned i = 0; i < n; i++) {
		const struct an_result *x = &res[i];
		const struct dp_rx_report *r = &x->r;

		addr(src, sizeof(src), x->f->key.src_ip, x->f->key.src_port);
		addr(dst, sizeof(dst), x->f->key.dst_ip, x->f->key.dst_port);
		fprintf(o, "%s\n  {\"ssrc\": \"0x%08x\", \"src\": \"%s\", \"dst\": \"%s\", \"codec\": \"%s\", "
			"\"payload_type\": %u, \"packets_sent\": null, \"packets_received\": %llu, \"bytes_received\": %llu, "
			"\"expected\": %llu, \"packets_lost\": %lld, \"fraction_lost\": %.6f, \"duplicate_packets\": %llu, "
			"\"out_of_order_packets\": %llu, \"late_packets\": %llu, \"sequence_number_resets\": %llu, "
			"\"ssrc_changes\": %llu, \"timestamp_jumps\": %llu, \"jitter_ms\": %.3f, \"max_jitter_ms\": %.3f, "
			"\"pdv_ms\": %.3f, \"burst_density\": %.4f, \"gap_density\": %.4f, \"burst_duration_ms\": %.1f, "
			"\"gap_duration_ms\": %.1f, \"mos\": %.2f, \"r_factor\": %.1f, ",
			i ? "," : "", x->f->key.ssrc, src, dst, pt_name(x->f, nb, sizeof(nb)), x->f->pt,
			(unsigned long long)r->packets_received, (unsigned long long)r->bytes_received,
			(unsigned long long)r->expected, (long long)r->packets_lost, r->fraction_lost,
			(unsigned long long)r->duplicate_packets, (unsigned long long)r->out_of_order_packets,
			(unsigned long long)r->late_packets, (unsigned long long)r->sequence_number_resets,
			(unsigned long long)r->ssrc_changes, (unsigned long long)r->timestamp_jumps, r->jitter_ms,
			r->max_jitter_ms, r->pdv_ms, r->burst_density, r->gap_density, r->burst_duration_ms,
			r->gap_duration_ms, x->mos, x->r_factor);
		json_srtp_owd(o, k, x->f);
		json_rtcp(o, x->rtcp, x->f->rx.clock_rate);
		fprintf(o, "}");
	}
	fprintf(o, "\n ]}\n");
	return fclose(o) == 0 ? 0 : -errno;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: callmeter-worker analyze FILE.pcap [--json-summary FILE] [--max-flows N]\n"
		"       [--srtp-key SSRC_OR_PORT:SUITE:BASE64KEY]... [--sip-port N] [--owd-ext-id auto|off|1..14]\n");
}

/* Reads every frame of the capture through the pcap PMD into the stream table. */
static int read_capture(uint16_t port, struct rte_mempool *pool, int ts_off, uint64_t ts_flag, bool ts_ns,
			struct an_table *t, struct an_rtcp_table *rt, struct an_keys *keys, int owd_ext, uint64_t *drops,
			uint64_t *frames)
{
	static const struct dp_rtcp_visitor visit = { .sender = an_rtcp_sender, .block = an_rtcp_block };
	struct rte_mbuf *pkts[AN_BURST];
	unsigned idle = 0;

	(void)pool;
	while (idle < AN_IDLE_POLLS) {
		uint16_t n = rte_eth_rx_burst(port, 0, pkts, AN_BURST);

		idle = n ? 0 : idle + 1;
		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			struct dp_pkt pk;
			enum dp_drop_reason r;
			uint64_t at;
			int len;

			(*frames)++;
			/* Captures are often taken where checksums are offloaded: they are not verified here. */
			r = dp_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), false, &pk);
			at = *RTE_MBUF_DYNFIELD(m, ts_off, rte_mbuf_timestamp_t *);
			if (!ts_ns)
				at *= 1000;
			if (r == DP_DROP_NONE && !(m->ol_flags & ts_flag))
				r = DP_DROP_truncated; /* cannot happen with the pcap PMD */
			if (dp_an_learn_sip(keys, &pk, r)) {
				rte_pktmbuf_free(m);
				continue;
			}
			if (r == DP_DROP_rtcp && (m->ol_flags & ts_flag) &&
			    (r = srtcp_check(keys, &pk, &len)) == DP_DROP_NONE) {
				rt->now_ns = at;
				r = dp_rtcp_walk(pk.udp_payload, (uint32_t)len, &visit, rt) == 0 ? DP_DROP_NONE
												   : DP_DROP_rtcp_bad;
				rt->packets += r == DP_DROP_NONE;
				if (r == DP_DROP_NONE) {
					rte_pktmbuf_free(m);
					continue;
				}
			}
			if (r != DP_DROP_NONE) {
				drops[r]++;
				rte_pktmbuf_free(m);
				continue;
			}
			struct an_key k = { .src_ip = pk.src_ip, .dst_ip = pk.dst_ip, .src_port = pk.src_port,
					    .dst_port = pk.dst_port, .ssrc = pk.ssrc };
			bool created;
			struct an_flow *f = an_lookup(t, &k, &created);
			if (!f) {
				drops[DP_DROP_flow_table_full]++;
				rte_pktmbuf_free(m);
				continue;
			}
			if (created) {
				f->key = k;
				f->pt = pk.pt;
				f->first_ns = at;
				uint32_t clock = pt_clock(keys, &pk, f->codec);

				dp_rx_init(&f->rx, clock);
				dp_rx_payload_type(&f->rx, pk.pt, clock);
			} else if (pk.pt != f->rx.pt) { /* a codec switch: timing on that type's clock, the jitter
							 * reference restarted when it differs, as the live RX does */
				char name[16];

				dp_rx_payload_type(&f->rx, pk.pt, pt_clock(keys, &pk, name));
			}
			if (!srtp_check(keys, f, &pk, &len)) {
				rte_pktmbuf_free(m);
				continue;
			}
			if (!created && (uint16_t)(pk.seq - f->rx.max_seq) == 1 && pk.ts != f->rx.last_ts)
				f->ptime_ticks = pk.ts - f->rx.last_ts;
			owd_packet(f, &pk, len, owd_ext, at);
			dp_rx_packet(&f->rx, pk.seq, pk.ts, pk.ssrc, at, (uint32_t)len);
			rte_pktmbuf_free(m);
		}
	}
	return 0;
}

static int cmp_flows(const void *a, const void *b)
{
	const struct an_result *x = a, *y = b;

	return x->f->first_ns < y->f->first_ns ? -1 : x->f->first_ns > y->f->first_ns;
}

int dp_analyze_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json-summary", required_argument, NULL, 'j' },
		{ "max-flows", required_argument, NULL, 'm' },
		{ "srtp-key", required_argument, NULL, 'k' },
		{ "sip-port", required_argument, NULL, 's' },
		{ "owd-ext-id", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *json = NULL, *pcap;
	uint64_t max_flows = AN_MAX_FLOWS_DEFAULT, drops[DP_DROP__COUNT] = { 0 }, frames = 0;
	char eal[1024], err[DP_ERR_MAX];
	struct an_table t = { 0 };
	struct an_rtcp_table rt = { 0 };
	struct an_keys keys = { .sip_port = AN_SIP_PORT };
	uint64_t v;
	int owd_ext = -1;
	struct an_result *res = NULL;
	struct rte_mempool *pool = NULL;
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info di;
	uint16_t port = 0;
	int c, ts_off = -1, status = 1;
	uint64_t ts_flag = 0, started = cm_wallclock_ms();
	unsigned n = 0;
	FILE *probe;

	optind = 1;
	if (srtp_init() != srtp_err_status_ok) {
		fprintf(stderr, "analyze: libsrtp2 did not initialise\n");
		return 1;
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = optarg; break;
		case 'm':
			if (cm_parse_u64(optarg, 1, 16u * DP_MIN_FLOWS_MAX, &max_flows) < 0) {
				fprintf(stderr, "analyze: --max-flows: '%s' is not a number in 1..%u\n", optarg,
					16u * DP_MIN_FLOWS_MAX);
				goto bad_args;
			}
			break;
		case 'k':
			if (key_option(&keys, optarg) < 0) {
				fprintf(stderr, "analyze: --srtp-key: '%s' is not SSRC_OR_PORT:SUITE:BASE64KEY (SSRC as 0x "
					"and hex, or a UDP source port; AES_CM_128_HMAC_SHA1_80 or _32; 40 base64 "
					"characters of key and salt)\n", optarg);
				goto bad_args;
			}
			break;
		case 's':
			if (cm_parse_u64(optarg, 0, 65535, &v) < 0) {
				fprintf(stderr, "analyze: --sip-port: '%s' is not a port (0: no SIP)\n", optarg);
				goto bad_args;
			}
			keys.sip_port = (uint16_t)v;
			break;
		case 'o':
			if (strcmp(optarg, "auto") == 0) {
				owd_ext = -1;
			} else if (strcmp(optarg, "off") == 0) {
				owd_ext = 0;
			} else if (cm_parse_u64(optarg, 1, 14, &v) == 0) {
				owd_ext = (int)v;
			} else {
				fprintf(stderr, "analyze: --owd-ext-id: '%s' is not auto, off or 1..14\n", optarg);
				goto bad_args;
			}
			break;
		case 'h': usage(stdout); status = 0; goto free_keys;
		default: usage(stderr); goto bad_args;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		goto bad_args;
	}
	pcap = argv[optind];
	if (strpbrk(pcap, ", \t\n")) {
		fprintf(stderr, "analyze: '%s': the capture path must not contain commas or white space "
			"(DPDK device arguments)\n", pcap);
		goto bad_args;
	}
	probe = fopen(pcap, "rb");
	if (!probe) {
		fprintf(stderr, "analyze: cannot read '%s': %s\n", pcap, strerror(errno));
		goto free_keys;
	}
	fclose(probe);

	t.max = (uint32_t)max_flows;
	t.cap = 1;
	while (t.cap < 2 * t.max)
		t.cap <<= 1;
	t.slots = calloc(t.cap, sizeof(*t.slots));
	t.flows = calloc(t.max, sizeof(*t.flows));
	rt.max = t.max;
	rt.cap = t.cap;
	rt.slots = calloc(rt.cap, sizeof(*rt.slots));
	rt.e = calloc(rt.max, sizeof(*rt.e));
	if (!t.slots || !t.flows || !rt.slots || !rt.e || keys_init(&keys) < 0) {
		fprintf(stderr, "analyze: cannot allocate %u streams\n", t.max);
		goto free_table;
	}

	snprintf(eal, sizeof(eal), "--no-huge --no-shconf -m 128 --no-pci -l 0 --log-level=error "
		 "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=/dev/null", pcap);
	if (dp_eal_init("callmeter-worker", eal, err, sizeof(err)) < 0) {
		fprintf(stderr, "analyze: %s\n", err);
		goto free_table;
	}
	if (rte_eth_dev_get_port_by_name("net_pcap0", &port) != 0 || rte_eth_dev_info_get(port, &di) != 0) {
		fprintf(stderr, "analyze: the pcap PMD did not open '%s' (is it a pcap file?)\n", pcap);
		goto eal_cleanup;
	}
	/* The pcap PMD registers the timestamp dynfield itself and fills it on every packet, without announcing
	 * the offload; registering again returns the same field. */
	if (rte_mbuf_dyn_rx_timestamp_register(&ts_off, &ts_flag) != 0) {
		fprintf(stderr, "analyze: no mbuf timestamp field: %s\n", rte_strerror(rte_errno));
		goto eal_cleanup;
	}
	if (di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
		conf.rxmode.offloads = RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	pool = rte_pktmbuf_pool_create("an_mbufs", 4095, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!pool || rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port, 0, 512, (unsigned)rte_socket_id(), NULL, pool) != 0 ||
	    rte_eth_tx_queue_setup(port, 0, 512, (unsigned)rte_socket_id(), NULL) != 0 ||
	    rte_eth_dev_start(port) != 0) {
		fprintf(stderr, "analyze: cannot start the pcap port: %s\n", rte_strerror(rte_errno));
		goto free_pool;
	}
	/* DPDK 22.11's pcap PMD reports the file's packet times in microseconds. */
	read_capture(port, pool, ts_off, ts_flag, false, &t, &rt, &keys, owd_ext, drops, &frames);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);

	res = calloc(t.n ? t.n : 1, sizeof(*res));
	if (!res)
		goto free_pool;
	for (uint32_t i = 0; i < t.n; i++) {
		if ((t.flows[i].rx.probation || t.flows[i].rx.expected_prior + t.flows[i].rx.received == 0) &&
		    t.flows[i].srtp_auth_fail < 2)
			continue; /* never two packets in sequence (nor a key that fails on them): not an RTP stream */
		flow_result(&t.flows[i], &rt, &res[n++]);
	}
	qsort(res, n, sizeof(*res), cmp_flows);

	printf("%-21s %-21s %-10s %-6s %8s %7s %6s %5s %9s %9s %5s %-11s %8s\n", "source", "destination", "SSRC",
	       "codec", "packets", "lost", "dups", "ooo", "jitter_ms", "max_jit", "MOS", "SRTP", "owd_ms");
	for (unsigned i = 0; i < n; i++) {
		char src[32], dst[32], nb[16], owd[16];
		const char *note, *srtp = srtp_state(&keys, res[i].f, &note);

		addr(src, sizeof(src), res[i].f->key.src_ip, res[i].f->key.src_port);
		addr(dst, sizeof(dst), res[i].f->key.dst_ip, res[i].f->key.dst_port);
		snprintf(owd, sizeof(owd), "%.3f", res[i].f->owd_n ? (double)res[i].f->owd_sum_ns / res[i].f->owd_n / 1e6 : 0);
		printf("%-21s %-21s 0x%08x %-6s %8llu %7lld %6llu %5llu %9.3f %9.3f %5.2f %-11s %8s\n", src, dst,
		       res[i].f->key.ssrc, pt_name(res[i].f, nb, sizeof(nb)),
		       (unsigned long long)res[i].r.packets_received, (long long)res[i].r.packets_lost,
		       (unsigned long long)res[i].r.duplicate_packets, (unsigned long long)res[i].r.out_of_order_packets,
		       res[i].r.jitter_ms, res[i].r.max_jitter_ms, res[i].mos, srtp ? srtp : "-",
		       res[i].f->owd_n ? owd : "-");
	}
	printf("%u RTP stream(s) in %llu frame(s), %llu RTCP packet(s)", n, (unsigned long long)frames,
	       (unsigned long long)rt.packets);
	for (unsigned r = 1; r < DP_DROP__COUNT; r++)
		if (drops[r])
			printf("; %s %llu", dp_drop_name(r), (unsigned long long)drops[r]);
	printf("\n");
	if (keys.sip_messages || keys.n)
	{
		char tcp[48] = "";

		if (keys.sip_tcp_messages)
			snprintf(tcp, sizeof(tcp), " (%llu over TCP)", (unsigned long long)keys.sip_tcp_messages);
		printf("%llu SIP message(s)%s, %llu SDP bodie(s); SRTP keys: %u from options, %u from SDP\n",
		       (unsigned long long)keys.sip_messages, tcp, (unsigned long long)keys.sdp_bodies, keys.from_options,
		       keys.from_sdp);
	}
	status = 0;
	if (json) {
		int rc = write_json(json, pcap, res, n, drops, frames, rt.packets, started, cm_wallclock_ms(), &keys);
		if (rc < 0) {
			fprintf(stderr, "analyze: cannot write '%s': %s\n", json, strerror(-rc));
			status = 1;
		}
	}
	free(res);
free_pool:
	rte_mempool_free(pool);
eal_cleanup:
	dp_eal_cleanup();
free_table:
	free(t.slots);
	free(t.flows);
	free(rt.slots);
	free(rt.e);
free_keys:
	keys_free(&keys);
	srtp_shutdown();
	return status;
bad_args:
	status = 2;
	goto free_keys;
}
