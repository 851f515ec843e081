/* The real callmeter-gateway over real TLS (a CA and certificates made by the test), driven by simulated
 * workers: the token lifecycle on the command line and on the wire (malformed, unknown, revoked, regenerated,
 * deleted, duplicate session), statuses and the heartbeat timeout, metrics acks with duplicates, and hostile
 * frames that must close only the offending session. */
#include <string.h>
#include <sys/stat.h>

#include "check_main.h"
#include "gwtest.h"

static void setup(void)
{
	gt_make_pki();
}

static void teardown(void)
{
	gt_rm_pki();
}

START_TEST(cli_token_lifecycle)
{
	char tok1[GW_TOKEN_LEN + 1], tok2[GW_TOKEN_LEN + 1], out[8192], path[128], st[32];
	struct stat sb;
	FILE *f;
	char *db;
	long n;

	gt_create("w1", tok1);
	ck_assert_int_eq(strncmp(tok1, "cmw_", 4), 0);
	for (int i = 4; i < GW_TOKEN_LEN; i++)
		ck_assert_msg(strchr("0123456789abcdef", tok1[i]), "token char %d", i);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker create w1"), 3);        /* name taken */
	ck_assert_int_eq(gt_cli(NULL, 0, "worker create 'bad name'"), 2); /* bad name */
	ck_assert_int_eq(gt_cli(NULL, 0, "worker create w9 --license gold"), 2);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker create pro --license professional --capacity 500"), 0);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker create small --license professional --capacity 20"), 0);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker create ent --license enterprise"), 0);
	ck_assert_int_eq(gt_cli(out, sizeof(out), "worker list"), 0);
	ck_assert_msg(strstr(out, "NAME"), "%s", out);
	/* effective capacity = min(configured, licensed) */
	ck_assert_msg(strstr(out, "pro                  OFFLINE   never                    200       500"), "%s", out);
	ck_assert_msg(strstr(out, "small                OFFLINE   never                    20        20"), "%s", out);
	ck_assert_msg(strstr(out, "ent                  OFFLINE   never                    unlimited -"), "%s", out);
	ck_assert_msg(strstr(out, "w1                   OFFLINE   never                    50 "), "%s", out);
	ck_assert_msg(!strstr(out, tok1), "token listed");

	/* the store is private and holds no token in clear */
	snprintf(path, sizeof(path), "%s/g.db", gt_dir);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	db = calloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(db, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	ck_assert_msg(!memmem(db, (size_t)n, tok1 + 4, 64), "token in clear in the store");
	free(db);

	ck_assert_int_eq(gt_cli(tok2, sizeof(tok2), "worker regenerate w1"), 0);
	ck_assert_uint_eq(strlen(tok2), GW_TOKEN_LEN);
	ck_assert_str_ne(tok1, tok2);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker regenerate nobody"), 3);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker drain w1"), 0);
	ck_assert_int_eq(gt_cli(out, sizeof(out), "worker list"), 0);
	ck_assert_msg(strstr(out, "drain-pending"), "%s", out);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker delete w1"), 0);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker delete w1"), 3);
	gt_status("w1", st, sizeof(st));
	ck_assert_str_eq(st, "");
	ck_assert_int_eq(gt_cli(NULL, 0, "worker frobnicate x"), 2);
	ck_assert_int_eq(gt_cli(NULL, 0, "serve"), 2); /* needs --cert/--key */
}
END_TEST

static void expect_reject(unsigned port, const char *token, uint64_t version, const char *code)
{
	struct gt_client t;

	gt_connect(&t, port);
	gt_send_hello(&t, token, version);
	ck_assert_int_eq(gt_pump(&t, 1, 5000), 1);
	ck_assert_str_eq(t.type[0], "reject");
	ck_assert_str_eq(t.code[0], code);
	gt_pump(&t, 2, 3000);
	ck_assert_msg(!t.open, "session left open after reject");
	gt_close(&t);
}

