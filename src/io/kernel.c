/*
 * kernel.c - the daemon's ctnetlink edge: the event subscription, dumps
 * and the batched commit, over libmnl.
 *
 * Two sockets.  The event socket is non-blocking, bound to the conntrack
 * NEW/UPDATE/DESTROY groups, with a receive buffer forced large and
 * ENOBUFS left visible: an overrun means events were lost and the caller
 * must dump and reconcile.  The request socket carries dumps and commits;
 * its port id is what the kernel puts in the events our own creates
 * cause, which is how they are recognised.  Those events still cost the
 * kernel and fill the event socket like any other (about 1.3 KB each):
 * a commit larger than the receive buffer holds ends in ENOBUFS.
 *
 * A commit batch is many create requests in one sendmsg.  The kernel
 * processes them in order within that call.  The requests do not ask for
 * acks (NLM_F_ACK): the kernel answers only those that fail, with an
 * error message each (with NETLINK_CAP_ACK 36 bytes, not echoing the
 * request), queued before sendmsg returns.  So when it returns, what is
 * queued is every failure of the batch and any request not named there
 * succeeded.  Acks for every request cost a tenth of a 1M commit (an skb
 * each, and reading them back).  The request socket's receive buffer is
 * sized to hold a batch's worth of errors:
 *
 *   sendmsg: [nlmsg seq s][nlmsg seq s+1] ... [nlmsg seq s+n-1]
 *   errors:  [ERROR seq s+1, -EEXIST] ...   (one skb each; s succeeded)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <linux/sock_diag.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_compat.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ctconv.h"
#include "kernel.h"
#include "log.h"

/* Event socket: up to EV_SLOTS datagrams per recvmmsg, each event is one
 * datagram well under EV_SLOT bytes. */
#define EV_SLOT		8192
#define EV_SLOTS	32
/* recvmmsg rounds per kernel_events() call: the socket stays readable,
 * so a flood is served in turns with the rest of the event loop. */
#define EV_ROUNDS	64

/* Request socket: dump datagrams are at most 32 KiB (kernel cap on
 * max_recvmsg_len); acks are read ACK_SLOTS at a time. */
#define REQ_BUF		(256 * 1024)
#define ACK_SLOT	1024
#define ACK_SLOTS	(REQ_BUF / ACK_SLOT)

/* Commit sizing: bytes reserved per create request (an IPv6 entry with
 * NAT, labels, seqadj and helper is under 500), receive-buffer bytes
 * charged per queued ack (skb truesize, with margin). */
#define MSG_EST		512
#define ACK_TRUESIZE	1024
#define BATCH_MAX	4096

struct kernel {
	struct mnl_socket *ev;
	struct mnl_socket *req;
	uint32_t req_portid;
	uint32_t seq;

	char *evbuf;			/* EV_SLOTS * EV_SLOT */
	struct mmsghdr evmsg[EV_SLOTS];
	struct iovec eviov[EV_SLOTS];
	struct sockaddr_nl evaddr[EV_SLOTS];

	char *reqbuf;			/* REQ_BUF: dumps and acks */
	struct mmsghdr ackmsg[ACK_SLOTS];
	struct iovec ackiov[ACK_SLOTS];

	char *tx;			/* commit batch */
	size_t txlen;
	struct flow_key *keys;		/* keys of the batch in flight */
	const struct flow **flows;	/* and its flows (NULL: a delete) */
	uint8_t *acked;			/* per batch slot: ACK_* */
	unsigned batch;			/* batch the buffers are sized for */

	/* Loss detection: the event socket's drop counter as of the last
	 * look (or the start of the last dump), -1 where it cannot be read
	 * (then ENOBUFS alone tells). */
	int64_t  drops_seen;
	bool     enobufs;		/* ENOBUFS seen since the last dump */

	struct kernel_stats st;		/* also in the debug log on close */
};

