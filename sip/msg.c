/* SIP message parsing (RFC 3261 §7): the start line, header lines delimited but not interpreted, the body by
 * Content-Length; and stream framing for TCP/TLS (RFC 3261 §18.3), kept apart from parsing. */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "sip/sip_internal.h"

#define C_ALNUM (SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM)
const unsigned char sip_ctype[256] = {
	['0' ... '9'] = C_ALNUM | SIP_C_HEX,
	['a' ... 'f'] = C_ALNUM | SIP_C_HEX,
	['A' ... 'F'] = C_ALNUM | SIP_C_HEX,
	['g' ... 'z'] = C_ALNUM,
	['G' ... 'Z'] = C_ALNUM,
	['-'] = SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM,
	['.'] = SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM,
	['!'] = SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM,
	['*'] = SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM,
	['_'] = SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM,
	['~'] = SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM,
	['\''] = SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_PARAM,
	['%'] = SIP_C_TOKEN | SIP_C_PARAM,
	['+'] = SIP_C_TOKEN | SIP_C_PARAM,
	['`'] = SIP_C_TOKEN | SIP_C_PARAM,
	['('] = SIP_C_UNRESERVED | SIP_C_PARAM,
	[')'] = SIP_C_UNRESERVED | SIP_C_PARAM,
	['['] = SIP_C_PARAM,
	[']'] = SIP_C_PARAM,
	['/'] = SIP_C_PARAM,
	[':'] = SIP_C_PARAM,
	['&'] = SIP_C_PARAM,
	['$'] = SIP_C_PARAM,
	['\r'] = SIP_C_LINE,
	['\n'] = SIP_C_LINE,
	['"'] = SIP_C_SPLIT,
	['<'] = SIP_C_SPLIT,
	['>'] = SIP_C_SPLIT,
	[','] = SIP_C_SPLIT,
};

static const char *const method_names[] = {
	[SIP_METHOD_UNKNOWN] = NULL, [SIP_INVITE] = "INVITE",       [SIP_ACK] = "ACK",
	[SIP_BYE] = "BYE",           [SIP_CANCEL] = "CANCEL",       [SIP_REGISTER] = "REGISTER",
	[SIP_OPTIONS] = "OPTIONS",   [SIP_INFO] = "INFO",           [SIP_PRACK] = "PRACK",
	[SIP_UPDATE] = "UPDATE",     [SIP_SUBSCRIBE] = "SUBSCRIBE", [SIP_NOTIFY] = "NOTIFY",
	[SIP_REFER] = "REFER",       [SIP_MESSAGE] = "MESSAGE",
};

