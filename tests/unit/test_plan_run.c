/* Bad plans through the real binary: every plan shipped (config/examples/, tests/integration/plans/) is broken
 * in each of the ways a person breaks a plan (a typo in a key, a value out of range, a section or group missing or
 * given twice, a target naming no group, a key given twice in [test], a misspelt section), and `callmeter-worker
 * run` must say so in exactly one line, "callmeter-worker run: bad plan: FILE:LINE: key 'KEY': ...", exit 2 and run
 * nothing (no log line, no dataplane, no summary written).  Files that are not plans at all (missing, a directory,
 * a device, an idle FIFO, a NUL byte) likewise, and an unwritable --json-summary and bad EAL arguments. */
#include <fcntl.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "check_main.h"
#include "testutil.h"

#define MAX_LINES 256

static const char *worker_bin(void)
{
	const char *b = getenv("CALLMETER_WORKER_BIN");
	return b ? b : "build/callmeter-worker";
}

/* A plan as lines (without their '\n'), edited by the mutations below. */
struct text {
	char *line[MAX_LINES];
	unsigned n;
};

static void text_load(struct text *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[1024];

	ck_assert_ptr_nonnull(f);
	t->n = 0;
	while (fgets(buf, sizeof(buf), f)) {
		ck_assert_uint_lt(t->n, MAX_LINES);
		buf[strcspn(buf, "\n")] = '\0';
		t->line[t->n++] = strdup(buf);
	}
	fclose(f);
}

static void text_free(struct text *t)
{
	for (unsigned i = 0; i < t->n; i++)
		free(t->line[i]);
	t->n = 0;
}

static void text_insert(struct text *t, unsigned at, const char *s)
{
	ck_assert_uint_lt(t->n, MAX_LINES);
	memmove(&t->line[at + 1], &t->line[at], (t->n - at) * sizeof(t->line[0]));
	t->line[at] = strdup(s);
	t->n++;
}

static void text_delete(struct text *t, unsigned at)
{
	free(t->line[at]);
	memmove(&t->line[at], &t->line[at + 1], (t->n - at - 1) * sizeof(t->line[0]));
	t->n--;
}

static bool is_header(const char *l, const char *prefix)
{
	l += strspn(l, " \t");
	return strncmp(l, prefix, strlen(prefix)) == 0;
}

/* Index of the first line starting (after white space) with prefix at or after from, or -1. */
static int find(const struct text *t, unsigned from, const char *prefix)
{
	for (unsigned i = from; i < t->n; i++)
		if (is_header(t->line[i], prefix))
			return (int)i;
	return -1;
}

/* The name of the group whose header is line i. */
static void group_name(const struct text *t, int i, char *out, size_t len)
{
	const char *p = strstr(t->line[i], "[group ") + 7;

	snprintf(out, len, "%.*s", (int)strcspn(p, "]"), p);
}

/* Each mutation edits the plan and writes the message it must produce (after "FILE"), or returns false when the
 * plan has nothing it applies to. */
typedef bool (*mutate_fn)(struct text *t, char *want, size_t len);

static bool unknown_key(struct text *t, char *want, size_t len)
{
	int g = find(t, 0, "[group ");
	char name[64];

	group_name(t, g, name, sizeof(name));
	text_insert(t, (unsigned)g + 1, "bogus_key = 1");
	snprintf(want, len, ":%d: key 'bogus_key': unknown key in [group %s]", g + 2, name);
	return true;
}

static bool out_of_range(struct text *t, char *want, size_t len)
{
	int g = find(t, 0, "[group ");

	text_insert(t, (unsigned)g + 1, "ptime = 5");
	snprintf(want, len, ":%d: key 'ptime': expected a whole number 10-120, got '5'", g + 2);
	return true;
}

static bool no_endpoints(struct text *t, char *want, size_t len)
{
	int e = find(t, 0, "endpoints");

	free(t->line[e]);
	t->line[e] = strdup("endpoints = 0");
	snprintf(want, len, ":%d: key 'endpoints': expected a whole number 1-1000000, got '0'", e + 1);
	return true;
}

static bool no_group(struct text *t, char *want, size_t len)
{
	for (int g; (g = find(t, 0, "[group ")) >= 0;) {
		do
			text_delete(t, (unsigned)g);
		while ((unsigned)g < t->n && !is_header(t->line[g], "["));
	}
	snprintf(want, len, ": the plan has no [group NAME] section: nothing to run");
	return true;
}

static bool group_twice(struct text *t, char *want, size_t len)
{
	int g = find(t, 0, "[group "), end = find(t, (unsigned)g + 1, "[");
	unsigned n = t->n;
	char name[64];

	group_name(t, g, name, sizeof(name));
	for (int i = g; i < (end < 0 ? (int)n : end); i++)
		text_insert(t, t->n, t->line[i]);
	snprintf(want, len, ":%u: group '%s' is defined twice (first on line %d)", n + 1, name, g + 1);
	return true;
}

