/* callmeter-worker analyze FILE.pcap [--json-summary FILE] [--max-flows N]
 *
 * Passive analysis of the RTP in a capture through the dataplane's own RX path: the file is read by DPDK's
 * pcap PMD (packet times from the file through the mbuf timestamp dynfield), each frame goes through
 * dp_parse() and each stream through dp_rx_packet().  Streams are learned from the traffic: any UDP packet that
 * parses as RTP version 2 (not RTCP) opens a stream keyed by (source, destination, SSRC), as Wireshark keys
 * them; a stream that never passes RFC 3550 A.1 probation (two packets in sequence) is not RTP and is not
 * reported.  RTCP (RFC 3550 §6) is read too, keyed by SSRC: a stream's sender reports, and what the other side
 * reported about it (fraction and cumulative loss, jitter), and the round trip as seen at the capture point:
 * (arrival of the report block − arrival of the SR it names) − DLSR.  MOS and R come from the codecs' G.107
 * E-model.  Exit status: 0 done, 1 the file could not be read, 2 bad arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "codecs/codecs.h"
#include "common/common.h"
#include "dataplane/dataplane_internal.h"

#define AN_BURST 32
#define AN_MAX_FLOWS_DEFAULT 65536
#define AN_IDLE_POLLS 20000 /* empty polls after the last packet: the pcap PMD has reached the end of file */

struct an_key {
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	uint32_t ssrc;
};

struct an_flow {
	struct an_key key;
	uint8_t pt;
	uint32_t ptime_ticks;     /* the most recent timestamp step of consecutive packets, for burst durations */
	uint64_t first_ns;
	struct dp_rx_stats rx;
};

/* RTCP about one SSRC: its last sender reports (a report block names one of them by LSR), and the last report
 * block about it. */
#define AN_SR_KEEP 4
struct an_rtcp {
	uint32_t ssrc;
	uint32_t sr_count, rr_blocks;
	struct {
		uint32_t lsr;     /* middle 32 bits of the SR's NTP time */
		uint64_t at_ns;   /* its capture time */
	} sr[AN_SR_KEEP];
	unsigned sr_next;
	uint8_t fraction_lost;
	int32_t cum_lost;
	uint32_t jitter;          /* RTP timestamp units */
	uint32_t rtt_count;
	uint64_t rtt_sum_ns, rtt_min_ns, rtt_max_ns;
};

struct an_rtcp_table {
	uint32_t cap;             /* power of two, twice max */
	uint32_t *slots;          /* entry index + 1 */
	struct an_rtcp *e;
	uint32_t n, max;
	uint64_t packets;         /* well-formed compounds */
	uint64_t now_ns;          /* the capture time of the compound being read */
};

struct an_table {
	uint32_t cap;             /* power of two, twice max_flows */
	uint32_t *slots;          /* flow index + 1 */
	struct an_flow *flows;
	uint32_t n, max;
};

static uint32_t key_hash(const struct an_key *k)
{
	uint64_t h = ((uint64_t)k->src_ip << 32 | k->dst_ip) * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)k->src_port << 48 | (uint64_t)k->dst_port << 32 | k->ssrc) * 0xc2b2ae3d27d4eb4full;
	return (uint32_t)(h ^ (h >> 29));
}

/* Open addressing, linear probing; NULL when the table is full. */
static struct an_flow *an_lookup(struct an_table *t, const struct an_key *k, bool *created)
{
	uint32_t i = key_hash(k) & (t->cap - 1);

	*created = false;
	for (;;) {
		uint32_t s = t->slots[i];

		if (!s)
			break;
		if (memcmp(&t->flows[s - 1].key, k, sizeof(*k)) == 0)
			return &t->flows[s - 1];
		i = (i + 1) & (t->cap - 1);
	}
	if (t->n == t->max)
		return NULL;
	t->slots[i] = ++t->n;
	*created = true;
	return &t->flows[t->n - 1];
}

static struct an_rtcp *an_rtcp_find(struct an_rtcp_table *t, uint32_t ssrc, bool create)
{
	uint32_t i = (ssrc * 0x9e3779b1u) & (t->cap - 1);

