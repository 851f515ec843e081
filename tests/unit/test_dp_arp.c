/* Next-hop resolution on the real dataplane (net_ring port: what goes out comes back in): many flows to remote
 * addresses behind one gateway that does not answer ARP.  Requests go per next hop and in time (at once, then
 * after 1 s, 2 s, …), not per flow and packet count: 2,000 flows waiting 2.5 s send 2 or 3 requests, not
 * thousands; every packet they do not send counts in tx_no_arp.  A reply from the gateway (injected) starts
 * every flow at once, and no further request follows. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane.h"
#include "dataplane/dataplane_internal.h"
#include "check_main.h"

#define MEDIA_IP 0x0a000001u   /* 10.0.0.1/24 */
#define GATEWAY 0x0a0000feu    /* 10.0.0.254: never answers until the test answers for it */
#define REMOTE 0xc6336400u     /* 198.51.100.0/24, off-link: through the gateway */
#define NFLOWS 2000u
#define NFRAMES 50

static uint8_t g_data[NFRAMES * 160];
static struct codec_frame g_frames[NFRAMES];
static const struct codec_frame_cache g_cache = {
	.codec_name = "PCMU", .payload_type = 0, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = g_frames, .data = g_data, .data_len = sizeof(g_data),
};

static void wait_commands(void)
{
	for (int i = 0; i < 5000 && !dp_commands_done(); i++)
		usleep(1000);
	ck_assert(dp_commands_done());
}

static uint64_t all_sent(void)
{
	uint64_t n = 0;

	for (uint32_t f = 0; f < NFLOWS; f++) {
		struct dp_flow_snapshot s;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		n += s.tx_packets;
	}
	return n;
}

static unsigned flows_sending(void)
{
	unsigned n = 0;

	for (uint32_t f = 0; f < NFLOWS; f++) {
		struct dp_flow_snapshot s;

		ck_assert_int_eq(dp_flow_snapshot(f, &s), 0);
		n += s.tx_packets > 0;
	}
	return n;
}

/* Requests for one silent next hop in `ms` since the first, at most: at 0, 1, 3, 7 s, then every 8 s. */
static uint64_t max_requests(uint64_t ms)
{
	uint64_t n = 1, at = 0, gap = 1000;

	while ((at += gap) <= ms) {
		n++;
		gap = gap < 8000 ? gap * 2 : 8000;
	}
	return n;
}

START_TEST(one_request_per_next_hop_in_time)
{
	char err[DP_ERR_MAX];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_proto_totals pt0, pt;
	uint8_t mac[6], reply[DP_ARP_FRAME_LEN + 4];
	static const uint8_t gw_mac[6] = { 0x02, 0, 0, 0, 0, 0xfe };
	uint64_t t0, requests, ms, sent;
	uint16_t len;

	memset(g_data, 0xff, sizeof(g_data));
	for (unsigned i = 0; i < NFRAMES; i++)
		g_frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
	ck_assert_msg(dp_eal_init("test_dp_arp",
				  "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 --lcores=0@(0,1),1@(0,1) "
				  "--log-level=error",
				  err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 4096;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.gateway_ip = GATEWAY;
	cfg.prefix_len = 24;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", &info, err, sizeof(err)) == 0, "%s", err);
	dp_port_mac(mac);
	usleep(100000); /* the gratuitous ARP is out and back */
	dp_proto_totals(&pt0);

	for (uint32_t f = 0; f < NFLOWS; f++) {
		struct dp_flow_params p = { 0 };

		p.local_ip = MEDIA_IP;
		p.local_port = (uint16_t)(20000 + 2 * f);
		p.remote_ip = REMOTE + 1 + f % 250; /* many remote addresses, one next hop */
		p.remote_port = 30000;
		p.dir = DP_FLOW_SEND;
		p.payload_type = -1;
		p.ssrc = 0x20000000u + f;
		p.cache = &g_cache;
		p.impair = 0;
		ck_assert_int_eq(dp_flow_add(f, &p), 0);
	}
	wait_commands();
	t0 = cm_now_ms();
	usleep(2500000);
	/* every flow was due at least once, unsent (waited for on a machine that lends the lcore's CPU away) */
	do
		dp_proto_totals(&pt);
	while (pt.tx_no_arp - pt0.tx_no_arp < NFLOWS && cm_now_ms() - t0 < 20000 && !usleep(10000));
	ms = cm_now_ms() - t0;
	requests = pt.arp_requests_sent - pt0.arp_requests_sent;
	/* at once, after 1 s; the next would be at 3 s (2 s after the second).  Per packet count it was 2,000
	 * flows × 125 packets / 50 = 5,000 in 2.5 s. */
	ck_assert_msg(requests >= 1 && requests <= max_requests(ms), "%llu ARP requests for one next hop in %llu ms",
		      (unsigned long long)requests, (unsigned long long)ms);
	ck_assert_uint_eq(pt.arp_retries - pt0.arp_retries, requests - 1);
	ck_assert_uint_eq(all_sent(), 0);
	ck_assert_uint_ge(pt.tx_no_arp - pt0.tx_no_arp, NFLOWS);

	/* the gateway answers: every flow sends from its next packet on, and nobody asks again */
	len = dp_arp_build(reply, 0, 2, gw_mac, GATEWAY, mac, MEDIA_IP);
	ck_assert_int_eq(dp_inject(reply, len), 0);
	for (t0 = cm_now_ms(); flows_sending() < NFLOWS && cm_now_ms() - t0 < 20000;)
		usleep(10000);
	ck_assert_uint_eq(flows_sending(), NFLOWS);
	printf("every flow sending %llu ms after the reply was injected\n", (unsigned long long)(cm_now_ms() - t0));
	dp_proto_totals(&pt0);
	sent = all_sent();
	usleep(1500000);
	dp_proto_totals(&pt);
	ck_assert_uint_eq(pt.arp_requests_sent, pt0.arp_requests_sent);
	ck_assert_uint_eq(pt.tx_no_arp, pt0.tx_no_arp);
	ck_assert_uint_gt(all_sent(), sent);
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_arp");
	TCase *tc = tcase_create("net_ring");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, one_request_per_next_hop_in_time);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
