/* The real binary's `callmeter-worker sip-check FILE...`: one line per file, exit 0 only if all are valid,
 * 2 if any is invalid or unreadable. */
#include <string.h>

#include "check_main.h"
#include "testutil.h"

static const char *worker_bin(void)
{
	const char *b = getenv("CALLMETER_WORKER_BIN");
	return b ? b : "build/callmeter-worker";
}

static int run_check(char *const files[], char **out)
{
	char *argv[8] = { (char *)worker_bin(), "sip-check" };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct tu_proc p;
	int rc;

	for (int i = 0; files[i] && i < 5; i++)
		argv[i + 2] = files[i];
	tu_spawn(&p, argv, env);
	rc = tu_wait(&p, 20000);
	*out = tu_output(&p);
	unlink(p.out);
	return rc;
}

#define GOOD "REGISTER sip:registrar.biloxi.com SIP/2.0\r\n" \
	     "Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7\r\n" \
	     "Max-Forwards: 70\r\nTo: Bob <sip:bob@biloxi.com>\r\n" \
	     "From: Bob <sip:bob@biloxi.com>;tag=456248\r\nCall-ID: 843817637684230@998sdasdh09\r\n" \
	     "CSeq: 1826 REGISTER\r\nContact: <sip:bob@192.0.2.4>\r\nExpires: 7200\r\nContent-Length: 0\r\n\r\n"

START_TEST(all_valid_exit_0)
{
	char a[64], b[64], *out, expect[160];
	char *files[] = { a, b, NULL };

	tu_write_temp(a, sizeof(a), GOOD);
	tu_write_temp(b, sizeof(b), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=9\r\n"
				    "From: <sip:a@b>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n");
	ck_assert_int_eq(run_check(files, &out), 0);
	snprintf(expect, sizeof(expect), "%s: ok\n%s: ok\n", a, b);
	ck_assert_str_eq(out, expect);
	free(out);
	unlink(a);
	unlink(b);
}
END_TEST

START_TEST(one_invalid_exit_2_with_reason)
{
	char a[64], b[64], *out, expect[512];
	char *files[] = { a, b, "/nonexistent/x.sip", NULL };

	tu_write_temp(a, sizeof(a), GOOD);
	/* RFC 4475 §3.1.2.17: CSeq method differs from the request method */
	tu_write_temp(b, sizeof(b), "OPTIONS sip:user@example.com SIP/2.0\r\nTo: sip:j.user@example.com\r\n"
				    "From: sip:caller@example.net;tag=34525\r\nMax-Forwards: 6\r\n"
				    "Call-ID: mismatch01.dj0234sxdfl3\r\nCSeq: 8 INVITE\r\n"
				    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\nl: 0\r\n\r\n");
	ck_assert_int_eq(run_check(files, &out), 2);
	snprintf(expect, sizeof(expect),
		 "%s: ok\n%s: invalid: CSeq method does not match the request method\n"
		 "/nonexistent/x.sip: invalid: cannot read: No such file or directory\n",
		 a, b);
	ck_assert_str_eq(out, expect);
	free(out);
	unlink(a);
	unlink(b);
}
END_TEST

START_TEST(oversize_and_usage)
{
	char a[64], *out, expect[160];
	char *files[] = { a, NULL }, *none[] = { NULL };
	char *big = malloc(70000);

	memset(big, 'a', 69999);
	big[69999] = '\0';
	tu_write_temp(a, sizeof(a), big);
	ck_assert_int_eq(run_check(files, &out), 2);
	snprintf(expect, sizeof(expect), "%s: invalid: message larger than SIP_MAX_MSG_SIZE\n", a);
	ck_assert_str_eq(out, expect);
	free(out);
	unlink(a);
	free(big);
	ck_assert_int_eq(run_check(none, &out), 2);
	ck_assert_msg(strstr(out, "usage: callmeter-worker sip-check FILE..."), "%s", out);
	free(out);
}
END_TEST

static Suite *check_suite(void)
{
	Suite *s = suite_create("sip_check");
	TCase *tc = tcase_create("binary");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, all_valid_exit_0);
	tcase_add_test(tc, one_invalid_exit_2_with_reason);
	tcase_add_test(tc, oversize_and_usage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(check_suite());
}
