/* The periodic TX schedule (dataplane/engine.c, tx_run), driven by hand (dp_engine_manual) on net_ring0 with
 * every flow sending to itself, so that RX checks what TX sent.  Five ptimes for four periodic classes: the
 * fifth group stays on the timing wheel.  Then an impairment with delay jitter moves a group to the wheel (its
 * class, left empty, goes to the wheel's group), flows are deleted and re-added with another ptime, and a class
 * emptied by deletes is taken by the flows waiting on the wheel; last, a group is modified to another codec's
 * cache and packet interval (a re-INVITE's answer) and sends the new frames at the new interval.  In every phase each flow sends one packet per ptime (so none is scheduled twice or
 * lost from the schedule), and the receiver sees every packet, in sequence, no duplicate.  One EAL per
 * process. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane_internal.h"
#include "check_main.h"
#include "dptest.h"

#define MEDIA_IP 0x0a000001u
#define NFRAMES 10
#define NGROUPS 5
/* group: flows, ptime (ms), impairment profile */
static const struct { uint32_t first, n; uint16_t ptime; uint8_t impair; } grp[NGROUPS] = {
	{ 0, 40, 20, 0 }, { 40, 20, 10, 1 }, { 60, 10, 30, 0 }, { 70, 10, 40, 0 }, { 80, 12, 60, 0 },
};
#define FLOWS 92

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES];
static const struct codec_frame_cache cache = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};
/* what a re-INVITE may switch a flow to: another codec's cache, 80-byte frames of 10 ms */
static uint8_t data2[NFRAMES * 80];
static struct codec_frame frames2[NFRAMES];
static const struct codec_frame_cache cache2 = {
	.codec_name = "L8", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 10, .nframes = NFRAMES,
	.frames = frames2, .data = data2, .data_len = sizeof(data2),
};
static uint16_t ptime_of[FLOWS];
static uint64_t sent_at_start[FLOWS];
/* The pass that closed the last window, between these two times: every packet due before cut_pre had been sent
 * by its end, none due after cut_post.  (A loaded machine may stall this thread anywhere: windows measured from
 * the clock alone then miss or gain the packets of a stall at their edges.) */
static uint64_t cut_pre, cut_post;

static void cut(void)
{
	cut_pre = cm_now_us();
	dp_engine_poll_once(0);
	cut_post = cm_now_us();
}

static void add(uint32_t f, uint16_t ptime, uint8_t impair, uint32_t ssrc)
{
	struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
				    .remote_ip = MEDIA_IP, .remote_port = (uint16_t)(20000 + 2 * f),
				    .remote_mac = { 2, 0, 0, 0, 0, 9 }, .dir = DP_FLOW_SEND | DP_FLOW_RECV,
				    .payload_type = -1, .ssrc = ssrc, .cache = &cache, .ptime_ms = ptime,
				    .impair = impair };

	ck_assert_int_eq(dp_flow_add(f, &p), 0);
	ptime_of[f] = ptime;
}

static void mark(void)
{
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_snapshot s;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		sent_at_start[f] = s.tx_packets;
	}
}

/* Runs `ms` and checks that every active flow sent one packet per ptime from the last cut to this phase's (±2:
 * where the cuts fall in its period, and the first packet of a flow added at the start), and how many flows
 * were periodic. */
