/* Media and what is built from it: the synthetic source, WAV loading (and every refusal), resampling, the
 * frame cache (layout, looping, DTX and markers, the memory cap, read-only), the cache set, and the received-
 * audio metrics (levels, PLC counting, the decode-sampling policy). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "check_main.h"
#include "testutil.h"

/* ---- synthetic source -------------------------------------------------------------------------------------- */

START_TEST(synthetic_is_speech_like_and_deterministic)
{
	struct codec_media *a = codec_media_synthetic(8000, 20000, 1), *b = codec_media_synthetic(8000, 20000, 1);
	struct codec_media *c = codec_media_synthetic(8000, 20000, 2);
	struct codec_level_meter lm;
	size_t zero_cross = 0, silent_blocks = 0, loud_blocks = 0, blocks = 0;

	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->nsamples, 160000);
	ck_assert_uint_eq(a->rate, 8000);
	/* same seed, same samples; another seed, other samples */
	ck_assert_int_eq(memcmp(a->pcm, b->pcm, a->nsamples * 2), 0);
	ck_assert_int_ne(memcmp(a->pcm, c->pcm, a->nsamples * 2), 0);

	/* level: active speech about -20 dBov; overall lower because of the pauses */
	codec_level_meter_init(&lm, 8000);
	codec_level_meter_feed(&lm, a->pcm, a->nsamples);
	ck_assert_msg(fabs(codec_level_active_dbov(&lm) - CODEC_SYNTH_LEVEL_DBOV) < 2.0, "active %.1f dBov",
		      codec_level_active_dbov(&lm));
	ck_assert_msg(codec_level_rms_dbov(&lm) < codec_level_active_dbov(&lm) - 1.0, "rms %.1f dBov",
		      codec_level_rms_dbov(&lm));
	/* pauses a VAD can find, and talk most of the time: 40..90% active */
	ck_assert_msg(codec_level_active_ratio(&lm) > 0.4 && codec_level_active_ratio(&lm) < 0.9, "active %.2f",
		      codec_level_active_ratio(&lm));
	/* not a tone: 20 ms block levels spread over more than 30 dB, with real silences among them */
	for (size_t i = 0; i + 160 <= a->nsamples; i += 160, blocks++) {
		double e = 0, db;

		for (size_t k = 0; k < 160; k++)
			e += (double)a->pcm[i + k] * a->pcm[i + k];
		db = 10 * log10(e / 160 / (32768.0 * 32768.0) + 1e-12);
		silent_blocks += db < -60;
		loud_blocks += db > -25;
	}
	for (size_t i = 1; i < a->nsamples; i++)
		zero_cross += (a->pcm[i] < 0) != (a->pcm[i - 1] < 0);
	ck_assert_uint_gt(silent_blocks, blocks / 10);
	ck_assert_uint_gt(loud_blocks, blocks / 10);
	ck_assert_uint_gt(zero_cross, 1000);
	ck_assert_ptr_null(codec_media_synthetic(44100, 1000, 1));
	ck_assert_ptr_null(codec_media_synthetic(8000, 0, 1));
	codec_media_free(a);
	codec_media_free(b);
	codec_media_free(c);
}
END_TEST

/* ---- WAV ----------------------------------------------------------------------------------------------------- */

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

/* Builds a canonical 44-byte-header WAV (optionally with a LIST chunk before data) into buf; returns length. */
static size_t make_wav(uint8_t *buf, unsigned format, unsigned channels, uint32_t rate, unsigned bits,
		       const int16_t *samples, size_t nframes, bool list_chunk)
{
	size_t off = 12, data_bytes = nframes * channels * 2;

	memcpy(buf, "RIFF", 4);
	memcpy(buf + 8, "WAVE", 4);
	memcpy(buf + off, "fmt ", 4);
	put32(buf + off + 4, 16);
	put16(buf + off + 8, format);
	put16(buf + off + 10, channels);
	put32(buf + off + 12, rate);
	put32(buf + off + 16, rate * channels * bits / 8);
	put16(buf + off + 20, channels * bits / 8);
	put16(buf + off + 22, bits);
	off += 24;
	if (list_chunk) {
		/* an odd-sized chunk: 5 bytes and a pad byte */
		memcpy(buf + off, "LIST", 4);
		put32(buf + off + 4, 5);
		memcpy(buf + off + 8, "INFOx\0", 6);
		off += 14;
	}
	memcpy(buf + off, "data", 4);
	put32(buf + off + 4, (uint32_t)data_bytes);
	for (size_t i = 0; i < nframes * channels; i++)
		put16(buf + off + 8 + 2 * i, (uint16_t)samples[i]);
	off += 8 + data_bytes;
	put32(buf + 4, (uint32_t)(off - 8));
	return off;
}

static struct codec_media *parse(const uint8_t *buf, size_t len, char *err)
{
	return codec_media_wav_parse(buf, len, "t.wav", err, 256);
}

