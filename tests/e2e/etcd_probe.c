/*
 * core/etcd.c against a real three-member etcd cluster (test_etcd.sh starts it in
 * namespaces of its own and runs this in the namespace that reaches every member):
 *
 *   ETCD_ENDPOINTS=http://10.77.0.1:2379,... ETCD_PIDS=pid1,pid2,pid3 ./etcd_probe
 *
 * ETCD_PIDS are the members' pids in the endpoints' order: the last tests kill the
 * leader, then stop and kill the others. The tests run in order and share the cluster;
 * every key is under a prefix of the test's own.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd.h"

#define MAX_MEMBERS 8
#define MAX_EVENTS 512
/* One request on one endpoint: a write waits for fsyncs on three members, which a
 * loaded machine makes slow. */
#define TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 1000
/* The same in test_unreachable, where a stopped member costs this much. */
#define SHORT_TIMEOUT_MS 1000
#define SHORT_CONNECT_TIMEOUT_MS 500
/* Seconds a loaded machine (2 cores, load 10 and more) may add to a bound in time. */
#define SCHED_SLACK 3.0
/* A lease's TTL in the lease test: its keepalives (every 0.5 s) may be late by seconds. */
#define LEASE_TTL 4

static char endpoints[1024];
static char *ep[MAX_MEMBERS];
static pid_t pids[MAX_MEMBERS];
static size_t nmembers;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static struct etcd *open_client_t(const char *list, int timeout_ms, int connect_timeout_ms)
{
	struct etcd_opts o = {
	    .endpoints = list, .timeout_ms = timeout_ms, .connect_timeout_ms = connect_timeout_ms};
	struct vr_err err = {0};
	struct etcd *e = etcd_open(&o, &err);

	if (!e)
		fail_msg("etcd_open: %s", err.msg);
	return e;
}

static struct etcd *open_client(const char *list)
{
	return open_client_t(list, TIMEOUT_MS, CONNECT_TIMEOUT_MS);
}

static void put(struct etcd *e, const char *key, const char *val, int64_t lease, int64_t *rev)
{
	struct vr_err err = {0};
	int rc = etcd_put(e, key, val, strlen(val), lease, rev, &err);

	if (rc)
		fail_msg("put %s: %s", key, err.msg);
}

/* key's pair (version 0 when absent). */
static struct etcd_kv get(struct etcd *e, const char *key, struct etcd_kvs *kvs)
{
	struct etcd_range_req r = {.key = key};
	struct etcd_kv none = {0};
	struct vr_err err = {0};

	if (etcd_range(e, &r, kvs, &err))
		fail_msg("range %s: %s", key, err.msg);
	assert_true(kvs->n <= 1);
	return kvs->n ? kvs->kv[0] : none;
}

static int64_t current_revision(struct etcd *e)
{
	struct etcd_kvs kvs;
	int64_t rev;

	get(e, "/probe/none", &kvs);
	rev = kvs.revision;
	etcd_kvs_free(&kvs);
	assert_true(rev > 0);
	return rev;
}

static void test_open_rejects(void **state)
{
	const char *bad[] = {"", "10.0.0.1:2379", "http://a:1,ftp://b", "http://"};
	struct etcd_opts o = {0};
	struct vr_err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.endpoints = bad[i];
		err_clear(&err);
		assert_null(etcd_open(&o, &err));
		assert_int_equal(err.code, VR_ERR_INVALID);
	}
}

static void test_put_range(void **state)
{
	struct etcd *e = open_client(endpoints);
	struct etcd_kvs kvs;
	struct etcd_kv kv;
	int64_t r1, r2;
	const char bin[] = {'a', 0, 'b', (char)0xff};
	struct vr_err err = {0};

	put(e, "/probe/put/a", "{\"x\":1}", 0, &r1);
	kv = get(e, "/probe/put/a", &kvs);
	assert_string_equal(kv.key, "/probe/put/a");
	assert_string_equal(kv.value, "{\"x\":1}");
	assert_int_equal(kv.mod_revision, r1);
	assert_int_equal(kv.create_revision, r1);
	assert_int_equal(kv.version, 1);
	assert_true(kvs.revision >= r1);
	etcd_kvs_free(&kvs);

	put(e, "/probe/put/a", "two", 0, &r2);
	assert_true(r2 > r1);
	kv = get(e, "/probe/put/a", &kvs);
	assert_string_equal(kv.value, "two");
	assert_int_equal(kv.mod_revision, r2);
	assert_int_equal(kv.create_revision, r1);
	assert_int_equal(kv.version, 2);
	etcd_kvs_free(&kvs);

	/* Values are bytes: a NUL and 0xff inside come back whole. */
	assert_int_equal(etcd_put(e, "/probe/put/bin", bin, sizeof(bin), 0, NULL, &err), 0);
	kv = get(e, "/probe/put/bin", &kvs);
	assert_int_equal(kv.value_len, sizeof(bin));
	assert_memory_equal(kv.value, bin, sizeof(bin));
	etcd_kvs_free(&kvs);

	kv = get(e, "/probe/put/missing", &kvs);
	assert_int_equal(kvs.n, 0);
	assert_int_equal(kv.version, 0);
	etcd_kvs_free(&kvs);

	/* A revision in the future is etcd's "no", not an unreachable cluster. */
	struct etcd_range_req fut = {.key = "/probe/put/a", .revision = r2 + 1000000};
	assert_int_equal(etcd_range(e, &fut, &kvs, &err), ETCD_EREJECTED);
	assert_non_null(strstr(err.msg, "future revision"));
	etcd_close(e);
}

