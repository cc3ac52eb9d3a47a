/*
 * Security groups (with their targets) and their rules: columns, references,
 * the conflicts they meet, and the reconciler's read of both.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

/* ---- groups ---- */

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

	for (rc = store_step_id(s, q, g->id, e); rc == SQLITE_ROW; rc = sqlite3_step(q)) {
		if (store_array_grow((void **)&g->targets, &cap, g->ntargets, sizeof(*g->targets),
		                     SG_TARGETS_MAX, e) < 0)
			goto out;
		if (col_copy(q, 0, g->targets[g->ntargets].text, sizeof(g->targets[0].text)) < 0) {
			corrupt(e, "security group", g->id);
			goto out;
		}
		g->ntargets++;
	}
	if (rc != SQLITE_DONE) {
		if (rc >= 0)
			store_db_err(s, e, "reading security group targets");
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
	sqlite3_stmt *q = st_get(s, ST_SG_TG_INSERT);
	char key[CIDR_STR_MAX];
	size_t i;
	int rc;

	if (store_run_id(s, ST_SG_TG_CLEAR, g->id, "clearing security group targets", e) < 0)
		return -1;
	for (i = 0; i < g->ntargets; i++) {
		sg_target_key(&g->targets[i], key, sizeof(key));
		if (bind_text(q, 1, g->id, false) != SQLITE_OK ||
		    sqlite3_bind_int64(q, 2, (int64_t)i) != SQLITE_OK ||
		    bind_text(q, 3, g->targets[i].text, false) != SQLITE_OK ||
		    bind_text(q, 4, key, false) != SQLITE_OK) {
			st_done(q);
			return store_db_err(s, e, "binding");
		}
		rc = sqlite3_step(q);
		st_done(q);
		/* Validation refuses repeats; this is the schema agreeing with it. */
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			return err_set(e, VR_ERR_INVALID, "targets",
			               "targets[%zu] \"%s\" repeats an earlier target", i,
			               g->targets[i].text);
		if (rc != SQLITE_DONE)
			return store_db_err(s, e, "writing security group targets");
	}
	return 0;
}

/* Name the other group holding g's name. */
static int sg_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                     struct vr_err *e)
{
	const struct security_group *g = o;

	if (store_name_taken(s, STORE_SG, ST_SG_BY_NAME, g,
	                     "looking for the conflicting security group", e) < 0)
		return -1;
	return err_set(e, VR_ERR_CONFLICT, "", "security group %s: %s", g->id, dbmsg);
}

/*
 * A group stays while a rule of another group names it as its remote group;
 * the schema cascades to its targets and its own rules.
 */
static int sg_held(struct store *s, const char *id, struct vr_err *e)
{
	char rule[ID_MAX], group[ID_MAX];

	if (store_first_ids(s, ST_SG_REFERRER, id, NULL, rule, group,
	                    "looking for rules naming a security group", e) < 0)
		return -1;
	if (rule[0])
		return err_set(e, VR_ERR_REFERENCED, "",
		               "security group %s is still referenced by rule %s of security group "
		               "%s (remote_security_group_id); delete or change that rule first",
		               id, rule, group);
	return 0;
}

KIND_MODEL_FNS(sg)

/* Deleting a group would take its rules with it: a whole-state replace updates it. */
const struct kind store_kind_sg = {
    KIND(sg, SG, struct security_group, "security_groups", "sg-", "security group"),
    .name = offsetof(struct security_group, name),
    .in_place = true,
    .from_row = sg_from_row,
    .bind = sg_bind,
    .children = sg_write_targets,
    .held = sg_held,
    .unique = sg_unique,
};

/* ---- rules ---- */

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
	return with_desc ? col_desc(q, 8, &r->description, e) : 0;
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
	if (store_first_ids(s, ST_SG_EXISTS, id, NULL, found, NULL, "looking up a security group",
	                    e) < 0)
		return -1;
	*yes = found[0] != '\0';
	return 0;
}

