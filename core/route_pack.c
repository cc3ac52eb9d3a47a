/*
 * A document's routes held compact (PUT /v1/config). A struct route is 416
 * bytes, most of it fixed-size text: at 100,000 routes the document's items
 * were 41.6 MB of a PUT's peak. Here an item keeps its id, its parsed
 * prefix and gateway, its numbers, and its other text as offsets into one
 * pool of strings: the as-written destination and via only when they differ
 * from the canonical text of the parsed ones, the rest ("rtb-main", a
 * device, a router, a stamp) once per run of equal values. route_pack_get
 * fills a full struct route wherever one is needed.
 */
#include "model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

/* Text fields of an item, by their index in struct route_item's off[]. */
enum { RP_TABLE_ID, RP_ROUTER, RP_DEST, RP_VIA, RP_DEV, RP_CREATED, RP_UPDATED, RP_FIELDS };

struct route_item {
	char id[ID_MAX];
	struct prefix dst;
	struct ipaddr via;
	uint32_t table, metric;
	uint32_t off[RP_FIELDS]; /* into the pool; 0 = "" (destination, via: the canonical text) */
	uint8_t type;
	uint8_t as_written; /* bit RP_DEST, RP_VIA: off[] holds the text as written */
	int64_t rev;
	char *description; /* malloc'd, NULL means "" */
};

struct route_pack {
	struct route_item *v;
	size_t n;
	char *pool; /* pool[0] is "" */
	size_t len, cap;
	uint32_t last[RP_FIELDS]; /* the last string added per field: runs share it */
};

struct route_pack *route_pack_new(size_t n)
{
	struct route_pack *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->v = calloc(n ? n : 1, sizeof(*p->v));
	p->cap = 4096;
	p->pool = malloc(p->cap);
	if (!p->v || !p->pool) {
		route_pack_free(p);
		return NULL;
	}
	p->pool[0] = '\0';
	p->len = 1;
	p->n = n;
	return p;
}

void route_pack_free(struct route_pack *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->v && i < p->n; i++)
		free(p->v[i].description);
	free(p->v);
	free(p->pool);
	free(p);
}

size_t route_pack_len(const struct route_pack *p)
{
	return p ? p->n : 0;
}

char *route_pack_id(struct route_pack *p, size_t i)
{
	return p->v[i].id;
}

/* The offset of s in the pool, added unless it is "" or field f's last one; 0 with *fail set when
 * out of memory. */
static uint32_t pool_add(struct route_pack *p, int f, const char *s, bool *fail)
{
	size_t len = strlen(s) + 1;

	if (!s[0])
		return 0;
	if (p->last[f] && !strcmp(p->pool + p->last[f], s))
		return p->last[f];
	if (p->len + len > UINT32_MAX) {
		*fail = true;
		return 0;
	}
	if (p->len + len > p->cap) {
		size_t cap = p->cap * 2 > p->len + len ? p->cap * 2 : p->len + len;
		char *np = realloc(p->pool, cap);

		if (!np) {
			*fail = true;
			return 0;
		}
		p->pool = np;
		p->cap = cap;
	}
	memcpy(p->pool + p->len, s, len);
	p->last[f] = (uint32_t)p->len;
	p->len += len;
	return p->last[f];
}

/* Text as written: an offset when it is not what canonical() of the parsed value prints. */
static uint32_t text_add(struct route_pack *p, struct route_item *it, int f, const char *text,
                         const char *canonical, bool *fail)
{
	if (canonical && !strcmp(text, canonical))
		return 0;
	it->as_written |= (uint8_t)(1u << f);
	return pool_add(p, f, text, fail);
}

