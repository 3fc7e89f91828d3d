/*
 * test_ftfw.c - the replication state machine between simulated nodes.
 *
 * Nodes exchange datagrams through an in-memory link with seeded loss,
 * duplication and reordering; time is stepped by hand.  The property
 * checked everywhere: once the link has been quiet long enough, every
 * peer's external cache equals the sender's internal cache, entry for
 * entry and field for field.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "auth.h"
#include "cache.h"
#include "ftfw.h"
#include "proto.h"

#define MAXN	3
#define MTU	1400

struct pkt {
	int from, to;
	uint64_t at;
	size_t len;
	uint8_t buf[MTU];
};

struct node {
	struct cache *internal;
	struct ftfw *f;
	int slot[MAXN];		/* slot of node j in this node's peer table */
	/* Its engine's settings, taken when it (re)starts (node_start()). */
	const struct auth_keyring *keys;
	uint32_t window;		/* 0: the default */
	size_t max_external;		/* 0: unlimited */
	void (*on_external)(void *arg, struct cache_entry *e, const struct flow_key *k);
	void *external_arg;
};

struct net {
	struct node n[MAXN];
	int nnodes;
	uint64_t now;
	uint64_t rng;
	unsigned loss;		/* percent, per datagram */
	int loss_from;		/* > 0: only node loss_from - 1's datagrams */
	bool no_sack;		/* STATUS lose WIRE_SF_SACK (an older peer) */
	bool drop_data;		/* node 0's DATA is lost */
	unsigned dup;		/* percent */
	unsigned reorder;	/* percent delayed by up to 20 ms */
	bool down[MAXN];	/* node crashed: sends and receives nothing */
	bool cut;		/* link down */
	struct pkt *q;
	size_t nq, capq;
	uint64_t delivered;
	bool record;		/* keep a copy of what node 0 sends node 1 */
	struct pkt *rec;
	size_t nrec, caprec;
};

/* With a ring, every simulated node seals and checks (see auth tests). */
static const struct auth_keyring *g_keys;

static uint32_t rnd(struct net *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return (uint32_t)(w->rng >> 11);
}

static struct ftfw_conf mkconf(uint32_t node, uint32_t epoch, uint32_t first_seq)
{
	return (struct ftfw_conf){
		.node_id = node, .epoch = epoch, .first_seq = first_seq,
		.max_datagram = MTU, .heartbeat_ms = 100, .ack_ms = 5,
		.peer_timeout_ms = 1000, .window = 4096, .hash_seed = 7,
		.keys = g_keys, .first_counter = (uint64_t)epoch << 24,
	};
}

static struct ftfw *mkftfw(struct cache *c, uint32_t node, uint32_t epoch, uint32_t first_seq)
{
	struct ftfw_conf conf = mkconf(node, epoch, first_seq);

	return ftfw_new(&conf, c);
}

static void node_start(struct net *w, int i, uint32_t epoch, uint32_t first_seq)
{
	struct node *n = &w->n[i];
	struct ftfw_conf conf = mkconf((uint32_t)(i + 1), epoch, first_seq);

	if (!n->internal)
		n->internal = ftfw_internal_new(0, 99);
	conf.keys = n->keys;
	if (n->window)
		conf.window = n->window;
	conf.max_external = n->max_external;
	conf.on_external = n->on_external;
	conf.external_arg = n->external_arg;
	n->f = ftfw_new(&conf, n->internal);
	assert_non_null(n->f);
	/* As the daemon does after its start-up dump. */
	ftfw_start_bulk(n->f);
	for (int j = 0; j < w->nnodes; j++) {
		char name[16];

		if (j == i)
			continue;
		snprintf(name, sizeof(name), "node%d", j + 1);
		n->slot[j] = ftfw_add_peer(n->f, name);
		assert_true(n->slot[j] >= 0);
	}
}

static void net_init(struct net *w, int nnodes, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->nnodes = nnodes;
	w->rng = seed | 1;
	w->now = 1000;
	for (int i = 0; i < nnodes; i++) {
		w->n[i].keys = g_keys;
		node_start(w, i, 0x1000u + (uint32_t)i, 0);
	}
}

/* Node i starts again, empty, under the settings its struct node now
 * holds: right after net_init(), as if so configured from the start. */
static void node_restart(struct net *w, int i)
{
	ftfw_free(w->n[i].f);
	cache_free(w->n[i].internal);
	w->n[i].internal = NULL;
	node_start(w, i, 0x1000u + (uint32_t)i, 0);
}

static struct ftfw_stats stats(const struct ftfw *f)
{
	struct ftfw_stats st;

	ftfw_stats(f, &st);
	return st;
}

/* Node j's view of its peer node i. */
static struct ftfw_peer_info peer_of(struct net *w, int i, int j)
{
	struct ftfw_peer_info pi;

	assert_true(ftfw_peer_info(w->n[j].f, w->n[j].slot[i], &pi));
	return pi;
}

static void net_free(struct net *w)
{
	for (int i = 0; i < w->nnodes; i++) {
		ftfw_free(w->n[i].f);
		cache_free(w->n[i].internal);
	}
	free(w->q);
	free(w->rec);
}

static void enqueue(struct net *w, int from, int to, const uint8_t *buf, size_t len)
{
	struct pkt *p;
	uint64_t delay = 1;

	if (w->record && from == 0 && to == 1) {
		if (w->nrec == w->caprec) {
			w->caprec = w->caprec ? w->caprec * 2 : 256;
			w->rec = realloc(w->rec, w->caprec * sizeof(*w->rec));
			assert_non_null(w->rec);
		}
		w->rec[w->nrec].len = len;
		memcpy(w->rec[w->nrec++].buf, buf, len);
	}
	if (w->cut || w->down[to] || (w->drop_data && from == 0 && buf[1] == WIRE_DATA) ||
	    ((!w->loss_from || w->loss_from == from + 1) && rnd(w) % 100 < w->loss))
		return;
	if (w->reorder && rnd(w) % 100 < w->reorder)
		delay += rnd(w) % 20;
	if (w->nq == w->capq) {
		w->capq = w->capq ? w->capq * 2 : 256;
		w->q = realloc(w->q, w->capq * sizeof(*w->q));
		assert_non_null(w->q);
	}
	p = &w->q[w->nq++];
	p->from = from;
	p->to = to;
	p->at = w->now + delay;
	p->len = len;
	memcpy(p->buf, buf, len);
	if (w->dup && rnd(w) % 100 < w->dup)
		enqueue(w, from, to, buf, len);
}

/* Which destination node a slot of node i means. */
static int slot_node(struct net *w, int i, int slot)
{
	for (int j = 0; j < w->nnodes; j++)
		if (j != i && w->n[i].slot[j] == slot)
			return j;
	return -1;
}

/* Advance time by one millisecond: deliver what is due, let every node send. */
static void step(struct net *w)
{
	uint8_t buf[MTU];

	for (size_t k = 0; k < w->nq;) {
		struct pkt *p = &w->q[k];

		if (p->at <= w->now) {
			struct pkt cp = *p;
			struct node *dst = &w->n[cp.to];

			w->q[k] = w->q[--w->nq];
			/* flags: the low byte of the payload's u16 at 18 */
			if (w->no_sack && !g_keys && cp.buf[1] == WIRE_STATUS &&
			    cp.len >= WIRE_HDR_LEN + WIRE_STATUS_FIXED)
				cp.buf[WIRE_HDR_LEN + 19] &= (uint8_t)~WIRE_SF_SACK;
			if (!w->down[cp.to]) {
				ftfw_input(dst->f, dst->slot[cp.from], "sim", cp.buf, cp.len, w->now);
				w->delivered++;
			}
		} else {
			k++;
		}
	}
	for (int i = 0; i < w->nnodes; i++) {
		size_t len;
		int dest;

		if (w->down[i])
			continue;
		/* Bounded burst per millisecond, like a real socket. */
		for (int b = 0; b < 64 && (len = ftfw_output(w->n[i].f, w->now, buf, sizeof(buf), &dest)); b++) {
			if (dest == FTFW_DEST_ALL) {
				for (int j = 0; j < w->nnodes; j++)
					if (j != i)
						enqueue(w, i, j, buf, len);
			} else {
				enqueue(w, i, slot_node(w, i, dest), buf, len);
			}
		}
	}
	w->now++;
}

static void run(struct net *w, uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t++)
		step(w);
}

/* Compared with a cache (other), or else with an engine's copy of a peer. */
struct cmp_ctx {
	struct cache *other;
	const struct ftfw *f;
	int slot;
	size_t checked;
	size_t bad;
};

static int cmp_one(struct cache_entry *e, void *arg)
{
	struct cmp_ctx *cc = arg;
	struct cache_entry *o;

	if (e->flags & CE_DEAD)
		return 0;
	if (cc->other)
		o = cache_find(cc->other, &cache_flow(e)->key);
	else
		o = ftfw_find_external(cc->f, cc->slot, &cache_flow(e)->key);
	if (!o || (o->flags & CE_DEAD) || !flow_state_eq(cache_flow(e), cache_flow(o)))
		cc->bad++;
	cc->checked++;
	return 0;
}

/* Does node j's copy of node i equal node i's table? */
static bool replica_equal(struct net *w, int i, int j)
{
	struct cmp_ctx cc = { .f = w->n[j].f, .slot = w->n[j].slot[i] };

	cache_foreach(w->n[i].internal, cmp_one, &cc);
	return cc.bad == 0 && peer_of(w, i, j).flows == cache_live(w->n[i].internal);
}

/* Live flows in node j's copy of node i. */
static size_t ext_live(struct net *w, int i, int j)
{
	return peer_of(w, i, j).flows;
}

