/* CPU per digest registration against the same Kamailio, ours and SIPp's, in one run: Kamailio (registrar,
 * digest with qop=auth, usrloc in memory) is started on 127.0.0.1; this stack registers REGS distinct users
 * (REGISTER → 401 → REGISTER with credentials → 200) over one UDP socket, IN_FLIGHT at a time, and SIPp then
 * registers REGS other users with the same two-step exchange (scenario written here, users from a CSV; SIPp
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

static const char scenario[] =
	"<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"digest register\">\n"
	"<send retrans=\"500\"><![CDATA[\n"
	"REGISTER sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
	"From: <sip:[field0]@127.0.0.1>;tag=[pid]T[call_number]\nTo: <sip:[field0]@127.0.0.1>\nCall-ID: [call_id]\n"
	"CSeq: 1 REGISTER\nContact: <sip:[field0]@[local_ip]:[local_port]>\nMax-Forwards: 70\nExpires: 3600\n"
	"Content-Length: 0\n\n]]></send>\n"
	"<recv response=\"401\" auth=\"true\"/>\n"
	"<send retrans=\"500\"><![CDATA[\n"
	"REGISTER sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
	"From: <sip:[field0]@127.0.0.1>;tag=[pid]T[call_number]\nTo: <sip:[field0]@127.0.0.1>\nCall-ID: [call_id]\n"
	"CSeq: 2 REGISTER\nContact: <sip:[field0]@[local_ip]:[local_port]>\n"
	"[authentication]\nMax-Forwards: 70\nExpires: 3600\n"
	"Content-Length: 0\n\n]]></send>\n"
	"<recv response=\"200\"/>\n</scenario>\n";

static int write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int start_kamailio(unsigned port, pid_t *pid)
{
	char cfg[2048], path[128], mpath[256] = "", log[128];
	FILE *p = popen("dirname \"$(find /usr/lib -name registrar.so -path '*kamailio*' 2>/dev/null | head -1)\"", "r");

	if (!p || !fgets(mpath, sizeof(mpath), p) || mpath[0] != '/') {
		if (p)
			pclose(p);
		return -1;
	}
	pclose(p);
	mpath[strcspn(mpath, "\n")] = '\0';
	snprintf(cfg, sizeof(cfg),
		 "#!KAMAILIO\ndebug=1\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:%u\nmpath=\"%s/\"\n"
		 "loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n"
		 "loadmodule \"auth.so\"\nmodparam(\"usrloc\", \"db_mode\", 0)\n"
		 "request_route {\n\tif (method != \"REGISTER\") { sl_send_reply(\"405\", \"No\"); exit; }\n"
		 "\tif (!pv_auth_check(\"$fd\", \"secret\", \"0\", \"0\")) { auth_challenge(\"$fd\", \"1\"); exit; }\n"
		 "\tif (!save(\"location\")) sl_reply_error();\n}\n",
		 port, mpath);
	if (write_file("kamailio.cfg", cfg) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/kamailio.cfg", dir);
	snprintf(log, sizeof(log), "%s/kamailio.log", dir);
	char *argv[] = { "kamailio", "-f", path, "-DD", "-E", "-m", "64", "-M", "8", "-Y", dir, NULL };
	*pid = bench_spawn(argv, log);
	usleep(1000000);
	return kill(*pid, 0);
}

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
	char port_s[8], target[32], csv[128], scen[128], calls_s[16], cmd[128];
	struct rusage r0, r1, rs;
	struct cp_loop *loop;
	struct sip_udp *u;
	pid_t kam, sipp;
	int st;

	signal(SIGPIPE, SIG_IGN);
	if (system("command -v kamailio >/dev/null 2>&1 && command -v sipp >/dev/null 2>&1") != 0) {
		printf("bench_sip_reg_sipp: kamailio or sipp not installed, skipped\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/cm-bench-reg-XXXXXX");
	if (!mkdtemp(dir) || start_kamailio(port, &kam) < 0) {
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
	{
		size_t cap = 16 + (size_t)REGS * 12, len;
		char *text = malloc(cap);
		len = (size_t)snprintf(text, cap, "SEQUENTIAL\n");
		for (unsigned i = 0; i < REGS; i++)
			len += (size_t)snprintf(text + len, cap - len, "b%u\n", i);
		write_file("users.csv", text);
		free(text);
	}
	write_file("register.xml", scenario);
	snprintf(port_s, sizeof(port_s), "%u", port);
	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	snprintf(csv, sizeof(csv), "%s/users.csv", dir);
	snprintf(scen, sizeof(scen), "%s/register.xml", dir);
	snprintf(calls_s, sizeof(calls_s), "%d", REGS);
	char *argv[] = { "sipp", target, "-sf", scen, "-inf", csv, "-i", "127.0.0.1", "-p", "0", "-m", calls_s,
			 "-l", "100", "-r", "5000", "-au", "bench", "-ap", "secret", "-nostdin", "-timeout", "60s", "-trace_err", NULL };
	if (chdir(dir) < 0)
		return 1;
	sipp = bench_spawn(argv, NULL);
	wait4(sipp, &st, 0, &rs);
	bench_print_split("SIPp", &(struct rusage){ 0 }, &rs, REGS);
	int sipp_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	kill(kam, SIGTERM);
	waitpid(kam, NULL, 0);
	snprintf(cmd, sizeof(cmd), sipp_ok ? "rm -rf %s" : "tail -30 %s/*errors.log", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);

	double ours = (bench_cpu_us(&r1) - bench_cpu_us(&r0)) / (ok ? ok : 1), sipp_us = bench_cpu_us(&rs) / REGS;
	printf("SIPp: exit %d, %.1f us/registration\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, sipp_us);
	if (failed || ok != REGS) {
		fprintf(stderr, "bench_sip_reg_sipp: %u of %d registrations failed\n", REGS - ok, REGS);
		return 1;
	}
	printf("BENCH sip_reg_cpu_vs_sipp %.1f us/registration ratio=%.3f ref=sipp-uac%s\n", ours,
	       sipp_ok && sipp_us > 0 ? ours / sipp_us : 0, sipp_ok ? "" : "(failed)");
	return 0;
}
