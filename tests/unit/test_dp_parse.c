/* Packet build and classification: a frame built by the TX builder parses back to the same fields; every
 * corruption lands on its named drop reason; the impairment decisions are deterministic and hit their rates. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/common.h"
#include "dataplane/dataplane_internal.h"
#include "check_main.h"

static const uint8_t SRC_MAC[6] = { 0x02, 0, 0, 0, 0, 1 };

static uint16_t build(uint8_t *buf, bool marker)
{
	struct dp_flow f;
	uint8_t payload[160];

	memset(&f, 0, sizeof(f));
	memset(payload, 0xd5, sizeof(payload));
	dp_flow_set_local(&f, 0x0a000001, 20000);
	dp_flow_set_remote(&f, 0x0a000002, 30000);
	memcpy(f.remote_mac, "\x02\x00\x00\x00\x00\x02", 6);
	f.pt = 0;
	f.dscp = 46;
	f.seq = 65535;
	f.ts = 0xfffffff0u;
	dp_flow_set_ssrc(&f, 0xdeadbeef);
	return dp_build_rtp(buf, &f, SRC_MAC, 0, 7, marker, payload, sizeof(payload), -1, true);
}

START_TEST(build_parse_roundtrip)
{
	uint8_t buf[256];
	struct dp_pkt p;
	uint16_t len = build(buf, true);

	ck_assert_uint_eq(len, DP_HDRS_LEN + 160);
	ck_assert_uint_eq(buf[15], 46 << 2); /* DSCP EF */
	ck_assert_int_eq(dp_parse(buf, len, true, &p), DP_DROP_NONE);
	ck_assert_uint_eq(p.src_ip, 0x0a000001);
	ck_assert_uint_eq(p.dst_ip, 0x0a000002);
	ck_assert_uint_eq(p.src_port, 20000);
	ck_assert_uint_eq(p.dst_port, 30000);
	ck_assert_uint_eq(p.seq, 65535);
	ck_assert_uint_eq(p.ts, 0xfffffff0u);
	ck_assert_uint_eq(p.ssrc, 0xdeadbeef);
	ck_assert_uint_eq(p.marker, 1);
	ck_assert_uint_eq(p.pt, 0);
	ck_assert_uint_eq(p.payload_len, 160);
	ck_assert_uint_eq(p.udp_len, 172);
	ck_assert_uint_eq(p.payload[0], 0xd5);
}
END_TEST

/* A VLAN tag is stepped over and reported. */
/* A precomputed payload sum gives the same frame as computing it. */
START_TEST(precomputed_payload_sum)
{
	uint8_t a[256], b[256], payload[161];
	struct dp_flow f;

	memset(&f, 0, sizeof(f));
	dp_flow_set_local(&f, 0x0a000001, 4000);
	dp_flow_set_remote(&f, 0xc0a80101, 5000);
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	uint16_t sum = (uint16_t)~dp_csum_fold(dp_csum_add(0, payload, sizeof(payload)));
	uint16_t la = dp_build_rtp(a, &f, SRC_MAC, 0, 1, false, payload, sizeof(payload), -1, true);
	uint16_t lb = dp_build_rtp(b, &f, SRC_MAC, 0, 1, false, payload, sizeof(payload), sum, true);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(a, b, la);
	ck_assert_int_eq(dp_parse(b, lb, true, &(struct dp_pkt){ 0 }), DP_DROP_NONE);
}
END_TEST

/* The TX fast path (known payload sum: wide stores, checksums summed from the flow's fields) writes exactly what
 * the general path writes, for random flows, VLAN tags, markers and payload lengths (odd ones included); with
 * checksum offload, the IPv4 checksum is 0 and the UDP one the folded pseudo-header sum. */
