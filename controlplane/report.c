/* Run report: outcome counts, exact timing percentiles, quality totals and per-flow figures, written as the
 * JSON summary (jansson builds the document, so escaping and number formatting are the library's); and the
 * per-endpoint per-second sample stream in msgpack (msgpack-c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "controlplane/controlplane.h"

#define CP_OUTCOME_NAME(n) #n,
static const char *const outcome_names[] = { CP_OUTCOMES(CP_OUTCOME_NAME) };
#undef CP_OUTCOME_NAME

const char *cp_outcome_name(enum cp_outcome o)
{
	return (unsigned)o < CP_OUT_COUNT ? outcome_names[o] : "?";
}

/* ---- exact percentiles ------------------------------------------------------------------------------------ */

/* An array p of n elements of elem bytes with room for *cap: itself when there is room for one more, else grown
 * (first elements at first, then doubled; *cap updated); NULL when out of memory (p unchanged). */
static void *room_for_one(void *p, size_t n, size_t *cap, size_t elem, size_t first)
{
	size_t c = *cap ? 2 * *cap : first;

	if (n < *cap)
		return p;
	p = realloc(p, c * elem);
	if (p)
		*cap = c;
	return p;
}

int cp_values_add(struct cp_values *s, uint32_t v)
{
	uint32_t *a = room_for_one(s->v, s->n, &s->cap, sizeof(*a), 256);

	if (!a)
		return -ENOMEM;
	s->v = a;
	s->v[s->n++] = v;
	s->sorted = false;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

uint32_t cp_values_percentile(struct cp_values *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(s->v[0]), cmp_u32);
		s->sorted = true;
	}
	/* nearest rank: the smallest value with at least p % of the values at or below it */
	rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

void cp_values_free(struct cp_values *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- report ----------------------------------------------------------------------------------------------- */

void cp_report_init(struct cp_report *r, const char *run_id, const char *plan)
{
	memset(r, 0, sizeof(*r));
	cm_strlcpy(r->run_id, run_id, sizeof(r->run_id));
	cm_strlcpy(r->plan, plan, sizeof(r->plan));
	r->started_wall_ms = cm_wallclock_ms();
}

void cp_report_free(struct cp_report *r)
{
	cp_values_free(&r->reg_time_ms);
	cp_values_free(&r->setup_ms);
	cp_values_free(&r->pdd_ms);
	free(r->flows);
	free(r->xstats);
	memset(r, 0, sizeof(*r));
}

void cp_report_outcome(struct cp_report *r, enum cp_outcome o)
{
	if ((unsigned)o < CP_OUT_COUNT) {
		r->outcomes[o]++;
		r->endpoints_total++;
	}
}

void cp_report_set_groups(struct cp_report *r, const struct cfg_plan *plan)
{
	uint32_t first = 0;

	r->ngroups = plan->ngroups < CFG_MAX_GROUPS ? plan->ngroups : CFG_MAX_GROUPS;
	for (unsigned g = 0; g < r->ngroups; g++) {
		memset(&r->groups[g], 0, sizeof(r->groups[g]));
		cm_strlcpy(r->groups[g].name, plan->groups[g].name, sizeof(r->groups[g].name));
		r->groups[g].first = first;
		r->groups[g].count = plan->groups[g].endpoints;
		first += plan->groups[g].endpoints;
	}
}

/* The group endpoint ep belongs to, or NULL (groups are in plan order: binary search). */
static struct cp_report_group *group_of(struct cp_report *r, uint32_t ep)
{
	unsigned lo = 0, hi = r->ngroups;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (ep < r->groups[mid].first)
			hi = mid;
		else if (ep - r->groups[mid].first >= r->groups[mid].count)
			lo = mid + 1;
		else
			return &r->groups[mid];
	}
	return NULL;
}

void cp_report_ep_outcome(struct cp_report *r, uint32_t ep, enum cp_outcome o)
{
	struct cp_report_group *g = group_of(r, ep);

	cp_report_outcome(r, o);
	if (g && (unsigned)o < CP_OUT_COUNT)
		g->outcomes[o]++;
}

