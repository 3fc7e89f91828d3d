/*
 * keyfile.c - read the sync key file; its format is auth_keys_parse()'s.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"

#define KEYFILE_MAX	65536

int keyfile_load(const char *path, struct auth_keyring *kr, FILE *err)
{
	char buf[KEYFILE_MAX];
	struct stat st;
	size_t len = 0;
	int fd, errors = 1;
	bool enc = kr->encrypt;

	auth_keys_clear(kr);
	kr->encrypt = enc;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		fprintf(err, "%s: %s%s\n", path, strerror(errno),
			errno == ELOOP ? " (a symbolic link: name the file itself)" : "");
		return 1;
	}
	if (fstat(fd, &st) < 0) {
		fprintf(err, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(err, "%s: not a regular file\n", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		fprintf(err, "%s: owned by uid %u: the key file must belong to "
			"root or to the user ctsyncd runs as\n", path,
			(unsigned)st.st_uid);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		fprintf(err, "%s: mode %04o lets group or others at the keys: "
			"chmod 600 %s\n", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(err, "%s: %s\n", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == sizeof(buf)) {
			fprintf(err, "%s: larger than %d bytes: not a key file\n",
				path, KEYFILE_MAX);
			goto out;
		}
	}
	errors = auth_keys_parse(kr, path, buf, len, err);
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return errors;
}
