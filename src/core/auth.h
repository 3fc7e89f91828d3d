/*
 * auth.h - authenticated (and optionally encrypted) sync datagrams: the
 * pre-shared key ring, sealing and opening a datagram, and the per-peer
 * anti-replay window.  Pure: buffers in, buffers out; the caller reads
 * the key file and supplies every counter.
 *
 * A sealed datagram is the plain one (header and payload, whose length
 * field counts only those) with WIRE_F_AUTH set, the key id in the header's
 * third u16, and a trailer (ctsync/wire.h):
 *
 *   | header (24) | payload (plain or encrypted) | counter (8) | tag (16) |
 *
 * The AEAD is XChaCha20-Poly1305 (libsodium).  Its 24-byte nonce is
 * node id (4) | epoch (4) | counter (8) | zero (8), all from the datagram,
 * so a sender needs nothing but a counter that never repeats under one key
 * for one node id and epoch.  The associated data is the header (with the
 * payload too when it is not encrypted), so every byte before the tag is
 * covered either way.
 */
#ifndef CTSYNC_AUTH_H
#define CTSYNC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AUTH_KEY_LEN	32
#define AUTH_MAX_KEYS	8
#define AUTH_REPLAY_BITS 4096	/* counters a receiver remembers below the top */

struct auth_key {
	uint16_t id;			/* 1-65535 */
	uint8_t  key[AUTH_KEY_LEN];
};

/* keys[0] seals what we send; every key in the ring opens what we get. */
struct auth_keyring {
	size_t n;
	bool   encrypt;			/* seal with the payload encrypted */
	struct auth_key keys[AUTH_MAX_KEYS];
};

/* Why sealed (or unsealed) datagrams were refused; `ctctl stats`. */
struct auth_stats {
	uint64_t rx_no_tag;		/* not sealed (or too short), keys required */
	uint64_t rx_unexpected_tag;	/* sealed, but we have no keys */
	uint64_t rx_bad_key;		/* sealed with a key id not in our ring */
	uint64_t rx_bad_tag;		/* tag does not verify: forged, tampered,
					 * corrupted, or another key under that id */
	uint64_t rx_replay;		/* counter already seen or below the window */
	uint64_t rx_old_epoch;		/* from an earlier life of the peer */
	uint64_t rx_unproven;		/* a new life not yet proven live (see ftfw.h) */
};

/* What opening a datagram found out. */
struct auth_info {
	uint16_t key_id;
	bool     encrypted;
	uint64_t counter;
};

/*
 * Parse a key file's text (buf, len; need not be NUL-terminated), named
 * name in messages, into kr (kr->encrypt is left as it is).  Format: one
 * key a line, "ID HEX" with ID 1-65535 and HEX 64 hex digits (32 bytes);
 * '#' starts a comment; blank lines are skipped.  The first key is the one
 * we seal with.  Each error is one line "name:line:col: what" on err (if
 * not NULL); parsing goes on.  Returns the number of errors; a ring with
 * no key, more than AUTH_MAX_KEYS or a repeated id is an error too.
 */
int auth_keys_parse(struct auth_keyring *kr, const char *name,
		    const char *buf, size_t len, FILE *err);

/* Wipe the key material. */
void auth_keys_clear(struct auth_keyring *kr);

/* Bytes a sealed datagram adds to a plain one. */
#define AUTH_TRAILER_LEN	(8 + 16)

/*
 * Seal the plain datagram of len bytes at buf in place (cap: room at buf)
 * with kr->keys[0] and counter.  Returns the sealed length, or 0 if
 * cap < len + AUTH_TRAILER_LEN, len is shorter than a header, or kr holds
 * no key (buf unchanged then).
 */
size_t auth_seal(const struct auth_keyring *kr, uint8_t *buf, size_t len,
		 size_t cap, uint64_t counter);

/*
 * Open the sealed datagram in (len bytes) into out (room for len bytes;
 * may not overlap in): verify its tag and decrypt its payload.  Returns
 * the plain length (header and payload), or -1 with exactly one of
 * rx_no_tag, rx_bad_key, rx_bad_tag bumped; out's content is then
 * undefined and must not be used.
 */
long auth_open(const struct auth_keyring *kr, const uint8_t *in, size_t len,
	       uint8_t *out, struct auth_info *ai, struct auth_stats *st);

/* Does this datagram claim to be sealed (a version-1 header with
 * WIRE_F_AUTH)? */
bool auth_is_sealed(const uint8_t *buf, size_t len);

/*
 * Anti-replay window over one sender life's counters, as in IPsec: the
 * highest counter accepted, and which of the AUTH_REPLAY_BITS below it
 * were seen.  Accept a counter only after its datagram verified.
 */
struct auth_replay {
	bool     any;
	uint64_t top;
	uint64_t bits[AUTH_REPLAY_BITS / 64];
};

void auth_replay_reset(struct auth_replay *w);
/* True (and remembered) if ctr is new; false if seen or too old.  The
 * first counter accepted after a reset is a floor: no lower one is. */
bool auth_replay_accept(struct auth_replay *w, uint64_t ctr);

#endif