void cp_report_failure(struct cp_report *r, enum cp_outcome o, uint16_t code, const char *reason)
{
	struct cp_failure *f = NULL;

	for (unsigned i = 0; i < r->nfailures && !f; i++)
		if (r->failures[i].outcome == o && r->failures[i].code == code)
			f = &r->failures[i];
	if (!f) {
		/* the last slot collects whatever does not fit */
		f = &r->failures[r->nfailures < CP_REPORT_FAILURE_KINDS ? r->nfailures++ : CP_REPORT_FAILURE_KINDS - 1];
		if (f->count == 0) {
			f->outcome = (uint8_t)o;
			f->code = code;
			cm_strlcpy(f->reason, reason ? reason : "", sizeof(f->reason));
		}
	}
	f->count++;
}

void cp_report_dp_counter(struct cp_report *r, const char *name, uint64_t value)
{
	if (r->ndp == CM_ARRAY_SIZE(r->dp))
		return;
	cm_strlcpy(r->dp[r->ndp].name, name, sizeof(r->dp[0].name));
	r->dp[r->ndp++].value = value;
}

bool cp_report_port_xstat(struct cp_report *r, const char *name, uint64_t value)
{
	struct cp_xstat *x = room_for_one(r->xstats, r->nxstats, &r->xstats_cap, sizeof(*x), 32);

	if (!x)
		return false;
	r->xstats = x;
	cm_strlcpy(r->xstats[r->nxstats].name, name, sizeof(r->xstats[0].name));
	r->xstats[r->nxstats++].value = value;
	return true;
}

void cp_report_registration(struct cp_report *r, bool ok, uint32_t time_ms)
{
	r->reg_attempted++;
	if (ok) {
		r->reg_succeeded++;
		cp_values_add(&r->reg_time_ms, time_ms);
	} else {
		r->reg_failed++;
	}
}

void cp_report_call(struct cp_report *r, bool answered, uint32_t setup_ms, uint32_t pdd_ms)
{
	r->calls_attempted++;
	if (answered) {
		r->calls_answered++;
		cp_values_add(&r->setup_ms, setup_ms);
		cp_values_add(&r->pdd_ms, pdd_ms);
	} else {
		r->calls_failed++;
	}
}

/* Whether a flow counts as a received stream in the quality figures: not the early media we played to a caller
 * that never answered (nothing was expected back). */
static bool received_stream(const struct cp_flow_report *f)
{
	return !(f->early_only && f->packets_received + f->packets_lost == 0);
}

int cp_report_flow(struct cp_report *r, const struct cp_flow_report *f)
{
	struct cp_flow_report *a = room_for_one(r->flows, r->nflows, &r->flows_cap, sizeof(*a), 64);

	if (!a)
		return -ENOMEM;
	r->flows = a;
	r->flows[r->nflows++] = *f;
	r->dtmf_sent += f->dtmf_sent;
	r->dtmf_received += f->dtmf_received;
	if (!received_stream(f))
		return 0;
	if (r->quality_n == 0 || f->mos < r->mos_min)
		r->mos_min = f->mos;
	if (r->quality_n == 0 || f->r_factor < r->r_min)
		r->r_min = f->r_factor;
	if (f->max_jitter_ms > r->jitter_max)
		r->jitter_max = f->max_jitter_ms;
	r->quality_n++;
	r->mos_sum += f->mos;
	r->r_sum += f->r_factor;
	r->jitter_sum += f->jitter_ms;
	r->packets_lost += f->packets_lost;
	r->packets_expected += f->packets_received + f->packets_lost;
	return 0;
}

const char *cp_report_run_outcome(const struct cp_report *r)
{
	uint32_t ok = r->outcomes[CP_OUT_SUCCESS] + r->outcomes[CP_OUT_COMPLETED_WITH_WARNINGS];

	return ok == r->endpoints_total ? "COMPLETED" : "COMPLETED_WITH_FAILURES";
}

static json_t *percentiles(struct cp_values *v)
{
	return json_pack("{s:I,s:I,s:I}", "p50", (json_int_t)cp_values_percentile(v, 50), "p95",
			 (json_int_t)cp_values_percentile(v, 95), "p99", (json_int_t)cp_values_percentile(v, 99));
}

