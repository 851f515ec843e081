/* callmeter-worker run PLAN.ini [--json-summary FILE] [--metrics-out FILE.msgpack] [--eal "ARGS"] [--config FILE]
 *
 * Runs a plan standalone: the dataplane on the configured port, the endpoints' SIP on kernel sockets, live
 * progress, a final summary table.  Exit 0: every endpoint SUCCESS (or COMPLETED_WITH_WARNINGS: the calls
 * completed, their quality is flagged); 1: the run completed with failed endpoints, or could not start
 * (EAL, port, sockets); 2: bad configuration or plan, nothing run. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"

extern char **environ;

#define EXIT_FAILED 1
#define EXIT_BAD_INPUT 2

struct run {
	struct cfg_worker cfg;
	struct cfg_plan *plan;    /* owned by exec once it exists */
	struct cp_loop *loop;
	struct cp_exec *exec;
	struct cp_engine *engine;
	struct cp_report *report;
	struct cp_metrics_out *metrics;
	struct cp_timer progress;
	bool tty;
	int sigfd;
	unsigned interrupts;
	uint64_t calls_at_last_progress;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: callmeter-worker run PLAN.ini [--json-summary FILE] [--metrics-out FILE.msgpack]\n"
		     "                            [--eal \"EAL ARGS\"] [--config FILE]\n");
}

static void show_progress(struct cp_loop *loop, void *arg)
{
	struct run *r = arg;
	struct cp_engine_stats st;
	struct cp_progress p = { 0 };

	cp_engine_stats(r->engine, &st);
	p.elapsed_s = (uint32_t)((cm_wallclock_ms() - r->report->started_wall_ms) / 1000);
	p.duration_s = r->plan->test.duration_ms / 1000;
	p.total = cp_engine_endpoints(r->engine);
	p.ready = st.state[CP_EP_READY] + st.state[CP_EP_CALLING] + st.state[CP_EP_RINGING] +
		       st.state[CP_EP_IN_CALL] + st.state[CP_EP_HANGING_UP];
	p.ringing = st.state[CP_EP_RINGING];
	p.in_call = st.state[CP_EP_IN_CALL];
	p.done = r->report->outcomes[CP_OUT_SUCCESS] + r->report->outcomes[CP_OUT_COMPLETED_WITH_WARNINGS];
	p.failed = r->report->endpoints_total - p.done;
	p.cps = (double)(st.calls_started - r->calls_at_last_progress); /* the progress timer ticks each second */
	r->calls_at_last_progress = st.calls_started;
	p.mos = st.mos_now;
	p.loss_pct = r->report->packets_expected ? 100.0 * (double)r->report->packets_lost /
							  (double)r->report->packets_expected : 0;
	p.jitter_ms = r->report->quality_n ? r->report->jitter_sum / r->report->quality_n : 0;
	cp_progress_print(stdout, r->tty, &p);
	cp_timer_start(loop, &r->progress, 1000);
}

static void on_done(struct cp_exec *x, void *arg)
{
	struct run *r = arg;

	(void)x;
	cp_loop_stop(r->loop);
}

static void on_signal(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct run *r = arg;
	struct signalfd_siginfo si;

	(void)loop;
	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (++r->interrupts == 1) {
		fprintf(stderr, "\n%s: ending calls and unregistering (again to quit at once)\n",
			strsignal((int)si.ssi_signo));
		cp_engine_stop(r->engine);
	} else {
		fprintf(stderr, "\nquitting without teardown\n");
		cp_loop_stop(r->loop);
	}
}

static int setup_signals(struct run *r)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	r->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return r->sigfd < 0 ? -errno : 0;
}

static void run_id(char *buf, size_t len)
{
	char ts[32];

	cm_format_utc(cm_wallclock_ms(), ts, sizeof(ts));
	snprintf(buf, len, "run-%.4s%.2s%.2s-%.2s%.2s%.2s-%05u", ts, ts + 5, ts + 8, ts + 11, ts + 14, ts + 17,
		 (unsigned)getpid() % 100000);
}

/* The summary is written at the end: find out now that it can be, not after the run.  An existing file is left as
 * it is until then; one that does not exist yet is created and removed again. */
