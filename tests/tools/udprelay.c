/*
 * udprelay - a seeded, misbehaving UDP relay for the sync-path fault tests.
 *
 *   udprelay LISTEN FORWARD [--bind ADDR:PORT] [--seed N] [--loss PCT]
 *            [--dup PCT] [--reorder PCT] [--corrupt PCT] [--hold-ms MS]
 *
 * LISTEN, FORWARD and ADDR:PORT are a.b.c.d:port or [v6addr]:port.
 *
 *   near side                    udprelay                     far side
 *   (a ctsyncd)  --> LISTEN  [socket A]  [socket B  --bind] --> FORWARD
 *                <--                                         <--
 *
 * Socket A is bound to LISTEN; the near side is whoever sent the last
 * datagram that arrived there.  Socket B is bound to --bind (default: the
 * wildcard address of FORWARD's family, a kernel-chosen port) and only
 * accepts datagrams from FORWARD.  One socket per side, so each end always
 * sees the same source address and port.  Both directions are relayed.
 *
 * Each datagram that arrives is, in this order and with the given
 * percentages: dropped (--loss); corrupted, one random bit of one random
 * byte flipped (--corrupt); duplicated (--dup); then each copy is either
 * sent at once or held back (--reorder) and sent after the next 1 to 3
 * datagrams of the same direction, or after --hold-ms (default 20) when no
 * more come.  Each direction has its own generator, seeded from --seed,
 * and every datagram takes the same number of draws whatever the outcome,
 * so the decisions depend only on the seed and the order of arrival.
 * Without --seed a random seed is used; it is printed on start-up either
 * way so a run can be replayed.
 *
 * The counters go to standard output on SIGTERM or SIGINT (then it exits
 * 0) and on SIGUSR1 (it goes on).  Exit status 2 on bad usage, 1 on a
 * socket error at start-up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"

#define MAX_DGRAM	65536
#define MAX_HELD	64	/* held datagrams per direction */
#define SOCK_BUF	(8 << 20)

enum { TO_FAR = 0, TO_NEAR = 1 };
static const char *const dir_name[] = { "near->far", "far->near" };

struct held {
	uint8_t *buf;
	size_t len;
	unsigned after;		/* send once this many more are sent */
	uint64_t deadline_ms;
};

struct dir {
	uint64_t rng;
	struct held q[MAX_HELD];
	unsigned nheld;
	/* counters */
	uint64_t rx, rx_bytes, tx, tx_bytes, lost, corrupted, duplicated,
		 reordered, released_by_timer, send_errors, dropped;
};

struct relay {
	int fd_near, fd_far;		/* socket A, socket B */
	struct sockaddr_storage forward;
	struct sockaddr_storage near;	/* last sender on A */
	bool near_known;
	uint64_t near_changes, foreign, kernel_drops[2];
	unsigned loss, dup, reorder, corrupt, hold_ms;
	uint64_t seed;
	struct dir d[2];
};

static volatile sig_atomic_t got_term, got_usr1;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: udprelay LISTEN FORWARD [--bind ADDR:PORT] [--seed N]\n"
		"                [--loss PCT] [--dup PCT] [--reorder PCT] "
		"[--corrupt PCT] [--hold-ms MS]\n"
		"  addresses: a.b.c.d:port or [v6addr]:port\n");
	exit(2);
}

