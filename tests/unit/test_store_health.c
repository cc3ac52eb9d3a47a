/*
 * The store (core/store_db.c) at start and while running: private files, the integrity
 * check, "holds no desired state", and the probe behind GET /healthz.
 * Damage is remembered process-wide, so the tests that damage a file run last.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "store.h"
#include "tmpdir.h"

#define PAGE 4096
#define NROUTES 300 /* enough for the routes to fill many pages */

static int setup(void **state)
{
	*state = tmpdir_fx_new("health", "vrouter.db");
	return 0;
}

static int teardown(void **state)
{
	tmpdir_fx_free(*state);
	return 0;
}

static mode_t mode_of(const char *path, const char *suffix)
{
	char p[PATH_MAX + 8];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static void add_route(struct store *s, const char *dst)
{
	struct route r = {0};
	struct vr_err e = {0};

	snprintf(r.table_id, sizeof(r.table_id), "%s", RTB_MAIN_ID);
	snprintf(r.destination, sizeof(r.destination), "%s", dst);
	snprintf(r.via_text, sizeof(r.via_text), "192.168.1.1");
	r.description = strdup("a description long enough to take some room in a page of the file");
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_obj_create(s, STORE_ROUTE, &r, &e), STORE_CREATED);
	model_route_clear(&r);
}

/* A closed database at f->path holding NROUTES routes; its size in pages. */
static long filled_db(struct tmpdir_fx *f)
{
	struct store *s = NULL;
	struct vr_err e = {0};
	char dst[32];
	struct stat st;

	assert_int_equal(store_open(f->path, &s, &e), 0);
	for (int i = 0; i < NROUTES; i++) {
		snprintf(dst, sizeof(dst), "10.%d.%d.0/24", i / 256, i % 256);
		add_route(s, dst);
	}
	store_close(s); /* the last connection checkpoints the WAL into the file */
	assert_int_equal(stat(f->path, &st), 0);
	return (long)(st.st_size / PAGE);
}

/* Overwrite n pages from page first (1-based) with a pattern. */
static void damage_pages(const char *path, long first, long n)
{
	char junk[PAGE];
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	for (long p = first; p < first + n; p++)
		assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(p - 1) * PAGE), PAGE);
	assert_int_equal(close(fd), 0);
}

static void new_files_are_private(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};

	umask(022);
	assert_int_equal(store_open(f->path, &s, &e), 0);
	add_route(s, "10.1.0.0/16"); /* the WAL exists once written to */
	assert_int_equal(mode_of(f->path, ""), 0600);
	assert_int_equal(mode_of(f->path, "-wal"), 0600);
	assert_int_equal(mode_of(f->path, "-shm"), 0600);
	store_close(s);
}

static void existing_file_keeps_its_mode(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};

	assert_int_equal(store_open(f->path, &s, &e), 0);
	store_close(s);
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(mode_of(f->path, ""), 0640);
	store_close(s);
}

static void desired_empty(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};
	struct route_table t = {0};
	struct security_group g = {0};
	bool empty = false;
	char rid[ID_MAX];

	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_desired_empty(s, &empty, &e), 0);
	assert_true(empty);
	/* A route table puts nothing in the kernel: still empty. */
	snprintf(t.name, sizeof(t.name), "t");
	t.table = 10009;
	assert_int_equal(model_rtb_validate(&t, &e), 0);
	assert_int_equal(store_obj_create(s, STORE_RTB, &t, &e), STORE_CREATED);
	assert_int_equal(store_desired_empty(s, &empty, &e), 0);
	assert_true(empty);
	/* A route does. */
	add_route(s, "10.2.0.0/16");
	assert_int_equal(store_desired_empty(s, &empty, &e), 0);
	assert_false(empty);
	{
		struct route *v = NULL;
		size_t n = 0;
		bool more = false;

		assert_int_equal(
		    store_obj_list(s, STORE_ROUTE, NULL, NULL, 10, (void **)&v, &n, &more, &e), 0);
		assert_int_equal(n, 1);
		snprintf(rid, sizeof(rid), "%s", v[0].id);
		model_routes_free(v, n);
	}
	assert_int_equal(store_obj_delete(s, STORE_ROUTE, rid, 0, &e), 0);
	assert_int_equal(store_desired_empty(s, &empty, &e), 0);
	assert_true(empty);
	/* So does a security group, even without rules. */
	snprintf(g.name, sizeof(g.name), "g");
	assert_int_equal(model_sg_validate(&g, &e), 0);
	assert_int_equal(store_obj_create(s, STORE_SG, &g, &e), STORE_CREATED);
	assert_int_equal(store_desired_empty(s, &empty, &e), 0);
	assert_false(empty);
	model_sg_clear(&g);
	model_rtb_clear(&t);
	store_close(s);
}

