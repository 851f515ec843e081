/* Typed header values, parsed on demand: URIs (RFC 3261 §19.1), name-addr/addr-spec with header parameters,
 * Via, CSeq, decimal scalars, and the auth headers' scheme + auth-params (RFC 3261 §25.1 grammar). */
#include <errno.h>
#include <strings.h>

#include "sip/sip_internal.h"

static int err(const char **error, const char *why)
{
	if (error)
		*error = why;
	return -EINVAL;
}

/* '%' HEX HEX at p? */
static bool escaped_at(const char *p, const char *end)
{
	return p + 2 < end && p[0] == '%' && sip_is_hex((unsigned char)p[1]) && sip_is_hex((unsigned char)p[2]);
}

/* Checks that [p, end) holds only unreserved characters, escapes, and the extra characters given. */
static bool all_of(const char *p, const char *end, const char *extra)
{
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c == '%') {
			if (!escaped_at(p, end))
				return false;
			p += 3;
			continue;
		}
		if (!sip_is_unreserved(c) && !(c && strchr(extra, c)))
			return false;
		p++;
	}
	return true;
}

/* host = hostname / IPv4address / IPv6reference; returns the end of the host or NULL. */
static const char *skip_host(const char *p, const char *end)
{
	const char *s = p;

	if (p < end && *p == '[') {
		for (p++; p < end && (sip_is_hex((unsigned char)*p) || *p == ':' || *p == '.'); p++)
			;
		return (p < end && *p == ']' && p > s + 2) ? p + 1 : NULL;
	}
	while (p < end && (sip_is_alnum((unsigned char)*p) || *p == '-' || *p == '.'))
		p++;
	return p > s ? p : NULL;
}

/* [":" port] after a host; 0 or -EINVAL. */
static int parse_port(const char **pp, const char *end, uint16_t *port)
{
	const char *p = *pp;
	uint32_t v = 0;
	int n = 0;

	for (; p < end && sip_is_digit((unsigned char)*p) && n < 6; p++, n++)
		v = v * 10 + (uint32_t)(*p - '0');
	if (n == 0 || n == 6 || v == 0 || v > SIP_MAX_PORT)
		return -EINVAL;
	*port = (uint16_t)v;
	*pp = p;
	return 0;
}

