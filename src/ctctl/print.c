/*
 * print.c - ctctl's printer: text like iproute2/conntrack, or JSON.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "print.h"

#define TEXT_INDENT	4	/* key lines under a section name */
#define JSON_INDENT	2

void print_init(struct printer *p, FILE *f, bool json, bool pretty)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->json = json;
	p->pretty = json && pretty;
}

/* Length of the valid UTF-8 sequence at u, 0 if it is not one.  Overlong
 * forms and surrogates are invalid.  u is NUL-terminated, and NUL is
 * never a continuation byte, so this never reads past the end. */
static size_t utf8_seq(const unsigned char *u)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (u[0] == 0xe0)
		lo = 0xa0;
	else if (u[0] == 0xed)
		hi = 0x9f;
	else if (u[0] == 0xf0)
		lo = 0x90;
	else if (u[0] == 0xf4)
		hi = 0x8f;
	if (u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (u[i] < 0x80 || u[i] > 0xbf)
			return 0;
	return n;
}

static void json_string(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*u) {
		switch (*u) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (*u < 0x20) {
				fprintf(f, "\\u%04x", *u);
			} else if (*u < 0x80) {
				fputc(*u, f);
			} else if ((n = utf8_seq(u)) > 0) {
				fwrite(u, 1, n, f);
				u += n;
				continue;
			} else {
				fputs("\\ufffd", f);
			}
		}
		u++;
	}
	fputc('"', f);
}

/* A copy of s fit for a terminal: control characters become '?'. */
static char *text_clean(const char *s)
{
	char *c = strdup(s);

	if (!c)
		return NULL;
	for (unsigned char *u = (unsigned char *)c; *u; u++)
		if (*u < 0x20 || *u == 0x7f)
			*u = '?';
	return c;
}

static void indent(struct printer *p, int depth)
{
	fprintf(p->f, "\n%*s", depth * JSON_INDENT, "");
}

/* Separator, line break and member name before a value or container at
 * the current depth.  In compact mode each element of a top-level array
 * gets its own line, so a dump is one flow per line. */
static void json_item(struct printer *p, const char *key)
{
	if (p->depth > 0) {
		if (!p->first[p->depth])
			fputc(',', p->f);
		p->first[p->depth] = false;
		if (p->pretty)
			indent(p, p->depth);
		else if (p->depth == 1 && p->array[1])
			fputc('\n', p->f);
		if (!p->array[p->depth]) {
			json_string(p->f, key ? key : "");
			fputs(p->pretty ? ": " : ":", p->f);
		}
	}
}

static void json_open(struct printer *p, const char *key, bool array)
{
	if (!p->json)
		return;
	if (p->depth >= PRINT_MAX_DEPTH)
		abort();	/* a bug in ctctl, not bad input */
	json_item(p, key);
	fputc(array ? '[' : '{', p->f);
	p->depth++;
	p->first[p->depth] = true;
	p->array[p->depth] = array;
}

static void json_close(struct printer *p)
{
	bool empty, array;

	if (!p->json || p->depth == 0)
		return;
	empty = p->first[p->depth];
	array = p->array[p->depth];
	p->depth--;
	if (!empty && p->pretty)
		indent(p, p->depth);
	else if (!empty && p->depth == 0 && array)
		fputc('\n', p->f);
	fputc(array ? ']' : '}', p->f);
	if (p->depth == 0)
		fputc('\n', p->f);
}

void print_open_object(struct printer *p, const char *key)
{
	json_open(p, key, false);
}

void print_close_object(struct printer *p)
{
	json_close(p);
}

void print_open_array(struct printer *p, const char *key)
{
	json_open(p, key, true);
}

void print_close_array(struct printer *p)
{
	json_close(p);
}

void print_end(struct printer *p)
{
	while (p->json && p->depth > 0)
		json_close(p);
}

/* The only places that use a caller's format (see print.h). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void text_u64(struct printer *p, const char *fmt, uint64_t v)
{
	fprintf(p->f, fmt, v);
}

static void text_str(struct printer *p, const char *fmt, const char *s)
{
	fprintf(p->f, fmt, s);
}
#pragma GCC diagnostic pop

void print_u64(struct printer *p, enum print_type t, const char *key,
	       const char *fmt, uint64_t v)
{
	if (p->json) {
		if (t & PRINT_JSON) {
			json_item(p, key);
			fprintf(p->f, "%" PRIu64, v);
		}
	} else if ((t & PRINT_TEXT) && fmt) {
		text_u64(p, fmt, v);
	}
}

void print_str(struct printer *p, enum print_type t, const char *key,
	       const char *fmt, const char *s)
{
	char *c;

	if (p->json) {
		if (t & PRINT_JSON) {
			json_item(p, key);
			json_string(p->f, s);
		}
	} else if ((t & PRINT_TEXT) && fmt) {
		c = text_clean(s);
		text_str(p, fmt, c ? c : "?");
		free(c);
	}
}

void print_text(struct printer *p, const char *fmt, ...)
{
	va_list ap;

	if (p->json)
		return;
	va_start(ap, fmt);
	vfprintf(p->f, fmt, ap);
	va_end(ap);
}

int kv_list_add(struct kv_list *l, const char *section, const char *key,
		const char *str, uint64_t u64)
{
	struct kv_item it = { .u64 = u64 }, *v;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;

		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	it.section = strdup(section);
	it.key = strdup(key);
	it.str = str ? strdup(str) : NULL;
	if (!it.section || !it.key || (str && !it.str)) {
		free(it.section);
		free(it.key);
		free(it.str);
		return -1;
	}
	l->v[l->n++] = it;
	return 0;
}

void kv_list_free(struct kv_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].section);
		free(l->v[i].key);
		free(l->v[i].str);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool same_section(const struct kv_list *l, size_t i, size_t j)
{
	return strcmp(l->v[i].section, l->v[j].section) == 0;
}

/* Is item i the first of its section?  Sections print in the order they
 * first appear; O(n^2), and n is a few hundred at most. */
