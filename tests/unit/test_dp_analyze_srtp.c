/* callmeter-worker analyze on SRTP captures and on streams carrying the TX-time extension.  The capture is
 * written here with libsrtp2 (the sender side), SIP over UDP carrying the SDES keys (an offer with two a=crypto
 * lines, an answer choosing the second, a re-INVITE re-keying one side), known losses, a few corrupted
 * authentication tags, and TX times with known delays.  Checked: packets, loss, auth failures, the re-key, the
 * key chosen by tag, a key given on the command line, an SRTP stream with no key to check it, SRTCP, one-way
 * delay min/avg/max; and tshark's packets and loss (it does not authenticate: its packets are ours plus the
 * failures). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <srtp2/srtp.h>
#include <sys/wait.h>

#include "common/common.h"
#include "dataplane/dataplane_internal.h"
#include "check_main.h"
#include "pcaputil.h"

#define T0_US 1700000000000000ull
#define TICKS 300
#define IP_A 0x0a020001u
#define IP_B 0x0a020002u
#define PORT_A 30000
#define PORT_B 31000
#define SSRC_A 0x11111111u
#define SSRC_B 0x22222222u
#define SSRC_C 0x33333333u
#define SSRC_D 0x44444444u
#define SSRC_E 0x55555555u
#define OWD_ID 3
#define REKEY_AT 150

/* key||salt: 30 bytes from a seed, and its base64 */
static void key_make(uint8_t seed, uint8_t key[30], char b64[41])
{
	for (unsigned i = 0; i < 30; i++)
		key[i] = (uint8_t)(seed * 37 + i * 11);
	EVP_EncodeBlock((unsigned char *)b64, key, 30);
}

static const unsigned lost_a[] = { 5, 77, 78, 200 }, bad_a[] = { 20, 150, 151 };
static const unsigned lost_b[] = { 100 }, bad_c[] = { 50 };

static bool in(const unsigned *set, unsigned n, unsigned i)
{
	for (unsigned k = 0; k < n; k++)
		if (set[k] == i)
			return true;
	return false;
}

static srtp_t sender(const uint8_t key[30], bool tag32)
{
	srtp_policy_t pol;
	srtp_t s;

	memset(&pol, 0, sizeof(pol));
	if (tag32)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
	else
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.ssrc.type = ssrc_any_outbound;
	pol.key = (unsigned char *)(uintptr_t)key;
	pol.window_size = 128;
	ck_assert_int_eq(srtp_create(&s, &pol), srtp_err_status_ok);
	return s;
}

/* A SIP message with an SDP body: its length. */
static int sip_text(char *msg, size_t cap, const char *transport, const char *start, const char *call,
		    const char *sdp)
{
	int n = snprintf(msg, cap,
			 "%s\r\nVia: SIP/2.0/%s 10.9.9.9:5060;branch=z9hG4bK-%s\r\nFrom: <sip:a@x>;tag=1\r\n"
			 "To: <sip:b@x>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
			 "Content-Length: %zu\r\n\r\n%s", start, transport, call, call, strlen(sdp), sdp);

	ck_assert_int_lt(n, (int)cap);
	return n;
}

static void sip(FILE *f, uint64_t t_us, uint32_t src, uint32_t dst, const char *start, const char *call,
		const char *sdp)
{
	char msg[2048];
	uint8_t frame[2200];
	int n = sip_text(msg, sizeof(msg), "UDP", start, call, sdp);

	pcap_frame(f, t_us, frame, udp_frame(frame, src, 5060, dst, 5060, (const uint8_t *)msg, (uint32_t)n));
}

static void sdp(char *buf, size_t len, uint32_t ip, uint16_t port, const char *proto, const char *crypto)
{
	snprintf(buf, len, "v=0\r\no=- 1 1 IN IP4 %u.%u.%u.%u\r\ns=-\r\nc=IN IP4 %u.%u.%u.%u\r\nt=0 0\r\n"
		 "m=audio %u %s 0\r\na=rtpmap:0 PCMU/8000\r\n%s", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255,
		 ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, port, proto, crypto);
}

