/* Whole-message validation (every known header parsed, mandatory headers, scalar limits) and the
 * `callmeter-worker sip-check FILE...` command built on it.  RFC 4475 is the reference for what is accepted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "sip/sip_internal.h"

static int invalid(struct sip_msg *m, const char *why)
{
	m->error = why;
	return -EINVAL;
}

/* rfc1123-date = wkday "," SP date1 SP time SP "GMT" (RFC 3261 §20.17). */
static bool valid_date(struct sip_str s)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	const char *p = s.p;
	bool ok = false;

	/* "Fri, 01 Jan 2010 16:00:00 GMT" is 29 characters */
	if (s.len != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
	    p[19] != ':' || p[22] != ':' || p[25] != ' ' || memcmp(p + 26, "GMT", 3) != 0)
		return false;
	for (int i = 0; i < 7; i++)
		ok |= memcmp(p, days[i], 3) == 0;
	if (!ok)
		return false;
	ok = false;
	for (int i = 0; i < 12; i++)
		ok |= memcmp(p + 8, months[i], 3) == 0;
	static const int digits[] = { 5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24 };
	for (size_t i = 0; i < sizeof(digits) / sizeof(digits[0]); i++)
		ok &= sip_is_digit((unsigned char)p[digits[i]]);
	return ok;
}

/* callid = word [ "@" word ] */
static bool valid_call_id(struct sip_str s)
{
	bool at = false;

	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c == '@') {
			if (at || i == 0 || i + 1 == s.len)
				return false;
			at = true;
		} else if (!sip_is_token(c) && !strchr("()<>:\\\"/[]?{}", c)) {
			return false;
		}
	}
	return true;
}

/* media-type = m-type SLASH m-subtype *(SEMI m-parameter) */
static bool valid_content_type(struct sip_str s)
{
	const char *p = s.p, *end = s.p + s.len, *q;
	struct sip_str n, v;
	int rc;

	q = sip_skip_token(p, end);
	if (q == p)
		return false;
	p = sip_skip_lws(q, end);
	if (p >= end || *p != '/')
		return false;
	p = sip_skip_lws(p + 1, end);
	q = sip_skip_token(p, end);
	if (q == p)
		return false;
	p = sip_skip_lws(q, end);
	if (p == end)
		return true;
	if (*p != ';')
		return false;
	for (p++; (rc = sip_param_next(&p, end, &n, &v)) > 0;)
		;
	return rc == 0;
}

/* Each element of a comma-separated name-addr list (Contact, Route, Record-Route). */
static int validate_addr_list(struct sip_msg *m, const struct sip_hdr *h, bool need_angle)
{
	struct sip_str rest = h->value, elem;
	struct sip_addr a;
	unsigned n = 0;
	int rc;

	while ((rc = sip_next_value(&rest, &elem)) > 0) {
		if (++n > SIP_MAX_VALUES)
			return invalid(m, "too many values in one header");
		if (sip_parse_addr(elem, &a, &m->error) < 0)
			return -EINVAL;
		if (need_angle && (a.star || a.uri_str.p == elem.p))
			return invalid(m, "Route/Record-Route value not in <>");
		if (a.star && (h->id != SIP_HDR_CONTACT || n > 1 || rest.len))
			return invalid(m, "'*' Contact mixed with addresses");
		if (h->id == SIP_HDR_CONTACT) {
			struct sip_str ex;
			uint32_t secs;
			if (sip_param_get(a.params, "expires", &ex) &&
			    sip_parse_uint(ex, SIP_MAX_EXPIRES, &secs, &m->error) < 0)
				return invalid(m, "Contact expires parameter out of range");
		}
	}
	if (rc < 0)
		return invalid(m, h->id == SIP_HDR_CONTACT ? "empty or malformed Contact value"
							   : "empty or malformed Route value");
	return 0;
}