static void test_prefix_range(void **state)
{
	struct etcd *e = open_client(endpoints);
	const char *keys[] = {"/probe/pfx/b",   "/probe/pfx/a", "/probe/pfx/c",
	                      "/probe/pfx/a/x", "/probe/pfy",   "/probe/pfx"};
	struct etcd_range_req r = {.key = "/probe/pfx/", .prefix = true};
	struct etcd_kvs kvs;
	struct vr_err err = {0};
	int64_t deleted = 0;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put(e, keys[i], keys[i], 0, NULL);
	assert_int_equal(etcd_range(e, &r, &kvs, &err), 0);
	assert_int_equal(kvs.n, 4);
	assert_false(kvs.more);
	assert_string_equal(kvs.kv[0].key, "/probe/pfx/a");
	assert_string_equal(kvs.kv[1].key, "/probe/pfx/a/x");
	assert_string_equal(kvs.kv[2].key, "/probe/pfx/b");
	assert_string_equal(kvs.kv[3].key, "/probe/pfx/c");
	assert_string_equal(kvs.kv[3].value, "/probe/pfx/c");
	etcd_kvs_free(&kvs);

	/* Pages of two: the second starts after the first's last key. */
	r.limit = 2;
	assert_int_equal(etcd_range(e, &r, &kvs, &err), 0);
	assert_int_equal(kvs.n, 2);
	assert_true(kvs.more);
	assert_string_equal(kvs.kv[1].key, "/probe/pfx/a/x");
	struct etcd_range_req next = {.key = "/probe/pfx/a/x",
	                              .after_key = true,
	                              .range_end = "/probe/pfx0",
	                              .revision = kvs.revision,
	                              .limit = 2};
	etcd_kvs_free(&kvs);
	assert_int_equal(etcd_range(e, &next, &kvs, &err), 0);
	assert_int_equal(kvs.n, 2);
	assert_false(kvs.more);
	assert_string_equal(kvs.kv[0].key, "/probe/pfx/b");
	assert_string_equal(kvs.kv[1].key, "/probe/pfx/c");
	etcd_kvs_free(&kvs);

	assert_int_equal(etcd_delete(e, "/probe/pfx/", true, &deleted, NULL, &err), 0);
	assert_int_equal(deleted, 4);
	r.limit = 0;
	assert_int_equal(etcd_range(e, &r, &kvs, &err), 0);
	assert_int_equal(kvs.n, 0);
	etcd_kvs_free(&kvs);
	/* Beside the prefix, untouched. */
	struct etcd_range_req rest = {.key = "/probe/pf", .prefix = true};
	assert_int_equal(etcd_range(e, &rest, &kvs, &err), 0);
	assert_int_equal(kvs.n, 2);
	etcd_kvs_free(&kvs);
	etcd_close(e);
}

