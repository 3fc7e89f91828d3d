/*
 * ctsync/ctl.h - the control protocol between ctctl and ctsyncd over a
 * UNIX stream socket.  Native byte order (same host).
 *
 * Every message is a frame:
 *   u32 len (whole frame, >= 8, <= CTL_MAX_FRAME)  u16 type  u16 flags
 *   followed by len - 8 bytes of body.
 *
 * A client sends one request frame; the daemon answers with zero or more
 * item frames and exactly one CTL_DONE frame, then waits for the next
 * request on the same connection.  Requests that change state (commit,
 * flush, resync, bulk, master, backup) arriving while a commit runs are
 * answered after it, in the order they came; the others at once.
 *
 * Errors: a len field out of range answers DONE -EPROTO and the daemon
 * closes the connection (the stream cannot be resynchronised).  A request
 * whose body is not the length given below answers DONE -EINVAL, an
 * unknown request type DONE -EOPNOTSUPP; the connection stays open.
 */
#ifndef CTSYNC_CTL_H
#define CTSYNC_CTL_H

#include <stdint.h>

#define CTL_HDR_LEN	8
#define CTL_MAX_FRAME	65536
#define CTL_DEFAULT_SOCKET "/run/ctsyncd/ctsyncd.sock"

/* requests: body is empty unless noted */
enum ctl_req {
	CTL_REQ_STATUS	= 1,
	CTL_REQ_STATS	= 2,
	CTL_REQ_DUMP	= 3,	/* body: u8 CTL_CACHE_* */
	CTL_REQ_COMMIT	= 4,
	CTL_REQ_FLUSH	= 5,	/* body: u8 CTL_CACHE_* */
	CTL_REQ_RESYNC	= 6,	/* ask peers for their tables */
	CTL_REQ_BULK	= 7,	/* send ours to the peers */
	CTL_REQ_MASTER	= 8,	/* became master: commit, announce, resync */
	CTL_REQ_BACKUP	= 9,	/* became backup (or fault): refresh our copy */
	CTL_REQ_READY	= 10,	/* DONE 0 when every live peer's table is held */
};

enum ctl_cache { CTL_CACHE_INTERNAL = 1, CTL_CACHE_EXTERNAL = 2 };

/* replies */
enum ctl_rep {
	CTL_REP_KV	= 100,	/* a named value, see below */
	CTL_REP_FLOW	= 101,	/* body: u32 origin node id, then one wire
				 * FLOW record (ctsync/wire.h) */
	CTL_REP_PROGRESS = 102,	/* body: u64 done, u64 total.  Sent every
				 * few seconds while a long request (a
				 * commit) is under way, so that a client
				 * can tell it from a daemon that hangs;
				 * clients may ignore it */
	CTL_REP_DONE	= 199,	/* body: i32 status (0 ok, else -errno),
				 * then an optional NUL-terminated message */
};

/*
 * CTL_REP_KV body:
 *   u8 vtype (CTL_V_*)  u8 section_len  u8 key_len  u8 reserved
 *   section (section_len bytes, no NUL)  key (key_len bytes, no NUL)
 *   value: CTL_V_U64: 8 bytes; CTL_V_STR: the rest of the frame.
 * Sections group keys: "daemon", "kernel", "cache", "peer 192.0.2.2", ...
 * Keys are snake_case ("rx_lost").  Order is kept.
 */
enum ctl_vtype { CTL_V_U64 = 1, CTL_V_STR = 2 };

#endif
