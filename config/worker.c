/* Worker configuration: defaults, then the INI file, then environment variables (the environment wins, so a
 * container or systemd EnvironmentFile can override a packaged file).  One table lists every setting once with
 * its INI section/key, its environment variable and its parser. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

typedef int (*setting_parse_fn)(struct cfg_worker *cfg, const char *value, bool append, char *why, size_t len);

struct setting {
	const char *section;
	const char *key;
	const char *env;      /* NULL: file only */
	setting_parse_fn parse; /* NULL: a media key of [dataplane], parsed as in plans (cfg_dataplane_set) */
	bool multiline;       /* may continue on indented lines (values are joined with a space) */
};

int cfg_token_check(const char *token, const char *source, char *err, size_t errlen)
{
	size_t n = strlen(token);
	const char *problem = NULL;
	char detail[96] = "";

	if (strncmp(token, CFG_TOKEN_PREFIX, 4) != 0) {
		problem = "it does not start with 'cmw_'";
	} else if (n != CFG_TOKEN_LEN) {
		snprintf(detail, sizeof(detail), "it is %zu characters long", n);
		problem = detail;
	} else {
		for (size_t i = 4; i < n; i++) {
			if (!isdigit((unsigned char)token[i]) && !(token[i] >= 'a' && token[i] <= 'f')) {
				snprintf(detail, sizeof(detail), "character %zu is not a lowercase hex digit", i + 1);
				problem = detail;
				break;
			}
		}
	}
	if (!problem)
		return 0;
	snprintf(err, errlen,
		 "%s: malformed worker token (%s); a worker token is 'cmw_' followed by 64 lowercase hex digits, "
		 "68 characters in all, as printed once by 'callmeter-gateway worker create'",
		 source, problem);
	return -EINVAL;
}

