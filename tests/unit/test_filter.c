/*
 * test_filter.c - filter_accept, prefix_parse, prefix_match.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "config.h"
#include "filter.h"
#include "flow.h"

/* TCP_CONNTRACK_* values (linux/netfilter/nf_conntrack_tcp.h). */
enum { ST_NONE, ST_SYN_SENT, ST_SYN_RECV, ST_ESTABLISHED, ST_FIN_WAIT,
       ST_CLOSE_WAIT, ST_LAST_ACK, ST_TIME_WAIT, ST_CLOSE, ST_SYN_SENT2 };

static union flow_addr addr(const char *s)
{
	union flow_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &a.v4) != 1)
		assert_int_equal(inet_pton(AF_INET6, s, a.b), 1);
	return a;
}

static struct flow mkflow(uint8_t proto, const char *src, const char *dst)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.l4proto = proto;
	f.key.family = strchr(src, ':') ? AF_INET6 : AF_INET;
	f.key.orig.src = addr(src);
	f.key.orig.dst = addr(dst);
	f.key.orig.sport = 40000;
	f.key.orig.dport = 80;
	return f;
}

static struct flow tcp(uint8_t state, const char *src, const char *dst)
{
	struct flow f = mkflow(IPPROTO_TCP, src, dst);

	f.flags = FLOW_F_PROTO;
	f.proto_state = state;
	return f;
}

static struct prefix pfx(const char *s)
{
	struct prefix p;

	if (prefix_parse(s, &p) != 0)
		fail_msg("prefix_parse(\"%s\") failed", s);
	return p;
}

static void add_proto(struct config *c, unsigned p)
{
	c->filter.protocols[p / 64] |= 1ull << (p % 64);
}

static void add_ignore(struct config *c, const char *s)
{
	assert_true(c->filter.nignore < CONFIG_MAX_PREFIXES);
	c->filter.ignore[c->filter.nignore++] = pfx(s);
}

static bool accepts(const struct config *c, const struct flow *fl)
{
	struct filter *f = filter_new(&c->filter, NULL, 0);
	bool r;

	assert_non_null(f);
	r = filter_accept(f, fl);
	filter_free(f);
	return r;
}

static void test_empty_accepts_all(void **state)
{
	struct config c;
	struct filter *f;
	struct flow fl;

	(void)state;
	config_defaults(&c);
	f = filter_new(&c.filter, NULL, 0);
	assert_non_null(f);
	for (unsigned p = 0; p < 256; p++) {
		fl = mkflow((uint8_t)p, "198.51.100.10", "203.0.113.10");
		assert_true(filter_accept(f, &fl));
		fl = mkflow((uint8_t)p, "2001:db8::10", "2001:db8:1::10");
		assert_true(filter_accept(f, &fl));
	}
	for (unsigned s = 0; s < 256; s++) {
		fl = tcp((uint8_t)s, "127.0.0.1", "127.0.0.1");
		assert_true(filter_accept(f, &fl));
	}
	/* An unknown family is not matched against anything. */
	fl = mkflow(IPPROTO_TCP, "10.0.0.1", "10.0.0.2");
	fl.key.family = 0;
	assert_true(filter_accept(f, &fl));
	filter_free(f);
	filter_free(NULL);
}

static void test_protocols(void **state)
{
	struct config c;
	struct filter *f;
	struct flow fl;

	(void)state;
	config_defaults(&c);
	add_proto(&c, IPPROTO_TCP);
	add_proto(&c, IPPROTO_UDP);
	add_proto(&c, 0);
	add_proto(&c, 63);
	add_proto(&c, 64);
	add_proto(&c, 255);
	f = filter_new(&c.filter, NULL, 0);
	assert_non_null(f);
	for (unsigned p = 0; p < 256; p++) {
		bool want = p == IPPROTO_TCP || p == IPPROTO_UDP || p == 0 ||
			    p == 63 || p == 64 || p == 255;

		fl = mkflow((uint8_t)p, "198.51.100.10", "203.0.113.10");
		assert_int_equal(filter_accept(f, &fl), want);
		fl = mkflow((uint8_t)p, "2001:db8::10", "2001:db8::11");
		assert_int_equal(filter_accept(f, &fl), want);
	}
	filter_free(f);
}

