#include "store.h"

#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sqlite3.h>

#include "embedded.h"
#include "idmap.h"
#include "log.h"

#define HTTP_NOT_FOUND 404
#define HTTP_CONFLICT 409
#define HTTP_PRECONDITION 412
#define HTTP_UNPROCESSABLE 422
#define HTTP_INTERNAL 500

/* How long a writer waits for another connection's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000
/* Longest constant SQL line built here (the user_version pragma). */
#define PRAGMA_SQL_MAX 64
/*
 * What a second next hop for one table, destination and metric is told: a
 * route here is one kernel route with one gateway; ECMP would need routes
 * with several next hops, a different model.
 */
#define NO_MULTIPATH                                                                               \
	"multipath (several next hops for one destination and metric, ECMP) is not supported: "    \
	"give this route another metric, or change the one that exists"
/* First allocation of a list; it doubles from there. */
#define LIST_INITIAL 64
/* First allocation of a group's targets. */
#define SG_TARGETS_FIRST 4
/* The integrity check at start; quotes at most its first 5 findings. */
#define CHECK_SQL "PRAGMA quick_check(5)"
/* A database error's words about a kind: "listing security group rules". */
#define NOUN_WHAT_MAX 64

#define ROUTE_COLS                                                                                 \
	"r.id, r.route_table_id, r.destination, r.type, r.via, r.dev, r.metric, r.description, "   \
	"r.created_at, r.updated_at, r.rev, t.table_no FROM routes r JOIN route_tables t ON t.id " \
	"= r.route_table_id"
#define RTB_COLS "id, name, table_no, description, created_at, updated_at, rev FROM route_tables"
#define SG_COLS "id, name, description, created_at, updated_at, rev FROM security_groups"
#define SGR_COLS                                                                                   \
	"id, security_group_id, direction, protocol, port_from, port_to, cidr, "                   \
	"remote_security_group_id, description, created_at, updated_at, rev FROM "                 \
	"security_group_rules"
#define SN_COLS                                                                                    \
	"s.id, s.name, s.cidr, s.interface, s.router_ip, s.route_table_id, s.description, "        \
	"s.created_at, s.updated_at, s.rev, t.table_no FROM subnets s JOIN route_tables t ON "     \
	"t.id = s.route_table_id"
/* A rule's identity for the uniqueness check, mirroring security_group_rules_key. */
#define SGR_KEY_MATCH                                                                              \
	"security_group_id = ?1 AND direction = ?2 AND protocol = ?3 AND IFNULL(port_from, 0) = "  \
	"?4 "                                                                                      \
	"AND IFNULL(port_to, 0) = ?5 AND IFNULL(cidr_key, remote_security_group_id) = ?6"

/* Every statement the store runs, prepared once at open. */
enum st {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
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
	ST_SG_PARK,
	ST__N
};

static const char *const st_sql[ST__N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_REV_GET] = "SELECT value FROM meta WHERE key = 'revision'",
    [ST_REV_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value",
    [ST_RTB_GET] = "SELECT " RTB_COLS " WHERE id = ?1",
    [ST_RTB_LIST] = "SELECT " RTB_COLS " WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_RTB_LOAD] = "SELECT " RTB_COLS " ORDER BY id",
    [ST_RTB_INSERT] = "INSERT INTO route_tables (id, name, table_no, description, created_at, "
                      "updated_at, rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_RTB_UPDATE] = "UPDATE route_tables SET name = ?2, table_no = ?3, description = ?4, "
                      "updated_at = ?6, rev = ?7 WHERE id = ?1",
    [ST_RTB_DELETE] = "DELETE FROM route_tables WHERE id = ?1",
    [ST_RTB_BY_NAME] = "SELECT id FROM route_tables WHERE name = ?1 AND id <> ?2",
    [ST_RTB_BY_NO] = "SELECT id FROM route_tables WHERE table_no = ?1 AND id <> ?2",
    [ST_RTB_NOS_IN] = "SELECT table_no FROM route_tables WHERE table_no BETWEEN ?1 AND ?2",
    [ST_RTB_USER] = "SELECT id FROM routes WHERE route_table_id = ?1 ORDER BY id LIMIT 1",
    [ST_RT_GET] = "SELECT " ROUTE_COLS " WHERE r.id = ?1",
    [ST_RT_LIST] = "SELECT " ROUTE_COLS " WHERE r.id > ?1 ORDER BY r.id LIMIT ?2",
    [ST_RT_LIST_TABLE] = "SELECT " ROUTE_COLS " WHERE r.route_table_id = ?3 AND r.id > ?1 "
                         "ORDER BY r.id LIMIT ?2",
    [ST_RT_LOAD] = "SELECT " ROUTE_COLS " ORDER BY r.id",
    [ST_RT_INSERT] = "INSERT INTO routes (id, route_table_id, destination, dst_key, family, "
                     "type, via, dev, metric, description, created_at, updated_at, rev) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_RT_UPDATE] = "UPDATE routes SET route_table_id = ?2, destination = ?3, dst_key = ?4, "
                     "family = ?5, type = ?6, via = ?7, dev = ?8, metric = ?9, "
                     "description = ?10, updated_at = ?12, rev = ?13 WHERE id = ?1",
    [ST_RT_DELETE] = "DELETE FROM routes WHERE id = ?1",
    [ST_RT_CONFLICT] = "SELECT id, metric FROM routes WHERE route_table_id = ?1 AND "
                       "dst_key = ?2 AND metric_key = ?3 AND id <> ?4 LIMIT 1",
    [ST_SG_GET] = "SELECT " SG_COLS " WHERE id = ?1",
    [ST_SG_LIST] = "SELECT " SG_COLS " WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_SG_LOAD] = "SELECT " SG_COLS " ORDER BY id",
    [ST_SG_INSERT] = "INSERT INTO security_groups (id, name, description, created_at, "
                     "updated_at, rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SG_UPDATE] = "UPDATE security_groups SET name = ?2, description = ?3, updated_at = ?5, "
                     "rev = ?6 WHERE id = ?1",
    [ST_SG_DELETE] = "DELETE FROM security_groups WHERE id = ?1",
    [ST_SG_EXISTS] = "SELECT id FROM security_groups WHERE id = ?1",
    [ST_SG_BY_NAME] = "SELECT id FROM security_groups WHERE name = ?1 AND id <> ?2",
    [ST_SG_REFERRER] = "SELECT id, security_group_id FROM security_group_rules WHERE "
                       "remote_security_group_id = ?1 AND security_group_id <> ?1 ORDER BY id "
                       "LIMIT 1",
    [ST_SG_TG_GET] = "SELECT target FROM sg_targets WHERE group_id = ?1 ORDER BY position",
    [ST_SG_TG_CLEAR] = "DELETE FROM sg_targets WHERE group_id = ?1",
    [ST_SG_TG_INSERT] = "INSERT INTO sg_targets (group_id, position, target, target_key) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [ST_SGR_GET] = "SELECT " SGR_COLS " WHERE id = ?1",
    [ST_SGR_LIST] = "SELECT " SGR_COLS " WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_SGR_LIST_GROUP] = "SELECT " SGR_COLS " WHERE security_group_id = ?3 AND id > ?1 "
                          "ORDER BY id LIMIT ?2",
    [ST_SGR_LIST_REMOTE] = "SELECT " SGR_COLS " WHERE remote_security_group_id = ?3 AND "
                           "(?4 IS NULL OR security_group_id = ?4) AND id > ?1 "
                           "ORDER BY id LIMIT ?2",
    [ST_SGR_LOAD] = "SELECT " SGR_COLS " ORDER BY id",
    [ST_SGR_INSERT] = "INSERT INTO security_group_rules (id, security_group_id, direction, "
                      "protocol, port_from, port_to, cidr, cidr_key, remote_security_group_id, "
                      "description, created_at, updated_at, rev) VALUES (?1, ?2, ?3, ?4, ?5, "
                      "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_SGR_UPDATE] = "UPDATE security_group_rules SET security_group_id = ?2, direction = ?3, "
                      "protocol = ?4, port_from = ?5, port_to = ?6, cidr = ?7, cidr_key = ?8, "
                      "remote_security_group_id = ?9, description = ?10, updated_at = ?12, "
                      "rev = ?13 WHERE id = ?1",
    [ST_SGR_DELETE] = "DELETE FROM security_group_rules WHERE id = ?1",
    [ST_SGR_CONFLICT] =
        "SELECT id FROM security_group_rules WHERE " SGR_KEY_MATCH " AND id <> ?7 LIMIT 1",
    [ST_RTB_SUBNET_USER] = "SELECT id FROM subnets WHERE route_table_id = ?1 ORDER BY id LIMIT 1",
    [ST_SN_GET] = "SELECT " SN_COLS " WHERE s.id = ?1",
    /* One statement for every filter combination: NULL matches any. */
    [ST_SN_LIST] = "SELECT " SN_COLS " WHERE (?3 IS NULL OR s.route_table_id = ?3) AND "
                   "(?4 IS NULL OR s.interface = ?4) AND s.id > ?1 ORDER BY s.id LIMIT ?2",
    [ST_SN_LOAD] = "SELECT " SN_COLS " ORDER BY s.id",
    [ST_SN_INSERT] = "INSERT INTO subnets (id, name, cidr, cidr_key, family, interface, "
                     "router_ip, route_table_id, description, created_at, updated_at, rev) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_SN_UPDATE] = "UPDATE subnets SET name = ?2, cidr = ?3, cidr_key = ?4, family = ?5, "
                     "interface = ?6, router_ip = ?7, route_table_id = ?8, description = ?9, "
                     "updated_at = ?11, rev = ?12 WHERE id = ?1",
    [ST_SN_DELETE] = "DELETE FROM subnets WHERE id = ?1",
    [ST_SN_BY_NAME] = "SELECT id FROM subnets WHERE name = ?1 AND id <> ?2",
    [ST_SN_FAMILY] = "SELECT id, name, cidr FROM subnets WHERE family = ?1 AND id <> ?2 "
                     "ORDER BY id",
    [ST_SET_GET] = "SELECT managed, forward_v4, forward_v6, updated_at, rev FROM settings "
                   "WHERE id = 1",
    [ST_SET_PUT] = "UPDATE settings SET managed = ?5, forward_v4 = ?1, forward_v6 = ?2, "
                   "updated_at = ?3, rev = ?4 WHERE id = 1",
    /* A whole-state replace checks references at its commit: the order of its writes is free. */
    /*
     * Park a group under a name no client can write (names are printable), so
     * that groups swapping names never collide half way.
     */
    [ST_SG_PARK] = "UPDATE security_groups SET name = char(1) || id WHERE id = ?1",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__N];
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

static int db_err(struct store *s, struct vr_err *e, const char *what)
{
	/* Constraint conflicts are the client's (409/422) and never come through here. */
	metrics_sqlite_error();
	damage_note(s);
	return err_set(e, HTTP_INTERNAL, "", "database: %s: %s", what, sqlite3_errmsg(s->db));
}

static int oom(struct vr_err *e)
{
	return err_set(e, HTTP_INTERNAL, "", "out of memory");
}

static sqlite3_stmt *st_get(struct store *s, enum st i)
{
	return s->st[i];
}

/*
 * Every use of a cached statement ends here: an unreset SELECT would keep its
 * read transaction (and its WAL snapshot) open until the next use.
 */
static void st_done(sqlite3_stmt *q)
{
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
}

/* Run a statement that returns no rows. */
static int st_exec(struct store *s, enum st i, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, i);
	int ret = 0;

	if (sqlite3_step(q) != SQLITE_DONE)
		ret = db_err(s, e, st_sql[i]);
	st_done(q);
	return ret;
}

static int tx_begin(struct store *s, struct vr_err *e)
{
	return st_exec(s, ST_BEGIN, e);
}

static int tx_begin_read(struct store *s, struct vr_err *e)
{
	return st_exec(s, ST_BEGIN_READ, e);
}

static int tx_commit(struct store *s, struct vr_err *e)
{
	return st_exec(s, ST_COMMIT, e);
}

/* Undo whatever the open transaction did; a no-op once it committed. */
static void tx_end(struct store *s)
{
	struct vr_err ignored;

	if (sqlite3_get_autocommit(s->db))
		return;
	if (st_exec(s, ST_ROLLBACK, &ignored) < 0)
		log_error("%s", ignored.msg);
}

