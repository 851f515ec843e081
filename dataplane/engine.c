/* The dataplane lcores: RX classify + per-flow analysis, the TX timing wheel, the impairment stage, and the
 * control plane's side of the command/event rings and counter snapshots.
 *
 * Hot path rules: bursts of DP_BURST, no allocation (mbufs come from the mempool), no syscalls, no locks, only
 * rate-limited logging, every drop counted by reason.  Each lcore owns flows i with i % lcores == its slot and
 * is the only writer of their state; the control plane reads flow counters by asking the owning lcores to copy
 * them at the end of a pass (dp_flow_snapshot_many), never by reading state an lcore may be changing. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_malloc.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <srtp2/srtp.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane_internal.h"

#define DP_BURST 32
#define DP_TX_BUDGET 256          /* packets built per loop pass before RX is polled again */
#define DP_RX_BURSTS 16           /* RX bursts per loop pass at most: RX drains what TX sent (loopback ports) */
#define DP_TXQ_MAX 128            /* frames queued for the port: a burst, plus what a busy port has not taken */
#define DP_LOCAL_MAX 512          /* frames for our own MAC waiting for the next pass's RX */
#define DP_CMDS_PER_PASS 32
#define DP_SNAP_PER_PASS 256       /* flows a pass copies for a batched snapshot (dp_flow_snapshot_many) */
#define DP_SCAN_MAX 64            /* flows checked for silence and RTCP per loop pass, at most */
#define DP_RTCP_PER_PASS 4        /* RTCP reports built per loop pass, at most: a sweep that finds many due
				   * does not hold up the wheel (the rest wait for the next passes) */
#define DP_SCAN_PARTS 8           /* ... at a rate that visits every flow of the lcore 8 times per silence
				   * threshold or RTCP interval (the shorter), but at least every 250 ms: an event
				   * or report is late by an eighth of it at most, and with the 5 s defaults a
				   * million flows are swept every 625 ms, not four times a second */
#define DP_SCAN_SWEEP_MIN_NS 250000000ull
#define DP_WALL_EVERY_NS 1000000000ull /* lcore 0 steers the wall clock to CLOCK_REALTIME this often */
#define DP_SCAN_AHEAD 4           /* flows the sweep prefetches for the next passes */
#define NTP_UNIX_OFFSET 2208988800ull
#define DP_WHEEL_SPAN_NS 1100000000ull /* > DP_PTIME_MAX_MS + the largest impairment delay */
#define DP_JITTER_MAX_US 500000
#define DP_TX_SKIP_NS 1000000000ull /* a flow this far behind skips to the present (tx_skip) */
#define DP_SUMS_EXTRA 3           /* entries after a cache's payload sums (cache_id_of) */
#define DP_MAX_CACHES 1024        /* distinct frame caches the flows send from */
#define DP_SRTP_WINDOW 128        /* RX replay window (packets) of a flow's SRTP session */
#define DP_IP_SLOTS_LOG2 8
#define DP_IP_SLOTS (1u << DP_IP_SLOTS_LOG2)
_Static_assert(DP_IP_SLOTS >= 4 * DP_MAX_MEDIA_IPS, "media IP table at most a quarter full");

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "dp_flow_local_ip() and the TX builders swap bytes");
_Static_assert(offsetof(struct dp_flow, remote_mac) + 8 <= sizeof(struct dp_flow), "the MAC is read as 8 bytes");
_Static_assert(offsetof(struct dp_flow, remote_ip_be) == offsetof(struct dp_flow, local_ip_be) + 4 &&
		       offsetof(struct dp_flow, local_port_be) == offsetof(struct dp_flow, local_ip_be) + 8 &&
		       offsetof(struct dp_flow, remote_port_be) == offsetof(struct dp_flow, local_ip_be) + 10,
	       "addresses and ports in the packet's order");
_Static_assert(sizeof(struct dp_flow) <= 256, "hot per-flow state must stay within 256 bytes");
_Static_assert(DP_MAX_IMPAIR <= 16, "impair_on holds one bit per profile");
_Static_assert(offsetof(struct dp_flow, rx.seen) == 64, "what an in-order packet touches sits in line 0");
_Static_assert(offsetof(struct dp_flow, tx_bytes_hi) >= 128, "the TX state must sit in lines 2-3");
_Static_assert(offsetof(struct dp_flow, nominal_tsc) == 192, "what a plain packet touches sits in line 3");

enum dp_cmd_type { DP_CMD_ADD = 1, DP_CMD_MODIFY, DP_CMD_DELETE, DP_CMD_IMPAIR, DP_CMD_INJECT, DP_CMD_DTMF };
#define DP_DTMF_END_PACKETS 3     /* RFC 4733 §2.5.1.4: the final packet is sent three times */
#define DP_ARP_RECHECK_PKTS 256   /* a resolved flow checks its entry's age every 256 packets */
#define DP_ARP_RETRY_NS 1000000000ull /* a next hop that does not answer is asked again after 1 s, */
#define DP_ARP_BACKOFF_MAX 3      /* doubling 3 times at most: every 8 s while it stays silent */
#define DP_ARP_ASKED 256          /* next hops asked for, per lcore (a power of two); DP_ARP_PROBE slots each */

/* One next hop an lcore asked for: requests go per next hop and in time, not per flow and packet (RFC 1122
 * §2.3.2.1: at most one per second per address), however many flows wait on it. */
struct dp_arp_asked {
	uint32_t ip;              /* 0: free */
	uint32_t tries;           /* requests since the last start over */
	uint64_t last_ns;         /* the last request */
};

struct dp_cmd {
	uint32_t type;
	uint32_t flow;
	uint16_t cache_id;        /* the flow's frame cache in g.sums[] */
	srtp_t srtp_tx, srtp_rx;
	union {
		struct dp_flow_params fp;
		struct dp_impair im;
		struct {
			uint16_t len;
			uint8_t data[DP_INJECT_MAX];
		} frame;
		struct {
			uint8_t event, volume;
			uint16_t duration_ms;
		} dtmf;
	} u;
};

/* A timing-wheel slot is a list of chunks of flow indices: one cache line holds 13 flows, so a slot's flows
 * can be prefetched together instead of chasing a pointer through every flow record. */
#define DP_CHUNK_FLOWS 13
struct dp_wheel_chunk {
	uint32_t next;            /* chunk index + 1 */
	uint32_t next2;           /* next's next when this chunk became its slot's head: prefetched two ahead */
	uint32_t n;
	uint32_t idx[DP_CHUNK_FLOWS];
};
_Static_assert(sizeof(struct dp_wheel_chunk) == 64, "one cache line per chunk");

/* The periodic schedule (tx_run): a flow of constant ptime keeps its phase within the period, so it is not
 * re-inserted anywhere after each packet.  One class per ptime (at most DP_PCLASSES per lcore); a class's period
 * is split into DP_PSLOTS slots, each a fixed-capacity array of (phase, flow) entries sorted by phase, which a
 * walker reads in order lap after lap. */
#define DP_PCLASSES 4
#define DP_PSLOTS_LOG2 12
#define DP_PSLOTS (1u << DP_PSLOTS_LOG2)
struct dp_pent {
	uint32_t phase;           /* TSC ticks after the start of the period */
	uint32_t idx;
};
struct dp_pclass {
	uint32_t period;          /* TSC ticks: the ptime_tsc of its flows; 0: unused */
	uint32_t flows;           /* entries in all slots (0: the class may be given another period) */
	uint64_t epoch;           /* TSC at the start of the walker's lap */
	uint32_t cur_slot, cur_i; /* the walker: the next entry to look at */
	uint16_t *n;              /* entries per slot */
	struct dp_pent *e;        /* DP_PSLOTS × g.pcap entries */
};

/* Cold per-flow state: touched when the impairment stage acts and for RTCP (every few seconds). */
struct dp_flow_cold {
	void *held;               /* reordering: the mbuf sent after the next one */
	uint32_t imp_lost, imp_dup, imp_reordered;
	uint32_t rtcp_sent, rtcp_received;
	uint32_t lsr;             /* middle 32 bits of the last SR's NTP time, 0: none */
	uint64_t lsr_arrival_ns;
	uint64_t next_rtcp_ns;
	uint64_t exp_at_report;   /* expected / received at our last report, for its fraction lost */
	uint64_t rcv_at_report;
	uint32_t tx_at_report;    /* RTP packets sent at our last report: SR if we sent since */
	int32_t rtt_us;           /* −1: none yet */
	int32_t remote_cum_lost;
	uint32_t remote_jitter;
	uint8_t remote_fraction;
	uint8_t remote_report;
	srtp_t srtp_tx, srtp_rx;  /* created and freed by the control plane */
	srtp_t srtp_rx_prev;      /* the RX session before a re-key: packets the peer sent before it switched */
	uint32_t srtp_prev_left;  /* packets to authenticate with the new RX session before the previous is let go */
	/* RFC 4733: the event being sent, and the last one received */
	uint32_t dtmf_ts, dtmf_total, dtmf_elapsed, dtmf_rx_ts;
	uint32_t dtmf_sent, dtmf_received;
	uint8_t dtmf_event, dtmf_volume, dtmf_ends, dtmf_rx_seen, dtmf_last;
	uint32_t owd_count;
	int32_t owd_min_us, owd_max_us;
	int64_t owd_sum_us;
	/* RX: the payload types the flow was given and their clocks, the current one's first, then the one before
	 * (packets the peer sends before it switches too); DP_RX_PT_NONE: none given */
	uint8_t rx_pt[2];
	uint32_t rx_clock[2];
};

/* A received packet between the stages of the RX pipeline (rx_process). */
struct dp_rx_slot {
	struct rte_mbuf *m;
	uint32_t fid;             /* its port map key once classified, its flow once looked up */
	uint64_t at;              /* arrival, ns */
	struct dp_pkt pk;
};
struct dp_rx_stage {
	uint16_t n;
	struct dp_rx_slot s[DP_BURST];
};

struct dp_lcore {
	/* written by the lcore, read by the control plane */
	uint64_t cmds_done;
	uint64_t drops[DP_DROP__COUNT];
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes, tx_nombuf, tx_full, events_lost;
	uint64_t arp_answered, arp_learned, arp_sent, icmp_answered, tx_no_arp, tx_srtp_fail, dtmf_refused;
	uint64_t arp_retries;     /* requests for a next hop that did not answer the previous one */
	uint64_t rx_srtp_prev_key;
	uint64_t tx_skipped;      /* frames a stalled flow skipped (tx_skip) */
	uint64_t rx_steered;      /* packets handed to the lcore that owns their flow */
	uint64_t pace_max_ns;
	uint64_t pace_hist[DP_PACING_BUCKETS]; /* 64-bit: a bucket of a 32-bit one wraps after ~150 s at line rate */
	clockid_t cpu_clock;      /* the lcore thread's CPU time (snap_wait tells stuck from descheduled) */
	bool has_cpu_clock;       /* set (release) once cpu_clock is */
	/* the lcore's own */
	struct rte_ring *cmd, *evt;
	uint32_t *wheel;          /* slot → chunk index + 1 of its first chunk */
	struct dp_wheel_chunk *chunks;
	uint32_t free_chunk;      /* free list: chunk index + 1 */
	uint64_t wheel_pos;
	struct dp_pclass pclass[DP_PCLASSES];
	struct dp_pent *pent;     /* the classes' entries, DP_PSLOTS × g.pcap each */
	uint16_t *pcount;         /* their slot counts, DP_PSLOTS each */
	unsigned pclass_first;    /* the class a pass starts with, in turn: none starves the others */
	struct rte_mbuf *stash[DP_BURST];
	unsigned nstash;
	/* RX software pipeline (rx_process): the burst before, classified, its port map entries prefetched, is
	 * looked up in the next call; the one before that, looked up, its flows' line 0 prefetched, is accounted */
	struct dp_rx_stage *rx_keyed, *rx_found, *rx_spare;
	struct dp_rx_stage rx_stages[3];
	uint32_t silent_next;
	uint64_t scan_last_ns;
	uint64_t scan_credit;     /* flows owed to the sweep, × g.scan_sweep_ns */
	uint32_t spread_k;
	uint16_t queue;
	uint16_t ip_id;
	unsigned slot;
	struct dp_impair impair[DP_MAX_IMPAIR];
	uint16_t impair_on;       /* bit p: profile p impairs anything (one test per packet instead of five) */
	struct rte_mbuf *txq[DP_TXQ_MAX];
	unsigned ntx;
	bool txq_maybe_local;     /* a frame in txq may be for our own MAC (tx_keep_local has not looked) */
	struct dp_arp_asked arp_asked[DP_ARP_ASKED];
	/* frames addressed to our own MAC (media from one of our addresses to another): a NIC would put them on
	 * the wire, where no switch sends them back, so they are received here instead, in the next pass */
	struct rte_mbuf *local[DP_LOCAL_MAX];
	unsigned nlocal;
	uint64_t local_delivered;
	struct cm_ratelimit rl;
	/* batched snapshot (dp_flow_snapshot_many): the lcore copies its flows between passes */
	uint32_t snap_pos;        /* next request entry to look at */
	uint64_t snap_done;       /* the request sequence served last */
	/* written by the control plane */
	uint64_t cmds_sent __rte_cache_aligned;
	uint64_t snap_cmds;       /* commands sent before the request: served after they are done */
	uint64_t snap_seq;        /* a new request (g.snap_*) when it differs from snap_done */
} __rte_cache_aligned;

/* Per frame cache: its payload sums (control plane writes, before use); a flow names its cache by the index of
 * its entry (cache_id), which stays while the cache is in use; entry 0 stays empty (no cache).  The cache's
 * frame table, data and length are copied into the entry, so that a plain packet finds its frame from this one
 * line (flow → entry → frame) instead of going through the cache's header as well. */
struct dp_cache_ent {
	const struct codec_frame_cache *cache;
	uint16_t *sums;
	const struct codec_frame *frames;
	const uint8_t *data;
	uint32_t nframes;
} __rte_cache_aligned;

static struct {
	struct dp_config cfg;
	bool configured, running;
	struct dp_flow *flows;
	struct dp_flow_cold *cold;
	uint32_t *port_map;       /* [ip index << 16 | port] → flow index + 1 */
	uint8_t ip_tab[DP_IP_SLOTS]; /* media IP hash slot → index + 1 (ip_index) */
	struct dp_arp_cache arp;
	struct dp_cache_ent sums[DP_MAX_CACHES + 1];
	unsigned nsums;           /* entries in use or freed: 1 + the highest index given */
	/* SRTP sessions: the control plane's record per flow, and those waiting for their lcore to let go */
	struct dp_srtp_pair {
		srtp_t tx, rx, rx_prev;
		uint64_t tx_hash, rx_hash; /* of the keys (and suite) the sessions were made from */
	} *ctl_srtp;
	struct dp_srtp_dead { unsigned lcore; uint64_t seq; srtp_t s[3]; } *dead;
	size_t ndead, cap_dead;
	bool srtp_up;
	struct dp_port_ctx port;
	unsigned lcore_ids[RTE_MAX_LCORE];
	struct dp_lcore *lc;      /* nlcores of them */
	uint8_t mac[6];
	uint64_t eth_src;         /* dp_eth_src(mac) */
	uint64_t tsc_hz, ns_mult; /* ns = tsc * ns_mult >> 32 */
	uint64_t wall_next_ns;    /* lcore 0 steers the wall clock (clock.c) to CLOCK_REALTIME at this tsc_to_ns() */
	uint64_t silent_tsc;
	uint64_t scan_sweep_ns;   /* the silence / RTCP sweep visits every flow in this long (DP_SCAN_PARTS) */
	unsigned wheel_shift;
	uint32_t wheel_mask;
	uint32_t pcap;            /* entries per slot of the periodic schedule */
	uint64_t skip_tsc;        /* DP_TX_SKIP_NS in TSC ticks */
	uint64_t mbuf_rearm;      /* a sent mbuf's rearm_data (tx_mbuf) */
	/* Software steering between lcores: RSS spreads a flow's packets by 5-tuple, not by owner.
	 * steer[src * lcores + dst] carries mbufs from lcore src to lcore dst, their arrival time in a dynfield. */
	struct rte_ring **steer;
	int arrival_off;
	/* the posted snapshot request: flow indexes and the lcores' copies (changed only while none is pending) */
	uint32_t *snap_flows;
	struct dp_flow_snapshot *snap_buf;
	uint32_t snap_n, snap_cap;
	volatile bool stop;
} g;

/* A flow's entry in the frame cache table, its frame cache and its payload sums (NULL: receive only). */
static inline const struct dp_cache_ent *flow_ent(const struct dp_flow *f)
{
	return &g.sums[f->cache_id];
}

static inline const struct codec_frame_cache *flow_cache(const struct dp_flow *f)
{
	return flow_ent(f)->cache;
}

static inline const uint16_t *flow_sums(const struct dp_flow *f)
{
	return flow_ent(f)->sums;
}

/* An entry given back: its sums freed, nothing of the cache kept (its index goes to the next new cache). */
static void cache_ent_clear(struct dp_cache_ent *e)
{
	free(e->sums);
	*e = (struct dp_cache_ent){ 0 };
}

