/*
 * ctctl.c - the operator's command line for ctsyncd.
 *
 * One command is one request frame on the control socket; the reply
 * (items, then a DONE) is printed as text or, with -j, JSON.  Commands
 * come from ctl_proto's table of requests (ctl_req_at), which also writes
 * --help; any unambiguous prefix of a command or of its argument is
 * accepted (iproute2 style).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctsync_config.h"
#include "ctl_proto.h"
#include "print.h"

#define PROG		"ctctl"
#define TIMEOUT_S	30	/* default -t: a commit of a large table takes seconds */
#define TIMEOUT_MAX_S	86400
#define RBUF_LEN	(4 * CTL_MAX_FRAME)

struct ctx {
	const char *sock;
	const char *cmd;	/* the full command name, for messages */
	unsigned timeout_s;	/* -t */
	int64_t deadline;	/* ms (CLOCK_MONOTONIC): connect, send and
				 * the first reply byte must be done by then */
	bool json, pretty;
	struct printer pr;
	struct kv_list kvs;
	uint64_t nflows;
	bool array_open;	/* JSON dump: "[" printed */
	int32_t status;		/* from DONE */
	char *msg;		/* from DONE, NULL if none */
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct word {
	const char *name;
	uint8_t value;
};

static const struct word caches[] = {
	{ "internal", CTL_CACHE_INTERNAL },
	{ "external", CTL_CACHE_EXTERNAL },
};

/* How a request's argument (ctl_req_info.arg) is written here. */
static const struct arg {
	const char *usage;		/* NULL: no argument */
	const struct word *words;	/* each gives the body byte */
	size_t n;
} args[] = {
	[CTL_ARG_NONE] = { NULL, NULL, 0 },
	[CTL_ARG_CACHE] = { "internal|external", caches, NELEM(caches) },
};

/* A command: one of the daemon's requests, or help. */
struct cmd {
	const char *name;
	const struct ctl_req_info *req;	/* NULL: help, answered here */
	const struct arg *arg;
	const char *help;
};

/*
 * The commands come from ctl_proto's table of requests, in its order,
 * then help: cmd_at(i) gives the i-th (from 0), false past the last.
 */
static bool cmd_at(size_t i, struct cmd *c)
{
	const struct ctl_req_info *r = ctl_req_at(i);

	if (r) {
		*c = (struct cmd){ r->name, r, &args[r->arg], r->help };
		return true;
	}
	if (i == 0 || !ctl_req_at(i - 1))
		return false;
	*c = (struct cmd){ "help", NULL, &args[CTL_ARG_NONE], "Show this help" };
	return true;
}

static const char *cmd_name(const void *ctx, size_t i)
{
	struct cmd c;

	return cmd_at(i, &c) ? c.name : NULL;
}

static const char *word_name(const void *ctx, size_t i)
{
	const struct arg *a = ctx;

	return i < a->n ? a->words[i].name : NULL;
}

/*
 * Look word up among the names name(ctx, i) gives for i from 0 until
 * NULL: the exact name, else the one name it is a prefix of.  Returns
 * the index, or -1 after printing why: no such name (with hint), or
 * which names it could be.  what names the word ("command").
 */
static int match(const char *word, const char *(*name)(const void *ctx, size_t i),
		 const void *ctx, const char *what, const char *hint)
{
	const char *n;
	size_t wl = strlen(word), hits = 0;
	int found = -1;

	for (size_t i = 0; (n = name(ctx, i)); i++) {
		if (strcmp(word, n) == 0)
			return (int)i;
		if (wl && strncmp(word, n, wl) == 0) {
			hits++;
			found = (int)i;
		}
	}
	if (hits == 1)
		return found;
	if (hits == 0) {
		fprintf(stderr, PROG ": unknown %s \"%s\" (%s)\n", what, word,
			hint);
		return -1;
	}
	fprintf(stderr, PROG ": ambiguous %s \"%s\":", what, word);
	for (size_t i = 0, k = 0; (n = name(ctx, i)); i++) {
		if (strncmp(word, n, wl) == 0)
			fprintf(stderr, "%s %s", k++ ? "," : "", n);
	}
	fputc('\n', stderr);
	return -1;
}

static void usage(FILE *f)
{
	struct cmd c;
	int w = 0, l;

	for (size_t i = 0; cmd_at(i, &c); i++) {
		l = (int)strlen(c.name);
		if (c.arg->usage)
			l += 1 + (int)strlen(c.arg->usage);
		if (l > w)
			w = l;
	}
	fprintf(f,
		"Usage: " PROG " [-s SOCKET] [-t SECONDS] [-j|--json] [-p|--pretty] COMMAND [ARGS]\n"
		"       " PROG " -h|--help | -V|--version\n"
		"\n"
		"Commands (any unambiguous prefix will do):\n");
	for (size_t i = 0; cmd_at(i, &c); i++) {
		l = fprintf(f, "  %s%s%s", c.name, c.arg->usage ? " " : "",
			    c.arg->usage ? c.arg->usage : "");
		fprintf(f, "%*s%s\n", w + 5 - l, "", c.help);
	}
	fprintf(f,
		"\n"
		"Options:\n"
		"  -s, --socket SOCKET  control socket (default: $CTSYNC_SOCKET, else\n"
		"                       " CTL_DEFAULT_SOCKET ")\n"
		"  -t, --timeout SECONDS\n"
		"                       give up (exit 1) if ctsyncd has not taken the\n"
		"                       request and begun to answer within SECONDS, or\n"
		"                       falls silent that long (default %d)\n"
		"  -j, --json           print JSON\n"
		"  -p, --pretty         print indented JSON (implies --json)\n"
		"  -h, --help           show this help\n"
		"  -V, --version        show the version\n", TIMEOUT_S);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until x->deadline, for poll(): 0 once it passed. */
static int left_ms(const struct ctx *x)
{
	int64_t left = x->deadline - mono_ms();

	return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/*
 * Connect to the daemon by x->deadline, or say in one line why not and
 * return -1.  The socket is non-blocking: a UNIX stream connect() whose
 * listener's backlog is full blocks until the daemon accepts, which a
 * stopped or wedged daemon never does; non-blocking it fails with EAGAIN
 * instead, and is tried again every few ms until the deadline.
 */
static int ctl_connect(struct ctx *x, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct group *gr;
	struct stat st;
	int fd, err, nap = 0;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, PROG ": socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return -1;
	}
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		err = errno;
		if (err == EINTR)
			continue;
		if (err != EAGAIN || left_ms(x) == 0)
			break;
		if (nap < 100)
			nap += 5;
		poll(NULL, 0, nap < left_ms(x) ? nap : left_ms(x));
	}
	close(fd);
	switch (err) {
	case EAGAIN:
		fprintf(stderr, PROG ": ctsyncd not answering on %s within "
			"%u s (listen backlog full)\n", path, x->timeout_s);
		break;
	case ENOENT:
	case ECONNREFUSED:	/* a socket file left by a daemon that died */
		fprintf(stderr, PROG ": ctsyncd not running (connect %s: %s)\n",
			path, strerror(err));
		break;
	case EACCES:
	case EPERM:
		fprintf(stderr, PROG ": permission denied (connect %s: %s); ",
			path, strerror(err));
		if (stat(path, &st) == 0 && st.st_gid != 0 &&
		    (gr = getgrgid(st.st_gid)))
			fprintf(stderr, "run as root or as a member of group "
				"%s\n", gr->gr_name);
		else
			fprintf(stderr, "run as root\n");
		break;
	default:
		fprintf(stderr, PROG ": cannot reach ctsyncd (connect %s: %s)\n",
			path, strerror(err));
	}
	return -1;
}

/* Send the request by x->deadline.  0, or -1 with errno (ETIMEDOUT). */
static int send_all(struct ctx *x, int fd, const uint8_t *p, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -1;
			if (poll(&pfd, 1, left_ms(x)) == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fail(struct ctx *x, const char *what)
{
	fprintf(stderr, PROG ": %s: %s\n", x->cmd, what);
}

/* One reply frame.  Returns 1 after DONE, 0 for more, -1 if malformed. */
static int on_frame(struct ctx *x, const struct cmd *c, const struct ctl_frame *f)
{
	struct ctl_kv kv;
	struct flow flow;
	struct flow_ext ext;
	uint32_t origin;
	const char *msg;

	switch (f->type) {
	case CTL_REP_KV:
		if (ctl_get_kv(f, &kv) < 0)
			return -1;
		if (c->req->reply == CTL_REPLY_FLOWS)
			return 0;
		if (kv_list_add(&x->kvs, kv.section, kv.key,
				kv.vtype == CTL_V_STR ? kv.str : NULL, kv.u64) < 0) {
			fail(x, strerror(ENOMEM));
			exit(1);
		}
		return 0;
	case CTL_REP_FLOW:
		if (ctl_get_flow(f, &origin, &flow, &ext) < 0)
			return -1;
		if (c->req->reply != CTL_REPLY_FLOWS)
			return 0;
		if (!x->array_open) {
			print_open_array(&x->pr, NULL);
			x->array_open = true;
		}
		print_flow(&x->pr, origin, &flow);
		x->nflows++;
		return 0;
	case CTL_REP_DONE:
		if (ctl_get_done(f, &x->status, &msg) < 0)
			return -1;
		if (msg && *msg && !(x->msg = strdup(msg))) {
			fail(x, strerror(ENOMEM));
			exit(1);
		}
		return 1;
	default:
		return 0;	/* a newer daemon's item: not ours to print */
	}
}

/* Read reply frames until DONE.  0, or -1 after saying what went wrong. */
static int read_reply(struct ctx *x, const struct cmd *c, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct ctl_frame f;
	size_t len = 0, off;
	uint8_t *buf;
	ssize_t n;
	long fl;
	int rc = -1, r;
	bool started = false;

	buf = malloc(RBUF_LEN);
	if (!buf) {
		fail(x, strerror(ENOMEM));
		return -1;
	}
	for (;;) {
		/* The first byte is due by the deadline that connect and send
		 * shared.  After it the limit is on silence, not on the whole
		 * reply: a long dump keeps arriving, a hung daemon does not. */
		r = poll(&pfd, 1, started ? (int)x->timeout_s * 1000 : left_ms(x));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fail(x, strerror(errno));
			goto out;
		}
		if (r == 0) {
			fprintf(stderr, PROG ": %s: no answer from ctsyncd "
				"within %u s\n", x->cmd, x->timeout_s);
			goto out;
		}
		n = read(fd, buf + len, RBUF_LEN - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, PROG ": %s: read from ctsyncd: %s\n",
				x->cmd, strerror(errno));
			goto out;
		}
		if (n == 0) {
			fail(x, "ctsyncd closed the connection before "
			     "finishing its answer");
			goto out;
		}
		started = true;
		len += (size_t)n;
		off = 0;
		r = 0;
		while ((fl = ctl_frame_get(buf + off, len - off, &f)) > 0) {
			off += (size_t)fl;
			r = on_frame(x, c, &f);
			if (r < 0)
				break;
			if (r > 0) {
				rc = 0;
				goto out;
			}
		}
		if (fl < 0 || r < 0) {
			fail(x, "malformed reply from ctsyncd");
			goto out;
		}
		/* What is left is part of one frame: less than
		 * CTL_MAX_FRAME, so the buffer never fills up. */
		memmove(buf, buf + off, len - off);
		len -= off;
	}
out:
	free(buf);
	return rc;
}

static int cmd_request(struct ctx *x, const struct cmd *c, int argc, char **argv)
{
	struct ctl_buf req = { 0 };
	uint8_t body[1];
	size_t blen = 0;
	char what[64];
	int fd, i, rc = 1;

	if (c->arg->usage) {
		if (argc < 1) {
			fprintf(stderr, PROG ": %s: missing argument %s\n",
				c->name, c->arg->usage);
			return 1;
		}
		snprintf(what, sizeof(what), "%s argument", c->name);
		i = match(argv[0], word_name, c->arg, what, c->arg->usage);
		if (i < 0)
			return 1;
		body[blen++] = c->arg->words[i].value;
		argc--;
		argv++;
	}
	if (argc > 0) {
		fprintf(stderr, PROG ": %s: unexpected argument \"%s\"\n",
			c->name, argv[0]);
		return 1;
	}

	fd = ctl_connect(x, x->sock);
	if (fd < 0)
		return 1;
	if (ctl_put_frame(&req, c->req->type, body, blen) < 0) {
		fail(x, strerror(errno));
		goto out;
	}
	if (send_all(x, fd, req.data, req.len) < 0) {
		if (errno == ETIMEDOUT)
			fprintf(stderr, PROG ": %s: ctsyncd not taking the "
				"request within %u s\n", c->name, x->timeout_s);
		else
			fprintf(stderr, PROG ": %s: send to ctsyncd: %s\n",
				c->name, strerror(errno));
		goto out;
	}
	if (read_reply(x, c, fd) < 0) {
		print_end(&x->pr);	/* keep partial JSON well-formed */
		goto out;
	}

	if (c->req->reply == CTL_REPLY_FLOWS) {
		if (x->json && (x->array_open || x->status == 0)) {
			if (!x->array_open)
				print_open_array(&x->pr, NULL);
			print_close_array(&x->pr);
		}
		if (x->status == 0)
			print_text(&x->pr, "%" PRIu64 " flow%s\n", x->nflows,
				   x->nflows == 1 ? "" : "s");
	} else if (x->status == 0 || x->kvs.n > 0) {
		print_kv_list(&x->pr, &x->kvs, x->status == 0 ? x->msg : NULL);
	}
	if (x->status != 0) {
		fail(x, x->msg ? x->msg : strerror(-x->status));
		goto out;
	}
	rc = 0;
out:
	ctl_buf_free(&req);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",  required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json",    no_argument,       NULL, 'j' },
		{ "pretty",  no_argument,       NULL, 'p' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx x = { 0 };
	struct cmd cmd;
	const char *env;
	char *end;
	unsigned long ul;
	int opt, i, rc;

	env = getenv("CTSYNC_SOCKET");
	x.sock = env && *env ? env : CTL_DEFAULT_SOCKET;
	x.timeout_s = TIMEOUT_S;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:s:t:jphV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			x.sock = optarg;
			break;
		case 't':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' ||
			    ul < 1 || ul > TIMEOUT_MAX_S) {
				fprintf(stderr, PROG ": timeout \"%s\": not a "
					"number of seconds from 1 to %d\n",
					optarg, TIMEOUT_MAX_S);
				return 1;
			}
			x.timeout_s = (unsigned)ul;
			break;
		case 'j':
			x.json = true;
			break;
		case 'p':
			x.json = x.pretty = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " " CTSYNC_VERSION "\n");
			return 0;
		case ':':
			fprintf(stderr, PROG ": option %s needs an argument "
				"(try \"" PROG " help\")\n", argv[optind - 1]);
			return 1;
		default:
			if (optopt)
				fprintf(stderr, PROG ": unknown option -%c",
					optopt);
			else
				fprintf(stderr, PROG ": unknown option %s",
					argv[optind - 1]);
			fprintf(stderr, " (try \"" PROG " help\")\n");
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 1;
	}
	i = match(argv[0], cmd_name, NULL, "command", "try \"" PROG " help\"");
	if (i < 0 || !cmd_at((size_t)i, &cmd))	/* (match() found it) */
		return 1;
	x.cmd = cmd.name;
	x.deadline = mono_ms() + (int64_t)x.timeout_s * 1000;
	print_init(&x.pr, stdout, x.json, x.pretty);
	if (cmd.req) {
		rc = cmd_request(&x, &cmd, argc - 1, argv + 1);
	} else {
		usage(stdout);
		rc = 0;
	}
	kv_list_free(&x.kvs);
	free(x.msg);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, PROG ": write error: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