enum sip_method sip_method_from_str(struct sip_str s)
{
	for (size_t i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (sip_str_eq(s, method_names[i]))
			return (enum sip_method)i;
	return SIP_METHOD_UNKNOWN;
}

const char *sip_method_name(enum sip_method m)
{
	return (unsigned)m < sizeof(method_names) / sizeof(method_names[0]) ? method_names[m] : NULL;
}

/* Full name and compact form (RFC 3261 §7.3.3, RFC 3265, RFC 3515, RFC 4028). */
#define HN(name, compact) { name, sizeof(name) - 1, compact }
static const struct {
	const char *name;
	size_t len;
	char compact;
} hdr_names[SIP_HDR__COUNT] = {
	[SIP_HDR_VIA] = HN("Via", 'v'),
	[SIP_HDR_FROM] = HN("From", 'f'),
	[SIP_HDR_TO] = HN("To", 't'),
	[SIP_HDR_CALL_ID] = HN("Call-ID", 'i'),
	[SIP_HDR_CSEQ] = HN("CSeq", 0),
	[SIP_HDR_CONTACT] = HN("Contact", 'm'),
	[SIP_HDR_CONTENT_LENGTH] = HN("Content-Length", 'l'),
	[SIP_HDR_CONTENT_TYPE] = HN("Content-Type", 'c'),
	[SIP_HDR_MAX_FORWARDS] = HN("Max-Forwards", 0),
	[SIP_HDR_EXPIRES] = HN("Expires", 0),
	[SIP_HDR_MIN_EXPIRES] = HN("Min-Expires", 0),
	[SIP_HDR_ROUTE] = HN("Route", 0),
	[SIP_HDR_RECORD_ROUTE] = HN("Record-Route", 0),
	[SIP_HDR_WWW_AUTHENTICATE] = HN("WWW-Authenticate", 0),
	[SIP_HDR_PROXY_AUTHENTICATE] = HN("Proxy-Authenticate", 0),
	[SIP_HDR_AUTHORIZATION] = HN("Authorization", 0),
	[SIP_HDR_PROXY_AUTHORIZATION] = HN("Proxy-Authorization", 0),
	[SIP_HDR_SUPPORTED] = HN("Supported", 'k'),
	[SIP_HDR_REQUIRE] = HN("Require", 0),
	[SIP_HDR_ALLOW] = HN("Allow", 0),
	[SIP_HDR_SUBJECT] = HN("Subject", 's'),
	[SIP_HDR_CONTENT_ENCODING] = HN("Content-Encoding", 'e'),
	[SIP_HDR_DATE] = HN("Date", 0),
	[SIP_HDR_EVENT] = HN("Event", 'o'),
	[SIP_HDR_REFER_TO] = HN("Refer-To", 'r'),
	[SIP_HDR_USER_AGENT] = HN("User-Agent", 0),
	[SIP_HDR_SERVER] = HN("Server", 0),
	[SIP_HDR_ALLOW_EVENTS] = HN("Allow-Events", 'u'),
	[SIP_HDR_SESSION_EXPIRES] = HN("Session-Expires", 'x'),
	[SIP_HDR_REASON] = HN("Reason", 0),
};

/* Every received header line asks for its id: the names are indexed by length (and compact forms by letter) once
 * at start-up, so a lookup compares the first letter of the two to five names of that length, then one name. */
#define HDR_NAME_MAX 24u
#define HDR_SAME_LEN 6u
static unsigned char by_len[HDR_NAME_MAX + 1][HDR_SAME_LEN];
static unsigned char by_compact[26];

__attribute__((constructor)) static void hdr_index(void)
{
	for (int i = 1; i < SIP_HDR__COUNT; i++) {
		unsigned char *row = by_len[hdr_names[i].len];
		unsigned n = 0;

		while (row[n])
			n++;
		if (hdr_names[i].len > HDR_NAME_MAX || n + 1 >= HDR_SAME_LEN)
			abort(); /* a name added to hdr_names outgrew the index: raise its limits */
		row[n] = (unsigned char)i;
		if (hdr_names[i].compact)
			by_compact[hdr_names[i].compact - 'a'] = (unsigned char)i;
	}
}

enum sip_hdr_id sip_hdr_id_from_name(struct sip_str name)
{
	unsigned char first;

