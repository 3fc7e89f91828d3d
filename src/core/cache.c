/*
 * cache.c - chained hash table of objects of one kind.  Buckets double
 * when the load reaches 1, so lookups stay O(1) from ten to millions of
 * flows; the doubling is spread over the adds that follow it (see struct
 * cache).
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

/* Under AddressSanitizer a free entry (but its free-list link) and a
 * redzone past each entry's end are poisoned, so a use after cache_del()
 * or a touch of side data the layout did not reserve (an external
 * entry's unacked-list link, ftfw.c) is still caught although both lie
 * inside a slab. */
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
#define REDZONE		16	/* poisoned for good after each entry */
#else
#define POISON(p, n)	((void)(p), (void)(n))
#define UNPOISON(p, n)	((void)(p), (void)(n))
#define REDZONE		0
#endif

#define CACHE_MIN_BUCKETS 1024u
/* Old buckets moved per cache_add(): the migration ends after nold / 8
 * adds, long before the new table fills (nold adds). */
#define MIGRATE_PER_ADD	8u

void cache_layout_init(struct cache_layout *l, const struct cache_kind *kind)
{
	*l = (struct cache_layout){ kind, sizeof(struct cache_entry) + kind->obj_size, 0 };
}

size_t cache_reserve(struct cache_layout *l, size_t size, size_t align)
{
	const size_t first = offsetof(struct cache_entry, spare);
	size_t off;

	for (off = (first + align - 1) & ~(align - 1);
	     size && off + size <= first + CACHE_SPARE; off += align) {
		unsigned bits = ((1u << size) - 1) << (off - first);

		if (!(l->spare & bits)) {
			l->spare |= bits;
			return off;
		}
	}
	off = (l->size + align - 1) & ~(align - 1);
	l->size = off + size;
	return off;
}

struct cache *cache_new(const struct cache_layout *l, size_t max_entries,
			uint32_t seed)
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
	c->kind = l->kind;
	c->hash = l->kind->hash;
	c->equal = l->kind->equal;
	c->max = max_entries;
	/* every entry aligned as a whole one */
	c->esize = (l->size + _Alignof(struct cache_entry) - 1) &
		   ~(_Alignof(struct cache_entry) - 1);
	return c;
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
	cache_release(c, e);
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
	c->held = NULL;		/* in the slabs too */
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
static inline struct cache_entry **chain_of(const struct cache *c, const void *k)
{
	uint32_t h = c->hash(k, c->seed);

	if (c->old && (h & (c->nold - 1)) >= c->migrated)
		return &c->old[h & (c->nold - 1)];
	return &c->buckets[h & (c->nbuckets - 1)];
}

struct cache_entry *cache_find(const struct cache *c, const void *k)
{
	bool (*equal)(const void *, const void *) = c->equal;
	struct cache_entry *e = *chain_of(c, k);

	for (; e; e = e->hnext)
		if (equal(cache_obj(e), k))
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
			uint32_t h = c->hash(cache_obj(e), c->seed) & (c->nbuckets - 1);

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

struct cache_entry *cache_add(struct cache *c, const void *obj)
{
	struct cache_entry *e, **pp;

	if (c->max && c->count >= c->max) {
		c->st.full++;
		return NULL;
	}
	e = entry_get(c);
	if (!e || c->kind->copy(cache_obj(e), obj) < 0) {
		if (e)
			entry_put(c, e);
		c->st.nomem++;
		return NULL;
	}
	if (!c->iterating) {
		if (c->old)
			migrate(c, MIGRATE_PER_ADD);
		else if (c->count >= c->nbuckets)
			grow(c);
	}
	pp = chain_of(c, obj);
	e->hnext = *pp;
	*pp = e;
	c->count++;
	c->st.added++;
	return e;
}

void cache_del(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = chain_of(c, cache_obj(e));

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
	if (c->holding) {
		cache_release(c, e);
		e->flags |= CE_DEAD;
		e->hnext = c->held;
		c->held = e;
		return;
	}
	entry_free(c, e);
}

void cache_hold(struct cache *c, bool on)
{
	if (on) {
		c->holding++;
		return;
	}
	if (c->holding && --c->holding)
		return;
	while (c->held) {
		struct cache_entry *e = c->held;

		c->held = e->hnext;
		entry_put(c, e);
	}
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