START_TEST(fast_build_matches_general)
{
	uint8_t a[320], b[320], payload[240];
	uint32_t x = 12345;

	for (unsigned n = 0; n < 5000; n++) {
		struct dp_flow f;
		uint16_t plen, vlan, id, sum, la, lb;
		bool marker;

#define RND() (x = x * 1664525u + 1013904223u)
		memset(&f, 0, sizeof(f));
		uint32_t lip = RND(), rip = RND();
		uint16_t lport = (uint16_t)RND();

		dp_flow_set_local(&f, lip, lport);
		dp_flow_set_remote(&f, rip, (uint16_t)(RND() >> 16));
		dp_flow_set_ssrc(&f, RND());
		f.ts = RND();
		f.seq = (uint16_t)(RND() >> 8);
		f.pt = (uint8_t)(RND() >> 24);
		f.dscp = (uint8_t)(RND() >> 20);
		for (unsigned i = 0; i < 6; i++)
			f.remote_mac[i] = (uint8_t)(RND() >> 24);
		vlan = n % 3 == 0 ? (uint16_t)(RND() >> 20) & 0x0fff : 0;
		marker = (RND() >> 31) != 0;
		id = (uint16_t)(RND() >> 7);
		plen = (uint16_t)(RND() >> 8) % sizeof(payload);
		for (unsigned i = 0; i < plen; i++)
			payload[i] = (uint8_t)(RND() >> 24);
#undef RND
		sum = (uint16_t)~dp_csum_fold(dp_csum_add(0, payload, plen));
		memset(a, 0xaa, sizeof(a));
		memset(b, 0x55, sizeof(b));
		la = dp_build_rtp(a, &f, SRC_MAC, vlan, id, marker, payload, plen, -1, true);
		lb = dp_build_rtp(b, &f, SRC_MAC, vlan, id, marker, payload, plen, sum, true);
		ck_assert_uint_eq(la, lb);
		ck_assert_mem_eq(a, b, la);

		unsigned l2 = vlan ? 18 : 14;
		enum dp_drop_reason r = dp_parse(b, lb, true, &(struct dp_pkt){ 0 });
		/* marker + PT 64..95 reads as an RTCP packet type (RFC 5761 §4): still checksummed right */
		ck_assert(r == DP_DROP_NONE || (r == DP_DROP_rtcp && b[l2 + 29] >= 192 && b[l2 + 29] <= 223));

		uint16_t ulen = (uint16_t)(8 + 12 + plen);
		uint32_t ps = dp_csum_add(0, a + l2 + 12, 8) + 17 + ulen;

		lb = dp_build_rtp(b, &f, SRC_MAC, vlan, id, marker, payload, plen, sum, false);
		ck_assert_uint_eq(la, lb);
		ck_assert_uint_eq(b[l2 + 10] << 8 | b[l2 + 11], 0);
		ck_assert_uint_eq(b[l2 + 26] << 8 | b[l2 + 27], (uint16_t)~dp_csum_fold(ps));
		ck_assert_mem_eq(a, b, l2 + 10);
		ck_assert_mem_eq(a + l2 + 12, b + l2 + 12, 14);
		ck_assert_mem_eq(a + l2 + 28, b + l2 + 28, la - l2 - 28);
	}
}
END_TEST

/* RFC 8285 TX-time element: built into the RTP header, skipped by the parser, found again. */
START_TEST(txtime_extension)
{
	uint8_t buf[300], ext[DP_EXT_TXTIME_LEN], payload[160];
	struct dp_flow f;
	struct dp_pkt p;
	uint64_t ntp = 0;

	memset(&f, 0, sizeof(f));
	memset(payload, 0x55, sizeof(payload));
	dp_flow_set_local(&f, 1, 0);
	dp_flow_set_remote(&f, 2, 0);
	dp_flow_set_ssrc(&f, 77);
	ck_assert_uint_eq(dp_ext_txtime(ext, 5, 0xe1234567890abcdeull), DP_EXT_TXTIME_LEN);
	uint16_t len = dp_build_rtp_ext(buf, &f, SRC_MAC, 0, 1, false, ext, DP_EXT_TXTIME_LEN, payload,
					sizeof(payload), -1, true);
	ck_assert_uint_eq(len, DP_HDRS_LEN + DP_EXT_TXTIME_LEN + 160);
	ck_assert_int_eq(dp_parse(buf, len, true, &p), DP_DROP_NONE);
	ck_assert_uint_eq(p.payload_len, 160);
	ck_assert_uint_eq(p.payload[0], 0x55);
	ck_assert(dp_ext_find_txtime(p.udp_payload, p.udp_len, 5, &ntp));
	ck_assert_uint_eq(ntp, 0xe1234567890abcdeull);
	ck_assert(!dp_ext_find_txtime(p.udp_payload, p.udp_len, 6, &ntp));
	ck_assert(!dp_ext_find_txtime(p.udp_payload, 20, 5, &ntp)); /* cut short */
	buf[42] = 0x80;                                               /* no X bit */
	ck_assert(!dp_ext_find_txtime(buf + 42, p.udp_len, 5, &ntp));
}
END_TEST

