/*
 * ctconv.c - ctnetlink conntrack messages <-> struct flow.
 *
 * This is the hot path of the event socket (hundreds of thousands of
 * messages a second), so attributes are read straight out of the netlink
 * buffer with libmnl's primitives into small per-level tables, and nothing
 * is allocated unless the entry carries optional state (struct flow_ext).
 *
 * A ctnetlink conntrack message, as the kernel sends it and as we send it
 * back on commit:
 *
 *   nlmsghdr | nfgenmsg (family) | attributes
 *     CTA_TUPLE_ORIG  { CTA_TUPLE_IP { CTA_IP_V4_SRC|V6_SRC, ..._DST },
 *                       CTA_TUPLE_PROTO { NUM, SRC_PORT, DST_PORT
 *                                         | ICMP(V6)_ID, _TYPE, _CODE } }
 *     CTA_TUPLE_REPLY { same }
 *     CTA_STATUS, CTA_TIMEOUT, CTA_MARK (be32), CTA_ZONE (be16)
 *     CTA_PROTOINFO   { CTA_PROTOINFO_TCP|SCTP|DCCP { STATE, ... } }
 *     CTA_LABELS (128 bits), CTA_SEQ_ADJ_ORIG/REPLY { POS, BEFORE, AFTER }
 *     CTA_HELP        { CTA_HELP_NAME }
 *     (create only) CTA_NAT_SRC/CTA_NAT_DST { MINIP, MAXIP,
 *                                  CTA_NAT_PROTO { PORT_MIN, PORT_MAX } }
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "ctconv.h"

/*
 * Attribute policy: what payload each attribute we read must have.
 * Attributes we do not read (counters, ids, timestamps, secctx, newer
 * additions) are skipped without looking at them: strict checking of
 * attributes we do not use would only break on the next kernel.
 */
enum pol_kind {
	P_SKIP = 0,
	P_FIXED,	/* payload exactly .len bytes */
	P_NEST,		/* nested attributes */
	P_STRZ,		/* NUL-terminated string of at most .len bytes */
	P_WORDS,	/* 4..len bytes in whole 32-bit words */
};

struct attr_pol {
	uint8_t kind;
	uint8_t len;
};

#define U8	{ P_FIXED, 1 }
#define U16	{ P_FIXED, 2 }
#define U32	{ P_FIXED, 4 }
#define NEST	{ P_NEST, 0 }

static const struct attr_pol ct_pol[CTA_MAX + 1] = {
	[CTA_TUPLE_ORIG]	= NEST,
	[CTA_TUPLE_REPLY]	= NEST,
	[CTA_STATUS]		= U32,
	[CTA_PROTOINFO]		= NEST,
	[CTA_HELP]		= NEST,
	[CTA_TIMEOUT]		= U32,
	[CTA_MARK]		= U32,
	[CTA_SEQ_ADJ_ORIG]	= NEST,
	[CTA_SEQ_ADJ_REPLY]	= NEST,
	[CTA_ZONE]		= U16,
	[CTA_LABELS]		= { P_WORDS, 16 },
};

static const struct attr_pol tuple_pol[CTA_TUPLE_MAX + 1] = {
	[CTA_TUPLE_IP]		= NEST,
	[CTA_TUPLE_PROTO]	= NEST,
};

static const struct attr_pol ip_pol[CTA_IP_MAX + 1] = {
	[CTA_IP_V4_SRC]		= U32,
	[CTA_IP_V4_DST]		= U32,
	[CTA_IP_V6_SRC]		= { P_FIXED, 16 },
	[CTA_IP_V6_DST]		= { P_FIXED, 16 },
};

static const struct attr_pol proto_pol[CTA_PROTO_MAX + 1] = {
	[CTA_PROTO_NUM]		= U8,
	[CTA_PROTO_SRC_PORT]	= U16,
	[CTA_PROTO_DST_PORT]	= U16,
	[CTA_PROTO_ICMP_ID]	= U16,
	[CTA_PROTO_ICMP_TYPE]	= U8,
	[CTA_PROTO_ICMP_CODE]	= U8,
	[CTA_PROTO_ICMPV6_ID]	= U16,
	[CTA_PROTO_ICMPV6_TYPE]	= U8,
	[CTA_PROTO_ICMPV6_CODE]	= U8,
};

static const struct attr_pol protoinfo_pol[CTA_PROTOINFO_MAX + 1] = {
	[CTA_PROTOINFO_TCP]	= NEST,
	[CTA_PROTOINFO_DCCP]	= NEST,
	[CTA_PROTOINFO_SCTP]	= NEST,
};

