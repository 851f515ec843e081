/* SRTP re-keying on dp_flow_modify (a re-INVITE with new a=crypto keys), on the real dataplane over net_ring:
 * two flows send to each other with SDES keys, then re-key the way offer/answer does it.
 *   1. The receiving side learns the sender's new key first (it answers an offer): it keeps accepting the old key
 *      until the sender switches, so nothing fails and packets pass with the previous key meanwhile.
 *   2. The sender switches first (an answerer's new key, before the offerer has read the answer): what it sends
 *      until the other side learns the key fails authentication, and nothing else: at most the packets sent in
 *      between, and they are exactly the receiver's losses.
 * SRTCP follows the keys too.  One EAL per process: one test case. */
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane.h"
#include "check_main.h"
#include "dptest.h"

#define MEDIA_IP 0x0a000001u
#define NFRAMES 10

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES];
static const struct codec_frame_cache cache = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};

static void key(uint8_t out[DP_SRTP_KEY_LEN], uint8_t seed)
{
	for (unsigned i = 0; i < DP_SRTP_KEY_LEN; i++)
		out[i] = (uint8_t)(seed * 29 + i * 7);
}

/* Flow f (0 or 1) sends to the other one, with tx_seed / rx_seed keys; dir 0: hold (receive only). */
static int set_flow(uint32_t f, uint8_t tx_seed, uint8_t rx_seed, bool add, uint8_t dir)
{
	struct dp_srtp_keys k = { .suite = DP_SRTP_AES_CM_128_HMAC_SHA1_80 };
	struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(20000 + 2 * f),
				    .remote_ip = MEDIA_IP, .remote_port = (uint16_t)(20000 + 2 * (1 - f)),
				    .remote_mac = { 2, 0, 0, 0, 0, 9 }, .dir = dir ? dir : DP_FLOW_RECV,
				    .payload_type = -1, .ssrc = 0x7000u + f, .cache = &cache, .srtp = &k };

	key(k.tx_key, tx_seed);
	key(k.rx_key, rx_seed);
	return add ? dp_flow_add(f, &p) : dp_flow_modify(f, &p);
}

static struct dp_flow_snapshot snap(uint32_t f)
{
	struct dp_flow_snapshot s;

	ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
	return s;
}

static int64_t lost(uint32_t f)
{
	struct dp_flow_snapshot s = snap(f);
	struct dp_rx_report r;

	dp_rx_report(&s.rx, 20, &r);
	return r.packets_lost;
}

START_TEST(rekey_switches_at_the_right_packet)
{
	const uint8_t both = DP_FLOW_SEND | DP_FLOW_RECV;
	char err[DP_ERR_MAX];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_proto_totals pt;
	uint64_t drops[DP_DROP__COUNT], fail1, prev1;
	struct dp_flow_snapshot a, b, b0, s0, s1;
	uint32_t rtcp0, rtcp1;

	for (unsigned i = 0; i < NFRAMES; i++)
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
	ck_assert_msg(dp_eal_init("test_dp_rekey", "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0,1 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 16;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.rtcp_interval_ms = 300;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", &info, err, sizeof(err)) == 0, "%s", err);

	/* flow 0 sends with key 1, flow 1 with key 2 */
	ck_assert_int_eq(set_flow(0, 1, 2, true, both), 0);
	ck_assert_int_eq(set_flow(1, 2, 1, true, both), 0);
	dpt_wait_commands();
	usleep(400000);
	dp_drop_totals(drops);
	ck_assert_uint_eq(drops[DP_DROP_srtp_auth_fail], 0);
	ck_assert_uint_gt(snap(1).rx.received, 10);

	/* 1. Flow 1 learns flow 0's new key 3 (its own key stays), 200 ms before flow 0 sends with it. */
	ck_assert_int_eq(set_flow(1, 2, 3, false, both), 0);
	dpt_wait_commands();
	usleep(200000);
	ck_assert_int_eq(set_flow(0, 3, 2, false, both), 0);
	dpt_wait_commands();
	usleep(300000);
	dp_drop_totals(drops);
	dp_proto_totals(&pt);
	ck_assert_uint_eq(drops[DP_DROP_srtp_auth_fail], 0);
	ck_assert_uint_eq(drops[DP_DROP_srtp_replay], 0);
	ck_assert_uint_gt(pt.rx_srtp_prev_key, 3); /* flow 0's packets of those 200 ms, on the previous key */
	ck_assert_uint_eq(pt.tx_srtp_fail, 0);
	ck_assert_int_eq(lost(0), 0);
	ck_assert_int_eq(lost(1), 0);
	prev1 = pt.rx_srtp_prev_key;
	rtcp0 = snap(0).rtcp_received;
	rtcp1 = snap(1).rtcp_received;

	/* 2. Flow 1 sends with its new key 4 from now; flow 0 learns it 200 ms later. */
	a = snap(1);
	ck_assert_int_eq(set_flow(1, 4, 3, false, both), 0);
	dpt_wait_commands();
	usleep(200000);
	ck_assert_int_eq(set_flow(0, 3, 4, false, both), 0);
	dpt_wait_commands();
	b = snap(1);
	b0 = snap(0);
	usleep(600000);
	ck_assert_int_eq(set_flow(0, 3, 4, false, 0), 0); /* hold: in-flight packets land, nothing new is sent */
	ck_assert_int_eq(set_flow(1, 4, 3, false, 0), 0);
	dpt_wait_commands();
	usleep(100000);
	dp_drop_totals(drops);
	dp_proto_totals(&pt);
	s0 = snap(0);
	s1 = snap(1);
	fail1 = drops[DP_DROP_srtp_auth_fail];
	/* what flow 1 sent in between failed at flow 0, and nothing else: those packets are flow 0's only losses */
	ck_assert_int_ge(lost(0), 1);
	ck_assert_int_le(lost(0), (int64_t)(b.tx_packets - a.tx_packets));
	ck_assert_uint_ge(fail1, (uint64_t)lost(0));
	/* and SRTCP sent in between: an SRTCP packet under the new key whose index (from 1 again) flow 0's old
	 * session has seen fails libsrtp's replay check, which comes before the tag (docs/dataplane.md) */
	ck_assert_uint_le(drops[DP_DROP_srtp_replay], b.rtcp_sent - a.rtcp_sent);
	ck_assert_uint_le(fail1 + drops[DP_DROP_srtp_replay], (uint64_t)lost(0) + (b.rtcp_sent - a.rtcp_sent));
	ck_assert_int_eq(lost(1), 0);
	ck_assert_uint_eq(pt.rx_srtp_prev_key, prev1); /* nobody sent on a key the other had replaced */
	ck_assert_uint_eq(pt.tx_srtp_fail, 0);
	/* both keep receiving after the switch, RTP and SRTCP */
	ck_assert_uint_gt(s0.rx.received, b0.rx.received + 10);
	ck_assert_uint_gt(s0.rtcp_received, rtcp0);
	ck_assert_uint_gt(s1.rtcp_received, rtcp1);
	ck_assert(s0.srtp && s1.srtp);
	ck_assert_int_eq(dp_flow_delete(0), 0);
	ck_assert_int_eq(dp_flow_delete(1), 0);
	dpt_wait_commands();
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_rekey");
	TCase *tc = tcase_create("net_ring");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rekey_switches_at_the_right_packet);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
