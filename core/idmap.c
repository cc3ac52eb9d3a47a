#include "idmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IDMAP_MIN_CAP 64

struct slot {
	const char
	    *key; /* NULL = empty; TOMBSTONE = deleted; ours to free unless the map borrows */
	void *value;
};

/* A key the map copied (it is const in the slot because a borrowing map shares that field). */
static void key_free(const char *key)
{
	free((void *)(uintptr_t)key);
}

struct idmap {
	struct slot *slots;
	size_t cap;  /* power of two */
	size_t used; /* live + tombstones: drives growth */
	size_t live;
	bool ref; /* keys are borrowed, not owned */
};

static char tombstone;
#define TOMBSTONE (&tombstone)

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct idmap *idmap_new(void)
{
	struct idmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->slots = calloc(IDMAP_MIN_CAP, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	m->cap = IDMAP_MIN_CAP;
	return m;
}

void idmap_free(struct idmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap && !m->ref; i++)
		if (m->slots[i].key && m->slots[i].key != TOMBSTONE)
			key_free(m->slots[i].key);
	free(m->slots);
	free(m);
}

/* The slot holding id, or NULL. */
static struct slot *find(const struct idmap *m, const char *id)
{
	size_t mask = m->cap - 1, i = hash(id) & mask;

	for (;;) {
		struct slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != TOMBSTONE && !strcmp(s->key, id))
			return s;
		i = (i + 1) & mask;
	}
}

static int grow(struct idmap *m)
{
	size_t cap = m->live * 4 > m->cap ? m->cap * 2 : m->cap; /* else only purge tombstones */
	struct slot *old = m->slots, *ns = calloc(cap, sizeof(*ns));
	size_t oldcap = m->cap;

	if (!ns)
		return -ENOMEM;
	m->slots = ns;
	m->cap = cap;
	m->used = m->live;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (!old[i].key || old[i].key == TOMBSTONE)
			continue;
		for (j = hash(old[i].key) & (cap - 1); ns[j].key; j = (j + 1) & (cap - 1))
			;
		ns[j] = old[i];
	}
	free(old);
	return 0;
}

void *idmap_get(const struct idmap *m, const char *id)
{
	struct slot *s = find(m, id);

	return s ? s->value : NULL;
}

int idmap_put(struct idmap *m, const char *id, void *value)
{
	struct slot *s = find(m, id);
	size_t i, mask;

	if (s) {
		s->value = value;
		return 0;
	}
	if ((m->used + 1) * 4 > m->cap * 3 && grow(m))
		return -ENOMEM;
	mask = m->cap - 1;
	for (i = hash(id) & mask; m->slots[i].key && m->slots[i].key != TOMBSTONE;
	     i = (i + 1) & mask)
		;
	if (!m->slots[i].key)
		m->used++;
	m->slots[i].key = m->ref ? id : strdup(id);
	if (!m->slots[i].key)
		return -ENOMEM;
	m->slots[i].value = value;
	m->live++;
	return 0;
}

void *idmap_del(struct idmap *m, const char *id)
{
	struct slot *s = find(m, id);
	void *v;

	if (!s)
		return NULL;
	v = s->value;
	if (!m->ref)
		key_free(s->key);
	s->key = TOMBSTONE;
	s->value = NULL;
	m->live--;
	return v;
}

struct idmap *idmap_new_ref(void)
{
	struct idmap *m = idmap_new();

	if (m)
		m->ref = true;
	return m;
}

size_t idmap_count(const struct idmap *m)
{
	return m->live;
}

void idmap_each(const struct idmap *m, void (*fn)(void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != TOMBSTONE)
			fn(m->slots[i].value, arg);
}
