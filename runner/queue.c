/* SPDX-License-Identifier: MIT */
/* The internal slots (see queue.h). */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "deploy.h"
#include "jobdir.h"
#include "jobs.h"
#include "log.h"
#include "loop.h"
#include "runner.h"
#include "settle.h"
#include "store.h"
#include "store_projects.h"
#include "store_queue.h"
#include "store_tasks.h"
#include "task_machine.h"
#include "util.h"

/* The lowest slot number not in use, 0 when all of 1..slots are. */
static int free_slot(const struct runner *r, int slots)
{
	for (int n = 1; n <= slots; n++) {
		const struct slot_run *s = r->slots;
		while (s != NULL && s->slot != n)
			s = s->next;
		if (s == NULL)
			return n;
	}
	return 0;
}


static struct slot_run *slot_find(struct runner *r, const char *id)
{
	for (struct slot_run *s = r->slots; s != NULL; s = s->next)
		if (strcmp(s->task_id, id) == 0)
			return s;
	return NULL;
}

static void slot_free(struct runner *r, struct slot_run *run)
{
	for (struct slot_run **pp = &r->slots; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == run) {
			*pp = run->next;
			break;
		}
	}
	loop_timer_cancel(r->loop, run->timeout_timer);
	free(run);
}

/* A task that ended without running (its launch failed, or it was cancelled while pending). */
static void end_unrun(struct runner *r, const char *id, const char *state, const char *why)
{
	struct store_task_end e = {.state = state, .reason = why, .ended_at = util_now_ms()};
	char type[32];
	struct store_event ev = {.type = type, .task_id = id, .message = why,
	                         .level = strcmp(state, "failed") == 0 ? "warn" : "info"};

	snprintf(type, sizeof(type), "task.%s", state);
	if (store_task_ended(r->store, id, &e, &ev) < 0)
		log_error("task %s: cannot record its end", id);
	else if (store_tasks_cancel_dependents(r->store, id, state) < 0)
		log_error("task %s: cannot cancel the tasks that wait for it", id);
}

static void on_timeout(struct loop *l, void *arg)
{
	struct slot_run *run = arg;

	run->timeout_timer = 0;
	if (run->job == NULL)
		return;
	log_info("task %s: ran past its timeout of %lld s: stopping it", run->task_id,
	         (long long)run->timeout_s);
	run->job->timed_out = true;
	snprintf(run->job->stop_cause, sizeof(run->job->stop_cause),
	         "timed out after %lld s of running time", (long long)run->timeout_s);
	job_op_stop(run->job, 0, -1);
}

static void on_started(void *owner, struct job *j)
{
	struct slot_run *run = owner;

	if (run->timeout_s > 0 && run->timeout_timer == 0)
		run->timeout_timer =
		    loop_timer_add(run->r->loop, run->timeout_s * 1000, on_timeout, run);
}

/* The last line the job printed on stdout, for the result's output. */
static struct json_object *last_line(const char *dir)
{
	char path[4200], buf[4096];
	ssize_t n = 0;
	int fd;
	char *end, *start;

	if (util_fmt(path, sizeof(path), "%s/stdout.log", dir) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size > 0 && lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0,
	                      SEEK_SET) >= 0)
		n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	for (end = buf + n; end > buf && (end[-1] == '\n' || end[-1] == '\r'); end--)
		;
	*end = '\0';
	start = strrchr(buf, '\n');
	return json_object_new_string(start ? start + 1 : buf);
}

/*
 * {success, output, metrics}: output is what the job wrote to
 * $HOSTAGENT_RESULT_FILE when that is JSON, else its last stdout line.
 */
