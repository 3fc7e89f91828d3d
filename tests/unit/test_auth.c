/*
 * test_auth.c - key file parsing, sealing and opening datagrams, and the
 * anti-replay window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth.h"
#include "ctsync/wire.h"
#include "proto.h"

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static int parse(struct auth_keyring *kr, const char *text, char *err, size_t cap)
{
	FILE *f = fmemopen(err, cap, "w");
	int n;

	assert_non_null(f);
	memset(err, 0, cap);
	n = auth_keys_parse(kr, "k", text, strlen(text), f);
	fclose(f);
	return n;
}

static void ring(struct auth_keyring *kr, const char *text, bool enc)
{
	char err[512];

	memset(kr, 0, sizeof(*kr));
	kr->encrypt = enc;
	assert_int_equal(parse(kr, text, err, sizeof(err)), 0);
}

/* A heartbeat-sized header followed by a payload of n bytes. */
static size_t mkdgram(uint8_t *buf, size_t n, uint8_t type)
{
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = type,
		.length = (uint16_t)(WIRE_HDR_LEN + n),
		.node_id = 7, .epoch = 0x1234, .seq = 99, .base = 90,
	};

	wire_hdr_put(buf, &h);
	for (size_t i = 0; i < n; i++)
		buf[WIRE_HDR_LEN + i] = (uint8_t)(i * 7 + 1);
	return WIRE_HDR_LEN + n;
}

static void test_parse_ok(void **state)
{
	struct auth_keyring kr;

	ring(&kr, "# keys\n\n2 " K2 "  # new\n\t1 " K1 "\r\n", false);
	assert_int_equal(kr.n, 2);
	/* Found by fuzz_auth: a last line ending in CR without LF looped. */
	ring(&kr, "2 " K2 "\n1 " K1 "\r", false);
	assert_int_equal(kr.n, 2);
	assert_int_equal(kr.keys[0].id, 2);	/* the first seals */
	assert_int_equal(kr.keys[1].id, 1);
	assert_int_equal(kr.keys[1].key[31], 0x1f);
	assert_int_equal(kr.keys[0].key[0], 0xff);
}

static void test_parse_errors(void **state)
{
	struct auth_keyring kr = { .encrypt = true };
	char err[1024];

	assert_int_equal(parse(&kr, "", err, sizeof(err)), 1);
	assert_non_null(strstr(err, "k: no key"));
	assert_int_equal(parse(&kr, "1 " K1 "\n0 " K2 "\n", err, sizeof(err)), 1);
	assert_string_equal(err, "k:2:1: key id is not a number 1-65535: '0'\n");
	assert_int_equal(kr.n, 0);		/* nothing kept on error */
	assert_true(kr.encrypt);		/* but the mode is */
	assert_int_equal(parse(&kr, "1 " K1 "\n 1 " K2 "\n", err, sizeof(err)), 1);
	assert_string_equal(err, "k:2:2: key id listed twice: '1'\n");
	/* The key is never echoed. */
	assert_int_equal(parse(&kr, "3 00112233\n", err, sizeof(err)), 1);
	assert_string_equal(err, "k:1:3: key is not 64 hex digits (32 bytes)\n");
	assert_int_equal(parse(&kr, "3 " K1 "x\n", err, sizeof(err)), 1);
	assert_int_equal(parse(&kr, "3\n", err, sizeof(err)), 1);
	assert_string_equal(err, "k:1:2: key missing after the id (64 hex digits)\n");
	assert_int_equal(parse(&kr, "3 " K1 " extra\n", err, sizeof(err)), 1);
	assert_string_equal(err, "k:1:68: unexpected text after the key: 'extra'\n");
	assert_int_equal(parse(&kr, "70000 " K1 "\nx " K1 "\n", err, sizeof(err)), 2);
	assert_int_equal(parse(&kr, "1 " K1 "\n2 " K1 "\n3 " K1 "\n4 " K1 "\n5 " K1
			       "\n6 " K1 "\n7 " K1 "\n8 " K1 "\n9 " K1 "\n", err,
			       sizeof(err)), 1);
	assert_string_equal(err, "k:9:1: more than 8 keys\n");
}

