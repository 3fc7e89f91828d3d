/*
 * test_conffile.c - config_load and config_reread (src/io/conffile.c):
 * what SIGHUP logs about an edited configuration file.  Uses temporary
 * files only; the log (standard error) is captured in one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "log.h"

struct fx {
	char dir[64], path[96];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* What config_reread(running) logs. */
static char *reread_log(const struct config *running)
{
	char path[] = "/tmp/test_conffile_log.XXXXXX";
	int fd = mkstemp(path), saved;
	char *buf = calloc(1, 8192);
	FILE *f;

	assert_true(fd >= 0);
	assert_non_null(buf);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	config_reread(running);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	assert_non_null(f);
	fread(buf, 1, 8191, f);
	fclose(f);
	unlink(path);
	return buf;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	snprintf(x->dir, sizeof(x->dir), "/tmp/test_conffile.XXXXXX");
	if (!mkdtemp(x->dir))
		return -1;
	snprintf(x->path, sizeof(x->path), "%s/ctsyncd.yaml", x->dir);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	unlink(x->path);
	rmdir(x->dir);
	free(x);
	return 0;
}

#define BASE "sync:\n  local: 192.0.2.1\n  peers: [192.0.2.2]\n  window: 4096\n"

static void test_reread_changed(void **state)
{
	struct fx *x = *state;
	struct config running;
	char *log;

	write_file(x->path, BASE);
	assert_int_equal(config_load(&running, x->path, stderr), 0);

	log = reread_log(&running);
	assert_non_null(strstr(log, "unchanged"));
	free(log);

	write_file(x->path, "sync:\n  local: 192.0.2.1\n  peers: [192.0.2.2]\n"
		   "  window: 8192\nkernel:\n  commit_batch: 64\n");
	log = reread_log(&running);
	if (!strstr(log, "config: sync.window changed 4096 -> 8192: restart "
		    "ctsyncd to apply\n") ||
	    !strstr(log, "config: kernel.commit_batch changed 256 -> 64: "
		    "restart ctsyncd to apply\n"))
		fail_msg("got:\n%s", log);
	free(log);
}

static void test_reread_error(void **state)
{
	struct fx *x = *state;
	struct config running;
	char want[256];
	char *log;

	write_file(x->path, BASE);
	assert_int_equal(config_load(&running, x->path, stderr), 0);
	write_file(x->path, BASE "  mtu: 5\n");
	log = reread_log(&running);
	snprintf(want, sizeof(want), "config: %s:5:8: mtu 5 out of range 576-65535\n",
		 x->path);
	if (!strstr(log, want) || !strstr(log, "the running configuration stays") ||
	    strstr(log, "changed"))
		fail_msg("want:\n%sgot:\n%s", want, log);
	free(log);

	/* A file gone is said so, and the running configuration stays. */
	unlink(x->path);
	log = reread_log(&running);
	if (!strstr(log, "No such file or directory") ||
	    !strstr(log, "the running configuration stays"))
		fail_msg("got:\n%s", log);
	free(log);
}

/* -c DIRECTORY said "Input/output error". */
static void test_load_directory(void **state)
{
	struct fx *x = *state;
	struct config c;
	char *text = NULL, want[256];
	size_t len = 0;
	FILE *err = open_memstream(&text, &len);

	assert_non_null(err);
	assert_int_equal(config_load(&c, x->dir, err), 1);
	fclose(err);
	snprintf(want, sizeof(want), "%s: is a directory, not a configuration file\n",
		 x->dir);
	assert_string_equal(text, want);
	free(text);
}

/* A file that never ends is not read to the end of memory. */
static void test_load_endless(void **state)
{
	struct config c;
	char *text = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&text, &len);

	(void)state;
	assert_non_null(err);
	assert_int_equal(config_load(&c, "/dev/zero", err), 1);
	fclose(err);
	assert_string_equal(text, "/dev/zero: larger than 1048576 bytes: not a "
			    "configuration file\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reread_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reread_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_directory, setup, teardown),
		cmocka_unit_test(test_load_endless),
	};

	log_init("test_conffile", LOG_TO_STDERR, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
