/*
 * config.c - ctsyncd.yaml: libyaml events from a buffer -> struct config.
 *
 * The schema is three levels deep (sections, keys, lists of scalars), so
 * the event stream is walked by a small recursive descent driven by the
 * table of keys below (keys[]), which also gives the defaults, the
 * printed form and the SIGHUP comparison.  A wrong value is reported and skipped, so one run
 * shows every error; only a YAML syntax error ends the walk, because
 * libyaml cannot resynchronise after one (and nesting deeper than
 * MAX_DEPTH, see there).  Checks that involve several
 * keys (transport against peers and group, address families, timers) run
 * once the walk is over, using the positions remembered during it.
 *
 * Values are read from the scalar text whatever its style or tag: "1500"
 * and 1500 are the same number.  Aliases are refused (nothing in this
 * schema needs them, and they would hide where a value came from).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <yaml.h>

#include "addr.h"
#include "config.h"
#include "ctsync/ctl.h"

#define KIB	((uint64_t)1024)
#define MIB	(1024 * KIB)
#define GIB	(1024 * MIB)

/*
 * setsockopt() takes an int and the kernel caps socket buffers at
 * INT_MAX / 2 anyway; 2G would wrap to a negative int and end up as the
 * minimum buffer, so 1G is the real ceiling.
 */
#define BUF_MIN	(64 * KIB)
#define BUF_MAX	GIB

#define IPV6_MIN_MTU	1280

/*
 * The schema is three levels deep.  Deeper input is refused early: libyaml
 * rescans its stack of open flow collections for every token, so
 * "[[[[..." costs time quadratic in the depth (minutes for 200k levels).
 */
#define MAX_DEPTH	32

struct mark {
	unsigned long line, col;	/* 1-based; line 0: not seen */
};

struct scalar {
	const char *s;		/* libyaml's copy, NUL-terminated */
	size_t len;		/* may be > strlen(s): checked before use */
	struct mark m;
	bool null;		/* plain "", "~" or "null" */
};

/*
 * The keys of ctsyncd.yaml, one row each in keys[] below (see there),
 * in the order config_print writes them.  The names index the rows; the
 * checks across keys use them.
 */
enum key_id {
	K_NODE_ID, K_USER, K_RT_PRIORITY,
	K_SYNC, K_TRANSPORT, K_LOCAL, K_PEERS, K_GROUP, K_INTERFACE, K_PORT,
	K_MTU, K_HEARTBEAT, K_ACK, K_PEER_TIMEOUT, K_WINDOW, K_SNDBUF,
	K_RCVBUF, K_KEY_FILE, K_ENCRYPT,
	K_KERNEL, K_EVENT_BUFFER, K_COMMIT_BATCH, K_COLLECT,
	K_FILTER, K_PROTOCOLS, K_TCP_STATES, K_IGNORE, K_IGNORE_LOCAL,
	K_CACHE, K_MAX_ENTRIES,
	K_CONTROL, K_SOCKET, K_CTL_GROUP, K_MODE,
	K_LOG, K_LEVEL, K_SYSLOG,
	K_FAILOVER, K_ANNOUNCE, K_ANNOUNCE_COUNT, K_ANNOUNCE_INTERVAL, K_STANDBY,
	K__COUNT
};

enum shape { SH_SCALAR, SH_LIST, SH_SECTION };

struct pctx;
struct key;
typedef void set_fn(struct pctx *x, const struct key *k, const struct scalar *v);
/*
 * Write k's effective value in c to out as the file would give it (one
 * line, no key, no newline; a list's items without the brackets).  With
 * out NULL write nothing.  Returns false when k has no value (an empty
 * list, an address not given, an optional 0 or ""), having written
 * nothing.
 */
typedef bool print_fn(FILE *out, const struct config *c, const struct key *k);

struct key {
	const char *path;		/* "sync.window", as SIGHUP names it */
	const char *name;		/* "window", as the file and errors do */
	const char *in;			/* its section's name; NULL: top level */
	enum shape shape;
	set_fn *set;			/* a scalar value, or one list item */
	print_fn *print;		/* not for SH_SECTION */
	size_t off;			/* the field in struct config */
	size_t width;			/* its size (1, 2 or 4; a string's array) */
	size_t at;			/* its struct config_mark in c->at, or 0 */
	uint64_t def;			/* default of a number, bool or choice */
	const char *defstr;		/* default of a string */
	bool size;			/* set_int: K/M/G suffixes */
	bool optional;			/* 0 or "" is no value (print_int, print_str) */
	bool nullable;			/* an empty value is allowed */
	uint64_t min, max;		/* set_int */
	const char *const *choices;	/* set_choice: the words, by value */
	const char *none;		/* what no value means ("all"), printed
					 * as a comment */
	const char *what;		/* what is allowed (list: the list) */
	const char *item;		/* SH_LIST: what one item may be */
};

static const struct key keys[K__COUNT];

/* The row's index, which is its key_id. */
static size_t kid(const struct key *k)
{
	return (size_t)(k - keys);
}

struct pctx {
	struct config *c;
	const char *name;
	const char *buf;
	size_t len;
	FILE *err;
	int nerr;
	yaml_parser_t p;
	yaml_event_t ev;		/* the current event */
	bool have_ev;
	bool fatal;			/* syntax error: the walk is over */
	bool nocheck;			/* no checks across keys: nothing to check */
	struct mark key_at[K__COUNT];	/* where each key was given */
	struct mark val_at[K__COUNT];	/* and its value */
	bool bad[K__COUNT];		/* a value of this key was rejected */
	bool list_full;			/* the current list overflowed */
	unsigned depth;			/* collections open around the current event */
	bool local_ok, group_ok;
	struct mark peer_at[CTSYNC_MAX_PEERS];
	bool peer_port[CTSYNC_MAX_PEERS];	/* port given with the address */
};

/* ---- messages ---------------------------------------------------------- */

static struct mark mark_of(yaml_mark_t m)
{
	return (struct mark){ m.line + 1, m.column + 1 };
}

static struct mark mark_or(struct mark m, struct mark fallback)
{
	if (m.line)
		return m;
	if (fallback.line)
		return fallback;
	return (struct mark){ 1, 1 };
}

__attribute__((format(printf, 3, 4)))
static void perr(struct pctx *x, struct mark m, const char *fmt, ...)
{
	va_list ap;

	x->nerr++;
	if (!x->err)
		return;
	m = mark_or(m, m);
	fprintf(x->err, "%s:%lu:%lu: ", x->name, m.line, m.col);
	va_start(ap, fmt);
	vfprintf(x->err, fmt, ap);
	va_end(ap);
	fputc('\n', x->err);
}

#define QMAX	48
struct qbuf {
	char s[QMAX * 4 + 16];
};

/*
 * A value as it appears in a message: in double quotes (when quoted),
 * with quotes, backslashes and control bytes escaped so the message stays
 * on one line, cut after QMAX bytes (never inside a UTF-8 sequence).
 */
static const char *show(struct qbuf *q, const char *s, size_t len, bool quoted)
{
	size_t o = 0, i;

	if (quoted)
		q->s[o++] = '"';
	for (i = 0; i < len && (i < QMAX || ((unsigned char)s[i] & 0xc0) == 0x80); i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			q->s[o++] = '\\';
			q->s[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(q->s + o, sizeof(q->s) - o, "\\x%02x", ch);
		} else {
			q->s[o++] = (char)ch;
		}
	}
	if (i < len) {
		memcpy(q->s + o, "...", 3);
		o += 3;
	}
	if (quoted)
		q->s[o++] = '"';
	q->s[o] = '\0';
	return q->s;
}

static const char *quote(struct qbuf *q, const struct scalar *v)
{
	return show(q, v->s, v->len, true);
}

