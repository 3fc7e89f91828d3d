/*
 * daemon.c - the libev wiring: one ev_io per descriptor, one ev_timer
 * re-armed from the engine's and the node's deadlines, signals; sending
 * and receiving on the sync channel, the control socket's clients.  The
 * only file that includes <ev.h>: what the node does with what arrives
 * is node.c's, commit.c's and requests.c's (see node.h).
 *
 * Start-up order: subscribe to kernel events, then dump the table (events
 * queued meanwhile are applied after it, so nothing falls between), queue
 * it all as the start-up bulk, then open the sync socket and the control
 * socket, and tell systemd we are ready.
 */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "ctsync_config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cache.h"
#include "channel.h"
#include "control.h"
#include "daemon.h"
#include "ftfw.h"
#include "garp.h"
#include "log.h"
#include "node.h"
#include "privs.h"
#include "standby.h"

#define OUTPUT_BURST	512	/* datagrams per loop iteration */
#define INPUT_BURST	512
#define RX_BUF		65536

/* The node and the loop's side of it. */
struct wiring {
	struct daemon d;
	struct ev_loop *loop;
	ev_io kernel_w, sync_r, sync_w, ctl_w;
	ev_timer timer;
	/* Reading kernel events in batches: libev's timers go through
	 * epoll_wait's milliseconds, too coarse here, so the hold is a
	 * timerfd's (microseconds). */
	ev_io kernel_tick;
	int tick_fd;
	int ctl_fd;
	ev_timer ctl_retry;		/* accept() again after a failure */
	uint64_t ctl_log_at;		/* accept failures: last logged (ms) */
	uint64_t ctl_unlogged;		/* and how many since */
	ev_signal sig_int, sig_term, sig_hup;
	uint64_t watchdog_usec;		/* systemd WatchdogSec, 0 off */
	uint64_t watchdog_at;
	bool long_work;			/* keepalive() ran since the last turn */
	/* A datagram the socket refused with EAGAIN, sent when writable. */
	uint8_t  pend[RX_BUF];
	size_t   pend_len;
	int      pend_dest;
	uint8_t  rxbuf[RX_BUF];
};

static inline struct wiring *L(struct daemon *d)
{
	return container_of(d, struct wiring, d);
}

/* A control client and its watcher. */
struct client_w {
	ev_io io;
	struct client cl;
};

static inline struct client_w *CW(struct client *cl)
{
	return container_of(cl, struct client_w, cl);
}

static void watchdog_feed(struct daemon *d);
static void long_work_done(struct daemon *d);

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

	if (timerfd_settime(L(d)->tick_fd, 0, &it, NULL) < 0)
		log_warn("timerfd");
}

static void kernel_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;

	if (!d->conf.kernel.collect_us) {
		node_kernel_read(d);
		return;
	}
	ev_io_stop(loop, &L(d)->kernel_w);
	tick_arm(d, d->conf.kernel.collect_us);
}

