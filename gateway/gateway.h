/* gateway/ — the Worker Gateway and the protocol both ends of a worker session speak.
 *
 *   gw_proto_*  framing (4-byte big-endian length + one msgpack map whose "t" names the message), a resumable
 *               frame reader for non-blocking sockets, a strict decoder and a small encoder.  Used by the
 *               gateway and by the worker's gateway client (controlplane/gateway_client.c).
 *   gw_conn_*   one non-blocking TLS connection carrying frames (either side).
 *   gw_store_*  the gateway's SQLite store: workers and their token hashes, statuses, metrics.
 *   gw_server_* the TLS listener and the worker sessions, driven by a cp_loop.
 *
 * docs/gateway-protocol.md describes every message.
 *
 * Error convention: constructors return NULL (with a logged reason or a message in the caller's buffer);
 * everything else 0 or a negative errno; the frame reader returns GW_PROTO_FRAME / GW_PROTO_AGAIN or a negative
 * errno. */
#ifndef CM_GATEWAY_H
#define CM_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <openssl/ssl.h>

#include "controlplane/controlplane.h"

/* ---- protocol limits, declared once -------------------------------------------------------------------- */

#define GW_PROTO_VERSION 1
#define GW_PROTO_MAX_FRAME (1024u * 1024u) /* payload bytes after the length prefix */
#define GW_PROTO_HDR 4
#define GW_PROTO_MAX_HELLO (16u * 1024u) /* largest frame before a session is authenticated */
#define GW_PROTO_MAX_DEPTH 16      /* nesting of maps/arrays in one message */
#define GW_PROTO_TYPE_MAX 24       /* longest "t" */
#define GW_PROTO_STR_MAX 256       /* names, reasons, run ids */
#define GW_DEFAULT_HEARTBEAT_S 20
#define GW_DEFAULT_TIMEOUT_S 60
#define GW_DEFAULT_LOST_AFTER_S 600 /* a worker OFFLINE this long has lost its parts */
#define GW_HELLO_TIMEOUT_MS 10000  /* from TCP accept to a valid hello */

enum gw_msg_type {
	GW_MSG_UNKNOWN = 0,
	GW_MSG_HELLO,     /* worker → gateway */
	GW_MSG_WELCOME,   /* gateway → worker */
	GW_MSG_REJECT,    /* gateway → worker, then close */
	GW_MSG_HEARTBEAT, /* worker → gateway */
	GW_MSG_DRAIN,     /* gateway → worker */
	GW_MSG_ASSIGN,    /* gateway → worker */
	GW_MSG_ACCEPT,    /* worker → gateway */
	GW_MSG_REFUSE,    /* worker → gateway */
	GW_MSG_METRICS,   /* worker → gateway */
	GW_MSG_ACK,       /* gateway → worker */
	GW_MSG_DONE,      /* worker → gateway */
	GW_MSG_CANCEL,    /* gateway → worker */
	GW_MSG_START,     /* gateway → worker: every part is ready; dial (with the callee parts' SIP addresses) */
	GW_MSG_CALLS_DONE,/* worker → gateway: a part's callers are through */
	GW_MSG_RELEASE,   /* gateway → worker: every caller part is through; callees may leave */
	GW_MSG__COUNT
};
const char *gw_msg_type_name(enum gw_msg_type t);
enum gw_msg_type gw_msg_type_parse(const char *s, size_t len);

/* reject codes (the "code" field) */
#define GW_REJECT_BAD_TOKEN "bad_token"     /* malformed */
#define GW_REJECT_UNKNOWN "unknown_token"   /* well formed, not issued here */
#define GW_REJECT_REVOKED "revoked"         /* regenerated or deleted */
#define GW_REJECT_IN_USE "token_in_use"     /* another live session holds it */
#define GW_REJECT_VERSION "version"         /* protocol version not spoken */
#define GW_REJECT_PROTOCOL "protocol_error" /* a malformed hello */

/* ---- frame reader: resumable, for non-blocking sockets ----------------------------------------------------- */

enum { GW_PROTO_AGAIN = 0, GW_PROTO_FRAME = 1 };

