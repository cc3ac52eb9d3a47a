/*
 * Process-wide counters, gauges and histograms, rendered in the Prometheus
 * text format. Thread-safe; every name is prefixed vrouter_.
 */
#ifndef VR_METRICS_H
#define VR_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Kinds of kernel object, for owned counts and drift repairs. */
enum metrics_kind { MK_ROUTE = 0, MK_ADDRESS, MK_RULE, MK_NFTABLES, MK_FORWARDING, MK_COUNT };

const char *metrics_kind_name(enum metrics_kind k);

/* One apply (incremental or full) took seconds; failed = some object or the pass failed. */
void metrics_apply(double seconds, int failed);
void metrics_drift_repair(enum metrics_kind k, uint64_t n);
void metrics_owned(enum metrics_kind k, uint64_t n);
void metrics_sqlite_error(void);
/* One transaction of the API's writes committed (one fsync), with writes of them in it. */
void metrics_write_commit(uint64_t writes);
/* One HTTP request: the endpoint's pattern ("/v1/routes/{id}", or "unmatched"). */
void metrics_http(const char *pattern, const char *method, int status, double seconds);

/* The exposition text, malloc'd. NULL on allocation failure. */
char *metrics_render(size_t *len);

/* Forget everything (tests). */
void metrics_reset(void);

#endif
