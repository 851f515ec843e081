/* TLS for the stream transport (RFC 3261 §26.3.1, RFC 5630): OpenSSL contexts for both roles, TLS 1.2 or
 * newer.  A client connection sends SNI and checks the peer certificate against the name it asked for (or the
 * peer's IP address when there is no name), with the system's CAs, a CA file of our own, or no check at all;
 * it presents our certificate when one is configured (mutual TLS).  Sessions are cached per peer address and
 * offered again on the next connection (resumption: TLS 1.2 session tickets/IDs, TLS 1.3 tickets).  The
 * server side needs a certificate and key; it can require a client certificate.  Handshakes are non-blocking:
 * the caller drives them from its loop on readiness. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/common.h"
#include "sip/sip_internal.h"

/* One peer address we connect to: the name to ask for and the last session it gave us. */
struct tls_peer {
	struct tls_peer *next;
	struct sockaddr_storage addr;
	char name[256];       /* "" : check the certificate against the address */
	SSL_SESSION *sess;
};

struct sip_tls {
	SSL_CTX *client, *server; /* server NULL without a certificate */
	enum sip_tls_verify verify;
	char default_name[256];
	struct tls_peer *peers;
};

static struct cm_ratelimit tls_rl = CM_RATELIMIT_INIT(10000, 5);

const char *sip_tls_verify_name(enum sip_tls_verify v)
{
	static const char *const names[] = { [SIP_TLS_VERIFY_SYSTEM] = "system", [SIP_TLS_VERIFY_CA] = "ca",
					     [SIP_TLS_VERIFY_NONE] = "none" };
	return (unsigned)v < CM_ARRAY_SIZE(names) ? names[v] : "?";
}

