/*
 * hostcheck.c - a parsed configuration against this host: addresses,
 * interfaces, directories, users and groups (ctsyncd -n, and start-up).
 *
 * Reads only: getifaddrs, if_nametoindex, stat, getpwnam, getgrnam.  The
 * parser (src/core/config.c) stays pure; this is its edge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <grp.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "hostcheck.h"

__attribute__((format(printf, 4, 5)))
static void problem(FILE *err, const struct config *c, struct config_mark at,
		    const char *fmt, ...)
{
	va_list ap;

	if (at.line)
		fprintf(err, "%s:%" PRIu32 ":%" PRIu32 ": ", c->path, at.line, at.col);
	else
		fprintf(err, "%s: ", c->path);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
}

static const void *addr_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return &((const struct sockaddr_in *)sa)->sin_addr;
}

static int check_local(const struct config *c, FILE *err)
{
	const struct sockaddr *want = (const struct sockaddr *)&c->sync.local;
	size_t alen = want->sa_family == AF_INET6 ? 16 : 4;
	char a[INET6_ADDRSTRLEN], list[4 * (INET6_ADDRSTRLEN + 2)] = "";
	struct ifaddrs *ifs, *i;
	size_t o = 0, shown = 0;
	bool found = false;

	if (want->sa_family != AF_INET && want->sa_family != AF_INET6)
		return 0;
	inet_ntop(want->sa_family, addr_of(want), a, sizeof(a));
	if (getifaddrs(&ifs) < 0) {
		fprintf(err, "%s: warning: sync.local %s not checked: cannot "
			"list this host's addresses: %s\n", c->path, a, strerror(errno));
		return 0;
	}
	for (i = ifs; i && !found; i = i->ifa_next) {
		char b[INET6_ADDRSTRLEN];

		if (!i->ifa_addr || i->ifa_addr->sa_family != want->sa_family)
			continue;
		if (memcmp(addr_of(i->ifa_addr), addr_of(want), alen) == 0) {
			found = true;
		} else if (shown < 4 && !(i->ifa_flags & IFF_LOOPBACK) &&
			   inet_ntop(want->sa_family, addr_of(i->ifa_addr), b, sizeof(b))) {
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
					      shown ? ", " : "", b);
			shown++;
		}
	}
	freeifaddrs(ifs);
	if (found)
		return 0;
	problem(err, c, c->at.local, "sync.local %s is not an address of this host "
		"(add it to the sync interface first, or set local to %s%s)", a,
		shown ? "one of this host's: " : "an address of this host",
		list);
	return 1;
}

static int check_ifname(const struct config *c, struct config_mark at,
			const char *key, const char *ifname, FILE *err)
{
	if (if_nametoindex(ifname))
		return 0;
	if (errno == ENODEV || errno == ENXIO)
		problem(err, c, at, "%s: no interface \"%s\" on this host "
			"(correct the name, see \"ip link\", or create it "
			"before ctsyncd starts)", key, ifname);
	else
		problem(err, c, at, "%s: interface \"%s\": %s", key, ifname,
			strerror(errno));
	return 1;
}

/* The daemon creates the socket's directory, one level, if it is missing
 * (control.c): what must exist is that directory or its parent. */
static int check_socket_dir(const struct config *c, FILE *err)
{
	char dir[sizeof(c->control.socket)], *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", c->control.socket);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		problem(err, c, c->at.socket, "control.socket %s: %s is not a "
			"directory (choose another path)", c->control.socket, dir);
		return 1;
	}
	if (errno == ENOENT) {
		char *up = strrchr(dir, '/');
		char parent[sizeof(dir)];

		snprintf(parent, sizeof(parent), "%.*s", up == dir ? 1 : (int)(up - dir), dir);
		if (stat(parent, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		problem(err, c, c->at.socket, "control.socket %s: directory %s "
			"does not exist, nor does %s (ctsyncd creates only the "
			"last level: create %s, or choose another path)",
			c->control.socket, dir, parent, parent);
		return 1;
	}
	problem(err, c, c->at.socket, "control.socket %s: directory %s: %s",
		c->control.socket, dir, strerror(errno));
	return 1;
}

static int check_user(const struct config *c, FILE *err)
{
	if (!c->user[0])
		return 0;
	errno = 0;
	if (getpwnam(c->user))
		return 0;
	if (errno == 0 || errno == ENOENT || errno == ESRCH)
		problem(err, c, c->at.user, "user \"%s\" does not exist on this host "
			"(create it, e.g. useradd --system --no-create-home %s, "
			"or leave user empty)", c->user, c->user);
	else
		problem(err, c, c->at.user, "user \"%s\": %s", c->user, strerror(errno));
	return 1;
}

static int check_group(const struct config *c, FILE *err)
{
	if (!c->control.group[0])
		return 0;
	errno = 0;
	if (getgrnam(c->control.group))
		return 0;
	if (errno == 0 || errno == ENOENT || errno == ESRCH)
		problem(err, c, c->at.ctl_group, "control.group \"%s\" does not exist "
			"on this host (create it, e.g. groupadd --system %s, or "
			"leave group empty)", c->control.group, c->control.group);
	else
		problem(err, c, c->at.ctl_group, "control.group \"%s\": %s",
			c->control.group, strerror(errno));
	return 1;
}

int hostcheck(const struct config *c, FILE *err)
{
	int n = 0;

	n += check_local(c, err);
	if (c->sync.interface[0])
		n += check_ifname(c, c->at.interface, "sync.interface",
				  c->sync.interface, err);
	for (size_t i = 0; i < c->failover.nannounce; i++)
		n += check_ifname(c, c->at.announce[i], "failover.announce",
				  c->failover.announce[i].ifname, err);
	n += check_socket_dir(c, err);
	n += check_user(c, err);
	n += check_group(c, err);
	return n;
}
