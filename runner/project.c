/* SPDX-License-Identifier: MIT */
/*
 * Project supervision, the I/O half: it feeds supervise.c's table with
 * events (commands, "started", exits, backoff timers) and carries out the
 * actions: launching a run (a new task row, its job directory, its shim),
 * stopping one through its shim, backoff timers, and writing every
 * transition to projects.* and the event log. Extraction is in deploy.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "loop.h"
#include "runner.h"
#include "store.h"
#include "store_run.h"
#include "util.h"

static struct project *project_from_row(struct runner *r, const struct run_project *row)
{
	struct project *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->r = r;
	snprintf(p->name, sizeof(p->name), "%s", row->name);
	p->state = sv_state_parse(row->state);
	p->desired_running = strcmp(row->desired, "running") == 0;
	p->release_id = row->release_id;
	snprintf(p->task_id, sizeof(p->task_id), "%s", row->task_id);
	p->restarts = row->restarts;
	p->fast_failures = row->fast_failures;
	p->backoff_until = row->backoff_until;
	p->next = r->projects;
	r->projects = p;
	return p;
}

struct project *project_find(struct runner *r, const char *name, bool load)
{
	struct run_project row;

	for (struct project *p = r->projects; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	if (!load || store_run_project_get(r->store, name, &row) != 1 || row.deleted)
		return NULL;
	return project_from_row(r, &row);
}

struct project *project_for_cmd(struct runner *r, int64_t cmd_id, const char *name)
{
	struct project *p = project_find(r, name, true);

	if (p == NULL)
		commands_done(r, cmd_id, false, NULL, "no such project");
	return p;
}

static void project_forget(struct runner *r, struct project *p)
{
	for (struct project **pp = &r->projects; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	loop_timer_cancel(r->loop, p->timer);
	free(p);
}

/* Writes the supervision fields and, when the state changed, an event. */
void project_set_state(struct runner *r, struct project *p, enum sv_state s, const char *reason)
{
	struct run_project row = {0};
	char type[48];
	bool changed = p->state != s;

	p->state = s;
	snprintf(row.name, sizeof(row.name), "%s", p->name);
	snprintf(row.desired, sizeof(row.desired), "%s",
	         p->desired_running ? "running" : "stopped");
	snprintf(row.state, sizeof(row.state), "%s", sv_state_name(s));
	snprintf(row.task_id, sizeof(row.task_id), "%s", p->task_id);
	row.restarts = p->restarts;
	row.fast_failures = p->fast_failures;
	row.backoff_until = (s == SV_BACKOFF || s == SV_CRASHLOOP) ? p->backoff_until : 0;
	if (store_run_project_save(r->store, &row, reason) < 0)
		log_error("project %s: cannot save its state", p->name);
	if (!changed)
		return;
	snprintf(type, sizeof(type), "project.%s", sv_state_name(s));
	store_event_add(r->store, type, p->task_id[0] ? p->task_id : NULL, p->name,
	                s == SV_FAILED || s == SV_CRASHLOOP ? "warn" : "info", reason, NULL);
	log_info("project %s: %s (%s)", p->name, sv_state_name(s), reason ? reason : "");
}

/* The command waiting for this project's next settled state; an older one is superseded. */
static void project_set_cmd(struct runner *r, struct project *p, int64_t cmd_id)
{
	if (p->pending_cmd != 0 && p->pending_cmd != cmd_id)
		commands_done(r, p->pending_cmd, true, "{\"superseded\":true}", NULL);
	p->pending_cmd = cmd_id;
}

static void project_cmd_done(struct runner *r, struct project *p, bool ok, const char *reason)
{
	char res[96];

	if (p->pending_cmd == 0)
		return;
	snprintf(res, sizeof(res), "{\"state\":\"%s\",\"task_id\":\"%s\"}", sv_state_name(p->state),
	         p->task_id);
	commands_done(r, p->pending_cmd, ok, res, reason);
	p->pending_cmd = 0;
}