static void test_tcp_states(void **state)
{
	struct config c;
	struct filter *f;
	struct flow fl;

	(void)state;
	config_defaults(&c);
	c.filter.tcp_states = 1u << ST_ESTABLISHED | 1u << ST_SYN_SENT2;
	f = filter_new(&c.filter, NULL, 0);
	assert_non_null(f);
	for (unsigned s = 0; s < 256; s++) {
		fl = tcp((uint8_t)s, "198.51.100.10", "203.0.113.10");
		assert_int_equal(filter_accept(f, &fl),
				 s == ST_ESTABLISHED || s == ST_SYN_SENT2);
	}
	/* Not TCP: states do not apply, whatever proto_state holds. */
	fl = mkflow(IPPROTO_UDP, "198.51.100.10", "203.0.113.10");
	fl.flags = FLOW_F_PROTO;
	fl.proto_state = ST_SYN_SENT;
	assert_true(filter_accept(f, &fl));
	fl = mkflow(IPPROTO_SCTP, "198.51.100.10", "203.0.113.10");
	fl.flags = FLOW_F_PROTO;
	fl.proto_state = ST_CLOSE;
	assert_true(filter_accept(f, &fl));
	/* TCP with no known state passes (e.g. a DESTROY event). */
	fl = mkflow(IPPROTO_TCP, "198.51.100.10", "203.0.113.10");
	fl.proto_state = ST_SYN_SENT;
	assert_true(filter_accept(f, &fl));
	filter_free(f);

	/* States and protocols together. */
	add_proto(&c, IPPROTO_TCP);
	fl = tcp(ST_ESTABLISHED, "198.51.100.10", "203.0.113.10");
	assert_true(accepts(&c, &fl));
	fl = tcp(ST_TIME_WAIT, "198.51.100.10", "203.0.113.10");
	assert_false(accepts(&c, &fl));
	fl = mkflow(IPPROTO_UDP, "198.51.100.10", "203.0.113.10");
	assert_false(accepts(&c, &fl));
}

static void test_prefix_v4(void **state)
{
	static const struct {
		const char *src, *dst;
		bool accept;
	} cases[] = {
		{ "192.0.2.0", "203.0.113.10", false },		/* first of /24 */
		{ "192.0.2.255", "203.0.113.10", false },	/* last of /24 */
		{ "192.0.1.255", "203.0.113.10", true },	/* just below */
		{ "192.0.3.0", "203.0.113.10", true },		/* just above */
		{ "203.0.113.10", "192.0.2.128", false },	/* as destination */
		{ "203.0.113.10", "192.0.3.0", true },
		{ "10.1.0.0", "8.8.8.8", false },		/* 10.0.0.0/15 */
		{ "10.1.255.255", "8.8.8.8", false },
		{ "10.2.0.0", "8.8.8.8", true },
		{ "9.255.255.255", "8.8.8.8", true },
		{ "198.51.100.7", "8.8.8.8", false },		/* /32 */
		{ "198.51.100.6", "8.8.8.8", true },
		{ "198.51.100.8", "8.8.8.8", true },
		{ "172.16.0.127", "8.8.8.8", false },		/* 172.16.0.0/25 */
		{ "172.16.0.128", "8.8.8.8", true },
	};
	struct config c;
	struct filter *f;

	(void)state;
	config_defaults(&c);
	add_ignore(&c, "192.0.2.0/24");
	add_ignore(&c, "10.1.2.3/15");
	add_ignore(&c, "198.51.100.7");
	add_ignore(&c, "172.16.0.0/25");
	add_ignore(&c, "2001:db8::/32");	/* does not match v4 */
	f = filter_new(&c.filter, NULL, 0);
	assert_non_null(f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct flow fl = mkflow(IPPROTO_UDP, cases[i].src, cases[i].dst);

		if (filter_accept(f, &fl) != cases[i].accept)
			fail_msg("%s -> %s: want %s", cases[i].src, cases[i].dst,
				 cases[i].accept ? "accept" : "ignore");
	}
	filter_free(f);

	/* 0.0.0.0/0 ignores all of IPv4 and nothing of IPv6. */
	config_defaults(&c);
	add_ignore(&c, "0.0.0.0/0");
	{
		struct flow a = mkflow(IPPROTO_TCP, "1.2.3.4", "5.6.7.8");
		struct flow b = mkflow(IPPROTO_TCP, "2001:db8::1", "2001:db8::2");

		assert_false(accepts(&c, &a));
		assert_true(accepts(&c, &b));
	}
}

