/*
 * cache.h - a table of flows keyed by original tuple + zone.  Pure.
 *
 * The same table serves as the internal cache (this node's flows, the
 * sender's side) and as an external cache (one per peer, the receiver's
 * side).  Entries carry the replication bookkeeping both sides need; the
 * FT-FW engine (ftfw.c) gives it meaning.  A table never allocates beyond
 * max_entries live-or-tombstoned entries (0 = unlimited).
 */
#ifndef CTSYNC_CACHE_H
#define CTSYNC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "list.h"

/* cache_entry.flags */
#define CE_DEAD		0x01	/* tombstone: destroyed, kept until peers know */
#define CE_QUEUED	0x02	/* external, hot standby (standby.c): waiting
				 * to be written into the kernel */

/*
 * A node of the sender's queues: the entry itself, or the bulk-end marker
 * (ftfw's own txnode, told apart by its address).
 *   q:  on the send queue (something to send)
 *   ua: sent, not yet acknowledged by every live peer; the unacked list is
 *       kept in ascending seq order
 * Receiver side (external caches) reuses q for its tombstone list and
 * never uses ua: an external cache's entries end before it (see
 * cache_new_external()), so ua stays the last member.
 */
struct txnode {
	struct list q;
	uint64_t    seq;	/* sender: seq of the last DATA that carried it,
				 * 0 = never sent; receiver: seq its state
				 * came from */
	struct list ua;
};

struct cache_entry {
	struct cache_entry *hnext;	/* chain; the free list when free */
	struct flow   flow;
	uint8_t       flags;	/* CE_* */
	uint8_t       gen;	/* reconcile generation (internal cache) */
	uint32_t      kexp;	/* external, hot standby (standby.c): when the
				 * kernel's copy runs out (daemon clock, s);
				 * 0 not written */
	struct txnode tx;	/* last: external entries stop before tx.ua */
};

/* Bytes of an external cache's entry: everything up to tx.ua. */
#define CACHE_EXTERNAL_ENTRY	offsetof(struct cache_entry, tx.ua)

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
	size_t   count;		/* entries, tombstones included */
	size_t   dead;		/* tombstones */
	size_t   max;
	size_t   esize;		/* bytes per entry */
	struct cache_slab *slabs;
	struct cache_entry *free;	/* free entries, through hnext */
	struct cache_stats st;
};

/* Returns NULL on ENOMEM.  cache_new(): whole entries, for the internal
 * cache (the sender's queues use tx.ua); cache_new_external(): entries
 * without tx.ua, which must then never be touched. */
struct cache *cache_new(size_t max_entries, uint32_t seed);
struct cache *cache_new_external(size_t max_entries, uint32_t seed);
void cache_free(struct cache *c);
/* Remove every entry (callers first unlink entries from their lists). */
void cache_clear(struct cache *c);

struct cache_entry *cache_find(const struct cache *c, const struct flow_key *k);

/*
 * Add a copy of f (its ext is copied too).  The new entry is zeroed, its
 * txnode lists unlinked and seq 0.  Returns NULL when the cache is full (st.full)
 * or memory ran out (st.nomem).  The key must not be present.
 */
struct cache_entry *cache_add(struct cache *c, const struct flow *f);

/* Unlink e from the table and free it.  e must not be on any list. */
void cache_del(struct cache *c, struct cache_entry *e);

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

static inline struct cache_entry *txnode_entry(struct txnode *n)
{
	return container_of(n, struct cache_entry, tx);
}

#endif