static void test_txn(void **state)
{
	struct etcd *e = open_client(endpoints);
	struct etcd_cmp absent = {.key = "/probe/txn/a", .target = ETCD_CMP_VERSION, .value = 0};
	struct etcd_op create = {
	    .type = ETCD_OP_PUT, .key = "/probe/txn/a", .value = "v1", .value_len = 2};
	struct etcd_kvs kvs;
	struct etcd_kv kv;
	struct vr_err err = {0};
	bool ok = false;
	int64_t rev = 0, rev2 = 0;

	/* Create if absent: once, not twice. */
	assert_int_equal(etcd_txn(e, &absent, 1, &create, 1, &ok, &rev, &err), 0);
	assert_true(ok);
	assert_int_equal(etcd_txn(e, &absent, 1, &create, 1, &ok, &rev2, &err), 0);
	assert_false(ok);
	assert_int_equal(rev2, rev); /* nothing written */

	/* If-Match: the current mod_revision wins, and two ops share one revision. */
	put(e, "/probe/txn/b", "b", 0, NULL);
	kv = get(e, "/probe/txn/a", &kvs);
	struct etcd_cmp match = {
	    .key = "/probe/txn/a", .target = ETCD_CMP_MOD_REVISION, .value = kv.mod_revision};
	etcd_kvs_free(&kvs);
	struct etcd_op ops[] = {
	    {.type = ETCD_OP_PUT, .key = "/probe/txn/a", .value = "v2", .value_len = 2},
	    {.type = ETCD_OP_DELETE, .key = "/probe/txn/b"},
	};
	assert_int_equal(etcd_txn(e, &match, 1, ops, 2, &ok, &rev, &err), 0);
	assert_true(ok);
	kv = get(e, "/probe/txn/a", &kvs);
	assert_string_equal(kv.value, "v2");
	assert_int_equal(kv.mod_revision, rev);
	etcd_kvs_free(&kvs);
	kv = get(e, "/probe/txn/b", &kvs);
	assert_int_equal(kvs.n, 0);
	etcd_kvs_free(&kvs);

	/* The same If-Match again is stale now: nothing changes. */
	ops[0].value = "v3";
	assert_int_equal(etcd_txn(e, &match, 1, ops, 1, &ok, &rev2, &err), 0);
	assert_false(ok);
	kv = get(e, "/probe/txn/a", &kvs);
	assert_string_equal(kv.value, "v2");
	assert_int_equal(kv.mod_revision, rev);
	etcd_kvs_free(&kvs);

	/* Two ops on one key: etcd refuses the whole txn. */
	struct etcd_op twice[] = {
	    {.type = ETCD_OP_PUT, .key = "/probe/txn/c", .value = "1", .value_len = 1},
	    {.type = ETCD_OP_PUT, .key = "/probe/txn/c", .value = "2", .value_len = 1},
	};
	assert_int_equal(etcd_txn(e, NULL, 0, twice, 2, &ok, NULL, &err), ETCD_EREJECTED);
	assert_non_null(strstr(err.msg, "duplicate key"));
	kv = get(e, "/probe/txn/c", &kvs);
	assert_int_equal(kvs.n, 0);
	etcd_kvs_free(&kvs);
	etcd_close(e);
}

static void test_lease(void **state)
{
	struct etcd *e = open_client(endpoints);
	struct etcd_kvs kvs;
	struct vr_err err = {0};
	int64_t id = 0, id2 = 0, ttl = 0;
	double t0;
	int i;

	assert_int_equal(etcd_lease_grant(e, LEASE_TTL, &id, &ttl, &err), 0);
	assert_true(id != 0);
	assert_int_equal(ttl, LEASE_TTL);
	put(e, "/probe/lease/a", "alive", id, NULL);
	(void)get(e, "/probe/lease/a", &kvs);
	assert_int_equal(kvs.n, 1);
	assert_int_equal(kvs.kv[0].lease, id);
	etcd_kvs_free(&kvs);

	/* Kept alive for one and a half times its TTL: the key stays. */
	for (i = 0; i < LEASE_TTL * 3; i++) {
		sleep_ms(500);
		if (etcd_lease_keepalive(e, id, &ttl, &err))
			fail_msg("keepalive %d: %s", i, err.msg);
		assert_int_equal(ttl, LEASE_TTL);
	}
	(void)get(e, "/probe/lease/a", &kvs);
	assert_int_equal(kvs.n, 1);
	etcd_kvs_free(&kvs);

	/* Left alone, it expires and takes the key along. */
	t0 = now_s();
	for (;;) {
		(void)get(e, "/probe/lease/a", &kvs);
		if (kvs.n == 0)
			break;
		etcd_kvs_free(&kvs);
		if (now_s() - t0 > LEASE_TTL + 10)
			fail_msg("the leased key outlived its lease by 10 s");
		sleep_ms(100);
	}
	etcd_kvs_free(&kvs);
	assert_true(now_s() - t0 > LEASE_TTL - 1); /* not before its TTL after the last keepalive */
	assert_int_equal(etcd_lease_keepalive(e, id, NULL, &err), ETCD_ENOTFOUND);
	assert_int_equal(err.code, VR_ERR_NOT_FOUND);

	/* Revoked: its key goes at once; a second revoke and a put with it: not found. */
	assert_int_equal(etcd_lease_grant(e, 60, &id2, NULL, &err), 0);
	put(e, "/probe/lease/b", "b", id2, NULL);
	assert_int_equal(etcd_lease_revoke(e, id2, &err), 0);
	(void)get(e, "/probe/lease/b", &kvs);
	assert_int_equal(kvs.n, 0);
	etcd_kvs_free(&kvs);
	assert_int_equal(etcd_lease_revoke(e, id2, &err), ETCD_ENOTFOUND);
	assert_int_equal(etcd_put(e, "/probe/lease/c", "c", 1, id2, NULL, &err), ETCD_ENOTFOUND);
	etcd_close(e);
}

