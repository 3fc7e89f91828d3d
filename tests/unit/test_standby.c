/*
 * test_standby.c - the hot standby's writes: what a backup puts into its
 * kernel, and when.  Two peers' external caches and an internal cache
 * stand for ftfw's; time is stepped by hand.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "cache.h"
#include "standby.h"

#define T0	1000000		/* ms: the daemon clock at the start */

struct world {
	struct cache *ext[2];	/* the peers' tables */
	struct cache *own;	/* this node's */
	struct standby *st;
	struct standby_side side;	/* the module's, in ext[] entries */
};

/* One write as the kernel would get it. */
struct write {
	uint32_t id;		/* mk()'s i */
	uint32_t mark;		/* the state written */
	bool del, release;
};

struct step {
	struct write *w;
	size_t n;
};

static struct cache_entry *w_find(void *arg, const struct flow_key *k)
{
	struct world *w = arg;

	for (int i = 0; i < 2; i++) {
		struct cache_entry *e = cache_find(w->ext[i], k);

		if (e && !(e->flags & CE_DEAD))
			return e;
	}
	return NULL;
}

static int w_foreach(void *arg, int (*fn)(struct cache_entry *e, void *fn_arg),
		     void *fn_arg)
{
	struct world *w = arg;
	int r = 0;

	for (int i = 0; i < 2 && !r; i++)
		r = cache_foreach(w->ext[i], fn, fn_arg);
	return r;
}

static bool w_own(void *arg, const struct flow_key *k)
{
	struct world *w = arg;
	struct cache_entry *e = cache_find(w->own, k);

	return e && !(e->flags & CE_DEAD);
}

static struct flow mk(uint32_t i)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.family = AF_INET;
	f.key.l4proto = IPPROTO_TCP;
	f.key.orig.src.v4 = htonl(0xc6336400u + i);
	f.key.orig.dst.v4 = htonl(0xcb00710au);
	f.key.orig.sport = (uint16_t)(10000 + i % 50000);
	f.key.orig.dport = 80;
	return f;
}

static uint32_t id_of(const struct flow_key *k)
{
	return ntohl(k->orig.src.v4) - 0xc6336400u;
}

/* The module's side data in an external entry. */
static uint32_t kexp(const struct world *w, struct cache_entry *e)
{
	return *(uint32_t *)cache_side(e, w->side.kexp);
}

static bool queued(const struct world *w, struct cache_entry *e)
{
	return *(uint8_t *)cache_side(e, w->side.queued);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct standby_ops ops = { w_find, w_foreach, w_own, w, { 0, 0 } };
	struct cache_layout ext, own;

	assert_non_null(w);
	cache_layout_init(&ext, &cache_kind_flow);
	cache_layout_init(&own, &cache_kind_flow);
	ops.side = w->side = standby_reserve(&ext);
	w->ext[0] = cache_new(&ext, 0, 1);
	w->ext[1] = cache_new(&ext, 0, 2);
	w->own = cache_new(&own, 0, 3);
	w->st = standby_new(&ops);
	assert_non_null(w->ext[0]);
	assert_non_null(w->ext[1]);
	assert_non_null(w->own);
	assert_non_null(w->st);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	standby_free(w->st);
	cache_free(w->ext[0]);
	cache_free(w->ext[1]);
	cache_free(w->own);
	free(w);
	return 0;
}

/* Peer p holds flow i (timeout s, 0: none), with state mark. */
static struct cache_entry *hold(struct world *w, int p, uint32_t i,
				uint32_t timeout, uint32_t mark)
{
	struct flow f = mk(i);
	struct cache_entry *e = cache_find(w->ext[p], &f.key);

	if (!e)
		assert_non_null(e = cache_add(w->ext[p], &f));
	cache_set_dead(w->ext[p], e, false);
	cache_flow(e)->timeout = timeout;
	cache_flow(e)->flags = timeout ? FLOW_F_TIMEOUT : 0;
	cache_flow(e)->mark = mark;
	return e;
}

