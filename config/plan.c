/* Test plans: INI sections [test], [group NAME], [dataplane], [impairment] (docs/plan.md).  Each key is a row
 * in one of the field tables below (type, place, bounds), so parsing, defaults and documentation stay in step;
 * what needs more than one key (targets, accounts, port capacity) is checked after the whole file is read. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "codecs/codecs.h"
#include "config/config.h"

enum field_type {
	F_STR,      /* char[size] */
	F_U8, F_U16, F_U32, F_U64,
	F_MS,       /* duration -> uint32_t ms */
	F_SEC,      /* duration -> uint32_t s */
	F_PCT,      /* percentage 0..100 ("3%" or "3") -> double */
	F_DOUBLE,   /* plain number -> double */
	F_BOOL,
	F_ENUM,     /* one of names[] -> int-sized enum */
	F_CODECS,   /* comma list -> group codecs */
	F_TARGET,   /* group:NAME | sip:URI | external */
	F_IPV4,     /* char[16] */
	F_IPV4_LIST,/* media IPs */
	F_PORT_RANGE,
};

struct field {
	const char *key;
	enum field_type type;
	size_t off;
	size_t size;
	uint64_t min, max;
	const char *const *names;
};

static const char *const role_names[] = { "caller", "callee", "both", NULL };
static const char *const transport_names[] = { "udp", "tcp", "tls", NULL };
static const char *const srtp_names[] = { "off", "optional", "mandatory", NULL };
static const char *const dtmf_names[] = { "none", "rfc4733", "info", NULL };
static const char *const verify_names[] = { "system", "ca", "none", NULL };
static const char *const hold_names[] = { "sendonly", "inactive", NULL };
static const char *const rel100_names[] = { "off", "supported", "required", NULL };


#define FS(st, k, t, member) { k, t, offsetof(struct st, member), sizeof(((struct st *)0)->member), 0, 0, NULL }
#define FN(st, k, t, member, lo, hi) \
	{ k, t, offsetof(struct st, member), sizeof(((struct st *)0)->member), lo, hi, NULL }
#define FE(st, k, member, list) \
	{ k, F_ENUM, offsetof(struct st, member), sizeof(((struct st *)0)->member), 0, 0, list }

static const struct field test_fields[] = {
	FS(cfg_test, "name", F_STR, name),
	FN(cfg_test, "duration", F_MS, duration_ms, 1000, 7 * 24 * 3600 * 1000ull),
	FN(cfg_test, "call_duration", F_MS, call_duration_ms, 100, 24 * 3600 * 1000ull),
	FN(cfg_test, "cps", F_DOUBLE, cps, 0, 100000),
	FN(cfg_test, "register_rate", F_DOUBLE, register_rate, 0, 100000),
	FN(cfg_test, "setup_timeout", F_MS, setup_timeout_ms, 1000, 600000),
	FN(cfg_test, "register_timeout", F_MS, register_timeout_ms, 1000, 600000),
	FN(cfg_test, "teardown_timeout", F_MS, teardown_timeout_ms, 1000, 600000),
	FN(cfg_test, "mos_warning", F_DOUBLE, mos_warning, 1, 5),
	FN(cfg_test, "loss_warning", F_PCT, loss_warning_pct, 0, 100),
};

static const struct field group_fields[] = {
	FN(cfg_group, "endpoints", F_U32, endpoints, 1, CFG_MAX_ENDPOINTS),
	FE(cfg_group, "role", role, role_names),
	FS(cfg_group, "registrar", F_STR, registrar),
	FS(cfg_group, "domain", F_STR, domain),
	FE(cfg_group, "transport", transport, transport_names),
	FS(cfg_group, "outbound_proxy", F_STR, outbound_proxy),
	FS(cfg_group, "username", F_STR, username),
	FS(cfg_group, "password", F_STR, password),
	FS(cfg_group, "accounts", F_STR, accounts),
	FN(cfg_group, "first_number", F_U32, first_number, 0, 4000000000ull),
	FS(cfg_group, "local_ip", F_STR, local_ip),
	FN(cfg_group, "local_port", F_U16, local_port, 0, 65535),
	FS(cfg_group, "port_per_endpoint", F_BOOL, port_per_endpoint),
	FS(cfg_group, "target", F_TARGET, target),
	FS(cfg_group, "codecs", F_CODECS, codecs),
	FN(cfg_group, "ptime", F_U16, ptime_ms, 10, 120),
	FS(cfg_group, "media", F_STR, media),
	FE(cfg_group, "srtp", srtp, srtp_names),
	FE(cfg_group, "dtmf", dtmf, dtmf_names),
	FS(cfg_group, "dtmf_digits", F_STR, dtmf_digits),
	FN(cfg_group, "dtmf_delay", F_MS, dtmf_delay_ms, 0, 3600000),
	FN(cfg_group, "dscp", F_U8, dscp, 0, 63),
	FN(cfg_group, "sip_dscp", F_U8, sip_dscp, 0, 63),
	FN(cfg_group, "answer", F_U16, answer_code, 200, 699),
	FN(cfg_group, "ring_time", F_MS, ring_ms, 0, 600000),
	FN(cfg_group, "register_expires", F_SEC, register_expires_s, 10, 604800),
	FN(cfg_group, "calls_per_endpoint", F_U32, calls_per_endpoint, 0, 1000000),
	FN(cfg_group, "call_duration", F_MS, call_duration_ms, 100, 24 * 3600 * 1000ull),
	FE(cfg_group, "100rel", rel100, rel100_names),
	FS(cfg_group, "early_media", F_BOOL, early_media),
	FN(cfg_group, "session_expires", F_MS, session_expires_ms, 0, 24 * 3600 * 1000ull),
	FN(cfg_group, "min_se", F_MS, min_se_ms, 1000, 24 * 3600 * 1000ull),
	FN(cfg_group, "keepalive", F_MS, keepalive_ms, 0, 3600000),
	FE(cfg_group, "tls_verify", tls_verify, verify_names),
	FS(cfg_group, "tls_ca_file", F_STR, tls_ca_file),
	FS(cfg_group, "tls_cert_file", F_STR, tls_cert_file),
	FS(cfg_group, "tls_key_file", F_STR, tls_key_file),
	FN(cfg_group, "hold_at", F_MS, hold_at_ms, 0, 24 * 3600 * 1000ull),
	FN(cfg_group, "hold_for", F_MS, hold_for_ms, 100, 24 * 3600 * 1000ull),
	FE(cfg_group, "hold_mode", hold_mode, hold_names),
};