	for (;;) {
		uint32_t s = t->slots[i];

		if (!s)
			break;
		if (t->e[s - 1].ssrc == ssrc)
			return &t->e[s - 1];
		i = (i + 1) & (t->cap - 1);
	}
	if (!create || t->n == t->max)
		return NULL;
	t->slots[i] = ++t->n;
	t->e[t->n - 1].ssrc = ssrc;
	return &t->e[t->n - 1];
}

static void an_rtcp_sender(void *arg, const struct dp_rtcp_sender *snd)
{
	struct an_rtcp_table *t = arg;
	struct an_rtcp *e;

	if (!snd->sr || !(e = an_rtcp_find(t, snd->ssrc, true)))
		return;
	e->sr_count++;
	e->sr[e->sr_next].lsr = (uint32_t)(snd->ntp >> 16);
	e->sr[e->sr_next].at_ns = t->now_ns;
	e->sr_next = (e->sr_next + 1) % AN_SR_KEEP;
}

/* RFC 3550 §6.4.1 with capture times in place of the sender's clock: the SR named by LSR was seen at a, the
 * block that names it at b, and the reporter held it DLSR: the round trip from the capture point is b − a − DLSR. */
static void an_rtcp_block(void *arg, uint32_t reporter, const struct dp_rtcp_block *b)
{
	struct an_rtcp_table *t = arg;
	struct an_rtcp *e = an_rtcp_find(t, b->ssrc, true);

	(void)reporter;
	if (!e)
		return;
	e->rr_blocks++;
	e->fraction_lost = b->fraction_lost;
	e->cum_lost = b->cum_lost;
	e->jitter = b->jitter;
	for (unsigned i = 0; b->lsr && i < AN_SR_KEEP; i++) {
		uint64_t dlsr_ns = (uint64_t)b->dlsr * 1000000000ull >> 16, rtt;

		if (e->sr[i].lsr != b->lsr || !e->sr[i].at_ns || t->now_ns < e->sr[i].at_ns + dlsr_ns)
			continue;
		rtt = t->now_ns - e->sr[i].at_ns - dlsr_ns;
		e->rtt_min_ns = !e->rtt_count || rtt < e->rtt_min_ns ? rtt : e->rtt_min_ns;
		e->rtt_max_ns = rtt > e->rtt_max_ns ? rtt : e->rtt_max_ns;
		e->rtt_sum_ns += rtt;
		e->rtt_count++;
		break;
	}
}

static const char *pt_name(uint8_t pt, char *buf, size_t len)
{
	static const char *const names[35] = {
		[0] = "PCMU", [3] = "GSM", [4] = "G723", [8] = "PCMA", [9] = "G722", [13] = "CN", [18] = "G729",
		[26] = "JPEG", [31] = "H261", [34] = "H263",
	};

	if (pt < CM_ARRAY_SIZE(names) && names[pt])
		return names[pt];
	snprintf(buf, len, "PT%u", pt);
	return buf;
}

static void addr(char *buf, size_t len, uint32_t ip, uint16_t port)
{
	snprintf(buf, len, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, port);
}

struct an_result {
	struct dp_rx_report r;
	double mos, r_factor;
	const struct an_flow *f;
	const struct an_rtcp *rtcp; /* RTCP about the stream's SSRC, NULL: none seen */
};

/* G.107 (codecs' E-model) for what the capture shows: the codec's Ie/Bpl (with its PLC) when the payload type
 * is one the registry knows, else G.711's; loss and BurstR from the stream; one-way delay = half the
 * RTCP round trip when there is one, plus a jitter buffer of twice the maximum jitter and one packet. */
