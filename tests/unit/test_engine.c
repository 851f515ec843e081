/* The endpoint engine driven by scripted peers on the real event loop: phased dispatch, pacing, outcomes
 * with their SIP codes, timeouts, warnings, repeated calls, the run deadline.  The scripted signalling answers
 * after small delays the way a registrar and the called endpoints would. */
#include <stdlib.h>
#include <string.h>

#include "controlplane/controlplane.h"
#include "check_main.h"

enum ev_kind { EV_REGISTERED, EV_RINGING, EV_ANSWERED, EV_FAILED, EV_HUNGUP };

struct script {
	struct cp_loop *loop;
	struct cp_engine *engine;
	uint16_t reg_status;       /* answer to REGISTER; 0: never answer */
	uint16_t unreg_status;
	uint16_t call_status;      /* 200, or a failure code; 0: never answer */
	bool bye_silent;           /* BYE never answered (the callee gets it, its 200 is lost) */
	double mos;                /* of every received stream */
	uint64_t reg_delay_ms;
	/* what happened */
	uint32_t regs, unregs, calls, hangups, media_started, media_stopped;
	uint64_t first_call_ms, last_call_ms, last_callee_reg_ms;
	bool done;
	uint64_t t0;
};

struct ev {
	struct cp_timer t;
	struct script *s;
	enum ev_kind kind;
	uint32_t ep;
	int64_t peer;
	uint16_t status;
};

static void fire(struct cp_loop *loop, void *arg)
{
	struct ev *v = arg;
	struct script *s = v->s;
	struct cp_call_media m = { .remote_ip = "192.0.2.10", .remote_port = 20000, .codec = "PCMU", .ptime_ms = 20 };

	(void)loop;
	switch (v->kind) {
	case EV_REGISTERED:
		if (v->status == 200 && v->peer == 1) /* registration, not unregistration, of a callee */
			s->last_callee_reg_ms = cm_now_ms();
		cp_engine_on_registered(s->engine, v->ep, v->status, v->status == 200 ? NULL : "scripted");
		break;
	case EV_RINGING:
		cp_engine_on_ringing(s->engine, v->ep, 180);
		break;
	case EV_ANSWERED:
		if (v->peer >= 0)
			cp_engine_on_answered(s->engine, (uint32_t)v->peer, true, &m);
		cp_engine_on_answered(s->engine, v->ep, false, &m);
		break;
	case EV_FAILED:
		cp_engine_on_call_failed(s->engine, v->ep, v->status, false, "scripted");
		break;
	case EV_HUNGUP:
		if (CP_LEG_INCOMING(v->ep)) {
			cp_engine_on_hungup(s->engine, CP_LEG_EP(v->ep), true, false, 200);
		} else {
			if (v->peer >= 0)
				cp_engine_on_hungup(s->engine, (uint32_t)v->peer, true, true, 0);
			cp_engine_on_hungup(s->engine, CP_LEG_EP(v->ep), false, false, v->status);
		}
		break;
	}
	free(v);
}

static void later(struct script *s, uint64_t ms, enum ev_kind kind, uint32_t ep, int64_t peer, uint16_t status)
{
	struct ev *v = calloc(1, sizeof(*v));

	*v = (struct ev){ .s = s, .kind = kind, .ep = ep, .peer = peer, .status = status };
	cp_timer_init(&v->t, fire, v);
	cp_timer_start(s->loop, &v->t, ms);
}

/* The peer of each outgoing call, to tell it about hangups. */
static int64_t peers[4096];

static int s_reg(void *sig, uint32_t ep, uint32_t expires)
{
	struct script *s = sig;
	const struct cfg_group *g = cp_engine_group_of(s->engine, ep, NULL);
	uint16_t st = expires ? s->reg_status : s->unreg_status;

	if (expires)
		s->regs++;
	else
		s->unregs++;
	if (st)
		later(s, s->reg_delay_ms, EV_REGISTERED, ep, expires && g->role == CFG_ROLE_CALLEE, st);
	return 0;
}

static int s_call(void *sig, uint32_t ep, int64_t callee, const char *uri)
{
	struct script *s = sig;
	const struct cfg_group *cg = callee >= 0 ? cp_engine_group_of(s->engine, (uint32_t)callee, NULL) : NULL;
	uint16_t st = cg && cg->answer_code != 200 ? cg->answer_code : s->call_status;

	(void)uri;
	s->calls++;
	if (!s->first_call_ms)
		s->first_call_ms = cm_now_ms();
	s->last_call_ms = cm_now_ms();
	peers[ep] = callee;
	if (!st)
		return 0;
	later(s, 5, EV_RINGING, ep, callee, 180);
	if (st == 200)
		later(s, 15, EV_ANSWERED, ep, callee, 200);
	else
		later(s, 15, EV_FAILED, ep, callee, st);
	return 0;
}

