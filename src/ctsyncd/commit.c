/*
 * commit.c - the external caches into the kernel, in slices.
 *
 * A commit writes a snapshot of the external caches (entry pointers: the
 * kernel wants pull) in slices of COMMIT_SLICE_MS, one a turn of the
 * loop, so that between them the peers' datagrams are taken and answered
 * (ACKs, NACKs, heartbeats), the control socket is served and the
 * watchdog fed: at millions of flows a commit takes tens of seconds.
 * Requests that change state wait for its end (requests.c).
 *
 * The loop may change the external caches meanwhile.  Each entry is
 * written with its state as of its slice; one deleted meanwhile is
 * skipped (counted gone): the caches are held for the commit's length
 * (ftfw_hold_external()), so a deleted entry keeps its memory, marked
 * dead, until the commit ends.  Only a flush of the external cache would
 * free them, and a flush changes state: it waits for the commit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "ftfw.h"
#include "log.h"
#include "node.h"

#define COMMIT_SLICE_MS		50
#define COMMIT_PROGRESS_MS	5000	/* CTL_REP_PROGRESS to the client */

/* A commit under way (commit_start()): written in slices. */
struct commit_job {
	struct daemon *d;
	struct client *cl;		/* waits for the answer; NULL: gone */
	bool master;			/* then announce and resync */
	bool quiet;			/* kernel events paused */
	unsigned flags;			/* KERNEL_REFRESH */
	int err;			/* collecting failed: end with it */
	struct cache_entry **v;
	size_t n, cap, i;
	uint64_t gone;			/* left the external caches meanwhile */
	uint64_t slice_end;		/* us */
	uint64_t t0, progress_at;	/* us, ms */
	struct commit_result r;		/* the slices so far */
};

static int collect_one(struct cache_entry *e, uint32_t origin, void *arg)
{
	struct commit_job *j = arg;
	const struct cache_entry *o;
	const struct cache *skip = j->flags & KERNEL_REFRESH ? NULL : j->d->internal;

	if (e->flags & CE_DEAD)
		return 0;
	if (skip && (o = cache_find(skip, &cache_flow(e)->key)) && !(o->flags & CE_DEAD))
		return 0;
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 4096;
		struct cache_entry **v = realloc(j->v, cap * sizeof(*v));

		if (!v)
			return -1;
		j->v = v;
		j->cap = cap;
	}
	j->v[j->n++] = e;
	return 0;
}

static const struct flow *commit_next(void *arg, bool *del)
{
	struct commit_job *j = arg;

	while (j->i < j->n) {
		struct cache_entry *e = j->v[j->i];

		if ((j->i & 255) == 0 && now_us() >= j->slice_end)
			return NULL;	/* the rest in the next slice */
		j->i++;
		if (!(e->flags & CE_DEAD))
			return cache_flow(e);
		j->gone++;
	}
	return NULL;
}

static void commit_add(struct commit_result *sum, const struct commit_result *r)
{
	sum->created += r->created;
	sum->exists += r->exists;
	sum->updated += r->updated;
	sum->update_failed += r->update_failed;
	sum->failed += r->failed;
	sum->events_lost |= r->events_lost;
	if (!sum->first_error && r->first_error) {
		sum->first_error = r->first_error;
		memcpy(sum->first_failed, r->first_failed, sizeof(sum->first_failed));
	}
}

/* Commits at least this large, and of at least as many flows as the
 * table holds already, run with kernel events paused (commit_start()). */
#define COMMIT_QUIET_MIN	4096

/*
 * Commit the external caches into the kernel for cl (NULL: nobody
 * waits), over the next turns of the loop; cl is answered at the end.
 * flags: KERNEL_REFRESH, entries already there take the replica's state;
 * without it only the flows the internal cache (just re-read from the
 * kernel) does not hold.  master: become master once written (do_master()).
 */
void commit_start(struct daemon *d, struct client *cl, unsigned flags, bool master)
{
	struct commit_job *j = calloc(1, sizeof(*j));
	int rc = 0;

	if (!j) {
		/* Without memory for a job, nothing can wait for one: the
		 * client learns at once; a new master still announces. */
		log_warnx("commit: out of memory");
		if (master)
			node_announce(d, NULL, 0);
		if (cl)
			ctl_put_done(&cl->c->out, -ENOMEM, "commit: out of memory");
		return;
	}
	j->d = d;
	j->cl = cl;
	j->master = master;
	j->flags = flags;
	j->t0 = now_us();
	j->progress_at = now_ms() + COMMIT_PROGRESS_MS;
	ftfw_hold_external(d->ftfw, true);
	rc = ftfw_foreach_external(d->ftfw, FTFW_ALL_PEERS, collect_one, j);
	if (rc < 0) {
		j->err = -ENOMEM;
		j->n = 0;
	}
	/* A large commit (most of the table to be) runs without the events
	 * its creates would cause: building them was a fifth of its time.
	 * A dump afterwards, cheaper than reading a million events, takes
	 * the flows in as ours, and with them whatever traffic did
	 * meanwhile. */
	j->quiet = j->n >= COMMIT_QUIET_MIN && j->n >= cache_live(d->internal);
	if (j->quiet && kernel_listen(d->k, false) < 0) {
		log_warn("commit: pausing kernel events");
		j->quiet = false;
	}
	if (cl)
		cl->c->waiting = true;
	d->job = j;
	daemon_arm(d);
}