START_TEST(vlan_tagged)
{
	uint8_t buf[300], tagged[300];
	struct dp_pkt p;
	uint16_t len = build(buf, false);

	memcpy(tagged, buf, 12);
	tagged[12] = 0x81;
	tagged[13] = 0x00;
	tagged[14] = 0x20; /* PCP 1, VID 0x005 */
	tagged[15] = 0x05;
	memcpy(tagged + 16, buf + 12, len - 12);
	ck_assert_int_eq(dp_parse(tagged, len + 4u, true, &p), DP_DROP_NONE);
	ck_assert_uint_eq(p.vlan, 5);
	ck_assert_uint_eq(p.seq, 65535);
}
END_TEST

/* IPv4 options (IHL 6) are stepped over; the header checksum covers them. */
START_TEST(ip_options)
{
	uint8_t buf[300], o[300];
	struct dp_pkt p;
	uint16_t len = build(buf, false);
	uint8_t *ip = o + 14;

	memcpy(o, buf, 34);
	memset(o + 34, 0x01, 4); /* four NOP options */
	memcpy(o + 38, buf + 34, len - 34u);
	ip[0] = 0x46;
	ip[2] = 0;
	ip[3] = (uint8_t)(len - 14 + 4);
	ip[10] = ip[11] = 0;
	uint16_t c = dp_csum_fold(dp_csum_add(0, ip, 24));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	ck_assert_int_eq(dp_parse(o, len + 4u, true, &p), DP_DROP_NONE);
	ck_assert_uint_eq(p.ssrc, 0xdeadbeef);
}
END_TEST

struct corruption {
	const char *what;
	unsigned off;   /* byte to overwrite (0xffff: none) */
	uint8_t val;
	int trim;       /* bytes removed from the end */
	bool verify;
	enum dp_drop_reason want;
};

static const struct corruption corruptions[] = {
	{ "runt", 0xffff, 0, 200, true, DP_DROP_truncated },
	{ "IPv6 ethertype", 12, 0x86, 0, true, DP_DROP_not_ipv4 },
	{ "ARP", 13, 0x06, 0, true, DP_DROP_arp },
	{ "IP version 5", 14, 0x55, 0, false, DP_DROP_ip_bad_header },
	{ "IHL 4", 14, 0x44, 0, false, DP_DROP_ip_bad_header },
	{ "cut inside the IP datagram", 0xffff, 0, 10, true, DP_DROP_truncated },
	{ "IP checksum", 24, 0x00, 0, true, DP_DROP_ip_bad_checksum },
	{ "more fragments", 20, 0x20, 0, false, DP_DROP_ip_fragment },
	{ "fragment offset", 21, 0x10, 0, false, DP_DROP_ip_fragment },
	{ "TCP", 23, 6, 0, false, DP_DROP_not_udp },
	{ "UDP length too long", 38, 0x10, 0, false, DP_DROP_udp_bad_length },
	{ "UDP payload byte", 60, 0x00, 0, true, DP_DROP_udp_bad_checksum },
	{ "RTP version 1", 42, 0x40, 0, false, DP_DROP_rtp_bad_version },
	{ "RTCP SR", 43, 200, 0, false, DP_DROP_rtcp },
	{ "padding (last byte 0xd5) longer than the RTP packet", 42, 0xa0, 0, false, DP_DROP_rtp_truncated },
	{ "UDP length shorter than RTP's header", 39, 8 + 11, 0, false, DP_DROP_rtp_truncated },
};

