/* The dataplane's own SRTP and TX-time extension, read back by callmeter-worker analyze: the real dataplane sends
 * SRTP flows (both suites, with SRTCP) and a plain flow with loss and delay impairment into a pcap file (DPDK's
 * pcap PMD), all carrying the RFC 8285 TX time; analyze, given the keys by source port, authenticates every
 * packet (no failure), counts what was sent and lost, reads the SRTCP sender reports, and measures one-way delay
 * on the same host's clock (within the two TSC-to-time mappings' difference of 0, the capture clock's lag
 * allowed for; the impairment's delay visible).  Without keys the SRTP streams are still analysed from their
 * headers.  One EAL per process: one test case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rte_cycles.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane.h"
#include "check_main.h"
#include "dptest.h"
#include "pcaputil.h"

#define MEDIA_IP 0x0a000001u
#define NFRAMES 50
#define FLOWS 3 /* 0: SRTP _80, 1: SRTP _32, 2: plain, 5 % loss and up to 4 ms of delay */
#define OWD_ID 5

static uint8_t data[NFRAMES * 160];
static struct codec_frame frames[NFRAMES];
static const struct codec_frame_cache cache = {
	.codec_name = "PCMA", .payload_type = 8, .clock_rate = 8000, .ptime_ms = 20, .nframes = NFRAMES,
	.frames = frames, .data = data, .data_len = sizeof(data),
};

