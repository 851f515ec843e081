/* Digest authentication: the RFC 2617 §3.5 and RFC 7616 §3.9.1 example responses; SHA-512-256, MD5-sess,
 * SHA-512-256-sess and qop-less vectors (computed independently with Python's hashlib); challenge parsing from
 * real 401/407 responses (algorithm choice, stale, qop lists, opaque); the Authorization value we write,
 * parsed back and verified server-side; wrong passwords and malformed challenges refused. */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "sip/sip.h"
#include "check_main.h"

static const struct {
	enum sip_digest_alg alg;
	const char *user, *realm, *pass, *nonce, *cnonce;
	uint32_t nc;
	const char *qop, *method, *uri, *expect;
} vectors[] = {
	/* RFC 2617 §3.5 */
	{ SIP_DIGEST_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
	  "0a4f113b", 1, "auth", "GET", "/dir/index.html", "6629fae49393a05397450978507c4ef1" },
	/* RFC 7616 §3.9.1, MD5 and SHA-256 */
	{ SIP_DIGEST_MD5, "Mufasa", "http-auth@example.org", "Circle of Life",
	  "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 1, "auth",
	  "GET", "/dir/index.html", "8ca523f5e9506fed4657c9700eebdbec" },
	{ SIP_DIGEST_SHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
	  "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 1, "auth",
	  "GET", "/dir/index.html", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1" },
	/* the same inputs with SHA-512-256 (RFC 8760), cross-checked with hashlib.new("sha512_256") */
	{ SIP_DIGEST_SHA512_256, "Mufasa", "http-auth@example.org", "Circle of Life",
	  "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 1, "auth",
	  "GET", "/dir/index.html", "430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0" },
	{ SIP_DIGEST_MD5_SESS, "Mufasa", "testrealm@host.com", "Circle Of Life", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
	  "0a4f113b", 1, "auth", "GET", "/dir/index.html", "8e3825c57e897f5a0dec6c2d4e5059d0" },
	{ SIP_DIGEST_SHA512_256_SESS, "Mufasa", "http-auth@example.org", "Circle of Life",
	  "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 2, "auth",
	  "INVITE", "sip:bob@biloxi.example.com", "2e17507e5750f31cd675f5d4fe83f10a23fb6f09f0305180950ea918e9281eeb" },
	/* RFC 2069 style, no qop (still common on SIP registrars) */
	{ SIP_DIGEST_MD5, "alice", "atlanta.com", "secret", "abc123", NULL, 0, NULL, "REGISTER", "sip:atlanta.com",
	  "73911d626f4c576c44172b876078273b" },
};

START_TEST(response_vectors)
{
	char out[SIP_DIGEST_HEX_MAX + 1];

	ck_assert_int_eq(sip_digest_response(vectors[_i].alg, vectors[_i].user, vectors[_i].realm, vectors[_i].pass,
					     vectors[_i].nonce, vectors[_i].cnonce, vectors[_i].nc, vectors[_i].qop,
					     vectors[_i].method, vectors[_i].uri, out),
			 0);
	ck_assert_str_eq(out, vectors[_i].expect);
}
END_TEST

/* Every ordered pair of vectors one after the other in one process: the A2 hash remembered from the previous
 * response (same algorithm, method and URI: reused; any of them different — MD5 GET then MD5 REGISTER, say —
 * computed again) never leaks into the next one. */
static void check_vector(size_t i, size_t after)
{
	char out[SIP_DIGEST_HEX_MAX + 1];

	ck_assert_int_eq(sip_digest_response(vectors[i].alg, vectors[i].user, vectors[i].realm, vectors[i].pass,
					     vectors[i].nonce, vectors[i].cnonce, vectors[i].nc, vectors[i].qop,
					     vectors[i].method, vectors[i].uri, out),
			 0);
	ck_assert_msg(strcmp(out, vectors[i].expect) == 0, "vector %zu after vector %zu: %s", i, after, out);
}

START_TEST(response_vectors_in_turn)
{
	const size_t n = sizeof(vectors) / sizeof(vectors[0]);

	size_t prev = n - 1;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			check_vector(i, prev);
			check_vector(j, i);
			prev = j;
		}
}
END_TEST

static struct sip_msg msg;

static int parse(const char *text)
{
	return sip_msg_parse(&msg, text, strlen(text));
}

