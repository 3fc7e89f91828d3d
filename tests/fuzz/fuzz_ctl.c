/*
 * fuzz_ctl.c - libFuzzer target for the control-frame decoders.
 *
 * The input is a byte stream as ctctl or ctsyncd would read it: frames are
 * split off with ctl_frame_get() and every body goes through every decoder
 * (whatever its type says, so each decoder also sees the others' bodies).
 * What decodes is encoded again and must decode to the same thing.
 *
 * Seeds: tests/fuzz/corpus/ctl/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_kv(const struct ctl_kv *kv)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	struct ctl_kv again;
	int rc;

	/* Names or values with a NUL in them come back shorter; compare what
	 * a C string sees, which is what every user of ctl_kv sees. */
	if (kv->vtype == CTL_V_U64)
		rc = ctl_put_kv_u64(&b, kv->section, kv->key, kv->u64);
	else
		rc = ctl_put_kv_str(&b, kv->section, kv->key, kv->str);
	if (rc < 0)
		abort();
	if (ctl_frame_get(b.data, b.len, &f) != (long)b.len ||
	    ctl_get_kv(&f, &again) < 0 || again.vtype != kv->vtype ||
	    strcmp(again.section, kv->section) || strcmp(again.key, kv->key) ||
	    again.u64 != kv->u64 || strcmp(again.str, kv->str))
		abort();
	ctl_buf_free(&b);
}

static void check_flow(uint32_t origin, const struct flow *fl)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	struct flow again;
	struct flow_ext ext;
	uint32_t o;

	if (ctl_put_flow(&b, origin, fl) < 0)
		abort();
	if (ctl_frame_get(b.data, b.len, &f) != (long)b.len ||
	    ctl_get_flow(&f, &o, &again, &ext) < 0 || o != origin ||
	    !flow_state_eq(fl, &again) || again.timeout != fl->timeout)
		abort();
	ctl_buf_free(&b);
}

static void check_done(int32_t status, const char *msg)
{
	struct ctl_buf b = { 0 };
	struct ctl_frame f;
	const char *m;
	int32_t st;

	if (ctl_put_done(&b, status, msg) < 0)
		abort();
	if (ctl_frame_get(b.data, b.len, &f) != (long)b.len ||
	    ctl_get_done(&f, &st, &m) < 0 || st != status)
		abort();
	if ((msg && *msg) ? !m || strcmp(m, msg) : m != NULL)
		abort();
	ctl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_frame f, any;
	struct ctl_kv kv;
	struct flow fl;
	struct flow_ext ext;
	uint32_t origin;
	int32_t status;
	const char *msg;
	long n;

	while ((n = ctl_frame_get(data, size, &f)) > 0) {
		if ((size_t)n > size || f.len != (size_t)n - CTL_HDR_LEN)
			abort();
		any = f;
		any.type = CTL_REP_KV;
		if (ctl_get_kv(&any, &kv) == 0)
			check_kv(&kv);
		any.type = CTL_REP_FLOW;
		if (ctl_get_flow(&any, &origin, &fl, &ext) == 0)
			check_flow(origin, &fl);
		any.type = CTL_REP_DONE;
		if (ctl_get_done(&any, &status, &msg) == 0)
			check_done(status, msg);
		/* And as typed, which must agree with the above or fail. */
		ctl_get_kv(&f, &kv);
		ctl_get_flow(&f, &origin, &fl, NULL);
		ctl_get_done(&f, &status, &msg);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
