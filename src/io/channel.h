/*
 * channel.h - the sync transport: UDP unicast or multicast, IPv4 or IPv6.
 */
#ifndef CTSYNC_CHANNEL_H
#define CTSYNC_CHANNEL_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

struct channel;

/* Open and bind per c->sync.  NULL with errno set (and a log line).  c
 * is borrowed until channel_close(): its peer list is the channel's, so a
 * peer's slot (peers.h) is the same here as in the configuration. */
struct channel *channel_open(const struct config *c);
void channel_close(struct channel *ch);
int channel_fd(const struct channel *ch);

/* Send one datagram to peer slot i (unicast), or to every peer / the
 * group when i < 0.  Returns 0, or -1 with errno (EAGAIN: try later). */
int channel_send(struct channel *ch, int i, const void *buf, size_t len);

/* Receive one datagram without blocking.  Returns its length, or -1 with
 * errno (EAGAIN when there is none).  from gets the sender's address. */
long channel_recv(struct channel *ch, void *buf, size_t len,
		  struct sockaddr_storage *from);

/* The configured peer whose address is from's (unicast), or -1. */
int channel_peer_slot(const struct channel *ch, const struct sockaddr_storage *from);

/* "192.0.2.2" or "2001:db8::2" for logs and ctctl. */
void channel_addr_str(const struct sockaddr_storage *a, char *buf, size_t len);

#endif