/* The event socket's drop counter (sk_drops), or -1. */
static int64_t ev_drops(const struct kernel *k)
{
	uint32_t mi[SK_MEMINFO_VARS] = { 0 };
	socklen_t l = sizeof(mi);

	if (getsockopt(mnl_socket_get_fd(k->ev), SOL_SOCKET, SO_MEMINFO, mi, &l) < 0 ||
	    l <= SK_MEMINFO_DROPS * sizeof(mi[0]))
		return -1;
	return mi[SK_MEMINFO_DROPS];
}

uint64_t kernel_events_lost(const struct kernel *k)
{
	int64_t d = ev_drops(k);

	return d < 0 ? 0 : (uint64_t)d;
}

void kernel_stats(const struct kernel *k, struct kernel_stats *st)
{
	*st = k->st;
}

static int set_buf(int fd, int force_opt, int opt, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes)) < 0)
		return -1;
	return 1;	/* capped by net.core.[rw]mem_max */
}

static int get_buf(int fd, int opt)
{
	int v = 0;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &l) < 0)
		return 0;
	return v;	/* the kernel reports twice what was set */
}

struct kernel *kernel_open(uint32_t rcvbuf)
{
	struct kernel *k;
	int one = 1, r, saved;

	if (!(k = calloc(1, sizeof(*k))))
		return NULL;
	if (!(k->evbuf = malloc(EV_SLOTS * EV_SLOT)) ||
	    !(k->reqbuf = malloc(REQ_BUF)))
		goto fail;