static int s_hangup(void *sig, uint32_t leg)
{
	struct script *s = sig;
	uint32_t ep = CP_LEG_EP(leg);

	s->hangups++;
	if (s->bye_silent) {
		/* the BYE reaches the callee, its 200 OK never comes back */
		if (!CP_LEG_INCOMING(leg) && peers[ep] >= 0)
			later(s, 5, EV_HUNGUP, CP_LEG(peers[ep], true), -1, 0);
		return 0;
	}
	if (CP_LEG_INCOMING(leg))
		later(s, 5, EV_HUNGUP, leg, -1, 200);
	else if (cp_engine_state(s->engine, ep) == CP_EP_HANGING_UP && s->call_status == 0)
		later(s, 5, EV_FAILED, ep, -1, 487); /* CANCEL -> 487 */
	else
		later(s, 5, EV_HUNGUP, leg, peers[ep], 200);
	return 0;
}

static int s_media_start(void *media, uint32_t leg, const struct cp_call_media *m)
{
	struct script *s = media;

	(void)leg;
	ck_assert_str_eq(m->codec, "PCMU");
	s->media_started++;
	return 0;
}

static void s_media_stop(void *media, uint32_t leg, struct cp_flow_report *out)
{
	struct script *s = media;

	s->media_stopped++;
	out->ssrc = leg;
	snprintf(out->codec, sizeof(out->codec), "PCMU");
	out->packets_received = 500;
	out->packets_sent = 500;
	out->mos = s->mos;
	out->r_factor = 90;
}

static const struct cp_engine_ops script_ops = {
	.reg = s_reg,
	.call = s_call,
	.hangup = s_hangup,
	.media_start = s_media_start,
	.media_stop = s_media_stop,
};

static void on_done(struct cp_engine *e, void *arg)
{
	(void)e;
	((struct script *)arg)->done = true;
}

static struct cfg_plan plan;
static struct cp_report report;

/* Runs the plan text against the script until done (or timeout_ms). */
static void run(struct script *s, const char *text, uint64_t timeout_ms)
{
	char err[CFG_ERR_MAX];
	uint64_t start = cm_now_ms();

	ck_assert_msg(cfg_plan_load_string(&plan, "t.ini", text, err, sizeof(err)) == 0, "%s", err);
	s->loop = cp_loop_new();
	s->t0 = cm_now_ms();
	cp_report_init(&report, "test", "t.ini");
	s->engine = cp_engine_new(s->loop, &plan, &script_ops, s, s, &report);
	ck_assert_ptr_nonnull(s->engine);
	ck_assert_int_eq(cp_engine_start(s->engine, on_done, s), 0);
	while (!s->done && cm_now_ms() - start < timeout_ms)
		cp_loop_run_once(s->loop, 10);
	ck_assert_msg(s->done, "run did not finish in %llu ms", (unsigned long long)timeout_ms);
}

static void finish(struct script *s)
{
	cp_engine_free(s->engine);
	cp_loop_free(s->loop);
	cp_report_free(&report);
}

static struct script script(void)
{
	return (struct script){ .reg_status = 200, .unreg_status = 200, .call_status = 200, .mos = 4.4 };
}

START_TEST(calls_between_groups_all_succeed)
{
	struct script s = script();

	run(&s, "[test]\ncall_duration = 200ms\ncps = 1000\nduration = 10s\n"
		"[group callees]\nendpoints = 10\n[group callers]\nendpoints = 10\ntarget = group:callees\n", 5000);
	ck_assert_uint_eq(report.outcomes[CP_OUT_SUCCESS], 20);
	ck_assert_uint_eq(report.endpoints_total, 20);
	ck_assert_uint_eq(report.calls_attempted, 10);
	ck_assert_uint_eq(report.calls_answered, 10);
	ck_assert_uint_eq(report.nflows, 20); /* both directions of every call */
	ck_assert_uint_eq(s.media_started, 20);
	ck_assert_uint_eq(s.media_stopped, 20);
	ck_assert_uint_eq(s.regs, 0);
	ck_assert_uint_eq(cp_values_percentile(&report.setup_ms, 50) >= 15, 1);
	ck_assert_str_eq(cp_report_run_outcome(&report), "COMPLETED");
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_int_eq(cp_engine_state(s.engine, i), CP_EP_DONE);
	finish(&s);
}
END_TEST

