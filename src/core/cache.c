/*
 * cache.c - chained hash table of flows.  Buckets double when the load
 * reaches 1, so lookups stay O(1) from ten to millions of flows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define CACHE_MIN_BUCKETS 1024u

struct cache *cache_new(size_t max_entries, uint32_t seed)
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
	return c;
}

static void entry_free(struct cache_entry *e)
{
	flow_free_ext(&e->flow);
	free(e);
}

void cache_clear(struct cache *c)
{
	for (uint32_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i], *n;

		for (; e; e = n) {
			n = e->hnext;
			entry_free(e);
		}
		c->buckets[i] = NULL;
	}
	c->st.deleted += c->count;
	c->count = 0;
	c->dead = 0;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c->buckets);
	free(c);
}

static inline uint32_t bucket_of(const struct cache *c, const struct flow_key *k)
{
	return flow_key_hash(k, c->seed) & (c->nbuckets - 1);
}

struct cache_entry *cache_find(const struct cache *c, const struct flow_key *k)
{
	struct cache_entry *e = c->buckets[bucket_of(c, k)];

	for (; e; e = e->hnext)
		if (flow_key_eq(&e->flow.key, k))
			return e;
	return NULL;
}

/* Double the bucket array; on ENOMEM keep the old one (longer chains). */
static void grow(struct cache *c)
{
	uint32_t n = c->nbuckets * 2;
	struct cache_entry **b;

	if (n < c->nbuckets)
		return;
	b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (uint32_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			uint32_t h = flow_key_hash(&e->flow.key, c->seed) & (n - 1);

			next = e->hnext;
			e->hnext = b[h];
			b[h] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

struct cache_entry *cache_add(struct cache *c, const struct flow *f)
{
	struct cache_entry *e;
	uint32_t h;

	if (c->max && c->count >= c->max) {
		c->st.full++;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e || flow_copy(&e->flow, f) < 0) {
		free(e);
		c->st.nomem++;
		return NULL;
	}
	list_init(&e->tx.q);
	list_init(&e->tx.ua);
	e->tx.kind = TXN_ENTRY;
	if (c->count >= c->nbuckets)
		grow(c);
	h = bucket_of(c, &f->key);
	e->hnext = c->buckets[h];
	c->buckets[h] = e;
	c->count++;
	c->st.added++;
	return e;
}

void cache_del(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[bucket_of(c, &e->flow.key)];

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
	entry_free(e);
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

int cache_foreach(struct cache *c, int (*fn)(struct cache_entry *e, void *arg),
		  void *arg)
{
	for (uint32_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			int r;

			next = e->hnext;
			if ((r = fn(e, arg)) != 0)
				return r;
		}
	}
	return 0;
}
