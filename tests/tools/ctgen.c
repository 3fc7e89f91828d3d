/*
 * ctgen - conntrack load generator for the netns tests and benchmarks.
 *
 *   ctgen [-n COUNT] [-b BATCH] [-6] [-p tcp|udp] [--update] [--destroy]
 *         [--base ADDR] [--mark N] [--zone N] [--json]
 *
 * Creates (default), updates or deletes COUNT conntrack entries in the
 * current network namespace with batched ctnetlink requests: BATCH
 * messages per sendmsg, each acknowledged, the acks of a batch read before
 * the next.  Entry i has source address base + i / 64000, source port
 * 1024 + i % 64000, and a fixed destination (198.19.0.1:80, or
 * 2001:db8:1::1 with -6; port 53 for UDP), so the same options name the
 * same entries in every run.
 *
 * It links only libmnl and uses no ctsync code, so its rate is an
 * independent ceiling for the daemon's commit.  Exit status 1 if any
 * request failed (including EEXIST on create, ENOENT on update/destroy).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#define PORTS		64000
#define MSG_MAX		256	/* bytes reserved per request */
#define ACK_SLOT	512
#define ACK_SLOTS	256

enum op { OP_CREATE, OP_UPDATE, OP_DESTROY };

struct opts {
	unsigned long count;
	unsigned batch;
	int family;
	uint8_t proto;
	enum op op;
	uint8_t base[16];
	bool base_set;
	uint32_t mark;
	bool mark_set;
	uint16_t zone;
	bool json;
};

struct result {
	unsigned long ok, failed;
	int first_err;
	unsigned long first_idx;
};

static void usage(void)
{
	fprintf(stderr, "usage: ctgen [-n COUNT] [-b BATCH] [-6] [-p tcp|udp] "
		"[--update] [--destroy]\n"
		"             [--base ADDR] [--mark N] [--zone N] [--json]\n");
	exit(2);
}

static unsigned long num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !*s || v > max) {
		fprintf(stderr, "ctgen: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* Entry i's source address: base plus i / PORTS in the low 32 bits. */
static void src_addr(const struct opts *o, unsigned long i, uint8_t *out)
{
	int off = o->family == AF_INET ? 0 : 12;
	uint32_t w;

	memcpy(out, o->base, 16);
	memcpy(&w, out + off, 4);
	w = htonl(ntohl(w) + (uint32_t)(i / PORTS));
	memcpy(out + off, &w, 4);
}

static void put_tuple(struct nlmsghdr *nlh, uint16_t type,
		      const struct opts *o, const uint8_t *src,
		      const uint8_t *dst, uint16_t sport, uint16_t dport)
{
	struct nlattr *t, *n;
	size_t alen = o->family == AF_INET ? 4 : 16;

	t = mnl_attr_nest_start(nlh, type);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, o->family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC,
		     alen, src);
	mnl_attr_put(nlh, o->family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST,
		     alen, dst);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, o->proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, t);
}

/* One request for entry i at buf (room for MSG_MAX bytes). */
static size_t build(void *buf, const struct opts *o, unsigned long i,
		    uint32_t seq)
{
	static const uint8_t dst4[16] = { 198, 19, 0, 1 };
	static const uint8_t dst6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1,
					  [15] = 1 };
	const uint8_t *dst = o->family == AF_INET ? dst4 : dst6;
	uint16_t sport = (uint16_t)(1024 + i % PORTS);
	uint16_t dport = o->proto == IPPROTO_TCP ? 80 : 53;
	uint32_t timeout = o->proto == IPPROTO_TCP ? 86400 : 3600;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	uint8_t src[16];

	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (o->op == OP_DESTROY) {
		nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	} else {
		nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
		if (o->op == OP_CREATE)
			nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	}
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)o->family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;

	src_addr(o, i, src);
	put_tuple(nlh, CTA_TUPLE_ORIG, o, src, dst, sport, dport);
	if (o->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(o->zone));
	if (o->op == OP_DESTROY)
		return nlh->nlmsg_len;

	if (o->op == OP_UPDATE) {
		/* a changed mark is what makes the kernel emit UPDATE */
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(o->mark + 1));
		mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(timeout - 1));
		return nlh->nlmsg_len;
	}

	put_tuple(nlh, CTA_TUPLE_REPLY, o, dst, src, dport, sport);
	/* CONFIRMED must be set on create, the kernel refuses to clear it */
	mnl_attr_put_u32(nlh, CTA_STATUS,
			 htonl(IPS_CONFIRMED | IPS_ASSURED | IPS_SEEN_REPLY));
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(timeout));
	if (o->mark_set)
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(o->mark));
	if (o->proto == IPPROTO_TCP) {
		struct nlattr *p = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		struct nlattr *t = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);

		mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE,
				TCP_CONNTRACK_ESTABLISHED);
		mnl_attr_nest_end(nlh, t);
		mnl_attr_nest_end(nlh, p);
	}
	return nlh->nlmsg_len;
}

