/* Received-audio metrics: which flows are decoded, a level meter (RMS and VAD-gated active level in dBov) and
 * a per-stream decoder that runs and counts packet-loss concealment. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/codecs.h"

/* ---- decode policy --------------------------------------------------------------------------------------- */

int codec_decode_policy_parse(const char *s, struct codec_decode_policy *out)
{
	uint64_t n;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "all") == 0) {
		*out = (struct codec_decode_policy){ .mode = CODEC_DECODE_ALL, .one_in = 1 };
		return 0;
	}
	if (strcmp(s, "none") == 0) {
		*out = (struct codec_decode_policy){ .mode = CODEC_DECODE_NONE, .one_in = 0 };
		return 0;
	}
	if (strncmp(s, "1/", 2) != 0)
		return -EINVAL;
	{
		/* strict decimal: digits only, 1..1000000 */
		const char *d = s + 2;

		if (!*d || strlen(d) > 7)
			return -EINVAL;
		n = 0;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				return -EINVAL;
			n = n * 10 + (uint64_t)(*d - '0');
		}
		if (n < 1 || n > 1000000)
			return -ERANGE;
	}
	*out = (struct codec_decode_policy){ .mode = n == 1 ? CODEC_DECODE_ALL : CODEC_DECODE_SAMPLED,
					     .one_in = (uint32_t)n };
	return 0;
}

bool codec_decode_selected(const struct codec_decode_policy *pol, uint32_t flow_index)
{
	switch (pol->mode) {
	case CODEC_DECODE_ALL:
		return true;
	case CODEC_DECODE_SAMPLED:
		return pol->one_in && flow_index % pol->one_in == 0;
	default:
		return false;
	}
}