START_TEST(dataplane_srtp_and_txtime_read_by_analyze)
{
	const char *bin = getenv("CALLMETER_WORKER_BIN");
	char dir[] = "/tmp/cm-dp-txsrtp-XXXXXX", rx[128], tx[128], json[128], eal[512], err[DP_ERR_MAX], cmd[1024];
	char b64[2][41];
	struct dp_config cfg;
	struct dp_port_info info;
	struct dp_srtp_keys keys[2];
	struct dp_impair imp = { .loss_ppm = 50000, .jitter_us = 4000, .seed = 7 };
	uint64_t sent[FLOWS], lost[FLOWS];
	char *out, *js;
	int st;
	FILE *f;

	ck_assert_ptr_nonnull(bin);
	for (unsigned i = 0; i < NFRAMES; i++)
		frames[i] = (struct codec_frame){ .offset = i * 160, .len = 160, .ts_inc = 160 };
	memset(data, 0xd5, sizeof(data));
	for (unsigned k = 0; k < 2; k++) {
		keys[k].suite = k ? DP_SRTP_AES_CM_128_HMAC_SHA1_32 : DP_SRTP_AES_CM_128_HMAC_SHA1_80;
		for (unsigned i = 0; i < DP_SRTP_KEY_LEN; i++) {
			keys[k].tx_key[i] = (uint8_t)(k * 71 + i * 3 + 1);
			keys[k].rx_key[i] = (uint8_t)(k * 13 + i);
		}
		EVP_EncodeBlock((unsigned char *)b64[k], keys[k].tx_key, DP_SRTP_KEY_LEN);
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(rx, sizeof(rx), "%s/rx.pcap", dir);
	snprintf(tx, sizeof(tx), "%s/tx.pcap", dir);
	snprintf(json, sizeof(json), "%s/a.json", dir);
	f = pcap_open(rx); /* an empty capture: nothing to receive */
	fclose(f);

	snprintf(eal, sizeof(eal), "--no-huge --no-shconf -m 256 --no-pci -l 0,1 --log-level=error "
		 "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s", rx, tx);
	uint64_t t_probe = cm_now_us(); /* net_pcap starts its capture clock when EAL probes it */
	ck_assert_msg(dp_eal_init("test_dp_txpcap_srtp", eal, err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 16;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.rtcp_interval_ms = 300;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_pcap0", &info, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(dp_impair_set(1, &imp), 0);
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct dp_flow_params p = { .local_ip = MEDIA_IP, .local_port = (uint16_t)(30000 + 2 * i),
					    .remote_ip = 0xc0a80001u + i, .remote_port = (uint16_t)(40000 + 2 * i),
					    .remote_mac = { 2, 0, 0, 0, 1, (uint8_t)i }, .dir = DP_FLOW_SEND,
					    .payload_type = -1, .ssrc = 0x5e000000u + i, .seq0 = (uint16_t)(100 * i),
					    .cache = &cache, .owd_ext_id = OWD_ID, .impair = i == 2 ? 1 : 2,
					    .srtp = i < 2 ? &keys[i] : NULL };
		ck_assert_int_eq(dp_flow_add(i, &p), 0);
	}
	usleep(1200000);
	dpt_stop_and_count(FLOWS, MEDIA_IP, sent, lost, 40);
	/* net_pcap stamps what it writes from the TSC at EAL's estimate of its rate (rounded to 10 MHz where the CPU
	 * does not report it), counted from its probe; the dataplane's TX times use the measured rate
	 * (dataplane/clock.c).  The capture clock falls behind by (1 − measured / EAL's) a second since the probe:
	 * that much of a negative delay is the capture's, not the extension's. */
	double lag_ms = (1.0 - (double)dp_tsc_hz() / (double)rte_get_tsc_hz()) * (double)(cm_now_us() - t_probe) / 1e3;
	if (lag_ms < 0)
		lag_ms = 0;
	for (uint32_t i = 0; i < FLOWS; i++) {
		struct dp_flow_snapshot s;

		ck_assert_int_eq(dp_flow_snapshot(i, &s), 0);
		ck_assert_uint_ge(s.rtcp_sent, 1);
	}
	ck_assert_uint_gt(lost[2], 0);
	dp_stop(); /* closes the capture */
	dp_eal_cleanup();

	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s --srtp-key 30000:AES_CM_128_HMAC_SHA1_80:%s "
		 "--srtp-key 30002:AES_CM_128_HMAC_SHA1_32:%s 2>&1", bin, tx, json, b64[0], b64[1]);
	out = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", out);
	js = read_text(json);
	ck_assert_uint_eq((unsigned)json_num(js, "rtcp_bad"), 0);
	ck_assert_uint_eq((unsigned)json_num(js, "srtp_auth_fail"), 0); /* SRTCP */
	for (uint32_t i = 0; i < FLOWS; i++) {
		const char *o = flow_obj(js, 0x5e000000u + i), *owd = strstr(o, "\"one_way_delay_ms\": {");

		ck_assert_uint_eq((uint64_t)json_num(o, "packets_received"), sent[i]);
		/* losses after the last packet sent cannot be seen */
		ck_assert_int_le((int64_t)json_num(o, "packets_lost"), (int64_t)lost[i]);
		ck_assert_int_ge((int64_t)json_num(o, "packets_lost"), (int64_t)lost[i] - 3);
		ck_assert_uint_eq((unsigned)json_num(o, "srtp_auth_fail"), 0);
		if (i < 2) {
			ck_assert_msg(strstr(o, "\"srtp\": \"verified\", \"srtp_key\": \"option\""), "%.700s", o);
			ck_assert_uint_ge((unsigned)json_num(o, "sender_reports"), 1); /* SRTCP decrypted */
		} else {
			ck_assert_msg(strstr(o, "\"srtp\": null"), "%.700s", o);
		}
		ck_assert_msg(owd != NULL, "%.900s", o);
		ck_assert_uint_eq((unsigned)json_num(owd, "ext_id"), OWD_ID);
		ck_assert_uint_eq((uint64_t)json_num(owd, "samples"), sent[i]);
		/* The same host's clock, mapped from the TSC twice: by the dataplane (TX time) and by the pcap PMD
		 * (capture time); the two mappings differ by ~0.15 ms here. */
		ck_assert_msg(json_num(owd, "min") >= -0.5 - lag_ms, "min %.3f ms, capture clock lag up to %.3f ms",
			      json_num(owd, "min"), lag_ms);
		if (i == 2) /* up to 4 ms of impairment delay */
			ck_assert_msg(json_num(owd, "max") >= 1.0 - lag_ms, "max %.3f ms", json_num(owd, "max"));
	}
	free(out);
	free(js);

	/* No keys: the SRTP streams are analysed from their headers, SRTCP cannot be read. */
	snprintf(cmd, sizeof(cmd), "%s analyze %s --json-summary %s 2>&1", bin, tx, json);
	out = run(cmd, &st);
	ck_assert_msg(st == 0, "analyze failed: %s", out);
	js = read_text(json);
	for (uint32_t i = 0; i < 2; i++) {
		const char *o = flow_obj(js, 0x5e000000u + i);

		ck_assert_uint_eq((uint64_t)json_num(o, "packets_received"), sent[i]);
		ck_assert_msg(strstr(o, "\"srtp\": null"), "%.700s", o);
	}
	ck_assert_uint_ge((unsigned)json_num(js, "rtcp_bad"), 2);
	free(out);
	free(js);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_txpcap_srtp");
	TCase *tc = tcase_create("pcap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dataplane_srtp_and_txtime_read_by_analyze);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
