/* SPDX-License-Identifier: MIT */
/*
 * The runner's event loop (see loop.h). Timers are kept in an unsorted
 * array: there are few of them (one per backing-off project, a handful of
 * periodic ones), so a linear scan is cheaper than keeping a heap right.
 */
#include "loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct loop_fd {
	int fd;
	bool dead;
	loop_fd_fn *fn;
	void *arg;
	struct loop_fd *next; /* in the registry, or in the list to free */
};

struct loop_timer {
	uint64_t id;
	int64_t deadline_us;
	loop_timer_fn *fn;
	void *arg;
};

struct loop {
	int epfd;
	bool stop;
	struct loop_fd *fds;  /* live registrations */
	struct loop_fd *dead; /* freed once no dispatch can reference them */
	struct loop_timer *timers;
	size_t ntimers, captimers;
	uint64_t next_id;
	loop_hook_fn *before_sleep;
	void *hook_arg;
	double lag_ms;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int loop_init(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return -1;
	}
	l->next_id = 1;
	*out = l;
	return 0;
}

static void free_list(struct loop_fd *f)
{
	while (f != NULL) {
		struct loop_fd *n = f->next;
		free(f);
		f = n;
	}
}

void loop_release(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free_list(l->fds);
	free_list(l->dead);
	free(l->timers);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn *fn, void *arg)
{
	struct loop_fd *f = calloc(1, sizeof(*f));
	struct epoll_event ev = {.events = events};

	if (f == NULL)
		return -1;
	f->fd = fd;
	f->fn = fn;
	f->arg = arg;
	ev.data.ptr = f;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(f);
		return -1;
	}
	f->next = l->fds;
	l->fds = f;
	return 0;
}

static struct loop_fd *find_fd(struct loop *l, int fd, struct loop_fd ***link)
{
	for (struct loop_fd **pp = &l->fds; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			if (link != NULL)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct loop_fd *f = find_fd(l, fd, NULL);
	struct epoll_event ev = {.events = events};

	if (f == NULL)
		return -1;
	ev.data.ptr = f;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd **link, *f = find_fd(l, fd, &link);

	if (f == NULL)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	*link = f->next;
	f->dead = true; /* events already returned by epoll_wait may still name it */
	f->next = l->dead;
	l->dead = f;
}

uint64_t loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_fn *fn, void *arg)
{
	struct loop_timer *t;

	if (l->ntimers == l->captimers) {
		size_t cap = l->captimers ? l->captimers * 2 : 16;
		t = realloc(l->timers, cap * sizeof(*t));
		if (t == NULL)
			return 0;
		l->timers = t;
		l->captimers = cap;
	}
	t = &l->timers[l->ntimers++];
	t->id = l->next_id++;
	t->deadline_us = now_us() + (delay_ms > 0 ? delay_ms : 0) * 1000;
	t->fn = fn;
	t->arg = arg;
	return t->id;
}

void loop_timer_cancel(struct loop *l, uint64_t id)
{
	for (size_t i = 0; id != 0 && i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i] = l->timers[--l->ntimers];
			return;
		}
	}
}

void loop_set_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg)
{
	l->before_sleep = fn;
	l->hook_arg = arg;
}

/* Milliseconds until the nearest timer, rounded up; -1 when none. */
static int next_timeout(struct loop *l)
{
	int64_t min = INT64_MAX, now = now_us();

	for (size_t i = 0; i < l->ntimers; i++)
		if (l->timers[i].deadline_us < min)
			min = l->timers[i].deadline_us;
	if (min == INT64_MAX)
		return -1;
	if (min <= now)
		return 0;
	return (int)((min - now + 999) / 1000);
}

/* Fires every due timer once; a timer added by a callback waits for the next round. */
static void run_timers(struct loop *l)
{
	int64_t now = now_us();
	uint64_t limit = l->next_id;

	for (size_t i = 0; i < l->ntimers;) {
		struct loop_timer t = l->timers[i];
		if (t.deadline_us > now || t.id >= limit) {
			i++;
			continue;
		}
		l->timers[i] = l->timers[--l->ntimers];
		if ((double)(now - t.deadline_us) / 1000.0 > l->lag_ms)
			l->lag_ms = (double)(now - t.deadline_us) / 1000.0;
		t.fn(l, t.arg);
		i = 0; /* the callback may have reshuffled the array */
		now = now_us();
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[64];

	l->stop = false;
	while (!l->stop) {
		int n;
		if (l->before_sleep != NULL)
			l->before_sleep(l, l->hook_arg);
		if (l->stop)
			break;
		n = epoll_wait(l->epfd, evs, 64, next_timeout(l));
		if (n < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < n && !l->stop; i++) {
			struct loop_fd *f = evs[i].data.ptr;
			if (!f->dead)
				f->fn(l, f->fd, evs[i].events, f->arg);
		}
		free_list(l->dead);
		l->dead = NULL;
		run_timers(l);
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

double loop_take_lag(struct loop *l)
{
	double v = l->lag_ms;

	l->lag_ms = 0;
	return v;
}
