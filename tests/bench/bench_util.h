/* Shared by the SIP benchmarks that measure a peer program in the same run: CPU time from an rusage, and
 * starting a peer quietly. */
#ifndef CM_BENCH_UTIL_H
#define CM_BENCH_UTIL_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
