/* The endpoint engine: every endpoint of a plan, driven from registration to its outcome.
 *
 * Endpoints live in one preallocated array addressed by index.  Work is paced by two token buckets refilled
 * on a 10 ms tick: REGISTERs (and unREGISTERs) at the plan's register_rate, call attempts at its cps.  Dialing
 * starts only when every endpoint of a group that receives calls has finished registering (phased dispatch), so
 * that no INVITE meets an unregistered callee.  Each outcome is sticky: the first failure an endpoint meets
 * is the one reported, with the SIP status behind it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/controlplane.h"

#define TICK_MS 10
#define NO_OUTCOME 0xff

enum ep_flags {
	EPF_REGISTERED = 1u << 0,
	EPF_CALLEE = 1u << 1,   /* receives calls (role callee or both) */
	EPF_CALLER = 1u << 2,   /* places calls (role caller or both) */
	EPF_WARN = 1u << 3,     /* a call's quality was below the plan's warning thresholds */
	EPF_IN_BUSY = 1u << 4,  /* an incoming call is up */
	EPF_COUNTED = 1u << 5,  /* registration settled (phased dispatch and readiness counters) */
	EPF_ABSENT = 1u << 6,   /* on another worker (a gateway part): never started, never reported */
	EPF_OUT_EARLY = 1u << 7, /* the placed call's leg is up for early media, not yet answered */
	EPF_IN_EARLY = 1u << 8,  /* the received call's leg is up for early media, not yet answered */
};

struct ep {
	uint16_t group;
	uint8_t state;      /* enum cp_ep_state */
	uint8_t outcome;    /* enum cp_outcome or NO_OUTCOME */
	uint16_t code;      /* SIP status behind the outcome */
	uint16_t flags;
	uint32_t calls_done;
	uint32_t ring_ms;   /* time to the first 18x of the current call, 0: none yet */
	uint32_t setup_ms;
	uint64_t t_start;   /* start of the current transaction (REGISTER / INVITE / BYE), loop ms */
	uint64_t t_answer;
	const char *reason; /* static text or NULL */
	struct cp_engine *engine; /* for the timer callback */
	struct cp_timer timer;
};

/* What an endpoint's per-second samples have reported of its legs' counters (which the media keep cumulative per
 * call), so that each sample carries what happened in its second: with them, an endpoint's samples add up to its
 * flows in the summary.  A leg that stops mid-second leaves the rest of its counts (carry) for the next sample.
 * Counts are modulo 2^32: a second's difference always fits.  Kept only when samples are written. */
struct ep_counts {
	uint32_t sent, sent_bytes, recv, recv_bytes, lost, dup, ooo;
};
struct ep_tally {
	struct ep_counts leg[2]; /* [incoming]: reported so far of the call up now */
	struct ep_counts carry;  /* of calls that ended since the last sample */
};

struct queue {
	uint32_t *v;
	size_t cap, head, len;
};

struct cp_engine {
	struct cp_loop *loop;
	const struct cfg_plan *plan;
	const struct cp_engine_ops *ops;
	void *sig, *media;
	struct cp_report *report;
	struct cp_metrics_out *metrics;
	struct ep_tally *tally;     /* per endpoint, with metrics */
	void (*each_second)(void *arg, uint32_t t, bool last);
	void *each_second_arg;
	struct ep *eps;
	uint32_t n;
	uint32_t group_first[CFG_MAX_GROUPS + 1];
	struct queue regq, dialq;
	uint32_t callees_pending;   /* callee registrations not yet settled */
	uint32_t reg_pending;       /* registrations not yet settled, every role */
	uint32_t here;              /* endpoints run by this engine (not absent) */
	bool fleet, go, released, ready_told, calls_told;
	struct cp_engine_fleet fleet_ops;
	uint32_t callers_active;    /* caller endpoints not yet finished with their calls */
	uint32_t active;            /* endpoints not DONE */
	bool has_external;          /* a group waits for calls from outside until the duration ends */
	bool callees_released;
	double reg_tokens, dial_tokens;
	uint64_t last_tick;
	uint64_t t_run_start;
	uint32_t elapsed_s;
	uint64_t calls_started;
	double mos_now;
	bool started, stopping, finished;
	struct cp_timer tick, second, deadline, grace, finish;
	void (*done)(struct cp_engine *e, void *arg);
	void *done_arg;
};

static const char *const state_names[] = {
	[CP_EP_IDLE] = "idle", [CP_EP_REGISTERING] = "registering", [CP_EP_READY] = "ready",
	[CP_EP_CALLING] = "calling", [CP_EP_RINGING] = "ringing", [CP_EP_IN_CALL] = "in_call",
	[CP_EP_HANGING_UP] = "hanging_up", [CP_EP_UNREGISTERING] = "unregistering", [CP_EP_DONE] = "done",
};

const char *cp_ep_state_name(enum cp_ep_state s)
{
	return (unsigned)s < CP_EP_STATE_COUNT ? state_names[s] : "?";
}

/* ---- small helpers ---------------------------------------------------------------------------------------- */

static int queue_init(struct queue *q, size_t cap)
{
	q->v = malloc((cap ? cap : 1) * sizeof(*q->v));
	q->cap = cap ? cap : 1;
	q->head = q->len = 0;
	return q->v ? 0 : -ENOMEM;
}

static void queue_push(struct queue *q, uint32_t v)
{
	if (q->len < q->cap)
		q->v[(q->head + q->len++) % q->cap] = v;
}

static bool queue_pop(struct queue *q, uint32_t *v)
{
	if (q->len == 0)
		return false;
	*v = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return true;
}

static const struct cfg_group *grp(const struct cp_engine *e, const struct ep *p)
{
	return &e->plan->groups[p->group];
}

