/* Two dataplane lcores (on the two CPUs: lcore 2 shares CPU 0 with the main one) on net_ring0 (two queue pairs, each looping back to itself): every flow sends to a flow
 * owned by the other lcore, so every packet arrives at the wrong lcore and must be handed over (software
 * steering) to be analysed.  Nothing may be lost or dropped as other_lcore.  One EAL per process. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane.h"
#include "check_main.h"

#define FLOWS 40
#define MEDIA_IP 0x0a000001u
#define NFRAMES 10

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES];
static const struct codec_frame_cache cache = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};

/* Flow f sends to flow f + 1's port: the other lcore's. */
static void set_flows(uint8_t dir, bool add)
{
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
					    .remote_ip = MEDIA_IP, .remote_port = (uint16_t)(20000 + 2 * ((f + 1) % FLOWS)),
					    .remote_mac = { 2, 0, 0, 0, 0, 9 }, .dir = dir, .payload_type = -1,
					    .ssrc = 0x5000u + f, .cache = &cache };
		ck_assert_int_eq(add ? dp_flow_add(f, &p) : dp_flow_modify(f, &p), 0);
	}
	for (int i = 0; i < 2000 && !dp_commands_done(); i++)
		usleep(1000);
	ck_assert(dp_commands_done());
}

/* The EAL with two worker lcores (two of them on CPU 0) and net_ring, 64 flows on MEDIA_IP; lcores caps the
 * dataplane's lcores (0: both), rtcp_ms the RTCP interval (0: the default). */
static void start_dataplane(unsigned lcores, uint32_t rtcp_ms, struct dp_port_info *info)
{
	char err[DP_ERR_MAX];
	struct dp_config cfg;

	for (unsigned i = 0; i < NFRAMES; i++)
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
	ck_assert_msg(dp_eal_init("test_dp_steer", "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 --lcores=0@0,1@1,2@0 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 64;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.lcores = lcores;
	if (rtcp_ms)
		cfg.rtcp_interval_ms = rtcp_ms;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", info, err, sizeof(err)) == 0, "%s", err);
}

START_TEST(flows_cross_lcores)
{
	struct dp_port_info info;
	struct dp_proto_totals pt;
	uint64_t drops[DP_DROP__COUNT], received = 0;

	start_dataplane(0, 300, &info);
	ck_assert_uint_eq(info.lcores, 2);
	/* Every flow exists (receiving) before any starts sending, so that no first packet meets an unknown port. */
	set_flows(DP_FLOW_RECV, true);
	set_flows(DP_FLOW_SEND | DP_FLOW_RECV, false);
	usleep(1200000);
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
					    .dir = DP_FLOW_RECV };
		ck_assert_int_eq(dp_flow_modify(f, &p), 0);
	}
	for (int i = 0; i < 2000 && !dp_commands_done(); i++)
		usleep(1000);
	usleep(100000);
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_snapshot s, from;
		struct dp_rx_report r;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		ck_assert_int_eq(dp_flow_snapshot((f + FLOWS - 1) % FLOWS, &from), 0);
		dp_rx_report(&s.rx, 20, &r);
		ck_assert_uint_eq(r.ssrc, 0x5000u + (f + FLOWS - 1) % FLOWS);
		ck_assert_uint_ge(r.packets_received, 40);
		ck_assert_uint_eq(r.packets_received, from.tx_packets);
		ck_assert_int_eq(r.packets_lost, 0);
		/* RTCP crossed too: flow f hears flow f − 1's SR on its port + 1 */
		ck_assert_uint_ge(s.rtcp_received, 2);
		received += r.packets_received + s.rtcp_received;
	}
	{
		/* a batched read, in another order, is served by both lcores and agrees with the single reads */
		static struct dp_flow_snapshot many[FLOWS];
		uint32_t ids[FLOWS];

		for (uint32_t i = 0; i < FLOWS; i++)
			ids[i] = FLOWS - 1 - i;
		ck_assert_int_eq(dp_flow_snapshot_many(ids, FLOWS, many), 0);
		for (uint32_t i = 0; i < FLOWS; i++) {
			struct dp_flow_snapshot s;
			struct dp_rx_report r1, r2;

			ck_assert_int_eq(dp_flow_snapshot(ids[i], &s), 0);
			dp_rx_report(&s.rx, 20, &r1);
			dp_rx_report(&many[i].rx, 20, &r2);
			ck_assert_uint_eq(r2.ssrc, r1.ssrc);
			ck_assert_uint_eq(r2.packets_received, r1.packets_received);
			ck_assert_uint_eq(many[i].tx_packets, s.tx_packets);
		}
	}
	dp_drop_totals(drops);
	ck_assert_uint_eq(drops[DP_DROP_other_lcore], 0);
	ck_assert_uint_eq(drops[DP_DROP_unknown_port], 0);
	dp_proto_totals(&pt);
	/* every one of them crossed (RTCP still in flight at the snapshots: a few more) */
	ck_assert_uint_ge(pt.rx_steered, received);
	ck_assert_uint_le(pt.rx_steered, received + 2 * FLOWS);
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

/* dp_config.lcores caps the dataplane lcores: EAL has two workers, the dataplane takes one (one queue pair),
 * and its flows all live there: nothing is steered, nothing lost. */
START_TEST(lcores_limit)
{
	struct dp_port_info info;
	struct dp_proto_totals pt;

	start_dataplane(1, 0, &info);
	ck_assert_uint_eq(info.lcores, 1);
	ck_assert_uint_eq(info.rx_queues, 1);
	set_flows(DP_FLOW_RECV, true);
	set_flows(DP_FLOW_SEND | DP_FLOW_RECV, false);
	usleep(1000000);
	for (uint32_t f = 0; f < FLOWS; f++) {
		struct dp_flow_snapshot s;
		struct dp_rx_report r;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		dp_rx_report(&s.rx, 20, &r);
		ck_assert_uint_ge(r.packets_received, 10);
	}
	dp_proto_totals(&pt);
	ck_assert_uint_eq(pt.rx_steered, 0);
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_steer");
	TCase *tc = tcase_create("two_lcores");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, flows_cross_lcores);
	tcase_add_test(tc, lcores_limit);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
