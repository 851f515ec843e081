/* Codec benchmark: encode throughput per codec (20 ms frames per second of CPU time on one core) and the frame
 * cache's memory per minute of media.  One BENCH line per measurement; the last line is PCMU's encode rate,
 * with its ratio to spandsp's bare µ-law conversion loop measured in the same run (the registry's overhead).
 * CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time, so other load on a shared machine matters less. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spandsp/telephony.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>

#include "codecs/codecs.h"

#define RUN_SECONDS 1.0
#define PTIME 20

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile uint32_t sink;

/* Encodes the media's frames round and round for RUN_SECONDS of CPU time; returns frames per second. */
static double encode_rate(const struct codec_ops *ops, const struct codec_media *m)
{
	struct codec_enc *e = codec_enc_new(ops, NULL);
	size_t fs = codec_frame_samples(ops, PTIME), nf = m->nsamples / fs, done = 0;
	uint8_t pkt[CODEC_MAX_PAYLOAD];
	double t0 = cpu_now(), t;

	if (!e) {
		fprintf(stderr, "bench: no encoder for %s\n", ops->name);
		exit(1);
	}
	do {
		for (int k = 0; k < 50; k++, done++) {
			int n = codec_encode(e, m->pcm + (done % nf) * fs, fs, pkt, sizeof(pkt));

			if (n < 0) {
				fprintf(stderr, "bench: %s encode failed (%d)\n", ops->name, n);
				exit(1);
			}
			sink += pkt[0];
		}
		t = cpu_now() - t0;
	} while (t < RUN_SECONDS);
	codec_enc_free(e);
	return (double)done / t;
}

/* The reference: spandsp's inline µ-law conversion over the same frames, no registry, no state object. */
static double bare_ulaw_rate(const struct codec_media *m)
{
	size_t nf = m->nsamples / 160, done = 0;
	uint8_t pkt[160];
	double t0 = cpu_now(), t;

	do {
		for (int k = 0; k < 50; k++, done++) {
			const int16_t *pcm = m->pcm + (done % nf) * 160;

			for (int i = 0; i < 160; i++)
				pkt[i] = linear_to_ulaw(pcm[i]);
			sink += pkt[0];
		}
		t = cpu_now() - t0;
	} while (t < RUN_SECONDS);
	return (double)done / t;
}

int main(void)
{
	static const struct codec_ops *const order[] = { &codec_g722, &codec_opus, &codec_pcma, &codec_pcmu };
	struct codec_media *media[3] = {
		codec_media_synthetic(8000, 60000, 1),
		codec_media_synthetic(16000, 60000, 1),
		codec_media_synthetic(48000, 60000, 1),
	};
	double rates[4], ref;
	char err[256];

	for (int i = 0; i < 3; i++)
		if (!media[i]) {
			fprintf(stderr, "bench: cannot make the synthetic source\n");
			return 1;
		}
	/* one minute of the default media per codec at 20 ms; Opus at its default 32 kbit/s VBR */
	for (size_t i = 0; i < 4; i++) {
		const struct codec_ops *ops = order[i];
		const struct codec_media *m = media[ops->sample_rate == 8000 ? 0 : ops->sample_rate == 16000 ? 1 : 2];
		double t0 = cpu_now();
		struct codec_frame_cache *c = codec_frame_cache_build(ops, NULL, m, PTIME, 0, err, sizeof(err));

		if (!c) {
			fprintf(stderr, "bench: %s\n", err);
			return 1;
		}
		printf("# %s cache: %u frames, %zu payload bytes, built in %.3f s CPU\n", ops->name, c->nframes,
		       c->data_len, cpu_now() - t0);
		printf("BENCH codec_cache_mem_%s %zu bytes/min\n", ops->name, c->mem_bytes);
		codec_frame_cache_free(c);
	}
	for (size_t i = 0; i < 4; i++) {
		const struct codec_ops *ops = order[i];

		rates[i] = encode_rate(ops, media[ops->sample_rate == 8000 ? 0 : ops->sample_rate == 16000 ? 1 : 2]);
		printf("# %s: %.0f frames/s = %.0f real-time streams per core\n", ops->name, rates[i],
		       rates[i] / (1000.0 / PTIME));
		if (ops != &codec_pcmu)
			printf("BENCH codec_encode_%s %.0f frames/s\n", ops->name, rates[i]);
	}
	ref = bare_ulaw_rate(media[0]);
	printf("BENCH codec_encode_PCMU %.0f frames/s ratio=%.2f ref=spandsp_linear_to_ulaw_loop\n", rates[3],
	       rates[3] / ref);
	for (int i = 0; i < 3; i++)
		codec_media_free(media[i]);
	return 0;
}
