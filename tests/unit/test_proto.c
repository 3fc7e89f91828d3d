/*
 * test_proto.c - wire codec: golden bytes, round trips, truncation,
 * malformations and their counters, STATUS, serial arithmetic.
 *
 * Run with "--write-corpus DIR" it writes the fuzzer's seed datagrams
 * (tests/fuzz/corpus/wire/) instead of running the tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"

#define CTR(f)	offsetof(struct wire_stats, f)
#define NO_CTR	((size_t)-1)

/* ---- helpers ---------------------------------------------------------- */

static void addr(union flow_addr *a, int af, const char *s)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(inet_pton(af, s, a->b), 1);
}

static struct flow mkflow(int af, uint8_t l4, const char *src,
			  const char *dst, uint16_t sport, uint16_t dport)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.family = (uint8_t)af;
	f.key.l4proto = l4;
	addr(&f.key.orig.src, af, src);
	addr(&f.key.orig.dst, af, dst);
	f.key.orig.sport = sport;
	f.key.orig.dport = dport;
	flow_tuple_invert(&f.key, &f.reply);
	f.status = 0x18e;	/* IPS_* bits, value irrelevant */
	f.timeout = 120;
	f.flags = FLOW_F_TIMEOUT;
	return f;
}

/* Assert that exactly the counter at off is 1 and all others 0
 * (off == NO_CTR: all 0). */
static void assert_only(const struct wire_stats *st, size_t off)
{
	const uint64_t *v = (const uint64_t *)(const void *)st;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
		uint64_t want = i * sizeof(uint64_t) == off ? 1 : 0;

		if (v[i] != want)
			fail_msg("counter #%zu is %llu, expected %llu", i,
				 (unsigned long long)v[i],
				 (unsigned long long)want);
	}
}

static uint64_t error_sum(const struct wire_stats *st)
{
	return st->rx_bad_len + st->rx_bad_version + st->rx_bad_type +
	       st->rx_bad_record + st->rx_bad_attr + st->rx_bad_status;
}

static void assert_flow_same(const struct flow *want, const struct flow *got)
{
	assert_int_equal(got->key.family, want->key.family);
	assert_int_equal(got->key.l4proto, want->key.l4proto);
	assert_int_equal(got->key.zone, want->key.zone);
	assert_true(flow_key_eq(&got->key, &want->key));
	assert_memory_equal(&got->reply.src, &want->reply.src, 16);
	assert_memory_equal(&got->reply.dst, &want->reply.dst, 16);
	assert_int_equal(got->reply.sport, want->reply.sport);
	assert_int_equal(got->reply.dport, want->reply.dport);
	assert_int_equal(got->status, want->status);
	assert_int_equal(got->timeout, want->timeout);
	assert_int_equal(got->flags, want->flags);
	assert_int_equal(got->mark, want->mark);
	assert_int_equal(got->proto_state, want->proto_state);
	assert_int_equal(got->wscale[0], want->wscale[0]);
	assert_int_equal(got->wscale[1], want->wscale[1]);
	assert_int_equal(got->tcpflags[0], want->tcpflags[0]);
	assert_int_equal(got->tcpflags[1], want->tcpflags[1]);
	assert_true(flow_state_eq(want, got));
}

static uint16_t get_u16_be(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Encode f alone, check it, decode it into r.  Returns the record length. */
static size_t roundtrip(const struct flow *f, struct wire_rec *r)
{
	uint8_t buf[512];
	struct wbuf b = { buf, 0, sizeof(buf) };
	struct wire_stats st = { 0 };
	struct wire_rec end;
	const uint8_t *p = buf;
	size_t left;

	assert_int_equal(wire_put_flow(&b, f), 0);
	assert_int_equal(b.len, wire_flow_len(f));
	assert_int_equal(get_u16_be(buf + 2), b.len);
	assert_int_equal(wire_data_check(buf, b.len, &st), 1);
	left = b.len;
	assert_int_equal(wire_rec_next(&p, &left, r, &st), 1);
	assert_int_equal(r->rtype, WIRE_R_FLOW);
	assert_int_equal(wire_rec_next(&p, &left, &end, &st), 0);
	assert_int_equal(left, 0);
	assert_only(&st, NO_CTR);
	return b.len;
}

/* ---- byte builder for hand-made input --------------------------------- */

struct bb {
	uint8_t b[1024];
	size_t  n;
};

static void bb_put(struct bb *x, const void *p, size_t n)
{
	assert_true(x->n + n <= sizeof(x->b));
	memcpy(x->b + x->n, p, n);
	x->n += n;
}

#define BB(x, ...) do {						\
	const uint8_t t_[] = { __VA_ARGS__ };				\
	bb_put((x), t_, sizeof(t_));					\
} while (0)

static void bb_u16(struct bb *x, uint16_t v)
{
	BB(x, (uint8_t)(v >> 8), (uint8_t)v);
}

static void bb_u32(struct bb *x, uint32_t v)
{
	BB(x, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
	   (uint8_t)v);
}

/* A datagram of the given type around a payload. */
static size_t mkdgram(uint8_t *out, size_t cap, uint8_t type, uint32_t seq,
		      const uint8_t *payload, size_t plen)
{
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = type,
		.length = (uint16_t)(WIRE_HDR_LEN + plen),
		.node_id = 0xc0000201, .epoch = 1700000000,
		.seq = seq, .base = seq - 3,
	};

	assert_true(WIRE_HDR_LEN + plen <= cap);
	wire_hdr_put(out, &h);
	if (plen)
		memcpy(out + WIRE_HDR_LEN, payload, plen);
	return WIRE_HDR_LEN + plen;
}

/* ---- sample flows ----------------------------------------------------- */

/* The golden one: tcp 198.51.100.10:40000 -> 203.0.113.10:80, no NAT. */
static struct flow golden_tcp(void)
{
	struct flow f = mkflow(AF_INET, IPPROTO_TCP, "198.51.100.10",
			       "203.0.113.10", 40000, 80);

	f.status = 0x0e;
	f.timeout = 432000;
	f.flags |= FLOW_F_PROTO;
	f.proto_state = 3;		/* ESTABLISHED */
	f.wscale[0] = 7;
	f.wscale[1] = 9;
	f.tcpflags[0] = 0x23;
	f.tcpflags[1] = 0x33;
	return f;
}

static const uint8_t golden_tcp_bytes[] = {
	0x01, 0x00, 0x00, 0x23,			/* FLOW, rflags, rlen 35 */
	0x04, 0x06, 0x00, 0x00,			/* v4, tcp, zone 0 */
	0xc6, 0x33, 0x64, 0x0a,			/* 198.51.100.10 */
	0xcb, 0x00, 0x71, 0x0a,			/* 203.0.113.10 */
	0x9c, 0x40, 0x00, 0x50,			/* 40000, 80 */
	0x00, 0x00, 0x00, 0x0e,			/* status */
	0x00, 0x06, 0x97, 0x80,			/* timeout 432000 */
	0x03, 0x05, 0x03, 0x07, 0x09, 0x23, 0x33, /* TCP attr */
};

static struct flow_ext full_ext(void)
{
	struct flow_ext x;

	memset(&x, 0, sizeof(x));
	x.has = FLOW_EXT_LABELS | FLOW_EXT_SEQADJ | FLOW_EXT_HELPER;
	x.labels[0] = 0x80000001;
	x.labels[1] = 0x00010000;
	x.labels[2] = 0;
	x.labels[3] = 0xdeadbeef;
	x.seqadj[0] = (struct flow_seqadj){ 0x11111111, 0x22, 0xffffffe0 };
	x.seqadj[1] = (struct flow_seqadj){ 0x33333333, 0x44, 0x55 };
	strcpy(x.helper, "ftp");
	return x;
}

