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

static void sip(FILE *f, uint64_t t_us, uint32_t src, uint32_t dst, const char *start, const char *call,
		const char *sdp)
{
	char msg[2048];
	uint8_t frame[2200];
	int n = snprintf(msg, sizeof(msg),
			 "%s\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-%s\r\nFrom: <sip:a@x>;tag=1\r\n"
			 "To: <sip:b@x>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
			 "Content-Length: %zu\r\n\r\n%s", start, call, call, strlen(sdp), sdp);

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

static char *read_file(const char *path)
{
	FILE *jf = fopen(path, "r");
	char *js = calloc(1, 1 << 16);

	ck_assert_ptr_nonnull(jf);
	ck_assert_uint_gt(fread(js, 1, (1 << 16) - 1, jf), 0);
	fclose(jf);
	return js;
}

/* The JSON object of a stream (from its "ssrc" key to the next stream's). */
static const char *flow_obj(const char *js, uint32_t ssrc)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof(pat), "\"ssrc\": \"0x%08x\"", ssrc);
	p = strstr(js, pat);
	ck_assert_msg(p != NULL, "stream 0x%08x missing: %s", ssrc, js);
	return p;
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
	ck_assert_msg(strstr(ours, "4 RTP stream(s)"), "%s", ours);
	ck_assert_msg(strstr(ours, "4 SIP message(s), 4 SDP bodie(s); SRTP keys: 1 from options, 3 from SDP"), "%s",
		      ours);
	js = read_file(json);
	ck_assert_uint_eq((unsigned)json_num(js, "rtcp_packets"), 1); /* the SRTCP report, decrypted */
	ck_assert_uint_eq((unsigned)json_num(js, "sip_messages"), 4);
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
	free(ours);
	free(js);
	free(theirs);

	/* No option: C is analysed from its headers (all 100 packets), nothing says it is SRTP.  A wrong key for
	 * it: every packet fails, and the stream is still reported. */
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s 2>&1", bin, pcap, json);
	ours = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", ours);
	js = read_file(json);
	c = flow_obj(js, SSRC_C);
	ck_assert_msg(has(c, "\"srtp\": null"), "%.600s", c);
	ck_assert_uint_eq((unsigned)json_num(c, "packets_received"), 100);
	free(ours);
	free(js);
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s --owd-ext-id off "
		 "--srtp-key 40000:AES_CM_128_HMAC_SHA1_80:%s 2>&1", bin, pcap, json, b_x);
	ours = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", ours);
	js = read_file(json);
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

int main(void)
{
	Suite *s = suite_create("dp_analyze_srtp");
	TCase *tc = tcase_create("pcap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, analyze_srtp_and_owd);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
