/*
 * test_config.c - config_defaults, config_parse and config_print.
 *
 * Runs with the working directory tests/: the examples are read from
 * ../conf, the golden files from data/config (bad-*.yaml, each with the
 * exact expected messages in bad-*.err).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"

#define GOLDEN_DIR "data/config"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		fail_msg("cannot open %s", path);
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Parse s; *errs gets the messages (caller frees). */
static int parse(struct config *c, const char *name, const char *s, size_t len,
		 char **errs)
{
	size_t elen;
	FILE *err = open_memstream(errs, &elen);
	int n;

	assert_non_null(err);
	n = config_parse(c, name, s, len, err);
	fclose(err);
	return n;
}

static int parse_str(struct config *c, const char *s, char **errs)
{
	return parse(c, "t.yaml", s, strlen(s), errs);
}

/* Parse s and expect no error. */
static void parse_ok(struct config *c, const char *s)
{
	char *errs;
	int n = parse_str(c, s, &errs);

	if (n != 0)
		fail_msg("unexpected errors:\n%s", errs);
	free(errs);
}

/* Parse s and expect exactly the messages want. */
static void parse_bad(const char *s, const char *want)
{
	struct config c;
	char *errs;
	int n = parse_str(&c, s, &errs);
	int lines = 0;

	for (const char *p = want; *p; p++)
		lines += *p == '\n';
	if (strcmp(errs, want) != 0)
		fail_msg("for:\n%s\nwant:\n%sgot:\n%s", s, want, errs);
	assert_int_equal(n, lines);
	free(errs);
}

static const char *ntop(const struct sockaddr_storage *ss, char *buf)
{
	const void *a = ss->ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
		return "-";
	return inet_ntop(ss->ss_family, a, buf, INET6_ADDRSTRLEN);
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void assert_addr(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	char buf[INET6_ADDRSTRLEN];

	assert_string_equal(ntop(ss, buf), addr);
	assert_int_equal(port_of(ss), port);
}

static bool proto_set(const struct config *c, unsigned p)
{
	return c->filter.protocols[p / 64] >> (p % 64) & 1;
}

static unsigned nprotos(const struct config *c)
{
	unsigned n = 0;

	for (unsigned p = 0; p < 256; p++)
		n += proto_set(c, p);
	return n;
}

static void roundtrip(const char *name, const char *text, size_t len);

#define MINIMAL "sync:\n  local: 192.0.2.1\n  peers: [192.0.2.2]\n"

/* ---- defaults and the shipped examples ---------------------------------- */

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	assert_string_equal(c.path, "");
	assert_int_equal(c.node_id, 0);
	assert_int_equal(c.sync.transport, TRANSPORT_UDP);
	assert_string_equal(c.sync.interface, "");
	assert_int_equal(c.sync.local.ss_family, 0);
	assert_int_equal(c.failover.standby, STANDBY_HOT);
	assert_int_equal(c.kernel.collect_us, 1000);
	assert_int_equal(c.rt_priority, 0);
	assert_int_equal(c.sync.group.ss_family, 0);
	assert_int_equal(c.sync.npeers, 0);
	assert_int_equal(c.sync.port, 3780);
	assert_int_equal(c.sync.mtu, 1500);
	assert_int_equal(c.sync.heartbeat_ms, 250);
	assert_int_equal(c.sync.ack_ms, 10);
	assert_int_equal(c.sync.peer_timeout_ms, 3000);
	assert_int_equal(c.sync.window, 4096);
	assert_int_equal(c.sync.sndbuf, 8u << 20);
	assert_int_equal(c.sync.rcvbuf, 8u << 20);
	assert_int_equal(c.kernel.event_buffer, 64u << 20);
	assert_int_equal(c.kernel.commit_batch, 256);
	assert_int_equal(nprotos(&c), 0);
	assert_int_equal(c.filter.tcp_states, 0);
	assert_int_equal(c.filter.nignore, 0);
	assert_true(c.filter.ignore_local);
	assert_int_equal(c.cache.max_entries, 0);
	assert_string_equal(c.control.socket, "/run/ctsyncd/ctsyncd.sock");
	assert_string_equal(c.control.group, "");
	assert_int_equal(c.control.mode, 0660);
	assert_int_equal(c.log.verbose, 0);
	assert_false(c.log.syslog);
}

/* A minimal file gives the defaults plus what it sets. */
static void test_minimal_is_defaults(void **state)
{
	struct config c, d;

	(void)state;
	parse_ok(&c, MINIMAL);
	config_defaults(&d);
	assert_string_equal(c.path, "t.yaml");
	assert_int_equal(c.sync.npeers, 1);
	assert_addr(&c.sync.local, "192.0.2.1", 3780);
	assert_addr(&c.sync.peers[0], "192.0.2.2", 3780);
	assert_memory_equal(&c.filter, &d.filter, sizeof(c.filter));
	assert_memory_equal(&c.kernel, &d.kernel, sizeof(c.kernel));
	assert_memory_equal(&c.cache, &d.cache, sizeof(c.cache));
	assert_memory_equal(&c.control, &d.control, sizeof(c.control));
	assert_memory_equal(&c.log, &d.log, sizeof(c.log));
	assert_int_equal(c.sync.window, d.sync.window);
	assert_int_equal(c.sync.mtu, d.sync.mtu);
}

