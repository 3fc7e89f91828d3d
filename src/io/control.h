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

/* A client that made no progress for this long is idle: the daemon may
 * close it to make room (ctctl sends its request as soon as it connects,
 * and reads the answer as it comes). */
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
	uint64_t active_ms;	/* accepted, last request taken or reply
				 * byte written (CLOCK_MONOTONIC) */
	void *user;		/* the daemon's watcher */
};

/* The server: the listening socket and its clients. */
struct control {
	int fd;
	struct list clients;	/* least recently active first */
	size_t nclients;
	/* counters (ctctl stats, section "control") */
	uint64_t accepted;
	uint64_t accept_errors;	/* accept() failed: EMFILE, ENFILE, ENOMEM.. */
	uint64_t evicted;	/* idle clients closed to make room */
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

/* Handle one request; append the reply (items + DONE) to c->out. */
typedef void (*control_handler)(void *arg, struct ctl_client *c,
				const struct ctl_frame *req);

/*
 * Read what is available, call h for every whole request frame.  A
 * malformed frame gets a CTL_REP_DONE with -EPROTO and the client is to
 * be closed.  A known request with a body of the wrong length gets a
 * CTL_REP_DONE with -EINVAL instead of reaching h, and the client is kept.
 * Returns 0 to keep the client, -1 to close it (EOF or error).
 */
int control_client_read(struct ctl_client *c, control_handler h, void *arg);

/* Write pending output.  Returns 1 while output remains, 0 when drained,
 * -1 on error (close). */
int control_client_write(struct ctl_client *c);

#endif
