/* A worker's dataplane sample (the `dataplane` map of a metrics frame, docs/gateway-protocol.md): checked field by
 * field before anything of it is stored, and the figures `run show` sums taken out of it.  A sample that does not
 * check out is left out of the store on its own; the frame's per-endpoint samples are not lost with it. */
#include <string.h>

#include "gateway/gateway_internal.h"

static const char *const column_names[GW_DP_NCOLS] = {
#define GW_DP_NAME(n) #n,
	GW_DP_COLUMNS(GW_DP_NAME)
#undef GW_DP_NAME
};

const char *gw_dp_column_name(unsigned i)
{
	return i < GW_DP_NCOLS ? column_names[i] : "?";
}

const char *gw_dp_counters_problem(const msgpack_object *m, size_t keymax)
{
	if (!m || m->type != MSGPACK_OBJECT_MAP)
		return "missing or not a map";
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *v = &m->via.map.ptr[i].val;

		/* what the worker's summary keys look like (and what `run show` prints unescaped) */
		if (!gw_key_name(&m->via.map.ptr[i].key, GW_DP_KEY_PUNCT, keymax, NULL))
			return "a counter name that is not a short identifier";
		if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > INT64_MAX)
			return "a counter that is not an unsigned integer";
	}
	return NULL;
}

static bool get_u64(const msgpack_object *m, const char *key, uint64_t max, uint64_t *out)
{
	const msgpack_object *o = gw_obj_get(m, key);

	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return false;
	*out = o->via.u64;
	return true;
}

const char *gw_dp_sample_read(const msgpack_object *dp, struct gw_dp_sample *out)
{
	static const char *const required[] = { "tx_packets", "tx_paced", "tx_pacing_p50_ns", "tx_pacing_p99_ns",
						"tx_pacing_max_ns" };
	const msgpack_object *kind, *second, *total, *xstats;
	const char *why;
	uint64_t v;

	memset(out, 0, sizeof(*out));
	if (dp->type != MSGPACK_OBJECT_MAP)
		return "not a map";
	kind = gw_obj_get(dp, "kind");
	if (!kind || kind->type != MSGPACK_OBJECT_STR || kind->via.str.size != 9 ||
	    memcmp(kind->via.str.ptr, "dataplane", 9) != 0)
		return "kind is not \"dataplane\"";
	if (!get_u64(dp, "v", UINT32_MAX, &v) || !get_u64(dp, "t", UINT32_MAX, &out->t) ||
	    !get_u64(dp, "ms", UINT32_MAX, &v))
		return "v, t or ms missing or not an unsigned integer";
	second = gw_obj_get(dp, "second");
	total = gw_obj_get(dp, "total");
	if ((why = gw_dp_counters_problem(second, 47)) || (why = gw_dp_counters_problem(total, 47)))
		return why;
	for (size_t i = 0; i < CM_ARRAY_SIZE(required); i++)
		if (!gw_obj_get(second, required[i]) || (i != 1 && !gw_obj_get(total, required[i])))
			return "second or total without the TX counters and pacing";
	xstats = gw_obj_get(dp, "xstats");
	if (xstats && gw_dp_counters_problem(xstats, 63))
		return "xstats is not a map of names to unsigned integers";
	if (gw_obj_get(dp, "xstats_changed") && !get_u64(dp, "xstats_changed", UINT32_MAX, &v))
		return "xstats_changed is not an unsigned integer";
	for (unsigned i = 0; i < GW_DP_NCOLS; i++) {
		const msgpack_object *o = gw_obj_get(second, column_names[i]);

		out->has[i] = o != NULL;
		out->col[i] = o ? (int64_t)o->via.u64 : 0;
	}
	return NULL;
}
