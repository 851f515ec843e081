/* TX frame construction and the impairment decisions: pure functions, unit-tested on buffers. */
#include <string.h>

#include "dataplane/dataplane_internal.h"

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint16_t dp_build_rtp(uint8_t *buf, const struct dp_flow *f, const uint8_t src_mac[6], uint16_t vlan,
		      uint16_t ip_id, bool marker, const uint8_t *payload, uint16_t payload_len, int32_t payload_sum,
		      bool sw_csum)
{
	if (payload && (payload_sum >= 0 || !sw_csum)) {
		struct dp_flow g = *f; /* any flow: its checksum parts are not known to be prepared */

		dp_flow_csum_prepare(&g);
		return dp_build_rtp_fast(buf, &g, dp_eth_src(src_mac), vlan, ip_id, marker, payload, payload_len,
					 (uint16_t)(payload_sum >= 0 ? payload_sum : 0), sw_csum);
	}
	return dp_build_rtp_ext(buf, f, src_mac, vlan, ip_id, marker, NULL, 0, payload, payload_len, payload_sum,
				sw_csum);
}

uint16_t dp_build_rtp_ext(uint8_t *buf, const struct dp_flow *f, const uint8_t src_mac[6], uint16_t vlan,
			  uint16_t ip_id, bool marker, const uint8_t *ext, uint8_t ext_len, const uint8_t *payload,
			  uint16_t payload_len, int32_t payload_sum, bool sw_csum)
{
	unsigned l2 = vlan ? DP_ETH_HLEN + 4 : DP_ETH_HLEN, rtp_hlen = DP_RTP_HLEN + ext_len;
	uint8_t *ip = buf + l2, *udp = ip + DP_IP_HLEN, *rtp = udp + DP_UDP_HLEN;
	uint16_t udp_len = (uint16_t)(DP_UDP_HLEN + rtp_hlen + payload_len);

	memcpy(buf, f->remote_mac, 6);
	memcpy(buf + 6, src_mac, 6);
	if (vlan) {
		wr16(buf + 12, 0x8100);
		wr16(buf + 14, vlan & 0x0fff);
	}
	wr16(buf + l2 - 2, 0x0800);

	ip[0] = 0x45;
	ip[1] = (uint8_t)(f->dscp << 2);
	wr16(ip + 2, (uint16_t)(DP_IP_HLEN + udp_len));
	wr16(ip + 4, ip_id);
	wr16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17;
	wr16(ip + 10, 0);
	wr32(ip + 12, dp_flow_local_ip(f));
	wr32(ip + 16, dp_flow_remote_ip(f));

	wr16(udp, dp_flow_local_port(f));
	wr16(udp + 2, dp_flow_remote_port(f));
	wr16(udp + 4, udp_len);
	wr16(udp + 6, 0);
	if (!payload) /* dp_build_rtcp(): the caller writes the UDP payload */
		return (uint16_t)(l2 + DP_IP_HLEN + DP_UDP_HLEN);

	rtp[0] = ext_len ? 0x90 : 0x80;
	rtp[1] = (uint8_t)((marker ? 0x80 : 0) | (f->pt & 0x7f));
	wr16(rtp + 2, f->seq);
	wr32(rtp + 4, f->ts);
	wr32(rtp + 8, dp_flow_ssrc(f));
	if (ext_len)
		memcpy(rtp + DP_RTP_HLEN, ext, ext_len);
	memcpy(rtp + rtp_hlen, payload, payload_len);

	if (sw_csum) {
		uint32_t sum;
		uint16_t c;

		wr16(ip + 10, dp_csum_fold(dp_csum_add(0, ip, DP_IP_HLEN)));
		/* pseudo-header + UDP header + RTP header + payload (UDP and RTP headers are even-sized, so the
		 * payload's own sum adds in as it is) */
		sum = dp_csum_add(0, ip + 12, 8) + 17 + udp_len;
		sum = dp_csum_add(sum, udp, DP_UDP_HLEN + rtp_hlen);
		sum += payload_sum >= 0 ? (uint32_t)payload_sum : (uint32_t)(uint16_t)~dp_csum_fold(
			dp_csum_add(0, payload, payload_len));
		c = dp_csum_fold(sum);
		wr16(udp + 6, c == 0 ? 0xffff : c); /* RFC 768: a computed 0 is sent as all ones */
	} else {
		uint32_t sum = dp_csum_add(0, ip + 12, 8) + 17 + udp_len;
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		wr16(udp + 6, (uint16_t)sum);
	}
	return (uint16_t)(l2 + DP_IP_HLEN + udp_len);
}

/* splitmix64 finaliser: a counter-based generator, so each decision is a pure function of its inputs. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A uniform draw in [0, 1e6) for (seed, flow, packet, purpose). */
static uint32_t draw_ppm(const struct dp_impair *im, uint32_t flow, uint32_t k, unsigned purpose)
{
	uint64_t h = mix64(im->seed ^ mix64(((uint64_t)flow << 32 | k) ^ ((uint64_t)purpose << 60)));
	return (uint32_t)(((h >> 32) * 1000000ull) >> 32);
}

