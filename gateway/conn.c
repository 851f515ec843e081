/* One non-blocking TLS connection carrying gateway frames, used by both ends.  OpenSSL does the handshake lazily
 * (SSL_write/SSL_read drive it), so a client can queue its hello at once.  Reading always continues until
 * OpenSSL says WANT_READ: plaintext buffered inside OpenSSL would otherwise never wake epoll again. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "gateway/gateway.h"

static void ssl_reason(char *why, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(why, len, "%s: %s", what, buf);
	} else {
		snprintf(why, len, "%s", what);
	}
	ERR_clear_error();
}

SSL_CTX *gw_tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		ssl_reason(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "cannot load certificate chain '%s'", cert);
		ssl_reason(err, errlen, what);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "cannot load private key '%s'", key);
		ssl_reason(err, errlen, what);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(err, errlen, "the private key does not match the certificate");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *gw_tls_client_ctx(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		ssl_reason(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file && ca_file[0]) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			char what[600];
			snprintf(what, sizeof(what), "cannot load CA bundle '%s'", ca_file);
			ssl_reason(err, errlen, what);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_reason(err, errlen, "cannot load the system certificate store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int gw_conn_init(struct gw_conn *c, SSL_CTX *ctx, int fd, bool server, const char *server_name)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	gw_proto_reader_init(&c->rd);
	c->ssl = SSL_new(ctx);
	if (!c->ssl)
		goto fail;
	if (SSL_set_fd(c->ssl, fd) != 1)
		goto free_ssl;
	if (server) {
		SSL_set_accept_state(c->ssl);
	} else {
		struct in6_addr a6;
		struct in_addr a4;
		bool ip = inet_pton(AF_INET, server_name, &a4) == 1 || inet_pton(AF_INET6, server_name, &a6) == 1;

		SSL_set_connect_state(c->ssl);
		if (ip) {
			/* RFC 6066: SNI carries host names only; an address is checked against the IP SANs. */
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), server_name) != 1)
				goto free_ssl;
		} else {
			if (SSL_set_tlsext_host_name(c->ssl, server_name) != 1 || SSL_set1_host(c->ssl, server_name) != 1)
				goto free_ssl;
			SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		}
	}
	c->events = EPOLLIN;
	return 0;
free_ssl:
	SSL_free(c->ssl);
	c->ssl = NULL;
fail:
	ERR_clear_error();
	close(fd);
	c->fd = -1;
	return -ENOMEM;
}

void gw_conn_close(struct gw_conn *c)
{
	if (c->ssl) {
		if (c->established) {
			SSL_shutdown(c->ssl); /* best effort close_notify; never waits */
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	gw_proto_reader_free(&c->rd);
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
}

int gw_conn_send(struct gw_conn *c, const uint8_t *frame, size_t len)
{
	size_t pending = c->out_len - c->out_off;

	if (pending + len > GW_CONN_OUT_MAX)
		return -ENOBUFS;
	if (c->out_off && c->out_len + len > c->out_cap) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_len = pending;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *n;

		while (cap < c->out_len + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, frame, len);
	c->out_len += len;
	c->frames_out++;
	return 0;
}

int gw_conn_send_enc(struct gw_conn *c, struct gw_enc *e)
{
	int rc = gw_enc_finish(e);

	if (rc == 0)
		rc = gw_conn_send(c, (const uint8_t *)e->sb.data, e->sb.size);
	gw_enc_free(e);
	return rc;
}

/* A failed handshake or I/O: say why in words an operator can act on. */
static int io_error(struct gw_conn *c, int ret, char *why, size_t whylen)
{
	int e = SSL_get_error(c->ssl, ret);
	long vr;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->want_write = false;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want_write = true;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(why, whylen, "peer closed the session");
		return 1;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (ERR_peek_error() == 0) {
			snprintf(why, whylen, "%s", errno && ret < 0 ? strerror(errno) : "connection closed by peer");
			ERR_clear_error();
			return errno && ret < 0 ? -errno : 1;
		}
		ssl_reason(why, whylen, "TLS error");
		return -EPROTO;
	default:
		if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			snprintf(why, whylen, "connection closed by the peer without a TLS close_notify");
			ERR_clear_error();
			return c->established ? 1 : -ECONNRESET;
		}
		vr = SSL_get_verify_result(c->ssl);
		if (!c->established && vr != X509_V_OK) {
			snprintf(why, whylen, "TLS handshake failed: server certificate not trusted: %s",
				 X509_verify_cert_error_string(vr));
			ERR_clear_error();
			return -EPERM;
		}
		ssl_reason(why, whylen, c->established ? "TLS error" : "TLS handshake failed");
		return -EPROTO;
	}
}

