/*
 * filter.h - which flows are replicated.  Pure.
 *
 * A flow is replicated when its protocol is in the configured set (or the
 * set is empty), it is TCP in one of the configured states (or no states
 * are configured, or it is not TCP), and neither its original source nor
 * its original destination falls in an ignored prefix.  The firewall's own
 * addresses (given by the caller) are ignored when ignore_local is set.
 */
#ifndef CTSYNC_FILTER_H
#define CTSYNC_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "flow.h"

#define FILTER_MAX_PREFIXES	64

/* What is to be replicated: section "filter" of struct config. */
struct filter_conf {
	uint64_t protocols[4];		/* bitmap of IPPROTO_*; all zero: any */
	uint32_t tcp_states;		/* bitmap of TCP_CONNTRACK_*; 0: any */
	struct prefix ignore[FILTER_MAX_PREFIXES];
	size_t   nignore;
	bool     ignore_local;		/* default true: the firewall's own addresses */
};

struct filter;

/* Returns NULL on ENOMEM.  local: the host's addresses as /32 or /128
 * prefixes (may be NULL with nlocal 0). */
struct filter *filter_new(const struct filter_conf *fc, const struct prefix *local,
			  size_t nlocal);
void filter_free(struct filter *f);
bool filter_accept(const struct filter *f, const struct flow *flow);

#endif
