/* callmeter-gateway's command line:
 *
 *   serve --cert FILE --key FILE [--listen HOST:PORT] [--heartbeat S] [--heartbeat-timeout S] [--lost-after S]
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
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "gateway/gateway.h"
#include "gateway/gateway_internal.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_NOTFOUND 3

struct cli {
	const char *db;
	const char *listen, *cert, *key;
	uint32_t heartbeat_s, timeout_s, lost_after_s;
	uint32_t capacity;
	bool capacity_set;
	enum gw_license license;
	const char *workers;
	uint32_t wait_s;
	const char *args[4];
	int nargs;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: callmeter-gateway serve --cert FILE --key FILE [--listen HOST:PORT] [--heartbeat S]\n"
		"                               [--heartbeat-timeout S] [--lost-after S] [--db PATH]\n"
		"       callmeter-gateway worker create NAME [--capacity N]\n"
		"                               [--license standard|professional|enterprise] [--db PATH]\n"
		"       callmeter-gateway worker regenerate|delete|drain NAME [--db PATH]\n"
		"       callmeter-gateway worker list [--db PATH]\n"
		"       callmeter-gateway run submit PLAN.ini [--workers NAME,NAME...] [--db PATH]\n"
		"       callmeter-gateway run show|cancel ID [--db PATH]\n"
		"       callmeter-gateway run wait ID [--timeout S] [--db PATH]\n"
		"       callmeter-gateway --version | --help\n"
		"\n"
		"The store is --db PATH, else $%s, else %s (created mode 0600).\n"
		"serve listens on 0.0.0.0:443 unless --listen says otherwise; workers are told to heartbeat every\n"
		"--heartbeat seconds (default %d) and are OFFLINE after --heartbeat-timeout seconds without one\n"
		"(default %d).  A worker OFFLINE for --lost-after seconds (default %d) has lost its parts of runs:\n"
		"their runs fail.  A worker token is printed once, by create or regenerate, and never stored.\n",
		GW_ENV_DB, GW_DEFAULT_DB, GW_DEFAULT_HEARTBEAT_S, GW_DEFAULT_TIMEOUT_S, GW_DEFAULT_LOST_AFTER_S);
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
		} else if (strcmp(a, "--workers") == 0) {
			c->workers = v;
		} else if (strcmp(a, "--timeout") == 0) {
			if (parse_u32(a, v, 1, 604800, &c->wait_s) < 0)
				return -EINVAL;
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
		} else if (strcmp(a, "--lost-after") == 0) {
			if (parse_u32(a, v, 1, 604800, &c->lost_after_s) < 0)
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

/* ---- runs ---------------------------------------------------------------------------------------------- */

static const char *const outcome_keys[] = { "SUCCESS", "COMPLETED_WITH_WARNINGS", "REGISTRATION_FAILED", "CALL_FAILED",
					    "NEGOTIATION_FAILED", "TIMEOUT", "OSERROR", "TEARDOWN_ERROR" };

static int grab_row(void *arg, int n, const char **cols)
{
	char (*out)[512] = arg;

	for (int i = 0; i < n && i < 8; i++)
		cm_strlcpy(out[i], cols[i], sizeof(out[i]));
	return 1;
}

static void json_str(const char *s)
{
	char buf[1100];

	cm_json_escape(s, buf, sizeof(buf));
	printf("\"%s\"", buf);
}

struct show_ctx {
	int n;
	bool outcomes;
	struct gw_store *st;  /* for show_part's per-part results */
	const char *id;
};

static int show_kv(void *arg, int n, const char **cols);

#define DP_SUMMED (GW_DP_NCOLS - 3) /* GW_DP_COLUMNS up to tx_paced are counts, summed over the seconds; then the
				    * three pacing figures */

static int show_dp_sums(void *arg, int n, const char **cols)
{
	(void)arg;
	if (n < DP_SUMMED + 3)
		return 1;
	printf("\"seconds\":%s", cols[0]);
	for (int i = 0; i < DP_SUMMED; i++)
		printf(",\"%s\":%s", gw_dp_column_name((unsigned)i), cols[1 + i]);
	printf(",\"worst_second_tx_pacing_p99_ns\":%s,\"tx_pacing_max_ns\":%s", cols[DP_SUMMED + 1], cols[DP_SUMMED + 2]);
	return 0;
}

