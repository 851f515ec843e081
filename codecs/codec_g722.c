/* G.722 (64 kbit/s SB-ADPCM, 16 kHz audio) through spandsp.  RTP clock 8000 although the audio is sampled at
 * 16000: RFC 3551 §4.5.2 kept the erroneous original value for compatibility, so one 20 ms frame is 320
 * samples, 160 payload bytes and 160 timestamp ticks.
 * Loss concealment: spandsp has no G.722 PLC (its PLC is tuned for 8 kHz pitch periods), so lost frames are
 * silence while the decoder's ADPCM state carries on; has_plc = false and the E-model uses bpl_no_plc. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <inttypes.h>
#include <spandsp/telephony.h>
#include <spandsp/g722.h>

#include "codecs/codecs.h"

struct g722_enc {
	struct codec_enc base;
	g722_encode_state_t *g;
};

struct g722_dec {
	struct codec_dec base;
	g722_decode_state_t *g;
};

static struct codec_enc *g722_enc_new(const struct codec_ops *ops, const struct codec_params *p)
{
	struct g722_enc *e = calloc(1, sizeof(*e));

	(void)p;
	if (!e)
		return NULL;
	e->base.ops = ops;
	e->g = g722_encode_init(NULL, 64000, 0);
	if (!e->g) {
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	return &e->base;
}

static int g722_encode_frame(struct codec_enc *base, const int16_t *pcm, size_t n, uint8_t *out, size_t outlen)
{
	struct g722_enc *e = (struct g722_enc *)base;

	/* two 16 kHz samples per byte at 64 kbit/s */
	if (n / 2 > outlen || n > CODEC_MAX_FRAME_SAMPLES || n % 2)
		return n % 2 ? -EINVAL : -ENOSPC;
	return g722_encode(e->g, out, pcm, (int)n);
}

static void g722_enc_free(struct codec_enc *base)
{
	struct g722_enc *e = (struct g722_enc *)base;

	g722_encode_free(e->g);
	free(e);
}

static struct codec_dec *g722_dec_new(const struct codec_ops *ops, const struct codec_params *p)
{
	struct g722_dec *d = calloc(1, sizeof(*d));

	(void)p;
	if (!d)
		return NULL;
	d->base.ops = ops;
	d->g = g722_decode_init(NULL, 64000, 0);
	if (!d->g) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	return &d->base;
}

static int g722_decode_frame(struct codec_dec *base, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	struct g722_dec *d = (struct g722_dec *)base;

	if (len * 2 > max || len * 2 > CODEC_MAX_FRAME_SAMPLES)
		return -ENOSPC;
	return g722_decode(d->g, pcm, in, (int)len);
}

static int g722_conceal(struct codec_dec *base, int16_t *pcm, size_t n)
{
	(void)base;
	memset(pcm, 0, n * sizeof(*pcm));
	return (int)n;
}

static void g722_dec_free(struct codec_dec *base)
{
	struct g722_dec *d = (struct g722_dec *)base;

	g722_decode_free(d->g);
	free(d);
}

/* E-model values on the narrowband G.107 scale: see docs/codecs.md ("G.722 and Opus in the E-model"). */
const struct codec_ops codec_g722 = {
	.name = "G722",
	.payload_type = 9,
	.dynamic_pt = false,
	.clock_rate = 8000,
	.sample_rate = 16000,
	.channels = 0,
	.ptime_default = 20,
	.ptimes = { 10, 20, 30, 40, 50, 60 },
	.has_plc = false,
	.ie = 0.0,
	.bpl = 25.1,
	.bpl_no_plc = 4.3,
	.enc_new = g722_enc_new,
	.encode = g722_encode_frame,
	.enc_free = g722_enc_free,
	.dec_new = g722_dec_new,
	.decode = g722_decode_frame,
	.conceal = g722_conceal,
	.dec_free = g722_dec_free,
};
