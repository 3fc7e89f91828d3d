/*
 * flow.h - the compact record of one tracked connection.
 *
 * A flow is identified by its original-direction tuple plus the conntrack
 * zone (struct flow_key).  Everything else is state that a replica must
 * carry for a committed entry to behave like the original.  Rarely used
 * state (labels, NAT sequence adjustment, helper, SCTP tags) lives in an
 * optional struct flow_ext so the common record stays small.
 *
 * Ports are host byte order.  For ICMP/ICMPv6 the tuple carries
 * sport = id and dport = (type << 8) | code; the reply tuple likewise.
 * Addresses are kept in network byte order (as the kernel gives them);
 * an IPv4 address lives in addr.v4 with the other 12 bytes zero.
 */
#ifndef CTSYNC_FLOW_H
#define CTSYNC_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

union flow_addr {
	uint32_t v4;
	uint32_t v6[4];
	uint8_t  b[16];
};

struct flow_tuple {
	union flow_addr src;
	union flow_addr dst;
	uint16_t sport;
	uint16_t dport;
};

struct flow_key {
	struct flow_tuple orig;
	uint16_t zone;
	uint8_t  family;	/* AF_INET or AF_INET6 */
	uint8_t  l4proto;	/* IPPROTO_* */
};

/* flow_ext.has bits */
#define FLOW_EXT_LABELS	0x01
#define FLOW_EXT_SEQADJ	0x02
#define FLOW_EXT_HELPER	0x04
#define FLOW_EXT_SCTP	0x08

#define FLOW_HELPER_MAX	16	/* including the NUL */

struct flow_seqadj {
	uint32_t correction_pos;
	uint32_t offset_before;
	uint32_t offset_after;
};

struct flow_ext {
	uint8_t  has;			/* FLOW_EXT_* */
	uint32_t labels[4];		/* 128 connlabel bits */
	struct flow_seqadj seqadj[2];	/* [0] original, [1] reply */
	uint32_t sctp_vtag[2];		/* [0] original, [1] reply */
	char     helper[FLOW_HELPER_MAX];
};

/* flow.flags bits: which optional fixed fields are meaningful */
#define FLOW_F_PROTO	0x01	/* proto_state (+ TCP wscale/flags, DCCP role) */
#define FLOW_F_MARK	0x02
#define FLOW_F_TIMEOUT	0x04

struct flow {
	struct flow_key   key;
	struct flow_tuple reply;
	uint32_t status;	/* IPS_* bits as the kernel reports them */
	uint32_t timeout;	/* seconds left when last seen */
	uint32_t mark;
	uint8_t  flags;		/* FLOW_F_* */
	uint8_t  proto_state;	/* TCP_CONNTRACK_* / SCTP / DCCP state */
	uint8_t  wscale[2];	/* TCP window scale, [0] orig [1] reply */
	uint8_t  tcpflags[2];	/* TCP nf_ct_tcp_flags.flags, orig/reply; DCCP: [0] role */
	struct flow_ext *ext;	/* NULL when no optional state */
};

/* Flows as a kind of cached object (cache.h): keyed by struct flow_key,
 * deep-copied with their ext, compared with flow_state_eq(). */
extern const struct cache_kind cache_kind_flow;

/* The flow of an entry of a cache of cache_kind_flow. */
static inline struct flow *cache_flow(struct cache_entry *e)
{
	return cache_obj(e);
}

/* Hash of the key (seeded, so a peer cannot aim at one bucket). */
uint32_t flow_key_hash(const struct flow_key *k, uint32_t seed);
bool flow_key_eq(const struct flow_key *a, const struct flow_key *b);

/* The reply tuple a flow would have without NAT: orig with src/dst and
 * ports swapped (ICMP: same id, echo type mapped to its reply). */
void flow_tuple_invert(const struct flow_key *k, struct flow_tuple *out);

/* Deep copy src into dst (dst->ext is reused or allocated/freed as needed).
 * Returns 0, or -1 with errno ENOMEM (dst unchanged). */
int flow_copy(struct flow *dst, const struct flow *src);
/* Replicated-state equality (key, reply, status, timeout excluded, mark,
 * protocol state, ext).  Used to skip no-op updates. */
bool flow_state_eq(const struct flow *a, const struct flow *b);
void flow_free_ext(struct flow *f);

/* Get-or-create the ext block; NULL on ENOMEM. */
struct flow_ext *flow_ext_get(struct flow *f);

/* Format "tcp 198.51.100.10:40000 -> 203.0.113.10:80 zone 0" into buf.
 * Returns snprintf-style length. */
int flow_key_fmt(const struct flow_key *k, char *buf, size_t len);
const char *flow_proto_name(uint8_t l4proto);
/* TCP state names as conntrack(8) prints them ("ESTABLISHED"), or NULL. */
const char *flow_tcp_state_name(uint8_t state);

#endif
