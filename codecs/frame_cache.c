/* The frame cache: media encoded once at plan time into one read-only mapping the dataplane sends from, and a
 * set that shares caches per (media, codec, params, ptime) under one memory cap. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codecs/codecs.h"

#define VAD_THRESHOLD_DBOV (-50.0) /* a frame quieter than this is silence for G.711/G.722 VAD */
#define VAD_HANGOVER_MS 200        /* keep sending this long after speech, so word endings are not clipped */

static double frame_dbov(const int16_t *pcm, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (double)pcm[i] * pcm[i];
	return sum > 0 ? 10.0 * log10(sum / (double)n / (32768.0 * 32768.0)) : CODEC_LEVEL_FLOOR_DBOV;
}

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

/* Encodes every whole frame into growable temporary arrays; the final mapping is sized exactly afterwards. */
struct build {
	struct codec_frame *frames;
	uint8_t *data;
	size_t data_len, data_cap;
};

static int build_encode(struct build *b, const struct codec_ops *ops, const struct codec_params *p,
			const struct codec_media *m, unsigned ptime_ms, size_t nframes, size_t mem_cap,
			char *err, size_t errlen)
{
	size_t fs = codec_frame_samples(ops, ptime_ms), hang = 0, hang_frames = VAD_HANGOVER_MS / ptime_ms;
	size_t fixed = sizeof(struct codec_frame_cache) + nframes * sizeof(struct codec_frame);
	bool opus_dtx = ops == &codec_opus && p->dtx, vad = ops != &codec_opus && p->dtx;
	struct codec_enc *enc = codec_enc_new(ops, p);
	uint8_t pkt[CODEC_MAX_PAYLOAD];
	int rc = 0;

	if (!enc) {
		snprintf(err, errlen, "%s: cannot create the encoder", ops->name);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nframes; i++) {
		const int16_t *pcm = m->pcm + i * fs;
		int n = codec_encode(enc, pcm, fs, pkt, sizeof(pkt));
		uint16_t flags = 0;

		if (n < 0) {
			snprintf(err, errlen, "%s: encoding frame %zu failed (%d)", ops->name, i, n);
			rc = n;
			goto out;
		}
		/* RFC 7587 §3.1.3 / libopus: a DTX encoder emits packets of 2 bytes or less for silence, which need
		 * not be sent.  G.711/G.722 have no DTX of their own: an energy VAD with hangover decides. */
		if (opus_dtx && n <= 2)
			flags |= CODEC_FRAME_DTX;
		if (vad) {
			if (frame_dbov(pcm, fs) >= VAD_THRESHOLD_DBOV)
				hang = hang_frames + 1;
			if (hang == 0)
				flags |= CODEC_FRAME_DTX;
			else
				hang--;
		}
		if (fixed + b->data_len + (size_t)n > mem_cap) {
			snprintf(err, errlen,
				 "frame cache %s/%s/%ums: needs more than the %zu-byte cap after %zu of %zu frames "
				 "(shorter media or a larger cap)",
				 m->name, ops->name, ptime_ms, mem_cap, i, nframes);
			rc = -E2BIG;
			goto out;
		}
		if (b->data_len + (size_t)n > b->data_cap) {
			size_t cap = b->data_cap ? b->data_cap * 2 : 65536;
			uint8_t *d;

			while (cap < b->data_len + (size_t)n)
				cap *= 2;
			d = realloc(b->data, cap);
			if (!d) {
				snprintf(err, errlen, "frame cache: out of memory");
				rc = -ENOMEM;
				goto out;
			}
			b->data = d;
			b->data_cap = cap;
		}
		memcpy(b->data + b->data_len, pkt, (size_t)n);
		b->frames[i] = (struct codec_frame){
			.offset = (uint32_t)b->data_len,
			.len = (uint16_t)n,
			.flags = flags,
			.ts_inc = codec_frame_ticks(ops, ptime_ms),
		};
		b->data_len += (size_t)n;
	}
out:
	codec_enc_free(enc);
	return rc;
}

