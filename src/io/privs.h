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

/*
 * Run at real-time priority prio (SCHED_RR, not inherited by children);
 * 0 leaves the scheduling as it is.  A kernel event then waits for no
 * time-shared task; the kernel's RT throttling still leaves others a
 * share of each CPU.  Failure is logged, not fatal: the daemon works
 * time-shared, with more lag under load.
 */
void privs_realtime(unsigned prio);

#endif
