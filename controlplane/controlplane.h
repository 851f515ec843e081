/* controlplane/ — the main lcore: an epoll event loop with timers that SIP transports, the gateway session and
 * the health endpoint plug into; the worker's state; the gateway client.
 *
 * Error convention: constructors return NULL (with a logged reason), everything else 0 or a negative errno. */
#ifndef CM_CONTROLPLANE_H
#define CM_CONTROLPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

struct cp_report;
struct cp_sample;
struct cp_flow_report;
struct cp_metrics_out;

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
/* Work deferred to the end of a loop turn: an owner (a UDP transport with datagrams queued during the turn) asks
 * with cp_loop_flush_later, and its callback runs once, before the loop next sleeps in epoll_wait and before
 * cp_loop_run_once returns, so nothing deferred outlives the turn.  Embedded in its owner like a timer. */
typedef void (*cp_flush_cb)(struct cp_loop *loop, void *arg);
struct cp_flush {
	cp_flush_cb cb;
	void *arg;
	struct cp_flush *next;
	bool queued;
};
void cp_flush_init(struct cp_flush *f, cp_flush_cb cb, void *arg);
void cp_loop_flush_later(struct cp_loop *loop, struct cp_flush *f);
void cp_loop_flush_cancel(struct cp_loop *loop, struct cp_flush *f);
/* True while cp_loop_run_once is running callbacks: what is deferred now is flushed before control leaves it. */
bool cp_loop_in_turn(const struct cp_loop *loop);
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
/* Queues one metrics frame of a run's part: samples is one packed msgpack array of per-endpoint per-second samples
 * (NULL: an empty array), dp a packed dataplane sample map (cp_dpstats_sample) or NULL.  Sequence numbers are
 * assigned here, from 1; the frame is kept (memory, then a spill file) until the gateway acknowledges it, and
 * sent again after a reconnect.  0 or a negative errno. */
int cp_gateway_metrics(struct cp_gateway *gw, const char *run_id, uint64_t part, uint64_t t, const void *samples,
		       size_t len, const void *dp, size_t dplen);
void cp_gateway_outbox_limit(struct cp_gateway *gw, size_t bytes); /* memory before spilling (default 4 MiB) */
struct cp_gateway_stats {
	uint64_t queued, acked, pending, spilled, resent, refused; /* refused: acked with an error, dropped */
	size_t in_memory_bytes;
	uint64_t worker_id; /* from the last welcome */
};
void cp_gateway_stats(const struct cp_gateway *gw, struct cp_gateway_stats *s);
/* Part messages to the gateway (controlplane/parts.c): 0, or -ENOTCONN while no session is up (the caller keeps
 * the message and tries again after cp_parts_connected). */
int cp_gateway_part_accept(struct cp_gateway *gw, const char *run_id, uint64_t part, const char *sip);
int cp_gateway_part_calls_done(struct cp_gateway *gw, const char *run_id, uint64_t part);
int cp_gateway_part_done(struct cp_gateway *gw, const char *run_id, uint64_t part, const struct cp_report *r,
			 const char *reason);
/* No part is in hand any more: a drain may finish. */
void cp_gateway_parts_idle(struct cp_gateway *gw);

/* ---- gateway parts: runs assigned by the gateway (controlplane/parts.c) ------------------------------------ */

struct cp_parts;
struct cp_part_assign {
	const char *run_id;
	uint64_t part;
	const char *plan;   /* the plan's INI text */
	const char *group;
	uint64_t first, count;
};
struct cp_parts *cp_parts_new(struct cp_loop *loop, const struct cfg_worker *cfg, struct cp_state *st,
			      struct cp_gateway *gw);
