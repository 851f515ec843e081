/* The worker's side of the gateway session, through the real binaries: the TLS session and /health
 * "connected", DRAINING on SIGTERM and on `worker drain`, a rejected token's reason in the worker's log, refusal
 * of an untrusted or misnamed server certificate, a hostile gateway; and the metrics outbox (the client code the
 * worker runs, in this process) across a gateway killed and restarted: no sequence number lost. */
#include <string.h>

#include "controlplane/controlplane.h"
#include "check_main.h"
#include "gwtest.h"

static char conf_path[128];

static void setup(void)
{
	FILE *f;

	gt_make_pki();
	snprintf(conf_path, sizeof(conf_path), "%s/worker.conf", gt_dir);
	f = fopen(conf_path, "w");
	fprintf(f, "[worker]\nreconnect_min_ms = 100\nreconnect_max_ms = 400\n");
	fclose(f);
}

static void teardown(void)
{
	gt_rm_pki();
}

struct gt_worker {
	struct tu_proc p;
	unsigned health;
};

static void worker_start_env(struct gt_worker *w, const char *token, unsigned gw_port, const char *host,
			     const char *extra)
{
	static char e[7][256];
	char *env[] = { e[0], e[1], e[2], e[3], e[4], "LOG_FORMAT=pretty", e[5], extra ? e[6] : NULL, NULL };
	char *argv[] = { (char *)gt_worker_bin(), "--config", conf_path, NULL };

	w->health = tu_free_port();
	snprintf(e[0], sizeof(e[0]), "WORKER_TOKEN=%s", token);
	snprintf(e[1], sizeof(e[1]), "CLOUD_URL=%s:%u", host, gw_port);
	snprintf(e[2], sizeof(e[2]), "CALLMETER_CA_FILE=%s/ca.pem", gt_dir);
	snprintf(e[3], sizeof(e[3]), "HEALTH_PORT=%u", w->health);
	snprintf(e[4], sizeof(e[4]), "WORKER_NAME=unit-w");
	snprintf(e[5], sizeof(e[5]), "LOG_LEVEL=info");
	snprintf(e[6], sizeof(e[6]), "%s", extra ? extra : "");
	tu_spawn(&w->p, argv, env);
}

static void worker_start(struct gt_worker *w, const char *token, unsigned gw_port, const char *host)
{
	worker_start_env(w, token, gw_port, host, NULL);
}

/* Polls /health until its body contains want (or the worker dies / timeout); the last body in body. */
static bool health_has(struct gt_worker *w, const char *want, char *body, size_t len, int timeout_ms)
{
	for (int t = 0; t <= timeout_ms; t += 100) {
		if (tu_http("GET", w->health, "/health", body, len) == 200 && strstr(body, want))
			return true;
		if (waitpid(w->p.pid, NULL, WNOHANG) == w->p.pid)
			return false;
		usleep(100000);
	}
	return false;
}

static char *worker_stop(struct gt_worker *w, int sig, int want_rc)
{
	char *out;

	if (sig)
		kill(w->p.pid, sig);
	ck_assert_int_eq(tu_wait(&w->p, 15000), want_rc);
	out = tu_output(&w->p);
	unlink(w->p.out);
	return out;
}

START_TEST(session_health_and_sigterm_drain)
{
	char tok[GW_TOKEN_LEN + 1], body[4096], *wlog, *glog;
	struct gt_gateway g;
	struct gt_worker w;

	gt_create("w1", tok);
	gt_serve(&g, "srv", 0, 30);
	worker_start(&w, tok, g.port, "localhost");
	ck_assert_msg(health_has(&w, "\"connected\":true", body, sizeof(body), 15000), "%s", body);
	ck_assert_msg(strstr(body, "\"status\":\"ONLINE\",\"connected\":true"), "%s", body);
	ck_assert(gt_wait_status("w1", "ONLINE", 3000));
	/* SIGTERM: DRAINING reaches the gateway before the worker leaves */
	wlog = worker_stop(&w, SIGTERM, 0);
	ck_assert_msg(strstr(wlog, "session up with gateway localhost:"), "%s", wlog);
	ck_assert_msg(strstr(wlog, "draining (SIGTERM)"), "%s", wlog);
	ck_assert_msg(strstr(wlog, "stopped cleanly"), "%s", wlog);
	ck_assert_msg(!strstr(wlog, tok + 4), "token in the worker log");
	ck_assert(gt_wait_status("w1", "OFFLINE", 3000));
	glog = gt_stop(&g);
	ck_assert_msg(strstr(glog, "worker 'w1' ONLINE -> DRAINING"), "%s", glog);
	ck_assert_msg(strstr(glog, "worker 'w1' DRAINING -> OFFLINE"), "%s", glog);
	free(wlog);
	free(glog);
}
END_TEST

