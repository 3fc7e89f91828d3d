/*
 * auth.c - key ring, datagram sealing and anti-replay window: see auth.h.
 *
 * libsodium does the cryptography.  sodium_init() is not needed for the
 * primitives used here (it only picks faster implementations and seeds
 * the RNG, which this file never uses); the daemon calls it at start-up.
 */
#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "auth.h"
#include "ctsync/wire.h"

#define NONCE_LEN	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN		crypto_aead_xchacha20poly1305_ietf_ABYTES
#define CTR_LEN		8

_Static_assert(AUTH_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "key length");
_Static_assert(AUTH_TRAILER_LEN == CTR_LEN + TAG_LEN, "trailer length");

/* ---- key file ------------------------------------------------------------ */

static int kerr(FILE *err, const char *name, unsigned line, size_t col,
		const char *what, const char *s, size_t n)
{
	if (err) {
		if (s)
			fprintf(err, "%s:%u:%zu: %s '%.*s'\n", name, line, col,
				what, (int)(n > 40 ? 40 : n), s);
		else
			fprintf(err, "%s:%u:%zu: %s\n", name, line, col, what);
	}
	return 1;
}

/* One line (no newline): "ID HEX", a comment, or blank. */
static int parse_line(struct auth_keyring *kr, const char *name, unsigned ln,
		      const char *s, size_t n, FILE *err)
{
	size_t i = 0, t0, id_col;
	unsigned long id = 0;
	struct auth_key k;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	id_col = i + 1;
	t0 = i;
	while (i < n && isdigit((unsigned char)s[i]) && id <= 65535)
		id = id * 10 + (unsigned long)(s[i++] - '0');
	if (i == t0 || id == 0 || id > 65535 ||
	    (i < n && s[i] != ' ' && s[i] != '\t')) {
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		return kerr(err, name, ln, id_col, "key id is not a number 1-65535:",
			    s + t0, i - t0);
	}
	k.id = (uint16_t)id;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	t0 = i;
	while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '#')
		i++;
	if (i - t0 != 2 * AUTH_KEY_LEN ||
	    sodium_hex2bin(k.key, sizeof(k.key), s + t0, i - t0, NULL, NULL, NULL) != 0) {
		sodium_memzero(&k, sizeof(k));
		if (i == t0)
			return kerr(err, name, ln, t0 + 1, "key missing after the id "
				    "(64 hex digits)", NULL, 0);
		/* Never echo what may be key material. */
		return kerr(err, name, ln, t0 + 1, "key is not 64 hex digits "
			    "(32 bytes)", NULL, 0);
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < n && s[i] != '#') {
		sodium_memzero(&k, sizeof(k));
		return kerr(err, name, ln, i + 1, "unexpected text after the key:",
			    s + i, n - i);
	}
	for (size_t j = 0; j < kr->n; j++) {
		if (kr->keys[j].id == k.id) {
			sodium_memzero(&k, sizeof(k));
			return kerr(err, name, ln, id_col, "key id listed twice:",
				    s + id_col - 1, t0 - id_col);
		}
	}
	if (kr->n == AUTH_MAX_KEYS) {
		sodium_memzero(&k, sizeof(k));
		if (err)
			fprintf(err, "%s:%u:%zu: more than %d keys\n", name, ln,
				id_col, AUTH_MAX_KEYS);
		return 1;
	}
	kr->keys[kr->n++] = k;
	sodium_memzero(&k, sizeof(k));
	return 0;
}

int auth_keys_parse(struct auth_keyring *kr, const char *name,
		    const char *buf, size_t len, FILE *err)
{
	bool enc = kr->encrypt;
	unsigned ln = 1;
	int errors = 0;
	size_t i = 0;

	auth_keys_clear(kr);
	kr->encrypt = enc;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;
		size_t next = i + n + (nl != NULL);

		if (n && buf[i + n - 1] == '\r')
			n--;
		errors += parse_line(kr, name, ln, buf + i, n, err);
		i = next;
		ln++;
	}
	if (!errors && kr->n == 0) {
		if (err)
			fprintf(err, "%s: no key (a line \"ID HEX\", e.g. made by "
				"ctsyncd --genkey 1)\n", name);
		errors++;
	}
	if (errors)
		auth_keys_clear(kr);
	kr->encrypt = enc;
	return errors;
}

void auth_keys_clear(struct auth_keyring *kr)
{
	sodium_memzero(kr, sizeof(*kr));
}

/* ---- sealing --------------------------------------------------------------- */

static inline uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* node id and epoch sit at bytes 8-15 of the header, the counter follows
 * the payload: the nonce is made of both. */
static void make_nonce(uint8_t nonce[NONCE_LEN], const uint8_t *hdr,
		       const uint8_t *ctr)
{
	memcpy(nonce, hdr + 8, 8);
	memcpy(nonce + 8, ctr, CTR_LEN);
	memset(nonce + 16, 0, NONCE_LEN - 16);
}

