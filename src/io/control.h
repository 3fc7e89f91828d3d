/*
 * control.h - the daemon's UNIX control socket server.
 *
 * control.c accepts clients, reads request frames and queues reply bytes;
 * the daemon decides what each request means through the handler and
 * watches each client's fd (read always, write while output is pending).
 */
#ifndef CTSYNC_CONTROL_H
#define CTSYNC_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl_proto.h"
#include "list.h"

/*
 * Reply memory.  A client whose unsent replies reach CONTROL_OUT_HIGH is
 * not read until they drain below it (its requests wait in its socket,
 * then in its own send buffer): one client holds at most that much plus
 * one reply, however many requests it pipelines.  One reply may be larger
 * (a dump is built whole).  Across all clients, a dump request that finds
 * CONTROL_OUT_TOTAL unsent, or any request that finds CONTROL_OUT_HARD,
 * first closes the clients that have made no progress for
 * CONTROL_IDLE_MS, least recently active first, and is answered -ENOBUFS
 * if that is not enough.  Small replies get the larger allowance so that
 * keepalived's ctctl ready is still answered while an operator reads a
 * dump of a large table.
 */
#define CONTROL_OUT_HIGH	(1u << 20)
#define CONTROL_OUT_TOTAL	(64u << 20)
#define CONTROL_OUT_HARD	(256u << 20)
#define CONTROL_IDLE_MS		1000

struct control;

struct ctl_client {
	int fd;
	struct control *srv;
	struct list node;	/* in srv->clients */
	struct ctl_buf in;
	struct ctl_buf out;	/* pending: out.data[out_off..out.len) */
	size_t out_off;		/* bytes of out already written; control.c
				 * compacts lazily so a large reply costs
				 * linear time, and resets out.len to 0
				 * when drained (out.len > 0 = pending) */
	size_t counted;		/* unsent bytes counted in srv->out_total */
	uint64_t active_ms;	/* accepted, last request taken or reply
				 * byte written (CLOCK_MONOTONIC) */
	bool waiting;		/* set by the handler: the request just
				 * taken is answered later (a commit runs
				 * over many turns of the loop); nothing
				 * more is read from c until it is cleared */
	void *user;		/* the daemon's watcher */
};

/* The server: the listening socket and its clients. */
struct control {
	int fd;
	struct list clients;	/* least recently active first */
	size_t nclients;
	size_t out_total;	/* unsent reply bytes, all clients */
	/* counters (ctctl stats, section "control") */
	uint64_t accepted;
	uint64_t accept_errors;	/* accept() failed: EMFILE, ENFILE, ENOMEM.. */
	uint64_t evicted;	/* idle clients closed to make room */
	uint64_t refused;	/* requests answered -ENOBUFS */
};

/* Take lfd (from control_listen()) as srv's listening socket. */
void control_init(struct control *srv, int lfd);

/*
 * Create the listening socket: unlink path, bind, chmod mode, chown to
 * group (by name; "" keeps root's).  Creates the parent directory 0755 if
 * missing.  Returns the fd (non-blocking, close-on-exec), or -1 with errno
 * (and a log line): ENOENT for an unknown group, EADDRINUSE if a daemon
 * still answers on path, EEXIST if path exists and is not a socket.
 */
int control_listen(const char *path, const char *group, unsigned mode);

/*
 * Accept one client (non-blocking fd) and add it to srv.  NULL with errno
 * EAGAIN when none is pending; NULL with another errno when accept()
 * failed in a way that retrying at once will not cure (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM: the connection stays in the backlog and the socket
 * stays readable, so the caller must stop watching it for a while).
 * EINTR and ECONNABORTED are retried here.
 */
struct ctl_client *control_accept(struct control *srv);
/* Close c and take it off its server. */
void control_client_free(struct ctl_client *c);

/* The least recently active client, if it has been idle for at least
 * min_idle_ms, else NULL.  Not except (may be NULL). */
struct ctl_client *control_idlest(struct control *srv, uint64_t min_idle_ms,
				  const struct ctl_client *except);

/* Whether the daemon should watch c for requests: false while its unsent
 * replies are at CONTROL_OUT_HIGH or more, or while it waits for the
 * answer to its last request (c->waiting), so answers keep their order. */
bool control_client_wants_read(const struct ctl_client *c);

/* Handle one request; append the reply (items + DONE) to c->out. */
typedef void (*control_handler)(void *arg, struct ctl_client *c,
				const struct ctl_frame *req);

/*
 * Call h for every whole request frame already buffered, then, unless
 * c's unsent replies reached CONTROL_OUT_HIGH (requests left buffered
 * wait for the next call), read what is available and do the same.  A
 * malformed frame gets a CTL_REP_DONE with -EPROTO and the client is to
 * be closed.  A known request with a body of the wrong length gets a
 * CTL_REP_DONE with -EINVAL instead of reaching h, and the client is kept.
 * Before h, when all clients' unsent replies reach CONTROL_OUT_TOTAL (a
 * dump) or CONTROL_OUT_HARD, idle clients are closed (through close_cb,
 * which must call control_client_free()) or the request is answered
 * -ENOBUFS.
 * Returns 0 to keep the client, -1 to close it (EOF or error).
 */
typedef void (*control_close_cb)(void *arg, struct ctl_client *victim);
int control_client_read(struct ctl_client *c, control_handler h,
			control_close_cb close_cb, void *arg);

/* Write pending output.  Returns 1 while output remains, 0 when drained,
 * -1 on error (close). */
int control_client_write(struct ctl_client *c);

#endif