START_TEST(wav_good_files)
{
	static uint8_t buf[4096];
	int16_t s[8] = { 100, -100, 2000, 1000, -32768, -32768, 32767, 32767 };
	char err[256], path[64];
	struct codec_media *m;
	size_t len;

	len = make_wav(buf, 1, 1, 8000, 16, s, 8, false);
	m = parse(buf, len, err);
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(m->rate, 8000);
	ck_assert_uint_eq(m->nsamples, 8);
	ck_assert_int_eq(m->pcm[4], -32768);
	codec_media_free(m);

	/* stereo → mono by averaging, past an odd-sized LIST chunk */
	len = make_wav(buf, 1, 2, 48000, 16, s, 4, true);
	m = parse(buf, len, err);
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(m->rate, 48000);
	ck_assert_uint_eq(m->nsamples, 4);
	ck_assert_int_eq(m->pcm[0], 0);
	ck_assert_int_eq(m->pcm[1], 1500);
	ck_assert_int_eq(m->pcm[2], -32768);
	ck_assert_int_eq(m->pcm[3], 32767);
	codec_media_free(m);

	/* through the file path: the media's name is the base name */
	len = make_wav(buf, 1, 1, 16000, 16, s, 8, false);
	snprintf(path, sizeof(path), "/tmp/cm-test-XXXXXX");
	{
		int fd = mkstemp(path);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
		close(fd);
	}
	m = codec_media_wav_load(path, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_str_eq(m->name, strrchr(path, '/') + 1);
	ck_assert_uint_eq(m->rate, 16000);
	codec_media_free(m);
	unlink(path);
	ck_assert_ptr_null(codec_media_wav_load("/nonexistent/x.wav", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

START_TEST(wav_refusals)
{
	static uint8_t buf[4096];
	int16_t s[8] = { 0 };
	char err[256];
	size_t len;
	static const struct {
		unsigned format, channels, bits;
		uint32_t rate;
		const char *want;
	} cases[] = {
		{ 3, 1, 16, 8000, "unsupported WAV format 3 (IEEE float)" },
		{ 7, 1, 16, 8000, "(mu-law)" },
		{ 1, 1, 8, 8000, "unsupported sample size 8 bits" },
		{ 1, 1, 24, 8000, "unsupported sample size 24 bits" },
		{ 1, 3, 16, 8000, "unsupported channel count 3" },
		{ 1, 1, 16, 44100, "unsupported sample rate 44100 Hz" },
		{ 1, 1, 16, 22050, "unsupported sample rate 22050 Hz" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = make_wav(buf, cases[i].format, cases[i].channels, cases[i].rate, cases[i].bits, s, 2, false);
		ck_assert_ptr_null(parse(buf, len, err));
		ck_assert_msg(strstr(err, cases[i].want) && strstr(err, "t.wav"), "case %zu: %s", i, err);
	}
	/* not RIFF at all */
	ck_assert_ptr_null(parse((const uint8_t *)"ID3\x03 this is an mp3 really", 27, err));
	ck_assert_ptr_nonnull(strstr(err, "not a WAV file"));
	ck_assert_ptr_null(parse(buf, 5, err));
	/* truncated inside the data chunk */
	len = make_wav(buf, 1, 1, 8000, 16, s, 8, false);
	ck_assert_ptr_null(parse(buf, len - 3, err));
	ck_assert_msg(strstr(err, "truncated: data chunk declares 16 bytes, 13 present"), "%s", err);
	/* truncated before any data chunk */
	ck_assert_ptr_null(parse(buf, 30, err));
	ck_assert_msg(strstr(err, "truncated"), "%s", err);
	/* a chunk whose size runs past the end */
	len = make_wav(buf, 1, 1, 8000, 16, s, 8, true);
	ck_assert_ptr_null(parse(buf, 40, err));
	ck_assert_msg(strstr(err, "truncated"), "%s", err);
	/* odd data size for 16-bit: half a sample */
	len = make_wav(buf, 1, 1, 8000, 16, s, 8, false);
	put32(buf + 40, 15);
	ck_assert_ptr_null(parse(buf, len, err));
	ck_assert_msg(strstr(err, "not whole 2-byte frames"), "%s", err);
	/* no samples */
	len = make_wav(buf, 1, 1, 8000, 16, s, 0, false);
	ck_assert_ptr_null(parse(buf, len, err));
	ck_assert_ptr_nonnull(strstr(err, "no audio samples"));
	/* data before fmt */
	memcpy(buf + 12, "data", 4);
	put32(buf + 16, 0);
	ck_assert_ptr_null(parse(buf, 20, err));
	ck_assert_ptr_nonnull(strstr(err, "data chunk before the fmt chunk"));
}
END_TEST

/* Every truncation and 20000 single/multi-byte corruptions of a valid file: each either parses to sane media or
 * is refused with a reason; never a crash or an out-of-bounds read (the sanitizer build checks). */
START_TEST(wav_mutations_never_crash)
{
	static uint8_t good[512], buf[512];
	int16_t s[64];
	char err[256];
	uint32_t rng = 12345;
	size_t len;

	for (int i = 0; i < 64; i++)
		s[i] = (int16_t)(i * 400 - 12000);
	len = make_wav(good, 1, 2, 16000, 16, s, 32, true);
	for (size_t cut = 0; cut <= len; cut++) {
		struct codec_media *m = parse(good, cut, err);

		ck_assert(m == NULL ? err[0] != '\0' : cut == len);
		codec_media_free(m);
	}
	for (int iter = 0; iter < 20000; iter++) {
		struct codec_media *m;
		int flips = 1 + iter % 4;

		memcpy(buf, good, len);
		for (int f = 0; f < flips; f++) {
			rng = rng * 1103515245u + 12345u;
			buf[(rng >> 8) % len] = (uint8_t)(rng >> 20);
		}
		err[0] = '\0';
		m = parse(buf, len, err);
		if (m) {
			ck_assert(m->rate == 8000 || m->rate == 16000 || m->rate == 48000);
			ck_assert_uint_ge(m->nsamples, 1);
			ck_assert_uint_le(m->nsamples, len / 2);
		} else {
			ck_assert(err[0] != '\0');
		}
		codec_media_free(m);
	}
}
END_TEST

START_TEST(wav_extensible_pcm_is_accepted)
{
	/* WAVE_FORMAT_EXTENSIBLE: a 40-byte fmt chunk whose sub-format GUID starts with 0x0001 (PCM) */
	static uint8_t buf[256];
	char err[256];
	struct codec_media *m;
	size_t off = 12;

	memcpy(buf, "RIFF", 4);
	memcpy(buf + 8, "WAVE", 4);
	memcpy(buf + off, "fmt ", 4);
	put32(buf + off + 4, 40);
	put16(buf + off + 8, 0xFFFE);
	put16(buf + off + 10, 1);
	put32(buf + off + 12, 16000);
	put32(buf + off + 16, 32000);
	put16(buf + off + 20, 2);
	put16(buf + off + 22, 16);
	put16(buf + off + 24, 22);
	put16(buf + off + 26, 16);
	put32(buf + off + 28, 4);
	put16(buf + off + 32, 1); /* KSDATAFORMAT_SUBTYPE_PCM */
	off += 48;
	memcpy(buf + off, "data", 4);
	put32(buf + off + 4, 4);
	put16(buf + off + 8, 1234);
	put16(buf + off + 10, (uint16_t)-5);
	off += 12;
	put32(buf + 4, (uint32_t)(off - 8));
	m = parse(buf, off, err);
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(m->nsamples, 2);
	ck_assert_int_eq(m->pcm[1], -5);
	codec_media_free(m);
	put16(buf + 12 + 32, 3); /* IEEE float sub-format */
	ck_assert_ptr_null(parse(buf, off, err));
	ck_assert_ptr_nonnull(strstr(err, "format 3"));
}
END_TEST

/* ---- resampling ---------------------------------------------------------------------------------------------- */

static double tone_snr(const int16_t *y, size_t n, double f, double rate, double amp)
{
	/* fit a*sin + b*cos at f, report signal-to-residual */
	double ss = 0, sc = 0, e = 0, res = 0;

	for (size_t i = 0; i < n; i++) {
		ss += y[i] * sin(2 * M_PI * f * i / rate);
		sc += y[i] * cos(2 * M_PI * f * i / rate);
		e += (double)y[i] * y[i];
	}
	ss *= 2.0 / n;
	sc *= 2.0 / n;
	for (size_t i = 0; i < n; i++) {
		double fit = ss * sin(2 * M_PI * f * i / rate) + sc * cos(2 * M_PI * f * i / rate);

		res += (y[i] - fit) * (y[i] - fit);
	}
	(void)amp;
	(void)e;
	return 10 * log10((ss * ss + sc * sc) / 2 * n / res);
}

START_TEST(resample_keeps_length_and_tone)
{
	struct codec_media *m = codec_media_synthetic(8000, 1000, 1), *up, *down, *same;
	char err[256];

	for (size_t i = 0; i < m->nsamples; i++)
		m->pcm[i] = (int16_t)lrint(8000.0 * sin(2 * M_PI * 1000.0 * i / 8000.0));
	up = codec_media_resample(m, 48000, err, sizeof(err));
	ck_assert_msg(up != NULL, "%s", err);
	ck_assert_uint_eq(up->nsamples, 48000);
	ck_assert_uint_eq(up->rate, 48000);
	/* a 1 kHz tone stays a clean 1 kHz tone (measured away from the edges) */
	ck_assert_msg(tone_snr(up->pcm + 4800, 38400, 1000, 48000, 8000) > 40.0, "up");
	down = codec_media_resample(up, 16000, err, sizeof(err));
	ck_assert_uint_eq(down->nsamples, 16000);
	ck_assert_msg(tone_snr(down->pcm + 1600, 12800, 1000, 16000, 8000) > 40.0, "down");
	/* and it lines up in time: sample 4800 at 48 kHz is sample 800 at 8 kHz (tone phase within 0.2 rad) */
	{
		double a = asin(fmax(-1, fmin(1, up->pcm[4806] / 8000.0)));
		double b = asin(fmax(-1, fmin(1, m->pcm[801] / 8000.0)));

		ck_assert_msg(fabs(a - b) < 0.2, "phase %.3f vs %.3f", a, b);
	}
	same = codec_media_resample(m, 8000, err, sizeof(err));
	ck_assert_int_eq(memcmp(same->pcm, m->pcm, m->nsamples * 2), 0);
	ck_assert_ptr_null(codec_media_resample(m, 44100, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "44100"));
	codec_media_free(m);
	codec_media_free(up);
	codec_media_free(down);
	codec_media_free(same);
}
END_TEST

/* ---- frame cache --------------------------------------------------------------------------------------------- */

START_TEST(frame_cache_layout)
{
	struct codec_media *m = codec_media_synthetic(8000, 10010, 5);
	struct codec_frame_cache *c;
	struct codec_dec *d = codec_dec_new(&codec_pcmu, NULL);
	char err[256];
	int16_t pcm[240];

	c = codec_frame_cache_build(&codec_pcmu, NULL, m, 30, 0, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->codec_name, "PCMU");
	ck_assert_uint_eq(c->payload_type, 0);
	ck_assert_uint_eq(c->clock_rate, 8000);
	ck_assert_uint_eq(c->ptime_ms, 30);
	/* 10.01 s at 30 ms: 333 whole frames, the 10 ms tail dropped so the loop is seamless */
	ck_assert_uint_eq(c->nframes, 333);
	ck_assert_uint_eq(c->data_len, 333 * 240);
	ck_assert_uint_eq(c->ndtx, 0);
	ck_assert_uint_eq(c->nmarker, 0); /* no DTX: continuous stream, the sender marks the first packet */
	ck_assert_uint_eq(c->max_frame_len, 240);
	ck_assert_uint_ge(c->mem_bytes, sizeof(*c) + 333 * sizeof(struct codec_frame) + 333 * 240);
	for (uint32_t i = 0; i < c->nframes; i++) {
		ck_assert_uint_eq(c->frames[i].offset, i * 240);
		ck_assert_uint_eq(c->frames[i].len, 240);
		ck_assert_uint_eq(c->frames[i].ts_inc, 240);
		ck_assert_uint_eq(c->frames[i].flags, 0);
	}
	/* the bytes are the media encoded: frame 100 decodes back to the source within G.711's step size */
	ck_assert_int_eq(codec_decode(d, c->data + c->frames[100].offset, 240, pcm, 240), 240);
	for (int i = 0; i < 240; i++)
		ck_assert_int_le(abs(pcm[i] - m->pcm[100 * 240 + i]), 1024);
	codec_frame_cache_free(c);

	/* G.722 from 8 kHz media: resampled to 16 kHz first, 160 bytes and 160 ticks per 20 ms */
	c = codec_frame_cache_build(&codec_g722, NULL, m, 20, 0, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nframes, 500);
	ck_assert_uint_eq(c->frames[7].len, 160);
	ck_assert_uint_eq(c->frames[7].ts_inc, 160);
	codec_frame_cache_free(c);

	ck_assert_ptr_null(codec_frame_cache_build(&codec_pcmu, NULL, m, 25, 0, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "ptime 25"));
	ck_assert_ptr_null(codec_frame_cache_build(&codec_telephone_event, NULL, m, 20, 0, err, sizeof(err)));
	codec_dec_free(d);
	codec_media_free(m);
}
END_TEST

START_TEST(frame_cache_dtx_and_markers)
{
	struct codec_media *m = codec_media_synthetic(48000, 20000, 9);
	struct codec_params p = { .dtx = true };
	struct codec_frame_cache *c;
	char err[256];
	uint32_t talkspurts = 0, ndtx = 0;

	/* Opus with DTX: silent stretches come out as ≤ 2-byte frames flagged DTX; each talkspurt starts with a
	 * marker, exactly where a DTX frame is followed by a sent one (looping included). */
	c = codec_frame_cache_build(&codec_opus, &p, m, 20, 0, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nframes, 1000);
	ck_assert_uint_eq(c->frames[0].ts_inc, 960);
	for (uint32_t i = 0; i < c->nframes; i++) {
		const struct codec_frame *f = &c->frames[i], *prev = &c->frames[i ? i - 1 : c->nframes - 1];
		bool dtx = f->flags & CODEC_FRAME_DTX;

		ndtx += dtx;
		if (dtx)
			ck_assert_uint_le(f->len, 2);
		ck_assert(!(dtx && (f->flags & CODEC_FRAME_MARKER)));
		if (!dtx && (prev->flags & CODEC_FRAME_DTX)) {
			ck_assert(f->flags & CODEC_FRAME_MARKER);
			talkspurts++;
		} else {
			ck_assert(!(f->flags & CODEC_FRAME_MARKER));
		}
	}
	ck_assert_uint_eq(ndtx, c->ndtx);
	ck_assert_uint_eq(talkspurts, c->nmarker);
	/* the source pauses 0.4-1 s between phrases: about one talkspurt per 2-3 s and 20-60% of frames DTX */
	ck_assert_msg(c->nmarker >= 4 && c->nmarker <= 30, "%u talkspurts", c->nmarker);
	ck_assert_msg(c->ndtx > 100 && c->ndtx < 700, "%u DTX frames", c->ndtx);
	codec_frame_cache_free(c);

	/* G.711 with dtx: the energy VAD with 200 ms hangover; DTX frames are quiet ones */
	{
		struct codec_media *n = codec_media_synthetic(8000, 20000, 9);

		c = codec_frame_cache_build(&codec_pcma, &p, n, 20, 0, err, sizeof(err));
		ck_assert_msg(c != NULL, "%s", err);
		ck_assert_msg(c->ndtx > 100 && c->ndtx < 700, "%u VAD-silent frames", c->ndtx);
		ck_assert_uint_gt(c->nmarker, 3);
		for (uint32_t i = 0; i < c->nframes; i++)
			if (c->frames[i].flags & CODEC_FRAME_DTX) {
				double e = 0;

				for (int k = 0; k < 160; k++)
					e += (double)n->pcm[i * 160 + k] * n->pcm[i * 160 + k];
				ck_assert_msg(10 * log10(e / 160 / (32768.0 * 32768.0) + 1e-12) < -50,
					      "frame %u flagged DTX is not quiet", i);
			}
		codec_frame_cache_free(c);
		codec_media_free(n);
	}
	codec_media_free(m);
}
END_TEST

START_TEST(frame_cache_memory_cap)
{
	struct codec_media *m = codec_media_synthetic(8000, 60000, 1);
	struct codec_frame_cache *c;
	char err[256];

	/* one minute of PCMU at 20 ms: 3000 frames × (160 B + 12 B index) ≈ 516 kB */
	c = codec_frame_cache_build(&codec_pcmu, NULL, m, 20, 0, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_ge(c->mem_bytes, 3000 * (160 + sizeof(struct codec_frame)));
	ck_assert_uint_lt(c->mem_bytes, 3000 * (160 + sizeof(struct codec_frame)) + 8192);
	codec_frame_cache_free(c);
	/* a 256 kB cap refuses it, saying so */
	ck_assert_ptr_null(codec_frame_cache_build(&codec_pcmu, NULL, m, 20, 256 * 1024, err, sizeof(err)));
	ck_assert_msg(strstr(err, "262144-byte cap") != NULL, "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "synthetic/PCMU/20ms"));
	/* a cap below even the frame index */
	ck_assert_ptr_null(codec_frame_cache_build(&codec_pcmu, NULL, m, 20, 4096, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "index alone"));
	codec_media_free(m);
}
END_TEST

START_TEST(frame_cache_is_read_only)
{
	struct codec_media *m = codec_media_synthetic(8000, 1000, 1);
	struct codec_frame_cache *c;
	char err[256];
	pid_t pid;
	int status;

	c = codec_frame_cache_build(&codec_pcmu, NULL, m, 20, 0, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		((volatile uint8_t *)c->data)[0] = 1; /* must fault */
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* killed by SIGSEGV, or (under AddressSanitizer) its SEGV report's non-zero exit */
	ck_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0));
	codec_frame_cache_free(c);
	codec_media_free(m);
}
END_TEST

START_TEST(cache_set_shares_and_caps)
{
	struct codec_media *m = codec_media_synthetic(8000, 10000, 1), *m2 = codec_media_synthetic(8000, 10000, 2);
	struct codec_cache_set *s = codec_cache_set_new(300 * 1024);
	const struct codec_frame_cache *a, *b, *c, *d;
	struct codec_params fec = { .fec = true };
	char err[256];

	a = codec_cache_set_get(s, &codec_pcmu, NULL, m, 20, err, sizeof(err));
	b = codec_cache_set_get(s, &codec_pcmu, NULL, m, 20, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b); /* same (media, codec, ptime): built once */
	ck_assert_uint_eq(codec_cache_set_count(s), 1);
	c = codec_cache_set_get(s, &codec_pcmu, NULL, m, 40, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(c, a);
	d = codec_cache_set_get(s, &codec_opus, &fec, m2, 20, err, sizeof(err));
	ck_assert_msg(d != NULL, "%s", err);
	ck_assert_ptr_eq(codec_cache_set_get(s, &codec_opus, &fec, m2, 20, err, sizeof(err)), d);
	ck_assert_ptr_ne(codec_cache_set_get(s, &codec_opus, NULL, m2, 20, err, sizeof(err)), d);
	ck_assert_uint_eq(codec_cache_set_mem(s), a->mem_bytes + c->mem_bytes + d->mem_bytes +
			  codec_cache_set_get(s, &codec_opus, NULL, m2, 20, err, sizeof(err))->mem_bytes);
	/* ~83 kB per 10 s of PCMU: the next two exceed the 300 kB cap */
	ck_assert_ptr_null(codec_cache_set_get(s, &codec_pcma, NULL, m2, 20, err, sizeof(err)) &&
			   codec_cache_set_get(s, &codec_pcmu, NULL, m2, 10, err, sizeof(err)) ?
			   (void *)1 : NULL);
	ck_assert_msg(strstr(err, "cap") != NULL, "%s", err);
	ck_assert_uint_le(codec_cache_set_mem(s), 300 * 1024);
	codec_cache_set_free(s);
	codec_media_free(m);
	codec_media_free(m2);
}
END_TEST

/* ---- received-audio metrics ---------------------------------------------------------------------------------- */

START_TEST(level_meter_reference_levels)
{
	struct codec_level_meter lm;
	int16_t sq[800], sine[800], zero[800] = { 0 };

	/* 0 dBov is a full-scale square wave; a full-scale sine is 3.01 dB below; -20 dBov is amplitude 3277 */
	for (int i = 0; i < 800; i++) {
		sq[i] = (i / 4) % 2 ? -32767 : 32767;
		sine[i] = (int16_t)lrint(32767.0 * sin(2 * M_PI * 1000.0 * i / 8000.0));
	}
	codec_level_meter_init(&lm, 8000);
	codec_level_meter_feed(&lm, sq, 800);
	ck_assert_double_eq_tol(codec_level_rms_dbov(&lm), 0.0, 0.01);
	ck_assert_double_eq_tol(codec_level_active_dbov(&lm), 0.0, 0.01);
	codec_level_meter_init(&lm, 8000);
	codec_level_meter_feed(&lm, sine, 800);
	ck_assert_double_eq_tol(codec_level_rms_dbov(&lm), -3.01, 0.02);
	codec_level_meter_init(&lm, 8000);
	codec_level_meter_feed(&lm, zero, 800);
	ck_assert_double_eq_tol(codec_level_rms_dbov(&lm), CODEC_LEVEL_FLOOR_DBOV, 0.001);
	ck_assert_double_eq_tol(codec_level_active_dbov(&lm), CODEC_LEVEL_FLOOR_DBOV, 0.001);
	ck_assert_double_eq_tol(codec_level_active_ratio(&lm), 0.0, 1e-9);
	/* 1 s sine at -20 dBov then 2 s silence: rms = -20 - 10log10(3) = -24.77; active (gated) ≈ -20 */
	{
		int16_t *x = calloc(24000, sizeof(*x));

		for (int i = 0; i < 8000; i++)
			x[i] = (int16_t)lrint(3276.8 * sqrt(2.0) * sin(2 * M_PI * 440.0 * i / 8000.0));
		codec_level_meter_init(&lm, 8000);
		codec_level_meter_feed(&lm, x, 24000);
		ck_assert_double_eq_tol(codec_level_rms_dbov(&lm), -24.77, 0.05);
		/* the 200 ms hangover adds silence to the active part: -20 - 10log10(1.2) = -20.79 */
		ck_assert_double_eq_tol(codec_level_active_dbov(&lm), -20.79, 0.1);
		ck_assert_double_eq_tol(codec_level_active_ratio(&lm), 1.2 / 3.0, 0.01);
		free(x);
	}
	ck_assert_int_eq(codec_level_meter_init(&lm, 0), -EINVAL);
}
END_TEST

START_TEST(audio_rx_counts_plc)
{
	struct codec_media *m = codec_media_synthetic(48000, 3000, 4);
	struct codec_params p = { 0 };
	struct codec_enc *e = codec_enc_new(&codec_opus, &p);
	struct codec_audio_rx *rx = codec_audio_rx_new(&codec_opus, &p, 20);
	uint8_t pkt[CODEC_MAX_PAYLOAD];
	uint32_t lost = 0;

	ck_assert_ptr_nonnull(rx);
	/* 150 frames; lose frames 10, 40-42 and 100-104: 3 PLC events, 9 frames = 180 ms concealed */
	for (int f = 0; f < 150; f++) {
		int n = codec_encode(e, m->pcm + f * 960, 960, pkt, sizeof(pkt));

		ck_assert_int_gt(n, 0);
		if (f == 10 || (f >= 40 && f <= 42) || (f >= 100 && f <= 104)) {
			lost++;
			continue;
		}
		ck_assert_int_eq(codec_audio_rx_packet(rx, pkt, (size_t)n, lost), 960);
		lost = 0;
	}
	ck_assert_uint_eq(rx->frames, 141);
	ck_assert_uint_eq(rx->plc_events, 3);
	ck_assert_uint_eq(rx->plc_frames, 9);
	ck_assert_double_eq_tol(codec_audio_rx_plc_ms(rx), 180.0, 1e-9);
	ck_assert_uint_eq(rx->decode_errors, 0);
	/* a corrupt payload: a decode error, concealed, a new PLC event */
	ck_assert_int_lt(codec_audio_rx_packet(rx, (const uint8_t *)"\x03\x00", 2, 0), 0);
	ck_assert_uint_eq(rx->decode_errors, 1);
	ck_assert_uint_eq(rx->plc_events, 4);
	/* the decoded speech is measured: its active level is near the source's -20 dBov */
	ck_assert_msg(fabs(codec_level_active_dbov(&rx->level) + 20.0) < 3.0, "active %.1f",
		      codec_level_active_dbov(&rx->level));
	codec_audio_rx_free(rx);
	codec_enc_free(e);
	codec_media_free(m);
	ck_assert_ptr_null(codec_audio_rx_new(&codec_telephone_event, NULL, 20));
	ck_assert_ptr_null(codec_audio_rx_new(&codec_pcmu, NULL, 25));
}
END_TEST

/* Opus in-band FEC.  Every 4th frame of a 4 s stream is lost and rebuilt either from the next packet's LBRR
 * data (fec) or by concealment; the rebuilt frames are compared with what the frames' own packets decode to,
 * by the level of each 2.5 ms block (a perceptual codec's waveform is too phase-sensitive to compare sample by
 * sample).  Returns the mean absolute level difference in dB over blocks with sound in them. */
static int16_t *decode_with_losses(const struct codec_media *m, int mode /* 0 none lost, 1 fec, 2 plc */)
{
	struct codec_params p = { .fec = true, .expected_loss_pct = 25, .bitrate = 32000 };
	struct codec_enc *e = codec_enc_new(&codec_opus, &p);
	struct codec_dec *d = codec_dec_new(&codec_opus, &p);
	size_t nf = m->nsamples / 960;
	uint8_t (*pkts)[CODEC_MAX_PAYLOAD] = calloc(nf, CODEC_MAX_PAYLOAD);
	int *len = calloc(nf, sizeof(int));
	int16_t *out = calloc(m->nsamples, sizeof(*out));

	for (size_t f = 0; f < nf; f++)
		ck_assert_int_gt(len[f] = codec_encode(e, m->pcm + f * 960, 960, pkts[f], CODEC_MAX_PAYLOAD), 0);
	for (size_t f = 0; f < nf; f++) {
		int n;

		if (mode && f % 4 == 2 && f + 1 < nf)
			n = mode == 1 ? codec_opus.decode_fec(d, pkts[f + 1], (size_t)len[f + 1], out + f * 960, 960)
				      : codec_conceal(d, out + f * 960, 960);
		else
			n = codec_decode(d, pkts[f], (size_t)len[f], out + f * 960, 960);
		ck_assert_int_eq(n, 960);
	}
	free(pkts);
	free(len);
	codec_enc_free(e);
	codec_dec_free(d);
	return out;
}

static double block_level_error(const int16_t *ref, const int16_t *x, size_t nf)
{
	double sum = 0;
	int blocks = 0;

	for (size_t f = 2; f + 1 < nf; f += 4)
		for (size_t b = 0; b < 8; b++) {
			double er = 0, ex = 0;

			for (size_t i = 0; i < 120; i++) {
				size_t k = f * 960 + b * 120 + i;

				er += (double)ref[k] * ref[k];
				ex += (double)x[k] * x[k];
			}
			if (er / 120 < 100) /* below -50 dBov: a pause, nothing to compare */
				continue;
			sum += fabs(10 * log10((ex + 1) / (er + 1)));
			blocks++;
		}
	ck_assert_int_gt(blocks, 50);
	return sum / blocks;
}

START_TEST(opus_fec_recovers_lost_frames)
{
	struct codec_media *m = codec_media_synthetic(48000, 4000, 6);
	int16_t *ref = decode_with_losses(m, 0), *fec = decode_with_losses(m, 1), *plc = decode_with_losses(m, 2);
	double with = block_level_error(ref, fec, m->nsamples / 960), without = block_level_error(ref, plc, m->nsamples / 960);
	struct codec_params p = { .fec = true, .expected_loss_pct = 25 };
	struct codec_enc *e = codec_enc_new(&codec_opus, &p);
	struct codec_audio_rx *rx = codec_audio_rx_new(&codec_opus, &p, 20);
	uint8_t pkt[CODEC_MAX_PAYLOAD];

	/* measured: FEC 1.6 dB, concealment 6.0 dB */
	ck_assert_msg(with < 3.0 && without > with + 2.0, "lost frames off by: FEC %.1f dB, PLC %.1f dB", with,
		      without);
	free(ref);
	free(fec);
	free(plc);
	/* through codec_audio_rx: frames 10 and 20-21 lost; the last frame of each gap goes through FEC */
	for (int f = 0; f < 100; f++) {
		int n = codec_encode(e, m->pcm + f * 960, 960, pkt, sizeof(pkt));

		if (f == 10 || f == 20 || f == 21)
			continue;
		ck_assert_int_eq(codec_audio_rx_packet(rx, pkt, (size_t)n, f == 11 ? 1 : f == 22 ? 2 : 0), 960);
	}
	ck_assert_uint_eq(rx->plc_events, 2);
	ck_assert_uint_eq(rx->plc_frames, 3);
	ck_assert_uint_eq(rx->fec_frames, 2);
	codec_audio_rx_free(rx);
	codec_enc_free(e);
	codec_media_free(m);
}
END_TEST

START_TEST(decode_policy)
{
	struct codec_decode_policy pol;
	char buf[32];
	unsigned chosen = 0;

	ck_assert_int_eq(codec_decode_policy_parse("all", &pol), 0);
	ck_assert(codec_decode_selected(&pol, 12345));
	ck_assert_int_eq(codec_decode_policy_parse("none", &pol), 0);
	ck_assert(!codec_decode_selected(&pol, 0));
	ck_assert_int_eq(codec_decode_policy_parse("1/100", &pol), 0);
	ck_assert_int_eq(pol.mode, CODEC_DECODE_SAMPLED);
	for (uint32_t i = 0; i < 100000; i++)
		chosen += codec_decode_selected(&pol, i);
	ck_assert_uint_eq(chosen, 1000);
	codec_decode_policy_format(&pol, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1/100");
	ck_assert_int_eq(codec_decode_policy_parse("1/1", &pol), 0);
	ck_assert_int_eq(pol.mode, CODEC_DECODE_ALL);
	ck_assert_int_eq(codec_decode_policy_parse("1/0", &pol), -ERANGE);
	ck_assert_int_eq(codec_decode_policy_parse("1/x", &pol), -EINVAL);
	ck_assert_int_eq(codec_decode_policy_parse("2/10", &pol), -EINVAL);
	ck_assert_int_eq(codec_decode_policy_parse("some", &pol), -EINVAL);
	ck_assert_int_eq(codec_decode_policy_parse("1/", &pol), -EINVAL);
}
END_TEST

START_TEST(tone_source)
{
	struct codec_media *t = codec_media_tone(8000, 1000, 1004, -10.0);
	struct codec_level_meter lm;
	size_t up = 0;

	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->name, "tone-1004Hz");
	codec_level_meter_init(&lm, 8000);
	codec_level_meter_feed(&lm, t->pcm, t->nsamples);
	ck_assert_double_eq_tol(codec_level_rms_dbov(&lm), -10.0, 0.02);
	for (size_t i = 1; i < t->nsamples; i++)
		up += t->pcm[i - 1] < 0 && t->pcm[i] >= 0;
	ck_assert_int_le(abs((int)up - 1004), 1); /* one upward zero crossing per cycle */
	codec_media_free(t);
	ck_assert_ptr_null(codec_media_tone(8000, 1000, 4000, -10));  /* at Nyquist */
	ck_assert_ptr_null(codec_media_tone(8000, 1000, 1000, 0));    /* would clip */
	ck_assert_ptr_null(codec_media_tone(22050, 1000, 1000, -10));
}
END_TEST

/* Encodes media through a codec's frame cache, decodes the frames, brings them back to 8 kHz and runs the DTMF
 * detector: the path an in-band DTMF test takes end to end. */
static void detect_through(const struct codec_ops *ops, const struct codec_media *m, char *digits, size_t len)
{
	struct codec_frame_cache *c;
	struct codec_dec *d = codec_dec_new(ops, NULL);
	struct codec_dtmf_detect *det = codec_dtmf_detect_new();
	struct codec_media *dec, *at8k;
	char err[256];
	size_t pos = 0;

	c = codec_frame_cache_build(ops, NULL, m, 20, 0, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	dec = codec_media_tone(ops->sample_rate, c->nframes * 20, 1000, -30); /* a buffer of the right size */
	ck_assert_ptr_nonnull(dec);
	for (uint32_t i = 0; i < c->nframes; i++) {
		int n = codec_decode(d, c->data + c->frames[i].offset, c->frames[i].len, dec->pcm + pos,
				     dec->nsamples - pos);

		ck_assert_int_gt(n, 0);
		pos += (size_t)n;
	}
	at8k = codec_media_resample(dec, 8000, err, sizeof(err));
	ck_assert_ptr_nonnull(at8k);
	codec_dtmf_detect_feed(det, at8k->pcm, at8k->nsamples);
	codec_dtmf_detect_digits(det, digits, len);
	codec_media_free(at8k);
	codec_media_free(dec);
	codec_dtmf_detect_free(det);
	codec_dec_free(d);
	codec_frame_cache_free(c);
}

START_TEST(inband_dtmf_through_codecs)
{
	const char *digits = "159#*D0";
	struct codec_media *m, *speech;
	char got[64], err[256];

	m = codec_media_dtmf(digits, 100, 100, -10, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(m->rate, 8000);
	ck_assert_uint_eq(m->nsamples, 7 * 200 * 8);
	detect_through(&codec_pcmu, m, got, sizeof(got));
	ck_assert_str_eq(got, digits);
	detect_through(&codec_pcma, m, got, sizeof(got));
	ck_assert_str_eq(got, digits);
	detect_through(&codec_g722, m, got, sizeof(got));
	ck_assert_str_eq(got, digits);
	detect_through(&codec_opus, m, got, sizeof(got));
	ck_assert_str_eq(got, digits);
	/* talk-off: a minute of the synthetic speech source through PCMU yields no digit */
	speech = codec_media_synthetic(8000, 60000, 3);
	detect_through(&codec_pcmu, speech, got, sizeof(got));
	ck_assert_str_eq(got, "");
	codec_media_free(speech);
	codec_media_free(m);
	ck_assert_ptr_null(codec_media_dtmf("12x", 100, 100, -10, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "'x'"));
	ck_assert_ptr_null(codec_media_dtmf("1", 20, 100, -10, err, sizeof(err)));
	ck_assert_ptr_null(codec_media_dtmf("", 100, 100, -10, err, sizeof(err)));
	ck_assert_ptr_null(codec_media_dtmf("1", 100, 100, 3, err, sizeof(err)));
}
END_TEST

START_TEST(media_spec)
{
	struct codec_media *m;
	char err[256], path[64];

	m = codec_media_open("", err, sizeof(err));
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->name, "synthetic");
	ck_assert_uint_eq(m->rate, 48000);
	ck_assert_uint_eq(m->nsamples, 48 * CODEC_SYNTH_DEFAULT_MS);
	codec_media_free(m);
	m = codec_media_open("speech", err, sizeof(err));
	ck_assert_str_eq(m->name, "synthetic");
	codec_media_free(m);
	m = codec_media_open("silence", err, sizeof(err));
	ck_assert_str_eq(m->name, "silence");
	ck_assert_uint_eq(m->nsamples, 48 * CODEC_SYNTH_DEFAULT_MS);
	for (size_t i = 0; i < m->nsamples; i++)
		ck_assert_int_eq(m->pcm[i], 0);
	codec_media_free(m);
	m = codec_media_open("tone:440:-30", err, sizeof(err));
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->name, "tone-440Hz");
	{
		struct codec_level_meter lm;

		codec_level_meter_init(&lm, 48000);
		codec_level_meter_feed(&lm, m->pcm, m->nsamples);
		ck_assert_double_eq_tol(codec_level_rms_dbov(&lm), -30.0, 0.05);
		codec_media_free(m);
		m = codec_media_open("tone:1000", err, sizeof(err));
		codec_level_meter_init(&lm, 48000);
		codec_level_meter_feed(&lm, m->pcm, m->nsamples);
		ck_assert_double_eq_tol(codec_level_rms_dbov(&lm), CODEC_TONE_DEFAULT_DBOV, 0.05);
	}
	codec_media_free(m);
	m = codec_media_open("tone", err, sizeof(err));
	ck_assert_str_eq(m->name, "tone-1004Hz");
	codec_media_free(m);
	m = codec_media_open("dtmf:12", err, sizeof(err));
	ck_assert_uint_eq(m->nsamples, 2 * 200 * 8);
	codec_media_free(m);
	ck_assert_ptr_null(codec_media_open("tone:abc", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "tone:HZ"));
	ck_assert_ptr_null(codec_media_open("tone:30000", err, sizeof(err)));
	ck_assert_ptr_null(codec_media_open("tone:440:-1", err, sizeof(err)));
	ck_assert_ptr_null(codec_media_open("dtmf:1z", err, sizeof(err)));
	/* anything else is a file: a text file is refused as not a WAV file, naming it */
	tu_write_temp(path, sizeof(path), "hello, not audio\n");
	ck_assert_ptr_null(codec_media_open(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "not a WAV file"));
	unlink(path);
}
END_TEST

static Suite *media_suite(void)
{
	Suite *s = suite_create("codec_media");
	TCase *tc = tcase_create("media");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, synthetic_is_speech_like_and_deterministic);
	tcase_add_test(tc, wav_good_files);
	tcase_add_test(tc, wav_refusals);
	tcase_add_test(tc, wav_extensible_pcm_is_accepted);
	tcase_add_test(tc, wav_mutations_never_crash);
	tcase_add_test(tc, resample_keeps_length_and_tone);
	tcase_add_test(tc, frame_cache_layout);
	tcase_add_test(tc, frame_cache_dtx_and_markers);
	tcase_add_test(tc, frame_cache_memory_cap);
	tcase_add_test(tc, frame_cache_is_read_only);
	tcase_add_test(tc, cache_set_shares_and_caps);
	tcase_add_test(tc, level_meter_reference_levels);
	tcase_add_test(tc, audio_rx_counts_plc);
	tcase_add_test(tc, decode_policy);
	tcase_add_test(tc, opus_fec_recovers_lost_frames);
	tcase_add_test(tc, tone_source);
	tcase_add_test(tc, inband_dtmf_through_codecs);
	tcase_add_test(tc, media_spec);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(media_suite());
}
