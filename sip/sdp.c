/* SDP (RFC 8866) parsing, and offer/answer for one audio stream (RFC 3264): rtpmap/fmtp, ptime,
 * telephone-event (RFC 4733), direction attributes, rtcp-mux (RFC 5761), SDES a=crypto (RFC 4568). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "sip/sip_internal.h"

static const char *const dir_names[] = { "sendrecv", "sendonly", "recvonly", "inactive" };

const char *sdp_dir_name(enum sdp_dir d)
{
	return (unsigned)d < 4 ? dir_names[d] : "?";
}

const char *sdp_neg_name(enum sdp_neg n)
{
	static const char *const names[] = {
		[SDP_NEG_OK] = "ok",
		[SDP_NEG_NO_AUDIO] = "no audio stream",
		[SDP_NEG_NO_COMMON_CODEC] = "no common codec",
		[SDP_NEG_SRTP_REQUIRED] = "SRTP required but the peer offered plain RTP",
		[SDP_NEG_SRTP_UNSUPPORTED] = "the peer requires SRTP with no crypto suite we support",
		[SDP_NEG_BAD_ANSWER] = "the answer does not match the offer",
	};
	return (unsigned)n < sizeof(names) / sizeof(names[0]) ? names[n] : "?";
}

/* RFC 3551 static payload types that need no a=rtpmap. */
static const struct {
	uint8_t pt;
	const char *name;
} static_pts[] = {
	{ 0, "PCMU" }, { 3, "GSM" }, { 4, "G723" }, { 8, "PCMA" }, { 9, "G722" }, { 13, "CN" }, { 18, "G729" },
};

static int bad(struct sdp_session *s, int rc, const char *why)
{
	s->error = why;
	return rc;
}

/* Splits off the next space-separated field of [*p, end). */
static bool field(const char **p, const char *end, struct sip_str *f)
{
	const char *q = *p;

	while (q < end && *q == ' ')
		q++;
	if (q >= end)
		return false;
	f->p = q;
	while (q < end && *q != ' ')
		q++;
	f->len = (size_t)(q - f->p);
	*p = q;
	return true;
}

