/* libFuzzer target for ARP (RFC 826) parsing and the in-place ICMP echo reply (RFC 792): any frame parses or
 * is refused without reading outside it; an echo reply the code writes carries valid IPv4 and ICMP checksums;
 * an ARP frame the code builds parses back to what was put in. */
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
	uint8_t *f = malloc(size ? size : 1), buf[DP_ARP_FRAME_LEN + 4];
	struct dp_arp a;

	if (!f)
		return 0;
	memcpy(f, data, size);
	(void)dp_arp_parse(f, (uint32_t)size, &a);
	{
		unsigned off = size >= 18 && f[12] == 0x81 && f[13] == 0 ? 18 : 14;
		uint32_t own = size >= off + 20 ? rd32(f + off + 16) : 0;

		if (dp_icmp_echo_reply(f, (uint32_t)size, own)) {
			unsigned ihl = (f[off] & 0x0fu) * 4u, tot = (unsigned)(f[off + 2] << 8 | f[off + 3]);

			if (dp_csum_fold(dp_csum_add(0, f + off, ihl)) != 0 ||
			    dp_csum_fold(dp_csum_add(0, f + off + ihl, tot - ihl)) != 0)
				abort(); /* the reply's checksums must verify (a folded sum over them is 0) */
		}
	}
	free(f);

	if (size >= 24) {
		uint16_t vlan = (uint16_t)((data[0] << 8 | data[1]) & 0x0fff), op = (data[2] & 1) ? 1 : 2;
		uint16_t n = dp_arp_build(buf, vlan, op, data + 4, rd32(data + 10), data + 14, rd32(data + 20));

		if (dp_arp_parse(buf, n, &a) != 0 || a.op != op || memcmp(a.sender_mac, data + 4, 6) ||
		    a.sender_ip != rd32(data + 10) || a.target_ip != rd32(data + 20))
			abort(); /* our own ARP frame must parse back */
	}
	return 0;
}