void cp_parts_free(struct cp_parts *ps);
/* Starts the part (registration first); 0, or a negative errno with why (sent back in `refuse`). */
int cp_parts_assign(struct cp_parts *ps, const struct cp_part_assign *a, char *why, size_t len);
/* `start`: the callee parts' SIP addresses; the run's parts here begin dialing.  Returns parts started. */
int cp_parts_start(struct cp_parts *ps, const char *run_id, const struct cfg_fleet_remote *remote, uint32_t n);
void cp_parts_release(struct cp_parts *ps, const char *run_id);
/* [[run_id, part], ...] of the parts held (at most CP_PARTS_HELLO_MAX), for the hello. */
#define CP_PARTS_HELLO_MAX 256
struct msgpack_packer;
void cp_parts_pack(const struct cp_parts *ps, struct msgpack_packer *pk);
/* The plan of a live part of this run (for group names), or NULL. */
const struct cfg_plan *cp_parts_plan(struct cp_parts *ps, const char *run_id);
int cp_parts_cancel(struct cp_parts *ps, const char *run_id);
void cp_parts_connected(struct cp_parts *ps);
uint32_t cp_parts_live(const struct cp_parts *ps);
/* Next reconnect delay for attempt n (1-based): min * 2^(n-1) capped at max, minus up to 25 % random jitter. */
uint32_t cp_backoff_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd);

/* ---- run report: outcomes, timings, quality -> JSON summary; per-second samples -> msgpack ----------------
 * The endpoint engine records into a cp_report as the run goes; at the end cp_report_write_json() writes the
 * summary whose keys DESIGN.md fixes.  Percentiles are exact (every value is kept: 4 bytes per registration or
 * call).  Samples are one msgpack map per endpoint per second, appended to a stream (--metrics-out) and, in
 * daemon mode, sent to the gateway. */

#define CP_OUTCOMES(X) \
	X(SUCCESS) X(COMPLETED_WITH_WARNINGS) X(REGISTRATION_FAILED) X(CALL_FAILED) X(NEGOTIATION_FAILED) \
	X(TIMEOUT) X(OSERROR) X(TEARDOWN_ERROR)
#define CP_OUTCOME_ENUM(n) CP_OUT_##n,
enum cp_outcome { CP_OUTCOMES(CP_OUTCOME_ENUM) CP_OUT_COUNT };
#undef CP_OUTCOME_ENUM
const char *cp_outcome_name(enum cp_outcome o);

/* Every value kept, for exact percentiles (nearest rank). */
struct cp_values {
	uint32_t *v;
	size_t n, cap;
	bool sorted;
};
int cp_values_add(struct cp_values *s, uint32_t v);
/* p in (0, 100]; 0 when empty. */
uint32_t cp_values_percentile(struct cp_values *s, double p);
void cp_values_free(struct cp_values *s);

struct cp_flow_report {
	uint32_t endpoint;                   /* index in the plan of the endpoint whose leg this is */
	uint32_t ssrc;
	char src[48], dst[48]; /* "ip:port" */
	char codec[24];
	uint64_t packets_sent, packets_received, packets_lost, duplicate_packets, out_of_order_packets;
	uint64_t bytes_sent, bytes_received; /* RTP header + payload */
	bool srtp;                           /* sent and received as SRTP */
	double rtt_ms;                       /* from RTCP LSR/DLSR, < 0: none */
	double jitter_ms, max_jitter_ms, mos, r_factor;
	double burst_r;                      /* G.107 BurstR of the received loss pattern (1: random) */
	uint32_t dtmf_sent, dtmf_received;   /* DTMF digits of the leg: RFC 4733 events + SIP INFO */
	uint32_t holds;                      /* times the leg went on hold (stopped sending), by either side */
	bool early_only;                     /* early media of a call that was never answered */
};

/* Failures grouped by outcome and SIP status, with the first reason seen for each. */
#define CP_REPORT_FAILURE_KINDS 64
struct cp_failure {
	uint8_t outcome;
	uint16_t code;
	uint32_t count;
	char reason[64];
};

/* A group of the plan in the summary: its endpoints [first, first + count) and their outcomes; its streams'
 * figures are gathered from the flows when the summary is written. */
struct cp_report_group {
	char name[CFG_NAME_MAX];
	uint32_t first, count;
	uint32_t outcomes[CP_OUT_COUNT];
};