struct codec_frame_cache *codec_frame_cache_build(const struct codec_ops *ops, const struct codec_params *p,
						  const struct codec_media *media, unsigned ptime_ms,
						  size_t mem_cap, char *err, size_t errlen)
{
	static const struct codec_params none;
	struct codec_media *rs = NULL;
	const struct codec_media *m = media;
	struct codec_frame_cache *c = NULL;
	struct build b = { 0 };
	size_t nframes, fixed, total;
	void *map;

	if (!p)
		p = &none;
	if (!mem_cap)
		mem_cap = CODEC_CACHE_MEM_DEFAULT;
	if (!ops->enc_new) {
		snprintf(err, errlen, "%s has no audio encoder", ops->name);
		return NULL;
	}
	if (!codec_ptime_allowed(ops, ptime_ms)) {
		snprintf(err, errlen, "%s: ptime %u ms not allowed", ops->name, ptime_ms);
		return NULL;
	}
	if (codec_params_validate(ops, p, err, errlen) < 0)
		return NULL;
	if (m->rate != ops->sample_rate) {
		rs = codec_media_resample(media, ops->sample_rate, err, errlen);
		if (!rs)
			return NULL;
		m = rs;
	}
	nframes = m->nsamples / codec_frame_samples(ops, ptime_ms);
	if (nframes == 0) {
		snprintf(err, errlen, "%s: media shorter than one %u ms frame", m->name, ptime_ms);
		goto out;
	}
	fixed = sizeof(*c) + nframes * sizeof(struct codec_frame);
	if (fixed > mem_cap || nframes > UINT32_MAX) {
		snprintf(err, errlen, "frame cache %s/%s/%ums: %zu frames need %zu bytes of index alone, cap %zu",
			 m->name, ops->name, ptime_ms, nframes, fixed, mem_cap);
		goto out;
	}
	b.frames = calloc(nframes, sizeof(*b.frames));
	if (!b.frames) {
		snprintf(err, errlen, "frame cache: out of memory");
		goto out;
	}
	if (build_encode(&b, ops, p, m, ptime_ms, nframes, mem_cap, err, errlen) < 0)
		goto out;
	if (b.data_len > UINT32_MAX) {
		snprintf(err, errlen, "frame cache %s/%s: %zu payload bytes exceed 32-bit offsets", m->name, ops->name,
			 b.data_len);
		goto out;
	}
	total = page_round(fixed + b.data_len);
	if (total > mem_cap) {
		snprintf(err, errlen, "frame cache %s/%s/%ums: needs %zu bytes, the cap is %zu", m->name, ops->name,
			 ptime_ms, total, mem_cap);
		goto out;
	}
	map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "frame cache: mmap %zu bytes: %s", total, strerror(errno));
		goto out;
	}
	c = map;
	{
		struct codec_frame *frames = (struct codec_frame *)(c + 1);
		uint8_t *data = (uint8_t *)(frames + nframes);
		uint32_t ndtx = 0, nmarker = 0;
		uint16_t maxlen = 0;

		memcpy(frames, b.frames, nframes * sizeof(*frames));
		memcpy(data, b.data, b.data_len);
		/* Marker (RFC 3551 §4.1): the first packet sent after a silence period.  Frame 0 follows the last
		 * frame when the cache loops, so it is judged against that one. */
		for (size_t i = 0; i < nframes; i++) {
			const struct codec_frame *prev = &frames[i ? i - 1 : nframes - 1];

			if (frames[i].flags & CODEC_FRAME_DTX) {
				ndtx++;
				continue;
			}
			if (frames[i].len > maxlen)
				maxlen = frames[i].len;
			if ((prev->flags & CODEC_FRAME_DTX) && nframes > 1) {
				frames[i].flags |= CODEC_FRAME_MARKER;
				nmarker++;
			}
		}
		*c = (struct codec_frame_cache){
			.codec_name = ops->name,
			.payload_type = ops->payload_type,
			.clock_rate = ops->clock_rate,
			.ptime_ms = (uint16_t)ptime_ms,
			.nframes = (uint32_t)nframes,
			.frames = frames,
			.data = data,
			.data_len = b.data_len,
			.mem_bytes = total,
			.ndtx = ndtx,
			.nmarker = nmarker,
			.max_frame_len = maxlen,
		};
	}
	if (mprotect(map, total, PROT_READ) != 0) {
		snprintf(err, errlen, "frame cache: mprotect: %s", strerror(errno));
		munmap(map, total);
		c = NULL;
	}
