/* RX benchmark: one dataplane lcore pass loop analysing RTP for 1,000,000 flows (16 media IPs × 62,500 ports)
 * from net_ring0 (its ring filled directly).  The benchmark thread is the lcore: it refills the ring 32 packets
 * at a time and runs the real lcore pass (RX burst → parse → O(1) flow lookup → RFC 3550/3611 analysis).  The
 * refill stands in for a NIC's DMA: it rewrites destination port, sequence number, timestamp and SSRC of reused
 * mbufs so that every flow sees an in-order stream of its own SSRC, one packet per round, the rounds visiting
 * all 1M flows in one fixed random order (flows keep their phase in a real schedule, so the order in which they
 * arrive repeats; a random one leaves nothing for a stride prefetcher to guess).  The refill is inside the
 * measured time, so the figure is a lower bound.  Flow 0 must end with no loss, SSRC change or timestamp jump:
 * the in-order path is the work measured.
 * Final line: BENCH dp_rx_mpps <value> Mpps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "common/common.h"
#include "dataplane/dataplane_internal.h"

#define NIPS 16
#define PORTS_PER_IP 62500
#define FLOWS (NIPS * PORTS_PER_IP)
#define NMBUFS 4096
#define BURST 32
#define SECONDS 4

static uint32_t order[FLOWS]; /* the flows of a round, in the order their packets come */
static uint32_t use[NIPS]; /* packets built per media IP: its mbufs in turn */
static struct rte_mbuf *m[NMBUFS];
static uint8_t *mdata[NMBUFS]; /* their frames */

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

/* The mbufs that carry packets p0 .. p0 + BURST − 1 (one whose destination is the packet's flow's media IP, each
 * IP's in turn), prefetched a burst ahead: the header (reference count) and the line the refill rewrites.  A
 * NIC's DMA would have written them; the refill must not wait on them either. */
static void plan(uint64_t p0, uint16_t *x)
{
	for (unsigned i = 0; i < BURST; i++) {
		uint32_t ip = order[(p0 + i) % FLOWS] / PORTS_PER_IP;

		x[i] = (uint16_t)(ip + NIPS * (use[ip]++ % (NMBUFS / NIPS)));
		rte_prefetch0(m[x[i]]);
		rte_prefetch0(mdata[x[i]]);
	}
}