static const struct attr_pol tcp_pol[CTA_PROTOINFO_TCP_MAX + 1] = {
	[CTA_PROTOINFO_TCP_STATE]		= U8,
	[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL]	= U8,
	[CTA_PROTOINFO_TCP_WSCALE_REPLY]	= U8,
	[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL]	=
		{ P_FIXED, sizeof(struct nf_ct_tcp_flags) },
	[CTA_PROTOINFO_TCP_FLAGS_REPLY]		=
		{ P_FIXED, sizeof(struct nf_ct_tcp_flags) },
};

static const struct attr_pol dccp_pol[CTA_PROTOINFO_DCCP_MAX + 1] = {
	[CTA_PROTOINFO_DCCP_STATE]	= U8,
	[CTA_PROTOINFO_DCCP_ROLE]	= U8,
};

static const struct attr_pol sctp_pol[CTA_PROTOINFO_SCTP_MAX + 1] = {
	[CTA_PROTOINFO_SCTP_STATE]		= U8,
	[CTA_PROTOINFO_SCTP_VTAG_ORIGINAL]	= U32,
	[CTA_PROTOINFO_SCTP_VTAG_REPLY]		= U32,
};

static const struct attr_pol seqadj_pol[CTA_SEQADJ_MAX + 1] = {
	[CTA_SEQADJ_CORRECTION_POS]	= U32,
	[CTA_SEQADJ_OFFSET_BEFORE]	= U32,
	[CTA_SEQADJ_OFFSET_AFTER]	= U32,
};

static const struct attr_pol help_pol[CTA_HELP_MAX + 1] = {
	[CTA_HELP_NAME]		= { P_STRZ, FLOW_HELPER_MAX },
};

#undef U8
#undef U16
#undef U32
#undef NEST

/*
 * Attribute accessors, inlined: the parser is the event hot path and
 * these are one load each (libmnl's are calls into the shared library).
 * Only valid on attributes attr_table() has length-checked.
 */
static inline uint16_t a_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

static inline uint16_t a_len(const struct nlattr *a)
{
	return (uint16_t)(a->nla_len - MNL_ATTR_HDRLEN);
}

static inline const void *a_data(const struct nlattr *a)
{
	return (const char *)a + MNL_ATTR_HDRLEN;
}

static inline uint8_t a_u8(const struct nlattr *a)
{
	return *(const uint8_t *)a_data(a);
}

static inline uint16_t get_be16(const struct nlattr *a)
{
	uint16_t v;

	memcpy(&v, a_data(a), sizeof(v));
	return ntohs(v);
}

static inline uint32_t get_be32(const struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, a_data(a), sizeof(v));
	return ntohl(v);
}

/*
 * Index the attributes in data[0..len) into tb[0..max] by type (the last
 * of duplicates wins).  Every attribute the policy knows is length-checked
 * before it is stored; bytes left over that do not form a whole attribute
 * mean the message was truncated.  (mnl_attr_parse() stops silently at
 * such bytes, which is why the walk is written out here.)
 * Returns 0, or -1 if anything is malformed.
 */
static int attr_table(const void *data, size_t len,
		      const struct attr_pol *pol, unsigned max,
		      const struct nlattr **tb)
{
	const char *p = data;
	size_t rem = len;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	/* the same test as mnl_attr_ok(): a header, and a length that
	 * covers it and stays inside what is left */
	while (rem >= MNL_ATTR_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)p;
		uint16_t type, plen;
		size_t step;

		if (a->nla_len < MNL_ATTR_HDRLEN || a->nla_len > rem)
			return -1;
		step = MNL_ALIGN(a->nla_len);
		if (step < rem) {
			p += step;
			rem -= step;
		} else {
			rem = 0;	/* last one, padding may be cut */
		}

		type = a_type(a);
		if (type > max || pol[type].kind == P_SKIP)
			continue;
		plen = a_len(a);
		switch (pol[type].kind) {
		case P_FIXED:
			if (plen != pol[type].len)
				return -1;
			break;
		case P_NEST:
			break;
		case P_STRZ:
			if (plen == 0 || plen > pol[type].len ||
			    ((const char *)a_data(a))[plen - 1])
				return -1;
			break;
		case P_WORDS:
			if (plen == 0 || plen > pol[type].len || plen % 4)
				return -1;
			break;
		}
		tb[type] = a;
	}
	return rem > 0 ? -1 : 0;
}

static int nest_table(const struct nlattr *nest, const struct attr_pol *pol,
		      unsigned max, const struct nlattr **tb)
{
	return attr_table(a_data(nest), a_len(nest), pol, max, tb);
}

static bool has_ports(uint8_t l4proto)
{
	switch (l4proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		return true;
	default:
		return false;
	}
}

