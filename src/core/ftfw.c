/*
 * ftfw.c - reliable replication: see ftfw.h for the model.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftfw.h"
#include "log.h"

/* Inside, sequence numbers are 64 bits and start well above zero, so
 * extending a 32-bit wire value backwards never underflows. */
#define SEQ_ORIGIN	((uint64_t)1 << 40)
#define ACK_EVERY	64	/* acknowledge at least every N datagrams */
#define WBITS		(FTFW_RX_WINDOW)

/* ---- state -------------------------------------------------------------- */

/*
 * The engine's side data in an entry (cache.h): a node of the sender's
 * queues, for the internal cache's entries; the bulk-end marker is
 * ftfw's own node, told apart by its address.
 *   q:  on the send queue (something to send)
 *   ua: sent, not yet acknowledged by every live peer; the unacked list is
 *       kept in ascending seq order
 * Receiver side (external caches) reuses q for its tombstone list and
 * never uses ua: external entries reserve the node up to ua only (16
 * bytes a flow less), so ua must never be touched there.
 */
struct txnode {
	struct list q;
	uint64_t    seq;	/* sender: seq of the last DATA that carried it,
				 * 0 = never sent; receiver: seq its state
				 * came from */
	struct list ua;
};

/* A peer's stream, as we receive it. */
struct ftfw_rx {
	bool     known;			/* a datagram of this stream was seen */
	uint32_t epoch;
	uint64_t expected;		/* all seqs below are held or void */
	uint64_t highest;		/* one past the highest seq heard of */
	uint64_t bits[FTFW_RX_WINDOW / 64];	/* held seqs from expected */
	uint64_t origin;			/* first seq tracked of this life */
	uint64_t sweep_begin, sweep_end;	/* pending BULK_END */
	bool     sweep_pending;
	bool     want_table;		/* our open full-table request */
	bool     refused;		/* the cache was full: flows are missing */
	uint64_t want_after;		/* satisfied by a bulk beginning later */
	uint32_t unacked;		/* datagrams received since our STATUS */
	uint64_t status_at;		/* when our next STATUS is due, 0 none */
	uint64_t last_status;
	uint32_t odd_n;			/* datagrams in a row out of step */
	uint64_t odd_since;		/* when the first of them came */
	struct list tombstones;
	struct cache *ext;		/* this peer's flows */
};

struct ftfw_peer {
	bool     used;
	bool     bound;			/* node id learned */
	uint32_t node_id;
	char     name[64];		/* address, for logs and ctctl */
	uint64_t last_heard;		/* 0 never */
	bool     alive;
	/* our stream as this peer acknowledges it */
	bool     acked_valid;
	uint64_t acked;			/* highest cum (extended) */
	struct ftfw_rx rx;
	struct ftfw_peer_stats st;
	/* with keys */
	uint16_t key_id;		/* of its last datagram taken, 0 none */
	struct auth_replay replay;	/* counters of rx.epoch's life */
	uint32_t retired[FTFW_RETIRED];	/* its earlier lives */
	unsigned nretired;
	bool     probe_due;		/* answer an unproven life */
	uint32_t probe_node, probe_epoch, probe_base;
	uint64_t probe_at;		/* no probe before (rate limit) */
	bool     resync_deferred;	/* its request for our table waits */
	uint64_t resync_after;		/* for a transfer beginning after */
	uint64_t auth_refused_at;	/* last datagram from its address that
					 * did not open (unicast), 0 none */
};

struct ftfw {
	struct ftfw_conf conf;
	struct cache *internal;
	/* where the side data lives (cache_reserve()) */
	size_t   tx_off;		/* internal: struct txnode */
	size_t   gen_off;		/* internal: reconcile generation */
	size_t   rx_off;		/* external: struct txnode up to ua */
	struct cache_layout ext_layout;	/* the peers' caches */
	/* sender */
	uint64_t next_seq;
	struct list txq;
	size_t   nq;			/* nodes on txq */
	struct list unacked;
	struct txnode bulk_end;
	uint64_t bulk_begin;
	uint64_t resync_at;		/* last full table served on request */
	bool     resync_waiting;	/* a peer's request waits (deferred) */
	uint64_t last_tx;		/* time of the last datagram we sent */
	bool     hold;			/* ftfw_hold(): more changes coming */
	bool     beat_due;		/* a NACK found nothing to send again */
	uint64_t stream_start;		/* our first seq */
	uint64_t popped_to;		/* highest seq released from unacked */
	uint8_t  gen;			/* reconcile generation */
	struct ftfw_tx_stats tx;
	struct wire_stats wire;		/* malformed input, by kind */
	uint64_t rx_foreign;		/* from unknown senders / full peer table;
					 * with keys, another node's from a live
					 * peer's address */
	uint64_t rx_own;		/* our own multicast echo */
	uint64_t rx_node_clash;		/* our node id, another epoch */
	uint64_t clash_at;		/* last such datagram, 0 none */
	uint64_t clash_log_at;		/* no warning again before */
	char     clash_peer[64];	/* where it came from */
	/* Multicast: datagrams that did not authenticate come from no known
	 * peer (peers are known by what they seal); the last, and whence. */
	uint64_t refused_at;
	char     refused_from[64];
	struct auth_stats auth;		/* refused: unsealed, forged, replayed */
	uint64_t tx_counter;		/* next sealing counter */
	uint8_t  plain[65536];		/* an opened datagram */
	struct ftfw_peer peers[CTSYNC_MAX_PEERS];
	int      status_rr;		/* round robin over due STATUS */
};

/* The 64-bit value nearest to ref whose low 32 bits are v. */
static inline uint64_t seq_extend(uint64_t ref, uint32_t v)
{
	return ref + (uint64_t)(int64_t)(int32_t)(v - (uint32_t)ref);
}

static void wait_for_acks(struct ftfw *f, struct ftfw_peer *p);
static void rx_want_table(struct ftfw *f, struct ftfw_peer *p, uint64_t now);

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- side data of the caches' entries ----------------------------------- */

/* The internal cache's entries: a flow, its reconcile generation (in
 * the header's spare bytes) and its node. */
static void internal_layout(struct cache_layout *l, size_t *tx_off,
			    size_t *gen_off)
{
	cache_layout_init(l, &cache_kind_flow);
	*gen_off = cache_reserve(l, sizeof(uint8_t), _Alignof(uint8_t));
	*tx_off = cache_reserve(l, sizeof(struct txnode), _Alignof(struct txnode));
}

static inline struct txnode *tx_of(const struct ftfw *f, struct cache_entry *e)
{
	return cache_side(e, f->tx_off);
}

static inline struct cache_entry *tx_entry(const struct ftfw *f, struct txnode *n)
{
	return (struct cache_entry *)(void *)((char *)n - f->tx_off);
}

static inline uint8_t *gen_of(const struct ftfw *f, struct cache_entry *e)
{
	return cache_side(e, f->gen_off);
}

static inline struct txnode *rx_of(const struct ftfw *f, struct cache_entry *e)
{
	return cache_side(e, f->rx_off);
}

static inline struct cache_entry *rx_entry(const struct ftfw *f, struct txnode *n)
{
	return (struct cache_entry *)(void *)((char *)n - f->rx_off);
}

/* A new internal entry, its node on no list; NULL as cache_add(). */
static struct cache_entry *internal_add(struct ftfw *f, const struct flow *fl)
{
	struct cache_entry *e = cache_add(f->internal, fl);

	if (e) {
		list_init(&tx_of(f, e)->q);
		list_init(&tx_of(f, e)->ua);
	}
	return e;
}

/* The same for an external entry (no ua). */
static struct cache_entry *external_add(const struct ftfw *f, struct ftfw_rx *rx,
					const struct flow *fl)
{
	struct cache_entry *e = cache_add(rx->ext, fl);

	if (e)
		list_init(&rx_of(f, e)->q);
	return e;
}

/* ---- receiver window ---------------------------------------------------- */

static inline bool rx_has(const struct ftfw_rx *rx, uint64_t s)
{
	uint64_t i = s % WBITS;

	return rx->bits[i / 64] >> (i % 64) & 1;
}