	k->ev = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!k->ev)
		goto fail;
	if (mnl_socket_bind(k->ev, NF_NETLINK_CONNTRACK_NEW |
			    NF_NETLINK_CONNTRACK_UPDATE |
			    NF_NETLINK_CONNTRACK_DESTROY, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	if (rcvbuf) {
		if (rcvbuf > INT32_MAX / 2)
			rcvbuf = INT32_MAX / 2;
		r = set_buf(mnl_socket_get_fd(k->ev), SO_RCVBUFFORCE,
			    SO_RCVBUF, (int)rcvbuf);
		if (r < 0)
			goto fail;
		if (r > 0)
			log_warnx("event socket: cannot force a %u-byte receive "
				  "buffer (no CAP_NET_ADMIN), got %d: raise "
				  "net.core.rmem_max or expect event loss and "
				  "resyncs under load", rcvbuf,
				  get_buf(mnl_socket_get_fd(k->ev), SO_RCVBUF) / 2);
	}

	k->req = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!k->req)
		goto fail;
	if (mnl_socket_bind(k->req, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	k->req_portid = mnl_socket_get_portid(k->req);
	/* Older kernels lack these; acks are then just bigger. */
	mnl_socket_setsockopt(k->req, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(k->req, NETLINK_EXT_ACK, &one, sizeof(one));
	k->seq = (uint32_t)time(NULL);
	k->drops_seen = ev_drops(k);
	/*
	 * Where the drop counter can be read it tells every loss, and
	 * ENOBUFS only hurts: on an overrun netlink reports it and marks
	 * the socket congested, and then drops every event until the queue
	 * has been read empty, so one overrun during a burst lost most of
	 * the burst's rest.  Without it only the events that do not fit
	 * are dropped: fewer to re-read, and the re-read is sooner caught
	 * up with.
	 */
	if (k->drops_seen >= 0)
		mnl_socket_setsockopt(k->ev, NETLINK_NO_ENOBUFS, &one, sizeof(one));

	for (int i = 0; i < EV_SLOTS; i++) {
		k->eviov[i].iov_base = k->evbuf + (size_t)i * EV_SLOT;
		k->eviov[i].iov_len = EV_SLOT;
	}
	for (int i = 0; i < ACK_SLOTS; i++) {
		k->ackiov[i].iov_base = k->reqbuf + (size_t)i * ACK_SLOT;
		k->ackiov[i].iov_len = ACK_SLOT;
	}
	return k;

fail:
	saved = errno;
	kernel_close(k);
	errno = saved;
	return NULL;
}

void kernel_close(struct kernel *k)
{
	if (!k)
		return;
	if (k->st.ev_bad || k->st.ev_trunc || k->st.ev_foreign || k->st.dump_bad)
		log_debug("kernel: events bad %llu truncated %llu foreign %llu, "
			  "dump entries bad %llu",
			  (unsigned long long)k->st.ev_bad,
			  (unsigned long long)k->st.ev_trunc,
			  (unsigned long long)k->st.ev_foreign,
			  (unsigned long long)k->st.dump_bad);
	if (k->ev)
		mnl_socket_close(k->ev);
	if (k->req)
		mnl_socket_close(k->req);
	free(k->evbuf);
	free(k->reqbuf);
	free(k->tx);
	free(k->keys);
	free(k->flows);
	free(k->acked);
	free(k);
}

int kernel_event_fd(const struct kernel *k)
{
	return mnl_socket_get_fd(k->ev);
}

int kernel_listen(struct kernel *k, bool on)
{
	static const int groups[] = { NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE,
				      NFNLGRP_CONNTRACK_DESTROY };
	int fd = mnl_socket_get_fd(k->ev);

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (setsockopt(fd, SOL_NETLINK, on ? NETLINK_ADD_MEMBERSHIP :
			       NETLINK_DROP_MEMBERSHIP, &groups[i],
			       sizeof(groups[i])) < 0)
			return -1;
	return 0;
}

static void event_datagram(struct kernel *k, const char *buf, size_t len,
			   kernel_flow_cb cb, void *arg)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int rem = (int)len;
	struct flow f;
	enum kernel_ev ev;

	for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		if (nlh->nlmsg_type >> 8 != NFNL_SUBSYS_CTNETLINK)
			continue;
		switch (nlh->nlmsg_type & 0xff) {
		case IPCTNL_MSG_CT_NEW:
			ev = nlh->nlmsg_flags & NLM_F_CREATE ?
			     KERNEL_EV_NEW : KERNEL_EV_UPDATE;
			break;
		case IPCTNL_MSG_CT_DELETE:
			ev = KERNEL_EV_DESTROY;
			break;
		default:
			continue;
		}
		if (ctconv_parse(nlh, &f) < 0) {
			k->st.ev_bad++;
			continue;
		}
		cb(arg, ev, &f, nlh->nlmsg_pid == k->req_portid);
		flow_free_ext(&f);
	}
}

int kernel_events(struct kernel *k, kernel_flow_cb cb, void *arg)
{
	int fd = mnl_socket_get_fd(k->ev);
	int ret = KERNEL_MORE;
	int64_t drops;

	for (int round = 0; round < EV_ROUNDS; round++) {
		int n;

		for (int i = 0; i < EV_SLOTS; i++) {
			struct msghdr *h = &k->evmsg[i].msg_hdr;

			memset(h, 0, sizeof(*h));
			h->msg_name = &k->evaddr[i];
			h->msg_namelen = sizeof(k->evaddr[i]);
			h->msg_iov = &k->eviov[i];
			h->msg_iovlen = 1;
		}
		n = recvmmsg(fd, k->evmsg, EV_SLOTS, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ret = 0;
				break;
			}
			if (errno == ENOBUFS) {
				/* reported once per episode; what is queued
				 * is still good, read it before the caller
				 * dumps */
				k->enobufs = true;
				continue;
			}
			return -1;
		}
		for (int i = 0; i < n; i++) {
			const struct msghdr *h = &k->evmsg[i].msg_hdr;

			if (h->msg_flags & MSG_TRUNC) {
				k->st.ev_trunc++;
				continue;
			}
			if (k->evaddr[i].nl_pid != 0) {
				k->st.ev_foreign++;
				continue;
			}
			event_datagram(k, k->eviov[i].iov_base,
				       k->evmsg[i].msg_len, cb, arg);
		}
		if (n < EV_SLOTS) {
			ret = 0;	/* drained */
			break;
		}
	}
	/* The counter is the truth where it can be read: an ENOBUFS can
	 * stand for drops a dump since then has covered. */
	drops = ev_drops(k);
	if (drops >= 0 && k->drops_seen >= 0) {
		if (drops != k->drops_seen)
			ret |= KERNEL_LOST;
		k->drops_seen = drops;
	} else if (k->enobufs) {
		ret |= KERNEL_LOST;
	}
	k->enobufs = false;
	return ret;
}

