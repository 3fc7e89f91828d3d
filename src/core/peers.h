/*
 * peers.h - the one limit on a node's peers, and the slot that names a
 * peer everywhere.
 *
 * A unicast peer's slot is its index in the configuration's list
 * (config.sync.peers[slot]).  The channel sends to and recognises peers
 * through that same list, and the FT-FW engine keeps each peer's
 * replication state under the same slot: the daemon adds the peers to the
 * engine in configuration order and checks that each gets its index.
 * Multicast peers are not configured; the engine gives them slots in the
 * order it first hears them.
 */
#ifndef CTSYNC_PEERS_H
#define CTSYNC_PEERS_H

#define CTSYNC_MAX_PEERS	16

#endif