static inline void rx_set(struct ftfw_rx *rx, uint64_t s)
{
	uint64_t i = s % WBITS;

	rx->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void rx_clear(struct ftfw_rx *rx, uint64_t s)
{
	uint64_t i = s % WBITS;

	rx->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
}

static void rx_drop_tombstones(const struct ftfw *f, struct ftfw_rx *rx, bool all)
{
	struct list *l, *n;

	for (l = rx->tombstones.next; l != &rx->tombstones; l = n) {
		struct txnode *t = container_of(l, struct txnode, q);

		n = l->next;
		if (all || t->seq < rx->expected) {
			list_del(&t->q);
			cache_del(rx->ext, rx_entry(f, t));
		}
	}
}

/* The live entry of k in the external caches of slots [from, to). */
static struct cache_entry *find_live(const struct ftfw *f, int from, int to,
				     const struct flow_key *k)
{
	for (int i = from; i < to && f->peers[i].used; i++) {
		struct cache_entry *e = cache_find(f->peers[i].rx.ext, k);

		if (e && !(e->flags & CE_DEAD))
			return e;
	}
	return NULL;
}

/*
 * p's entry for k changed: e is it, live, or NULL when p no longer holds
 * the flow.  The caller is given what ftfw_find_external() finds, which
 * costs no lookup with one peer: an earlier peer's entry comes first.
 */
static void tell_external(const struct ftfw *f, const struct ftfw_peer *p,
			  struct cache_entry *e, const struct flow_key *k)
{
	int slot = (int)(p - f->peers);
	struct cache_entry *first;

	if (!f->conf.on_external)
		return;
	if (!(first = find_live(f, 0, slot, k)))
		first = e ? e : find_live(f, slot + 1, CTSYNC_MAX_PEERS, k);
	f->conf.on_external(f->conf.external_arg, first, k);
}

struct sweep_ctx {
	const struct ftfw *f;
	struct ftfw_peer *p;
	uint64_t begin;
	uint64_t n;
	uint64_t kept;		/* count_one: entries the transfer refreshed */
};

static int count_one(struct cache_entry *e, void *arg)
{
	struct sweep_ctx *sc = arg;

	if (rx_of(sc->f, e)->seq < sc->begin)
		sc->n++;
	else if (!(e->flags & CE_DEAD))
		sc->kept++;
	return 0;
}

static int sweep_one(struct cache_entry *e, void *arg)
{
	struct sweep_ctx *sc = arg;
	struct txnode *n = rx_of(sc->f, e);

	if (n->seq < sc->begin) {
		if (list_linked(&n->q))
			list_del(&n->q);
		bool live = !(e->flags & CE_DEAD);
		struct flow_key k = cache_flow(e)->key;

		cache_del(sc->p->rx.ext, e);
		if (live)
			tell_external(sc->f, sc->p, NULL, &k);
		sc->n++;
	}
	return 0;
}

/*
 * After expected moved: free tombstones no older datagram can revive, and
 * run a pending sweep once every seq of the bulk is held.
 */
static void rx_settle(struct ftfw *f, struct ftfw_peer *p, uint64_t now)
{
	struct ftfw_rx *rx = &p->rx;

	while (rx->expected < rx->highest && rx_has(rx, rx->expected)) {
		rx_clear(rx, rx->expected);
		rx->expected++;
	}
	if (!list_empty(&rx->tombstones))
		rx_drop_tombstones(f, rx, false);
	if (rx->sweep_pending && rx->expected > rx->sweep_end) {
		struct sweep_ctx sc = { f, p, rx->sweep_begin, 0, 0 };
		bool asked = rx->want_table && rx->sweep_begin > rx->want_after;

		rx->sweep_pending = false;
		/* Unasked, a transfer that refreshed none of what we hold but
		 * would remove it all is not believed (a forged BULK_END). */
		cache_foreach(rx->ext, count_one, &sc);
		if (!asked && sc.n && !sc.kept) {
			p->st.bulk_refused++;
			log_warnx("peer %s: end of a full table we did not ask for "
				  "that would remove all %" PRIu64 " flows and "
				  "carried none: ignored (if its table is empty, "
				  "ctctl resync)", p->name, sc.n);
		} else {
			sc.n = 0;
			cache_foreach(rx->ext, sweep_one, &sc);
			p->st.swept += sc.n;
			p->st.resync_done++;
			if (asked) {
				rx->want_table = false;
				log_info("peer %s: full table received, %zu flows, %"
					 PRIu64 " stale removed", p->name,
					 cache_live(rx->ext), sc.n);
			} else if (sc.n) {
				log_info("peer %s: full table received unasked, %zu "
					 "flows, %" PRIu64 " stale removed", p->name,
					 cache_live(rx->ext), sc.n);
			}
		}
	}
	/* Room again after refusals: what we refused is missing for good
	 * unless we ask for the whole table again. */
	if (rx->refused && !rx->want_table && rx->ext->count < rx->ext->max) {
		rx->refused = false;
		rx_want_table(f, p, now);
	}
}

/*
 * Seqs in [expected, to) are given up: void (the sender superseded them)
 * or lost.  Bounded work however far `to` is (a forged seq cannot stall us).
 */
static void rx_skip_to(struct ftfw_peer *p, uint64_t to, bool lost)
{
	struct ftfw_rx *rx = &p->rx;
	uint64_t held = 0, upto, span;

	if (to <= rx->expected)
		return;
	if (to - rx->expected >= WBITS) {
		for (size_t i = 0; i < WBITS / 64; i++)
			held += (uint64_t)__builtin_popcountll(rx->bits[i]);
		memset(rx->bits, 0, sizeof(rx->bits));
	} else {
		for (uint64_t s = rx->expected; s < to; s++) {
			if (rx_has(rx, s)) {
				held++;
				rx_clear(rx, s);
			}
		}
	}
	upto = lost ? to : min_u64(to, rx->highest);
	span = upto > rx->expected ? upto - rx->expected : 0;
	if (span > held) {
		if (lost)
			p->st.rx_lost += span - held;
		else
			p->st.rx_void += span - held;
	}
	rx->expected = to;
	if (rx->highest < to)
		rx->highest = to;
}

static void rx_want_table(struct ftfw *f, struct ftfw_peer *p, uint64_t now)
{
	p->rx.want_table = true;
	p->rx.want_after = p->rx.highest - 1;
	p->rx.status_at = now;
	p->st.resync_requested++;
}

static int forget_seq(struct cache_entry *e, void *arg)
{
	const struct ftfw *f = arg;

	rx_of(f, e)->seq = 0;
	return 0;
}

/* Track p's stream afresh from base, as if first seen; ask for its table. */
static void rx_start(struct ftfw *f, struct ftfw_peer *p, uint32_t epoch,
		     uint32_t base, uint64_t now)
{
	struct ftfw_rx *rx = &p->rx;

	rx_drop_tombstones(f, rx, true);
	/* Seqs of its old life are not comparable with the new one's (each
	 * life starts at a random origin): what we hold from before is older
	 * than anything it sends now, and the sweep of its start-up table
	 * removes whatever that table does not refresh. */
	cache_foreach(rx->ext, forget_seq, f);
	memset(rx->bits, 0, sizeof(rx->bits));
	rx->known = true;
	rx->epoch = epoch;
	rx->expected = SEQ_ORIGIN + base;
	rx->highest = rx->expected;
	rx->origin = rx->expected;
	rx->sweep_pending = false;
	rx->unacked = 0;
	rx->odd_n = 0;
	rx_want_table(f, p, now);
}

static void rx_reset(struct ftfw *f, struct ftfw_peer *p, uint32_t epoch,
		     uint32_t base, uint64_t now)
{
	if (p->rx.known) {
		p->st.restarts++;
		log_info("peer %s: restarted (epoch %08x), asking for its table",
			 p->name, epoch);
	}
	rx_start(f, p, epoch, base, now);
	/* Its view of our stream died with it: it will ask for our table. */
	wait_for_acks(f, p);
}

/*
 * Every datagram tells how far its sender's stream goes: its seq is the
 * sender's next seq (a DATA's own seq, plus one).  That cannot be below
 * what we have heard of, nor ahead of what our window tracks.  One
 * datagram saying otherwise is not believed: it may be old (reordered),
 * or forged (without keys anyone can send one); if it claims a jump past
 * the window it is dropped (rx_bad_seq).  But when every datagram of the
 * stream says so, for heartbeat_ms and DESYNC_DATAGRAMS datagrams, we
 * are out of step (a forged datagram was believed, or the sender went
 * past our window while we did not hear it): track the stream again
 * from the sender's base and ask for its table, as after a restart
 * (desyncs).  Returns whether to go on with the datagram.
 */
#define DESYNC_DATAGRAMS	3
static bool rx_in_step(struct ftfw *f, struct ftfw_peer *p,
		       const struct wire_hdr *h, uint64_t now)
{
	struct ftfw_rx *rx = &p->rx;
	uint64_t next = seq_extend(rx->expected, h->seq) + (h->type == WIRE_DATA);
	bool ahead = next > rx->expected + WBITS;

	if (!ahead && next >= rx->highest) {
		rx->odd_n = 0;
		return true;
	}
	if (rx->odd_n++ == 0)
		rx->odd_since = now;
	if (rx->odd_n >= DESYNC_DATAGRAMS &&
	    now - rx->odd_since >= f->conf.heartbeat_ms) {
		p->st.desyncs++;
		log_warnx("peer %s: out of step with its stream (it is at seq %"
			  PRIu32 ", we expected %" PRIu32 "): tracking it again "
			  "from its base %" PRIu32 " and asking for its table",
			  p->name, h->seq, (uint32_t)rx->expected, h->base);
		rx_start(f, p, h->epoch, h->base, now);
		return true;
	}
	if (ahead)
		p->st.rx_bad_seq++;
	return !ahead;
}

/*
 * From now on wait for p's acknowledgements.  What was released before it
 * appeared it either never needed (its receiver starts at our base and asks
 * for the full table) or gets again in a bulk (see ftfw_input()).  A live
 * peer is never left out of the minimum: that is what keeps base from
 * voiding holes it still has.
 */
static void wait_for_acks(struct ftfw *f, struct ftfw_peer *p)
{
	uint64_t floor = f->stream_start - 1;

	p->acked = f->popped_to > floor ? f->popped_to : floor;
	p->acked_valid = true;
}

/* ---- applying records --------------------------------------------------- */

/* The external cache is full: the flow is missing from our copy. */
static void refuse(struct ftfw_peer *p)
{
	p->st.cache_full++;
	if (!p->rx.refused)
		log_warnx("peer %s: external cache full (%zu entries): flows "
			  "refused; raise cache.max_entries (they are asked for "
			  "again once there is room)", p->name, p->rx.ext->max);
	p->rx.refused = true;
}

static void apply_flow(struct ftfw *f, struct ftfw_peer *p, uint64_t s,
		       const struct flow *fl)
{
	struct ftfw_rx *rx = &p->rx;
	struct cache_entry *e = cache_find(rx->ext, &fl->key);
	bool changed = true;

	if (e) {
		if (rx_of(f, e)->seq >= s) {
			p->st.rx_stale++;
			return;
		}
		if (e->flags & CE_DEAD) {
			list_del(&rx_of(f, e)->q);
			cache_set_dead(rx->ext, e, false);
		} else {
			changed = !cache_same_state(rx->ext, e, fl);
		}
		if (cache_update(rx->ext, e, fl) < 0)
			return;
	} else if (!(e = external_add(f, rx, fl))) {
		refuse(p);
		return;
	}
	rx_of(f, e)->seq = s;
	p->st.rx_flows++;
	if (changed)
		tell_external(f, p, e, &fl->key);
}

static void apply_destroy(struct ftfw *f, struct ftfw_peer *p, uint64_t s,
			  const struct flow_key *k)
{
	struct ftfw_rx *rx = &p->rx;
	struct cache_entry *e = cache_find(rx->ext, k);
	bool older_missing = rx->expected < s;
	bool was_live = e && !(e->flags & CE_DEAD);

	if (e && rx_of(f, e)->seq >= s) {
		p->st.rx_stale++;
		return;
	}
	p->st.rx_destroys++;
	if (!older_missing) {
		/* Nothing older can still arrive: forget it now. */
		if (e) {
			if (list_linked(&rx_of(f, e)->q))
				list_del(&rx_of(f, e)->q);
			cache_del(rx->ext, e);
		}
	} else {
		/* Keep a tombstone so a late, older FLOW cannot bring it back. */
		if (!e) {
			struct flow tmp = { .key = *k };

			if (!(e = external_add(f, rx, &tmp))) {
				refuse(p);
				return;
			}
		} else {
			cache_release(rx->ext, e);
		}
		if (!(e->flags & CE_DEAD)) {
			cache_set_dead(rx->ext, e, true);
			list_add_tail(&rx->tombstones, &rx_of(f, e)->q);
		}
		rx_of(f, e)->seq = s;
	}
	if (was_live)
		tell_external(f, p, NULL, k);
}

static void apply_bulk_end(struct ftfw_peer *p, uint64_t s, uint32_t begin32)
{
	struct ftfw_rx *rx = &p->rx;
	uint64_t begin = seq_extend(s, begin32);

	/* A transfer we did not see begin (before we tracked this stream)
	 * cannot tell what is stale; what we asked for begins later. */
	if (begin > s || begin < rx->origin) {
		p->st.bulk_refused++;
		return;
	}
	if (!rx->sweep_pending || begin > rx->sweep_begin) {
		rx->sweep_begin = begin;
		rx->sweep_end = s;
		rx->sweep_pending = true;
	} else if (begin == rx->sweep_begin && s > rx->sweep_end) {
		rx->sweep_end = s;
	}
}

static void schedule_status(struct ftfw_rx *rx, uint64_t at)
{
	if (!rx->status_at || at < rx->status_at)
		rx->status_at = at;
}

static void rx_data(struct ftfw *f, struct ftfw_peer *p, const struct wire_hdr *h,
		    const uint8_t *payload, size_t plen, uint64_t now)
{
	struct ftfw_rx *rx = &p->rx;
	uint64_t s = seq_extend(rx->expected, h->seq);
	const uint8_t *q = payload;
	size_t left = plen;
	struct wire_rec r;
	bool gap;

	if (s < rx->expected || rx_has(rx, s)) {
		p->st.rx_dup++;
		schedule_status(rx, now + f->conf.ack_ms);
		return;
	}
	gap = s > rx->highest;
	while (wire_rec_next(&q, &left, &r, &f->wire) > 0) {
		switch (r.rtype) {
		case WIRE_R_FLOW:
			apply_flow(f, p, s, &r.flow);
			break;
		case WIRE_R_DESTROY:
			apply_destroy(f, p, s, &r.flow.key);
			break;
		case WIRE_R_BULK_END:
			apply_bulk_end(p, s, r.begin_seq);
			break;
		}
	}
	rx_set(rx, s);
	if (rx->highest <= s)
		rx->highest = s + 1;
	p->st.rx_datagrams++;
	rx_settle(f, p, now);
	/* A new hole: NACK it now.  Holes already asked for are asked
	 * again at the STATUS pace (build_status()), not with every
	 * datagram that arrives while they are open. */
	if (gap)
		schedule_status(rx, now);
	else if (++rx->unacked >= ACK_EVERY)
		schedule_status(rx, now);
	else
		schedule_status(rx, now + f->conf.ack_ms);
}

/* ---- sender ------------------------------------------------------------- */

/* The send queue, with its length kept (holding() reads it per call). */
static inline void txq_add(struct ftfw *f, struct txnode *n)
{
	if (!list_linked(&n->q)) {
		list_add_tail(&f->txq, &n->q);
		f->nq++;
	}
}

static inline void txq_del(struct ftfw *f, struct txnode *n)
{
	list_del(&n->q);
	f->nq--;
}

/* The lowest cum acknowledged by a peer we wait for, or none. */
static bool min_acked(const struct ftfw *f, uint64_t *min)
{
	bool any = false;

	*min = UINT64_MAX;
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		const struct ftfw_peer *p = &f->peers[i];

		if (p->used && p->alive && p->acked_valid) {
			any = true;
			*min = min_u64(*min, p->acked);
		}
	}
	return any;
}

