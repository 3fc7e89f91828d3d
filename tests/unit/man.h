/*
 * man.h - read an mdoc page in tests that check it documents what a
 * table holds (every config key, every ctctl command).
 */
#ifndef CTSYNC_TEST_MAN_H
#define CTSYNC_TEST_MAN_H

#include <stdbool.h>
#include <stddef.h>

struct man {
	char *text;		/* the page, cut into lines */
	char **line;
	size_t n;
};

/* Read the page at path.  0, or -1 with errno. */
int man_load(struct man *m, const char *path);
void man_free(struct man *m);

/* The index of the line that is exactly head (".Ss sync"), or -1. */
long man_find(const struct man *m, const char *head);

/*
 * Whether an .It line after line from, before the next .Sh or .Ss, names
 * name with macro: man_item(m, i, "Ic", "rcvbuf") for
 * ".It Ic sndbuf Ar size , Ic rcvbuf Ar size".
 */
bool man_item(const struct man *m, long from, const char *macro, const char *name);

#endif
