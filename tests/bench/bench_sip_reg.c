/* Registration at scale: 10,000 endpoints register with digest (401 → REGISTER with credentials → 200) over one
 * shared UDP socket against a registrar in a forked child process (this stack's server side: challenge, verify,
 * 200).  Reports this process's CPU microseconds per completed registration and the heap bytes each registered
 * idle endpoint keeps once its transactions are gone (mallinfo2 before/after, after Timer K).
 * Final line: BENCH sip_reg_mem <bytes> bytes/endpoint ratio=<bytes / 2048> ref=2KiB-target */
#include <malloc.h>
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

#define ENDPOINTS 10000
#define IN_FLIGHT 200

static void registrar_request(void *arg, struct sip_txn *st, const struct sip_msg *req,
			      const struct sockaddr_storage *src)
{
	const struct sip_hdr *ah = sip_msg_hdr(req, SIP_HDR_AUTHORIZATION), *ch = sip_msg_hdr(req, SIP_HDR_CONTACT);
	struct sip_auth cred;
	const char *why;
	char extra[256];

	(void)arg;
	(void)src;
	if (!st)
		return;
	if (req->method_id != SIP_REGISTER) {
		sip_txn_respond_simple(st, 405, "r", NULL);
		return;
	}
	if (!ah || sip_parse_auth(ah->value, &cred, &why) < 0 || sip_digest_verify(&cred, "REGISTER", "pw", &why) < 0) {
		sip_txn_respond_simple(st, 401, "r",
				       "WWW-Authenticate: Digest realm=\"bench\", nonce=\"b3nch\", qop=\"auth\"\r\n");
		return;
	}
	snprintf(extra, sizeof(extra), "Contact: %.*s;expires=3600\r\n", ch ? (int)ch->value.len : 0,
		 ch ? ch->value.p : "");
	sip_txn_respond_simple(st, 200, "r", extra);
}

static void run_registrar(int fd)
{
	static const struct sip_txn_user_ops ops = { .on_request = registrar_request };
	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &ops, NULL);
	uint16_t port = u ? sip_udp_port(u) : 0;

	if (write(fd, &port, sizeof(port)) != sizeof(port))
		_exit(1);
	close(fd);
	cp_loop_run(loop);
	_exit(0);
}

static unsigned registered, failed;

/* State changes counted as they happen (no scan over every endpoint per loop pass). */
static void on_change(struct sip_reg *r, void *arg)
{
	(void)arg;
	registered += sip_reg_stats(r)->state == SIP_REG_REGISTERED;
	failed += sip_reg_stats(r)->state == SIP_REG_FAILED;
}

static double cpu_us(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)r.ru_utime.tv_sec * 1e6 + (double)r.ru_utime.tv_usec + (double)r.ru_stime.tv_sec * 1e6 +
	       (double)r.ru_stime.tv_usec;
}

int main(void)
{
	static const struct sip_txn_user_ops ops = { .on_response = sip_client_on_response,
						     .on_timeout = sip_client_on_timeout,
						     .on_terminated = sip_client_on_terminated };
	static struct sip_reg *regs[ENDPOINTS];
	int pfd[2];
	uint16_t port = 0;
	pid_t child;
	unsigned started = 0;
	char user[32];

	if (pipe(pfd) < 0)
		return 1;
	child = fork();
	if (child == 0) {
		close(pfd[0]);
		run_registrar(pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &port, sizeof(port)) != sizeof(port) || port == 0) {
		fprintf(stderr, "bench_sip_reg: the registrar did not start\n");
		return 1;
	}

	struct cp_loop *loop = cp_loop_new();
	struct sip_udp *u = sip_udp_start(loop, "127.0.0.1", 0, &ops, NULL);
	struct sip_reg_config cfg = { .domain = "bench.example", .password = "pw", .expires = 3600 };
	sip_addr_from(&cfg.dst, "127.0.0.1", port);

	/* let the transport's one-time allocations (transaction table, buffers) happen before the baseline */
	cp_loop_run_once(loop, 0);
	size_t heap0 = mallinfo2().uordblks;
	double cpu0 = cpu_us();
	uint64_t t0 = cm_now_ms();
	while (registered + failed < ENDPOINTS && cm_now_ms() - t0 < 120000) {
		unsigned in_flight = started - registered - failed;
		while (started < ENDPOINTS && in_flight < IN_FLIGHT) {
			snprintf(user, sizeof(user), "ep%05u", started);
			cfg.user = user;
			regs[started] = sip_reg_new(sip_udp_tp(u), &cfg, on_change, NULL);
			sip_reg_start(regs[started]);
			started++;
			in_flight++;
		}
		cp_loop_run_once(loop, 10);
	}
	double cpu = (cpu_us() - cpu0) / (registered ? registered : 1);
	uint64_t took = cm_now_ms() - t0;
	/* idle: wait out Timer K (T4) so no transaction is left, then measure what the endpoints keep */
	while (cm_now_ms() - t0 < took + SIP_T4_MS + 500)
		cp_loop_run_once(loop, 100);
	size_t heap1 = mallinfo2().uordblks;
	double per = (double)(heap1 - heap0) / ENDPOINTS;

	printf("%u registered, %u failed in %lu ms; %lu transactions left\n", registered, failed, (unsigned long)took,
	       (unsigned long)sip_txn_layer_stats(sip_tp_txn_layer(sip_udp_tp(u)))->live);
	for (unsigned i = 0; i < started; i++)
		sip_reg_free(regs[i]);
	sip_udp_stop(u);
	cp_loop_free(loop);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (registered != ENDPOINTS)
		return 1;
	printf("BENCH sip_reg_cpu %.1f us/registration (digest: 401 then authorized REGISTER, %d in flight)\n", cpu,
	       IN_FLIGHT);
	printf("BENCH sip_reg_mem %.0f bytes/endpoint ratio=%.3f ref=2KiB-target\n", per, per / 2048.0);
	return 0;
}