static int parse_tuple(const struct nlattr *nest, uint8_t family,
		       struct flow_tuple *t, uint8_t *l4proto)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1];
	const struct nlattr *ip[CTA_IP_MAX + 1];
	const struct nlattr *pr[CTA_PROTO_MAX + 1];
	uint8_t p;

	if (nest_table(nest, tuple_pol, CTA_TUPLE_MAX, tb) < 0 ||
	    !tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO] ||
	    nest_table(tb[CTA_TUPLE_IP], ip_pol, CTA_IP_MAX, ip) < 0 ||
	    nest_table(tb[CTA_TUPLE_PROTO], proto_pol, CTA_PROTO_MAX, pr) < 0)
		return -1;

	memset(t, 0, sizeof(*t));
	if (family == AF_INET) {
		if (!ip[CTA_IP_V4_SRC] || !ip[CTA_IP_V4_DST])
			return -1;
		memcpy(&t->src.v4, a_data(ip[CTA_IP_V4_SRC]), 4);
		memcpy(&t->dst.v4, a_data(ip[CTA_IP_V4_DST]), 4);
	} else {
		if (!ip[CTA_IP_V6_SRC] || !ip[CTA_IP_V6_DST])
			return -1;
		memcpy(t->src.b, a_data(ip[CTA_IP_V6_SRC]), 16);
		memcpy(t->dst.b, a_data(ip[CTA_IP_V6_DST]), 16);
	}

	if (!pr[CTA_PROTO_NUM])
		return -1;
	*l4proto = p = a_u8(pr[CTA_PROTO_NUM]);
	if (has_ports(p) || p == IPPROTO_GRE) {
		/* GRE keys come as ports when the GRE tracker is loaded */
		if (!pr[CTA_PROTO_SRC_PORT] || !pr[CTA_PROTO_DST_PORT])
			return p == IPPROTO_GRE ? 0 : -1;
		t->sport = get_be16(pr[CTA_PROTO_SRC_PORT]);
		t->dport = get_be16(pr[CTA_PROTO_DST_PORT]);
	} else if (p == IPPROTO_ICMP) {
		if (!pr[CTA_PROTO_ICMP_ID] || !pr[CTA_PROTO_ICMP_TYPE] ||
		    !pr[CTA_PROTO_ICMP_CODE])
			return -1;
		t->sport = get_be16(pr[CTA_PROTO_ICMP_ID]);
		t->dport = (uint16_t)(a_u8(pr[CTA_PROTO_ICMP_TYPE]) << 8 |
				      a_u8(pr[CTA_PROTO_ICMP_CODE]));
	} else if (p == IPPROTO_ICMPV6) {
		if (!pr[CTA_PROTO_ICMPV6_ID] || !pr[CTA_PROTO_ICMPV6_TYPE] ||
		    !pr[CTA_PROTO_ICMPV6_CODE])
			return -1;
		t->sport = get_be16(pr[CTA_PROTO_ICMPV6_ID]);
		t->dport = (uint16_t)(a_u8(pr[CTA_PROTO_ICMPV6_TYPE]) << 8 |
				      a_u8(pr[CTA_PROTO_ICMPV6_CODE]));
	}
	return 0;
}

static int parse_protoinfo(const struct nlattr *nest, struct flow *f,
			   struct flow_ext *ext)
{
	const struct nlattr *pi[CTA_PROTOINFO_MAX + 1];
	const struct nlattr *tb[CTA_PROTOINFO_TCP_MAX + 1];	/* largest */
	const struct nf_ct_tcp_flags *fl;

	if (nest_table(nest, protoinfo_pol, CTA_PROTOINFO_MAX, pi) < 0)
		return -1;