int codec_decode_policy_format(const struct codec_decode_policy *pol, char *buf, size_t len)
{
	int n;

	switch (pol->mode) {
	case CODEC_DECODE_ALL:
		n = snprintf(buf, len, "all");
		break;
	case CODEC_DECODE_SAMPLED:
		n = snprintf(buf, len, "1/%u", pol->one_in);
		break;
	default:
		n = snprintf(buf, len, "none");
		break;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* ---- level meter ----------------------------------------------------------------------------------------- */

#define FULL_SCALE_SQ (32768.0 * 32768.0)
#define VAD_ABS_DBOV (-55.0)
#define VAD_ABOVE_NOISE_DB 9.0
#define VAD_HANG_BLOCKS 20         /* 200 ms */
#define NOISE_RISE_PER_BLOCK 1.01  /* the noise floor creeps up ~4 dB/s so it follows a louder background */
#define NOISE_MAX_DBOV (-45.0)     /* louder than this is never background: a steady tone stays active */
#define NOISE_INIT_DBOV (-70.0)

int codec_level_meter_init(struct codec_level_meter *m, uint32_t rate)
{
	if (rate < 1000 || rate > CODEC_MAX_SAMPLE_RATE)
		return -EINVAL;
	*m = (struct codec_level_meter){ .rate = rate, .block = rate / 100, .noise_floor = -1 };
	return 0;
}

static void block_done(struct codec_level_meter *m)
{
	double e = m->block_energy / m->block;
	double thr = FULL_SCALE_SQ * pow(10.0, VAD_ABS_DBOV / 10.0);

	if (m->noise_floor < 0)
		m->noise_floor = FULL_SCALE_SQ * pow(10.0, NOISE_INIT_DBOV / 10.0);
	if (e < m->noise_floor)
		m->noise_floor = e;
	else
		m->noise_floor *= NOISE_RISE_PER_BLOCK;
	if (m->noise_floor > FULL_SCALE_SQ * pow(10.0, NOISE_MAX_DBOV / 10.0))
		m->noise_floor = FULL_SCALE_SQ * pow(10.0, NOISE_MAX_DBOV / 10.0);
	if (m->noise_floor * pow(10.0, VAD_ABOVE_NOISE_DB / 10.0) > thr)
		thr = m->noise_floor * pow(10.0, VAD_ABOVE_NOISE_DB / 10.0);
	if (e > thr)
		m->hang = VAD_HANG_BLOCKS + 1;
	if (m->hang) {
		m->hang--;
		m->active_sum_sq += m->block_energy;
		m->active_n += m->block;
	}
	m->block_energy = 0;
	m->fill = 0;
}

void codec_level_meter_feed(struct codec_level_meter *m, const int16_t *pcm, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double x = (double)pcm[i] * pcm[i];

		m->sum_sq += x;
		m->block_energy += x;
		if (++m->fill == m->block)
			block_done(m);
	}
	m->n += n;
}

static double dbov(double sum_sq, uint64_t n)
{
	if (n == 0 || sum_sq <= 0)
		return CODEC_LEVEL_FLOOR_DBOV;
	return fmax(CODEC_LEVEL_FLOOR_DBOV, 10.0 * log10(sum_sq / (double)n / FULL_SCALE_SQ));
}

double codec_level_rms_dbov(const struct codec_level_meter *m)
{
	return dbov(m->sum_sq, m->n);
}

double codec_level_active_dbov(const struct codec_level_meter *m)
{
	return dbov(m->active_sum_sq, m->active_n);
}

double codec_level_active_ratio(const struct codec_level_meter *m)
{
	return m->n ? (double)m->active_n / (double)m->n : 0.0;
}

/* ---- per-stream decoder ---------------------------------------------------------------------------------- */

#define PLC_MAX_FRAMES_PER_GAP 50 /* conceal at most this many frames of one gap; longer gaps are only counted */

struct codec_audio_rx *codec_audio_rx_new(const struct codec_ops *ops, const struct codec_params *p,
					  unsigned ptime_ms)
{
	struct codec_audio_rx *rx;

	if (!ops->dec_new || !codec_ptime_allowed(ops, ptime_ms)) {
		errno = EINVAL;
		return NULL;
	}
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return NULL;
	rx->ops = ops;
	rx->use_fec = p && p->fec && ops->decode_fec;
	rx->frame_samples = codec_frame_samples(ops, ptime_ms);
	codec_level_meter_init(&rx->level, ops->sample_rate);
	rx->scratch = calloc(CODEC_MAX_FRAME_SAMPLES, sizeof(*rx->scratch));
	if (!rx->scratch)
		goto fail_free_rx;
	rx->dec = codec_dec_new(ops, p);
	if (!rx->dec)
		goto fail_free_scratch;
	return rx;

fail_free_scratch:
	free(rx->scratch);
fail_free_rx:
	free(rx);
	return NULL;
}

/* Conceals `frames` lost frames; with FEC the last one is rebuilt from `next` (the packet after the gap). */
static void conceal(struct codec_audio_rx *rx, uint32_t frames, const uint8_t *next, size_t next_len)
{
	uint32_t plc = frames;

	if (!rx->in_loss) {
		rx->plc_events++;
		rx->in_loss = true;
	}
	rx->plc_frames += frames;
	rx->plc_samples += (uint64_t)frames * rx->frame_samples;
	if (next && rx->use_fec)
		plc--;
	for (uint32_t i = 0; i < plc && i < PLC_MAX_FRAMES_PER_GAP; i++) {
		int n = codec_conceal(rx->dec, rx->scratch, rx->frame_samples);

		if (n > 0)
			codec_level_meter_feed(&rx->level, rx->scratch, (size_t)n);
	}
	if (plc < frames) {
		int n = rx->ops->decode_fec(rx->dec, next, next_len, rx->scratch, rx->frame_samples);

		if (n > 0)
			rx->fec_frames++;
		else
			n = codec_conceal(rx->dec, rx->scratch, rx->frame_samples);
		if (n > 0)
			codec_level_meter_feed(&rx->level, rx->scratch, (size_t)n);
	}
}

int codec_audio_rx_packet(struct codec_audio_rx *rx, const uint8_t *payload, size_t len, uint32_t lost_before)
{
	int n;

	if (lost_before)
		conceal(rx, lost_before, payload, len);
	n = codec_decode(rx->dec, payload, len, rx->scratch, CODEC_MAX_FRAME_SAMPLES);
	if (n < 0) {
		/* a corrupt payload is concealed like a lost one, and counted */
		rx->decode_errors++;
		conceal(rx, 1, NULL, 0);
		return n;
	}
	rx->in_loss = false;
	rx->frames++;
	codec_level_meter_feed(&rx->level, rx->scratch, (size_t)n);
	return n;
}

double codec_audio_rx_plc_ms(const struct codec_audio_rx *rx)
{
	return (double)rx->plc_samples * 1000.0 / rx->ops->sample_rate;
}

void codec_audio_rx_free(struct codec_audio_rx *rx)
{
	if (!rx)
		return;
	codec_dec_free(rx->dec);
	free(rx->scratch);
	free(rx);
}