/* Take n off the unacked list: every peer we wait for holds it.  A
 * tombstone no longer queued is freed. */
static void ua_release(struct ftfw *f, struct txnode *n)
{
	list_del(&n->ua);
	if (n != &f->bulk_end) {
		struct cache_entry *e = tx_entry(f, n);

		if ((e->flags & CE_DEAD) && !list_linked(&n->q))
			cache_del(f->internal, e);
	}
}

/* Release what every peer we wait for has acknowledged. */
static void pop_acked(struct ftfw *f)
{
	uint64_t min;

	if (!min_acked(f, &min))
		min = f->next_seq - 1;
	while (!list_empty(&f->unacked)) {
		struct txnode *n = container_of(f->unacked.next, struct txnode, ua);

		if (n->seq > min)
			break;
		f->popped_to = n->seq;
		ua_release(f, n);
	}
}

static uint64_t tx_base(const struct ftfw *f)
{
	if (list_empty(&f->unacked))
		return f->next_seq;
	return container_of(f->unacked.next, struct txnode, ua)->seq;
}

/*
 * Answer NACKs: put the unacknowledged nodes sent under the seqs of
 * r[0..nr) (inclusive, ascending, not overlapping) back in front of the
 * send queue, oldest first, in one walk of the unacked list (seq order)
 * that stops after the last range.  A range whose nodes went out again
 * already finds nothing.
 * held: the peer holds every seq between cum and the last range that no
 * range names (WIRE_SF_SACK) and is the only peer we wait for: those
 * nodes are released now, so base moves past every hole already
 * repaired and the receiver voids them all with our next datagram,
 * instead of one round trip per hole as cum climbs.  BULK_END stays
 * until cum passes it (a bulk entry sent again before then must be
 * followed by BULK_END again, see build_data()).
 * Returns the nodes put back.
 */