int sip_parse_uri(struct sip_str s, struct sip_uri *u, const char **error)
{
	const char *p = s.p, *end = s.p + s.len, *at, *h, *semi, *q;

	memset(u, 0, sizeof(*u));
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (p >= end || !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
		return err(error, "URI without a scheme");
	while (p < end && (sip_is_alnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
		p++;
	if (p >= end || *p != ':')
		return err(error, "URI without a scheme");
	u->scheme_str = (struct sip_str){ s.p, (size_t)(p - s.p) };
	p++;
	if (sip_str_caseeq(u->scheme_str, "sip"))
		u->scheme = SIP_SCHEME_SIP;
	else if (sip_str_caseeq(u->scheme_str, "sips"))
		u->scheme = SIP_SCHEME_SIPS;
	else if (sip_str_caseeq(u->scheme_str, "tel"))
		u->scheme = SIP_SCHEME_TEL;
	if (u->scheme != SIP_SCHEME_SIP && u->scheme != SIP_SCHEME_SIPS) {
		/* absoluteURI: opaque to us, but never empty and never white space, quotes or angle brackets. */
		u->opaque = (struct sip_str){ p, (size_t)(end - p) };
		if (p == end)
			return err(error, "empty URI after the scheme");
		for (; p < end; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == '"')
				return err(error, "bad character in URI");
		return 0;
	}

	/* userinfo "@": user and password may hold ';' '?' '/' (user-unreserved), but never '@'. */
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *user_end = colon ? colon : at;

		if (user_end == p)
			return err(error, "empty user part in URI");
		if (!all_of(p, user_end, "&=+$,;?/"))
			return err(error, "bad character in URI user part");
		u->user = (struct sip_str){ p, (size_t)(user_end - p) };
		if (colon) {
			if (!all_of(colon + 1, at, "&=+$,"))
				return err(error, "bad character in URI password");
			u->password = (struct sip_str){ colon + 1, (size_t)(at - colon - 1) };
		}
		p = at + 1;
		if (memchr(p, '@', (size_t)(end - p)))
			return err(error, "more than one '@' in URI");
	}
	h = skip_host(p, end);
	if (!h)
		return err(error, "bad host in URI");
	u->host = (struct sip_str){ p, (size_t)(h - p) };
	p = h;
	if (p < end && *p == ':') {
		p++;
		if (parse_port(&p, end, &u->port) < 0)
			return err(error, "bad port in URI");
	}
	if (p < end && *p == ';') {
		struct sip_str pn, pv;
		const char *pe;
		int rc;

		semi = p + 1;
		q = memchr(semi, '?', (size_t)(end - semi));
		pe = q ? q : end;
		u->params = (struct sip_str){ semi, (size_t)(pe - semi) };
		if (!all_of(semi, pe, "[]/:&+$;="))
			return err(error, "bad character in URI parameters");
		for (p = semi; (rc = sip_param_next(&p, pe, &pn, &pv)) > 0;)
			;
		if (rc < 0)
			return err(error, "empty URI parameter");
		p = pe;
	}
	if (p < end && *p == '?') {
		p++;
		u->headers = (struct sip_str){ p, (size_t)(end - p) };
		if (p == end || !all_of(p, end, "[]/?:+$=&"))
			return err(error, "bad URI headers");
		p = end;
	}
	if (p != end)
		return err(error, "bad character in URI");
	return 0;
}

int sip_param_next(const char **pp, const char *end, struct sip_str *name, struct sip_str *value)
{
	const char *p = sip_skip_lws(*pp, end), *n;

	if (p >= end)
		return 0;
	/* Parameter names are tokens; URI parameter names may also hold escapes and "[]/:&+$". */
	for (n = p; n < end && sip_is_param_char((unsigned char)*n); n++)
		;
	if (n == p)
		return -EINVAL;
	*name = (struct sip_str){ p, (size_t)(n - p) };
	*value = (struct sip_str){ NULL, 0 };
	p = sip_skip_lws(n, end);
	if (p < end && *p == '=') {
		const char *v = sip_skip_lws(p + 1, end);
		if (v < end && *v == '"') {
			p = sip_skip_quoted(v, end);
			if (!p)
				return -EINVAL;
		} else {
			for (p = v; p < end && sip_is_param_char((unsigned char)*p); p++)
				;
			if (p == v)
				return -EINVAL;
		}
		*value = (struct sip_str){ v, (size_t)(p - v) };
		p = sip_skip_lws(p, end);
	}
	if (p < end) {
		if (*p != ';')
			return -EINVAL;
		p++;
		if (sip_skip_lws(p, end) >= end)
			return -EINVAL; /* a trailing ';' */
	}
	*pp = p;
	return 1;
}

int sip_param_get(struct sip_str params, const char *name, struct sip_str *value)
{
	const char *p = params.p, *end;
	struct sip_str n, v;

	if (!p)
		return 0;
	end = p + params.len;
	while (sip_param_next(&p, end, &n, &v) > 0) {
		if (sip_str_caseeq(n, name)) {
			*value = v.p ? v : (struct sip_str){ n.p + n.len, 0 };
			return 1;
		}
	}
	return 0;
}

/* Validates generic header parameters "name[=value];..." and returns the tag. */
static int parse_hdr_params(struct sip_str params, struct sip_str *tag, const char **error)
{
	const char *p = params.p, *end = params.p + params.len;
	struct sip_str n, v;
	int rc;

	while ((rc = sip_param_next(&p, end, &n, &v)) > 0) {
		for (size_t i = 0; i < n.len; i++)
			if (!sip_is_token((unsigned char)n.p[i]))
				return err(error, "bad header parameter name");
		if (tag && sip_str_caseeq(n, "tag")) {
			if (!v.p || v.len == 0)
				return err(error, "empty tag parameter");
			*tag = v;
		}
	}
	return rc < 0 ? err(error, "empty or malformed header parameter") : 0;
}

int sip_parse_addr(struct sip_str value, struct sip_addr *a, const char **error)
{
	const char *p, *end = value.p + value.len, *q, *uri_end;
	int rc;

	memset(a, 0, sizeof(*a));
	value = sip_trim(value);
	p = value.p;
	end = value.p + value.len;
	if (p >= end)
		return err(error, "empty address");
	if (value.len == 1 && *p == '*') {
		a->star = true;
		return 0;
	}
	if (*p == '"') {
		q = sip_skip_quoted(p, end);
		if (!q)
			return err(error, "unterminated quoted string in display name");
		a->display = (struct sip_str){ p, (size_t)(q - p) };
		p = sip_skip_lws(q, end);
		if (p >= end || *p != '<')
			return err(error, "quoted display name not followed by <URI>");
	} else {
		/* display-name as *(token LWS): if a '<' follows, that is what it was; otherwise an addr-spec. */
		for (q = p; q < end;) {
			const char *r = sip_skip_lws(q, end);

			if (sip_is_token((unsigned char)*q))
				q++;
			else if (r != q)
				q = r;
			else
				break;
		}
		if (q < end && *q == '<') {
			a->display = sip_trim((struct sip_str){ p, (size_t)(q - p) });
			p = q;
		}
	}
	if (p < end && *p == '<') {
		/* name-addr: LAQUOT addr-spec RAQUOT, no white space inside (RFC 4475 §3.1.2.14). */
		q = memchr(p, '>', (size_t)(end - p));
		if (!q)
			return err(error, "'<' without '>'");
		a->uri_str = (struct sip_str){ p + 1, (size_t)(q - p - 1) };
		for (size_t i = 0; i < a->uri_str.len; i++)
			if (sip_is_ws((unsigned char)a->uri_str.p[i]) || a->uri_str.p[i] == '\r' ||
			    a->uri_str.p[i] == '\n' || a->uri_str.p[i] == '<')
				return err(error, "white space inside <URI>");
		p = q + 1;
	} else {
		/* addr-spec: the URI ends at ';' (header parameters follow) or white space; a URI holding
		 * ',', ';' or '?' would have to be in <> (RFC 3261 §20). */
		for (uri_end = p; uri_end < end && *uri_end != ';' && !sip_is_ws((unsigned char)*uri_end) &&
				  *uri_end != '\r' && *uri_end != '\n';
		     uri_end++)
			if (*uri_end == '?' || *uri_end == ',' || *uri_end == '<' || *uri_end == '>' || *uri_end == '"')
				return err(error, "URI with '?', ',' or '<' must be enclosed in <>");
		a->uri_str = (struct sip_str){ p, (size_t)(uri_end - p) };
		p = uri_end;
	}
	rc = sip_parse_uri(a->uri_str, &a->uri, error);
	if (rc < 0)
		return rc;
	p = sip_skip_lws(p, end);
	if (p < end) {
		if (*p != ';')
			return err(error, "unexpected text after the address");
		a->params = (struct sip_str){ p + 1, (size_t)(end - p - 1) };
		return parse_hdr_params(a->params, &a->tag, error);
	}
	return 0;
}

/* via-parm = sent-protocol LWS sent-by *( SEMI via-params ); SLASH and COLON allow LWS around them. */
int sip_parse_via(struct sip_str value, struct sip_via *v, const char **error)
{
	const char *p = value.p, *end = value.p + value.len, *q;
	struct sip_str *parts[3] = { &v->protocol, &v->version, &v->transport };
	struct sip_str n, val;
	int rc;

	memset(v, 0, sizeof(*v));
	p = sip_skip_lws(p, end);
	for (int i = 0; i < 3; i++) {
		q = sip_skip_token(p, end);
		if (q == p)
			return err(error, "malformed Via sent-protocol");
		*parts[i] = (struct sip_str){ p, (size_t)(q - p) };
		p = sip_skip_lws(q, end);
		if (i < 2) {
			if (p >= end || *p != '/')
				return err(error, "malformed Via sent-protocol");
			p = sip_skip_lws(p + 1, end);
		}
	}
	if (!sip_str_caseeq(v->protocol, "SIP") || !sip_str_eq(v->version, "2.0"))
		return err(error, "Via protocol is not SIP/2.0");
	if (p == v->transport.p + v->transport.len)
		return err(error, "malformed Via: no space before sent-by");
	q = skip_host(p, end);
	if (!q)
		return err(error, "bad host in Via");
	v->host = (struct sip_str){ p, (size_t)(q - p) };
	v->sent_by = v->host;
	p = sip_skip_lws(q, end);
	if (p < end && *p == ':') {
		p = sip_skip_lws(p + 1, end);
		if (parse_port(&p, end, &v->port) < 0)
			return err(error, "bad port in Via");
		v->sent_by.len = (size_t)(p - v->host.p);
		p = sip_skip_lws(p, end);
	}
	if (p >= end)
		return 0;
	if (*p != ';')
		return err(error, "unexpected text in Via");
	v->params = (struct sip_str){ p + 1, (size_t)(end - p - 1) };
	for (p = p + 1; (rc = sip_param_next(&p, end, &n, &val)) > 0;) {
		if (sip_str_caseeq(n, "branch")) {
			if (!val.p || !val.len)
				return err(error, "empty Via branch");
			v->branch = val;
		} else if (sip_str_caseeq(n, "received")) {
			if (!val.p || skip_host(val.p, val.p + val.len) != val.p + val.len)
				return err(error, "bad Via received parameter");
			v->received = val;
		} else if (sip_str_caseeq(n, "rport")) {
			v->has_rport = true;
			v->rport = -1;
			if (val.p) {
				const char *vp = val.p;
				uint16_t port;
				if (parse_port(&vp, val.p + val.len, &port) < 0 || vp != val.p + val.len)
					return err(error, "bad Via rport parameter");
				v->rport = port;
			}
		}
	}
	return rc < 0 ? err(error, "empty or malformed Via parameter") : 0;
}

int sip_parse_uint(struct sip_str value, uint32_t max, uint32_t *out, const char **error)
{
	struct sip_str s = sip_trim(value);
	uint64_t v = 0;

	if (s.len == 0)
		return err(error, "empty number");
	for (size_t i = 0; i < s.len; i++) {
		if (!sip_is_digit((unsigned char)s.p[i]))
			return err(error, "not a decimal number");
		v = v * 10 + (uint64_t)(s.p[i] - '0');
		if (v > max) {
			if (error)
				*error = "number out of range";
			return -ERANGE;
		}
	}
	*out = (uint32_t)v;
	return 0;
}

/* CSeq = 1*DIGIT LWS Method */
int sip_parse_cseq(struct sip_str value, struct sip_cseq *c, const char **error)
{
	const char *p = value.p, *end = value.p + value.len, *d, *m;
	int rc;

	p = sip_skip_lws(p, end);
	for (d = p; d < end && sip_is_digit((unsigned char)*d); d++)
		;
	if (d == p)
		return err(error, "CSeq without a sequence number");
	rc = sip_parse_uint((struct sip_str){ p, (size_t)(d - p) }, SIP_MAX_CSEQ, &c->seq, error);
	if (rc < 0) {
		if (error)
			*error = "CSeq number not below 2^31";
		return rc;
	}
	m = sip_skip_lws(d, end);
	if (m == d)
		return err(error, "CSeq without a method");
	p = sip_skip_token(m, end);
	if (p == m || sip_skip_lws(p, end) != end)
		return err(error, "malformed CSeq method");
	c->method = (struct sip_str){ m, (size_t)(p - m) };
	c->method_id = sip_method_from_str(c->method);
	return 0;
}

/* RAck = response-num LWS CSeq-num LWS Method (RFC 3262 §7.2) */
int sip_parse_rack(struct sip_str value, struct sip_rack *r, const char **error)
{
	const char *p = value.p, *end = value.p + value.len, *d;
	int rc;

	p = sip_skip_lws(p, end);
	for (d = p; d < end && sip_is_digit((unsigned char)*d); d++)
		;
	if (d == p || d == end || !sip_is_ws((unsigned char)*d))
		return err(error, "RAck without a response number");
	rc = sip_parse_uint((struct sip_str){ p, (size_t)(d - p) }, SIP_MAX_RSEQ, &r->rseq, error);
	if (rc < 0 || r->rseq == 0) {
		if (error)
			*error = "RAck response number out of range";
		return rc < 0 ? rc : -ERANGE;
	}
	return sip_parse_cseq((struct sip_str){ d, (size_t)(end - d) }, &r->cseq, error);
}

bool sip_msg_has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tag)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_next_hdr(m, h)) {
		struct sip_str rest = h->value, elem;

		while (sip_next_value(&rest, &elem) > 0)
			if (sip_str_caseeq(elem, tag))
				return true;
	}
	return false;
}

