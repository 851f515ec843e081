/* Helpers for the gateway tests: a throw-away PKI made with the openssl command line, the real gateway binary
 * (CLI and serve), and a small blocking TLS client built on the same gw_conn both programs use. */
#ifndef CM_TEST_GWTEST_H
#define CM_TEST_GWTEST_H

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <check.h>

#include "gateway/gateway.h"
#include "testutil.h"

static char gt_dir[64];
static const char *gt_heartbeat = "1"; /* serve --heartbeat */
static const char *gt_lost_after;       /* serve --lost-after, when set */

static inline const char *gt_gateway_bin(void)
{
	const char *b = getenv("CALLMETER_GATEWAY_BIN");
	return b ? b : "build/callmeter-gateway";
}

static inline const char *gt_worker_bin(void)
{
	const char *b = getenv("CALLMETER_WORKER_BIN");
	return b ? b : "build/callmeter-worker";
}

static inline int gt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int gt_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* ca.pem/srv.pem/srv.key (trusted, names localhost + 127.0.0.1), rogue.pem/rogue.key (self-signed, same
 * names), wrongname.pem/.key (trusted CA, name other.example only). */
static inline void gt_make_pki(void)
{
	snprintf(gt_dir, sizeof(gt_dir), "/tmp/cm-gwtest-XXXXXX");
	if (!mkdtemp(gt_dir))
		abort();
	ck_assert_int_eq(gt_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 "
			       "-subj /CN=callmeter-test-ca >/dev/null 2>&1 && "
			       "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > good.ext && "
			       "printf 'subjectAltName=DNS:other.example\\n' > wrong.ext && "
			       "for n in srv wrongname; do openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $n.key -out $n.csr "
			       "-subj /CN=gateway >/dev/null 2>&1 || exit 1; done && "
			       "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 "
			       "-extfile good.ext >/dev/null 2>&1 && "
			       "openssl x509 -req -in wrongname.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out wrongname.pem "
			       "-days 2 -extfile wrong.ext >/dev/null 2>&1 && "
			       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout rogue.key -out rogue.pem -days 2 "
			       "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
			       gt_dir),
			 0);
}

static inline void gt_rm_pki(void)
{
	gt_sh("rm -rf %s", gt_dir);
}

/* Runs `callmeter-gateway ARGS --db DIR/g.db`; stdout into out; returns the exit status. */
static inline int gt_cli(char *out, size_t len, const char *args)
{
	char cmd[1024];
	FILE *p;
	size_t n = 0;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s %s --db %s/g.db 2>/dev/null", gt_gateway_bin(), args, gt_dir);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (out) {
		n = fread(out, 1, len - 1, p);
		out[n] = '\0';
		while (n && out[n - 1] == '\n')
			out[--n] = '\0';
	} else {
		char sink[4096];
		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static inline void gt_create(const char *name, char token[GW_TOKEN_LEN + 1])
{
	char args[128];

	snprintf(args, sizeof(args), "worker create %s", name);
	ck_assert_int_eq(gt_cli(token, GW_TOKEN_LEN + 1, args), 0);
	ck_assert_uint_eq(strlen(token), GW_TOKEN_LEN);
}

/* The status column of `worker list` for one worker. */
static inline void gt_status(const char *name, char *status, size_t len)
{
	char out[8192], *line;

	status[0] = '\0';
	ck_assert_int_eq(gt_cli(out, sizeof(out), "worker list"), 0);
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char n[128], s[32];
		if (sscanf(line, "%127s %31s", n, s) == 2 && strcmp(n, name) == 0) {
			snprintf(status, len, "%s", s);
			return;
		}
	}
}

static inline bool gt_wait_status(const char *name, const char *want, int timeout_ms)
{
	char st[32];

	for (int t = 0; t <= timeout_ms; t += 100) {
		gt_status(name, st, sizeof(st));
		if (strcmp(st, want) == 0)
			return true;
		usleep(100000);
	}
	return false;
}

struct gt_gateway {
	struct tu_proc p;
	unsigned port;
};

static inline void gt_wait_port(unsigned port)
{
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (rc == 0)
			return;
		usleep(25000);
	}
	ck_abort_msg("gateway did not listen on %u", port);
}