/* Peer p destroyed flow i: a tombstone, as ftfw leaves it. */
static void destroy(struct world *w, int p, uint32_t i)
{
	struct flow f = mk(i);
	struct cache_entry *e = cache_find(w->ext[p], &f.key);

	assert_non_null(e);
	cache_set_dead(w->ext[p], e, true);
}

static void changed(struct world *w, uint32_t i)
{
	struct flow f = mk(i);

	standby_changed(w->st, &f.key);
}

/* One step at now (ms): the writes standby_next() yields, all taken by
 * the kernel.  n 0: nothing to write. */
static struct step run_step(struct world *w, uint64_t now)
{
	struct step s = { 0 };
	struct standby_result r = { 0 };
	struct standby_op op;

	if (!standby_step(w->st, now))
		return s;
	assert_non_null(s.w = calloc(STANDBY_CHUNK, sizeof(*s.w)));
	while (standby_next(w->st, &op)) {
		assert_true(s.n < STANDBY_CHUNK);
		s.w[s.n++] = (struct write){ id_of(&op.flow->key), op.flow->mark,
					     op.del, op.release };
		if (op.del)
			r.deleted++;
		else
			r.created++;
	}
	standby_step_done(w->st, &r);
	return s;
}

/* Steps at now until nothing is left; the writes, in order. */
static struct step run_all(struct world *w, uint64_t now)
{
	struct step all = { 0 }, s;

	while ((s = run_step(w, now)).n) {
		struct write *v = realloc(all.w, (all.n + s.n) * sizeof(*v));

		assert_non_null(v);
		memcpy(v + all.n, s.w, s.n * sizeof(*v));
		all.w = v;
		all.n += s.n;
		free(s.w);
	}
	free(s.w);
	return all;
}

/* Becoming backup at now, with the first writes all made. */
static void become_backup(struct world *w, uint64_t now)
{
	standby_start(w->st, now);
	free(run_all(w, now).w);
}

static void test_inactive(void **state)
{
	struct world *w = *state;
	struct flow f = mk(1);

	hold(w, 0, 1, 60, 0);
	changed(w, 1);
	assert_false(standby_active(w->st));
	assert_false(standby_is_copy(w->st, &f.key));
	assert_false(standby_kernel_event(w->st, &f.key, true, false));
	assert_int_equal(standby_queued(w->st), 0);
	assert_false(standby_step(w->st, T0 + 60000));
	assert_true(standby_next_deadline(w->st, T0) == UINT64_MAX);
	assert_int_equal(standby_stats(w->st)->restored, 0);
}

/* Becoming backup writes every flow of every peer once; each copy is
 * given the flow's timeout (or STANDBY_TIMEOUT_S) from then. */
static void test_start_writes_all(void **state)
{
	struct world *w = *state;
	struct step s;
	struct cache_entry *a = hold(w, 0, 1, 60, 0), *b = hold(w, 1, 2, 0, 0);
	struct flow f = mk(1);

	hold(w, 1, 3, 30, 0);
	destroy(w, 1, 3);		/* a tombstone: nothing to write */
	standby_start(w->st, T0);
	assert_true(standby_active(w->st));
	assert_true(standby_is_copy(w->st, &f.key));
	assert_true(standby_next_deadline(w->st, T0) == T0);
	s = run_all(w, T0);
	assert_int_equal(s.n, 2);
	for (size_t k = 0; k < s.n; k++)
		assert_false(s.w[k].del);
	assert_int_equal(kexp(w, a), T0 / 1000 + 60);
	assert_int_equal(kexp(w, b), T0 / 1000 + STANDBY_TIMEOUT_S);
	assert_false(queued(w, a));
	/* Nothing more until the next sweep. */
	assert_true(standby_next_deadline(w->st, T0) == T0 + STANDBY_SWEEP_MS);
	assert_int_equal(standby_stats(w->st)->refreshed, 0);
	assert_int_equal(standby_stats(w->st)->created, 2);
	assert_int_equal(standby_stats(w->st)->written, 2);
	free(s.w);
}

