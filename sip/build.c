/* Building requests and responses into a caller buffer (RFC 3261 §7): overflow is sticky and reported once. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "sip/sip_internal.h"

static void put(struct sip_builder *b, const char *s, size_t n)
{
	sip_build_put(b, s, n);
}

static void puts_(struct sip_builder *b, const char *s)
{
	sip_build_put(b, s, strlen(s));
}

bool sip_hdr_safe(const char *s)
{
	return !s || !strpbrk(s, "\r\n");
}

bool sip_ruri_safe(const char *s)
{
	if (!s || !s[0])
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void start(struct sip_builder *b, char *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->overflow = false;
}

void sip_build_request(struct sip_builder *b, char *buf, size_t cap, const char *method, struct sip_str ruri)
{
	start(b, buf, cap);
	puts_(b, method);
	put(b, " ", 1);
	put(b, ruri.p, ruri.len);
	puts_(b, " SIP/2.0\r\n");
}

void sip_build_response(struct sip_builder *b, char *buf, size_t cap, unsigned status, const char *reason)
{
	char line[4];

	start(b, buf, cap);
	if (status < SIP_MIN_STATUS || status > SIP_MAX_STATUS)
		b->overflow = true; /* reported as an error by sip_build_finish */
	status %= 1000;
	line[0] = (char)('0' + status / 100);
	line[1] = (char)('0' + status / 10 % 10);
	line[2] = (char)('0' + status % 10);
	line[3] = ' ';
	sip_build_lit(b, "SIP/2.0 ");
	put(b, line, 4);
	puts_(b, reason ? reason : sip_reason_phrase(status));
	put(b, "\r\n", 2);
}

void sip_build_hdr(struct sip_builder *b, const char *name, struct sip_str value)
{
	puts_(b, name);
	put(b, ": ", 2);
	put(b, value.p, value.len);
	put(b, "\r\n", 2);
}

void sip_build_uint(struct sip_builder *b, unsigned long long v)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(b, d + i, sizeof(d) - i);
}

/* Messages are built for every request and response: the usual formats (%s, %.*s, %u, %d, %zu, %lu, %llu, %%)
 * are written here, without the printf machinery (which costs more than the rest of building), in one pass over
 * the format.  false at any other conversion: the caller starts again with vsnprintf. */
static bool fmt_simple(struct sip_builder *b, const char *fmt, va_list ap)
{
	const char *p = fmt, *q;

	while ((q = strchr(p, '%')) != NULL) {
		put(b, p, (size_t)(q - p));
		q++;
		if (*q == 's') {
			puts_(b, va_arg(ap, const char *));
			p = q + 1;
		} else if (*q == 'u') {
			sip_build_uint(b, va_arg(ap, unsigned));
			p = q + 1;
		} else if (*q == 'd') {
			int v = va_arg(ap, int);
			if (v < 0)
				put(b, "-", 1);
			sip_build_uint(b, v < 0 ? -(unsigned long long)v : (unsigned long long)v);
			p = q + 1;
		} else if (*q == '%') {
			put(b, "%", 1);
			p = q + 1;
		} else if (q[0] == '.' && q[1] == '*' && q[2] == 's') {
			int n = va_arg(ap, int);
			const char *str = va_arg(ap, const char *);
			put(b, str, n > 0 ? strnlen(str, (size_t)n) : 0); /* as printf: up to n, not past a NUL */
			p = q + 3;
		} else if (q[0] == 'z' && q[1] == 'u') {
			sip_build_uint(b, va_arg(ap, size_t));
			p = q + 2;
		} else if (q[0] == 'l' && q[1] == 'u') {
			sip_build_uint(b, va_arg(ap, unsigned long));
			p = q + 2;
		} else if (q[0] == 'l' && q[1] == 'l' && q[2] == 'u') {
			sip_build_uint(b, va_arg(ap, unsigned long long));
			p = q + 3;
		} else {
			return false;
		}
	}
	puts_(b, p);
	return true;
}

