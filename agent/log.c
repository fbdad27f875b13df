// SPDX-License-Identifier: GPL-2.0-only
/* Logging: timestamped lines on stderr, OpenSSL error queue in one line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>

#include "log.h"

int log_verbosity = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)lvl > log_verbosity)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ snigate %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* one write per line so threads do not interleave */
	fprintf(stderr, "%s\n", line);
}

void log_openssl(enum log_level lvl, const char *ctx)
{
	char buf[1024] = "", one[256];
	unsigned long e;
	size_t len = 0;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		len += (size_t)snprintf(buf + len, len < sizeof(buf) ? sizeof(buf) - len : 0,
					"%s%s", len ? "; " : "", one);
		if (len >= sizeof(buf))
			break;
	}
	log_msg(lvl, "%s: %s", ctx, buf[0] ? buf : "(no OpenSSL error queued)");
}
