/*
 * conffile.c - the configuration file: read, parse, and re-read on SIGHUP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conffile.h"
#include "log.h"

/* A configuration is a few KiB; this stops "-c /dev/zero". */
#define CONFIG_MAX_BYTES	(1024 * 1024)

/* The whole file; NULL with errno on failure (EISDIR for a directory,
 * EFBIG past CONFIG_MAX_BYTES). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	struct stat st;

	if (!f)
		return NULL;
	/* fopen() opens a directory for reading; fread() then fails with a
	 * bare EISDIR (or, on some systems, reads nothing). */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	for (;;) {
		if (n > CONFIG_MAX_BYTES) {
			free(buf);
			fclose(f);
			errno = EFBIG;
			return NULL;
		}
		if (n == cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 4096);

			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;

		free(buf);
		fclose(f);
		errno = e ? e : EIO;
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

int config_load(struct config *c, const char *path, FILE *err)
{
	char *buf;
	size_t len;
	int errors;

	/* c->path names the file in messages and for SIGHUP: whole. */
	if (strlen(path) >= sizeof(c->path)) {
		fprintf(err, "%.64s...: path too long (at most %zu bytes)\n",
			path, sizeof(c->path) - 1);
		return 1;
	}
	if (!(buf = slurp(path, &len))) {
		if (errno == EISDIR)
			fprintf(err, "%s: is a directory, not a configuration "
				"file\n", path);
		else if (errno == EFBIG)
			fprintf(err, "%s: larger than %d bytes: not a configuration "
				"file\n", path, CONFIG_MAX_BYTES);
		else
			fprintf(err, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	errors = config_parse(c, path, buf, len, err);
	free(buf);
	return errors;
}

void config_reread(const struct config *running)
{
	struct config *c = malloc(sizeof(*c));
	struct config_change ch[16];
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&text, &len);
	int errors, n;

	if (!c || !err) {
		log_warn("config: %s not re-read", running->path);
		goto out;
	}
	errors = config_load(c, running->path, err);
	fclose(err);
	err = NULL;
	if (errors) {
		for (line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			log_warnx("config: %s", line);
		log_warnx("config: %s has %d error%s: nothing of it taken, the "
			  "running configuration stays", running->path, errors,
			  errors == 1 ? "" : "s");
		goto out;
	}
	n = config_diff(running, c, ch, sizeof(ch) / sizeof(ch[0]));
	if (n < 0) {
		log_warnx("config: %s: out of memory comparing it", running->path);
	} else if (n == 0) {
		log_info("config: %s unchanged", running->path);
	} else {
		for (int i = 0; i < n && i < (int)(sizeof(ch) / sizeof(ch[0])); i++)
			log_warnx("config: %s changed %s -> %s: restart ctsyncd "
				  "to apply", ch[i].key, ch[i].from, ch[i].to);
		if (n > (int)(sizeof(ch) / sizeof(ch[0])))
			log_warnx("config: and %d more changed keys: restart "
				  "ctsyncd to apply", n - (int)(sizeof(ch) / sizeof(ch[0])));
	}
out:
	if (err)
		fclose(err);
	free(text);
	free(c);
}
