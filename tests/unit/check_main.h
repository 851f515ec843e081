/* Shared by every unit-test program: each tests/unit/test_*.c builds one Suite and returns run_suite(). */
#ifndef CM_TEST_CHECK_MAIN_H
#define CM_TEST_CHECK_MAIN_H

#include <stdlib.h>

#include <check.h>

static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
