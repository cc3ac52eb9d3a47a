#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "grow.h"

#define HTTP_SERIES_MAX 256 /* distinct (pattern, method, status); more are folded into "other" */
#define PATTERN_MAX 64

static const double apply_buckets[] = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30};
static const double http_buckets[] = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
#define NAPPLY (sizeof(apply_buckets) / sizeof(apply_buckets[0]))
#define NHTTP (sizeof(http_buckets) / sizeof(http_buckets[0]))

struct histo {
	uint64_t bucket[16]; /* cumulative counts are computed when rendering */
	uint64_t count;
	double sum;
};

/*
 * HTTP series are counted on every request from many threads: entries are
 * appended under the lock and published by a release store of the count, so
 * the common case (the series exists) is a lock-free scan and atomic adds.
 */
struct http_series {
	char pattern[PATTERN_MAX];
	char method[8];
	int status;
	uint64_t count; /* atomic */
};

struct http_duration {
	char pattern[PATTERN_MAX];
	uint64_t bucket[16]; /* atomic */
	uint64_t count;      /* atomic */
	uint64_t sum_ns;     /* atomic */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct histo apply_h;
static uint64_t applies, apply_failures, sqlite_errors;
static uint64_t write_commits, writes_committed; /* atomic */
static uint64_t repairs[MK_COUNT], owned[MK_COUNT];
static struct http_series http[HTTP_SERIES_MAX];
static size_t nhttp;
static struct http_duration http_dur[HTTP_SERIES_MAX];
static size_t nhttp_dur;

const char *metrics_kind_name(enum metrics_kind k)
{
	static const char *const names[MK_COUNT] = {"route", "address", "rule", "nftables",
	                                            "forwarding"};

	return k < MK_COUNT ? names[k] : "unknown";
}

static void histo_observe(struct histo *h, const double *b, size_t nb, double v)
{
	size_t i;

	for (i = 0; i < nb && v > b[i]; i++)
		;
	h->bucket[i]++; /* i == nb is the +Inf bucket */
	h->count++;
	h->sum += v;
}

void metrics_apply(double seconds, int failed)
{
	pthread_mutex_lock(&lock);
	applies++;
	apply_failures += failed != 0;
	histo_observe(&apply_h, apply_buckets, NAPPLY, seconds);
	pthread_mutex_unlock(&lock);
}

void metrics_drift_repair(enum metrics_kind k, uint64_t n)
{
	if (k >= MK_COUNT)
		return;
	pthread_mutex_lock(&lock);
	repairs[k] += n;
	pthread_mutex_unlock(&lock);
}

void metrics_owned(enum metrics_kind k, uint64_t n)
{
	if (k >= MK_COUNT)
		return;
	pthread_mutex_lock(&lock);
	owned[k] = n;
	pthread_mutex_unlock(&lock);
}

void metrics_write_commit(uint64_t writes)
{
	__atomic_add_fetch(&write_commits, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&writes_committed, writes, __ATOMIC_RELAXED);
}

void metrics_sqlite_error(void)
{
	pthread_mutex_lock(&lock);
	sqlite_errors++;
	pthread_mutex_unlock(&lock);
}

static struct http_series *http_find(size_t n, const char *pattern, const char *method, int status)
{
	for (size_t i = 0; i < n; i++)
		if (http[i].status == status && !strcmp(http[i].pattern, pattern) &&
		    !strcmp(http[i].method, method))
			return &http[i];
	return NULL;
}

static struct http_duration *dur_find(size_t n, const char *pattern)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(http_dur[i].pattern, pattern))
			return &http_dur[i];
	return NULL;
}