/* splitmix64: small, good enough, and the same everywhere. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned long num(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !*s || v > max) {
		fprintf(stderr, "udprelay: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void addr_str(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN] = "?";
	unsigned port;

	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)a;

		inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof(h));
		port = ntohs(s6->sin6_port);
		snprintf(buf, len, "[%s]:%u", h, port);
	} else {
		const struct sockaddr_in *s4 = (const void *)a;

		inet_ntop(AF_INET, &s4->sin_addr, h, sizeof(h));
		port = ntohs(s4->sin_port);
		snprintf(buf, len, "%s:%u", h, port);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int open_socket(const struct sockaddr_storage *bind_to, const char *what)
{
	int fd = socket(bind_to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1, v = SOCK_BUF;
	char a[80];

	if (fd < 0) {
		perror("udprelay: socket");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	/* The receive queue's own drops, reported with each datagram. */
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)bind_to, sa_len(bind_to)) < 0) {
		addr_str(bind_to, a, sizeof(a));
		fprintf(stderr, "udprelay: bind %s (%s): %s\n", a, what, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one datagram in direction dir. */
static void send_dir(struct relay *r, int dir, const uint8_t *buf, size_t len)
{
	struct dir *d = &r->d[dir];
	int fd = dir == TO_FAR ? r->fd_far : r->fd_near;
	const struct sockaddr_storage *to = dir == TO_FAR ? &r->forward : &r->near;

	if (dir == TO_NEAR && !r->near_known) {
		d->dropped++;
		return;
	}
	if (sendto(fd, buf, len, 0, (const struct sockaddr *)to, sa_len(to)) < 0) {
		d->send_errors++;
		return;
	}
	d->tx++;
	d->tx_bytes += len;
}

static void send_held(struct relay *r, int dir, unsigned i, bool by_timer)
{
	struct dir *d = &r->d[dir];

	send_dir(r, dir, d->q[i].buf, d->q[i].len);
	free(d->q[i].buf);
	d->released_by_timer += by_timer;
	memmove(&d->q[i], &d->q[i + 1], (d->nheld - i - 1) * sizeof(d->q[0]));
	d->nheld--;
}

/* After a datagram went out in dir: held ones whose turn came follow it. */
static void after_send(struct relay *r, int dir)
{
	struct dir *d = &r->d[dir];

	for (unsigned i = 0; i < d->nheld; i++)
		d->q[i].after--;
	for (unsigned i = 0; i < d->nheld;) {
		if (d->q[i].after == 0)
			send_held(r, dir, i, false);
		else
			i++;
	}
}

static void release_expired(struct relay *r, uint64_t now)
{
	for (int dir = 0; dir < 2; dir++) {
		struct dir *d = &r->d[dir];

		for (unsigned i = 0; i < d->nheld;) {
			if (d->q[i].deadline_ms <= now)
				send_held(r, dir, i, true);
			else
				i++;
		}
	}
}

static int poll_timeout(const struct relay *r, uint64_t now)
{
	uint64_t first = UINT64_MAX;

	for (int dir = 0; dir < 2; dir++)
		for (unsigned i = 0; i < r->d[dir].nheld; i++)
			if (r->d[dir].q[i].deadline_ms < first)
				first = r->d[dir].q[i].deadline_ms;
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)(first - now);
}

/* One copy: out now, or held back for `after` (1-3) datagrams. */
static void emit(struct relay *r, int dir, const uint8_t *buf, size_t len,
		 bool hold, unsigned after, uint64_t now)
{
	struct dir *d = &r->d[dir];

	if (hold) {
		uint8_t *copy;

		if (d->nheld == MAX_HELD)
			send_held(r, dir, 0, false);	/* the oldest goes */
		copy = malloc(len ? len : 1);
		if (copy) {
			memcpy(copy, buf, len);
			d->q[d->nheld++] = (struct held){ copy, len, after,
							  now + r->hold_ms };
			d->reordered++;
			return;
		}
	}
	send_dir(r, dir, buf, len);
	after_send(r, dir);
}

/*
 * A datagram arrived for direction dir.  Every datagram takes the same
 * eight draws whatever happens to it, so datagram n of a direction meets
 * the same fate in every run with the same seed.
 */
static void relay_one(struct relay *r, int dir, uint8_t *buf, size_t len, uint64_t now)
{
	struct dir *d = &r->d[dir];
	uint64_t v[8];
	bool lose, corrupt, dup;

	for (int i = 0; i < 8; i++)
		v[i] = next_rand(&d->rng);
	lose = v[0] % 100 < r->loss;
	corrupt = v[1] % 100 < r->corrupt;
	dup = v[3] % 100 < r->dup;
	d->rx++;
	d->rx_bytes += len;
	/* Nowhere to send it yet (the near side has not spoken): dropped
	 * before any fault is decided, so no fault is counted for a datagram
	 * that never leaves (a test compares "corrupted" with what its
	 * receiver refused). */
	if (dir == TO_NEAR && !r->near_known) {
		d->dropped++;
		return;
	}
	if (lose) {
		d->lost++;
		return;
	}
	if (corrupt && len > 0) {
		buf[(v[2] >> 3) % len] ^= (uint8_t)(1u << (v[2] & 7));
		d->corrupted++;
	}
	emit(r, dir, buf, len, v[4] % 100 < r->reorder, 1 + (unsigned)(v[5] % 3), now);
	if (dup) {
		d->duplicated++;
		emit(r, dir, buf, len, v[6] % 100 < r->reorder,
		     1 + (unsigned)(v[7] % 3), now);
	}
}

static long recv_one(struct relay *r, int fd, int side, uint8_t *buf,
		     struct sockaddr_storage *from)
{
	char cbuf[CMSG_SPACE(sizeof(uint32_t))];
	struct iovec iov = { buf, MAX_DGRAM };
	struct msghdr m = {
		.msg_name = from, .msg_namelen = sizeof(*from),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);

	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			uint32_t v;

			memcpy(&v, CMSG_DATA(c), sizeof(v));
			r->kernel_drops[side] = v;
		}
	}
	if (m.msg_flags & MSG_TRUNC)
		return -2;
	return (long)n;
}