/* After anything tx_slow sums up changes (commands, and tx_packet, which handles what tx_plain does not). */
static void tx_slow_update(struct dp_flow *f)
{
	f->tx_slow = !f->active || !(f->dir & DP_FLOW_SEND) || !f->cache_id || f->srtp || f->dtmf || f->owd_ext ||
		     f->held || f->delay_tsc || f->mac_ok != 1 ||
		     (!g.port.loops_back && memcmp(f->remote_mac, g.mac, 6) == 0); /* kept for local RX */
}

static inline uint32_t ip_slot(uint32_t ip)
{
	return (ip * 0x9e3779b1u) >> (32 - DP_IP_SLOTS_LOG2);
}

static inline uint64_t tsc_to_ns(uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)tsc * g.ns_mult) >> 32);
}

void dp_config_default(struct dp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = 4096;
	cfg->silent_ms = 5000;
	cfg->ring_size = 4096;
	cfg->arp_entries = 4096;
	cfg->rtcp_interval_ms = 5000;
}

/* Tables the lcores index at random (flows, their cold state, the port map, the wheel's chunks): zeroed, on
 * 2 MiB boundaries and advised for transparent huge pages, so that a million flows (256 MiB) need ~128 TLB
 * entries instead of 65,536 and a flow lookup is a cache miss, not also a page walk.  Without THP the advice is
 * ignored and the tables use 4 KiB pages as before.  Freed with free(). */
#define DP_HUGE_ALIGN (2u << 20)
static void *dp_table_alloc(size_t bytes)
{
	size_t len = (bytes + DP_HUGE_ALIGN - 1) & ~(size_t)(DP_HUGE_ALIGN - 1);
	void *p = NULL;

	if (len == 0 || posix_memalign(&p, len >= DP_HUGE_ALIGN ? DP_HUGE_ALIGN : 64, len) != 0)
		return NULL;
	(void)madvise(p, len, MADV_HUGEPAGE);
	memset(p, 0, len);
	return p;
}

void dp_engine_free(void)
{
	free(g.snap_flows);
	free(g.snap_buf);
	g.snap_flows = NULL;
	g.snap_buf = NULL;
	g.snap_n = g.snap_cap = 0;
	free(g.flows);
	free(g.cold);
	free(g.port_map);
	free(g.arp.e);
	g.arp.e = NULL;
	for (unsigned i = 0; i < g.nsums; i++)
		cache_ent_clear(&g.sums[i]);
	g.nsums = 0;
	for (uint32_t i = 0; g.ctl_srtp && i < g.cfg.max_flows; i++) {
		if (g.ctl_srtp[i].tx)
			srtp_dealloc(g.ctl_srtp[i].tx);
		if (g.ctl_srtp[i].rx)
			srtp_dealloc(g.ctl_srtp[i].rx);
		if (g.ctl_srtp[i].rx_prev)
			srtp_dealloc(g.ctl_srtp[i].rx_prev);
	}
	free(g.ctl_srtp);
	g.ctl_srtp = NULL;
	for (size_t i = 0; i < g.ndead; i++)
		for (unsigned k = 0; k < 3; k++)
			if (g.dead[i].s[k])
				srtp_dealloc(g.dead[i].s[k]);
	free(g.dead);
	g.dead = NULL;
	g.ndead = g.cap_dead = 0;
	g.flows = NULL;
	g.cold = NULL;
	g.port_map = NULL;
	g.configured = false;
}

int dp_configure(const struct dp_config *cfg, char *err, size_t errlen)
{
	size_t nmap;

	if (g.running) {
		snprintf(err, errlen, "the dataplane is running: configure it before starting");
		return -EBUSY;
	}
	if (cfg->max_flows == 0 || cfg->max_flows > 16u * DP_MIN_FLOWS_MAX) {
		snprintf(err, errlen, "max_flows %u out of range 1..%u", cfg->max_flows, 16u * DP_MIN_FLOWS_MAX);
		return -EINVAL;
	}
	if (cfg->n_media_ips > DP_MAX_MEDIA_IPS) {
		snprintf(err, errlen, "at most %d media IPs", DP_MAX_MEDIA_IPS);
		return -EINVAL;
	}
	if (cfg->ring_size < 64 || cfg->ring_size > (1u << 20) || (cfg->ring_size & (cfg->ring_size - 1))) {
		snprintf(err, errlen, "ring_size %u must be a power of two in 64..1048576", cfg->ring_size);
		return -EINVAL;
	}
	if (cfg->arp_entries < DP_ARP_PROBE || (cfg->arp_entries & (cfg->arp_entries - 1)) ||
	    cfg->arp_entries > (1u << 24)) {
		snprintf(err, errlen, "arp_entries %u must be a power of two in %d..16777216", cfg->arp_entries,
			 DP_ARP_PROBE);
		return -EINVAL;
	}
	if (cfg->prefix_len > 32 || cfg->vlan > 4094) {
		snprintf(err, errlen, "prefix length %u or VLAN %u out of range", cfg->prefix_len, cfg->vlan);
		return -EINVAL;
	}
	dp_engine_free();
	g.cfg = *cfg;
	memset(g.ip_tab, 0, sizeof(g.ip_tab));
	for (unsigned i = 0; i < cfg->n_media_ips; i++) {
		uint32_t s = ip_slot(cfg->media_ips[i]);
		bool dup = false;

		while (g.ip_tab[s] && !(dup = g.cfg.media_ips[g.ip_tab[s] - 1] == cfg->media_ips[i]))
			s = (s + 1) & (DP_IP_SLOTS - 1);
		if (!dup) /* a repeated address keeps its first index, as the scan did */
			g.ip_tab[s] = (uint8_t)(i + 1);
	}
	g.arp.e = calloc(cfg->arp_entries, sizeof(struct dp_arp_entry));
	g.arp.mask = cfg->arp_entries - 1;
	nmap = (size_t)(cfg->n_media_ips ? cfg->n_media_ips : 1) << 16;
	g.flows = dp_table_alloc((size_t)cfg->max_flows * sizeof(struct dp_flow));
	g.cold = dp_table_alloc((size_t)cfg->max_flows * sizeof(struct dp_flow_cold));
	g.port_map = dp_table_alloc(nmap * sizeof(uint32_t));
	g.ctl_srtp = calloc(cfg->max_flows, sizeof(*g.ctl_srtp));
	if (!g.srtp_up && srtp_init() == srtp_err_status_ok)
		g.srtp_up = true;
	if (!g.flows || !g.cold || !g.port_map || !g.arp.e || !g.ctl_srtp) {
		dp_engine_free();
		snprintf(err, errlen, "cannot allocate %u flows (%zu MiB)", cfg->max_flows,
			 (size_t)cfg->max_flows * (sizeof(struct dp_flow) + sizeof(struct dp_flow_cold)) >> 20);
		return -ENOMEM;
	}
	{
		uint64_t ms = !cfg->silent_ms ? cfg->rtcp_interval_ms : !cfg->rtcp_interval_ms ? cfg->silent_ms
			      : RTE_MIN(cfg->silent_ms, cfg->rtcp_interval_ms);

		g.scan_sweep_ns = RTE_MAX(ms * 1000000ull / DP_SCAN_PARTS, DP_SCAN_SWEEP_MIN_NS);
	}
	g.configured = true;
	return 0;
}

unsigned dp_engine_lcores(void)
{
	return g.configured ? g.cfg.lcores : 0;
}

uint32_t dp_engine_flows(void)
{
	struct dp_config d;

	if (g.configured)
		return g.cfg.max_flows;
	dp_config_default(&d);
	return d.max_flows;
}

size_t dp_flow_hot_bytes(void)
{
	return sizeof(struct dp_flow);
}

void dp_port_mac(uint8_t mac[6])
{
	memcpy(mac, g.mac, 6);
}

/* ---- the timing wheel: per slot of 2^wheel_shift TSC ticks (~1 µs), a list of 64-byte chunks of flow indices.
 * Chunks come from a per-lcore pool sized so that it cannot run dry (one chunk per flow at worst). ---------- */

static void wheel_insert(struct dp_lcore *lc, uint32_t idx, uint64_t when_tsc)
{
	uint64_t s = when_tsc >> g.wheel_shift;
	uint32_t *head, c;
	struct dp_wheel_chunk *ch;

	if (s <= lc->wheel_pos) /* due already: the slot being worked on, never one already passed */
		s = lc->wheel_pos;
	head = &lc->wheel[s & g.wheel_mask];
	c = *head;
	if (!c || lc->chunks[c - 1].n == DP_CHUNK_FLOWS) {
		c = lc->free_chunk;
		ch = &lc->chunks[c - 1];
		lc->free_chunk = ch->next;
		ch->next = *head;
		ch->next2 = *head ? lc->chunks[*head - 1].next : 0; /* the old head was just read: cheap */
		ch->n = 0;
		*head = c;
	}
	ch = &lc->chunks[c - 1];
	ch->idx[ch->n++] = idx;
	g.flows[idx].in_wheel = 1;
}

/* Van der Corput spread: the k-th flow added starts at bitreverse(k)/2^32 of its ptime, so any number of flows
 * is spread evenly across the packetisation interval (no microbursts). */
static uint64_t spread_offset(uint32_t k, uint32_t ptime_tsc)
{
	uint32_t r = k;

	r = ((r >> 1) & 0x55555555u) | ((r & 0x55555555u) << 1);
	r = ((r >> 2) & 0x33333333u) | ((r & 0x33333333u) << 2);
	r = ((r >> 4) & 0x0f0f0f0fu) | ((r & 0x0f0f0f0fu) << 4);
	r = ((r >> 8) & 0x00ff00ffu) | ((r & 0x00ff00ffu) << 8);
	r = (r >> 16) | (r << 16);
	return ((uint64_t)r * ptime_tsc) >> 32;
}

/* ---- the periodic schedule --------------------------------------------------------------------------------
 * Slot s of a class holds the phases in [pslot_start(s), pslot_start(s + 1)). */
static inline uint64_t pslot_start(const struct dp_pclass *c, uint32_t s)
{
	return ((uint64_t)s * c->period + DP_PSLOTS - 1) >> DP_PSLOTS_LOG2;
}

static inline uint32_t pslot_of(const struct dp_pclass *c, uint32_t phase)
{
	return (uint32_t)(((uint64_t)phase << DP_PSLOTS_LOG2) / c->period);
}

/* A flow's phase in its class's period: a flow on the periodic schedule moves by whole periods only (its
 * nominal_tsc advances by ptime_tsc, a skip by a multiple of it), and the walker's epoch too. */
static uint32_t pclass_phase(const struct dp_pclass *c, const struct dp_flow *f)
{
	int64_t d = (int64_t)(f->nominal_tsc - c->epoch);

	return (uint32_t)(d >= 0 ? (uint64_t)d % c->period : (c->period - (uint64_t)-d % c->period) % c->period);
}

/* The class of a period: the one that has it, else one without flows (NULL: all DP_PCLASSES are taken). */
static struct dp_pclass *pclass_for(struct dp_lcore *lc, uint32_t period)
{
	struct dp_pclass *spare = NULL;

	for (unsigned i = 0; i < DP_PCLASSES; i++) {
		struct dp_pclass *c = &lc->pclass[i];

		if (c->period == period)
			return c;
		if (!spare && !c->flows)
			spare = c;
	}
	if (spare)
		spare->period = period;
	return spare;
}

/* Flow idx (due at nominal_tsc, later than now, no impairment delay) joins its period's class at its phase;
 * false when there is no class for it or its slot is full (it stays on the wheel). */
static bool pclass_insert(struct dp_lcore *lc, uint32_t idx, uint64_t now)
{
	struct dp_flow *f = &g.flows[idx];
	struct dp_pclass *c = pclass_for(lc, f->ptime_tsc);
	struct dp_pent *e;
	uint32_t phase, s, p;

	if (!c)
		return false;
	if (!c->flows) { /* a fresh lap starting now */
		c->epoch = now;
		c->cur_slot = c->cur_i = 0;
	}
	phase = pclass_phase(c, f);
	s = pslot_of(c, phase);
	if (c->n[s] == g.pcap)
		return false;
	e = c->e + (size_t)s * g.pcap;
	for (p = c->n[s]; p > 0 && e[p - 1].phase > phase; p--)
		e[p] = e[p - 1];
	e[p] = (struct dp_pent){ .phase = phase, .idx = idx };
	c->n[s]++;
	/* behind the walker in its slot: its time in this lap has passed (it is due in the next) */
	if (s == c->cur_slot && p < c->cur_i)
		c->cur_i++;
	c->flows++;
	f->in_wheel = (uint8_t)(2 + (c - lc->pclass));
	return true;
}

static void pclass_remove(struct dp_lcore *lc, uint32_t idx)
{
	struct dp_flow *f = &g.flows[idx];
	struct dp_pclass *c = &lc->pclass[f->in_wheel - 2];
	uint32_t s = pslot_of(c, pclass_phase(c, f)), p;
	struct dp_pent *e = c->e + (size_t)s * g.pcap;

	for (p = 0; p < c->n[s] && e[p].idx != idx; p++)
		;
	if (p < c->n[s]) {
		memmove(e + p, e + p + 1, (c->n[s] - p - 1u) * sizeof(*e));
		c->n[s]--;
		if (s == c->cur_slot && p < c->cur_i)
			c->cur_i--;
		c->flows--;
	}
	f->in_wheel = 0;
}

/* The impairment profile of f delays packets: its send times are not periodic. */
static inline bool tx_jittered(const struct dp_lcore *lc, const struct dp_flow *f)
{
	return (lc->impair_on & (1u << f->impair)) && lc->impair[f->impair].jitter_us;
}

/* Schedules flow idx for its next packet: the periodic schedule when its send times are periodic from here on
 * (no impairment delay, not behind), the timing wheel otherwise. */
static void tx_schedule(struct dp_lcore *lc, uint32_t idx, uint64_t now)
{
	struct dp_flow *f = &g.flows[idx];
	uint64_t when = f->nominal_tsc + f->delay_tsc;

	if (f->delay_tsc || when <= now || tx_jittered(lc, f) || !pclass_insert(lc, idx, now))
		wheel_insert(lc, idx, when);
}

static inline void tx_queue(struct dp_lcore *lc, struct rte_mbuf *m);
static uint64_t ntp_now(uint64_t now_ns);

/* ---- commands --------------------------------------------------------------------------------------------- */

/* Media IP → its index, per received packet: an open-addressing table of DP_IP_SLOTS (4 × the most media IPs),
 * built by dp_configure, so a lookup is one or two probes instead of a scan of up to 64 addresses. */
static uint32_t ip_index(uint32_t ip, bool *ok)
{
	*ok = true;
	if (g.cfg.n_media_ips == 0)
		return 0;
	for (uint32_t s = ip_slot(ip);; s = (s + 1) & (DP_IP_SLOTS - 1)) {
		uint8_t e = g.ip_tab[s];

		if (!e)
			break;
		if (g.cfg.media_ips[e - 1] == ip)
			return e - 1u;
	}
	*ok = false;
	return 0;
}

/* The flow's lcore: no division on the common single-lcore path. */
static inline unsigned flow_owner(uint32_t fid)
{
	return g.port.nlcores == 1 ? 0 : fid % g.port.nlcores;
}

static void flow_apply(struct dp_flow *f, const struct dp_flow_params *p)
{
	const struct codec_frame_cache *c = p->cache;

	dp_flow_set_remote(f, p->remote_ip, p->remote_port);
	memcpy(f->remote_mac, p->remote_mac, 6);
	f->mac_ok = (p->remote_mac[0] | p->remote_mac[1] | p->remote_mac[2] | p->remote_mac[3] | p->remote_mac[4] |
		     p->remote_mac[5]) != 0;
	f->dir = p->dir;
	f->dscp = p->dscp & 0x3f;
	f->impair = p->impair < DP_MAX_IMPAIR ? p->impair : 0;
	f->dtmf_pt = p->dtmf_pt & 0x7f;
	f->owd_ext = f->rx_owd_ext = p->owd_ext_id <= 14 ? p->owd_ext_id : 0;
	if (c) {
		f->pt = (uint8_t)(p->payload_type >= 0 ? p->payload_type : c->payload_type);
		f->ptime_ms = p->ptime_ms ? p->ptime_ms : c->ptime_ms;
	}
	dp_flow_csum_prepare(f); /* after cmd_add has set the local address, port and SSRC */
	tx_slow_update(f);
}

static void release_held(uint32_t idx)
{
	if (g.flows[idx].held) {
		rte_pktmbuf_free(g.cold[idx].held);
		g.cold[idx].held = NULL;
		g.flows[idx].held = 0;
		tx_slow_update(&g.flows[idx]);
	}
}

static uint64_t rtcp_interval_ns(uint32_t flow, uint32_t n)
{
	uint64_t h = ((uint64_t)flow << 32 | n) * 0x9e3779b97f4a7c15ull;

	h ^= h >> 29;
	return (uint64_t)g.cfg.rtcp_interval_ms * 1000000ull * (500 + (h >> 40) % 1001) / 1000;
}

/* The RTP clock a flow's parameters give its received stream: theirs, else its cache's; 0 when neither says. */
static uint32_t params_clock(const struct dp_flow_params *p)
{
	return p->clock_rate ? p->clock_rate : p->cache ? p->cache->clock_rate : 0;
}

