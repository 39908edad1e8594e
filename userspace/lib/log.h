/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Logging for qkdn programs, to stderr.
 *
 * Daemons log structured lines in logfmt:
 *
 *   ts=2025-01-02T03:04:05.678Z level=info prog=qkdn-kmd msg="link up" link=3
 *
 *   qkdn_log(QKDN_LOG_INFO, "link up", "link=%u peer=%u", id, peer);
 *
 * The third argument is a printf format producing the key=value fields (NULL
 * for none); quote values that may hold spaces with qkdn_log_quote(). Never
 * pass key bytes: no helper here is meant for secrets.
 *
 * Command-line tools report errors as one plain line, "prog: message", and
 * exit 1 with qkdn_die()/qkdn_die_err().
 */
#ifndef QKDN_LOG_H
#define QKDN_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum qkdn_log_level {
	QKDN_LOG_ERR,
	QKDN_LOG_WARN,
	QKDN_LOG_INFO,
	QKDN_LOG_DEBUG,
};

/* prog: the name in every message (default "qkdn"); the string must live
 * for the whole program. */
void qkdn_log_init(const char *prog, enum qkdn_log_level max_level);
/*
 * What every qkdn daemon does first: logging as prog, a process that
 * cannot be dumped (a warning if that fails), and writes to a peer that
 * went away failing with EPIPE instead of killing it.
 */
void qkdn_daemon_start(const char *prog, enum qkdn_log_level max_level);
const char *qkdn_progname(void);
/* Parses "err", "warn", "info", "debug". 0 or -EINVAL. */
int qkdn_log_level_parse(const char *s, enum qkdn_log_level *out);

__attribute__((format(printf, 3, 4)))
void qkdn_log(enum qkdn_log_level level, const char *msg, const char *fields_fmt, ...);

/* Writes s as a logfmt value into buf (quoted and escaped if needed);
 * returns buf. Truncates to fit. */
const char *qkdn_log_quote(char *buf, size_t len, const char *s);

/* "prog: <fmt>\n" on stderr, exit(1). */
__attribute__((format(printf, 1, 2), noreturn))
void qkdn_die(const char *fmt, ...);
/* "prog: <fmt>: strerror(err)\n" on stderr, exit(1). err may be + or -. */
__attribute__((format(printf, 2, 3), noreturn))
void qkdn_die_err(int err, const char *fmt, ...);
/* The same as qkdn_die()/qkdn_die_err() without exiting. */
__attribute__((format(printf, 1, 2)))
void qkdn_warn(const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void qkdn_warn_err(int err, const char *fmt, ...);

#endif
