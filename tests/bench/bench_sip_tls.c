/* New TLS connections per second (full handshakes: the server issues no tickets and keeps no session cache),
 * ECDSA P-256 certificates made here by the openssl command, TLS 1.3, certificate verified against the CA.
 * Client side: callmeter's TLS transport connecting to an `openssl s_server` one connection after the other
 * (connect, handshake, close), against `openssl s_time -new` doing the same to the same server in the same run.
 * Server side (informational line): `openssl s_time -new` against callmeter's TLS transport, and against
 * s_server.  Skips when the openssl command is missing.
 * The wall-clock rates are printed; the final figure is new client connections per CPU second (1e6 / our CPU
 * microseconds per handshake), with the ratio of s_time's CPU per connection to ours (above 1: cheaper than
 * OpenSSL's own client).
 * Final line: BENCH sip_tls_connections <n> conn/cpu-s ratio=<s_time CPU / ours> ref=openssl-s_time */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "controlplane/controlplane.h"
#include "sip/sip.h"
#include "../unit/testutil.h"
#include "bench_util.h"

#define SECONDS 3

static char dir[64], ca[96], cert[96], key[96];

/* s_time's "N connections in T real seconds" as connections per second, 0 if absent. */
static double s_time_rate(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[256];
	double rate = 0;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long n, t;
		if (sscanf(line, "%lu connections in %lu real seconds", &n, &t) == 2 && t)
			rate = (double)n / (double)t;
	}
	if (f)
		fclose(f);
	return rate;
}

/* s_time -new against port for SECONDS, running our loop meanwhile (our server may be the one answering);
 * *cpu: s_time's own CPU microseconds per connection. */
static double s_time(struct cp_loop *loop, unsigned port, double *cpu)
{
	struct rusage ru;
	double rate;
	char target[32], secs[8], out[128];
	pid_t pid;
	int st;

	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	snprintf(secs, sizeof(secs), "%d", SECONDS);
	snprintf(out, sizeof(out), "%s/s_time.out", dir);
	char *argv[] = { "openssl", "s_time", "-connect", target, "-new", "-time", secs, "-CAfile", ca, NULL };
	pid = bench_spawn(argv, out);
	while (wait4(pid, &st, WNOHANG, &ru) == 0)
		cp_loop_run_once(loop, 5);
	rate = s_time_rate(out);
	*cpu = rate > 0 ? bench_cpu_us(&ru) / (rate * SECONDS) : 0;
	return rate;
}

static const struct sip_txn_user_ops ops = { 0 };

int main(void)
{
	char cmd[2048], port_s[8];
	unsigned port = tu_free_port();
	struct sip_tls_config cli = { .verify = SIP_TLS_VERIFY_CA, .server_name = "sip.test" };
	struct sip_tls_config srv = { .verify = SIP_TLS_VERIFY_NONE };
	struct sockaddr_storage dst;
	struct rusage r0, r1;
	struct cp_loop *loop;
	struct sip_tcp *c, *s;
	unsigned conns = 0, failed = 0;
	pid_t server;
	int st;

	signal(SIGPIPE, SIG_IGN);
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		printf("bench_sip_tls: openssl not installed, skipped\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/cm-bench-tls-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
		 "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null;"
		 "openssl req $K -keyout srv.key -out srv.csr -subj /CN=sip.test 2>/dev/null;"
		 "printf 'subjectAltName=DNS:sip.test,IP:127.0.0.1\\n' > san.ext;"
		 "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext "
		 "-out srv.pem 2>/dev/null",
		 dir);
	if (system(cmd) != 0)
		return 1;
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	cli.ca_file = ca;
	srv.cert_file = cert;
	srv.key_file = key;

	snprintf(port_s, sizeof(port_s), "%u", port);
	char *srv_argv[] = { "openssl", "s_server", "-accept", port_s, "-cert", cert, "-key", key, "-quiet",
			     "-no_ticket", "-no_cache", NULL };
	server = bench_spawn(srv_argv, NULL);
	usleep(500000);

	loop = cp_loop_new();
	/* the reference first: OpenSSL's own client against its own server */
	double ref_cpu, ref = s_time(loop, port, &ref_cpu);

	/* ours: one connection after the other, as s_time does */
	c = sip_tls_start(loop, "127.0.0.1", 0, &cli, &ops, NULL);
	if (!c)
		return 1;
	sip_addr_from(&dst, "127.0.0.1", (uint16_t)port);
	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = cm_now_ms(), elapsed;
	while ((elapsed = cm_now_ms() - t0) < SECONDS * 1000u) {
		const struct sip_tcp_stats *st_ = sip_tcp_stats(c);
		unsigned before = st_->tls_handshakes, bad = st_->tls_failures + st_->tls_verify_failures;
		uint64_t t1 = cm_now_ms();

		/* a connection opens on the first send; the bytes go once the handshake is done */
		sip_tp_send(sip_tcp_tp(c), &dst, "\r\n\r\n", 4);
		while (st_->tls_handshakes == before && st_->tls_failures + st_->tls_verify_failures == bad &&
		       cm_now_ms() - t1 < 2000)
			cp_loop_run_once(loop, 5);
		if (st_->tls_handshakes > before)
			conns++;
		else
			failed++;
		sip_tcp_disconnect(c, NULL);
	}
	getrusage(RUSAGE_SELF, &r1);
	double ours = conns * 1000.0 / (double)elapsed;
	double cpu = (bench_cpu_us(&r1) - bench_cpu_us(&r0)) / (conns ? conns : 1);
	printf("callmeter client: %u handshakes (%u failed, %u resumed) in %llu ms: %.0f conn/s, %.0f us CPU each\n",
	       conns, failed, sip_tcp_stats(c)->tls_resumed, (unsigned long long)elapsed, ours, cpu);
	printf("openssl s_time -new (client) against the same s_server: %.0f conn/s, about %.0f us CPU each\n", ref,
	       ref_cpu);
	printf("client handshakes per CPU second: callmeter %.0f, s_time %.0f\n", 1e6 / cpu,
	       ref_cpu > 0 ? 1e6 / ref_cpu : 0);
	sip_tcp_stop(c);
	kill(server, SIGTERM);
	waitpid(server, &st, 0);

	/* server side: s_time against our transport, then the reference s_server again */
	s = sip_tls_start(loop, "127.0.0.1", 0, &srv, &ops, NULL);
	if (s) {
		double srv_cpu, ours_srv = s_time(loop, sip_tcp_port(s), &srv_cpu);
		printf("server side: s_time -new against callmeter: %.0f conn/s (%u handshakes), against s_server: "
		       "%.0f conn/s\n", ours_srv, sip_tcp_stats(s)->tls_handshakes, ref);
		sip_tcp_stop(s);
	}
	cp_loop_free(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	if (failed || !conns) {
		fprintf(stderr, "bench_sip_tls: %u handshakes failed\n", failed);
		return 1;
	}
	/* the figure is per CPU second: on a shared machine the wall-clock rates above move with the load, what one
	 * handshake costs does not */
	printf("BENCH sip_tls_connections %.0f conn/cpu-s ratio=%.3f ref=openssl-s_time\n", 1e6 / cpu,
	       ref_cpu > 0 ? ref_cpu / cpu : 0);
	return 0;
}
