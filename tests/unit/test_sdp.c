/* SDP parsing and offer/answer: what a parse yields, a table of malformed descriptions with reasons, answers
 * generated from offers (codec choice, payload numbers, direction, DTMF, rtcp-mux, SDES keys, rejected
 * streams) parsed back, and every negotiation failure reported as itself. */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "sip/sip.h"
#include "check_main.h"

static struct sdp_session sess, sess2;

static int parse(struct sdp_session *s, const char *text)
{
	return sdp_parse(s, text, strlen(text));
}

#define OFFER                                                                       \
	"v=0\r\n"                                                                   \
	"o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com\r\n"         \
	"s= \r\n"                                                                   \
	"c=IN IP4 192.0.2.101\r\n"                                                  \
	"t=0 0\r\n"                                                                 \
	"a=sendonly\r\n"                                                            \
	"m=audio 49172 RTP/AVP 8 0 111 101\r\n"                                     \
	"a=rtpmap:111 opus/48000/2\r\n"                                             \
	"a=fmtp:111 useinbandfec=1\r\n"                                             \
	"a=rtpmap:101 telephone-event/8000\r\n"                                     \
	"a=fmtp:101 0-15\r\n"                                                       \
	"a=ptime:20\r\n"                                                            \
	"a=rtcp-mux\r\n"                                                            \
	"m=video 51372 RTP/AVP 31\r\n"                                              \
	"c=IN IP4 192.0.2.102\r\n"                                                  \
	"a=rtpmap:31 H261/90000\r\n"                                                \
	"a=recvonly\r\n"

START_TEST(parse_offer)
{
	const struct sdp_format *f;

	ck_assert_msg(parse(&sess, OFFER) == 0, "%s", sess.error);
	ck_assert(sip_str_eq(sess.origin_user, "alice"));
	ck_assert_uint_eq(sess.sess_id, 2890844526u);
	ck_assert_uint_eq(sess.sess_version, 2890844527u);
	ck_assert(sip_str_eq(sess.addr, "192.0.2.101"));
	ck_assert_uint_eq(sess.nmedia, 2);
	ck_assert(sip_str_eq(sess.media[0].type, "audio"));
	ck_assert_uint_eq(sess.media[0].port, 49172);
	ck_assert_uint_eq(sess.media[0].nfmt, 4);
	ck_assert(sip_str_eq(sess.media[0].addr, "192.0.2.101"));
	ck_assert_int_eq(sess.media[0].dir, SDP_SENDONLY); /* from the session level */
	ck_assert_uint_eq(sess.media[0].ptime, 20);
	ck_assert(sess.media[0].rtcp_mux);
	f = sdp_media_format(&sess.media[0], 8);
	ck_assert(sip_str_eq(f->encoding, "PCMA")); /* static, no rtpmap */
	ck_assert_uint_eq(f->clock_rate, 8000);
	f = sdp_media_format(&sess.media[0], 111);
	ck_assert(sip_str_eq(f->encoding, "opus"));
	ck_assert_uint_eq(f->clock_rate, 48000);
	ck_assert_uint_eq(f->channels, 2);
	ck_assert(sip_str_eq(f->fmtp, "useinbandfec=1"));
	ck_assert(sip_str_eq(sess.media[1].addr, "192.0.2.102"));
	ck_assert_int_eq(sess.media[1].dir, SDP_RECVONLY);
	ck_assert_ptr_null(sdp_media_format(&sess.media[0], 9));
}
END_TEST

START_TEST(parse_crypto_lines)
{
	static const char sdp[] = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n"
				  "m=audio 4000 RTP/SAVP 0\n"
				  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
				  "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\n"
				  "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\n";

	ck_assert_msg(parse(&sess, sdp) == 0, "%s", sess.error);
	ck_assert_uint_eq(sess.media[0].ncrypto, 2);
	ck_assert_uint_eq(sess.media[0].crypto[0].tag, 1);
	ck_assert(sip_str_eq(sess.media[0].crypto[0].suite, "AES_CM_128_HMAC_SHA1_80"));
	ck_assert(sip_str_eq(sess.media[0].crypto[0].key, "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"));
	ck_assert(sip_str_eq(sess.media[0].crypto[1].suite, "AES_CM_128_HMAC_SHA1_32"));
}
END_TEST