struct cp_report {
	char run_id[48];
	char plan[256];
	uint64_t started_wall_ms, ended_wall_ms;
	uint32_t outcomes[CP_OUT_COUNT];
	uint32_t endpoints_total;
	uint32_t reg_attempted, reg_succeeded, reg_failed;
	uint32_t reg_refreshes, reg_refresh_failed; /* REGISTER refreshes sent; endpoints whose refresh failed */
	struct cp_values reg_time_ms;
	uint32_t calls_attempted, calls_answered, calls_failed;
	uint32_t calls_received;            /* incoming calls our endpoints answered */
	uint32_t calls_early_media;         /* calls with early media (183 with SDP), placed or received */
	struct cp_values setup_ms, pdd_ms;
	/* quality over answered calls' received streams */
	uint32_t quality_n;
	double mos_sum, mos_min, r_sum, r_min, jitter_sum, jitter_max;
	uint64_t packets_lost, packets_expected;
	uint64_t dtmf_sent, dtmf_received;
	uint32_t holds, resumes, hold_failures; /* our re-INVITEs putting calls on hold and back (plan hold_at) */
	/* RFC 4028 session timers over all calls: our refreshes that succeeded, the peer's, sessions we ended for
	 * want of a refresh, 422s (sent or received) */
	uint32_t session_refreshes, session_refreshes_received, session_expired, session_422;
	struct cp_flow_report *flows;
	size_t nflows, flows_cap;
	struct cp_failure failures[CP_REPORT_FAILURE_KINDS];
	unsigned nfailures;
	struct cp_report_group groups[CFG_MAX_GROUPS];
	unsigned ngroups;
	/* dataplane counters at the end of the run (drops by reason, port counters), name -> value */
	struct { char name[32]; uint64_t value; } dp[64];
	unsigned ndp;
	/* the port's extended statistics (the PMD's own names: per-queue packets, errors, misses ...) */
	struct cp_xstat { char name[64]; uint64_t value; } *xstats;
	size_t nxstats, xstats_cap;
};

void cp_report_init(struct cp_report *r, const char *run_id, const char *plan);
void cp_report_free(struct cp_report *r);
void cp_report_outcome(struct cp_report *r, enum cp_outcome o);
/* The plan's groups, for the summary's per-group figures (`groups`). */
void cp_report_set_groups(struct cp_report *r, const struct cfg_plan *plan);
/* cp_report_outcome for endpoint ep (index in the plan), counted in its group too. */
void cp_report_ep_outcome(struct cp_report *r, uint32_t ep, enum cp_outcome o);
/* Records why an endpoint failed (after cp_report_outcome): grouped by (outcome, code). */
void cp_report_failure(struct cp_report *r, enum cp_outcome o, uint16_t code, const char *reason);
void cp_report_registration(struct cp_report *r, bool ok, uint32_t time_ms);
void cp_report_call(struct cp_report *r, bool answered, uint32_t setup_ms, uint32_t pdd_ms);
/* Adds one received stream's end-of-call figures (and its quality to the totals). */
int cp_report_flow(struct cp_report *r, const struct cp_flow_report *f);
/* The summary table notes a run whose TX pacing p99 (the dataplane counter CP_DP_PACING_P99) exceeds this: 1 ms,
 * a twentieth of a 20 ms packet interval, far beyond what a dataplane lcore on its own CPU shows (a few µs). */
#define CP_PACING_NOTE_NS 1000000u
#define CP_DP_PACING_P99 "tx_pacing_p99_ns"
/* Adds a dataplane counter to the report ("tx_packets", "rx_drop_unknown_port", "port_imissed", ...). */
void cp_report_dp_counter(struct cp_report *r, const char *name, uint64_t value);
/* Adds one of the port's extended statistics (the summary's `port_xstats`); false when out of memory. */
bool cp_report_port_xstat(struct cp_report *r, const char *name, uint64_t value);
/* "COMPLETED" when every endpoint succeeded (warnings included), "COMPLETED_WITH_FAILURES" otherwise. */
const char *cp_report_run_outcome(const struct cp_report *r);
/* Writes the JSON summary (DESIGN.md keys); 0 or -errno. */
int cp_report_write_json(struct cp_report *r, const char *path);

