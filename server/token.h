/*
 * The API's bearer token: read from its file at start and again on SIGHUP.
 * The one place that knows the file's rules, so it can grow (named, scoped
 * tokens) without the rest of the daemon changing.
 */
#ifndef VR_TOKEN_H
#define VR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_MIN_LEN 32   /* characters */
#define TOKEN_MAX_LEN 255  /* bytes */
#define TOKEN_NEW_BYTES 32 /* random bytes of a created token, written as 64 hex digits */
#define TOKEN_WHY_MAX 256  /* room for a reason */

/*
 * The token in a file's content buf[0..n): everything before one optional
 * final "\n" (or "\r\n"), which must be TOKEN_MIN_LEN..TOKEN_MAX_LEN visible
 * ASCII characters (no space, no control character). Copies it, NUL
 * terminated, into out (size > TOKEN_MAX_LEN) and returns 0; otherwise
 * -EINVAL and why says what is wrong ("the token is 31 characters long; it
 * needs at least 32").
 */
int token_parse(const char *buf, size_t n, char *out, size_t size, char *why, size_t len)
    __attribute__((warn_unused_result));

/*
 * Read the token from the file at path into out (size > TOKEN_MAX_LEN). The
 * file must be a regular file that neither its group nor others may read,
 * write or execute, holding what token_parse accepts. create: a missing file
 * is created (0600, never over an existing one) with a new random token.
 * Returns 0, or -errno with why naming the file and the problem.
 */
int token_load(const char *path, bool create, char *out, size_t size, char *why, size_t len)
    __attribute__((warn_unused_result));

#endif
