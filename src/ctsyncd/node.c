/*
 * node.c - the node's policy: what the kernel reports becomes the
 * internal cache (and, through the engine, the peers'); the table is
 * re-read when events were lost; a hot standby writes its peers' flows
 * into its kernel; keepalived's master and backup; readiness.  No loop
 * here: daemon.c calls in and is asked to send (daemon_flush()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "conffile.h"
#include "filter.h"
#include "ftfw.h"
#include "garp.h"
#include "keyfile.h"
#include "log.h"
#include "node.h"
#include "standby.h"

/* With kernel events lost, the table is re-read once the event socket has
 * been read empty (the burst that overran it is over, or caught up with),
 * or after this long at the latest, should a flood never let up. */
#define REREAD_MAX_WAIT_MS	5000

/* Keep f in the internal cache; a full cache is logged once. */
static void keep(struct daemon *d, const struct flow *f, bool own)
{
	if (ftfw_local_update(d->ftfw, f, own) < 0 && d->ks.refused++ == 0)
		log_warnx("internal cache full (%u entries): flows are not "
			  "replicated; raise cache.max_entries",
			  d->conf.cache.max_entries);
}

/* The standby module's view of the caches (struct standby_ops). */
static struct cache_entry *standby_find(void *arg, const struct flow_key *k)
{
	const struct daemon *d = arg;

	return ftfw_find_external(d->ftfw, FTFW_ALL_PEERS, k);
}

struct standby_walk {
	int (*fn)(struct cache_entry *e, void *arg);
	void *arg;
};

static int standby_walk_one(struct cache_entry *e, uint32_t origin, void *arg)
{
	const struct standby_walk *w = arg;

	return w->fn(e, w->arg);
}

static int standby_foreach(void *arg, int (*fn)(struct cache_entry *e, void *fn_arg),
			   void *fn_arg)
{
	struct daemon *d = arg;
	struct standby_walk w = { fn, fn_arg };

	return ftfw_foreach_external(d->ftfw, FTFW_ALL_PEERS, standby_walk_one, &w);
}

static bool standby_own(void *arg, const struct flow_key *k)
{
	const struct daemon *d = arg;
	const struct cache_entry *e = cache_find(d->internal, k);

	return e && !(e->flags & CE_DEAD);
}


static void on_external(void *arg, struct cache_entry *e, const struct flow_key *k)
{
	struct daemon *d = arg;

	standby_changed(d->standby, k);
}

void node_on_flow(void *arg, enum kernel_ev ev, const struct flow *f, bool own)
{
	struct daemon *d = arg;

	switch (ev) {
	case KERNEL_EV_NEW:	d->ks.ev_new++; break;
	case KERNEL_EV_UPDATE:	d->ks.ev_update++; break;
	case KERNEL_EV_DESTROY:	d->ks.ev_destroy++; break;
	}
	d->ks.ev_own += own;
	/* A copy of a peer's flow is not ours to replicate (one removed by
	 * someone else is put back). */
	if (standby_kernel_event(d->standby, &f->key, ev == KERNEL_EV_DESTROY, own))
		return;
	if (ev == KERNEL_EV_DESTROY) {
		ftfw_local_destroy(d->ftfw, &f->key);
		return;
	}
	if (!filter_accept(d->filter, f)) {
		/* No longer of interest (a state filter): forget it. */
		d->ks.filtered++;
		ftfw_local_destroy(d->ftfw, &f->key);
		return;
	}
	keep(d, f, own);
}

static void on_dumped(void *arg, enum kernel_ev ev, const struct flow *f, bool own)
{
	struct daemon *d = arg;

	if ((++d->ks.dumped & 4095) == 0)
		daemon_keepalive(d);
	if (filter_accept(d->filter, f) && !standby_is_copy(d->standby, &f->key))
		keep(d, f, false);
}

/* Make the internal cache equal the kernel's table. */
int node_reconcile(struct daemon *d)
{
	long n;
	size_t gone;

	/* Whatever was lost so far, this dump covers (kernel_dump()). */
	d->reread_since = 0;
	ftfw_reconcile_begin(d->ftfw);
	/* An interrupted dump may have missed entries: only a whole one
	 * may decide what is gone. */
	for (int tries = 0; (n = kernel_dump(d->k, on_dumped, d)) < 0 &&
	     errno == EINTR && tries < 5; tries++)
		ftfw_reconcile_begin(d->ftfw);
	if (n < 0) {
		log_warn("conntrack dump");
		d->reread_since = now_ms();	/* try again later */
		return -1;
	}
	gone = ftfw_reconcile_end(d->ftfw);
	d->ks.dumps++;
	d->ks.reconciled += gone;
	log_info("kernel table: %ld entries, %zu replicated, %zu gone since last seen",
		 n, cache_live(d->internal), gone);
	return 0;
}