/* ftfw keeps the send queue's length; it must be the list's. */
static void check_queue_len(struct net *w)
{
	for (int i = 0; i < w->nnodes; i++)
		if (!w->down[i])
			assert_true(ftfw_consistent(w->n[i].f));
}

/* Run until node j holds node i's table, or fail after deadline_ms. */
static void converge(struct net *w, int i, int j, uint64_t deadline_ms)
{
	uint64_t end = w->now + deadline_ms;

	while (w->now < end) {
		run(w, 10);
		check_queue_len(w);
		if (replica_equal(w, i, j) && ftfw_in_sync(w->n[j].f))
			return;
	}
	print_error("no convergence: internal %zu, external %zu, queued %zu, unacked %zu\n",
		    cache_live(w->n[i].internal), ext_live(w, i, j),
		    ftfw_queued(w->n[i].f), ftfw_unacked(w->n[i].f));
	fail();
}

static void mkflow(struct flow *f, uint32_t i, uint8_t state)
{
	memset(f, 0, sizeof(*f));
	f->key.family = AF_INET;
	f->key.l4proto = IPPROTO_TCP;
	f->key.orig.src.v4 = htonl(0xc6120000u + (i >> 16));	/* 198.18.x.x */
	f->key.orig.dst.v4 = htonl(0xcb00710au);		/* 203.0.113.10 */
	f->key.orig.sport = (uint16_t)(1024 + (i & 0xffff) % 60000);
	f->key.orig.dport = 80;
	f->key.orig.src.v4 = htonl(0xc6120000u + i / 60000);
	flow_tuple_invert(&f->key, &f->reply);
	f->status = 0x0e;
	f->timeout = 300;
	f->flags = FLOW_F_PROTO | FLOW_F_TIMEOUT;
	f->proto_state = state;
	f->wscale[0] = 7;
	f->wscale[1] = 7;
}

static void add_flows(struct net *w, int node, uint32_t from, uint32_t n, uint8_t state)
{
	struct flow f;

	for (uint32_t i = from; i < from + n; i++) {
		mkflow(&f, i, state);
		assert_int_equal(ftfw_local_update(w->n[node].f, &f, false), 0);
	}
}

static void del_flows(struct net *w, int node, uint32_t from, uint32_t n)
{
	struct flow f;

	for (uint32_t i = from; i < from + n; i++) {
		mkflow(&f, i, 0);
		ftfw_local_destroy(w->n[node].f, &f.key);
	}
}

/* ---- tests -------------------------------------------------------------- */

static void test_basic(void **state)
{
	struct net w;

	net_init(&w, 2, 1);
	add_flows(&w, 0, 0, 5000, 3);
	converge(&w, 0, 1, 2000);
	assert_int_equal(ext_live(&w, 0, 1), 5000);
	/* Many records per datagram: 5000 flows in far fewer datagrams. */
	assert_true(stats(w.n[0].f).tx.datagrams < 5000 / 20);
	/* The peer's first request is answered by the start-up transfer
	 * already under way: the table went out once. */
	assert_int_equal(stats(w.n[0].f).tx.bulks, 1);
	assert_int_equal(stats(w.n[0].f).tx.flows, 5000);
	/* Updates and destroys follow. */
	add_flows(&w, 0, 0, 100, 4);
	del_flows(&w, 0, 100, 900);
	converge(&w, 0, 1, 2000);
	assert_int_equal(ext_live(&w, 0, 1), 4100);
	/* Tombstones are freed once acknowledged. */
	run(&w, 300);
	assert_int_equal(w.n[0].internal->dead, 0);
	assert_int_equal(ftfw_unacked(w.n[0].f), 0);
	net_free(&w);
}

static void test_coalesce(void **state)
{
	struct net w;

	net_init(&w, 2, 2);
	converge(&w, 0, 1, 1000);
	for (uint8_t s = 1; s <= 5; s++)
		add_flows(&w, 0, 0, 1, s);
	assert_int_equal(ftfw_queued(w.n[0].f), 1);
	converge(&w, 0, 1, 1000);
	assert_int_equal(stats(w.n[0].f).tx.flows, 1);
	/* One FLOW record carried the final state. */
	assert_true(replica_equal(&w, 0, 1));
	/* Created and destroyed before it left: never sent at all. */
	add_flows(&w, 0, 1, 1, 3);
	del_flows(&w, 0, 1, 1);
	assert_int_equal(ftfw_queued(w.n[0].f), 0);
	run(&w, 200);
	assert_int_equal(stats(w.n[0].f).tx.flows + stats(w.n[0].f).tx.destroys, 1);
	net_free(&w);
}

static void lossy(uint64_t seed, unsigned loss, unsigned dup, unsigned reorder, uint32_t first_seq)
{
	struct net w;

	net_init(&w, 2, seed);
	ftfw_free(w.n[0].f);
	node_start(&w, 0, 0x2000, first_seq);
	w.loss = loss;
	w.dup = dup;
	w.reorder = reorder;
	/* Churn while the link misbehaves. */
	for (int round = 0; round < 20; round++) {
		add_flows(&w, 0, (uint32_t)round * 500, 2000, (uint8_t)(round % 8 + 1));
		del_flows(&w, 0, (uint32_t)round * 500, 300);
		run(&w, 20);
	}
	converge(&w, 0, 1, 20000);
	/* And after the link heals. */
	w.loss = w.dup = w.reorder = 0;
	add_flows(&w, 0, 0, 10, 9);
	converge(&w, 0, 1, 2000);
	assert_int_equal(stats(w.n[1].f).wire.rx_bad_len + stats(w.n[1].f).wire.rx_bad_record, 0);
	net_free(&w);
}

static void test_loss_1(void **state)	{ lossy(11, 1, 0, 0, 0); }
static void test_loss_10(void **state)	{ lossy(12, 10, 0, 0, 0); }
static void test_loss_30(void **state)	{ lossy(13, 30, 0, 0, 0); }
static void test_reorder_dup(void **state) { lossy(14, 0, 20, 30, 0); }
static void test_everything(void **state) { lossy(15, 20, 10, 20, 0); }

/* Sequence numbers cross 2^32 during the run, under loss. */
static void test_wrap(void **state)
{
	lossy(16, 10, 5, 10, 0xffffff00u);
	lossy(17, 10, 5, 10, 0x7fffff00u);
}

/* Many seeds, every fault at once, random sequence origins. */
static void test_many_seeds(void **state)
{
	for (uint64_t seed = 100; seed < 140; seed++)
		lossy(seed, (unsigned)(seed % 4) * 10, (unsigned)(seed % 3) * 5,
		      (unsigned)(seed % 5) * 5, (uint32_t)(seed * 0x9e3779b9u));
}

/*
 * Deliver by hand, newest first.  d1 carries X and Y, d2 X again (newer),
 * d3 X's DESTROY; Y keeps d1 unacknowledged, so d1 is not void when it
 * arrives last, and X's older states must not win over what came later.
 */
static void test_never_backwards(void **state)
{
	struct cache *ca = ftfw_internal_new(0, 1), *cb = ftfw_internal_new(0, 1);
	struct ftfw *a = mkftfw(ca, 1, 0x77, 0), *b = mkftfw(cb, 2, 0x88, 0);
	uint8_t d1[MTU], d2[MTU], d3[MTU];
	size_t l1, l2, l3;
	int dest, sb;
	struct flow x, y;
	struct cache_entry *e;
	struct ftfw_peer_info pi;

	ftfw_add_peer(a, "b");
	sb = ftfw_add_peer(b, "a");
	mkflow(&x, 1, 3);				/* ESTABLISHED */
	mkflow(&y, 2, 3);
	ftfw_local_update(a, &x, false);
	ftfw_local_update(a, &y, false);
	l1 = ftfw_output(a, 10, d1, sizeof(d1), &dest);
	mkflow(&x, 1, 7);				/* TIME_WAIT */
	ftfw_local_update(a, &x, false);
	l2 = ftfw_output(a, 11, d2, sizeof(d2), &dest);
	assert_true(l1 > WIRE_HDR_LEN && l2 > WIRE_HDR_LEN);

	ftfw_input(b, sb, "a", d2, l2, 20);
	ftfw_input(b, sb, "a", d1, l1, 21);		/* late, older */
	e = ftfw_find_external(b, sb, &x.key);
	assert_non_null(e);
	assert_int_equal(cache_flow(e)->proto_state, 7);
	assert_true(ftfw_peer_info(b, sb, &pi));
	assert_int_equal(pi.st.rx_stale, 1);
	assert_non_null(ftfw_find_external(b, sb, &y.key));

	/* Destroy first, then both older states arrive late: X stays gone. */
	ftfw_local_destroy(a, &x.key);
	l3 = ftfw_output(a, 12, d3, sizeof(d3), &dest);
	assert_true(l3 > WIRE_HDR_LEN);
	ftfw_free(b);
	cache_free(cb);
	cb = ftfw_internal_new(0, 1);
	b = mkftfw(cb, 2, 0x89, 0);
	sb = ftfw_add_peer(b, "a");
	ftfw_input(b, sb, "a", d3, l3, 30);
	assert_true(ftfw_peer_info(b, sb, &pi));
	assert_int_equal(pi.tombstones, 1);
	ftfw_input(b, sb, "a", d2, l2, 31);
	ftfw_input(b, sb, "a", d1, l1, 32);
	assert_null(ftfw_find_external(b, sb, &x.key));
	assert_non_null(ftfw_find_external(b, sb, &y.key));
	/* Nothing older can come now: the tombstone is gone too. */
	assert_true(ftfw_peer_info(b, sb, &pi));
	assert_int_equal(pi.flows, 1);
	assert_int_equal(pi.tombstones, 0);
	ftfw_free(a);
	ftfw_free(b);
	cache_free(ca);
	cache_free(cb);
}

