/* Codec registry: the ops tables in one list, lookups, SDP text, and the generic encoder/decoder wrappers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codecs/codecs.h"

static const struct codec_ops *const registry[] = {
	&codec_pcmu, &codec_pcma, &codec_g722, &codec_opus, &codec_telephone_event,
};

size_t codec_count(void)
{
	return sizeof(registry) / sizeof(registry[0]);
}

const struct codec_ops *codec_at(size_t i)
{
	return i < codec_count() ? registry[i] : NULL;
}

const struct codec_ops *codec_by_name(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < codec_count(); i++)
		if (strcasecmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const struct codec_ops *codec_by_pt(uint8_t pt)
{
	for (size_t i = 0; i < codec_count(); i++)
		if (!registry[i]->dynamic_pt && registry[i]->payload_type == pt)
			return registry[i];
	return NULL;
}

bool codec_ptime_allowed(const struct codec_ops *ops, unsigned ptime_ms)
{
	for (size_t i = 0; i < CODEC_PTIMES_MAX && ops->ptimes[i]; i++)
		if (ops->ptimes[i] == ptime_ms)
			return true;
	return false;
}

size_t codec_frame_samples(const struct codec_ops *ops, unsigned ptime_ms)
{
	return (size_t)ops->sample_rate / 1000 * ptime_ms;
}

uint32_t codec_frame_ticks(const struct codec_ops *ops, unsigned ptime_ms)
{
	return ops->clock_rate / 1000 * ptime_ms;
}

static int fit(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int codec_sdp_rtpmap(const struct codec_ops *ops, uint8_t pt, char *buf, size_t len)
{
	if (ops->channels)
		return fit(snprintf(buf, len, "%u %s/%u/%u", pt, ops->name, ops->clock_rate, ops->channels), len);
	return fit(snprintf(buf, len, "%u %s/%u", pt, ops->name, ops->clock_rate), len);
}

int codec_sdp_fmtp(const struct codec_ops *ops, uint8_t pt, const struct codec_params *p, char *buf, size_t len)
{
	static const struct codec_params none;
	int head, n;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (!ops->fmtp)
		return 0;
	head = fit(snprintf(buf, len, "%u ", pt), len);
	if (head < 0)
		return head;
	n = ops->fmtp(p ? p : &none, buf + head, len - (size_t)head);
	if (n <= 0) {
		buf[0] = '\0';
		return n;
	}
	return head + n;
}

int codec_fmtp_apply(const struct codec_ops *ops, const char *fmtp, struct codec_params *p)
{
	if (!fmtp || !ops->fmtp_parse)
		return 0;
	return ops->fmtp_parse(fmtp, p);
}

int codec_params_validate(const struct codec_ops *ops, const struct codec_params *p, char *err, size_t errlen)
{
	if (p->bitrate && (p->bitrate < 6000 || p->bitrate > 510000)) {
		snprintf(err, errlen, "%s: bitrate %u outside 6000..510000", ops->name, p->bitrate);
		return -EINVAL;
	}
	if (p->complexity_set && (p->complexity < 0 || p->complexity > 10)) {
		snprintf(err, errlen, "%s: complexity %d outside 0..10", ops->name, p->complexity);
		return -EINVAL;
	}
	if (p->expected_loss_pct > 100) {
		snprintf(err, errlen, "%s: expected loss %u%% outside 0..100", ops->name, p->expected_loss_pct);
		return -EINVAL;
	}
	if (p->max_playback_rate && (p->max_playback_rate < 8000 || p->max_playback_rate > 48000)) {
		snprintf(err, errlen, "%s: maxplaybackrate %u outside 8000..48000", ops->name, p->max_playback_rate);
		return -EINVAL;
	}
	return 0;
}

struct codec_enc *codec_enc_new(const struct codec_ops *ops, const struct codec_params *p)
{
	static const struct codec_params none;

	if (!ops || !ops->enc_new) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return ops->enc_new(ops, p ? p : &none);
}

int codec_encode(struct codec_enc *e, const int16_t *pcm, size_t nsamples, uint8_t *out, size_t outlen)
{
	return e->ops->encode(e, pcm, nsamples, out, outlen);
}

void codec_enc_free(struct codec_enc *e)
{
	if (e)
		e->ops->enc_free(e);
}

struct codec_dec *codec_dec_new(const struct codec_ops *ops, const struct codec_params *p)
{
	static const struct codec_params none;

	if (!ops || !ops->dec_new) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return ops->dec_new(ops, p ? p : &none);
}

int codec_decode(struct codec_dec *d, const uint8_t *in, size_t len, int16_t *pcm, size_t maxsamples)
{
	return d->ops->decode(d, in, len, pcm, maxsamples);
}

int codec_conceal(struct codec_dec *d, int16_t *pcm, size_t nsamples)
{
	return d->ops->conceal(d, pcm, nsamples);
}

void codec_dec_free(struct codec_dec *d)
{
	if (d)
		d->ops->dec_free(d);
}
