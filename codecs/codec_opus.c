/* Opus (RFC 6716) through libopus, RTP payload per RFC 7587: dynamic PT, clock 48000, rtpmap "opus/48000/2"
 * whatever the channel count (§7); we send mono.  fmtp parameters (§6.1): maxplaybackrate, maxaveragebitrate,
 * useinbandfec, usedtx, cbr, minptime. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opus.h>

#include "codecs/codecs.h"

#define OPUS_RATE 48000
#define OPUS_DEFAULT_BITRATE 32000
#define OPUS_DEFAULT_COMPLEXITY 9

struct opus_enc {
	struct codec_enc base;
	OpusEncoder *oe;
};

struct opus_dec {
	struct codec_dec base;
	OpusDecoder *od;
};

static int max_bandwidth(uint32_t max_playback_rate)
{
	if (!max_playback_rate || max_playback_rate > 16000)
		return max_playback_rate && max_playback_rate <= 24000 ? OPUS_BANDWIDTH_SUPERWIDEBAND
									: OPUS_BANDWIDTH_FULLBAND;
	if (max_playback_rate > 12000)
		return OPUS_BANDWIDTH_WIDEBAND;
	if (max_playback_rate > 8000)
		return OPUS_BANDWIDTH_MEDIUMBAND;
	return OPUS_BANDWIDTH_NARROWBAND;
}

static struct codec_enc *opus_enc_new(const struct codec_ops *ops, const struct codec_params *p)
{
	struct opus_enc *e = calloc(1, sizeof(*e));
	int err = 0;

	if (!e)
		return NULL;
	e->base.ops = ops;
	e->oe = opus_encoder_create(OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &err);
	if (!e->oe || err != OPUS_OK)
		goto fail_free_enc;
	if (opus_encoder_ctl(e->oe, OPUS_SET_BITRATE(p->bitrate ? (opus_int32)p->bitrate : OPUS_DEFAULT_BITRATE)) ||
	    opus_encoder_ctl(e->oe, OPUS_SET_COMPLEXITY(p->complexity_set ? p->complexity : OPUS_DEFAULT_COMPLEXITY)) ||
	    opus_encoder_ctl(e->oe, OPUS_SET_INBAND_FEC(p->fec ? 1 : 0)) ||
	    opus_encoder_ctl(e->oe, OPUS_SET_PACKET_LOSS_PERC(p->expected_loss_pct)) ||
	    opus_encoder_ctl(e->oe, OPUS_SET_DTX(p->dtx ? 1 : 0)) ||
	    opus_encoder_ctl(e->oe, OPUS_SET_VBR(p->cbr ? 0 : 1)) ||
	    opus_encoder_ctl(e->oe, OPUS_SET_MAX_BANDWIDTH(max_bandwidth(p->max_playback_rate))) ||
	    opus_encoder_ctl(e->oe, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)))
		goto fail_destroy;
	return &e->base;

fail_destroy:
	opus_encoder_destroy(e->oe);
fail_free_enc:
	free(e);
	errno = EINVAL;
	return NULL;
}

static int opus_encode_frame(struct codec_enc *base, const int16_t *pcm, size_t n, uint8_t *out, size_t outlen)
{
	struct opus_enc *e = (struct opus_enc *)base;
	int rc;

	if (n > CODEC_MAX_FRAME_SAMPLES)
		return -EINVAL;
	rc = opus_encode(e->oe, pcm, (int)n, out, (opus_int32)(outlen > CODEC_MAX_PAYLOAD ? CODEC_MAX_PAYLOAD : outlen));
	if (rc < 0)
		return rc == OPUS_BUFFER_TOO_SMALL ? -ENOSPC : -EINVAL;
	return rc;
}

static void opus_enc_free(struct codec_enc *base)
{
	struct opus_enc *e = (struct opus_enc *)base;

	opus_encoder_destroy(e->oe);
	free(e);
}

static struct codec_dec *opus_dec_new(const struct codec_ops *ops, const struct codec_params *p)
{
	struct opus_dec *d = calloc(1, sizeof(*d));
	int err = 0;

	(void)p;
	if (!d)
		return NULL;
	d->base.ops = ops;
	d->od = opus_decoder_create(OPUS_RATE, 1, &err);
	if (!d->od || err != OPUS_OK) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	return &d->base;
}

static int opus_decode_frame(struct codec_dec *base, const uint8_t *in, size_t len, int16_t *pcm, size_t max)
{
	struct opus_dec *d = (struct opus_dec *)base;
	int rc;

	if (len == 0 || len > CODEC_MAX_PAYLOAD)
		return -EINVAL;
	if (max > CODEC_MAX_FRAME_SAMPLES)
		max = CODEC_MAX_FRAME_SAMPLES;
	rc = opus_decode(d->od, in, (opus_int32)len, pcm, (int)max, 0);
	if (rc < 0)
		return rc == OPUS_BUFFER_TOO_SMALL ? -ENOSPC : -EINVAL;
	return rc;
}

/* RFC 6716 §4.4: decoding a NULL packet runs the decoder's own concealment for the requested duration, which
 * must be a multiple of 2.5 ms. */