/* One per-endpoint per-second sample; fields with has_* false are written as nil.  With a metrics sink the
 * counters packets_*, bytes_*, packets_lost, duplicate_packets and out_of_order_packets are the endpoint's counts in
 * that second (both legs, and the rest of a call that ended in it), so an endpoint's samples add up to its flows in
 * the summary; the other figures are those of its current stream.  (A media op fills them with the stream's running
 * totals; the engine turns those into the second's counts.) */
struct cp_sample {
	uint32_t t;            /* seconds since the run started */
	uint32_t endpoint;     /* index in the plan */
	const char *group;
	const char *state;     /* "registering", "ringing", "in_call", "done", "failed", ... */
	uint64_t packets_sent, bytes_sent, packets_received, bytes_received;
	int64_t packets_lost;  /* negative in a second when packets counted lost arrived late */
	uint64_t duplicate_packets, out_of_order_packets, sequence_number_resets;
	double fraction_lost, jitter_ms, rtt_ms, mos, r_factor, burst_density, gap_density;
	bool has_media, has_rtt;
	bool has_counts;       /* the counters are present though no stream is up now (a call ended this second) */
	int32_t pdd_ms, time_to_ringing_ms, setup_ms, call_duration_ms; /* -1: not known (yet) */
	uint16_t final_status_code;  /* 0: none yet */
	const char *call_result;     /* NULL: none yet */
};

struct cp_metrics_out;
/* Opens (truncates) FILE for a msgpack stream of samples. */
struct cp_metrics_out *cp_metrics_open(const char *path);
int cp_metrics_write(struct cp_metrics_out *m, const struct cp_sample *s);
/* A sink instead of a file: samples are gathered as consecutive msgpack maps and handed to fn (count maps in
 * len bytes) whenever max_bytes are gathered and at each cp_metrics_flush (the engine flushes every second), with
 * the second's dataplane sample (dp, dplen; NULL, 0 when there is none) at the flush after it was written. */
typedef int (*cp_metrics_sink_fn)(void *arg, const char *data, size_t len, uint32_t count, const char *dp,
				  size_t dplen);
struct cp_metrics_out *cp_metrics_open_sink(cp_metrics_sink_fn fn, void *arg, size_t max_bytes);
int cp_metrics_flush(struct cp_metrics_out *m);
/* Flushes and closes; returns 0 or -errno of the first write error. */
int cp_metrics_close(struct cp_metrics_out *m);
/* One dataplane sample (a packed msgpack map, cp_dpstats_sample): a file gets it in the stream after the second's
 * endpoint samples; a sink keeps it (the latest one) for the next flush, which hands it to fn apart from them. */
int cp_metrics_write_dataplane(struct cp_metrics_out *m, const char *map, size_t len);

/* ---- the dataplane's own figures per second (controlplane/dpstats.c, docs/results.md "Dataplane samples") ----
 * Port statistics, the lcores' TX counters and RX drops by reason, TX pacing and the port's extended statistics
 * as a sample per second: {kind: "dataplane", v, t, ms, second: {counters of that second, tx_paced,
 * tx_pacing_p50_ns/_p99_ns/_max_ns over it}, total: {the same counters since the baseline, pacing over the whole
 * span}, xstats: {name: change in that second, errors first, at most CP_DPS_XSTATS_MAX}, xstats_changed}. */
#define CP_DPS_VERSION 1
#define CP_DPS_XSTATS_MAX 64
struct cp_dpstats;
/* from_zero: totals count from dp_start (a standalone run owns the dataplane); else from now (a gateway part on a
 * worker whose dataplane outlives it).  NULL when out of memory. */
struct cp_dpstats *cp_dpstats_new(bool from_zero);
void cp_dpstats_free(struct cp_dpstats *d);
/* Reads the dataplane and writes the sample of what changed since the previous reading to m. */
int cp_dpstats_sample(struct cp_dpstats *d, uint32_t t, struct cp_metrics_out *m);
/* Reads the dataplane without writing a sample (the figures then go into the next sample's second). */
void cp_dpstats_read(struct cp_dpstats *d);
/* The totals of the last reading as the report's dataplane counters (the summary's `dataplane`, with the pacing
 * over the whole span) and `port_xstats`: equal to the last sample's `total`. */
