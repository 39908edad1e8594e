// SPDX-License-Identifier: GPL-2.0 OR MIT
#include "log.h"
#include "secmem.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *progname = "qkdn";
static enum qkdn_log_level log_max = QKDN_LOG_INFO;

static const char *const level_names[] = {
	[QKDN_LOG_ERR] = "err",
	[QKDN_LOG_WARN] = "warn",
	[QKDN_LOG_INFO] = "info",
	[QKDN_LOG_DEBUG] = "debug",
};

void qkdn_log_init(const char *prog, enum qkdn_log_level max_level)
{
	if (prog)
		progname = prog;
	log_max = max_level;
}

const char *qkdn_progname(void)
{
	return progname;
}

int qkdn_log_level_parse(const char *s, enum qkdn_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum qkdn_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *qkdn_log_quote(char *buf, size_t len, const char *s)
{
	size_t o = 0;
	int plain = *s != '\0';

	if (len == 0)
		return buf;
	for (const char *p = s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			plain = 0;
	if (plain) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	if (len < 3) {
		buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (const char *p = s; *p && o + 5 < len; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c < ' ' || c == 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void qkdn_log(enum qkdn_log_level level, const char *msg, const char *fields_fmt, ...)
{
	char line[2048], quoted[512], ts[40];
	struct timespec now;
	struct tm tm;
	size_t o;
	int n;

	if (level > log_max)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s prog=%s msg=%s",
		     ts, now.tv_nsec / 1000000, level_names[level], progname,
		     qkdn_log_quote(quoted, sizeof(quoted), msg ? msg : ""));
	o = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (fields_fmt && *fields_fmt && o + 1 < sizeof(line)) {
		va_list ap;

		line[o++] = ' ';
		va_start(ap, fields_fmt);
		n = vsnprintf(line + o, sizeof(line) - o, fields_fmt, ap);
		va_end(ap);
		if (n > 0)
			o += (size_t)n < sizeof(line) - o ? (size_t)n : sizeof(line) - o - 1;
	}
	line[o] = '\0';
	/* One fprintf per line so concurrent writers do not interleave. */
	fprintf(stderr, "%s\n", line);
}

static void vwarn(int err, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err)
		fprintf(stderr, "%s: %s: %s\n", progname, msg, strerror(err < 0 ? -err : err));
	else
		fprintf(stderr, "%s: %s\n", progname, msg);
}

void qkdn_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(0, fmt, ap);
	va_end(ap);
}

void qkdn_warn_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(err, fmt, ap);
	va_end(ap);
}

void qkdn_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(0, fmt, ap);
	va_end(ap);
	exit(1);
}

void qkdn_die_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(err, fmt, ap);
	va_end(ap);
	exit(1);
}

void qkdn_daemon_start(const char *prog, enum qkdn_log_level max_level)
{
	int ret;

	qkdn_log_init(prog, max_level);
	ret = qkdn_harden_process();
	if (ret)
		qkdn_log(QKDN_LOG_WARN, "cannot make the process non-dumpable",
			 "event=harden-failed err=\"%s\"", strerror(-ret));
	signal(SIGPIPE, SIG_IGN);
}