	if (name.len == 1) {
		unsigned char c = (unsigned char)((unsigned char)name.p[0] | 0x20);
		return c >= 'a' && c <= 'z' && by_compact[c - 'a'] ? (enum sip_hdr_id)by_compact[c - 'a']
								   : SIP_HDR_OTHER;
	}
	if (name.len == 0 || name.len > HDR_NAME_MAX)
		return SIP_HDR_OTHER;
	first = (unsigned char)(name.p[0] | 0x20);
	for (const unsigned char *id = by_len[name.len]; *id; id++)
		if ((hdr_names[*id].name[0] | 0x20) == first && sip_ascii_caseeq(name.p, hdr_names[*id].name, name.len))
			return (enum sip_hdr_id)*id;
	return SIP_HDR_OTHER;
}

const char *sip_hdr_name(enum sip_hdr_id id)
{
	return (unsigned)id < SIP_HDR__COUNT ? hdr_names[id].name : NULL;
}

/* The end of the line starting at p (the LF, or end); *content_end is where the line's text stops (before a CR).
 * A CR not followed by LF is malformed: returns NULL. */
static const char *line_end(const char *p, const char *end, const char **content_end)
{
	p = sip_find_crlf(p, end);
	if (p == end)
		return NULL;
	if (*p == '\n') {
		*content_end = p;
		return p;
	}
	if (p + 1 < end && p[1] == '\n') {
		*content_end = p;
		return p + 1;
	}
	return NULL; /* a CR not followed by LF */
}

static int fail(struct sip_msg *m, int rc, const char *why)
{
	m->error = why;
	return rc;
}

/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; only 2.0 is spoken.  0 for 2.0, -EPROTO for another version,
 * -EINVAL for something that is not a version at all. */
static int parse_version(const char *p, const char *end)
{
	const char *v = p + 4, *q;

	if (end - p < 7 || !sip_ascii_caseeq(p, "SIP/", 4))
		return -EINVAL;
	for (q = v; q < end && sip_is_digit((unsigned char)*q); q++)
		;
	if (q == v || q >= end || *q != '.')
		return -EINVAL;
	for (q++; q < end && sip_is_digit((unsigned char)*q); q++)
		;
	if (q != end || q[-1] == '.')
		return -EINVAL;
	return (end - v == 3 && memcmp(v, "2.0", 3) == 0) ? 0 : -EPROTO;
}

/* Request-Line = Method SP Request-URI SP SIP-Version CRLF, exactly one SP between elements (RFC 4475
 * §3.1.2.8-10); Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF. */
static int parse_start_line(struct sip_msg *m, const char *p, const char *end)
{
	int vrc;

	if (end - p >= 4 && sip_ascii_caseeq(p, "SIP/", 4)) {
		const char *sp = memchr(p, ' ', (size_t)(end - p)), *code;

		m->is_request = false;
		if (!sp)
			return fail(m, -EINVAL, "malformed status line");
		vrc = parse_version(p, sp);
		if (vrc == -EPROTO)
			return fail(m, -EPROTO, "unsupported SIP version");
		if (vrc < 0)
			return fail(m, -EINVAL, "malformed status line");
		code = sp + 1;
		if (end - code < 3 || !sip_is_digit((unsigned char)code[0]) || !sip_is_digit((unsigned char)code[1]) ||
		    !sip_is_digit((unsigned char)code[2]) || (end - code > 3 && code[3] != ' '))
			return fail(m, -EINVAL, "status code is not three digits");
		m->status = (unsigned)((code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0'));
		if (m->status < SIP_MIN_STATUS || m->status > SIP_MAX_STATUS)
			return fail(m, -ERANGE, "status code out of range 100-699");
		m->reason = (end - code > 3) ? (struct sip_str){ code + 4, (size_t)(end - code - 4) }
					     : (struct sip_str){ end, 0 };
		for (size_t i = 0; i < m->reason.len; i++) {
			unsigned char c = (unsigned char)m->reason.p[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(m, -EINVAL, "control character in reason phrase");
		}
		return 0;
	}

	const char *q = sip_skip_token(p, end), *uri, *uri_end;

	m->is_request = true;
	if (q == p || q >= end || *q != ' ')
		return fail(m, -EINVAL, "malformed request line: method");
	m->method = (struct sip_str){ p, (size_t)(q - p) };
	m->method_id = sip_method_from_str(m->method);
	uri = q + 1;
	for (uri_end = uri; uri_end < end && *uri_end != ' '; uri_end++) {
		unsigned char c = (unsigned char)*uri_end;
		if (c <= 0x20 || c == 0x7f)
			return fail(m, -EINVAL, "malformed request line: control character or tab in Request-URI");
	}
	if (uri_end == uri)
		return fail(m, -EINVAL, "malformed request line: empty Request-URI (extra space?)");
	if (uri_end >= end)
		return fail(m, -EINVAL, "malformed request line: no SIP version");
	m->ruri = (struct sip_str){ uri, (size_t)(uri_end - uri) };
	vrc = parse_version(uri_end + 1, end);
	if (vrc == -EPROTO)
		return fail(m, -EPROTO, "unsupported SIP version");
	if (vrc < 0)
		return fail(m, -EINVAL, "malformed request line: expected 'SIP/2.0' after the Request-URI");
	return 0;
}

int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	const struct sip_hdr *cl_hdr = NULL;
	const char *text_end, *lf;
	int rc;

	m->buf = buf;
	m->len = 0;
	m->nhdrs = 0;
	m->error = NULL;
	m->status = 0;
	m->method = m->ruri = m->reason = m->body = (struct sip_str){ buf, 0 };
	m->method_id = SIP_METHOD_UNKNOWN;
	if (len > SIP_MAX_MSG_SIZE)
		return fail(m, -EMSGSIZE, "message larger than SIP_MAX_MSG_SIZE");
	while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')))
		p += *p == '\r' ? 2 : 1;
	if (p == end)
		return fail(m, -EINVAL, "empty message");
	m->buf = p;
	lf = line_end(p, end, &text_end);
	if (!lf)
		return fail(m, -EINVAL, "start line not terminated by CRLF");
	rc = parse_start_line(m, p, text_end);
	if (rc < 0)
		return rc;

	/* Header lines: a line starting with SP/HT continues the previous one (RFC 3261 §7.3.1). */
	for (p = lf + 1;;) {
		const char *name_end, *colon, *v;
		struct sip_hdr *h;

		if (p >= end)
			return fail(m, -EINVAL, "headers not terminated by an empty line");
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			p += *p == '\r' ? 2 : 1;
			break;
		}
		if (sip_is_ws((unsigned char)*p))
			return fail(m, -EINVAL, "continuation line without a header");
		lf = line_end(p, end, &text_end);
		while (lf && lf + 1 < end && sip_is_ws((unsigned char)lf[1]))
			lf = line_end(lf + 1, end, &text_end);
		if (!lf)
			return fail(m, -EINVAL, "header line not terminated by CRLF");
		if (m->nhdrs == SIP_MAX_HEADERS)
			return fail(m, -E2BIG, "more than SIP_MAX_HEADERS header lines");
		name_end = sip_skip_token(p, text_end);
		colon = sip_skip_lws(name_end, text_end);
		if (name_end == p || colon >= text_end || *colon != ':')
			return fail(m, -EINVAL, "malformed header line (expected NAME: VALUE)");
		v = colon + 1;
		h = &m->hdrs[m->nhdrs++];
		h->name = (struct sip_str){ p, (size_t)(name_end - p) };
		h->id = sip_hdr_id_from_name(h->name);
		h->value = sip_trim((struct sip_str){ v, (size_t)(text_end - v) });
		if (h->id == SIP_HDR_CONTENT_LENGTH) {
			if (cl_hdr)
				return fail(m, -EINVAL, "more than one Content-Length");
			cl_hdr = h;
		}
		p = lf + 1;
	}

	if (cl_hdr) {
		const char *why;
		uint32_t cl;

		if (sip_parse_uint(cl_hdr->value, SIP_MAX_CONTENT_LENGTH, &cl, &why) < 0)
			return fail(m, -EINVAL, "bad Content-Length");
		if (cl > (size_t)(end - p))
			return fail(m, -EINVAL, "Content-Length larger than the body");
		m->body = (struct sip_str){ p, cl };
	} else {
		m->body = (struct sip_str){ p, (size_t)(end - p) };
	}
	m->len = (size_t)(m->body.p + m->body.len - m->buf);
	return 0;
}

const struct sip_hdr *sip_msg_next_hdr(const struct sip_msg *m, const struct sip_hdr *prev)
{
	for (const struct sip_hdr *h = prev + 1; h < m->hdrs + m->nhdrs; h++)
		if (h->id == prev->id && (h->id != SIP_HDR_OTHER || (h->name.len == prev->name.len &&
								       sip_ascii_caseeq(h->name.p, prev->name.p,
											h->name.len))))
			return h;
	return NULL;
}

const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	for (unsigned i = 0; i < m->nhdrs; i++)
		if (m->hdrs[i].id == id)
			return &m->hdrs[i];
	return NULL;
}

const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, const char *name)
{
	enum sip_hdr_id id = sip_hdr_id_from_name((struct sip_str){ name, strlen(name) });

	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr(m, id);
	for (unsigned i = 0; i < m->nhdrs; i++)
		if (sip_str_caseeq(m->hdrs[i].name, name))
			return &m->hdrs[i];
	return NULL;
}

