/* The real callmeter-worker binary: refused configurations (exit 2, clear message, secret never echoed), start
 * on the default virtual device, /health over HTTP, gateway retry with "connected": false, clean SIGTERM. */
#include <string.h>

#include "check_main.h"
#include "testutil.h"

#define GOOD_TOKEN "cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *worker_bin(void)
{
	const char *b = getenv("CALLMETER_WORKER_BIN");
	return b ? b : "build/callmeter-worker";
}

static int run_to_exit(char *const extra_argv[], char *const envp[], char **out)
{
	char *argv[8] = { (char *)worker_bin() };
	struct tu_proc p;
	int rc;

	for (int i = 0; extra_argv && extra_argv[i] && i < 6; i++)
		argv[i + 1] = extra_argv[i];
	tu_spawn(&p, argv, envp);
	rc = tu_wait(&p, 20000);
	*out = tu_output(&p);
	unlink(p.out);
	return rc;
}

START_TEST(bad_token_exits_2_without_echo)
{
	char *env[] = { "WORKER_TOKEN=cmw_SECRETSECRETSECRET", "CLOUD_URL=127.0.0.1:1", "PATH=/usr/bin:/bin", NULL };
	char *out;

	ck_assert_int_eq(run_to_exit(NULL, env, &out), 2);
	ck_assert_msg(strstr(out, "configuration error: environment variable WORKER_TOKEN: malformed worker token"),
		      "%s", out);
	ck_assert_msg(strstr(out, "68 characters"), "%s", out);
	ck_assert_msg(!strstr(out, "SECRET"), "token echoed: %s", out);
	free(out);
}
END_TEST

START_TEST(bad_config_file_exits_2_naming_line)
{
	char path[64], arg[80], *out;
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	char *argv[] = { "--config", arg, NULL };

	tu_write_temp(path, sizeof(path), "[worker]\nname = ok\nhealth_port = nine\n");
	snprintf(arg, sizeof(arg), "%s", path);
	ck_assert_int_eq(run_to_exit(argv, env, &out), 2);
	ck_assert_msg(strstr(out, ":3: key 'health_port': expected a TCP port number"), "%s", out);
	free(out);
	unlink(path);
}
END_TEST

START_TEST(unknown_command_exits_2)
{
	char *env[] = { NULL };
	char *argv[] = { "frobnicate", NULL };
	char *out;

	ck_assert_int_eq(run_to_exit(argv, env, &out), 2);
	ck_assert_msg(strstr(out, "unknown command 'frobnicate'"), "%s", out);
	free(out);
}
END_TEST

START_TEST(plan_check_command)
{
	char good[300], *out;
	char bad[64];
	char *env[] = { NULL };
	const char *src = getenv("CALLMETER_SRC");
	char *argv[] = { "plan-check", good, bad, NULL };

	snprintf(good, sizeof(good), "%s/config/examples/demo.ini", src ? src : ".");
	tu_write_temp(bad, sizeof(bad), "[group a]\nendpoints = 1\ncodecs = G729\n");
	ck_assert_int_eq(run_to_exit(argv, env, &out), 2);
	ck_assert_msg(strstr(out, "demo.ini: ok: test 'loopback-demo', 100 endpoint(s) in 2 group(s)"), "%s", out);
	ck_assert_msg(strstr(out, ": invalid: ") && strstr(out, ":3: key 'codecs': unknown codec 'G729'"), "%s", out);
	free(out);
	argv[2] = NULL;
	ck_assert_int_eq(run_to_exit(argv, env, &out), 0);
	free(out);
	unlink(bad);
}
END_TEST

/* Polls /health until it answers or the process dies. */
static int wait_health(struct tu_proc *p, unsigned port, char *body, size_t len)
{
	for (int i = 0; i < 300; i++) {
		int status = tu_http("GET", port, "/health", body, len);
		if (status > 0)
			return status;
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
			return -2;
		usleep(50000);
	}
	return -1;
}

