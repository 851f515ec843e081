/* callmeter-worker: the appliance.
 *
 *   callmeter-worker [serve] [--config FILE] [--eal "ARGS"]   serve (daemon mode when WORKER_TOKEN is set)
 *   callmeter-worker COMMAND ARGS...                          one of the commands in the table below
 *
 * Exit status: 0 clean shutdown; 1 a runtime failure (EAL, port, health socket); 2 bad configuration. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config/config.h"
#include "controlplane/controlplane.h"
#include "dataplane/dataplane.h"
#include "sip/sip.h"

extern char **environ;

#define EXIT_RUNTIME 1
#define EXIT_CONFIG 2
#define HEALTH_CHECK_MS 1000

struct worker {
	struct cfg_worker cfg;
	struct cp_state st;
	struct cp_loop *loop;
	struct cp_health *health;
	struct cp_gateway *gw;
	struct dp_port_info port;
	struct cp_timer health_check;
	int sigfd;
};

static int cmd_serve(int argc, char **argv);

/* Subcommands: each entry point lives in its folder's public header and returns the process exit status. */
static const struct command {
	const char *name;
	int (*main)(int argc, char **argv); /* argv[0] is the command name */
	const char *usage;
} commands[] = {
	{ "serve", cmd_serve, "[--config FILE] [--eal \"EAL ARGS\"]" },
	{ "run", cp_run_main, "PLAN.ini [--json-summary FILE] [--metrics-out FILE.msgpack] [--eal \"ARGS\"]" },
	{ "plan-check", cfg_plan_check_main, "PLAN.ini..." },
	{ "sip-check", sip_check_main, "FILE...   (parse each file as one SIP message)" },
	{ "analyze", dp_analyze_main, "FILE.pcap [--json-summary FILE] [--max-flows N]" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: callmeter-worker [serve] [--config FILE] [--eal \"EAL ARGS\"]\n");
	for (size_t i = 0; i < CM_ARRAY_SIZE(commands); i++)
		fprintf(out, "       callmeter-worker %s %s\n", commands[i].name, commands[i].usage);
	fprintf(out,
		"       callmeter-worker --version | --help\n"
		"\n"
		"Starts the worker: DPDK dataplane, health endpoint on HEALTH_PORT (default 3030), and, when\n"
		"WORKER_TOKEN and CLOUD_URL are set, the outbound session to a gateway.\n"
		"Configuration: environment variables over the INI file (--config, default %s).\n"
		"See README.md for every setting.\n",
		CFG_DEFAULT_PATH);
}

static void on_signal(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	struct worker *w = arg;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGTERM && w->gw && !w->st.draining) {
		/* daemon mode: report DRAINING to the gateway, finish what is in hand, then exit (on_drained) */
		cm_log(CM_LOG_INFO, "main", "%s received: draining", strsignal((int)si.ssi_signo));
		cp_gateway_drain(w->gw, "SIGTERM");
		return;
	}
	cm_log(CM_LOG_INFO, "main", "%s received: shutting down", strsignal((int)si.ssi_signo));
	cp_loop_stop(loop);
}

static void on_drained(void *arg)
{
	struct worker *w = arg;

	cp_loop_stop(w->loop);
}

static void on_health_check(struct cp_loop *loop, void *arg)
{
	struct worker *w = arg;
	bool ok = dp_healthy(&w->port);

	if (ok != w->st.dataplane_ok) {
		cm_log(ok ? CM_LOG_INFO : CM_LOG_ERROR, "dataplane", "port %s link %s", w->port.name,
		       ok ? "up again" : "down");
		snprintf(w->st.error, sizeof(w->st.error), "%s", ok ? "" : "dataplane port link down");
	}
	w->st.dataplane_ok = ok;
	w->st.link_up = w->port.link_up;
	w->st.link_speed_mbps = w->port.speed_mbps;
	cp_timer_start(loop, &w->health_check, HEALTH_CHECK_MS);
}

static int setup_signals(struct worker *w)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before EAL starts its threads so that only the signalfd sees them. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	w->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return w->sigfd < 0 ? -errno : 0;
}

static int parse_args(int argc, char **argv, const char **config, const char **eal)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "eal", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'e': *eal = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("callmeter-worker %s\n", CM_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "callmeter-worker: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && argv[1][0] != '-') {
		for (size_t i = 0; i < CM_ARRAY_SIZE(commands); i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].main(argc - 1, argv + 1);
		fprintf(stderr, "callmeter-worker: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return EXIT_CONFIG;
	}
	return cmd_serve(argc, argv);
}