int cfg_parse_hostport(const char *s, uint16_t default_port, char *host, size_t hostlen, uint16_t *port)
{
	const char *h = s, *colon = NULL, *hend;
	uint64_t p = default_port;

	if (strncmp(h, "tls://", 6) == 0)
		h += 6;
	else if (strncmp(h, "https://", 8) == 0)
		h += 8;
	if (*h == '[') {
		const char *rb = strchr(h, ']');
		if (!rb || rb == h + 1)
			return -EINVAL;
		if (rb[1] == ':')
			colon = rb + 1;
		else if (rb[1] != '\0' && strcmp(rb + 1, "/") != 0)
			return -EINVAL;
		hend = rb;
		h++;
	} else {
		colon = strchr(h, ':');
		if (colon && strchr(colon + 1, ':'))
			return -EINVAL; /* bare IPv6 without brackets is ambiguous */
		hend = colon ? colon : h + strlen(h);
		if (hend > h && hend[-1] == '/')
			hend--;
	}
	if (hend == h || (size_t)(hend - h) >= hostlen)
		return -EINVAL;
	for (const char *c = h; c < hend; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_' && *c != ':')
			return -EINVAL;
	if (colon) {
		char pbuf[8];
		size_t plen = strcspn(colon + 1, "/");
		if (plen == 0 || plen >= sizeof(pbuf) || (colon[1 + plen] == '/' && colon[2 + plen] != '\0'))
			return -EINVAL;
		memcpy(pbuf, colon + 1, plen);
		pbuf[plen] = '\0';
		if (cm_parse_u64(pbuf, 1, 65535, &p) < 0)
			return -EINVAL;
	}
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int set_token(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	(void)append;
	if (cfg_token_check(v, "token", why, len) < 0) {
		/* keep only the explanation: the caller prefixes the source */
		const char *m = strstr(why, "malformed");
		if (m)
			memmove(why, m, strlen(m) + 1);
		return -EINVAL;
	}
	return cm_strlcpy(cfg->token, v, sizeof(cfg->token));
}

static int set_cloud_url(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	(void)append;
	if (*v == '\0') {
		cfg->cloud_host[0] = '\0';
		return 0;
	}
	if (cfg_parse_hostport(v, CFG_DEFAULT_GATEWAY_PORT, cfg->cloud_host, sizeof(cfg->cloud_host),
			       &cfg->cloud_port) < 0) {
		snprintf(why, len, "expected host:port, [ipv6]:port or host (port 443), got '%s'", v);
		return -EINVAL;
	}
	return 0;
}

static int set_string(char *dst, size_t dstlen, const char *v, bool append, char *why, size_t len)
{
	size_t have = append ? strlen(dst) : 0;

	if (have + (append ? 1 : 0) + strlen(v) >= dstlen) {
		snprintf(why, len, "too long (at most %zu characters)", dstlen - 1);
		return -ENAMETOOLONG;
	}
	if (append) {
		dst[have++] = ' ';
		dst[have] = '\0';
	}
	memcpy(dst + have, v, strlen(v) + 1);
	return 0;
}

static int set_name(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	if (*v == '\0') {
		snprintf(why, len, "must not be empty");
		return -EINVAL;
	}
	for (const char *c = v; *c; c++) {
		if (!isprint((unsigned char)*c) || *c == '"' || *c == '\\') {
			snprintf(why, len, "only printable characters without quotes or backslashes");
			return -EINVAL;
		}
	}
	return set_string(cfg->name, sizeof(cfg->name), v, append, why, len);
}

static int set_log_level(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	(void)append;
	if (cm_log_level_parse(v, &cfg->log_level) < 0) {
		snprintf(why, len, "expected error, warn, info or debug, got '%s'", v);
		return -EINVAL;
	}
	return 0;
}

static int set_log_format(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	(void)append;
	if (cm_log_format_parse(v, &cfg->log_format) < 0) {
		snprintf(why, len, "expected json or pretty, got '%s'", v);
		return -EINVAL;
	}
	return 0;
}

static int parse_port(const char *v, uint16_t min, uint16_t *out, char *why, size_t len)
{
	uint64_t p;

	if (cm_parse_u64(v, min, 65535, &p) < 0) {
		snprintf(why, len, "expected a TCP port number %u-65535, got '%s'", min, v);
		return -EINVAL;
	}
	*out = (uint16_t)p;
	return 0;
}

static int set_health_port(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	(void)append;
	return parse_port(v, 0, &cfg->health_port, why, len);
}

static int set_health_bind(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	return set_string(cfg->health_bind, sizeof(cfg->health_bind), v, append, why, len);
}

static int set_ca_file(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	return set_string(cfg->ca_file, sizeof(cfg->ca_file), v, append, why, len);
}

static int set_eal_args(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	return set_string(cfg->eal_args, sizeof(cfg->eal_args), v, append, why, len);
}

static int set_port_name(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	return set_string(cfg->port_name, sizeof(cfg->port_name), v, append, why, len);
}

static int parse_ms(const char *v, uint32_t *out, char *why, size_t len)
{
	uint64_t ms;

	if (cm_parse_u64(v, 10, 3600000, &ms) < 0) {
		snprintf(why, len, "expected milliseconds between 10 and 3600000, got '%s'", v);
		return -EINVAL;
	}
	*out = (uint32_t)ms;
	return 0;
}

static int set_reconnect_min(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	(void)append;
	return parse_ms(v, &cfg->reconnect_min_ms, why, len);
}

static int set_reconnect_max(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	(void)append;
	return parse_ms(v, &cfg->reconnect_max_ms, why, len);
}

static int set_sip_ip(struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	struct in_addr a;

	(void)append;
	if (inet_pton(AF_INET, v, &a) != 1) {
		snprintf(why, len, "expected an IPv4 address, got '%s'", v);
		return -EINVAL;
	}
	return cm_strlcpy(cfg->sip_ip, v, sizeof(cfg->sip_ip));
}

static const struct setting settings[] = {
	{ .section = "worker", .key = "token", .env = "WORKER_TOKEN", .parse = set_token, .multiline = false },
	{ .section = "worker", .key = "cloud_url", .env = "CLOUD_URL", .parse = set_cloud_url, .multiline = false },
	{ .section = "worker", .key = "name", .env = "WORKER_NAME", .parse = set_name, .multiline = false },
	{ .section = "worker", .key = "log_level", .env = "LOG_LEVEL", .parse = set_log_level, .multiline = false },
	{ .section = "worker", .key = "log_format", .env = "LOG_FORMAT", .parse = set_log_format, .multiline = false },
	{ .section = "worker", .key = "health_port", .env = "HEALTH_PORT", .parse = set_health_port, .multiline = false },
	{ .section = "worker", .key = "health_bind", .env = "HEALTH_BIND", .parse = set_health_bind, .multiline = false },
	{ .section = "worker", .key = "ca_file", .env = "CALLMETER_CA_FILE", .parse = set_ca_file, .multiline = false },
	{ .section = "worker", .key = "reconnect_min_ms", .env = NULL, .parse = set_reconnect_min, .multiline = false },
	{ .section = "worker", .key = "reconnect_max_ms", .env = NULL, .parse = set_reconnect_max, .multiline = false },
	{ .section = "dataplane", .key = "eal_args", .env = "CALLMETER_EAL_ARGS", .parse = set_eal_args, .multiline = true },
	{ .section = "dataplane", .key = "port", .env = "CALLMETER_PORT", .parse = set_port_name, .multiline = false },
	{ .section = "dataplane", .key = "media_ip", .env = "MEDIA_IP", .parse = NULL, .multiline = false },
	{ .section = "dataplane", .key = "netmask", .env = "MEDIA_NETMASK", .parse = NULL, .multiline = false },
	{ .section = "dataplane", .key = "gateway", .env = "MEDIA_GATEWAY", .parse = NULL, .multiline = false },
	{ .section = "dataplane", .key = "vlan", .env = "MEDIA_VLAN", .parse = NULL, .multiline = false },
	{ .section = "dataplane", .key = "rtp_ports", .env = "RTP_PORTS", .parse = NULL, .multiline = false },
	{ .section = "dataplane", .key = "max_flows", .env = "MAX_FLOWS", .parse = NULL, .multiline = false },
	{ .section = "sip", .key = "local_ip", .env = "SIP_IP", .parse = set_sip_ip, .multiline = false },
};

static int apply(const struct setting *s, struct cfg_worker *cfg, const char *v, bool append, char *why, size_t len)
{
	return s->parse ? s->parse(cfg, v, append, why, len) : cfg_dataplane_set(&cfg->media, s->key, v, why, len);
}

void cfg_worker_defaults(struct cfg_worker *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cloud_port = CFG_DEFAULT_GATEWAY_PORT;
	if (gethostname(cfg->name, sizeof(cfg->name) - 1) != 0 || cfg->name[0] == '\0')
		cm_strlcpy(cfg->name, "callmeter-worker", sizeof(cfg->name));
	cfg->log_level = CM_LOG_INFO;
	cfg->log_format = CM_LOG_JSON;
	cfg->health_port = CFG_DEFAULT_HEALTH_PORT;
	cm_strlcpy(cfg->health_bind, "0.0.0.0", sizeof(cfg->health_bind));
	cm_strlcpy(cfg->eal_args, CFG_DEFAULT_EAL_ARGS, sizeof(cfg->eal_args));
	cfg->reconnect_min_ms = 1000;
	cfg->reconnect_max_ms = 60000;
	cfg_dataplane_defaults(&cfg->media);
	cfg->media.max_flows = CFG_DEFAULT_MAX_FLOWS;
	cm_strlcpy(cfg->sip_ip, "127.0.0.1", sizeof(cfg->sip_ip));
}

struct file_state {
	struct cfg_worker *cfg;
	unsigned seen_line[CM_ARRAY_SIZE(settings)];
};

static int file_setting_cb(struct cfg_ini_ctx *ctx, const char *section, const char *key, const char *value,
			   void *arg)
{
	struct file_state *st = arg;
	char why[CFG_ERR_MAX];
	bool section_known = false;

	for (size_t i = 0; i < CM_ARRAY_SIZE(settings); i++) {
		const struct setting *s = &settings[i];
		bool append;

		if (strcmp(section, s->section) != 0)
			continue;
		section_known = true;
		if (strcmp(key, s->key) != 0)
			continue;
		append = ctx->continuation;
		if (append && !s->multiline) {
			cfg_ini_error(ctx, key, "this key takes one line (only eal_args continues on indented lines)");
			return -EINVAL;
		}
		if (!append && st->seen_line[i]) {
			cfg_ini_error(ctx, key, "given twice (first on line %u)", st->seen_line[i]);
			return -EINVAL;
		}
		if (!append)
			st->seen_line[i] = ctx->line;
		if (apply(s, st->cfg, value, append, why, sizeof(why)) < 0) {
			cfg_ini_error(ctx, key, "%s", why);
			return -EINVAL;
		}
		return 0;
	}
	if (!section_known)
		cfg_ini_error(ctx, key, "unknown section [%s] (expected [worker], [dataplane] or [sip])", section);
	else
		cfg_ini_error(ctx, key, "unknown key in [%s]", section);
	return -EINVAL;
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

int cfg_worker_load(struct cfg_worker *cfg, const char *path, char *const *env, char *err, size_t errlen)
{
	struct file_state st = { .cfg = cfg };
	char why[CFG_ERR_MAX];
	struct stat sb;
	int rc;

	cfg_worker_defaults(cfg);
	if (!path && stat(CFG_DEFAULT_PATH, &sb) == 0)
		path = CFG_DEFAULT_PATH;
	if (path) {
		rc = cfg_ini_parse_file(path, file_setting_cb, &st, err, errlen);
		if (rc < 0)
			return rc;
		cm_strlcpy(cfg->source, path, sizeof(cfg->source));
	}
	for (size_t i = 0; i < CM_ARRAY_SIZE(settings); i++) {
		const struct setting *s = &settings[i];
		const char *v = s->env ? env_get(env, s->env) : NULL;

		if (!v || *v == '\0')
			continue; /* an empty variable (common in env files) means "not set" */
		if (apply(s, cfg, v, false, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "environment variable %s: %s", s->env, why);
			return -EINVAL;
		}
	}
	if (cfg->reconnect_min_ms > cfg->reconnect_max_ms) {
		snprintf(err, errlen, "%s: reconnect_min_ms (%u) is larger than reconnect_max_ms (%u)",
			 path ? path : "config", cfg->reconnect_min_ms, cfg->reconnect_max_ms);
		return -EINVAL;
	}
	if ((uint64_t)((cfg->media.rtp_port_max - cfg->media.rtp_port_min + 1) / 2) * cfg->media.nmedia_ips <
	    cfg->media.max_flows) {
		snprintf(err, errlen, "%s: [dataplane] rtp_ports %u-%u on %u media address(es) hold fewer than max_flows "
			 "(%u) RTP port pairs; widen rtp_ports, add media_ip addresses or lower max_flows",
			 path ? path : "config", cfg->media.rtp_port_min, cfg->media.rtp_port_max, cfg->media.nmedia_ips,
			 cfg->media.max_flows);
		return -EINVAL;
	}
	if (cfg->token[0] && !cfg->cloud_host[0]) {
		snprintf(err, errlen, "a worker token is set but CLOUD_URL is not: set CLOUD_URL=host:port of the "
			 "gateway, or unset WORKER_TOKEN to run standalone");
		return -EINVAL;
	}
	return 0;
}
