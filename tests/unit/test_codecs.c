/* Codec registry: lookups, SDP text, G.711 against its code tables, encode→decode quality per codec, Opus
 * options and fmtp, PLC, and RFC 4733 telephone-event packet sequences. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inttypes.h>
#include <spandsp/telephony.h>
#include <spandsp/g711.h>

#include "codecs/codecs.h"
#include "check_main.h"

/* ---- registry ---------------------------------------------------------------------------------------------- */

START_TEST(lookup_by_name_and_pt)
{
	ck_assert_ptr_eq(codec_by_name("PCMU"), &codec_pcmu);
	ck_assert_ptr_eq(codec_by_name("pcma"), &codec_pcma);   /* RFC 4855 §3: names are case-insensitive */
	ck_assert_ptr_eq(codec_by_name("g722"), &codec_g722);
	ck_assert_ptr_eq(codec_by_name("OPUS"), &codec_opus);
	ck_assert_ptr_eq(codec_by_name("telephone-event"), &codec_telephone_event);
	ck_assert_ptr_null(codec_by_name("G729"));
	ck_assert_ptr_null(codec_by_name(""));
	ck_assert_ptr_null(codec_by_name(NULL));
	/* RFC 3551 Table 4 static payload types */
	ck_assert_ptr_eq(codec_by_pt(0), &codec_pcmu);
	ck_assert_ptr_eq(codec_by_pt(8), &codec_pcma);
	ck_assert_ptr_eq(codec_by_pt(9), &codec_g722);
	ck_assert_ptr_null(codec_by_pt(18));
	/* dynamic PTs are bound per SDP, never looked up by number */
	ck_assert_ptr_null(codec_by_pt(111));
	ck_assert_ptr_null(codec_by_pt(101));
	ck_assert_uint_eq(codec_count(), 5);
	for (size_t i = 0; i < codec_count(); i++) {
		const struct codec_ops *o = codec_at(i);

		ck_assert_ptr_eq(codec_by_name(o->name), o);
		ck_assert(codec_ptime_allowed(o, o->ptime_default));
		ck_assert(o->dynamic_pt == (o->payload_type >= CODEC_PT_DYNAMIC_MIN));
	}
	ck_assert_ptr_null(codec_at(codec_count()));
}
END_TEST

START_TEST(clock_rates_and_frame_sizes)
{
	/* G.722: 16 kHz audio, RTP clock 8000 (RFC 3551 §4.5.2): 20 ms = 320 samples but 160 ticks */
	ck_assert_uint_eq(codec_frame_samples(&codec_g722, 20), 320);
	ck_assert_uint_eq(codec_frame_ticks(&codec_g722, 20), 160);
	ck_assert_uint_eq(codec_frame_samples(&codec_pcmu, 20), 160);
	ck_assert_uint_eq(codec_frame_ticks(&codec_pcmu, 30), 240);
	/* Opus: RTP clock 48000 whatever the audio bandwidth (RFC 7587 §4.1) */
	ck_assert_uint_eq(codec_frame_ticks(&codec_opus, 20), 960);
	ck_assert_uint_eq(codec_frame_samples(&codec_opus, 60), 2880);
	ck_assert(codec_ptime_allowed(&codec_opus, 120));
	ck_assert(!codec_ptime_allowed(&codec_opus, 30));
	ck_assert(!codec_ptime_allowed(&codec_pcmu, 25));
	ck_assert(!codec_ptime_allowed(&codec_pcmu, 0));
}
END_TEST

