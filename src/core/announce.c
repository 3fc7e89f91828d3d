/*
 * announce.c - GARP and unsolicited NA frames.
 */
#include <string.h>

#include "announce.h"

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

size_t garp_build(uint8_t *buf, size_t len, const uint8_t mac[6], uint32_t ip)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[6];
	uint8_t *p = buf;

	if (len < GARP_FRAME_LEN)
		return 0;
	p = put(p, bcast, 6);
	p = put(p, mac, 6);
	p = put16(p, 0x0806);		/* ARP */
	p = put16(p, 1);		/* Ethernet */
	p = put16(p, 0x0800);		/* IPv4 */
	*p++ = 6;
	*p++ = 4;
	p = put16(p, 1);		/* request */
	p = put(p, mac, 6);
	p = put(p, &ip, 4);
	p = put(p, zero, 6);
	put(p, &ip, 4);
	return GARP_FRAME_LEN;
}

/* One's complement sum of the ICMPv6 message and its pseudo-header. */
static uint16_t icmp6_csum(const uint8_t *src, const uint8_t *dst,
			   const uint8_t *msg, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < 16; i += 2)
		sum += (uint32_t)(src[i] << 8 | src[i + 1]) +
		       (uint32_t)(dst[i] << 8 | dst[i + 1]);
	sum += (uint32_t)len + 58;	/* upper-layer length, next header */
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(msg[i] << 8 | msg[i + 1]);
	if (len & 1)
		sum += (uint32_t)msg[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

size_t una_build(uint8_t *buf, size_t len, const uint8_t mac[6], const uint8_t ip6[16])
{
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	uint8_t *p = buf, *icmp;
	uint16_t csum;

	if (len < UNA_FRAME_LEN)
		return 0;
	p = put(p, all_nodes_mac, 6);
	p = put(p, mac, 6);
	p = put16(p, 0x86dd);		/* IPv6 */
	*p++ = 0x60;			/* version 6, class 0, flow 0 */
	*p++ = 0;
	p = put16(p, 0);
	p = put16(p, 32);		/* payload: NA 24 + option 8 */
	*p++ = 58;			/* ICMPv6 */
	*p++ = 255;			/* hop limit, as RFC 4861 requires */
	p = put(p, ip6, 16);
	p = put(p, all_nodes, 16);
	icmp = p;
	*p++ = 136;			/* neighbour advertisement */
	*p++ = 0;
	p = put16(p, 0);		/* checksum, below */
	*p++ = 0x20;			/* Override */
	*p++ = 0;
	p = put16(p, 0);
	p = put(p, ip6, 16);		/* target */
	*p++ = 2;			/* target link-layer address */
	*p++ = 1;			/* 8 bytes */
	put(p, mac, 6);
	csum = icmp6_csum(ip6, all_nodes, icmp, 32);
	put16(icmp + 2, csum);
	return UNA_FRAME_LEN;
}
