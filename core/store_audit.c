/*
 * The audit log: one row of table events per write request. A write that
 * changes the desired state inserts its row just before its COMMIT
 * (store_write_commit), so the change and its record are one transaction:
 * both or neither, and no fsync of their own. A request that changed
 * nothing is recorded in a short transaction of its own. Every insert also
 * drops the events beyond the handle's bound.
 */
#include "store_int.h"

#include <stdio.h>

/* The event the calling thread's next committed write records (store_audit_arm). */
static _Thread_local struct store_event *armed;

void store_audit_arm(struct store_event *ev)
{
	armed = ev;
}

struct store_event *store_audit_armed(void)
{
	return armed;
}

void store_audit_keep(struct store *s, int64_t keep)
{
	s->audit_keep = keep < 1 ? 1 : keep;
}

static int bind_plan(sqlite3_stmt *q, const struct store_event *ev)
{
	const int64_t v[] = {ev->added, ev->changed, ev->removed, ev->unchanged};
	int rc = SQLITE_OK;

	for (int i = 0; i < 4 && rc == SQLITE_OK; i++)
		rc =
		    ev->has_plan ? sqlite3_bind_int64(q, 9 + i, v[i]) : sqlite3_bind_null(q, 9 + i);
	return rc;
}

/* Insert ev (its time set now) inside the open write transaction, then prune. */
static int ev_insert(struct store *s, struct store_event *ev, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_EV_INSERT);
	int64_t id;
	int ok;

	model_now(ev->time);
	ok = bind_text(q, 1, ev->time, false) == SQLITE_OK &&
	     bind_text(q, 2, ev->token, false) == SQLITE_OK &&
	     bind_text(q, 3, ev->client, false) == SQLITE_OK &&
	     bind_text(q, 4, ev->method, false) == SQLITE_OK &&
	     bind_text(q, 5, ev->path, false) == SQLITE_OK &&
	     bind_text(q, 6, ev->object_id, true) == SQLITE_OK &&
	     sqlite3_bind_int(q, 7, ev->status) == SQLITE_OK &&
	     (ev->rev > 0 ? sqlite3_bind_int64(q, 8, ev->rev) : sqlite3_bind_null(q, 8)) ==
	         SQLITE_OK &&
	     bind_plan(q, ev) == SQLITE_OK && sqlite3_step(q) == SQLITE_DONE;
	st_done(q);
	if (!ok)
		return store_db_err(s, e, "recording the audit event");
	id = sqlite3_last_insert_rowid(s->db);
	q = st_get(s, ST_EV_PRUNE);
	ok = sqlite3_bind_int64(q, 1, id - s->audit_keep) == SQLITE_OK &&
	     sqlite3_step(q) == SQLITE_DONE;
	st_done(q);
	if (!ok)
		return store_db_err(s, e, "pruning the audit log");
	ev->id = id;
	return 0;
}

static void plan_count(struct store_event *ev, const struct store_diff *d)
{
	ev->has_plan = true;
	ev->added = ev->changed = ev->removed = ev->unchanged = 0;
	for (int k = 0; k < STORE_KINDS; k++) {
		ev->added += (int64_t)d->added[k].n;
		ev->changed += (int64_t)d->changed[k].n;
		ev->removed += (int64_t)d->removed[k].n;
		ev->unchanged += (int64_t)d->unchanged[k];
	}
}

int store_write_commit(struct store *s, const char *object_id, const struct store_diff *d,
                       struct vr_err *e)
{
	struct store_event *ev = armed;

	if (ev && !ev->id) {
		if (object_id)
			snprintf(ev->object_id, sizeof(ev->object_id), "%s", object_id);
		if (d)
			plan_count(ev, d);
		if (store_rev_read(s, &ev->rev, e) < 0 || ev_insert(s, ev, e) < 0)
			return -1;
	}
	if (store_tx_commit(s, e) < 0) {
		/* Rolled back with the change: the caller records the failure itself. */
		if (ev)
			ev->id = 0;
		return -1;
	}
	return 0;
}

int store_audit_record(struct store *s, struct store_event *ev, struct vr_err *e)
{
	int ret = -1;

	ev->id = 0;
	if (store_tx_begin(s, e) < 0)
		return -1;
	if (ev_insert(s, ev, e) < 0)
		goto out;
	if (store_tx_commit(s, e) < 0) {
		ev->id = 0;
		goto out;
	}
	ret = 0;
out:
	store_tx_end(s);
	return ret;
}

static int ev_from_row(sqlite3_stmt *q, struct store_event *ev)
{
	int64_t *plan[] = {&ev->added, &ev->changed, &ev->removed, &ev->unchanged};

	memset(ev, 0, sizeof(*ev));
	ev->id = sqlite3_column_int64(q, 0);
	if (col_copy(q, 1, ev->time, sizeof(ev->time)) < 0 ||
	    col_copy(q, 2, ev->token, sizeof(ev->token)) < 0 ||
	    col_copy(q, 3, ev->client, sizeof(ev->client)) < 0 ||
	    col_copy(q, 4, ev->method, sizeof(ev->method)) < 0 ||
	    col_copy(q, 5, ev->path, sizeof(ev->path)) < 0 ||
	    col_copy(q, 6, ev->object_id, sizeof(ev->object_id)) < 0)
		return -1;
	ev->status = sqlite3_column_int(q, 7);
	ev->rev = sqlite3_column_int64(q, 8);
	ev->has_plan = sqlite3_column_type(q, 9) != SQLITE_NULL;
	for (int i = 0; i < 4; i++)
		*plan[i] = sqlite3_column_int64(q, 9 + i);
	return 0;
}

int store_audit_list(struct store *s, const struct store_event_filter *f, int64_t before,
                     size_t limit, struct store_event **out, size_t *n, bool *more,
                     struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_EV_LIST);
	struct store_event *v = NULL;
	size_t cap = 0;
	int64_t rev;
	int ret = -1, rc;

	*out = NULL;
	*n = 0;
	*more = false;
	if (limit == 0 || limit >= INT32_MAX)
		limit = INT32_MAX - 1;
	if (store_read_begin(s, &rev, e) < 0)
		return -1;
	/* One more row than asked tells whether there are more. */
	if (sqlite3_bind_int64(q, 1, before > 0 ? before : INT64_MAX) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 2, (int64_t)limit + 1) != SQLITE_OK ||
	    bind_text(q, 3, f ? f->object_id : NULL, true) != SQLITE_OK ||
	    bind_text(q, 4, f ? f->token : NULL, true) != SQLITE_OK) {
		store_db_err(s, e, "listing events");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == limit) {
			*more = true;
			break;
		}
		if (store_array_grow((void **)&v, &cap, *n, sizeof(*v), limit, e) < 0)
			goto out;
		if (ev_from_row(q, &v[*n]) < 0) {
			corrupt(e, "event", "");
			goto out;
		}
		(*n)++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_db_err(s, e, "listing events");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	ret = store_read_end(s, ret, e);
	if (ret < 0) {
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return ret;
}