static bool to_u64(struct sip_str f, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (f.len == 0 || f.len > 20)
		return false;
	for (size_t i = 0; i < f.len; i++) {
		if (!sip_is_digit((unsigned char)f.p[i]))
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(f.p[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* c=IN IP4 <addr>[/ttl] or IN IP6 <addr> */
static int parse_conn(struct sdp_session *s, const char *p, const char *end, struct sip_str *addr)
{
	struct sip_str nt, at, a;

	if (!field(&p, end, &nt) || !field(&p, end, &at) || !field(&p, end, &a) || field(&p, end, &nt))
		return bad(s, -EINVAL, "malformed c= line");
	if (!sip_str_eq(nt, "IN") || (!sip_str_eq(at, "IP4") && !sip_str_eq(at, "IP6")))
		return bad(s, -EINVAL, "c= line is not IN IP4 or IN IP6");
	for (size_t i = 0; i < a.len; i++)
		if (a.p[i] == '/') {
			a.len = i;
			break;
		}
	if (a.len == 0)
		return bad(s, -EINVAL, "empty connection address");
	s->ipv6 = sip_str_eq(at, "IP6");
	*addr = a;
	return 0;
}

static struct sdp_format *find_fmt(struct sdp_media *m, struct sip_str ptstr)
{
	uint64_t pt;

	if (!to_u64(ptstr, SDP_MAX_PT, &pt))
		return NULL;
	for (unsigned i = 0; i < m->nfmt; i++)
		if (m->fmt[i].pt == pt)
			return &m->fmt[i];
	return NULL;
}

static int parse_media_line(struct sdp_session *s, const char *p, const char *end)
{
	struct sdp_media *m;
	struct sip_str type, port, proto, f;
	uint64_t v;
	bool rtp;

	if (s->nmedia == SDP_MAX_MEDIA)
		return bad(s, -E2BIG, "more than SDP_MAX_MEDIA m= lines");
	m = &s->media[s->nmedia++];
	memset(m, 0, sizeof(*m));
	if (!field(&p, end, &type) || !field(&p, end, &port) || !field(&p, end, &proto))
		return bad(s, -EINVAL, "malformed m= line");
	for (size_t i = 0; i < port.len; i++)
		if (port.p[i] == '/') {
			port.len = i; /* port/number-of-ports */
			break;
		}
	if (!to_u64(port, SIP_MAX_PORT, &v))
		return bad(s, -EINVAL, "bad port on m= line");
	m->type = type;
	m->port = (uint16_t)v;
	m->proto = proto;
	while (p < end && *p == ' ')
		p++;
	m->fmt_list = (struct sip_str){ p, (size_t)(end - p) };
	rtp = (proto.len >= 4 && memcmp(proto.p, "RTP/", 4) == 0) ||
	      (proto.len >= 12 && memcmp(proto.p, "UDP/TLS/RTP/", 12) == 0);
	while (field(&p, end, &f)) {
		struct sdp_format *fmt;

		if (m->nfmt == SDP_MAX_FORMATS)
			return bad(s, -E2BIG, "more than SDP_MAX_FORMATS formats on an m= line");
		fmt = &m->fmt[m->nfmt];
		memset(fmt, 0, sizeof(*fmt));
		if (!to_u64(f, SDP_MAX_PT, &v)) {
			if (rtp)
				return bad(s, -EINVAL, "RTP payload type not a number 0-127");
			fmt->encoding = f; /* a non-RTP format ("*", a MIME type, ...) */
			m->nfmt++;
			continue;
		}
		fmt->pt = (uint8_t)v;
		for (size_t i = 0; i < sizeof(static_pts) / sizeof(static_pts[0]); i++)
			if (static_pts[i].pt == v) {
				fmt->encoding = (struct sip_str){ static_pts[i].name, strlen(static_pts[i].name) };
				fmt->clock_rate = 8000;
				fmt->channels = 1;
			}
		m->nfmt++;
	}
	if (m->nfmt == 0)
		return bad(s, -EINVAL, "m= line without formats");
	return 0;
}

/* a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|MKI:len][;inline:...] [session-params] */
static int parse_crypto(struct sdp_session *s, struct sdp_media *m, const char *p, const char *end)
{
	struct sip_str tag, suite, kp;
	struct sdp_crypto *c;
	uint64_t v;
	const char *k, *ke;

	if (m->ncrypto == SDP_MAX_CRYPTO)
		return bad(s, -E2BIG, "more than SDP_MAX_CRYPTO a=crypto lines");
	if (!field(&p, end, &tag) || !field(&p, end, &suite) || !field(&p, end, &kp))
		return bad(s, -EINVAL, "malformed a=crypto");
	if (tag.len > 9 || !to_u64(tag, 999999999, &v))
		return bad(s, -EINVAL, "a=crypto tag not 1-9 digits");
	for (size_t i = 0; i < suite.len; i++)
		if (!sip_is_alnum((unsigned char)suite.p[i]) && suite.p[i] != '_')
			return bad(s, -EINVAL, "bad a=crypto suite");
	if (kp.len < 8 || memcmp(kp.p, "inline:", 7) != 0)
		return bad(s, -EINVAL, "a=crypto key-params not inline:");
	k = kp.p + 7;
	for (ke = k; ke < kp.p + kp.len && *ke != '|' && *ke != ';'; ke++)
		if (!sip_is_alnum((unsigned char)*ke) && *ke != '+' && *ke != '/' && *ke != '=')
			return bad(s, -EINVAL, "a=crypto key is not base64");
	if (ke == k)
		return bad(s, -EINVAL, "empty a=crypto key");
	c = &m->crypto[m->ncrypto++];
	c->tag = (uint32_t)v;
	c->suite = suite;
	c->key = (struct sip_str){ k, (size_t)(ke - k) };
	c->key_params = kp;
	return 0;
}

static int parse_attr(struct sdp_session *s, struct sdp_media *m, enum sdp_dir *sess_dir, const char *p,
		      const char *end)
{
	const char *colon = memchr(p, ':', (size_t)(end - p)), *v = colon ? colon + 1 : end;
	struct sip_str name = { p, (size_t)((colon ? colon : end) - p) }, f;
	uint64_t n;

	if (name.len == 0)
		return bad(s, -EINVAL, "empty attribute name");
	for (int d = 0; d < 4; d++)
		if (sip_str_eq(name, dir_names[d])) {
			if (m) {
				m->dir = (enum sdp_dir)d;
				return 1; /* the media section has its own direction */
			}
			*sess_dir = (enum sdp_dir)d;
			return 0;
		}
	if (!m)
		return 0;
	if (sip_str_eq(name, "rtcp-mux")) {
		m->rtcp_mux = true;
	} else if (sip_str_eq(name, "ptime")) {
		if (!to_u64((struct sip_str){ v, (size_t)(end - v) }, SDP_MAX_PTIME, &n) || n == 0)
			return bad(s, -EINVAL, "a=ptime not a number 1-1000");
		m->ptime = (uint32_t)n;
	} else if (sip_str_eq(name, "rtpmap") || sip_str_eq(name, "fmtp")) {
		struct sdp_format *fmt;
		const char *q = v;

		if (!field(&q, end, &f))
			return bad(s, -EINVAL, "malformed a=rtpmap/a=fmtp");
		fmt = find_fmt(m, f);
		if (!fmt)
			return bad(s, -EINVAL, "a=rtpmap/a=fmtp for a payload type not on the m= line");
		while (q < end && *q == ' ')
			q++;
		if (name.p[0] == 'f') {
			fmt->fmtp = (struct sip_str){ q, (size_t)(end - q) };
			return 0;
		}
		/* encoding-name "/" clock-rate [ "/" channels ] */
		const char *s1 = memchr(q, '/', (size_t)(end - q)), *s2;
		if (!s1 || s1 == q)
			return bad(s, -EINVAL, "malformed a=rtpmap");
		s2 = memchr(s1 + 1, '/', (size_t)(end - s1 - 1));
		if (!to_u64((struct sip_str){ s1 + 1, (size_t)((s2 ? s2 : end) - s1 - 1) }, 10000000, &n) || n == 0)
			return bad(s, -EINVAL, "bad clock rate in a=rtpmap");
		fmt->encoding = (struct sip_str){ q, (size_t)(s1 - q) };
		fmt->clock_rate = (uint32_t)n;
		fmt->channels = 1;
		if (s2) {
			if (!to_u64((struct sip_str){ s2 + 1, (size_t)(end - s2 - 1) }, 255, &n) || n == 0)
				return bad(s, -EINVAL, "bad channel count in a=rtpmap");
			fmt->channels = (uint8_t)n;
		}
	} else if (sip_str_eq(name, "crypto")) {
		return parse_crypto(s, m, v, end);
	}
	return 0;
}

/* The first CR, LF or NUL in [p, end), or end (one pass for the three). */
static const char *find_stop(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n'), nul = _mm_setzero_si128();

	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)), _mm_cmpeq_epi8(v, nul)));

		if (mask)
			return p + __builtin_ctz(mask);
	}
