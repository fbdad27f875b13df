/* SPDX-License-Identifier: GPL-2.0-only */
/* Logging: leveled, one line per event, to stderr. */
#ifndef SNIGATE_LOG_H
#define SNIGATE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_verbosity; /* messages above this level are dropped */

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_dbg(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Drain OpenSSL's error queue into one log line prefixed with @ctx. */
void log_openssl(enum log_level lvl, const char *ctx);

#endif
