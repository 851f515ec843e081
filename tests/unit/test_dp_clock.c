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

static uint64_t realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

static uint64_t raw_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_RAW);
}

/* The dataplane's time and a reference clock's, read as close together as this machine allows (the tightest
 * of 16). */
static void read_both(uint64_t (*clock)(void), uint64_t *dp, uint64_t *ref)
{
	uint64_t best = UINT64_MAX;

	*dp = *ref = 0;
	for (int i = 0; i < 16; i++) {
		uint64_t a = clock(), w = dp_wall_ns(), b = clock();

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

	read_both(realtime_ns, &w0, &wall);
	ck_assert_msg(w0 > wall - 1000000 && w0 < wall + 1000000, "dataplane %llu, CLOCK_REALTIME %llu",
		      (unsigned long long)w0, (unsigned long long)wall);

	read_both(raw_ns, &w0, &r0);
	nanosleep(&second, NULL);
	read_both(raw_ns, &w1, &r1);
	double ppm = ((double)(w1 - w0) / (double)(r1 - r0) - 1) * 1e6;
	printf("dataplane clock against CLOCK_MONOTONIC_RAW over %.3f s: %+.1f ppm (TSC %llu Hz, EAL's estimate "
	       "%llu)\n", (double)(r1 - r0) / 1e9, ppm, (unsigned long long)dp_tsc_hz(),
	       (unsigned long long)rte_get_tsc_hz());
	ck_assert_msg(ppm > -20 && ppm < 20, "%+.1f ppm", ppm);
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

/* A CLOCK_REALTIME that NTP runs 300 ppm fast of the raw clock, and that is then stepped by a second. */
static uint64_t fake_raw0, fake_real0;
static int64_t fake_step_ns;

static int fake_realtime(struct timespec *ts)
{
	uint64_t raw = raw_ns() - fake_raw0;
	uint64_t ns = fake_real0 + raw + raw * 300 / 1000000 + (uint64_t)fake_step_ns;

	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
	return 0;
}

static uint64_t fake_ns(void)
{
	struct timespec ts;

	fake_realtime(&ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The lcore's passes for ms milliseconds; false if the dataplane's wall time ever went backwards. */
static bool poll_for(unsigned ms)
{
	uint64_t end = raw_ns() + ms * 1000000ull, last = 0;
	bool monotonic = true;

	while (raw_ns() < end) {
		dp_engine_poll_once(0);
		uint64_t w = dp_wall_ns();

		monotonic &= w >= last;
		last = w;
	}
	return monotonic;
}

/* Dataplane wall time − the fake clock, in ns. */
static int64_t fake_offset(void)
{
	uint64_t w, f;

	read_both(fake_ns, &w, &f);
	return (int64_t)(w - f);
}

/* The dataplane's wall time follows CLOCK_REALTIME where its rate is not the raw clock's (what NTP does to it):
 * the lcore's own passes (dp_engine_manual, driven here) steer it within 20 µs — left alone it would be 1 ms
 * off after 3.5 s at 300 ppm — without ever going backwards; a step of the clock is followed at once and
 * counted. */
START_TEST(wall_clock_follows_realtime_rate_and_steps)
{
	char err[DP_ERR_MAX];
	struct dp_port_info info;
	struct dp_wall_stats st;
	struct dp_proto_totals pt;

	fake_raw0 = raw_ns();
	fake_real0 = realtime_ns();
	dp_wall_source(fake_realtime);
	ck_assert_msg(dp_eal_init("test_dp_clock", "--no-huge --no-shconf -m 256 --no-pci -l 0 --vdev=net_null0 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_engine_manual = true; /* the test's thread runs the lcore's passes */
	ck_assert_msg(dp_start("net_null0", &info, err, sizeof(err)) == 0, "%s", err);

	ck_assert_msg(poll_for(3500), "wall time went backwards while slewing");
	int64_t off = fake_offset();
	dp_wall_stats(&st);
	printf("clock 300 ppm fast: after 3.5 s the dataplane's wall time is %+.1f us off (rate estimate %+.1f ppm, "
	       "correction %+.1f ppm)\n", off / 1e3, st.freq_ppb / 1e3, st.adj_ppb / 1e3);
	fflush(stdout);
	ck_assert_msg(off > -20000 && off < 20000, "%+lld ns", (long long)off);
	ck_assert_msg(st.freq_ppb > 290000 && st.freq_ppb < 310000, "%lld ppb", (long long)st.freq_ppb);
	ck_assert_uint_eq(st.steps, 0);

	fake_step_ns = 1000000000; /* settimeofday: a second ahead */
	poll_for(1500);
	off = fake_offset();
	dp_wall_stats(&st);
	dp_proto_totals(&pt);
	printf("after a 1 s step: %+.1f us off, %llu step(s)\n", off / 1e3, (unsigned long long)st.steps);
	fflush(stdout);
	ck_assert_msg(off > -20000 && off < 20000, "%+lld ns", (long long)off);
	ck_assert_uint_eq(st.steps, 1);
	ck_assert_uint_eq(pt.wall_clock_steps, 1);
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
	tcase_add_test(tc, wall_clock_follows_realtime_rate_and_steps);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