struct gw_proto_reader {
	uint8_t hdr[GW_PROTO_HDR];
	uint32_t hdr_have;
	uint32_t need;      /* payload length once the header is complete */
	uint32_t have;
	bool ready;         /* a frame was returned; the next feed starts a new one */
	uint32_t limit;     /* largest payload accepted; 0: GW_PROTO_MAX_FRAME */
	uint8_t *buf;
	uint32_t cap;
};
void gw_proto_reader_init(struct gw_proto_reader *r);
void gw_proto_reader_free(struct gw_proto_reader *r);
/* Consumes up to len bytes (*used says how many).  GW_PROTO_FRAME: a whole payload is in r->buf[0..r->need);
 * call again with the rest of the data.  GW_PROTO_AGAIN: everything consumed, frame incomplete.
 * -EMSGSIZE: length over r->limit (default GW_PROTO_MAX_FRAME); -EBADMSG: zero length; -ENOMEM.  After an error the stream is
 * out of sync: close it. */
int gw_proto_reader_feed(struct gw_proto_reader *r, const uint8_t *data, size_t len, size_t *used);

/* ---- decoding ---------------------------------------------------------------------------------------------- */

struct gw_msg {
	enum gw_msg_type type;
	char t[GW_PROTO_TYPE_MAX + 1];
	const msgpack_object *map;
	msgpack_unpacked up;
};
/* Checks the payload is exactly one msgpack map (bounded nesting, every declared length within the payload, so
 * a small hostile frame cannot make the unpacker allocate much) with a string "t".  0, or -EBADMSG with the
 * reason in err.  On success gw_msg_free() releases it. */
int gw_msg_decode(struct gw_msg *m, const uint8_t *buf, size_t len, char *err, size_t errlen);
void gw_msg_free(struct gw_msg *m);
/* Field access on a decoded map (or any msgpack map object: gw_obj_*).  -ENOENT: absent; -EPROTO: wrong type
 * or out of range; -ENAMETOOLONG: string longer than outlen - 1. */
const msgpack_object *gw_obj_get(const msgpack_object *map, const char *key);
int gw_obj_str(const msgpack_object *map, const char *key, char *out, size_t outlen);
int gw_obj_u64(const msgpack_object *map, const char *key, uint64_t *out);
int gw_obj_f64(const msgpack_object *map, const char *key, double *out);
/* A map key that is a name: 1 to max bytes of ASCII letters, digits and the characters of punct; copied with its
 * NUL into out (max + 1 bytes) unless out is NULL. */
bool gw_key_name(const msgpack_object *k, const char *punct, size_t max, char *out);
static inline int gw_msg_str(const struct gw_msg *m, const char *k, char *out, size_t n)
{
	return gw_obj_str(m->map, k, out, n);
}
static inline int gw_msg_u64(const struct gw_msg *m, const char *k, uint64_t *out)
{
	return gw_obj_u64(m->map, k, out);
}

/* ---- encoding ---------------------------------------------------------------------------------------------- */

struct gw_enc {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};
/* Starts a frame: the length placeholder, a map of nfields + 1 entries and "t".  Then exactly nfields key/value
 * pairs (gw_enc_key + msgpack_pack_* on e->pk, or the shorthands), then gw_enc_finish. */
int gw_enc_start(struct gw_enc *e, enum gw_msg_type t, uint32_t nfields);
void gw_enc_key(struct gw_enc *e, const char *key);
void gw_enc_str(struct gw_enc *e, const char *key, const char *val);
void gw_enc_u64(struct gw_enc *e, const char *key, uint64_t val);
/* Patches the length; -EMSGSIZE when the payload is over GW_PROTO_MAX_FRAME.  The frame is e->sb.data/size. */
int gw_enc_finish(struct gw_enc *e);
void gw_enc_free(struct gw_enc *e);

/* ---- one TLS connection carrying frames ------------------------------------------------------------------ */

#define GW_CONN_OUT_MAX (8u * 1024u * 1024u) /* queued bytes before the peer counts as stuck */

struct gw_conn;
/* Called for each decoded message; return 0 to go on, negative to stop (the connection is then closed by its
 * owner).  The message is freed after the call. */
typedef int (*gw_msg_cb)(void *arg, struct gw_msg *m);

struct gw_conn {
	int fd;
	SSL *ssl;
	bool established;  /* TLS handshake finished */
	bool closing;      /* stop reading; gw_conn_io returns 1 once the queue is flushed */
	bool want_write;   /* OpenSSL needs the socket writable */
	uint32_t events;   /* what the owner last asked epoll for */
	struct gw_proto_reader rd;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
};
/* Takes ownership of fd (non-blocking, connected or accepted).  server_name: SNI + hostname check (client side;
 * an IP literal is checked against the certificate's IP addresses); NULL on the server side. */
