/*
 * ctattack - a man in the middle on the sync link, for the attack test
 * (tests/netns/test_attack.sh): it relays, records, and on command sends
 * forged, tampered and replayed datagrams to one side.
 *
 *   ctattack LISTEN FORWARD --bind ADDR:PORT --control FIFO
 *
 * LISTEN, FORWARD and ADDR:PORT are a.b.c.d:port or [v6addr]:port.
 *
 *   near side                   ctattack                      far side
 *   (fw1's ctsyncd) --> LISTEN [socket A]  [socket B --bind] --> FORWARD
 *                   <--                                       <-- (fw2's)
 *
 * As in udprelay, the near side is whoever sent the last datagram that
 * arrived on socket A, and socket B only takes datagrams from FORWARD.
 * Both directions are relayed at once, unchanged and in order.  Every
 * near->far datagram that is at least a ctsync header long is recorded,
 * in arrival order, with the epoch in its header (the sender's life),
 * until 65536 datagrams or 64 MiB are held (then they are only counted).
 * What it sends to the far side on command leaves from socket B, so it
 * comes from the near side's peer address: a unicast ctsyncd knows its
 * peers by address alone.
 *
 * Commands come one a line from the FIFO CONTROL (opened read-write, so
 * writers may come and go).  EPOCH is hex, as `ctctl -j status` shows a
 * daemon's epoch; N is a count.
 *   forge N          N DATA datagrams, not sealed, each with 8 FLOW
 *                    records for flows nobody has: TCP 198.51.100.250:P ->
 *                    203.0.113.250:22, ESTABLISHED, ASSURED, mark 0x666, P
 *                    counting up from 20000 over the whole run.  They carry
 *                    the near side's node id and epoch and the seq, base
 *                    and counter its next datagram would have (from the
 *                    last one recorded), so a receiver that took them
 *                    would apply them.
 *   forge-sealed ID N  the same, sealed as ctsync-protocol(7) says under
 *                    key id ID with a key nobody has (32 bytes 0xa5), and
 *                    encrypted if the near side's last datagram was.
 *   tamper EPOCH N   the first N recorded DATA datagrams of life EPOCH
 *                    that have a payload, each with bit 0 of its middle
 *                    payload byte flipped.
 *   replay EPOCH N   the first N recorded datagrams of life EPOCH (any
 *                    type), byte for byte.
 *   hold on|off      while on, near->far datagrams are dropped (counted,
 *                    not recorded): the far side hears nothing of the near
 *                    side but what it is sent on command.
 *   stats            the counters (below) and the recorded lives.
 * Each command is answered by exactly one line on standard output,
 *   ctattack: #K COMMAND: sent M ...      (M may be less than N when
 *                                          fewer datagrams are recorded)
 *   ctattack: #K COMMAND: error: WHY
 * where K counts the command lines read, from 1: a script that waits for
 * "#K " knows its command was carried out.
 *
 * The counters go to standard output on SIGTERM or SIGINT (then it exits
 * 0).  Exit status 2 on bad usage, 1 on a socket or FIFO error at
 * start-up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <unistd.h>

#include "endpoint.h"
#include "auth.h"
#include "ctsync/wire.h"
#include "flow.h"
#include "proto.h"

#define MAX_DGRAM	65536
#define MAX_REC		65536
#define MAX_REC_BYTES	(64u << 20)
#define SOCK_BUF	(8 << 20)
#define FORGE_FLOWS	8
#define FORGE_SRC	"198.51.100.250"
#define FORGE_DST	"203.0.113.250"
#define FORGE_PORT0	20000
#define FORGE_MARK	0x666

struct rec {
	uint32_t epoch;
	uint8_t  type;
	uint16_t len;			/* UDP payload bytes */
	uint8_t *buf;
};

