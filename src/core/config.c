/*
 * config.c - ctsyncd.yaml: libyaml events from a buffer -> struct config.
 *
 * The schema is three levels deep (sections, keys, lists of scalars), so
 * the event stream is walked by a small recursive descent driven by the
 * key tables below.  A wrong value is reported and skipped, so one run
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

enum key_id {
	K_NODE_ID, K_SYNC, K_KERNEL, K_FILTER, K_CACHE, K_CONTROL, K_LOG,
	K_TRANSPORT, K_LOCAL, K_PEERS, K_GROUP, K_INTERFACE, K_PORT, K_MTU,
	K_HEARTBEAT, K_ACK, K_PEER_TIMEOUT, K_WINDOW, K_SNDBUF, K_RCVBUF,
	K_KEY_FILE, K_ENCRYPT,
	K_EVENT_BUFFER, K_COMMIT_BATCH, K_COLLECT,
	K_PROTOCOLS, K_TCP_STATES, K_IGNORE, K_IGNORE_LOCAL,
	K_MAX_ENTRIES,
	K_SOCKET, K_CTL_GROUP, K_MODE,
	K_LEVEL, K_SYSLOG,
	K_USER, K_FAILOVER, K_ANNOUNCE, K_ANNOUNCE_COUNT, K_ANNOUNCE_INTERVAL,
	K_STANDBY, K_RT_PRIORITY,
	K__COUNT
};

enum shape { SH_SCALAR, SH_LIST, SH_SECTION };

struct pctx;
struct key;
struct section;
typedef void set_fn(struct pctx *x, const struct key *k, const struct scalar *v);

struct key {
	const char *name;
	enum key_id id;
	enum shape shape;
	set_fn *set;			/* a scalar value, or one list item */
	const struct section *sub;	/* SH_SECTION */
	size_t off;			/* field in struct config (set_int, set_bool) */
	uint8_t width;			/* set_int: 2 or 4 bytes */
	bool size;			/* set_int: K/M/G suffixes */
	bool nullable;			/* an empty value is allowed */
	uint64_t min, max;		/* set_int */
	const char *what;		/* what is allowed (list: the list) */
	const char *item;		/* SH_LIST: what one item may be */
};

struct section {
	const char *name;		/* NULL: the top level */
	const struct key *keys;
	size_t nkeys;
};

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

	if (k->set && k->what == NULL) {
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
		x->bad[k->id] = true;
		return;
	}
	if (r == NUM_RANGE || n < k->min || n > k->max) {
		perr(x, v->m, "%s %s out of range %s-%s", k->name,
		     show(&q, v->s, v->len, false),
		     fmt_num(lo, sizeof(lo), k->min, k->size),
		     fmt_num(hi, sizeof(hi), k->max, k->size));
		x->bad[k->id] = true;
		return;
	}
	if (k->width == 2)
		*(uint16_t *)field(x, k) = (uint16_t)n;
	else
		*(uint32_t *)field(x, k) = (uint32_t)n;
}

static void set_bool(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	bool *b = field(x, k);

	if (eq_nocase(v, "true") || eq_nocase(v, "yes")) {
		*b = true;
	} else if (eq_nocase(v, "false") || eq_nocase(v, "no")) {
		*b = false;
	} else {
		perr(x, v->m, "%s %s is not a boolean (expected %s)", k->name,
		     quote(&q, v), k->what);
		x->bad[k->id] = true;
	}
}

static void set_transport(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (eq_nocase(v, "udp")) {
		x->c->sync.transport = TRANSPORT_UDP;
	} else if (eq_nocase(v, "multicast")) {
		x->c->sync.transport = TRANSPORT_MULTICAST;
	} else {
		perr(x, v->m, "%s %s is not valid (expected %s)", k->name,
		     quote(&q, v), k->what);
		x->bad[k->id] = true;
	}
}

static void set_standby(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (eq_nocase(v, "hot")) {
		x->c->failover.standby = STANDBY_HOT;
	} else if (eq_nocase(v, "cold")) {
		x->c->failover.standby = STANDBY_COLD;
	} else {
		perr(x, v->m, "%s %s is not valid (expected %s)", k->name,
		     quote(&q, v), k->what);
		x->bad[k->id] = true;
	}
}

