/*
 * control.c - the daemon's UNIX control socket server.
 *
 * Access control is the socket file's mode and group: anyone who may
 * connect may run every command.  The file is created owner-only (umask)
 * and only then opened up with chmod, so it is never briefly wider than
 * asked.
 *
 * A client's input is capped at one maximum frame: a frame's length field
 * is checked as soon as it arrives, so the buffer always holds at most one
 * partial frame, and requests are handled as soon as they are whole,
 * except while the client's replies pile up unread (CONTROL_OUT_HIGH in
 * control.h): then it is not read at all, and what it sends waits in the
 * kernel's socket buffers, its own send buffer last.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

#define CONTROL_BACKLOG	16

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t unsent(const struct ctl_client *c)
{
	return c->out.len - c->out_off;
}

/* Bring srv->out_total up to date with c's unsent bytes. */
static void account(struct ctl_client *c)
{
	size_t now = unsent(c);

	c->srv->out_total = c->srv->out_total - c->counted + now;
	c->counted = now;
}

/* c did something: it goes to the end of the idle order. */
static void touch(struct ctl_client *c)
{
	c->active_ms = mono_ms();
	list_del(&c->node);
	list_add_tail(&c->srv->clients, &c->node);
}

/* Resolve a group name; 0, or -1 with errno (ENOENT: no such group). */
static int group_id(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char *buf = NULL, *nbuf;
	size_t cap = 1024;
	int rc;

	for (;;) {
		nbuf = realloc(buf, cap);
		if (!nbuf) {
			rc = ENOMEM;
			break;
		}
		buf = nbuf;
		rc = getgrnam_r(name, &gr, buf, cap, &res);
		if (rc != ERANGE || cap >= (1u << 20))
			break;
		cap *= 2;
	}
	if (rc == 0 && res)
		*gid = gr.gr_gid;
	free(buf);
	if (rc == 0 && !res)
		rc = ENOENT;
	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}

/* Create path's parent directory (one level) 0755 if it is missing. */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	strcpy(dir, path);	/* the caller checked the length */
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * Remove a socket left behind by an earlier run.  Refuses (-1) if the path
 * is something other than a socket (errno EEXIST), or if a daemon still
 * answers on it (EADDRINUSE).
 */
static int remove_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc == 0 || errno == EAGAIN) {
		close(fd);
		errno = EADDRINUSE;
		return -1;
	}
	close(fd);
	if (unlink(sun->sun_path) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int control_listen(const char *path, const char *group, unsigned mode)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	gid_t gid = (gid_t)-1;
	bool bound = false;
	mode_t old_mask;
	int fd = -1, rc, err;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket %s: path too long (max %zu bytes)",
			  path, sizeof(sun.sun_path) - 1);
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);

	if (group && *group && group_id(group, &gid) < 0) {
		err = errno;
		if (err == ENOENT)
			log_warnx("control socket %s: unknown group \"%s\"",
				  path, group);
		else
			log_warn("control socket %s: group \"%s\"", path, group);
		errno = err;
		return -1;
	}
	if (make_parent(path) < 0) {
		log_warn("control socket %s: create parent directory", path);
		return -1;
	}
	if (remove_stale(&sun) < 0) {
		err = errno;
		if (err == EADDRINUSE)
			log_warnx("control socket %s: another ctsyncd is "
				  "listening on it", path);
		else if (err == EEXIST)
			log_warnx("control socket %s: exists and is not a "
				  "socket; not removing it", path);
		else
			log_warn("control socket %s", path);
		errno = err;
		return -1;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("control socket: socket");
		return -1;
	}
	old_mask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (rc < 0) {
		log_warn("control socket %s: bind", path);
		goto fail;
	}
	bound = true;
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) {
		log_warn("control socket %s: chown to group %s", path, group);
		goto fail;
	}
	if (chmod(path, (mode_t)mode) < 0) {
		log_warn("control socket %s: chmod %04o", path, mode);
		goto fail;
	}
	if (listen(fd, CONTROL_BACKLOG) < 0) {
		log_warn("control socket %s: listen", path);
		goto fail;
	}
	return fd;

fail:
	err = errno;
	if (bound)
		unlink(path);
	close(fd);
	errno = err;
	return -1;
}

void control_init(struct control *srv, int lfd)
{
	*srv = (struct control){ .fd = lfd };
	list_init(&srv->clients);
}

struct ctl_client *control_accept(struct control *srv)
{
	struct ctl_client *c;
	int fd, err;

	do
		fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd < 0) {
		if (errno == EWOULDBLOCK)
			errno = EAGAIN;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	c->fd = fd;
	c->srv = srv;
	list_init(&c->node);
	touch(c);
	srv->nclients++;
	srv->accepted++;
	return c;
}

void control_client_free(struct ctl_client *c)
{
	if (!c)
		return;
	c->srv->out_total -= c->counted;
	c->srv->nclients--;
	list_del(&c->node);
	if (c->fd >= 0)
		close(c->fd);
	ctl_buf_free(&c->in);
	ctl_buf_free(&c->out);
	free(c);
}

struct ctl_client *control_idlest(struct control *srv, uint64_t min_idle_ms,
				  const struct ctl_client *except)
{
	uint64_t now = mono_ms();
	struct ctl_client *c;

	for (struct list *n = srv->clients.next; n != &srv->clients; n = n->next) {
		c = container_of(n, struct ctl_client, node);
		if (c == except)
			continue;
		/* In order of activity: the first is the idlest. */
		return now - c->active_ms >= min_idle_ms ? c : NULL;
	}
	return NULL;
}