/* One RTP packet (PCMU, 160 bytes), with the TX-time element when ntp is not 0, protected when s is set;
 * corrupt: one bit of the tag flipped. */
static void rtp(FILE *f, uint64_t t_us, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t ssrc,
		unsigned i, uint64_t ntp, srtp_t s, bool corrupt)
{
	uint8_t pkt[256], frame[320];
	int len = 12;

	pkt[0] = ntp ? 0x90 : 0x80;
	pkt[1] = i == 0 ? 0x80 : 0;
	put16(pkt + 2, 1000 + i);
	put32(pkt + 4, 160u * i);
	put32(pkt + 8, ssrc);
	if (ntp)
		len += dp_ext_txtime(pkt + 12, OWD_ID, ntp);
	memset(pkt + len, 0xff ^ (i & 0x0f), 160);
	len += 160;
	if (s)
		ck_assert_int_eq(srtp_protect(s, pkt, &len), srtp_err_status_ok);
	if (corrupt)
		pkt[len - 1] ^= 0x01;
	pcap_frame(f, t_us, frame, udp_frame(frame, src, sport, dst, dport, pkt, (uint32_t)len));
}

static uint64_t us_to_ntp(uint64_t us)
{
	return (us / 1000000 + 2208988800ull) << 32 | (((us % 1000000) << 32) + 999999) / 1000000;
}

/* A's one-way delay: 10..14 ms. */
static unsigned delay_a_us(unsigned i)
{
	return 10000 + (i % 5) * 1000;
}

static double owd_avg_a_ms;