/* The last datagram of a burst is lost: the heartbeat reveals it. */
static void test_tail_loss(void **state)
{
	struct net w;

	net_init(&w, 2, 3);
	converge(&w, 0, 1, 1000);
	add_flows(&w, 0, 0, 10, 3);
	w.loss = 100;
	run(&w, 2);
	w.loss = 0;
	assert_int_equal(ext_live(&w, 0, 1), 0);
	converge(&w, 0, 1, 1000);
	assert_true(peer_of(&w, 0, 1).st.nack_sent >= 1);
	assert_true(stats(w.n[0].f).tx.retransmitted >= 10);
	net_free(&w);
}

/* The backup restarts empty and gets everything back. */
static void test_receiver_restart(void **state)
{
	struct net w;

	net_init(&w, 2, 4);
	add_flows(&w, 0, 0, 3000, 3);
	converge(&w, 0, 1, 2000);
	w.down[1] = true;
	run(&w, 50);
	ftfw_free(w.n[1].f);
	cache_free(w.n[1].internal);
	w.n[1].internal = NULL;
	add_flows(&w, 0, 3000, 500, 3);		/* while it is away */
	del_flows(&w, 0, 0, 100);
	run(&w, 2000);					/* long enough to be declared down */
	node_start(&w, 1, 0x5555, 77);
	w.down[1] = false;
	converge(&w, 0, 1, 5000);
	assert_int_equal(ext_live(&w, 0, 1), 3400);
	net_free(&w);
}

/* The master restarts with a smaller table: the backup drops the rest. */
static void test_sender_restart(void **state)
{
	struct net w;

	net_init(&w, 2, 5);
	add_flows(&w, 0, 0, 2000, 3);
	converge(&w, 0, 1, 2000);
	ftfw_free(w.n[0].f);
	cache_free(w.n[0].internal);
	w.n[0].internal = NULL;
	node_start(&w, 0, 0x6666, 1234);
	/* What its fresh dump finds, then the start-up bulk. */
	add_flows(&w, 0, 500, 1000, 3);
	ftfw_start_bulk(w.n[0].f);
	converge(&w, 0, 1, 5000);
	assert_int_equal(ext_live(&w, 0, 1), 1000);
	assert_true(peer_of(&w, 0, 1).st.swept >= 1000);
	net_free(&w);
}

/*
 * The master restarts with a sequence origin below its old one: what the
 * backup held from the old life must still count as older than anything
 * of the new life, or the sweep keeps ghost flows (seen in the failover
 * test: "full table received, 242 flows, 0 stale removed" after the
 * master came back empty).
 */
static void test_sender_restart_lower_seq(void **state)
{
	struct net w;

	net_init(&w, 2, 7);
	ftfw_free(w.n[0].f);
	node_start(&w, 0, 0x7000, 0x80000000u);
	add_flows(&w, 0, 0, 500, 3);
	converge(&w, 0, 1, 2000);
	ftfw_free(w.n[0].f);
	cache_free(w.n[0].internal);
	w.n[0].internal = NULL;
	node_start(&w, 0, 0x7001, 5);		/* comes back empty, seqs lower */
	converge(&w, 0, 1, 5000);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	net_free(&w);
}

/* A cut longer than the receive window: the gap is irreparable from the
 * sender's point of view only if it dropped state; here the receiver
 * falls behind by more than its window and asks for the full table. */
static void test_link_down(void **state)
{
	struct net w;

	net_init(&w, 2, 6);
	add_flows(&w, 0, 0, 1000, 3);
	converge(&w, 0, 1, 2000);
	w.cut = true;
	for (int r = 0; r < 30; r++) {
		add_flows(&w, 0, 1000 + (uint32_t)r * 100, 100, 3);
		del_flows(&w, 0, (uint32_t)r * 10, 10);
		run(&w, 100);
	}
	w.cut = false;
	converge(&w, 0, 1, 5000);
	assert_int_equal(ext_live(&w, 0, 1), 3700);
	net_free(&w);
}

/*
 * A small window with the peer away longer than peer_timeout, then under
 * heavy loss: repairs of the hole at the bottom of a full window must
 * still go out, or the receiver's cum never moves and the stream stops
 * for good (seen with a killed backup and with a sync link down).
 */
static void test_window_full(void **state)
{
	struct net w;

	net_init(&w, 2, 21);
	w.n[0].window = 8;
	node_restart(&w, 0);
	add_flows(&w, 0, 0, 200, 3);
	converge(&w, 0, 1, 2000);
	w.cut = true;
	add_flows(&w, 0, 200, 3000, 3);
	run(&w, 2000);				/* declared down */
	w.cut = false;
	converge(&w, 0, 1, 10000);
	w.loss = 40;
	add_flows(&w, 0, 5000, 3000, 3);
	del_flows(&w, 0, 0, 1000);
	run(&w, 500);
	w.loss = 0;
	converge(&w, 0, 1, 10000);
	net_free(&w);
}

/*
 * Flows refused by a full external cache come back once there is room:
 * the receiver asks for the table again rather than holding a partial
 * copy for good.
 */
static void test_cache_limit_recovers(void **state)
{
	struct net w;

	net_init(&w, 2, 22);
	w.n[1].max_external = 1000;
	node_restart(&w, 1);
	add_flows(&w, 0, 0, 5000, 3);
	run(&w, 1000);
	assert_int_equal(ext_live(&w, 0, 1), 1000);
	del_flows(&w, 0, 500, 4500);
	converge(&w, 0, 1, 5000);
	assert_int_equal(ext_live(&w, 0, 1), 500);
	net_free(&w);
}

/* Three nodes: every node replicates to both others under loss. */
static void test_three_nodes(void **state)
{
	struct net w;

	net_init(&w, 3, 8);
	w.loss = 10;
	add_flows(&w, 0, 0, 1000, 3);
	add_flows(&w, 1, 100000, 1000, 3);
	add_flows(&w, 2, 200000, 1000, 3);
	run(&w, 100);
	w.loss = 0;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j)
				converge(&w, i, j, 5000);
	net_free(&w);
}

/*
 * A burst from node 0 with a small window while node 2 is silent (or not),
 * not long enough for it to be declared down: the time until node 1
 * holds it all.  Node 2, back, must then get everything it missed.
 */
static uint64_t window_burst(bool silent)
{
	enum { N = 20000, WINDOW = 16 };
	struct net w;
	uint64_t t0, ms;

	net_init(&w, 3, 71);
	for (int i = 0; i < 3; i++) {
		w.n[i].window = WINDOW;
		node_restart(&w, i);
	}
	converge(&w, 0, 1, 1000);
	converge(&w, 0, 2, 1000);
	w.down[2] = silent;
	add_flows(&w, 0, 0, N, 3);
	t0 = w.now;
	while (ext_live(&w, 0, 1) < N && w.now - t0 < 5000)
		step(&w);
	ms = w.now - t0;
	if (silent) {
		/* Still waited for, and far past its window: it never was
		 * what paced node 1. */
		assert_true(peer_of(&w, 2, 0).alive);
		assert_true(peer_of(&w, 2, 0).in_flight > 10 * WINDOW);
		w.down[2] = false;
	}
	converge(&w, 0, 1, 1000);
	converge(&w, 0, 2, 3000);
	net_free(&w);
	return ms;
}

/*
 * One window for all peers let the slowest live peer pace every other:
 * a peer silent but not yet timed out stopped the stream for
 * peer_timeout_ms as soon as a window was in flight.  Each peer has its
 * own window: node 1 gets the burst as fast with node 2 silent as with
 * node 2 there.
 */
static void test_window_per_peer(void **state)
{
	uint64_t all = window_burst(false), silent = window_burst(true);

	print_message("20000 flows, window 16: %" PRIu64 " ms, with a silent peer %"
		      PRIu64 " ms\n", all, silent);
	assert_true(all < 1000);
	assert_true(silent <= all);
}

/* Malformed input is counted and changes nothing. */
static void test_malformed(void **state)
{
	struct net w;
	uint8_t buf[MTU];
	size_t len;
	int dest;
	struct flow f;

	net_init(&w, 2, 9);
	mkflow(&f, 1, 3);
	ftfw_local_update(w.n[0].f, &f, false);
	len = ftfw_output(w.n[0].f, w.now, buf, sizeof(buf), &dest);
	assert_true(len > WIRE_HDR_LEN + 8);
	/* Truncated by one byte (length field now disagrees). */
	ftfw_input(w.n[1].f, w.n[1].slot[0], "x", buf, len - 1, w.now);
	/* A record length pointing past the end. */
	buf[WIRE_HDR_LEN + 2] = 0x7f;
	ftfw_input(w.n[1].f, w.n[1].slot[0], "x", buf, len, w.now);
	/* Garbage. */
	memset(buf, 0xa5, sizeof(buf));
	ftfw_input(w.n[1].f, w.n[1].slot[0], "x", buf, 100, w.now);
	assert_int_equal(peer_of(&w, 0, 1).flows, 0);
	assert_int_equal(peer_of(&w, 0, 1).table, FTFW_TABLE_NONE);
	assert_int_equal(stats(w.n[1].f).wire.rx_bad_len + stats(w.n[1].f).wire.rx_bad_record +
			 stats(w.n[1].f).wire.rx_bad_version, 3);
	net_free(&w);
}

