/* The dataplane's per-second samples (controlplane/dpstats.c) on the real dataplane (net_ring: what goes out comes
 * back in): frames injected in known numbers between two samples show in each sample's `second` (port packets both
 * ways, the RX drop reason they meet, the xstats that changed) and in the running `total`, counted from the
 * baseline a gateway part takes at its start (the gratuitous ARP before it is not the part's) or from the
 * dataplane's start; the report's figures are the last sample's totals; a metrics sink hands the sample over
 * apart from the endpoint samples. */
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"
#include "check_main.h"
#include "testutil.h"

#define MEDIA_IP 0x0a000001u /* 10.0.0.1/24 */

/* An Ethernet frame that is not IPv4 (IPv6 ethertype): every one comes back and is dropped as not_ipv4. */
static void inject_not_ipv4(unsigned n)
{
	uint8_t f[60] = { 0 };
	uint8_t mac[6];
	struct dp_port_counters pc, pc0;

	dp_port_mac(mac);
	memcpy(f, mac, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x09\x86\xdd", 8);
	ck_assert_int_eq(dp_port_counters(&pc0), 0);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(dp_inject(f, sizeof(f)), 0);
	for (int i = 0; i < 2000; i++) { /* out and back in */
		ck_assert_int_eq(dp_port_counters(&pc), 0);
		if (pc.ipackets >= pc0.ipackets + n)
			break;
		usleep(1000);
	}
	usleep(20000); /* and through the lcore's RX */
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	ck_assert_int_eq(map->type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
		    memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0)
			return &kv->val;
	}
	ck_abort_msg("no key %s", key);
	return NULL;
}

