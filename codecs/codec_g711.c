/* G.711 µ-law (PCMU) and A-law (PCMA), RFC 3551 §4.5.14, through spandsp's G.711 and its PLC (the G.711
 * Appendix I style waveform substitution), so no hand-written companding tables here. */
#include <errno.h>
#include <stdlib.h>

#include <inttypes.h>
#include <spandsp/telephony.h>
#include <spandsp/g711.h>
#include <spandsp/plc.h>

#include "codecs/codecs.h"

struct g711_enc {
	struct codec_enc base;
	g711_state_t *g;
};

struct g711_dec {
	struct codec_dec base;
	g711_state_t *g;
	plc_state_t *plc;
};

static int g711_mode(const struct codec_ops *ops)
{
	return ops == &codec_pcmu ? G711_ULAW : G711_ALAW;
}

static struct codec_enc *g711_enc_new(const struct codec_ops *ops, const struct codec_params *p)
{
	struct g711_enc *e = calloc(1, sizeof(*e));

	(void)p;
	if (!e)
		return NULL;
	e->base.ops = ops;
	e->g = g711_init(NULL, g711_mode(ops));
	if (!e->g) {
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	return &e->base;
}

static int g711_encode_frame(struct codec_enc *base, const int16_t *pcm, size_t n, uint8_t *out, size_t outlen)
{
	struct g711_enc *e = (struct g711_enc *)base;

	if (n > outlen || n > CODEC_MAX_FRAME_SAMPLES)
		return -ENOSPC;
	return g711_encode(e->g, out, pcm, (int)n);
}

static void g711_enc_free(struct codec_enc *base)
{
	struct g711_enc *e = (struct g711_enc *)base;

	g711_free(e->g);
	free(e);
}

static struct codec_dec *g711_dec_new(const struct codec_ops *ops, const struct codec_params *p)
{
	struct g711_dec *d = calloc(1, sizeof(*d));

	(void)p;
	if (!d)
		return NULL;
	d->base.ops = ops;
	d->g = g711_init(NULL, g711_mode(ops));
	if (!d->g)
		goto fail_free_dec;
	d->plc = plc_init(NULL);
	if (!d->plc)
		goto fail_free_g711;
	return &d->base;

fail_free_g711:
	g711_free(d->g);
fail_free_dec:
	free(d);
	errno = ENOMEM;
	return NULL;
}

static int g711_decode_frame(struct codec_dec *base, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	struct g711_dec *d = (struct g711_dec *)base;
	int n;

	if (len > max || len > CODEC_MAX_FRAME_SAMPLES)
		return -ENOSPC;
	n = g711_decode(d->g, pcm, in, (int)len);
	/* The PLC keeps a history of good audio to extrapolate from, and smooths the join after a loss. */
	plc_rx(d->plc, pcm, n);
	return n;
}

static int g711_conceal(struct codec_dec *base, int16_t *pcm, size_t n)
{
	struct g711_dec *d = (struct g711_dec *)base;

	if (n > CODEC_MAX_FRAME_SAMPLES)
		return -ENOSPC;
	return plc_fillin(d->plc, pcm, (int)n);
}

static void g711_dec_free(struct codec_dec *base)
{
	struct g711_dec *d = (struct g711_dec *)base;

	plc_free(d->plc);
	g711_free(d->g);
	free(d);
}

/* Ie = 0 and Bpl = 4.3 (no PLC) / 25.1 (PLC per G.711 Appendix I): ITU-T G.113 Appendix I, Table I.3. */
#define G711_OPS(sym, nm, pt)                                                                                  \
	const struct codec_ops sym = {                                                                         \
		.name = nm,                                                                                    \
		.payload_type = pt,                                                                            \
		.dynamic_pt = false,                                                                           \
		.clock_rate = 8000,                                                                            \
		.sample_rate = 8000,                                                                           \
		.channels = 0,                                                                                 \
		.ptime_default = 20,                                                                           \
		.ptimes = { 10, 20, 30, 40, 50, 60 },                                                          \
		.has_plc = true,                                                                               \
		.ie = 0.0,                                                                                     \
		.bpl = 25.1,                                                                                   \
		.bpl_no_plc = 4.3,                                                                             \
		.enc_new = g711_enc_new,                                                                       \
		.encode = g711_encode_frame,                                                                   \
		.enc_free = g711_enc_free,                                                                     \
		.dec_new = g711_dec_new,                                                                       \
		.decode = g711_decode_frame,                                                                   \
		.conceal = g711_conceal,                                                                       \
		.dec_free = g711_dec_free,                                                                     \
	}

G711_OPS(codec_pcmu, "PCMU", 0);
G711_OPS(codec_pcma, "PCMA", 8);
