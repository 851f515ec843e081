/* The control-plane event loop: timer order, re-arming and cancelling from callbacks, fd readiness, stop; and
 * the reconnect backoff arithmetic. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "controlplane/controlplane.h"
#include "check_main.h"

struct named_timer {
	struct cp_timer t;
	char name;
	char *order;
	struct cp_timer *cancel; /* cancelled when this one fires */
};

static void on_named(struct cp_loop *loop, void *arg)
{
	struct named_timer *nt = arg;
	size_t n = strlen(nt->order);

	nt->order[n] = nt->name;
	nt->order[n + 1] = '\0';
	if (nt->cancel)
		cp_timer_stop(loop, nt->cancel);
}

START_TEST(timers_fire_in_due_order)
{
	struct cp_loop *loop = cp_loop_new();
	struct named_timer nt[5];
	char order[8] = "";
	uint64_t delays[5] = { 40, 10, 30, 20, 50 };
	uint64_t start = cm_now_ms();

	for (int i = 0; i < 5; i++) {
		nt[i] = (struct named_timer){ .name = (char)('a' + i), .order = order };
		cp_timer_init(&nt[i].t, on_named, &nt[i]);
		cp_timer_start(loop, &nt[i].t, delays[i]);
	}
	nt[1].cancel = &nt[4].t; /* b, the first to fire, cancels e */
	while (cm_now_ms() - start < 120)
		cp_loop_run_once(loop, 10);
	ck_assert_str_eq(order, "bdca");
	ck_assert(!cp_timer_armed(&nt[4].t));
	cp_loop_free(loop);
}
END_TEST

struct ticker {
	struct cp_timer t;
	int count;
};

static void on_tick(struct cp_loop *loop, void *arg)
{
	struct ticker *k = arg;

	if (++k->count < 5)
		cp_timer_start(loop, &k->t, 5);
	else
		cp_loop_stop(loop);
}

START_TEST(timer_rearms_itself_and_stops_loop)
{
	struct cp_loop *loop = cp_loop_new();
	struct ticker k = { .count = 0 };

	cp_timer_init(&k.t, on_tick, &k);
	cp_timer_start(loop, &k.t, 5);
	ck_assert_int_eq(cp_loop_run(loop), 0);
	ck_assert_int_eq(k.count, 5);
	ck_assert(cp_loop_stopping(loop));
	cp_loop_free(loop);
}
END_TEST

static void on_readable(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	char buf[16];
	ssize_t n = read(fd, buf, sizeof(buf));

	ck_assert(events & EPOLLIN);
	*(int *)arg += (int)n;
	cp_loop_del_fd(loop, fd);
}

START_TEST(fd_readiness)
{
	struct cp_loop *loop = cp_loop_new();
	int p[2], got = 0;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(cp_loop_add_fd(loop, p[0], EPOLLIN, on_readable, &got), 0);
	ck_assert_int_eq(cp_loop_add_fd(loop, p[0], EPOLLIN, on_readable, &got), -EEXIST);
	ck_assert_int_eq(cp_loop_run_once(loop, 0), 0);
	ck_assert_int_eq(write(p[1], "hello", 5), 5);
	ck_assert_int_eq(cp_loop_run_once(loop, 1000), 1);
	ck_assert_int_eq(got, 5);
	ck_assert_int_eq(cp_loop_del_fd(loop, p[0]), -ENOENT);
	close(p[0]);
	close(p[1]);
	cp_loop_free(loop);
}
END_TEST

/* fd reuse inside one epoll batch: two pipes are readable; whichever callback runs first removes and closes the
 * other pipe's read end and puts a fresh, empty pipe on the same descriptor number.  The batch still holds the
 * old descriptor's event: it must not reach the new pipe's callback. */
struct reuse {
	int a[2], b[2], c[2];
	int first, fresh_calls;
};

static void on_fresh(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	char c;

	(void)loop, (void)events;
	((struct reuse *)arg)->fresh_calls++;
	(void)!read(fd, &c, 1); /* non-blocking: a stale call finds nothing */
}