/* A peer that goes silent stops holding back the sender's memory. */
static void test_dead_peer(void **state)
{
	struct net w;

	net_init(&w, 2, 10);
	converge(&w, 0, 1, 1000);
	w.down[1] = true;
	add_flows(&w, 0, 0, 100, 3);
	run(&w, 10);				/* sent, never acknowledged */
	del_flows(&w, 0, 0, 100);
	run(&w, 100);
	assert_true(ftfw_unacked(w.n[0].f) > 0);
	run(&w, 1500);
	assert_int_equal(ftfw_unacked(w.n[0].f), 0);
	assert_int_equal(w.n[0].internal->count, 0);	/* tombstones freed */
	/* When it comes back (same life), it gets everything again. */
	add_flows(&w, 0, 1000, 50, 3);
	w.down[1] = false;
	converge(&w, 0, 1, 3000);
	net_free(&w);
}

/* Reconcile after an overrun: entries the dump lacks are destroyed. */
static void test_reconcile(void **state)
{
	struct net w;
	struct flow f;

	net_init(&w, 2, 11);
	add_flows(&w, 0, 0, 100, 3);
	converge(&w, 0, 1, 1000);
	ftfw_reconcile_begin(w.n[0].f);
	for (uint32_t i = 0; i < 60; i++) {
		mkflow(&f, i, i < 10 ? 4 : 3);	/* 10 changed state meanwhile */
		ftfw_local_update(w.n[0].f, &f, false);
	}
	assert_int_equal(ftfw_reconcile_end(w.n[0].f), 40);
	assert_int_equal(ftfw_queued(w.n[0].f), 50);
	converge(&w, 0, 1, 1000);
	assert_int_equal(ext_live(&w, 0, 1), 60);
	net_free(&w);
}

/* Own-commit echoes are kept but not sent; their later destroy is. */
static void test_own(void **state)
{
	struct net w;
	struct flow f;

	net_init(&w, 2, 12);
	converge(&w, 0, 1, 1000);
	mkflow(&f, 5, 3);
	ftfw_local_update(w.n[0].f, &f, true);
	assert_int_equal(ftfw_queued(w.n[0].f), 0);
	assert_int_equal(cache_live(w.n[0].internal), 1);
	ftfw_local_destroy(w.n[0].f, &f.key);
	assert_int_equal(ftfw_queued(w.n[0].f), 1);
	net_free(&w);
}

/* A full external cache refuses entries, counts them, keeps working. */
static void test_cache_limit(void **state)
{
	struct net w;

	net_init(&w, 2, 13);
	w.n[1].max_external = 100;
	node_restart(&w, 1);
	add_flows(&w, 0, 0, 150, 3);
	run(&w, 500);
	assert_int_equal(peer_of(&w, 0, 1).flows, 100);
	/* Every refusal is counted (the start-up bulk retries them). */
	assert_true(peer_of(&w, 0, 1).st.cache_full >= 50);
	net_free(&w);
}


/* ---- authenticated sync ----------------------------------------------- */

#define KEY_A "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define KEY_B "1 1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100\n"

static struct auth_keyring ring_a, ring_a_enc, ring_b;

static void rings(void)
{
	memset(&ring_a, 0, sizeof(ring_a));
	memset(&ring_b, 0, sizeof(ring_b));
	assert_int_equal(auth_keys_parse(&ring_a, "a", KEY_A, strlen(KEY_A), stderr), 0);
	assert_int_equal(auth_keys_parse(&ring_b, "b", KEY_B, strlen(KEY_B), stderr), 0);
	ring_a_enc = ring_a;
	ring_a_enc.encrypt = true;
}

/* The replication scenarios, sealed: the proof of each new life costs a
 * round trip and must never cost convergence. */
static void test_auth_scenarios(void **state)
{
	struct net w;

	rings();
	g_keys = &ring_a;
	/* test_basic, except that what the sender sends before the receiver
	 * has proven its life is dropped, then NACKed and sent again once. */
	net_init(&w, 2, 1);
	add_flows(&w, 0, 0, 5000, 3);
	converge(&w, 0, 1, 2000);
	assert_int_equal(ext_live(&w, 0, 1), 5000);
	assert_int_equal(stats(w.n[0].f).tx.bulks, 1);
	assert_true(stats(w.n[0].f).tx.flows < 2 * 5000);
	assert_true(stats(w.n[1].f).auth.rx_unproven > 0);
	assert_int_equal(stats(w.n[1].f).auth.rx_bad_tag + stats(w.n[1].f).auth.rx_replay, 0);
	net_free(&w);
	lossy(31, 30, 10, 20, 0);
	test_receiver_restart(state);
	test_sender_restart(state);
	test_sender_restart_lower_seq(state);
	test_three_nodes(state);
	g_keys = &ring_a_enc;
	lossy(32, 10, 10, 10, 0xfffff000u);
	test_receiver_restart(state);
	g_keys = NULL;
}

/* Feed node 1 one datagram as if node 0 had sent it. */
static void inject(struct net *w, const uint8_t *buf, size_t len)
{
	ftfw_input(w->n[1].f, w->n[1].slot[0], "sim", buf, len, w->now);
}

/*
 * Forged (another key, or none), tampered and mis-keyed datagrams are
 * counted by kind and change nothing, even when they claim node 0's
 * identity and its current life.
 */
/* A forger with node 0's identity and life, sealing with keys (NULL:
 * not sealing), sends node 1 new flows of its own. */
static void forge_flows(struct net *w, const struct auth_keyring *keys)
{
	struct cache *fc = ftfw_internal_new(0, 5);
	struct ftfw_conf conf = *ftfw_conf(w->n[0].f);
	struct ftfw *forger;
	uint8_t buf[MTU];
	size_t len;
	int dest;

	conf.keys = keys;
	forger = ftfw_new(&conf, fc);
	assert_non_null(forger);
	ftfw_add_peer(forger, "victim");
	add_flows(&(struct net){ .n = { { .f = forger } } }, 0, 5000, 50, 3);
	for (int i = 0; i < 20 && (len = ftfw_output(forger, w->now, buf, sizeof(buf), &dest)); i++)
		inject(w, buf, len);
	ftfw_free(forger);
	cache_free(fc);
}

static void test_auth_forged(void **state)
{
	struct net w;
	uint8_t buf[MTU];
	size_t len, live;
	uint64_t bad;
	int dest;

	rings();
	g_keys = &ring_a;
	net_init(&w, 2, 41);
	add_flows(&w, 0, 0, 300, 3);
	converge(&w, 0, 1, 2000);
	live = ext_live(&w, 0, 1);

	/* Node 0's identity and epoch, new flows, the wrong key. */
	forge_flows(&w, &ring_b);
	assert_true(stats(w.n[1].f).auth.rx_bad_tag >= 1);

	/* The same, unsealed. */
	forge_flows(&w, NULL);
	assert_true(stats(w.n[1].f).auth.rx_no_tag >= 1);

	/* A genuine datagram, tampered in its payload, or its key id. */
	add_flows(&w, 0, 9000, 5, 4);
	len = ftfw_output(w.n[0].f, w.now, buf, sizeof(buf), &dest);
	assert_true(len > WIRE_HDR_LEN + AUTH_TRAILER_LEN);
	bad = stats(w.n[1].f).auth.rx_bad_tag;
	buf[WIRE_HDR_LEN + 10] ^= 0x40;
	inject(&w, buf, len);
	assert_int_equal(stats(w.n[1].f).auth.rx_bad_tag, bad + 1);
	buf[WIRE_HDR_LEN + 10] ^= 0x40;
	buf[7] ^= 0x02;
	inject(&w, buf, len);
	assert_int_equal(stats(w.n[1].f).auth.rx_bad_key, 1);
	assert_int_equal(ext_live(&w, 0, 1), live);
	assert_true(replica_equal(&w, 0, 1) == false);	/* 5 new ones not there yet */
	converge(&w, 0, 1, 2000);
	assert_int_equal(ext_live(&w, 0, 1), live + 5);
	net_free(&w);
	g_keys = NULL;
}

/* Replay every datagram of node 0's stream into node 1. */
static void replay_all(struct net *w)
{
	for (size_t k = 0; k < w->nrec; k++)
		inject(w, w->rec[k].buf, w->rec[k].len);
}

/*
 * Recorded datagrams replayed later apply nothing: within the same lives
 * (the counters were seen), after the sender restarted (its old life is
 * retired), and after the receiver restarted (the old life was never
 * proven to the new receiver, whose epoch it cannot name).
 */
static void test_auth_replay(void **state)
{
	struct net w;

	rings();
	g_keys = &ring_a;
	net_init(&w, 2, 42);
	w.record = true;
	add_flows(&w, 0, 0, 1000, 3);
	converge(&w, 0, 1, 2000);
	del_flows(&w, 0, 0, 1000);
	add_flows(&w, 0, 2000, 10, 3);
	converge(&w, 0, 1, 2000);
	w.record = false;
	assert_true(w.nrec > 10);

	/* 1. Same lives. */
	replay_all(&w);
	assert_true(stats(w.n[1].f).auth.rx_replay >= w.nrec - 5);
	assert_true(replica_equal(&w, 0, 1));
	assert_int_equal(ext_live(&w, 0, 1), 10);

	/* 2. The sender restarts, empty: its old life is never taken again. */
	ftfw_free(w.n[0].f);
	cache_free(w.n[0].internal);
	w.n[0].internal = NULL;
	node_start(&w, 0, 0x9001, 4242);
	converge(&w, 0, 1, 5000);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	replay_all(&w);
	assert_true(stats(w.n[1].f).auth.rx_old_epoch >= w.nrec - 5);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	run(&w, 500);
	assert_true(replica_equal(&w, 0, 1));

	/* 3. The receiver restarts: it knows no earlier life of node 0, and
	 * node 0's first life cannot prove itself to this one. */
	ftfw_free(w.n[1].f);
	cache_free(w.n[1].internal);
	w.n[1].internal = NULL;
	node_start(&w, 1, 0x9002, 99);
	replay_all(&w);
	assert_true(stats(w.n[1].f).auth.rx_unproven >= w.nrec - 5);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	assert_int_equal(peer_of(&w, 0, 1).table, FTFW_TABLE_NONE);
	add_flows(&w, 0, 7000, 20, 3);
	converge(&w, 0, 1, 5000);
	replay_all(&w);				/* and once it is in sync */
	run(&w, 500);
	assert_true(replica_equal(&w, 0, 1));
	assert_int_equal(ext_live(&w, 0, 1), 20);
	net_free(&w);
	g_keys = NULL;
}