static const struct field dp_fields[] = {
	FS(cfg_plan_dataplane, "media_ip", F_IPV4_LIST, media_ips),
	FS(cfg_plan_dataplane, "netmask", F_IPV4, netmask),
	FS(cfg_plan_dataplane, "gateway", F_IPV4, gateway_ip),
	FN(cfg_plan_dataplane, "vlan", F_U16, vlan, 0, 4094),
	FS(cfg_plan_dataplane, "rtp_ports", F_PORT_RANGE, rtp_port_min),
	FN(cfg_plan_dataplane, "max_flows", F_U32, max_flows, 1, 4000000),
	FN(cfg_plan_dataplane, "lcores", F_U16, lcores, 0, 128),
	FS(cfg_plan_dataplane, "eal_args", F_STR, eal_args),
	FS(cfg_plan_dataplane, "port", F_STR, port),
	FS(cfg_plan_dataplane, "rtcp_mux", F_BOOL, rtcp_mux),
	FN(cfg_plan_dataplane, "decode_sample", F_U32, decode_sample, 0, 1000000),
};

static const struct field imp_fields[] = {
	FN(cfg_impairment, "loss", F_PCT, loss_pct, 0, 100),
	FN(cfg_impairment, "burst_p", F_PCT, burst_p_pct, 0, 100),
	FN(cfg_impairment, "burst_r", F_PCT, burst_r_pct, 0, 100),
	FN(cfg_impairment, "burst_loss", F_PCT, burst_loss_pct, 0, 100),
	FN(cfg_impairment, "jitter", F_MS, jitter_ms, 0, 10000),
	FN(cfg_impairment, "reorder", F_PCT, reorder_pct, 0, 100),
	FN(cfg_impairment, "duplicate", F_PCT, duplicate_pct, 0, 100),
	FN(cfg_impairment, "seed", F_U64, seed, 0, UINT64_MAX),
};

_Static_assert(CM_ARRAY_SIZE(group_fields) <= CM_ARRAY_SIZE(((struct cfg_group *)0)->key_line),
	       "key_line too small");
_Static_assert(CM_ARRAY_SIZE(test_fields) <= CM_ARRAY_SIZE(((struct cfg_plan *)0)->key_line[0]) &&
		       CM_ARRAY_SIZE(dp_fields) <= CM_ARRAY_SIZE(((struct cfg_plan *)0)->key_line[0]) &&
		       CM_ARRAY_SIZE(imp_fields) <= CM_ARRAY_SIZE(((struct cfg_plan *)0)->key_line[0]),
	       "plan key_line too small");

/* ---- value parsers ---------------------------------------------------------------------------------------- */

int cfg_parse_duration_ms(const char *s, uint32_t *ms)
{
	char *end;
	double v, mult = 1000;

	if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return -EINVAL;
	v *= mult;
	if (!(v >= 0) || v > 4e9)
		return -ERANGE;
	*ms = (uint32_t)llround(v);
	return 0;
}

static int parse_number(const char *s, double *out)
{
	char *end;

	if (!*s)
		return -EINVAL;
	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(*out))
		return -EINVAL;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < CM_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static bool valid_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

static void list_names(const char *const *names, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; names[i]; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? ", " : "", names[i]);
}

static int set_codecs(struct cfg_group *g, const char *v, char *why, size_t len)
{
	char copy[256], *save = NULL;
	int n = 0;

	if (cm_strlcpy(copy, v, sizeof(copy)) < 0) {
		snprintf(why, len, "too long");
		return -EINVAL;
	}
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		const struct codec_ops *ops = codec_by_name(tok);
		const char *canon;

		if (!ops || !ops->enc_new) { /* telephone-event is negotiated with dtmf, not listed here */
			char names[128] = "";
			for (size_t i = 0; i < codec_count(); i++)
				if (codec_at(i)->enc_new)
					snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
						 names[0] ? ", " : "", codec_at(i)->name);
			snprintf(why, len, "unknown codec '%s' (known: %s)", tok, names);
			return -EINVAL;
		}
		canon = ops->name;
		for (int i = 0; i < n; i++) {
			if (strcmp(g->codecs[i], canon) == 0) {
				snprintf(why, len, "codec '%s' listed twice", canon);
				return -EINVAL;
			}
		}
		if (n == CFG_MAX_CODECS) {
			snprintf(why, len, "at most %d codecs", CFG_MAX_CODECS);
			return -EINVAL;
		}
		cm_strlcpy(g->codecs[n++], canon, sizeof(g->codecs[0]));
	}
	if (n == 0) {
		snprintf(why, len, "give at least one codec");
		return -EINVAL;
	}
	g->ncodecs = (uint8_t)n;
	return 0;
}