#define RESP_HEAD(code) "SIP/2.0 " code "\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n" \
	"From: <sip:alice@atlanta.com>;tag=1\r\nTo: <sip:alice@atlanta.com>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"

/* RFC 8760 §2.4: the first challenge whose algorithm we support wins; an unknown one is skipped. */
START_TEST(challenge_from_401)
{
	struct sip_challenge c;
	const char *why = NULL;

	ck_assert_int_eq(parse(RESP_HEAD("401 Unauthorized")
			       "WWW-Authenticate: Digest realm=\"atlanta.com\", algorithm=SHA-999, nonce=\"x\"\r\n"
			       "WWW-Authenticate: Digest realm=\"atlanta.com\",\r\n qop=\"auth-int, auth\", "
			       "algorithm=SHA-512-256, nonce=\"n\\\"1\", opaque=\"op\", stale=TRUE\r\n"
			       "WWW-Authenticate: Digest realm=\"atlanta.com\", algorithm=MD5, nonce=\"n2\"\r\n"
			       "Content-Length: 0\r\n\r\n"),
			 0);
	ck_assert_int_eq(sip_digest_challenge_from_msg(&msg, &c, &why), 0);
	ck_assert(!c.proxy);
	ck_assert_int_eq(c.alg, SIP_DIGEST_SHA512_256);
	ck_assert_str_eq(c.realm, "atlanta.com");
	ck_assert_str_eq(c.nonce, "n\"1");
	ck_assert_str_eq(c.opaque, "op");
	ck_assert(c.has_opaque);
	ck_assert(c.qop_auth);
	ck_assert(c.stale);
}
END_TEST

START_TEST(challenge_from_407)
{
	struct sip_challenge c;
	const char *why = NULL;

	ck_assert_int_eq(parse(RESP_HEAD("407 Proxy Authentication Required")
			       "WWW-Authenticate: Digest realm=\"wrong.example\", nonce=\"w\"\r\n"
			       "Proxy-Authenticate: Digest realm=\"biloxi.com\", nonce=\"abc\"\r\n"
			       "Content-Length: 0\r\n\r\n"),
			 0);
	ck_assert_int_eq(sip_digest_challenge_from_msg(&msg, &c, &why), 0);
	ck_assert(c.proxy);
	ck_assert_int_eq(c.alg, SIP_DIGEST_MD5); /* the default */
	ck_assert_str_eq(c.realm, "biloxi.com");
	ck_assert(!c.qop_auth);
	ck_assert(!c.stale);
	ck_assert(!c.has_opaque);

	ck_assert_int_eq(parse(RESP_HEAD("200 OK") "Content-Length: 0\r\n\r\n"), 0);
	ck_assert_int_eq(sip_digest_challenge_from_msg(&msg, &c, &why), -ENOENT);
	ck_assert_int_eq(parse(RESP_HEAD("401 Unauthorized")
			       "WWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n"),
			 0);
	ck_assert_int_eq(sip_digest_challenge_from_msg(&msg, &c, &why), -ENOENT);
	ck_assert_str_eq(why, "challenge scheme is not Digest");
}
END_TEST