/* The restart policy of the release that runs. */
static void project_policy(struct runner *r, struct project *p, struct sv_policy *pol)
{
	struct run_release rel;
	struct json_object *spec = NULL;

	pol->restart = SV_RESTART_ON_FAILURE;
	pol->backoff_ms = r->cfg.restart_backoff_ms;
	pol->backoff_max_ms = r->cfg.restart_backoff_max_ms;
	pol->crashloop_after = r->cfg.crashloop_after;
	pol->fast_failure_ms = r->cfg.fast_failure_ms;
	if (store_run_release_get(r->store, p->release_id, &rel) != 1)
		return;
	spec = json_tokener_parse(rel.spec ? rel.spec : "");
	sv_restart_parse(json_str(spec, "restart"), &pol->restart);
	json_object_put(spec);
	run_release_clear(&rel);
}

/* 0 spawned; -1 a failure worth retrying; -2 one that no retry can mend. */
static int launch_task(struct runner *r, struct project *p, const struct run_task *t, char *err,
                       size_t errlen)
{
	struct run_release rel;
	char cgroup[PATH_MAX] = "";
	struct job *j;
	int rc = -1;

	if (store_run_release_get(r->store, t->release_id ? t->release_id : p->release_id, &rel) !=
	        1 ||
	    strcmp(rel.state, "ready") != 0) {
		snprintf(err, errlen, "release %lld is not ready", (long long)p->release_id);
		return -2;
	}
	cgroup_job_create(r, t->id, cgroup, sizeof(cgroup));
	rc = jobdir_prepare(r, t, &rel, cgroup, err, errlen);
	if (rc == 0 && job_spawn(r, t->id, p->name, cgroup, &j, err, errlen) == 0)
		p->job = j;
	else if (rc == 0)
		rc = -1;
	if (rc < 0 && cgroup[0] != '\0') {
		cgroup_job_destroy(cgroup);
	}
	run_release_clear(&rel);
	return rc;
}

/*
 * Exec never happened: the run counts as a fast failure, or, when no retry
 * can help (no ready release, no command), the project fails at once.
 */
static void launch_failed(struct runner *r, struct project *p, const char *why, bool permanent)
{
	struct run_end end = {.state = "failed", .reason = why, .ended_at = util_now_ms()};
	struct job fake = {.r = r};
	struct job_exit e = {0};

	snprintf(e.reason, sizeof(e.reason), "%.250s", why);
	store_run_task_ended(r->store, p->task_id, &end);
	store_event_add(r->store, "task.exited", p->task_id, p->name, "warn", why, NULL);
	snprintf(fake.task_id, sizeof(fake.task_id), "%s", p->task_id);
	snprintf(fake.project, sizeof(fake.project), "%s", p->name);
	if (permanent) {
		project_set_state(r, p, SV_FAILED, why);
		project_cmd_done(r, p, false, why);
		return;
	}
	p->job = &fake;
	project_job_ended(r, &fake, &e);
}

/*
 * Starts a run: task_id names a pending task the handler created (deploy,
 * rollback), or NULL for a new 'service' task of the current release.
 */
static void project_launch(struct runner *r, struct project *p, const char *task_id)
{
	struct run_task t;
	struct run_release rel;
	char id[40], err[512];
	int rc;

	loop_timer_cancel(r->loop, p->timer);
	p->timer = 0;
	p->next_task[0] = '\0';
	if (task_id == NULL || *task_id == '\0') {
		if (util_uuid4(id) < 0 ||
		    store_run_release_get(r->store, p->release_id, &rel) != 1) {
			project_set_state(r, p, SV_FAILED, "no release to start");
			project_cmd_done(r, p, false, "no release to start");
			return;
		}
		store_task_add_service(r->store, id, p->name, p->release_id, rel.artifact,
		                       rel.spec);
		run_release_clear(&rel);
		task_id = id;
	}
	snprintf(p->task_id, sizeof(p->task_id), "%s", task_id);
	if (store_run_task_get(r->store, task_id, &t) != 1) {
		project_set_state(r, p, SV_FAILED, "the task to start does not exist");
		project_cmd_done(r, p, false, "the task to start does not exist");
		return;
	}
	if (strcmp(t.state, "pending") != 0 || t.shim_pid != 0) {
		/* a re-applied command: this run was spawned before (recovery adopted it) */
		p->job = job_find(r, task_id);
		log_info("project %s: task %s was already launched", p->name, task_id);
		run_task_clear(&t);
		return;
	}
	project_set_state(r, p, SV_STARTING, "starting");
	rc = launch_task(r, p, &t, err, sizeof(err));
	if (rc < 0) {
		log_warn("project %s: cannot start task %s: %s", p->name, task_id, err);
		launch_failed(r, p, err, rc == -2);
	}
	run_task_clear(&t);
}

