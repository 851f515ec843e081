/* The RX clock across a codec switch (a re-INVITE to another clock rate), through the real dataplane on
 * net_ring0 driven by hand: flows 0 and 1 call each other with PCMU (8 kHz); flow 0 switches to a 48 kHz codec
 * (its command and, being the peer of flow 1, its packets) 600 ms before flow 1 does.  So flow 0 receives 8 kHz
 * packets after its own switch, and flow 1 receives 48 kHz packets before its own: each side's jitter and
 * timestamp arithmetic must follow the payload type of the packets, not the command (which mixed the two clocks
 * in one timestamp delta: for flow 0 a D of 16.7 ms a packet, a jitter of ~14 ms by the time flow 1 switches;
 * for flow 1 −100 ms a packet).  The bound of 8 ms leaves room for a loaded machine's scheduling (4 ms seen
 * under make check).  One EAL per process. */
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane_internal.h"
#include "check_main.h"
#include "dptest.h"

#define MEDIA_IP 0x0a000001u
#define NFRAMES 10

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES], frames48[NFRAMES];
static const struct codec_frame_cache pcmu = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};
static const struct codec_frame_cache wide = {
	.codec_name = "L16-48k", .payload_type = 111, .clock_rate = 48000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames48, .data = data, .data_len = sizeof(data),
};

/* flow f on port 20000 + 2f, sending to the other one */
static struct dp_flow_params params(uint32_t f, const struct codec_frame_cache *c, uint8_t dir)
{
	return (struct dp_flow_params){ .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
					.remote_ip = MEDIA_IP, .remote_port = (uint16_t)(20002 - 2 * f),
					.remote_mac = { 2, 0, 0, 0, 0, 9 }, .dir = dir, .payload_type = -1,
					.ssrc = 0x100 + f, .cache = c };
}

static void run_ms(unsigned ms)
{
	dpt_run_for_ms(ms);
	ck_assert(dp_commands_done());
}

START_TEST(clock_switches_with_the_packets)
{
	const uint8_t both = DP_FLOW_SEND | DP_FLOW_RECV;
	char err[DP_ERR_MAX];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_flow_snapshot s[2];

	for (unsigned i = 0; i < NFRAMES; i++) {
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
		frames48[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 960 };
	}
	dp_engine_manual = true;
	ck_assert_msg(dp_eal_init("test_rx_clock", "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 4;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.rtcp_interval_ms = 0;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", &info, err, sizeof(err)) == 0, "%s", err);
	for (uint32_t f = 0; f < 2; f++) {
		struct dp_flow_params p = params(f, &pcmu, both);

		ck_assert_int_eq(dp_flow_add(f, &p), 0);
	}
	run_ms(300);
	{
		struct dp_flow_params p = params(0, &wide, both);

		ck_assert_int_eq(dp_flow_modify(0, &p), 0);
	}
	run_ms(600);
	/* flow 0 still receives PCMU in its old clock; flow 1 already receives the 48 kHz packets */
	ck_assert_int_eq(dp_flow_snapshot(0, &s[0]), 0);
	ck_assert_uint_eq(s[0].rx.clock_rate, 8000);
	{
		struct dp_flow_params p = params(1, &wide, both);

		ck_assert_int_eq(dp_flow_modify(1, &p), 0);
	}
	run_ms(300);
	for (uint32_t f = 0; f < 2; f++) {
		struct dp_flow_params p = params(f, NULL, DP_FLOW_RECV);

		ck_assert_int_eq(dp_flow_modify(f, &p), 0);
	}
	run_ms(20);
	for (uint32_t f = 0; f < 2; f++)
		ck_assert_int_eq(dp_flow_snapshot(f, &s[f]), 0);
	for (uint32_t f = 0; f < 2; f++) {
		struct dp_rx_report r;

		dp_rx_report(&s[f].rx, 20, &r);
		ck_assert_uint_ge(s[1 - f].tx_packets, 55);
		ck_assert_msg(r.packets_received == s[1 - f].tx_packets && r.packets_lost == 0 &&
			      r.timestamp_jumps == 0 && r.max_jitter_ms < 8,
			      "flow %u: received %llu of %llu, lost %lld, timestamp jumps %llu, max jitter %.3f ms", f,
			      (unsigned long long)r.packets_received, (unsigned long long)s[1 - f].tx_packets,
			      (long long)r.packets_lost, (unsigned long long)r.timestamp_jumps, r.max_jitter_ms);
		ck_assert_uint_eq(s[f].rx.clock_rate, 48000);
	}
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rx_clock");
	TCase *tc = tcase_create("manual_lcore");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, clock_switches_with_the_packets);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
