/*
 * endpoint.h - UDP endpoints for the test tools (udprelay, ctattack).
 */
#ifndef CTSYNC_TOOLS_ENDPOINT_H
#define CTSYNC_TOOLS_ENDPOINT_H

#include <stdbool.h>
#include <sys/socket.h>

/* "a.b.c.d:port" or "[v6]:port" into ss; false if it is neither. */
bool parse_addr(const char *arg, struct sockaddr_storage *ss);
/* The length of a's sockaddr for bind/sendto. */
socklen_t sa_len(const struct sockaddr_storage *a);
/* Same family, address and port. */
bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
