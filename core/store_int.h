/*
 * What the store's files share, and nothing outside them includes:
 *
 *   store_db.c        the handle: open, pragmas, migrations, integrity,
 *                     statements, transactions, the revision
 *   store_obj.c       what every kind of object shares (read, write, create,
 *                     replace, delete, list, load) and the kinds table
 *   store_rtb.c, store_route.c, store_subnet.c, store_sg.c
 *                     each kind's own columns, checks and conflict messages
 *   store_settings.c  the one settings row
 *   store_config.c    the whole desired state at once (GET/PUT /v1/config)
 *   store_audit.c     the audit log: one event per write, in the write's transaction
 *
 * store.h stays the contract. Everything here is private to those files:
 * the functions they share carry the store_ prefix, the small helpers below
 * are static inline.
 */
#ifndef VR_STORE_INT_H
#define VR_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "model.h"
#include "store.h"

/*
 * What a second next hop for one table, destination and metric is told: a
 * route here is one kernel route with one gateway; ECMP would need routes
 * with several next hops, a different model.
 */
#define NO_MULTIPATH                                                                               \
	"multipath (several next hops for one destination and metric, ECMP) is not supported: "    \
	"give this route another metric, or change the one that exists"
/* Objects of one kind a list holds (a growth bound): a whole-state count is a u32 too. */
#define LIST_MAX ((size_t)UINT32_MAX)
/* A database error's words about a kind: "listing security group rules". */
#define NOUN_WHAT_MAX 64
/* Most filter values one list statement binds (after ?1 after and ?2 limit). */
#define LIST_BIND_MAX 3

/* Every statement the store runs, prepared once at open (their SQL: store_db.c). */
enum st {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_REV_GET,
	ST_REV_BUMP,
	ST_RTB_GET,
	ST_RTB_LIST,
	ST_RTB_LOAD,
	ST_RTB_INSERT,
	ST_RTB_UPDATE,
	ST_RTB_DELETE,
	ST_RTB_BY_NAME,
	ST_RTB_BY_NO,
	ST_RTB_NOS_IN,
	ST_RTB_USER,
	ST_RTB_ENSURE,
	ST_SET_ENSURE,
	ST_RT_GET,
	ST_RT_LIST,
	ST_RT_LIST_TABLE,
	ST_RT_LOAD,
	ST_RT_INSERT,
	ST_RT_UPDATE,
	ST_RT_DELETE,
	ST_RT_CONFLICT,
	ST_SG_GET,
	ST_SG_LIST,
	ST_SG_LOAD,
	ST_SG_INSERT,
	ST_SG_UPDATE,
	ST_SG_DELETE,
	ST_SG_EXISTS,
	ST_SG_BY_NAME,
	ST_SG_REFERRER,
	ST_SG_TG_GET,
	ST_SG_TG_CLEAR,
	ST_SG_TG_INSERT,
	ST_SGR_GET,
	ST_SGR_LIST,
	ST_SGR_LIST_GROUP,
	ST_SGR_LIST_REMOTE,
	ST_SGR_LOAD,
	ST_SGR_INSERT,
	ST_SGR_UPDATE,
	ST_SGR_DELETE,
	ST_SGR_CONFLICT,
	ST_RTB_SUBNET_USER,
	ST_SN_GET,
	ST_SN_LIST,
	ST_SN_LOAD,
	ST_SN_INSERT,
	ST_SN_UPDATE,
	ST_SN_DELETE,
	ST_SN_BY_NAME,
	ST_SN_FAMILY,
	ST_SET_GET,
	ST_SET_PUT,
	ST_ROUTERS,
	ST_SG_PARK,
	ST_EV_INSERT,
	ST_EV_PRUNE,
	ST_EV_LIST,
	ST__N
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__N];
	int64_t audit_keep; /* events kept (store_audit_keep) */
	/*
	 * Inside store_group_begin/end: the group's transaction is open, and a
	 * write's begin/commit/end are a savepoint's (in_write: one is open).
	 */
	bool group;
	bool in_write;
	/*
	 * Read transactions open (store_read_begin/end): the first begins one, the
	 * ones inside it read the same state, and the last ends it, so a caller's
	 * store_snapshot_begin makes the store's own read functions one snapshot.
	 */
	int reads;
	/*
	 * Change capture (store_replica.c): the hook store_tx_commit calls with
	 * what the transaction changed (NULL: none, no triggers installed), and
	 * the statements that read and clear the TEMP change table. hook_off: the
	 * replication applier's own writes, which etcd has already.
	 */
	store_commit_hook hook;
	void *hook_arg;
	bool hook_off;
	sqlite3_stmt *ch_list, *ch_clear;
};

