/*
 * proto.h - encode and decode ctsync datagrams (see ctsync/wire.h and
 * ctsync-protocol(7)).  Pure: buffers in, buffers out, no sockets, no clock.
 *
 * Decoders take (buf, len), check the length before every read, and on
 * failure return -1 after bumping exactly one counter in struct wire_stats.
 * Encoders never write past cap; they return -1 (buffer unchanged) when the
 * item does not fit, so a caller can pack records until one does not.
 */
#ifndef CTSYNC_PROTO_H
#define CTSYNC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ctsync/wire.h"
#include "flow.h"

/* Why received datagrams or records were dropped; shown by `ctctl stats`. */
struct wire_stats {
	uint64_t rx_bad_len;		/* shorter than a header, length field
					 * disagrees with the datagram size */
	uint64_t rx_bad_version;
	uint64_t rx_bad_type;		/* unknown datagram type */
	uint64_t rx_bad_record;		/* record truncated or inconsistent */
	uint64_t rx_bad_attr;		/* known attribute with a wrong length */
	uint64_t rx_bad_status;		/* malformed STATUS payload */
	uint64_t rx_unknown_record;	/* skipped, not an error */
	uint64_t rx_unknown_attr;	/* skipped, not an error */
};

struct wire_hdr {
	uint8_t  version;
	uint8_t  type;
	uint16_t length;
	uint16_t flags;
	uint32_t node_id;
	uint32_t epoch;
	uint32_t seq;
	uint32_t base;
};

/* Write the 24-byte header at buf (the caller guarantees the room). */
void wire_hdr_put(uint8_t *buf, const struct wire_hdr *h);

/*
 * Check and read a datagram's header.  Checks, in this order: len >=
 * WIRE_HDR_LEN (rx_bad_len), version (rx_bad_version), length field == len
 * (rx_bad_len), type known (rx_bad_type), epoch != 0 (rx_bad_version: no
 * version-1 sender uses epoch 0, so such a datagram does not follow this
 * version), a HEARTBEAT carries no payload (rx_bad_len).  flags are
 * returned as received; reserved is ignored.
 * Returns 0, or -1 with exactly one of those counters bumped (h unchanged).
 */
int wire_hdr_get(const uint8_t *buf, size_t len, struct wire_hdr *h,
		 struct wire_stats *st);

/* Growable-by-nothing output buffer: writes stay within cap. */
struct wbuf {
	uint8_t *buf;
	size_t   len;
	size_t   cap;
};

/* Bytes wire_put_flow() would use for f; 0 if f cannot be encoded. */
size_t wire_flow_len(const struct flow *f);
/* Append one record.  Return 0, or -1 if it does not fit (b unchanged).
 * A key whose family is neither AF_INET nor AF_INET6 cannot be encoded
 * and also gives -1.  A helper name is sent only if 1..15 bytes long;
 * SCTP state and tags travel in one attribute, so an SCTP flow with only
 * one of FLOW_F_PROTO / FLOW_EXT_SCTP decodes with both (tags 0). */
int wire_put_flow(struct wbuf *b, const struct flow *f);
/* Bytes wire_put_destroy() uses for k; 0 if k cannot be encoded. */
size_t wire_destroy_len(const struct flow_key *k);
int wire_put_destroy(struct wbuf *b, const struct flow_key *k);
int wire_put_bulk_end(struct wbuf *b, uint32_t begin_seq);

/* One decoded record.  For WIRE_R_FLOW, rec.flow.ext points at rec.ext
 * when the record carried optional state, else NULL; copy it out with
 * flow_copy() before the struct goes away. */
struct wire_rec {
	uint8_t     rtype;
	struct flow flow;		/* FLOW: whole flow; DESTROY: key only */
	struct flow_ext ext;
	uint32_t    begin_seq;		/* BULK_END */
};

/*
 * Validate a whole DATA payload before anything of it is applied: every
 * record's framing and every known record's body and attributes.
 * Returns the number of records (known or not), or -1 with one of
 * rx_bad_record/rx_bad_attr bumped.  Besides a wrong alen, a protocol
 * attribute that does not match the key's l4proto (TCP on a UDP flow,
 * PROTO on a TCP flow) and a HELPER holding a NUL are rx_bad_attr.
 * Counts nothing for unknown records or attributes (wire_rec_next()
 * does, as it skips them).
 */
int wire_data_check(const uint8_t *p, size_t len, struct wire_stats *st);

/*
 * Iterate over a payload that passed wire_data_check():
 *   const uint8_t *p = payload; size_t left = len; struct wire_rec r;
 *   while (wire_rec_next(&p, &left, &r, st) > 0) ...
 * Returns 1 with r filled (unknown rtypes are skipped and counted, never
 * returned), 0 at the end.  On input that was not checked it returns -1
 * rather than reading out of bounds.
 */
int wire_rec_next(const uint8_t **p, size_t *left, struct wire_rec *r,
		  struct wire_stats *st);

struct wire_range {
	uint32_t first;
	uint32_t last;		/* inclusive */
};

struct wire_status {
	uint32_t node_id;	/* stream acknowledged */
	uint32_t epoch;
	uint32_t cum;
	uint32_t resync_after;	/* with WIRE_SF_RESYNC: a full table whose
				 * transfer begins after this seq is wanted */
	uint16_t nranges;
	uint16_t flags;		/* WIRE_SF_* */
	struct wire_range ranges[WIRE_MAX_RANGES];
};

/* Append a STATUS payload; -1 if it does not fit or nranges > max. */
int wire_put_status(struct wbuf *b, const struct wire_status *s);
/* Decode a STATUS payload; -1 with rx_bad_status bumped if malformed
 * (short, nranges > WIRE_MAX_RANGES, length not exactly right,
 * a range with last before first). */
int wire_get_status(const uint8_t *p, size_t len, struct wire_status *s,
		    struct wire_stats *st);

#endif