START_TEST(drain_from_the_gateway)
{
	char tok[GW_TOKEN_LEN + 1], body[4096], out[4096], *wlog, *glog;
	struct gt_gateway g;
	struct gt_worker w;

	gt_create("w2", tok);
	gt_serve(&g, "srv", 0, 30);
	worker_start(&w, tok, g.port, "127.0.0.1");
	ck_assert_msg(health_has(&w, "\"connected\":true", body, sizeof(body), 15000), "%s", body);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker drain w2"), 0);
	wlog = worker_stop(&w, 0, 0); /* it exits by itself: nothing in hand */
	ck_assert_msg(strstr(wlog, "draining (asked by the gateway)"), "%s", wlog);
	glog = gt_stop(&g);
	ck_assert_msg(strstr(glog, "drain sent to worker 'w2'"), "%s", glog);
	ck_assert_msg(strstr(glog, "worker 'w2' ONLINE -> DRAINING"), "%s", glog);
	/* delivered: no longer pending */
	ck_assert_int_eq(gt_cli(out, sizeof(out), "worker list"), 0);
	ck_assert_msg(!strstr(out, "drain-pending"), "%s", out);
	free(wlog);
	free(glog);
}
END_TEST

START_TEST(rejected_token_reason_is_logged)
{
	char tok[GW_TOKEN_LEN + 1], tok2[GW_TOKEN_LEN + 1], body[4096], *wlog;
	struct gt_gateway g;
	struct gt_worker w;

	gt_create("w3", tok);
	ck_assert_int_eq(gt_cli(tok2, sizeof(tok2), "worker regenerate w3"), 0);
	gt_serve(&g, "srv", 0, 30);
	worker_start(&w, tok, g.port, "localhost");
	ck_assert_msg(health_has(&w, "rejected (revoked)", body, sizeof(body), 15000), "%s", body);
	ck_assert_msg(strstr(body, "\"status\":\"OFFLINE\",\"connected\":false"), "%s", body);
	wlog = worker_stop(&w, SIGINT, 0);
	ck_assert_msg(strstr(wlog, "gateway rejected this worker (revoked): revoked worker token"), "%s", wlog);
	free(wlog);
	free(gt_stop(&g));
}
END_TEST

static void refuses(const char *cert, const char *host, const char *why)
{
	char tok[GW_TOKEN_LEN + 1], body[4096], *wlog, *glog;
	struct gt_gateway g;
	struct gt_worker w;

	gt_create("w4", tok);
	gt_serve(&g, cert, 0, 30);
	worker_start(&w, tok, g.port, host);
	ck_assert_msg(health_has(&w, "server certificate not trusted", body, sizeof(body), 15000), "%s", body);
	ck_assert_msg(strstr(body, "\"connected\":false"), "%s", body);
	ck_assert_msg(strstr(body, why), "%s", body);
	wlog = worker_stop(&w, SIGTERM, 0);
	ck_assert_msg(strstr(wlog, "refusing gateway"), "%s", wlog);
	glog = gt_stop(&g);
	ck_assert_msg(!strstr(glog, "connected from"), "a hello reached the gateway:\n%s", glog);
	free(wlog);
	free(glog);
	ck_assert_int_eq(gt_cli(NULL, 0, "worker delete w4"), 0);
}

START_TEST(untrusted_or_misnamed_certificate_is_refused)
{
	refuses("rogue", "localhost", "self-signed certificate");
	refuses("wrongname", "localhost", "hostname mismatch");
	refuses("wrongname", "127.0.0.1", "IP address mismatch"); /* the right CA, not issued for this address */
}
END_TEST

/* A gateway that answers the hello with hostile frames: the worker logs a protocol error, keeps running,
 * reconnects, and never reports itself connected. */