/*
 * The kernel dropped events: the table is to be re-read (kernel_read()
 * says when).  One warning and one overrun counted per episode, not per
 * batch of events read during it.
 */
void node_events_lost(struct daemon *d, const char *during)
{
	if (d->reread_since)
		return;
	d->reread_since = now_ms();
	d->ks.overruns++;
	log_warnx("%s: kernel events were lost, the table is re-read once "
		  "they are caught up with (%" PRIu64 " lost so far; raise "
		  "kernel.event_buffer if this repeats)", during,
		  kernel_events_lost(d->k));
}

/* Pulls a step's writes from the standby module for kernel_commit(). */
struct standby_iter {
	struct daemon *d;
	unsigned n;
};


static const struct flow *standby_write(void *arg, bool *del)
{
	struct standby_iter *it = arg;
	struct standby_op op;

	if (!standby_next(it->d->standby, &op))
		return NULL;
	if ((++it->n & 1023) == 0)
		daemon_keepalive(it->d);
	if (op.release)		/* the peer's now: tell the peers so */
		ftfw_local_destroy(it->d->ftfw, &op.flow->key);
	*del = op.del;
	return op.flow;
}

/* Write one step of what the standby module has waiting (the timer
 * brings the next).  The events the writes cause are ours and are read
 * as they come (a copy is not replicated back). */
void node_standby_flush(struct daemon *d)
{
	const struct standby_stats *s = standby_stats(d->standby);
	struct standby_iter it = { .d = d };
	struct commit_result r;
	uint64_t failed;

	if (!standby_step(d->standby, now_ms()))
		return;
	if (kernel_commit(d->k, standby_write, &it, d->conf.kernel.commit_batch,
			  KERNEL_REFRESH, node_on_flow, d, &r) < 0) {
		/* Whatever it failed on, do not spin: what waits is left to
		 * the next sweep (the copies not written are still due). */
		log_warn("hot standby: writing flows into the kernel");
		standby_step_failed(d->standby);
		return;
	}
	failed = r.failed + r.update_failed;
	if (failed && s->failed == 0)
		log_warnx("hot standby: %" PRIu64 " flows not written into "
			  "the kernel, first %s: %s (net.netfilter."
			  "nf_conntrack_max too low?)",
			  failed, r.first_failed, strerror(r.first_error));
	standby_step_done(d->standby, &(struct standby_result){
		.created = r.created, .updated = r.updated,
		.deleted = r.deleted, .failed = failed });
	if (r.events_lost)
		node_events_lost(d, "writing the hot standby's copies");
}

/*
 * Read what the kernel reported.  After a loss the table is re-read once
 * the socket has been read empty: a dump in the middle of a burst loses
 * the events of the burst's rest (nobody reads them meanwhile), and
 * netlink then reports no further ENOBUFS until its queue has been read
 * empty once.  Losses during a re-read lead to another, so the internal
 * cache ends equal to the table however fast the kernel goes.
 */
void node_kernel_read(struct daemon *d)
{
	int ev = kernel_events(d->k, node_on_flow, d);

	if (ev < 0) {
		log_warn("conntrack events");
	} else {
		if (ev & KERNEL_LOST)
			node_events_lost(d, "kernel event buffer overrun");
		/* (not while a commit writes: it re-reads when done) */
		if (d->reread_since && !d->job && (!(ev & KERNEL_MORE) ||
		    now_ms() - d->reread_since >= REREAD_MAX_WAIT_MS))
			node_reconcile(d);
	}
	daemon_flush(d);
}

/* One round: every configured address once.  Returns the number that
 * could not be sent, and names the first of them in why (if given). */
static size_t announce_round(struct daemon *d, char *why, size_t len)
{
	size_t failed = 0;

	for (size_t i = 0; i < d->conf.failover.nannounce; i++) {
		const struct announce *a = &d->conf.failover.announce[i];
		char addr[INET6_ADDRSTRLEN];

		if (garp_send(d->garp_fd, a) == 0) {
			d->announced++;
		} else if (failed++ == 0 && why) {
			inet_ntop(a->family, &a->addr, addr, sizeof(addr));
			snprintf(why, len, "announcing %s on %s: %s", addr,
				 a->ifname, strerror(errno));
		}
	}
	d->announce_left--;
	d->announce_at = now_ms() + d->conf.failover.interval_ms;
	return failed;
}