/* INVALID naming the field when the rule's group or remote group does not exist. */
static int sgr_prepare(struct store *s, void *o, const void *old, const void *arg, struct vr_err *e)
{
	const struct sg_rule *r = o;
	bool yes;

	if (sg_exists(s, r->group_id, &yes, e) < 0)
		return -1;
	if (!yes)
		return err_set(e, VR_ERR_INVALID, "security_group_id",
		               "security group \"%s\" does not exist", r->group_id);
	if (!r->remote_group_id[0] || strcmp(r->remote_group_id, r->group_id) == 0)
		return 0;
	if (sg_exists(s, r->remote_group_id, &yes, e) < 0)
		return -1;
	if (!yes)
		return err_set(e, VR_ERR_INVALID, "remote_security_group_id",
		               "security group \"%s\" does not exist", r->remote_group_id);
	return 0;
}

static int sgr_dangling(const void *o, struct vr_err *e)
{
	const struct sg_rule *r = o;

	return err_set(e, VR_ERR_INVALID, "security_group_id",
	               "rule %s names a security group that does not exist", r->id);
}

/* The rule's peer as the uniqueness key sees it: canonical cidr, or the remote group id. */
static const char *sgr_peer_key(const struct sg_rule *r, const char *cidr_key)
{
	return cidr_key[0] ? cidr_key : r->remote_group_id;
}

/* Words for what a rule allows: "ingress tcp ports 22-22 from 10.0.0.0/8". */
void store_sgr_describe(const struct sg_rule *r, const char *cidr_key, char *buf, size_t size)
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

	if (store_first_row(s, q, bound, other, NULL,
	                    "looking for the conflicting security group rule", e) < 0)
		return -1;
	store_sgr_describe(r, cidr_key, what, sizeof(what));
	if (other[0])
		return err_set(e, VR_ERR_CONFLICT, "",
		               "security group %s already has a rule allowing %s (%s)", r->group_id,
		               what, other);
	return err_set(e, VR_ERR_CONFLICT, "", "security group rule %s: %s", r->id, dbmsg);
}

/*
 * With a remote group, an empty group_id filters nothing, as NULL does.
 * Otherwise separate statements, so the group filter can use
 * security_group_rules_by_group.
 */
static enum st sgr_list_by(const struct store_filter *f, const char *bind[LIST_BIND_MAX], size_t *n)
{
	if (f->remote_id) {
		bind[0] = f->remote_id;
		bind[1] = f->group_id && f->group_id[0] ? f->group_id : NULL;
		*n = 2;
		return ST_SGR_LIST_REMOTE;
	}
	return list_by_one(f->group_id, ST_SGR_LIST_GROUP, ST_SGR_LIST, bind, n);
}

KIND_MODEL_FNS(sg_rule)

const struct kind store_kind_sgr = {
    KIND(sg_rule, SGR, struct sg_rule, "security_group_rules", "sgr-", "security group rule"),
    .from_row = sgr_from_row,
    .index_key = sgr_key,
    .bind = sgr_bind,
    .prepare = sgr_prepare,
    .dangling = sgr_dangling,
    .unique = sgr_unique,
    .list_by = sgr_list_by,
};

/* ---- the reconciler's read ---- */

int store_sg_load(struct store *s, struct security_group **groups, size_t *ng,
                  struct sg_rule **rules, size_t *nr, int64_t *rev, struct vr_err *e)
{
	int ret;

	*groups = NULL;
	*rules = NULL;
	*ng = *nr = 0;
	/* One read transaction: groups and rules are exactly those of the revision returned. */
	if (store_read_begin(s, rev, e) < 0)
		return -1;
	ret = store_obj_load(s, STORE_SG, false, LIST_MAX, (void **)groups, ng, e);
	if (ret == 0)
		ret = store_obj_load(s, STORE_SGR, false, LIST_MAX, (void **)rules, nr, e);
	ret = store_read_end(s, ret, e);
	if (ret < 0) {
		store_obj_unload(STORE_SG, (void **)groups, ng);
		store_obj_unload(STORE_SGR, (void **)rules, nr);
	}
	return ret;
}
