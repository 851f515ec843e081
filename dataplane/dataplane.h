/* dataplane/ — DPDK: EAL bring-up, port setup, and the polled lcores that carry media.
 *
 * The control plane calls these from the main lcore only.  Functions return 0 or a negative errno and leave a
 * one-line reason in the caller's buffer; burst functions (later) return counts. */
#ifndef CM_DATAPLANE_H
#define CM_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_ERR_MAX 256
#define DP_MAX_EAL_ARGS 64

struct dp_port_info {
	uint16_t port_id;
	char name[64];
	char driver[32];
	char mac[24];
	bool link_up;
	uint32_t speed_mbps;
	uint16_t rx_queues;
	uint16_t tx_queues;
	unsigned lcores; /* dataplane lcores polling it */
};

/* Splits `args` on white space (no quoting: paths with spaces are not supported in EAL arguments) and
 * initialises EAL; EAL's own log lines go through cm_log.  Call once per process. */
int dp_eal_init(const char *prog, const char *args, char *err, size_t errlen);
void dp_eal_cleanup(void);

/* Opens the port named `port_name` (a DPDK device name such as "net_ring0" or a PCI address; empty: the first
 * port), sets up one RX/TX queue pair per dataplane lcore, starts it and launches the lcore loops. */
int dp_start(const char *port_name, struct dp_port_info *info, char *err, size_t errlen);
/* Refreshes link state; false if the port is down or the lcores have stopped. */
bool dp_healthy(struct dp_port_info *info);
/* Stops the lcores (waits for them), then the port. */
void dp_stop(void);

/* Calls fn(name, value, arg) for every extended statistic of the port (imissed, rx_nombuf, errors and the
 * PMD's own), for the metrics exporter; returns how many, or −errno.  Control plane only (allocates). */
int dp_port_xstats(void (*fn)(const char *name, uint64_t value, void *arg), void *arg);

/* Packets and bytes received by all dataplane lcores since start (an eventually consistent read). */
void dp_rx_totals(uint64_t *packets, uint64_t *bytes);

/* ---- RX analysis: per-flow receive statistics (pure arithmetic, no DPDK) ------------------------------------
 * One struct dp_rx_stats per flow, updated once per received RTP packet by dp_rx_packet() on the lcore that owns
 * the flow.  It implements RFC 3550 A.1 (source validation with probation, 16-bit wrap into an extended
 * sequence number, resync after a jump larger than DP_RX_MAX_DROPOUT confirmed by a second packet), A.8
 * (interarrival jitter, computed in nanoseconds of arrival time), duplicate / out-of-order / late
 * classification in a 64-packet window behind the highest sequence number, RFC 3611 §4.7.2 burst/gap
 * accounting with Gmin, packet delay variation (max − min of the transit time relative to the first packet,
 * RFC 5481 "PDV"), SSRC changes and timestamp jumps.  dp_rx_report() turns the state into the metric keys of
 * DESIGN.md without changing it. */
#define DP_RX_MAX_DROPOUT 3000     /* RFC 3550 A.1 */
#define DP_RX_MAX_MISORDER 100     /* RFC 3550 A.1 */
#define DP_RX_MIN_SEQUENTIAL 2     /* RFC 3550 A.1: packets in sequence before a source is valid */
#define DP_RX_WINDOW 64            /* sequence numbers behind the highest one that are checked for duplicates */
#define DP_RX_GMIN 16              /* RFC 3611 §4.7.2 */
#define DP_RX_TS_JUMP_NS 1000000000LL /* |arrival delta − timestamp delta| above this is a timestamp jump */
#define DP_RX_PT_NONE 0xff

