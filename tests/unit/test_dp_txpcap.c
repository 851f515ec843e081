/* The TX path checked by an independent decoder: the real dataplane sends into a pcap file (DPDK's pcap PMD,
 * tx_pcap=FILE), then tshark reads it back with IPv4 and UDP checksum validation on: every packet's checksums
 * are right, every flow is one RTP stream with the packets sent and the losses injected, DSCP is set, and the
 * sequence numbers and timestamps run without problems.  One EAL per process: one test case. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane.h"
#include "check_main.h"
#include "dptest.h"

#define FLOWS 20
#define MEDIA_IP 0x0a000001u
#define NFRAMES 50

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES];
static const struct codec_frame_cache cache = {
	.codec_name = "PCMA", .payload_type = 8, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};

static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	size_t cap = 1 << 20, len = 0, n;
	char *out = malloc(cap);

	ck_assert_ptr_nonnull(p);
	while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	pclose(p);
	return out;
}

START_TEST(tx_is_valid_rtp_for_tshark)
{
	char dir[] = "/tmp/cm-dp-txpcap-XXXXXX", tx[128], err[DP_ERR_MAX], cmd[768];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_impair loss = { .loss_ppm = 50000, .seed = 11 };
	uint64_t sent[FLOWS], lost[FLOWS];
	char *out;

	for (unsigned i = 0; i < NFRAMES; i++) {
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160,
						  .flags = i == 0 ? CODEC_FRAME_MARKER : 0 };
		memset(data + i * 160, 0xd5 ^ (int)i, 160);
	}
	dpt_pcap_eal("test_dp_txpcap", dir, tx, sizeof(tx));
	dp_config_default(&cfg);
	cfg.max_flows = 64;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.rtcp_interval_ms = 0; /* RTP only in this capture */
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_pcap0", &info, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(dp_impair_set(0, &loss), 0);
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(30000 + 2 * i),
					    .remote_ip = 0xc0a80001u + i, .remote_port = (uint16_t)(40000 + 2 * i),
					    .remote_mac = { 2, 0, 0, 0, 1, (uint8_t)i }, .dir = DP_FLOW_SEND,
					    .dscp = 46, .payload_type = -1, .ssrc = 0xabc00000u + i,
					    .seq0 = (uint16_t)(65530 - i), .ts0 = 4294967000u, .cache = &cache };
		ck_assert_int_eq(dp_flow_add(i, &p), 0);
	}
	usleep(1200000);
	dpt_stop_and_count(FLOWS, MEDIA_IP, sent, lost, 40);
	dp_stop(); /* closes the capture */
	dp_eal_cleanup();

	/* Every UDP packet (the rest is the gratuitous ARP): valid IPv4 and UDP checksums, DSCP EF, RTP v2 PCMA. */
	snprintf(cmd, sizeof(cmd), "tshark -r %s -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
		 "-d udp.port==40000-40100,rtp -Y udp -T fields -e ip.checksum.status -e udp.checksum.status -e ip.dsfield.dscp "
		 "-e rtp.version -e rtp.p_type 2>/dev/null | sort | uniq -c", tx);
	out = run(cmd);
	unsigned long total = 0, good = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long n;
		char ipst[16], udpst[16];
		unsigned dscp, ver, pt;
		ck_assert_msg(sscanf(line, "%lu %15s %15s %u %u %u", &n, ipst, udpst, &dscp, &ver, &pt) == 6, "%s", line);
		total += n;
		if (strcmp(ipst, "1") == 0 && strcmp(udpst, "1") == 0 && dscp == 46 && ver == 2 && pt == 8)
			good += n; /* Wireshark checksum status 1: good (0 bad, 2 unverified) */
	}
	free(out);
	uint64_t all = 0;
	for (unsigned i = 0; i < FLOWS; i++)
		all += sent[i];
	ck_assert_uint_eq(total, all);
	ck_assert_uint_eq(good, total);

	/* Every flow: one stream, packets as sent, losses as injected (none at the end: checked below). */
	snprintf(cmd, sizeof(cmd), "tshark -r %s -q -d udp.port==40000-40100,rtp -z rtp,streams 2>/dev/null", tx);
	out = run(cmd);
	for (unsigned i = 0; i < FLOWS; i++) {
		char ssrc[16];
		unsigned pkts;
		long tl;
		const char *line;

		snprintf(ssrc, sizeof(ssrc), "0x%08x", 0xabc00000u + i);
		line = strcasestr(out, ssrc);
		ck_assert_msg(line != NULL, "stream %s missing: %s", ssrc, out);
		ck_assert_int_eq(sscanf(line + strlen(ssrc), " %*s %u %ld", &pkts, &tl), 2);
		ck_assert_uint_eq(pkts, sent[i]);
		/* tshark cannot see losses after the last packet: at most the trailing ones differ */
		ck_assert_int_le(tl, (long)lost[i]);
		ck_assert_int_ge(tl, (long)lost[i] - 3);
	}
	free(out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_txpcap");
	TCase *tc = tcase_create("pcap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tx_is_valid_rtp_for_tshark);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
