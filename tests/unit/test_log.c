/* Logging: JSON and pretty lines, level filtering, redaction of registered secrets and token-shaped strings,
 * rate limiting. */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "check_main.h"

#define TOKEN "cmw_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *capture(void (*fn)(void))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cm_log_setup(CM_LOG_INFO, CM_LOG_JSON, f);
	fn();
	fclose(f);
	cm_log_setup(CM_LOG_INFO, CM_LOG_JSON, NULL);
	return buf;
}

static void log_json_line(void)
{
	cm_log(CM_LOG_WARN, "gateway", "quote \" backslash \\ newline\nend");
}

START_TEST(json_line_is_escaped)
{
	char *out = capture(log_json_line);

	ck_assert_msg(strncmp(out, "{\"ts\":\"", 7) == 0, "%s", out);
	ck_assert_msg(strstr(out, "\"level\":\"warn\",\"component\":\"gateway\","
				  "\"msg\":\"quote \\\" backslash \\\\ newline\\nend\"}\n"), "%s", out);
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
	free(out);
}
END_TEST

static void log_levels(void)
{
	cm_log(CM_LOG_DEBUG, "x", "hidden");
	cm_log(CM_LOG_INFO, "x", "shown");
	cm_log(CM_LOG_ERROR, "x", "also shown");
}

START_TEST(level_filter)
{
	char *out = capture(log_levels);

	ck_assert_ptr_null(strstr(out, "hidden"));
	ck_assert_ptr_nonnull(strstr(out, "shown"));
	ck_assert_ptr_nonnull(strstr(out, "also shown"));
	free(out);
}
END_TEST

static void log_secrets(void)
{
	cm_log(CM_LOG_INFO, "main", "token=%s and again %s.", TOKEN, TOKEN);
	cm_log(CM_LOG_INFO, "main", "password is s3cr3t-pw!");
	cm_log(CM_LOG_INFO, "main", "other token cmc_00112233aabbccdd and short cmw_12 stays");
	cm_log(CM_LOG_ERROR, "main", "upper CMW_AABBCCDDEEFF0011 too");
}

START_TEST(secrets_and_tokens_are_redacted)
{
	char *out;

	ck_assert_int_eq(cm_log_add_secret("s3cr3t-pw"), 0);
	out = capture(log_secrets);
	ck_assert_ptr_null(strstr(out, "0123456789abcdef"));
	ck_assert_ptr_null(strstr(out, "s3cr3t"));
	ck_assert_ptr_null(strstr(out, "00112233aabbccdd"));
	ck_assert_ptr_null(strstr(out, "AABBCCDDEEFF0011"));
	ck_assert_ptr_nonnull(strstr(out, "token=[redacted] and again [redacted]."));
	ck_assert_ptr_nonnull(strstr(out, "password is [redacted]!"));
	ck_assert_ptr_nonnull(strstr(out, "short cmw_12 stays"));
	free(out);
	cm_log_clear_secrets();
}
END_TEST

START_TEST(redact_is_bounded)
{
	char small[12];

	ck_assert_uint_eq(cm_redact("key " TOKEN, small, sizeof(small)), 11);
	ck_assert_str_eq(small, "key [redact");
}
END_TEST

static void log_pretty(void)
{
	cm_log(CM_LOG_INFO, "sip", "registered %d", 42);
}

START_TEST(pretty_format)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cm_log_setup(CM_LOG_INFO, CM_LOG_PRETTY, f);
	log_pretty();
	fclose(f);
	cm_log_setup(CM_LOG_INFO, CM_LOG_JSON, NULL);
	ck_assert_msg(strstr(buf, "Z info  [sip] registered 42\n"), "%s", buf);
	free(buf);
}
END_TEST

static void log_flood(void)
{
	static struct cm_ratelimit rl = CM_RATELIMIT_INIT(60000, 3);

	for (int i = 0; i < 1000; i++)
		cm_log_rl(&rl, CM_LOG_WARN, "dp", "bad packet %d", i);
}

START_TEST(rate_limited)
{
	char *out = capture(log_flood);
	int lines = 0;

	for (char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	ck_assert_int_eq(lines, 3);
	ck_assert_ptr_nonnull(strstr(out, "bad packet 2"));
	ck_assert_ptr_null(strstr(out, "bad packet 3"));
	free(out);
}
END_TEST

START_TEST(level_and_format_names)
{
	enum cm_log_level l;
	enum cm_log_format f;

	ck_assert_int_eq(cm_log_level_parse("DEBUG", &l), 0);
	ck_assert_int_eq(l, CM_LOG_DEBUG);
	ck_assert_int_eq(cm_log_level_parse("warning", &l), 0);
	ck_assert_int_eq(l, CM_LOG_WARN);
	ck_assert_int_eq(cm_log_level_parse("trace", &l), -EINVAL);
	ck_assert_int_eq(cm_log_format_parse("pretty", &f), 0);
	ck_assert_int_eq(f, CM_LOG_PRETTY);
	ck_assert_int_eq(cm_log_format_parse("", &f), -EINVAL);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, json_line_is_escaped);
	tcase_add_test(tc, level_filter);
	tcase_add_test(tc, secrets_and_tokens_are_redacted);
	tcase_add_test(tc, redact_is_bounded);
	tcase_add_test(tc, pretty_format);
	tcase_add_test(tc, rate_limited);
	tcase_add_test(tc, level_and_format_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(log_suite());
}