/* What a watch delivered, for the test's thread to read. */
struct seen {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n;
	struct {
		enum etcd_event_type type;
		char key[64];
		char value[64];
		int64_t rev;
	} ev[MAX_EVENTS];
	int connected, lost, compacted;
	int64_t compact_rev;
	bool disorder; /* an event at or below the revision of one before it */
};

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
}

static void seen_cb(void *arg, const struct etcd_watch_update *u)
{
	struct seen *s = arg;
	size_t i;

	pthread_mutex_lock(&s->mu);
	if (u->rc == ETCD_ECOMPACTED) {
		s->compacted++;
		s->compact_rev = u->compact_revision;
	} else if (u->rc == ETCD_EUNREACHABLE) {
		s->lost++;
	} else if (u->n == 0) {
		s->connected++;
	}
	for (i = 0; i < u->n && s->n < MAX_EVENTS; i++, s->n++) {
		if (s->n > 0 && u->events[i].kv.mod_revision < s->ev[s->n - 1].rev)
			s->disorder = true;
		s->ev[s->n].type = u->events[i].type;
		s->ev[s->n].rev = u->events[i].kv.mod_revision;
		snprintf(s->ev[s->n].key, sizeof(s->ev[s->n].key), "%s", u->events[i].kv.key);
		snprintf(s->ev[s->n].value, sizeof(s->ev[s->n].value), "%s", u->events[i].kv.value);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Wait up to secs for pred(s); true when it holds. */
static bool seen_wait(struct seen *s, bool (*pred)(const struct seen *, size_t), size_t arg,
                      double secs)
{
	double end = now_s() + secs;
	bool ok;

	pthread_mutex_lock(&s->mu);
	while (!(ok = pred(s, arg)) && now_s() < end) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static bool has_events(const struct seen *s, size_t n)
{
	return s->n >= n;
}

static bool has_compacted(const struct seen *s, size_t n)
{
	return s->compacted > 0;
}

static bool has_connected(const struct seen *s, size_t n)
{
	return s->connected >= (int)n;
}

/* A watch of prefix from revision from (into a fresh *s) until its first event. */
static void watch_first(struct etcd *e, const char *prefix, int64_t from, struct seen *s)
{
	struct vr_err err = {0};
	struct etcd_watch *w;

	seen_init(s);
	w = etcd_watch_start(e, prefix, from, seen_cb, s, &err);
	if (!w)
		fail_msg("watch %s: %s", prefix, err.msg);
	assert_true(seen_wait(s, has_events, 1, 10));
	etcd_watch_stop(w);
}

static void test_watch_order(void **state)
{
	struct etcd *e = open_client(endpoints);
	struct vr_err err = {0};
	struct seen *s = malloc(sizeof(*s));
	struct etcd_watch *w;
	int64_t from, rev[12];
	char key[64], val[64];
	int i;

	assert_non_null(s);
	seen_init(s);
	put(e, "/probe/watchx", "outside the prefix", 0, NULL);
	from = current_revision(e) + 1;
	/* Ten changes before the watch starts: it replays them from `from`. */
	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "/probe/watch/k%d", i % 4);
		snprintf(val, sizeof(val), "v%d", i);
		if (i == 6) {
			assert_int_equal(
			    etcd_delete(e, "/probe/watch/k1", false, NULL, &rev[i], &err), 0);
		} else {
			put(e, key, val, 0, &rev[i]);
		}
		put(e, "/probe/watchy", val, 0, NULL); /* beside the prefix: never delivered */
	}
	w = etcd_watch_start(e, "/probe/watch/", from, seen_cb, s, &err);
	assert_non_null(w);
	assert_true(seen_wait(s, has_events, 10, 10));
	/* Two more while it runs. */
	put(e, "/probe/watch/k9", "live", 0, &rev[10]);
	assert_int_equal(etcd_delete(e, "/probe/watch/k9", false, NULL, &rev[11], &err), 0);
	assert_true(seen_wait(s, has_events, 12, 10));
	etcd_watch_stop(w);

	assert_int_equal(s->n, 12);
	assert_false(s->disorder);
	for (i = 0; i < 12; i++) {
		assert_int_equal(s->ev[i].rev, rev[i]);
		if (i == 6 || i == 11) {
			assert_int_equal(s->ev[i].type, ETCD_EV_DELETE);
			continue;
		}
		assert_int_equal(s->ev[i].type, ETCD_EV_PUT);
		if (i < 10) {
			snprintf(key, sizeof(key), "/probe/watch/k%d", i % 4);
			snprintf(val, sizeof(val), "v%d", i);
			assert_string_equal(s->ev[i].key, key);
			assert_string_equal(s->ev[i].value, val);
		}
	}
	assert_string_equal(s->ev[6].key, "/probe/watch/k1");
	assert_string_equal(s->ev[10].value, "live");
	assert_true(s->connected >= 1);
	assert_int_equal(s->compacted, 0);

	/* From now on (0): nothing of the past, only what follows. */
	seen_init(s);
	w = etcd_watch_start(e, "/probe/watch/", 0, seen_cb, s, &err);
	assert_non_null(w);
	assert_true(seen_wait(s, has_connected, 1, 10));
	put(e, "/probe/watch/now", "now", 0, &rev[0]);
	assert_true(seen_wait(s, has_events, 1, 10));
	sleep_ms(200);
	etcd_watch_stop(w);
	assert_int_equal(s->n, 1);
	assert_int_equal(s->ev[0].rev, rev[0]);
	assert_string_equal(s->ev[0].key, "/probe/watch/now");
	free(s);
	etcd_close(e);
}

static void test_watch_compacted(void **state)
{
	struct etcd *e = open_client(endpoints);
	struct vr_err err = {0};
	struct seen *s = malloc(sizeof(*s));
	struct etcd_watch *w;
	struct etcd_kvs kvs;
	int64_t r1, r3;

	assert_non_null(s);
	seen_init(s);
	put(e, "/probe/compact/a", "1", 0, &r1);
	put(e, "/probe/compact/a", "2", 0, NULL);
	put(e, "/probe/compact/a", "3", 0, &r3);
	assert_int_equal(etcd_compact(e, r3, &err), 0);

	struct etcd_range_req old = {.key = "/probe/compact/a", .revision = r1};
	assert_int_equal(etcd_range(e, &old, &kvs, &err), ETCD_ECOMPACTED);
	assert_int_equal(err.code, VR_ERR_UNAVAILABLE);

	w = etcd_watch_start(e, "/probe/compact/", r1, seen_cb, s, &err);
	assert_non_null(w);
	assert_true(seen_wait(s, has_compacted, 1, 10));
	sleep_ms(300); /* nothing more: the watch has ended, no reconnect loop */
	etcd_watch_stop(w);
	assert_int_equal(s->compacted, 1);
	assert_int_equal(s->compact_rev, r3);
	assert_int_equal(s->n, 0);
	assert_int_equal(s->lost, 0);

	/* From the compaction revision on, it works. */
	watch_first(e, "/probe/compact/", r3, s);
	assert_int_equal(s->ev[0].rev, r3);
	assert_string_equal(s->ev[0].value, "3");
	assert_int_equal(s->compacted, 0);
	free(s);
	etcd_close(e);
}

/* A member serving HTTPS to clients with a certificate of its CA (ETCD_TLS_ENDPOINT,
 * ETCD_TLS_DIR: test_etcd.sh starts it). */
static void test_tls(void **state)
{
	const char *url = getenv("ETCD_TLS_ENDPOINT"), *dir = getenv("ETCD_TLS_DIR");
	char ca[512], cert[512], key[512], ocert[512], okey[512];
	/* Timeouts that a handshake fits in on a loaded machine (under ASan one took 0.2 to
	 * 2.7 s at a load of 15): this is about certificates, not time. */
	struct etcd_opts o = {.timeout_ms = 20000, .connect_timeout_ms = 20000};
	struct vr_err err = {0};
	struct etcd_kvs kvs;
	struct etcd_kv kv;
	struct etcd *e;
	struct seen *s;
	int64_t rev = 0;

	if (!url || !dir) {
		print_message("ETCD_TLS_ENDPOINT and ETCD_TLS_DIR not set\n");
		skip();
	}
	s = malloc(sizeof(*s));
	assert_non_null(s);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/client.pem", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	snprintf(ocert, sizeof(ocert), "%s/other.pem", dir);
	snprintf(okey, sizeof(okey), "%s/other.key", dir);
	o.endpoints = url;
	o.ca_file = ca;
	o.cert_file = cert;
	o.key_file = key;
	e = etcd_open(&o, &err);
	assert_non_null(e);
	put(e, "/probe/tls", "over TLS", 0, &rev);
	kv = get(e, "/probe/tls", &kvs);
	assert_string_equal(kv.value, "over TLS");
	etcd_kvs_free(&kvs);
	watch_first(e, "/probe/tls", rev, s);
	assert_int_equal(s->ev[0].rev, rev);
	assert_string_equal(s->ev[0].value, "over TLS");
	free(s);
	etcd_close(e);

	/* No client certificate, one of another CA, or a server not verified: refused. */
	const char *certs[][2] = {{NULL, NULL}, {ocert, okey}, {cert, key}};
	for (size_t i = 0; i < 3; i++) {
		struct etcd_range_req r = {.key = "/probe/tls"};
		o.cert_file = certs[i][0];
		o.key_file = certs[i][1];
		o.ca_file = i == 2 ? ocert : ca; /* 2: the server's certificate is not of that CA */
		e = etcd_open(&o, &err);
		assert_non_null(e);
		assert_int_equal(etcd_range(e, &r, &kvs, &err), ETCD_EUNREACHABLE);
		print_message("TLS refused (%zu): %s\n", i, err.msg);
		etcd_close(e);
	}
}

/* The index of the member that leads, by asking each one. */
static int find_leader(struct etcd *e)
{
	struct etcd_status st;
	struct vr_err err;
	size_t i;

	for (i = 0; i < nmembers; i++) {
		if (etcd_status(e, ep[i], &st, &err) == 0 && st.leader && st.member_id == st.leader)
			return (int)i;
	}
	return -1;
}

/* The endpoints, member k's first, into list. */
static void list_first(size_t k, char *list, size_t size)
{
	size_t i;

	snprintf(list, size, "%s", ep[k]);
	for (i = 0; i < nmembers; i++)
		if (i != k)
			snprintf(list + strlen(list), size - strlen(list), ",%s", ep[i]);
}

/* Member i's port on the bridge, in the namespace the probe runs in (lib_etcd.sh names
 * them m1, m2, ...): down, the member is cut off without a word. */
static int member_link(size_t i, const char *updown)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link set m%zu %s", i + 1, updown);
	return system(cmd) == 0 ? 0 : -1;
}