struct dp_rx_stats {
	/* What an in-order packet reads and writes (dp_rx_in_order): the first 56 bytes, which struct dp_flow puts
	 * in its cache line 0 after the lcore's own RX flags, so that such a packet costs the flow one line. */
	uint64_t last_arrival_ns;
	int64_t rel_transit_ns;    /* transit relative to the PDV reference packet (first, or after a jump) */
	uint32_t ssrc;
	uint32_t in_order;         /* in-order packets not yet added to packets, received, gap_pkts and seen
				    * (dp_rx_settle(); dp_rx_packet() and dp_rx_report() do it) */
	uint32_t bytes_lo;         /* RTP payload + header bytes (UDP payload): bytes_hi << 32 | bytes_lo */
	uint32_t clock_rate;       /* RTP clock; 0: unknown (no jitter, no PDV) */
	/* RFC 3550 A.8, in nanoseconds */
	uint32_t jitter_ns;
	uint32_t max_jitter_ns;
	uint32_t last_ts;
	int32_t pdv_min_us;        /* relative transit extremes; the reference packet is 0 */
	int32_t pdv_max_us;
	uint16_t max_seq;
	uint8_t pt;                /* payload type of the last media packet, whose clock clock_rate is (DP_RX_PT_NONE:
				    * none yet, or the flow's payload types changed since) */
	uint8_t slow;              /* no source yet, probation, an open burst candidate, no clock or a new one: every
				    * packet takes the general path (the in-order path's one test for all five) */
	/* The rest: packets that are not the next in order, sequence wraps, byte carries, timestamp jumps. */
	uint64_t seen;             /* bit i: extended max_seq − i was received */
	uint32_t bytes_hi;
	uint32_t cycles;
	uint32_t received;         /* validated packets, duplicates included (A.1) */
	uint32_t packets;          /* every RTP packet of the flow, probation and duplicates included */
	uint8_t probation;
	uint8_t have_ssrc;
	uint8_t clock_restart;     /* clock_rate changed: the next timed packet is the new A.8 / PDV reference */
	/* RFC 3611 burst / gap, in packets */
	uint8_t run;               /* received since the last loss of the open candidate burst (< DP_RX_GMIN) */
	uint32_t cand_lost;        /* losses of the candidate burst (0: none open) */
	uint32_t gap_pkts;
	uint32_t duplicates;
	uint32_t out_of_order;
	uint32_t base_seq;
	uint32_t bad_seq;
	int32_t lost_prior;        /* expected − received of earlier SSRCs and sequence resyncs */
	uint32_t expected_prior;
	uint32_t late;             /* behind the window: more than DP_RX_WINDOW sequence numbers late */
	uint32_t ssrc_changes;
	uint32_t seq_resets;
	uint32_t ts_jumps;
	uint32_t cand_pkts;
	uint32_t burst_pkts;
	uint32_t burst_lost;
	uint32_t bursts;
	uint32_t gap_lost;
};

struct dp_rx_report {
	uint32_t ssrc;
	uint64_t packets_received;
	uint64_t bytes_received;
	uint64_t expected;
	int64_t packets_lost;        /* expected − (received − duplicates), RFC 3550 A.3 without duplicates */
	double fraction_lost;        /* packets_lost / expected, 0 when nothing was expected */
	uint64_t duplicate_packets;
	uint64_t out_of_order_packets;
	uint64_t late_packets;
	uint64_t ssrc_changes;
	uint64_t sequence_number_resets;
	uint64_t timestamp_jumps;
	double jitter_ms;
	double max_jitter_ms;
	double pdv_ms;
	double burst_density;        /* lost / packets inside bursts */
	double gap_density;          /* lost / packets inside gaps */
	double burst_duration_ms;    /* mean, from packets × ptime */
	double gap_duration_ms;
	uint64_t last_arrival_ns;
};

void dp_rx_init(struct dp_rx_stats *st, uint32_t clock_rate);
/* One received RTP packet of the flow: sequence number, timestamp, SSRC, arrival time (ns, any epoch that is
 * monotonic for the flow) and UDP payload length.  It leaves every field up to date (in_order 0); the lcores'
 * inline in-order path (dp_rx_in_order) leaves packets, received, gap_pkts and seen behind by in_order until
 * the next dp_rx_settle(). */