/* A part's dataplane: its per-second samples summed (and the worst second's pacing), then the figures its done
 * carried (the standalone summary's `dataplane`, and the port's extended statistics that are not zero). */
static void show_part_dataplane(struct show_ctx *c, int64_t part)
{
	static char sql[1024];
	struct show_ctx kv = { 0 };

	if (!sql[0]) {
		size_t n = (size_t)snprintf(sql, sizeof(sql), "SELECT count(*)");

		for (int i = 0; i < DP_SUMMED; i++)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", ifnull(sum(%s),0)", gw_dp_column_name((unsigned)i));
		snprintf(sql + n, sizeof(sql) - n, ", ifnull(max(tx_pacing_p99_ns),0), ifnull(max(tx_pacing_max_ns),0) "
			 "FROM dataplane WHERE run_id=?1 AND part=?2");
	}
	printf(",\"dataplane\":{");
	gw_store_query(c->st, sql, "si", show_dp_sums, NULL, c->id, part);
	printf(",\"summary\":{");
	gw_store_query(c->st, "SELECT key, value FROM part_results WHERE run_id=?1 AND part=?2 AND kind='dataplane'",
		       "si", show_kv, &kv, c->id, part);
	printf("},\"port_xstats\":{");
	kv = (struct show_ctx){ 0 };
	gw_store_query(c->st, "SELECT key, value FROM part_results WHERE run_id=?1 AND part=?2 AND kind='xstat' AND "
			      "value<>0", "si", show_kv, &kv, c->id, part);
	printf("}}");
}

static int show_part(void *arg, int n, const char **cols)
{
	struct show_ctx *c = arg;

	if (n < 9)
		return 1;
	printf("%s\n    {\"part\":%s,\"worker\":", c->n++ ? "," : "", cols[0]);
	json_str(cols[1]);
	printf(",\"group\":");
	json_str(cols[2]);
	printf(",\"role\":\"%s\",\"phase\":%s,\"first\":%s,\"count\":%s,\"status\":\"%s\",\"reason\":", cols[3],
	       cols[4], cols[5], cols[6], cols[7]);
	json_str(cols[8]);
	printf(",\"summary\":{");
	{
		struct show_ctx kv = { 0 };
		gw_store_query(c->st, "SELECT key, value FROM part_results WHERE run_id=?1 AND part=?2 AND kind='summary' "
				      "ORDER BY key", "si", show_kv, &kv, c->id, strtoll(cols[0], NULL, 10));
	}
	printf("}");
	show_part_dataplane(c, strtoll(cols[0], NULL, 10));
	printf("}");
	return 0;
}

static int show_kv(void *arg, int n, const char **cols)
{
	struct show_ctx *c = arg;

	if (n < 2)
		return 1;
	if (c->outcomes) {
		for (size_t i = 0; i < CM_ARRAY_SIZE(outcome_keys); i++)
			if (strcmp(cols[0], outcome_keys[i]) == 0)
				return 0; /* printed already */
	}
	printf("%s\"%s\":%.15g", c->n++ || c->outcomes ? "," : "", cols[0], strtod(cols[1], NULL));
	return 0;
}

static double summary_sum(struct gw_store *s, const char *id, const char *key)
{
	char v[8][512];

	memset(v, 0, sizeof(v));
	gw_store_query(s, "SELECT ifnull(sum(value),0) FROM part_results WHERE run_id=?1 AND kind='summary' AND key=?2",
		       "ss", grab_row, v, id, key);
	return strtod(v[0], NULL);
}

/* Averages over the whole run from the parts' sums (workers send sums so that these come out exact). */
static void print_quality(struct gw_store *s, const char *id)
{
	double streams = summary_sum(s, id, "streams"), lost = summary_sum(s, id, "packets_lost");
	double received = summary_sum(s, id, "packets_received");

	printf("},\n \"quality\":{\"streams\":%.0f", streams);
	if (streams > 0)
		printf(",\"mos_avg\":%.3f,\"r_factor_avg\":%.2f,\"jitter_ms_avg\":%.3f",
		       summary_sum(s, id, "mos_sum") / streams, summary_sum(s, id, "r_factor_sum") / streams,
		       summary_sum(s, id, "jitter_ms_sum") / streams);
	if (received + lost > 0)
		printf(",\"loss_pct\":%.4f", 100.0 * lost / (received + lost));
}