static void set_level(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (eq_nocase(v, "info")) {
		x->c->log.verbose = 0;
	} else if (eq_nocase(v, "debug")) {
		x->c->log.verbose = 1;
	} else {
		perr(x, v->m, "%s %s is not valid (expected %s)", k->name,
		     quote(&q, v), k->what);
		x->bad[k->id] = true;
	}
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
	x->bad[k->id] = true;
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
	x->bad[k->id] = true;
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
		x->bad[k->id] = true;
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
	x->bad[k->id] = true;
}

static void set_interface(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;

	if (v->null) {
		x->c->sync.interface[0] = '\0';
	} else if (!valid_ifname(v)) {
		perr(x, v->m, "interface %s is not %s", quote(&q, v), k->what);
		x->bad[k->id] = true;
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
	x->bad[k->id] = true;
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
	x->bad[k->id] = true;
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
	x->bad[k->id] = true;
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
		x->bad[k->id] = true;
		return;
	}
	while (sp && *sp == ' ')
		sp++;
	if (!sp || iflen == 0 || iflen >= sizeof(a->ifname) || !*sp ||
	    memchr(v->s, '/', iflen) || addr_parse(sp, &ss) < 0 || addr_is_multicast(&ss)) {
		perr(x, v->m, "announce %s is not %s", quote(&q, v), k->item);
		x->bad[k->id] = true;
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
		x->bad[k->id] = true;
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
	x->bad[k->id] = true;
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
		x->bad[k->id] = true;
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
	x->c->control.mode = m;
	return;
bad:
	perr(x, v->m, "mode %s is not %s", quote(&q, v), k->what);
	x->bad[k->id] = true;
}

/* ---- schema ------------------------------------------------------------- */

#define INT(n, i, f, lo, hi) \
	{ .name = n, .id = i, .set = set_int, .off = offsetof(struct config, f), \
	  .width = sizeof(((struct config *)0)->f), .min = lo, .max = hi }
#define SIZE(n, i, f, lo, hi) \
	{ .name = n, .id = i, .set = set_int, .off = offsetof(struct config, f), \
	  .width = sizeof(((struct config *)0)->f), .size = true, .min = lo, .max = hi }
#define BOOL(n, i, f) \
	{ .name = n, .id = i, .set = set_bool, .off = offsetof(struct config, f), \
	  .what = "true, false, yes or no" }
#define NKEYS(a) (sizeof(a) / sizeof(a[0]))

#define ADDR_WHAT "an IPv4 or IPv6 address"

static const struct key sync_keys[] = {
	{ .name = "transport", .id = K_TRANSPORT, .set = set_transport,
	  .what = "udp or multicast" },
	{ .name = "local", .id = K_LOCAL, .set = set_local, .what = ADDR_WHAT },
	{ .name = "peers", .id = K_PEERS, .shape = SH_LIST, .set = set_peer,
	  .what = "a list of addresses",
	  .item = "an address (IPv4 or IPv6, optionally as v4addr:port or [v6addr]:port)" },
	{ .name = "group", .id = K_GROUP, .set = set_group, .nullable = true,
	  .what = "an IPv4 or IPv6 multicast address" },
	{ .name = "interface", .id = K_INTERFACE, .set = set_interface, .nullable = true,
	  .what = "an interface name (1-15 printable characters, no '/', ':' or spaces)" },
	INT("port", K_PORT, sync.port, 1, 65535),
	INT("mtu", K_MTU, sync.mtu, 576, 65535),
	INT("heartbeat_ms", K_HEARTBEAT, sync.heartbeat_ms, 10, 60000),
	INT("ack_ms", K_ACK, sync.ack_ms, 1, 1000),
	INT("peer_timeout_ms", K_PEER_TIMEOUT, sync.peer_timeout_ms, 20, 600000),
	INT("window", K_WINDOW, sync.window, 1, 1048576),
	SIZE("sndbuf", K_SNDBUF, sync.sndbuf, BUF_MIN, BUF_MAX),
	SIZE("rcvbuf", K_RCVBUF, sync.rcvbuf, BUF_MIN, BUF_MAX),
	{ .name = "key_file", .id = K_KEY_FILE, .set = set_key_file, .nullable = true,
	  .what = "an absolute path (printable ASCII, at most 255 bytes)" },
	BOOL("encrypt", K_ENCRYPT, sync.encrypt),
};

static const struct key kernel_keys[] = {
	SIZE("event_buffer", K_EVENT_BUFFER, kernel.event_buffer, BUF_MIN, BUF_MAX),
	INT("commit_batch", K_COMMIT_BATCH, kernel.commit_batch, 1, 4096),
	INT("collect_us", K_COLLECT, kernel.collect_us, 0, 10000),
};

static const struct key filter_keys[] = {
	{ .name = "protocols", .id = K_PROTOCOLS, .shape = SH_LIST, .set = set_protocol,
	  .what = "a list of protocols",
	  .item = "tcp, udp, icmp, icmpv6, sctp, dccp, gre, udplite or a number 0-255" },
	{ .name = "tcp_states", .id = K_TCP_STATES, .shape = SH_LIST, .set = set_tcp_state,
	  .what = "a list of TCP states",
	  .item = "one of: NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, "
		  "CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2" },
	{ .name = "ignore", .id = K_IGNORE, .shape = SH_LIST, .set = set_ignore,
	  .what = "a list of prefixes",
	  .item = "a prefix (address/length, e.g. 192.0.2.0/24 or 2001:db8::/32)" },
	BOOL("ignore_local", K_IGNORE_LOCAL, filter.ignore_local),
};

static const struct key cache_keys[] = {
	INT("max_entries", K_MAX_ENTRIES, cache.max_entries, 0, UINT32_MAX),
};

static const struct key control_keys[] = {
	{ .name = "socket", .id = K_SOCKET, .set = set_socket,
	  .what = "an absolute path (printable ASCII, at most 107 bytes)" },
	{ .name = "group", .id = K_CTL_GROUP, .set = set_ctl_group, .nullable = true,
	  .what = "a group name (printable ASCII without spaces or ':', at most 31 bytes)" },
	{ .name = "mode", .id = K_MODE, .set = set_mode,
	  .what = "an octal file mode 0000-0777 (e.g. 0660)" },
};

static const struct key log_keys[] = {
	{ .name = "level", .id = K_LEVEL, .set = set_level, .what = "info or debug" },
	BOOL("syslog", K_SYSLOG, log.syslog),
};

static const struct key failover_keys[] = {
	{ .name = "announce", .id = K_ANNOUNCE, .shape = SH_LIST, .set = set_announce,
	  .what = "a list of \"interface address\" items",
	  .item = "\"interface address\" (e.g. \"eth0 198.51.100.1\")" },
	INT("announce_count", K_ANNOUNCE_COUNT, failover.count, 0, 100),
	INT("announce_interval_ms", K_ANNOUNCE_INTERVAL, failover.interval_ms, 1, 10000),
	{ .name = "standby", .id = K_STANDBY, .set = set_standby, .what = "hot or cold" },
};

#define SECTION(n, keys) { n, keys, NKEYS(keys) }
static const struct section sync_sec = SECTION("sync", sync_keys);
static const struct section kernel_sec = SECTION("kernel", kernel_keys);
static const struct section filter_sec = SECTION("filter", filter_keys);
static const struct section cache_sec = SECTION("cache", cache_keys);
static const struct section control_sec = SECTION("control", control_keys);
static const struct section log_sec = SECTION("log", log_keys);
static const struct section failover_sec = SECTION("failover", failover_keys);

#define SUB(n, i, s) { .name = n, .id = i, .shape = SH_SECTION, .sub = &s, \
		       .what = "a mapping of keys" }
