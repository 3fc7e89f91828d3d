/*
 * test_cache.c - the table: add, find, delete, limits, growth,
 * tombstone accounting, iteration with deletion (with flows); entries
 * held across deletion; side data and a second kind of object.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
 * While held, a deleted entry leaves the table but stays readable, marked
 * dead, and is not handed out again; the last release frees it (under
 * ASan, reading it then would be caught).  Nests.
 */
static void test_hold(void **state)
{
	struct cache *c = flows(0, 7);
	struct cache_entry *kept[100], *e;
	struct flow f;

	(void)state;
	for (uint32_t i = 0; i < 100; i++) {
		mk(&f, i);
		assert_non_null(kept[i] = cache_add(c, &f));
	}
	cache_hold(c, true);
	cache_hold(c, true);
	for (uint32_t i = 0; i < 100; i += 2)
		cache_del(c, kept[i]);
	assert_int_equal(c->count, 50);
	for (uint32_t i = 0; i < 100; i++) {
		mk(&f, i);
		assert_int_equal(!!(kept[i]->flags & CE_DEAD), i % 2 == 0);
		/* the key is kept, the entry is out of the table */
		assert_int_equal(cache_flow(kept[i])->key.orig.src.v4, f.key.orig.src.v4);
		if (i % 2 == 0)
			assert_null(cache_find(c, &f.key));
	}
	/* New entries come from elsewhere while the deleted are held. */
	for (uint32_t i = 100; i < 150; i++) {
		mk(&f, i);
		assert_non_null(e = cache_add(c, &f));
		for (uint32_t k = 0; k < 100; k += 2)
			assert_ptr_not_equal(e, kept[k]);
	}
	cache_hold(c, false);
	assert_true(kept[0]->flags & CE_DEAD);	/* one hold is left */
	cache_hold(c, false);
	assert_null(c->held);
	/* Freed: the next adds take the deleted entries' places. */
	mk(&f, 1000);
	e = cache_add(c, &f);
	assert_non_null(e);
	{
		bool reused = false;

		for (uint32_t k = 0; k < 100; k += 2)
			reused |= e == kept[k];
		assert_true(reused);
	}
	cache_free(c);
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

/*
 * Side fields small enough cost no memory: they fill the header's spare
 * bytes, first fit, whatever order they come in; the rest follow the
 * object, aligned.  Memory per flow is what bench.sh reports.
 */
static void test_layout(void **state)
{
	struct cache_layout bare, l;
	size_t off[4];

	(void)state;
	cache_layout_init(&bare, &cache_kind_flow);
	assert_int_equal(bare.size, sizeof(struct cache_entry) + sizeof(struct flow));
	l = bare;
	off[0] = cache_reserve(&l, sizeof(uint32_t), _Alignof(uint32_t));
	off[1] = cache_reserve(&l, sizeof(uint8_t), 1);
	off[2] = cache_reserve(&l, sizeof(uint16_t), _Alignof(uint16_t));
	assert_int_equal(l.size, bare.size);	/* all in the header */
	for (int i = 0; i < 3; i++)
		assert_true(off[i] > offsetof(struct cache_entry, flags) &&
			    off[i] < sizeof(struct cache_entry));
	assert_int_equal(off[0] % _Alignof(uint32_t), 0);
	assert_int_equal(off[2] % _Alignof(uint16_t), 0);
	assert_true(off[1] != off[2] && off[1] != off[2] + 1);
	/* the spare bytes are full: the next byte goes after the object */
	if (CACHE_SPARE == 7) {
		off[3] = cache_reserve(&l, sizeof(uint8_t), 1);
		assert_int_equal(off[3], bare.size);
	}
	off[3] = cache_reserve(&l, sizeof(uint64_t), _Alignof(uint64_t));
	assert_int_equal(off[3] % _Alignof(uint64_t), 0);
	assert_true(off[3] >= bare.size);
	assert_int_equal(l.size, off[3] + sizeof(uint64_t));
}

/*
 * A second kind: the cache knows objects only through their kind, so a
 * toy (keyed by id and port, with a state word and a name that are not
 * part of the key) lives in it like a flow, with side data of its own.
 */
struct toy {
	uint32_t id;		/* key */
	uint16_t port;		/* key */
	uint16_t state;
	char     name[12];
};

static unsigned toy_copies;

static uint32_t toy_hash(const void *key, uint32_t seed)
{
	const struct toy *t = key;

	return (t->id * 2654435761u) ^ t->port ^ seed;
}

static bool toy_equal(const void *a, const void *b)
{
	const struct toy *x = a, *y = b;

	return x->id == y->id && x->port == y->port;
}

static int toy_copy(void *dst, const void *src)
{
	toy_copies++;
	memcpy(dst, src, sizeof(struct toy));
	return 0;
}

static bool toy_state_equal(const void *a, const void *b)
{
	const struct toy *x = a, *y = b;

	return x->state == y->state;
}

static const struct cache_kind toy_kind = {
	.name = "toy",
	.obj_size = sizeof(struct toy),
	.hash = toy_hash,
	.equal = toy_equal,
	.copy = toy_copy,
	.state_equal = toy_state_equal,
};

struct toy_side {
	size_t hits;		/* uint16_t, in the header */
	size_t log;		/* char[20], after the toy */
};

static struct toy mk_toy(uint32_t i)
{
	struct toy t = { .id = i / 4, .port = (uint16_t)(i % 4), .state = (uint16_t)i };

	snprintf(t.name, sizeof(t.name), "toy%u", i);
	return t;
}

static int toy_check(struct cache_entry *e, void *arg)
{
	const struct toy_side *sd = arg;
	const struct toy *t = cache_obj(e);

	assert_int_equal(*(uint16_t *)cache_side(e, sd->hits), t->state % 7);
	return 0;
}

static void test_second_kind(void **state)
{
	struct cache_layout l;
	struct toy_side sd;
	struct cache *c, *fc = flows(0, 9);
	struct cache_entry *e;
	struct toy t;
	struct flow f;
	size_t n = 0;

	(void)state;
	cache_layout_init(&l, &toy_kind);
	sd.log = cache_reserve(&l, 20, 1);
	sd.hits = cache_reserve(&l, sizeof(uint16_t), _Alignof(uint16_t));
	assert_true(sd.hits < sizeof(struct cache_entry));
	assert_int_equal(sd.log, sizeof(struct cache_entry) + sizeof(struct toy));
	assert_non_null(c = cache_new(&l, 0, 9));
	assert_int_equal(c->esize, sizeof(struct cache_entry) + sizeof(struct toy) + 20);

	toy_copies = 0;
	for (uint32_t i = 0; i < 20000; i++) {
		t = mk_toy(i);
		assert_null(cache_find(c, &t));
		assert_non_null(e = cache_add(c, &t));
		assert_int_equal(*(uint16_t *)cache_side(e, sd.hits), 0);
		assert_int_equal(((char *)cache_side(e, sd.log))[19], 0);
		*(uint16_t *)cache_side(e, sd.hits) = (uint16_t)(i % 7);
		memset(cache_side(e, sd.log), 'x', 20);
		/* a flow with the same seed beside it, in its own cache */
		mk(&f, i);
		assert_non_null(cache_add(fc, &f));
	}
	assert_int_equal(toy_copies, 20000);
	assert_int_equal(c->count, 20000);
	assert_true(c->nbuckets >= 16384);
	cache_foreach(c, toy_check, &sd);	/* side data apart from the toy */

	for (uint32_t i = 0; i < 20000; i += 3) {
		t = mk_toy(i);
		assert_non_null(e = cache_find(c, &t));
		assert_string_equal(((struct toy *)cache_obj(e))->name, t.name);
		/* the name is no part of the state, the state word is */
		snprintf(t.name, sizeof(t.name), "renamed");
		assert_true(cache_same_state(c, e, &t));
		t.state++;
		assert_false(cache_same_state(c, e, &t));
		assert_int_equal(cache_update(c, e, &t), 0);
		assert_true(cache_same_state(c, e, &t));
		assert_ptr_equal(cache_find(c, &t), e);
		assert_int_equal(*(uint16_t *)cache_side(e, sd.hits), i % 7);
		cache_release(c, e);		/* the kind owns nothing: no-op */
		if (i % 2)
			cache_del(c, e);
		else
			cache_set_dead(c, e, true);
		mk(&f, i);
		assert_non_null(cache_find(fc, &f.key));
	}
	assert_int_equal(c->count, 20000 - 3333);
	assert_int_equal(cache_live(c), 20000 - 6667);
	cache_foreach(c, count_one, &n);
	assert_int_equal(n, c->count);
	t = mk_toy(3);
	assert_null(cache_find(c, &t));
	cache_free(c);
	cache_free(fc);
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
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_second_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