static int flush_out(struct gw_conn *c, char *why, size_t whylen)
{
	while (c->out_off < c->out_len) {
		int n, rc;

		ERR_clear_error();
		n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
		if (n <= 0) {
			rc = io_error(c, n, why, whylen);
			if (rc == 1)
				return -EPIPE;
			return rc;
		}
		c->out_off += (size_t)n;
		c->bytes_out += (size_t)n;
		c->want_write = false;
	}
	c->out_off = c->out_len = 0;
	if (c->out_cap > 256 * 1024) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

static int read_in(struct gw_conn *c, gw_msg_cb cb, void *arg, char *why, size_t whylen)
{
	uint8_t buf[16384];

	while (!c->closing) {
		int n, rc;
		size_t off = 0;

		ERR_clear_error();
		n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n <= 0)
			return io_error(c, n, why, whylen);
		c->bytes_in += (size_t)n;
		while (off < (size_t)n && !c->closing) {
			size_t used = 0;
			struct gw_msg m;
			char err[160];

			rc = gw_proto_reader_feed(&c->rd, buf + off, (size_t)n - off, &used);
			off += used;
			if (rc == -EMSGSIZE) {
				snprintf(why, whylen, "protocol error: frame longer than %u bytes",
					 c->rd.limit ? c->rd.limit : GW_PROTO_MAX_FRAME);
				return -EPROTO;
			}
			if (rc < 0) {
				snprintf(why, whylen, "protocol error: %s", rc == -EBADMSG ? "empty frame" : strerror(-rc));
				return -EPROTO;
			}
			if (rc == GW_PROTO_AGAIN)
				break;
			if (gw_msg_decode(&m, c->rd.buf, c->rd.need, err, sizeof(err)) < 0) {
				snprintf(why, whylen, "protocol error: %s", err);
				return -EPROTO;
			}
			c->frames_in++;
			rc = cb(arg, &m);
			gw_msg_free(&m);
			if (rc < 0) {
				if (!why[0])
					snprintf(why, whylen, "protocol error: bad '%s' message", m.t);
				return rc;
			}
		}
	}
	return 0;
}

int gw_conn_io(struct gw_conn *c, gw_msg_cb cb, void *arg, char *why, size_t whylen)
{
	int rc;

	why[0] = '\0';
	if (!c->established) {
		ERR_clear_error();
		rc = SSL_do_handshake(c->ssl);
		if (rc != 1) {
			rc = io_error(c, rc, why, whylen);
			if (rc == 1) {
				snprintf(why, whylen, "connection closed during the TLS handshake");
				return -ECONNRESET;
			}
			return rc;
		}
		c->established = true;
	}
	rc = flush_out(c, why, whylen);
	if (rc < 0)
		return rc;
	if (!c->closing) {
		rc = read_in(c, cb, arg, why, whylen);
		if (rc != 0)
			return rc;
		/* a callback may have queued replies */
		rc = flush_out(c, why, whylen);
		if (rc < 0)
			return rc;
	}
	if (c->closing && c->out_off == c->out_len)
		return 1;
	return 0;
}

uint32_t gw_conn_wanted(const struct gw_conn *c)
{
	uint32_t ev = EPOLLIN;

	if (c->want_write || c->out_off < c->out_len)
		ev |= EPOLLOUT;
	return ev;
}