static uint32_t ep_index(const struct cp_engine *e, const struct ep *p)
{
	return (uint32_t)(p - e->eps);
}

static uint64_t now(const struct cp_engine *e)
{
	return cp_loop_now_ms(e->loop);
}

/* The first failure wins; success with warnings is upgraded by any failure. */
static void set_outcome(struct ep *p, enum cp_outcome o, uint16_t code, const char *reason)
{
	if (p->outcome != NO_OUTCOME && p->outcome != CP_OUT_SUCCESS && p->outcome != CP_OUT_COMPLETED_WITH_WARNINGS)
		return;
	p->outcome = (uint8_t)o;
	p->code = code;
	p->reason = reason;
}

/* A registration that failed with status (0 or 408: no answer) is the endpoint's outcome. */
static void set_reg_outcome(struct ep *p, uint16_t status, const char *reason)
{
	set_outcome(p, status == 0 || status == 408 ? CP_OUT_TIMEOUT : CP_OUT_REGISTRATION_FAILED, status ? status : 408,
		    reason);
}

static bool failed(const struct ep *p)
{
	return p->outcome != NO_OUTCOME && p->outcome != CP_OUT_SUCCESS &&
	       p->outcome != CP_OUT_COMPLETED_WITH_WARNINGS;
}

static void schedule_finish(struct cp_engine *e)
{
	if (!e->finished && !cp_timer_armed(&e->finish))
		cp_timer_start(e->loop, &e->finish, 0);
}

static void release_callees(struct cp_engine *e);

static void tell_ready(struct cp_engine *e)
{
	if (e->fleet && !e->ready_told && e->reg_pending == 0 && e->started) {
		e->ready_told = true;
		if (e->fleet_ops.ready)
			e->fleet_ops.ready(e->fleet_ops.arg);
	}
}

/* Registration is over for this endpoint, one way or the other (also when it never needed one). */
static void settle_callee(struct cp_engine *e, struct ep *p)
{
	if (p->flags & EPF_COUNTED)
		return;
	p->flags |= EPF_COUNTED;
	if (p->flags & EPF_CALLEE)
		e->callees_pending--;
	e->reg_pending--;
	tell_ready(e);
}

/* The endpoint has its outcome: record it once. */
static void ep_done(struct cp_engine *e, struct ep *p)
{
	enum cp_outcome o;

	if (p->state == CP_EP_DONE)
		return;
	cp_timer_stop(e->loop, &p->timer);
	settle_callee(e, p);
	if (p->outcome == NO_OUTCOME)
		set_outcome(p, (p->flags & EPF_WARN) ? CP_OUT_COMPLETED_WITH_WARNINGS : CP_OUT_SUCCESS, 0, NULL);
	o = (enum cp_outcome)p->outcome;
	if (o != CP_OUT_SUCCESS && o != CP_OUT_COMPLETED_WITH_WARNINGS)
		cm_log(CM_LOG_DEBUG, "engine", "endpoint %u [group %s]: %s%s%.0u %s", ep_index(e, p), grp(e, p)->name,
		       cp_outcome_name(o), p->code ? " " : "", (unsigned)p->code, p->reason ? p->reason : "");
	if (p->flags & EPF_CALLER) {
		e->callers_active--;
		if (e->callers_active == 0) {
			if (e->fleet && !e->calls_told) {
				e->calls_told = true;
				if (e->fleet_ops.calls_done)
					e->fleet_ops.calls_done(e->fleet_ops.arg);
			}
			release_callees(e);
		}
	}
	p->state = CP_EP_DONE;
	cp_report_ep_outcome(e->report, ep_index(e, p), o);
	/* warnings with a SIP status behind them (a refused re-INVITE) are listed with the failures */
	if ((o != CP_OUT_SUCCESS && o != CP_OUT_COMPLETED_WITH_WARNINGS) || (o == CP_OUT_COMPLETED_WITH_WARNINGS && p->code))
		cp_report_failure(e->report, o, p->code, p->reason);
	if (--e->active == 0)
		schedule_finish(e);
}

/* Unregister if registered, else done. */
static void ep_leave(struct cp_engine *e, struct ep *p)
{
	if ((p->flags & EPF_REGISTERED) && !e->finished) {
		p->state = CP_EP_UNREGISTERING;
		queue_push(&e->regq, ep_index(e, p));
		return;
	}
	ep_done(e, p);
}

/* ---- timers ----------------------------------------------------------------------------------------------- */

static void on_ep_timer(struct cp_loop *loop, void *arg);

static void arm(struct cp_engine *e, struct ep *p, uint32_t ms)
{
	cp_timer_start(e->loop, &p->timer, ms);
}

static void start_call(struct cp_engine *e, struct ep *p)
{
	const struct cfg_group *g = grp(e, p);
	int64_t callee = -1;
	uint32_t idx = ep_index(e, p);
	int rc;

	if (g->target_kind == CFG_TARGET_GROUP) {
		uint32_t first = e->group_first[g->target_group];
		uint32_t count = e->group_first[g->target_group + 1] - first;
		/* endpoint i of the caller group calls endpoint i mod n of the target group */
		callee = first + (idx - e->group_first[p->group]) % count;
	}
	p->state = CP_EP_CALLING;
	p->t_start = now(e);
	p->ring_ms = 0;
	e->calls_started++;
	arm(e, p, e->plan->test.setup_timeout_ms);
	rc = e->ops->call(e->sig, idx, callee, g->target_kind == CFG_TARGET_URI ? g->target : NULL);
	if (rc < 0) {
		cp_report_call(e->report, false, 0, 0);
		set_outcome(p, CP_OUT_OSERROR, 0, "cannot send INVITE");
		ep_leave(e, p);
	}
}