/* v6 TCP with DNAT reply and all of ext. */
static struct flow big_flow(struct flow_ext *x)
{
	struct flow f = mkflow(AF_INET6, IPPROTO_TCP, "2001:db8::10",
			       "2001:db8:1::1", 51000, 21);

	*x = full_ext();
	addr(&f.reply.src, AF_INET6, "2001:db8:2::99");
	f.reply.sport = 2121;
	f.flags |= FLOW_F_PROTO | FLOW_F_MARK;
	f.mark = 0xcafe;
	f.proto_state = 3;
	f.wscale[0] = 14;
	f.wscale[1] = 2;
	f.ext = x;
	f.key.zone = 7;
	return f;
}

/* A DATA payload with four record kinds; offs[] gets each record's end. */
static size_t mixed_payload(uint8_t *out, size_t cap, size_t offs[4])
{
	struct wbuf b = { out, 0, cap };
	struct flow_ext x;
	struct flow big = big_flow(&x);
	struct flow udp = mkflow(AF_INET, IPPROTO_UDP, "192.0.2.1",
				 "192.0.2.2", 5353, 53);
	struct flow_key dk = mkflow(AF_INET, IPPROTO_UDP, "10.0.0.1",
				    "10.0.0.2", 1, 2).key;

	assert_int_equal(wire_put_flow(&b, &big), 0);
	offs[0] = b.len;
	assert_int_equal(wire_put_destroy(&b, &dk), 0);
	offs[1] = b.len;
	assert_int_equal(wire_put_bulk_end(&b, 0xfffffff0), 0);
	offs[2] = b.len;
	assert_int_equal(wire_put_flow(&b, &udp), 0);
	offs[3] = b.len;
	return b.len;
}

/* ---- serial numbers --------------------------------------------------- */

static void test_serial_wrap(void **state)
{
	(void)state;
	assert_true(wire_before(0xffffffff, 0));
	assert_false(wire_after(0xffffffff, 0));
	assert_true(wire_after(0, 0xffffffff));
	assert_false(wire_before(0, 0xffffffff));
	assert_true(wire_before(0xfffffff0, 0x10));
	assert_true(wire_after(0x10, 0xfffffff0));
	/* largest distance that still orders: 2^31 - 1 */
	assert_true(wire_before(0, 0x7fffffff));
	assert_true(wire_after(0x7fffffff, 0));
	assert_false(wire_before(0x7fffffff, 0));
	assert_true(wire_before(0x80000000, 0xffffffff));
	assert_true(wire_after(0x7ffffffe, 0xffffffff));
	/* one more and it wraps the other way */
	assert_true(wire_after(0, 0x80000001));
	assert_true(wire_before(0x80000001, 0));
	/* equal is neither */
	assert_false(wire_before(5, 5));
	assert_false(wire_after(5, 5));
	assert_false(wire_before(0xffffffff, 0xffffffff));
}

/* ---- header ------------------------------------------------------------ */

static void test_hdr_golden(void **state)
{
	static const uint8_t want[WIRE_HDR_LEN] = {
		0x01, 0x01, 0x00, 0x3b, 0x00, 0x01, 0x00, 0x00,
		0xc0, 0x00, 0x02, 0x01, 0x5f, 0x5e, 0x10, 0x00,
		0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xf0,
	};
	struct wire_hdr h = {
		.version = 1, .type = WIRE_DATA, .length = 59,
		.flags = WIRE_F_AUTH, .node_id = 0xc0000201,
		.epoch = 0x5f5e1000, .seq = 0xfffffffe, .base = 0xfffffff0,
	}, g;
	uint8_t buf[59];
	struct wire_stats st = { 0 };

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	wire_hdr_put(buf, &h);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[WIRE_HDR_LEN], 0xa5);	/* wrote 24 bytes only */

	memset(&g, 0, sizeof(g));
	assert_int_equal(wire_hdr_get(buf, sizeof(buf), &g, &st), 0);
	assert_only(&st, NO_CTR);
	assert_int_equal(g.version, 1);
	assert_int_equal(g.type, WIRE_DATA);
	assert_int_equal(g.length, 59);
	assert_int_equal(g.flags, WIRE_F_AUTH);
	assert_int_equal(g.node_id, 0xc0000201);
	assert_int_equal(g.epoch, 0x5f5e1000);
	assert_int_equal(g.seq, 0xfffffffe);
	assert_int_equal(g.base, 0xfffffff0);
}

static void test_hdr_malformed(void **state)
{
	static const struct {
		const char *name;
		int         byte;	/* -1: none */
		uint8_t     val;
		size_t      len;	/* bytes given */
		uint8_t     type;
		size_t      ctr;
	} c[] = {
		{ "empty",            -1, 0, 0,  WIRE_DATA, CTR(rx_bad_len) },
		{ "23 bytes",         -1, 0, 23, WIRE_DATA, CTR(rx_bad_len) },
		{ "length > len",      3, 30, 28, WIRE_STATUS, CTR(rx_bad_len) },
		{ "length < len",      3, 25, 28, WIRE_STATUS, CTR(rx_bad_len) },
		{ "version 0",         0, 0, 24, WIRE_DATA, CTR(rx_bad_version) },
		{ "version 2",         0, 2, 24, WIRE_DATA, CTR(rx_bad_version) },
		{ "type 0",            1, 0, 24, WIRE_DATA, CTR(rx_bad_type) },
		{ "type 4",            1, 4, 24, WIRE_DATA, CTR(rx_bad_type) },
		{ "type 255",          1, 255, 24, WIRE_DATA, CTR(rx_bad_type) },
		{ "epoch 0",          12, 0, 24, WIRE_DATA, CTR(rx_bad_version) },
		{ "heartbeat payload", -1, 0, 28, WIRE_HEARTBEAT, CTR(rx_bad_len) },
		{ "ok data",          -1, 0, 24, WIRE_DATA, NO_CTR },
		{ "ok heartbeat",     -1, 0, 24, WIRE_HEARTBEAT, NO_CTR },
		{ "ok reserved set",   7, 0xff, 24, WIRE_DATA, NO_CTR },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t buf[64] = { 0 };
		struct wire_stats st = { 0 };
		struct wire_hdr h;
		size_t n = c[i].len;

		if (n >= WIRE_HDR_LEN)
			mkdgram(buf, sizeof(buf), c[i].type, 9, buf + 32,
				n - WIRE_HDR_LEN);
		if (c[i].byte == 12)
			memset(buf + 12, 0, 4);
		else if (c[i].byte >= 0)
			buf[c[i].byte] = c[i].val;
		print_message("%s\n", c[i].name);
		assert_int_equal(wire_hdr_get(buf, n, &h, &st),
				 c[i].ctr == NO_CTR ? 0 : -1);
		assert_only(&st, c[i].ctr);
	}
}

/* ---- FLOW golden bytes and round trips -------------------------------- */

