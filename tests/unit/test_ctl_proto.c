/*
 * test_ctl_proto.c - control frames: round trips, partial and malformed
 * input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ctl_proto.h"
#include "man.h"
#include "proto.h"

/* The one frame at the start of b; fails the test if there is none. */
static long get_one(const struct ctl_buf *b, struct ctl_frame *f)
{
	long n = ctl_frame_get(b->data, b->len, f);

	assert_true(n > 0);
	return n;
}

static void put_len(uint8_t *p, uint32_t len)
{
	memcpy(p, &len, 4);
}

static void test_frame_roundtrip(void **state)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	const uint8_t body[] = { CTL_CACHE_EXTERNAL };
	long n;

	assert_int_equal(ctl_put_frame(&b, CTL_REQ_DUMP, body, sizeof(body)), 0);
	assert_int_equal(ctl_put_frame(&b, CTL_REQ_STATUS, NULL, 0), 0);
	assert_int_equal(b.len, CTL_HDR_LEN + 1 + CTL_HDR_LEN);

	n = ctl_frame_get(b.data, b.len, &f);
	assert_int_equal(n, CTL_HDR_LEN + 1);
	assert_int_equal(f.type, CTL_REQ_DUMP);
	assert_int_equal(f.flags, 0);
	assert_int_equal(f.len, 1);
	assert_int_equal(f.body[0], CTL_CACHE_EXTERNAL);

	n = ctl_frame_get(b.data + n, b.len - (size_t)n, &f);
	assert_int_equal(n, CTL_HDR_LEN);
	assert_int_equal(f.type, CTL_REQ_STATUS);
	assert_int_equal(f.len, 0);

	ctl_buf_consume(&b, CTL_HDR_LEN + 1);
	assert_int_equal(b.len, CTL_HDR_LEN);
	assert_int_equal(get_one(&b, &f), CTL_HDR_LEN);
	assert_int_equal(f.type, CTL_REQ_STATUS);
	ctl_buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	ctl_buf_free(&b);
	assert_null(b.data);
}

static void test_frame_max(void **state)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	uint8_t *body = calloc(1, CTL_MAX_FRAME);

	assert_non_null(body);
	assert_int_equal(ctl_put_frame(&b, CTL_REP_KV, body,
				       CTL_MAX_FRAME - CTL_HDR_LEN), 0);
	assert_int_equal(get_one(&b, &f), CTL_MAX_FRAME);
	assert_int_equal(f.len, CTL_MAX_FRAME - CTL_HDR_LEN);

	/* One byte more does not fit, and leaves the buffer as it was. */
	errno = 0;
	assert_int_equal(ctl_put_frame(&b, CTL_REP_KV, body,
				       CTL_MAX_FRAME - CTL_HDR_LEN + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(b.len, CTL_MAX_FRAME);
	ctl_buf_free(&b);
	free(body);
}

static void test_kv_u64_roundtrip(void **state)
{
	static const uint64_t vals[] = { 0, 1, 0xffffffffu, UINT64_MAX };
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	struct ctl_kv kv;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		assert_int_equal(ctl_put_kv_u64(&b, "peer 192.0.2.2", "rx_lost",
						vals[i]), 0);
		get_one(&b, &f);
		assert_int_equal(f.type, CTL_REP_KV);
		assert_int_equal(ctl_get_kv(&f, &kv), 0);
		assert_int_equal(kv.vtype, CTL_V_U64);
		assert_string_equal(kv.section, "peer 192.0.2.2");
		assert_string_equal(kv.key, "rx_lost");
		assert_true(kv.u64 == vals[i]);
		b.len = 0;
	}

	/* Empty names are allowed. */
	assert_int_equal(ctl_put_kv_u64(&b, "", "", 7), 0);
	get_one(&b, &f);
	assert_int_equal(ctl_get_kv(&f, &kv), 0);
	assert_string_equal(kv.section, "");
	assert_string_equal(kv.key, "");
	assert_true(kv.u64 == 7);
	ctl_buf_free(&b);
}

