/* Worker configuration: the INI file, environment variables over it, tokens, gateway addresses, and every
 * error path with the source it must name. */
#include <string.h>

#include "config/config.h"
#include "check_main.h"
#include "testutil.h"

#define GOOD_TOKEN "cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int load_text(struct cfg_worker *cfg, const char *text, char *const *env, char *err, char *path)
{
	tu_write_temp(path, 64, text);
	return cfg_worker_load(cfg, path, env, err, CFG_ERR_MAX);
}

START_TEST(full_file_is_read)
{
	char path[64], err[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *env[] = { NULL };
	int rc = load_text(&cfg,
			   "; a comment\n"
			   "[worker]\n"
			   "token = " GOOD_TOKEN "\n"
			   "cloud_url = gw.example.net:8443\n"
			   "name = rack-7\n"
			   "log_level = debug\n"
			   "log_format = pretty\n"
			   "health_port = 4040\n"
			   "reconnect_min_ms = 50\n"
			   "[dataplane]\n"
			   "eal_args = --no-huge -m 256\n"
			   "  --vdev=net_null0\n"
			   "port = net_null0\n",
			   env, err, path);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_str_eq(cfg.token, GOOD_TOKEN);
	ck_assert_str_eq(cfg.cloud_host, "gw.example.net");
	ck_assert_uint_eq(cfg.cloud_port, 8443);
	ck_assert_str_eq(cfg.name, "rack-7");
	ck_assert_int_eq(cfg.log_level, CM_LOG_DEBUG);
	ck_assert_int_eq(cfg.log_format, CM_LOG_PRETTY);
	ck_assert_uint_eq(cfg.health_port, 4040);
	ck_assert_uint_eq(cfg.reconnect_min_ms, 50);
	ck_assert_str_eq(cfg.eal_args, "--no-huge -m 256 --vdev=net_null0");
	ck_assert_str_eq(cfg.port_name, "net_null0");
	ck_assert_str_eq(cfg.source, path);
	unlink(path);
}
END_TEST

START_TEST(defaults_without_file_or_env)
{
	char err[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *env[] = { NULL };

	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, env, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.token, "");
	ck_assert_str_eq(cfg.cloud_host, "");
	ck_assert_uint_eq(cfg.health_port, 3030);
	ck_assert_int_eq(cfg.log_level, CM_LOG_INFO);
	ck_assert_int_eq(cfg.log_format, CM_LOG_JSON);
	ck_assert_str_eq(cfg.eal_args, CFG_DEFAULT_EAL_ARGS);
	ck_assert(cfg.name[0] != '\0');
}
END_TEST

/* Each bad file must fail with a message naming the file, the line and (where there is one) the key. */
static const struct {
	const char *text;
	const char *expect; /* after "PATH:" */
} bad_files[] = {
	{ "[worker]\nbogus = 1\n", "2: key 'bogus': unknown key in [worker]" },
	{ "[workers]\nname = x\n", "2: key 'name': unknown section [workers]" },
	{ "[worker]\nhealth_port = abc\n", "2: key 'health_port': expected a TCP port number 0-65535, got 'abc'" },
	{ "[worker]\n\nhealth_port = 70000\n", "3: key 'health_port': expected a TCP port number" },
	{ "[worker]\nhealth_port = -1\n", "2: key 'health_port': expected a TCP port number" },
	{ "[worker]\nlog_level = loud\n", "2: key 'log_level': expected error, warn, info or debug, got 'loud'" },
	{ "[worker]\nlog_format = xml\n", "2: key 'log_format': expected json or pretty, got 'xml'" },
	{ "[worker]\nname = a\nname = b\n", "3: key 'name': given twice (first on line 2)" },
	{ "[worker]\nname = a\n  b\n", "3: key 'name': this key takes one line" },
	{ "[worker]\nname\n", "2: syntax error" },
	{ "[worker\nname = a\n", "1: syntax error" },
	{ "[worker]\ncloud_url = ::1:443\n", "2: key 'cloud_url': expected host:port" },
	{ "[worker]\ncloud_url = gw:0\n", "2: key 'cloud_url': expected host:port" },
	{ "[worker]\ncloud_url = gw:99999\n", "2: key 'cloud_url'" },
	{ "[worker]\nname = \"quoted\"\n", "2: key 'name': only printable characters" },
	{ "[worker]\nreconnect_min_ms = 5\n", "2: key 'reconnect_min_ms': expected milliseconds" },
	{ "[worker]\nreconnect_min_ms = 9000\nreconnect_max_ms = 1000\n", "reconnect_min_ms (9000) is larger" },
	{ "name = a\n", "1: key 'name': unknown section []" },
};

START_TEST(bad_file_names_file_line_key)
{
	char path[64], err[CFG_ERR_MAX], want[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *env[] = { NULL };

	ck_assert_int_eq(load_text(&cfg, bad_files[_i].text, env, err, path), -EINVAL);
	snprintf(want, sizeof(want), "%s:%s", path, bad_files[_i].expect);
	if (strncmp(bad_files[_i].expect, "reconnect", 9) == 0)
		ck_assert_msg(strstr(err, bad_files[_i].expect), "case %d: got '%s'", _i, err);
	else
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %d: want '%s...', got '%s'", _i, want,
			      err);
	unlink(path);
}
END_TEST

START_TEST(overlong_line_is_an_error_not_a_split)
{
	char path[64], err[CFG_ERR_MAX], text[512];
	struct cfg_worker cfg;
	char *env[] = { NULL };

	memset(text, 0, sizeof(text));
	strcpy(text, "[dataplane]\neal_args = ");
	memset(text + strlen(text), 'x', 250);
	strcat(text, "\n");
	ck_assert_int_eq(load_text(&cfg, text, env, err, path), -EINVAL);
	ck_assert_msg(strstr(err, ":2: line longer than 199 characters"), "%s", err);
	unlink(path);
}
END_TEST

START_TEST(missing_file)
{
	char err[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *env[] = { NULL };

	ck_assert_int_eq(cfg_worker_load(&cfg, "/nonexistent/worker.conf", env, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/worker.conf: cannot open: No such file or directory");
}
END_TEST

START_TEST(environment_wins_and_empty_means_unset)
{
	char path[64], err[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *env[] = { "HEALTH_PORT=5050", "WORKER_NAME=", "LOG_LEVEL=warn", "CLOUD_URL=[::1]:9443",
			"WORKER_TOKEN=" GOOD_TOKEN, "UNRELATED=1", NULL };

	ck_assert_msg(load_text(&cfg, "[worker]\nhealth_port = 4040\nname = from-file\nlog_level = debug\n", env,
				err, path) == 0, "%s", err);
	ck_assert_uint_eq(cfg.health_port, 5050);
	ck_assert_str_eq(cfg.name, "from-file");
	ck_assert_int_eq(cfg.log_level, CM_LOG_WARN);
	ck_assert_str_eq(cfg.cloud_host, "::1");
	ck_assert_uint_eq(cfg.cloud_port, 9443);
	ck_assert_str_eq(cfg.token, GOOD_TOKEN);
	unlink(path);
}
END_TEST

START_TEST(bad_environment_names_the_variable)
{
	char err[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *env1[] = { "HEALTH_PORT=http", NULL };
	char *env2[] = { "LOG_FORMAT=yaml", NULL };
	char *env3[] = { "WORKER_TOKEN=" GOOD_TOKEN, NULL };

	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, env1, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "environment variable HEALTH_PORT: expected a TCP port number 0-65535, got 'http'");
	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, env2, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "environment variable LOG_FORMAT: expected json or pretty, got 'yaml'");
	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, env3, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "CLOUD_URL is not"), "%s", err);
	ck_assert_msg(!strstr(err, GOOD_TOKEN), "token echoed: %s", err);
}
END_TEST

/* The appliance's media side for gateway runs: [dataplane] media keys parsed as in plans, environment over file,
 * and a port range too small for the flow table refused with the numbers. */
START_TEST(media_side_for_gateway_runs)
{
	char path[64], err[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *none[] = { NULL };
	char *env[] = { "MEDIA_IP=10.0.0.5,10.0.0.6", "MAX_FLOWS=5000", "SIP_IP=10.0.1.5", NULL };
	char *bad_ip[] = { "MEDIA_IP=10.0.0", NULL };
	char *bad_sip[] = { "SIP_IP=sip.example", NULL };

	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, none, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.media.media_ips[0], "192.0.2.10");
	ck_assert_uint_eq(cfg.media.max_flows, CFG_DEFAULT_MAX_FLOWS);
	ck_assert_str_eq(cfg.sip_ip, "127.0.0.1");
	ck_assert_msg(load_text(&cfg, "[dataplane]\nmedia_ip = 10.9.9.9\nrtp_ports = 20000-29999\nvlan = 7\n"
				      "[sip]\nlocal_ip = 10.9.9.1\n", env, err, path) == 0, "%s", err);
	ck_assert_uint_eq(cfg.media.nmedia_ips, 2); /* the environment wins */
	ck_assert_str_eq(cfg.media.media_ips[1], "10.0.0.6");
	ck_assert_uint_eq(cfg.media.rtp_port_min, 20000);
	ck_assert_uint_eq(cfg.media.rtp_port_max, 29999);
	ck_assert_uint_eq(cfg.media.vlan, 7);
	ck_assert_uint_eq(cfg.media.max_flows, 5000);
	ck_assert_str_eq(cfg.sip_ip, "10.0.1.5");
	unlink(path);
	/* 5,000 port pairs on one address cannot hold 20,000 flows */
	ck_assert_int_eq(load_text(&cfg, "[dataplane]\nrtp_ports = 20000-29999\n", none, err, path), -EINVAL);
	ck_assert_msg(strstr(err, "rtp_ports 20000-29999 on 1 media address(es) hold fewer than max_flows (20000)"),
		      "%s", err);
	unlink(path);
	ck_assert_int_eq(load_text(&cfg, "[dataplane]\nnetmask = 255.255.0\n", none, err, path), -EINVAL);
	ck_assert_msg(strstr(err, ":2: key 'netmask'"), "%s", err);
	unlink(path);
	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, bad_ip, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, "environment variable MEDIA_IP: ", 31) == 0, "%s", err);
	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, bad_sip, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "environment variable SIP_IP: expected an IPv4 address, got 'sip.example'");
}
END_TEST