/* The payload type a flow's parameters give its received stream (theirs, else its cache's) with its clock: the
 * flow's current one from now on, the one before kept for the packets the peer sends until it switches too.  The
 * RX clock itself changes when a packet of another payload type comes (rx_payload_type), not here: the peer
 * switches when it does.  The payload type numbers the flow sends are taken for those it receives (one numbering
 * both ways, as the SDP answer usually keeps).  A flow given none (receive-only, no cache) has one clock for
 * every payload type, which a modify's clock_rate changes at once. */
static void rx_pt_declare(struct dp_flow *f, struct dp_flow_cold *c, const struct dp_flow_params *p)
{
	int pt = p->payload_type >= 0 ? p->payload_type & 0x7f : p->cache ? p->cache->payload_type & 0x7f : -1;
	uint32_t clock = params_clock(p);

	if (!clock)
		return;
	if (pt < 0) {
		if (c->rx_pt[0] == DP_RX_PT_NONE)
			dp_rx_payload_type(&f->rx, f->rx.pt, clock);
		return;
	}
	if (c->rx_pt[0] == pt && c->rx_clock[0] == clock)
		return;
	if (c->rx_pt[0] != pt) {
		c->rx_pt[1] = c->rx_pt[0];
		c->rx_clock[1] = c->rx_clock[0];
	}
	c->rx_pt[0] = (uint8_t)pt;
	c->rx_clock[0] = clock;
	f->rx.pt = DP_RX_PT_NONE; /* the next media packet looks its clock up again */
}

/* A media packet of another payload type than the last: the clock of the flow's payload type it is, else of the
 * static one (RFC 3551), else unknown (its packets stay out of the timing); a flow given no payload type keeps
 * its one clock. */
static void rx_payload_type(struct dp_flow *f, const struct dp_flow_cold *c, uint8_t pt)
{
	uint32_t clock;

	if (c->rx_pt[0] == DP_RX_PT_NONE)
		clock = f->rx.clock_rate;
	else if (pt == c->rx_pt[0])
		clock = c->rx_clock[0];
	else if (pt == c->rx_pt[1])
		clock = c->rx_clock[1];
	else
		clock = dp_static_pt_clock(pt);
	dp_rx_payload_type(&f->rx, pt, clock);
}

/* A flow's packet interval from its ptime_ms, and its next packet within one interval from now, spread over the
 * interval as every added flow's. */
static void flow_period_start(struct dp_lcore *lc, struct dp_flow *f, uint64_t now)
{
	f->ptime_tsc = (uint32_t)(g.tsc_hz * f->ptime_ms / 1000);
	f->nominal_tsc = now + spread_offset(lc->spread_k++, f->ptime_tsc);
}

static void cmd_add(struct dp_lcore *lc, uint32_t idx, const struct dp_flow_params *p, uint16_t cache_id,
		    srtp_t c_tx, srtp_t c_rx, uint64_t now)
{
	struct dp_flow *f = &g.flows[idx];
	uint8_t in_wheel;
	bool ok;
	uint32_t ipi = ip_index(p->local_ip, &ok), clock;

	if (f->in_wheel >= 2)
		pclass_remove(lc, idx);
	in_wheel = f->in_wheel;
	release_held(idx);
	memset(f, 0, sizeof(*f));
	memset(&g.cold[idx], 0, sizeof(g.cold[idx])); /* the old sessions are the control plane's to free */
	g.cold[idx].rtt_us = -1;
	/* RFC 3550 §6.3.1: the first report after half the interval, each randomised over [0.5, 1.5]. */
	g.cold[idx].next_rtcp_ns = tsc_to_ns(now) + rtcp_interval_ns(idx, 0) / 2;
	f->in_wheel = in_wheel; /* a deleted flow may still sit in a slot: it is skipped or rescheduled there */
	dp_flow_set_local(f, p->local_ip, p->local_port);
	f->ip_idx = (uint8_t)ipi;
	f->cache_id = p->cache ? cache_id : 0;
	g.cold[idx].srtp_tx = c_tx;
	g.cold[idx].srtp_rx = c_rx;
	f->srtp = f->rx_srtp = c_tx != NULL;
	dp_flow_set_ssrc(f, p->ssrc);
	f->seq = p->seq0;
	f->ts = p->ts0;
	flow_apply(f, p);
	clock = params_clock(p);
	dp_rx_init(&f->rx, clock ? clock : 8000);
	g.cold[idx].rx_pt[0] = g.cold[idx].rx_pt[1] = DP_RX_PT_NONE;
	rx_pt_declare(f, &g.cold[idx], p);
	g.port_map[ipi << 16 | p->local_port] = idx + 1;
	f->active = 1;
	tx_slow_update(f);
	if (f->cache_id && flow_cache(f)->nframes && f->ptime_ms) {
		flow_period_start(lc, f, now);
		if (!f->in_wheel)
			tx_schedule(lc, idx, now);
	}
}

/* A modify: flow_apply's fields, and a new frame cache (another codec after a re-INVITE: its frames from its
 * first, the RTP timestamp going on) or packet interval, which the schedule takes from the next packet on. */
static void cmd_modify(struct dp_lcore *lc, uint32_t idx, const struct dp_flow_params *p, uint16_t cache_id,
		       uint64_t now)
{
	struct dp_flow *f = &g.flows[idx];
	const struct codec_frame_cache *was = flow_cache(f);
	uint16_t ptime = f->ptime_ms;

	if (p->cache && p->cache != was) {
		f->cache_id = cache_id;
		f->frame = 0;
		f->dtmf = 0; /* an event being sent ends (its duration counts in the old codec's clock) */
	}
	rx_pt_declare(f, &g.cold[idx], p);
	flow_apply(f, p);
	if (!f->cache_id || !flow_cache(f)->nframes || !f->ptime_ms || (flow_cache(f) == was && f->ptime_ms == ptime))
		return;
	if (f->in_wheel >= 2) /* its class is of the old interval */
		pclass_remove(lc, idx);
	/* nothing sent before, or the next packet further away than the new interval: started as an added flow's
	 * (a flow waiting on the wheel keeps its slot: the new interval starts after it) */
	f->ptime_tsc = (uint32_t)(g.tsc_hz * f->ptime_ms / 1000);
	if (!was || (!f->in_wheel && (int64_t)(f->nominal_tsc - now) > (int64_t)f->ptime_tsc))
		flow_period_start(lc, f, now);
	if (!f->in_wheel)
		tx_schedule(lc, idx, now);
}

static void cmd_delete(struct dp_lcore *lc, uint32_t idx)
{
	struct dp_flow *f = &g.flows[idx];
	uint32_t *slot = &g.port_map[(uint32_t)f->ip_idx << 16 | dp_flow_local_port(f)];

	if (!f->active)
		return;
	if (f->in_wheel >= 2) /* the wheel drops a deleted flow when it comes due; the periodic schedule now */
		pclass_remove(lc, idx);
	if (*slot == idx + 1)
		*slot = 0;
	release_held(idx);
	f->active = 0;
	f->srtp = f->rx_srtp = 0;
	tx_slow_update(f);
	g.cold[idx].srtp_tx = g.cold[idx].srtp_rx = g.cold[idx].srtp_rx_prev = NULL;
}

/* A modify with new SRTP keys: TX protects with the new session from its next packet; RX takes the new session
 * and keeps the one before as a fallback (rx_unprotect). NULL: that direction keeps its key. */
static void cmd_rekey(uint32_t idx, srtp_t tx, srtp_t rx)
{
	struct dp_flow *f = &g.flows[idx];
	struct dp_flow_cold *c = &g.cold[idx];

	if (tx)
		c->srtp_tx = tx;
	if (rx) {
		c->srtp_rx_prev = c->srtp_rx;
		c->srtp_rx = rx;
		c->srtp_prev_left = DP_SRTP_WINDOW;
	}
	f->srtp = f->rx_srtp = c->srtp_tx && c->srtp_rx;
	tx_slow_update(f);
}

static void cmd_run(struct dp_lcore *lc, const struct dp_cmd *c, uint64_t now)
{
	switch (c->type) {
	case DP_CMD_ADD:
		cmd_add(lc, c->flow, &c->u.fp, c->cache_id, c->srtp_tx, c->srtp_rx, now);
		break;
	case DP_CMD_MODIFY:
		if (g.flows[c->flow].active) {
			cmd_modify(lc, c->flow, &c->u.fp, c->cache_id, now);
			if (c->srtp_tx || c->srtp_rx)
				cmd_rekey(c->flow, c->srtp_tx, c->srtp_rx);
		}
		break;
	case DP_CMD_DELETE:
		cmd_delete(lc, c->flow);
		break;
	case DP_CMD_IMPAIR:
		lc->impair[c->flow] = c->u.im;
		if (dp_impair_active(&c->u.im))
			lc->impair_on |= (uint16_t)(1u << c->flow);
		else
			lc->impair_on &= (uint16_t)~(1u << c->flow);
		break;
	case DP_CMD_DTMF: {
		struct dp_flow *f = &g.flows[c->flow];
		struct dp_flow_cold *cd = &g.cold[c->flow];

		if (!f->active || !f->dtmf_pt || !f->cache_id || f->dtmf) {
			lc->dtmf_refused++;
			break;
		}
		cd->dtmf_event = c->u.dtmf.event;
		cd->dtmf_volume = c->u.dtmf.volume & 0x3f;
		cd->dtmf_total = (uint32_t)((uint64_t)c->u.dtmf.duration_ms * flow_cache(f)->clock_rate / 1000);
		cd->dtmf_elapsed = 0;
		cd->dtmf_ends = 0;
		cd->dtmf_ts = f->ts; /* the event starts where the next audio frame would have */
		f->dtmf = 1;
		tx_slow_update(f);
		break;
	}
	case DP_CMD_INJECT: {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g.port.pool);

		if (!m) {
			lc->tx_nombuf++;
			break;
		}
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), c->u.frame.data, c->u.frame.len);
		m->data_len = m->pkt_len = c->u.frame.len;
		tx_queue(lc, m);
		break;
	}
	}
}

/* ---- events ----------------------------------------------------------------------------------------------- */

static void event(struct dp_lcore *lc, uint32_t type, uint32_t flow, uint32_t ssrc, uint64_t t_ns)
{
	struct dp_event ev = { .type = type, .flow = flow, .ssrc = ssrc, .t_ns = t_ns };

	if (rte_ring_sp_enqueue_elem(lc->evt, &ev, sizeof(ev)) != 0)
		lc->events_lost++;
}

/* ---- TX --------------------------------------------------------------------------------------------------- */

/* Frames to our own MAC leave the TX queue for the next pass's RX (a port that does not loop back). */
static void tx_keep_local(struct dp_lcore *lc)
{
	unsigned k = 0;

	for (unsigned i = 0; i < lc->ntx; i++) {
		struct rte_mbuf *m = lc->txq[i];

		if (memcmp(rte_pktmbuf_mtod(m, const uint8_t *), g.mac, 6) != 0) {
			lc->txq[k++] = m;
		} else if (lc->nlocal < DP_LOCAL_MAX) {
			lc->local[lc->nlocal++] = m;
		} else {
			rte_pktmbuf_free(m);
			lc->tx_full++;
		}
	}
	lc->ntx = k;
}

/* Frames the port does not take stay queued, in order, for the next attempt: a port whose TX ring is full
 * (a NIC behind on its descriptors, or net_ring until this lcore's RX drains it) backpressures the wheel
 * instead of losing packets.  Only a frame that finds the queue itself full is dropped (tx_full). */
static void tx_flush(struct dp_lcore *lc)
{
	uint16_t sent;

	if (lc->txq_maybe_local) { /* else every queued frame came from tx_plain */
		if (!g.port.loops_back)
			tx_keep_local(lc);
		lc->txq_maybe_local = false;
	}
	if (!lc->ntx)
		return;
	sent = rte_eth_tx_burst(g.port.port_id, lc->queue, lc->txq, (uint16_t)lc->ntx);
	if (sent && sent < lc->ntx)
		memmove(lc->txq, lc->txq + sent, (lc->ntx - sent) * sizeof(lc->txq[0]));
	lc->ntx -= sent;
}

/* The port has refused frames and still holds a burst's worth: build no more until it takes them. */
static inline bool tx_backlogged(struct dp_lcore *lc)
{
	if (lc->ntx < DP_BURST)
		return false;
	tx_flush(lc);
	return lc->ntx >= DP_BURST;
}

/* Queues a frame known not to be for our own MAC (tx_plain's: tx_slow keeps those off it). */
static inline void tx_queue_remote(struct dp_lcore *lc, struct rte_mbuf *m)
{
	if (unlikely(lc->ntx == DP_TXQ_MAX)) {
		tx_flush(lc);
		if (lc->ntx == DP_TXQ_MAX) {
			rte_pktmbuf_free(m);
			lc->tx_full++;
			return;
		}
	}
	lc->tx_packets++;
	lc->tx_bytes += rte_pktmbuf_pkt_len(m);
	lc->txq[lc->ntx++] = m;
	if (lc->ntx >= DP_BURST)
		tx_flush(lc);
}

/* Queues a frame for the port (one for our own MAC is received in the next pass instead: tx_keep_local). */
static inline void tx_queue(struct dp_lcore *lc, struct rte_mbuf *m)
{
	lc->txq_maybe_local = true;
	tx_queue_remote(lc, m);
}

/* At stop: what the port never took is dropped and counted. */
static void tx_discard(struct dp_lcore *lc)
{
	tx_flush(lc);
	for (unsigned i = 0; i < lc->ntx; i++)
		rte_pktmbuf_free(lc->txq[i]);
	lc->tx_full += lc->ntx;
	lc->ntx = 0;
}

static void tx_arp(struct dp_lcore *lc, uint16_t op, const uint8_t dst_mac[6], uint32_t src_ip, uint32_t dst_ip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g.port.pool);

	if (!m) {
		lc->tx_nombuf++;
		return;
	}
	m->data_len = m->pkt_len = dp_arp_build(rte_pktmbuf_mtod(m, uint8_t *), g.cfg.vlan, op, g.mac, src_ip,
						 dst_mac, dst_ip);
	if (op == 1)
		lc->arp_sent++;
	tx_queue(lc, m);
}

static uint32_t next_hop(uint32_t ip)
{
	uint32_t mask = g.cfg.prefix_len ? ~0u << (32 - g.cfg.prefix_len) : 0;

	if (g.cfg.gateway_ip && (ip & mask) != (g.cfg.gateway_ip & mask))
		return g.cfg.gateway_ip;
	return ip;
}

/* An ARP request for next hop nh, unless this lcore asked for it less than the retry interval ago: the first at
 * once, then after 1 s, 2 s, 4 s, and every 8 s while nobody answers.  A next hop last asked for long ago (it
 * answered, and its entry has aged since) starts over at 1 s.  The table is bounded: a next hop that finds its
 * DP_ARP_PROBE slots taken replaces the one asked for longest ago. */
static void arp_ask(struct dp_lcore *lc, uint32_t src_ip, uint32_t nh, uint64_t now_ns)
{
	static const uint8_t zero[6] = { 0 };
	uint32_t h = (nh * 0x9e3779b1u) >> 16;
	struct dp_arp_asked *a = NULL;

	for (unsigned i = 0; i < DP_ARP_PROBE; i++) {
		struct dp_arp_asked *e = &lc->arp_asked[(h + i) & (DP_ARP_ASKED - 1)];

		if (e->ip == nh) {
			a = e;
			break;
		}
		if (!a || (a->ip && (!e->ip || e->last_ns < a->last_ns)))
			a = e;
	}
	if (a->ip != nh || now_ns - a->last_ns > (DP_ARP_RETRY_NS << (DP_ARP_BACKOFF_MAX + 1)))
		*a = (struct dp_arp_asked){ .ip = nh };
	else if (now_ns - a->last_ns < DP_ARP_RETRY_NS << (a->tries - 1 < DP_ARP_BACKOFF_MAX ? a->tries - 1
												: DP_ARP_BACKOFF_MAX))
		return; /* a request is out: the flows wait for its answer (tx_no_arp) */
	else
		lc->arp_retries++;
	a->tries++;
	a->last_ns = now_ns;
	tx_arp(lc, 1, zero, src_ip, nh);
}

/* Next-hop MAC for a flow given without one: from the ARP cache, asked for (arp_ask) while unknown, refreshed
 * when the entry has aged past DP_ARP_REACHABLE_S (the old MAC stays in use meanwhile). */
static bool tx_resolve_arp(struct dp_lcore *lc, struct dp_flow *f, uint32_t k, uint64_t now_ns)
{
	struct dp_arp_entry e;
	uint32_t nh;

	if (f->mac_ok == 1 || (f->mac_ok && k % DP_ARP_RECHECK_PKTS != 0))
		return true; /* given by the control plane, or resolved and not due for an age check */
	nh = next_hop(dp_flow_remote_ip(f));
	if (!dp_arp_lookup(&g.arp, nh, &e)) {
		arp_ask(lc, dp_flow_local_ip(f), nh, now_ns);
		return f->mac_ok != 0;
	}
	memcpy(f->remote_mac, e.mac, 6);
	f->mac_ok = 2; /* resolved by ARP: checked for age */
	if (now_ns - e.learned_ns > DP_ARP_REACHABLE_S * 1000000000ull)
		arp_ask(lc, dp_flow_local_ip(f), nh, now_ns);
	return true;
}

