/* What `callmeter-worker run` shows while it runs and when it ends.  On a terminal the progress line rewrites
 * itself once a second; when stdout is a file or a pipe every update is its own line, so logs stay readable. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "controlplane/controlplane.h"

void cp_progress_print(FILE *out, bool tty, const struct cp_progress *p)
{
	char mos[16];

	if (p->mos >= 0)
		snprintf(mos, sizeof(mos), "%.2f", p->mos);
	else
		snprintf(mos, sizeof(mos), "-");
	fprintf(out, "%s[%4us/%us] endpoints %u: ready %u, ringing %u, in call %u, done %u, failed %u | "
		"%.1f cps | MOS %s | loss %.2f%% | jitter %.2f ms%s",
		tty ? "\r\033[K" : "", p->elapsed_s, p->duration_s, p->total, p->ready, p->ringing, p->in_call,
		p->done, p->failed, p->cps, mos, p->loss_pct, p->jitter_ms, tty ? "" : "\n");
	fflush(out);
}

static void row(FILE *out, const char *label, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void row(FILE *out, const char *label, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "  %-26s ", label);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

void cp_summary_print(FILE *out, struct cp_report *r)
{
	double n = r->quality_n ? r->quality_n : 1;
	double secs = r->ended_wall_ms > r->started_wall_ms ? (r->ended_wall_ms - r->started_wall_ms) / 1000.0 : 0;

	fprintf(out, "\nRun %s (%s): %s in %.1f s\n", r->run_id, r->plan, cp_report_run_outcome(r), secs);
	fprintf(out, "Endpoints\n");
	row(out, "total", "%u", r->endpoints_total);
	for (int o = 0; o < CP_OUT_COUNT; o++)
		if (r->outcomes[o] || o == CP_OUT_SUCCESS)
			row(out, cp_outcome_name((enum cp_outcome)o), "%u", r->outcomes[o]);
	for (unsigned i = 0; i < r->nfailures; i++) {
		char label[64];
		snprintf(label, sizeof(label), "  %s %u", cp_outcome_name((enum cp_outcome)r->failures[i].outcome),
			 r->failures[i].code);
		row(out, label, "%u  %s", r->failures[i].count, r->failures[i].reason);
	}
	fprintf(out, "Registrations\n");
	row(out, "attempted / ok / failed", "%u / %u / %u", r->reg_attempted, r->reg_succeeded, r->reg_failed);
	if (r->reg_refreshes)
		row(out, "refreshes / failed", "%u / %u", r->reg_refreshes, r->reg_refresh_failed);
	row(out, "time p50 / p95 / p99", "%u / %u / %u ms", cp_values_percentile(&r->reg_time_ms, 50),
	    cp_values_percentile(&r->reg_time_ms, 95), cp_values_percentile(&r->reg_time_ms, 99));
	fprintf(out, "Calls\n");
	row(out, "attempted / answered", "%u / %u (ASR %.1f %%)", r->calls_attempted, r->calls_answered,
	    r->calls_attempted ? 100.0 * r->calls_answered / r->calls_attempted : 0);
	if (r->calls_received)
		row(out, "received and answered", "%u", r->calls_received);
	if (r->calls_early_media)
		row(out, "with early media", "%u", r->calls_early_media);
	row(out, "setup p50 / p95 / p99", "%u / %u / %u ms", cp_values_percentile(&r->setup_ms, 50),
	    cp_values_percentile(&r->setup_ms, 95), cp_values_percentile(&r->setup_ms, 99));
	row(out, "PDD p50 / p95 / p99", "%u / %u / %u ms", cp_values_percentile(&r->pdd_ms, 50),
	    cp_values_percentile(&r->pdd_ms, 95), cp_values_percentile(&r->pdd_ms, 99));
	if (r->holds || r->hold_failures)
		row(out, "on hold / resumed / failed", "%u / %u / %u", r->holds, r->resumes, r->hold_failures);
	if (r->session_refreshes || r->session_refreshes_received || r->session_expired || r->session_422)
		row(out, "session refreshes sent / received / expired / 422", "%u / %u / %u / %u", r->session_refreshes,
		    r->session_refreshes_received, r->session_expired, r->session_422);
	fprintf(out, "Quality (%u received streams)\n", r->quality_n);
	row(out, "MOS avg / min", "%.2f / %.2f", r->mos_sum / n, r->mos_min);
	row(out, "R-factor avg / min", "%.1f / %.1f", r->r_sum / n, r->r_min);
	row(out, "jitter avg / max", "%.2f / %.2f ms", r->jitter_sum / n, r->jitter_max);
	row(out, "packets lost", "%llu of %llu (%.3f %%)", (unsigned long long)r->packets_lost,
	    (unsigned long long)r->packets_expected,
	    r->packets_expected ? 100.0 * (double)r->packets_lost / (double)r->packets_expected : 0);
	if (r->ndp) {
		uint64_t late = 0;

		fprintf(out, "Dataplane (counters that are not zero)\n");
		for (unsigned i = 0; i < r->ndp; i++) {
			if (r->dp[i].value)
				row(out, r->dp[i].name, "%llu", (unsigned long long)r->dp[i].value);
			if (strcmp(r->dp[i].name, CP_DP_PACING_P99) == 0)
				late = r->dp[i].value;
		}
		/* A measurement whose own sending was late: what the far end saw includes it. */
		if (late > CP_PACING_NOTE_NS)
			fprintf(out, "Note: 1 %% of the packets left over %.1f ms late (tx_pacing_p99_ns): the dataplane lcore "
				"did not have its CPU to itself; the jitter the far end measured includes this. Give the "
				"lcore a CPU of its own (isolcpus / nohz_full, nothing else on it)\n", late / 1e6);
	}
}
