/* RFC 4733 telephone-event: the registry entry, the sender (duration updates, end bit, the three end packets,
 * segmentation of long events) and the receiver (one report per event, duplicates ignored). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codecs/codecs.h"

static int te_fmtp(const struct codec_params *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "0-%u", CODEC_DTMF_EVENT_MAX);

	(void)p;
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static int te_fmtp_parse(const char *fmtp, struct codec_params *p)
{
	(void)fmtp;
	(void)p;
	return 0;
}

/* No audio encoder: events are generated with codec_dtmf_tx_*. */
const struct codec_ops codec_telephone_event = {
	.name = "telephone-event",
	.payload_type = 101,
	.dynamic_pt = true,
	.clock_rate = 8000,
	.sample_rate = 8000,
	.channels = 0,
	.ptime_default = 20,
	.ptimes = { 10, 20, 30, 40, 50, 60 },
	.fmtp = te_fmtp,
	.fmtp_parse = te_fmtp_parse,
};

int codec_dtmf_event_from_char(char c)
{
	static const char digits[] = "0123456789*#ABCD";
	const char *p;

	if (c >= 'a' && c <= 'd')
		c = (char)(c - 'a' + 'A');
	if (c == '\0' || !(p = strchr(digits, c)))
		return -EINVAL;
	return (int)(p - digits);
}

char codec_dtmf_event_char(uint8_t event)
{
	static const char digits[] = "0123456789*#ABCD!";

	return event <= CODEC_DTMF_EVENT_MAX ? digits[event] : '?';
}

int codec_dtmf_tx_start(struct codec_dtmf_tx *tx, uint8_t event, uint8_t volume, uint32_t duration_ms,
			unsigned ptime_ms, uint32_t clock_rate)
{
	if (event > CODEC_DTMF_EVENT_MAX || volume > CODEC_DTMF_VOLUME_MAX || duration_ms == 0 || ptime_ms == 0 ||
	    ptime_ms > CODEC_FRAME_MS_MAX || clock_rate < 1000 || clock_rate > CODEC_MAX_SAMPLE_RATE ||
	    duration_ms > 600000)
		return -EINVAL;
	*tx = (struct codec_dtmf_tx){
		.event = event,
		.volume = volume,
		.total = (uint32_t)((uint64_t)duration_ms * clock_rate / 1000),
		.step = clock_rate / 1000 * ptime_ms,
		.first = true,
	};
	if (tx->total == 0)
		return -EINVAL;
	return 0;
}

static void fill(struct codec_dtmf_pkt *pkt, const struct codec_dtmf_tx *tx, uint32_t duration, bool end)
{
	pkt->payload[0] = tx->event;
	pkt->payload[1] = (uint8_t)((end ? 0x80 : 0) | tx->volume);
	pkt->payload[2] = (uint8_t)(duration >> 8);
	pkt->payload[3] = (uint8_t)duration;
	pkt->end = end;
	pkt->marker = tx->first; /* §2.5.1.2: marker on the first packet of the event only */
	pkt->ts_offset = tx->seg_start;
}

/* RFC 4733 §2.5.1: every packet of an event (segment) carries the event's start timestamp and the duration so
 * far; the last one has the E bit and is sent three times (§2.5.1.4).  An event longer than the 16-bit
 * duration field is split (§2.5.1.3): a report with duration 0xFFFF, then a new segment whose timestamp is
 * the old one plus 0xFFFF. */
int codec_dtmf_tx_next(struct codec_dtmf_tx *tx, struct codec_dtmf_pkt *pkt)
{
	uint32_t cur;

	if (tx->ends_left) {
		fill(pkt, tx, tx->total - tx->seg_start, true);
		tx->ends_left--;
		tx->first = false;
		return 1;
	}
	if (tx->sent >= tx->total)
		return 0;
	cur = tx->sent + tx->step;
	if (cur > tx->total)
		cur = tx->total;
	if (cur - tx->seg_start > CODEC_DTMF_DURATION_MAX) {
		fill(pkt, tx, CODEC_DTMF_DURATION_MAX, false);
		tx->seg_start += CODEC_DTMF_DURATION_MAX;
		tx->first = false;
		return 1;
	}
	tx->sent = cur;
	if (cur == tx->total) {
		fill(pkt, tx, cur - tx->seg_start, true);
		tx->ends_left = CODEC_DTMF_END_REPEATS - 1;
	} else {
		fill(pkt, tx, cur - tx->seg_start, false);
	}
	tx->first = false;
	return 1;
}

int codec_dtmf_parse(const uint8_t *p, size_t len, struct codec_dtmf_event *ev)
{
	/* §2.3: exactly one 4-byte event per packet; the R bit is reserved and ignored on receipt. */
	if (!p || len < CODEC_DTMF_PAYLOAD)
		return -EINVAL;
	ev->event = p[0];
	ev->end = (p[1] & 0x80) != 0;
	ev->volume = p[1] & 0x3f;
	ev->duration = (uint16_t)(p[2] << 8 | p[3]);
	return 0;
}

static void report(struct codec_dtmf_rx *rx, struct codec_dtmf_digit *out, bool end_seen)
{
	out->event = rx->event;
	out->duration = rx->seg_base + rx->duration;
	out->ts = rx->ts - rx->seg_base;
	out->end_seen = end_seen;
	rx->reported = true;
	rx->digits++;
}

int codec_dtmf_rx_packet(struct codec_dtmf_rx *rx, uint32_t rtp_ts, const uint8_t *p, size_t len,
			 struct codec_dtmf_digit out[CODEC_DTMF_RX_MAX_DIGITS])
{
	struct codec_dtmf_event ev;
	int rc = 0;

	rx->packets++;
	if (codec_dtmf_parse(p, len, &ev) < 0) {
		rx->bad++;
		return -EINVAL;
	}
	if (rx->active && rtp_ts != rx->ts) {
		int32_t delta = (int32_t)(rtp_ts - rx->ts);

		if (delta < 0)
			return 0; /* a late packet of an earlier event */
		if (!rx->reported && ev.event == rx->event && rx->duration == CODEC_DTMF_DURATION_MAX &&
		    (uint32_t)delta == CODEC_DTMF_DURATION_MAX) {
			/* §2.5.1.3: the next segment of a long event */
			rx->seg_base += CODEC_DTMF_DURATION_MAX;
			rx->ts = rtp_ts;
			rx->duration = 0;
		} else {
			if (!rx->reported) {
				/* the previous event's end packets were all lost: report it now */
				report(rx, &out[rc++], false);
			}
			rx->active = false;
		}
	}
	if (!rx->active) {
		rx->active = true;
		rx->reported = false;
		rx->ts = rtp_ts;
		rx->event = ev.event;
		rx->duration = 0;
		rx->seg_base = 0;
	}
	if (ev.event != rx->event)
		return rc; /* a different event on the same timestamp: not a valid update */
	if (ev.duration > rx->duration)
		rx->duration = ev.duration;
	if (ev.end && !rx->reported)
		report(rx, &out[rc++], true);
	return rc;
}