static size_t requeue_ranges(struct ftfw *f, uint64_t (*r)[2], unsigned nr,
			     uint64_t cum, bool held)
{
	struct list *pos = &f->txq, *l, *next;
	size_t n_put = 0;
	unsigned i = 0;

	for (l = f->unacked.next; l != &f->unacked; l = next) {
		struct txnode *n = container_of(l, struct txnode, ua);

		next = l->next;
		while (i < nr && n->seq > r[i][1])
			i++;
		if (i == nr)
			break;
		if (n->seq < r[i][0]) {
			if (held && n->seq > cum && n != &f->bulk_end)
				ua_release(f, n);
			continue;
		}
		/* Queued already (changed since it was sent): it may sit
		 * behind data the window holds back; repairs go first. */
		if (list_linked(&n->q))
			list_del(&n->q);
		else
			f->nq++;
		list_add_after(pos, &n->q);
		pos = &n->q;
		f->tx.retransmitted++;
		n_put++;
	}
	return n_put;
}

/* Is p the only peer whose acknowledgements we wait for? */
static bool only_peer(const struct ftfw *f, const struct ftfw_peer *p)
{
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		const struct ftfw_peer *q = &f->peers[i];

		if (q != p && q->used && q->alive && q->acked_valid)
			return false;
	}
	return p->alive && p->acked_valid;
}

/* Is a full-table transfer under way: its end not yet sent, or not yet
 * acknowledged by every peer we wait for? */
static bool bulk_under_way(const struct ftfw *f)
{
	return list_linked(&f->bulk_end.q) || list_linked(&f->bulk_end.ua);
}

/* May a full table be started for a peer's request now?  Not while one is
 * under way, nor within peer_timeout_ms of the last one served. */
static bool resync_allowed(const struct ftfw *f, uint64_t now)
{
	return !bulk_under_way(f) &&
	       (!f->resync_at || now - f->resync_at >= f->conf.peer_timeout_ms);
}

/* Start the full table that the waiting requests ask for, unless a
 * transfer started since (ftfw_start_bulk()) satisfies them all. */
static void resync_serve(struct ftfw *f, uint64_t now)
{
	bool any = false;

	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		struct ftfw_peer *p = &f->peers[i];

		if (!p->used || !p->resync_deferred)
			continue;
		p->resync_deferred = false;
		if (f->bulk_begin > p->resync_after)
			continue;
		any = true;
		p->st.resync_served++;
		log_info("peer %s: asked for our table, sending %zu flows",
			 p->name, cache_live(f->internal));
	}
	f->resync_waiting = false;
	if (!any)
		return;
	f->resync_at = now;
	ftfw_start_bulk(f);
}

/*
 * p asks for a full table that begins after `after` (no transfer since
 * began after it).  Forged or repeated
 * requests must not make us send table after table: one is served at
 * once if allowed (see resync_allowed()); otherwise it waits
 * (resync_deferred) and ftfw_output() serves every waiting request with
 * one transfer as soon as allowed.  A request is never dropped.
 */
static void resync_request(struct ftfw *f, struct ftfw_peer *p, uint64_t after,
			   uint64_t now)
{
	bool was = p->resync_deferred;

	p->resync_deferred = true;
	p->resync_after = after;
	if (resync_allowed(f, now)) {
		resync_serve(f, now);
		return;
	}
	p->st.resync_deferred++;
	f->resync_waiting = true;
	if (!was)
		log_info("peer %s: asked for our table again: sending it once the "
			 "transfer under way has ended, at most one every %" PRIu32
			 " ms", p->name, f->conf.peer_timeout_ms);
}

static void tx_status(struct ftfw *f, struct ftfw_peer *p, const struct wire_status *st,
		      uint64_t now)
{
	uint64_t ref = f->next_seq - 1, cum, r[WIRE_MAX_RANGES][2];
	unsigned nr = 0;
	bool held;

	if (st->epoch != f->conf.epoch)
		return;		/* about an earlier life of ours */
	cum = seq_extend(ref, st->cum);
	if (cum > ref)
		return;		/* acknowledges what we never sent */
	p->st.acks_rcvd++;
	if (!p->acked_valid || cum > p->acked) {
		p->acked = cum;
		p->acked_valid = true;
	}
	/* Only ranges in order, after cum and within what we sent, tell
	 * what lies between them. */
	held = (st->flags & WIRE_SF_SACK) && only_peer(f, p);
	for (unsigned i = 0; i < st->nranges; i++) {
		uint64_t a = seq_extend(ref, st->ranges[i].first);
		uint64_t b = seq_extend(ref, st->ranges[i].last);

		if (a > ref || b < a || a <= cum || (nr && a <= r[nr - 1][1])) {
			held = false;
			continue;
		}
		p->st.nack_rcvd++;
		r[nr][0] = a;
		r[nr][1] = min_u64(b, ref);
		nr++;
	}
	/* Nothing to send again, nothing queued: what it asks for went out
	 * again and was lost, or it has not heard base move past them.  A
	 * heartbeat now tells it our seq and base, so it asks for the
	 * repair at its new seq. */
	if (!requeue_ranges(f, r, nr, cum, held) && nr && list_empty(&f->txq))
		f->beat_due = true;
	/* A transfer that began after the seq it names will do; one already
	 * under way usually does, so repeated requests cost nothing.  It
	 * cannot have heard of seqs we never sent. */
	if (st->flags & WIRE_SF_RESYNC) {
		uint64_t after = min_u64(seq_extend(ref, st->resync_after), ref);

		if (f->bulk_begin <= after)
			resync_request(f, p, after, now);
	}
	pop_acked(f);
}

/* ---- peers -------------------------------------------------------------- */

static struct ftfw_peer *peer_init(struct ftfw *f, int i, const char *name)
{
	struct ftfw_peer *p = &f->peers[i];

	memset(p, 0, sizeof(*p));
	p->rx.ext = cache_new(&f->ext_layout, f->conf.max_external,
			      f->conf.hash_seed ^ (uint32_t)i);
	if (!p->rx.ext)
		return NULL;
	list_init(&p->rx.tombstones);
	p->used = true;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

int ftfw_add_peer(struct ftfw *f, const char *name)
{
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++)
		if (!f->peers[i].used)
			return peer_init(f, i, name) ? i : -1;
	return -1;
}