int sip_msg_validate(struct sip_msg *m)
{
	static const enum sip_hdr_id once[] = { SIP_HDR_CALL_ID, SIP_HDR_FROM, SIP_HDR_TO, SIP_HDR_CSEQ };
	uint32_t u;

	if (m->is_request) {
		struct sip_uri ru;
		if (m->ruri.p[0] == '<')
			return invalid(m, "Request-URI enclosed in <>");
		if (sip_parse_uri(m->ruri, &ru, &m->error) < 0)
			return -EINVAL;
		if ((ru.scheme == SIP_SCHEME_SIP || ru.scheme == SIP_SCHEME_SIPS) && ru.headers.p)
			return invalid(m, "headers (?...) not allowed in a Request-URI");
	}
	for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
		unsigned n = sip_msg_hdr_count(m, once[i]);
		if (n == 0) {
			static char why[SIP_HDR__COUNT][40];
			snprintf(why[once[i]], sizeof(why[0]), "missing %s header", sip_hdr_name(once[i]));
			return invalid(m, why[once[i]]);
		}
		if (n > 1) {
			static char why[SIP_HDR__COUNT][40];
			snprintf(why[once[i]], sizeof(why[0]), "more than one %s header", sip_hdr_name(once[i]));
			return invalid(m, why[once[i]]);
		}
	}
	if (!sip_msg_hdr(m, SIP_HDR_VIA))
		return invalid(m, "missing Via header");

	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];
		struct sip_addr a;
		struct sip_cseq cs;
		struct sip_auth au;

		switch (h->id) {
		case SIP_HDR_VIA: {
			struct sip_str rest = h->value, elem;
			struct sip_via v;
			int rc;
			while ((rc = sip_next_value(&rest, &elem)) > 0)
				if (sip_parse_via(elem, &v, &m->error) < 0)
					return -EINVAL;
			if (rc < 0)
				return invalid(m, "empty or malformed Via value");
			break;
		}
		case SIP_HDR_FROM:
		case SIP_HDR_TO:
		case SIP_HDR_REFER_TO:
			if (sip_parse_addr(h->value, &a, &m->error) < 0)
				return -EINVAL;
			if (a.star)
				return invalid(m, "'*' is not an address");
			break;
		case SIP_HDR_CONTACT:
		case SIP_HDR_ROUTE:
		case SIP_HDR_RECORD_ROUTE:
			if (validate_addr_list(m, h, h->id != SIP_HDR_CONTACT) < 0)
				return -EINVAL;
			break;
		case SIP_HDR_CALL_ID:
			if (!valid_call_id(h->value))
				return invalid(m, "malformed Call-ID");
			break;
		case SIP_HDR_CSEQ:
			if (sip_parse_cseq(h->value, &cs, &m->error) < 0)
				return -EINVAL;
			if (m->is_request && (cs.method.len != m->method.len ||
					      memcmp(cs.method.p, m->method.p, cs.method.len) != 0))
				return invalid(m, "CSeq method does not match the request method");
			break;
		case SIP_HDR_MAX_FORWARDS:
			if (sip_parse_uint(h->value, SIP_MAX_MAX_FORWARDS, &u, &m->error) < 0)
				return invalid(m, "Max-Forwards not a number 0-255");
			break;
		case SIP_HDR_EXPIRES:
		case SIP_HDR_MIN_EXPIRES:
			if (sip_parse_uint(h->value, SIP_MAX_EXPIRES, &u, &m->error) < 0)
				return invalid(m, "Expires not a number below 2^32");
			break;
		case SIP_HDR_CONTENT_TYPE:
			if (!valid_content_type(h->value))
				return invalid(m, "malformed Content-Type");
			break;
		case SIP_HDR_DATE:
			if (!valid_date(h->value))
				return invalid(m, "Date is not an RFC 1123 date in GMT");
			break;
		case SIP_HDR_WWW_AUTHENTICATE:
		case SIP_HDR_PROXY_AUTHENTICATE:
		case SIP_HDR_AUTHORIZATION:
		case SIP_HDR_PROXY_AUTHORIZATION:
			if (sip_parse_auth(h->value, &au, &m->error) < 0)
				return -EINVAL;
			break;
		default:
			break;
		}
	}
	return 0;
}

/* Reads a whole file (up to one byte over the message limit, so an oversize file is recognised). */
static int read_file(const char *path, char *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (!f)
		return -errno;
	*len = fread(buf, 1, cap, f);
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return 0;
}

int sip_check_main(int argc, char **argv)
{
	static char buf[SIP_MAX_MSG_SIZE + 1];
	static struct sip_msg m;
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: callmeter-worker sip-check FILE...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		size_t len = 0;
		int rc = read_file(argv[i], buf, sizeof(buf), &len);

		if (rc < 0) {
			printf("%s: invalid: cannot read: %s\n", argv[i], strerror(-rc));
			status = 2;
			continue;
		}
		rc = sip_msg_parse(&m, buf, len);
		if (rc == 0)
			rc = sip_msg_validate(&m);
		if (rc < 0) {
			printf("%s: invalid: %s\n", argv[i], m.error ? m.error : strerror(-rc));
			status = 2;
		} else {
			printf("%s: ok\n", argv[i]);
		}
	}
	fflush(stdout);
	return status;
}
