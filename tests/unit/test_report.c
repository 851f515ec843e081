/* Run report: exact percentiles, outcome counting, the JSON summary's shape (every key DESIGN.md fixes) and
 * values, and the msgpack sample stream read back with msgpack-c's unpacker. */
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "controlplane/controlplane.h"
#include "check_main.h"
#include "testutil.h"

START_TEST(nearest_rank_percentiles)
{
	struct cp_values v = { 0 };

	ck_assert_uint_eq(cp_values_percentile(&v, 50), 0);
	/* 1..100 shuffled: p50 = 50, p95 = 95, p99 = 99, p100 = 100 */
	for (uint32_t i = 0; i < 100; i++)
		cp_values_add(&v, (i * 37) % 100 + 1);
	ck_assert_uint_eq(cp_values_percentile(&v, 50), 50);
	ck_assert_uint_eq(cp_values_percentile(&v, 95), 95);
	ck_assert_uint_eq(cp_values_percentile(&v, 99), 99);
	ck_assert_uint_eq(cp_values_percentile(&v, 100), 100);
	cp_values_free(&v);
	/* {10, 20, 30}: rank ceil(0.5*3) = 2 -> 20; p95: ceil(2.85) = 3 -> 30 */
	cp_values_add(&v, 30);
	cp_values_add(&v, 10);
	cp_values_add(&v, 20);
	ck_assert_uint_eq(cp_values_percentile(&v, 50), 20);
	ck_assert_uint_eq(cp_values_percentile(&v, 95), 30);
	ck_assert_uint_eq(cp_values_percentile(&v, 1), 10);
	cp_values_add(&v, 5); /* adding after a sort re-sorts */
	ck_assert_uint_eq(cp_values_percentile(&v, 25), 5);
	cp_values_free(&v);
}
END_TEST

static json_t *load_json(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	ck_assert_msg(j != NULL, "%s:%d: %s", path, e.line, e.text);
	return j;
}

static double jnum(json_t *root, const char *a, const char *b, const char *c)
{
	json_t *x = json_object_get(root, a);

	if (b)
		x = json_object_get(x, b);
	if (c)
		x = json_object_get(x, c);
	ck_assert_msg(x && json_is_number(x), "missing number %s.%s.%s", a, b ? b : "", c ? c : "");
	return json_number_value(x);
}

