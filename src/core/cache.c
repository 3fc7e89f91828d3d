/*
 * cache.c - chained hash table of flows.  Buckets double when the load
 * reaches 1, so lookups stay O(1) from ten to millions of flows; the
 * doubling is spread over the adds that follow it (see struct cache).
 *
 * Doubling a power-of-two table sends old bucket i to new buckets i and
 * i + nold, so a key's old bucket says where it lives: in the new table
 * if that bucket was migrated, else still in the old one.  Lookups, adds
 * and deletes each touch exactly one chain.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

/* Under AddressSanitizer a free entry (but its free-list link) and the
 * part of an external entry past its end are poisoned, so a use after
 * cache_del() or a touch of an external entry's tx.ua is still caught
 * although both lie inside a slab. */
#if defined(__SANITIZE_ADDRESS__)
#define CACHE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_ASAN 1
#endif
#endif
#ifdef CACHE_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define REDZONE		16	/* poisoned for good after each entry: an
				 * external entry's tx.ua lands in it */
#else
#define POISON(p, n)	((void)(p), (void)(n))
#define UNPOISON(p, n)	((void)(p), (void)(n))
#define REDZONE		0
#endif

#define CACHE_MIN_BUCKETS 1024u
/* Old buckets moved per cache_add(): the migration ends after nold / 8
 * adds, long before the new table fills (nold adds). */
#define MIGRATE_PER_ADD	8u

static struct cache *cache_make(size_t max_entries, uint32_t seed, size_t esize)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->nbuckets = CACHE_MIN_BUCKETS;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->seed = seed;
	c->max = max_entries;
	/* every entry aligned as a whole one */
	c->esize = (esize + _Alignof(struct cache_entry) - 1) &
		   ~(_Alignof(struct cache_entry) - 1);
	return c;
}

struct cache *cache_new(size_t max_entries, uint32_t seed)
{
	return cache_make(max_entries, seed, sizeof(struct cache_entry));
}

struct cache *cache_new_external(size_t max_entries, uint32_t seed)
{
	return cache_make(max_entries, seed, CACHE_EXTERNAL_ENTRY);
}

/* A free entry: only its link is readable. */
static void entry_put(struct cache *c, struct cache_entry *e)
{
	e->hnext = c->free;
	c->free = e;
	POISON((char *)e + sizeof(e->hnext), c->esize - sizeof(e->hnext));
}

/* A zeroed entry, or NULL on ENOMEM. */
static struct cache_entry *entry_get(struct cache *c)
{
	struct cache_entry *e;

	if (!c->free) {
		size_t stride = c->esize + REDZONE;
		struct cache_slab *s = malloc(sizeof(*s) + CACHE_SLAB * stride);

		if (!s)
			return NULL;
		s->next = c->slabs;
		c->slabs = s;
		POISON(s->mem, CACHE_SLAB * stride);
		for (size_t i = CACHE_SLAB; i-- > 0;) {
			struct cache_entry *n = (void *)((char *)s->mem + i * stride);

			UNPOISON(n, sizeof(n->hnext));
			entry_put(c, n);
		}
	}
	e = c->free;
	c->free = e->hnext;
	UNPOISON(e, c->esize);
	memset(e, 0, c->esize);
	return e;
}

static void entry_free(struct cache *c, struct cache_entry *e)
{
	flow_free_ext(&e->flow);
	entry_put(c, e);
}

static void free_chains(struct cache *c, struct cache_entry **b, uint32_t from,
			uint32_t to)
{
	for (uint32_t i = from; i < to; i++) {
		struct cache_entry *e = b[i], *n;

		for (; e; e = n) {
			n = e->hnext;
			entry_free(c, e);
		}
		b[i] = NULL;
	}
}

void cache_clear(struct cache *c)
{
	free_chains(c, c->buckets, 0, c->nbuckets);
	if (c->old) {
		free_chains(c, c->old, c->migrated, c->nold);
		free(c->old);
		c->old = NULL;
	}
	c->st.deleted += c->count;
	c->count = 0;
	c->dead = 0;
	/* no entry is left: give the slabs back */
	while (c->slabs) {
		struct cache_slab *s = c->slabs;

		c->slabs = s->next;
		UNPOISON(s->mem, CACHE_SLAB * (c->esize + REDZONE));
		free(s);
	}
	c->free = NULL;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c->buckets);
	free(c);
}

