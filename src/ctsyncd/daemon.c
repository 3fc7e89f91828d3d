/*
 * daemon.c - libev wiring: one ev_io per descriptor, one ev_timer re-armed
 * from ftfw_next_deadline(), signals.  The only file that includes <ev.h>.
 *
 * Start-up order: subscribe to kernel events, then dump the table (events
 * queued meanwhile are applied after it, so nothing falls between), queue
 * it all as the start-up bulk, then open the sync socket and the control
 * socket, and tell systemd we are ready.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "ctsync_config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cache.h"
#include "channel.h"
#include "conffile.h"
#include "control.h"
#include "ctl_proto.h"
#include "daemon.h"
#include "filter.h"
#include "ftfw.h"
#include "garp.h"
#include "kernel.h"
#include "keyfile.h"
#include "log.h"
#include "privs.h"
#include "standby.h"

#define OUTPUT_BURST	512	/* datagrams per loop iteration */
#define INPUT_BURST	512
#define RX_BUF		65536

struct kstats {
	uint64_t ev_new, ev_update, ev_destroy, ev_own, filtered;
	uint64_t overruns, dumps, dumped, reconciled, refused;
};

/* With kernel events lost, the table is re-read once the event socket has
 * been read empty (the burst that overran it is over, or caught up with),
 * or after this long at the latest, should a flood never let up. */
#define REREAD_MAX_WAIT_MS	5000

struct commit_stats {
	uint64_t runs, created, exists, failed, last_usec;
};

/* A commit under way (commit_start()): written in slices. */
struct commit_job {
	struct daemon *d;
	struct client *cl;		/* waits for the answer; NULL: gone */
	bool master;			/* then announce and resync */
	bool quiet;			/* kernel events paused */
	unsigned flags;			/* KERNEL_REFRESH */
	int err;			/* collecting failed: end with it */
	struct cache_entry **v;
	size_t n, cap, i;
	uint64_t gone;			/* left the external caches meanwhile */
	uint64_t slice_end;		/* us */
	uint64_t t0, progress_at;	/* us, ms */
	struct commit_result r;		/* the slices so far */
};

/* What keepalived (through ctctl) last told us, or, before that, what the
 * VIPs said at start-up (initial_role()); none without either. */
enum role { ROLE_NONE, ROLE_MASTER, ROLE_BACKUP };

struct daemon {
	struct config conf;
	struct auth_keyring keys;	/* ftfw borrows it; n == 0: no auth */
	struct ev_loop *loop;
	struct kernel *k;
	struct channel *ch;
	struct cache *internal;
	struct ftfw *ftfw;
	struct filter *filter;
	int ctl_fd;
	struct control ctl;		/* the control socket's clients */
	ev_timer ctl_retry;		/* accept() again after a failure */
	uint64_t ctl_log_at;		/* accept failures: last logged (ms) */
	uint64_t ctl_unlogged;		/* and how many since */
	int garp_fd;
	int announce_left;		/* rounds of announcements still to send */
	uint64_t announce_at;		/* when the next round is due */
	uint64_t announced;		/* frames sent */
	uint64_t watchdog_usec;		/* systemd WatchdogSec, 0 off */
	uint64_t watchdog_at;
	ev_io kernel_w, sync_r, sync_w, ctl_w;
	ev_timer timer;
	/* Reading kernel events in batches: libev's timers go through
	 * epoll_wait's milliseconds, too coarse here, so the hold is a
	 * timerfd's (microseconds). */
	ev_io kernel_tick;
	int tick_fd;
	/* The kernel's table is to be re-read (events were lost, or not
	 * listened to during a commit): since when (ms), 0 not.  A re-read
	 * during which events are lost again is followed by another. */
	uint64_t reread_since;
	bool long_work;			/* keepalive() ran since the last turn */
	bool events_off;		/* nf_conntrack_events seen at 0 */
	ev_signal sig_int, sig_term, sig_hup;
	uint64_t started;
	struct kstats ks;
	struct commit_stats cs;
	struct commit_job *job;		/* the commit under way, or NULL */
	struct list parked;		/* clients whose request waits for it */
	enum role role;
	bool hot;			/* failover.standby: hot */
	struct standby *standby;	/* active while a hot backup */
	uint64_t tx_errors, rx_oversize;
	/* A datagram the socket refused with EAGAIN, sent when writable. */
	uint8_t  pend[RX_BUF];
	size_t   pend_len;
	int      pend_dest;
	uint8_t  rxbuf[RX_BUF];
};

struct client {
	ev_io io;
	struct ctl_client *c;
	struct daemon *d;
	/* A request that waits for the commit under way (park()): its
	 * type and body (at most one byte: ctl_req_body_len()). */
	struct list parked;
	uint16_t req;
	uint8_t body;
	uint8_t blen;
};

static void client_kick(struct client *cl);
static void commit_step(struct daemon *d);
static void unpark(struct daemon *d);
static size_t announce_master(struct daemon *d, char *why, size_t len);

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t now_ms(void)
{
	return now_us() / 1000;
}

/* net.netfilter.nf_conntrack_events in our namespace (0: no events at
 * all, 1: for every flow, 2: only for flows created while someone
 * listens), or -1 when it cannot be read. */
static int conntrack_events(void)
{
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_events", "r");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* ---- kernel ------------------------------------------------------------- */

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

static void on_flow(void *arg, enum kernel_ev ev, const struct flow *f, bool own)
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

static void keepalive(struct daemon *d);

static void on_dumped(void *arg, enum kernel_ev ev, const struct flow *f, bool own)
{
	struct daemon *d = arg;

	if ((++d->ks.dumped & 4095) == 0)
		keepalive(d);
	if (filter_accept(d->filter, f) && !standby_is_copy(d->standby, &f->key))
		keep(d, f, false);
}

/* Make the internal cache equal the kernel's table. */
static int reconcile(struct daemon *d)
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
static void events_lost(struct daemon *d, const char *during)
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

static void flush_output(struct daemon *d);

static void watchdog_feed(struct daemon *d);

/* ---- hot standby ------------------------------------------------------ */

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
		keepalive(it->d);
	if (op.release)		/* the peer's now: tell the peers so */
		ftfw_local_destroy(it->d->ftfw, &op.flow->key);
	*del = op.del;
	return op.flow;
}

/* Write one step of what the standby module has waiting (the timer
 * brings the next).  The events the writes cause are ours and are read
 * as they come (a copy is not replicated back). */
