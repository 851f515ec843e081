/* The TX fast path (dp_build_rtp_fast with the flow's prepared checksum parts, and the engine's tx_plain) against
 * a straightforward reference: every header byte written one at a time from the flow's fields, both checksums
 * summed over the finished frame.
 *   - builder: flows with and without a VLAN tag, DSCP, marker, payload types, seq/timestamp at and across their
 *     wraps, odd and even payload lengths, software checksums and the offload pseudo-header sum;
 *   - engine: the real dataplane sends into a pcap file (net_pcap, tx_pcap=FILE), untagged and VLAN-tagged; every
 *     captured frame equals the reference built from its flow's parameters and its place in the flow's sequence
 *     (talkspurts: a marker after DTX frames that were not sent; seq and timestamp wrapping), and its checksums
 *     verify. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane.h"
#include "check_main.h"
#include "dptest.h"

static const uint8_t SRC_MAC[6] = { 2, 0, 0, 0, 0, 0xaa };

/* ---- the reference ---------------------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* RFC 1071 sum of len bytes (an odd last byte padded with zero), not folded. */
static uint32_t sum16(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The frame as RFC 791/768/3550 describe it, byte by byte; sw_csum false: IPv4 checksum 0 and the UDP one the
 * pseudo-header sum (what checksum offload expects). */
static uint16_t ref_build(uint8_t *b, const struct dp_flow *f, uint16_t vlan, uint16_t ip_id, bool marker,
			  const uint8_t *payload, uint16_t plen, bool sw_csum)
{
	unsigned l2 = vlan ? 18 : 14;
	uint8_t *ip = b + l2, *udp = ip + 20, *rtp = udp + 8;
	uint16_t ulen = (uint16_t)(8 + 12 + plen);
	uint8_t pseudo[12];
	uint32_t s;

	memcpy(b, f->remote_mac, 6);
	memcpy(b + 6, SRC_MAC, 6);
	if (vlan) {
		put16(b + 12, 0x8100);
		put16(b + 14, vlan);
	}
	put16(b + l2 - 2, 0x0800);
	ip[0] = 0x45;
	ip[1] = (uint8_t)(f->dscp << 2);
	put16(ip + 2, (uint16_t)(20 + ulen));
	put16(ip + 4, ip_id);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	put16(ip + 10, 0);
	put32(ip + 12, dp_flow_local_ip(f));
	put32(ip + 16, dp_flow_remote_ip(f));
	put16(udp, dp_flow_local_port(f));
	put16(udp + 2, dp_flow_remote_port(f));
	put16(udp + 4, ulen);
	put16(udp + 6, 0);
	rtp[0] = 0x80;
	rtp[1] = (uint8_t)((marker ? 0x80 : 0) | f->pt);
	put16(rtp + 2, f->seq);
	put32(rtp + 4, f->ts);
	put32(rtp + 8, dp_flow_ssrc(f));
	memcpy(rtp + 12, payload, plen);
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	put16(pseudo + 10, ulen);
	if (!sw_csum) {
		put16(udp + 6, fold(sum16(pseudo, 12)));
		return (uint16_t)(l2 + 20 + ulen);
	}
	put16(ip + 10, (uint16_t)~fold(sum16(ip, 20)));
	s = (uint16_t)~fold(sum16(pseudo, 12) + sum16(udp, ulen));
	put16(udp + 6, s ? (uint16_t)s : 0xffff);
	return (uint16_t)(l2 + 20 + ulen);
}

/* Both checksums of a finished frame verify (the sums over the covered bytes fold to all ones). */
static void check_csums(const uint8_t *b, unsigned len)
{
	unsigned l2 = (b[12] << 8 | b[13]) == 0x8100 ? 18 : 14;
	const uint8_t *ip = b + l2, *udp = ip + 20;
	uint16_t ulen = (uint16_t)(udp[4] << 8 | udp[5]);
	uint8_t pseudo[12];

	ck_assert_uint_eq(len, l2 + 20u + ulen);
	ck_assert_uint_eq(fold(sum16(ip, 20)), 0xffff);
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	put16(pseudo + 10, ulen);
	ck_assert_uint_ne(udp[6] << 8 | udp[7], 0); /* 0 would mean "no checksum" */
	ck_assert_uint_eq(fold(sum16(pseudo, 12) + sum16(udp, ulen)), 0xffff);
}

/* ---- the builder ------------------------------------------------------------------------------------------ */

START_TEST(builder_matches_reference)
{
	static const uint16_t vlans[] = { 0, 100, 4095 };
	static const uint16_t lens[] = { 160, 1, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 161, 320, 512, 513, 1200 };
	static const uint16_t seqs[] = { 0, 1, 0x7fff, 0xfffe, 0xffff };
	static const uint32_t tss[] = { 0, 0xffffff60u, 0xffffffffu, 0x12345678u };
	static const uint16_t ids[] = { 0, 1, 0xffff };
	uint8_t payload[1200], a[1300], b[1300];
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 37 + 11);
	for (unsigned v = 0; v < 3; v++)
		for (unsigned l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
			for (unsigned s = 0; s < 5; s++)
				for (unsigned t = 0; t < 4; t++) {
					struct dp_flow f = { 0 };
					uint16_t plen = lens[l], id = ids[(l + s) % 3];
					bool marker = (s + t) & 1, sw = (v + l + s + t) % 4 != 0;

					dp_flow_set_local(&f, 0x0a000001u + t * 0x01010101u, (uint16_t)(10000 + 2 * l));
					dp_flow_set_remote(&f, 0xc0a80001u ^ (s * 0x00ff00ffu), (uint16_t)(65534 - 2 * s));
					memcpy(f.remote_mac, (uint8_t[6]){ 2, 0, 0, 0, (uint8_t)v, (uint8_t)l }, 6);
					f.dscp = (uint8_t)(t == 3 ? 63 : t * 23 % 64);
					f.pt = (uint8_t)(s == 4 ? 127 : s * 8);
					dp_flow_set_ssrc(&f, 0xdeadbeefu ^ (l * 0x01000193u) ^ t);
					f.seq = seqs[s];
					f.ts = tss[t];
					dp_flow_csum_prepare(&f);
					/* the payload sum as payload_sums() keeps it (dp_csum_add of the frame, folded) */
					uint16_t psum = (uint16_t)~dp_csum_fold(dp_csum_add(0, payload, plen));
					uint16_t la = dp_build_rtp_fast(a, &f, dp_eth_src(SRC_MAC), vlans[v], id, marker, payload,
									plen, psum, sw);
					uint16_t lb = ref_build(b, &f, vlans[v], id, marker, payload, plen, sw);

					ck_assert_uint_eq(la, lb);
					ck_assert_msg(memcmp(a, b, la) == 0, "vlan %u len %u seq %u ts %u: frames differ",
						      vlans[v], plen, f.seq, f.ts);
					if (sw)
						check_csums(a, la);
					/* dp_build_rtp() on a flow whose parts were never prepared: the same frame */
					f.csum_ip = f.csum_udp = 0x5555;
					memset(a, 0, sizeof(a));
					ck_assert_uint_eq(dp_build_rtp(a, &f, SRC_MAC, vlans[v], id, marker, payload, plen,
								       psum, sw), lb);
					ck_assert(memcmp(a, b, lb) == 0);
					n++;
				}
	ck_assert_uint_eq(n, 3 * (sizeof(lens) / sizeof(lens[0])) * 5 * 4);
}
END_TEST

/* The computed UDP checksum 0 goes out as 0xffff (RFC 768): a payload chosen so that the sum is all ones. */
/* dp_csum_fold32 (one addition of s and s turned by 16 bits) against folding until nothing carries: the edges of
 * the end-around carry and 2^22 spread values. */
START_TEST(csum_fold32_matches_repeated_fold)
{
	static const uint32_t edges[] = { 0, 1, 0xffff, 0x10000, 0x1fffe, 0xfffe0001u, 0xffff0000u, 0x0000ffffu,
					  0xffffffffu, 0x8000ffffu, 0xffff8000u, 0x7fff8001u };
	uint32_t x = 12345, wrong = 0;

	for (unsigned i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		ck_assert_uint_eq(dp_csum_fold32(edges[i]), fold(edges[i]));
	for (unsigned i = 0; i < 1u << 22; i++) {
		x = x * 1664525u + 1013904223u;
		wrong += dp_csum_fold32(x) != fold(x);
	}
	ck_assert_uint_eq(wrong, 0);
}
END_TEST

START_TEST(builder_udp_zero_is_all_ones)
{
	struct dp_flow f = { .pt = 0, .seq = 2, .ts = 3, .remote_mac = { 2 } };
	uint8_t payload[2] = { 0, 0 }, a[128], b[128];
	uint16_t la, lb;

	dp_flow_set_local(&f, 0x0a000001u, 5000);
	dp_flow_set_remote(&f, 0x0a000002u, 6000);
	dp_flow_set_ssrc(&f, 1);
	dp_flow_csum_prepare(&f);
	/* the sum without the payload word, then the payload word that completes it to 0xffff */
	ref_build(b, &f, 0, 9, false, payload, 2, true);
	b[40] = b[41] = 0;
	uint16_t rest = fold(sum16(b + 26, 8) + 17 + 22 + sum16(b + 34, 22));
	put16(payload, (uint16_t)(0xffff - rest));
	la = dp_build_rtp_fast(a, &f, dp_eth_src(SRC_MAC), 0, 9, false, payload, 2,
			       (uint16_t)~dp_csum_fold(dp_csum_add(0, payload, 2)), true);
	lb = ref_build(b, &f, 0, 9, false, payload, 2, true);
	ck_assert_uint_eq(la, lb);
	ck_assert_uint_eq(a[40] << 8 | a[41], 0xffff);
	ck_assert(memcmp(a, b, la) == 0);
	check_csums(a, la);
}
END_TEST

/* A flow's TX counters kept in halves (line 3 of the flow holds the low 32 bits of the bytes): the carry into the
 * high half, and packets as tx_index less what was not sent. */
START_TEST(tx_counters_carry)
{
	struct dp_flow f = { 0 };

	f.tx_bytes_lo = 0xffffff00u;
	dp_flow_add_tx_bytes(&f, 0xff);
	ck_assert_uint_eq(dp_flow_tx_bytes(&f), 0xffffffffull);
	dp_flow_add_tx_bytes(&f, 1);
	ck_assert_uint_eq(dp_flow_tx_bytes(&f), 0x100000000ull);
	dp_flow_add_tx_bytes(&f, 0xfffffffeu);
	ck_assert_uint_eq(dp_flow_tx_bytes(&f), 0x1fffffffeull);
	dp_flow_add_tx_bytes(&f, 214);
	ck_assert_uint_eq(dp_flow_tx_bytes(&f), 0x1fffffffeull + 214);
	f.tx_bytes_hi = 0xffffffffu;
	f.tx_bytes_lo = 0;
	dp_flow_add_tx_bytes(&f, 7);
	ck_assert_uint_eq(dp_flow_tx_bytes(&f), 0xffffffff00000007ull);

	/* 5 frames scheduled, 2 of them not sent, and one DTMF packet on top: 4; across the 32-bit wrap too */
	f.tx_index = 5;
	f.tx_unsent = 2;
	f.tx_unsent--;
	ck_assert_uint_eq(dp_flow_tx_packets(&f), 4);
	f.tx_index = 3;
	f.tx_unsent = 0xfffffffeu; /* tx_index wrapped after 2^32 frames, 2 packets more than frames (DTMF) */
	ck_assert_uint_eq(dp_flow_tx_packets(&f), 5);
}
END_TEST

/* ---- the engine ------------------------------------------------------------------------------------------- */

#define FLOWS 8
#define MEDIA_IP 0x0a000001u
#define NFRAMES 12

/* Two talkspurts per cycle: frames 0-4 speech (marker on 0), 5-7 DTX (not sent, the timestamp runs on), 8-11
 * speech again (marker on 8); lengths vary, odd ones included. */
static const uint16_t flen[NFRAMES] = { 160, 33, 1, 160, 80, 0, 0, 0, 161, 160, 2, 159 };
static uint8_t data[NFRAMES * 200];
static struct codec_frame frames[NFRAMES];
static const struct codec_frame_cache cache = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 10, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};

static struct dp_flow_params flow_params(uint32_t i)
{
	return (struct dp_flow_params){ .local_ip = MEDIA_IP, .local_port = (uint16_t)(30000 + 2 * i),
					.remote_ip = 0xc0a80001u + i, .remote_port = (uint16_t)(40000 + 2 * i),
					.remote_mac = { 2, 0, 0, 0, 1, (uint8_t)i }, .dir = DP_FLOW_SEND,
					.dscp = (uint8_t)(i * 9 % 64), .payload_type = i & 1 ? 8 : -1,
					.ssrc = 0xabc00000u + i, .seq0 = (uint16_t)(65530 - i),
					.ts0 = 4294967295u - 300 * i, .cache = &cache };
}

static void fill_cache(uint8_t pattern)
{
	for (unsigned i = 0; i < NFRAMES; i++) {
		frames[i] = (struct codec_frame){ .offset = i * 200, .len = flen[i], .ts_inc = 80,
						  .flags = (uint16_t)(i == 0 || i == 8 ? CODEC_FRAME_MARKER : 0) };
		if (flen[i] == 0)
			frames[i].flags = CODEC_FRAME_DTX;
		for (unsigned k = 0; k < 200; k++)
			data[i * 200 + k] = (uint8_t)(pattern ^ (i * 31 + k * 7));
	}
}

/* reuse: first other flows send from the cache holding other frames, are deleted and the cache forgotten
 * (dp_cache_forget), as a daemon's part ends and frees its caches; the frames checked then come from a cache at
 * the same address with new contents, whose checksums must be its own. */
static void engine_frames_match(uint16_t vlan, bool reuse)
{
	char dir[] = "/tmp/cm-dp-txfast-XXXXXX", tx[128], err[DP_ERR_MAX], cmd[200];
	struct dp_config cfg;
	struct dp_port_info info;
	uint8_t mac[6];
	FILE *f;

	fill_cache(reuse ? 0x3c : 0xd5);
	dpt_pcap_eal("test_dp_txfast", dir, tx, sizeof(tx));
	dp_config_default(&cfg);
	cfg.max_flows = 64;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.vlan = vlan;
	cfg.rtcp_interval_ms = 0; /* RTP only in this capture */
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_pcap0", &info, err, sizeof(err)) == 0, "%s", err);
	dp_port_mac(mac);
	if (reuse) {
		for (uint32_t i = 0; i < FLOWS; i++) {
			struct dp_flow_params p = flow_params(i);

			p.local_port = (uint16_t)(31000 + 2 * i);
			ck_assert_int_eq(dp_flow_add(FLOWS + i, &p), 0);
		}
		usleep(100000);
		for (uint32_t i = 0; i < FLOWS; i++)
			ck_assert_int_eq(dp_flow_delete(FLOWS + i), 0);
		dp_cache_forget(&cache);
		fill_cache(0xd5);
	}
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct dp_flow_params p = flow_params(i);
		ck_assert_int_eq(dp_flow_add(i, &p), 0);
	}
	usleep(700000);
	uint64_t sent[FLOWS], lost[FLOWS];
	dpt_stop_and_count(FLOWS, MEDIA_IP, sent, lost, 30);
	dp_stop(); /* closes the capture */
	dp_eal_cleanup();

	/* Walk the capture: each flow's frames in order against the reference of its next frame. */
	struct { struct dp_flow f; uint32_t frame, got; } st[FLOWS];
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct dp_flow_params p = flow_params(i);

		memset(&st[i], 0, sizeof(st[i]));
		dp_flow_set_local(&st[i].f, p.local_ip, p.local_port);
		dp_flow_set_remote(&st[i].f, p.remote_ip, p.remote_port);
		memcpy(st[i].f.remote_mac, p.remote_mac, 6);
		st[i].f.dscp = p.dscp;
		st[i].f.pt = (uint8_t)(p.payload_type >= 0 ? p.payload_type : cache.payload_type);
		dp_flow_set_ssrc(&st[i].f, p.ssrc);
		st[i].f.seq = p.seq0;
		st[i].f.ts = p.ts0;
	}
	f = fopen(tx, "rb");
	ck_assert_ptr_nonnull(f);
	uint32_t gh[6], rh[4];
	uint8_t frame[2048], ref[2048];
	unsigned udp_frames = 0;
	ck_assert_uint_eq(fread(gh, sizeof(gh), 1, f), 1);
	while (fread(rh, sizeof(rh), 1, f) == 1) {
		ck_assert_uint_le(rh[2], sizeof(frame));
		ck_assert_uint_eq(fread(frame, rh[2], 1, f), 1);
		unsigned l2 = vlan ? 18 : 14;
		if (rh[2] < l2 + 28 || (frame[l2 - 2] << 8 | frame[l2 - 1]) != 0x0800)
			continue; /* the gratuitous ARP */
		ck_assert_uint_eq(frame[l2 + 9], 17);
		uint16_t sport = (uint16_t)(frame[l2 + 20] << 8 | frame[l2 + 21]);
		if (reuse && sport >= 31000)
			continue; /* the first flows' */
		ck_assert(sport >= 30000 && sport < 30000 + 2 * FLOWS && !(sport & 1));
		unsigned i = (sport - 30000) / 2;
		/* DTX frames are not sent: the timestamp runs on, the sequence number does not */
		while (frames[st[i].frame].flags & CODEC_FRAME_DTX) {
			st[i].f.ts += frames[st[i].frame].ts_inc;
			st[i].frame = (st[i].frame + 1) % NFRAMES;
		}
		const struct codec_frame *fr = &frames[st[i].frame];
		uint16_t ip_id = (uint16_t)(frame[l2 + 4] << 8 | frame[l2 + 5]);
		uint16_t len = ref_build(ref, &st[i].f, vlan, ip_id, fr->flags & CODEC_FRAME_MARKER, data + fr->offset,
					 fr->len, true);
		memcpy(ref + 6, frame + 6, 6); /* the port's own MAC as source */
		ck_assert(memcmp(frame + 6, mac, 6) == 0);
		ck_assert_uint_eq(rh[2], len);
		ck_assert_msg(memcmp(frame, ref, len) == 0, "flow %u packet %u (seq %u ts %u): frame differs", i,
			      st[i].got, st[i].f.seq, st[i].f.ts);
		check_csums(frame, rh[2]);
		st[i].f.seq++;
		st[i].f.ts += fr->ts_inc;
		st[i].frame = (st[i].frame + 1) % NFRAMES;
		st[i].got++;
		udp_frames++;
	}
	fclose(f);
	for (uint32_t i = 0; i < FLOWS; i++) {
		ck_assert_uint_eq(st[i].got, sent[i]);
		ck_assert_uint_eq(lost[i], 0);
		ck_assert_uint_ge(st[i].f.seq, 0); /* the sequence numbers wrapped: seq0 is 65530 - i */
		ck_assert_uint_lt(st[i].f.seq, 1000);
	}
	ck_assert_uint_gt(udp_frames, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(engine_frames_untagged)
{
	engine_frames_match(0, false);
}
END_TEST

START_TEST(engine_frames_vlan)
{
	engine_frames_match(301, false);
}
END_TEST

START_TEST(engine_frames_after_cache_reuse)
{
	engine_frames_match(0, true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_txfast");
	TCase *tb = tcase_create("builder"), *te = tcase_create("engine");

	tcase_add_test(tb, builder_matches_reference);
	tcase_add_test(tb, csum_fold32_matches_repeated_fold);
	tcase_add_test(tb, builder_udp_zero_is_all_ones);
	tcase_add_test(tb, tx_counters_carry);
	suite_add_tcase(s, tb);
	/* one EAL per process: each engine case runs in its own forked child (Check's default) */
	tcase_set_timeout(te, 60);
	tcase_add_test(te, engine_frames_untagged);
	tcase_add_test(te, engine_frames_vlan);
	tcase_add_test(te, engine_frames_after_cache_reuse);
	suite_add_tcase(s, te);
	return run_suite(s);
}
