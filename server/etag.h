/*
 * Entity tags and conditional GET (RFC 9110 sections 8.8.3 and 13.1.2): a
 * response's ETag follows the state it shows, and a GET whose If-None-Match
 * names the current tag is answered 304 Not Modified without a body, so a
 * client that polls pays for a change only when there is one.
 */
#ifndef VR_ETAG_H
#define VR_ETAG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_resp;

#define ETAG_HASH_LEN 16 /* hex digits of a body hash */

/* FNV-1a (64 bits) of len bytes as ETAG_HASH_LEN lowercase hex digits and a NUL. */
void etag_hash(const void *data, size_t len, char out[ETAG_HASH_LEN + 1]);
/*
 * Whether an If-None-Match value lists tag: "*", or one of its comma-separated
 * entity tags equal to tag by weak comparison (a W/ prefix is ignored).
 */
bool etag_none_match(const char *if_none_match, const char *tag);
/*
 * The ETag of a single object: "<rev>-<hash of resp->body>". The revision
 * part is what If-Match compares; the hash makes the tag change when the
 * object's status changes without a write.
 */
void etag_set_rev(struct http_resp *resp, int64_t rev);
/*
 * For a 200 answer to GET or HEAD: give a JSON body without an ETag one (the
 * hash of the body), then turn the answer into a 304 without a body when
 * if_none_match (the request's header, or NULL) names the ETag.
 */
void etag_conditional(const char *if_none_match, struct http_resp *resp);

#endif
