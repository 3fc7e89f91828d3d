/*
 * test_cache.c - the flow table: add, find, delete, limits, growth,
 * tombstone accounting, iteration with deletion.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "cache.h"
#include "flow.h"

/* A cache of flows with no side data. */
static struct cache *flows(size_t max_entries, uint32_t seed)
{
	struct cache_layout l;

	cache_layout_init(&l, &cache_kind_flow);
	return cache_new(&l, max_entries, seed);
}

static void mk(struct flow *f, uint32_t i)
{
	memset(f, 0, sizeof(*f));
	f->key.family = AF_INET;
	f->key.l4proto = IPPROTO_UDP;
	f->key.orig.src.v4 = htonl(0xc6120000u + i);
	f->key.orig.dst.v4 = htonl(0xcb00710au);
	f->key.orig.sport = 5000;
	f->key.orig.dport = 53;
	f->mark = i;
}

static void test_add_find_del(void **state)
{
	struct cache *c = flows(0, 42);
	struct flow f;

	for (uint32_t i = 0; i < 100000; i++) {
		mk(&f, i);
		assert_non_null(cache_add(c, &f));
	}
	assert_int_equal(c->count, 100000);
	/* It grew: chains stay short. */
	assert_true(c->nbuckets >= 65536);
	for (uint32_t i = 0; i < 100000; i += 7) {
		struct cache_entry *e;

		mk(&f, i);
		e = cache_find(c, &f.key);
		assert_non_null(e);
		assert_int_equal(cache_flow(e)->mark, i);
		cache_del(c, e);
		assert_null(cache_find(c, &f.key));
	}
	assert_int_equal(c->count, 100000 - 14286);
	mk(&f, 100001);
	assert_null(cache_find(c, &f.key));
	cache_free(c);
}

