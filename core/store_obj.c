/*
 * What every kind of object shares: read, create, replace, delete, list and
 * load, driven by each kind's struct kind (store_<kind>.c); the public verbs
 * taking the kind, and the kinds table they index.
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "grow.h"

/* ---- what every kind of object shares ---- */

const struct kind *const store_kinds[STORE_KINDS] = {
    [STORE_RTB] = &store_kind_rtb,       [STORE_ROUTE] = &store_kind_route,
    [STORE_SUBNET] = &store_kind_subnet, [STORE_SG] = &store_kind_sg,
    [STORE_SGR] = &store_kind_sgr,
};

static int precondition(struct vr_err *e, const char *what, const char *id, int64_t if_rev,
                        int64_t rev)
{
	return err_set(e, VR_ERR_PRECONDITION, "",
	               "If-Match revision %" PRId64 " does not match the current ETag of %s %s "
	               "(revision %" PRId64 ")",
	               if_rev, what, id, rev);
}

/*
 * CONFLICT on name when another object of kind k holds o's name (statement which
 * finds it; what names the search in a database error): -1 with e filled
 * then, 0 when none does.
 */
int store_name_taken(struct store *s, enum store_kind k, enum st which, const void *o,
                     const char *what, struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	const char *name = obj_cfield(o, d->name);
	char other[ID_MAX];

	if (store_first_ids(s, which, name, o, other, NULL, what, e) < 0)
		return -1;
	if (other[0])
		return err_set(e, VR_ERR_CONFLICT, "name", "a %s named \"%s\" already exists (%s)",
		               d->noun, name, other);
	return 0;
}

/* 1 and *out filled when id exists, 0 when not, -1 on error. */
int store_obj_read(struct store *s, enum store_kind k, const char *id, void *out, struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	sqlite3_stmt *q = st_get(s, d->get);
	char what[NOUN_WHAT_MAX];
	int ret = -1;
	int rc;

	rc = store_step_id(s, q, id, e);
	if (rc < 0)
		goto out;
	if (rc == SQLITE_DONE) {
		ret = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		snprintf(what, sizeof(what), "reading a %s", d->noun);
		store_db_err(s, e, what);
		goto out;
	}
	if (d->from_row(s, q, out, true, e) < 0) {
		d->clear(out);
		goto out;
	}
	ret = 1;
out:
	st_done(q);
	return ret;
}

/* The stored object id into out: NOT_FOUND when there is none, PRECONDITION when if_rev > 0 is not
 * its rev. */
static int obj_get(struct store *s, enum store_kind k, const char *id, void *out, int64_t if_rev,
                   struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	int rc = store_obj_read(s, k, id, out, e);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return err_set(e, VR_ERR_NOT_FOUND, "", "%s %s does not exist", d->noun, id);
	if (if_rev > 0 && if_rev != obj_rev(d, out))
		return precondition(e, d->noun, id, if_rev, obj_rev(d, out));
	return 0;
}

/* Turn a constraint failure of a write of o into CONFLICT or INVALID. */
static int obj_conflict(struct store *s, enum store_kind k, const void *o, const char *key, int rc,
                        const char *dbmsg, struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	const char *id = o;

	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return err_set(e, VR_ERR_CONFLICT, "id", "id %s already exists", id);
	/* prepare ran in this transaction; this is the schema agreeing with it. */
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY && d->dangling)
		return d->dangling(o, e);
	if (rc == SQLITE_CONSTRAINT_CHECK)
		return err_set(e, VR_ERR_INVALID, "", "%s %s: %s", d->noun, id, dbmsg);
	if (rc == SQLITE_CONSTRAINT_UNIQUE && d->unique)
		return d->unique(s, o, key, dbmsg, e);
	return err_set(e, VR_ERR_CONFLICT, "", "%s %s: %s", d->noun, id, dbmsg);
}