/* A flow that changes many times before its write is written once, with
 * its state as of the write. */
static void test_changed_once(void **state)
{
	struct world *w = *state;
	struct step s;

	become_backup(w, T0);
	for (uint32_t m = 1; m <= 5; m++) {
		hold(w, 0, 7, 60, m);
		changed(w, 7);
	}
	assert_int_equal(standby_queued(w->st), 1);
	assert_true(standby_next_deadline(w->st, T0) == T0);
	s = run_all(w, T0 + 10);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.w[0].id, 7);
	assert_int_equal(s.w[0].mark, 5);
	assert_false(s.w[0].del);
	free(s.w);
}

/* A copy is rewritten once less than STANDBY_MARGIN_S of it is left,
 * found by the sweep every STANDBY_SWEEP_MS. */
static void test_expiry_refresh(void **state)
{
	struct world *w = *state;
	struct cache_entry *e = hold(w, 0, 1, 60, 0);
	uint64_t t, due = T0 + (60 - STANDBY_MARGIN_S) * 1000;
	struct step s;

	hold(w, 0, 2, 600, 0);		/* stays good throughout */
	become_backup(w, T0);
	assert_int_equal(kexp(w, e), T0 / 1000 + 60);
	/* Sweep by sweep until the first copy is due. */
	for (t = T0 + STANDBY_SWEEP_MS; t < due; t += STANDBY_SWEEP_MS) {
		assert_true(standby_next_deadline(w->st, t - 1) == t);
		assert_false(standby_step(w->st, t - 1));	/* not yet */
		s = run_all(w, t);
		assert_int_equal(s.n, 0);
		free(s.w);
	}
	s = run_all(w, t);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.w[0].id, 1);
	assert_int_equal(kexp(w, e), t / 1000 + 60);
	assert_int_equal(standby_stats(w->st)->refreshed, 1);
	free(s.w);
}

/* The first write of a flow this node also claims as its own withdraws
 * the claim; a tombstone of ours is no claim. */
static void test_release_own(void **state)
{
	struct world *w = *state;
	struct flow f1 = mk(1), f2 = mk(2);
	struct step s;

	assert_non_null(cache_add(w->own, &f1));
	cache_set_dead(w->own, cache_add(w->own, &f2), true);
	hold(w, 0, 1, 60, 0);
	hold(w, 0, 2, 60, 0);
	hold(w, 0, 3, 60, 0);
	standby_start(w->st, T0);
	s = run_all(w, T0);
	assert_int_equal(s.n, 3);
	for (size_t k = 0; k < s.n; k++)
		assert_int_equal(s.w[k].release, s.w[k].id == 1);
	assert_int_equal(standby_stats(w->st)->released, 1);
	free(s.w);
}

/* A copy removed by someone else while the peer holds the flow is put
 * back; our own deletes, and flows no peer holds, are not the module's. */
static void test_restore(void **state)
{
	struct world *w = *state;
	struct flow f1 = mk(1), f9 = mk(9);
	struct step s;

	hold(w, 1, 1, 60, 4);
	become_backup(w, T0);
	/* Our own write's event, and an update by traffic: counted only. */
	assert_true(standby_kernel_event(w->st, &f1.key, false, true));
	assert_true(standby_kernel_event(w->st, &f1.key, false, false));
	assert_true(standby_kernel_event(w->st, &f1.key, true, true));
	assert_int_equal(standby_queued(w->st), 0);
	/* conntrack -D, or expired: written again. */
	assert_true(standby_kernel_event(w->st, &f1.key, true, false));
	assert_int_equal(standby_queued(w->st), 1);
	s = run_all(w, T0 + 1000);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.w[0].id, 1);
	assert_int_equal(s.w[0].mark, 4);
	assert_false(s.w[0].del);
	free(s.w);
	/* This node's own flow: the caller's event. */
	assert_false(standby_kernel_event(w->st, &f9.key, true, false));
	assert_int_equal(standby_stats(w->st)->restored, 1);
	assert_int_equal(standby_stats(w->st)->events, 4);
}