int sip_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct sip_builder b = { .buf = buf, .cap = cap ? cap - 1 : 0 };
	va_list copy;
	bool done;

	if (!cap)
		return vsnprintf(buf, cap, fmt, ap);
	va_copy(copy, ap);
	done = fmt_simple(&b, fmt, copy);
	va_end(copy);
	if (!done)
		return vsnprintf(buf, cap, fmt, ap);
	buf[b.len] = '\0';
	return b.overflow ? (int)cap : (int)b.len;
}

void sip_build_hdrf(struct sip_builder *b, const char *name, const char *fmt, ...)
{
	va_list ap;
	size_t start;
	bool done;
	int n;

	puts_(b, name);
	put(b, ": ", 2);
	if (b->overflow)
		return;
	start = b->len;
	va_start(ap, fmt);
	done = fmt_simple(b, fmt, ap);
	va_end(ap);
	if (done) {
		put(b, "\r\n", 2);
		return;
	}
	b->len = start; /* a conversion of its own: printf writes the value again from the start */
	b->overflow = false;
	va_start(ap, fmt);
	n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = true;
		return;
	}
	b->len += (size_t)n;
	put(b, "\r\n", 2);
}

void sip_build_raw(struct sip_builder *b, const char *lines)
{
	puts_(b, lines);
}

void sip_build_copy_hdrs(struct sip_builder *b, const struct sip_msg *m, enum sip_hdr_id id)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_next_hdr(m, h))
		sip_build_hdr(b, sip_hdr_name(id), h->value);
}

int sip_build_finish(struct sip_builder *b, const char *content_type, struct sip_str body)
{
	if (body.len && content_type) {
		sip_build_lit(b, "Content-Type: ");
		puts_(b, content_type);
		sip_build_lit(b, "\r\n");
	}
	sip_build_lit(b, "Content-Length: ");
	sip_build_uint(b, body.len);
	sip_build_lit(b, "\r\n\r\n");
	put(b, body.p, body.len);
	if (b->overflow || b->len > SIP_MAX_MSG_SIZE)
		return -ENOSPC;
	return (int)b->len;
}

const char *sip_reason_phrase(unsigned status)
{
	static const struct {
		unsigned code;
		const char *text;
	} phrases[] = {
		{ 100, "Trying" }, { 180, "Ringing" }, { 181, "Call Is Being Forwarded" }, { 182, "Queued" },
		{ 183, "Session Progress" }, { 200, "OK" }, { 202, "Accepted" }, { 300, "Multiple Choices" },
		{ 301, "Moved Permanently" }, { 302, "Moved Temporarily" }, { 305, "Use Proxy" },
		{ 380, "Alternative Service" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 402, "Payment Required" }, { 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" }, { 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" }, { 410, "Gone" }, { 413, "Request Entity Too Large" },
		{ 414, "Request-URI Too Long" }, { 415, "Unsupported Media Type" },
		{ 416, "Unsupported URI Scheme" }, { 420, "Bad Extension" }, { 421, "Extension Required" },
		{ 423, "Interval Too Brief" }, { 480, "Temporarily Unavailable" },
		{ 481, "Call/Transaction Does Not Exist" }, { 482, "Loop Detected" }, { 483, "Too Many Hops" },
		{ 484, "Address Incomplete" }, { 485, "Ambiguous" }, { 486, "Busy Here" },
		{ 487, "Request Terminated" }, { 488, "Not Acceptable Here" }, { 491, "Request Pending" },
		{ 493, "Undecipherable" }, { 500, "Server Internal Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" }, { 504, "Server Time-out" },
		{ 505, "Version Not Supported" }, { 513, "Message Too Large" }, { 600, "Busy Everywhere" },
		{ 603, "Decline" }, { 604, "Does Not Exist Anywhere" }, { 606, "Not Acceptable" },
	};

	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (phrases[i].code == status)
			return phrases[i].text;
	return "Unknown";
}