/* "64K", "8M", "1G" when exact, else plain bytes. */
static const char *fmt_size(char *buf, size_t size, uint64_t v)
{
	if (v && v % GIB == 0)
		snprintf(buf, size, "%" PRIu64 "G", v / GIB);
	else if (v && v % MIB == 0)
		snprintf(buf, size, "%" PRIu64 "M", v / MIB);
	else if (v && v % KIB == 0)
		snprintf(buf, size, "%" PRIu64 "K", v / KIB);
	else
		snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

static const char *fmt_num(char *buf, size_t size, uint64_t v, bool is_size)
{
	if (is_size)
		return fmt_size(buf, size, v);
	snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

/* What a key accepts, for "expected ..." messages. */
static const char *describe(const struct key *k, char *buf, size_t size)
{
	char lo[32], hi[32];
	size_t o = 0;

	if (k->choices) {		/* "hot or cold" */
		buf[0] = '\0';
		for (size_t i = 0; k->choices[i] && o < size; i++)
			o += (size_t)snprintf(buf + o, size - o, "%s%s",
					      i == 0 ? "" : k->choices[i + 1] ? ", " : " or ",
					      k->choices[i]);
		return buf;
	}
	if (k->what == NULL) {		/* set_int */
		snprintf(buf, size, "%s %s-%s%s", k->size ? "a size" : "an integer",
			 fmt_num(lo, sizeof(lo), k->min, k->size),
			 fmt_num(hi, sizeof(hi), k->max, k->size),
			 k->size ? " (bytes, or with suffix K, M or G)" : "");
		return buf;
	}
	return k->what;
}

static const char *kind(const yaml_event_t *e, struct qbuf *q)
{
	switch (e->type) {
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_ALIAS_EVENT:
		return "an alias (aliases are not supported)";
	case YAML_SCALAR_EVENT:
		return show(q, (const char *)e->data.scalar.value,
			    e->data.scalar.length, true);
	default:
		return "nothing";
	}
}

static const char *family_str(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* ---- value parsers ------------------------------------------------------ */

static bool eq_nocase(const struct scalar *v, const char *word)
{
	size_t n = strlen(word);

	if (v->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = v->s[i], b = word[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

enum { NUM_OK, NUM_BAD, NUM_RANGE };

/*
 * Decimal digits, with one K/M/G suffix (powers of 1024) when is_size.
 * A leading '-' is read so that "-1" is reported as out of range rather
 * than as not a number.
 */
static int parse_num(const char *s, size_t len, bool is_size, uint64_t *out)
{
	uint64_t n = 0, mul = 1;
	size_t i = 0, end = len;
	bool neg = false, over = false;

	if (len > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (is_size && end > i) {
		switch (s[end - 1]) {
		case 'k': case 'K': mul = KIB; end--; break;
		case 'm': case 'M': mul = MIB; end--; break;
		case 'g': case 'G': mul = GIB; end--; break;
		default: break;
		}
	}
	if (i == end)
		return NUM_BAD;
	for (; i < end; i++) {
		if (s[i] < '0' || s[i] > '9')
			return NUM_BAD;
		if (n > (UINT64_MAX - 9) / 10)
			over = true;
		else
			n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (neg || over || n > UINT64_MAX / mul)
		return NUM_RANGE;
	*out = n * mul;
	return NUM_OK;
}

/*
 * A bare IPv6 address that reads as well as "v6addr:port": the text up
 * to its last colon is an IPv6 address and the rest a port 1-65535
 * ("2001:db8::2:3781").  Full forms never are (seven groups without "::"
 * are no address); "2001:db8::1000" is not either ("2001:db8:" is none).
 */
static bool v6_port_ambiguous(const char *s)
{
	char a[INET6_ADDRSTRLEN + 1];
	struct in6_addr in6;
	const char *colon = strrchr(s, ':');
	uint64_t port;
	size_t alen;

	if (!colon)
		return false;
	alen = (size_t)(colon - s);
	if (alen == 0 || alen >= sizeof(a))
		return false;
	memcpy(a, s, alen);
	a[alen] = '\0';
	return inet_pton(AF_INET6, a, &in6) == 1 &&
	       parse_num(colon + 1, strlen(colon + 1), false, &port) == NUM_OK &&
	       port >= 1 && port <= 65535;
}

/*
 * "addr", "v4addr:port" or "[v6addr]:port" (a bare v6 address has several
 * colons and so no port).  Returns 0 (*has_port tells which form), -1 for
 * a bad address, -2 for a bad port, -3 for a bare IPv6 address that could
 * also be an address and a port (v6_port_ambiguous: write it in brackets).
 */
static int parse_peer(const char *s, struct sockaddr_storage *ss, bool *has_port)
{
	char a[INET6_ADDRSTRLEN + 1];
	const char *colon, *portp = NULL;
	size_t alen;
	uint64_t port;

	*has_port = false;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close)
			return -1;
		alen = (size_t)(close - s - 1);
		if (alen == 0 || alen >= sizeof(a))
			return -1;
		memcpy(a, s + 1, alen);
		a[alen] = '\0';
		if (addr_parse(a, ss) < 0 || ss->ss_family != AF_INET6)
			return -1;
		if (close[1] == '\0')
			return 0;
		if (close[1] != ':')
			return -1;
		portp = close + 2;
	} else {
		colon = strchr(s, ':');
		if (colon && !strchr(colon + 1, ':')) {
			alen = (size_t)(colon - s);
			if (alen == 0 || alen >= sizeof(a))
				return -1;
			memcpy(a, s, alen);
			a[alen] = '\0';
			if (addr_parse(a, ss) < 0 || ss->ss_family != AF_INET)
				return -1;
			portp = colon + 1;
		} else {
			if (addr_parse(s, ss) < 0)
				return -1;
			if (ss->ss_family == AF_INET6 && v6_port_ambiguous(s))
				return -3;
			return 0;
		}
	}
	if (parse_num(portp, strlen(portp), false, &port) == NUM_BAD)
		return -1;
	if (port < 1 || port > 65535)
		return -2;
	addr_set_port(ss, (uint16_t)port);
	*has_port = true;
	return 0;
}

/* Linux dev_valid_name(), limited to printable ASCII. */
static bool valid_ifname(const struct scalar *v)
{
	if (v->len == 0 || v->len >= sizeof(((struct config *)0)->sync.interface) ||
	    strcmp(v->s, ".") == 0 || strcmp(v->s, "..") == 0)
		return false;
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->s[i];

		if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == ':')
			return false;
	}
	return true;
}

/* ---- setters ------------------------------------------------------------ */

/*
 * Fields are reached through the table's offsets and widths: numbers,
 * bools and enums (int-sized, asserted below) go in and out through
 * memcpy of that many bytes.
 */
_Static_assert(sizeof(enum transport) == sizeof(uint32_t) &&
	       sizeof(enum standby_mode) == sizeof(uint32_t) &&
	       sizeof(int) == sizeof(uint32_t) && sizeof(bool) == 1,
	       "choices are stored as 4 bytes, bools as 1");

static void put_uint(void *p, size_t width, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	if (width == 1)
		memcpy(p, &u8, 1);
	else if (width == 2)
		memcpy(p, &u16, 2);
	else
		memcpy(p, &u32, 4);
}

static uint64_t get_uint(const void *p, size_t width)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;

	if (width == 1) {
		memcpy(&u8, p, 1);
		return u8;
	}
	if (width == 2) {
		memcpy(&u16, p, 2);
		return u16;
	}
	memcpy(&u32, p, 4);
	return u32;
}

static void *field(struct pctx *x, const struct key *k)
{
	return (char *)x->c + k->off;
}

static void set_int(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	char buf[96], lo[32], hi[32];
	uint64_t n = 0;
	int r = parse_num(v->s, v->len, k->size, &n);

	if (r == NUM_BAD) {
		perr(x, v->m, "%s %s is not %s", k->name, quote(&q, v),
		     describe(k, buf, sizeof(buf)));
		x->bad[kid(k)] = true;
		return;
	}
	if (r == NUM_RANGE || n < k->min || n > k->max) {
		perr(x, v->m, "%s %s out of range %s-%s", k->name,
		     show(&q, v->s, v->len, false),
		     fmt_num(lo, sizeof(lo), k->min, k->size),
		     fmt_num(hi, sizeof(hi), k->max, k->size));
		x->bad[kid(k)] = true;
		return;
	}
	put_uint(field(x, k), k->width, n);
}

static void set_bool(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (eq_nocase(v, "true") || eq_nocase(v, "yes")) {
		put_uint(field(x, k), k->width, 1);
	} else if (eq_nocase(v, "false") || eq_nocase(v, "no")) {
		put_uint(field(x, k), k->width, 0);
	} else {
		perr(x, v->m, "%s %s is not a boolean (expected %s)", k->name,
		     quote(&q, v), k->what);
		x->bad[kid(k)] = true;
	}
}

/* One of k->choices, any case; the field gets its index. */
static void set_choice(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	char buf[96];

	for (size_t i = 0; k->choices[i]; i++) {
		if (eq_nocase(v, k->choices[i])) {
			put_uint(field(x, k), k->width, i);
			return;
		}
	}
	perr(x, v->m, "%s %s is not valid (expected %s)", k->name,
	     quote(&q, v), describe(k, buf, sizeof(buf)));
	x->bad[kid(k)] = true;
}

static void set_local(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	struct sockaddr_storage ss;

	if (addr_parse(v->s, &ss) < 0) {
		perr(x, v->m, "local %s is not %s", quote(&q, v), k->what);
	} else if (addr_is_multicast(&ss)) {
		perr(x, v->m, "local %s is a multicast address (expected this "
		     "host's unicast address)", quote(&q, v));
	} else if (addr_is_unspecified(&ss)) {
		/* Bound to any address, datagrams would leave from whichever
		 * the route picks, and peers tell nodes apart by it. */
		perr(x, v->m, "local %s is the unspecified address (expected this "
		     "host's own address on the sync link)", quote(&q, v));
	} else if (addr_is_broadcast(&ss)) {
		perr(x, v->m, "local %s is the broadcast address (expected this "
		     "host's own address on the sync link)", quote(&q, v));
	} else {
		x->c->sync.local = ss;
		x->local_ok = true;
		return;
	}
	x->bad[kid(k)] = true;
}

static void set_group(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	struct sockaddr_storage ss;

	if (v->null)
		return;
	if (addr_parse(v->s, &ss) < 0) {
		perr(x, v->m, "group %s is not %s", quote(&q, v), k->what);
	} else if (!addr_is_multicast(&ss)) {
		perr(x, v->m, "group %s is not a multicast address (expected "
		     "224.0.0.0/4 or ff00::/8)", quote(&q, v));
	} else {
		x->c->sync.group = ss;
		x->group_ok = true;
		return;
	}
	x->bad[kid(k)] = true;
}

static void set_peer(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	struct sockaddr_storage ss;
	bool has_port;
	size_t n = x->c->sync.npeers;
	int r;

	if (n == CTSYNC_MAX_PEERS) {
		if (!x->list_full)
			perr(x, v->m, "peers: more than %d addresses", CTSYNC_MAX_PEERS);
		x->list_full = true;
		x->bad[kid(k)] = true;
		return;
	}
	r = parse_peer(v->s, &ss, &has_port);
	if (r == -1) {
		perr(x, v->m, "peer %s is not %s", quote(&q, v), k->item);
	} else if (r == -2) {
		perr(x, v->m, "peer %s: port out of range 1-65535", quote(&q, v));
	} else if (r == -3) {
		const char *colon = strrchr(v->s, ':');
		int alen = (int)(colon - v->s);

		perr(x, v->m, "peer %s is ambiguous: write \"[%.*s]:%s\" for port %s "
		     "of %.*s, or \"[%s]\" for that IPv6 address", quote(&q, v),
		     alen, v->s, colon + 1, colon + 1, alen, v->s, v->s);
	} else if (addr_is_multicast(&ss)) {
		perr(x, v->m, "peer %s is a multicast address (for multicast use "
		     "transport multicast and group)", quote(&q, v));
	} else if (addr_is_unspecified(&ss)) {
		perr(x, v->m, "peer %s is the unspecified address (expected the "
		     "peer's own address)", quote(&q, v));
	} else if (addr_is_broadcast(&ss)) {
		perr(x, v->m, "peer %s is the broadcast address (expected the "
		     "peer's own address)", quote(&q, v));
	} else {
		x->c->sync.peers[n] = ss;
		x->peer_at[n] = v->m;
		x->peer_port[n] = has_port;
		x->c->sync.npeers = n + 1;
		return;
	}
	x->bad[kid(k)] = true;
}

static void set_interface(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (v->null) {
		x->c->sync.interface[0] = '\0';
	} else if (!valid_ifname(v)) {
		perr(x, v->m, "interface %s is not %s", quote(&q, v), k->what);
		x->bad[kid(k)] = true;
	} else {
		memcpy(x->c->sync.interface, v->s, v->len + 1);
	}
}

static const struct {
	const char *name;
	uint8_t proto;
} proto_names[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
	{ "icmp", IPPROTO_ICMP }, { "icmpv6", IPPROTO_ICMPV6 },
	{ "sctp", IPPROTO_SCTP }, { "dccp", IPPROTO_DCCP },
	{ "gre", IPPROTO_GRE }, { "udplite", IPPROTO_UDPLITE },
};

/* TCP_CONNTRACK_* order, as the kernel numbers them. */
static const char *const tcp_state_names[] = {
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
};
#define NTCP_STATES (sizeof(tcp_state_names) / sizeof(tcp_state_names[0]))

static void set_protocol(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	uint64_t n = 0;
	int r;

	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++) {
		if (eq_nocase(v, proto_names[i].name)) {
			n = proto_names[i].proto;
			x->c->filter.protocols[n / 64] |= 1ull << (n % 64);
			return;
		}
	}
	r = parse_num(v->s, v->len, false, &n);
	if (r == NUM_BAD)
		perr(x, v->m, "protocol %s is unknown (expected %s)", quote(&q, v), k->item);
	else if (r == NUM_RANGE || n > 255)
		perr(x, v->m, "protocol %s out of range 0-255",
		     show(&q, v->s, v->len, false));
	else {
		x->c->filter.protocols[n / 64] |= 1ull << (n % 64);
		return;
	}
	x->bad[kid(k)] = true;
}

static void set_tcp_state(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	for (size_t i = 0; i < NTCP_STATES; i++) {
		if (eq_nocase(v, tcp_state_names[i])) {
			x->c->filter.tcp_states |= 1u << i;
			return;
		}
	}
	perr(x, v->m, "tcp state %s is unknown (expected %s)", quote(&q, v), k->item);
	x->bad[kid(k)] = true;
}

static void set_ignore(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	size_t n = x->c->filter.nignore;

	if (n == CONFIG_MAX_PREFIXES) {
		if (!x->list_full)
			perr(x, v->m, "ignore: more than %d prefixes", CONFIG_MAX_PREFIXES);
		x->list_full = true;
	} else if (prefix_parse(v->s, &x->c->filter.ignore[n]) < 0) {
		memset(&x->c->filter.ignore[n], 0, sizeof(x->c->filter.ignore[n]));
		perr(x, v->m, "ignore %s is not %s", quote(&q, v), k->item);
	} else {
		x->c->filter.nignore = n + 1;
		return;
	}
	x->bad[kid(k)] = true;
}

/* "IFNAME ADDRESS": announce ADDRESS on IFNAME when becoming master. */
static void set_announce(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	size_t n = x->c->failover.nannounce;
	struct announce *a = &x->c->failover.announce[n];
	struct sockaddr_storage ss;
	const char *sp = memchr(v->s, ' ', v->len);
	size_t iflen = sp ? (size_t)(sp - v->s) : 0;

	if (n == CONFIG_MAX_GARP) {
		if (!x->list_full)
			perr(x, v->m, "announce: more than %d addresses", CONFIG_MAX_GARP);
		x->list_full = true;
		x->bad[kid(k)] = true;
		return;
	}
	while (sp && *sp == ' ')
		sp++;
	if (!sp || iflen == 0 || iflen >= sizeof(a->ifname) || !*sp ||
	    memchr(v->s, '/', iflen) || addr_parse(sp, &ss) < 0 || addr_is_multicast(&ss)) {
		perr(x, v->m, "announce %s is not %s", quote(&q, v), k->item);
		x->bad[kid(k)] = true;
		return;
	}
	x->c->at.announce[n] = (struct config_mark){ (uint32_t)v->m.line, (uint32_t)v->m.col };
	memcpy(a->ifname, v->s, iflen);
	a->ifname[iflen] = '\0';
	a->family = (uint8_t)ss.ss_family;
	if (ss.ss_family == AF_INET)
		a->addr.v4 = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
	else
		memcpy(a->addr.b, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	x->c->failover.nannounce = n + 1;
}

static bool printable(const struct scalar *v, bool space);

static void set_user(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (v->null || v->len == 0) {
		x->c->user[0] = '\0';
	} else if (v->len >= sizeof(x->c->user) || !printable(v, false) ||
		   memchr(v->s, ':', v->len) || memchr(v->s, '/', v->len)) {
		perr(x, v->m, "user %s is not %s", quote(&q, v), k->what);
		x->bad[kid(k)] = true;
	} else {
		memcpy(x->c->user, v->s, v->len + 1);
	}
}

static bool printable(const struct scalar *v, bool space)
{
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->s[i];

		if (ch < (space ? ' ' : '!') || ch >= 0x7f)
			return false;
	}
	return true;
}

/* An absolute path of printable ASCII that fits in dst (cap bytes);
 * limit says where the cap comes from. */
static void set_path(struct pctx *x, const struct key *k, const struct scalar *v,
		     char *dst, size_t cap, const char *limit)
{
	struct qbuf q;

	if (v->s[0] == '/' && v->len >= cap && printable(v, true)) {
		perr(x, v->m, "%s %s is too long: %zu bytes, at most %zu (%s)",
		     k->name, quote(&q, v), v->len, cap - 1, limit);
	} else if (v->s[0] != '/' || v->len >= cap || !printable(v, true)) {
		perr(x, v->m, "%s %s is not %s", k->name, quote(&q, v), k->what);
	} else {
		memcpy(dst, v->s, v->len + 1);
		return;
	}
	x->bad[kid(k)] = true;
}

static void set_socket(struct pctx *x, const struct key *k, const struct scalar *v)
{
	set_path(x, k, v, x->c->control.socket, sizeof(x->c->control.socket),
		 "the size of a UNIX socket address");
}

static void set_key_file(struct pctx *x, const struct key *k, const struct scalar *v)
{
	if (v->null)
		x->c->sync.key_file[0] = '\0';
	else
		set_path(x, k, v, x->c->sync.key_file, sizeof(x->c->sync.key_file),
			 "ctsyncd's limit");
}

static void set_ctl_group(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (v->null) {
		x->c->control.group[0] = '\0';
	} else if (v->len >= sizeof(x->c->control.group) || !printable(v, false) ||
		   memchr(v->s, ':', v->len)) {
		perr(x, v->m, "group %s is not %s", quote(&q, v), k->what);
		x->bad[kid(k)] = true;
	} else {
		memcpy(x->c->control.group, v->s, v->len + 1);
	}
}

/* Always octal, with or without the leading 0 (or 0o): 660 is 0660. */
static void set_mode(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	size_t i = 0;
	uint32_t m = 0;

	if (v->len > 2 && v->s[0] == '0' && (v->s[1] == 'o' || v->s[1] == 'O'))
		i = 2;
	if (i == v->len || v->len - i > 4)
		goto bad;
	for (; i < v->len; i++) {
		if (v->s[i] < '0' || v->s[i] > '7')
			goto bad;
		m = m * 8 + (uint32_t)(v->s[i] - '0');
	}
	if (m > 0777)
		goto bad;
	put_uint(field(x, k), k->width, m);
	return;
bad:
	perr(x, v->m, "mode %s is not %s", quote(&q, v), k->what);
	x->bad[kid(k)] = true;
}

/* ---- printers ----------------------------------------------------------- */

/*
 * Each writes what parses back to the same value (test_config's round
 * trip, fuzz_config): strings in double quotes, and addresses too (a
 * plain 2001:db8:: would end in a mapping key's ':').
 */

static const void *cfield(const struct config *c, const struct key *k)
{
	return (const char *)c + k->off;
}

static bool print_int(FILE *out, const struct config *c, const struct key *k)
{
	char buf[32];
	uint64_t v = get_uint(cfield(c, k), k->width);

	if (k->optional && v == 0)
		return false;
	if (out)
		fputs(fmt_num(buf, sizeof(buf), v, k->size), out);
	return true;
}

static bool print_bool(FILE *out, const struct config *c, const struct key *k)
{
	if (out)
		fputs(get_uint(cfield(c, k), k->width) ? "true" : "false", out);
	return true;
}

static bool print_choice(FILE *out, const struct config *c, const struct key *k)
{
	uint64_t v = get_uint(cfield(c, k), k->width);
	size_t n = 0;

	while (k->choices[n])
		n++;
	if (out)
		fputs(v < n ? k->choices[v] : "?", out);
	return true;
}

static bool print_mode(FILE *out, const struct config *c, const struct key *k)
{
	if (out)
		fprintf(out, "0%03" PRIo64, get_uint(cfield(c, k), k->width));
	return true;
}

/* Values are printable ASCII (set_socket etc. make sure), so escaping
 * '"' and '\' is enough for the output to parse back to the same. */
static void put_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static bool print_str(FILE *out, const struct config *c, const struct key *k)
{
	const char *s = cfield(c, k);

	if (k->optional && !s[0])
		return false;
	if (out)
		put_quoted(out, s);
	return true;
}

/* local and group: not given, no value (config_parse refuses a file
 * without local; group only goes with transport multicast). */
static bool print_addr(FILE *out, const struct config *c, const struct key *k)
{
	const struct sockaddr_storage *ss = cfield(c, k);
	char a[INET6_ADDRSTRLEN];

	if (!ss->ss_family)
		return false;
	if (out)
		fprintf(out, "\"%s\"", addr_str(ss, a, sizeof(a)));
	return true;
}

static void print_peer(FILE *out, const struct sockaddr_storage *ss, uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	addr_str(ss, a, sizeof(a));
	/* "2001:db8::2:3781" bare would be refused as ambiguous. */
	if (addr_port(ss) == port && ss->ss_family == AF_INET6 && v6_port_ambiguous(a))
		fprintf(out, "\"[%s]\"", a);
	else if (addr_port(ss) == port)
		fprintf(out, "\"%s\"", a);
	else if (ss->ss_family == AF_INET6)
		fprintf(out, "\"[%s]:%u\"", a, addr_port(ss));
	else
		fprintf(out, "%s:%u", a, addr_port(ss));
}

static bool print_peers(FILE *out, const struct config *c, const struct key *k)
{
	if (!c->sync.npeers)
		return false;
	if (!out)
		return true;
	for (size_t i = 0; i < c->sync.npeers && i < CTSYNC_MAX_PEERS; i++) {
		fputs(i ? ", " : "", out);
		print_peer(out, &c->sync.peers[i], c->sync.port);
	}
	return true;
}

static bool print_protocols(FILE *out, const struct config *c, const struct key *k)
{
	const char *sep = "";
	bool any = false;

	for (unsigned p = 0; p < 256; p++) {
		const char *name = NULL;

		if (!(c->filter.protocols[p / 64] >> (p % 64) & 1))
			continue;
		if (!out)
			return true;
		any = true;
		for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
			if (proto_names[i].proto == p)
				name = proto_names[i].name;
		if (name)
			fprintf(out, "%s%s", sep, name);
		else
			fprintf(out, "%s%u", sep, p);
		sep = ", ";
	}
	return any;
}

static bool print_tcp_states(FILE *out, const struct config *c, const struct key *k)
{
	const char *sep = "";

	if (!c->filter.tcp_states)
		return false;
	if (!out)
		return true;
	for (size_t i = 0; i < NTCP_STATES; i++) {
		if (c->filter.tcp_states >> i & 1) {
			fprintf(out, "%s%s", sep, tcp_state_names[i]);
			sep = ", ";
		}
	}
	return true;
}

static bool print_ignore(FILE *out, const struct config *c, const struct key *k)
{
	char a[INET6_ADDRSTRLEN];

	if (!c->filter.nignore)
		return false;
	if (!out)
		return true;
	for (size_t i = 0; i < c->filter.nignore && i < CONFIG_MAX_PREFIXES; i++) {
		const struct prefix *p = &c->filter.ignore[i];

		if (!inet_ntop(p->family, p->addr.b, a, sizeof(a)))
			snprintf(a, sizeof(a), "?");
		fprintf(out, "%s\"%s/%u\"", i ? ", " : "", a, p->len);
	}
	return true;
}

static bool print_announce(FILE *out, const struct config *c, const struct key *k)
{
	char a[INET6_ADDRSTRLEN];

	if (!c->failover.nannounce)
		return false;
	if (!out)
		return true;
	for (size_t i = 0; i < c->failover.nannounce && i < CONFIG_MAX_GARP; i++) {
		const struct announce *an = &c->failover.announce[i];

		if (!inet_ntop(an->family, &an->addr, a, sizeof(a)))
			snprintf(a, sizeof(a), "?");
		fprintf(out, "%s\"%s %s\"", i ? ", " : "", an->ifname, a);
	}
	return true;
}

/* ---- the keys ----------------------------------------------------------- */

/*
 * Every key of ctsyncd.yaml is one row here: where it lives in the file,
 * how its value is read and checked (set, with min/max or choices), its
 * default, its field in struct config and how it is printed.  Parsing,
 * config_defaults, config_print and config_diff (SIGHUP) all walk this
 * table; man/ctsyncd.yaml.5 documents every row (test_config_keys
 * checks).  A section is a row too, before its keys; the order is that of
 * config_print and of the "expected one of" lists.  Checks that involve
 * several keys are in check_sync().
 */
#define TOP(n)		.path = n, .name = n
#define IN(sec, n)	.path = sec "." n, .name = n, .in = sec
#define FIELD(f)	.off = offsetof(struct config, f), \
			.width = sizeof(((struct config *)0)->f)
#define AT(f)		.at = offsetof(struct config, at.f)
#define SECTION		.shape = SH_SECTION, .what = "a mapping of keys"
#define INT(f, lo, hi, d) \
	FIELD(f), .set = set_int, .print = print_int, .min = lo, .max = hi, .def = d
/* Bytes, written with K/M/G. */
#define SIZE(f, lo, hi, d) INT(f, lo, hi, d), .size = true
#define BOOL(f, d)	FIELD(f), .set = set_bool, .print = print_bool, .def = d, \
			.what = "true, false, yes or no"
/* One of the words, stored as its index (the first is the default). */
#define CHOICE(f, ...)	FIELD(f), .set = set_choice, .print = print_choice, \
			.choices = (const char *const[]){ __VA_ARGS__, NULL }
#define STR(f, fn)	FIELD(f), .set = fn, .print = print_str
#define LIST(fn, pr)	.shape = SH_LIST, .set = fn, .print = pr

#define ADDR_WHAT "an IPv4 or IPv6 address"

static const struct key keys[K__COUNT] = {
	[K_NODE_ID] = { TOP("node_id"), INT(node_id, 1, UINT32_MAX, 0),
		.optional = true, .none = "derived at start-up" },
	[K_USER] = { TOP("user"), STR(user, set_user), AT(user), .nullable = true,
		.what = "a user name (printable ASCII without spaces, ':' or '/', "
			"at most 31 bytes)" },
	[K_RT_PRIORITY] = { TOP("rt_priority"), INT(rt_priority, 0, 99, 0) },

	[K_SYNC] = { TOP("sync"), SECTION },
	[K_TRANSPORT] = { IN("sync", "transport"),
		CHOICE(sync.transport, "udp", "multicast") },
	[K_LOCAL] = { IN("sync", "local"), FIELD(sync.local), AT(local),
		.set = set_local, .print = print_addr, .what = ADDR_WHAT },
	[K_PEERS] = { IN("sync", "peers"), LIST(set_peer, print_peers),
		.what = "a list of addresses",
		.item = "an address (IPv4 or IPv6, optionally as v4addr:port or "
			"[v6addr]:port)" },
	[K_GROUP] = { IN("sync", "group"), FIELD(sync.group),
		.set = set_group, .print = print_addr, .nullable = true,
		.what = "an IPv4 or IPv6 multicast address" },
	[K_INTERFACE] = { IN("sync", "interface"), STR(sync.interface, set_interface),
		AT(interface), .optional = true, .nullable = true,
		.what = "an interface name (1-15 printable characters, no '/', ':' "
			"or spaces)" },
	[K_PORT] = { IN("sync", "port"), INT(sync.port, 1, 65535, 3780) },
	[K_MTU] = { IN("sync", "mtu"), INT(sync.mtu, 576, 65535, 1500) },
	[K_HEARTBEAT] = { IN("sync", "heartbeat_ms"),
		INT(sync.heartbeat_ms, 10, 60000, 250) },
	[K_ACK] = { IN("sync", "ack_ms"), INT(sync.ack_ms, 1, 1000, 10) },
	[K_PEER_TIMEOUT] = { IN("sync", "peer_timeout_ms"),
		INT(sync.peer_timeout_ms, 20, 600000, 3000) },
	[K_WINDOW] = { IN("sync", "window"), INT(sync.window, 1, 1048576, 4096) },
	[K_SNDBUF] = { IN("sync", "sndbuf"), SIZE(sync.sndbuf, BUF_MIN, BUF_MAX, 8 * MIB) },
	[K_RCVBUF] = { IN("sync", "rcvbuf"), SIZE(sync.rcvbuf, BUF_MIN, BUF_MAX, 8 * MIB) },
	[K_KEY_FILE] = { IN("sync", "key_file"), STR(sync.key_file, set_key_file),
		.optional = true, .nullable = true,
		.what = "an absolute path (printable ASCII, at most 255 bytes)" },
	[K_ENCRYPT] = { IN("sync", "encrypt"), BOOL(sync.encrypt, false) },

	[K_KERNEL] = { TOP("kernel"), SECTION },
	[K_EVENT_BUFFER] = { IN("kernel", "event_buffer"),
		SIZE(kernel.event_buffer, BUF_MIN, BUF_MAX, 64 * MIB) },
	[K_COMMIT_BATCH] = { IN("kernel", "commit_batch"),
		INT(kernel.commit_batch, 1, 4096, 256) },
	[K_COLLECT] = { IN("kernel", "collect_us"),
		INT(kernel.collect_us, 0, 10000, 1000) },

	[K_FILTER] = { TOP("filter"), SECTION },
	[K_PROTOCOLS] = { IN("filter", "protocols"),
		LIST(set_protocol, print_protocols), .none = "all",
		.what = "a list of protocols",
		.item = "tcp, udp, icmp, icmpv6, sctp, dccp, gre, udplite or a "
			"number 0-255" },
	[K_TCP_STATES] = { IN("filter", "tcp_states"),
		LIST(set_tcp_state, print_tcp_states), .none = "all",
		.what = "a list of TCP states",
		.item = "one of: NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, "
			"CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2" },
	[K_IGNORE] = { IN("filter", "ignore"), LIST(set_ignore, print_ignore),
		.what = "a list of prefixes",
		.item = "a prefix (address/length, e.g. 192.0.2.0/24 or 2001:db8::/32)" },
	[K_IGNORE_LOCAL] = { IN("filter", "ignore_local"),
		BOOL(filter.ignore_local, true) },

	[K_CACHE] = { TOP("cache"), SECTION },
	[K_MAX_ENTRIES] = { IN("cache", "max_entries"),
		INT(cache.max_entries, 0, UINT32_MAX, 0) },

	[K_CONTROL] = { TOP("control"), SECTION },
	[K_SOCKET] = { IN("control", "socket"), STR(control.socket, set_socket),
		AT(socket), .defstr = CTL_DEFAULT_SOCKET,
		.what = "an absolute path (printable ASCII, at most 107 bytes)" },
	[K_CTL_GROUP] = { IN("control", "group"), STR(control.group, set_ctl_group),
		AT(ctl_group), .nullable = true,
		.what = "a group name (printable ASCII without spaces or ':', at "
			"most 31 bytes)" },
	[K_MODE] = { IN("control", "mode"), FIELD(control.mode),
		.set = set_mode, .print = print_mode, .def = 0660,
		.what = "an octal file mode 0000-0777 (e.g. 0660)" },

	[K_LOG] = { TOP("log"), SECTION },
	[K_LEVEL] = { IN("log", "level"), CHOICE(log.verbose, "info", "debug") },
	[K_SYSLOG] = { IN("log", "syslog"), BOOL(log.syslog, false) },

	[K_FAILOVER] = { TOP("failover"), SECTION },
	[K_ANNOUNCE] = { IN("failover", "announce"), LIST(set_announce, print_announce),
		.what = "a list of \"interface address\" items",
		.item = "\"interface address\" (e.g. \"eth0 198.51.100.1\")" },
	[K_ANNOUNCE_COUNT] = { IN("failover", "announce_count"),
		INT(failover.count, 0, 100, 3) },
	[K_ANNOUNCE_INTERVAL] = { IN("failover", "announce_interval_ms"),
		INT(failover.interval_ms, 1, 10000, 100) },
	[K_STANDBY] = { IN("failover", "standby"),
		CHOICE(failover.standby, "hot", "cold") },
};

/* ---- the walk ----------------------------------------------------------- */

/* Line and column of a byte offset (reader errors carry only that). */
static struct mark offset_mark(const struct pctx *x, size_t off)
{
	struct mark m = { 1, 1 };

	if (off > x->len)
		off = x->len;
	for (size_t i = 0; i < off; i++) {
		if (x->buf[i] == '\n') {
			m.line++;
			m.col = 1;
		} else if (((unsigned char)x->buf[i] & 0xc0) != 0x80) {
			m.col++;
		}
	}
	return m;
}

static void syntax_error(struct pctx *x)
{
	const yaml_parser_t *p = &x->p;
	const char *problem = p->problem ? p->problem : "unknown error";
	struct mark m, cm;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		perr(x, mark_of(p->mark), "out of memory");
		break;
	case YAML_READER_ERROR:
		m = offset_mark(x, p->problem_offset);
		if (p->problem_value != -1)
			perr(x, m, "invalid YAML input: %s (0x%02x)", problem,
			     (unsigned)p->problem_value);
		else
			perr(x, m, "invalid YAML input: %s", problem);
		break;
	default:
		m = mark_of(p->problem_mark);
		cm = mark_of(p->context_mark);
		if (p->context)
			perr(x, m, "YAML syntax error: %s (%s at %lu:%lu)", problem,
			     p->context, cm.line, cm.col);
		else
			perr(x, m, "YAML syntax error: %s", problem);
		break;
	}
}

/* Advance to the next event; false (once reported) on a syntax error. */
static bool next(struct pctx *x)
{
	if (x->have_ev) {
		yaml_event_delete(&x->ev);
		x->have_ev = false;
	}
	if (x->fatal)
		return false;
	if (!yaml_parser_parse(&x->p, &x->ev)) {
		syntax_error(x);
		x->fatal = true;
		return false;
	}
	x->have_ev = true;
	return true;
}

/*
 * Skip the node whose first event is current.  Iterative; nesting beyond
 * MAX_DEPTH (counting from the top) ends the walk like a syntax error.
 */
static void skip(struct pctx *x)
{
	unsigned top = x->depth, depth = top;

	if (x->ev.type != YAML_SEQUENCE_START_EVENT &&
	    x->ev.type != YAML_MAPPING_START_EVENT)
		return;
	depth++;
	while (depth > top && next(x)) {
		switch (x->ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > MAX_DEPTH) {
				perr(x, mark_of(x->ev.start_mark), "nested more "
				     "than %d levels deep", MAX_DEPTH);
				x->fatal = true;
				return;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
	}
}

static bool is_null(const char *s, size_t len)
{
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
			     !memcmp(s, "NULL", 4)));
}