static void write_capture(const char *path)
{
	FILE *f = pcap_open(path);
	uint8_t ka_wrong[30], ka[30], kb[30], kb2[30], kc[30];
	char b_wrong[41], b_a[41], b_b[41], b_b2[41], b_c[41], body[1024], crypto[512];
	srtp_t sa, sb, sb2, sc;
	double owd_sum = 0;
	unsigned owd_n = 0;

	key_make(1, ka_wrong, b_wrong);
	key_make(2, ka, b_a);
	key_make(3, kb, b_b);
	key_make(4, kb2, b_b2);
	key_make(5, kc, b_c);
	sa = sender(ka, true);
	sb = sender(kb, true);
	sb2 = sender(kb2, true);
	sc = sender(kc, false);

	/* A offers two suites; B answers with tag 2: A sends with its tag-2 key, B with its own */
	snprintf(crypto, sizeof(crypto), "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n"
		 "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:%s|2^31\r\n", b_wrong, b_a);
	sdp(body, sizeof(body), IP_A, PORT_A, "RTP/SAVP", crypto);
	sip(f, T0_US - 100000, IP_A, IP_B, "INVITE sip:b@x SIP/2.0", "call-1", body);
	snprintf(crypto, sizeof(crypto), "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:%s\r\n", b_b);
	sdp(body, sizeof(body), IP_B, PORT_B, "RTP/SAVP", crypto);
	sip(f, T0_US - 50000, IP_B, IP_A, "SIP/2.0 200 OK", "call-1", body);
	/* D: DTLS-SRTP, no key in the SDP */
	sdp(body, sizeof(body), 0x0a040001, 32000, "UDP/TLS/RTP/SAVP", "a=fingerprint:sha-256 AB:CD\r\n");
	sip(f, T0_US - 40000, 0x0a040001, 0x0a040002, "INVITE sip:d@x SIP/2.0", "call-2", body);
	/* E: plain RTP with a dynamic payload type, named by its SDP */
	snprintf(body, sizeof(body), "v=0\r\no=- 1 1 IN IP4 10.5.0.1\r\ns=-\r\nc=IN IP4 10.5.0.1\r\nt=0 0\r\n"
		 "m=audio 34000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n");
	sip(f, T0_US - 30000, 0x0a050001, 0x0a050002, "INVITE sip:e@x SIP/2.0", "call-3", body);

	for (unsigned i = 0; i < TICKS; i++) {
		uint64_t t = T0_US + 20000ull * i;

		if (!in(lost_a, CM_ARRAY_SIZE(lost_a), i)) {
			rtp(f, t + delay_a_us(i), IP_A, PORT_A, IP_B, PORT_B, SSRC_A, i, us_to_ntp(t), sa,
			    in(bad_a, CM_ARRAY_SIZE(bad_a), i));
			if (!in(bad_a, CM_ARRAY_SIZE(bad_a), i)) {
				owd_sum += delay_a_us(i) / 1000.0;
				owd_n++;
			}
		}
		if (i == REKEY_AT) { /* B re-keys: its packets from here on use the new key */
			snprintf(crypto, sizeof(crypto), "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:%s\r\n", b_b2);
			sdp(body, sizeof(body), IP_B, PORT_B, "RTP/SAVP", crypto);
			sip(f, t + 100, IP_B, IP_A, "INVITE sip:a@x SIP/2.0", "call-1", body);
		}
		if (!in(lost_b, CM_ARRAY_SIZE(lost_b), i))
			rtp(f, t + 3000, IP_B, PORT_B, IP_A, PORT_A, SSRC_B, i, 0, i < REKEY_AT ? sb : sb2, false);
		if (i < 100)
			rtp(f, t + 5000, 0x0a030001, 40000, 0x0a030002, 40002, SSRC_C, i, 0, sc,
			    in(bad_c, CM_ARRAY_SIZE(bad_c), i));
		if (i < 50)
			rtp(f, t + 7000, 0x0a040001, 32000, 0x0a040002, 32002, SSRC_D, i, 0, NULL, false);
		if (i < 50) { /* E: 48 kHz clock, 20 ms packets, arrival 0/2/4 ms late */
			uint8_t pkt[172], frame[256];

			memset(pkt, 0x11, sizeof(pkt));
			pkt[0] = 0x80;
			pkt[1] = 111;
			put16(pkt + 2, (uint16_t)i);
			put32(pkt + 4, 960u * i);
			put32(pkt + 8, SSRC_E);
			pcap_frame(f, t + 11000 + (i % 3) * 2000, frame,
				   udp_frame(frame, 0x0a050001, 34000, 0x0a050002, 34002, pkt, sizeof(pkt)));
		}
		if (i == 60) { /* an SRTCP sender report from A, on the RTP port + 1 */
			uint8_t sr[64] = { 0x80, 200, 0, 6 }, frame[128];
			int len = 28;

			put32(sr + 4, SSRC_A);
			put32(sr + 8, 0xe0000000u);
			ck_assert_int_eq(srtp_protect_rtcp(sa, sr, &len), srtp_err_status_ok);
			pcap_frame(f, t + 9000, frame, udp_frame(frame, IP_A, PORT_A + 1, IP_B, PORT_B + 1, sr, (uint32_t)len));
		}
	}
	owd_avg_a_ms = owd_sum / owd_n;
	srtp_dealloc(sa);
	srtp_dealloc(sb);
	srtp_dealloc(sb2);
	srtp_dealloc(sc);
	fclose(f);
}

static bool has(const char *obj, const char *text)
{
	const char *end = strstr(obj + 1, "\"ssrc\": ");
	const char *p = strstr(obj, text);

	return p && (!end || p < end);
}

/* tshark's packets and loss of one stream. */
static void tshark_stream(const char *theirs, uint32_t ssrc, unsigned *pkts, long *lost)
{
	char pat[16];
	const char *line;

	snprintf(pat, sizeof(pat), "0x%08x", ssrc);
	line = strcasestr(theirs, pat);
	ck_assert_msg(line != NULL, "tshark did not see stream %s: %s", pat, theirs);
	ck_assert_int_eq(sscanf(line + strlen(pat), " %*s %u %ld", pkts, lost), 2);
}