static const struct {
	const char *value;
	int rc;
	const char *reason;
} bad_challenges[] = {
	{ "Digest nonce=\"n\"", -EINVAL, "without realm" },
	{ "Digest realm=\"r\"", -EINVAL, "without nonce" },
	{ "Digest realm=\"r\", nonce=\"\"", -EINVAL, "without nonce" },
	{ "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-1", -ENOTSUP, "unsupported digest algorithm" },
	{ "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"", -ENOTSUP, "qop" },
	{ "Digest realm=\"r, nonce=\"n\"", -EINVAL, "" },
	{ "Digest realm=\"r\" nonce=\"n\"", -EINVAL, "separated" },
	{ "Digest realm=\"r\", nonce=\"n\",", -EINVAL, "trailing" },
};

START_TEST(challenge_rejects)
{
	struct sip_challenge c;
	const char *why = NULL;
	const char *v = bad_challenges[_i].value;

	ck_assert_int_eq(sip_digest_parse_challenge((struct sip_str){ v, strlen(v) }, false, &c, &why),
			 bad_challenges[_i].rc);
	ck_assert_msg(why && strstr(why, bad_challenges[_i].reason), "%s: %s", v, why);
}
END_TEST

/* The value we write parses as credentials, and the server-side check accepts it with the right password
 * and refuses it with a wrong one; each algorithm, with and without qop. */
START_TEST(authorization_round_trip)
{
	static const enum sip_digest_alg all[] = { SIP_DIGEST_MD5, SIP_DIGEST_MD5_SESS, SIP_DIGEST_SHA256,
						   SIP_DIGEST_SHA256_SESS, SIP_DIGEST_SHA512_256,
						   SIP_DIGEST_SHA512_256_SESS };
	struct sip_challenge c = { .realm = "biloxi.com", .nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093",
				   .opaque = "5ccc069c403ebaf9f0171e9517f40e41", .has_opaque = true };
	char value[1024], cnonce[33];
	struct sip_auth cred;
	const char *why;

	ck_assert_int_eq(sip_digest_cnonce(cnonce, sizeof(cnonce)), 0);
	ck_assert_uint_eq(strlen(cnonce), 32);
	for (size_t i = 0; i < CM_ARRAY_SIZE(all); i++)
		for (int qop = 0; qop < 2; qop++) {
			int n;

			c.alg = all[i];
			c.qop_auth = qop;
			n = sip_digest_authorization(&c, "bob", "zanzibar", "INVITE", "sip:bob@biloxi.com", cnonce,
						     3, value, sizeof(value));
			ck_assert_int_gt(n, 0);
			ck_assert_int_eq(sip_parse_auth((struct sip_str){ value, (size_t)n }, &cred, &why), 0);
			ck_assert(sip_str_eq(sip_auth_param(&cred, "algorithm"), sip_digest_alg_name(all[i])));
			ck_assert(sip_str_eq(sip_auth_param(&cred, "opaque"), "5ccc069c403ebaf9f0171e9517f40e41"));
			if (qop)
				ck_assert(sip_str_eq(sip_auth_param(&cred, "nc"), "00000003"));
			else
				ck_assert_ptr_null(sip_auth_param(&cred, "nc").p);
			ck_assert_msg(sip_digest_verify(&cred, "INVITE", "zanzibar", &why) == 0, "%s: %s", value, why);
			ck_assert_int_eq(sip_digest_verify(&cred, "INVITE", "zanzibaR", &why), -EACCES);
			ck_assert_int_eq(sip_digest_verify(&cred, "BYE", "zanzibar", &why), -EACCES);
		}
	ck_assert_int_eq(sip_digest_authorization(&c, "bob", "zanzibar", "INVITE", "sip:bob@biloxi.com", cnonce, 1,
						  value, 64),
			 -ENOSPC);
}
END_TEST

/* RFC 2617 §3.5's Authorization header verifies against the password, and the 401 → Authorization path
 * produces exactly its response value. */
START_TEST(rfc2617_header_verifies)
{
	static const char hdr[] = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
				  "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, "
				  "nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", "
				  "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
	static const char chal[] = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
				   "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
				   "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
	struct sip_auth cred;
	struct sip_challenge c;
	const char *why;
	char value[512];

	ck_assert_int_eq(sip_parse_auth((struct sip_str){ hdr, sizeof(hdr) - 1 }, &cred, &why), 0);
	ck_assert_int_eq(sip_digest_verify(&cred, "GET", "Circle Of Life", &why), 0);
	ck_assert_int_eq(sip_digest_parse_challenge((struct sip_str){ chal, sizeof(chal) - 1 }, false, &c, &why), 0);
	ck_assert_int_gt(sip_digest_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html",
						  "0a4f113b", 1, value, sizeof(value)),
			 0);
	ck_assert_msg(strstr(value, "response=\"6629fae49393a05397450978507c4ef1\""), "%s", value);
	ck_assert_msg(strstr(value, "qop=auth, nc=00000001, cnonce=\"0a4f113b\""), "%s", value);
}
END_TEST

static Suite *digest_suite(void)
{
	Suite *s = suite_create("sip_digest");
	TCase *tc = tcase_create("digest");

	tcase_add_loop_test(tc, response_vectors, 0, (int)CM_ARRAY_SIZE(vectors));
	tcase_add_test(tc, response_vectors_in_turn);
	tcase_add_test(tc, challenge_from_401);
	tcase_add_test(tc, challenge_from_407);
	tcase_add_loop_test(tc, challenge_rejects, 0, (int)CM_ARRAY_SIZE(bad_challenges));
	tcase_add_test(tc, authorization_round_trip);
	tcase_add_test(tc, rfc2617_header_verifies);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(digest_suite());
}