void dp_rx_packet(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival_ns,
		  uint32_t len);
/* An RFC 4733 telephone-event packet of the flow: sequence accounting only, no jitter/PDV update. */
void dp_rx_event_packet(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival_ns,
			uint32_t len);
/* Before dp_rx_packet() for a media packet whose payload type pt is not st->pt: the clock its timestamps run at
 * (RFC 3550 §5.1: the clock is the payload format's; 0: unknown).  Another clock than the last restarts the A.8
 * and PDV reference at the next packet instead of mixing two clocks in one timestamp delta (a jitter or PDV
 * spike, or a counted timestamp jump, at every codec switch); an unknown one leaves its packets out of the
 * timing (sequence and loss only) until a known clock comes back. */
void dp_rx_payload_type(struct dp_rx_stats *st, uint8_t pt, uint32_t clock);
/* Adds the in-order packets counted since the last call to packets, received, gap_pkts and seen. */
void dp_rx_settle(struct dp_rx_stats *st);
static inline uint64_t dp_rx_bytes(const struct dp_rx_stats *st)
{
	return (uint64_t)st->bytes_hi << 32 | st->bytes_lo;
}
/* ptime_ms converts burst/gap lengths in packets to durations (0: durations are reported as 0). */
void dp_rx_report(const struct dp_rx_stats *st, double ptime_ms, struct dp_rx_report *out);
/* G.107 BurstR of the reported loss (1: random or none), estimated from the RFC 3611 burst/gap figures; the
 * receive side of a call and `analyze` both use it. */
double dp_rx_burst_r(const struct dp_rx_report *r, double ptime_ms);

/* ---- packet classification ---------------------------------------------------------------------------------
 * Every reason a received packet is not analysed, from one list: the counters, their names in metrics and
 * JSON, and the parser's return values all come from it. */
#define DP_DROP_REASONS(X)                                                                                     \
	X(truncated, "shorter than the headers it announces")                                                  \
	X(not_ipv4, "not IPv4 (after an optional 802.1Q tag)")                                                 \
	X(arp, "ARP not for an owned media IP, or ARP handling off")                                          \
	X(ip_bad_header, "IPv4 version, header length or total length wrong")                                 \
	X(ip_bad_checksum, "IPv4 header checksum wrong")                                                      \
	X(ip_fragment, "IPv4 fragment (RTP is never fragmented here)")                                        \
	X(not_udp, "IPv4 but not UDP")                                                                        \
	X(udp_bad_length, "UDP length disagrees with the IP length")                                          \
	X(udp_bad_checksum, "UDP checksum wrong")                                                             \
	X(vlan_mismatch, "802.1Q tag other than the configured one")                                          \
	X(not_media_ip, "destination is not one of the media IPs")                                            \
	X(unknown_port, "no flow on the destination UDP port")                                                \
	X(rtp_bad_version, "RTP version is not 2")                                                            \
	X(rtp_truncated, "RTP header, CSRC list, extension or padding longer than the packet")                \
	X(rtcp, "RTCP not for a flow of this lcore (passive analysis: RTCP is not analysed)")                  \
	X(rtcp_bad, "malformed RTCP compound packet")                                                         \
	X(flow_table_full, "passive mode: no free flow slot for a new stream")                                \
	X(srtp_auth_fail, "SRTP/SRTCP authentication tag wrong")                                              \
	X(srtp_replay, "SRTP/SRTCP packet replayed (or too old for the replay window)")                       \
	X(other_lcore, "flow owned by another lcore")

enum dp_drop_reason {
	DP_DROP_NONE = 0,
#define DP_DROP_ENUM(name, text) DP_DROP_##name,
	DP_DROP_REASONS(DP_DROP_ENUM)
#undef DP_DROP_ENUM
	DP_DROP__COUNT
};
const char *dp_drop_name(enum dp_drop_reason r);
const char *dp_drop_text(enum dp_drop_reason r);