static struct ftfw_peer *peer_by_node(struct ftfw *f, uint32_t node, const char *from)
{
	int free_slot = -1;

	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		struct ftfw_peer *p = &f->peers[i];

		if (p->used && p->bound && p->node_id == node)
			return p;
		if (!p->used && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return NULL;
	return peer_init(f, free_slot, from);
}

/* ---- public ------------------------------------------------------------- */

struct cache *ftfw_internal_new(size_t max_entries, uint32_t seed)
{
	struct cache_layout l;
	size_t tx_off, gen_off;

	internal_layout(&l, &tx_off, &gen_off);
	return cache_new(&l, max_entries, seed);
}

struct ftfw *ftfw_new(const struct ftfw_conf *conf, struct cache *internal)
{
	struct ftfw *f = calloc(1, sizeof(*f));
	struct cache_layout l;

	if (!f)
		return NULL;
	f->conf = *conf;
	f->conf.external = NULL;	/* read here only */
	f->internal = internal;
	internal_layout(&l, &f->tx_off, &f->gen_off);
	if (conf->external)
		f->ext_layout = *conf->external;
	else
		cache_layout_init(&f->ext_layout, &cache_kind_flow);
	f->rx_off = cache_reserve(&f->ext_layout, offsetof(struct txnode, ua),
				  _Alignof(struct txnode));
	f->next_seq = SEQ_ORIGIN + conf->first_seq;
	f->stream_start = f->next_seq;
	list_init(&f->txq);
	list_init(&f->unacked);
	list_init(&f->bulk_end.q);
	list_init(&f->bulk_end.ua);
	f->tx_counter = conf->first_counter;
	return f;
}

void ftfw_free(struct ftfw *f)
{
	if (!f)
		return;
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		if (f->peers[i].used) {
			rx_drop_tombstones(f, &f->peers[i].rx, true);
			cache_free(f->peers[i].rx.ext);
		}
	}
	free(f);
}

int ftfw_local_update(struct ftfw *f, const struct flow *flow, bool own)
{
	struct cache_entry *e = cache_find(f->internal, &flow->key);

	if (!e) {
		if (!(e = internal_add(f, flow)))
			return -1;
		*gen_of(f, e) = f->gen;
		if (own)
			tx_of(f, e)->seq = 1;	/* peers hold it: a DESTROY must be sent */
		else
			txq_add(f, tx_of(f, e));
		return 0;
	}
	*gen_of(f, e) = f->gen;
	if (e->flags & CE_DEAD) {
		cache_set_dead(f->internal, e, false);
		if (cache_update(f->internal, e, flow) < 0)
			return -1;
		txq_add(f, tx_of(f, e));
		return 0;
	}
	if (cache_same_state(f->internal, e, flow)) {
		cache_flow(e)->timeout = flow->timeout;
		return 0;
	}
	if (cache_update(f->internal, e, flow) < 0)
		return -1;
	if (!own)
		txq_add(f, tx_of(f, e));
	return 0;
}

void ftfw_local_destroy(struct ftfw *f, const struct flow_key *key)
{
	struct cache_entry *e = cache_find(f->internal, key);

	struct txnode *n;

	if (!e || (e->flags & CE_DEAD))
		return;
	n = tx_of(f, e);
	if (n->seq == 0) {
		/* Never sent: no peer needs to hear of it. */
		if (list_linked(&n->q))
			txq_del(f, n);
		cache_del(f->internal, e);
		return;
	}
	cache_set_dead(f->internal, e, true);
	cache_release(f->internal, e);
	txq_add(f, n);
}

void ftfw_reconcile_begin(struct ftfw *f)
{
	f->gen++;
}

struct reconcile_ctx {
	struct ftfw *f;
	size_t n;
};

static int reconcile_one(struct cache_entry *e, void *arg)
{
	struct reconcile_ctx *rc = arg;

	if (!(e->flags & CE_DEAD) && *gen_of(rc->f, e) != rc->f->gen) {
		ftfw_local_destroy(rc->f, &cache_flow(e)->key);
		rc->n++;
	}
	return 0;
}

size_t ftfw_reconcile_end(struct ftfw *f)
{
	struct reconcile_ctx rc = { f, 0 };

	cache_foreach(f->internal, reconcile_one, &rc);
	return rc.n;
}

static void unlink_all(struct list *head, bool ua)
{
	while (!list_empty(head)) {
		if (ua)
			list_del(&container_of(head->next, struct txnode, ua)->ua);
		else
			list_del(&container_of(head->next, struct txnode, q)->q);
	}
}

void ftfw_reset_internal(struct ftfw *f)
{
	unlink_all(&f->txq, false);
	f->nq = 0;
	unlink_all(&f->unacked, true);
	cache_clear(f->internal);
}

static int bulk_one(struct cache_entry *e, void *arg)
{
	struct ftfw *f = arg;

	if (!(e->flags & CE_DEAD))
		txq_add(f, tx_of(f, e));
	return 0;
}

void ftfw_start_bulk(struct ftfw *f)
{
	if (list_linked(&f->bulk_end.q))
		txq_del(f, &f->bulk_end);
	if (list_linked(&f->bulk_end.ua))
		list_del(&f->bulk_end.ua);
	f->bulk_begin = f->next_seq;
	cache_foreach(f->internal, bulk_one, f);
	txq_add(f, &f->bulk_end);
	f->tx.bulks++;
}

int ftfw_request_resync(struct ftfw *f, uint64_t now)
{
	int n = 0;

	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		struct ftfw_peer *p = &f->peers[i];

		if (p->used && p->rx.known) {
			rx_want_table(f, p, now);
			n++;
		}
	}
	return n;
}

void ftfw_hold_external(struct ftfw *f, bool on)
{
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++)
		if (f->peers[i].used)
			cache_hold(f->peers[i].rx.ext, on);
}

void ftfw_flush_external(struct ftfw *f)
{
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		struct ftfw_peer *p = &f->peers[i];

		if (p->used) {
			unlink_all(&p->rx.tombstones, false);
			cache_clear(p->rx.ext);
		}
	}
}

/*
 * With keys: may a datagram of p that opened (ai) be taken?  See ftfw.h.
 * st is its STATUS payload, or NULL.  Keeps p's node id, replay window
 * and lives.
 */
static bool peer_fresh(struct ftfw *f, struct ftfw_peer *p, const struct wire_hdr *h,
		       const struct wire_status *st, const struct auth_info *ai,
		       uint64_t now)
{
	bool same_node = p->node_id == h->node_id;

	/* Another node's datagram from a live peer's address. */
	if (!same_node && p->rx.known && p->alive) {
		f->rx_foreign++;
		return false;
	}
	if (p->rx.known && same_node && p->rx.epoch == h->epoch) {
		if (!auth_replay_accept(&p->replay, ai->counter)) {
			f->auth.rx_replay++;
			return false;
		}
		p->key_id = ai->key_id;
		return true;
	}
	for (unsigned i = 0; i < p->nretired && i < FTFW_RETIRED; i++) {
		if (p->retired[i] == h->epoch) {
			f->auth.rx_old_epoch++;
			return false;
		}
	}
	if (st && st->node_id == f->conf.node_id && st->epoch == f->conf.epoch) {
		/* Proven: this life heard ours.  ftfw_input() resets rx.  The
		 * life it replaces is retired if it was this node's; another
		 * node's (a stray, or the peer before it was renumbered) is
		 * not this node's past. */
		if (p->rx.known && same_node)
			p->retired[p->nretired++ % FTFW_RETIRED] = p->rx.epoch;
		p->node_id = h->node_id;
		auth_replay_reset(&p->replay);
		auth_replay_accept(&p->replay, ai->counter);
		p->probe_due = false;
		p->key_id = ai->key_id;
		return true;
	}
	f->auth.rx_unproven++;
	p->probe_node = h->node_id;
	p->probe_epoch = h->epoch;
	p->probe_base = h->base;
	if (now >= p->probe_at)
		p->probe_due = true;
	return false;
}

