/* config/ — worker configuration (environment variables over an optional INI file) and, later, test plans.
 *
 * Every error names where the bad value came from: "env WORKER_TOKEN", or "FILE:LINE: key 'k'".  Functions
 * return 0 or a negative errno and, on error, leave a one-line message in the caller's buffer.  Secrets (the
 * worker token) are never copied into an error message. */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define CFG_ERR_MAX 512
#define CFG_PATH_MAX 512
#define CFG_HOST_MAX 256
#define CFG_NAME_MAX 64
#define CFG_EAL_MAX 2048
#define CFG_DEFAULT_PATH "/etc/callmeter/worker.conf"
#define CFG_DEFAULT_HEALTH_PORT 3030
#define CFG_DEFAULT_GATEWAY_PORT 443
#define CFG_DEFAULT_MAX_FLOWS 20000 /* worker daemon: flow table for gateway assignments (10,000 calls' legs) */
#define CFG_MAX_GROUPS 64
#define CFG_MAX_CODECS 8
#define CFG_MAX_MEDIA_IPS 16
#define CFG_MAX_ENDPOINTS 1000000u
#define CFG_CODEC_NAME_MAX 24

/* Worker tokens: "cmw_" + 64 lowercase hex digits = 68 characters (cloud workers: "cmc_"). */
#define CFG_TOKEN_PREFIX "cmw_"
#define CFG_TOKEN_HEX 64
#define CFG_TOKEN_LEN (4 + CFG_TOKEN_HEX)

/* With no EAL arguments configured: no hugepages, no shared runtime files, no PCI scan, one net_ring port whose
 * TX loops back to its RX.  A plan or config names real ports instead (e.g. "-a 0000:03:00.0"). */
#define CFG_DEFAULT_EAL_ARGS "--no-huge --no-shconf -m 512 --no-pci --vdev=net_ring0 --no-telemetry --log-level=*:warning"

struct cfg_plan_dataplane {
	char media_ips[CFG_MAX_MEDIA_IPS][16];
	uint8_t nmedia_ips;
	char netmask[16];
	char gateway_ip[16];        /* next hop for remote media; empty: same subnet */
	uint16_t vlan;              /* 0: untagged */
	uint16_t rtp_port_min;
	uint16_t rtp_port_max;
	uint32_t max_flows;
	uint16_t lcores;            /* 0: every EAL worker lcore */
	char eal_args[CFG_EAL_MAX]; /* empty: the worker's */
	char port[CFG_NAME_MAX];
	bool rtcp_mux;
	uint32_t decode_sample;     /* decode 1 flow in N for audio metrics; 0: none */
	uint32_t flow_base;         /* internal: first dataplane flow (and RTP port pair) of this run's legs */
};

/* Sets one media key of a [dataplane] section (media_ip, netmask, gateway, vlan, rtp_ports, max_flows) with the
 * plan's parsers: 0, -ENOENT for another key, or -EINVAL with the reason in why. */
int cfg_dataplane_set(struct cfg_plan_dataplane *dp, const char *key, const char *value, char *why, size_t len);
/* The plan defaults of those keys. */
void cfg_dataplane_defaults(struct cfg_plan_dataplane *dp);

struct cfg_worker {
	char token[CFG_TOKEN_LEN + 1]; /* empty: standalone */
	char cloud_host[CFG_HOST_MAX]; /* empty: no gateway */
	uint16_t cloud_port;
	char ca_file[CFG_PATH_MAX];    /* extra CA bundle for the gateway's certificate; empty: system store */
	char name[CFG_NAME_MAX];
	enum cm_log_level log_level;
	enum cm_log_format log_format;
	uint16_t health_port;          /* 0: health endpoint off */
	char health_bind[CFG_HOST_MAX];
	char eal_args[CFG_EAL_MAX];
	char port_name[CFG_NAME_MAX];  /* DPDK device name or PCI address; empty: the first port */
	/* What the appliance owns when it runs gateway assignments (daemon mode): the media addresses, RTP ports
	 * and flow table of [dataplane], and the address its SIP sockets bind ([sip] local_ip).  A plan from the
	 * gateway is the same for every worker, so these replace the plan's own values there. */
	struct cfg_plan_dataplane media;
	char sip_ip[48];
	uint32_t reconnect_min_ms;
	uint32_t reconnect_max_ms;
	char source[CFG_PATH_MAX];     /* the INI file that was read, empty if none */
};