unsigned sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->nhdrs; i++)
		n += m->hdrs[i].id == id;
	return n;
}

int sip_next_value(struct sip_str *rest, struct sip_str *elem)
{
	const char *p = sip_skip_lws(rest->p, rest->p + rest->len), *end = rest->p + rest->len, *start = p;
	int angle = 0;

	if (p >= end)
		return 0;
	for (; (p = sip_find_split(p, end)) < end; p++) {
		if (*p == '"') {
			p = sip_skip_quoted(p, end);
			if (!p)
				return -EINVAL;
			p--;
		} else if (*p == '<') {
			angle = 1;
		} else if (*p == '>') {
			angle = 0;
		} else if (*p == ',' && !angle) {
			break;
		}
	}
	*elem = sip_trim((struct sip_str){ start, (size_t)(p - start) });
	if (elem->len == 0)
		return -EINVAL;
	if (p < end) {
		p++;
		if (sip_skip_lws(p, end) >= end)
			return -EINVAL; /* a trailing comma: an empty element */
	}
	*rest = (struct sip_str){ p, (size_t)(end - p) };
	return 1;
}

/* ---- stream framing --------------------------------------------------------------------------------------- */

void sip_framer_reset(struct sip_framer *f)
{
	memset(f, 0, sizeof(*f));
}