/* ---- store_db.c: errors, transactions, lookups, the revision ---- */

/* A database failure as INTERNAL naming what was done; notes a damaged file for store_probe. */
int store_db_err(struct store *s, struct vr_err *e, const char *what);
/* Run constant SQL (no rows) outside the cached statements. */
int store_db_exec(struct store *s, const char *sql, struct vr_err *e);

/*
 * store_replica.c: before a commit (or a group write's RELEASE), hand what
 * the transaction changed to the commit hook; 0 when there is no hook or no
 * change, -1 with e when the hook refuses (the caller rolls back).
 */
int store_changes_flush(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
/* Finalize the change capture's statements (store_close). */
void store_changes_close(struct store *s);

/* A write transaction (BEGIN IMMEDIATE) and its commit. */
int store_tx_begin(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
int store_tx_commit(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
/* Undo whatever the open transaction did; a no-op once it committed. */
void store_tx_end(struct store *s);
/*
 * Commit a write transaction that changed the desired state, with its audit
 * event when the calling thread armed one (store_audit_arm): object_id is the
 * object written (NULL: none), d the plan of a whole-state replace (NULL:
 * not one).
 */
int store_write_commit(struct store *s, const char *object_id, const struct store_diff *d,
                       struct vr_err *e) __attribute__((warn_unused_result));
/* A read transaction and the revision it sees: what is read until store_tx_end belongs to it. */
int store_read_begin(struct store *s, int64_t *rev, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * End what store_read_begin began: ret is what the reads returned (0 when
 * they went well), and stays so unless the commit fails (-1).
 */
int store_read_end(struct store *s, int ret, struct vr_err *e) __attribute__((warn_unused_result));
/* End a read begun by store_read_begin whose outcome does not matter (an error path). */
void store_read_abort(struct store *s);
int store_rev_read(struct store *s, int64_t *rev, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Bump the revision inside the caller's write transaction and return the new value. */
int store_rev_bump(struct store *s, int64_t *rev, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * The first row of q, whose parameters the caller bound (bound false: that
 * failed): column 0 into id and column 1 into id2 unless NULL, "" when there
 * is no row. what names the search in a database error.
 */
int store_first_row(struct store *s, sqlite3_stmt *q, bool bound, char *id, char *id2,
                    const char *what, struct vr_err *e) __attribute__((warn_unused_result));
/*
 * Bind id to ?1 of q and step q once: SQLite's result code, or -1 with e
 * filled when the binding fails. The caller resets q (st_done).
 */
int store_step_id(struct store *s, sqlite3_stmt *q, const char *id, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Run statement which (no rows) with ?1 bound to id: 0, or -1 with a database error naming what. */
int store_run_id(struct store *s, enum st which, const char *id, const char *what, struct vr_err *e)
    __attribute__((warn_unused_result));
/* store_first_row of statement which with ?1 and, unless NULL, ?2 bound to texts. */
int store_first_ids(struct store *s, enum st which, const char *p1, const char *p2, char *id,
                    char *id2, const char *what, struct vr_err *e)
    __attribute__((warn_unused_result));

/* ---- small helpers every file uses ---- */

static inline int oom(struct vr_err *e)
{
	return err_set(e, VR_ERR_INTERNAL, "", "out of memory");
}

static inline sqlite3_stmt *st_get(struct store *s, enum st i)
{
	return s->st[i];
}

/*
 * Every use of a cached statement ends here: an unreset SELECT would keep its
 * read transaction (and its WAL snapshot) open until the next use.
 */
static inline void st_done(sqlite3_stmt *q)
{
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
}

/* Text bound for the duration of one step; NULL and "" bind as SQL NULL when null_empty. */
static inline int bind_text(sqlite3_stmt *q, int i, const char *v, bool null_empty)
{
	if (!v || (null_empty && !v[0]))
		return null_empty ? sqlite3_bind_null(q, i) : sqlite3_bind_text(q, i, "", 0, NULL);
	return sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

/* Copy a text column into a fixed buffer; -1 when it does not fit (a corrupt row). */
static inline int col_copy(sqlite3_stmt *q, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	int n = sqlite3_column_bytes(q, col);

	buf[0] = '\0';
	if (!t)
		return 0;
	if (n < 0 || (size_t)n >= size)
		return -1;
	memcpy(buf, t, (size_t)n);
	buf[n] = '\0';
	return 0;
}

/* A description column as the model holds it: "" becomes NULL, saving an allocation. */
static inline int col_desc(sqlite3_stmt *q, int col, char **out, struct vr_err *e)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	*out = NULL;
	if (!t || !t[0])
		return 0;
	*out = strdup((const char *)t);
	if (!*out)
		return oom(e);
	return 0;
}

static inline int corrupt(struct vr_err *e, const char *what, const char *id)
{
	return err_set(e, VR_ERR_INTERNAL, "", "database: stored %s %s is malformed", what, id);
}

/*
 * Make room for one more element of size elem in *v holding n of *cap, at
 * most max (vr_grow; new room zeroed). 0, or -1 with e INTERNAL.
 */
int store_array_grow(void **v, size_t *cap, size_t n, size_t elem, size_t max, struct vr_err *e)
    __attribute__((warn_unused_result));

/* ---- what every kind of object shares (store_obj.c) ---- */

/*
 * One kind of object as the shared reads and writes see it: its statements,
 * how a row becomes an object, what a write checks on top of the common
 * steps, and how its constraint failures read. A NULL hook does nothing (for
 * dangling and unique: the plain CONFLICT). Each kind's file defines its own.
 */
struct kind {
	const char *key;    /* its array in a whole-state document */
	const char *prefix; /* of the ids the store assigns */
	const char *noun;   /* in messages: "route table" */
	size_t size;        /* of its struct */
	/* Offsets of the fields the shared code handles; name 0: the kind has none. */
	size_t created_at, updated_at, rev, name;
	enum st get, insert, update, del, load, list;
	/* A whole-state replace updates a changed object rather than delete and insert it. */
	bool in_place;
	/* Fill o (zeroed first) from a row of q; the description only when with_desc. */
	int (*from_row)(struct store *s, sqlite3_stmt *q, void *o, bool with_desc,
	                struct vr_err *e);
	void (*clear)(void *o);
	void (*free_array)(void *v, size_t n);
	int (*validate)(void *o, struct vr_err *e);
	/* Take what o leaves unset from the stored cur, before the two are compared. */
	void (*inherit)(void *o, const void *cur);
	bool (*same)(const void *cur, const void *o);
	/* The canonical text (CIDR_STR_MAX) its unique index holds, for bind and unique. */
	void (*index_key)(const void *o, char *key);
	/* Bind every column of the insert and update statements; -1 when one fails. */
	int (*bind)(sqlite3_stmt *q, const void *o, const char *key);
	/* Write the rows of other tables that belong to o, after o's own. */
	int (*children)(struct store *s, const void *o, struct vr_err *e);
	/*
	 * Checks and fills inside the write's transaction, before the revision is
	 * bumped: old is the stored object (NULL for a create), arg what the
	 * caller of the create passed.
	 */
	int (*prepare)(struct store *s, void *o, const void *old, const void *arg,
	               struct vr_err *e);
	/*
	 * After a create or replace that failed: put back into o what inherit or
	 * prepare filled in (asked: o as the caller gave it), so a resend asks the
	 * same again.
	 */
	void (*unfill)(void *o, const void *asked);
	/* CONFLICT for an object no one may delete, before anything is read. */
	int (*may_delete)(const char *id, struct vr_err *e);
	/* REFERENCED while something else still needs object id. */
	int (*held)(struct store *s, const char *id, struct vr_err *e);
	/* The errors of a failed foreign key and of a failed unique index (naming the other). */
	int (*dangling)(const void *o, struct vr_err *e);
	int (*unique)(struct store *s, const void *o, const char *key, const char *dbmsg,
	              struct vr_err *e);
	/*
	 * A kind that lists with filters: the statement for f, and the values it
	 * binds to ?3, ?4, ... into bind[0..*n) (NULL binds as SQL NULL: any).
	 * NULL hook: statement list, nothing bound.
	 */
	enum st (*list_by)(const struct store_filter *f, const char *bind[LIST_BIND_MAX],
	                   size_t *n);
};

/* Each kind's file defines its entry; store_obj.c gathers them by enum store_kind. */
extern const struct kind store_kind_rtb, store_kind_route, store_kind_subnet, store_kind_sg,
    store_kind_sgr;
extern const struct kind *const store_kinds[STORE_KINDS];

/* The model's typed functions behind the void pointers of struct kind, for model m. */
#define KIND_MODEL_FNS(m)                                                                          \
	static void m##_clear_any(void *o)                                                         \
	{                                                                                          \
		model_##m##_clear(o);                                                              \
	}                                                                                          \
	static void m##_free_any(void *v, size_t n)                                                \
	{                                                                                          \
		model_##m##s_free(v, n);                                                           \
	}                                                                                          \
	static int m##_validate_any(void *o, struct vr_err *e)                                     \
	{                                                                                          \
		return model_##m##_validate(o, e);                                                 \
	}                                                                                          \
	static bool m##_same_any(const void *cur, const void *o)                                   \
	{                                                                                          \
		return model_##m##_same(cur, o);                                                   \
	}
/*
 * What opens every struct kind initialiser: the words key, prefix and noun,
 * the layout of struct type, the functions KIND_MODEL_FNS(m) defined, and the
 * statements, all named alike (ST_<p>_GET, ST_<p>_INSERT...).
 */
#define KIND(m, p, type, key_, prefix_, noun_)                                                     \
	.key = key_, .prefix = prefix_, .noun = noun_, .size = sizeof(type),                       \
	.created_at = offsetof(type, created_at), .updated_at = offsetof(type, updated_at),        \
	.rev = offsetof(type, rev), .clear = m##_clear_any, .free_array = m##_free_any,            \
	.validate = m##_validate_any, .same = m##_same_any, .get = ST_##p##_GET,                   \
	.insert = ST_##p##_INSERT, .update = ST_##p##_UPDATE, .del = ST_##p##_DELETE,              \
	.load = ST_##p##_LOAD, .list = ST_##p##_LIST

/* The generic code reaches every object's id as the start of its struct. */
_Static_assert(offsetof(struct route_table, id) == 0, "id first");
_Static_assert(offsetof(struct route, id) == 0, "id first");
_Static_assert(offsetof(struct subnet, id) == 0, "id first");
_Static_assert(offsetof(struct security_group, id) == 0, "id first");
_Static_assert(offsetof(struct sg_rule, id) == 0, "id first");

/* Room for one object of any kind. */
union any_obj {
	struct route_table t;
	struct route r;
	struct subnet sn;
	struct security_group g;
	struct sg_rule sr;
};

/* The field at offset off of o (an offset from struct kind), to write; obj_cfield to read. */
static inline void *obj_field(void *o, size_t off)
{
	return (char *)o + off;
}

static inline const void *obj_cfield(const void *o, size_t off)
{
	return (const char *)o + off;
}

static inline int64_t obj_rev(const struct kind *d, const void *o)
{
	return *(const int64_t *)obj_cfield(o, d->rev);
}

/* For a list_by hook with one optional filter v: by_v with v bound when v is given, else all. */
static inline enum st list_by_one(const char *v, enum st by_v, enum st all,
                                  const char *bind[LIST_BIND_MAX], size_t *n)
{
	bind[0] = v;
	*n = v ? 1 : 0;
	return v ? by_v : all;
}

/* Called for every object of a walk; a nonzero return stops it. */
typedef int (*walk_fn)(void *arg, enum store_kind kind, const void *obj, struct vr_err *e);

/* store_obj_create with arg for the kind's prepare hook (store_obj_create passes NULL). */
int store_obj_create_with(struct store *s, enum store_kind k, void *o, const void *arg,
                          struct vr_err *e) __attribute__((warn_unused_result));
/* 1 and *out filled when id exists, 0 when not, -1 on error. */
int store_obj_read(struct store *s, enum store_kind k, const char *id, void *out, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Run statement which (the kind's insert or update) for o, then write its children. */
int store_obj_write(struct store *s, enum store_kind k, enum st which, const void *o,
                    struct vr_err *e) __attribute__((warn_unused_result));
/* Delete row id of kind k; a still-referenced row is REFERENCED. */
int store_row_delete(struct store *s, enum store_kind k, const char *id, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * CONFLICT on name when another object of kind k holds o's name (statement which
 * finds it; what names the search in a database error): -1 with e filled
 * then, 0 when none does.
 */
int store_name_taken(struct store *s, enum store_kind k, enum st which, const void *o,
                     const char *what, struct vr_err *e) __attribute__((warn_unused_result));
/*
 * Step through every stored object of kind k in id order, handing each to fn
 * (descriptions only when with_desc). A nonzero return from fn stops the walk
 * and is returned; what names the walk in a database error.
 */
int store_walk_rows(struct store *s, enum store_kind k, bool with_desc, walk_fn fn, void *arg,
                    const char *what, struct vr_err *e) __attribute__((warn_unused_result));
/* Every stored object of kind k, in id order, into a new array of at most max. */
int store_obj_load(struct store *s, enum store_kind k, bool with_desc, size_t max, void **out,
                   size_t *n, struct vr_err *e) __attribute__((warn_unused_result));
/* Free what store_obj_load gave, for a load that fails after it. */
void store_obj_unload(enum store_kind k, void **v, size_t *n);

/* ---- what the kinds' files lend each other ---- */

/* store_rtb.c: which numbers of [RTB_AUTO_FIRST, RTB_AUTO_LAST] are taken, to hand out others. */
struct rtb_nos {
	uint8_t used[(RTB_AUTO_LAST - RTB_AUTO_FIRST + 1 + 7) / 8];
};
/* What a table is told when no number is left (the range's first and last). */
#define RTB_NONE_FREE_FMT "no free table number left between %u and %u"
/* Mark no taken; a number outside the range needs no mark and gets none. */
void store_rtb_nos_mark(struct rtb_nos *u, uint32_t no);
/* The lowest number >= from in the range that is not taken; 0 when none is left. */
uint32_t store_rtb_nos_free(const struct rtb_nos *u, uint32_t from);

/* store_rtb.c: INVALID naming route_table_id, the table an object refers to does not exist. */
int store_no_table(struct vr_err *e, const char *table_id);
/*
 * store_rtb.c: the kernel number of table table_id into *no and its router
 * into router (ROUTER_MAX; INVALID naming router when one given differs);
 * INVALID when the table does not exist. A router's missing main table is
 * made first (store_router_ensure_in).
 */
int store_table_of(struct store *s, const char *table_id, uint32_t *no, char *router,
                   struct vr_err *e) __attribute__((warn_unused_result));
/*
 * store_rtb.c: inside the caller's write, router's main table and settings
 * row when missing (nothing for local), stamped with the revision the write
 * is about to make.
 */
int store_router_ensure_in(struct store *s, const char *router, struct vr_err *e)
    __attribute__((warn_unused_result));
/* store_route.c: mirrors routes.metric_key: the kernel stores IPv6 metric 0 as 1024. */
int64_t store_route_metric_key(const struct route *r);
/* The same from a route's family and metric alone. */
int64_t store_metric_key(int family, uint32_t metric);
/* store_sg.c: words for what a rule allows: "ingress tcp ports 22-22 from 10.0.0.0/8". */
void store_sgr_describe(const struct sg_rule *r, const char *cidr_key, char *buf, size_t size);
/* store_settings.c: read the settings row; write set's flags, managed, updated_at and rev. */
int store_settings_read(struct store *s, const char *router, struct settings *out, struct vr_err *e)
    __attribute__((warn_unused_result));
int store_settings_write(struct store *s, const struct settings *set, struct vr_err *e)
    __attribute__((warn_unused_result));

#endif