static int set_target(struct cfg_group *g, const char *v, char *why, size_t len)
{
	if (strncmp(v, "group:", 6) == 0 && v[6]) {
		g->target_kind = CFG_TARGET_GROUP;
		return cm_strlcpy(g->target, v + 6, sizeof(g->target));
	}
	if ((strncmp(v, "sip:", 4) == 0 || strncmp(v, "sips:", 5) == 0) && strchr(v, '@') != NULL &&
	    !strpbrk(v, " \t<>\"")) {
		g->target_kind = CFG_TARGET_URI;
		if (cm_strlcpy(g->target, v, sizeof(g->target)) < 0) {
			snprintf(why, len, "URI too long");
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(v, "external") == 0) {
		g->target_kind = CFG_TARGET_EXTERNAL;
		g->target[0] = '\0';
		return 0;
	}
	snprintf(why, len, "expected group:NAME, a SIP URI (sip:user@host[:port]) or external, got '%s'", v);
	return -EINVAL;
}

static int set_ipv4_list(struct cfg_plan_dataplane *dp, const char *v, char *why, size_t len)
{
	char copy[512], *save = NULL;

	if (cm_strlcpy(copy, v, sizeof(copy)) < 0) {
		snprintf(why, len, "too long");
		return -EINVAL;
	}
	dp->nmedia_ips = 0;
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (!valid_ipv4(tok)) {
			snprintf(why, len, "'%s' is not an IPv4 address", tok);
			return -EINVAL;
		}
		if (dp->nmedia_ips == CFG_MAX_MEDIA_IPS) {
			snprintf(why, len, "at most %d media addresses", CFG_MAX_MEDIA_IPS);
			return -EINVAL;
		}
		cm_strlcpy(dp->media_ips[dp->nmedia_ips++], tok, sizeof(dp->media_ips[0]));
	}
	if (dp->nmedia_ips == 0) {
		snprintf(why, len, "give at least one IPv4 address");
		return -EINVAL;
	}
	return 0;
}

static int set_port_range(struct cfg_plan_dataplane *dp, const char *v, char *why, size_t len)
{
	unsigned lo, hi;
	char tail;

	if (sscanf(v, "%u-%u%c", &lo, &hi, &tail) != 2 || lo < 1024 || hi > 65535 || lo >= hi) {
		snprintf(why, len, "expected LOW-HIGH within 1024-65535, e.g. 10000-59999, got '%s'", v);
		return -EINVAL;
	}
	dp->rtp_port_min = (uint16_t)(lo + (lo & 1)); /* RTP on even ports (RFC 3550 §11) */
	dp->rtp_port_max = (uint16_t)hi;
	return 0;
}

/* Parses one value into the field at base + f->off. */
static int set_field(const struct field *f, void *base, const char *v, char *why, size_t len)
{
	char *p = (char *)base + f->off;
	uint64_t u;
	uint32_t ms;
	double d;
	bool b;

	switch (f->type) {
	case F_STR:
		if (cm_strlcpy(p, v, f->size) < 0) {
			snprintf(why, len, "too long (at most %zu characters)", f->size - 1);
			return -EINVAL;
		}
		return 0;
	case F_U8: case F_U16: case F_U32: case F_U64:
		if (cm_parse_u64(v, f->min, f->max, &u) < 0) {
			snprintf(why, len, "expected a whole number %llu-%llu, got '%s'", (unsigned long long)f->min,
				 (unsigned long long)f->max, v);
			return -EINVAL;
		}
		if (f->type == F_U8)
			*(uint8_t *)p = (uint8_t)u;
		else if (f->type == F_U16)
			*(uint16_t *)p = (uint16_t)u;
		else if (f->type == F_U32)
			*(uint32_t *)p = (uint32_t)u;
		else
			*(uint64_t *)p = u;
		return 0;
	case F_MS: case F_SEC: {
		/* bounds are in the field's unit: ms for F_MS, seconds for F_SEC */
		double unit = f->type == F_MS ? 1000.0 : 1.0;
		uint64_t val;

		if (cfg_parse_duration_ms(v, &ms) < 0)
			val = UINT64_MAX;
		else
			val = f->type == F_MS ? ms : ms / 1000;
		if (val < f->min || val > f->max) {
			snprintf(why, len, "expected a duration between %g s and %g s (e.g. 30s, 500ms, 2m), got '%s'",
				 f->min / unit, f->max / unit, v);
			return -EINVAL;
		}
		*(uint32_t *)p = (uint32_t)val;
		return 0;
	}
	case F_PCT: {
		char num[64];
		size_t n = strlen(v);

		if (n && v[n - 1] == '%')
			n--;
		if (n >= sizeof(num))
			n = sizeof(num) - 1;
		memcpy(num, v, n);
		num[n] = '\0';
		while (n && num[n - 1] == ' ')
			num[--n] = '\0';
		if (parse_number(num, &d) < 0 || d < 0 || d > 100) {
			snprintf(why, len, "expected a percentage 0-100 (e.g. 3%% or 0.5%%), got '%s'", v);
			return -EINVAL;
		}
		*(double *)p = d;
		return 0;
	}
	case F_DOUBLE:
		if (parse_number(v, &d) < 0 || d < (double)f->min || d > (double)f->max) {
			snprintf(why, len, "expected a number %llu-%llu, got '%s'", (unsigned long long)f->min,
				 (unsigned long long)f->max, v);
			return -EINVAL;
		}
		*(double *)p = d;
		return 0;
	case F_BOOL:
		if (parse_bool(v, &b) < 0) {
			snprintf(why, len, "expected yes or no, got '%s'", v);
			return -EINVAL;
		}
		*(bool *)p = b;
		return 0;
	case F_ENUM:
		for (int i = 0; f->names[i]; i++) {
			if (strcasecmp(v, f->names[i]) == 0) {
				*(int *)p = i;
				return 0;
			}
		}
		{
			char names[128];
			list_names(f->names, names, sizeof(names));
			snprintf(why, len, "expected one of %s, got '%s'", names, v);
		}
		return -EINVAL;
	case F_CODECS:
		return set_codecs(base, v, why, len);
	case F_TARGET:
		return set_target(base, v, why, len);
	case F_IPV4:
		if (!valid_ipv4(v)) {
			snprintf(why, len, "'%s' is not an IPv4 address", v);
			return -EINVAL;
		}
		return cm_strlcpy(p, v, f->size);
	case F_IPV4_LIST:
		return set_ipv4_list(base, v, why, len);
	case F_PORT_RANGE:
		return set_port_range(base, v, why, len);
	}
	return -EINVAL;
}