static void scalar_of(const struct pctx *x, struct scalar *v)
{
	const yaml_event_t *e = &x->ev;

	v->s = (const char *)e->data.scalar.value;
	v->len = e->data.scalar.length;
	v->m = mark_of(e->start_mark);
	v->null = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		  is_null(v->s, v->len);
}

static void wrong_type(struct pctx *x, const struct key *k, const char *what)
{
	struct qbuf q;

	perr(x, mark_of(x->ev.start_mark), "%s: expected %s, not %s", k->name,
	     what, kind(&x->ev, &q));
	x->bad[kid(k)] = true;
}

/* One scalar (or list item) for k. */
static void one(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	char buf[128];
	const char *what = k->shape == SH_LIST ? k->item : describe(k, buf, sizeof(buf));

	if (strlen(v->s) != v->len) {
		perr(x, v->m, "%s %s contains a NUL character", k->name, quote(&q, v));
		x->bad[kid(k)] = true;
	} else if (v->null && !k->nullable) {
		perr(x, v->m, "%s has no value (expected %s)", k->name, what);
		x->bad[kid(k)] = true;
	} else {
		k->set(x, k, v);
	}
}

static void section(struct pctx *x, const struct key *sec);

/* The value of key k, whose first event is current. */
static void value(struct pctx *x, const struct key *k)
{
	struct scalar v;
	char buf[128];

	x->val_at[kid(k)] = mark_of(x->ev.start_mark);
	switch (k->shape) {
	case SH_SECTION:
		if (x->ev.type == YAML_MAPPING_START_EVENT) {
			section(x, k);
			return;
		}
		if (x->ev.type == YAML_SCALAR_EVENT) {
			scalar_of(x, &v);
			if (v.null)
				return;
		}
		wrong_type(x, k, k->what);
		skip(x);
		return;
	case SH_SCALAR:
		if (x->ev.type == YAML_SCALAR_EVENT) {
			scalar_of(x, &v);
			one(x, k, &v);
			return;
		}
		wrong_type(x, k, describe(k, buf, sizeof(buf)));
		skip(x);
		return;
	case SH_LIST:
		x->list_full = false;
		if (x->ev.type == YAML_SCALAR_EVENT) {
			scalar_of(x, &v);
			if (!v.null)
				one(x, k, &v);
			return;
		}
		if (x->ev.type != YAML_SEQUENCE_START_EVENT) {
			wrong_type(x, k, k->what);
			skip(x);
			return;
		}
		x->depth++;
		while (next(x) && x->ev.type != YAML_SEQUENCE_END_EVENT) {
			if (x->ev.type == YAML_SCALAR_EVENT) {
				scalar_of(x, &v);
				one(x, k, &v);
			} else {
				wrong_type(x, k, k->item);
				skip(x);
			}
		}
		x->depth--;
		return;
	}
}

