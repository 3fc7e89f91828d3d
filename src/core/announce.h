/*
 * announce.h - gratuitous ARP and unsolicited neighbour advertisement
 * frames, built into a buffer.  Pure: sending is garp.c's job.
 */
#ifndef CTSYNC_ANNOUNCE_H
#define CTSYNC_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>

#define GARP_FRAME_LEN	42	/* Ethernet + ARP */
#define UNA_FRAME_LEN	86	/* Ethernet + IPv6 + NA + target LL option */

/*
 * A gratuitous ARP request for ip (network order) from mac: broadcast,
 * sender and target address both ip, so every neighbour updates its
 * cache to mac.  Returns GARP_FRAME_LEN, or 0 if len is too small.
 */
size_t garp_build(uint8_t *buf, size_t len, const uint8_t mac[6], uint32_t ip);

/*
 * An unsolicited neighbour advertisement (RFC 4861 7.2.6) for ip6 from
 * mac: to all nodes (ff02::1), source ip6, hop limit 255, Override set,
 * Solicited clear, with the target link-layer address option.
 * Returns UNA_FRAME_LEN, or 0 if len is too small.
 */
size_t una_build(uint8_t *buf, size_t len, const uint8_t mac[6], const uint8_t ip6[16]);

#endif