void cp_dpstats_report(struct cp_dpstats *d, struct cp_report *r);
/* Encodes one sample as a msgpack map into buf; returns the length or -ENOSPC. */
int cp_sample_pack(const struct cp_sample *s, char *buf, size_t len);

/* ---- endpoint engine -------------------------------------------------------------------------------------
 * Turns a plan into endpoints and drives each one: register -> (callee) answer | (caller) dial its target once
 * every callee is registered (phased dispatch) -> media for the call duration -> hang up -> unregister, at the
 * plan's register_rate and cps.  Signalling and media are reached through an ops table so that the SIP user
 * agent and the dataplane plug in (and tests can drive the engine with scripted peers).  The ops start actions
 * and report back through the cp_engine_on_* functions, from the same thread, at any later time (never from
 * inside the op call itself). */

enum cp_ep_state {
	CP_EP_IDLE, CP_EP_REGISTERING, CP_EP_READY, CP_EP_CALLING, CP_EP_RINGING, CP_EP_IN_CALL, CP_EP_HANGING_UP,
	CP_EP_UNREGISTERING, CP_EP_DONE, CP_EP_STATE_COUNT
};
const char *cp_ep_state_name(enum cp_ep_state s);

/* What an answered call's media needs (the far end's address comes from the SDP answer or offer). */
struct cp_call_media {
	char remote_ip[48];
	uint16_t remote_port;
	char codec[24];
	uint8_t payload_type;
	uint16_t ptime_ms;
	/* SDES-SRTP (RFC 4568) when negotiated: suite AES_CM_128_HMAC_SHA1_80 (1) or _32 (2), master key||salt */
	uint8_t srtp_suite;           /* 0: plain RTP */
	uint8_t srtp_tx_key[30];      /* ours, as offered/answered */
	uint8_t srtp_rx_key[30];      /* the peer's */
	uint8_t dtmf_pt;              /* RFC 4733 telephone-event payload type both ways, 0: none */
	uint8_t only;                 /* 0: send and receive; CP_MEDIA_SEND_ONLY / _RECV_ONLY (early media) */
};
#define CP_MEDIA_SEND_ONLY 1
#define CP_MEDIA_RECV_ONLY 2

struct cp_engine;

/* A call leg: an endpoint's outgoing call, or the incoming call it answers (one of each at a time; a busy
 * callee endpoint rejects further calls with 486, as a phone would). */
#define CP_LEG(ep, incoming) ((uint32_t)(ep) * 2u + ((incoming) ? 1u : 0u))
#define CP_LEG_EP(leg) ((leg) / 2u)
#define CP_LEG_INCOMING(leg) (((leg) & 1u) != 0)

struct cp_engine_ops {
	/* Signalling.  reg: REGISTER with expires_s (0 = unregister), answer via cp_engine_on_registered.
	 * call: INVITE from caller `ep` to callee endpoint `callee` (or -1) / `uri`; answers via
	 * cp_engine_on_ringing / _on_answered / _on_call_failed.  hangup: BYE (or CANCEL before the answer) of a
	 * leg (CP_LEG); the result via cp_engine_on_hungup, or _on_call_failed for a cancelled call.  Callee endpoints answer incoming calls by
	 * themselves as their group says and report each with cp_engine_on_answered(incoming) and its end with
	 * cp_engine_on_hungup(incoming). */
	int (*reg)(void *sig, uint32_t ep, uint32_t expires_s);
	int (*call)(void *sig, uint32_t ep, int64_t callee, const char *uri);
	int (*hangup)(void *sig, uint32_t leg);
	/* Media on the dataplane for one leg (CP_LEG). */
	int (*media_start)(void *media, uint32_t leg, const struct cp_call_media *m);
	/* A leg started for early media goes on with the answer's media, counters kept (optional: without it early
	 * media is not started). */
	int (*media_update)(void *media, uint32_t leg, const struct cp_call_media *m);
	/* Stops it and fills the end-of-call figures of the stream this leg received. */
	void (*media_stop)(void *media, uint32_t leg, struct cp_flow_report *out);
	/* Current counters of the leg's received stream into a sample (optional). */
	void (*media_sample)(void *media, uint32_t leg, struct cp_sample *s);
	/* Before a round of media_sample calls (optional): read every leg's counters at once. */
	void (*media_sample_begin)(void *media);
	/* Registration refreshes sent so far, over every endpoint (optional; read when the run ends). */
	uint32_t (*reg_refreshes)(void *sig);
};

