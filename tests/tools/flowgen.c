/*
 * flowgen - many long-lived, lightly loaded TCP and UDP flows, for the
 * failover tests: does each connection survive, and how long was it silent?
 *
 *   flowgen server PORT [-b ADDR]
 *   flowgen client [-n N] [-u U] [-i MS] [-s SRCADDR] [-d SECONDS]
 *                  [--report FILE] [--stall-ms MS] [--connect-timeout MS]
 *                  [--list] DST PORT
 *
 * server: accepts any number of TCP connections on PORT and echoes what
 * each sends; echoes every UDP datagram that arrives on the same port.
 * Listens on the IPv6 wildcard with IPv6-only off (both families), or on
 * ADDR.  Exits 0 on SIGTERM or SIGINT.
 *
 * client: opens N TCP connections (default 200) and U UDP flows (default
 * 0, each its own connected socket and source port) to DST PORT, from
 * SRCADDR if given.  One timer for all of them (a single timerfd, one
 * epoll loop): every MS milliseconds (default 50) it sends one 32-byte
 * sequenced message on each flow, and it reads the echoes as they come,
 * checking each byte against what was sent.  Per flow it records the
 * longest silence: the longest time between two consecutive echoes
 * received (the gap still open counts when a summary is taken), and for
 * TCP whether the connection broke (reset, end of stream, error, wrong
 * bytes echoed) or never connected within --connect-timeout (default
 * 5000 ms).  A flow is "stalled" when nothing has come back for
 * --stall-ms (default 1000 ms).
 *
 * The summary is one JSON object.  It goes to standard output on SIGTERM
 * or SIGINT, or after -d SECONDS, and the client exits.  With --report
 * FILE it is also written to FILE (atomically: FILE.tmp, then rename)
 * once every connection is up or has failed, and on each SIGUSR1, without
 * stopping.  Members:
 *
 *   report            number of this summary (1, 2, ...; the last is final)
 *   elapsed_ms        since start; interval_ms: since the previous summary
 *   connections, established, connecting, broken, failed_connect, stalled
 *   survived          TCP connections up, not broken, not stalled
 *   udp_flows, udp_stalled, udp_errors (ICMP errors and the like)
 *   sent, echoed      messages
 *   longest_silence_ms, p99_silence_ms  over every flow's longest silence
 *                     since start (TCP and UDP), tcp_/udp_longest_...
 *   interval          the same silences, measured since the previous
 *                     summary, and the connections broken since then
 *   problems          up to 64 flows that broke, failed or stalled
 *   flows             with --list: every flow's id, proto, sport,
 *                     silence_ms, interval_silence_ms, state
 *
 * Exit status: 0, also when connections broke (that is the measurement);
 * 1 on its own errors (a socket it cannot create, a server port it cannot
 * bind); 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN		32
#define PEND_MAX	4096	/* unsent bytes kept per TCP connection */
#define SRV_BUF		65536
#define MAX_PROBLEMS	64
#define EV_BATCH	256

/* epoll tags: low bits of data.u64 say what the fd is */
enum { TAG_SIGNAL = 1, TAG_TIMER, TAG_LISTEN, TAG_UDPSRV, TAG_FLOW, TAG_CONN };

static const char *prog = "flowgen";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int signal_fd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		die("sigprocmask: %s", strerror(errno));
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		die("signalfd: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	return fd;
}

static void ep_add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void ep_mod(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	(void)epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static uint64_t tag(unsigned t, uint64_t index) { return index << 8 | t; }

/* ---------------------------------------------------------- addresses */

/* parse_addr: "a.b.c.d" or an IPv6 address (no brackets), with PORT. */
static bool parse_addr(const char *s, unsigned port, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return true;
	}
	return false;
}