static inline bool tx_resolve(struct dp_lcore *lc, struct dp_flow *f, uint32_t k, uint64_t now)
{
	if (likely(f->mac_ok == 1))
		return true; /* given by the control plane */
	return tx_resolve_arp(lc, f, k, tsc_to_ns(now));
}

/* After SRTP grew the UDP payload of a built frame to `len`: lengths and checksums again, in software. */
static void fix_udp(struct rte_mbuf *m, int len)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	unsigned l2 = g.cfg.vlan ? DP_ETH_HLEN + 4 : DP_ETH_HLEN;
	uint8_t *ip = d + l2, *udp = ip + DP_IP_HLEN;
	uint16_t ulen = (uint16_t)(DP_UDP_HLEN + len), c;

	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	ip[2] = (uint8_t)((DP_IP_HLEN + ulen) >> 8);
	ip[3] = (uint8_t)(DP_IP_HLEN + ulen);
	ip[10] = ip[11] = 0;
	c = dp_csum_fold(dp_csum_add(0, ip, DP_IP_HLEN));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[6] = udp[7] = 0;
	c = dp_udp_csum(ip, udp, ulen);
	c = c ? c : 0xffff;
	udp[6] = (uint8_t)(c >> 8);
	udp[7] = (uint8_t)c;
	m->ol_flags = 0;
	m->data_len = m->pkt_len = (uint16_t)(l2 + DP_IP_HLEN + ulen);
}

/* SRTP (RFC 3711) on a received RTP or RTCP packet, in place.  After a re-key the new RX session is tried first,
 * then the previous one (what the peer sent before it switched, or before it learned our answer), until
 * DP_SRTP_WINDOW packets have authenticated with the new one; a failure reports the new session's reason. */
static srtp_err_status_t rx_unprotect(struct dp_lcore *lc, struct dp_flow_cold *c, const struct dp_pkt *pk, int *len,
				      bool rtcp)
{
	int len0 = *len;
	srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(c->srtp_rx, pk->udp_payload, len)
				    : srtp_unprotect(c->srtp_rx, pk->udp_payload, len);

	if (likely(!c->srtp_rx_prev))
		return st;
	if (st == srtp_err_status_ok) {
		if (!rtcp && --c->srtp_prev_left == 0)
			c->srtp_rx_prev = NULL; /* the control plane frees it at the next re-key or delete */
		return st;
	}
	*len = len0;
	if ((rtcp ? srtp_unprotect_rtcp(c->srtp_rx_prev, pk->udp_payload, len)
		  : srtp_unprotect(c->srtp_rx_prev, pk->udp_payload, len)) == srtp_err_status_ok) {
		lc->rx_srtp_prev_key++;
		return srtp_err_status_ok;
	}
	*len = len0;
	return st;
}

/* SRTP (RFC 3711) on a built RTP or RTCP frame, in place; false when libsrtp refused (counted). */
static bool tx_srtp(struct dp_lcore *lc, uint32_t idx, struct rte_mbuf *m, bool rtcp)
{
	unsigned hdrs = (g.cfg.vlan ? DP_ETH_HLEN + 4 : DP_ETH_HLEN) + DP_IP_HLEN + DP_UDP_HLEN;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *) + hdrs;
	int len = (int)rte_pktmbuf_data_len(m) - (int)hdrs;
	srtp_err_status_t st = rtcp ? srtp_protect_rtcp(g.cold[idx].srtp_tx, p, &len)
				    : srtp_protect(g.cold[idx].srtp_tx, p, &len);

	if (st != srtp_err_status_ok) {
		lc->tx_srtp_fail++;
		return false;
	}
	fix_udp(m, len);
	return true;
}

/* Packet buffers come from the pool DP_BURST at a time, raw: a buffer in the pool already has next NULL, one
 * segment and a reference count of 1 (the free path leaves it so), so only the fields a sent frame needs are
 * written, all in the mbuf's first cache line; lengths are the caller's, and the offload fields (second line)
 * are written only by a frame that asks for an offload in ol_flags. */
static inline __attribute__((always_inline)) struct rte_mbuf *tx_mbuf(struct dp_lcore *lc)
{
	struct rte_mbuf *m;

	if (unlikely(!lc->nstash)) {
		if (rte_mempool_get_bulk(g.port.pool, (void **)lc->stash, DP_BURST) != 0) {
			lc->tx_nombuf++;
			return NULL;
		}
		lc->nstash = DP_BURST;
		for (unsigned i = 1; i <= 2; i++)
			__builtin_prefetch(lc->stash[DP_BURST - i], 1, 3);
	}
	m = lc->stash[--lc->nstash];
	/* the header of the buffer after next (for writing): it arrives while this one and the next are built */
	if (lc->nstash >= 2)
		__builtin_prefetch(lc->stash[lc->nstash - 2], 1, 3);
	/* data_off, refcnt, nb_segs and port in one store, as a PMD's RX rearm writes them; the pool's buffers
	 * are its own (no external ones), so no offload flag is kept */
	memcpy(&m->rearm_data, &g.mbuf_rearm, sizeof(g.mbuf_rearm));
	m->ol_flags = 0;
	m->packet_type = 0;
	m->vlan_tci = 0;
	return m;
}

/* Checksum offload asked of the port for a built IPv4/UDP frame. */
static inline void tx_offload(struct rte_mbuf *m)
{
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
	m->l2_len = g.cfg.vlan ? DP_ETH_HLEN + 4 : DP_ETH_HLEN;
	m->l3_len = DP_IP_HLEN;
}

/* After frame fr's turn (sent, lost or DTX) in a cache of nframes: the next frame is due one ptime later (the
 * caller sets its impairment delay). */
static inline void tx_next_frame(struct dp_flow *f, uint32_t nframes, const struct codec_frame *fr)
{
	f->ts += fr->ts_inc;
	if (++f->frame == nframes)
		f->frame = 0;
	f->nominal_tsc += f->ptime_tsc;
}

static struct rte_mbuf *tx_build(struct dp_lcore *lc, struct dp_flow *f, const struct codec_frame *fr)
{
	struct rte_mbuf *m = tx_mbuf(lc);
	const uint8_t *payload = flow_cache(f)->data + fr->offset;
	uint16_t len, sum = flow_sums(f)[f->frame];

	if (!m)
		return NULL;
	if (f->owd_ext) {
		/* The nominal send time: an impairment delay then shows as network delay, as it should. */
		uint8_t ext[DP_EXT_TXTIME_LEN];
		uint8_t el = dp_ext_txtime(ext, f->owd_ext, ntp_now(tsc_to_ns(f->nominal_tsc)));

		len = dp_build_rtp_ext(rte_pktmbuf_mtod(m, uint8_t *), f, g.mac, g.cfg.vlan, lc->ip_id++,
				       fr->flags & CODEC_FRAME_MARKER, ext, el, payload, fr->len, sum,
				       !g.port.tx_csum_offload);
	} else {
		len = dp_build_rtp_fast(rte_pktmbuf_mtod(m, uint8_t *), f, g.eth_src, g.cfg.vlan, lc->ip_id++,
					fr->flags & CODEC_FRAME_MARKER, payload, fr->len, sum,
					!g.port.tx_csum_offload);
	}
	m->data_len = m->pkt_len = len;
	if (g.port.tx_csum_offload)
		tx_offload(m);
	if (f->srtp && !tx_srtp(lc, (uint32_t)(f - g.flows), m, false)) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	return m;
}

static inline unsigned pacing_bucket(uint64_t ns)
{
	if (ns < 1000 * DP_PACING_FINE_NS)
		return (unsigned)(ns / DP_PACING_FINE_NS);
	ns = (ns - 1000 * DP_PACING_FINE_NS) / DP_PACING_COARSE_NS;
	return ns < 1000 ? 1000 + (unsigned)ns : DP_PACING_BUCKETS - 1;
}

/* RFC 4733 §2.5: one event packet in place of an audio frame.  All carry the event's start timestamp and the
 * duration so far; the first has the marker; the last goes out DP_DTMF_END_PACKETS times with the E bit.  Event
 * packets are not impaired. */
static void tx_dtmf(struct dp_lcore *lc, uint32_t idx, uint32_t ts_inc)
{
	struct dp_flow *f = &g.flows[idx];
	struct dp_flow_cold *c = &g.cold[idx];
	struct dp_flow ev = *f;
	struct rte_mbuf *m;
	uint8_t pl[4];
	uint32_t dur;
	bool first = c->dtmf_elapsed == 0, end;

	c->dtmf_elapsed += ts_inc;
	dur = RTE_MIN(c->dtmf_elapsed, c->dtmf_total);
	dur = RTE_MIN(dur, 0xffffu);
	end = c->dtmf_elapsed >= c->dtmf_total;
	pl[0] = c->dtmf_event;
	pl[1] = (uint8_t)((end ? 0x80 : 0) | c->dtmf_volume);
	pl[2] = (uint8_t)(dur >> 8);
	pl[3] = (uint8_t)dur;
	ev.pt = f->dtmf_pt;
	ev.ts = c->dtmf_ts;
	m = tx_mbuf(lc);
	if (m) {
		m->data_len = m->pkt_len = dp_build_rtp(rte_pktmbuf_mtod(m, uint8_t *), &ev, g.mac, g.cfg.vlan,
							 lc->ip_id++, first, pl, sizeof(pl), -1, true);
		m->ol_flags = 0;
		if (f->srtp && !tx_srtp(lc, idx, m, false)) {
			rte_pktmbuf_free(m);
		} else {
			f->tx_unsent--; /* a packet sent */
			dp_flow_add_tx_bytes(f, DP_RTP_HLEN + sizeof(pl));
			tx_queue(lc, m);
		}
	}
	f->seq++;
	if (end && ++c->dtmf_ends == DP_DTMF_END_PACKETS) {
		f->dtmf = 0;
		c->dtmf_sent++;
	}
}

/* A flow more than DP_TX_SKIP_NS (1 s) behind its schedule (the lcore was stalled, or the port refused frames for
 * that long: a NIC whose link went down) does not send the missed frames back to back when it can send again:
 * it moves to the frame due now, as a sender that paused would.  The skipped frames advance the RTP timestamp,
 * the frame position and the impairment counter, not the sequence number (nothing was sent: the receiver sees a
 * timestamp jump, not a loss), and are counted (tx_late_skipped).  Returns the lateness that remains. */
static uint64_t tx_skip(struct dp_lcore *lc, struct dp_flow *f, uint64_t now)
{
	const struct codec_frame_cache *c = flow_cache(f);
	uint64_t late = now - (f->nominal_tsc + f->delay_tsc);
	/* 32-bit divisions where they fit (lateness under ~1.6 s): much cheaper than 64-bit ones */
	uint64_t k = late >> 32 ? late / f->ptime_tsc : (uint32_t)late / f->ptime_tsc, rest = k;
	const uint16_t *x = flow_sums(f) + c->nframes; /* cache_id_of(): uniform step, cycle advance */

	/* O(1) for constant-rate caches, at most one pass over the cache otherwise: an lcore that is behind for
	 * good (more flows than it can send) skips on every visit, so this must stay cheap */
	if (x[0]) {
		f->ts += (uint32_t)(k * x[0]);
		f->frame = k >> 31 ? (uint32_t)((f->frame + k) % c->nframes) : ((uint32_t)k + f->frame) % c->nframes;
		rest = 0;
	} else {
		f->ts += (uint32_t)(k / c->nframes) * ((uint32_t)x[1] | (uint32_t)x[2] << 16);
		rest = k % c->nframes;
	}
	for (uint64_t i = 0; i < rest; i++) {
		f->ts += c->frames[f->frame].ts_inc;
		if (++f->frame == c->nframes)
			f->frame = 0;
	}
	f->tx_index += (uint32_t)k;
	f->tx_unsent += (uint32_t)k;
	f->nominal_tsc += k * f->ptime_tsc;
	lc->tx_skipped += k;
	return tsc_to_ns(now - (f->nominal_tsc + f->delay_tsc));
}

/* One due flow: the impairment stage decides, the packet is built from the frame cache, seq/ts/frame advance
 * (a lost packet consumes its sequence number; a DTX frame only advances the timestamp), and the next packet is
 * due one ptime later plus its impairment delay (the caller schedules it). */
static void tx_packet(struct dp_lcore *lc, uint32_t idx, uint64_t now)
{
	struct dp_flow *f = &g.flows[idx];
	const struct codec_frame_cache *c = flow_cache(f);
	const struct codec_frame *fr;
	uint64_t late_ns = tsc_to_ns(now - (f->nominal_tsc + f->delay_tsc));

	if (late_ns > DP_TX_SKIP_NS && f->ptime_tsc)
		late_ns = tx_skip(lc, f, now);
	fr = &c->frames[f->frame];
	lc->pace_hist[pacing_bucket(late_ns)]++;
	if (late_ns > lc->pace_max_ns)
		lc->pace_max_ns = late_ns;
	const struct dp_impair *im = &lc->impair[f->impair];
	unsigned act = DP_IMP_SEND;
	uint32_t k = f->tx_index++;

	f->tx_unsent++; /* until a packet is sent */

	if (f->dtmf && (f->dir & DP_FLOW_SEND) && tx_resolve(lc, f, k, now)) {
		tx_dtmf(lc, idx, fr->ts_inc);
	} else if (!(fr->flags & CODEC_FRAME_DTX) && (f->dir & DP_FLOW_SEND)) {
		if (lc->impair_on & (1u << f->impair))
			act = dp_impair_decide(im, idx, k, &f->ge_bad);
		if (!tx_resolve(lc, f, k, now)) {
			lc->tx_no_arp++;
		} else if (act & DP_IMP_DROP) {
			g.cold[idx].imp_lost++;
			if (f->held) { /* the held packet goes out in order after all */
				tx_queue(lc, g.cold[idx].held);
				g.cold[idx].held = NULL;
				f->held = 0;
			}
		} else {
			struct rte_mbuf *m = tx_build(lc, f, fr), *d = NULL;

			if (m) {
				f->tx_unsent--;
				dp_flow_add_tx_bytes(f, fr->len + DP_RTP_HLEN + (f->owd_ext ? DP_EXT_TXTIME_LEN : 0));
			}
			if (m && (act & DP_IMP_DUP) && !(act & DP_IMP_REORDER)) {
				d = rte_pktmbuf_copy(m, g.port.pool, 0, UINT32_MAX);
				if (d)
					g.cold[idx].imp_dup++;
			}
			if (m && f->held) {
				tx_queue(lc, m);
				if (d)
					tx_queue(lc, d);
				tx_queue(lc, g.cold[idx].held);
				g.cold[idx].held = NULL;
				f->held = 0;
				g.cold[idx].imp_reordered++;
			} else if (m && (act & DP_IMP_REORDER)) {
				g.cold[idx].held = m;
				f->held = 1;
			} else if (m) {
				tx_queue(lc, m);
				if (d)
					tx_queue(lc, d);
			}
		}
		f->seq++;
	}
	tx_next_frame(f, c->nframes, fr);
	f->delay_tsc = 0;
	if ((lc->impair_on & (1u << f->impair)) && im->jitter_us)
		f->delay_tsc = (uint32_t)(g.tsc_hz * dp_impair_delay_us(im, idx, f->tx_index) / 1000000);
	tx_slow_update(f); /* DTMF ended, a packet held or let go, a MAC resolved, a delay */
}

/* tx_packet()'s common case in a straight line, for the send loops: a flow that sends an audio frame (not DTX)
 * with no DTMF event, SRTP, TX-time extension or impairment profile, to a MAC given by the control plane (not our
 * own), less than DP_TX_SKIP_NS behind.  The same packet and the same state changes as tx_packet(), from line 3 of
 * the flow only (tx_slow sums up what line 2 would say); false, with nothing done, for anything else (tx_packet()
 * then handles it). */
static inline __attribute__((always_inline)) bool tx_plain(struct dp_lcore *lc, struct dp_flow *f, uint64_t now)
{
	const struct dp_cache_ent *c;
	const struct codec_frame *fr;
	uint64_t late_ns;
	struct rte_mbuf *m;

	if (f->tx_slow | ((lc->impair_on >> f->impair) & 1))
		return false;
	c = flow_ent(f);
	fr = &c->frames[f->frame];
	late_ns = tsc_to_ns(now - f->nominal_tsc); /* no delay_tsc: tx_slow */
	if ((fr->flags & CODEC_FRAME_DTX) || late_ns > DP_TX_SKIP_NS)
		return false;
	lc->pace_hist[pacing_bucket(late_ns)]++;
	if (late_ns > lc->pace_max_ns)
		lc->pace_max_ns = late_ns;
	f->tx_index++;
	m = tx_mbuf(lc);
	if (likely(m != NULL)) {
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		bool marker = fr->flags & CODEC_FRAME_MARKER;
		uint16_t sum = c->sums[f->frame];

		/* untagged with checksums in software (the virtual devices) built with those two known */
		if (likely(!g.cfg.vlan && !g.port.tx_csum_offload))
			m->data_len = m->pkt_len = dp_build_rtp_fast(d, f, g.eth_src, 0, lc->ip_id++, marker,
								     c->data + fr->offset, fr->len, sum, true);
		else
			m->data_len = m->pkt_len = dp_build_rtp_fast(d, f, g.eth_src, g.cfg.vlan, lc->ip_id++, marker,
								     c->data + fr->offset, fr->len, sum,
								     !g.port.tx_csum_offload);
		if (g.port.tx_csum_offload)
			tx_offload(m);
		dp_flow_add_tx_bytes(f, fr->len + DP_RTP_HLEN);
		tx_queue_remote(lc, m);
	} else {
		f->tx_unsent++;
	}
	f->seq++;
	tx_next_frame(f, c->nframes, fr);
	return true;
}

