/*
 * kernel.h - the daemon's ctnetlink edge (libmnl): the event subscription,
 * full-table dumps and the batched commit.
 */
#ifndef CTSYNC_KERNEL_H
#define CTSYNC_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

struct kernel;

enum kernel_ev { KERNEL_EV_NEW = 1, KERNEL_EV_UPDATE, KERNEL_EV_DESTROY };

/*
 * Called once per conntrack entry seen.  own is true when the event was
 * caused by this daemon's own commit (the event's nlmsg_pid is our commit
 * socket's port id).  f (and f->ext) is valid only during the call.
 */
typedef void (*kernel_flow_cb)(void *arg, enum kernel_ev ev,
			       const struct flow *f, bool own);

/*
 * Open the event socket (NEW, UPDATE, DESTROY groups; receive buffer
 * forced to rcvbuf bytes with SO_RCVBUFFORCE; NETLINK_NO_ENOBUFS where
 * the drop counter tells losses, so an overrun drops only what does not
 * fit) and a request socket for dumps and commits.  Returns NULL with
 * errno set.
 */
struct kernel *kernel_open(uint32_t rcvbuf);
void kernel_close(struct kernel *k);
int kernel_event_fd(const struct kernel *k);

/*
 * Stop (on false) or resume receiving events.  With no listener in the
 * namespace the kernel does not build events at all (it keeps building
 * them for every group while one group has a listener): a large commit
 * then runs faster.  What happened meanwhile is only learned by a dump.
 * Returns 0 or -1 (errno).
 */
int kernel_listen(struct kernel *k, bool on);

/* kernel_events() result bits */
#define KERNEL_LOST	0x01	/* events were lost since the last dump began */
#define KERNEL_MORE	0x02	/* stopped with events still queued */

/*
 * Read the events pending on the event socket without blocking (a bounded
 * number per call, so a flood is served in turns with the rest of the
 * loop) and call cb for each.  Returns KERNEL_* bits, or -1 with errno on
 * an I/O error.  KERNEL_LOST: the kernel dropped events (the socket's
 * drop counter moved, or ENOBUFS where the counter cannot be read): the
 * caller must dump and reconcile.  (Without the counter, netlink reports
 * ENOBUFS only once until its queue has been read empty, and drops every
 * event meanwhile.)  Without KERNEL_MORE the socket was
 * read empty: the caller is caught up with the kernel.
 */
int kernel_events(struct kernel *k, kernel_flow_cb cb, void *arg);

/* Events the kernel dropped on the event socket since it was opened
 * (SO_MEMINFO; 0 where it cannot be read). */
uint64_t kernel_events_lost(const struct kernel *k);

/* What kernel.c read and could not use, since kernel_open().  Overruns
 * are not here: the caller counts those, once per episode of loss
 * (kernel_events() returns KERNEL_LOST for each call that sees one). */
struct kernel_stats {
	uint64_t ev_bad;		/* event that did not parse */
	uint64_t ev_trunc;		/* datagram larger than a receive slot */
	uint64_t ev_foreign;		/* datagram not from the kernel */
	uint64_t dump_bad;		/* dump entry that did not parse */
};

void kernel_stats(const struct kernel *k, struct kernel_stats *st);

/* Dump the whole table (both families, every zone); cb gets KERNEL_EV_NEW
 * for each entry.  Returns entries seen, or -1 with errno (EINTR: the
 * kernel marked the dump interrupted; dump again).  Events lost before
 * the dump began are taken as covered by it: kernel_events() reports
 * only losses after that. */
long kernel_dump(struct kernel *k, kernel_flow_cb cb, void *arg);

struct commit_result {
	uint64_t created;
	uint64_t exists;	/* EEXIST: already in the kernel... */
	uint64_t updated;	/* ...and then refreshed with the replica's state */
	uint64_t update_failed;	/* ...but could not be refreshed */
	uint64_t deleted;	/* deletes done */
	uint64_t absent;	/* deletes of entries already gone */
	uint64_t failed;	/* any other error */
	int      first_error;	/* errno of the first failure, 0 if none */
	bool     events_lost;	/* events lost while draining: dump and reconcile */
	char     first_failed[160];	/* flow_key_fmt() of it */
};

/*
 * Yields the next entry to write, NULL at the end: a flow to create, or,
 * with *del set, one whose key is to be deleted.  The flow must stay valid
 * until the next call.
 */
typedef const struct flow *(*kernel_next_cb)(void *arg, bool *del);

/* kernel_commit() flags */
#define KERNEL_REFRESH	0x01	/* an entry already there takes the flow's state */

/*
 * Write every entry next() yields: creates (with KERNEL_REFRESH, an entry
 * that exists is then updated with the flow's state) and deletes, batched
 * per sendmsg, reading the errors of each batch (the kernel answers only
 * failed requests) before the next.
 * After each batch the events it caused (flagged own) are read and given
 * to drain, so a commit of any size cannot overrun the event socket;
 * drain may be NULL when events are paused (kernel_listen()).
 * Returns 0 (r filled, per-entry failures counted in r), or -1 with errno
 * on socket failure.
 */
int kernel_commit(struct kernel *k, kernel_next_cb next, void *arg,
		  unsigned batch, unsigned flags, kernel_flow_cb drain,
		  void *drain_arg, struct commit_result *r);

/* Delete every entry (for tests and `flush` of the kernel table). */
int kernel_flush(struct kernel *k);

#endif
