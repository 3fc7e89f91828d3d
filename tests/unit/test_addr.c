/*
 * test_addr.c - prefix and address edge cases (the common forms are
 * tested through the filter in test_filter.c).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "addr.h"

static void test_prefix_lengths(void **state)
{
	static const char *const bad[] = {
		"192.0.2.0/99", "192.0.2.0/128", "::ffff:192.0.2.1/129",
		"2001:db8::/256", "2001:db8::/1000", "192.0.2.1/24x",
		" 192.0.2.1", "192.0.2.1\n", "[2001:db8::]/32", "localhost",
		"192.0.2.1/0x8", "::ffff:192.0.2.300", "/", "//",
	};
	uint8_t want[16];
	struct prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (prefix_parse(bad[i], &p) != -1)
			fail_msg("prefix_parse(\"%s\") accepted", bad[i]);

	/* A full-length prefix keeps every bit. */
	assert_int_equal(prefix_parse("192.0.2.77/32", &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(p.addr.v4, htonl(0xc000024d));
	assert_int_equal(prefix_parse("2001:db8::77/128", &p), 0);
	assert_int_equal(p.len, 128);
	inet_pton(AF_INET6, "2001:db8::77", want);
	assert_memory_equal(p.addr.b, want, 16);

	assert_int_equal(prefix_parse("0.0.0.0/0", &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 0);

	/* v4-mapped is IPv6: it never covers a flow the kernel reports as
	 * IPv4. */
	assert_int_equal(prefix_parse("::ffff:192.0.2.1/96", &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.len, 96);
	inet_pton(AF_INET6, "::ffff:0.0.0.0", want);
	assert_memory_equal(p.addr.b, want, 16);
	{
		union flow_addr a;

		memset(&a, 0, sizeof(a));
		inet_pton(AF_INET, "192.0.2.1", &a.v4);
		assert_false(prefix_match(&p, AF_INET, &a));
	}
}

static void test_prefix_mask(void **state)
{
	static const uint8_t nine[16] = { 0xff, 0x80 };
	uint8_t m[16], ones[16], zero[16];

	(void)state;
	memset(ones, 0xff, sizeof(ones));
	memset(zero, 0, sizeof(zero));
	prefix_mask(0, m);
	assert_memory_equal(m, zero, 16);
	prefix_mask(9, m);
	assert_memory_equal(m, nine, 16);
	prefix_mask(128, m);
	assert_memory_equal(m, ones, 16);
	prefix_mask(200, m);
	assert_memory_equal(m, ones, 16);
	assert_int_equal(prefix_max(AF_INET), 32);
	assert_int_equal(prefix_max(AF_INET6), 128);
}

static void test_addr_parse(void **state)
{
	static const char *const bad[] = {
		"", "192.0.2.1/32", "192.0.2.1:80", "[2001:db8::1]",
		"fe80::1%eth0", "192.0.2", "x",
	};
	struct sockaddr_storage ss, zero;
	char buf[INET6_ADDRSTRLEN];

	(void)state;
	memset(&zero, 0, sizeof(zero));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ss, 0x5a, sizeof(ss));
		if (addr_parse(bad[i], &ss) != -1)
			fail_msg("addr_parse(\"%s\") accepted", bad[i]);
		assert_memory_equal(&ss, &zero, sizeof(ss));
	}

	assert_int_equal(addr_parse("192.0.2.1", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(addr_port(&ss), 0);
	assert_string_equal(addr_str(&ss, buf, sizeof(buf)), "192.0.2.1");
	assert_string_equal(addr_str(&ss, buf, 4), "?");

	assert_int_equal(addr_parse("2001:DB8:0::1", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_string_equal(addr_str(&ss, buf, sizeof(buf)), "2001:db8::1");
}

static void test_addr_kinds(void **state)
{
	static const struct {
		const char *s;
		bool mcast, unspec, bcast, ll;
	} cases[] = {
		{ "224.0.0.1",       true,  false, false, false },
		{ "0.0.0.0",         false, true,  false, false },
		{ "255.255.255.255", false, false, true,  false },
		{ "169.254.0.1",     false, false, false, false },
		{ "ff02::1",         true,  false, false, true },
		{ "ff01::1",         true,  false, false, true },
		{ "ff05::1",         true,  false, false, false },
		{ "::",              false, true,  false, false },
		{ "fe80::1",         false, false, false, true },
		{ "2001:db8::1",     false, false, false, false },
	};
	struct sockaddr_storage ss;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(addr_parse(cases[i].s, &ss), 0);
		if (addr_is_multicast(&ss) != cases[i].mcast ||
		    addr_is_unspecified(&ss) != cases[i].unspec ||
		    addr_is_broadcast(&ss) != cases[i].bcast ||
		    addr_is_v6_linklocal(&ss) != cases[i].ll)
			fail_msg("%s: wrong kind", cases[i].s);
	}
}

static void test_addr_port(void **state)
{
	struct sockaddr_storage a, b, none;

	(void)state;
	assert_int_equal(addr_parse("2001:db8::1", &a), 0);
	addr_set_port(&a, 3780);
	assert_int_equal(addr_port(&a), 3780);
	b = a;
	assert_true(addr_equal(&a, &b));
	addr_set_port(&b, 3781);
	assert_false(addr_equal(&a, &b));

	assert_int_equal(addr_parse("192.0.2.1", &b), 0);
	addr_set_port(&b, 3780);
	assert_int_equal(addr_port(&b), 3780);
	assert_false(addr_equal(&a, &b));

	/* No family: no port to set. */
	memset(&none, 0, sizeof(none));
	addr_set_port(&none, 3780);
	assert_int_equal(addr_port(&none), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_lengths),
		cmocka_unit_test(test_prefix_mask),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_addr_kinds),
		cmocka_unit_test(test_addr_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