START_TEST(drop_reasons)
{
	for (unsigned i = 0; i < CM_ARRAY_SIZE(corruptions); i++) {
		const struct corruption *c = &corruptions[i];
		uint8_t buf[256];
		struct dp_pkt p;
		uint16_t len = build(buf, false);

		if (c->off != 0xffff)
			buf[c->off] = c->val;
		ck_assert_msg(dp_parse(buf, (uint32_t)(len - c->trim), c->verify, &p) == c->want, "%s: got %s", c->what,
			      dp_drop_name(dp_parse(buf, (uint32_t)(len - c->trim), c->verify, &p)));
	}
}
END_TEST

START_TEST(drop_names_from_one_list)
{
	ck_assert_str_eq(dp_drop_name(DP_DROP_truncated), "truncated");
	ck_assert_str_eq(dp_drop_name(DP_DROP_unknown_port), "unknown_port");
	ck_assert_str_eq(dp_drop_name(DP_DROP__COUNT), "?");
	for (unsigned r = 1; r < DP_DROP__COUNT; r++)
		ck_assert(strlen(dp_drop_text(r)) > 5);
}
END_TEST

/* Every byte of garbage frames of every length: never a crash, always a verdict. */
START_TEST(garbage_never_crashes)
{
	uint8_t buf[256];
	struct dp_pkt p;
	uint32_t x = 12345;

	for (unsigned n = 0; n < 20000; n++) {
		uint16_t len = build(buf, false);
		for (int k = 0; k < 3; k++) {
			x = x * 1103515245u + 12345u;
			buf[(x >> 8) % len] = (uint8_t)(x >> 24);
		}
		x = x * 1103515245u + 12345u;
		enum dp_drop_reason r = dp_parse(buf, (x >> 8) % (len + 1u), (x & 1) != 0, &p);
		ck_assert_int_lt(r, DP_DROP__COUNT);
	}
}
END_TEST

START_TEST(impairment_deterministic_and_rates)
{
	struct dp_impair im = { .loss_ppm = 30000, .dup_ppm = 10000, .reorder_ppm = 10000, .seed = 42 };
	unsigned lost = 0, dup = 0, reo = 0, same = 0;
	uint8_t ge1 = 0, ge2 = 0;
	const unsigned N = 200000;

	for (unsigned k = 0; k < N; k++) {
		unsigned a = dp_impair_decide(&im, 7, k, &ge1);
		same += a == dp_impair_decide(&im, 7, k, &ge2);
		lost += (a & DP_IMP_DROP) != 0;
		dup += (a & DP_IMP_DUP) != 0;
		reo += (a & DP_IMP_REORDER) != 0;
	}
	ck_assert_uint_eq(same, N);
	/* 3 %, 1 %, 1 % of 200000 within ±5 standard deviations */
	ck_assert_uint_ge(lost, 6000 - 380);
	ck_assert_uint_le(lost, 6000 + 380);
	ck_assert_uint_ge(dup, 1940 - 220);
	ck_assert_uint_le(dup, 1940 + 220);
	ck_assert_uint_ge(reo, 1940 - 220);
	ck_assert_uint_le(reo, 1940 + 220);

	/* Another seed, another sequence. */
	struct dp_impair other = im;
	unsigned differ = 0;
	other.seed = 43;
	for (unsigned k = 0; k < 1000; k++)
		differ += dp_impair_decide(&im, 7, k, &ge1) != dp_impair_decide(&other, 7, k, &ge2);
	ck_assert_uint_gt(differ, 10);
}
END_TEST

/* Gilbert–Elliott with p = 1 %, r = 25 %, loss 100 % in the bad state: bursts average 1/r = 4 packets and the
 * loss rate is p / (p + r) ≈ 3.85 %. */