static void test_prefix_v6(void **state)
{
	static const struct {
		const char *src, *dst;
		bool accept;
	} cases[] = {
		{ "2001:db8::", "2001:4860::1", false },	/* first of /32 */
		{ "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:4860::1", false },
		{ "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:4860::1", true },
		{ "2001:db9::", "2001:4860::1", true },
		{ "2001:4860::1", "2001:db8:1::1", false },	/* as destination */
		{ "fd00:0:0:1::", "2001:4860::1", false },	/* fd00:0:0:1::/65 */
		{ "fd00:0:0:1:7fff:ffff:ffff:ffff", "2001:4860::1", false },
		{ "fd00:0:0:1:8000::", "2001:4860::1", true },
		{ "fd00:0:0:0:ffff:ffff:ffff:ffff", "2001:4860::1", true },
		{ "fd00:0:0:2::", "2001:4860::1", true },
		{ "fe80::2", "2001:4860::1", false },		/* fe80::2/127 */
		{ "fe80::3", "2001:4860::1", false },
		{ "fe80::1", "2001:4860::1", true },
		{ "fe80::4", "2001:4860::1", true },
		{ "::1", "::1", false },			/* /128 */
		{ "::2", "::", true },
		{ "::ffff:192.0.2.1", "2001:4860::1", true },	/* v4 prefix: no */
	};
	struct config c;
	struct filter *f;

	(void)state;
	config_defaults(&c);
	add_ignore(&c, "2001:db8::/32");
	add_ignore(&c, "fd00:0:0:1::/65");
	add_ignore(&c, "fe80::2/127");
	add_ignore(&c, "::1");
	add_ignore(&c, "192.0.2.0/24");
	f = filter_new(&c.filter, NULL, 0);
	assert_non_null(f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct flow fl = mkflow(IPPROTO_TCP, cases[i].src, cases[i].dst);

		if (filter_accept(f, &fl) != cases[i].accept)
			fail_msg("%s -> %s: want %s", cases[i].src, cases[i].dst,
				 cases[i].accept ? "accept" : "ignore");
	}
	filter_free(f);
}

static void test_ignore_local(void **state)
{
	struct prefix local[3];
	struct config c;
	struct filter *f;
	struct flow in = mkflow(IPPROTO_TCP, "198.51.100.10", "198.51.100.1");
	struct flow out = mkflow(IPPROTO_TCP, "192.0.2.1", "192.0.2.2");
	struct flow v6 = mkflow(IPPROTO_TCP, "2001:db8::10", "2001:db8::1");
	struct flow fwd = mkflow(IPPROTO_TCP, "198.51.100.10", "203.0.113.10");
	struct flow near = mkflow(IPPROTO_TCP, "198.51.100.2", "192.0.2.0");

	(void)state;
	local[0] = pfx("198.51.100.1");
	local[1] = pfx("192.0.2.1/32");
	local[2] = pfx("2001:db8::1/128");
	config_defaults(&c);
	assert_true(c.filter.ignore_local);
	f = filter_new(&c.filter, local, 3);
	assert_non_null(f);
	assert_false(filter_accept(f, &in));
	assert_false(filter_accept(f, &out));
	assert_false(filter_accept(f, &v6));
	assert_true(filter_accept(f, &fwd));
	assert_true(filter_accept(f, &near));
	filter_free(f);

	c.filter.ignore_local = false;
	f = filter_new(&c.filter, local, 3);
	assert_non_null(f);
	assert_true(filter_accept(f, &in));
	assert_true(filter_accept(f, &out));
	assert_true(filter_accept(f, &v6));
	assert_true(filter_accept(f, &fwd));
	filter_free(f);

	/* Local addresses add to the configured prefixes. */
	c.filter.ignore_local = true;
	add_ignore(&c, "203.0.113.0/24");
	f = filter_new(&c.filter, local, 3);
	assert_non_null(f);
	assert_false(filter_accept(f, &in));
	assert_false(filter_accept(f, &fwd));
	assert_true(filter_accept(f, &near));
	filter_free(f);

	/* Many local addresses. */
	{
		struct prefix many[300];

		for (int i = 0; i < 300; i++) {
			memset(&many[i], 0, sizeof(many[i]));
			many[i].family = AF_INET;
			many[i].len = 32;
			many[i].addr.v4 = htonl(0x0a000000u + (uint32_t)i);
		}
		config_defaults(&c);
		f = filter_new(&c.filter, many, 300);
		assert_non_null(f);
		in = mkflow(IPPROTO_TCP, "8.8.8.8", "10.0.1.43");
		assert_false(filter_accept(f, &in));
		in = mkflow(IPPROTO_TCP, "8.8.8.8", "10.0.1.44");
		assert_true(filter_accept(f, &in));
		filter_free(f);
	}
}

