/* Structured logging: one JSON object per line (LOG_FORMAT=json) or a human line (pretty).  Every line passes
 * through cm_redact() so that no token or registered secret can reach a log, whoever formats it. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

static struct {
	enum cm_log_level level;
	enum cm_log_format format;
	FILE *out;
	char secrets[CM_LOG_SECRETS_MAX][256];
	size_t nsecrets;
	pthread_mutex_t lock;
} g_log = {
	.level = CM_LOG_INFO,
	.format = CM_LOG_JSON,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const char *const level_names[] = {
	[CM_LOG_ERROR] = "error",
	[CM_LOG_WARN] = "warn",
	[CM_LOG_INFO] = "info",
	[CM_LOG_DEBUG] = "debug",
};

void cm_log_setup(enum cm_log_level level, enum cm_log_format format, FILE *out)
{
	g_log.level = level;
	g_log.format = format;
	g_log.out = out;
}

enum cm_log_level cm_log_level(void)
{
	return g_log.level;
}

bool cm_log_enabled(enum cm_log_level level)
{
	return level <= g_log.level;
}

const char *cm_log_level_name(enum cm_log_level level)
{
	return (unsigned)level < CM_ARRAY_SIZE(level_names) ? level_names[level] : "?";
}

int cm_log_level_parse(const char *s, enum cm_log_level *out)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum cm_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = CM_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

int cm_log_format_parse(const char *s, enum cm_log_format *out)
{
	if (strcasecmp(s, "json") == 0)
		*out = CM_LOG_JSON;
	else if (strcasecmp(s, "pretty") == 0 || strcasecmp(s, "text") == 0)
		*out = CM_LOG_PRETTY;
	else
		return -EINVAL;
	return 0;
}

int cm_log_add_secret(const char *secret)
{
	size_t n = strlen(secret);

	if (n == 0)
		return 0;
	if (n >= sizeof(g_log.secrets[0]))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&g_log.lock);
	for (size_t i = 0; i < g_log.nsecrets; i++) {
		if (strcmp(g_log.secrets[i], secret) == 0) {
			pthread_mutex_unlock(&g_log.lock);
			return 0;
		}
	}
	if (g_log.nsecrets == CM_LOG_SECRETS_MAX) {
		pthread_mutex_unlock(&g_log.lock);
		return -ENOSPC;
	}
	memcpy(g_log.secrets[g_log.nsecrets++], secret, n + 1);
	pthread_mutex_unlock(&g_log.lock);
	return 0;
}

void cm_log_clear_secrets(void)
{
	pthread_mutex_lock(&g_log.lock);
	memset(g_log.secrets, 0, sizeof(g_log.secrets));
	g_log.nsecrets = 0;
	pthread_mutex_unlock(&g_log.lock);
}

/* Length of a token-shaped run at s ("cmw_"/"cmc_" + >= 8 hex digits), 0 if none. */
static size_t token_shape_len(const char *s)
{
	size_t n = 0;

	if (strncasecmp(s, "cmw_", 4) != 0 && strncasecmp(s, "cmc_", 4) != 0)
		return 0;
	while (isxdigit((unsigned char)s[4 + n]))
		n++;
	return n >= 8 ? 4 + n : 0;
}

/* Caller holds g_log.lock (or is a test with no concurrent logging). */
static size_t secret_len_at(const char *s)
{
	for (size_t i = 0; i < g_log.nsecrets; i++) {
		size_t n = strlen(g_log.secrets[i]);
		if (strncmp(s, g_log.secrets[i], n) == 0)
			return n;
	}
	return token_shape_len(s);
}

static size_t redact_locked(const char *in, char *out, size_t outlen)
{
	static const char mask[] = "[redacted]";
	size_t o = 0;

	if (outlen == 0)
		return 0;
	while (*in && o + 1 < outlen) {
		size_t n = secret_len_at(in);
		if (n) {
			for (size_t k = 0; k < sizeof(mask) - 1 && o + 1 < outlen; k++)
				out[o++] = mask[k];
			in += n;
			continue;
		}
		out[o++] = *in++;
	}
	out[o] = '\0';
	return o;
}

size_t cm_redact(const char *in, char *out, size_t outlen)
{
	size_t n;

	pthread_mutex_lock(&g_log.lock);
	n = redact_locked(in, out, outlen);
	pthread_mutex_unlock(&g_log.lock);
	return n;
}

void cm_vlog(enum cm_log_level level, const char *component, const char *fmt, va_list ap)
{
	char raw[CM_LOG_MSG_MAX], msg[CM_LOG_MSG_MAX], esc[2 * CM_LOG_MSG_MAX], ts[32];
	FILE *out = g_log.out ? g_log.out : stderr;
	int n;

	if (!cm_log_enabled(level))
		return;
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n >= (int)sizeof(raw))
		memcpy(raw + sizeof(raw) - 4, "...", 4);
	/* Trailing newlines come from libraries (EAL) that end their messages with one. */
	for (size_t len = strlen(raw); len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'); len--)
		raw[len - 1] = '\0';
	cm_format_utc(cm_wallclock_ms(), ts, sizeof(ts));

	pthread_mutex_lock(&g_log.lock);
	redact_locked(raw, msg, sizeof(msg));
	if (g_log.format == CM_LOG_JSON) {
		cm_json_escape(msg, esc, sizeof(esc));
		fprintf(out, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}\n", ts,
			cm_log_level_name(level), component, esc);
	} else {
		fprintf(out, "%s %-5s [%s] %s\n", ts, cm_log_level_name(level), component, msg);
	}
	fflush(out);
	pthread_mutex_unlock(&g_log.lock);
}

void cm_log(enum cm_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cm_vlog(level, component, fmt, ap);
	va_end(ap);
}

void cm_log_rl(struct cm_ratelimit *rl, enum cm_log_level level, const char *component, const char *fmt, ...)
{
	uint64_t now = cm_now_ms();
	va_list ap;

	if (!cm_log_enabled(level))
		return;
	if (now - rl->window_start_ms >= rl->interval_ms) {
		if (rl->suppressed)
			cm_log(level, component, "%u similar messages suppressed", rl->suppressed);
		rl->window_start_ms = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= rl->burst) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	cm_vlog(level, component, fmt, ap);
	va_end(ap);
}