#endif
	while (p < end && *p != '\r' && *p != '\n' && *p != '\0')
		p++;
	return p;
}

int sdp_parse(struct sdp_session *s, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	enum sdp_dir sess_dir = SDP_SENDRECV;
	bool dir_set[SDP_MAX_MEDIA] = { false };
	struct sip_str conn[SDP_MAX_MEDIA] = { { NULL, 0 } };
	unsigned nline = 0;
	int rc;

	memset(s, 0, offsetof(struct sdp_session, media));
	if (len > SDP_MAX_SIZE)
		return bad(s, -E2BIG, "session description larger than SDP_MAX_SIZE");
	while (p < end) {
		const char *lf, *le, *v, *q = find_stop(p, end);
		struct sdp_media *m = s->nmedia ? &s->media[s->nmedia - 1] : NULL;
		bool clean = true;
		char type;

		/* the usual line: its first CR, LF or NUL is its end (LF, CRLF, or a CR ending the text); otherwise
		 * the line as far as its LF, with a NUL or CR inside */
		if (q < end && *q == '\n') {
			le = lf = q;
		} else if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n') {
			le = q;
			lf = q + 1;
		} else if (q == end || (*q == '\r' && q + 1 == end)) {
			le = q;
			lf = NULL;
		} else {
			lf = memchr(p, '\n', (size_t)(end - p));
			le = lf ? lf : end;
			if (le > p && le[-1] == '\r')
				le--;
			clean = false;
		}
		if (le - p < 2 || !(p[0] >= 'a' && p[0] <= 'z') || p[1] != '=')
			return bad(s, -EINVAL, le == p ? "empty line in SDP" : "SDP line is not <letter>=<value>");
		if (!clean)
			return bad(s, -EINVAL, "NUL or CR inside an SDP line");
		type = p[0];
		v = p + 2;
		nline++;
		if (nline == 1 && (type != 'v' || le - v != 1 || *v != '0'))
			return bad(s, -EINVAL, "SDP does not start with v=0");
		if (nline == 2 && type != 'o')
			return bad(s, -EINVAL, "o= line missing after v=");
		if (nline == 3 && type != 's')
			return bad(s, -EINVAL, "s= line missing after o=");
		switch (type) {
		case 'v':
			if (nline != 1)
				return bad(s, -EINVAL, "more than one v= line");
			break;
		case 'o': {
			struct sip_str f[6];
			const char *q = v;
			for (int i = 0; i < 6; i++)
				if (!field(&q, le, &f[i]))
					return bad(s, -EINVAL, "o= line needs six fields");
			if (field(&q, le, &f[0]) || nline != 2)
				return bad(s, -EINVAL, "malformed o= line");
			s->origin_user = f[0];
			if (!to_u64(f[1], UINT64_MAX, &s->sess_id) || !to_u64(f[2], UINT64_MAX, &s->sess_version))
				return bad(s, -EINVAL, "o= session id or version not a number");
			s->origin_addr = f[5];
			break;
		}
		case 's':
			if (le == v)
				return bad(s, -EINVAL, "empty s= line");
			s->name = (struct sip_str){ v, (size_t)(le - v) };
			break;
		case 'c':
			rc = parse_conn(s, v, le, m ? &conn[s->nmedia - 1] : &s->addr);
			if (rc < 0)
				return rc;
			break;
		case 'm':
			rc = parse_media_line(s, v, le);
			if (rc < 0)
				return rc;
			break;
		case 'a':
			rc = parse_attr(s, m, &sess_dir, v, le);
			if (rc < 0)
				return rc;
			if (rc == 1)
				dir_set[s->nmedia - 1] = true;
			break;
		case 'i': case 'u': case 'e': case 'p': case 'b': case 't': case 'r': case 'z': case 'k':
			break;
		default:
			return bad(s, -EINVAL, "unknown SDP line type");
		}
		p = lf ? lf + 1 : end;
	}
	if (nline < 3)
		return bad(s, -EINVAL, "SDP needs v=, o= and s= lines");
	for (unsigned i = 0; i < s->nmedia; i++) {
		struct sdp_media *m = &s->media[i];
		m->addr = conn[i].p ? conn[i] : s->addr;
		if (!dir_set[i])
			m->dir = sess_dir;
		if (m->addr.len == 0)
			return bad(s, -EINVAL, "m= section without a connection address (c=)");
	}
	return 0;
}