static unsigned parse_num(const char *s, const char *what, unsigned long lo,
			  unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: %s '%s' not in %lu-%lu\n", prog, what, s, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

/* ------------------------------------------------------------- server */

struct sconn {
	int fd;
	size_t off, len;	/* unsent echo in buf[off..len) */
	uint8_t *buf;
};

static struct sconn *sconns;
static size_t nsconns, capsconns;

static size_t sconn_new(int fd)
{
	size_t i;

	for (i = 0; i < nsconns; i++)
		if (sconns[i].fd < 0)
			break;
	if (i == nsconns) {
		if (nsconns == capsconns) {
			size_t cap = capsconns ? capsconns * 2 : 256;
			struct sconn *p = realloc(sconns, cap * sizeof(*p));

			if (!p)
				die("out of memory");
			sconns = p;
			capsconns = cap;
		}
		nsconns++;
	}
	sconns[i].fd = fd;
	sconns[i].off = sconns[i].len = 0;
	sconns[i].buf = malloc(SRV_BUF);
	if (!sconns[i].buf)
		die("out of memory");
	return i;
}

static void sconn_close(size_t i)
{
	close(sconns[i].fd);	/* also leaves the epoll set */
	free(sconns[i].buf);
	sconns[i].buf = NULL;
	sconns[i].fd = -1;
}

/* sconn_io: echo what arrives; when the peer does not take it all, stop
 * reading until it does. */
static void sconn_io(int ep, size_t i, uint32_t events)
{
	struct sconn *c = &sconns[i];
	ssize_t n;

	if (c->len > c->off) {
		n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			sconn_close(i);
			return;
		}
		if (n > 0)
			c->off += (size_t)n;
		if (c->off < c->len)
			return;
		c->off = c->len = 0;
		ep_mod(ep, c->fd, EPOLLIN, tag(TAG_CONN, i));
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		n = recv(c->fd, c->buf, SRV_BUF, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			sconn_close(i);
			return;
		}
		if (n < 0)
			return;
		c->len = (size_t)n;
		c->off = 0;
		n = send(c->fd, c->buf, c->len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			sconn_close(i);
			return;
		}
		if (n > 0)
			c->off = (size_t)n;
		if (c->off < c->len) {
			ep_mod(ep, c->fd, EPOLLOUT, tag(TAG_CONN, i));
			return;
		}
		c->off = c->len = 0;
	}
}

static int bind_socket(int type, const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0;

	if (addr) {
		if (!parse_addr(addr, port, &ss, &len)) {
			fprintf(stderr, "%s: bad address '%s'\n", prog, addr);
			exit(2);
		}
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		memset(&ss, 0, sizeof(ss));
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	}
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && !addr && errno == EAFNOSUPPORT) {	/* no IPv6 here */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
		fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		die("socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && !addr)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind %s port %u: %s", addr ? addr : "*", port, strerror(errno));
	return fd;
}

/* udp_echo: send each datagram back from the address it was sent to
 * (a server with several addresses must not answer from another one:
 * the client's connected socket would drop the answer). */
static void udp_echo(int ufd, uint8_t *buf, size_t size)
{
	for (;;) {
		struct sockaddr_storage from;
		union {
			struct cmsghdr align;
			uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
				  CMSG_SPACE(sizeof(struct in_pktinfo))];
		} cin, cout;
		struct iovec iov = { .iov_base = buf, .iov_len = size };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cin.b, .msg_controllen = sizeof(cin.b) };
		struct in6_pktinfo pi6 = { 0 };
		bool have = false;
		ssize_t r = recvmsg(ufd, &mh, 0);

		if (r < 0)
			return;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				memcpy(&pi6, CMSG_DATA(cm), sizeof(pi6));
				pi6.ipi6_ifindex = 0;
				have = true;
			} else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				/* a v4 datagram on the dual-stack socket: v4-mapped */
				memset(&pi6, 0, sizeof(pi6));
				pi6.ipi6_addr.s6_addr[10] = pi6.ipi6_addr.s6_addr[11] = 0xff;
				memcpy(&pi6.ipi6_addr.s6_addr[12], &pi.ipi_addr, 4);
				have = true;
			}
		}
		iov.iov_len = (size_t)r;
		mh.msg_flags = 0;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (have && from.ss_family == AF_INET6) {
			struct cmsghdr *cm;

			memset(cout.b, 0, sizeof(cout.b));
			mh.msg_control = cout.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(pi6));
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = IPPROTO_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi6));
			memcpy(CMSG_DATA(cm), &pi6, sizeof(pi6));
		}
		(void)sendmsg(ufd, &mh, 0);
	}
}