static void kernel_tick_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	uint64_t n;

	if (read(L(d)->tick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("timerfd");
	if (!ev_is_active(&L(d)->kernel_w)) {	/* a hold ended */
		ftfw_hold(d->ftfw, true);
		node_kernel_read(d);
		ev_io_start(loop, &L(d)->kernel_w);
		tick_arm(d, d->conf.kernel.collect_us / 2);
	} else {			/* no event came after it */
		ftfw_hold(d->ftfw, false);
		daemon_flush(d);
	}
}

void daemon_arm(struct daemon *d)
{
	struct wiring *w = L(d);
	uint64_t now = now_ms(), at = ftfw_next_deadline(d->ftfw, now);
	uint64_t node = node_deadline(d, now);

	if (node < at)
		at = node;
	if (w->watchdog_usec && w->watchdog_at < at)
		at = w->watchdog_at;

	ev_timer_stop(w->loop, &w->timer);
	ev_timer_set(&w->timer, at > now ? (double)(at - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(w->loop, &w->timer);
}

/* 1: sent; 0: the socket is full (kept pending); errors are dropped. */
static int send_one(struct daemon *d, const uint8_t *buf, size_t len, int dest)
{
	struct wiring *w = L(d);

	if (channel_send(d->ch, dest, buf, len) == 0)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		if (buf != w->pend)
			memcpy(w->pend, buf, len);
		w->pend_len = len;
		w->pend_dest = dest;
		ev_io_start(w->loop, &w->sync_w);
		return 0;
	}
	/* Lost on the way out: the receiver will ask again. */
	if (d->tx_errors++ % 1000 == 0)
		log_warn("sync send");
	return 1;
}

void daemon_flush(struct daemon *d)
{
	struct wiring *w = L(d);
	uint64_t now;
	uint8_t buf[RX_BUF];

	long_work_done(d);	/* before ftfw_output() judges the peers */
	now = now_ms();
	if (w->pend_len) {
		if (!send_one(d, w->pend, w->pend_len, w->pend_dest))
			return;
		w->pend_len = 0;
	}
	ev_io_stop(w->loop, &w->sync_w);
	for (int i = 0; i < OUTPUT_BURST; i++) {
		int dest;
		size_t len = ftfw_output(d->ftfw, now, buf, sizeof(buf), &dest);

		if (!len)
			break;
		if (!send_one(d, buf, len, dest))
			return;
	}
	daemon_arm(d);
}

static void sync_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	daemon_flush(w->data);
}

/* Take what the peers sent (INPUT_BURST datagrams at most); returns
 * true when that many were read (more may be waiting). */
static bool sync_input(struct daemon *d)
{
	struct wiring *w = L(d);
	struct sockaddr_storage from;
	uint64_t now = now_ms();

	for (int i = 0; i < INPUT_BURST; i++) {
		long n = channel_recv(d->ch, w->rxbuf, sizeof(w->rxbuf), &from);
		char name[64] = "";
		int slot = -1;

		if (n < 0)
			return false;
		if ((size_t)n > sizeof(w->rxbuf)) {
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
		ftfw_input(d->ftfw, slot, name, w->rxbuf, (size_t)n, now);
	}
	return true;
}

static void sync_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;

	sync_input(d);
	node_standby_flush(d);
	daemon_flush(d);
}

/*
 * Long kernel work (a dump, a commit, a step of hot-standby writes) holds
 * the loop for seconds at a million flows.  Between its batches: feed the
 * watchdog, and send the heartbeat that comes due, so the peers do not
 * take this node for dead (nothing else of the engine runs meanwhile:
 * the work walks the caches).  Afterwards long_work_done() reads what the
 * peers sent before anything judges them silent.
 */
void daemon_keepalive(struct daemon *d)
{
	struct wiring *w = L(d);
	uint8_t buf[WIRE_HDR_LEN + AUTH_TRAILER_LEN];
	int dest;
	size_t n;

	watchdog_feed(d);
	if (!d->ch || w->pend_len)
		return;		/* starting up; or the socket is full anyway */
	w->long_work = true;
	n = ftfw_heartbeat(d->ftfw, now_ms(), buf, sizeof(buf), &dest);
	if (n && channel_send(d->ch, dest, buf, n) < 0 && d->tx_errors++ % 1000 == 0)
		log_warn("sync send");
}

static void long_work_done(struct daemon *d)
{
	struct wiring *w = L(d);

	if (!w->long_work)
		return;
	w->long_work = false;
	for (int i = 0; i < 64 && sync_input(d); i++)
		;	/* bounded: the peers may keep sending */
}

/* Tell systemd we live, when due.  Also called between the batches of a
 * long kernel write (a commit, a large copy): those make progress. */
static void watchdog_feed(struct daemon *d)
{
#if HAVE_SYSTEMD
	struct wiring *w = L(d);
	uint64_t now = now_ms();

	if (w->watchdog_usec && w->watchdog_at <= now) {
		sd_notify(0, "WATCHDOG=1");
		w->watchdog_at = now + w->watchdog_usec / 2000;
	}
#else
	(void)d;
#endif
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	uint64_t now = now_ms();

	node_tick(d, now);
	watchdog_feed(d);
	daemon_flush(d);
}

static void client_close(struct client *cl)
{
	request_client_gone(cl);
	ev_io_stop(L(cl->d)->loop, &CW(cl)->io);
	control_client_free(cl->c);
	free(CW(cl));
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
	struct client *cl = &((struct client_w *)w)->cl;
	struct ctl_client *c = cl->c;
	int r, ev;

	if ((revents & EV_WRITE) && control_client_write(c) < 0) {
		client_close(cl);
		return;
	}
	if (((revents & EV_READ) || (c->in.len && control_client_wants_read(c))) &&
	    control_client_read(c, request_handle, client_evict, cl->d) < 0) {
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
	if (ev != (w->events & (EV_READ | EV_WRITE))) {
		ev_io_stop(loop, w);
		ev_io_set(w, c->fd, ev);
		ev_io_start(loop, w);
	}
}

/* Act on what changed for cl outside its own callback: write its replies,
 * take the requests it sent meanwhile. */
void client_kick(struct client *cl)
{
	client_cb(L(cl->d)->loop, &CW(cl)->io, 0);
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
	ev_io_stop(L(d)->loop, &L(d)->ctl_w);
	ev_timer_stop(L(d)->loop, &L(d)->ctl_retry);
	ev_timer_set(&L(d)->ctl_retry, CTL_RETRY_S, 0.0);
	ev_timer_start(L(d)->loop, &L(d)->ctl_retry);
	if (err == EMFILE || err == ENFILE)
		v = control_idlest(&d->ctl, CONTROL_IDLE_MS, NULL);
	if (v) {
		d->ctl.evicted++;
		client_close(v->user);
	}
	if (L(d)->ctl_log_at && now - L(d)->ctl_log_at < CTL_LOG_EVERY_MS) {
		L(d)->ctl_unlogged++;
		return;
	}
	log_warnx("control socket: accept: %s (%zu clients connected, %"
		  PRIu64 " more failures since the last message); retrying "
		  "every %d ms%s", strerror(err), d->ctl.nclients,
		  L(d)->ctl_unlogged, (int)(CTL_RETRY_S * 1000),
		  err == EMFILE || err == ENFILE ?
		  ", closing the client idle longest each time" : "");
	L(d)->ctl_log_at = now;
	L(d)->ctl_unlogged = 0;
}

static void ctl_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = w->data;
	struct ctl_client *c;

	while ((c = control_accept(&d->ctl))) {
		struct client_w *cw = calloc(1, sizeof(*cw));

		if (!cw) {
			control_client_free(c);
			ctl_backoff(d, ENOMEM);
			return;
		}
		cw->cl.c = c;
		cw->cl.d = d;
		list_init(&cw->cl.parked);
		c->user = &cw->cl;
		ev_io_init(&cw->io, client_cb, c->fd, EV_READ);
		ev_io_start(loop, &cw->io);
	}
	if (errno != EAGAIN)
		ctl_backoff(d, errno);
}

static void ctl_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	ev_io_start(loop, &L(d)->ctl_w);
	ctl_accept_cb(loop, &L(d)->ctl_w, EV_READ);
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("signal %d: exiting", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	node_reload(d);
	daemon_flush(d);
}

int daemon_run(const struct config *c, const struct auth_keyring *keys)
{
	struct wiring *w = calloc(1, sizeof(*w));
	struct daemon *d;
	int status = 1;

	if (!w) {
		log_warn("daemon");
		return 1;
	}
	d = &w->d;
	w->ctl_fd = w->tick_fd = -1;
	if (node_init(d, c, keys) < 0)
		goto out;

	/* Events first, then the dump, so nothing falls in between. */
	if (!(d->k = kernel_open(c->kernel.event_buffer))) {
		log_warn("ctnetlink");
		goto out;
	}
	if ((w->tick_fd = timerfd_create(CLOCK_MONOTONIC,
					 TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
		log_warn("timerfd");
		goto out;
	}
	host_warn_sysctl();
	if (node_reconcile(d) < 0)
		goto out;
	ftfw_start_bulk(d->ftfw);
	if (!(d->ch = channel_open(c)))
		goto out;
	if (c->failover.nannounce && (d->garp_fd = garp_open()) < 0) {
		log_warn("packet socket for announcements");
		goto out;
	}
	if ((w->ctl_fd = control_listen(c->control.socket, c->control.group,
					c->control.mode)) < 0)
		goto out;
	privs_realtime(c->rt_priority);
	/* Everything privileged is open: keep only what requests need. */
	if (privs_drop(c->user) < 0)
		goto out;

	w->loop = ev_default_loop(EVFLAG_AUTO);
	ev_io_init(&w->kernel_w, kernel_cb, kernel_event_fd(d->k), EV_READ);
	ev_io_init(&w->sync_r, sync_read_cb, channel_fd(d->ch), EV_READ);
	ev_io_init(&w->sync_w, sync_write_cb, channel_fd(d->ch), EV_WRITE);
	ev_io_init(&w->ctl_w, ctl_accept_cb, w->ctl_fd, EV_READ);
	control_init(&d->ctl, w->ctl_fd);
	ev_timer_init(&w->ctl_retry, ctl_retry_cb, 0.0, 0.0);
	w->ctl_retry.data = d;
	ev_timer_init(&w->timer, timer_cb, 0.0, 0.0);
	ev_io_init(&w->kernel_tick, kernel_tick_cb, w->tick_fd, EV_READ);
	ev_signal_init(&w->sig_int, sig_cb, SIGINT);
	ev_signal_init(&w->sig_term, sig_cb, SIGTERM);
	ev_signal_init(&w->sig_hup, hup_cb, SIGHUP);
	w->kernel_w.data = w->sync_r.data = w->sync_w.data = w->ctl_w.data = d;
	w->timer.data = w->sig_hup.data = w->kernel_tick.data = d;
	ev_io_start(w->loop, &w->kernel_w);
	ev_io_start(w->loop, &w->kernel_tick);
	ev_io_start(w->loop, &w->sync_r);
	ev_io_start(w->loop, &w->ctl_w);
	ev_signal_start(w->loop, &w->sig_int);
	ev_signal_start(w->loop, &w->sig_term);
	ev_signal_start(w->loop, &w->sig_hup);
	signal(SIGPIPE, SIG_IGN);

	log_info("ctsyncd %s: node %u, %zu flows, %s sync on port %u, control %s",
		 CTSYNC_VERSION, ftfw_conf(d->ftfw)->node_id, cache_live(d->internal),
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
	if (sd_watchdog_enabled(0, &w->watchdog_usec) <= 0)
		w->watchdog_usec = 0;
	w->watchdog_at = now_ms();
#endif
	daemon_flush(d);
	ev_run(w->loop, 0);
	status = 0;
#if HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
out:
	if (w->ctl_fd >= 0) {
		close(w->ctl_fd);
		unlink(c->control.socket);
	}
	if (d->garp_fd >= 0)
		close(d->garp_fd);
	if (w->tick_fd >= 0)
		close(w->tick_fd);
	channel_close(d->ch);
	kernel_close(d->k);
	node_free(d);
	free(w);
	return status;
}
