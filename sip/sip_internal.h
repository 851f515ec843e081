/* sip/ internals: the character classes and scanners the parsers share (RFC 3261 §25.1). */
#ifndef CM_SIP_INTERNAL_H
#define CM_SIP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/types.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "controlplane/controlplane.h"
#include "sip/sip.h"

/* 1 under AddressSanitizer: lists that keep freed objects for reuse (transactions, calls) stay empty, so it
 * still sees every free and every use after one. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(SIP_ASAN)
#define SIP_ASAN 1
#endif
#ifndef SIP_ASAN
#define SIP_ASAN 0
#endif

/* Character classes of RFC 3261 §25.1, one table lookup each (the parsers ask for every octet): sip_ctype in
 * msg.c. */
enum {
	SIP_C_ALNUM = 1,      /* ALPHA / DIGIT */
	SIP_C_TOKEN = 2,      /* alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
	SIP_C_UNRESERVED = 4, /* alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
	SIP_C_PARAM = 8,      /* a parameter name or unquoted value: token, and "[]/:&+$()" (URI parameters, hosts) */
	SIP_C_HEX = 16,       /* HEXDIG, either case */
	SIP_C_LINE = 32,      /* CR and LF */
	SIP_C_SPLIT = 64,     /* what sip_next_value stops at: '"', '<', '>', ',' */
};
extern const unsigned char sip_ctype[256];

static inline bool sip_is_alnum(unsigned char c) { return sip_ctype[c] & SIP_C_ALNUM; }

static inline bool sip_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline bool sip_is_hex(unsigned char c) { return sip_ctype[c] & SIP_C_HEX; }

static inline bool sip_is_token(unsigned char c) { return sip_ctype[c] & SIP_C_TOKEN; }

static inline bool sip_is_unreserved(unsigned char c) { return sip_ctype[c] & SIP_C_UNRESERVED; }

static inline bool sip_is_param_char(unsigned char c) { return sip_ctype[c] & SIP_C_PARAM; }

/* The first CR or LF in [p, end), or end: one pass where two memchr calls would look for each. */
static inline const char *sip_find_crlf(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');

	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));

		if (mask)
			return p + __builtin_ctz(mask);
	}
#endif
	while (p < end && *p != '\r' && *p != '\n')
		p++;
	return p;
}

/* The first '"', '<', '>' or ',' (SIP_C_SPLIT) in [p, end), or end: 16 octets a step where the table asks one
 * at a time. */
static inline const char *sip_find_split(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i q = _mm_set1_epi8('"'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>'),
		      comma = _mm_set1_epi8(',');

	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, lt)),
					 _mm_or_si128(_mm_cmpeq_epi8(v, gt), _mm_cmpeq_epi8(v, comma)));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		if (mask)
			return p + __builtin_ctz(mask);
	}
#endif
	while (p < end && !(sip_ctype[(unsigned char)*p] & SIP_C_SPLIT))
		p++;
	return p;
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

/* Appending to a builder without a format (sip.h's sip_build_*): plain copies of known lengths, for the
 * requests and responses built for every call and registration. */
static inline void sip_build_put(struct sip_builder *b, const char *s, size_t n)
{
	if (b->overflow || b->cap - b->len < n) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}
#define sip_build_lit(b, lit) sip_build_put((b), "" lit, sizeof(lit) - 1)
static inline void sip_build_cstr(struct sip_builder *b, const char *s)
{
	sip_build_put(b, s, strlen(s));
}
static inline void sip_build_str(struct sip_builder *b, struct sip_str s)
{
	sip_build_put(b, s.p, s.len);
}
void sip_build_uint(struct sip_builder *b, unsigned long long v);
/* A Via value (sip_tp_via) or Contact URI (sip_tp_contact_uri) written straight into the builder. */
void sip_build_via(struct sip_builder *b, const struct sip_tp *tp, const char *branch);
void sip_build_contact_uri(struct sip_builder *b, const struct sip_tp *tp, const char *user);

/* vsnprintf for building messages: the formats messages use (%s, %.*s, %u, %d, %zu, %lu, %llu) without the
 * printf machinery, anything else through vsnprintf.  Same result and return value (>= cap: truncated). */
int sip_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);

/* What every transport shares (transport.c): the generic handle struct sip_tp is the first member of each
 * transport's own struct; its ops table says how the transport sends and stops and what it is called on the
 * wire.  The handle owns the transaction layer and the one loop timer that ticks the SIP wheel, armed only
 * while SIP timers are. */
struct cp_loop;
struct sip_tp_ops {
	const char *via;         /* Via transport token: "UDP", "TCP", "TLS" */
	const char *uri_param;   /* what Contact URIs carry: "", ";transport=tcp", ";transport=tls" */
	bool reliable;
	int (*send)(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len);
	void (*stop)(struct sip_tp *tp);
};
struct sip_tp {
	const struct sip_tp_ops *ops;
	enum sip_tp_kind kind;
	struct cp_loop *loop;
	struct sip_txn_layer *txl;
	struct sip_tp *clock;    /* the handle whose timer ticks txl: itself, or the transport it shares txl with */
	struct cp_timer tick;
	char ip[64];
	uint16_t port;
	uint8_t hostport_len;
	char hostport[72];       /* "ip:port" ("[ip]:port" for IPv6) as Via and Contact carry it: sip_tp_set_addr */
	/* A callback the transport runs may stop it, or a handle of it: while its entry points are on the stack
	 * (busy, counted on the clock handle) a stop is only recorded, and done when the outermost one returns. */
	unsigned busy;
	bool stop_pending;
	struct sip_tp *pending;      /* clock: the handles stopped meanwhile */
	struct sip_tp *next_pending;
};
/* Around every entry point of a transport that can run user callbacks (socket readiness, its timers, calls
 * such as sip_tcp_disconnect): hold, then release, which does the stops requested meanwhile and re-arms the
 * wheel tick.  release returns false when the whole transport is gone (nothing of it may be touched). */
