/*
 * ctl_proto.c - build and parse control frames (ctsync/ctl.h).
 *
 * Pure: byte buffers in and out.  Integers are in host byte order (both
 * ends run on the same host) and are moved with memcpy, so nothing here
 * depends on the alignment of the bytes a peer sent.
 *
 * Frame:
 *   0       4       6       8
 *   +-------+-------+-------+----------------------+
 *   |  len  | type  | flags | body (len - 8 bytes) |
 *   +-------+-------+-------+----------------------+
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"
#include "proto.h"

#define KV_FIXED	4	/* vtype, section_len, key_len, reserved */
#define DONE_FIXED	4	/* i32 status */
#define FLOW_FIXED	4	/* u32 origin */

void ctl_buf_free(struct ctl_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void ctl_buf_consume(struct ctl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* Make room for n more bytes.  0, or -1 with errno ENOMEM (b unchanged). */
static int buf_reserve(struct ctl_buf *b, size_t n)
{
	size_t want, cap;
	uint8_t *p;

	if (n > SIZE_MAX - b->len)
		goto nomem;
	want = b->len + n;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto nomem;
	b->data = p;
	b->cap = cap;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

/*
 * Append a frame header for a body of body_len bytes and reserve the body.
 * Returns where the body goes (the caller fills all of it), or NULL with
 * errno EMSGSIZE (frame too large) or ENOMEM; b is unchanged then.
 */
static uint8_t *frame_begin(struct ctl_buf *b, uint16_t type, size_t body_len)
{
	uint32_t len;
	uint16_t flags = 0;
	uint8_t *p;

	if (body_len > CTL_MAX_FRAME - CTL_HDR_LEN) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (buf_reserve(b, CTL_HDR_LEN + body_len) < 0)
		return NULL;
	len = (uint32_t)(CTL_HDR_LEN + body_len);
	p = b->data + b->len;
	memcpy(p, &len, 4);
	memcpy(p + 4, &type, 2);
	memcpy(p + 6, &flags, 2);
	b->len += len;
	return p + CTL_HDR_LEN;
}

int ctl_put_frame(struct ctl_buf *b, uint16_t type, const void *body, size_t len)
{
	uint8_t *p = frame_begin(b, type, len);

	if (!p)
		return -1;
	if (len)
		memcpy(p, body, len);
	return 0;
}

/* The KV header and names; the value (vlen bytes) goes at the returned
 * pointer.  NULL with errno EINVAL (a name over 255 bytes), EMSGSIZE or
 * ENOMEM. */
static uint8_t *kv_begin(struct ctl_buf *b, uint8_t vtype, const char *section,
			 const char *key, size_t vlen)
{
	size_t sl = strlen(section), kl = strlen(key);
	uint8_t *p;

	if (sl > UINT8_MAX || kl > UINT8_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (vlen > CTL_MAX_FRAME) {
		errno = EMSGSIZE;
		return NULL;
	}
	p = frame_begin(b, CTL_REP_KV, KV_FIXED + sl + kl + vlen);
	if (!p)
		return NULL;
	p[0] = vtype;
	p[1] = (uint8_t)sl;
	p[2] = (uint8_t)kl;
	p[3] = 0;
	memcpy(p + KV_FIXED, section, sl);
	memcpy(p + KV_FIXED + sl, key, kl);
	return p + KV_FIXED + sl + kl;
}

int ctl_put_kv_u64(struct ctl_buf *b, const char *section, const char *key, uint64_t v)
{
	uint8_t *p = kv_begin(b, CTL_V_U64, section, key, sizeof(v));

	if (!p)
		return -1;
	memcpy(p, &v, sizeof(v));
	return 0;
}

int ctl_put_kv_str(struct ctl_buf *b, const char *section, const char *key, const char *v)
{
	size_t vl = strlen(v);
	uint8_t *p = kv_begin(b, CTL_V_STR, section, key, vl);

	if (!p)
		return -1;
	memcpy(p, v, vl);
	return 0;
}

int ctl_put_flow(struct ctl_buf *b, uint32_t origin, const struct flow *f)
{
	size_t rl = wire_flow_len(f), start = b->len;
	struct wbuf w;
	uint8_t *p = frame_begin(b, CTL_REP_FLOW, FLOW_FIXED + rl);
	uint32_t flen;

	if (!p)
		return -1;
	memcpy(p, &origin, 4);
	w.buf = p + FLOW_FIXED;
	w.len = 0;
	w.cap = rl;
	if (wire_put_flow(&w, f) < 0) {
		b->len = start;
		errno = EINVAL;
		return -1;
	}
	/* wire_flow_len() is exact; should it ever overestimate, the frame
	 * is shrunk to what was written rather than padded. */
	flen = (uint32_t)(CTL_HDR_LEN + FLOW_FIXED + w.len);
	memcpy(b->data + start, &flen, 4);
	b->len = start + flen;
	return 0;
}

int ctl_put_done(struct ctl_buf *b, int32_t status, const char *msg)
{
	size_t ml = msg && *msg ? strlen(msg) + 1 : 0;
	uint8_t *p = frame_begin(b, CTL_REP_DONE, DONE_FIXED + ml);

	if (!p)
		return -1;
	memcpy(p, &status, 4);
	if (ml)
		memcpy(p + DONE_FIXED, msg, ml);
	return 0;
}

long ctl_frame_get(const uint8_t *p, size_t len, struct ctl_frame *f)
{
	uint32_t flen;

	/* The length field alone tells a malformed stream apart, so check it
	 * as soon as it is there rather than waiting for a whole header. */
	if (len < 4)
		return 0;
	memcpy(&flen, p, 4);
	if (flen < CTL_HDR_LEN || flen > CTL_MAX_FRAME)
		return -1;
	if (len < flen)
		return 0;
	memcpy(&f->type, p + 4, 2);
	memcpy(&f->flags, p + 6, 2);
	f->body = p + CTL_HDR_LEN;
	f->len = flen - CTL_HDR_LEN;
	return (long)flen;
}

/*
 * The requests, one row each, in CTL_REQ_* order: the daemon checks a
 * request's body against its row and parks those that change state while
 * a commit runs; ctctl makes its commands and --help from the rows.
 */
static const struct ctl_req_info reqs[] = {
	{ CTL_REQ_STATUS, "status", CTL_ARG_NONE, CTL_REPLY_KV, false,
	  "Show daemon, cache and peer state" },
	{ CTL_REQ_STATS, "stats", CTL_ARG_NONE, CTL_REPLY_KV, false,
	  "Show counters: per peer, caches, kernel events" },
	{ CTL_REQ_DUMP, "dump", CTL_ARG_CACHE, CTL_REPLY_FLOWS, false,
	  "List cached flows" },
	{ CTL_REQ_COMMIT, "commit", CTL_ARG_NONE, CTL_REPLY_KV, true,
	  "Commit the external cache into the kernel" },
	{ CTL_REQ_FLUSH, "flush", CTL_ARG_CACHE, CTL_REPLY_NONE, true,
	  "Empty a cache (internal is rebuilt from the kernel)" },
	{ CTL_REQ_RESYNC, "resync", CTL_ARG_NONE, CTL_REPLY_NONE, true,
	  "Ask peers to send their tables" },
	{ CTL_REQ_BULK, "bulk", CTL_ARG_NONE, CTL_REPLY_NONE, true,
	  "Send our table to the peers" },
	{ CTL_REQ_MASTER, "master", CTL_ARG_NONE, CTL_REPLY_KV, true,
	  "Became master: commit, announce addresses, resync with peers" },
	{ CTL_REQ_BACKUP, "backup", CTL_ARG_NONE, CTL_REPLY_NONE, true,
	  "Became backup: ask peers for their tables" },
	{ CTL_REQ_READY, "ready", CTL_ARG_NONE, CTL_REPLY_NONE, false,
	  "Exit 0 when every live peer's table is held (for keepalived)" },
};

#define NREQS	(sizeof(reqs) / sizeof(reqs[0]))

const struct ctl_req_info *ctl_req_at(size_t i)
{
	return i < NREQS ? &reqs[i] : NULL;
}

const struct ctl_req_info *ctl_req_info(uint16_t type)
{
	for (size_t i = 0; i < NREQS; i++)
		if (reqs[i].type == type)
			return &reqs[i];
	return NULL;
}

int ctl_req_body_len(uint16_t type)
{
	const struct ctl_req_info *r = ctl_req_info(type);

	if (!r)
		return -1;
	return r->arg == CTL_ARG_CACHE ? 1 : 0;
}

bool ctl_req_changes_state(uint16_t type)
{
	const struct ctl_req_info *r = ctl_req_info(type);

	return r && r->changes_state;
}

/* Copy n bytes of name into a NUL-terminated buffer of cap bytes. */
static void copy_str(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int ctl_get_kv(const struct ctl_frame *f, struct ctl_kv *kv)
{
	const uint8_t *p = f->body;
	size_t len = f->len, sl, kl;

	if (f->type != CTL_REP_KV || len < KV_FIXED)
		return -1;
	kv->vtype = p[0];
	sl = p[1];
	kl = p[2];
	len -= KV_FIXED;
	p += KV_FIXED;
	if (len < sl + kl)
		return -1;
	/* sl and kl are at most 255: the name buffers always hold them. */
	copy_str(kv->section, sizeof(kv->section), p, sl);
	copy_str(kv->key, sizeof(kv->key), p + sl, kl);
	len -= sl + kl;
	p += sl + kl;
	kv->u64 = 0;
	kv->str[0] = '\0';
	switch (kv->vtype) {
	case CTL_V_U64:
		if (len != sizeof(kv->u64))
			return -1;
		memcpy(&kv->u64, p, sizeof(kv->u64));
		return 0;
	case CTL_V_STR:
		/* Longer values are cut to what the struct holds. */
		copy_str(kv->str, sizeof(kv->str), p, len);
		return 0;
	default:
		return -1;
	}
}

int ctl_get_flow(const struct ctl_frame *f, uint32_t *origin,
		 struct flow *flow, struct flow_ext *ext)
{
	struct wire_stats st = { 0 };
	struct wire_rec r;
	const uint8_t *p;
	size_t left;

	if (f->type != CTL_REP_FLOW || f->len < FLOW_FIXED)
		return -1;
	p = f->body + FLOW_FIXED;
	left = f->len - FLOW_FIXED;
	/* Exactly one record, and it must be a FLOW. */
	if (wire_data_check(p, left, &st) != 1)
		return -1;
	if (wire_rec_next(&p, &left, &r, &st) != 1 || r.rtype != WIRE_R_FLOW)
		return -1;
	memcpy(origin, f->body, 4);
	*flow = r.flow;
	flow->ext = NULL;
	if (r.flow.ext && ext) {
		*ext = r.ext;
		flow->ext = ext;
	}
	return 0;
}

int ctl_get_done(const struct ctl_frame *f, int32_t *status, const char **msg)
{
	if (f->type != CTL_REP_DONE || f->len < DONE_FIXED)
		return -1;
	memcpy(status, f->body, 4);
	*msg = NULL;
	if (f->len == DONE_FIXED)
		return 0;
	if (f->body[f->len - 1] != '\0')
		return -1;
	*msg = (const char *)f->body + DONE_FIXED;
	return 0;
}
