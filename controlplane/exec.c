/* The run executor: one plan (or one gateway part of a plan) from media set-up to the report.
 *
 * `callmeter-worker run` and the daemon's gateway assignments both go through here, so a part run for a
 * gateway behaves exactly as the same endpoints would in a standalone run.  Construction (cp_exec_new) needs no
 * dataplane: it checks and encodes the media, so a bad plan is refused before anything starts.  cp_exec_start
 * needs the dataplane running: it opens the SIP sockets and starts the endpoint engine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"

struct cp_exec {
	struct cp_loop *loop;
	struct cfg_plan *plan;
	struct cp_media *media;
	struct cp_ua *ua;
	struct cp_engine *engine;
	struct cp_report report;
	struct cp_metrics_out *metrics;
	struct cp_engine_fleet fleet;
	struct cp_dpstats *dps;     /* the dataplane's figures: per-second samples, the report's at the end */
	uint32_t last_t;
	bool has_fleet, report_ready, dp_reported;
	void (*done)(struct cp_exec *x, void *arg);
	void *done_arg;
};

/* What the plan format accepts but this build cannot run yet: refused before anything starts. */
static int check_supported(const struct cfg_plan *plan, char *err, size_t len)
{
	for (uint32_t g = 0; g < plan->ngroups; g++) {
		const struct cfg_group *gr = &plan->groups[g];
		const char *what = NULL;

		if (gr->dtmf_digits[0] && gr->dtmf == CFG_DTMF_NONE)
			what = "dtmf_digits with dtmf = none";
		if (what) {
			snprintf(err, len, "%s: [group %s]: %s is not supported by this build yet", plan->source,
				 gr->name, what);
			return -ENOTSUP;
		}
	}
	return 0;
}

struct cp_exec *cp_exec_new(struct cp_loop *loop, struct cfg_plan *plan, const struct cp_exec_opts *o, char *err,
			    size_t errlen)
{
	struct cp_exec *x;

	if (check_supported(plan, err, errlen) < 0) {
		free(plan);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		free(plan);
		return NULL;
	}
	x->loop = loop;
	x->plan = plan;
	x->metrics = o->metrics;
	if (o->fleet) {
		x->fleet = *o->fleet;
		x->has_fleet = true;
	}
	cp_report_init(&x->report, o->run_id, o->plan_name);
	x->report_ready = true;
	x->media = cp_media_new(plan, err, errlen);
	if (!x->media) {
		cp_exec_free(x);
		return NULL;
	}
	return x;
}

/* Every second: the dataplane's sample after the endpoints' (with a metrics stream); at the end its figures
 * go into the report, from the same reading as the last sample's totals. */
static void each_second(void *arg, uint32_t t, bool last)
{
	struct cp_exec *x = arg;

	x->last_t = t;
	if (x->metrics)
		cp_dpstats_sample(x->dps, t, x->metrics);
	else if (last)
		cp_dpstats_read(x->dps);
	if (last && !x->dp_reported) {
		cp_dpstats_report(x->dps, &x->report);
		x->dp_reported = true;
	}
}

void cp_exec_dataplane_final(struct cp_exec *x)
{
	if (!x->dps || x->dp_reported)
		return;
	each_second(x, x->last_t + 1, true);
}

static void on_engine_done(struct cp_engine *e, void *arg)
{
	struct cp_exec *x = arg;

	(void)e;
	if (x->done)
		x->done(x, x->done_arg);
}

int cp_exec_start(struct cp_exec *x, void (*done)(struct cp_exec *x, void *arg), void *arg, char *err,
		  size_t errlen)
{
	uint8_t mac[6];

	dp_port_mac(mac);
	cp_media_set_mac(x->media, mac);
	if (x->plan->imp.any && cp_media_apply_impairment(x->media) < 0) {
		snprintf(err, errlen, "the dataplane refused the impairment settings");
		return -EINVAL;
	}
	x->ua = cp_ua_new(x->loop, x->plan, x->media, err, errlen);
	if (!x->ua)
		return errno == ENOMEM ? -ENOMEM : -EINVAL; /* anything but memory: the plan cannot run on this host */
	x->engine = cp_engine_new(x->loop, x->plan, &cp_ua_engine_ops, x->ua, x->media, &x->report);
	if (!x->engine) {
		snprintf(err, errlen, "out of memory for %u endpoints", x->plan->total_endpoints);
		return -ENOMEM;
	}
	cp_ua_attach(x->ua, x->engine);
	/* a standalone run has had the dataplane from its start; a gateway part shares one that outlives it */
	x->dps = cp_dpstats_new(!x->has_fleet);
	if (!x->dps) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cp_engine_each_second(x->engine, each_second, x);
	cp_engine_set_metrics(x->engine, x->metrics);
	if (x->has_fleet)
		cp_engine_set_fleet(x->engine, &x->fleet);
	x->done = done;
	x->done_arg = arg;
	return cp_engine_start(x->engine, on_engine_done, x);
}

void cp_exec_free(struct cp_exec *x)
{
	if (!x)
		return;
	cp_engine_free(x->engine);
	cp_ua_free(x->ua);
	cp_media_free(x->media);
	cp_dpstats_free(x->dps);
	if (x->report_ready)
		cp_report_free(&x->report);
	free(x->plan);
	free(x);
}

void cp_exec_set_metrics(struct cp_exec *x, struct cp_metrics_out *m)
{
	x->metrics = m;
	if (x->engine)
		cp_engine_set_metrics(x->engine, m);
}

struct cp_report *cp_exec_report(struct cp_exec *x)
{
	return &x->report;
}

struct cp_engine *cp_exec_engine(struct cp_exec *x)
{
	return x->engine;
}

struct cp_media *cp_exec_media(struct cp_exec *x)
{
	return x->media;
}

struct cp_ua *cp_exec_ua(struct cp_exec *x)
{
	return x->ua;
}

struct cfg_plan *cp_exec_plan(struct cp_exec *x)
{
	return x->plan;
}