START_TEST(hostile_gateway_does_not_crash_the_worker)
{
	static const struct {
		const char *bytes;
		size_t len;
		bool raw;
		const char *why;
		bool welcome; /* sent after a proper welcome: run messages with missing or mistyped fields */
		bool refused; /* a well-formed assignment the worker refuses (a "refuse" back, the session kept) */
	} cases[] = {
#define B(s) s, sizeof(s) - 1
		{ B("\x00\x10\x00\x01"), true, "frame longer than", false, false },
		{ B("\xc1\xc1\xc1\xc1"), false, "not a msgpack map", false, false },
		{ B("\xdf\xff\xff\xff\xff\xa1t\xa1h"), false, "longer than the frame", false, false },
		{ B("\x81\xa1t\xa7welcome"), false, "bad 'welcome' message", false, false },
		{ B("\x81\xa1t\xa3" "ack"), false, "bad 'ack' message", false, false },
		{ B("\x83\xa1t\xa6" "assign\xa6run_id\xa1r\xa4part\x01"), false, "bad 'assign' message", true, false },
		{ B("\x83\xa1t\xa5start\xa6run_id\xa1r\xa7targets\x91\x92\xa1g\x01"), false, "bad 'start' message", true, false },
		{ B("\x82\xa1t\xa7release\xa6run_id\x07"), false, "bad 'release' message", true, false },
		{ B("\x86\xa1t\xa6" "assign\xa6run_id\xa1r\xa4part\x00\xa5group\xa1" "a\xa4plan\xbb[group a]\nendpoints = "
		    "1\n\0x\n\xa9" "endpoints\x92\x00\x01"), false, "refusing run 'r' part 0: bad plan: a NUL byte", true,
		  true },
#undef B
	};
	static const char welcome[] = "\x83\xa1t\xa7welcome\xa9worker_id\x01\xabheartbeat_s\x05";
	const char *refusals = NULL;
	char tok[GW_TOKEN_LEN + 1] = "cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char err[256], cert[128], key[128], body[4096], *wlog;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct gt_worker w;
	SSL_CTX *ctx;
	int lfd;

	snprintf(cert, sizeof(cert), "%s/srv.pem", gt_dir);
	snprintf(key, sizeof(key), "%s/srv.key", gt_dir);
	ctx = gw_tls_server_ctx(cert, key, err, sizeof(err));
	ck_assert_msg(ctx, "%s", err);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	worker_start(&w, tok, ntohs(sa.sin_port), "localhost");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gt_client t;
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int fd;

		ck_assert_int_eq(poll(&p, 1, 15000), 1);
		fd = accept(lfd, NULL, NULL);
		memset(&t, 0, sizeof(t));
		fcntl(fd, F_SETFL, O_NONBLOCK);
		ck_assert_int_eq(gw_conn_init(&t.c, ctx, fd, true, NULL), 0);
		t.open = true;
		ck_assert_int_eq(gt_pump(&t, 1, 10000), 1);
		ck_assert_str_eq(t.type[0], "hello");
		if (cases[i].welcome) {
			uint32_t n = htonl((uint32_t)sizeof(welcome) - 1);
			ck_assert_int_eq(gw_conn_send(&t.c, (const uint8_t *)&n, 4), 0);
			ck_assert_int_eq(gw_conn_send(&t.c, (const uint8_t *)welcome, sizeof(welcome) - 1), 0);
		}
		if (!cases[i].raw) {
			uint32_t n = htonl((uint32_t)cases[i].len);
			ck_assert_int_eq(gw_conn_send(&t.c, (const uint8_t *)&n, 4), 0);
		}
		ck_assert_int_eq(gw_conn_send(&t.c, (const uint8_t *)cases[i].bytes, cases[i].len), 0);
		if (cases[i].refused) {
			bool refused = false;
			uint64_t t0 = cm_now_ms();

			while (!refused && t.open && t.nmsg < 16 && cm_now_ms() - t0 < 5000) {
				gt_pump(&t, t.nmsg + 1, 500);
				for (int k = 0; k < t.nmsg; k++)
					refused |= strcmp(t.type[k], "refuse") == 0;
			}
			ck_assert_msg(refused && t.open, "case %zu: no refusal, or the session closed", i);
			gw_conn_close(&t.c);
			refusals = cases[i].why;
			continue;
		}
		gt_pump(&t, 16, 5000);
		ck_assert_msg(!t.open, "case %zu: worker kept the session", i);
		gw_conn_close(&t.c);
		ck_assert_msg(health_has(&w, cases[i].why, body, sizeof(body), 5000), "case %zu: %s", i, body);
		ck_assert_msg(strstr(body, "\"connected\":false"), "%s", body);
	}
	wlog = worker_stop(&w, SIGTERM, 0);
	ck_assert_msg(strstr(wlog, "stopped cleanly"), "%s", wlog);
	ck_assert_msg(refusals && strstr(wlog, refusals), "%s", wlog);
	free(wlog);
	close(lfd);
	SSL_CTX_free(ctx);
}
END_TEST

