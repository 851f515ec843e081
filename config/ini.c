/* INI reading on top of libinih.  libinih parses; this file adds what error messages need: the line each key
 * stands on, a hard error for lines longer than libinih's buffer (it would otherwise split them silently), and
 * one "FILE:LINE: ..." message for the first problem. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

#include "config/config.h"

struct ini_source {
	struct cfg_ini_ctx ctx;
	cfg_ini_cb cb;
	void *arg;
	FILE *fp;          /* file source, or */
	const char *text;  /* string source */
	unsigned fail_line;
	bool after_key;    /* the last line that was not a comment was a key (or its continuation) */
};

void cfg_ini_error(struct cfg_ini_ctx *ctx, const char *key, const char *fmt, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;

	if (ctx->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key)
		snprintf(ctx->err, ctx->errlen, "%s:%u: key '%s': %s", ctx->file, ctx->line, key, msg);
	else
		snprintf(ctx->err, ctx->errlen, "%s:%u: %s", ctx->file, ctx->line, msg);
	ctx->failed = true;
}

static char *line_too_long(struct ini_source *src, int num)
{
	src->ctx.line++;
	cfg_ini_error(&src->ctx, NULL, "line longer than %d characters (continue a long value on indented lines)",
		      num - 1);
	src->fail_line = src->ctx.line;
	return NULL;
}

/* Classifies a line exactly as libinih 55 will (ini.c): after white space (isspace), ';' '#' or nothing is a
 * comment; an indented line after a key line is that key's continuation (even if it looks like a header);
 * '[' starts a header and forgets the key; anything else is a key line.  Comments and blank lines keep the
 * key.  Getting this wrong would make a header seen by libinih unseen here, or the reverse. */
static void classify_line(struct ini_source *src, const char *str)
{
	const char *p = str;

	while (*p && isspace((unsigned char)*p))
		p++;
	src->ctx.indented = false;
	if (*p == '\0' || *p == ';' || *p == '#')
		return;
	if (src->after_key && p > str) {
		src->ctx.indented = true;
	} else if (*p == '[') {
		src->ctx.section_seq++;
		src->ctx.section_line = src->ctx.line;
		src->after_key = false;
	} else {
		src->after_key = true;
	}
}

/* fgets-alike for libinih; counts lines and refuses lines that do not fit its buffer. */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_source *src = stream;
	size_t n = 0;
	int c;

	if (src->ctx.failed)
		return NULL;
	if (src->fp) {
		if (!fgets(str, num, src->fp))
			return NULL;
		n = strlen(str);
		if (n == (size_t)num - 1 && str[n - 1] != '\n') {
			c = fgetc(src->fp);
			if (c != EOF && c != '\n') {
				return line_too_long(src, num);
			}
		}
	} else {
		const char *nl;

		if (!*src->text)
			return NULL;
		nl = strchr(src->text, '\n');
		n = nl ? (size_t)(nl - src->text) : strlen(src->text);
		if (n > (size_t)num - 1) {
			return line_too_long(src, num);
		}
		memcpy(str, src->text, n);
		if (nl && n < (size_t)num - 1)
			str[n++] = '\n';
		str[n] = '\0';
		src->text = nl ? nl + 1 : src->text + strlen(src->text);
	}
	src->ctx.line++;
	classify_line(src, str);
	return str;
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_source *src = user;

	if (src->ctx.failed)
		return 0;
	src->ctx.new_section = src->ctx.section_seq != src->ctx.prev_section_seq;
	src->ctx.prev_section_seq = src->ctx.section_seq;
	src->ctx.continuation = src->ctx.indented && strcmp(src->ctx.prev[0], section) == 0 &&
				strcmp(src->ctx.prev[1], name) == 0;
	cm_strlcpy(src->ctx.prev[0], section, sizeof(src->ctx.prev[0]));
	cm_strlcpy(src->ctx.prev[1], name, sizeof(src->ctx.prev[1]));
	if (src->cb(&src->ctx, section, name, value, src->arg) < 0) {
		if (!src->ctx.failed)
			cfg_ini_error(&src->ctx, name, "invalid value");
		src->fail_line = src->ctx.line;
		return 0;
	}
	return 1;
}

static int ini_run(struct ini_source *src)
{
	int rc = ini_parse_stream(ini_read_line, src, ini_handler_cb, src);

	if (rc < 0) {
		snprintf(src->ctx.err, src->ctx.errlen, "%s: cannot read: out of memory", src->ctx.file);
		return -ENOMEM;
	}
	/* libinih reports the first line it could not parse; prefer whichever problem came first. */
	if (rc > 0 && (!src->ctx.failed || (unsigned)rc < src->fail_line)) {
		snprintf(src->ctx.err, src->ctx.errlen,
			 "%s:%d: syntax error (expected '[section]', 'key = value' or a comment)", src->ctx.file, rc);
		return -EINVAL;
	}
	return src->ctx.failed ? -EINVAL : 0;
}

int cfg_ini_parse_file(const char *path, cfg_ini_cb cb, void *arg, char *err, size_t errlen)
{
	struct ini_source src = {
		.ctx = { .file = path, .err = err, .errlen = errlen },
		.cb = cb,
		.arg = arg,
	};
	int rc;

	src.fp = fopen(path, "r");
	if (!src.fp) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	rc = ini_run(&src);
	fclose(src.fp);
	return rc;
}

int cfg_ini_parse_string(const char *name, const char *text, cfg_ini_cb cb, void *arg, char *err, size_t errlen)
{
	struct ini_source src = {
		.ctx = { .file = name, .err = err, .errlen = errlen },
		.cb = cb,
		.arg = arg,
		.text = text,
	};

	return ini_run(&src);
}
