/*
 * The reconciler: the one thread that owns the kernel. It makes the kernel's
 * owned objects equal to the desired state in the store: after every write
 * (recon_kick), on route/link/address notifications, and periodically.
 * Writers wait for their revision to be applied with recon_wait.
 */
#ifndef VR_RECON_H
#define VR_RECON_H

#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "kernel.h"
#include "model.h"

struct recon;
struct sgc_listen;

struct recon_stats {
	int64_t desired_rev;
	int64_t applied_rev;
	char last_apply_at[TIME_MAX]; /* "" before the first apply */
	double last_apply_ms;
	bool last_apply_ok;
	char last_error[REASON_MAX];
	uint64_t applies;
	uint64_t apply_failures;       /* applies in which at least one object failed */
	uint64_t drift_repairs_routes; /* owned routes found missing or changed and put back */
	uint64_t drift_repairs_addrs;
	uint64_t drift_repairs_rules;
	uint64_t drift_repairs_forwarding;
	uint64_t drift_repairs_nft;
	uint64_t addrs_owned;
	uint64_t rules_owned;
	uint64_t nft_objects;    /* sets, chains and elements of table inet vrouter; 0 = no table */
	uint64_t objects_failed; /* subnets, settings, groups and rules in state failed */
	bool forwarding_managed;
	bool fwd_v4, fwd_v6;    /* the kernel's values as last read */
	uint64_t routes_owned;  /* owned routes in the kernel after the last apply */
	uint64_t routes_failed; /* desired routes in state failed */
};

/*
 * Start the thread. It opens its own store handle on db_path and uses k (which
 * must stay valid until recon_stop). resync_ms is the period of the full resync;
 * api is the API's listening socket, which `local` security groups never
 * block (copied; NULL: none).
 */
int recon_start(const char *db_path, const struct kernel_ops *k, int resync_ms,
                const struct sgc_listen *api, struct recon **out, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * recon_start for router of a fleet (issue 16): only the routes, subnets and
 * settings of router reach the kernel (security groups are the fleet's:
 * all). NULL: every row, whatever its router (a single router).
 */
int recon_start_router(const char *db_path, const char *router, const struct kernel_ops *k,
                       int resync_ms, const struct sgc_listen *api, struct recon **out,
                       struct vr_err *e) __attribute__((warn_unused_result));
/* Stop the thread. Owned kernel objects are left in place. NULL-safe. */
void recon_stop(struct recon *r);

/* What a write changed: one object (applied incrementally) or everything. */
enum recon_obj {
	RECON_ALL = 0,
	RECON_ROUTE,
	RECON_ROUTE_TABLE,
	RECON_SG,
	RECON_SG_RULE,
	RECON_SUBNET,
	RECON_SETTINGS
};

/*
 * The desired state changed at revision rev (object kind/id): apply it soon.
 * Call it while still holding the lock that serialised the store write, so
 * kicks arrive in revision order and the applied revision is exact.
 */
void recon_kick(struct recon *r, int64_t rev, enum recon_obj kind, const char *id);
/* Wait until revision rev is applied (attempted). 0, or -ETIMEDOUT. */
int recon_wait(struct recon *r, int64_t rev, int timeout_ms);
/*
 * The same without a thread of its own waiting: w->sem is posted once, when
 * revision w->rev is applied (at once when it is already), with w->woken
 * set under the reconciler's lock. w stays the reconciler's until then or
 * until recon_wait_cancel.
 */
struct recon_waiter {
	int64_t rev;
	sem_t *sem;
	bool woken;
	struct recon_waiter *next;
};
void recon_wait_post(struct recon *r, struct recon_waiter *w);
/*
 * Take w back: true when it was posted already (the post is over), false when
 * it was not and never will be.
 */
bool recon_wait_cancel(struct recon *r, struct recon_waiter *w);
/*
 * A document's whole desired state as PUT /v1/config hands it over
 * (recon_preapply): its routes (checked, table numbers filled), and every
 * security group and rule (a document replaces them all, in a fleet too).
 */
struct route_pack;
struct recon_doc {
	const struct route *routes;
	const struct route_pack *pack; /* or the routes are these, when set */
	size_t nroutes;
	const struct security_group *groups;
	size_t ngroups;
	const struct sg_rule *rules;
	size_t nrules;
};

/*
 * PUT /v1/config: start putting doc's routes, groups and rules into the
 * kernel while the caller stores them. doc (copied) points at arrays that
 * stay the caller's and must stay valid and unchanged (but for their
 * stamps) until recon_preapply_wait returns. The statuses are left to the
 * full pass the caller kicks after its commit, which finds the kernel done;
 * if the commit fails, recon_resync puts the stored state back.
 */
void recon_preapply(struct recon *r, const struct recon_doc *doc);
struct store_config;
/* recon_preapply of the routes, groups and rules of c (store_config_replace's hook). */
void recon_preapply_config(struct recon *r, const struct store_config *c);
/*
 * The caller's commit is over: wait until the document of recon_preapply is
 * applied (or could not be). rev: the revision the document was stored as,
 * 0 when the commit failed. The pass that reads rev then takes the groups
 * compiled from the document as they are, without compiling them again.
 */
void recon_preapply_wait(struct recon *r, int64_t rev);
/*
 * A large document is being parsed and stored (PUT /v1/config): the periodic
 * and the debounced full passes wait until recon_release, so that their
 * memory does not add to the document's. Passes that are kicked still run.
 * Every recon_hold has its recon_release.
 */
void recon_hold(struct recon *r);
void recon_release(struct recon *r);
/* Run a full pass now and wait for it to finish. 0, or -ETIMEDOUT. */
int recon_resync(struct recon *r, int timeout_ms);
/* The status of an object by id; OBJ_PENDING when not yet applied. */
void recon_status(struct recon *r, const char *id, struct obj_status *out);
/*
 * A count that changes whenever any object's status may have changed: a
 * status read by recon_status after the count was G is current while it
 * stays G (server/http_cache.h keys rendered answers on it).
 */
uint64_t recon_status_gen(struct recon *r);
void recon_stats(struct recon *r, struct recon_stats *out);

struct recon_failure {
	char id[ID_MAX];
	char reason[REASON_MAX];
};

/* Up to max objects in state failed (routes first), with their reasons; returns how many. */
size_t recon_failures(struct recon *r, struct recon_failure *out, size_t max);

#endif