/* A parsed RTP packet: addresses and ports in host order, pointers into the packet. */
struct dp_pkt {
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	uint16_t vlan;          /* VLAN id, 0 when untagged */
	uint16_t udp_len;       /* UDP payload bytes */
	uint8_t pt;
	uint8_t marker;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	uint8_t *udp_payload;   /* the RTP (or RTCP) packet; set for every UDP datagram whose headers parsed (the
				 * results NONE, rtcp, rtp_bad_version, rtp_truncated) */
	const uint8_t *l4;      /* the IPv4 payload and its protocol: set (with the addresses) once an unfragmented */
	uint16_t l4_len;        /* IPv4 header parsed, so that not_udp packets (analyze: SIP over TCP) can be read */
	uint8_t ip_proto;
	const uint8_t *payload; /* after the RTP header, CSRCs and extension */
	uint16_t payload_len;   /* without padding */
};

/* Parses Ethernet [802.1Q] IPv4 UDP RTP in `len` bytes.  verify_csum: check the IPv4 and UDP checksums in
 * software (false when the NIC has already checked them).  Returns DP_DROP_NONE or the reason to drop. */
enum dp_drop_reason dp_parse(const uint8_t *frame, uint32_t len, bool verify_csum, struct dp_pkt *out);

/* ---- flows, commands, events, counters ---------------------------------------------------------------------
 * Flows live in one preallocated array addressed by index (the control plane picks the index, e.g. the
 * endpoint number); flow i belongs to dataplane lcore i % lcores.  A received packet finds its flow through
 * (media IP index, destination UDP port) → index in one array read: O(1).  Everything a dataplane lcore changes
 * is changed through its command ring; the control plane reads flow state through dp_flow_snapshot(). */
#define DP_MAX_MEDIA_IPS 64
#define DP_MAX_IMPAIR 16          /* impairment profiles; profile 0 applies to every flow that names none */
#define DP_MIN_FLOWS_MAX 1000000  /* the capacity the design is sized for */
#define DP_PTIME_MAX_MS 200

struct codec_frame_cache;

enum dp_flow_dir { DP_FLOW_SEND = 1u << 0, DP_FLOW_RECV = 1u << 1 };

/* SDES-SRTP (RFC 4568) master keys: 16-byte key + 14-byte salt per direction. */
enum dp_srtp_suite { DP_SRTP_AES_CM_128_HMAC_SHA1_80 = 1, DP_SRTP_AES_CM_128_HMAC_SHA1_32 };
#define DP_SRTP_KEY_LEN 30
#define DP_SRTP_B64_LEN 40        /* DP_SRTP_KEY_LEN bytes of key||salt in base64, as a=crypto writes them */
/* DP_SRTP_B64_LEN base64 characters → key||salt; false when it is not exactly that. */
bool dp_srtp_key_from_b64(const char *b64, size_t len, uint8_t key[DP_SRTP_KEY_LEN]);
struct dp_srtp_keys {
	uint8_t suite;            /* enum dp_srtp_suite */
	uint8_t tx_key[DP_SRTP_KEY_LEN];
	uint8_t rx_key[DP_SRTP_KEY_LEN];
};

struct dp_flow_params {
	uint32_t local_ip;        /* one of the media IPs (host order) */
	uint16_t local_port;
	uint16_t remote_port;
	uint32_t remote_ip;
	uint8_t remote_mac[6];    /* next hop; all zero: resolved by ARP (via the gateway when off-link) */
	uint8_t dir;              /* enum dp_flow_dir: hold is DP_FLOW_RECV only, inactive 0 */
	uint8_t dscp;
	int16_t payload_type;     /* −1: the frame cache's */
	uint16_t ptime_ms;        /* TX interval; 0: the cache's */
	uint32_t ssrc;
	uint32_t clock_rate;      /* RX clock (jitter); 0: the cache's */
	uint16_t seq0;            /* first sequence number */
	uint8_t impair;           /* impairment profile, 0: the all-flows one */
	uint8_t dtmf_pt;          /* telephone-event payload type (RFC 4733) both ways, 0: none */
	uint8_t owd_ext_id;       /* RFC 8285 extension id (1..14) carrying the TX time both ways, 0: none */
	uint32_t ts0;             /* first timestamp */
	const struct codec_frame_cache *cache; /* TX payloads; NULL: receive only */
	const struct dp_srtp_keys *srtp;       /* NULL: plain RTP/RTCP (copied at dp_flow_add) */
};