static int run_server(int argc, char **argv)
{
	const char *addr = NULL;
	struct epoll_event evs[EV_BATCH];
	uint8_t dgram[65536];
	unsigned port;
	int opt, lfd, ufd, sfd, ep;

	while ((opt = getopt(argc, argv, "b:h")) != -1) {
		switch (opt) {
		case 'b': addr = optarg; break;
		default:
			fprintf(stderr, "usage: %s server PORT [-b ADDR]\n", prog);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s server PORT [-b ADDR]\n", prog);
		return 2;
	}
	port = parse_num(argv[optind], "port", 1, 65535);
	raise_nofile();
	sfd = signal_fd();
	lfd = bind_socket(SOCK_STREAM, addr, port);
	if (listen(lfd, 4096) < 0)
		die("listen: %s", strerror(errno));
	ufd = bind_socket(SOCK_DGRAM, addr, port);
	if (!addr) {
		int one = 1;

		(void)setsockopt(ufd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		(void)setsockopt(ufd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	ep_add(ep, sfd, EPOLLIN, TAG_SIGNAL);
	ep_add(ep, lfd, EPOLLIN, TAG_LISTEN);
	ep_add(ep, ufd, EPOLLIN, TAG_UDPSRV);

	for (;;) {
		int n = epoll_wait(ep, evs, EV_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int k = 0; k < n; k++) {
			uint64_t d = evs[k].data.u64;

			switch (d & 0xff) {
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si))
					if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
						for (size_t i = 0; i < nsconns; i++)
							if (sconns[i].fd >= 0)
								sconn_close(i);
						free(sconns);
						return 0;
					}
				break;
			}
			case TAG_LISTEN:
				for (;;) {
					int one = 1;
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (fd < 0) {
						if (errno == EMFILE || errno == ENFILE)
							fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
						break;
					}
					(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ep_add(ep, fd, EPOLLIN, tag(TAG_CONN, sconn_new(fd)));
				}
				break;
			case TAG_UDPSRV:
				udp_echo(ufd, dgram, sizeof(dgram));
				break;
			case TAG_CONN:
				if (sconns[d >> 8].fd >= 0)
					sconn_io(ep, d >> 8, evs[k].events);
				break;
			}
		}
	}
}

/* ------------------------------------------------------------- client */

enum fstate { F_CONNECTING, F_UP, F_BROKEN, F_FAILED };
static const char *const state_name[] = { "connecting", "up", "broken", "failed_connect" };

struct flow {
	int fd;
	unsigned id;
	bool udp;
	enum fstate state;
	uint16_t sport;
	uint64_t tx_seq;	/* messages sent (TCP: written or queued) */
	uint64_t rx_bytes;	/* TCP: bytes echoed and checked */
	uint64_t rx_msgs;	/* echoes received */
	int64_t t_start, last_rx, t_end;
	int64_t max_gap, win_gap;	/* longest silence: since start, since the last summary */
	bool broke_in_window;
	char reason[48];
	size_t plen;
	uint8_t pend[PEND_MAX];
};

struct client {
	unsigned ntcp, nudp, interval_ms, stall_ms, connect_ms, duration_s;
	const char *src, *report;
	bool list;
	struct sockaddr_storage dst, srcaddr;
	socklen_t dstlen, srclen;
	struct flow *flows;
	unsigned nflows;
	int ep;
	int64_t t0, t_last_report;
	unsigned reports;
	uint64_t sent, echoed, udp_errors;
	bool connect_reported;
};

/* The message for (id, seq): fixed width, so a TCP stream can be checked
 * byte by byte without framing. */
static void message(uint8_t out[MSG_LEN], unsigned id, uint64_t seq)
{
	char tmp[MSG_LEN + 1];

	snprintf(tmp, sizeof(tmp), "%06u %012" PRIu64 " flowgen...\n", id % 1000000,
		 (uint64_t)(seq % UINT64_C(1000000000000)));
	memcpy(out, tmp, MSG_LEN);
}

static void flow_fail(struct flow *f, enum fstate st, const char *why, int err)
{
	if (f->state == F_BROKEN || f->state == F_FAILED)
		return;
	f->state = st;
	f->t_end = now_us();
	f->broke_in_window = true;
	if (err)
		snprintf(f->reason, sizeof(f->reason), "%s: %s", why, strerror(err));
	else
		snprintf(f->reason, sizeof(f->reason), "%s", why);
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
}

static void flow_echo(struct flow *f, int64_t t)
{
	int64_t gap = t - f->last_rx;

	if (gap > f->max_gap)
		f->max_gap = gap;
	if (gap > f->win_gap)
		f->win_gap = gap;
	f->last_rx = t;
}

static void flow_sport(struct flow *f)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	if (getsockname(f->fd, (struct sockaddr *)&ss, &l) == 0)
		f->sport = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				 : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void open_flows(struct client *c)
{
	int64_t t = now_us();

	c->nflows = c->ntcp + c->nudp;
	c->flows = calloc(c->nflows ? c->nflows : 1, sizeof(*c->flows));
	if (!c->flows)
		die("out of memory");
	for (unsigned i = 0; i < c->nflows; i++) {
		struct flow *f = &c->flows[i];
		int one = 1;

		f->id = i;
		f->udp = i >= c->ntcp;
		f->t_start = f->last_rx = t;
		f->fd = socket(c->dst.ss_family,
			       (f->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (f->fd < 0)
			die("socket: %s", strerror(errno));
		if (!f->udp)
			(void)setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (c->src && bind(f->fd, (struct sockaddr *)&c->srcaddr, c->srclen) < 0)
			die("bind %s: %s", c->src, strerror(errno));
		if (connect(f->fd, (struct sockaddr *)&c->dst, c->dstlen) < 0 &&
		    errno != EINPROGRESS)
			die("connect: %s", strerror(errno));
		flow_sport(f);
		if (f->udp) {
			f->state = F_UP;
			ep_add(c->ep, f->fd, EPOLLIN, tag(TAG_FLOW, i));
		} else {
			f->state = F_CONNECTING;
			ep_add(c->ep, f->fd, EPOLLOUT, tag(TAG_FLOW, i));
		}
	}
}

static void tcp_flush(struct client *c, struct flow *f)
{
	ssize_t n;

	if (!f->plen)
		return;
	n = send(f->fd, f->pend, f->plen, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			flow_fail(f, F_BROKEN, "send", errno);
		else	/* the socket's buffer is full: go on when it drains */
			ep_mod(c->ep, f->fd, EPOLLIN | EPOLLOUT, tag(TAG_FLOW, f->id));
		return;
	}
	memmove(f->pend, f->pend + n, f->plen - (size_t)n);
	f->plen -= (size_t)n;
	ep_mod(c->ep, f->fd, f->plen ? EPOLLIN | EPOLLOUT : EPOLLIN, tag(TAG_FLOW, f->id));
}

static void tick(struct client *c)
{
	uint8_t m[MSG_LEN];

	for (unsigned i = 0; i < c->nflows; i++) {
		struct flow *f = &c->flows[i];

		if (f->state != F_UP)
			continue;
		if (f->udp) {
			message(m, f->id, f->tx_seq);
			if (send(f->fd, m, MSG_LEN, 0) == MSG_LEN) {
				f->tx_seq++;
				c->sent++;
			} else if (errno != EAGAIN) {
				c->udp_errors++;
			}
			continue;
		}
		if (f->plen + MSG_LEN > PEND_MAX)
			continue;	/* the connection is stuck: do not pile up */
		message(f->pend + f->plen, f->id, f->tx_seq++);
		f->plen += MSG_LEN;
		c->sent++;
		tcp_flush(c, f);
	}
}

static void tcp_read(struct client *c, struct flow *f)
{
	uint8_t buf[8192], m[MSG_LEN];
	int64_t t = now_us();
	bool got = false;

	for (;;) {
		ssize_t n = recv(f->fd, buf, sizeof(buf), 0);

		if (n == 0) {
			flow_fail(f, F_BROKEN, "end of stream", 0);
			break;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				flow_fail(f, F_BROKEN, "recv", errno);
			break;
		}
		for (ssize_t k = 0; k < n; k++) {
			uint64_t seq = f->rx_bytes / MSG_LEN;
			size_t off = f->rx_bytes % MSG_LEN;

			if (seq >= f->tx_seq) {
				flow_fail(f, F_BROKEN, "echo of unsent data", 0);
				return;
			}
			message(m, f->id, seq);
			if (buf[k] != m[off]) {
				flow_fail(f, F_BROKEN, "echo differs from what was sent", 0);
				return;
			}
			f->rx_bytes++;
			if (off == MSG_LEN - 1) {
				f->rx_msgs++;
				c->echoed++;
			}
		}
		got = true;
	}
	if (got)
		flow_echo(f, t);
}

static void udp_read(struct client *c, struct flow *f)
{
	uint8_t buf[2048], m[MSG_LEN];
	int64_t t = now_us();
	bool got = false;

	for (;;) {
		ssize_t n = recv(f->fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			c->udp_errors++;	/* ICMP error: the flow goes on */
			continue;
		}
		message(m, f->id, 0);
		if (n == MSG_LEN && memcmp(buf, m, 7) == 0) {
			f->rx_msgs++;
			c->echoed++;
			got = true;
		}
	}
	if (got)
		flow_echo(f, t);
}

static void flow_io(struct client *c, struct flow *f, uint32_t events)
{
	if (f->state == F_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err) {
			flow_fail(f, F_FAILED, "connect", err);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		f->state = F_UP;
		f->last_rx = now_us();	/* silences count from here */
		f->max_gap = f->win_gap = 0;
		flow_sport(f);
		ep_mod(c->ep, f->fd, EPOLLIN, tag(TAG_FLOW, f->id));
		return;
	}
	if (f->state != F_UP)
		return;
	if (f->udp) {
		udp_read(c, f);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		tcp_read(c, f);
	if (f->state == F_UP && (events & EPOLLOUT))
		tcp_flush(c, f);
}

/* ------------------------------------------------------------ summary */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Silence of a flow up to now: the longest gap, or the open one. */
static int64_t silence(const struct flow *f, int64_t gap, int64_t t)
{
	int64_t end = (f->state == F_UP) ? t : f->t_end;
	int64_t open = end - f->last_rx;

	if (f->state == F_CONNECTING)
		return 0;
	return open > gap ? open : gap;
}

static int64_t p99(int64_t *v, size_t n)
{
	size_t k;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	k = (n * 99 + 99) / 100;	/* ceil(0.99 n) */
	return v[k ? k - 1 : 0];
}

static void json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(o, "\\u%04x", *s);
		else
			fputc(*s, o);
	}
	fputc('"', o);
}

static bool flow_stalled(const struct client *c, const struct flow *f, int64_t t)
{
	return f->state == F_UP && t - f->last_rx > (int64_t)c->stall_ms * 1000;
}

static void summary(struct client *c, FILE *o)
{
	int64_t t = now_us();
	unsigned up = 0, connecting = 0, broken = 0, failed = 0, stalled = 0;
	unsigned udp_stalled = 0, broke_win = 0, nprob = 0;
	int64_t tcp_max = 0, udp_max = 0, tcp_wmax = 0, udp_wmax = 0;
	int64_t *all = calloc(c->nflows + 1, sizeof(*all));
	int64_t *win = calloc(c->nflows + 1, sizeof(*win));
	size_t n = 0;

	if (!all || !win)
		die("out of memory");
	c->reports++;
	for (unsigned i = 0; i < c->nflows; i++) {
		struct flow *f = &c->flows[i];
		int64_t s = silence(f, f->max_gap, t), w = silence(f, f->win_gap, t);

		if (f->state == F_CONNECTING)
			continue;
		all[n] = s;
		win[n++] = w;
		if (f->udp) {
			udp_max = s > udp_max ? s : udp_max;
			udp_wmax = w > udp_wmax ? w : udp_wmax;
			udp_stalled += flow_stalled(c, f, t);
			continue;
		}
		tcp_max = s > tcp_max ? s : tcp_max;
		tcp_wmax = w > tcp_wmax ? w : tcp_wmax;
		switch (f->state) {
		case F_UP: up++; stalled += flow_stalled(c, f, t); break;
		case F_BROKEN: broken++; break;
		case F_FAILED: failed++; break;
		default: break;
		}
		broke_win += f->broke_in_window;
	}
	for (unsigned i = 0; i < c->ntcp; i++)
		connecting += c->flows[i].state == F_CONNECTING;

	fprintf(o, "{\"report\":%u,\"elapsed_ms\":%" PRId64 ",\"interval_ms\":%" PRId64 ",\n",
		c->reports, (t - c->t0) / 1000, (t - c->t_last_report) / 1000);
	fprintf(o, " \"connections\":%u,\"established\":%u,\"connecting\":%u,\"broken\":%u,"
		"\"failed_connect\":%u,\"stalled\":%u,\"stall_ms\":%u,\"survived\":%u,\n",
		c->ntcp, up + broken, connecting, broken, failed, stalled, c->stall_ms,
		up - stalled);
	fprintf(o, " \"udp_flows\":%u,\"udp_stalled\":%u,\"udp_errors\":%" PRIu64
		",\"sent\":%" PRIu64 ",\"echoed\":%" PRIu64 ",\"interval_per_flow_ms\":%u,\n",
		c->nudp, udp_stalled, c->udp_errors, c->sent, c->echoed, c->interval_ms);
	{
		int64_t *sorted = calloc(n + 1, sizeof(*sorted));
		int64_t pa, pw, la = 0, lw = 0;

		if (!sorted)
			die("out of memory");
		for (size_t k = 0; k < n; k++) {
			la = all[k] > la ? all[k] : la;
			lw = win[k] > lw ? win[k] : lw;
		}
		memcpy(sorted, all, n * sizeof(*sorted));
		pa = p99(sorted, n);
		memcpy(sorted, win, n * sizeof(*sorted));
		pw = p99(sorted, n);
		free(sorted);
		fprintf(o, " \"longest_silence_ms\":%" PRId64 ",\"p99_silence_ms\":%" PRId64
			",\"tcp_longest_silence_ms\":%" PRId64 ",\"udp_longest_silence_ms\":%" PRId64 ",\n",
			la / 1000, pa / 1000, tcp_max / 1000, udp_max / 1000);
		fprintf(o, " \"interval\":{\"longest_silence_ms\":%" PRId64 ",\"p99_silence_ms\":%" PRId64
			",\"tcp_longest_silence_ms\":%" PRId64 ",\"udp_longest_silence_ms\":%" PRId64
			",\"broken\":%u},\n", lw / 1000, pw / 1000, tcp_wmax / 1000, udp_wmax / 1000,
			broke_win);
	}
	fprintf(o, " \"problems\":[");
	for (unsigned i = 0; i < c->nflows && nprob < MAX_PROBLEMS; i++) {
		struct flow *f = &c->flows[i];
		bool st = flow_stalled(c, f, t);

		if (f->state == F_UP && !st)
			continue;
		if (f->state == F_CONNECTING && t - f->t_start < (int64_t)c->connect_ms * 1000)
			continue;
		fprintf(o, "%s\n  {\"id\":%u,\"proto\":\"%s\",\"sport\":%u,\"state\":\"%s\","
			"\"silence_ms\":%" PRId64 ",\"since_last_echo_ms\":%" PRId64
			",\"echoes\":%" PRIu64 ",\"reason\":",
			nprob ? "," : "", f->id, f->udp ? "udp" : "tcp", f->sport,
			st ? "stalled" : state_name[f->state], silence(f, f->max_gap, t) / 1000,
			((f->state == F_UP ? t : f->t_end) - f->last_rx) / 1000, f->rx_msgs);
		json_str(o, f->reason);
		fputc('}', o);
		nprob++;
	}
	fprintf(o, "]");
	if (c->list) {
		fprintf(o, ",\n \"flows\":[");
		for (unsigned i = 0; i < c->nflows; i++) {
			struct flow *f = &c->flows[i];

			fprintf(o, "%s\n  {\"id\":%u,\"proto\":\"%s\",\"sport\":%u,\"state\":\"%s\","
				"\"silence_ms\":%" PRId64 ",\"interval_silence_ms\":%" PRId64 "}",
				i ? "," : "", f->id, f->udp ? "udp" : "tcp", f->sport,
				flow_stalled(c, f, t) ? "stalled" : state_name[f->state],
				silence(f, f->max_gap, t) / 1000, silence(f, f->win_gap, t) / 1000);
		}
		fprintf(o, "]");
	}
	fprintf(o, "}\n");
	/* a new interval starts: the open gap is measured again from now on */
	for (unsigned i = 0; i < c->nflows; i++) {
		c->flows[i].win_gap = 0;
		c->flows[i].broke_in_window = false;
	}
	c->t_last_report = t;
	free(all);
	free(win);
}

/* emit: take one summary; print it to standard output (to_stdout) and
 * write it to the report file, if any. */
static void emit(struct client *c, bool to_stdout)
{
	char tmp[4096], *text = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&text, &len);

	if (!o)
		die("open_memstream: %s", strerror(errno));
	summary(c, o);
	if (fclose(o) != 0)
		die("out of memory");
	if (to_stdout) {
		fwrite(text, 1, len, stdout);
		fflush(stdout);
	}
	if (c->report) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", c->report);
		o = fopen(tmp, "w");
		if (!o) {
			fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
		} else {
			fwrite(text, 1, len, o);
			if (fclose(o) != 0 || rename(tmp, c->report) < 0)
				fprintf(stderr, "%s: %s: %s\n", prog, c->report, strerror(errno));
		}
	}
	free(text);
}