const struct sdp_format *sdp_media_format(const struct sdp_media *m, uint8_t pt)
{
	for (unsigned i = 0; i < m->nfmt; i++)
		if (m->fmt[i].pt == pt)
			return &m->fmt[i];
	return NULL;
}

/* ---- offer / answer --------------------------------------------------------------------------------------- */

/* Offers and answers are written with the SIP builder (plain copies for the fixed parts: the offer of every call
 * is built from them, and a format per line cost more than the rest of it), one byte of the caller's buffer kept
 * back for the terminating NUL; out_begin/out_end bracket that.  outf formats what varies. */
static struct sip_builder out_begin(char *buf, size_t cap)
{
	if (cap)
		buf[0] = '\0';
	return (struct sip_builder){ .buf = buf, .cap = cap ? cap - 1 : 0, .overflow = cap == 0 };
}

/* The length written, NUL-terminated; −ENOSPC (the buffer NUL-terminated where the text stopped) when it did not
 * fit. */
static int out_end(struct sip_builder *o)
{
	if (o->cap || !o->overflow)
		o->buf[o->len] = '\0';
	return o->overflow ? -ENOSPC : (int)o->len;
}

static void outf(struct sip_builder *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct sip_builder *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	/* the byte kept back for the NUL is vsnprintf's to use */
	n = sip_vsnprintf(o->buf + o->len, o->cap - o->len + 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > o->cap - o->len) {
		o->buf[o->len] = '\0';
		o->overflow = true;
	} else {
		o->len += (size_t)n;
	}
}

