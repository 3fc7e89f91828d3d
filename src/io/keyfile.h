/*
 * keyfile.h - read the sync key file, refusing one that others may read.
 */
#ifndef CTSYNC_KEYFILE_H
#define CTSYNC_KEYFILE_H

#include <stdio.h>

#include "auth.h"

/*
 * Load path into kr (kr->encrypt is kept).  The file must be a regular
 * file owned by root or by us, with no permission for group or others
 * (like a private SSH key); a symbolic link is not followed.  Every
 * problem is one line on err ("path: what", or "path:line:col: what" for
 * its content).  Returns 0, or the number of problems (kr then empty).
 */
int keyfile_load(const char *path, struct auth_keyring *kr, FILE *err);

#endif