/* Fills defaults (WORKER_NAME defaults to the host name). */
void cfg_worker_defaults(struct cfg_worker *cfg);

/* Reads the INI file at `path` (NULL: CFG_DEFAULT_PATH if it exists, else nothing), then the environment,
 * which wins.  `env` is a NULL-terminated "KEY=VALUE" array (environ in production, a table in tests). */
int cfg_worker_load(struct cfg_worker *cfg, const char *path, char *const *env, char *err, size_t errlen);

/* Token format check; never echoes the token.  0 or -EINVAL with a message explaining the expected format. */
int cfg_token_check(const char *token, const char *source, char *err, size_t errlen);

/* "host:port", "[v6]:port", "host" (port 443), optionally prefixed "tls://" or "https://". */
int cfg_parse_hostport(const char *s, uint16_t default_port, char *host, size_t hostlen, uint16_t *port);

/* ---- INI reading shared by worker config and plans ---------------------------------------------------------
 * libinih does the parsing; this wrapper adds line numbers for every key, rejects over-long lines instead of
 * silently splitting them, and stops at the first error with "FILE:LINE: message". */
#define CFG_INI_LINE_MAX 200 /* libinih as packaged by Debian (INI_MAX_LINE); continue long values on indented lines */
#define CFG_INI_FILE_MAX (4u << 20) /* bytes: a plan of 64 groups is a few KiB; anything this big is not a plan */

struct cfg_ini_ctx {
	const char *file;
	unsigned line;
	char *err;
	size_t errlen;
	bool failed;
	bool continuation; /* this value continues the previous key on an indented line */
	bool new_section;  /* first key after a [section] header (sections without keys are not reported) */
	unsigned section_line; /* line of the current [section] header */
	unsigned section_seq;      /* internal */
	unsigned prev_section_seq; /* internal */
	bool indented;     /* internal: the line just read starts with white space */
	char prev[2][CFG_NAME_MAX]; /* internal: section and key of the previous call */
};
/* Return 0 to go on, negative to stop (after cfg_ini_error). */
typedef int (*cfg_ini_cb)(struct cfg_ini_ctx *ctx, const char *section, const char *key, const char *value,
			  void *arg);