static void test_prefix_parse(void **state)
{
	static const char *const bad[] = {
		"", "/24", "192.0.2.0/", "192.0.2.0/33", "192.0.2.0/-1",
		"192.0.2.0/+8", "192.0.2.0/ 8", "192.0.2.0 /8", "192.0.2.0/8 ",
		"192.0.2.0/0008", "192.0.2.0/8/8", "192.0.2", "192.0.2.0.1",
		"256.0.0.0/8", "10/8", "2001:db8::/129", "2001:db8:::/32",
		"fe80::1%eth0", "2001:db8::/1a", "x", "::/", "0x0a000000/8",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/8",
	};
	struct prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&p, 0x5a, sizeof(p));
		if (prefix_parse(bad[i], &p) != -1)
			fail_msg("prefix_parse(\"%s\") accepted", bad[i]);
		assert_int_equal(p.len, 0x5a);	/* untouched */
	}

	assert_int_equal(prefix_parse("192.0.2.77/24", &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 24);
	assert_int_equal(p.addr.v4, htonl(0xc0000200));
	for (int i = 4; i < 16; i++)
		assert_int_equal(p.addr.b[i], 0);

	assert_int_equal(prefix_parse("203.0.113.9", &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(p.addr.v4, htonl(0xcb007109));

	assert_int_equal(prefix_parse("255.255.255.255/0", &p), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(p.addr.v4, 0);

	assert_int_equal(prefix_parse("10.255.255.255/9", &p), 0);
	assert_int_equal(p.addr.v4, htonl(0x0a800000));

	assert_int_equal(prefix_parse("2001:db8:ffff::1/33", &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.len, 33);
	{
		union flow_addr want = addr("2001:db8:8000::");

		assert_memory_equal(p.addr.b, want.b, 16);
	}
	assert_int_equal(prefix_parse("2001:db8::1", &p), 0);
	assert_int_equal(p.len, 128);
	assert_int_equal(prefix_parse("::/0", &p), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(prefix_parse("::ffff:192.0.2.1/128", &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(prefix_parse("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/127", &p), 0);
	assert_int_equal(p.addr.b[15], 0xfe);
}

static void test_prefix_match(void **state)
{
	struct prefix p = pfx("192.0.2.0/23");
	union flow_addr a;

	(void)state;
	a = addr("192.0.2.0");
	assert_true(prefix_match(&p, AF_INET, &a));
	a = addr("192.0.3.255");
	assert_true(prefix_match(&p, AF_INET, &a));
	a = addr("192.0.4.0");
	assert_false(prefix_match(&p, AF_INET, &a));
	a = addr("192.0.1.255");
	assert_false(prefix_match(&p, AF_INET, &a));
	a = addr("192.0.2.0");
	assert_false(prefix_match(&p, AF_INET6, &a));

	p = pfx("2001:db8::/31");
	a = addr("2001:db9:ffff::");
	assert_true(prefix_match(&p, AF_INET6, &a));
	a = addr("2001:dba::");
	assert_false(prefix_match(&p, AF_INET6, &a));
	a = addr("2001:db7::");
	assert_false(prefix_match(&p, AF_INET6, &a));

	p = pfx("::/0");
	a = addr("ffff::1");
	assert_true(prefix_match(&p, AF_INET6, &a));
	p = pfx("2001:db8::1");
	a = addr("2001:db8::1");
	assert_true(prefix_match(&p, AF_INET6, &a));
	a = addr("2001:db8::");
	assert_false(prefix_match(&p, AF_INET6, &a));

	/* A length beyond the family's is taken as a host prefix. */
	p = pfx("192.0.2.1");
	p.len = 200;
	a = addr("192.0.2.1");
	assert_true(prefix_match(&p, AF_INET, &a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_accepts_all),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_tcp_states),
		cmocka_unit_test(test_prefix_v4),
		cmocka_unit_test(test_prefix_v6),
		cmocka_unit_test(test_ignore_local),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
