/* Media sources: the synthetic speech-like default, WAV files, and resampling (speexdsp's resampler: a
 * maintained, Debian-packaged polyphase resampler instead of a hand-written filter). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_resampler.h>

#include "codecs/codecs_internal.h"

static bool rate_supported(uint32_t rate)
{
	return rate == 8000 || rate == 16000 || rate == 48000;
}

struct codec_media *codec_media_alloc(const char *name, uint32_t rate, size_t nsamples)
{
	struct codec_media *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->pcm = calloc(nsamples ? nsamples : 1, sizeof(*m->pcm));
	if (!m->pcm) {
		free(m);
		return NULL;
	}
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->rate = rate;
	m->nsamples = nsamples;
	return m;
}

void codec_media_free(struct codec_media *m)
{
	if (!m)
		return;
	free(m->pcm);
	free(m);
}

/* ---- synthetic speech ------------------------------------------------------------------------------------ */

struct synth_rng {
	uint32_t s;
};

static uint32_t rng_next(struct synth_rng *r)
{
	/* xorshift32: deterministic across platforms, which is all this needs */
	r->s ^= r->s << 13;
	r->s ^= r->s >> 17;
	r->s ^= r->s << 5;
	return r->s;
}

static double rng_uniform(struct synth_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * (rng_next(r) / 4294967296.0);
}

/* Two-pole resonator (formant filter) at f Hz with bandwidth bw Hz, unity gain at the peak (roughly). */
struct resonator {
	double a1, a2, g, y1, y2;
};

static void resonator_set(struct resonator *r, double f, double bw, double rate)
{
	double rad = exp(-M_PI * bw / rate);

	r->a1 = 2.0 * rad * cos(2.0 * M_PI * f / rate);
	r->a2 = -rad * rad;
	r->g = 1.0 - rad;
	r->y1 = r->y2 = 0;
}

static double resonator_run(struct resonator *r, double x)
{
	double y = r->g * x + r->a1 * r->y1 + r->a2 * r->y2;

	r->y2 = r->y1;
	r->y1 = y;
	return y;
}

static void level_part(double *x, size_t n, double target_rms)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += x[i] * x[i];
	if (n == 0 || sum <= 0)
		return;
	for (size_t i = 0; i < n; i++)
		x[i] *= target_rms / sqrt(sum / (double)n);
}

/* Formant targets (F1, F2, F3 in Hz) of a few vowels, to move between syllables. */
static const double vowels[][3] = {
	{ 730, 1090, 2440 }, { 270, 2290, 3010 }, { 530, 1840, 2480 }, { 570, 840, 2410 },
	{ 300, 870, 2240 },  { 660, 1720, 2410 }, { 490, 1350, 1690 }, { 440, 1020, 2240 },
};

/* A syllable: optional unvoiced onset (a noise burst like a fricative or plosive release), then a voiced
 * nucleus: an impulse train at a gliding pitch through three formant resonators, shaped by a raised-cosine
 * envelope.  `active` marks the samples that belong to speech, for the level normalisation. */