int route_pack_put(struct route_pack *p, size_t i, struct route *r)
{
	struct route_item *it = &p->v[i];
	char canon[CIDR_STR_MAX];
	bool fail = false;

	if (it->description != r->description)
		free(it->description);
	memcpy(it->id, r->id, ID_MAX);
	it->dst = r->dst;
	it->via = r->via;
	it->table = r->table;
	it->metric = r->metric;
	it->type = (uint8_t)r->type;
	it->rev = r->rev;
	it->description = r->description;
	r->description = NULL;
	it->as_written = 0;
	it->off[RP_TABLE_ID] = pool_add(p, RP_TABLE_ID, r->table_id, &fail);
	it->off[RP_ROUTER] = pool_add(p, RP_ROUTER, r->router, &fail);
	it->off[RP_DEV] = pool_add(p, RP_DEV, r->dev, &fail);
	it->off[RP_CREATED] = pool_add(p, RP_CREATED, r->created_at, &fail);
	it->off[RP_UPDATED] = pool_add(p, RP_UPDATED, r->updated_at, &fail);
	canon[0] = '\0';
	if (r->dst.addr.family)
		cidr_format_prefix(&r->dst, canon, sizeof(canon));
	it->off[RP_DEST] =
	    text_add(p, it, RP_DEST, r->destination, r->dst.addr.family ? canon : NULL, &fail);
	canon[0] = '\0';
	if (r->via.family)
		cidr_format_addr(&r->via, canon, sizeof(canon));
	it->off[RP_VIA] = text_add(p, it, RP_VIA, r->via_text, canon, &fail);
	return fail ? -1 : 0;
}

int route_pack_set_table(struct route_pack *p, size_t i, uint32_t table, const char *router)
{
	bool fail = false;

	p->v[i].table = table;
	p->v[i].off[RP_ROUTER] = pool_add(p, RP_ROUTER, router, &fail);
	return fail ? -1 : 0;
}

void route_pack_get(const struct route_pack *p, size_t i, struct route *r)
{
	const struct route_item *it = &p->v[i];

	route_pack_get_parsed(p, i, r);
	if (it->as_written & (1u << RP_DEST))
		snprintf(r->destination, sizeof(r->destination), "%s", p->pool + it->off[RP_DEST]);
	else
		cidr_format_prefix(&it->dst, r->destination, sizeof(r->destination));
	if (it->as_written & (1u << RP_VIA))
		snprintf(r->via_text, sizeof(r->via_text), "%s", p->pool + it->off[RP_VIA]);
	else if (it->via.family)
		cidr_format_addr(&it->via, r->via_text, sizeof(r->via_text));
}

void route_pack_get_parsed(const struct route_pack *p, size_t i, struct route *r)
{
	const struct route_item *it = &p->v[i];

	memset(r, 0, sizeof(*r));
	memcpy(r->id, it->id, ID_MAX);
	r->dst = it->dst;
	r->via = it->via;
	r->table = it->table;
	r->metric = it->metric;
	r->type = (enum route_type)it->type;
	r->rev = it->rev;
	r->description = it->description;
	snprintf(r->table_id, sizeof(r->table_id), "%s", p->pool + it->off[RP_TABLE_ID]);
	snprintf(r->router, sizeof(r->router), "%s", p->pool + it->off[RP_ROUTER]);
	snprintf(r->dev, sizeof(r->dev), "%s", p->pool + it->off[RP_DEV]);
	snprintf(r->created_at, sizeof(r->created_at), "%s", p->pool + it->off[RP_CREATED]);
	snprintf(r->updated_at, sizeof(r->updated_at), "%s", p->pool + it->off[RP_UPDATED]);
}

const struct route *route_pack_at(const struct route *v, const struct route_pack *p, size_t i,
                                  struct route *tmp)
{
	if (!p)
		return &v[i];
	route_pack_get(p, i, tmp);
	return tmp;
}

void route_pack_key(const struct route_pack *p, size_t i, uint32_t *table,
                    const struct prefix **dst, uint32_t *metric)
{
	*table = p->v[i].table;
	*dst = &p->v[i].dst;
	*metric = p->v[i].metric;
}