/* Works through what is due, in two stages so that the flow records (scattered over a table of up to millions)
 * arrive from memory in parallel: first the due flows are listed (about DP_TX_BUDGET in all, so that RX keeps
 * up), then the list is worked with each flow's line 3 prefetched DP_TX_AHEAD flows in advance.
 *   - The periodic schedule: each class's walker lists the entries whose time in the current lap has come, in
 *     phase order, at most one lap per pass.  A flow sent from there stays where it is; one that fell a period
 *     or more behind (or whose impairment now delays packets) moves to the wheel, which catches it up.
 *   - The timing wheel: whole chunks of the passed slots are detached; a flow due later in the current slot goes
 *     back into it for the next pass; a flow sent from the wheel is scheduled again (tx_schedule), on the
 *     periodic schedule when it can.
 * A port that stops taking frames leaves the rest of the list in the wheel's current slot. */
#define DP_TX_AHEAD 16

static inline void tx_prefetch_flow(uint32_t idx)
{
	rte_prefetch0(&g.flows[idx].nominal_tsc); /* line 3: all a plain packet needs */
}

/* Lists the due entries of a class, copied whole: entry i's time in the lap is *epoch + due[i].phase (a list
 * never crosses a lap).  A walker more than DP_TX_SKIP_NS behind (a stalled lcore) skips whole laps to the
 * present, as its flows do (tx_skip). */
static unsigned pclass_collect(struct dp_pclass *c, uint64_t now, struct dp_pent *due, uint64_t *epoch,
			       unsigned max)
{
	unsigned nd = 0;

	if ((int64_t)(now - (c->epoch + pslot_start(c, c->cur_slot))) > (int64_t)g.skip_tsc) {
		c->epoch += (now - c->epoch) / c->period * c->period;
		c->cur_slot = c->cur_i = 0;
	}
	*epoch = c->epoch;
	for (;;) {
		uint32_t s = c->cur_slot;
		const struct dp_pent *e = c->e + (size_t)s * g.pcap;

		for (; c->cur_i < c->n[s]; c->cur_i++) {
			uint64_t t = c->epoch + e[c->cur_i].phase;

			if ((int64_t)(t - now) > 0 || nd == max) {
				/* not yet: the next few are, soon (a pass later when the list is full: as many as the
				 * send stage keeps in flight); their flow lines are fetched meanwhile */
				unsigned ahead = nd == max ? DP_TX_AHEAD : 2;

				for (unsigned k = c->cur_i; k < c->n[s] && k < c->cur_i + ahead; k++)
					tx_prefetch_flow(e[k].idx);
				return nd;
			}
			due[nd] = e[c->cur_i];
			if (nd < DP_TX_AHEAD)
				tx_prefetch_flow(due[nd].idx);
			nd++;
		}
		/* the slot is done once its span has passed (until then a flow may still join it) */
		if ((int64_t)(c->epoch + pslot_start(c, s + 1) - now) > 0)
			return nd;
		c->cur_i = 0;
		if (s + 1 < DP_PSLOTS) {
			uint32_t s2 = s + 2 < DP_PSLOTS ? s + 2 : 0;
			const char *p2 = (const char *)(c->e + (size_t)s2 * g.pcap);

			c->cur_slot = s + 1;
			/* the slot after next: its entries arrive while this one is worked */
			for (size_t off = 0; off < c->n[s2] * sizeof(*e); off += RTE_CACHE_LINE_SIZE)
				rte_prefetch0(p2 + off);
		} else {
			c->cur_slot = 0;
			c->epoch += c->period;
			return nd; /* one lap per pass: a flow is listed once */
		}
	}
}

/* Before the i-th flow of a list is worked (the caller has prefetched the one DP_TX_AHEAD on): every 16 packets
 * the port is checked (false: it is backpressured, stop) and the send time *t read again (rdtsc is not free: the
 * pacing error recorded is late by the building of at most 15 packets). */
static inline bool tx_step(struct dp_lcore *lc, unsigned i, uint64_t *t)
{
	if ((i & 15) == 0) {
		if (tx_backlogged(lc))
			return false;
		*t = rte_rdtsc();
	}
	return true;
}

/* The second stage for a class's list; false when the port is backpressured (the rest wait in the wheel). */
static bool pclass_send(struct dp_lcore *lc, const struct dp_pent *due, uint64_t epoch, unsigned nd, uint64_t now)
{
	uint64_t t = 0;
	unsigned i;

	for (i = 0; i < nd; i++) {
		uint32_t idx = due[i].idx;
		uint64_t lap = epoch + due[i].phase;
		struct dp_flow *f = &g.flows[idx];

		if (i + DP_TX_AHEAD < nd)
			tx_prefetch_flow(due[i + DP_TX_AHEAD].idx);
		if (!tx_step(lc, i, &t))
			break;
		if (f->nominal_tsc > now) /* its first packet is a lap later */
			continue;
		/* a plain packet leaves no delay and has no impairment profile: only line 3 is read */
		if (tx_plain(lc, f, t) ? (int64_t)(f->nominal_tsc - lap) <= 0
				       : (tx_packet(lc, idx, t), f->delay_tsc || (int64_t)(f->nominal_tsc - lap) <= 0 ||
								 tx_jittered(lc, f))) {
			pclass_remove(lc, idx);
			wheel_insert(lc, idx, f->nominal_tsc + f->delay_tsc);
		}
	}
	for (unsigned k = i; k < nd; k++) {
		pclass_remove(lc, due[k].idx);
		wheel_insert(lc, due[k].idx, 0);
	}
	return i == nd;
}

static void tx_run(struct dp_lcore *lc, uint64_t now)
{
	uint64_t now_slot = now >> g.wheel_shift, t = 0;
	uint32_t due[DP_TX_BUDGET + DP_CHUNK_FLOWS];
	struct dp_pent pdue[DP_TX_BUDGET];
	uint64_t epoch;
	unsigned ndue = 0, i, used = 0;

	lc->pclass_first = (lc->pclass_first + 1) % DP_PCLASSES;
	for (unsigned k = 0; k < DP_PCLASSES; k++) {
		struct dp_pclass *c = &lc->pclass[(lc->pclass_first + k) % DP_PCLASSES];

		if (!c->flows || used >= DP_TX_BUDGET - DP_BURST) /* the wheel gets a burst's worth at least */
			continue;
		ndue = pclass_collect(c, now, pdue, &epoch, DP_TX_BUDGET - DP_BURST - used);
		used += ndue;
		if (ndue && !pclass_send(lc, pdue, epoch, ndue, now)) {
			tx_flush(lc);
			return;
		}
	}
	ndue = 0;
	if ((int64_t)(now_slot - lc->wheel_pos) > (int64_t)g.wheel_mask) /* stalled longer than a revolution:
									     visit each slot once */
		lc->wheel_pos = now_slot - g.wheel_mask;
	while (ndue + used < DP_TX_BUDGET) {
		uint32_t *head = &lc->wheel[lc->wheel_pos & g.wheel_mask];

		if (!*head) {
			/* >=, not ==: a pass whose clock reading is older than the last one's (TSC read on another
			 * core, or before a long stall) must not walk the whole 64-bit slot space */
			if ((int64_t)(lc->wheel_pos - now_slot) >= 0)
				break;
			lc->wheel_pos++;
			uint32_t ahead = lc->wheel[(lc->wheel_pos + 2) & g.wheel_mask];
			if (ahead)
				rte_prefetch0(&lc->chunks[ahead - 1]);
			continue;
		}
		uint32_t c = *head;
		struct dp_wheel_chunk *ch = &lc->chunks[c - 1];

		/* Detach the chunk, keep its indices, give it back. */
		*head = ch->next;
		/* a slot's chain is walked serially: fetch two links ahead (the next one is on its way already) */
		if (ch->next2)
			rte_prefetch0(&lc->chunks[ch->next2 - 1]);
		for (uint32_t k = 0; k < ch->n; k++, ndue++) {
			due[ndue] = ch->idx[k];
			if (ndue < DP_TX_AHEAD)
				tx_prefetch_flow(due[ndue]);
		}
		ch->next = lc->free_chunk;
		lc->free_chunk = c;
		if (*head)
			rte_prefetch0(&lc->chunks[*head - 1]);
	}
	for (i = 0; i < ndue; i++) {
		uint32_t idx = due[i];
		struct dp_flow *f = &g.flows[idx];

		if (i + DP_TX_AHEAD < ndue)
			tx_prefetch_flow(due[i + DP_TX_AHEAD]);
		if (!tx_step(lc, i, &t))
			break;
		f->in_wheel = 0;
		if (!f->active || !f->cache_id)
			continue;
		if (f->nominal_tsc + f->delay_tsc > now) { /* later in this slot, or a later revolution */
			tx_schedule(lc, idx, now);
			continue;
		}
		if (!tx_plain(lc, f, t))
			tx_packet(lc, idx, t);
		tx_schedule(lc, idx, now);
	}
	for (; i < ndue; i++) /* the port is backpressured: these wait in the current slot */
		wheel_insert(lc, due[i], 0);
	tx_flush(lc);
}

/* ---- RTCP (RFC 3550 §6) ------------------------------------------------------------------------------------ */

/* Every DP_WALL_EVERY_NS on lcore 0: the wall clock follows CLOCK_REALTIME (dp_wall_discipline; ~1 µs, the readings). */
static void wall_discipline(uint64_t now_ns)
{
	uint64_t tsc, real;

	g.wall_next_ns = now_ns + DP_WALL_EVERY_NS;
	dp_clock_pair(CLOCK_REALTIME, &tsc, &real);
	dp_wall_discipline(tsc_to_ns(tsc), real);
}

uint64_t dp_wall_ns(void)
{
	return dp_wall_at(tsc_to_ns(rte_rdtsc()));
}

static uint64_t ntp_now(uint64_t now_ns)
{
	uint64_t wall = dp_wall_at(now_ns); /* CLOCK_REALTIME ns */
	uint64_t sec = wall / 1000000000ull + NTP_UNIX_OFFSET;

	return sec << 32 | (((wall % 1000000000ull) << 32) / 1000000000ull);
}

/* A compound SR (we sent RTP since our last report) or RR, with a report block about the remote source when
 * there is one, and SDES CNAME. */
static void rtcp_send(struct dp_lcore *lc, uint32_t idx, uint64_t now_ns)
{
	struct dp_flow *f = &g.flows[idx];
	struct dp_flow_cold *c = &g.cold[idx];
	struct dp_rtcp_out r = { .ssrc = dp_flow_ssrc(f) };
	struct rte_mbuf *m;
	char cname[32];

	if (!f->mac_ok || !f->remote_port_be)
		return;
	m = tx_mbuf(lc);
	if (!m)
		return;
	{ /* "flow<idx>@callmeter", without snprintf on the lcore */
		char digits[10];
		unsigned nd = 0, o = 4;
		uint32_t v = idx;

		do {
			digits[nd++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		memcpy(cname, "flow", 4);
		while (nd)
			cname[o++] = digits[--nd];
		memcpy(cname + o, "@callmeter", sizeof("@callmeter"));
	}
	r.cname = cname;
	r.ntp = ntp_now(now_ns);
	r.sender = dp_flow_tx_packets(f) != c->tx_at_report;
	r.rtp_ts = f->ts;
	r.packets = dp_flow_tx_packets(f);
	r.octets = (uint32_t)(dp_flow_tx_bytes(f) - (uint64_t)r.packets * DP_RTP_HLEN);
	if (f->rx.have_ssrc) {
		struct dp_rx_report rep;
		uint64_t rcv, exp_i, rcv_i;

		dp_rx_report(&f->rx, 0, &rep);
		rcv = rep.expected - (uint64_t)(rep.packets_lost > 0 ? rep.packets_lost : 0);
		exp_i = rep.expected - c->exp_at_report;
		rcv_i = rcv - c->rcv_at_report;
		c->exp_at_report = rep.expected;
		c->rcv_at_report = rcv;
		r.have_block = true;
		r.remote_ssrc = f->rx.ssrc;
		r.fraction_lost = exp_i > rcv_i ? (uint8_t)RTE_MIN(255u, ((exp_i - rcv_i) << 8) / exp_i) : 0;
		r.cum_lost = (int32_t)RTE_MIN(rep.packets_lost, (int64_t)INT32_MAX);
		r.ext_max_seq = f->rx.cycles + f->rx.max_seq;
		r.jitter = (uint32_t)((uint64_t)f->rx.jitter_ns * f->rx.clock_rate / 1000000000ull);
		if (c->lsr) {
			r.lsr = c->lsr;
			r.dlsr = (uint32_t)(((now_ns - c->lsr_arrival_ns) << 16) / 1000000000ull);
		}
	}
	c->tx_at_report = dp_flow_tx_packets(f);
	m->data_len = m->pkt_len = dp_build_rtcp(rte_pktmbuf_mtod(m, uint8_t *), f, g.mac, g.cfg.vlan,
						  lc->ip_id++, &r);
	if (f->srtp && !tx_srtp(lc, idx, m, true)) {
		rte_pktmbuf_free(m);
		return;
	}
	c->rtcp_sent++;
	tx_queue(lc, m);
}

/* RTCP for a flow: LSR from an SR, the remote's report about our stream, RTT from LSR/DLSR (§6.4.1).  RTCP
 * arrives on the RTP port + 1, or on the RTP port itself (RFC 5761 multiplexing). */
static enum dp_drop_reason rx_rtcp(struct dp_lcore *lc, const struct dp_pkt *pk, uint32_t ipi, uint64_t now_ns)
{
	uint32_t fid = g.port_map[ipi << 16 | (pk->dst_port & 1 ? pk->dst_port - 1u : pk->dst_port)];
	struct dp_rtcp_in in;
	struct dp_flow_cold *c;

	if (!fid)
		return DP_DROP_rtcp;
	if (flow_owner(fid - 1) != lc->slot)
		return DP_DROP_other_lcore; /* the caller hands it over */
	fid--;
	c = &g.cold[fid];
	int len = pk->payload_len;
	if (g.flows[fid].rx_srtp) {
		srtp_err_status_t st = rx_unprotect(lc, c, pk, &len, true);
		if (st != srtp_err_status_ok)
			return st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old ? DP_DROP_srtp_replay
												  : DP_DROP_srtp_auth_fail;
	}
	if (dp_rtcp_parse(pk->udp_payload, (uint32_t)len, dp_flow_ssrc(&g.flows[fid]), &in) < 0)
		return DP_DROP_rtcp_bad;
	c->rtcp_received++;
	if (in.have_sr) {
		c->lsr = in.sr_lsr;
		c->lsr_arrival_ns = now_ns;
	}
	if (in.have_block) {
		int64_t rtt = dp_rtcp_rtt_us((uint32_t)(ntp_now(now_ns) >> 16), in.lsr, in.dlsr);

		c->remote_report = 1;
		c->remote_fraction = in.fraction_lost;
		c->remote_cum_lost = in.cum_lost;
		c->remote_jitter = in.jitter;
		if (rtt >= 0)
			c->rtt_us = (int32_t)RTE_MIN(rtt, (int64_t)INT32_MAX);
	}
	return DP_DROP_NONE;
}

/* ---- RX --------------------------------------------------------------------------------------------------- */

enum rx_verdict { RX_DROP = -1, RX_DONE = 0, RX_REUSED = 1, RX_FLOW = 2 };

/* ARP for a media IP: answer requests (learning the asker), learn from replies.  Gratuitous ARP (sender IP =
 * target IP) is neither answered nor learned. */
static enum rx_verdict rx_arp(struct dp_lcore *lc, struct rte_mbuf *m, uint64_t now_ns)
{
	struct dp_arp a;
	bool ours;

	if (dp_arp_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &a) < 0)
		return RX_DROP;
	ip_index(a.target_ip, &ours);
	if (!ours || g.cfg.n_media_ips == 0 || a.sender_ip == a.target_ip)
		return RX_DROP;
	if (dp_arp_learn(&g.arp, a.sender_ip, a.sender_mac, now_ns))
		lc->arp_learned++;
	if (a.op != 1)
		return RX_DONE;
	m->data_len = m->pkt_len = dp_arp_build(rte_pktmbuf_mtod(m, uint8_t *), g.cfg.vlan, 2, g.mac, a.target_ip,
						 a.sender_mac, a.sender_ip);
	m->ol_flags = 0;
	lc->arp_answered++;
	tx_queue(lc, m);
	return RX_REUSED;
}

static bool rx_icmp(struct dp_lcore *lc, struct rte_mbuf *m)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m), off = len >= 18 && f[12] == 0x81 && f[13] == 0 ? 18 : 14;
	uint32_t dst;
	bool ours;

	if (len < off + 20)
		return false;
	dst = (uint32_t)f[off + 16] << 24 | (uint32_t)f[off + 17] << 16 | (uint32_t)f[off + 18] << 8 | f[off + 19];
	ip_index(dst, &ours);
	if (!ours || g.cfg.n_media_ips == 0 || !dp_icmp_echo_reply(f, len, dst))
		return false;
	m->ol_flags = 0;
	lc->icmp_answered++;
	tx_queue(lc, m);
	return true;
}