static size_t synth_syllable(double *out, uint8_t *active, size_t room, double rate, struct synth_rng *r)
{
	size_t onset = rng_next(r) % 3 == 0 ? (size_t)(rate * rng_uniform(r, 0.03, 0.08)) : 0;
	size_t voiced = (size_t)(rate * rng_uniform(r, 0.10, 0.25));
	size_t n = onset + voiced, attack = (size_t)(rate * 0.015), release = (size_t)(rate * 0.04);
	const double *v = vowels[rng_next(r) % (sizeof(vowels) / sizeof(vowels[0]))];
	double f0 = rng_uniform(r, 95, 210), f0_end = f0 * rng_uniform(r, 0.8, 1.15);
	double gain = pow(10.0, rng_uniform(r, -6, 3) / 20.0), phase = 0, glottal = 0;
	double tilt = exp(-2.0 * M_PI * 150.0 / rate); /* one pole at 150 Hz: speech's ~-6 dB/octave tilt */
	double nyq = rate * 0.45;
	struct resonator f[3], fric;

	if (n > room)
		n = room;
	for (int k = 0; k < 3; k++)
		resonator_set(&f[k], fmin(v[k], nyq - 200), 60 + 40 * k, rate);
	resonator_set(&fric, fmin(rng_uniform(r, 2500, 4500), nyq - 300), 900, rate);
	for (size_t i = 0; i < n; i++) {
		double env, y;

		if (i < onset) {
			double noise = rng_uniform(r, -1, 1);

			env = sin(M_PI * (double)i / (double)onset);
			y = resonator_run(&fric, noise) * env;
		} else {
			size_t j = i - onset;
			double t = (double)j / (double)voiced, pitch = f0 + (f0_end - f0) * t, x = 0;

			phase += pitch / rate;
			if (phase >= 1.0) {
				phase -= 1.0;
				x = 1.0; /* glottal pulse */
			}
			x += 0.02 * rng_uniform(r, -1, 1); /* breath noise */
			glottal = x + tilt * glottal;
			y = resonator_run(&f[2], resonator_run(&f[1], resonator_run(&f[0], glottal))) ;
			env = 1.0;
			if (j < attack)
				env = 0.5 - 0.5 * cos(M_PI * (double)j / (double)attack);
			else if (voiced - j < release)
				env = 0.5 - 0.5 * cos(M_PI * (double)(voiced - j) / (double)release);
			y *= env;
		}
		out[i] = y;
		active[i] = 1;
	}
	/* Resonator gains depend on formant and sample rate; level each part on its own so the result does not:
	 * the vowel at `gain`, the unvoiced onset 10 dB below it, as in natural speech. */
	level_part(out, onset < n ? onset : n, 0.32 * gain);
	if (n > onset)
		level_part(out + onset, n - onset, gain);
	return n;
}

struct codec_media *codec_media_synthetic(uint32_t rate, uint32_t duration_ms, uint32_t seed)
{
	size_t n = (size_t)rate * duration_ms / 1000, pos = 0;
	struct synth_rng r = { .s = seed ? seed : 0x9e3779b9u };
	struct codec_media *m;
	double *buf = NULL, sum = 0, scale;
	uint8_t *active = NULL;
	size_t nactive = 0;

	if (!rate_supported(rate) || n == 0 || duration_ms > 3600u * 1000) {
		errno = EINVAL;
		return NULL;
	}
	m = codec_media_alloc("synthetic", rate, n);
	buf = calloc(n, sizeof(*buf));
	active = calloc(n, 1);
	if (!m || !buf || !active)
		goto fail;
	/* Phrases of 3-8 syllables separated by 40-150 ms; 0.4-1.0 s of pause between phrases, so a VAD or DTX
	 * sees both short gaps it should bridge and pauses it should suppress. */
	pos = (size_t)(rate * 0.1);
	while (pos < n) {
		unsigned syllables = 3 + rng_next(&r) % 6;

		for (unsigned s = 0; s < syllables && pos < n; s++) {
			pos += synth_syllable(buf + pos, active + pos, n - pos, rate, &r);
			pos += (size_t)(rate * rng_uniform(&r, 0.04, 0.15));
		}
		pos += (size_t)(rate * rng_uniform(&r, 0.4, 1.0));
	}
	for (size_t i = 0; i < n; i++)
		if (active[i]) {
			sum += buf[i] * buf[i];
			nactive++;
		}
	scale = nactive && sum > 0 ? 32768.0 * pow(10.0, CODEC_SYNTH_LEVEL_DBOV / 20.0) / sqrt(sum / nactive) : 0;
	/* Two passes: level by the syllable mask, then correct so that the VAD-gated level meter (P.56-like,
	 * which counts short gaps inside phrases as speech) reads CODEC_SYNTH_LEVEL_DBOV, as a receiver would. */
	for (int pass = 0; pass < 2; pass++) {
		struct synth_rng noise = { .s = r.s };
		struct codec_level_meter lm;

		for (size_t i = 0; i < n; i++) {
			/* background noise at about -70 dBov (a quiet room), deterministic like the rest */
			double v = buf[i] * scale + rng_uniform(&noise, -18, 18);

			m->pcm[i] = (int16_t)lrint(fmax(-32768.0, fmin(32767.0, v)));
		}
		if (pass == 1 || codec_level_meter_init(&lm, rate) < 0)
			break;
		codec_level_meter_feed(&lm, m->pcm, n);
		if (codec_level_active_dbov(&lm) > CODEC_LEVEL_FLOOR_DBOV)
			scale *= pow(10.0, (CODEC_SYNTH_LEVEL_DBOV - codec_level_active_dbov(&lm)) / 20.0);
	}
	free(buf);
	free(active);
	return m;

fail:
	free(buf);
	free(active);
	codec_media_free(m);
	errno = ENOMEM;
	return NULL;
}

