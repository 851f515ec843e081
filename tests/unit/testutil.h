/* Helpers shared by unit tests: temporary files, a free TCP port, a bound UDP socket, a tiny blocking HTTP GET,
 * spawning the real binaries with a given environment and capturing their output. */
#ifndef CM_TEST_TESTUTIL_H
#define CM_TEST_TESTUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Writes text to a new temporary file; returns its path (static buffer per call site is the caller's). */
static inline void tu_write_temp(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/cm-test-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		abort();
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

/* A port that was free a moment ago on 127.0.0.1. */
static inline unsigned tu_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		abort();
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* A non-blocking UDP socket bound to 127.0.0.1 on a port the kernel picks (into *port): a scripted SIP peer. */
static inline int tu_udp_socket(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		abort();
	*port = ntohs(sa.sin_port);
	return fd;
}

/* "GET|POST path" to 127.0.0.1:port; returns the HTTP status (body into buf) or -1 if nothing answered. */
static inline int tu_http(const char *method, unsigned port, const char *path, char *buf, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char req[256];
	size_t got = 0;
	int fd, status = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", method, path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, buf + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == len - 1)
			break;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
out:
	close(fd);
	return status;
}

struct tu_proc {
	pid_t pid;
	char out[64]; /* path of the file holding stdout+stderr */
};

/* Starts argv with envp, stdout and stderr to a temporary file. */
static inline void tu_spawn(struct tu_proc *p, char *const argv[], char *const envp[])
{
	int fd;

	snprintf(p->out, sizeof(p->out), "/tmp/cm-test-out-XXXXXX");
	fd = mkstemp(p->out);
	if (fd < 0)
		abort();
	p->pid = fork();
	if (p->pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(fd);
}

/* Waits up to timeout_ms; returns the exit status, 128+signal, or -1 on timeout (the process is then killed). */
static inline int tu_wait(struct tu_proc *p, int timeout_ms)
{
	int st;

	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(20000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	return -1;
}

/* The captured output (malloc'd; caller frees). */
static inline char *tu_output(const struct tu_proc *p)
{
	FILE *f = fopen(p->out, "r");
	char *buf;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

#endif