static void session_head(struct sip_builder *o, const struct sdp_local *l)
{
	sip_build_lit(o, "v=0\r\no=callmeter ");
	sip_build_uint(o, l->sess_id);
	sip_build_lit(o, " ");
	sip_build_uint(o, l->sess_version);
	sip_build_lit(o, " IN IP4 ");
	sip_build_cstr(o, l->addr);
	sip_build_lit(o, "\r\ns=callmeter\r\nc=IN IP4 ");
	sip_build_cstr(o, l->addr);
	sip_build_lit(o, "\r\nt=0 0\r\n");
}

static void media_attrs(struct sip_builder *o, const struct sdp_local *l, enum sdp_dir dir, bool mux)
{
	if (l->ptime) {
		sip_build_lit(o, "a=ptime:");
		sip_build_uint(o, l->ptime);
		sip_build_lit(o, "\r\n");
	}
	sip_build_lit(o, "a=");
	sip_build_cstr(o, sdp_dir_name(dir));
	sip_build_lit(o, "\r\n");
	if (mux)
		sip_build_lit(o, "a=rtcp-mux\r\n");
}

/* a=rtpmap (and a=fmtp when it has one) for one of our codecs under payload type pt. */
static void codec_attrs(struct sip_builder *o, unsigned pt, const struct sdp_codec *c)
{
	sip_build_lit(o, "a=rtpmap:");
	sip_build_uint(o, pt);
	sip_build_lit(o, " ");
	sip_build_cstr(o, c->name);
	sip_build_lit(o, "/");
	sip_build_uint(o, c->clock_rate);
	if (c->channels > 1) {
		sip_build_lit(o, "/");
		sip_build_uint(o, c->channels);
	}
	sip_build_lit(o, "\r\n");
	if (c->fmtp) {
		sip_build_lit(o, "a=fmtp:");
		sip_build_uint(o, pt);
		sip_build_lit(o, " ");
		sip_build_cstr(o, c->fmtp);
		sip_build_lit(o, "\r\n");
	}
}

static void dtmf_attrs(struct sip_builder *o, unsigned pt)
{
	sip_build_lit(o, "a=rtpmap:");
	sip_build_uint(o, pt);
	sip_build_lit(o, " telephone-event/8000\r\na=fmtp:");
	sip_build_uint(o, pt);
	sip_build_lit(o, " 0-16\r\n");
}

static bool is_dtmf(const struct sdp_format *f)
{
	return sip_str_caseeq(f->encoding, "telephone-event") && f->clock_rate == 8000;
}

