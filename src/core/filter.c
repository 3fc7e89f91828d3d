/*
 * filter.c - which flows are replicated.
 *
 * filter_accept() runs for every kernel event, so the configuration is
 * compiled once into what the hot path wants: the protocol and TCP state
 * bitmaps as they are, and the ignored prefixes (configured ones plus the
 * host's own addresses) split by family into (network, mask) pairs, so a
 * match is an AND and a compare per address.  A linear scan is cheaper
 * than a trie for the few dozen prefixes a configuration holds.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"

struct net4 {
	uint32_t addr, mask;		/* network order, addr & mask == addr */
};

struct net6 {
	uint64_t addr[2], mask[2];	/* the 16 bytes as two words, as stored */
};

struct filter {
	uint64_t protocols[4];
	bool     any_proto;
	uint32_t tcp_states;		/* 0: any */
	size_t   n4, n6;
	struct net4 *v4;
	struct net6 *v6;
};

static void add_prefix(struct filter *f, const struct prefix *p)
{
	uint8_t m[16];
	unsigned len = p->len;

	if (p->family != AF_INET && p->family != AF_INET6)
		return;
	if (len > prefix_max(p->family))
		len = prefix_max(p->family);
	prefix_mask(len, m);
	if (p->family == AF_INET) {
		struct net4 *n = &f->v4[f->n4++];

		memcpy(&n->mask, m, 4);
		n->addr = p->addr.v4 & n->mask;
	} else {
		struct net6 *n = &f->v6[f->n6++];

		memcpy(n->mask, m, 16);
		memcpy(n->addr, p->addr.b, 16);
		n->addr[0] &= n->mask[0];
		n->addr[1] &= n->mask[1];
	}
}

/*
 * One allocation: the struct, then the v6 array (8-byte aligned since the
 * struct holds uint64_t), then the v4 array.  Each array is sized for all
 * prefixes, which wastes a little and saves a counting pass.
 */
struct filter *filter_new(const struct filter_conf *fc, const struct prefix *local,
			  size_t nlocal)
{
	struct filter *f;
	size_t n, size;

	if (!fc->ignore_local)
		nlocal = 0;
	n = fc->nignore + nlocal;
	if (fc->nignore > FILTER_MAX_PREFIXES ||
	    nlocal > (SIZE_MAX - sizeof(*f)) / (sizeof(struct net4) + sizeof(struct net6)) -
		     FILTER_MAX_PREFIXES) {
		errno = ENOMEM;
		return NULL;
	}
	size = sizeof(*f) + n * (sizeof(struct net6) + sizeof(struct net4));
	f = calloc(1, size);
	if (!f)
		return NULL;
	memcpy(f->protocols, fc->protocols, sizeof(f->protocols));
	f->any_proto = !(f->protocols[0] | f->protocols[1] | f->protocols[2] |
			 f->protocols[3]);
	f->tcp_states = fc->tcp_states;
	f->v6 = (struct net6 *)(f + 1);
	f->v4 = (struct net4 *)(f->v6 + n);
	for (size_t i = 0; i < fc->nignore; i++)
		add_prefix(f, &fc->ignore[i]);
	for (size_t i = 0; i < nlocal; i++)
		add_prefix(f, &local[i]);
	return f;
}

void filter_free(struct filter *f)
{
	free(f);
}

static bool ignored4(const struct filter *f, uint32_t a, uint32_t b)
{
	for (size_t i = 0; i < f->n4; i++) {
		const struct net4 *n = &f->v4[i];

		if ((a & n->mask) == n->addr || (b & n->mask) == n->addr)
			return true;
	}
	return false;
}

static bool in6(const struct net6 *n, const uint64_t a[2])
{
	return (a[0] & n->mask[0]) == n->addr[0] &&
	       (a[1] & n->mask[1]) == n->addr[1];
}

static bool ignored6(const struct filter *f, const union flow_addr *src,
		     const union flow_addr *dst)
{
	uint64_t a[2], b[2];

	if (f->n6 == 0)
		return false;
	memcpy(a, src->b, 16);
	memcpy(b, dst->b, 16);
	for (size_t i = 0; i < f->n6; i++)
		if (in6(&f->v6[i], a) || in6(&f->v6[i], b))
			return true;
	return false;
}

/*
 * A TCP flow whose state is not known (no FLOW_F_PROTO, as in some
 * DESTROY events) passes the state test: the filter cannot tell, and
 * letting it through never loses the end of a replicated flow.
 */
bool filter_accept(const struct filter *f, const struct flow *flow)
{
	const struct flow_key *k = &flow->key;

	if (!f->any_proto && !(f->protocols[k->l4proto >> 6] >> (k->l4proto & 63) & 1))
		return false;
	if (k->l4proto == IPPROTO_TCP && f->tcp_states && (flow->flags & FLOW_F_PROTO) &&
	    (flow->proto_state >= 32 || !(f->tcp_states >> flow->proto_state & 1)))
		return false;
	if (k->family == AF_INET)
		return !ignored4(f, k->orig.src.v4, k->orig.dst.v4);
	if (k->family == AF_INET6)
		return !ignored6(f, &k->orig.src, &k->orig.dst);
	return true;
}
