/* An error with its HTTP-facing meaning: status code, the offending field, and words. */
#ifndef VR_ERR_H
#define VR_ERR_H

#include <stdarg.h>

#define ERR_FIELD_MAX 128
#define ERR_MSG_MAX 512

struct vr_err {
	int status; /* HTTP status the error maps to: 400, 404, 409, 412, 422, 500... 0 = none */
	char field[ERR_FIELD_MAX]; /* JSON field path, "" when not about a field */
	char msg[ERR_MSG_MAX];     /* human text naming the bad value */
};

/* Fill e (if non-NULL); returns -1 so callers can `return err_set(...)`. */
int err_set(struct vr_err *e, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void err_clear(struct vr_err *e);

#endif
