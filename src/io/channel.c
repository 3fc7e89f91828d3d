/*
 * channel.c - UDP unicast and multicast, IPv4 and IPv6, non-blocking.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "channel.h"
#include "log.h"

struct channel {
	int fd;
	enum transport transport;
	/* The configuration's peer table (borrowed): its index is the slot. */
	const struct sockaddr_storage *peers;
	size_t npeers;
	struct sockaddr_storage group;
};

static socklen_t sa_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					: sizeof(struct sockaddr_in);
}

void channel_addr_str(const struct sockaddr_storage *a, char *buf, size_t len)
{
	addr_str(a, buf, len);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr,
		      sizeof(struct in6_addr)) == 0;
}

int channel_peer_slot(const struct channel *ch, const struct sockaddr_storage *from)
{
	for (size_t i = 0; i < ch->npeers; i++)
		if (same_addr(&ch->peers[i], from))
			return (int)i;
	return -1;
}

/* Ask for a buffer size; past rmem_max/wmem_max only root's FORCE works. */
static void set_buf(int fd, int opt, int force, uint32_t bytes, const char *what)
{
	int v = (int)bytes;

	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0)
		log_warn("sync socket: %s %u", what, bytes);
}

static int join_group(struct channel *ch, const struct config *c, unsigned ifindex)
{
	int fd = ch->fd, off = 0, one = 1;

	if (c->sync.group.ss_family == AF_INET) {
		const struct sockaddr_in *g = (const void *)&c->sync.group;
		const struct sockaddr_in *l = (const void *)&c->sync.local;
		struct ip_mreqn mr = { .imr_multiaddr = g->sin_addr,
				       .imr_address = l->sin_addr,
				       .imr_ifindex = (int)ifindex };

		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) < 0 ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof(off)) < 0 ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &one, sizeof(one)) < 0) {
			log_warn("sync socket: join multicast group");
			return -1;
		}
	} else {
		const struct sockaddr_in6 *g = (const void *)&c->sync.group;
		struct ipv6_mreq mr = { .ipv6mr_multiaddr = g->sin6_addr,
					.ipv6mr_interface = ifindex };

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof(off)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &one, sizeof(one)) < 0) {
			log_warn("sync socket: join multicast group");
			return -1;
		}
		((struct sockaddr_in6 *)&ch->group)->sin6_scope_id = ifindex;
	}
	return 0;
}

struct channel *channel_open(const struct config *c)
{
	struct channel *ch = calloc(1, sizeof(*ch));
	struct sockaddr_storage bind_to;
	unsigned ifindex = 0;
	int one = 1;

	if (!ch)
		return NULL;
	ch->transport = c->sync.transport;
	ch->npeers = c->sync.npeers;
	ch->peers = c->sync.peers;
	ch->group = c->sync.group;
	ch->fd = socket(c->sync.local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ch->fd < 0) {
		log_warn("sync socket");
		goto fail;
	}
	/* A group is shared; a unicast address is not: a second daemon
	 * bound to it would take the peer's datagrams from the first. */
	if (c->sync.transport == TRANSPORT_MULTICAST)
		setsockopt(ch->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	set_buf(ch->fd, SO_SNDBUF, SO_SNDBUFFORCE, c->sync.sndbuf, "sndbuf");
	set_buf(ch->fd, SO_RCVBUF, SO_RCVBUFFORCE, c->sync.rcvbuf, "rcvbuf");
	if (c->sync.interface[0] && !(ifindex = if_nametoindex(c->sync.interface))) {
		log_warn("sync interface %s", c->sync.interface);
		goto fail;
	}
	bind_to = c->sync.local;
	if (c->sync.transport == TRANSPORT_MULTICAST) {
		/* Bound to the group, the socket sees only the group's traffic. */
		bind_to = c->sync.group;
		if (bind_to.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&bind_to)->sin6_scope_id = ifindex;
	} else if (bind_to.ss_family == AF_INET6 && ifindex) {
		struct sockaddr_in6 *l = (struct sockaddr_in6 *)&bind_to;

		if (IN6_IS_ADDR_LINKLOCAL(&l->sin6_addr))
			l->sin6_scope_id = ifindex;
	}
	if (bind(ch->fd, (struct sockaddr *)&bind_to, sa_len(&bind_to)) < 0) {
		char a[INET6_ADDRSTRLEN];

		channel_addr_str(&bind_to, a, sizeof(a));
		if (errno == EADDRINUSE)
			log_warnx("sync socket: %s port %u is in use: another ctsyncd "
				  "(or another program) syncs from it; each instance "
				  "needs its own sync.local or sync.port", a, c->sync.port);
		else
			log_warn("sync socket: bind %s port %u", a, c->sync.port);
		goto fail;
	}
	if (c->sync.transport == TRANSPORT_MULTICAST && join_group(ch, c, ifindex) < 0)
		goto fail;
	return ch;
fail:
	channel_close(ch);
	return NULL;
}

void channel_close(struct channel *ch)
{
	if (!ch)
		return;
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch);
}

int channel_fd(const struct channel *ch)
{
	return ch->fd;
}

static int send_to(struct channel *ch, const struct sockaddr_storage *to,
		   const void *buf, size_t len)
{
	if (sendto(ch->fd, buf, len, 0, (const struct sockaddr *)to, sa_len(to)) < 0)
		return -1;
	return 0;
}

int channel_send(struct channel *ch, int i, const void *buf, size_t len)
{
	int r = 0;

	if (ch->transport == TRANSPORT_MULTICAST)
		return send_to(ch, &ch->group, buf, len);
	if (i >= 0)
		return (size_t)i < ch->npeers ? send_to(ch, &ch->peers[i], buf, len) : 0;
	for (size_t k = 0; k < ch->npeers; k++)
		if (send_to(ch, &ch->peers[k], buf, len) < 0)
			r = -1;
	return r;
}

long channel_recv(struct channel *ch, void *buf, size_t len,
		  struct sockaddr_storage *from)
{
	socklen_t fl = sizeof(*from);
	ssize_t n = recvfrom(ch->fd, buf, len, MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)from, &fl);

	return n < 0 ? -1 : (long)n;
}
