/* The id hash map: insert, overwrite, delete with tombstones, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "idmap.h"

static void count_cb(void *v, void *arg)
{
	(*(size_t *)arg) += (size_t)(uintptr_t)v;
}

static void test_basic(void **state)
{
	struct idmap *m = idmap_new();

	assert_non_null(m);
	assert_null(idmap_get(m, "rt-1"));
	assert_int_equal(idmap_put(m, "rt-1", (void *)1), 0);
	assert_int_equal(idmap_put(m, "rt-2", (void *)2), 0);
	assert_ptr_equal(idmap_get(m, "rt-1"), (void *)1);
	assert_int_equal(idmap_put(m, "rt-1", (void *)3), 0);
	assert_ptr_equal(idmap_get(m, "rt-1"), (void *)3);
	assert_int_equal(idmap_count(m), 2);
	assert_ptr_equal(idmap_del(m, "rt-1"), (void *)3);
	assert_null(idmap_get(m, "rt-1"));
	assert_null(idmap_del(m, "rt-1"));
	assert_ptr_equal(idmap_get(m, "rt-2"), (void *)2);
	assert_int_equal(idmap_count(m), 1);
	idmap_free(m);
	idmap_free(NULL);
}

static void test_many(void **state)
{
	struct idmap *m = idmap_new();
	char id[32];
	size_t sum = 0, want = 0;

	for (size_t i = 1; i <= 100000; i++) {
		snprintf(id, sizeof(id), "rt-%zx", i);
		assert_int_equal(idmap_put(m, id, (void *)(uintptr_t)i), 0);
	}
	/* Delete every other one, then insert again: tombstones must not lose entries. */
	for (size_t i = 1; i <= 100000; i += 2) {
		snprintf(id, sizeof(id), "rt-%zx", i);
		assert_ptr_equal(idmap_del(m, id), (void *)(uintptr_t)i);
	}
	for (size_t i = 1; i <= 100000; i++) {
		snprintf(id, sizeof(id), "rt-%zx", i);
		if (i % 2)
			assert_null(idmap_get(m, id));
		else
			assert_ptr_equal(idmap_get(m, id), (void *)(uintptr_t)i);
	}
	for (int round = 0; round < 3; round++)
		for (size_t i = 1; i <= 100000; i += 2) {
			snprintf(id, sizeof(id), "rt-%zx", i);
			assert_int_equal(idmap_put(m, id, (void *)(uintptr_t)i), 0);
			if (round < 2)
				assert_non_null(idmap_del(m, id));
		}
	assert_int_equal(idmap_count(m), 100000);
	idmap_each(m, count_cb, &sum);
	for (size_t i = 1; i <= 100000; i++)
		want += i;
	assert_int_equal(sum, want);
	idmap_free(m);
}

/* A borrowing map keeps the caller's key pointers and frees none of them. */
static void test_ref(void **state)
{
	static char keys[3][8] = {"rt-1", "rt-2", "rt-3"};
	struct idmap *m = idmap_new_ref();

	for (int i = 0; i < 3; i++)
		assert_int_equal(idmap_put(m, keys[i], keys[i]), 0);
	assert_ptr_equal(idmap_get(m, "rt-2"), keys[1]);
	assert_ptr_equal(idmap_del(m, "rt-2"), keys[1]);
	assert_null(idmap_get(m, "rt-2"));
	assert_int_equal(idmap_count(m), 2);
	idmap_free(m); /* static keys: a free() of one would abort under ASan */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_ref),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
