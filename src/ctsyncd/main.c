/*
 * main.c - ctsyncd: options, configuration check, start.
 */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctsync_config.h"
#include "conffile.h"
#include "config.h"
#include "daemon.h"
#include "hostcheck.h"
#include "keyfile.h"
#include "log.h"

#define DEFAULT_CONFIG CTSYNC_SYSCONFDIR "/ctsync/ctsyncd.yaml"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ctsyncd [-nvV] [-c file]\n"
		"       ctsyncd -n --no-host-check [-c file]\n"
		"       ctsyncd --genkey ID\n"
		"  -c, --config FILE  configuration (default " DEFAULT_CONFIG ")\n"
		"  -n, --check        check the configuration, its key file and\n"
		"                     what it names on this host (address,\n"
		"                     interfaces, socket directory, user, group)\n"
		"                     and exit\n"
		"      --no-host-check  with -n: check the file only (one written\n"
		"                     for another host)\n"
		"  -g, --genkey ID    print a new sync key line \"ID HEX\" for\n"
		"                     sync.key_file (ID 1-65535) and exit\n"
		"  -v, --verbose      log debug messages; with -n, print the\n"
		"                     effective configuration\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         this help\n"
		"ctsyncd runs in the foreground and logs to standard error\n"
		"(or syslog, see ctsyncd.yaml(5)).  Operate it with ctctl(8).\n");
}

/* ctsyncd --genkey ID: one key file line from the kernel's CSPRNG. */
static int genkey(const char *arg)
{
	uint8_t key[AUTH_KEY_LEN];
	char hex[2 * AUTH_KEY_LEN + 1];
	char *end;
	unsigned long id;

	errno = 0;
	id = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || id < 1 || id > 65535) {
		fprintf(stderr, "ctsyncd: --genkey: key id '%s' is not a number "
			"1-65535\n", arg);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "ctsyncd: libsodium failed to initialise\n");
		return 1;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	printf("%lu %s\n", id, hex);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "no-host-check", no_argument, NULL, 'H' },
		{ "genkey", required_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	static struct auth_keyring kr;	/* empty: sync not authenticated */
	struct config conf;
	bool check = false, host = true;
	int verbose = 0, ch, errors, rc;

	while ((ch = getopt_long(argc, argv, "c:g:nvVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'n': check = true; break;
		case 'H': host = false; break;
		case 'g': return genkey(optarg);
		case 'v': verbose++; break;
		case 'V': printf("ctsyncd %s\n", CTSYNC_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!host && !check) {
		fprintf(stderr, "ctsyncd: --no-host-check goes only with -n\n");
		return 2;
	}
	log_init("ctsyncd", LOG_TO_STDERR, verbose);
	errors = config_load(&conf, path, stderr);
	if (errors) {
		fprintf(stderr, "ctsyncd: %s: %d error%s\n", path, errors,
			errors == 1 ? "" : "s");
		return 1;
	}
	if (conf.sync.key_file[0]) {
		kr.encrypt = conf.sync.encrypt;
		if (keyfile_load(conf.sync.key_file, &kr, stderr)) {
			fprintf(stderr, "ctsyncd: %s: sync.key_file %s is not usable\n",
				path, conf.sync.key_file);
			errors++;
		}
	}
	/* At start too, so what -n reports is what stops the daemon, said
	 * the same way, before anything is opened. */
	if (host)
		errors += hostcheck(&conf, stderr);
	if (errors) {
		auth_keys_clear(&kr);
		fprintf(stderr, "ctsyncd: %s: %d error%s\n", path, errors,
			errors == 1 ? "" : "s");
		return 1;
	}
	if (check) {
		auth_keys_clear(&kr);
		if (verbose)
			config_print(&conf, stdout);
		printf("configuration OK\n");
		return 0;
	}
	/* -v raises the level without touching conf, which SIGHUP compares
	 * with the file. */
	log_init("ctsyncd", conf.log.syslog ? LOG_TO_SYSLOG : LOG_TO_STDERR,
		 verbose > conf.log.verbose ? verbose : conf.log.verbose);
	rc = daemon_run(&conf, &kr);
	auth_keys_clear(&kr);
	return rc;
}
