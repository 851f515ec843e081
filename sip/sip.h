/* sip/ — SIP messages (zero-copy parser, builder, stream framing), SDP offer/answer and digest authentication.
 *
 * Error convention: functions return 0 on success and a negative errno on failure: -EINVAL for malformed input,
 * -E2BIG / -ERANGE / -EMSGSIZE when a declared limit below is exceeded, -ENOSPC when an output buffer is too
 * small, -ENOENT when something asked for is absent.  Parsers that can fail also leave a short static reason
 * (never NULL after a failure) in the object they fill, e.g. msg->error; those strings are what sip-check prints.
 * Stream framing returns enum sip_frame_rc (OK / AGAIN / ERROR) instead, because "need more bytes" is not an
 * error.  Constructors return NULL.
 *
 * Memory: a parsed message points into the caller's buffer (struct sip_str is a pointer and a length, never
 * NUL-terminated); the buffer must outlive every sip_str taken from it.  Header values are parsed on demand by
 * the sip_parse_* functions, each of which fills a caller-owned struct with more sip_strs into the same buffer. */
#ifndef CM_SIP_H
#define CM_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- protocol limits, declared once ----------------------------------------------------------------------- */

#define SIP_MAX_MSG_SIZE 65535u          /* one message, start line to end of body (UDP datagram ceiling) */
#define SIP_MAX_HEADERS 128u             /* header lines per message */
#define SIP_MAX_CONTENT_LENGTH SIP_MAX_MSG_SIZE
#define SIP_MAX_CSEQ 2147483647u         /* RFC 3261 §8.1.1.5: the sequence number MUST be < 2^31 */
#define SIP_MAX_MAX_FORWARDS 255u        /* RFC 3261 §20.22 (and RFC 4475 §3.1.2.4) */
#define SIP_MAX_EXPIRES 4294967295u      /* RFC 3261 §20.19: delta-seconds fit 32 bits */
#define SIP_MAX_RSEQ 4294967295u         /* RFC 3262 §7.1: RSeq in [1, 2^32-1] */
#define SIP_MAX_PORT 65535u
#define SIP_MIN_STATUS 100u
#define SIP_MAX_STATUS 699u
#define SIP_MAX_VALUES 64u               /* comma-separated values walked in one header line (Via, Contact…) */

/* ---- counted strings -------------------------------------------------------------------------------------- */

struct sip_str {
	const char *p;
	size_t len;
};
#define SIP_STR(lit) ((struct sip_str){ (lit), sizeof(lit) - 1 })
/* Exact and ASCII case-insensitive comparisons with a C string: inline, so a literal's length is a constant and
 * a length mismatch (the usual answer) costs no call. */
static inline bool sip_str_eq(struct sip_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

/* n octets of a and b equal but for the case of ASCII letters (strncasecmp in the C locale, without its call and
 * locale tables, for strings without NUL octets). */
static inline bool sip_ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x != y && ((x ^ y) != 0x20 || (unsigned char)((x | 0x20) - 'a') > 'z' - 'a'))
			return false;
	}
	return true;
}

static inline bool sip_str_caseeq(struct sip_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && sip_ascii_caseeq(s.p, lit, n);
}

/* ---- messages --------------------------------------------------------------------------------------------- */

enum sip_method {
	SIP_METHOD_UNKNOWN, SIP_INVITE, SIP_ACK, SIP_BYE, SIP_CANCEL, SIP_REGISTER, SIP_OPTIONS, SIP_INFO,
	SIP_PRACK, SIP_UPDATE, SIP_SUBSCRIBE, SIP_NOTIFY, SIP_REFER, SIP_MESSAGE,
};
/* Methods are case-sensitive (RFC 3261 §7.1). */
enum sip_method sip_method_from_str(struct sip_str s);
const char *sip_method_name(enum sip_method m);

/* Headers the stack knows by name; full and compact forms map to the same id, names are case-insensitive. */
enum sip_hdr_id {
	SIP_HDR_OTHER, SIP_HDR_VIA, SIP_HDR_FROM, SIP_HDR_TO, SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_CONTACT,
	SIP_HDR_CONTENT_LENGTH, SIP_HDR_CONTENT_TYPE, SIP_HDR_MAX_FORWARDS, SIP_HDR_EXPIRES, SIP_HDR_MIN_EXPIRES,
	SIP_HDR_ROUTE, SIP_HDR_RECORD_ROUTE, SIP_HDR_WWW_AUTHENTICATE, SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_AUTHORIZATION, SIP_HDR_PROXY_AUTHORIZATION, SIP_HDR_SUPPORTED, SIP_HDR_REQUIRE, SIP_HDR_ALLOW,
	SIP_HDR_SUBJECT, SIP_HDR_CONTENT_ENCODING, SIP_HDR_DATE, SIP_HDR_EVENT, SIP_HDR_REFER_TO, SIP_HDR_USER_AGENT,
	SIP_HDR_SERVER, SIP_HDR_ALLOW_EVENTS, SIP_HDR_SESSION_EXPIRES, SIP_HDR_REASON, SIP_HDR__COUNT
};
enum sip_hdr_id sip_hdr_id_from_name(struct sip_str name);
const char *sip_hdr_name(enum sip_hdr_id id); /* the full form, e.g. "Call-ID"; NULL for SIP_HDR_OTHER */

struct sip_hdr {
	enum sip_hdr_id id;
	struct sip_str name;  /* as written (may be compact, any case) */
	struct sip_str value; /* leading and trailing whitespace trimmed; folded lines stay inside, as LWS */
};

struct sip_msg {
	const char *buf;
	size_t len;             /* bytes of this message (a datagram's trailing octets past Content-Length excluded) */
	bool is_request;
	/* request line */
	struct sip_str method;
	enum sip_method method_id;
	struct sip_str ruri;
	/* status line */
	unsigned status;
	struct sip_str reason;
	/* headers, in order */
	unsigned nhdrs;
	struct sip_hdr hdrs[SIP_MAX_HEADERS];
	struct sip_str body;
	const char *error;      /* why parsing failed */
};

/* Parses one message from a datagram (or a file): start line, header lines and body.  Header values are only
 * delimited here, not interpreted, except Content-Length which decides where the body ends: a body shorter
 * than Content-Length is an error, octets beyond it are ignored (RFC 3261 §18.3), and without the header the
 * body is the rest of the datagram.  Leading CRLFs (keep-alives) are skipped; lines may end in CRLF or LF. */
int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len);

/* The first header with this id, or NULL; sip_msg_next_hdr continues after `prev`. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id);
const struct sip_hdr *sip_msg_next_hdr(const struct sip_msg *m, const struct sip_hdr *prev);
/* By name, for headers without an id (case-insensitive). */
const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, const char *name);
unsigned sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id);

/* Full semantic check of a parsed message, as sip-check does it: every known header's value parsed, the
 * mandatory headers present exactly once (Call-ID, From, To, CSeq; at least one Via in a request), CSeq method
 * equal to the request method, scalar fields within the limits above.  0 or -EINVAL with m->error set. */
int sip_msg_validate(struct sip_msg *m);

/* Splits a comma-separated header value into its elements, honouring quoted strings and <...>.  Start with
 * *rest = the header value; each call yields the next element (trimmed) and returns 1, 0 at the end, -EINVAL
 * for an empty element or an unterminated quote. */
int sip_next_value(struct sip_str *rest, struct sip_str *elem);

/* ---- typed header values ---------------------------------------------------------------------------------- */

enum sip_scheme { SIP_SCHEME_OTHER, SIP_SCHEME_SIP, SIP_SCHEME_SIPS, SIP_SCHEME_TEL };

struct sip_uri {
	enum sip_scheme scheme;
	struct sip_str scheme_str;
	struct sip_str user;      /* escaped as written; empty if none */
	struct sip_str password;
	struct sip_str host;      /* IPv6 references keep their brackets */
	uint16_t port;            /* 0: not given */
	struct sip_str params;    /* from the first ';' after the host, without it; empty if none */
	struct sip_str headers;   /* after '?', without it */
	struct sip_str opaque;    /* non-sip schemes: everything after "scheme:" */
};
/* Parses a URI (sip:, sips: per RFC 3261 §19.1, tel:, or any absoluteURI as opaque). */
int sip_parse_uri(struct sip_str s, struct sip_uri *u, const char **error);
/* Looks up a ';'-separated parameter (name case-insensitive) in a params string: 1 found (value may be
 * empty), 0 absent. */