/* Rounded for humans; JSON has no NaN, and an empty set reports 0. */
static json_t *num(double v, int decimals)
{
	double scale = pow(10, decimals);

	return json_real(isfinite(v) ? round(v * scale) / scale : 0.0);
}

static void iso_time(uint64_t wall_ms, char *buf, size_t len)
{
	if (wall_ms)
		cm_format_utc(wall_ms, buf, len);
	else
		buf[0] = '\0';
}

/* Per group: its endpoints' outcomes and the figures of the streams its endpoints received (flows[]), the same
 * sums and averages as the run's. */
static json_t *groups_json(struct cp_report *r)
{
	struct acc {
		uint32_t streams, holds;
		uint64_t sent, received, lost, expected;
		double mos_sum, mos_min, jitter_sum, jitter_max;
	} *a = calloc(r->ngroups ? r->ngroups : 1, sizeof(*a));
	json_t *arr = json_array();

	if (!a)
		return arr;
	for (size_t i = 0; i < r->nflows; i++) {
		const struct cp_flow_report *f = &r->flows[i];
		struct cp_report_group *g = group_of(r, f->endpoint);
		struct acc *x;

		if (!g)
			continue;
		x = &a[g - r->groups];
		x->holds += f->holds;
		x->sent += f->packets_sent;
		x->received += f->packets_received;
		x->lost += f->packets_lost;
		x->expected += f->packets_received + f->packets_lost;
		if (!received_stream(f))
			continue;
		if (x->streams == 0 || f->mos < x->mos_min)
			x->mos_min = f->mos;
		if (f->max_jitter_ms > x->jitter_max)
			x->jitter_max = f->max_jitter_ms;
		x->streams++;
		x->mos_sum += f->mos;
		x->jitter_sum += f->jitter_ms;
	}
	for (unsigned k = 0; k < r->ngroups; k++) {
		const struct cp_report_group *g = &r->groups[k];
		const struct acc *x = &a[k];
		double n = x->streams ? x->streams : 1;
		json_t *outcomes = json_object(), *gj;
		uint32_t total = 0;

		for (int o = 0; o < CP_OUT_COUNT; o++) {
			json_object_set_new(outcomes, outcome_names[o], json_integer(g->outcomes[o]));
			total += g->outcomes[o];
		}
		gj = json_pack("{s:s,s:i,s:o,s:i,s:I,s:I,s:I,s:o}", "name", g->name, "endpoints", (int)total,
			       "outcomes", outcomes, "streams", (int)x->streams, "packets_sent", (json_int_t)x->sent,
			       "packets_received", (json_int_t)x->received, "packets_lost", (json_int_t)x->lost,
			       "fraction_lost", num(x->expected ? (double)x->lost / (double)x->expected : 0, 6));
		json_object_set_new(gj, "mos", json_pack("{s:o,s:o}", "avg", num(x->mos_sum / n, 2), "min",
							 num(x->mos_min, 2)));
		json_object_set_new(gj, "jitter_ms", json_pack("{s:o,s:o}", "avg", num(x->jitter_sum / n, 3), "max",
							       num(x->jitter_max, 3)));
		json_object_set_new(gj, "holds", json_integer(x->holds));
		json_array_append_new(arr, gj);
	}
	free(a);
	return arr;
}

