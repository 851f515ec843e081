/* codecs/ — codec registry, media sources, the frame cache the dataplane sends from, and the quality model.
 *
 * This header starts with the one contract the dataplane relies on: the frame cache layout.  Everything else
 * (registry ops tables, WAV loading, E-model) is added by the codecs work. */
#ifndef CM_CODECS_H
#define CM_CODECS_H

#include <stddef.h>
#include <stdint.h>

/* ---- frame cache: media encoded once at plan time, read-only afterwards ---------------------------------
 * The dataplane TX path sends frame i % nframes of a flow's cache every ptime: it copies `len` bytes from
 * data + offset into the RTP payload, advances the RTP timestamp by ts_inc, and sets the marker bit on frames
 * flagged CODEC_FRAME_MARKER (first packet of a talkspurt).  Frames flagged CODEC_FRAME_DTX are not sent (the
 * timestamp still advances): that is how DTX/VAD silence suppression reaches the wire.  The cache loops. */
enum codec_frame_flags {
	CODEC_FRAME_MARKER = 1u << 0,
	CODEC_FRAME_DTX = 1u << 1,
};

struct codec_frame {
	uint32_t offset; /* into codec_frame_cache.data */
	uint16_t len;    /* payload bytes */
	uint16_t flags;  /* enum codec_frame_flags */
	uint32_t ts_inc; /* RTP timestamp increment to the next frame, in the codec's RTP clock */
};

struct codec_frame_cache {
	const char *codec_name;    /* "PCMU", "PCMA", "G722", "opus", ... */
	uint8_t payload_type;      /* static PT, or the default dynamic one (the flow may override) */
	uint32_t clock_rate;       /* RTP clock (G.722: 8000 per RFC 3551) */
	uint16_t ptime_ms;
	uint32_t nframes;
	const struct codec_frame *frames;
	const uint8_t *data;
	size_t data_len;
	size_t mem_bytes;          /* everything this cache holds, for the memory report */
};

#endif