static int opus_conceal(struct codec_dec *base, int16_t *pcm, size_t n)
{
	struct opus_dec *d = (struct opus_dec *)base;
	int rc;

	if (n > CODEC_MAX_FRAME_SAMPLES || n % (OPUS_RATE / 400))
		return -EINVAL;
	rc = opus_decode(d->od, NULL, 0, pcm, (int)n, 0);
	return rc < 0 ? -EINVAL : rc;
}

/* RFC 6716 §2.1.7 / libopus: with decode_fec = 1 the decoder extracts the previous frame from the LBRR data of
 * this packet; the duration asked for must be the lost frame's. */
static int opus_decode_fec(struct codec_dec *base, const uint8_t *in, size_t len, int16_t *pcm, size_t n)
{
	struct opus_dec *d = (struct opus_dec *)base;
	int rc;

	if (len == 0 || len > CODEC_MAX_PAYLOAD || n > CODEC_MAX_FRAME_SAMPLES || n % (OPUS_RATE / 400))
		return -EINVAL;
	rc = opus_decode(d->od, in, (opus_int32)len, pcm, (int)n, 1);
	return rc < 0 ? -EINVAL : rc;
}

static void opus_dec_free(struct codec_dec *base)
{
	struct opus_dec *d = (struct opus_dec *)base;

	opus_decoder_destroy(d->od);
	free(d);
}

static int opus_fmtp(const struct codec_params *p, char *buf, size_t len)
{
	size_t off = 0;
	int n;

#define ADD(...)                                                                                               \
	do {                                                                                                   \
		n = snprintf(buf + off, len - off, __VA_ARGS__);                                              \
		if (n < 0 || (size_t)n >= len - off)                                                           \
			return -ENOSPC;                                                                        \
		off += (size_t)n;                                                                              \
	} while (0)
	ADD("minptime=10;useinbandfec=%d", p->fec ? 1 : 0);
	if (p->dtx)
		ADD(";usedtx=1");
	if (p->cbr)
		ADD(";cbr=1");
	if (p->bitrate)
		ADD(";maxaveragebitrate=%u", p->bitrate);
	if (p->max_playback_rate)
		ADD(";maxplaybackrate=%u", p->max_playback_rate);
#undef ADD
	return (int)off;
}

static int parse_u32(const char *v, size_t vlen, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t x = 0;

	if (vlen == 0 || vlen > 10)
		return -EINVAL;
	for (size_t i = 0; i < vlen; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x < min || x > max)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

/* RFC 7587 §6.1: parameters separated by ';', each "name=value"; names case-insensitive; unknown ones ignored.
 * The peer's maxaveragebitrate caps what we send; its useinbandfec/usedtx say what it wants to receive. */
static int opus_fmtp_parse(const char *fmtp, struct codec_params *p)
{
	const char *s = fmtp;

	while (s && *s) {
		const char *end = strchr(s, ';'), *eq;
		size_t klen, vlen;
		uint32_t v;

		if (!end)
			end = s + strlen(s);
		while (s < end && isspace((unsigned char)*s))
			s++;
		eq = memchr(s, '=', (size_t)(end - s));
		if (eq) {
			const char *val = eq + 1;

			klen = (size_t)(eq - s);
			while (klen && isspace((unsigned char)s[klen - 1]))
				klen--;
			while (val < end && isspace((unsigned char)*val))
				val++;
			vlen = (size_t)(end - val);
			while (vlen && isspace((unsigned char)val[vlen - 1]))
				vlen--;
#define KEY(k) (klen == sizeof(k) - 1 && strncasecmp(s, k, klen) == 0)
			if (KEY("useinbandfec") || KEY("usedtx") || KEY("cbr")) {
				if (parse_u32(val, vlen, 0, 1, &v))
					return -EINVAL;
				if (KEY("useinbandfec"))
					p->fec = v;
				else if (KEY("usedtx"))
					p->dtx = v;
				else
					p->cbr = v;
			} else if (KEY("maxaveragebitrate")) {
				if (parse_u32(val, vlen, 6000, 510000, &v))
					return -EINVAL;
				if (!p->bitrate || v < p->bitrate)
					p->bitrate = v;
			} else if (KEY("maxplaybackrate")) {
				if (parse_u32(val, vlen, 8000, 48000, &v))
					return -EINVAL;
				p->max_playback_rate = v;
			}
#undef KEY
		}
		s = *end ? end + 1 : end;
	}
	return 0;
}

/* E-model values on the narrowband G.107 scale: see docs/codecs.md ("G.722 and Opus in the E-model"). */
const struct codec_ops codec_opus = {
	.name = "opus",
	.payload_type = 111,
	.dynamic_pt = true,
	.clock_rate = OPUS_RATE,
	.sample_rate = OPUS_RATE,
	.channels = 2,
	.ptime_default = 20,
	.ptimes = { 10, 20, 40, 60, 80, 100, 120 },
	.has_plc = true,
	.ie = 0.0,
	.bpl = 25.1,
	.bpl_no_plc = 4.3,
	.fmtp = opus_fmtp,
	.fmtp_parse = opus_fmtp_parse,
	.enc_new = opus_enc_new,
	.encode = opus_encode_frame,
	.enc_free = opus_enc_free,
	.dec_new = opus_dec_new,
	.decode = opus_decode_frame,
	.conceal = opus_conceal,
	.decode_fec = opus_decode_fec,
	.dec_free = opus_dec_free,
};