static void start_register(struct cp_engine *e, struct ep *p, bool unregister)
{
	int rc;

	p->t_start = now(e);
	arm(e, p, unregister ? e->plan->test.teardown_timeout_ms : e->plan->test.register_timeout_ms);
	rc = e->ops->reg(e->sig, ep_index(e, p), unregister ? 0 : grp(e, p)->register_expires_s);
	if (rc < 0) {
		set_outcome(p, CP_OUT_OSERROR, 0, unregister ? "cannot send unREGISTER" : "cannot send REGISTER");
		if (!unregister)
			cp_report_registration(e->report, false, 0);
		p->flags &= (uint16_t)~EPF_REGISTERED;
		ep_done(e, p);
	}
}

static void refill(double *tokens, double rate, double dt_s)
{
	double cap = rate * 0.05 > 1 ? rate * 0.05 : 1; /* at most 50 ms worth at once: no bursts */

	*tokens += rate * dt_s;
	if (*tokens > cap)
		*tokens = cap;
}

static void on_tick(struct cp_loop *loop, void *arg)
{
	struct cp_engine *e = arg;
	double dt = (double)(cp_loop_now_ms(loop) - e->last_tick) / 1000.0;
	uint32_t idx;

	e->last_tick = cp_loop_now_ms(loop);
	refill(&e->reg_tokens, e->plan->test.register_rate, dt);
	while (e->reg_tokens >= 1 && queue_pop(&e->regq, &idx)) {
		struct ep *p = &e->eps[idx];

		if (p->state == CP_EP_IDLE) {
			p->state = CP_EP_REGISTERING;
			start_register(e, p, false);
		} else if (p->state == CP_EP_UNREGISTERING) {
			start_register(e, p, true);
		} else {
			continue; /* finished meanwhile */
		}
		e->reg_tokens -= 1;
	}
	if (e->callees_pending == 0 && !e->stopping && (!e->fleet || e->go)) {
		refill(&e->dial_tokens, e->plan->test.cps, dt);
		while (e->dial_tokens >= 1 && queue_pop(&e->dialq, &idx)) {
			if (e->eps[idx].state != CP_EP_READY)
				continue;
			start_call(e, &e->eps[idx]);
			e->dial_tokens -= 1;
		}
	}
	if (!e->finished)
		cp_timer_start(loop, &e->tick, TICK_MS);
}

static void counts_add(struct ep_counts *acc, const struct ep_counts *now, const struct ep_counts *before)
{
	acc->sent += now->sent - before->sent;
	acc->sent_bytes += now->sent_bytes - before->sent_bytes;
	acc->recv += now->recv - before->recv;
	acc->recv_bytes += now->recv_bytes - before->recv_bytes;
	acc->lost += now->lost - before->lost;
	acc->dup += now->dup - before->dup;
	acc->ooo += now->ooo - before->ooo;
}

/* Whether an endpoint's outgoing (in = 0) or incoming (in = 1) leg has media up: answered (the placed call's
 * until its BYE is answered), or early media. */
static bool leg_up(const struct ep *p, int in)
{
	if (in)
		return (p->flags & (EPF_IN_BUSY | EPF_IN_EARLY)) != 0;
	return p->state == CP_EP_IN_CALL || (p->state == CP_EP_HANGING_UP && p->setup_ms) ||
	       (p->flags & EPF_OUT_EARLY);
}

/* The leg whose quality an endpoint's sample shows: the placed call's (answered, or its early media as heard
 * while ringing), else the received call's once answered; -1 none (a callee's early media is played, nothing
 * comes back to judge: its sample carries counts only). */
static int shown_leg(const struct ep *p)
{
	if (p->state == CP_EP_IN_CALL || (p->flags & EPF_OUT_EARLY))
		return 0;
	return (p->flags & EPF_IN_BUSY) ? 1 : -1;
}

/* The sample's counters become the endpoint's counts in this second, over both its legs and the calls that
 * ended since the last sample; the quality figures stay those of the leg sample_ep read into s (shown: 0 the
 * outgoing one, 1 the incoming one, -1 none), which is not read twice. */
static void tally_sample(struct cp_engine *e, struct ep *p, struct cp_sample *s, int shown)
{
	uint32_t idx = ep_index(e, p);
	struct ep_tally *t = &e->tally[idx];
	struct ep_counts sum = t->carry, zero = { 0 };

	s->has_counts = memcmp(&t->carry, &zero, sizeof(zero)) != 0;
	for (int in = 0; in < 2; in++) {
		struct cp_sample other = { 0 };
		const struct cp_sample *leg = in == shown ? s : &other;
		struct ep_counts now;

		if (!leg_up(p, in))
			continue;
		if (in != shown)
			e->ops->media_sample(e->media, CP_LEG(idx, in), &other);
		if (!leg->has_media)
			continue;
		now = (struct ep_counts){ (uint32_t)leg->packets_sent, (uint32_t)leg->bytes_sent,
					  (uint32_t)leg->packets_received, (uint32_t)leg->bytes_received,
					  (uint32_t)leg->packets_lost, (uint32_t)leg->duplicate_packets,
					  (uint32_t)leg->out_of_order_packets };
		counts_add(&sum, &now, &t->leg[in]);
		t->leg[in] = now;
		s->has_counts = true;
	}
	t->carry = zero;
	s->packets_sent = sum.sent;
	s->bytes_sent = sum.sent_bytes;
	s->packets_received = sum.recv;
	s->bytes_received = sum.recv_bytes;
	s->packets_lost = (int32_t)sum.lost; /* negative when packets counted lost arrived late */
	s->duplicate_packets = sum.dup;
	s->out_of_order_packets = sum.ooo;
}