static void test_example_unicast(void **state)
{
	struct config c;
	char *errs, *buf;
	size_t len;

	(void)state;
	buf = slurp("../conf/ctsyncd.yaml", &len);
	if (parse(&c, "ctsyncd.yaml", buf, len, &errs) != 0)
		fail_msg("../conf/ctsyncd.yaml:\n%s", errs);
	free(errs);
	free(buf);

	assert_string_equal(c.path, "ctsyncd.yaml");
	assert_int_equal(c.node_id, 1);
	assert_int_equal(c.sync.transport, TRANSPORT_UDP);
	assert_addr(&c.sync.local, "192.0.2.1", 3780);
	assert_int_equal(c.sync.npeers, 1);
	assert_addr(&c.sync.peers[0], "192.0.2.2", 3780);
	assert_int_equal(c.sync.group.ss_family, 0);
	assert_string_equal(c.sync.interface, "");
	assert_int_equal(c.sync.port, 3780);
	assert_int_equal(c.sync.mtu, 1500);
	assert_int_equal(c.sync.heartbeat_ms, 250);
	assert_int_equal(c.sync.ack_ms, 10);
	assert_int_equal(c.sync.peer_timeout_ms, 3000);
	assert_int_equal(c.sync.window, 4096);
	assert_int_equal(c.sync.sndbuf, 8u << 20);
	assert_int_equal(c.sync.rcvbuf, 8u << 20);
	assert_int_equal(c.kernel.event_buffer, 64u << 20);
	assert_int_equal(c.kernel.commit_batch, 256);

	assert_int_equal(nprotos(&c), 5);
	assert_true(proto_set(&c, IPPROTO_TCP));
	assert_true(proto_set(&c, IPPROTO_UDP));
	assert_true(proto_set(&c, IPPROTO_ICMP));
	assert_true(proto_set(&c, IPPROTO_ICMPV6));
	assert_true(proto_set(&c, IPPROTO_SCTP));
	assert_int_equal(c.filter.tcp_states, 0);
	assert_int_equal(c.filter.nignore, 2);
	assert_int_equal(c.filter.ignore[0].family, AF_INET);
	assert_int_equal(c.filter.ignore[0].len, 8);
	assert_int_equal(c.filter.ignore[0].addr.v4, htonl(0x7f000000));
	assert_int_equal(c.filter.ignore[1].family, AF_INET6);
	assert_int_equal(c.filter.ignore[1].len, 128);
	assert_int_equal(c.filter.ignore[1].addr.b[15], 1);
	assert_true(c.filter.ignore_local);

	assert_int_equal(c.cache.max_entries, 0);
	assert_string_equal(c.control.socket, "/run/ctsyncd/ctsyncd.sock");
	assert_string_equal(c.control.group, "");
	assert_int_equal(c.control.mode, 0660);
	assert_int_equal(c.log.verbose, 0);
	assert_false(c.log.syslog);
}

static void test_example_multicast(void **state)
{
	struct config c;
	char *errs, *buf;
	size_t len;

	(void)state;
	buf = slurp("../conf/ctsyncd-multicast.yaml", &len);
	if (parse(&c, "ctsyncd-multicast.yaml", buf, len, &errs) != 0)
		fail_msg("../conf/ctsyncd-multicast.yaml:\n%s", errs);
	free(errs);
	free(buf);

	assert_int_equal(c.sync.transport, TRANSPORT_MULTICAST);
	assert_addr(&c.sync.local, "192.0.2.1", 3780);
	assert_addr(&c.sync.group, "239.255.37.80", 3780);
	assert_string_equal(c.sync.interface, "sync0");
	assert_int_equal(c.sync.npeers, 0);
	assert_int_equal(nprotos(&c), 0);
	assert_int_equal(c.filter.nignore, 2);
	assert_int_equal(c.filter.ignore[1].family, AF_INET6);
}

/* ---- golden files ------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every bad-*.yaml gives exactly the messages of its bad-*.err. */
static void test_golden(void **state)
{
	DIR *d = opendir(GOLDEN_DIR);
	struct dirent *de;
	char *names[256];
	size_t n = 0, failed = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (strncmp(de->d_name, "bad-", 4) == 0 && l > 5 &&
		    strcmp(de->d_name + l - 5, ".yaml") == 0) {
			assert_true(n < sizeof(names) / sizeof(names[0]));
			names[n] = strdup(de->d_name);
			assert_non_null(names[n]);
			n++;
		}
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	assert_true(n >= 13);

	for (size_t i = 0; i < n; i++) {
		char path[512], *yaml, *want, *got;
		size_t ylen, wlen;
		struct config c;
		int nerr, lines = 0;

		snprintf(path, sizeof(path), GOLDEN_DIR "/%s", names[i]);
		yaml = slurp(path, &ylen);
		snprintf(path + strlen(path) - 5, 6, ".err");
		want = slurp(path, &wlen);
		nerr = parse(&c, names[i], yaml, ylen, &got);
		for (size_t j = 0; j < wlen; j++)
			lines += want[j] == '\n';
		if (strcmp(got, want) != 0 || nerr != lines || nerr == 0) {
			print_error("%s: %d errors\n--- want\n%s--- got\n%s", names[i],
				    nerr, want, got);
			failed++;
		}
		free(yaml);
		free(want);
		free(got);
		free(names[i]);
	}
	assert_int_equal(failed, 0);
}

/* ---- values ------------------------------------------------------------- */

