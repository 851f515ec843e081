/* codecs/ — codec registry, media sources, the frame cache the dataplane sends from, and the quality model.
 *
 * Error convention for this folder: constructors (…_new, …_load, …_build, codec_media_*) return NULL on failure
 * and, where they take (err, errlen), write a one-line reason there; every other function returns 0 (or a byte /
 * sample count where it says so) on success and a negative errno on failure.  Nothing here logs on a path that
 * can run per packet.  Nothing here is used on a dataplane lcore except the frame cache (read-only) and the
 * RFC 4733 helpers (no allocation). */
#ifndef CM_CODECS_H
#define CM_CODECS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- frame cache: media encoded once at plan time, read-only afterwards ---------------------------------
 * The dataplane TX path sends frame i % nframes of a flow's cache every ptime: it copies `len` bytes from
 * data + offset into the RTP payload, advances the RTP timestamp by ts_inc, and sets the marker bit on frames
 * flagged CODEC_FRAME_MARKER (first packet of a talkspurt).  Frames flagged CODEC_FRAME_DTX are not sent (the
 * timestamp still advances): that is how DTX/VAD silence suppression reaches the wire.  The cache loops.
 * Frame 0 carries CODEC_FRAME_MARKER only when the loop wraps from a DTX frame into it; the very first packet
 * of a flow should carry the marker anyway (RFC 3550 §5.1, RFC 3551 §4.1), which is the sender's job. */
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
	/* Added around the dataplane contract above: */
	uint32_t ndtx;             /* frames flagged CODEC_FRAME_DTX */
	uint32_t nmarker;          /* frames flagged CODEC_FRAME_MARKER */
	uint16_t max_frame_len;    /* largest payload, for sizing mbufs */
};

/* ---- protocol and resource limits, declared once ---------------------------------------------------------- */
#define CODEC_PTIMES_MAX 8           /* allowed ptimes listed per codec */
#define CODEC_PT_DYNAMIC_MIN 96      /* RFC 3551 §3: 96-127 dynamic */
#define CODEC_PT_DYNAMIC_MAX 127
#define CODEC_FRAME_MS_MAX 120       /* longest ptime any codec here allows (Opus: 120 ms) */
#define CODEC_MAX_PAYLOAD 1500       /* one encoded frame never exceeds this (Opus: 1275 per 20 ms) */
#define CODEC_MAX_SAMPLE_RATE 48000
#define CODEC_MAX_FRAME_SAMPLES (CODEC_MAX_SAMPLE_RATE / 1000 * CODEC_FRAME_MS_MAX)
#define CODEC_WAV_MAX_BYTES (256u << 20) /* a WAV file larger than this is refused */
#define CODEC_CACHE_MEM_DEFAULT (64u << 20) /* default cap per frame cache */

/* ---- registry -------------------------------------------------------------------------------------------- */

/* Options a plan or an SDP fmtp can set.  Zero-initialised means "codec default" for every field. */
struct codec_params {
	uint32_t bitrate;         /* Opus: target bit/s (6000..510000); 0 = 32000 */
	int complexity;           /* Opus: 0..10, used when complexity_set (otherwise 9) */
	bool complexity_set;
	bool fec;                 /* Opus: in-band FEC (useinbandfec=1) */
	bool dtx;                 /* Opus: DTX (usedtx=1); G.711/G.722: energy VAD marks silent frames DTX */
	uint8_t expected_loss_pct;/* Opus: packet-loss percentage the encoder plans FEC for (0..100) */
	bool cbr;                 /* Opus: constant bit rate (cbr=1) */
	uint32_t max_playback_rate; /* Opus: maxplaybackrate from the peer's fmtp (0 = 48000) */
};

struct codec_enc;
struct codec_dec;

/* One codec.  The ops table is static and read-only; per-use state lives in codec_enc / codec_dec objects made
 * by enc_new / dec_new.  Codecs without an audio encoder (telephone-event) leave the function pointers NULL. */
