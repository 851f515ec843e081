/* Clocks and small string helpers shared by every layer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

uint64_t cm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t cm_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cm_wallclock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cm_format_utc(uint64_t wall_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	char base[24];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", base, (unsigned)(wall_ms % 1000));
}

int cm_strlcpy(char *dst, const char *src, size_t len)
{
	size_t n = strlen(src);

	if (len == 0)
		return -ENAMETOOLONG;
	if (n >= len) {
		memcpy(dst, src, len - 1);
		dst[len - 1] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int cm_json_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return -ENOSPC;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char tmp[8];
		size_t n;

		switch (c) {
		case '"': memcpy(tmp, "\\\"", 3); break;
		case '\\': memcpy(tmp, "\\\\", 3); break;
		case '\n': memcpy(tmp, "\\n", 3); break;
		case '\r': memcpy(tmp, "\\r", 3); break;
		case '\t': memcpy(tmp, "\\t", 3); break;
		default:
			if (c < 0x20)
				snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			else {
				tmp[0] = (char)c;
				tmp[1] = '\0';
			}
		}
		n = strlen(tmp);
		if (o + n >= len) {
			out[o] = '\0';
			return -ENOSPC;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return (int)o;
}

int cm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
