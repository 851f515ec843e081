/* Received frame → RTP fields, or the named reason it is dropped.  Pure: no DPDK calls, so unit tests and the
 * fuzzer drive it with plain buffers. */
#include <arpa/inet.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100
#define IPPROTO_UDP_ 17
#define UDP_HLEN 8
#define RTP_HLEN 12

static const char *const drop_names[] = {
	[DP_DROP_NONE] = "none",
#define DP_DROP_NAME(name, text) [DP_DROP_##name] = #name,
	DP_DROP_REASONS(DP_DROP_NAME)
#undef DP_DROP_NAME
};
static const char *const drop_texts[] = {
	[DP_DROP_NONE] = "not dropped",
#define DP_DROP_TEXT(name, text) [DP_DROP_##name] = text,
	DP_DROP_REASONS(DP_DROP_TEXT)
#undef DP_DROP_TEXT
};

const char *dp_drop_name(enum dp_drop_reason r)
{
	return (unsigned)r < DP_DROP__COUNT ? drop_names[r] : "?";
}

const char *dp_drop_text(enum dp_drop_reason r)
{
	return (unsigned)r < DP_DROP__COUNT ? drop_texts[r] : "?";
}

/* RFC 1071 ones' complement sum of 16-bit big-endian words, added to `sum`.  The sum is byte-order independent
 * (§2(B)): words are summed as native 32-bit loads into a 64-bit accumulator, folded, then swapped once. */
uint32_t dp_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	uint32_t w;
	uint16_t h;

	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w, p, 4);
		acc += w;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len)
		acc += *p; /* the odd byte is the high half of its big-endian word: native little-endian low byte */
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = (uint16_t)((acc >> 8) | (acc << 8));
#endif
	return sum + (uint32_t)acc;
}

uint16_t dp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* UDP checksum over the IPv4 pseudo-header and the datagram (RFC 768); the datagram's own checksum field is
 * included as it is, so a correct packet sums to 0. */
uint16_t dp_udp_csum(const uint8_t *ip, const uint8_t *udp, uint16_t udp_len)
{
	uint32_t sum = dp_csum_add(0, ip + 12, 8);

	sum += IPPROTO_UDP_ + udp_len;
	sum = dp_csum_add(sum, udp, udp_len);
	return dp_csum_fold(sum);
}

enum dp_drop_reason dp_parse(const uint8_t *f, uint32_t len, bool verify_csum, struct dp_pkt *out)
{
	uint32_t off = ETH_HLEN;
	uint16_t type;

	if (len < ETH_HLEN)
		return DP_DROP_truncated;
	type = dp_rd16(f + 12);
	out->vlan = 0;
	if (type == ETHERTYPE_VLAN) {
		if (len < ETH_HLEN + VLAN_HLEN)
			return DP_DROP_truncated;
		out->vlan = dp_rd16(f + 14) & 0x0fff;
		type = dp_rd16(f + 16);
		off += VLAN_HLEN;
	}
	if (type == ETHERTYPE_ARP)
		return DP_DROP_arp;
	if (type != ETHERTYPE_IPV4)
		return DP_DROP_not_ipv4;

	const uint8_t *ip = f + off;
	if (len < off + 20)
		return DP_DROP_truncated;
	uint32_t ihl = (ip[0] & 0x0fu) * 4u, tot = dp_rd16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < 20 || tot < ihl)
		return DP_DROP_ip_bad_header;
	if (len < off + tot)
		return DP_DROP_truncated;
	if (verify_csum && dp_csum_fold(dp_csum_add(0, ip, ihl)) != 0)
		return DP_DROP_ip_bad_checksum;
	if (dp_rd16(ip + 6) & 0x3fff) /* MF set or a fragment offset */
		return DP_DROP_ip_fragment;
	out->src_ip = dp_rd32(ip + 12);
	out->dst_ip = dp_rd32(ip + 16);
	out->ip_proto = ip[9];
	out->l4 = ip + ihl;
	out->l4_len = (uint16_t)(tot - ihl);
	if (ip[9] != IPPROTO_UDP_)
		return DP_DROP_not_udp;
	if (tot < ihl + UDP_HLEN)
		return DP_DROP_truncated;

	const uint8_t *udp = ip + ihl;
	uint32_t ulen = dp_rd16(udp + 4);
	if (ulen < UDP_HLEN || ulen > tot - ihl)
		return DP_DROP_udp_bad_length;
	if (verify_csum && dp_rd16(udp + 6) != 0 && dp_udp_csum(ip, udp, (uint16_t)ulen) != 0)
		return DP_DROP_udp_bad_checksum;
	out->src_port = dp_rd16(udp);
	out->dst_port = dp_rd16(udp + 2);
	out->udp_len = (uint16_t)(ulen - UDP_HLEN);

	/* RTP (RFC 3550 §5.1); RTCP shares the port under RFC 5761 and is told apart by its packet type. */
	const uint8_t *rtp = udp + UDP_HLEN;
	uint32_t rlen = ulen - UDP_HLEN;
	/* the caller's frame: writable where it is (SRTP); set from here on, whatever the UDP payload turns out to
	 * be (analyze reads SIP from it) */
	out->udp_payload = (uint8_t *)(uintptr_t)rtp;
	if (rlen < 8) /* the shortest RTCP packet: a receiver report without report blocks */
		return DP_DROP_rtp_truncated;
	if (rtp[0] >> 6 != 2)
		return DP_DROP_rtp_bad_version;
	if (rtp[1] >= 192 && rtp[1] <= 223) { /* the whole compound packet, for the RTCP handler */
		out->payload = rtp;
		out->payload_len = (uint16_t)rlen;
		return DP_DROP_rtcp;
	}
	if (rlen < RTP_HLEN)
		return DP_DROP_rtp_truncated;
	uint32_t hdr = RTP_HLEN + (rtp[0] & 0x0fu) * 4u;
	if (rlen < hdr)
		return DP_DROP_rtp_truncated;
	if (rtp[0] & 0x10) { /* header extension: 4-byte header, length in 32-bit words */
		if (rlen < hdr + 4)
			return DP_DROP_rtp_truncated;
		hdr += 4 + dp_rd16(rtp + hdr + 2) * 4u;
		if (rlen < hdr)
			return DP_DROP_rtp_truncated;
	}
	uint32_t pad = 0;
	if (rtp[0] & 0x20) {
		pad = rtp[rlen - 1];
		if (pad == 0 || hdr + pad > rlen)
			return DP_DROP_rtp_truncated;
	}
	out->marker = rtp[1] >> 7;
	out->pt = rtp[1] & 0x7f;
	out->seq = dp_rd16(rtp + 2);
	out->ts = dp_rd32(rtp + 4);
	out->ssrc = dp_rd32(rtp + 8);
	out->payload = rtp + hdr;
	out->payload_len = (uint16_t)(rlen - hdr - pad);
	return DP_DROP_NONE;
}