static bool target_missing(struct text *t, char *want, size_t len)
{
	int i = find(t, 0, "target = group:"), g;
	char name[64];

	if (i < 0)
		return false;
	for (g = i; !is_header(t->line[g], "[group "); g--)
		;
	group_name(t, g, name, sizeof(name));
	free(t->line[i]);
	t->line[i] = strdup("target = group:nosuchgroup");
	snprintf(want, len, ":%d: key 'target': [group %s]: no group named 'nosuchgroup' in this plan", i + 1, name);
	return true;
}

static bool test_key_twice(struct text *t, char *want, size_t len)
{
	int h = find(t, 0, "[test]");

	if (h < 0) {
		text_insert(t, 0, "[test]");
		h = 0;
	}
	text_insert(t, (unsigned)h + 1, "cps = 1");
	text_insert(t, (unsigned)h + 2, "cps = 2");
	snprintf(want, len, ":%d: key 'cps': given twice in [test] (first on line %d)", h + 3, h + 2);
	return true;
}

static bool misspelt_section(struct text *t, char *want, size_t len)
{
	text_insert(t, t->n, "[tset]");
	text_insert(t, t->n, "name = x");
	snprintf(want, len, ":%u: key 'name': unknown section [tset] (expected [test], [group NAME], [dataplane] or "
		 "[impairment])", t->n);
	return true;
}

static const struct {
	const char *name;
	mutate_fn fn;
} mutations[] = {
	{ "unknown key", unknown_key }, { "out of range", out_of_range }, { "no endpoints", no_endpoints },
	{ "no group", no_group }, { "group twice", group_twice }, { "target missing", target_missing },
	{ "[test] key twice", test_key_twice }, { "misspelt section", misspelt_section },
};