struct cp_engine_stats {
	uint32_t state[CP_EP_STATE_COUNT];
	uint64_t calls_started;  /* since the start of the run */
	double mos_now; /* average over calls that currently have media, < 0 if none */
};

struct cp_engine *cp_engine_new(struct cp_loop *loop, const struct cfg_plan *plan, const struct cp_engine_ops *ops,
				void *sig, void *media, struct cp_report *report);
void cp_engine_free(struct cp_engine *e);
/* Starts the run; `done` is called once every endpoint has an outcome (or the duration ran out). */
int cp_engine_start(struct cp_engine *e, void (*done)(struct cp_engine *e, void *arg), void *arg);
/* Ends the run early (SIGINT): calls in progress are hung up, endpoints unregister, outcomes are recorded. */
void cp_engine_stop(struct cp_engine *e);
/* A gateway part (plan->fleet.on): endpoints elsewhere are absent.  ready() once every endpoint here has
 * finished registering (the worker then accepts the part); nobody dials before cp_engine_go() (the gateway's
 * `start`, when every part is ready), which also starts the duration; calls_done() once the callers here are
 * through; callees stay until cp_engine_release() (every caller part through) or the end. */
#define CP_ENGINE_START_WAIT_MS 600000u
struct cp_engine_fleet {
	void (*ready)(void *arg);
	void (*calls_done)(void *arg);
	void *arg;
};
void cp_engine_set_fleet(struct cp_engine *e, const struct cp_engine_fleet *f); /* before cp_engine_start */
void cp_engine_go(struct cp_engine *e);
void cp_engine_release(struct cp_engine *e);
void cp_engine_stats(const struct cp_engine *e, struct cp_engine_stats *st);
void cp_engine_set_metrics(struct cp_engine *e, struct cp_metrics_out *m);
/* fn runs every second with the samples' t, after the endpoints' samples are written and before the metrics are
 * flushed; last: the run's final samples, at its end (the executor's dataplane samples and figures). */
void cp_engine_each_second(struct cp_engine *e, void (*fn)(void *arg, uint32_t t, bool last), void *arg);
/* Endpoint facts the signalling side needs (the AOR user, group, peer). */
const struct cfg_group *cp_engine_group_of(const struct cp_engine *e, uint32_t ep, uint32_t *index_in_group);
uint32_t cp_engine_endpoints(const struct cp_engine *e);
enum cp_ep_state cp_engine_state(const struct cp_engine *e, uint32_t ep);
enum cp_outcome cp_engine_outcome(const struct cp_engine *e, uint32_t ep, uint16_t *code, const char **reason);

/* Reports from the signalling side.  status is the SIP final status (0 with a reason for "no answer"). */
void cp_engine_on_registered(struct cp_engine *e, uint32_t ep, uint16_t status, const char *reason);
/* A registered endpoint's refresh (or re-registration) failed with status (0: no answer): the registrar no
 * longer has it.  Counted, and the endpoint's outcome (REGISTRATION_FAILED, TIMEOUT for no answer). */
void cp_engine_on_registration_lost(struct cp_engine *e, uint32_t ep, uint16_t status, const char *reason);
void cp_engine_on_ringing(struct cp_engine *e, uint32_t ep, uint16_t status);
void cp_engine_on_answered(struct cp_engine *e, uint32_t ep, bool incoming, const struct cp_call_media *m);
/* Early media (RFC 3960) on a call not yet answered: the leg's flow starts, receiving only on a call we placed
 * (the far end plays ringback or an announcement), sending only on one we received (we play it); the answer
 * (cp_engine_on_answered) turns it into the call's media, a call that ends unanswered reports the flow. */
