/*
 * config.h - ctsyncd configuration: parsed from a YAML buffer (libyaml),
 * validated, defaults filled in.  Pure: the caller reads the file.
 */
#ifndef CTSYNC_CONFIG_H
#define CTSYNC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "addr.h"
#include "filter.h"
#include "flow.h"
#include "peers.h"

#define CONFIG_MAX_PREFIXES	FILTER_MAX_PREFIXES
#define CONFIG_MAX_GARP		16

enum transport { TRANSPORT_UDP = 0, TRANSPORT_MULTICAST = 1 };

/* What a backup does with its peers' flows: hot keeps them in its kernel
 * all along, cold only in the external cache until it becomes master. */
enum standby_mode { STANDBY_HOT = 0, STANDBY_COLD = 1 };

/* Where a value was given in the file; line 0: not given (a default). */
struct config_mark {
	uint32_t line, col;
};

struct config {
	char     path[256];		/* file name used in messages */
	uint32_t node_id;		/* 0: derive at start-up */
	char     user[32];		/* "" = stay root (capabilities still dropped) */
	uint32_t rt_priority;		/* SCHED_RR priority; 0: time-sharing */

	struct {
		enum transport transport;
		char     interface[16];		/* multicast, or v6 link-local scope */
		struct sockaddr_storage local;	/* bind/source address; port set */
		struct sockaddr_storage group;	/* multicast group; port set */
		struct sockaddr_storage peers[CTSYNC_MAX_PEERS]; /* unicast, by slot; port set */
		size_t   npeers;
		uint16_t port;			/* default 3780 */
		uint32_t mtu;			/* 576..65535, default 1500 */
		uint32_t heartbeat_ms;		/* default 250 */
		uint32_t ack_ms;		/* STATUS pacing, default 10 */
		uint32_t peer_timeout_ms;	/* default 3000 */
		uint32_t window;		/* datagrams in flight, default 4096 */
		uint32_t sndbuf, rcvbuf;	/* socket buffers, default 8 MiB */
		char     key_file[256];		/* "" = sync not authenticated */
		bool     encrypt;		/* with key_file: encrypt payloads */
	} sync;

	struct {
		uint32_t event_buffer;		/* netlink rcvbuf bytes, default 64 MiB */
		uint32_t commit_batch;		/* creates per sendmsg, default 256 */
		uint32_t collect_us;		/* wait for more events, default 1000 */
	} kernel;

	struct filter_conf filter;

	struct {
		uint32_t max_entries;		/* per cache; 0 = unlimited */
	} cache;

	struct {
		char     socket[108];		/* default /run/ctsyncd/ctsyncd.sock */
		char     group[32];		/* "" = root's group */
		uint32_t mode;			/* default 0660 */
	} control;

	/* Becoming master (ctctl master): announce these addresses with
	 * gratuitous ARP (IPv4) or unsolicited neighbour advertisements
	 * (IPv6, override flag) after the commit. */
	struct {
		struct announce {
			char ifname[16];
			union flow_addr addr;
			uint8_t family;
		} announce[CONFIG_MAX_GARP];
		size_t   nannounce;
		uint32_t count;			/* default 3 */
		uint32_t interval_ms;		/* default 100 */
		enum standby_mode standby;	/* default hot */
	} failover;

	struct {
		int      verbose;		/* 0 info, 1 debug */
		bool     syslog;
	} log;

	/* Where the values that name things on the host were given, for
	 * checks made outside the parser (src/io/hostcheck.c). */
	struct {
		struct config_mark local, interface, user, socket, ctl_group;
		struct config_mark announce[CONFIG_MAX_GARP];
	} at;
};

/* Fill c with every default (what an empty file gives). */
void config_defaults(struct config *c);

/*
 * Parse buf (len bytes, need not be NUL-terminated) named name into c.
 * Every error is written to err as one line "name:line:col: what" quoting
 * the bad value and saying what is allowed; parsing goes on so all errors
 * are reported.  Returns the number of errors (0 = OK).
 */
int config_parse(struct config *c, const char *name, const char *buf,
		 size_t len, FILE *err);

/*
 * The keys of ctsyncd.yaml in config_print order, one per i from 0:
 * "node_id", ..., "sync", "sync.transport", ... (a section is a key too);
 * NULL past the last.
 */
const char *config_key(size_t i);

/* Print the effective configuration as YAML (ctsyncd -n -v). */
void config_print(const struct config *c, FILE *out);

/* One key whose effective value differs between two configurations. */
struct config_change {
	char key[32];			/* "sync.window" */
	char from[128], to[128];	/* as config_print writes them, cut with
					 * "..."; "(not set)" when absent */
};

/*
 * The keys whose effective values differ between a and b (what
 * config_print shows; where values were given and the file name are not
 * compared), in config_print order.  Up to max go to out.  Returns how
 * many differ (may exceed max), or -1 when out of memory.
 */
int config_diff(const struct config *a, const struct config *b,
		struct config_change *out, size_t max);

#endif