int sip_param_get(struct sip_str params, const char *name, struct sip_str *value);

/* From, To, Contact, Route, Record-Route, Refer-To: name-addr or addr-spec, then header parameters. */
struct sip_addr {
	struct sip_str display;   /* quoted form keeps its quotes; empty if none */
	struct sip_str uri_str;
	struct sip_uri uri;
	struct sip_str params;    /* header parameters after the URI, without the first ';' */
	struct sip_str tag;       /* the tag parameter's value, empty if none */
	bool star;                /* Contact: * */
};
int sip_parse_addr(struct sip_str value, struct sip_addr *a, const char **error);

struct sip_via {
	struct sip_str protocol;   /* "SIP" */
	struct sip_str version;    /* "2.0" */
	struct sip_str transport;  /* UDP, TCP, TLS, SCTP, WS or any token */
	struct sip_str host;
	uint16_t port;             /* 0: not given */
	struct sip_str sent_by;    /* host[:port] as written (LWS around ':' included) */
	struct sip_str params;
	struct sip_str branch;
	struct sip_str received;
	bool has_rport;
	int32_t rport;             /* -1: rport without a value */
};
/* One Via element (split a multi-value line with sip_next_value first). */
int sip_parse_via(struct sip_str value, struct sip_via *v, const char **error);

struct sip_cseq {
	uint32_t seq;
	struct sip_str method;
	enum sip_method method_id;
};
int sip_parse_cseq(struct sip_str value, struct sip_cseq *c, const char **error);

/* RFC 3262 reliable provisional responses: RSeq is 1*DIGIT in [1, 2^32-1]; RAck names the response it
 * acknowledges by RSeq, CSeq number and method. */
struct sip_rack {
	uint32_t rseq;
	struct sip_cseq cseq;
};
int sip_parse_rack(struct sip_str value, struct sip_rack *r, const char **error);
/* Whether an option-tag list header (Supported, Require, Proxy-Require, Unsupported) names tag (any case). */
bool sip_msg_has_option(const struct sip_msg *m, enum sip_hdr_id id, const char *tag);

/* A decimal header (Content-Length, Max-Forwards, Expires, Min-Expires) within [0, max]. */
int sip_parse_uint(struct sip_str value, uint32_t max, uint32_t *out, const char **error);

/* WWW-Authenticate / Proxy-Authenticate / Authorization / Proxy-Authorization: a scheme and its auth-params. */
#define SIP_AUTH_MAX_PARAMS 16
struct sip_auth {
	struct sip_str scheme;
	unsigned nparams;
	struct {
		struct sip_str name;
		struct sip_str value;  /* quotes removed; escapes (\x) left in place, see sip_unquote */
		bool quoted;
	} params[SIP_AUTH_MAX_PARAMS];
};
int sip_parse_auth(struct sip_str value, struct sip_auth *a, const char **error);
/* The value of an auth-param by name (case-insensitive), or an empty string with p == NULL. */
struct sip_str sip_auth_param(const struct sip_auth *a, const char *name);
/* Copies a quoted-string body into out, resolving \-escapes; returns the length or -ENOSPC. */
int sip_unquote(struct sip_str s, char *out, size_t outlen);

/* ---- stream framing (TCP, TLS) ---------------------------------------------------------------------------- */

enum sip_frame_rc { SIP_FRAME_OK, SIP_FRAME_AGAIN, SIP_FRAME_ERROR };

/* Finds where the first message in a stream buffer ends.  Resumable: keep the struct between calls with the
 * same (growing) buffer and the scan continues where it stopped.  OK: *msg_len bytes (skipped keep-alive CRLFs
 * included) form one message, pass buf[skip..msg_len) to sip_msg_parse, then reset the struct for the next.
 * AGAIN: need more bytes.  ERROR: the stream cannot be framed (no or bad Content-Length, over the size limit):
 * close the connection.  Content-Length is mandatory on streams (RFC 3261 §18.3). */
struct sip_framer {
	size_t scanned;       /* bytes already searched for the end of the headers */
	size_t skip;          /* leading CRLF keep-alives */
	size_t hdr_end;       /* offset just past the blank line, 0 while unknown */
	size_t body_len;
	const char *error;
};
void sip_framer_reset(struct sip_framer *f);
enum sip_frame_rc sip_frame(struct sip_framer *f, const char *buf, size_t len, size_t *msg_len);

/* ---- builder ---------------------------------------------------------------------------------------------- */

/* Writes a message into a caller buffer.  Every call appends; an overflow is remembered and reported once by
 * sip_build_finish (so call sites need not check each step).  sip_build_finish adds Content-Length and the
 * body and returns the total length, or -ENOSPC. */
