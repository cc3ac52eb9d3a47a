/* The Prometheus exposition: names, labels, cumulative buckets, hostile methods. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
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
	metrics_write_commit(1);
	metrics_write_commit(13); /* a group commit of 13 writes */
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
	assert_non_null(strstr(t, "vrouter_write_commits_total 2\n"));
	assert_non_null(strstr(t, "vrouter_writes_committed_total 14\n"));
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

/* The value of the gauge NAME in the text t; -1 when absent. */
static long long gauge(const char *t, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = t; (p = strstr(p, name)); p += n)
		if ((p == t || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

/* SQLite's heap and page caches, as SQLite counts them, grow with a handle's use. */
static void test_sqlite_memory(void **state)
{
	sqlite3 *db;
	size_t len = 0;
	char *t;
	long long mem0, cache0, mem1, cache1;

	t = metrics_render(&len);
	assert_non_null(t);
	mem0 = gauge(t, "vrouter_sqlite_memory_bytes");
	cache0 = gauge(t, "vrouter_sqlite_cache_bytes");
	free(t);
	assert_true(mem0 >= 0);
	assert_true(cache0 >= 0);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	/* 2,000 rows of 200 bytes: about 100 pages, more than a cache's first block. */
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION "
	                              "ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t "
	                              "SELECT randomblob(200) FROM n;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	t = metrics_render(&len);
	assert_non_null(t);
	mem1 = gauge(t, "vrouter_sqlite_memory_bytes");
	cache1 = gauge(t, "vrouter_sqlite_cache_bytes");
	free(t);
	assert_int_equal(mem1, (long long)sqlite3_memory_used());
	assert_true(cache1 >= cache0 + 50 * 4096);
	assert_true(mem1 >= mem0 + (cache1 - cache0));
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_sqlite_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
