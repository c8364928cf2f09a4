/* SPDX-License-Identifier: MIT */
/*
 * Project supervision, the I/O half (see project.h): commands and job
 * observations become inputs of supervise.c's machine; its effects are
 * carried out here, one after the other, and a launch that fails becomes
 * the next input of the same loop (never a recursion). Extraction is
 * deploy.c's; the job's shim is jobs.c's.
 */
#include "project.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "deploy.h"
#include "helper.h"
#include "jobdir.h"
#include "jobs.h"
#include "json_get.h"
#include "log.h"
#include "loop.h"
#include "runner.h"
#include "settle.h"
#include "store.h"
#include "store_projects.h"
#include "store_tasks.h"
#include "store_usage.h"
#include "util.h"

/*
 * What follows an effect, as the next input: a launch that did not spawn
 * (an exit of a run that never ran, or a failure no retry can mend), or a
 * run found already started when it was adopted.
 */
struct launch_fail {
	bool failed, permanent, started;
	bool keep_task; /* the task may still run (its adoption failed): never end its row */
	char why[512];
	int64_t delay_ms; /* a backoff timer was armed for this long (-1: none) */
};

static void project_feed(struct project *p, const struct sv_input *first);

static struct project *project_from_row(struct runner *r, const struct store_project *row)
{
	struct project *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->r = r;
	snprintf(p->name, sizeof(p->name), "%.63s", row->name); /* names are at most 63 */
	p->sv.state = row->marked_deleted ? SV_DELETED : sv_state_parse(row->state);
	/* after recovery every live run is known: a project loaded now has none */
	if (r->recovered && sv_has_run(p->sv.state))
		p->sv.state = SV_STOPPED;
	p->sv.desired_running = strcmp(row->desired, "running") == 0;
	p->sv.release_id = row->release_id;
	p->sv.restarts = row->restarts;
	p->sv.fast_failures = row->fast_failures;
	snprintf(p->task_id, sizeof(p->task_id), "%s", row->task_id);
	p->backoff_until = row->backoff_until;
	p->next = r->projects;
	r->projects = p;
	return p;
}

/* The in-memory project, loaded from the database if need be (deleted ones only if asked). */
static struct project *project_find(struct runner *r, const char *name, bool deleted_too)
{
	struct store_project row;