static json_t *report_json(struct cp_report *r)
{
	char started[32], ended[32];
	json_t *root, *eps, *flows, *quality, *failures, *dp;
	double n = r->quality_n ? r->quality_n : 1;

	iso_time(r->started_wall_ms, started, sizeof(started));
	iso_time(r->ended_wall_ms, ended, sizeof(ended));
	eps = json_object();
	json_object_set_new(eps, "total", json_integer(r->endpoints_total));
	for (int o = 0; o < CP_OUT_COUNT; o++)
		json_object_set_new(eps, outcome_names[o], json_integer(r->outcomes[o]));

	quality = json_object();
	json_object_set_new(quality, "mos", json_pack("{s:o,s:o}", "avg", num(r->mos_sum / n, 2), "min",
						      num(r->mos_min, 2)));
	json_object_set_new(quality, "r_factor", json_pack("{s:o,s:o}", "avg", num(r->r_sum / n, 1), "min",
							   num(r->r_min, 1)));
	json_object_set_new(quality, "jitter_ms", json_pack("{s:o,s:o}", "avg", num(r->jitter_sum / n, 3), "max",
							    num(r->jitter_max, 3)));
	json_object_set_new(quality, "packets_lost", json_integer((json_int_t)r->packets_lost));
	json_object_set_new(quality, "fraction_lost",
			    num(r->packets_expected ? (double)r->packets_lost / (double)r->packets_expected : 0, 6));
	json_object_set_new(quality, "streams", json_integer(r->quality_n));

	flows = json_array();
	for (size_t i = 0; i < r->nflows; i++) {
		const struct cp_flow_report *f = &r->flows[i];
		json_t *fj = json_pack(
			"{s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o}",
			"ssrc", (json_int_t)f->ssrc, "src", f->src, "dst", f->dst, "codec", f->codec,
			"packets_sent", (json_int_t)f->packets_sent, "packets_received", (json_int_t)f->packets_received,
			"packets_lost", (json_int_t)f->packets_lost, "duplicate_packets",
			(json_int_t)f->duplicate_packets, "out_of_order_packets", (json_int_t)f->out_of_order_packets,
			"bytes_sent", (json_int_t)f->bytes_sent, "bytes_received", (json_int_t)f->bytes_received,
			"jitter_ms", num(f->jitter_ms, 3), "max_jitter_ms", num(f->max_jitter_ms, 3), "mos",
			num(f->mos, 2), "r_factor", num(f->r_factor, 1));
		json_object_set_new(fj, "srtp", json_boolean(f->srtp));
		json_object_set_new(fj, "rtt_ms", f->rtt_ms >= 0 ? num(f->rtt_ms, 3) : json_null());
		json_object_set_new(fj, "endpoint", json_integer(f->endpoint));
		json_object_set_new(fj, "burst_r", num(f->burst_r, 2));
		json_object_set_new(fj, "dtmf_sent", json_integer(f->dtmf_sent));
		json_object_set_new(fj, "dtmf_received", json_integer(f->dtmf_received));
		json_object_set_new(fj, "holds", json_integer(f->holds));
		if (f->early_only)
			json_object_set_new(fj, "early_only", json_true());
		json_array_append_new(flows, fj);
	}

	failures = json_array();
	for (unsigned i = 0; i < r->nfailures; i++)
		json_array_append_new(failures, json_pack("{s:s,s:i,s:s,s:I}", "outcome",
							 outcome_names[r->failures[i].outcome], "code",
							 r->failures[i].code, "reason", r->failures[i].reason, "count",
							 (json_int_t)r->failures[i].count));
	root = json_pack("{s:{s:s,s:s,s:s,s:s,s:s},s:o,s:{s:I,s:I,s:I,s:I,s:I,s:o},s:{s:I,s:I,s:I,s:I,s:o,s:o,s:o},s:o,s:o}",
			 "run", "id", r->run_id, "plan", r->plan, "started", started, "ended", ended, "outcome",
			 cp_report_run_outcome(r),
			 "endpoints", eps,
			 "registrations", "attempted", (json_int_t)r->reg_attempted, "succeeded",
			 (json_int_t)r->reg_succeeded, "failed", (json_int_t)r->reg_failed, "refreshes",
			 (json_int_t)r->reg_refreshes, "refresh_failed", (json_int_t)r->reg_refresh_failed, "time_ms",
			 percentiles(&r->reg_time_ms),
			 "calls", "attempted", (json_int_t)r->calls_attempted, "answered", (json_int_t)r->calls_answered,
			 "failed", (json_int_t)r->calls_failed, "received", (json_int_t)r->calls_received, "asr",
			 num(r->calls_attempted ? (double)r->calls_answered / r->calls_attempted : 0, 4), "setup_ms",
			 percentiles(&r->setup_ms), "pdd_ms", percentiles(&r->pdd_ms),
			 "quality", quality, "flows", flows);
	json_object_set_new(json_object_get(root, "calls"), "early_media", json_integer(r->calls_early_media));
	json_object_set_new(root, "failures", failures);
	json_object_set_new(root, "groups", groups_json(r));
	json_object_set_new(root, "dtmf", json_pack("{s:I,s:I}", "sent", (json_int_t)r->dtmf_sent, "received",
						    (json_int_t)r->dtmf_received));
	json_object_set_new(root, "holds", json_pack("{s:i,s:i,s:i}", "held", (int)r->holds, "resumed",
						     (int)r->resumes, "failed", (int)r->hold_failures));
	json_object_set_new(root, "session_timers",
			    json_pack("{s:i,s:i,s:i,s:i}", "refreshes_sent", (int)r->session_refreshes,
				      "refreshes_received", (int)r->session_refreshes_received, "expired",
				      (int)r->session_expired, "too_small_422", (int)r->session_422));
	dp = json_object();
	for (unsigned i = 0; i < r->ndp; i++)
		json_object_set_new(dp, r->dp[i].name, json_integer((json_int_t)r->dp[i].value));
	json_object_set_new(root, "dataplane", dp);
	dp = json_object();
	for (size_t i = 0; i < r->nxstats; i++)
		json_object_set_new(dp, r->xstats[i].name, json_integer((json_int_t)r->xstats[i].value));
	json_object_set_new(root, "port_xstats", dp);
	return root;
}