/* The first queued OpenSSL error as text (and the queue cleared), or `fallback`. */
static const char *ssl_error(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (!e) {
		cm_strlcpy(buf, fallback, len);
		return buf;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static struct tls_peer *peer_get(struct sip_tls *x, const struct sockaddr_storage *addr)
{
	struct tls_peer *p;

	for (p = x->peers; p; p = p->next)
		if (sip_same_addr(&p->addr, addr))
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->addr = *addr;
	cm_strlcpy(p->name, x->default_name, sizeof(p->name));
	p->next = x->peers;
	x->peers = p;
	return p;
}

int sip_tls_set_peer_name(struct sip_tls *x, const struct sockaddr_storage *addr, const char *name)
{
	struct tls_peer *p = peer_get(x, addr);

	if (!p)
		return -ENOMEM;
	if (cm_strlcpy(p->name, name ? name : "", sizeof(p->name)) < 0)
		return -ENAMETOOLONG;
	/* a session from another name must not be offered to this one */
	SSL_SESSION_free(p->sess);
	p->sess = NULL;
	return 0;
}

/* OpenSSL hands us every new client session (TLS 1.3: tickets arrive after the handshake): keep the newest per
 * peer.  Returning 1 keeps the reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_peer *p = SSL_get_app_data(ssl);

	if (!p)
		return 0;
	SSL_SESSION_free(p->sess);
	p->sess = sess;
	return 1;
}

static int load_identity(SSL_CTX *ctx, const struct sip_tls_config *cfg)
{
	char e[256];

	if (!cfg->cert_file || !cfg->cert_file[0])
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file && cfg->key_file[0] ? cfg->key_file : cfg->cert_file,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		cm_log(CM_LOG_ERROR, "sip", "TLS certificate %s / key %s: %s", cfg->cert_file,
		       cfg->key_file ? cfg->key_file : cfg->cert_file, ssl_error(e, sizeof(e), "unusable"));
		return -EINVAL;
	}
	return 0;
}

static int load_trust(SSL_CTX *ctx, const struct sip_tls_config *cfg)
{
	char e[256];

	if (cfg->ca_file && cfg->ca_file[0]) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
			cm_log(CM_LOG_ERROR, "sip", "TLS CA file %s: %s", cfg->ca_file, ssl_error(e, sizeof(e), "unusable"));
			return -EINVAL;
		}
		return 0;
	}
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		cm_log(CM_LOG_ERROR, "sip", "TLS: the system CA store cannot be loaded: %s",
		       ssl_error(e, sizeof(e), "unknown"));
		return -EINVAL;
	}
	return 0;
}

static SSL_CTX *ctx_new(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* the write buffer moves when the queue is compacted; partial writes are what a stream wants */
	/* RELEASE_BUFFERS: an idle connection gives back its record buffers (~34 KB) — thousands of endpoints each
	 * keep one (port_per_endpoint) */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

struct sip_tls *sip_tls_new(const struct sip_tls_config *cfg)
{
	struct sip_tls *x = calloc(1, sizeof(*x));
	static const unsigned char sid_ctx[] = "callmeter-sip";

	if (!x)
		return NULL;
	x->verify = cfg->verify;
	if (cfg->verify == SIP_TLS_VERIFY_CA && (!cfg->ca_file || !cfg->ca_file[0])) {
		cm_log(CM_LOG_ERROR, "sip", "TLS: verification against a CA needs a CA file");
		goto free_x;
	}
	if (cfg->server_name && cm_strlcpy(x->default_name, cfg->server_name, sizeof(x->default_name)) < 0)
		goto free_x;
	x->client = ctx_new(false);
	if (!x->client)
		goto free_x;
	if (load_identity(x->client, cfg) < 0)
		goto free_ctx;
	if (cfg->verify != SIP_TLS_VERIFY_NONE && load_trust(x->client, cfg) < 0)
		goto free_ctx;
	SSL_CTX_set_verify(x->client, cfg->verify == SIP_TLS_VERIFY_NONE ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(x->client, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(x->client, on_new_session);

	if (cfg->cert_file && cfg->cert_file[0]) {
		x->server = ctx_new(true);
		if (!x->server || load_identity(x->server, cfg) < 0)
			goto free_ctx;
		SSL_CTX_set_session_id_context(x->server, sid_ctx, sizeof(sid_ctx) - 1);
		if (cfg->require_client_cert) {
			if (load_trust(x->server, cfg) < 0)
				goto free_ctx;
			SSL_CTX_set_verify(x->server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		}
	} else if (cfg->require_client_cert) {
		cm_log(CM_LOG_ERROR, "sip", "TLS: requiring client certificates needs a server certificate");
		goto free_ctx;
	}
	return x;

free_ctx:
	SSL_CTX_free(x->server);
	SSL_CTX_free(x->client);
free_x:
	free(x);
	return NULL;
}

void sip_tls_free(struct sip_tls *x)
{
	if (!x)
		return;
	while (x->peers) {
		struct tls_peer *p = x->peers;
		x->peers = p->next;
		SSL_SESSION_free(p->sess);
		free(p);
	}
	SSL_CTX_free(x->server);
	SSL_CTX_free(x->client);
	free(x);
}

bool sip_tls_can_serve(const struct sip_tls *x)
{
	return x->server != NULL;
}

static void addr_text(const struct sockaddr_storage *a, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const void *p = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
						 : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
	unsigned port = ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
						       : ((const struct sockaddr_in *)a)->sin_port);

	inet_ntop(a->ss_family, p, ip, sizeof(ip));
	snprintf(out, len, a->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

struct ssl_st *sip_tls_client(struct sip_tls *x, int fd, const struct sockaddr_storage *peer)
{
	struct tls_peer *p = peer_get(x, peer);
	SSL *ssl = p ? SSL_new(x->client) : NULL;
	unsigned char bin[16];

	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_app_data(ssl, p);
	if (p->name[0] && inet_pton(AF_INET, p->name, bin) != 1 && inet_pton(AF_INET6, p->name, bin) != 1) {
		/* a DNS name: SNI (RFC 6066 §3 sends no literal addresses) and the name the certificate must carry */
		SSL_set_tlsext_host_name(ssl, p->name);
		SSL_set1_host(ssl, p->name);
	} else {
		char ip[INET6_ADDRSTRLEN] = "";
		const void *a = peer->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)peer)->sin6_addr
							    : (const void *)&((const struct sockaddr_in *)peer)->sin_addr;
		if (p->name[0])
			cm_strlcpy(ip, p->name, sizeof(ip));
		else
			inet_ntop(peer->ss_family, a, ip, sizeof(ip));
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip);
	}
	if (p->sess)
		SSL_set_session(ssl, p->sess);
	SSL_set_connect_state(ssl);
	return ssl;
}

struct ssl_st *sip_tls_server(struct sip_tls *x, int fd)
{
	SSL *ssl = x->server ? SSL_new(x->server) : NULL;

	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_accept_state(ssl);
	return ssl;
}

void sip_tls_conn_free(struct ssl_st *ssl)
{
	if (!ssl)
		return;
	/* a close_notify if the socket takes it; nothing waits for the peer's */
	if (SSL_is_init_finished(ssl))
		SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
}

int sip_tls_handshake(struct ssl_st *ssl, const struct sockaddr_storage *peer, bool *want_write,
		      struct sip_tcp_stats *st)
{
	int rc = SSL_do_handshake(ssl), e;
	char who[64], why[256];
	long vr;

	*want_write = false;
	if (rc == 1) {
		st->tls_handshakes++;
		if (SSL_session_reused(ssl))
			st->tls_resumed++;
		return 1;
	}
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		*want_write = true;
		return 0;
	}
	addr_text(peer, who, sizeof(who));
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		st->tls_verify_failures++;
		cm_log_rl(&tls_rl, CM_LOG_WARN, "sip", "TLS %s: certificate refused: %s", who,
			  X509_verify_cert_error_string(vr));
		ERR_clear_error();
	} else {
		st->tls_failures++;
		cm_log_rl(&tls_rl, CM_LOG_WARN, "sip", "TLS %s: handshake failed: %s", who,
			  ssl_error(why, sizeof(why), e == SSL_ERROR_SYSCALL ? "connection closed" : "protocol error"));
	}
	return -EPROTO;
}

/* SSL_read / SSL_write with errno-style results: bytes, 0 for a clean close (read), -EAGAIN (with *want_write
 * when the record layer needs the socket writable), or -EIO. */
static ssize_t io_result(struct ssl_st *ssl, int rc, bool *want_write)
{
	int e;

	*want_write = false;
	if (rc > 0)
		return rc;
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return -EAGAIN;
	if (e == SSL_ERROR_WANT_WRITE) {
		*want_write = true;
		return -EAGAIN;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	ERR_clear_error();
	return -EIO;
}

ssize_t sip_tls_read(struct ssl_st *ssl, char *buf, size_t len, bool *want_write)
{
	return io_result(ssl, SSL_read(ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len)), want_write);
}

ssize_t sip_tls_write(struct ssl_st *ssl, const char *buf, size_t len, bool *want_write)
{
	ssize_t n = io_result(ssl, SSL_write(ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len)), want_write);

	return n == 0 ? -EIO : n;
}

bool sip_tls_pending(struct ssl_st *ssl)
{
	return SSL_pending(ssl) > 0;
}