void cp_engine_on_early_media(struct cp_engine *e, uint32_t ep, bool incoming, const struct cp_call_media *m);
/* A received call with early media ended before it was answered (cancelled, or rejected after its ring time). */
void cp_engine_on_early_end(struct cp_engine *e, uint32_t ep);
/* A call that was not answered: outcome CALL_FAILED, TIMEOUT (408 or no answer) or NEGOTIATION_FAILED
 * (488/606, or negotiation = true for an SDP answer that did not fit). */
void cp_engine_on_call_failed(struct cp_engine *e, uint32_t ep, uint16_t status, bool negotiation,
			      const char *reason);
/* An answered call we had to end before its time (its session timer expired without a refresh): outcome
 * CALL_FAILED with status and reason; cp_engine_on_hungup follows. */
void cp_engine_on_call_dropped(struct cp_engine *e, uint32_t ep, uint16_t status, const char *reason);
/* A call ended: by our hangup (status of the BYE's answer, 0 = no answer) or by the peer (by_peer). */
void cp_engine_on_hungup(struct cp_engine *e, uint32_t ep, bool incoming, bool by_peer, uint16_t status);
/* Our re-INVITE putting an answered call on hold (resume false) or taking it off (resume true) ended: ok, or the
 * status (0: not sent) and why; a failure leaves the call up and makes the outcome COMPLETED_WITH_WARNINGS with
 * that status. */
void cp_engine_on_hold(struct cp_engine *e, uint32_t ep, bool resume, bool ok, uint16_t status, const char *reason);
/* A call's session timer figures (RFC 4028), at its end: added to the run's. */
void cp_engine_on_session_timer(struct cp_engine *e, unsigned refreshes, unsigned received, bool expired,
				unsigned too_small);
/* The operating system refused something (socket, port): outcome OSERROR. */
void cp_engine_on_os_error(struct cp_engine *e, uint32_t ep, int err, const char *what);

/* ---- media adapter: engine legs -> dataplane flows ---------------------------------------------------------
 * Frame caches are built and every possible leg gets its flow slot, media IP and RTP port at plan time
 * (cp_media_local() is what the SDP carries).  cp_media_start/_stop/_sample are the engine's media ops. */
struct cp_media;
struct dp_config;
struct cp_media *cp_media_new(const struct cfg_plan *plan, char *err, size_t errlen);
void cp_media_free(struct cp_media *m);
uint32_t cp_media_flows(const struct cp_media *m);
int cp_media_local(const struct cp_media *m, uint32_t leg, char *ip, size_t iplen, uint16_t *port);
/* Fills a dataplane configuration for the plan: media IPs, flow capacity. */
int cp_media_dp_config(const struct cp_media *m, struct dp_config *cfg);
/* The same from a [dataplane] section (the worker's own, in daemon mode) for a table of `flows` flows. */
int cp_dp_config_from(const struct cfg_plan_dataplane *dp, uint32_t flows, struct dp_config *cfg);
/* The plan's [impairment] onto every flow (dataplane profile 0). */
int cp_media_apply_impairment(const struct cp_media *m);
/* Next hop for the worker's own media addresses (the port's MAC). */
void cp_media_set_mac(struct cp_media *m, const uint8_t mac[6]);
int cp_media_start(void *media, uint32_t leg, const struct cp_call_media *cm);
int cp_media_update(void *media, uint32_t leg, const struct cp_call_media *cm);
void cp_media_stop(void *media, uint32_t leg, struct cp_flow_report *out);
void cp_media_sample(void *media, uint32_t leg, struct cp_sample *s);
void cp_media_sample_begin(void *media);
/* A re-INVITE changed an up leg's media: new remote, codec, and direction (hold: send only or receive only). */
int cp_media_modify(struct cp_media *m, uint32_t leg, const struct cp_call_media *cm, bool send, bool recv);
/* Sends one DTMF digit (0-9 * # A-D) as RFC 4733 events on the leg's flow, for duration_ms. */
int cp_media_dtmf(struct cp_media *m, uint32_t leg, char digit, uint16_t duration_ms);
/* Adds digits carried by SIP INFO to the leg's figures (reported with its flow). */
void cp_media_dtmf_info(struct cp_media *m, uint32_t leg, uint32_t sent, uint32_t received);