/* ---- sections --------------------------------------------------------------------------------------------- */

enum section_kind { SEC_TEST, SEC_GROUP, SEC_DATAPLANE, SEC_IMPAIRMENT };

static void group_defaults(struct cfg_group *g)
{
	memset(g, 0, sizeof(*g));
	g->first_number = 1;
	cm_strlcpy(g->local_ip, "127.0.0.1", sizeof(g->local_ip));
	g->target_group = -1;
	cm_strlcpy(g->codecs[0], "PCMU", sizeof(g->codecs[0]));
	g->ncodecs = 1;
	g->ptime_ms = 20;
	cm_strlcpy(g->media, "speech", sizeof(g->media));
	g->dtmf = CFG_DTMF_RFC4733;
	g->dscp = 46;    /* EF for voice (RFC 4594) */
	g->sip_dscp = 24; /* CS3 for signalling */
	g->answer_code = 200;
	g->ring_ms = 1000;
	g->register_expires_s = 3600;
	g->calls_per_endpoint = 1;
}

void cfg_dataplane_defaults(struct cfg_plan_dataplane *dp)
{
	cm_strlcpy(dp->media_ips[0], "192.0.2.10", sizeof(dp->media_ips[0]));
	dp->nmedia_ips = 1;
	cm_strlcpy(dp->netmask, "255.255.255.0", sizeof(dp->netmask));
	dp->rtp_port_min = 10000;
	dp->rtp_port_max = 59999;
	dp->rtcp_mux = false;
}

/* The [dataplane] keys that describe the appliance's media side (a worker's own configuration may set them). */
int cfg_dataplane_set(struct cfg_plan_dataplane *dp, const char *key, const char *value, char *why, size_t len)
{
	static const char *const media_keys[] = { "media_ip", "netmask", "gateway", "vlan", "rtp_ports", "max_flows" };

	for (size_t k = 0; k < CM_ARRAY_SIZE(media_keys); k++) {
		if (strcmp(key, media_keys[k]) != 0)
			continue;
		for (size_t i = 0; i < CM_ARRAY_SIZE(dp_fields); i++)
			if (strcmp(dp_fields[i].key, key) == 0)
				return set_field(&dp_fields[i], dp, value, why, len);
	}
	return -ENOENT;
}

bool cfg_plan_ep_here(const struct cfg_plan *plan, uint32_t ep)
{
	uint32_t first = 0;

	if (!plan->fleet.on)
		return true;
	for (uint16_t g = 0; g < plan->fleet.group; g++)
		first += plan->groups[g].endpoints;
	return ep >= first + plan->fleet.first && ep - first - plan->fleet.first < plan->fleet.count;
}

int cfg_plan_remote_addr(const struct cfg_plan *plan, uint32_t ep, const char **ip, uint16_t *port)
{
	uint32_t first = 0, g;

	for (g = 0; g < plan->ngroups && ep >= first + plan->groups[g].endpoints; g++)
		first += plan->groups[g].endpoints;
	for (uint32_t i = 0; g < plan->ngroups && i < plan->fleet.nremote; i++) {
		const struct cfg_fleet_remote *r = &plan->fleet.remote[i];

		if (r->group == g && ep - first >= r->first && ep - first - r->first < r->count) {
			*ip = r->ip;
			*port = r->port;
			return 0;
		}
	}
	return -ENOENT;
}

static void plan_defaults(struct cfg_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->test.duration_ms = 60000;
	plan->test.call_duration_ms = 10000;
	plan->test.cps = 50;
	plan->test.register_rate = 200;
	plan->test.setup_timeout_ms = 32000;     /* Timer B (64*T1) */
	plan->test.register_timeout_ms = 32000;  /* Timer F */
	plan->test.teardown_timeout_ms = 32000;
	plan->test.mos_warning = 3.6;
	plan->test.loss_warning_pct = 5;
	cfg_dataplane_defaults(&plan->dp);
	plan->dp.decode_sample = 100;
	plan->imp.burst_loss_pct = 100;
	plan->imp.seed = 1;
}

static bool valid_group_name(const char *n)
{
	if (!*n || strlen(n) >= CFG_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '_' && *n != '-' && *n != '.')
			return false;
	return true;
}