int gw_conn_init(struct gw_conn *c, SSL_CTX *ctx, int fd, bool server, const char *server_name);
void gw_conn_close(struct gw_conn *c);
/* Queues a whole frame; -ENOBUFS past GW_CONN_OUT_MAX. */
int gw_conn_send(struct gw_conn *c, const uint8_t *frame, size_t len);
int gw_conn_send_enc(struct gw_conn *c, struct gw_enc *e); /* finishes, queues and frees e */
/* Handshake, flush, read and dispatch.  0: open; 1: closed cleanly (peer EOF or closing finished); negative
 * errno with a plain reason in why (certificate verification failures name the X.509 error). */
int gw_conn_io(struct gw_conn *c, gw_msg_cb cb, void *arg, char *why, size_t whylen);
/* EPOLLIN | EPOLLOUT as the connection needs now. */
uint32_t gw_conn_wanted(const struct gw_conn *c);

/* TLS contexts: 1.2 minimum.  Server: certificate chain + key files.  Client: verifies the peer against ca_file
 * (NULL or "": the system store). */
SSL_CTX *gw_tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen);
SSL_CTX *gw_tls_client_ctx(const char *ca_file, char *err, size_t errlen);

/* ---- token store (SQLite) -------------------------------------------------------------------------------- */

#define GW_TOKEN_PREFIX "cmw_"
#define GW_TOKEN_LEN 68
#define GW_ENV_DB "CALLMETER_GATEWAY_DB"
#define GW_DEFAULT_DB "/var/lib/callmeter/gateway.db"

enum gw_license { GW_LICENSE_STANDARD, GW_LICENSE_PROFESSIONAL, GW_LICENSE_ENTERPRISE };
const char *gw_license_name(enum gw_license l);
int gw_license_parse(const char *s, enum gw_license *out);
/* min(configured, licensed): standard 50, professional 200, enterprise unlimited. */
uint32_t gw_effective_capacity(uint32_t configured, enum gw_license l);

struct gw_worker {
	int64_t id;
	char name[GW_PROTO_STR_MAX];
	uint32_t capacity;
	enum gw_license license;
	char status[16];          /* ONLINE / OFFLINE / DRAINING / ERROR */
	uint64_t last_heartbeat;  /* wall clock ms, 0: never */
	uint32_t active_endpoints;
	int64_t token_gen;        /* bumped by regenerate: a live session with an older one is dropped */
	bool drain_requested;
	char error[GW_PROTO_STR_MAX];
};

struct gw_store;
/* Creates the file (mode 0600, its directory must exist) and the schema if needed. */
struct gw_store *gw_store_open(const char *path, char *err, size_t errlen);
void gw_store_close(struct gw_store *s);
/* New token into token_out (GW_TOKEN_LEN + 1); only its SHA-256 is stored.  -EEXIST: the name is taken. */
int gw_store_worker_create(struct gw_store *s, const char *name, uint32_t capacity, enum gw_license lic,
			   char *token_out);
int gw_store_worker_regenerate(struct gw_store *s, const char *name, char *token_out);
int gw_store_worker_delete(struct gw_store *s, const char *name);
int gw_store_worker_drain(struct gw_store *s, const char *name, bool drain);
int gw_store_worker_get(struct gw_store *s, const char *name, struct gw_worker *w);
int gw_store_worker_get_id(struct gw_store *s, int64_t id, struct gw_worker *w);
/* Calls cb for each worker by name; returns the count or a negative errno. */
int gw_store_worker_list(struct gw_store *s, void (*cb)(void *arg, const struct gw_worker *w), void *arg);

enum gw_auth { GW_AUTH_OK, GW_AUTH_BAD_FORMAT, GW_AUTH_UNKNOWN, GW_AUTH_REVOKED };
enum gw_auth gw_store_auth(struct gw_store *s, const char *token, struct gw_worker *w);

int gw_store_begin(struct gw_store *s);
int gw_store_commit(struct gw_store *s);
int gw_store_set_status(struct gw_store *s, int64_t id, const char *status, uint64_t last_hb,
			uint32_t active, const char *error);
