/* The Prometheus exposition: names, labels, cumulative buckets, hostile methods. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void test_render(void **state)
{
	size_t len = 0;
	char *t;

	metrics_reset();
	metrics_apply(0.002, 0);
	metrics_apply(0.2, 1);
	metrics_drift_repair(MK_ROUTE, 3);
	metrics_owned(MK_ROUTE, 7);
	metrics_sqlite_error();
	metrics_http("/v1/routes/{id}", "GET", 200, 0.0004);
	metrics_http("/v1/routes/{id}", "GET", 200, 0.002);
	metrics_http("/v1/routes/{id}", "GET", 404, 0.001);
	metrics_http("unmatched", "BREW\"}", 404, 0.001);
	t = metrics_render(&len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_non_null(strstr(t, "vrouter_applies_total 2\n"));
	assert_non_null(strstr(t, "vrouter_apply_failures_total 1\n"));
	/* Buckets are cumulative: 0.002 is under 0.005, 0.2 is not under 0.1. */
	assert_non_null(strstr(t, "vrouter_apply_duration_seconds_bucket{le=\"0.005\"} 1\n"));
	assert_non_null(strstr(t, "vrouter_apply_duration_seconds_bucket{le=\"0.5\"} 2\n"));
	assert_non_null(strstr(t, "vrouter_apply_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(t, "vrouter_apply_duration_seconds_count 2\n"));
	assert_non_null(strstr(t, "vrouter_drift_repairs_total{kind=\"route\"} 3\n"));
	assert_non_null(strstr(t, "vrouter_owned_objects{kind=\"route\"} 7\n"));
	assert_non_null(strstr(t, "vrouter_sqlite_errors_total 1\n"));
	assert_non_null(strstr(t, "vrouter_http_requests_total{route=\"/v1/routes/"
	                          "{id}\",method=\"GET\",code=\"200\"} 2\n"));
	assert_non_null(strstr(t, "vrouter_http_requests_total{route=\"/v1/routes/"
	                          "{id}\",method=\"GET\",code=\"404\"} 1\n"));
	/* A client's method never reaches a label value as written. */
	assert_null(strstr(t, "BREW"));
	assert_non_null(strstr(t, "method=\"OTHER\""));
	assert_non_null(strstr(t, "vrouter_http_request_duration_seconds_bucket{route=\"/v1/routes/"
	                          "{id}\",le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(
	    t, "vrouter_http_request_duration_seconds_count{route=\"/v1/routes/{id}\"} 3\n"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