/*
 * Becoming master, in this order: the external cache into the kernel
 * (the commit), then the addresses announced, so no packet reaches us
 * before its state does, then a resync both ways so the old master
 * learns what happened while it was away (announce_master()).
 *
 * A hot standby has every flow in its kernel already, with its latest
 * state (keepalived announced us before it told us, and traffic may be
 * flowing): the kernel's table, copies included, is re-read as this
 * node's own, to replicate, and only the peers' flows it does not show
 * are committed.
 */
void node_master(struct daemon *d, struct client *cl)
{
	bool hot = standby_active(d->standby);

	log_info("becoming master%s", hot ? " (hot standby: the kernel holds "
		 "the peers' flows already)" : "");
	d->role = ROLE_MASTER;	/* what still waits to be copied is committed */
	standby_stop(d->standby);
	if (hot)
		node_reconcile(d);
	commit_start(d, cl, hot ? 0 : KERNEL_REFRESH, true);
}

/* The commit of do_master() is done: announce, resync.  Returns the number
 * of announcements that failed, the first named in why. */
size_t node_announce(struct daemon *d, char *why, size_t len)
{
	size_t failed = 0;

	if (d->conf.failover.nannounce && d->conf.failover.count) {
		d->announce_left = (int)d->conf.failover.count;
		failed = announce_round(d, why, len);
	}
	ftfw_request_resync(d->ftfw, now_ms());
	ftfw_start_bulk(d->ftfw);
	return failed;
}

/*
 * Becoming backup: ask the peers for their tables.  A hot standby also
 * writes every flow its peers hold into its kernel now, refreshing the
 * entries it made itself while it was master (their TCP windows went
 * stale meanwhile), and withdraws its claim on them.
 */
void node_backup(struct daemon *d, struct ctl_client *c)
{
	char msg[160];

	log_info("becoming backup%s", d->hot ? " (hot standby)" : "");
	d->role = ROLE_BACKUP;
	d->announce_left = 0;
	if (d->hot) {
		standby_start(d->standby, now_ms());
		node_standby_flush(d);
		snprintf(msg, sizeof(msg), "backup: writing %zu peer flows into "
			 "the kernel, asked peers for their tables", node_external_live(d));
	} else {
		snprintf(msg, sizeof(msg), "backup: asked peers for their tables");
	}
	ftfw_request_resync(d->ftfw, now_ms());
	ctl_put_done(&c->out, 0, msg);
	daemon_flush(d);
}

/*
 * Ready for mastership: every live peer's table is held in full.  A node
 * that has heard no peer for peer_timeout since it started is alone and
 * has nothing to wait for.
 */
bool node_ready(struct daemon *d, char *why, size_t len)
{
	struct ftfw_peer_info pi;
	bool alive = false;
	int ev = host_conntrack_events();

	if (ev == 0) {
		d->events_off = true;
		snprintf(why, len, "net.netfilter.nf_conntrack_events is 0: the "
			 "kernel reports no changes to replicate (set it to 1)");
		return false;
	}
	if (d->events_off) {
		/* Turned on again: what changed meanwhile is only learned
		 * by reading the table. */
		d->events_off = false;
		log_info("net.netfilter.nf_conntrack_events is %d again: "
			 "re-reading the table", ev);
		if (!d->reread_since)
			d->reread_since = now_ms();
		daemon_arm(d);
	}
	if (ftfw_trouble(d->ftfw, now_ms(), why, len))
		return false;
	for (int i = 0; ftfw_peer_info(d->ftfw, i, &pi); i++)
		alive |= pi.alive;
	if (alive) {
		if (ftfw_in_sync(d->ftfw))
			return true;
		snprintf(why, len, "not in sync: a peer's table is still arriving");
		return false;
	}
	if (now_ms() - d->started > d->conf.sync.peer_timeout_ms)
		return true;
	snprintf(why, len, "starting: no peer heard from yet");
	return false;
}

size_t node_external_live(const struct daemon *d)
{
	struct ftfw_peer_info pi;
	size_t n = 0;

	for (int i = 0; ftfw_peer_info(d->ftfw, i, &pi); i++)
		n += pi.flows;
	return n;
}

const char *role_name(enum role r)
{
	return r == ROLE_MASTER ? "master" : r == ROLE_BACKUP ? "backup" : "none";
}

/*
 * Key rotation: take the key file's keys as a whole, or, if it has any
 * problem, keep the ones in use (a half-edited file must not cut the
 * link).  Each problem is logged.
 */