int cfg_ini_parse_file(const char *path, cfg_ini_cb cb, void *arg, char *err, size_t errlen);
int cfg_ini_parse_string(const char *name, const char *text, cfg_ini_cb cb, void *arg, char *err, size_t errlen);
void cfg_ini_error(struct cfg_ini_ctx *ctx, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- test plans --------------------------------------------------------------------------------------------
 * A plan is an INI file (docs/plan.md documents every key):
 *   [test]            name, duration, call_duration, cps, register_rate, setup_timeout, ...
 *   [group NAME] ...  one per endpoint group: endpoints, role, registrar, transport, credentials, target, codecs,
 *                     ptime, media, srtp, dtmf, dscp, answer behaviour
 *   [dataplane]       media IPs, RTP port range, lcores, EAL arguments
 *   [impairment]      TX loss, Gilbert-Elliott bursts, jitter, reorder, duplicates (seeded)
 * cfg_plan_load() parses and validates everything, including references between groups; on error the message
 * names FILE:LINE and the key, and nothing is half-loaded. */

enum cfg_role { CFG_ROLE_CALLER, CFG_ROLE_CALLEE, CFG_ROLE_BOTH };
enum cfg_transport { CFG_TRANSPORT_UDP, CFG_TRANSPORT_TCP, CFG_TRANSPORT_TLS };
enum cfg_target_kind { CFG_TARGET_NONE, CFG_TARGET_GROUP, CFG_TARGET_URI, CFG_TARGET_EXTERNAL };
enum cfg_srtp { CFG_SRTP_OFF, CFG_SRTP_OPTIONAL, CFG_SRTP_MANDATORY };
enum cfg_dtmf { CFG_DTMF_NONE, CFG_DTMF_RFC4733, CFG_DTMF_INFO };
enum cfg_tls_verify { CFG_TLS_VERIFY_SYSTEM, CFG_TLS_VERIFY_CA, CFG_TLS_VERIFY_NONE };
enum cfg_hold_mode { CFG_HOLD_SENDONLY, CFG_HOLD_INACTIVE };
/* RFC 3262 reliable provisional responses (100rel): not offered / offered / insisted on */
enum cfg_100rel { CFG_100REL_OFF, CFG_100REL_SUPPORTED, CFG_100REL_REQUIRED };

struct cfg_group {
	char name[CFG_NAME_MAX];
	unsigned line;                    /* first line of the section */
	uint32_t endpoints;
	enum cfg_role role;
	bool role_set;
	char registrar[CFG_HOST_MAX];     /* host[:port]; empty: endpoints do not register */
	char domain[CFG_HOST_MAX];        /* AOR domain; default: the registrar's host, else local_ip */
	enum cfg_transport transport;
	char outbound_proxy[CFG_HOST_MAX];
	char username[CFG_NAME_MAX];      /* template: {n} is the endpoint number, first_number + index */
	char password[CFG_NAME_MAX];      /* template, as username */
	char accounts[CFG_PATH_MAX];      /* CSV "username,password[,display]" instead of templates */
	uint32_t accounts_rows;           /* rows found in the CSV (validated >= endpoints) */
	uint32_t first_number;
	char local_ip[48];                /* SIP source address */
	uint16_t local_port;              /* first SIP port; 0: one shared ephemeral socket */
	bool port_per_endpoint;
	enum cfg_target_kind target_kind;
	char target[CFG_HOST_MAX];        /* group name or SIP URI */
	int target_group;                 /* index into cfg_plan.groups, or -1 */
	char codecs[CFG_MAX_CODECS][CFG_CODEC_NAME_MAX];
	uint8_t ncodecs;
	uint16_t ptime_ms;
	char media[CFG_PATH_MAX];         /* "speech" (default), "tone:HZ", "silence" or a WAV file */
	enum cfg_srtp srtp;
	enum cfg_dtmf dtmf;
	char dtmf_digits[32];
	uint32_t dtmf_delay_ms;
	uint8_t dscp;                     /* RTP; SIP uses sip_dscp */
	uint8_t sip_dscp;
	uint16_t answer_code;             /* callee: 200, or a rejection such as 486/603 */
	uint32_t ring_ms;                 /* callee: time between 180 and the final answer */
	uint32_t register_expires_s;
	uint32_t calls_per_endpoint;      /* caller: calls placed one after the other */
	uint32_t call_duration_ms;        /* 0: the [test] value */
	enum cfg_100rel rel100;           /* key 100rel: PRACK (RFC 3262) for both roles */
	bool early_media;                 /* callee: 183 with the SDP answer instead of 180 */
	uint32_t keepalive_ms;            /* TCP/TLS: RFC 5626 CRLF ping interval on our flows; 0: off */
	/* RFC 4028 session timer: the interval our calls ask for (0: none); the smallest we accept (0: 90 s) */
	uint32_t session_expires_ms, min_se_ms;
	enum cfg_tls_verify tls_verify;
	char tls_ca_file[CFG_PATH_MAX];
	char tls_cert_file[CFG_PATH_MAX];
	char tls_key_file[CFG_PATH_MAX];
	/* caller: put each answered call on hold hold_at after the answer for hold_for (re-INVITE with
	 * a=sendonly or a=inactive), then resume it (a=sendrecv); hold_for_ms 0: never */
	uint32_t hold_at_ms, hold_for_ms;
	enum cfg_hold_mode hold_mode;
	unsigned key_line[48];            /* internal: line of each key given, for error messages */
};

struct cfg_test {
	char name[CFG_NAME_MAX];
	uint32_t duration_ms;       /* hard limit of the whole run */
	uint32_t call_duration_ms;
	double cps;                 /* call attempts per second (ramp) */
	double register_rate;       /* REGISTERs per second */
	uint32_t setup_timeout_ms;  /* INVITE without final answer -> CANCEL / TIMEOUT */
	uint32_t register_timeout_ms;
	uint32_t teardown_timeout_ms;
	double mos_warning;         /* below it a successful call is COMPLETED_WITH_WARNINGS */
	double loss_warning_pct;
};

struct cfg_impairment {
	double loss_pct;            /* independent random loss */
	double burst_p_pct;         /* Gilbert-Elliott: good -> bad transition probability per packet */
	double burst_r_pct;         /* bad -> good */
	double burst_loss_pct;      /* loss inside the bad state (default 100) */
	uint32_t jitter_ms;         /* extra TX delay, uniform 0..jitter */
	double reorder_pct;
	double duplicate_pct;
	uint64_t seed;
	bool any;                   /* something is impaired */
};

/* A part of a plan run by this worker for a gateway (docs/gateway-protocol.md): endpoints [first, first+count) of
 * one group are here; every other endpoint of the plan is on some worker, and the callee parts' SIP addresses
 * (for calls without a registrar) arrive in the gateway's `start`. */
#define CFG_FLEET_REMOTE_MAX 256
struct cfg_fleet_remote {
	uint16_t group;
	uint32_t first, count;
	char ip[48];
	uint16_t port;
};
struct cfg_fleet {
	bool on;                    /* false: the whole plan runs here (`callmeter-worker run`) */
	uint16_t group;
	uint32_t first, count;
	struct cfg_fleet_remote remote[CFG_FLEET_REMOTE_MAX];
	uint32_t nremote;
};

struct cfg_plan {
	char source[CFG_PATH_MAX];
	struct cfg_test test;
	struct cfg_group groups[CFG_MAX_GROUPS];
	uint32_t ngroups;
	struct cfg_plan_dataplane dp;
	struct cfg_impairment imp;
	uint32_t total_endpoints;
	struct cfg_fleet fleet;
	unsigned section_line[4];   /* internal */
	unsigned key_line[4][16];   /* internal: line of each key given in [test], [dataplane], [impairment] */
};

/* Whether endpoint ep (index over the whole plan) runs here. */
bool cfg_plan_ep_here(const struct cfg_plan *plan, uint32_t ep);
/* The SIP address of remote endpoint ep from the fleet's remote parts: 0 or -ENOENT. */
int cfg_plan_remote_addr(const struct cfg_plan *plan, uint32_t ep, const char **ip, uint16_t *port);

/* Parses and validates; `plan` is owned by the caller (it is large: allocate it).  0 or -errno with the first
 * problem in err as "FILE:LINE: key 'k': why" (or "FILE: why" for whole-plan problems). */
int cfg_plan_load(struct cfg_plan *plan, const char *path, char *err, size_t errlen);
/* The same from text in memory (a plan received from the gateway); `name` is used in messages. */
int cfg_plan_load_string(struct cfg_plan *plan, const char *name, const char *text, char *err, size_t errlen);
/* Expands a username/password template for endpoint number n into out. */
int cfg_expand_template(const char *tmpl, uint32_t n, char *out, size_t len);
/* Parses "20s", "1.5s", "250ms", "2m", "1h" or a bare number of seconds into milliseconds. */
int cfg_parse_duration_ms(const char *s, uint32_t *ms);
const char *cfg_role_name(enum cfg_role r);

/* `callmeter-worker plan-check PLAN.ini...`: validates plans, prints a summary or the error; exit 0/2. */
int cfg_plan_check_main(int argc, char **argv);

#endif