static void on_reuse(struct cp_loop *loop, int fd, uint32_t events, void *arg)
{
	struct reuse *r = arg;
	int other = fd == r->a[0] ? r->b[0] : r->a[0];
	char c;

	(void)events;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	if (r->first >= 0)
		return;
	r->first = fd;
	ck_assert_int_eq(cp_loop_del_fd(loop, other), 0);
	ck_assert_int_eq(dup2(r->c[0], other), other);
	ck_assert_int_eq(cp_loop_add_fd(loop, other, EPOLLIN, on_fresh, r), 0);
}

START_TEST(fd_reused_in_batch_gets_no_stale_event)
{
	struct cp_loop *loop = cp_loop_new();
	struct reuse r = { .first = -1 };

	ck_assert_int_eq(pipe(r.a), 0);
	ck_assert_int_eq(pipe(r.b), 0);
	ck_assert_int_eq(pipe2(r.c, O_NONBLOCK), 0);
	ck_assert_int_eq(cp_loop_add_fd(loop, r.a[0], EPOLLIN, on_reuse, &r), 0);
	ck_assert_int_eq(cp_loop_add_fd(loop, r.b[0], EPOLLIN, on_reuse, &r), 0);
	ck_assert_int_eq(write(r.a[1], "x", 1), 1);
	ck_assert_int_eq(write(r.b[1], "y", 1), 1);
	ck_assert_int_eq(cp_loop_run_once(loop, 1000), 1);
	ck_assert_int_ge(r.first, 0);
	ck_assert_int_eq(r.fresh_calls, 0);
	/* the new registration works: data on the fresh pipe reaches its callback */
	ck_assert_int_eq(write(r.c[1], "z", 1), 1);
	ck_assert_int_eq(cp_loop_run_once(loop, 1000), 1);
	ck_assert_int_eq(r.fresh_calls, 1);
	for (int i = 0; i < 2; i++) {
		close(r.a[i]);
		close(r.b[i]);
		close(r.c[i]);
	}
	cp_loop_free(loop);
}
END_TEST

static void on_count(struct cp_loop *loop, void *arg)
{
	(void)loop;
	(*(int *)arg)++;
}

START_TEST(many_timers_heap)
{
	struct cp_loop *loop = cp_loop_new();
	static struct cp_timer t[1000];
	int fired = 0;
	uint64_t start = cm_now_ms();

	for (int i = 0; i < 1000; i++) {
		cp_timer_init(&t[i], on_count, &fired);
		cp_timer_start(loop, &t[i], (uint64_t)((i * 7919) % 50));
	}
	for (int i = 0; i < 1000; i += 2)
		cp_timer_stop(loop, &t[i]);
	while (cm_now_ms() - start < 200)
		cp_loop_run_once(loop, 10);
	ck_assert_int_eq(fired, 500);
	for (int i = 0; i < 1000; i++)
		ck_assert(!cp_timer_armed(&t[i]));
	cp_loop_free(loop);
}
END_TEST

START_TEST(backoff_doubles_caps_and_jitters)
{
	ck_assert_uint_eq(cp_backoff_ms(1, 1000, 60000, 0), 1000);
	ck_assert_uint_eq(cp_backoff_ms(2, 1000, 60000, 0), 2000);
	ck_assert_uint_eq(cp_backoff_ms(4, 1000, 60000, 0), 8000);
	ck_assert_uint_eq(cp_backoff_ms(7, 1000, 60000, 0), 60000);
	ck_assert_uint_eq(cp_backoff_ms(100, 1000, 60000, 0), 60000);
	/* jitter takes off at most a quarter */
	ck_assert_uint_eq(cp_backoff_ms(3, 1000, 60000, 1000), 3000);
	ck_assert_uint_eq(cp_backoff_ms(3, 1000, 60000, 500), 3500);
	for (uint32_t r = 0; r < 5000; r += 37) {
		uint32_t d = cp_backoff_ms(5, 1000, 60000, r);
		ck_assert_uint_ge(d, 12000);
		ck_assert_uint_le(d, 16000);
	}
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");

	tcase_add_test(tc, timers_fire_in_due_order);
	tcase_add_test(tc, timer_rearms_itself_and_stops_loop);
	tcase_add_test(tc, fd_readiness);
	tcase_add_test(tc, fd_reused_in_batch_gets_no_stale_event);
	tcase_add_test(tc, many_timers_heap);
	tcase_add_test(tc, backoff_doubles_caps_and_jitters);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(loop_suite());
}