	if (pi[CTA_PROTOINFO_TCP]) {
		if (nest_table(pi[CTA_PROTOINFO_TCP], tcp_pol,
			       CTA_PROTOINFO_TCP_MAX, tb) < 0)
			return -1;
		if (!tb[CTA_PROTOINFO_TCP_STATE])
			return 0;
		f->flags |= FLOW_F_PROTO;
		f->proto_state = a_u8(tb[CTA_PROTOINFO_TCP_STATE]);
		if (tb[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL])
			f->wscale[0] = a_u8(tb[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL]);
		if (tb[CTA_PROTOINFO_TCP_WSCALE_REPLY])
			f->wscale[1] = a_u8(tb[CTA_PROTOINFO_TCP_WSCALE_REPLY]);
		if (tb[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL]) {
			fl = a_data(tb[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL]);
			f->tcpflags[0] = fl->flags;
		}
		if (tb[CTA_PROTOINFO_TCP_FLAGS_REPLY]) {
			fl = a_data(tb[CTA_PROTOINFO_TCP_FLAGS_REPLY]);
			f->tcpflags[1] = fl->flags;
		}
	} else if (pi[CTA_PROTOINFO_SCTP]) {
		if (nest_table(pi[CTA_PROTOINFO_SCTP], sctp_pol,
			       CTA_PROTOINFO_SCTP_MAX, tb) < 0)
			return -1;
		if (tb[CTA_PROTOINFO_SCTP_STATE]) {
			f->flags |= FLOW_F_PROTO;
			f->proto_state = a_u8(tb[CTA_PROTOINFO_SCTP_STATE]);
		}
		if (tb[CTA_PROTOINFO_SCTP_VTAG_ORIGINAL] &&
		    tb[CTA_PROTOINFO_SCTP_VTAG_REPLY]) {
			ext->has |= FLOW_EXT_SCTP;
			ext->sctp_vtag[0] = get_be32(tb[CTA_PROTOINFO_SCTP_VTAG_ORIGINAL]);
			ext->sctp_vtag[1] = get_be32(tb[CTA_PROTOINFO_SCTP_VTAG_REPLY]);
		}
	} else if (pi[CTA_PROTOINFO_DCCP]) {
		if (nest_table(pi[CTA_PROTOINFO_DCCP], dccp_pol,
			       CTA_PROTOINFO_DCCP_MAX, tb) < 0)
			return -1;
		if (tb[CTA_PROTOINFO_DCCP_STATE]) {
			f->flags |= FLOW_F_PROTO;
			f->proto_state = a_u8(tb[CTA_PROTOINFO_DCCP_STATE]);
			if (tb[CTA_PROTOINFO_DCCP_ROLE])
				f->tcpflags[0] = a_u8(tb[CTA_PROTOINFO_DCCP_ROLE]);
		}
	}
	return 0;
}

static int parse_seqadj(const struct nlattr *nest, struct flow_seqadj *s)
{
	const struct nlattr *tb[CTA_SEQADJ_MAX + 1];

	if (nest_table(nest, seqadj_pol, CTA_SEQADJ_MAX, tb) < 0)
		return -1;
	if (tb[CTA_SEQADJ_CORRECTION_POS])
		s->correction_pos = get_be32(tb[CTA_SEQADJ_CORRECTION_POS]);
	if (tb[CTA_SEQADJ_OFFSET_BEFORE])
		s->offset_before = get_be32(tb[CTA_SEQADJ_OFFSET_BEFORE]);
	if (tb[CTA_SEQADJ_OFFSET_AFTER])
		s->offset_after = get_be32(tb[CTA_SEQADJ_OFFSET_AFTER]);
	return 0;
}

/*
 * f is output only: it is overwritten, and a previous f->ext is neither
 * reused nor freed.  The optional state is gathered on the stack and
 * copied to the heap only when there is some, so the common entry costs
 * no allocation.  On -1, f->ext is NULL.
 */