/*
 * A datagram under our node id but another epoch: another node uses our
 * id.  Neither of us can replicate to the other (each drops the other's
 * stream as its own echo), which is silent unless said loudly here.
 */
static void node_clash(struct ftfw *f, int slot, const char *from, uint64_t now)
{
	const char *name = from;

	if (slot >= 0 && slot < CTSYNC_MAX_PEERS && f->peers[slot].used)
		name = f->peers[slot].name;
	f->rx_node_clash++;
	f->clash_at = now;
	snprintf(f->clash_peer, sizeof(f->clash_peer), "%s", name);
	if (now < f->clash_log_at)
		return;
	f->clash_log_at = now + 60000;
	log_warnx("peer %s: sends under our node id %u: nothing is replicated "
		  "between nodes that share a node id; set a distinct node_id "
		  "on each node", name, f->conf.node_id);
}

/*
 * A datagram from a configured peer's address that we cannot open (or
 * that is sealed while we have no keys): the peer is there but we cannot
 * read it, which is a key mismatch unless someone forges.  Kept per peer
 * for ftfw_trouble(); logged once per episode (none for peer_timeout).
 */
static void auth_refused(struct ftfw *f, int slot, const char *from, uint64_t now)
{
	struct ftfw_peer *p;

	if (slot < 0 && from && *from) {
		if (!f->refused_at || now - f->refused_at > f->conf.peer_timeout_ms ||
		    strcmp(f->refused_from, from) != 0)
			log_warnx("datagrams from %s do not authenticate (key "
				  "mismatch?): compare sync.key_file on both "
				  "nodes", from);
		f->refused_at = now;
		snprintf(f->refused_from, sizeof(f->refused_from), "%s", from);
		return;
	}
	if (slot < 0 || slot >= CTSYNC_MAX_PEERS || !f->peers[slot].used)
		return;
	p = &f->peers[slot];
	p->st.auth_refused++;
	if (!p->auth_refused_at || now - p->auth_refused_at > f->conf.peer_timeout_ms)
		log_warnx("peer %s: its datagrams do not authenticate (key "
			  "mismatch?): compare sync.key_file on both nodes",
			  p->name);
	p->auth_refused_at = now;
}

void ftfw_input(struct ftfw *f, int slot, const char *from,
		const uint8_t *buf, size_t len, uint64_t now)
{
	struct wire_hdr h;
	struct wire_status st;
	struct auth_info ai = { 0 };
	struct ftfw_peer *p;
	const uint8_t *payload;
	size_t plen;
	uint64_t b, next;

	/* Open and decode everything before touching any state.  What is
	 * not even a header is malformed, whether sealing is on or off. */
	if (f->conf.keys) {
		long n;

		if (!auth_is_sealed(buf, len)) {
			if (wire_hdr_get(buf, len, &h, &f->wire) == 0) {
				f->auth.rx_no_tag++;
				auth_refused(f, slot, from, now);
			}
			return;
		}
		if ((n = auth_open(f->conf.keys, buf, len, f->plain, &ai, &f->auth)) < 0) {
			auth_refused(f, slot, from, now);
			return;
		}
		buf = f->plain;
		len = (size_t)n;
	} else if (auth_is_sealed(buf, len)) {
		f->auth.rx_unexpected_tag++;
		auth_refused(f, slot, from, now);
		return;
	}
	payload = buf + WIRE_HDR_LEN;
	if (wire_hdr_get(buf, len, &h, &f->wire) < 0)
		return;
	plen = len - WIRE_HDR_LEN;
	if (h.type == WIRE_DATA && wire_data_check(payload, plen, &f->wire) < 0)
		return;
	if (h.type == WIRE_STATUS && wire_get_status(payload, plen, &st, &f->wire) < 0)
		return;
	if (h.node_id == f->conf.node_id) {
		if (h.epoch == f->conf.epoch)
			f->rx_own++;
		else
			node_clash(f, slot, from, now);
		return;
	}
	if (slot >= 0 && slot < CTSYNC_MAX_PEERS && f->peers[slot].used)
		p = &f->peers[slot];
	else if (slot < 0)
		p = peer_by_node(f, h.node_id, from);
	else
		p = NULL;
	if (!p) {
		f->rx_foreign++;
		return;
	}
	/* With keys, only a proven life changes a bound node id. */
	if (!p->bound || (!f->conf.keys && p->node_id != h.node_id)) {
		p->bound = true;
		p->node_id = h.node_id;
	}
	if (f->conf.keys &&
	    !peer_fresh(f, p, &h, h.type == WIRE_STATUS ? &st : NULL, &ai, now))
		return;
	p->st.rx_bytes += len;
	p->last_heard = now;
	if (!p->alive) {
		bool was_known = p->rx.known;

		p->alive = true;
		log_info("peer %s: up (node %u)", p->name, h.node_id);
		/* While it was down we stopped waiting for its acks, and what
		 * we sent it meanwhile went nowhere: it gets the whole table
		 * again, so its window starts from here, not from an ack that
		 * is long stale (which would hold everything back). */
		if (was_known) {
			/* And we may have missed what it voided meanwhile:
			 * its table (which it sends anyway) is asked for. */
			if (p->rx.epoch == h.epoch)
				rx_want_table(f, p, now);
			ftfw_start_bulk(f);
			p->acked = f->next_seq - 1;
			p->acked_valid = true;
		} else if (!p->acked_valid) {
			wait_for_acks(f, p);
		}
	}
	if (!p->rx.known || p->rx.epoch != h.epoch)
		rx_reset(f, p, h.epoch, h.base, now);
	else if (!rx_in_step(f, p, &h, now))
		return;

	if (h.type == WIRE_DATA) {
		rx_data(f, p, &h, payload, plen, now);
		next = seq_extend(p->rx.expected, h.seq) + 1;
	} else {
		next = seq_extend(p->rx.expected, h.seq);
		if (h.type == WIRE_STATUS && st.node_id == f->conf.node_id)
			tx_status(f, p, &st, now);
	}
	/* Everything below base is void; anything up to next is owed. */
	b = seq_extend(p->rx.expected, h.base);
	if (b > p->rx.expected && b <= next) {
		rx_skip_to(p, b, false);
		rx_settle(f, p, now);
	}
	if (next > p->rx.highest && next - p->rx.expected <= WBITS) {
		p->rx.highest = next;
		schedule_status(&p->rx, now);
	}
}

static size_t build_status(struct ftfw *f, struct ftfw_peer *p, uint64_t now,
			   uint8_t *buf, size_t cap)
{
	struct ftfw_rx *rx = &p->rx;
	struct wire_status st = {
		.node_id = p->node_id, .epoch = rx->epoch,
		.cum = (uint32_t)(rx->expected - 1),
		.resync_after = rx->want_table ? (uint32_t)rx->want_after : 0,
		/* the ranges are every hole from expected on, oldest first */
		.flags = (rx->want_table ? WIRE_SF_RESYNC : 0) | WIRE_SF_SACK,
	};
	struct wbuf w = { buf + WIRE_HDR_LEN, 0, cap - WIRE_HDR_LEN };
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_STATUS,
		.node_id = f->conf.node_id, .epoch = f->conf.epoch,
		.seq = (uint32_t)f->next_seq, .base = (uint32_t)tx_base(f),
	};

	for (uint64_t s = rx->expected; s < rx->highest && st.nranges < WIRE_MAX_RANGES; s++) {
		uint64_t first;

		if (rx_has(rx, s))
			continue;
		first = s;
		while (s + 1 < rx->highest && !rx_has(rx, s + 1))
			s++;
		st.ranges[st.nranges].first = (uint32_t)first;
		st.ranges[st.nranges].last = (uint32_t)s;
		st.nranges++;
	}
	if (wire_put_status(&w, &st) < 0)
		return 0;
	p->st.nack_sent += st.nranges;
	rx->unacked = 0;
	rx->last_status = now;
	/* Holes, or a request, are asked for again until answered. */
	rx->status_at = st.nranges ? now + f->conf.ack_ms + 10 : 0;
	h.length = (uint16_t)(WIRE_HDR_LEN + w.len);
	wire_hdr_put(buf, &h);
	f->tx.status++;
	return h.length;
}

