#include "etag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

void etag_hash(const void *data, size_t len, char out[ETAG_HASH_LEN + 1])
{
	const unsigned char *p = data;
	uint64_t h = FNV64_OFFSET;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV64_PRIME;
	}
	snprintf(out, ETAG_HASH_LEN + 1, "%016llx", (unsigned long long)h);
}

/*
 * The hash of the body as the client receives it, rendered once (its trailing
 * newline not hashed); "" without memory.
 */
static void hash_body(struct http_resp *resp, char out[ETAG_HASH_LEN + 1])
{
	out[0] = '\0';
	if (http_render(resp) || !resp->raw || !resp->raw_len)
		return;
	etag_hash(resp->raw, resp->raw_len - 1, out);
}

bool etag_none_match(const char *v, const char *tag)
{
	size_t tlen;

	if (!v || !tag || !tag[0])
		return false;
	if (!strncmp(tag, "W/", 2))
		tag += 2;
	tlen = strlen(tag);
	while (*v) {
		const char *end;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (*v == '*')
			return true;
		if (!strncmp(v, "W/", 2))
			v += 2;
		if (*v != '"')
			return false; /* not a list of entity tags */
		end = strchr(v + 1, '"');
		if (!end)
			return false;
		if ((size_t)(end + 1 - v) == tlen && !memcmp(v, tag, tlen))
			return true;
		v = end + 1;
	}
	return false;
}

void etag_set_rev(struct http_resp *resp, int64_t rev)
{
	char h[ETAG_HASH_LEN + 1];

	hash_body(resp, h);
	snprintf(resp->etag, sizeof(resp->etag), "\"%lld-%s\"", (long long)rev, h);
}

void etag_conditional(const char *if_none_match, struct http_resp *resp)
{
	if (resp->status != 200)
		return;
	if (!resp->etag[0] && resp->body && !resp->raw) {
		char h[ETAG_HASH_LEN + 1];

		hash_body(resp, h);
		if (h[0])
			snprintf(resp->etag, sizeof(resp->etag), "\"%s\"", h);
	}
	if (!etag_none_match(if_none_match, resp->etag))
		return;
	/* 304: the headers of a 200, no body. */
	resp->status = 304;
	json_decref(resp->body);
	resp->body = NULL;
	resp->raw = NULL;
	resp->raw_len = 0;
	http_resp_end_stream(resp);
}