static void test_kv_str_roundtrip(void **state)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	struct ctl_kv kv;
	char big[3000];

	assert_int_equal(ctl_put_kv_str(&b, "daemon", "version", "0.1.0"), 0);
	get_one(&b, &f);
	assert_int_equal(ctl_get_kv(&f, &kv), 0);
	assert_int_equal(kv.vtype, CTL_V_STR);
	assert_string_equal(kv.section, "daemon");
	assert_string_equal(kv.key, "version");
	assert_string_equal(kv.str, "0.1.0");
	b.len = 0;

	assert_int_equal(ctl_put_kv_str(&b, "commit", "first_error", ""), 0);
	get_one(&b, &f);
	assert_int_equal(ctl_get_kv(&f, &kv), 0);
	assert_string_equal(kv.str, "");
	b.len = 0;

	/* A value longer than struct ctl_kv holds is cut, not overrun. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ctl_put_kv_str(&b, "s", "k", big), 0);
	get_one(&b, &f);
	assert_int_equal(ctl_get_kv(&f, &kv), 0);
	assert_int_equal(strlen(kv.str), sizeof(kv.str) - 1);
	b.len = 0;

	/* Names are one byte long on the wire. */
	memset(big, 'n', 256);
	big[256] = '\0';
	errno = 0;
	assert_int_equal(ctl_put_kv_str(&b, big, "k", "v"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ctl_put_kv_u64(&b, "s", big, 1), -1);
	assert_int_equal(b.len, 0);
	big[255] = '\0';
	assert_int_equal(ctl_put_kv_u64(&b, big, big, 1), 0);
	get_one(&b, &f);
	assert_int_equal(ctl_get_kv(&f, &kv), 0);
	assert_string_equal(kv.section, big);
	assert_string_equal(kv.key, big);
	ctl_buf_free(&b);
}

static void test_kv_truncated(void **state)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f, g;
	struct ctl_kv kv;
	uint8_t *body;

	/* A number: every shorter body, and a longer one, is rejected. */
	assert_int_equal(ctl_put_kv_u64(&b, "cache", "entries", 42), 0);
	get_one(&b, &f);
	for (size_t l = 0; l < f.len; l++) {
		g = f;
		g.len = l;
		assert_int_equal(ctl_get_kv(&g, &kv), -1);
	}
	body = malloc(f.len + 1);
	assert_non_null(body);
	memcpy(body, f.body, f.len);
	g = f;
	g.body = body;
	g.len = f.len + 1;
	assert_int_equal(ctl_get_kv(&g, &kv), -1);
	free(body);
	b.len = 0;

	/* A string: cut inside the names is rejected; the value itself is
	 * "the rest of the frame" so a shorter one is just shorter. */
	assert_int_equal(ctl_put_kv_str(&b, "daemon", "role", "master"), 0);
	get_one(&b, &f);
	for (size_t l = 0; l < 4 + strlen("daemon") + strlen("role"); l++) {
		g = f;
		g.len = l;
		assert_int_equal(ctl_get_kv(&g, &kv), -1);
	}
	g = f;
	g.len -= 2;
	assert_int_equal(ctl_get_kv(&g, &kv), 0);
	assert_string_equal(kv.str, "mast");

	/* Unknown value type, and a frame of another type. */
	body = malloc(f.len);
	assert_non_null(body);
	memcpy(body, f.body, f.len);
	body[0] = 9;
	g = f;
	g.body = body;
	assert_int_equal(ctl_get_kv(&g, &kv), -1);
	free(body);
	g = f;
	g.type = CTL_REP_DONE;
	assert_int_equal(ctl_get_kv(&g, &kv), -1);
	ctl_buf_free(&b);
}

static void tcp_flow(struct flow *fl, struct flow_ext *x)
{
	memset(fl, 0, sizeof(*fl));
	fl->key.family = AF_INET;
	fl->key.l4proto = IPPROTO_TCP;
	fl->key.zone = 3;
	inet_pton(AF_INET, "198.51.100.10", &fl->key.orig.src);
	inet_pton(AF_INET, "203.0.113.10", &fl->key.orig.dst);
	fl->key.orig.sport = 40000;
	fl->key.orig.dport = 80;
	/* DNAT: the reply comes from a different address. */
	inet_pton(AF_INET, "10.0.0.5", &fl->reply.src);
	inet_pton(AF_INET, "198.51.100.10", &fl->reply.dst);
	fl->reply.sport = 8080;
	fl->reply.dport = 40000;
	fl->status = 0x0e;	/* SEEN_REPLY | ASSURED | CONFIRMED */
	fl->timeout = 431999;
	fl->mark = 0x1234;
	fl->flags = FLOW_F_PROTO | FLOW_F_MARK | FLOW_F_TIMEOUT;
	fl->proto_state = 3;	/* ESTABLISHED */
	fl->wscale[0] = 7;
	fl->wscale[1] = 9;
	fl->tcpflags[0] = 0x22;
	fl->tcpflags[1] = 0x23;
	if (x) {
		memset(x, 0, sizeof(*x));
		x->has = FLOW_EXT_LABELS | FLOW_EXT_HELPER;
		x->labels[0] = 0x5;
		x->labels[3] = 0x80000000u;
		strcpy(x->helper, "ftp");
		fl->ext = x;
	}
}

