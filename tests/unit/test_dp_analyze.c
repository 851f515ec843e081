/* callmeter-worker analyze on captures written here, checked against tshark's own RTP analysis
 * (tshark -z rtp,streams): packets and loss equal, maximum jitter within 0.05 ms.  Also: bad frames are counted
 * by reason, non-RTP UDP is not reported as a stream, bad arguments exit 2. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include "common/common.h"
#include "check_main.h"
#include "pcaputil.h"

struct stream {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t pt;
	uint32_t ssrc;
	uint16_t seq0;
	unsigned n;
	unsigned max_delay_us;
	unsigned nlost;
	const unsigned *lost;
};

static void write_stream_packet(FILE *f, const struct stream *s, unsigned i, uint64_t *t_out, uint32_t *seed)
{
	uint8_t rtp[172], frame[256];

	rtp[0] = 0x80;
	rtp[1] = s->pt | (i == 0 ? 0x80 : 0);
	put16(rtp + 2, (uint16_t)(s->seq0 + i));
	put32(rtp + 4, 12345u + 160u * i);
	put32(rtp + 8, s->ssrc);
	memset(rtp + 12, s->pt == 0 ? 0xff : 0xd5, 160);
	*seed = *seed * 1664525u + 1013904223u;
	*t_out = 1700000000000000ull + 20000ull * i + (*seed >> 8) % (s->max_delay_us + 1);
	pcap_frame(f, *t_out, frame, udp_frame(frame, s->src, s->sport, s->dst, s->dport, rtp, sizeof(rtp)));
}

static bool is_lost(const struct stream *s, unsigned i)
{
	for (unsigned k = 0; k < s->nlost; k++)
		if (s->lost[k] == i)
			return true;
	return false;
}

static const unsigned lost_a[] = { 3, 40, 41, 42, 43, 44, 100, 250, 251, 400, 401, 402, 403, 404, 405, 406, 407,
				   408, 409, 410 };
static const unsigned lost_b[] = { 10, 150, 151 };
static const struct stream streams[] = {
	{ 0x0a010001, 0x0a010002, 40000, 40002, 0, 0xa1a1a1a1, 65000, 500, 6000, CM_ARRAY_SIZE(lost_a), lost_a },
	{ 0x0a010003, 0x0a010004, 41000, 41002, 8, 0xb2b2b2b2, 7, 300, 2000, CM_ARRAY_SIZE(lost_b), lost_b },
};

static void write_capture(const char *path)
{
	FILE *f = pcap_open(path);
	uint32_t seed[2] = { 1, 2 };
	uint8_t frame[256], junk[64];
	uint64_t t = 0, sr_at = 0;

	/* Interleave the streams in time order (stream B starts 7 ms after A; delays stay below 20 ms). */
	for (unsigned i = 0; i < 500; i++) {
		for (unsigned s = 0; s < 2; s++) {
			if (i < streams[s].n && !is_lost(&streams[s], i))
				write_stream_packet(f, &streams[s], i, &t, &seed[s]);
			else if (i < streams[s].n)
				seed[s] = seed[s] * 1664525u + 1013904223u;
		}
		if (i == 50) { /* an ARP request, an IPv6 frame, a DNS-like datagram, an RTCP receiver report */
			memset(frame, 0, sizeof(frame));
			memcpy(frame, "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x08\x06", 14);
			pcap_frame(f, t + 1, frame, 60);
			memcpy(frame + 12, "\x86\xdd", 2);
			pcap_frame(f, t + 2, frame, 80);
			memset(junk, 0x11, sizeof(junk));
			pcap_frame(f, t + 3, frame, udp_frame(frame, 0x0a010005, 5353, 0x0a010006, 5353, junk, 40));
			memcpy(junk, "\x80\xc9\x00\x01\xa1\xa1\xa1\xa1", 8);
			pcap_frame(f, t + 4, frame, udp_frame(frame, 0x0a010002, 40003, 0x0a010001, 40001, junk, 8));
			pcap_frame(f, t + 5, frame, 30); /* truncated inside the IP header */
		}
		if (i == 100) { /* A's sender report: NTP 0x0000e000.12345678, so LSR 0xe0001234; and a malformed one */
			static const uint8_t sr[28] = { 0x80, 200, 0, 6, 0xa1, 0xa1, 0xa1, 0xa1, 0, 0, 0xe0, 0, 0x12,
							0x34, 0x56, 0x78 };
			sr_at = t + 1;
			pcap_frame(f, sr_at, frame, udp_frame(frame, 0x0a010001, 40001, 0x0a010002, 40003, sr, 28));
			pcap_frame(f, t + 2, frame, udp_frame(frame, 0x0a010001, 40001, 0x0a010002, 40003, sr, 24));
		}
		if (i == 105) { /* B reports about A 100 ms after the SR, having held it 3932/65536 s (59.997 ms) */
			uint8_t rr[32] = { 0x81, 201, 0, 7, 0xb2, 0xb2, 0xb2, 0xb2, 0xa1, 0xa1, 0xa1, 0xa1, 10, 0, 0, 5 };

			put32(rr + 20, 80);         /* jitter: 10 ms at 8 kHz */
			put32(rr + 24, 0xe0001234); /* LSR */
			put32(rr + 28, 3932);       /* DLSR */
			pcap_frame(f, sr_at + 100000, frame, udp_frame(frame, 0x0a010002, 40003, 0x0a010001, 40001, rr, 32));
		}
	}
	fclose(f);
}