START_TEST(json_summary_has_design_keys_and_values)
{
	static const char *const endpoint_keys[] = { "total", "SUCCESS", "COMPLETED_WITH_WARNINGS",
		"REGISTRATION_FAILED", "CALL_FAILED", "NEGOTIATION_FAILED", "TIMEOUT", "OSERROR", "TEARDOWN_ERROR" };
	static const char *const flow_keys[] = { "ssrc", "src", "dst", "codec", "packets_sent", "packets_received",
		"packets_lost", "duplicate_packets", "out_of_order_packets", "jitter_ms", "max_jitter_ms", "mos",
		"r_factor" };
	struct cp_report r;
	struct cp_flow_report f1 = { .ssrc = 0xdeadbeef, .src = "192.0.2.10:20000", .dst = "192.0.2.11:20002",
				     .codec = "PCMU", .packets_sent = 1000, .packets_received = 970, .packets_lost = 30,
				     .duplicate_packets = 2, .out_of_order_packets = 1, .jitter_ms = 1.25,
				     .max_jitter_ms = 4.5, .mos = 4.1, .r_factor = 83.0 };
	struct cp_flow_report f2 = { .ssrc = 7, .src = "a:1", .dst = "b:2", .codec = "PCMA", .packets_sent = 500,
				     .packets_received = 500, .jitter_ms = 0.75, .max_jitter_ms = 2.0, .mos = 4.41,
				     .r_factor = 93.2 };
	char path[64];
	json_t *j, *flows;

	cp_report_init(&r, "run-1", "demo.ini");
	for (int i = 0; i < 3; i++)
		cp_report_outcome(&r, CP_OUT_SUCCESS);
	cp_report_outcome(&r, CP_OUT_REGISTRATION_FAILED);
	cp_report_failure(&r, CP_OUT_REGISTRATION_FAILED, 403, "Forbidden");
	cp_report_registration(&r, true, 12);
	cp_report_registration(&r, true, 30);
	cp_report_registration(&r, false, 0);
	cp_report_call(&r, true, 120, 80);
	cp_report_call(&r, true, 140, 90);
	cp_report_call(&r, false, 0, 0);
	cp_report_call(&r, false, 0, 0);
	cp_report_flow(&r, &f1);
	cp_report_flow(&r, &f2);
	r.ended_wall_ms = r.started_wall_ms + 20000;
	tu_write_temp(path, sizeof(path), "");
	ck_assert_int_eq(cp_report_write_json(&r, path), 0);
	j = load_json(path);

	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "run"), "id")), "run-1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "run"), "plan")), "demo.ini");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "run"), "outcome")),
			 "COMPLETED_WITH_FAILURES");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(json_object_get(j, "run"), "started"))), 24);
	for (size_t i = 0; i < CM_ARRAY_SIZE(endpoint_keys); i++)
		ck_assert_msg(json_object_get(json_object_get(j, "endpoints"), endpoint_keys[i]), "%s", endpoint_keys[i]);
	ck_assert_int_eq(jnum(j, "endpoints", "total", NULL), 4);
	ck_assert_int_eq(jnum(j, "endpoints", "SUCCESS", NULL), 3);
	ck_assert_int_eq(jnum(j, "endpoints", "REGISTRATION_FAILED", NULL), 1);
	ck_assert_int_eq(jnum(j, "registrations", "attempted", NULL), 3);
	ck_assert_int_eq(jnum(j, "registrations", "failed", NULL), 1);
	ck_assert_int_eq(jnum(j, "registrations", "time_ms", "p50"), 12);
	ck_assert_int_eq(jnum(j, "registrations", "time_ms", "p99"), 30);
	ck_assert_int_eq(jnum(j, "calls", "attempted", NULL), 4);
	ck_assert_int_eq(jnum(j, "calls", "answered", NULL), 2);
	ck_assert_double_eq_tol(jnum(j, "calls", "asr", NULL), 0.5, 1e-9);
	ck_assert_int_eq(jnum(j, "calls", "setup_ms", "p95"), 140);
	ck_assert_int_eq(jnum(j, "calls", "pdd_ms", "p50"), 80);
	/* quality: avg MOS (4.1 + 4.41) / 2 = 4.255 -> 4.26 (2 decimals, round half away), min 4.1 */
	ck_assert_double_eq_tol(jnum(j, "quality", "mos", "avg"), 4.26, 1e-9);
	ck_assert_double_eq_tol(jnum(j, "quality", "mos", "min"), 4.1, 1e-9);
	ck_assert_double_eq_tol(jnum(j, "quality", "r_factor", "avg"), 88.1, 1e-9);
	ck_assert_double_eq_tol(jnum(j, "quality", "jitter_ms", "avg"), 1.0, 1e-9);
	ck_assert_double_eq_tol(jnum(j, "quality", "jitter_ms", "max"), 4.5, 1e-9);
	ck_assert_int_eq(jnum(j, "quality", "packets_lost", NULL), 30);
	/* 30 lost of 1500 expected */
	ck_assert_double_eq_tol(jnum(j, "quality", "fraction_lost", NULL), 0.02, 1e-9);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "failures")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "failures"), 0), "outcome")),
			 "REGISTRATION_FAILED");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "failures"), 0), "code")),
			 403);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "failures"), 0), "count")),
			 1);
	flows = json_object_get(j, "flows");
	ck_assert_uint_eq(json_array_size(flows), 2);
	for (size_t i = 0; i < CM_ARRAY_SIZE(flow_keys); i++)
		ck_assert_msg(json_object_get(json_array_get(flows, 0), flow_keys[i]), "%s", flow_keys[i]);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(flows, 0), "ssrc")), 0xdeadbeef);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(flows, 0), "dst")), "192.0.2.11:20002");
	json_decref(j);

	/* the port's xstats, past the first allocation, under their own (long) names */
	for (unsigned i = 0; i < 40; i++) {
		char name[64];

		snprintf(name, sizeof(name), "rx_q%u_a_long_driver_specific_counter_name", i);
		ck_assert(cp_report_port_xstat(&r, name, 1000u + i));
	}
	ck_assert_int_eq(cp_report_write_json(&r, path), 0);
	j = load_json(path);
	ck_assert_uint_eq(json_object_size(json_object_get(j, "port_xstats")), 40);
	ck_assert_int_eq(jnum(j, "port_xstats", "rx_q39_a_long_driver_specific_counter_name", NULL), 1039);
	json_decref(j);
	cp_report_free(&r);
	unlink(path);
}
END_TEST