void metrics_http(const char *pattern, const char *method, int status, double seconds)
{
	struct http_series *hs;
	struct http_duration *hd;
	size_t b;

	/* The method comes from the client: only plain upper-case words become label values. */
	if (strlen(method) >= sizeof(http[0].method) ||
	    strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method))
		method = "OTHER";
	hs = http_find(__atomic_load_n(&nhttp, __ATOMIC_ACQUIRE), pattern, method, status);
	hd = dur_find(__atomic_load_n(&nhttp_dur, __ATOMIC_ACQUIRE), pattern);
	if (!hs || !hd) {
		pthread_mutex_lock(&lock);
		hs = http_find(nhttp, pattern, method, status);
		if (!hs && nhttp < HTTP_SERIES_MAX) {
			hs = &http[nhttp];
			snprintf(hs->pattern, PATTERN_MAX, "%s", pattern);
			snprintf(hs->method, sizeof(hs->method), "%s", method);
			hs->status = status;
			hs->count = 0;
			__atomic_store_n(&nhttp, nhttp + 1, __ATOMIC_RELEASE);
		}
		hd = dur_find(nhttp_dur, pattern);
		if (!hd && nhttp_dur < HTTP_SERIES_MAX) {
			hd = &http_dur[nhttp_dur];
			memset(hd, 0, sizeof(*hd));
			snprintf(hd->pattern, PATTERN_MAX, "%s", pattern);
			__atomic_store_n(&nhttp_dur, nhttp_dur + 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&lock);
	}
	if (hs)
		__atomic_fetch_add(&hs->count, 1, __ATOMIC_RELAXED);
	if (hd) {
		for (b = 0; b < NHTTP && seconds > http_buckets[b]; b++)
			;
		__atomic_fetch_add(&hd->bucket[b], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&hd->count, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&hd->sum_ns, (uint64_t)(seconds * 1e9), __ATOMIC_RELAXED);
	}
}

void metrics_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(&apply_h, 0, sizeof(apply_h));
	applies = apply_failures = sqlite_errors = 0;
	__atomic_store_n(&write_commits, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&writes_committed, 0, __ATOMIC_RELAXED);
	memset(repairs, 0, sizeof(repairs));
	memset(owned, 0, sizeof(owned));
	nhttp = nhttp_dur = 0;
	pthread_mutex_unlock(&lock);
}

/* The rendered text's bound: its series are bounded (HTTP_SERIES_MAX), so it stays far below. */
#define METRICS_TEXT_MAX ((size_t)16 * 1024 * 1024)

/* A growable text buffer; on allocation failure it stays failed and render returns NULL. */
struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		if (vr_grow((void **)&b->p, &b->cap, b->len + (size_t)n + 1, 1, METRICS_TEXT_MAX)) {
			b->failed = true;
			return;
		}
	}
}

static void histo_render(struct buf *b, const char *name, const char *labels, const struct histo *h,
                         const double *bk, size_t nb)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < nb; i++) {
		cum += h->bucket[i];
		bprintf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "",
		        bk[i], (unsigned long long)cum);
	}
	cum += h->bucket[nb];
	bprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "",
	        (unsigned long long)cum);
	bprintf(b, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	        h->sum);
	bprintf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	        (unsigned long long)h->count);
}

/*
 * SQLite's heap, all database handles together: all of it, and the part that
 * is page caches (each handle's bounded by its cache_size; pages beyond the
 * few SQLite allocates in one block when a cache is first used).
 */
static void sqlite_render(struct buf *b)
{
	sqlite3_int64 cache = 0, hi = 0;

	sqlite3_status64(SQLITE_STATUS_PAGECACHE_OVERFLOW, &cache, &hi, 0);
	bprintf(b,
	        "# HELP vrouter_sqlite_memory_bytes Heap memory SQLite holds, all handles.\n"
	        "# TYPE vrouter_sqlite_memory_bytes gauge\nvrouter_sqlite_memory_bytes %lld\n"
	        "# HELP vrouter_sqlite_cache_bytes Heap memory of SQLite's page caches, all "
	        "handles.\n# TYPE vrouter_sqlite_cache_bytes gauge\nvrouter_sqlite_cache_bytes "
	        "%lld\n",
	        (long long)sqlite3_memory_used(), (long long)cache);
}

