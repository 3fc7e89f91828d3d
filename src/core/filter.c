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
#include <arpa/inet.h>
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

static unsigned prefix_max(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

/* The mask of a len-bit prefix, as 16 bytes. */
static void mask_bytes(unsigned len, uint8_t m[16])
{
	for (unsigned i = 0; i < 16; i++) {
		if (len >= 8 * (i + 1))
			m[i] = 0xff;
		else if (len > 8 * i)
			m[i] = (uint8_t)(0xff << (8 * (i + 1) - len));
		else
			m[i] = 0;
	}
}

static void add_prefix(struct filter *f, const struct prefix *p)
{
	uint8_t m[16];
	unsigned len = p->len;

	if (p->family != AF_INET && p->family != AF_INET6)
		return;
	if (len > prefix_max(p->family))
		len = prefix_max(p->family);
	mask_bytes(len, m);
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
struct filter *filter_new(const struct config *c, const struct prefix *local,
			  size_t nlocal)
{
	struct filter *f;
	size_t n, size;

	if (!c->filter.ignore_local)
		nlocal = 0;
	n = c->filter.nignore + nlocal;
	if (c->filter.nignore > CONFIG_MAX_PREFIXES ||
	    nlocal > (SIZE_MAX - sizeof(*f)) / (sizeof(struct net4) + sizeof(struct net6)) -
		     CONFIG_MAX_PREFIXES) {
		errno = ENOMEM;
		return NULL;
	}
	size = sizeof(*f) + n * (sizeof(struct net6) + sizeof(struct net4));
	f = calloc(1, size);
	if (!f)
		return NULL;
	memcpy(f->protocols, c->filter.protocols, sizeof(f->protocols));
	f->any_proto = !(f->protocols[0] | f->protocols[1] | f->protocols[2] |
			 f->protocols[3]);
	f->tcp_states = c->filter.tcp_states;
	f->v6 = (struct net6 *)(f + 1);
	f->v4 = (struct net4 *)(f->v6 + n);
	for (size_t i = 0; i < c->filter.nignore; i++)
		add_prefix(f, &c->filter.ignore[i]);
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

/*
 * "addr" (a host prefix) or "addr/len", len in decimal without sign or
 * spaces.  Host bits are cleared, so "192.0.2.1/24" is 192.0.2.0/24.
 * Returns 0, or -1 with *p untouched.
 */
int prefix_parse(const char *s, struct prefix *p)
{
	char a[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct prefix r;
	unsigned len;
	uint8_t m[16];

	memset(&r, 0, sizeof(r));
	if (alen == 0 || alen >= sizeof(a))
		return -1;
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, &r.addr.v4) == 1)
		r.family = AF_INET;
	else if (inet_pton(AF_INET6, a, r.addr.b) == 1)
		r.family = AF_INET6;
	else
		return -1;
	len = prefix_max(r.family);
	if (slash) {
		const char *d = slash + 1;
		size_t i;

		len = 0;
		for (i = 0; d[i]; i++) {
			if (d[i] < '0' || d[i] > '9' || i == 3)
				return -1;
			len = len * 10 + (unsigned)(d[i] - '0');
		}
		if (i == 0 || len > prefix_max(r.family))
			return -1;
	}
	r.len = (uint8_t)len;
	mask_bytes(len, m);
	for (unsigned i = 0; i < 16; i++)
		r.addr.b[i] &= m[i];
	*p = r;
	return 0;
}

bool prefix_match(const struct prefix *p, uint8_t family, const union flow_addr *a)
{
	unsigned len = p->len, full, rem;

	if (p->family != family)
		return false;
	if (len > prefix_max(family))
		len = prefix_max(family);
	full = len / 8;
	rem = len % 8;
	if (memcmp(p->addr.b, a->b, full) != 0)
		return false;
	return rem == 0 ||
	       (((p->addr.b[full] ^ a->b[full]) & (0xff << (8 - rem)) & 0xff) == 0);
}
