/*
 * conffile.h - the configuration file: read, parse, and re-read on SIGHUP.
 */
#ifndef CTSYNC_CONFFILE_H
#define CTSYNC_CONFFILE_H

#include <stdio.h>

#include "config.h"

/*
 * Read the file at path and parse it into c (config_parse).  Every error
 * is one line on err: the parser's "file:line:col: what", or "path: why"
 * when the file cannot be read.  Returns the number of errors (0 = OK).
 */
int config_load(struct config *c, const char *path, FILE *err);

/*
 * SIGHUP: read running->path again and log, as warnings, each key whose
 * value changed and is not applied until a restart, or the file's errors
 * (the running configuration stays either way).  Changes nothing.
 */
void config_reread(const struct config *running);

#endif
