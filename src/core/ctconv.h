/*
 * ctconv.h - ctnetlink conntrack messages <-> struct flow.  Pure: works on
 * netlink message buffers, never on sockets.
 */
#ifndef CTSYNC_CTCONV_H
#define CTSYNC_CTCONV_H

#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

#include "flow.h"

/*
 * Parse one IPCTNL_MSG_CT_NEW or IPCTNL_MSG_CT_DELETE message (event or
 * dump reply) into f.  f->ext is allocated when the entry has optional
 * state (labels, seqadj, helper, SCTP tags); the caller frees it with
 * flow_free_ext().  Returns 0, or -1 if the message lacks what a flow
 * needs (original tuple) or is malformed.
 */
int ctconv_parse(const struct nlmsghdr *nlh, struct flow *f);

/*
 * Write at buf a complete IPCTNL_MSG_CT_NEW request that creates f in the
 * kernel (NLM_F_REQUEST|NLM_F_CREATE|NLM_F_EXCL|NLM_F_ACK, sequence seq),
 * including what makes the entry behave like the original: both tuples,
 * NAT so translation keeps working, status, timeout, mark, zone, labels,
 * protocol state, NAT sequence adjustment and helper.
 * Returns the message length, or 0 if it does not fit in len bytes.
 */
size_t ctconv_build_create(void *buf, size_t len, const struct flow *f,
			   uint32_t seq);

/*
 * The same for an entry that already exists (IPCTNL_MSG_CT_NEW without
 * NLM_F_CREATE): refresh what the kernel lets change on it, status bits
 * (SEEN_REPLY, ASSURED: set, never cleared), timeout, mark, protocol
 * state with the liberal window flags, labels, so an entry this node made
 * itself while it carried the traffic, with a window that went stale
 * since, or a copy made while the flow was opening, follows the replica.
 * Returns the length or 0.
 */
size_t ctconv_build_update(void *buf, size_t len, const struct flow *f,
			   uint32_t seq);

/*
 * An IPCTNL_MSG_CT_DELETE request (NLM_F_REQUEST|NLM_F_ACK, sequence seq)
 * for the entry k names (original tuple and zone).  Returns the length
 * or 0 if it does not fit.
 */
size_t ctconv_build_delete(void *buf, size_t len, const struct flow_key *k,
			   uint32_t seq);

#endif