/* Malformed tokens: each is refused, the message explains the format and never repeats the value. */
static const char *const bad_tokens[] = {
	"cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",   /* 67 chars */
	"cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", /* 69 chars */
	"cmw_0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",  /* uppercase */
	"cmx_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",  /* prefix */
	"cmc_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",  /* a cloud token */
	"cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",  /* non-hex */
	"hunter2",
};

START_TEST(malformed_token_refused_without_echo)
{
	char err[CFG_ERR_MAX], var[128];
	struct cfg_worker cfg;
	char *env[] = { var, "CLOUD_URL=gw:443", NULL };

	snprintf(var, sizeof(var), "WORKER_TOKEN=%s", bad_tokens[_i]);
	ck_assert_int_eq(cfg_worker_load(&cfg, NULL, env, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "environment variable WORKER_TOKEN: malformed worker token"), "%s", err);
	ck_assert_msg(strstr(err, "'cmw_' followed by 64 lowercase hex digits, 68 characters"), "%s", err);
	ck_assert_msg(!strstr(err, bad_tokens[_i]), "token echoed: %s", err);
	ck_assert_msg(!strstr(err, bad_tokens[_i] + 4), "token echoed: %s", err);
}
END_TEST

START_TEST(token_in_file_refused_without_echo)
{
	char path[64], err[CFG_ERR_MAX];
	struct cfg_worker cfg;
	char *env[] = { NULL };

	ck_assert_int_eq(load_text(&cfg, "[worker]\ntoken = cmw_deadbeef\n", env, err, path), -EINVAL);
	ck_assert_msg(strstr(err, ":2: key 'token': malformed worker token (it is 12 characters long)"), "%s", err);
	ck_assert_msg(!strstr(err, "deadbeef"), "%s", err);
	unlink(path);
}
END_TEST

