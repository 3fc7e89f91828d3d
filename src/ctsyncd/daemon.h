/*
 * daemon.h - the running daemon: start-up order and the libev loop.
 */
#ifndef CTSYNC_DAEMON_H
#define CTSYNC_DAEMON_H

#include "auth.h"
#include "config.h"

/* Open everything, run until SIGINT/SIGTERM.  keys: the sync key ring
 * loaded from c->sync.key_file (copied; empty when there is none).
 * Returns the exit status. */
int daemon_run(const struct config *c, const struct auth_keyring *keys);

#endif
