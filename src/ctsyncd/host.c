/*
 * host.c - facts about the host the daemon runs on, read once or when
 * asked: its addresses (never replicated), the role its virtual
 * addresses imply at start-up, a node id, the conntrack sysctls.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "node.h"

/* net.netfilter.nf_conntrack_events in our namespace (0: no events at
 * all, 1: for every flow, 2: only for flows created while someone
 * listens), or -1 when it cannot be read. */
int host_conntrack_events(void)
{
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_events", "r");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static size_t add_host(struct prefix *out, size_t n, size_t max,
		       const struct sockaddr_storage *a)
{
	if (n >= max)
		return n;
	if (a->ss_family == AF_INET) {
		out[n] = (struct prefix){ .family = AF_INET, .len = 32 };
		out[n++].addr.v4 = ((const struct sockaddr_in *)a)->sin_addr.s_addr;
	} else if (a->ss_family == AF_INET6) {
		out[n] = (struct prefix){ .family = AF_INET6, .len = 128 };
		memcpy(out[n++].addr.b, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
	}
	return n;
}

/* The host's addresses, as host prefixes, appended at out[n]; the new n.
 * On failure (logged) none are added. */
static size_t host_addrs(struct prefix *out, size_t n, size_t max)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0) {
		log_warn("getifaddrs");
		return n;
	}
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr)
			n = add_host(out, n, max, (const struct sockaddr_storage *)(void *)i->ifa_addr);
	freeifaddrs(ifa);
	return n;
}

/*
 * What is never replicated: the host's own addresses (flows to or from the
 * firewall itself) and the sync channel's (local, peers, multicast group:
 * the sync traffic is tracked too, and a datagram from a peer to the group
 * names neither of our addresses).
 */
size_t host_local_prefixes(const struct config *c, struct prefix *out, size_t max)
{
	size_t n = 0;

	n = add_host(out, n, max, &c->sync.local);
	n = add_host(out, n, max, &c->sync.group);
	for (size_t k = 0; k < c->sync.npeers; k++)
		n = add_host(out, n, max, &c->sync.peers[k]);
	return host_addrs(out, n, max);
}

/*
 * The role a daemon starts in, before keepalived says: keepalived holds
 * the virtual addresses on the master only, so with failover.announce
 * listing them, holding any of them means master, none backup.  Without
 * the list the role is unknown (none) until keepalived says.  Lets a hot
 * standby whose daemon restarted keep its copies current at once.
 */
enum role host_role(const struct config *c)
{
	struct prefix own[256];
	size_t n;

	if (!c->failover.nannounce)
		return ROLE_NONE;
	/* none at all (not even loopback): the lookup failed, role unknown */
	if ((n = host_addrs(own, 0, 256)) == 0)
		return ROLE_NONE;
	for (size_t k = 0; k < c->failover.nannounce; k++) {
		const struct announce *a = &c->failover.announce[k];

		for (size_t j = 0; j < n; j++)
			if (own[j].family == a->family &&
			    !memcmp(&own[j].addr, &a->addr, a->family == AF_INET ? 4 : 16))
				return ROLE_MASTER;
	}
	return ROLE_BACKUP;
}

uint32_t host_node_id(const struct config *c)
{
	const uint8_t *p = (const uint8_t *)&c->sync.local;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(c->sync.local); i++)
		h = (h ^ p[i]) * 16777619u;
	return h ? h : 1;
}

uint32_t host_random_u32(void)
{
	uint32_t v = 0;

	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	return v;
}

void host_warn_sysctl(void)
{
	int v = host_conntrack_events();

	if (v == 0)
		log_warnx("net.netfilter.nf_conntrack_events is 0: the kernel "
			  "reports no conntrack events, so no change is replicated "
			  "and this node is not ready; set it to 1");
	else if (v > 1)
		log_warnx("net.netfilter.nf_conntrack_events is %d: flows that "
			  "existed before ctsyncd started send no further events; "
			  "set it to 1", v);
}

/* Sealing counters never repeat across lives of one node id and epoch:
 * they start at the wall clock in microseconds. */
uint64_t host_realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