static int plan_cb(struct cfg_ini_ctx *ctx, const char *section, const char *key, const char *value, void *arg)
{
	struct cfg_plan *plan = arg;
	const struct field *fields;
	size_t nfields;
	void *base;
	enum section_kind kind;
	struct cfg_group *g = NULL;
	char why[CFG_ERR_MAX];

	if (strcmp(section, "test") == 0) {
		kind = SEC_TEST, fields = test_fields, nfields = CM_ARRAY_SIZE(test_fields), base = &plan->test;
	} else if (strcmp(section, "dataplane") == 0) {
		kind = SEC_DATAPLANE, fields = dp_fields, nfields = CM_ARRAY_SIZE(dp_fields), base = &plan->dp;
	} else if (strcmp(section, "impairment") == 0) {
		kind = SEC_IMPAIRMENT, fields = imp_fields, nfields = CM_ARRAY_SIZE(imp_fields), base = &plan->imp;
	} else if (strncmp(section, "group ", 6) == 0 || strcmp(section, "group") == 0) {
		const char *name = section + (section[5] ? 6 : 5);

		while (*name == ' ')
			name++;
		kind = SEC_GROUP, fields = group_fields, nfields = CM_ARRAY_SIZE(group_fields);
		/* a new [group] header: the reader saw one, or the name changed (never index an absent group) */
		if (ctx->new_section || plan->ngroups == 0 || strcmp(plan->groups[plan->ngroups - 1].name, name) != 0) {
			if (!valid_group_name(name)) {
				ctx->line = ctx->section_line;
				cfg_ini_error(ctx, NULL, "section [%s]: a group needs a name of letters, digits, '_', "
					      "'-' or '.', as in [group callers]", section);
				return -EINVAL;
			}
			for (uint32_t i = 0; i < plan->ngroups; i++) {
				if (strcmp(plan->groups[i].name, name) == 0) {
					unsigned first = plan->groups[i].line;
					ctx->line = ctx->section_line;
					cfg_ini_error(ctx, NULL, "group '%s' is defined twice (first on line %u)", name,
						      first);
					return -EINVAL;
				}
			}
			if (plan->ngroups == CFG_MAX_GROUPS) {
				cfg_ini_error(ctx, NULL, "at most %d groups", CFG_MAX_GROUPS);
				return -EINVAL;
			}
			g = &plan->groups[plan->ngroups++];
			group_defaults(g);
			cm_strlcpy(g->name, name, sizeof(g->name));
			g->line = ctx->section_line;
		}
		g = &plan->groups[plan->ngroups - 1];
		base = g;
	} else {
		cfg_ini_error(ctx, key, "unknown section [%s] (expected [test], [group NAME], [dataplane] or "
			      "[impairment])", section);
		return -EINVAL;
	}
	if (kind != SEC_GROUP && ctx->new_section) {
		if (plan->section_line[kind]) {
			unsigned first = plan->section_line[kind];
			ctx->line = ctx->section_line;
			cfg_ini_error(ctx, NULL, "section [%s] appears twice (first on line %u)", section, first);
			return -EINVAL;
		}
		plan->section_line[kind] = ctx->section_line;
	}
	for (size_t i = 0; i < nfields; i++) {
		if (strcmp(key, fields[i].key) != 0)
			continue;
		if (ctx->continuation && !(kind == SEC_DATAPLANE && strcmp(key, "eal_args") == 0)) {
			cfg_ini_error(ctx, key, "this key takes one line");
			return -EINVAL;
		}
		if (g && !ctx->continuation) {
			if (g->key_line[i]) {
				cfg_ini_error(ctx, key, "given twice in [group %s] (first on line %u)", g->name,
					      g->key_line[i]);
				return -EINVAL;
			}
			g->key_line[i] = ctx->line;
			if (strcmp(key, "role") == 0)
				g->role_set = true;
		} else if (!ctx->continuation) {
			/* the once-only sections are as strict: a second value does not silently win */
			if (plan->key_line[kind][i]) {
				cfg_ini_error(ctx, key, "given twice in [%s] (first on line %u)", section,
					      plan->key_line[kind][i]);
				return -EINVAL;
			}
			plan->key_line[kind][i] = ctx->line;
		}
		if (ctx->continuation) {
			size_t have = strlen(plan->dp.eal_args);
			if (have + 1 + strlen(value) >= sizeof(plan->dp.eal_args)) {
				cfg_ini_error(ctx, key, "too long");
				return -EINVAL;
			}
			snprintf(plan->dp.eal_args + have, sizeof(plan->dp.eal_args) - have, " %s", value);
			return 0;
		}
		if (set_field(&fields[i], base, value, why, sizeof(why)) < 0) {
			cfg_ini_error(ctx, key, "%s", why);
			return -EINVAL;
		}
		return 0;
	}
	cfg_ini_error(ctx, key, "unknown key in [%s]", section);
	return -EINVAL;
}

/* ---- whole-plan checks ------------------------------------------------------------------------------------ */

static unsigned group_key_line(const struct cfg_group *g, const char *key)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(group_fields); i++)
		if (strcmp(group_fields[i].key, key) == 0 && g->key_line[i])
			return g->key_line[i];
	return g->line;
}

static bool group_key_given(const struct cfg_group *g, const char *key)
{
	return group_key_line(g, key) != g->line; /* a key is never on its section's line */
}