/* Run statement which (the kind's insert or update) for o, then write its children. */
int store_obj_write(struct store *s, enum store_kind k, enum st which, const void *o,
                    struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	sqlite3_stmt *q = st_get(s, which);
	char key[CIDR_STR_MAX] = "";
	char dbmsg[ERR_MSG_MAX];
	const char *id = o;
	int ret = -1;
	int rc;

	if (d->index_key)
		d->index_key(o, key);
	if (d->bind(q, o, key) < 0) {
		store_db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		if (sqlite3_changes(s->db) != 1) {
			err_set(e, VR_ERR_NOT_FOUND, "", "%s %s does not exist", d->noun, id);
			goto out;
		}
		st_done(q);
		return d->children ? d->children(s, o, e) : 0;
	}
	/* The lookups of the conflict mapping overwrite SQLite's message; keep it. */
	snprintf(dbmsg, sizeof(dbmsg), "%s", sqlite3_errmsg(s->db));
	st_done(q);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return obj_conflict(s, k, o, key, rc, dbmsg, e);
	return err_set(e, VR_ERR_INTERNAL, "", "database: writing %s %s: %s", d->noun, id, dbmsg);
out:
	st_done(q);
	return ret;
}

/*
 * o becomes the stored object cur (a write that needs none: same body): o's
 * own contents are freed, cur's are handed over and cur is left empty.
 */
static void obj_adopt(const struct kind *d, void *o, union any_obj *cur)
{
	d->clear(o);
	memcpy(o, cur, d->size);
	memset(cur, 0, sizeof(*cur));
}

/*
 * What a create or replace does first: old emptied, o as the caller gave it
 * kept in asked (for unfill), o validated again, the write transaction begun.
 */
static int obj_write_begin(struct store *s, const struct kind *d, void *o, union any_obj *old,
                           union any_obj *asked, struct vr_err *e)
{
	memset(old, 0, sizeof(*old));
	if (d->unfill)
		memcpy(asked, o, d->size);
	/* Again here, so the parsed fields (keys, overlap checks) agree with the text stored. */
	if (d->validate(o, e) < 0)
		return -1;
	return store_tx_begin(s, e);
}

/* What a create or replace does last, ret what it returns: o as asked again after a failure. */
static int obj_write_end(struct store *s, const struct kind *d, void *o, union any_obj *old,
                         const union any_obj *asked, int ret)
{
	store_tx_end(s);
	if (ret < 0 && d->unfill)
		d->unfill(o, asked);
	d->clear(old);
	return ret;
}

/*
 * Create o in one transaction. An id that is stored already makes
 * STORE_EXISTS with o replaced by the stored object when the bodies are the
 * same, CONFLICT when not; an empty id gets a new one. arg goes to prepare
 * (NULL from store_obj_create).
 */
int store_obj_create_with(struct store *s, enum store_kind k, void *o, const void *arg,
                          struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	union any_obj old, asked;
	char *id = o;
	int ret = -1;
	int rc;

	if (obj_write_begin(s, d, o, &old, &asked, e) < 0)
		return -1;
	if (id[0]) {
		rc = store_obj_read(s, k, id, &old, e);
		if (rc < 0)
			goto out;
		if (rc > 0) {
			if (d->inherit)
				d->inherit(o, &old);
			if (!d->same(&old, o)) {
				err_set(e, VR_ERR_CONFLICT, "id",
				        "id %s already exists with a different body", id);
				goto out;
			}
			obj_adopt(d, o, &old);
			ret = STORE_EXISTS;
			goto out;
		}
	} else {
		model_id_new(d->prefix, id);
	}
	if (d->prepare && d->prepare(s, o, NULL, arg, e) < 0)
		goto out;
	if (store_rev_bump(s, obj_field(o, d->rev), e) < 0)
		goto out;
	model_now(obj_field(o, d->created_at));
	memcpy(obj_field(o, d->updated_at), obj_field(o, d->created_at), TIME_MAX);
	if (store_obj_write(s, k, d->insert, o, e) < 0)
		goto out;
	if (store_write_commit(s, id, NULL, e) < 0)
		goto out;
	ret = STORE_CREATED;
out:
	return obj_write_end(s, d, o, &old, &asked, ret);
}

/*
 * Write o over the stored object o->id in one transaction (NOT_FOUND, PRECONDITION as
 * obj_get). A replace (undo NULL) gives o a new rev and updated_at; an undo
 * keeps o's own, as it was read before the write it undoes, and gets the new
 * revision in *undo. 0, or STORE_UNCHANGED with o filled from the stored
 * object when its writable fields are those stored already.
 */