struct codec_ops {
	const char *name;            /* SDP encoding name, matched case-insensitively (RFC 4855 §3) */
	uint8_t payload_type;        /* static PT, or the default dynamic PT */
	bool dynamic_pt;
	uint32_t clock_rate;         /* RTP timestamp clock */
	uint32_t sample_rate;        /* PCM rate the encoder takes and the decoder returns */
	uint8_t channels;            /* rtpmap channel count (Opus: 2 per RFC 7587 §7); 0 = omitted */
	uint16_t ptime_default;
	uint16_t ptimes[CODEC_PTIMES_MAX]; /* allowed ptimes, ascending, 0-terminated */
	bool has_plc;                /* the decoder conceals losses (spandsp PLC, Opus PLC) */
	double ie;                   /* E-model equipment impairment (G.113; docs/codecs.md for the others) */
	double bpl;                  /* E-model packet-loss robustness with a PLC (G.113 Appendix I) */
	double bpl_no_plc;           /* ... and without one (lost frames replaced by silence) */
	/* fmtp text for SDP, without "a=fmtp:PT "; returns its length (0 = no fmtp line) or -ENOSPC. */
	int (*fmtp)(const struct codec_params *p, char *buf, size_t len);
	/* Applies a peer's fmtp parameters to p; unknown parameters are ignored (RFC 4566 §6); -EINVAL on a bad
	 * value of a known one. */
	int (*fmtp_parse)(const char *fmtp, struct codec_params *p);
	struct codec_enc *(*enc_new)(const struct codec_ops *ops, const struct codec_params *p);
	int (*encode)(struct codec_enc *e, const int16_t *pcm, size_t nsamples, uint8_t *out, size_t outlen);
	void (*enc_free)(struct codec_enc *e);
	struct codec_dec *(*dec_new)(const struct codec_ops *ops, const struct codec_params *p);
	int (*decode)(struct codec_dec *d, const uint8_t *in, size_t len, int16_t *pcm, size_t maxsamples);
	/* Conceals `nsamples` of lost audio; returns nsamples or -errno. */
	int (*conceal)(struct codec_dec *d, int16_t *pcm, size_t nsamples);
	/* Optional (Opus): rebuilds the `nsamples` lost just before packet `in` from the in-band FEC data it
	 * carries (concealment when it carries none); returns nsamples or -errno. */
	int (*decode_fec)(struct codec_dec *d, const uint8_t *in, size_t len, int16_t *pcm, size_t nsamples);
	void (*dec_free)(struct codec_dec *d);
};

/* Every codec object starts with this, so the generic wrappers below find their ops. */
struct codec_enc {
	const struct codec_ops *ops;
};
struct codec_dec {
	const struct codec_ops *ops;
};

extern const struct codec_ops codec_pcmu, codec_pcma, codec_g722, codec_opus, codec_telephone_event;

/* Registry walk and lookups.  Lookup by payload type only finds static PTs (dynamic ones are per SDP). */
size_t codec_count(void);
const struct codec_ops *codec_at(size_t i);
const struct codec_ops *codec_by_name(const char *name);
const struct codec_ops *codec_by_pt(uint8_t pt);
/* True when ptime_ms is in ops->ptimes. */
bool codec_ptime_allowed(const struct codec_ops *ops, unsigned ptime_ms);
/* Samples of PCM (at sample_rate) and RTP clock ticks in one frame of ptime_ms. */
size_t codec_frame_samples(const struct codec_ops *ops, unsigned ptime_ms);
uint32_t codec_frame_ticks(const struct codec_ops *ops, unsigned ptime_ms);
/* "a=rtpmap:" value, e.g. "0 PCMU/8000", "111 opus/48000/2"; returns its length or -ENOSPC. */
int codec_sdp_rtpmap(const struct codec_ops *ops, uint8_t pt, char *buf, size_t len);
/* "a=fmtp:" value including "PT ", or "" when the codec has none; returns its length or -ENOSPC. */
int codec_sdp_fmtp(const struct codec_ops *ops, uint8_t pt, const struct codec_params *p, char *buf, size_t len);
/* Applies a peer's fmtp value (without "PT ") through ops->fmtp_parse; 0 for codecs without parameters. */
int codec_fmtp_apply(const struct codec_ops *ops, const char *fmtp, struct codec_params *p);
int codec_params_validate(const struct codec_ops *ops, const struct codec_params *p, char *err, size_t errlen);

