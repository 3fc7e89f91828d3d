/*
 * standby.c - hot standby: which of the peers' flows to write into this
 * backup's kernel, and when (see standby.h).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "standby.h"

struct standby {
	struct standby_ops ops;
	bool     active;
	struct flow_key *keys;		/* waiting: keys[i..n) */
	size_t   n, cap, i;
	unsigned budget;		/* writes left in this step */
	bool     sweep_due;		/* sweep before the queue runs dry */
	uint32_t now_s;			/* the step's time (s) */
	uint64_t sweep_at;		/* next refresh sweep (ms), 0 none */
	struct flow gone;		/* what a delete yields */
	struct standby_stats st;
};

struct standby_side standby_reserve(struct cache_layout *l)
{
	struct standby_side side;

	side.queued = cache_reserve(l, sizeof(uint8_t), _Alignof(uint8_t));
	side.kexp = cache_reserve(l, sizeof(uint32_t), _Alignof(uint32_t));
	return side;
}

static inline uint8_t *queued(const struct standby *st, struct cache_entry *e)
{
	return cache_side(e, st->ops.side.queued);
}

static inline uint32_t *kexp(const struct standby *st, struct cache_entry *e)
{
	return cache_side(e, st->ops.side.kexp);
}

struct standby *standby_new(const struct standby_ops *ops)
{
	struct standby *st = calloc(1, sizeof(*st));

	if (st)
		st->ops = *ops;
	return st;
}

void standby_free(struct standby *st)
{
	if (!st)
		return;
	free(st->keys);
	free(st);
}

static bool queue_full(const struct standby *st)
{
	return st->n - st->i >= STANDBY_QUEUE;
}

/* Append k; -1 when memory ran out. */
static int push(struct standby *st, const struct flow_key *k)
{
	if (st->n == st->cap && st->i > 0) {	/* reuse the consumed front */
		memmove(st->keys, st->keys + st->i, (st->n - st->i) * sizeof(*st->keys));
		st->n -= st->i;
		st->i = 0;
	}
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 1024;
		struct flow_key *v = realloc(st->keys, cap * sizeof(*v));

		if (!v)
			return -1;
		st->keys = v;
		st->cap = cap;
	}
	st->keys[st->n++] = *k;
	return 0;
}

/* Queue e (a live external entry): once; with the queue full, or no
 * memory, it is left to the sweep. */
static void queue(struct standby *st, struct cache_entry *e)
{
	if (*queued(st, e))
		return;
	if (queue_full(st) || push(st, &cache_flow(e)->key) < 0) {
		*kexp(st, e) = 0;
		st->sweep_due = true;
		st->st.deferred++;
		return;
	}
	*queued(st, e) = 1;
}

/* k's copy must follow the external caches: written, or deleted when no
 * peer holds k any more. */
static void note(struct standby *st, const struct flow_key *k)
{
	struct cache_entry *e = st->ops.find(st->ops.arg, k);

	if (e)
		queue(st, e);
	else if (push(st, k) < 0 && st->st.dropped++ == 0)
		log_warnx("hot standby: out of memory, a destroyed flow stays "
			  "in the kernel until it times out");
}

void standby_changed(struct standby *st, const struct flow_key *k)
{
	if (st->active)
		note(st, k);
}

bool standby_is_copy(const struct standby *st, const struct flow_key *k)
{
	return st->active && st->ops.find(st->ops.arg, k);
}

bool standby_kernel_event(struct standby *st, const struct flow_key *k,
			  bool destroy, bool own)
{
	if (!standby_is_copy(st, k))
		return false;
	st->st.events++;
	if (destroy && !own) {
		st->st.restored++;
		note(st, k);
	}
	return true;
}

/* Every copy is to be written again. */
static int unwritten_one(struct cache_entry *e, void *arg)
{
	const struct standby *st = arg;

	*kexp(st, e) = 0;
	*queued(st, e) = 0;
	return 0;
}

static void rewrite_all(struct standby *st)
{
	st->i = st->n = 0;
	st->ops.foreach(st->ops.arg, unwritten_one, st);
	st->sweep_due = true;
}

void standby_start(struct standby *st, uint64_t now)
{
	if (!st->active)
		st->sweep_at = now + STANDBY_SWEEP_MS;
	st->active = true;
	rewrite_all(st);
}

/* The entries keep their queued mark: standby_start() clears it. */
void standby_stop(struct standby *st)
{
	st->active = false;
	st->i = st->n = 0;
	st->sweep_due = false;
	st->sweep_at = 0;
}

bool standby_active(const struct standby *st)
{
	return st->active;
}

static bool pending(const struct standby *st)
{
	return st->active && (st->i < st->n || st->sweep_due);
}

uint64_t standby_next_deadline(const struct standby *st, uint64_t now)
{
	if (pending(st))
		return now;
	return st->sweep_at ? st->sweep_at : UINT64_MAX;
}

/* Queue the copies that run out within the margin or were never written,
 * until the queue is full (the next sweep goes on from there). */
static int sweep_one(struct cache_entry *e, void *arg)
{
	struct standby *st = arg;

	if ((e->flags & CE_DEAD) || *queued(st, e) ||
	    *kexp(st, e) > st->now_s + STANDBY_MARGIN_S)
		return 0;
	if (queue_full(st))
		return 1;
	if (*kexp(st, e))
		st->st.refreshed++;
	queue(st, e);
	return 0;
}

static void sweep(struct standby *st)
{
	st->sweep_due = false;	/* a deferral meanwhile sets it again */
	if (st->ops.foreach(st->ops.arg, sweep_one, st))
		st->sweep_due = true;
}

bool standby_step(struct standby *st, uint64_t now)
{
	if (st->active && st->sweep_at && st->sweep_at <= now) {
		st->sweep_due = true;
		st->sweep_at = now + STANDBY_SWEEP_MS;
	}
	if (!pending(st))
		return false;
	st->now_s = (uint32_t)(now / 1000);
	if (st->i == st->n) {
		st->i = st->n = 0;
		sweep(st);
		if (st->i == st->n)
			return false;
	}
	st->budget = STANDBY_CHUNK;
	return true;
}

bool standby_next(struct standby *st, struct standby_op *op)
{
	struct cache_entry *e;
	struct flow *f;
	struct flow_key k;

	if (st->i == st->n || !st->budget)
		return false;
	k = st->keys[st->i++];
	st->budget--;
	*op = (struct standby_op){ 0 };
	if (!(e = st->ops.find(st->ops.arg, &k))) {
		st->gone.key = k;
		op->flow = &st->gone;
		op->del = true;
		return true;
	}
	*queued(st, e) = 0;
	if (st->ops.own(st->ops.arg, &k)) {
		op->release = true;
		st->st.released++;
	}
	f = cache_flow(e);
	*kexp(st, e) = st->now_s + ((f->flags & FLOW_F_TIMEOUT) ?
				    f->timeout : STANDBY_TIMEOUT_S);
	op->flow = f;
	return true;
}

void standby_step_done(struct standby *st, const struct standby_result *r)
{
	if (st->i == st->n)
		st->i = st->n = 0;
	st->st.flushes++;
	st->st.written += r->created + r->updated;
	st->st.created += r->created;
	st->st.updated += r->updated;
	st->st.deleted += r->deleted;
	st->st.failed += r->failed;
}

void standby_step_failed(struct standby *st)
{
	rewrite_all(st);
	st->sweep_due = false;
}

size_t standby_queued(const struct standby *st)
{
	return st->n - st->i;
}

const struct standby_stats *standby_stats(const struct standby *st)
{
	return &st->st;
}