/* Node 2's next datagram of type `type` to node 1 (or to all); what it
 * sends meanwhile is lost. */
static size_t capture(struct net *w, uint8_t type, uint8_t *out)
{
	uint8_t buf[MTU];
	size_t len;
	int dest;

	for (int t = 0; t < 1000; t++, w->now++) {
		while ((len = ftfw_output(w->n[2].f, w->now, buf, sizeof(buf), &dest))) {
			if (buf[1] == type &&
			    (dest == FTFW_DEST_ALL || dest == w->n[2].slot[1])) {
				memcpy(out, buf, len);
				return len;
			}
		}
	}
	fail_msg("node 3 sent no datagram of type %u to node 2", type);
	return 0;
}

/*
 * Unicast peers are known by their address, and one key serves the whole
 * cluster: a third node's genuine datagram sent from a peer's address
 * (replayed, or reflected as it happens) opens.  It must change nothing
 * of that peer.  Before, node 3's STATUS to node 2, which acknowledges
 * node 2's current life, sent from node 1's address, was taken as the
 * proof of a new life of node 1's slot: node 1's life was retired, and
 * everything node 1 sent afterwards was refused as old_epoch until it
 * restarted.  A peer that was silent for peer_timeout may come back under
 * another node id (a node renumbered), so then a proof is taken; but the
 * life it replaces belongs to another node and is not retired: the peer
 * takes its slot back once the stray life falls silent.
 */
static void test_auth_foreign_node(void **state)
{
	struct net w;
	uint8_t st[MTU], data[MTU];
	size_t stlen, dlen;
	uint64_t foreign, restarts;

	rings();
	g_keys = &ring_a;
	net_init(&w, 3, 44);
	add_flows(&w, 0, 0, 300, 3);
	add_flows(&w, 2, 100000, 200, 3);
	converge(&w, 0, 1, 3000);
	converge(&w, 2, 1, 3000);
	stlen = capture(&w, WIRE_STATUS, st);
	add_flows(&w, 2, 200000, 5, 3);
	dlen = capture(&w, WIRE_DATA, data);
	converge(&w, 2, 1, 3000);

	/* Node 1 alive: refused as foreign, node 1's slot untouched. */
	foreign = stats(w.n[1].f).rx_foreign;
	restarts = peer_of(&w, 0, 1).st.restarts;
	inject(&w, st, stlen);
	inject(&w, data, dlen);
	assert_int_equal(stats(w.n[1].f).rx_foreign, foreign + 2);
	assert_int_equal(peer_of(&w, 0, 1).node_id, 1);
	assert_int_equal(peer_of(&w, 0, 1).st.restarts, restarts);
	add_flows(&w, 0, 5000, 50, 3);
	converge(&w, 0, 1, 3000);
	assert_int_equal(ext_live(&w, 0, 1), 350);
	assert_int_equal(stats(w.n[1].f).auth.rx_old_epoch, 0);

	/* Node 1 silent (its link down, same life): the stray STATUS takes
	 * its slot, and node 1 takes it back once that falls silent. */
	w.down[0] = true;
	run(&w, 1500);
	assert_false(peer_of(&w, 0, 1).alive);
	inject(&w, st, stlen);
	assert_int_equal(peer_of(&w, 0, 1).node_id, 3);
	w.down[0] = false;
	add_flows(&w, 0, 6000, 50, 3);
	converge(&w, 0, 1, 5000);
	assert_int_equal(peer_of(&w, 0, 1).node_id, 1);
	assert_int_equal(ext_live(&w, 0, 1), 400);
	assert_int_equal(stats(w.n[1].f).auth.rx_old_epoch, 0);
	converge(&w, 2, 1, 3000);
	net_free(&w);
	g_keys = NULL;
}

/* A receiver without keys refuses sealed datagrams, and one with keys
 * refuses a sender without them: counted, and no state either way. */
static void test_auth_mismatch(void **state)
{
	struct net w;
	uint8_t buf[MTU];
	size_t len;
	int dest;

	rings();
	net_init(&w, 2, 43);
	w.n[0].keys = &ring_a;
	node_restart(&w, 0);
	add_flows(&w, 0, 0, 10, 3);
	while ((len = ftfw_output(w.n[0].f, w.now, buf, sizeof(buf), &dest)))
		inject(&w, buf, len);
	assert_true(stats(w.n[1].f).auth.rx_unexpected_tag >= 1);
	assert_int_equal(peer_of(&w, 0, 1).table, FTFW_TABLE_NONE);
	w.n[0].keys = NULL;
	w.n[1].keys = &ring_a;
	node_restart(&w, 0);
	node_restart(&w, 1);
	add_flows(&w, 0, 0, 10, 3);
	w.now += 200;
	while ((len = ftfw_output(w.n[0].f, w.now, buf, sizeof(buf), &dest)))
		inject(&w, buf, len);
	assert_true(stats(w.n[1].f).auth.rx_no_tag >= 1);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	net_free(&w);
}


/* ---- hostile and careless input ------------------------------------------ */

/*
 * Two nodes configured with the same node id (the example config copied
 * to the second node unchanged) replicated nothing and said nothing: each
 * dropped the other's stream as its own multicast echo.  Another epoch
 * under our node id is another node: counted, reported by
 * ftfw_trouble() (readiness), until it has been quiet for peer_timeout.
 * Our real echo (same epoch) is still just an echo.
 */
static void test_node_id_clash(void **state)
{
	struct net w;
	uint8_t buf[MTU];
	char why[128] = "";
	size_t len;
	int dest;

	net_init(&w, 2, 51);
	ftfw_free(w.n[1].f);
	w.n[1].f = mkftfw(w.n[1].internal, 1, 0x2222, 0);	/* node 0's id */
	w.n[1].slot[0] = ftfw_add_peer(w.n[1].f, "node1");
	add_flows(&w, 0, 0, 10, 3);
	run(&w, 300);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	for (int i = 0; i < 2; i++) {
		assert_true(stats(w.n[i].f).rx_node_clash > 0);
		assert_int_equal(stats(w.n[i].f).rx_own, 0);
		assert_true(ftfw_trouble(w.n[i].f, w.now, why, sizeof(why)));
	}
	assert_non_null(strstr(why, "node id 1 is also used by node1"));
	/* The other node goes away: trouble ends after peer_timeout. */
	w.down[0] = true;
	run(&w, 1100);
	assert_false(ftfw_trouble(w.n[1].f, w.now, why, sizeof(why)));

	/* A real echo: our own datagram back to us. */
	net_free(&w);
	net_init(&w, 2, 52);
	len = ftfw_output(w.n[0].f, w.now, buf, sizeof(buf), &dest);
	assert_true(len > 0);
	ftfw_input(w.n[0].f, -1, "echo", buf, len, w.now);
	assert_int_equal(stats(w.n[0].f).rx_own, 1);
	assert_int_equal(stats(w.n[0].f).rx_node_clash, 0);
	assert_false(ftfw_trouble(w.n[0].f, w.now, why, sizeof(why)));
	net_free(&w);
}

/* Node 0's header, as node 1 would see it now, with seq and base moved. */
static size_t forge_hdr(struct net *w, uint8_t type, uint32_t dseq, uint32_t dbase,
			uint8_t *buf)
{
	const struct ftfw_conf *c = ftfw_conf(w->n[0].f);
	uint32_t next = stats(w->n[0].f).next_seq;
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = type, .length = WIRE_HDR_LEN,
		.node_id = c->node_id, .epoch = c->epoch,
		.seq = next + dseq, .base = next + dbase,
	};

	wire_hdr_put(buf, &h);
	return WIRE_HDR_LEN;
}

/*
 * Without keys, one datagram with node 0's identity and a seq far ahead
 * wedged node 1 until a restart: its expected went past anything node 0
 * had sent, so node 0's real data was dropped as duplicates and node 0
 * ignored node 1's STATUS (it acknowledged seqs never sent).  A jump past
 * the window is now not believed, and a receiver out of step with the
 * stream its peer's own headers describe starts again from the peer's
 * base within a few heartbeats.
 */