START_TEST(good_token_accepted)
{
	char err[CFG_ERR_MAX];

	ck_assert_int_eq(cfg_token_check(GOOD_TOKEN, "t", err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(GOOD_TOKEN), CFG_TOKEN_LEN);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	const char *host;
	unsigned port;
} hostports[] = {
	{ "gw.example.net:443", 0, "gw.example.net", 443 },
	{ "gw.example.net", 0, "gw.example.net", 443 },
	{ "tls://10.0.0.1:8443", 0, "10.0.0.1", 8443 },
	{ "https://gw:9000/", 0, "gw", 9000 },
	{ "[2001:db8::1]:4443", 0, "2001:db8::1", 4443 },
	{ "[::1]", 0, "::1", 443 },
	{ "", -EINVAL, NULL, 0 },
	{ ":443", -EINVAL, NULL, 0 },
	{ "gw:", -EINVAL, NULL, 0 },
	{ "gw:0", -EINVAL, NULL, 0 },
	{ "gw:65536", -EINVAL, NULL, 0 },
	{ "gw:44x", -EINVAL, NULL, 0 },
	{ "::1:443", -EINVAL, NULL, 0 },
	{ "[::1:443", -EINVAL, NULL, 0 },
	{ "gw host:443", -EINVAL, NULL, 0 },
	{ "https://gw:9000/path", -EINVAL, NULL, 0 },
};

START_TEST(gateway_addresses)
{
	char host[CFG_HOST_MAX];
	uint16_t port = 0;
	int rc = cfg_parse_hostport(hostports[_i].in, 443, host, sizeof(host), &port);

	ck_assert_msg(rc == hostports[_i].rc, "'%s': rc %d", hostports[_i].in, rc);
	if (rc == 0) {
		ck_assert_str_eq(host, hostports[_i].host);
		ck_assert_uint_eq(port, hostports[_i].port);
	}
}
END_TEST

static int collect_cb(struct cfg_ini_ctx *ctx, const char *section, const char *key, const char *value, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 512 - strlen(out), "%u:%s.%s=%s%s;", ctx->line, section, key, value,
		 ctx->continuation ? "+" : "");
	return 0;
}

