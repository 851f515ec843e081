/* sip/ internals: the character classes and scanners the parsers share (RFC 3261 §25.1). */
#ifndef CM_SIP_INTERNAL_H
#define CM_SIP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/types.h>

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

/* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")  (a switch, not strchr: the
 * parsers ask for every octet) */
static inline bool sip_is_token(unsigned char c)
{
	switch (c) {
	case '-': case '.': case '!': case '%': case '*': case '_': case '+': case '`': case '\'': case '~':
		return true;
	default:
		return sip_is_alnum(c);
	}
}

/* unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
static inline bool sip_is_unreserved(unsigned char c)
{
	switch (c) {
	case '-': case '_': case '.': case '!': case '~': case '*': case '\'': case '(': case ')':
		return true;
	default:
		return sip_is_alnum(c);
	}
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
/* Several sockets can share one transaction layer (UDP per-endpoint ports): transactions created while ctx is
 * set (started by the socket's transport, or received on it) send from it.  Returns the previous setting. */
void *sip_txn_set_send_ctx(struct sip_txn_layer *l, void *ctx);
/* The transport handle (struct sip_tp) a transaction sends from. */
void *sip_txn_send_ctx(const struct sip_txn *t);
/* A socket sharing the layer closes: its transactions send from the layer's own from now on. */
void sip_txn_drop_send_ctx(struct sip_txn_layer *l, void *ctx);
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

#endif