static void standby_flush(struct daemon *d)
{
	const struct standby_stats *s = standby_stats(d->standby);
	struct standby_iter it = { .d = d };
	struct commit_result r;
	uint64_t failed;

	if (!standby_step(d->standby, now_ms()))
		return;
	if (kernel_commit(d->k, standby_write, &it, d->conf.kernel.commit_batch,
			  KERNEL_REFRESH, on_flow, d, &r) < 0) {
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
		events_lost(d, "writing the hot standby's copies");
}

/*
 * Read what the kernel reported.  After a loss the table is re-read once
 * the socket has been read empty: a dump in the middle of a burst loses
 * the events of the burst's rest (nobody reads them meanwhile), and
 * netlink then reports no further ENOBUFS until its queue has been read
 * empty once.  Losses during a re-read lead to another, so the internal
 * cache ends equal to the table however fast the kernel goes.
 */
static void kernel_read(struct daemon *d)
{
	int ev = kernel_events(d->k, on_flow, d);

	if (ev < 0) {
		log_warn("conntrack events");
	} else {
		if (ev & KERNEL_LOST)
			events_lost(d, "kernel event buffer overrun");
		/* (not while a commit writes: it re-reads when done) */
		if (d->reread_since && !d->job && (!(ev & KERNEL_MORE) ||
		    now_ms() - d->reread_since >= REREAD_MAX_WAIT_MS))
			reconcile(d);
	}
	flush_output(d);
}

/*
 * The kernel reports events one by one as flows come and go.  Waking for
 * every few of them was a quarter of the sender's CPU at 1M flows, so:
 * - idle: the first event starts a hold of kernel.collect_us, with the
 *   event watcher stopped;
 * - at its end every pending event is read (one wake-up for the batch)
 *   and full datagrams leave; what cannot fill one is held, the watcher
 *   runs again and the timer gives the next event half a hold;
 * - an event within it starts the next hold, and the held records go
 *   with the next batch; none, and they leave.
 * So when the timer fires, a stopped watcher means a hold ended.  A
 * stream of changes leaves in full datagrams, and a change waits at most
 * 1.5 holds: the last of a burst does not wait for a next one.
 */
static void tick_arm(struct daemon *d, uint32_t us)
{
	struct itimerspec it = {
		.it_value = { .tv_sec = us / 1000000,
			      .tv_nsec = (long)(us % 1000000) * 1000 + 1 },
	};

	if (timerfd_settime(d->tick_fd, 0, &it, NULL) < 0)
		log_warn("timerfd");
}

static void kernel_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;

	if (!d->conf.kernel.collect_us) {
		kernel_read(d);
		return;
	}
	ev_io_stop(loop, &d->kernel_w);
	tick_arm(d, d->conf.kernel.collect_us);
}

static void kernel_tick_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	uint64_t n;

	if (read(d->tick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("timerfd");
	if (!ev_is_active(&d->kernel_w)) {	/* a hold ended */
		ftfw_hold(d->ftfw, true);
		kernel_read(d);
		ev_io_start(loop, &d->kernel_w);
		tick_arm(d, d->conf.kernel.collect_us / 2);
	} else {			/* no event came after it */
		ftfw_hold(d->ftfw, false);
		flush_output(d);
	}
}

/* ---- sync --------------------------------------------------------------- */

static void arm_timer(struct daemon *d)
{
	uint64_t now = now_ms(), at = ftfw_next_deadline(d->ftfw, now);

	if (d->announce_left && d->announce_at < at)
		at = d->announce_at;
	if (d->watchdog_usec && d->watchdog_at < at)
		at = d->watchdog_at;
	if (standby_next_deadline(d->standby, now) < at)
		at = standby_next_deadline(d->standby, now);
	if (d->reread_since || d->job)
		at = now;

	ev_timer_stop(d->loop, &d->timer);
	ev_timer_set(&d->timer, at > now ? (double)(at - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(d->loop, &d->timer);
}

/* 1: sent; 0: the socket is full (kept pending); errors are dropped. */
static int send_one(struct daemon *d, const uint8_t *buf, size_t len, int dest)
{
	if (channel_send(d->ch, dest, buf, len) == 0)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		if (buf != d->pend)
			memcpy(d->pend, buf, len);
		d->pend_len = len;
		d->pend_dest = dest;
		ev_io_start(d->loop, &d->sync_w);
		return 0;
	}
	/* Lost on the way out: the receiver will ask again. */
	if (d->tx_errors++ % 1000 == 0)
		log_warn("sync send");
	return 1;
}

static void long_work_done(struct daemon *d);

static void flush_output(struct daemon *d)
{
	uint64_t now;
	uint8_t buf[RX_BUF];

	long_work_done(d);	/* before ftfw_output() judges the peers */
	now = now_ms();
	if (d->pend_len) {
		if (!send_one(d, d->pend, d->pend_len, d->pend_dest))
			return;
		d->pend_len = 0;
	}
	ev_io_stop(d->loop, &d->sync_w);
	for (int i = 0; i < OUTPUT_BURST; i++) {
		int dest;
		size_t len = ftfw_output(d->ftfw, now, buf, sizeof(buf), &dest);

		if (!len)
			break;
		if (!send_one(d, buf, len, dest))
			return;
	}
	arm_timer(d);
}

static void sync_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	flush_output(w->data);
}

/* Take what the peers sent (INPUT_BURST datagrams at most); returns
 * true when that many were read (more may be waiting). */
static bool sync_input(struct daemon *d)
{
	struct sockaddr_storage from;
	uint64_t now = now_ms();

	for (int i = 0; i < INPUT_BURST; i++) {
		long n = channel_recv(d->ch, d->rxbuf, sizeof(d->rxbuf), &from);
		char name[64] = "";
		int slot = -1;

		if (n < 0)
			return false;
		if ((size_t)n > sizeof(d->rxbuf)) {
			d->rx_oversize++;
			continue;
		}
		/* Unicast peers are known by address; multicast peers are
		 * found by node id and named after their first datagram. */
		if (d->conf.sync.transport == TRANSPORT_UDP) {
			if ((slot = channel_peer_slot(d->ch, &from)) < 0) {
				ftfw_count_foreign(d->ftfw);
				continue;
			}
		} else {
			channel_addr_str(&from, name, sizeof(name));
		}
		ftfw_input(d->ftfw, slot, name, d->rxbuf, (size_t)n, now);
	}
	return true;
}

static void sync_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;

	sync_input(d);
	standby_flush(d);
	flush_output(d);
}

/*
 * Long kernel work (a dump, a commit, a step of hot-standby writes) holds
 * the loop for seconds at a million flows.  Between its batches: feed the
 * watchdog, and send the heartbeat that comes due, so the peers do not
 * take this node for dead (nothing else of the engine runs meanwhile:
 * the work walks the caches).  Afterwards long_work_done() reads what the
 * peers sent before anything judges them silent.
 */
static void keepalive(struct daemon *d)
{
	uint8_t buf[WIRE_HDR_LEN + AUTH_TRAILER_LEN];
	int dest;
	size_t n;

	watchdog_feed(d);
	if (!d->ch || d->pend_len)
		return;		/* starting up; or the socket is full anyway */
	d->long_work = true;
	n = ftfw_heartbeat(d->ftfw, now_ms(), buf, sizeof(buf), &dest);
	if (n && channel_send(d->ch, dest, buf, n) < 0 && d->tx_errors++ % 1000 == 0)
		log_warn("sync send");
}