/* First stage of RX: classify a packet down to its flow (RX_FLOW, *fid set), or answer it (RX_REUSED: the mbuf
 * went out again), or drop it by reason (RX_DROP / RX_DONE: the caller frees it). */
static enum rx_verdict rx_classify(struct dp_lcore *lc, struct rte_mbuf *m, uint64_t now_ns, struct dp_pkt *out,
				   uint32_t *fid_out)
{
	struct dp_pkt pk;
	enum dp_drop_reason r;
	bool verify = true, ok;
	uint64_t fl = m->ol_flags;

	if (g.port.rx_csum_offload) {
		if ((fl & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
			lc->drops[DP_DROP_ip_bad_checksum]++;
			return RX_DROP;
		}
		if ((fl & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
			lc->drops[DP_DROP_udp_bad_checksum]++;
			return RX_DROP;
		}
		verify = (fl & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD ||
			 (fl & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	}
	r = dp_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), verify, &pk);
	if (r == DP_DROP_arp) {
		enum rx_verdict v = rx_arp(lc, m, now_ns);
		if (v != RX_DROP)
			return v;
	}
	if (r == DP_DROP_not_udp && rx_icmp(lc, m))
		return RX_REUSED;
	if (r == DP_DROP_rtcp && pk.vlan == g.cfg.vlan) {
		bool mine;
		uint32_t ipi = ip_index(pk.dst_ip, &mine);

		if (mine && g.cfg.rtcp_interval_ms) {
			r = rx_rtcp(lc, &pk, ipi, now_ns);
			if (r == DP_DROP_NONE)
				return RX_DONE;
			if (r == DP_DROP_other_lcore && g.steer) {
				uint32_t fid = g.port_map[ipi << 16 | (pk.dst_port & 1 ? pk.dst_port - 1u : pk.dst_port)] - 1;
				struct rte_ring *ring = g.steer[lc->slot * g.port.nlcores + flow_owner(fid)];

				if (ring && rte_ring_sp_enqueue(ring, m) == 0) {
					lc->rx_steered++;
					return RX_REUSED;
				}
			}
		}
	}
	if (r != DP_DROP_NONE) {
		lc->drops[r]++;
		return RX_DROP;
	}
	if (pk.vlan != g.cfg.vlan) {
		lc->drops[DP_DROP_vlan_mismatch]++;
		return RX_DROP;
	}
	uint32_t ipi = ip_index(pk.dst_ip, &ok);
	if (!ok) {
		lc->drops[DP_DROP_not_media_ip]++;
		return RX_DROP;
	}
	*out = pk;
	*fid_out = ipi << 16 | pk.dst_port; /* the port map key; rx_lookup() turns it into the flow */
	return RX_FLOW;
}

/* The flow of a classified packet: RX_FLOW (ours, *key_fid is now the flow index), RX_REUSED (handed to the
 * owning lcore) or RX_DROP. */
static enum rx_verdict rx_lookup(struct dp_lcore *lc, struct rte_mbuf *m, uint32_t *key_fid, uint64_t at)
{
	uint32_t fid = g.port_map[*key_fid];
	unsigned owner;

	if (!fid) {
		lc->drops[DP_DROP_unknown_port]++;
		return RX_DROP;
	}
	fid--;
	owner = flow_owner(fid);
	if (owner != lc->slot) {
		struct rte_ring *r = g.steer ? g.steer[lc->slot * g.port.nlcores + owner] : NULL;

		if (r) {
			*RTE_MBUF_DYNFIELD(m, g.arrival_off, uint64_t *) = at;
			if (rte_ring_sp_enqueue(r, m) == 0) {
				lc->rx_steered++;
				return RX_REUSED;
			}
		}
		lc->drops[DP_DROP_other_lcore]++;
		return RX_DROP;
	}
	*key_fid = fid;
	return RX_FLOW;
}

/* Second stage: the flow's analysis (its record prefetched by the first stage). */
static void rx_account(struct dp_lcore *lc, const struct rte_mbuf *m, const struct dp_pkt *pk, uint32_t fid,
		       uint64_t now_ns)
{
	struct dp_flow *f = &g.flows[fid];
	bool changed;
	uint64_t at = now_ns;
	int len = pk->udp_len;

	if (f->rx_srtp) { /* authenticate and decrypt in place; the header fields parsed are not encrypted */
		srtp_err_status_t st = rx_unprotect(lc, &g.cold[fid], pk, &len, false);
		if (st != srtp_err_status_ok) {
			lc->drops[st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old
					  ? DP_DROP_srtp_replay : DP_DROP_srtp_auth_fail]++;
			return;
		}
	}
	if (g.port.ts_offset >= 0 && (m->ol_flags & g.port.ts_flag))
		at = *RTE_MBUF_DYNFIELD(m, g.port.ts_offset, rte_mbuf_timestamp_t *);
	if (f->rx_owd_ext) {
		/* One-way delay against this lcore's clock (the TSC, not a NIC timestamp: same epoch as NTP here). */
		uint64_t txt;

		if (dp_ext_find_txtime(pk->udp_payload, (uint32_t)len, f->rx_owd_ext, &txt)) {
			struct dp_flow_cold *c = &g.cold[fid];
			int64_t d = (int64_t)(ntp_now(now_ns) - txt);
			int32_t us = (int32_t)RTE_MAX(RTE_MIN((d * 1000000) >> 32, (int64_t)INT32_MAX), (int64_t)INT32_MIN);

			if (!c->owd_count || us < c->owd_min_us)
				c->owd_min_us = us;
			if (!c->owd_count || us > c->owd_max_us)
				c->owd_max_us = us;
			c->owd_count++;
			c->owd_sum_us += us;
		}
	}
	if (f->dtmf_pt && pk->pt == f->dtmf_pt) {
		struct dp_flow_cold *c = &g.cold[fid];

		changed = f->rx.have_ssrc && f->rx.ssrc != pk->ssrc;
		dp_rx_event_packet(&f->rx, pk->seq, pk->ts, pk->ssrc, at, (uint32_t)len);
		/* A new event has a new timestamp (RFC 4733 §2.5.2). */
		if (pk->payload_len >= 4 && (!c->dtmf_rx_seen || pk->ts != c->dtmf_rx_ts)) {
			c->dtmf_rx_seen = 1;
			c->dtmf_rx_ts = pk->ts;
			c->dtmf_received++;
			c->dtmf_last = pk->payload[0];
			event(lc, DP_EV_DTMF, fid, pk->payload[0], at);
		}
	} else {
		if (unlikely(pk->pt != f->rx.pt))
			rx_payload_type(f, &g.cold[fid], pk->pt);
		/* the common case touches line 0 only; neither event is due after an in-order packet (the source
		 * was validated: two packets came before it, and its SSRC is the last one's) */
		if (likely(dp_rx_in_order(&f->rx, pk->seq, pk->ts, pk->ssrc, at, (uint32_t)len))) {
			f->silent = 0;
			return;
		}
		changed = f->rx.have_ssrc && f->rx.ssrc != pk->ssrc;
		dp_rx_packet(&f->rx, pk->seq, pk->ts, pk->ssrc, at, (uint32_t)len);
	}
	f->silent = 0;
	if (f->rx.packets == 1)
		event(lc, DP_EV_FIRST_PACKET, fid, pk->ssrc, at);
	else if (changed)
		event(lc, DP_EV_SSRC_CHANGE, fid, pk->ssrc, at);
}

static void silent_scan(struct dp_lcore *lc, uint64_t now_ns)
{
	uint64_t limit = (uint64_t)g.cfg.silent_ms * 1000000ull;

	uint64_t per_lcore = g.cfg.max_flows / g.port.nlcores + 1, n, sweep = g.scan_sweep_ns;

	if (!limit && !g.cfg.rtcp_interval_ms)
		return;
	/* Paced by time, not by loop passes: an idle lcore spins fast and would sweep the table needlessly. */
	lc->scan_credit += RTE_MIN(now_ns - lc->scan_last_ns, sweep) * per_lcore;
	lc->scan_last_ns = now_ns;
	n = RTE_MIN(lc->scan_credit / sweep, (uint64_t)DP_SCAN_MAX);
	lc->scan_credit -= n * sweep;
	if (lc->scan_credit > DP_SCAN_MAX * sweep)
		lc->scan_credit = DP_SCAN_MAX * sweep; /* behind: do not build up a debt */
	for (unsigned i = 0, rtcp = 0; i < n; i++) {
		uint32_t idx = lc->silent_next;
		struct dp_flow *f = &g.flows[idx];
		bool rtcp_due = f->active && f->dir && g.cfg.rtcp_interval_ms && now_ns >= g.cold[idx].next_rtcp_ns;

		if (rtcp_due && rtcp == DP_RTCP_PER_PASS) {
			lc->scan_credit += (n - i) * sweep; /* this flow first, next pass */
			break;
		}
		lc->silent_next += g.port.nlcores;
		if (lc->silent_next >= g.cfg.max_flows)
			lc->silent_next = lc->slot;
		if (limit && f->active && (f->dir & DP_FLOW_RECV) && f->rx.packets && !f->silent &&
		    now_ns > f->rx.last_arrival_ns + limit) {
			f->silent = 1;
			event(lc, DP_EV_SILENT, idx, f->rx.ssrc, now_ns);
		}
		if (rtcp_due) {
			rtcp++;
			rtcp_send(lc, idx, now_ns);
			g.cold[idx].next_rtcp_ns = now_ns + rtcp_interval_ns(idx, g.cold[idx].rtcp_sent + 1);
		}
	}
	/* The flows the next passes look at first (a pass looks at one or two when the lcore is busy): the two
	 * lines every look reads arrive meanwhile instead of being waited for. */
	for (uint32_t k = 0, idx = lc->silent_next; k < DP_SCAN_AHEAD; k++) {
		rte_prefetch0(&g.flows[idx].active);
		rte_prefetch0(&g.cold[idx].next_rtcp_ns);
		idx += g.port.nlcores;
		if (idx >= g.cfg.max_flows)
			idx = lc->slot;
	}
}

bool dp_engine_manual;

/* A classified packet's port map key becomes its flow, whose line 0 (all an in-order packet needs) is
 * prefetched; false when the packet left (another lcore's flow, or dropped). */
static inline bool rx_lookup_slot(struct dp_lcore *lc, struct dp_rx_slot *x)
{
	enum rx_verdict v = rx_lookup(lc, x->m, &x->fid, x->at);

	if (v != RX_FLOW) {
		if (v == RX_DROP)
			rte_pktmbuf_free(x->m);
		return false;
	}
	rte_prefetch0(&g.flows[x->fid]);
	return true;
}

/* Moves the pipeline on: the looked-up stage `found` is accounted (each packet's flow analysis, then its mbuf
 * back to the pool) while the classified stage `keyed` is looked up, a packet of each in turn: a prefetch waits
 * when the CPU has as many misses under way as it can track, and here it waits while the accounting works.
 * found's flows were prefetched a burst ago, but by now many have left L1 for L2 (line 0 of every flow falls in
 * the same quarter of L1's sets, 256-byte records): asked for again all at once first, they come back in
 * parallel, instead of one L2 wait after another in the chain of loads and branches that each packet's
 * accounting is. */
static void rx_advance(struct dp_lcore *lc, struct dp_rx_stage *found, struct dp_rx_stage *keyed)
{
	uint16_t nk = 0, n = RTE_MAX(found->n, keyed->n);

	for (uint16_t j = 0; j < found->n; j++)
		rte_prefetch0(&g.flows[found->s[j].fid]);
	for (uint16_t j = 0; j < n; j++) {
		if (j < keyed->n && rx_lookup_slot(lc, &keyed->s[j])) {
			if (nk != j)
				keyed->s[nk] = keyed->s[j];
			nk++;
		}
		if (j < found->n) {
			struct dp_rx_slot *x = &found->s[j];

			rx_account(lc, x->m, &x->pk, x->fid, x->at);
			rte_pktmbuf_free(x->m);
		}
	}
	found->n = 0;
	keyed->n = nk;
}

/* Every packet in the pipeline accounted, in the order received. */
static void rx_flush_pending(struct dp_lcore *lc)
{
	struct dp_rx_stage *none = lc->rx_spare;

	none->n = 0;
	rx_advance(lc, lc->rx_found, lc->rx_keyed);
	rx_advance(lc, lc->rx_keyed, none);
}

/* Three stages a burst apart, so that the memory a packet needs (its port map entry, then its flow's line 0,
 * both scattered over tables of up to millions of entries) is fetched while other bursts are worked on instead
 * of being waited for: this burst is parsed and its port map entries prefetched; the burst before is looked up
 * (its entries have landed) and its flows prefetched; the one before that is accounted (its flows have landed).
 * steered: packets another lcore received for our flows, with their arrival time in a dynfield. */
static void rx_process(struct dp_lcore *lc, struct rte_mbuf **pkts, uint16_t n, uint64_t now_ns, bool steered)
{
	struct dp_rx_stage *in = lc->rx_spare, *keyed = lc->rx_keyed, *found = lc->rx_found;

	for (uint16_t i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	in->n = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct dp_rx_slot *x = &in->s[in->n];
		enum rx_verdict v;

		if (!steered)
			lc->rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
		v = rx_classify(lc, pkts[i], now_ns, &x->pk, &x->fid);
		if (v == RX_FLOW) {
			rte_prefetch0(&g.port_map[x->fid]);
			x->m = pkts[i];
			x->at = steered ? *RTE_MBUF_DYNFIELD(pkts[i], g.arrival_off, uint64_t *) : now_ns;
			in->n++;
		} else if (v != RX_REUSED) {
			rte_pktmbuf_free(pkts[i]);
		}
	}
	rx_advance(lc, found, keyed);
	lc->rx_found = keyed;
	lc->rx_keyed = in;
	lc->rx_spare = found;
}

static void flow_copy(uint32_t flow, struct dp_flow_snapshot *out);

/* A snapshot request: copy up to DP_SNAP_PER_PASS of this lcore's flows a pass (bounded, so that pacing hardly
 * notices) into the request's buffer, then say the request is served, once the commands sent before it are
 * done.  The control plane posts the next one only after every lcore served this one, so its fields do not
 * change meanwhile. */
static void snap_serve(struct dp_lcore *lc, unsigned ncmd)
{
	uint64_t seq = __atomic_load_n(&lc->snap_seq, __ATOMIC_ACQUIRE);
	unsigned copied = 0;
	uint32_t i;

	/* commands sent before the request come first (a flow deleted, then read: what it sent in all) */
	if (seq == lc->snap_done || lc->cmds_done + ncmd < lc->snap_cmds)
		return;
	for (i = lc->snap_pos; i < g.snap_n && copied < DP_SNAP_PER_PASS; i++) {
		uint32_t flow = g.snap_flows[i];

		if (flow < g.cfg.max_flows && flow_owner(flow) == lc->slot) {
			flow_copy(flow, &g.snap_buf[i]);
			copied++;
		}
	}
	lc->snap_pos = i;
	if (i == g.snap_n) {
		lc->snap_pos = 0;
		__atomic_store_n(&lc->snap_done, seq, __ATOMIC_RELEASE);
	}
}

/* One pass of an lcore: an RX burst, a few commands, the due part of the timing wheel, a silence check. */
static void lcore_pass(struct dp_lcore *lc)
{
	struct rte_mbuf *pkts[DP_BURST];
	struct dp_cmd cmd;

	{
		uint64_t now = rte_rdtsc();
		uint64_t now_ns = tsc_to_ns(now);
		uint16_t n;
		unsigned ncmd = 0, bursts = 0;

		/* RX until the queue is empty (or DP_RX_BURSTS bursts): what the previous pass sent on a loopback
		 * port comes back here, and must be drained before this pass sends more. */
		do {
			uint64_t at_ns = bursts ? tsc_to_ns(rte_rdtsc()) : now_ns;

			n = rte_eth_rx_burst(g.port.port_id, lc->queue, pkts, DP_BURST);
			rx_process(lc, pkts, n, at_ns, false);
			lc->rx_packets += n;
		} while (n == DP_BURST && ++bursts < DP_RX_BURSTS);
		/* what the previous pass sent to our own MAC arrives now, as if the wire had returned it */
		for (unsigned i = 0; i < lc->nlocal; i += DP_BURST) {
			uint16_t k = (uint16_t)RTE_MIN((unsigned)DP_BURST, lc->nlocal - i);

			rx_process(lc, lc->local + i, k, now_ns, false);
			lc->rx_packets += k;
			lc->local_delivered += k;
		}
		lc->nlocal = 0;
		for (unsigned src = 0; g.steer && src < g.port.nlcores; src++) {
			struct rte_ring *r = g.steer[src * g.port.nlcores + lc->slot];
			unsigned k;

			if (!r)
				continue;
			for (unsigned b = 0; b < DP_RX_BURSTS; b++) {
				k = rte_ring_sc_dequeue_burst(r, (void **)pkts, DP_BURST, NULL);
				if (k)
					rx_process(lc, pkts, (uint16_t)k, now_ns, true);
				if (k < DP_BURST)
					break;
			}
		}
		while (ncmd < DP_CMDS_PER_PASS && rte_ring_sc_dequeue_elem(lc->cmd, &cmd, sizeof(cmd)) == 0) {
			rx_flush_pending(lc); /* looked up before this command: account before flows change */
			cmd_run(lc, &cmd, now);
			ncmd++;
		}
		tx_run(lc, now);
		silent_scan(lc, now_ns);
		snap_serve(lc, ncmd);
		if (unlikely(now_ns >= g.wall_next_ns) && lc->slot == 0)
			wall_discipline(now_ns);
		if (ncmd)
			__atomic_store_n(&lc->cmds_done, lc->cmds_done + ncmd, __ATOMIC_RELEASE);
	}
}

static void gratuitous_arp(struct dp_lcore *lc)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	/* Gratuitous ARP for every media IP, so that switches and peers learn where they are. */
	for (unsigned i = 0; lc->slot == 0 && i < g.cfg.n_media_ips; i++)
		tx_arp(lc, 1, bcast, g.cfg.media_ips[i], g.cfg.media_ips[i]);
	tx_flush(lc);
}

static int lcore_main(void *arg)
{
	struct dp_lcore *lc = arg;

	if (pthread_getcpuclockid(pthread_self(), &lc->cpu_clock) == 0)
		__atomic_store_n(&lc->has_cpu_clock, true, __ATOMIC_RELEASE);
	gratuitous_arp(lc);
	while (!g.stop)
		lcore_pass(lc);
	rx_flush_pending(lc);
	tx_discard(lc);
	return 0;
}

void dp_engine_poll_once(unsigned slot)
{
	lcore_pass(&g.lc[slot]);
}

void dp_pacing_get(struct dp_pacing *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; g.lc && i < g.port.nlcores; i++) {
		for (unsigned b = 0; b < DP_PACING_BUCKETS; b++) {
			out->hist[b] += g.lc[i].pace_hist[b];
			out->count += g.lc[i].pace_hist[b];
		}
		out->max_ns = RTE_MAX(out->max_ns, g.lc[i].pace_max_ns);
	}
}