static void test_forged_seq_jump(void **state)
{
	struct net w;
	uint8_t buf[MTU];
	struct wire_hdr h;
	size_t len;
	int dest;

	net_init(&w, 2, 53);
	add_flows(&w, 0, 0, 300, 3);
	converge(&w, 0, 1, 2000);

	/* 1. A DATA datagram of node 0, its seq (and base) moved by 2^30:
	 * dropped, counted, nothing else changes. */
	add_flows(&w, 0, 1000, 5, 3);
	len = ftfw_output(w.n[0].f, w.now, buf, sizeof(buf), &dest);
	assert_true(len > WIRE_HDR_LEN);
	assert_int_equal(wire_hdr_get(buf, len, &h, NULL), 0);
	h.seq += 1u << 30;
	h.base += 1u << 30;
	wire_hdr_put(buf, &h);
	inject(&w, buf, len);
	assert_int_equal(peer_of(&w, 0, 1).st.rx_bad_seq, 1);
	assert_true(peer_of(&w, 0, 1).st.rx_lost < 100);
	add_flows(&w, 0, 2000, 50, 3);
	converge(&w, 0, 1, 1000);
	assert_int_equal(ext_live(&w, 0, 1), 355);
	assert_int_equal(peer_of(&w, 0, 1).st.desyncs, 0);

	/* 2. A heartbeat within the window whose base voids 60000 seqs node 0
	 * never sent: believed at first (it could be true), then contradicted
	 * by every real datagram; replication resumes within a second. */
	len = forge_hdr(&w, WIRE_HEARTBEAT, 60000, 60000, buf);
	inject(&w, buf, len);
	assert_true((int32_t)(peer_of(&w, 0, 1).rx_next - stats(w.n[0].f).next_seq) > 0);
	add_flows(&w, 0, 3000, 50, 3);
	del_flows(&w, 0, 0, 100);
	converge(&w, 0, 1, 1000);
	assert_int_equal(ext_live(&w, 0, 1), 305);
	assert_int_equal(peer_of(&w, 0, 1).st.desyncs, 1);
	add_flows(&w, 0, 4000, 10, 3);
	converge(&w, 0, 1, 500);

	/* 3. Reordering and duplicates alone never look out of step. */
	w.reorder = 30;
	w.dup = 30;
	add_flows(&w, 0, 5000, 2000, 3);
	run(&w, 300);
	w.reorder = w.dup = 0;
	converge(&w, 0, 1, 2000);
	assert_int_equal(peer_of(&w, 0, 1).st.desyncs, 1);
	assert_int_equal(peer_of(&w, 0, 1).st.rx_bad_seq, 1);
	net_free(&w);
}

/*
 * A 44-byte STATUS with the RESYNC flag, as node 1 would send node 0,
 * asking for a table after `after` (relative to node 0's next seq).
 */
static void forge_resync(struct net *w, int64_t after)
{
	const struct ftfw_conf *c0 = ftfw_conf(w->n[0].f), *c1 = ftfw_conf(w->n[1].f);
	uint32_t next0 = stats(w->n[0].f).next_seq, next1 = stats(w->n[1].f).next_seq;
	struct wire_status st = {
		.node_id = c0->node_id, .epoch = c0->epoch,
		.cum = next0 - 1,
		.resync_after = (uint32_t)((int64_t)next0 + after),
		.flags = WIRE_SF_RESYNC,
	};
	uint8_t buf[MTU];
	struct wbuf b = { buf + WIRE_HDR_LEN, 0, sizeof(buf) - WIRE_HDR_LEN };
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_STATUS,
		.node_id = c1->node_id, .epoch = c1->epoch,
		.seq = next1, .base = next1,
	};

	assert_int_equal(wire_put_status(&b, &st), 0);
	h.length = (uint16_t)(WIRE_HDR_LEN + b.len);
	assert_int_equal(h.length, 44);
	wire_hdr_put(buf, &h);
	ftfw_input(w->n[0].f, w->n[0].slot[1], "sim", buf, h.length, w->now);
}

/*
 * Ten forged requests for the full table made the sender send ten.  One
 * transfer under way, or served within peer_timeout, satisfies further
 * requests; a request it cannot satisfy waits and is served once allowed
 * (counted), never dropped.
 */
static void test_resync_rate_limit(void **state)
{
	struct net w;
	uint64_t bulks;

	net_init(&w, 2, 54);
	add_flows(&w, 0, 0, 3000, 3);
	converge(&w, 0, 1, 2000);
	bulks = stats(w.n[0].f).tx.bulks;

	/* A burst, naming seqs never sent: one transfer. */
	for (int i = 0; i < 10; i++)
		forge_resync(&w, 1000);
	converge(&w, 0, 1, 2000);
	assert_int_equal(stats(w.n[0].f).tx.bulks, bulks + 1);
	assert_int_equal(peer_of(&w, 1, 0).st.resync_served, 1);

	/* Spread over the transfer they start: the first is served, the
	 * rest wait for one more transfer, peer_timeout later. */
	run(&w, 1000);
	bulks = stats(w.n[0].f).tx.bulks;
	for (int i = 0; i < 10; i++) {
		forge_resync(&w, -1);
		run(&w, 2);
	}
	assert_int_equal(stats(w.n[0].f).tx.bulks, bulks + 1);
	assert_true(peer_of(&w, 1, 0).st.resync_deferred >= 9);
	run(&w, 1100);
	assert_int_equal(stats(w.n[0].f).tx.bulks, bulks + 2);
	assert_false(peer_of(&w, 1, 0).resync_waiting);
	converge(&w, 0, 1, 2000);

	/* Long after: a real request is served at once. */
	run(&w, 1100);
	ftfw_request_resync(w.n[1].f, w.now);
	run(&w, 20);
	assert_int_equal(stats(w.n[0].f).tx.bulks, bulks + 3);
	converge(&w, 0, 1, 2000);
	assert_int_equal(peer_of(&w, 1, 0).st.resync_served, 4);

	/* A request that waits is satisfied by any transfer begun after it
	 * (here one the operator starts): no other is sent for it. */
	forge_resync(&w, -1);
	assert_true(peer_of(&w, 1, 0).resync_waiting);
	ftfw_start_bulk(w.n[0].f);
	run(&w, 1100);
	assert_int_equal(stats(w.n[0].f).tx.bulks, bulks + 4);
	assert_false(peer_of(&w, 1, 0).resync_waiting);
	assert_int_equal(peer_of(&w, 1, 0).st.resync_served, 4);
	converge(&w, 0, 1, 2000);
	net_free(&w);
}

/*
 * A forged BULK_END (an empty full table from node 0, unasked) wiped the
 * external cache without a log line.  An unasked end of a transfer that
 * refreshed nothing we hold is not believed; an empty table we asked
 * for, and an unasked table with flows in it, still sweep (logged).
 */
static void test_forged_bulk_end(void **state)
{
	struct net w;
	struct ftfw *f0;
	uint8_t buf[MTU];
	struct wbuf b = { buf + WIRE_HDR_LEN, 0, sizeof(buf) - WIRE_HDR_LEN };
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_DATA };
	struct flow x;

	net_init(&w, 2, 55);
	f0 = w.n[0].f;
	add_flows(&w, 0, 0, 300, 3);
	converge(&w, 0, 1, 2000);

	/* Node 0's next seq, carrying only a BULK_END that begins there. */
	h.node_id = ftfw_conf(f0)->node_id;
	h.epoch = ftfw_conf(f0)->epoch;
	h.seq = h.base = stats(f0).next_seq;
	assert_int_equal(wire_put_bulk_end(&b, h.seq), 0);
	h.length = (uint16_t)(WIRE_HDR_LEN + b.len);
	wire_hdr_put(buf, &h);
	inject(&w, buf, h.length);
	/* Without keys a forger that takes a seq the sender will use costs
	 * that datagram: node 1 drops node 0's own as a duplicate.  Node 0
	 * spends it here on what node 1 can do without, the DESTROY of a
	 * flow it never held (one node 0 committed itself), lost anyway. */
	mkflow(&x, 99999, 3);
	ftfw_local_update(f0, &x, true);
	ftfw_local_destroy(f0, &x.key);
	w.drop_data = true;
	step(&w);
	w.drop_data = false;
	assert_int_equal(stats(f0).next_seq, h.seq + 1);
	run(&w, 300);
	assert_int_equal(ext_live(&w, 0, 1), 300);
	assert_int_equal(peer_of(&w, 0, 1).st.swept, 0);
	assert_int_equal(peer_of(&w, 0, 1).st.bulk_refused, 1);
	converge(&w, 0, 1, 1000);

	/* Node 0 forgets its table (not telling): an unasked table with
	 * flows in it sweeps the rest. */
	ftfw_reset_internal(f0);
	add_flows(&w, 0, 1000, 100, 3);
	ftfw_start_bulk(f0);
	converge(&w, 0, 1, 2000);
	assert_int_equal(ext_live(&w, 0, 1), 100);
	assert_int_equal(peer_of(&w, 0, 1).st.swept, 300);

	/* Node 0's table is really empty: asked for, the empty table
	 * sweeps everything. */
	ftfw_reset_internal(f0);
	ftfw_request_resync(w.n[1].f, w.now);
	converge(&w, 0, 1, 2000);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	assert_int_equal(peer_of(&w, 0, 1).st.swept, 400);
	assert_int_equal(peer_of(&w, 0, 1).st.bulk_refused, 1);
	net_free(&w);
}

/*
 * Nodes with different keys logged only "peer down", and the node without
 * its peer's table answered ready once peer_timeout had passed (it took
 * itself to be alone).  Datagrams from a configured peer's address that
 * do not open mean the peer is there but unreadable: not ready, with the
 * reason, until they stop for peer_timeout or the peer is readable.
 */
static void test_key_mismatch_not_ready(void **state)
{
	static struct auth_keyring ring1;	/* node 1's, reloaded below */
	struct net w;
	char why[128] = "";

	rings();
	g_keys = &ring_a;
	net_init(&w, 2, 56);
	ring1 = ring_b;
	w.n[1].keys = &ring1;
	node_restart(&w, 1);
	add_flows(&w, 0, 0, 50, 3);
	run(&w, 1500);
	assert_false(peer_of(&w, 0, 1).alive);
	assert_true(peer_of(&w, 0, 1).st.auth_refused > 0);
	assert_int_equal(ext_live(&w, 0, 1), 0);
	assert_true(ftfw_trouble(w.n[1].f, w.now, why, sizeof(why)));
	assert_string_equal(why, "peer node1: its datagrams do not authenticate (key mismatch?)");
	assert_true(ftfw_trouble(w.n[0].f, w.now, why, sizeof(why)));
	/* The keys agree again: readable, in sync, no trouble. */
	ring1 = ring_a;
	converge(&w, 0, 1, 3000);
	assert_false(ftfw_trouble(w.n[1].f, w.now, why, sizeof(why)));
	/* The peer gone for good: refusals stop, alone after peer_timeout. */
	ring1 = ring_b;
	run(&w, 100);
	w.down[0] = true;
	run(&w, 1100);
	assert_false(ftfw_trouble(w.n[1].f, w.now, why, sizeof(why)));
	net_free(&w);
	g_keys = NULL;
}

