/*
 * ctsync/wire.h - the ctsync sync protocol, version 1, on the wire.
 *
 * Every integer is big-endian.  A datagram is one UDP payload:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +---------------+---------------+-------------------------------+
 * |  version (1)  |     type      |      length (whole datagram)  |
 * +---------------+---------------+-------------------------------+
 * |             flags             |          reserved (0)         |
 * +-------------------------------+-------------------------------+
 * |                    node id of the sender                      |
 * +---------------------------------------------------------------+
 * |            epoch: the sender's incarnation (nonzero)          |
 * +---------------------------------------------------------------+
 * |                              seq                              |
 * +---------------------------------------------------------------+
 * |                              base                             |
 * +---------------------------------------------------------------+
 * |                  payload (length - 24 bytes)                  |
 *
 * A sealed datagram (flag WIRE_F_AUTH) has the key id where reserved is,
 * and after length bytes a trailer of 24 more: a 64-bit counter, never
 * repeated by one sender life, and a 16-byte XChaCha20-Poly1305 tag over
 * everything before it (see auth.h and ctsync-protocol(7)).
 *
 * Each node sends one stream of sequence-numbered DATA datagrams; seq
 * counts DATA datagrams (32 bits, wrapping; compared with wire_after()).
 * In DATA, seq is this datagram's number; in every other type it is the
 * number the next DATA will carry, so any datagram reveals tail loss.
 * base is the oldest seq the sender still wants acknowledged: everything
 * before it was acknowledged or has been sent again under a newer seq,
 * so a receiver stops asking for holes below base.
 *
 * DATA payload: records back to back, each
 * +---------------+---------------+-------------------------------+
 * |     rtype     |  rflags (0)   |    rlen (whole record, >= 4)  |
 * +---------------+---------------+-------------------------------+
 * An unknown rtype is skipped by rlen and counted.
 *
 * FLOW (new or changed: the entry's full current state) and DESTROY
 * start with the key:
 * +---------------+---------------+-------------------------------+
 * | family (4|6)  |   l4proto     |             zone              |
 * +---------------+---------------+-------------------------------+
 * | original source address (4 or 16 bytes)                       |
 * | original destination address (4 or 16 bytes)                  |
 * +-------------------------------+-------------------------------+
 * |  source port / ICMP id        | dest port / ICMP type<<8|code |
 * +-------------------------------+-------------------------------+
 * DESTROY ends there.  FLOW continues with
 * +---------------------------------------------------------------+
 * |                  status (IPS_* bits)                          |
 * +---------------------------------------------------------------+
 * |                  timeout (seconds)                            |
 * +---------------------------------------------------------------+
 * and then attributes up to rlen, each
 * +---------------+---------------+-------- ... ---+
 * |     atype     | alen (value)  |  value         |
 * +---------------+---------------+-------- ... ---+
 * An attribute of unknown atype is skipped and counted; the record is
 * still applied.  A known attribute with a wrong alen makes the record,
 * and so the datagram, malformed.
 *
 * BULK_END carries the seq of the first DATA datagram of a full-table
 * transfer (u32): once a receiver holds every seq up to this record's,
 * it removes the sender's entries it last heard of before that seq.
 *
 * STATUS payload (receiver -> sender: acknowledgement and NACK):
 * +---------------------------------------------------------------+
 * |              node id of the stream acknowledged               |
 * |              epoch of the stream acknowledged                 |
 * |     cum: every seq up to and including it is held (or void)   |
 * |  resync_after: with WIRE_SF_RESYNC, send the full table in a  |
 * |  transfer that begins after this seq; else 0                  |
 * +-------------------------------+-------------------------------+
 * |      nranges (<= 64)          |            flags              |
 * +-------------------------------+-------------------------------+
 * |  nranges x { first u32, last u32 }: missing seqs, inclusive   |
 */
#ifndef CTSYNC_WIRE_H
#define CTSYNC_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#define WIRE_VERSION		1
#define WIRE_HDR_LEN		24
#define WIRE_DEFAULT_PORT	3780

enum wire_type {
	WIRE_DATA	= 1,
	WIRE_HEARTBEAT	= 2,	/* no payload */
	WIRE_STATUS	= 3,
};

/* header flags */
#define WIRE_F_AUTH	 0x0001	/* sealed: key id in place of reserved, and
				 * the trailer below follows length */
#define WIRE_F_ENCRYPTED 0x0002	/* with WIRE_F_AUTH: the payload is encrypted */

enum wire_rtype {
	WIRE_R_FLOW	= 1,
	WIRE_R_DESTROY	= 2,
	WIRE_R_BULK_END	= 3,
};

#define WIRE_REC_HDR_LEN	4
#define WIRE_BULK_END_LEN	(WIRE_REC_HDR_LEN + 4)

enum wire_atype {
	WIRE_A_REPLY	= 1,	/* reply tuple: src, dst addr, sport, dport;
				 * absent: the inverse of the original tuple */
	WIRE_A_MARK	= 2,	/* u32 */
	WIRE_A_TCP	= 3,	/* state, wscale orig, wscale reply,
				 * flags orig, flags reply: 5 x u8 */
	WIRE_A_SCTP	= 4,	/* state u8, 3 x pad, vtag orig u32, vtag reply u32 */
	WIRE_A_DCCP	= 5,	/* state u8, role u8 */
	WIRE_A_LABELS	= 6,	/* 16 bytes, connlabel bits 0..127 */
	WIRE_A_SEQADJ	= 7,	/* 6 x u32: orig pos, before, after; reply same */
	WIRE_A_HELPER	= 8,	/* helper name, 1..15 bytes, no NUL */
	WIRE_A_PROTO	= 9,	/* state u8 for other protocols (e.g. GRE) */
};

#define WIRE_STATUS_FIXED	20
#define WIRE_SF_RESYNC		0x0001	/* STATUS flag: full table wanted */
#define WIRE_SF_SACK		0x0002	/* STATUS flag: the ranges are every
					 * seq missing after cum up to the
					 * last one: the others are held */
#define WIRE_MAX_RANGES		64

/* Serial-number arithmetic (RFC 1982 style) across the 2^32 wrap. */
static inline bool wire_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}
static inline bool wire_after(uint32_t a, uint32_t b)
{
	return wire_before(b, a);
}

#endif