struct sip_builder {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};
void sip_build_request(struct sip_builder *b, char *buf, size_t cap, const char *method, struct sip_str ruri);
void sip_build_response(struct sip_builder *b, char *buf, size_t cap, unsigned status, const char *reason);
void sip_build_hdr(struct sip_builder *b, const char *name, struct sip_str value);
void sip_build_hdrf(struct sip_builder *b, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Appends complete header lines as given ("Name: value\r\n..."). */
void sip_build_raw(struct sip_builder *b, const char *lines);
/* Copies every header with this id from a parsed message (responses copy Via, From, To, Call-ID, CSeq). */
void sip_build_copy_hdrs(struct sip_builder *b, const struct sip_msg *m, enum sip_hdr_id id);
int sip_build_finish(struct sip_builder *b, const char *content_type, struct sip_str body);
/* The reason phrase RFC 3261 §21 gives a status code ("Unknown" otherwise). */
const char *sip_reason_phrase(unsigned status);

/* ---- SDP (RFC 8866) and offer/answer (RFC 3264) ----------------------------------------------------------- */

#define SDP_MAX_SIZE 16384u        /* one session description */
#define SDP_MAX_MEDIA 8u           /* m= sections */
#define SDP_MAX_FORMATS 32u        /* payload types on one m= line */
#define SDP_MAX_CRYPTO 8u          /* a=crypto lines in one m= section */
#define SDP_MAX_PTIME 1000u        /* ms */
#define SDP_DYNAMIC_PT_MIN 96u
#define SDP_MAX_PT 127u

enum sdp_dir { SDP_SENDRECV, SDP_SENDONLY, SDP_RECVONLY, SDP_INACTIVE };
const char *sdp_dir_name(enum sdp_dir d);

struct sdp_format {
	uint8_t pt;
	struct sip_str encoding;   /* from a=rtpmap, or the RFC 3551 static name */
	uint32_t clock_rate;
	uint8_t channels;
	struct sip_str fmtp;       /* a=fmtp parameters, empty if none */
};

/* a=crypto:<tag> <crypto-suite> <key-params> [<session-params>] (RFC 4568 §9.1) */
struct sdp_crypto {
	uint32_t tag;
	struct sip_str suite;      /* e.g. AES_CM_128_HMAC_SHA1_80 */
	struct sip_str key;        /* the base64 key||salt after "inline:", lifetime/MKI stripped */
	struct sip_str key_params; /* as written */
};

struct sdp_media {
	struct sip_str type;       /* audio, video, … */
	uint16_t port;             /* 0: stream rejected / disabled */
	struct sip_str proto;      /* RTP/AVP, RTP/SAVP, … */
	struct sip_str fmt_list;   /* the formats as written on the m= line */
	unsigned nfmt;
	struct sdp_format fmt[SDP_MAX_FORMATS];
	struct sip_str addr;       /* connection address (media level, else the session's) */
	enum sdp_dir dir;          /* media level, else the session's, else sendrecv */
	uint32_t ptime;            /* 0: not given */
	bool rtcp_mux;
	unsigned ncrypto;
	struct sdp_crypto crypto[SDP_MAX_CRYPTO];
};

struct sdp_session {
	struct sip_str origin_user;
	uint64_t sess_id, sess_version;
	struct sip_str origin_addr;
	struct sip_str name;
	struct sip_str addr;       /* session-level c= address, empty if none */
	bool ipv6;
	unsigned nmedia;
	struct sdp_media media[SDP_MAX_MEDIA];
	const char *error;
};

/* Parses a session description (CRLF or LF line ends).  Checks line syntax and order (v=0 first, then o= and
 * s=), that every m= section has a connection address, that rtpmap/fmtp refer to listed formats, and the
 * limits above.  0 or -EINVAL / -E2BIG with s->error set.  Strings point into buf. */
int sdp_parse(struct sdp_session *s, const char *buf, size_t len);
/* The format with this payload type in a media section, or NULL. */
const struct sdp_format *sdp_media_format(const struct sdp_media *m, uint8_t pt);

/* A codec we can send and receive, in local preference order. */
struct sdp_codec {
	const char *name;          /* rtpmap encoding name: PCMU, PCMA, G722, opus, … (case-insensitive match) */
	uint32_t clock_rate;       /* RTP clock (G722: 8000 per RFC 3551) */
	uint8_t channels;          /* 0 or 1: mono */
	uint8_t pt;                /* payload type to offer: static number, or a dynamic one >= 96 */
	const char *fmtp;          /* NULL: none */
};

/* What this endpoint offers or accepts for audio. */
struct sdp_local {
	const char *addr;          /* media IPv4 address (the dataplane's) */
	uint16_t port;             /* local RTP port */
	uint64_t sess_id, sess_version;
	const struct sdp_codec *codecs;
	unsigned ncodecs;
	uint8_t dtmf_pt;           /* telephone-event payload type to offer; 0: no RFC 4733 events */
	uint32_t ptime;            /* 0: do not say */
	enum sdp_dir dir;
	bool rtcp_mux;
	const char *crypto_suite;  /* NULL: plain RTP only; else offer/accept this SDES suite */
	const char *crypto_key;    /* base64 key||salt for it */
	bool srtp_required;        /* refuse plain RTP */
};

/* Outcome of an offer/answer exchange for the audio stream. */
enum sdp_neg {
	SDP_NEG_OK,
	SDP_NEG_NO_AUDIO,          /* no audio m= line (or every one was rejected with port 0) */
	SDP_NEG_NO_COMMON_CODEC,
	SDP_NEG_SRTP_REQUIRED,     /* we require SRTP, the peer offered/answered plain RTP */
	SDP_NEG_SRTP_UNSUPPORTED,  /* the peer requires SRTP (RTP/SAVP) we cannot match (suite or none) */
	SDP_NEG_BAD_ANSWER,        /* the answer is not a valid answer to our offer (RFC 3264 §6) */
};
const char *sdp_neg_name(enum sdp_neg n);

struct sdp_negotiated {
	unsigned media_index;      /* which m= section carries the audio */
	struct sdp_format codec;   /* the first common codec (answerer's choice) */
	uint8_t dtmf_pt;           /* 0: no telephone-event */
	struct sip_str remote_addr;
	uint16_t remote_port;
	enum sdp_dir dir;          /* our direction */
	uint32_t ptime;
	bool rtcp_mux;
	bool srtp;
	struct sip_str crypto_suite;
	struct sip_str remote_key; /* the peer's base64 key||salt */
	uint32_t crypto_tag;
};

/* Writes an offer for one audio stream; returns its length or -ENOSPC. */
int sdp_build_offer(const struct sdp_local *l, char *buf, size_t cap);
/* Answers an offer (RFC 3264 §6): the first audio stream with a common codec is accepted (our preference
 * order, the offer's payload numbers), every other m= line is rejected with port 0, direction mirrored.
 * Returns the answer's length, -ENOSPC, or -EPROTO with *neg saying why negotiation failed (the caller
 * answers 488 Not Acceptable Here). */
int sdp_build_answer(const struct sdp_session *offer, const struct sdp_local *l, char *buf, size_t cap,
		     struct sdp_negotiated *out, enum sdp_neg *neg);
/* Checks an answer against the offer we sent (built from the same sdp_local) and fills *out: 0, or -EPROTO
 * with *neg. */
int sdp_accept_answer(const struct sdp_local *l, const struct sdp_session *answer, struct sdp_negotiated *out,
		      enum sdp_neg *neg);

/* ---- digest authentication (RFC 2617, RFC 7616, RFC 8760) ------------------------------------------------- */

#define SIP_DIGEST_MAX_FIELD 256u   /* realm, nonce, opaque, username, uri after unquoting */
#define SIP_DIGEST_HEX_MAX 64u      /* SHA-256 / SHA-512-256 hex digest length */

enum sip_digest_alg {
	SIP_DIGEST_MD5, SIP_DIGEST_MD5_SESS, SIP_DIGEST_SHA256, SIP_DIGEST_SHA256_SESS, SIP_DIGEST_SHA512_256,
	SIP_DIGEST_SHA512_256_SESS,
};
const char *sip_digest_alg_name(enum sip_digest_alg a); /* "MD5", "SHA-256-sess", … */

struct sip_challenge {
	bool proxy;                 /* from a 407 Proxy-Authenticate: answer with Proxy-Authorization */
	enum sip_digest_alg alg;
	bool qop_auth;              /* the server offered qop=auth */
	bool stale;                 /* stale=true: retry with the new nonce, the password was right */
	char realm[SIP_DIGEST_MAX_FIELD];
	char nonce[SIP_DIGEST_MAX_FIELD];
	char opaque[SIP_DIGEST_MAX_FIELD];
	bool has_opaque;
};

/* One WWW-Authenticate / Proxy-Authenticate value: 0, -ENOTSUP (not Digest, or an algorithm or a qop we do not
 * speak), -EINVAL (malformed; realm and nonce are required), -E2BIG (a field over SIP_DIGEST_MAX_FIELD). */
int sip_digest_parse_challenge(struct sip_str value, bool proxy, struct sip_challenge *c, const char **error);
/* From a 401 or 407: the first challenge whose algorithm we support, as RFC 7616 §3.7 / RFC 8760 §2.4 ask
 * (servers list them in preference order).  -ENOENT if the response carries none we can answer. */
int sip_digest_challenge_from_msg(const struct sip_msg *resp, struct sip_challenge *c, const char **error);

/* response = KD(H(A1), nonce:nc:cnonce:qop:H(A2)) (or without qop, RFC 2069 style) into hex (lowercase,
 * NUL-terminated, out at least SIP_DIGEST_HEX_MAX + 1).  qop NULL means none.  0 or -EIO (OpenSSL failed). */
int sip_digest_response(enum sip_digest_alg alg, const char *username, const char *realm, const char *password,
			const char *nonce, const char *cnonce, uint32_t nc, const char *qop, const char *method,
			const char *uri, char *out);
/* H(username:realm:password) in hex (out at least SIP_DIGEST_HEX_MAX + 1): fixed for one user, realm, password
 * and algorithm, so a client answering the same realm again may keep it (sip_digest_authorization_ha1).  0,
 * -ENOTSUP or -EIO. */
int sip_digest_ha1(enum sip_digest_alg alg, const char *username, const char *realm, const char *password,
		   char *out);
/* A fresh client nonce: 32 hex digits from the CSPRNG (out at least 33 bytes). */
int sip_digest_cnonce(char *out, size_t len);
/* Writes the Authorization / Proxy-Authorization value answering `c` for a request (method, Request-URI);
 * nc counts requests with this nonce (1 for the first).  Returns its length or -ENOSPC. */
int sip_digest_authorization(const struct sip_challenge *c, const char *username, const char *password,
			     const char *method, const char *uri, const char *cnonce, uint32_t nc, char *out,
			     size_t outlen);
/* The same from a kept sip_digest_ha1(c->alg, username, c->realm, password). */
int sip_digest_authorization_ha1(const struct sip_challenge *c, const char *ha1, const char *username,
				 const char *method, const char *uri, const char *cnonce, uint32_t nc, char *out,
				 size_t outlen);
/* Server side: checks parsed credentials against the password (constant-time compare).  0 if they match,
 * -EACCES if not, -EINVAL if fields are missing, -ENOTSUP for an unknown algorithm. */
int sip_digest_verify(const struct sip_auth *cred, const char *method, const char *password, const char **error);

/* ---- timer wheel ------------------------------------------------------------------------------------------ */

/* SIP keeps hundreds of thousands of short timers (retransmissions, transaction lifetimes); the event loop's
 * heap is for coarse timers.  One wheel of SIP_WHEEL_SLOTS slots of SIP_WHEEL_TICK_MS each: add and delete
 * are O(1); a timer further away than one revolution is passed over until its revolution comes.  Timers are
 * embedded in their owner (intrusive), so the wheel never allocates. */
#define SIP_WHEEL_TICK_MS 10u
#define SIP_WHEEL_SLOTS 4096u  /* one revolution = 40.96 s, longer than 64*T1 */

struct sip_wtimer;
typedef void (*sip_wtimer_cb)(struct sip_wtimer *t);
struct sip_wtimer {
	struct sip_wtimer *next, **pprev; /* pprev NULL: not armed */
	uint64_t due_tick;
	sip_wtimer_cb cb;
};
struct sip_wheel {
	uint64_t tick;                    /* the last tick processed */
	uint64_t scan_from;               /* every slot of the ticks in (tick, scan_from) is empty */
	size_t armed;
	struct sip_wtimer *slot[SIP_WHEEL_SLOTS];
};
void sip_wheel_init(struct sip_wheel *w, uint64_t now_ms);
/* (Re)arms t to fire `delay_ms` after the wheel's current time, rounded up to the next tick. */
void sip_wtimer_start(struct sip_wheel *w, struct sip_wtimer *t, uint64_t delay_ms, sip_wtimer_cb cb);
void sip_wtimer_stop(struct sip_wheel *w, struct sip_wtimer *t);
static inline bool sip_wtimer_armed(const struct sip_wtimer *t) { return t->pprev != NULL; }
/* Fires every timer due at or before now_ms (callbacks may start and stop timers); returns how many fired. */
unsigned sip_wheel_advance(struct sip_wheel *w, uint64_t now_ms);
/* Milliseconds until the earliest armed timer could be due (a tick), or -1 if none is armed.  Remembers where
 * it found it, so asking again after every event costs nothing until timers change. */
int sip_wheel_next_ms(struct sip_wheel *w);

/* ---- transactions (RFC 3261 §17) -------------------------------------------------------------------------- */

#define SIP_T1_MS 500u
#define SIP_T2_MS 4000u
#define SIP_T4_MS 5000u
#define SIP_TIMER_D_MS 32000u          /* unreliable transports: at least 32 s */
#define SIP_BRANCH_MAX 64u             /* bytes of a Via branch we track (longer ones cannot match) */
#define SIP_MAGIC_COOKIE "z9hG4bK"

enum sip_txn_kind { SIP_TXN_CLIENT_INVITE, SIP_TXN_CLIENT_NON_INVITE, SIP_TXN_SERVER_INVITE,
		    SIP_TXN_SERVER_NON_INVITE };
enum sip_txn_state { SIP_TXN_CALLING, SIP_TXN_TRYING, SIP_TXN_PROCEEDING, SIP_TXN_COMPLETED, SIP_TXN_CONFIRMED,
		     SIP_TXN_TERMINATED };
const char *sip_txn_state_name(enum sip_txn_state s);

struct sip_txn;
struct sip_txn_layer;

/* What the transaction layer tells its user (the transaction user: registration, dialogs, a UAS). */
struct sip_txn_user_ops {
	/* A new request created a server transaction (st); for an ACK to a 2xx (no transaction) st is NULL. */
	void (*on_request)(void *arg, struct sip_txn *st, const struct sip_msg *req,
			   const struct sockaddr_storage *src);
	/* A response for client transaction ct; ct NULL for a stray response (e.g. a retransmitted 2xx). */
	void (*on_response)(void *arg, struct sip_txn *ct, const struct sip_msg *resp);
	/* Timer B, F or H fired (or the transport failed): the request or response got no answer. */
	void (*on_timeout)(void *arg, struct sip_txn *t);
	/* The transaction is done and about to be freed; drop any pointer to it. */
	void (*on_terminated)(void *arg, struct sip_txn *t);
};

/* How the layer sends: one datagram (or stream write) to dst; 0 or a negative errno. */
typedef int (*sip_send_fn)(void *ctx, const struct sockaddr_storage *dst, const char *buf, size_t len);

struct sip_txn_stats {
	uint64_t created, terminated, retransmissions, timeouts, parse_errors, stray_responses, absorbed;
	uint64_t transport_errors;     /* client transactions failed because their connection failed */
	uint64_t live;
};

/* Constructor returns NULL on allocation failure.  reliable: TCP/TLS (no retransmission, zero wait timers). */
struct sip_txn_layer *sip_txn_layer_new(uint64_t now_ms, bool reliable, sip_send_fn send, void *send_ctx,
					const struct sip_txn_user_ops *ops, void *ops_arg);
void sip_txn_layer_free(struct sip_txn_layer *l);
/* Advances the layer's wheel to now_ms (fires A–K); returns timers fired.  The UDP transport calls this from a
 * cp_loop timer; tests call it with a fake clock. */
unsigned sip_txn_tick(struct sip_txn_layer *l, uint64_t now_ms);
int sip_txn_next_ms(struct sip_txn_layer *l);
/* A stream transport's connection to peer failed or closed: every client transaction still waiting for an
 * answer from it ends now (on_timeout, sip_txn_last_status 503) instead of at Timer B/F.  ctx: only those that
 * send from this transport handle (per-endpoint handles share a layer, each with its own connections); NULL:
 * any.  Returns how many. */
unsigned sip_txn_transport_failed(struct sip_txn_layer *l, const void *ctx, const struct sockaddr_storage *peer);
const struct sip_txn_stats *sip_txn_layer_stats(const struct sip_txn_layer *l);
/* Feeds one received message (a datagram): parsed, matched to a transaction (§17.1.3, §17.2.3) or handed to
 * the user.  Malformed input is counted and dropped.  0, or a negative errno for a dropped message. */
int sip_txn_receive(struct sip_txn_layer *l, const char *buf, size_t len, const struct sockaddr_storage *src);

/* Starts a client transaction for a request already built (its top Via carries the branch, which must begin
 * with the RFC 3261 magic cookie).  The layer keeps a copy for retransmission.  Returns the transaction or
 * NULL (-EINVAL request, -ENOMEM, send failure: errno-style code in *err). */
struct sip_txn *sip_txn_client_start(struct sip_txn_layer *l, const char *req, size_t len,
				     const struct sockaddr_storage *dst, void *user, int *err);
/* Sends a response built for server transaction st (1xx, 2xx or final); the layer keeps it for
 * retransmission as §17.2 says.  0 or a negative errno (-EINVAL if the transaction is past sending). */
int sip_txn_respond(struct sip_txn *st, const char *resp, size_t len);
/* Builds and sends a response to st's request with only the mandatory copied headers (Via, From, To with
 * to_tag added if not NULL and the request had none, Call-ID, CSeq) plus optional extra header lines
 * ("Name: value\r\n..."), then sip_txn_respond. */
int sip_txn_respond_simple(struct sip_txn *st, unsigned status, const char *to_tag, const char *extra_hdrs);
/* The same with a body; responses 101-299 to an INVITE also copy the request's Record-Route (§12.1.1). */
int sip_txn_respond_body(struct sip_txn *st, unsigned status, const char *to_tag, const char *extra_hdrs,
			 const char *content_type, struct sip_str body);

enum sip_txn_kind sip_txn_kind(const struct sip_txn *t);
enum sip_txn_state sip_txn_state(const struct sip_txn *t);
void *sip_txn_user(const struct sip_txn *t);
void sip_txn_set_user(struct sip_txn *t, void *user);
/* The request this transaction carries, parsed again into layer scratch space: valid until the next call into
 * the layer. */
const struct sip_msg *sip_txn_request(const struct sip_txn *t);
unsigned sip_txn_last_status(const struct sip_txn *t);

/* ---- transports: one handle for UDP, TCP and TLS ---------------------------------------------------------- */

/* Registrations, calls and the UAS hold a struct sip_tp: the transport's transaction layer, how to start a
 * client transaction and send outside one, its loop and local address, and what it is called on the wire.
 * Each transport embeds one (sip_udp_tp, sip_tcp_tp give it); sip_tp_start opens any of them. */
enum sip_tp_kind { SIP_TP_UDP, SIP_TP_TCP, SIP_TP_TLS };
const char *sip_tp_kind_name(enum sip_tp_kind k); /* "udp", "tcp", "tls" */

struct cp_loop;
struct sip_tp;
struct sip_tls_config;
/* Opens a transport of this kind bound to ip:port (0: any free port); tls is required for SIP_TP_TLS and
 * ignored otherwise.  NULL on failure (logged). */
struct sip_tp *sip_tp_start(struct cp_loop *loop, enum sip_tp_kind kind, const char *ip, uint16_t port,
			    const struct sip_tls_config *tls, const struct sip_txn_user_ops *ops, void *ops_arg);
/* Closes a transport (or one endpoint's handle of it).  Safe from inside any callback the transport runs (a
 * transaction's response, timeout or transport failure): the stop is then done when the transport's code that
 * ran the callback returns, and no other callback reaches the user for what was stopped meanwhile (on_terminated
 * as the layer goes excepted). */
void sip_tp_stop(struct sip_tp *tp);
enum sip_tp_kind sip_tp_kind(const struct sip_tp *tp);
struct cp_loop *sip_tp_loop(const struct sip_tp *tp);
struct sip_txn_layer *sip_tp_txn_layer(struct sip_tp *tp);
const char *sip_tp_local_ip(const struct sip_tp *tp);
uint16_t sip_tp_port(const struct sip_tp *tp);
bool sip_tp_reliable(const struct sip_tp *tp);
/* The Via transport token: "UDP", "TCP" or "TLS". */
const char *sip_tp_via_token(const struct sip_tp *tp);
/* The URI parameter our Contact and Route URIs carry (RFC 3261 §19.1.1): "" for UDP, ";transport=tcp",
 * ";transport=tls". */
const char *sip_tp_uri_param(const struct sip_tp *tp);
/* Writes a Via value "SIP/2.0/<token> <ip>:<port>;branch=<branch>;rport" (IPv6 in brackets): 0 or -ENOSPC. */
int sip_tp_via(const struct sip_tp *tp, const char *branch, char *out, size_t len);
/* Writes a Contact URI "sip:<user>@<ip>:<port>[;transport=...]" without angle brackets: 0 or -ENOSPC. */
int sip_tp_contact_uri(const struct sip_tp *tp, const char *user, char *out, size_t len);
/* Starts a client transaction on this transport (sip_txn_client_start with the wheel brought to now). */
struct sip_txn *sip_tp_request(struct sip_tp *tp, const char *req, size_t len, const struct sockaddr_storage *dst,
			       void *user, int *err);
/* Sends one message outside any transaction (the ACK for a 2xx, a retransmitted 2xx): 0 or a negative errno. */
int sip_tp_send(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *buf, size_t len);
/* After calling into the transaction layer from outside a transport callback (e.g. sip_txn_respond from a
 * ring timer): re-arms the wheel's loop timer. */
void sip_tp_kick(struct sip_tp *tp);
/* Fills a transport address from a numeric IP and port: 0 or -EINVAL. */
int sip_addr_from(struct sockaddr_storage *a, const char *ip, uint16_t port);
/* Same family, address and port. */
static inline bool sip_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* UDP: one non-blocking socket bound to ip:port. */
struct sip_udp;
struct sip_udp *sip_udp_start(struct cp_loop *loop, const char *ip, uint16_t port,
			      const struct sip_txn_user_ops *ops, void *ops_arg);
void sip_udp_stop(struct sip_udp *u);
struct sip_tp *sip_udp_tp(struct sip_udp *u);
uint16_t sip_udp_port(const struct sip_udp *u);
/* Per-endpoint local ports: one more socket on the transport's address and this port (0: any), sharing its
 * transaction layer and timers.  The handle sends, and answers what arrives on its socket, from that port, and
 * its Via/Contact carry it.  sip_tp_stop on it closes that socket only; sip_udp_stop closes them all.  NULL on
 * failure (logged: the port is taken, or out of descriptors). */
struct sip_tp *sip_udp_open_port(struct sip_udp *u, uint16_t port);
/* Per-endpoint local ports on any transport: sip_udp_open_port on UDP, sip_tcp_open_port on TCP/TLS (tp: the
 * transport sip_tp_start opened).  NULL on failure (logged). */
struct sip_tp *sip_tp_open_port(struct sip_tp *tp, uint16_t port);

/* TCP: listens on ip:port (0: any) and opens connections on demand; stream framing by Content-Length
 * (sip_frame); its transaction layer is reliable (no retransmissions; Timers D, I, J, K zero).  Responses go
 * back on the connection the request arrived on. */
struct sip_tcp;
#define SIP_STREAM_SETUP_MS 10000u /* a connection not up (connected, and TLS established) by then is closed */
struct sip_tcp_stats {
	unsigned accepted, connected, connect_failures, closed, framing_errors, messages;
	unsigned setup_timeouts;      /* connections closed for not coming up within the setup time */
	unsigned tls_handshakes;      /* completed, both roles */
	unsigned tls_resumed;         /* of those, resumed sessions (SSL_session_reused) */
	unsigned tls_verify_failures; /* the peer's certificate refused (untrusted, wrong name, none when required) */
	unsigned tls_failures;        /* other handshake failures (protocol, version, closed mid-handshake) */
	unsigned tls_refused;         /* incoming TLS connections refused: no certificate of our own */
	unsigned keepalive_pings;     /* CRLFCRLF pings sent on our connections */
	unsigned keepalive_answered;  /* answered in time (a pong or any input) */
	unsigned keepalive_failures;  /* flows closed for no answer */
	unsigned keepalive_pongs_sent;/* pings from peers answered with CRLF */
};
struct sip_tcp *sip_tcp_start(struct cp_loop *loop, const char *ip, uint16_t port,
			      const struct sip_txn_user_ops *ops, void *ops_arg);
void sip_tcp_stop(struct sip_tcp *t);
struct sip_tp *sip_tcp_tp(struct sip_tcp *t);
uint16_t sip_tcp_port(const struct sip_tcp *t);
const struct sip_tcp_stats *sip_tcp_stats(const struct sip_tcp *t); /* the transport's, handles included */
/* Per-endpoint handles (port_per_endpoint over TCP/TLS): a listener of its own on the transport's address and this
 * port (0: any), and connections of its own — an endpoint's requests go over its own connection (its own TLS
 * session), as each phone's would — sharing the transport's transaction layer, TLS context and settings.  What
 * arrives on its connections is answered from it, and a connection of its failing fails only its transactions.
 * sip_tp_stop on it closes its listener and connections only; sip_tcp_stop on the transport closes them all.
 * NULL on failure (logged: the port is taken, or out of descriptors). */
struct sip_tp *sip_tcp_open_port(struct sip_tcp *t, uint16_t port);
/* How long a new connection may take to come up (TCP connect, then the TLS handshake) before it is closed and
 * what waits on it fails (default SIP_STREAM_SETUP_MS): a peer that accepts and never answers does not hold
 * requests forever. */
void sip_tcp_set_setup_timeout(struct sip_tcp *t, uint32_t ms);
/* RFC 5626 §4.4.1 CRLF keep-alive on the connections this transport opens: a CRLFCRLF ping every interval_ms,
 * answered (the CRLF pong, or any input) within pong_ms (0: SIP_KEEPALIVE_PONG_MS), else the flow is dead: it is
 * closed (what waits on it fails at once) and dead(arg, handle, peer) is called with the handle whose flow it was
 * (the transport's, or a per-endpoint one), e.g. to register again over a new flow.  interval_ms 0 stops the
 * pings.  Pings from peers are always answered.  Set on the transport, it covers its handles.  -ENOTSUP on UDP. */
#define SIP_KEEPALIVE_PONG_MS 10000u
int sip_tp_set_keepalive(struct sip_tp *tp, uint32_t interval_ms, uint32_t pong_ms,
			 void (*dead)(void *arg, struct sip_tp *tp, const struct sockaddr_storage *peer), void *arg);
/* Closes the handle's connections to peer (NULL: all of them), failing what waits on them; returns how many. */
unsigned sip_tcp_disconnect(struct sip_tcp *t, const struct sockaddr_storage *peer);

/* TLS (OpenSSL, TLS 1.2 or newer) is an option of the stream transport: the same connections, framing and
 * reliable transaction layer, with a handshake driven from the loop (never blocking) before the first byte.
 * Client side: SNI with the peer's name, the certificate checked against it (or against the peer's IP address
 * when it has no name), our certificate presented when configured (mutual TLS), sessions cached per peer and
 * resumed.  Server side (incoming connections) needs cert_file/key_file; without them incoming connections
 * are refused and counted.  Via "SIP/2.0/TLS", Contact ";transport=tls".  OpenSSL writes with write(2): the
 * process must ignore SIGPIPE (both programs do). */
enum sip_tls_verify { SIP_TLS_VERIFY_SYSTEM, SIP_TLS_VERIFY_CA, SIP_TLS_VERIFY_NONE };
const char *sip_tls_verify_name(enum sip_tls_verify v); /* "system", "ca", "none" */
struct sip_tls_config {
	enum sip_tls_verify verify;    /* the peer's certificate: the system's CAs, ca_file's, or not checked */
	const char *ca_file;           /* PEM; required for SIP_TLS_VERIFY_CA and for checking client certificates */
	const char *cert_file;         /* PEM chain: our certificate (server side; client side: mutual TLS) */
	const char *key_file;          /* its private key (NULL: in cert_file) */
	const char *server_name;       /* the name every peer is asked for (SNI) and checked against, unless
					* sip_tp_set_peer_name says otherwise; NULL: the peer's IP address */
	bool require_client_cert;      /* server side: refuse clients without a certificate ca_file/system trusts */
};
struct sip_tcp *sip_tls_start(struct cp_loop *loop, const char *ip, uint16_t port, const struct sip_tls_config *tls,
			      const struct sip_txn_user_ops *ops, void *ops_arg);
/* The name to ask for (SNI) and check in the certificate when connecting to dst over TLS (a registrar or
 * proxy reached by its DNS name); a no-op on other transports.  0 or a negative errno. */
int sip_tp_set_peer_name(struct sip_tp *tp, const struct sockaddr_storage *dst, const char *name);

/* ---- locating SIP servers: DNS (RFC 3263 §4) ------------------------------------------------------------ */

/* c-ares on the control-plane loop, never blocking.  A numeric host is used as it is; a name with a port is
 * looked up by address (A, or AAAA for AF_INET6); a name without a port by SRV first (_sip._udp, _sip._tcp,
 * _sips._tcp for the transport), ordered by priority and weight (RFC 2782), each target then by address, and
 * without SRV records by address on 5060 (5061 for TLS).  The result lists the destinations in the order to try
 * them: fail over to the next when one does not answer (RFC 3263 §4.3). */
#define SIP_DNS_MAX_TARGETS 8u
#define SIP_DNS_NAME_MAX 256u
struct sip_dns_target {
	struct sockaddr_storage addr;
	uint16_t priority, weight;        /* from the SRV record (0 without one) */
	char target[SIP_DNS_NAME_MAX];    /* the SRV target (or the host) this address belongs to */
};
struct sip_dns_result {
	int status;                       /* 0, or -EHOSTUNREACH with n == 0 */
	const char *error;                /* c-ares' reason when nothing was found */
	unsigned n;
	struct sip_dns_target t[SIP_DNS_MAX_TARGETS];
};
struct sip_dns_stats {
	uint64_t queries, resolved, failed, srv_answers;
};
struct sip_dns;
typedef void (*sip_dns_cb)(void *arg, const struct sip_dns_result *r);
/* servers: NULL or "" for the system's (/etc/resolv.conf), else "ip[:port],..." (a test's own server).
 * NULL on failure (logged). */
struct sip_dns *sip_dns_new(struct cp_loop *loop, const char *servers);
/* Pending lookups end without their callbacks. */
void sip_dns_free(struct sip_dns *d);
/* Starts resolving host (port 0: none given) for a transport; cb gets the result, possibly before this returns
 * (numeric hosts, names in /etc/hosts).  0 or a negative errno (then cb is not called).  d may be NULL (no
 * resolver could be started): numeric hosts still work, names give -ENOSYS. */
int sip_dns_resolve(struct sip_dns *d, const char *host, uint16_t port, enum sip_tp_kind kind, int family,
		    sip_dns_cb cb, void *arg);
const struct sip_dns_stats *sip_dns_stats(const struct sip_dns *d);

/* ---- client transaction handlers -------------------------------------------------------------------------- */

/* Convention for client transactions: their user pointer is a struct sip_client_handler embedded in the owner
 * (a registration, a call).  A transport's ops can then use sip_client_on_* below for the client side and add
 * their own on_request for the server side. */
struct sip_client_handler {
	void (*on_response)(struct sip_client_handler *h, struct sip_txn *ct, const struct sip_msg *resp);
	void (*on_timeout)(struct sip_client_handler *h, struct sip_txn *ct);
	void (*on_terminated)(struct sip_client_handler *h, struct sip_txn *ct);
};
void sip_client_on_response(void *arg, struct sip_txn *ct, const struct sip_msg *resp);
void sip_client_on_timeout(void *arg, struct sip_txn *t);
void sip_client_on_terminated(void *arg, struct sip_txn *t);

/* ---- registration (RFC 3261 §10) -------------------------------------------------------------------------- */

#define SIP_REG_MAX_AUTH_TRIES 2u    /* challenges answered in a row before the credentials count as wrong */
#define SIP_REG_MAX_423 3u           /* 423 Interval Too Brief retries */
#define SIP_REG_REFRESH_MARGIN_S 32u /* refresh this long before expiry (half the interval if shorter) */

struct sip_reg_config {
	const char *domain;          /* registrar domain: Request-URI sip:DOMAIN, AOR sip:USER@DOMAIN */
	const char *user;
	const char *password;        /* NULL: no authentication */
	const char *auth_user;       /* digest username if not USER */
	const char *route;           /* outbound proxy as a Route value "<sip:proxy;lr>", or NULL */
	struct sockaddr_storage dst; /* where REGISTERs go: the registrar or the outbound proxy */
	uint32_t expires;            /* requested interval, seconds */
	/* Further destinations (RFC 3263 §4.3, e.g. the rest of a sip_dns_result), tried in turn when a REGISTER
	 * gets no answer, its connection fails or it gets 503; at most SIP_DNS_MAX_TARGETS are kept.  NULL: none. */
	const struct sockaddr_storage *fallback;
	unsigned nfallback;
};

enum sip_reg_state { SIP_REG_IDLE, SIP_REG_REGISTERING, SIP_REG_REGISTERED, SIP_REG_UNREGISTERING,
		     SIP_REG_UNREGISTERED, SIP_REG_FAILED };
const char *sip_reg_state_name(enum sip_reg_state s);

struct sip_reg_stats {
	enum sip_reg_state state;
	unsigned last_status;        /* final status of the last REGISTER (408 for a transaction timeout) */
	uint32_t granted_s;          /* interval the registrar granted */
	uint64_t time_to_register_ms;/* first REGISTER sent to first 200 */
	unsigned registers_sent, challenges, refreshes, interval_too_brief;
	unsigned ok;                 /* 2xx received (registrations and refreshes) */
	unsigned failovers;          /* moves to the next destination (no answer, connection failed, 503) */
};

struct sip_reg;
typedef void (*sip_reg_cb)(struct sip_reg *r, void *arg); /* called on every state change */
/* NULL on a bad config or allocation failure.  Uses the transport's client side: its ops must route client
 * transactions with sip_client_on_* (see above). */
struct sip_reg *sip_reg_new(struct sip_tp *tp, const struct sip_reg_config *cfg, sip_reg_cb cb, void *arg);
/* Sends the first REGISTER; refreshes follow on their own.  0 or a negative errno. */
int sip_reg_start(struct sip_reg *r);
/* Unregisters (Expires: 0) if registered; the state ends UNREGISTERED (or FAILED). */
int sip_reg_stop(struct sip_reg *r);
void sip_reg_free(struct sip_reg *r);
const struct sip_reg_stats *sip_reg_stats(const struct sip_reg *r);
/* Registers again now (when registered and nothing is in flight): the flow the binding used has died
 * (RFC 5626 §4.4.1).  0 or -EINVAL. */
int sip_reg_refresh(struct sip_reg *r);
/* Where REGISTERs go now: cfg.dst, or the fallback destination a failover moved to. */
const struct sockaddr_storage *sip_reg_dst(const struct sip_reg *r);

/* ---- calls: INVITE dialogs of both roles (RFC 3261 §12-§15, RFC 3264, RFC 2976) ---------------------------
 * A user agent core (struct sip_ua) sits on one transport: its transaction-user ops (sip_ua_txn_ops) route
 * every in-dialog request and stray 2xx to the call it belongs to (Call-ID + local tag, O(1)), hand new INVITEs
 * to the owner's incoming callback (Request-URI user -> answer settings, or a status to refuse with), answer
 * OPTIONS, and forward client transactions to sip_client_on_* (so registrations share the transport).
 *
 * One struct sip_call is a dialog of either role.  Calls we place (sip_call_new) belong to their creator, who
 * frees them with sip_call_free (also allowed from inside the call's own callbacks).  Calls we receive belong to
 * the UA, which frees them right after reporting ENDED: the owner drops its pointer there. */

#define SIP_CALL_MAX_AUTH_TRIES 2u
#define SIP_CALL_FIELD_MAX 128u
#define SIP_CALL_ROUTE_MAX 512u      /* the dialog's route set, as Route header text */
#define SIP_CALL_ROUTES_MAX 8u       /* Record-Route entries kept */
#define SIP_CALL_DTMF_MAX 32u        /* INFO digits queued per call; digits received remembered per call */
#define SIP_DTMF_CHARS "0123456789*#ABCD"
#define SIP_CALL_MAX_GLARE 4u        /* re-INVITEs of ours answered 491 in a row before we give up */

enum sip_call_state { SIP_CALL_IDLE, SIP_CALL_CALLING, SIP_CALL_RINGING, SIP_CALL_CONFIRMED, SIP_CALL_ENDING,
		      SIP_CALL_ENDED };
/* How a call ended (the DESIGN.md call_result values). */
enum sip_call_result { SIP_RESULT_NONE, SIP_RESULT_ANSWERED, SIP_RESULT_BUSY, SIP_RESULT_REJECTED,
		       SIP_RESULT_TIMEOUT, SIP_RESULT_CANCELLED, SIP_RESULT_UNAVAILABLE, SIP_RESULT_FAILED,
		       SIP_RESULT_NEGOTIATION_FAILED };
const char *sip_call_state_name(enum sip_call_state s);
const char *sip_call_result_name(enum sip_call_result r); /* "answered", "busy", … */
/* answered 2xx, busy 486/600, rejected 403/603, timeout 408, cancelled 487, unavailable 480/503, else failed */
enum sip_call_result sip_call_result_from_status(unsigned status);

/* RFC 3262 reliable provisional responses (option tag 100rel) and PRACK.  UAC: OFF sends nothing, SUPPORTED
 * "Supported: 100rel", REQUIRED "Require: 100rel"; with either, a 1xx carrying Require: 100rel and RSeq is
 * PRACKed (RAck) in its early dialog, retransmissions and out-of-order RSeqs are discarded, and an SDP answer
 * in it is the call's answer (early media; the 2xx's SDP is then ignored).  UAS: OFF answers an INVITE that
 * requires 100rel with 420; SUPPORTED sends the 180/183 reliably when the INVITE supports it; REQUIRED always
 * (421 when the INVITE does not support it).  A reliable 1xx is re-sent (T1 doubling) until its PRACK, and the
 * INVITE is answered 500 when none came in 64*T1; a 2xx waits for the PRACK of a 1xx that carried SDP. */
enum sip_100rel { SIP_100REL_OFF, SIP_100REL_SUPPORTED, SIP_100REL_REQUIRED };
#define SIP_100REL_RSEQ_MAX_START 2147483647u /* RFC 3262 §3: the first RSeq is below 2^31 */

/* A call we place. */
struct sip_call_config {
	const char *from_user, *from_domain;
	const char *to_uri;              /* Request-URI and To, e.g. "sip:bob@10.0.0.2:5060" */
	struct sockaddr_storage dst;     /* where the INVITE goes (the peer or an outbound proxy) */
	struct sip_tp *tp;               /* the socket the dialog uses (Via, Contact, source port): an endpoint's own
					  * port from sip_udp_open_port on the UA's transport; NULL: the UA's */
	const char *route;               /* outbound proxy as a Route value "<sip:p;lr>", or NULL: then in-dialog
					  * requests without a Record-Route route set go through it as well */
	const char *auth_user, *password;/* for 401/407 challenges; NULL password: none */
	struct sdp_local media;          /* our offer (strings copied) */
	uint32_t duration_ms;            /* hang up this long after the ACK; 0: only on sip_call_hangup */
	uint32_t no_answer_ms;           /* CANCEL if still unanswered this long after the INVITE; 0: never */
	enum sip_100rel rel100;
	/* Session timer (RFC 4028): ask for this session interval (Supported: timer, Session-Expires, Min-SE); 0:
	 * none (nor "Supported: timer", so the peer cannot impose one).  A 422 is answered with the larger interval
	 * it asks for.  min_se_s: our Min-SE (0: 90 s). */
	uint32_t session_expires_s, min_se_s;
	/* Further destinations for the INVITE (RFC 3263 §4.3, e.g. the rest of a sip_dns_result), tried in turn
	 * when it times out, its connection fails or it gets 503; at most SIP_DNS_MAX_TARGETS kept.  NULL: none. */
	const struct sockaddr_storage *fallback;
	unsigned nfallback;
};

/* How a call we receive is answered. */
struct sip_answer {
	struct sdp_local media;          /* our answer (strings copied) */
	uint32_t ring_ms;                /* 180 at once, the final response this long after the INVITE */
	unsigned status;                 /* 0 or 200: answer; else reject with it (486, 603, …) after the ring time */
	const char *contact_user;        /* user part of our Contact */
	enum sip_100rel rel100;
	bool early_media;                /* 183 Session Progress with the SDP answer instead of 180 */
	uint32_t min_se_s;               /* session timer: a shorter interval asked for gets 422 (0: 90 s) */
};

struct sip_call_stats {
	enum sip_call_state state;
	enum sip_call_result result;
	bool incoming;                   /* a call we received */
	bool ended_by_peer;              /* the peer's BYE or CANCEL ended it */
	unsigned final_status;           /* the INVITE's final status (408 for a transaction timeout) */
	char reason[64];                 /* its reason phrase */
	uint64_t pdd_ms;                 /* INVITE to the first 180/183 */
	uint64_t time_to_ringing_ms;     /* INVITE to the first 180 */
	uint64_t setup_ms;               /* INVITE to the 2xx */
	uint64_t duration_ms;            /* ACK (UAS: 2xx) to the end */
	unsigned bye_status;             /* our BYE's final status (408: no answer) */
	unsigned challenges;
	unsigned failovers;              /* UAC: INVITEs re-sent to the next destination (timeout, transport, 503) */
	unsigned ack_retransmissions;    /* UAC: ACKs re-sent for retransmitted 2xx */
	bool acked;                      /* UAS: the ACK for our 2xx came */
	bool ack_timeout;                /* UAS: none came in 64*T1 (the call was then ended with BYE) */
	unsigned ok_retransmissions;     /* UAS: 2xx re-sent while waiting for the ACK (§13.3.1.4) */
	unsigned reinvites;              /* offers from the peer in the dialog answered (re-INVITE or UPDATE) */
	unsigned updates;                /* UPDATEs from the peer answered 200 (refreshes, offers) */
	unsigned reinvites_sent, reinvites_ok; /* re-INVITEs of ours (retries included) and those that took */
	unsigned glare;                  /* of ours answered 491 (session refreshes included) */
	unsigned reinvites_queued;       /* offers of the owner's that waited for another INVITE to end */
	unsigned refresh_media_changes;  /* answers to our session refreshes that changed the media */
	unsigned reliable_provisionals;  /* UAC: reliable 1xx received and PRACKed; UAS: reliable 1xx sent */
	unsigned pracks;                 /* UAC: PRACKs answered with 2xx; UAS: PRACKs matched and answered 200 */
	unsigned rel_retransmissions;    /* UAS: reliable 1xx re-sent waiting for the PRACK */
	bool prack_timeout;              /* UAS: no PRACK in 64*T1 (the INVITE was answered 500) */
	bool early_media;                /* an SDP answer came (UAC) or went (UAS) in a 183 before the 2xx */
	/* Session timer (RFC 4028), both roles: the dialog's interval (0: none), who refreshes, refreshes that
	 * succeeded (ours: UPDATE, or re-INVITE when the peer does not allow UPDATE) and those from the peer, 422s
	 * answered; session_expired: the peer did not refresh in time and we ended the call with BYE. */
	uint32_t session_expires_s;
	bool session_refresher;          /* we refresh */
	unsigned session_refreshes, session_refreshes_received, session_422;
	bool session_expired;
	unsigned dtmf_sent;              /* INFO digits answered with 2xx */
	unsigned dtmf_received;          /* INFO application/dtmf-relay digits received */
	char dtmf_digits[SIP_CALL_DTMF_MAX + 1]; /* the first ones received */
	enum sdp_neg negotiation;
	struct sdp_negotiated media;     /* valid once negotiated; strings point into the call's copy of the peer SDP */
};

struct sip_call;
typedef void (*sip_call_cb)(struct sip_call *c, void *arg);
/* What a call tells its owner; every member may be NULL. */
struct sip_call_handler {
	/* Every state change (stats say why).  ENDED is the last event of a call. */
	sip_call_cb on_state;
	/* An offer/answer exchange settled: a received call's offer (before 180), a placed call's answer (before
	 * CONFIRMED), a re-INVITE from the peer (hold/resume; after the answer is chosen, before it is sent).
	 * stats->media holds it.  Return false when the media cannot be used: 488 for an offer (the call ends with
	 * NEGOTIATION_FAILED; a re-INVITE's 488 restores the old media), ACK then BYE for an answer. */
	bool (*on_media)(struct sip_call *c, void *arg, const struct sdp_negotiated *m);
	/* A DTMF digit in an INFO application/dtmf-relay request (RFC 2976 usage). */
	void (*on_dtmf)(struct sip_call *c, void *arg, char digit, uint32_t duration_ms);
	/* Our re-INVITE (sip_call_reinvite) is over: status is its final status (408: no answer); applied says
	 * the new media are in place (on_media has accepted them).  Otherwise the old media stay. */
	void (*on_reinvite)(struct sip_call *c, void *arg, unsigned status, bool applied);
	/* Early media (RFC 3960): before the answer, an SDP answer came in a 1xx (placed call: the first session
	 * description received is the answer, RFC 3261 §13.2.1; the 2xx's is ignored) or went in our 183
	 * (received call, early_media).  stats->media holds it: media may flow now, the 2xx confirms the call. */
	sip_call_cb on_early_media;
};

struct sip_ua;
struct sip_call *sip_call_new(struct sip_ua *ua, const struct sip_call_config *cfg, const struct sip_call_handler *h,
			      void *arg);
int sip_call_start(struct sip_call *c);
/* Placed call: BYE when confirmed, CANCEL while ringing (the call then ends with 487).  Received call: 480
 * before the answer, BYE after it.  0 or -EINVAL when there is nothing to end. */
int sip_call_hangup(struct sip_call *c);
/* Queues DTMF digits (SIP_DTMF_CHARS) sent one INFO application/dtmf-relay each, the next when the previous
 * is answered.  0, -EINVAL (not confirmed, bad digit), -ENOSPC (queue full). */
int sip_call_send_dtmf(struct sip_call *c, const char *digits, uint32_t duration_ms);
/* A re-INVITE from our side (RFC 3261 §14.1, RFC 3264 §8) offering our media again in direction dir (hold:
 * sendonly or inactive; resume: sendrecv), with the session version raised.  The 2xx is ACKed and its answer goes
 * to on_media like any other; on_reinvite tells the end.  491 (glare, §14.2) is retried after the §14.1 random
 * wait (2.1-4 s when we chose the Call-ID, i.e. placed the call, else 0-2 s) up to SIP_CALL_MAX_GLARE times;
 * any other failure keeps the old media, and 481 or 408 also end the dialog with BYE (§12.2.1.2).  While our
 * session refresh (RFC 4028 re-INVITE) is pending, or the peer's re-INVITE waits for its ACK, the offer waits and
 * goes right after it (after the §14.1 wait if the refresh was answered 491): 0 all the same.
 * 0, -EINVAL (not confirmed), -EBUSY (an offer of ours is pending), or the send error. */
int sip_call_reinvite(struct sip_call *c, enum sdp_dir dir);
void sip_call_free(struct sip_call *c);
const struct sip_call_stats *sip_call_stats(const struct sip_call *c);
/* The dialog's route set as Route header text ("" without Record-Route). */
const char *sip_call_route_set(const struct sip_call *c);
/* Our side of the media as offered or answered (crypto_key: the SDES key we gave the peer). */
const struct sdp_local *sip_call_local_media(const struct sip_call *c);

/* The owner's decision for a new INVITE to Request-URI user `user`: 0 and *a, *h, *harg filled (the answer is
 * copied) to take the call, or a status to refuse it with at once (404, 480, 486, …). */
typedef unsigned (*sip_ua_incoming_fn)(void *arg, struct sip_str user, const struct sip_msg *invite,
				       struct sip_answer *a, const struct sip_call_handler **h, void **harg);

struct sip_ua_config {
	struct sip_answer answer;    /* for every INVITE when incoming is NULL */
	sip_ua_incoming_fn incoming;
	void *arg;
	uint32_t t1_ms;              /* T1 for the 2xx retransmission of received calls; 0: SIP_T1_MS */
};

struct sip_ua_stats {
	unsigned invites, answered, rejected, negotiation_failed, cancelled, acks, byes, reinvites, options, infos;
	unsigned refused;            /* INVITEs the incoming callback refused */
	unsigned dtmf_digits;        /* INFO application/dtmf-relay digits received */
	char last_dtmf;
	unsigned ok_retransmissions, ack_timeouts;
	unsigned pracks, prack_timeouts;  /* UAS: PRACKs matched; reliable 1xx never PRACKed */
	unsigned bad_extension;           /* INVITEs refused 420 (Require: 100rel, ours off) or 421 (we require it) */
	unsigned live;               /* calls now, both roles */
};

/* Create the UA first, start the transport with ops sip_ua_txn_ops and arg the UA, then attach the transport. */
struct sip_ua *sip_ua_new(const struct sip_ua_config *cfg);
void sip_ua_attach(struct sip_ua *ua, struct sip_tp *tp);
extern const struct sip_txn_user_ops sip_ua_txn_ops;
/* Frees every call (received ones; placed ones must be freed by their creators first). */
void sip_ua_free(struct sip_ua *ua);
const struct sip_ua_stats *sip_ua_stats(const struct sip_ua *ua);

/* ---- callmeter-worker sip-check FILE... ------------------------------------------------------------------- */

/* Parses and validates each file as one SIP message; prints "FILE: ok" or "FILE: invalid: REASON".
 * Returns 0 if all are valid, 2 if any is invalid or unreadable (or on a usage error). */
int sip_check_main(int argc, char **argv);

#endif