void dp_pacing_add(struct dp_pacing *p, uint64_t late_ns)
{
	p->hist[pacing_bucket(late_ns)]++;
	p->count++;
	if (late_ns > p->max_ns)
		p->max_ns = late_ns;
}

uint64_t dp_pacing_percentile(const struct dp_pacing *p, double pct)
{
	uint64_t want = (uint64_t)((double)p->count * pct / 100.0), seen = 0;

	for (unsigned b = 0; b < DP_PACING_BUCKETS; b++) {
		seen += p->hist[b];
		if (seen >= want && seen > 0) {
			if (b == DP_PACING_BUCKETS - 1)
				return p->max_ns;
			if (b < 1000)
				return (b + 1ull) * DP_PACING_FINE_NS;
			return 1000ull * DP_PACING_FINE_NS + (b - 999ull) * DP_PACING_COARSE_NS;
		}
	}
	return 0;
}

/* ---- start / stop ----------------------------------------------------------------------------------------- */

int dp_engine_start(const struct dp_port_ctx *ctx, char *err, size_t errlen)
{
	struct rte_ether_addr mac;
	uint64_t slots;
	int rc = 0;

	if (!g.configured) {
		struct dp_config cfg;

		dp_config_default(&cfg);
		rc = dp_configure(&cfg, err, errlen);
		if (rc < 0)
			return rc;
	}
	g.port = *ctx;
	{
		struct rte_mbuf mb = { .nb_segs = 1, .port = RTE_MBUF_PORT_INVALID };

		/* Frames start 10 bytes into a cache line (6 tagged), so that an RTP payload starts on one: the
		 * copy's 16-byte stores never straddle two lines, and the IPv4 header is 8-byte aligned.  The
		 * headroom grows by as much (a PMD does not care where the frame starts). */
		unsigned hdrs = (g.cfg.vlan ? DP_ETH_HLEN + 4 : DP_ETH_HLEN) + DP_IP_HLEN + DP_UDP_HLEN + DP_RTP_HLEN;
		unsigned off = RTE_PKTMBUF_HEADROOM + (RTE_CACHE_LINE_SIZE - hdrs % RTE_CACHE_LINE_SIZE) % RTE_CACHE_LINE_SIZE;

		mb.data_off = (uint16_t)RTE_MIN(off, rte_pktmbuf_data_room_size(ctx->pool));
		rte_mbuf_refcnt_set(&mb, 1);
		memcpy(&g.mbuf_rearm, &mb.rearm_data, sizeof(g.mbuf_rearm));
	}
	memcpy(g.lcore_ids, ctx->lcore_ids, ctx->nlcores * sizeof(unsigned));
	g.port.lcore_ids = g.lcore_ids;
	rte_eth_macaddr_get(ctx->port_id, &mac);
	/* A virtual device that has no MAC and refuses one (net_ring): frames and ARP answers carry a random
	 * locally administered address in software; nothing on such a device filters on it. */
	if (rte_is_zero_ether_addr(&mac))
		rte_eth_random_addr(mac.addr_bytes);
	memcpy(g.mac, mac.addr_bytes, 6);
	g.eth_src = dp_eth_src(g.mac);
	g.tsc_hz = dp_tsc_hz();
	g.ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / g.tsc_hz);
	{
		uint64_t tsc, real;

		dp_clock_pair(CLOCK_REALTIME, &tsc, &real);
		dp_wall_init(tsc_to_ns(tsc), real);
		g.wall_next_ns = tsc_to_ns(tsc) + DP_WALL_EVERY_NS;
	}
	g.wheel_shift = 0;
	while ((g.tsc_hz >> (g.wheel_shift + 1)) >= 1000000) /* slot ≤ 1 µs */
		g.wheel_shift++;
	slots = 1;
	while ((slots << g.wheel_shift) < g.tsc_hz * (DP_WHEEL_SPAN_NS / 1000000) / 1000)
		slots <<= 1;
	g.wheel_mask = (uint32_t)(slots - 1);
	g.skip_tsc = g.tsc_hz * (DP_TX_SKIP_NS / 1000000) / 1000;
	/* A periodic slot holds twice its share of the lcore's flows (the van der Corput spread keeps slots even;
	 * churn makes them uneven), plus a margin; a flow that finds its slot full stays on the wheel. */
	g.pcap = 2 * ((g.cfg.max_flows / ctx->nlcores + 1 + DP_PSLOTS - 1) / DP_PSLOTS) + 16;

	g.lc = rte_zmalloc("dp_lcores", sizeof(struct dp_lcore) * ctx->nlcores, RTE_CACHE_LINE_SIZE);
	if (!g.lc) {
		snprintf(err, errlen, "cannot allocate lcore state");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < ctx->nlcores; i++) {
		struct dp_lcore *lc = &g.lc[i];
		char name[32];

		lc->slot = i;
		lc->rx_keyed = &lc->rx_stages[0];
		lc->rx_found = &lc->rx_stages[1];
		lc->rx_spare = &lc->rx_stages[2];
		lc->queue = (uint16_t)i;
		lc->silent_next = i;
		lc->rl = (struct cm_ratelimit)CM_RATELIMIT_INIT(10000, 5);
		lc->wheel = dp_table_alloc((size_t)slots * sizeof(uint32_t)); /* 8 MiB: huge pages where THP allows */
		/* One chunk per flow of this lcore covers the worst case (every flow alone in its slot). */
		uint32_t nchunks = g.cfg.max_flows / ctx->nlcores + 2;
		lc->chunks = dp_table_alloc((size_t)nchunks * sizeof(struct dp_wheel_chunk));
		/* The periodic classes' entries in one table (read in order: huge pages where THP allows), their slot
		 * counts in another (32 KiB) */
		lc->pent = dp_table_alloc((size_t)DP_PCLASSES * DP_PSLOTS * g.pcap * sizeof(struct dp_pent));
		lc->pcount = calloc((size_t)DP_PCLASSES * DP_PSLOTS, sizeof(uint16_t));
		for (unsigned k = 0; lc->pent && lc->pcount && k < DP_PCLASSES; k++) {
			lc->pclass[k].n = lc->pcount + (size_t)k * DP_PSLOTS;
			lc->pclass[k].e = lc->pent + (size_t)k * DP_PSLOTS * g.pcap;
		}
		if (lc->chunks) {
			for (uint32_t c = 0; c < nchunks; c++)
				lc->chunks[c].next = c + 2 < nchunks + 1 ? c + 2 : 0;
			lc->free_chunk = 1;
		}
		snprintf(name, sizeof(name), "dp_cmd%u", i);
		lc->cmd = rte_ring_create_elem(name, sizeof(struct dp_cmd), g.cfg.ring_size, (int)rte_socket_id(),
					       RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "dp_evt%u", i);
		lc->evt = rte_ring_create_elem(name, sizeof(struct dp_event), g.cfg.ring_size, (int)rte_socket_id(),
					       RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!lc->wheel || !lc->chunks || !lc->pent || !lc->pcount || !lc->cmd || !lc->evt) {
			snprintf(err, errlen, "cannot allocate rings or timing wheel for lcore %u: %s", i,
				 rte_strerror(rte_errno));
			g.port.nlcores = i + 1;
			dp_engine_stop();
			return -ENOMEM;
		}
		lc->wheel_pos = rte_rdtsc() >> g.wheel_shift;
		lc->scan_last_ns = tsc_to_ns(rte_rdtsc());
	}
	g.steer = NULL;
	if (ctx->nlcores > 1) {
		static const struct rte_mbuf_dynfield desc = { .name = "callmeter_dp_arrival", .size = sizeof(uint64_t),
							       .align = __alignof__(uint64_t) };

		g.arrival_off = rte_mbuf_dynfield_register(&desc);
		g.steer = calloc((size_t)ctx->nlcores * ctx->nlcores, sizeof(*g.steer));
		for (unsigned a = 0; g.steer && g.arrival_off >= 0 && a < ctx->nlcores; a++)
			for (unsigned b = 0; b < ctx->nlcores; b++) {
				char name[32];

				if (a == b)
					continue;
				snprintf(name, sizeof(name), "dp_st%u_%u", a, b);
				g.steer[a * ctx->nlcores + b] = rte_ring_create(name, 4096, (int)rte_socket_id(),
										RING_F_SP_ENQ | RING_F_SC_DEQ);
				if (!g.steer[a * ctx->nlcores + b])
					cm_log(CM_LOG_WARN, "dataplane", "no steering ring %u→%u (%s): packets for "
					       "flows of lcore %u arriving at lcore %u are dropped", a, b,
					       rte_strerror(rte_errno), b, a);
			}
	}
	g.stop = false;
	g.running = true;
	for (unsigned i = 0; i < ctx->nlcores; i++) {
		if (dp_engine_manual)
			gratuitous_arp(&g.lc[i]);
		else
			rte_eal_remote_launch(lcore_main, &g.lc[i], ctx->lcore_ids[i]);
	}
	cm_log(CM_LOG_INFO, "dataplane", "%u flows of %zu B hot state, timing wheel %llu slots of %.2f us, %u lcore(s)",
	       g.cfg.max_flows, sizeof(struct dp_flow), (unsigned long long)slots,
	       (double)(1ull << g.wheel_shift) * 1e6 / (double)g.tsc_hz, ctx->nlcores);
	return 0;
}

bool dp_engine_running(void)
{
	return g.running && !g.stop;
}