/* ---- HTTPS_PROXY ----------------------------------------------------------------------------------------- */

/* A minimal CONNECT proxy in a child process: one tunnel at a time; logs each request head to a file; with
 * deny, answers 407 instead. */
static pid_t start_proxy(unsigned *port, const char *log, bool deny)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.sin_port);
	pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	for (;;) {
		char head[4096], host[256];
		size_t n = 0;
		unsigned tport = 0;
		int c = accept(lfd, NULL, NULL), u;
		FILE *f;

		if (c < 0)
			_exit(1);
		while (n < sizeof(head) - 1 && read(c, head + n, 1) == 1) {
			n++;
			if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
				break;
		}
		head[n] = '\0';
		f = fopen(log, "a");
		fputs(head, f);
		fclose(f);
		if (deny || sscanf(head, "CONNECT %255[^:]:%u ", host, &tport) != 2) {
			const char *r = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
			if (write(c, r, strlen(r)) < 0)
				_exit(1);
			close(c);
			continue;
		}
		sa.sin_port = htons((uint16_t)tport);
		u = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(u, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(c);
			close(u);
			continue;
		}
		if (write(c, "HTTP/1.1 200 Connection established\r\n\r\n", 39) != 39)
			_exit(1);
		for (;;) {
			struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = u, .events = POLLIN } };
			char buf[16384];
			ssize_t r;

			if (poll(p, 2, -1) < 0)
				break;
			if (p[0].revents) {
				r = read(c, buf, sizeof(buf));
				if (r <= 0 || write(u, buf, (size_t)r) != r)
					break;
			}
			if (p[1].revents) {
				r = read(u, buf, sizeof(buf));
				if (r <= 0 || write(c, buf, (size_t)r) != r)
					break;
			}
		}
		close(c);
		close(u);
	}
}

START_TEST(through_an_https_proxy)
{
	char tok[GW_TOKEN_LEN + 1], body[4096], env[256], log[160], want[128], *wlog, *plog;
	struct gt_gateway g;
	struct gt_worker w;
	struct tu_proc pl = { 0 };
	unsigned pport;
	pid_t proxy;

	gt_create("px", tok);
	gt_serve(&g, "srv", 0, 30);
	snprintf(log, sizeof(log), "%s/proxy.log", gt_dir);
	proxy = start_proxy(&pport, log, false);
	snprintf(env, sizeof(env), "HTTPS_PROXY=http://alice:s3cret@127.0.0.1:%u", pport);
	worker_start_env(&w, tok, g.port, "localhost", env);
	ck_assert_msg(health_has(&w, "\"connected\":true", body, sizeof(body), 15000), "%s", body);
	wlog = worker_stop(&w, SIGTERM, 0);
	ck_assert_msg(strstr(wlog, "through proxy 127.0.0.1:"), "%s", wlog);
	ck_assert_msg(!strstr(wlog, "s3cret"), "proxy password in the log");
	free(wlog);
	kill(proxy, SIGKILL);
	waitpid(proxy, NULL, 0);
	ck_assert_int_eq(cm_strlcpy(pl.out, log, sizeof(pl.out)), 0);
	plog = tu_output(&pl);
	snprintf(want, sizeof(want), "CONNECT localhost:%u HTTP/1.1\r\nHost: localhost:%u\r\n", g.port, g.port);
	ck_assert_msg(strstr(plog, want), "%s", plog);
	ck_assert_msg(strstr(plog, "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"), "%s", plog); /* alice:s3cret */
	free(plog);
	{
		char *glog = gt_stop(&g);
		ck_assert_msg(strstr(glog, "worker 'px' (id 1) connected from 127.0.0.1:"), "%s", glog);
		free(glog);
	}

	/* a proxy that says no: its status line is the reason */
	proxy = start_proxy(&pport, log, true);
	snprintf(env, sizeof(env), "https_proxy=127.0.0.1:%u", pport);
	worker_start_env(&w, tok, 443, "gw.invalid", env);
	ck_assert_msg(health_has(&w, "refused CONNECT: HTTP/1.1 407 Proxy Authentication Required", body, sizeof(body),
				 15000), "%s", body);
	free(worker_stop(&w, SIGTERM, 0));
	kill(proxy, SIGKILL);
	waitpid(proxy, NULL, 0);
}
END_TEST