START_TEST(session_token_lifecycle)
{
	char tok[GW_TOKEN_LEN + 1], tok2[GW_TOKEN_LEN + 1], st[32], *log;
	struct gt_gateway g;
	struct gt_client a, b;

	gt_create("w1", tok);
	gt_serve(&g, "srv", 0, 30);
	/* a second serve on the same store is refused */
	{
		char args[512];
		snprintf(args, sizeof(args), "serve --cert %s/srv.pem --key %s/srv.key --listen 127.0.0.1:%u", gt_dir, gt_dir,
			 tu_free_port());
		ck_assert_int_eq(gt_cli(NULL, 0, args), 2);
	}

	expect_reject(g.port, "cmw_short", GW_PROTO_VERSION, "bad_token");
	expect_reject(g.port, "cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF", GW_PROTO_VERSION,
		      "bad_token");
	expect_reject(g.port, "cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", GW_PROTO_VERSION,
		      "unknown_token");
	expect_reject(g.port, tok, 99, "version");

	/* the real token: welcome, ONLINE */
	gt_connect(&a, g.port);
	gt_send_hello(&a, tok, GW_PROTO_VERSION);
	ck_assert_int_eq(gt_pump(&a, 1, 5000), 1);
	ck_assert_str_eq(a.type[0], "welcome");
	gt_send_heartbeat(&a, "ONLINE");
	ck_assert(gt_wait_status("w1", "ONLINE", 3000));

	/* a second session with the same token is refused; the first is unaffected */
	expect_reject(g.port, tok, GW_PROTO_VERSION, "token_in_use");
	gt_send_heartbeat(&a, "ERROR");
	gt_pump(&a, 2, 300);
	ck_assert(a.open);
	ck_assert(gt_wait_status("w1", "ERROR", 3000));

	/* regenerate: the live session is dropped at once, the old token is revoked, the new one works */
	ck_assert_int_eq(gt_cli(tok2, sizeof(tok2), "worker regenerate w1"), 0);
	gt_pump(&a, 2, 4000);
	ck_assert_msg(!a.open, "session with a regenerated token still open");
	gt_close(&a);
	ck_assert(gt_wait_status("w1", "OFFLINE", 3000));
	expect_reject(g.port, tok, GW_PROTO_VERSION, "revoked");
	gt_connect(&b, g.port);
	gt_send_hello(&b, tok2, GW_PROTO_VERSION);
	ck_assert_int_eq(gt_pump(&b, 1, 5000), 1);
	ck_assert_str_eq(b.type[0], "welcome");

	/* delete: dropped, and the token is revoked */
	ck_assert_int_eq(gt_cli(NULL, 0, "worker delete w1"), 0);
	gt_pump(&b, 2, 4000);
	ck_assert(!b.open);
	gt_close(&b);
	expect_reject(g.port, tok2, GW_PROTO_VERSION, "revoked");
	gt_status("w1", st, sizeof(st));
	ck_assert_str_eq(st, "");

	log = gt_stop(&g);
	ck_assert_msg(strstr(log, "rejected (token_in_use)"), "%s", log);
	ck_assert_msg(strstr(log, "disconnected: token regenerated"), "%s", log);
	ck_assert_msg(strstr(log, "disconnected: worker deleted"), "%s", log);
	ck_assert_msg(!strstr(log, tok + 4) && !strstr(log, tok2 + 4), "token in the gateway log");
	free(log);
}
END_TEST

START_TEST(heartbeat_timeout_marks_offline)
{
	char tok[GW_TOKEN_LEN + 1], *log;
	struct gt_gateway g;
	struct gt_client a;
	uint64_t t0;

	gt_create("quiet", tok);
	gt_serve(&g, "srv", 0, 2);
	gt_connect(&a, g.port);
	gt_send_hello(&a, tok, GW_PROTO_VERSION);
	ck_assert_int_eq(gt_pump(&a, 1, 5000), 1);
	ck_assert_str_eq(a.type[0], "welcome");
	/* heartbeats keep it ONLINE past the timeout */
	for (int i = 0; i < 4; i++) {
		gt_pump(&a, 2, 1000);
		gt_send_heartbeat(&a, "ONLINE");
	}
	t0 = cm_now_ms();
	ck_assert(gt_wait_status("quiet", "ONLINE", 1000));
	/* then silence: OFFLINE about 2 s after the last heartbeat, and the session is closed */
	gt_pump(&a, 2, 6000);
	ck_assert_msg(!a.open, "session kept without heartbeats");
	ck_assert_uint_ge(cm_now_ms() - t0, 1900);
	gt_close(&a);
	ck_assert(gt_wait_status("quiet", "OFFLINE", 2000));
	log = gt_stop(&g);
	ck_assert_msg(strstr(log, "worker 'quiet' disconnected: no heartbeat for 2 s"), "%s", log);
	free(log);
}
END_TEST