static int obj_overwrite(struct store *s, enum store_kind k, void *o, int64_t if_rev, int64_t *undo,
                         struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	union any_obj old, asked;
	int ret = -1;

	if (obj_write_begin(s, d, o, &old, &asked, e) < 0)
		return -1;
	if (obj_get(s, k, o, &old, if_rev, e) < 0)
		goto out;
	if (d->inherit && !undo)
		d->inherit(o, &old);
	if (d->same(&old, o)) {
		/* Nothing to write: no new revision, updated_at and ETag stay. */
		obj_adopt(d, o, &old);
		ret = STORE_UNCHANGED;
		goto out;
	}
	if (d->prepare && d->prepare(s, o, &old, NULL, e) < 0)
		goto out;
	if (store_rev_bump(s, undo ? undo : obj_field(o, d->rev), e) < 0)
		goto out;
	if (!undo) {
		memcpy(obj_field(o, d->created_at), obj_field(&old, d->created_at), TIME_MAX);
		model_now(obj_field(o, d->updated_at));
	}
	if (store_obj_write(s, k, d->update, o, e) < 0)
		goto out;
	if (store_write_commit(s, o, NULL, e) < 0)
		goto out;
	ret = 0;
out:
	return obj_write_end(s, d, o, &old, &asked, ret);
}

/* Delete row id of kind k; a still-referenced row is REFERENCED. */
int store_row_delete(struct store *s, enum store_kind k, const char *id, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, store_kinds[k]->del);
	int ret = -1;
	int rc;

	rc = store_step_id(s, q, id, e);
	if (rc < 0)
		goto out;
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		/* A referrer the callers did not look for first; the schema catches it. */
		err_set(e, VR_ERR_REFERENCED, "", "%s %s is still in use", store_kinds[k]->noun,
		        id);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		store_db_err(s, e, "deleting");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* Delete the stored object id in one transaction (NOT_FOUND, PRECONDITION as obj_get; REFERENCED
 * while held). */
static int obj_delete(struct store *s, enum store_kind k, const char *id, int64_t if_rev,
                      struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	union any_obj old;
	int64_t rev;
	int ret = -1;

	memset(&old, 0, sizeof(old));
	if (d->may_delete && d->may_delete(id, e) < 0)
		return -1;
	if (store_tx_begin(s, e) < 0)
		return -1;
	if (obj_get(s, k, id, &old, if_rev, e) < 0)
		goto out;
	if (d->held && d->held(s, id, e) < 0)
		goto out;
	if (store_row_delete(s, k, id, e) < 0)
		goto out;
	if (store_rev_bump(s, &rev, e) < 0)
		goto out;
	if (store_write_commit(s, id, NULL, e) < 0)
		goto out;
	ret = 0;
out:
	store_tx_end(s);
	d->clear(&old);
	return ret;
}

/* ---- lists ---- */

/* A growth's result in the store's words. */
static int grown(int err, size_t max, struct vr_err *e)
{
	if (err == -E2BIG)
		return err_set(e, VR_ERR_INTERNAL, "", "database: a list of more than %zu rows",
		               max);
	return err ? oom(e) : 0;
}

/* Make room for one more element of size elem in *v holding n of *cap, at most max. */
int store_array_grow(void **v, size_t *cap, size_t n, size_t elem, size_t max, struct vr_err *e)
{
	return grown(vr_grow(v, cap, n + 1, elem, max), max, e);
}

/* LIMIT for a page of limit rows plus one more, which tells whether there is a next page. */
static int64_t page_limit(size_t limit)
{
	return limit >= (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit + 1;
}

/* A filter value, or SQL NULL (matching anything) when the filter is absent. */
static int bind_filter(sqlite3_stmt *q, int i, const char *v)
{
	return v ? sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(q, i);
}

/*
 * Read every row q yields, at most limit (SIZE_MAX: all), into a new array
 * that may grow to max objects.
 */
static int obj_collect(struct store *s, enum store_kind k, sqlite3_stmt *q, size_t limit,
                       bool with_desc, size_t max, void **out, size_t *n, bool *more,
                       struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	char what[NOUN_WHAT_MAX];
	char *v = NULL;
	size_t cnt = 0, cap = 0;
	int ret = -1;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cnt == limit) {
			*more = true;
			break;
		}
		/*
		 * Each element is zeroed just before its row fills it, not the
		 * whole new capacity as it doubles: a large list's unused tail then
		 * takes no memory (10,000 rules: 16,384 elements).
		 */
		if (grown(vr_grow_raw((void **)&v, &cap, cnt + 1, d->size, max), max, e) < 0)
			goto out;
		memset(v + cnt * d->size, 0, d->size);
		if (d->from_row(s, q, v + cnt * d->size, with_desc, e) < 0)
			goto out;
		cnt++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(what, sizeof(what), "listing %ss", d->noun);
		store_db_err(s, e, what);
		goto out;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	ret = 0;
out:
	/* cap, not cnt: a row that failed half way may own a description or targets. */
	d->free_array(v, cap);
	return ret;
}

