/* RTCP compound packets (RFC 3550 §6): SR or RR with at most one report block (a flow is one two-party RTP
 * session), followed by SDES with a CNAME, as §6.1 requires.  Pure functions on buffers. */
#include <errno.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint16_t dp_rtcp_build(uint8_t *buf, const struct dp_rtcp_out *r)
{
	unsigned off = 0, rc = r->have_block ? 1 : 0, words;
	size_t cl = strlen(r->cname);

	if (cl > 64)
		cl = 64;
	/* SR (PT 200) or RR (PT 201) */
	buf[0] = (uint8_t)(0x80 | rc);
	buf[1] = r->sender ? 200 : 201;
	words = (r->sender ? 6 : 1) + 6 * rc;
	wr16(buf + 2, (uint16_t)words);
	wr32(buf + 4, r->ssrc);
	off = 8;
	if (r->sender) {
		wr32(buf + off, (uint32_t)(r->ntp >> 32));
		wr32(buf + off + 4, (uint32_t)r->ntp);
		wr32(buf + off + 8, r->rtp_ts);
		wr32(buf + off + 12, r->packets);
		wr32(buf + off + 16, r->octets);
		off += 20;
	}
	if (rc) {
		int32_t cl24 = r->cum_lost > 0x7fffff ? 0x7fffff : r->cum_lost < -0x800000 ? -0x800000 : r->cum_lost;

		wr32(buf + off, r->remote_ssrc);
		wr32(buf + off + 4, (uint32_t)r->fraction_lost << 24 | ((uint32_t)cl24 & 0xffffff));
		wr32(buf + off + 8, r->ext_max_seq);
		wr32(buf + off + 12, r->jitter);
		wr32(buf + off + 16, r->lsr);
		wr32(buf + off + 20, r->dlsr);
		off += 24;
	}
	/* SDES (PT 202), one chunk: SSRC, CNAME item, END, padded to a 32-bit boundary */
	uint8_t *s = buf + off;
	unsigned chunk = 4 + 2 + (unsigned)cl + 1;
	chunk = (chunk + 3) & ~3u;
	s[0] = 0x81;
	s[1] = 202;
	wr16(s + 2, (uint16_t)(chunk / 4));
	wr32(s + 4, r->ssrc);
	s[8] = 1; /* CNAME */
	s[9] = (uint8_t)cl;
	memcpy(s + 10, r->cname, cl);
	memset(s + 10 + cl, 0, chunk - 6 - cl);
	off += 4 + chunk;
	return (uint16_t)off;
}

/* One pass over the compound packet (§6.1: every packet version 2, lengths adding up exactly); with a visitor,
 * its callbacks see every SR/RR sender and report block. */
static int rtcp_pass(const uint8_t *p, uint32_t len, const struct dp_rtcp_visitor *v, void *arg)
{
	uint32_t off = 0;

	if (len < 8)
		return -EINVAL;
	while (off < len) {
		const uint8_t *h = p + off;
		uint32_t plen, rc;

		if (len - off < 4 || h[0] >> 6 != 2)
			return -EINVAL;
		plen = 4u * ((uint32_t)(h[2] << 8 | h[3]) + 1);
		if (plen > len - off)
			return -EINVAL;
		rc = h[0] & 0x1fu;
		if (h[1] == 200 || h[1] == 201) {
			uint32_t fixed = h[1] == 200 ? 28 : 8, reporter = rd32(h + 4);

			if (plen < fixed + 24 * rc)
				return -EINVAL;
			if (v && v->sender) {
				struct dp_rtcp_sender snd = { .ssrc = reporter, .sr = h[1] == 200 };

				if (snd.sr) {
					snd.ntp = (uint64_t)rd32(h + 8) << 32 | rd32(h + 12);
					snd.rtp_ts = rd32(h + 16);
					snd.packets = rd32(h + 20);
					snd.octets = rd32(h + 24);
				}
				v->sender(arg, &snd);
			}
			for (uint32_t b = 0; v && v->block && b < rc; b++) {
				const uint8_t *rb = h + fixed + 24 * b;
				uint32_t w = rd32(rb + 4);
				struct dp_rtcp_block blk = {
					.ssrc = rd32(rb), .fraction_lost = (uint8_t)(w >> 24),
					.cum_lost = (int32_t)(w << 8) >> 8, .ext_max_seq = rd32(rb + 8),
					.jitter = rd32(rb + 12), .lsr = rd32(rb + 16), .dlsr = rd32(rb + 20),
				};
				v->block(arg, reporter, &blk);
			}
		}
		off += plen;
	}
	return off == len ? 0 : -EINVAL;
}

int dp_rtcp_walk(const uint8_t *p, uint32_t len, const struct dp_rtcp_visitor *v, void *arg)
{
	if (rtcp_pass(p, len, NULL, NULL) < 0)
		return -EINVAL; /* nothing reported from a malformed compound */
	return rtcp_pass(p, len, v, arg);
}

struct rtcp_in_ctx {
	uint32_t about;
	struct dp_rtcp_in *out;
};

static void in_sender(void *arg, const struct dp_rtcp_sender *s)
{
	struct dp_rtcp_in *out = ((struct rtcp_in_ctx *)arg)->out;

	out->sender_ssrc = s->ssrc;
	if (s->sr) {
		out->have_sr = true;
		out->sr_lsr = (uint32_t)(s->ntp >> 16);
		out->sr_packets = s->packets;
		out->sr_octets = s->octets;
	}
}

static void in_block(void *arg, uint32_t reporter, const struct dp_rtcp_block *b)
{
	struct rtcp_in_ctx *c = arg;

	(void)reporter;
	if (b->ssrc != c->about)
		return;
	c->out->have_block = true;
	c->out->fraction_lost = b->fraction_lost;
	c->out->cum_lost = b->cum_lost;
	c->out->jitter = b->jitter;
	c->out->lsr = b->lsr;
	c->out->dlsr = b->dlsr;
}

int dp_rtcp_parse(const uint8_t *p, uint32_t len, uint32_t about_ssrc, struct dp_rtcp_in *out)
{
	static const struct dp_rtcp_visitor v = { .sender = in_sender, .block = in_block };
	struct rtcp_in_ctx c = { .about = about_ssrc, .out = out };

	memset(out, 0, sizeof(*out));
	return dp_rtcp_walk(p, len, &v, &c);
}

int64_t dp_rtcp_rtt_us(uint32_t now, uint32_t lsr, uint32_t dlsr)
{
	if (!lsr)
		return -1;
	int32_t rtt = (int32_t)(now - lsr - dlsr); /* 16.16 seconds */
	if (rtt < 0)
		rtt = 0;
	return (int64_t)rtt * 1000000 / 65536;
}