out:
	free(b.frames);
	free(b.data);
	codec_media_free(rs);
	return c;
}

void codec_frame_cache_free(struct codec_frame_cache *c)
{
	if (c)
		munmap(c, c->mem_bytes);
}

/* ---- a plan's set of caches ------------------------------------------------------------------------------ */

struct cache_entry {
	const struct codec_ops *ops;
	struct codec_params params;
	const struct codec_media *media;
	unsigned ptime_ms;
	struct codec_frame_cache *cache;
};

struct codec_cache_set {
	size_t mem_cap, mem_used, n, cap;
	struct cache_entry *entries;
};

struct codec_cache_set *codec_cache_set_new(size_t mem_cap)
{
	struct codec_cache_set *s = calloc(1, sizeof(*s));

	if (s)
		s->mem_cap = mem_cap ? mem_cap : CODEC_CACHE_MEM_DEFAULT;
	return s;
}

static bool params_equal(const struct codec_params *a, const struct codec_params *b)
{
	return a->bitrate == b->bitrate && a->complexity == b->complexity &&
	       a->complexity_set == b->complexity_set && a->fec == b->fec && a->dtx == b->dtx &&
	       a->expected_loss_pct == b->expected_loss_pct && a->cbr == b->cbr &&
	       a->max_playback_rate == b->max_playback_rate;
}

const struct codec_frame_cache *codec_cache_set_get(struct codec_cache_set *s, const struct codec_ops *ops,
						    const struct codec_params *p, const struct codec_media *media,
						    unsigned ptime_ms, char *err, size_t errlen)
{
	static const struct codec_params none;
	struct codec_frame_cache *c;

	if (!p)
		p = &none;
	for (size_t i = 0; i < s->n; i++) {
		struct cache_entry *e = &s->entries[i];

		if (e->ops == ops && e->media == media && e->ptime_ms == ptime_ms && params_equal(&e->params, p))
			return e->cache;
	}
	if (s->mem_used >= s->mem_cap) {
		snprintf(err, errlen, "frame caches: the %zu-byte cap is used up by %zu caches", s->mem_cap, s->n);
		return NULL;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct cache_entry *e = realloc(s->entries, cap * sizeof(*e));

		if (!e) {
			snprintf(err, errlen, "frame caches: out of memory");
			return NULL;
		}
		s->entries = e;
		s->cap = cap;
	}
	c = codec_frame_cache_build(ops, p, media, ptime_ms, s->mem_cap - s->mem_used, err, errlen);
	if (!c)
		return NULL;
	s->entries[s->n++] = (struct cache_entry){
		.ops = ops, .params = *p, .media = media, .ptime_ms = ptime_ms, .cache = c,
	};
	s->mem_used += c->mem_bytes;
	return c;
}

size_t codec_cache_set_mem(const struct codec_cache_set *s)
{
	return s->mem_used;
}

size_t codec_cache_set_count(const struct codec_cache_set *s)
{
	return s->n;
}

const struct codec_frame_cache *codec_cache_set_at(const struct codec_cache_set *s, size_t i)
{
	return i < s->n ? s->entries[i].cache : NULL;
}

void codec_cache_set_free(struct codec_cache_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		codec_frame_cache_free(s->entries[i].cache);
	free(s->entries);
	free(s);
}