static const struct {
	const char *sdp;
	const char *reason;
} bad[] = {
	{ "o=- 1 1 IN IP4 a\r\nv=0\r\ns=-\r\n", "v=0" },
	{ "v=1\r\no=- 1 1 IN IP4 a\r\ns=-\r\n", "v=0" },
	{ "v=0\r\ns=-\r\no=- 1 1 IN IP4 a\r\n", "o= line missing" },
	{ "v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", "six fields" },
	{ "v=0\r\no=- x 1 IN IP4 a\r\ns=-\r\n", "not a number" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n", "connection address" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n", "bad port" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/AVP 0 200\r\n", "payload type" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/AVP\r\n", "m= line without formats" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:96 opus/48000\r\n",
	  "not on the m= line" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus\r\n",
	  "malformed a=rtpmap" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/AVP 0\r\na=ptime:0\r\n", "a=ptime" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 X key\r\n",
	  "inline:" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/SAVP 0\r\n"
	  "a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:abcd\r\n", "tag" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nm=audio 4000 RTP/SAVP 0\r\n"
	  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:ab$cd\r\n", "base64" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP5 a\r\n", "IN IP4 or IN IP6" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\n\r\nt=0 0\r\n", "empty line" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nX=1\r\n", "letter" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\ny=1\r\n", "unknown SDP line type" },
	{ "v=0\r\n", "v=, o= and s=" },
	{ "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\n"
	  "m=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\nm=audio 3 RTP/AVP 0\r\nm=audio 4 RTP/AVP 0\r\n"
	  "m=audio 5 RTP/AVP 0\r\nm=audio 6 RTP/AVP 0\r\nm=audio 7 RTP/AVP 0\r\nm=audio 8 RTP/AVP 0\r\n"
	  "m=audio 9 RTP/AVP 0\r\n", "SDP_MAX_MEDIA" },
};

START_TEST(parse_rejects)
{
	int rc = parse(&sess, bad[_i].sdp);

	ck_assert_msg(rc < 0, "accepted: %s", bad[_i].sdp);
	ck_assert_msg(strstr(sess.error, bad[_i].reason), "reason '%s', expected '%s'", sess.error, bad[_i].reason);
}
END_TEST

static const struct sdp_codec local_codecs[] = {
	{ .name = "PCMU", .clock_rate = 8000, .pt = 0 },
	{ .name = "PCMA", .clock_rate = 8000, .pt = 8 },
	{ .name = "opus", .clock_rate = 48000, .channels = 2, .pt = 96, .fmtp = "minptime=10" },
};

static struct sdp_local callee(void)
{
	return (struct sdp_local){ .addr = "198.51.100.7", .port = 20000, .sess_id = 42, .sess_version = 1,
				   .codecs = local_codecs, .ncodecs = 3, .dtmf_pt = 100, .ptime = 20,
				   .dir = SDP_SENDRECV, .rtcp_mux = true };
}

/* RFC 3264 §6: our preference picks PCMU, DTMF keeps the offer's number, sendonly is answered recvonly, the
 * video stream is refused with port 0. */
/* Line ends around the 16-octet steps of the line scan: LF, CRLF and a CR ending the text are line ends; a NUL
 * or a lone CR inside a line is rejected with its own reason, and a line not of the <letter>= form is reported
 * as that first, whatever else it holds. */
START_TEST(line_ends_at_every_offset)
{
	static const struct {
		const char *tail;
		const char *error; /* NULL: accepted */
	} kinds[] = {
		{ "\r\n", NULL }, { "\n", NULL }, { "\r", NULL }, { "", NULL },
		{ "\rx\r\n", "NUL or CR inside an SDP line" }, { "\r\r\n", "NUL or CR inside an SDP line" },
		{ "\0x\r\n", "NUL or CR inside an SDP line" },
	};
	static struct sdp_session sess;
	char buf[256], pad[64];

	for (int n = 1; n < 40; n++)
		for (size_t k = 0; k < CM_ARRAY_SIZE(kinds); k++) {
			size_t len, tl = k == 6 ? 4 : strlen(kinds[k].tail);
			memset(pad, 'x', (size_t)n);
			pad[n] = '\0';
			len = (size_t)snprintf(buf, sizeof(buf), "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=%s", pad);
			memcpy(buf + len, kinds[k].tail, tl);
			len += tl;
			int rc = sdp_parse(&sess, buf, len);

			ck_assert_msg(rc == (kinds[k].error ? -EINVAL : 0), "pad %d kind %zu: %d %s", n, k, rc,
				      rc ? sess.error : "");
			if (kinds[k].error)
				ck_assert_str_eq(sess.error, kinds[k].error);
			else
				ck_assert_uint_eq(sess.name.len, (size_t)n);
		}
	/* not <letter>=: that reason first, even with a NUL in the line */
	ck_assert_int_eq(sdp_parse(&sess, "v=0\r\nX=\0\r\n", 9), -EINVAL);
	ck_assert_str_eq(sess.error, "SDP line is not <letter>=<value>");
}
END_TEST

START_TEST(answer_from_offer)
{
	struct sdp_local l = callee();
	struct sdp_negotiated neg, back;
	enum sdp_neg why;
	char ans[1024];
	int n;

	ck_assert_int_eq(parse(&sess, OFFER), 0);
	n = sdp_build_answer(&sess, &l, ans, sizeof(ans), &neg, &why);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(why, SDP_NEG_OK);
	ck_assert_uint_eq(neg.codec.pt, 0);
	ck_assert_uint_eq(neg.dtmf_pt, 101);
	ck_assert_int_eq(neg.dir, SDP_RECVONLY);
	ck_assert(sip_str_eq(neg.remote_addr, "192.0.2.101"));
	ck_assert_uint_eq(neg.remote_port, 49172);
	ck_assert(neg.rtcp_mux);
	ck_assert_uint_eq(neg.ptime, 20);

	ck_assert_msg(sdp_parse(&sess2, ans, (size_t)n) == 0, "%s\n%s", sess2.error, ans);
	ck_assert_uint_eq(sess2.nmedia, 2);
	ck_assert_uint_eq(sess2.media[0].port, 20000);
	ck_assert_uint_eq(sess2.media[0].nfmt, 2);
	ck_assert_uint_eq(sess2.media[0].fmt[0].pt, 0);
	ck_assert_uint_eq(sess2.media[0].fmt[1].pt, 101);
	ck_assert(sip_str_eq(sdp_media_format(&sess2.media[0], 101)->encoding, "telephone-event"));
	ck_assert_int_eq(sess2.media[0].dir, SDP_RECVONLY);
	ck_assert(sess2.media[0].rtcp_mux);
	ck_assert(sip_str_eq(sess2.media[0].addr, "198.51.100.7"));
	ck_assert(sip_str_eq(sess2.media[1].type, "video"));
	ck_assert_uint_eq(sess2.media[1].port, 0);
	ck_assert(strstr(ans, "m=video 0 RTP/AVP 31\r\n"));

	/* the offerer (sendonly, PCMA/PCMU/opus/DTMF 101) accepts that answer */
	static const struct sdp_codec offerer_codecs[] = {
		{ .name = "PCMA", .clock_rate = 8000, .pt = 8 },
		{ .name = "PCMU", .clock_rate = 8000, .pt = 0 },
		{ .name = "opus", .clock_rate = 48000, .channels = 2, .pt = 111 },
	};
	struct sdp_local off = { .addr = "192.0.2.101", .port = 49172, .codecs = offerer_codecs, .ncodecs = 3,
				 .dtmf_pt = 101, .dir = SDP_SENDONLY, .rtcp_mux = true };
	ck_assert_int_eq(sdp_accept_answer(&off, &sess2, &back, &why), 0);
	ck_assert_uint_eq(back.codec.pt, 0);
	ck_assert_int_eq(back.dir, SDP_SENDONLY);
	ck_assert_uint_eq(back.remote_port, 20000);
	ck_assert_uint_eq(back.dtmf_pt, 101);
}
END_TEST

/* A dynamic codec keeps the offerer's payload number (RFC 3264 §6.1). */
START_TEST(answer_dynamic_pt)
{
	struct sdp_local l = callee();
	struct sdp_negotiated neg;
	enum sdp_neg why;
	char ans[1024];
	int n;

	l.codecs = &local_codecs[2];
	l.ncodecs = 1;
	l.dtmf_pt = 0;
	ck_assert_int_eq(parse(&sess, OFFER), 0);
	n = sdp_build_answer(&sess, &l, ans, sizeof(ans), &neg, &why);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(neg.codec.pt, 111);
	ck_assert_uint_eq(neg.dtmf_pt, 0);
	ck_assert(strstr(ans, "m=audio 20000 RTP/AVP 111\r\n"));
	ck_assert(strstr(ans, "a=rtpmap:111 opus/48000/2\r\n"));
	ck_assert(strstr(ans, "a=fmtp:111 minptime=10\r\n"));
	ck_assert_ptr_null(strstr(ans, "telephone-event"));
}
END_TEST

/* The offer's exact text (every optional line, a 64-bit session id, two channels and an fmtp, SAVP with its
 * key; then none of the optional lines), and every buffer shorter than it refused with -ENOSPC without a byte
 * written past the buffer, the text kept NUL-terminated inside it. */
START_TEST(offer_text)
{
	static const char full[] =
		"v=0\r\no=callmeter 18446744073709551615 7 IN IP4 198.51.100.7\r\ns=callmeter\r\n"
		"c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 20000 RTP/SAVP 0 8 96 100\r\n"
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 minptime=10\r\n"
		"a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-16\r\na=ptime:20\r\na=sendrecv\r\na=rtcp-mux\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:a2V5\r\n";
	static const char bare[] = "v=0\r\no=callmeter 0 0 IN IP4 10.0.0.1\r\ns=callmeter\r\nc=IN IP4 10.0.0.1\r\n"
				   "t=0 0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n";
	struct sdp_local l = callee(), b = { .addr = "10.0.0.1", .port = 1, .codecs = local_codecs, .ncodecs = 1,
					     .dir = SDP_INACTIVE };
	char buf[1024];

	l.sess_id = UINT64_MAX;
	l.sess_version = 7;
	l.crypto_suite = "AES_CM_128_HMAC_SHA1_80";
	l.crypto_key = "a2V5";
	ck_assert_int_eq(sdp_build_offer(&l, buf, sizeof(buf)), (int)strlen(full));
	ck_assert_str_eq(buf, full);
	ck_assert_int_eq(sdp_build_offer(&b, buf, sizeof(buf)), (int)strlen(bare));
	ck_assert_str_eq(buf, bare);
	for (size_t cap = 0; cap <= strlen(full); cap++) {
		memset(buf, '#', sizeof(buf));
		ck_assert_int_eq(sdp_build_offer(&l, buf, cap), -ENOSPC);
		for (size_t i = cap; i < sizeof(buf); i++)
			ck_assert_msg(buf[i] == '#', "cap %zu: byte %zu written", cap, i);
		if (cap)
			ck_assert_ptr_nonnull(memchr(buf, '\0', cap));
	}
	ck_assert_int_eq(sdp_build_offer(&l, buf, strlen(full) + 1), (int)strlen(full));
}
END_TEST

/* Offer built, parsed back, answered with SDES, the answer accepted: each side ends up with the other's key. */
START_TEST(srtp_offer_answer)
{
	static const char key_a[] = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
	static const char key_b[] = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
	struct sdp_local a = callee(), b = callee();
	struct sdp_negotiated na, nb;
	enum sdp_neg why;
	char off[1024], ans[1024];
	int n;

	a.addr = "10.0.0.1";
	a.port = 30000;
	a.crypto_suite = b.crypto_suite = "AES_CM_128_HMAC_SHA1_80";
	a.crypto_key = key_a;
	b.crypto_key = key_b;
	a.srtp_required = true;
	n = sdp_build_offer(&a, off, sizeof(off));
	ck_assert_int_gt(n, 0);
	ck_assert_msg(sdp_parse(&sess, off, (size_t)n) == 0, "%s", sess.error);
	ck_assert(sip_str_eq(sess.media[0].proto, "RTP/SAVP"));
	ck_assert_uint_eq(sess.media[0].nfmt, 4);
	ck_assert(sip_str_eq(sdp_media_format(&sess.media[0], 96)->fmtp, "minptime=10"));
	n = sdp_build_answer(&sess, &b, ans, sizeof(ans), &nb, &why);
	ck_assert_int_gt(n, 0);
	ck_assert(nb.srtp);
	ck_assert(sip_str_eq(nb.remote_key, key_a));
	ck_assert_uint_eq(nb.crypto_tag, 1);
	ck_assert_int_eq(sdp_parse(&sess2, ans, (size_t)n), 0);
	ck_assert_int_eq(sdp_accept_answer(&a, &sess2, &na, &why), 0);
	ck_assert(na.srtp);
	ck_assert(sip_str_eq(na.remote_key, key_b));
	ck_assert(sip_str_eq(na.remote_addr, "198.51.100.7"));
	ck_assert_uint_eq(na.remote_port, 20000);
}
END_TEST

/* Each failure is reported as itself. */
START_TEST(negotiation_failures)
{
	struct sdp_local l = callee();
	struct sdp_negotiated neg;
	enum sdp_neg why;
	char ans[1024];

	ck_assert_int_eq(parse(&sess, "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n"
				      "m=audio 4000 RTP/AVP 18\r\n"), 0);
	ck_assert_int_eq(sdp_build_answer(&sess, &l, ans, sizeof(ans), &neg, &why), -EPROTO);
	ck_assert_int_eq(why, SDP_NEG_NO_COMMON_CODEC);
	ck_assert_str_eq(sdp_neg_name(why), "no common codec");

	ck_assert_int_eq(parse(&sess, "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n"
				      "m=video 4000 RTP/AVP 31\r\nm=audio 0 RTP/AVP 0\r\n"), 0);
	ck_assert_int_eq(sdp_build_answer(&sess, &l, ans, sizeof(ans), &neg, &why), -EPROTO);
	ck_assert_int_eq(why, SDP_NEG_NO_AUDIO);

	ck_assert_int_eq(parse(&sess, "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n"
				      "m=audio 4000 RTP/SAVP 0\r\n"
				      "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:abcd\r\n"), 0);
	ck_assert_int_eq(sdp_build_answer(&sess, &l, ans, sizeof(ans), &neg, &why), -EPROTO);
	ck_assert_int_eq(why, SDP_NEG_SRTP_UNSUPPORTED);

	l.crypto_suite = "AES_CM_128_HMAC_SHA1_80";
	l.crypto_key = "abcd";
	l.srtp_required = true;
	ck_assert_int_eq(parse(&sess, "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n"
				      "m=audio 4000 RTP/AVP 0\r\n"), 0);
	ck_assert_int_eq(sdp_build_answer(&sess, &l, ans, sizeof(ans), &neg, &why), -EPROTO);
	ck_assert_int_eq(why, SDP_NEG_SRTP_REQUIRED);

	/* an answer naming a payload type we never offered is a bad answer */
	l = callee();
	ck_assert_int_eq(parse(&sess, "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n"
				      "m=audio 4000 RTP/AVP 0 97\r\na=rtpmap:97 iLBC/8000\r\n"), 0);
	ck_assert_int_eq(sdp_accept_answer(&l, &sess, &neg, &why), -EPROTO);
	ck_assert_int_eq(why, SDP_NEG_BAD_ANSWER);
	/* too small a buffer */
	ck_assert_int_eq(sdp_build_offer(&l, ans, 40), -ENOSPC);
}
END_TEST

static Suite *sdp_suite(void)
{
	Suite *s = suite_create("sdp");
	TCase *tc = tcase_create("sdp");

	tcase_add_test(tc, parse_offer);
	tcase_add_test(tc, parse_crypto_lines);
	tcase_add_loop_test(tc, parse_rejects, 0, (int)CM_ARRAY_SIZE(bad));
	tcase_add_test(tc, line_ends_at_every_offset);
	tcase_add_test(tc, answer_from_offer);
	tcase_add_test(tc, answer_dynamic_pt);
	tcase_add_test(tc, offer_text);
	tcase_add_test(tc, srtp_offer_answer);
	tcase_add_test(tc, negotiation_failures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(sdp_suite());
}
