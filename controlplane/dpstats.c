/* The dataplane's own figures, second by second: port statistics, the lcores' TX/RX counters and drops by reason,
 * TX pacing, the port's extended statistics (docs/results.md, "Dataplane samples").
 *
 * Every counter the dataplane keeps is cumulative since dp_start; a reading is a copy of all of them.  A sample
 * is two readings apart: what changed in that second, and the running totals since the baseline (zero for a
 * standalone run, which owns the dataplane from its start; the first reading for a gateway part, which shares
 * a worker's long-lived dataplane).  The TX pacing histogram is cumulative too, so the second's histogram is the
 * difference of two readings, bucket by bucket; its maximum is exact when the running maximum grew in that second,
 * else the upper bound of the highest bucket that did (capped by the running maximum). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"

/* counters in the summary's order: TX, then (the pacing figures go here in the summary) RX drops, then the port */
#define DPS_TX_COUNTERS 8
#define DPS_PORT_COUNTERS 8
#define DPS_COUNTERS (DPS_TX_COUNTERS + (DP_DROP__COUNT - 1) + DPS_PORT_COUNTERS)
#define DPS_XSTATS_MAX 1024 /* extended statistics kept per reading (a NIC has a few hundred) */

static const char *const tx_names[DPS_TX_COUNTERS] = {
	"tx_packets", "tx_no_mbuf", "tx_ring_full", "tx_no_arp", "tx_srtp_fail", "local_delivered",
	"tx_late_skipped", "wall_clock_steps",
};
static const char *const port_names[DPS_PORT_COUNTERS] = {
	"port_ipackets", "port_opackets", "port_ibytes", "port_obytes", "port_imissed", "port_ierrors",
	"port_oerrors", "port_rx_nombuf",
};

struct dps_reading {
	uint64_t v[DPS_COUNTERS];
	bool port_ok;           /* the port answered (else its counters are left out) */
	uint64_t mono_ms;
	struct dp_pacing pace;  /* 16 KB */
	struct cp_xstat *x;
	uint32_t nx;
};

struct cp_dpstats {
	struct dps_reading base, prev, cur;
	struct dp_pacing diff;  /* scratch */
	char names[DPS_COUNTERS][32];
	uint32_t samples;
};

static void read_xstat(const char *name, uint64_t value, void *arg)
{
	struct dps_reading *r = arg;

	if (r->nx == DPS_XSTATS_MAX)
		return;
	cm_strlcpy(r->x[r->nx].name, name, sizeof(r->x[0].name));
	r->x[r->nx++].value = value;
}

static void dps_read(struct dps_reading *r)
{
	uint64_t drops[DP_DROP__COUNT], tx_bytes, *v = r->v;
	struct dp_proto_totals pt;
	struct dp_port_counters pc;

	dp_tx_totals(&v[0], &tx_bytes, &v[1], &v[2]); /* bytes: the port's obytes */
	dp_proto_totals(&pt);
	v[3] = pt.tx_no_arp;
	v[4] = pt.tx_srtp_fail;
	v[5] = pt.local_delivered;
	v[6] = pt.tx_late_skipped;
	v[7] = pt.wall_clock_steps;
	dp_drop_totals(drops);
	memcpy(&v[DPS_TX_COUNTERS], &drops[1], sizeof(drops[0]) * (DP_DROP__COUNT - 1));
	v += DPS_TX_COUNTERS + DP_DROP__COUNT - 1;
	r->port_ok = dp_port_counters(&pc) == 0;
	v[0] = pc.ipackets;
	v[1] = pc.opackets;
	v[2] = pc.ibytes;
	v[3] = pc.obytes;
	v[4] = pc.imissed;
	v[5] = pc.ierrors;
	v[6] = pc.oerrors;
	v[7] = pc.rx_nombuf;
	r->mono_ms = cm_now_ms();
	dp_pacing_get(&r->pace);
	r->nx = 0;
	if (r->x)
		dp_port_xstats(read_xstat, r);
}

struct cp_dpstats *cp_dpstats_new(bool from_zero)
{
	struct cp_dpstats *d = calloc(1, sizeof(*d));
	unsigned k = 0;

