/*
 * fuzz_auth.c - libFuzzer target for authenticated sync (src/core/auth.c)
 * and the receive path behind it (ftfw_input() with keys).
 *
 * The input is taken four ways:
 *   1. as a key file: a parse that reports no error yields 1..8 keys, one
 *      that reports errors yields none;
 *   2. as a sealed datagram: opening it fails with exactly one counter
 *      bumped, or succeeds with none (a fuzzer cannot forge a tag, so
 *      this exercises the length, flag and key id checks);
 *   3. as a plain datagram, sealed with the right key (both modes): it
 *      opens to the same bytes, and any single flipped bit is refused;
 *   4. that sealed datagram fed to a receiver which has, or has not yet,
 *      taken the sender's life, then its output drained: it never
 *      crashes, and a datagram that is not a well-formed STATUS naming
 *      the receiver cannot make an unproven life taken.
 *
 * Seeds: tests/fuzz/corpus/auth/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ftfw.h"
#include "proto.h"

#define CHECK(c)	do { if (!(c)) abort(); } while (0)

#define KEY "7 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define ME	0x0a0a0a0au
#define MY_EPOCH 0x11111111u
#define PEER	0x0b0b0b0bu
#define PEER_EPOCH 0x22222222u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t refused(const struct auth_stats *s)
{
	return s->rx_no_tag + s->rx_bad_key + s->rx_bad_tag;
}

/* A sealed STATUS from PEER's life acknowledging our life: the proof. */
static size_t proof(const struct auth_keyring *kr, uint8_t *buf, size_t cap)
{
	struct wire_status st = { .node_id = ME, .epoch = MY_EPOCH, .cum = 99 };
	struct wbuf w = { buf + WIRE_HDR_LEN, 0, cap - WIRE_HDR_LEN };
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_STATUS,
		.node_id = PEER, .epoch = PEER_EPOCH, .seq = 101, .base = 100,
	};

	CHECK(wire_put_status(&w, &st) == 0);
	h.length = (uint16_t)(WIRE_HDR_LEN + w.len);
	wire_hdr_put(buf, &h);
	return auth_seal(kr, buf, h.length, cap, 1);
}

static void receive(const struct auth_keyring *kr, const uint8_t *sealed, size_t len,
		    bool proven)
{
	static uint8_t buf[65536];
	struct cache *internal = ftfw_internal_new(0, 1);
	struct ftfw_conf conf = {
		.node_id = ME, .epoch = MY_EPOCH, .first_seq = 5,
		.max_datagram = 1400, .heartbeat_ms = 100, .ack_ms = 5,
		.peer_timeout_ms = 1000, .window = 64, .max_external = 100,
		.hash_seed = 3, .keys = kr, .first_counter = 1000,
	};
	struct ftfw_peer_info pi;
	struct ftfw *f;
	int dest;

	CHECK(internal);
	f = ftfw_new(&conf, internal);
	CHECK(f);
	CHECK(ftfw_add_peer(f, "peer") == 0);
	if (proven) {
		size_t n = proof(kr, buf, sizeof(buf));

		ftfw_input(f, 0, "peer", buf, n, 1000);
		CHECK(ftfw_peer_info(f, 0, &pi));
		CHECK(pi.table != FTFW_TABLE_NONE && pi.epoch == PEER_EPOCH);
	}
	ftfw_input(f, 0, "peer", sealed, len, 1001);
	CHECK(ftfw_peer_info(f, 0, &pi));
	if (!proven && pi.table != FTFW_TABLE_NONE) {
		/* Only a proof may do that: a STATUS that names us. */
		struct auth_stats as = { 0 };
		struct auth_info ai;
		struct wire_hdr h;
		struct wire_status st;

		CHECK(auth_open(kr, sealed, len, buf, &ai, &as) == (long)(len - AUTH_TRAILER_LEN));
		CHECK(wire_hdr_get(buf, len - AUTH_TRAILER_LEN, &h, NULL) == 0);
		CHECK(h.type == WIRE_STATUS);
		CHECK(wire_get_status(buf + WIRE_HDR_LEN,
				      len - AUTH_TRAILER_LEN - WIRE_HDR_LEN, &st, NULL) == 0);
		CHECK(st.node_id == ME && st.epoch == MY_EPOCH);
	}
	for (int i = 0; i < 4 && ftfw_output(f, 1002 + (uint64_t)i, buf, sizeof(buf), &dest); i++)
		;
	ftfw_free(f);
	cache_free(internal);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auth_keyring kr, kr_enc;
	static bool init;
	static uint8_t out[65536], sealed[65536], flip[65536];
	struct auth_keyring t = { 0 };
	struct auth_stats st = { 0 };
	struct auth_info ai;
	size_t plain, n;
	long r;
	int e;

	if (!init) {
		CHECK(auth_keys_parse(&kr, "k", KEY, strlen(KEY), NULL) == 0);
		kr_enc = kr;
		kr_enc.encrypt = true;
		init = true;
	}
	/* 1 */
	e = auth_keys_parse(&t, "f", (const char *)data, size, NULL);
	CHECK(e > 0 ? t.n == 0 : (t.n >= 1 && t.n <= AUTH_MAX_KEYS));
	auth_keys_clear(&t);

	if (size < WIRE_HDR_LEN || size > sizeof(out) - AUTH_TRAILER_LEN)
		return 0;
	/* 2 */
	r = auth_open(&kr, data, size, out, &ai, &st);
	CHECK(r < 0 ? refused(&st) == 1 : refused(&st) == 0);

	/* 3: the input as a plain datagram (its version and length field
	 * made right; flags as given, AUTH and ENCRYPTED set by sealing). */
	plain = size;
	memcpy(sealed, data, plain);
	sealed[0] = WIRE_VERSION;
	sealed[2] = (uint8_t)(plain >> 8);
	sealed[3] = (uint8_t)plain;
	{
		const struct auth_keyring *ring = (data[0] & 1) ? &kr_enc : &kr;

		n = auth_seal(ring, sealed, plain, sizeof(sealed), 42);
		CHECK(n == plain + AUTH_TRAILER_LEN);
		r = auth_open(&kr, sealed, n, out, &ai, &st);
		CHECK(r == (long)plain && ai.counter == 42 && ai.key_id == 7);
		CHECK(memcmp(out + 8, data + 8, plain - 8) == 0);
		memcpy(flip, sealed, n);
		flip[data[1] % n] ^= (uint8_t)(1u << (data[2] % 8));
		memset(&st, 0, sizeof(st));
		CHECK(auth_open(&kr, flip, n, out, &ai, &st) < 0 && refused(&st) == 1);
	}
	/* 4: as it came, and as if from the peer's life, both before and
	 * after that life was proven. */
	receive(&kr, sealed, n, false);
	sealed[8] = PEER >> 24; sealed[9] = (PEER >> 16) & 0xff;
	sealed[10] = (PEER >> 8) & 0xff; sealed[11] = PEER & 0xff;
	sealed[12] = PEER_EPOCH >> 24; sealed[13] = (PEER_EPOCH >> 16) & 0xff;
	sealed[14] = (PEER_EPOCH >> 8) & 0xff; sealed[15] = PEER_EPOCH & 0xff;
	n = auth_seal((data[0] & 1) ? &kr_enc : &kr, sealed, plain, sizeof(sealed), 43);
	CHECK(n == plain + AUTH_TRAILER_LEN);
	receive(&kr, sealed, n, false);
	receive(&kr, sealed, n, true);
	return 0;
}