static int group_error(const struct cfg_plan *plan, const struct cfg_group *g, const char *key, char *err,
		       size_t errlen, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int group_error(const struct cfg_plan *plan, const struct cfg_group *g, const char *key, char *err,
		       size_t errlen, const char *fmt, ...)
{
	char why[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%u: key '%s': [group %s]: %s", plan->source, group_key_line(g, key), key, g->name,
		 why);
	return -EINVAL;
}

/* Counts the data rows of an accounts CSV ("username,password[,display]"; '#' comments and a header line
 * starting with "username" are skipped), rejecting malformed rows with FILE:LINE. */
static int count_accounts(const char *path, uint32_t *rows, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;

	struct stat sb;

	*rows = 0;
	if (!f) {
		snprintf(err, errlen, "cannot open accounts file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) { /* not /dev/zero, a FIFO, a directory */
		snprintf(err, errlen, "accounts file %s is not a regular file", path);
		fclose(f);
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		char *comma;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#' || (lineno == 1 && strncasecmp(line, "username", 8) == 0))
			continue;
		comma = strchr(line, ',');
		if (!comma || comma == line || comma[1] == '\0' || comma[1] == ',') {
			snprintf(err, errlen, "%s:%u: expected 'username,password[,display]'", path, lineno);
			fclose(f);
			return -EINVAL;
		}
		if (++*rows > CFG_MAX_ENDPOINTS) {
			snprintf(err, errlen, "%s: more than %u accounts", path, CFG_MAX_ENDPOINTS);
			fclose(f);
			return -E2BIG;
		}
	}
	fclose(f);
	return 0;
}

/* The media value is checked by opening it the way the run will (a WAV file is read, a tone generated). */
static int check_media(const struct cfg_plan *plan, const struct cfg_group *g, char *err, size_t errlen)
{
	char why[CFG_ERR_MAX];
	struct codec_media *m;

	/* the built-in sources cannot fail: no need to synthesise 20 s of audio to know it */
	if (strcmp(g->media, "speech") == 0 || strcmp(g->media, "silence") == 0)
		return 0;
	m = codec_media_open(g->media, why, sizeof(why));
	if (!m)
		return group_error(plan, g, "media", err, errlen, "%s", why);
	codec_media_free(m);
	return 0;
}

/* hold_at, hold_for and hold_mode go together, on calls we place, and the hold ends before the call does (the
 * caller hangs up call_duration after the answer). */
static int check_hold(const struct cfg_plan *plan, const struct cfg_group *g, char *err, size_t errlen)
{
	bool at = group_key_given(g, "hold_at"), len = group_key_given(g, "hold_for");
	uint32_t call_ms = g->call_duration_ms ? g->call_duration_ms : plan->test.call_duration_ms;

	if (!at && !len) {
		if (group_key_given(g, "hold_mode"))
			return group_error(plan, g, "hold_mode", err, errlen, "hold_mode needs hold_at and hold_for");
		return 0;
	}
	if (!len)
		return group_error(plan, g, "hold_at", err, errlen, "hold_at needs hold_for (how long each call "
				   "stays on hold)");
	if (!at)
		return group_error(plan, g, "hold_for", err, errlen, "hold_for needs hold_at (when, after the "
				   "answer, each call is put on hold)");
	if (g->role == CFG_ROLE_CALLEE)
		return group_error(plan, g, "hold_at", err, errlen, "only groups that place calls (role caller or "
				   "both) put them on hold");
	if ((uint64_t)g->hold_at_ms + g->hold_for_ms >= call_ms)
		return group_error(plan, g, "hold_for", err, errlen, "the hold (hold_at %g s + hold_for %g s) must "
				   "end before the call does (call_duration %g s)", g->hold_at_ms / 1000.0,
				   g->hold_for_ms / 1000.0, call_ms / 1000.0);
	return 0;
}

static bool valid_hostport(const char *v)
{
	char host[CFG_HOST_MAX];
	uint16_t port;

	return cfg_parse_hostport(v, 5060, host, sizeof(host), &port) == 0;
}

static int validate_group(struct cfg_plan *plan, struct cfg_group *g, char *err, size_t errlen)
{
	char why[CFG_ERR_MAX];
	int rc;

	if (!g->key_line[0])
		return group_error(plan, g, "endpoints", err, errlen, "missing: how many endpoints this group has");
	if (!g->role_set)
		g->role = (g->target_kind == CFG_TARGET_GROUP || g->target_kind == CFG_TARGET_URI) ? CFG_ROLE_CALLER
												    : CFG_ROLE_CALLEE;
	if (g->target_kind == CFG_TARGET_EXTERNAL && g->role == CFG_ROLE_CALLER)
		return group_error(plan, g, "target", err, errlen, "'external' means the group answers calls from "
				   "outside; it cannot be a caller group");
	if (g->role != CFG_ROLE_CALLEE &&
	    (g->target_kind == CFG_TARGET_NONE || g->target_kind == CFG_TARGET_EXTERNAL))
		return group_error(plan, g, "target", err, errlen, "a %s group needs a target: group:NAME or a SIP URI",
				   cfg_role_name(g->role));
	if (g->target_kind == CFG_TARGET_GROUP) {
		for (uint32_t i = 0; i < plan->ngroups; i++)
			if (strcmp(plan->groups[i].name, g->target) == 0)
				g->target_group = (int)i;
		if (g->target_group < 0)
			return group_error(plan, g, "target", err, errlen, "no group named '%s' in this plan", g->target);
		if (&plan->groups[g->target_group] == g)
			return group_error(plan, g, "target", err, errlen, "a group cannot call itself; use role = both "
					   "and two groups");
	}
	if (g->registrar[0]) {
		if (!valid_hostport(g->registrar))
			return group_error(plan, g, "registrar", err, errlen, "expected host[:port], got '%s'",
					   g->registrar);
		if (!g->username[0] && !g->accounts[0])
			return group_error(plan, g, "username", err, errlen, "registering endpoints need a username "
					   "template (e.g. user{n}) or an accounts file");
	}
	if (g->outbound_proxy[0] && !valid_hostport(g->outbound_proxy))
		return group_error(plan, g, "outbound_proxy", err, errlen, "expected host[:port], got '%s'",
				   g->outbound_proxy);
	if (g->username[0] && g->endpoints > 1 && !strstr(g->username, "{n}") && !g->accounts[0])
		return group_error(plan, g, "username", err, errlen, "with %u endpoints the template needs {n} so "
				   "that each endpoint has its own user", g->endpoints);
	if (g->accounts[0]) {
		rc = count_accounts(g->accounts, &g->accounts_rows, why, sizeof(why));
		if (rc < 0)
			return group_error(plan, g, "accounts", err, errlen, "%s", why);
		if (g->accounts_rows < g->endpoints)
			return group_error(plan, g, "accounts", err, errlen, "%s has %u accounts for %u endpoints",
					   g->accounts, g->accounts_rows, g->endpoints);
	}
	if (!valid_ipv4(g->local_ip))
		return group_error(plan, g, "local_ip", err, errlen, "'%s' is not an IPv4 address", g->local_ip);
	if (g->port_per_endpoint && (!g->local_port || (uint32_t)g->local_port + g->endpoints - 1 > 65535))
		return group_error(plan, g, "local_port", err, errlen, "port_per_endpoint needs local_port with room "
				   "for %u ports below 65536", g->endpoints);
	/* a TCP/TLS connection's source port is the kernel's choice at connect(): per-endpoint ports there would
	 * need a listener and port-bound connections per endpoint (docs/sip.md) */
	if (g->keepalive_ms && g->transport == CFG_TRANSPORT_UDP)
		return group_error(plan, g, "keepalive", err, errlen, "CRLF keep-alives (RFC 5626) are for TCP and TLS "
				   "flows; over UDP, registration refreshes keep the binding");
	if (g->session_expires_ms && g->session_expires_ms < (g->min_se_ms ? g->min_se_ms : 90000))
		return group_error(plan, g, "session_expires", err, errlen, "session_expires (%g s) is below min_se (%g s; "
				   "RFC 4028's smallest, 90 s, when not set)", g->session_expires_ms / 1000.0,
				   (g->min_se_ms ? g->min_se_ms : 90000) / 1000.0);
	if (g->keepalive_ms && g->keepalive_ms < 1000)
		return group_error(plan, g, "keepalive", err, errlen, "at least 1s between keep-alives");
	for (uint8_t c = 0; c < g->ncodecs; c++) {
		const struct codec_ops *ops = codec_by_name(g->codecs[c]);
		if (!codec_ptime_allowed(ops, g->ptime_ms))
			return group_error(plan, g, "ptime", err, errlen, "%s does not allow a ptime of %u ms",
					   ops->name, g->ptime_ms);
	}
	if (g->dtmf_digits[0] && strspn(g->dtmf_digits, "0123456789*#ABCD") != strlen(g->dtmf_digits))
		return group_error(plan, g, "dtmf_digits", err, errlen, "only 0-9, *, #, A-D");
	if (g->answer_code != 200 && (g->answer_code < 300 || g->role == CFG_ROLE_CALLER))
		return group_error(plan, g, "answer", err, errlen, "200, or a rejection 300-699 in a callee group");
	if (g->tls_verify == CFG_TLS_VERIFY_CA && !g->tls_ca_file[0])
		return group_error(plan, g, "tls_ca_file", err, errlen, "tls_verify = ca needs tls_ca_file");
	if (!!g->tls_cert_file[0] != !!g->tls_key_file[0])
		return group_error(plan, g, "tls_key_file", err, errlen, "a client certificate needs both "
				   "tls_cert_file and tls_key_file");
	rc = check_hold(plan, g, err, errlen);
	if (rc < 0)
		return rc;
	return check_media(plan, g, err, errlen);
}

/* A whole-plan problem with a key of a once-only section points at the key's line, else its section's, else (the
 * section is absent and the default is at fault) at the file. */
static int once_error(const struct cfg_plan *plan, enum section_kind kind, const char *key, char *err,
		      size_t errlen, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int once_error(const struct cfg_plan *plan, enum section_kind kind, const char *key, char *err,
		      size_t errlen, const char *fmt, ...)
{
	const struct field *fields = kind == SEC_DATAPLANE ? dp_fields : kind == SEC_IMPAIRMENT ? imp_fields : test_fields;
	size_t n = kind == SEC_DATAPLANE ? CM_ARRAY_SIZE(dp_fields)
		   : kind == SEC_IMPAIRMENT ? CM_ARRAY_SIZE(imp_fields) : CM_ARRAY_SIZE(test_fields);
	unsigned line = plan->section_line[kind];
	char why[CFG_ERR_MAX];
	va_list ap;

	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].key, key) == 0 && plan->key_line[kind][i])
			line = plan->key_line[kind][i];
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(err, errlen, "%s:%u: key '%s': %s", plan->source, line, key, why);
	else
		snprintf(err, errlen, "%s: key '%s': %s", plan->source, key, why);
	return -EINVAL;
}