int gw_store_all_offline(struct gw_store *s);
/* True when another process committed since the last call (SQLite's data_version). */
bool gw_store_changed(struct gw_store *s);
/* Stores one metrics frame (samples as msgpack); a re-sent (run_id, worker, seq) is ignored.  1: stored now,
 * 0: already held. */
int gw_store_metrics_put(struct gw_store *s, const char *run_id, int64_t worker_id, uint64_t seq, uint64_t t,
			 uint32_t nsamples, const void *blob, size_t bloblen);
/* A worker's per-second dataplane sample (the `dataplane` map of a metrics frame): the figures of its second kept
 * as columns, so that `run show` sums them per part; the whole map is kept beside them. */
#define GW_DP_COLUMNS(X) \
	X(port_ipackets) X(port_opackets) X(port_ibytes) X(port_obytes) X(port_imissed) X(port_ierrors) \
	X(port_oerrors) X(port_rx_nombuf) X(tx_packets) X(tx_paced) X(tx_pacing_p50_ns) X(tx_pacing_p99_ns) \
	X(tx_pacing_max_ns)
#define GW_DP_COUNT_ONE(n) +1
enum { GW_DP_NCOLS = 0 GW_DP_COLUMNS(GW_DP_COUNT_ONE) };
#undef GW_DP_COUNT_ONE
struct gw_dp_sample {
	uint64_t t;
	int64_t col[GW_DP_NCOLS]; /* of that second, in GW_DP_COLUMNS order */
	bool has[GW_DP_NCOLS];    /* absent (a worker whose port did not answer): stored as NULL */
};
const char *gw_dp_column_name(unsigned i);
/* Checks a dataplane sample map (kind, v, t, ms, second and total maps of counters, xstats); NULL when it is
 * right (out filled), else what is wrong. */
const char *gw_dp_sample_read(const msgpack_object *dp, struct gw_dp_sample *out);
/* NULL when m is a map of counter names (gw_key_name with GW_DP_KEY_PUNCT, at most keymax bytes) to unsigned
 * integers a store column holds. */
#define GW_DP_KEY_PUNCT "_-.:"
const char *gw_dp_counters_problem(const msgpack_object *m, size_t keymax);
/* Stores one dataplane sample of a run's part; a re-sent (run_id, worker, part, t) is ignored.  1 stored, 0 held. */
int gw_store_dataplane_put(struct gw_store *s, const char *run_id, int64_t worker_id, int64_t part, uint64_t seq,
			   const struct gw_dp_sample *d, const void *blob, size_t bloblen);
/* Sequence numbers held for a run: count, lowest, highest, samples in all. */
int gw_store_metrics_stat(struct gw_store *s, const char *run_id, uint64_t *frames, uint64_t *min_seq,
			  uint64_t *max_seq, uint64_t *samples);

/* Runs (gateway/runs.c keeps the logic; these are the store's small generic helpers it uses).  fmt has one
 * letter per '?N' parameter: 's' a const char *, 'i' an int64_t.  gw_store_exec returns the rows changed,
 * gw_store_query the rows seen (cb gets every column as text; return non-zero to stop). */
#define GW_RUN_ID_MAX 24
typedef int (*gw_row_cb)(void *arg, int ncols, const char **cols);
int gw_store_exec(struct gw_store *s, const char *sql, const char *fmt, ...);
int gw_store_query(struct gw_store *s, const char *sql, const char *fmt, gw_row_cb cb, void *arg, ...);
int gw_store_run_new_id(char out[GW_RUN_ID_MAX]);

/* ---- server ---------------------------------------------------------------------------------------------- */

struct gw_server_opts {
	const char *listen;     /* host:port, default 0.0.0.0:443 */
	const char *cert, *key;
	const char *db;
	uint32_t heartbeat_s;   /* told to workers in welcome */
	uint32_t timeout_s;     /* OFFLINE after this long without a heartbeat */
	uint32_t lost_after_s;  /* a worker OFFLINE this long loses its parts of runs */
};
struct gw_server;
struct gw_server *gw_server_new(struct cp_loop *loop, const struct gw_server_opts *o, char *err, size_t errlen);
void gw_server_free(struct gw_server *srv);
uint16_t gw_server_port(const struct gw_server *srv);
uint32_t gw_server_sessions(const struct gw_server *srv);

/* The CLI (callmeter-gateway serve | worker ...); returns the exit status. */
int gw_cli_main(int argc, char **argv);

#endif
