/*
 * The settings: one row per router (local's always present, another's made
 * with its main table or its first put), written by a put, an undo or a
 * whole-state replace.
 */
#include "store_int.h"

#include "grow.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

int store_settings_read(struct store *s, const char *router, struct settings *out, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_SET_GET);
	int ret = -1;
	int rc;

	memset(out, 0, sizeof(*out));
	router = model_router_or_local(router);
	snprintf(out->router, sizeof(out->router), "%s", router);
	rc = bind_text(q, 1, router, false) == SQLITE_OK ? sqlite3_step(q) : SQLITE_MISUSE;
	if (rc == SQLITE_DONE && strcmp(router, ROUTER_LOCAL) != 0) {
		/* A router no write has named yet: the defaults, with an ETag >= 1. */
		out->rev = 1;
		ret = 0;
		goto out;
	}
	if (rc == SQLITE_DONE) {
		/* Migrations 003 and 005 insert local's row and nothing deletes it. */
		err_set(e, VR_ERR_INTERNAL, "", "database: the settings row is missing");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		store_db_err(s, e, "reading the settings");
		goto out;
	}
	if (col_copy(q, 3, out->updated_at, sizeof(out->updated_at)) < 0) {
		corrupt(e, "settings", "row");
		goto out;
	}
	out->managed = sqlite3_column_int(q, 0) != 0;
	out->fwd_v4 = sqlite3_column_int(q, 1) != 0;
	out->fwd_v6 = sqlite3_column_int(q, 2) != 0;
	out->rev = sqlite3_column_int64(q, 4);
	ret = 0;
out:
	st_done(q);
	return ret;
}

int store_settings_get(struct store *s, struct settings *out, struct vr_err *e)
{
	return store_settings_read(s, NULL, out, e);
}

int store_settings_get_of(struct store *s, const char *router, struct settings *out,
                          struct vr_err *e)
{
	return store_settings_read(s, router, out, e);
}

int store_routers(struct store *s, char (**out)[ROUTER_MAX], size_t *n, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_ROUTERS);
	char(*v)[ROUTER_MAX] = NULL;
	size_t cap = 0;
	int rc, ret = -1;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (vr_grow((void **)&v, &cap, *n + 1, sizeof(*v), SIZE_MAX / sizeof(*v)) < 0) {
			err_set(e, VR_ERR_INTERNAL, "", "out of memory");
			goto out;
		}
		if (col_copy(q, 0, v[*n], sizeof(v[*n])) < 0) {
			corrupt(e, "route_tables", "router");
			goto out;
		}
		(*n)++;
	}
	if (rc != SQLITE_DONE) {
		store_db_err(s, e, "listing the routers");
		goto out;
	}
	*out = v;
	v = NULL;
	ret = 0;
out:
	if (ret < 0)
		*n = 0;
	free(v);
	st_done(q);
	return ret;
}

/* Store set: its forwarding flags, whether they are managed, its updated_at and rev. */
int store_settings_write(struct store *s, const struct settings *set, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_SET_PUT);
	int ret = -1;

	if (sqlite3_bind_int(q, 1, set->fwd_v4) != SQLITE_OK ||
	    sqlite3_bind_int(q, 2, set->fwd_v6) != SQLITE_OK ||
	    bind_text(q, 3, set->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 4, set->rev) != SQLITE_OK ||
	    sqlite3_bind_int(q, 5, set->managed) != SQLITE_OK ||
	    bind_text(q, 6, model_router_or_local(set->router), false) != SQLITE_OK) {
		store_db_err(s, e, "binding");
		goto out;
	}
	if (sqlite3_step(q) != SQLITE_DONE || sqlite3_changes(s->db) != 1) {
		store_db_err(s, e, "writing the settings");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/*
 * Write set over the settings in one transaction (PRECONDITION when if_rev > 0 is not
 * the stored rev). A put (undo NULL) marks them managed with a new rev and
 * updated_at; an undo keeps set's own and gets the new revision in *undo.
 */
static int settings_overwrite(struct store *s, struct settings *set, int64_t if_rev, int64_t *undo,
                              struct vr_err *e)
{
	struct settings old;
	struct settings neu = *set;
	int ret = -1;

	if (store_tx_begin(s, e) < 0)
		return -1;
	if (store_settings_read(s, set->router, &old, e) < 0)
		goto out;
	if (if_rev > 0 && if_rev != old.rev) {
		err_set(e, VR_ERR_PRECONDITION, "",
		        "If-Match revision %" PRId64
		        " does not match the current ETag of the settings (revision %" PRId64 ")",
		        if_rev, old.rev);
		goto out;
	}
	if (!undo && old.managed && old.fwd_v4 == set->fwd_v4 && old.fwd_v6 == set->fwd_v6) {
		*set = old;
		ret = STORE_UNCHANGED;
		goto out;
	}
	if (store_router_ensure_in(s, set->router, e) < 0 ||
	    store_rev_bump(s, undo ? undo : &neu.rev, e) < 0)
		goto out;
	if (!undo) {
		neu.managed = true;
		model_now(neu.updated_at);
	}
	if (store_settings_write(s, &neu, e) < 0)
		goto out;
	if (store_write_commit(s, STORE_SETTINGS_ID, NULL, e) < 0)
		goto out;
	*set = neu;
	ret = 0;
out:
	store_tx_end(s);
	return ret;
}

int store_settings_put(struct store *s, struct settings *set, int64_t if_rev, struct vr_err *e)
{
	return settings_overwrite(s, set, if_rev, NULL, e);
}

int store_settings_restore(struct store *s, const struct settings *old, int64_t if_rev,
                           int64_t *rev, struct vr_err *e)
{
	struct settings set = *old;

	/* Only the version the undone put made: a later put stays. */
	return settings_overwrite(s, &set, if_rev, rev, e);
}