/* ---- WAV ------------------------------------------------------------------------------------------------- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define WAVE_FORMAT_PCM 1
#define WAVE_FORMAT_IEEE_FLOAT 3
#define WAVE_FORMAT_ALAW 6
#define WAVE_FORMAT_MULAW 7
#define WAVE_FORMAT_EXTENSIBLE 0xFFFE

static const char *format_name(unsigned f)
{
	switch (f) {
	case WAVE_FORMAT_IEEE_FLOAT: return "IEEE float";
	case WAVE_FORMAT_ALAW: return "A-law";
	case WAVE_FORMAT_MULAW: return "mu-law";
	default: return "unknown";
	}
}

/* RIFF/WAVE (Microsoft multimedia spec): "RIFF" size "WAVE", then chunks (id, little-endian size, data, a pad
 * byte after odd sizes).  We need "fmt " before "data" and ignore every other chunk (LIST, fact, ...). */
struct codec_media *codec_media_wav_parse(const uint8_t *buf, size_t len, const char *name, char *err,
					  size_t errlen)
{
	unsigned format = 0, channels = 0, bits = 0, block = 0;
	uint32_t rate = 0;
	size_t off = 12;
	bool have_fmt = false;
	struct codec_media *m;

	if (len < 12 || memcmp(buf, "RIFF", 4) != 0 || memcmp(buf + 8, "WAVE", 4) != 0) {
		snprintf(err, errlen, "%s: not a WAV file (no RIFF/WAVE header)", name);
		return NULL;
	}
	for (;;) {
		uint32_t size;

		if (off + 8 > len) {
			snprintf(err, errlen, "%s: truncated: no data chunk before the end of the file", name);
			return NULL;
		}
		size = le32(buf + off + 4);
		if (memcmp(buf + off, "fmt ", 4) == 0) {
			const uint8_t *f = buf + off + 8;

			if (size < 16 || size > len - off - 8) {
				snprintf(err, errlen, "%s: truncated or malformed fmt chunk (%u bytes)", name, size);
				return NULL;
			}
			format = le16(f);
			channels = le16(f + 2);
			rate = le32(f + 4);
			block = le16(f + 12);
			bits = le16(f + 14);
			if (format == WAVE_FORMAT_EXTENSIBLE) {
				/* the sub-format GUID starts with the format tag (KSDATAFORMAT_SUBTYPE_PCM = 1) */
				if (size < 40) {
					snprintf(err, errlen, "%s: truncated WAVE_FORMAT_EXTENSIBLE fmt chunk", name);
					return NULL;
				}
				format = le16(f + 24);
			}
			have_fmt = true;
		} else if (memcmp(buf + off, "data", 4) == 0) {
			size_t avail = len - off - 8;

			if (!have_fmt) {
				snprintf(err, errlen, "%s: data chunk before the fmt chunk", name);
				return NULL;
			}
			if (format != WAVE_FORMAT_PCM) {
				snprintf(err, errlen, "%s: unsupported WAV format %u (%s); only 16-bit PCM is accepted",
					 name, format, format_name(format));
				return NULL;
			}
			if (bits != 16) {
				snprintf(err, errlen, "%s: unsupported sample size %u bits; only 16-bit PCM is accepted",
					 name, bits);
				return NULL;
			}
			if (channels != 1 && channels != 2) {
				snprintf(err, errlen, "%s: unsupported channel count %u (mono or stereo)", name, channels);
				return NULL;
			}
			if (!rate_supported(rate)) {
				snprintf(err, errlen, "%s: unsupported sample rate %u Hz (8000, 16000 or 48000)", name,
					 rate);
				return NULL;
			}
			if (block != channels * 2) {
				snprintf(err, errlen, "%s: malformed fmt chunk (block align %u for %u channels)", name,
					 block, channels);
				return NULL;
			}
			if (size > avail) {
				snprintf(err, errlen, "%s: truncated: data chunk declares %u bytes, %zu present", name,
					 size, avail);
				return NULL;
			}
			if (size % block) {
				snprintf(err, errlen, "%s: truncated: data chunk of %u bytes is not whole %u-byte frames",
					 name, size, block);
				return NULL;
			}
			if (size == 0) {
				snprintf(err, errlen, "%s: no audio samples", name);
				return NULL;
			}
			m = codec_media_alloc(name, rate, size / block);
			if (!m) {
				snprintf(err, errlen, "%s: out of memory", name);
				return NULL;
			}
			for (size_t i = 0; i < m->nsamples; i++) {
				const uint8_t *s = buf + off + 8 + i * block;

				if (channels == 1)
					m->pcm[i] = (int16_t)le16(s);
				else
					m->pcm[i] = (int16_t)(((int32_t)(int16_t)le16(s) + (int16_t)le16(s + 2)) / 2);
			}
			return m;
		}
		if (size > len - off - 8) {
			snprintf(err, errlen, "%s: truncated: chunk '%.4s' declares %u bytes, %zu present", name,
				 (const char *)buf + off, size, len - off - 8);
			return NULL;
		}
		off += 8 + (size_t)size + (size & 1);
	}
}