int sdp_build_offer(const struct sdp_local *l, char *buf, size_t cap)
{
	struct sip_builder o = out_begin(buf, cap);
	bool savp = l->crypto_suite != NULL;

	session_head(&o, l);
	sip_build_lit(&o, "m=audio ");
	sip_build_uint(&o, l->port);
	if (savp)
		sip_build_lit(&o, " RTP/SAVP");
	else
		sip_build_lit(&o, " RTP/AVP");
	for (unsigned i = 0; i < l->ncodecs; i++) {
		sip_build_lit(&o, " ");
		sip_build_uint(&o, l->codecs[i].pt);
	}
	if (l->dtmf_pt) {
		sip_build_lit(&o, " ");
		sip_build_uint(&o, l->dtmf_pt);
	}
	sip_build_lit(&o, "\r\n");
	for (unsigned i = 0; i < l->ncodecs; i++)
		codec_attrs(&o, l->codecs[i].pt, &l->codecs[i]);
	if (l->dtmf_pt)
		dtmf_attrs(&o, l->dtmf_pt);
	media_attrs(&o, l, l->dir, l->rtcp_mux);
	if (savp)
		outf(&o, "a=crypto:1 %s inline:%s\r\n", l->crypto_suite, l->crypto_key ? l->crypto_key : "");
	return out_end(&o);
}

/* Our direction given the peer's (RFC 3264 §6.1): what the peer sends we receive, limited by what we do. */
static enum sdp_dir mirror(enum sdp_dir local, enum sdp_dir peer)
{
	static const unsigned bits[] = { 3, 1, 2, 0 }; /* send=1, recv=2 */
	unsigned p = bits[peer], want = ((p & 1) ? 2u : 0u) | ((p & 2) ? 1u : 0u), b = bits[local] & want;

	return b == 3 ? SDP_SENDRECV : b == 1 ? SDP_SENDONLY : b == 2 ? SDP_RECVONLY : SDP_INACTIVE;
}

/* The first local codec (in our preference order) the media section also lists. */
static const struct sdp_format *common_codec(const struct sdp_local *l, const struct sdp_media *m,
					     const struct sdp_codec **lc)
{
	for (unsigned i = 0; i < l->ncodecs; i++)
		for (unsigned k = 0; k < m->nfmt; k++) {
			const struct sdp_format *f = &m->fmt[k];
			uint8_t ch = f->channels ? f->channels : 1, lch = l->codecs[i].channels ? l->codecs[i].channels : 1;
			if (sip_str_caseeq(f->encoding, l->codecs[i].name) && f->clock_rate == l->codecs[i].clock_rate &&
			    ch == lch) {
				*lc = &l->codecs[i];
				return f;
			}
		}
	return NULL;
}

static const struct sdp_crypto *matching_crypto(const struct sdp_local *l, const struct sdp_media *m)
{
	if (!l->crypto_suite)
		return NULL;
	for (unsigned i = 0; i < m->ncrypto; i++)
		if (sip_str_eq(m->crypto[i].suite, l->crypto_suite))
			return &m->crypto[i];
	return NULL;
}

static bool is_savp(const struct sdp_media *m)
{
	return m->proto.len >= 8 && memcmp(m->proto.p, "RTP/SAVP", 8) == 0;
}

/* Chooses the audio stream and codec in an offer (or answer); on failure says why. */
static int choose(const struct sdp_session *sd, const struct sdp_local *l, struct sdp_negotiated *out,
		  enum sdp_neg *neg, const struct sdp_codec **lc)
{
	enum sdp_neg why = SDP_NEG_NO_AUDIO;

	for (unsigned i = 0; i < sd->nmedia; i++) {
		const struct sdp_media *m = &sd->media[i];
		const struct sdp_format *f;
		const struct sdp_crypto *c = NULL;

		if (!sip_str_eq(m->type, "audio") || m->port == 0)
			continue;
		if (is_savp(m)) {
			c = matching_crypto(l, m);
			if (!c) {
				why = SDP_NEG_SRTP_UNSUPPORTED;
				continue;
			}
		} else if (l->srtp_required) {
			why = SDP_NEG_SRTP_REQUIRED;
			continue;
		}
		f = common_codec(l, m, lc);
		if (!f) {
			why = SDP_NEG_NO_COMMON_CODEC;
			continue;
		}
		memset(out, 0, sizeof(*out));
		out->media_index = i;
		out->codec = *f;
		out->remote_addr = m->addr;
		out->remote_port = m->port;
		out->dir = mirror(l->dir, m->dir);
		out->ptime = m->ptime;
		out->rtcp_mux = l->rtcp_mux && m->rtcp_mux;
		if (l->dtmf_pt)
			for (unsigned k = 0; k < m->nfmt; k++)
				if (is_dtmf(&m->fmt[k])) {
					out->dtmf_pt = m->fmt[k].pt;
					break;
				}
		if (c) {
			out->srtp = true;
			out->crypto_suite = c->suite;
			out->remote_key = c->key;
			out->crypto_tag = c->tag;
		}
		*neg = SDP_NEG_OK;
		return 0;
	}
	*neg = why;
	return -EPROTO;
}