static void test_flow_golden_v4_tcp(void **state)
{
	struct flow f = golden_tcp();
	uint8_t buf[64];
	struct wbuf b = { buf, 0, sizeof(buf) };
	struct wire_rec r;

	(void)state;
	assert_int_equal(wire_flow_len(&f), sizeof(golden_tcp_bytes));
	assert_int_equal(wire_put_flow(&b, &f), 0);
	assert_int_equal(b.len, sizeof(golden_tcp_bytes));
	assert_memory_equal(buf, golden_tcp_bytes, sizeof(golden_tcp_bytes));

	/* and a whole datagram around it: header golden + record golden */
	{
		uint8_t d[128];
		size_t n = mkdgram(d, sizeof(d), WIRE_DATA, 0x01020304,
				   golden_tcp_bytes, sizeof(golden_tcp_bytes));
		static const uint8_t hdr[] = {
			0x01, 0x01, 0x00, 0x3b, 0x00, 0x00, 0x00, 0x00,
			0xc0, 0x00, 0x02, 0x01, 0x65, 0x53, 0xf1, 0x00,
			0x01, 0x02, 0x03, 0x04, 0x01, 0x02, 0x03, 0x01,
		};
		assert_int_equal(n, 59);
		assert_memory_equal(d, hdr, sizeof(hdr));
	}

	roundtrip(&f, &r);
	assert_flow_same(&f, &r.flow);
	assert_null(r.flow.ext);
	assert_int_equal(r.flow.key.orig.sport, 40000);
	assert_int_equal(r.flow.reply.sport, 80);
	assert_int_equal(r.flow.reply.dport, 40000);
	assert_int_equal(r.flow.reply.src.v4, htonl(0xcb00710a));
	assert_int_equal(r.flow.proto_state, 3);
	assert_int_equal(r.flow.wscale[1], 9);
	assert_int_equal(r.flow.tcpflags[1], 0x33);
}

static void test_rt_tcp(void **state)
{
	struct wire_rec r;
	struct flow f;
	size_t plain, nat;

	(void)state;
	/* v4 without NAT: no REPLY attribute */
	f = golden_tcp();
	plain = roundtrip(&f, &r);
	assert_flow_same(&f, &r.flow);

	/* v4 SNAT: reply dst is the public address and port */
	addr(&f.reply.dst, AF_INET, "203.0.113.1");
	f.reply.dport = 61000;
	f.status |= 0x10;
	nat = roundtrip(&f, &r);
	assert_int_equal(nat, plain + 2 + 12);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.reply.dst.v4, htonl(0xcb007101));
	assert_int_equal(r.flow.reply.dport, 61000);
	assert_int_equal(r.flow.reply.src.v4, htonl(0xcb00710a));

	/* v6 without NAT */
	f = mkflow(AF_INET6, IPPROTO_TCP, "2001:db8::10", "2001:db8:1::1",
		   443, 33000);
	f.flags |= FLOW_F_PROTO;
	f.proto_state = 1;
	f.wscale[0] = 8;
	f.tcpflags[0] = 0x02;
	plain = roundtrip(&f, &r);
	assert_int_equal(plain, 4 + 40 + 8 + 7);
	assert_flow_same(&f, &r.flow);
	assert_memory_equal(r.flow.reply.src.b, f.key.orig.dst.b, 16);
	assert_int_equal(r.flow.reply.dport, 443);

	/* v6 DNAT */
	addr(&f.reply.src, AF_INET6, "fd00::5");
	f.reply.sport = 8443;
	nat = roundtrip(&f, &r);
	assert_int_equal(nat, plain + 2 + 36);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.reply.src.b[0], 0xfd);
	assert_int_equal(r.flow.reply.src.b[15], 5);
	assert_int_equal(r.flow.reply.sport, 8443);

	/* TCP without FLOW_F_PROTO: no TCP attribute, none decoded */
	f = golden_tcp();
	f.flags &= (uint8_t)~FLOW_F_PROTO;
	f.proto_state = f.wscale[0] = f.wscale[1] = 0;
	f.tcpflags[0] = f.tcpflags[1] = 0;
	assert_int_equal(roundtrip(&f, &r), 28);
	assert_flow_same(&f, &r.flow);
}

static void test_rt_udp(void **state)
{
	struct wire_rec r;
	struct flow f;

	(void)state;
	f = mkflow(AF_INET, IPPROTO_UDP, "192.0.2.1", "192.0.2.2", 5353, 53);
	f.key.zone = 0xfffe;
	assert_int_equal(roundtrip(&f, &r), 28);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.key.zone, 0xfffe);
	assert_null(r.flow.ext);

	/* mark, including a mark of 0 that must still be carried */
	f.flags |= FLOW_F_MARK;
	f.mark = 0;
	assert_int_equal(roundtrip(&f, &r), 34);
	assert_true(r.flow.flags & FLOW_F_MARK);
	assert_int_equal(r.flow.mark, 0);
	f.mark = 0x80000001;
	roundtrip(&f, &r);
	assert_int_equal(r.flow.mark, 0x80000001);
	assert_flow_same(&f, &r.flow);

	f = mkflow(AF_INET6, IPPROTO_UDP, "fe80::1", "ff02::fb", 5353, 5353);
	assert_int_equal(roundtrip(&f, &r), 52);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.key.family, AF_INET6);
}

static void test_rt_icmp(void **state)
{
	struct wire_rec r;
	struct flow f;

	(void)state;
	/* echo request id 0x1234: the default reply is echo reply */
	f = mkflow(AF_INET, IPPROTO_ICMP, "198.51.100.10", "203.0.113.10",
		   0x1234, 8 << 8);
	assert_int_equal(roundtrip(&f, &r), 28);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.key.orig.dport, 0x0800);
	assert_int_equal(r.flow.reply.sport, 0x1234);
	assert_int_equal(r.flow.reply.dport, 0x0000);

	/* masqueraded ping: id rewritten in the reply tuple */
	f.reply.sport = 0x9999;
	addr(&f.reply.dst, AF_INET, "203.0.113.1");
	assert_int_equal(roundtrip(&f, &r), 28 + 14);
	assert_int_equal(r.flow.reply.sport, 0x9999);
	assert_flow_same(&f, &r.flow);

	f = mkflow(AF_INET6, IPPROTO_ICMPV6, "2001:db8::10", "2001:db8::20",
		   77, 128 << 8);
	assert_int_equal(roundtrip(&f, &r), 52);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.reply.dport, 129 << 8);
	assert_int_equal(r.flow.reply.sport, 77);
}

static void test_rt_sctp(void **state)
{
	struct wire_rec r;
	struct flow_ext x;
	struct flow f;

	(void)state;
	memset(&x, 0, sizeof(x));
	x.has = FLOW_EXT_SCTP;
	x.sctp_vtag[0] = 0xa1b2c3d4;
	x.sctp_vtag[1] = 0x01020304;
	f = mkflow(AF_INET, IPPROTO_SCTP, "192.0.2.1", "192.0.2.2", 2905, 2905);
	f.flags |= FLOW_F_PROTO;
	f.proto_state = 3;
	f.ext = &x;
	assert_int_equal(roundtrip(&f, &r), 28 + 14);
	assert_flow_same(&f, &r.flow);
	assert_ptr_equal(r.flow.ext, &r.ext);
	assert_int_equal(r.ext.has, FLOW_EXT_SCTP);
	assert_int_equal(r.ext.sctp_vtag[0], 0xa1b2c3d4);
	assert_int_equal(r.ext.sctp_vtag[1], 0x01020304);

	f = mkflow(AF_INET6, IPPROTO_SCTP, "2001:db8::1", "2001:db8::2",
		   36412, 36412);
	f.flags |= FLOW_F_PROTO;
	f.proto_state = 7;
	x.sctp_vtag[0] = 0xffffffff;
	x.sctp_vtag[1] = 0;
	f.ext = &x;
	roundtrip(&f, &r);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.proto_state, 7);
	assert_int_equal(r.flow.ext->sctp_vtag[0], 0xffffffff);

	/* state without tags: decodes with both (tags 0), as documented */
	f.ext = NULL;
	roundtrip(&f, &r);
	assert_int_equal(r.flow.flags & FLOW_F_PROTO, FLOW_F_PROTO);
	assert_non_null(r.flow.ext);
	assert_int_equal(r.ext.has, FLOW_EXT_SCTP);
	assert_int_equal(r.ext.sctp_vtag[0], 0);
}