static void probe_ok(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};

	filled_db(f);
	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_probe(s, &e), 0);
	store_close(s);
}

static void probe_deleted_file(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};

	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_probe(s, &e), 0);
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(store_probe(s, &e), -1);
	assert_non_null(strstr(e.msg, f->path));
	assert_non_null(strstr(e.msg, "deleted or replaced"));
	store_close(s);
}

static void checked_open_accepts_a_good_file(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};

	/* New, then filled. */
	assert_int_equal(store_open_checked(f->path, &s, &e), 0);
	store_close(s);
	unlink(f->path);
	filled_db(f);
	assert_int_equal(store_open_checked(f->path, &s, &e), 0);
	store_close(s);
}

/* From here on the process has seen a damaged database: these run last. */

static void probe_reads_the_file_not_the_cache(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};
	long pages = filled_db(f);

	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_probe(s, &e), 0); /* its pages are now cached */
	damage_pages(f->path, 2, pages - 1);
	assert_int_equal(store_probe(s, &e), -1);
	assert_non_null(strstr(e.msg, f->path));
	assert_non_null(strstr(e.msg, "malformed"));
	store_close(s);
}

/* The first damage any handle met stays the answer, also for a handle that reads fine. */
static void damage_is_remembered(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};

	filled_db(f);
	assert_int_equal(store_open(f->path, &s, &e), 0);
	assert_int_equal(store_probe(s, &e), -1);
	assert_non_null(strstr(e.msg, "malformed"));
	assert_null(strstr(e.msg, f->path)); /* it names the damaged file, not this one */
	store_close(s);
}

static void checked_open_refuses_damaged_pages(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};
	long pages = filled_db(f);

	assert_true(pages > 20);
	/*
	 * The last pages hold the routes the fill wrote; the schema's own pages
	 * come earlier (damaged, the open fails before the check can run).
	 */
	damage_pages(f->path, pages - 4, 4);
	assert_int_equal(store_open_checked(f->path, &s, &e), -EUCLEAN);
	assert_null(s);
	assert_non_null(strstr(e.msg, f->path));
	assert_non_null(strstr(e.msg, "integrity check (PRAGMA quick_check)"));
	/* One line: the findings' own newlines are gone. */
	assert_null(strchr(e.msg, '\n'));
}

static void checked_open_refuses_a_file_that_is_no_database(void **state)
{
	struct tmpdir_fx *f = *state;
	struct store *s = NULL;
	struct vr_err e = {0};
	char junk[3 * PAGE];
	int fd = open(f->path, O_WRONLY | O_CREAT, 0600);

	memset(junk, 'j', sizeof(junk));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);
	assert_int_equal(store_open_checked(f->path, &s, &e), -EUCLEAN);
	assert_non_null(strstr(e.msg, f->path));
	assert_non_null(strstr(e.msg, "not a database"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(new_files_are_private),
	    T(existing_file_keeps_its_mode),
	    T(desired_empty),
	    T(probe_ok),
	    T(probe_deleted_file),
	    T(checked_open_accepts_a_good_file),
	    T(probe_reads_the_file_not_the_cache),
	    T(damage_is_remembered),
	    T(checked_open_refuses_damaged_pages),
	    T(checked_open_refuses_a_file_that_is_no_database),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
