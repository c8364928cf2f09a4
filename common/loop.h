/* SPDX-License-Identifier: MIT */
/*
 * A small epoll event loop in the shape of redis' ae: file events, one-shot
 * timers and a before-sleep hook. Single-threaded; callbacks may add and
 * remove fds and timers (their own included) while being dispatched. It
 * knows nothing about jobs or the database.
 */
#ifndef HOSTAGENT_LOOP_H
#define HOSTAGENT_LOOP_H

#include <stdint.h>

struct loop;

typedef void loop_fd_fn(struct loop *l, int fd, uint32_t events, void *arg);
typedef void loop_timer_fn(struct loop *l, void *arg);
typedef void loop_hook_fn(struct loop *l, void *arg);

/* *out is owned by the caller (loop_release). 0 or -1. */
int loop_init(struct loop **out);
/* Frees the loop; the registered fds are not closed (their owners close them). */
void loop_release(struct loop *l);

/*
 * Watches fd (borrowed: the caller keeps owning and closes it after
 * loop_del_fd) for EPOLLIN/EPOLLOUT; errors and hang-ups are always
 * reported. One registration per fd. 0 or -1.
 */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn *fn, void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
/* Stops watching fd; safe from inside its own callback. */
void loop_del_fd(struct loop *l, int fd);

/* A one-shot timer delay_ms from now. Returns its id (> 0), or 0 on failure. */
uint64_t loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_fn *fn, void *arg);
/* Cancels a timer that has not fired; unknown ids (and 0) are ignored. */
void loop_timer_cancel(struct loop *l, uint64_t id);

/* Called before every sleep (batching work the callbacks marked). */
void loop_set_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg);

/* Runs until loop_stop. 0, or -1 when epoll itself fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* The largest lateness of a timer since the last call (ms), then resets it. */
double loop_take_lag(struct loop *l);

#endif