static void long_work_done(struct daemon *d)
{
	if (!d->long_work)
		return;
	d->long_work = false;
	for (int i = 0; i < 64 && sync_input(d); i++)
		;	/* bounded: the peers may keep sending */
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

/* Tell systemd we live, when due.  Also called between the batches of a
 * long kernel write (a commit, a large copy): those make progress. */
static void watchdog_feed(struct daemon *d)
{
#if HAVE_SYSTEMD
	uint64_t now = now_ms();

	if (d->watchdog_usec && d->watchdog_at <= now) {
		sd_notify(0, "WATCHDOG=1");
		d->watchdog_at = now + d->watchdog_usec / 2000;
	}
#else
	(void)d;
#endif
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	uint64_t now = now_ms();

	if (d->announce_left && d->announce_at <= now)
		announce_round(d, NULL, 0);
	standby_flush(d);
	if (d->job)
		commit_step(d);
	if (d->reread_since)
		kernel_read(d);
	watchdog_feed(d);
	flush_output(d);
}

/* ---- control ------------------------------------------------------------ */

static const char *role_name(enum role r)
{
	return r == ROLE_MASTER ? "master" : r == ROLE_BACKUP ? "backup" : "none";
}


static void kv(struct ctl_client *c, const char *sec, const char *key, uint64_t v)
{
	ctl_put_kv_u64(&c->out, sec, key, v);
}

static size_t external_live(const struct daemon *d)
{
	struct ftfw_peer_info pi;
	size_t n = 0;

	for (int i = 0; ftfw_peer_info(d->ftfw, i, &pi); i++)
		n += pi.flows;
	return n;
}

static void peer_section(const struct ftfw_peer_info *pi, char *sec, size_t len)
{
	snprintf(sec, len, "peer %s", pi->name);
}

/*
 * Ready for mastership: every live peer's table is held in full.  A node
 * that has heard no peer for peer_timeout since it started is alone and
 * has nothing to wait for.
 */
static bool is_ready(struct daemon *d, char *why, size_t len)
{
	struct ftfw_peer_info pi;
	bool alive = false;
	int ev = conntrack_events();

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
		arm_timer(d);
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

/* "auth": off, or the key we seal with, the ones we accept, encryption. */
static void auth_status(const struct daemon *d, struct ctl_client *c)
{
	char ids[AUTH_MAX_KEYS * 6 + 1] = "";
	size_t n = 0;

	if (!d->keys.n) {
		ctl_put_kv_str(&c->out, "daemon", "auth", "off");
		return;
	}
	ctl_put_kv_str(&c->out, "daemon", "auth",
		       d->keys.encrypt ? "encrypted" : "authenticated");
	kv(c, "daemon", "key_id", d->keys.keys[0].id);
	for (size_t i = 0; i < d->keys.n; i++)
		n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%s%u", i ? "," : "",
				      d->keys.keys[i].id);
	ctl_put_kv_str(&c->out, "daemon", "keys_accepted", ids);
}

static void do_status(struct daemon *d, struct ctl_client *c)
{
	static const char *const table[] = {
		[FTFW_TABLE_NONE] = "none", [FTFW_TABLE_RESYNCING] = "resyncing",
		[FTFW_TABLE_REPAIRING] = "repairing", [FTFW_TABLE_COMPLETE] = "complete",
	};
	const struct ftfw_conf *fc = ftfw_conf(d->ftfw);
	struct ftfw_peer_info pi;
	uint64_t now = now_ms();
	char epoch[16];

	snprintf(epoch, sizeof(epoch), "%08x", fc->epoch);
	ctl_put_kv_str(&c->out, "daemon", "version", CTSYNC_VERSION);
	kv(c, "daemon", "node_id", fc->node_id);
	ctl_put_kv_str(&c->out, "daemon", "epoch", epoch);
	kv(c, "daemon", "uptime_s", (now - d->started) / 1000);
	ctl_put_kv_str(&c->out, "daemon", "transport",
		       d->conf.sync.transport == TRANSPORT_MULTICAST ? "multicast" : "udp");
	{
		char why[160];
		bool ready = is_ready(d, why, sizeof(why));

		ctl_put_kv_str(&c->out, "daemon", "ready", ready ? "yes" : "no");
		if (!ready)
			ctl_put_kv_str(&c->out, "daemon", "not_ready", why);
	}
	ctl_put_kv_str(&c->out, "daemon", "role", role_name(d->role));
	ctl_put_kv_str(&c->out, "daemon", "standby", d->hot ? "hot" : "cold");
	auth_status(d, c);
	kv(c, "cache", "internal", cache_live(d->internal));
	kv(c, "cache", "external", external_live(d));
	kv(c, "cache", "queued", ftfw_queued(d->ftfw));
	kv(c, "cache", "unacked", ftfw_unacked(d->ftfw));
	for (int i = 0; ftfw_peer_info(d->ftfw, i, &pi); i++) {
		char sec[80];

		peer_section(&pi, sec, sizeof(sec));
		kv(c, sec, "node_id", pi.node_id);
		ctl_put_kv_str(&c->out, sec, "state",
			       !pi.last_heard ? "unknown" : pi.alive ? "up" : "down");
		if (pi.last_heard)
			kv(c, sec, "last_heard_ms", now - pi.last_heard);
		kv(c, sec, "flows", pi.flows);
		if (d->keys.n)
			kv(c, sec, "key_id", pi.key_id);
		ctl_put_kv_str(&c->out, sec, "table", table[pi.table]);
	}
}

static void do_stats(struct daemon *d, struct ctl_client *c)
{
	struct ftfw_stats fs;
	const struct ftfw_tx_stats *tx = &fs.tx;
	const struct wire_stats *w = &fs.wire;
	struct ftfw_peer_info pi;
	struct kernel_stats kst;
	const struct standby_stats *sb = standby_stats(d->standby);

	ftfw_stats(d->ftfw, &fs);

	kernel_stats(d->k, &kst);
	kv(c, "kernel", "events_new", d->ks.ev_new);
	kv(c, "kernel", "events_update", d->ks.ev_update);
	kv(c, "kernel", "events_destroy", d->ks.ev_destroy);
	kv(c, "kernel", "events_own", d->ks.ev_own);
	kv(c, "kernel", "filtered", d->ks.filtered);
	kv(c, "kernel", "overruns", d->ks.overruns);
	kv(c, "kernel", "events_lost", kernel_events_lost(d->k));
	kv(c, "kernel", "dumps", d->ks.dumps);
	kv(c, "kernel", "dumped", d->ks.dumped);
	kv(c, "kernel", "reconciled", d->ks.reconciled);
	kv(c, "kernel", "events_bad", kst.ev_bad);
	kv(c, "kernel", "events_truncated", kst.ev_trunc);
	kv(c, "kernel", "events_foreign", kst.ev_foreign);
	kv(c, "kernel", "dump_bad", kst.dump_bad);
	kv(c, "cache", "internal", cache_live(d->internal));
	kv(c, "cache", "internal_tombstones", d->internal->dead);
	kv(c, "cache", "external", external_live(d));
	kv(c, "cache", "refused", d->ks.refused);
	kv(c, "sync", "tx_datagrams", tx->datagrams);
	kv(c, "sync", "tx_bytes", tx->bytes);
	kv(c, "sync", "tx_flows", tx->flows);
	kv(c, "sync", "tx_destroys", tx->destroys);
	kv(c, "sync", "tx_heartbeats", tx->heartbeats);
	kv(c, "sync", "tx_status", tx->status);
	kv(c, "sync", "retransmitted", tx->retransmitted);
	kv(c, "sync", "bulks", tx->bulks);
	kv(c, "sync", "window_full", tx->window_full);
	kv(c, "sync", "coalesced", tx->coalesced);
	kv(c, "sync", "tx_gap_max_ms", tx->gap_max_ms);
	kv(c, "sync", "tx_errors", d->tx_errors);
	kv(c, "sync", "queued", ftfw_queued(d->ftfw));
	kv(c, "sync", "unacked", ftfw_unacked(d->ftfw));
	kv(c, "malformed", "bad_len", w->rx_bad_len + d->rx_oversize);
	kv(c, "malformed", "bad_version", w->rx_bad_version);
	kv(c, "malformed", "bad_type", w->rx_bad_type);
	kv(c, "malformed", "bad_record", w->rx_bad_record);
	kv(c, "malformed", "bad_attr", w->rx_bad_attr);
	kv(c, "malformed", "bad_status", w->rx_bad_status);
	kv(c, "malformed", "unknown_record", w->rx_unknown_record);
	kv(c, "malformed", "unknown_attr", w->rx_unknown_attr);
	kv(c, "malformed", "foreign", fs.rx_foreign);
	kv(c, "malformed", "node_clash", fs.rx_node_clash);
	kv(c, "auth", "no_tag", fs.auth.rx_no_tag);
	kv(c, "auth", "unexpected_tag", fs.auth.rx_unexpected_tag);
	kv(c, "auth", "bad_key", fs.auth.rx_bad_key);
	kv(c, "auth", "bad_tag", fs.auth.rx_bad_tag);
	kv(c, "auth", "replayed", fs.auth.rx_replay);
	kv(c, "auth", "old_epoch", fs.auth.rx_old_epoch);
	kv(c, "auth", "unproven", fs.auth.rx_unproven);
	kv(c, "commit", "runs", d->cs.runs);
	kv(c, "commit", "created", d->cs.created);
	kv(c, "commit", "exists", d->cs.exists);
	kv(c, "commit", "failed", d->cs.failed);
	kv(c, "commit", "last_usec", d->cs.last_usec);
	kv(c, "commit", "pending", d->job ? d->job->n - d->job->i : 0);
	kv(c, "commit", "announced", d->announced);
	kv(c, "standby", "flushes", sb->flushes);
	kv(c, "standby", "written", sb->written);
	kv(c, "standby", "created", sb->created);
	kv(c, "standby", "updated", sb->updated);
	kv(c, "standby", "deleted", sb->deleted);
	kv(c, "standby", "refreshed", sb->refreshed);
	kv(c, "standby", "restored", sb->restored);
	kv(c, "standby", "released", sb->released);
	kv(c, "standby", "failed", sb->failed);
	kv(c, "standby", "queued", standby_queued(d->standby));
	kv(c, "standby", "deferred", sb->deferred);
	kv(c, "standby", "own_events", sb->events);
	kv(c, "control", "clients", d->ctl.nclients);
	kv(c, "control", "accepted", d->ctl.accepted);
	kv(c, "control", "accept_errors", d->ctl.accept_errors);
	kv(c, "control", "evicted", d->ctl.evicted);
	kv(c, "control", "refused", d->ctl.refused);
	kv(c, "control", "unsent_bytes", d->ctl.out_total);
	for (int i = 0; ftfw_peer_info(d->ftfw, i, &pi); i++) {
		const struct ftfw_peer_stats *s = &pi.st;
		char sec[80];

		peer_section(&pi, sec, sizeof(sec));
		kv(c, sec, "rx_datagrams", s->rx_datagrams);
		kv(c, sec, "rx_bytes", s->rx_bytes);
		kv(c, sec, "rx_flows", s->rx_flows);
		kv(c, sec, "rx_destroys", s->rx_destroys);
		kv(c, sec, "rx_stale", s->rx_stale);
		kv(c, sec, "rx_dup", s->rx_dup);
		kv(c, sec, "rx_lost", s->rx_lost);
		kv(c, sec, "rx_void", s->rx_void);
		kv(c, sec, "nack_sent", s->nack_sent);
		kv(c, sec, "nack_rcvd", s->nack_rcvd);
		kv(c, sec, "acks_rcvd", s->acks_rcvd);
		kv(c, sec, "resync_requested", s->resync_requested);
		kv(c, sec, "resync_done", s->resync_done);
		kv(c, sec, "resync_served", s->resync_served);
		kv(c, sec, "resync_deferred", s->resync_deferred);
		kv(c, sec, "swept", s->swept);
		kv(c, sec, "bulk_refused", s->bulk_refused);
		kv(c, sec, "auth_refused", s->auth_refused);
		kv(c, sec, "restarts", s->restarts);
		kv(c, sec, "cache_full", s->cache_full);
		kv(c, sec, "rx_bad_seq", s->rx_bad_seq);
		kv(c, sec, "desyncs", s->desyncs);
	}
}

struct dump_ctx {
	struct ctl_client *c;
	uint32_t node_id;		/* ours */
	struct daemon *d;
	size_t n;
};

static int dump_one(struct cache_entry *e, uint32_t origin, void *arg)
{
	struct dump_ctx *dc = arg;

	if (!(e->flags & CE_DEAD))
		ctl_put_flow(&dc->c->out, origin, cache_flow(e));
	if ((++dc->n & 4095) == 0)
		keepalive(dc->d);
	return 0;
}

static int dump_own(struct cache_entry *e, void *arg)
{
	struct dump_ctx *dc = arg;

	return dump_one(e, dc->node_id, dc);
}

static void do_dump(struct daemon *d, struct ctl_client *c, int which)
{
	struct dump_ctx dc = { c, ftfw_conf(d->ftfw)->node_id, d, 0 };

	if (which == CTL_CACHE_INTERNAL)
		cache_foreach(d->internal, dump_own, &dc);
	else
		ftfw_foreach_external(d->ftfw, FTFW_ALL_PEERS, dump_one, &dc);
}

/* ---- commit ------------------------------------------------------------- */

/*
 * A commit writes a snapshot of the external caches (entry pointers: the
 * kernel wants pull) in slices of COMMIT_SLICE_MS, one a turn of the
 * loop, so that between them the peers' datagrams are taken and answered
 * (ACKs, NACKs, heartbeats), the control socket is served and the
 * watchdog fed: at millions of flows a commit takes tens of seconds.
 * Requests that change state wait for its end (park()).
 *
 * The loop may change the external caches meanwhile.  An entry is written
 * only if it still is its flow's entry, with its state as of then; one
 * freed meanwhile is skipped (counted gone), one reused for another flow
 * writes that flow, which is live.  The memory stays valid: entries go
 * back to their cache's slabs, which only a flush of the external cache
 * (a parked request) or the exit releases.
 */
#define COMMIT_SLICE_MS		50
#define COMMIT_PROGRESS_MS	5000	/* CTL_REP_PROGRESS to the client */


static int collect_one(struct cache_entry *e, uint32_t origin, void *arg)
{
	struct commit_job *j = arg;
	const struct cache_entry *o;
	const struct cache *skip = j->flags & KERNEL_REFRESH ? NULL : j->d->internal;

	if (e->flags & CE_DEAD)
		return 0;
	if (skip && (o = cache_find(skip, &cache_flow(e)->key)) && !(o->flags & CE_DEAD))
		return 0;
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 4096;
		struct cache_entry **v = realloc(j->v, cap * sizeof(*v));

		if (!v)
			return -1;
		j->v = v;
		j->cap = cap;
	}
	j->v[j->n++] = e;
	return 0;
}

