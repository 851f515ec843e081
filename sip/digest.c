/* Digest authentication for SIP (RFC 2617 §3.2, RFC 7616 §3.4, RFC 8760): the client side (challenge parsing,
 * response computation, the Authorization value) and the server-side check, with OpenSSL EVP digests. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sip/sip_internal.h"

static const struct {
	const char *name;
	bool sess;
} algs[] = {
	[SIP_DIGEST_MD5] = { "MD5", false },
	[SIP_DIGEST_MD5_SESS] = { "MD5-sess", true },
	[SIP_DIGEST_SHA256] = { "SHA-256", false },
	[SIP_DIGEST_SHA256_SESS] = { "SHA-256-sess", true },
	[SIP_DIGEST_SHA512_256] = { "SHA-512-256", false },
	[SIP_DIGEST_SHA512_256_SESS] = { "SHA-512-256-sess", true },
};

const char *sip_digest_alg_name(enum sip_digest_alg a)
{
	return (unsigned)a < sizeof(algs) / sizeof(algs[0]) ? algs[a].name : "?";
}

/* The digests, fetched from the default provider once: EVP_md5() and friends are looked up again on every
 * EVP_DigestInit (OpenSSL 3 "implicit fetch"), which costs more than hashing a few dozen bytes. */
enum { MD_MD5, MD_SHA256, MD_SHA512_256, MD_COUNT };
static const char *const md_names[MD_COUNT] = { "MD5", "SHA2-256", "SHA2-512/256" };
static EVP_MD *md_fetched[MD_COUNT];
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	for (int i = 0; i < MD_COUNT; i++)
		md_fetched[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
}

/* nc as 8 lowercase hex digits (RFC 2617 §3.2.2: nc-value = 8LHEX), NUL-terminated. */
static void put_nc(char *out, uint32_t nc)
{
	for (int i = 7; i >= 0; i--, nc >>= 4)
		out[i] = "0123456789abcdef"[nc & 15];
	out[8] = '\0';
}

static const EVP_MD *alg_md(enum sip_digest_alg a)
{
	int i = a == SIP_DIGEST_MD5 || a == SIP_DIGEST_MD5_SESS	      ? MD_MD5
		: a == SIP_DIGEST_SHA256 || a == SIP_DIGEST_SHA256_SESS ? MD_SHA256
									 : MD_SHA512_256;

	pthread_once(&md_once, md_fetch);
	if (md_fetched[i])
		return md_fetched[i];
	/* not fetchable (a provider configuration without it): the implicit fetch says so the usual way */
	return i == MD_MD5 ? EVP_md5() : i == MD_SHA256 ? EVP_sha256() : EVP_sha512_256();
}

static int alg_from(struct sip_str s, enum sip_digest_alg *a)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (sip_str_caseeq(s, algs[i].name)) {
			*a = (enum sip_digest_alg)i;
			return 0;
		}
	return -ENOTSUP;
}

/* One hash context per thread, reused for every hash (a new one per response cost an allocation and a free);
 * freed with the thread. */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void ctx_key_make(void)
{
	if (pthread_key_create(&ctx_key, ctx_free) != 0)
		ctx_key = (pthread_key_t)-1;
}