static void test_sizes(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, MINIMAL "  sndbuf: 65536\n  rcvbuf: 1G\n"
		 "kernel:\n  event_buffer: 512k\n");
	assert_int_equal(c.sync.sndbuf, 65536);
	assert_int_equal(c.sync.rcvbuf, 1u << 30);
	assert_int_equal(c.kernel.event_buffer, 512u << 10);
	parse_ok(&c, MINIMAL "  sndbuf: 64K\n  rcvbuf: \"2m\"\n");
	assert_int_equal(c.sync.sndbuf, 64u << 10);
	assert_int_equal(c.sync.rcvbuf, 2u << 20);

	parse_bad(MINIMAL "  sndbuf: 65535\n",
		  "t.yaml:4:11: sndbuf 65535 out of range 64K-1G\n");
	parse_bad(MINIMAL "  rcvbuf: 2G\n",
		  "t.yaml:4:11: rcvbuf 2G out of range 64K-1G\n");
	parse_bad(MINIMAL "  rcvbuf: 99999999999999999999999G\n",
		  "t.yaml:4:11: rcvbuf 99999999999999999999999G out of range 64K-1G\n");
	parse_bad(MINIMAL "  rcvbuf: 8MB\n",
		  "t.yaml:4:11: rcvbuf \"8MB\" is not a size 64K-1G (bytes, or with "
		  "suffix K, M or G)\n");
	parse_bad(MINIMAL "  rcvbuf: M\n",
		  "t.yaml:4:11: rcvbuf \"M\" is not a size 64K-1G (bytes, or with "
		  "suffix K, M or G)\n");
	parse_bad(MINIMAL "  window: 1K\n",
		  "t.yaml:4:11: window \"1K\" is not an integer 1-1048576\n");
}

static void test_integers(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, "node_id: 4294967295\n" MINIMAL "  port: 65535\n  mtu: 576\n"
		 "  heartbeat_ms: 10\n  ack_ms: 1000\n  peer_timeout_ms: 600000\n"
		 "  window: 1048576\nkernel:\n  commit_batch: 4096\n"
		 "cache:\n  max_entries: 4294967295\n");
	assert_int_equal(c.node_id, 4294967295u);
	assert_int_equal(c.sync.port, 65535);
	assert_addr(&c.sync.local, "192.0.2.1", 65535);
	assert_addr(&c.sync.peers[0], "192.0.2.2", 65535);
	assert_int_equal(c.sync.mtu, 576);
	assert_int_equal(c.sync.heartbeat_ms, 10);
	assert_int_equal(c.sync.ack_ms, 1000);
	assert_int_equal(c.sync.peer_timeout_ms, 600000);
	assert_int_equal(c.sync.window, 1048576);
	assert_int_equal(c.kernel.commit_batch, 4096);
	assert_int_equal(c.cache.max_entries, 4294967295u);

	parse_bad("node_id: 4294967296\n" MINIMAL,
		  "t.yaml:1:10: node_id 4294967296 out of range 1-4294967295\n");
	parse_bad(MINIMAL "  ack_ms: 0x10\n",
		  "t.yaml:4:11: ack_ms \"0x10\" is not an integer 1-1000\n");
	parse_bad(MINIMAL "  ack_ms: 1.5\n",
		  "t.yaml:4:11: ack_ms \"1.5\" is not an integer 1-1000\n");
	parse_bad(MINIMAL "  ack_ms:\n",
		  "t.yaml:4:10: ack_ms has no value (expected an integer 1-1000)\n");
	parse_bad(MINIMAL "kernel:\n  commit_batch: 4097\n",
		  "t.yaml:5:17: commit_batch 4097 out of range 1-4096\n");
	parse_bad(MINIMAL "  heartbeat_ms: 3000\n",
		  "t.yaml:4:17: peer_timeout_ms 3000 must be greater than "
		  "heartbeat_ms 3000\n");
}

static void test_booleans_and_enums(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, MINIMAL "filter:\n  ignore_local: no\nlog:\n  syslog: YES\n"
		 "  level: Debug\n");
	assert_false(c.filter.ignore_local);
	assert_true(c.log.syslog);
	assert_int_equal(c.log.verbose, 1);
	parse_ok(&c, MINIMAL "filter:\n  ignore_local: False\nlog:\n  syslog: true\n");
	assert_false(c.filter.ignore_local);
	assert_true(c.log.syslog);
	parse_bad(MINIMAL "log:\n  syslog: on\n",
		  "t.yaml:5:11: syslog \"on\" is not a boolean (expected true, "
		  "false, yes or no)\n");
	parse_bad(MINIMAL "log:\n  syslog: 1\n",
		  "t.yaml:5:11: syslog \"1\" is not a boolean (expected true, "
		  "false, yes or no)\n");
	parse_ok(&c, MINIMAL "kernel:\n  collect_us: 0\n");
	assert_int_equal(c.kernel.collect_us, 0);
	parse_bad(MINIMAL "kernel:\n  collect_us: 10001\n",
		  "t.yaml:5:15: collect_us 10001 out of range 0-10000\n");
	parse_ok(&c, MINIMAL "failover:\n  standby: Cold\n");
	assert_int_equal(c.failover.standby, STANDBY_COLD);
	parse_ok(&c, MINIMAL "failover:\n  standby: hot\n");
	assert_int_equal(c.failover.standby, STANDBY_HOT);
	parse_bad(MINIMAL "failover:\n  standby: warm\n",
		  "t.yaml:5:12: standby \"warm\" is not valid (expected hot or cold)\n");
}