static const struct auth_key *find_key(const struct auth_keyring *kr, uint16_t id)
{
	for (size_t i = 0; i < kr->n; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

size_t auth_seal(const struct auth_keyring *kr, uint8_t *buf, size_t len,
		 size_t cap, uint64_t counter)
{
	const struct auth_key *k = kr->n ? &kr->keys[0] : NULL;
	uint16_t flags;
	uint8_t nonce[NONCE_LEN], *ctr, *tag, none[1] = { 0 };
	uint8_t *payload = buf + WIRE_HDR_LEN;
	size_t plen = len - WIRE_HDR_LEN;

	if (!k || len < WIRE_HDR_LEN || cap < len || cap - len < AUTH_TRAILER_LEN)
		return 0;
	/* The flags say exactly what was done, whatever the caller left. */
	flags = (uint16_t)((get_u16(buf + 4) & ~(WIRE_F_AUTH | WIRE_F_ENCRYPTED)) |
			   WIRE_F_AUTH | (kr->encrypt ? WIRE_F_ENCRYPTED : 0));
	buf[4] = (uint8_t)(flags >> 8);
	buf[5] = (uint8_t)flags;
	buf[6] = (uint8_t)(k->id >> 8);
	buf[7] = (uint8_t)k->id;
	ctr = buf + len;
	tag = ctr + CTR_LEN;
	put_u64(ctr, counter);
	make_nonce(nonce, buf, ctr);
	if (kr->encrypt)
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(payload, tag, NULL,
			payload, plen, buf, WIRE_HDR_LEN, NULL, nonce, k->key);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(none, tag, NULL,
			none, 0, buf, len, NULL, nonce, k->key);
	return len + AUTH_TRAILER_LEN;
}

bool auth_is_sealed(const uint8_t *buf, size_t len)
{
	return len >= WIRE_HDR_LEN && buf[0] == WIRE_VERSION &&
	       (get_u16(buf + 4) & WIRE_F_AUTH);
}

long auth_open(const struct auth_keyring *kr, const uint8_t *in, size_t len,
	       uint8_t *out, struct auth_info *ai, struct auth_stats *st)
{
	const struct auth_key *k;
	const uint8_t *ctr, *tag;
	uint8_t nonce[NONCE_LEN], none[1] = { 0 };
	size_t plain, plen;
	uint16_t flags;
	int rc;

	if (!auth_is_sealed(in, len) || len < WIRE_HDR_LEN + AUTH_TRAILER_LEN) {
		st->rx_no_tag++;
		return -1;
	}
	if (!(k = find_key(kr, get_u16(in + 6)))) {
		st->rx_bad_key++;
		return -1;
	}
	flags = get_u16(in + 4);
	plain = len - AUTH_TRAILER_LEN;
	plen = plain - WIRE_HDR_LEN;
	ctr = in + plain;
	tag = ctr + CTR_LEN;
	make_nonce(nonce, in, ctr);
	if (flags & WIRE_F_ENCRYPTED)
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			out + WIRE_HDR_LEN, NULL, in + WIRE_HDR_LEN, plen, tag,
			in, WIRE_HDR_LEN, nonce, k->key);
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			none, NULL, none, 0, tag, in, plain, nonce, k->key);
	if (rc != 0) {
		st->rx_bad_tag++;
		return -1;
	}
	memcpy(out, in, (flags & WIRE_F_ENCRYPTED) ? WIRE_HDR_LEN : plain);
	ai->key_id = k->id;
	ai->encrypted = flags & WIRE_F_ENCRYPTED;
	ai->counter = get_u64(ctr);
	return (long)plain;
}

/* ---- anti-replay ---------------------------------------------------------- */

static inline bool rbit(const struct auth_replay *w, uint64_t c)
{
	uint64_t i = c % AUTH_REPLAY_BITS;

	return w->bits[i / 64] >> (i % 64) & 1;
}

static inline void rset(struct auth_replay *w, uint64_t c, bool v)
{
	uint64_t i = c % AUTH_REPLAY_BITS, m = (uint64_t)1 << (i % 64);

	if (v)
		w->bits[i / 64] |= m;
	else
		w->bits[i / 64] &= ~m;
}

void auth_replay_reset(struct auth_replay *w)
{
	memset(w, 0, sizeof(*w));
}

bool auth_replay_accept(struct auth_replay *w, uint64_t ctr)
{
	if (!w->any) {
		/* The first counter is a floor: nothing sealed before it. */
		w->any = true;
		w->top = ctr;
		memset(w->bits, 0xff, sizeof(w->bits));
		return true;
	}
	if (ctr > w->top) {
		uint64_t shift = ctr - w->top;

		if (shift >= AUTH_REPLAY_BITS)
			memset(w->bits, 0, sizeof(w->bits));
		else
			for (uint64_t c = w->top + 1; c < ctr; c++)
				rset(w, c, false);
		w->top = ctr;
		rset(w, ctr, true);
		return true;
	}
	if (w->top - ctr >= AUTH_REPLAY_BITS || rbit(w, ctr))
		return false;
	rset(w, ctr, true);
	return true;
}
