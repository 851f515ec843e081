/* common/ — what every layer shares: structured logging with secret redaction, clocks, small string helpers.
 *
 * Error convention: functions return 0 on success and a negative errno on failure unless they say otherwise.
 * Logging is for the control plane; a dataplane lcore only ever uses the rate-limited form (cm_log_rl). */
#ifndef CM_COMMON_H
#define CM_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef CM_VERSION
#define CM_VERSION "0.0.0"
#endif

#define CM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ---------------------------------------------------------------------------------------------- */

enum cm_log_level { CM_LOG_ERROR, CM_LOG_WARN, CM_LOG_INFO, CM_LOG_DEBUG };
enum cm_log_format { CM_LOG_JSON, CM_LOG_PRETTY };

/* Longest message after formatting; longer ones are cut and end in "...". */
#define CM_LOG_MSG_MAX 1024

void cm_log_setup(enum cm_log_level level, enum cm_log_format format, FILE *out);
enum cm_log_level cm_log_level(void);
bool cm_log_enabled(enum cm_log_level level);

/* Registers a secret (the worker token, a password) that must never appear in a log line; every occurrence is
 * replaced by "[redacted]".  Independently of registration, anything shaped like a worker or cloud token
 * ("cmw_"/"cmc_" followed by 8 or more hex digits) is redacted too.  Up to CM_LOG_SECRETS_MAX secrets. */
#define CM_LOG_SECRETS_MAX 8
int cm_log_add_secret(const char *secret);
void cm_log_clear_secrets(void);

void cm_log(enum cm_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cm_vlog(enum cm_log_level level, const char *component, const char *fmt, va_list ap);

/* Rate-limited logging for paths that can fire per packet or per message: at most `burst` lines per
 * `interval_ms`; the first line after a quiet period says how many were suppressed. */
struct cm_ratelimit {
	uint64_t window_start_ms;
	uint32_t interval_ms;
	uint32_t burst;
	uint32_t printed;
	uint32_t suppressed;
};
#define CM_RATELIMIT_INIT(interval, n) { .interval_ms = (interval), .burst = (n) }
void cm_log_rl(struct cm_ratelimit *rl, enum cm_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Writes `in` into `out` with every secret and token-shaped string replaced; returns strlen(out). */
size_t cm_redact(const char *in, char *out, size_t outlen);

/* Parses "error|warn|info|debug" / "json|pretty"; 0 or -EINVAL. */
int cm_log_level_parse(const char *s, enum cm_log_level *out);
int cm_log_format_parse(const char *s, enum cm_log_format *out);
const char *cm_log_level_name(enum cm_log_level level);

/* ---- clocks ----------------------------------------------------------------------------------------------- */

uint64_t cm_now_ms(void);       /* CLOCK_MONOTONIC, milliseconds */
uint64_t cm_now_us(void);       /* CLOCK_MONOTONIC, microseconds */
uint64_t cm_wallclock_ms(void); /* CLOCK_REALTIME, milliseconds since the Unix epoch */
/* "2026-11-24T04:49:13.123Z" into buf (at least 25 bytes). */
void cm_format_utc(uint64_t wall_ms, char *buf, size_t len);

/* ---- strings ---------------------------------------------------------------------------------------------- */

/* Copies with truncation, always NUL-terminates; returns -ENAMETOOLONG when truncated. */
int cm_strlcpy(char *dst, const char *src, size_t len);
/* Appends s to a JSON string body (no quotes) escaping as RFC 8259 requires; returns bytes written or
 * -ENOSPC (out is then NUL-terminated at the last whole character that fitted). */
int cm_json_escape(const char *s, char *out, size_t len);
/* Strict unsigned decimal parse of the whole string into [min, max]; 0 or -EINVAL / -ERANGE. */
int cm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
