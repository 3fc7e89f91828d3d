/*
 * ftfw.h - reliable replication of the internal cache to every peer, and
 * of every peer's table into its external cache (the FT-FW idea).  Pure:
 * it is given datagrams and the time, and gives back datagrams to send and
 * the next deadline.  It owns no socket and never reads the clock.
 *
 * Sender (one stream per node, sent to every peer):
 *   - Changed entries go on the send queue once, however often they
 *     change before they leave; a datagram carries their state as of the
 *     moment it is built.  Sent entries move to the unacked list (ordered
 *     by seq) until every live peer acknowledges them.
 *   - Each peer has its own window (conf.window DATA datagrams it has not
 *     acknowledged).  New data goes while any live peer's window has
 *     room, so a slow peer, or one dead but not yet timed out, never
 *     holds back the others; it still receives the stream and repairs
 *     what it misses.  Only a peer FTFW_RX_WINDOW datagrams behind (its
 *     receiver could not place more) stops new data until it
 *     acknowledges or is declared down.
 *   - A NACK puts the named entries back on the front of the send queue:
 *     they go out again with their current state under a new seq.  base
 *     (the oldest seq still unacknowledged) tells receivers which holes
 *     are void, so they stop asking for them.
 *   - DESTROY is a tombstone that stays until acknowledged.
 *   - A full-table transfer (bulk) queues every live entry and then a
 *     BULK_END marker; receivers then drop what the bulk did not refresh.
 *     A receiver does not take a BULK_END (bulk_refused) whose begin is
 *     before the first seq it tracked of that life (it did not see the
 *     transfer start), nor one it did not ask for that would remove all
 *     it holds of that peer while refreshing none of it: a sender whose
 *     table is really empty is believed when asked (a restart, ctctl
 *     resync, the peer back after peer_timeout).  Every sweep that
 *     removes flows is logged with their number.
 * Receiver (one state per peer):
 *   - Applies DATA in any order, but a record never overwrites state that
 *     came from a newer seq; a DESTROY leaves a tombstone until no older
 *     datagram can still arrive.
 *   - Acknowledges cumulatively and NACKs missing ranges (STATUS), asks
 *     for the full table on a peer restart (new epoch) or when a hole
 *     falls out of its window, naming the seq the transfer must begin
 *     after; a sender already running such a transfer starts no other.
 *     Nor does it start one while another is under way or within
 *     peer_timeout_ms of the last it served: such a request waits
 *     (resync_deferred) and one transfer then serves all that wait.
 *   - Checks each datagram's seq (the sender's next seq) against its own
 *     state: a jump past the window is dropped (rx_bad_seq), and a stream
 *     that says for heartbeat_ms that we are ahead of it (or it of our
 *     window) is tracked again from its base, asking for the full table
 *     (desyncs).  Without keys one forged datagram cannot stop
 *     replication for longer than that.
 *
 * 64-bit sequence numbers are used inside; the wire carries the low 32
 * bits, extended on receipt against the nearest expected value.
 *
 * With a key ring (conf.keys) every datagram is sealed and must open (see
 * auth.h), and a replayed datagram changes nothing:
 *   - within a peer's life, each counter is accepted once (auth_replay);
 *   - a new life (epoch) of a peer is taken only once it is proven live:
 *     by a STATUS from that life acknowledging our own current epoch,
 *     which no datagram recorded before we started can do.  Until then
 *     its datagrams are dropped (rx_unproven) and answered with a probe,
 *     a STATUS that names its epoch, so that it can prove ours in turn.
 *     What was dropped is repaired as usual once the life is taken.
 *   - lives it had before (the last FTFW_RETIRED) are never taken again.
 *   - one key serves the whole cluster and a unicast peer is known by its
 *     address alone, so another node's datagram sent from a peer's
 *     address (replayed, or reflected as it is sent) opens too: while
 *     the peer is alive it is refused (rx_foreign); a peer silent for
 *     peer_timeout_ms may come back under another node id, and the life
 *     a proof of another node id replaces is not retired (it was not the
 *     peer's), so the peer can always take its address back.
 */
#ifndef CTSYNC_FTFW_H
#define CTSYNC_FTFW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "cache.h"
#include "flow.h"
#include "peers.h"
#include "proto.h"

#define FTFW_RX_WINDOW		65536	/* seqs a receiver tracks past cum */
#define FTFW_DEST_ALL		(-1)
#define FTFW_ALL_PEERS		(-1)	/* a slot argument: every peer */
#define FTFW_RETIRED		64	/* earlier lives of a peer remembered */

