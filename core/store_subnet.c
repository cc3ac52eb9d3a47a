/*
 * Subnets: their columns, their table, the overlap check, and the
 * reconciler's read of them with the settings.
 */
#include "store_int.h"

#include <string.h>
#include <sys/socket.h>

#include <sqlite3.h>

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
	    col_copy(q, 8, sn->updated_at, sizeof(sn->updated_at)) < 0 ||
	    col_copy(q, 11, sn->router, sizeof(sn->router)) < 0 || no <= 0 || no > UINT32_MAX)
		return corrupt(e, "subnet", sn->id);
	sn->rev = sqlite3_column_int64(q, 9);
	sn->table = (uint32_t)no;
	if (model_subnet_validate(sn, &ignored) < 0)
		return corrupt(e, "subnet", sn->id);
	return with_desc ? col_desc(q, 6, &sn->description, e) : 0;
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
 * CONFLICT naming the first other subnet of the same family whose cidr shares an
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
	    bind_text(q, 2, sn->id, false) != SQLITE_OK ||
	    bind_text(q, 3, sn->router, false) != SQLITE_OK) {
		store_db_err(s, e, "binding");
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
		err_set(e, VR_ERR_CONFLICT, "cidr", "cidr %s overlaps subnet %s (\"%s\", cidr %s)",
		        sn->cidr_text, id, name, cidr);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		store_db_err(s, e, "looking for overlapping subnets");
		goto out;
	}
	ret = 0;
out:
	st_done(q);
	return ret;
}

/* CONFLICT naming the other subnet of sn's router that has sn's name. */
static int sn_check_name(struct store *s, const struct subnet *sn, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_SN_BY_NAME);
	char other[ID_MAX];

	if (store_first_row(s, q,
	                    bind_text(q, 1, sn->name, false) == SQLITE_OK &&
	                        bind_text(q, 2, sn->id, false) == SQLITE_OK &&
	                        bind_text(q, 3, sn->router, false) == SQLITE_OK,
	                    other, NULL, "looking for the conflicting subnet", e) < 0)
		return -1;
	if (other[0])
		return err_set(e, VR_ERR_CONFLICT, "name",
		               "a subnet named \"%s\" already exists (%s)", sn->name, other);
	return 0;
}

/*
 * Resolve the table (INVALID when it does not exist); CONFLICT for a cidr
 * overlapping another's or a name another subnet of the router has.
 */
static int sn_prepare(struct store *s, void *o, const void *old, const void *arg, struct vr_err *e)
{
	struct subnet *sn = o;

	if (store_table_of(s, sn->table_id, &sn->table, sn->router, e) < 0 ||
	    sn_check_overlap(s, sn, e) < 0)
		return -1;
	return sn_check_name(s, sn, e);
}

/* A failed write leaves the subnet's router as the caller gave it. */
static void sn_unfill(void *o, const void *asked)
{
	memcpy(((struct subnet *)o)->router, ((const struct subnet *)asked)->router, ROUTER_MAX);
}

static int sn_dangling(const void *o, struct vr_err *e)
{
	const struct subnet *sn = o;

	return store_no_table(e, sn->table_id);
}

/* A unique index of subnets (none since migration 005: sn_prepare checks names and cidrs). */
static int sn_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                     struct vr_err *e)
{
	const struct subnet *sn = o;

	return err_set(e, VR_ERR_CONFLICT, "", "subnet %s: %s", sn->id, dbmsg);
}

/* One statement for every filter combination: NULL matches any. */
static enum st sn_list_by(const struct store_filter *f, const char *bind[LIST_BIND_MAX], size_t *n)
{
	bind[0] = f->table_id;
	bind[1] = f->interface;
	bind[2] = f->router;
	*n = 3;
	return ST_SN_LIST;
}

KIND_MODEL_FNS(subnet)

const struct kind store_kind_subnet = {
    KIND(subnet, SN, struct subnet, "subnets", SUBNET_PREFIX, "subnet"),
    .name = offsetof(struct subnet, name),
    .from_row = sn_from_row,
    .index_key = sn_key,
    .bind = sn_bind,
    .prepare = sn_prepare,
    .unfill = sn_unfill,
    .dangling = sn_dangling,
    .unique = sn_unique,
    .list_by = sn_list_by,
};

/* ---- the reconciler's read ---- */

/* Keep only the subnets of router in subs[0..*n), in order. */
static void sn_keep_router(struct subnet *subs, size_t *n, const char *router)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		if (strcmp(subs[i].router, router) != 0) {
			model_subnet_clear(&subs[i]);
			continue;
		}
		if (k != i)
			subs[k] = subs[i];
		k++;
	}
	*n = k;
}

int store_net_load(struct store *s, struct subnet **subs, size_t *n, struct settings *set,
                   int64_t *rev, struct vr_err *e)
{
	return store_net_load_of(s, NULL, subs, n, set, rev, e);
}

int store_net_load_of(struct store *s, const char *router, struct subnet **subs, size_t *n,
                      struct settings *set, int64_t *rev, struct vr_err *e)
{
	int ret;

	*subs = NULL;
	*n = 0;
	/* One read transaction: subnets and settings are exactly those of the revision returned. */
	if (store_read_begin(s, rev, e) < 0)
		return -1;
	ret = store_settings_read(s, router, set, e);
	if (ret == 0)
		ret = store_obj_load(s, STORE_SUBNET, false, LIST_MAX, (void **)subs, n, e);
	if (ret == 0 && router)
		sn_keep_router(*subs, n, router);
	ret = store_read_end(s, ret, e);
	if (ret < 0)
		store_obj_unload(STORE_SUBNET, (void **)subs, n);
	return ret;
}
