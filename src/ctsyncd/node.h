/*
 * node.h - the daemon's files and what they share: the node (struct
 * daemon) and what each file offers the others.
 *
 *   daemon.c    the libev loop: one watcher per descriptor, the timer,
 *               signals, sending and receiving, control clients; the
 *               only file that includes <ev.h>
 *   node.c      the node's policy: kernel events and re-reads, the hot
 *               standby's writes, master and backup, readiness
 *   commit.c    the commit, in slices
 *   requests.c  what each control request does
 *   host.c      facts about the host: addresses, start-up role, node id
 *
 * The policies never hold the loop: they ask daemon.c to send what the
 * engine has (daemon_flush()), to look at the deadlines again
 * (daemon_arm()), and, between the batches of long kernel work, to keep
 * the peers and systemd informed (daemon_keepalive()).
 */
#ifndef CTSYNC_NODE_H
#define CTSYNC_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "auth.h"
#include "config.h"
#include "control.h"
#include "ctl_proto.h"
#include "kernel.h"
#include "list.h"

/* What keepalived (through ctctl) last told us, or, before that, what the
 * VIPs said at start-up (host_role()); none without either. */
enum role { ROLE_NONE, ROLE_MASTER, ROLE_BACKUP };

struct kstats {
	uint64_t ev_new, ev_update, ev_destroy, ev_own, filtered;
	uint64_t overruns, dumps, dumped, reconciled, refused;
};

struct commit_stats {
	uint64_t runs, created, exists, failed, last_usec;
};

struct daemon {
	struct config conf;
	struct auth_keyring keys;	/* ftfw borrows it; n == 0: no auth */
	struct kernel *k;
	struct channel *ch;
	struct cache *internal;
	struct ftfw *ftfw;
	struct filter *filter;
	struct standby *standby;	/* active while a hot backup */
	struct control ctl;		/* the control socket's clients */
	enum role role;
	bool hot;			/* failover.standby: hot */
	uint64_t started;		/* ms */
	/* Announcements (gratuitous ARP / NA) of a new master. */
	int garp_fd;
	int announce_left;		/* rounds still to send */
	uint64_t announce_at;		/* when the next round is due */
	uint64_t announced;		/* frames sent */
	/* The kernel's table is to be re-read (events were lost, or not
	 * listened to during a commit): since when (ms), 0 not.  A re-read
	 * during which events are lost again is followed by another. */
	uint64_t reread_since;
	bool events_off;		/* nf_conntrack_events seen at 0 */
	struct commit_job *job;		/* the commit under way, or NULL */
	struct list parked;		/* clients whose request waits for it */
	struct kstats ks;
	struct commit_stats cs;
	uint64_t tx_errors, rx_oversize;
};

/* A control client, as the policies see it (daemon.c adds its watcher). */
struct client {
	struct ctl_client *c;
	struct daemon *d;
	/* A request that waits for the commit under way (request_park()):
	 * its type and body (at most one byte: ctl_req_body_len()). */
	struct list parked;
	uint16_t req;
	uint8_t body;
	uint8_t blen;
};

static inline uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static inline uint64_t now_ms(void)
{
	return now_us() / 1000;
}

/* daemon.c */
void daemon_flush(struct daemon *d);
void daemon_arm(struct daemon *d);
void daemon_keepalive(struct daemon *d);
void client_kick(struct client *cl);

/* node.c */
int  node_init(struct daemon *d, const struct config *c, const struct auth_keyring *keys);
void node_free(struct daemon *d);
void node_on_flow(void *arg, enum kernel_ev ev, const struct flow *f, bool own);
int  node_reconcile(struct daemon *d);
void node_events_lost(struct daemon *d, const char *during);
void node_kernel_read(struct daemon *d);
void node_standby_flush(struct daemon *d);
uint64_t node_deadline(struct daemon *d, uint64_t now);
void node_tick(struct daemon *d, uint64_t now);
void node_master(struct daemon *d, struct client *cl);
size_t node_announce(struct daemon *d, char *why, size_t len);
void node_backup(struct daemon *d, struct ctl_client *c);
bool node_ready(struct daemon *d, char *why, size_t len);
size_t node_external_live(const struct daemon *d);
void node_reload(struct daemon *d);
const char *role_name(enum role r);

/* commit.c */
void commit_start(struct daemon *d, struct client *cl, unsigned flags, bool master);
void commit_step(struct daemon *d);
size_t commit_pending(const struct daemon *d);
void commit_client_gone(struct daemon *d, struct client *cl);
void commit_free(struct daemon *d);

/* requests.c */
void request_handle(void *arg, struct ctl_client *c, const struct ctl_frame *req);
void request_unpark(struct daemon *d);
void request_client_gone(struct client *cl);

/* host.c */
size_t host_local_prefixes(const struct config *c, struct prefix *out, size_t max);
enum role host_role(const struct config *c);
uint32_t host_node_id(const struct config *c);
uint32_t host_random_u32(void);
uint64_t host_realtime_us(void);
int  host_conntrack_events(void);
void host_warn_sysctl(void);

#endif
