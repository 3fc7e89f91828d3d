/*
 * cache.h - a table of objects of one kind, keyed by the key each object
 * begins with.  Pure.
 *
 * What an object is (its size, how its key hashes and compares, how it
 * is copied and whether two states differ) is its kind's
 * (struct cache_kind; flows: cache_kind_flow in flow.c).  The table
 * serves as the internal cache (this node's flows, the sender's side) and
 * as the external caches (one per peer, the receiver's side).
 *
 * Beside the object, each entry holds side data: the bookkeeping of the
 * modules that use the cache (the FT-FW engine's queue node and reconcile
 * generation, hot standby's write state).  Each module reserves its
 * fields in a struct cache_layout before the cache is made, and reaches
 * them by offset (cache_side()); the cache itself knows nothing of them.
 * A table never allocates beyond max_entries live-or-tombstoned entries
 * (0 = unlimited).
 */
#ifndef CTSYNC_CACHE_H
#define CTSYNC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"

/* cache_entry.flags */
#define CE_DEAD		0x01	/* tombstone: destroyed, kept until peers know */

/*
 * The operations of a kind of object.  An object begins with its key;
 * hash and equal take keys (an object's address is its key's), the
 * others objects.  Objects need no more alignment than a pointer.
 */
struct cache_kind {
	const char *name;
	size_t obj_size;
	/* Seeded, so that a peer cannot aim its keys at one bucket. */
	uint32_t (*hash)(const void *key, uint32_t seed);
	bool (*equal)(const void *a, const void *b);
	/* Deep copy src over dst (a zeroed object, or one copied before,
	 * whose memory it may reuse).  0, or -1 with errno ENOMEM and dst
	 * unchanged. */
	int (*copy)(void *dst, const void *src);
	/* Free what copy allocated, leaving a valid object (a tombstone
	 * keeps its key and nothing more).  NULL: objects own nothing. */
	void (*release)(void *obj);
	/* Same replicated state: taking b over a changes nothing a peer or
	 * the kernel needs to hear of. */
	bool (*state_equal)(const void *a, const void *b);
};

/* Spare bytes of an entry's header (after flags, before the object). */
#define CACHE_SPARE	(sizeof(void *) - 1)

/*
 * An entry (offsets on LP64):
 *
 *    0        8       9            16                 16 + obj_size
 *   +--------+-------+------------+------------------+---------------+
 *   | hnext  | flags | spare side | object           | side data ... |
 *   +--------+-------+------------+------------------+---------------+
 *
 * The object sits at a fixed offset (cache_obj() costs an add).  Side
 * fields small enough fill the header's spare bytes, the rest follow the
 * object (struct cache_layout), so a byte-sized field costs nothing.
 */
struct cache_entry {
	struct cache_entry *hnext;	/* chain; the free list when free */
	uint8_t flags;			/* CE_* */
	uint8_t spare[CACHE_SPARE];	/* side data (cache_reserve()) */
};

static inline void *cache_obj(struct cache_entry *e)
{
	return (char *)e + sizeof(*e);
}

/* A user's side field, at the offset cache_reserve() gave it. */
static inline void *cache_side(struct cache_entry *e, size_t off)
{
	return (char *)e + off;
}

/*
 * The shape of a cache's entries: its kind and the side data its users
 * reserved.  Build it before cache_new(), which copies it.
 */
struct cache_layout {
	const struct cache_kind *kind;
	size_t  size;		/* bytes an entry takes so far */
	uint8_t spare;		/* spare header bytes taken, one bit each */
};

void cache_layout_init(struct cache_layout *l, const struct cache_kind *kind);

/*
 * Reserve size bytes aligned to align (a power of two, at most a
 * pointer's) in every entry; returns their offset for cache_side().  The
 * first spare header bytes that fit are taken, else room after the
 * object and what was reserved before.
 */
size_t cache_reserve(struct cache_layout *l, size_t size, size_t align);

struct cache_stats {
	uint64_t added;
	uint64_t deleted;
	uint64_t full;		/* adds refused at max_entries */
	uint64_t nomem;
};

