/* The dataplane's clock keeps time: after dp_start, its wall time (what TX-time extensions and RTCP NTP
 * timestamps carry, and the time base of pacing and arrival times) starts at CLOCK_REALTIME and advances at the
 * kernel's raw clock's rate, within 20 ppm over a second.  With EAL's TSC estimate (rounded to 10 MHz where the
 * CPU does not report its rate) it ran 1,500 ppm slow on the build machine. */
#include <stdio.h>
#include <time.h>

#include <rte_cycles.h>

#include "common/common.h"
#include "dataplane/dataplane.h"
#include "dataplane/dataplane_internal.h"
#include "check_main.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The dataplane's time and the clock's, read as close together as this machine allows (the tightest of 16). */
static void read_both(clockid_t id, uint64_t *dp, uint64_t *ref)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 16; i++) {
		uint64_t a = clock_ns(id), w = dp_wall_ns(), b = clock_ns(id);

		if (b - a < best) {
			best = b - a;
			*dp = w;
			*ref = a + (b - a) / 2;
		}
	}
}

START_TEST(dataplane_clock_keeps_time)
{
	char err[DP_ERR_MAX];
	struct dp_port_info info;
	uint64_t w0, r0, w1, r1, wall;
	struct timespec second = { 1, 0 };

	ck_assert_msg(dp_eal_init("test_dp_clock", "--no-huge --no-shconf -m 256 --no-pci -l 0 --vdev=net_null0 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_engine_manual = true; /* no lcore to launch: only the clock is looked at */
	ck_assert_msg(dp_start("net_null0", &info, err, sizeof(err)) == 0, "%s", err);

	read_both(CLOCK_REALTIME, &w0, &wall);
	ck_assert_msg(w0 > wall - 1000000 && w0 < wall + 1000000, "dataplane %llu, CLOCK_REALTIME %llu",
		      (unsigned long long)w0, (unsigned long long)wall);

	read_both(CLOCK_MONOTONIC_RAW, &w0, &r0);
	nanosleep(&second, NULL);
	read_both(CLOCK_MONOTONIC_RAW, &w1, &r1);
	double ppm = ((double)(w1 - w0) / (double)(r1 - r0) - 1) * 1e6;
	printf("dataplane clock against CLOCK_MONOTONIC_RAW over %.3f s: %+.1f ppm (TSC %llu Hz, EAL's estimate "
	       "%llu)\n", (double)(r1 - r0) / 1e9, ppm, (unsigned long long)dp_tsc_hz(),
	       (unsigned long long)rte_get_tsc_hz());
	ck_assert_msg(ppm > -20 && ppm < 20, "%+.1f ppm", ppm);
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_clock");
	TCase *tc = tcase_create("net_null");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, dataplane_clock_keeps_time);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