int ctconv_parse(const struct nlmsghdr *nlh, struct flow *f)
{
	const struct nlattr *tb[CTA_MAX + 1];
	const struct nfgenmsg *nfg;
	struct flow_ext ext;
	uint8_t reply_l4 = 0;
	uint16_t type;

	memset(f, 0, sizeof(*f));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*nfg)))
		return -1;
	type = nlh->nlmsg_type;
	if (type >> 8 != NFNL_SUBSYS_CTNETLINK ||
	    ((type & 0xff) != IPCTNL_MSG_CT_NEW &&
	     (type & 0xff) != IPCTNL_MSG_CT_DELETE))
		return -1;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6)
		return -1;
	if (attr_table(mnl_nlmsg_get_payload_offset(nlh, sizeof(*nfg)),
		       nlh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(*nfg)),
		       ct_pol, CTA_MAX, tb) < 0 || !tb[CTA_TUPLE_ORIG])
		return -1;

	f->key.family = nfg->nfgen_family;
	if (parse_tuple(tb[CTA_TUPLE_ORIG], f->key.family, &f->key.orig,
			&f->key.l4proto) < 0)
		return -1;
	if (tb[CTA_TUPLE_REPLY]) {
		if (parse_tuple(tb[CTA_TUPLE_REPLY], f->key.family, &f->reply,
				&reply_l4) < 0 || reply_l4 != f->key.l4proto)
			return -1;
	} else {
		flow_tuple_invert(&f->key, &f->reply);
	}
	if (tb[CTA_ZONE])
		f->key.zone = get_be16(tb[CTA_ZONE]);
	if (tb[CTA_STATUS])
		f->status = get_be32(tb[CTA_STATUS]);
	if (tb[CTA_TIMEOUT]) {
		f->timeout = get_be32(tb[CTA_TIMEOUT]);
		f->flags |= FLOW_F_TIMEOUT;
	}
	if (tb[CTA_MARK]) {
		f->mark = get_be32(tb[CTA_MARK]);
		f->flags |= FLOW_F_MARK;
	}

	memset(&ext, 0, sizeof(ext));
	if (tb[CTA_PROTOINFO] && parse_protoinfo(tb[CTA_PROTOINFO], f, &ext) < 0)
		return -1;
	if (tb[CTA_LABELS]) {
		memcpy(ext.labels, a_data(tb[CTA_LABELS]),
		       a_len(tb[CTA_LABELS]));
		if (ext.labels[0] | ext.labels[1] | ext.labels[2] | ext.labels[3])
			ext.has |= FLOW_EXT_LABELS;
	}
	if (tb[CTA_SEQ_ADJ_ORIG] || tb[CTA_SEQ_ADJ_REPLY]) {
		if ((tb[CTA_SEQ_ADJ_ORIG] &&
		     parse_seqadj(tb[CTA_SEQ_ADJ_ORIG], &ext.seqadj[0]) < 0) ||
		    (tb[CTA_SEQ_ADJ_REPLY] &&
		     parse_seqadj(tb[CTA_SEQ_ADJ_REPLY], &ext.seqadj[1]) < 0))
			return -1;
		ext.has |= FLOW_EXT_SEQADJ;
	}
	if (tb[CTA_HELP]) {
		const struct nlattr *h[CTA_HELP_MAX + 1];

		if (nest_table(tb[CTA_HELP], help_pol, CTA_HELP_MAX, h) < 0)
			return -1;
		/* policy: NUL-terminated, fits in ext.helper */
		if (h[CTA_HELP_NAME] && *(const char *)a_data(h[CTA_HELP_NAME])) {
			strcpy(ext.helper, a_data(h[CTA_HELP_NAME]));
			ext.has |= FLOW_EXT_HELPER;
		}
	}
	if (ext.has) {
		if (!(f->ext = malloc(sizeof(*f->ext))))
			return -1;
		*f->ext = ext;
	}
	return 0;
}

/*
 * Building.  Every put checks the room left against len and the first
 * failure sticks (encoders accumulate errors, one check at the end).
 */
struct nlb {
	struct nlmsghdr *nlh;
	size_t len;
	bool ok;
};

static void put(struct nlb *b, uint16_t type, size_t len, const void *data)
{
	size_t pad = MNL_ALIGN(len) - len;

	if (!b->ok)
		return;
	b->ok = mnl_attr_put_check(b->nlh, b->len, type, len, data);
	/* libmnl 1.0.4 leaves the alignment padding unwritten: bytes of
	 * whatever the buffer held would go to the kernel. */
	if (b->ok && pad)
		memset((char *)mnl_nlmsg_get_payload_tail(b->nlh) - pad, 0, pad);
}

static void put_u8(struct nlb *b, uint16_t type, uint8_t v)
{
	put(b, type, sizeof(v), &v);
}

static void put_be16(struct nlb *b, uint16_t type, uint16_t v)
{
	v = htons(v);
	put(b, type, sizeof(v), &v);
}

static void put_be32(struct nlb *b, uint16_t type, uint32_t v)
{
	v = htonl(v);
	put(b, type, sizeof(v), &v);
}

static struct nlattr *nest_start(struct nlb *b, uint16_t type)
{
	struct nlattr *n = NULL;

	if (b->ok && !(n = mnl_attr_nest_start_check(b->nlh, b->len, type)))
		b->ok = false;
	return n;
}

static void nest_end(struct nlb *b, struct nlattr *n)
{
	if (b->ok)
		mnl_attr_nest_end(b->nlh, n);
}

static void put_tuple(struct nlb *b, uint16_t type, const struct flow_key *k,
		      const struct flow_tuple *t)
{
	struct nlattr *tn, *n;

	tn = nest_start(b, type);
	n = nest_start(b, CTA_TUPLE_IP);
	if (k->family == AF_INET) {
		put(b, CTA_IP_V4_SRC, 4, &t->src.v4);
		put(b, CTA_IP_V4_DST, 4, &t->dst.v4);
	} else {
		put(b, CTA_IP_V6_SRC, 16, t->src.b);
		put(b, CTA_IP_V6_DST, 16, t->dst.b);
	}
	nest_end(b, n);
	n = nest_start(b, CTA_TUPLE_PROTO);
	put_u8(b, CTA_PROTO_NUM, k->l4proto);
	if (has_ports(k->l4proto) || k->l4proto == IPPROTO_GRE) {
		put_be16(b, CTA_PROTO_SRC_PORT, t->sport);
		put_be16(b, CTA_PROTO_DST_PORT, t->dport);
	} else if (k->l4proto == IPPROTO_ICMP) {
		put_be16(b, CTA_PROTO_ICMP_ID, t->sport);
		put_u8(b, CTA_PROTO_ICMP_TYPE, t->dport >> 8);
		put_u8(b, CTA_PROTO_ICMP_CODE, t->dport & 0xff);
	} else if (k->l4proto == IPPROTO_ICMPV6) {
		put_be16(b, CTA_PROTO_ICMPV6_ID, t->sport);
		put_u8(b, CTA_PROTO_ICMPV6_TYPE, t->dport >> 8);
		put_u8(b, CTA_PROTO_ICMPV6_CODE, t->dport & 0xff);
	}
	nest_end(b, n);
	nest_end(b, tn);
}

