/* GET /health over HTTP/1.1, served by libmicrohttpd without threads of its own: its epoll descriptor sits in
 * the control-plane loop, which calls MHD_run() when it is readable and once a second for connection
 * timeouts.  The answer is always 200 while the process lives (liveness); "status" says how healthy it is. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "controlplane/controlplane.h"

struct cp_health {
	struct cp_loop *loop;
	struct MHD_Daemon *mhd;
	const struct cp_state *st;
	int epfd;
	uint16_t port;
	struct cp_timer tick;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	rc = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct cp_health *h = cls;
	char body[1024];

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body on GET is ignored */
		return MHD_YES;
	}
	if (strcmp(url, "/health") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\",\"paths\":[\"/health\"]}");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"method not allowed\"}");
	if (cp_state_health_json(h->st, body, sizeof(body)) < 0)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "{\"status\":\"ERROR\",\"connected\":false}");
	return reply(conn, MHD_HTTP_OK, body);
}

static void on_epoll_ready(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct cp_health *h = arg;

	(void)loop;
	(void)fd;
	(void)events;
	MHD_run(h->mhd);
}

static void on_tick(struct cp_loop *loop, void *arg)
{
	struct cp_health *h = arg;

	MHD_run(h->mhd);
	cp_timer_start(loop, &h->tick, 1000);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	cm_vlog(CM_LOG_WARN, "health", fmt, ap);
}

struct cp_health *cp_health_start(struct cp_loop *loop, const char *bind_ip, uint16_t port,
				  const struct cp_state *st)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct cp_health *h;
	const union MHD_DaemonInfo *info;

	if (inet_pton(AF_INET, bind_ip, &sa.sin_addr) != 1) {
		cm_log(CM_LOG_ERROR, "health", "health_bind '%s' is not an IPv4 address", bind_ip);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->loop = loop;
	h->st = st;
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, port, NULL, NULL, on_request, h,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_END);
	if (!h->mhd) {
		cm_log(CM_LOG_ERROR, "health", "cannot serve /health on %s:%u: %s", bind_ip, port, strerror(errno));
		goto free_h;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		goto stop_mhd;
	h->epfd = info->epoll_fd;
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	if (cp_loop_add_fd(loop, h->epfd, EPOLLIN, on_epoll_ready, h) < 0)
		goto stop_mhd;
	cp_timer_init(&h->tick, on_tick, h);
	cp_timer_start(loop, &h->tick, 1000);
	cm_log(CM_LOG_INFO, "health", "serving GET /health on %s:%u", bind_ip, h->port);
	return h;

stop_mhd:
	cm_log(CM_LOG_ERROR, "health", "cannot drive the HTTP server from the event loop");
	MHD_stop_daemon(h->mhd);
free_h:
	free(h);
	return NULL;
}

uint16_t cp_health_port(const struct cp_health *h)
{
	return h->port;
}

void cp_health_stop(struct cp_health *h)
{
	if (!h)
		return;
	cp_timer_stop(h->loop, &h->tick);
	cp_loop_del_fd(h->loop, h->epfd);
	MHD_stop_daemon(h->mhd);
	free(h);
}
