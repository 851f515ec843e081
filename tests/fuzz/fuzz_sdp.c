/* libFuzzer target for the SDP parser and the offer/answer code driven by whatever parsed: an answer is built
 * for every parsed description and, if that works, parsed back (it must parse) and accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

static struct sdp_session offer, answer;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sdp_codec codecs[] = {
		{ .name = "PCMU", .clock_rate = 8000, .pt = 0 },
		{ .name = "opus", .clock_rate = 48000, .channels = 2, .pt = 96 },
	};
	struct sdp_local l = { .addr = "192.0.2.1", .port = 4000, .codecs = codecs, .ncodecs = 2, .dtmf_pt = 101,
			       .dir = SDP_SENDRECV, .rtcp_mux = true, .crypto_suite = "AES_CM_128_HMAC_SHA1_80",
			       .crypto_key = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR" };
	struct sdp_negotiated neg;
	enum sdp_neg why;
	char *buf = malloc(size ? size : 1), out[4096];
	int n;

	memcpy(buf, data, size);
	if (sdp_parse(&offer, buf, size) == 0) {
		n = sdp_build_answer(&offer, &l, out, sizeof(out), &neg, &why);
		if (n > 0) {
			if (sdp_parse(&answer, out, (size_t)n) != 0)
				abort(); /* our own answer must parse */
			(void)sdp_accept_answer(&l, &answer, &neg, &why);
		}
		(void)sdp_accept_answer(&l, &offer, &neg, &why);
	}
	free(buf);
	return 0;
}