START_TEST(metrics_are_stored_once_and_acked)
{
	char tok[GW_TOKEN_LEN + 1], err[256], path[128];
	struct gt_gateway g;
	struct gt_client a;
	struct gw_store *s;
	uint64_t frames, lo, hi, samples;
	uint64_t seqs[] = { 1, 2, 3, 2 };

	gt_create("m", tok);
	gt_serve(&g, "srv", 0, 30);
	gt_connect(&a, g.port);
	gt_send_hello(&a, tok, GW_PROTO_VERSION);
	ck_assert_int_eq(gt_pump(&a, 1, 5000), 1);
	for (int i = 0; i < 4; i++) {
		struct gw_enc e;

		ck_assert_int_eq(gw_enc_start(&e, GW_MSG_METRICS, 4), 0);
		gw_enc_str(&e, "run_id", "run-1");
		gw_enc_u64(&e, "seq", seqs[i]);
		gw_enc_u64(&e, "ts", 1000 + seqs[i]);
		gw_enc_key(&e, "samples");
		msgpack_pack_array(&e.pk, 2);
		for (int k = 0; k < 2; k++) {
			msgpack_pack_map(&e.pk, 2);
			msgpack_pack_str_with_body(&e.pk, "endpoint", 8);
			msgpack_pack_uint32(&e.pk, (uint32_t)k);
			msgpack_pack_str_with_body(&e.pk, "mos", 3);
			msgpack_pack_double(&e.pk, 4.3);
		}
		ck_assert_int_eq(gw_conn_send_enc(&a.c, &e), 0);
	}
	if (gt_pump(&a, 5, 5000) != 5) {
		char *log = gt_stop(&g);
		ck_abort_msg("%d messages, open %d: %s; gateway log:\n%s", a.nmsg, a.open, a.why, log);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_str_eq(a.type[1 + i], "ack");
		ck_assert_uint_eq(a.seq[1 + i], seqs[i]);
		ck_assert_str_eq(a.code[1 + i], "");
	}
	/* a sample carrying a payload (binary: an RTP packet, say) is refused for good: acked with the reason,
	 * not stored, and the session goes on */
	{
		struct gw_enc e;
		ck_assert_int_eq(gw_enc_start(&e, GW_MSG_METRICS, 4), 0);
		gw_enc_str(&e, "run_id", "run-1");
		gw_enc_u64(&e, "seq", 4);
		gw_enc_u64(&e, "ts", 1004);
		gw_enc_key(&e, "samples");
		msgpack_pack_array(&e.pk, 1);
		msgpack_pack_map(&e.pk, 1);
		msgpack_pack_str_with_body(&e.pk, "rtp", 3);
		msgpack_pack_bin_with_body(&e.pk, "\x80\x00\x00\x01", 4);
		ck_assert_int_eq(gw_conn_send_enc(&a.c, &e), 0);
	}
	ck_assert_int_eq(gt_pump(&a, 6, 5000), 6);
	ck_assert_str_eq(a.type[5], "ack");
	ck_assert_uint_eq(a.seq[5], 4);
	ck_assert_str_eq(a.code[5], "a sample holds binary data or a nested container");
	ck_assert(a.open);
	gt_close(&a);
	free(gt_stop(&g));
	snprintf(path, sizeof(path), "%s/g.db", gt_dir);
	s = gw_store_open(path, err, sizeof(err));
	ck_assert_msg(s, "%s", err);
	ck_assert_int_eq(gw_store_metrics_stat(s, "run-1", &frames, &lo, &hi, &samples), 0);
	ck_assert_uint_eq(frames, 3);
	ck_assert_uint_eq(lo, 1);
	ck_assert_uint_eq(hi, 3);
	ck_assert_uint_eq(samples, 6);
	gw_store_close(s);
}
END_TEST

static int grab_rows(void *arg, int n, const char **cols)
{
	char *out = arg;
	size_t len = strlen(out);

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, 4096 - len, "%s%s", cols[i], i + 1 < n ? "," : ";");
	return 0;
}