START_TEST(gilbert_elliott_bursts)
{
	struct dp_impair im = { .ge_p_ppm = 10000, .ge_r_ppm = 250000, .ge_loss_bad_ppm = 1000000, .seed = 9 };
	uint8_t ge = 0;
	unsigned lost = 0, bursts = 0, prev = 0;
	const unsigned N = 400000;

	for (unsigned k = 0; k < N; k++) {
		unsigned l = dp_impair_decide(&im, 1, k, &ge) & DP_IMP_DROP;
		lost += l != 0;
		bursts += l && !prev;
		prev = l;
	}
	ck_assert_double_eq_tol((double)lost / N, 0.01 / 0.26, 0.004);
	ck_assert_double_eq_tol((double)lost / bursts, 4.0, 0.3);
}
END_TEST

START_TEST(delay_within_bounds)
{
	struct dp_impair im = { .jitter_us = 3000, .seed = 5 };
	uint32_t mx = 0, mn = UINT32_MAX;
	uint64_t sum = 0;

	for (unsigned k = 0; k < 100000; k++) {
		uint32_t d = dp_impair_delay_us(&im, 3, k);
		mx = d > mx ? d : mx;
		mn = d < mn ? d : mn;
		sum += d;
	}
	ck_assert_uint_le(mx, 3000);
	ck_assert_uint_ge(mx, 2990);
	ck_assert_uint_le(mn, 10);
	ck_assert_double_eq_tol(sum / 100000.0, 1500, 30);
}
END_TEST

/* The word-at-a-time checksum equals RFC 1071's definition for every length and alignment. */
START_TEST(checksum_matches_reference)
{
	uint8_t buf[300];
	uint32_t x = 7;

	for (unsigned i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (unsigned off = 0; off < 4; off++)
		for (unsigned len = 0; len < 290; len++) {
			uint32_t ref = 5;
			for (unsigned i = 0; i + 1 < len; i += 2)
				ref += (uint32_t)(buf[off + i] << 8 | buf[off + i + 1]);
			if (len & 1)
				ref += (uint32_t)buf[off + len - 1] << 8;
			ck_assert_uint_eq(dp_csum_fold(dp_csum_add(5, buf + off, len)), dp_csum_fold(ref));
		}
}
END_TEST

START_TEST(rtcp_build_parse_rtt)
{
	uint8_t buf[DP_RTCP_MAX];
	struct dp_rtcp_out o = { .ssrc = 0x11111111, .sender = true, .ntp = 0x0123456789abcdefull, .rtp_ts = 1000,
				 .packets = 50, .octets = 8000, .have_block = true, .remote_ssrc = 0x22222222,
				 .fraction_lost = 64, .cum_lost = -3, .ext_max_seq = 70000, .jitter = 80,
				 .lsr = 0x00010000, .dlsr = 0x00008000, .cname = "flow1@callmeter" };
	struct dp_rtcp_in in;
	uint16_t len = dp_rtcp_build(buf, &o);

	ck_assert_uint_eq(len % 4, 0);
	ck_assert_uint_eq(len, 28 + 24 + 4 + 4 + 2 + 15 + 3); /* SR + block + SDES (CNAME padded) */
	ck_assert_int_eq(dp_rtcp_parse(buf, len, 0x22222222, &in), 0);
	ck_assert_uint_eq(in.sender_ssrc, 0x11111111);
	ck_assert(in.have_sr);
	ck_assert_uint_eq(in.sr_lsr, 0x456789ab);
	ck_assert_uint_eq(in.sr_packets, 50);
	ck_assert(in.have_block);
	ck_assert_uint_eq(in.fraction_lost, 64);
	ck_assert_int_eq(in.cum_lost, -3);
	ck_assert_uint_eq(in.jitter, 80);
	ck_assert_uint_eq(in.lsr, 0x00010000);
	ck_assert_uint_eq(in.dlsr, 0x00008000);
	ck_assert_int_eq(dp_rtcp_parse(buf, len, 0x33333333, &in), 0);
	ck_assert(!in.have_block);
	ck_assert_int_eq(dp_rtcp_parse(buf, len - 4, 0x22222222, &in), -EINVAL); /* lengths must add up */
	buf[0] = 0x40;
	ck_assert_int_eq(dp_rtcp_parse(buf, len, 0x22222222, &in), -EINVAL);

	/* RR without a block */
	o.sender = false;
	o.have_block = false;
	len = dp_rtcp_build(buf, &o);
	ck_assert_int_eq(dp_rtcp_parse(buf, len, 0x22222222, &in), 0);
	ck_assert(!in.have_sr && !in.have_block);

	/* A = 3.0 s, LSR = 1.0 s, DLSR = 1.5 s → RTT 0.5 s */
	ck_assert_int_eq(dp_rtcp_rtt_us(3u << 16, 1u << 16, 3u << 15), 500000);
	ck_assert_int_eq(dp_rtcp_rtt_us(3u << 16, 0, 0), -1);
}
END_TEST

START_TEST(arp_build_parse)
{
	uint8_t buf[80];
	struct dp_arp a;
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 0x11 }, peer[6] = { 2, 0, 0, 0, 0, 0x22 };

	ck_assert_uint_eq(dp_arp_build(buf, 0, 1, mac, 0x0a000001, peer, 0x0a000002), 60);
	ck_assert_mem_eq(buf, "\xff\xff\xff\xff\xff\xff", 6); /* requests are broadcast */
	ck_assert_int_eq(dp_arp_parse(buf, 60, &a), 0);
	ck_assert_uint_eq(a.op, 1);
	ck_assert_mem_eq(a.sender_mac, mac, 6);
	ck_assert_uint_eq(a.sender_ip, 0x0a000001);
	ck_assert_uint_eq(a.target_ip, 0x0a000002);
	ck_assert_int_eq(dp_parse(buf, 60, true, &(struct dp_pkt){ 0 }), DP_DROP_arp);

	ck_assert_uint_eq(dp_arp_build(buf, 5, 2, mac, 0x0a000001, peer, 0x0a000002), 64);
	ck_assert_mem_eq(buf, peer, 6);
	ck_assert_int_eq(dp_arp_parse(buf, 64, &a), 0);
	ck_assert_uint_eq(a.op, 2);
	ck_assert_int_eq(dp_arp_parse(buf, 40, &a), -EINVAL);
	buf[18 + 7] = 9; /* opcode 9 */
	ck_assert_int_eq(dp_arp_parse(buf, 64, &a), -EINVAL);
}
END_TEST

