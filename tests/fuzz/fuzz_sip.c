/* libFuzzer target for the SIP message parser: whole-message parse and validation, every typed header parser
 * on every header value (digest challenges and credentials included), comma splitting, and stream framing of
 * the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

static struct sip_msg msg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes so ASan catches any read past the end. */
	char *buf = malloc(size ? size : 1);
	struct sip_framer f;
	size_t mlen;
	const char *why;

	memcpy(buf, data, size);
	if (sip_msg_parse(&msg, buf, size) == 0) {
		(void)sip_msg_validate(&msg);
		for (unsigned i = 0; i < msg.nhdrs; i++) {
			struct sip_str v = msg.hdrs[i].value, rest = v, elem;
			struct sip_addr a;
			struct sip_via via;
			struct sip_cseq cs;
			struct sip_auth au;
			struct sip_challenge ch;
			struct sip_str pv;
			uint32_t u;
			char out[256];

			while (sip_next_value(&rest, &elem) > 0) {
				(void)sip_parse_via(elem, &via, &why);
				if (sip_parse_addr(elem, &a, &why) == 0)
					(void)sip_param_get(a.params, "expires", &pv);
			}
			(void)sip_parse_cseq(v, &cs, &why);
			(void)sip_parse_uint(v, SIP_MAX_EXPIRES, &u, &why);
			if (sip_parse_auth(v, &au, &why) == 0) {
				for (unsigned k = 0; k < au.nparams; k++)
					(void)sip_unquote(au.params[k].value, out, sizeof(out));
				(void)sip_digest_verify(&au, "REGISTER", "secret", &why);
			}
			(void)sip_digest_parse_challenge(v, false, &ch, &why);
		}
	}
	sip_framer_reset(&f);
	(void)sip_frame(&f, buf, size / 2, &mlen);
	(void)sip_frame(&f, buf, size, &mlen);
	free(buf);
	return 0;
}