static void phase(const char *name, unsigned ms, uint64_t periodic)
{
	struct dp_proto_totals pt;
	uint64_t prev_pre = cut_pre, prev_post = cut_post;

	dpt_run_for_ms(ms);
	ck_assert(dp_commands_done());
	/* A loaded machine may have stalled the loop by a period or more just before: flows that fell behind are
	 * caught up on the wheel and come back within a few passes. */
	for (unsigned i = 0; i < 100; i++) {
		dp_proto_totals(&pt);
		if (pt.tx_periodic_flows == periodic)
			break;
		dpt_run_for_ms(1);
	}
	ck_assert_msg(pt.tx_periodic_flows == periodic, "%s: %llu flows on the periodic schedule, want %llu", name,
		      (unsigned long long)pt.tx_periodic_flows, (unsigned long long)periodic);
	cut();
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_snapshot s;
		double lo = (double)(cut_pre - prev_post) / 1000.0 / ptime_of[f];
		double hi = (double)(cut_post - prev_pre) / 1000.0 / ptime_of[f], got;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		if (!s.active)
			continue;
		got = (double)(s.tx_packets - sent_at_start[f]);
		ck_assert_msg(got >= lo - 2 && got <= hi + 2, "%s: flow %u (ptime %u) sent %.0f packets in %.1f-%.1f ms, "
			      "want %.1f-%.1f", name, f, ptime_of[f], got, (cut_pre - prev_post) / 1000.0,
			      (cut_post - prev_pre) / 1000.0, lo, hi);
	}
	mark();
}

START_TEST(periodic_schedule_keeps_every_flow_on_time)
{
	char err[DP_ERR_MAX];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_impair jitter = { .jitter_us = 3000, .seed = 3 }, none = { 0 };

	for (unsigned i = 0; i < NFRAMES; i++) {
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
		frames2[i] = (struct codec_frame){ .offset = i * 80, .len = 80, .ts_inc = 80 };
	}
	dp_engine_manual = true;
	ck_assert_msg(dp_eal_init("test_dp_sched", "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 128;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.rtcp_interval_ms = 0;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", &info, err, sizeof(err)) == 0, "%s", err);
	for (unsigned g = 0; g < NGROUPS; g++)
		for (uint32_t f = grp[g].first; f < grp[g].first + grp[g].n; f++)
			add(f, grp[g].ptime, grp[g].impair, 0x1000u + f);
	cut();
	mark();
	/* four classes (20, 10, 30, 40 ms) taken in the order the flows came; the 60 ms group on the wheel */
	phase("start", 400, 40 + 20 + 10 + 10);
	/* delay jitter on the 10 ms group's profile: its flows leave for the wheel, and the 60 ms group takes the
	 * class they left */
	ck_assert_int_eq(dp_impair_set(1, &jitter), 0);
	phase("jitter", 300, 40 + 10 + 10 + 12);
	/* the jitter off again: the 10 ms group has no class now and stays on the wheel; half the 20 ms group
	 * re-added at 10 ms (their entries in the 20 ms class go) joins it; the 40 ms group deleted: all the
	 * 10 ms flows take its class */
	ck_assert_int_eq(dp_impair_set(1, &none), 0);
	for (uint32_t f = 0; f < 20; f++) {
		ck_assert_int_eq(dp_flow_delete(f), 0);
		add(f, 10, 0, 0x2000u + f);
	}
	for (uint32_t f = grp[3].first; f < grp[3].first + grp[3].n; f++)
		ck_assert_int_eq(dp_flow_delete(f), 0);
	/* the re-added flows start within one ptime: their window counts from the next pass */
	dpt_run_for_ms(1);
	cut();
	mark();
	phase("churn", 500, 20 + 10 + 12 + 20 + 20);
	/* a modify to another codec's cache and packet interval (a re-INVITE's answer): the 30 ms group sends 80-byte
	 * frames every 10 ms from its next packet on, in the 10 ms class (the 30 ms class left empty) */
	{
		uint64_t pkts[FLOWS], bytes[FLOWS];

		for (uint32_t f = grp[2].first; f < grp[2].first + grp[2].n; f++) {
			struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
						    .remote_ip = MEDIA_IP, .remote_port = (uint16_t)(20000 + 2 * f),
						    .remote_mac = { 2, 0, 0, 0, 0, 9 },
						    .dir = DP_FLOW_SEND | DP_FLOW_RECV, .payload_type = -1,
						    .cache = &cache2 };
			struct dp_flow_snapshot s;

			ck_assert_int_eq(dp_flow_modify(f, &p), 0);
			ptime_of[f] = 10;
			ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
			pkts[f] = s.tx_packets;
			bytes[f] = s.tx_bytes;
		}
		dpt_run_for_ms(1); /* the modify applied, the old interval's packet due may still go */
		cut();
		mark();
		phase("modify", 400, 20 + 10 + 12 + 20 + 20);
		for (uint32_t f = grp[2].first; f < grp[2].first + grp[2].n; f++) {
			struct dp_flow_snapshot s;

			ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
			/* RTP header and the new 80-byte frames, but for the one old 160-byte packet that may have
			 * left before the modify was applied */
			uint64_t n = s.tx_packets - pkts[f], b = s.tx_bytes - bytes[f];

			ck_assert_msg((b == n * (12 + 80) || b == n * (12 + 80) + 80) && n >= 38,
				      "flow %u: %llu packets, %llu bytes since the modify", f,
				      (unsigned long long)(s.tx_packets - pkts[f]), (unsigned long long)(s.tx_bytes - bytes[f]));
		}
	}
	/* stop sending; let the loopback deliver the last pass's packets */
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
					    .dir = DP_FLOW_RECV };

		if (f < grp[3].first || f >= grp[3].first + grp[3].n)
			ck_assert_int_eq(dp_flow_modify(f, &p), 0);
	}
	dpt_run_for_ms(20);
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_snapshot s;
		struct dp_rx_report r;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		if (!s.active)
			continue;
		dp_rx_report(&s.rx, ptime_of[f], &r);
		ck_assert_uint_ge(s.tx_packets, 20);
		ck_assert_msg(r.packets_received == s.tx_packets && r.packets_lost == 0 && r.duplicate_packets == 0 &&
			      r.out_of_order_packets == 0 && r.sequence_number_resets == 0,
			      "flow %u: sent %llu, received %llu, lost %lld, duplicates %llu, out of order %llu, resets %llu",
			      f, (unsigned long long)s.tx_packets, (unsigned long long)r.packets_received,
			      (long long)r.packets_lost, (unsigned long long)r.duplicate_packets,
			      (unsigned long long)r.out_of_order_packets, (unsigned long long)r.sequence_number_resets);
	}
	{
		struct dp_proto_totals pt;

		dp_proto_totals(&pt);
		ck_assert_uint_eq(pt.tx_late_skipped, 0);
	}
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