void sip_tp_hold(struct sip_tp *tp);
bool sip_tp_release(struct sip_tp *tp);
/* A stop of tp requested while its transport is busy (and so deferred), or of the whole transport. */
bool sip_tp_stopping(const struct sip_tp *tp);
/* Sets ip and port (and the hostport text every Via and Contact copies). */
void sip_tp_set_addr(struct sip_tp *tp, const char *ip, uint16_t port);
/* Several sockets can share one transaction layer (UDP per-endpoint ports): transactions created while ctx is
 * set (started by the socket's transport, or received on it) send from it.  Returns the previous setting. */
void *sip_txn_set_send_ctx(struct sip_txn_layer *l, void *ctx);
/* The transport handle (struct sip_tp) a transaction sends from. */
void *sip_txn_send_ctx(const struct sip_txn *t);
/* A socket sharing the layer closes: its transactions send from the layer's own from now on. */
void sip_txn_drop_send_ctx(struct sip_txn_layer *l, void *ctx);
/* sip_txn_client_start for a request our own builder just made with this top Via branch and method: the layer
 * takes the key from the caller instead of parsing the request again.  Only for requests whose every part
 * would parse (the callers check strings from outside once, when they take them). */
struct sip_txn *sip_txn_client_start_built(struct sip_txn_layer *l, const char *req, size_t len,
					   const struct sockaddr_storage *dst, struct sip_str branch,
					   enum sip_method method, void *user, int *err);
/* The same on a transport (sip_tp_request). */
struct sip_txn *sip_tp_request_built(struct sip_tp *tp, const char *req, size_t len,
				     const struct sockaddr_storage *dst, struct sip_str branch, enum sip_method method,
				     void *user, int *err);
/* Whether a string from outside (configuration) can go into a header value (sip_hdr_safe: no CR or LF; NULL is
 * safe) or be a Request-URI (sip_ruri_safe: not empty, no white space or control octet) of a request we build
 * without making the request unparsable.  Requests built only from such strings may take sip_tp_request_built. */
bool sip_hdr_safe(const char *s);
bool sip_ruri_safe(const char *s);
/* The HA1 a registration answers its kept challenge with (NULL before one): for tests of the HA1 cache. */
const char *sip_reg_ha1(const struct sip_reg *r);
/* Its transport is stopping (from inside a callback): no more callbacks but on_terminated, nothing received. */
void sip_txn_layer_quiet(struct sip_txn_layer *l);
/* Creates the transaction layer (reliable per ops) and the wheel's loop timer: 0 or -ENOMEM. */
int sip_tp_init(struct sip_tp *tp, enum sip_tp_kind kind, const struct sip_tp_ops *ops, struct cp_loop *loop,
		const char *ip, uint16_t port, const struct sip_txn_user_ops *uops, void *uarg);
/* Stops the timer and frees the transaction layer. */
void sip_tp_fini(struct sip_tp *tp);
/* Brings the wheel to the loop's clock (called first in every I/O callback). */
void sip_tp_tick(struct sip_tp *tp);
/* The port a bound socket got (port 0 asked for any). */
uint16_t sip_sock_port(int fd);

/* TLS for the stream transport (tls.c).  struct ssl_st is OpenSSL's SSL. */
struct sip_tls;
struct ssl_st;
struct sip_tls *sip_tls_new(const struct sip_tls_config *cfg); /* NULL: logged */
void sip_tls_free(struct sip_tls *x);
bool sip_tls_can_serve(const struct sip_tls *x);
int sip_tls_set_peer_name(struct sip_tls *x, const struct sockaddr_storage *addr, const char *name);
/* A connection's TLS state on a connected socket, client (SNI, name check, cached session) or server side. */
struct ssl_st *sip_tls_client(struct sip_tls *x, int fd, const struct sockaddr_storage *peer);
struct ssl_st *sip_tls_server(struct sip_tls *x, int fd);
void sip_tls_conn_free(struct ssl_st *ssl);
/* Advances the handshake: 1 done, 0 in progress (*want_write: wait for writability, else readability),
 * -EPROTO failed (counted in st and logged, rate-limited). */
int sip_tls_handshake(struct ssl_st *ssl, const struct sockaddr_storage *peer, bool *want_write,
		      struct sip_tcp_stats *st);
ssize_t sip_tls_read(struct ssl_st *ssl, char *buf, size_t len, bool *want_write);
ssize_t sip_tls_write(struct ssl_st *ssl, const char *buf, size_t len, bool *want_write);
bool sip_tls_pending(struct ssl_st *ssl); /* decrypted bytes buffered inside OpenSSL */

static inline socklen_t sip_sockaddr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Digest and random-pool set-up for the calling thread, ahead of the first use (digest.c): transports call it
 * when they start. */
void sip_digest_prepare(void);

#endif
