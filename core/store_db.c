/*
 * The store's handle: opening a database (private file, pragmas, the
 * integrity check, migrations), every statement it runs, transactions, the
 * revision, and the damage a handle noticed. store_int.h lists the files
 * around it.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "embedded.h"
#include "log.h"
#include "metrics.h"

/* How long a writer waits for another connection's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000
/* Longest constant SQL line built here (the user_version pragma). */
#define PRAGMA_SQL_MAX 64
/* WAL pages after which a commit checkpoints: SQLite's own default, which wal_commit keeps. */
#define STORE_WAL_AUTOCHECKPOINT 1000
/* The integrity check at start; quotes at most its first 5 findings. */
#define CHECK_SQL "PRAGMA quick_check(5)"

#define ROUTE_COLS                                                                                 \
	"r.id, r.route_table_id, r.destination, r.type, r.via, r.dev, r.metric, r.description, "   \
	"r.created_at, r.updated_at, r.rev, t.table_no, t.router FROM routes r JOIN route_tables " \
	"t "                                                                                       \
	"ON t.id = r.route_table_id"
#define RTB_COLS                                                                                   \
	"id, name, table_no, description, created_at, updated_at, rev, router FROM route_tables"
#define SG_COLS "id, name, description, created_at, updated_at, rev FROM security_groups"
#define SGR_COLS                                                                                   \
	"id, security_group_id, direction, protocol, port_from, port_to, cidr, "                   \
	"remote_security_group_id, description, created_at, updated_at, rev FROM "                 \
	"security_group_rules"
#define SN_COLS                                                                                    \
	"s.id, s.name, s.cidr, s.interface, s.router_ip, s.route_table_id, s.description, "        \
	"s.created_at, s.updated_at, s.rev, t.table_no, t.router FROM subnets s JOIN "             \
	"route_tables "                                                                            \
	"t ON t.id = s.route_table_id"
/* A rule's identity for the uniqueness check, mirroring security_group_rules_key. */
#define SGR_KEY_MATCH                                                                              \
	"security_group_id = ?1 AND direction = ?2 AND protocol = ?3 AND IFNULL(port_from, 0) = "  \
	"?4 "                                                                                      \
	"AND IFNULL(port_to, 0) = ?5 AND IFNULL(cidr_key, remote_security_group_id) = ?6"

