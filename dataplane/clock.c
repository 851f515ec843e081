/* The dataplane's clock: TSC ticks to nanoseconds at the TSC's measured rate.
 *
 * DPDK's rte_get_tsc_hz() is exact only where the CPU reports its TSC frequency (recent Intel CPUs); elsewhere
 * (AMD, most virtual machines) EAL estimates it over a sleep and rounds it to 10 MHz.  On this project's build
 * machine that is 2.600 GHz for a 2.596 GHz TSC: 1,500 ppm.  Taken as is, every stream would leave 0.15 % slow
 * (one frame short every 13 s at a peer with a good clock), a clean stream from an accurate peer would show a
 * delay variation growing 1.5 ms a second, and TX-time extensions would run away from real time.  So the rate is
 * measured here against CLOCK_MONOTONIC_RAW (the kernel's own, unadjusted clock) over DP_TSC_CAL_MS, once per
 * process, from the tightest of several (TSC, clock, TSC) readings at each end: a few ppm at most. */
#include <time.h>

#include <rte_cycles.h>

#include "common/common.h"
#include "dataplane/dataplane_internal.h"

#define DP_TSC_CAL_MS 100
#define PAIR_TRIES 16

/* One (TSC, clock) reading: of PAIR_TRIES, the one whose clock read took the fewest ticks (no preemption or
 * interrupt between the two), the TSC taken as the middle of it. */
void dp_clock_pair(clockid_t id, uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < PAIR_TRIES; i++) {
		struct timespec ts;
		uint64_t a = rte_rdtsc_precise(), b;

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