static int check_writable(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd >= 0) {
		close(fd);
		unlink(path);
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int cp_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json-summary", required_argument, NULL, 'j' },
		{ "metrics-out", required_argument, NULL, 'm' },
		{ "eal", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct run r;
	const char *json = NULL, *metrics = NULL, *eal = NULL, *config = NULL;
	struct dp_config dcfg;
	struct dp_port_info port;
	struct cp_exec_opts xo = { 0 };
	char err[CFG_ERR_MAX], id[48];
	int c, rc, status = EXIT_FAILED;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = optarg; break;
		case 'm': metrics = optarg; break;
		case 'e': eal = optarg; break;
		case 'c': config = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_BAD_INPUT;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_BAD_INPUT;
	}
	if (cfg_worker_load(&r.cfg, config, environ, err, sizeof(err)) < 0) {
		fprintf(stderr, "callmeter-worker run: configuration error: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	cm_log_add_secret(r.cfg.token);
	/* the terminal shows progress; logs below warnings would only interleave with it */
	r.tty = isatty(STDOUT_FILENO);
	cm_log_setup(r.tty && r.cfg.log_level > CM_LOG_WARN ? CM_LOG_WARN : r.cfg.log_level, r.cfg.log_format,
		     stderr);
	r.plan = malloc(sizeof(*r.plan));
	if (!r.plan)
		return EXIT_FAILED;
	if (cfg_plan_load(r.plan, argv[optind], err, sizeof(err)) < 0) {
		fprintf(stderr, "callmeter-worker run: bad plan: %s\n", err);
		free(r.plan);
		return EXIT_BAD_INPUT;
	}
	if (json && (rc = check_writable(json)) < 0) {
		fprintf(stderr, "callmeter-worker run: cannot write --json-summary %s: %s\n", json, strerror(-rc));
		free(r.plan);
		return EXIT_BAD_INPUT;
	}
	if (!eal)
		eal = r.plan->dp.eal_args[0] ? r.plan->dp.eal_args : r.cfg.eal_args;
	r.sigfd = -1;
	r.loop = cp_loop_new();
	if (!r.loop) {
		free(r.plan);
		return EXIT_FAILED;
	}
	run_id(id, sizeof(id));
	xo.run_id = id;
	xo.plan_name = argv[optind];
	r.exec = cp_exec_new(r.loop, r.plan, &xo, err, sizeof(err)); /* takes the plan */
	if (!r.exec) {
		fprintf(stderr, "callmeter-worker run: bad plan: %s\n", err);
		status = EXIT_BAD_INPUT;
		goto free_loop;
	}
	r.report = cp_exec_report(r.exec);
	if (metrics) {
		r.metrics = cp_metrics_open(metrics);
		if (!r.metrics) {
			fprintf(stderr, "callmeter-worker run: cannot write --metrics-out %s\n", metrics);
			status = EXIT_BAD_INPUT;
			goto free_exec;
		}
	}
	if (setup_signals(&r) < 0 || cp_loop_add_fd(r.loop, r.sigfd, EPOLLIN, on_signal, &r) < 0)
		goto close_sigfd;

	rc = dp_eal_init("callmeter-worker", eal, err, sizeof(err));
	if (rc < 0) {
		/* arguments EAL refuses are bad configuration (exit 2), like a bad plan: nothing has run */
		fprintf(stderr, "callmeter-worker run: %s\n", err);
		if (rc == -EINVAL || rc == -E2BIG)
			status = EXIT_BAD_INPUT;
		goto close_sigfd;
	}
	cp_media_dp_config(cp_exec_media(r.exec), &dcfg);
	if ((rc = dp_configure(&dcfg, err, sizeof(err))) < 0 ||
	    (rc = dp_start(r.plan->dp.port[0] ? r.plan->dp.port : r.cfg.port_name, &port, err, sizeof(err))) < 0) {
		fprintf(stderr, "callmeter-worker run: dataplane: %s\n", err);
		if (rc == -EINVAL || rc == -ENODEV) /* a port that is not there, lcores or sizes it cannot have */
			status = EXIT_BAD_INPUT;
		goto eal_cleanup;
	}
	cp_exec_set_metrics(r.exec, r.metrics);
	if ((rc = cp_exec_start(r.exec, on_done, &r, err, sizeof(err))) < 0) {
		/* names that do not resolve, addresses or ports that cannot be had, too few accounts: the plan
		 * cannot run here, and nothing has */
		fprintf(stderr, "callmeter-worker run: %s\n", err);
		if (rc == -EINVAL)
			status = EXIT_BAD_INPUT;
		goto dp_stop;
	}
	r.engine = cp_exec_engine(r.exec);
	printf("%s: plan %s, %u endpoint(s), dataplane port %s (%s), %s\n", id, argv[optind],
	       r.plan->total_endpoints, port.name, port.driver, r.plan->imp.any ? "TX impairment on" : "no impairment");
	cp_timer_init(&r.progress, show_progress, &r);
	cp_timer_start(r.loop, &r.progress, 1000);
	cp_loop_run(r.loop);
	cp_timer_stop(r.loop, &r.progress);
	if (r.tty)
		putchar('\n');
	if (!r.report->ended_wall_ms)
		r.report->ended_wall_ms = cm_wallclock_ms();

	cp_exec_dataplane_final(r.exec);
	cp_summary_print(stdout, r.report);
	status = strcmp(cp_report_run_outcome(r.report), "COMPLETED") == 0 && r.interrupts < 2 ? 0 : EXIT_FAILED;
	if (json && cp_report_write_json(r.report, json) < 0) {
		fprintf(stderr, "callmeter-worker run: cannot write %s\n", json);
		status = EXIT_FAILED;
	}
dp_stop:
	dp_stop(); /* before the executor frees the frame caches the lcores send from */
eal_cleanup:
	dp_eal_cleanup();
close_sigfd:
	if (r.sigfd >= 0)
		close(r.sigfd);
	if (cp_metrics_close(r.metrics) < 0 && status == 0) {
		fprintf(stderr, "callmeter-worker run: writing %s failed\n", metrics);
		status = EXIT_FAILED;
	}
free_exec:
	cp_exec_free(r.exec);
free_loop:
	cp_loop_free(r.loop);
	return status;
}
