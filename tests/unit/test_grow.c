/* vr_grow: doubling growth, the caller's bound, and sizes a size_t cannot hold. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "grow.h"

/* From empty, doubling as elements are added one by one; new room is zeroed. */
static void test_growth(void **state)
{
	int *v = NULL;
	size_t cap = 0, last = 0, reallocs = 0;

	(void)state;
	for (size_t n = 0; n < 1000; n++) {
		assert_int_equal(vr_grow((void **)&v, &cap, n + 1, sizeof(*v), 4096), 0);
		assert_true(cap >= n + 1);
		if (cap != last) {
			/* Each new capacity is the first or twice the one before. */
			assert_true(last ? cap == 2 * last : cap == VR_GROW_FIRST);
			for (size_t i = n; i < cap; i++)
				assert_int_equal(v[i], 0);
			last = cap;
			reallocs++;
		}
		v[n] = (int)n + 1;
	}
	assert_int_equal(cap, 1024);
	assert_int_equal(reallocs, 9); /* 4, 8, ... 1024 */
	for (size_t n = 0; n < 1000; n++)
		assert_int_equal(v[n], (int)n + 1);
	/* Enough room already: nothing moves. */
	int *same = v;
	assert_int_equal(vr_grow((void **)&v, &cap, 1000, sizeof(*v), 4096), 0);
	assert_ptr_equal(v, same);
	assert_int_equal(cap, 1024);
	/* A need past several doublings at once. */
	assert_int_equal(vr_grow((void **)&v, &cap, 3000, sizeof(*v), 4096), 0);
	assert_int_equal(cap, 4096);
	assert_int_equal(v[999], 1000);
	assert_int_equal(v[3999], 0);
	free(v);
}

/* vr_grow_raw grows alike, keeps what was written, and honours the bound. */
static void test_growth_raw(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	for (size_t n = 0; n < 1000; n++) {
		assert_int_equal(vr_grow_raw((void **)&v, &cap, n + 1, sizeof(*v), 4096), 0);
		assert_true(cap >= n + 1 && cap <= 2 * (n + 1) + VR_GROW_FIRST);
		v[n] = (int)n + 1;
	}
	assert_int_equal(cap, 1024);
	for (size_t n = 0; n < 1000; n++)
		assert_int_equal(v[n], (int)n + 1);
	assert_int_equal(vr_grow_raw((void **)&v, &cap, 4097, sizeof(*v), 4096), -E2BIG);
	assert_int_equal(cap, 1024);
	assert_int_equal(v[999], 1000);
	free(v);
}

/* The capacity stops at max; a need beyond it is -E2BIG and changes nothing. */
static void test_bound(void **state)
{
	char *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(vr_grow((void **)&v, &cap, 5, 1, 6), 0);
	assert_int_equal(cap, 6); /* 8 would pass the bound */
	v[5] = 'x';
	assert_int_equal(vr_grow((void **)&v, &cap, 6, 1, 6), 0);
	char *before = v;
	assert_int_equal(vr_grow((void **)&v, &cap, 7, 1, 6), -E2BIG);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 6);
	assert_int_equal(v[5], 'x');
	free(v);
	/* A bound below the first capacity. */
	v = NULL;
	cap = 0;
	assert_int_equal(vr_grow((void **)&v, &cap, 1, 1, 2), 0);
	assert_int_equal(cap, 2);
	assert_int_equal(vr_grow((void **)&v, &cap, 3, 1, 2), -E2BIG);
	free(v);
}

/* need * elem past SIZE_MAX: -ENOMEM before any allocation, nothing changed. */
static void test_overflow(void **state)
{
	struct big {
		char b[4096];
	} *v = NULL;
	size_t cap = 0;
	size_t need = SIZE_MAX / sizeof(*v) + 1;

	(void)state;
	assert_int_equal(vr_grow((void **)&v, &cap, need, sizeof(*v), SIZE_MAX), -ENOMEM);
	assert_null(v);
	assert_int_equal(cap, 0);
	assert_int_equal(vr_grow((void **)&v, &cap, SIZE_MAX, 2, SIZE_MAX), -ENOMEM);
	assert_int_equal(cap, 0);
	/* The bound is checked first: a need over max is -E2BIG however large. */
	assert_int_equal(vr_grow((void **)&v, &cap, need, sizeof(*v), 16), -E2BIG);
	/* With room, a small need still works after the refusals. */
	assert_int_equal(vr_grow((void **)&v, &cap, 2, sizeof(*v), SIZE_MAX), 0);
	assert_int_equal(cap, VR_GROW_FIRST);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_growth_raw),
	    cmocka_unit_test(test_bound),
	    cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
