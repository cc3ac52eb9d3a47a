/* Reading request JSON into fixed fields, with errors that name the field and value. */
#ifndef VR_JSONV_H
#define VR_JSONV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * 400 if body is not an object or has a key that is neither writable nor
 * server-computed (computed keys, as a GET returns them, are accepted and ignored).
 */
int jsonv_check_keys(json_t *body, const char *const *writable, const char *const *computed,
                     struct vr_err *e) __attribute__((warn_unused_result));
/*
 * The value of key, NULL when it is absent or JSON null: an explicit null means
 * the field's default, exactly as leaving it out. Every jsonv_* reader below
 * sees fields through it.
 */
json_t *jsonv_get(json_t *body, const char *key);
/* Copy string field key into dst (len bytes). Absent: dst untouched, *present false. 422 on
 * type/length. */
int jsonv_str(json_t *body, const char *key, char *dst, size_t len, bool *present, struct vr_err *e)
    __attribute__((warn_unused_result));
/* As jsonv_str into a malloc'd string (freeing *dst first); max bytes. */
int jsonv_strdup(json_t *body, const char *key, char **dst, size_t max, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Unsigned 32-bit integer field. 422 for other types or out of range. */
int jsonv_u32(json_t *body, const char *key, uint32_t *dst, bool *present, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * Any JSON integer field as written (the model checks its range). Absent:
 * *present false. 422 naming the field for another type; what names the
 * range in that message ("an integer 1..65535").
 */
int jsonv_int(json_t *body, const char *key, const char *what, bool *present, int64_t *dst,
              struct vr_err *e) __attribute__((warn_unused_result));

#endif