/* Generic wrappers over the ops (NULL / -EOPNOTSUPP for codecs without an audio path). */
struct codec_enc *codec_enc_new(const struct codec_ops *ops, const struct codec_params *p);
/* Encodes exactly one frame (nsamples = codec_frame_samples()); returns payload bytes or -errno. */
int codec_encode(struct codec_enc *e, const int16_t *pcm, size_t nsamples, uint8_t *out, size_t outlen);
void codec_enc_free(struct codec_enc *e);
struct codec_dec *codec_dec_new(const struct codec_ops *ops, const struct codec_params *p);
/* Decodes one payload; returns the samples written (at sample_rate) or -errno (-EINVAL: corrupt payload). */
int codec_decode(struct codec_dec *d, const uint8_t *in, size_t len, int16_t *pcm, size_t maxsamples);
int codec_conceal(struct codec_dec *d, int16_t *pcm, size_t nsamples);
void codec_dec_free(struct codec_dec *d);

/* ---- RFC 4733 telephone-event ------------------------------------------------------------------------------ */
#define CODEC_DTMF_PAYLOAD 4         /* one event per packet (RFC 4733 §2.3) */
#define CODEC_DTMF_EVENT_MAX 16      /* 0-9, *, #, A-D, flash (RFC 4733 §3.2) */
#define CODEC_DTMF_VOLUME_MAX 63     /* -dBm0, 6 bits */
#define CODEC_DTMF_DURATION_MAX 0xFFFFu /* 16-bit duration field; longer events are split (§2.5.1.3) */
#define CODEC_DTMF_END_REPEATS 3     /* the final packet is sent three times (§2.5.1.4) */

/* Sender state for one event.  No allocation; usable on a dataplane lcore. */
struct codec_dtmf_tx {
	uint8_t event, volume;
	uint32_t total;        /* event duration in RTP ticks */
	uint32_t step;         /* ticks per packet (ptime) */
	uint32_t seg_start;    /* ticks from the event start to the current segment's timestamp */
	uint32_t sent;         /* ticks covered so far (from the event start) */
	uint8_t ends_left;     /* end packets still to send */
	bool first;
};

/* One packet to send: the payload, whether to set the RTP marker, and the RTP timestamp to put on it as an
 * offset from the event's start timestamp (constant within a segment, RFC 4733 §2.5.1.2). */
struct codec_dtmf_pkt {
	uint8_t payload[CODEC_DTMF_PAYLOAD];
	bool marker;
	bool end;
	uint32_t ts_offset;
};

/* event: 0..16 or use codec_dtmf_event_from_char(); duration_ms > 0; ptime_ms the packet interval. */
int codec_dtmf_tx_start(struct codec_dtmf_tx *tx, uint8_t event, uint8_t volume, uint32_t duration_ms,
			unsigned ptime_ms, uint32_t clock_rate);
/* Produces the next packet: 1 when *pkt was filled, 0 when the event is over (all end packets sent). */
int codec_dtmf_tx_next(struct codec_dtmf_tx *tx, struct codec_dtmf_pkt *pkt);

struct codec_dtmf_event {
	uint8_t event;
	bool end;
	uint8_t volume;
	uint16_t duration;
};
/* Parses one telephone-event payload (RFC 4733 §2.3); 0 or -EINVAL (short, R bit set is tolerated). */
int codec_dtmf_parse(const uint8_t *p, size_t len, struct codec_dtmf_event *ev);
/* '0'..'9', '*', '#', 'A'..'D' (any case) → event code, or -EINVAL; and back ('!' for flash / unknown '?'). */
int codec_dtmf_event_from_char(char c);
char codec_dtmf_event_char(uint8_t event);

/* Receiver: reports each event once, when its first end packet arrives (or when a new event timestamp shows
 * the previous one ended with all its end packets lost).  Duplicates and retransmitted ends are ignored. */
struct codec_dtmf_rx {
	bool active;
	bool reported;
	uint32_t ts;           /* RTP timestamp of the current event (segment) */
	uint8_t event;
	uint32_t duration;     /* longest duration seen, ticks (accumulated over segments) */
	uint32_t seg_base;     /* duration of previous segments of the same event */
	uint64_t packets, bad, digits;
};
struct codec_dtmf_digit {
	uint8_t event;
	uint32_t duration;     /* ticks */
	uint32_t ts;           /* RTP timestamp the event started at */
	bool end_seen;         /* false: inferred from a following event, its end packets were lost */
};
/* Feeds one received packet (RTP timestamp + payload); writes completed digits to out (room for
 * CODEC_DTMF_RX_MAX_DIGITS: a packet can end the previous event, whose end packets were lost, and be the end
 * of its own) and returns how many, or -EINVAL for a malformed payload (counted in rx->bad). */