/* Tell the client how far the commit got, so that its deadline measures
 * silence, not the length of the work. */
static void commit_progress(struct commit_job *j)
{
	uint64_t body[2] = { j->i, j->n };

	if (!j->cl || now_ms() < j->progress_at)
		return;
	j->progress_at = now_ms() + COMMIT_PROGRESS_MS;
	ctl_put_frame(&j->cl->c->out, CTL_REP_PROGRESS, body, sizeof(body));
	client_kick(j->cl);
}

static void commit_end(struct daemon *d, int err);

/* The job's memory, and the hold on the external caches it took. */
static void job_free(struct daemon *d, struct commit_job *j)
{
	ftfw_hold_external(d->ftfw, false);
	free(j->v);
	free(j);
}

/* One slice of the commit under way. */
void commit_step(struct daemon *d)
{
	struct commit_job *j = d->job;
	struct commit_result r;

	if (j->err) {
		commit_end(d, j->err);
		return;
	}
	j->slice_end = now_us() + COMMIT_SLICE_MS * 1000;
	if (kernel_commit(d->k, commit_next, j, d->conf.kernel.commit_batch, j->flags,
			  j->quiet ? NULL : node_on_flow, d, &r) < 0) {
		commit_end(d, -errno);
		return;
	}
	commit_add(&j->r, &r);
	if (j->i == j->n)
		commit_end(d, 0);
	else
		commit_progress(j);
}

static void commit_report(struct daemon *d, struct commit_job *j, uint64_t usec,
			  char *msg, size_t len)
{
	const struct commit_result *r = &j->r;
	struct ctl_client *c = j->cl ? j->cl->c : NULL;

	d->cs.runs++;
	d->cs.created += r->created;
	d->cs.exists += r->exists;
	d->cs.failed += r->failed;
	d->cs.last_usec = usec;
	if (c) {
		ctl_put_kv_u64(&c->out, "commit", "created", r->created);
		ctl_put_kv_u64(&c->out, "commit", "exists", r->exists);
		ctl_put_kv_u64(&c->out, "commit", "updated", r->updated);
		ctl_put_kv_u64(&c->out, "commit", "update_failed", r->update_failed);
		ctl_put_kv_u64(&c->out, "commit", "failed", r->failed);
		ctl_put_kv_u64(&c->out, "commit", "gone", j->gone);
		ctl_put_kv_u64(&c->out, "commit", "usec", usec);
		if (r->failed || r->update_failed)
			ctl_put_kv_str(&c->out, "commit", "first_error", r->first_failed[0] ?
				       r->first_failed : strerror(r->first_error));
	}
	snprintf(msg, len, "committed %" PRIu64 " flows in %.1f ms "
		 "(created %" PRIu64 ", already present %" PRIu64 " and updated %" PRIu64
		 ", failed %" PRIu64 "%s)", r->created + r->exists + r->failed,
		 (double)usec / 1000, r->created, r->exists, r->updated, r->failed,
		 j->gone ? "; some left the external cache meanwhile" : "");
	log_info("%s", msg);
	if (r->failed || r->update_failed)
		log_warnx("commit: first failure: %s: %s", r->first_failed,
			  strerror(r->first_error));
}

/* The commit is over (err: how it failed): answer, then take the
 * requests that waited for it. */
static void commit_end(struct daemon *d, int err)
{
	struct commit_job *j = d->job;
	struct client *cl = j->cl;
	uint64_t usec = now_us() - j->t0;
	char msg[512];
	int rc = err;

	d->job = NULL;
	if (j->quiet) {
		if (kernel_listen(d->k, true) < 0)
			log_warn("commit: resuming kernel events");
		/* Not a loss: what the commit did is re-read on purpose. */
		if (!d->reread_since)
			d->reread_since = now_ms();
	}
	if (err) {
		snprintf(msg, sizeof(msg), "commit failed: %s", strerror(-err));
		log_warnx("%s", msg);
	} else {
		if (j->r.events_lost)
			node_events_lost(d, "commit");
		commit_report(d, j, usec, msg, sizeof(msg));
	}
	if (j->master) {
		char why[160];
		size_t failed, l;

		if ((failed = node_announce(d, why, sizeof(why)))) {
			/* The state is in the kernel, but neighbours may keep
			 * sending to the old master: the operator must know. */
			l = strlen(msg);
			snprintf(msg + l, sizeof(msg) - l, "; %zu of %zu "
				 "announcements failed, first %s", failed,
				 d->conf.failover.nannounce, why);
			if (rc == 0)
				rc = -ENXIO;
		}
	}
	job_free(d, j);
	if (cl) {
		cl->c->waiting = false;
		ctl_put_done(&cl->c->out, rc, msg);
		client_kick(cl);
	}
	daemon_flush(d);
	request_unpark(d);
}

/* Flows the commit under way has still to write (stats). */
size_t commit_pending(const struct daemon *d)
{
	return d->job ? d->job->n - d->job->i : 0;
}

/* cl is closing: the commit goes on, unanswered. */
void commit_client_gone(struct daemon *d, struct client *cl)
{
	if (d->job && d->job->cl == cl)
		d->job->cl = NULL;
}

/* At exit, with a commit under way: nobody waits any more. */
void commit_free(struct daemon *d)
{
	if (d->job)
		job_free(d, d->job);
	d->job = NULL;
}