static void flow_roundtrip(const struct flow *in, uint32_t origin)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	struct flow out;
	struct flow_ext ext;
	uint32_t o = 0;

	assert_int_equal(ctl_put_flow(&b, origin, in), 0);
	get_one(&b, &f);
	assert_int_equal(f.type, CTL_REP_FLOW);
	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(ctl_get_flow(&f, &o, &out, &ext), 0);
	assert_int_equal(o, origin);
	assert_true(flow_state_eq(in, &out));
	assert_int_equal(out.timeout, in->timeout);
	if (in->ext)
		assert_ptr_equal(out.ext, &ext);
	else
		assert_null(out.ext);

	/* Without room for the ext, the flow comes without it. */
	assert_int_equal(ctl_get_flow(&f, &o, &out, NULL), 0);
	assert_null(out.ext);
	ctl_buf_free(&b);
}

static void test_flow_roundtrip(void **state)
{
	struct flow fl;
	struct flow_ext x;

	tcp_flow(&fl, NULL);
	flow_roundtrip(&fl, 1);
	tcp_flow(&fl, &x);
	flow_roundtrip(&fl, 0xfffffffe);

	/* IPv6 UDP with the default reply tuple. */
	memset(&fl, 0, sizeof(fl));
	fl.key.family = AF_INET6;
	fl.key.l4proto = IPPROTO_UDP;
	inet_pton(AF_INET6, "2001:db8::1", &fl.key.orig.src);
	inet_pton(AF_INET6, "2001:db8::2", &fl.key.orig.dst);
	fl.key.orig.sport = 5353;
	fl.key.orig.dport = 53;
	flow_tuple_invert(&fl.key, &fl.reply);
	fl.timeout = 30;
	fl.flags = FLOW_F_TIMEOUT;
	flow_roundtrip(&fl, 2);

	/* ICMP echo: id in sport, type<<8|code in dport. */
	memset(&fl, 0, sizeof(fl));
	fl.key.family = AF_INET;
	fl.key.l4proto = IPPROTO_ICMP;
	inet_pton(AF_INET, "198.51.100.10", &fl.key.orig.src);
	inet_pton(AF_INET, "203.0.113.10", &fl.key.orig.dst);
	fl.key.orig.sport = 4242;
	fl.key.orig.dport = 8 << 8;
	flow_tuple_invert(&fl.key, &fl.reply);
	fl.timeout = 29;
	fl.flags = FLOW_F_TIMEOUT;
	flow_roundtrip(&fl, 3);
}

static void test_flow_malformed(void **state)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f, g;
	struct flow out;
	struct flow_ext ext;
	uint32_t o;
	uint8_t *body;
	struct flow fl;
	struct flow_ext x;

	tcp_flow(&fl, &x);
	assert_int_equal(ctl_put_flow(&b, 1, &fl), 0);
	get_one(&b, &f);
	for (size_t l = 0; l < f.len; l++) {
		g = f;
		g.len = l;
		assert_int_equal(ctl_get_flow(&g, &o, &out, &ext), -1);
	}

	/* Trailing bytes: not exactly one record. */
	body = calloc(1, f.len + 4);
	assert_non_null(body);
	memcpy(body, f.body, f.len);
	g = f;
	g.body = body;
	g.len = f.len + 4;
	assert_int_equal(ctl_get_flow(&g, &o, &out, &ext), -1);

	/* Two records. */
	free(body);
	body = malloc(2 * f.len);
	assert_non_null(body);
	memcpy(body, f.body, f.len);
	memcpy(body + f.len, f.body + 4, f.len - 4);
	g = f;
	g.body = body;
	g.len = 2 * f.len - 4;
	assert_int_equal(ctl_get_flow(&g, &o, &out, &ext), -1);
	free(body);

	/* A DESTROY record is not a flow. */
	{
		uint8_t rec[4 + 64];
		struct wbuf w = { .buf = rec + 4, .len = 0, .cap = sizeof(rec) - 4 };

		memset(rec, 0, 4);
		assert_int_equal(wire_put_destroy(&w, &fl.key), 0);
		g.type = CTL_REP_FLOW;
		g.flags = 0;
		g.body = rec;
		g.len = 4 + w.len;
		assert_int_equal(ctl_get_flow(&g, &o, &out, &ext), -1);
	}

	g = f;
	g.type = CTL_REP_KV;
	assert_int_equal(ctl_get_flow(&g, &o, &out, &ext), -1);
	ctl_buf_free(&b);
}