static bool section_start(const struct kv_list *l, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (same_section(l, i, j))
			return false;
	return true;
}

static bool is_peer(const char *section)
{
	return strncmp(section, "peer ", 5) == 0;
}

static void print_value(struct printer *p, const struct kv_item *it)
{
	if (it->str)
		print_str(p, PRINT_ANY, it->key, "%s\n", it->str);
	else
		print_u64(p, PRINT_ANY, it->key, "%" PRIu64 "\n", it->u64);
}

static void text_section(struct printer *p, const struct kv_list *l, size_t i)
{
	size_t w = 0;
	char *c;

	print_str(p, PRINT_TEXT, NULL, "%s\n", l->v[i].section);
	for (size_t j = i; j < l->n; j++)
		if (same_section(l, i, j) && strlen(l->v[j].key) > w)
			w = strlen(l->v[j].key);
	for (size_t j = i; j < l->n; j++) {
		if (!same_section(l, i, j))
			continue;
		c = text_clean(l->v[j].key);
		print_text(p, "%*s%-*s ", TEXT_INDENT, "", (int)w, c ? c : "?");
		free(c);
		print_value(p, &l->v[j]);
	}
}

static void json_section(struct printer *p, const struct kv_list *l, size_t i,
			 bool peer)
{
	bool named = false;

	print_open_object(p, peer ? NULL : l->v[i].section);
	for (size_t j = i; j < l->n; j++)
		if (same_section(l, i, j) && strcmp(l->v[j].key, "name") == 0)
			named = true;
	if (peer && !named)
		print_str(p, PRINT_JSON, "name", NULL, l->v[i].section + 5);
	for (size_t j = i; j < l->n; j++)
		if (same_section(l, i, j))
			print_value(p, &l->v[j]);
	print_close_object(p);
}

void print_kv_list(struct printer *p, const struct kv_list *l, const char *msg)
{
	bool peers_done = false;

	if (!p->json) {
		for (size_t i = 0; i < l->n; i++)
			if (section_start(l, i))
				text_section(p, l, i);
		if (msg && *msg)
			print_str(p, PRINT_TEXT, NULL, "%s\n", msg);
		return;
	}

	print_open_object(p, NULL);
	for (size_t i = 0; i < l->n; i++) {
		if (!section_start(l, i))
			continue;
		if (!is_peer(l->v[i].section)) {
			json_section(p, l, i, false);
			continue;
		}
		if (peers_done)
			continue;
		/* All peers go together, where the first one appeared. */
		print_open_array(p, "peers");
		for (size_t j = i; j < l->n; j++)
			if (section_start(l, j) && is_peer(l->v[j].section))
				json_section(p, l, j, true);
		print_close_array(p);
		peers_done = true;
	}
	if (msg && *msg)
		print_str(p, PRINT_JSON, "message", NULL, msg);
	print_close_object(p);
}

static bool is_icmp(uint8_t l4proto)
{
	return l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6;
}

static bool has_ports(uint8_t l4proto)
{
	switch (l4proto) {
	case IPPROTO_TCP: case IPPROTO_UDP: case IPPROTO_UDPLITE:
	case IPPROTO_SCTP: case IPPROTO_DCCP:
		return true;
	default:
		return false;
	}
}

/* One direction: "src=.. dst=.. sport=.. dport=.. " (ICMP: type, code,
 * id); JSON keys get the prefix ("reply_"). */