unsigned dp_impair_decide(const struct dp_impair *im, uint32_t flow, uint32_t k, uint8_t *ge_bad)
{
	unsigned act = DP_IMP_SEND;

	if (im->ge_p_ppm) {
		/* Gilbert–Elliott: the state moves first, then the packet is lost with the state's probability. */
		if (*ge_bad)
			*ge_bad = draw_ppm(im, flow, k, 1) >= im->ge_r_ppm;
		else
			*ge_bad = draw_ppm(im, flow, k, 1) < im->ge_p_ppm;
		if (*ge_bad && draw_ppm(im, flow, k, 2) < im->ge_loss_bad_ppm)
			return DP_IMP_DROP;
	}
	if (im->loss_ppm && draw_ppm(im, flow, k, 3) < im->loss_ppm)
		return DP_IMP_DROP;
	if (im->dup_ppm && draw_ppm(im, flow, k, 4) < im->dup_ppm)
		act |= DP_IMP_DUP;
	if (im->reorder_ppm && draw_ppm(im, flow, k, 5) < im->reorder_ppm)
		act |= DP_IMP_REORDER;
	return act;
}

uint32_t dp_impair_delay_us(const struct dp_impair *im, uint32_t flow, uint32_t k)
{
	if (!im->jitter_us)
		return 0;
	return (uint32_t)(((uint64_t)draw_ppm(im, flow, k, 6) * (im->jitter_us + 1ull)) / 1000000ull);
}

uint32_t dp_static_pt_clock(uint8_t pt)
{
	switch (pt) {
	case 0: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 13: case 15: case 18:
		return 8000;
	case 6:
		return 16000;
	case 10: case 11:
		return 44100;
	case 14: case 25: case 26: case 28: case 31: case 32: case 33: case 34:
		return 90000;
	default:
		return 0;
	}
}

uint16_t dp_build_rtcp(uint8_t *buf, const struct dp_flow *f, const uint8_t src_mac[6], uint16_t vlan,
		       uint16_t ip_id, const struct dp_rtcp_out *r)
{
	struct dp_flow g = *f;
	unsigned l2 = vlan ? DP_ETH_HLEN + 4 : DP_ETH_HLEN;
	uint8_t *ip = buf + l2, *udp = ip + DP_IP_HLEN;
	uint16_t len, udp_len, c;

	/* RTCP goes from and to the RTP ports + 1 (RFC 3550 §11); the headers are the RTP path's. */
	dp_flow_set_local(&g, dp_flow_local_ip(f), (uint16_t)(dp_flow_local_port(f) + 1));
	dp_flow_set_remote(&g, dp_flow_remote_ip(f), (uint16_t)(dp_flow_remote_port(f) + 1));
	len = dp_rtcp_build(udp + DP_UDP_HLEN, r);
	udp_len = (uint16_t)(DP_UDP_HLEN + len);
	dp_build_rtp(buf, &g, src_mac, vlan, ip_id, false, NULL, (uint16_t)(len - DP_RTP_HLEN), 0, false);
	wr16(ip + 10, dp_csum_fold(dp_csum_add(0, ip, DP_IP_HLEN)));
	c = dp_udp_csum(ip, udp, udp_len);
	wr16(udp + 6, c == 0 ? 0xffff : c);
	return (uint16_t)(l2 + DP_IP_HLEN + udp_len);
}

/* RFC 8285 §4.2 one-byte header: 0xBEDE, length 3 words, element (id, L−1 = 7) + 8 bytes, 3 bytes of padding. */
uint8_t dp_ext_txtime(uint8_t *ext, uint8_t id, uint64_t ntp)
{
	ext[0] = 0xbe;
	ext[1] = 0xde;
	ext[2] = 0;
	ext[3] = 3;
	ext[4] = (uint8_t)(id << 4 | 7);
	wr32(ext + 5, (uint32_t)(ntp >> 32));
	wr32(ext + 9, (uint32_t)ntp);
	ext[13] = ext[14] = ext[15] = 0;
	return DP_EXT_TXTIME_LEN;
}

bool dp_ext_find_txtime(const uint8_t *rtp, uint32_t len, uint8_t id, uint64_t *ntp)
{
	uint32_t off, end;

	if (len < DP_RTP_HLEN || !(rtp[0] & 0x10))
		return false;
	off = DP_RTP_HLEN + (rtp[0] & 0x0fu) * 4u;
	if (len < off + 4 || rtp[off] != 0xbe || rtp[off + 1] != 0xde)
		return false;
	end = off + 4 + 4u * (uint32_t)(rtp[off + 2] << 8 | rtp[off + 3]);
	if (end > len)
		return false;
	for (off += 4; off < end;) {
		uint8_t eid = rtp[off] >> 4, l = (uint8_t)((rtp[off] & 0x0f) + 1);

		if (rtp[off] == 0) { /* padding */
			off++;
			continue;
		}
		if (eid == 15 || off + 1 + l > end)
			return false;
		if (eid == id && l == 8) {
			const uint8_t *p = rtp + off + 1;
			*ntp = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
			       (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | p[7];
			return true;
		}
		off += 1u + l;
	}
	return false;
}
