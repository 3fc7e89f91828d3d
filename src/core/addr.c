/*
 * addr.c - addresses and prefixes: parsed from text, compared, masked.
 *
 * Only numeric forms are read: the configuration names addresses, never
 * host names, so nothing here can block on a resolver.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

unsigned prefix_max(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

void prefix_mask(unsigned len, uint8_t m[16])
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
	prefix_mask(len, m);
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

int addr_parse(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	return -1;
}

const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *a = ss->ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

bool addr_is_multicast(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return IN_MULTICAST(ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr));
	return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

bool addr_is_unspecified(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

bool addr_is_broadcast(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET &&
	       ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_BROADCAST);
}

bool addr_is_v6_linklocal(const struct sockaddr_storage *ss)
{
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

	return ss->ss_family == AF_INET6 &&
	       (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MC_LINKLOCAL(a) ||
		IN6_IS_ADDR_MC_NODELOCAL(a));
}

uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

void addr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       IN6_ARE_ADDR_EQUAL(&x->sin6_addr, &y->sin6_addr);
	} else {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
}