void dp_engine_stop(void)
{
	if (!g.lc)
		return;
	g.stop = true;
	for (unsigned i = 0; i < g.port.nlcores && !dp_engine_manual; i++)
		rte_eal_wait_lcore(g.lcore_ids[i]);
	for (uint32_t i = 0; g.flows && i < g.cfg.max_flows; i++) {
		release_held(i);
		g.flows[i].in_wheel = 0;
		g.flows[i].active = 0;
		g.flows[i].tx_slow = 1;
	}
	memset(g.port_map, 0, (size_t)(g.cfg.n_media_ips ? g.cfg.n_media_ips : 1) << 16 << 2);
	for (unsigned i = 0; g.steer && i < g.port.nlcores * g.port.nlcores; i++) {
		struct rte_mbuf *m;

		while (g.steer[i] && rte_ring_sc_dequeue(g.steer[i], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(g.steer[i]);
	}
	free(g.steer);
	g.steer = NULL;
	for (unsigned i = 0; i < g.port.nlcores; i++) {
		for (uint16_t j = 0; j < g.lc[i].rx_found->n; j++)
			rte_pktmbuf_free(g.lc[i].rx_found->s[j].m);
		for (uint16_t j = 0; j < g.lc[i].rx_keyed->n; j++)
			rte_pktmbuf_free(g.lc[i].rx_keyed->s[j].m);
		rte_pktmbuf_free_bulk(g.lc[i].local, g.lc[i].nlocal);
		g.lc[i].nlocal = 0;
		if (dp_engine_manual)
			tx_discard(&g.lc[i]);
		rte_ring_free(g.lc[i].cmd);
		rte_ring_free(g.lc[i].evt);
		free(g.lc[i].wheel);
		free(g.lc[i].chunks);
		free(g.lc[i].pent);
		free(g.lc[i].pcount);
		for (unsigned k = 0; k < g.lc[i].nstash; k++)
			rte_pktmbuf_free(g.lc[i].stash[k]);
	}
	rte_free(g.lc);
	g.lc = NULL;
	g.running = false;
}

/* ---- control plane side ------------------------------------------------------------------------------------ */

static int send_cmd(unsigned lcore, const struct dp_cmd *c)
{
	struct dp_lcore *lc = &g.lc[lcore];

	if (rte_ring_sp_enqueue_elem(lc->cmd, (void *)c, sizeof(*c)) != 0)
		return -ENOBUFS;
	lc->cmds_sent++;
	return 0;
}

/* The UDP checksum of a cached frame's payload never changes: summed once per cache, on the control plane.
 * Returns the cache's index in g.sums (its id for the flows), 0 when the table is full or out of memory. */
static uint16_t cache_id_of(const struct codec_frame_cache *c)
{
	unsigned id = 0;
	uint16_t *s;

	if (!g.nsums)
		g.nsums = 1; /* entry 0: no cache */
	for (unsigned i = 1; i < g.nsums; i++) {
		if (g.sums[i].cache == c)
			return (uint16_t)i;
		if (!id && !g.sums[i].cache)
			id = i;
	}
	if (!id && g.nsums == DP_MAX_CACHES + 1)
		return 0;
	s = malloc((c->nframes + DP_SUMS_EXTRA) * sizeof(*s));
	if (!s)
		return 0;
	uint32_t cycle = 0, uniform = c->nframes ? c->frames[0].ts_inc : 0;
	for (uint32_t i = 0; i < c->nframes; i++) {
		s[i] = (uint16_t)~dp_csum_fold(dp_csum_add(0, c->data + c->frames[i].offset, c->frames[i].len));
		cycle += c->frames[i].ts_inc;
		if (c->frames[i].ts_inc != uniform)
			uniform = 0;
	}
	/* after the sums, for tx_skip: the timestamp step when every frame has the same one (else 0), and the
	 * timestamp advance of a whole pass over the cache */
	s[c->nframes] = uniform <= 0xffff ? (uint16_t)uniform : 0;
	s[c->nframes + 1] = (uint16_t)cycle;
	s[c->nframes + 2] = (uint16_t)(cycle >> 16);
	if (!id)
		id = g.nsums++;
	g.sums[id].sums = s;
	g.sums[id].frames = c->frames;
	g.sums[id].data = c->data;
	g.sums[id].nframes = c->nframes;
	g.sums[id].cache = c;
	return (uint16_t)id;
}

/* Sessions replaced or deleted are freed once their lcore has applied the command that let go of them. */
static void srtp_reap(void)
{
	size_t k = 0;

	for (size_t i = 0; i < g.ndead; i++) {
		struct dp_srtp_dead *d = &g.dead[i];

		if (g.lc && __atomic_load_n(&g.lc[d->lcore].cmds_done, __ATOMIC_ACQUIRE) < d->seq) {
			g.dead[k++] = *d;
			continue;
		}
		for (unsigned j = 0; j < 3; j++)
			if (d->s[j])
				srtp_dealloc(d->s[j]);
	}
	g.ndead = k;
}

/* Sessions the flow's lcore lets go of with the command just sent: freed once it has applied it. */
static int srtp_retire(uint32_t flow, srtp_t a, srtp_t b, srtp_t c)
{
	if (!a && !b && !c)
		return 0;
	if (g.ndead == g.cap_dead) {
		size_t cap = g.cap_dead ? 2 * g.cap_dead : 64;
		struct dp_srtp_dead *d = realloc(g.dead, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		g.dead = d;
		g.cap_dead = cap;
	}
	g.dead[g.ndead++] = (struct dp_srtp_dead){ .lcore = flow % g.port.nlcores,
						   .seq = g.lc[flow % g.port.nlcores].cmds_sent, .s = { a, b, c } };
	return 0;
}

static uint64_t srtp_key_hash(const uint8_t *key, uint8_t suite)
{
	uint64_t h = 0xcbf29ce484222325ull ^ suite; /* FNV-1a */

	for (unsigned i = 0; i < DP_SRTP_KEY_LEN; i++)
		h = (h ^ key[i]) * 0x100000001b3ull;
	return h | 1; /* 0: no session */
}

static int flow_cmd(uint32_t type, uint32_t flow, const struct dp_flow_params *p)
{
	struct dp_cmd c = { .type = type, .flow = flow };
	struct dp_srtp_pair *pair;
	uint64_t tx_hash = 0, rx_hash = 0;
	int rc = 0;

	if (!dp_engine_running())
		return -ENODEV;
	if (flow >= g.cfg.max_flows)
		return -EINVAL;
	if (p) {
		bool ok;

		ip_index(p->local_ip, &ok);
		if (!ok || p->ptime_ms > DP_PTIME_MAX_MS || p->impair >= DP_MAX_IMPAIR || p->owd_ext_id > 14)
			return -EINVAL;
		if (p->cache && (!p->cache->nframes || !p->cache->frames ||
				 (!p->ptime_ms && (!p->cache->ptime_ms || p->cache->ptime_ms > DP_PTIME_MAX_MS))))
			return -EINVAL;
		if (p->cache && type != DP_CMD_DELETE) {
			c.cache_id = cache_id_of(p->cache);
			if (!c.cache_id)
				return -ENOMEM;
		}
		if (p->srtp) {
			if (!g.srtp_up || (p->srtp->suite != DP_SRTP_AES_CM_128_HMAC_SHA1_80 &&
					   p->srtp->suite != DP_SRTP_AES_CM_128_HMAC_SHA1_32))
				return -EINVAL;
			/* a modify re-keys only the directions whose key changed: the others keep their sessions
			 * (rollover counter, replay window) */
			tx_hash = srtp_key_hash(p->srtp->tx_key, p->srtp->suite);
			rx_hash = srtp_key_hash(p->srtp->rx_key, p->srtp->suite);
			if (type == DP_CMD_ADD || tx_hash != g.ctl_srtp[flow].tx_hash)
				c.srtp_tx = dp_srtp_session(p->srtp->tx_key, p->srtp->suite, false, DP_SRTP_WINDOW);
			if (type == DP_CMD_ADD || rx_hash != g.ctl_srtp[flow].rx_hash)
				c.srtp_rx = dp_srtp_session(p->srtp->rx_key, p->srtp->suite, true, DP_SRTP_WINDOW);
			if ((!c.srtp_tx && (type == DP_CMD_ADD || tx_hash != g.ctl_srtp[flow].tx_hash)) ||
			    (!c.srtp_rx && (type == DP_CMD_ADD || rx_hash != g.ctl_srtp[flow].rx_hash)))
				goto srtp_fail;
		}
		c.u.fp = *p;
		c.u.fp.srtp = NULL; /* the keys stay here; the lcore gets the sessions */
	}
	srtp_reap();
	rc = send_cmd(flow % g.port.nlcores, &c);
	if (rc < 0)
		goto srtp_fail;
	pair = &g.ctl_srtp[flow];
	if (type != DP_CMD_MODIFY) {
		if (srtp_retire(flow, pair->tx, pair->rx, pair->rx_prev) < 0)
			cm_log(CM_LOG_ERROR, "dataplane", "out of memory: SRTP sessions of flow %u leak", flow);
		*pair = (struct dp_srtp_pair){ c.srtp_tx, c.srtp_rx, NULL, c.srtp_tx ? tx_hash : 0,
					       c.srtp_rx ? rx_hash : 0 };
		return 0;
	}
	/* re-key: the lcore drops the old TX session and the RX session before the one it keeps as fallback */
	if (srtp_retire(flow, c.srtp_tx ? pair->tx : NULL, c.srtp_rx ? pair->rx_prev : NULL, NULL) < 0)
		cm_log(CM_LOG_ERROR, "dataplane", "out of memory: SRTP sessions of flow %u leak", flow);
	if (c.srtp_tx) {
		pair->tx = c.srtp_tx;
		pair->tx_hash = tx_hash;
	}
	if (c.srtp_rx) {
		pair->rx_prev = pair->rx;
		pair->rx = c.srtp_rx;
		pair->rx_hash = rx_hash;
	}
	return 0;

srtp_fail:
	if (c.srtp_tx)
		srtp_dealloc(c.srtp_tx);
	if (c.srtp_rx)
		srtp_dealloc(c.srtp_rx);
	return rc < 0 ? rc : -EINVAL;
}

int dp_flow_add(uint32_t flow, const struct dp_flow_params *p)
{
	return flow_cmd(DP_CMD_ADD, flow, p);
}

int dp_flow_modify(uint32_t flow, const struct dp_flow_params *p)
{
	return flow_cmd(DP_CMD_MODIFY, flow, p);
}

int dp_flow_delete(uint32_t flow)
{
	return flow_cmd(DP_CMD_DELETE, flow, NULL);
}

int dp_impair_set(unsigned profile, const struct dp_impair *im)
{
	struct dp_cmd c = { .type = DP_CMD_IMPAIR, .flow = profile, .u.im = *im };
	int rc = 0;

	if (!dp_engine_running())
		return -ENODEV;
	if (profile >= DP_MAX_IMPAIR || im->jitter_us > DP_JITTER_MAX_US || im->loss_ppm > 1000000 ||
	    im->ge_p_ppm > 1000000 || im->ge_r_ppm > 1000000 || im->ge_loss_bad_ppm > 1000000 ||
	    im->dup_ppm > 1000000 || im->reorder_ppm > 1000000)
		return -EINVAL;
	for (unsigned i = 0; i < g.port.nlcores && rc == 0; i++)
		rc = send_cmd(i, &c);
	return rc;
}

int dp_dtmf_send(uint32_t flow, uint8_t event, uint16_t duration_ms, uint8_t volume)
{
	struct dp_cmd c = { .type = DP_CMD_DTMF, .flow = flow,
			    .u.dtmf = { .event = event, .volume = volume, .duration_ms = duration_ms } };

	if (!dp_engine_running())
		return -ENODEV;
	if (flow >= g.cfg.max_flows || event > 15 || volume > 63 || duration_ms == 0 || duration_ms > 5000)
		return -EINVAL;
	return send_cmd(flow % g.port.nlcores, &c);
}

int dp_inject(const uint8_t *frame, uint16_t len)
{
	struct dp_cmd c = { .type = DP_CMD_INJECT };

	if (!dp_engine_running())
		return -ENODEV;
	if (len < 14 || len > DP_INJECT_MAX)
		return -EINVAL;
	c.u.frame.len = len;
	memcpy(c.u.frame.data, frame, len);
	return send_cmd(0, &c);
}

void dp_proto_totals(struct dp_proto_totals *out)
{
	struct dp_wall_stats w;

	memset(out, 0, sizeof(*out));
	dp_wall_stats(&w);
	out->wall_clock_steps = w.steps;
	for (unsigned i = 0; g.lc && i < g.port.nlcores; i++) {
		out->arp_requests_answered += g.lc[i].arp_answered;
		out->arp_learned += g.lc[i].arp_learned;
		out->arp_requests_sent += g.lc[i].arp_sent;
		out->arp_retries += g.lc[i].arp_retries;
		out->icmp_echo_answered += g.lc[i].icmp_answered;
		out->tx_no_arp += g.lc[i].tx_no_arp;
		out->tx_late_skipped += g.lc[i].tx_skipped;
		out->tx_srtp_fail += g.lc[i].tx_srtp_fail;
		out->rx_srtp_prev_key += g.lc[i].rx_srtp_prev_key;
		out->rx_steered += g.lc[i].rx_steered;
		out->events_lost += g.lc[i].events_lost;
		out->local_delivered += g.lc[i].local_delivered;
		for (unsigned k = 0; k < DP_PCLASSES; k++)
			out->tx_periodic_flows += __atomic_load_n(&g.lc[i].pclass[k].flows, __ATOMIC_RELAXED);
	}
}

void dp_cache_forget(const struct codec_frame_cache *c)
{
	for (unsigned i = 1; i < g.nsums; i++) {
		if (g.sums[i].cache != c)
			continue;
		for (int k = 0; k < 200000 && dp_engine_running() && !dp_commands_done(); k++)
			usleep(50);
		cache_ent_clear(&g.sums[i]);
		return;
	}
}

bool dp_commands_done(void)
{
	srtp_reap();
	for (unsigned i = 0; g.lc && i < g.port.nlcores; i++)
		if (__atomic_load_n(&g.lc[i].cmds_done, __ATOMIC_ACQUIRE) != g.lc[i].cmds_sent)
			return false;
	return true;
}

/* Everything a snapshot holds of one flow; the caller makes it consistent (owning lcore, or the seqlock). */
static void flow_copy(uint32_t flow, struct dp_flow_snapshot *out)
{
	const struct dp_flow *f = &g.flows[flow];
	const struct dp_flow_cold *c = &g.cold[flow];

	out->rx = f->rx;
	dp_rx_settle(&out->rx);
	out->tx_packets = dp_flow_tx_packets(f);
	out->tx_bytes = dp_flow_tx_bytes(f);
	out->imp_lost = c->imp_lost;
	out->imp_dup = c->imp_dup;
	out->imp_reordered = c->imp_reordered;
	out->ptime_ms = f->ptime_ms;
	out->active = f->active;
	out->srtp = f->srtp != 0;
	out->rtcp_sent = c->rtcp_sent;
	out->rtcp_received = c->rtcp_received;
	out->rtt_us = c->rtt_us;
	out->remote_report = c->remote_report;
	out->remote_fraction_lost = c->remote_fraction;
	out->remote_cum_lost = c->remote_cum_lost;
	out->remote_jitter = c->remote_jitter;
	out->dtmf_sent = c->dtmf_sent;
	out->dtmf_received = c->dtmf_received;
	out->dtmf_last = c->dtmf_last;
	out->owd_count = c->owd_count;
	out->owd_min_us = c->owd_min_us;
	out->owd_max_us = c->owd_max_us;
	out->owd_sum_us = c->owd_sum_us;
}

int dp_flow_snapshot(uint32_t flow, struct dp_flow_snapshot *out)
{
	return dp_flow_snapshot_many(&flow, 1, out);
}

static bool snap_served(void)
{
	for (unsigned l = 0; l < g.port.nlcores; l++)
		if (__atomic_load_n(&g.lc[l].snap_done, __ATOMIC_ACQUIRE) != g.lc[l].snap_seq)
			return false;
	return true;
}

/* The CPU time an lcore thread has had, in ns (0 when it cannot be read). */
static uint64_t lcore_cpu_ns(const struct dp_lcore *lc)
{
	struct timespec ts;

	if (!__atomic_load_n(&lc->has_cpu_clock, __ATOMIC_ACQUIRE) || clock_gettime(lc->cpu_clock, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An lcore that has not served the request: stuck inside one pass (a dataplane bug: the control plane must not
 * hang with it) when it ran DP_SNAP_STUCK_S seconds of its own CPU time since the first look after a second, not
 * when it was not running at all (its CPU lent to others: lcores of this VM's second CPU were seen to get none
 * for over 4 s under load); DP_SNAP_WAIT_MAX_S of wall time ends the wait whatever the reason. */
#define DP_SNAP_STUCK_S 2
#define DP_SNAP_WAIT_MAX_S 10

static bool snap_stuck(uint64_t *cpu_ref, uint64_t waited)
{
	bool stuck = waited > DP_SNAP_WAIT_MAX_S * g.tsc_hz;

	for (unsigned l = 0; l < g.port.nlcores && !stuck; l++) {
		uint64_t cpu;

		if (__atomic_load_n(&g.lc[l].snap_done, __ATOMIC_ACQUIRE) == g.lc[l].snap_seq)
			continue;
		cpu = lcore_cpu_ns(&g.lc[l]);
		if (!cpu_ref[l])
			cpu_ref[l] = cpu ? cpu : 1;
		else if (cpu && cpu - cpu_ref[l] > DP_SNAP_STUCK_S * 1000000000ull)
			stuck = true;
		else if (!cpu && waited > DP_SNAP_STUCK_S * g.tsc_hz)
			stuck = true; /* no CPU clock for it: wall time is all there is */
	}
	return stuck;
}

/* Until every lcore served the posted request: spins for about a pass or two, then sleeps between looks. */
static int snap_wait(void)
{
	uint64_t t0 = rte_rdtsc(), spin = g.tsc_hz / 10000; /* 100 µs */
	uint64_t cpu_ref[RTE_MAX_LCORE] = { 0 };

	while (!snap_served()) {
		uint64_t waited = rte_rdtsc() - t0;

		if (!dp_engine_running())
			return -ENODEV;
		if (waited > g.tsc_hz && snap_stuck(cpu_ref, waited)) {
			static struct cm_ratelimit rl = CM_RATELIMIT_INIT(10000, 1);
			cm_log_rl(&rl, CM_LOG_ERROR, "dataplane", "an lcore has been inside one pass for seconds: flow "
				  "counters are not readable");
			return -ETIMEDOUT;
		}
		if (waited < spin)
			rte_pause();
		else
			usleep(20); /* the lcore thread may be descheduled on a shared CPU */
	}
	return 0;
}

int dp_flow_snapshot_many(const uint32_t *flows, uint32_t n, struct dp_flow_snapshot *out)
{
	int rc;

	if (!g.lc)
		return -EINVAL;
	if (n == 0) /* no leg up: nothing to read (and no buffer yet to copy an empty list into) */
		return 0;
	if (n == 1 && flows[0] >= g.cfg.max_flows)
		return -EINVAL;
	if (dp_engine_manual || !dp_engine_running()) { /* no lcore thread runs: nothing changes meanwhile */
		for (uint32_t i = 0; i < n; i++)
			if (flows[i] < g.cfg.max_flows)
				flow_copy(flows[i], &out[i]);
		return 0;
	}
	/* a request that timed out is still posted, and its lcore may yet write into the buffers */
	rc = snap_wait();
	if (rc == -ENODEV)
		return dp_flow_snapshot_many(flows, n, out);
	if (rc < 0)
		return rc;
	if (n > g.snap_cap) {
		uint32_t cap = n + n / 4 + 64;
		uint32_t *f = realloc(g.snap_flows, cap * sizeof(*f));
		struct dp_flow_snapshot *b;

		if (!f)
			return -ENOMEM;
		g.snap_flows = f;
		b = realloc(g.snap_buf, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		g.snap_buf = b;
		g.snap_cap = cap;
	}
	memcpy(g.snap_flows, flows, n * sizeof(*flows));
	g.snap_n = n;
	for (unsigned l = 0; l < g.port.nlcores; l++) {
		struct dp_lcore *lc = &g.lc[l];

		lc->snap_cmds = lc->cmds_sent;
		__atomic_store_n(&lc->snap_seq, lc->snap_seq + 1, __ATOMIC_RELEASE);
	}
	rc = snap_wait();
	if (rc == -ENODEV) /* stopped meanwhile: the lcores are gone, the flows no longer change */
		return dp_flow_snapshot_many(flows, n, out);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < n; i++)
		if (flows[i] < g.cfg.max_flows)
			out[i] = g.snap_buf[i];
	return 0;
}

unsigned dp_events_poll(struct dp_event *ev, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; g.lc && i < g.port.nlcores && n < max; i++)
		n += rte_ring_sc_dequeue_burst_elem(g.lc[i].evt, ev + n, sizeof(*ev), max - n, NULL);
	return n;
}

void dp_drop_totals(uint64_t counts[DP_DROP__COUNT])
{
	memset(counts, 0, sizeof(uint64_t) * DP_DROP__COUNT);
	for (unsigned i = 0; g.lc && i < g.port.nlcores; i++)
		for (unsigned r = 0; r < DP_DROP__COUNT; r++)
			counts[r] += g.lc[i].drops[r];
}

void dp_tx_totals(uint64_t *packets, uint64_t *bytes, uint64_t *no_mbuf, uint64_t *ring_full)
{
	*packets = *bytes = *no_mbuf = *ring_full = 0;
	for (unsigned i = 0; g.lc && i < g.port.nlcores; i++) {
		*packets += g.lc[i].tx_packets;
		*bytes += g.lc[i].tx_bytes;
		*no_mbuf += g.lc[i].tx_nombuf;
		*ring_full += g.lc[i].tx_full;
	}
}

int dp_port_counters(struct dp_port_counters *out)
{
	struct rte_eth_stats st;

	memset(out, 0, sizeof(*out));
	if (!g.lc || rte_eth_stats_get(g.port.port_id, &st) != 0)
		return -ENODEV;
	*out = (struct dp_port_counters){ .ipackets = st.ipackets, .opackets = st.opackets, .ibytes = st.ibytes,
					  .obytes = st.obytes, .imissed = st.imissed, .ierrors = st.ierrors,
					  .oerrors = st.oerrors, .rx_nombuf = st.rx_nombuf };
	return 0;
}

void dp_rx_totals(uint64_t *packets, uint64_t *bytes)
{
	*packets = *bytes = 0;
	for (unsigned i = 0; g.lc && i < g.port.nlcores; i++) {
		*packets += g.lc[i].rx_packets;
		*bytes += g.lc[i].rx_bytes;
	}
}
