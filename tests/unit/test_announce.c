/*
 * test_announce.c - GARP and unsolicited NA frames, byte for byte.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "announce.h"

static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };

static void test_garp(void **state)
{
	static const uint8_t want[GARP_FRAME_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* broadcast */
		0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,	/* from mac */
		0x08, 0x06,				/* ARP */
		0x00, 0x01, 0x08, 0x00, 6, 4,		/* Ethernet, IPv4 */
		0x00, 0x01,				/* request */
		0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,	/* sender mac */
		198, 51, 100, 1,			/* sender ip */
		0, 0, 0, 0, 0, 0,			/* target mac */
		198, 51, 100, 1,			/* target ip = sender ip */
	};
	uint8_t buf[64];
	uint32_t ip;

	inet_pton(AF_INET, "198.51.100.1", &ip);
	assert_int_equal(garp_build(buf, sizeof(buf), mac, ip), GARP_FRAME_LEN);
	assert_memory_equal(buf, want, GARP_FRAME_LEN);
	assert_int_equal(garp_build(buf, GARP_FRAME_LEN - 1, mac, ip), 0);
}

/* Verify an ICMPv6 checksum independently: the sum over pseudo-header
 * and message, checksum field included, must be 0xffff. */
static uint16_t fold(const uint8_t *frame)
{
	uint32_t sum = 0;
	const uint8_t *src = frame + 22, *dst = frame + 38, *msg = frame + 54;

	for (int i = 0; i < 16; i += 2)
		sum += (uint32_t)((src[i] << 8) | src[i + 1]) +
		       (uint32_t)((dst[i] << 8) | dst[i + 1]);
	sum += 32 + 58;
	for (int i = 0; i < 32; i += 2)
		sum += (uint32_t)((msg[i] << 8) | msg[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_una(void **state)
{
	uint8_t buf[128], ip6[16], ff02_1[16];

	inet_pton(AF_INET6, "2001:db8:2::1", ip6);
	inet_pton(AF_INET6, "ff02::1", ff02_1);
	assert_int_equal(una_build(buf, sizeof(buf), mac, ip6), UNA_FRAME_LEN);
	assert_memory_equal(buf, "\x33\x33\x00\x00\x00\x01", 6);
	assert_memory_equal(buf + 6, mac, 6);
	assert_int_equal(buf[12] << 8 | buf[13], 0x86dd);
	assert_int_equal(buf[14] >> 4, 6);
	assert_int_equal(buf[18] << 8 | buf[19], 32);	/* payload length */
	assert_int_equal(buf[20], 58);			/* ICMPv6 */
	assert_int_equal(buf[21], 255);			/* hop limit */
	assert_memory_equal(buf + 22, ip6, 16);		/* source */
	assert_memory_equal(buf + 38, ff02_1, 16);	/* all nodes */
	assert_int_equal(buf[54], 136);			/* NA */
	assert_int_equal(buf[58], 0x20);		/* Override, not Solicited */
	assert_memory_equal(buf + 62, ip6, 16);		/* target */
	assert_int_equal(buf[78], 2);			/* target LL option */
	assert_int_equal(buf[79], 1);
	assert_memory_equal(buf + 80, mac, 6);
	assert_int_equal(fold(buf), 0xffff);
	assert_int_equal(una_build(buf, UNA_FRAME_LEN - 1, mac, ip6), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garp),
		cmocka_unit_test(test_una),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
