/*
 * standby.h - hot standby: a backup keeps its peers' flows in its own
 * kernel, so that the packets keepalived sends its way the moment it
 * becomes master (before any notify script has run) find their state.
 * Pure: it is given the time and told what changed, and gives back the
 * writes to make; the caller owns the kernel socket and runs them
 * (kernel_commit() pulling standby_next()).
 *
 * The external caches are the caller's (one per peer, filled by the
 * replication engine): the module reaches them only through
 * struct standby_ops, and keeps its own bookkeeping in their entries as
 * side data (queued, kexp; standby_reserve()).
 *
 *   - A changed flow waits in a queue by key, once (queued), and is
 *     written with its state as of the write: created, or updated where
 *     the kernel has it.  A key no peer holds any more is deleted.
 *     Deletes always wait; past STANDBY_QUEUE waiting changes the rest
 *     are deferred to the refresh sweep.
 *   - Writes go in steps of STANDBY_CHUNK at most, so the caller serves
 *     its peers, control socket and watchdog in between.
 *   - Every STANDBY_SWEEP_MS a sweep queues the copies whose timeout
 *     comes within STANDBY_MARGIN_S, and those never written (kexp 0):
 *     a copy with timeout T is rewritten about every T - STANDBY_MARGIN_S
 *     seconds.
 *   - A copy removed from the kernel by someone else (expired, flushed by
 *     hand) while a peer still holds the flow is put back.
 *   - A flow this node also claims as its own (it carried it while it was
 *     master) is the peer's once its copy is written: the write says to
 *     withdraw the claim.
 */
#ifndef CTSYNC_STANDBY_H
#define CTSYNC_STANDBY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "flow.h"

#define STANDBY_SWEEP_MS	5000	/* how often copies are checked */
#define STANDBY_MARGIN_S	15	/* life a copy must have left */
/* Writes per step (a few tens of ms of kernel work). */
#define STANDBY_CHUNK		8192
/* Changed flows waiting to be written before the sweep takes over. */
#define STANDBY_QUEUE		65536
/* The life taken for a copy whose flow carries no timeout. */
#define STANDBY_TIMEOUT_S	120

/* Where the module's side data lies in an external entry (cache.h). */
struct standby_side {
	size_t queued;		/* uint8_t: waiting in the queue */
	size_t kexp;		/* uint32_t: when the kernel's copy runs out
				 * (the caller's clock, s); 0 not written */
};

/* Reserve the module's side data in l, the external caches' layout. */
struct standby_side standby_reserve(struct cache_layout *l);

/* How the module reaches the external caches.  Every callback gets arg. */
struct standby_ops {
	/* The live entry (no tombstone) of the peer holding k, or NULL
	 * when no peer holds k. */
	struct cache_entry *(*find)(void *arg, const struct flow_key *k);
	/* Call fn on every entry of every external cache, tombstones
	 * included, until it returns nonzero; return that value, or 0. */
	int (*foreach)(void *arg, int (*fn)(struct cache_entry *e, void *fn_arg),
		       void *fn_arg);
	/* Does this node hold k as its own flow (live in its internal
	 * cache)? */
	bool (*own)(void *arg, const struct flow_key *k);
	void *arg;
	struct standby_side side;	/* standby_reserve() on their layout */
};

/* One write, from standby_next(). */
struct standby_op {
	const struct flow *flow;	/* valid until the next call into the
					 * module or the caches */
	bool del;			/* delete flow->key (else create, or
					 * update what exists) */
	bool release;			/* the flow is the peer's now: withdraw
					 * this node's own claim on it */
};

/* What a step's writes did, as the kernel reported it. */
struct standby_result {
	uint64_t created, updated, deleted;
	uint64_t failed;		/* creates and updates refused */
};

struct standby_stats {
	uint64_t flushes;		/* steps written */
	uint64_t written;		/* created + updated */
	uint64_t created, updated, deleted, failed;
	uint64_t refreshed;		/* rewritten before their timeout ran out */
	uint64_t restored;		/* put back after someone else removed them */
	uint64_t released;		/* own claims withdrawn */
	uint64_t events;		/* kernel events about copies */
	uint64_t deferred;		/* left to the sweep: queue full */
	uint64_t dropped;		/* deletes lost: out of memory */
};

struct standby;

/* Inactive until standby_start().  ops is copied.  NULL on ENOMEM. */
struct standby *standby_new(const struct standby_ops *ops);
void standby_free(struct standby *st);

/*
 * This node becomes a hot backup (again): every copy is to be written
 * (again), whatever was written before (entries this node made while it
 * was master carry stale TCP windows), and the refresh sweep runs.
 * Nothing is written until the caller steps (standby_step()).
 */
void standby_start(struct standby *st, uint64_t now);
/* No longer a backup: nothing waits any more, nothing is swept. */
void standby_stop(struct standby *st);
bool standby_active(const struct standby *st);

/* The external caches changed k (a flow new, changed, or gone): its copy
 * is to follow.  Ignored while inactive. */
void standby_changed(struct standby *st, const struct flow_key *k);

/* Is k a peer's flow this (active) backup holds only a copy of?  Such a
 * flow is not this node's to replicate. */
bool standby_is_copy(const struct standby *st, const struct flow_key *k);

/*
 * A kernel event about k (destroy: the entry is gone; own: caused by our
 * own writes).  Returns true when k is a copy (standby_is_copy()): the
 * event is the module's, and a copy destroyed by someone else is queued
 * to be put back.  false: the event is the caller's.
 */
bool standby_kernel_event(struct standby *st, const struct flow_key *k,
			  bool destroy, bool own);

/* When the caller is next to step: now if writes wait, the next sweep,
 * or UINT64_MAX (inactive). */
uint64_t standby_next_deadline(const struct standby *st, uint64_t now);

/*
 * A step of writes.  standby_step() starts one at now (sweeping first
 * when the queue is empty and a sweep is due) and returns false when
 * there is nothing to write.  Then standby_next() yields up to
 * STANDBY_CHUNK writes (false when the step is over), and
 * standby_step_done() takes what the kernel did with them; or, when the
 * writes could not be made at all, standby_step_failed() leaves every
 * copy to the next sweep (so a broken socket is not retried in a spin).
 */
bool standby_step(struct standby *st, uint64_t now);
bool standby_next(struct standby *st, struct standby_op *op);
void standby_step_done(struct standby *st, const struct standby_result *r);
void standby_step_failed(struct standby *st);

/* Keys waiting to be written. */
size_t standby_queued(const struct standby *st);
const struct standby_stats *standby_stats(const struct standby *st);

#endif
