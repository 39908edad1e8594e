/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tap.h - minimal TAP output for qkdn unit tests (header only).
 *
 * API:
 *   ok(cond, fmt, ...)  Prints "ok N - <desc>" or "not ok N - <desc>"
 *                       (desc formatted printf-style), plus a diagnostic
 *                       "#   at FILE:LINE" line when it fails. Evaluates to
 *                       cond as 0 or 1, so `if (!ok(...))` works.
 *   diag(fmt, ...)      Prints "# <message>": a comment, never a result.
 *   skip(fmt, ...)      Counts a passing test "ok N - # SKIP <reason>".
 *   tap_done()          Prints the trailing plan "1..N" and returns the
 *                       exit status: 0 if every test passed, 1 otherwise
 *                       (also 1 if no test ran). Use: return tap_done();
 *
 * No plan is declared up front; the plan comes last, so a test binary that
 * crashes midway is still seen as incomplete. Output goes to stdout and is
 * flushed after every line. State is per translation unit: keep a test
 * program's ok() calls in one .c file.
 */
#ifndef QKDN_TAP_H
#define QKDN_TAP_H

#include <stdarg.h>
#include <stdio.h>

static unsigned int tap_count_;
static unsigned int tap_failed_;

__attribute__((format(printf, 4, 5)))
static inline int tap_ok_(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_count_++;
	printf("%sok %u - ", pass ? "" : "not ", tap_count_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed_++;
		printf("#   at %s:%d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

__attribute__((format(printf, 1, 2)))
static inline void skip(const char *fmt, ...)
{
	va_list ap;

	tap_count_++;
	printf("ok %u - # SKIP ", tap_count_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int tap_done(void)
{
	printf("1..%u\n", tap_count_);
	fflush(stdout);
	return tap_failed_ || tap_count_ == 0 ? 1 : 0;
}

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#endif
