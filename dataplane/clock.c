/* The dataplane's clock: TSC ticks to nanoseconds at the TSC's measured rate.
 *
 * DPDK's rte_get_tsc_hz() is exact only where the CPU reports its TSC frequency (recent Intel CPUs); elsewhere
 * (AMD, most virtual machines) EAL estimates it over a sleep and rounds it to 10 MHz.  On this project's build
 * machine that is 2.600 GHz for a 2.596 GHz TSC: 1,500 ppm.  Taken as is, every stream would leave 0.15 % slow
 * (one frame short every 13 s at a peer with a good clock), a clean stream from an accurate peer would show a
 * delay variation growing 1.5 ms a second, and TX-time extensions would run away from real time.  So the rate is
 * measured here against CLOCK_MONOTONIC_RAW (the kernel's own, unadjusted clock) over DP_TSC_CAL_MS, once per
 * process, from the tightest of several (TSC, clock, TSC) readings at each end: a few ppm at most. */
#define ALLOW_EXPERIMENTAL_API /* rte_seqlock (22.11): here only */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_seqlock.h>

#include "common/common.h"
#include "dataplane/dataplane_internal.h"

#define DP_TSC_CAL_MS 100
#define PAIR_TRIES 16

/* The wall clock's discipline (see dataplane_internal.h): an offset is corrected over DP_WALL_SLEW_NS (the
 * discipline's interval: by the next one, when the rate is right), the rate estimated over up to
 * DP_WALL_FREQ_WINDOW_NS, the correction kept within ±DP_WALL_MAX_PPB; an offset beyond
 * DP_WALL_STEP_NS is a clock step (settimeofday, an NTP step), taken at once. */
#define DP_WALL_SLEW_NS 1000000000ll
#define DP_WALL_FREQ_WINDOW_NS 64000000000ull
#define DP_WALL_MAX_PPB 500000ll
#define DP_WALL_STEP_NS 100000000ll

static int (*realtime_src)(struct timespec *ts); /* tests: CLOCK_REALTIME read from here (dp_wall_source) */

void dp_wall_source(int (*read)(struct timespec *ts))
{
	realtime_src = read;
}

/* One (TSC, clock) reading: of PAIR_TRIES, the one whose clock read took the fewest ticks (no preemption or
 * interrupt between the two), the TSC taken as the middle of it. */
void dp_clock_pair(clockid_t id, uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	*tsc = *ns = 0; /* always set in the first try; said here for the compiler (-O3 warns otherwise) */
	for (int i = 0; i < PAIR_TRIES; i++) {
		struct timespec ts;
		uint64_t a = rte_rdtsc_precise(), b;

		if (id == CLOCK_REALTIME && realtime_src)
			realtime_src(&ts);
		else
			clock_gettime(id, &ts);
		b = rte_rdtsc_precise();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		}
	}
}

uint64_t dp_tsc_hz(void)
{
	static uint64_t hz;

	if (!hz) {
		uint64_t t0, n0, t1, n1, dpdk = rte_get_tsc_hz();
		struct timespec pause = { 0, DP_TSC_CAL_MS * 1000000L };

		dp_clock_pair(CLOCK_MONOTONIC_RAW, &t0, &n0);
		nanosleep(&pause, NULL);
		dp_clock_pair(CLOCK_MONOTONIC_RAW, &t1, &n1);
		hz = n1 > n0 ? (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000ull / (n1 - n0)) : 0;
		/* a measurement that makes no sense (no clock, a TSC that stopped): EAL's figure */
		if (hz < dpdk / 2 || hz > dpdk * 2) {
			cm_log(CM_LOG_WARN, "dataplane", "TSC rate measured at %llu Hz, EAL says %llu: using EAL's",
			       (unsigned long long)hz, (unsigned long long)dpdk);
			hz = dpdk;
		}
		cm_log(CM_LOG_DEBUG, "dataplane", "TSC at %llu Hz (EAL's estimate %llu, %+.0f ppm)",
		       (unsigned long long)hz, (unsigned long long)dpdk, ((double)dpdk / (double)hz - 1) * 1e6);
	}
	return hz;
}

static struct {
	rte_seqlock_t lock;
	uint64_t base_ns, base_wall; /* the anchor: dataplane time (tsc_to_ns) and its wall time */
	int64_t adj_ppb;
	uint64_t ref_ns, ref_wall;   /* start of the rate estimate */
	struct dp_wall_stats st;
} wc;

void dp_wall_init(uint64_t now_ns, uint64_t real_ns)
{
	memset(&wc, 0, sizeof(wc));
	rte_seqlock_init(&wc.lock);
	wc.base_ns = wc.ref_ns = now_ns;
	wc.base_wall = wc.ref_wall = real_ns;
}

uint64_t dp_wall_at(uint64_t now_ns)
{
	uint64_t base_ns, base_wall;
	int64_t adj, d;
	uint32_t sn;

	do {
		sn = rte_seqlock_read_begin(&wc.lock);
		base_ns = wc.base_ns;
		base_wall = wc.base_wall;
		adj = wc.adj_ppb;
	} while (rte_seqlock_read_retry(&wc.lock, sn));
	d = (int64_t)(now_ns - base_ns); /* negative for a time before the anchor (a packet's nominal time) */
	return base_wall + (uint64_t)(d + (int64_t)((__int128)d * adj / 1000000000));
}

void dp_wall_discipline(uint64_t now_ns, uint64_t real_ns)
{
	uint64_t wall = dp_wall_at(now_ns), span = now_ns - wc.ref_ns;
	int64_t off = (int64_t)(real_ns - wall), freq = wc.st.freq_ppb, adj;

	rte_seqlock_write_lock(&wc.lock);
	wc.st.offset_ns = off;
	if (llabs(off) > DP_WALL_STEP_NS) { /* the clock's time changed, not its rate: the estimate carries on */
		wc.base_ns = wc.ref_ns = now_ns;
		wc.base_wall = wc.ref_wall = real_ns;
		wc.adj_ppb = wc.st.adj_ppb = wc.st.freq_ppb;
		wc.st.steps++;
		rte_seqlock_write_unlock(&wc.lock);
		return;
	}
	if (span >= 1000000000ull) /* the clock's rate against ours, over the window so far */
		freq = (int64_t)((__int128)((int64_t)(real_ns - wc.ref_wall) - (int64_t)span) * 1000000000 /
				 (int64_t)span);
	wc.st.freq_ppb = RTE_MAX(RTE_MIN(freq, DP_WALL_MAX_PPB), -DP_WALL_MAX_PPB);
	adj = wc.st.freq_ppb + (int64_t)((__int128)off * 1000000000 / DP_WALL_SLEW_NS);
	wc.adj_ppb = wc.st.adj_ppb = RTE_MAX(RTE_MIN(adj, DP_WALL_MAX_PPB), -DP_WALL_MAX_PPB);
	wc.base_ns = now_ns; /* continuous: the new rate starts where the old one got to */
	wc.base_wall = wall;
	if (span >= DP_WALL_FREQ_WINDOW_NS) {
		wc.ref_ns = now_ns;
		wc.ref_wall = real_ns;
	}
	rte_seqlock_write_unlock(&wc.lock);
}

void dp_wall_stats(struct dp_wall_stats *out)
{
	uint32_t sn;

	do {
		sn = rte_seqlock_read_begin(&wc.lock);
		*out = wc.st;
	} while (rte_seqlock_read_retry(&wc.lock, sn));
}
