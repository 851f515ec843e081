/* libFuzzer target: arbitrary bytes as a stream of gateway frames, through the resumable reader (in uneven
 * chunks) and the strict decoder, reading every field the gateway reads (a metrics frame's dataplane sample
 * through the same check the gateway stores it after). */
#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_proto_reader r;
	size_t pos = 0, chunk = size ? (size_t)data[0] % 7 + 1 : 1;

	gw_proto_reader_init(&r);
	while (pos < size) {
		size_t used = 0, n = size - pos < chunk ? size - pos : chunk;
		int rc = gw_proto_reader_feed(&r, data + pos, n, &used);
		struct gw_msg m;
		char err[128], s[GW_PROTO_STR_MAX];
		uint64_t v;
		double d;

		pos += used;
		if (rc < 0)
			break;
		if (rc != GW_PROTO_FRAME)
			continue;
		if (gw_msg_decode(&m, r.buf, r.need, err, sizeof(err)) == 0) {
			gw_msg_str(&m, "token", s, sizeof(s));
			gw_msg_str(&m, "run_id", s, sizeof(s));
			gw_msg_u64(&m, "seq", &v);
			gw_obj_f64(m.map, "ts", &d);
			if (gw_obj_get(m.map, "dataplane")) {
				struct gw_dp_sample dp;

				gw_dp_sample_read(gw_obj_get(m.map, "dataplane"), &dp);
			}
			if (gw_obj_get(m.map, "port_xstats"))
				gw_dp_counters_problem(gw_obj_get(m.map, "port_xstats"), 63);
			gw_msg_free(&m);
		}
	}
	gw_proto_reader_free(&r);
	return 0;
}