static int count_one(struct cache_entry *e, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

/*
 * The table doubles a few buckets per add: at every step of a migration
 * every key is found, each add moves at most 8 old buckets, deletes and
 * foreach see every entry exactly once, and clearing mid-way frees all.
 */
static void test_incremental_rehash(void **state)
{
	struct cache *c = flows(0, 7);
	struct flow f;
	bool seen_migrating = false;
	size_t visits;

	for (uint32_t i = 0; i < 20000; i++) {
		uint32_t before = c->old ? c->migrated : 0;

		mk(&f, i);
		assert_non_null(cache_add(c, &f));
		if (c->old) {
			seen_migrating = true;
			assert_true(c->migrated - before <= 8);
			assert_int_equal(c->nbuckets, 2 * c->nold);
		}
		/* every 37th add: all keys so far, wherever they live */
		if (i % 37 == 0) {
			for (uint32_t j = 0; j <= i; j += 11) {
				mk(&f, j);
				assert_non_null(cache_find(c, &f.key));
			}
		}
	}
	assert_true(seen_migrating);
	/* Mid-migration (the next doubling, started by 12768 more adds). */
	for (uint32_t i = 20000; !c->old || c->migrated < c->nold / 2; i++) {
		mk(&f, i);
		assert_non_null(cache_add(c, &f));
	}
	assert_non_null(c->old);
	visits = 0;
	cache_foreach(c, count_one, &visits);
	assert_int_equal(visits, c->count);
	for (uint32_t i = 0; i < 20000; i += 3) {
		struct cache_entry *e;

		mk(&f, i);
		assert_non_null(e = cache_find(c, &f.key));
		cache_del(c, e);
		assert_null(cache_find(c, &f.key));
	}
	visits = 0;
	cache_foreach(c, count_one, &visits);
	assert_int_equal(visits, c->count);
	cache_clear(c);		/* ASan: nothing left behind */
	assert_int_equal(c->count, 0);
	assert_null(c->old);
	mk(&f, 5);
	assert_null(cache_find(c, &f.key));
	assert_non_null(cache_add(c, &f));
	assert_non_null(cache_find(c, &f.key));
	cache_free(c);
}

static void test_limit(void **state)
{
	struct cache *c = flows(10, 1);
	struct flow f;

	for (uint32_t i = 0; i < 15; i++) {
		mk(&f, i);
		if (i < 10)
			assert_non_null(cache_add(c, &f));
		else
			assert_null(cache_add(c, &f));
	}
	assert_int_equal(c->count, 10);
	assert_int_equal(c->st.full, 5);
	/* Room again after a delete. */
	mk(&f, 0);
	cache_del(c, cache_find(c, &f.key));
	mk(&f, 20);
	assert_non_null(cache_add(c, &f));
	cache_free(c);
}

static void test_dead_accounting(void **state)
{
	struct cache *c = flows(0, 1);
	struct flow f;
	struct cache_entry *e;

	mk(&f, 1);
	e = cache_add(c, &f);
	mk(&f, 2);
	cache_add(c, &f);
	cache_set_dead(c, e, true);
	cache_set_dead(c, e, true);	/* idempotent */
	assert_int_equal(c->dead, 1);
	assert_int_equal(cache_live(c), 1);
	cache_set_dead(c, e, false);
	assert_int_equal(c->dead, 0);
	cache_set_dead(c, e, true);
	cache_del(c, e);
	assert_int_equal(c->dead, 0);
	assert_int_equal(c->count, 1);
	cache_free(c);
}

static int del_odd(struct cache_entry *e, void *arg)
{
	struct cache *c = arg;

	if (cache_flow(e)->mark & 1)
		cache_del(c, e);
	return 0;
}

static int count_even(struct cache_entry *e, void *arg)
{
	size_t *n = arg;

	assert_int_equal(cache_flow(e)->mark & 1, 0);
	(*n)++;
	return 0;
}

static void test_foreach_delete(void **state)
{
	struct cache *c = flows(0, 3);
	struct flow f;
	size_t n = 0;

	for (uint32_t i = 0; i < 5000; i++) {
		mk(&f, i);
		cache_add(c, &f);
	}
	cache_foreach(c, del_odd, c);
	cache_foreach(c, count_even, &n);
	assert_int_equal(n, 2500);
	cache_clear(c);
	assert_int_equal(c->count, 0);
	cache_free(c);
}

/* The copy owns its ext: the caller's may go away. */
static void test_ext_copied(void **state)
{
	struct cache *c = flows(0, 3);
	struct flow f;
	struct cache_entry *e;

	mk(&f, 9);
	flow_ext_get(&f)->has = FLOW_EXT_LABELS;
	f.ext->labels[0] = 0xdeadbeef;
	e = cache_add(c, &f);
	flow_free_ext(&f);
	assert_non_null(cache_flow(e)->ext);
	assert_int_equal(cache_flow(e)->ext->labels[0], 0xdeadbeef);
	cache_free(c);
}

static size_t nslabs(const struct cache *c)
{
	size_t n = 0;

	for (const struct cache_slab *s = c->slabs; s; s = s->next)
		n++;
	return n;
}

/* Side data shaped as the engine's and hot standby's (ftfw.c,
 * standby.c): a byte, a word, a queue node; an external entry's node
 * stops before its second link. */
struct node {
	struct list q;
	uint64_t seq;
	struct list ua;
};

struct side {
	size_t gen, kexp, node;
};

static struct cache *with_side(bool external, struct side *sd)
{
	struct cache_layout l;

	cache_layout_init(&l, &cache_kind_flow);
	sd->gen = cache_reserve(&l, sizeof(uint8_t), 1);
	sd->kexp = cache_reserve(&l, sizeof(uint32_t), _Alignof(uint32_t));
	sd->node = cache_reserve(&l, external ? offsetof(struct node, ua) : sizeof(struct node),
				 _Alignof(struct node));
	return cache_new(&l, 0, 5);
}

/*
 * Entries come from slabs: a deleted entry's memory serves the next add
 * (the table does not grow under churn), comes back zeroed, and clearing
 * the table gives the slabs back.  External entries are shorter (no
 * ua) and work the same.
 */
static void test_slab(void **state)
{
	struct side sides[2];
	struct cache *caches[2] = { with_side(false, &sides[0]), with_side(true, &sides[1]) };
	struct flow f;

	(void)state;
	assert_true(caches[1]->esize < caches[0]->esize);
	assert_true(caches[1]->esize >= sides[1].node + offsetof(struct node, seq) + sizeof(uint64_t));
	for (int k = 0; k < 2; k++) {
		struct cache *c = caches[k];
		const struct side *sd = &sides[k];
		size_t slabs;

		assert_non_null(c);
		for (uint32_t i = 0; i < 3000; i++) {
			struct cache_entry *e;

			mk(&f, i);
			assert_non_null(e = cache_add(c, &f));
			*(uint32_t *)cache_side(e, sd->kexp) = 77;
			*(uint8_t *)cache_side(e, sd->gen) = 3;
			list_init(&((struct node *)cache_side(e, sd->node))->q);
			((struct node *)cache_side(e, sd->node))->seq = 99;
			cache_set_dead(c, e, true);
		}
		slabs = nslabs(c);
		assert_int_equal(slabs, (3000 + CACHE_SLAB - 1) / CACHE_SLAB);
		for (int round = 0; round < 3; round++) {
			for (uint32_t i = 0; i < 3000; i++) {
				mk(&f, i + (uint32_t)round * 3000);
				cache_del(c, cache_find(c, &f.key));
			}
			for (uint32_t i = 0; i < 3000; i++) {
				struct cache_entry *e;

				mk(&f, i + (uint32_t)(round + 1) * 3000);
				assert_non_null(e = cache_add(c, &f));
				assert_int_equal(*(uint32_t *)cache_side(e, sd->kexp), 0);
				assert_int_equal(*(uint8_t *)cache_side(e, sd->gen), 0);
				assert_int_equal(e->flags, 0);
				assert_int_equal(((struct node *)cache_side(e, sd->node))->seq, 0);
				/* the node's user links it (ftfw.c); left zeroed */
				assert_null(((struct node *)cache_side(e, sd->node))->q.next);
				assert_int_equal(cache_flow(e)->mark, i + (uint32_t)(round + 1) * 3000);
			}
		}
		assert_int_equal(nslabs(c), slabs);	/* reused, not grown */
		assert_int_equal(cache_live(c), 3000);
		cache_clear(c);
		assert_null(c->slabs);
		assert_int_equal(c->count, 0);
		mk(&f, 1);
		assert_non_null(cache_add(c, &f));	/* usable after a clear */
		cache_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_del),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_dead_accounting),
		cmocka_unit_test(test_foreach_delete),
		cmocka_unit_test(test_ext_copied),
		cmocka_unit_test(test_incremental_rehash),
		cmocka_unit_test(test_slab),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
