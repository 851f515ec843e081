/* dataplane/ internals shared by its .c files and its unit tests: checksums, the frame builder, the impairment
 * decisions.  Pure functions on plain buffers; no DPDK types. */
#ifndef CM_DATAPLANE_INTERNAL_H
#define CM_DATAPLANE_INTERNAL_H

#include <string.h>
#include <time.h>

#include "dataplane/dataplane.h"

#define DP_ETH_HLEN 14
#define DP_IP_HLEN 20
#define DP_UDP_HLEN 8
#define DP_RTP_HLEN 12
#define DP_HDRS_LEN (DP_ETH_HLEN + DP_IP_HLEN + DP_UDP_HLEN + DP_RTP_HLEN)

uint32_t dp_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t dp_csum_fold(uint32_t sum);
uint16_t dp_udp_csum(const uint8_t *ip, const uint8_t *udp, uint16_t udp_len);

/* Writes Ethernet [+ 802.1Q tag when vlan is not 0] + IPv4 + UDP + RTP headers and the payload for flow f into
 * buf (at least DP_HDRS_LEN + 4 + payload_len bytes); sw_csum: fill the IPv4 and UDP checksums (else the IPv4 one is 0 and the UDP one holds the
 * pseudo-header sum, as checksum offload expects).  payload_sum: the payload's dp_csum_add(0, ...) folded to 16
 * bits when known in advance (frame caches), −1 to compute it.  Returns the frame length.  payload NULL: only
 * the headers up to UDP are written, for a UDP payload of payload_len + DP_RTP_HLEN bytes (dp_build_rtcp). */
uint16_t dp_build_rtp(uint8_t *buf, const struct dp_flow *f, const uint8_t src_mac[6], uint16_t vlan,
		      uint16_t ip_id, bool marker, const uint8_t *payload, uint16_t payload_len, int32_t payload_sum,
		      bool sw_csum);

/* The TX fast path behind dp_build_rtp() when the payload's sum is known (frame caches) and there is no header
 * extension: the headers go out in a few stores (what the flow keeps in network order as it is, the rest in
 * big-endian words), and both checksums are the flow's constant parts (csum_ip, csum_udp: dp_flow_csum_prepare()
 * must have been called since the flow's header fields last changed) plus what changes per packet (length, IP
 * id, marker, seq, timestamp) plus payload_sum, summed in registers without reading the frame back.  eth_src is
 * dp_eth_src() of the source MAC.  Byte for byte what the general path writes (test_dp_parse and test_dp_txfast
 * compare them). */
