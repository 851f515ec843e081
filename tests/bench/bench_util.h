/* Shared by the SIP benchmarks that measure a peer program in the same run: CPU time from an rusage, and
 * starting a peer quietly. */
#ifndef CM_BENCH_UTIL_H
#define CM_BENCH_UTIL_H

#include <fcntl.h>
#include <sys/resource.h>
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

#endif