static void force_buf(int fd, int force, int opt, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

/* Read the acks of seqs first..first+n-1 into r; -1 on socket error. */
static int read_acks(int fd, uint32_t first, unsigned n, unsigned long base_idx,
		     char *buf, struct result *r)
{
	static struct mmsghdr msg[ACK_SLOTS];
	static struct iovec iov[ACK_SLOTS];
	unsigned got_all = 0;

	while (got_all < n) {
		unsigned want = n - got_all < ACK_SLOTS ? n - got_all : ACK_SLOTS;
		int got;

		for (unsigned i = 0; i < want; i++) {
			iov[i].iov_base = buf + (size_t)i * ACK_SLOT;
			iov[i].iov_len = ACK_SLOT;
			memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(fd, msg, want, MSG_WAITFORONE, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < got; i++) {
			const struct nlmsghdr *nlh = iov[i].iov_base;
			const struct nlmsgerr *e;
			uint32_t idx;

			if (msg[i].msg_len < NLMSG_HDRLEN + sizeof(int) ||
			    nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			idx = nlh->nlmsg_seq - first;
			if (idx >= n)
				continue;
			got_all++;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0) {
				r->ok++;
			} else if (r->failed++ == 0) {
				r->first_err = -e->error;
				r->first_idx = base_idx + idx;
			}
		}
	}
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "update", no_argument, NULL, 'U' },
		{ "destroy", no_argument, NULL, 'D' },
		{ "base", required_argument, NULL, 'B' },
		{ "mark", required_argument, NULL, 'M' },
		{ "zone", required_argument, NULL, 'Z' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const verb[] = { "created", "updated", "destroyed" };
	static const char *const opname[] = { "create", "update", "destroy" };
	struct opts o = { .count = 20000, .batch = 256, .family = AF_INET,
			  .proto = IPPROTO_TCP, .op = OP_CREATE };
	const char *base = NULL;
	struct result r = { 0 };
	struct mnl_socket *nl;
	char *tx, *rx;
	uint32_t seq = 1;
	unsigned long i = 0;
	double t0, secs;
	int c, fd;

	while ((c = getopt_long(argc, argv, "n:b:6p:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.count = num(optarg, 100000000); break;
		case 'b': o.batch = (unsigned)num(optarg, 65536); break;
		case '6': o.family = AF_INET6; break;
		case 'p':
			if (!strcmp(optarg, "tcp"))
				o.proto = IPPROTO_TCP;
			else if (!strcmp(optarg, "udp"))
				o.proto = IPPROTO_UDP;
			else
				usage();
			break;
		case 'U': o.op = OP_UPDATE; break;
		case 'D': o.op = OP_DESTROY; break;
		case 'B': base = optarg; break;
		case 'M': o.mark = (uint32_t)num(optarg, UINT32_MAX); o.mark_set = true; break;
		case 'Z': o.zone = (uint16_t)num(optarg, UINT16_MAX); break;
		case 'J': o.json = true; break;
		default: usage();
		}
	}
	if (optind != argc || o.batch == 0)
		usage();
	if (!base)
		base = o.family == AF_INET ? "198.18.0.1" : "2001:db8::1";
	if (inet_pton(o.family, base, o.base) != 1) {
		fprintf(stderr, "ctgen: bad --base address '%s'\n", base);
		return 2;
	}

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("ctgen: netlink");
		return 1;
	}
	fd = mnl_socket_get_fd(nl);
	c = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &c, sizeof(c));
	force_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, (int)(o.batch * MSG_MAX) + 4096);
	force_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, (int)(o.batch * 1024) + 65536);
	{
		/* a batch's acks must fit or some are dropped (ENOBUFS) */
		int rcv = 0;
		socklen_t l = sizeof(rcv);

		getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &l);
		if ((unsigned)rcv / 2048 < o.batch)
			o.batch = rcv >= 2048 ? (unsigned)rcv / 2048 : 1;
	}
	tx = malloc((size_t)o.batch * MSG_MAX);
	rx = malloc((size_t)ACK_SLOTS * ACK_SLOT);
	if (!tx || !rx) {
		perror("ctgen");
		return 1;
	}

	t0 = now();
	while (i < o.count) {
		unsigned n = 0;
		size_t off = 0;
		uint32_t first = seq;
		unsigned long first_i = i;

		for (; n < o.batch && i < o.count; n++, i++)
			off += build(tx + off, &o, i, seq++);
		if (mnl_socket_sendto(nl, tx, off) < 0) {
			perror("ctgen: sendmsg");
			return 1;
		}
		if (read_acks(fd, first, n, first_i, rx, &r) < 0) {
			perror("ctgen: recvmsg");
			return 1;
		}
	}
	secs = now() - t0;

	if (o.json)
		printf("{\"op\":\"%s\",\"count\":%lu,\"ok\":%lu,\"failed\":%lu,"
		       "\"seconds\":%.6f,\"rate\":%.0f,\"batch\":%u,"
		       "\"family\":%d,\"proto\":\"%s\",\"first_error\":\"%s\"}\n",
		       opname[o.op], o.count, r.ok, r.failed, secs,
		       secs > 0 ? (double)r.ok / secs : 0, o.batch,
		       o.family == AF_INET ? 4 : 6,
		       o.proto == IPPROTO_TCP ? "tcp" : "udp",
		       r.failed ? strerror(r.first_err) : "");
	else
		printf("%s %lu in %.3f s (%.0f/s), failed %lu\n", verb[o.op],
		       r.ok, secs, secs > 0 ? (double)r.ok / secs : 0, r.failed);
	if (r.failed)
		fprintf(stderr, "ctgen: first failure: entry %lu: %s\n",
			r.first_idx, strerror(r.first_err));
	mnl_socket_close(nl);
	free(tx);
	free(rx);
	return r.failed ? 1 : 0;
}
