#include "grow.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* vr_grow and vr_grow_raw: zero says whether the new elements are zeroed. */
static int grow(void **v, size_t *cap, size_t need, size_t elem, size_t max, bool zero)
{
	size_t limit = elem ? SIZE_MAX / elem : SIZE_MAX;
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	if (need > limit)
		return -ENOMEM;
	if (limit > max)
		limit = max;
	ncap = *cap ? *cap : VR_GROW_FIRST;
	while (ncap < need)
		ncap = ncap > limit / 2 ? limit : ncap * 2;
	if (ncap > limit)
		ncap = limit;
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	if (zero)
		memset((char *)nv + *cap * elem, 0, (ncap - *cap) * elem);
	*v = nv;
	*cap = ncap;
	return 0;
}

int vr_grow(void **v, size_t *cap, size_t need, size_t elem, size_t max)
{
	return grow(v, cap, need, elem, max, true);
}

int vr_grow_raw(void **v, size_t *cap, size_t need, size_t elem, size_t max)
{
	return grow(v, cap, need, elem, max, false);
}
