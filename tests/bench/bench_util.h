/* Shared by the SIP benchmarks that measure a peer program in the same run: CPU time from an rusage, and
 * starting a peer quietly. */
#ifndef CM_BENCH_UTIL_H
#define CM_BENCH_UTIL_H

#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* User + system CPU of an rusage, in microseconds. */
static inline double bench_cpu_us(const struct rusage *r)
{
	return (double)r->ru_utime.tv_sec * 1e6 + (double)r->ru_utime.tv_usec + (double)r->ru_stime.tv_sec * 1e6 +
	       (double)r->ru_stime.tv_usec;
}

/* Starts argv (from PATH) with stdin from /dev/null and stdout+stderr to `out` (NULL: /dev/null). */
static inline pid_t bench_spawn(char *const argv[], const char *out)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR), o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600) : null;
		dup2(null, 0);
		dup2(o, 1);
		dup2(o, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* User and system CPU of one operation between two rusages, printed on one line: what the kernel costs apart
 * from the stack's own work. */
static inline void bench_print_split(const char *who, const struct rusage *r0, const struct rusage *r1, unsigned n)
{
	double u = (double)(r1->ru_utime.tv_sec - r0->ru_utime.tv_sec) * 1e6 +
		   (double)(r1->ru_utime.tv_usec - r0->ru_utime.tv_usec);
	double s = (double)(r1->ru_stime.tv_sec - r0->ru_stime.tv_sec) * 1e6 +
		   (double)(r1->ru_stime.tv_usec - r0->ru_stime.tv_usec);

	n = n ? n : 1;
	printf("%s: user %.1f us + sys %.1f us per operation; %.2f voluntary + %.2f involuntary context switches, "
	       "%.2f page faults\n",
	       who, u / n, s / n, (double)(r1->ru_nvcsw - r0->ru_nvcsw) / n, (double)(r1->ru_nivcsw - r0->ru_nivcsw) / n,
	       (double)(r1->ru_minflt - r0->ru_minflt) / n);
}

/* Writes text to dir/name; 0 or -1. */
static inline int bench_write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The REGISTER benchmarks' registrar: Kamailio on udp:127.0.0.1:port (one child, usrloc in memory, digest with
 * qop=auth for every user with the password "secret"), its config and log in dir, given a second to start.
 * 0 when it runs. */