static const struct flow *commit_next(void *arg, bool *del)
{
	struct commit_job *j = arg;

	while (j->i < j->n) {
		struct cache_entry *e = j->v[j->i];

		if ((j->i & 255) == 0 && now_us() >= j->slice_end)
			return NULL;	/* the rest in the next slice */
		j->i++;
		if (!(e->flags & CE_DEAD) && ftfw_find_external(j->d->ftfw, FTFW_ALL_PEERS, &cache_flow(e)->key) == e)
			return cache_flow(e);
		j->gone++;
	}
	return NULL;
}

static void commit_add(struct commit_result *sum, const struct commit_result *r)
{
	sum->created += r->created;
	sum->exists += r->exists;
	sum->updated += r->updated;
	sum->update_failed += r->update_failed;
	sum->failed += r->failed;
	sum->events_lost |= r->events_lost;
	if (!sum->first_error && r->first_error) {
		sum->first_error = r->first_error;
		memcpy(sum->first_failed, r->first_failed, sizeof(sum->first_failed));
	}
}

/* Commits at least this large, and of at least as many flows as the
 * table holds already, run with kernel events paused (commit_start()). */
#define COMMIT_QUIET_MIN	4096

/*
 * Commit the external caches into the kernel for cl (NULL: nobody
 * waits), over the next turns of the loop; cl is answered at the end.
 * flags: KERNEL_REFRESH, entries already there take the replica's state;
 * without it only the flows the internal cache (just re-read from the
 * kernel) does not hold.  master: become master once written (do_master()).
 */