/* Whether k is a key of section sec (NULL: the top level). */
static bool in_section(const struct key *k, const struct key *sec)
{
	if (!sec)
		return !k->in;
	return k->in && strcmp(k->in, sec->name) == 0;
}

static const struct key *lookup(const struct key *sec, const char *s, size_t len)
{
	for (const struct key *k = keys; k < keys + K__COUNT; k++)
		if (in_section(k, sec) && strlen(k->name) == len &&
		    memcmp(k->name, s, len) == 0)
			return k;
	return NULL;
}

static void unknown_key(struct pctx *x, const struct key *sec,
			const struct scalar *v)
{
	char list[256];
	size_t o = 0;
	struct qbuf q;

	list[0] = '\0';
	for (const struct key *k = keys; k < keys + K__COUNT; k++)
		if (in_section(k, sec) && o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
					      o ? ", " : "", k->name);
	if (sec)
		perr(x, v->m, "unknown key %s in \"%s\" (expected one of: %s)",
		     quote(&q, v), sec->name, list);
	else
		perr(x, v->m, "unknown key %s (expected one of: %s)", quote(&q, v), list);
}

/* A mapping of the keys of section sec (NULL: the top level); its
 * MAPPING_START is current. */
static void section(struct pctx *x, const struct key *sec)
{
	char in[32] = "";
	struct qbuf q;

	if (sec)
		snprintf(in, sizeof(in), " in \"%s\"", sec->name);
	x->depth++;
	while (next(x) && x->ev.type != YAML_MAPPING_END_EVENT) {
		const struct key *k = NULL;
		struct scalar v;

		if (x->ev.type != YAML_SCALAR_EVENT) {
			perr(x, mark_of(x->ev.start_mark), "expected a key name%s, not %s",
			     in, kind(&x->ev, &q));
			skip(x);
			if (next(x))
				skip(x);
			continue;
		}
		scalar_of(x, &v);
		k = lookup(sec, v.s, v.len);
		if (!k) {
			unknown_key(x, sec, &v);
		} else if (x->key_at[kid(k)].line) {
			perr(x, v.m, "duplicate key %s%s (first at %lu:%lu)",
			     quote(&q, &v), in, x->key_at[kid(k)].line,
			     x->key_at[kid(k)].col);
			k = NULL;
		} else {
			x->key_at[kid(k)] = v.m;
		}
		if (!next(x))
			break;
		if (k)
			value(x, k);
		else
			skip(x);
	}
	x->depth--;
}