	for (struct project *p = r->projects; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	if (store_project_row(r->store, name, &row) != 1 || (row.marked_deleted && !deleted_too))
		return NULL;
	return project_from_row(r, &row);
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

/* The supervision fields and, when the state changed, its event: one transaction. */
static void project_save(struct project *p, enum sv_state before, const char *reason)
{
	struct store_project row = {0};
	char type[48];
	struct store_event ev = {.type = type, .project = p->name, .message = reason};
	enum sv_state s = p->sv.state;
	bool changed;

	if (s == SV_DELETED)
		return; /* written by the delete itself */
	snprintf(row.name, sizeof(row.name), "%s", p->name);
	snprintf(row.state, sizeof(row.state), "%s", sv_state_name(s));
	snprintf(row.task_id, sizeof(row.task_id), "%s", p->task_id);
	row.restarts = p->sv.restarts;
	row.fast_failures = p->sv.fast_failures;
	row.backoff_until = (s == SV_BACKOFF || s == SV_CRASHLOOP) ? p->backoff_until : 0;
	/* the event log's names: a project that reached RUNNING has "started" */
	snprintf(type, sizeof(type), "project.%s", s == SV_RUNNING ? "started" : sv_state_name(s));
	ev.task_id = p->task_id[0] ? p->task_id : NULL;
	ev.level = s == SV_FAILED || s == SV_CRASHLOOP || s == SV_UNHEALTHY || s == SV_RECYCLING
	               ? "warn"
	               : "info";
	/* one event per state users see: STARTING → CHECKING is 'starting' twice */
	changed = strcmp(sv_state_name(s), sv_state_name(before)) != 0;
	if (store_project_save_state(p->r->store, &row, reason, changed ? &ev : NULL) < 0)
		log_error("project %s: cannot save its state", p->name);
	if (s != before)
		log_info("project %s: %s (%s)", p->name, sv_state_name(s), reason ? reason : "");
}

/* The restart policy of the release that runs. */
static void project_policy(struct project *p, struct sv_policy *pol)
{
	struct runner *r = p->r;
	struct store_release rel;
	struct json_object *spec;

	pol->restart = SV_RESTART_ON_FAILURE;
	pol->backoff_ms = r->cfg.restart_backoff_ms;
	pol->backoff_max_ms = r->cfg.restart_backoff_max_ms;
	pol->crashloop_after = r->cfg.crashloop_after;
	pol->fast_failure_ms = r->cfg.fast_failure_ms;
	if (store_release_get(r->store, p->sv.release_id, &rel) != 1)
		return;
	spec = json_tokener_parse(rel.spec ? rel.spec : "");
	sv_restart_parse(json_get_str(spec, "restart"), &pol->restart);
	json_object_put(spec);
	store_release_clear(&rel);
}

/* A task that never ran ends with its event. */
static void end_task(struct runner *r, const char *task_id, const char *project, const char *state,
                     const char *why)
{
	struct store_task_end end = {.state = state, .reason = why, .ended_at = util_now_ms()};
	char type[32];
	struct store_event ev = {.type = type,
	                         .task_id = task_id,
	                         .project = project,
	                         .level = strcmp(state, "failed") == 0 ? "warn" : "info",
	                         .message = why};

	if (task_id == NULL || task_id[0] == '\0')
		return;
	snprintf(type, sizeof(type), "task.%s", state);
	if (store_task_ended(r->store, task_id, &end, &ev) < 0)
		log_error("task %s: cannot record its end", task_id);
}

/* Writes the health of every project whose check reported since the last write: one transaction. */
static void flush_health(struct runner *r)
{
	bool open = false;

	for (struct project *p = r->projects; p != NULL; p = p->next) {
		char *text;
		if (!p->health.dirty)
			continue;
		if (!open && store_begin(r->store) < 0)
			return;
		open = true;
		p->health.dirty = false;
		text = health_json(&p->health);
		if (store_project_set_health(r->store, p->name, text) < 0)
			log_error("project %s: cannot record its health", p->name);
		free(text);
	}
	if (open && store_commit(r->store) < 0)
		store_rollback(r->store);
}

static void on_health_flush(struct loop *l, void *arg)
{
	struct runner *r = arg;

	r->health_flush = 0;
	flush_health(r);
}

/*
 * Results that change nothing but the last run's time and output are
 * written within HEALTH_FLUSH_MS, many projects in one transaction; a
 * change of status is written at once, before the state it causes.
 */
#define HEALTH_FLUSH_MS 1000

static void health_later(struct runner *r)
{
	if (r->health_flush == 0)
		r->health_flush = loop_timer_add(r->loop, HEALTH_FLUSH_MS, on_health_flush, r);
}

/* A run started: its check (from the release that runs) is armed. true when it has one. */
static bool arm_health(struct project *p)
{
	struct store_release rel;
	struct json_object *spec = NULL;

	if (store_release_get(p->r->store, p->sv.release_id, &rel) == 1) {
		spec = json_tokener_parse(rel.spec ? rel.spec : "");
		store_release_clear(&rel);
	}
	health_arm(&p->health, json_object_object_get(spec, "health"), util_mono_ms());
	json_object_put(spec);
	flush_health(p->r);
	return p->health.on;
}

static void on_job_started(void *owner, struct job *j)
{
	struct project *p = owner;
	struct sv_input in = {.ev = SV_EV_STARTED};

	if (p->job != j)
		return;
	in.checked = arm_health(p);
	project_feed(p, &in);
}

static void on_job_health(void *owner, struct job *j, const struct shim_health *h)
{
	struct project *p = owner;
	struct sv_input in = {0};
	char why[400];

	if (p->job != j)
		return;
	switch (health_result(&p->health, h, util_mono_ms())) {
	case HEALTH_SAME:
		health_later(p->r);
		return;
	case HEALTH_BECAME_HEALTHY:
		in.ev = SV_EV_HEALTHY;
		break;
	case HEALTH_BECAME_UNHEALTHY:
		in.ev = SV_EV_UNHEALTHY;
		snprintf(why, sizeof(why), "unhealthy: %d health checks failed in a row (last: %s)",
		         p->health.failures, h->output[0] ? h->output : "no output");
		in.why = why;
		break;
	}
	flush_health(p->r);
	project_feed(p, &in);
}

static void on_job_exited(void *owner, struct job *j, const struct job_end *e)
{
	struct project *p = owner;
	struct sv_input in = {.ev = SV_EV_EXITED, .run_ms = e->run_ms, .why = e->reason};

	if (p->job != j)
		return;
	p->job = NULL;
	health_disarm(&p->health);
	flush_health(p->r);
	in.success = e->exit.has_code && e->exit.exit_code == 0;
	project_feed(p, &in);
}

static const struct job_owner_ops project_job_ops = {
    .started = on_job_started,
    .exited = on_job_exited,
    .health = on_job_health,
};

/* A run the previous runner spawned (or this one, for a re-applied command) is ours again. */
static void adopt_task(struct project *p, const struct store_task *t, struct launch_fail *f)
{
	struct job *j;

	if (job_adopt(p->r, t, &project_job_ops, p, &j) < 0) {
		snprintf(f->why, sizeof(f->why), "cannot supervise task %s again", t->id);
		f->failed = f->keep_task = true;
		return;
	}
	p->job = j;
	f->started = j->started; /* its "started" was seen before this launch */
	log_info("project %s: task %s was launched before; supervising it", p->name, t->id);
}

/* A new pending 'service' task of the current release, with its task.created event. */
static int new_service_task(struct project *p, int64_t release_id, char id[40],
                            struct launch_fail *f)
{
	struct runner *r = p->r;
	struct store_release rel;
	int rc = -1;

	if (util_uuid4(id) < 0 || store_release_get(r->store, release_id, &rel) != 1) {
		snprintf(f->why, sizeof(f->why), "no release to start");
		return -1;
	}
	if (store_begin(r->store) == 0) {
		rc = store_task_add_service(r->store, id, p->name, release_id, rel.artifact,
		                            rel.spec);
		rc = rc == 0 ? store_commit(r->store) : (store_rollback(r->store), -1);
	}
	store_release_clear(&rel);
	if (rc < 0)
		snprintf(f->why, sizeof(f->why), "cannot add the service task");
	return rc;
}

/* The shim of a ready task: cgroup, job directory under its lock, spawn. */
static void spawn_task(struct project *p, const struct store_task *t,
                       const struct store_release *rel, struct launch_fail *f)
{
	struct runner *r = p->r;
	char cgroup[PATH_MAX] = "";
	int lock = -1, rc;

	cgroup_job_create(r, t->id, cgroup, sizeof(cgroup));
	rc = jobdir_prepare(r, t, rel, cgroup, &lock, f->why, sizeof(f->why));
	if (rc == JOBDIR_BUSY) {
		adopt_task(p, t, f); /* a shim lives there: exactly one job, always */
		return;
	}
	if (rc == 0 && job_spawn(r, t->id, p->name, cgroup, lock, &project_job_ops, p, &p->job,
	                         f->why, sizeof(f->why)) < 0)
		rc = -1;
	if (lock >= 0)
		close(lock); /* the shim holds the lock now */
	if (rc < 0) {
		f->failed = true;
		f->permanent = rc == -2;
		if (cgroup[0] != '\0')
			cgroup_job_destroy(cgroup);
	}
}

static bool is_terminal(const char *state)
{
	return strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "timeout") == 0 || strcmp(state, "cancelled") == 0;
}

/* SV_FX_LAUNCH: starts release_id as task_id (a pending task) or as a new service task. */
static void launch(struct project *p, int64_t release_id, const char *task_id,
                   struct launch_fail *f)
{
	struct runner *r = p->r;
	struct store_release rel;
	struct store_task t;
	char id[40];