static void commit_start(struct daemon *d, struct client *cl, unsigned flags, bool master)
{
	struct commit_job *j = calloc(1, sizeof(*j));
	int rc = 0;

	if (!j) {
		/* Without memory for a job, nothing can wait for one: the
		 * client learns at once; a new master still announces. */
		log_warnx("commit: out of memory");
		if (master)
			announce_master(d, NULL, 0);
		if (cl)
			ctl_put_done(&cl->c->out, -ENOMEM, "commit: out of memory");
		return;
	}
	j->d = d;
	j->cl = cl;
	j->master = master;
	j->flags = flags;
	j->t0 = now_us();
	j->progress_at = now_ms() + COMMIT_PROGRESS_MS;
	rc = ftfw_foreach_external(d->ftfw, FTFW_ALL_PEERS, collect_one, j);
	if (rc < 0) {
		j->err = -ENOMEM;
		j->n = 0;
	}
	/* A large commit (most of the table to be) runs without the events
	 * its creates would cause: building them was a fifth of its time.
	 * A dump afterwards, cheaper than reading a million events, takes
	 * the flows in as ours, and with them whatever traffic did
	 * meanwhile. */
	j->quiet = j->n >= COMMIT_QUIET_MIN && j->n >= cache_live(d->internal);
	if (j->quiet && kernel_listen(d->k, false) < 0) {
		log_warn("commit: pausing kernel events");
		j->quiet = false;
	}
	if (cl)
		cl->c->waiting = true;
	d->job = j;
	arm_timer(d);
}

/* Tell the client how far the commit got, so that its deadline measures
 * silence, not the length of the work. */
static void commit_progress(struct commit_job *j)
{
	uint64_t body[2] = { j->i, j->n };

	if (!j->cl || now_ms() < j->progress_at)
		return;
	j->progress_at = now_ms() + COMMIT_PROGRESS_MS;
	ctl_put_frame(&j->cl->c->out, CTL_REP_PROGRESS, body, sizeof(body));
	client_kick(j->cl);
}

static void commit_end(struct daemon *d, int err);

/* One slice of the commit under way. */
static void commit_step(struct daemon *d)
{
	struct commit_job *j = d->job;
	struct commit_result r;

	if (j->err) {
		commit_end(d, j->err);
		return;
	}
	j->slice_end = now_us() + COMMIT_SLICE_MS * 1000;
	if (kernel_commit(d->k, commit_next, j, d->conf.kernel.commit_batch, j->flags,
			  j->quiet ? NULL : on_flow, d, &r) < 0) {
		commit_end(d, -errno);
		return;
	}
	commit_add(&j->r, &r);
	if (j->i == j->n)
		commit_end(d, 0);
	else
		commit_progress(j);
}

static void commit_report(struct daemon *d, struct commit_job *j, uint64_t usec,
			  char *msg, size_t len)
{
	const struct commit_result *r = &j->r;
	struct ctl_client *c = j->cl ? j->cl->c : NULL;

	d->cs.runs++;
	d->cs.created += r->created;
	d->cs.exists += r->exists;
	d->cs.failed += r->failed;
	d->cs.last_usec = usec;
	if (c) {
		kv(c, "commit", "created", r->created);
		kv(c, "commit", "exists", r->exists);
		kv(c, "commit", "updated", r->updated);
		kv(c, "commit", "update_failed", r->update_failed);
		kv(c, "commit", "failed", r->failed);
		kv(c, "commit", "gone", j->gone);
		kv(c, "commit", "usec", usec);
		if (r->failed || r->update_failed)
			ctl_put_kv_str(&c->out, "commit", "first_error", r->first_failed[0] ?
				       r->first_failed : strerror(r->first_error));
	}
	snprintf(msg, len, "committed %" PRIu64 " flows in %.1f ms "
		 "(created %" PRIu64 ", already present %" PRIu64 " and updated %" PRIu64
		 ", failed %" PRIu64 "%s)", r->created + r->exists + r->failed,
		 (double)usec / 1000, r->created, r->exists, r->updated, r->failed,
		 j->gone ? "; some left the external cache meanwhile" : "");
	log_info("%s", msg);
	if (r->failed || r->update_failed)
		log_warnx("commit: first failure: %s: %s", r->first_failed,
			  strerror(r->first_error));
}

/* The commit is over (err: how it failed): answer, then take the
 * requests that waited for it. */