START_TEST(all_success_is_completed_and_empty_is_zero)
{
	struct cp_report r;
	char path[64];
	json_t *j;

	cp_report_init(&r, "r", "p");
	cp_report_outcome(&r, CP_OUT_SUCCESS);
	cp_report_outcome(&r, CP_OUT_COMPLETED_WITH_WARNINGS);
	ck_assert_str_eq(cp_report_run_outcome(&r), "COMPLETED");
	tu_write_temp(path, sizeof(path), "");
	ck_assert_int_eq(cp_report_write_json(&r, path), 0);
	j = load_json(path);
	ck_assert_int_eq(jnum(j, "calls", "setup_ms", "p99"), 0);
	ck_assert_double_eq(jnum(j, "quality", "mos", "avg"), 0);
	ck_assert_double_eq(jnum(j, "calls", "asr", NULL), 0);
	json_decref(j);
	cp_report_free(&r);
	unlink(path);
	ck_assert_int_eq(cp_report_write_json(&r, "/nonexistent/dir/x.json"), -EIO);
}
END_TEST

static msgpack_object *map_get(msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
		    memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0)
			return &kv->val;
	}
	return NULL;
}

START_TEST(msgpack_samples_round_trip)
{
	struct cp_sample s1 = { .t = 3, .endpoint = 41, .group = "callers", .state = "in_call", .has_media = true,
				.packets_sent = 150, .bytes_sent = 150 * 172, .packets_received = 148,
				.packets_lost = 2, .fraction_lost = 2.0 / 150, .jitter_ms = 0.5, .mos = 4.3,
				.r_factor = 90.1, .pdd_ms = 40, .time_to_ringing_ms = 40, .setup_ms = 540,
				.call_duration_ms = -1, .final_status_code = 200, .call_result = "answered" };
	struct cp_sample s2 = { .t = 0, .endpoint = 7, .group = "callees", .state = "registering", .pdd_ms = -1,
				.time_to_ringing_ms = -1, .setup_ms = -1, .call_duration_ms = -1 };
	struct cp_metrics_out *m;
	msgpack_unpacker up;
	msgpack_unpacked res;
	char path[64], buf[8192];
	FILE *f;
	size_t n;
	int count = 0;

	tu_write_temp(path, sizeof(path), "");
	m = cp_metrics_open(path);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(cp_metrics_write(m, &s1), 0);
	ck_assert_int_eq(cp_metrics_write(m, &s2), 0);
	ck_assert_int_eq(cp_metrics_close(m), 0);

	f = fopen(path, "rb");
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	{
		char tmp[2048];
		int l1 = cp_sample_pack(&s1, tmp, sizeof(tmp)), l2 = cp_sample_pack(&s2, tmp, sizeof(tmp));

		ck_assert_int_gt(l1, 0);
		ck_assert_int_gt(l2, 0);
		ck_assert_uint_eq(n, (size_t)(l1 + l2)); /* the stream is exactly the two maps */
	}
	msgpack_unpacker_init(&up, 1024);
	msgpack_unpacker_reserve_buffer(&up, n);
	memcpy(msgpack_unpacker_buffer(&up), buf, n);
	msgpack_unpacker_buffer_consumed(&up, n);
	msgpack_unpacked_init(&res);
	while (msgpack_unpacker_next(&up, &res) == MSGPACK_UNPACK_SUCCESS) {
		msgpack_object *o = &res.data, *v;

		ck_assert_int_eq(o->type, MSGPACK_OBJECT_MAP);
		ck_assert_uint_eq(o->via.map.size, 26);
		if (count == 0) {
			ck_assert_uint_eq(map_get(o, "endpoint")->via.u64, 41);
			ck_assert_uint_eq(map_get(o, "packets_received")->via.u64, 148);
			ck_assert_double_eq_tol(map_get(o, "mos")->via.f64, 4.3, 1e-12);
			ck_assert_int_eq(map_get(o, "setup_ms")->via.i64, 540);
			ck_assert_int_eq(map_get(o, "call_duration_ms")->type, MSGPACK_OBJECT_NIL);
			ck_assert_int_eq(map_get(o, "rtt_ms")->type, MSGPACK_OBJECT_NIL);
			v = map_get(o, "call_result");
			ck_assert_int_eq(v->type, MSGPACK_OBJECT_STR);
			ck_assert_int_eq(memcmp(v->via.str.ptr, "answered", 8), 0);
		} else {
			ck_assert_int_eq(map_get(o, "packets_sent")->type, MSGPACK_OBJECT_NIL);
			ck_assert_int_eq(map_get(o, "final_status_code")->type, MSGPACK_OBJECT_NIL);
			v = map_get(o, "state");
			ck_assert_int_eq(memcmp(v->via.str.ptr, "registering", 11), 0);
		}
		count++;
	}
	ck_assert_int_eq(count, 2);
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&up);
	ck_assert_int_eq(cp_sample_pack(&s1, buf, 10), -ENOSPC);
	ck_assert_ptr_null(cp_metrics_open("/nonexistent/dir/m.msgpack"));
	unlink(path);
}
END_TEST

