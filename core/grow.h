/*
 * Growing an array by doubling, within a bound its caller names. The one
 * way core grows arrays: no caller multiplies a capacity by hand.
 */
#ifndef VR_GROW_H
#define VR_GROW_H

#include <stddef.h>

#define VR_GROW_FIRST 4 /* elements an empty array starts doubling from */

/*
 * Make room for need elements of elem bytes in *v, whose capacity is *cap
 * elements: the capacity doubles (from VR_GROW_FIRST when empty) until it
 * holds need, and stops at max. Elements past the old capacity are zeroed.
 * 0 (also when *cap >= need already); -E2BIG when need > max; -ENOMEM when
 * realloc fails or need * elem does not fit a size_t. On failure *v and *cap
 * are unchanged.
 */
int vr_grow(void **v, size_t *cap, size_t need, size_t elem, size_t max)
    __attribute__((warn_unused_result));

#endif