/* After test_watch_partition, also when it failed: every member connected again. */
static int links_up(void **state)
{
	size_t i;

	for (i = 0; i < nmembers; i++)
		if (member_link(i, "up"))
			return -1;
	return 0;
}

static bool has_lost(const struct seen *s, size_t n)
{
	return s->lost >= (int)n;
}

/* A watch whose member falls silent (a partition, no FIN, no RST) notices by TCP
 * keepalive, reconnects to another member and misses nothing written meanwhile. */
static void test_watch_partition(void **state)
{
	struct etcd *all = open_client(endpoints), *e, *rest;
	struct vr_err err = {0};
	struct seen *s = malloc(sizeof(*s));
	struct etcd_watch *w;
	struct etcd_status st;
	char key[64], list[1024], others[1024] = "";
	int leader = find_leader(all), f, i;
	int64_t from, rev[5];
	double t0, dt;

	assert_non_null(s);
	assert_true(leader >= 0);
	f = (leader + 1) % (int)nmembers; /* a follower: the others keep a quorum and a leader */
	list_first((size_t)f, list, sizeof(list));
	e = open_client(list);
	/* The writes go through the members that stay connected: a put sent to the cut one
	 * would have an unknown outcome, which is test_unreachable's business. */
	for (i = 0; i < (int)nmembers; i++)
		if (i != f)
			snprintf(others + strlen(others), sizeof(others) - strlen(others), "%s%s",
			         others[0] ? "," : "", ep[i]);
	rest = open_client(others);
	from = current_revision(all) + 1;
	seen_init(s);
	w = etcd_watch_start(e, "/probe/part/", from, seen_cb, s, &err);
	assert_non_null(w);
	assert_true(seen_wait(s, has_connected, 1, 10));
	assert_int_equal(member_link((size_t)f, "down"), 0);
	t0 = now_s();
	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "/probe/part/%d", i);
		put(rest, key, key, 0, &rev[i]);
	}
	/* Keepalive: 2 s idle, then 3 probes a second apart; then a reconnect elsewhere. */
	assert_true(seen_wait(s, has_lost, 1, 20));
	dt = now_s() - t0;
	assert_true(seen_wait(s, has_events, 5, 20));
	print_message("partition: the watch noticed in %.2f s, all 5 events after %.2f s\n", dt,
	              now_s() - t0);
	etcd_watch_stop(w);
	assert_true(dt < 5 + SCHED_SLACK + 1);
	assert_int_equal(s->n, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(s->ev[i].rev, rev[i]);

	/* The member back, and caught up, for the tests that follow. */
	assert_int_equal(member_link((size_t)f, "up"), 0);
	t0 = now_s();
	while (etcd_status(all, ep[f], &st, &err) != 0 || st.leader == 0 || st.revision < rev[4]) {
		if (now_s() - t0 > 20)
			fail_msg("member %d did not rejoin within 20 s: %s", f + 1, err.msg);
		sleep_ms(200);
	}
	free(s);
	etcd_close(rest);
	etcd_close(e);
	etcd_close(all);
}

