/* One real callmeter-gateway, many simulated workers from this process (one epoll loop, the same gw_conn TLS
 * code the worker uses):
 *
 *   1. 2,000 sessions (TLS handshake, hello, welcome), then 10 s of heartbeats from all of them; the store must
 *      list every worker ONLINE at the end.                        → BENCH gateway_sessions <n> sessions
 *   2. metrics ingest: 200 of the sessions each keep 4 frames of 100 per-endpoint samples in flight for 5 s;
 *      a frame counts once the gateway has stored it and acked it.  → BENCH gateway_ingest <x> samples/s
 *
 * usage: bench_gateway [SESSIONS]   (the gateway binary from $CALLMETER_GATEWAY_BIN, else build/) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/gateway.h"

#define HEARTBEAT_S 5
#define HB_PHASE_MS 10000
#define INGEST_MS 5000
#define INGEST_SESSIONS 200
#define INFLIGHT 4
#define SAMPLES_PER_FRAME 100

struct sim {
	struct gw_conn c;
	int idx;
	bool up, dead;
	uint64_t next_hb_ms;
	uint32_t inflight;
	uint64_t seq;
};

static char dir[64], db[128];
static char (*tokens)[GW_TOKEN_LEN + 1];
static struct sim *sims;
static int nsims, up, dead;
static uint64_t acked_frames;
static int epfd;
static SSL_CTX *ctx;
static uint8_t *samples;
static size_t samples_len;

static int sh(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int on_msg(void *arg, struct gw_msg *m)
{
	struct sim *s = arg;

	if (m->type == GW_MSG_WELCOME) {
		s->up = true;
		up++;
	} else if (m->type == GW_MSG_ACK) {
		if (s->inflight)
			s->inflight--;
		acked_frames++;
	} else if (m->type == GW_MSG_REJECT) {
		return -EPERM;
	}
	return 0;
}

static void io(struct sim *s)
{
	char why[256];
	int rc = gw_conn_io(&s->c, on_msg, s, why, sizeof(why));
	struct epoll_event ev = { .data.ptr = s };

	if (rc != 0) {
		if (!s->dead)
			fprintf(stderr, "bench: session %d ended: %s\n", s->idx, why);
		s->dead = true;
		dead++;
		epoll_ctl(epfd, EPOLL_CTL_DEL, s->c.fd, NULL);
		gw_conn_close(&s->c);
		return;
	}
	ev.events = gw_conn_wanted(&s->c);
	if (ev.events != s->c.events) {
		s->c.events = ev.events;
		epoll_ctl(epfd, EPOLL_CTL_MOD, s->c.fd, &ev);
	}
}

static void kick(struct sim *s)
{
	if (!s->dead)
		io(s);
}

static int start_session(struct sim *s, unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = s };
	struct gw_enc e;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return -errno;
	if (gw_conn_init(&s->c, ctx, fd, false, "localhost") < 0)
		return -ENOMEM;
	gw_enc_start(&e, GW_MSG_HELLO, 4);
	gw_enc_str(&e, "token", tokens[s->idx]);
	gw_enc_str(&e, "name", "bench");
	gw_enc_u64(&e, "version", GW_PROTO_VERSION);
	gw_enc_u64(&e, "capacity", 100);
	gw_conn_send_enc(&s->c, &e);
	s->c.events = ev.events;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void poll_once(int ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(epfd, evs, 256, ms);

	for (int i = 0; i < n; i++)
		kick(evs[i].data.ptr);
}

static void heartbeat(struct sim *s)
{
	struct gw_enc e;

	gw_enc_start(&e, GW_MSG_HEARTBEAT, 2);
	gw_enc_str(&e, "status", "ONLINE");
	gw_enc_u64(&e, "active_endpoints", 0);
	gw_conn_send_enc(&s->c, &e);
	kick(s);
}

static void send_metrics(struct sim *s)
{
	struct gw_enc e;

	gw_enc_start(&e, GW_MSG_METRICS, 4);
	gw_enc_str(&e, "run_id", "bench");
	gw_enc_u64(&e, "seq", ++s->seq);
	gw_enc_u64(&e, "ts", s->seq);
	gw_enc_key(&e, "samples");
	msgpack_sbuffer_write(&e.sb, (const char *)samples, samples_len);
	if (gw_conn_send_enc(&s->c, &e) == 0)
		s->inflight++;
}

static void count_online(void *arg, const struct gw_worker *w)
{
	if (strcmp(w->status, "ONLINE") == 0)
		(*(int *)arg)++;
}

int main(int argc, char **argv)
{
	const char *gwbin = getenv("CALLMETER_GATEWAY_BIN");
	char cmd[2048], err[512], cert[160], key[160], listen_on[64], ca[160];
	struct rlimit rl;
	struct gw_store *st;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t t0, t_up, hb_sent = 0, t_ing, ing_ms;
	unsigned port;
	pid_t gw;
	int online = 0, started = 0, status;

	nsims = argc > 1 ? atoi(argv[1]) : 2000;
	if (nsims < 1)
		nsims = 2000;
	signal(SIGPIPE, SIG_IGN);
	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nsims + 64) {
		fprintf(stderr, "bench: open-file limit %llu is too low for %d sessions\n", (unsigned long long)rl.rlim_cur,
			nsims);
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/cm-bench-gw-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
		 "-out ca.pem -days 2 -subj /CN=bench-ca >/dev/null 2>&1 && openssl req -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost >/dev/null 2>&1 && "
		 "printf 'subjectAltName=DNS:localhost\\n' > ext && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
		 "-CAcreateserial -out srv.pem -days 2 -extfile ext >/dev/null 2>&1", dir);
	if (sh(cmd) != 0) {
		fprintf(stderr, "bench: cannot make certificates\n");
		return 1;
	}
	snprintf(db, sizeof(db), "%s/g.db", dir);
	st = gw_store_open(db, err, sizeof(err));
	tokens = calloc((size_t)nsims, sizeof(*tokens));
	sims = calloc((size_t)nsims, sizeof(*sims));
	if (!st || !tokens || !sims)
		return 1;
	gw_store_begin(st);
	for (int i = 0; i < nsims; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sim%05d", i);
		if (gw_store_worker_create(st, name, 1000, GW_LICENSE_ENTERPRISE, tokens[i]) < 0)
			return 1;
	}
	gw_store_commit(st);
	gw_store_close(st);

	/* one prepared samples array: per-endpoint per-second values as a worker would send them */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, SAMPLES_PER_FRAME);
	for (int i = 0; i < SAMPLES_PER_FRAME; i++) {
		msgpack_pack_map(&pk, 5);
		msgpack_pack_str_with_body(&pk, "endpoint", 8);
		msgpack_pack_uint32(&pk, (uint32_t)i);
		msgpack_pack_str_with_body(&pk, "mos", 3);
		msgpack_pack_double(&pk, 4.3);
		msgpack_pack_str_with_body(&pk, "jitter_ms", 9);
		msgpack_pack_double(&pk, 1.25);
		msgpack_pack_str_with_body(&pk, "packets_received", 16);
		msgpack_pack_uint32(&pk, 50);
		msgpack_pack_str_with_body(&pk, "packets_lost", 12);
		msgpack_pack_uint32(&pk, 0);
	}
	samples = (uint8_t *)sb.data;
	samples_len = sb.size;

	/* the gateway */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		getsockname(fd, (struct sockaddr *)&sa, &sl);
		port = ntohs(sa.sin_port);
		close(fd);
	}
	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u", port);
	gw = fork();
	if (gw == 0) {
		char *args[] = { (char *)(gwbin ? gwbin : "build/callmeter-gateway"), "serve", "--cert", cert, "--key", key,
				 "--listen", listen_on, "--db", db, "--heartbeat", "5", "--heartbeat-timeout", "30", NULL };
		setenv("LOG_LEVEL", "warn", 1);
		execv(args[0], args);
		_exit(127);
	}
	ctx = gw_tls_client_ctx(ca, err, sizeof(err));
	epfd = epoll_create1(0);
	if (!ctx || epfd < 0)
		return 1;
	usleep(300000);

	/* 1. sessions: at most 128 handshakes in progress at a time, as a fleet reconnecting with jitter would */
	t0 = cm_now_ms();
	while (up + dead < nsims && cm_now_ms() - t0 < 120000) {
		while (started < nsims && started - up - dead < 128) {
			sims[started].idx = started;
			if (start_session(&sims[started], port) < 0) {
				usleep(100000); /* the gateway is not listening yet */
				break;
			}
			started++;
		}
		poll_once(10);
	}
	t_up = cm_now_ms() - t0;
	fprintf(stderr, "bench: %d sessions up in %.2f s (%.0f handshakes+hellos/s), %d failed\n", up, t_up / 1000.0,
		up * 1000.0 / (double)(t_up ? t_up : 1), dead);
	for (int i = 0; i < nsims; i++)
		sims[i].next_hb_ms = cm_now_ms() + (uint64_t)(i % (HEARTBEAT_S * 1000));
	t0 = cm_now_ms();
	while (cm_now_ms() - t0 < HB_PHASE_MS) {
		uint64_t now = cm_now_ms();
		for (int i = 0; i < nsims; i++) {
			if (sims[i].up && !sims[i].dead && now >= sims[i].next_hb_ms) {
				heartbeat(&sims[i]);
				sims[i].next_hb_ms = now + HEARTBEAT_S * 1000;
				hb_sent++;
			}
		}
		poll_once(5);
	}
	usleep(1500000); /* the gateway writes statuses once a second */
	st = gw_store_open(db, err, sizeof(err));
	gw_store_worker_list(st, count_online, &online);
	gw_store_close(st);
	fprintf(stderr, "bench: %llu heartbeats in %.0f s; %d of %d workers ONLINE in the store; %d sessions lost\n",
		(unsigned long long)hb_sent, HB_PHASE_MS / 1000.0, online, nsims, dead);
	printf("BENCH gateway_sessions %d sessions\n", online);
	fflush(stdout);

	/* 2. ingest */
	acked_frames = 0;
	t_ing = cm_now_ms();
	while ((ing_ms = cm_now_ms() - t_ing) < INGEST_MS) {
		for (int i = 0; i < INGEST_SESSIONS && i < nsims; i++) {
			struct sim *s = &sims[i];
			if (!s->up || s->dead)
				continue;
			while (s->inflight < INFLIGHT)
				send_metrics(s);
			kick(s);
		}
		poll_once(1);
	}
	fprintf(stderr, "bench: %llu metrics frames of %d samples stored and acked in %.2f s\n",
		(unsigned long long)acked_frames, SAMPLES_PER_FRAME, ing_ms / 1000.0);

	for (int i = 0; i < nsims; i++)
		if (!sims[i].dead && sims[i].c.ssl)
			gw_conn_close(&sims[i].c);
	kill(gw, SIGTERM);
	waitpid(gw, &status, 0);
	SSL_CTX_free(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	sh(cmd);
	printf("BENCH gateway_ingest %.0f samples/s\n",
	       (double)acked_frames * SAMPLES_PER_FRAME * 1000.0 / (double)(ing_ms ? ing_ms : 1));
	return online == nsims ? 0 : 1;
}