#define CODEC_DTMF_RX_MAX_DIGITS 2
int codec_dtmf_rx_packet(struct codec_dtmf_rx *rx, uint32_t rtp_ts, const uint8_t *p, size_t len,
			 struct codec_dtmf_digit out[CODEC_DTMF_RX_MAX_DIGITS]);

/* ---- media: PCM sources, WAV files, resampling ------------------------------------------------------------ */

/* Mono 16-bit PCM in memory. */
struct codec_media {
	char name[64];         /* "synthetic" or the file's base name, for reports and cache keys */
	uint32_t rate;
	size_t nsamples;
	int16_t *pcm;
};

#define CODEC_SYNTH_LEVEL_DBOV (-20.0) /* active-speech level of the default source */
/* The default source when a plan names no media: deterministic speech-like audio (voiced syllables with a
 * moving pitch and formants, unvoiced bursts, pauses between syllables and longer ones between phrases) whose
 * active-speech level is CODEC_SYNTH_LEVEL_DBOV.  Same seed, same samples.  rate: 8000, 16000 or 48000. */
struct codec_media *codec_media_synthetic(uint32_t rate, uint32_t duration_ms, uint32_t seed);
/* The plan's `media =` value (docs/plan.md): "speech", "synthetic" or empty (the default source, 48 kHz,
 * CODEC_SYNTH_DEFAULT_MS long), "silence" (digital silence, same length), "tone[:HZ[:DBOV]]" (default 1004 Hz,
 * CODEC_TONE_DEFAULT_DBOV), "dtmf:DIGITS" (in-band, 100 ms on/off, -10 dBm0), anything else a WAV file path.
 * Errors name the value or the file. */
#define CODEC_SYNTH_DEFAULT_MS 20000
#define CODEC_TONE_DEFAULT_DBOV (-20.0)
struct codec_media *codec_media_open(const char *spec, char *err, size_t errlen);

/* A sine at freq_hz and level_dbov (RMS; at most -3.02 dBov, a full-scale sine), e.g. the 1004 Hz test tone. */
struct codec_media *codec_media_tone(uint32_t rate, uint32_t duration_ms, double freq_hz, double level_dbov);

/* In-band DTMF (spandsp generator, 8 kHz): the digits, each on_ms of tone then off_ms of silence (Q.24: at
 * least 40 ms each), at level_dbm0 per tone (-30..0). */
#define CODEC_DTMF_INBAND_MAX_DIGITS 64
struct codec_media *codec_media_dtmf(const char *digits, uint32_t on_ms, uint32_t off_ms, int level_dbm0,
				     char *err, size_t errlen);
/* In-band DTMF detection on received 8 kHz audio (spandsp's Q.24 detector).  digits() returns the digits seen
 * since the last call, NUL-terminated in buf (at most len - 1). */
struct codec_dtmf_detect;
struct codec_dtmf_detect *codec_dtmf_detect_new(void);
int codec_dtmf_detect_feed(struct codec_dtmf_detect *d, const int16_t *pcm8k, size_t n);
size_t codec_dtmf_detect_digits(struct codec_dtmf_detect *d, char *buf, size_t len);
void codec_dtmf_detect_free(struct codec_dtmf_detect *d);

/* Loads a RIFF/WAVE file: PCM16 (format 1 or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format), 8/16/48 kHz,
 * mono or stereo (averaged to mono).  Anything else is refused with a reason naming the file. */
struct codec_media *codec_media_wav_load(const char *path, char *err, size_t errlen);
/* Same, from bytes in memory (name used in messages). */
struct codec_media *codec_media_wav_parse(const uint8_t *buf, size_t len, const char *name, char *err,
					  size_t errlen);
/* Resamples to `rate` (speexdsp resampler, quality 8); returns a new media (a copy when the rate matches). */
struct codec_media *codec_media_resample(const struct codec_media *m, uint32_t rate, char *err, size_t errlen);
void codec_media_free(struct codec_media *m);

/* ---- frame cache ---------------------------------------------------------------------------------------- */