static inline int bench_kamailio_registrar(const char *dir, unsigned port, pid_t *pid)
{
	char cfg[2048], path[256], mpath[256] = "", log[256];
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
	if (bench_write_file(dir, "kamailio.cfg", cfg) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/kamailio.cfg", dir);
	snprintf(log, sizeof(log), "%s/kamailio.log", dir);
	char *argv[] = { "kamailio", "-f", path, "-DD", "-E", "-m", "64", "-M", "8", "-Y", (char *)dir, NULL };
	*pid = bench_spawn(argv, log);
	usleep(1000000);
	return kill(*pid, 0);
}

/* Stops the registrar and removes dir, or, when the SIPp reference failed, shows its error log from dir instead
 * (and keeps it). */
static inline void bench_kamailio_stop(pid_t kam, const char *dir, bool sipp_failed)
{
	char cmd[300];

	kill(kam, SIGTERM);
	waitpid(kam, NULL, 0);
	snprintf(cmd, sizeof(cmd), sipp_failed ? "tail -30 %s/*errors.log" : "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* SIPp's built-in UAS on 127.0.0.1:port, given half a second to bind. */
static inline pid_t bench_sipp_uas(unsigned port)
{
	char port_s[8];

	snprintf(port_s, sizeof(port_s), "%u", port);
	char *argv[] = { "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", port_s, "-nostdin", NULL };
	pid_t pid = bench_spawn(argv, NULL);

	usleep(500000);
	return pid;
}

/* The SIP benchmarks' reference: SIPp's own UAC placing `calls` calls (50 at a time, at most 2,000 a second, 1 ms
 * long) against the UAS on 127.0.0.1:port; its CPU microseconds per call from wait4's rusage (process start
 * included: a few milliseconds in all), printed.  Negative when SIPp failed. */
static inline double bench_sipp_uac_us(unsigned port, unsigned calls)
{
	char target[32], calls_s[16];
	struct rusage rs;
	int st;

	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	snprintf(calls_s, sizeof(calls_s), "%u", calls);
	char *argv[] = { "sipp", "-sn", "uac", target, "-i", "127.0.0.1", "-p", "0", "-m", calls_s, "-l", "50",
			 "-r", "2000", "-d", "1", "-nostdin", NULL };
	wait4(bench_spawn(argv, NULL), &st, 0, &rs);
	bench_print_split("SIPp", &(struct rusage){ 0 }, &rs, calls);
	double us = bench_cpu_us(&rs) / calls;
	printf("SIPp UAC: exit %d, %.1f us/call\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, us);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && us > 0 ? us : -1;
}

/* The REGISTER benchmarks' reference: SIPp registering `regs` users b0, b1, … (REGISTER → 401 → REGISTER with
 * credentials → 200, 100 at a time, at most 5,000 a second; one digest username for all, so the registrar does
 * not tie it to the From user) against the registrar on 127.0.0.1:port, from scenario and user files it writes
 * into dir (and runs in dir: its error log lands there); its CPU microseconds per registration from wait4's
 * rusage, printed.  Negative when SIPp failed. */
static inline double bench_sipp_reg_us(const char *dir, unsigned port, unsigned regs)
{
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
	char target[32], csv[256], scen[256], calls_s[16];
	size_t cap = 16 + (size_t)regs * 12, len;
	char *text = malloc(cap);
	struct rusage rs;
	int st;

	if (!text)
		return -1;
	len = (size_t)snprintf(text, cap, "SEQUENTIAL\n");
	for (unsigned i = 0; i < regs; i++)
		len += (size_t)snprintf(text + len, cap - len, "b%u\n", i);
	bench_write_file(dir, "users.csv", text);
	free(text);
	bench_write_file(dir, "register.xml", scenario);
	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	snprintf(csv, sizeof(csv), "%s/users.csv", dir);
	snprintf(scen, sizeof(scen), "%s/register.xml", dir);
	snprintf(calls_s, sizeof(calls_s), "%u", regs);
	char *argv[] = { "sipp", target, "-sf", scen, "-inf", csv, "-i", "127.0.0.1", "-p", "0", "-m", calls_s,
			 "-l", "100", "-r", "5000", "-au", "bench", "-ap", "secret", "-nostdin", "-timeout", "60s", "-trace_err", NULL };
	if (chdir(dir) < 0)
		return -1;
	wait4(bench_spawn(argv, NULL), &st, 0, &rs);
	bench_print_split("SIPp", &(struct rusage){ 0 }, &rs, regs);
	double us = bench_cpu_us(&rs) / regs;
	printf("SIPp: exit %d, %.1f us/registration\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, us);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && us > 0 ? us : -1;
}

/* With BENCH_PERF=FILE in the environment, `perf record -g` attaches to this process for the measured window
 * only (bench_perf_stop ends it); 0 when not asked for or perf is missing. */
static inline pid_t bench_perf_start(void)
{
	const char *out = getenv("BENCH_PERF");
	char pid_s[16];
	pid_t pid;

	if (!out || !out[0])
		return 0;
	snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
	char *argv[] = { "perf", "record", "--call-graph", "dwarf,16384", "-q", "-F", "25000", "-p", pid_s, "-o", (char *)out, NULL };
	pid = bench_spawn(argv, NULL);
	usleep(500000); /* perf needs a moment to attach */
	return pid > 0 ? pid : 0;
}

static inline void bench_perf_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGINT);
	waitpid(pid, NULL, 0);
}

#endif