/* TX impairment, seeded and deterministic: every decision for packet k of flow f is a hash of (seed, f, k), so
 * a run replays exactly.  Probabilities in parts per million. */
struct dp_impair {
	uint32_t loss_ppm;        /* independent loss */
	uint32_t ge_p_ppm;        /* Gilbert–Elliott: good → bad per packet (0: off) */
	uint32_t ge_r_ppm;        /*                   bad → good per packet */
	uint32_t ge_loss_bad_ppm; /*                   loss probability in the bad state */
	uint32_t dup_ppm;         /* send the packet twice */
	uint32_t reorder_ppm;     /* swap the packet with the next one */
	uint32_t jitter_us;       /* extra delay, uniform in [0, jitter_us] (packets keep their order) */
	uint64_t seed;
};

/* Hot per-flow state: RX analysis and TX generation on one cache-aligned record of four lines.  RX touches the
 * first two only (its flags, then the in-order part of dp_rx_stats), TX the last two only (its own copies of the
 * flags both use), so that a received packet costs two cache misses at most, and a sent one one (line 3) when it
 * is plain, two otherwise. */
struct dp_flow {
	/* RX: line 0 holds all that an in-order packet reads and writes (these flags and the first 56 bytes of rx),
	 * line 1 and the start of line 2 the rest of rx */
	uint8_t rx_srtp;          /* copies of srtp and owd_ext below, for the RX path */
	uint8_t rx_owd_ext;
	uint8_t dtmf_pt;          /* telephone-event payload type (RFC 4733), 0: none */
	uint8_t silent;
	/* read only by commands and snapshots: kept out of the TX lines */
	uint16_t ptime_ms;
	uint8_t ip_idx;
	uint8_t rx_pad;
	struct dp_rx_stats rx;
	/* TX: the rest of line 2, and line 3.  Line 3 holds all that a plain packet (tx_plain: audio, no SRTP, DTMF,
	 * extension, impairment or ARP) reads and writes, so that sending one costs the flow a single cache line;
	 * the rest of line 2 what only the other packets, the commands and the timing wheel need. */
	uint32_t tx_bytes_hi;     /* bytes sent: tx_bytes_hi << 32 | tx_bytes_lo (dp_flow_tx_bytes()) */
	uint32_t delay_tsc;       /* impairment delay of the next packet; it leaves at nominal_tsc + delay_tsc */
	uint32_t tx_unsent;       /* tx_index − packets sent (dp_flow_tx_packets()): frames lost, skipped or not
				   * built, less duplicates and DTMF packets, so that a plain packet adds only to
				   * tx_index */
	uint8_t dir, active, ge_bad, held; /* held: reordering keeps an mbuf in the cold state */
	uint8_t in_wheel;         /* where it is scheduled: 0 nowhere, 1 the timing wheel, 2 + k the periodic
				   * schedule's class k (at the phase nominal_tsc has in the period) */
	uint8_t mac_ok;           /* remote_mac known (1 given, 2 resolved by ARP) */
	uint8_t srtp;             /* SRTP sessions in the cold state */
	uint8_t dtmf;             /* an event is being sent (its state is in the cold state) */
	uint8_t owd_ext;          /* RFC 8285 TX-time extension id, 0: none */
	/* line 3 */
	uint64_t nominal_tsc __attribute__((aligned(64))); /* next packet's schedule */
	/* The header fields a flow sends with, in network byte order and in the order the packet has them: the
	 * IPv4 source and destination, then the UDP ports (IPv4 header bytes 12-19, UDP header bytes 0-3), then
	 * the SSRC — a plain packet copies them as they are.  Read and set them with dp_flow_local_ip() and the
	 * others below. */
	uint32_t local_ip_be, remote_ip_be;
	uint16_t local_port_be, remote_port_be;
	uint32_t ssrc_be;
	uint32_t ptime_tsc;
	uint32_t tx_index;        /* frames scheduled so far (DTX included): the impairment counter */
	uint32_t tx_bytes_lo;
	uint32_t ts;
	uint32_t frame;
	uint16_t cache_id;        /* the frame cache and its payload sums, in the dataplane's table; 0: none */
	uint16_t seq;
	/* The per-flow constant parts of the IPv4 header and UDP checksums (dp_flow_csum_prepare(), after any
	 * change to dscp, the addresses, the ports, pt or ssrc): a packet adds only what changes in it. */
	uint16_t csum_ip, csum_udp;
	uint8_t remote_mac[6];    /* followed by two bytes of this line: a plain packet reads the MAC as 8 bytes */
	uint8_t pt, dscp, impair;
	uint8_t tx_slow;          /* anything of line 2 that keeps the flow off tx_plain: not active or sending, no
				   * cache, SRTP, DTMF, extension, a held packet, an impairment delay, a MAC not given
				   * or our own (tx_slow_update() after any of them changes) */
} __attribute__((aligned(64)));