int sdp_build_answer(const struct sdp_session *offer, const struct sdp_local *l, char *buf, size_t cap,
		     struct sdp_negotiated *out, enum sdp_neg *neg)
{
	struct sip_builder o = out_begin(buf, cap);
	const struct sdp_codec *lc = NULL;

	if (choose(offer, l, out, neg, &lc) < 0)
		return -EPROTO;
	session_head(&o, l);
	for (unsigned i = 0; i < offer->nmedia; i++) {
		const struct sdp_media *m = &offer->media[i];

		if (i != out->media_index) {
			/* RFC 3264 §6: a rejected stream keeps its line with port 0 */
			outf(&o, "m=%.*s 0 %.*s %.*s\r\n", (int)m->type.len, m->type.p, (int)m->proto.len, m->proto.p,
			     (int)m->fmt_list.len, m->fmt_list.p);
			continue;
		}
		outf(&o, "m=audio %u %.*s %u", l->port, (int)m->proto.len, m->proto.p, out->codec.pt);
		if (out->dtmf_pt)
			outf(&o, " %u", out->dtmf_pt);
		outf(&o, "\r\n");
		if (out->codec.channels > 1)
			outf(&o, "a=rtpmap:%u %s/%u/%u\r\n", out->codec.pt, lc->name, lc->clock_rate,
			     out->codec.channels);
		else
			outf(&o, "a=rtpmap:%u %s/%u\r\n", out->codec.pt, lc->name, lc->clock_rate);
		if (lc->fmtp)
			outf(&o, "a=fmtp:%u %s\r\n", out->codec.pt, lc->fmtp);
		if (out->dtmf_pt)
			outf(&o, "a=rtpmap:%u telephone-event/8000\r\na=fmtp:%u 0-16\r\n", out->dtmf_pt, out->dtmf_pt);
		media_attrs(&o, l, out->dir, out->rtcp_mux);
		if (out->srtp)
			outf(&o, "a=crypto:%u %s inline:%s\r\n", out->crypto_tag, l->crypto_suite,
			     l->crypto_key ? l->crypto_key : "");
	}
	return out_end(&o);
}

int sdp_accept_answer(const struct sdp_local *l, const struct sdp_session *answer, struct sdp_negotiated *out,
		      enum sdp_neg *neg)
{
	const struct sdp_codec *lc = NULL;
	const struct sdp_media *m;

	if (choose(answer, l, out, neg, &lc) < 0) {
		/* an answer may not introduce a codec or drop SRTP we offered: that is a bad answer */
		if (*neg == SDP_NEG_SRTP_UNSUPPORTED)
			*neg = SDP_NEG_BAD_ANSWER;
		return -EPROTO;
	}
	m = &answer->media[out->media_index];
	/* every format in the answer must be one we offered, with the number we gave it */
	for (unsigned k = 0; k < m->nfmt; k++) {
		bool offered = l->dtmf_pt && m->fmt[k].pt == l->dtmf_pt;
		for (unsigned i = 0; i < l->ncodecs && !offered; i++)
			offered = l->codecs[i].pt == m->fmt[k].pt;
		if (!offered) {
			*neg = SDP_NEG_BAD_ANSWER;
			return -EPROTO;
		}
	}
	if (out->codec.pt != lc->pt) {
		*neg = SDP_NEG_BAD_ANSWER;
		return -EPROTO;
	}
	if (l->crypto_suite && l->srtp_required && !out->srtp) {
		*neg = SDP_NEG_SRTP_REQUIRED;
		return -EPROTO;
	}
	return 0;
}