static int cmd_serve(int argc, char **argv)
{
	static struct worker w;
	const char *config = NULL, *eal = NULL;
	char err[CFG_ERR_MAX] = "bad [dataplane] media addresses";
	struct dp_config dcfg;
	int status = EXIT_RUNTIME;

	if (parse_args(argc, argv, &config, &eal) < 0)
		return EXIT_CONFIG;
	if (cfg_worker_load(&w.cfg, config, environ, err, sizeof(err)) < 0) {
		fprintf(stderr, "callmeter-worker: configuration error: %s\n", err);
		return EXIT_CONFIG;
	}
	if (eal && cm_strlcpy(w.cfg.eal_args, eal, sizeof(w.cfg.eal_args)) < 0) {
		fprintf(stderr, "callmeter-worker: configuration error: --eal: longer than %zu characters\n",
			sizeof(w.cfg.eal_args) - 1);
		return EXIT_CONFIG;
	}
	cm_log_add_secret(w.cfg.token);
	cm_log_setup(w.cfg.log_level, w.cfg.log_format, stderr);
	cm_log(CM_LOG_INFO, "main", "callmeter-worker %s starting as '%s'%s%s", CM_VERSION, w.cfg.name,
	       w.cfg.source[0] ? ", config " : "", w.cfg.source);

	w.st.name = w.cfg.name;
	w.st.started_ms = cm_now_ms();
	w.st.daemon_mode = w.cfg.token[0] != '\0';
	w.sigfd = -1;
	if (setup_signals(&w) < 0) {
		cm_log(CM_LOG_ERROR, "main", "cannot set up signal handling: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	w.loop = cp_loop_new();
	if (!w.loop)
		goto close_sigfd;
	if (cp_loop_add_fd(w.loop, w.sigfd, EPOLLIN, on_signal, &w) < 0)
		goto free_loop;

	if (dp_eal_init(argv[0], w.cfg.eal_args, err, sizeof(err)) < 0) {
		cm_log(CM_LOG_ERROR, "dataplane", "%s", err);
		goto free_loop;
	}
	/* the flow table gateway assignments share (standalone serve uses none of it) */
	if (cp_dp_config_from(&w.cfg.media, w.cfg.media.max_flows, &dcfg) < 0 ||
	    dp_configure(&dcfg, err, sizeof(err)) < 0) {
		cm_log(CM_LOG_ERROR, "dataplane", "%s", err);
		goto eal_cleanup;
	}
	if (dp_start(w.cfg.port_name, &w.port, err, sizeof(err)) < 0) {
		cm_log(CM_LOG_ERROR, "dataplane", "%s", err);
		goto eal_cleanup;
	}
	w.st.dataplane_ok = true;
	snprintf(w.st.port_name, sizeof(w.st.port_name), "%s", w.port.name);
	snprintf(w.st.port_mac, sizeof(w.st.port_mac), "%s", w.port.mac);
	cp_timer_init(&w.health_check, on_health_check, &w);
	on_health_check(w.loop, &w);

	if (w.cfg.health_port) {
		w.health = cp_health_start(w.loop, w.cfg.health_bind, w.cfg.health_port, &w.st);
		if (!w.health)
			goto dp_stop;
	}
	if (w.st.daemon_mode) {
		w.gw = cp_gateway_start(w.loop, &w.cfg, &w.st);
		if (!w.gw)
			goto health_stop;
		cp_gateway_on_drained(w.gw, on_drained, &w);
	} else {
		cm_log(CM_LOG_INFO, "main", "standalone: no WORKER_TOKEN/CLOUD_URL, not connecting to a gateway");
	}
	cm_log(CM_LOG_INFO, "main", "ready");
	if (cp_loop_run(w.loop) == 0)
		status = 0;

	w.st.draining = true;
	/* the lcores stop before the gateway session frees the parts still in hand (their frame caches) */
	cp_timer_stop(w.loop, &w.health_check);
	dp_stop();
	cp_gateway_stop(w.gw);
health_stop:
	cp_health_stop(w.health);
dp_stop:
	cp_timer_stop(w.loop, &w.health_check);
	dp_stop();
eal_cleanup:
	dp_eal_cleanup();
free_loop:
	cp_loop_free(w.loop);
close_sigfd:
	close(w.sigfd);
	if (status == 0)
		cm_log(CM_LOG_INFO, "main", "stopped cleanly");
	return status;
}
