/*
 * Rendered answers of single-object GETs, kept so that a GET of an object
 * that has not changed touches neither SQLite nor the reconciler's lock, and
 * a conditional GET naming the current ETag costs a lookup and a compare.
 *
 * An answer is kept under what it was read at: the store's write generation
 * (store_write_gen) and the reconciler's status generation (recon_status_gen),
 * both taken before the read. Any commit, or any status the reconciler
 * records, moves one of them, and an answer kept under other generations is
 * never served again: nothing stale is answered, at the price of a miss after
 * every write. Direct-mapped and bounded: a slot holds one answer, a newer
 * one evicts it.
 */
#ifndef VR_HTTP_CACHE_H
#define VR_HTTP_CACHE_H

#include <stdbool.h>
#include <stdint.h>

struct http_cache;
struct http_resp;

/* Answers bigger than this are not kept. */
#define HTTP_CACHE_ENTRY_MAX (16 * 1024)

struct http_cache_key {
	const void *kind; /* what the id names (a struct crud_resource) */
	const char *id;
	uint64_t wgen; /* store_write_gen() before the read; 0: not tracked, never cached */
	uint64_t sgen; /* recon_status_gen() before the read (0 without a reconciler) */
};

/* NULL when out of memory (then there is no cache: lookups miss, puts drop). */
struct http_cache *http_cache_new(void);
void http_cache_free(struct http_cache *c);

/*
 * The answer kept for k: true, and resp is a 200 with a copy of its bytes and
 * its ETag, or, when if_none_match (the request's header, or NULL) names that
 * ETag, a 304 with the ETag and no body. false: none kept (resp untouched).
 */
bool http_cache_get(struct http_cache *c, const struct http_cache_key *k, const char *if_none_match,
                    struct http_resp *resp);
/* Keep resp (a rendered 200 answer with an ETag, default Content-Type) for k. */
void http_cache_put(struct http_cache *c, const struct http_cache_key *k,
                    const struct http_resp *resp);

/* Lookups answered and missed so far (tests and diagnostics). */
void http_cache_stats(const struct http_cache *c, uint64_t *hits, uint64_t *misses);

#endif
