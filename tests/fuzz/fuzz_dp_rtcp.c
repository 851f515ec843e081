/* libFuzzer target for the RTCP compound parser (RFC 3550 §6): any input parses or is refused without reading
 * outside it; and a compound built from input-derived values must parse back to the same report block. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1), buf[DP_RTCP_MAX];
	struct dp_rtcp_in in;
	uint32_t about = size >= 4 ? rd32(data) : 0;

	if (!p)
		return 0;
	memcpy(p, data, size);
	if (dp_rtcp_parse(p, (uint32_t)size, about, &in) == 0 && in.have_block)
		(void)dp_rtcp_rtt_us(about, in.lsr, in.dlsr);
	free(p);

	if (size >= 40) {
		char cname[65];
		size_t cl = data[36] % sizeof(cname);
		struct dp_rtcp_out r = { .ssrc = rd32(data), .sender = data[4] & 1, .have_block = data[4] & 2,
					 .ntp = (uint64_t)rd32(data + 8) << 32 | rd32(data + 12),
					 .rtp_ts = rd32(data + 16), .packets = rd32(data + 20), .octets = rd32(data + 24),
					 .remote_ssrc = rd32(data + 28), .fraction_lost = data[5],
					 .cum_lost = (int32_t)rd32(data + 32), .ext_max_seq = rd32(data + 16),
					 .jitter = rd32(data + 20), .lsr = rd32(data + 24), .dlsr = rd32(data + 8),
					 .cname = cname };
		int32_t cl24 = r.cum_lost > 0x7fffff ? 0x7fffff : r.cum_lost < -0x800000 ? -0x800000 : r.cum_lost;
		uint16_t n;

		memset(cname, 'c', cl);
		cname[cl] = '\0';
		n = dp_rtcp_build(buf, &r);
		if (n > sizeof(buf) || n % 4 || dp_rtcp_parse(buf, n, r.remote_ssrc, &in) != 0)
			abort(); /* our own compound must parse */
		if (in.sender_ssrc != r.ssrc || in.have_sr != r.sender || in.have_block != r.have_block)
			abort();
		if (r.have_block && (in.fraction_lost != r.fraction_lost || in.cum_lost != cl24 ||
				     in.jitter != r.jitter || in.lsr != r.lsr || in.dlsr != r.dlsr))
			abort();
		if (r.sender && (in.sr_lsr != (uint32_t)(r.ntp >> 16) || in.sr_packets != r.packets))
			abort();
	}
	return 0;
}