/* Writes and deletes go in the order of the changes, each with the
 * table's state at the write: a flow gone and back is not deleted after
 * it came back, and one that went last is deleted last. */
static void test_delete_order(void **state)
{
	struct world *w = *state;
	struct step s;

	hold(w, 0, 1, 60, 0);
	hold(w, 0, 2, 60, 0);
	become_backup(w, T0);

	destroy(w, 0, 1);		/* gone ... */
	changed(w, 1);
	hold(w, 0, 1, 60, 8);		/* ... and back, at another peer too */
	hold(w, 1, 1, 60, 8);
	changed(w, 1);
	hold(w, 0, 3, 60, 0);		/* new, then gone */
	changed(w, 3);
	destroy(w, 0, 3);
	changed(w, 3);
	destroy(w, 0, 2);		/* gone, held by no one */
	changed(w, 2);
	s = run_all(w, T0 + 10);
	assert_true(s.n >= 3);
	/* 1 is written (its queued delete came back as a write) and never
	 * deleted; 3 and 2 end deleted, 2 last. */
	for (size_t k = 0; k < s.n; k++) {
		if (s.w[k].id == 1) {
			assert_false(s.w[k].del);
			assert_int_equal(s.w[k].mark, 8);
		} else {
			assert_true(s.w[k].del);
		}
	}
	assert_int_equal(s.w[s.n - 1].id, 2);
	assert_int_equal(standby_stats(w->st)->deleted, s.n - 2);
	free(s.w);
	/* Destroyed at one peer, held at the other: still written. */
	destroy(w, 0, 1);
	changed(w, 1);
	s = run_all(w, T0 + 20);
	assert_int_equal(s.n, 1);
	assert_false(s.w[0].del);
	free(s.w);
}

/* A large table is written in steps of STANDBY_CHUNK, each step when the
 * caller asks: what waits keeps the deadline at now. */
static void test_chunks(void **state)
{
	struct world *w = *state;
	uint32_t n = 2 * STANDBY_CHUNK + 5;
	struct step s;

	for (uint32_t i = 0; i < n; i++)
		hold(w, i & 1, i, 60, 0);
	standby_start(w->st, T0);
	s = run_step(w, T0);
	assert_int_equal(s.n, STANDBY_CHUNK);
	free(s.w);
	assert_int_equal(standby_queued(w->st), n - STANDBY_CHUNK);
	assert_true(standby_next_deadline(w->st, T0 + 1) == T0 + 1);
	s = run_step(w, T0 + 1);
	assert_int_equal(s.n, STANDBY_CHUNK);
	free(s.w);
	s = run_step(w, T0 + 2);
	assert_int_equal(s.n, 5);
	free(s.w);
	s = run_step(w, T0 + 3);
	assert_int_equal(s.n, 0);
	assert_int_equal(standby_queued(w->st), 0);
	assert_int_equal(standby_stats(w->st)->flushes, 3);
	assert_int_equal(standby_stats(w->st)->written, n);
}

/*
 * Past STANDBY_QUEUE waiting changes the rest are deferred to the sweep
 * (kexp 0: due), which runs once the queue has drained; deletes are
 * queued all the same.  A sweep stops at a full queue and goes on after
 * it drained.
 */