START_TEST(failures_group_by_outcome_and_code)
{
	struct cp_report r;

	cp_report_init(&r, "r", "p");
	cp_report_failure(&r, CP_OUT_CALL_FAILED, 486, "Busy Here");
	cp_report_failure(&r, CP_OUT_CALL_FAILED, 486, "Busy Here");
	cp_report_failure(&r, CP_OUT_CALL_FAILED, 603, "Decline");
	cp_report_failure(&r, CP_OUT_TIMEOUT, 408, NULL);
	ck_assert_uint_eq(r.nfailures, 3);
	ck_assert_uint_eq(r.failures[0].count, 2);
	ck_assert_str_eq(r.failures[1].reason, "Decline");
	ck_assert_str_eq(r.failures[2].reason, "");
	for (unsigned i = 0; i < 100; i++)
		cp_report_failure(&r, CP_OUT_CALL_FAILED, (uint16_t)(300 + i), "many");
	ck_assert_uint_eq(r.nfailures, CP_REPORT_FAILURE_KINDS); /* bounded: the last slot collects the rest */
	cp_report_free(&r);
}
END_TEST

START_TEST(outcome_names)
{
	ck_assert_str_eq(cp_outcome_name(CP_OUT_SUCCESS), "SUCCESS");
	ck_assert_str_eq(cp_outcome_name(CP_OUT_TEARDOWN_ERROR), "TEARDOWN_ERROR");
	ck_assert_str_eq(cp_outcome_name(CP_OUT_COUNT), "?");
}
END_TEST

static char *printed(void (*fn)(FILE *, void *), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f, arg);
	fclose(f);
	return buf;
}

static void print_progress_tty(FILE *f, void *arg)
{
	cp_progress_print(f, true, arg);
}

static void print_progress_plain(FILE *f, void *arg)
{
	cp_progress_print(f, false, arg);
}

static void print_summary(FILE *f, void *arg)
{
	cp_summary_print(f, arg);
}