/* Encodes `media` (resampled to the codec's rate when needed) into frames of ptime_ms.  The whole cache —
 * header, frame table, payload bytes — is one mapping made read-only (mprotect) before it is returned; a
 * trailing partial frame is dropped so the loop stays seamless.  mem_cap bounds mem_bytes (0 =
 * CODEC_CACHE_MEM_DEFAULT): past it the build fails with a message saying how much it would need. */
struct codec_frame_cache *codec_frame_cache_build(const struct codec_ops *ops, const struct codec_params *p,
						  const struct codec_media *media, unsigned ptime_ms,
						  size_t mem_cap, char *err, size_t errlen);
void codec_frame_cache_free(struct codec_frame_cache *c);

/* A plan's caches: one per (media, codec, params, ptime), built on first request and shared afterwards,
 * with one memory cap over all of them.  Media are matched by object, so each media must outlive the set. */
struct codec_cache_set;
struct codec_cache_set *codec_cache_set_new(size_t mem_cap);
/* Returns the shared cache (owned by the set) or NULL with err set. */
const struct codec_frame_cache *codec_cache_set_get(struct codec_cache_set *s, const struct codec_ops *ops,
						    const struct codec_params *p, const struct codec_media *media,
						    unsigned ptime_ms, char *err, size_t errlen);
size_t codec_cache_set_mem(const struct codec_cache_set *s);
size_t codec_cache_set_count(const struct codec_cache_set *s);
/* The i-th cache of the set (i < codec_cache_set_count). */
const struct codec_frame_cache *codec_cache_set_at(const struct codec_cache_set *s, size_t i);
void codec_cache_set_free(struct codec_cache_set *s);

/* ---- received-audio metrics -------------------------------------------------------------------------------- */

/* Which received flows are decoded for audio metrics (level, PLC): decoding every stream at 100k flows costs a
 * core, so by default one flow in CODEC_DECODE_SAMPLE_DEFAULT is.  Text forms: "all", "none", "1/N". */
enum codec_decode_mode { CODEC_DECODE_NONE, CODEC_DECODE_ALL, CODEC_DECODE_SAMPLED };
#define CODEC_DECODE_SAMPLE_DEFAULT 100
struct codec_decode_policy {
	enum codec_decode_mode mode;
	uint32_t one_in;       /* SAMPLED: flows whose index % one_in == 0 */
};
int codec_decode_policy_parse(const char *s, struct codec_decode_policy *out);
bool codec_decode_selected(const struct codec_decode_policy *pol, uint32_t flow_index);
/* "all", "none" or "1/N" into buf. */
int codec_decode_policy_format(const struct codec_decode_policy *pol, char *buf, size_t len);

#define CODEC_LEVEL_FLOOR_DBOV (-127.0) /* the level reported for digital silence (RFC 6464's floor) */
/* Level meter over PCM: overall RMS, and the level of active speech only, gated by an energy VAD in 10 ms
 * blocks with a hangover, in the spirit of ITU-T P.56: blocks above max(-55 dBov, noise floor + 9 dB) and the
 * 200 ms after them (the noise floor tracks the minimum, capped at -45 dBov so a steady tone stays active).
 * dBov is relative to a full-scale square wave (|x| = 32768 → 0 dBov). */
struct codec_level_meter {
	uint32_t rate;
	uint32_t block;        /* samples per 10 ms */
	uint32_t fill;
	double block_energy;
	double noise_floor;    /* running minimum-tracking estimate, energy per sample */
	uint32_t hang;         /* blocks of hangover left */
	double sum_sq;
	uint64_t n;
	double active_sum_sq;
	uint64_t active_n;
};
int codec_level_meter_init(struct codec_level_meter *m, uint32_t rate);
void codec_level_meter_feed(struct codec_level_meter *m, const int16_t *pcm, size_t n);
double codec_level_rms_dbov(const struct codec_level_meter *m);
double codec_level_active_dbov(const struct codec_level_meter *m);
double codec_level_active_ratio(const struct codec_level_meter *m); /* share of samples judged active */

