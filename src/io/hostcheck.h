/*
 * hostcheck.h - does a parsed configuration fit this host?
 */
#ifndef CTSYNC_HOSTCHECK_H
#define CTSYNC_HOSTCHECK_H

#include <stdio.h>

#include "config.h"

/*
 * Check, without changing anything, what c names on this host and what
 * start-up would otherwise fail on: sync.local is one of the host's
 * addresses, sync.interface and the failover.announce interfaces exist,
 * the control socket's directory exists (or its parent does: the daemon
 * creates one level), and user and control.group exist.  Each problem is
 * one line on err, "file:line:col: key value: what is wrong (the fix)",
 * or "file: key ..." for a default.  A check that cannot be made (the
 * address list cannot be read) is printed as a warning and not counted.
 * Returns the number of problems (0 = OK).
 */
int hostcheck(const struct config *c, FILE *err);

#endif
