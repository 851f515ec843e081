/* SDES-SRTP (RFC 4568) keys → libsrtp2 sessions, for the lcores (engine.c) and for passive analysis
 * (analyze.c): one place that knows the suites and how their keys are written. */
#include <string.h>

#include <openssl/evp.h>
#include <srtp2/srtp.h>

#include "dataplane/dataplane_internal.h"

struct srtp_ctx_t_ *dp_srtp_session(const uint8_t *key, uint8_t suite, bool inbound, unsigned window)
{
	srtp_policy_t pol;
	srtp_t s = NULL;

	memset(&pol, 0, sizeof(pol));
	/* RFC 4568 §6.2: the _32 suite has a 32-bit SRTP tag; SRTCP always carries 80 bits. */
	if (suite == DP_SRTP_AES_CM_128_HMAC_SHA1_32)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
	else if (suite == DP_SRTP_AES_CM_128_HMAC_SHA1_80)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	else
		return NULL;
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.key = (unsigned char *)(uintptr_t)key;
	pol.window_size = window;
	if (srtp_create(&s, &pol) != srtp_err_status_ok)
		return NULL;
	return s;
}

uint8_t dp_srtp_suite_from_name(const char *name, size_t len)
{
	static const struct {
		const char *name;
		uint8_t suite;
	} suites[] = {
		{ "AES_CM_128_HMAC_SHA1_80", DP_SRTP_AES_CM_128_HMAC_SHA1_80 },
		{ "AES_CM_128_HMAC_SHA1_32", DP_SRTP_AES_CM_128_HMAC_SHA1_32 },
	};

	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strlen(suites[i].name) == len && memcmp(suites[i].name, name, len) == 0)
			return suites[i].suite;
	return 0;
}

bool dp_srtp_key_from_b64(const char *b64, size_t len, uint8_t key[DP_SRTP_KEY_LEN])
{
	char in[DP_SRTP_B64_LEN + 1];
	unsigned char out[DP_SRTP_B64_LEN];

	/* 30 bytes are 40 characters with no padding; EVP_DecodeBlock would count padding in anyway. */
	if (len != DP_SRTP_B64_LEN)
		return false;
	memcpy(in, b64, len);
	in[len] = '\0';
	if (strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != len ||
	    EVP_DecodeBlock(out, (const unsigned char *)in, (int)len) != DP_SRTP_B64_LEN * 3 / 4)
		return false;
	memcpy(key, out, DP_SRTP_KEY_LEN);
	return true;
}