/* challenge / credentials = auth-scheme LWS auth-param *(COMMA auth-param); auth-param = token EQUAL
 * ( token / quoted-string ). */
int sip_parse_auth(struct sip_str value, struct sip_auth *a, const char **error)
{
	const char *p = value.p, *end = value.p + value.len, *q;

	a->nparams = 0;
	p = sip_skip_lws(p, end);
	q = sip_skip_token(p, end);
	if (q == p)
		return err(error, "auth header without a scheme");
	a->scheme = (struct sip_str){ p, (size_t)(q - p) };
	p = sip_skip_lws(q, end);
	if (p < end && p == q)
		return err(error, "malformed auth header");
	while (p < end) {
		struct sip_str name, val;
		bool quoted = false;

		q = sip_skip_token(p, end);
		if (q == p)
			return err(error, "malformed auth parameter");
		name = (struct sip_str){ p, (size_t)(q - p) };
		p = sip_skip_lws(q, end);
		if (p >= end || *p != '=')
			return err(error, "auth parameter without '='");
		p = sip_skip_lws(p + 1, end);
		if (p < end && *p == '"') {
			q = sip_skip_quoted(p, end);
			if (!q)
				return err(error, "unterminated quoted string in auth parameter");
			val = (struct sip_str){ p + 1, (size_t)(q - p - 2) };
			quoted = true;
		} else {
			/* token, plus the characters base64 and RFC 2543 opaque values use */
			for (q = p; q < end && (sip_is_token((unsigned char)*q) || *q == '/' || *q == '=' ||
						*q == ':');
			     q++)
				;
			if (q == p)
				return err(error, "empty auth parameter value");
			val = (struct sip_str){ p, (size_t)(q - p) };
		}
		if (a->nparams == SIP_AUTH_MAX_PARAMS)
			return err(error, "more than SIP_AUTH_MAX_PARAMS auth parameters");
		a->params[a->nparams].name = name;
		a->params[a->nparams].value = val;
		a->params[a->nparams].quoted = quoted;
		a->nparams++;
		p = sip_skip_lws(q, end);
		if (p < end) {
			if (*p != ',')
				return err(error, "auth parameters not separated by ','");
			p = sip_skip_lws(p + 1, end);
			if (p >= end)
				return err(error, "trailing ',' in auth header");
		}
	}
	return 0;
}

struct sip_str sip_auth_param(const struct sip_auth *a, const char *name)
{
	for (unsigned i = 0; i < a->nparams; i++)
		if (sip_str_caseeq(a->params[i].name, name))
			return a->params[i].value;
	return (struct sip_str){ NULL, 0 };
}

int sip_unquote(struct sip_str s, char *out, size_t outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		if (n + 1 >= outlen)
			return -ENOSPC;
		out[n++] = s.p[i];
	}
	if (outlen == 0)
		return -ENOSPC;
	out[n] = '\0';
	return (int)n;
}