/* Text bound for the duration of one step; NULL and "" bind as SQL NULL when null_empty. */
static int bind_text(sqlite3_stmt *q, int i, const char *v, bool null_empty)
{
	if (!v || (null_empty && !v[0]))
		return null_empty ? sqlite3_bind_null(q, i) : sqlite3_bind_text(q, i, "", 0, NULL);
	return sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

/* Copy a text column into a fixed buffer; -1 when it does not fit (a corrupt row). */
static int col_copy(sqlite3_stmt *q, int col, char *buf, size_t size)
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
static int col_desc(sqlite3_stmt *q, int col, char **out, struct vr_err *e)
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

static int corrupt(struct vr_err *e, const char *what, const char *id)
{
	return err_set(e, HTTP_INTERNAL, "", "database: stored %s %s is malformed", what, id);
}

static int precondition(struct vr_err *e, const char *what, const char *id, int64_t if_rev,
                        int64_t rev)
{
	return err_set(e, HTTP_PRECONDITION, "",
	               "If-Match revision %" PRId64 " does not match the current ETag of %s %s "
	               "(revision %" PRId64 ")",
	               if_rev, what, id, rev);
}

/*
 * The first row of q, whose parameters the caller bound (bound false: that
 * failed): column 0 into id and column 1 into id2 unless NULL, "" when there
 * is no row. what names the search in a database error.
 */
static int first_row(struct store *s, sqlite3_stmt *q, bool bound, char *id, char *id2,
                     const char *what, struct vr_err *e)
{
	int ret = -1;
	int rc;

	id[0] = '\0';
	if (id2)
		id2[0] = '\0';
	if (!bound) {
		db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		col_copy(q, 0, id, ID_MAX);
		if (id2)
			col_copy(q, 1, id2, ID_MAX);
	} else if (rc != SQLITE_DONE) {
		db_err(s, e, what);
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* first_row of statement which with ?1 and, unless NULL, ?2 bound to texts. */
static int first_ids(struct store *s, enum st which, const char *p1, const char *p2, char *id,
                     char *id2, const char *what, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, which);
	bool bound = bind_text(q, 1, p1, false) == SQLITE_OK &&
	             (!p2 || bind_text(q, 2, p2, false) == SQLITE_OK);

	return first_row(s, q, bound, id, id2, what, e);
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
		db_err(s, e, what);
		goto out;
	}
	*v = sqlite3_column_int64(q, 0);
	if (sqlite3_step(q) != SQLITE_DONE) {
		db_err(s, e, what);
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

static int rev_read(struct store *s, int64_t *rev, struct vr_err *e)
{
	return st_int(s, ST_REV_GET, rev, "reading the revision", e);
}

/* Bump the revision inside the caller's write transaction and return the new value. */
static int rev_bump(struct store *s, int64_t *rev, struct vr_err *e)
{
	return st_int(s, ST_REV_BUMP, rev, "bumping the revision", e);
}

/* A read transaction and the revision it sees: what is read until tx_end belongs to that one. */
static int read_begin(struct store *s, int64_t *rev, struct vr_err *e)
{
	if (tx_begin_read(s, e) < 0)
		return -1;
	if (rev_read(s, rev, e) < 0) {
		tx_end(s);
		return -1;
	}
	return 0;
}

int64_t store_revision(struct store *s)
{
	struct vr_err e;
	int64_t rev = -1;

	if (rev_read(s, &rev, &e) < 0) {
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

static int db_exec(struct store *s, const char *sql, struct vr_err *e)
{
	char *msg = NULL;
	int ret = 0;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
		ret = err_set(e, HTTP_INTERNAL, "", "database: %s: %s", sql,
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
		db_err(s, e, sql);
		goto out;
	}
	if (sqlite3_step(q) != SQLITE_ROW) {
		db_err(s, e, sql);
		goto out;
	}
	if (col_copy(q, 0, buf, size) < 0) {
		err_set(e, HTTP_INTERNAL, "", "database: %s: unexpected answer", sql);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(q);
	return ret;
}

static int db_pragmas(struct store *s, const char *path, struct vr_err *e)
{
	char v[32];

	/*
	 * The first statement is where SQLite actually reads the file, so a file
	 * that is not a database fails here; say which file.
	 */
	if (db_query_text(s, "PRAGMA journal_mode = WAL", v, sizeof(v), e) < 0)
		return err_set(e, HTTP_INTERNAL, "", "cannot open database %s: %s", path,
		               sqlite3_errmsg(s->db));
	/* Still durable without WAL (rollback journal + FULL sync), only slower for readers. */
	if (strcmp(v, "wal") != 0)
		log_warnx("database %s: journal mode is %s, not wal", path, v);
	/* FULL: a commit is on disk, WAL included, before it is acknowledged. */
	if (db_exec(s, "PRAGMA synchronous = FULL", e) < 0)
		return -1;
	if (db_exec(s, "PRAGMA foreign_keys = ON", e) < 0)
		return -1;
	if (db_query_text(s, "PRAGMA foreign_keys", v, sizeof(v), e) < 0)
		return -1;
	if (strcmp(v, "1") != 0)
		return err_set(e, HTTP_INTERNAL, "",
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

/* Apply migration i (schema version i + 1) in one transaction with its user_version. */
static int db_migrate_one(struct store *s, size_t i, struct vr_err *e)
{
	const struct embedded_file *m = &embedded_migrations[i];
	char sql[PRAGMA_SQL_MAX];
	char *msg = NULL;
	int64_t v;
	int ret = -1;

	/* A missing file would shift every later migration onto the wrong version. */
	if (strtoul(m->name, NULL, 10) != i + 1)
		return err_set(e, HTTP_INTERNAL, "",
		               "migration %s is out of sequence: expected number %03zu", m->name,
		               i + 1);
	if (db_exec(s, "BEGIN IMMEDIATE", e) < 0)
		return -1;
	/* Another process may have migrated while this one waited for the lock. */
	if (db_user_version(s, &v, e) < 0)
		goto out;
	if (v > (int64_t)i) {
		ret = 0;
		goto out;
	}
	if (sqlite3_exec(s->db, m->text, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, HTTP_INTERNAL, "", "database: migration %s failed: %s", m->name,
		        msg ? msg : sqlite3_errmsg(s->db));
		goto out;
	}
	/* PRAGMA takes no bound parameters; the number is our own counter, not input. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
	if (db_exec(s, sql, e) < 0)
		goto out;
	if (db_exec(s, "COMMIT", e) < 0)
		goto out;
	log_info("database: applied migration %s", m->name);
	ret = 0;
out:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_free(msg);
	return ret;
}

static int db_migrate(struct store *s, const char *path, struct vr_err *e)
{
	int64_t v;
	size_t i;

	if (db_user_version(s, &v, e) < 0)
		return -1;
	if (v < 0 || v > (int64_t)embedded_migrations_n)
		return err_set(e, HTTP_INTERNAL, "",
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
			return db_err(s, e, st_sql[i]);
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
	return err_set(e, HTTP_INTERNAL, "", "cannot open database %s: creating it: %s", path,
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
	return err_set(e, HTTP_INTERNAL, "",
	               "database %s failed its integrity check (PRAGMA quick_check): %s", path,
	               found);
sqlite_failed:
	err_set(e, HTTP_INTERNAL, "",
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
	if (db_create_private(path, e) < 0) {
		ret = -EIO;
		goto out;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, HTTP_INTERNAL, "", "cannot open database %s: %s", path,
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
		ret = err_set(e, HTTP_INTERNAL, "", "%s", damage);
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
		return err_set(e, HTTP_INTERNAL, "",
		               "database %s was deleted or replaced while open: what is written "
		               "now would be lost at the next start",
		               path);
	/* Read from the file, not from pages cached before something damaged it. */
	sqlite3_db_release_memory(s->db);
	if (read_begin(s, &rev, &read_e) < 0) {
		if (damage_get(e) < 0)
			return -1;
		return err_set(e, HTTP_INTERNAL, "", "database %s cannot be read: %s", path,
		               read_e.msg);
	}
	tx_end(s);
	return 0;
}

int store_set_cache_kib(struct store *s, int kib, struct vr_err *e)
{
	char sql[PRAGMA_SQL_MAX];

	/* PRAGMA takes no bound parameters; kib is the caller's constant, not input. */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", kib);
	return db_exec(s, sql, e) < 0 ? -EIO : 0;
}

void store_close(struct store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < ST__N; i++)
		sqlite3_finalize(s->st[i]);
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_error("database: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

/* ---- lists ---- */

/* Make room for one more element of size elem in *v holding n of *cap, first first. */
static int array_grow(void **v, size_t *cap, size_t n, size_t elem, size_t first, struct vr_err *e)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : first;
	if (ncap > SIZE_MAX / elem)
		return oom(e);
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return oom(e);
	memset((char *)nv + *cap * elem, 0, (ncap - *cap) * elem);
	*v = nv;
	*cap = ncap;
	return 0;
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

/* ---- what every kind of object shares ---- */

/*
 * One kind of object as the shared reads and writes below see it: its
 * statements, how a row becomes an object, what a write checks on top of the
 * common steps, and how its constraint failures read. A NULL hook does nothing
 * (for dangling and unique: the plain 409).
 */
struct kind {
	const char *key;    /* its array in a whole-state document */
	const char *prefix; /* of the ids the store assigns */
	const char *noun;   /* in messages: "route table" */
	size_t size;        /* of its struct */
	/* Offsets of the fields the shared code handles; name 0: the kind has none. */
	size_t created_at, updated_at, rev, name;
	enum st get, insert, update, del, load;
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
	 * caller of obj_create passed.
	 */
	int (*prepare)(struct store *s, void *o, const void *old, const void *arg,
	               struct vr_err *e);
	/* 409 while something else still needs object id. */
	int (*held)(struct store *s, const char *id, struct vr_err *e);
	/* The errors of a failed foreign key and of a failed unique index (naming the other). */
	int (*dangling)(const void *o, struct vr_err *e);
	int (*unique)(struct store *s, const void *o, const char *key, const char *dbmsg,
	              struct vr_err *e);
};

/* Defined once every kind's functions are: the generic code below only indexes it. */
static const struct kind kinds[STORE_KINDS];

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

/*
 * The field at offset off of o (an offset from struct kind). Not const: the
 * writes go through it too, on objects the callers own.
 */
static void *obj_field(const void *o, size_t off)
{
	return (char *)o + off;
}

static int64_t obj_rev(const struct kind *d, const void *o)
{
	return *(const int64_t *)obj_field(o, d->rev);
}

/*
 * 409 on name when another object of kind k holds o's name (statement which
 * finds it; what names the search in a database error): -1 with e filled
 * then, 0 when none does.
 */
static int name_taken(struct store *s, enum store_kind k, enum st which, const void *o,
                      const char *what, struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	const char *name = obj_field(o, d->name);
	char other[ID_MAX];

	if (first_ids(s, which, name, o, other, NULL, what, e) < 0)
		return -1;
	if (other[0])
		return err_set(e, HTTP_CONFLICT, "name", "a %s named \"%s\" already exists (%s)",
		               d->noun, name, other);
	return 0;
}

/* 1 and *out filled when id exists, 0 when not, -1 on error. */
static int obj_read(struct store *s, enum store_kind k, const char *id, void *out, struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	sqlite3_stmt *q = st_get(s, d->get);
	char what[NOUN_WHAT_MAX];
	int ret = -1;
	int rc;

	if (bind_text(q, 1, id, false) != SQLITE_OK) {
		db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		ret = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		snprintf(what, sizeof(what), "reading a %s", d->noun);
		db_err(s, e, what);
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

/* The stored object id into out: 404 when there is none, 412 when if_rev > 0 is not its rev. */
static int obj_get(struct store *s, enum store_kind k, const char *id, void *out, int64_t if_rev,
                   struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	int rc = obj_read(s, k, id, out, e);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return err_set(e, HTTP_NOT_FOUND, "", "%s %s does not exist", d->noun, id);
	if (if_rev > 0 && if_rev != obj_rev(d, out))
		return precondition(e, d->noun, id, if_rev, obj_rev(d, out));
	return 0;
}

/* Turn a constraint failure of a write of o into a 409 or 422. */
static int obj_conflict(struct store *s, enum store_kind k, const void *o, const char *key, int rc,
                        const char *dbmsg, struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	const char *id = o;

	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return err_set(e, HTTP_CONFLICT, "id", "id %s already exists", id);
	/* prepare ran in this transaction; this is the schema agreeing with it. */
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY && d->dangling)
		return d->dangling(o, e);
	if (rc == SQLITE_CONSTRAINT_CHECK)
		return err_set(e, HTTP_UNPROCESSABLE, "", "%s %s: %s", d->noun, id, dbmsg);
	if (rc == SQLITE_CONSTRAINT_UNIQUE && d->unique)
		return d->unique(s, o, key, dbmsg, e);
	return err_set(e, HTTP_CONFLICT, "", "%s %s: %s", d->noun, id, dbmsg);
}

/* Run statement which (the kind's insert or update) for o, then write its children. */
static int obj_write(struct store *s, enum store_kind k, enum st which, const void *o,
                     struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	sqlite3_stmt *q = st_get(s, which);
	char key[CIDR_STR_MAX] = "";
	char dbmsg[ERR_MSG_MAX];
	const char *id = o;
	int ret = -1;
	int rc;

	if (d->index_key)
		d->index_key(o, key);
	if (d->bind(q, o, key) < 0) {
		db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		if (sqlite3_changes(s->db) != 1) {
			err_set(e, HTTP_NOT_FOUND, "", "%s %s does not exist", d->noun, id);
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
	return err_set(e, HTTP_INTERNAL, "", "database: writing %s %s: %s", d->noun, id, dbmsg);
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
 * Create o in one transaction. An id that is stored already makes
 * STORE_EXISTS with o replaced by the stored object when the bodies are the
 * same, a 409 when not; an empty id gets a new one. arg goes to prepare.
 */
static int obj_create(struct store *s, enum store_kind k, void *o, const void *arg,
                      struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	union any_obj old;
	char *id = o;
	int ret = -1;
	int rc;

	memset(&old, 0, sizeof(old));
	/* Again here, so the parsed fields (keys, overlap checks) agree with the text stored. */
	if (d->validate(o, e) < 0)
		return -1;
	if (tx_begin(s, e) < 0)
		return -1;
	if (id[0]) {
		rc = obj_read(s, k, id, &old, e);
		if (rc < 0)
			goto out;
		if (rc > 0) {
			if (d->inherit)
				d->inherit(o, &old);
			if (!d->same(&old, o)) {
				err_set(e, HTTP_CONFLICT, "id",
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
	if (rev_bump(s, obj_field(o, d->rev), e) < 0)
		goto out;
	model_now(obj_field(o, d->created_at));
	memcpy(obj_field(o, d->updated_at), obj_field(o, d->created_at), TIME_MAX);
	if (obj_write(s, k, d->insert, o, e) < 0)
		goto out;
	if (tx_commit(s, e) < 0)
		goto out;
	ret = STORE_CREATED;
out:
	tx_end(s);
	d->clear(&old);
	return ret;
}

/*
 * Write o over the stored object o->id in one transaction (404, 412 as
 * obj_get). A replace (undo NULL) gives o a new rev and updated_at; an undo
 * keeps o's own, as it was read before the write it undoes, and gets the new
 * revision in *undo. 0, or STORE_UNCHANGED with o filled from the stored
 * object when its writable fields are those stored already.
 */
static int obj_overwrite(struct store *s, enum store_kind k, void *o, int64_t if_rev, int64_t *undo,
                         struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	union any_obj old;
	int ret = -1;

	memset(&old, 0, sizeof(old));
	if (d->validate(o, e) < 0)
		return -1;
	if (tx_begin(s, e) < 0)
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
	if (rev_bump(s, undo ? undo : obj_field(o, d->rev), e) < 0)
		goto out;
	if (!undo) {
		memcpy(obj_field(o, d->created_at), obj_field(&old, d->created_at), TIME_MAX);
		model_now(obj_field(o, d->updated_at));
	}
	if (obj_write(s, k, d->update, o, e) < 0)
		goto out;
	if (tx_commit(s, e) < 0)
		goto out;
	ret = 0;
out:
	tx_end(s);
	d->clear(&old);
	return ret;
}

/* Replace the stored object o->id with o in one transaction (404, 412 as obj_get). */
static int obj_replace(struct store *s, enum store_kind k, void *o, int64_t if_rev,
                       struct vr_err *e)
{
	return obj_overwrite(s, k, o, if_rev, NULL, e);
}

/* Delete row id of kind k; a still-referenced row is a 409. */
static int row_delete(struct store *s, enum store_kind k, const char *id, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, kinds[k].del);
	int ret = -1;
	int rc;

	if (bind_text(q, 1, id, false) != SQLITE_OK) {
		db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		/* A referrer the callers did not look for first; the schema catches it. */
		err_set(e, HTTP_CONFLICT, "", "%s %s is still in use", kinds[k].noun, id);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		db_err(s, e, "deleting");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* Delete the stored object id in one transaction (404, 412 as obj_get; 409 while held). */
static int obj_delete(struct store *s, enum store_kind k, const char *id, int64_t if_rev,
                      struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	union any_obj old;
	int64_t rev;
	int ret = -1;

	memset(&old, 0, sizeof(old));
	if (tx_begin(s, e) < 0)
		return -1;
	if (obj_get(s, k, id, &old, if_rev, e) < 0)
		goto out;
	if (d->held && d->held(s, id, e) < 0)
		goto out;
	if (row_delete(s, k, id, e) < 0)
		goto out;
	if (rev_bump(s, &rev, e) < 0)
		goto out;
	if (tx_commit(s, e) < 0)
		goto out;
	ret = 0;
out:
	tx_end(s);
	d->clear(&old);
	return ret;
}

/*
 * Read every row q yields, at most limit (SIZE_MAX: all), into a new array
 * whose first allocation holds first objects (it doubles from there).
 */
static int obj_collect(struct store *s, enum store_kind k, sqlite3_stmt *q, size_t limit,
                       bool with_desc, size_t first, void **out, size_t *n, bool *more,
                       struct vr_err *e)
{
	const struct kind *d = &kinds[k];
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
		if (array_grow((void **)&v, &cap, cnt, d->size, first, e) < 0)
			goto out;
		if (d->from_row(s, q, v + cnt * d->size, with_desc, e) < 0)
			goto out;
		cnt++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(what, sizeof(what), "listing %ss", d->noun);
		db_err(s, e, what);
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

/*
 * A page of kind k from statement which: up to limit objects with id > after
 * (NULL = from start) in id order, filter[0..nfilter) bound to ?3, ?4, ...
 * (a NULL filter as SQL NULL).
 */
static int obj_list(struct store *s, enum store_kind k, enum st which, const char *const *filter,
                    size_t nfilter, const char *after, size_t limit, void **out, size_t *n,
                    bool *more, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, which);
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
		db_err(s, e, "binding");
		goto out;
	}
	ret = obj_collect(s, k, q, limit, true, LIST_INITIAL, out, n, more, e);
out:
	st_done(q);
	return ret;
}

typedef int (*walk_fn)(void *arg, enum store_kind kind, const void *obj, struct vr_err *e);

/*
 * Step through every stored object of kind k in id order, handing each to fn
 * (descriptions only when with_desc). A nonzero return from fn stops the walk
 * and is returned; what names the walk in a database error.
 */
static int walk_rows(struct store *s, enum store_kind k, bool with_desc, walk_fn fn, void *arg,
                     const char *what, struct vr_err *e)
{
	const struct kind *d = &kinds[k];
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
		db_err(s, e, what);
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* Every stored object of kind k, in id order, into a new array (first: its first allocation). */
static int obj_load(struct store *s, enum store_kind k, bool with_desc, size_t first, void **out,
                    size_t *n, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, kinds[k].load);
	bool more = false;
	int ret = obj_collect(s, k, q, SIZE_MAX, with_desc, first, out, n, &more, e);

	st_done(q);
	return ret;
}

/* Free what obj_load gave, for a load that fails after it. */
static void obj_unload(enum store_kind k, void **v, size_t *n)
{
	kinds[k].free_array(*v, *n);
	*v = NULL;
	*n = 0;
}

/* 422 naming route_table_id: the table an object refers to does not exist. */
static int no_table(struct vr_err *e, const char *table_id)
{
	return err_set(e, HTTP_UNPROCESSABLE, "route_table_id", "route table \"%s\" does not exist",
	               table_id);
}

/* The kernel number of table table_id into *no; 422 when that table does not exist. */
static int table_no(struct store *s, const char *table_id, uint32_t *no, struct vr_err *e)
{
	struct route_table t = {0};
	int rc = obj_read(s, STORE_RTB, table_id, &t, e);

	model_rtb_clear(&t);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return no_table(e, table_id);
	*no = t.table;
	return 0;
}

/* ---- route tables ---- */

/* Tables are never read without their descriptions: with_desc is not looked at. */
static int rtb_from_row(struct store *s, sqlite3_stmt *q, void *o, bool with_desc, struct vr_err *e)
{
	struct route_table *t = o;
	int64_t no = sqlite3_column_int64(q, 2);

	memset(t, 0, sizeof(*t));
	if (col_copy(q, 0, t->id, sizeof(t->id)) < 0 ||
	    col_copy(q, 1, t->name, sizeof(t->name)) < 0 ||
	    col_copy(q, 4, t->created_at, sizeof(t->created_at)) < 0 ||
	    col_copy(q, 5, t->updated_at, sizeof(t->updated_at)) < 0 || no <= 0 || no > UINT32_MAX)
		return corrupt(e, "route table", t->id);
	t->table = (uint32_t)no;
	t->rev = sqlite3_column_int64(q, 6);
	return col_desc(q, 3, &t->description, e);
}

static int rtb_bind(sqlite3_stmt *q, const void *o, const char *key)
{
	const struct route_table *t = o;

	if (bind_text(q, 1, t->id, false) != SQLITE_OK ||
	    bind_text(q, 2, t->name, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 3, t->table) != SQLITE_OK ||
	    bind_text(q, 4, t->description, false) != SQLITE_OK ||
	    bind_text(q, 5, t->created_at, false) != SQLITE_OK ||
	    bind_text(q, 6, t->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 7, t->rev) != SQLITE_OK)
		return -1;
	return 0;
}

/* A table that gives no number keeps the stored one (and a retry matches what was assigned). */
static void rtb_inherit(void *o, const void *cur)
{
	struct route_table *t = o;
	const struct route_table *c = cur;

	if (!t->table)
		t->table = c->table;
}

/* Name the other table holding t's name or number. */
static int rtb_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                      struct vr_err *e)
{
	const struct route_table *t = o;
	sqlite3_stmt *q = st_get(s, ST_RTB_BY_NO);
	char other[ID_MAX];

	if (name_taken(s, STORE_RTB, ST_RTB_BY_NAME, t, "looking for a conflicting route table",
	               e) < 0)
		return -1;
	if (first_row(s, q,
	              sqlite3_bind_int64(q, 1, t->table) == SQLITE_OK &&
	                  bind_text(q, 2, t->id, false) == SQLITE_OK,
	              other, NULL, "looking for a conflicting route table", e) < 0)
		return -1;
	if (other[0])
		return err_set(e, HTTP_CONFLICT, "table",
		               "table %u is already used by route table %s", t->table, other);
	return err_set(e, HTTP_CONFLICT, "", "route table %s: %s", t->id, dbmsg);
}

/* Lowest number in [RTB_AUTO_FIRST, RTB_AUTO_LAST] used by no table and not in avoid. */
static int rtb_auto_table(struct store *s, const uint32_t *avoid, size_t navoid, uint32_t *out,
                          struct vr_err *e)
{
	uint8_t used[(RTB_AUTO_LAST - RTB_AUTO_FIRST + 1 + 7) / 8];
	sqlite3_stmt *q = st_get(s, ST_RTB_NOS_IN);
	uint32_t no;
	size_t i;
	int ret = -1;
	int rc;

	memset(used, 0, sizeof(used));
	for (i = 0; i < navoid; i++)
		if (avoid[i] >= RTB_AUTO_FIRST && avoid[i] <= RTB_AUTO_LAST)
			used[(avoid[i] - RTB_AUTO_FIRST) / 8] |=
			    1u << ((avoid[i] - RTB_AUTO_FIRST) % 8);
	if (sqlite3_bind_int64(q, 1, RTB_AUTO_FIRST) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 2, RTB_AUTO_LAST) != SQLITE_OK) {
		db_err(s, e, "binding");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		no = (uint32_t)sqlite3_column_int64(q, 0) - RTB_AUTO_FIRST;
		used[no / 8] |= 1u << (no % 8);
	}
	if (rc != SQLITE_DONE) {
		db_err(s, e, "listing table numbers");
		goto out;
	}
	for (no = RTB_AUTO_FIRST; no <= RTB_AUTO_LAST; no++) {
		if (!(used[(no - RTB_AUTO_FIRST) / 8] & (1u << ((no - RTB_AUTO_FIRST) % 8)))) {
			*out = no;
			ret = 0;
			goto out;
		}
	}
	err_set(e, HTTP_CONFLICT, "table", "no free table number left between %u and %u",
	        RTB_AUTO_FIRST, RTB_AUTO_LAST);
out:
	st_done(q);
	return ret;
}

/* The table numbers a create must not assign: those the kernel already uses. */
struct rtb_avoid {
	const uint32_t *v;
	size_t n;
};

/*
 * A new table without a number gets a free one (arg: a struct rtb_avoid).
 * The kernel's main table is not ours to rename or move; only its words are.
 */
static int rtb_prepare(struct store *s, void *o, const void *old, const void *arg, struct vr_err *e)
{
	struct route_table *t = o;
	const struct route_table *cur = old;
	const struct rtb_avoid *avoid = arg;

	if (!cur)
		return t->table ? 0 : rtb_auto_table(s, avoid->v, avoid->n, &t->table, e);
	if (strcmp(t->id, RTB_MAIN_ID) == 0 && strcmp(t->name, cur->name) != 0)
		return err_set(
		    e, HTTP_CONFLICT, "name",
		    "the built-in main table %s cannot be renamed (name must stay \"%s\")",
		    RTB_MAIN_ID, cur->name);
	if (strcmp(t->id, RTB_MAIN_ID) == 0 && t->table != RTB_MAIN_TABLE)
		return err_set(
		    e, HTTP_CONFLICT, "table",
		    "the built-in main table %s cannot be renumbered (table must stay %u)",
		    RTB_MAIN_ID, RTB_MAIN_TABLE);
	return 0;
}

/* A table stays while a route or a subnet uses it: 409 naming one. */
static int rtb_held(struct store *s, const char *id, struct vr_err *e)
{
	char user[ID_MAX];

	if (first_ids(s, ST_RTB_USER, id, NULL, user, NULL, "looking for users of a table", e) < 0)
		return -1;
	if (user[0])
		return err_set(e, HTTP_CONFLICT, "", "route table %s is still used by route %s", id,
		               user);
	if (first_ids(s, ST_RTB_SUBNET_USER, id, NULL, user, NULL, "looking for users of a table",
	              e) < 0)
		return -1;
	if (user[0])
		return err_set(e, HTTP_CONFLICT, "", "route table %s is still used by subnet %s",
		               id, user);
	return 0;
}

int store_rtb_create(struct store *s, struct route_table *t, const uint32_t *avoid, size_t navoid,
                     struct vr_err *e)
{
	const struct rtb_avoid av = {avoid, navoid};
	uint32_t asked = t->table;
	int ret = obj_create(s, STORE_RTB, t, &av, e);

	/* A failed create leaves no assigned number behind for the caller to resend. */
	if (ret < 0)
		t->table = asked;
	return ret;
}

int store_rtb_get(struct store *s, const char *id, struct route_table *out, struct vr_err *e)
{
	return obj_get(s, STORE_RTB, id, out, 0, e);
}

int store_rtb_replace(struct store *s, struct route_table *t, int64_t if_rev, struct vr_err *e)
{
	uint32_t asked = t->table;
	int ret = obj_replace(s, STORE_RTB, t, if_rev, e);

	if (ret < 0)
		t->table = asked;
	return ret;
}

int store_rtb_delete(struct store *s, const char *id, int64_t if_rev, struct vr_err *e)
{
	if (strcmp(id, RTB_MAIN_ID) == 0)
		return err_set(e, HTTP_CONFLICT, "", "the built-in main table %s cannot be deleted",
		               RTB_MAIN_ID);
	return obj_delete(s, STORE_RTB, id, if_rev, e);
}

int store_rtb_list(struct store *s, const char *after, size_t limit, struct route_table **out,
                   size_t *n, bool *more, struct vr_err *e)
{
	return obj_list(s, STORE_RTB, ST_RTB_LIST, NULL, 0, after, limit, (void **)out, n, more, e);
}

/* ---- routes ---- */

/* Mirrors routes.metric_key in schema/001_init.sql: the kernel stores IPv6 metric 0 as 1024. */
static int64_t route_metric_key(const struct route *r)
{
	if (r->dst.addr.family == AF_INET6 && r->metric == 0)
		return 1024;
	return r->metric;
}

static int route_from_row(struct store *s, sqlite3_stmt *q, void *o, bool with_desc,
                          struct vr_err *e)
{
	struct route *r = o;
	int64_t metric = sqlite3_column_int64(q, 6);
	int64_t no = sqlite3_column_int64(q, 11);
	char type[16];
	int t;

	memset(r, 0, sizeof(*r));
	if (col_copy(q, 0, r->id, sizeof(r->id)) < 0 ||
	    col_copy(q, 1, r->table_id, sizeof(r->table_id)) < 0 ||
	    col_copy(q, 2, r->destination, sizeof(r->destination)) < 0 ||
	    col_copy(q, 3, type, sizeof(type)) < 0 ||
	    col_copy(q, 4, r->via_text, sizeof(r->via_text)) < 0 ||
	    col_copy(q, 5, r->dev, sizeof(r->dev)) < 0 ||
	    col_copy(q, 8, r->created_at, sizeof(r->created_at)) < 0 ||
	    col_copy(q, 9, r->updated_at, sizeof(r->updated_at)) < 0)
		return corrupt(e, "route", r->id);
	t = model_route_type_parse(type);
	if (t < 0 || metric < 0 || metric > UINT32_MAX || no <= 0 || no > UINT32_MAX)
		return corrupt(e, "route", r->id);
	r->type = (enum route_type)t;
	r->metric = (uint32_t)metric;
	r->table = (uint32_t)no;
	r->rev = sqlite3_column_int64(q, 10);
	/* Stored only after validation, so these parse; a failure means a damaged row. */
	if (cidr_parse_prefix(r->destination, false, &r->dst) < 0)
		return corrupt(e, "route", r->id);
	if (r->via_text[0] && cidr_parse_addr(r->via_text, &r->via) < 0)
		return corrupt(e, "route", r->id);
	if (!with_desc)
		return 0;
	return col_desc(q, 7, &r->description, e);
}

/* The uniqueness key: the canonical destination, which validation made agree with the text. */
static void route_key(const void *o, char *key)
{
	const struct route *r = o;

	cidr_format_prefix(&r->dst, key, CIDR_STR_MAX);
}

static int route_bind(sqlite3_stmt *q, const void *o, const char *key)
{
	const struct route *r = o;

	if (bind_text(q, 1, r->id, false) != SQLITE_OK ||
	    bind_text(q, 2, r->table_id, false) != SQLITE_OK ||
	    bind_text(q, 3, r->destination, false) != SQLITE_OK ||
	    bind_text(q, 4, key, false) != SQLITE_OK ||
	    sqlite3_bind_int(q, 5, r->dst.addr.family == AF_INET6 ? 6 : 4) != SQLITE_OK ||
	    bind_text(q, 6, model_route_type_name(r->type), false) != SQLITE_OK ||
	    bind_text(q, 7, r->via_text, true) != SQLITE_OK ||
	    bind_text(q, 8, r->dev, true) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 9, r->metric) != SQLITE_OK ||
	    bind_text(q, 10, r->description, false) != SQLITE_OK ||
	    bind_text(q, 11, r->created_at, false) != SQLITE_OK ||
	    bind_text(q, 12, r->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 13, r->rev) != SQLITE_OK)
		return -1;
	return 0;
}

/* Fill r->table with the kernel number of r->table_id (422 when it does not exist). */
static int route_prepare(struct store *s, void *o, const void *old, const void *arg,
                         struct vr_err *e)
{
	struct route *r = o;

	return table_no(s, r->table_id, &r->table, e);
}

static int route_dangling(const void *o, struct vr_err *e)
{
	const struct route *r = o;

	return no_table(e, r->table_id);
}

/* Name the route already there with the same table, destination and kernel metric. */
static int route_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                        struct vr_err *e)
{
	const struct route *r = o;
	sqlite3_stmt *q = st_get(s, ST_RT_CONFLICT);
	char other[ID_MAX] = "";
	uint32_t metric = 0;
	int ret = -1;
	int rc;

	/* Not first_row: the metric column is a number. */
	if (bind_text(q, 1, r->table_id, false) != SQLITE_OK ||
	    bind_text(q, 2, key, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 3, route_metric_key(r)) != SQLITE_OK ||
	    bind_text(q, 4, r->id, false) != SQLITE_OK) {
		db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		col_copy(q, 0, other, sizeof(other));
		metric = (uint32_t)sqlite3_column_int64(q, 1);
	} else if (rc != SQLITE_DONE) {
		db_err(s, e, "looking for the conflicting route");
		goto out;
	}
	if (!other[0])
		err_set(e, HTTP_CONFLICT, "destination", "route %s: %s", r->id, dbmsg);
	else
		err_set(
		    e, HTTP_CONFLICT, "destination",
		    "a route to %s with metric %u already exists in table %s (%s)%s; " NO_MULTIPATH,
		    key, metric, r->table_id, other,
		    metric != r->metric ? "; the kernel counts IPv6 metric 0 as 1024" : "");
out:
	st_done(q);
	return ret;
}

int store_route_create(struct store *s, struct route *r, struct vr_err *e)
{
	return obj_create(s, STORE_ROUTE, r, NULL, e);
}

int store_route_get(struct store *s, const char *id, struct route *out, struct vr_err *e)
{
	return obj_get(s, STORE_ROUTE, id, out, 0, e);
}

int store_route_replace(struct store *s, struct route *r, int64_t if_rev, struct vr_err *e)
{
	return obj_replace(s, STORE_ROUTE, r, if_rev, e);
}

int store_route_delete(struct store *s, const char *id, int64_t if_rev, struct vr_err *e)
{
	return obj_delete(s, STORE_ROUTE, id, if_rev, e);
}

int store_route_list(struct store *s, const char *table_id, const char *after, size_t limit,
                     struct route **out, size_t *n, bool *more, struct vr_err *e)
{
	/* Two statements, so the table filter can use routes_by_table. */
	return obj_list(s, STORE_ROUTE, table_id ? ST_RT_LIST_TABLE : ST_RT_LIST, &table_id,
	                table_id ? 1 : 0, after, limit, (void **)out, n, more, e);
}

/* Hands walk_rows' routes to the callback of store_routes_each. */
struct each_route {
	int (*fn)(void *arg, const struct route *r);
	void *arg;
};

static int each_route(void *arg, enum store_kind k, const void *obj, struct vr_err *e)
{
	const struct each_route *er = arg;

	return er->fn(er->arg, obj);
}

int store_routes_each(struct store *s, int (*fn)(void *arg, const struct route *r), void *arg,
                      int64_t *rev, struct vr_err *e)
{
	struct each_route er = {fn, arg};
	int ret;

	if (read_begin(s, rev, e) < 0)
		return -1;
	ret = walk_rows(s, STORE_ROUTE, false, each_route, &er, "reading routes", e);
	if (ret == 0 && tx_commit(s, e) < 0)
		ret = -1;
	tx_end(s);
	return ret;
}

/* ---- security groups ---- */

/* Canonical text of a target: the uniqueness key in sg_targets. */
static void sg_target_key(const struct sg_target *t, char *buf, size_t size)
{
	if (t->local)
		snprintf(buf, size, "%s", SG_TARGET_LOCAL);
	else
		cidr_format_prefix(&t->p, buf, size);
}

/* Append g's stored targets, in order, to g (whose id is set). */
static int sg_targets_read(struct store *s, struct security_group *g, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_SG_TG_GET);
	size_t cap = 0;
	int ret = -1;
	int rc;

	if (bind_text(q, 1, g->id, false) != SQLITE_OK) {
		db_err(s, e, "binding");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		/* Groups have few targets; a list's first 64 would waste memory per group. */
		if (array_grow((void **)&g->targets, &cap, g->ntargets, sizeof(*g->targets),
		               SG_TARGETS_FIRST, e) < 0)
			goto out;
		if (col_copy(q, 0, g->targets[g->ntargets].text, sizeof(g->targets[0].text)) < 0) {
			corrupt(e, "security group", g->id);
			goto out;
		}
		g->ntargets++;
	}
	if (rc != SQLITE_DONE) {
		db_err(s, e, "reading security group targets");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* A group from a row of SG_COLS, with its targets read and parsed. */
static int sg_from_row(struct store *s, sqlite3_stmt *q, void *o, bool with_desc, struct vr_err *e)
{
	struct security_group *g = o;
	struct vr_err ignored;

	memset(g, 0, sizeof(*g));
	if (col_copy(q, 0, g->id, sizeof(g->id)) < 0 ||
	    col_copy(q, 1, g->name, sizeof(g->name)) < 0 ||
	    col_copy(q, 3, g->created_at, sizeof(g->created_at)) < 0 ||
	    col_copy(q, 4, g->updated_at, sizeof(g->updated_at)) < 0)
		return corrupt(e, "security group", g->id);
	g->rev = sqlite3_column_int64(q, 5);
	if (with_desc && col_desc(q, 2, &g->description, e) < 0)
		return -1;
	if (sg_targets_read(s, g, e) < 0)
		return -1;
	/* Stored only after validation, so they must pass again. */
	if (model_sg_validate(g, &ignored) < 0)
		return corrupt(e, "security group", g->id);
	return 0;
}

static int sg_bind(sqlite3_stmt *q, const void *o, const char *key)
{
	const struct security_group *g = o;

	if (bind_text(q, 1, g->id, false) != SQLITE_OK ||
	    bind_text(q, 2, g->name, false) != SQLITE_OK ||
	    bind_text(q, 3, g->description, false) != SQLITE_OK ||
	    bind_text(q, 4, g->created_at, false) != SQLITE_OK ||
	    bind_text(q, 5, g->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 6, g->rev) != SQLITE_OK)
		return -1;
	return 0;
}

/* Replace g's stored targets with g->targets, in order. */
static int sg_write_targets(struct store *s, const void *o, struct vr_err *e)
{
	const struct security_group *g = o;
	sqlite3_stmt *q = st_get(s, ST_SG_TG_CLEAR);
	char key[CIDR_STR_MAX];
	size_t i;
	int rc;

	if (bind_text(q, 1, g->id, false) != SQLITE_OK) {
		st_done(q);
		return db_err(s, e, "binding");
	}
	rc = sqlite3_step(q);
	st_done(q);
	if (rc != SQLITE_DONE)
		return db_err(s, e, "clearing security group targets");
	q = st_get(s, ST_SG_TG_INSERT);
	for (i = 0; i < g->ntargets; i++) {
		sg_target_key(&g->targets[i], key, sizeof(key));
		if (bind_text(q, 1, g->id, false) != SQLITE_OK ||
		    sqlite3_bind_int64(q, 2, (int64_t)i) != SQLITE_OK ||
		    bind_text(q, 3, g->targets[i].text, false) != SQLITE_OK ||
		    bind_text(q, 4, key, false) != SQLITE_OK) {
			st_done(q);
			return db_err(s, e, "binding");
		}
		rc = sqlite3_step(q);
		st_done(q);
		/* Validation refuses repeats; this is the schema agreeing with it. */
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			return err_set(e, HTTP_UNPROCESSABLE, "targets",
			               "targets[%zu] \"%s\" repeats an earlier target", i,
			               g->targets[i].text);
		if (rc != SQLITE_DONE)
			return db_err(s, e, "writing security group targets");
	}
	return 0;
}

/* Name the other group holding g's name. */
static int sg_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                     struct vr_err *e)
{
	const struct security_group *g = o;

	if (name_taken(s, STORE_SG, ST_SG_BY_NAME, g, "looking for the conflicting security group",
	               e) < 0)
		return -1;
	return err_set(e, HTTP_CONFLICT, "", "security group %s: %s", g->id, dbmsg);
}

/*
 * A group stays while a rule of another group names it as its remote group;
 * the schema cascades to its targets and its own rules.
 */
static int sg_held(struct store *s, const char *id, struct vr_err *e)
{
	char rule[ID_MAX], group[ID_MAX];

	if (first_ids(s, ST_SG_REFERRER, id, NULL, rule, group,
	              "looking for rules naming a security group", e) < 0)
		return -1;
	if (rule[0])
		return err_set(e, HTTP_CONFLICT, "",
		               "security group %s is still referenced by rule %s of security group "
		               "%s (remote_security_group_id); delete or change that rule first",
		               id, rule, group);
	return 0;
}

int store_sg_create(struct store *s, struct security_group *g, struct vr_err *e)
{
	return obj_create(s, STORE_SG, g, NULL, e);
}

int store_sg_get(struct store *s, const char *id, struct security_group *out, struct vr_err *e)
{
	return obj_get(s, STORE_SG, id, out, 0, e);
}

int store_sg_replace(struct store *s, struct security_group *g, int64_t if_rev, struct vr_err *e)
{
	return obj_replace(s, STORE_SG, g, if_rev, e);
}

int store_sg_delete(struct store *s, const char *id, int64_t if_rev, struct vr_err *e)
{
	return obj_delete(s, STORE_SG, id, if_rev, e);
}

int store_sg_list(struct store *s, const char *after, size_t limit, struct security_group **out,
                  size_t *n, bool *more, struct vr_err *e)
{
	return obj_list(s, STORE_SG, ST_SG_LIST, NULL, 0, after, limit, (void **)out, n, more, e);
}

/* ---- security group rules ---- */

static int sgr_from_row(struct store *s, sqlite3_stmt *q, void *o, bool with_desc, struct vr_err *e)
{
	struct sg_rule *r = o;
	struct vr_err ignored;
	char dir[16], proto[16];
	int d, p;

	memset(r, 0, sizeof(*r));
	if (col_copy(q, 0, r->id, sizeof(r->id)) < 0 ||
	    col_copy(q, 1, r->group_id, sizeof(r->group_id)) < 0 ||
	    col_copy(q, 2, dir, sizeof(dir)) < 0 || col_copy(q, 3, proto, sizeof(proto)) < 0 ||
	    col_copy(q, 6, r->cidr_text, sizeof(r->cidr_text)) < 0 ||
	    col_copy(q, 7, r->remote_group_id, sizeof(r->remote_group_id)) < 0 ||
	    col_copy(q, 9, r->created_at, sizeof(r->created_at)) < 0 ||
	    col_copy(q, 10, r->updated_at, sizeof(r->updated_at)) < 0)
		return corrupt(e, "security group rule", r->id);
	d = model_sg_direction_parse(dir);
	p = model_sg_protocol_parse(proto);
	if (d < 0 || p < 0)
		return corrupt(e, "security group rule", r->id);
	r->direction = (enum sg_direction)d;
	r->protocol = (enum sg_protocol)p;
	r->port_from_set = sqlite3_column_type(q, 4) != SQLITE_NULL;
	r->port_from_in = sqlite3_column_int64(q, 4);
	r->port_to_set = sqlite3_column_type(q, 5) != SQLITE_NULL;
	r->port_to_in = sqlite3_column_int64(q, 5);
	r->rev = sqlite3_column_int64(q, 11);
	/* Stored only after validation: this fills the parsed fields, or finds a damaged row. */
	if (model_sg_rule_validate(r, &ignored) < 0)
		return corrupt(e, "security group rule", r->id);
	if (!with_desc)
		return 0;
	return col_desc(q, 8, &r->description, e);
}

/* The canonical cidr, "" for a rule naming a remote group; validation filled r->cidr. */
static void sgr_key(const void *o, char *key)
{
	const struct sg_rule *r = o;

	key[0] = '\0';
	if (r->cidr_text[0])
		cidr_format_prefix(&r->cidr, key, CIDR_STR_MAX);
}

static int sgr_bind(sqlite3_stmt *q, const void *o, const char *cidr_key)
{
	const struct sg_rule *r = o;

	if (bind_text(q, 1, r->id, false) != SQLITE_OK ||
	    bind_text(q, 2, r->group_id, false) != SQLITE_OK ||
	    bind_text(q, 3, model_sg_direction_name(r->direction), false) != SQLITE_OK ||
	    bind_text(q, 4, model_sg_protocol_name(r->protocol), false) != SQLITE_OK ||
	    (r->has_ports ? sqlite3_bind_int64(q, 5, r->port_from) : sqlite3_bind_null(q, 5)) !=
	        SQLITE_OK ||
	    (r->has_ports ? sqlite3_bind_int64(q, 6, r->port_to) : sqlite3_bind_null(q, 6)) !=
	        SQLITE_OK ||
	    bind_text(q, 7, r->cidr_text, true) != SQLITE_OK ||
	    bind_text(q, 8, cidr_key, true) != SQLITE_OK ||
	    bind_text(q, 9, r->remote_group_id, true) != SQLITE_OK ||
	    bind_text(q, 10, r->description, false) != SQLITE_OK ||
	    bind_text(q, 11, r->created_at, false) != SQLITE_OK ||
	    bind_text(q, 12, r->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 13, r->rev) != SQLITE_OK)
		return -1;
	return 0;
}

/* *yes tells whether security group id exists. */
static int sg_exists(struct store *s, const char *id, bool *yes, struct vr_err *e)
{
	char found[ID_MAX];

	*yes = false;
	if (first_ids(s, ST_SG_EXISTS, id, NULL, found, NULL, "looking up a security group", e) < 0)
		return -1;
	*yes = found[0] != '\0';
	return 0;
}

/* 422 naming the field when the rule's group or remote group does not exist. */
static int sgr_prepare(struct store *s, void *o, const void *old, const void *arg, struct vr_err *e)
{
	const struct sg_rule *r = o;
	bool yes;

	if (sg_exists(s, r->group_id, &yes, e) < 0)
		return -1;
	if (!yes)
		return err_set(e, HTTP_UNPROCESSABLE, "security_group_id",
		               "security group \"%s\" does not exist", r->group_id);
	if (!r->remote_group_id[0] || strcmp(r->remote_group_id, r->group_id) == 0)
		return 0;
	if (sg_exists(s, r->remote_group_id, &yes, e) < 0)
		return -1;
	if (!yes)
		return err_set(e, HTTP_UNPROCESSABLE, "remote_security_group_id",
		               "security group \"%s\" does not exist", r->remote_group_id);
	return 0;
}

static int sgr_dangling(const void *o, struct vr_err *e)
{
	const struct sg_rule *r = o;

	return err_set(e, HTTP_UNPROCESSABLE, "security_group_id",
	               "rule %s names a security group that does not exist", r->id);
}

/* The rule's peer as the uniqueness key sees it: canonical cidr, or the remote group id. */
static const char *sgr_peer_key(const struct sg_rule *r, const char *cidr_key)
{
	return cidr_key[0] ? cidr_key : r->remote_group_id;
}

/* Words for what a rule allows: "ingress tcp ports 22-22 from 10.0.0.0/8". */
static void sgr_describe(const struct sg_rule *r, const char *cidr_key, char *buf, size_t size)
{
	char ports[32] = "";

	if (r->has_ports)
		snprintf(ports, sizeof(ports), " ports %u-%u", r->port_from, r->port_to);
	snprintf(buf, size, "%s %s%s %s %s%s", model_sg_direction_name(r->direction),
	         model_sg_protocol_name(r->protocol), ports,
	         r->direction == SG_INGRESS ? "from" : "to", cidr_key[0] ? "" : "security group ",
	         sgr_peer_key(r, cidr_key));
}

/* Name the rule already there with the same identity. */
static int sgr_unique(struct store *s, const void *o, const char *cidr_key, const char *dbmsg,
                      struct vr_err *e)
{
	const struct sg_rule *r = o;
	sqlite3_stmt *q = st_get(s, ST_SGR_CONFLICT);
	char other[ID_MAX];
	char what[ERR_MSG_MAX / 2];
	bool bound = bind_text(q, 1, r->group_id, false) == SQLITE_OK &&
	             bind_text(q, 2, model_sg_direction_name(r->direction), false) == SQLITE_OK &&
	             bind_text(q, 3, model_sg_protocol_name(r->protocol), false) == SQLITE_OK &&
	             sqlite3_bind_int64(q, 4, r->has_ports ? r->port_from : 0) == SQLITE_OK &&
	             sqlite3_bind_int64(q, 5, r->has_ports ? r->port_to : 0) == SQLITE_OK &&
	             bind_text(q, 6, sgr_peer_key(r, cidr_key), false) == SQLITE_OK &&
	             bind_text(q, 7, r->id, false) == SQLITE_OK;

	if (first_row(s, q, bound, other, NULL, "looking for the conflicting security group rule",
	              e) < 0)
		return -1;
	sgr_describe(r, cidr_key, what, sizeof(what));
	if (other[0])
		return err_set(e, HTTP_CONFLICT, "",
		               "security group %s already has a rule allowing %s (%s)", r->group_id,
		               what, other);
	return err_set(e, HTTP_CONFLICT, "", "security group rule %s: %s", r->id, dbmsg);
}

int store_sg_rule_create(struct store *s, struct sg_rule *r, struct vr_err *e)
{
	return obj_create(s, STORE_SGR, r, NULL, e);
}

int store_sg_rule_get(struct store *s, const char *id, struct sg_rule *out, struct vr_err *e)
{
	return obj_get(s, STORE_SGR, id, out, 0, e);
}

int store_sg_rule_replace(struct store *s, struct sg_rule *r, int64_t if_rev, struct vr_err *e)
{
	return obj_replace(s, STORE_SGR, r, if_rev, e);
}

int store_sg_rule_delete(struct store *s, const char *id, int64_t if_rev, struct vr_err *e)
{
	return obj_delete(s, STORE_SGR, id, if_rev, e);
}

int store_sg_rule_list(struct store *s, const char *group_id, const char *after, size_t limit,
                       struct sg_rule **out, size_t *n, bool *more, struct vr_err *e)
{
	return store_sg_rule_list_by(s, group_id, NULL, after, limit, out, n, more, e);
}

int store_sg_rule_list_by(struct store *s, const char *group_id, const char *remote_id,
                          const char *after, size_t limit, struct sg_rule **out, size_t *n,
                          bool *more, struct vr_err *e)
{
	/* With a remote group, an empty group_id filters nothing, as NULL does. */
	const char *by_remote[] = {remote_id, group_id && group_id[0] ? group_id : NULL};

	if (remote_id)
		return obj_list(s, STORE_SGR, ST_SGR_LIST_REMOTE, by_remote, 2, after, limit,
		                (void **)out, n, more, e);
	/* Separate statements, so the group filter can use security_group_rules_by_group. */
	return obj_list(s, STORE_SGR, group_id ? ST_SGR_LIST_GROUP : ST_SGR_LIST, &group_id,
	                group_id ? 1 : 0, after, limit, (void **)out, n, more, e);
}

int store_sg_load(struct store *s, struct security_group **groups, size_t *ng,
                  struct sg_rule **rules, size_t *nr, int64_t *rev, struct vr_err *e)
{
	int ret = -1;

	*groups = NULL;
	*rules = NULL;
	*ng = *nr = 0;
	/* One read transaction: groups and rules are exactly those of the revision returned. */
	if (read_begin(s, rev, e) < 0)
		return -1;
	if (obj_load(s, STORE_SG, false, LIST_INITIAL, (void **)groups, ng, e) < 0 ||
	    obj_load(s, STORE_SGR, false, LIST_INITIAL, (void **)rules, nr, e) < 0 ||
	    tx_commit(s, e) < 0)
		goto out;
	ret = 0;
out:
	tx_end(s);
	if (ret < 0) {
		obj_unload(STORE_SG, (void **)groups, ng);
		obj_unload(STORE_SGR, (void **)rules, nr);
	}
	return ret;
}

/* ---- subnets ---- */

/* The columns of SN_COLS; cidr and router_ip are parsed again, as they were validated. */
static int sn_from_row(struct store *s, sqlite3_stmt *q, void *o, bool with_desc, struct vr_err *e)
{
	struct subnet *sn = o;
	int64_t no = sqlite3_column_int64(q, 10);
	struct vr_err ignored;

	memset(sn, 0, sizeof(*sn));
	if (col_copy(q, 0, sn->id, sizeof(sn->id)) < 0 ||
	    col_copy(q, 1, sn->name, sizeof(sn->name)) < 0 ||
	    col_copy(q, 2, sn->cidr_text, sizeof(sn->cidr_text)) < 0 ||
	    col_copy(q, 3, sn->interface, sizeof(sn->interface)) < 0 ||
	    col_copy(q, 4, sn->router_ip_text, sizeof(sn->router_ip_text)) < 0 ||
	    col_copy(q, 5, sn->table_id, sizeof(sn->table_id)) < 0 ||
	    col_copy(q, 7, sn->created_at, sizeof(sn->created_at)) < 0 ||
	    col_copy(q, 8, sn->updated_at, sizeof(sn->updated_at)) < 0 || no <= 0 ||
	    no > UINT32_MAX)
		return corrupt(e, "subnet", sn->id);
	sn->rev = sqlite3_column_int64(q, 9);
	sn->table = (uint32_t)no;
	if (model_subnet_validate(sn, &ignored) < 0)
		return corrupt(e, "subnet", sn->id);
	if (!with_desc)
		return 0;
	return col_desc(q, 6, &sn->description, e);
}

/* The canonical network, which validation made agree with the cidr text. */
static void sn_key(const void *o, char *key)
{
	const struct subnet *sn = o;

	cidr_format_prefix(&sn->cidr, key, CIDR_STR_MAX);
}

static int sn_bind(sqlite3_stmt *q, const void *o, const char *key)
{
	const struct subnet *sn = o;

	if (bind_text(q, 1, sn->id, false) != SQLITE_OK ||
	    bind_text(q, 2, sn->name, false) != SQLITE_OK ||
	    bind_text(q, 3, sn->cidr_text, false) != SQLITE_OK ||
	    bind_text(q, 4, key, false) != SQLITE_OK ||
	    sqlite3_bind_int(q, 5, sn->cidr.addr.family == AF_INET6 ? 6 : 4) != SQLITE_OK ||
	    bind_text(q, 6, sn->interface, false) != SQLITE_OK ||
	    bind_text(q, 7, sn->router_ip_text, false) != SQLITE_OK ||
	    bind_text(q, 8, sn->table_id, false) != SQLITE_OK ||
	    bind_text(q, 9, sn->description, false) != SQLITE_OK ||
	    bind_text(q, 10, sn->created_at, false) != SQLITE_OK ||
	    bind_text(q, 11, sn->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 12, sn->rev) != SQLITE_OK)
		return -1;
	return 0;
}

/*
 * 409 naming the first other subnet of the same family whose cidr shares an
 * address with sn's: their router addresses and connected routes would
 * collide on the one router this namespace is.
 */
static int sn_check_overlap(struct store *s, const struct subnet *sn, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_SN_FAMILY);
	char id[ID_MAX], name[NAME_MAX_LEN + 1], cidr[CIDR_STR_MAX];
	struct prefix p;
	int ret = -1;
	int rc;

	if (sqlite3_bind_int(q, 1, sn->cidr.addr.family == AF_INET6 ? 6 : 4) != SQLITE_OK ||
	    bind_text(q, 2, sn->id, false) != SQLITE_OK) {
		db_err(s, e, "binding");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (col_copy(q, 0, id, sizeof(id)) < 0 || col_copy(q, 1, name, sizeof(name)) < 0 ||
		    col_copy(q, 2, cidr, sizeof(cidr)) < 0 ||
		    cidr_parse_prefix(cidr, false, &p) < 0) {
			corrupt(e, "subnet", id);
			goto out;
		}
		if (!cidr_overlaps(&sn->cidr, &p))
			continue;
		err_set(e, HTTP_CONFLICT, "cidr", "cidr %s overlaps subnet %s (\"%s\", cidr %s)",
		        sn->cidr_text, id, name, cidr);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		db_err(s, e, "looking for overlapping subnets");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* Resolve the table (422 when it does not exist); 409 for a cidr overlapping another's. */
static int sn_prepare(struct store *s, void *o, const void *old, const void *arg, struct vr_err *e)
{
	struct subnet *sn = o;

	if (table_no(s, sn->table_id, &sn->table, e) < 0)
		return -1;
	return sn_check_overlap(s, sn, e);
}

static int sn_dangling(const void *o, struct vr_err *e)
{
	const struct subnet *sn = o;

	return no_table(e, sn->table_id);
}

/* Name the other subnet holding sn's name; else it is the cidr_key index. */
static int sn_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                     struct vr_err *e)
{
	const struct subnet *sn = o;

	if (name_taken(s, STORE_SUBNET, ST_SN_BY_NAME, sn, "looking for the conflicting subnet",
	               e) < 0)
		return -1;
	/* sn_check_overlap normally answers first. */
	return err_set(e, HTTP_CONFLICT, "cidr", "subnet %s: cidr %s is already used (%s)", sn->id,
	               sn->cidr_text, dbmsg);
}

int store_subnet_create(struct store *s, struct subnet *sn, struct vr_err *e)
{
	return obj_create(s, STORE_SUBNET, sn, NULL, e);
}

int store_subnet_get(struct store *s, const char *id, struct subnet *out, struct vr_err *e)
{
	return obj_get(s, STORE_SUBNET, id, out, 0, e);
}

int store_subnet_replace(struct store *s, struct subnet *sn, int64_t if_rev, struct vr_err *e)
{
	return obj_replace(s, STORE_SUBNET, sn, if_rev, e);
}

int store_subnet_delete(struct store *s, const char *id, int64_t if_rev, struct vr_err *e)
{
	return obj_delete(s, STORE_SUBNET, id, if_rev, e);
}

int store_subnet_list(struct store *s, const char *table_id, const char *interface,
                      const char *after, size_t limit, struct subnet **out, size_t *n, bool *more,
                      struct vr_err *e)
{
	/* One statement for every filter combination: NULL matches any. */
	const char *filter[] = {table_id, interface};

	return obj_list(s, STORE_SUBNET, ST_SN_LIST, filter, 2, after, limit, (void **)out, n, more,
	                e);
}

/* ---- the kinds ---- */

/* The model's typed functions behind the void pointers of struct kind. */
#define MODEL_FNS(m)                                                                               \
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
MODEL_FNS(rtb)
MODEL_FNS(route)
MODEL_FNS(subnet)
MODEL_FNS(sg)
MODEL_FNS(sg_rule)
#undef MODEL_FNS

#define MODEL(m)                                                                                   \
	.clear = m##_clear_any, .free_array = m##_free_any, .validate = m##_validate_any,          \
	.same = m##_same_any
/* Every kind's statements are named alike: ST_<p>_GET, ST_<p>_INSERT... */
#define STATEMENTS(p)                                                                              \
	.get = ST_##p##_GET, .insert = ST_##p##_INSERT, .update = ST_##p##_UPDATE,                 \
	.del = ST_##p##_DELETE, .load = ST_##p##_LOAD
#define LAYOUT(type)                                                                               \
	.size = sizeof(type), .created_at = offsetof(type, created_at),                            \
	.updated_at = offsetof(type, updated_at), .rev = offsetof(type, rev)

static const struct kind kinds[STORE_KINDS] = {
    [STORE_RTB] = {.key = "route_tables",
                   .prefix = "rtb-",
                   .noun = "route table",
                   LAYOUT(struct route_table),
                   .name = offsetof(struct route_table, name),
                   MODEL(rtb),
                   STATEMENTS(RTB),
                   .from_row = rtb_from_row,
                   .inherit = rtb_inherit,
                   .bind = rtb_bind,
                   .prepare = rtb_prepare,
                   .held = rtb_held,
                   .unique = rtb_unique},
    [STORE_ROUTE] = {.key = "routes",
                     .prefix = "rt-",
                     .noun = "route",
                     LAYOUT(struct route),
                     MODEL(route),
                     STATEMENTS(RT),
                     .from_row = route_from_row,
                     .index_key = route_key,
                     .bind = route_bind,
                     .prepare = route_prepare,
                     .dangling = route_dangling,
                     .unique = route_unique},
    [STORE_SUBNET] = {.key = "subnets",
                      .prefix = SUBNET_PREFIX,
                      .noun = "subnet",
                      LAYOUT(struct subnet),
                      .name = offsetof(struct subnet, name),
                      MODEL(subnet),
                      STATEMENTS(SN),
                      .from_row = sn_from_row,
                      .index_key = sn_key,
                      .bind = sn_bind,
                      .prepare = sn_prepare,
                      .dangling = sn_dangling,
                      .unique = sn_unique},
    /* Deleting a group would take its rules with it: a whole-state replace updates it. */
    [STORE_SG] = {.key = "security_groups",
                  .prefix = "sg-",
                  .noun = "security group",
                  LAYOUT(struct security_group),
                  .name = offsetof(struct security_group, name),
                  MODEL(sg),
                  STATEMENTS(SG),
                  .in_place = true,
                  .from_row = sg_from_row,
                  .bind = sg_bind,
                  .children = sg_write_targets,
                  .held = sg_held,
                  .unique = sg_unique},
    [STORE_SGR] = {.key = "security_group_rules",
                   .prefix = "sgr-",
                   .noun = "security group rule",
                   LAYOUT(struct sg_rule),
                   MODEL(sg_rule),
                   STATEMENTS(SGR),
                   .from_row = sgr_from_row,
                   .index_key = sgr_key,
                   .bind = sgr_bind,
                   .prepare = sgr_prepare,
                   .dangling = sgr_dangling,
                   .unique = sgr_unique},
};
#undef MODEL
#undef STATEMENTS
#undef LAYOUT

/* ---- settings ---- */

static int settings_read(struct store *s, struct settings *out, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_SET_GET);
	int ret = -1;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		/* Migration 003 inserts the row and nothing deletes it. */
		err_set(e, HTTP_INTERNAL, "", "database: the settings row is missing");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		db_err(s, e, "reading the settings");
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
	return settings_read(s, out, e);
}

/* Store set: its forwarding flags, whether they are managed, its updated_at and rev. */
static int settings_write(struct store *s, const struct settings *set, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_SET_PUT);
	int ret = -1;

	if (sqlite3_bind_int(q, 1, set->fwd_v4) != SQLITE_OK ||
	    sqlite3_bind_int(q, 2, set->fwd_v6) != SQLITE_OK ||
	    bind_text(q, 3, set->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 4, set->rev) != SQLITE_OK ||
	    sqlite3_bind_int(q, 5, set->managed) != SQLITE_OK) {
		db_err(s, e, "binding");
		goto out;
	}
	if (sqlite3_step(q) != SQLITE_DONE || sqlite3_changes(s->db) != 1) {
		db_err(s, e, "writing the settings");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/*
 * Write set over the settings in one transaction (412 when if_rev > 0 is not
 * the stored rev). A put (undo NULL) marks them managed with a new rev and
 * updated_at; an undo keeps set's own and gets the new revision in *undo.
 */
static int settings_overwrite(struct store *s, struct settings *set, int64_t if_rev, int64_t *undo,
                              struct vr_err *e)
{
	struct settings old;
	struct settings neu = *set;
	int ret = -1;

	if (tx_begin(s, e) < 0)
		return -1;
	if (settings_read(s, &old, e) < 0)
		goto out;
	if (if_rev > 0 && if_rev != old.rev) {
		err_set(e, HTTP_PRECONDITION, "",
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
	if (rev_bump(s, undo ? undo : &neu.rev, e) < 0)
		goto out;
	if (!undo) {
		neu.managed = true;
		model_now(neu.updated_at);
	}
	if (settings_write(s, &neu, e) < 0)
		goto out;
	if (tx_commit(s, e) < 0)
		goto out;
	*set = neu;
	ret = 0;
out:
	tx_end(s);
	return ret;
}

int store_settings_put(struct store *s, struct settings *set, int64_t if_rev, struct vr_err *e)
{
	return settings_overwrite(s, set, if_rev, NULL, e);
}

int store_net_load(struct store *s, struct subnet **subs, size_t *n, struct settings *set,
                   int64_t *rev, struct vr_err *e)
{
	int ret = -1;

	*subs = NULL;
	*n = 0;
	/* One read transaction: subnets and settings are exactly those of the revision returned. */
	if (read_begin(s, rev, e) < 0)
		return -1;
	if (settings_read(s, set, e) < 0 ||
	    obj_load(s, STORE_SUBNET, false, LIST_INITIAL, (void **)subs, n, e) < 0 ||
	    tx_commit(s, e) < 0)
		goto out;
	ret = 0;
out:
	tx_end(s);
	if (ret < 0)
		obj_unload(STORE_SUBNET, (void **)subs, n);
	return ret;
}

/* ---- the whole desired state ---- */

const char *store_kind_key(enum store_kind k)
{
	return k < STORE_KINDS ? kinds[k].key : "?";
}

/* ---- undoing a write (?require_active=true) ---- */

int store_obj_restore(struct store *s, enum store_kind k, void *o, int64_t if_rev, int64_t *rev,
                      struct vr_err *e)
{
	/* Only the version the undone write made: a later write stays. */
	return obj_overwrite(s, k, o, if_rev, rev, e);
}

int store_settings_restore(struct store *s, const struct settings *old, int64_t if_rev,
                           int64_t *rev, struct vr_err *e)
{
	struct settings set = *old;

	/* Only the version the undone put made: a later put stays. */
	return settings_overwrite(s, &set, if_rev, rev, e);
}

/* What a replace does with one item of the document. */
enum cfg_op { CFG_SAME = 0, CFG_NEW, CFG_CHANGED };

/* One replace in progress. */
struct cfg {
	struct store *s;
	struct store_config *c;
	struct store_diff *d;
	void *items[STORE_KINDS];          /* c's arrays, by kind */
	size_t n[STORE_KINDS];             /* their lengths */
	uint32_t *ord[STORE_KINDS];        /* item indices in id order */
	uint8_t *op[STORE_KINDS];          /* enum cfg_op per item */
	char (*gone[STORE_KINDS])[ID_MAX]; /* stored ids the document drops, every one */
	size_t ngone[STORE_KINDS], capgone[STORE_KINDS];
	void *cur[STORE_KINDS]; /* the stored objects of each kind but routes, in id order */
	size_t ncur[STORE_KINDS];
	struct route_table main_cur; /* the stored rtb-main */
	struct idmap *tables;        /* every table after the replace: id -> struct route_table * */
	ssize_t main_doc;            /* rtb-main's index in the document, -1 when absent */
	int64_t rev;
	char now[TIME_MAX];
};

static void *item_at(const struct cfg *x, enum store_kind k, size_t i)
{
	return (char *)x->items[k] + i * kinds[k].size;
}

static char *item_id(const struct cfg *x, enum store_kind k, size_t i)
{
	return item_at(x, k, i);
}

/* An error about item i of kind k; field names its field ("routes[17].destination"), NULL the item.
 */
static int item_err(struct vr_err *e, int status, enum store_kind k, size_t i, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int item_err(struct vr_err *e, int status, enum store_kind k, size_t i, const char *field,
                    const char *fmt, ...)
{
	char path[ERR_FIELD_MAX], msg[ERR_MSG_MAX];
	va_list ap;

	if (field && field[0])
		snprintf(path, sizeof(path), "%s[%zu].%s", kinds[k].key, i, field);
	else
		snprintf(path, sizeof(path), "%s[%zu]", kinds[k].key, i);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(e, status, path, "%s", msg);
}

/* Point an error from a single-object write at item i of kind k. */
static int item_wrap(struct vr_err *e, enum store_kind k, size_t i, const char *id)
{
	char msg[ERR_MSG_MAX];

	if (e->status >= HTTP_INTERNAL)
		return -1;
	snprintf(msg, sizeof(msg), "%s", e->msg);
	return item_err(e, e->status, k, i, e->field, "%s %s: %s", kinds[k].noun, id, msg);
}

/* ---- sorting item indices ---- */

struct sort_ctx {
	const struct cfg *x;
	enum store_kind k;
};

static int by_id(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;

	return strcmp(item_id(sc->x, sc->k, *(const uint32_t *)a),
	              item_id(sc->x, sc->k, *(const uint32_t *)b));
}

/* A new array of the indices 0..n-1 of kind k sorted with cmp; NULL when out of memory. */
static uint32_t *sorted_idx(const struct cfg *x, enum store_kind k,
                            int (*cmp)(const void *, const void *, void *))
{
	struct sort_ctx sc = {.x = x, .k = k};
	uint32_t *v = malloc((x->n[k] ? x->n[k] : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < x->n[k]; i++)
		v[i] = (uint32_t)i;
	qsort_r(v, x->n[k], sizeof(*v), cmp, &sc);
	return v;
}

/*
 * The first pair of items equal under cmp in the sorted v: 1 with *lo < *hi
 * their document indices (the later one is the one to blame), 0 when none.
 */
static int first_dup(const struct cfg *x, enum store_kind k, const uint32_t *v,
                     int (*cmp)(const void *, const void *, void *), uint32_t *lo, uint32_t *hi)
{
	struct sort_ctx sc = {.x = x, .k = k};

	for (size_t j = 1; j < x->n[k]; j++) {
		if (cmp(&v[j - 1], &v[j], &sc))
			continue;
		*lo = v[j - 1] < v[j] ? v[j - 1] : v[j];
		*hi = v[j - 1] < v[j] ? v[j] : v[j - 1];
		return 1;
	}
	return 0;
}

/* Give items without an id a new one, sort by id, refuse an id given twice. */
static int cfg_ids(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	uint32_t lo, hi;

	for (size_t i = 0; i < x->n[k]; i++)
		if (!item_id(x, k, i)[0])
			model_id_new(kinds[k].prefix, item_id(x, k, i));
	x->ord[k] = sorted_idx(x, k, by_id);
	x->op[k] = calloc(x->n[k] ? x->n[k] : 1, 1);
	if (!x->ord[k] || !x->op[k])
		return oom(e);
	if (first_dup(x, k, x->ord[k], by_id, &lo, &hi))
		return item_err(e, HTTP_CONFLICT, k, hi, "id", "id %s is also %s[%u]",
		                item_id(x, k, hi), kinds[k].key, lo);
	return 0;
}

/* The document index of the item of kind k with this id, or -1. */
static ssize_t find_id(const struct cfg *x, enum store_kind k, const char *id)
{
	size_t lo = 0, hi = x->n[k];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(item_id(x, k, x->ord[k][mid]), id);

		if (c == 0)
			return (ssize_t)x->ord[k][mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- merging the document with the stored objects ---- */

static int diff_note(struct store_diff_ids *l, const char *id, struct vr_err *e)
{
	l->n++;
	if (l->nids >= STORE_DIFF_IDS_MAX)
		return 0;
	if (!l->ids) {
		l->ids = malloc(STORE_DIFF_IDS_MAX * sizeof(*l->ids));
		if (!l->ids)
			return oom(e);
	}
	snprintf(l->ids[l->nids++], ID_MAX, "%s", id);
	return 0;
}

static int gone_note(struct cfg *x, enum store_kind k, const char *id, struct vr_err *e)
{
	if (array_grow((void **)&x->gone[k], &x->capgone[k], x->ngone[k], sizeof(*x->gone[k]),
	               LIST_INITIAL, e) < 0)
		return -1;
	snprintf(x->gone[k][x->ngone[k]++], ID_MAX, "%s", id);
	return diff_note(&x->d->removed[k], id, e);
}

/*
 * The stored objects of one kind, in id order, one at a time: next returns
 * 1 with *obj (valid until the next call), 0 at the end, -1 on error.
 */
struct cur_iter {
	int (*next)(struct cur_iter *it, const void **obj, struct vr_err *e);
	/* an array */
	const char *v;
	size_t n, size, i;
	/* or a statement */
	struct store *s;
	sqlite3_stmt *q;
	struct route r;
};

static int array_next(struct cur_iter *it, const void **obj, struct vr_err *e)
{
	if (it->i >= it->n)
		return 0;
	*obj = it->v + it->size * it->i++;
	return 1;
}

static int routes_next(struct cur_iter *it, const void **obj, struct vr_err *e)
{
	int rc;

	model_route_clear(&it->r);
	rc = sqlite3_step(it->q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_err(it->s, e, "reading the routes");
	if (route_from_row(it->s, it->q, &it->r, true, e) < 0)
		return -1;
	*obj = &it->r;
	return 1;
}

/* What an item keeps of the stored object: created_at, and updated_at and rev when the same. */
static void obj_keep(const struct kind *d, void *item, const void *cur, bool same)
{
	memcpy(obj_field(item, d->created_at), obj_field(cur, d->created_at), TIME_MAX);
	if (!same)
		return;
	memcpy(obj_field(item, d->updated_at), obj_field(cur, d->updated_at), TIME_MAX);
	*(int64_t *)obj_field(item, d->rev) = obj_rev(d, cur);
}

/* Classify every item of kind k and every stored object (from it) as same, new, changed, gone. */
static int cfg_merge(struct cfg *x, enum store_kind k, struct cur_iter *it, struct vr_err *e)
{
	const struct kind *kd = &kinds[k];
	struct store_diff *d = x->d;
	const void *cur = NULL;
	size_t j = 0;
	int rc;

	rc = it->next(it, &cur, e);
	while (rc >= 0 && (rc > 0 || j < x->n[k])) {
		size_t i = j < x->n[k] ? x->ord[k][j] : 0;
		int c;

		if (rc <= 0)
			c = 1;
		else if (j == x->n[k])
			c = -1;
		else
			c = strcmp((const char *)cur, item_id(x, k, i));
		if (c < 0) {
			/* Stored, not in the document: deleted, except the built-in main table. */
			if (k == STORE_RTB && !strcmp(cur, RTB_MAIN_ID))
				d->unchanged[k]++;
			else if (gone_note(x, k, cur, e) < 0)
				return -1;
			rc = it->next(it, &cur, e);
			continue;
		}
		if (c > 0) {
			x->op[k][i] = CFG_NEW;
			if (diff_note(&d->added[k], item_id(x, k, i), e) < 0)
				return -1;
			j++;
			continue;
		}
		if (kd->inherit)
			kd->inherit(item_at(x, k, i), cur);
		if (kd->same(cur, item_at(x, k, i))) {
			x->op[k][i] = CFG_SAME;
			d->unchanged[k]++;
		} else {
			x->op[k][i] = CFG_CHANGED;
			if (diff_note(&d->changed[k], item_id(x, k, i), e) < 0)
				return -1;
		}
		obj_keep(kd, item_at(x, k, i), cur, x->op[k][i] == CFG_SAME);
		j++;
		rc = it->next(it, &cur, e);
	}
	return rc < 0 ? -1 : 0;
}

/* cfg_merge with the stored objects read into x->cur[k]. */
static int cfg_merge_array(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	struct cur_iter it = {
	    .next = array_next, .v = x->cur[k], .n = x->ncur[k], .size = kinds[k].size};

	return cfg_merge(x, k, &it, e);
}

/* Read the stored objects of kind k into x->cur[k] and merge them with the items. */
static int cfg_merge_stored(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	if (obj_load(x->s, k, true, LIST_INITIAL, &x->cur[k], &x->ncur[k], e) < 0)
		return -1;
	return cfg_merge_array(x, k, e);
}

/* Items of a kind with a name (kinds[k].name), by name. */
static int by_name(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	size_t off = kinds[sc->k].name;

	return strcmp(obj_field(item_at(sc->x, sc->k, *(const uint32_t *)a), off),
	              obj_field(item_at(sc->x, sc->k, *(const uint32_t *)b), off));
}

/* 409 for the later of two items of kind k with the same name; v: indices sorted by_name. */
static int cfg_names(const struct cfg *x, enum store_kind k, const uint32_t *v, struct vr_err *e)
{
	const struct kind *d = &kinds[k];
	uint32_t lo, hi;

	if (!first_dup(x, k, v, by_name, &lo, &hi))
		return 0;
	return item_err(e, HTTP_CONFLICT, k, hi, "name", "a %s named \"%s\" is also %s[%u] (%s)",
	                d->noun, (const char *)obj_field(item_at(x, k, hi), d->name), d->key, lo,
	                item_id(x, k, lo));
}

/* ---- route tables ---- */

static int rtb_by_no(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct route_table *ta = item_at(sc->x, STORE_RTB, *(const uint32_t *)a);
	const struct route_table *tb = item_at(sc->x, STORE_RTB, *(const uint32_t *)b);

	return (ta->table > tb->table) - (ta->table < tb->table);
}

static void bit_set(uint8_t *used, uint32_t no)
{
	if (no >= RTB_AUTO_FIRST && no <= RTB_AUTO_LAST)
		used[(no - RTB_AUTO_FIRST) / 8] |= (uint8_t)(1u << ((no - RTB_AUTO_FIRST) % 8));
}

/* Numbers for the new tables that gave none: free in the document, the store and avoid. */
static int rtb_assign(struct cfg *x, const uint32_t *avoid, size_t navoid, struct vr_err *e)
{
	uint8_t used[(RTB_AUTO_LAST - RTB_AUTO_FIRST + 1 + 7) / 8];
	struct route_table *t = x->items[STORE_RTB];
	uint32_t no = RTB_AUTO_FIRST;

	memset(used, 0, sizeof(used));
	for (size_t i = 0; i < navoid; i++)
		bit_set(used, avoid[i]);
	for (size_t i = 0; i < x->ncur[STORE_RTB]; i++)
		bit_set(used, ((const struct route_table *)x->cur[STORE_RTB])[i].table);
	for (size_t i = 0; i < x->n[STORE_RTB]; i++)
		bit_set(used, t[i].table);
	for (size_t i = 0; i < x->n[STORE_RTB]; i++) {
		if (t[i].table)
			continue;
		while (no <= RTB_AUTO_LAST &&
		       (used[(no - RTB_AUTO_FIRST) / 8] & (1u << ((no - RTB_AUTO_FIRST) % 8))))
			no++;
		if (no > RTB_AUTO_LAST)
			return item_err(e, HTTP_CONFLICT, STORE_RTB, i, "table",
			                "no free table number left between %u and %u",
			                RTB_AUTO_FIRST, RTB_AUTO_LAST);
		t[i].table = no;
		bit_set(used, no);
	}
	return 0;
}

static int cfg_tables(struct cfg *x, const uint32_t *avoid, size_t navoid, struct vr_err *e)
{
	struct route_table *t = x->items[STORE_RTB];
	const struct route_table *cur;
	uint32_t *v = NULL, lo, hi;
	int ret = -1;

	if (obj_load(x->s, STORE_RTB, true, LIST_INITIAL, &x->cur[STORE_RTB], &x->ncur[STORE_RTB],
	             e) < 0)
		return -1;
	cur = x->cur[STORE_RTB];
	for (size_t i = 0; i < x->ncur[STORE_RTB]; i++)
		if (!strcmp(cur[i].id, RTB_MAIN_ID))
			x->main_cur = cur[i];
	if (!x->main_cur.id[0])
		return corrupt(e, "route table", RTB_MAIN_ID);
	if (cfg_ids(x, STORE_RTB, e) < 0 || cfg_merge_array(x, STORE_RTB, e) < 0)
		return -1;
	x->main_doc = find_id(x, STORE_RTB, RTB_MAIN_ID);
	if (x->main_doc >= 0) {
		const struct route_table *m = &t[x->main_doc];

		/* The same words as store_rtb_replace. */
		if (strcmp(m->name, x->main_cur.name))
			return item_err(e, HTTP_CONFLICT, STORE_RTB, (size_t)x->main_doc, "name",
			                "the built-in main table %s cannot be renamed (name must "
			                "stay \"%s\")",
			                RTB_MAIN_ID, x->main_cur.name);
		if (m->table != RTB_MAIN_TABLE)
			return item_err(e, HTTP_CONFLICT, STORE_RTB, (size_t)x->main_doc, "table",
			                "the built-in main table %s cannot be renumbered (table "
			                "must stay %u)",
			                RTB_MAIN_ID, RTB_MAIN_TABLE);
	} else {
		/* rtb-main stays whatever the document says: nothing may take its name or number.
		 */
		for (size_t i = 0; i < x->n[STORE_RTB]; i++) {
			if (!strcmp(t[i].name, x->main_cur.name))
				return item_err(e, HTTP_CONFLICT, STORE_RTB, i, "name",
				                "a route table named \"%s\" already exists (%s)",
				                t[i].name, RTB_MAIN_ID);
			if (t[i].table == RTB_MAIN_TABLE)
				return item_err(e, HTTP_CONFLICT, STORE_RTB, i, "table",
				                "table %u is already used by route table %s",
				                t[i].table, RTB_MAIN_ID);
		}
	}
	if (rtb_assign(x, avoid, navoid, e) < 0)
		return -1;
	v = sorted_idx(x, STORE_RTB, by_name);
	if (!v) {
		oom(e);
		goto out;
	}
	if (cfg_names(x, STORE_RTB, v, e) < 0)
		goto out;
	qsort_r(v, x->n[STORE_RTB], sizeof(*v), rtb_by_no, &(struct sort_ctx){x, STORE_RTB});
	if (first_dup(x, STORE_RTB, v, rtb_by_no, &lo, &hi)) {
		item_err(e, HTTP_CONFLICT, STORE_RTB, hi, "table",
		         "table %u is also used by route_tables[%u] (%s)", t[hi].table, lo,
		         t[lo].id);
		goto out;
	}
	/* Every table after the replace, for the references of routes and subnets. */
	x->tables = idmap_new();
	if (!x->tables) {
		oom(e);
		goto out;
	}
	for (size_t i = 0; i < x->n[STORE_RTB]; i++)
		if (idmap_put(x->tables, t[i].id, &t[i])) {
			oom(e);
			goto out;
		}
	if (x->main_doc < 0 && idmap_put(x->tables, RTB_MAIN_ID, &x->main_cur)) {
		oom(e);
		goto out;
	}
	ret = 0;
out:
	free(v);
	return ret;
}

/* 422 unless table_id is a table after the replace; fills *no with its number. */
static int table_ref(struct cfg *x, enum store_kind k, size_t i, const char *table_id, uint32_t *no,
                     struct vr_err *e)
{
	const struct route_table *t = idmap_get(x->tables, table_id);

	if (!t)
		return item_err(e, HTTP_UNPROCESSABLE, k, i, "route_table_id",
		                "route table \"%s\" does not exist (it is not in route_tables)",
		                table_id);
	*no = t->table;
	return 0;
}

/* ---- routes ---- */

static int prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	size_t len = cidr_addr_len(a->addr.family);

	if (a->addr.family != b->addr.family)
		return (a->addr.family > b->addr.family) - (a->addr.family < b->addr.family);
	if (a->len != b->len)
		return (a->len > b->len) - (a->len < b->len);
	return memcmp(a->addr.a, b->addr.a, len);
}

/* The key the routes table holds unique: table, canonical destination, kernel metric. */
static int route_by_key(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct route *ra = item_at(sc->x, STORE_ROUTE, *(const uint32_t *)a);
	const struct route *rb = item_at(sc->x, STORE_ROUTE, *(const uint32_t *)b);
	int64_t ma = route_metric_key(ra), mb = route_metric_key(rb);
	int c;

	if (ra->table != rb->table)
		return (ra->table > rb->table) - (ra->table < rb->table);
	c = prefix_cmp(&ra->dst, &rb->dst);
	if (c)
		return c;
	return (ma > mb) - (ma < mb);
}

static int cfg_routes(struct cfg *x, struct vr_err *e)
{
	struct route *r = x->items[STORE_ROUTE];
	struct cur_iter it = {.next = routes_next, .s = x->s, .q = st_get(x->s, ST_RT_LOAD)};
	char key[CIDR_STR_MAX];
	uint32_t *v = NULL, lo, hi;
	int ret = -1;

	if (cfg_ids(x, STORE_ROUTE, e) < 0)
		return -1;
	for (size_t i = 0; i < x->n[STORE_ROUTE]; i++)
		if (table_ref(x, STORE_ROUTE, i, r[i].table_id, &r[i].table, e) < 0)
			return -1;
	v = sorted_idx(x, STORE_ROUTE, route_by_key);
	if (!v)
		return oom(e);
	if (first_dup(x, STORE_ROUTE, v, route_by_key, &lo, &hi)) {
		route_key(&r[hi], key);
		item_err(e, HTTP_CONFLICT, STORE_ROUTE, hi, "destination",
		         "a route to %s with metric %u in table %s is also routes[%u] "
		         "(%s)%s; " NO_MULTIPATH,
		         key, r[hi].metric, r[hi].table_id, lo, r[lo].id,
		         r[hi].metric != r[lo].metric ? "; the kernel counts IPv6 metric 0 as 1024"
		                                      : "");
		goto out;
	}
	/* One pass over the stored routes in id order: no copy of them in memory. */
	ret = cfg_merge(x, STORE_ROUTE, &it, e);
out:
	model_route_clear(&it.r);
	st_done(it.q);
	free(v);
	return ret;
}

/* ---- subnets ---- */

/* By network address, the shorter prefix first: an overlap then shows between neighbours. */
static int subnet_by_start(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct subnet *sa = item_at(sc->x, STORE_SUBNET, *(const uint32_t *)a);
	const struct subnet *sb = item_at(sc->x, STORE_SUBNET, *(const uint32_t *)b);
	int c;

	if (sa->cidr.addr.family != sb->cidr.addr.family)
		return (sa->cidr.addr.family > sb->cidr.addr.family) -
		       (sa->cidr.addr.family < sb->cidr.addr.family);
	c = memcmp(sa->cidr.addr.a, sb->cidr.addr.a, cidr_addr_len(sa->cidr.addr.family));
	if (c)
		return c;
	return (sa->cidr.len > sb->cidr.len) - (sa->cidr.len < sb->cidr.len);
}

static int cfg_subnets(struct cfg *x, struct vr_err *e)
{
	struct subnet *sn = x->items[STORE_SUBNET];
	size_t n = x->n[STORE_SUBNET];
	uint32_t *v = NULL;
	int ret = -1;

	if (cfg_ids(x, STORE_SUBNET, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (table_ref(x, STORE_SUBNET, i, sn[i].table_id, &sn[i].table, e) < 0)
			return -1;
	v = sorted_idx(x, STORE_SUBNET, by_name);
	if (!v)
		return oom(e);
	if (cfg_names(x, STORE_SUBNET, v, e) < 0)
		goto out;
	/*
	 * Prefixes either nest or are disjoint, so in this order any overlap
	 * shows between neighbours: what lies between a prefix and one inside
	 * it starts inside it too.
	 */
	qsort_r(v, n, sizeof(*v), subnet_by_start, &(struct sort_ctx){x, STORE_SUBNET});
	for (size_t j = 1; j < n; j++) {
		const struct subnet *a = &sn[v[j - 1]], *b = &sn[v[j]];
		uint32_t l = v[j - 1] < v[j] ? v[j - 1] : v[j],
		         h = v[j - 1] < v[j] ? v[j] : v[j - 1];

		if (a->cidr.addr.family != b->cidr.addr.family ||
		    !cidr_overlaps(&a->cidr, &b->cidr))
			continue;
		item_err(e, HTTP_CONFLICT, STORE_SUBNET, h, "cidr",
		         "cidr %s overlaps subnets[%u] (%s, \"%s\", cidr %s)", sn[h].cidr_text, l,
		         sn[l].id, sn[l].name, sn[l].cidr_text);
		goto out;
	}
	ret = cfg_merge_stored(x, STORE_SUBNET, e);
out:
	free(v);
	return ret;
}

/* ---- security groups and rules ---- */

static int cfg_groups(struct cfg *x, struct vr_err *e)
{
	uint32_t *v = NULL;
	int ret = -1;

	if (cfg_ids(x, STORE_SG, e) < 0)
		return -1;
	v = sorted_idx(x, STORE_SG, by_name);
	if (!v)
		return oom(e);
	if (cfg_names(x, STORE_SG, v, e) < 0)
		goto out;
	ret = cfg_merge_stored(x, STORE_SG, e);
out:
	free(v);
	return ret;
}

/* The rule's identity as security_group_rules_key holds it unique. */
static int sgr_by_key(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct sg_rule *ra = item_at(sc->x, STORE_SGR, *(const uint32_t *)a);
	const struct sg_rule *rb = item_at(sc->x, STORE_SGR, *(const uint32_t *)b);
	unsigned pa = ra->has_ports ? ra->port_from : 0, pb = rb->has_ports ? rb->port_from : 0;
	unsigned qa = ra->has_ports ? ra->port_to : 0, qb = rb->has_ports ? rb->port_to : 0;
	bool ca = ra->cidr_text[0] != '\0', cb = rb->cidr_text[0] != '\0';
	int c = strcmp(ra->group_id, rb->group_id);

	if (c)
		return c;
	if (ra->direction != rb->direction)
		return (int)ra->direction - (int)rb->direction;
	if (ra->protocol != rb->protocol)
		return (int)ra->protocol - (int)rb->protocol;
	if (pa != pb)
		return (pa > pb) - (pa < pb);
	if (qa != qb)
		return (qa > qb) - (qa < qb);
	if (ca != cb)
		return ca ? -1 : 1;
	return ca ? prefix_cmp(&ra->cidr, &rb->cidr)
	          : strcmp(ra->remote_group_id, rb->remote_group_id);
}

static int cfg_rules(struct cfg *x, struct vr_err *e)
{
	struct sg_rule *r = x->items[STORE_SGR];
	uint32_t *v = NULL, lo, hi;
	int ret = -1;

	if (cfg_ids(x, STORE_SGR, e) < 0)
		return -1;
	for (size_t i = 0; i < x->n[STORE_SGR]; i++) {
		if (find_id(x, STORE_SG, r[i].group_id) < 0)
			return item_err(e, HTTP_UNPROCESSABLE, STORE_SGR, i, "security_group_id",
			                "security group \"%s\" does not exist (it is not in "
			                "security_groups)",
			                r[i].group_id);
		if (r[i].remote_group_id[0] && find_id(x, STORE_SG, r[i].remote_group_id) < 0)
			return item_err(e, HTTP_UNPROCESSABLE, STORE_SGR, i,
			                "remote_security_group_id",
			                "security group \"%s\" does not exist (it is not in "
			                "security_groups)",
			                r[i].remote_group_id);
	}
	v = sorted_idx(x, STORE_SGR, sgr_by_key);
	if (!v)
		return oom(e);
	if (first_dup(x, STORE_SGR, v, sgr_by_key, &lo, &hi)) {
		char key[CIDR_STR_MAX], what[ERR_MSG_MAX / 2];

		sgr_key(&r[hi], key);
		sgr_describe(&r[hi], key, what, sizeof(what));
		item_err(e, HTTP_CONFLICT, STORE_SGR, hi, NULL,
		         "security group %s has this rule twice: %s, also security_group_rules[%u] "
		         "(%s)",
		         r[hi].group_id, what, lo, r[lo].id);
		goto out;
	}
	ret = cfg_merge_stored(x, STORE_SGR, e);
out:
	free(v);
	return ret;
}

/* ---- writing ---- */

static bool cfg_changed(const struct cfg *x)
{
	for (int k = 0; k < STORE_KINDS; k++)
		if (x->d->added[k].n || x->d->changed[k].n || x->d->removed[k].n)
			return true;
	return x->d->settings_changed;
}

/* Stamp item i of kind k for its write: this revision, now, created now unless it existed. */
static void stamp(struct cfg *x, enum store_kind k, size_t i)
{
	const struct kind *d = &kinds[k];
	void *o = item_at(x, k, i);

	if (x->op[k][i] == CFG_NEW)
		memcpy(obj_field(o, d->created_at), x->now, TIME_MAX);
	memcpy(obj_field(o, d->updated_at), x->now, TIME_MAX);
	*(int64_t *)obj_field(o, d->rev) = x->rev;
}

/* A changed item whose row is updated, not deleted and inserted again: groups and rtb-main. */
static bool cfg_in_place(const struct cfg *x, enum store_kind k, size_t i)
{
	return x->op[k][i] == CFG_CHANGED &&
	       (kinds[k].in_place || (k == STORE_RTB && (ssize_t)i == x->main_doc));
}

/* Delete what the document drops, and what it changes but for cfg_in_place: written again. */
static int cfg_delete(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	for (size_t i = 0; i < x->ngone[k]; i++)
		if (row_delete(x->s, k, x->gone[k][i], e) < 0)
			return -1;
	for (size_t i = 0; i < x->n[k]; i++) {
		if (x->op[k][i] != CFG_CHANGED || cfg_in_place(x, k, i))
			continue;
		if (row_delete(x->s, k, item_id(x, k, i), e) < 0)
			return item_wrap(e, k, i, item_id(x, k, i));
	}
	return 0;
}

/* Renamed groups step aside first, so names can move between groups. */
static int cfg_park_groups(struct cfg *x, struct vr_err *e)
{
	struct security_group *g = x->items[STORE_SG];

	for (size_t i = 0; i < x->n[STORE_SG]; i++) {
		sqlite3_stmt *q = st_get(x->s, ST_SG_PARK);
		int rc;

		if (x->op[STORE_SG][i] != CFG_CHANGED)
			continue;
		if (bind_text(q, 1, g[i].id, false) != SQLITE_OK) {
			st_done(q);
			return db_err(x->s, e, "binding");
		}
		rc = sqlite3_step(q);
		st_done(q);
		if (rc != SQLITE_DONE)
			return db_err(x->s, e, "renaming a security group");
	}
	return 0;
}

/* Write the new and changed items of kind k. */
static int cfg_write_kind(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	const struct kind *d = &kinds[k];

	/* In id order: the primary key index grows at its end, page after page. */
	for (size_t j = 0; j < x->n[k]; j++) {
		size_t i = x->ord[k][j];

		if (x->op[k][i] == CFG_SAME)
			continue;
		stamp(x, k, i);
		if (obj_write(x->s, k, cfg_in_place(x, k, i) ? d->update : d->insert,
		              item_at(x, k, i), e) < 0)
			return item_wrap(e, k, i, item_id(x, k, i));
	}
	return 0;
}

static int cfg_write_settings(struct cfg *x, struct vr_err *e)
{
	struct settings set = {.managed = true, .fwd_v4 = x->c->fwd_v4, .fwd_v6 = x->c->fwd_v6};

	set.rev = x->rev;
	memcpy(set.updated_at, x->now, TIME_MAX);
	return settings_write(x->s, &set, e);
}

/*
 * Every write, in an order that never trips a unique index half way (what
 * changes is deleted before anything is inserted; the document itself was
 * checked unique), with references checked at commit: kinds are written in
 * this order, referenced before referrers, and deleted in the reverse one.
 */
static int cfg_write(struct cfg *x, struct vr_err *e)
{
	static const enum store_kind order[] = {STORE_RTB, STORE_SG, STORE_ROUTE, STORE_SUBNET,
	                                        STORE_SGR};
	const size_t n = sizeof(order) / sizeof(order[0]);

	/*
	 * Run afresh each time, not from a cached statement: this pragma takes
	 * effect when it is prepared, and every COMMIT or ROLLBACK turns it off, so
	 * a statement prepared at open did nothing once any write had committed.
	 */
	if (db_exec(x->s, "PRAGMA defer_foreign_keys = ON", e) < 0)
		return -1;
	for (size_t i = n; i-- > 0;)
		if (cfg_delete(x, order[i], e) < 0)
			return -1;
	for (size_t i = 0; i < n; i++) {
		if (order[i] == STORE_SG && cfg_park_groups(x, e) < 0)
			return -1;
		if (cfg_write_kind(x, order[i], e) < 0)
			return -1;
	}
	if (x->d->settings_changed && cfg_write_settings(x, e) < 0)
		return -1;
	return 0;
}

void store_diff_free(struct store_diff *d)
{
	if (!d)
		return;
	for (int k = 0; k < STORE_KINDS; k++) {
		free(d->added[k].ids);
		free(d->changed[k].ids);
		free(d->removed[k].ids);
		d->added[k].ids = d->changed[k].ids = d->removed[k].ids = NULL;
	}
}

int store_config_replace(struct store *s, struct store_config *c, int64_t if_rev,
                         const uint32_t *avoid, size_t navoid, bool dry_run, struct store_diff *d,
                         struct vr_err *e)
{
	struct cfg x = {.s = s, .c = c, .d = d, .main_doc = -1};
	int64_t cur_rev = 0;
	int ret = -1;

	memset(d, 0, sizeof(*d));
	x.items[STORE_RTB] = c->tables;
	x.n[STORE_RTB] = c->ntables;
	x.items[STORE_ROUTE] = c->routes;
	x.n[STORE_ROUTE] = c->nroutes;
	x.items[STORE_SUBNET] = c->subnets;
	x.n[STORE_SUBNET] = c->nsubnets;
	x.items[STORE_SG] = c->groups;
	x.n[STORE_SG] = c->ngroups;
	x.items[STORE_SGR] = c->rules;
	x.n[STORE_SGR] = c->nrules;
	for (int k = 0; k < STORE_KINDS; k++)
		if (x.n[k] > UINT32_MAX)
			return err_set(e, 413, kinds[k].key, "%s: too many items (%zu)",
			               kinds[k].key, x.n[k]);

	if (tx_begin(s, e) < 0)
		return -1;
	if (rev_read(s, &cur_rev, e) < 0)
		goto out;
	if (if_rev > 0 && if_rev != cur_rev) {
		err_set(e, HTTP_PRECONDITION, "",
		        "If-Match \"%" PRId64 "\" does not match the current revision \"%" PRId64
		        "\"",
		        if_rev, cur_rev);
		goto out;
	}
	if (settings_read(s, &d->settings_before, e) < 0)
		goto out;
	d->settings_changed = c->has_settings && (!d->settings_before.managed ||
	                                          d->settings_before.fwd_v4 != c->fwd_v4 ||
	                                          d->settings_before.fwd_v6 != c->fwd_v6);
	if (cfg_tables(&x, avoid, navoid, e) < 0 || cfg_routes(&x, e) < 0 ||
	    cfg_subnets(&x, e) < 0 || cfg_groups(&x, e) < 0 || cfg_rules(&x, e) < 0)
		goto out;
	d->rev = cur_rev;
	d->any = cfg_changed(&x);
	if (!d->any) {
		/* The document is what is stored: no write, the revision stays. */
		ret = 0;
		goto out;
	}
	if (rev_bump(s, &x.rev, e) < 0)
		goto out;
	model_now(x.now);
	if (cfg_write(&x, e) < 0)
		goto out;
	if (dry_run) {
		ret = 0;
		goto out; /* rolled back below */
	}
	if (tx_commit(s, e) < 0)
		goto out;
	d->rev = x.rev;
	ret = 0;
out:
	tx_end(s);
	for (int k = 0; k < STORE_KINDS; k++) {
		free(x.ord[k]);
		free(x.op[k]);
		free(x.gone[k]);
	}
	idmap_free(x.tables);
	for (int k = 0; k < STORE_KINDS; k++)
		kinds[k].free_array(x.cur[k], x.ncur[k]);
	if (ret < 0)
		store_diff_free(d);
	return ret;
}

void store_config_clear(struct store_config *c)
{
	if (!c)
		return;
	model_rtbs_free(c->tables, c->ntables);
	model_routes_free(c->routes, c->nroutes);
	model_subnets_free(c->subnets, c->nsubnets);
	model_sgs_free(c->groups, c->ngroups);
	model_sg_rules_free(c->rules, c->nrules);
	memset(c, 0, sizeof(*c));
}

/* ---- reading the whole desired state ---- */

int store_config_walk(struct store *s, walk_fn fn, void *arg, struct settings *set, int64_t *rev,
                      struct vr_err *e)
{
	int ret = -1;

	/* One read transaction: every object of the one revision returned. */
	if (read_begin(s, rev, e) < 0)
		return -1;
	if (settings_read(s, set, e) < 0)
		goto out;
	for (int k = 0; k < STORE_KINDS; k++)
		if (walk_rows(s, (enum store_kind)k, true, fn, arg, "reading the desired state", e))
			goto out;
	if (tx_commit(s, e) < 0)
		goto out;
	ret = 0;
out:
	tx_end(s);
	return ret;
}