static void test_peers(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, "sync:\n  local: 192.0.2.1\n  port: 4000\n"
		 "  peers: [192.0.2.2, 192.0.2.3:4001, 192.0.2.4:4000]\n");
	assert_int_equal(c.sync.npeers, 3);
	assert_addr(&c.sync.local, "192.0.2.1", 4000);
	assert_addr(&c.sync.peers[0], "192.0.2.2", 4000);
	assert_addr(&c.sync.peers[1], "192.0.2.3", 4001);
	assert_addr(&c.sync.peers[2], "192.0.2.4", 4000);

	/* A single address without a list. */
	parse_ok(&c, "sync:\n  local: 192.0.2.1\n  peers: 192.0.2.2\n");
	assert_int_equal(c.sync.npeers, 1);

	/* Two daemons on one host, told apart by port. */
	parse_ok(&c, "sync:\n  local: 127.0.0.1\n  peers: [127.0.0.1:3781]\n");
	assert_addr(&c.sync.peers[0], "127.0.0.1", 3781);

	parse_ok(&c, "sync:\n  local: 2001:db8::1\n  peers:\n"
		 "    - \"[2001:db8::2]:3781\"\n    - 2001:db8::3\n    - \"[2001:db8::4]\"\n");
	assert_int_equal(c.sync.npeers, 3);
	assert_addr(&c.sync.local, "2001:db8::1", 3780);
	assert_addr(&c.sync.peers[0], "2001:db8::2", 3781);
	assert_addr(&c.sync.peers[1], "2001:db8::3", 3780);
	assert_addr(&c.sync.peers[2], "2001:db8::4", 3780);

	/* Where a bare IPv6 address could be address:port, brackets say
	 * which (bad-ambiguous-port.yaml has the refusals). */
	parse_ok(&c, "sync:\n  local: 2001:db8::1\n  peers:\n"
		 "    - \"[2001:db8::2]:3781\"\n    - \"[2001:db8::2:3781]\"\n"
		 "    - 2001:db8:0:0:0:0:3:3781\n    - 2001:db8::1000\n");
	assert_int_equal(c.sync.npeers, 4);
	assert_addr(&c.sync.peers[0], "2001:db8::2", 3781);
	assert_addr(&c.sync.peers[1], "2001:db8::2:3781", 3780);
	assert_addr(&c.sync.peers[2], "2001:db8::3:3781", 3780);
	assert_addr(&c.sync.peers[3], "2001:db8::1000", 3780);
	roundtrip("t.yaml", "sync:\n  local: 2001:db8::1\n  peers: [\"[2001:db8::2:3781]\"]\n",
		  strlen("sync:\n  local: 2001:db8::1\n  peers: [\"[2001:db8::2:3781]\"]\n"));

	parse_bad("sync:\n  local: 192.0.2.1\n  peers: [\"[192.0.2.2]:1\", \"[::1\", "
		  "\"[::1]x\", \"[::1]:\", \":1\", 192.0.2.2:65536, 239.1.1.1]\n",
		  "t.yaml:3:11: peer \"[192.0.2.2]:1\" is not an address (IPv4 or IPv6, "
		  "optionally as v4addr:port or [v6addr]:port)\n"
		  "t.yaml:3:28: peer \"[::1\" is not an address (IPv4 or IPv6, "
		  "optionally as v4addr:port or [v6addr]:port)\n"
		  "t.yaml:3:36: peer \"[::1]x\" is not an address (IPv4 or IPv6, "
		  "optionally as v4addr:port or [v6addr]:port)\n"
		  "t.yaml:3:46: peer \"[::1]:\" is not an address (IPv4 or IPv6, "
		  "optionally as v4addr:port or [v6addr]:port)\n"
		  "t.yaml:3:56: peer \":1\" is not an address (IPv4 or IPv6, "
		  "optionally as v4addr:port or [v6addr]:port)\n"
		  "t.yaml:3:62: peer \"192.0.2.2:65536\": port out of range 1-65535\n"
		  "t.yaml:3:79: peer \"239.1.1.1\" is a multicast address (for "
		  "multicast use transport multicast and group)\n");
	parse_bad("sync:\n  local: 192.0.2.1\n  peers: [192.0.2.1]\n",
		  "t.yaml:3:11: peer 192.0.2.1 port 3780 is the local address\n");
	parse_bad("sync:\n  local: 192.0.2.1\n  peers: [192.0.2.2, 192.0.2.2:3780]\n",
		  "t.yaml:3:22: peer 192.0.2.2 port 3780 is listed twice (first at 3:11)\n");
}

static void test_peer_limit(void **state)
{
	char buf[2048];
	size_t o;
	struct config c;

	(void)state;
	o = (size_t)snprintf(buf, sizeof(buf), "sync:\n  local: 10.0.0.1\n  peers:\n");
	for (int i = 0; i < CTSYNC_MAX_PEERS; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "    - 10.0.1.%d\n", i);
	parse_ok(&c, buf);
	assert_int_equal(c.sync.npeers, CTSYNC_MAX_PEERS);
	assert_addr(&c.sync.peers[CTSYNC_MAX_PEERS - 1], "10.0.1.15", 3780);

	snprintf(buf + o, sizeof(buf) - o, "    - 10.0.2.1\n    - 10.0.2.2\n");
	parse_bad(buf, "t.yaml:20:7: peers: more than 16 addresses\n");
}

static void test_ignore_limit(void **state)
{
	char buf[4096];
	size_t o;
	struct config c;

	(void)state;
	o = (size_t)snprintf(buf, sizeof(buf), MINIMAL "filter:\n  ignore:\n");
	for (int i = 0; i < CONFIG_MAX_PREFIXES; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "    - 10.%d.0.0/16\n", i);
	parse_ok(&c, buf);
	assert_int_equal(c.filter.nignore, CONFIG_MAX_PREFIXES);
	assert_int_equal(c.filter.ignore[63].len, 16);
	assert_int_equal(c.filter.ignore[63].addr.v4, htonl(0x0a3f0000));

	snprintf(buf + o, sizeof(buf) - o, "    - 11.0.0.0/8\n");
	parse_bad(buf, "t.yaml:70:7: ignore: more than 64 prefixes\n");
}