/*
 * A probe answers a life of p we have not taken yet: a STATUS naming it,
 * acknowledging only what its sender no longer waits for (below base),
 * so that p can prove our life with it (see ftfw.h).
 */
static size_t build_probe(struct ftfw *f, struct ftfw_peer *p, uint64_t now,
			  uint8_t *buf, size_t cap)
{
	struct wire_status st = {
		.node_id = p->probe_node, .epoch = p->probe_epoch,
		.cum = p->probe_base - 1,
	};
	struct wbuf w = { buf + WIRE_HDR_LEN, 0, cap - WIRE_HDR_LEN };
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_STATUS,
		.node_id = f->conf.node_id, .epoch = f->conf.epoch,
		.seq = (uint32_t)f->next_seq, .base = (uint32_t)tx_base(f),
	};

	p->probe_due = false;
	p->probe_at = now + f->conf.ack_ms;
	if (wire_put_status(&w, &st) < 0)
		return 0;
	h.length = (uint16_t)(WIRE_HDR_LEN + w.len);
	wire_hdr_put(buf, &h);
	f->tx.status++;
	return h.length;
}

/* Our DATA datagrams p has not acknowledged: its part of the window. */
static uint64_t in_flight(const struct ftfw *f, const struct ftfw_peer *p)
{
	return p->acked_valid ? f->next_seq - 1 - p->acked : 0;
}

/*
 * May new data go out?  Each peer we wait for has a window of its own,
 * the DATA datagrams it has not acknowledged, and new data goes while
 * any of them has room: a peer that is slow, or dead but not yet timed
 * out, holds nobody else back.  It still gets the whole stream (one
 * stream serves every peer) and repairs what it misses: base never moves
 * past what it lacks (pop_acked()), which costs no memory per flow, the
 * unacked list holding each entry once whoever lags.  Only a peer a whole
 * receive window behind stops new data: its receiver could not place the
 * next seq (FTFW_RX_WINDOW), so we wait for its acknowledgement, or for
 * peer_timeout_ms to declare it down.
 */
static bool window_open(const struct ftfw *f)
{
	bool waited = false, room = false;

	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		const struct ftfw_peer *p = &f->peers[i];

		if (!p->used || !p->alive || !p->acked_valid)
			continue;
		if (in_flight(f, p) >= FTFW_RX_WINDOW)
			return false;
		waited = true;
		room |= in_flight(f, p) < f->conf.window;
	}
	return !waited || room;
}

/*
 * The window limits new data only.  A node already on the unacked list
 * (a repair, or a newer state of an entry not yet acknowledged) may
 * always go out: sending it is what moves the receiver's cum and opens
 * the window again.  Gating it too deadlocks as soon as the hole at the
 * bottom of a full window needs a repair.
 */
static bool may_send(const struct ftfw *f, bool open)
{
	const struct txnode *n;

	if (list_empty(&f->txq))
		return false;
	n = container_of(f->txq.next, struct txnode, q);
	return open || list_linked(&n->ua);
}

/* Bytes of records one DATA datagram holds (cap: the caller's buffer). */
static size_t data_room(const struct ftfw *f, size_t cap)
{
	size_t room = min_u64(cap, f->conf.max_datagram -
				   (f->conf.keys ? AUTH_TRAILER_LEN : 0));

	return room - WIRE_HDR_LEN;
}

/* A FLOW record of a TCP/IPv4 flow without NAT, the most common kind:
 * what a queued node is taken to need when judging whether the queue
 * fills a datagram. */
#define HOLD_REC_BYTES	35

/*
 * Does new data wait for more (ftfw_hold())?  Not a repair at the head
 * (repairs go first), not a pending end of bulk, not a queue long enough
 * to fill a datagram.  O(1): it runs on every output and deadline call.
 */
static bool holding(const struct ftfw *f)
{
	const struct txnode *head;

	if (!f->hold || list_empty(&f->txq))
		return false;
	head = container_of(f->txq.next, struct txnode, q);
	return !list_linked(&head->ua) && !list_linked(&f->bulk_end.q) &&
	       f->nq * HOLD_REC_BYTES < data_room(f, SIZE_MAX);
}

void ftfw_hold(struct ftfw *f, bool on)
{
	f->hold = on;
}

static size_t build_data(struct ftfw *f, uint8_t *buf, size_t cap)
{
	bool open = window_open(f);
	struct wbuf w = { buf + WIRE_HDR_LEN, 0, data_room(f, cap) };
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_DATA,
		.node_id = f->conf.node_id, .epoch = f->conf.epoch,
		.seq = (uint32_t)f->next_seq,
	};
	uint64_t seq = f->next_seq;

	while (!list_empty(&f->txq)) {
		struct txnode *n = container_of(f->txq.next, struct txnode, q);
		uint64_t old = n->seq;
		int r;

		if (!open && !list_linked(&n->ua))
			break;
		if (n == &f->bulk_end) {
			r = wire_put_bulk_end(&w, (uint32_t)f->bulk_begin);
		} else {
			struct cache_entry *e = tx_entry(f, n);

			if (e->flags & CE_DEAD) {
				r = wire_put_destroy(&w, &cache_flow(e)->key);
				f->tx.destroys += r == 0;
			} else {
				r = wire_put_flow(&w, cache_flow(e));
				f->tx.flows += r == 0;
			}
		}
		if (r < 0)
			break;
		txq_del(f, n);
		if (list_linked(&n->ua))
			list_del(&n->ua);
		n->seq = seq;
		list_add_tail(&f->unacked, &n->ua);
		/* A bulk entry sent again after BULK_END went out: send
		 * BULK_END again after it, so no receiver sweeps before it
		 * holds this entry's state. */
		if (n != &f->bulk_end && list_linked(&f->bulk_end.ua) &&
		    old >= f->bulk_begin && old < f->bulk_end.seq)
			txq_add(f, &f->bulk_end);
	}
	if (w.len == 0)
		return 0;
	f->next_seq++;
	h.base = (uint32_t)tx_base(f);
	h.length = (uint16_t)(WIRE_HDR_LEN + w.len);
	wire_hdr_put(buf, &h);
	f->tx.datagrams++;
	return h.length;
}

static void check_peers(struct ftfw *f, uint64_t now)
{
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		struct ftfw_peer *p = &f->peers[i];

		if (p->used && p->alive && now - p->last_heard > f->conf.peer_timeout_ms) {
			p->alive = false;
			log_warnx("peer %s: down (silent for %" PRIu64 " ms)",
				  p->name, now - p->last_heard);
			pop_acked(f);
		}
	}
}

static bool status_due(const struct ftfw *f, const struct ftfw_peer *p, uint64_t now)
{
	if (!p->used || !p->rx.known)
		return false;
	if (p->rx.status_at && p->rx.status_at <= now)
		return true;
	return now - p->rx.last_status >= f->conf.heartbeat_ms;
}

static size_t build_heartbeat(struct ftfw *f, uint8_t *buf, int *dest)
{
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_HEARTBEAT,
		.length = WIRE_HDR_LEN,
		.node_id = f->conf.node_id, .epoch = f->conf.epoch,
		.seq = (uint32_t)f->next_seq, .base = (uint32_t)tx_base(f),
	};

	wire_hdr_put(buf, &h);
	*dest = FTFW_DEST_ALL;
	f->beat_due = false;
	f->tx.heartbeats++;
	return WIRE_HDR_LEN;
}

/* The n bytes built at buf (cap: room left for records) leave now: seal
 * them, and keep the time.  Returns the length to send. */
static size_t sent(struct ftfw *f, uint64_t now, uint8_t *buf, size_t n, size_t cap)
{
	if (n && f->conf.keys)
		n = auth_seal(f->conf.keys, buf, n, cap + AUTH_TRAILER_LEN,
			      f->tx_counter++);
	if (n) {
		if (f->last_tx && now - f->last_tx > f->tx.gap_max_ms)
			f->tx.gap_max_ms = now - f->last_tx;
		f->last_tx = now;
		f->tx.bytes += n;
	}
	return n;
}

