/*
 * cachebench.c - what one cache_add() can cost: the event loop stalls
 * for as long as the slowest add takes.
 *
 *   cachebench [N]
 *
 * Adds N (default 2,000,000) TCP/IPv4 flows to an empty cache, timing
 * every add, and prints the total, the mean, the 99.99th percentile and
 * the slowest add.  A stop-the-world rehash shows as a slowest add in the
 * tens of milliseconds; an incremental one keeps it near the mean.
 * Then finds every flow once, in a scattered order, and prints the mean
 * find (the sender's hot path: one per kernel event), and the bytes an
 * entry takes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ftfw.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void mk(struct flow *f, uint32_t i)
{
	memset(f, 0, sizeof(*f));
	f->key.family = AF_INET;
	f->key.l4proto = IPPROTO_TCP;
	f->key.orig.src.v4 = htonl(0xc6120000u + i / 60000);
	f->key.orig.dst.v4 = htonl(0xcb00710au);
	f->key.orig.sport = (uint16_t)(1024 + i % 60000);
	f->key.orig.dport = 80;
	flow_tuple_invert(&f->key, &f->reply);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 2000000;
	uint32_t *ns = malloc(sizeof(*ns) * n), slowest = 0, found = 0;
	struct flow_key *keys = malloc(sizeof(*keys) * n);
	struct cache *c = ftfw_internal_new(0, 12345);	/* the sender's */
	uint64_t t0, total = 0;
	struct flow f;

	if (!ns || !keys || !c || n == 0)
		return 1;
	for (uint32_t i = 0; i < n; i++) {
		mk(&f, i);
		t0 = now_ns();
		if (!cache_add(c, &f))
			return 1;
		ns[i] = (uint32_t)(now_ns() - t0);
		total += ns[i];
		if (ns[i] > slowest)
			slowest = ns[i];
	}
	qsort(ns, n, sizeof(*ns), cmp_u32);
	printf("%u adds: %.1f ms in all, mean %.0f ns, p99.99 %u ns, slowest %.3f ms\n",
	       n, (double)total / 1e6, (double)total / n, ns[(size_t)n * 9999 / 10000],
	       (double)slowest / 1e6);
	/* The keys are built and shuffled beforehand, so the loop times
	 * finds alone, in an order the prefetcher cannot follow (as kernel
	 * events come). */
	for (uint32_t i = 0; i < n; i++) {
		mk(&f, i);
		keys[i] = f.key;
	}
	for (uint32_t i = n - 1, r = 1; i > 0; i--) {
		uint32_t j;

		r = r * 1103515245u + 12345u;
		j = r % (i + 1);
		f.key = keys[i];
		keys[i] = keys[j];
		keys[j] = f.key;
	}
	t0 = now_ns();
	for (uint32_t i = 0; i < n; i++)
		found += cache_find(c, &keys[i]) != NULL;
	total = now_ns() - t0;
	printf("%u finds: mean %.0f ns (%u found); %zu bytes an entry\n", n,
	       (double)total / n, found, c->esize);
	cache_free(c);
	free(ns);
	free(keys);
	return 0;
}
