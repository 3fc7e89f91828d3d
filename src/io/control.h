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
#include <sys/types.h>

#include "ctl_proto.h"

struct ctl_client {
	int fd;
	struct ctl_buf in;
	struct ctl_buf out;	/* pending: out.data[out_off..out.len) */
	size_t out_off;		/* bytes of out already written; control.c
				 * compacts lazily so a large reply costs
				 * linear time, and resets out.len to 0
				 * when drained (out.len > 0 = pending) */
	void *user;		/* the daemon's watcher */
};

/*
 * Create the listening socket: unlink path, bind, chmod mode, chown to
 * group (by name; "" keeps root's).  Creates the parent directory 0755 if
 * missing.  Returns the fd (non-blocking, close-on-exec), or -1 with errno
 * (and a log line): ENOENT for an unknown group, EADDRINUSE if a daemon
 * still answers on path, EEXIST if path exists and is not a socket.
 */
int control_listen(const char *path, const char *group, unsigned mode);

/* Accept one client (non-blocking fd).  NULL on error or none pending. */
struct ctl_client *control_accept(int lfd);
void control_client_free(struct ctl_client *c);

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
