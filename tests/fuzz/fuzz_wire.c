/*
 * fuzz_wire.c - libFuzzer target for the wire codec (src/core/proto.c).
 *
 * The input is taken as a whole datagram (header, then DATA records or a
 * STATUS payload), and also as a bare DATA payload and a bare STATUS
 * payload, so the fuzzer reaches the record parser without first having
 * to find a valid header.  Besides never crashing, it aborts when:
 *   - a decoder fails without bumping exactly one error counter, or
 *     succeeds while bumping one;
 *   - wire_data_check() and wire_rec_next() disagree about a payload;
 *   - a decoded item does not survive encode -> decode unchanged, or its
 *     encoding is not canonical (encode(decode(encode(x))) != encode(x));
 *   - an encoder given one byte too few writes anything.
 *
 * Seeds: tests/fuzz/corpus/wire/ (written by test_proto --write-corpus).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"

#define CHECK(c)	do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t errors(const struct wire_stats *st)
{
	return st->rx_bad_len + st->rx_bad_version + st->rx_bad_type +
	       st->rx_bad_record + st->rx_bad_attr + st->rx_bad_status;
}

static bool flow_same(const struct flow *a, const struct flow *b)
{
	return flow_state_eq(a, b) && a->timeout == b->timeout &&
	       (a->ext == NULL) == (b->ext == NULL);
}

/* Encode r into buf (cap bytes); returns the length, checks the
 * refuse-when-short rule on the way. */
static size_t encode(const struct wire_rec *r, uint8_t *buf, size_t cap)
{
	struct wbuf b = { buf, 0, cap };
	int ret = -1;

	switch (r->rtype) {
	case WIRE_R_FLOW:
		ret = wire_put_flow(&b, &r->flow);
		CHECK(ret < 0 || b.len == wire_flow_len(&r->flow));
		break;
	case WIRE_R_DESTROY:
		ret = wire_put_destroy(&b, &r->flow.key);
		break;
	case WIRE_R_BULK_END:
		ret = wire_put_bulk_end(&b, r->begin_seq);
		break;
	default:
		abort();
	}
	CHECK(ret == 0);

	/* one byte short: refused, nothing written */
	{
		uint8_t shadow[512];
		struct wbuf s = { shadow, 0, b.len - 1 };
		int r2;

		memset(shadow, 0x5a, sizeof(shadow));
		switch (r->rtype) {
		case WIRE_R_FLOW:
			r2 = wire_put_flow(&s, &r->flow);
			break;
		case WIRE_R_DESTROY:
			r2 = wire_put_destroy(&s, &r->flow.key);
			break;
		default:
			r2 = wire_put_bulk_end(&s, r->begin_seq);
			break;
		}
		CHECK(r2 == -1 && s.len == 0);
		for (size_t i = 0; i < sizeof(shadow); i++)
			CHECK(shadow[i] == 0x5a);
	}
	return b.len;
}

static void reencode(const struct wire_rec *r)
{
	uint8_t buf[512], buf2[512];
	struct wire_stats st = { 0 };
	struct wire_rec d;
	const uint8_t *p = buf;
	size_t len, len2, left;

	len = encode(r, buf, sizeof(buf));
	CHECK(wire_data_check(buf, len, &st) == 1);
	left = len;
	CHECK(wire_rec_next(&p, &left, &d, &st) == 1);
	CHECK(left == 0);
	CHECK(wire_rec_next(&p, &left, &d, &st) == 0);
	CHECK(errors(&st) == 0);
	CHECK(st.rx_unknown_attr == 0 && st.rx_unknown_record == 0);
	CHECK(d.rtype == r->rtype);

	switch (r->rtype) {
	case WIRE_R_FLOW:
		CHECK(flow_same(&r->flow, &d.flow));
		CHECK(d.flow.ext == NULL || d.flow.ext == &d.ext);
		break;
	case WIRE_R_DESTROY:
		CHECK(flow_key_eq(&r->flow.key, &d.flow.key));
		break;
	default:
		CHECK(d.begin_seq == r->begin_seq);
		break;
	}

	len2 = encode(&d, buf2, sizeof(buf2));
	CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
}

