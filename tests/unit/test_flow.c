/*
 * test_flow.c - key identity, hashing, inversion, copies, formatting.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "flow.h"

static void v4key(struct flow_key *k, const char *src, const char *dst,
		  uint8_t proto, uint16_t sport, uint16_t dport)
{
	memset(k, 0, sizeof(*k));
	k->family = AF_INET;
	k->l4proto = proto;
	inet_pton(AF_INET, src, &k->orig.src.v4);
	inet_pton(AF_INET, dst, &k->orig.dst.v4);
	k->orig.sport = sport;
	k->orig.dport = dport;
}

static void test_key_identity(void **state)
{
	struct flow_key a, b;

	v4key(&a, "198.51.100.10", "203.0.113.10", IPPROTO_TCP, 40000, 80);
	v4key(&b, "198.51.100.10", "203.0.113.10", IPPROTO_TCP, 40000, 80);
	assert_true(flow_key_eq(&a, &b));
	assert_int_equal(flow_key_hash(&a, 1), flow_key_hash(&b, 1));
	/* Every identity field matters. */
	b.zone = 1;
	assert_false(flow_key_eq(&a, &b));
	b.zone = 0;
	b.l4proto = IPPROTO_UDP;
	assert_false(flow_key_eq(&a, &b));
	b.l4proto = IPPROTO_TCP;
	b.orig.sport = 40001;
	assert_false(flow_key_eq(&a, &b));
	b.orig.sport = 40000;
	b.orig.dst.v4 ^= htonl(1);
	assert_false(flow_key_eq(&a, &b));
	/* The seed changes the hash. */
	assert_int_not_equal(flow_key_hash(&a, 1), flow_key_hash(&a, 2));
}

/* Nearby keys spread over buckets. */
static void test_hash_spread(void **state)
{
	static unsigned buckets[1024];
	struct flow_key k;
	unsigned max = 0;

	v4key(&k, "198.18.0.0", "203.0.113.10", IPPROTO_TCP, 0, 80);
	for (uint32_t i = 0; i < 102400; i++) {
		k.orig.src.v4 = htonl(0xc6120000u + i / 1000);
		k.orig.sport = (uint16_t)(1024 + i % 1000);
		buckets[flow_key_hash(&k, 0x1234) & 1023]++;
	}
	for (int i = 0; i < 1024; i++)
		if (buckets[i] > max)
			max = buckets[i];
	/* 100 per bucket on average; a poor hash piles thousands up. */
	assert_true(max < 200);
}

static void test_invert(void **state)
{
	struct flow_key k;
	struct flow_tuple r;

	v4key(&k, "198.51.100.10", "203.0.113.10", IPPROTO_TCP, 40000, 80);
	flow_tuple_invert(&k, &r);
	assert_int_equal(r.src.v4, k.orig.dst.v4);
	assert_int_equal(r.dst.v4, k.orig.src.v4);
	assert_int_equal(r.sport, 80);
	assert_int_equal(r.dport, 40000);
	/* ICMP echo: same id, the reply type. */
	v4key(&k, "198.51.100.10", "203.0.113.10", IPPROTO_ICMP, 4242, 8 << 8);
	flow_tuple_invert(&k, &r);
	assert_int_equal(r.sport, 4242);
	assert_int_equal(r.dport, 0);
	k.family = AF_INET6;
	k.l4proto = IPPROTO_ICMPV6;
	k.orig.dport = 128 << 8;
	flow_tuple_invert(&k, &r);
	assert_int_equal(r.dport, 129 << 8);
}

static void test_copy_and_eq(void **state)
{
	struct flow a = { 0 }, b = { 0 };
	struct flow_ext *e;

	v4key(&a.key, "198.51.100.10", "203.0.113.10", IPPROTO_TCP, 40000, 80);
	flow_tuple_invert(&a.key, &a.reply);
	a.status = 0xe;
	a.proto_state = 3;
	e = flow_ext_get(&a);
	assert_non_null(e);
	e->has = FLOW_EXT_HELPER;
	strcpy(e->helper, "ftp");
	assert_int_equal(flow_copy(&b, &a), 0);
	assert_ptr_not_equal(b.ext, a.ext);
	assert_true(flow_state_eq(&a, &b));
	/* The timeout decays all the time; it is not a change of state. */
	b.timeout = a.timeout + 100;
	assert_true(flow_state_eq(&a, &b));
	b.proto_state = 4;
	assert_false(flow_state_eq(&a, &b));
	b.proto_state = 3;
	strcpy(b.ext->helper, "sip");
	assert_false(flow_state_eq(&a, &b));
	/* Copying a flow without ext frees the destination's. */
	flow_free_ext(&a);
	assert_int_equal(flow_copy(&b, &a), 0);
	assert_null(b.ext);
	assert_true(flow_state_eq(&a, &b));
}

static void test_format(void **state)
{
	struct flow_key k;
	char buf[160];

	v4key(&k, "198.51.100.10", "203.0.113.10", IPPROTO_TCP, 40000, 80);
	flow_key_fmt(&k, buf, sizeof(buf));
	assert_string_equal(buf, "tcp 198.51.100.10:40000 -> 203.0.113.10:80 zone 0");
	k.l4proto = 99;
	flow_key_fmt(&k, buf, sizeof(buf));
	assert_string_equal(buf, "99 198.51.100.10:40000 -> 203.0.113.10:80 zone 0");
	memset(&k, 0, sizeof(k));
	k.family = AF_INET6;
	k.l4proto = IPPROTO_UDP;
	inet_pton(AF_INET6, "2001:db8::1", &k.orig.src);
	inet_pton(AF_INET6, "2001:db8::2", &k.orig.dst);
	k.orig.sport = 5353;
	k.orig.dport = 53;
	k.zone = 7;
	flow_key_fmt(&k, buf, sizeof(buf));
	assert_string_equal(buf, "udp [2001:db8::1]:5353 -> [2001:db8::2]:53 zone 7");
	assert_string_equal(flow_tcp_state_name(3), "ESTABLISHED");
	assert_null(flow_tcp_state_name(42));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_identity),
		cmocka_unit_test(test_hash_spread),
		cmocka_unit_test(test_invert),
		cmocka_unit_test(test_copy_and_eq),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