static void print_counters(const struct relay *r, FILE *f)
{
	fprintf(f, "udprelay: seed %" PRIu64 ", loss %u%%, dup %u%%, reorder %u%%, "
		"corrupt %u%%\n", r->seed, r->loss, r->dup, r->reorder, r->corrupt);
	for (int dir = 0; dir < 2; dir++) {
		const struct dir *d = &r->d[dir];

		fprintf(f, "udprelay: %s rx %" PRIu64 " (%" PRIu64 " bytes) tx %" PRIu64
			" (%" PRIu64 " bytes) lost %" PRIu64 " corrupted %" PRIu64
			" duplicated %" PRIu64 " reordered %" PRIu64
			" released_by_timer %" PRIu64 " held %u dropped %" PRIu64
			" send_errors %" PRIu64 " socket_drops %" PRIu64 "\n",
			dir_name[dir], d->rx, d->rx_bytes, d->tx, d->tx_bytes, d->lost,
			d->corrupted, d->duplicated, d->reordered, d->released_by_timer,
			d->nheld, d->dropped, d->send_errors,
			r->kernel_drops[dir == TO_FAR ? 0 : 1]);
	}
	fprintf(f, "udprelay: foreign %" PRIu64 " near_changes %" PRIu64 "\n",
		r->foreign, r->near_changes);
	fflush(f);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 's' },
		{ "loss", required_argument, NULL, 'l' },
		{ "dup", required_argument, NULL, 'd' },
		{ "reorder", required_argument, NULL, 'r' },
		{ "corrupt", required_argument, NULL, 'c' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct relay r;
	struct sockaddr_storage listen_at, bind_far, from;
	bool bind_set = false, seed_set = false;
	static uint8_t buf[MAX_DGRAM];
	struct sigaction sa;
	sigset_t block, empty;
	char a1[80], a2[80], a3[80];
	int c;

	r.hold_ms = 20;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!parse_addr(optarg, &bind_far)) {
				fprintf(stderr, "udprelay: bad --bind '%s'\n", optarg);
				return 2;
			}
			bind_set = true;
			break;
		case 's': {
			char *end;

			errno = 0;
			r.seed = (uint64_t)strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg || *optarg == '-') {
				fprintf(stderr, "udprelay: bad --seed '%s'\n", optarg);
				return 2;
			}
			seed_set = true;
			break;
		}
		case 'l': r.loss = (unsigned)num(optarg, 100, "--loss"); break;
		case 'd': r.dup = (unsigned)num(optarg, 100, "--dup"); break;
		case 'r': r.reorder = (unsigned)num(optarg, 100, "--reorder"); break;
		case 'c': r.corrupt = (unsigned)num(optarg, 100, "--corrupt"); break;
		case 'H': r.hold_ms = (unsigned)num(optarg, 60000, "--hold-ms"); break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	if (!parse_addr(argv[optind], &listen_at) ||
	    !parse_addr(argv[optind + 1], &r.forward)) {
		fprintf(stderr, "udprelay: bad address (want a.b.c.d:port or [v6]:port)\n");
		return 2;
	}
	if (!bind_set) {
		memset(&bind_far, 0, sizeof(bind_far));
		bind_far.ss_family = r.forward.ss_family;
	}
	if (bind_far.ss_family != r.forward.ss_family) {
		fprintf(stderr, "udprelay: --bind and FORWARD differ in family\n");
		return 2;
	}
	if (!seed_set && getrandom(&r.seed, sizeof(r.seed), 0) != sizeof(r.seed))
		r.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	r.d[TO_FAR].rng = r.seed ^ 0x6e656172u;		/* "near" */
	r.d[TO_NEAR].rng = r.seed ^ 0x66617200u << 8;	/* "far" */

	if ((r.fd_near = open_socket(&listen_at, "listen")) < 0 ||
	    (r.fd_far = open_socket(&bind_far, "bind")) < 0)
		return 1;
	{
		struct sockaddr_storage b;
		socklen_t bl = sizeof(b);

		getsockname(r.fd_far, (struct sockaddr *)&b, &bl);
		addr_str(&listen_at, a1, sizeof(a1));
		addr_str(&r.forward, a2, sizeof(a2));
		addr_str(&b, a3, sizeof(a3));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &empty);
	sigdelset(&empty, SIGTERM);
	sigdelset(&empty, SIGINT);
	sigdelset(&empty, SIGUSR1);

	printf("udprelay: seed %" PRIu64 " (replay with --seed %" PRIu64 "), listen %s, "
	       "forward %s from %s, loss %u%% dup %u%% reorder %u%% corrupt %u%% "
	       "hold %u ms\n", r.seed, r.seed, a1, a2, a3, r.loss, r.dup, r.reorder,
	       r.corrupt, r.hold_ms);
	fflush(stdout);

	while (!got_term) {
		struct pollfd p[2] = { { r.fd_near, POLLIN, 0 }, { r.fd_far, POLLIN, 0 } };
		uint64_t now = now_ms();
		int t = poll_timeout(&r, now), n;
		struct timespec ts, *tsp = NULL;

		if (t >= 0) {
			ts.tv_sec = t / 1000;
			ts.tv_nsec = (long)(t % 1000) * 1000000;
			tsp = &ts;
		}
		n = ppoll(p, 2, tsp, &empty);
		if (got_usr1) {
			got_usr1 = 0;
			print_counters(&r, stdout);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("udprelay: poll");
			break;
		}
		now = now_ms();
		/* Near side first, then far, a bounded burst each: arrival
		 * order within a direction is what the decisions follow. */
		for (int burst = 0; burst < 256 && (p[0].revents & POLLIN); burst++) {
			long len = recv_one(&r, r.fd_near, 0, buf, &from);

			if (len == -1)
				break;
			if (len == -2) {
				r.d[TO_FAR].dropped++;
				continue;
			}
			if (!r.near_known || !same_endpoint(&from, &r.near)) {
				r.near_changes += r.near_known;
				r.near = from;
				r.near_known = true;
			}
			relay_one(&r, TO_FAR, buf, (size_t)len, now);
		}
		for (int burst = 0; burst < 256 && (p[1].revents & POLLIN); burst++) {
			long len = recv_one(&r, r.fd_far, 1, buf, &from);

			if (len == -1)
				break;
			if (len == -2) {
				r.d[TO_NEAR].dropped++;
				continue;
			}
			if (!same_endpoint(&from, &r.forward)) {
				r.foreign++;
				continue;
			}
			relay_one(&r, TO_NEAR, buf, (size_t)len, now);
		}
		release_expired(&r, now_ms());
	}
	/* What is still held goes out: a relay that stops loses nothing more. */
	for (int dir = 0; dir < 2; dir++)
		while (r.d[dir].nheld)
			send_held(&r, dir, 0, true);
	print_counters(&r, stdout);
	close(r.fd_near);
	close(r.fd_far);
	return 0;
}