#define KILL_KEYS 40

/* Put key=val until it is acknowledged; count the puts whose outcome was unknown. */
static bool put_until_acked(struct etcd *e, const char *key, const char *val, double secs,
                            int *unknown)
{
	double end = now_s() + secs;
	struct vr_err err;
	int rc;

	do {
		rc = etcd_put(e, key, val, strlen(val), 0, NULL, &err);
		if (rc == 0)
			return true;
		if (rc == ETCD_EUNKNOWN)
			(*unknown)++;
		else if (rc != ETCD_EUNREACHABLE)
			fail_msg("put %s: %s", key, err.msg);
		sleep_ms(50);
	} while (now_s() < end);
	print_error("put %s: not acknowledged within %.0f s: %s\n", key, secs, err.msg);
	return false;
}

static void test_leader_killed(void **state)
{
	struct etcd *probe = open_client(endpoints), *e;
	struct vr_err err = {0};
	struct seen *s = malloc(sizeof(*s));
	struct etcd_watch *w;
	struct etcd_status st;
	struct etcd_kvs kvs;
	struct etcd_range_req all = {.key = "/probe/kill/", .prefix = true};
	char list[1024] = "", key[64];
	int leader = find_leader(probe), unknown = 0, i;
	size_t k;
	int64_t from;
	double t0;

	assert_non_null(s);
	assert_true(leader >= 0);
	/* A client that talks to the leader first, and a watch through it. */
	list_first((size_t)leader, list, sizeof(list));
	e = open_client(list);
	seen_init(s);
	from = current_revision(e) + 1;
	w = etcd_watch_start(e, "/probe/kill/", from, seen_cb, s, &err);
	assert_non_null(w);

	for (i = 0; i < KILL_KEYS / 2; i++) {
		snprintf(key, sizeof(key), "/probe/kill/%03d", i);
		put(e, key, key, 0, NULL);
	}
	assert_string_equal(etcd_endpoint_get(e), ep[leader]);
	print_message("killing the leader, member %d (pid %d, %s)\n", leader + 1, (int)pids[leader],
	              ep[leader]);
	assert_int_equal(kill(pids[leader], SIGKILL), 0);
	t0 = now_s();
	for (; i < KILL_KEYS; i++) {
		snprintf(key, sizeof(key), "/probe/kill/%03d", i);
		assert_true(put_until_acked(e, key, key, 20, &unknown));
	}
	print_message("writes resumed: %d puts in %.2f s after the kill (%d with an unknown "
	              "outcome, retried); endpoint now %s\n",
	              KILL_KEYS / 2, now_s() - t0, unknown, etcd_endpoint_get(e));
	assert_string_not_equal(etcd_endpoint_get(e), ep[leader]);

	/* Every acknowledged put is there, once, with its value. */
	assert_int_equal(etcd_range(e, &all, &kvs, &err), 0);
	assert_int_equal(kvs.n, KILL_KEYS);
	for (i = 0; i < KILL_KEYS; i++) {
		snprintf(key, sizeof(key), "/probe/kill/%03d", i);
		assert_string_equal(kvs.kv[i].key, key);
		assert_string_equal(kvs.kv[i].value, key);
	}
	etcd_kvs_free(&kvs);

	/* The watch lost its stream with the leader and went on from where it was: every
	 * put once, in order (a retried put may show twice, at two revisions). */
	assert_true(seen_wait(s, has_events, KILL_KEYS, 15));
	etcd_watch_stop(w);
	assert_false(s->disorder);
	assert_true(s->n >= KILL_KEYS && s->n <= (size_t)(KILL_KEYS + unknown));
	for (k = 1; k < s->n; k++)
		assert_true(s->ev[k].rev > s->ev[k - 1].rev);
	print_message("watch: %zu events, %d stream losses, %d (re)connects\n", s->n, s->lost,
	              s->connected);
	assert_true(s->lost >= 1);
	assert_true(s->connected >= 2);

	/* A new leader among the survivors. */
	leader = find_leader(probe);
	assert_true(leader >= 0);
	assert_int_equal(etcd_status(probe, ep[leader], &st, &err), 0);
	free(s);
	etcd_close(e);
	etcd_close(probe);
}

