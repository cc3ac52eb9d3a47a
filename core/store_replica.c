/*
 * Fleet mode's side of the store (issue 16): change capture for the write
 * path (TEMP triggers fill a TEMP table during a write transaction; the
 * commit hands its rows to a hook that may refuse the write), and the raw
 * writes the replication applier makes with what etcd says (no verb's
 * checks, stamps kept). Single mode never calls any of it.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/*
 * TEMP: per connection, gone with it, never in the file. A trigger records
 * (kind, id); whether the object stands is read at the commit, so an insert
 * then delete in one transaction is one delete. Settings are a router's: their
 * id is the router's name. A group's targets are its
 * group's change; foreign-key cascades (a group's rules) fire the child
 * table's delete trigger too.
 */
#define CAPTURE_SQL                                                                                \
	"CREATE TEMP TABLE IF NOT EXISTS vr_changes (kind INTEGER NOT NULL, id TEXT NOT "          \
	"NULL);" CAPTURE_TABLE("rtb", "route_tables", "0", "NEW.id", "OLD.id")                     \
	    CAPTURE_TABLE("rt", "routes", "1", "NEW.id", "OLD.id")                                 \
	        CAPTURE_TABLE("sn", "subnets", "2", "NEW.id", "OLD.id")                            \
	            CAPTURE_TABLE("sg", "security_groups", "3", "NEW.id", "OLD.id")                \
	                CAPTURE_TABLE("sgr", "security_group_rules", "4", "NEW.id", "OLD.id")      \
	                    CAPTURE_TABLE("tg", "sg_targets", "3", "NEW.group_id", "OLD.group_id") \
	                        CAPTURE_TABLE("set", "settings", "5", "NEW.router", "OLD.router")
/* The three triggers of one table: its kind number and what names the object. */
#define CAPTURE_TABLE(n, table, kind, newv, oldv)                                                  \
	CAPTURE_ONE(n "_i", "INSERT", table, kind, newv)                                           \
	CAPTURE_ONE(n "_u", "UPDATE", table, kind, newv)                                           \
	CAPTURE_ONE(n "_d", "DELETE", table, kind, oldv)
#define CAPTURE_ONE(name, op, table, kind, val)                                                    \
	"CREATE TEMP TRIGGER IF NOT EXISTS vr_ch_" name " AFTER " op " ON main." table             \
	" BEGIN INSERT INTO vr_changes VALUES (" kind ", " val "); END;"

_Static_assert(STORE_RTB == 0 && STORE_ROUTE == 1 && STORE_SUBNET == 2 && STORE_SG == 3 &&
                   STORE_SGR == 4 && STORE_KIND_SETTINGS == 5,
               "CAPTURE_SQL numbers the kinds");

/* Changes listed to one hook call at most; a PUT /v1/config beyond it fails the write. */
#define CHANGES_MAX 4000000

int store_set_commit_hook(struct store *s, store_commit_hook fn, void *arg, struct vr_err *e)
{
	if (!s->ch_list) {
		if (store_db_exec(s, CAPTURE_SQL, e) < 0)
			return -1;
		if (sqlite3_prepare_v3(s->db,
		                       "SELECT kind, id FROM temp.vr_changes GROUP BY kind, id "
		                       "ORDER BY kind, id",
		                       -1, SQLITE_PREPARE_PERSISTENT, &s->ch_list,
		                       NULL) != SQLITE_OK ||
		    sqlite3_prepare_v3(s->db, "DELETE FROM temp.vr_changes", -1,
		                       SQLITE_PREPARE_PERSISTENT, &s->ch_clear, NULL) != SQLITE_OK)
			return store_db_err(s, e, "preparing the change capture");
	}
	s->hook = fn;
	s->hook_arg = arg;
	return 0;
}

void store_changes_close(struct store *s)
{
	sqlite3_finalize(s->ch_list);
	sqlite3_finalize(s->ch_clear);
	s->ch_list = s->ch_clear = NULL;
}

/* Whether object id of kind (a change's) stands in the open transaction. */
static int change_stands(struct store *s, int kind, const char *id, bool *yes, struct vr_err *e)
{
	union any_obj o;
	int rc;

	if (kind == STORE_KIND_SETTINGS) {
		*yes = true;
		return 0;
	}
	rc = store_obj_read(s, (enum store_kind)kind, id, &o, e);
	if (rc < 0)
		return -1;
	if (rc > 0)
		store_kinds[kind]->clear(&o);
	*yes = rc > 0;
	return 0;
}