static void test_filter_values(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, MINIMAL "filter:\n  protocols: [TCP, 0, 255, gre, udplite, dccp]\n"
		 "  tcp_states: [none, SYN_SENT2, Established]\n"
		 "  ignore: [192.0.2.77/24, \"::/0\", 2001:db8::1]\n");
	assert_int_equal(nprotos(&c), 6);
	assert_true(proto_set(&c, 0));
	assert_true(proto_set(&c, 255));
	assert_true(proto_set(&c, IPPROTO_TCP));
	assert_true(proto_set(&c, IPPROTO_GRE));
	assert_true(proto_set(&c, IPPROTO_UDPLITE));
	assert_true(proto_set(&c, IPPROTO_DCCP));
	assert_int_equal(c.filter.tcp_states, 1u << 0 | 1u << 9 | 1u << 3);
	assert_int_equal(c.filter.nignore, 3);
	assert_int_equal(c.filter.ignore[0].addr.v4, htonl(0xc0000200));
	assert_int_equal(c.filter.ignore[0].len, 24);
	assert_int_equal(c.filter.ignore[1].family, AF_INET6);
	assert_int_equal(c.filter.ignore[1].len, 0);
	assert_int_equal(c.filter.ignore[2].len, 128);

	/* Empty lists mean "all". */
	parse_ok(&c, MINIMAL "filter:\n  protocols: []\n  tcp_states:\n  ignore: []\n");
	assert_int_equal(nprotos(&c), 0);
	assert_int_equal(c.filter.tcp_states, 0);
	assert_int_equal(c.filter.nignore, 0);

	parse_bad(MINIMAL "filter:\n  protocols: [tcp, ~]\n",
		  "t.yaml:5:20: protocols has no value (expected tcp, udp, icmp, "
		  "icmpv6, sctp, dccp, gre, udplite or a number 0-255)\n");
	parse_bad(MINIMAL "filter:\n  protocols: {tcp: 1}\n",
		  "t.yaml:5:14: protocols: expected a list of protocols, not a mapping\n");
}

static void test_control(void **state)
{
	struct config c;
	char path[200];

	(void)state;
	parse_ok(&c, MINIMAL "control:\n  socket: /tmp/x.sock\n  group: ctctl\n  mode: 660\n");
	assert_string_equal(c.control.socket, "/tmp/x.sock");
	assert_string_equal(c.control.group, "ctctl");
	assert_int_equal(c.control.mode, 0660);
	parse_ok(&c, MINIMAL "control:\n  group:\n  mode: 0o600\n");
	assert_string_equal(c.control.group, "");
	assert_int_equal(c.control.mode, 0600);
	parse_ok(&c, MINIMAL "control:\n  mode: 0\n");
	assert_int_equal(c.control.mode, 0);

	parse_bad(MINIMAL "control:\n  mode: 1777\n",
		  "t.yaml:5:9: mode \"1777\" is not an octal file mode 0000-0777 (e.g. 0660)\n");
	parse_bad(MINIMAL "control:\n  mode: 00660\n",
		  "t.yaml:5:9: mode \"00660\" is not an octal file mode 0000-0777 (e.g. 0660)\n");
	parse_bad(MINIMAL "control:\n  group: \"a b\"\n",
		  "t.yaml:5:10: group \"a b\" is not a group name (printable ASCII "
		  "without spaces or ':', at most 31 bytes)\n");

	/* sun_path holds 107 bytes and the NUL. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	{
		char buf[512];

		snprintf(buf, sizeof(buf), MINIMAL "control:\n  socket: %.107s\n", path);
		parse_ok(&c, buf);
		assert_int_equal(strlen(c.control.socket), 107);
		snprintf(buf, sizeof(buf), MINIMAL "control:\n  socket: %.108s\n", path);
		parse_bad(buf, "t.yaml:5:11: socket \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			  "...\" is too long: 108 bytes, at most 107 (the size of a "
			  "UNIX socket address)\n");
		/* Not absolute is said so, whatever the length. */
		snprintf(buf, sizeof(buf), MINIMAL "control:\n  socket: %.108s\n", path + 1);
		parse_bad(buf, "t.yaml:5:11: socket \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			  "...\" is not an absolute path (printable ASCII, at most 107 bytes)\n");
	}
}

static void test_interface(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, MINIMAL "  interface: eth0.100\n");
	assert_string_equal(c.sync.interface, "eth0.100");
	parse_ok(&c, MINIMAL "  interface: abcdefghijklmno\n");
	assert_string_equal(c.sync.interface, "abcdefghijklmno");
	parse_bad(MINIMAL "  interface: abcdefghijklmnop\n",
		  "t.yaml:4:14: interface \"abcdefghijklmnop\" is not an interface name "
		  "(1-15 printable characters, no '/', ':' or spaces)\n");
	parse_bad(MINIMAL "  interface: eth0:1\n",
		  "t.yaml:4:14: interface \"eth0:1\" is not an interface name "
		  "(1-15 printable characters, no '/', ':' or spaces)\n");
}