static void client_usage(void)
{
	fprintf(stderr, "usage: %s client [-n N] [-u U] [-i MS] [-s SRCADDR] [-d SECONDS]\n"
		"       [--report FILE] [--stall-ms MS] [--connect-timeout MS] [--list] DST PORT\n",
		prog);
	exit(2);
}

static int run_client(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "report", required_argument, NULL, 'r' },
		{ "stall-ms", required_argument, NULL, 'S' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client c = { .ntcp = 200, .interval_ms = 50, .stall_ms = 1000,
			    .connect_ms = 5000 };
	struct epoll_event evs[EV_BATCH];
	struct itimerspec its = { 0 };
	int opt, sfd, tfd;
	int64_t deadline = 0;

	while ((opt = getopt_long(argc, argv, "n:u:i:s:d:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'n': c.ntcp = parse_num(optarg, "-n", 0, 100000); break;
		case 'u': c.nudp = parse_num(optarg, "-u", 0, 100000); break;
		case 'i': c.interval_ms = parse_num(optarg, "-i", 1, 60000); break;
		case 's': c.src = optarg; break;
		case 'd': c.duration_s = parse_num(optarg, "-d", 1, 86400); break;
		case 'r': c.report = optarg; break;
		case 'S': c.stall_ms = parse_num(optarg, "--stall-ms", 1, 3600000); break;
		case 'C': c.connect_ms = parse_num(optarg, "--connect-timeout", 1, 3600000); break;
		case 'l': c.list = true; break;
		default: client_usage();
		}
	}
	if (optind != argc - 2)
		client_usage();
	if (!parse_addr(argv[optind], parse_num(argv[optind + 1], "port", 1, 65535),
			&c.dst, &c.dstlen)) {
		fprintf(stderr, "%s: bad destination address '%s'\n", prog, argv[optind]);
		return 2;
	}
	if (c.src && (!parse_addr(c.src, 0, &c.srcaddr, &c.srclen) ||
		      c.srcaddr.ss_family != c.dst.ss_family)) {
		fprintf(stderr, "%s: bad source address '%s' (the family of %s?)\n", prog,
			c.src, argv[optind]);
		return 2;
	}
	raise_nofile();
	c.t0 = c.t_last_report = now_us();
	if (c.duration_s)
		deadline = c.t0 + (int64_t)c.duration_s * 1000000;
	sfd = signal_fd();
	c.ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c.ep < 0 || tfd < 0)
		die("epoll/timerfd: %s", strerror(errno));
	ep_add(c.ep, sfd, EPOLLIN, TAG_SIGNAL);
	its.it_value.tv_sec = its.it_interval.tv_sec = c.interval_ms / 1000;
	its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)(c.interval_ms % 1000) * 1000000;
	if (timerfd_settime(tfd, 0, &its, NULL) < 0)
		die("timerfd_settime: %s", strerror(errno));
	ep_add(c.ep, tfd, EPOLLIN, TAG_TIMER);
	open_flows(&c);

	for (;;) {
		int64_t t = now_us();
		int timeout = -1, n;
		unsigned pending = 0;

		/* connections that take too long fail; report once all are settled */
		for (unsigned i = 0; i < c.ntcp; i++) {
			struct flow *f = &c.flows[i];

			if (f->state != F_CONNECTING)
				continue;
			if (t - f->t_start >= (int64_t)c.connect_ms * 1000)
				flow_fail(f, F_FAILED, "connect: timed out", 0);
			else
				pending++;
		}
		if (!pending && !c.connect_reported) {
			c.connect_reported = true;
			if (c.report)
				emit(&c, false);
		}
		if (pending)
			timeout = 100;
		if (deadline) {
			int64_t left = (deadline - t) / 1000;

			if (left <= 0)
				break;
			if (timeout < 0 || left < timeout)
				timeout = (int)left + 1;
		}
		n = epoll_wait(c.ep, evs, EV_BATCH, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int k = 0; k < n; k++) {
			uint64_t d = evs[k].data.u64;

			switch (d & 0xff) {
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1) {
						emit(&c, false);
						continue;
					}
					emit(&c, true);
					free(c.flows);
					return 0;
				}
				break;
			}
			case TAG_TIMER: {
				uint64_t exp;

				if (read(tfd, &exp, sizeof(exp)) == sizeof(exp))
					tick(&c);
				break;
			}
			case TAG_FLOW:
				flow_io(&c, &c.flows[d >> 8], evs[k].events);
				break;
			}
		}
	}
	emit(&c, true);
	free(c.flows);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "server") == 0)
		return run_server(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return run_client(argc - 1, argv + 1);
	fprintf(stderr, "usage: %s server PORT [-b ADDR]\n"
		"       %s client [-n N] [-u U] [-i MS] [-s SRCADDR] [-d SECONDS]\n"
		"              [--report FILE] [--stall-ms MS] [--connect-timeout MS] [--list] DST PORT\n",
		prog, prog);
	return 2;
}