START_TEST(analyze_matches_tshark)
{
	const char *bin = getenv("CALLMETER_WORKER_BIN");
	char pcap[] = "/tmp/cm-dp-analyze-XXXXXX.pcap", json[64], cmd[512];
	int fd = mkstemps(pcap, 5), st;
	char *ours, *theirs, *js;
	FILE *jf;

	ck_assert_ptr_nonnull(bin);
	ck_assert_int_ge(fd, 0);
	close(fd);
	write_capture(pcap);
	snprintf(json, sizeof(json), "%s.json", pcap);

	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s 2>&1", bin, pcap, json);
	ours = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", ours);
	/* RTCP is analysed, not dropped: the RR at frame 50, A's SR and B's RR; the malformed SR is counted */
	ck_assert_msg(strstr(ours, "2 RTP stream(s) in 785 frame(s), 3 RTCP packet(s)"), "%s", ours);
	ck_assert_msg(strstr(ours, "truncated 1; not_ipv4 1; arp 1; rtp_bad_version 1; rtcp_bad 1\n"), "%s", ours);

	snprintf(cmd, sizeof(cmd), "tshark -r %s -q -d udp.port==40002,rtp -d udp.port==41002,rtp -z rtp,streams "
		 "2>/dev/null", pcap);
	theirs = run(cmd, &st);
	ck_assert_msg(st == 0 && strstr(theirs, "RTP Streams"), "tshark failed: %s", theirs);

	jf = fopen(json, "r");
	ck_assert_ptr_nonnull(jf);
	js = calloc(1, 1 << 16);
	ck_assert_uint_gt(fread(js, 1, (1 << 16) - 1, jf), 0);
	fclose(jf);
	ck_assert_ptr_nonnull(strstr(js, "\"flows\": ["));
	ck_assert_ptr_nonnull(strstr(js, "\"run\": {\"id\""));

	for (unsigned s = 0; s < CM_ARRAY_SIZE(streams); s++) {
		char ssrc[16], line_src[32], *line, *obj;
		unsigned pkts;
		long lost;
		double maxj, t_maxj, dummy;
		int fields;

		snprintf(ssrc, sizeof(ssrc), "0x%08x", streams[s].ssrc);
		line = strcasestr(theirs, ssrc); /* tshark prints 0xA1A1A1A1 */
		ck_assert_msg(line != NULL, "tshark did not see stream %s: %s", ssrc, theirs);
		/* SSRC Payload Pkts Lost (pct) MinDelta MeanDelta MaxDelta MinJitter MeanJitter MaxJitter */
		fields = sscanf(line + strlen(ssrc), " %*s %u %ld (%*[^)]) %lf %lf %lf %lf %lf %lf", &pkts, &lost, &dummy,
				&dummy, &dummy, &dummy, &dummy, &t_maxj);
		ck_assert_msg(fields == 8, "cannot read tshark's line: %.200s", line);

		snprintf(line_src, sizeof(line_src), "\"ssrc\": \"%s\"", ssrc);
		obj = strstr(js, line_src);
		ck_assert_msg(obj != NULL, "stream %s missing from the JSON summary", ssrc);
		ck_assert_uint_eq((unsigned)json_num(obj, "packets_received"), pkts);
		ck_assert_uint_eq((unsigned)json_num(obj, "packets_received"), streams[s].n - streams[s].nlost);
		ck_assert_int_eq((long)json_num(obj, "packets_lost"), lost);
		ck_assert_int_eq((long)json_num(obj, "packets_lost"), (long)streams[s].nlost);
		maxj = json_num(obj, "max_jitter_ms");
		ck_assert_msg(fabs(maxj - t_maxj) <= 0.05, "stream %s: max jitter %.3f ms, tshark %.3f ms", ssrc, maxj,
			      t_maxj);
		ck_assert_double_gt(maxj, 0.3); /* the injected delay variation is visible */
		ck_assert_ptr_nonnull(strstr(obj, "\"mos\": "));
		ck_assert_ptr_nonnull(strstr(obj, "\"r_factor\": "));
		ck_assert_ptr_nonnull(strstr(obj, "\"out_of_order_packets\": 0"));
		ck_assert_ptr_nonnull(strstr(obj, "\"duplicate_packets\": 0"));
	}
	/* RTCP about A: what B reported, and the round trip seen here (100 ms − DLSR); B has none. */
	{
		const char *a = strstr(js, "0xa1a1a1a1"), *b = strstr(js, "0xb2b2b2b2");

		ck_assert_double_eq_tol(json_num(a, "rtt_ms"), 100.0 - 3932 * 1000.0 / 65536, 0.002);
		ck_assert_uint_eq((unsigned)json_num(a, "sender_reports"), 1);
		ck_assert_uint_eq((unsigned)json_num(a, "report_blocks"), 1);
		ck_assert_int_eq((int)json_num(a, "reported_packets_lost"), 5);
		ck_assert_double_eq_tol(json_num(a, "reported_fraction_lost"), 10 / 256.0, 1e-4);
		ck_assert_double_eq_tol(json_num(a, "reported_jitter_ms"), 10.0, 1e-9);
		ck_assert_ptr_nonnull(strstr(b, "\"rtt_ms\": null, \"rtcp\": null"));
		/* G.107: A (4 % loss, in bursts, 20 ms more delay) scores below B (1 % random loss), both in range */
		ck_assert_double_lt(json_num(a, "r_factor"), json_num(b, "r_factor"));
		ck_assert_double_ge(json_num(a, "mos"), 1.0);
		ck_assert_double_le(json_num(b, "mos"), 4.5);
		ck_assert_double_gt(json_num(b, "mos"), json_num(a, "mos"));
	}
	/* Stream A's 11-packet outage is one RFC 3611 burst (density 1); the isolated losses are gap losses. */
	ck_assert_double_eq_tol(json_num(strstr(js, "0xa1a1a1a1"), "burst_density"), 1.0, 1e-9);
	free(ours);
	free(theirs);
	free(js);
	unlink(pcap);
	unlink(json);
}
END_TEST

