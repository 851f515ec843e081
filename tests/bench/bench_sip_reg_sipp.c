/* CPU per digest registration against the same Kamailio, ours and SIPp's, in one run: Kamailio (registrar,
 * digest with qop=auth, usrloc in memory) is started on 127.0.0.1; this stack registers REGS distinct users
 * (REGISTER → 401 → REGISTER with credentials → 200) over one UDP socket, IN_FLIGHT at a time, and SIPp then
 * registers REGS other users with the same two-step exchange (scenario and users from bench_util.h; SIPp
 * answers every challenge with one digest username, so Kamailio does not tie it to the From user).  CPU is
 * this process's user+system time for ours and wait4's rusage for SIPp; Kamailio's is in neither.  Skips when
 * kamailio or sipp is missing.
 * Final line: BENCH sip_reg_cpu_vs_sipp <us> us/registration ratio=<ours / SIPp> ref=sipp-uac */
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

#define REGS 4000
#define IN_FLIGHT 100

static char dir[64];

static unsigned ok, failed;

static void on_change(struct sip_reg *r, void *arg)
{
	(void)arg;
	ok += sip_reg_stats(r)->state == SIP_REG_REGISTERED;
	failed += sip_reg_stats(r)->state == SIP_REG_FAILED;
}

static const struct sip_txn_user_ops ops = { .on_response = sip_client_on_response,
					     .on_timeout = sip_client_on_timeout,
					     .on_terminated = sip_client_on_terminated };

int main(void)
{
	static char users[REGS][16];
	struct sip_reg *regs[REGS] = { NULL };
	unsigned port = tu_free_port(), started = 0;
	struct rusage r0, r1;
	struct cp_loop *loop;
	struct sip_udp *u;
	pid_t kam;
	double sipp_us;

	signal(SIGPIPE, SIG_IGN);
	if (system("command -v kamailio >/dev/null 2>&1 && command -v sipp >/dev/null 2>&1") != 0) {
		printf("bench_sip_reg_sipp: kamailio or sipp not installed, skipped\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/cm-bench-reg-XXXXXX");
	if (!mkdtemp(dir) || bench_kamailio_registrar(dir, port, &kam) < 0) {
		fprintf(stderr, "bench_sip_reg_sipp: Kamailio did not start (see %s)\n", dir);
		return 1;
	}

	/* ours */
	loop = cp_loop_new();
	u = sip_udp_start(loop, "127.0.0.1", 0, &ops, NULL);
	struct sip_reg_config cfg = { .domain = "127.0.0.1", .password = "secret", .expires = 3600 };
	sip_addr_from(&cfg.dst, "127.0.0.1", (uint16_t)port);
	pid_t perf = bench_perf_start();
	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = cm_now_ms();
	while (ok + failed < REGS && cm_now_ms() - t0 < 60000) {
		unsigned live = started - ok - failed;
		while (started < REGS && live < IN_FLIGHT) {
			snprintf(users[started], sizeof(users[started]), "a%u", started);
			cfg.user = users[started];
			regs[started] = sip_reg_new(sip_udp_tp(u), &cfg, on_change, NULL);
			sip_reg_start(regs[started]);
			started++;
			live++;
		}
		cp_loop_run_once(loop, 5);
	}
	getrusage(RUSAGE_SELF, &r1);
	bench_perf_stop(perf);
	bench_print_split("callmeter", &r0, &r1, ok);
	uint64_t ms = cm_now_ms() - t0;
	printf("callmeter: %u registered, %u failed in %llu ms\n", ok, failed, (unsigned long long)ms);
	for (unsigned i = 0; i < started; i++)
		sip_reg_free(regs[i]);
	sip_udp_stop(u);
	cp_loop_free(loop);

	/* SIPp: the same exchange for as many other users */
	sipp_us = bench_sipp_reg_us(dir, port, REGS);
	bench_kamailio_stop(kam, dir, sipp_us < 0);

	double ours = (bench_cpu_us(&r1) - bench_cpu_us(&r0)) / (ok ? ok : 1);
	int sipp_ok = sipp_us > 0;
	if (failed || ok != REGS) {
		fprintf(stderr, "bench_sip_reg_sipp: %u of %d registrations failed\n", REGS - ok, REGS);
		return 1;
	}
	printf("BENCH sip_reg_cpu_vs_sipp %.1f us/registration ratio=%.3f ref=sipp-uac%s\n", ours,
	       sipp_ok && sipp_us > 0 ? ours / sipp_us : 0, sipp_ok ? "" : "(failed)");
	return 0;
}
