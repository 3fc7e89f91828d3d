/*
 * ctl_proto.h - build and parse control frames (ctsync/ctl.h).  Pure.
 */
#ifndef CTSYNC_CTL_PROTO_H
#define CTSYNC_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctsync/ctl.h"
#include "flow.h"

/* A growable byte buffer.  Functions that append return 0, or -1 with
 * errno ENOMEM, EMSGSIZE (the frame would exceed CTL_MAX_FRAME) or EINVAL
 * (a KV section or key over 255 bytes; a flow wire_put_flow() refuses);
 * the buffer keeps what it had. */
struct ctl_buf {
	uint8_t *data;
	size_t   len;
	size_t   cap;
};

void ctl_buf_free(struct ctl_buf *b);
/* Drop the first n bytes (after they were written out). */
void ctl_buf_consume(struct ctl_buf *b, size_t n);

int ctl_put_frame(struct ctl_buf *b, uint16_t type, const void *body, size_t len);
int ctl_put_kv_u64(struct ctl_buf *b, const char *section, const char *key, uint64_t v);
int ctl_put_kv_str(struct ctl_buf *b, const char *section, const char *key, const char *v);
int ctl_put_flow(struct ctl_buf *b, uint32_t origin, const struct flow *f);
int ctl_put_done(struct ctl_buf *b, int32_t status, const char *msg);

/* One frame found in a byte stream. */
struct ctl_frame {
	uint16_t type;
	uint16_t flags;
	const uint8_t *body;
	size_t   len;
};

/*
 * Look for one whole frame at the start of p[0..len).
 * Returns the frame's size (> 0) with f filled, 0 if more bytes are
 * needed, or -1 if the stream is malformed (bad len field): the reader
 * should answer an error and close.
 */
long ctl_frame_get(const uint8_t *p, size_t len, struct ctl_frame *f);

/* What a request carries in its body. */
enum ctl_arg {
	CTL_ARG_NONE,		/* nothing */
	CTL_ARG_CACHE,		/* u8 CTL_CACHE_* */
};

/* What the daemon answers a request with, before its DONE. */
enum ctl_reply {
	CTL_REPLY_NONE,		/* nothing: the DONE (and its message) says it */
	CTL_REPLY_KV,		/* CTL_REP_KV items */
	CTL_REPLY_FLOWS,	/* CTL_REP_FLOW items */
};

/* One request of ctsync/ctl.h: what both ends need to know about it. */
struct ctl_req_info {
	uint16_t type;		/* CTL_REQ_* */
	const char *name;	/* ctctl's command for it */
	enum ctl_arg arg;	/* gives the body length (ctl_req_body_len) */
	enum ctl_reply reply;
	bool changes_state;	/* waits while a commit runs (ctsync/ctl.h) */
	const char *help;	/* one line, for ctctl --help */
};

/* The request of this type, or NULL if this version does not know it. */
const struct ctl_req_info *ctl_req_info(uint16_t type);

/* The requests by index from 0, in CTL_REQ_* order; NULL past the last. */
const struct ctl_req_info *ctl_req_at(size_t i);

/*
 * The body length a request of this type takes (ctsync/ctl.h): 0, or 1
 * for CTL_REQ_DUMP and CTL_REQ_FLUSH.  -1 if type is not a request this
 * version knows (the daemon answers those -EOPNOTSUPP).
 */
int ctl_req_body_len(uint16_t type);

/* Whether a request of this type changes state, and so waits while a
 * commit runs; false for a type this version does not know. */
bool ctl_req_changes_state(uint16_t type);

struct ctl_kv {
	uint8_t vtype;
	char    section[256];
	char    key[256];
	uint64_t u64;
	char    str[1024];
};

/* Decode bodies; -1 if malformed or f->type is not the decoder's.
 * A CTL_V_STR value longer than kv->str holds is cut to fit. */
int ctl_get_kv(const struct ctl_frame *f, struct ctl_kv *kv);
/* f->flow.ext points into ext when present. */
int ctl_get_flow(const struct ctl_frame *f, uint32_t *origin,
		 struct flow *flow, struct flow_ext *ext);
/* *msg points into f's body, or is NULL when the DONE has no message
 * (ctl_put_done() sends none for NULL or ""). */
int ctl_get_done(const struct ctl_frame *f, int32_t *status,
		 const char **msg);

#endif