static void on_ending(void *owner, struct job *j, const struct job_end *e, char **result)
{
	struct slot_run *run = owner;
	struct json_object *res = json_object_new_object(), *m = json_object_new_object(), *out;
	char dir[4096], path[4200], *text = NULL;

	if (jobdir_path(run->r, run->task_id, dir, sizeof(dir)) < 0)
		dir[0] = '\0';
	out = util_fmt(path, sizeof(path), "%s/result/result.json", dir) >= 0 &&
	              util_read_file(path, 1 << 20, &text, NULL) == 0
	          ? json_tokener_parse(text)
	          : NULL;
	free(text);
	if (out == NULL)
		out = last_line(dir);
	json_object_object_add(res, "success", json_object_new_boolean(strcmp(e->state, "completed") == 0));
	json_object_object_add(res, "output", out);
	json_object_object_add(m, "duration_seconds", json_object_new_double(e->run_ms / 1000.0));
	json_object_object_add(m, "exit_code",
	                       e->exit.has_code ? json_object_new_int(e->exit.exit_code) : NULL);
	json_object_object_add(m, "signal",
	                       e->exit.has_signal ? json_object_new_int(e->exit.signal) : NULL);
	json_object_object_add(res, "metrics", m);
	/* written with the end, in its transaction: no reader sees one without the other */
	*result = strdup(
	    json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(res);
}

static void on_retry_due(struct loop *l, void *arg)
{
	struct runner *r = arg;

	r->queue_due = true;
}

/*
 * A failed run: the task machine says whether it goes back to pending
 * (attempts left, with its backoff) or stays failed. true when retried.
 */
static bool retried(struct runner *r, const struct slot_run *run, const struct job_end *e)
{
	struct tq m = {.state = TQ_RUNNING, .attempt = run->attempt, .retries = run->retries};
	struct tq_input in = {.ev = TQ_EV_EXITED, .success = false};
	struct tq_out o;
	char why[400];

	if (strcmp(e->state, "failed") != 0)
		return false; /* completed, cancelled, timeout: final */
	tq_step(&m, &in, &o);
	if (!o.retry)
		return false;
	snprintf(why, sizeof(why), "attempt %d %.200s; attempt %d in %lld ms", run->attempt,
	         e->reason, run->attempt + 1, (long long)o.retry_in_ms);
	if (store_task_retry(r->store, run->task_id, util_now_ms() + o.retry_in_ms, why) < 0) {
		log_error("task %s: cannot put it back in the queue", run->task_id);
		return false;
	}
	log_info("task %s: %s", run->task_id, why);
	loop_timer_add(r->loop, o.retry_in_ms, on_retry_due, r);
	return true;
}

static void on_exited(void *owner, struct job *j, const struct job_end *e)
{
	struct slot_run *run = owner;
	struct runner *r = run->r;

	run->job = NULL;
	if (!retried(r, run, e) && strcmp(e->state, "completed") != 0 &&
	    store_tasks_cancel_dependents(r->store, run->task_id, e->state) < 0)
		log_error("task %s: cannot cancel the tasks that wait for it", run->task_id);
	slot_free(r, run);
	r->queue_due = true; /* a slot is free */
}

static const struct job_owner_ops slot_job_ops = {
    .started = on_started,
    .ending = on_ending,
    .exited = on_exited,
};

/* The claimed task's run: its release (or tree), job directory, cgroup and shim. 0, or -1. */
static int spawn_run(struct runner *r, struct slot_run *run, const struct store_task *t,
                     char *why, size_t len)
{
	struct store_release rel = {0};
	char cgroup[4096] = "", dir[4096], kept[4200];
	int lock = -1, rc;

	/* a retry: the previous attempt's directory (its logs, its exit) is kept beside */
	if (t->attempts > 1 && jobdir_path(r, t->id, dir, sizeof(dir)) == 0 &&
	    util_fmt(kept, sizeof(kept), "%s.%d", dir, t->attempts - 1) >= 0 &&
	    rename(dir, kept) < 0 && errno != ENOENT)
		log_warn("task %s: cannot keep attempt %d's directory: %s", t->id, t->attempts - 1,
		         strerror(errno));
	if (t->project[0] == '\0') {
		/* an artifact's task: its tree stands in for a release */
		snprintf(rel.artifact, sizeof(rel.artifact), "%s", t->artifact);
	} else if (store_release_get(r->store, t->release_id, &rel) != 1 ||
	           strcmp(rel.state, "ready") != 0) {
		snprintf(why, len, "release %lld of project %s is not there any more",
		         (long long)t->release_id, t->project);
		store_release_clear(&rel);
		return -1;
	}
	cgroup_job_create(r, t->id, cgroup, sizeof(cgroup));
	rc = jobdir_prepare(r, t, &rel, cgroup, &lock, why, len);
	if (rc == 0 && job_spawn(r, t->id, t->project, cgroup, lock, &slot_job_ops, run, &run->job,
	                         why, len) < 0)
		rc = -1;
	if (lock >= 0)
		close(lock);
	if (rc != 0 && cgroup[0] != '\0')
		cgroup_job_destroy(cgroup);
	store_release_clear(&rel);
	return rc == 0 ? 0 : -1;
}

/* Tasks waiting for an artifact's tree: one extraction per artifact, however many wait. */
struct tree_wait {
	struct runner *r;
	char sha[72];
	char (*ids)[40];
	size_t n;
	struct tree_wait *next;
};

static void start_run(struct runner *r, struct slot_run *run)
{
	struct store_task t;
	char why[512];

	if (store_task_get(r->store, run->task_id, &t) != 1) {
		snprintf(why, sizeof(why), "the claimed task vanished");
	} else if (spawn_run(r, run, &t, why, sizeof(why)) == 0) {
		store_task_clear(&t);
		return;
	} else {
		store_task_clear(&t);
	}
	log_warn("task %s: cannot start it: %s", run->task_id, why);
	char id[40];
	snprintf(id, sizeof(id), "%s", run->task_id);
	slot_free(r, run);
	end_unrun(r, id, "failed", why);
}

static void on_tree(struct runner *r, void *arg, bool ok, const char *err)
{
	struct tree_wait *w = arg;

	for (struct tree_wait **pp = &r->tree_waits; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	for (size_t i = 0; i < w->n; i++) {
		struct slot_run *run = slot_find(r, w->ids[i]);
		if (run == NULL || run->job != NULL)
			continue; /* cancelled while it waited */
		if (ok) {
			start_run(r, run);
		} else {
			slot_free(r, run);
			end_unrun(r, w->ids[i], "failed", err);
		}
	}
	free(w->ids);
	free(w);
	r->queue_due = true;
}

/* The run waits for its artifact's tree: joins the extraction under way, or starts it. */
static int wait_tree(struct runner *r, struct slot_run *run, const char *sha)
{
	struct tree_wait *w = r->tree_waits;
	void *grown;

	while (w != NULL && strcmp(w->sha, sha) != 0)
		w = w->next;
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			return -1;
		w->r = r;
		snprintf(w->sha, sizeof(w->sha), "%s", sha);
		if (deploy_extract_tree(r, sha, on_tree, w) < 0) {
			free(w);
			return -1;
		}
		w->next = r->tree_waits;
		r->tree_waits = w;
	}
	if ((grown = realloc(w->ids, (w->n + 1) * sizeof(*w->ids))) == NULL)
		return -1; /* the run stays claimed and is failed by the caller */
	w->ids = grown;
	snprintf(w->ids[w->n++], 40, "%s", run->task_id);
	log_info("task %s: waiting for artifact %.12s to be extracted", run->task_id, sha);
	return 0;
}

static void launch(struct runner *r, const char *id, int slot)
{
	struct slot_run *run = calloc(1, sizeof(*run));
	struct store_task t;
	char why[512] = "out of memory";

	if (run == NULL || store_task_get(r->store, id, &t) != 1) {
		free(run);
		end_unrun(r, id, "failed", run == NULL ? why : "the claimed task vanished");
		return;
	}
	run->r = r;
	run->timeout_s = t.timeout_s;
	run->attempt = t.attempts;
	run->retries = t.retries;
	run->slot = slot;
	snprintf(run->task_id, sizeof(run->task_id), "%s", id);
	run->next = r->slots;
	r->slots = run;
	if (t.project[0] == '\0' && t.artifact[0] != '\0') {
		char tree[4096];
		struct stat st;
		if (deploy_tree_path(r, t.artifact, tree, sizeof(tree)) == 0 && stat(tree, &st) < 0 &&
		    errno == ENOENT) {
			if (wait_tree(r, run, t.artifact) < 0) {
				slot_free(r, run);
				end_unrun(r, id, "failed", "cannot extract the artifact");
			}
			store_task_clear(&t);
			return;
		}
	}
	store_task_clear(&t);
	start_run(r, run);
}

void queue_fill(struct runner *r)
{
	struct store_slots dflt = {r->cfg.auto_start_workers, r->cfg.num_internal_workers}, sw;
	int slot;

	r->queue_due = false;
	store_slots_get(r->store, &dflt, &sw);
	if (!r->recovered || !sw.running)
		return;
	while ((slot = free_slot(r, sw.count)) > 0) {
		char worker[32];
		struct store_claim c = {.worker_id = worker};
		struct store_claimed got;
		int rc;
		snprintf(worker, sizeof(worker), "internal-%d", slot);
		if ((rc = store_task_claim(r->store, &c, &got)) <= 0) {
			if (rc < 0)
				log_warn("the queue: cannot claim a task; retried at the next poll");
			return;
		}
		log_info("task %s: claimed by %s (attempt %d)", got.id, worker, got.attempt);
		util_fault_point("after-claim"); /* tests: a runner killed before it spawns */
		launch(r, got.id, slot);
	}
}

/* task.inject: claimed now by "internal-inject", whatever the order and the slots. */
static void inject(struct runner *r, const struct store_command *c)
{
	struct store_claim cl = {.worker_id = "internal-inject"};
	struct store_claimed got;
	int rc = store_task_claim_id(r->store, c->target, &cl, &got);

	if (rc < 0) {
		settle_command(r->store, c->id, false, NULL, "cannot claim the task");
		return;
	}
	/* 0: a free slot took it first, or it was cancelled: it is not pending any more */
	settle_command(r->store, c->id, true, rc == 1 ? "{\"injected\":true}" : "{\"injected\":false}",
	               NULL);
	if (rc == 1) {
		log_info("task %s: injected (attempt %d)", got.id, got.attempt);
		launch(r, got.id, 0);
	}
}

void queue_command(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	struct slot_run *run = slot_find(r, c->target);
	struct store_task t;
	int rc;

	if (strcmp(c->kind, "task.inject") == 0) {
		inject(r, c);
		return;
	}
	if (run != NULL && run->job == NULL) { /* claimed, waiting for its artifact's tree */
		slot_free(r, run);
		end_unrun(r, c->target, "cancelled", "cancelled by request before it ran");
		settle_command(r->store, c->id, true, "{\"cancelled\":true}", NULL);
		return;
	}
	if (run != NULL && run->job != NULL) {
		rc = job_op_stop(run->job, 0, -1);
		settle_command(r->store, c->id, true, "{\"stopping\":true}",
		               rc == 0 ? NULL : "the shim is not connected; the stop waits for it");
		return;
	}
	rc = store_task_get(r->store, c->target, &t);
	if (rc == 1 && strcmp(t.state, "pending") == 0) {
		end_unrun(r, c->target, "cancelled", "cancelled by request before it ran");
		settle_command(r->store, c->id, true, "{\"cancelled\":true}", NULL);
	} else {
		settle_command(r->store, c->id, false, NULL,
		               rc == 1 ? "the task is not pending or running here" : "no such task");
	}
	if (rc == 1)
		store_task_clear(&t);
}

void queue_recover(struct runner *r)
{
	char (*ids)[40] = NULL;
	size_t n = 0, back = 0;

	if (store_tasks_claimed_unspawned(r->store, "internal-", &ids, &n) < 0) {
		log_error("recovery: cannot list the claimed tasks");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (slot_find(r, ids[i]) != NULL)
			continue; /* its shim lives: adopted */
		if (store_task_unclaim(r->store, ids[i], "the runner stopped before it ran") < 0)
			log_error("task %s: cannot put it back in the queue", ids[i]);
		else
			back++;
	}
	if (back > 0)
		log_info("recovery: %zu claimed task(s) never started: back in the queue", back);
	free(ids);
}

void queue_adopt(void *arg, struct job *j, const struct store_task *t)
{
	struct runner *r = arg;
	struct slot_run *run = calloc(1, sizeof(*run));

	if (run == NULL)
		return; /* its end is recorded; nobody is told */
	run->r = r;
	run->job = j;
	run->timeout_s = t->timeout_s;
	run->attempt = t->attempts;
	run->retries = t->retries;
	/* its slot again: a count of 0 or a busy number means it runs beside the slots */
	if (t->worker_id[0] != '\0' && strncmp(t->worker_id, "internal-", 9) == 0)
		run->slot = atoi(t->worker_id + 9);
	snprintf(run->task_id, sizeof(run->task_id), "%s", t->id);
	run->next = r->slots;
	r->slots = run;
	j->ops = &slot_job_ops;
	j->owner = run;
	if (j->started)
		on_started(run, j); /* its time is counted again from now: never cut short */
}
