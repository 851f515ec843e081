/* INI reading on top of libinih.  libinih parses; this file adds what error messages need: the line each key
 * stands on, a hard error for lines longer than libinih's buffer (it would otherwise split them silently), and
 * one "FILE:LINE: ..." message for the first problem. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config/config.h"

struct ini_source {
	struct cfg_ini_ctx ctx;
	cfg_ini_cb cb;
	void *arg;
	const char *text;  /* what is left to read (a file is read into memory first) */
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
	const char *nl;
	size_t n;

	if (src->ctx.failed || !*src->text)
		return NULL;
	nl = strchr(src->text, '\n');
	n = nl ? (size_t)(nl - src->text) : strlen(src->text);
	if (n > (size_t)num - 1)
		return line_too_long(src, num);
	memcpy(str, src->text, n);
	if (nl && n < (size_t)num - 1)
		str[n++] = '\n';
	str[n] = '\0';
	src->text = nl ? nl + 1 : src->text + strlen(src->text);
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

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a pipe" : S_ISCHR(m) || S_ISBLK(m) ? "a device"
	       : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* "--config /dev/null" is the usual way to say "no file": it reads as empty. */
static bool is_dev_null(const struct stat *sb)
{
	struct stat null;

	return S_ISCHR(sb->st_mode) && stat("/dev/null", &null) == 0 && null.st_rdev == sb->st_rdev;
}

/* The whole file into memory: text of at most CFG_INI_FILE_MAX bytes from a regular file or a pipe ("run
 * <(make-plan)"; a FIFO nobody writes to reads as empty).  A directory or a device (/dev/zero would never end, a
 * terminal would wait for typing; /dev/null reads as empty) is refused before anything is read, and so is a NUL
 * byte (libinih would cut the line there and drop the rest of it without a word). */
static char *read_text(const char *path, char *err, size_t errlen, int *rc)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO's open must not wait for a writer */
	struct stat sb;
	char *text = NULL, *nul;
	size_t n = 0, cap = 0;

	if (fd < 0) {
		*rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !(S_ISREG(sb.st_mode) || S_ISFIFO(sb.st_mode) || is_dev_null(&sb))) {
		*rc = -EINVAL;
		snprintf(err, errlen, "%s: cannot read: %s, not a plan file", path, file_kind(sb.st_mode));
		goto close_fd;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* a pipe's writer may be slower than us */
	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *more;

			cap = cap ? 2 * cap : 16384;
			if (cap > CFG_INI_FILE_MAX + 1)
				cap = CFG_INI_FILE_MAX + 1; /* one byte more tells a file that is too big */
			more = realloc(text, cap + 1);
			if (!more) {
				*rc = -ENOMEM;
				snprintf(err, errlen, "%s: cannot read: out of memory", path);
				goto free_text;
			}
			text = more;
		}
		got = read(fd, text + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			*rc = -errno;
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto free_text;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > CFG_INI_FILE_MAX) {
			*rc = -EFBIG;
			snprintf(err, errlen, "%s: cannot read: more than %u bytes, more than a plan file has", path,
				 CFG_INI_FILE_MAX);
			goto free_text;
		}
	}
	if (!text && !(text = malloc(1))) {
		*rc = -ENOMEM;
		snprintf(err, errlen, "%s: cannot read: out of memory", path);
		goto close_fd;
	}
	text[n] = '\0';
	nul = memchr(text, '\0', n);
	if (nul) {
		unsigned line = 1;

		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		*rc = -EINVAL;
		snprintf(err, errlen, "%s:%u: a NUL byte: not a text file", path, line);
		goto free_text;
	}
	close(fd);
	return text;

free_text:
	free(text);
	text = NULL;
close_fd:
	close(fd);
	return text;
}

int cfg_ini_parse_file(const char *path, cfg_ini_cb cb, void *arg, char *err, size_t errlen)
{
	int rc = 0;
	char *text = read_text(path, err, errlen, &rc);

	if (!text)
		return rc;
	rc = cfg_ini_parse_string(path, text, cb, arg, err, errlen);
	free(text);
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
