/*
 * privs.c - drop privileges with libcap-ng: it keeps the permitted set
 * across setresuid (PR_SET_KEEPCAPS and the re-raise of the effective
 * set), which is the part hand-written code gets wrong.  And the
 * real-time scheduling asked for, set while that is still allowed.
 */
#include <cap-ng.h>
#include <errno.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

int privs_drop(const char *user)
{
	struct passwd *pw = NULL;
	int r;

	if (user && *user && !(pw = getpwnam(user))) {
		log_warnx("user %s: no such user", user);
		return -1;
	}
	if (geteuid() != 0) {
		log_info("not started as root: privileges left as they are");
		return 0;
	}
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
			  CAP_NET_ADMIN, CAP_NET_RAW, -1) < 0) {
		log_warnx("capabilities: cannot build the set");
		return -1;
	}
	if (pw)
		r = capng_change_id((int)pw->pw_uid, (int)pw->pw_gid,
				    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	else
		r = capng_apply(CAPNG_SELECT_BOTH);
	if (r < 0) {
		log_warnx("dropping privileges failed (libcap-ng error %d)", r);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_warn("no_new_privs");
		return -1;
	}
	log_info("privileges dropped: %s%s, CAP_NET_ADMIN and CAP_NET_RAW only",
		 pw ? "user " : "root", pw ? user : "");
	return 0;
}

void privs_realtime(unsigned prio)
{
	struct sched_param sp = { .sched_priority = (int)prio };

	if (prio == 0)
		return;
	if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp) < 0) {
		log_warnx("rt_priority %u: cannot use real-time scheduling (%s); "
			  "running time-shared, replication lag may grow under load "
			  "(needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least %u)",
			  prio, strerror(errno), prio);
		return;
	}
	log_info("scheduling: SCHED_RR priority %u", prio);
}