static void test_ipv6(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, "sync:\n  local: fe80::1\n  peers: [fe80::2]\n  interface: sync0\n");
	assert_addr(&c.sync.local, "fe80::1", 3780);
	assert_addr(&c.sync.peers[0], "fe80::2", 3780);
	parse_bad("sync:\n  local: fe80::1\n  peers: [fe80::2]\n",
		  "t.yaml:2:10: local fe80::1 is link-local and needs \"interface\"\n"
		  "t.yaml:3:11: peer fe80::2 is link-local and needs \"interface\"\n");

	parse_ok(&c, "sync:\n  transport: multicast\n  local: 2001:db8::1\n"
		 "  group: ff02::3780\n  interface: sync0\n");
	assert_int_equal(c.sync.transport, TRANSPORT_MULTICAST);
	assert_addr(&c.sync.group, "ff02::3780", 3780);
	parse_ok(&c, "sync:\n  transport: multicast\n  local: 2001:db8::1\n"
		 "  group: ff05::3780\n");
	parse_bad("sync:\n  transport: multicast\n  local: 2001:db8::1\n"
		  "  group: 239.1.1.1\n",
		  "t.yaml:4:10: group 239.1.1.1 is IPv4 but local 2001:db8::1 is IPv6\n");
	parse_bad("sync:\n  transport: multicast\n  local: 192.0.2.1\n"
		  "  group: 192.0.2.2\n",
		  "t.yaml:4:10: group \"192.0.2.2\" is not a multicast address "
		  "(expected 224.0.0.0/4 or ff00::/8)\n");
}

/* Where host-checked values were given (src/io/hostcheck.c quotes it);
 * defaults have line 0. */
static void test_marks(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, "user: ctsync\nsync:\n  transport: multicast\n"
		 "  local: 192.0.2.1\n  group: 239.1.1.1\n  interface: sync0\n"
		 "control:\n  socket: /run/x/c.sock\n  group: ctl\n"
		 "failover:\n  announce: [\"eth0 192.0.2.9\", \"eth1 192.0.2.10\"]\n");
	assert_int_equal(c.at.user.line, 1);
	assert_int_equal(c.at.user.col, 7);
	assert_int_equal(c.at.local.line, 4);
	assert_int_equal(c.at.local.col, 10);
	assert_int_equal(c.at.interface.line, 6);
	assert_int_equal(c.at.interface.col, 14);
	assert_int_equal(c.at.socket.line, 8);
	assert_int_equal(c.at.socket.col, 11);
	assert_int_equal(c.at.ctl_group.line, 9);
	assert_int_equal(c.at.ctl_group.col, 10);
	assert_int_equal(c.at.announce[0].line, 11);
	assert_int_equal(c.at.announce[0].col, 14);
	assert_int_equal(c.at.announce[1].col, 32);

	parse_ok(&c, MINIMAL);
	assert_int_equal(c.at.local.line, 2);
	assert_int_equal(c.at.user.line, 0);
	assert_int_equal(c.at.socket.line, 0);
	assert_int_equal(c.at.interface.line, 0);
}

/* ---- parser edge cases -------------------------------------------------- */

static void test_empty(void **state)
{
	static const char *const inputs[] = { "", "# nothing\n", "---\n", "~\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		parse_bad(inputs[i],
			  "t.yaml:1:1: missing key \"local\" in \"sync\" (required: "
			  "the address to bind and send from)\n"
			  "t.yaml:1:1: transport udp needs at least one address in "
			  "\"peers\"\n");
	parse_bad("sync:\n",
		  "t.yaml:1:1: missing key \"local\" in \"sync\" (required: "
		  "the address to bind and send from)\n"
		  "t.yaml:1:1: transport udp needs at least one address in \"peers\"\n");
}

/* The buffer is not a C string: nothing past len is read. */
static void test_not_terminated(void **state)
{
	static const char text[] = MINIMAL "  window: 12";
	char *buf = malloc(sizeof(text) - 1);
	struct config c;
	char *errs;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, text, sizeof(text) - 1);
	assert_int_equal(parse(&c, "t.yaml", buf, sizeof(text) - 1, &errs), 0);
	assert_int_equal(c.sync.window, 12);
	free(errs);
	/* Cut in the middle of the value. */
	assert_int_equal(parse(&c, "t.yaml", buf, sizeof(text) - 2, &errs), 0);
	assert_int_equal(c.sync.window, 1);
	free(errs);
	free(buf);
}

static void test_nul_in_buffer(void **state)
{
	static const char text[] = "sync:\n  local: 192.0.2.1\0\n";

	(void)state;
	struct config c;
	char *errs;

	assert_int_equal(parse(&c, "t.yaml", text, sizeof(text) - 1, &errs), 1);
	assert_string_equal(errs, "t.yaml:2:19: invalid YAML input: control "
			    "characters are not allowed (0x00)\n");
	free(errs);
}

static void test_null_err_and_name(void **state)
{
	struct config c;

	(void)state;
	/* An unknown key, then a syntax error. */
	assert_int_equal(config_parse(&c, "x", "window: [", 9, NULL), 2);
	assert_int_equal(config_parse(&c, NULL, NULL, 0, NULL), 2);
	assert_int_equal(config_parse(&c, "x", MINIMAL, strlen(MINIMAL), NULL), 0);
}