struct ftfw_conf {
	uint32_t node_id;		/* nonzero */
	uint32_t epoch;			/* nonzero, new at every start */
	uint32_t first_seq;		/* low 32 bits of the first DATA seq */
	size_t   max_datagram;		/* UDP payload bytes */
	uint32_t heartbeat_ms;
	uint32_t ack_ms;
	uint32_t peer_timeout_ms;
	uint32_t window;		/* DATA datagrams in flight, per peer */
	size_t   max_external;		/* per peer; 0 = unlimited */
	uint32_t hash_seed;
	/* Borrowed; NULL: datagrams are neither sealed nor checked.  The
	 * caller may change the ring's keys (a reload) between calls. */
	const struct auth_keyring *keys;
	uint64_t first_counter;		/* sealing counter of this life */
	/* Optional (hot standby): told, as it is applied, of each change of
	 * an external cache that a copy in the kernel must follow: a flow
	 * new, revived or changed in replicated state, or gone (destroyed by
	 * its peer, or swept after a full table).  A record repeating state
	 * already held (a resync, a retransmission) is not reported.  e is
	 * the entry ftfw_find_external(f, FTFW_ALL_PEERS, k) gives now: the
	 * one that changed unless an earlier peer also holds the flow; when
	 * that peer's is gone, another peer's that holds the flow, or NULL
	 * when none does.  e and k are valid during the call only. */
	void (*on_external)(void *arg, struct cache_entry *e,
			    const struct flow_key *k);
	void *external_arg;
	/* Optional: the external entries' layout, a flow layout with the
	 * caller's own side data reserved (hot standby's, standby.h);
	 * NULL: none.  Read by ftfw_new() only, which reserves the
	 * engine's side data after the caller's. */
	const struct cache_layout *external;
};

struct ftfw_tx_stats {
	uint64_t datagrams;		/* DATA */
	uint64_t bytes;			/* every datagram, headers included */
	uint64_t flows;			/* FLOW records */
	uint64_t destroys;		/* DESTROY records */
	uint64_t heartbeats;
	uint64_t status;		/* STATUS datagrams */
	uint64_t retransmitted;		/* records re-sent on NACK */
	uint64_t bulks;			/* full-table transfers started */
	uint64_t window_full;		/* times the window held DATA back */
	uint64_t coalesced;		/* times new data waited to fill a datagram */
	uint64_t gap_max_ms;		/* longest silence between two datagrams */
};

struct ftfw_peer_stats {
	uint64_t rx_datagrams;		/* DATA */
	uint64_t rx_bytes;
	uint64_t rx_flows;		/* FLOW records applied */
	uint64_t rx_destroys;		/* DESTROY records applied */
	uint64_t rx_stale;		/* records older than what we hold */
	uint64_t rx_dup;		/* duplicate datagrams */
	uint64_t rx_lost;		/* seqs never received and not void */
	uint64_t rx_void;		/* holes the sender declared void */
	uint64_t nack_sent;		/* missing ranges asked for */
	uint64_t nack_rcvd;		/* ranges this peer asked us for */
	uint64_t acks_rcvd;
	uint64_t resync_requested;	/* full tables asked of this peer */
	uint64_t resync_done;		/* full tables received (sweeps) */
	uint64_t resync_served;		/* full tables this peer asked of us */
	uint64_t swept;			/* entries removed by a sweep */
	uint64_t restarts;		/* new epochs seen */
	uint64_t cache_full;		/* entries refused at max_external */
	uint64_t resync_deferred;	/* its requests that had to wait */
	uint64_t bulk_refused;		/* BULK_ENDs not taken (see above) */
	uint64_t auth_refused;		/* from its address, did not open */
	uint64_t rx_bad_seq;		/* dropped: seq past the window */
	uint64_t desyncs;		/* stream tracked again (out of step) */
};

/* The engine's counters (ftfw_stats()). */
struct ftfw_stats {
	struct ftfw_tx_stats tx;
	struct wire_stats wire;		/* malformed input, by kind */
	struct auth_stats auth;		/* refused: unsealed, forged, replayed */
	uint64_t rx_foreign;		/* from unknown senders / full peer table;
					 * with keys, another node's from a live
					 * peer's address */
	uint64_t rx_own;		/* our own multicast echo */
	uint64_t rx_node_clash;		/* our node id, another epoch */
	uint32_t next_seq;		/* not a counter: the seq our next DATA
					 * carries, as on the wire */
};