static int print_run(struct gw_store *s, const char *id, char *status, size_t len)
{
	char row[8][512];
	char when[3][32];
	struct show_ctx c = { 0 };
	uint64_t total = 0;

	memset(row, 0, sizeof(row));
	if (gw_store_query(s, "SELECT id, name, status, reason, endpoints, created, started, ended FROM runs WHERE id=?1",
			   "s", grab_row, row, id) <= 0)
		return -ENOENT;
	cm_strlcpy(status, row[2], len);
	for (int i = 0; i < 3; i++) {
		uint64_t ms = strtoull(row[5 + i], NULL, 10);
		if (ms)
			cm_format_utc(ms, when[i], sizeof(when[i]));
		else
			when[i][0] = '\0';
	}
	total = strtoull(row[4], NULL, 10);
	printf("{\"run\":{\"id\":");
	json_str(row[0]);
	printf(",\"plan\":");
	json_str(row[1]);
	printf(",\"status\":\"%s\",\"outcome\":\"%s\",\"reason\":", row[2], row[2]);
	json_str(row[3]);
	printf(",\"created\":\"%s\",\"started\":\"%s\",\"ended\":\"%s\"},\n", when[0], when[1], when[2]);
	printf(" \"endpoints\":{\"total\":%llu", (unsigned long long)total);
	for (size_t i = 0; i < CM_ARRAY_SIZE(outcome_keys); i++) {
		char sum[512] = "0";
		gw_store_query(s, "SELECT ifnull(sum(value),0) FROM part_results WHERE run_id=?1 AND kind='outcome' AND key=?2",
			       "ss", grab_row, sum, id, outcome_keys[i]);
		printf(",\"%s\":%lld", outcome_keys[i], (long long)strtod(sum, NULL));
	}
	c.outcomes = true;
	gw_store_query(s, "SELECT key, sum(value) FROM part_results WHERE run_id=?1 AND kind='outcome' GROUP BY key "
			  "ORDER BY key", "s", show_kv, &c, id);
	printf("},\n \"summary\":{");
	c = (struct show_ctx){ 0 };
	gw_store_query(s, "SELECT key, sum(value) FROM part_results WHERE run_id=?1 AND kind='summary' GROUP BY key "
			  "ORDER BY key", "s", show_kv, &c, id);
	print_quality(s, id);
	{
		char m[8][512];
		memset(m, 0, sizeof(m));
		gw_store_query(s, "SELECT count(*), ifnull(sum(nsamples),0), count(DISTINCT worker_id) FROM metrics "
				  "WHERE run_id=?1", "s", grab_row, m, id);
		printf("},\n \"metrics\":{\"frames\":%s,\"samples\":%s,\"workers\":%s", m[0], m[1], m[2]);
	}
	printf("},\n \"parts\":[");
	c = (struct show_ctx){ .st = s, .id = id };
	gw_store_query(s, "SELECT part, worker_name, grp, role, phase, first, count, status, reason FROM run_parts "
			  "WHERE run_id=?1 ORDER BY part", "s", show_part, &c, id);
	printf("%s]}\n", c.n ? "\n " : "");
	fflush(stdout);
	return 0;
}

static bool run_terminal(const char *st)
{
	return strcmp(st, "COMPLETED") == 0 || strcmp(st, "FAILED") == 0 || strcmp(st, "CANCELLED") == 0 ||
	       strcmp(st, "CANNOT_RUN_FOR_NOW") == 0;
}

static int run_exit(const char *st)
{
	return strcmp(st, "COMPLETED") == 0 ? 0 : strcmp(st, "CANNOT_RUN_FOR_NOW") == 0 ? 4 : 1;
}