/* A leg ends: its figures go to the summary, and what the samples have not yet shown of it to the next sample. */
static void stop_leg(struct cp_engine *e, uint32_t idx, bool incoming, struct cp_flow_report *f)
{
	struct ep *p = &e->eps[idx];
	uint16_t early = incoming ? EPF_IN_EARLY : EPF_OUT_EARLY;

	memset(f, 0, sizeof(*f));
	e->ops->media_stop(e->media, CP_LEG(idx, incoming), f);
	f->early_only = (p->flags & early) != 0; /* a leg up for early media only: the call was not answered */
	p->flags &= (uint16_t)~early;
	cp_report_flow(e->report, f);
	if (e->tally) {
		struct ep_tally *t = &e->tally[idx];
		struct ep_counts end = { (uint32_t)f->packets_sent, (uint32_t)f->bytes_sent,
					 (uint32_t)f->packets_received, (uint32_t)f->bytes_received,
					 (uint32_t)f->packets_lost, (uint32_t)f->duplicate_packets,
					 (uint32_t)f->out_of_order_packets };

		if (f->codec[0]) /* there was a flow */
			counts_add(&t->carry, &end, &t->leg[incoming]);
		memset(&t->leg[incoming], 0, sizeof(t->leg[incoming]));
	}
}

static void sample_ep(struct cp_engine *e, struct ep *p, struct cp_sample *s)
{
	uint32_t idx = ep_index(e, p);

	memset(s, 0, sizeof(*s));
	s->t = e->elapsed_s;
	s->endpoint = idx;
	s->group = grp(e, p)->name;
	s->state = cp_ep_state_name((enum cp_ep_state)p->state);
	s->pdd_ms = s->time_to_ringing_ms = s->setup_ms = s->call_duration_ms = -1;
	if (p->ring_ms)
		s->pdd_ms = s->time_to_ringing_ms = (int32_t)p->ring_ms;
	if (p->setup_ms)
		s->setup_ms = (int32_t)p->setup_ms;
	if (p->state == CP_EP_IN_CALL && p->t_answer)
		s->call_duration_ms = (int32_t)(now(e) - p->t_answer);
	if (p->code)
		s->final_status_code = p->code;
	if (p->outcome != NO_OUTCOME)
		s->call_result = cp_outcome_name((enum cp_outcome)p->outcome);
	if (e->ops->media_sample) {
		int shown = shown_leg(p);
		bool unheard;

		if (shown >= 0)
			e->ops->media_sample(e->media, CP_LEG(idx, shown == 1), s);
		/* early media announced by the 183 but not heard yet: nothing to judge (not the MOS of silence) */
		unheard = shown == 0 && (p->flags & EPF_OUT_EARLY) && s->has_media && s->packets_received == 0;
		if (e->tally)
			tally_sample(e, p, s, shown);
		if (unheard)
			s->has_media = false;
	}
}

static void on_second(struct cp_loop *loop, void *arg)
{
	struct cp_engine *e = arg;
	double mos_sum = 0;
	uint32_t mos_n = 0;

	e->elapsed_s++;
	if (e->ops->media_sample_begin)
		e->ops->media_sample_begin(e->media);
	for (uint32_t i = 0; i < e->n; i++) {
		struct ep *p = &e->eps[i];
		struct cp_sample s;

		if (p->state == CP_EP_IDLE || (p->state == CP_EP_DONE && !e->metrics) || (p->flags & EPF_ABSENT))
			continue;
		if (!e->metrics && shown_leg(p) < 0)
			continue;
		sample_ep(e, p, &s);
		if (s.has_media) {
			mos_sum += s.mos;
			mos_n++;
		}
		if (e->metrics)
			cp_metrics_write(e->metrics, &s);
	}
	if (e->each_second)
		e->each_second(e->each_second_arg, e->elapsed_s, e->finished);
	cp_metrics_flush(e->metrics);
	e->mos_now = mos_n ? mos_sum / mos_n : -1;
	if (!e->finished)
		cp_timer_start(loop, &e->second, 1000);
}

/* Caller groups are all done: callees that were only waiting for them may leave. */
static void release_callees(struct cp_engine *e)
{
	if (e->callees_released || ((e->has_external || (e->fleet && !e->released)) && !e->stopping))
		return;
	e->callees_released = true;
	for (uint32_t i = 0; i < e->n; i++) {
		struct ep *p = &e->eps[i];
		if (!(p->flags & EPF_CALLER) && p->state == CP_EP_READY && !(p->flags & EPF_IN_BUSY))
			ep_leave(e, p);
	}
}

static void on_deadline(struct cp_loop *loop, void *arg)
{
	(void)loop;
	cm_log(CM_LOG_INFO, "engine", "run duration reached: ending calls and unregistering");
	cp_engine_stop(arg);
}

static void on_grace_over(struct cp_loop *loop, void *arg)
{
	struct cp_engine *e = arg;

	(void)loop;
	for (uint32_t i = 0; i < e->n; i++) {
		struct ep *p = &e->eps[i];
		struct cp_flow_report f;

		if (p->state == CP_EP_DONE)
			continue;
		for (int in = 1; in >= 0; in--)
			if (leg_up(p, in))
				stop_leg(e, i, in, &f);
		set_outcome(p, CP_OUT_TEARDOWN_ERROR, 0, "still busy when the run ended");
		ep_done(e, p);
	}
}

static void on_finish(struct cp_loop *loop, void *arg)
{
	struct cp_engine *e = arg;

	(void)loop;
	if (e->finished)
		return;
	e->finished = true;
	cp_timer_stop(e->loop, &e->tick);
	cp_timer_stop(e->loop, &e->deadline);
	cp_timer_stop(e->loop, &e->grace);
	on_second(e->loop, e); /* the last samples */
	cp_timer_stop(e->loop, &e->second);
	e->report->ended_wall_ms = cm_wallclock_ms();
	if (e->ops->reg_refreshes)
		e->report->reg_refreshes = e->ops->reg_refreshes(e->sig);
	if (e->done)
		e->done(e, e->done_arg);
}