static void flow_result(const struct an_flow *f, const struct an_rtcp_table *rt, struct an_result *out)
{
	uint32_t clock = f->rx.clock_rate;
	double ptime_ms = clock && f->ptime_ticks ? 1000.0 * f->ptime_ticks / clock : 20.0;
	double loss_pct, burst_r, network_ms = 0;
	const struct codec_ops *ops = codec_by_pt(f->pt);
	struct emodel_input in;
	struct emodel_result em;

	out->f = f;
	out->rtcp = an_rtcp_find((struct an_rtcp_table *)rt, f->key.ssrc, false);
	dp_rx_report(&f->rx, ptime_ms, &out->r);
	loss_pct = out->r.expected ? 100.0 * (double)(out->r.packets_lost > 0 ? out->r.packets_lost : 0) /
					     (double)out->r.expected : 0;
	if (loss_pct > 100)
		loss_pct = 100;
	burst_r = dp_rx_burst_r(&out->r, ptime_ms);
	if (out->rtcp && out->rtcp->rtt_count)
		network_ms = (double)out->rtcp->rtt_sum_ns / out->rtcp->rtt_count / 2e6;
	emodel_defaults(&in);
	if (!ops)
		ops = codec_by_pt(0);
	if (ops)
		emodel_set_codec(&in, ops, true);
	emodel_set_delay(&in, emodel_one_way_delay_ms(network_ms, 2 * out->r.max_jitter_ms, ptime_ms));
	in.ppl = loss_pct;
	in.burst_r = burst_r;
	if (emodel_compute(&in, &em) < 0) {
		out->r_factor = 0;
		out->mos = 1;
		return;
	}
	out->r_factor = em.r;
	out->mos = em.mos;
}

/* The RTCP part of a flow's JSON object. */
static void json_rtcp(FILE *o, const struct an_rtcp *c, uint32_t clock)
{
	if (!c) {
		fprintf(o, "\"rtt_ms\": null, \"rtcp\": null");
		return;
	}
	if (c->rtt_count)
		fprintf(o, "\"rtt_ms\": %.3f, ", (double)c->rtt_sum_ns / c->rtt_count / 1e6);
	else
		fprintf(o, "\"rtt_ms\": null, ");
	fprintf(o, "\"rtcp\": {\"sender_reports\": %u, \"report_blocks\": %u", c->sr_count, c->rr_blocks);
	if (c->rtt_count)
		fprintf(o, ", \"rtt_ms\": {\"avg\": %.3f, \"min\": %.3f, \"max\": %.3f, \"samples\": %u}",
			(double)c->rtt_sum_ns / c->rtt_count / 1e6, c->rtt_min_ns / 1e6, c->rtt_max_ns / 1e6, c->rtt_count);
	if (c->rr_blocks)
		fprintf(o, ", \"reported_fraction_lost\": %.4f, \"reported_packets_lost\": %d, "
			"\"reported_jitter_ms\": %.3f", c->fraction_lost / 256.0, c->cum_lost,
			clock ? 1000.0 * c->jitter / clock : 0.0);
	fprintf(o, "}");
}