char *metrics_render(size_t *len)
{
	struct buf b = {.cap = 8192};
	char labels[PATTERN_MAX + 32];

	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	pthread_mutex_lock(&lock);
	bprintf(&b, "# HELP vrouter_apply_duration_seconds Time to apply a change to the kernel.\n"
	            "# TYPE vrouter_apply_duration_seconds histogram\n");
	histo_render(&b, "vrouter_apply_duration_seconds", "", &apply_h, apply_buckets, NAPPLY);
	bprintf(
	    &b,
	    "# HELP vrouter_applies_total Applies attempted (incremental and full).\n"
	    "# TYPE vrouter_applies_total counter\nvrouter_applies_total %llu\n"
	    "# HELP vrouter_apply_failures_total Applies in which the pass or an object failed.\n"
	    "# TYPE vrouter_apply_failures_total counter\nvrouter_apply_failures_total %llu\n",
	    (unsigned long long)applies, (unsigned long long)apply_failures);
	bprintf(&b, "# HELP vrouter_drift_repairs_total Owned kernel objects found changed or "
	            "missing and put back.\n# TYPE vrouter_drift_repairs_total counter\n");
	for (int k = 0; k < MK_COUNT; k++)
		bprintf(&b, "vrouter_drift_repairs_total{kind=\"%s\"} %llu\n", metrics_kind_name(k),
		        (unsigned long long)repairs[k]);
	bprintf(&b, "# HELP vrouter_owned_objects Kernel objects vrouter owns, by kind.\n"
	            "# TYPE vrouter_owned_objects gauge\n");
	for (int k = 0; k < MK_COUNT; k++)
		bprintf(&b, "vrouter_owned_objects{kind=\"%s\"} %llu\n", metrics_kind_name(k),
		        (unsigned long long)owned[k]);
	bprintf(
	    &b,
	    "# HELP vrouter_sqlite_errors_total SQLite errors other than constraint conflicts.\n"
	    "# TYPE vrouter_sqlite_errors_total counter\nvrouter_sqlite_errors_total %llu\n",
	    (unsigned long long)sqlite_errors);
	bprintf(
	    &b,
	    "# HELP vrouter_write_commits_total Transactions the API's writes were committed in "
	    "(one fsync each; writes that arrive together share one).\n"
	    "# TYPE vrouter_write_commits_total counter\nvrouter_write_commits_total %llu\n"
	    "# HELP vrouter_writes_committed_total Writes committed in those transactions.\n"
	    "# TYPE vrouter_writes_committed_total counter\nvrouter_writes_committed_total "
	    "%llu\n",
	    (unsigned long long)__atomic_load_n(&write_commits, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&writes_committed, __ATOMIC_RELAXED));
	sqlite_render(&b);
	bprintf(&b, "# HELP vrouter_http_requests_total HTTP requests by endpoint, method and "
	            "status.\n# TYPE vrouter_http_requests_total counter\n");
	for (size_t i = 0; i < nhttp; i++)
		bprintf(
		    &b,
		    "vrouter_http_requests_total{route=\"%s\",method=\"%s\",code=\"%d\"} %llu\n",
		    http[i].pattern, http[i].method, http[i].status,
		    (unsigned long long)__atomic_load_n(&http[i].count, __ATOMIC_RELAXED));
	bprintf(&b, "# HELP vrouter_http_request_duration_seconds HTTP request latency by "
	            "endpoint.\n# TYPE vrouter_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < nhttp_dur; i++) {
		struct histo h = {0};

		for (size_t k = 0; k <= NHTTP; k++)
			h.bucket[k] = __atomic_load_n(&http_dur[i].bucket[k], __ATOMIC_RELAXED);
		h.count = __atomic_load_n(&http_dur[i].count, __ATOMIC_RELAXED);
		h.sum = (double)__atomic_load_n(&http_dur[i].sum_ns, __ATOMIC_RELAXED) / 1e9;
		snprintf(labels, sizeof(labels), "route=\"%s\"", http_dur[i].pattern);
		histo_render(&b, "vrouter_http_request_duration_seconds", labels, &h, http_buckets,
		             NHTTP);
	}
	pthread_mutex_unlock(&lock);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