/* serve with certificate NAME.pem/NAME.key, heartbeat 1 s, timeout_s. */
static inline void gt_serve(struct gt_gateway *g, const char *cert, unsigned port, unsigned timeout_s)
{
	static char a[8][160];
	char *argv[20];
	char *env[] = { "LOG_FORMAT=pretty", "LOG_LEVEL=debug", NULL };
	int n = 0;

	g->port = port ? port : tu_free_port();
	argv[n++] = (char *)gt_gateway_bin();
	argv[n++] = "serve";
	snprintf(a[0], sizeof(a[0]), "%s/%s.pem", gt_dir, cert);
	snprintf(a[1], sizeof(a[1]), "%s/%s.key", gt_dir, cert);
	snprintf(a[2], sizeof(a[2]), "127.0.0.1:%u", g->port);
	snprintf(a[3], sizeof(a[3]), "%s/g.db", gt_dir);
	snprintf(a[4], sizeof(a[4]), "%u", timeout_s);
	argv[n++] = "--cert"; argv[n++] = a[0];
	argv[n++] = "--key"; argv[n++] = a[1];
	argv[n++] = "--listen"; argv[n++] = a[2];
	argv[n++] = "--db"; argv[n++] = a[3];
	argv[n++] = "--heartbeat"; argv[n++] = (char *)gt_heartbeat;
	argv[n++] = "--heartbeat-timeout"; argv[n++] = a[4];
	if (gt_lost_after) {
		argv[n++] = "--lost-after";
		argv[n++] = (char *)gt_lost_after;
	}
	argv[n] = NULL;
	tu_spawn(&g->p, argv, env);
	gt_wait_port(g->port);
}

/* Stops the gateway (SIGTERM), checks it exits 0; returns its log (caller frees). */
static inline char *gt_stop(struct gt_gateway *g)
{
	char *out;

	kill(g->p.pid, SIGTERM);
	ck_assert_int_eq(tu_wait(&g->p, 10000), 0);
	out = tu_output(&g->p);
	unlink(g->p.out);
	return out;
}

/* ---- a blocking test client over gw_conn ---------------------------------------------------------------- */

struct gt_client {
	SSL_CTX *ctx;
	struct gw_conn c;
	bool open;
	int nmsg;
	char type[16][GW_PROTO_TYPE_MAX + 1];
	char code[16][64];
	uint64_t seq[16];
	uint64_t part[16], first[16], count[16];
	char role[16][16];
	char run_id[16][GW_RUN_ID_MAX];
	char why[256];
};

static inline int gt_client_cb(void *arg, struct gw_msg *m)
{
	struct gt_client *t = arg;

	if (t->nmsg < 16) {
		snprintf(t->type[t->nmsg], sizeof(t->type[0]), "%s", m->t);
		t->code[t->nmsg][0] = '\0';
		if (gw_msg_str(m, "code", t->code[t->nmsg], sizeof(t->code[0])) < 0)
			gw_msg_str(m, "error", t->code[t->nmsg], sizeof(t->code[0]));
		t->seq[t->nmsg] = 0;
		gw_msg_u64(m, "seq", &t->seq[t->nmsg]);
		t->part[t->nmsg] = 0;
		gw_msg_u64(m, "part", &t->part[t->nmsg]);
		t->role[t->nmsg][0] = t->run_id[t->nmsg][0] = '\0';
		gw_msg_str(m, "role", t->role[t->nmsg], sizeof(t->role[0]));
		gw_msg_str(m, "run_id", t->run_id[t->nmsg], sizeof(t->run_id[0]));
		{
			const msgpack_object *ep = gw_obj_get(m->map, "endpoints");
			if (ep && ep->type == MSGPACK_OBJECT_ARRAY && ep->via.array.size == 2) {
				t->first[t->nmsg] = ep->via.array.ptr[0].via.u64;
				t->count[t->nmsg] = ep->via.array.ptr[1].via.u64;
			}
		}
		t->nmsg++;
	}
	return 0;
}

static inline void gt_connect(struct gt_client *t, unsigned port)
{
	char err[256], ca[128];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd;

	memset(t, 0, sizeof(*t));
	snprintf(ca, sizeof(ca), "%s/ca.pem", gt_dir);
	t->ctx = gw_tls_client_ctx(ca, err, sizeof(err));
	ck_assert_msg(t->ctx, "%s", err);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ck_assert_int_eq(gw_conn_init(&t->c, t->ctx, fd, false, "localhost"), 0);
	t->open = true;
}

/* Drives the connection until n messages have arrived in all, it closes, or timeout_ms pass.  Returns the
 * message count; t->open tells whether the peer is still there. */
static inline int gt_pump(struct gt_client *t, int n, int timeout_ms)
{
	uint64_t end = cm_now_ms() + (uint64_t)timeout_ms;

	while (t->open && t->nmsg < n && cm_now_ms() < end) {
		struct pollfd p = { .fd = t->c.fd, .events = POLLIN };
		int rc;

		if (gw_conn_wanted(&t->c) & EPOLLOUT)
			p.events |= POLLOUT;
		poll(&p, 1, 50);
		rc = gw_conn_io(&t->c, gt_client_cb, t, t->why, sizeof(t->why));
		if (rc != 0)
			t->open = false;
	}
	return t->nmsg;
}

/* What a simulated worker says its flow table holds: more than any test configures at the gateway. */
#define GT_SIM_CAPACITY 1000000u