static void test_done(void **state)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f, g;
	const char *msg;
	int32_t st;
	uint8_t body[8];

	assert_int_equal(ctl_put_done(&b, 0, NULL), 0);
	assert_int_equal(get_one(&b, &f), CTL_HDR_LEN + 4);
	assert_int_equal(f.type, CTL_REP_DONE);
	msg = "x";
	assert_int_equal(ctl_get_done(&f, &st, &msg), 0);
	assert_int_equal(st, 0);
	assert_null(msg);
	b.len = 0;

	/* An empty message is no message. */
	assert_int_equal(ctl_put_done(&b, 0, ""), 0);
	assert_int_equal(get_one(&b, &f), CTL_HDR_LEN + 4);
	b.len = 0;

	assert_int_equal(ctl_put_done(&b, -ENOENT, "no such cache"), 0);
	get_one(&b, &f);
	assert_int_equal(ctl_get_done(&f, &st, &msg), 0);
	assert_int_equal(st, -ENOENT);
	assert_string_equal(msg, "no such cache");

	/* Every truncation loses the NUL or the status. */
	for (size_t l = 0; l < f.len; l++) {
		g = f;
		g.len = l;
		if (l == 4)
			assert_int_equal(ctl_get_done(&g, &st, &msg), 0);
		else
			assert_int_equal(ctl_get_done(&g, &st, &msg), -1);
	}
	memset(body, 'a', sizeof(body));
	g = f;
	g.body = body;
	g.len = sizeof(body);
	assert_int_equal(ctl_get_done(&g, &st, &msg), -1);
	g = f;
	g.type = CTL_REP_KV;
	assert_int_equal(ctl_get_done(&g, &st, &msg), -1);
	ctl_buf_free(&b);
}

/* Every prefix of a valid stream is "need more", never an error. */
static void test_partial(void **state)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	struct flow fl;
	struct flow_ext x;
	size_t first;

	tcp_flow(&fl, &x);
	assert_int_equal(ctl_put_kv_u64(&b, "daemon", "uptime", 3600), 0);
	first = b.len;
	assert_int_equal(ctl_put_flow(&b, 1, &fl), 0);
	assert_int_equal(ctl_put_done(&b, 0, "ok"), 0);
	assert_int_equal(ctl_put_frame(&b, CTL_REQ_BULK, NULL, 0), 0);

	for (size_t off = 0; off < b.len;) {
		long n = ctl_frame_get(b.data + off, b.len - off, &f);

		assert_true(n > 0);
		for (size_t k = 0; k < (size_t)n; k++)
			assert_int_equal(ctl_frame_get(b.data + off, k, &f), 0);
		if (off == 0)
			assert_int_equal(n, first);
		off += (size_t)n;
	}
	ctl_buf_free(&b);
}

static void test_bad_len(void **state)
{
	static const uint32_t bad[] = { 0, 1, 7, CTL_MAX_FRAME + 1, UINT32_MAX };
	uint8_t buf[16] = { 0 };
	struct ctl_frame f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_len(buf, bad[i]);
		/* Known bad as soon as the length field is there. */
		for (size_t k = 4; k <= sizeof(buf); k++)
			assert_int_equal(ctl_frame_get(buf, k, &f), -1);
		for (size_t k = 0; k < 4; k++)
			assert_int_equal(ctl_frame_get(buf, k, &f), 0);
	}
	put_len(buf, CTL_HDR_LEN);
	assert_int_equal(ctl_frame_get(buf, sizeof(buf), &f), CTL_HDR_LEN);
	put_len(buf, CTL_MAX_FRAME);
	assert_int_equal(ctl_frame_get(buf, sizeof(buf), &f), 0);
}

/* The body lengths of ctsync/ctl.h; replies and unknown types are no
 * requests. */
