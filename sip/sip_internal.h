/* sip/ internals: the character classes and scanners the parsers share (RFC 3261 §25.1). */
#ifndef CM_SIP_INTERNAL_H
#define CM_SIP_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include <netinet/in.h>

#include "controlplane/controlplane.h"
#include "sip/sip.h"

static inline bool sip_is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool sip_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline bool sip_is_hex(unsigned char c)
{
	return sip_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
static inline bool sip_is_token(unsigned char c)
{
	return sip_is_alnum(c) || (c && strchr("-.!%*_+`'~", c) != NULL);
}

/* unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
static inline bool sip_is_unreserved(unsigned char c)
{
	return sip_is_alnum(c) || (c && strchr("-_.!~*'()", c) != NULL);
}

static inline bool sip_is_ws(unsigned char c) { return c == ' ' || c == '\t'; }

/* Skips linear white space: SP, HT, and a line end (CRLF or LF) followed by SP/HT (a folded line). */
static inline const char *sip_skip_lws(const char *p, const char *end)
{
	for (;;) {
		if (p < end && sip_is_ws((unsigned char)*p)) {
			p++;
		} else if (p + 1 < end && p[0] == '\n' && sip_is_ws((unsigned char)p[1])) {
			p += 2;
		} else if (p + 2 < end && p[0] == '\r' && p[1] == '\n' && sip_is_ws((unsigned char)p[2])) {
			p += 3;
		} else {
			return p;
		}
	}
}

static inline const char *sip_skip_token(const char *p, const char *end)
{
	while (p < end && sip_is_token((unsigned char)*p))
		p++;
	return p;
}

/* Trims LWS at both ends. */
static inline struct sip_str sip_trim(struct sip_str s)
{
	const char *p = sip_skip_lws(s.p, s.p + s.len), *e = s.p + s.len;

	while (e > p && (sip_is_ws((unsigned char)e[-1]) || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	return (struct sip_str){ p, (size_t)(e - p) };
}

/* At '"': returns the position after the closing quote, or NULL if unterminated.  quoted-pair is "\" and any
 * octet but CR and LF; qdtext is anything but '"' and '\' (LWS included). */
static inline const char *sip_skip_quoted(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			if (p + 1 >= end || p[1] == '\r' || p[1] == '\n')
				return NULL;
			p++;
		}
	}
	return NULL;
}

/* Walks ";name[=value]" generic parameters (RFC 3261 gen-value: token / host / quoted-string) with optional
 * LWS around ';' and '='.  *pp points just after a ';' (or at the start of a params string).  Returns 1 with
 * name/value (value.p == NULL if no '='), 0 at the end, -EINVAL on an empty or malformed parameter. */
int sip_param_next(const char **pp, const char *end, struct sip_str *name, struct sip_str *value);

/* What every transport on the loop shares: its transaction layer and the one loop timer that ticks the SIP
 * wheel, armed only while SIP timers are (transport.c). */
struct cp_loop;
struct sip_transport_clock {
	struct cp_loop *loop;
	struct sip_txn_layer *txl;
	struct cp_timer tick;
};
void sip_clock_init(struct sip_transport_clock *c, struct cp_loop *loop, struct sip_txn_layer *txl);
/* Re-arms the loop timer for the wheel's earliest slot (after anything that may have started a timer). */
void sip_clock_arm(struct sip_transport_clock *c);
void sip_clock_stop(struct sip_transport_clock *c);
/* Brings the wheel to now (new timers count from now, not from the last tick), starts a client transaction,
 * re-arms. */
struct sip_txn *sip_clock_request(struct sip_transport_clock *c, const char *req, size_t len,
				  const struct sockaddr_storage *dst, void *user, int *err);

static inline socklen_t sip_sockaddr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

#endif