/*
 * The same over multicast: peers are known only by what they seal, so a
 * node whose key differs is no peer at all, and its datagrams are refused
 * by address.  Until they stop for peer_timeout, not ready, with it named.
 */
static void test_key_mismatch_multicast(void **state)
{
	struct cache *ca = ftfw_internal_new(0, 1), *cb = ftfw_internal_new(0, 1);
	struct ftfw_conf conf;
	struct ftfw *a, *b;
	uint8_t buf[MTU];
	char why[128] = "";
	size_t len;
	int dest;

	rings();
	conf = mkconf(1, 0x77, 0);
	conf.keys = &ring_a;
	a = ftfw_new(&conf, ca);
	conf = mkconf(2, 0x88, 0);
	conf.keys = &ring_b;
	b = ftfw_new(&conf, cb);
	{
		struct flow x;

		mkflow(&x, 1, 3);
		ftfw_local_update(a, &x, false);
	}
	len = ftfw_output(a, 10, buf, sizeof(buf), &dest);
	assert_true(len > WIRE_HDR_LEN);
	ftfw_input(b, -1, "192.0.2.1", buf, len, 20);
	assert_true(ftfw_trouble(b, 30, why, sizeof(why)));
	assert_string_equal(why, "datagrams from 192.0.2.1 do not authenticate (key mismatch?)");
	assert_true(ftfw_trouble(b, 20 + 1000, why, sizeof(why)));
	assert_false(ftfw_trouble(b, 20 + 1001, why, sizeof(why)));
	/* The same keys: a peer, no trouble. */
	conf.keys = &ring_a;
	ftfw_free(b);
	b = ftfw_new(&conf, cb);
	ftfw_input(b, -1, "192.0.2.1", buf, len, 40);
	assert_false(ftfw_trouble(b, 50, why, sizeof(why)));
	ftfw_free(a);
	ftfw_free(b);
	cache_free(ca);
	cache_free(cb);
}

/* ---- filling datagrams -------------------------------------------------- */

/* Does node 1 hold flow i of node 0? */
static bool holds(struct net *w, uint32_t i)
{
	const struct cache_entry *e;
	struct flow f;

	mkflow(&f, i, 3);
	e = ftfw_find_external(w->n[1].f, w->n[1].slot[0], &f.key);
	return e != NULL;
}

/*
 * Hot standby: what the engine reports of external changes, applied
 * straight away to a stand-in for the kernel's table, keeps that table
 * equal to the external cache through loss, reordering, updates,
 * destroys and the sweep after a restarted sender's smaller table; state
 * the cache already holds (a resync) is not reported again.
 */
/* The kernel's table: flows, nothing beside them. */
static struct cache *flows(uint32_t seed)
{
	struct cache_layout l;

	cache_layout_init(&l, &cache_kind_flow);
	return cache_new(&l, 0, seed);
}

struct kernel_sim {
	struct cache *kernel;
	struct ftfw *f;
	size_t reports;
};

static void sim_external(void *arg, struct cache_entry *e, const struct flow_key *k)
{
	struct kernel_sim *ks = arg;
	struct cache_entry *o = cache_find(ks->kernel, k);

	ks->reports++;
	/* The entry the engine hands over is the one a lookup finds. */
	assert_ptr_equal(e, ftfw_find_external(ks->f, FTFW_ALL_PEERS, k));
	if (e) {
		if (o)
			assert_int_equal(flow_copy(cache_flow(o), cache_flow(e)), 0);
		else
			assert_non_null(cache_add(ks->kernel, cache_flow(e)));
	} else if (o) {
		cache_del(ks->kernel, o);
	}
}

static void sim_attach(struct net *w, struct kernel_sim *ks)
{
	w->n[1].on_external = sim_external;
	w->n[1].external_arg = ks;
	node_restart(w, 1);
	ks->f = w->n[1].f;
}

/* The simulated kernel equals node 0's table (and so node 1's copy). */
static void assert_kernel_equal(struct net *w, struct kernel_sim *ks)
{
	struct cmp_ctx cc = { .other = ks->kernel };

	cache_foreach(w->n[0].internal, cmp_one, &cc);
	assert_int_equal(cc.bad, 0);
	assert_int_equal(cache_live(ks->kernel), cache_live(w->n[0].internal));
}

static void test_external_reports(void **state)
{
	struct kernel_sim ks = { .kernel = flows(5) };
	struct net w;
	size_t before;

	net_init(&w, 2, 21);
	sim_attach(&w, &ks);
	w.loss = 10;
	w.reorder = 20;
	w.dup = 5;
	add_flows(&w, 0, 0, 2000, 3);
	converge(&w, 0, 1, 5000);
	assert_kernel_equal(&w, &ks);

	add_flows(&w, 0, 0, 300, 4);		/* state changes */
	del_flows(&w, 0, 1500, 200);
	converge(&w, 0, 1, 5000);
	run(&w, 300);
	assert_kernel_equal(&w, &ks);
	assert_int_equal(cache_live(ks.kernel), 1800);

	/* A full resync of unchanged state writes nothing. */
	w.loss = w.reorder = w.dup = 0;
	before = ks.reports;
	ftfw_request_resync(w.n[1].f, w.now);
	run(&w, 500);
	assert_int_equal(peer_of(&w, 1, 0).st.resync_served, 1);
	assert_int_equal(ks.reports, before);

	/* The sender restarts with a smaller table: the sweep deletes. */
	w.down[0] = true;
	run(&w, 50);
	ftfw_free(w.n[0].f);
	cache_free(w.n[0].internal);
	w.n[0].internal = NULL;
	node_start(&w, 0, 0x7777, 5);
	add_flows(&w, 0, 0, 1000, 3);
	w.down[0] = false;
	converge(&w, 0, 1, 5000);
	run(&w, 300);
	assert_kernel_equal(&w, &ks);
	assert_int_equal(cache_live(ks.kernel), 1000);
	net_free(&w);
	cache_free(ks.kernel);
}

/*
 * A trickle of one new flow per ms: sent as it comes, each leaves in a
 * datagram of its own; held while more is known to come and released
 * every 5 ms (as the daemon does per batch of kernel events), they share
 * datagrams, and none waits longer than the hold plus the link.
 */
static void test_fill_trickle(void **state)
{
	enum { N = 300 };
	uint64_t dgrams[2], worst[2];

	for (int k = 0; k < 2; k++) {
		uint64_t added[N];
		uint32_t next = 0, arrived = 0;
		struct net w;

		net_init(&w, 2, 51);
		converge(&w, 0, 1, 2000);
		dgrams[k] = stats(w.n[0].f).tx.datagrams;
		worst[k] = 0;
		while (arrived < N && w.now < 100000) {
			if (next < N) {
				add_flows(&w, 0, next, 1, 3);
				added[next++] = w.now;
			}
			ftfw_hold(w.n[0].f, k && next < N && next % 5);
			step(&w);
			/* in order: the link keeps it (no loss, no reordering) */
			while (arrived < next && holds(&w, arrived)) {
				uint64_t d = w.now - added[arrived++];

				if (d > worst[k])
					worst[k] = d;
			}
		}
		assert_int_equal(arrived, N);
		converge(&w, 0, 1, 2000);
		dgrams[k] = stats(w.n[0].f).tx.datagrams - dgrams[k];
		assert_int_equal(stats(w.n[0].f).tx.flows, N);
		net_free(&w);
	}
	print_message("trickle: %" PRIu64 " datagrams, worst %" PRIu64 " ms; "
		      "held 5 ms at a time: %" PRIu64 " datagrams, worst %" PRIu64 " ms\n",
		      dgrams[0], worst[0], dgrams[1], worst[1]);
	assert_true(dgrams[0] >= N * 9 / 10);
	assert_true(dgrams[1] * 3 < dgrams[0]);
	assert_true(worst[0] <= 3);
	assert_true(worst[1] <= 5 + 3);
}

/*
 * A steady stream held throughout (10 flows per ms, 39 flows to a
 * datagram) leaves in full datagrams: what a full one leaves behind
 * waits for the next instead of going as a runt; the rest goes once the
 * hold ends.
 */
static void test_fill_stream(void **state)
{
	struct net w;
	uint64_t d0;

	net_init(&w, 2, 54);
	converge(&w, 0, 1, 2000);
	d0 = stats(w.n[0].f).tx.datagrams;
	ftfw_hold(w.n[0].f, true);
	for (uint32_t ms = 0; ms < 200; ms++) {
		add_flows(&w, 0, ms * 10, 10, 3);
		step(&w);
	}
	/* held: less than a datagram's worth is still queued */
	assert_true(ftfw_queued(w.n[0].f) > 0);
	assert_true(ftfw_queued(w.n[0].f) < 39);
	ftfw_hold(w.n[0].f, false);
	converge(&w, 0, 1, 2000);
	d0 = stats(w.n[0].f).tx.datagrams - d0;
	print_message("stream: 2000 flows in %" PRIu64 " datagrams\n", d0);
	assert_int_equal(stats(w.n[0].f).tx.flows, 2000);
	assert_true(d0 <= 2000 / 39 + 3);
	net_free(&w);
}

/* A hold never keeps back a repair: on a lossy link, everything but the
 * held tail arrives while the hold stays on. */