/* What every kind's rows are read by: its id, all in id order; and its delete. */
#define KIND_SQL(p, cols, id, table)                                                               \
	[ST_##p##_GET] = "SELECT " cols " WHERE " id " = ?1",                                      \
	[ST_##p##_LOAD] = "SELECT " cols " ORDER BY " id,                                          \
	[ST_##p##_DELETE] = "DELETE FROM " table " WHERE id = ?1"
/* A page of rows with id > ?1, at most ?2, that also meet cond ("... AND ", or ""). */
#define KIND_PAGE(cols, id, cond) "SELECT " cols " WHERE " cond id " > ?1 ORDER BY " id " LIMIT ?2"

static const char *const st_sql[ST__N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT vr_write",
    [ST_RELEASE] = "RELEASE vr_write",
    [ST_ROLLBACK_TO] = "ROLLBACK TO vr_write",
    [ST_REV_GET] = "SELECT value FROM meta WHERE key = 'revision'",
    [ST_REV_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value",
    KIND_SQL(RTB, RTB_COLS, "id", "route_tables"),
    /* NULL matches any router. */
    [ST_RTB_LIST] = KIND_PAGE(RTB_COLS, "id", "(?3 IS NULL OR router = ?3) AND "),
    [ST_RTB_INSERT] = "INSERT INTO route_tables (id, name, table_no, description, created_at, "
                      "updated_at, rev, router) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_RTB_UPDATE] = "UPDATE route_tables SET name = ?2, table_no = ?3, description = ?4, "
                      "updated_at = ?6, rev = ?7 WHERE id = ?1 AND router = ?8",
    /* Names and numbers are unique per router (?3). */
    [ST_RTB_BY_NAME] = "SELECT id FROM route_tables WHERE name = ?1 AND id <> ?2 AND router = ?3",
    [ST_RTB_BY_NO] = "SELECT id FROM route_tables WHERE table_no = ?1 AND id <> ?2 AND router = ?3",
    /* A router's main table and settings row, made by its first write (store_router_ensure). */
    [ST_RTB_ENSURE] = "INSERT INTO route_tables (id, router, name, table_no, description, "
                      "created_at, updated_at, rev) VALUES (?1, ?2, 'main', 254, '', ?3, ?3, ?4) "
                      "ON CONFLICT DO NOTHING",
    [ST_SET_ENSURE] = "INSERT INTO settings (router, managed, forward_v4, forward_v6, "
                      "updated_at, rev) VALUES (?1, 0, 0, 0, ?2, ?3) ON CONFLICT DO NOTHING",
    [ST_RTB_NOS_IN] = "SELECT table_no FROM route_tables WHERE table_no BETWEEN ?1 AND ?2",
    [ST_RTB_USER] = "SELECT id FROM routes WHERE route_table_id = ?1 ORDER BY id LIMIT 1",
    KIND_SQL(RT, ROUTE_COLS, "r.id", "routes"),
    /* NULL matches any router. */
    [ST_RT_LIST] = KIND_PAGE(ROUTE_COLS, "r.id", "(?3 IS NULL OR t.router = ?3) AND "),
    [ST_RT_LIST_TABLE] = KIND_PAGE(ROUTE_COLS, "r.id",
                                   "r.route_table_id = ?3 AND (?4 IS NULL OR t.router = ?4) AND "),
    [ST_RT_INSERT] = "INSERT INTO routes (id, route_table_id, destination, dst_key, family, "
                     "type, via, dev, metric, description, created_at, updated_at, rev) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_RT_UPDATE] = "UPDATE routes SET route_table_id = ?2, destination = ?3, dst_key = ?4, "
                     "family = ?5, type = ?6, via = ?7, dev = ?8, metric = ?9, "
                     "description = ?10, updated_at = ?12, rev = ?13 WHERE id = ?1",
    [ST_RT_CONFLICT] = "SELECT id, metric FROM routes WHERE route_table_id = ?1 AND "
                       "dst_key = ?2 AND metric_key = ?3 AND id <> ?4 LIMIT 1",
    KIND_SQL(SG, SG_COLS, "id", "security_groups"),
    [ST_SG_LIST] = KIND_PAGE(SG_COLS, "id", ""),
    [ST_SG_INSERT] = "INSERT INTO security_groups (id, name, description, created_at, "
                     "updated_at, rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SG_UPDATE] = "UPDATE security_groups SET name = ?2, description = ?3, updated_at = ?5, "
                     "rev = ?6 WHERE id = ?1",
    [ST_SG_EXISTS] = "SELECT id FROM security_groups WHERE id = ?1",
    [ST_SG_BY_NAME] = "SELECT id FROM security_groups WHERE name = ?1 AND id <> ?2",
    [ST_SG_REFERRER] = "SELECT id, security_group_id FROM security_group_rules WHERE "
                       "remote_security_group_id = ?1 AND security_group_id <> ?1 ORDER BY id "
                       "LIMIT 1",
    [ST_SG_TG_GET] = "SELECT target FROM sg_targets WHERE group_id = ?1 ORDER BY position",
    [ST_SG_TG_CLEAR] = "DELETE FROM sg_targets WHERE group_id = ?1",
    [ST_SG_TG_INSERT] = "INSERT INTO sg_targets (group_id, position, target, target_key) "
                        "VALUES (?1, ?2, ?3, ?4)",
    KIND_SQL(SGR, SGR_COLS, "id", "security_group_rules"),
    [ST_SGR_LIST] = KIND_PAGE(SGR_COLS, "id", ""),
    [ST_SGR_LIST_GROUP] = KIND_PAGE(SGR_COLS, "id", "security_group_id = ?3 AND "),
    [ST_SGR_LIST_REMOTE] = KIND_PAGE(SGR_COLS, "id",
                                     "remote_security_group_id = ?3 AND "
                                     "(?4 IS NULL OR security_group_id = ?4) AND "),
    [ST_SGR_INSERT] = "INSERT INTO security_group_rules (id, security_group_id, direction, "
                      "protocol, port_from, port_to, cidr, cidr_key, remote_security_group_id, "
                      "description, created_at, updated_at, rev) VALUES (?1, ?2, ?3, ?4, ?5, "
                      "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_SGR_UPDATE] = "UPDATE security_group_rules SET security_group_id = ?2, direction = ?3, "
                      "protocol = ?4, port_from = ?5, port_to = ?6, cidr = ?7, cidr_key = ?8, "
                      "remote_security_group_id = ?9, description = ?10, updated_at = ?12, "
                      "rev = ?13 WHERE id = ?1",
    [ST_SGR_CONFLICT] =
        "SELECT id FROM security_group_rules WHERE " SGR_KEY_MATCH " AND id <> ?7 LIMIT 1",
    [ST_RTB_SUBNET_USER] = "SELECT id FROM subnets WHERE route_table_id = ?1 ORDER BY id LIMIT 1",
    KIND_SQL(SN, SN_COLS, "s.id", "subnets"),
    /* One statement for every filter combination: NULL matches any. */
    [ST_SN_LIST] = KIND_PAGE(SN_COLS, "s.id",
                             "(?3 IS NULL OR s.route_table_id = ?3) AND "
                             "(?4 IS NULL OR s.interface = ?4) AND "
                             "(?5 IS NULL OR t.router = ?5) AND "),
    [ST_SN_INSERT] = "INSERT INTO subnets (id, name, cidr, cidr_key, family, interface, "
                     "router_ip, route_table_id, description, created_at, updated_at, rev) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_SN_UPDATE] = "UPDATE subnets SET name = ?2, cidr = ?3, cidr_key = ?4, family = ?5, "
                     "interface = ?6, router_ip = ?7, route_table_id = ?8, description = ?9, "
                     "updated_at = ?11, rev = ?12 WHERE id = ?1",
    /* Names are unique per router (?3). */
    [ST_SN_BY_NAME] = "SELECT s.id FROM subnets s JOIN route_tables t ON t.id = "
                      "s.route_table_id WHERE s.name = ?1 AND s.id <> ?2 AND t.router = ?3",
    /* Overlap matters within one router (?3) only. */
    [ST_SN_FAMILY] = "SELECT s.id, s.name, s.cidr FROM subnets s JOIN route_tables t ON t.id = "
                     "s.route_table_id WHERE s.family = ?1 AND s.id <> ?2 AND t.router = ?3 "
                     "ORDER BY s.id",
    /* Every router the desired state names (its tables; settings written for it). */
    [ST_ROUTERS] = "SELECT router FROM route_tables UNION SELECT router FROM settings ORDER BY 1",
    [ST_SET_GET] = "SELECT managed, forward_v4, forward_v6, updated_at, rev FROM settings "
                   "WHERE router = ?1",
    /* A router without a row yet gets one. */
    [ST_SET_PUT] = "INSERT INTO settings (router, managed, forward_v4, forward_v6, updated_at, "
                   "rev) VALUES (?6, ?5, ?1, ?2, ?3, ?4) ON CONFLICT (router) DO UPDATE SET "
                   "managed = ?5, forward_v4 = ?1, forward_v6 = ?2, updated_at = ?3, rev = ?4",
    /* A whole-state replace checks references at its commit: the order of its writes is free. */
    /*
     * Park a group under a name no client can write (names are printable), so
     * that groups swapping names never collide half way.
     */
    [ST_SG_PARK] = "UPDATE security_groups SET name = char(1) || id WHERE id = ?1",
    [ST_EV_INSERT] = "INSERT INTO events (time, token_name, client, method, path, object_id, "
                     "status, revision, plan_added, plan_changed, plan_removed, plan_unchanged) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_EV_PRUNE] = "DELETE FROM events WHERE id <= ?1",
    [ST_EV_LIST] = "SELECT id, time, token_name, client, method, path, object_id, status, "
                   "revision, plan_added, plan_changed, plan_removed, plan_unchanged FROM events "
                   "WHERE id < ?1 AND (?3 IS NULL OR object_id = ?3) AND "
                   "(?4 IS NULL OR token_name = ?4) ORDER BY id DESC LIMIT ?2",
};

/*
 * The first malformed-database error any handle of this process met (SQLite
 * never repairs a file, so it stays true until restart): GET /healthz says so.
 */
static pthread_mutex_t damage_lock = PTHREAD_MUTEX_INITIALIZER;
static char damage[ERR_MSG_MAX];

static bool code_is_damage(int code)
{
	return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

static void damage_note(struct store *s)
{
	if (!code_is_damage(sqlite3_errcode(s->db)))
		return;
	pthread_mutex_lock(&damage_lock);
	if (!damage[0])
		snprintf(damage, sizeof(damage), "database %s: %s",
		         sqlite3_db_filename(s->db, "main"), sqlite3_errmsg(s->db));
	pthread_mutex_unlock(&damage_lock);
}

int store_db_err(struct store *s, struct vr_err *e, const char *what)
{
	/* Constraint conflicts are the client's (CONFLICT, INVALID) and never come through here. */
	metrics_sqlite_error();
	damage_note(s);
	return err_set(e, VR_ERR_INTERNAL, "", "database: %s: %s", what, sqlite3_errmsg(s->db));
}

/* Run a statement that returns no rows. */
static int st_exec(struct store *s, enum st i, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, i);
	int ret = 0;

	if (sqlite3_step(q) != SQLITE_DONE)
		ret = store_db_err(s, e, st_sql[i]);
	st_done(q);
	return ret;
}

int store_tx_begin(struct store *s, struct vr_err *e)
{
	if (!s->group)
		return st_exec(s, ST_BEGIN, e);
	if (st_exec(s, ST_SAVEPOINT, e) < 0)
		return -1;
	s->in_write = true;
	return 0;
}

static int tx_begin_read(struct store *s, struct vr_err *e)
{
	return st_exec(s, ST_BEGIN_READ, e);
}

int store_tx_commit(struct store *s, struct vr_err *e)
{
	/* The hook may refuse the write: the caller's store_tx_end then undoes it. */
	if (s->hook && !s->hook_off && store_changes_flush(s, e) < 0)
		return -1;
	if (!s->group)
		return st_exec(s, ST_COMMIT, e);
	/* Part of the group's transaction now: the group's COMMIT makes it durable. */
	if (st_exec(s, ST_RELEASE, e) < 0)
		return -1;
	s->in_write = false;
	return 0;
}

/* Undo whatever the open transaction did; a no-op once it committed. */
void store_tx_end(struct store *s)
{
	struct vr_err ignored;

	if (s->group) {
		if (!s->in_write)
			return;
		/* Only this write is undone; the group's other writes stand. */
		if (st_exec(s, ST_ROLLBACK_TO, &ignored) < 0 ||
		    st_exec(s, ST_RELEASE, &ignored) < 0)
			log_error("%s", ignored.msg);
		s->in_write = false;
		return;
	}
	if (sqlite3_get_autocommit(s->db))
		return;
	if (st_exec(s, ST_ROLLBACK, &ignored) < 0)
		log_error("%s", ignored.msg);
}

int store_group_begin(struct store *s, struct vr_err *e)
{
	if (s->group)
		return err_set(e, VR_ERR_INTERNAL, NULL, "a write group is already open");
	if (st_exec(s, ST_BEGIN, e) < 0)
		return -1;
	s->group = true;
	s->in_write = false;
	return 0;
}

int store_group_end(struct store *s, struct vr_err *e)
{
	int ret;

	if (!s->group)
		return err_set(e, VR_ERR_INTERNAL, NULL, "no write group is open");
	s->group = false;
	if (s->in_write) {
		/* A write left open: the caller broke the contract; none of the group stands. */
		s->in_write = false;
		store_tx_end(s);
		return err_set(e, VR_ERR_INTERNAL, NULL, "a write of the group was left open");
	}
	ret = st_exec(s, ST_COMMIT, e);
	store_tx_end(s); /* after a failed COMMIT: the whole group is undone */
	return ret;
}
/*
 * The first row of q, whose parameters the caller bound (bound false: that
 * failed): column 0 into id and column 1 into id2 unless NULL, "" when there
 * is no row. what names the search in a database error.
 */
int store_first_row(struct store *s, sqlite3_stmt *q, bool bound, char *id, char *id2,
                    const char *what, struct vr_err *e)
{
	int ret = -1;
	int rc;

	id[0] = '\0';
	if (id2)
		id2[0] = '\0';
	if (!bound) {
		store_db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		col_copy(q, 0, id, ID_MAX);
		if (id2)
			col_copy(q, 1, id2, ID_MAX);
	} else if (rc != SQLITE_DONE) {
		store_db_err(s, e, what);
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

int store_step_id(struct store *s, sqlite3_stmt *q, const char *id, struct vr_err *e)
{
	if (bind_text(q, 1, id, false) != SQLITE_OK)
		return store_db_err(s, e, "binding");
	return sqlite3_step(q);
}

int store_run_id(struct store *s, enum st which, const char *id, const char *what, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, which);
	int rc = store_step_id(s, q, id, e);

	st_done(q);
	if (rc < 0)
		return -1;
	return rc == SQLITE_DONE ? 0 : store_db_err(s, e, what);
}

/* store_first_row of statement which with ?1 and, unless NULL, ?2 bound to texts. */
int store_first_ids(struct store *s, enum st which, const char *p1, const char *p2, char *id,
                    char *id2, const char *what, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, which);
	bool bound = bind_text(q, 1, p1, false) == SQLITE_OK &&
	             (!p2 || bind_text(q, 2, p2, false) == SQLITE_OK);

	return store_first_row(s, q, bound, id, id2, what, e);
}

/* ---- revision ---- */

/*
 * Run statement which for its one row of one integer, into *v; stepped to
 * the end, as a RETURNING statement has written only once it is done.
 */
static int st_int(struct store *s, enum st which, int64_t *v, const char *what, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, which);
	int ret = -1;

	if (sqlite3_step(q) != SQLITE_ROW) {
		store_db_err(s, e, what);
		goto out;
	}
	*v = sqlite3_column_int64(q, 0);
	if (sqlite3_step(q) != SQLITE_DONE) {
		store_db_err(s, e, what);
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

int store_rev_read(struct store *s, int64_t *rev, struct vr_err *e)
{
	return st_int(s, ST_REV_GET, rev, "reading the revision", e);
}

/* Bump the revision inside the caller's write transaction and return the new value. */
int store_rev_bump(struct store *s, int64_t *rev, struct vr_err *e)
{
	return st_int(s, ST_REV_BUMP, rev, "bumping the revision", e);
}

/*
 * A read transaction and the revision it sees: what is read until
 * store_read_end belongs to that one. Inside another read (a snapshot) it
 * joins that one instead of beginning its own.
 */
int store_read_begin(struct store *s, int64_t *rev, struct vr_err *e)
{
	if (!s->reads && tx_begin_read(s, e) < 0)
		return -1;
	s->reads++;
	if (store_rev_read(s, rev, e) < 0) {
		store_read_abort(s);
		return -1;
	}
	return 0;
}

int store_read_end(struct store *s, int ret, struct vr_err *e)
{
	if (--s->reads > 0)
		return ret; /* the outer read goes on */
	if (ret == 0 && store_tx_commit(s, e) < 0)
		ret = -1;
	store_tx_end(s);
	return ret;
}

void store_read_abort(struct store *s)
{
	/* Only read: ending it by a rollback loses nothing. */
	if (--s->reads == 0)
		store_tx_end(s);
}

int64_t store_revision(struct store *s)
{
	struct vr_err e;
	int64_t rev = -1;

	if (store_rev_read(s, &rev, &e) < 0) {
		log_error("%s", e.msg);
		return -1;
	}
	return rev;
}

static int db_query_text(struct store *s, const char *sql, char *buf, size_t size,
                         struct vr_err *e);

int store_desired_empty(struct store *s, bool *empty, struct vr_err *e)
{
	char v[8];

	/* What puts objects in the kernel: settings and route tables alone do not. */
	if (db_query_text(s,
	                  "SELECT EXISTS (SELECT 1 FROM routes) OR EXISTS (SELECT 1 FROM subnets) "
	                  "OR EXISTS (SELECT 1 FROM security_groups)",
	                  v, sizeof(v), e) < 0)
		return -1;
	*empty = strcmp(v, "1") != 0;
	return 0;
}

/* ---- open, pragmas, migrations ---- */

int store_db_exec(struct store *s, const char *sql, struct vr_err *e)
{
	char *msg = NULL;
	int ret = 0;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
		ret = err_set(e, VR_ERR_INTERNAL, "", "database: %s: %s", sql,
		              msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return ret;
}

/* Run a constant query returning one value, as text into buf. */
static int db_query_text(struct store *s, const char *sql, char *buf, size_t size, struct vr_err *e)
{
	sqlite3_stmt *q = NULL;
	int ret = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
		store_db_err(s, e, sql);
		goto out;
	}
	if (sqlite3_step(q) != SQLITE_ROW) {
		store_db_err(s, e, sql);
		goto out;
	}
	if (col_copy(q, 0, buf, size) < 0) {
		err_set(e, VR_ERR_INTERNAL, "", "database: %s: unexpected answer", sql);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(q);
	return ret;
}

/* store_write_gen's count; write_gen_off once a handle runs without WAL. */
static uint64_t write_gen = 1;
static bool write_gen_off;

uint64_t store_write_gen(void)
{
	if (__atomic_load_n(&write_gen_off, __ATOMIC_ACQUIRE))
		return 0;
	return __atomic_load_n(&write_gen, __ATOMIC_ACQUIRE);
}

/*
 * SQLite's WAL hook: called in the writer's thread after each commit that
 * wrote pages, once it is visible and the write lock is released. It replaces
 * SQLite's automatic checkpoint (a hook of its own), so it checkpoints as that
 * one does.
 */
static int wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	__atomic_add_fetch(&write_gen, 1, __ATOMIC_RELEASE);
	if (pages >= STORE_WAL_AUTOCHECKPOINT)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

static int db_pragmas(struct store *s, const char *path, struct vr_err *e)
{
	char v[32];

	/*
	 * The first statement is where SQLite actually reads the file, so a file
	 * that is not a database fails here; say which file.
	 */
	if (db_query_text(s, "PRAGMA journal_mode = WAL", v, sizeof(v), e) < 0)
		return err_set(e, VR_ERR_INTERNAL, "", "cannot open database %s: %s", path,
		               sqlite3_errmsg(s->db));
	/* Still durable without WAL (rollback journal + FULL sync), only slower for readers. */
	if (strcmp(v, "wal") != 0) {
		log_warnx("database %s: journal mode is %s, not wal", path, v);
		__atomic_store_n(&write_gen_off, true, __ATOMIC_RELEASE);
	} else {
		sqlite3_wal_hook(s->db, wal_commit, NULL);
	}
	/* FULL: a commit is on disk, WAL included, before it is acknowledged. */
	if (store_db_exec(s, "PRAGMA synchronous = FULL", e) < 0)
		return -1;
	if (store_db_exec(s, "PRAGMA foreign_keys = ON", e) < 0)
		return -1;
	if (db_query_text(s, "PRAGMA foreign_keys", v, sizeof(v), e) < 0)
		return -1;
	if (strcmp(v, "1") != 0)
		return err_set(e, VR_ERR_INTERNAL, "",
		               "database %s: SQLite refuses foreign_keys=ON; references would go "
		               "unchecked",
		               path);
	return 0;
}

static int db_user_version(struct store *s, int64_t *v, struct vr_err *e)
{
	char buf[32];

	if (db_query_text(s, "PRAGMA user_version", buf, sizeof(buf), e) < 0)
		return -1;
	*v = strtoll(buf, NULL, 10);
	return 0;
}

/* The table of the first row PRAGMA foreign_key_check finds into buf; "" when none. */
static int db_fk_check(struct store *s, char *buf, size_t size, struct vr_err *e)
{
	sqlite3_stmt *q = NULL;
	int ret = -1;
	int rc;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &q, NULL) != SQLITE_OK) {
		store_db_err(s, e, "PRAGMA foreign_key_check");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_db_err(s, e, "PRAGMA foreign_key_check");
		goto out;
	}
	if (rc == SQLITE_ROW && col_copy(q, 0, buf, size) < 0)
		snprintf(buf, size, "(unnamed)");
	ret = 0;
out:
	sqlite3_finalize(q);
	return ret;
}

/* Apply migration i (schema version i + 1) in one transaction with its user_version. */
static int db_migrate_one(struct store *s, size_t i, struct vr_err *e)
{
	const struct embedded_file *m = &embedded_migrations[i];
	char sql[PRAGMA_SQL_MAX];
	char fk[NAME_MAX_LEN] = "";
	char *msg = NULL;
	int64_t v;
	int ret = -1;

	/* A missing file would shift every later migration onto the wrong version. */
	if (strtoul(m->name, NULL, 10) != i + 1)
		return err_set(e, VR_ERR_INTERNAL, "",
		               "migration %s is out of sequence: expected number %03zu", m->name,
		               i + 1);
	/*
	 * A migration that rebuilds a table others refer to (005) drops it first:
	 * SQLite's procedure for that runs with foreign keys off (a no-op inside
	 * a transaction, hence here) and checks them all before the commit.
	 */
	if (store_db_exec(s, "PRAGMA foreign_keys = OFF", e) < 0)
		return -1;
	if (store_db_exec(s, "BEGIN IMMEDIATE", e) < 0)
		goto out;
	/* Another process may have migrated while this one waited for the lock. */
	if (db_user_version(s, &v, e) < 0)
		goto out;
	if (v > (int64_t)i) {
		ret = 0;
		goto out;
	}
	if (sqlite3_exec(s->db, m->text, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, VR_ERR_INTERNAL, "", "database: migration %s failed: %s", m->name,
		        msg ? msg : sqlite3_errmsg(s->db));
		goto out;
	}
	if (db_fk_check(s, fk, sizeof(fk), e) < 0)
		goto out;
	if (fk[0]) {
		err_set(e, VR_ERR_INTERNAL, "",
		        "database: migration %s leaves a reference to a missing row in table %s",
		        m->name, fk);
		goto out;
	}
	/* PRAGMA takes no bound parameters; the number is our own counter, not input. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
	if (store_db_exec(s, sql, e) < 0)
		goto out;
	if (store_db_exec(s, "COMMIT", e) < 0)
		goto out;
	log_info("database: applied migration %s", m->name);
	ret = 0;
out:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_free(msg);
	if (store_db_exec(s, "PRAGMA foreign_keys = ON", ret < 0 ? &(struct vr_err){0} : e) < 0)
		ret = -1;
	return ret;
}

static int db_migrate(struct store *s, const char *path, struct vr_err *e)
{
	int64_t v;
	size_t i;

	if (db_user_version(s, &v, e) < 0)
		return -1;
	if (v < 0 || v > (int64_t)embedded_migrations_n)
		return err_set(e, VR_ERR_INTERNAL, "",
		               "database %s has schema version %" PRId64
		               ", newer than this vrouterd knows (%zu): run a newer vrouterd or "
		               "restore a backup",
		               path, v, embedded_migrations_n);
	for (i = (size_t)v; i < embedded_migrations_n; i++)
		if (db_migrate_one(s, i, e) < 0)
			return -1;
	return 0;
}

static int db_prepare(struct store *s, struct vr_err *e)
{
	size_t i;

	for (i = 0; i < ST__N; i++)
		if (sqlite3_prepare_v3(s->db, st_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
		                       NULL) != SQLITE_OK)
			return store_db_err(s, e, st_sql[i]);
	return 0;
}

/*
 * SQLite creates a missing database file 0644 (less the umask) and gives its
 * -wal and -shm files the database's mode: create it empty and private first.
 */
static int db_create_private(const char *path, struct vr_err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return err_set(e, VR_ERR_INTERNAL, "", "cannot open database %s: creating it: %s", path,
	               strerror(errno));
}

/*
 * PRAGMA quick_check: every page of every table and index well formed and
 * accounted for (not that indexes match their tables: integrity_check does
 * that too, at twice the cost; see store_open_checked). 0 when it says "ok".
 */
static int db_quick_check(struct store *s, const char *path, struct vr_err *e)
{
	char found[ERR_MSG_MAX] = "";
	sqlite3_stmt *q = NULL;
	size_t used = 0;
	int rc, lines = 0;

	if (sqlite3_prepare_v2(s->db, CHECK_SQL, -1, &q, NULL) != SQLITE_OK)
		goto sqlite_failed;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(q, 0);

		if (lines == 0 && line && !strcmp(line, "ok"))
			break;
		/* A finding may hold newlines ("*** in database main ***\nPage 29: ..."). */
		for (const char *c = line ? line : ""; *c && used + 3 < sizeof(found); c++) {
			if (*c != '\n') {
				found[used++] = *c;
				continue;
			}
			memcpy(found + used, "; ", 2);
			used += 2;
		}
		if (used + 3 < sizeof(found)) {
			memcpy(found + used, "; ", 2);
			used += 2;
		}
		found[used] = '\0';
		lines++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto sqlite_failed;
	sqlite3_finalize(q);
	if (!lines)
		return 0;
	if (used >= 2 && !strcmp(found + used - 2, "; "))
		found[used - 2] = '\0';
	return err_set(e, VR_ERR_INTERNAL, "",
	               "database %s failed its integrity check (PRAGMA quick_check): %s", path,
	               found);
sqlite_failed:
	err_set(e, VR_ERR_INTERNAL, "",
	        "database %s failed its integrity check (PRAGMA quick_check): %s", path,
	        sqlite3_errmsg(s->db));
	sqlite3_finalize(q);
	return -1;
}

/* store_open, with the integrity check before anything else reads the file when check. */
static int db_open(const char *path, bool check, struct store **out, struct vr_err *e)
{
	struct store *s = NULL;
	int ret = -1;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		oom(e);
		return -ENOMEM;
	}
	s->audit_keep = STORE_AUDIT_KEEP_DEFAULT;
	if (db_create_private(path, e) < 0) {
		ret = -EIO;
		goto out;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, VR_ERR_INTERNAL, "", "cannot open database %s: %s", path,
		        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	if (db_pragmas(s, path, e) < 0)
		goto out;
	if (check && db_quick_check(s, path, e) < 0) {
		ret = -EUCLEAN;
		goto out;
	}
	if (db_migrate(s, path, e) < 0)
		goto out;
	if (db_prepare(s, e) < 0)
		goto out;
	*out = s;
	s = NULL;
	ret = 0;
out:
	/* A file that is not a database, or a damaged one, is not for a retry to fix. */
	if (ret == -1 && s && s->db && code_is_damage(sqlite3_errcode(s->db)))
		ret = -EUCLEAN;
	store_close(s);
	return ret;
}

int store_open(const char *path, struct store **out, struct vr_err *e)
{
	return db_open(path, false, out, e) ? -1 : 0;
}

int store_open_checked(const char *path, struct store **out, struct vr_err *e)
{
	int rc = db_open(path, true, out, e);

	return rc == -1 ? -EIO : rc;
}

/* The damage noted so far into e: -1, or 0 when there is none. */
static int damage_get(struct vr_err *e)
{
	int ret = 0;

	pthread_mutex_lock(&damage_lock);
	if (damage[0])
		ret = err_set(e, VR_ERR_INTERNAL, "", "%s", damage);
	pthread_mutex_unlock(&damage_lock);
	return ret;
}

int store_probe(struct store *s, struct vr_err *e)
{
	const char *path = sqlite3_db_filename(s->db, "main");
	struct vr_err read_e = {0};
	int moved = 0;
	int64_t rev;

	if (damage_get(e) < 0)
		return -1;
	/* Writes would go to a file nobody finds again: the state is lost at the next start. */
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
	    moved)
		return err_set(e, VR_ERR_INTERNAL, "",
		               "database %s was deleted or replaced while open: what is written "
		               "now would be lost at the next start",
		               path);
	/* Read from the file, not from pages cached before something damaged it. */
	sqlite3_db_release_memory(s->db);
	if (store_read_begin(s, &rev, &read_e) < 0) {
		if (damage_get(e) < 0)
			return -1;
		return err_set(e, VR_ERR_INTERNAL, "", "database %s cannot be read: %s", path,
		               read_e.msg);
	}
	store_read_abort(s);
	return 0;
}

int store_set_cache_kib(struct store *s, int kib, struct vr_err *e)
{
	char sql[PRAGMA_SQL_MAX];

	/* PRAGMA takes no bound parameters; kib is the caller's constant, not input. */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", kib);
	return store_db_exec(s, sql, e) < 0 ? -EIO : 0;
}

void store_close(struct store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < ST__N; i++)
		sqlite3_finalize(s->st[i]);
	store_changes_close(s);
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_error("database: close: %s", sqlite3_errmsg(s->db));
	free(s);
}