static void test_queue_overflow(void **state)
{
	struct world *w = *state;
	uint32_t n = STANDBY_QUEUE + 10, late = STANDBY_QUEUE + 100;
	struct cache_entry *last = NULL;
	struct step s;
	size_t dels = 0;

	standby_start(w->st, T0);
	assert_int_equal(run_all(w, T0).n, 0);
	for (uint32_t i = 0; i < n; i++) {
		last = hold(w, 0, i, 60, 0);
		changed(w, i);
	}
	assert_int_equal(standby_queued(w->st), STANDBY_QUEUE);
	assert_int_equal(standby_stats(w->st)->deferred, 10);
	assert_int_equal(kexp(w, last), 0);
	assert_false(queued(w, last));
	/* A delete waits beyond the limit. */
	hold(w, 1, late, 60, 0);
	destroy(w, 1, late);
	changed(w, late);
	assert_int_equal(standby_queued(w->st), STANDBY_QUEUE + 1);
	s = run_all(w, T0 + 10);
	assert_int_equal(s.n, n + 1);
	for (size_t k = 0; k < s.n; k++)
		dels += s.w[k].del;
	assert_int_equal(dels, 1);
	assert_int_equal(kexp(w, last), (T0 + 10) / 1000 + 60);
	assert_int_equal(standby_stats(w->st)->refreshed, 0);
	free(s.w);

	/* Becoming backup again with more than a queue's worth. */
	standby_start(w->st, T0 + 20);
	s = run_step(w, T0 + 20);
	assert_int_equal(s.n, STANDBY_CHUNK);
	free(s.w);
	assert_int_equal(standby_queued(w->st), STANDBY_QUEUE - STANDBY_CHUNK);
	s = run_all(w, T0 + 30);
	assert_int_equal(s.n, n - STANDBY_CHUNK);
	free(s.w);
	for (uint32_t i = 0; i < n; i += 997) {
		struct flow f = mk(i);

		assert_int_not_equal(kexp(w, cache_find(w->ext[0], &f.key)), 0);
	}
}

/* A step the kernel could not take at all leaves every copy due for
 * the next sweep rather than retrying at once. */
static void test_step_failed(void **state)
{
	struct world *w = *state;
	struct standby_op op;
	struct cache_entry *e = hold(w, 0, 1, 60, 0);
	struct step s;

	hold(w, 0, 2, 60, 0);
	standby_start(w->st, T0);
	assert_true(standby_step(w->st, T0));
	assert_true(standby_next(w->st, &op));
	standby_step_failed(w->st);
	assert_int_equal(standby_queued(w->st), 0);
	assert_int_equal(kexp(w, e), 0);
	assert_false(queued(w, e));
	assert_false(standby_step(w->st, T0 + 1));
	assert_true(standby_next_deadline(w->st, T0 + 1) == T0 + STANDBY_SWEEP_MS);
	s = run_all(w, T0 + STANDBY_SWEEP_MS);
	assert_int_equal(s.n, 2);
	free(s.w);
}

/* Becoming master: nothing waits, nothing is a copy any more; becoming
 * backup again writes everything again. */
static void test_stop_start(void **state)
{
	struct world *w = *state;
	struct flow f = mk(1);
	struct step s;

	hold(w, 0, 1, 60, 0);
	hold(w, 0, 2, 60, 0);
	become_backup(w, T0);
	changed(w, 2);
	standby_stop(w->st);
	assert_false(standby_active(w->st));
	assert_int_equal(standby_queued(w->st), 0);
	assert_false(standby_is_copy(w->st, &f.key));
	assert_false(standby_kernel_event(w->st, &f.key, true, false));
	assert_true(standby_next_deadline(w->st, T0) == UINT64_MAX);
	changed(w, 1);
	assert_int_equal(run_all(w, T0 + STANDBY_SWEEP_MS).n, 0);

	standby_start(w->st, T0 + 100000);
	s = run_all(w, T0 + 100000);
	assert_int_equal(s.n, 2);
	assert_int_equal(standby_stats(w->st)->refreshed, 0);
	free(s.w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inactive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_writes_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_start, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
