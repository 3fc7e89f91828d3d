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
#include "man.h"

#define MAN_PAGE "../man/ctsyncd.yaml.5"

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
	struct man m;
	const char *path;

	(void)state;
	if (man_load(&m, MAN_PAGE) < 0)
		fail_msg("cannot read %s", MAN_PAGE);
	for (size_t i = 0; (path = config_key(i)); i++) {
		const char *dot = strchr(path, '.');
		char head[64];
		long ss;

		if (is_section(path)) {
			snprintf(head, sizeof(head), ".Ss %s", path);
			if (man_find(&m, head) < 0)
				fail_msg("%s: no \"%s\" in %s", path, head, MAN_PAGE);
			continue;
		}
		if (dot)
			snprintf(head, sizeof(head), ".Ss %.*s", (int)(dot - path), path);
		else
			snprintf(head, sizeof(head), ".Ss Top level");
		ss = man_find(&m, head);
		if (ss < 0 || !man_item(&m, ss, "Ic", dot ? dot + 1 : path))
			fail_msg("%s: not documented under \"%s\" in %s",
				 path, head, MAN_PAGE);
	}
	man_free(&m);
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