bool control_client_wants_read(const struct ctl_client *c)
{
	return !c->waiting && unsent(c) < CONTROL_OUT_HIGH;
}

/* Give the input buffer room for one maximum frame, once per client. */
static int in_reserve(struct ctl_buf *b)
{
	uint8_t *p;

	if (b->cap >= CTL_MAX_FRAME)
		return 0;
	p = realloc(b->data, CTL_MAX_FRAME);
	if (!p)
		return -1;
	b->data = p;
	b->cap = CTL_MAX_FRAME;
	return 0;
}

/*
 * Make room for a reply when all clients' unsent replies reach limit:
 * close clients other than c that made no progress for CONTROL_IDLE_MS,
 * idlest first.  false if that was not enough.
 */
static bool total_room(struct ctl_client *c, size_t limit,
		       control_close_cb close_cb, void *arg)
{
	struct control *srv = c->srv;
	struct ctl_client *v;

	while (srv->out_total >= limit) {
		v = control_idlest(srv, CONTROL_IDLE_MS, c);
		if (!v)
			return false;
		log_warnx("control: %zu bytes of replies unread by %zu clients; "
			  "closing one idle for %" PRIu64 " ms holding %zu",
			  srv->out_total, srv->nclients,
			  mono_ms() - v->active_ms, unsent(v));
		srv->evicted++;
		close_cb(arg, v);
	}
	return true;
}

/* Hand every whole frame in c->in to h, except requests whose body is not
 * the length their type takes: those get DONE -EINVAL here, so no handler
 * reads a body that is not there or acts on one with trailing bytes.
 * Stops, leaving the rest in c->in, while c's unsent replies are at
 * CONTROL_OUT_HIGH or its last request waits for its answer (waiting).  -1 if the stream is malformed (an error reply is
 * queued). */
static int parse_requests(struct ctl_client *c, control_handler h,
			  control_close_cb close_cb, void *arg)
{
	struct ctl_frame f;
	char msg[96];
	size_t off = 0;
	long n;
	int rc = 0, want;

	while (control_client_wants_read(c) &&
	       (n = ctl_frame_get(c->in.data + off, c->in.len - off, &f)) != 0) {
		if (n < 0) {
			ctl_put_done(&c->out, -EPROTO, "malformed request");
			rc = -1;
			break;
		}
		touch(c);
		want = ctl_req_body_len(f.type);
		if (want >= 0 && f.len != (size_t)want) {
			snprintf(msg, sizeof(msg), "request type %u: body of "
				 "%zu bytes, expected %d", f.type, f.len, want);
			ctl_put_done(&c->out, -EINVAL, msg);
		} else if (!total_room(c, f.type == CTL_REQ_DUMP ?
				       CONTROL_OUT_TOTAL : CONTROL_OUT_HARD,
				       close_cb, arg)) {
			c->srv->refused++;
			snprintf(msg, sizeof(msg), "ctsyncd busy: %zu MiB of "
				 "replies unread by other clients",
				 c->srv->out_total >> 20);
			ctl_put_done(&c->out, -ENOBUFS, msg);
		} else {
			h(arg, c, &f);
		}
		account(c);
		off += (size_t)n;
	}
	ctl_buf_consume(&c->in, off);
	account(c);
	return rc;
}

int control_client_read(struct ctl_client *c, control_handler h,
			control_close_cb close_cb, void *arg)
{
	ssize_t n;

	if (in_reserve(&c->in) < 0) {
		log_warn("control client: input buffer");
		return -1;
	}
	/* Requests left over while the client was over CONTROL_OUT_HIGH. */
	if (c->in.len && parse_requests(c, h, close_cb, arg) < 0)
		goto bad;
	if (!control_client_wants_read(c))
		return 0;
	/* After parsing, what is left is less than one frame, and a frame
	 * is at most CTL_MAX_FRAME: there is always room to read into. */
	do
		n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != ECONNRESET)
			log_warn("control client: read");
		return -1;
	}
	if (n == 0) {
		/* EOF.  A client that half-closed after its request still
		 * gets what is already queued, as far as it fits now. */
		control_client_write(c);
		return -1;
	}
	c->in.len += (size_t)n;
	if (parse_requests(c, h, close_cb, arg) < 0)
		goto bad;
	return 0;

bad:
	/* Best effort: the error reply goes out before the daemon closes
	 * the connection. */
	control_client_write(c);
	return -1;
}

int control_client_write(struct ctl_client *c)
{
	ssize_t n;

	while (c->out_off < c->out.len) {
		n = send(c->fd, c->out.data + c->out_off,
			 c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno != EPIPE && errno != ECONNRESET)
				log_warn("control client: write");
			return -1;
		}
		c->out_off += (size_t)n;
		touch(c);
	}
	if (c->out_off == c->out.len) {
		c->out.len = 0;
		c->out_off = 0;
		account(c);
		return 0;
	}
	account(c);
	/* Compact only once the written part outweighs the rest, so a reply
	 * of n bytes costs O(n) copying in total however it is written. */
	if (c->out_off >= c->out.len - c->out_off) {
		ctl_buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	return 1;
}