static void seal_open(bool enc)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_info ai;
	uint8_t buf[256], plain[256], out[256];
	size_t len = mkdgram(buf, 100, WIRE_DATA), sl;
	long n;

	ring(&kr, "5 " K1 "\n", enc);
	memcpy(plain, buf, len);
	sl = auth_seal(&kr, buf, len, sizeof(buf), 41);
	assert_int_equal(sl, len + AUTH_TRAILER_LEN);
	assert_true(auth_is_sealed(buf, sl));
	/* Encrypted: the payload is not readable on the wire. */
	assert_int_equal(memcmp(buf + WIRE_HDR_LEN, plain + WIRE_HDR_LEN, 100) == 0, !enc);
	n = auth_open(&kr, buf, sl, out, &ai, &st);
	assert_int_equal(n, (long)len);
	assert_int_equal(ai.key_id, 5);
	assert_int_equal(ai.counter, 41);
	assert_int_equal(ai.encrypted, enc);
	assert_memory_equal(out + WIRE_HDR_LEN, plain + WIRE_HDR_LEN, 100);
	assert_int_equal(out[6] << 8 | out[7], 5);	/* key id in the header */
}

static void test_seal_open(void **state)	{ seal_open(false); }

/* Found by fuzz_auth: a stray ENCRYPTED bit in the plain header made an
 * authenticated-only datagram that could not be opened. */
static void test_seal_sets_flags(void **state)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_info ai;
	uint8_t buf[256], out[256];
	size_t len = mkdgram(buf, 30, WIRE_DATA), sl;

	ring(&kr, "5 " K1 "\n", false);
	buf[5] |= WIRE_F_ENCRYPTED;
	sl = auth_seal(&kr, buf, len, sizeof(buf), 1);
	assert_int_equal(buf[5] & (WIRE_F_AUTH | WIRE_F_ENCRYPTED), WIRE_F_AUTH);
	assert_int_equal(auth_open(&kr, buf, sl, out, &ai, &st), (long)len);
	assert_false(ai.encrypted);
}
static void test_seal_open_encrypted(void **state) { seal_open(true); }

/* Every single-bit change anywhere is refused, and nothing else counts. */
static void tamper(bool enc)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_info ai;
	uint8_t buf[256], t[256], out[256];
	size_t sl = auth_seal((ring(&kr, "5 " K1 "\n", enc), &kr), buf,
			      mkdgram(buf, 60, WIRE_DATA), sizeof(buf), 1);
	uint64_t refused = 0;

	for (size_t i = 0; i < sl * 8; i++) {
		memcpy(t, buf, sl);
		t[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_true(auth_open(&kr, t, sl, out, &ai, &st) < 0);
		refused++;
	}
	assert_int_equal(st.rx_bad_tag + st.rx_bad_key + st.rx_no_tag, refused);
	assert_true(st.rx_bad_tag > refused * 9 / 10);
	/* Cut short, or the trailer missing. */
	assert_true(auth_open(&kr, buf, sl - 1, out, &ai, &st) < 0);
	assert_true(auth_open(&kr, buf, WIRE_HDR_LEN + 10, out, &ai, &st) < 0);
}

static void test_tamper(void **state)		{ tamper(false); }
static void test_tamper_encrypted(void **state)	{ tamper(true); }