/* ---- SIP user agent: the engine's signalling ops, an adapter over sip/ -------------------------------------
 * One transport per group (UDP, TCP or TLS on its local_ip:local_port) with a sip/ user agent core on it;
 * endpoints are told apart by the user part of the Request-URI.  Registration is sip_reg, calls of both roles
 * sip_call (digest, Record-Route, SDES keys per call, 2xx retransmission, re-INVITE hold/resume into the leg's
 * flow, DTMF by RFC 4733 or INFO), SDP with the media adapter's addresses; an outbound proxy gets every request. */
struct cp_ua;
/* NULL with err and errno: ENOMEM, or why the plan cannot be set up here (EADDRINUSE, EHOSTUNREACH, EMFILE...). */
struct cp_ua *cp_ua_new(struct cp_loop *loop, const struct cfg_plan *plan, struct cp_media *media, char *err,
			size_t errlen);
void cp_ua_attach(struct cp_ua *ua, struct cp_engine *engine);
/* Where the group's SIP socket listens (a gateway part reports it in `accept`). */
int cp_ua_group_addr(const struct cp_ua *ua, uint16_t group, char *ip, size_t iplen, uint16_t *port);
void cp_ua_free(struct cp_ua *ua);
/* The ops a run hands the engine: signalling from the UA, media from the adapter (sig = cp_ua, media = cp_media). */
extern const struct cp_engine_ops cp_ua_engine_ops;

/* ---- run executor: one plan, or one gateway part of one (controlplane/exec.c) ------------------------------ */

struct cp_exec;
struct cp_exec_opts {
	const char *run_id;
	const char *plan_name;
	struct cp_metrics_out *metrics;       /* per-endpoint per-second samples, or NULL */
	const struct cp_engine_fleet *fleet;  /* a gateway part (plan->fleet.on), or NULL */
};
/* Takes the plan (malloc'd; freed with the executor, or at once on failure).  Refuses what this build cannot
 * run and builds the media (frame caches, flow slots); no dataplane needed yet.  NULL with err on failure. */
struct cp_exec *cp_exec_new(struct cp_loop *loop, struct cfg_plan *plan, const struct cp_exec_opts *o, char *err,
			    size_t errlen);
/* With the dataplane running: impairment, SIP sockets, the engine; done() when every endpoint has its outcome.
 * -EINVAL with err: the plan cannot be set up on this host (a name that does not resolve, an address or port that
 * cannot be had, fewer accounts than endpoints, impairment refused); another negative errno: out of memory. */
int cp_exec_start(struct cp_exec *x, void (*done)(struct cp_exec *x, void *arg), void *arg, char *err,
		  size_t errlen);
void cp_exec_free(struct cp_exec *x);
void cp_exec_set_metrics(struct cp_exec *x, struct cp_metrics_out *m);
/* The report's dataplane figures are taken with the run's last samples; a run stopped without them (a second
 * SIGINT) gets them here, with one more dataplane sample.  Before dp_stop. */
void cp_exec_dataplane_final(struct cp_exec *x);
struct cp_report *cp_exec_report(struct cp_exec *x);
struct cp_engine *cp_exec_engine(struct cp_exec *x);
struct cp_media *cp_exec_media(struct cp_exec *x);
struct cp_ua *cp_exec_ua(struct cp_exec *x);
struct cfg_plan *cp_exec_plan(struct cp_exec *x);

/* `callmeter-worker run PLAN.ini ...` */
int cp_run_main(int argc, char **argv);

/* ---- what `run` shows a person -------------------------------------------------------------------------- */

struct cp_progress {
	uint32_t elapsed_s, duration_s;
	uint32_t total, ready, ringing, in_call, done, failed; /* ready: registered, or needing no registration */
	double cps;          /* call attempts in the last second */
	double mos;          /* current average over calls with media; < 0: none yet */
	double loss_pct;
	double jitter_ms;
};
/* One progress line: on a terminal it rewrites itself ("\r", no newline); otherwise a plain log line. */
void cp_progress_print(FILE *out, bool tty, const struct cp_progress *p);
/* The final summary table. */
void cp_summary_print(FILE *out, struct cp_report *r);

#endif