static const struct key top_keys[] = {
	INT("node_id", K_NODE_ID, node_id, 1, UINT32_MAX),
	{ .name = "user", .id = K_USER, .set = set_user, .nullable = true,
	  .what = "a user name (printable ASCII without spaces, ':' or '/', at most 31 bytes)" },
	INT("rt_priority", K_RT_PRIORITY, rt_priority, 0, 99),
	SUB("sync", K_SYNC, sync_sec),
	SUB("kernel", K_KERNEL, kernel_sec),
	SUB("filter", K_FILTER, filter_sec),
	SUB("cache", K_CACHE, cache_sec),
	SUB("control", K_CONTROL, control_sec),
	SUB("log", K_LOG, log_sec),
	SUB("failover", K_FAILOVER, failover_sec),
};
static const struct section top_sec = SECTION(NULL, top_keys);

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
	x->bad[k->id] = true;
}

/* One scalar (or list item) for k. */
static void one(struct pctx *x, const struct key *k, const struct scalar *v)
{
	struct qbuf q;
	char buf[128];
	const char *what = k->shape == SH_LIST ? k->item : describe(k, buf, sizeof(buf));

	if (strlen(v->s) != v->len) {
		perr(x, v->m, "%s %s contains a NUL character", k->name, quote(&q, v));
		x->bad[k->id] = true;
	} else if (v->null && !k->nullable) {
		perr(x, v->m, "%s has no value (expected %s)", k->name, what);
		x->bad[k->id] = true;
	} else {
		k->set(x, k, v);
	}
}