/*
 * NAT is re-established the way the kernel set it up: a one-address,
 * one-port range equal to what the reply tuple shows.  SNAT maps the
 * original source to the reply's destination, DNAT the original
 * destination to the reply's source.  The kernel applies the ranges to
 * the reply tuple it is given, so that must be the un-NATed one (the
 * inverse of the original): given the translated reply, it finds nothing
 * left to translate, sets no NAT bit, and the replica shows the right
 * tuples but never rewrites a packet.  The NAT status bits cannot be set
 * directly.  Each manip type not given is initialised to a null binding.
 * ICMP: the NAT "port" is the echo id, which sits in sport both ways.
 */
static void put_nat(struct nlb *b, uint16_t type, const struct flow *f,
		    const union flow_addr *addr, uint16_t port)
{
	struct nlattr *nn, *pn;

	nn = nest_start(b, type);
	if (f->key.family == AF_INET) {
		put(b, CTA_NAT_V4_MINIP, 4, &addr->v4);
		put(b, CTA_NAT_V4_MAXIP, 4, &addr->v4);
	} else {
		put(b, CTA_NAT_V6_MINIP, 16, addr->b);
		put(b, CTA_NAT_V6_MAXIP, 16, addr->b);
	}
	if (has_ports(f->key.l4proto) || f->key.l4proto == IPPROTO_ICMP ||
	    f->key.l4proto == IPPROTO_ICMPV6) {
		pn = nest_start(b, CTA_NAT_PROTO);
		put_be16(b, CTA_PROTONAT_PORT_MIN, port);
		put_be16(b, CTA_PROTONAT_PORT_MAX, port);
		nest_end(b, pn);
	}
	nest_end(b, nn);
}

static void put_seqadj(struct nlb *b, uint16_t type,
		       const struct flow_seqadj *s)
{
	struct nlattr *n = nest_start(b, type);

	put_be32(b, CTA_SEQADJ_CORRECTION_POS, s->correction_pos);
	put_be32(b, CTA_SEQADJ_OFFSET_BEFORE, s->offset_before);
	put_be32(b, CTA_SEQADJ_OFFSET_AFTER, s->offset_after);
	nest_end(b, n);
}

/*
 * TCP flags a replica can honour.  The others describe window-tracking
 * state a replica starts without (td_maxack, unacknowledged data, a
 * pending challenge ACK): copying MAXACK_SET with td_maxack 0 would make
 * the kernel reject valid RSTs.
 */
#define TCP_FLAGS_COPIED (IP_CT_TCP_FLAG_WINDOW_SCALE | IP_CT_TCP_FLAG_SACK_PERM | \
			  IP_CT_TCP_FLAG_CLOSE_INIT | IP_CT_TCP_FLAG_BE_LIBERAL)

