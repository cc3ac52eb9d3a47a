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
/*
 * The same, the new elements left as realloc gives them: for an array whose
 * elements are each written whole before they are read. A large array's
 * tail that is never written then takes no memory (at 100,000 routes the
 * full pass's arrays doubled to 131,072 elements: zeroing their tails cost
 * some 4 MB of the daemon's peak).
 */
int vr_grow_raw(void **v, size_t *cap, size_t need, size_t elem, size_t max)
    __attribute__((warn_unused_result));

#endif