static int cmd_run(struct cli *c)
{
	const char *sub = c->nargs > 0 ? c->args[0] : NULL, *arg = c->nargs > 1 ? c->args[1] : NULL;
	char status[64] = "", err[CFG_ERR_MAX], id[GW_RUN_ID_MAX];
	struct gw_plan *plan;
	struct gw_store *s;
	int rc = 0;

	if (!sub || !arg || c->nargs != 2 ||
	    (strcmp(sub, "submit") && strcmp(sub, "show") && strcmp(sub, "wait") && strcmp(sub, "cancel"))) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(sub, "submit") == 0) {
		FILE *f = fopen(arg, "r");
		char *text;
		long n;

		if (!f) {
			fprintf(stderr, "callmeter-gateway: cannot read plan '%s': %s\n", arg, strerror(errno));
			return EXIT_USAGE;
		}
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		if (n < 0 || n > (long)GW_PROTO_MAX_FRAME / 2) {
			fclose(f);
			fprintf(stderr, "callmeter-gateway: plan '%s' is larger than %u bytes\n", arg, GW_PROTO_MAX_FRAME / 2);
			return EXIT_USAGE;
		}
		text = calloc(1, (size_t)n + 1);
		plan = calloc(1, sizeof(*plan));
		if (!text || !plan || fread(text, 1, (size_t)n, f) != (size_t)n) {
			fclose(f);
			free(text);
			free(plan);
			return EXIT_RUNTIME;
		}
		fclose(f);
		if (gw_plan_read(arg, text, plan, err, sizeof(err)) < 0) {
			fprintf(stderr, "callmeter-gateway: %s\n", err);
			free(text);
			free(plan);
			return EXIT_USAGE;
		}
		s = open_store(c);
		if (!s || gw_store_run_new_id(id) < 0 ||
		    gw_store_exec(s, "INSERT INTO runs(id, name, plan, endpoints, workers, status, created) "
				     "VALUES(?1,?2,?3,?4,?5,'PENDING',?6)", "sssisi", id, plan->name, text,
				     (int64_t)plan->endpoints, c->workers ? c->workers : "", (int64_t)cm_wallclock_ms()) != 1) {
			rc = EXIT_RUNTIME;
		} else {
			fprintf(stderr, "run submitted: plan '%s', %llu endpoints in %u groups; its id follows\n", plan->name,
				(unsigned long long)plan->endpoints, plan->ngroups);
			printf("%s\n", id);
		}
		free(text);
		free(plan);
		gw_store_close(s);
		return rc;
	}
	s = open_store(c);
	if (!s)
		return EXIT_RUNTIME;
	if (strcmp(sub, "cancel") == 0) {
		rc = gw_store_exec(s, "UPDATE runs SET cancel_requested=1 WHERE id=?1 AND status IN "
				      "('PENDING','QUEUED','DISPATCHING','RUNNING')", "s", arg);
		if (rc == 1) {
			fprintf(stderr, "run %s: cancel requested\n", arg);
			rc = 0;
		} else {
			fprintf(stderr, "callmeter-gateway: no run '%s' in progress\n", arg);
			rc = EXIT_NOTFOUND;
		}
	} else if (strcmp(sub, "show") == 0) {
		rc = print_run(s, arg, status, sizeof(status)) < 0 ? EXIT_NOTFOUND : 0;
		if (rc)
			fprintf(stderr, "callmeter-gateway: no run '%s'\n", arg);
	} else {
		uint64_t end = cm_now_ms() + (c->wait_s ? c->wait_s : 86400) * 1000ull;
		char row[8][512];

		for (;;) {
			memset(row, 0, sizeof(row));
			if (gw_store_query(s, "SELECT status FROM runs WHERE id=?1", "s", grab_row, row, arg) <= 0) {
				fprintf(stderr, "callmeter-gateway: no run '%s'\n", arg);
				rc = EXIT_NOTFOUND;
				break;
			}
			if (run_terminal(row[0])) {
				print_run(s, arg, status, sizeof(status));
				rc = run_exit(status);
				break;
			}
			if (cm_now_ms() >= end) {
				fprintf(stderr, "callmeter-gateway: run %s still %s after %u s\n", arg, row[0], c->wait_s);
				rc = 5;
				break;
			}
			usleep(200000);
		}
	}
	gw_store_close(s);
	return rc;
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
				    .heartbeat_s = c->heartbeat_s, .timeout_s = c->timeout_s,
				    .lost_after_s = c->lost_after_s };
	struct gw_server *srv;
	struct cp_loop *loop;
	struct rlimit rl;
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
	/* one descriptor per worker session: take the whole hard limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
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
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(&c);
	fprintf(stderr, "callmeter-gateway: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