static void put_protoinfo(struct nlb *b, const struct flow *f)
{
	struct nlattr *pn, *n;
	struct nf_ct_tcp_flags fl;
	const struct flow_ext *x = f->ext;

	switch (f->key.l4proto) {
	case IPPROTO_TCP:
		pn = nest_start(b, CTA_PROTOINFO);
		n = nest_start(b, CTA_PROTOINFO_TCP);
		put_u8(b, CTA_PROTOINFO_TCP_STATE, f->proto_state);
		/*
		 * The replica starts with empty windows and picks the
		 * sequence numbers up from the next packets, like a
		 * connection picked up mid-stream.  Packets that were in
		 * flight across a failover (retransmissions, ACKs for data
		 * the new master never saw) fail strict window checks, so
		 * window checking is liberal for replicas, as the kernel
		 * does itself for mid-stream pick-ups.
		 */
		fl.mask = TCP_FLAGS_COPIED;
		fl.flags = (f->tcpflags[0] & TCP_FLAGS_COPIED) |
			   IP_CT_TCP_FLAG_BE_LIBERAL;
		put(b, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, sizeof(fl), &fl);
		fl.flags = (f->tcpflags[1] & TCP_FLAGS_COPIED) |
			   IP_CT_TCP_FLAG_BE_LIBERAL;
		put(b, CTA_PROTOINFO_TCP_FLAGS_REPLY, sizeof(fl), &fl);
		/* applied after the flags: needs WINDOW_SCALE both ways */
		put_u8(b, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, f->wscale[0]);
		put_u8(b, CTA_PROTOINFO_TCP_WSCALE_REPLY, f->wscale[1]);
		nest_end(b, n);
		nest_end(b, pn);
		break;
	case IPPROTO_SCTP:
		/* the kernel wants state and both tags together */
		pn = nest_start(b, CTA_PROTOINFO);
		n = nest_start(b, CTA_PROTOINFO_SCTP);
		put_u8(b, CTA_PROTOINFO_SCTP_STATE, f->proto_state);
		put_be32(b, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL,
			 x && (x->has & FLOW_EXT_SCTP) ? x->sctp_vtag[0] : 0);
		put_be32(b, CTA_PROTOINFO_SCTP_VTAG_REPLY,
			 x && (x->has & FLOW_EXT_SCTP) ? x->sctp_vtag[1] : 0);
		nest_end(b, n);
		nest_end(b, pn);
		break;
	case IPPROTO_DCCP:
		pn = nest_start(b, CTA_PROTOINFO);
		n = nest_start(b, CTA_PROTOINFO_DCCP);
		put_u8(b, CTA_PROTOINFO_DCCP_STATE, f->proto_state);
		put_u8(b, CTA_PROTOINFO_DCCP_ROLE, f->tcpflags[0]);
		nest_end(b, n);
		nest_end(b, pn);
		break;
	}
}

/*
 * Status on create, as the kernel (6.x) takes it: the entry is already
 * CONFIRMED when the status is applied and any difference in CONFIRMED,
 * DYING or EXPECTED is refused with EBUSY, so CONFIRMED must be set and
 * the other two clear.  The NAT and NAT_DONE bits come from the CTA_NAT_*
 * setup (set alone they are ignored and no translation happens),
 * SEQ_ADJUST from CTA_SEQ_ADJ_*; template, untracked and offload bits are
 * ignored and describe things a replica is not.  ASSURED, SEEN_REPLY,
 * FIXED_TIMEOUT and HELPER are taken as given.
 */
#define STATUS_NOT_SENT (IPS_EXPECTED | IPS_DYING | IPS_NAT_MASK | \
			 IPS_NAT_DONE_MASK | IPS_SEQ_ADJUST | IPS_TEMPLATE | \
			 IPS_UNTRACKED | IPS_OFFLOAD | IPS_HW_OFFLOAD)
#define STATUS_CREATE	0xffffu		/* bits up to __IPS_MAX_BIT */

/* Timeout given to a flow whose record has none (a DESTROY seen before
 * any state): short, the next update from the peer corrects it. */
#define DEFAULT_TIMEOUT 120

/* The netlink and nfgenmsg headers of a ctnetlink request at b->nlh
 * (b->len bytes).  false if they do not fit. */
static bool put_header(struct nlb *b, uint8_t msg, uint16_t flags,
		       uint8_t family, uint32_t seq)
{
	struct nfgenmsg *nfg;

	if (b->len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*nfg)))
		return false;
	b->nlh = mnl_nlmsg_put_header(b->nlh);
	b->nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	b->nlh->nlmsg_flags = flags;
	b->nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(b->nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return true;
}

/*
 * create: a new entry, everything that makes it behave like the original.
 * Otherwise an update of the entry the original tuple names, with only
 * what the kernel lets an existing entry change: status, timeout, mark,
 * protocol state (with the liberal window flags), labels and seqadj.  NAT
 * and the helper are fixed once an entry exists.
 *
 * The status must follow: a copy created while its flow was opening has
 * no SEEN_REPLY, and without it the kernel calls every later packet of
 * the original direction "new", which a strict policy drops mid-stream.
 * The kernel refuses (EBUSY) a status that differs in CONFIRMED, EXPECTED
 * or DYING, or that clears SEEN_REPLY or ASSURED, and leaves the NAT bits
 * as they are; a replica's bits only ever grow, and copies are created
 * without EXPECTED, so the create's status serves.
 */