static void commit_end(struct daemon *d, int err)
{
	struct commit_job *j = d->job;
	struct client *cl = j->cl;
	uint64_t usec = now_us() - j->t0;
	char msg[512];
	int rc = err;

	d->job = NULL;
	if (j->quiet) {
		if (kernel_listen(d->k, true) < 0)
			log_warn("commit: resuming kernel events");
		/* Not a loss: what the commit did is re-read on purpose. */
		if (!d->reread_since)
			d->reread_since = now_ms();
	}
	if (err) {
		snprintf(msg, sizeof(msg), "commit failed: %s", strerror(-err));
		log_warnx("%s", msg);
	} else {
		if (j->r.events_lost)
			events_lost(d, "commit");
		commit_report(d, j, usec, msg, sizeof(msg));
	}
	if (j->master) {
		char why[160];
		size_t failed, l;

		if ((failed = announce_master(d, why, sizeof(why)))) {
			/* The state is in the kernel, but neighbours may keep
			 * sending to the old master: the operator must know. */
			l = strlen(msg);
			snprintf(msg + l, sizeof(msg) - l, "; %zu of %zu "
				 "announcements failed, first %s", failed,
				 d->conf.failover.nannounce, why);
			if (rc == 0)
				rc = -ENXIO;
		}
	}
	free(j->v);
	free(j);
	if (cl) {
		cl->c->waiting = false;
		ctl_put_done(&cl->c->out, rc, msg);
		client_kick(cl);
	}
	flush_output(d);
	unpark(d);
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
static void do_master(struct daemon *d, struct client *cl)
{
	bool hot = standby_active(d->standby);

	log_info("becoming master%s", hot ? " (hot standby: the kernel holds "
		 "the peers' flows already)" : "");
	d->role = ROLE_MASTER;	/* what still waits to be copied is committed */
	standby_stop(d->standby);
	if (hot)
		reconcile(d);
	commit_start(d, cl, hot ? 0 : KERNEL_REFRESH, true);
}

/* The commit of do_master() is done: announce, resync.  Returns the number
 * of announcements that failed, the first named in why. */
static size_t announce_master(struct daemon *d, char *why, size_t len)
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
static void do_backup(struct daemon *d, struct ctl_client *c)
{
	char msg[160];

	log_info("becoming backup%s", d->hot ? " (hot standby)" : "");
	d->role = ROLE_BACKUP;
	d->announce_left = 0;
	if (d->hot) {
		standby_start(d->standby, now_ms());
		standby_flush(d);
		snprintf(msg, sizeof(msg), "backup: writing %zu peer flows into "
			 "the kernel, asked peers for their tables", external_live(d));
	} else {
		snprintf(msg, sizeof(msg), "backup: asked peers for their tables");
	}
	ftfw_request_resync(d->ftfw, now_ms());
	ctl_put_done(&c->out, 0, msg);
	flush_output(d);
}

/* Requests that change state, which wait while a commit runs. */
static bool changes_state(uint16_t type)
{
	switch (type) {
	case CTL_REQ_COMMIT:
	case CTL_REQ_FLUSH:
	case CTL_REQ_RESYNC:
	case CTL_REQ_BULK:
	case CTL_REQ_MASTER:
	case CTL_REQ_BACKUP:
		return true;
	default:
		return false;
	}
}

/* Keep cl's request until the commit under way ends (unpark()): in the
 * order they came, after it, as keepalived sent them. */
static void park(struct daemon *d, struct client *cl, const struct ctl_frame *req)
{
	cl->req = req->type;
	cl->blen = req->len ? 1 : 0;
	cl->body = req->len ? req->body[0] : 0;
	cl->c->waiting = true;
	list_add_tail(&d->parked, &cl->parked);
}

static void handle(void *arg, struct ctl_client *c, const struct ctl_frame *req)
{
	struct daemon *d = arg;
	char msg[128];
	int which = req->len >= 1 ? req->body[0] : 0;

	if (d->job && changes_state(req->type)) {
		park(d, c->user, req);
		return;
	}
	switch (req->type) {
	case CTL_REQ_STATUS:
		do_status(d, c);
		break;
	case CTL_REQ_STATS:
		do_stats(d, c);
		break;
	case CTL_REQ_DUMP:
		if (which != CTL_CACHE_INTERNAL && which != CTL_CACHE_EXTERNAL) {
			ctl_put_done(&c->out, -EINVAL, "dump: internal or external?");
			return;
		}
		do_dump(d, c, which);
		break;
	case CTL_REQ_COMMIT:
		commit_start(d, c->user, KERNEL_REFRESH, false);
		return;
	case CTL_REQ_FLUSH:
		if (which == CTL_CACHE_EXTERNAL) {
			ftfw_flush_external(d->ftfw);
			ctl_put_done(&c->out, 0, "external cache flushed");
		} else if (which == CTL_CACHE_INTERNAL) {
			ftfw_reset_internal(d->ftfw);
			reconcile(d);
			ftfw_start_bulk(d->ftfw);
			snprintf(msg, sizeof(msg), "internal cache reloaded from the "
				 "kernel: %zu flows", cache_live(d->internal));
			ctl_put_done(&c->out, 0, msg);
		} else {
			ctl_put_done(&c->out, -EINVAL, "flush: internal or external?");
		}
		flush_output(d);
		return;
	case CTL_REQ_RESYNC: {
		int n = ftfw_request_resync(d->ftfw, now_ms());

		snprintf(msg, sizeof(msg), "asked %d peer%s for %s table", n,
			 n == 1 ? "" : "s", n == 1 ? "its" : "their");
		ctl_put_done(&c->out, n ? 0 : -ENOTCONN, n ? msg : "no peer heard from yet");
		flush_output(d);
		return;
	}
	case CTL_REQ_MASTER:
		do_master(d, c->user);
		return;
	case CTL_REQ_BACKUP:
		do_backup(d, c);
		return;
	case CTL_REQ_READY:
		if (is_ready(d, msg, sizeof(msg)))
			ctl_put_done(&c->out, 0, NULL);
		else
			ctl_put_done(&c->out, -EAGAIN, msg);
		return;
	case CTL_REQ_BULK:
		ftfw_start_bulk(d->ftfw);
		snprintf(msg, sizeof(msg), "sending %zu flows to the peers",
			 cache_live(d->internal));
		ctl_put_done(&c->out, 0, msg);
		flush_output(d);
		return;
	default:
		ctl_put_done(&c->out, -EOPNOTSUPP, "unknown request");
		return;
	}
	ctl_put_done(&c->out, 0, NULL);
}

static void client_close(struct client *cl)
{
	if (cl->d->job && cl->d->job->cl == cl)
		cl->d->job->cl = NULL;	/* the commit goes on */
	if (list_linked(&cl->parked))
		list_del(&cl->parked);
	ev_io_stop(cl->d->loop, &cl->io);
	control_client_free(cl->c);
	free(cl);
}

/* control_close_cb: close another client to make room (control.c). */
static void client_evict(void *arg, struct ctl_client *victim)
{
	client_close(victim->user);
}

/*
 * Read requests while the client's unsent replies are under
 * CONTROL_OUT_HIGH; past it watch only for writability, so a client that
 * pipelines requests and never reads its replies costs a bounded amount
 * of memory.  Requests left buffered when it was stopped are handled as
 * soon as its replies drain.
 */
static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *cl = (struct client *)w;
	struct ctl_client *c = cl->c;
	int r, ev;

	if ((revents & EV_WRITE) && control_client_write(c) < 0) {
		client_close(cl);
		return;
	}
	if (((revents & EV_READ) || (c->in.len && control_client_wants_read(c))) &&
	    control_client_read(c, handle, client_evict, cl->d) < 0) {
		/* Flush a final error reply, if any, then close. */
		control_client_write(c);
		client_close(cl);
		return;
	}
	r = control_client_write(c);
	if (r < 0) {
		client_close(cl);
		return;
	}
	ev = (control_client_wants_read(c) ? EV_READ : 0) | (r > 0 ? EV_WRITE : 0);
	if (ev != (cl->io.events & (EV_READ | EV_WRITE))) {
		ev_io_stop(loop, &cl->io);
		ev_io_set(&cl->io, c->fd, ev);
		ev_io_start(loop, &cl->io);
	}
}

