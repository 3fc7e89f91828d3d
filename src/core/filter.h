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

#include "config.h"
#include "flow.h"

struct filter;

/* Returns NULL on ENOMEM.  local: the host's addresses as /32 or /128
 * prefixes (may be NULL with nlocal 0). */
struct filter *filter_new(const struct config *c, const struct prefix *local,
			  size_t nlocal);
void filter_free(struct filter *f);
bool filter_accept(const struct filter *f, const struct flow *flow);

/* Parse "192.0.2.0/24", "2001:db8::1" (host prefix) etc.  0 or -1. */
int prefix_parse(const char *s, struct prefix *p);
bool prefix_match(const struct prefix *p, uint8_t family, const union flow_addr *a);

#endif