static void test_wrong_key(void **state)
{
	struct auth_keyring a, b, c;
	struct auth_stats st = { 0 };
	struct auth_info ai;
	uint8_t buf[256], out[256];
	size_t sl;

	ring(&a, "5 " K1 "\n", false);
	ring(&b, "5 " K2 "\n", false);	/* same id, other key: a forger */
	ring(&c, "6 " K1 "\n", false);	/* right key, unknown id */
	sl = auth_seal(&b, buf, mkdgram(buf, 10, WIRE_STATUS), sizeof(buf), 1);
	assert_true(auth_open(&a, buf, sl, out, &ai, &st) < 0);
	assert_int_equal(st.rx_bad_tag, 1);
	sl = auth_seal(&c, buf, mkdgram(buf, 10, WIRE_STATUS), sizeof(buf), 1);
	assert_true(auth_open(&a, buf, sl, out, &ai, &st) < 0);
	assert_int_equal(st.rx_bad_key, 1);
	/* Unsealed. */
	assert_true(auth_open(&a, buf, mkdgram(buf, 10, WIRE_DATA), out, &ai, &st) < 0);
	assert_int_equal(st.rx_no_tag, 1);
	/* No room for the trailer: nothing written. */
	assert_int_equal(auth_seal(&a, buf, mkdgram(buf, 10, WIRE_DATA),
				   WIRE_HDR_LEN + 10 + AUTH_TRAILER_LEN - 1, 1), 0);
	assert_false(auth_is_sealed(buf, WIRE_HDR_LEN + 10));
}

/* During a rotation both keys open; the first one seals. */
static void test_rotation(void **state)
{
	struct auth_keyring old, both, new;
	struct auth_stats st = { 0 };
	struct auth_info ai;
	uint8_t buf[256], out[256];
	size_t sl;

	ring(&old, "1 " K1 "\n", false);
	ring(&both, "2 " K2 "\n1 " K1 "\n", false);
	ring(&new, "2 " K2 "\n", false);
	sl = auth_seal(&old, buf, mkdgram(buf, 10, WIRE_DATA), sizeof(buf), 1);
	assert_true(auth_open(&both, buf, sl, out, &ai, &st) > 0);
	assert_int_equal(ai.key_id, 1);
	sl = auth_seal(&both, buf, mkdgram(buf, 10, WIRE_DATA), sizeof(buf), 2);
	assert_true(auth_open(&new, buf, sl, out, &ai, &st) > 0);
	assert_int_equal(ai.key_id, 2);
	assert_true(auth_open(&old, buf, sl, out, &ai, &st) < 0);
	assert_int_equal(st.rx_bad_key, 1);
}

static void test_replay_window(void **state)
{
	struct auth_replay w;

	auth_replay_reset(&w);
	assert_true(auth_replay_accept(&w, 1000));
	assert_false(auth_replay_accept(&w, 1000));	/* again */
	assert_false(auth_replay_accept(&w, 999));	/* below the first */
	assert_true(auth_replay_accept(&w, 1005));
	assert_true(auth_replay_accept(&w, 1002));	/* late, not seen */
	assert_false(auth_replay_accept(&w, 1002));
	assert_true(auth_replay_accept(&w, 1001));
	assert_false(auth_replay_accept(&w, 1005));
	/* A jump past the window forgets it; what falls below is refused. */
	assert_true(auth_replay_accept(&w, 1005 + 3 * AUTH_REPLAY_BITS));
	assert_true(auth_replay_accept(&w, 1005 + 3 * AUTH_REPLAY_BITS - 1));
	assert_false(auth_replay_accept(&w, 1005 + 2 * AUTH_REPLAY_BITS));
	assert_true(auth_replay_accept(&w, 1006 + 2 * AUTH_REPLAY_BITS));
	/* Every counter of a long run exactly once, in any order nearby. */
	auth_replay_reset(&w);
	assert_true(auth_replay_accept(&w, 0));
	for (uint64_t c = 1; c < 100000; c += 2) {
		assert_true(auth_replay_accept(&w, c + 1));
		assert_true(auth_replay_accept(&w, c));
		assert_false(auth_replay_accept(&w, c));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_seal_open_encrypted),
		cmocka_unit_test(test_seal_sets_flags),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_tamper_encrypted),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_replay_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
