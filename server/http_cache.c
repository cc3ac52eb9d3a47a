#include "http_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "etag.h"
#include "http.h"

#define HTTP_CACHE_SLOTS 1024 /* a power of two */
#define HTTP_CACHE_LOCKS 64   /* slot i is guarded by lock i % HTTP_CACHE_LOCKS */

struct entry {
	const void *kind;
	uint64_t wgen, sgen;
	char etag[HTTP_HEADER_MAX];
	size_t len;  /* bytes of the answer, after the id's NUL in data */
	char data[]; /* the id, NUL, the answer */
};

struct http_cache {
	pthread_mutex_t lock[HTTP_CACHE_LOCKS];
	struct entry *slot[HTTP_CACHE_SLOTS];
	uint64_t hits, misses; /* atomic */
};

struct http_cache *http_cache_new(void)
{
	struct http_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	for (size_t i = 0; i < HTTP_CACHE_LOCKS; i++)
		pthread_mutex_init(&c->lock[i], NULL);
	return c;
}

void http_cache_free(struct http_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < HTTP_CACHE_SLOTS; i++)
		free(c->slot[i]);
	for (size_t i = 0; i < HTTP_CACHE_LOCKS; i++)
		pthread_mutex_destroy(&c->lock[i]);
	free(c);
}

/* FNV-1a of the kind's address and the id. */
static size_t slot_of(const struct http_cache_key *k)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uintptr_t kind = (uintptr_t)k->kind;

	for (size_t i = 0; i < sizeof(kind); i++, kind >>= 8) {
		h ^= kind & 0xff;
		h *= 0x100000001b3ull;
	}
	for (const unsigned char *p = (const unsigned char *)k->id; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return (size_t)(h ^ (h >> 32)) & (HTTP_CACHE_SLOTS - 1);
}

static bool same(const struct entry *e, const struct http_cache_key *k)
{
	return e && e->kind == k->kind && e->wgen == k->wgen && e->sgen == k->sgen &&
	       !strcmp(e->data, k->id);
}

bool http_cache_get(struct http_cache *c, const struct http_cache_key *k, const char *if_none_match,
                    struct http_resp *resp)
{
	size_t i;
	const struct entry *e;
	bool hit = false;

	if (!c || !k->wgen)
		return false;
	i = slot_of(k);
	pthread_mutex_lock(&c->lock[i % HTTP_CACHE_LOCKS]);
	e = c->slot[i];
	if (same(e, k)) {
		if (etag_none_match(if_none_match, e->etag)) {
			/* What etag_conditional makes of the 200: its head without the body. */
			resp->status = 304;
			hit = true;
		} else {
			char *buf = malloc(e->len);

			if (buf) {
				memcpy(buf, e->data + strlen(e->data) + 1, e->len);
				free(resp->owned);
				resp->owned = buf;
				resp->raw = buf;
				resp->raw_len = e->len;
				resp->status = 200;
				hit = true;
			}
		}
		if (hit) {
			memcpy(resp->etag, e->etag, sizeof(resp->etag));
			resp->content_type = NULL;
		}
	}
	pthread_mutex_unlock(&c->lock[i % HTTP_CACHE_LOCKS]);
	__atomic_fetch_add(hit ? &c->hits : &c->misses, 1, __ATOMIC_RELAXED);
	return hit;
}

void http_cache_put(struct http_cache *c, const struct http_cache_key *k,
                    const struct http_resp *resp)
{
	size_t idlen, i;
	struct entry *e, *old;

	if (!c || !k->wgen || resp->status != 200 || !resp->raw || !resp->etag[0] ||
	    resp->content_type || resp->raw_len > HTTP_CACHE_ENTRY_MAX)
		return;
	idlen = strlen(k->id);
	e = malloc(sizeof(*e) + idlen + 1 + resp->raw_len);
	if (!e)
		return;
	e->kind = k->kind;
	e->wgen = k->wgen;
	e->sgen = k->sgen;
	memcpy(e->etag, resp->etag, sizeof(e->etag));
	e->len = resp->raw_len;
	memcpy(e->data, k->id, idlen + 1);
	memcpy(e->data + idlen + 1, resp->raw, resp->raw_len);
	i = slot_of(k);
	pthread_mutex_lock(&c->lock[i % HTTP_CACHE_LOCKS]);
	old = c->slot[i];
	c->slot[i] = e;
	pthread_mutex_unlock(&c->lock[i % HTTP_CACHE_LOCKS]);
	free(old);
}

void http_cache_stats(const struct http_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c ? __atomic_load_n(&c->hits, __ATOMIC_RELAXED) : 0;
	*misses = c ? __atomic_load_n(&c->misses, __ATOMIC_RELAXED) : 0;
}
