/*
 * garp.c - announcements on the wire: the frame comes from announce.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "announce.h"
#include "garp.h"
#include "log.h"

int garp_open(void)
{
	/* Protocol 0: send only, nothing is ever queued for us to read. */
	return socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
}

int garp_send(int fd, const struct announce *a)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	uint8_t frame[128], mac[6];
	char addr[INET6_ADDRSTRLEN];
	size_t len;

	inet_ntop(a->family, &a->addr, addr, sizeof(addr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", a->ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ||
	    !(to.sll_ifindex = (int)if_nametoindex(a->ifname))) {
		log_warn("announce %s on %s", addr, a->ifname);
		return -1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (a->family == AF_INET) {
		len = garp_build(frame, sizeof(frame), mac, a->addr.v4);
		to.sll_protocol = htons(ETH_P_ARP);
	} else {
		len = una_build(frame, sizeof(frame), mac, a->addr.b);
		to.sll_protocol = htons(ETH_P_IPV6);
	}
	memcpy(to.sll_addr, frame, 6);	/* the frame's destination */
	if (sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		log_warn("announce %s on %s", addr, a->ifname);
		return -1;
	}
	return 0;
}