static int write_json(const char *path, const char *pcap, struct an_result *res, unsigned n,
		      const uint64_t *drops, uint64_t frames, uint64_t rtcp, uint64_t started_ms, uint64_t ended_ms)
{
	FILE *o = fopen(path, "w");
	char esc[2048], t0[32], t1[32], src[32], dst[32], nb[16];
	double mos_sum = 0, mos_min = 0, r_sum = 0, r_min = 0, j_sum = 0, j_max = 0;
	int64_t lost = 0;
	uint64_t expected = 0;

	if (!o)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		mos_sum += res[i].mos;
		r_sum += res[i].r_factor;
		mos_min = i == 0 || res[i].mos < mos_min ? res[i].mos : mos_min;
		r_min = i == 0 || res[i].r_factor < r_min ? res[i].r_factor : r_min;
		j_sum += res[i].r.jitter_ms;
		j_max = res[i].r.max_jitter_ms > j_max ? res[i].r.max_jitter_ms : j_max;
		lost += res[i].r.packets_lost;
		expected += res[i].r.expected;
	}
	cm_json_escape(pcap, esc, sizeof(esc));
	cm_format_utc(started_ms, t0, sizeof(t0));
	cm_format_utc(ended_ms, t1, sizeof(t1));
	fprintf(o, "{\"run\": {\"id\": \"analyze\", \"plan\": null, \"capture\": \"%s\", \"started\": \"%s\", "
		"\"ended\": \"%s\", \"outcome\": \"%s\"},\n", esc, t0, t1, n ? "SUCCESS" : "NO_RTP");
	fprintf(o, " \"capture\": {\"frames\": %llu, \"rtcp_packets\": %llu, \"drops\": {", (unsigned long long)frames,
		(unsigned long long)rtcp);
	for (unsigned r = 1; r < DP_DROP__COUNT; r++)
		fprintf(o, "%s\"%s\": %llu", r > 1 ? ", " : "", dp_drop_name(r), (unsigned long long)drops[r]);
	fprintf(o, "}},\n");
	fprintf(o, " \"quality\": {\"mos\": {\"avg\": %.2f, \"min\": %.2f}, \"r_factor\": {\"avg\": %.1f, \"min\": %.1f}, "
		"\"jitter_ms\": {\"avg\": %.3f, \"max\": %.3f}, \"packets_lost\": %lld, \"fraction_lost\": %.6f},\n",
		n ? mos_sum / n : 0, mos_min, n ? r_sum / n : 0, r_min, n ? j_sum / n : 0, j_max, (long long)lost,
		expected ? (double)lost / (double)expected : 0);
	fprintf(o, " \"flows\": [");
	for (unsigned i = 0; i < n; i++) {
		const struct an_result *x = &res[i];
		const struct dp_rx_report *r = &x->r;

		addr(src, sizeof(src), x->f->key.src_ip, x->f->key.src_port);
		addr(dst, sizeof(dst), x->f->key.dst_ip, x->f->key.dst_port);
		fprintf(o, "%s\n  {\"ssrc\": \"0x%08x\", \"src\": \"%s\", \"dst\": \"%s\", \"codec\": \"%s\", "
			"\"payload_type\": %u, \"packets_sent\": null, \"packets_received\": %llu, \"bytes_received\": %llu, "
			"\"expected\": %llu, \"packets_lost\": %lld, \"fraction_lost\": %.6f, \"duplicate_packets\": %llu, "
			"\"out_of_order_packets\": %llu, \"late_packets\": %llu, \"sequence_number_resets\": %llu, "
			"\"ssrc_changes\": %llu, \"timestamp_jumps\": %llu, \"jitter_ms\": %.3f, \"max_jitter_ms\": %.3f, "
			"\"pdv_ms\": %.3f, \"burst_density\": %.4f, \"gap_density\": %.4f, \"burst_duration_ms\": %.1f, "
			"\"gap_duration_ms\": %.1f, \"mos\": %.2f, \"r_factor\": %.1f, ",
			i ? "," : "", x->f->key.ssrc, src, dst, pt_name(x->f->pt, nb, sizeof(nb)), x->f->pt,
			(unsigned long long)r->packets_received, (unsigned long long)r->bytes_received,
			(unsigned long long)r->expected, (long long)r->packets_lost, r->fraction_lost,
			(unsigned long long)r->duplicate_packets, (unsigned long long)r->out_of_order_packets,
			(unsigned long long)r->late_packets, (unsigned long long)r->sequence_number_resets,
			(unsigned long long)r->ssrc_changes, (unsigned long long)r->timestamp_jumps, r->jitter_ms,
			r->max_jitter_ms, r->pdv_ms, r->burst_density, r->gap_density, r->burst_duration_ms,
			r->gap_duration_ms, x->mos, x->r_factor);
		json_rtcp(o, x->rtcp, x->f->rx.clock_rate);
		fprintf(o, "}");
	}
	fprintf(o, "\n ]}\n");
	return fclose(o) == 0 ? 0 : -errno;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: callmeter-worker analyze FILE.pcap [--json-summary FILE] [--max-flows N]\n");
}

/* Reads every frame of the capture through the pcap PMD into the stream table. */
static int read_capture(uint16_t port, struct rte_mempool *pool, int ts_off, uint64_t ts_flag, bool ts_ns,
			struct an_table *t, struct an_rtcp_table *rt, uint64_t *drops, uint64_t *frames)
{
	static const struct dp_rtcp_visitor visit = { .sender = an_rtcp_sender, .block = an_rtcp_block };
	struct rte_mbuf *pkts[AN_BURST];
	unsigned idle = 0;

