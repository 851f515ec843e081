/* libFuzzer target for the dataplane's packet parser (Ethernet [802.1Q] IPv4 UDP RTP), with and without
 * checksum verification, and the per-flow RX analysis fed by whatever parsed: every pointer the parser returns
 * must lie inside the frame, and the sequence/jitter arithmetic must stay defined for any header values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dp_rx_stats st;
static uint64_t arrival;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *f = malloc(size ? size : 1); /* exact size: ASan sees any read past the frame */
	struct dp_pkt pk;
	struct dp_rx_report rep;

	if (!f)
		return 0;
	memcpy(f, data, size);
	for (int verify = 0; verify < 2; verify++) {
		enum dp_drop_reason r = dp_parse(f, (uint32_t)size, verify, &pk);

		if (r >= DP_DROP__COUNT || !dp_drop_name(r) || (r != DP_DROP_NONE && !dp_drop_text(r)))
			abort();
		if (r != DP_DROP_NONE)
			continue;
		if (pk.udp_payload < f || pk.udp_payload + pk.udp_len > f + size || pk.payload < pk.udp_payload ||
		    pk.payload + pk.payload_len > pk.udp_payload + pk.udp_len)
			abort(); /* parsed fields point outside the packet */
		if (!verify) {
			uint64_t txt;

			if (!st.clock_rate || pk.ssrc % 7 == 0)
				dp_rx_init(&st, pk.ssrc % 3 ? 8000 : 0);
			arrival += (uint64_t)pk.ts * 1000u;
			dp_rx_packet(&st, pk.seq, pk.ts, pk.ssrc, arrival, pk.udp_len);
			dp_rx_report(&st, 20.0, &rep);
			(void)dp_ext_find_txtime(pk.udp_payload, pk.udp_len, (uint8_t)(1 + pk.pt % 14), &txt);
		}
	}
	free(f);
	return 0;
}