/*
 * Entries come from slabs of CACHE_SLAB objects, esize bytes each, and go
 * back to a free list: no allocator header or rounding per entry (at a
 * million flows that was 8-16 bytes each).  Slabs are released when the
 * cache is cleared.
 */
#define CACHE_SLAB	1024

struct cache_slab {
	struct cache_slab *next;
	max_align_t mem[];
};

/*
 * The table doubles when the load reaches 1, incrementally: while old is
 * set, old buckets below migrated have been moved into buckets (twice as
 * many), the rest are still in old, and every cache_add() moves a few
 * more.  No single call ever rehashes the whole table (at 1M entries
 * that stalled the event loop for tens of milliseconds).
 */
struct cache {
	struct cache_entry **buckets;
	uint32_t nbuckets;	/* power of two */
	struct cache_entry **old;	/* table being emptied, or NULL */
	uint32_t nold;		/* its size: nbuckets / 2 */
	uint32_t migrated;	/* old buckets [0, migrated) are moved */
	unsigned iterating;	/* cache_foreach() under way: no moves */
	uint32_t seed;
	const struct cache_kind *kind;
	/* the kind's, copied: one load less per lookup */
	uint32_t (*hash)(const void *key, uint32_t seed);
	bool (*equal)(const void *a, const void *b);
	size_t   count;		/* entries, tombstones included */
	size_t   dead;		/* tombstones */
	size_t   max;
	size_t   esize;		/* bytes per entry */
	struct cache_slab *slabs;
	struct cache_entry *free;	/* free entries, through hnext */
	unsigned holding;		/* cache_hold() depth */
	struct cache_entry *held;	/* deleted while held, through hnext */
	struct cache_stats st;
};

/* Entries shaped by l.  Returns NULL on ENOMEM. */
struct cache *cache_new(const struct cache_layout *l, size_t max_entries,
			uint32_t seed);
void cache_free(struct cache *c);
/* Remove every entry (callers first unlink entries from their lists). */
void cache_clear(struct cache *c);

struct cache_entry *cache_find(const struct cache *c, const void *key);

/*
 * Add a copy of obj (the kind's copy).  The new entry's flags and side
 * data are zero.  Returns NULL when the cache is full (st.full) or memory
 * ran out (st.nomem).  The key must not be present.
 */
struct cache_entry *cache_add(struct cache *c, const void *obj);

/* Take obj's state (its key must be e's); 0, or -1 on ENOMEM (e's
 * unchanged). */
static inline int cache_update(const struct cache *c, struct cache_entry *e,
			       const void *obj)
{
	return c->kind->copy(cache_obj(e), obj);
}

/* Would taking obj's state change nothing of e's replicated state? */
static inline bool cache_same_state(const struct cache *c, struct cache_entry *e,
				    const void *obj)
{
	return c->kind->state_equal(cache_obj(e), obj);
}

/* Free what e's object owns beyond its key (a tombstone's). */
static inline void cache_release(const struct cache *c, struct cache_entry *e)
{
	if (c->kind->release)
		c->kind->release(cache_obj(e));
}

/* Unlink e from the table and free it.  e must not be on any list. */
void cache_del(struct cache *c, struct cache_entry *e);

/*
 * Hold (on) or release the entries cache_del() frees: while held, a
 * deleted entry leaves the table but keeps its memory, marked CE_DEAD
 * (its object released, its key kept), so a pointer to it taken before
 * stays safe to read; it is freed when the last hold ends.  For a walk
 * that spans turns of the event loop over a snapshot of entries (the
 * daemon's sliced commit).  Nests.  cache_clear() and cache_free() free
 * held entries too: a holder must not call them.
 */
void cache_hold(struct cache *c, bool on);

/* Mark or clear a tombstone, keeping c->dead right. */
void cache_set_dead(struct cache *c, struct cache_entry *e, bool dead);

static inline size_t cache_live(const struct cache *c)
{
	return c->count - c->dead;
}

/*
 * Iterate over every entry; fn may call cache_del() on the entry it is
 * given (and only on that one).  Stops early if fn returns nonzero, and
 * returns that value.
 */
int cache_foreach(struct cache *c, int (*fn)(struct cache_entry *e, void *arg),
		  void *arg);

#endif