static void stream(struct pctx *x)
{
	struct qbuf q;
	struct scalar v = { 0 };

	if (!next(x) || !next(x))	/* STREAM-START, then DOCUMENT-START */
		return;
	if (x->ev.type == YAML_STREAM_END_EVENT)
		return;			/* nothing but comments */
	if (!next(x))
		return;
	if (x->ev.type == YAML_MAPPING_START_EVENT) {
		section(x, NULL);
	} else {
		if (x->ev.type == YAML_SCALAR_EVENT)
			scalar_of(x, &v);
		if (x->ev.type != YAML_SCALAR_EVENT || !v.null) {
			perr(x, mark_of(x->ev.start_mark), "expected a mapping of "
			     "sections (sync, kernel, filter, ...) at the top level, "
			     "not %s", kind(&x->ev, &q));
			x->nocheck = true;
		}
		skip(x);
	}
	if (!next(x) || !next(x))	/* DOCUMENT-END, then STREAM-END */
		return;
	if (x->ev.type == YAML_DOCUMENT_START_EVENT)
		perr(x, mark_of(x->ev.start_mark), "only one YAML document is allowed");
}

/* ---- checks across keys ------------------------------------------------- */

static void check_transport(struct pctx *x, struct mark sync)
{
	struct config *c = x->c;
	struct mark tm = mark_or(x->val_at[K_TRANSPORT], sync);

	if (x->bad[K_TRANSPORT])
		return;
	if (c->sync.transport == TRANSPORT_UDP) {
		if (c->sync.npeers == 0 && !x->bad[K_PEERS])
			perr(x, tm, "transport udp needs at least one address in \"peers\"");
		if (x->group_ok)
			perr(x, x->val_at[K_GROUP], "group is only used with "
			     "transport multicast (transport is udp)");
	} else {
		if (!x->group_ok && !x->bad[K_GROUP])
			perr(x, tm, "transport multicast needs a \"group\" address");
		if (c->sync.npeers)
			perr(x, x->val_at[K_PEERS], "peers are only used with "
			     "transport udp (transport is multicast)");
	}
}

