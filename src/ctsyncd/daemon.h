/*
 * daemon.h - the running daemon: start-up order and the libev loop.
 */
#ifndef CTSYNC_DAEMON_H
#define CTSYNC_DAEMON_H

#include "config.h"

/* Open everything, run until SIGINT/SIGTERM.  Returns the exit status. */
int daemon_run(const struct config *c);

#endif
