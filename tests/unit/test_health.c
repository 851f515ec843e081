/* The health endpoint over a real socket: the loop serves it while a client thread asks. */
#include <pthread.h>
#include <string.h>

#include "controlplane/controlplane.h"
#include "check_main.h"
#include "testutil.h"

struct req {
	const char *method;
	const char *path;
	unsigned port;
	int status;
	char body[4096];
	volatile bool done;
};

static void *client(void *arg)
{
	struct req *r = arg;

	r->status = tu_http(r->method, r->port, r->path, r->body, sizeof(r->body));
	r->done = true;
	return NULL;
}

/* One request answered while the loop runs on this thread. */
static void ask(struct cp_loop *loop, struct cp_health *h, struct req *r)
{
	pthread_t th;
	uint64_t start = cm_now_ms();

	r->port = cp_health_port(h);
	r->done = false;
	ck_assert_int_eq(pthread_create(&th, NULL, client, r), 0);
	while (!r->done && cm_now_ms() - start < 5000)
		cp_loop_run_once(loop, 10);
	pthread_join(th, NULL);
}

static struct cp_state healthy_state(void)
{
	return (struct cp_state){ .name = "w1 \"q\"", .dataplane_ok = true, .started_ms = cm_now_ms(),
				  .port_name = "net_ring0", .link_up = true };
}

START_TEST(health_answers_status_and_connected)
{
	struct cp_loop *loop = cp_loop_new();
	struct cp_state st = healthy_state();
	struct cp_health *h = cp_health_start(loop, "127.0.0.1", 0, &st);
	struct req r = { .method = "GET", .path = "/health" };

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_ne(cp_health_port(h), 0);
	ask(loop, h, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "Content-Type: application/json"), "%s", r.body);
	ck_assert_msg(strstr(r.body, "{\"status\":\"ONLINE\",\"connected\":false,\"name\":\"w1 \\\"q\\\"\""), "%s",
		      r.body);
	ck_assert_msg(strstr(r.body, "\"mode\":\"standalone\""), "%s", r.body);

	st.daemon_mode = true;
	ask(loop, h, &r);
	ck_assert_msg(strstr(r.body, "\"status\":\"OFFLINE\",\"connected\":false"), "%s", r.body);
	st.gateway_connected = true;
	ask(loop, h, &r);
	ck_assert_msg(strstr(r.body, "\"status\":\"ONLINE\",\"connected\":true"), "%s", r.body);
	st.draining = true;
	ask(loop, h, &r);
	ck_assert_msg(strstr(r.body, "\"status\":\"DRAINING\",\"connected\":true"), "%s", r.body);
	st.dataplane_ok = false;
	snprintf(st.error, sizeof(st.error), "dataplane port link down");
	ask(loop, h, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "\"status\":\"ERROR\""), "%s", r.body);
	ck_assert_msg(strstr(r.body, "\"error\":\"dataplane port link down\""), "%s", r.body);

	cp_health_stop(h);
	cp_loop_free(loop);
}
END_TEST

START_TEST(unknown_path_404_and_method_405)
{
	struct cp_loop *loop = cp_loop_new();
	struct cp_state st = healthy_state();
	struct cp_health *h = cp_health_start(loop, "127.0.0.1", 0, &st);
	struct req r = { .method = "GET", .path = "/metrics" };

	ask(loop, h, &r);
	ck_assert_int_eq(r.status, 404);
	r.path = "/health/x";
	ask(loop, h, &r);
	ck_assert_int_eq(r.status, 404);
	r.method = "POST";
	r.path = "/health";
	ask(loop, h, &r);
	ck_assert_int_eq(r.status, 405);
	cp_health_stop(h);
	cp_loop_free(loop);
}
END_TEST

START_TEST(port_in_use_fails_cleanly)
{
	struct cp_loop *loop = cp_loop_new();
	struct cp_state st = healthy_state();
	struct cp_health *a = cp_health_start(loop, "127.0.0.1", 0, &st);
	struct cp_health *b = cp_health_start(loop, "127.0.0.1", cp_health_port(a), &st);

	ck_assert_ptr_null(b);
	ck_assert_ptr_null(cp_health_start(loop, "not-an-ip", 0, &st));
	cp_health_stop(a);
	cp_loop_free(loop);
}
END_TEST

static Suite *health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("http");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, health_answers_status_and_connected);
	tcase_add_test(tc, unknown_path_404_and_method_405);
	tcase_add_test(tc, port_in_use_fails_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	cm_log_setup(CM_LOG_ERROR, CM_LOG_PRETTY, stderr);
	return run_suite(health_suite());
}