/* Act on what changed for cl outside its own callback: write its replies,
 * take the requests it sent meanwhile. */
static void client_kick(struct client *cl)
{
	client_cb(cl->d->loop, &cl->io, 0);
}

/* The commit is over: the requests that waited for it, in the order they
 * came, until one starts another commit. */
static void unpark(struct daemon *d)
{
	while (!d->job && !list_empty(&d->parked)) {
		struct client *cl = container_of(d->parked.next, struct client, parked);
		uint8_t body = cl->body;
		struct ctl_frame req = { .type = cl->req, .body = &body, .len = cl->blen };

		list_del(&cl->parked);
		cl->c->waiting = false;
		handle(d, cl->c, &req);
		client_kick(cl);
	}
}

/* Pause between accept() failures that retrying at once cannot cure. */
#define CTL_RETRY_S		0.25
#define CTL_LOG_EVERY_MS	10000

/*
 * accept() failed with err (EMFILE, ENFILE, ENOBUFS, ENOMEM): the
 * connection stays in the backlog and the listening socket readable, so
 * watching it would spin.  Stop watching it for CTL_RETRY_S.  Out of
 * descriptors, also close the client idle longest (at least
 * CONTROL_IDLE_MS: ctctl sends its request as soon as it connects), so a
 * connection that went idle cannot lock the operator out.  Logged at
 * most once per CTL_LOG_EVERY_MS, with the count of failures not logged.
 */
static void ctl_backoff(struct daemon *d, int err)
{
	struct ctl_client *v = NULL;
	uint64_t now = now_ms();

	d->ctl.accept_errors++;
	ev_io_stop(d->loop, &d->ctl_w);
	ev_timer_stop(d->loop, &d->ctl_retry);
	ev_timer_set(&d->ctl_retry, CTL_RETRY_S, 0.0);
	ev_timer_start(d->loop, &d->ctl_retry);
	if (err == EMFILE || err == ENFILE)
		v = control_idlest(&d->ctl, CONTROL_IDLE_MS, NULL);
	if (v) {
		d->ctl.evicted++;
		client_close(v->user);
	}
	if (d->ctl_log_at && now - d->ctl_log_at < CTL_LOG_EVERY_MS) {
		d->ctl_unlogged++;
		return;
	}
	log_warnx("control socket: accept: %s (%zu clients connected, %"
		  PRIu64 " more failures since the last message); retrying "
		  "every %d ms%s", strerror(err), d->ctl.nclients,
		  d->ctl_unlogged, (int)(CTL_RETRY_S * 1000),
		  err == EMFILE || err == ENFILE ?
		  ", closing the client idle longest each time" : "");
	d->ctl_log_at = now;
	d->ctl_unlogged = 0;
}

static void ctl_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	struct ctl_client *c;

	while ((c = control_accept(&d->ctl))) {
		struct client *cl = calloc(1, sizeof(*cl));

		if (!cl) {
			control_client_free(c);
			ctl_backoff(d, ENOMEM);
			return;
		}
		cl->c = c;
		cl->d = d;
		list_init(&cl->parked);
		c->user = cl;
		ev_io_init(&cl->io, client_cb, c->fd, EV_READ);
		ev_io_start(loop, &cl->io);
	}
	if (errno != EAGAIN)
		ctl_backoff(d, errno);
}

static void ctl_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	ev_io_start(loop, &d->ctl_w);
	ctl_accept_cb(loop, &d->ctl_w, EV_READ);
}

/* ---- signals, start-up -------------------------------------------------- */

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("signal %d: exiting", w->signum);
	ev_break(loop, EVBREAK_ALL);
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

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	log_info("SIGHUP: re-reading the kernel table%s; checking %s for "
		 "changes", d->keys.n ? " and the key file" : "", d->conf.path);
	config_reread(&d->conf);	/* reports, applies nothing */
	if (d->keys.n)
		reload_keys(d);
	reconcile(d);
	flush_output(d);
}

static size_t add_host(struct prefix *out, size_t n, size_t max,
		       const struct sockaddr_storage *a)
{
	if (n >= max)
		return n;
	if (a->ss_family == AF_INET) {
		out[n] = (struct prefix){ .family = AF_INET, .len = 32 };
		out[n++].addr.v4 = ((const struct sockaddr_in *)a)->sin_addr.s_addr;
	} else if (a->ss_family == AF_INET6) {
		out[n] = (struct prefix){ .family = AF_INET6, .len = 128 };
		memcpy(out[n++].addr.b, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
	}
	return n;
}

/* The host's addresses, as host prefixes, appended at out[n]; the new n.
 * On failure (logged) none are added. */
static size_t host_addrs(struct prefix *out, size_t n, size_t max)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0) {
		log_warn("getifaddrs");
		return n;
	}
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr)
			n = add_host(out, n, max, (const struct sockaddr_storage *)(void *)i->ifa_addr);
	freeifaddrs(ifa);
	return n;
}

/*
 * What is never replicated: the host's own addresses (flows to or from the
 * firewall itself) and the sync channel's (local, peers, multicast group:
 * the sync traffic is tracked too, and a datagram from a peer to the group
 * names neither of our addresses).
 */
static size_t local_prefixes(const struct config *c, struct prefix *out, size_t max)
{
	size_t n = 0;

	n = add_host(out, n, max, &c->sync.local);
	n = add_host(out, n, max, &c->sync.group);
	for (size_t k = 0; k < c->sync.npeers; k++)
		n = add_host(out, n, max, &c->sync.peers[k]);
	return host_addrs(out, n, max);
}

/*
 * The role a daemon starts in, before keepalived says: keepalived holds
 * the virtual addresses on the master only, so with failover.announce
 * listing them, holding any of them means master, none backup.  Without
 * the list the role is unknown (none) until keepalived says.  Lets a hot
 * standby whose daemon restarted keep its copies current at once.
 */
static enum role initial_role(const struct config *c)
{
	struct prefix own[256];
	size_t n;

	if (!c->failover.nannounce)
		return ROLE_NONE;
	/* none at all (not even loopback): the lookup failed, role unknown */
	if ((n = host_addrs(own, 0, 256)) == 0)
		return ROLE_NONE;
	for (size_t k = 0; k < c->failover.nannounce; k++) {
		const struct announce *a = &c->failover.announce[k];

		for (size_t j = 0; j < n; j++)
			if (own[j].family == a->family &&
			    !memcmp(&own[j].addr, &a->addr, a->family == AF_INET ? 4 : 16))
				return ROLE_MASTER;
	}
	return ROLE_BACKUP;
}

static uint32_t derive_node_id(const struct config *c)
{
	const uint8_t *p = (const uint8_t *)&c->sync.local;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(c->sync.local); i++)
		h = (h ^ p[i]) * 16777619u;
	return h ? h : 1;
}

static uint32_t random_u32(void)
{
	uint32_t v = 0;

	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	return v;
}

static void warn_sysctl(void)
{
	int v = conntrack_events();

	if (v == 0)
		log_warnx("net.netfilter.nf_conntrack_events is 0: the kernel "
			  "reports no conntrack events, so no change is replicated "
			  "and this node is not ready; set it to 1");
	else if (v > 1)
		log_warnx("net.netfilter.nf_conntrack_events is %d: flows that "
			  "existed before ctsyncd started send no further events; "
			  "set it to 1", v);
}