int cp_report_write_json(struct cp_report *r, const char *path)
{
	json_t *root = report_json(r);
	int rc;

	if (!root)
		return -ENOMEM;
	rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(root);
	return rc == 0 ? 0 : -EIO;
}

/* ---- samples in msgpack ----------------------------------------------------------------------------------- */

static void pack_key(msgpack_packer *pk, const char *k)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
}

static void pack_str_or_nil(msgpack_packer *pk, const char *k, const char *v)
{
	pack_key(pk, k);
	if (v)
		msgpack_pack_str_with_body(pk, v, strlen(v));
	else
		msgpack_pack_nil(pk);
}

static void pack_u64(msgpack_packer *pk, const char *k, uint64_t v, bool present)
{
	pack_key(pk, k);
	if (present)
		msgpack_pack_uint64(pk, v);
	else
		msgpack_pack_nil(pk);
}

static void pack_dbl(msgpack_packer *pk, const char *k, double v, bool present)
{
	pack_key(pk, k);
	if (present && isfinite(v))
		msgpack_pack_double(pk, v);
	else
		msgpack_pack_nil(pk);
}

static void pack_ms(msgpack_packer *pk, const char *k, int32_t v)
{
	pack_key(pk, k);
	if (v >= 0)
		msgpack_pack_int32(pk, v);
	else
		msgpack_pack_nil(pk);
}

static void pack_sample(msgpack_packer *pk, const struct cp_sample *s)
{
	bool m = s->has_media, c = s->has_media || s->has_counts;

	msgpack_pack_map(pk, 26);
	pack_u64(pk, "t", s->t, true);
	pack_u64(pk, "endpoint", s->endpoint, true);
	pack_str_or_nil(pk, "group", s->group);
	pack_str_or_nil(pk, "state", s->state);
	pack_u64(pk, "packets_sent", s->packets_sent, c);
	pack_u64(pk, "bytes_sent", s->bytes_sent, c);
	pack_u64(pk, "packets_received", s->packets_received, c);
	pack_u64(pk, "bytes_received", s->bytes_received, c);
	pack_key(pk, "packets_lost");
	if (c)
		msgpack_pack_int64(pk, s->packets_lost);
	else
		msgpack_pack_nil(pk);
	pack_dbl(pk, "fraction_lost", s->fraction_lost, m);
	pack_u64(pk, "duplicate_packets", s->duplicate_packets, c);
	pack_u64(pk, "out_of_order_packets", s->out_of_order_packets, c);
	pack_u64(pk, "sequence_number_resets", s->sequence_number_resets, m);
	pack_dbl(pk, "jitter_ms", s->jitter_ms, m);
	pack_dbl(pk, "rtt_ms", s->rtt_ms, s->has_rtt);
	pack_dbl(pk, "mos", s->mos, m);
	pack_dbl(pk, "r_factor", s->r_factor, m);
	pack_dbl(pk, "burst_density", s->burst_density, m);
	pack_dbl(pk, "gap_density", s->gap_density, m);
	pack_ms(pk, "pdd_ms", s->pdd_ms);
	pack_ms(pk, "time_to_ringing_ms", s->time_to_ringing_ms);
	pack_ms(pk, "setup_ms", s->setup_ms);
	pack_ms(pk, "call_duration_ms", s->call_duration_ms);
	pack_u64(pk, "final_status_code", s->final_status_code, s->final_status_code != 0);
	pack_str_or_nil(pk, "call_result", s->call_result);
	pack_key(pk, "v");
	msgpack_pack_uint8(pk, 2); /* sample format version: 2, counters per second (1: running totals per call) */
}