/* Per-endpoint timeouts: registration, call setup, call duration (then hang up), teardown. */
static void on_ep_timer(struct cp_loop *loop, void *arg)
{
	struct ep *p = arg;
	struct cp_engine *e = p->engine;
	uint32_t idx = ep_index(e, p);

	(void)loop;
	switch (p->state) {
	case CP_EP_REGISTERING:
		cp_report_registration(e->report, false, 0);
		set_outcome(p, CP_OUT_TIMEOUT, 408, "no answer to REGISTER");
		ep_done(e, p);
		break;
	case CP_EP_CALLING:
	case CP_EP_RINGING:
		/* no final answer in time: CANCEL; the call's end is reported by the signalling side */
		set_outcome(p, CP_OUT_TIMEOUT, 408, "no answer to INVITE");
		p->state = CP_EP_HANGING_UP;
		arm(e, p, e->plan->test.teardown_timeout_ms);
		if (e->ops->hangup(e->sig, CP_LEG(idx, false)) < 0)
			cp_engine_on_call_failed(e, idx, 0, false, "cannot send CANCEL");
		break;
	case CP_EP_IN_CALL:
		p->state = CP_EP_HANGING_UP;
		p->t_start = now(e);
		arm(e, p, e->plan->test.teardown_timeout_ms);
		if (e->ops->hangup(e->sig, CP_LEG(idx, false)) < 0) {
			set_outcome(p, CP_OUT_OSERROR, 0, "cannot send BYE");
			cp_engine_on_hungup(e, idx, false, false, 0);
		}
		break;
	case CP_EP_HANGING_UP:
		if (!p->setup_ms) { /* a CANCEL that ended nothing */
			cp_engine_on_call_failed(e, idx, 0, false, "no answer to CANCEL");
			break;
		}
		set_outcome(p, CP_OUT_TEARDOWN_ERROR, 408, "no answer to BYE");
		cp_engine_on_hungup(e, idx, false, false, 0);
		break;
	case CP_EP_UNREGISTERING:
		set_outcome(p, CP_OUT_TEARDOWN_ERROR, 408, "no answer to unREGISTER");
		p->flags &= (uint16_t)~EPF_REGISTERED;
		ep_done(e, p);
		break;
	default:
		break;
	}
}

/* ---- lifecycle -------------------------------------------------------------------------------------------- */

struct cp_engine *cp_engine_new(struct cp_loop *loop, const struct cfg_plan *plan, const struct cp_engine_ops *ops,
				void *sig, void *media, struct cp_report *report)
{
	struct cp_engine *e = calloc(1, sizeof(*e));
	uint32_t idx = 0;

	if (!e)
		return NULL;
	e->loop = loop;
	e->plan = plan;
	e->ops = ops;
	e->sig = sig;
	e->media = media;
	e->report = report;
	e->n = plan->total_endpoints;
	e->mos_now = -1;
	e->eps = calloc(e->n ? e->n : 1, sizeof(*e->eps));
	if (!e->eps || queue_init(&e->regq, 2 * (size_t)e->n) < 0 || queue_init(&e->dialq, e->n) < 0)
		goto free_all;
	for (uint32_t g = 0; g < plan->ngroups; g++) {
		const struct cfg_group *gr = &plan->groups[g];

		e->group_first[g] = idx;
		if (gr->target_kind == CFG_TARGET_EXTERNAL)
			e->has_external = true;
		for (uint32_t k = 0; k < gr->endpoints; k++, idx++) {
			struct ep *p = &e->eps[idx];

			p->group = (uint16_t)g;
			p->outcome = NO_OUTCOME;
			if (gr->role != CFG_ROLE_CALLER)
				p->flags |= EPF_CALLEE;
			if (gr->role != CFG_ROLE_CALLEE)
				p->flags |= EPF_CALLER;
			p->engine = e;
			cp_timer_init(&p->timer, on_ep_timer, p);
			if (!cfg_plan_ep_here(plan, idx)) {
				p->flags |= EPF_ABSENT;
				p->state = CP_EP_DONE;
			} else {
				e->here++;
			}
		}
	}
	e->group_first[plan->ngroups] = idx;
	cp_report_set_groups(report, plan);
	cp_timer_init(&e->tick, on_tick, e);
	cp_timer_init(&e->second, on_second, e);
	cp_timer_init(&e->deadline, on_deadline, e);
	cp_timer_init(&e->grace, on_grace_over, e);
	cp_timer_init(&e->finish, on_finish, e);
	return e;

free_all:
	free(e->regq.v);
	free(e->dialq.v);
	free(e->eps);
	free(e);
	return NULL;
}

void cp_engine_free(struct cp_engine *e)
{
	if (!e)
		return;
	for (uint32_t i = 0; i < e->n; i++)
		cp_timer_stop(e->loop, &e->eps[i].timer);
	cp_timer_stop(e->loop, &e->tick);
	cp_timer_stop(e->loop, &e->second);
	cp_timer_stop(e->loop, &e->deadline);
	cp_timer_stop(e->loop, &e->grace);
	cp_timer_stop(e->loop, &e->finish);
	free(e->regq.v);
	free(e->dialq.v);
	free(e->tally);
	free(e->eps);
	free(e);
}