static void section(struct pctx *x, const struct section *sec);

/* The value of key k, whose first event is current. */
static void value(struct pctx *x, const struct key *k)
{
	struct scalar v;
	char buf[128];

	x->val_at[k->id] = mark_of(x->ev.start_mark);
	switch (k->shape) {
	case SH_SECTION:
		if (x->ev.type == YAML_MAPPING_START_EVENT) {
			section(x, k->sub);
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

static const struct key *lookup(const struct section *sec, const char *s, size_t len)
{
	for (size_t i = 0; i < sec->nkeys; i++)
		if (strlen(sec->keys[i].name) == len &&
		    memcmp(sec->keys[i].name, s, len) == 0)
			return &sec->keys[i];
	return NULL;
}

static void unknown_key(struct pctx *x, const struct section *sec,
			const struct scalar *v)
{
	char list[256];
	size_t o = 0;
	struct qbuf q;

	list[0] = '\0';
	for (size_t i = 0; i < sec->nkeys; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				      i ? ", " : "", sec->keys[i].name);
	if (sec->name)
		perr(x, v->m, "unknown key %s in \"%s\" (expected one of: %s)",
		     quote(&q, v), sec->name, list);
	else
		perr(x, v->m, "unknown key %s (expected one of: %s)", quote(&q, v), list);
}

/* A mapping of keys from sec; its MAPPING_START is current. */
static void section(struct pctx *x, const struct section *sec)
{
	char in[32] = "";
	struct qbuf q;

	if (sec->name)
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
		} else if (x->key_at[k->id].line) {
			perr(x, v.m, "duplicate key %s%s (first at %lu:%lu)",
			     quote(&q, &v), in, x->key_at[k->id].line,
			     x->key_at[k->id].col);
			k = NULL;
		} else {
			x->key_at[k->id] = v.m;
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
		section(x, &top_sec);
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
	c->sync.transport = TRANSPORT_UDP;
	c->sync.port = 3780;
	c->sync.mtu = 1500;
	c->sync.heartbeat_ms = 250;
	c->sync.ack_ms = 10;
	c->sync.peer_timeout_ms = 3000;
	c->sync.window = 4096;
	c->sync.sndbuf = 8 * MIB;
	c->sync.rcvbuf = 8 * MIB;
	c->kernel.event_buffer = 64 * MIB;
	c->kernel.commit_batch = 256;
	c->kernel.collect_us = 1000;
	c->rt_priority = 0;
	c->filter.ignore_local = true;
	snprintf(c->control.socket, sizeof(c->control.socket), "%s",
		 "/run/ctsyncd/ctsyncd.sock");
	c->control.mode = 0660;
	c->failover.count = 3;
	c->failover.interval_ms = 100;
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
	c->at.local = cmark(x->val_at[K_LOCAL]);
	c->at.interface = cmark(x->val_at[K_INTERFACE]);
	c->at.user = cmark(x->val_at[K_USER]);
	c->at.socket = cmark(x->val_at[K_SOCKET]);
	c->at.ctl_group = cmark(x->val_at[K_CTL_GROUP]);
	nerr = x->nerr;
	free(x);
	return nerr;
}

/* ---- printing ----------------------------------------------------------- */

/* Values are printable ASCII (set_socket etc. make sure), so escaping
 * '"' and '\' is enough for the output to parse back to the same. */
static void print_str(FILE *out, const char *key, const char *s)
{
	fprintf(out, "  %s: \"", key);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputs("\"\n", out);
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

void config_print(const struct config *c, FILE *out)
{
	char a[INET6_ADDRSTRLEN], s1[32], s2[32];
	const char *sep = "";

	fprintf(out, "# effective configuration of %s\n", c->path);
	if (c->node_id)
		fprintf(out, "node_id: %" PRIu32 "\n", c->node_id);
	else
		fprintf(out, "# node_id: derived at start-up\n");
	fprintf(out, "user: \"%s\"\nrt_priority: %" PRIu32 "\n", c->user,
		c->rt_priority);

	fprintf(out, "sync:\n  transport: %s\n",
		c->sync.transport == TRANSPORT_MULTICAST ? "multicast" : "udp");
	if (c->sync.local.ss_family)
		fprintf(out, "  local: \"%s\"\n", addr_str(&c->sync.local, a, sizeof(a)));
	fprintf(out, "  peers: [");
	for (size_t i = 0; i < c->sync.npeers && i < CTSYNC_MAX_PEERS; i++) {
		fputs(i ? ", " : "", out);
		print_peer(out, &c->sync.peers[i], c->sync.port);
	}
	fprintf(out, "]\n");
	if (c->sync.group.ss_family)
		fprintf(out, "  group: \"%s\"\n", addr_str(&c->sync.group, a, sizeof(a)));
	if (c->sync.interface[0])
		print_str(out, "interface", c->sync.interface);
	fprintf(out, "  port: %u\n  mtu: %" PRIu32 "\n  heartbeat_ms: %" PRIu32
		"\n  ack_ms: %" PRIu32 "\n  peer_timeout_ms: %" PRIu32
		"\n  window: %" PRIu32 "\n  sndbuf: %s\n  rcvbuf: %s\n",
		c->sync.port, c->sync.mtu, c->sync.heartbeat_ms, c->sync.ack_ms,
		c->sync.peer_timeout_ms, c->sync.window,
		fmt_size(s1, sizeof(s1), c->sync.sndbuf),
		fmt_size(s2, sizeof(s2), c->sync.rcvbuf));
	if (c->sync.key_file[0])
		print_str(out, "key_file", c->sync.key_file);
	fprintf(out, "  encrypt: %s\n", c->sync.encrypt ? "true" : "false");

	fprintf(out, "kernel:\n  event_buffer: %s\n  commit_batch: %" PRIu32 "\n"
		"  collect_us: %" PRIu32 "\n",
		fmt_size(s1, sizeof(s1), c->kernel.event_buffer), c->kernel.commit_batch,
		c->kernel.collect_us);

	fprintf(out, "filter:\n  protocols: [");
	for (unsigned p = 0; p < 256; p++) {
		const char *name = NULL;

		if (!(c->filter.protocols[p / 64] >> (p % 64) & 1))
			continue;
		for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
			if (proto_names[i].proto == p)
				name = proto_names[i].name;
		if (name)
			fprintf(out, "%s%s", sep, name);
		else
			fprintf(out, "%s%u", sep, p);
		sep = ", ";
	}
	fprintf(out, "]%s\n  tcp_states: [",
		sep[0] ? "" : "   # all");
	sep = "";
	for (size_t i = 0; i < NTCP_STATES; i++) {
		if (c->filter.tcp_states >> i & 1) {
			fprintf(out, "%s%s", sep, tcp_state_names[i]);
			sep = ", ";
		}
	}
	fprintf(out, "]%s\n  ignore: [", sep[0] ? "" : "   # all");
	for (size_t i = 0; i < c->filter.nignore && i < CONFIG_MAX_PREFIXES; i++) {
		const struct prefix *p = &c->filter.ignore[i];

		if (!inet_ntop(p->family, p->addr.b, a, sizeof(a)))
			snprintf(a, sizeof(a), "?");
		fprintf(out, "%s\"%s/%u\"", i ? ", " : "", a, p->len);
	}
	fprintf(out, "]\n  ignore_local: %s\n",
		c->filter.ignore_local ? "true" : "false");

	fprintf(out, "cache:\n  max_entries: %" PRIu32 "\n", c->cache.max_entries);

	fprintf(out, "control:\n");
	print_str(out, "socket", c->control.socket);
	print_str(out, "group", c->control.group);
	fprintf(out, "  mode: 0%03" PRIo32 "\n", c->control.mode);

	fprintf(out, "log:\n  level: %s\n  syslog: %s\n",
		c->log.verbose ? "debug" : "info", c->log.syslog ? "true" : "false");

	fprintf(out, "failover:\n  announce: [");
	for (size_t i = 0; i < c->failover.nannounce; i++) {
		const struct announce *an = &c->failover.announce[i];
		char addr[INET6_ADDRSTRLEN];

		inet_ntop(an->family, &an->addr, addr, sizeof(addr));
		fprintf(out, "%s\"%s %s\"", i ? ", " : "", an->ifname, addr);
	}
	fprintf(out, "]\n  announce_count: %" PRIu32 "\n  announce_interval_ms: %" PRIu32 "\n",
		c->failover.count, c->failover.interval_ms);
	fprintf(out, "  standby: %s\n", c->failover.standby == STANDBY_HOT ? "hot" : "cold");
}

/* ---- comparing ---------------------------------------------------------- */

#define DIFF_MAX_KEYS	64

struct flat {
	char *text;			/* config_print output, cut into lines */
	size_t n;
	struct { char key[32]; const char *val; } kv[DIFF_MAX_KEYS];
};

/*
 * c as config_print writes it, one "section.key" and value per entry:
 * comparing the printed values covers every key config_print knows,
 * written the way the operator reads them.
 */
static int flatten(const struct config *c, struct flat *f)
{
	size_t len;
	FILE *out = open_memstream(&f->text, &len);
	char section[16] = "", *line, *save = NULL;

	f->n = 0;
	if (!out)
		return -1;
	config_print(c, out);
	if (fclose(out) != 0)
		return -1;
	for (line = strtok_r(f->text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		bool indented = line[0] == ' ';
		char *name = line + (indented ? 2 : 0);
		char *colon = strchr(name, ':');
		char *val, *cmt;

		if (name[0] == '#' || !colon)
			continue;
		*colon = '\0';
		val = colon + 1;
		while (*val == ' ')
			val++;
		if (!indented && !*val) {		/* "sync:" */
			snprintf(section, sizeof(section), "%s", name);
			continue;
		}
		if (!indented)
			section[0] = '\0';
		/* config_print's only comment after a value: "[]   # all" */
		if ((cmt = strstr(val, "   # all")) && cmt[8] == '\0')
			*cmt = '\0';
		if (f->n == DIFF_MAX_KEYS)
			break;
		snprintf(f->kv[f->n].key, sizeof(f->kv[f->n].key), "%s%s%s",
			 section, section[0] ? "." : "", name);
		f->kv[f->n++].val = val;
	}
	return 0;
}

static const char *flat_get(const struct flat *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->kv[i].key, key) == 0)
			return f->kv[i].val;
	return NULL;
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

int config_diff(const struct config *a, const struct config *b,
		struct config_change *out, size_t max)
{
	struct flat *fa = calloc(1, sizeof(*fa)), *fb = calloc(1, sizeof(*fb));
	int n = -1;

	if (!fa || !fb || flatten(a, fa) < 0 || flatten(b, fb) < 0)
		goto out;
	n = 0;
	for (size_t i = 0; i < fa->n; i++) {
		const char *to = flat_get(fb, fa->kv[i].key);

		if (!to || strcmp(fa->kv[i].val, to) != 0)
			n = change(out, max, n, fa->kv[i].key, fa->kv[i].val, to);
	}
	for (size_t i = 0; i < fb->n; i++)
		if (!flat_get(fa, fb->kv[i].key))
			n = change(out, max, n, fb->kv[i].key, NULL, fb->kv[i].val);
out:
	if (fa)
		free(fa->text);
	if (fb)
		free(fb->text);
	free(fa);
	free(fb);
	return n;
}