START_TEST(analyze_srtp_and_owd)
{
	const char *bin = getenv("CALLMETER_WORKER_BIN");
	char pcap[] = "/tmp/cm-dp-srtp-XXXXXX.pcap", json[64], cmd[768], b_c[41], b_x[41];
	uint8_t key[30];
	int fd = mkstemps(pcap, 5), st;
	char *ours, *theirs, *js;
	const char *a, *b, *c, *d;
	unsigned pkts;
	long lost;
	double e_max_jitter;

	ck_assert_ptr_nonnull(bin);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(srtp_init(), srtp_err_status_ok);
	write_capture(pcap);
	snprintf(json, sizeof(json), "%s.json", pcap);
	key_make(5, key, b_c);
	key_make(6, key, b_x);

	/* C's key on the command line, by SSRC (with the SDP's "inline:" prefix kept) */
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s --srtp-key 0x%08x:AES_CM_128_HMAC_SHA1_80:inline:%s "
		 "2>&1", bin, pcap, json, SSRC_C, b_c);
	ours = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", ours);
	ck_assert_msg(strstr(ours, "5 RTP stream(s)"), "%s", ours);
	ck_assert_msg(strstr(ours, "5 SIP message(s), 5 SDP bodie(s); SRTP keys: 1 from options, 3 from SDP"), "%s",
		      ours);
	js = read_text(json);
	ck_assert_uint_eq((unsigned)json_num(js, "rtcp_packets"), 1); /* the SRTCP report, decrypted */
	ck_assert_uint_eq((unsigned)json_num(js, "sip_messages"), 5);
	ck_assert_uint_eq((unsigned)json_num(js, "srtp_auth_fail"), 0); /* capture-wide drops: no SRTCP failed */

	/* A: the offer's tag-2 key (chosen by the answer), three corrupted tags, four losses; one-way delay */
	a = flow_obj(js, SSRC_A);
	ck_assert_msg(has(a, "\"srtp\": \"verified\", \"srtp_key\": \"sdp\""), "%.600s", a);
	ck_assert_uint_eq((unsigned)json_num(a, "srtp_auth_fail"), CM_ARRAY_SIZE(bad_a));
	ck_assert_uint_eq((unsigned)json_num(a, "srtp_rekeys"), 0);
	ck_assert_uint_eq((unsigned)json_num(a, "packets_received"), TICKS - CM_ARRAY_SIZE(lost_a) - CM_ARRAY_SIZE(bad_a));
	/* the failures count as lost: a receiver would not play them */
	ck_assert_int_eq((int)json_num(a, "packets_lost"), CM_ARRAY_SIZE(lost_a) + CM_ARRAY_SIZE(bad_a));
	ck_assert_uint_eq((unsigned)json_num(a, "sender_reports"), 1);
	{
		const char *owd = strstr(a, "\"one_way_delay_ms\": {");

		ck_assert_ptr_nonnull(owd);
		ck_assert_double_eq_tol(json_num(owd, "min"), 10.0, 0.0015);
		ck_assert_double_eq_tol(json_num(owd, "max"), 14.0, 0.0015);
		ck_assert_double_eq_tol(json_num(owd, "avg"), owd_avg_a_ms, 0.0015);
		ck_assert_double_eq_tol(json_num(owd, "variation"), 4.0, 0.0015);
		ck_assert_uint_eq((unsigned)json_num(owd, "samples"), TICKS - CM_ARRAY_SIZE(lost_a) - CM_ARRAY_SIZE(bad_a));
		ck_assert_uint_eq((unsigned)json_num(owd, "ext_id"), OWD_ID);
	}
	ck_assert_uint_eq((unsigned)json_num(js, "negative_flows"), 0);
	/* B: re-keyed by its re-INVITE, no failure around the switch */
	b = flow_obj(js, SSRC_B);
	ck_assert_msg(has(b, "\"srtp\": \"verified\""), "%.600s", b);
	ck_assert_uint_eq((unsigned)json_num(b, "srtp_auth_fail"), 0);
	ck_assert_uint_eq((unsigned)json_num(b, "srtp_rekeys"), 1);
	ck_assert_uint_eq((unsigned)json_num(b, "packets_received"), TICKS - 1);
	ck_assert_int_eq((int)json_num(b, "packets_lost"), 1);
	ck_assert_msg(has(b, "\"one_way_delay_ms\": null"), "%.600s", b);
	/* C: the command line's key */
	c = flow_obj(js, SSRC_C);
	ck_assert_msg(has(c, "\"srtp\": \"verified\", \"srtp_key\": \"option\""), "%.600s", c);
	ck_assert_uint_eq((unsigned)json_num(c, "srtp_auth_fail"), 1);
	ck_assert_uint_eq((unsigned)json_num(c, "packets_received"), 99);
	/* D: SRTP by its SDP, but no key to check it with: analysed from the headers */
	d = flow_obj(js, SSRC_D);
	ck_assert_msg(has(d, "\"srtp\": \"unverified\", \"srtp_key\": \"none\", \"srtp_note\": "), "%.600s", d);
	ck_assert_uint_eq((unsigned)json_num(d, "packets_received"), 50);
	/* E: the SDP's a=rtpmap gives the dynamic type its name and its 48 kHz clock, so jitter is measured */
	{
		const char *e = flow_obj(js, SSRC_E);

		ck_assert_msg(has(e, "\"codec\": \"opus\", \"payload_type\": 111"), "%.600s", e);
		ck_assert_msg(has(e, "\"srtp\": \"none\""), "%.600s", e);
		ck_assert_double_gt(json_num(e, "max_jitter_ms"), 0.5);
		e_max_jitter = json_num(e, "max_jitter_ms");
	}

	/* tshark reads the headers: its packets are ours plus the authentication failures, its loss ours minus */
	snprintf(cmd, sizeof(cmd), "tshark -r %s -q -d udp.port==%u,rtp -d udp.port==%u,rtp -d udp.port==40002,rtp "
		 "-d udp.port==32002,rtp -z rtp,streams 2>/dev/null", pcap, PORT_A, PORT_B);
	theirs = run(cmd, &st);
	ck_assert_msg(st == 0 && strstr(theirs, "RTP Streams"), "tshark failed: %s", theirs);
	tshark_stream(theirs, SSRC_A, &pkts, &lost);
	ck_assert_uint_eq(pkts, json_num(a, "packets_received") + json_num(a, "srtp_auth_fail"));
	ck_assert_int_eq(lost, (long)(json_num(a, "packets_lost") - json_num(a, "srtp_auth_fail")));
	tshark_stream(theirs, SSRC_B, &pkts, &lost);
	ck_assert_uint_eq(pkts, json_num(b, "packets_received"));
	ck_assert_int_eq(lost, (long)json_num(b, "packets_lost"));
	tshark_stream(theirs, SSRC_C, &pkts, &lost);
	ck_assert_uint_eq(pkts, 100);
	{ /* tshark takes opus/48000 from the same SDP: max jitter within 0.05 ms */
		char pat[16];
		const char *line;
		double t_maxj, dummy;

		snprintf(pat, sizeof(pat), "0x%08x", SSRC_E);
		line = strcasestr(theirs, pat);
		ck_assert_msg(line != NULL, "%s", theirs);
		ck_assert_int_eq(sscanf(line + strlen(pat), " %*s %*u %*d (%*[^)]) %lf %lf %lf %lf %lf %lf", &dummy,
					&dummy, &dummy, &dummy, &dummy, &t_maxj), 6);
		ck_assert_msg(fabs(e_max_jitter - t_maxj) <= 0.05, "max jitter %.3f, tshark %.3f", e_max_jitter, t_maxj);
	}
	free(ours);
	free(js);
	free(theirs);

	/* No option: C is analysed from its headers (all 100 packets), nothing says it is SRTP.  A wrong key for
	 * it: every packet fails, and the stream is still reported. */
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s 2>&1", bin, pcap, json);
	ours = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", ours);
	js = read_text(json);
	c = flow_obj(js, SSRC_C);
	ck_assert_msg(has(c, "\"srtp\": null"), "%.600s", c);
	ck_assert_uint_eq((unsigned)json_num(c, "packets_received"), 100);
	free(ours);
	free(js);
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s --owd-ext-id off "
		 "--srtp-key 40000:AES_CM_128_HMAC_SHA1_80:%s 2>&1", bin, pcap, json, b_x);
	ours = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", ours);
	js = read_text(json);
	c = flow_obj(js, SSRC_C);
	ck_assert_msg(has(c, "\"srtp\": \"auth_failed\""), "%.600s", c);
	ck_assert_uint_eq((unsigned)json_num(c, "srtp_auth_fail"), 100);
	ck_assert_uint_eq((unsigned)json_num(c, "packets_received"), 0);
	ck_assert_msg(has(flow_obj(js, SSRC_A), "\"one_way_delay_ms\": null"), "%s", js);
	free(ours);
	free(js);

	/* bad options: exit 2 with the reason */
	snprintf(cmd, sizeof(cmd), "%s analyze %s --srtp-key 0x1:AES_CM_128_HMAC_SHA1_99:%s 2>&1", bin, pcap, b_c);
	ours = run(cmd, &st);
	ck_assert_int_eq(WEXITSTATUS(st), 2);
	ck_assert_ptr_nonnull(strstr(ours, "--srtp-key"));
	free(ours);
	snprintf(cmd, sizeof(cmd), "%s analyze %s --srtp-key 0x1:AES_CM_128_HMAC_SHA1_80:c2hvcnQ= 2>&1", bin, pcap);
	ours = run(cmd, &st);
	ck_assert_int_eq(WEXITSTATUS(st), 2);
	free(ours);
	snprintf(cmd, sizeof(cmd), "%s analyze %s --owd-ext-id 15 2>&1", bin, pcap);
	ours = run(cmd, &st);
	ck_assert_int_eq(WEXITSTATUS(st), 2);
	free(ours);
	srtp_shutdown();
	unlink(pcap);
	unlink(json);
}
END_TEST