START_TEST(ini_reader_lines_and_continuations)
{
	char out[512] = "", err[CFG_ERR_MAX];

	ck_assert_int_eq(cfg_ini_parse_string("plan.ini", "# c\n[a]\nx = 1 ; inline\n\ny = 2\n  3\n[b]\nz=\n", collect_cb,
					      out, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "3:a.x=1;5:a.y=2;6:a.y=3+;8:b.z=;");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("worker");

	tcase_add_test(tc, full_file_is_read);
	tcase_add_test(tc, media_side_for_gateway_runs);
	tcase_add_test(tc, defaults_without_file_or_env);
	tcase_add_loop_test(tc, bad_file_names_file_line_key, 0, (int)CM_ARRAY_SIZE(bad_files));
	tcase_add_test(tc, overlong_line_is_an_error_not_a_split);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, environment_wins_and_empty_means_unset);
	tcase_add_test(tc, bad_environment_names_the_variable);
	tcase_add_loop_test(tc, malformed_token_refused_without_echo, 0, (int)CM_ARRAY_SIZE(bad_tokens));
	tcase_add_test(tc, token_in_file_refused_without_echo);
	tcase_add_test(tc, good_token_accepted);
	tcase_add_loop_test(tc, gateway_addresses, 0, (int)CM_ARRAY_SIZE(hostports));
	tcase_add_test(tc, ini_reader_lines_and_continuations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(config_suite());
}