static struct nlmsghdr *put_request(void *buf, uint8_t msg, uint16_t flags,
				    uint8_t family, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

static int send_all(struct kernel *k, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = mnl_socket_sendto(k->req, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* Blocking read of one datagram on the request socket. */
static ssize_t req_recv(struct kernel *k)
{
	struct iovec iov = { k->reqbuf, REQ_BUF };
	struct sockaddr_nl sa;
	struct msghdr m = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	ssize_t n;

	do
		n = recvmsg(mnl_socket_get_fd(k->req), &m, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (m.msg_flags & MSG_TRUNC)) {
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}

/*
 * The dump asks for both families (AF_UNSPEC) and every zone.  The kernel
 * fills one datagram per recv, so the request socket must not be used for
 * anything else meanwhile.  A reply marked NLM_F_DUMP_INTR means the table
 * changed under the dump so entries may be missing or repeated: the dump
 * is read to its end, then -1/EINTR tells the caller to dump again.
 */
long kernel_dump(struct kernel *k, kernel_flow_cb cb, void *arg)
{
	char req[64];
	uint32_t seq = ++k->seq;
	long count = 0;
	bool intr = false;

	/* What the event socket lost so far, this dump covers. */
	k->drops_seen = ev_drops(k);
	k->enobufs = false;
	put_request(req, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC, seq);
	if (send_all(k, req, ((struct nlmsghdr *)req)->nlmsg_len) < 0)
		return -1;

	for (;;) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)k->reqbuf;
		ssize_t n = req_recv(k);
		int rem;

		if (n < 0)
			return -1;
		for (rem = (int)n; mnl_nlmsg_ok(nlh, rem);
		     nlh = mnl_nlmsg_next(nlh, &rem)) {
			struct flow f;

			if (nlh->nlmsg_seq != seq ||
			    nlh->nlmsg_pid != k->req_portid)
				continue;	/* stale reply */
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				const int *err = mnl_nlmsg_get_payload(nlh);

				if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(int) &&
				    *err < 0) {
					errno = -*err;
					return -1;
				}
				if (intr) {
					errno = EINTR;
					return -1;
				}
				return count;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e)) {
					errno = EBADMSG;
					return -1;
				}
				if (e->error == 0)
					continue;
				errno = -e->error;
				return -1;
			}
			if (ctconv_parse(nlh, &f) < 0) {
				k->st.dump_bad++;
				continue;
			}
			count++;
			cb(arg, KERNEL_EV_NEW, &f, false);
			flow_free_ext(&f);
		}
	}
}

/*
 * Size the commit buffers and the request socket's buffers for batch
 * creates at a time.  When the buffers cannot be forced (no
 * CAP_NET_ADMIN) the batch shrinks to what they hold.
 */
static int commit_setup(struct kernel *k, unsigned batch)
{
	int fd = mnl_socket_get_fd(k->req);
	unsigned fit;
	int got;
	size_t txlen;
	char *tx;
	struct flow_key *keys;
	const struct flow **flows;
	uint8_t *acked;

	if (batch == k->batch)
		return 0;
	txlen = (size_t)batch * MSG_EST;
	if (set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, (int)txlen + 4096) < 0 ||
	    set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF,
		    (int)(batch * ACK_TRUESIZE) + 65536) < 0)
		return -1;
	/* netlink refuses a message longer than sndbuf - 32 */
	got = get_buf(fd, SO_SNDBUF);
	fit = got > 64 + MSG_EST ? (unsigned)(got - 64) / MSG_EST : 1;
	if (fit < batch)
		batch = fit;
	got = get_buf(fd, SO_RCVBUF);
	fit = got > 2 * ACK_TRUESIZE ? (unsigned)got / ACK_TRUESIZE / 2 : 1;
	if (fit < batch)
		batch = fit;
	txlen = (size_t)batch * MSG_EST;

	if (!(tx = realloc(k->tx, txlen)))
		return -1;
	k->tx = tx;
	if (!(keys = realloc(k->keys, batch * sizeof(*keys))))
		return -1;
	k->keys = keys;
	if (!(flows = realloc(k->flows, batch * sizeof(*flows))))
		return -1;
	k->flows = flows;
	if (!(acked = realloc(k->acked, batch)))
		return -1;
	k->acked = acked;
	k->txlen = txlen;
	k->batch = batch;
	return 0;
}