/* A flow's addresses, ports and SSRC in host byte order. */
static inline uint32_t dp_flow_local_ip(const struct dp_flow *f)
{
	return __builtin_bswap32(f->local_ip_be);
}

static inline uint32_t dp_flow_remote_ip(const struct dp_flow *f)
{
	return __builtin_bswap32(f->remote_ip_be);
}

static inline uint16_t dp_flow_local_port(const struct dp_flow *f)
{
	return __builtin_bswap16(f->local_port_be);
}

static inline uint16_t dp_flow_remote_port(const struct dp_flow *f)
{
	return __builtin_bswap16(f->remote_port_be);
}

static inline uint32_t dp_flow_ssrc(const struct dp_flow *f)
{
	return __builtin_bswap32(f->ssrc_be);
}

/* Sets them (then dp_flow_csum_prepare()). */
static inline void dp_flow_set_local(struct dp_flow *f, uint32_t ip, uint16_t port)
{
	f->local_ip_be = __builtin_bswap32(ip);
	f->local_port_be = __builtin_bswap16(port);
}

static inline void dp_flow_set_remote(struct dp_flow *f, uint32_t ip, uint16_t port)
{
	f->remote_ip_be = __builtin_bswap32(ip);
	f->remote_port_be = __builtin_bswap16(port);
}

static inline void dp_flow_set_ssrc(struct dp_flow *f, uint32_t ssrc)
{
	f->ssrc_be = __builtin_bswap32(ssrc);
}

enum dp_event_type { DP_EV_FIRST_PACKET = 1, DP_EV_SSRC_CHANGE, DP_EV_SILENT, DP_EV_DTMF };
struct dp_event {
	uint32_t type;
	uint32_t flow;
	uint32_t ssrc;            /* DP_EV_DTMF: the RFC 4733 event code (0-9, 10 '*', 11 '#', 12-15 A-D) */
	uint64_t t_ns;
};

/* A consistent copy of one flow, for reports. */
struct dp_flow_snapshot {
	struct dp_rx_stats rx;
	uint64_t tx_packets, tx_bytes;
	uint64_t imp_lost, imp_dup, imp_reordered;
	uint16_t ptime_ms;
	uint8_t active;
	bool srtp;                 /* the flow protects and authenticates its packets (SRTP sessions set) */
	/* RTCP (RFC 3550 §6.4): what we sent and received, and the remote's report about our stream */
	uint32_t rtcp_sent, rtcp_received;
	int64_t rtt_us;            /* −1 until a report block with LSR arrived */
	bool remote_report;
	uint8_t remote_fraction_lost; /* 8-bit fixed point, as on the wire */
	int32_t remote_cum_lost;
	uint32_t remote_jitter;    /* RTP timestamp units */
	uint32_t dtmf_sent, dtmf_received; /* RFC 4733 events */
	uint8_t dtmf_last;         /* the last event code received */
	/* one-way delay from the peer's RFC 8285 TX-time extension (clocks synchronised by NTP/PTP) */
	uint64_t owd_count;
	int64_t owd_min_us, owd_max_us, owd_sum_us;
};

