/*
 * fuzz_config.c - libFuzzer target for config_parse().
 *
 * Any input must be parsed without a crash, leak or undefined behaviour.
 * When it parses cleanly, config_print() must give a file that parses
 * cleanly to the same configuration (the ctsyncd -n -v output can be
 * used as a configuration).
 *
 * Seeds: tests/fuzz/corpus/config/ (the examples and the bad-*.yaml files).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config a, b;
	char *out = NULL;
	size_t olen = 0;
	FILE *f;
	int nerr;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	if (config_parse(&a, "fuzz.yaml", (const char *)data, size, devnull) != 0) {
		config_print(&a, devnull);	/* must cope with a half-parsed config */
		return 0;
	}
	f = open_memstream(&out, &olen);
	if (!f)
		abort();
	config_print(&a, f);
	fclose(f);
	nerr = config_parse(&b, "fuzz.yaml", out, olen, stderr);
	/* Where values were given differs; what they are must not. */
	memset(&a.at, 0, sizeof(a.at));
	memset(&b.at, 0, sizeof(b.at));
	if (nerr != 0 || memcmp(&a, &b, sizeof(a)) != 0) {
		fprintf(stderr, "config_print output does not round-trip:\n%s", out);
		abort();
	}
	free(out);
	return 0;
}