static void on_backoff(struct loop *l, void *arg)
{
	struct project *p = arg;

	p->timer = 0;
	if (sv_action_for(p->state, SV_EV_TIMER) != SV_A_LAUNCH || !p->desired_running)
		return;
	p->restarts++;
	project_launch(p->r, p, NULL);
}

static void project_backoff(struct runner *r, struct project *p, const struct sv_decision *d,
                            const char *why)
{
	char reason[400];

	p->backoff_until = util_now_ms() + d->delay_ms;
	snprintf(reason, sizeof(reason), "%s; %d fast failure%s; next start in %lld ms", why,
	         p->fast_failures, p->fast_failures == 1 ? "" : "s", (long long)d->delay_ms);
	p->timer = loop_timer_add(r->loop, d->delay_ms, on_backoff, p);
	project_set_state(r, p, d->next, reason);
}

/* An end nobody asked for: the restart policy decides. */
static void unexpected_end(struct runner *r, struct project *p, const struct job *j,
                           const struct job_exit *e)
{
	struct sv_policy pol;
	struct sv_decision d;
	char why[300];
	bool success = e->has_code && e->exit_code == 0;
	int64_t run_ms =
	    j->started && e->ended_at > j->started_at ? e->ended_at - j->started_at : 0;

	sv_end_state(e->has_code, e->exit_code, e->has_signal, e->signal, false, false, why,
	             sizeof(why));
	if (!e->has_code && !e->has_signal && e->reason[0])
		snprintf(why, sizeof(why), "%s", e->reason);
	project_policy(r, p, &pol);
	sv_after_exit(&pol, success, run_ms, &p->fast_failures, &d);
	if (!p->desired_running || !d.restart) {
		project_set_state(r, p, d.restart ? SV_STOPPED : d.next, why);
		project_cmd_done(r, p, success, success ? NULL : why);
		return;
	}
	project_cmd_done(r, p, false, why);
	if (d.next == SV_STARTING) {
		p->restarts++;
		store_event_add(r->store, "project.restarting", j->task_id, p->name, "info", why,
		                NULL);
		project_launch(r, p, NULL);
		return;
	}
	project_backoff(r, p, &d, why);
}

void project_job_started(struct runner *r, struct job *j)
{
	struct project *p = project_find(r, j->project, false);

	if (p == NULL || p->job != j)
		return;
	if (sv_action_for(p->state, SV_EV_STARTED) == SV_A_RUNNING) {
		project_set_state(r, p, SV_RUNNING, "started");
		project_cmd_done(r, p, true, NULL);
	}
}

void project_job_adopted(struct runner *r, struct job *j)
{
	struct project *p = project_find(r, j->project, true);

	if (p == NULL)
		return;
	p->job = j;
	if (p->state == SV_STOPPING)
		job_op_stop(r, j, 0, 0); /* the stop was under way; the shim keeps its deadline */
	if (strcmp(p->task_id, j->task_id) != 0)
		snprintf(p->task_id, sizeof(p->task_id), "%s", j->task_id);
}

static void project_finish_delete(struct runner *r, struct project *p);

void project_job_ended(struct runner *r, struct job *j, const struct job_exit *e)
{
	struct project *p = project_find(r, j->project, false);
	enum sv_action a;

	if (p == NULL || p->job != j)
		return;
	p->job = NULL;
	a = sv_action_for(p->state, SV_EV_EXITED);
	if (a == SV_A_EXITED) {
		unexpected_end(r, p, j, e);
		return;
	}
	if (a != SV_A_STOPPED)
		return;
	if (p->delete_after) {
		project_finish_delete(r, p);
	} else if (p->next_task[0] != '\0') {
		char next[40];
		snprintf(next, sizeof(next), "%s", p->next_task);
		project_launch(r, p, next);
	} else if (p->desired_running) {
		project_launch(r, p, NULL); /* restart: a new run of the same release */
	} else {
		project_set_state(r, p, SV_STOPPED, "stopped by request");
		project_cmd_done(r, p, true, NULL);
	}
}