struct dp_config {
	uint32_t max_flows;
	uint32_t media_ips[DP_MAX_MEDIA_IPS]; /* host order; none: every destination IP is ours (index 0) */
	unsigned n_media_ips;
	uint32_t silent_ms;                   /* DP_EV_SILENT after this long without packets (0: never) */
	uint32_t ring_size;                   /* command and event ring entries per lcore */
	uint32_t gateway_ip;                  /* next hop for remote IPs outside prefix_len (0: all on-link) */
	uint8_t prefix_len;
	uint16_t vlan;                        /* 802.1Q VLAN id of the media IPs (0: untagged) */
	uint32_t arp_entries;                 /* ARP cache size (a power of two) */
	uint32_t rtcp_interval_ms;            /* RTCP report interval (RFC 3550 §6.2 minimum 5 s); 0: no RTCP */
	unsigned lcores;                      /* dataplane lcores, at most: 0 every EAL worker lcore */
};
void dp_config_default(struct dp_config *cfg);
/* Before dp_start(): allocates the flow table and port map.  0 or −errno with a reason in err. */
int dp_configure(const struct dp_config *cfg, char *err, size_t errlen);

/* Control plane → dataplane (main lcore only).  0, −EINVAL (bad index/parameters), −ENOBUFS (ring full: retry
 * later), −ENODEV (not started). */
int dp_flow_add(uint32_t flow, const struct dp_flow_params *p);
/* Modify: remote, direction, payload, DSCP... from p; another cache or ptime (a codec change) sends the new frames
 * at the new interval from the next packet: due within one new interval for a flow on the periodic schedule, at
 * its old time for one on the timing wheel (impaired, or every class taken).  p->srtp NULL keeps the flow's SRTP as it is; keys re-key
 * each direction whose key (or suite) changed, the others keep their sessions: TX protects with the new key from
 * its next packet; RX authenticates with the new key and falls back to the previous one (packets the peer sent
 * before it switched) until 128 packets (the replay window) have passed with the new key.  A plain flow given keys
 * becomes SRTP. */
int dp_flow_modify(uint32_t flow, const struct dp_flow_params *p);
int dp_flow_delete(uint32_t flow);
/* Sends RFC 4733 event `event` (0..15) for duration_ms on a flow with a dtmf_pt, instead of its audio; the
 * audio timestamp keeps running.  −EINVAL for a flow without dtmf_pt (checked by the lcore: counted). */
int dp_dtmf_send(uint32_t flow, uint8_t event, uint16_t duration_ms, uint8_t volume);
/* profile 0: flows without their own profile; 1..DP_MAX_IMPAIR−1: flows that name it. */
int dp_impair_set(unsigned profile, const struct dp_impair *im);
/* Flow counters, consistent per flow: the owning lcores copy them at the end of a pass (a bounded number a pass)
 * while the caller waits — a reader never races an lcore that changes them, and at millions of packets a second
 * there is no quiet moment to read them otherwise.  Batch the per-second reads of many flows into one call:
 * each lcore serves its own of flows[0..n) into out[] (indexes past max_flows are skipped), in a few passes,
 * after the commands sent before the call (dp_flow_delete, then a read: every packet the flow sent).
 * 0, −EINVAL (a single flow out of range, or not configured), −ENOMEM, or −ETIMEDOUT when an lcore has been
 * inside one pass for 2 s (a dataplane bug: the control plane reports it instead of hanging with it). */