struct codec_media *codec_media_wav_load(const char *path, char *err, size_t errlen)
{
	const char *base = strrchr(path, '/');
	struct codec_media *m = NULL;
	uint8_t *buf = NULL;
	FILE *f = fopen(path, "rb");
	long size;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if ((unsigned long)size > CODEC_WAV_MAX_BYTES) {
		snprintf(err, errlen, "%s: %ld bytes is larger than the %u-byte limit for media files", path, size,
			 CODEC_WAV_MAX_BYTES);
		goto out;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		snprintf(err, errlen, "%s: cannot read %ld bytes", path, size);
		goto out;
	}
	m = codec_media_wav_parse(buf, (size_t)size, path, err, errlen);
	if (m)
		snprintf(m->name, sizeof(m->name), "%s", base ? base + 1 : path);
out:
	free(buf);
	fclose(f);
	return m;
}

/* ---- resampling ------------------------------------------------------------------------------------------ */

#define RESAMPLE_QUALITY 8 /* speexdsp 0..10; 8 keeps aliasing far below G.711's noise floor */

struct codec_media *codec_media_resample(const struct codec_media *in, uint32_t rate, char *err, size_t errlen)
{
	size_t want = (size_t)((uint64_t)in->nsamples * rate / in->rate), got = 0;
	SpeexResamplerState *st;
	struct codec_media *m;
	spx_uint32_t ilen, olen, lat;
	int rc = 0;
	int16_t zeros[256] = { 0 };

	if (!rate_supported(rate) || !rate_supported(in->rate)) {
		snprintf(err, errlen, "%s: cannot resample %u Hz to %u Hz (8000, 16000 or 48000)", in->name,
			 in->rate, rate);
		return NULL;
	}
	m = codec_media_alloc(in->name, rate, want);
	if (!m) {
		snprintf(err, errlen, "%s: out of memory", in->name);
		return NULL;
	}
	if (rate == in->rate) {
		memcpy(m->pcm, in->pcm, in->nsamples * sizeof(*in->pcm));
		return m;
	}
	st = speex_resampler_init(1, in->rate, rate, RESAMPLE_QUALITY, &rc);
	if (!st) {
		snprintf(err, errlen, "%s: resampler: %s", in->name, speex_resampler_strerror(rc));
		codec_media_free(m);
		return NULL;
	}
	/* skip_zeros drops the filter's leading delay; the zeros fed after the input flush its tail, so sample i
	 * of the output lines up with sample i * rate / in->rate of the input. */
	speex_resampler_skip_zeros(st);
	ilen = (spx_uint32_t)in->nsamples;
	olen = (spx_uint32_t)want;
	speex_resampler_process_int(st, 0, in->pcm, &ilen, m->pcm, &olen);
	got = olen;
	lat = (spx_uint32_t)speex_resampler_get_input_latency(st) + 1;
	while (got < want && lat > 0) {
		spx_uint32_t zl = lat < 256 ? lat : 256;

		olen = (spx_uint32_t)(want - got);
		speex_resampler_process_int(st, 0, zeros, &zl, m->pcm + got, &olen);
		got += olen;
		lat -= zl;
	}
	speex_resampler_destroy(st);
	m->nsamples = got;
	return m;
}
