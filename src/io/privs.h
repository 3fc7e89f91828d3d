/*
 * privs.h - give up what ctsyncd does not need once its sockets are open.
 */
#ifndef CTSYNC_PRIVS_H
#define CTSYNC_PRIVS_H

/*
 * Keep CAP_NET_ADMIN (ctnetlink dumps and commits are checked on every
 * request) and CAP_NET_RAW; drop every other capability, the bounding set
 * included, and set no_new_privs.  With user non-empty, also switch to
 * that user and its group, keeping those two capabilities.
 * Returns 0, or -1 with a log line saying why.
 */
int privs_drop(const char *user);

#endif