START_TEST(progress_and_summary_text)
{
	struct cp_progress p = { .elapsed_s = 12, .duration_s = 30, .total = 100, .ready = 100, .ringing = 3,
				 .in_call = 40, .done = 7, .failed = 1, .cps = 9.5, .mos = 4.38, .loss_pct = 0.25,
				 .jitter_ms = 1.5 };
	struct cp_flow_report f = { .mos = 4.4, .r_factor = 93.0, .jitter_ms = 0.5, .max_jitter_ms = 1.0,
				    .packets_received = 995, .packets_lost = 5 };
	struct cp_report r;
	char *out;

	out = printed(print_progress_tty, &p);
	ck_assert_str_eq(out, "\r\033[K[  12s/30s] endpoints 100: ready 100, ringing 3, in call 40, done 7, "
			 "failed 1 | 9.5 cps | MOS 4.38 | loss 0.25% | jitter 1.50 ms");
	free(out);
	p.mos = -1;
	out = printed(print_progress_plain, &p);
	ck_assert_msg(strstr(out, "| MOS - |") && out[strlen(out) - 1] == '\n' && out[0] == '[', "%s", out);
	free(out);

	cp_report_init(&r, "run-7", "demo.ini");
	cp_report_outcome(&r, CP_OUT_SUCCESS);
	cp_report_outcome(&r, CP_OUT_CALL_FAILED);
	cp_report_call(&r, true, 200, 100);
	cp_report_call(&r, false, 0, 0);
	cp_report_flow(&r, &f);
	r.ended_wall_ms = r.started_wall_ms + 1500;
	out = printed(print_summary, &r);
	ck_assert_msg(strstr(out, "Run run-7 (demo.ini): COMPLETED_WITH_FAILURES in 1.5 s"), "%s", out);
	ck_assert_msg(strstr(out, "  CALL_FAILED                1\n"), "%s", out);
	ck_assert_msg(!strstr(out, "TIMEOUT"), "%s", out);
	ck_assert_msg(strstr(out, "attempted / answered       2 / 1 (ASR 50.0 %)"), "%s", out);
	ck_assert_msg(strstr(out, "MOS avg / min              4.40 / 4.40"), "%s", out);
	ck_assert_msg(strstr(out, "packets lost               5 of 1000 (0.500 %)"), "%s", out);
	ck_assert_msg(!strstr(out, "Note:"), "%s", out);
	free(out);
	/* the worker's own sending late beyond CP_PACING_NOTE_NS is pointed out */
	cp_report_dp_counter(&r, "tx_pacing_p99_ns", CP_PACING_NOTE_NS);
	out = printed(print_summary, &r);
	ck_assert_msg(!strstr(out, "Note:"), "%s", out);
	free(out);
	r.dp[0].value = 1300000;
	out = printed(print_summary, &r);
	ck_assert_msg(strstr(out, "tx_pacing_p99_ns           1300000\n") &&
		      strstr(out, "Note: 1 % of the packets left over 1.3 ms late"), "%s", out);
	free(out);
	cp_report_free(&r);
}
END_TEST
/* A sample with counts but no stream up (a call ended in that second): the counters are written, the stream's
 * figures nil; a negative packets_lost (packets counted lost that came late) stays negative. */
