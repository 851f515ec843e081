/* Tone sources and in-band DTMF: generation and detection through spandsp's DTMF generator and its Goertzel
 * detector (ITU-T Q.23/Q.24 timing and twist rules), so there is no hand-written tone detection here.  spandsp
 * works on 8 kHz audio; other rates are resampled by the caller (codec_media_resample). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inttypes.h>
#include <spandsp/telephony.h>
#include <spandsp/logging.h>
#include <spandsp/queue.h>
#include <spandsp/tone_generate.h>
#include <spandsp/super_tone_rx.h>
#include <spandsp/dtmf.h>

#include "codecs/codecs_internal.h"

struct codec_media *codec_media_tone(uint32_t rate, uint32_t duration_ms, double freq_hz, double level_dbov)
{
	size_t n = (size_t)rate * duration_ms / 1000;
	/* a sine's RMS is amplitude/√2, and 0 dBov is RMS 32768 */
	double amp = 32768.0 * sqrt(2.0) * pow(10.0, level_dbov / 20.0);
	struct codec_media *m;
	char name[sizeof(m->name)];

	if ((rate != 8000 && rate != 16000 && rate != 48000) || n == 0 || duration_ms > 3600u * 1000 ||
	    !(freq_hz > 0 && freq_hz < rate / 2.0) || !(level_dbov <= -3.02 && level_dbov >= -100)) {
		errno = EINVAL;
		return NULL;
	}
	snprintf(name, sizeof(name), "tone-%.0fHz", freq_hz);
	m = codec_media_alloc(name, rate, n);
	if (!m)
		return NULL;
	for (size_t i = 0; i < n; i++)
		m->pcm[i] = (int16_t)lrint(amp * sin(2.0 * M_PI * freq_hz * (double)i / rate));
	return m;
}

struct codec_media *codec_media_dtmf(const char *digits, uint32_t on_ms, uint32_t off_ms, int level_dbm0,
				     char *err, size_t errlen)
{
	size_t nd = digits ? strlen(digits) : 0, n, got = 0;
	struct codec_media *m = NULL;
	char name[sizeof(m->name)];
	dtmf_tx_state_t *tx;

	if (nd == 0 || nd > CODEC_DTMF_INBAND_MAX_DIGITS) {
		snprintf(err, errlen, "DTMF: 1 to %d digits, not %zu", CODEC_DTMF_INBAND_MAX_DIGITS, nd);
		return NULL;
	}
	for (size_t i = 0; i < nd; i++)
		if (codec_dtmf_event_from_char(digits[i]) < 0) {
			snprintf(err, errlen, "DTMF: '%c' is not a DTMF digit (0-9 * # A-D)", digits[i]);
			return NULL;
		}
	/* Q.24: at least 40 ms on and 40 ms off; level -30..0 dBm0 per tone */
	if (on_ms < 40 || off_ms < 40 || on_ms > 10000 || off_ms > 10000 || level_dbm0 < -30 || level_dbm0 > 0) {
		snprintf(err, errlen, "DTMF: on %u ms / off %u ms / level %d dBm0 outside 40..10000 ms, -30..0 dBm0",
			 on_ms, off_ms, level_dbm0);
		return NULL;
	}
	tx = dtmf_tx_init(NULL);
	if (!tx) {
		snprintf(err, errlen, "DTMF: out of memory");
		return NULL;
	}
	dtmf_tx_set_level(tx, level_dbm0, 0);
	dtmf_tx_set_timing(tx, (int)on_ms, (int)off_ms);
	if (dtmf_tx_put(tx, digits, (int)nd) != 0) {
		snprintf(err, errlen, "DTMF: generator queue full");
		goto out;
	}
	n = nd * (on_ms + off_ms) * 8;
	snprintf(name, sizeof(name), "dtmf-%.50s", digits);
	m = codec_media_alloc(name, 8000, n);
	if (!m) {
		snprintf(err, errlen, "DTMF: out of memory");
		goto out;
	}
	while (got < n) {
		int k = dtmf_tx(tx, m->pcm + got, (int)(n - got > 160 ? 160 : n - got));

		if (k <= 0)
			break;
		got += (size_t)k;
	}
	/* the tail after the last tone stays silence (codec_media_alloc zeroes) */
out:
	dtmf_tx_free(tx);
	return m;
}

struct codec_dtmf_detect {
	dtmf_rx_state_t *rx;
};

struct codec_dtmf_detect *codec_dtmf_detect_new(void)
{
	struct codec_dtmf_detect *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->rx = dtmf_rx_init(NULL, NULL, NULL);
	if (!d->rx) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

int codec_dtmf_detect_feed(struct codec_dtmf_detect *d, const int16_t *pcm8k, size_t n)
{
	while (n) {
		int k = n > 8000 ? 8000 : (int)n;

		dtmf_rx(d->rx, pcm8k, k);
		pcm8k += k;
		n -= (size_t)k;
	}
	return 0;
}

size_t codec_dtmf_detect_digits(struct codec_dtmf_detect *d, char *buf, size_t len)
{
	if (len == 0)
		return 0;
	return dtmf_rx_get(d->rx, buf, (int)(len - 1 > INT32_MAX ? INT32_MAX : len - 1));
}

void codec_dtmf_detect_free(struct codec_dtmf_detect *d)
{
	if (!d)
		return;
	dtmf_rx_free(d->rx);
	free(d);
}

/* "tone", "tone:HZ" or "tone:HZ:DBOV"; false on anything else. */
static bool parse_tone(const char *spec, double *hz, double *dbov)
{
	const char *p = spec + 4;
	char *end;

	*hz = 1004;
	*dbov = CODEC_TONE_DEFAULT_DBOV;
	if (*p == '\0')
		return true;
	if (*p != ':')
		return false;
	*hz = strtod(p + 1, &end);
	if (end == p + 1)
		return false;
	if (*end == '\0')
		return true;
	if (*end != ':')
		return false;
	p = end + 1;
	*dbov = strtod(p, &end);
	return end != p && *end == '\0';
}

/* The plan's `media =` value (docs/plan.md): "speech" (or "synthetic", or empty), "silence",
 * "tone[:HZ[:DBOV]]", "dtmf:DIGITS", or a WAV file path. */
struct codec_media *codec_media_open(const char *spec, char *err, size_t errlen)
{
	struct codec_media *m = NULL;
	double hz, dbov;

	if (!spec || !*spec || strcmp(spec, "speech") == 0 || strcmp(spec, "synthetic") == 0) {
		m = codec_media_synthetic(48000, CODEC_SYNTH_DEFAULT_MS, 1);
		if (!m)
			snprintf(err, errlen, "speech media: out of memory");
		return m;
	}
	if (strcmp(spec, "silence") == 0) {
		m = codec_media_alloc("silence", 48000, (size_t)48 * CODEC_SYNTH_DEFAULT_MS);
		if (!m)
			snprintf(err, errlen, "silence: out of memory");
		return m;
	}
	if (strncmp(spec, "tone", 4) == 0 && (spec[4] == '\0' || spec[4] == ':')) {
		if (parse_tone(spec, &hz, &dbov))
			m = codec_media_tone(48000, CODEC_SYNTH_DEFAULT_MS, hz, dbov);
		if (!m)
			snprintf(err, errlen, "media '%s': tone:HZ[:DBOV] with 0 < HZ < 24000 and -100 <= DBOV <= -3.02",
				 spec);
		return m;
	}
	if (strncmp(spec, "dtmf:", 5) == 0)
		return codec_media_dtmf(spec + 5, 100, 100, -10, err, errlen);
	return codec_media_wav_load(spec, err, errlen);
}
