/* Fleet mode's start-up checks (server/fleet.c): --router names and --etcd-prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"

static void test_router_names(void **state)
{
	static const char *const good[] = {
	    "local", "r1", "0", "a-b-c", "9rack-12", "abcdefghijklmnopqrstuvwxyz012345", NULL};
	static const char *const bad[] = {
	    "",    "R1", "-r1",  "r_1", "r 1",
	    "r1/", "ü",  "r1\n", "r.1", "abcdefghijklmnopqrstuvwxyz0123456",
	    NULL};
	struct vr_err e = {0};

	(void)state;
	for (const char *const *n = good; *n; n++)
		if (fleet_router_valid(*n, &e))
			fail_msg("\"%s\" refused: %s", *n, e.msg);
	for (const char *const *n = bad; *n; n++) {
		memset(&e, 0, sizeof(e));
		if (!fleet_router_valid(*n, &e))
			fail_msg("\"%s\" accepted", *n);
		assert_int_equal(e.code, VR_ERR_INVALID);
		assert_string_equal(e.field, "router");
		assert_non_null(strstr(e.msg, "router name \""));
	}
}

static void test_prefixes(void **state)
{
	struct vr_err e = {0};

	(void)state;
	assert_int_equal(fleet_prefix_valid("/vrouter", &e), 0);
	assert_int_equal(fleet_prefix_valid("/fleets/lab-1", &e), 0);
	assert_int_equal(fleet_prefix_valid("vrouter", &e), -1);
	assert_string_equal(e.field, "etcd-prefix");
	assert_int_equal(fleet_prefix_valid("/vrouter/", &e), -1);
	assert_int_equal(fleet_prefix_valid("/", &e), -1);
	assert_int_equal(fleet_prefix_valid("/a b", &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_router_names),
	    cmocka_unit_test(test_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