START_TEST(starts_serves_health_and_stops_on_sigterm)
{
	char hp[32], body[4096], *out;
	char *env[] = { hp, "LOG_FORMAT=json", "WORKER_NAME=unit-worker", NULL };
	char *argv[] = { (char *)worker_bin(), NULL };
	unsigned port = tu_free_port();
	struct tu_proc p;
	int status;

	snprintf(hp, sizeof(hp), "HEALTH_PORT=%u", port);
	tu_spawn(&p, argv, env);
	status = wait_health(&p, port, body, sizeof(body));
	out = tu_output(&p);
	ck_assert_msg(status == 200, "health status %d; worker output:\n%s", status, out);
	free(out);
	ck_assert_msg(strstr(body, "\"status\":\"ONLINE\",\"connected\":false,\"name\":\"unit-worker\""), "%s", body);
	ck_assert_msg(strstr(body, "\"port\":\"net_ring0\""), "%s", body);
	ck_assert_msg(strstr(body, "\"link_up\":true"), "%s", body);
	ck_assert_int_eq(tu_http("GET", port, "/nope", body, sizeof(body)), 404);

	kill(p.pid, SIGTERM);
	ck_assert_int_eq(tu_wait(&p, 10000), 0);
	out = tu_output(&p);
	ck_assert_msg(strstr(out, "\"component\":\"dataplane\",\"msg\":\"port 0 (net_ring0, driver net_ring) started"),
		      "%s", out);
	ck_assert_msg(strstr(out, "\"msg\":\"port 0 stopped\""), "%s", out);
	ck_assert_msg(strstr(out, "\"msg\":\"stopped cleanly\""), "%s", out);
	free(out);
	unlink(p.out);
	/* the health port is released */
	ck_assert_int_eq(tu_http("GET", port, "/health", body, sizeof(body)), -1);
}
END_TEST

START_TEST(unreachable_gateway_retries_and_reports_disconnected)
{
	char hp[32], cu[48], body[4096], *out;
	char *env[] = { hp, cu, "WORKER_TOKEN=" GOOD_TOKEN, "LOG_FORMAT=pretty", NULL };
	char *argv[] = { (char *)worker_bin(), "--config", "/dev/null", NULL };
	unsigned port = tu_free_port(), closed = tu_free_port();
	struct tu_proc p;
	int status;

	snprintf(hp, sizeof(hp), "HEALTH_PORT=%u", port);
	snprintf(cu, sizeof(cu), "CLOUD_URL=127.0.0.1:%u", closed);
	tu_spawn(&p, argv, env);
	status = wait_health(&p, port, body, sizeof(body));
	ck_assert_int_eq(status, 200);
	/* the first retry comes after about a second; wait for the second attempt */
	for (int i = 0; i < 60 && !strstr(body, "\"attempts\":2"); i++) {
		usleep(100000);
		tu_http("GET", port, "/health", body, sizeof(body));
	}
	ck_assert_msg(strstr(body, "\"status\":\"OFFLINE\",\"connected\":false"), "%s", body);
	ck_assert_msg(strstr(body, "\"mode\":\"daemon\""), "%s", body);
	ck_assert_msg(strstr(body, "\"attempts\":2"), "%s", body);
	ck_assert_msg(strstr(body, "\"last_error\":\"Connection refused\""), "%s", body);
	kill(p.pid, SIGINT);
	ck_assert_int_eq(tu_wait(&p, 10000), 0);
	out = tu_output(&p);
	ck_assert_msg(strstr(out, "cannot connect to gateway 127.0.0.1:"), "%s", out);
	ck_assert_msg(strstr(out, "Connection refused; retry 1 in"), "%s", out);
	ck_assert_msg(!strstr(out, "0123456789abcdef"), "token in log: %s", out);
	ck_assert_msg(strstr(out, "stopped cleanly"), "%s", out);
	free(out);
	unlink(p.out);
}
END_TEST

START_TEST(bad_eal_arguments_fail_with_reason)
{
	char hp[32], *out;
	char *env[] = { hp, "LOG_FORMAT=pretty", NULL };
	char *argv[] = { "--eal", "--no-huge --no-shconf -m 64 --no-pci --vdev=net_bogus0", NULL };

	snprintf(hp, sizeof(hp), "HEALTH_PORT=%u", tu_free_port());
	ck_assert_int_eq(run_to_exit(argv, env, &out), 1);
	ck_assert_msg(strstr(out, "DPDK EAL initialisation failed"), "%s", out);
	free(out);
}
END_TEST

static Suite *worker_suite(void)
{
	Suite *s = suite_create("worker-binary");
	TCase *tc = tcase_create("process");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bad_token_exits_2_without_echo);
	tcase_add_test(tc, bad_config_file_exits_2_naming_line);
	tcase_add_test(tc, unknown_command_exits_2);
	tcase_add_test(tc, plan_check_command);
	tcase_add_test(tc, starts_serves_health_and_stops_on_sigterm);
	tcase_add_test(tc, unreachable_gateway_retries_and_reports_disconnected);
	tcase_add_test(tc, bad_eal_arguments_fail_with_reason);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(worker_suite());
}