/* A stream that switches codec mid-call (same SSRC, sequence going on): 200 packets of PCMU (PT 0, 8 kHz clock,
 * +160 a packet), then 200 of DVI4/16000 (PT 6, +320 a packet), capture times 20 ms apart plus up to 1 ms.
 * Jitter is taken on each payload type's clock and restarted at the switch, as the live RX does: under 1 ms
 * (on PCMU's clock throughout, the second half reads 40 ms of timestamps per 20 ms: ~20 ms), and the switch
 * is no timestamp jump. */
START_TEST(analyze_follows_a_codec_switch)
{
	const char *bin = getenv("CALLMETER_WORKER_BIN");
	char pcap[] = "/tmp/cm-dp-analyze-sw-XXXXXX.pcap", json[64], cmd[512];
	int fd = mkstemps(pcap, 5), st;
	uint8_t rtp[172], frame[256];
	uint32_t ts = 5000, seed = 7;
	char *out, *js;
	FILE *f;

	ck_assert_ptr_nonnull(bin);
	ck_assert_int_ge(fd, 0);
	close(fd);
	f = pcap_open(pcap);
	for (unsigned i = 0; i < 400; i++) {
		uint8_t pt = i < 200 ? 0 : 6;

		rtp[0] = 0x80;
		rtp[1] = pt;
		put16(rtp + 2, (uint16_t)(100 + i));
		put32(rtp + 4, ts);
		put32(rtp + 8, 0xc3c3c3c3);
		memset(rtp + 12, 0x55, 160);
		ts += pt == 0 ? 160 : 320;
		seed = seed * 1664525u + 1013904223u;
		pcap_frame(f, 1700000000000000ull + 20000ull * i + (seed >> 8) % 1001, frame,
			   udp_frame(frame, 0x0a020001, 42000, 0x0a020002, 42002, rtp, sizeof(rtp)));
	}
	fclose(f);
	snprintf(json, sizeof(json), "%s.json", pcap);
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s 2>&1", bin, pcap, json);
	out = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", out);
	js = read_text(json);
	ck_assert_ptr_nonnull(js);
	const char *obj = flow_obj(js, 0xc3c3c3c3);

	ck_assert_ptr_nonnull(obj);
	ck_assert_uint_eq((unsigned)json_num(obj, "packets_received"), 400);
	ck_assert_int_eq((long)json_num(obj, "packets_lost"), 0);
	ck_assert_int_eq((long)json_num(obj, "timestamp_jumps"), 0);
	ck_assert_msg(json_num(obj, "max_jitter_ms") < 1.0, "max jitter %.3f ms", json_num(obj, "max_jitter_ms"));
	ck_assert_double_gt(json_num(obj, "max_jitter_ms"), 0.05); /* the capture times' variation is seen */
	free(out);
	free(js);
	unlink(pcap);
	unlink(json);
}
END_TEST

START_TEST(analyze_bad_arguments)
{
	const char *bin = getenv("CALLMETER_WORKER_BIN");
	char cmd[512], *out;
	int st;

	snprintf(cmd, sizeof(cmd), "%s analyze 2>&1", bin);
	out = run(cmd, &st);
	ck_assert_int_eq(WEXITSTATUS(st), 2);
	ck_assert_ptr_nonnull(strstr(out, "usage"));
	free(out);
	snprintf(cmd, sizeof(cmd), "%s analyze /nonexistent/x.pcap 2>&1", bin);
	out = run(cmd, &st);
	ck_assert_int_eq(WEXITSTATUS(st), 1);
	ck_assert_ptr_nonnull(strstr(out, "cannot read"));
	free(out);
	snprintf(cmd, sizeof(cmd), "%s analyze /tmp/a,b.pcap 2>&1", bin);
	out = run(cmd, &st);
	ck_assert_int_eq(WEXITSTATUS(st), 2);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_analyze");
	TCase *tc = tcase_create("pcap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, analyze_matches_tshark);
	tcase_add_test(tc, analyze_follows_a_codec_switch);
	tcase_add_test(tc, analyze_bad_arguments);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
