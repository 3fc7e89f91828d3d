/*
 * sealbench.c - what sealing costs per sync datagram and per flow.
 *
 *   sealbench [SECONDS]
 *
 * Builds full DATA datagrams of TCP/IPv4 FLOW records (as many as the
 * default 1500-byte MTU holds once the trailer is left room for), then
 * seals and opens them in a loop with authentication only and with
 * encryption, each for SECONDS (default 1) of CPU time, and prints ns
 * per datagram, ns per flow and MB/s.  The in-daemon figures beside
 * conntrackd come from bench.sh (BENCH_AUTH=auth|encrypt); this isolates
 * the cryptography from the noise of a whole replication run.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "proto.h"

#define KEY "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define MAX_DGRAM (1500 - 28)

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A DATA datagram full of FLOW records; returns its length, *nflows. */
static size_t build(uint8_t *buf, size_t cap, int *nflows)
{
	struct wire_hdr h = {
		.version = WIRE_VERSION, .type = WIRE_DATA,
		.node_id = 1, .epoch = 2, .seq = 3, .base = 3,
	};
	struct wbuf w = { buf + WIRE_HDR_LEN, 0, cap - WIRE_HDR_LEN };
	struct flow f;

	*nflows = 0;
	for (uint32_t i = 0;; i++) {
		memset(&f, 0, sizeof(f));
		f.key.family = AF_INET;
		f.key.l4proto = IPPROTO_TCP;
		f.key.orig.src.v4 = htonl(0xc6120000u + i);
		f.key.orig.dst.v4 = htonl(0xcb00710au);
		f.key.orig.sport = (uint16_t)(1024 + i);
		f.key.orig.dport = 80;
		flow_tuple_invert(&f.key, &f.reply);
		f.status = 0x0e;
		f.timeout = 432000;
		f.flags = FLOW_F_PROTO | FLOW_F_TIMEOUT;
		f.proto_state = 3;
		if (wire_put_flow(&w, &f) < 0)
			break;
		(*nflows)++;
	}
	h.length = (uint16_t)(WIRE_HDR_LEN + w.len);
	wire_hdr_put(buf, &h);
	return h.length;
}

static void run(const char *name, struct auth_keyring *kr, double secs)
{
	static uint8_t plain[65536], buf[65536], out[65536];
	struct auth_stats st = { 0 };
	struct auth_info ai;
	int nflows;
	size_t len = build(plain, MAX_DGRAM - AUTH_TRAILER_LEN, &nflows), sl = 0;
	uint64_t n = 0;
	double t0 = cpu_s(), t;

	do {
		for (int i = 0; i < 1000; i++, n++) {
			memcpy(buf, plain, len);
			sl = auth_seal(kr, buf, len, sizeof(buf), n);
			if (auth_open(kr, buf, sl, out, &ai, &st) != (long)len) {
				fprintf(stderr, "sealbench: datagram did not open\n");
				exit(1);
			}
		}
		t = cpu_s() - t0;
	} while (t < secs);
	printf("%-14s %4zu B, %2d flows: seal+open %6.0f ns/datagram, %5.1f ns/flow, %6.0f MB/s\n",
	       name, sl, nflows, t * 1e9 / (double)n, t * 1e9 / (double)n / nflows,
	       (double)n * (double)len / t / 1e6);
}

int main(int argc, char **argv)
{
	struct auth_keyring kr = { 0 };
	double secs = argc > 1 ? atof(argv[1]) : 1.0;

	/* As the daemon does: it picks the SIMD implementations. */
	if (sodium_init() < 0 || auth_keys_parse(&kr, "key", KEY, strlen(KEY), stderr))
		return 1;
	run("authenticated", &kr, secs);
	kr.encrypt = true;
	run("encrypted", &kr, secs);
	return 0;
}