static inline void gt_send_hello(struct gt_client *t, const char *token, uint64_t version)
{
	struct gw_enc e;

	ck_assert_int_eq(gw_enc_start(&e, GW_MSG_HELLO, 4), 0);
	gw_enc_str(&e, "token", token);
	gw_enc_str(&e, "name", "sim");
	gw_enc_u64(&e, "version", version);
	gw_enc_u64(&e, "capacity", GT_SIM_CAPACITY);
	ck_assert_int_eq(gw_conn_send_enc(&t->c, &e), 0);
}

static inline void gt_send_heartbeat(struct gt_client *t, const char *status)
{
	struct gw_enc e;

	ck_assert_int_eq(gw_enc_start(&e, GW_MSG_HEARTBEAT, 3), 0);
	gw_enc_str(&e, "status", status);
	gw_enc_u64(&e, "active_endpoints", 0);
	gw_enc_u64(&e, "capacity", GT_SIM_CAPACITY);
	ck_assert_int_eq(gw_conn_send_enc(&t->c, &e), 0);
}

/* A worker's dataplane sample (docs/results.md) for second t: every stored column of `second` is 10 * (i + 1) + seed
 * (GW_DP_COLUMNS order), one xstat.  broken (GT_DP_*) spoils it one way. */
enum { GT_DP_OK, GT_DP_STRING_COUNTER, GT_DP_NO_SECOND, GT_DP_WRONG_KIND, GT_DP_NESTED_XSTAT, GT_DP_NEGATIVE_T,
       GT_DP_NO_PACING, GT_DP_NOT_A_MAP, GT_DP__COUNT };
static inline void gt_pack_dp(msgpack_packer *pk, uint64_t t, uint64_t seed, int broken)
{
	if (broken == GT_DP_NOT_A_MAP) {
		msgpack_pack_array(pk, 1);
		msgpack_pack_uint64(pk, t);
		return;
	}
	msgpack_pack_map(pk, broken == GT_DP_NO_SECOND ? 7 : 8);
	msgpack_pack_str_with_body(pk, "kind", 4);
	if (broken == GT_DP_WRONG_KIND)
		msgpack_pack_str_with_body(pk, "endpoint", 8);
	else
		msgpack_pack_str_with_body(pk, "dataplane", 9);
	msgpack_pack_str_with_body(pk, "v", 1);
	msgpack_pack_uint64(pk, 1);
	msgpack_pack_str_with_body(pk, "t", 1);
	if (broken == GT_DP_NEGATIVE_T)
		msgpack_pack_int64(pk, -1);
	else
		msgpack_pack_uint64(pk, t);
	msgpack_pack_str_with_body(pk, "ms", 2);
	msgpack_pack_uint64(pk, 1000);
	if (broken != GT_DP_NO_SECOND) {
		unsigned n = GW_DP_NCOLS - (broken == GT_DP_NO_PACING ? 1 : 0);

		msgpack_pack_str_with_body(pk, "second", 6);
		msgpack_pack_map(pk, n);
		for (unsigned i = 0; i < n; i++) {
			const char *k = gw_dp_column_name(i);

			msgpack_pack_str_with_body(pk, k, strlen(k));
			if (broken == GT_DP_STRING_COUNTER && i == 4)
				msgpack_pack_str_with_body(pk, "many", 4);
			else
				msgpack_pack_uint64(pk, 10 * (i + 1) + seed);
		}
	}
	msgpack_pack_str_with_body(pk, "total", 5);
	msgpack_pack_map(pk, 4);
	msgpack_pack_str_with_body(pk, "tx_packets", 10);
	msgpack_pack_uint64(pk, 90 * t + seed);
	msgpack_pack_str_with_body(pk, "tx_pacing_p50_ns", 16);
	msgpack_pack_uint64(pk, 100);
	msgpack_pack_str_with_body(pk, "tx_pacing_p99_ns", 16);
	msgpack_pack_uint64(pk, 900);
	msgpack_pack_str_with_body(pk, "tx_pacing_max_ns", 16);
	msgpack_pack_uint64(pk, 1200);
	msgpack_pack_str_with_body(pk, "xstats", 6);
	msgpack_pack_map(pk, 1);
	msgpack_pack_str_with_body(pk, "rx_q0_errors", 12);
	if (broken == GT_DP_NESTED_XSTAT)
		msgpack_pack_map(pk, 0);
	else
		msgpack_pack_uint64(pk, 3);
	msgpack_pack_str_with_body(pk, "xstats_changed", 14);
	msgpack_pack_uint64(pk, 1);
}

static inline void gt_close(struct gt_client *t)
{
	gw_conn_close(&t->c);
	SSL_CTX_free(t->ctx);
	t->open = false;
}

#endif