int cp_engine_start(struct cp_engine *e, void (*done)(struct cp_engine *e, void *arg), void *arg)
{
	if (e->started)
		return -EALREADY;
	e->started = true;
	e->done = done;
	e->done_arg = arg;
	e->active = e->here;
	e->reg_pending = e->here;
	e->last_tick = e->t_run_start = cm_now_ms();
	/* Callee groups register first so that their registrations are not queued behind the callers'. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < e->n; i++) {
			struct ep *p = &e->eps[i];
			bool callee_pass = (p->flags & EPF_CALLEE) != 0;

			if (callee_pass != (pass == 0) || (p->flags & EPF_ABSENT))
				continue;
			if (p->flags & EPF_CALLEE)
				e->callees_pending++;
			if (p->flags & EPF_CALLER)
				e->callers_active++;
			if (grp(e, p)->registrar[0]) {
				queue_push(&e->regq, i);
			} else {
				p->state = CP_EP_READY;
				settle_callee(e, p);
				if (p->flags & EPF_CALLER)
					queue_push(&e->dialq, i);
			}
		}
	}
	cm_log(CM_LOG_INFO, "engine", "run '%s': %u endpoint(s) in %u group(s), %u to register first",
	       e->plan->test.name, e->here, e->plan->ngroups, (unsigned)e->regq.len);
	cp_timer_start(e->loop, &e->tick, 0);
	cp_timer_start(e->loop, &e->second, 1000);
	/* A gateway part's duration counts from its `start`; until then only registration may take time. */
	cp_timer_start(e->loop, &e->deadline,
		       (uint64_t)e->plan->test.duration_ms + (e->fleet ? CP_ENGINE_START_WAIT_MS : 0));
	tell_ready(e);
	if (e->callers_active == 0 && !e->fleet)
		release_callees(e);
	if (e->here == 0)
		schedule_finish(e);
	return 0;
}

void cp_engine_set_fleet(struct cp_engine *e, const struct cp_engine_fleet *f)
{
	e->fleet = true;
	e->fleet_ops = *f;
}

void cp_engine_go(struct cp_engine *e)
{
	if (!e->fleet || e->go || e->finished)
		return;
	e->go = true;
	if (!e->stopping)
		cp_timer_start(e->loop, &e->deadline, e->plan->test.duration_ms);
	if (e->callers_active == 0 && !e->calls_told) {
		e->calls_told = true;
		if (e->fleet_ops.calls_done)
			e->fleet_ops.calls_done(e->fleet_ops.arg);
	}
}

void cp_engine_release(struct cp_engine *e)
{
	if (!e->fleet || e->released || e->finished)
		return;
	e->released = true;
	if (e->callers_active == 0)
		release_callees(e);
}

void cp_engine_stop(struct cp_engine *e)
{
	uint32_t idx;

	if (e->stopping || e->finished)
		return;
	e->stopping = true;
	cp_timer_stop(e->loop, &e->deadline);
	/* endpoints that never got their turn */
	while (queue_pop(&e->dialq, &idx)) {
		struct ep *p = &e->eps[idx];
		if (p->state == CP_EP_READY) {
			set_outcome(p, CP_OUT_TIMEOUT, 0, "run ended before this endpoint could call");
			ep_leave(e, p);
		}
	}
	for (uint32_t i = 0; i < e->n; i++) {
		struct ep *p = &e->eps[i];

		switch (p->state) {
		case CP_EP_IDLE:
			set_outcome(p, CP_OUT_TIMEOUT, 0, "run ended before this endpoint registered");
			ep_done(e, p);
			break;
		case CP_EP_READY:
			if ((p->flags & EPF_CALLER) && p->calls_done < grp(e, p)->calls_per_endpoint)
				set_outcome(p, CP_OUT_TIMEOUT, 0, "run ended before the calls were placed");
			if (!(p->flags & EPF_IN_BUSY))
				ep_leave(e, p);
			break;
		case CP_EP_CALLING:
		case CP_EP_RINGING:
		case CP_EP_IN_CALL:
			/* the plan's duration is shorter than its ramp and calls: say so on the endpoint */
			set_outcome(p, CP_OUT_TIMEOUT, 0, "run ended during the call");
			cp_timer_stop(e->loop, &p->timer);
			on_ep_timer(e->loop, p); /* hang up now */
			break;
		default:
			break; /* registering, hanging up, unregistering: their own timers end them */
		}
		if ((p->flags & EPF_IN_BUSY) && e->ops->hangup(e->sig, CP_LEG(i, true)) < 0)
			cp_engine_on_hungup(e, i, true, false, 0);
	}
	release_callees(e);
	/* whatever is still up after the teardown timeout is ended by force */
	cp_timer_start(e->loop, &e->grace, 2 * (uint64_t)e->plan->test.teardown_timeout_ms);
}

void cp_engine_stats(const struct cp_engine *e, struct cp_engine_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (uint32_t i = 0; i < e->n; i++)
		if (!(e->eps[i].flags & EPF_ABSENT))
			st->state[e->eps[i].state]++;
	st->calls_started = e->calls_started;
	st->mos_now = e->mos_now;
}

void cp_engine_set_metrics(struct cp_engine *e, struct cp_metrics_out *m)
{
	e->metrics = m;
	if (m && !e->tally) {
		e->tally = calloc(e->n ? e->n : 1, sizeof(*e->tally));
		if (!e->tally)
			cm_log(CM_LOG_ERROR, "engine", "out of memory for the samples' counts of %u endpoints: samples "
			       "carry each call's running totals instead", e->n);
	}
}

void cp_engine_each_second(struct cp_engine *e, void (*fn)(void *arg, uint32_t t, bool last), void *arg)
{
	e->each_second = fn;
	e->each_second_arg = arg;
}

const struct cfg_group *cp_engine_group_of(const struct cp_engine *e, uint32_t ep, uint32_t *index_in_group)
{
	const struct ep *p;

	if (ep >= e->n)
		return NULL;
	p = &e->eps[ep];
	if (index_in_group)
		*index_in_group = ep - e->group_first[p->group];
	return grp(e, p);
}

