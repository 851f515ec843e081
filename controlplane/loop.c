/* The control-plane event loop: epoll for file descriptors, a binary min-heap of embedded timers.  Single
 * threaded; callbacks may add, remove and re-arm anything, including themselves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "controlplane/controlplane.h"

/* gen counts the registrations of the descriptor number: epoll hands back (gen, fd), so an event fetched for a
 * descriptor that a callback earlier in the same batch removed, closed and reused is recognised as stale. */
struct fd_slot {
	cp_fd_cb cb;
	void *arg;
	uint32_t gen;
	bool used;
};

static inline uint64_t fd_key(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

struct cp_loop {
	int epfd;
	bool stop;
	unsigned depth;             /* cp_loop_run_once calls under way (callbacks may nest one) */
	struct cp_flush *flushes;   /* deferred until the turn ends */
	uint64_t now_ms;
	struct fd_slot *fds;
	size_t nfds_cap;
	struct cp_timer **heap; /* heap[0] unused: 1-based indices make heap_idx == 0 mean "not armed" */
	size_t heap_len;
	size_t heap_cap;
};

struct cp_loop *cp_loop_new(void)
{
	struct cp_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto free_loop;
	loop->heap_cap = 64;
	loop->heap = calloc(loop->heap_cap + 1, sizeof(*loop->heap));
	if (!loop->heap)
		goto close_epfd;
	loop->now_ms = cm_now_ms();
	return loop;

close_epfd:
	close(loop->epfd);
free_loop:
	free(loop);
	return NULL;
}

void cp_loop_free(struct cp_loop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	free(loop->fds);
	free(loop->heap);
	free(loop);
}

int cp_loop_add_fd(struct cp_loop *loop, int fd, uint32_t events, cp_fd_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };
	uint32_t gen;

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= loop->nfds_cap) {
		size_t cap = loop->nfds_cap ? loop->nfds_cap : 64;
		struct fd_slot *n;

		while (cap <= (size_t)fd)
			cap *= 2;
		n = realloc(loop->fds, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + loop->nfds_cap, 0, (cap - loop->nfds_cap) * sizeof(*n));
		loop->fds = n;
		loop->nfds_cap = cap;
	}
	if (loop->fds[fd].used)
		return -EEXIST;
	gen = loop->fds[fd].gen + 1;
	ev.data.u64 = fd_key(fd, gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->fds[fd] = (struct fd_slot){ .cb = cb, .arg = arg, .gen = gen, .used = true };
	return 0;
}

int cp_loop_mod_fd(struct cp_loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || (size_t)fd >= loop->nfds_cap || !loop->fds[fd].used)
		return -ENOENT;
	ev.data.u64 = fd_key(fd, loop->fds[fd].gen);
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int cp_loop_del_fd(struct cp_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nfds_cap || !loop->fds[fd].used)
		return -ENOENT;
	loop->fds[fd].used = false;
	return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* ---- timers: min-heap on due_ms ------------------------------------------------------------------------- */

static void heap_place(struct cp_loop *loop, size_t i, struct cp_timer *t)
{
	loop->heap[i] = t;
	t->heap_idx = (uint32_t)i;
}

static void heap_up(struct cp_loop *loop, size_t i)
{
	struct cp_timer *t = loop->heap[i];

	while (i > 1 && loop->heap[i / 2]->due_ms > t->due_ms) {
		heap_place(loop, i, loop->heap[i / 2]);
		i /= 2;
	}
	heap_place(loop, i, t);
}

static void heap_down(struct cp_loop *loop, size_t i)
{
	struct cp_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2 * i;
		if (c > loop->heap_len)
			break;
		if (c + 1 <= loop->heap_len && loop->heap[c + 1]->due_ms < loop->heap[c]->due_ms)
			c++;
		if (loop->heap[c]->due_ms >= t->due_ms)
			break;
		heap_place(loop, i, loop->heap[c]);
		i = c;
	}
	heap_place(loop, i, t);
}

void cp_timer_init(struct cp_timer *t, cp_timer_cb cb, void *arg)
{
	*t = (struct cp_timer){ .cb = cb, .arg = arg };
}