/* ---- metrics across a gateway restart ---------------------------------------------------------------- */

static void run_loop_until(struct cp_loop *loop, bool (*done)(void *), void *arg, int timeout_ms)
{
	uint64_t end = cm_now_ms() + (uint64_t)timeout_ms;

	while (!done(arg) && cm_now_ms() < end)
		cp_loop_run_once(loop, 50);
}

static bool is_connected(void *arg)
{
	return ((struct cp_state *)arg)->gateway_connected;
}

static bool is_disconnected(void *arg)
{
	return !((struct cp_state *)arg)->gateway_connected;
}

static bool all_acked(void *arg)
{
	struct cp_gateway_stats s;

	cp_gateway_stats(arg, &s);
	return s.pending == 0;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void push_frames(struct cp_gateway *gw, uint64_t *t, int n)
{
	for (int i = 0; i < n; i++) {
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 5);
		for (int k = 0; k < 5; k++) {
			msgpack_pack_map(&pk, 3);
			msgpack_pack_str_with_body(&pk, "endpoint", 8);
			msgpack_pack_uint32(&pk, (uint32_t)k);
			msgpack_pack_str_with_body(&pk, "mos", 3);
			msgpack_pack_double(&pk, 4.1);
			msgpack_pack_str_with_body(&pk, "packets_received", 16);
			msgpack_pack_uint32(&pk, 50);
		}
		ck_assert_int_eq(cp_gateway_metrics(gw, "run-restart", 0, (*t)++, sb.data, sb.size, NULL, 0), 0);
		msgpack_sbuffer_destroy(&sb);
	}
}

START_TEST(metrics_survive_a_gateway_restart)
{
	char tok[GW_TOKEN_LEN + 1], err[256], path[128];
	struct cfg_worker cfg;
	struct cp_state st = { .name = "sim", .daemon_mode = true, .dataplane_ok = true };
	struct cp_gateway_stats s;
	struct gt_gateway g;
	struct cp_loop *loop = cp_loop_new();
	struct cp_gateway *gw;
	struct gw_store *store;
	uint64_t t = 1700000000, frames, lo, hi, samples;
	unsigned port;

	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	signal(SIGPIPE, SIG_IGN); /* as in both programs: a write to a dropped peer is an error, not a signal */
	gt_create("m1", tok);
	gt_serve(&g, "srv", 0, 30);
	port = g.port;
	cfg_worker_defaults(&cfg);
	cm_strlcpy(cfg.token, tok, sizeof(cfg.token));
	cm_strlcpy(cfg.cloud_host, "127.0.0.1", sizeof(cfg.cloud_host));
	cfg.cloud_port = (uint16_t)port;
	snprintf(cfg.ca_file, sizeof(cfg.ca_file), "%s/ca.pem", gt_dir);
	cfg.reconnect_min_ms = 100;
	cfg.reconnect_max_ms = 400;
	gw = cp_gateway_start(loop, &cfg, &st);
	ck_assert(gw);
	cp_gateway_outbox_limit(gw, 8 * 1024); /* small, so the outage spills to the file */
	run_loop_until(loop, is_connected, &st, 10000);
	ck_assert(st.gateway_connected);

	/* 200 frames while up, the gateway killed without warning with frames in flight, 300 more while it is
	 * away, then restarted on the same port and 100 more */
	push_frames(gw, &t, 150);
	run_loop_until(loop, never, NULL, 200);
	push_frames(gw, &t, 50);
	kill(g.p.pid, SIGKILL);
	tu_wait(&g.p, 5000);
	unlink(g.p.out);
	run_loop_until(loop, is_disconnected, &st, 5000);
	ck_assert(!st.gateway_connected);
	push_frames(gw, &t, 300);
	run_loop_until(loop, never, NULL, 500);
	cp_gateway_stats(gw, &s);
	ck_assert_uint_gt(s.spilled, 0);
	ck_assert_uint_le(s.in_memory_bytes, 8 * 1024);
	gt_serve(&g, "srv", port, 30);
	push_frames(gw, &t, 100);
	run_loop_until(loop, all_acked, gw, 20000);
	cp_gateway_stats(gw, &s);
	ck_assert_msg(s.pending == 0, "%llu frames never acknowledged", (unsigned long long)s.pending);
	ck_assert_uint_eq(s.queued, 600);
	ck_assert_uint_eq(s.acked, 600);
	cp_gateway_stop(gw);
	cp_loop_free(loop);
	free(gt_stop(&g));

	snprintf(path, sizeof(path), "%s/g.db", gt_dir);
	store = gw_store_open(path, err, sizeof(err));
	ck_assert_msg(store, "%s", err);
	ck_assert_int_eq(gw_store_metrics_stat(store, "run-restart", &frames, &lo, &hi, &samples), 0);
	gw_store_close(store);
	ck_assert_uint_eq(frames, 600); /* with lo == 1 and hi == 600: every sequence number, none twice */
	ck_assert_uint_eq(lo, 1);
	ck_assert_uint_eq(hi, 600);
	ck_assert_uint_eq(samples, 3000);
}
END_TEST