static void send_dp_frame(struct gt_client *a, uint64_t seq, uint64_t t, bool with_part, int broken)
{
	struct gw_enc e;

	ck_assert_int_eq(gw_enc_start(&e, GW_MSG_METRICS, with_part ? 6 : 5), 0);
	gw_enc_str(&e, "run_id", "run-dp");
	if (with_part)
		gw_enc_u64(&e, "part", 2);
	gw_enc_u64(&e, "seq", seq);
	gw_enc_u64(&e, "ts", 1000 + seq);
	gw_enc_key(&e, "samples");
	msgpack_pack_array(&e.pk, 1);
	msgpack_pack_map(&e.pk, 2);
	msgpack_pack_str_with_body(&e.pk, "endpoint", 8);
	msgpack_pack_uint32(&e.pk, 5);
	msgpack_pack_str_with_body(&e.pk, "t", 1);
	msgpack_pack_uint64(&e.pk, t);
	gw_enc_key(&e, "dataplane");
	gt_pack_dp(&e.pk, t, 1, broken);
	ck_assert_int_eq(gw_conn_send_enc(&a->c, &e), 0);
}

/* A part's dataplane samples are stored by (run, worker, part, second), once however often the frame comes; one
 * that is malformed (a counter of the wrong type, a missing map or field, another kind, a nested xstat, a frame
 * without its part number) is left out, counted and logged once, while the frame's per-endpoint samples are
 * stored and acknowledged as ever. */
START_TEST(dataplane_samples_stored_or_left_out)
{
	static const int broken[] = { GT_DP_STRING_COUNTER, GT_DP_NO_SECOND, GT_DP_WRONG_KIND, GT_DP_NESTED_XSTAT,
				      GT_DP_NEGATIVE_T, GT_DP_NO_PACING, GT_DP_NOT_A_MAP };
	char tok[GW_TOKEN_LEN + 1], err[256], path[128], rows[4096] = "", *log, *p;
	struct gt_gateway g;
	struct gt_client a;
	struct gw_store *s;
	uint64_t frames, lo, hi, samples, seq = 0;
	int acks = 1, left_out_lines = 0;

	gt_create("dp", tok);
	gt_serve(&g, "srv", 0, 30);
	gt_connect(&a, g.port);
	gt_send_hello(&a, tok, GW_PROTO_VERSION);
	ck_assert_int_eq(gt_pump(&a, 1, 5000), 1);
	send_dp_frame(&a, ++seq, 1, true, GT_DP_OK);
	send_dp_frame(&a, ++seq, 2, true, GT_DP_OK);
	send_dp_frame(&a, seq, 2, true, GT_DP_OK); /* sent again after a reconnect, say */
	acks += 3;
	for (size_t i = 0; i < CM_ARRAY_SIZE(broken); i++, acks++)
		send_dp_frame(&a, ++seq, 3 + i, true, broken[i]);
	send_dp_frame(&a, ++seq, 20, false, GT_DP_OK); /* no part number */
	acks++;
	ck_assert_int_eq(gt_pump(&a, acks, 5000), acks);
	for (int i = 1; i < acks; i++) {
		ck_assert_str_eq(a.type[i], "ack");
		ck_assert_str_eq(a.code[i], ""); /* the samples are taken: nothing for the worker to drop */
	}
	ck_assert(a.open);
	gt_close(&a);
	log = gt_stop(&g);
	for (p = log; (p = strstr(p, "left out: ")); p++)
		left_out_lines++;
	ck_assert_msg(left_out_lines == 1 && strstr(log, "dataplane sample of metrics frame run-dp/3 left out: a counter "
							 "that is not an unsigned integer (1 so far)"), "%s", log);
	ck_assert_msg(strstr(log, "2 dataplane samples stored, 8 left out"), "%s", log);
	free(log);

	snprintf(path, sizeof(path), "%s/g.db", gt_dir);
	s = gw_store_open(path, err, sizeof(err));
	ck_assert_msg(s, "%s", err);
	ck_assert_int_eq(gw_store_metrics_stat(s, "run-dp", &frames, &lo, &hi, &samples), 0);
	ck_assert_uint_eq(frames, seq);
	ck_assert_uint_eq(samples, seq); /* every frame's endpoint sample, the broken dataplane ones' too */
	ck_assert_int_eq(gw_store_query(s, "SELECT part, t, seq, port_ipackets, port_imissed, tx_packets, "
					   "tx_pacing_p99_ns, tx_pacing_max_ns FROM dataplane WHERE run_id='run-dp' ORDER BY t",
					"", grab_rows, rows), 2);
	/* second: column i is 10 * (i + 1) + 1 (gt_pack_dp) */
	ck_assert_str_eq(rows, "2,1,1,11,51,91,121,131;2,2,2,11,51,91,121,131;");
	gw_store_close(s);
}
END_TEST