/* The chain where k lives (or would be added). */
static inline struct cache_entry **chain_of(const struct cache *c, const struct flow_key *k)
{
	uint32_t h = flow_key_hash(k, c->seed);

	if (c->old && (h & (c->nold - 1)) >= c->migrated)
		return &c->old[h & (c->nold - 1)];
	return &c->buckets[h & (c->nbuckets - 1)];
}

struct cache_entry *cache_find(const struct cache *c, const struct flow_key *k)
{
	struct cache_entry *e = *chain_of(c, k);

	for (; e; e = e->hnext)
		if (flow_key_eq(&e->flow.key, k))
			return e;
	return NULL;
}

/* Move up to n old buckets into the new table; free the old one when
 * it is empty. */
static void migrate(struct cache *c, uint32_t n)
{
	for (; n && c->migrated < c->nold; n--, c->migrated++) {
		struct cache_entry *e = c->old[c->migrated], *next;

		for (; e; e = next) {
			uint32_t h = flow_key_hash(&e->flow.key, c->seed) & (c->nbuckets - 1);

			next = e->hnext;
			e->hnext = c->buckets[h];
			c->buckets[h] = e;
		}
		c->old[c->migrated] = NULL;
	}
	if (c->migrated == c->nold) {
		free(c->old);
		c->old = NULL;
	}
}

/* Start doubling the bucket array; on ENOMEM keep it (longer chains). */
static void grow(struct cache *c)
{
	uint32_t n = c->nbuckets * 2;
	struct cache_entry **b;

	if (c->old || n < c->nbuckets || !(b = calloc(n, sizeof(*b))))
		return;
	c->old = c->buckets;
	c->nold = c->nbuckets;
	c->migrated = 0;
	c->buckets = b;
	c->nbuckets = n;
}

struct cache_entry *cache_add(struct cache *c, const struct flow *f)
{
	struct cache_entry *e, **pp;

	if (c->max && c->count >= c->max) {
		c->st.full++;
		return NULL;
	}
	e = entry_get(c);
	if (!e || flow_copy(&e->flow, f) < 0) {
		if (e)
			entry_put(c, e);
		c->st.nomem++;
		return NULL;
	}
	list_init(&e->tx.q);
	if (c->esize >= sizeof(*e))
		list_init(&e->tx.ua);
	if (!c->iterating) {
		if (c->old)
			migrate(c, MIGRATE_PER_ADD);
		else if (c->count >= c->nbuckets)
			grow(c);
	}
	pp = chain_of(c, &f->key);
	e->hnext = *pp;
	*pp = e;
	c->count++;
	c->st.added++;
	return e;
}

void cache_del(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = chain_of(c, &e->flow.key);

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	if (e->flags & CE_DEAD)
		c->dead--;
	c->count--;
	c->st.deleted++;
	entry_free(c, e);
}

void cache_set_dead(struct cache *c, struct cache_entry *e, bool dead)
{
	if (dead && !(e->flags & CE_DEAD)) {
		e->flags |= CE_DEAD;
		c->dead++;
	} else if (!dead && (e->flags & CE_DEAD)) {
		e->flags &= ~CE_DEAD;
		c->dead--;
	}
}

static int foreach_in(struct cache_entry **b, uint32_t from, uint32_t to,
		      int (*fn)(struct cache_entry *e, void *arg), void *arg)
{
	for (uint32_t i = from; i < to; i++) {
		struct cache_entry *e = b[i], *next;

		for (; e; e = next) {
			int r;

			next = e->hnext;
			if ((r = fn(e, arg)) != 0)
				return r;
		}
	}
	return 0;
}

/* No bucket moves while it runs (an fn that adds would otherwise make it
 * skip or repeat entries): the new table, then what the old one still
 * holds. */
int cache_foreach(struct cache *c, int (*fn)(struct cache_entry *e, void *arg),
		  void *arg)
{
	int r;

	c->iterating++;
	r = foreach_in(c->buckets, 0, c->nbuckets, fn, arg);
	if (r == 0 && c->old)
		r = foreach_in(c->old, c->migrated, c->nold, fn, arg);
	c->iterating--;
	return r;
}
