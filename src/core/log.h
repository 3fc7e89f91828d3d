/*
 * log.h - daemon and tool logging.
 *
 * log_warn() appends ": strerror(errno)"; log_warnx() does not.  fatal()
 * and fatalx() are for start-up only: they log and exit(1).
 * Pure core modules may log; they never exit.
 */
#ifndef CTSYNC_LOG_H
#define CTSYNC_LOG_H

#include <stdarg.h>

enum log_dest { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_init(const char *ident, enum log_dest dest, int verbose);
void log_setverbose(int verbose);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