	if (!d)
		return NULL;
	for (unsigned i = 0; i < DPS_TX_COUNTERS; i++)
		cm_strlcpy(d->names[k++], tx_names[i], sizeof(d->names[0]));
	for (int i = 1; i < DP_DROP__COUNT; i++)
		snprintf(d->names[k++], sizeof(d->names[0]), "rx_drop_%s", dp_drop_name((enum dp_drop_reason)i));
	for (unsigned i = 0; i < DPS_PORT_COUNTERS; i++)
		cm_strlcpy(d->names[k++], port_names[i], sizeof(d->names[0]));
	d->base.x = calloc(DPS_XSTATS_MAX, sizeof(struct cp_xstat));
	d->prev.x = calloc(DPS_XSTATS_MAX, sizeof(struct cp_xstat));
	d->cur.x = calloc(DPS_XSTATS_MAX, sizeof(struct cp_xstat));
	if (!d->base.x || !d->prev.x || !d->cur.x) {
		cp_dpstats_free(d);
		return NULL;
	}
	if (!from_zero)
		dps_read(&d->base);
	d->base.mono_ms = cm_now_ms();
	d->base.port_ok = true;
	/* prev = base, xstats by value (each reading owns its array) */
	{
		struct cp_xstat *px = d->prev.x;

		d->prev = d->base;
		d->prev.x = px;
		memcpy(px, d->base.x, d->base.nx * sizeof(*px));
	}
	return d;
}

void cp_dpstats_free(struct cp_dpstats *d)
{
	if (!d)
		return;
	free(d->base.x);
	free(d->prev.x);
	free(d->cur.x);
	free(d);
}

static uint64_t since(uint64_t now, uint64_t then)
{
	return now >= then ? now - then : 0; /* a counter that went back (a port reset) counts nothing */
}

/* The value of xstat i of `to` in `from` (by position when the names agree, as they do while the port is up). */
static uint64_t xstat_in(const struct dps_reading *from, const struct dps_reading *to, uint32_t i)
{
	if (i < from->nx && strcmp(from->x[i].name, to->x[i].name) == 0)
		return from->x[i].value;
	for (uint32_t k = 0; k < from->nx; k++)
		if (strcmp(from->x[k].name, to->x[i].name) == 0)
			return from->x[k].value;
	return 0;
}

struct dps_pacing {
	uint64_t count, p50, p99, max;
};

/* TX pacing between two readings (see the head of the file for the maximum). */
static void pacing_between(struct dp_pacing *diff, const struct dp_pacing *from, const struct dp_pacing *to,
			   struct dps_pacing *out)
{
	uint64_t m;

	diff->count = 0;
	for (unsigned b = 0; b < DP_PACING_BUCKETS; b++) {
		diff->hist[b] = since(to->hist[b], from->hist[b]);
		diff->count += diff->hist[b];
	}
	diff->max_ns = to->max_ns; /* what the percentile of the overflow bucket reports */
	memset(out, 0, sizeof(*out));
	out->count = diff->count;
	if (!diff->count)
		return;
	out->p50 = dp_pacing_percentile(diff, 50);
	out->p99 = dp_pacing_percentile(diff, 99);
	m = dp_pacing_percentile(diff, 100);
	out->max = to->max_ns > from->max_ns ? to->max_ns : m < to->max_ns ? m : to->max_ns;
}

static void pack_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
	msgpack_pack_uint64(pk, v);
}

/* counters from - to, and the pacing figures, as one map */
static void pack_counters(struct cp_dpstats *d, msgpack_packer *pk, const struct dps_reading *from,
			  const struct dps_reading *to, bool paced_count)
{
	unsigned n = DPS_COUNTERS - (to->port_ok ? 0 : DPS_PORT_COUNTERS);
	struct dps_pacing pc;

	pacing_between(&d->diff, &from->pace, &to->pace, &pc);
	msgpack_pack_map(pk, n + 3 + (paced_count ? 1 : 0));
	for (unsigned i = 0; i < n; i++)
		pack_u64(pk, d->names[i], since(to->v[i], from->v[i]));
	if (paced_count)
		pack_u64(pk, "tx_paced", pc.count);
	pack_u64(pk, "tx_pacing_p50_ns", pc.p50);
	pack_u64(pk, CP_DP_PACING_P99, pc.p99);
	pack_u64(pk, "tx_pacing_max_ns", pc.max);
}