START_TEST(callees_register_before_callers_dial)
{
	struct script s = script();

	s.reg_delay_ms = 30;
	run(&s, "[test]\ncall_duration = 100ms\ncps = 1000\nregister_rate = 100\n"
		"[group callers]\nendpoints = 5\ntarget = group:callees\nregistrar = 127.0.0.1\nusername = c{n}\n"
		"[group callees]\nendpoints = 20\nregistrar = 127.0.0.1\nusername = e{n}\n", 5000);
	ck_assert_uint_eq(report.outcomes[CP_OUT_SUCCESS], 25);
	ck_assert_uint_eq(s.regs, 25);
	ck_assert_uint_eq(s.unregs, 25);
	ck_assert_uint_eq(report.reg_succeeded, 25);
	/* phased dispatch: no INVITE before the last callee's 200 OK */
	ck_assert_uint_ge(s.first_call_ms, s.last_callee_reg_ms);
	/* the 20 callees register first, at 100/s: the last one is answered no sooner than ~190 ms + 30 ms */
	ck_assert_uint_ge(s.last_callee_reg_ms - s.t0, 150);
	finish(&s);
}
END_TEST

START_TEST(call_rate_is_paced)
{
	struct script s = script();

	run(&s, "[test]\ncall_duration = 100ms\ncps = 50\n"
		"[group b]\nendpoints = 20\n[group a]\nendpoints = 20\ntarget = group:b\n", 5000);
	ck_assert_uint_eq(s.calls, 20);
	/* 20 calls at 50/s: at most 2.5 at once, the rest one per 20 ms: >= 17 * 20 ms apart first to last */
	ck_assert_uint_ge(s.last_call_ms - s.first_call_ms, 340);
	ck_assert_uint_le(s.last_call_ms - s.first_call_ms, 1000);
	finish(&s);
}
END_TEST

START_TEST(registration_refused_and_unanswered)
{
	struct script s = script();
	uint16_t code;

	s.reg_status = 403;
	run(&s, "[test]\nregister_timeout = 1s\n"
		"[group a]\nendpoints = 3\nregistrar = 127.0.0.1\nusername = u{n}\n", 5000);
	ck_assert_uint_eq(report.outcomes[CP_OUT_REGISTRATION_FAILED], 3);
	ck_assert_int_eq(cp_engine_outcome(s.engine, 0, &code, NULL), CP_OUT_REGISTRATION_FAILED);
	ck_assert_uint_eq(code, 403);
	ck_assert_uint_eq(s.unregs, 0);
	ck_assert_uint_eq(report.reg_failed, 3);
	finish(&s);

	s = script();
	s.reg_status = 0; /* the registrar never answers */
	run(&s, "[test]\nregister_timeout = 1s\n"
		"[group a]\nendpoints = 2\nregistrar = 127.0.0.1\nusername = u{n}\n"
		"[group b]\nendpoints = 2\ntarget = group:a\nregistrar = 127.0.0.1\nusername = v{n}\n", 5000);
	ck_assert_uint_eq(report.outcomes[CP_OUT_TIMEOUT], 4);
	ck_assert_int_eq(cp_engine_outcome(s.engine, 3, &code, NULL), CP_OUT_TIMEOUT);
	ck_assert_uint_eq(code, 408);
	ck_assert_uint_eq(s.calls, 0); /* nobody dials a callee that never registered */
	finish(&s);
}
END_TEST

START_TEST(rejected_calls_name_the_code)
{
	struct script s = script();
	uint16_t code;

	run(&s, "[group busy]\nendpoints = 2\nanswer = 486\n[group nego]\nendpoints = 1\nanswer = 488\n"
		"[group a]\nendpoints = 2\ntarget = group:busy\n[group b]\nendpoints = 1\ntarget = group:nego\n", 5000);
	ck_assert_int_eq(cp_engine_outcome(s.engine, 3, &code, NULL), CP_OUT_CALL_FAILED);
	ck_assert_uint_eq(code, 486);
	ck_assert_int_eq(cp_engine_outcome(s.engine, 5, &code, NULL), CP_OUT_NEGOTIATION_FAILED);
	ck_assert_uint_eq(code, 488);
	ck_assert_uint_eq(report.outcomes[CP_OUT_SUCCESS], 3); /* the callees did their part */
	ck_assert_uint_eq(report.calls_failed, 3);
	ck_assert_uint_eq(s.media_started, 0);
	finish(&s);
}
END_TEST