static void test_rt_dccp(void **state)
{
	struct wire_rec r;
	struct flow f;

	(void)state;
	f = mkflow(AF_INET, IPPROTO_DCCP, "192.0.2.1", "192.0.2.2", 4000, 5004);
	f.flags |= FLOW_F_PROTO;
	f.proto_state = 4;
	f.tcpflags[0] = 1;		/* role: server */
	assert_int_equal(roundtrip(&f, &r), 28 + 4);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.proto_state, 4);
	assert_int_equal(r.flow.tcpflags[0], 1);
	assert_null(r.flow.ext);
}

static void test_rt_gre_generic(void **state)
{
	struct wire_rec r;
	struct flow f;

	(void)state;
	f = mkflow(AF_INET, IPPROTO_GRE, "192.0.2.1", "192.0.2.2", 0x11, 0x22);
	f.flags |= FLOW_F_PROTO;
	f.proto_state = 2;
	assert_int_equal(roundtrip(&f, &r), 28 + 3);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.proto_state, 2);
	assert_int_equal(r.flow.reply.sport, 0x22);

	/* an unnamed protocol, with and without state */
	f = mkflow(AF_INET6, 253, "2001:db8::1", "2001:db8::2", 0, 0);
	assert_int_equal(roundtrip(&f, &r), 52);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.key.l4proto, 253);
	f.flags |= FLOW_F_PROTO;
	f.proto_state = 9;
	assert_int_equal(roundtrip(&f, &r), 55);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.flow.proto_state, 9);
}

static void test_rt_ext(void **state)
{
	struct flow_ext x = full_ext(), one;
	struct wire_rec r;
	struct flow f;
	size_t base;

	(void)state;
	f = mkflow(AF_INET, IPPROTO_TCP, "10.1.1.1", "10.2.2.2", 1025, 21);
	base = roundtrip(&f, &r);

	one = x;
	one.has = FLOW_EXT_LABELS;
	f.ext = &one;
	assert_int_equal(roundtrip(&f, &r), base + 18);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.ext.has, FLOW_EXT_LABELS);
	assert_int_equal(r.ext.labels[0], 0x80000001);
	assert_int_equal(r.ext.labels[1], 0x00010000);
	assert_int_equal(r.ext.labels[3], 0xdeadbeef);

	one.has = FLOW_EXT_SEQADJ;
	assert_int_equal(roundtrip(&f, &r), base + 26);
	assert_flow_same(&f, &r.flow);
	assert_int_equal(r.ext.has, FLOW_EXT_SEQADJ);
	assert_int_equal(r.ext.seqadj[0].correction_pos, 0x11111111);
	assert_int_equal(r.ext.seqadj[0].offset_after, 0xffffffe0);
	assert_int_equal(r.ext.seqadj[1].offset_before, 0x44);
	assert_int_equal(r.ext.seqadj[1].offset_after, 0x55);

	one.has = FLOW_EXT_HELPER;
	assert_int_equal(roundtrip(&f, &r), base + 5);
	assert_flow_same(&f, &r.flow);
	assert_string_equal(r.ext.helper, "ftp");

	/* the longest name that fits */
	strcpy(one.helper, "abcdefghijklmno");
	assert_int_equal(roundtrip(&f, &r), base + 17);
	assert_string_equal(r.flow.ext->helper, "abcdefghijklmno");

	/* an unterminated name (caller bug) is cut at 15 bytes */
	memset(one.helper, 'x', sizeof(one.helper));
	assert_int_equal(roundtrip(&f, &r), base + 17);
	assert_string_equal(r.ext.helper, "xxxxxxxxxxxxxxx");

	/* an empty name is not sent */
	one.helper[0] = '\0';
	assert_int_equal(roundtrip(&f, &r), base);
	assert_null(r.flow.ext);

	/* ext present but empty: nothing sent, decoded ext NULL */
	one.has = 0;
	assert_int_equal(roundtrip(&f, &r), base);
	assert_null(r.flow.ext);

	/* everything at once, v6 with NAT and mark */
	f = big_flow(&x);
	roundtrip(&f, &r);
	assert_flow_same(&f, &r.flow);
	assert_ptr_equal(r.flow.ext, &r.ext);
	assert_int_equal(r.ext.has, x.has);
	assert_memory_equal(r.ext.labels, x.labels, sizeof(x.labels));
	assert_memory_equal(r.ext.seqadj, x.seqadj, sizeof(x.seqadj));
	assert_string_equal(r.ext.helper, "ftp");
	assert_int_equal(r.flow.mark, 0xcafe);
	assert_int_equal(r.flow.key.zone, 7);
	assert_int_equal(r.flow.reply.sport, 2121);
}

/* Labels and seqadj are big-endian words on the wire, in order. */
static void test_ext_bytes(void **state)
{
	struct flow_ext x;
	struct flow f;
	uint8_t buf[128];
	struct wbuf b = { buf, 0, sizeof(buf) };
	static const uint8_t want[] = {
		0x06, 0x10,
		0x80, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
		0x07, 0x18,
		0x11, 0x11, 0x11, 0x11, 0x00, 0x00, 0x00, 0x22,
		0xff, 0xff, 0xff, 0xe0, 0x33, 0x33, 0x33, 0x33,
		0x00, 0x00, 0x00, 0x44, 0x00, 0x00, 0x00, 0x55,
		0x08, 0x03, 'f', 't', 'p',
	};

	(void)state;
	f = mkflow(AF_INET, IPPROTO_UDP, "10.1.1.1", "10.2.2.2", 1, 2);
	x = full_ext();
	f.ext = &x;
	assert_int_equal(wire_put_flow(&b, &f), 0);
	assert_int_equal(b.len, 28 + sizeof(want));
	assert_memory_equal(buf + 28, want, sizeof(want));
}

/* ---- DESTROY, BULK_END ------------------------------------------------ */

static void test_destroy_bulk_end(void **state)
{
	static const uint8_t want[] = {
		0x02, 0x00, 0x00, 0x14,
		0x04, 0x11, 0x00, 0x03, 0x0a, 0x00, 0x00, 0x01,
		0x0a, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x02,
		0x03, 0x00, 0x00, 0x08, 0xff, 0xff, 0xff, 0xfe,
	};
	struct flow v4 = mkflow(AF_INET, IPPROTO_UDP, "10.0.0.1", "10.0.0.2",
				1, 2);
	struct flow v6 = mkflow(AF_INET6, IPPROTO_TCP, "2001:db8::1",
				"2001:db8::2", 40000, 443);
	uint8_t buf[128];
	struct wbuf b = { buf, 0, sizeof(buf) };
	struct wire_stats st = { 0 };
	struct wire_rec r;
	const uint8_t *p = buf;
	size_t left;

	(void)state;
	v4.key.zone = 3;
	assert_int_equal(wire_put_destroy(&b, &v4.key), 0);
	assert_int_equal(wire_put_bulk_end(&b, 0xfffffffe), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(wire_put_destroy(&b, &v6.key), 0);
	assert_int_equal(b.len, sizeof(want) + 44);

	assert_int_equal(wire_data_check(buf, b.len, &st), 3);
	left = b.len;
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_int_equal(r.rtype, WIRE_R_DESTROY);
	assert_true(flow_key_eq(&r.flow.key, &v4.key));
	assert_int_equal(r.flow.key.zone, 3);
	assert_null(r.flow.ext);
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_int_equal(r.rtype, WIRE_R_BULK_END);
	assert_int_equal(r.begin_seq, 0xfffffffe);
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_int_equal(r.rtype, WIRE_R_DESTROY);
	assert_true(flow_key_eq(&r.flow.key, &v6.key));
	assert_int_equal(r.flow.key.orig.dport, 443);
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 0);
	assert_only(&st, NO_CTR);
}

