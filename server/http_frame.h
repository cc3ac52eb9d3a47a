/*
 * Checking an HTTP/1.x request head before libmicrohttpd parses it. MHD
 * 0.9.75 answers some malformed requests by itself, as text/html and (for a
 * bad Content-Length) with its status line written twice; vrouterd looks at
 * the head first and answers those with problem+json instead. Pure: no I/O.
 */
#ifndef VR_HTTP_FRAME_H
#define VR_HTTP_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_HEAD_MAX (16 * 1024) /* request line and headers, bytes (431 above) */
#define HTTP_TARGET_MAX 2048      /* request target (path and query), bytes (414 above) */
#define HTTP_PATH_MAX 512         /* path without the query, bytes (414 above) */
#define HTTP_REJECT_MSG_MAX 512

/*
 * A request refused for its framing, before any handler sees it: an HTTP
 * status of the protocol's own (400, 413, 414, 431) and words. Core errors
 * (struct vr_err) never carry these.
 */
struct http_reject {
	int status; /* 0: not refused */
	char msg[HTTP_REJECT_MSG_MAX];
};

/*
 * Look at the first len bytes a client sent. Returns the length of the
 * complete head (request line, headers, empty line) when it is well formed,
 * 0 when more bytes are needed (len < HTTP_HEAD_MAX), or -1 with e filled:
 * 400 (syntax, an HTTP version other than 1.0 or 1.1, a header without a name or colon, obs-fold, a
 * control byte, a Content-Length that is not a number or differs between its headers, both
 * Content-Length and Transfer-Encoding, a transfer coding other than
 * chunked, an encoded control byte in the target), 413 (a Content-Length
 * beyond 2^63), 414 (target over HTTP_TARGET_MAX or path over HTTP_PATH_MAX),
 * 431 (no end of head within HTTP_HEAD_MAX); an HTTP version other than 1.0
 * or 1.1 is a 400 too.
 */
long http_frame_check(const char *buf, size_t len, struct http_reject *e);

/*
 * Check a request target as sent (before percent-decoding): 400 when it has a
 * control byte, raw or percent-encoded (%00-%1F, %7F), which decoding would
 * turn into a truncated or altered id; 414 when too long. 0 when fine.
 */
int http_frame_target(const char *target, size_t len, struct http_reject *e);

#endif