/* A commit request is answered only if it fails (see the top). */
static void errors_only(void *msg)
{
	((struct nlmsghdr *)msg)->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
}

/* A failed request; update: a refresh of an entry counted in exists. */
static void commit_fail(struct commit_result *r, int err,
			const struct flow_key *key, bool update)
{
	if (r->failed + r->update_failed == 0) {
		r->first_error = err;
		flow_key_fmt(key, r->first_failed, sizeof(r->first_failed));
	}
	if (update)
		r->update_failed++;
	else
		r->failed++;
}

/* The kernel's extended-ack text for a failed request, if any. */
static const char *ack_msg(const struct nlmsghdr *nlh, size_t len)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);
	int rem;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) ||
	    len < NLMSG_HDRLEN + sizeof(*e))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	if (len < NLMSG_HDRLEN + off)
		return NULL;
	a = (const struct nlattr *)((const char *)e + MNL_ALIGN(off));
	rem = (int)(len - NLMSG_HDRLEN - MNL_ALIGN(off));
	for (; mnl_attr_ok(a, rem); rem -= MNL_ALIGN(a->nla_len),
				    a = mnl_attr_next(a))
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(a);
	return NULL;
}

/*
 * The outcome of each of the n requests from seq first, sent without
 * NLM_F_ACK: read the error messages the kernel queued while it processed
 * them; a request not named succeeded.  update: they were updates, so
 * success counts as updated; otherwise EEXIST marks the slot ACK_EXISTS
 * for an update to follow.  If error messages were lost (receive buffer
 * overrun), the unnamed requests' outcome is unknown: counted failed
 * with ENOBUFS.
 */
enum { ACK_NONE, ACK_SEEN, ACK_EXISTS };

static void count_ok(struct kernel *k, unsigned i, struct commit_result *r,
		     bool update)
{
	if (update)
		r->updated++;
	else if (!k->flows[i])
		r->deleted++;
	else
		r->created++;
}

static int commit_acks(struct kernel *k, uint32_t first, unsigned n,
		       struct commit_result *r, bool update)
{
	int fd = mnl_socket_get_fd(k->req);
	bool overrun = false;

