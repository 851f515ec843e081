/* controlplane/ — the main lcore: an epoll event loop with timers that SIP transports, the gateway session and
 * the health endpoint plug into; the worker's state; the gateway client.
 *
 * Error convention: constructors return NULL (with a logged reason), everything else 0 or a negative errno. */
#ifndef CM_CONTROLPLANE_H
#define CM_CONTROLPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

/* ---- event loop ------------------------------------------------------------------------------------------- */

struct cp_loop;
typedef void (*cp_fd_cb)(struct cp_loop *loop, int fd, uint32_t events, void *arg);
typedef void (*cp_timer_cb)(struct cp_loop *loop, void *arg);

/* A timer is embedded in its owner's struct; the loop keeps a min-heap of pointers to armed timers. */
struct cp_timer {
	uint64_t due_ms;
	cp_timer_cb cb;
	void *arg;
	uint32_t heap_idx; /* 0: not armed; else 1-based position in the heap */
};

struct cp_loop *cp_loop_new(void);
void cp_loop_free(struct cp_loop *loop);
/* events: EPOLLIN / EPOLLOUT / ...; one registration per fd. */
int cp_loop_add_fd(struct cp_loop *loop, int fd, uint32_t events, cp_fd_cb cb, void *arg);
int cp_loop_mod_fd(struct cp_loop *loop, int fd, uint32_t events);
int cp_loop_del_fd(struct cp_loop *loop, int fd);
void cp_timer_init(struct cp_timer *t, cp_timer_cb cb, void *arg);
int cp_timer_start(struct cp_loop *loop, struct cp_timer *t, uint64_t delay_ms);
void cp_timer_stop(struct cp_loop *loop, struct cp_timer *t);
static inline bool cp_timer_armed(const struct cp_timer *t) { return t->heap_idx != 0; }
/* Runs callbacks that are ready, waiting at most max_wait_ms (-1: until the next timer); returns the number
 * of callbacks run or a negative errno. */
int cp_loop_run_once(struct cp_loop *loop, int max_wait_ms);
/* Runs until cp_loop_stop(). */
int cp_loop_run(struct cp_loop *loop);
void cp_loop_stop(struct cp_loop *loop);
bool cp_loop_stopping(const struct cp_loop *loop);
uint64_t cp_loop_now_ms(const struct cp_loop *loop); /* the loop's cached monotonic clock */

/* ---- worker state, as /health and the gateway heartbeat report it ----------------------------------------- */

enum cp_status { CP_STATUS_ONLINE, CP_STATUS_OFFLINE, CP_STATUS_DRAINING, CP_STATUS_ERROR };
const char *cp_status_name(enum cp_status s);

struct cp_state {
	const char *name;
	bool daemon_mode;        /* a gateway is configured */
	bool gateway_connected;  /* the gateway session is up */
	bool draining;
	bool dataplane_ok;       /* port up and lcores running */
	char error[160];         /* why status is ERROR */
	uint64_t started_ms;
	uint32_t active_endpoints;
	uint32_t capacity;
	char port_name[64];
	char port_mac[24];
	bool link_up;
	uint32_t link_speed_mbps;
	uint32_t gateway_attempts;
	char gateway_last_error[160];
};
enum cp_status cp_state_status(const struct cp_state *st);
/* The /health body: {"status":...,"connected":...,...}; returns its length or -ENOSPC. */
int cp_state_health_json(const struct cp_state *st, char *buf, size_t len);

/* ---- health endpoint (libmicrohttpd, driven from the loop) ------------------------------------------------ */

struct cp_health;
/* port 0 asks the kernel for a free one; cp_health_port() tells which. */
struct cp_health *cp_health_start(struct cp_loop *loop, const char *bind_ip, uint16_t port,
				  const struct cp_state *st);
uint16_t cp_health_port(const struct cp_health *h);
void cp_health_stop(struct cp_health *h);

/* ---- gateway client --------------------------------------------------------------------------------------- */

/* The outbound TLS session to the gateway (docs/gateway-protocol.md): hello, heartbeats with the status from
 * cp_state, metrics frames kept until acknowledged, drain.  st->gateway_connected is true only while the
 * session is up (after welcome). */
struct cp_gateway;
struct cp_gateway *cp_gateway_start(struct cp_loop *loop, const struct cfg_worker *cfg, struct cp_state *st);
void cp_gateway_stop(struct cp_gateway *gw);
/* Draining (SIGTERM or the gateway's drain): status DRAINING, no new runs; once nothing is in hand the session
 * is closed and the callback runs (the worker then exits). */
typedef void (*cp_gateway_drained_cb)(void *arg);
void cp_gateway_on_drained(struct cp_gateway *gw, cp_gateway_drained_cb cb, void *arg);
void cp_gateway_drain(struct cp_gateway *gw, const char *why);
/* Queues one metrics frame: samples is one packed msgpack array of per-endpoint per-second samples (NULL: an
 * empty array).  Sequence numbers are assigned here, from 1; the frame is kept (memory, then a spill file)
 * until the gateway acknowledges it, and sent again after a reconnect.  0 or a negative errno. */
int cp_gateway_metrics(struct cp_gateway *gw, const char *run_id, uint64_t t, const void *samples, size_t len);
void cp_gateway_outbox_limit(struct cp_gateway *gw, size_t bytes); /* memory before spilling (default 4 MiB) */
struct cp_gateway_stats {
	uint64_t queued, acked, pending, spilled, resent, refused; /* refused: acked with an error, dropped */
	size_t in_memory_bytes;
	uint64_t worker_id; /* from the last welcome */
};
void cp_gateway_stats(const struct cp_gateway *gw, struct cp_gateway_stats *s);
/* Next reconnect delay for attempt n (1-based): min * 2^(n-1) capped at max, minus up to 25 % random jitter. */
uint32_t cp_backoff_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd);

#endif
