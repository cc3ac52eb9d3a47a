/*
 * A hash map from object id ("rt-1a2b...") to a caller-owned pointer.
 * Open addressing, grows by doubling; O(1) expected per operation.
 */
#ifndef VR_IDMAP_H
#define VR_IDMAP_H

#include <stddef.h>

struct idmap;

struct idmap *idmap_new(void);
/*
 * A map that borrows its keys instead of copying them: each key must stay
 * valid, unchanged, until its entry is deleted or the map freed (typically
 * the key is the id inside the value).
 */
struct idmap *idmap_new_ref(void);
/* Frees the map, not the values. NULL-safe. */
void idmap_free(struct idmap *m);
/* The value for id, or NULL. */
void *idmap_get(const struct idmap *m, const char *id);
/* Insert or overwrite. The key is copied (borrowed in a map from idmap_new_ref). 0 or -ENOMEM. */
int idmap_put(struct idmap *m, const char *id, void *value) __attribute__((warn_unused_result));
/* Remove id; returns its value or NULL. */
void *idmap_del(struct idmap *m, const char *id);
size_t idmap_count(const struct idmap *m);
/* Call fn for every value (order unspecified). fn must not change the map. */
void idmap_each(const struct idmap *m, void (*fn)(void *value, void *arg), void *arg);

#endif