	if (task_id[0] == '\0') {
		if (new_service_task(p, release_id, id, f) < 0) {
			f->failed = f->permanent = true;
			return;
		}
		task_id = id;
	}
	snprintf(p->task_id, sizeof(p->task_id), "%s", task_id);
	if (store_task_get(r->store, task_id, &t) != 1) {
		snprintf(f->why, sizeof(f->why), "the task to start does not exist");
		f->failed = f->permanent = true;
		return;
	}
	if (is_terminal(t.state) && t.release_id != 0) {
		/* a re-applied command whose run is over: the release gets a new run */
		int64_t rid = t.release_id;
		store_task_clear(&t);
		if (new_service_task(p, rid, id, f) < 0 || store_task_get(r->store, id, &t) != 1) {
			f->failed = f->permanent = true;
			return;
		}
		snprintf(p->task_id, sizeof(p->task_id), "%s", id);
	}
	if (strcmp(t.state, "pending") != 0 || t.shim_pid != 0) {
		adopt_task(p, &t, f); /* a re-applied command: this run was spawned before */
	} else if (store_release_get(r->store, t.release_id ? t.release_id : release_id, &rel) !=
	               1 ||
	           strcmp(rel.state, "ready") != 0) {
		snprintf(f->why, sizeof(f->why), "release %lld is not ready",
		         (long long)release_id);
		f->failed = f->permanent = true;
	} else {
		spawn_task(p, &t, &rel, f);
		store_release_clear(&rel);
	}
	store_task_clear(&t);
	if (f->failed) {
		log_warn("project %s: cannot start task %s: %s", p->name, p->task_id, f->why);
		if (!f->keep_task)
			end_task(r, p->task_id, p->name, "failed", f->why);
	}
}

static void on_backoff(struct loop *l, void *arg)
{
	struct project *p = arg;
	struct sv_input in = {.ev = SV_EV_TIMER};

	p->timer = 0;
	project_feed(p, &in);
}

static void arm_timer(struct project *p, int64_t delay_ms)
{
	loop_timer_cancel(p->r->loop, p->timer);
	p->backoff_until = util_now_ms() + delay_ms;
	p->timer = loop_timer_add(p->r->loop, delay_ms, on_backoff, p);
}

/* Removes files of a purged project: its releases and the job directories of its runs. */
static void purge_files(struct runner *r, const char *name)
{
	char path[PATH_MAX], (*ids)[40];
	size_t n;

	if (store_task_ids_of_project(r->store, name, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (jobdir_path(r, ids[i], path, sizeof(path)) == 0)
				helper_remove_tree(r, path);
		free(ids);
	}
	if (util_fmt(path, sizeof(path), "%s/releases/%s", r->cfg.data_dir, name) >= 0)
		helper_remove_tree(r, path);
}

static void delete_project(struct project *p, bool purge)
{
	struct runner *r = p->r;
	struct store_event ev = {.type = "project.deleted",
	                         .project = p->name,
	                         .message = purge ? "deleted and purged" : "deleted"};

	if (store_project_mark_deleted(r->store, p->name, &ev) < 0)
		log_error("project %s: cannot mark it deleted", p->name);
	if (purge) {
		purge_files(r, p->name);
		store_project_purge(r->store, p->name);
	}
	log_info("project %s: %s", p->name, ev.message);
	p->forget = true;
}

static void settle_fx(struct project *p, const struct sv_fx *f)
{
	char res[128];
	const char *result = f->result;

	if (result != NULL && strcmp(result, SV_RESULT_STATE) == 0) {
		snprintf(res, sizeof(res), "{\"state\":\"%s\",\"task_id\":\"%s\"}",
		         sv_state_name(p->sv.state), p->task_id);
		result = res;
	}
	settle_command(p->r->store, f->cmd_id, f->ok, result, f->reason);
}

/* SV_FX_STOP: the stop sequence to the run; with no run, the stop has ended at once. */
static void stop_run(struct project *p, const struct sv_fx *f, struct launch_fail *lf)
{
	loop_timer_cancel(p->r->loop, p->timer);
	p->timer = 0;
	if (p->job == NULL) {
		snprintf(lf->why, sizeof(lf->why), "no run to stop"); /* its launch failed */
		lf->failed = true;
		return;
	}
	/* the machine's own stop (failing checks) says why; a requested one does not */
	snprintf(p->job->stop_cause, sizeof(p->job->stop_cause), "%s", f->reason ? f->reason : "");
	if (job_op_stop(p->job, 0, -1) < 0)
		log_warn("project %s: the shim is not connected; the stop waits for it", p->name);
}

/* Carries out one effect; a launch that did not spawn fills *f. */
static void carry_out(struct project *p, const struct sv_fx *f, struct launch_fail *lf)
{
	struct runner *r = p->r;

	switch (f->kind) {
	case SV_FX_LAUNCH:
		launch(p, f->release_id, f->task_id, lf);
		break;
	case SV_FX_STOP:
		stop_run(p, f, lf);
		break;
	case SV_FX_SIGNAL:
		if (p->job == NULL || f->signal <= 0 || f->signal >= 65 ||
		    job_op_signal(p->job, f->signal) < 0)
			settle_command(r->store, f->cmd_id, false, NULL,
			               "cannot signal: bad signal or shim not connected");
		else
			settle_command(r->store, f->cmd_id, true, NULL, NULL);
		break;
	case SV_FX_TIMER:
		arm_timer(p, f->delay_ms);
		lf->delay_ms = f->delay_ms;
		break;
	case SV_FX_CANCEL_TIMER:
		loop_timer_cancel(r->loop, p->timer);
		p->timer = 0;
		break;
	case SV_FX_RELEASE:
		if (store_project_set_release(r->store, p->name, f->release_id) < 0)
			log_error("project %s: cannot record release %lld", p->name,
			          (long long)f->release_id);
		break;
	case SV_FX_DELETE:
		delete_project(p, f->purge);
		break;
	case SV_FX_UNDELETE:
		p->forget = false;
		p->sv.restarts = p->sv.fast_failures = 0;
		p->task_id[0] = '\0';
		if (store_project_undelete(r->store, p->name) < 0)
			log_error("project %s: cannot undelete it", p->name);
		break;
	case SV_FX_CANCEL_TASK:
		end_task(r, f->task_id, p->name, "cancelled", f->reason);
		break;
	case SV_FX_SETTLE:
		settle_fx(p, f);
		break;
	}
}

/*
 * One input and whatever follows from it: each step's effects are carried
 * out in order and its state saved with its event; a launch that did not
 * spawn is the next input (an exit of a run that never ran, or a failure
 * no retry can mend). The machine's backoff bounds the loop; the guard is
 * for a policy with no delay at all.
 */
static void project_feed(struct project *p, const struct sv_input *first)
{
	struct sv_input in = *first;
	char why[512], reason[700];

	for (int guard = 0; guard < 32; guard++) {
		struct sv_out out = {0};
		struct launch_fail lf = {.delay_ms = -1};
		struct sv_policy pol;
		enum sv_state before = p->sv.state;

		/* an exit and failing checks consult the restart policy: it is read from the release */
		if (in.ev == SV_EV_EXITED || in.ev == SV_EV_UNHEALTHY)
			project_policy(p, &pol);
		else
			memset(&pol, 0, sizeof(pol));
		sv_step(&p->sv, &in, &pol, &out);
		for (size_t i = 0; i < out.n; i++)
			carry_out(p, &out.fx[i], &lf);
		if (lf.delay_ms >= 0) {
			int n = p->sv.fast_failures;
			snprintf(reason, sizeof(reason),
			         "%s; %d fast failure%s; next start in %lld ms",
			         out.reason ? out.reason : "ended", n, n == 1 ? "" : "s",
			         (long long)lf.delay_ms);
			out.reason = reason;
		}
		project_save(p, before, out.reason);
		if (!lf.failed && !lf.started)
			break;
		snprintf(why, sizeof(why), "%s", lf.why);
		memset(&in, 0, sizeof(in));
		in.ev = lf.started ? SV_EV_STARTED : lf.permanent ? SV_EV_FAILED : SV_EV_EXITED;
		in.why = why;
		if (lf.started)
			in.checked = arm_health(p);
	}
	if (p->forget && p->extracting == 0)
		project_forget(p->r, p);
}

static void feed_cmd(struct project *p, const struct store_command *c, enum sv_event ev,
                     int64_t release_id, const char *task_id)
{
	struct sv_input in = {.ev = ev};

	/* a re-applied deploy or rollback whose run is the one we supervise: it is in effect */
	if (ev == SV_EV_SWITCH && task_id != NULL && task_id[0] != '\0' && p->job != NULL &&
	    strcmp(p->job->task_id, task_id) == 0) {
		if (p->sv.state == SV_STARTING) {
			if (p->sv.launching.id != 0 && p->sv.launching.id != c->id)
				settle_command(p->r->store, p->sv.launching.id, true,
				               SV_RESULT_SUPERSEDED, NULL);
			p->sv.launching.id = c->id;
			p->sv.launching.ev = ev;
		} else {
			settle_command(p->r->store, c->id, true, NULL, NULL);
		}
		return;
	}
	in.cmd.id = c->id;
	in.cmd.ev = ev;
	in.cmd.release_id = release_id;
	snprintf(in.cmd.task_id, sizeof(in.cmd.task_id), "%s", task_id ? task_id : "");
	project_feed(p, &in);
}

/* A deploy whose release is being extracted; the project stays in memory meanwhile. */
struct deploy_ctx {
	struct project *p;
	struct store_command cmd; /* id and target only */
	int64_t release_id;
	char task_id[40];
	bool start;
};

static void on_extracted(struct runner *r, void *arg, bool ok, const char *err)
{
	struct deploy_ctx *d = arg;
	struct project *p = d->p;

	p->extracting--;
	if (p->sv.switch_pending == d->cmd.id)
		p->sv.switch_pending = 0;
	if (!ok) {
		end_task(r, d->task_id, p->name, "failed", err);
		settle_command(r->store, d->cmd.id, false, NULL, err);
	} else if (p->last_switch_id > d->cmd.id || p->last_delete_id > d->cmd.id) {
		/* a later deploy, rollback or delete wins: the release is only ready */
		end_task(r, d->task_id, p->name, "cancelled", "superseded by a later command");
		settle_command(r->store, d->cmd.id, true, SV_RESULT_SUPERSEDED, NULL);
	} else {
		bool start = d->start && p->last_stop_id < d->cmd.id;
		/* after a later stop the release is current, for the next start, but not run */
		if (d->start && !start)
			end_task(r, d->task_id, p->name, "cancelled", "stopped by a later command");
		deploy_prune(r, p->name, d->release_id, p->sv.release_id);
		feed_cmd(p, &d->cmd, start ? SV_EV_SWITCH : SV_EV_STAGE, d->release_id, d->task_id);
		p = NULL; /* the feed may have freed it */
	}
	if (p != NULL && p->forget && p->extracting == 0)
		project_forget(r, p);
	free(d);
}

static void project_deploy(struct project *p, const struct store_command *c, struct json_object *pl)
{
	struct runner *r = p->r;
	struct deploy_ctx *d = calloc(1, sizeof(*d));
	struct store_release rel;

	if (d == NULL ||
	    store_release_get(r->store, json_get_int(pl, "release_id", 0), &rel) != 1) {
		const char *why = d ? "no such release of this project" : "out of memory";
		end_task(r, json_get_str(pl, "task_id"), p->name, "failed", why);
		settle_command(r->store, c->id, false, NULL, why);
		free(d);
		return;
	}
	d->p = p;
	d->cmd.id = c->id;
	d->release_id = rel.id;
	d->start = json_get_bool(pl, "start", true);
	snprintf(d->task_id, sizeof(d->task_id), "%s", json_get_str(pl, "task_id") ?: "");
	p->last_switch_id = c->id;
	p->sv.switch_pending = c->id; /* a delete older than this deploy never takes effect */
	if (strcmp(rel.project, p->name) != 0 || strcmp(rel.state, "failed") == 0 ||
	    strcmp(rel.state, "removed") == 0) {
		if (p->sv.switch_pending == c->id)
			p->sv.switch_pending = 0;
		end_task(r, d->task_id, p->name, "failed", "the release failed or was removed");
		settle_command(r->store, c->id, false, NULL,
		               strcmp(rel.project, p->name) != 0
		                   ? "no such release of this project"
		                   : "the release failed or was removed");
		free(d);
	} else {
		p->extracting++;
		if (strcmp(rel.state, "ready") == 0)
			on_extracted(r, d, true, NULL); /* a re-applied command after a restart */
		else if (deploy_extract(r, &rel, d->task_id, on_extracted, d) < 0)
			on_extracted(r, d, false, "cannot start the extraction helper");
	}
	store_release_clear(&rel);
}

static void project_rollback(struct project *p, const struct store_command *c,
                             struct json_object *pl)
{
	struct runner *r = p->r;
	struct store_release rel;
	int64_t id = json_get_int(pl, "release_id", 0);
	const char *why = NULL;

	if (store_release_get(r->store, id, &rel) != 1 || strcmp(rel.project, p->name) != 0)
		why = "no such release of this project";
	else if (strcmp(rel.state, "ready") != 0)
		why = "the release is not ready (removed or failed)";
	if (why == NULL) {
		p->last_switch_id = c->id;
		feed_cmd(p, c, SV_EV_SWITCH, id, json_get_str(pl, "task_id"));
	} else {
		end_task(r, json_get_str(pl, "task_id"), p->name, "failed", why);
		settle_command(r->store, c->id, false, NULL, why);
	}
	if (rel.spec != NULL || rel.id != 0)
		store_release_clear(&rel);
}

void project_command(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	static const struct {
		const char *op;
		enum sv_event ev;
	} simple[] = {{"start", SV_EV_START},
	              {"stop", SV_EV_STOP},
	              {"restart", SV_EV_RESTART},
	              {"signal", SV_EV_SIGNAL},
	              {"delete", SV_EV_DELETE}};
	const char *op = c->kind + strlen("project.");
	bool deploy = strcmp(op, "deploy") == 0;
	struct project *p = project_find(r, c->target, deploy);
	struct sv_input in = {0};

	if (p == NULL) {
		settle_command(r->store, c->id, false, NULL, "no such project");
		return;
	}
	if (deploy) {
		project_deploy(p, c, pl);
		return;
	}
	if (strcmp(op, "rollback") == 0) {
		project_rollback(p, c, pl);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
		if (strcmp(op, simple[i].op) != 0)
			continue;
		in.ev = in.cmd.ev = simple[i].ev;
		in.cmd.id = c->id;
		in.cmd.purge = json_get_bool(pl, "purge", false);
		in.cmd.signal = (int)json_get_int(pl, "signal", 0);
		if (in.ev == SV_EV_STOP)
			p->last_stop_id = c->id;
		if (in.ev == SV_EV_DELETE &&
		    store_command_later_launch(r->store, p->name, c->id) == 1) {
			/* a later start or deploy is already waiting: it wins, even after a restart
			 */
			settle_command(r->store, c->id, true, SV_RESULT_SUPERSEDED, NULL);
			return;
		}
		if (in.ev == SV_EV_DELETE)
			p->last_delete_id = c->id;
		project_feed(p, &in);
		return;
	}
	settle_command(r->store, c->id, false, NULL, "unknown project command");
}

void project_adopt(void *arg, struct job *j, const struct store_task *t)
{
	struct runner *r = arg;
	struct project *p = t->project[0] ? project_find(r, t->project, true) : NULL;

	if (p == NULL)
		return; /* not a project's run: its end is recorded, nobody is told */
	j->ops = &project_job_ops;
	j->owner = p;
	p->job = j;
	snprintf(p->task_id, sizeof(p->task_id), "%s", j->task_id);
	/* a launch the previous runner did not get to record: the run is under way */
	if (!sv_has_run(p->sv.state)) {
		p->sv.state = SV_STARTING;
		p->sv.desired_running = true;
	}
	/*
	 * A run seen started before: no "started" comes again, so its check is
	 * armed now ('starting' in the row is also a run waiting for its first
	 * pass), and checking begins again from its first result.
	 */
	if (j->started && p->sv.state != SV_STOPPING) {
		bool checked = arm_health(p);
		if (p->sv.state == SV_STARTING)
			p->sv.state = checked ? SV_CHECKING : SV_RUNNING;
	}
	/* the stop was under way; sent again once connected, and the shim keeps its first deadline
	 */
	if (p->sv.state == SV_STOPPING)
		j->stop_requested = true;
}

/* A backoff that was under way when the runner stopped goes on where it was. */
static void resume_timer(struct project *p)
{
	int64_t left = p->backoff_until - util_now_ms();

	p->timer = loop_timer_add(p->r->loop, left > 0 ? left : 0, on_backoff, p);
}

int project_load_all(struct runner *r)
{
	struct store_project *rows;
	size_t n;

	if (store_projects_supervised(r->store, &rows, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct project *p = project_find(r, rows[i].name, false);
		if (p != NULL && (p->sv.state == SV_BACKOFF || p->sv.state == SV_CRASHLOOP))
			resume_timer(p);
	}
	free(rows);
	return 0;
}

/*
 * After recovery: a project that says a run is under way but has none lost
 * it while the runner was away (its end was recorded, its state not). It
 * starts again if it should run, else it is stopped; except a project that
 * a queued command is about to settle: a deploy accepted while the runner
 * was down must run as the task its 202 named, once its release is ready.
 */
void project_settle_all(struct runner *r)
{
	struct project *next;

	for (struct project *p = r->projects; p != NULL; p = next) {
		struct sv_input in = {.ev = SV_EV_START};
		enum sv_state s = p->sv.state;

		next = p->next;
		if (p->job != NULL || !sv_has_run(s))
			continue;
		if (store_command_open_for(r->store, p->name) == 1)
			continue;
		p->sv.state = SV_STOPPED;
		if (p->sv.desired_running && s != SV_STOPPING) {
			project_feed(p, &in);
			continue;
		}
		project_save(p, s, "no run found after a runner restart");
	}
}