void cp_timer_stop(struct cp_loop *loop, struct cp_timer *t)
{
	size_t i = t->heap_idx;
	struct cp_timer *last;

	if (i == 0)
		return;
	t->heap_idx = 0;
	last = loop->heap[loop->heap_len--];
	if (last == t)
		return;
	heap_place(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->heap_idx);
}

int cp_timer_start(struct cp_loop *loop, struct cp_timer *t, uint64_t delay_ms)
{
	uint64_t due = cm_now_ms() + delay_ms;

	if (t->heap_idx) {
		/* re-armed while armed (a transport's tick timer after every batch): moved in place */
		if (t->due_ms != due) {
			t->due_ms = due;
			heap_up(loop, t->heap_idx);
			heap_down(loop, t->heap_idx);
		}
		return 0;
	}
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap * 2;
		struct cp_timer **n = realloc(loop->heap, (cap + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		loop->heap = n;
		loop->heap_cap = cap;
	}
	t->due_ms = due;
	loop->heap[++loop->heap_len] = t;
	heap_up(loop, loop->heap_len);
	return 0;
}

void cp_flush_init(struct cp_flush *f, cp_flush_cb cb, void *arg)
{
	*f = (struct cp_flush){ .cb = cb, .arg = arg };
}

void cp_loop_flush_later(struct cp_loop *loop, struct cp_flush *f)
{
	if (f->queued)
		return;
	f->queued = true;
	f->next = loop->flushes;
	loop->flushes = f;
}

void cp_loop_flush_cancel(struct cp_loop *loop, struct cp_flush *f)
{
	if (!f->queued)
		return;
	for (struct cp_flush **pp = &loop->flushes; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	f->queued = false;
}

bool cp_loop_in_turn(const struct cp_loop *loop)
{
	return loop->depth > 0;
}

/* A flush may defer more (its own queue refilled by a callback it ran): run until none is left. */
static void run_flushes(struct cp_loop *loop)
{
	while (loop->flushes) {
		struct cp_flush *f = loop->flushes;
		loop->flushes = f->next;
		f->queued = false;
		f->cb(loop, f->arg);
	}
}

static int run_due_timers(struct cp_loop *loop)
{
	int n = 0;

	loop->now_ms = cm_now_ms();
	while (loop->heap_len && loop->heap[1]->due_ms <= loop->now_ms) {
		struct cp_timer *t = loop->heap[1];
		cp_timer_stop(loop, t);
		t->cb(loop, t->arg);
		n++;
	}
	return n;
}

/* One turn: due timers, then (after the deferred flushes) a wait for events, their callbacks, due timers again,
 * the flushes again. */
int cp_loop_run_once(struct cp_loop *loop, int max_wait_ms)
{
	struct epoll_event evs[64];
	int wait = max_wait_ms, nev, ran;

	loop->depth++;
	ran = run_due_timers(loop);
	run_flushes(loop);
	if (loop->heap_len) {
		uint64_t due = loop->heap[1]->due_ms;
		int until = due > loop->now_ms ? (int)(due - loop->now_ms) : 0;
		if (wait < 0 || until < wait)
			wait = until;
	}
	if (ran || loop->stop)
		wait = 0;
	nev = epoll_wait(loop->epfd, evs, (int)CM_ARRAY_SIZE(evs), wait);
	if (nev < 0) {
		int e = errno;
		loop->depth--;
		return e == EINTR ? ran : -e;
	}
	loop->now_ms = cm_now_ms();
	for (int i = 0; i < nev; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		/* An earlier callback in this batch may have removed this fd, and may have registered the number
		 * again for another file: only the registration the event was fetched for gets it. */
		if ((size_t)fd < loop->nfds_cap && loop->fds[fd].used &&
		    loop->fds[fd].gen == (uint32_t)(evs[i].data.u64 >> 32)) {
			loop->fds[fd].cb(loop, fd, evs[i].events, loop->fds[fd].arg);
			ran++;
		}
	}
	ran += run_due_timers(loop);
	run_flushes(loop);
	loop->depth--;
	return ran;
}

int cp_loop_run(struct cp_loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int rc = cp_loop_run_once(loop, -1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void cp_loop_stop(struct cp_loop *loop)
{
	loop->stop = true;
}

bool cp_loop_stopping(const struct cp_loop *loop)
{
	return loop->stop;
}

uint64_t cp_loop_now_ms(const struct cp_loop *loop)
{
	return loop->now_ms;
}