int dp_flow_snapshot(uint32_t flow, struct dp_flow_snapshot *out);
int dp_flow_snapshot_many(const uint32_t *flows, uint32_t n, struct dp_flow_snapshot *out);
/* Events from every lcore; returns how many were written. */
unsigned dp_events_poll(struct dp_event *ev, unsigned max);
/* Sums over lcores. */
void dp_drop_totals(uint64_t counts[DP_DROP__COUNT]);
void dp_tx_totals(uint64_t *packets, uint64_t *bytes, uint64_t *no_mbuf, uint64_t *ring_full);
struct dp_proto_totals {
	uint64_t arp_requests_answered, arp_learned, arp_requests_sent, icmp_echo_answered;
	uint64_t tx_no_arp;       /* packets not sent: next hop not resolved yet */
	uint64_t arp_retries;     /* requests again for a next hop that did not answer (1 s, 2 s, 4 s, then 8 s) */
	uint64_t tx_late_skipped; /* frames not sent: their flow was over 1 s behind (lcore or port stalled) */
	uint64_t tx_srtp_fail;    /* packets libsrtp refused to protect */
	uint64_t rx_srtp_prev_key; /* SRTP/SRTCP authenticated with the key before a re-key (sent before the peer switched) */
	uint64_t rx_steered;      /* packets received by one lcore for a flow of another, handed over */
	uint64_t events_lost;
	uint64_t local_delivered; /* packets for one of our own media IPs, received without leaving the port */
	uint64_t tx_periodic_flows; /* flows on the periodic schedule now (the others that send: the timing wheel) */
	uint64_t wall_clock_steps; /* CLOCK_REALTIME was stepped (> 100 ms) and the dataplane's wall time with it:
				    * one-way delays and RTCP times across a step are not comparable */
};
void dp_proto_totals(struct dp_proto_totals *out);
/* The port's own counters (rte_eth_stats): packets the NIC/PMD dropped before the lcores saw them. */
struct dp_port_counters {
	uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf;
};
int dp_port_counters(struct dp_port_counters *out);
/* Sends one frame (at most DP_INJECT_MAX bytes) on the port from lcore 0: tests, and control-plane probes. */
#define DP_INJECT_MAX 128
int dp_inject(const uint8_t *frame, uint16_t len);
/* True when every lcore has processed every command sent so far. */
bool dp_commands_done(void);
/* Before a frame cache is freed, every flow sending from it deleted: what the dataplane keeps for it (its payload
 * checksums) goes too, once the lcores have applied the deletes, so that a later cache at the same address is
 * not taken for it (a daemon's parts come and go). */
void dp_cache_forget(const struct codec_frame_cache *c);
/* The port's MAC address (valid after dp_start). */
void dp_port_mac(uint8_t mac[6]);
size_t dp_flow_hot_bytes(void);

/* TX pacing: |actual − scheduled| send time of every packet.  Buckets: 1000 of DP_PACING_FINE_NS up to 100 µs,
 * then 1000 of DP_PACING_COARSE_NS up to 100.1 ms, then one for everything beyond; plus the maximum. */
#define DP_PACING_BUCKETS 2001
#define DP_PACING_FINE_NS 100
#define DP_PACING_COARSE_NS 100000
struct dp_pacing {
	uint64_t hist[DP_PACING_BUCKETS];
	uint64_t max_ns;
	uint64_t count;
};
void dp_pacing_get(struct dp_pacing *out);
/* Counts one send time error of late_ns in p, in the lcores' buckets (for a reference measured elsewhere). */
void dp_pacing_add(struct dp_pacing *p, uint64_t late_ns);
/* The p-th percentile (0..100) in nanoseconds (bucket upper bound). */
uint64_t dp_pacing_percentile(const struct dp_pacing *p, double pct);

/* Passive analysis of a capture (callmeter-worker analyze FILE.pcap [--json-summary FILE]). */
int dp_analyze_main(int argc, char **argv);

#endif
