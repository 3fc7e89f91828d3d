/*
 * test_config_keys.c - the table of ctsyncd.yaml keys (config_key) and
 * the manual: every key the parser takes is documented in
 * man/ctsyncd.yaml.5, under its section, and the table is well formed.
 *
 * Runs with the working directory tests/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAN_PAGE "../man/ctsyncd.yaml.5"
#define MAX_LINES 4096

struct page {
	char *text;
	char *line[MAX_LINES];
	size_t n;
};

static void load(struct page *p)
{
	FILE *f = fopen(MAN_PAGE, "r");
	size_t cap = 0, len = 0, r;
	char *save = NULL, *l;

	if (!f)
		fail_msg("cannot open %s", MAN_PAGE);
	p->text = NULL;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			p->text = realloc(p->text, cap + 1);
			assert_non_null(p->text);
		}
		r = fread(p->text + len, 1, cap - len, f);
		len += r;
	} while (r > 0);
	fclose(f);
	p->text[len] = '\0';
	p->n = 0;
	for (l = strtok_r(p->text, "\n", &save); l && p->n < MAX_LINES;
	     l = strtok_r(NULL, "\n", &save))
		p->line[p->n++] = l;
}

/* The line ".Ss title", or -1. */
static long subsection(const struct page *p, const char *title)
{
	for (size_t i = 0; i < p->n; i++)
		if (strncmp(p->line[i], ".Ss ", 4) == 0 &&
		    strcmp(p->line[i] + 4, title) == 0)
			return (long)i;
	return -1;
}

/* Whether an ".It" line of the subsection starting at line ss names
 * name with "Ic" (".It Ic sndbuf Ar size , Ic rcvbuf Ar size"). */
static bool documented(const struct page *p, long ss, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = (size_t)ss + 1; i < p->n; i++) {
		const char *l = p->line[i], *hit;

		if (strncmp(l, ".Ss ", 4) == 0 || strncmp(l, ".Sh ", 4) == 0)
			break;
		if (strncmp(l, ".It ", 4) != 0)
			continue;
		for (hit = strstr(l, "Ic "); hit; hit = strstr(hit + 1, "Ic "))
			if (strncmp(hit + 3, name, nl) == 0 &&
			    (hit[3 + nl] == ' ' || hit[3 + nl] == '\0'))
				return true;
	}
	return false;
}

static bool is_section(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; config_key(i); i++)
		if (strncmp(config_key(i), path, n) == 0 && config_key(i)[n] == '.')
			return true;
	return false;
}

static void test_man_page(void **state)
{
	struct page *p = calloc(1, sizeof(*p));
	const char *path;

	(void)state;
	assert_non_null(p);
	load(p);
	for (size_t i = 0; (path = config_key(i)); i++) {
		const char *dot = strchr(path, '.');
		char sec[32];
		long ss;

		if (is_section(path)) {
			if (subsection(p, path) < 0)
				fail_msg("%s: no \".Ss %s\" in %s", path, path, MAN_PAGE);
			continue;
		}
		if (dot)
			snprintf(sec, sizeof(sec), "%.*s", (int)(dot - path), path);
		else
			snprintf(sec, sizeof(sec), "Top level");
		ss = subsection(p, sec);
		if (ss < 0 || !documented(p, ss, dot ? dot + 1 : path))
			fail_msg("%s: not documented under \".Ss %s\" in %s",
				 path, sec, MAN_PAGE);
	}
	free(p->text);
	free(p);
}

/* Unique paths; a section's keys follow it, together. */
static void test_table(void **state)
{
	const char *path, *open = NULL;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; (path = config_key(i)); i++) {
		const char *dot = strchr(path, '.');

		n++;
		for (size_t j = 0; j < i; j++)
			if (strcmp(config_key(j), path) == 0)
				fail_msg("%s twice in the table", path);
		if (!dot) {
			open = is_section(path) ? path : NULL;
			continue;
		}
		if (!open || strncmp(path, open, (size_t)(dot - path)) != 0 ||
		    open[dot - path] != '\0')
			fail_msg("%s is not right after its section's row", path);
		assert_null(strchr(dot + 1, '.'));
	}
	assert_true(n > 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_man_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
