/*
 * Group commit (server/app.c app_write): writes that arrive while another
 * commits are committed together, each still all or nothing on its own,
 * each with its own audit event, against the in-process server of
 * http_client.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_kernel.h"
#include "http_client.h"
#include "recon.h"

#define WRITERS 8
#define APPLY_MS 500 /* apply_timeout_ms with the reconciler */

struct writer {
	struct fixture *f;
	char body[128];
	struct reply r;
};

static void *post_one(void *arg)
{
	struct writer *w = arg;

	call(w->f, "POST", "/v1/routes", w->body, &w->r);
	return NULL;
}

static size_t queued(struct app *app)
{
	size_t n = 0;

	pthread_mutex_lock(&app->write_lock);
	for (struct app_write *w = app->write_queue; w; w = w->next)
		n++;
	pthread_mutex_unlock(&app->write_lock);
	return n;
}

/*
 * With store_lock held by the caller and one leader waiting for it: wait
 * until the other WRITERS - 1 writes queue behind it, then let the store go
 * and wait for all WRITERS threads.
 */
static void release_group(struct fixture *f, pthread_t *t)
{
	struct timespec nap = {0, 2 * 1000 * 1000};
	int waited = 0;

	while (queued(&f->app) < WRITERS - 1 && waited++ < 5000)
		nanosleep(&nap, NULL);
	assert_int_equal(queued(&f->app), WRITERS - 1);
	pthread_mutex_unlock(&f->app.store_lock);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

static bool leading(struct app *app)
{
	bool on;

	pthread_mutex_lock(&app->write_lock);
	on = app->write_leader;
	pthread_mutex_unlock(&app->write_lock);
	return on;
}

/* Events of GET /v1/events with this status whose object_id is id. */
static size_t events_for(struct fixture *f, const char *id, int status)
{
	struct reply r;
	json_t *it;
	size_t i, n = 0;

	call(f, "GET", "/v1/events?limit=1000", NULL, &r);
	assert_int_equal(r.status, 200);
	json_array_foreach(json_object_get(r.json, "items"), i, it)
	{
		const char *oid = json_string_value(json_object_get(it, "object_id"));

		if (oid && !strcmp(oid, id) &&
		    json_integer_value(json_object_get(it, "status")) == status)
			n++;
	}
	reply_free(&r);
	return n;
}

/*
 * Eight POSTs arrive while the store is busy: the first waits for the store
 * alone, the seven behind it are committed as one group. One of them
 * conflicts with a route that exists: it alone fails (409), the six others
 * are created, each with its own revision and its own audit event.
 */
static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	char *dup_id = post_id(f, "/v1/routes",
	                       "{\"destination\":\"10.77.0.0/24\",\"type\":\"blackhole\"}", 201);
	json_int_t rev0 = status_revision(f);
	uint64_t groups0 = f->app.write_groups, grouped0 = f->app.writes_grouped;
	json_int_t revs[WRITERS];

	pthread_mutex_lock(&f->app.store_lock);
	for (int i = 0; i < WRITERS; i++) {
		w[i].f = f;
		if (i == 5)
			snprintf(w[i].body, sizeof(w[i].body),
			         "{\"destination\":\"10.77.0.0/24\",\"type\":\"blackhole\"}");
		else
			snprintf(w[i].body, sizeof(w[i].body),
			         "{\"destination\":\"10.78.%d.0/24\",\"type\":\"blackhole\"}", i);
		assert_int_equal(pthread_create(&t[i], NULL, post_one, &w[i]), 0);
	}
	/* One leader waits for store_lock with its own write; the others queue behind it. */
	release_group(f, t);

	assert_int_equal(f->app.write_groups - groups0, 1);
	assert_int_equal(f->app.writes_grouped - grouped0, WRITERS - 1);
	for (int i = 0; i < WRITERS; i++) {
		const char *id;

		if (i == 5) {
			assert_int_equal(w[i].r.status, 409);
			reply_free(&w[i].r);
			continue;
		}
		assert_int_equal(w[i].r.status, 201);
		id = jstr(w[i].r.json, "id", NULL);
		assert_non_null(id);
		/* Its revision is the first part of its ETag, "REV-HASH". */
		{
			const char *tag = strstr(w[i].r.headers, "ETag: \"");
			long long rev = 0;

			assert_non_null(tag);
			assert_int_equal(sscanf(tag, "ETag: \"%lld-", &rev), 1);
			assert_true(rev > rev0 && rev <= rev0 + WRITERS);
			revs[i] = rev;
		}
		/* The object is stored as answered, and its write recorded once, as created. */
		{
			char path[128];
			struct reply g;

			snprintf(path, sizeof(path), "/v1/routes/%s", id);
			call(f, "GET", path, NULL, &g);
			assert_int_equal(g.status, 200);
			assert_string_equal(jstr(g.json, "destination", NULL),
			                    jstr(w[i].r.json, "destination", NULL));
			reply_free(&g);
		}
		assert_int_equal(events_for(f, id, 201), 1);
		reply_free(&w[i].r);
	}
	/* Seven creates, seven revisions: none taken by the failed one. */
	assert_int_equal(status_revision(f), rev0 + WRITERS - 1);
	for (int i = 0; i < WRITERS; i++)
		for (int j = 0; j < i; j++)
			if (i != 5 && j != 5)
				assert_int_not_equal(revs[i], revs[j]);
	assert_int_equal(count_items(f, "/v1/routes"), 1 + WRITERS - 1); /* dup_id's and 7 */
	free(dup_id);
}