/* Errors, misses and drops first: they are what a reader looks for when the sample has to leave some out. */
static bool xstat_is_error(const char *name)
{
	static const char *const words[] = { "err", "miss", "drop", "discard", "nombuf", "fail", "allocation" };

	for (size_t i = 0; i < CM_ARRAY_SIZE(words); i++)
		if (strstr(name, words[i]))
			return true;
	return false;
}

static void pack_xstats(msgpack_packer *pk, const struct dps_reading *from, const struct dps_reading *to)
{
	uint32_t changed = 0, n;

	for (uint32_t i = 0; i < to->nx; i++)
		changed += since(to->x[i].value, xstat_in(from, to, i)) != 0;
	n = changed < CP_DPS_XSTATS_MAX ? changed : CP_DPS_XSTATS_MAX;
	msgpack_pack_str_with_body(pk, "xstats", 6);
	msgpack_pack_map(pk, n);
	for (int errors = 1; errors >= 0; errors--) {
		for (uint32_t i = 0; i < to->nx && n; i++) {
			uint64_t dv = since(to->x[i].value, xstat_in(from, to, i));

			if (!dv || xstat_is_error(to->x[i].name) != (errors == 1))
				continue;
			msgpack_pack_str_with_body(pk, to->x[i].name, strlen(to->x[i].name));
			msgpack_pack_uint64(pk, dv);
			n--;
		}
	}
	pack_u64(pk, "xstats_changed", changed);
}

static void swap_readings(struct cp_dpstats *d)
{
	struct dps_reading t = d->prev;

	d->prev = d->cur;
	d->cur = t;
}

int cp_dpstats_sample(struct cp_dpstats *d, uint32_t t, struct cp_metrics_out *m)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	dps_read(&d->cur);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 8);
	msgpack_pack_str_with_body(&pk, "kind", 4);
	msgpack_pack_str_with_body(&pk, "dataplane", 9);
	pack_u64(&pk, "v", CP_DPS_VERSION);
	pack_u64(&pk, "t", t);
	pack_u64(&pk, "ms", since(d->cur.mono_ms, d->prev.mono_ms));
	msgpack_pack_str_with_body(&pk, "second", 6);
	pack_counters(d, &pk, &d->prev, &d->cur, true);
	msgpack_pack_str_with_body(&pk, "total", 5);
	pack_counters(d, &pk, &d->base, &d->cur, false);
	pack_xstats(&pk, &d->prev, &d->cur);
	swap_readings(d);
	d->samples++;
	rc = sb.data ? cp_metrics_write_dataplane(m, sb.data, sb.size) : -ENOMEM;
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

void cp_dpstats_read(struct cp_dpstats *d)
{
	dps_read(&d->cur);
	swap_readings(d);
}

void cp_dpstats_report(struct cp_dpstats *d, struct cp_report *r)
{
	const struct dps_reading *to = &d->prev, *from = &d->base; /* prev: the last reading */
	unsigned n = DPS_COUNTERS - (to->port_ok ? 0 : DPS_PORT_COUNTERS);
	struct dps_pacing pc;

	pacing_between(&d->diff, &from->pace, &to->pace, &pc);
	for (unsigned i = 0; i < n; i++) {
		if (i == DPS_TX_COUNTERS) {
			cp_report_dp_counter(r, "tx_pacing_p50_ns", pc.p50);
			cp_report_dp_counter(r, CP_DP_PACING_P99, pc.p99);
			cp_report_dp_counter(r, "tx_pacing_max_ns", pc.max);
		}
		cp_report_dp_counter(r, d->names[i], since(to->v[i], from->v[i]));
	}
	for (uint32_t i = 0; i < to->nx; i++)
		cp_report_port_xstat(r, to->x[i].name, since(to->x[i].value, xstat_in(from, to, i)));
}