/* ---- encoder limits --------------------------------------------------- */

#define PAT 0xa5

static void check_refuses(int (*put)(struct wbuf *, const void *),
			  const void *arg, size_t need)
{
	uint8_t buf[1024], ref[1024];

	assert_true(need + 3 <= sizeof(buf));
	memset(ref, PAT, sizeof(ref));
	ref[0] = 1;
	ref[1] = 2;
	ref[2] = 3;
	for (size_t cap = 3; cap < 3 + need; cap++) {
		struct wbuf b = { buf, 3, cap };

		memcpy(buf, ref, sizeof(buf));
		assert_int_equal(put(&b, arg), -1);
		assert_int_equal(b.len, 3);
		assert_int_equal(b.cap, cap);
		assert_memory_equal(buf, ref, sizeof(buf));
	}
	{
		struct wbuf b = { buf, 3, 3 + need };

		memcpy(buf, ref, sizeof(buf));
		assert_int_equal(put(&b, arg), 0);
		assert_int_equal(b.len, 3 + need);
		assert_memory_equal(buf, ref, 3);
		assert_memory_equal(buf + 3 + need, ref + 3 + need,
				    sizeof(buf) - 3 - need);
	}
	{	/* a corrupt wbuf (len > cap) is refused too */
		struct wbuf b = { buf, 10, 5 };

		assert_int_equal(put(&b, arg), -1);
		assert_int_equal(b.len, 10);
	}
}

static int put_flow_cb(struct wbuf *b, const void *a)
{
	return wire_put_flow(b, a);
}

static int put_destroy_cb(struct wbuf *b, const void *a)
{
	return wire_put_destroy(b, a);
}

static int put_bulk_end_cb(struct wbuf *b, const void *a)
{
	return wire_put_bulk_end(b, *(const uint32_t *)a);
}

static int put_status_cb(struct wbuf *b, const void *a)
{
	return wire_put_status(b, a);
}

static void test_encoder_too_small(void **state)
{
	struct flow_ext x;
	struct flow big = big_flow(&x), g = golden_tcp();
	uint32_t seq = 77;
	struct wire_status s;

	(void)state;
	check_refuses(put_flow_cb, &g, sizeof(golden_tcp_bytes));
	check_refuses(put_flow_cb, &big, wire_flow_len(&big));
	check_refuses(put_destroy_cb, &big.key, 44);
	check_refuses(put_destroy_cb, &g.key, 20);
	check_refuses(put_bulk_end_cb, &seq, WIRE_BULK_END_LEN);

	memset(&s, 0, sizeof(s));
	s.nranges = 3;
	check_refuses(put_status_cb, &s, WIRE_STATUS_FIXED + 24);
	s.nranges = WIRE_MAX_RANGES;
	check_refuses(put_status_cb, &s, WIRE_STATUS_FIXED + 8 * 64);
}

static void test_encoder_bad_family(void **state)
{
	struct flow f = golden_tcp();
	uint8_t buf[128];
	struct wbuf b = { buf, 0, sizeof(buf) };

	(void)state;
	f.key.family = 0;
	assert_int_equal(wire_flow_len(&f), 0);
	assert_int_equal(wire_put_flow(&b, &f), -1);
	assert_int_equal(wire_put_destroy(&b, &f.key), -1);
	f.key.family = AF_UNIX;
	assert_int_equal(wire_put_flow(&b, &f), -1);
	assert_int_equal(b.len, 0);
}

static void test_pack_until_full(void **state)
{
	enum { MTU_PAYLOAD = 1400 - WIRE_HDR_LEN };
	static struct flow sent[64];
	static struct flow_ext xs[64];
	uint8_t buf[MTU_PAYLOAD];
	struct wbuf b = { buf, 0, sizeof(buf) };
	struct wire_stats st = { 0 };
	struct wire_rec r;
	const uint8_t *p = buf;
	size_t left;
	int n = 0;

	(void)state;
	for (;;) {
		struct flow f;

		assert_true(n < 64);
		if (n % 3 == 0) {
			f = golden_tcp();
			f.key.orig.sport = (uint16_t)(1000 + n);
			flow_tuple_invert(&f.key, &f.reply);
		} else if (n % 3 == 1) {
			f = big_flow(&xs[n]);
			f.key.orig.sport = (uint16_t)(2000 + n);
		} else {
			f = mkflow(AF_INET6, IPPROTO_UDP, "2001:db8::1",
				   "2001:db8::2", (uint16_t)n, 53);
		}
		if (wire_put_flow(&b, &f) < 0) {
			assert_true(b.len + wire_flow_len(&f) > sizeof(buf));
			break;
		}
		sent[n++] = f;
	}
	assert_true(n >= 10);
	assert_true(sizeof(buf) - b.len < 200);
	assert_int_equal(wire_data_check(buf, b.len, &st), n);
	left = b.len;
	for (int i = 0; i < n; i++) {
		assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
		assert_flow_same(&sent[i], &r.flow);
	}
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 0);
	assert_only(&st, NO_CTR);
}

/* ---- truncation ------------------------------------------------------- */

static void test_truncated_prefixes(void **state)
{
	uint8_t payload[512], full[600];
	size_t offs[4], plen, total;

	(void)state;
	plen = mixed_payload(payload, sizeof(payload), offs);
	total = mkdgram(full, sizeof(full), WIRE_DATA, 100, payload, plen);

	for (size_t k = 0; k < total; k++) {
		/* exact-size heap copy so ASan sees any overread */
		uint8_t *d = malloc(k ? k : 1);
		struct wire_stats st = { 0 };
		struct wire_hdr h;

		assert_non_null(d);
		memcpy(d, full, k);
		assert_int_equal(wire_hdr_get(d, k, &h, &st), -1);
		assert_only(&st, CTR(rx_bad_len));

		if (k >= WIRE_HDR_LEN) {
			/* a sender that lied consistently: the header passes,
			 * the records must not (unless cut on a boundary) */
			size_t pl = k - WIRE_HDR_LEN, nrec = 0;
			bool boundary = pl == 0;
			const uint8_t *p;
			struct wire_rec r;
			size_t left;
			int ret, got = 0;

			for (int i = 0; i < 4; i++) {
				if (offs[i] <= pl)
					nrec++;
				if (offs[i] == pl)
					boundary = true;
			}
			d[2] = (uint8_t)(k >> 8);
			d[3] = (uint8_t)k;
			memset(&st, 0, sizeof(st));
			assert_int_equal(wire_hdr_get(d, k, &h, &st), 0);
			ret = wire_data_check(d + WIRE_HDR_LEN, pl, &st);
			if (boundary) {
				assert_int_equal(ret, nrec);
				assert_int_equal(error_sum(&st), 0);
			} else {
				assert_int_equal(ret, -1);
				assert_int_equal(error_sum(&st), 1);
				assert_true(st.rx_bad_record + st.rx_bad_attr == 1);
			}

			/* the iterator on unchecked input fails cleanly too */
			memset(&st, 0, sizeof(st));
			p = d + WIRE_HDR_LEN;
			left = pl;
			while ((ret = wire_rec_next(&p, &left, &r, &st)) > 0)
				got++;
			assert_int_equal(got, nrec);
			assert_int_equal(ret, boundary ? 0 : -1);
			assert_int_equal(error_sum(&st), boundary ? 0 : 1);
		}
		free(d);
	}
}

