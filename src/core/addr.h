/*
 * addr.h - addresses and prefixes: parsed from text, compared, masked.
 * Pure.  Shared by the configuration parser (which reads them) and the
 * filter (which matches flows against them), so neither needs the other.
 *
 * The socket address helpers take AF_INET or AF_INET6 addresses, as
 * addr_parse() makes them; anything not AF_INET is read as AF_INET6
 * unless said otherwise.
 */
#ifndef CTSYNC_ADDR_H
#define CTSYNC_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "flow.h"

struct prefix {
	uint8_t family;			/* AF_INET / AF_INET6 */
	uint8_t len;			/* prefix length */
	union flow_addr addr;		/* network order, host bits cleared */
};

/*
 * "addr" (a host prefix) or "addr/len", len in decimal without sign or
 * spaces: "192.0.2.0/24", "2001:db8::1".  Host bits are cleared, so
 * "192.0.2.1/24" is 192.0.2.0/24.  Returns 0, or -1 with *p untouched.
 */
int prefix_parse(const char *s, struct prefix *p);

/* Whether a (family's address, network order) lies in p.  A length beyond
 * the family's is taken as the family's full length. */
bool prefix_match(const struct prefix *p, uint8_t family, const union flow_addr *a);

/* The longest prefix of family: 32 for AF_INET, else 128. */
unsigned prefix_max(uint8_t family);

/* The mask of a len-bit prefix as 16 bytes, network order; len past 128
 * gives all ones. */
void prefix_mask(unsigned len, uint8_t m[16]);

/* A numeric IPv4 or IPv6 address (no port, no scope) into ss, port 0.
 * Returns 0, or -1 with ss zeroed. */
int addr_parse(const char *s, struct sockaddr_storage *ss);

/* The address of ss as text into buf ("?" when it does not fit); returns
 * buf, so it can be an argument of printf. */
const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t size);

bool addr_is_multicast(const struct sockaddr_storage *ss);
bool addr_is_unspecified(const struct sockaddr_storage *ss);
/* 255.255.255.255; never true of AF_INET6. */
bool addr_is_broadcast(const struct sockaddr_storage *ss);
/* Unicast link-local, or multicast of link- or node-local scope: an
 * address that means nothing without an interface.  AF_INET6 only. */
bool addr_is_v6_linklocal(const struct sockaddr_storage *ss);

/* The port, host order. */
uint16_t addr_port(const struct sockaddr_storage *ss);
/* Set the port (host order); does nothing unless AF_INET or AF_INET6. */
void addr_set_port(struct sockaddr_storage *ss, uint16_t port);
/* Same family, address and port. */
bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
