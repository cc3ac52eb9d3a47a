/*
 * The desired state in SQLite: the only module that speaks SQL.
 * Every write is one transaction that also bumps the desired revision; it
 * returns only once the transaction is committed (WAL, synchronous=FULL).
 * A handle is used by one thread at a time (callers lock, or open one each).
 * Errors fill a struct vr_err; below, codes are named without VR_ERR_:
 * NOT_FOUND unknown id, CONFLICT duplicate or overlap, REFERENCED a delete of
 * an object still used, PRECONDITION a stale revision, INVALID bad reference,
 * INTERNAL database failure.
 */
#ifndef VR_STORE_H
#define VR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"

struct store;

#define STORE_CREATED 0
#define STORE_EXISTS                                                                               \
	1 /* create with a client id whose stored object is the same: nothing written */
/*
 * A replace (or settings put) with exactly the stored writable fields: nothing
 * written, no new revision; the object is filled with the stored version.
 */
#define STORE_UNCHANGED 2

/*
 * Open (creating and migrating if needed) the database at path. A database
 * file it creates is private (0600), and so are its -wal and -shm files.
 */
int store_open(const char *path, struct store **out, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * store_open for the daemon's first handle: the file must also pass
 * PRAGMA quick_check before it is migrated or read. 0; -EUCLEAN when the
 * file is damaged or not a database (e quotes SQLite's findings and names
 * the path); -EIO or -ENOMEM for other failures.
 */
int store_open_checked(const char *path, struct store **out, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * Can the database still be read? Drops the handle's page cache and reads
 * the revision from the file. -1 with e naming the path and the problem when
 * any handle of this process met a malformed database (that stays so), when
 * the file was deleted or replaced under us, or when the read fails.
 */
int store_probe(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
/*
 * *empty: the database holds nothing that puts objects in the kernel (no
 * route, subnet or security group; route tables and settings alone do not).
 */
int store_desired_empty(struct store *s, bool *empty, struct vr_err *e)
    __attribute__((warn_unused_result));
void store_close(struct store *s);
/* Bound the handle's page cache (PRAGMA cache_size) to kib KiB; 0 or -errno. */
int store_set_cache_kib(struct store *s, int kib, struct vr_err *e)
    __attribute__((warn_unused_result));

/* The desired-state revision: bumped by every committed write; -1 if it cannot be read. */
int64_t store_revision(struct store *s);
/*
 * The write generation: a process-wide count of the commits that wrote data,
 * through any handle of this process, bumped once each such commit is
 * visible to new read transactions and before the COMMIT returns to its
 * writer. Something read in a transaction that began after the generation
 * was G is current for as long as the generation stays G (server/http_cache.h
 * keys rendered answers on it). 0: not tracked (a handle could not use WAL,
 * whose commit hook this counts), so nothing may be keyed on it.
 */
uint64_t store_write_gen(void);

/* The kinds of object, in the order a document lists them. */
enum store_kind { STORE_RTB = 0, STORE_ROUTE, STORE_SUBNET, STORE_SG, STORE_SGR, STORE_KINDS };

/* The document key of a kind: "route_tables", "routes", ... */
const char *store_kind_key(enum store_kind k);

/*
 * Objects, one call per verb for every kind: obj points to the kind's model
 * struct (STORE_RTB: struct route_table, STORE_ROUTE: struct route,
 * STORE_SUBNET: struct subnet, STORE_SG: struct security_group, STORE_SGR:
 * struct sg_rule), which must have passed its model_*_validate for a write.
 *
 * create: an empty id gets a new one. Returns STORE_CREATED, STORE_EXISTS (an
 * id stored already with the same body: obj is filled with the stored object,
 * nothing written) or -1: CONFLICT for an id with a different body. On success obj
 * gets its timestamps and rev (routes and subnets: their table number).
 * replace: the writable fields of obj->id; 0, STORE_UNCHANGED or -1: NOT_FOUND when
 * the id is missing, PRECONDITION when if_rev > 0 and is not its stored rev.
 * delete: NOT_FOUND, PRECONDITION as replace. Besides, per kind:
 *
 * - Route tables: a table without a number gets a free one in
 *   [RTB_AUTO_FIRST, RTB_AUTO_LAST] (see store_rtb_create); a write that
 *   fails leaves obj's number as the caller gave it. CONFLICT for a duplicate name
 *   or table number; rtb-main is never renamed, renumbered or deleted (CONFLICT);
 *   a delete is REFERENCED while a route or subnet uses the table (the message
 *   names one).
 * - Routes: INVALID when table_id does not exist; CONFLICT for a route with the same
 *   table, destination (compared canonically) and metric.
 * - Subnets: INVALID for a route_table_id that does not exist; CONFLICT for a
 *   duplicate name or a cidr overlapping another subnet's (same family; the
 *   message names that subnet).
 * - Security groups: CONFLICT for a duplicate name; targets are kept in the order
 *   given; replace replaces name, description and all targets. A delete takes
 *   the group's targets and its own rules along; REFERENCED while a rule of another
 *   group names it as remote_security_group_id (the message names that rule).
 * - Security group rules: INVALID naming security_group_id or
 *   remote_security_group_id when that group does not exist; CONFLICT for a rule
 *   of the same group, direction, protocol, ports (as written) and peer (cidr
 *   compared canonically, or the same remote group).
 */
int store_obj_create(struct store *s, enum store_kind k, void *obj, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * Group commit: the writes made on s between store_group_begin and
 * store_group_end (creates, replaces, deletes, settings, audit records) share
 * one transaction and one fsync at the end. Each write stays all or nothing
 * on its own (a savepoint): one that fails is undone alone and the others
 * stand. store_group_end commits them all, or on failure (-1, e says why)
 * none of them: the caller must then treat every write of the group as
 * failed. Not for PUT /v1/config, which is a transaction of its own.
 */
int store_group_begin(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
int store_group_end(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
/* The stored object id into out (NOT_FOUND when there is none); free it with its model_*_clear. */
int store_obj_get(struct store *s, enum store_kind k, const char *id, void *out, struct vr_err *e)
    __attribute__((warn_unused_result));
int store_obj_replace(struct store *s, enum store_kind k, void *obj, int64_t if_rev,
                      struct vr_err *e) __attribute__((warn_unused_result));
int store_obj_delete(struct store *s, enum store_kind k, const char *id, int64_t if_rev,
                     struct vr_err *e) __attribute__((warn_unused_result));

/*
 * What a list keeps, each field NULL for any. A kind looks only at the
 * fields it has: route tables, routes and subnets router, routes and subnets table_id
 * (route_table_id), subnets interface, security group rules group_id (security_group_id) and
 * remote_id (remote_security_group_id; with it, an empty group_id is any).
 */
struct store_filter {
	const char *router; /* route tables, routes, subnets: of this router (their table's) */
	const char *table_id;
	const char *interface;
	const char *group_id;
	const char *remote_id;
};

/*
 * Up to limit objects of kind k with id > after (NULL = from start) that pass
 * f (NULL = all), in id order, into *out: a new array of the kind's model
 * structs; *more tells whether there are more. Free with store_objs_free.
 */
int store_obj_list(struct store *s, enum store_kind k, const struct store_filter *f,
                   const char *after, size_t limit, void **out, size_t *n, bool *more,
                   struct vr_err *e) __attribute__((warn_unused_result));
/* Free an array of n objects of kind k (as store_obj_list gives). NULL-safe. */
void store_objs_free(enum store_kind k, void *v, size_t n);

/*
 * store_obj_create of a route table whose number, when t->table is 0, must
 * also not be one of avoid[0..navoid) (tables the kernel already uses): the
 * one call that takes what only the caller knows.
 */
int store_rtb_create(struct store *s, struct route_table *t, const uint32_t *avoid, size_t navoid,
                     struct vr_err *e) __attribute__((warn_unused_result));

/*
 * Every group and rule, for the reconciler, read in one transaction with the
 * revision they belong to; both arrays in id order. Targets and rules come
 * parsed (sg_target.local/p, has_ports/port_*, cidr); descriptions are left
 * NULL. Free with model_sgs_free / model_sg_rules_free; on error both are NULL.
 */
int store_sg_load(struct store *s, struct security_group **groups, size_t *ng,
                  struct sg_rule **rules, size_t *nr, int64_t *rev, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * Settings (one object per router: get's local, get_of's router, NULL or ""
 * for local; put's and restore's set->router, "" for local). A router without a stored row has the
 * defaults, with rev 1. get fills out; before the first put
 * out->managed is false and the forwarding flags are false. put stores
 * fwd_v4/fwd_v6 from set, marks them managed, bumps the revision, and fills
 * set->managed/rev/updated_at; PRECONDITION when if_rev > 0 and != the stored rev.
 * Managed settings equal to set: STORE_UNCHANGED, set filled as stored.
 */
int store_settings_get(struct store *s, struct settings *out, struct vr_err *e)
    __attribute__((warn_unused_result));
/* store_settings_get of router's settings (NULL or "": local's). */
int store_settings_get_of(struct store *s, const char *router, struct settings *out,
                          struct vr_err *e) __attribute__((warn_unused_result));
/*
 * Every router the desired state names (route tables, settings), sorted, into
 * *out (*n of them; free(*out)). The built-in router local is among them.
 */
int store_routers(struct store *s, char (**out)[ROUTER_MAX], size_t *n, struct vr_err *e)
    __attribute__((warn_unused_result));
int store_settings_put(struct store *s, struct settings *set, int64_t if_rev, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * The main table and settings row of router (not local, which has them from
 * the start) made when missing, in a write of its own: a router that serves
 * a fleet at start has them before any write names it. 0, or -1 with e.
 */
int store_router_ensure(struct store *s, const char *router, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * What the reconciler needs for addresses, policy rules and forwarding, read
 * in one transaction with the revision they belong to: every subnet in id
 * order with cidr/router_ip parsed and table resolved (descriptions left
 * NULL), and the settings: store_net_load every subnet and local's settings
 * (a single router's), store_net_load_of router's subnets and settings
 * (NULL: as store_net_load). Free subs with model_subnets_free; on error it is NULL.
 */
int store_net_load(struct store *s, struct subnet **subs, size_t *n, struct settings *set,
                   int64_t *rev, struct vr_err *e) __attribute__((warn_unused_result));
int store_net_load_of(struct store *s, const char *router, struct subnet **subs, size_t *n,
                      struct settings *set, int64_t *rev, struct vr_err *e)
    __attribute__((warn_unused_result));

/* ---- the whole desired state (GET/PUT /v1/config) ---- */

/*
 * A whole desired state as a document gives it, every array in document
 * order (errors name an item by its index there: "routes[17].destination").
 * Every item has passed its model_*_validate; an empty id means "assign one".
 */
struct store_config {
	struct route_table *tables;
	size_t ntables;
	/*
	 * The routes: routes[0..nroutes), or, when pack is set (a PUT's
	 * document), pack's nroutes items (route_pack_at reads either).
	 */
	struct route *routes;
	size_t nroutes;
	struct route_pack *pack;
	struct subnet *subnets;
	size_t nsubnets;
	struct security_group *groups;
	size_t ngroups;
	struct sg_rule *rules;
	size_t nrules;
	/*
	 * The scope (a fleet, issue 16): NULL, everything (a single router);
	 * else only this router's route tables, routes, subnets and settings,
	 * with every security group and rule. Objects of other routers are
	 * neither read nor changed; items must be the scope's (INVALID naming
	 * router), and a table item without one becomes the scope's.
	 */
	const char *router;
	bool has_settings; /* false: the settings stay as they are */
	bool fwd_v4, fwd_v6;
	/*
	 * Called by store_config_replace once the document is checked (route
	 * and subnet table numbers filled) and changes something, before it is
	 * written; never on a dry run. Only the stamps (rev, created_at,
	 * updated_at) of the items change after it. NULL: none.
	 */
	void (*checked)(void *arg, const struct store_config *c);
	void *checked_arg;
};

/* Ids listed per kind and change in a diff; the counts are always exact. */
#define STORE_DIFF_IDS_MAX 1000

struct store_diff_ids {
	size_t n;            /* objects */
	size_t nids;         /* of them listed in ids: the first STORE_DIFF_IDS_MAX by id */
	char (*ids)[ID_MAX]; /* malloc'd, in id order */
};

/* What a replace does to the database, per kind. */
struct store_diff {
	struct store_diff_ids added[STORE_KINDS];
	struct store_diff_ids changed[STORE_KINDS];
	struct store_diff_ids removed[STORE_KINDS];
	size_t unchanged[STORE_KINDS];
	bool settings_changed;
	struct settings settings_before; /* as stored before the replace */
	/*
	 * The revision after the replace: a new one when something was written,
	 * the current one when nothing changed or for a dry run.
	 */
	int64_t rev;
	bool any; /* anything at all changes */
};

/*
 * Replace the whole desired state with c in one transaction that bumps the
 * revision once (and not at all when c equals what is stored: no write).
 * Items keep their ids; items without one get a new id (written into c).
 * Objects equal to the stored ones keep their rev and timestamps, changed
 * ones keep created_at, stored objects missing from c are deleted; rtb-main
 * always stays (a document may give it a description, never another name
 * or table number). A table without a number keeps its stored one or gets
 * a free one in [RTB_AUTO_FIRST, RTB_AUTO_LAST] used by no table and not in
 * avoid[0..navoid). On success routes and subnets of c have their table
 * numbers resolved.
 *
 * c is checked as a whole before anything is written, with the same rules
 * as the single-object writes, references resolved within c (a route's
 * route_table_id must be a table of c or rtb-main, a rule's groups groups of
 * c): CONFLICT for an id given twice, a duplicate route key, name, table number,
 * rule, overlapping subnets; INVALID for a reference to an object c lacks; PRECONDITION
 * when if_rev > 0 and is not the current revision. Errors name the item as
 * "<kind>[<index>].<field>". On any error nothing changes.
 *
 * dry_run: the same checks and writes, then rolled back: nothing changes and
 * d describes what would. d is filled on success; free it with store_diff_free.
 */
int store_config_replace(struct store *s, struct store_config *c, int64_t if_rev,
                         const uint32_t *avoid, size_t navoid, bool dry_run, struct store_diff *d,
                         struct vr_err *e) __attribute__((warn_unused_result));
/* Free the id lists of d (not d). NULL-safe. */
void store_diff_free(struct store_diff *d);

/*
 * Read the whole desired state in one read transaction: fn is called for
 * every object, kinds in enum order, each kind in id order (descriptions
 * included, route and subnet table numbers resolved); obj is valid during the
 * call only. A nonzero return from fn stops the walk with -1 (fn fills e).
 * set and rev receive the settings and the revision of that state.
 */
int store_config_walk(struct store *s,
                      int (*fn)(void *arg, enum store_kind kind, const void *obj, struct vr_err *e),
                      void *arg, struct settings *set, int64_t *rev, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * Open a read transaction on s and keep it open across calls: until
 * store_snapshot_end, store_obj_list and the other reads see the one state
 * whose settings and revision this gives (a WAL reader keeps it while
 * writers go on), so a long document can be read page by page.
 */
int store_snapshot_begin(struct store *s, struct settings *set, int64_t *rev, struct vr_err *e)
    __attribute__((warn_unused_result));
/* End what store_snapshot_begin opened. */
void store_snapshot_end(struct store *s);

/*
 * Undo a write (?require_active=true): put back o, an object of kind k as
 * store_obj_get read it before the write, with its own rev, created_at and
 * updated_at, so its ETag is the one it had. Only while the stored object is
 * still the version the undone write made (rev if_rev): PRECONDITION when a later
 * write replaced it, NOT_FOUND when it is gone; checked like a replace otherwise.
 * Bumps the desired revision (into *rev) like any write, for the reconciler.
 */
int store_obj_restore(struct store *s, enum store_kind k, void *o, int64_t if_rev, int64_t *rev,
                      struct vr_err *e) __attribute__((warn_unused_result));
/* The same for the settings: old as store_settings_get read it (managed or not). */
int store_settings_restore(struct store *s, const struct settings *old, int64_t if_rev,
                           int64_t *rev, struct vr_err *e) __attribute__((warn_unused_result));

/* Free what the arrays of c own, and the arrays. NULL-safe; c is zeroed. */
void store_config_clear(struct store_config *c);

/*
 * Every route, in id order, handed to fn one at a time (the struct is reused:
 * copy what you keep; descriptions are not read), with the revision they
 * belong to, in one read transaction. A non-zero return from fn stops the
 * walk and is returned (-1 with e filled for a database error).
 */
int store_routes_each(struct store *s, int (*fn)(void *arg, const struct route *r), void *arg,
                      int64_t *rev, struct vr_err *e) __attribute__((warn_unused_result));
/* store_routes_each of router's routes only (their table's router); NULL: every route. */
int store_routes_each_of(struct store *s, const char *router,
                         int (*fn)(void *arg, const struct route *r), void *arg, int64_t *rev,
                         struct vr_err *e) __attribute__((warn_unused_result));

/* ---- change capture and replication (fleet mode; store_replica.c) ---- */

/* The kind of a change to the settings (beside enum store_kind's kinds). */
#define STORE_KIND_SETTINGS STORE_KINDS

/*
 * One object a write transaction changed: kind (an enum store_kind, or
 * STORE_KIND_SETTINGS with id STORE_SETTINGS_ID), id, and whether the object
 * is gone at commit (del) or stands (put: read it in the transaction). A
 * change to a group's targets is its group's; rules a group's delete took
 * along are listed as deleted.
 */
struct store_change {
	int kind;
	char id[ID_MAX];
	bool del;
};

/*
 * Called by the commit of every write transaction that changed objects,
 * inside it (store_obj_get and the other reads see the new state), before
 * the COMMIT (or a group write's RELEASE): changes[0..n) in kind, then id
 * order. A return < 0 (with e filled) fails the write: the store verb returns
 * -1 with e and nothing of it stays.
 */
typedef int (*store_commit_hook)(void *arg, struct store *s, const struct store_change *changes,
                                 size_t n, struct vr_err *e);
/*
 * Capture changes on s from now on (TEMP triggers on every object table of
 * this connection) and hand them to fn(arg, ...) at each commit; NULL fn
 * stops calling (the triggers stay). Without it (single mode) nothing of
 * this runs.
 */
int store_set_commit_hook(struct store *s, store_commit_hook fn, void *arg, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * A transaction of replicated changes (what etcd says): no commit hook,
 * foreign keys checked at the commit (a revision's objects come in key
 * order). end rolls back what was not committed.
 */
int store_replica_begin(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
int store_replica_commit(struct store *s, struct vr_err *e) __attribute__((warn_unused_result));
void store_replica_end(struct store *s);
/*
 * Inside a replica transaction: write obj (validated, kind k) as given,
 * its id, rev, created_at and updated_at included, over the stored one or
 * as a new row; none of a verb's checks, but the schema's (CONFLICT...).
 */
int store_replica_put(struct store *s, enum store_kind k, const void *obj, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * Before the puts of one replica transaction, for each object about to be
 * put: move the stored one out of the way of the others (a group's name is
 * parked, any other kind's row is deleted, to be written again), so that
 * names and keys may move between objects within the transaction, as a
 * whole-state replace lets them. 0 also when it is not there.
 */
int store_replica_make_way(struct store *s, enum store_kind k, const char *id, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Delete object id of kind k; 0 also when it is not there (a cascade took it). */
int store_replica_delete(struct store *s, enum store_kind k, const char *id, struct vr_err *e)
    __attribute__((warn_unused_result));
/* The settings as given (flags, managed, updated_at, rev). */
int store_replica_settings(struct store *s, const struct settings *set, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Every id of kind k in id order into *ids (malloc'd array of *n; free()). */
int store_replica_ids(struct store *s, enum store_kind k, char (**ids)[ID_MAX], size_t *n,
                      struct vr_err *e) __attribute__((warn_unused_result));
/* Set the desired revision (what etcd's writes stamped); inside a write transaction. */
int store_replica_set_revision(struct store *s, int64_t rev, struct vr_err *e)
    __attribute__((warn_unused_result));
/* A named counter of the meta table: *v = its value, 0 when absent. */
int store_meta_get(struct store *s, const char *key, int64_t *v, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Set it, inside the caller's write transaction (or alone). */
int store_meta_set(struct store *s, const char *key, int64_t v, struct vr_err *e)
    __attribute__((warn_unused_result));

/* ---- the audit log (store_audit.c) ---- */

/* How many events a handle keeps unless told otherwise (store_audit_keep). */
#define STORE_AUDIT_KEEP_DEFAULT 100000
#define STORE_EVENT_TOKEN_MAX 64
#define STORE_EVENT_CLIENT_MAX 64 /* an IPv6 address and a scope */
#define STORE_EVENT_METHOD_MAX 16
#define STORE_EVENT_PATH_MAX 512
#define STORE_EVENT_OBJECT_MAX 128 /* an id as the request named it, perhaps malformed */
/* The object id of an event about the settings. */
#define STORE_SETTINGS_ID "settings"

/*
 * One write request as the audit log holds it. Texts longer than their
 * buffer are cut short. object_id "": not about one object; rev 0: nothing
 * committed; has_plan: PUT /v1/config's plan counts (over every kind).
 */
struct store_event {
	int64_t id; /* assigned when recorded; 0 before */
	char time[TIME_MAX];
	char token[STORE_EVENT_TOKEN_MAX];
	char client[STORE_EVENT_CLIENT_MAX];
	char method[STORE_EVENT_METHOD_MAX];
	char path[STORE_EVENT_PATH_MAX];
	char object_id[STORE_EVENT_OBJECT_MAX];
	int status;
	int64_t rev;
	bool has_plan;
	int64_t added, changed, removed, unchanged;
};

/*
 * Arm ev for the calling thread (NULL disarms): the first write this thread
 * commits on any handle from now on inserts ev, with the object id, the
 * revision and (PUT /v1/config) the plan's counts the write fills in, in
 * the write's own transaction, and sets ev->id. ev->status is what the caller
 * answers when the write commits. A write that rolls back records nothing
 * (ev->id stays 0); neither do later writes once ev->id is set.
 */
void store_audit_arm(struct store_event *ev);
/* What the calling thread armed (NULL: nothing), to run its write on another thread. */
struct store_event *store_audit_armed(void);
/*
 * The armed event, if any, is about object_id: for a write that stores
 * nothing, so no commit names its object (starting a packet capture).
 */
void store_audit_object(const char *object_id);
/*
 * Record ev in a transaction of its own (a write that was refused or that
 * changed nothing: there is no change to share one with); sets ev->time and
 * ev->id. Old events are pruned as in a write.
 */
int store_audit_record(struct store *s, struct store_event *ev, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Keep at most keep (>= 1) events: every recording drops what is older. */
void store_audit_keep(struct store *s, int64_t keep);

/* What an event list keeps, each field NULL for any. */
struct store_event_filter {
	const char *object_id;
	const char *token;
};

/*
 * Up to limit events with id < before (0: from the newest) that pass f,
 * newest first, into *out (free() it); *more tells whether older ones pass too.
 */
int store_audit_list(struct store *s, const struct store_event_filter *f, int64_t before,
                     size_t limit, struct store_event **out, size_t *n, bool *more,
                     struct vr_err *e) __attribute__((warn_unused_result));

#endif