static void check_addresses(struct pctx *x)
{
	struct config *c = x->c;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int lfam = x->local_ok ? c->sync.local.ss_family : 0;
	bool need_if = !c->sync.interface[0] && !x->bad[K_INTERFACE];

	if (lfam) {
		addr_str(&c->sync.local, b, sizeof(b));
		for (size_t i = 0; i < c->sync.npeers; i++)
			if (c->sync.peers[i].ss_family != lfam)
				perr(x, x->peer_at[i], "peer %s is %s but local %s is %s",
				     addr_str(&c->sync.peers[i], a, sizeof(a)),
				     family_str(c->sync.peers[i].ss_family), b,
				     family_str(lfam));
		if (x->group_ok && c->sync.group.ss_family != lfam)
			perr(x, x->val_at[K_GROUP], "group %s is %s but local %s is %s",
			     addr_str(&c->sync.group, a, sizeof(a)),
			     family_str(c->sync.group.ss_family), b, family_str(lfam));
	}
	if (!need_if)
		return;
	if (lfam && addr_is_v6_linklocal(&c->sync.local))
		perr(x, x->val_at[K_LOCAL], "local %s is link-local and needs \"interface\"",
		     addr_str(&c->sync.local, a, sizeof(a)));
	for (size_t i = 0; i < c->sync.npeers; i++)
		if (addr_is_v6_linklocal(&c->sync.peers[i]))
			perr(x, x->peer_at[i], "peer %s is link-local and needs \"interface\"",
			     addr_str(&c->sync.peers[i], a, sizeof(a)));
	if (x->group_ok && addr_is_v6_linklocal(&c->sync.group))
		perr(x, x->val_at[K_GROUP], "group %s has link-local scope and needs "
		     "\"interface\"", addr_str(&c->sync.group, a, sizeof(a)));
}