static EVP_MD_CTX *thread_ctx(void)
{
	EVP_MD_CTX *ctx;

	pthread_once(&ctx_once, ctx_key_make);
	if (ctx_key == (pthread_key_t)-1)
		return NULL;
	ctx = pthread_getspecific(ctx_key);
	if (!ctx && (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* H(parts joined by ':') as lowercase hex, on the thread's context.  The parts are joined on the stack first
 * when they fit (they do for every SIP digest: the longest is the response's six parts, under 6 × 256 bytes):
 * one EVP_DigestUpdate instead of one per part and separator, each a dispatch through the provider. */
static int hash_hex(enum sip_digest_alg a, const char *const *parts, unsigned n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char joined[6 * SIP_DIGEST_MAX_FIELD + 8];
	size_t len = 0;
	EVP_MD_CTX *ctx = thread_ctx();
	int ok = ctx && EVP_DigestInit_ex2(ctx, alg_md(a), NULL);

	for (unsigned i = 0; ok && i < n; i++) {
		size_t l = strlen(parts[i]);
		if (len + l + 1 > sizeof(joined)) { /* too long to join: what is joined so far, then this part */
			ok = EVP_DigestUpdate(ctx, joined, len) && EVP_DigestUpdate(ctx, parts[i], l);
			len = 0;
		} else {
			memcpy(joined + len, parts[i], l);
			len += l;
		}
		if (ok && i + 1 < n)
			joined[len++] = ':';
	}
	if (ok && len)
		ok = EVP_DigestUpdate(ctx, joined, len);
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, md, &mdlen);
	if (!ok || mdlen * 2 > SIP_DIGEST_HEX_MAX)
		return -EIO;
	for (unsigned i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
	return 0;
}

/* H(method:uri) (A2 for qop=auth or none, RFC 2617 §3.2.2.3), remembered per thread for the last algorithm,
 * method and URI: every REGISTER to one registrar, from every endpoint, hashes the same A2. */
static _Thread_local struct {
	bool valid;
	enum sip_digest_alg alg;
	char method[16];
	char uri[SIP_DIGEST_MAX_FIELD];
	char hex[SIP_DIGEST_HEX_MAX + 1];
} ha2_last;

static int ha2_hex(enum sip_digest_alg alg, const char *method, const char *uri, char *out)
{
	const char *a2[] = { method, uri };
	size_t lm = strlen(method), lu = strlen(uri);

	if (ha2_last.valid && ha2_last.alg == alg && strcmp(ha2_last.method, method) == 0 &&
	    strcmp(ha2_last.uri, uri) == 0) {
		memcpy(out, ha2_last.hex, strlen(ha2_last.hex) + 1);
		return 0;
	}
	if (hash_hex(alg, a2, 2, out) < 0)
		return -EIO;
	if (lm < sizeof(ha2_last.method) && lu < sizeof(ha2_last.uri)) {
		ha2_last.alg = alg;
		memcpy(ha2_last.method, method, lm + 1);
		memcpy(ha2_last.uri, uri, lu + 1);
		memcpy(ha2_last.hex, out, strlen(out) + 1);
		ha2_last.valid = true;
	}
	return 0;
}

int sip_digest_ha1(enum sip_digest_alg alg, const char *username, const char *realm, const char *password,
		   char *out)
{
	const char *a1[] = { username, realm, password };

	if ((unsigned)alg >= sizeof(algs) / sizeof(algs[0]))
		return -ENOTSUP;
	return hash_hex(alg, a1, 3, out);
}

/* The response from H(username:realm:password). */
static int response_from_ha1(enum sip_digest_alg alg, const char *ha1_in, const char *nonce, const char *cnonce,
			     uint32_t nc, const char *qop, const char *method, const char *uri, char *out)
{
	char ha1[SIP_DIGEST_HEX_MAX + 1], ha2[SIP_DIGEST_HEX_MAX + 1], ncs[9];

	if ((unsigned)alg >= sizeof(algs) / sizeof(algs[0]))
		return -ENOTSUP;
	cm_strlcpy(ha1, ha1_in, sizeof(ha1));
	if (algs[alg].sess) {
		/* RFC 7616 §3.4.2: A1 = H(user:realm:password):nonce:cnonce */
		const char *s[] = { ha1_in, nonce, cnonce ? cnonce : "" };
		if (hash_hex(alg, s, 3, ha1) < 0)
			return -EIO;
	}
	if (ha2_hex(alg, method, uri, ha2) < 0)
		return -EIO;
	if (qop) {
		const char *r[] = { ha1, nonce, ncs, cnonce ? cnonce : "", qop, ha2 };
		put_nc(ncs, nc);
		return hash_hex(alg, r, 6, out);
	}
	const char *r[] = { ha1, nonce, ha2 };
	return hash_hex(alg, r, 3, out);
}

int sip_digest_response(enum sip_digest_alg alg, const char *username, const char *realm, const char *password,
			const char *nonce, const char *cnonce, uint32_t nc, const char *qop, const char *method,
			const char *uri, char *out)
{
	char ha1[SIP_DIGEST_HEX_MAX + 1];
	int rc = sip_digest_ha1(alg, username, realm, password, ha1);

	if (rc < 0)
		return rc == -ENOTSUP ? rc : -EIO;
	return response_from_ha1(alg, ha1, nonce, cnonce, nc, qop, method, uri, out);
}

/* Random bytes for cnonces and branches from a per-thread pool filled by one RAND_bytes call: the same CSPRNG
 * output, without paying RAND_bytes' locking and fork check for every 16 bytes.  A forked child starts with an
 * empty pool (it must not reuse what its parent will also hand out). */
#define RND_POOL 4096
static _Thread_local struct {
	unsigned char b[RND_POOL];
	size_t left;
} rnd_pool;
static pthread_once_t rnd_once = PTHREAD_ONCE_INIT;

static void rnd_forget(void)
{
	OPENSSL_cleanse(&rnd_pool, sizeof(rnd_pool));
}

static void rnd_register(void)
{
	pthread_atfork(NULL, NULL, rnd_forget);
}

static int rnd_take(unsigned char *out, size_t n)
{
	pthread_once(&rnd_once, rnd_register);
	if (rnd_pool.left < n) {
		if (RAND_bytes(rnd_pool.b, sizeof(rnd_pool.b)) != 1)
			return -EIO;
		rnd_pool.left = sizeof(rnd_pool.b);
	}
	rnd_pool.left -= n;
	memcpy(out, rnd_pool.b + rnd_pool.left, n);
	OPENSSL_cleanse(rnd_pool.b + rnd_pool.left, n); /* handed out once */
	return 0;
}

int sip_digest_cnonce(char *out, size_t len)
{
	unsigned char rnd[16];
	static const char hex[] = "0123456789abcdef";

	if (len < 33)
		return -ENOSPC;
	if (rnd_take(rnd, sizeof(rnd)) < 0)
		return -EIO;
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

/* The one-time work of the first digest and the first random bytes on this thread — fetching the digests from
 * the provider, the thread's hash context, instantiating OpenSSL's DRBG (self-test and seeding: a few
 * milliseconds) and filling the thread's pool — done when a transport starts instead of inside the first
 * REGISTER or challenge answer it sends.  Failures are left for that first use to report. */
void sip_digest_prepare(void)
{
	pthread_once(&md_once, md_fetch);
	(void)thread_ctx();
	pthread_once(&rnd_once, rnd_register);
	if (rnd_pool.left == 0 && RAND_bytes(rnd_pool.b, sizeof(rnd_pool.b)) == 1)
		rnd_pool.left = sizeof(rnd_pool.b);
}

static int fail(const char **error, int rc, const char *why)
{
	if (error)
		*error = why;
	return rc;
}

static int copy_field(const struct sip_auth *a, const char *name, char *out, const char **error)
{
	struct sip_str v = sip_auth_param(a, name);

	if (!v.p)
		return -ENOENT;
	if (sip_unquote(v, out, SIP_DIGEST_MAX_FIELD) < 0)
		return fail(error, -E2BIG, "digest field longer than SIP_DIGEST_MAX_FIELD");
	return 0;
}

/* Does a comma-separated qop list (qop-options, RFC 2617 §3.2.1) contain "auth"? */
static bool has_qop_auth(struct sip_str v)
{
	const char *p = v.p, *end = v.p + v.len;

	while (p < end) {
		const char *q;
		p = sip_skip_lws(p, end);
		for (q = p; q < end && *q != ','; q++)
			;
		if (sip_str_caseeq(sip_trim((struct sip_str){ p, (size_t)(q - p) }), "auth"))
			return true;
		p = q + 1;
	}
	return false;
}

int sip_digest_parse_challenge(struct sip_str value, bool proxy, struct sip_challenge *c, const char **error)
{
	struct sip_auth a;
	struct sip_str v;
	int rc;

	memset(c, 0, sizeof(*c));
	c->proxy = proxy;
	rc = sip_parse_auth(value, &a, error);
	if (rc < 0)
		return rc;
	if (!sip_str_caseeq(a.scheme, "Digest"))
		return fail(error, -ENOTSUP, "challenge scheme is not Digest");
	v = sip_auth_param(&a, "algorithm");
	if (v.p && alg_from(v, &c->alg) < 0)
		return fail(error, -ENOTSUP, "unsupported digest algorithm");
	rc = copy_field(&a, "realm", c->realm, error);
	if (rc == -ENOENT)
		return fail(error, -EINVAL, "digest challenge without realm");
	if (rc < 0)
		return rc;
	rc = copy_field(&a, "nonce", c->nonce, error);
	if (rc == -ENOENT || (rc == 0 && c->nonce[0] == '\0'))
		return fail(error, -EINVAL, "digest challenge without nonce");
	if (rc < 0)
		return rc;
	rc = copy_field(&a, "opaque", c->opaque, error);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	c->has_opaque = rc == 0;
	v = sip_auth_param(&a, "qop");
	if (v.p) {
		c->qop_auth = has_qop_auth(v);
		if (!c->qop_auth)
			return fail(error, -ENOTSUP, "digest challenge offers only qop values other than auth");
	}
	v = sip_auth_param(&a, "stale");
	c->stale = v.p && sip_str_caseeq(v, "true");
	return 0;
}

int sip_digest_challenge_from_msg(const struct sip_msg *resp, struct sip_challenge *c, const char **error)
{
	enum sip_hdr_id id = resp->status == 407 ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE;
	const char *why = "no digest challenge in the response";

	if (resp->is_request || (resp->status != 401 && resp->status != 407))
		return fail(error, -ENOENT, "not a 401 or 407 response");
	for (const struct sip_hdr *h = sip_msg_hdr(resp, id); h; h = sip_msg_next_hdr(resp, h)) {
		int rc = sip_digest_parse_challenge(h->value, id == SIP_HDR_PROXY_AUTHENTICATE, c, &why);
		if (rc == 0)
			return 0;
	}
	return fail(error, -ENOENT, why);
}

int sip_digest_authorization_ha1(const struct sip_challenge *c, const char *ha1, const char *username,
				 const char *method, const char *uri, const char *cnonce, uint32_t nc, char *out,
				 size_t outlen)
{
	char resp[SIP_DIGEST_HEX_MAX + 1], ncs[9];
	struct sip_builder b = { .buf = out, .cap = outlen ? outlen - 1 : 0 };

	if (response_from_ha1(c->alg, ha1, c->nonce, cnonce, nc, c->qop_auth ? "auth" : NULL, method, uri, resp) < 0)
		return -EIO;
	/* realm, nonce and opaque go back exactly as received; they came unquoted, so quote them again */
	sip_build_lit(&b, "Digest username=\"");
	sip_build_cstr(&b, username);
	sip_build_lit(&b, "\", realm=\"");
	sip_build_cstr(&b, c->realm);
	sip_build_lit(&b, "\", nonce=\"");
	sip_build_cstr(&b, c->nonce);
	sip_build_lit(&b, "\", uri=\"");
	sip_build_cstr(&b, uri);
	sip_build_lit(&b, "\", response=\"");
	sip_build_cstr(&b, resp);
	sip_build_lit(&b, "\", algorithm=");
	sip_build_cstr(&b, sip_digest_alg_name(c->alg));
	if (c->qop_auth) {
		put_nc(ncs, nc);
		sip_build_lit(&b, ", qop=auth, nc=");
		sip_build_put(&b, ncs, 8);
		sip_build_lit(&b, ", cnonce=\"");
		sip_build_cstr(&b, cnonce);
		sip_build_lit(&b, "\"");
	} else if (algs[c->alg].sess) {
		/* -sess hashes the cnonce into A1, so the server needs it even without qop */
		sip_build_lit(&b, ", cnonce=\"");
		sip_build_cstr(&b, cnonce);
		sip_build_lit(&b, "\"");
	}
	if (c->has_opaque) {
		sip_build_lit(&b, ", opaque=\"");
		sip_build_cstr(&b, c->opaque);
		sip_build_lit(&b, "\"");
	}
	if (b.overflow)
		return -ENOSPC;
	out[b.len] = '\0';
	return (int)b.len;
}

int sip_digest_authorization(const struct sip_challenge *c, const char *username, const char *password,
			     const char *method, const char *uri, const char *cnonce, uint32_t nc, char *out,
			     size_t outlen)
{
	char ha1[SIP_DIGEST_HEX_MAX + 1];

	if (sip_digest_ha1(c->alg, username, c->realm, password, ha1) < 0)
		return -EIO;
	return sip_digest_authorization_ha1(c, ha1, username, method, uri, cnonce, nc, out, outlen);
}

int sip_digest_verify(const struct sip_auth *cred, const char *method, const char *password, const char **error)
{
	char user[SIP_DIGEST_MAX_FIELD], realm[SIP_DIGEST_MAX_FIELD], nonce[SIP_DIGEST_MAX_FIELD];
	char uri[SIP_DIGEST_MAX_FIELD], cnonce[SIP_DIGEST_MAX_FIELD], given[SIP_DIGEST_MAX_FIELD];
	char qop[16], ncs[16], want[SIP_DIGEST_HEX_MAX + 1];
	enum sip_digest_alg alg = SIP_DIGEST_MD5;
	struct sip_str v = sip_auth_param(cred, "algorithm");
	bool has_qop;
	uint32_t nc = 0;

	if (!sip_str_caseeq(cred->scheme, "Digest"))
		return fail(error, -ENOTSUP, "credentials scheme is not Digest");
	if (v.p && alg_from(v, &alg) < 0)
		return fail(error, -ENOTSUP, "unsupported digest algorithm");
	if (copy_field(cred, "username", user, error) || copy_field(cred, "realm", realm, error) ||
	    copy_field(cred, "nonce", nonce, error) || copy_field(cred, "uri", uri, error) ||
	    copy_field(cred, "response", given, error))
		return fail(error, -EINVAL, "digest credentials missing a field");
	v = sip_auth_param(cred, "qop");
	has_qop = v.p != NULL;
	if (has_qop) {
		if (!sip_str_caseeq(v, "auth"))
			return fail(error, -ENOTSUP, "qop other than auth");
		snprintf(qop, sizeof(qop), "auth");
		v = sip_auth_param(cred, "nc");
		if (!v.p || v.len != 8 || sip_unquote(v, ncs, sizeof(ncs)) != 8)
			return fail(error, -EINVAL, "digest nc is not 8 hex digits");
		for (int i = 0; i < 8; i++) {
			if (!sip_is_hex((unsigned char)ncs[i]))
				return fail(error, -EINVAL, "digest nc is not 8 hex digits");
			nc = nc * 16 + (uint32_t)(sip_is_digit((unsigned char)ncs[i]) ? ncs[i] - '0'
										: (ncs[i] | 0x20) - 'a' + 10);
		}
	}
	if ((has_qop || algs[alg].sess) && copy_field(cred, "cnonce", cnonce, error))
		return fail(error, -EINVAL, "digest credentials without the cnonce qop or -sess needs");
	if (sip_digest_response(alg, user, realm, password, nonce, (has_qop || algs[alg].sess) ? cnonce : NULL, nc,
				has_qop ? qop : NULL, method, uri, want) < 0)
		return fail(error, -EIO, "digest computation failed");
	if (strlen(given) != strlen(want) || CRYPTO_memcmp(given, want, strlen(want)) != 0)
		return fail(error, -EACCES, "digest response does not match");
	return 0;
}