/* Ends the current run through its shim (stop_signal, stop_timeout, SIGKILL). */
static void project_stop_job(struct runner *r, struct project *p)
{
	loop_timer_cancel(r->loop, p->timer);
	p->timer = 0;
	if (p->job == NULL)
		return;
	if (p->state != SV_STOPPING && job_op_stop(r, p->job, 0, 0) < 0)
		log_warn("project %s: the shim is not connected; the stop waits for it", p->name);
	project_set_state(r, p, SV_STOPPING, "stopping");
}

/* Makes a ready release current and (re)starts the project on it with task_id. */
void project_switch(struct runner *r, struct project *p, int64_t release_id, const char *task_id,
                    int64_t cmd_id)
{
	p->desired_running = true;
	p->release_id = release_id;
	p->fast_failures = 0;
	store_run_project_release(r->store, p->name, release_id);
	project_set_cmd(r, p, cmd_id);
	if (p->job != NULL) {
		snprintf(p->next_task, sizeof(p->next_task), "%s", task_id ? task_id : "");
		project_stop_job(r, p);
		return;
	}
	project_launch(r, p, task_id);
}

void project_start_cmd(struct runner *r, int64_t cmd_id, const char *name)
{
	struct project *p = project_for_cmd(r, cmd_id, name);

	if (p == NULL)
		return;
	p->gen++;
	p->desired_running = true;
	if (p->job != NULL && p->state != SV_STOPPING) {
		project_set_state(r, p, p->state, NULL);
		commands_done(r, cmd_id, true, "{\"already\":\"running\"}", NULL);
		return;
	}
	project_set_cmd(r, p, cmd_id);
	if (p->job != NULL)
		return;       /* stopping: desired running relaunches it at the exit */
	p->fast_failures = 0; /* a start by hand leaves a crash loop */
	project_launch(r, p, NULL);
}

void project_stop_cmd(struct runner *r, int64_t cmd_id, const char *name)
{
	struct project *p = project_for_cmd(r, cmd_id, name);

	if (p == NULL)
		return;
	p->gen++;
	p->desired_running = false;
	p->next_task[0] = '\0';
	project_set_cmd(r, p, cmd_id);
	if (p->job != NULL) {
		project_stop_job(r, p);
		return;
	}
	loop_timer_cancel(r->loop, p->timer);
	p->timer = 0;
	project_set_state(r, p, SV_STOPPED, "stopped by request");
	project_cmd_done(r, p, true, NULL);
}

void project_restart_cmd(struct runner *r, int64_t cmd_id, const char *name)
{
	struct project *p = project_for_cmd(r, cmd_id, name);

	if (p == NULL)
		return;
	p->gen++;
	p->desired_running = true;
	p->next_task[0] = '\0';
	p->fast_failures = 0;
	project_set_cmd(r, p, cmd_id);
	if (p->job != NULL)
		project_stop_job(r, p);
	else
		project_launch(r, p, NULL);
}

void project_signal_cmd(struct runner *r, int64_t cmd_id, const char *name, int sig)
{
	struct project *p = project_for_cmd(r, cmd_id, name);

	if (p == NULL)
		return;
	if (p->job == NULL) {
		commands_done(r, cmd_id, false, NULL, "the project is not running");
		return;
	}
	if (sig <= 0 || sig >= 65 || job_op_signal(r, p->job, sig) < 0) {
		commands_done(r, cmd_id, false, NULL,
		              "cannot signal: bad signal or shim not connected");
		return;
	}
	commands_done(r, cmd_id, true, NULL, NULL);
}

void project_rollback_cmd(struct runner *r, int64_t cmd_id, const char *name,
                          struct json_object *payload)
{
	struct project *p = project_for_cmd(r, cmd_id, name);
	struct run_release rel;
	int64_t id = json_int(payload, "release_id", 0);
	bool ready;