START_TEST(icmp_echo_answered_in_place)
{
	uint8_t f[42 + 8];
	uint32_t sum = 0;

	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x09\x08\x00", 14);
	memcpy(f + 14, "\x45\x00\x00\x24\x00\x01\x00\x00\x40\x01\x00\x00\x0a\x00\x00\x09\x0a\x00\x00\x01", 20);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	memcpy(f + 34, "\x08\x00\x00\x00\x12\x34\x00\x07" "abcdefgh", 16);
	uint16_t c = dp_csum_fold(dp_csum_add(0, f + 34, 16));
	f[36] = (uint8_t)(c >> 8);
	f[37] = (uint8_t)c;

	ck_assert(!dp_icmp_echo_reply(f, sizeof(f), 0x0a000002)); /* not to us */
	ck_assert(dp_icmp_echo_reply(f, sizeof(f), 0x0a000001));
	ck_assert_uint_eq(f[34], 0);                              /* echo reply */
	ck_assert_mem_eq(f, "\x02\x00\x00\x00\x00\x09", 6);    /* back to the sender */
	ck_assert_mem_eq(f + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x09", 8);
	ck_assert_uint_eq(dp_csum_fold(dp_csum_add(0, f + 14, 20)), 0);
	ck_assert_uint_eq(dp_csum_fold(dp_csum_add(0, f + 34, 16)), 0);
	ck_assert_mem_eq(f + 42, "abcdefgh", 8);
	ck_assert(!dp_icmp_echo_reply(f, sizeof(f), 0x0a000009)); /* a reply is not answered */
}
END_TEST

/* The cache is bounded: 64 entries, 1000 addresses learned; recent ones survive, the oldest are evicted. */
START_TEST(arp_cache_bounded)
{
	struct dp_arp_entry e[64];
	struct dp_arp_cache c = { .e = e, .mask = 63 };
	struct dp_arp_entry got;
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 0 };
	unsigned found = 0;

	memset(e, 0, sizeof(e));
	for (uint32_t i = 1; i <= 1000; i++) {
		mac[5] = (uint8_t)i;
		dp_arp_learn(&c, 0x0a000000u + i, mac, i);
	}
	for (uint32_t i = 1; i <= 1000; i++)
		found += dp_arp_lookup(&c, 0x0a000000u + i, &got);
	ck_assert_uint_le(found, 64);
	ck_assert_uint_ge(found, 32);
	ck_assert(dp_arp_lookup(&c, 0x0a000000u + 1000, &got));
	ck_assert_uint_eq(got.mac[5], 1000 & 0xff);
	ck_assert(!dp_arp_lookup(&c, 0x0a000001u, &got));
	/* Refreshing keeps one entry per address. */
	ck_assert(dp_arp_learn(&c, 0x0a000000u + 1000, mac, 2000));
	ck_assert(dp_arp_lookup(&c, 0x0a000000u + 1000, &got));
	ck_assert_uint_eq(got.learned_ns, 2000);
}
END_TEST

