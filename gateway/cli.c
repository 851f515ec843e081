/* callmeter-gateway's command line:
 *
 *   serve --cert FILE --key FILE [--listen HOST:PORT] [--heartbeat S] [--heartbeat-timeout S]
 *   worker create NAME [--capacity N] [--license standard|professional|enterprise]
 *   worker regenerate NAME | delete NAME | drain NAME | list
 *
 * Every command takes --db PATH (default $CALLMETER_GATEWAY_DB, else GW_DEFAULT_DB).  A new token is printed
 * once, alone on stdout (so `TOKEN=$(callmeter-gateway worker create w1)` works); what it is goes to stderr.
 * Exit status: 0 done; 1 runtime failure; 2 bad usage; 3 no such worker / name taken. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gateway/gateway.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_NOTFOUND 3

struct cli {
	const char *db;
	const char *listen, *cert, *key;
	uint32_t heartbeat_s, timeout_s;
	uint32_t capacity;
	bool capacity_set;
	enum gw_license license;
	const char *args[4];
	int nargs;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: callmeter-gateway serve --cert FILE --key FILE [--listen HOST:PORT] [--heartbeat S]\n"
		"                               [--heartbeat-timeout S] [--db PATH]\n"
		"       callmeter-gateway worker create NAME [--capacity N]\n"
		"                               [--license standard|professional|enterprise] [--db PATH]\n"
		"       callmeter-gateway worker regenerate|delete|drain NAME [--db PATH]\n"
		"       callmeter-gateway worker list [--db PATH]\n"
		"       callmeter-gateway --version | --help\n"
		"\n"
		"The store is --db PATH, else $%s, else %s (created mode 0600).\n"
		"serve listens on 0.0.0.0:443 unless --listen says otherwise; workers are told to heartbeat every\n"
		"--heartbeat seconds (default %d) and are OFFLINE after --heartbeat-timeout seconds without one\n"
		"(default %d).  A worker token is printed once, by create or regenerate, and never stored.\n",
		GW_ENV_DB, GW_DEFAULT_DB, GW_DEFAULT_HEARTBEAT_S, GW_DEFAULT_TIMEOUT_S);
}

static int parse_u32(const char *opt, const char *v, uint64_t min, uint64_t max, uint32_t *out)
{
	uint64_t x;

	if (!v || cm_parse_u64(v, min, max, &x) < 0) {
		fprintf(stderr, "callmeter-gateway: %s: expected a number %llu-%llu, got '%s'\n", opt,
			(unsigned long long)min, (unsigned long long)max, v ? v : "");
		return -EINVAL;
	}
	*out = (uint32_t)x;
	return 0;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] != '-' || a[1] != '-') {
			if (a[0] == '-') {
				fprintf(stderr, "callmeter-gateway: unknown option '%s'\n", a);
				return -EINVAL;
			}
			if (c->nargs == (int)CM_ARRAY_SIZE(c->args)) {
				fprintf(stderr, "callmeter-gateway: unexpected argument '%s'\n", a);
				return -EINVAL;
			}
			c->args[c->nargs++] = a;
			continue;
		}
		if (!v && strcmp(a, "--help") != 0) {
			fprintf(stderr, "callmeter-gateway: %s needs a value\n", a);
			return -EINVAL;
		}
		if (strcmp(a, "--db") == 0) {
			c->db = v;
		} else if (strcmp(a, "--listen") == 0) {
			c->listen = v;
		} else if (strcmp(a, "--cert") == 0) {
			c->cert = v;
		} else if (strcmp(a, "--key") == 0) {
			c->key = v;
		} else if (strcmp(a, "--heartbeat") == 0) {
			if (parse_u32(a, v, 1, 3600, &c->heartbeat_s) < 0)
				return -EINVAL;
		} else if (strcmp(a, "--heartbeat-timeout") == 0) {
			if (parse_u32(a, v, 1, 86400, &c->timeout_s) < 0)
				return -EINVAL;
		} else if (strcmp(a, "--capacity") == 0) {
			if (parse_u32(a, v, 1, 10000000, &c->capacity) < 0)
				return -EINVAL;
			c->capacity_set = true;
		} else if (strcmp(a, "--license") == 0) {
			if (gw_license_parse(v, &c->license) < 0) {
				fprintf(stderr, "callmeter-gateway: --license: expected standard, professional or "
						"enterprise, got '%s'\n", v);
				return -EINVAL;
			}
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "callmeter-gateway: unknown option '%s'\n", a);
			return -EINVAL;
		}
		i++;
	}
	return 0;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
			goto bad;
	return 0;
bad:
	fprintf(stderr, "callmeter-gateway: worker name '%s': 1-64 characters from A-Z a-z 0-9 . _ -\n", name);
	return -EINVAL;
}

static struct gw_store *open_store(const struct cli *c)
{
	char err[512];
	struct gw_store *s = gw_store_open(c->db, err, sizeof(err));

	if (!s)
		fprintf(stderr, "callmeter-gateway: %s\n", err);
	return s;
}

static void print_token(const char *name, char *token, const char *what)
{
	fprintf(stderr, "worker '%s' %s; its token follows, shown this once (only its SHA-256 is kept):\n", name,
		what);
	printf("%s\n", token);
	fflush(stdout);
	OPENSSL_cleanse(token, GW_TOKEN_LEN);
}

static void list_row(void *arg, const struct gw_worker *w)
{
	uint32_t eff = gw_effective_capacity(w->capacity, w->license);
	char hb[32] = "never", cap[24], conf[16];

	(void)arg;
	if (w->last_heartbeat)
		cm_format_utc(w->last_heartbeat, hb, sizeof(hb));
	if (eff == UINT32_MAX)
		snprintf(cap, sizeof(cap), "unlimited");
	else
		snprintf(cap, sizeof(cap), "%u", eff);
	if (w->capacity == UINT32_MAX)
		snprintf(conf, sizeof(conf), "-");
	else
		snprintf(conf, sizeof(conf), "%u", w->capacity);
	printf("%-20s %-9s %-24s %-9s %-10s %-12s %-6u %s%s%s\n", w->name, w->status, hb, cap, conf,
	       gw_license_name(w->license), w->active_endpoints, w->drain_requested ? "drain-pending " : "",
	       w->error[0] ? "last error: " : "", w->error);
}

static int cmd_worker(struct cli *c)
{
	const char *sub = c->nargs > 0 ? c->args[0] : NULL, *name = c->nargs > 1 ? c->args[1] : NULL;
	char token[GW_TOKEN_LEN + 1];
	struct gw_store *s;
	int rc, status = 0;

	if (!sub) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(sub, "list") == 0) {
		if (c->nargs != 1) {
			usage(stderr);
			return EXIT_USAGE;
		}
	} else if (strcmp(sub, "create") == 0 || strcmp(sub, "regenerate") == 0 || strcmp(sub, "delete") == 0 ||
		   strcmp(sub, "drain") == 0) {
		if (c->nargs != 2) {
			fprintf(stderr, "callmeter-gateway: worker %s takes one NAME\n", sub);
			return EXIT_USAGE;
		}
		if (check_name(name) < 0)
			return EXIT_USAGE;
	} else {
		fprintf(stderr, "callmeter-gateway: unknown worker command '%s'\n", sub);
		usage(stderr);
		return EXIT_USAGE;
	}
	s = open_store(c);
	if (!s)
		return EXIT_RUNTIME;
	if (strcmp(sub, "list") == 0) {
		printf("%-20s %-9s %-24s %-9s %-10s %-12s %-6s %s\n", "NAME", "STATUS", "LAST_HEARTBEAT", "CAPACITY",
		       "CONFIGURED", "LICENSE", "ACTIVE", "NOTES");
		rc = gw_store_worker_list(s, list_row, NULL);
		status = rc < 0 ? EXIT_RUNTIME : 0;
	} else if (strcmp(sub, "create") == 0) {
		rc = gw_store_worker_create(s, name, c->capacity_set ? c->capacity : UINT32_MAX, c->license, token);
		if (rc == -EEXIST) {
			fprintf(stderr, "callmeter-gateway: a worker named '%s' exists already\n", name);
			status = EXIT_NOTFOUND;
		} else if (rc < 0) {
			status = EXIT_RUNTIME;
		} else {
			char what[96];
			uint32_t eff = gw_effective_capacity(c->capacity_set ? c->capacity : UINT32_MAX, c->license);
			if (eff == UINT32_MAX)
				snprintf(what, sizeof(what), "created (license %s, capacity unlimited)",
					 gw_license_name(c->license));
			else
				snprintf(what, sizeof(what), "created (license %s, effective capacity %u)",
					 gw_license_name(c->license), eff);
			print_token(name, token, what);
		}
	} else if (strcmp(sub, "regenerate") == 0) {
		rc = gw_store_worker_regenerate(s, name, token);
		if (rc == 0)
			print_token(name, token, "has a new token; the old one is revoked and its session dropped");
		status = rc == -ENOENT ? EXIT_NOTFOUND : rc < 0 ? EXIT_RUNTIME : 0;
	} else if (strcmp(sub, "delete") == 0) {
		rc = gw_store_worker_delete(s, name);
		if (rc == 0)
			fprintf(stderr, "worker '%s' deleted; its token is revoked\n", name);
		status = rc == -ENOENT ? EXIT_NOTFOUND : rc < 0 ? EXIT_RUNTIME : 0;
	} else {
		rc = gw_store_worker_drain(s, name, true);
		if (rc == 0)
			fprintf(stderr, "worker '%s': drain requested (it finishes its runs, takes no new ones)\n", name);
		status = rc == -ENOENT ? EXIT_NOTFOUND : rc < 0 ? EXIT_RUNTIME : 0;
	}
	if (status == EXIT_NOTFOUND && strcmp(sub, "create") != 0)
		fprintf(stderr, "callmeter-gateway: no worker named '%s'\n", name);
	gw_store_close(s);
	return status;
}

static void on_signal(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	cm_log(CM_LOG_INFO, "main", "%s received: shutting down", strsignal((int)si.ssi_signo));
	cp_loop_stop(loop);
}

static int cmd_serve(struct cli *c)
{
	struct gw_server_opts o = { .listen = c->listen, .cert = c->cert, .key = c->key, .db = c->db,
				    .heartbeat_s = c->heartbeat_s, .timeout_s = c->timeout_s };
	struct gw_server *srv;
	struct cp_loop *loop;
	sigset_t set;
	char err[512];
	int sigfd, status = EXIT_RUNTIME;

	if (c->nargs || !c->cert || !c->key) {
		fprintf(stderr, "callmeter-gateway: serve needs --cert FILE and --key FILE\n");
		return EXIT_USAGE;
	}
	if (o.heartbeat_s && o.timeout_s && o.timeout_s <= o.heartbeat_s) {
		fprintf(stderr, "callmeter-gateway: --heartbeat-timeout (%u) must be longer than --heartbeat (%u)\n",
			o.timeout_s, o.heartbeat_s);
		return EXIT_USAGE;
	}
	if (!o.heartbeat_s && o.timeout_s && o.timeout_s <= GW_DEFAULT_HEARTBEAT_S)
		o.heartbeat_s = o.timeout_s / 3 ? o.timeout_s / 3 : 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	loop = cp_loop_new();
	if (sigfd < 0 || !loop || cp_loop_add_fd(loop, sigfd, EPOLLIN, on_signal, NULL) < 0) {
		cm_log(CM_LOG_ERROR, "main", "cannot set up the event loop");
		goto out;
	}
	srv = gw_server_new(loop, &o, err, sizeof(err));
	if (!srv) {
		cm_log(CM_LOG_ERROR, "main", "%s", err);
		status = EXIT_USAGE;
		goto out;
	}
	cm_log(CM_LOG_INFO, "main", "callmeter-gateway %s listening on port %u (TLS), store %s", CM_VERSION,
	       gw_server_port(srv), c->db);
	if (cp_loop_run(loop) == 0)
		status = 0;
	gw_server_free(srv);
	cm_log(CM_LOG_INFO, "main", "stopped cleanly");
out:
	cp_loop_free(loop);
	if (sigfd >= 0)
		close(sigfd);
	return status;
}

int gw_cli_main(int argc, char **argv)
{
	struct cli c = { .license = GW_LICENSE_STANDARD };
	enum cm_log_level lvl = CM_LOG_INFO;
	enum cm_log_format fmt = CM_LOG_PRETTY;
	const char *e;

	umask(077);
	if ((e = getenv("LOG_LEVEL")) && *e && cm_log_level_parse(e, &lvl) < 0)
		fprintf(stderr, "callmeter-gateway: LOG_LEVEL '%s' ignored (error|warn|info|debug)\n", e);
	if ((e = getenv("LOG_FORMAT")) && *e && cm_log_format_parse(e, &fmt) < 0)
		fprintf(stderr, "callmeter-gateway: LOG_FORMAT '%s' ignored (json|pretty)\n", e);
	cm_log_setup(lvl, fmt, stderr);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("callmeter-gateway %s\n", CM_VERSION);
		return 0;
	}
	c.db = getenv(GW_ENV_DB);
	if (!c.db || !*c.db)
		c.db = GW_DEFAULT_DB;
	if (parse_args(&c, argc - 2, argv + 2) < 0)
		return EXIT_USAGE;
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(&c);
	if (strcmp(argv[1], "worker") == 0)
		return cmd_worker(&c);
	fprintf(stderr, "callmeter-gateway: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