/* Decodes one received stream for metrics: payloads in, losses reported by the caller (from RTP sequence
 * numbers), concealment run by the codec's PLC (Opus: its decoder PLC; G.711: spandsp PLC; G.722: silence) and
 * counted: a PLC event is a run of consecutive concealed frames, its duration the concealed audio.  A corrupt
 * payload counts as a decode error and is concealed too.  With Opus and params->fec, the last lost frame of a
 * gap is rebuilt from the next packet's in-band FEC (libopus falls back to concealment when the packet has
 * none); it still counts as concealed, since the receiver did not get that frame's own packet. */
struct codec_audio_rx {
	struct codec_dec *dec;
	const struct codec_ops *ops;
	struct codec_level_meter level;
	size_t frame_samples;  /* samples per expected frame (from ptime) */
	uint64_t frames, decode_errors;
	uint64_t plc_events;   /* runs of consecutive concealed frames */
	uint64_t plc_frames;
	uint64_t plc_samples;
	uint64_t fec_frames;   /* of plc_frames, rebuilt through the FEC path (Opus with params->fec) */
	bool in_loss;
	bool use_fec;
	int16_t *scratch;
};
struct codec_audio_rx *codec_audio_rx_new(const struct codec_ops *ops, const struct codec_params *p,
					  unsigned ptime_ms);
/* lost_before: frames lost right before this packet (sequence gap).  Returns samples decoded or -errno. */
int codec_audio_rx_packet(struct codec_audio_rx *rx, const uint8_t *payload, size_t len, uint32_t lost_before);
double codec_audio_rx_plc_ms(const struct codec_audio_rx *rx);
void codec_audio_rx_free(struct codec_audio_rx *rx);

/* ---- quality model: ITU-T G.107 (06/2015) E-model ------------------------------------------------------------ */

/* Inputs.  emodel_defaults() fills the G.107 Table 1 default values; callers set delays, loss and codec. */
struct emodel_input {
	/* transmission parameters (G.107 Table 1) */
	double slr, rlr, stmr, lstr, ds, dr, telr, wepl, qdu, nc, nfor, ps, pr, a;
	/* delays, ms: T mean one-way delay of the echo path, Tr round-trip delay of the closed 4-wire loop, Ta
	 * absolute one-way delay (mouth to ear).  emodel_set_delay() sets all three from one one-way figure. */
	double t, tr, ta;
	/* equipment impairment: Ie, Bpl, packet loss Ppl in percent, BurstR (1 = random loss) */
	double ie, bpl, ppl, burst_r;
};
struct emodel_result {
	double r, mos;
	double ro, is, id, idte, idle, idd, ie_eff;
};
void emodel_defaults(struct emodel_input *in);
/* One-way mouth-to-ear delay in ms: sets T = Ta = d and Tr = 2d (a symmetric connection). */
void emodel_set_delay(struct emodel_input *in, double one_way_ms);
/* Ie and Bpl from the registry entry (with or without its PLC). */
void emodel_set_codec(struct emodel_input *in, const struct codec_ops *ops, bool plc);
/* One-way delay as the receiver sees it: network + jitter buffer + packetisation (one ptime). */
double emodel_one_way_delay_ms(double network_ms, double jitter_buffer_ms, double ptime_ms);
/* Computes R and MOS; -EINVAL for inputs outside G.107's ranges (negative delay, Ppl outside 0..100, ...). */
int emodel_compute(const struct emodel_input *in, struct emodel_result *out);
/* G.107 Annex B: MOS (CQE) from R. */
double emodel_r_to_mos(double r);
/* BurstR for a two-state (Gilbert) loss model: p = P(loss | previous received), q = P(received | previous
 * lost); BurstR = 1 / (p + q) (G.107 §3.3.2).  Returns 1 when there is no loss. */
double emodel_burst_r(double p, double q);

/* Counts loss transitions from a sequence of received/lost packets, to estimate p, q and so BurstR. */
struct emodel_loss_stats {
	uint64_t rr, rl, lr, ll; /* transitions received→received, received→lost, lost→received, lost→lost */
	uint64_t lost, total;    /* packets */
	int last;                /* -1 none yet, 0 received, 1 lost */
};
void emodel_loss_init(struct emodel_loss_stats *s);
void emodel_loss_add(struct emodel_loss_stats *s, bool lost, uint64_t count);
double emodel_loss_ppl(const struct emodel_loss_stats *s);      /* percent */
double emodel_loss_burst_r(const struct emodel_loss_stats *s);

#endif