	if (p == NULL)
		return;
	if (store_run_release_get(r->store, id, &rel) != 1 || strcmp(rel.project, name) != 0) {
		commands_done(r, cmd_id, false, NULL, "no such release of this project");
		return;
	}
	ready = strcmp(rel.state, "ready") == 0;
	run_release_clear(&rel);
	if (!ready) {
		commands_done(r, cmd_id, false, NULL,
		              "the release is not ready (removed or failed)");
		return;
	}
	p->gen++;
	project_switch(r, p, id, json_str(payload, "task_id"), cmd_id);
}

/* Removes files of a purged project: its releases and the job directories of its runs. */
static void purge_files(struct runner *r, const char *name)
{
	char path[PATH_MAX], (*ids)[40];
	size_t n;

	if (store_run_project_task_ids(r->store, name, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (job_dir(r, ids[i], path, sizeof(path)) == 0)
				helper_remove_tree(r, path);
		free(ids);
	}
	if (util_fmt(path, sizeof(path), "%s/releases/%s", r->cfg.data_dir, name) >= 0)
		helper_remove_tree(r, path);
}

static void project_finish_delete(struct runner *r, struct project *p)
{
	int64_t cmd = p->pending_cmd;
	bool purge = p->purge_after;
	char name[64];

	snprintf(name, sizeof(name), "%s", p->name);
	p->desired_running = false;
	project_set_state(r, p, SV_STOPPED, "deleted");
	if (store_run_project_deleted(r->store, name) < 0)
		log_error("project %s: cannot mark it deleted", name);
	if (purge) {
		purge_files(r, name);
		store_run_project_purge(r->store, name);
	}
	store_event_add(r->store, "project.deleted", NULL, name, "info",
	                purge ? "deleted and purged" : "deleted", NULL);
	project_forget(r, p);
	if (cmd != 0)
		commands_done(r, cmd, true, purge ? "{\"purged\":true}" : "{\"purged\":false}",
		              NULL);
}

void project_delete_cmd(struct runner *r, int64_t cmd_id, const char *name, bool purge)
{
	struct project *p = project_for_cmd(r, cmd_id, name);

	if (p == NULL)
		return;
	p->gen++;
	p->desired_running = false;
	p->delete_after = true;
	p->purge_after = purge;
	p->next_task[0] = '\0';
	project_set_cmd(r, p, cmd_id);
	if (p->job != NULL)
		project_stop_job(r, p);
	else
		project_finish_delete(r, p);
}

/* A backoff that was under way when the runner stopped goes on where it was. */
static void resume_timer(struct runner *r, struct project *p)
{
	int64_t left = p->backoff_until - util_now_ms();

	p->timer = loop_timer_add(r->loop, left > 0 ? left : 0, on_backoff, p);
}

int project_load_all(struct runner *r)
{
	struct run_project *rows;
	size_t n;

	if (store_run_projects(r->store, &rows, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct project *p = project_find(r, rows[i].name, false);
		if (p == NULL)
			p = project_from_row(r, &rows[i]);
		if (p != NULL && (p->state == SV_BACKOFF || p->state == SV_CRASHLOOP))
			resume_timer(r, p);
	}
	free(rows);
	return 0;
}

/*
 * After recovery: a project that says a run is under way but has no job
 * lost it while the runner was away without a recorded end (the end was
 * then recorded by recovery and handled). What is left is settled here,
 * except a project a queued command is about to settle: a deploy accepted
 * while the runner was down must run as the task its 202 named, once its
 * release is extracted, not fail for a release that is not ready yet.
 */
void project_settle_all(struct runner *r)
{
	for (struct project *p = r->projects; p != NULL; p = p->next) {
		if (p->job != NULL ||
		    (p->state != SV_STARTING && p->state != SV_RUNNING && p->state != SV_STOPPING))
			continue;
		if (store_run_project_has_open_command(r->store, p->name) == 1)
			continue;
		if (p->desired_running && !p->delete_after)
			project_launch(r, p, NULL);
		else
			project_set_state(r, p, SV_STOPPED, "no run found after a runner restart");
	}
}