size_t ftfw_output(struct ftfw *f, uint64_t now, uint8_t *buf, size_t cap, int *dest)
{
	size_t n = 0;

	/* Leave room for the seal. */
	if (f->conf.keys) {
		if (cap < WIRE_HDR_LEN + AUTH_TRAILER_LEN)
			return 0;
		cap -= AUTH_TRAILER_LEN;
	}
	check_peers(f, now);
	if (f->resync_waiting && resync_allowed(f, now))
		resync_serve(f, now);
	for (int k = 0; k < CTSYNC_MAX_PEERS; k++) {
		int i = (f->status_rr + k) % CTSYNC_MAX_PEERS;

		if (f->peers[i].used && f->peers[i].probe_due) {
			*dest = i;
			n = build_probe(f, &f->peers[i], now, buf, cap);
			break;
		}
		if (status_due(f, &f->peers[i], now)) {
			f->status_rr = i + 1;
			*dest = i;
			n = build_status(f, &f->peers[i], now, buf, cap);
			break;
		}
	}
	if (!n && !list_empty(&f->txq)) {
		if (!may_send(f, window_open(f))) {
			f->tx.window_full++;
		} else if (holding(f)) {
			f->tx.coalesced++;
		} else {
			*dest = FTFW_DEST_ALL;
			n = build_data(f, buf, cap);
		}
	}
	if (!n && (f->beat_due || now - f->last_tx >= f->conf.heartbeat_ms))
		n = build_heartbeat(f, buf, dest);
	return sent(f, now, buf, n, cap);
}

size_t ftfw_heartbeat(struct ftfw *f, uint64_t now, uint8_t *buf, size_t cap,
		      int *dest)
{
	if (now - f->last_tx < f->conf.heartbeat_ms ||
	    cap < WIRE_HDR_LEN + (f->conf.keys ? AUTH_TRAILER_LEN : 0))
		return 0;
	if (f->conf.keys)
		cap -= AUTH_TRAILER_LEN;
	return sent(f, now, buf, build_heartbeat(f, buf, dest), cap);
}

uint64_t ftfw_next_deadline(const struct ftfw *f, uint64_t now)
{
	uint64_t d = f->last_tx + f->conf.heartbeat_ms;

	if ((may_send(f, window_open(f)) && !holding(f)) || f->beat_due)
		return now;
	if (f->resync_waiting && !bulk_under_way(f))
		d = min_u64(d, f->resync_at + f->conf.peer_timeout_ms);
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		const struct ftfw_peer *p = &f->peers[i];

		if (!p->used)
			continue;
		if (p->probe_due)
			return now;
		if (p->rx.known) {
			if (p->rx.status_at)
				d = min_u64(d, p->rx.status_at);
			d = min_u64(d, p->rx.last_status + f->conf.heartbeat_ms);
		}
		if (p->alive)
			d = min_u64(d, p->last_heard + f->conf.peer_timeout_ms + 1);
	}
	return d < now ? now : d;
}

bool ftfw_in_sync(const struct ftfw *f)
{
	bool any = false;

	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		const struct ftfw_peer *p = &f->peers[i];

		if (!p->used || !p->alive)
			continue;
		if (!p->rx.known || p->rx.want_table || p->rx.sweep_pending ||
		    p->rx.expected < p->rx.highest)
			return false;
		any = true;
	}
	return any;
}

bool ftfw_trouble(const struct ftfw *f, uint64_t now, char *why, size_t len)
{
	if (f->clash_at && now - f->clash_at <= f->conf.peer_timeout_ms) {
		snprintf(why, len, "node id %u is also used by %s: set a "
			 "distinct node_id on each node", f->conf.node_id,
			 f->clash_peer);
		return true;
	}
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
		const struct ftfw_peer *p = &f->peers[i];

		if (p->used && !p->alive && p->auth_refused_at &&
		    now - p->auth_refused_at <= f->conf.peer_timeout_ms) {
			snprintf(why, len, "peer %s: its datagrams do not "
				 "authenticate (key mismatch?)", p->name);
			return true;
		}
	}
	/* Multicast: refused datagrams from an address no live peer has. */
	if (f->refused_at && now - f->refused_at <= f->conf.peer_timeout_ms) {
		for (int i = 0; i < CTSYNC_MAX_PEERS; i++) {
			const struct ftfw_peer *p = &f->peers[i];

			if (p->used && p->alive && !strcmp(p->name, f->refused_from))
				return false;
		}
		snprintf(why, len, "datagrams from %s do not authenticate "
			 "(key mismatch?)", f->refused_from);
		return true;
	}
	return false;
}

static size_t list_len(const struct list *head)
{
	size_t n = 0;

	for (const struct list *l = head->next; l != head; l = l->next)
		n++;
	return n;
}

size_t ftfw_queued(const struct ftfw *f)
{
	return f->nq;
}

size_t ftfw_unacked(const struct ftfw *f)
{
	return list_len(&f->unacked);
}

const struct ftfw_conf *ftfw_conf(const struct ftfw *f)
{
	return &f->conf;
}

void ftfw_stats(const struct ftfw *f, struct ftfw_stats *st)
{
	*st = (struct ftfw_stats){
		.tx = f->tx, .wire = f->wire, .auth = f->auth,
		.rx_foreign = f->rx_foreign, .rx_own = f->rx_own,
		.rx_node_clash = f->rx_node_clash,
		.next_seq = (uint32_t)f->next_seq,
	};
}

void ftfw_count_foreign(struct ftfw *f)
{
	f->rx_foreign++;
}

static enum ftfw_table table_state(const struct ftfw_rx *rx)
{
	if (!rx->known)
		return FTFW_TABLE_NONE;
	if (rx->want_table || rx->sweep_pending)
		return FTFW_TABLE_RESYNCING;
	return rx->expected < rx->highest ? FTFW_TABLE_REPAIRING : FTFW_TABLE_COMPLETE;
}

bool ftfw_peer_info(const struct ftfw *f, int slot, struct ftfw_peer_info *pi)
{
	const struct ftfw_peer *p;

	if (slot < 0 || slot >= CTSYNC_MAX_PEERS || !f->peers[slot].used)
		return false;
	p = &f->peers[slot];
	*pi = (struct ftfw_peer_info){
		.name = p->name, .node_id = p->node_id,
		.epoch = p->rx.known ? p->rx.epoch : 0,
		.alive = p->alive, .last_heard = p->last_heard,
		.key_id = p->key_id, .table = table_state(&p->rx),
		.rx_next = (uint32_t)p->rx.expected,
		.in_flight = in_flight(f, p),
		.flows = cache_live(p->rx.ext), .tombstones = p->rx.ext->dead,
		.resync_waiting = p->resync_deferred, .st = p->st,
	};
	return true;
}

struct cache_entry *ftfw_find_external(const struct ftfw *f, int slot,
				       const struct flow_key *k)
{
	if (slot == FTFW_ALL_PEERS)
		return find_live(f, 0, CTSYNC_MAX_PEERS, k);
	if (slot < 0 || slot >= CTSYNC_MAX_PEERS)
		return NULL;
	return find_live(f, slot, slot + 1, k);
}

struct foreach_ctx {
	ftfw_external_fn fn;
	uint32_t origin;
	void *arg;
};

static int foreach_one(struct cache_entry *e, void *arg)
{
	struct foreach_ctx *fc = arg;

	return fc->fn(e, fc->origin, fc->arg);
}

int ftfw_foreach_external(struct ftfw *f, int slot, ftfw_external_fn fn, void *arg)
{
	struct foreach_ctx fc = { fn, 0, arg };
	int first = slot == FTFW_ALL_PEERS ? 0 : slot;
	int end = slot == FTFW_ALL_PEERS ? CTSYNC_MAX_PEERS : slot + 1;
	int rc = 0;

	if (first < 0 || end > CTSYNC_MAX_PEERS)
		return 0;
	for (int i = first; i < end && rc == 0 && f->peers[i].used; i++) {
		fc.origin = f->peers[i].node_id;
		rc = cache_foreach(f->peers[i].rx.ext, foreach_one, &fc);
	}
	return rc;
}

bool ftfw_consistent(const struct ftfw *f)
{
	return list_len(&f->txq) == f->nq;
}
