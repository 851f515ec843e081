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

/* Worker tokens: "cmw_" + 64 lowercase hex digits = 68 characters (cloud workers: "cmc_"). */
#define CFG_TOKEN_PREFIX "cmw_"
#define CFG_TOKEN_HEX 64
#define CFG_TOKEN_LEN (4 + CFG_TOKEN_HEX)

/* With no EAL arguments configured: no hugepages, no shared runtime files, no PCI scan, one net_ring port whose
 * TX loops back to its RX.  A plan or config names real ports instead (e.g. "-a 0000:03:00.0"). */
#define CFG_DEFAULT_EAL_ARGS "--no-huge --no-shconf -m 512 --no-pci --vdev=net_ring0 --no-telemetry --log-level=*:warning"

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

struct cfg_ini_ctx {
	const char *file;
	unsigned line;
	char *err;
	size_t errlen;
	bool failed;
	bool continuation; /* this value continues the previous key on an indented line */
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

#endif