static void test_truncated_status(void **state)
{
	struct wire_status s;
	uint8_t buf[64];
	struct wbuf b = { buf, 0, sizeof(buf) };

	(void)state;
	memset(&s, 0, sizeof(s));
	s.nranges = 2;
	s.ranges[0] = (struct wire_range){ 5, 6 };
	s.ranges[1] = (struct wire_range){ 9, 9 };
	assert_int_equal(wire_put_status(&b, &s), 0);
	for (size_t k = 0; k < b.len; k++) {
		uint8_t *d = malloc(k ? k : 1);
		struct wire_stats st = { 0 };
		struct wire_status g;

		assert_non_null(d);
		memcpy(d, buf, k);
		assert_int_equal(wire_get_status(d, k, &g, &st), -1);
		assert_only(&st, CTR(rx_bad_status));
		free(d);
	}
}

/* ---- malformed records and attributes --------------------------------- */

/* A v4 key (l4proto l4) as record body bytes. */
static void bb_key4(struct bb *x, uint8_t l4)
{
	BB(x, 4, l4, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 0x13, 0x88, 0x00, 0x35);
}

/* A FLOW record: v4 key, status, timeout, then attribute bytes; rlen from
 * the content unless rlen_override. */
static void bb_flow(struct bb *x, uint8_t l4, const uint8_t *attrs,
		    size_t alen, int rlen_override)
{
	size_t len = 4 + 16 + 8 + alen;

	BB(x, WIRE_R_FLOW, 0);
	bb_u16(x, (uint16_t)(rlen_override >= 0 ? (size_t)rlen_override : len));
	bb_key4(x, l4);
	bb_u32(x, 0x0e);
	bb_u32(x, 60);
	if (alen)
		bb_put(x, attrs, alen);
}

static void expect_bad(const char *name, const struct bb *x, size_t ctr)
{
	struct wire_stats st = { 0 };
	struct wire_rec r;
	const uint8_t *p;
	size_t left;
	uint8_t *d;
	int ret;

	print_message("%s\n", name);
	d = malloc(x->n ? x->n : 1);
	assert_non_null(d);
	memcpy(d, x->b, x->n);
	assert_int_equal(wire_data_check(d, x->n, &st), -1);
	assert_only(&st, ctr);

	memset(&st, 0, sizeof(st));
	p = d;
	left = x->n;
	while ((ret = wire_rec_next(&p, &left, &r, &st)) > 0)
		;
	assert_int_equal(ret, -1);
	assert_only(&st, ctr);
	free(d);
}

static void test_malformed_records(void **state)
{
	struct bb x;
	uint8_t v6key[40] = { 6, IPPROTO_UDP };

	(void)state;
#define CASE(name, ctr, ...) do {					\
	memset(&x, 0, sizeof(x));					\
	__VA_ARGS__;							\
	expect_bad(name, &x, CTR(ctr));					\
} while (0)

	CASE("rlen 3", rx_bad_record, BB(&x, 1, 0, 0, 3, 0));
	CASE("rlen 0", rx_bad_record, BB(&x, 1, 0, 0, 0));
	CASE("rlen past end", rx_bad_record, bb_flow(&x, 17, NULL, 0, 29));
	CASE("unknown rtype rlen 2", rx_bad_record, BB(&x, 200, 0, 0, 2));
	CASE("unknown rtype past end", rx_bad_record,
	     BB(&x, 200, 0, 0, 9, 1, 2, 3, 4));
	CASE("trailing 3 bytes", rx_bad_record,
	     BB(&x, 3, 0, 0, 8, 0, 0, 0, 1); BB(&x, 3, 0, 0));
	CASE("trailing 1 byte", rx_bad_record,
	     bb_flow(&x, 17, NULL, 0, -1); BB(&x, 1));
	CASE("family 5", rx_bad_record,
	     bb_flow(&x, 17, NULL, 0, -1); x.b[4] = 5);
	CASE("family 0", rx_bad_record,
	     bb_flow(&x, 17, NULL, 0, -1); x.b[4] = 0);
	v6key[0] = 10;
	CASE("family AF_INET6 value 10, v6-sized", rx_bad_record,
	     BB(&x, 2, 0, 0, 44); bb_put(&x, v6key, 40));
	v6key[0] = 6;
	CASE("v6 key in a v4-sized record", rx_bad_record,
	     bb_flow(&x, 17, NULL, 0, -1); x.b[4] = 6);
	CASE("FLOW without timeout", rx_bad_record,
	     BB(&x, 1, 0, 0, 24); bb_key4(&x, 17); bb_u32(&x, 0));
	CASE("FLOW with only a header", rx_bad_record, BB(&x, 1, 0, 0, 4));
	CASE("v6 FLOW with short key", rx_bad_record,
	     BB(&x, 1, 0, 0, 4 + 39); bb_put(&x, v6key, 39));
	CASE("DESTROY with trailing byte", rx_bad_record,
	     BB(&x, 2, 0, 0, 21); bb_key4(&x, 17); BB(&x, 0));
	CASE("DESTROY with short key", rx_bad_record,
	     BB(&x, 2, 0, 0, 19); bb_put(&x, v6key, 15));
	CASE("DESTROY v6 key in v4 size", rx_bad_record,
	     BB(&x, 2, 0, 0, 20); bb_key4(&x, 17); x.b[4] = 6);
	CASE("DESTROY empty", rx_bad_record, BB(&x, 2, 0, 0, 4));
	CASE("BULK_END rlen 7", rx_bad_record, BB(&x, 3, 0, 0, 7, 0, 0, 1));
	CASE("BULK_END rlen 9", rx_bad_record,
	     BB(&x, 3, 0, 0, 9, 0, 0, 0, 1, 0));
	CASE("bad record after a good one", rx_bad_record,
	     BB(&x, 3, 0, 0, 8, 0, 0, 0, 1); BB(&x, 3, 0, 0, 6, 0, 0));
#undef CASE
}

static void test_malformed_attrs(void **state)
{
	static const struct {
		const char *name;
		uint8_t     l4;
		uint8_t     a[48];
		size_t      n;
	} c[] = {
		{ "dangling atype", 17, { 2 }, 1 },
		{ "alen past record", 17, { 2, 4, 0, 0, 0 }, 5 },
		{ "unknown alen past record", 17, { 250, 5, 0, 0 }, 4 },
		{ "good then past record", 17,
		  { 2, 4, 0, 0, 0, 1, 6, 16, 1 }, 9 },
		{ "MARK 3", 17, { 2, 3, 0, 0, 1 }, 5 },
		{ "MARK 5", 17, { 2, 5, 0, 0, 0, 0, 1 }, 7 },
		{ "REPLY 11 on v4", 17, { 1, 11 }, 13 },
		{ "REPLY 36 on v4", 17, { 1, 36 }, 38 },
		{ "TCP 4", 6, { 3, 4, 3, 7, 7, 0 }, 6 },
		{ "TCP on UDP", 17, { 3, 5, 3, 7, 7, 0, 0 }, 7 },
		{ "SCTP 11", 132, { 4, 11 }, 13 },
		{ "SCTP on TCP", 6, { 4, 12 }, 14 },
		{ "DCCP 3", 33, { 5, 3, 1, 1, 0 }, 5 },
		{ "DCCP on UDP", 17, { 5, 2, 1, 1 }, 4 },
		{ "PROTO on TCP", 6, { 9, 1, 3 }, 3 },
		{ "PROTO on SCTP", 132, { 9, 1, 3 }, 3 },
		{ "PROTO on DCCP", 33, { 9, 1, 3 }, 3 },
		{ "PROTO 2", 47, { 9, 2, 3, 0 }, 4 },
		{ "LABELS 15", 17, { 6, 15 }, 17 },
		{ "LABELS 17", 17, { 6, 17 }, 19 },
		{ "SEQADJ 23", 17, { 7, 23 }, 25 },
		{ "SEQADJ 12", 17, { 7, 12 }, 14 },
		{ "HELPER 0", 17, { 8, 0 }, 2 },
		{ "HELPER 16", 17, { 8, 16, 'a', 'a', 'a', 'a', 'a', 'a', 'a',
		  'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a' }, 18 },
		{ "HELPER with NUL", 17, { 8, 3, 'f', 0, 'p' }, 5 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct bb x;

		memset(&x, 0, sizeof(x));
		bb_flow(&x, c[i].l4, c[i].a, c[i].n, -1);
		expect_bad(c[i].name, &x, CTR(rx_bad_attr));
	}
}

/* The good twins of some cases above, so those fail for the stated reason. */
static void test_attr_edges_ok(void **state)
{
	static const uint8_t helper15[] = { 8, 15, 'a', 'b', 'c', 'd', 'e',
		'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o' };
	static const uint8_t pad_nonzero[] = { 4, 12, 5, 0xff, 0xff, 0xff,
		0, 0, 0, 1, 0, 0, 0, 2 };
	struct wire_stats st = { 0 };
	struct wire_rec r;
	const uint8_t *p;
	size_t left;
	struct bb x;

	(void)state;
	memset(&x, 0, sizeof(x));
	bb_flow(&x, 17, helper15, sizeof(helper15), -1);
	bb_flow(&x, 132, pad_nonzero, sizeof(pad_nonzero), -1);
	x.b[1] = 0x80;		/* rflags are ignored */
	assert_int_equal(wire_data_check(x.b, x.n, &st), 2);
	p = x.b;
	left = x.n;
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_string_equal(r.ext.helper, "abcdefghijklmno");
	assert_int_equal(r.flow.timeout, 60);
	assert_int_equal(r.flow.flags, FLOW_F_TIMEOUT);
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_int_equal(r.flow.proto_state, 5);
	assert_int_equal(r.ext.sctp_vtag[0], 1);
	assert_int_equal(r.ext.sctp_vtag[1], 2);
	assert_int_equal(r.flow.flags, FLOW_F_TIMEOUT | FLOW_F_PROTO);
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 0);
	assert_only(&st, NO_CTR);
}

