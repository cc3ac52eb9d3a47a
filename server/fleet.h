/*
 * Fleet mode (issue 16, docs/etcd.md): etcd is the source of truth, this
 * router's SQLite file its local copy.
 *
 * Keys under the prefix P (--etcd-prefix, default /vrouter):
 *   P/rev                  the fleet's desired revision R, put by every write
 *   P/obj/<kind>/<id>      an object as its GET shows it (no status) plus "rev"
 *                          (kind: route_tables, routes, subnets, security_groups,
 *                          security_group_rules, settings)
 *   P/members/<router>     {name, api, applied_revision, failed, last_apply}, on a lease
 *
 * The write path: a store verb runs as in single mode; its commit hook
 * (store_set_commit_hook) sends what the transaction changed as ONE etcd txn
 * comparing mod_revision(P/rev) with M, the one this copy last applied, and
 * commits locally only when etcd took it (recording M = the txn's revision).
 * The applier: one watch on P/ from M + 1 applies each revision to SQLite in one
 * transaction (the hook off) and kicks the reconciler; a compacted revision
 * makes it resync (the whole prefix at one revision, one transaction).
 */
#ifndef VR_FLEET_H
#define VR_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct app;
struct fleet;

#define FLEET_ROUTER_MAX 32
#define FLEET_DEFAULT_PREFIX "/vrouter"
#define FLEET_DEFAULT_ROUTER "local"
/* Bounded wait for this copy to catch up after a lost compare, and the runs of a write. */
#define FLEET_CATCHUP_MS 2000
#define FLEET_WRITE_RUNS 3
/* Retry-After (seconds) on a 503 of fleet mode. */
#define FLEET_RETRY_AFTER "2"

struct fleet_opts {
	const char *endpoints; /* --etcd */
	const char *prefix;    /* --etcd-prefix */
	const char *router;    /* --router */
	const char *ca_file, *cert_file, *key_file;
	const char *api; /* --listen, for the member record */
};

/* 0 when name is a router name ([a-z0-9][a-z0-9-]{0,31}); else -1 with e naming it. */
int fleet_router_valid(const char *name, struct vr_err *e) __attribute__((warn_unused_result));
/* 0 when prefix is a key prefix (starts with '/', no trailing '/', printable). */
int fleet_prefix_valid(const char *prefix, struct vr_err *e) __attribute__((warn_unused_result));

/*
 * Connect app (its store open, no HTTP yet) to the fleet: the commit hook on
 * app->store, then the first sync (catch up, import, or resync). etcd being
 * unreachable is not an error: the copy serves reads (stale) and the sync is
 * retried by fleet_run's thread. -1 with e for bad options or a store error.
 */
int fleet_open(struct app *app, const struct fleet_opts *o, struct fleet **out, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Start the watch and the thread that retries, resyncs and keeps the member key. */
int fleet_run(struct fleet *f, struct vr_err *e) __attribute__((warn_unused_result));
/* Stop everything (the member key is revoked). NULL-safe. */
void fleet_close(struct fleet *f);

const char *fleet_router(const struct fleet *f);

/*
 * After a write that failed, with the store lock held: true when it lost
 * etcd's compare to another router's write and this copy caught up within
 * FLEET_CATCHUP_MS (the caller releases the lock around fleet_catch_up):
 * run it again. run: the runs so far (1 after the first).
 */
bool fleet_lost_compare(struct fleet *f, int run, int64_t *target);
int fleet_catch_up(struct fleet *f, int64_t target, struct vr_err *e);

/*
 * The headers every answer carries: Vrouter-Etcd-Revision (the etcd revision
 * of P/rev this copy applied) and, while the watch is not live,
 * Vrouter-Stale-Since (RFC 3339 UTC). Writes into the buffers; stale[0] ""
 * when live.
 */
void fleet_headers(struct fleet *f, char *rev, size_t rev_size, char *stale, size_t stale_size);

/* GET /v1/routers' items: every member of the fleet. NULL with e when etcd cannot say. */
json_t *fleet_members(struct fleet *f, struct vr_err *e);

#endif