/* Each hostile input on its own session: the gateway closes that session, says why in its log, and goes on
 * serving.  Payloads get their length prefix at run time unless `raw` (the prefix itself is the attack). */
static const struct {
	const char *name;
	const char *bytes;
	size_t len;
	bool raw;
	bool after_welcome;
	const char *why; /* in the gateway's log */
} hostile[] = {
#define B(s) s, sizeof(s) - 1
	{ "length over 1 MiB", B("\x00\x10\x00\x01"), true, true, "frame longer than 1048576 bytes" },
	{ "length 4 GiB", B("\xff\xff\xff\xff"), true, true, "frame longer than 1048576 bytes" },
	{ "17 KiB before hello", B("\x00\x00\x44\x00"), true, false, "frame longer than 16384 bytes" },
	{ "zero length", B("\x00\x00\x00\x00"), true, false, "empty frame" },
	{ "garbage msgpack", B("\xc1\xc1\xc1\xc1"), false, false, "not a msgpack map" },
	{ "not a map", B("\x92\x01\x02"), false, false, "not a msgpack map" },
	{ "map32 claims 4G pairs", B("\xdf\xff\xff\xff\xff\xa1t\xa1h"), false, false,
	  "msgpack container longer than the frame" },
	{ "truncated map", B("\x83\xa1t\xa5hello\xa5token"), false, false, "truncated msgpack" },
	{ "heartbeat before hello", B("\x81\xa1t\xa9heartbeat"), false, false, "the first message must be hello" },
	{ "hello with integer token", B("\x83\xa1t\xa5hello\xa5token\x05\xa7version\x01"), false, false,
	  "hello without a string \"token\"" },
	{ "heartbeat with integer status", B("\x82\xa1t\xa9heartbeat\xa6status\x07"), false, true,
	  "heartbeat with a bad status" },
	{ "metrics without samples", B("\x83\xa1t\xa7metrics\xa6run_id\xa1r\xa3seq\x01"), false, true,
	  "metrics frame without run_id, seq or a samples array" },
	{ "welcome sent by a worker", B("\x81\xa1t\xa7welcome"), false, true, "'welcome' is not a worker's message" },
#undef B
};

START_TEST(hostile_frames_close_only_their_session)
{
	char tok[GW_TOKEN_LEN + 1], *log;
	struct gt_gateway g;
	struct gt_client a, ok;

	gt_create("h", tok);
	gt_serve(&g, "srv", 0, 30);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		uint32_t n = htonl((uint32_t)hostile[i].len);

		gt_connect(&a, g.port);
		if (hostile[i].after_welcome) {
			gt_send_hello(&a, tok, GW_PROTO_VERSION);
			ck_assert_int_eq(gt_pump(&a, 1, 5000), 1);
			ck_assert_str_eq(a.type[0], "welcome");
		}
		if (!hostile[i].raw)
			ck_assert_int_eq(gw_conn_send(&a.c, (const uint8_t *)&n, 4), 0);
		ck_assert_int_eq(gw_conn_send(&a.c, (const uint8_t *)hostile[i].bytes, hostile[i].len), 0);
		gt_pump(&a, 16, 3000);
		ck_assert_msg(!a.open, "case '%s': session still open", hostile[i].name);
		gt_close(&a);
		ck_assert_msg(waitpid(g.p.pid, NULL, WNOHANG) == 0, "gateway died on '%s'", hostile[i].name);
	}
	/* plain TCP garbage instead of TLS */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g.port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char buf[64];
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	/* and a proper worker is still served */
	gt_connect(&ok, g.port);
	gt_send_hello(&ok, tok, GW_PROTO_VERSION);
	ck_assert_int_eq(gt_pump(&ok, 1, 5000), 1);
	ck_assert_str_eq(ok.type[0], "welcome");
	gt_close(&ok);
	log = gt_stop(&g);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		ck_assert_msg(strstr(log, hostile[i].why), "case '%s': no '%s' in the log:\n%s", hostile[i].name,
			      hostile[i].why, log);
	free(log);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("gw-session");
	TCase *tc = tcase_create("gateway");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cli_token_lifecycle);
	tcase_add_test(tc, session_token_lifecycle);
	tcase_add_test(tc, heartbeat_timeout_marks_offline);
	tcase_add_test(tc, metrics_are_stored_once_and_acked);
	tcase_add_test(tc, hostile_frames_close_only_their_session);
	tcase_add_test(tc, dataplane_samples_stored_or_left_out);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(session_suite());
}