static int validate_plan(struct cfg_plan *plan, char *err, size_t errlen)
{
	uint64_t total = 0, legs = 0, ports;
	int rc;

	if (plan->ngroups == 0) {
		snprintf(err, errlen, "%s: the plan has no [group NAME] section: nothing to run", plan->source);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < plan->ngroups; i++) {
		rc = validate_group(plan, &plan->groups[i], err, errlen);
		if (rc < 0)
			return rc;
		total += plan->groups[i].endpoints;
	}
	if (total > CFG_MAX_ENDPOINTS) {
		snprintf(err, errlen, "%s: %llu endpoints in all; a plan holds at most %u (split it across workers)",
			 plan->source, (unsigned long long)total, CFG_MAX_ENDPOINTS);
		return -EINVAL;
	}
	plan->total_endpoints = (uint32_t)total;
	if (!plan->test.name[0]) {
		const char *base = strrchr(plan->source, '/');
		cm_strlcpy(plan->test.name, base ? base + 1 : plan->source, sizeof(plan->test.name));
	}
	/* One RTP port pair per call leg an endpoint can have (RTCP on the next odd port unless rtcp-mux): one for
	 * callers and callees, two for endpoints that do both. */
	for (uint32_t i = 0; i < plan->ngroups; i++)
		legs += (uint64_t)plan->groups[i].endpoints * (plan->groups[i].role == CFG_ROLE_BOTH ? 2 : 1);
	ports = (uint64_t)((plan->dp.rtp_port_max - plan->dp.rtp_port_min + 1) / 2) * plan->dp.nmedia_ips;
	if (ports < legs)
		return once_error(plan, SEC_DATAPLANE, "rtp_ports", err, errlen, "%llu RTP ports on %u media "
				  "address(es) for %llu call legs; widen rtp_ports or add media_ip addresses",
				  (unsigned long long)ports, plan->dp.nmedia_ips, (unsigned long long)legs);
	if (!plan->dp.max_flows)
		plan->dp.max_flows = (uint32_t)legs;
	plan->imp.any = plan->imp.loss_pct > 0 || plan->imp.burst_p_pct > 0 || plan->imp.jitter_ms > 0 ||
			plan->imp.reorder_pct > 0 || plan->imp.duplicate_pct > 0;
	if (plan->imp.burst_p_pct > 0 && plan->imp.burst_r_pct == 0)
		return once_error(plan, SEC_IMPAIRMENT, "burst_p", err, errlen, "burst loss needs burst_r > 0 (else "
				  "the bad state never ends)");
	return 0;
}