struct attack {
	int fd_near, fd_far, fd_ctl;
	struct sockaddr_storage forward, near;
	bool near_known, hold;
	struct rec *rec;
	size_t nrec, rec_bytes;
	unsigned forge_port;
	char line[1024];
	size_t line_len;
	unsigned ncmd;
	/* counters */
	uint64_t n2f_rx, n2f_tx, n2f_held, n2f_unrecorded, f2n_rx, f2n_tx,
		 foreign, send_errors, sealed, encrypted;
	uint64_t forged, forged_sealed, tampered, replayed;
};

static volatile sig_atomic_t got_term;

static void on_signal(int sig)
{
	(void)sig;
	got_term = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: ctattack LISTEN FORWARD --bind ADDR:PORT --control FIFO\n"
		"  addresses: a.b.c.d:port or [v6addr]:port\n");
	exit(2);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static int open_socket(const struct sockaddr_storage *at, const char *what)
{
	int fd = socket(at->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int v = SOCK_BUF;

	if (fd < 0) {
		perror("ctattack: socket");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (bind(fd, (const struct sockaddr *)at, sa_len(at)) < 0) {
		fprintf(stderr, "ctattack: bind (%s): %s\n", what, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static bool to_far(struct attack *a, const uint8_t *buf, size_t len)
{
	if (sendto(a->fd_far, buf, len, 0, (const struct sockaddr *)&a->forward,
		   sa_len(&a->forward)) < 0) {
		a->send_errors++;
		return false;
	}
	return true;
}

/* A near->far datagram worth keeping: at least a version-1 header. */
static void record(struct attack *a, const uint8_t *buf, size_t len)
{
	struct rec *r;

	if (len < WIRE_HDR_LEN || buf[0] != WIRE_VERSION)
		return;
	if (a->nrec == MAX_REC || a->rec_bytes + len > MAX_REC_BYTES) {
		a->n2f_unrecorded++;
		return;
	}
	r = &a->rec[a->nrec];
	if (!(r->buf = malloc(len))) {
		a->n2f_unrecorded++;
		return;
	}
	memcpy(r->buf, buf, len);
	r->len = (uint16_t)len;
	r->type = buf[1];
	r->epoch = get32(buf + 12);
	a->sealed += (get16(buf + 4) & WIRE_F_AUTH) != 0;
	a->encrypted += (get16(buf + 4) & WIRE_F_ENCRYPTED) != 0;
	a->rec_bytes += len;
	a->nrec++;
}

/* ---- forging ------------------------------------------------------------ */

static struct flow forged_flow(unsigned port)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.family = AF_INET;
	f.key.l4proto = IPPROTO_TCP;
	inet_pton(AF_INET, FORGE_SRC, &f.key.orig.src.v4);
	inet_pton(AF_INET, FORGE_DST, &f.key.orig.dst.v4);
	f.key.orig.sport = (uint16_t)port;
	f.key.orig.dport = 22;
	flow_tuple_invert(&f.key, &f.reply);
	f.status = 0x0e;		/* SEEN_REPLY | ASSURED | CONFIRMED */
	f.timeout = 432000;
	f.mark = FORGE_MARK;
	f.flags = FLOW_F_TIMEOUT | FLOW_F_PROTO | FLOW_F_MARK;
	f.proto_state = 3;		/* ESTABLISHED */
	return f;
}

/*
 * The i-th forged DATA datagram (0-based) in the name of the life of tpl
 * (the near side's last datagram), into buf (cap bytes, room for a
 * trailer left).  Returns its plain length, 0 if it does not fit.
 */
static size_t build_forged(struct attack *a, const struct rec *tpl, unsigned i,
			   uint8_t *buf, size_t cap)
{
	struct wbuf w = { buf + WIRE_HDR_LEN, 0, cap - WIRE_HDR_LEN - AUTH_TRAILER_LEN };
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_DATA,
		.node_id = get32(tpl->buf + 8), .epoch = tpl->epoch,
		/* DATA carries its own seq, the others the next one */
		.seq = get32(tpl->buf + 16) + (tpl->type == WIRE_DATA) + i,
		.base = get32(tpl->buf + 20),
	};

	for (int k = 0; k < FORGE_FLOWS; k++) {
		struct flow f = forged_flow(a->forge_port++);

		if (wire_put_flow(&w, &f) < 0)
			return 0;
	}
	h.length = (uint16_t)(WIRE_HDR_LEN + w.len);
	wire_hdr_put(buf, &h);
	return h.length;
}

/* The near side's sealing counter after tpl, or 1 if tpl is not sealed. */
static uint64_t counter_after(const struct rec *tpl)
{
	size_t plain = get16(tpl->buf + 2);

	if (!(get16(tpl->buf + 4) & WIRE_F_AUTH) || plain + AUTH_TRAILER_LEN != tpl->len)
		return 1;
	return get64(tpl->buf + plain) + 1;
}

/* forge N / forge-sealed ID N.  key_id 0: not sealed. */
static void cmd_forge(struct attack *a, unsigned key_id, unsigned long n,
		      char *out, size_t olen)
{
	static uint8_t buf[2048];
	const struct rec *tpl;
	struct auth_keyring kr;
	unsigned first = a->forge_port;
	uint64_t ctr;
	unsigned long sent = 0;

	if (!a->nrec) {
		snprintf(out, olen, "error: nothing recorded yet to take the near "
			 "side's identity from");
		return;
	}
	tpl = &a->rec[a->nrec - 1];
	ctr = counter_after(tpl);
	memset(&kr, 0, sizeof(kr));
	kr.n = 1;
	kr.keys[0].id = (uint16_t)key_id;
	memset(kr.keys[0].key, 0xa5, sizeof(kr.keys[0].key));
	kr.encrypt = (get16(tpl->buf + 4) & WIRE_F_ENCRYPTED) != 0;
	for (unsigned long i = 0; i < n; i++) {
		size_t len = build_forged(a, tpl, (unsigned)i, buf, sizeof(buf));

		if (len && key_id)
			len = auth_seal(&kr, buf, len, sizeof(buf), ctr + i);
		if (len && to_far(a, buf, len))
			sent++;
	}
	if (key_id)
		a->forged_sealed += sent;
	else
		a->forged += sent;
	snprintf(out, olen, "sent %lu%s%s, flows " FORGE_SRC ":%u-%u -> " FORGE_DST
		 ":22, node %08x epoch %08x", sent, key_id ? " sealed" : " unsealed",
		 key_id && kr.encrypt ? " encrypted" : "", first, a->forge_port - 1,
		 get32(tpl->buf + 8), tpl->epoch);
}

/* tamper EPOCH N (flip: true) / replay EPOCH N. */
static void cmd_resend(struct attack *a, uint32_t epoch, unsigned long n, bool flip,
		       char *out, size_t olen)
{
	static uint8_t buf[MAX_DGRAM];
	unsigned long sent = 0, of = 0;

	for (size_t i = 0; i < a->nrec; i++) {
		const struct rec *r = &a->rec[i];
		size_t plain = get16(r->buf + 2);

		if (r->epoch != epoch)
			continue;
		if (flip && (r->type != WIRE_DATA || plain <= WIRE_HDR_LEN || plain > r->len))
			continue;
		of++;
		if (sent == n)
			continue;
		memcpy(buf, r->buf, r->len);
		if (flip)
			buf[WIRE_HDR_LEN + (plain - WIRE_HDR_LEN) / 2] ^= 0x01;
		if (to_far(a, buf, r->len))
			sent++;
	}
	if (flip)
		a->tampered += sent;
	else
		a->replayed += sent;
	snprintf(out, olen, "sent %lu of the %lu recorded%s of epoch %08x", sent, of,
		 flip ? " DATA datagrams with a payload" : "", epoch);
}

static void cmd_stats(const struct attack *a, char *out, size_t olen)
{
	size_t n = (size_t)snprintf(out, olen, "near->far rx %" PRIu64 " tx %" PRIu64
		" held %" PRIu64 " recorded %zu (sealed %" PRIu64 ", encrypted %" PRIu64
		") unrecorded %" PRIu64 "; far->near rx %" PRIu64 " tx %" PRIu64
		"; injected forged %" PRIu64 " forged_sealed %" PRIu64 " tampered %"
		PRIu64 " replayed %" PRIu64 "; send_errors %" PRIu64 " foreign %" PRIu64
		"; lives", a->n2f_rx, a->n2f_tx, a->n2f_held, a->nrec, a->sealed,
		a->encrypted, a->n2f_unrecorded, a->f2n_rx, a->f2n_tx, a->forged,
		a->forged_sealed, a->tampered, a->replayed, a->send_errors, a->foreign);

	/* Each life in order of first appearance, with its count. */
	for (size_t i = 0; i < a->nrec && n < olen; i++) {
		size_t c = 0;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = a->rec[j].epoch == a->rec[i].epoch;
		if (seen)
			continue;
		for (size_t j = i; j < a->nrec; j++)
			c += a->rec[j].epoch == a->rec[i].epoch;
		n += (size_t)snprintf(out + n, olen - n, " %08x:%zu", a->rec[i].epoch, c);
	}
}

static bool parse_count(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return !errno && !*end && *v <= max && *s != '-';
}

static bool parse_epoch(const char *s, uint32_t *v)
{
	char *end;
	unsigned long x;

	if (!s || !*s)
		return false;
	errno = 0;
	x = strtoul(s, &end, 16);
	if (errno || *end || x > UINT32_MAX || *s == '-')
		return false;
	*v = (uint32_t)x;
	return true;
}

static void command(struct attack *a, char *line)
{
	char out[4096] = "error: unknown command (forge N, forge-sealed ID N, "
			 "tamper EPOCH N, replay EPOCH N, hold on|off, stats)";
	char copy[sizeof(a->line)], *save, *w[4] = { NULL };
	unsigned long n, id;
	uint32_t epoch;
	int nw = 0;

	snprintf(copy, sizeof(copy), "%s", line);
	for (char *t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save))
		if (nw < 4)
			w[nw++] = t;
		else
			nw++;
	if (nw == 0)
		return;
	a->ncmd++;
	if (!strcmp(w[0], "forge") && nw == 2) {
		if (parse_count(w[1], 100000, &n))
			cmd_forge(a, 0, n, out, sizeof(out));
	} else if (!strcmp(w[0], "forge-sealed") && nw == 3) {
		if (parse_count(w[1], 65535, &id) && id >= 1 && parse_count(w[2], 100000, &n))
			cmd_forge(a, (unsigned)id, n, out, sizeof(out));
	} else if ((!strcmp(w[0], "tamper") || !strcmp(w[0], "replay")) && nw == 3) {
		if (parse_epoch(w[1], &epoch) && parse_count(w[2], MAX_REC, &n))
			cmd_resend(a, epoch, n, w[0][0] == 't', out, sizeof(out));
	} else if (!strcmp(w[0], "hold") && nw == 2 &&
		   (!strcmp(w[1], "on") || !strcmp(w[1], "off"))) {
		a->hold = !strcmp(w[1], "on");
		snprintf(out, sizeof(out), "near->far %s (%" PRIu64 " held so far)",
			 a->hold ? "held" : "relayed", a->n2f_held);
	} else if (!strcmp(w[0], "stats") && nw == 1) {
		cmd_stats(a, out, sizeof(out));
	}
	printf("ctattack: #%u %s: %s\n", a->ncmd, copy, out);
	fflush(stdout);
}

static void read_control(struct attack *a)
{
	for (;;) {
		ssize_t r = read(a->fd_ctl, a->line + a->line_len,
				 sizeof(a->line) - 1 - a->line_len);
		char *nl;

		if (r <= 0)
			return;
		a->line_len += (size_t)r;
		a->line[a->line_len] = '\0';
		while ((nl = strchr(a->line, '\n'))) {
			size_t used = (size_t)(nl - a->line) + 1;

			*nl = '\0';
			command(a, a->line);
			memmove(a->line, a->line + used, a->line_len - used + 1);
			a->line_len -= used;
		}
		if (a->line_len == sizeof(a->line) - 1)
			a->line_len = 0;	/* a line too long: dropped */
	}
}

static void relay(struct attack *a, int from_fd)
{
	static uint8_t buf[MAX_DGRAM];
	struct sockaddr_storage from;

	for (int burst = 0; burst < 256; burst++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(from_fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);

		if (n < 0)
			return;
		if (from_fd == a->fd_near) {
			a->near = from;
			a->near_known = true;
			a->n2f_rx++;
			if (a->hold) {
				a->n2f_held++;
				continue;
			}
			if (to_far(a, buf, (size_t)n)) {
				a->n2f_tx++;
				record(a, buf, (size_t)n);
			}
		} else {
			if (!same_endpoint(&from, &a->forward)) {
				a->foreign++;
				continue;
			}
			a->f2n_rx++;
			if (!a->near_known)
				continue;
			if (sendto(a->fd_near, buf, (size_t)n, 0,
				   (const struct sockaddr *)&a->near, sa_len(&a->near)) < 0)
				a->send_errors++;
			else
				a->f2n_tx++;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct attack a;
	struct sockaddr_storage listen_at, bind_far;
	const char *ctl = NULL;
	bool bind_set = false;
	struct sigaction sa;
	sigset_t block, empty;
	char out[4096];
	int c;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!parse_addr(optarg, &bind_far)) {
				fprintf(stderr, "ctattack: bad --bind '%s'\n", optarg);
				return 2;
			}
			bind_set = true;
			break;
		case 'c': ctl = optarg; break;
		default: usage();
		}
	}
	if (argc - optind != 2 || !bind_set || !ctl)
		usage();
	if (!parse_addr(argv[optind], &listen_at) || !parse_addr(argv[optind + 1], &a.forward) ||
	    bind_far.ss_family != a.forward.ss_family) {
		fprintf(stderr, "ctattack: bad address (a.b.c.d:port or [v6]:port; "
			"--bind and FORWARD of one family)\n");
		return 2;
	}
	if (!(a.rec = calloc(MAX_REC, sizeof(*a.rec)))) {
		perror("ctattack: calloc");
		return 1;
	}
	a.forge_port = FORGE_PORT0;
	if ((a.fd_ctl = open(ctl, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
		fprintf(stderr, "ctattack: %s: %s\n", ctl, strerror(errno));
		return 1;
	}
	if ((a.fd_near = open_socket(&listen_at, "listen")) < 0 ||
	    (a.fd_far = open_socket(&bind_far, "bind")) < 0)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &empty);
	sigdelset(&empty, SIGTERM);
	sigdelset(&empty, SIGINT);

	printf("ctattack: relaying %s <-> %s, control %s\n", argv[optind],
	       argv[optind + 1], ctl);
	fflush(stdout);
	while (!got_term) {
		struct pollfd p[3] = {
			{ a.fd_near, POLLIN, 0 }, { a.fd_far, POLLIN, 0 },
			{ a.fd_ctl, POLLIN, 0 },
		};
		int n = ppoll(p, 3, NULL, &empty);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("ctattack: poll");
			break;
		}
		if (p[0].revents & POLLIN)
			relay(&a, a.fd_near);
		if (p[1].revents & POLLIN)
			relay(&a, a.fd_far);
		if (p[2].revents & POLLIN)
			read_control(&a);
	}
	cmd_stats(&a, out, sizeof(out));
	printf("ctattack: exit: %s\n", out);
	for (size_t i = 0; i < a.nrec; i++)
		free(a.rec[i].buf);
	free(a.rec);
	close(a.fd_ctl);
	close(a.fd_near);
	close(a.fd_far);
	return 0;
}