static void test_unreachable(void **state)
{
	struct etcd *e = open_client_t(endpoints, SHORT_TIMEOUT_MS, SHORT_CONNECT_TIMEOUT_MS);
	struct etcd_range_req r = {.key = "/probe/kill/", .prefix = true};
	struct etcd_kvs kvs;
	struct vr_err err = {0};
	double t0, dt;
	size_t i;
	int rc;

	assert_int_equal(etcd_range(e, &r, &kvs, &err), 0); /* through a survivor */
	etcd_kvs_free(&kvs);
	/* Stopped members accept connections (the kernel does) and never answer. */
	for (i = 0; i < nmembers; i++)
		kill(pids[i], SIGSTOP);
	t0 = now_s();
	rc = etcd_range(e, &r, &kvs, &err);
	dt = now_s() - t0;
	print_message("range with every member stopped: %s in %.2f s (%s)\n", etcd_rc_str(rc), dt,
	              err.msg);
	assert_int_equal(rc, ETCD_EUNREACHABLE);
	assert_int_equal(err.code, VR_ERR_UNAVAILABLE);
	/* Two stopped members cost a timeout each (the dead one refuses at once): all were
	 * tried, each within its bound. */
	assert_true(dt >= 2 * SHORT_TIMEOUT_MS / 1000.0 - 0.05);
	assert_true(dt < nmembers * SHORT_TIMEOUT_MS / 1000.0 + SCHED_SLACK);

	/* A write that was sent and never answered: not retried, not called failed. */
	t0 = now_s();
	rc = etcd_put(e, "/probe/stopped", "x", 1, 0, NULL, &err);
	dt = now_s() - t0;
	print_message("put with every member stopped: %s in %.2f s (%s)\n", etcd_rc_str(rc), dt,
	              err.msg);
	assert_int_equal(rc, ETCD_EUNKNOWN);
	assert_true(dt >= SHORT_TIMEOUT_MS / 1000.0 - 0.05);
	assert_true(dt < SHORT_TIMEOUT_MS / 1000.0 + SCHED_SLACK);

	/* Dead members refuse at once. */
	for (i = 0; i < nmembers; i++)
		kill(pids[i], SIGKILL);
	sleep_ms(300);
	t0 = now_s();
	rc = etcd_range(e, &r, &kvs, &err);
	dt = now_s() - t0;
	print_message("range with every member dead: %s in %.2f s (%s)\n", etcd_rc_str(rc), dt,
	              err.msg);
	assert_int_equal(rc, ETCD_EUNREACHABLE);
	assert_true(dt < 1.0);
	/* Nothing was sent: a write may be tried on every endpoint, and is unreachable. */
	rc = etcd_put(e, "/probe/dead", "x", 1, 0, NULL, &err);
	assert_int_equal(rc, ETCD_EUNREACHABLE);
	etcd_close(e);
}