static void test_aliases_and_keys(void **state)
{
	(void)state;
	parse_bad("sync:\n  local: &a 192.0.2.1\n  peers: [*a]\n",
		  "t.yaml:3:11: peers: expected an address (IPv4 or IPv6, "
		  "optionally as v4addr:port or [v6addr]:port), not an alias "
		  "(aliases are not supported)\n");
	parse_bad(MINIMAL "? [a, b]\n: c\nlog: {level: debug}\n",
		  "t.yaml:4:3: expected a key name, not a sequence\n");
	parse_bad(MINIMAL "log:\n  ? {a: 1}\n  : c\n  level: info\n",
		  "t.yaml:5:5: expected a key name in \"log\", not a mapping\n");
	parse_bad(MINIMAL "\"sync \": 1\n",
		  "t.yaml:4:1: unknown key \"sync \" (expected one of: node_id, user, rt_priority, sync, "
		  "kernel, filter, cache, control, log, failover)\n");
}

/* Deep nesting ends the walk early (libyaml is quadratic in the depth). */
static void test_deep_nesting(void **state)
{
	size_t n = 1000000;
	char *buf = malloc(2 * n);
	struct config c;
	char *errs;

	(void)state;
	assert_non_null(buf);
	memset(buf, '[', n);
	memset(buf + n, ']', n);
	assert_int_equal(parse(&c, "t.yaml", buf, 2 * n, &errs), 2);
	assert_string_equal(errs, "t.yaml:1:1: expected a mapping of sections (sync, "
			    "kernel, filter, ...) at the top level, not a sequence\n"
			    "t.yaml:1:33: nested more than 32 levels deep\n");
	free(errs);
	free(buf);
}

/* Long and odd values stay on one line in messages. */
static void test_message_quoting(void **state)
{
	(void)state;
	parse_bad(MINIMAL "  transport: \"a\\nb\\\"c\\\\\"\n",
		  "t.yaml:4:14: transport \"a\\x0ab\\\"c\\\\\" is not valid "
		  "(expected udp or multicast)\n");
	parse_bad(MINIMAL "  transport: "
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		  "t.yaml:4:14: transport \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "...\" is not valid (expected udp or multicast)\n");
	/* Not cut inside a UTF-8 sequence: 47 x then two-byte characters. */
	parse_bad(MINIMAL "  transport: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9\xc3\xa9\n",
		  "t.yaml:4:14: transport \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "\xc3\xa9...\" is not valid (expected udp or multicast)\n");
}

/* ---- config_print ------------------------------------------------------- */

static void roundtrip(const char *name, const char *text, size_t len)
{
	struct config a, b;
	char *errs, *out;
	size_t olen;
	FILE *f;

	if (parse(&a, name, text, len, &errs) != 0)
		fail_msg("%s:\n%s", name, errs);
	free(errs);
	f = open_memstream(&out, &olen);
	assert_non_null(f);
	config_print(&a, f);
	fclose(f);
	if (parse(&b, name, out, olen, &errs) != 0)
		fail_msg("printed %s does not parse:\n%s\n%s", name, errs, out);
	free(errs);
	/* Where values were given differs; what they are must not. */
	memset(&a.at, 0, sizeof(a.at));
	memset(&b.at, 0, sizeof(b.at));
	if (memcmp(&a, &b, sizeof(a)) != 0)
		fail_msg("printed %s parses differently:\n%s", name, out);
	free(out);
}

static void test_failover(void **state)
{
	struct config c;
	char *errs;
	char a[INET6_ADDRSTRLEN];

	assert_int_equal(parse_str(&c, "sync:\n  local: 192.0.2.1\n  peers: [192.0.2.2]\n"
		"failover:\n  announce: [\"outside 198.51.100.1\", \"inside  2001:db8:2::1\"]\n"
		"  announce_interval_ms: 50\n", &errs), 0);
	free(errs);
	assert_int_equal(c.failover.nannounce, 2);
	assert_string_equal(c.failover.announce[0].ifname, "outside");
	assert_int_equal(c.failover.announce[0].family, AF_INET);
	inet_ntop(AF_INET, &c.failover.announce[0].addr, a, sizeof(a));
	assert_string_equal(a, "198.51.100.1");
	assert_string_equal(c.failover.announce[1].ifname, "inside");
	assert_int_equal(c.failover.announce[1].family, AF_INET6);
	inet_ntop(AF_INET6, &c.failover.announce[1].addr, a, sizeof(a));
	assert_string_equal(a, "2001:db8:2::1");
	assert_int_equal(c.failover.count, 3);		/* default */
	assert_int_equal(c.failover.interval_ms, 50);
}