static void test_fill_lossy(void **state)
{
	struct net w;
	size_t held;

	net_init(&w, 2, 53);
	converge(&w, 0, 1, 2000);
	w.loss = 30;
	w.reorder = 20;
	w.dup = 10;
	ftfw_hold(w.n[0].f, true);
	add_flows(&w, 0, 0, 5000, 3);
	run(&w, 3000);
	held = ftfw_queued(w.n[0].f);
	assert_true(held < 39);
	assert_int_equal(ext_live(&w, 0, 1), 5000 - held);
	ftfw_hold(w.n[0].f, false);
	converge(&w, 0, 1, 5000);
	assert_int_equal(ext_live(&w, 0, 1), 5000);
	net_free(&w);
}

/*
 * A node busy with long kernel work (a dump, a commit) runs nothing of
 * the engine but ftfw_heartbeat(): its peer keeps it alive throughout,
 * its datagrams are never further apart than a heartbeat and a step, and
 * a heartbeat is not sent before it is due.
 */
static void test_busy_heartbeats(void **state)
{
	struct net w;
	uint8_t buf[MTU];
	int dest;
	unsigned sent = 0;

	net_init(&w, 2, 21);
	converge(&w, 0, 1, 1000);
	w.down[1] = true;	/* node 2 reads and sends nothing else */
	for (int t = 0; t < 5000; t += 10) {
		size_t n = ftfw_heartbeat(w.n[1].f, w.now, buf, sizeof(buf), &dest);

		if (n) {
			assert_int_equal(dest, FTFW_DEST_ALL);
			assert_int_equal(ftfw_heartbeat(w.n[1].f, w.now, buf, sizeof(buf), &dest), 0);
			enqueue(&w, 1, 0, buf, n);
			sent++;
		}
		run(&w, 10);
		assert_true(peer_of(&w, 1, 0).alive);
	}
	assert_in_range(sent, 40, 50);		/* one per 100 ms heartbeat */
	assert_in_range(stats(w.n[1].f).tx.gap_max_ms, 100, 110);
	w.down[1] = false;
	converge(&w, 0, 1, 3000);
	net_free(&w);
}

/*
 * A 100,000-flow burst through a link that drops pct % of what node 0
 * sends (node 1's acknowledgements all arrive, as in the netns bench):
 * node 1 must hold the whole table within a bound of simulated time set
 * by the loss-free burst plus some round trips, and the NACK traffic
 * must stay a small fraction of the data.  Cheap checks while it runs
 * (counts); the full comparison once at the end.
 */
struct burst_fig {
	uint64_t ms;			/* until node 1 holds everything */
	uint64_t status_bytes;		/* node 1's STATUS, headers included */
	uint64_t status;
	uint64_t datagrams;		/* node 0's DATA */
	uint64_t retransmitted;
};

static struct burst_fig burst(uint64_t seed, unsigned pct, uint32_t n, uint64_t limit_ms,
			      bool no_sack)
{
	struct burst_fig fig = { 0 };
	struct net w;
	uint64_t t0, st0, b0, d0, r0;

	net_init(&w, 2, seed);
	converge(&w, 0, 1, 1000);
	w.loss = pct;
	w.loss_from = 1;		/* node 0's datagrams only */
	w.no_sack = no_sack;
	st0 = stats(w.n[1].f).tx.status;
	b0 = stats(w.n[1].f).tx.bytes;
	d0 = stats(w.n[0].f).tx.datagrams;
	r0 = stats(w.n[0].f).tx.retransmitted;
	for (uint32_t i = 0; i < n; i++) {
		struct flow f;

		/* mkflow's keys repeat past 60,000: one port each here */
		mkflow(&f, i, 3);
		f.key.orig.src.v4 = htonl(0xc6120000u + (i >> 16));
		f.key.orig.sport = (uint16_t)i;
		flow_tuple_invert(&f.key, &f.reply);
		assert_int_equal(ftfw_local_update(w.n[0].f, &f, false), 0);
	}
	assert_int_equal(cache_live(w.n[0].internal), n);
	t0 = w.now;
	while (w.now - t0 < limit_ms) {
		step(&w);
		if (ext_live(&w, 0, 1) == n && ftfw_in_sync(w.n[1].f))
			break;
	}
	fig.ms = w.now - t0;
	fig.status = stats(w.n[1].f).tx.status - st0;
	/* node 1 sends nothing but STATUS and the odd heartbeat */
	fig.status_bytes = stats(w.n[1].f).tx.bytes - b0;
	fig.datagrams = stats(w.n[0].f).tx.datagrams - d0;
	fig.retransmitted = stats(w.n[0].f).tx.retransmitted - r0;
	print_message("burst %" PRIu32 " flows, loss %u %%: %" PRIu64 " ms, %" PRIu64 " DATA, %"
		      PRIu64 " records re-sent, %" PRIu64 " STATUS (%" PRIu64 " bytes)\n",
		      n, pct, fig.ms, fig.datagrams, fig.retransmitted, fig.status,
		      fig.status_bytes);
	if (fig.ms < limit_ms) {
		w.loss = 0;
		converge(&w, 0, 1, 1000);
		assert_true(replica_equal(&w, 0, 1));
	}
	net_free(&w);
	return fig;
}

static void burst_loss(unsigned pct)
{
	enum { N = 100000 };
	struct burst_fig clean = burst(61, 0, N, 5000, false);
	struct burst_fig lossy = burst(62, pct, N, 5000, false);
	/* One round trip of the simulated link: 1 ms each way plus a step. */
	const uint64_t rtt = 3;

	assert_true(clean.ms < 5000);
	/* What is lost is sent again, so about 1 / (1 - loss) of the
	 * loss-free time, plus a few round trips for the last repairs. */
	assert_true(lossy.ms <= clean.ms * 100 / (100 - pct) + 30 * rtt);
	/* Each record is re-sent about as often as it is lost. */
	assert_true(lossy.retransmitted <= (uint64_t)N * pct / (100 - pct) * 3 / 2);
	/* NACKs: a few bytes per lost datagram, not a STATUS per datagram
	 * repeating every hole. */
	assert_true(lossy.status_bytes <= lossy.datagrams * 8);
}

static void test_burst_loss_20(void **state)	{ burst_loss(20); }
static void test_burst_loss_40(void **state)	{ burst_loss(40); }

/* A receiver that does not say its ranges are complete (an older one)
 * gets everything too, the sender relying on cum alone. */
static void test_burst_loss_no_sack(void **state)
{
	struct burst_fig fig = burst(63, 20, 20000, 30000, true);

	assert_true(fig.ms < 30000);
}

/*
 * The last repair of a burst is lost and nothing follows it: the
 * receiver's NACK of the old seq finds nothing to send again, and the
 * heartbeat that answers it reveals the repair's seq, so the receiver
 * asks for it in a few round trips rather than after heartbeat_ms.
 */
static void test_tail_repair_lost(void **state)
{
	struct net w;
	uint64_t t0, r0;

	net_init(&w, 2, 64);
	converge(&w, 0, 1, 1000);
	r0 = stats(w.n[0].f).tx.retransmitted;
	w.drop_data = true;
	add_flows(&w, 0, 0, 200, 3);
	/* The data is lost; a heartbeat reveals it, the receiver NACKs it
	 * and the repair is lost too. */
	while (stats(w.n[0].f).tx.retransmitted == r0 && w.now < 5000)
		step(&w);
	assert_true(stats(w.n[0].f).tx.retransmitted > r0);
	w.drop_data = false;
	t0 = w.now;
	converge(&w, 0, 1, 1000);
	print_message("lost repair recovered in %" PRIu64 " ms (heartbeat 100 ms)\n",
		      w.now - t0);
	assert_true(w.now - t0 < 50);
	net_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_coalesce),
		cmocka_unit_test(test_loss_1),
		cmocka_unit_test(test_loss_10),
		cmocka_unit_test(test_loss_30),
		cmocka_unit_test(test_reorder_dup),
		cmocka_unit_test(test_everything),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_many_seeds),
		cmocka_unit_test(test_never_backwards),
		cmocka_unit_test(test_tail_loss),
		cmocka_unit_test(test_receiver_restart),
		cmocka_unit_test(test_sender_restart),
		cmocka_unit_test(test_sender_restart_lower_seq),
		cmocka_unit_test(test_link_down),
		cmocka_unit_test(test_window_full),
		cmocka_unit_test(test_cache_limit_recovers),
		cmocka_unit_test(test_three_nodes),
		cmocka_unit_test(test_window_per_peer),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_dead_peer),
		cmocka_unit_test(test_reconcile),
		cmocka_unit_test(test_own),
		cmocka_unit_test(test_cache_limit),
		cmocka_unit_test(test_auth_scenarios),
		cmocka_unit_test(test_auth_forged),
		cmocka_unit_test(test_auth_replay),
		cmocka_unit_test(test_auth_mismatch),
		cmocka_unit_test(test_auth_foreign_node),
		cmocka_unit_test(test_external_reports),
		cmocka_unit_test(test_node_id_clash),
		cmocka_unit_test(test_forged_seq_jump),
		cmocka_unit_test(test_resync_rate_limit),
		cmocka_unit_test(test_forged_bulk_end),
		cmocka_unit_test(test_key_mismatch_not_ready),
		cmocka_unit_test(test_key_mismatch_multicast),
		cmocka_unit_test(test_fill_trickle),
		cmocka_unit_test(test_fill_stream),
		cmocka_unit_test(test_fill_lossy),
		cmocka_unit_test(test_busy_heartbeats),
		cmocka_unit_test(test_burst_loss_20),
		cmocka_unit_test(test_burst_loss_40),
		cmocka_unit_test(test_burst_loss_no_sack),
		cmocka_unit_test(test_tail_repair_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