static inline void dp_st64be(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

static inline void dp_st32be(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

/* Big-endian loads from packet bytes (any alignment). */
static inline uint16_t dp_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t dp_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A sum of at most 2^32 − 1 folded to 16 bits (not complemented): the upper half of s plus s turned by 16 bits
 * is upper + lower half with the end-around carry of their sum, which the lower half's addition carries in. */
static inline uint16_t dp_csum_fold32(uint32_t s)
{
	return (uint16_t)((s + (s << 16 | s >> 16)) >> 16);
}

/* The sum of a flow's IPv4 source and destination addresses as 16-bit words. */
static inline uint32_t dp_flow_addr_sum(const struct dp_flow *f)
{
	uint32_t l = dp_flow_local_ip(f), r = dp_flow_remote_ip(f);

	return (l >> 16) + (l & 0xffffu) + (r >> 16) + (r & 0xffffu);
}

/* The constant parts of a flow's checksums, folded to 16 bits: its IPv4 header without total length, id and
 * checksum (version, DSCP, DF, TTL 64, UDP, addresses); its UDP pseudo-header without the length, its ports, and
 * its RTP header without marker, seq and timestamp (version 2, pt, SSRC).  Ones' complement addition is
 * associative, so these partial sums plus the rest give the checksum of the whole. */
static inline void dp_flow_csum_prepare(struct dp_flow *f)
{
	uint32_t addrs = dp_flow_addr_sum(f), ssrc = dp_flow_ssrc(f);

	f->csum_ip = dp_csum_fold32((0x4500u | (uint32_t)(f->dscp & 0x3f) << 2) + 0x4000u + 0x4011u + addrs);
	f->csum_udp = dp_csum_fold32(addrs + 17 + dp_flow_local_port(f) + dp_flow_remote_port(f) +
				     (0x8000u | (f->pt & 0x7fu)) + (ssrc >> 16) + (ssrc & 0xffffu));
}

/* n added to a 64-bit count kept as two 32-bit halves (the low one where the hot path writes, the high one
 * touched once per 4 GiB): a flow's TX and RX byte counts. */
static inline void dp_add_split(uint32_t *lo, uint32_t *hi, uint32_t n)
{
	*lo += n;
	if (__builtin_expect(*lo < n, 0))
		(*hi)++;
}

/* A flow's TX counters: bytes as two 32-bit halves (a plain packet adds to the low one, in line 3, and carries
 * into the high one, in line 2, once per 4 GiB), packets as tx_index less what was not sent. */
static inline void dp_flow_add_tx_bytes(struct dp_flow *f, uint32_t n)
{
	dp_add_split(&f->tx_bytes_lo, &f->tx_bytes_hi, n);
}

static inline uint64_t dp_flow_tx_bytes(const struct dp_flow *f)
{
	return (uint64_t)f->tx_bytes_hi << 32 | f->tx_bytes_lo;
}

static inline uint32_t dp_flow_tx_packets(const struct dp_flow *f)
{
	return f->tx_index - f->tx_unsent;
}

/* A sum of 16-bit words folded to 16 bits (not complemented). */
static inline uint16_t dp_csum_fold16(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffu) + (s >> 16);
	s = (s & 0xffffu) + (s >> 16);
	s = (s & 0xffffu) + (s >> 16);
	return (uint16_t)s;
}

/* A payload copy inlined for the frame sizes of voice codecs (a library call costs more than the copy at 160
 * bytes): 64 bytes a loop turn, then the rest in 32-byte moves, the last one overlapping — 160 bytes take ten
 * 16-byte loads and stores; under 64 bytes two overlapping moves of 16 or 32. */
static inline __attribute__((always_inline)) void dp_copy_payload(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t i;

	if (len < 16 || len > 512) {
		memcpy(dst, src, len);
		return;
	}
	if (len < 32) {
		memcpy(dst, src, 16);
		memcpy(dst + len - 16, src + len - 16, 16);
		return;
	}
	if (len <= 64) {
		memcpy(dst, src, 32);
		memcpy(dst + len - 32, src + len - 32, 32);
		return;
	}
	for (i = 0; i + 64 < len; i += 64)
		memcpy(dst + i, src + i, 64);
	if (len - i > 32)
		memcpy(dst + i, src + i, 32);
	memcpy(dst + len - 32, src + len - 32, 32);
}

/* The source MAC and the IPv4 EtherType as the 8 bytes they are in an untagged frame (dp_build_rtp_fast). */
static inline uint64_t dp_eth_src(const uint8_t mac[6])
{
	uint8_t b[8] = { mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0x08, 0x00 };
	uint64_t w;

	memcpy(&w, b, 8);
	return w;
}

static inline __attribute__((always_inline)) uint16_t dp_build_rtp_fast(uint8_t *buf, const struct dp_flow *f, uint64_t eth_src,
					 uint16_t vlan, uint16_t ip_id, bool marker, const uint8_t *payload,
					 uint16_t payload_len, uint16_t payload_sum, bool sw_csum)
{
	unsigned l2 = vlan ? DP_ETH_HLEN + 4 : DP_ETH_HLEN;
	uint8_t *ip = buf + l2, *udp = ip + DP_IP_HLEN, *rtp = udp + DP_UDP_HLEN;
	/* 64-bit, as they go into the 64-bit header words: where the compiler keeps one on the stack it reloads it
	 * whole from a whole store (a 64-bit load of a 32-bit store cannot be forwarded: it waits for the store to
	 * reach the cache, the costliest stall of the path when it happened) */
	uint64_t udp_len = DP_UDP_HLEN + DP_RTP_HLEN + (uint64_t)payload_len, tot = DP_IP_HLEN + udp_len;
	uint32_t w0 = 0x4500u | (uint32_t)(f->dscp & 0x3f) << 2, rtp0 = 0x8000u | (marker ? 0x80u : 0) | (f->pt & 0x7fu);
	uint16_t ipc = 0, uc;
	uint64_t dst_mac;

	/* the destination MAC with the two bytes after it (the source MAC then overwrites them) */
	memcpy(&dst_mac, (const uint8_t *)f + offsetof(struct dp_flow, remote_mac), 8);
	memcpy(buf, &dst_mac, 8);
	memcpy(buf + 6, &eth_src, 8);
	if (vlan) {
		dp_st32be(buf + 12, 0x81000000u | (vlan & 0x0fffu));
		buf[16] = 0x08;
		buf[17] = 0x00;
	}
	if (sw_csum) {
		ipc = (uint16_t)~dp_csum_fold32(f->csum_ip + tot + ip_id);
		uc = (uint16_t)~dp_csum_fold32(f->csum_udp + 2 * udp_len + (marker ? 0x80u : 0) + f->seq + (f->ts >> 16) +
					       (f->ts & 0xffffu) + payload_sum);
		if (uc == 0)
			uc = 0xffff; /* RFC 768: a computed 0 is sent as all ones */
	} else {
		uc = dp_csum_fold32(dp_flow_addr_sum(f) + 17 + udp_len); /* the pseudo-header sum offload expects */
	}
	dp_st64be(ip, (uint64_t)w0 << 48 | (uint64_t)tot << 32 | (uint64_t)ip_id << 16 | 0x4000u); /* DF */
	dp_st32be(ip + 8, 0x40110000u | ipc); /* TTL 64, UDP */
	/* addresses and ports as the flow keeps them: in network order, in the packet's order */
	memcpy(ip + 12, (const uint8_t *)f + offsetof(struct dp_flow, local_ip_be), 12);
	dp_st32be(udp + 4, (uint32_t)udp_len << 16 | uc);
	dp_st64be(rtp, (uint64_t)rtp0 << 48 | (uint64_t)f->seq << 32 | f->ts);
	memcpy(rtp + 8, &f->ssrc_be, 4);
	dp_copy_payload(rtp + DP_RTP_HLEN, payload, payload_len);
	return (uint16_t)(l2 + tot);
}

/* The same with an RTP header extension block (ext_len bytes, a multiple of 4, 0xBEDE header included). */
uint16_t dp_build_rtp_ext(uint8_t *buf, const struct dp_flow *f, const uint8_t src_mac[6], uint16_t vlan,
			  uint16_t ip_id, bool marker, const uint8_t *ext, uint8_t ext_len, const uint8_t *payload,
			  uint16_t payload_len, int32_t payload_sum, bool sw_csum);
/* RFC 8285 one-byte extension carrying the 64-bit NTP TX time under `id` (1..14); returns its length. */
#define DP_EXT_TXTIME_LEN 16
uint8_t dp_ext_txtime(uint8_t *ext, uint8_t id, uint64_t ntp);
/* Finds that element in an RTP packet (rtp, len: the UDP payload); false when absent or malformed. */
bool dp_ext_find_txtime(const uint8_t *rtp, uint32_t len, uint8_t id, uint64_t *ntp);

/* What the impairment stage does with packet k of a flow. */
enum dp_imp_action { DP_IMP_SEND = 0, DP_IMP_DROP = 1u << 0, DP_IMP_DUP = 1u << 1, DP_IMP_REORDER = 1u << 2 };
static inline bool dp_impair_active(const struct dp_impair *im)
{
	return im->loss_ppm || im->ge_p_ppm || im->dup_ppm || im->reorder_ppm || im->jitter_us;
}
/* Decides for packet k of flow `flow`; *ge_bad carries the Gilbert–Elliott state between packets. */
unsigned dp_impair_decide(const struct dp_impair *im, uint32_t flow, uint32_t k, uint8_t *ge_bad);
/* Extra delay of packet k in microseconds (uniform in [0, jitter_us]). */
uint32_t dp_impair_delay_us(const struct dp_impair *im, uint32_t flow, uint32_t k);

/* ---- RX analysis: the common case inline (rx_stats.c has the rest) ------------------------------------------
 * RTP timestamp ticks → nanoseconds, truncated toward zero (|ticks| < 2^31, so ticks × 10^9 fits in 63 bits).
 * The usual clocks divide by a constant, which the compiler turns into a multiplication. */
static inline int64_t dp_rx_ticks_ns(int32_t ticks, uint32_t clock)
{
	int64_t n = (int64_t)ticks * 1000000000LL;

	switch (clock) {
	case 8000:
		return n / 8000;
	case 16000:
		return n / 16000;
	case 48000:
		return n / 48000;
	case 90000:
		return n / 90000;
	default:
		return n / clock;
	}
}

/* RFC 3550 A.8 with arrival and timestamp deltas converted to nanoseconds:
 * D = (R_j − R_i) − (S_j − S_i), J += (|D| − J) / 16.  A |D| beyond DP_RX_TS_JUMP_NS is a timestamp jump: it is
 * counted and restarts the PDV reference instead of feeding the jitter. */
static inline void dp_rx_timing(struct dp_rx_stats *st, uint32_t ts, uint64_t arrival_ns)
{
	int64_t d = (int64_t)(arrival_ns - st->last_arrival_ns) - dp_rx_ticks_ns((int32_t)(ts - st->last_ts),
										 st->clock_rate);
	int64_t ad = d < 0 ? -d : d;

	st->last_ts = ts;
	st->last_arrival_ns = arrival_ns;
	if (__builtin_expect(ad > DP_RX_TS_JUMP_NS, 0)) {
		st->ts_jumps++;
		st->rel_transit_ns = 0;
		return;
	}
	st->jitter_ns = (uint32_t)((int64_t)st->jitter_ns + (ad - (int64_t)st->jitter_ns) / 16);
	if (st->jitter_ns > st->max_jitter_ns)
		st->max_jitter_ns = st->jitter_ns;

	/* The transit relative to the reference packet is the running sum of D. */
	st->rel_transit_ns += d;
	int64_t rel_us = st->rel_transit_ns / 1000;
	if (rel_us < st->pdv_min_us)
		st->pdv_min_us = (int32_t)(rel_us < INT32_MIN ? INT32_MIN : rel_us);
	if (rel_us > st->pdv_max_us)
		st->pdv_max_us = (int32_t)(rel_us > INT32_MAX ? INT32_MAX : rel_us);
}

/* What nearly every packet is: the next sequence number of the validated source, with no burst candidate open
 * (RFC 3611: in a gap) and a known clock, not a new one.  Its whole accounting, as dp_rx_packet() does it, in the
 * first 56 bytes of the stats (one cache line of a flow): packets, received and gap_pkts each go up by one and
 * seen shifts in a one, all four kept as one count (in_order) until dp_rx_settle(); the sequence wrap (1 packet
 * in 65,536) and the byte count's carry (once per 4 GiB) write the rest.  False, having changed nothing, for any
 * other packet (dp_rx_packet() takes it), and for the 2^32nd in a row (in_order is full). */
static inline bool dp_rx_in_order(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc,
				  uint64_t arrival_ns, uint32_t len)
{
	if (__builtin_expect(ssrc != st->ssrc || seq != (uint16_t)(st->max_seq + 1) || st->slow ||
			     st->in_order == UINT32_MAX, 0))
		return false;
	st->in_order++;
	dp_add_split(&st->bytes_lo, &st->bytes_hi, len);
	if (__builtin_expect(seq == 0, 0))
		st->cycles += 1u << 16; /* RFC 3550 A.1: the 16-bit sequence number wrapped */
	st->max_seq = seq;
	dp_rx_timing(st, ts, arrival_ns);
	return true;
}

/* ---- SDES-SRTP keys (RFC 4568) → libsrtp2 sessions (srtp.c), for the lcores and for analyze ------------ */
struct srtp_ctx_t_;               /* libsrtp2's srtp_t points to one */
/* A session for one direction of one suite's 30-byte key||salt: outbound for any SSRC we send, inbound for any
 * SSRC received (each SSRC gets its own replay window of `window` packets, 64..32767).  NULL: libsrtp refused
 * (srtp_init() not called, unknown suite). */
struct srtp_ctx_t_ *dp_srtp_session(const uint8_t *key, uint8_t suite, bool inbound, unsigned window);
/* The a=crypto suite name → enum dp_srtp_suite, 0 when not one the dataplane implements. */
uint8_t dp_srtp_suite_from_name(const char *name, size_t len);

/* RTP clock of a static payload type (RFC 3551), 0 when dynamic or unknown. */
uint32_t dp_static_pt_clock(uint8_t pt);

/* ---- engine ↔ port bring-up (port.c starts the port, engine.c runs the lcores) ---------------------------- */
struct rte_mempool;
struct dp_port_ctx {
	uint16_t port_id;
	struct rte_mempool *pool;
	unsigned nlcores;
	const unsigned *lcore_ids;
	bool tx_csum_offload;   /* IPv4 + UDP checksum offload on TX (untagged frames) */
	bool rx_csum_offload;   /* the PMD flags checked checksums */
	bool loops_back;        /* the device returns every frame sent (net_ring): no local delivery needed */
	int ts_offset;          /* mbuf timestamp dynfield offset, −1: none */
	uint64_t ts_flag;       /* ... and the RX flag that says it is set */
};
int dp_engine_start(const struct dp_port_ctx *ctx, char *err, size_t errlen);
/* Benchmarks: when set before dp_start(), no lcore is launched and the caller runs loop passes itself. */
extern bool dp_engine_manual;
void dp_engine_poll_once(unsigned slot);
void dp_engine_stop(void);  /* stops and waits for the lcores */
uint32_t dp_engine_flows(void); /* the configured flow capacity (the default before dp_configure) */
unsigned dp_engine_lcores(void); /* the configured lcore limit, 0: none */
bool dp_engine_running(void);
void dp_engine_free(void);

/* ---- ARP (RFC 826) and ICMP echo (RFC 792) for the media IPs -------------------------------------------------
 * Frames are built and answered in place on plain buffers.  The ARP cache is bounded: each IP has DP_ARP_PROBE
 * candidate slots, and a full set evicts the entry learned longest ago. */
#define DP_ARP_FRAME_LEN 60      /* 42 bytes of ARP, padded to the Ethernet minimum */
#define DP_ARP_PROBE 8
#define DP_ARP_REACHABLE_S 300   /* an entry older than this is refreshed by the next flow that uses it */

struct dp_arp {
	uint16_t op;             /* 1 request, 2 reply */
	uint8_t sender_mac[6];
	uint32_t sender_ip;
	uint32_t target_ip;
};
/* Writes an ARP frame (untagged when vlan is 0) into buf (DP_ARP_FRAME_LEN + 4 bytes); returns its length.
 * A request goes to broadcast with target MAC zero; a gratuitous ARP is a request for one's own IP. */
uint16_t dp_arp_build(uint8_t *buf, uint16_t vlan, uint16_t op, const uint8_t src_mac[6], uint32_t src_ip,
		      const uint8_t dst_mac[6], uint32_t dst_ip);
/* Parses the ARP payload of an Ethernet frame ([802.1Q] 0x0806); 0 or −EINVAL. */
int dp_arp_parse(const uint8_t *frame, uint32_t len, struct dp_arp *out);
/* Turns an ICMP echo request in `frame` into its reply in place (addresses swapped, checksums updated); true
 * when it was an echo request to `own_ip`. */
bool dp_icmp_echo_reply(uint8_t *frame, uint32_t len, uint32_t own_ip);

struct dp_arp_entry {
	uint32_t ip;             /* 0: free */
	uint8_t mac[6];
	uint16_t seq;            /* odd while a writer rewrites the entry (see dp_arp_lookup) */
	uint64_t learned_ns;
};
struct dp_arp_cache {
	struct dp_arp_entry *e;
	uint32_t mask;           /* entries − 1, a power of two */
};
/* Shared by all lcores, lock-free: lookups copy a consistent entry out; false when ip is not cached (or its entry
 * was being rewritten at every try). */
bool dp_arp_lookup(const struct dp_arp_cache *c, uint32_t ip, struct dp_arp_entry *out);
/* Learns or refreshes ip → mac; false when another lcore was writing the same entry (nothing learned). */
bool dp_arp_learn(struct dp_arp_cache *c, uint32_t ip, const uint8_t mac[6], uint64_t now_ns);

/* ---- RTCP (RFC 3550 §6): compound SR/RR + SDES CNAME, and what a received compound tells a flow ----------- */
#define DP_RTCP_MAX 128          /* the compound packets built here: SR + one report block + SDES */

struct dp_rtcp_out {
	uint32_t ssrc;           /* ours */
	bool sender;             /* SR (we sent RTP since the last report) or RR */
	uint64_t ntp;            /* NTP timestamp, 32.32 */
	uint32_t rtp_ts;
	uint32_t packets, octets;
	bool have_block;         /* a report block about the remote source */
	uint32_t remote_ssrc;
	uint8_t fraction_lost;   /* 8-bit fixed point */
	int32_t cum_lost;        /* clamped to 24 bits signed */
	uint32_t ext_max_seq;
	uint32_t jitter;         /* RTP timestamp units */
	uint32_t lsr, dlsr;      /* NTP short format (16.16) */
	const char *cname;
};
/* Writes the compound RTCP packet (the UDP payload); returns its length. */
uint16_t dp_rtcp_build(uint8_t *buf, const struct dp_rtcp_out *r);

struct dp_rtcp_in {
	uint32_t sender_ssrc;
	bool have_sr;
	uint32_t sr_lsr;         /* middle 32 bits of the SR's NTP timestamp: our next LSR */
	uint32_t sr_packets, sr_octets;
	bool have_block;         /* a report block about `about_ssrc` */
	uint8_t fraction_lost;
	int32_t cum_lost;
	uint32_t jitter;
	uint32_t lsr, dlsr;
};
/* Every SR/RR sender and report block of a compound packet, for passive analysis. */
struct dp_rtcp_sender {
	uint32_t ssrc;
	bool sr;                 /* a sender report: the fields below are set */
	uint64_t ntp;            /* 32.32 */
	uint32_t rtp_ts, packets, octets;
};
struct dp_rtcp_block {
	uint32_t ssrc;           /* the source reported about */
	uint8_t fraction_lost;
	int32_t cum_lost;
	uint32_t ext_max_seq, jitter, lsr, dlsr;
};
struct dp_rtcp_visitor {
	void (*sender)(void *arg, const struct dp_rtcp_sender *s);
	void (*block)(void *arg, uint32_t reporter_ssrc, const struct dp_rtcp_block *b);
};
/* Checks the whole compound first, then calls the visitor in packet order; 0 or −EINVAL (nothing called). */
int dp_rtcp_walk(const uint8_t *p, uint32_t len, const struct dp_rtcp_visitor *v, void *arg);
/* Parses a compound RTCP packet, looking for a report block about about_ssrc; 0 or −EINVAL (malformed). */
int dp_rtcp_parse(const uint8_t *p, uint32_t len, uint32_t about_ssrc, struct dp_rtcp_in *out);
/* The RTCP packet for flow f to its remote RTP port + 1, from its local port + 1, checksums in software. */
uint16_t dp_build_rtcp(uint8_t *buf, const struct dp_flow *f, const uint8_t src_mac[6], uint16_t vlan,
		       uint16_t ip_id, const struct dp_rtcp_out *r);
/* Round-trip time in microseconds from a report block (RFC 3550 §6.4.1: A − LSR − DLSR), −1 when LSR is 0. */
int64_t dp_rtcp_rtt_us(uint32_t ntp_short_now, uint32_t lsr, uint32_t dlsr);

/* analyze.c: SIP in a capture — UDP datagrams and TCP streams to or from the SIP port — read for SDES keys and
 * SDP formats.  dp_an_learn_sip takes a frame dp_parse gave verdict r; true when it was SIP signalling (consumed,
 * or counted as unreadable).  dp_an_keys_new: NULL when out of memory. */
struct an_keys;
struct an_keys *dp_an_keys_new(uint16_t sip_port);
void dp_an_keys_free(struct an_keys *k);
bool dp_an_learn_sip(struct an_keys *k, const struct dp_pkt *pk, enum dp_drop_reason r);

/* The dataplane's clock (clock.c).  dp_tsc_hz: the TSC's rate measured against CLOCK_MONOTONIC_RAW (once per
 * process, 0.1 s), not EAL's rounded estimate.  dp_clock_pair: a (TSC, clock id's ns) reading taken with nothing
 * between the two.  dp_wall_ns: the dataplane's time as CLOCK_REALTIME ns (what TX-time extensions and RTCP NTP
 * timestamps carry), valid after dp_start(). */
uint64_t dp_tsc_hz(void);
void dp_clock_pair(clockid_t id, uint64_t *tsc, uint64_t *ns);
uint64_t dp_wall_ns(void);

/* The dataplane's wall time, disciplined to CLOCK_REALTIME.  The TSC's rate is measured against the kernel's raw
 * clock, but CLOCK_REALTIME is NTP's (or PTP's): its rate differs from the raw clock's by what NTP corrects
 * (tens of ppm are common), so a wall time read once at start would leave the system clock by that much (20
 * ppm: 72 ms an hour) and bias the one-way delay two workers measure.  So lcore 0 reads (TSC, CLOCK_REALTIME)
 * once a second and dp_wall_discipline() steers: the rate follows the clock's over the last minute, an offset
 * is slewed out over the next second (the correction within ±500 ppm: wall time never jumps, never runs backwards), and
 * an offset over 100 ms (the clock was stepped) is taken at once and counted.  Readers on any thread
 * (dp_wall_at) use DPDK's seqlock.  One wall clock per process (dp_wall_init: at dp_start). */
void dp_wall_init(uint64_t now_ns, uint64_t real_ns);
uint64_t dp_wall_at(uint64_t now_ns);
void dp_wall_discipline(uint64_t now_ns, uint64_t real_ns);
struct dp_wall_stats {
	int64_t offset_ns; /* clock − ours at the last discipline */
	int64_t freq_ppb;  /* the clock's rate against ours */
	int64_t adj_ppb;   /* the correction in force: wall runs at 1 + adj_ppb / 1e9 of dataplane time */
	uint64_t steps;
};
void dp_wall_stats(struct dp_wall_stats *out);
/* Tests: dp_clock_pair's CLOCK_REALTIME comes from read (NULL: the kernel's again); set before dp_start. */
void dp_wall_source(int (*read)(struct timespec *ts));

#endif
