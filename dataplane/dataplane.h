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

struct dp_rx_stats {
	/* RFC 3550 A.1 */
	uint32_t ssrc;
	uint16_t max_seq;
	uint8_t probation;
	uint8_t have_ssrc;
	uint32_t cycles;
	uint32_t base_seq;
	uint32_t bad_seq;
	uint32_t received;         /* validated packets, duplicates included (A.1) */
	int32_t lost_prior;        /* expected − received of earlier SSRCs and sequence resyncs */
	uint32_t expected_prior;
	uint64_t seen;             /* bit i: extended max_seq − i was received */
	uint32_t packets;          /* every RTP packet of the flow, probation and duplicates included */
	uint32_t duplicates;
	uint32_t out_of_order;
	uint32_t late;             /* behind the window: more than DP_RX_WINDOW sequence numbers late */
	uint32_t ssrc_changes;
	uint32_t seq_resets;
	uint32_t ts_jumps;
	uint32_t clock_rate;       /* RTP clock; 0: unknown (no jitter, no PDV) */
	/* RFC 3550 A.8, in nanoseconds */
	uint32_t jitter_ns;
	uint32_t max_jitter_ns;
	uint32_t last_ts;
	int32_t pdv_min_us;        /* relative transit extremes; the reference packet is 0 */
	uint64_t last_arrival_ns;
	uint64_t ref_arrival_ns;   /* PDV reference: first packet (or the one after a timestamp jump) */
	int64_t ts_elapsed;        /* RTP ticks since the PDV reference */
	int32_t pdv_max_us;
	/* RFC 3611 burst / gap, in packets */
	uint32_t run;              /* received since the last loss of the open candidate burst */
	uint32_t cand_lost;        /* losses of the candidate burst (0: none open) */
	uint32_t cand_pkts;
	uint32_t burst_pkts;
	uint32_t burst_lost;
	uint32_t bursts;
	uint32_t gap_pkts;
	uint32_t gap_lost;
	uint64_t bytes;            /* RTP payload + header bytes (UDP payload) */
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
 * monotonic for the flow) and UDP payload length. */
void dp_rx_packet(struct dp_rx_stats *st, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival_ns,
		  uint32_t len);
/* ptime_ms converts burst/gap lengths in packets to durations (0: durations are reported as 0). */
void dp_rx_report(const struct dp_rx_stats *st, double ptime_ms, struct dp_rx_report *out);

#endif