static int setup(void **state)
{
	const char *eps = getenv("ETCD_ENDPOINTS"), *p = getenv("ETCD_PIDS");
	char *save = NULL, *tok, pidbuf[256];
	size_t np = 0;

	if (!eps || !p) {
		fprintf(stderr, "etcd_probe: ETCD_ENDPOINTS and ETCD_PIDS needed (test_etcd.sh)\n");
		return -1;
	}
	snprintf(endpoints, sizeof(endpoints), "%s", eps);
	static char copy[1024];
	snprintf(copy, sizeof(copy), "%s", eps);
	for (tok = strtok_r(copy, ",", &save); tok && nmembers < MAX_MEMBERS;
	     tok = strtok_r(NULL, ",", &save))
		ep[nmembers++] = tok;
	snprintf(pidbuf, sizeof(pidbuf), "%s", p);
	for (tok = strtok_r(pidbuf, ",", &save); tok && np < MAX_MEMBERS;
	     tok = strtok_r(NULL, ",", &save))
		pids[np++] = (pid_t)atoi(tok);
	if (np != nmembers || nmembers < 3) {
		fprintf(stderr, "etcd_probe: %zu endpoints, %zu pids: 3 or more of each needed\n",
		        nmembers, np);
		return -1;
	}
	return 0;
}

/*
 * Whether this process runs in a namespace made by `ip netns add` (one of the
 * files in /run/netns): the probe talks to the addresses of the test's namespaces,
 * and from the machine's own namespace those would leave by its routes.
 * (pid 1's namespace cannot be looked at from inside `ip netns exec`.)
 */
static bool in_named_netns(void)
{
	struct stat self, st;
	struct dirent *d;
	char path[PATH_MAX];
	bool found = false;
	DIR *dir;

	if (stat("/proc/self/ns/net", &self))
		return false;
	dir = opendir("/run/netns");
	if (!dir)
		return false;
	while (!found && (d = readdir(dir)))
		if (d->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "/run/netns/%s", d->d_name) < (int)sizeof(path) &&
		    !stat(path, &st))
			found = st.st_dev == self.st_dev && st.st_ino == self.st_ino;
	closedir(dir);
	return found;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_rejects),
	    cmocka_unit_test(test_put_range),
	    cmocka_unit_test(test_prefix_range),
	    cmocka_unit_test(test_txn),
	    cmocka_unit_test(test_lease),
	    cmocka_unit_test(test_watch_order),
	    cmocka_unit_test(test_watch_compacted),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test_teardown(test_watch_partition, links_up),
	    cmocka_unit_test(test_leader_killed),
	    cmocka_unit_test(test_unreachable),
	};

	if (!in_named_netns()) {
		fprintf(stderr, "etcd_probe: refusing to run outside a namespace of `ip netns add` "
		                "(run it with ip netns exec, as tests/e2e/test_etcd.sh does)\n");
		return 2;
	}
	return cmocka_run_group_tests(tests, setup, NULL);
}