static void print_tuple(struct printer *p, const struct flow_key *k,
			const struct flow_tuple *t, const char *pfx)
{
	int af = k->family == AF_INET6 ? AF_INET6 : AF_INET;
	char addr[INET6_ADDRSTRLEN], key[32];

	inet_ntop(af, &t->src, addr, sizeof(addr));
	snprintf(key, sizeof(key), "%ssrc", pfx);
	print_str(p, PRINT_ANY, key, "src=%s ", addr);
	inet_ntop(af, &t->dst, addr, sizeof(addr));
	snprintf(key, sizeof(key), "%sdst", pfx);
	print_str(p, PRINT_ANY, key, "dst=%s ", addr);
	if (is_icmp(k->l4proto)) {
		snprintf(key, sizeof(key), "%stype", pfx);
		print_u64(p, PRINT_ANY, key, "type=%" PRIu64 " ", t->dport >> 8);
		snprintf(key, sizeof(key), "%scode", pfx);
		print_u64(p, PRINT_ANY, key, "code=%" PRIu64 " ", t->dport & 0xff);
		snprintf(key, sizeof(key), "%sid", pfx);
		print_u64(p, PRINT_ANY, key, "id=%" PRIu64 " ", t->sport);
		return;
	}
	/* JSON always has the two numbers; text shows them as conntrack
	 * does: ports, GRE keys, or nothing for other protocols. */
	snprintf(key, sizeof(key), "%ssport", pfx);
	print_u64(p, PRINT_JSON, key, NULL, t->sport);
	if (has_ports(k->l4proto))
		print_u64(p, PRINT_TEXT, NULL, "sport=%" PRIu64 " ", t->sport);
	else if (k->l4proto == IPPROTO_GRE)
		print_u64(p, PRINT_TEXT, NULL, "srckey=0x%" PRIx64 " ", t->sport);
	snprintf(key, sizeof(key), "%sdport", pfx);
	print_u64(p, PRINT_JSON, key, NULL, t->dport);
	if (has_ports(k->l4proto))
		print_u64(p, PRINT_TEXT, NULL, "dport=%" PRIu64 " ", t->dport);
	else if (k->l4proto == IPPROTO_GRE)
		print_u64(p, PRINT_TEXT, NULL, "dstkey=0x%" PRIx64 " ", t->dport);
}

/* TCP state by name; other stateful protocols (SCTP, DCCP, GRE) by
 * number; nothing for protocols conntrack keeps no state for. */
static void print_state(struct printer *p, const struct flow *f)
{
	uint8_t proto = f->key.l4proto;
	const char *name;

	if (!(f->flags & FLOW_F_PROTO) || is_icmp(proto) ||
	    proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE)
		return;
	if (proto == IPPROTO_TCP && (name = flow_tcp_state_name(f->proto_state)))
		print_str(p, PRINT_ANY, "state", "%s ", name);
	else
		print_u64(p, PRINT_ANY, "state", "%" PRIu64 " ", f->proto_state);
}

void print_flow(struct printer *p, uint32_t origin, const struct flow *f)
{
	const struct flow_key *k = &f->key;
	const struct flow_ext *x = f->ext;
	const char *pname = flow_proto_name(k->l4proto);
	char pnum[4], labels[2 + 32 + 1], helper[FLOW_HELPER_MAX];

	if (!pname) {
		snprintf(pnum, sizeof(pnum), "%u", k->l4proto);
		pname = pnum;
	}
	print_open_object(p, NULL);
	print_u64(p, PRINT_JSON, "origin", NULL, origin);
	print_str(p, PRINT_JSON, "family", NULL,
		  k->family == AF_INET6 ? "ipv6" : "ipv4");
	/* Unknown protocols: "unknown" like conntrack, the number in JSON. */
	print_str(p, PRINT_JSON, "proto", NULL, pname);
	print_str(p, PRINT_TEXT, NULL, "%-8s ", pname == pnum ? "unknown" : pname);
	print_u64(p, PRINT_ANY, "protonum", "%" PRIu64 " ", k->l4proto);
	print_u64(p, PRINT_ANY, "timeout", "%" PRIu64 " ", f->timeout);
	print_state(p, f);
	print_tuple(p, k, &k->orig, "");
	if (!(f->status & IPS_SEEN_REPLY))
		print_text(p, "[UNREPLIED] ");
	print_tuple(p, k, &f->reply, "reply_");
	if (f->status & IPS_ASSURED)
		print_text(p, "[ASSURED] ");
	print_u64(p, PRINT_JSON, "status", NULL, f->status);
	print_u64(p, PRINT_ANY, "mark", "mark=%" PRIu64 " ", f->mark);
	print_u64(p, PRINT_ANY, "zone", "zone=%" PRIu64, k->zone);
	if (x && (x->has & FLOW_EXT_LABELS)) {
		/* One 128-bit number, connlabel bit 0 its lowest bit. */
		snprintf(labels, sizeof(labels), "0x%08" PRIx32 "%08" PRIx32
			 "%08" PRIx32 "%08" PRIx32, x->labels[3], x->labels[2],
			 x->labels[1], x->labels[0]);
		print_str(p, PRINT_ANY, "labels", " labels=%s", labels);
	}
	if (x && (x->has & FLOW_EXT_HELPER) && x->helper[0]) {
		memcpy(helper, x->helper, sizeof(helper) - 1);
		helper[sizeof(helper) - 1] = '\0';
		print_str(p, PRINT_ANY, "helper", " helper=%s", helper);
	}
	print_text(p, "\n");
	print_close_object(p);
}