int store_changes_flush(struct store *s, struct vr_err *e)
{
	struct store_change *ch = NULL;
	size_t n = 0, cap = 0;
	int ret = -1;
	int rc;

	while ((rc = sqlite3_step(s->ch_list)) == SQLITE_ROW) {
		int kind = sqlite3_column_int(s->ch_list, 0);

		if (kind < 0 || kind > STORE_KIND_SETTINGS) {
			err_set(e, VR_ERR_INTERNAL, "", "database: a change of kind %d", kind);
			goto out;
		}
		if (store_array_grow((void **)&ch, &cap, n, sizeof(*ch), CHANGES_MAX, e) < 0)
			goto out;
		ch[n].kind = kind;
		if (col_copy(s->ch_list, 1, ch[n].id, sizeof(ch[n].id)) < 0) {
			corrupt(e, "change", "");
			goto out;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		store_db_err(s, e, "reading the changes");
		goto out;
	}
	sqlite3_reset(s->ch_list);
	for (size_t i = 0; i < n; i++) {
		bool yes;

		if (change_stands(s, ch[i].kind, ch[i].id, &yes, e) < 0)
			goto out;
		ch[i].del = !yes;
	}
	if (n && s->hook(s->hook_arg, s, ch, n, e) < 0)
		goto out;
	if (sqlite3_step(s->ch_clear) != SQLITE_DONE) {
		store_db_err(s, e, "clearing the changes");
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(s->ch_list);
	sqlite3_reset(s->ch_clear);
	free(ch);
	return ret;
}

/* ---- the applier's writes ---- */

int store_replica_begin(struct store *s, struct vr_err *e)
{
	if (store_tx_begin(s, e) < 0)
		return -1;
	s->hook_off = true;
	/* Reset by the commit or rollback. */
	if (store_db_exec(s, "PRAGMA defer_foreign_keys = ON", e) < 0) {
		store_replica_end(s);
		return -1;
	}
	return 0;
}

int store_replica_commit(struct store *s, struct vr_err *e)
{
	/* The triggers filled the table: etcd has these already; nothing to hand on. */
	if (s->ch_clear) {
		int rc = sqlite3_step(s->ch_clear);

		sqlite3_reset(s->ch_clear);
		if (rc != SQLITE_DONE)
			return store_db_err(s, e, "clearing the changes");
	}
	return store_tx_commit(s, e);
}

void store_replica_end(struct store *s)
{
	store_tx_end(s);
	s->hook_off = false;
}

int store_replica_put(struct store *s, enum store_kind k, const void *obj, struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	struct vr_err ue = {0};

	/* Over the stored row (which may be parked: not read back), else a new one. */
	if (store_obj_write(s, k, d->update, obj, &ue) == 0)
		return 0;
	if (ue.code != VR_ERR_NOT_FOUND) {
		if (e)
			*e = ue;
		return -1;
	}
	return store_obj_write(s, k, d->insert, obj, e);
}

int store_replica_make_way(struct store *s, enum store_kind k, const char *id, struct vr_err *e)
{
	/* A group's targets and rules hang on its row: it stays, under a name no client writes. */
	if (k == STORE_SG)
		return store_run_id(s, ST_SG_PARK, id, "renaming a security group", e);
	return store_row_delete(s, k, id, e);
}

int store_replica_delete(struct store *s, enum store_kind k, const char *id, struct vr_err *e)
{
	return store_row_delete(s, k, id, e);
}

int store_replica_settings(struct store *s, const struct settings *set, struct vr_err *e)
{
	return store_settings_write(s, set, e);
}

struct ids {
	char (*v)[ID_MAX];
	size_t n, cap;
};

static int add_id(void *arg, enum store_kind kind, const void *obj, struct vr_err *e)
{
	struct ids *ids = arg;

	(void)kind;
	if (store_array_grow((void **)&ids->v, &ids->cap, ids->n, ID_MAX, CHANGES_MAX, e) < 0)
		return -1;
	memcpy(ids->v[ids->n++], obj, ID_MAX);
	return 0;
}

int store_replica_ids(struct store *s, enum store_kind k, char (**out)[ID_MAX], size_t *n,
                      struct vr_err *e)
{
	struct ids ids = {0};

	if (store_walk_rows(s, k, false, add_id, &ids, "listing ids", e)) {
		free(ids.v);
		return -1;
	}
	*out = ids.v;
	*n = ids.n;
	return 0;
}

/* Run sql with ?1 = key (text) and ?2 = v unless v is NULL; *v gets column 0 of a row. */
static int meta_run(struct store *s, const char *sql, const char *key, int64_t set, int64_t *get,
                    struct vr_err *e)
{
	sqlite3_stmt *q = NULL;
	int ret = -1;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (!get && sqlite3_bind_int64(q, 2, set) != SQLITE_OK)) {
		store_db_err(s, e, sql);
		goto out;
	}
	rc = sqlite3_step(q);
	if (get)
		*get = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_db_err(s, e, sql);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(q);
	return ret;
}

int store_meta_get(struct store *s, const char *key, int64_t *v, struct vr_err *e)
{
	return meta_run(s, "SELECT value FROM meta WHERE key = ?1", key, 0, v, e);
}

int store_meta_set(struct store *s, const char *key, int64_t v, struct vr_err *e)
{
	return meta_run(s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", key, v, NULL,
	                e);
}

int store_replica_set_revision(struct store *s, int64_t rev, struct vr_err *e)
{
	return store_meta_set(s, "revision", rev, e);
}