int main(void)
{
	char err[DP_ERR_MAX];
	struct dp_config cfg;
	struct dp_port_info info;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	uint8_t payload[160];
	uint64_t drops[DP_DROP__COUNT], pk0, pk1, b, t0, t1, done = 0, refill_tsc = 0;
	struct timespec c0, c1;

	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	if (dp_eal_init("bench_dp_rx", "--no-huge --no-shconf -m 512 --no-pci -l 0 --file-prefix=cm_bench_dp_rx "
			"--vdev=net_ring0 --log-level=error", err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* net_ring0's queue 0 RX and TX share this ring (drivers/net/ring names it so). */
	ring = rte_ring_lookup("ETH_RXTX0_net_ring0");
	if (!ring) {
		fprintf(stderr, "cannot find net_ring0's ring\n");
		return 1;
	}
	/* The bench thread runs the lcore passes itself: EAL with only the main lcore, no launch. */
	dp_engine_manual = true;
	dp_config_default(&cfg);
	cfg.max_flows = FLOWS;
	cfg.n_media_ips = NIPS;
	cfg.ring_size = 1 << 20;
	cfg.silent_ms = 0;
	for (unsigned i = 0; i < NIPS; i++)
		cfg.media_ips[i] = 0x0a000100u + i;
	if (dp_configure(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (dp_start("net_ring0", &info, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_params p = { .local_ip = 0x0a000100u + f / PORTS_PER_IP,
					    .local_port = (uint16_t)(1024 + f % PORTS_PER_IP), .dir = DP_FLOW_RECV,
					    .clock_rate = 8000 };
		while (dp_flow_add(f, &p) == -ENOBUFS)
			dp_engine_poll_once(0);
	}
	while (!dp_commands_done())
		dp_engine_poll_once(0);

	/* Reused packets: one per media IP slot, IPv4 checksum fixed, UDP checksum 0 (not verified). */
	pool = rte_pktmbuf_pool_create("bench_pkts", NMBUFS * 2, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!pool || rte_pktmbuf_alloc_bulk(pool, m, NMBUFS) != 0) {
		fprintf(stderr, "cannot allocate packets\n");
		return 1;
	}
	memset(payload, 0xff, sizeof(payload));
	for (unsigned i = 0; i < NMBUFS; i++) {
		struct dp_flow f;
		uint8_t *d = rte_pktmbuf_mtod(m[i], uint8_t *);

		memset(&f, 0, sizeof(f));
		dp_flow_set_local(&f, 0x0a000001u, 5000);
		dp_flow_set_remote(&f, 0x0a000100u + i % NIPS, 1024);
		dp_flow_set_ssrc(&f, i);
		m[i]->data_len = m[i]->pkt_len = dp_build_rtp(d, &f, (const uint8_t *)"\2\0\0\0\0\1", 0, 0, false,
							      payload, sizeof(payload), -1, true);
		wr16(d + 40, 0); /* no UDP checksum */
		rte_mbuf_refcnt_set(m[i], UINT16_MAX);
		mdata[i] = d;
	}

	{ /* a fixed random order (Fisher–Yates, xorshift64): every run measures the same one */
		uint64_t x = 88172645463325252ull;

		for (uint32_t i = 0; i < FLOWS; i++)
			order[i] = i;
		for (uint32_t i = FLOWS - 1; i > 0; i--) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			uint32_t j = (uint32_t)(x % (i + 1)), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
	}
	dp_rx_totals(&pk0, &b);
	t0 = cm_now_us();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	uint16_t next[BURST];
	uint64_t next_p0 = 0;

	plan(0, next);
	do {
		for (unsigned r = 0; r < 64; r++) {
			struct rte_mbuf *burst[BURST];
			uint64_t r0 = rte_rdtsc();

			if (next_p0 != done) /* the ring took less than a burst last time */
				plan(done, next);
			for (unsigned i = 0; i < BURST; i++) {
				/* Packet p goes to the flow at p mod FLOWS in the order: every flow once in each
				 * round, so its sequence number is its round.  The mbuf is one of those whose
				 * destination is the flow's media IP. */
				uint64_t p = done + i;
				uint32_t f = order[p % FLOWS], port = f % PORTS_PER_IP;
				uint16_t seq = (uint16_t)(p / FLOWS + 1);
				struct rte_mbuf *x = m[next[i]];
				uint8_t *d = mdata[next[i]];

				wr16(d + 36, (uint16_t)(1024 + port));
				wr16(d + 44, seq);
				/* timestamp: 100 ms of 8 kHz a packet, about how often a flow comes round at
				 * 10 Mpps over 1M flows (the jitter arithmetic runs on every packet either way; a
				 * timestamp jump, which skips it, needs the arrivals 1 s off the timestamps) */
				wr32(d + 46, seq * 800u);
				wr32(d + 50, f); /* the flow's own SSRC */
				if (rte_mbuf_refcnt_read(x) < 2)
					rte_mbuf_refcnt_set(x, UINT16_MAX);
				burst[i] = x;
			}
			done += rte_ring_enqueue_burst(ring, (void **)burst, BURST, NULL);
			plan(done, next);
			next_p0 = done;
			refill_tsc += rte_rdtsc() - r0;
			dp_engine_poll_once(0);
			if ((r & 15) == 0) { /* the control plane's share: drain the event ring */
				struct dp_event ev[256];
				while (dp_events_poll(ev, 256) == 256)
					;
			}
		}
		t1 = cm_now_us();
	} while (t1 - t0 < SECONDS * 1000000ull);
	dp_rx_totals(&pk1, &b);
	dp_drop_totals(drops);

	uint64_t dropped = 0;
	for (unsigned r = 1; r < DP_DROP__COUNT; r++)
		if (r != DP_DROP_arp) /* the gratuitous ARPs for the 16 media IPs came back */
			dropped += drops[r];
	struct dp_flow_snapshot s;
	struct dp_rx_report rep;
	dp_flow_snapshot(0, &s);
	dp_rx_report(&s.rx, 20, &rep);
	printf("rx: %llu packets over %u flows in %.2f s (refill included), %llu dropped; flow 0: %llu received, "
	       "%lld lost, %llu SSRC changes, %llu timestamp jumps, jitter %.3f ms\n", (unsigned long long)(pk1 - pk0),
	       FLOWS, (t1 - t0) / 1e6, (unsigned long long)dropped, (unsigned long long)rep.packets_received,
	       (long long)rep.packets_lost, (unsigned long long)rep.ssrc_changes,
	       (unsigned long long)rep.timestamp_jumps, rep.jitter_ms);
	/* the work measured is the in-order path: anything else is a broken benchmark, not a figure */
	if (rep.packets_received < 2 || rep.packets_lost || rep.ssrc_changes || rep.timestamp_jumps) {
		fprintf(stderr, "flow 0 did not see an in-order stream\n");
		dropped++;
	}
	printf("memory: %zu B hot state per flow (%zu MiB for %u flows)\n", dp_flow_hot_bytes(),
	       dp_flow_hot_bytes() * FLOWS >> 20, FLOWS);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	/* how much of a CPU this thread (the lcore) got: on the shared machine, the figure per CPU-second */
	double share = ((c1.tv_sec - c0.tv_sec) * 1e9 + (c1.tv_nsec - c0.tv_nsec)) / 1e3 / (double)(t1 - t0);
	printf("the lcore thread got %.0f%% of a CPU: %.3f Mpps per CPU-second\n", share * 100,
	       share > 0.5 ? (double)(pk1 - pk0) / (double)(t1 - t0) / share : 0);
	/* The refill is the benchmark's, not the dataplane's: its time (TSC, the loop's own share of the CPU) out,
	 * for the dataplane's own rate per CPU-second.  The line above stays the lower bound. */
	double refill_s = (double)refill_tsc / (double)rte_get_tsc_hz(), busy_s = share * (t1 - t0) / 1e6 - share * refill_s;
	printf("refill: %.2f s of the %.2f s measured; the dataplane alone: %.3f Mpps per CPU-second\n", refill_s,
	       (t1 - t0) / 1e6, share > 0.5 && busy_s > 0 ? (double)(pk1 - pk0) / busy_s / 1e6 : 0);
	printf("BENCH dp_rx_mpps_per_cpu_excl_refill %.3f Mpps\n",
	       share > 0.5 && busy_s > 0 ? (double)(pk1 - pk0) / busy_s / 1e6 : 0);
	printf("BENCH dp_rx_mpps %.3f Mpps\n", (double)(pk1 - pk0) / (double)(t1 - t0));
	dp_stop();
	dp_eal_cleanup();
	return dropped ? 1 : 0;
}
