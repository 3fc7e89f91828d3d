/*
 * garp.h - send gratuitous ARP / unsolicited NA over a packet socket.
 */
#ifndef CTSYNC_GARP_H
#define CTSYNC_GARP_H

#include "config.h"

/* Open the packet socket (needs CAP_NET_RAW: open it before dropping
 * privileges).  Returns the fd, or -1 with errno. */
int garp_open(void);

/* Send one announcement of a on its interface.  Returns 0, or -1 with
 * errno (and a log line naming the interface and address). */
int garp_send(int fd, const struct announce *a);

#endif
