/*
 * man.c - read an mdoc page (see man.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "man.h"

int man_load(struct man *m, const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 0, len = 0, r;
	char *save = NULL, *l, *p;

	memset(m, 0, sizeof(*m));
	if (!f)
		return -1;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (!(p = realloc(m->text, cap + 1)))
				goto nomem;
			m->text = p;
		}
		r = fread(m->text + len, 1, cap - len, f);
		len += r;
	} while (r > 0);
	fclose(f);
	f = NULL;
	m->text[len] = '\0';
	/* at most one line per byte, and one more */
	if (!(m->line = calloc(len + 1, sizeof(*m->line))))
		goto nomem;
	for (l = strtok_r(m->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		m->line[m->n++] = l;
	return 0;
nomem:
	if (f)
		fclose(f);
	man_free(m);
	errno = ENOMEM;
	return -1;
}

void man_free(struct man *m)
{
	free(m->text);
	free(m->line);
	memset(m, 0, sizeof(*m));
}

long man_find(const struct man *m, const char *head)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->line[i], head) == 0)
			return (long)i;
	return -1;
}

bool man_item(const struct man *m, long from, const char *macro, const char *name)
{
	size_t ml = strlen(macro), nl = strlen(name);

	for (size_t i = (size_t)from + 1; i < m->n; i++) {
		const char *l = m->line[i], *hit;

		if (strncmp(l, ".Ss ", 4) == 0 || strncmp(l, ".Sh ", 4) == 0)
			break;
		if (strncmp(l, ".It ", 4) != 0)
			continue;
		for (hit = strstr(l, macro); hit; hit = strstr(hit + 1, macro))
			if (hit[-1] == ' ' && hit[ml] == ' ' &&
			    strncmp(hit + ml + 1, name, nl) == 0 &&
			    (hit[ml + 1 + nl] == ' ' || hit[ml + 1 + nl] == '\0'))
				return true;
	}
	return false;
}