/* ---- unknown records and attributes ----------------------------------- */

/* DATA payload: FLOW, unknown record, FLOW with an unknown attribute
 * before its MARK, DESTROY. */
static size_t unknown_payload(uint8_t *out, size_t cap)
{
	struct wbuf b = { out, 0, cap };
	struct flow a = mkflow(AF_INET, IPPROTO_UDP, "192.0.2.1", "192.0.2.2",
			       1, 2);
	struct flow m = golden_tcp();
	static const uint8_t unk_rec[] = { 200, 0, 0, 10, 1, 2, 3, 4, 5, 6 };
	static const uint8_t unk_attr[] = { 250, 3, 0xee, 0xee, 0xee };
	size_t at;

	m.flags |= FLOW_F_MARK;
	m.mark = 0x1234;
	assert_int_equal(wire_put_flow(&b, &a), 0);
	assert_true(b.len + sizeof(unk_rec) <= cap);
	memcpy(out + b.len, unk_rec, sizeof(unk_rec));
	b.len += sizeof(unk_rec);
	at = b.len;
	assert_int_equal(wire_put_flow(&b, &m), 0);
	/* splice the unknown attribute right after status/timeout */
	assert_true(b.len + sizeof(unk_attr) <= cap);
	memmove(out + at + 28 + sizeof(unk_attr), out + at + 28,
		b.len - at - 28);
	memcpy(out + at + 28, unk_attr, sizeof(unk_attr));
	b.len += sizeof(unk_attr);
	out[at + 3] = (uint8_t)(out[at + 3] + sizeof(unk_attr));
	assert_int_equal(wire_put_destroy(&b, &a.key), 0);
	return b.len;
}

static void test_unknown_skipped(void **state)
{
	uint8_t buf[256];
	size_t n = unknown_payload(buf, sizeof(buf));
	struct wire_stats st = { 0 };
	struct wire_rec r;
	const uint8_t *p = buf;
	size_t left = n;

	(void)state;
	assert_int_equal(wire_data_check(buf, n, &st), 4);
	assert_only(&st, NO_CTR);

	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_int_equal(r.rtype, WIRE_R_FLOW);
	assert_int_equal(r.flow.key.l4proto, IPPROTO_UDP);
	assert_int_equal(st.rx_unknown_record, 0);

	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_int_equal(st.rx_unknown_record, 1);
	assert_int_equal(st.rx_unknown_attr, 1);
	assert_int_equal(r.rtype, WIRE_R_FLOW);
	assert_int_equal(r.flow.key.orig.sport, 40000);
	assert_true(r.flow.flags & FLOW_F_MARK);
	assert_int_equal(r.flow.mark, 0x1234);	/* after the unknown attr */
	assert_int_equal(r.flow.proto_state, 3);
	assert_int_equal(r.flow.wscale[1], 9);

	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 1);
	assert_int_equal(r.rtype, WIRE_R_DESTROY);
	assert_int_equal(wire_rec_next(&p, &left, &r, &st), 0);
	assert_int_equal(st.rx_unknown_record, 1);
	assert_int_equal(st.rx_unknown_attr, 1);
	assert_int_equal(error_sum(&st), 0);

	/* a payload of nothing but unknown records yields no record */
	{
		static const uint8_t only[] = { 9, 0, 0, 4, 10, 0, 0, 5, 0 };

		memset(&st, 0, sizeof(st));
		assert_int_equal(wire_data_check(only, sizeof(only), &st), 2);
		p = only;
		left = sizeof(only);
		assert_int_equal(wire_rec_next(&p, &left, &r, &st), 0);
		assert_int_equal(st.rx_unknown_record, 2);
		assert_int_equal(left, 0);
	}
}

/* ---- STATUS ----------------------------------------------------------- */

static void test_status_roundtrip(void **state)
{
	static const uint8_t want0[] = {
		0xc0, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x07,
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00,
	};
	struct wire_status s, g;
	uint8_t buf[WIRE_STATUS_FIXED + 8 * WIRE_MAX_RANGES];
	struct wbuf b = { buf, 0, sizeof(buf) };
	struct wire_stats st = { 0 };

	(void)state;
	memset(&s, 0, sizeof(s));
	s.node_id = 0xc0000202;
	s.epoch = 7;
	s.cum = 0xffffffff;
	assert_int_equal(wire_put_status(&b, &s), 0);
	assert_int_equal(b.len, sizeof(want0));
	assert_memory_equal(buf, want0, sizeof(want0));
	memset(&g, 0xff, sizeof(g));
	assert_int_equal(wire_get_status(buf, b.len, &g, &st), 0);
	assert_int_equal(g.node_id, 0xc0000202);
	assert_int_equal(g.epoch, 7);
	assert_int_equal(g.cum, 0xffffffff);
	assert_int_equal(g.resync_after, 0);
	assert_int_equal(g.flags, 0);
	assert_int_equal(g.nranges, 0);

	s.resync_after = 0x5eed;
	s.flags = WIRE_SF_RESYNC;
	s.nranges = WIRE_MAX_RANGES;
	for (uint32_t i = 0; i < WIRE_MAX_RANGES; i++) {
		s.ranges[i].first = 0xffffff00 + 8 * i;
		s.ranges[i].last = s.ranges[i].first + (i % 4);
	}
	s.ranges[63] = (struct wire_range){ 0xfffffffe, 1 };	/* wraps */
	b.len = 0;
	assert_int_equal(wire_put_status(&b, &s), 0);
	assert_int_equal(b.len, sizeof(buf));
	assert_int_equal(buf[16], 0);
	assert_int_equal(buf[17], 64);
	assert_int_equal(wire_get_status(buf, b.len, &g, &st), 0);
	assert_int_equal(g.resync_after, 0x5eed);
	assert_int_equal(g.flags, WIRE_SF_RESYNC);
	assert_int_equal(g.nranges, 64);
	assert_memory_equal(g.ranges, s.ranges, sizeof(s.ranges));
	assert_int_equal(g.ranges[63].first, 0xfffffffe);
	assert_int_equal(g.ranges[63].last, 1);
	assert_only(&st, NO_CTR);

	/* 65 ranges cannot be encoded */
	s.nranges = WIRE_MAX_RANGES + 1;
	b.len = 0;
	memset(buf, PAT, sizeof(buf));
	assert_int_equal(wire_put_status(&b, &s), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf[0], PAT);
}

