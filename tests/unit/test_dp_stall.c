/* A stalled dataplane does not burst: the lcore loop is driven by hand (dp_engine_manual) on net_ring0 with
 * 10 looped-back G.711 flows at 20 ms; after 200 ms of normal passes the loop stops for 2 s, then runs 200 ms
 * more.  Each flow must then move to the frame due now (the ~100 missed frames counted as tx_late_skipped, the
 * RTP timestamp advanced past them, no sequence gap) instead of sending them back to back.  One EAL per process. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane_internal.h"
#include "check_main.h"
#include "dptest.h"

#define FLOWS 10
#define MEDIA_IP 0x0a000001u
#define NFRAMES 10

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES];
static const struct codec_frame_cache cache = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};
/* The last flow sends from a cache whose frames do not all step the timestamp alike (the skip's other path). */
static struct codec_frame frames_var[NFRAMES];
static const struct codec_frame_cache cache_var = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames_var, .data = data, .data_len = sizeof(data),
};

START_TEST(stalled_flows_skip_instead_of_bursting)
{
	char err[DP_ERR_MAX];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_proto_totals pt;
	uint64_t sent_before[FLOWS];

	for (unsigned i = 0; i < NFRAMES; i++) {
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
		frames_var[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = i % 2 ? 150 : 170 };
	}
	dp_engine_manual = true;
	ck_assert_msg(dp_eal_init("test_dp_stall", "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 64;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.rtcp_interval_ms = 0;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", &info, err, sizeof(err)) == 0, "%s", err);
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
					    .remote_ip = MEDIA_IP, .remote_port = (uint16_t)(20000 + 2 * f),
					    .remote_mac = { 2, 0, 0, 0, 0, 9 }, .dir = DP_FLOW_SEND | DP_FLOW_RECV,
					    .payload_type = -1, .ssrc = 0x7000u + f,
					    .cache = f == FLOWS - 1 ? &cache_var : &cache };
		ck_assert_int_eq(dp_flow_add(f, &p), 0);
	}
	dpt_run_for_ms(200);
	ck_assert(dp_commands_done());
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_snapshot s;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		sent_before[f] = s.tx_packets;
		ck_assert_uint_ge(s.tx_packets, 8);
	}
	dp_proto_totals(&pt);
	ck_assert_uint_eq(pt.tx_late_skipped, 0);

	{
		/* the lcore stalls for 2 s (100 frames per flow; a loaded machine oversleeps: count what passed) */
		uint64_t t0 = cm_now_us(), frames_due;

		usleep(2000000);
		frames_due = (cm_now_us() - t0) / 20000;
		dpt_run_for_ms(200);
		/* stop sending and let the loopback deliver what the last pass sent, before counting */
		for (uint32_t f = 0; f < FLOWS; f++) {
			struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
						    .dir = DP_FLOW_RECV };
			ck_assert_int_eq(dp_flow_modify(f, &p), 0);
		}
		dpt_run_for_ms(20);
		ck_assert(dp_commands_done());
		dp_proto_totals(&pt);
		ck_assert_uint_ge(pt.tx_late_skipped, FLOWS * (frames_due - 5));
		ck_assert_uint_le(pt.tx_late_skipped, FLOWS * (frames_due + 1));
	}
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_snapshot s;
		struct dp_rx_report r;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		dp_rx_report(&s.rx, 20, &r);
		/* ~10 more packets in the 200 ms after the stall, not ~110 */
		ck_assert_msg(s.tx_packets - sent_before[f] <= 14, "flow %u sent %llu packets after the stall", f,
			      (unsigned long long)(s.tx_packets - sent_before[f]));
		ck_assert_uint_ge(s.tx_packets - sent_before[f], 8);
		/* everything sent arrived, in sequence: the skip left no sequence gap */
		ck_assert_int_eq(r.packets_lost, 0);
		ck_assert_uint_eq(r.packets_received, s.tx_packets);
		ck_assert_uint_eq(r.sequence_number_resets, 0);
		/* the timestamp moved on with the skipped frames: the first packet after the stall carries the time it
		 * is sent at, so no 2 s jump between arrival and timestamp shows (the steps of the last flow's cache
		 * average 160 too) */
		ck_assert_uint_eq(r.timestamp_jumps, 0);
		ck_assert_msg(r.max_jitter_ms < 20.0, "flow %u: max jitter %.3f ms", f, r.max_jitter_ms);
	}
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_stall");
	TCase *tc = tcase_create("manual_lcore");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, stalled_flows_skip_instead_of_bursting);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