static void test_req_body_len(void **state)
{
	static const uint16_t none[] = { CTL_REQ_STATUS, CTL_REQ_STATS,
		CTL_REQ_COMMIT, CTL_REQ_RESYNC, CTL_REQ_BULK, CTL_REQ_MASTER,
		CTL_REQ_BACKUP, CTL_REQ_READY };
	static const uint16_t unknown[] = { 0, 11, 99, CTL_REP_KV,
		CTL_REP_FLOW, CTL_REP_DONE, UINT16_MAX };

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		assert_int_equal(ctl_req_body_len(none[i]), 0);
	assert_int_equal(ctl_req_body_len(CTL_REQ_DUMP), 1);
	assert_int_equal(ctl_req_body_len(CTL_REQ_FLUSH), 1);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_int_equal(ctl_req_body_len(unknown[i]), -1);
}

/* The table of requests: one row per CTL_REQ_*, each type and name
 * once, found by ctl_req_info(); only rows are requests. */
static void test_req_table(void **state)
{
	static const uint16_t all[] = { CTL_REQ_STATUS, CTL_REQ_STATS,
		CTL_REQ_DUMP, CTL_REQ_COMMIT, CTL_REQ_FLUSH, CTL_REQ_RESYNC,
		CTL_REQ_BULK, CTL_REQ_MASTER, CTL_REQ_BACKUP, CTL_REQ_READY };
	const struct ctl_req_info *r;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; (r = ctl_req_at(i)); i++) {
		n++;
		assert_non_null(r->name);
		assert_true(r->name[0] != '\0');
		assert_non_null(r->help);
		assert_true(r->help[0] != '\0');
		assert_ptr_equal(ctl_req_info(r->type), r);
		for (size_t j = 0; j < i; j++) {
			assert_int_not_equal(ctl_req_at(j)->type, r->type);
			assert_string_not_equal(ctl_req_at(j)->name, r->name);
		}
		/* CTL_REQ_* order, so ctctl lists them as it always has. */
		if (i > 0)
			assert_true(ctl_req_at(i - 1)->type < r->type);
	}
	assert_int_equal(n, sizeof(all) / sizeof(all[0]));
	for (size_t i = 0; i < n; i++)
		assert_non_null(ctl_req_info(all[i]));
	for (unsigned t = 0; t <= UINT16_MAX; t++)
		if (!ctl_req_info((uint16_t)t))
			assert_int_equal(ctl_req_body_len((uint16_t)t), -1);
	assert_null(ctl_req_info(CTL_REP_DONE));
	assert_int_equal(ctl_req_info(CTL_REQ_DUMP)->reply, CTL_REPLY_FLOWS);
	assert_int_equal(ctl_req_info(CTL_REQ_STATUS)->reply, CTL_REPLY_KV);
}

/* What waits while a commit runs (ctsync/ctl.h). */
static void test_req_changes_state(void **state)
{
	static const uint16_t changing[] = { CTL_REQ_COMMIT, CTL_REQ_FLUSH,
		CTL_REQ_RESYNC, CTL_REQ_BULK, CTL_REQ_MASTER, CTL_REQ_BACKUP };
	static const uint16_t reading[] = { CTL_REQ_STATUS, CTL_REQ_STATS,
		CTL_REQ_DUMP, CTL_REQ_READY, 0, 11, CTL_REP_KV, UINT16_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(changing) / sizeof(changing[0]); i++)
		assert_true(ctl_req_changes_state(changing[i]));
	for (size_t i = 0; i < sizeof(reading) / sizeof(reading[0]); i++)
		assert_false(ctl_req_changes_state(reading[i]));
}

/* ctctl's commands are the table's requests: ctctl(8) documents each. */
static void test_req_man_page(void **state)
{
	const struct ctl_req_info *r;
	struct man m;
	long desc;

	(void)state;
	if (man_load(&m, "../man/ctctl.8") < 0)
		fail_msg("cannot read ../man/ctctl.8");
	desc = man_find(&m, ".Sh DESCRIPTION");
	assert_true(desc >= 0);
	for (size_t i = 0; (r = ctl_req_at(i)); i++)
		if (!man_item(&m, desc, "Cm", r->name))
			fail_msg("ctctl.8 does not document \"%s\"", r->name);
	man_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_frame_max),
		cmocka_unit_test(test_kv_u64_roundtrip),
		cmocka_unit_test(test_kv_str_roundtrip),
		cmocka_unit_test(test_kv_truncated),
		cmocka_unit_test(test_flow_roundtrip),
		cmocka_unit_test(test_flow_malformed),
		cmocka_unit_test(test_done),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_bad_len),
		cmocka_unit_test(test_req_body_len),
		cmocka_unit_test(test_req_table),
		cmocka_unit_test(test_req_changes_state),
		cmocka_unit_test(test_req_man_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
