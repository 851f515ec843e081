/* Outbound connection to the Worker Gateway: the worker always dials out, never listens for it.  This file
 * owns connection attempts and their exponential backoff with jitter; the TLS session and the hello/heartbeat
 * protocol on top of the connected socket come with the gateway work (docs/gateway-protocol.md).
 *
 * Name resolution uses getaddrinfo(), which blocks the loop for the duration of a DNS lookup; acceptable for one
 * gateway address every few seconds at most, and replaced when the SIP side brings an asynchronous resolver. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "controlplane/controlplane.h"

#define GW_CONNECT_TIMEOUT_MS 10000

struct cp_gateway {
	struct cp_loop *loop;
	const struct cfg_worker *cfg;
	struct cp_state *st;
	int fd;
	uint32_t attempt; /* consecutive failures */
	struct cp_timer retry;
	struct cp_timer connect_timeout;
};

uint32_t cp_backoff_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd)
{
	uint64_t d = min_ms;

	for (uint32_t i = 1; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* Full-range jitter would let a fleet reconnect in lockstep less often, but keep a floor so a gateway
	 * restart is not met by an immediate storm: take off up to a quarter. */
	return (uint32_t)(d - (d / 4) * (rnd % 1001) / 1000);
}

static void gw_close(struct cp_gateway *gw)
{
	cp_timer_stop(gw->loop, &gw->connect_timeout);
	if (gw->fd >= 0) {
		cp_loop_del_fd(gw->loop, gw->fd);
		close(gw->fd);
		gw->fd = -1;
	}
	gw->st->gateway_connected = false;
}

static void gw_schedule_retry(struct cp_gateway *gw, const char *why)
{
	uint32_t rnd = 0, delay;

	gw_close(gw);
	gw->attempt++;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)cm_now_us();
	delay = cp_backoff_ms(gw->attempt, gw->cfg->reconnect_min_ms, gw->cfg->reconnect_max_ms, rnd);
	cm_strlcpy(gw->st->gateway_last_error, why, sizeof(gw->st->gateway_last_error));
	cm_log(gw->attempt <= 3 || gw->attempt % 10 == 0 ? CM_LOG_WARN : CM_LOG_DEBUG, "gateway",
	       "cannot connect to gateway %s:%u: %s; retry %u in %u.%03u s", gw->cfg->cloud_host, gw->cfg->cloud_port,
	       why, gw->attempt, delay / 1000, delay % 1000);
	cp_timer_start(gw->loop, &gw->retry, delay);
}

static void gw_on_connected(struct cp_gateway *gw)
{
	/* TCP is up.  Without the session protocol there is nothing to say on it: report that plainly rather
	 * than claim a session, and keep trying so that a newer build's gateway is still reached. */
	cm_log(CM_LOG_INFO, "gateway", "TCP connection to %s:%u established", gw->cfg->cloud_host,
	       gw->cfg->cloud_port);
	gw_schedule_retry(gw, "connected, but this build does not speak the gateway session protocol yet");
}

static void gw_on_io(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct cp_gateway *gw = arg;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	(void)loop;
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		gw_schedule_retry(gw, strerror(soerr));
		return;
	}
	cp_timer_stop(gw->loop, &gw->connect_timeout);
	gw_on_connected(gw);
}

static void gw_on_connect_timeout(struct cp_loop *loop, void *arg)
{
	(void)loop;
	gw_schedule_retry(arg, "connection timed out");
}

static void gw_connect(struct cp_loop *loop, void *arg)
{
	struct cp_gateway *gw = arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[8], why[160];
	int rc;

	(void)loop;
	gw->st->gateway_attempts++;
	snprintf(port, sizeof(port), "%u", gw->cfg->cloud_port);
	rc = getaddrinfo(gw->cfg->cloud_host, port, &hints, &res);
	if (rc != 0) {
		snprintf(why, sizeof(why), "cannot resolve host: %s", gai_strerror(rc));
		gw_schedule_retry(gw, why);
		return;
	}
	gw->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (gw->fd < 0) {
		freeaddrinfo(res);
		gw_schedule_retry(gw, strerror(errno));
		return;
	}
	rc = connect(gw->fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc < 0 && errno != EINPROGRESS) {
		gw_schedule_retry(gw, strerror(errno));
		return;
	}
	if (cp_loop_add_fd(gw->loop, gw->fd, EPOLLOUT, gw_on_io, gw) < 0) {
		gw_schedule_retry(gw, "event loop refused the socket");
		return;
	}
	cp_timer_start(gw->loop, &gw->connect_timeout, GW_CONNECT_TIMEOUT_MS);
}

struct cp_gateway *cp_gateway_start(struct cp_loop *loop, const struct cfg_worker *cfg, struct cp_state *st)
{
	struct cp_gateway *gw = calloc(1, sizeof(*gw));

	if (!gw)
		return NULL;
	gw->loop = loop;
	gw->cfg = cfg;
	gw->st = st;
	gw->fd = -1;
	cp_timer_init(&gw->retry, gw_connect, gw);
	cp_timer_init(&gw->connect_timeout, gw_on_connect_timeout, gw);
	cm_log(CM_LOG_INFO, "gateway", "daemon mode: connecting out to gateway %s:%u as '%s'", cfg->cloud_host,
	       cfg->cloud_port, cfg->name);
	cp_timer_start(loop, &gw->retry, 0);
	return gw;
}

void cp_gateway_stop(struct cp_gateway *gw)
{
	if (!gw)
		return;
	gw_close(gw);
	cp_timer_stop(gw->loop, &gw->retry);
	free(gw);
}