	(void)pool;
	while (idle < AN_IDLE_POLLS) {
		uint16_t n = rte_eth_rx_burst(port, 0, pkts, AN_BURST);

		idle = n ? 0 : idle + 1;
		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			struct dp_pkt pk;
			enum dp_drop_reason r;
			uint64_t at;

			(*frames)++;
			/* Captures are often taken where checksums are offloaded: they are not verified here. */
			r = dp_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), false, &pk);
			at = *RTE_MBUF_DYNFIELD(m, ts_off, rte_mbuf_timestamp_t *);
			if (!ts_ns)
				at *= 1000;
			if (r == DP_DROP_NONE && !(m->ol_flags & ts_flag))
				r = DP_DROP_truncated; /* cannot happen with the pcap PMD */
			if (r == DP_DROP_rtcp && (m->ol_flags & ts_flag)) {
				rt->now_ns = at;
				r = dp_rtcp_walk(pk.udp_payload, pk.payload_len, &visit, rt) == 0 ? DP_DROP_NONE
												     : DP_DROP_rtcp_bad;
				rt->packets += r == DP_DROP_NONE;
				if (r == DP_DROP_NONE) {
					rte_pktmbuf_free(m);
					continue;
				}
			}
			if (r != DP_DROP_NONE) {
				drops[r]++;
				rte_pktmbuf_free(m);
				continue;
			}
			struct an_key k = { .src_ip = pk.src_ip, .dst_ip = pk.dst_ip, .src_port = pk.src_port,
					    .dst_port = pk.dst_port, .ssrc = pk.ssrc };
			bool created;
			struct an_flow *f = an_lookup(t, &k, &created);
			if (!f) {
				drops[DP_DROP_flow_table_full]++;
				rte_pktmbuf_free(m);
				continue;
			}
			if (created) {
				f->key = k;
				f->pt = pk.pt;
				f->first_ns = at;
				dp_rx_init(&f->rx, dp_static_pt_clock(pk.pt));
			} else if ((uint16_t)(pk.seq - f->rx.max_seq) == 1 && pk.ts != f->rx.last_ts) {
				f->ptime_ticks = pk.ts - f->rx.last_ts;
			}
			dp_rx_packet(&f->rx, pk.seq, pk.ts, pk.ssrc, at, pk.udp_len);
			rte_pktmbuf_free(m);
		}
	}
	return 0;
}

static int cmp_flows(const void *a, const void *b)
{
	const struct an_result *x = a, *y = b;

	return x->f->first_ns < y->f->first_ns ? -1 : x->f->first_ns > y->f->first_ns;
}