START_TEST(sample_counts_without_stream)
{
	struct cp_sample c = { .t = 9, .endpoint = 2, .group = "g", .state = "ready", .has_counts = true,
			       .packets_sent = 17, .packets_received = 16, .packets_lost = -1, .pdd_ms = -1,
			       .time_to_ringing_ms = -1, .setup_ms = -1, .call_duration_ms = -1 };
	char buf[2048];
	int n = cp_sample_pack(&c, buf, sizeof(buf));
	msgpack_unpacked res;
	size_t off = 0;

	ck_assert_int_gt(n, 0);
	msgpack_unpacked_init(&res);
	ck_assert_int_eq(msgpack_unpack_next(&res, buf, (size_t)n, &off), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(map_get(&res.data, "packets_sent")->via.u64, 17);
	ck_assert_uint_eq(map_get(&res.data, "packets_received")->via.u64, 16);
	ck_assert_int_eq(map_get(&res.data, "packets_lost")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	ck_assert_int_eq(map_get(&res.data, "packets_lost")->via.i64, -1);
	ck_assert_int_eq(map_get(&res.data, "mos")->type, MSGPACK_OBJECT_NIL);
	ck_assert_int_eq(map_get(&res.data, "jitter_ms")->type, MSGPACK_OBJECT_NIL);
	ck_assert_uint_eq(map_get(&res.data, "v")->via.u64, 2);
	msgpack_unpacked_destroy(&res);
}
END_TEST

/* The summary's groups: outcomes by endpoint index, the streams' figures by the flows' endpoints. */
START_TEST(groups_in_summary)
{
	static struct cfg_plan plan;
	struct cp_report r;
	struct cp_flow_report f = { .codec = "PCMU", .packets_sent = 100, .packets_received = 98, .packets_lost = 2,
				    .mos = 4.2, .jitter_ms = 1.5, .max_jitter_ms = 3, .holds = 1 };
	char path[64], err[CFG_ERR_MAX];
	json_t *root, *g;

	ck_assert_msg(cfg_plan_load_string(&plan, "g.ini", "[group a]\nendpoints = 2\n[group b]\nendpoints = 3\n"
					   "target = group:a\n", err, sizeof(err)) == 0, "%s", err);
	cp_report_init(&r, "run-g", "g.ini");
	cp_report_set_groups(&r, &plan);
	cp_report_ep_outcome(&r, 0, CP_OUT_SUCCESS);
	cp_report_ep_outcome(&r, 1, CP_OUT_TIMEOUT);
	for (uint32_t ep = 2; ep < 5; ep++)
		cp_report_ep_outcome(&r, ep, CP_OUT_SUCCESS);
	f.endpoint = 4;
	cp_report_flow(&r, &f);
	f.endpoint = 3;
	f.mos = 4.4;
	f.packets_lost = 0;
	cp_report_flow(&r, &f);
	f.endpoint = 0;
	cp_report_flow(&r, &f);
	tu_write_temp(path, sizeof(path), "");
	ck_assert_int_eq(cp_report_write_json(&r, path), 0);
	root = load_json(path);
	g = json_object_get(root, "groups");
	ck_assert_uint_eq(json_array_size(g), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(g, 0), "name")), "a");
	ck_assert_int_eq(jnum(json_array_get(g, 0), "endpoints", NULL, NULL), 2);
	ck_assert_int_eq(jnum(json_array_get(g, 0), "outcomes", "TIMEOUT", NULL), 1);
	ck_assert_int_eq(jnum(json_array_get(g, 0), "streams", NULL, NULL), 1);
	ck_assert_int_eq(jnum(json_array_get(g, 1), "endpoints", NULL, NULL), 3);
	ck_assert_int_eq(jnum(json_array_get(g, 1), "outcomes", "SUCCESS", NULL), 3);
	ck_assert_int_eq(jnum(json_array_get(g, 1), "streams", NULL, NULL), 2);
	ck_assert_int_eq(jnum(json_array_get(g, 1), "packets_sent", NULL, NULL), 200);
	ck_assert_int_eq(jnum(json_array_get(g, 1), "packets_lost", NULL, NULL), 2);
	ck_assert_double_eq_tol(jnum(json_array_get(g, 1), "fraction_lost", NULL, NULL), 2.0 / 198, 1e-6);
	ck_assert_double_eq_tol(jnum(json_array_get(g, 1), "mos", "avg", NULL), 4.3, 1e-9);
	ck_assert_double_eq_tol(jnum(json_array_get(g, 1), "mos", "min", NULL), 4.2, 1e-9);
	ck_assert_int_eq(jnum(json_array_get(g, 1), "holds", NULL, NULL), 2);
	ck_assert_int_eq(jnum(root, "endpoints", "total", NULL), 5);
	json_decref(root);
	unlink(path);
	cp_report_free(&r);
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_add_test(tc, nearest_rank_percentiles);
	tcase_add_test(tc, json_summary_has_design_keys_and_values);
	tcase_add_test(tc, all_success_is_completed_and_empty_is_zero);
	tcase_add_test(tc, msgpack_samples_round_trip);
	tcase_add_test(tc, sample_counts_without_stream);
	tcase_add_test(tc, groups_in_summary);
	tcase_add_test(tc, outcome_names);
	tcase_add_test(tc, failures_group_by_outcome_and_code);
	tcase_add_test(tc, progress_and_summary_text);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	cm_log_setup(CM_LOG_ERROR, CM_LOG_PRETTY, stderr);
	return run_suite(report_suite());
}