/*
 * The group's COMMIT fails (a deferred foreign key, checked only at COMMIT,
 * broken by a trigger on one route of the group): every write of the group
 * is answered as failed and none is stored; the write before the group and
 * the writes after it go through.
 */
static void test_group_commit_fails(void **state)
{
	struct fixture *f = *state;
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	struct timespec nap = {0, 2 * 1000 * 1000};
	json_int_t rev0 = status_revision(f);
	size_t routes0 = count_items(f, "/v1/routes");
	uint64_t groups0 = f->app.write_groups;
	int waited = 0, created = 0, failed = 0;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TABLE t_parent(id INTEGER PRIMARY KEY);"
	                              "CREATE TABLE t_child(p INTEGER REFERENCES t_parent(id) "
	                              "  DEFERRABLE INITIALLY DEFERRED);"
	                              "CREATE TRIGGER t_break AFTER INSERT ON routes "
	                              "  WHEN NEW.destination = '10.79.3.0/24' "
	                              "  BEGIN INSERT INTO t_child VALUES (42); END;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);

	pthread_mutex_lock(&f->app.store_lock);
	for (int i = 0; i < WRITERS; i++) {
		w[i].f = f;
		snprintf(w[i].body, sizeof(w[i].body),
		         "{\"destination\":\"10.79.%d.0/24\",\"type\":\"blackhole\"}", i);
	}
	/* Writer 0 first: it leads, alone, and waits for the store... */
	assert_int_equal(pthread_create(&t[0], NULL, post_one, &w[0]), 0);
	while (!leading(&f->app) && waited++ < 5000)
		nanosleep(&nap, NULL);
	assert_true(leading(&f->app));
	/* ... while the seven others, 10.79.3.0/24 among them, queue behind it as a group. */
	for (int i = 1; i < WRITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, post_one, &w[i]), 0);
	release_group(f, t);

	/* The group was not committed; the leader's own write was. */
	assert_int_equal(f->app.write_groups - groups0, 0);
	for (int i = 0; i < WRITERS; i++) {
		if (i == 0 && w[i].r.status == 201)
			created++;
		else if (i > 0 && w[i].r.status == 500 && strstr(w[i].r.body, "FOREIGN KEY"))
			failed++;
		else
			fail_msg("POST %s -> %d %s", w[i].body, w[i].r.status, w[i].r.body);
		reply_free(&w[i].r);
	}
	assert_int_equal(created, 1);
	assert_int_equal(failed, WRITERS - 1);
	assert_int_equal(count_items(f, "/v1/routes"), routes0 + (size_t)created);
	assert_int_equal(status_revision(f), rev0 + created);
	/* Nothing is wedged: the next write goes through. */
	free(post_id(f, "/v1/routes", "{\"destination\":\"10.80.0.0/24\",\"type\":\"blackhole\"}",
	             201));
	assert_int_equal(status_revision(f), rev0 + created + 1);
}

static int setup_recon(void **state)
{
	return http_fixture_setup_recon(state, APPLY_MS);
}

static void set_hold(bool on)
{
	pthread_mutex_lock(&fk.lock);
	fk.hold = on;
	pthread_cond_broadcast(&fk.gate);
	pthread_mutex_unlock(&fk.lock);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1000.0 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * A group's writes, each answered once its route is in the kernel: the
 * leader hands the others' threads to the reconciler, which wakes each when
 * its revision is applied. With the kernel stuck, each is answered (still
 * pending) after apply_timeout_ms, once: not after a second wait.
 */
static void test_group_waits_for_apply(void **state)
{
	struct fixture *f = *state;
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	struct timespec t0;
	struct reply r;
	char path[128];
	double ms;

	for (int round = 0; round < 2; round++) {
		bool stuck = round == 1;

		set_hold(stuck);
		pthread_mutex_lock(&f->app.store_lock);
		for (int i = 0; i < WRITERS; i++) {
			w[i].f = f;
			snprintf(w[i].body, sizeof(w[i].body),
			         "{\"destination\":\"10.%d.%d.0/24\",\"via\":\"192.168.150.3\"}",
			         81 + round, i);
			assert_int_equal(pthread_create(&t[i], NULL, post_one, &w[i]), 0);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		release_group(f, t);
		ms = ms_since(&t0);
		for (int i = 0; i < WRITERS; i++) {
			assert_int_equal(w[i].r.status, 201);
			assert_string_equal(jstr(w[i].r.json, "status", "state"),
			                    stuck ? "pending" : "active");
		}
		if (stuck) {
			assert_true(ms >= APPLY_MS);
			assert_true(ms < 2 * APPLY_MS);
			set_hold(false);
			/* The kernel is back: the last write's apply comes, and with it the rest.
			 */
			assert_int_equal(recon_wait(f->app.recon, status_revision(f), 5000), 0);
			for (int i = 0; i < WRITERS; i++) {
				snprintf(path, sizeof(path), "/v1/routes/%s",
				         jstr(w[i].r.json, "id", NULL));
				call(f, "GET", path, NULL, &r);
				assert_string_equal(jstr(r.json, "status", "state"), "active");
				reply_free(&r);
			}
		}
		for (int i = 0; i < WRITERS; i++)
			reply_free(&w[i].r);
	}
	assert_int_equal(fake_count(), 2 * WRITERS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_group_commit, http_fixture_setup,
	                                    http_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_fails, http_fixture_setup,
	                                    http_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_group_waits_for_apply, setup_recon,
	                                    http_fixture_teardown_recon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
