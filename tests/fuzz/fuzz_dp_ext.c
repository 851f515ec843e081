/* libFuzzer target for the RFC 8285 header extension reader (the one-byte form carrying the TX time): any RTP
 * packet is searched without reading outside it; a packet built with the extension finds it again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	uint64_t ntp;

	if (!p)
		return 0;
	memcpy(p, data, size);
	for (uint8_t id = 1; id <= 14; id++)
		(void)dp_ext_find_txtime(p, (uint32_t)size, id, &ntp);
	free(p);

	if (size >= 9) {
		uint8_t pkt[DP_RTP_HLEN + DP_EXT_TXTIME_LEN + 16] = { 0x90 }, id = (uint8_t)(1 + data[0] % 14);
		uint64_t want;

		memcpy(&want, data + 1, 8);
		dp_ext_txtime(pkt + DP_RTP_HLEN, id, want);
		if (!dp_ext_find_txtime(pkt, sizeof(pkt), id, &ntp) || ntp != want)
			abort(); /* our own element must be found */
		if (dp_ext_find_txtime(pkt, sizeof(pkt), (uint8_t)(id % 14 + 1), &ntp))
			abort(); /* and no other id */
	}
	return 0;
}