/* Decoded-value invariants that the rest of the daemon relies on. */
static void check_rec(const struct wire_rec *r)
{
	static const uint8_t zero[12];

	CHECK(r->rtype == WIRE_R_FLOW || r->rtype == WIRE_R_DESTROY ||
	      r->rtype == WIRE_R_BULK_END);
	if (r->rtype == WIRE_R_BULK_END)
		return;
	CHECK(r->flow.key.family == AF_INET || r->flow.key.family == AF_INET6);
	if (r->flow.key.family == AF_INET) {
		CHECK(memcmp(r->flow.key.orig.src.b + 4, zero, 12) == 0);
		CHECK(memcmp(r->flow.key.orig.dst.b + 4, zero, 12) == 0);
		CHECK(memcmp(r->flow.reply.src.b + 4, zero, 12) == 0);
		CHECK(memcmp(r->flow.reply.dst.b + 4, zero, 12) == 0);
	}
	if (r->rtype == WIRE_R_FLOW) {
		CHECK(r->flow.flags & FLOW_F_TIMEOUT);
		if (r->flow.ext) {
			CHECK(r->flow.ext->has);
			if (r->flow.ext->has & FLOW_EXT_HELPER) {
				size_t n = strnlen(r->flow.ext->helper,
						   FLOW_HELPER_MAX);

				CHECK(n >= 1 && n < FLOW_HELPER_MAX);
			}
		} else {
			CHECK(r->ext.has == 0);
		}
	} else {
		CHECK(r->flow.ext == NULL);
	}
}

static void data_payload(const uint8_t *p0, size_t len)
{
	struct wire_stats st = { 0 }, st2 = { 0 };
	const uint8_t *p = p0;
	size_t left = len;
	struct wire_rec r;
	int n, ret, got = 0;

	n = wire_data_check(p0, len, &st);
	CHECK(st.rx_unknown_attr == 0 && st.rx_unknown_record == 0);
	if (n < 0) {
		CHECK(errors(&st) == 1);
		CHECK(st.rx_bad_record + st.rx_bad_attr == 1);
	} else {
		CHECK(errors(&st) == 0);
	}

	/* The iterator runs on unchecked input too; it must agree. */
	while ((ret = wire_rec_next(&p, &left, &r, &st2)) > 0) {
		check_rec(&r);
		if (n >= 0)
			reencode(&r);
		got++;
	}
	if (n >= 0) {
		CHECK(ret == 0 && left == 0);
		CHECK(errors(&st2) == 0);
		CHECK((uint64_t)got + st2.rx_unknown_record == (uint64_t)n);
	} else {
		CHECK(ret == -1);
		CHECK(errors(&st2) == 1);
		CHECK(st2.rx_bad_record == st.rx_bad_record &&
		      st2.rx_bad_attr == st.rx_bad_attr);
	}
}

static void status_payload(const uint8_t *p, size_t len)
{
	struct wire_stats st = { 0 };
	struct wire_status s, s2;
	uint8_t buf[WIRE_STATUS_FIXED + 8 * WIRE_MAX_RANGES];
	struct wbuf b = { buf, 0, sizeof(buf) };

	if (wire_get_status(p, len, &s, &st) < 0) {
		CHECK(st.rx_bad_status == 1 && errors(&st) == 1);
		return;
	}
	CHECK(errors(&st) == 0);
	CHECK(s.nranges <= WIRE_MAX_RANGES);
	CHECK(len == WIRE_STATUS_FIXED + 8 * (size_t)s.nranges);
	CHECK(wire_put_status(&b, &s) == 0 && b.len == len);
	/* identical but for the reserved field */
	CHECK(memcmp(buf, p, 18) == 0);
	CHECK(memcmp(buf + 20, p + 20, len - 20) == 0);
	CHECK(wire_get_status(buf, b.len, &s2, &st) == 0);
	CHECK(s2.node_id == s.node_id && s2.epoch == s.epoch &&
	      s2.cum == s.cum && s2.resync_after == s.resync_after && s2.flags == s.flags &&
	      s2.nranges == s.nranges);
	for (unsigned i = 0; i < s.nranges; i++) {
		CHECK(s2.ranges[i].first == s.ranges[i].first);
		CHECK(s2.ranges[i].last == s.ranges[i].last);
		CHECK(!wire_before(s.ranges[i].last, s.ranges[i].first));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_stats st = { 0 };
	struct wire_hdr h;

	if (wire_hdr_get(data, size, &h, &st) == 0) {
		uint8_t hb[WIRE_HDR_LEN];

		CHECK(errors(&st) == 0);
		CHECK(h.length == size && h.epoch != 0);
		wire_hdr_put(hb, &h);
		CHECK(memcmp(hb, data, 6) == 0);
		CHECK(memcmp(hb + 8, data + 8, WIRE_HDR_LEN - 8) == 0);
		switch (h.type) {
		case WIRE_DATA:
			data_payload(data + WIRE_HDR_LEN, size - WIRE_HDR_LEN);
			break;
		case WIRE_STATUS:
			status_payload(data + WIRE_HDR_LEN,
				       size - WIRE_HDR_LEN);
			break;
		case WIRE_HEARTBEAT:
			CHECK(size == WIRE_HDR_LEN);
			break;
		default:
			abort();
		}
	} else {
		CHECK(errors(&st) == 1);
		CHECK(st.rx_bad_len + st.rx_bad_version + st.rx_bad_type == 1);
	}

	/* the same bytes as bare payloads */
	data_payload(data, size);
	status_payload(data, size);
	return 0;
}