static uint64_t u64(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = get(map, key);

	ck_assert_int_eq(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	return o->via.u64;
}

static uint64_t report_dp(const struct cp_report *r, const char *name)
{
	for (unsigned i = 0; i < r->ndp; i++)
		if (strcmp(r->dp[i].name, name) == 0)
			return r->dp[i].value;
	ck_abort_msg("no %s in the report", name);
	return 0;
}

static uint64_t report_xstat(const struct cp_report *r, const char *name)
{
	for (size_t i = 0; i < r->nxstats; i++)
		if (strcmp(r->xstats[i].name, name) == 0)
			return r->xstats[i].value;
	ck_abort_msg("no xstat %s in the report", name);
	return 0;
}

struct sink_got {
	uint32_t count, calls;
	size_t dplen;
	uint64_t t;
};

static int sink(void *arg, const char *data, size_t len, uint32_t count, const char *dp, size_t dplen)
{
	struct sink_got *g = arg;
	msgpack_unpacked up;
	size_t off = 0;

	(void)data;
	(void)len;
	g->calls++;
	g->count = count;
	g->dplen = dplen;
	if (dp) {
		msgpack_unpacked_init(&up);
		ck_assert_int_eq(msgpack_unpack_next(&up, dp, dplen, &off), MSGPACK_UNPACK_SUCCESS);
		ck_assert_uint_eq(off, dplen);
		g->t = u64(&up.data, "t");
		msgpack_unpacked_destroy(&up);
	}
	return 0;
}

START_TEST(seconds_and_totals_count_what_the_port_carried)
{
	char err[DP_ERR_MAX], path[64], buf[65536];
	struct dp_config cfg;
	struct dp_port_info info;
	struct cp_dpstats *part, *run;
	struct cp_metrics_out *m;
	struct cp_report rep;
	struct sink_got got = { 0 };
	msgpack_unpacked res;
	FILE *f;
	size_t n;
	int k = 0;

	ck_assert_msg(dp_eal_init("test_dpstats", "--no-huge --no-shconf -m 256 --no-pci --vdev=net_ring0 -l 0,1 "
				  "--log-level=error", err, sizeof(err)) == 0, "%s", err);
	dp_config_default(&cfg);
	cfg.max_flows = 64;
	cfg.media_ips[0] = MEDIA_IP;
	cfg.n_media_ips = 1;
	cfg.prefix_len = 24;
	ck_assert_msg(dp_configure(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(dp_start("net_ring0", &info, err, sizeof(err)) == 0, "%s", err);
	usleep(100000); /* the gratuitous ARP is out and back: before the part's baseline */
	run = cp_dpstats_new(true);
	part = cp_dpstats_new(false);
	ck_assert(run && part);

	tu_write_temp(path, sizeof(path), "");
	m = cp_metrics_open(path);
	ck_assert_ptr_nonnull(m);
	inject_not_ipv4(5);
	ck_assert_int_eq(cp_dpstats_sample(part, 1, m), 0);
	inject_not_ipv4(3);
	ck_assert_int_eq(cp_dpstats_sample(part, 2, m), 0);
	cp_dpstats_read(run);
	ck_assert_int_eq(cp_metrics_close(m), 0);

	f = fopen(path, "rb");
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	unlink(path);
	msgpack_unpacked_init(&res);
	for (size_t off = 0; msgpack_unpack_next(&res, buf, n, &off) == MSGPACK_UNPACK_SUCCESS;) {
		const msgpack_object *x = &res.data;
		const msgpack_object *sec = get(x, "second"), *tot = get(x, "total"), *xs = get(x, "xstats");
		uint64_t injected = k == 0 ? 5 : 3, so_far = k == 0 ? 5 : 8;

		ck_assert_int_lt(k, 2);
		ck_assert_int_eq(get(x, "kind")->type, MSGPACK_OBJECT_STR);
		ck_assert_uint_eq(u64(x, "v"), CP_DPS_VERSION);
		ck_assert_uint_eq(u64(x, "t"), (uint64_t)k + 1);
		ck_assert_uint_eq(u64(sec, "port_opackets"), injected);
		ck_assert_uint_eq(u64(sec, "port_ipackets"), injected);
		ck_assert_uint_eq(u64(sec, "rx_drop_not_ipv4"), injected);
		ck_assert_uint_eq(u64(sec, "rx_drop_arp"), 0);
		ck_assert_uint_eq(u64(sec, "port_imissed"), 0);
		ck_assert_uint_eq(u64(sec, "tx_paced"), 0); /* no flows: nothing paced, no pacing figures */
		ck_assert_uint_eq(u64(sec, CP_DP_PACING_P99), 0);
		ck_assert_uint_eq(u64(tot, "port_opackets"), so_far);
		ck_assert_uint_eq(u64(tot, "port_ipackets"), so_far);
		ck_assert_uint_eq(u64(tot, "rx_drop_not_ipv4"), so_far);
		ck_assert_uint_eq(u64(xs, "tx_good_packets"), injected);
		ck_assert_uint_eq(u64(xs, "rx_good_packets"), injected);
		ck_assert_uint_eq(u64(x, "xstats_changed"), xs->via.map.size);
		k++;
	}
	ck_assert_int_eq(k, 2);
	msgpack_unpacked_destroy(&res);

	/* the part's report: the last sample's totals; the run's count from the dataplane's start */
	cp_report_init(&rep, "r", "p");
	cp_dpstats_report(part, &rep);
	ck_assert_uint_eq(report_dp(&rep, "port_opackets"), 8);
	ck_assert_uint_eq(report_dp(&rep, "rx_drop_not_ipv4"), 8);
	ck_assert_uint_eq(report_dp(&rep, "tx_pacing_max_ns"), 0);
	ck_assert_uint_eq(report_xstat(&rep, "tx_good_packets"), 8);
	cp_report_free(&rep);
	cp_report_init(&rep, "r", "p");
	cp_dpstats_report(run, &rep);
	ck_assert_uint_gt(report_dp(&rep, "port_opackets"), 8); /* and the gratuitous ARP */
	ck_assert_uint_eq(report_dp(&rep, "port_opackets"), report_xstat(&rep, "tx_good_packets"));
	cp_report_free(&rep);

	/* a sink: the dataplane sample comes with the flush, beside (not among) the endpoint samples */
	m = cp_metrics_open_sink(sink, &got, 1 << 20);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(cp_dpstats_sample(part, 3, m), 0);
	ck_assert_uint_eq(got.calls, 0);
	ck_assert_int_eq(cp_metrics_flush(m), 0);
	ck_assert_uint_eq(got.calls, 1);
	ck_assert_uint_eq(got.count, 0);
	ck_assert_uint_gt(got.dplen, 100);
	ck_assert_uint_eq(got.t, 3);
	ck_assert_int_eq(cp_metrics_flush(m), 0); /* nothing new: no call */
	ck_assert_uint_eq(got.calls, 1);
	ck_assert_int_eq(cp_metrics_close(m), 0);

	cp_dpstats_free(part);
	cp_dpstats_free(run);
	dp_stop();
	dp_eal_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dpstats");
	TCase *tc = tcase_create("net_ring");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, seconds_and_totals_count_what_the_port_carried);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