int store_obj_list(struct store *s, enum store_kind k, const struct store_filter *f,
                   const char *after, size_t limit, void **out, size_t *n, bool *more,
                   struct vr_err *e)
{
	static const struct store_filter any;
	const struct kind *d = store_kinds[k];
	const char *filter[LIST_BIND_MAX];
	size_t nfilter = 0;
	sqlite3_stmt *q =
	    st_get(s, d->list_by ? d->list_by(f ? f : &any, filter, &nfilter) : d->list);
	bool bound;
	int ret = -1;

	*out = NULL;
	*n = 0;
	*more = false;
	bound = bind_text(q, 1, after, false) == SQLITE_OK &&
	        sqlite3_bind_int64(q, 2, page_limit(limit)) == SQLITE_OK;
	for (size_t i = 0; bound && i < nfilter; i++)
		bound = bind_filter(q, (int)i + 3, filter[i]) == SQLITE_OK;
	if (!bound) {
		store_db_err(s, e, "binding");
		goto out;
	}
	ret = obj_collect(s, k, q, limit, true, LIST_MAX, out, n, more, e);
out:
	st_done(q);
	return ret;
}

/*
 * Step through every stored object of kind k in id order, handing each to fn
 * (descriptions only when with_desc). A nonzero return from fn stops the walk
 * and is returned; what names the walk in a database error.
 */
int store_walk_rows(struct store *s, enum store_kind k, bool with_desc, walk_fn fn, void *arg,
                    const char *what, struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	sqlite3_stmt *q = st_get(s, d->load);
	union any_obj o;
	int ret = -1;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int frc = d->from_row(s, q, &o, with_desc, e);

		if (frc == 0)
			frc = fn(arg, k, &o, e);
		d->clear(&o);
		if (frc) {
			ret = frc;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		store_db_err(s, e, what);
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* Every stored object of kind k, in id order, into a new array of at most max. */
int store_obj_load(struct store *s, enum store_kind k, bool with_desc, size_t max, void **out,
                   size_t *n, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, store_kinds[k]->load);
	bool more = false;
	int ret = obj_collect(s, k, q, SIZE_MAX, with_desc, max, out, n, &more, e);

	st_done(q);
	return ret;
}

/* Free what store_obj_load gave, for a load that fails after it. */
void store_obj_unload(enum store_kind k, void **v, size_t *n)
{
	store_kinds[k]->free_array(*v, *n);
	*v = NULL;
	*n = 0;
}

const char *store_kind_key(enum store_kind k)
{
	return k < STORE_KINDS ? store_kinds[k]->key : "?";
}

/* ---- the verbs of store.h ---- */

int store_obj_create(struct store *s, enum store_kind k, void *obj, struct vr_err *e)
{
	return store_obj_create_with(s, k, obj, NULL, e);
}

int store_obj_get(struct store *s, enum store_kind k, const char *id, void *out, struct vr_err *e)
{
	return obj_get(s, k, id, out, 0, e);
}

int store_obj_replace(struct store *s, enum store_kind k, void *obj, int64_t if_rev,
                      struct vr_err *e)
{
	return obj_overwrite(s, k, obj, if_rev, NULL, e);
}

int store_obj_delete(struct store *s, enum store_kind k, const char *id, int64_t if_rev,
                     struct vr_err *e)
{
	return obj_delete(s, k, id, if_rev, e);
}

void store_objs_free(enum store_kind k, void *v, size_t n)
{
	if (k < STORE_KINDS)
		store_kinds[k]->free_array(v, n);
}

/* ---- undoing a write (?require_active=true) ---- */

int store_obj_restore(struct store *s, enum store_kind k, void *o, int64_t if_rev, int64_t *rev,
                      struct vr_err *e)
{
	/* Only the version the undone write made: a later write stays. */
	return obj_overwrite(s, k, o, if_rev, rev, e);
}