int cp_sample_pack(const struct cp_sample *s, char *buf, size_t len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_sample(&pk, s);
	if (sb.size > len) {
		rc = -ENOSPC;
	} else {
		memcpy(buf, sb.data, sb.size);
		rc = (int)sb.size;
	}
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

struct cp_metrics_out {
	FILE *f;                 /* a file, or (NULL) a sink: samples gathered in sb and handed to fn */
	msgpack_packer pk;
	int error;
	msgpack_sbuffer sb;
	uint32_t count;
	size_t max_bytes;
	cp_metrics_sink_fn fn;
	void *arg;
	char *dp;                /* a sink's dataplane sample waiting for the next flush */
	size_t dplen;
};

static int file_write(void *data, const char *buf, size_t len)
{
	struct cp_metrics_out *m = data;

	if (fwrite(buf, 1, len, m->f) != len) {
		if (!m->error)
			m->error = -errno ? -errno : -EIO;
		return -1;
	}
	return 0;
}

struct cp_metrics_out *cp_metrics_open(const char *path)
{
	struct cp_metrics_out *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->f = fopen(path, "wb");
	if (!m->f) {
		cm_log(CM_LOG_ERROR, "metrics", "cannot open %s: %s", path, strerror(errno));
		free(m);
		return NULL;
	}
	msgpack_packer_init(&m->pk, m, file_write);
	return m;
}

struct cp_metrics_out *cp_metrics_open_sink(cp_metrics_sink_fn fn, void *arg, size_t max_bytes)
{
	struct cp_metrics_out *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
	m->fn = fn;
	m->arg = arg;
	m->max_bytes = max_bytes;
	return m;
}

int cp_metrics_flush(struct cp_metrics_out *m)
{
	int rc = 0;

	if (!m || m->f || (!m->count && !m->dp))
		return 0;
	rc = m->fn(m->arg, m->sb.data, m->sb.size, m->count, m->dp, m->dplen);
	if (rc < 0 && !m->error)
		m->error = rc;
	msgpack_sbuffer_clear(&m->sb);
	m->count = 0;
	free(m->dp);
	m->dp = NULL;
	m->dplen = 0;
	return rc;
}

int cp_metrics_write_dataplane(struct cp_metrics_out *m, const char *map, size_t len)
{
	char *copy;

	if (!m)
		return 0;
	if (m->f)
		return file_write(m, map, len) < 0 ? m->error : 0;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, map, len);
	free(m->dp); /* one a second, each flushed: one replaced here would lose its second (not the totals) */
	m->dp = copy;
	m->dplen = len;
	return 0;
}

int cp_metrics_write(struct cp_metrics_out *m, const struct cp_sample *s)
{
	pack_sample(&m->pk, s);
	if (!m->f && ++m->count && m->sb.size >= m->max_bytes)
		cp_metrics_flush(m);
	return m->error;
}

int cp_metrics_close(struct cp_metrics_out *m)
{
	int rc;

	if (!m)
		return 0;
	if (!m->f) {
		cp_metrics_flush(m);
		msgpack_sbuffer_destroy(&m->sb);
		free(m->dp);
	} else if (fclose(m->f) != 0 && !m->error) {
		m->error = -errno;
	}
	rc = m->error;
	free(m);
	return rc;
}