static void test_print_roundtrip(void **state)
{
	static const char *const files[] = {
		"../conf/ctsyncd.yaml", "../conf/ctsyncd-multicast.yaml",
	};
	static const char *const texts[] = {
		MINIMAL,
		/* (parenthesised: one element, built from several literals) */
		("node_id: 7\nsync:\n  local: 2001:db8::1\n  port: 9\n"
		 "  peers: [\"[2001:db8::2]:10\", 2001:db8::3, \"2001:db8::\"]\n"
		 "  interface: \"a\\\\b\\\"c\"\n  mtu: 1280\n  sndbuf: 100000\n"
		 "filter:\n  protocols: [0, 1, 63, 64, 128, 200, 255]\n"
		 "  tcp_states: [NONE, CLOSE, SYN_SENT2]\n"
		 "  ignore: [\"::/0\", 0.0.0.0/0, 192.0.2.1/31]\n  ignore_local: no\n"
		 "cache:\n  max_entries: 1000000\n"
		 "control:\n  socket: \"/run/a b#c\\\"d\\\\e\"\n  group: wheel\n  mode: 0\n"
		 "log:\n  level: debug\n  syslog: yes\n"),
		("sync:\n  transport: multicast\n  local: 192.0.2.1\n"
		 "  group: 224.0.0.1\n  port: 1\n"),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *buf = slurp(files[i], &len);

		roundtrip(files[i], buf, len);
		free(buf);
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		roundtrip("t.yaml", texts[i], strlen(texts[i]));
}

/* ---- config_diff -------------------------------------------------------- */

static void test_diff(void **state)
{
	struct config a, b;
	struct config_change ch[8];
	char *errs;

	(void)state;
	parse_ok(&a, MINIMAL "  window: 4096\n");
	parse_ok(&b, MINIMAL);
	/* Same values, written differently, from another file: no change. */
	b.at.local.line = 99;
	snprintf(b.path, sizeof(b.path), "other.yaml");
	assert_int_equal(config_diff(&a, &b, ch, 8), 0);

	assert_int_equal(parse(&b, "t.yaml", MINIMAL "  window: 8192\n  sndbuf: 16M\n"
			       "node_id: 7\nfailover:\n  announce: [\"eth0 192.0.2.9\"]\n"
			       "filter:\n  protocols: [tcp]\n",
			       strlen(MINIMAL "  window: 8192\n  sndbuf: 16M\n"
				      "node_id: 7\nfailover:\n  announce: [\"eth0 192.0.2.9\"]\n"
				      "filter:\n  protocols: [tcp]\n"), &errs), 0);
	free(errs);
	assert_int_equal(config_diff(&a, &b, ch, 8), 5);
	/* config_print order; a key set only in b comes last. */
	assert_string_equal(ch[0].key, "sync.window");
	assert_string_equal(ch[0].from, "4096");
	assert_string_equal(ch[0].to, "8192");
	assert_string_equal(ch[1].key, "sync.sndbuf");
	assert_string_equal(ch[1].from, "8M");
	assert_string_equal(ch[1].to, "16M");
	assert_string_equal(ch[2].key, "filter.protocols");
	assert_string_equal(ch[2].from, "[]");
	assert_string_equal(ch[2].to, "[tcp]");
	assert_string_equal(ch[3].key, "failover.announce");
	assert_string_equal(ch[3].from, "[]");
	assert_string_equal(ch[3].to, "[\"eth0 192.0.2.9\"]");
	assert_string_equal(ch[4].key, "node_id");
	assert_string_equal(ch[4].from, "(not set)");
	assert_string_equal(ch[4].to, "7");

	/* The count goes on beyond max; only max are written. */
	assert_int_equal(config_diff(&a, &b, ch, 2), 5);
	assert_int_equal(config_diff(&b, &a, NULL, 0), 5);

	/* Every section's keys are seen, and long values are cut. */
	parse_ok(&a, MINIMAL);
	parse_ok(&b, "sync:\n  local: 192.0.2.1\n  peers: [192.0.2.2, 192.0.2.3, "
		 "192.0.2.4, 192.0.2.5, 192.0.2.6, 192.0.2.7, 192.0.2.8, 192.0.2.9, "
		 "192.0.2.10, 192.0.2.11]\n"
		 "kernel:\n  collect_us: 0\ncache:\n  max_entries: 5\n"
		 "control:\n  mode: 0600\nlog:\n  level: debug\n");
	assert_int_equal(config_diff(&a, &b, ch, 8), 5);
	assert_string_equal(ch[0].key, "sync.peers");
	assert_int_equal(strlen(ch[0].to), sizeof(ch[0].to) - 1);
	assert_string_equal(ch[0].to + sizeof(ch[0].to) - 4, "...");
	assert_string_equal(ch[1].key, "kernel.collect_us");
	assert_string_equal(ch[2].key, "cache.max_entries");
	assert_string_equal(ch[3].key, "control.mode");
	assert_string_equal(ch[3].to, "0600");
	assert_string_equal(ch[4].key, "log.level");
	assert_string_equal(ch[4].from, "info");
	assert_string_equal(ch[4].to, "debug");
}

static void test_print_text(void **state)
{
	struct config c;
	char *out;
	size_t olen;
	FILE *f;

	(void)state;
	parse_ok(&c, MINIMAL "filter:\n  protocols: [udp, tcp, 99]\n");
	f = open_memstream(&out, &olen);
	assert_non_null(f);
	config_print(&c, f);
	fclose(f);
	assert_non_null(strstr(out, "# effective configuration of t.yaml\n"
			       "# node_id: derived at start-up\n"
			       "user: \"\"\n"
			       "rt_priority: 0\n"
			       "sync:\n  transport: udp\n  local: \"192.0.2.1\"\n"
			       "  peers: [\"192.0.2.2\"]\n  port: 3780\n"));
	assert_non_null(strstr(out, "  sndbuf: 8M\n"));
	assert_non_null(strstr(out, "  protocols: [tcp, udp, 99]\n"));
	assert_non_null(strstr(out, "  tcp_states: []   # all\n"));
	assert_non_null(strstr(out, "  mode: 0660\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_minimal_is_defaults),
		cmocka_unit_test(test_example_unicast),
		cmocka_unit_test(test_example_multicast),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_booleans_and_enums),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_peer_limit),
		cmocka_unit_test(test_ignore_limit),
		cmocka_unit_test(test_filter_values),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_interface),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_marks),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_not_terminated),
		cmocka_unit_test(test_nul_in_buffer),
		cmocka_unit_test(test_null_err_and_name),
		cmocka_unit_test(test_aliases_and_keys),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_message_quoting),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_print_roundtrip),
		cmocka_unit_test(test_print_text),
		cmocka_unit_test(test_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