/* The pacing histogram's arithmetic (what bench_dp_tx reports): percentiles are bucket upper bounds, 100 ns
 * up to 100 µs, 100 µs up to 100.1 ms, the maximum beyond. */
START_TEST(pacing_histogram_percentiles)
{
	struct dp_pacing p;

	memset(&p, 0, sizeof(p));
	ck_assert_uint_eq(dp_pacing_percentile(&p, 99), 0);
	for (int i = 0; i < 97; i++)
		dp_pacing_add(&p, 50);
	dp_pacing_add(&p, 5000);       /* bucket 50: 5.0-5.1 µs */
	dp_pacing_add(&p, 250000);     /* coarse: 200-300 µs */
	dp_pacing_add(&p, 400000000);  /* beyond 100.1 ms */
	ck_assert_uint_eq(p.count, 100);
	ck_assert_uint_eq(p.max_ns, 400000000);
	ck_assert_uint_eq(dp_pacing_percentile(&p, 50), 100);
	ck_assert_uint_eq(dp_pacing_percentile(&p, 97), 100);
	ck_assert_uint_eq(dp_pacing_percentile(&p, 98), 5100);
	ck_assert_uint_eq(dp_pacing_percentile(&p, 99), 300000);
	ck_assert_uint_eq(dp_pacing_percentile(&p, 100), 400000000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_sched");
	TCase *tc = tcase_create("manual_lcore");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, periodic_schedule_keeps_every_flow_on_time);
	tcase_add_test(tc, pacing_histogram_percentiles);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