/* ERROR while a health check fails (the dataplane port down), with the reason, and back to ONLINE. */
START_TEST(error_status_follows_worker_health)
{
	char tok[GW_TOKEN_LEN + 1], out[8192];
	struct cfg_worker cfg;
	struct cp_state st = { .name = "sim", .daemon_mode = true, .dataplane_ok = false };
	struct gt_gateway g;
	struct cp_loop *loop = cp_loop_new();
	struct cp_gateway *gw;

	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	signal(SIGPIPE, SIG_IGN);
	snprintf(st.error, sizeof(st.error), "dataplane port link down");
	gt_create("e1", tok);
	gt_heartbeat = "20"; /* the recovery must be told at once, not at the next heartbeat */
	gt_serve(&g, "srv", 0, 60);
	cfg_worker_defaults(&cfg);
	cm_strlcpy(cfg.token, tok, sizeof(cfg.token));
	cm_strlcpy(cfg.cloud_host, "localhost", sizeof(cfg.cloud_host));
	cfg.cloud_port = (uint16_t)g.port;
	snprintf(cfg.ca_file, sizeof(cfg.ca_file), "%s/ca.pem", gt_dir);
	gw = cp_gateway_start(loop, &cfg, &st);
	ck_assert(gw);
	run_loop_until(loop, is_connected, &st, 10000);
	ck_assert(st.gateway_connected);
	run_loop_until(loop, never, NULL, 1500);
	ck_assert(gt_wait_status("e1", "ERROR", 100));
	ck_assert_int_eq(gt_cli(out, sizeof(out), "worker list"), 0);
	ck_assert_msg(strstr(out, "last error: dataplane port link down"), "%s", out);
	st.dataplane_ok = true;
	st.error[0] = '\0';
	run_loop_until(loop, never, NULL, 2500);
	ck_assert(gt_wait_status("e1", "ONLINE", 100));
	cp_gateway_stop(gw);
	cp_loop_free(loop);
	free(gt_stop(&g));
}
END_TEST

/* The gateway's name is looked up without blocking the loop: with a DNS server that never answers, the loop keeps
 * turning (SIP and runs live on it) while the lookup waits; with one that answers, the worker connects to the
 * address it gave (proved by the TLS name check failing: the test certificate is for localhost, not gw.test). */