START_TEST(unanswered_invite_times_out_and_cancels)
{
	struct script s = script();
	uint16_t code;

	s.call_status = 0;
	run(&s, "[test]\nsetup_timeout = 1s\n[group b]\nendpoints = 1\n[group a]\nendpoints = 1\ntarget = group:b\n",
	    5000);
	ck_assert_int_eq(cp_engine_outcome(s.engine, 1, &code, NULL), CP_OUT_TIMEOUT);
	ck_assert_uint_eq(code, 408);
	ck_assert_uint_eq(s.hangups, 1); /* the CANCEL */
	ck_assert_uint_eq(report.calls_failed, 1);
	finish(&s);
}
END_TEST

START_TEST(unanswered_bye_is_a_teardown_error)
{
	struct script s = script();
	uint16_t code;

	s.bye_silent = true;
	run(&s, "[test]\ncall_duration = 100ms\nteardown_timeout = 1s\n"
		"[group b]\nendpoints = 1\n[group a]\nendpoints = 1\ntarget = group:b\n", 6000);
	ck_assert_int_eq(cp_engine_outcome(s.engine, 1, &code, NULL), CP_OUT_TEARDOWN_ERROR);
	ck_assert_uint_eq(code, 408);
	ck_assert_uint_eq(s.media_stopped, 2);
	finish(&s);
}
END_TEST

START_TEST(poor_quality_is_a_warning)
{
	struct script s = script();

	s.mos = 3.1;
	run(&s, "[test]\ncall_duration = 100ms\nmos_warning = 3.6\n"
		"[group b]\nendpoints = 2\n[group a]\nendpoints = 2\ntarget = group:b\n", 5000);
	ck_assert_uint_eq(report.outcomes[CP_OUT_COMPLETED_WITH_WARNINGS], 4);
	ck_assert_str_eq(cp_report_run_outcome(&report), "COMPLETED");
	finish(&s);
}
END_TEST

START_TEST(several_calls_per_endpoint)
{
	struct script s = script();

	run(&s, "[test]\ncall_duration = 100ms\ncps = 1000\n"
		"[group b]\nendpoints = 2\n[group a]\nendpoints = 2\ntarget = group:b\ncalls_per_endpoint = 3\n", 5000);
	ck_assert_uint_eq(s.calls, 6);
	ck_assert_uint_eq(report.calls_answered, 6);
	ck_assert_uint_eq(report.outcomes[CP_OUT_SUCCESS], 4);
	finish(&s);
}
END_TEST

START_TEST(run_duration_cuts_long_calls)
{
	struct script s = script();
	uint16_t code;
	const char *reason;
	uint64_t start = cm_now_ms();

	run(&s, "[test]\nduration = 1s\ncall_duration = 30s\n"
		"[group b]\nendpoints = 2\n[group a]\nendpoints = 2\ntarget = group:b\n", 5000);
	ck_assert_uint_lt(cm_now_ms() - start, 2000);
	ck_assert_int_eq(cp_engine_outcome(s.engine, 2, &code, &reason), CP_OUT_TIMEOUT);
	ck_assert_str_eq(reason, "run ended during the call");
	ck_assert_uint_eq(report.outcomes[CP_OUT_SUCCESS], 2); /* the callees */
	ck_assert_uint_eq(s.media_started, s.media_stopped);
	finish(&s);
}
END_TEST

START_TEST(external_callees_wait_for_the_deadline)
{
	struct script s = script();
	uint64_t start = cm_now_ms();

	run(&s, "[test]\nduration = 1s\n[group in]\nendpoints = 3\ntarget = external\n", 5000);
	ck_assert_uint_ge(cm_now_ms() - start, 990);
	ck_assert_uint_eq(report.outcomes[CP_OUT_SUCCESS], 3);
	finish(&s);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, calls_between_groups_all_succeed);
	tcase_add_test(tc, callees_register_before_callers_dial);
	tcase_add_test(tc, call_rate_is_paced);
	tcase_add_test(tc, registration_refused_and_unanswered);
	tcase_add_test(tc, rejected_calls_name_the_code);
	tcase_add_test(tc, unanswered_invite_times_out_and_cancels);
	tcase_add_test(tc, unanswered_bye_is_a_teardown_error);
	tcase_add_test(tc, poor_quality_is_a_warning);
	tcase_add_test(tc, several_calls_per_endpoint);
	tcase_add_test(tc, run_duration_cuts_long_calls);
	tcase_add_test(tc, external_callees_wait_for_the_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	cm_log_setup(CM_LOG_WARN, CM_LOG_PRETTY, stderr);
	return run_suite(engine_suite());
}