/* How much of a peer's table this node holds. */
enum ftfw_table {
	FTFW_TABLE_NONE,		/* nothing of its stream taken yet */
	FTFW_TABLE_RESYNCING,		/* its full table asked for, or to sweep */
	FTFW_TABLE_REPAIRING,		/* holes asked for again */
	FTFW_TABLE_COMPLETE,
};

/* One peer as status and readiness reports see it (ftfw_peer_info()). */
struct ftfw_peer_info {
	const char *name;		/* address; as long as the engine lives */
	uint32_t node_id;		/* 0: not learned yet */
	uint32_t epoch;			/* its life we track (table not NONE) */
	bool     alive;
	uint64_t last_heard;		/* ms, 0 never */
	uint16_t key_id;		/* of its last datagram taken, 0 none */
	enum ftfw_table table;
	uint32_t rx_next;		/* first seq of its stream we miss */
	uint64_t in_flight;		/* our DATA datagrams it has not
					 * acknowledged (its window's use) */
	size_t   flows;			/* live entries of its external cache */
	size_t   tombstones;		/* destroyed ones kept a while */
	bool     resync_waiting;	/* its request for our table waits */
	struct ftfw_peer_stats st;
};

/* The engine; its insides are its own (ftfw.c). */
struct ftfw;

/* The internal cache: flows, with the engine's side data in each entry.
 * The caller owns it (cache_free()).  NULL on ENOMEM. */
struct cache *ftfw_internal_new(size_t max_entries, uint32_t seed);

/* Returns NULL on ENOMEM.  internal, from ftfw_internal_new(), is
 * borrowed (the daemon owns it). */
struct ftfw *ftfw_new(const struct ftfw_conf *conf, struct cache *internal);
void ftfw_free(struct ftfw *f);

/* Register a configured unicast peer: returns its slot, the number of
 * peers registered before it (see peers.h), or -1 (table full, ENOMEM). */
int ftfw_add_peer(struct ftfw *f, const char *name);

/* --- this node's flows (from the kernel) ------------------------------ */

/*
 * Take a flow's new state.  own: the kernel reported a change we caused by
 * committing (keep it, as peers already know it, but do not send it).
 * Returns 0, or -1 if the internal cache refused the entry (full).
 */
int ftfw_local_update(struct ftfw *f, const struct flow *flow, bool own);
/* The flow is gone: replicate a DESTROY (or forget it if never sent). */
void ftfw_local_destroy(struct ftfw *f, const struct flow_key *key);

/*
 * Reconcile the internal cache with a full dump: call begin, then
 * ftfw_local_update() for every dumped flow, then end, which destroys the
 * entries the dump did not show.  Returns the number destroyed.
 */
void ftfw_reconcile_begin(struct ftfw *f);
size_t ftfw_reconcile_end(struct ftfw *f);

/* Forget the internal cache (entries and queues) without telling peers;
 * the caller then dumps and starts a bulk. */
void ftfw_reset_internal(struct ftfw *f);

/* Queue our whole table to every peer (BULK_END follows it). */
void ftfw_start_bulk(struct ftfw *f);
/* Ask every known peer for its whole table.  Returns peers asked. */
int ftfw_request_resync(struct ftfw *f, uint64_t now);
/* Empty every external cache (never while held, see below). */
void ftfw_flush_external(struct ftfw *f);
/* Hold or release the external caches' deleted entries (cache_hold()):
 * pointers to external entries taken while held stay safe to read, a
 * deleted one marked CE_DEAD, until the hold ends. */
void ftfw_hold_external(struct ftfw *f, bool on);

/* --- the network ------------------------------------------------------- */

/*
 * One received datagram.  slot: the configured peer it came from
 * (unicast), or -1 to find the peer by node id (multicast).  Malformed,
 * forged-looking or foreign datagrams are counted and dropped; nothing
 * of a datagram is applied unless all of it is well formed.
 *
 * Our own node id with our epoch is our multicast echo (rx_own).  Our
 * node id with another epoch is another node configured with our id
 * (rx_node_clash): nothing of it can be replicated, as each side takes
 * the other's stream for its own echo, so it is logged (at most once a
 * minute) and ftfw_trouble() reports it for peer_timeout_ms.
 */
void ftfw_input(struct ftfw *f, int slot, const char *from,
		const uint8_t *buf, size_t len, uint64_t now);