static size_t build(void *buf, size_t len, const struct flow *f, uint32_t seq,
		    bool create)
{
	static const uint32_t all_ones[4] = { ~0u, ~0u, ~0u, ~0u };
	struct nlb b = { .nlh = buf, .len = len, .ok = true };
	const struct flow_ext *x = f->ext;

	if (!put_header(&b, IPCTNL_MSG_CT_NEW, NLM_F_REQUEST | NLM_F_ACK |
			(create ? NLM_F_CREATE | NLM_F_EXCL : 0), f->key.family, seq))
		return 0;
	put_tuple(&b, CTA_TUPLE_ORIG, &f->key, &f->key.orig);
	if (!create) {
		if (f->key.zone)
			put_be16(&b, CTA_ZONE, f->key.zone);
		put_be32(&b, CTA_STATUS,
			 (f->status & STATUS_CREATE & ~STATUS_NOT_SENT) | IPS_CONFIRMED);
		put_be32(&b, CTA_TIMEOUT,
			 f->flags & FLOW_F_TIMEOUT ? f->timeout : DEFAULT_TIMEOUT);
		if (f->flags & FLOW_F_MARK)
			put_be32(&b, CTA_MARK, f->mark);
		if (f->flags & FLOW_F_PROTO)
			put_protoinfo(&b, f);
		if (x && (x->has & FLOW_EXT_LABELS)) {
			put(&b, CTA_LABELS, sizeof(x->labels), x->labels);
			put(&b, CTA_LABELS_MASK, sizeof(all_ones), all_ones);
		}
		return b.ok ? b.nlh->nlmsg_len : 0;
	}
	if (f->status & IPS_NAT_MASK) {
		struct flow_tuple plain;

		flow_tuple_invert(&f->key, &plain);
		put_tuple(&b, CTA_TUPLE_REPLY, &f->key, &plain);
	} else {
		put_tuple(&b, CTA_TUPLE_REPLY, &f->key, &f->reply);
	}
	if (f->key.zone)
		put_be16(&b, CTA_ZONE, f->key.zone);
	put_be32(&b, CTA_STATUS,
		 (f->status & STATUS_CREATE & ~STATUS_NOT_SENT) | IPS_CONFIRMED);
	put_be32(&b, CTA_TIMEOUT,
		 f->flags & FLOW_F_TIMEOUT ? f->timeout : DEFAULT_TIMEOUT);
	if (f->flags & FLOW_F_MARK)
		put_be32(&b, CTA_MARK, f->mark);
	if (f->status & IPS_SRC_NAT)
		put_nat(&b, CTA_NAT_SRC, f, &f->reply.dst,
			f->key.l4proto == IPPROTO_ICMP ||
			f->key.l4proto == IPPROTO_ICMPV6 ?
			f->reply.sport : f->reply.dport);
	if (f->status & IPS_DST_NAT)
		put_nat(&b, CTA_NAT_DST, f, &f->reply.src, f->reply.sport);
	if (f->flags & FLOW_F_PROTO)
		put_protoinfo(&b, f);
	if (x && (x->has & FLOW_EXT_LABELS)) {
		put(&b, CTA_LABELS, sizeof(x->labels), x->labels);
		put(&b, CTA_LABELS_MASK, sizeof(all_ones), all_ones);
	}
	if (x && (x->has & FLOW_EXT_SEQADJ)) {
		put_seqadj(&b, CTA_SEQ_ADJ_ORIG, &x->seqadj[0]);
		put_seqadj(&b, CTA_SEQ_ADJ_REPLY, &x->seqadj[1]);
	}
	if (x && (x->has & FLOW_EXT_HELPER) && x->helper[0]) {
		struct nlattr *n = nest_start(&b, CTA_HELP);
		char name[FLOW_HELPER_MAX];
		size_t nlen = strnlen(x->helper, sizeof(name) - 1);

		memcpy(name, x->helper, nlen);
		name[nlen] = '\0';
		put(&b, CTA_HELP_NAME, nlen + 1, name);
		nest_end(&b, n);
	}
	return b.ok ? b.nlh->nlmsg_len : 0;
}

size_t ctconv_build_create(void *buf, size_t len, const struct flow *f,
			   uint32_t seq)
{
	return build(buf, len, f, seq, true);
}

size_t ctconv_build_update(void *buf, size_t len, const struct flow *f,
			   uint32_t seq)
{
	return build(buf, len, f, seq, false);
}

size_t ctconv_build_delete(void *buf, size_t len, const struct flow_key *k,
			   uint32_t seq)
{
	struct nlb b = { .nlh = buf, .len = len, .ok = true };

	if (!put_header(&b, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK,
			k->family, seq))
		return 0;
	put_tuple(&b, CTA_TUPLE_ORIG, k, &k->orig);
	if (k->zone)
		put_be16(&b, CTA_ZONE, k->zone);
	return b.ok ? b.nlh->nlmsg_len : 0;
}