START_TEST(gateway_name_lookup_does_not_block)
{
	char tok[GW_TOKEN_LEN + 1], servers[32];
	struct cfg_worker cfg;
	struct cp_state st = { .name = "dns", .daemon_mode = true, .dataplane_ok = true };
	struct cp_loop *loop = cp_loop_new();
	struct cp_gateway *gw;
	struct gt_gateway g;
	struct tu_proc dns = { 0 };
	uint64_t worst = 0, end;
	uint16_t hole_port;
	int hole = tu_udp_socket(&hole_port); /* a DNS server that never answers */

	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	signal(SIGPIPE, SIG_IGN);
	gt_create("d1", tok);
	gt_serve(&g, "srv", 0, 30);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", hole_port);
	setenv("CALLMETER_DNS_SERVERS", servers, 1);
	cfg_worker_defaults(&cfg);
	cm_strlcpy(cfg.token, tok, sizeof(cfg.token));
	cm_strlcpy(cfg.cloud_host, "gw.test", sizeof(cfg.cloud_host));
	cfg.cloud_port = (uint16_t)g.port;
	snprintf(cfg.ca_file, sizeof(cfg.ca_file), "%s/ca.pem", gt_dir);
	cfg.reconnect_min_ms = 100;
	cfg.reconnect_max_ms = 200;
	gw = cp_gateway_start(loop, &cfg, &st);
	ck_assert(gw);
	end = cm_now_ms() + 1500;
	while (cm_now_ms() < end) {
		uint64_t t0 = cm_now_ms();

		cp_loop_run_once(loop, 10);
		if (cm_now_ms() - t0 > worst)
			worst = cm_now_ms() - t0;
	}
	ck_assert_msg(worst < 200, "the loop stood still for %llu ms", (unsigned long long)worst);
	ck_assert(!st.gateway_connected);
	ck_assert_uint_eq(st.gateway_attempts, 1); /* still waiting for its answer */
	cp_gateway_stop(gw);
	close(hole);

	/* dnsmasq (from deps.sh) answering gw.test with 127.0.0.1 */
	{
		char port[32], rec[64];
		unsigned dport = tu_free_port();
		char *env[] = { NULL };
		char *argv[] = { "/usr/sbin/dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
				 "--listen-address=127.0.0.1", "--bind-interfaces", port, "--user=root", rec, NULL };

		if (access(argv[0], X_OK) != 0) {
			fprintf(stderr, "dnsmasq missing: the answered lookup is not tested here\n");
		} else {
			snprintf(port, sizeof(port), "--port=%u", dport);
			snprintf(rec, sizeof(rec), "--host-record=gw.test,127.0.0.1");
			tu_spawn(&dns, argv, env);
			usleep(300000);
			snprintf(servers, sizeof(servers), "127.0.0.1:%u", dport);
			setenv("CALLMETER_DNS_SERVERS", servers, 1);
			gw = cp_gateway_start(loop, &cfg, &st);
			ck_assert(gw);
			end = cm_now_ms() + 8000;
			while (cm_now_ms() < end && !strstr(st.gateway_last_error, "certificate") &&
			       !strstr(st.gateway_last_error, "hostname"))
				cp_loop_run_once(loop, 50);
			ck_assert_msg(strstr(st.gateway_last_error, "hostname mismatch") ||
				      strstr(st.gateway_last_error, "certificate"), "last error: %s", st.gateway_last_error);
			cp_gateway_stop(gw);
			kill(dns.pid, SIGTERM);
			tu_wait(&dns, 2000);
			unlink(dns.out);
		}
	}
	unsetenv("CALLMETER_DNS_SERVERS");
	cp_loop_free(loop);
	free(gt_stop(&g));
}
END_TEST

static Suite *worker_suite(void)
{
	Suite *s = suite_create("gw-worker");
	TCase *tc = tcase_create("worker");

	tcase_set_timeout(tc, 90);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, session_health_and_sigterm_drain);
	tcase_add_test(tc, drain_from_the_gateway);
	tcase_add_test(tc, rejected_token_reason_is_logged);
	tcase_add_test(tc, untrusted_or_misnamed_certificate_is_refused);
	tcase_add_test(tc, hostile_gateway_does_not_crash_the_worker);
	tcase_add_test(tc, through_an_https_proxy);
	tcase_add_test(tc, error_status_follows_worker_health);
	tcase_add_test(tc, metrics_survive_a_gateway_restart);
	tcase_add_test(tc, gateway_name_lookup_does_not_block);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(worker_suite());
}