/* ---- SIP over TCP ------------------------------------------------------------------------------------------ */

/* One SIP message over TCP (src:sport -> dst:dport) in segments of `seg` bytes from *seq on; segment number
 * `twice` is captured twice (a retransmission), segment number `lost` not at all (-1: none). */
static void sip_tcp(FILE *f, uint64_t t_us, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t *seq,
		    int seg, int twice, int lost, const char *start, const char *call, const char *sdp)
{
	char msg[2048];
	uint8_t frame[2200];
	int n = sip_text(msg, sizeof(msg), "TCP", start, call, sdp);

	for (int off = 0, k = 0; off < n; off += seg, k++) {
		uint32_t len = (uint32_t)(n - off < seg ? n - off : seg);

		for (int copy = 0; copy < (k == twice ? 2 : 1) && k != lost; copy++)
			pcap_frame(f, t_us + (uint64_t)k * 10 + (uint64_t)copy, frame,
				   tcp_frame(frame, src, sport, dst, dport, *seq + (uint32_t)off, 0x18,
					     (const uint8_t *)msg + off, len));
	}
	*seq += (uint32_t)n;
}

/* The keys of two SRTP streams learned from their call's SDP carried over TCP: after the connection's SYNs, an
 * INVITE of another call with one segment missing from the capture (a hole: that message cannot be read, the
 * stream resumes at the next one), the call's INVITE in 120-byte segments with one retransmitted, its 200 in one
 * segment; RTP both ways authenticated with those keys. */
