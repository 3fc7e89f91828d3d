/*
 * print.h - ctctl's one printer: text and JSON come from the same calls.
 *
 *   print_u64(p, PRINT_ANY, "sport", "sport=%" PRIu64 " ", v);
 *
 * prints "sport=80 " in text mode and "sport": 80 as a member of the open
 * JSON object in JSON mode.  PRINT_TEXT calls print only in text mode,
 * PRINT_JSON calls only in JSON mode (fmt may then be NULL).  Containers
 * (objects, arrays) exist only in JSON; in text mode they print nothing.
 * Text-mode strings have control characters replaced by '?'; JSON
 * strings are escaped, and bytes that are not UTF-8 become U+FFFD.
 */
#ifndef CTCTL_PRINT_H
#define CTCTL_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flow.h"

enum print_type {
	PRINT_TEXT = 1,
	PRINT_JSON = 2,
	PRINT_ANY  = PRINT_TEXT | PRINT_JSON,
};

#define PRINT_MAX_DEPTH	8

struct printer {
	FILE *f;
	bool json;
	bool pretty;		/* JSON: one member per line, indented */
	int  depth;
	bool first[PRINT_MAX_DEPTH + 1];	/* no member yet at depth */
	bool array[PRINT_MAX_DEPTH + 1];	/* container at depth is [] */
};

void print_init(struct printer *p, FILE *f, bool json, bool pretty);

/* key is the member name inside an object, NULL inside an array or at the
 * top level. */
void print_open_object(struct printer *p, const char *key);
void print_close_object(struct printer *p);
void print_open_array(struct printer *p, const char *key);
void print_close_array(struct printer *p);

/* fmt holds one conversion for the value: "%" PRIu64 for print_u64,
 * "%s" for print_str (it is not checked by the compiler). */
void print_u64(struct printer *p, enum print_type t, const char *key,
	       const char *fmt, uint64_t v);
void print_str(struct printer *p, enum print_type t, const char *key,
	       const char *fmt, const char *s);
/* Free text, text mode only. */
void print_text(struct printer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* JSON: end the document with a newline once the top level is closed. */
void print_end(struct printer *p);

/*
 * Named values grouped by section (status, stats, commit replies).
 * Collected first so that text columns can be aligned and JSON can gather
 * the "peer X" sections into one "peers" array.
 */
struct kv_item {
	char *section;
	char *key;
	char *str;		/* NULL for a number */
	uint64_t u64;
};

struct kv_list {
	struct kv_item *v;
	size_t n, cap;
};

/* Copy one item in.  0, or -1 on ENOMEM. */
int kv_list_add(struct kv_list *l, const char *section, const char *key,
		const char *str, uint64_t u64);
void kv_list_free(struct kv_list *l);

/*
 * Text: each section's name, then its "key value" lines indented with
 * the values aligned; msg (if any) last.  JSON: one object whose members
 * are the sections (objects of key: value), sections "peer X" in an
 * array "peers" of objects with "name": "X" first, and "message": msg.
 */
void print_kv_list(struct printer *p, const struct kv_list *l, const char *msg);

/* One flow: a line like conntrack -L, or a JSON object (inside an array
 * the caller opened). */
void print_flow(struct printer *p, uint32_t origin, const struct flow *f);

#endif