START_TEST(sdp_rtpmap_and_fmtp)
{
	char buf[128];
	struct codec_params p = { 0 };

	ck_assert_int_eq(codec_sdp_rtpmap(&codec_pcmu, 0, buf, sizeof(buf)), 11);
	ck_assert_str_eq(buf, "0 PCMU/8000");
	codec_sdp_rtpmap(&codec_g722, 9, buf, sizeof(buf));
	ck_assert_str_eq(buf, "9 G722/8000");
	codec_sdp_rtpmap(&codec_opus, 111, buf, sizeof(buf));
	ck_assert_str_eq(buf, "111 opus/48000/2"); /* RFC 7587 §7: always /2 */
	codec_sdp_rtpmap(&codec_telephone_event, 101, buf, sizeof(buf));
	ck_assert_str_eq(buf, "101 telephone-event/8000");
	ck_assert_int_eq(codec_sdp_rtpmap(&codec_opus, 111, buf, 8), -ENOSPC);

	ck_assert_int_eq(codec_sdp_fmtp(&codec_pcmu, 0, &p, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	codec_sdp_fmtp(&codec_telephone_event, 101, NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "101 0-16");
	codec_sdp_fmtp(&codec_opus, 111, &p, buf, sizeof(buf));
	ck_assert_str_eq(buf, "111 minptime=10;useinbandfec=0");
	p = (struct codec_params){ .fec = true, .dtx = true, .bitrate = 24000, .cbr = true, .max_playback_rate = 16000 };
	codec_sdp_fmtp(&codec_opus, 96, &p, buf, sizeof(buf));
	ck_assert_str_eq(buf, "96 minptime=10;useinbandfec=1;usedtx=1;cbr=1;maxaveragebitrate=24000;maxplaybackrate=16000");
	ck_assert_int_eq(codec_sdp_fmtp(&codec_opus, 96, &p, buf, 20), -ENOSPC);
}
END_TEST

START_TEST(opus_fmtp_parse)
{
	struct codec_params p = { .bitrate = 32000 };
	char err[128];

	ck_assert_int_eq(codec_opus.fmtp_parse(" maxplaybackrate=16000; useinbandfec=1 ;usedtx=1;"
					      "maxaveragebitrate=20000;stereo=1;x-unknown=7", &p), 0);
	ck_assert_uint_eq(p.max_playback_rate, 16000);
	ck_assert(p.fec);
	ck_assert(p.dtx);
	ck_assert_uint_eq(p.bitrate, 20000); /* the peer's cap is lower than ours */
	ck_assert_int_eq(codec_opus.fmtp_parse("maxaveragebitrate=64000", &p), 0);
	ck_assert_uint_eq(p.bitrate, 20000); /* a higher cap does not raise what we chose */
	ck_assert_int_eq(codec_opus.fmtp_parse("useinbandfec=2", &p), -EINVAL);
	ck_assert_int_eq(codec_opus.fmtp_parse("maxaveragebitrate=12x", &p), -EINVAL);
	ck_assert_int_eq(codec_opus.fmtp_parse("maxplaybackrate=4000", &p), -EINVAL);
	ck_assert_int_eq(codec_opus.fmtp_parse("", &p), 0);
	ck_assert_int_eq(codec_fmtp_apply(&codec_opus, "usedtx=0", &p), 0);
	ck_assert(!p.dtx);
	ck_assert_int_eq(codec_fmtp_apply(&codec_opus, "usedtx=yes", &p), -EINVAL);
	ck_assert_int_eq(codec_fmtp_apply(&codec_pcmu, "annexb=no", &p), 0); /* no parameters: ignored */
	ck_assert_int_eq(codec_fmtp_apply(&codec_telephone_event, "0-15", &p), 0);

	p = (struct codec_params){ .bitrate = 600000 };
	ck_assert_int_eq(codec_params_validate(&codec_opus, &p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "bitrate 600000"));
	p = (struct codec_params){ .complexity = 11, .complexity_set = true };
	ck_assert_int_eq(codec_params_validate(&codec_opus, &p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(codec_enc_new(&codec_telephone_event, NULL));
	ck_assert_ptr_null(codec_dec_new(&codec_telephone_event, NULL));
}
END_TEST

/* ---- G.711 against its code tables --------------------------------------------------------------------------
 * µ-law (G.711 Table 2a): the code is sent inverted; after inverting, bit 7 is the sign (1 = negative in the
 * spandsp/Sun convention, i.e. code 0x00 is the most negative value), bits 6-4 the segment e, bits 3-0 the
 * step m.  Decoded magnitude in G.711's 14-bit scale is ((2m + 33) << e) − 33, times 4 for 16-bit PCM:
 *   0x00 → ~ = 0xFF: e=7, m=15: ((30+33)<<7) − 33 = 8031 → −32124      0x80 → +32124
 *   0xFF → ~ = 0x00: e=0, m=0: 33 − 33 = 0 → 0                          0x7F → "negative zero" → 0
 *   0xF0 → ~ = 0x0F: e=0, m=15: (30+33) − 33 = 30 → +120
 *   0xEF → ~ = 0x10: e=1, m=0: (33<<1) − 33 = 33 → +132
 *   0xCF → ~ = 0x30: e=3, m=0: (33<<3) − 33 = 231 → +924
 *   0x4F → ~ = 0xB0: like 0xCF, sign set → −924
 * A-law (Table 1a): the code is XORed with 0x55; bit 7 is the sign (1 = positive), bits 6-4 the segment s,
 * bits 3-0 the step m.  Decoded magnitude in the 13-bit scale: s=0: 2m + 1; s>0: (2m + 33) << (s − 1);
 * times 8 for 16-bit PCM:
 *   0xD5 → ^0x55 = 0x80: s=0, m=0: 1 → +8          0x55 → −8
 *   0xAA → ^0x55 = 0xFF: s=7, m=15: 63<<6 = 4032 → +32256       0x2A → −32256
 *   0xC5 → ^0x55 = 0x90: s=1, m=0: 33 → +264
 *   0xF5 → ^0x55 = 0xA0: s=2, m=0: 33<<1 = 66 → +528 */
START_TEST(g711_code_tables)
{
	static const struct { uint8_t code; int16_t pcm; } ulaw[] = {
		{ 0x00, -32124 }, { 0x80, 32124 }, { 0xFF, 0 }, { 0x7F, 0 }, { 0xF0, 120 },
		{ 0xEF, 132 },   { 0xCF, 924 },   { 0x4F, -924 },
	}, alaw[] = {
		{ 0xD5, 8 }, { 0x55, -8 }, { 0xAA, 32256 }, { 0x2A, -32256 }, { 0xC5, 264 }, { 0xF5, 528 },
	};
	struct codec_dec *du = codec_dec_new(&codec_pcmu, NULL), *da = codec_dec_new(&codec_pcma, NULL);
	struct codec_enc *eu = codec_enc_new(&codec_pcmu, NULL), *ea = codec_enc_new(&codec_pcma, NULL);
	int16_t pcm[256], back[256];
	uint8_t codes[256], re[256];

	ck_assert_ptr_nonnull(du);
	ck_assert_ptr_nonnull(da);
	for (size_t i = 0; i < sizeof(ulaw) / sizeof(ulaw[0]); i++) {
		int16_t out[1];

		/* decoded through the codec object, so the spandsp state and the registry path are both exercised */
		ck_assert_int_eq(codec_decode(du, &ulaw[i].code, 1, out, 1), 1);
		ck_assert_msg(out[0] == ulaw[i].pcm, "ulaw 0x%02x -> %d, want %d", ulaw[i].code, out[0], ulaw[i].pcm);
	}
	for (size_t i = 0; i < sizeof(alaw) / sizeof(alaw[0]); i++) {
		int16_t out[1];

		ck_assert_int_eq(codec_decode(da, &alaw[i].code, 1, out, 1), 1);
		ck_assert_msg(out[0] == alaw[i].pcm, "alaw 0x%02x -> %d, want %d", alaw[i].code, out[0], alaw[i].pcm);
	}
	/* Encoder end of the tables: the extremes and zero. */
	{
		int16_t in[6] = { 0, -1, 32767, -32768, 120, 124 };
		uint8_t out[6];

		ck_assert_int_eq(codec_encode(eu, in, 6, out, sizeof(out)), 6);
		ck_assert_uint_eq(out[0], 0xFF);
		ck_assert_uint_eq(out[1], 0x7F);
		ck_assert_uint_eq(out[2], 0x80);
		ck_assert_uint_eq(out[3], 0x00);
		ck_assert_uint_eq(out[4], 0xF0);
		ck_assert_uint_eq(out[5], 0xEF); /* 124 is past the 120/132 decision level (126) */
		ck_assert_int_eq(codec_encode(ea, in, 4, out, sizeof(out)), 4);
		ck_assert_uint_eq(out[0], 0xD5);
		ck_assert_uint_eq(out[1], 0x55);
		ck_assert_uint_eq(out[2], 0xAA);
		ck_assert_uint_eq(out[3], 0x2A);
	}
	/* Every reconstruction value re-encodes to its own code (the tables are consistent), except µ-law's
	 * negative zero 0x7F, which decodes to 0 and re-encodes as 0xFF; and reconstruction values are monotonic
	 * within each sign. */
	for (int i = 0; i < 256; i++)
		codes[i] = (uint8_t)i;
	ck_assert_int_eq(codec_decode(du, codes, 256, pcm, 256), 256);
	ck_assert_int_eq(codec_encode(eu, pcm, 256, re, sizeof(re)), 256);
	for (int i = 0; i < 256; i++)
		ck_assert_msg(re[i] == (i == 0x7F ? 0xFF : i), "ulaw 0x%02x re-encodes as 0x%02x", i, re[i]);
	for (int i = 1; i < 128; i++) {
		ck_assert_int_gt(pcm[i], pcm[i - 1]);       /* 0x00..0x7F: -32124 rising to 0 */
		ck_assert_int_lt(pcm[128 + i], pcm[127 + i]); /* 0x80..0xFF: +32124 falling to 0 */
	}
	ck_assert_int_eq(codec_decode(da, codes, 256, back, 256), 256);
	ck_assert_int_eq(codec_encode(ea, back, 256, re, sizeof(re)), 256);
	for (int i = 0; i < 256; i++)
		ck_assert_msg(re[i] == i, "alaw 0x%02x re-encodes as 0x%02x", i, re[i]);
	/* spandsp's inline converters and the codec objects agree (same tables, two entry points) */
	for (int i = 0; i < 256; i++) {
		ck_assert_int_eq(ulaw_to_linear((uint8_t)i), pcm[i]);
		ck_assert_int_eq(alaw_to_linear((uint8_t)i), back[i]);
	}
	codec_dec_free(du);
	codec_dec_free(da);
	codec_enc_free(eu);
	codec_enc_free(ea);
}
END_TEST

/* ---- encode → decode quality ------------------------------------------------------------------------------- */

/* SNR in dB of y against x after the best alignment (y delayed by 0..maxlag samples), with the optimal gain,
 * over the samples where x is active speech.  Waveform codecs should track the input closely; Opus is
 * perceptual, so its threshold is lower, but a broken encoder or decoder (silence, noise, wrong rate) gives
 * ≤ 0 dB. */
static double snr_db(const int16_t *x, const int16_t *y, size_t n, size_t maxlag)
{
	double best = -100;

	for (size_t lag = 0; lag <= maxlag; lag++) {
		double sxx = 0, sxy = 0, syy = 0;

		for (size_t i = 0; i + lag < n; i++) {
			sxx += (double)x[i] * x[i];
			sxy += (double)x[i] * y[i + lag];
			syy += (double)y[i + lag] * y[i + lag];
		}
		if (sxx > 0 && syy > 0) {
			double g = sxy / syy, err = sxx - 2 * g * sxy + g * g * syy;
			double s = 10 * log10(sxx / (err > 1e-9 ? err : 1e-9));

			if (s > best)
				best = s;
		}
	}
	return best;
}

/* Encodes 3 s of the synthetic source, decodes, and returns the SNR over the middle second. */
static double roundtrip_snr(const struct codec_ops *ops, const struct codec_params *p, unsigned ptime,
			    size_t maxlag, size_t *bytes_per_frame)
{
	struct codec_media *m = codec_media_synthetic(ops->sample_rate, 3000, 7);
	struct codec_enc *e = codec_enc_new(ops, p);
	struct codec_dec *d = codec_dec_new(ops, p);
	size_t fs = codec_frame_samples(ops, ptime), nf = m->nsamples / fs, total = 0;
	int16_t *out = calloc(nf * fs, sizeof(*out));
	uint8_t pkt[CODEC_MAX_PAYLOAD];
	double s;

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(d);
	for (size_t f = 0; f < nf; f++) {
		int n = codec_encode(e, m->pcm + f * fs, fs, pkt, sizeof(pkt));

		ck_assert_int_gt(n, 0);
		total += (size_t)n;
		ck_assert_int_eq(codec_decode(d, pkt, (size_t)n, out + f * fs, fs), (int)fs);
	}
	*bytes_per_frame = total / nf;
	if (getenv("CM_TEST_VERBOSE"))
		fprintf(stderr, "%s: %zu bytes/frame\n", ops->name, *bytes_per_frame);
	s = snr_db(m->pcm + ops->sample_rate, out + ops->sample_rate, ops->sample_rate, maxlag);
	if (getenv("CM_TEST_VERBOSE"))
		fprintf(stderr, "%s: SNR %.1f dB\n", ops->name, s);
	free(out);
	codec_enc_free(e);
	codec_dec_free(d);
	codec_media_free(m);
	return s;
}

START_TEST(roundtrip_quality)
{
	struct codec_params opus = { .bitrate = 32000 };
	size_t bpf;
	double s;

	/* G.711: 8 bits log-PCM gives ~38 dB on a loud sine; speech at -20 dBov with pauses: above 30 dB */
	s = roundtrip_snr(&codec_pcmu, NULL, 20, 0, &bpf);
	ck_assert_msg(s > 30.0, "PCMU SNR %.1f dB", s);
	ck_assert_uint_eq(bpf, 160);
	s = roundtrip_snr(&codec_pcma, NULL, 20, 0, &bpf);
	ck_assert_msg(s > 30.0, "PCMA SNR %.1f dB", s);
	ck_assert_uint_eq(bpf, 160);
	/* G.722 at 64 kbit/s: SB-ADPCM with the QMF pair's delay (22 samples).  The 4-8 kHz sub-band gets only
	 * 2 bits per sample, so the fricative bursts of the source bound the full-band SNR (~15 dB measured);
	 * a broken codec or misaligned decoder is near 0 dB.  On a 440 Hz tone it is waveform-exact (below). */
	s = roundtrip_snr(&codec_g722, NULL, 20, 64, &bpf);
	ck_assert_msg(s > 12.0, "G722 SNR %.1f dB", s);
	ck_assert_uint_eq(bpf, 160);
	/* Opus at 32 kbit/s: perceptual, not waveform-matching (~9 dB measured); lookahead 6.5 ms = 312 samples */
	s = roundtrip_snr(&codec_opus, &opus, 20, 400, &bpf);
	ck_assert_msg(s > 6.0, "opus SNR %.1f dB", s);
	/* VBR around 32 kbit/s: 80 bytes per 20 ms on average, allow the VBR spread */
	ck_assert_msg(bpf > 40 && bpf < 120, "opus %zu bytes/frame", bpf);
}
END_TEST

START_TEST(g722_tone_is_waveform_exact)
{
	struct codec_enc *e = codec_enc_new(&codec_g722, NULL);
	struct codec_dec *d = codec_dec_new(&codec_g722, NULL);
	int16_t in[16000], out[16000];
	uint8_t pkt[160];
	double s;

	for (int i = 0; i < 16000; i++)
		in[i] = (int16_t)lrint(3000.0 * sin(2.0 * M_PI * 440.0 * i / 16000.0));
	for (int f = 0; f < 16000; f += 320) {
		ck_assert_int_eq(codec_encode(e, in + f, 320, pkt, sizeof(pkt)), 160);
		ck_assert_int_eq(codec_decode(d, pkt, 160, out + f, 320), 320);
	}
	/* after the ADPCM adaptation settles (first 0.5 s skipped) a low tone passes almost exactly (~54 dB) */
	s = snr_db(in + 8000, out + 8000, 7000, 64);
	ck_assert_msg(s > 40.0, "G722 tone SNR %.1f dB", s);
	codec_enc_free(e);
	codec_dec_free(d);
}
END_TEST

START_TEST(opus_bitrate_and_dtx_options_take_effect)
{
	struct codec_params lo = { .bitrate = 12000, .cbr = true }, hi = { .bitrate = 64000, .cbr = true };
	struct codec_params dtx = { .dtx = true };
	struct codec_enc *e;
	size_t blo, bhi;
	int16_t silence[960] = { 0 };
	uint8_t pkt[CODEC_MAX_PAYLOAD];
	int small = 0;

	roundtrip_snr(&codec_opus, &lo, 20, 0, &blo);
	roundtrip_snr(&codec_opus, &hi, 20, 0, &bhi);
	/* CBR: bytes per 20 ms frame = bitrate / 8 / 50 */
	ck_assert_uint_eq(blo, 30);
	ck_assert_uint_eq(bhi, 160);
	e = codec_enc_new(&codec_opus, &dtx);
	for (int i = 0; i < 50; i++) {
		int n = codec_encode(e, silence, 960, pkt, sizeof(pkt));

		ck_assert_int_gt(n, 0);
		small += n <= 2;
	}
	/* DTX: after a few frames of silence the encoder sends ≤ 2-byte packets (not to be transmitted) */
	ck_assert_int_gt(small, 30);
	codec_enc_free(e);
	ck_assert_int_eq(codec_encode(e = codec_enc_new(&codec_opus, NULL), silence, 100, pkt, sizeof(pkt)),
			 -EINVAL); /* not a valid Opus frame size */
	codec_enc_free(e);
}
END_TEST

START_TEST(plc_conceals_and_bad_payload_is_refused)
{
	struct codec_dec *d = codec_dec_new(&codec_pcmu, NULL), *o = codec_dec_new(&codec_opus, NULL);
	struct codec_enc *e = codec_enc_new(&codec_pcmu, NULL);
	struct codec_media *m = codec_media_synthetic(8000, 1000, 3);
	int16_t out[960];
	uint8_t pkt[160];
	double energy = 0;
	size_t start = 0;

	/* find a voiced stretch and feed 100 ms of it; the concealed frame after it continues the voice */
	for (size_t i = 0; i + 1600 < m->nsamples; i += 160) {
		double e2 = 0;

		for (size_t k = 0; k < 800; k++)
			e2 += (double)m->pcm[i + k] * m->pcm[i + k];
		if (e2 / 800 > 1000.0 * 1000.0) {
			start = i;
			break;
		}
	}
	ck_assert_uint_gt(start, 0);
	for (size_t f = 0; f < 5; f++) {
		codec_encode(e, m->pcm + start + f * 160, 160, pkt, sizeof(pkt));
		codec_decode(d, pkt, 160, out, 160);
	}
	ck_assert_int_eq(codec_conceal(d, out, 160), 160);
	for (int i = 0; i < 160; i++)
		energy += (double)out[i] * out[i];
	ck_assert_msg(energy / 160 > 100.0 * 100.0, "PLC output is near silence (%g)", energy / 160);
	/* Opus: corrupt payloads are refused, concealment needs a 2.5 ms multiple */
	ck_assert_int_eq(codec_decode(o, (const uint8_t *)"", 0, out, 960), -EINVAL);
	ck_assert_int_eq(codec_conceal(o, out, 960), 960);
	ck_assert_int_eq(codec_conceal(o, out, 100), -EINVAL);
	{
		/* TOC byte for code 3 (arbitrary frame count) with a frame count byte of 0: invalid (RFC 6716 §3.2.5) */
		uint8_t bad[2] = { 0x03, 0x00 };

		ck_assert_int_eq(codec_decode(o, bad, 2, out, 960), -EINVAL);
	}
	codec_media_free(m);
	codec_enc_free(e);
	codec_dec_free(d);
	codec_dec_free(o);
}
END_TEST

/* ---- RFC 4733 ---------------------------------------------------------------------------------------------- */

static int collect(struct codec_dtmf_tx *tx, struct codec_dtmf_pkt *pkts, int max)
{
	int n = 0;

	while (n < max && codec_dtmf_tx_next(tx, &pkts[n]) == 1)
		n++;
	return n;
}

static unsigned dur(const struct codec_dtmf_pkt *p)
{
	return (unsigned)(p->payload[2] << 8 | p->payload[3]);
}

START_TEST(dtmf_packet_sequence)
{
	struct codec_dtmf_tx tx;
	struct codec_dtmf_pkt p[32];
	int n;

	/* Digit '5', 100 ms at 8 kHz with 20 ms packets: duration 800 ticks, step 160.  RFC 4733 §2.5.1: updates
	 * carry the duration so far (160, 320, 480, 640), all with the event's start timestamp; the marker only
	 * on the first; then the final duration 800 with E set, three times (§2.5.1.4).  7 packets. */
	ck_assert_int_eq(codec_dtmf_tx_start(&tx, 5, 10, 100, 20, 8000), 0);
	n = collect(&tx, p, 32);
	ck_assert_int_eq(n, 7);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(p[i].payload[0], 5);
		ck_assert_uint_eq(p[i].payload[1] & 0x3f, 10);
		ck_assert_uint_eq(p[i].payload[1] & 0x40, 0); /* R bit zero */
		ck_assert_uint_eq(p[i].ts_offset, 0);
		ck_assert(p[i].marker == (i == 0));
		ck_assert(p[i].end == (i >= 4));
		ck_assert(!!(p[i].payload[1] & 0x80) == (i >= 4));
		ck_assert_uint_eq(dur(&p[i]), i < 4 ? 160u * (unsigned)(i + 1) : 800u);
	}
	ck_assert_int_eq(codec_dtmf_tx_next(&tx, &p[0]), 0);

	/* '#' for 50 ms with 20 ms packets: 160, 320, then the end at 400 (not a whole packet) ×3 */
	codec_dtmf_tx_start(&tx, (uint8_t)codec_dtmf_event_from_char('#'), 0, 50, 20, 8000);
	n = collect(&tx, p, 32);
	ck_assert_int_eq(n, 5);
	ck_assert_uint_eq(dur(&p[1]), 320);
	ck_assert_uint_eq(dur(&p[2]), 400);
	ck_assert(p[2].end && p[3].end && p[4].end);
	ck_assert_uint_eq(p[0].payload[0], 11);

	/* A 10 s event at 8 kHz is 80000 ticks > 0xFFFF: §2.5.1.3 splits it: a report of 0xFFFF, then a new
	 * segment whose timestamp is 65535 later, durations restarting; the end packets carry 80000 − 65535 =
	 * 14465 on the second segment's timestamp.  Packets: 409 updates (160..65440) + 1 report at 65535 +
	 * 90 updates (105..14345) + 3 ends = 503. */
	codec_dtmf_tx_start(&tx, 1, 0, 10000, 20, 8000);
	{
		struct codec_dtmf_pkt *big = calloc(600, sizeof(*big));
		int segs = 0;

		n = collect(&tx, big, 600);
		ck_assert_int_eq(n, 503);
		for (int i = 0; i < n; i++)
			segs += dur(&big[i]) == 0xFFFF;
		ck_assert_int_eq(segs, 1);
		ck_assert_uint_eq(big[409].ts_offset, 0);
		ck_assert_uint_eq(dur(&big[409]), 0xFFFF);
		ck_assert(!big[409].end);
		ck_assert_uint_eq(big[410].ts_offset, 65535);
		ck_assert(!big[410].marker);
		ck_assert_uint_eq(dur(&big[410]), 65600 - 65535);
		ck_assert_uint_eq(dur(&big[n - 1]), 14465);
		ck_assert(big[n - 1].end && big[n - 2].end && big[n - 3].end && !big[n - 4].end);
		free(big);
	}
	/* Opus flows send telephone-event/48000: 20 ms steps of 960 */
	codec_dtmf_tx_start(&tx, 0, 0, 40, 20, 48000);
	n = collect(&tx, p, 32);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(dur(&p[0]), 960);
	ck_assert_uint_eq(dur(&p[1]), 1920);

	ck_assert_int_eq(codec_dtmf_tx_start(&tx, 17, 0, 100, 20, 8000), -EINVAL);
	ck_assert_int_eq(codec_dtmf_tx_start(&tx, 1, 64, 100, 20, 8000), -EINVAL);
	ck_assert_int_eq(codec_dtmf_tx_start(&tx, 1, 0, 0, 20, 8000), -EINVAL);
}
END_TEST

START_TEST(dtmf_receive)
{
	struct codec_dtmf_rx rx = { 0 };
	struct codec_dtmf_digit d[CODEC_DTMF_RX_MAX_DIGITS];
	struct codec_dtmf_tx tx;
	struct codec_dtmf_pkt p[16];
	struct codec_dtmf_event ev;
	const char *digits = "19*#";
	char got[8] = { 0 };
	int ng = 0, n;
	uint32_t ts = 1000;

	/* a sequence of digits through sender and receiver: each reported once, despite 3 end packets */
	for (const char *c = digits; *c; c++) {
		codec_dtmf_tx_start(&tx, (uint8_t)codec_dtmf_event_from_char(*c), 10, 80, 20, 8000);
		n = collect(&tx, p, 16);
		for (int i = 0; i < n; i++)
			if (codec_dtmf_rx_packet(&rx, ts + p[i].ts_offset, p[i].payload, 4, d) == 1) {
				got[ng++] = codec_dtmf_event_char(d[0].event);
				ck_assert_uint_eq(d[0].duration, 640);
				ck_assert_uint_eq(d[0].ts, ts);
				ck_assert(d[0].end_seen);
			}
		ts += 2000;
	}
	ck_assert_str_eq(got, digits);
	ck_assert_uint_eq(rx.digits, 4);

	/* all end packets of '7' lost: it is reported (end_seen false) when the next event starts */
	codec_dtmf_tx_start(&tx, 7, 10, 100, 20, 8000);
	n = collect(&tx, p, 16);
	for (int i = 0; i < n - 3; i++)
		ck_assert_int_eq(codec_dtmf_rx_packet(&rx, ts, p[i].payload, 4, d), 0);
	codec_dtmf_tx_start(&tx, 8, 10, 100, 20, 8000);
	n = collect(&tx, p, 16);
	ck_assert_int_eq(codec_dtmf_rx_packet(&rx, ts + 4000, p[0].payload, 4, d), 1);
	ck_assert_uint_eq(d[0].event, 7);
	ck_assert(!d[0].end_seen);
	ck_assert_uint_eq(d[0].duration, 640);
	/* a late duplicate from the old event changes nothing */
	ck_assert_int_eq(codec_dtmf_rx_packet(&rx, ts, p[0].payload, 4, d), 0);
	for (int i = 1; i < n; i++)
		if (codec_dtmf_rx_packet(&rx, ts + 4000, p[i].payload, 4, d) == 1)
			ck_assert_uint_eq(d[0].event, 8);
	ck_assert_uint_eq(rx.digits, 6);

	/* a long event across segments is reported once with its whole duration */
	codec_dtmf_tx_start(&tx, 2, 10, 10000, 20, 8000);
	{
		struct codec_dtmf_pkt pk;
		int reports = 0;

		ts += 100000;
		while (codec_dtmf_tx_next(&tx, &pk) == 1)
			if (codec_dtmf_rx_packet(&rx, ts + pk.ts_offset, pk.payload, 4, d) == 1) {
				reports++;
				ck_assert_uint_eq(d[0].duration, 80000);
				ck_assert_uint_eq(d[0].ts, ts);
			}
		ck_assert_int_eq(reports, 1);
	}
	/* '3' loses its end packets; the next event '4' is so short that its first packet is already its end, and
	 * its two repeats are lost too: that one packet completes both digits */
	ts += 200000;
	codec_dtmf_tx_start(&tx, 3, 10, 100, 20, 8000);
	n = collect(&tx, p, 16);
	for (int i = 0; i < n - 3; i++)
		ck_assert_int_eq(codec_dtmf_rx_packet(&rx, ts, p[i].payload, 4, d), 0);
	codec_dtmf_tx_start(&tx, 4, 10, 20, 20, 8000);
	n = collect(&tx, p, 16);
	ck_assert_int_eq(n, 3);
	ck_assert(p[0].end && p[0].marker);
	ck_assert_int_eq(codec_dtmf_rx_packet(&rx, ts + 2000, p[0].payload, 4, d), 2);
	ck_assert_uint_eq(d[0].event, 3);
	ck_assert(!d[0].end_seen);
	ck_assert_uint_eq(d[1].event, 4);
	ck_assert(d[1].end_seen);
	ck_assert_uint_eq(d[1].duration, 160);
	ck_assert_int_eq(codec_dtmf_rx_packet(&rx, ts + 2000, p[1].payload, 4, d), 0);

	/* malformed: short payloads are counted */
	ck_assert_int_eq(codec_dtmf_rx_packet(&rx, ts, (const uint8_t *)"\x01\x80", 2, d), -EINVAL);
	ck_assert_uint_eq(rx.bad, 1);
	ck_assert_int_eq(codec_dtmf_parse((const uint8_t *)"\x0b\xca\x03\x20", 4, &ev), 0);
	ck_assert_uint_eq(ev.event, 11);
	ck_assert(ev.end);
	ck_assert_uint_eq(ev.volume, 10);
	ck_assert_uint_eq(ev.duration, 800);
	ck_assert_int_eq(codec_dtmf_event_from_char('x'), -EINVAL);
	ck_assert_int_eq(codec_dtmf_event_from_char('d'), 15);
	ck_assert_int_eq(codec_dtmf_event_char(16), '!');
}
END_TEST

/* Random payloads into the receivers and parsers that take bytes from the network or a peer's SDP: every
 * call returns a defined result (the sanitizer build checks memory safety). */
START_TEST(random_input_is_handled)
{
	struct codec_dtmf_rx rx = { 0 };
	struct codec_dtmf_digit d[CODEC_DTMF_RX_MAX_DIGITS];
	struct codec_dec *dec[3] = { codec_dec_new(&codec_pcmu, NULL), codec_dec_new(&codec_g722, NULL),
				     codec_dec_new(&codec_opus, NULL) };
	static const char alphabet[] = "=; \tusedtxinbandfecmaxaveragebitrate0123456789xyz";
	uint32_t rng = 99;
	uint8_t buf[400];
	int16_t pcm[CODEC_MAX_FRAME_SAMPLES];

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = 0;
		char fmtp[64];
		struct codec_params p = { 0 };
		int rc;

		rng = rng * 1103515245u + 12345u;
		len = (rng >> 16) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			rng = rng * 1103515245u + 12345u;
			buf[i] = (uint8_t)(rng >> 16);
		}
		rc = codec_dtmf_rx_packet(&rx, rng >> 20, buf, len % 8, d);
		ck_assert((rc >= 0 && rc <= CODEC_DTMF_RX_MAX_DIGITS) || (rc == -EINVAL && len % 8 < 4));
		for (int k = 0; k < 3; k++) {
			rc = codec_decode(dec[k], buf, len % 200, pcm, CODEC_MAX_FRAME_SAMPLES);
			ck_assert(rc >= 0 || rc == -EINVAL || rc == -ENOSPC);
		}
		for (size_t i = 0; i < sizeof(fmtp) - 1; i++)
			fmtp[i] = alphabet[buf[i % (len ? len : 1)] % (sizeof(alphabet) - 1)];
		fmtp[(len % (sizeof(fmtp) - 1))] = '\0';
		rc = codec_opus.fmtp_parse(fmtp, &p);
		ck_assert(rc == 0 || rc == -EINVAL);
		if (rc == 0)
			ck_assert_int_eq(codec_params_validate(&codec_opus, &p, (char[64]){ 0 }, 64), 0);
	}
	for (int k = 0; k < 3; k++)
		codec_dec_free(dec[k]);
}
END_TEST

static Suite *codecs_suite(void)
{
	Suite *s = suite_create("codecs");
	TCase *tc = tcase_create("registry");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, lookup_by_name_and_pt);
	tcase_add_test(tc, clock_rates_and_frame_sizes);
	tcase_add_test(tc, sdp_rtpmap_and_fmtp);
	tcase_add_test(tc, opus_fmtp_parse);
	tcase_add_test(tc, g711_code_tables);
	tcase_add_test(tc, roundtrip_quality);
	tcase_add_test(tc, g722_tone_is_waveform_exact);
	tcase_add_test(tc, opus_bitrate_and_dtx_options_take_effect);
	tcase_add_test(tc, plc_conceals_and_bad_payload_is_refused);
	tcase_add_test(tc, dtmf_packet_sequence);
	tcase_add_test(tc, dtmf_receive);
	tcase_add_test(tc, random_input_is_handled);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(codecs_suite());
}