/* Runs the binary on path; it must exit 2 with exactly `want` as its whole output and write no summary. */
static void expect_refused(const char *path, const char *want)
{
	char json[600], *out;
	char *argv[] = { (char *)worker_bin(), "run", (char *)path, "--json-summary", json, NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct tu_proc p;
	struct stat sb;
	int rc;

	snprintf(json, sizeof(json), "%s.json", path);
	unlink(json);
	tu_spawn(&p, argv, env);
	rc = tu_wait(&p, 20000);
	out = tu_output(&p);
	unlink(p.out);
	ck_assert_msg(rc == 2, "%s: exit %d, want 2: %s", path, rc, out);
	ck_assert_msg(strcmp(out, want) == 0, "%s:\n got: %s\nwant: %s", path, out, want);
	ck_assert_msg(stat(json, &sb) < 0, "%s: a summary was written", path);
	free(out);
}

static glob_t plans;

static void find_plans(void)
{
	const char *src = getenv("CALLMETER_SRC");
	char pattern[512];

	snprintf(pattern, sizeof(pattern), "%s/config/examples/*.ini", src ? src : ".");
	ck_assert_int_eq(glob(pattern, 0, NULL, &plans), 0);
	snprintf(pattern, sizeof(pattern), "%s/tests/integration/plans/*.ini", src ? src : ".");
	ck_assert_int_eq(glob(pattern, GLOB_APPEND, NULL, &plans), 0);
	ck_assert_uint_ge(plans.gl_pathc, 10);
}

START_TEST(every_plan_every_mistake)
{
	unsigned applied = 0;

	find_plans();
	for (size_t i = 0; i < plans.gl_pathc; i++) {
		char err[CFG_ERR_MAX];
		static struct cfg_plan plan;

		/* the plan as shipped is good */
		ck_assert_msg(cfg_plan_load(&plan, plans.gl_pathv[i], err, sizeof(err)) == 0, "%s", err);
		for (size_t m = 0; m < CM_ARRAY_SIZE(mutations); m++) {
			struct text t;
			char path[64], want[1024], tail[700];
			int fd;

			text_load(&t, plans.gl_pathv[i]);
			if (!mutations[m].fn(&t, tail, sizeof(tail))) {
				text_free(&t);
				continue;
			}
			snprintf(path, sizeof(path), "/tmp/cm-badplan-XXXXXX");
			fd = mkstemp(path);
			ck_assert_int_ge(fd, 0);
			for (unsigned k = 0; k < t.n; k++)
				dprintf(fd, "%s\n", t.line[k]);
			close(fd);
			text_free(&t);
			snprintf(want, sizeof(want), "callmeter-worker run: bad plan: %s%s\n", path, tail);
			expect_refused(path, want);
			unlink(path);
			applied++;
		}
	}
	printf("%u broken plans refused (%zu plans, %zu mistakes)\n", applied, plans.gl_pathc,
	       CM_ARRAY_SIZE(mutations));
	globfree(&plans);
}
END_TEST

START_TEST(not_a_plan_file)
{
	char dir[] = "/tmp/cm-notplan-XXXXXX", fifo[64], nul[64], want[256];
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(want, sizeof(want), "callmeter-worker run: bad plan: %s/none.ini: cannot open: No such file or "
		 "directory\n", dir);
	snprintf(fifo, sizeof(fifo), "%s/none.ini", dir);
	expect_refused(fifo, want);
	snprintf(want, sizeof(want), "callmeter-worker run: bad plan: %s: cannot read: a directory, not a plan file\n",
		 dir);
	expect_refused(dir, want);
	/* a FIFO nobody writes to would block a plain open: it reads as empty (a pipe with a writer is a plan, as in
	 * "run <(make-plan)"); /dev/zero would never end: refused before reading */
	snprintf(fifo, sizeof(fifo), "%s/fifo.ini", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(want, sizeof(want), "callmeter-worker run: bad plan: %s: the plan has no [group NAME] section: "
		 "nothing to run\n", fifo);
	expect_refused(fifo, want);
	unlink(fifo);
	snprintf(nul, sizeof(nul), "%s/nul.ini", dir);
	fd = open(nul, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "[group a]\nendpoints = 1\nname = a\0b\n", 35), 35);
	close(fd);
	snprintf(want, sizeof(want), "callmeter-worker run: bad plan: %s:3: a NUL byte: not a text file\n", nul);
	expect_refused(nul, want);
	unlink(nul);
	rmdir(dir);
	expect_refused("/dev/zero", "callmeter-worker run: bad plan: /dev/zero: cannot read: a device, not a plan file\n");
}
END_TEST

/* What else `run` must refuse before running: an unwritable summary, EAL arguments DPDK rejects. */
START_TEST(bad_outputs_and_eal)
{
	char plan[64], *out;
	struct tu_proc p;
	char *env[] = { "PATH=/usr/bin:/bin", NULL };

	tu_write_temp(plan, sizeof(plan), "[group a]\nendpoints = 1\n");
	{
		char *argv[] = { (char *)worker_bin(), "run", plan, "--json-summary", "/nonexistent-dir/s.json", NULL };
		tu_spawn(&p, argv, env);
		ck_assert_int_eq(tu_wait(&p, 20000), 2);
		out = tu_output(&p);
		unlink(p.out);
		ck_assert_str_eq(out, "callmeter-worker run: cannot write --json-summary /nonexistent-dir/s.json: No "
				 "such file or directory\n");
		free(out);
	}
	{
		char *argv[] = { (char *)worker_bin(), "run", plan, "--eal", "--no-such-eal-option", NULL };
		tu_spawn(&p, argv, env);
		ck_assert_int_eq(tu_wait(&p, 20000), 2);
		out = tu_output(&p);
		unlink(p.out);
		ck_assert_msg(strstr(out, "callmeter-worker run: DPDK EAL initialisation failed (Invalid argument) with "
				  "arguments '--no-such-eal-option'"), "%s", out);
		free(out);
	}
	unlink(plan);
}
END_TEST

/* A plan that is valid but cannot be set up on this host is refused the same way (exit 2, nothing run): a SIP port
 * another socket holds, a dataplane port that does not exist. */
static void expect_setup_refused(const char *plan_text, const char *want)
{
	char plan[64], *out;
	struct tu_proc p;
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	char *argv[] = { (char *)worker_bin(), "run", plan, "--eal",
			 "--no-huge --no-shconf -m 256 --no-pci --vdev=net_null0 -l 0,1 --no-telemetry --log-level=*:error",
			 NULL };

	tu_write_temp(plan, sizeof(plan), plan_text);
	tu_spawn(&p, argv, env);
	ck_assert_int_eq(tu_wait(&p, 30000), 2);
	out = tu_output(&p);
	unlink(p.out);
	ck_assert_msg(strstr(out, want), "want '%s' in: %s", want, out);
	ck_assert_msg(!strstr(out, "endpoint(s), dataplane port"), "the run started: %s", out);
	free(out);
	unlink(plan);
}

START_TEST(setup_refused)
{
	char text[512];
	uint16_t port;
	int fd = tu_udp_socket(&port); /* holds the port the plan asks for */

	snprintf(text, sizeof(text), "[group a]\nendpoints = 1\nlocal_port = %u\n[dataplane]\nmedia_ip = 192.0.2.9\n",
		 port);
	expect_setup_refused(text, "cannot open SIP/UDP on 127.0.0.1:");
	close(fd);

	expect_setup_refused("[group a]\nendpoints = 1\n[dataplane]\nport = net_nope0\nmedia_ip = 192.0.2.9\n",
			     "callmeter-worker run: dataplane: ");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("plan_run");
	TCase *tc = tcase_create("plan_run");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_plan_every_mistake);
	tcase_add_test(tc, not_a_plan_file);
	tcase_add_test(tc, bad_outputs_and_eal);
	tcase_add_test(tc, setup_refused);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