static enum sip_frame_rc frame_error(struct sip_framer *f, const char *why)
{
	f->error = why;
	return SIP_FRAME_ERROR;
}

/* Looks for the blank line ending the headers, from where the last call stopped, then for Content-Length
 * among the header lines (full or compact name); the message ends Content-Length bytes after the blank line. */
enum sip_frame_rc sip_frame(struct sip_framer *f, const char *buf, size_t len, size_t *msg_len)
{
	if (f->hdr_end == 0) {
		const char *p, *end = buf + len, *hdrs, *cl = NULL;
		uint32_t body;
		const char *why;

		while (f->skip < len && (buf[f->skip] == '\r' || buf[f->skip] == '\n'))
			f->skip++;
		if (f->scanned < f->skip)
			f->scanned = f->skip;
		hdrs = buf + f->skip;
		/* Back up over what could be the start of a split "\r\n\r\n". */
		p = buf + (f->scanned > f->skip + 3 ? f->scanned - 3 : f->skip);
		for (; p < end; p++) {
			if (*p != '\n')
				continue;
			if (p + 1 < end && p[1] == '\n') {
				f->hdr_end = (size_t)(p + 2 - buf);
				break;
			}
			if (p + 2 < end && p[1] == '\r' && p[2] == '\n') {
				f->hdr_end = (size_t)(p + 3 - buf);
				break;
			}
		}
		if (f->hdr_end == 0) {
			f->scanned = len;
			if (len - f->skip > SIP_MAX_MSG_SIZE)
				return frame_error(f, "headers longer than SIP_MAX_MSG_SIZE");
			return SIP_FRAME_AGAIN;
		}
		/* Find Content-Length at the start of a header line. */
		for (p = hdrs; p < buf + f->hdr_end; p++) {
			const char *line = p, *n, *c;

			p = memchr(line, '\n', (size_t)(buf + f->hdr_end - line));
			if (!p)
				break;
			if (sip_is_ws((unsigned char)*line))
				continue;
			n = sip_skip_token(line, p);
			c = sip_skip_lws(n, p);
			if (c < p && *c == ':' &&
			    sip_hdr_id_from_name((struct sip_str){ line, (size_t)(n - line) }) == SIP_HDR_CONTENT_LENGTH) {
				const char *e = p;
				if (cl)
					return frame_error(f, "more than one Content-Length");
				cl = c + 1;
				while (e > cl && (e[-1] == '\r' || e[-1] == '\n'))
					e--;
				if (sip_parse_uint((struct sip_str){ cl, (size_t)(e - cl) }, SIP_MAX_CONTENT_LENGTH,
						   &body, &why) < 0)
					return frame_error(f, "bad Content-Length");
			}
		}
		if (!cl)
			return frame_error(f, "no Content-Length on a stream transport");
		f->body_len = body;
		if (f->hdr_end - f->skip + f->body_len > SIP_MAX_MSG_SIZE)
			return frame_error(f, "message larger than SIP_MAX_MSG_SIZE");
	}
	if (len < f->hdr_end + f->body_len)
		return SIP_FRAME_AGAIN;
	*msg_len = f->hdr_end + f->body_len;
	return SIP_FRAME_OK;
}