START_TEST(analyze_keys_from_sip_over_tcp)
{
	const char *bin = getenv("CALLMETER_WORKER_BIN");
	char pcap[] = "/tmp/cm-dp-siptcp-XXXXXX.pcap", json[64], cmd[512], b_a[41], b_b[41], body[1024], crypto[256];
	uint8_t ka[30], kb[30], frame[256];
	uint32_t seq_a = 1000, seq_b = 9000;
	int fd = mkstemps(pcap, 5), st;
	const char *t;
	char *ours, *js;
	FILE *f;
	srtp_t sa, sb;

	ck_assert_ptr_nonnull(bin);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(srtp_init(), srtp_err_status_ok);
	key_make(7, ka, b_a);
	key_make(8, kb, b_b);
	sa = sender(ka, false);
	sb = sender(kb, false);
	f = pcap_open(pcap);
	pcap_frame(f, T0_US - 300000, frame, tcp_frame(frame, IP_A, 40000, IP_B, 5060, seq_a++, 0x02, NULL, 0));
	pcap_frame(f, T0_US - 299000, frame, tcp_frame(frame, IP_B, 5060, IP_A, 40000, seq_b++, 0x12, NULL, 0));
	sdp(body, sizeof(body), IP_A, 20000, "RTP/AVP", "");
	sip_tcp(f, T0_US - 250000, IP_A, 40000, IP_B, 5060, &seq_a, 100, -1, 1, "INVITE sip:c@x SIP/2.0", "call-x", body);
	snprintf(crypto, sizeof(crypto), "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", b_a);
	sdp(body, sizeof(body), IP_A, PORT_A, "RTP/SAVP", crypto);
	sip_tcp(f, T0_US - 200000, IP_A, 40000, IP_B, 5060, &seq_a, 120, 1, -1, "INVITE sip:b@x SIP/2.0", "call-t", body);
	snprintf(crypto, sizeof(crypto), "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", b_b);
	sdp(body, sizeof(body), IP_B, PORT_B, "RTP/SAVP", crypto);
	sip_tcp(f, T0_US - 100000, IP_B, 5060, IP_A, 40000, &seq_b, 2000, -1, -1, "SIP/2.0 200 OK", "call-t", body);
	for (unsigned i = 0; i < 100; i++) {
		rtp(f, T0_US + 20000ull * i, IP_A, PORT_A, IP_B, PORT_B, SSRC_A, i, 0, sa, false);
		rtp(f, T0_US + 20000ull * i + 3000, IP_B, PORT_B, IP_A, PORT_A, SSRC_B, i, 0, sb, false);
	}
	srtp_dealloc(sa);
	srtp_dealloc(sb);
	fclose(f);

	snprintf(json, sizeof(json), "%s.json", pcap);
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s 2>&1", bin, pcap, json);
	ours = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", ours);
	ck_assert_msg(strstr(ours, "2 SIP message(s) (2 over TCP)"), "%s", ours);
	js = read_text(json);
	for (uint32_t ssrc = SSRC_A; ssrc <= SSRC_B; ssrc += SSRC_B - SSRC_A) {
		const char *o = flow_obj(js, ssrc);

		ck_assert_msg(has(o, "\"srtp\": \"verified\", \"srtp_key\": \"sdp\""), "%.600s", o);
		ck_assert_uint_eq((unsigned)json_num(o, "srtp_auth_fail"), 0);
		ck_assert_uint_eq((unsigned)json_num(o, "packets_received"), 100);
	}
	ck_assert_uint_eq((unsigned)json_num(js, "sip_messages"), 2);
	t = strstr(js, "\"sip_tcp\": {");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq((unsigned)json_num(t, "messages"), 2);
	ck_assert_uint_eq((unsigned)json_num(t, "gaps"), 1);
	free(js);
	free(ours);
	srtp_shutdown();
	unlink(pcap);
	unlink(json);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_analyze_srtp");
	TCase *tc = tcase_create("pcap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, analyze_srtp_and_owd);
	tcase_add_test(tc, analyze_keys_from_sip_over_tcp);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