/* Several lcores learn into one small cache at once, evicting each other's entries, while another looks up:
 * every entry read must be whole (the MAC here spells its IP; a torn read pairs an address with another's MAC). */
struct arp_race {
	struct dp_arp_cache c;
	volatile bool stop;
	unsigned writer;
};

static void *arp_writer(void *arg)
{
	struct arp_race *r = arg;
	unsigned me = __atomic_fetch_add(&r->writer, 1, __ATOMIC_RELAXED);

	for (uint32_t n = 0; !r->stop; n++) {
		uint32_t ip = 0x0a000001u + (n * 7 + me * 13) % 64;
		uint8_t mac[6] = { (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip,
				   (uint8_t)me, (uint8_t)n };
		dp_arp_learn(&r->c, ip, mac, n);
	}
	return NULL;
}

START_TEST(arp_cache_concurrent_no_torn_reads)
{
	static struct dp_arp_entry e[8];
	struct arp_race r = { .c = { .e = e, .mask = 7 } };
	pthread_t w[2];
	uint64_t hits = 0, torn = 0, t_end = cm_now_us() + 300000;

	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&w[i], NULL, arp_writer, &r), 0);
	for (uint32_t n = 0; cm_now_us() < t_end; n++) {
		uint32_t ip = 0x0a000001u + n % 64;
		struct dp_arp_entry got;

		if (!dp_arp_lookup(&r.c, ip, &got))
			continue;
		hits++;
		if (got.ip != ip || got.mac[0] != (uint8_t)(ip >> 24) || got.mac[1] != (uint8_t)(ip >> 16) ||
		    got.mac[2] != (uint8_t)(ip >> 8) || got.mac[3] != (uint8_t)ip)
			torn++;
	}
	r.stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	ck_assert_uint_gt(hits, 0);
	ck_assert_uint_eq(torn, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, build_parse_roundtrip);
	tcase_add_test(tc, vlan_tagged);
	tcase_add_test(tc, precomputed_payload_sum);
	tcase_add_test(tc, fast_build_matches_general);
	tcase_add_test(tc, txtime_extension);
	tcase_add_test(tc, ip_options);
	tcase_add_test(tc, drop_reasons);
	tcase_add_test(tc, drop_names_from_one_list);
	tcase_add_test(tc, garbage_never_crashes);
	tcase_add_test(tc, impairment_deterministic_and_rates);
	tcase_add_test(tc, gilbert_elliott_bursts);
	tcase_add_test(tc, delay_within_bounds);
	tcase_add_test(tc, checksum_matches_reference);
	tcase_add_test(tc, rtcp_build_parse_rtt);
	tcase_add_test(tc, arp_build_parse);
	tcase_add_test(tc, icmp_echo_answered_in_place);
	tcase_add_test(tc, arp_cache_bounded);
	tcase_add_test(tc, arp_cache_concurrent_no_torn_reads);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