uint32_t cp_engine_endpoints(const struct cp_engine *e)
{
	return e->here;
}

enum cp_ep_state cp_engine_state(const struct cp_engine *e, uint32_t ep)
{
	return ep < e->n ? (enum cp_ep_state)e->eps[ep].state : CP_EP_DONE;
}

enum cp_outcome cp_engine_outcome(const struct cp_engine *e, uint32_t ep, uint16_t *code, const char **reason)
{
	const struct ep *p = &e->eps[ep];

	if (code)
		*code = p->code;
	if (reason)
		*reason = p->reason;
	return p->outcome == NO_OUTCOME ? CP_OUT_COUNT : (enum cp_outcome)p->outcome;
}

/* ---- reports from signalling ------------------------------------------------------------------------------ */

static struct ep *ep_get(struct cp_engine *e, uint32_t ep)
{
	return ep < e->n && !e->finished && !(e->eps[ep].flags & EPF_ABSENT) ? &e->eps[ep] : NULL;
}

void cp_engine_on_registered(struct cp_engine *e, uint32_t ep, uint16_t status, const char *reason)
{
	struct ep *p = ep_get(e, ep);
	bool ok = status >= 200 && status < 300;

	if (!p)
		return;
	if (p->state == CP_EP_REGISTERING) {
		cp_timer_stop(e->loop, &p->timer);
		cp_report_registration(e->report, ok, (uint32_t)(now(e) - p->t_start));
		if (!ok) {
			set_reg_outcome(p, status, reason);
			ep_done(e, p);
			return;
		}
		p->flags |= EPF_REGISTERED;
		p->state = CP_EP_READY;
		settle_callee(e, p);
		if (e->stopping) {
			ep_leave(e, p);
		} else if (p->flags & EPF_CALLER) {
			queue_push(&e->dialq, ep);
		} else if (e->callees_released) {
			ep_leave(e, p);
		}
	} else if (p->state == CP_EP_UNREGISTERING) {
		cp_timer_stop(e->loop, &p->timer);
		p->flags &= (uint16_t)~EPF_REGISTERED;
		if (!ok)
			set_outcome(p, CP_OUT_TEARDOWN_ERROR, status ? status : 408,
				    reason ? reason : "unREGISTER refused");
		ep_done(e, p);
	}
}

void cp_engine_on_registration_lost(struct cp_engine *e, uint32_t ep, uint16_t status, const char *reason)
{
	struct ep *p = ep_get(e, ep);

	if (!p || !(p->flags & EPF_REGISTERED) || p->state == CP_EP_UNREGISTERING || p->state == CP_EP_DONE)
		return;
	p->flags &= (uint16_t)~EPF_REGISTERED; /* nothing to unregister at the end */
	e->report->reg_refresh_failed++;
	set_reg_outcome(p, status, reason);
}

void cp_engine_on_ringing(struct cp_engine *e, uint32_t ep, uint16_t status)
{
	struct ep *p = ep_get(e, ep);

	(void)status;
	if (!p || p->state != CP_EP_CALLING)
		return;
	p->state = CP_EP_RINGING;
	p->ring_ms = (uint32_t)(now(e) - p->t_start);
	if (p->ring_ms == 0)
		p->ring_ms = 1; /* 0 means "none" in the record */
}

void cp_engine_on_early_media(struct cp_engine *e, uint32_t ep, bool incoming, const struct cp_call_media *m)
{
	struct ep *p = ep_get(e, ep);
	uint16_t flag = incoming ? EPF_IN_EARLY : EPF_OUT_EARLY;
	struct cp_call_media early;

	if (!p || !e->ops->media_update || (p->flags & flag) || (incoming && (p->flags & EPF_IN_BUSY)) ||
	    (!incoming && p->state != CP_EP_CALLING && p->state != CP_EP_RINGING))
		return;
	early = *m;
	early.only = incoming ? CP_MEDIA_SEND_ONLY : CP_MEDIA_RECV_ONLY;
	if (e->ops->media_start(e->media, CP_LEG(ep, incoming), &early) == 0) {
		p->flags |= flag;
		e->report->calls_early_media++;
	}
}

void cp_engine_on_early_end(struct cp_engine *e, uint32_t ep)
{
	struct ep *p = ep_get(e, ep);
	struct cp_flow_report f;

	if (!p || !(p->flags & EPF_IN_EARLY))
		return;
	stop_leg(e, ep, true, &f);
}

/* The answered leg's media: started, or (after early media) the early flow going on with the answer's. */
static int leg_media_up(struct cp_engine *e, struct ep *p, uint32_t ep, bool incoming, const struct cp_call_media *m)
{
	uint16_t flag = incoming ? EPF_IN_EARLY : EPF_OUT_EARLY;

	if (p->flags & flag) {
		p->flags &= (uint16_t)~flag;
		return e->ops->media_update(e->media, CP_LEG(ep, incoming), m);
	}
	return e->ops->media_start(e->media, CP_LEG(ep, incoming), m);
}

void cp_engine_on_answered(struct cp_engine *e, uint32_t ep, bool incoming, const struct cp_call_media *m)
{
	struct ep *p = ep_get(e, ep);
	uint32_t dur;
	int rc;

	if (!p)
		return;
	if (incoming) {
		if (p->flags & EPF_IN_BUSY)
			return;
		p->flags |= EPF_IN_BUSY;
		e->report->calls_received++;
		rc = leg_media_up(e, p, ep, true, m);
		if (rc < 0)
			set_outcome(p, CP_OUT_OSERROR, 0, "cannot start media");
		return;
	}
	if (p->state != CP_EP_CALLING && p->state != CP_EP_RINGING)
		return;
	p->setup_ms = (uint32_t)(now(e) - p->t_start);
	if (p->setup_ms == 0)
		p->setup_ms = 1;
	cp_report_call(e->report, true, p->setup_ms, p->ring_ms ? p->ring_ms : p->setup_ms);
	p->state = CP_EP_IN_CALL;
	p->t_answer = now(e);
	rc = leg_media_up(e, p, ep, false, m);
	if (rc < 0)
		set_outcome(p, CP_OUT_OSERROR, 0, "cannot start media");
	dur = grp(e, p)->call_duration_ms ? grp(e, p)->call_duration_ms : e->plan->test.call_duration_ms;
	arm(e, p, dur);
}