/*
 * Build the next datagram to send, if one is due now: a STATUS that is
 * due, else DATA from the send queue (window permitting; while
 * ftfw_hold() is on, new data too little to fill a datagram waits;
 * repairs never wait), else a heartbeat when the link has been quiet for
 * heartbeat_ms.  Returns its length (0: nothing to send now) and sets
 * *dest to a peer slot or FTFW_DEST_ALL.  cap must be at least
 * max_datagram.
 */
size_t ftfw_output(struct ftfw *f, uint64_t now, uint8_t *buf, size_t cap,
		   int *dest);

/*
 * The caller knows more local changes are about to come (it is reading a
 * batch of kernel events): while on, new data that cannot fill a
 * datagram is held back, so a stream of changes leaves in full
 * datagrams.  Retransmissions, the end of a full-table transfer and a
 * queue that fills a datagram still go at once.  The caller must turn it
 * off when the changes stop; what was held is then due.
 */
void ftfw_hold(struct ftfw *f, bool on);

/*
 * A heartbeat, if the link has been quiet for heartbeat_ms, for a caller
 * busy with long kernel work (a dump, a commit) that cannot serve the
 * rest of the engine meanwhile: it keeps the peers from taking this node
 * for dead.  Touches no cache and judges no peer (the caller reads what
 * the peers sent before it next calls ftfw_output()).  Returns its length
 * (0: none due) and sets *dest; cap as for ftfw_output().
 */
size_t ftfw_heartbeat(struct ftfw *f, uint64_t now, uint8_t *buf, size_t cap,
		      int *dest);

/* When ftfw_output() or a timeout next needs the caller: an absolute time
 * in ms (now if there is work now). */
uint64_t ftfw_next_deadline(const struct ftfw *f, uint64_t now);

/* Is every alive peer's table held in full (no open full-table request,
 * no pending sweep, no holes)?  For readiness reporting. */
bool ftfw_in_sync(const struct ftfw *f);

/*
 * Why this node must not claim to hold its peers' tables although
 * ftfw_in_sync() may say so: within the last peer_timeout_ms another
 * node sent datagrams under our node id (see ftfw_input()), or a
 * configured unicast peer that is not up (no datagram of it taken) sent
 * datagrams from its address that did not authenticate (or were sealed
 * while we have no keys), or, multicast, such datagrams came from an
 * address no live peer has: it is there but we cannot read it.  Writes
 * the reason into why (len bytes) and returns true; false if none.
 */
bool ftfw_trouble(const struct ftfw *f, uint64_t now, char *why, size_t len);

/* Number of entries waiting to be sent / awaiting acknowledgement. */
size_t ftfw_queued(const struct ftfw *f);
size_t ftfw_unacked(const struct ftfw *f);

/* --- what callers may read ------------------------------------------- */

/* The configuration the engine was made with. */
const struct ftfw_conf *ftfw_conf(const struct ftfw *f);
void ftfw_stats(const struct ftfw *f, struct ftfw_stats *st);

/* A datagram the caller drops because no configured peer sent it (a
 * unicast sender known by no address): counted as rx_foreign. */
void ftfw_count_foreign(struct ftfw *f);

/*
 * Peer slot's state into *pi.  Slots run from 0 in the order peers came
 * (ftfw_add_peer(), or first heard of on multicast) and are never given
 * up, so `for (i = 0; ftfw_peer_info(f, i, &pi); i++)` visits every peer.
 * Returns false past the last.
 */
bool ftfw_peer_info(const struct ftfw *f, int slot, struct ftfw_peer_info *pi);

/*
 * The live entry of k in peer slot's external cache, or with
 * FTFW_ALL_PEERS in the first peer's (in slot order) that holds it; NULL
 * if none.  The caller may change its own side data in the entry
 * (conf.external), nothing else.
 */
struct cache_entry *ftfw_find_external(const struct ftfw *f, int slot,
				       const struct flow_key *k);

/*
 * Call fn on every entry of peer slot's external cache, or with
 * FTFW_ALL_PEERS of every peer's in slot order; origin is that peer's
 * node id.  Tombstones (CE_DEAD) are visited too.  fn may change what
 * ftfw_find_external() allows, and must not call into the engine.  Stops
 * when fn returns nonzero, and returns that value.
 */
typedef int (*ftfw_external_fn)(struct cache_entry *e, uint32_t origin, void *arg);
int ftfw_foreach_external(struct ftfw *f, int slot, ftfw_external_fn fn, void *arg);

/* For tests: the engine's own bookkeeping agrees with its lists (the
 * send queue's kept length).  O(queue length). */
bool ftfw_consistent(const struct ftfw *f);

#endif