/* Ports go in once "port" is known; then peers can be compared. */
static void check_peers(struct pctx *x)
{
	struct config *c = x->c;
	char a[INET6_ADDRSTRLEN];

	addr_set_port(&c->sync.local, c->sync.port);
	addr_set_port(&c->sync.group, c->sync.port);
	for (size_t i = 0; i < c->sync.npeers; i++)
		if (!x->peer_port[i])
			addr_set_port(&c->sync.peers[i], c->sync.port);

	for (size_t i = 0; i < c->sync.npeers; i++) {
		const struct sockaddr_storage *p = &c->sync.peers[i];

		if (x->local_ok && addr_equal(p, &c->sync.local)) {
			perr(x, x->peer_at[i], "peer %s port %u is the local address",
			     addr_str(p, a, sizeof(a)), addr_port(p));
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (addr_equal(p, &c->sync.peers[j])) {
				perr(x, x->peer_at[i], "peer %s port %u is listed twice "
				     "(first at %lu:%lu)", addr_str(p, a, sizeof(a)),
				     addr_port(p), x->peer_at[j].line, x->peer_at[j].col);
				break;
			}
		}
	}
}

static void check_sync(struct pctx *x)
{
	struct config *c = x->c;
	struct mark sync = mark_or(x->key_at[K_SYNC], x->key_at[K_SYNC]);

	if (!x->key_at[K_LOCAL].line)
		perr(x, sync, "missing key \"local\" in \"sync\" (required: the "
		     "address to bind and send from)");
	check_transport(x, sync);
	check_addresses(x);
	check_peers(x);
	if (c->sync.peer_timeout_ms <= c->sync.heartbeat_ms &&
	    !x->bad[K_PEER_TIMEOUT] && !x->bad[K_HEARTBEAT])
		perr(x, mark_or(x->val_at[K_PEER_TIMEOUT], mark_or(x->val_at[K_HEARTBEAT], sync)),
		     "peer_timeout_ms %" PRIu32 " must be greater than heartbeat_ms %" PRIu32,
		     c->sync.peer_timeout_ms, c->sync.heartbeat_ms);
	if (c->sync.encrypt && !c->sync.key_file[0] && !x->bad[K_KEY_FILE])
		perr(x, mark_or(x->val_at[K_ENCRYPT], sync),
		     "encrypt needs \"key_file\" (the pre-shared keys)");
	if (x->local_ok && c->sync.local.ss_family == AF_INET6 &&
	    c->sync.mtu < IPV6_MIN_MTU && !x->bad[K_MTU])
		perr(x, mark_or(x->val_at[K_MTU], sync),
		     "mtu %" PRIu32 " is below the IPv6 minimum %d",
		     c->sync.mtu, IPV6_MIN_MTU);
}