void cp_engine_on_call_failed(struct cp_engine *e, uint32_t ep, uint16_t status, bool negotiation,
			      const char *reason)
{
	struct ep *p = ep_get(e, ep);
	enum cp_outcome o;

	if (!p || (p->state != CP_EP_CALLING && p->state != CP_EP_RINGING && p->state != CP_EP_HANGING_UP))
		return;
	cp_timer_stop(e->loop, &p->timer);
	if (p->flags & EPF_OUT_EARLY) { /* what the early media brought is reported like any stream */
		struct cp_flow_report f;

		stop_leg(e, ep, false, &f);
	}
	if (!p->setup_ms)
		cp_report_call(e->report, false, 0, 0);
	if (negotiation || status == 488 || status == 606)
		o = CP_OUT_NEGOTIATION_FAILED;
	else if (status == 0 || status == 408)
		o = CP_OUT_TIMEOUT;
	else
		o = CP_OUT_CALL_FAILED;
	set_outcome(p, o, status ? status : 408, reason);
	p->calls_done++;
	ep_leave(e, p);
}

/* Quality below the plan's thresholds turns a success into COMPLETED_WITH_WARNINGS. */
static void judge_quality(struct cp_engine *e, struct ep *p, const struct cp_flow_report *f)
{
	uint64_t expected = f->packets_received + f->packets_lost;
	double loss_pct = expected ? 100.0 * (double)f->packets_lost / (double)expected : 0;

	if (f->mos < e->plan->test.mos_warning || loss_pct > e->plan->test.loss_warning_pct || expected == 0)
		p->flags |= EPF_WARN;
}

void cp_engine_on_session_timer(struct cp_engine *e, unsigned refreshes, unsigned received, bool expired,
				unsigned too_small)
{
	e->report->session_refreshes += refreshes;
	e->report->session_refreshes_received += received;
	e->report->session_expired += expired;
	e->report->session_422 += too_small;
}

void cp_engine_on_call_dropped(struct cp_engine *e, uint32_t ep, uint16_t status, const char *reason)
{
	struct ep *p = ep_get(e, ep);

	if (p)
		set_outcome(p, CP_OUT_CALL_FAILED, status, reason);
}

void cp_engine_on_hungup(struct cp_engine *e, uint32_t ep, bool incoming, bool by_peer, uint16_t status)
{
	struct ep *p = ep_get(e, ep);
	struct cp_flow_report f;

	if (!p)
		return;
	if (incoming) {
		if (!(p->flags & EPF_IN_BUSY))
			return;
		p->flags &= (uint16_t)~EPF_IN_BUSY;
		stop_leg(e, ep, true, &f);
		judge_quality(e, p, &f);
		if (p->state == CP_EP_READY && !(p->flags & EPF_CALLER) && (e->callees_released || e->stopping))
			ep_leave(e, p);
		return;
	}
	if (p->state != CP_EP_IN_CALL && p->state != CP_EP_HANGING_UP)
		return;
	cp_timer_stop(e->loop, &p->timer);
	if (p->setup_ms) {
		stop_leg(e, ep, false, &f);
		judge_quality(e, p, &f);
	}
	if (!by_peer && !(status >= 200 && status < 300) && !failed(p))
		set_outcome(p, CP_OUT_TEARDOWN_ERROR, status ? status : 408, "BYE not answered with 2xx");
	p->calls_done++;
	p->setup_ms = 0;
	p->t_answer = 0;
	if (!failed(p) && !e->stopping && p->calls_done < grp(e, p)->calls_per_endpoint) {
		p->state = CP_EP_READY;
		queue_push(&e->dialq, ep);
		return;
	}
	ep_leave(e, p);
}

void cp_engine_on_hold(struct cp_engine *e, uint32_t ep, bool resume, bool ok, uint16_t status, const char *reason)
{
	struct ep *p = ep_get(e, ep);

	if (!p)
		return;
	if (ok) {
		if (resume)
			e->report->resumes++;
		else
			e->report->holds++;
		return;
	}
	e->report->hold_failures++;
	p->flags |= EPF_WARN;
	if (p->outcome == NO_OUTCOME || p->outcome == CP_OUT_SUCCESS ||
	    (p->outcome == CP_OUT_COMPLETED_WITH_WARNINGS && !p->code))
		set_outcome(p, CP_OUT_COMPLETED_WITH_WARNINGS, status, reason);
}

void cp_engine_on_os_error(struct cp_engine *e, uint32_t ep, int err, const char *what)
{
	static struct cm_ratelimit rl = CM_RATELIMIT_INIT(1000, 5);
	struct ep *p = ep_get(e, ep);

	if (!p)
		return;
	cm_log_rl(&rl, CM_LOG_WARN, "engine", "endpoint %u: %s: %s", ep, what, strerror(-err));
	set_outcome(p, CP_OUT_OSERROR, 0, what);
	switch (p->state) {
	case CP_EP_IN_CALL:
	case CP_EP_CALLING:
	case CP_EP_RINGING:
		on_ep_timer(e->loop, p);
		break;
	case CP_EP_DONE:
		break;
	default:
		p->flags &= (uint16_t)~EPF_REGISTERED;
		ep_done(e, p);
	}
}
