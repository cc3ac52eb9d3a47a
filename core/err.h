/*
 * An error as core means it: what kind of failure (its code), the offending
 * field, and words naming the bad value. How a code is reported to a client
 * is server/'s business, decided there in one place.
 */
#ifndef VR_ERR_H
#define VR_ERR_H

#include <stdarg.h>

#define ERR_FIELD_MAX 128
#define ERR_MSG_MAX 512

enum vr_errc {
	VR_ERR_NONE = 0,
	VR_ERR_INVALID,      /* a value outside its domain, or naming an object that is not there */
	VR_ERR_MALFORMED,    /* syntax: not JSON, not an object, an unknown key or parameter */
	VR_ERR_NOT_FOUND,    /* the object asked for does not exist */
	VR_ERR_CONFLICT,     /* a duplicate or an overlap with what exists, or a fixed object */
	VR_ERR_PRECONDITION, /* the caller's revision is not the stored one */
	VR_ERR_REFERENCED,   /* a delete of an object another object still uses */
	VR_ERR_TOO_LARGE,    /* beyond a count or size bound */
	VR_ERR_UNAVAILABLE,  /* a dependency is not ready (no kernel, an apply not finished) */
	VR_ERR_INTERNAL,     /* the system failed: database, memory, threads */
};

struct vr_err {
	enum vr_errc code;         /* VR_ERR_NONE when there is no error */
	char field[ERR_FIELD_MAX]; /* JSON field path, "" when not about a field */
	char msg[ERR_MSG_MAX];     /* human text naming the bad value */
};

/* Fill e (if non-NULL); returns -1 so callers can `return err_set(...)`. */
int err_set(struct vr_err *e, enum vr_errc code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void err_clear(struct vr_err *e);

#endif
