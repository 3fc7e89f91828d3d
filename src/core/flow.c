/*
 * flow.c - flow key hashing and comparison, copies, formatting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flow.h"

/* Keys are compared field by field (struct padding is never read).
 * Inline so that the cache's kind operation is this code, not a jump to
 * it: one per lookup. */
static inline bool key_eq(const struct flow_key *a, const struct flow_key *b)
{
	return a->family == b->family && a->l4proto == b->l4proto &&
	       a->zone == b->zone &&
	       a->orig.sport == b->orig.sport &&
	       a->orig.dport == b->orig.dport &&
	       memcmp(&a->orig.src, &b->orig.src, sizeof(a->orig.src)) == 0 &&
	       memcmp(&a->orig.dst, &b->orig.dst, sizeof(a->orig.dst)) == 0;
}

/* 32-bit mixing of the key's words; the seed is per process so remote
 * peers cannot choose keys that share one bucket. */
static inline uint32_t mix(uint32_t h, uint32_t k)
{
	k *= 0xcc9e2d51u;
	k = (k << 15) | (k >> 17);
	k *= 0x1b873593u;
	h ^= k;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64u;
}

bool flow_key_eq(const struct flow_key *a, const struct flow_key *b)
{
	return key_eq(a, b);
}

static inline uint32_t key_hash(const struct flow_key *k, uint32_t seed)
{
	uint32_t h = seed;
	int n = k->family == AF_INET6 ? 4 : 1;

	for (int i = 0; i < n; i++) {
		h = mix(h, k->orig.src.v6[i]);
		h = mix(h, k->orig.dst.v6[i]);
	}
	h = mix(h, ((uint32_t)k->orig.sport << 16) | k->orig.dport);
	h = mix(h, ((uint32_t)k->zone << 16) | ((uint32_t)k->family << 8) |
		   k->l4proto);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

uint32_t flow_key_hash(const struct flow_key *k, uint32_t seed)
{
	return key_hash(k, seed);
}

static uint16_t icmp_reply_type(uint8_t l4proto, uint16_t typecode)
{
	uint8_t type = typecode >> 8, code = typecode & 0xff;

	if (l4proto == IPPROTO_ICMP) {
		switch (type) {
		case 8:  type = 0;  break;	/* echo */
		case 13: type = 14; break;	/* timestamp */
		case 15: type = 16; break;	/* info */
		case 17: type = 18; break;	/* address mask */
		}
	} else {
		switch (type) {
		case 128: type = 129; break;	/* echo */
		case 130: type = 131; break;	/* node info */
		}
	}
	return (uint16_t)(type << 8 | code);
}

void flow_tuple_invert(const struct flow_key *k, struct flow_tuple *out)
{
	out->src = k->orig.dst;
	out->dst = k->orig.src;
	if (k->l4proto == IPPROTO_ICMP || k->l4proto == IPPROTO_ICMPV6) {
		out->sport = k->orig.sport;
		out->dport = icmp_reply_type(k->l4proto, k->orig.dport);
	} else {
		out->sport = k->orig.dport;
		out->dport = k->orig.sport;
	}
}

struct flow_ext *flow_ext_get(struct flow *f)
{
	if (!f->ext)
		f->ext = calloc(1, sizeof(*f->ext));
	return f->ext;
}

void flow_free_ext(struct flow *f)
{
	free(f->ext);
	f->ext = NULL;
}

int flow_copy(struct flow *dst, const struct flow *src)
{
	struct flow_ext *ext = dst->ext;

	if (src->ext && src->ext->has) {
		if (!ext && !(ext = malloc(sizeof(*ext)))) {
			errno = ENOMEM;
			return -1;
		}
		*ext = *src->ext;
	} else {
		free(ext);
		ext = NULL;
	}
	*dst = *src;
	dst->ext = ext;
	return 0;
}

static bool ext_eq(const struct flow_ext *a, const struct flow_ext *b)
{
	uint8_t ha = a ? a->has : 0, hb = b ? b->has : 0;

	if (ha != hb)
		return false;
	if (!ha)
		return true;
	if ((ha & FLOW_EXT_LABELS) && memcmp(a->labels, b->labels, sizeof(a->labels)))
		return false;
	if ((ha & FLOW_EXT_SEQADJ) && memcmp(a->seqadj, b->seqadj, sizeof(a->seqadj)))
		return false;
	if ((ha & FLOW_EXT_SCTP) && memcmp(a->sctp_vtag, b->sctp_vtag, sizeof(a->sctp_vtag)))
		return false;
	if ((ha & FLOW_EXT_HELPER) && strcmp(a->helper, b->helper))
		return false;
	return true;
}

bool flow_state_eq(const struct flow *a, const struct flow *b)
{
	return flow_key_eq(&a->key, &b->key) &&
	       memcmp(&a->reply.src, &b->reply.src, sizeof(a->reply.src)) == 0 &&
	       memcmp(&a->reply.dst, &b->reply.dst, sizeof(a->reply.dst)) == 0 &&
	       a->reply.sport == b->reply.sport &&
	       a->reply.dport == b->reply.dport &&
	       a->status == b->status && a->mark == b->mark &&
	       a->flags == b->flags && a->proto_state == b->proto_state &&
	       a->wscale[0] == b->wscale[0] && a->wscale[1] == b->wscale[1] &&
	       a->tcpflags[0] == b->tcpflags[0] &&
	       a->tcpflags[1] == b->tcpflags[1] &&
	       ext_eq(a->ext, b->ext);
}

/* The kind's operations, on untyped objects. */
static uint32_t kind_hash(const void *key, uint32_t seed)
{
	return key_hash(key, seed);
}

static bool kind_equal(const void *a, const void *b)
{
	return key_eq(a, b);
}

static int kind_copy(void *dst, const void *src)
{
	return flow_copy(dst, src);
}

static void kind_release(void *obj)
{
	flow_free_ext(obj);
}

static bool kind_state_equal(const void *a, const void *b)
{
	return flow_state_eq(a, b);
}

_Static_assert(offsetof(struct flow, key) == 0, "a cached object begins with its key");
_Static_assert(_Alignof(struct flow) <= _Alignof(struct cache_entry),
	       "a cached object needs no more alignment than an entry's");

const struct cache_kind cache_kind_flow = {
	.name = "flow",
	.obj_size = sizeof(struct flow),
	.hash = kind_hash,
	.equal = kind_equal,
	.copy = kind_copy,
	.release = kind_release,
	.state_equal = kind_state_equal,
};

const char *flow_proto_name(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP:	return "tcp";
	case IPPROTO_UDP:	return "udp";
	case IPPROTO_UDPLITE:	return "udplite";
	case IPPROTO_ICMP:	return "icmp";
	case IPPROTO_ICMPV6:	return "icmpv6";
	case IPPROTO_SCTP:	return "sctp";
	case IPPROTO_DCCP:	return "dccp";
	case IPPROTO_GRE:	return "gre";
	default:		return NULL;
	}
}

const char *flow_tcp_state_name(uint8_t s)
{
	static const char *const names[] = {
		"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
		"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
	};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : NULL;
}

int flow_key_fmt(const struct flow_key *k, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *p = flow_proto_name(k->l4proto);
	char pnum[8];
	int af = k->family == AF_INET6 ? AF_INET6 : AF_INET;

	if (!p) {
		snprintf(pnum, sizeof(pnum), "%u", k->l4proto);
		p = pnum;
	}
	inet_ntop(af, &k->orig.src, s, sizeof(s));
	inet_ntop(af, &k->orig.dst, d, sizeof(d));
	if (af == AF_INET6)
		return snprintf(buf, len, "%s [%s]:%u -> [%s]:%u zone %u", p,
				s, k->orig.sport, d, k->orig.dport, k->zone);
	return snprintf(buf, len, "%s %s:%u -> %s:%u zone %u", p, s,
			k->orig.sport, d, k->orig.dport, k->zone);
}