	memset(k->acked, 0, n);
	for (;;) {
		int got;

		for (unsigned i = 0; i < ACK_SLOTS; i++) {
			memset(&k->ackmsg[i].msg_hdr, 0, sizeof(struct msghdr));
			k->ackmsg[i].msg_hdr.msg_iov = &k->ackiov[i];
			k->ackmsg[i].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(fd, k->ackmsg, ACK_SLOTS, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				overrun = true;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		for (int i = 0; i < got; i++) {
			const struct nlmsghdr *nlh = k->ackiov[i].iov_base;
			size_t len = k->ackmsg[i].msg_len;
			const struct nlmsgerr *e;
			uint32_t idx;

			/* one message per datagram; a truncated one still
			 * has its header and error code */
			if (len < NLMSG_HDRLEN + sizeof(int) ||
			    nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			idx = nlh->nlmsg_seq - first;
			if (idx >= n || k->acked[idx])
				continue;	/* stale */
			k->acked[idx] = ACK_SEEN;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0) {
				count_ok(k, idx, r, update);
			} else if (!update && !k->flows[idx]) {
				if (e->error == -ENOENT)
					r->absent++;
				else
					commit_fail(r, -e->error, &k->keys[idx], false);
			} else if (e->error == -EEXIST && !update) {
				r->exists++;
				k->acked[idx] = ACK_EXISTS;
			} else {
				if (r->failed == 0) {
					const char *m = ack_msg(nlh, len);

					if (m)
						log_debug("commit: %s", m);
				}
				commit_fail(r, -e->error, &k->keys[idx], update);
			}
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (k->acked[i])
			continue;
		if (!overrun) {
			count_ok(k, i, r, update);
			continue;
		}
		commit_fail(r, ENOBUFS, &k->keys[i], update);
	}
	return 0;
}

/*
 * Entries of the last batch that were already there (ACK_EXISTS) are
 * updated with the replica's state.  Typically this node carried them
 * itself before: made by its own traffic they are not liberal, and their
 * TCP window went stale while the peer carried the flow, so without this
 * the kernel drops the flow's packets as out of window.
 */
static int commit_updates(struct kernel *k, unsigned n, struct commit_result *r)
{
	uint32_t first = k->seq + 1;
	size_t off = 0;
	unsigned m = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t l;

		if (k->acked[i] != ACK_EXISTS)
			continue;
		/* An update is smaller than the create that fitted here. */
		l = ctconv_build_update(k->tx + off, k->txlen - off, k->flows[i], first + m);
		if (l == 0) {
			commit_fail(r, EMSGSIZE, &k->keys[i], false);
			continue;
		}
		errors_only(k->tx + off);
		k->keys[m] = k->keys[i];
		off += l;
		m++;
	}
	if (m == 0)
		return 0;
	k->seq += m;
	if (send_all(k, k->tx, off) < 0)
		return -1;
	return commit_acks(k, first, m, r, true);
}

int kernel_commit(struct kernel *k, kernel_next_cb next, void *arg,
		  unsigned batch, unsigned flags, kernel_flow_cb drain,
		  void *drain_arg, struct commit_result *r)
{
	const struct flow *f, *pending = NULL;
	bool end = false, del = false, pending_del = false;

	memset(r, 0, sizeof(*r));
	if (batch == 0)
		batch = 1;
	if (batch > BATCH_MAX)
		batch = BATCH_MAX;
	if (commit_setup(k, batch) < 0)
		return -1;
	batch = k->batch;

	while (!end) {
		uint32_t first = k->seq + 1;
		size_t off = 0;
		unsigned n = 0;

		while (n < batch) {
			size_t l;

			if (pending) {
				f = pending;
				del = pending_del;
				pending = NULL;
			} else {
				del = false;
				f = next(arg, &del);
			}
			if (!f) {
				end = true;
				break;
			}
			l = del ? ctconv_build_delete(k->tx + off, k->txlen - off,
						      &f->key, first + n) :
				  ctconv_build_create(k->tx + off, k->txlen - off,
						      f, first + n);
			if (l == 0) {
				if (n == 0) {
					/* cannot fit even alone */
					commit_fail(r, EMSGSIZE, &f->key, false);
					continue;
				}
				pending = f;
				pending_del = del;
				break;
			}
			errors_only(k->tx + off);
			k->keys[n] = f->key;
			k->flows[n++] = del ? NULL : f;
			off += l;
		}
		if (n == 0)
			continue;
		k->seq += n;
		if (send_all(k, k->tx, off) < 0)
			return -1;
		if (commit_acks(k, first, n, r, false) < 0)
			return -1;
		if ((flags & KERNEL_REFRESH) && commit_updates(k, n, r) < 0)
			return -1;
		if (drain) {
			int ev = kernel_events(k, drain, drain_arg);

			if (ev < 0)
				return -1;
			if (ev & KERNEL_LOST)
				r->events_lost = true;
		}
	}
	return 0;
}

/* Flush both families; waits for each ack. */
int kernel_flush(struct kernel *k)
{
	static const uint8_t fams[] = { AF_INET, AF_INET6 };
	char req[64];

	for (size_t i = 0; i < sizeof(fams); i++) {
		uint32_t seq = ++k->seq;

		put_request(req, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, fams[i], seq);
		if (send_all(k, req, ((struct nlmsghdr *)req)->nlmsg_len) < 0)
			return -1;
		for (;;) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)k->reqbuf;
			ssize_t n = req_recv(k);
			const struct nlmsgerr *e;

			if (n < 0)
				return -1;
			if ((size_t)n < NLMSG_HDRLEN + sizeof(int) ||
			    nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_seq != seq)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error) {
				errno = -e->error;
				return -1;
			}
			break;
		}
	}
	return 0;
}