static void reload_keys(struct daemon *d)
{
	struct auth_keyring kr = { .encrypt = d->keys.encrypt };
	char *text = NULL, *line, *save;
	size_t len = 0;
	FILE *err = open_memstream(&text, &len);
	int errors;

	if (!err) {
		log_warn("key reload");
		return;
	}
	errors = keyfile_load(d->conf.sync.key_file, &kr, err);
	fclose(err);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_warnx("%s", line);
	free(text);
	if (errors) {
		log_warnx("key file not reloaded: still sealing with key %u",
			  d->keys.keys[0].id);
		return;
	}
	d->keys = kr;
	auth_keys_clear(&kr);
	log_info("keys reloaded: sealing with key %u, accepting %zu key%s",
		 d->keys.keys[0].id, d->keys.n, d->keys.n == 1 ? "" : "s");
}

/* SIGHUP: keys and the kernel's table again; an edited configuration is
 * only reported (config_reread()). */
void node_reload(struct daemon *d)
{
	log_info("SIGHUP: re-reading the kernel table%s; checking %s for "
		 "changes", d->keys.n ? " and the key file" : "", d->conf.path);
	config_reread(&d->conf);	/* reports, applies nothing */
	if (d->keys.n)
		reload_keys(d);
	node_reconcile(d);
}

/* When the node has work due (announcements, the standby's writes, a
 * commit's next slice, a re-read), UINT64_MAX if none. */
uint64_t node_deadline(struct daemon *d, uint64_t now)
{
	uint64_t at = standby_next_deadline(d->standby, now);

	if (d->announce_left && d->announce_at < at)
		at = d->announce_at;
	if (d->reread_since || d->job)
		at = now;
	return at;
}

/* Do what node_deadline() said was due. */
void node_tick(struct daemon *d, uint64_t now)
{
	if (d->announce_left && d->announce_at <= now)
		announce_round(d, NULL, 0);
	node_standby_flush(d);
	if (d->job)
		commit_step(d);
	if (d->reread_since)
		node_kernel_read(d);
}

/* The node's state from the configuration and the sync keys (copied);
 * the kernel, the sync channel and the control socket are daemon.c's to
 * open.  -1 (logged) when something could not be made. */
int node_init(struct daemon *d, const struct config *c, const struct auth_keyring *keys)
{
	struct prefix local[256];
	size_t nlocal;
	struct ftfw_conf fc;
	struct cache_layout ext;
	struct standby_side side;

	d->conf = *c;
	d->keys = *keys;
	d->garp_fd = -1;
	list_init(&d->parked);
	d->started = now_ms();
	d->hot = c->failover.standby == STANDBY_HOT;
	d->role = host_role(c);
	if (d->keys.n && sodium_init() < 0) {
		log_warnx("libsodium failed to initialise");
		return -1;
	}
	nlocal = c->filter.ignore_local ? host_local_prefixes(c, local, 256) : 0;
	if (!(d->filter = filter_new(&c->filter, local, nlocal)) ||
	    !(d->internal = ftfw_internal_new(c->cache.max_entries, host_random_u32()))) {
		log_warn("filter and cache");
		return -1;
	}
	cache_layout_init(&ext, &cache_kind_flow);
	side = standby_reserve(&ext);
	fc = (struct ftfw_conf){
		.node_id = c->node_id ? c->node_id : host_node_id(c),
		.epoch = host_random_u32(),
		.first_seq = host_random_u32(),
		.max_datagram = c->sync.mtu - (c->sync.local.ss_family == AF_INET6 ? 48 : 28),
		.heartbeat_ms = c->sync.heartbeat_ms,
		.ack_ms = c->sync.ack_ms,
		.peer_timeout_ms = c->sync.peer_timeout_ms,
		.window = c->sync.window,
		.max_external = c->cache.max_entries,
		.hash_seed = host_random_u32(),
		.keys = d->keys.n ? &d->keys : NULL,
		.first_counter = host_realtime_us(),
		.on_external = on_external,
		.external_arg = d,
		.external = &ext,
	};
	if (!(d->ftfw = ftfw_new(&fc, d->internal)) ||
	    !(d->standby = standby_new(&(struct standby_ops){
		.find = standby_find, .foreach = standby_foreach,
		.own = standby_own, .arg = d, .side = side }))) {
		log_warn("replication engine");
		return -1;
	}
	if (d->hot && d->role == ROLE_BACKUP)
		standby_start(d->standby, d->started);
	for (size_t i = 0; i < c->sync.npeers; i++) {
		char name[64];

		addr_str(&c->sync.peers[i], name, sizeof(name));
		/* The channel knows it by its index in c->sync.peers. */
		if (ftfw_add_peer(d->ftfw, name) != (int)i) {
			log_warnx("peer %s: no slot %zu in the replication engine", name, i);
			return -1;
		}
	}
	return 0;
}

void node_free(struct daemon *d)
{
	commit_free(d);
	ftfw_free(d->ftfw);
	cache_free(d->internal);
	filter_free(d->filter);
	standby_free(d->standby);
	auth_keys_clear(&d->keys);
}
