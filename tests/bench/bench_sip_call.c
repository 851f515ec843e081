/* CPU cost of a complete call (INVITE → 180 → 200 → ACK → BYE → 200, UAC side) against SIPp's UAS on
 * 127.0.0.1: this process's user+system CPU microseconds per call, and the same for a SIPp UAC placing the same
 * number of calls against the same SIPp UAS in the same run (CPU from wait4's rusage).  Skips (exit 0, a BENCH
 * line saying so is not printed) when sipp is not installed.
 * Final line: BENCH sip_call_cpu <us> us/call ratio=<ours / SIPp UAC> ref=sipp-uac */
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

#define DEFAULT_CALLS 2000
#define CONCURRENT 50

static const struct sdp_codec codecs[] = { { .name = "PCMU", .clock_rate = 8000, .pt = 0 } };

int main(void)
{
	char to[64];
	unsigned port = tu_free_port(), answered = 0, failed = 0, started = 0, done = 0;
	/* BENCH_CALLS=N: more calls for a profile (BENCH_PERF) than the default's few tens of milliseconds */
	unsigned calls = getenv("BENCH_CALLS") ? (unsigned)atoi(getenv("BENCH_CALLS")) : DEFAULT_CALLS;
	struct sip_call *slot[CONCURRENT] = { NULL };
	struct rusage r0, r1;
	struct cp_loop *loop;
	struct sip_udp *u;
	struct sip_ua *ua;
	pid_t uas;
	double sipp;

	if (system("command -v sipp >/dev/null 2>&1") != 0) {
		printf("bench_sip_call: sipp not installed, skipped\n");
		return 0;
	}
	uas = bench_sipp_uas(port);

	loop = cp_loop_new();
	/* the product's path: a UA core on the transport, calls placed through it */
	ua = sip_ua_new(&(struct sip_ua_config){ 0 });
	u = sip_udp_start(loop, "127.0.0.1", 0, &sip_ua_txn_ops, ua);
	sip_ua_attach(ua, sip_udp_tp(u));
	snprintf(to, sizeof(to), "sip:service@127.0.0.1:%u", port);
	struct sip_call_config cfg = { .from_user = "bench", .from_domain = "127.0.0.1", .to_uri = to,
				       .duration_ms = 1,
				       .media = { .addr = "127.0.0.1", .port = 30000, .codecs = codecs, .ncodecs = 1,
						  .dir = SDP_SENDRECV } };
	sip_addr_from(&cfg.dst, "127.0.0.1", (uint16_t)port);

	pid_t perf = bench_perf_start();
	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = cm_now_ms();
	while (done < calls && cm_now_ms() - t0 < 60000) {
		for (int i = 0; i < CONCURRENT; i++) {
			if (slot[i] && sip_call_stats(slot[i])->state == SIP_CALL_ENDED) {
				if (sip_call_stats(slot[i])->result == SIP_RESULT_ANSWERED &&
				    sip_call_stats(slot[i])->bye_status == 200)
					answered++;
				else
					failed++;
				done++;
				sip_call_free(slot[i]);
				slot[i] = NULL;
			}
			if (!slot[i] && started < calls) {
				slot[i] = sip_call_new(ua, &cfg, NULL, NULL);
				sip_call_start(slot[i]);
				started++;
			}
		}
		cp_loop_run_once(loop, 10);
	}
	getrusage(RUSAGE_SELF, &r1);
	bench_perf_stop(perf);
	bench_print_split("callmeter UAC", &r0, &r1, answered);
	double ours = (bench_cpu_us(&r1) - bench_cpu_us(&r0)) / (answered ? answered : 1);
	printf("callmeter UAC: %u answered, %u failed in %lu ms\n", answered, failed,
	       (unsigned long)(cm_now_ms() - t0));
	for (int i = 0; i < CONCURRENT; i++)
		sip_call_free(slot[i]);
	sip_ua_free(ua);
	sip_udp_stop(u);
	cp_loop_free(loop);

	/* the reference: SIPp's own UAC, same calls, same UAS, same concurrency */
	sipp = bench_sipp_uac_us(port, calls);
	kill(uas, SIGKILL);
	waitpid(uas, NULL, 0);
	if (failed || answered != calls) {
		fprintf(stderr, "bench_sip_call: %u of %u calls failed\n", calls - answered, calls);
		return 1;
	}
	if (sipp < 0) {
		fprintf(stderr, "bench_sip_call: the SIPp reference failed\n");
		return 1;
	}
	printf("BENCH sip_call_cpu %.1f us/call ratio=%.3f ref=sipp-uac\n", ours, ours / sipp);
	return 0;
}