static void test_status_malformed(void **state)
{
	struct wire_status g;
	struct bb x;
	struct wire_stats st;

	(void)state;
#define BAD_STATUS(name, ...) do {					\
	memset(&x, 0, sizeof(x));					\
	memset(&st, 0, sizeof(st));					\
	__VA_ARGS__;							\
	print_message("%s\n", name);					\
	assert_int_equal(wire_get_status(x.b, x.n, &g, &st), -1);	\
	assert_only(&st, CTR(rx_bad_status));				\
} while (0)
#define FIXED(n) do {							\
	bb_u32(&x, 1); bb_u32(&x, 2); bb_u32(&x, 3); bb_u32(&x, 0);	\
	bb_u16(&x, (n)); bb_u16(&x, 0);					\
} while (0)

	BAD_STATUS("empty", (void)0);
	BAD_STATUS("19 bytes", FIXED(0); x.n = 19);
	BAD_STATUS("nranges 65 with 65 ranges", FIXED(65);
		   for (int i = 0; i < 65; i++) { bb_u32(&x, 1); bb_u32(&x, 1); });
	BAD_STATUS("nranges 2, one range", FIXED(2); bb_u32(&x, 1); bb_u32(&x, 2));
	BAD_STATUS("nranges 0, trailing range", FIXED(0); bb_u32(&x, 1);
		   bb_u32(&x, 2));
	BAD_STATUS("nranges 1, trailing byte", FIXED(1); bb_u32(&x, 1);
		   bb_u32(&x, 2); BB(&x, 0));
	BAD_STATUS("last before first", FIXED(1); bb_u32(&x, 10); bb_u32(&x, 9));
	BAD_STATUS("second range last before first", FIXED(2);
		   bb_u32(&x, 1); bb_u32(&x, 2);
		   bb_u32(&x, 0); bb_u32(&x, 0xffffffff));

	/* and the good twins */
	memset(&x, 0, sizeof(x));
	memset(&st, 0, sizeof(st));
	FIXED(2);
	bb_u32(&x, 10); bb_u32(&x, 10);
	bb_u32(&x, 0xffffffff); bb_u32(&x, 0);
	x.b[18] = 0xab;		/* reserved is ignored */
	assert_int_equal(wire_get_status(x.b, x.n, &g, &st), 0);
	assert_int_equal(g.nranges, 2);
	assert_int_equal(g.ranges[1].first, 0xffffffff);
	assert_int_equal(g.ranges[1].last, 0);
	assert_int_equal(g.cum, 3);
	assert_only(&st, NO_CTR);
#undef FIXED
#undef BAD_STATUS
}

/* ---- seed corpus for fuzz_wire ---------------------------------------- */

static int write_file(const char *dir, const char *name, const uint8_t *p,
		      size_t n)
{
	char path[512];
	FILE *fp;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp) {
		perror(path);
		return -1;
	}
	if (fwrite(p, 1, n, fp) != n)
		ret = -1;
	if (fclose(fp) != 0)
		ret = -1;
	return ret;
}

static int write_corpus(const char *dir)
{
	uint8_t pl[1400], d[1500];
	size_t offs[4], n;
	struct wbuf b = { pl, 0, sizeof(pl) };
	struct wire_status s;
	int err = 0;

	n = mkdgram(d, sizeof(d), WIRE_DATA, 1, golden_tcp_bytes,
		    sizeof(golden_tcp_bytes));
	err |= write_file(dir, "data-tcp4", d, n);

	n = mixed_payload(pl, sizeof(pl), offs);
	n = mkdgram(d, sizeof(d), WIRE_DATA, 0xffffffff, pl, n);
	err |= write_file(dir, "data-mixed", d, n);

	n = unknown_payload(pl, sizeof(pl));
	n = mkdgram(d, sizeof(d), WIRE_DATA, 2, pl, n);
	err |= write_file(dir, "data-unknown", d, n);

	{
		struct flow_ext xs = { .has = FLOW_EXT_SCTP,
				       .sctp_vtag = { 1, 2 } };
		struct flow f[4] = {
			mkflow(AF_INET, IPPROTO_SCTP, "192.0.2.1", "192.0.2.2",
			       2905, 2905),
			mkflow(AF_INET6, IPPROTO_DCCP, "2001:db8::1",
			       "2001:db8::2", 1, 2),
			mkflow(AF_INET, IPPROTO_GRE, "192.0.2.1", "192.0.2.2",
			       0, 0),
			mkflow(AF_INET6, IPPROTO_ICMPV6, "2001:db8::1",
			       "2001:db8::2", 5, 128 << 8),
		};

		f[0].ext = &xs;
		for (int i = 0; i < 3; i++) {
			f[i].flags |= FLOW_F_PROTO;
			f[i].proto_state = (uint8_t)(i + 1);
		}
		for (int i = 0; i < 4; i++)
			if (wire_put_flow(&b, &f[i]) < 0)
				return -1;
		n = mkdgram(d, sizeof(d), WIRE_DATA, 3, pl, b.len);
		err |= write_file(dir, "data-protos", d, n);
	}

	n = mkdgram(d, sizeof(d), WIRE_HEARTBEAT, 4, NULL, 0);
	err |= write_file(dir, "heartbeat", d, n);

	memset(&s, 0, sizeof(s));
	s.node_id = 0xc0000201;
	s.epoch = 1700000000;
	s.cum = 100;
	s.resync_after = 0;
	s.nranges = 2;
	s.ranges[0] = (struct wire_range){ 101, 104 };
	s.ranges[1] = (struct wire_range){ 110, 110 };
	b.len = 0;
	if (wire_put_status(&b, &s) < 0)
		return -1;
	n = mkdgram(d, sizeof(d), WIRE_STATUS, 5, pl, b.len);
	err |= write_file(dir, "status", d, n);
	return err ? -1 : 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_wrap),
		cmocka_unit_test(test_hdr_golden),
		cmocka_unit_test(test_hdr_malformed),
		cmocka_unit_test(test_flow_golden_v4_tcp),
		cmocka_unit_test(test_rt_tcp),
		cmocka_unit_test(test_rt_udp),
		cmocka_unit_test(test_rt_icmp),
		cmocka_unit_test(test_rt_sctp),
		cmocka_unit_test(test_rt_dccp),
		cmocka_unit_test(test_rt_gre_generic),
		cmocka_unit_test(test_rt_ext),
		cmocka_unit_test(test_ext_bytes),
		cmocka_unit_test(test_destroy_bulk_end),
		cmocka_unit_test(test_encoder_too_small),
		cmocka_unit_test(test_encoder_bad_family),
		cmocka_unit_test(test_pack_until_full),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_truncated_status),
		cmocka_unit_test(test_malformed_records),
		cmocka_unit_test(test_malformed_attrs),
		cmocka_unit_test(test_attr_edges_ok),
		cmocka_unit_test(test_unknown_skipped),
		cmocka_unit_test(test_status_roundtrip),
		cmocka_unit_test(test_status_malformed),
	};

	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]) == 0 ? 0 : 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