int dp_analyze_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json-summary", required_argument, NULL, 'j' },
		{ "max-flows", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *json = NULL, *pcap;
	uint64_t max_flows = AN_MAX_FLOWS_DEFAULT, drops[DP_DROP__COUNT] = { 0 }, frames = 0;
	char eal[1024], err[DP_ERR_MAX];
	struct an_table t = { 0 };
	struct an_rtcp_table rt = { 0 };
	struct an_result *res = NULL;
	struct rte_mempool *pool = NULL;
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info di;
	uint16_t port = 0;
	int c, ts_off = -1, status = 1;
	uint64_t ts_flag = 0, started = cm_wallclock_ms();
	unsigned n = 0;
	FILE *probe;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = optarg; break;
		case 'm':
			if (cm_parse_u64(optarg, 1, 16u * DP_MIN_FLOWS_MAX, &max_flows) < 0) {
				fprintf(stderr, "analyze: --max-flows: '%s' is not a number in 1..%u\n", optarg,
					16u * DP_MIN_FLOWS_MAX);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	pcap = argv[optind];
	if (strpbrk(pcap, ", \t\n")) {
		fprintf(stderr, "analyze: '%s': the capture path must not contain commas or white space "
			"(DPDK device arguments)\n", pcap);
		return 2;
	}
	probe = fopen(pcap, "rb");
	if (!probe) {
		fprintf(stderr, "analyze: cannot read '%s': %s\n", pcap, strerror(errno));
		return 1;
	}
	fclose(probe);

	t.max = (uint32_t)max_flows;
	t.cap = 1;
	while (t.cap < 2 * t.max)
		t.cap <<= 1;
	t.slots = calloc(t.cap, sizeof(*t.slots));
	t.flows = calloc(t.max, sizeof(*t.flows));
	rt.max = t.max;
	rt.cap = t.cap;
	rt.slots = calloc(rt.cap, sizeof(*rt.slots));
	rt.e = calloc(rt.max, sizeof(*rt.e));
	if (!t.slots || !t.flows || !rt.slots || !rt.e) {
		fprintf(stderr, "analyze: cannot allocate %u streams\n", t.max);
		goto free_table;
	}

	snprintf(eal, sizeof(eal), "--no-huge --no-shconf -m 128 --no-pci -l 0 --log-level=error "
		 "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=/dev/null", pcap);
	if (dp_eal_init("callmeter-worker", eal, err, sizeof(err)) < 0) {
		fprintf(stderr, "analyze: %s\n", err);
		goto free_table;
	}
	if (rte_eth_dev_get_port_by_name("net_pcap0", &port) != 0 || rte_eth_dev_info_get(port, &di) != 0) {
		fprintf(stderr, "analyze: the pcap PMD did not open '%s' (is it a pcap file?)\n", pcap);
		goto eal_cleanup;
	}
	/* The pcap PMD registers the timestamp dynfield itself and fills it on every packet, without announcing
	 * the offload; registering again returns the same field. */
	if (rte_mbuf_dyn_rx_timestamp_register(&ts_off, &ts_flag) != 0) {
		fprintf(stderr, "analyze: no mbuf timestamp field: %s\n", rte_strerror(rte_errno));
		goto eal_cleanup;
	}
	if (di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
		conf.rxmode.offloads = RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	pool = rte_pktmbuf_pool_create("an_mbufs", 4095, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!pool || rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port, 0, 512, (unsigned)rte_socket_id(), NULL, pool) != 0 ||
	    rte_eth_tx_queue_setup(port, 0, 512, (unsigned)rte_socket_id(), NULL) != 0 ||
	    rte_eth_dev_start(port) != 0) {
		fprintf(stderr, "analyze: cannot start the pcap port: %s\n", rte_strerror(rte_errno));
		goto free_pool;
	}
	/* DPDK 22.11's pcap PMD reports the file's packet times in microseconds. */
	read_capture(port, pool, ts_off, ts_flag, false, &t, &rt, drops, &frames);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);

	res = calloc(t.n ? t.n : 1, sizeof(*res));
	if (!res)
		goto free_pool;
	for (uint32_t i = 0; i < t.n; i++) {
		if (t.flows[i].rx.probation || t.flows[i].rx.expected_prior + t.flows[i].rx.received == 0)
			continue; /* never two packets in sequence: not an RTP stream */
		flow_result(&t.flows[i], &rt, &res[n++]);
	}
	qsort(res, n, sizeof(*res), cmp_flows);

	printf("%-21s %-21s %-10s %-6s %8s %7s %6s %5s %9s %9s %5s\n", "source", "destination", "SSRC", "codec",
	       "packets", "lost", "dups", "ooo", "jitter_ms", "max_jit", "MOS");
	for (unsigned i = 0; i < n; i++) {
		char src[32], dst[32], nb[16];

		addr(src, sizeof(src), res[i].f->key.src_ip, res[i].f->key.src_port);
		addr(dst, sizeof(dst), res[i].f->key.dst_ip, res[i].f->key.dst_port);
		printf("%-21s %-21s 0x%08x %-6s %8llu %7lld %6llu %5llu %9.3f %9.3f %5.2f\n", src, dst,
		       res[i].f->key.ssrc, pt_name(res[i].f->pt, nb, sizeof(nb)),
		       (unsigned long long)res[i].r.packets_received, (long long)res[i].r.packets_lost,
		       (unsigned long long)res[i].r.duplicate_packets, (unsigned long long)res[i].r.out_of_order_packets,
		       res[i].r.jitter_ms, res[i].r.max_jitter_ms, res[i].mos);
	}
	printf("%u RTP stream(s) in %llu frame(s), %llu RTCP packet(s)", n, (unsigned long long)frames,
	       (unsigned long long)rt.packets);
	for (unsigned r = 1; r < DP_DROP__COUNT; r++)
		if (drops[r])
			printf("; %s %llu", dp_drop_name(r), (unsigned long long)drops[r]);
	printf("\n");
	status = 0;
	if (json) {
		int rc = write_json(json, pcap, res, n, drops, frames, rt.packets, started, cm_wallclock_ms());
		if (rc < 0) {
			fprintf(stderr, "analyze: cannot write '%s': %s\n", json, strerror(-rc));
			status = 1;
		}
	}
	free(res);
free_pool:
	rte_mempool_free(pool);
eal_cleanup:
	dp_eal_cleanup();
free_table:
	free(t.slots);
	free(t.flows);
	free(rt.slots);
	free(rt.e);
	return status;
}