static int plan_finish(struct cfg_plan *plan, int rc, char *err, size_t errlen)
{
	if (rc == 0)
		rc = validate_plan(plan, err, errlen);
	if (rc < 0) {
		char source[CFG_PATH_MAX];
		cm_strlcpy(source, plan->source, sizeof(source));
		plan_defaults(plan); /* nothing half-loaded */
		cm_strlcpy(plan->source, source, sizeof(plan->source));
	}
	return rc;
}

int cfg_plan_load(struct cfg_plan *plan, const char *path, char *err, size_t errlen)
{
	plan_defaults(plan);
	cm_strlcpy(plan->source, path, sizeof(plan->source));
	return plan_finish(plan, cfg_ini_parse_file(path, plan_cb, plan, err, errlen), err, errlen);
}

int cfg_plan_load_string(struct cfg_plan *plan, const char *name, const char *text, char *err, size_t errlen)
{
	plan_defaults(plan);
	cm_strlcpy(plan->source, name, sizeof(plan->source));
	return plan_finish(plan, cfg_ini_parse_string(name, text, plan_cb, plan, err, errlen), err, errlen);
}

int cfg_expand_template(const char *tmpl, uint32_t n, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '{' && p[1] == 'n' && p[2] == '}') {
			int w = snprintf(out + o, len - o, "%u", n);
			if (w < 0 || (size_t)w >= len - o)
				return -ENAMETOOLONG;
			o += (size_t)w;
			p += 2;
			continue;
		}
		if (o + 1 >= len)
			return -ENAMETOOLONG;
		out[o++] = *p;
	}
	out[o] = '\0';
	return 0;
}

const char *cfg_role_name(enum cfg_role r)
{
	return (unsigned)r < CM_ARRAY_SIZE(role_names) - 1 ? role_names[r] : "?";
}

int cfg_plan_check_main(int argc, char **argv)
{
	struct cfg_plan *plan;
	char err[CFG_ERR_MAX];
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: callmeter-worker plan-check PLAN.ini...\n");
		return 2;
	}
	plan = malloc(sizeof(*plan));
	if (!plan)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (cfg_plan_load(plan, argv[i], err, sizeof(err)) < 0) {
			printf("%s: invalid: %s\n", argv[i], err);
			status = 2;
			continue;
		}
		printf("%s: ok: test '%s', %u endpoint(s) in %u group(s), %.0f s, calls of %.0f s\n", argv[i],
		       plan->test.name, plan->total_endpoints, plan->ngroups, plan->test.duration_ms / 1000.0,
		       plan->test.call_duration_ms / 1000.0);
		for (uint32_t g = 0; g < plan->ngroups; g++) {
			const struct cfg_group *gr = &plan->groups[g];
			printf("  [group %s] %u %s endpoint(s)%s%s%s%s, %s, %s/%u ms\n", gr->name, gr->endpoints,
			       cfg_role_name(gr->role), gr->target_kind != CFG_TARGET_NONE ? " -> " : "",
			       gr->target_kind == CFG_TARGET_GROUP ? "group:" : "",
			       gr->target_kind == CFG_TARGET_EXTERNAL ? "external" : gr->target,
			       gr->registrar[0] ? ", registering" : "", transport_names[gr->transport], gr->codecs[0],
			       gr->ptime_ms);
		}
	}
	free(plan);
	return status;
}