/* Sealing counters never repeat across lives of one node id and epoch:
 * they start at the wall clock in microseconds. */
static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int daemon_run(const struct config *c, const struct auth_keyring *keys)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct prefix local[256];
	size_t nlocal;
	struct ftfw_conf fc;
	struct cache_layout ext;
	struct standby_side side;
	int status = 1;

	if (!d)
		fatal("calloc");
	d->conf = *c;
	d->keys = *keys;
	if (d->keys.n && sodium_init() < 0)
		fatal("libsodium failed to initialise");
	d->ctl_fd = -1;
	d->garp_fd = -1;
	d->tick_fd = -1;
	list_init(&d->parked);
	d->started = now_ms();
	d->hot = c->failover.standby == STANDBY_HOT;
	d->role = initial_role(c);
	nlocal = c->filter.ignore_local ? local_prefixes(c, local, 256) : 0;
	if (!(d->filter = filter_new(&c->filter, local, nlocal)))
		fatal("filter");
	if (!(d->internal = ftfw_internal_new(c->cache.max_entries, random_u32())))
		fatal("cache");
	cache_layout_init(&ext, &cache_kind_flow);
	side = standby_reserve(&ext);
	fc = (struct ftfw_conf){
		.node_id = c->node_id ? c->node_id : derive_node_id(c),
		.epoch = random_u32(),
		.first_seq = random_u32(),
		.max_datagram = c->sync.mtu - (c->sync.local.ss_family == AF_INET6 ? 48 : 28),
		.heartbeat_ms = c->sync.heartbeat_ms,
		.ack_ms = c->sync.ack_ms,
		.peer_timeout_ms = c->sync.peer_timeout_ms,
		.window = c->sync.window,
		.max_external = c->cache.max_entries,
		.hash_seed = random_u32(),
		.keys = d->keys.n ? &d->keys : NULL,
		.first_counter = realtime_us(),
		.on_external = on_external,
		.external_arg = d,
		.external = &ext,
	};
	if (!(d->ftfw = ftfw_new(&fc, d->internal)))
		fatal("ftfw");
	if (!(d->standby = standby_new(&(struct standby_ops){
		.find = standby_find, .foreach = standby_foreach,
		.own = standby_own, .arg = d, .side = side })))
		fatal("standby");
	if (d->hot && d->role == ROLE_BACKUP)
		standby_start(d->standby, d->started);
	for (size_t i = 0; i < c->sync.npeers; i++) {
		char name[64];

		channel_addr_str(&c->sync.peers[i], name, sizeof(name));
		/* The channel knows it by its index in c->sync.peers. */
		if (ftfw_add_peer(d->ftfw, name) != (int)i)
			fatal("peer %s: no slot %zu in the replication engine", name, i);
	}

	/* Events first, then the dump, so nothing falls in between. */
	if (!(d->k = kernel_open(c->kernel.event_buffer))) {
		log_warn("ctnetlink");
		goto out;
	}
	if ((d->tick_fd = timerfd_create(CLOCK_MONOTONIC,
					 TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
		log_warn("timerfd");
		goto out;
	}
	warn_sysctl();
	if (reconcile(d) < 0)
		goto out;
	ftfw_start_bulk(d->ftfw);
	if (!(d->ch = channel_open(c)))
		goto out;
	if (c->failover.nannounce && (d->garp_fd = garp_open()) < 0) {
		log_warn("packet socket for announcements");
		goto out;
	}
	if ((d->ctl_fd = control_listen(c->control.socket, c->control.group,
					c->control.mode)) < 0)
		goto out;
	privs_realtime(c->rt_priority);
	/* Everything privileged is open: keep only what requests need. */
	if (privs_drop(c->user) < 0)
		goto out;

	d->loop = ev_default_loop(EVFLAG_AUTO);
	ev_io_init(&d->kernel_w, kernel_cb, kernel_event_fd(d->k), EV_READ);
	ev_io_init(&d->sync_r, sync_read_cb, channel_fd(d->ch), EV_READ);
	ev_io_init(&d->sync_w, sync_write_cb, channel_fd(d->ch), EV_WRITE);
	ev_io_init(&d->ctl_w, ctl_accept_cb, d->ctl_fd, EV_READ);
	control_init(&d->ctl, d->ctl_fd);
	ev_timer_init(&d->ctl_retry, ctl_retry_cb, 0.0, 0.0);
	d->ctl_retry.data = d;
	ev_timer_init(&d->timer, timer_cb, 0.0, 0.0);
	ev_io_init(&d->kernel_tick, kernel_tick_cb, d->tick_fd, EV_READ);
	ev_signal_init(&d->sig_int, sig_cb, SIGINT);
	ev_signal_init(&d->sig_term, sig_cb, SIGTERM);
	ev_signal_init(&d->sig_hup, hup_cb, SIGHUP);
	d->kernel_w.data = d->sync_r.data = d->sync_w.data = d->ctl_w.data = d;
	d->timer.data = d->sig_hup.data = d->kernel_tick.data = d;
	ev_io_start(d->loop, &d->kernel_w);
	ev_io_start(d->loop, &d->kernel_tick);
	ev_io_start(d->loop, &d->sync_r);
	ev_io_start(d->loop, &d->ctl_w);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_hup);
	signal(SIGPIPE, SIG_IGN);

	log_info("ctsyncd %s: node %u, %zu flows, %s sync on port %u, control %s",
		 CTSYNC_VERSION, fc.node_id, cache_live(d->internal),
		 c->sync.transport == TRANSPORT_MULTICAST ? "multicast" : "unicast",
		 c->sync.port, c->control.socket);
	if (d->role != ROLE_NONE)
		log_info("starting as %s (%s the failover.announce addresses)%s",
			 role_name(d->role), d->role == ROLE_MASTER ? "holding" :
			 "not holding", standby_active(d->standby) ? ": hot standby" : "");
	if (d->keys.n)
		log_info("sync %s with key %u (%zu key%s accepted)",
			 d->keys.encrypt ? "encrypted" : "authenticated",
			 d->keys.keys[0].id, d->keys.n, d->keys.n == 1 ? "" : "s");
	else
		log_info("sync is not authenticated: anyone on the sync link "
			 "can create state (set sync.key_file)");
#if HAVE_SYSTEMD
	sd_notify(0, "READY=1");
	if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0)
		d->watchdog_usec = 0;
	d->watchdog_at = now_ms();
#endif
	flush_output(d);
	ev_run(d->loop, 0);
	status = 0;
#if HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
out:
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(c->control.socket);
	}
	if (d->garp_fd >= 0)
		close(d->garp_fd);
	if (d->tick_fd >= 0)
		close(d->tick_fd);
	channel_close(d->ch);
	kernel_close(d->k);
	ftfw_free(d->ftfw);
	cache_free(d->internal);
	filter_free(d->filter);
	standby_free(d->standby);
	if (d->job)
		free(d->job->v);
	free(d->job);
	auth_keys_clear(&d->keys);
	free(d);
	return status;
}