/* ---- entry points ------------------------------------------------------- */

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (const struct key *k = keys; k < keys + K__COUNT; k++) {
		if (k->defstr)
			snprintf((char *)c + k->off, k->width, "%s", k->defstr);
		else if (k->def)
			put_uint((char *)c + k->off, k->width, k->def);
	}
}

static struct config_mark cmark(struct mark m)
{
	return (struct config_mark){ (uint32_t)m.line, (uint32_t)m.col };
}

/*
 * c is reset to the defaults first, so the result depends only on buf.
 * On errors c holds what could be parsed and must not be used.
 */
int config_parse(struct config *c, const char *name, const char *buf,
		 size_t len, FILE *err)
{
	struct pctx *x = calloc(1, sizeof(*x));
	int nerr;

	config_defaults(c);
	if (!name)
		name = "(config)";
	snprintf(c->path, sizeof(c->path), "%s", name);
	if (!x) {
		if (err)
			fprintf(err, "%s:1:1: out of memory\n", name);
		return 1;
	}
	x->c = c;
	x->name = name;
	x->buf = buf;
	x->len = buf ? len : 0;
	x->err = err;
	if (!yaml_parser_initialize(&x->p)) {
		perr(x, (struct mark){ 1, 1 }, "out of memory");
		nerr = x->nerr;
		free(x);
		return nerr;
	}
	yaml_parser_set_input_string(&x->p, (const unsigned char *)(buf ? buf : ""),
				     buf ? len : 0);
	stream(x);
	if (x->have_ev)
		yaml_event_delete(&x->ev);
	yaml_parser_delete(&x->p);
	if (!x->fatal && !x->nocheck)
		check_sync(x);
	for (const struct key *k = keys; k < keys + K__COUNT; k++)
		if (k->at)
			*(struct config_mark *)((char *)c + k->at) = cmark(x->val_at[kid(k)]);
	nerr = x->nerr;
	free(x);
	return nerr;
}

const char *config_key(size_t i)
{
	return i < K__COUNT ? keys[i].path : NULL;
}

/* ---- printing ----------------------------------------------------------- */

/* k's value, which it has, as config_print writes it. */
static void put_value(FILE *out, const struct config *c, const struct key *k)
{
	if (k->shape == SH_LIST)
		fputc('[', out);
	k->print(out, c, k);
	if (k->shape == SH_LIST)
		fputc(']', out);
}

/* One line for k (two spaces in for a section's keys); nothing for a
 * key without a value unless k->none says what that means. */
static void print_key(FILE *out, const struct config *c, const struct key *k)
{
	const char *indent = k->in ? "  " : "";

	if (k->shape == SH_SECTION) {
		fprintf(out, "%s:\n", k->name);
	} else if (k->print(NULL, c, k)) {
		fprintf(out, "%s%s: ", indent, k->name);
		put_value(out, c, k);
		fputc('\n', out);
	} else if (k->shape == SH_LIST) {
		fprintf(out, "%s%s: []%s%s\n", indent, k->name,
			k->none ? "   # " : "", k->none ? k->none : "");
	} else if (k->none) {
		fprintf(out, "%s# %s: %s\n", indent, k->name, k->none);
	}
}

void config_print(const struct config *c, FILE *out)
{
	fprintf(out, "# effective configuration of %s\n", c->path);
	for (const struct key *k = keys; k < keys + K__COUNT; k++)
		print_key(out, c, k);
}

/* ---- comparing ---------------------------------------------------------- */

/*
 * k's value in c as config_print writes it, in *text (the caller frees),
 * "[]" for an empty list, NULL for a key without a value.  0, or -1 when
 * out of memory.
 */
static int value_text(const struct config *c, const struct key *k, char **text)
{
	size_t len;
	FILE *f;

	*text = NULL;
	if (!k->print(NULL, c, k)) {
		if (k->shape == SH_LIST && !(*text = strdup("[]")))
			return -1;
		return 0;
	}
	if (!(f = open_memstream(text, &len)))
		return -1;
	put_value(f, c, k);
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		return -1;
	}
	return 0;
}

static void cut(char *dst, size_t size, const char *s)
{
	if (!s)
		s = "(not set)";
	if (strlen(s) < size)
		snprintf(dst, size, "%s", s);
	else
		snprintf(dst, size, "%.*s...", (int)(size - 4), s);
}

static int change(struct config_change *out, size_t max, int n, const char *key,
		  const char *from, const char *to)
{
	if ((size_t)n < max) {
		snprintf(out[n].key, sizeof(out[n].key), "%s", key);
		cut(out[n].from, sizeof(out[n].from), from);
		cut(out[n].to, sizeof(out[n].to), to);
	}
	return n + 1;
}

/* The keys a has a value for in table order, then those only b has. */
int config_diff(const struct config *a, const struct config *b,
		struct config_change *out, size_t max)
{
	char *from[K__COUNT] = { 0 }, *to[K__COUNT] = { 0 };
	int n = -1;

	for (size_t i = 0; i < K__COUNT; i++)
		if (keys[i].shape != SH_SECTION &&
		    (value_text(a, &keys[i], &from[i]) < 0 ||
		     value_text(b, &keys[i], &to[i]) < 0))
			goto out;
	n = 0;
	for (size_t i = 0; i < K__COUNT; i++)
		if (from[i] && (!to[i] || strcmp(from[i], to[i]) != 0))
			n = change(out, max, n, keys[i].path, from[i], to[i]);
	for (size_t i = 0; i < K__COUNT; i++)
		if (!from[i] && to[i])
			n = change(out, max, n, keys[i].path, NULL, to[i]);
out:
	for (size_t i = 0; i < K__COUNT; i++) {
		free(from[i]);
		free(to[i]);
	}
	return n;
}
