/*
 * The reconciler's private header, shared by its files (recon.h is the
 * public contract):
 *
 *   recon.c         the thread, kicks and waits, statuses and counts, the
 *                   order of a full pass and the status entries
 *   recon_routes.c  routes: the full pass over every route, one route alone
 *   recon_net.c     subnets (addresses, the associations' policy rules) and
 *                   IP forwarding
 *   recon_sg.c      security groups (table inet vrouter)
 *
 * Every pass goes load (the store) -> plan (the planner's translation and
 * diff, plan.h) -> apply (kernel_ops) -> record (statuses and counts under
 * the lock), each step a function of its own. Everything here runs on the
 * reconciler's thread only (recon_assert_thread).
 */
#ifndef VR_RECON_INT_H
#define VR_RECON_INT_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"
#include "model.h"
#include "plan.h"
#include "recon.h"
#include "sgc.h"

struct idmap;
struct store;

/* One desired route as the reconciler last applied it. */
struct rentry {
	int64_t rev;
	struct kroute k; /* valid when resolved */
	bool resolved;   /* its device exists (or it needs none) */
	bool in_kernel;  /* we believe the kernel holds k for us */
	uint32_t gen;    /* the full pass that last saw it desired */
	bool drifted;    /* went missing after being applied and not back yet (link down...) */
	enum obj_state state;
	char *reason; /* set when failed */
	char id[];    /* exactly as long as it is: 100,000 of these stay in memory */
};

/* The status of an object that is not a route (subnet, settings, group, rule). */
struct ostatus {
	char id[ID_MAX];
	enum obj_state state;
	char *reason;
	int64_t rev; /* the object's revision when this status was recorded */
};

struct change {
	int64_t rev;
	enum recon_obj kind;
	char id[ID_MAX];
};

struct recon {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t applied;
	/*
	 * recon_wait_post's waiters (under lock). Each is woken alone, when its
	 * revision is applied: a broadcast of applied woke every writer's
	 * thread at each pass, also the ones whose revision it had not reached,
	 * and they queued on lock (issue 15, tests/bench/README.md "post-rate").
	 */
	struct recon_waiter *waiters;
	int wake_fd;

	/*
	 * Bumped (recon_status_changed) under lock by every change of an
	 * object's status; read without it (recon_status_gen).
	 */
	uint64_t status_gen;

	/* Guarded by lock. */
	bool stop;
	bool full_pending;
	struct change *queue;
	size_t nqueue, capqueue;
	struct idmap *routes; /* id -> struct rentry*; written by the thread under lock */
	struct idmap *net;    /* subnet ids and "settings" -> struct ostatus* */
	struct idmap *sg;     /* group and rule ids -> struct ostatus* */
	struct recon_stats stats;
	uint32_t gen; /* full passes so far */

	/* The thread's own. */
	pthread_t self; /* the thread, as it sees itself (recon_assert_thread) */
	struct store *store;
	struct kernel_ops k;
	struct plan_links links; /* k's link lookup, for the planner */
	int resync_ms;
	/*
	 * The router whose route tables, routes, subnets and settings this
	 * kernel gets (a fleet, issue 16); NULL: every row (a single router).
	 */
	const char *router;
	char router_buf[ROUTER_MAX];
	struct sgc_listen api;  /* the API's socket, kept open by `local` guards */
	uint32_t nft_flags;     /* SGC_TABLE_FLAGS, or 0 once the kernel refused them */
	struct sgc *sg_applied; /* what table inet vrouter holds; NULL = unknown */
	uint64_t net_failed;    /* subnets and settings failed in the last pass (under lock) */
	uint64_t sg_failed;     /* groups and rules failed in the last pass (under lock) */
	/*
	 * What the kernel held of ours after the last pass, beside the routes
	 * (whose entries keep their kernel form): an object found missing or
	 * changed counts as drift only if it is desired exactly as it was
	 * applied. An object whose desired form changed (a table renumbered, a
	 * subnet moved) is the user's change, never drift.
	 */
	struct kaddr *addrs_applied;
	size_t naddrs_applied;
	struct krule *rules_applied;
	size_t nrules_applied;
	struct kroute *copies_applied; /* connected-network copies of associations in the kernel */
	size_t ncopies_applied;
	bool fwd_applied; /* forwarding was enforced at fwd_applied_v4/v6 */
	bool fwd_applied_v4, fwd_applied_v6;
	/* The copies the last pass wanted, before user routes took any of their keys. */
	struct kroute *copies;
	size_t ncopies;
	bool starting; /* no full pass has run yet: log each removal */
	/*
	 * A document to put in the kernel while it is being stored
	 * (recon_preapply); guarded by lock. Borrowed until pre_running ends.
	 */
	struct recon_doc pre;
	bool pre_pending; /* handed over, not taken yet */
	bool pre_running;
	/*
	 * From the hand-over until the caller's commit is over (recon_preapply_wait):
	 * no full pass runs, since it would read the state before the commit and
	 * take the document's routes out again.
	 */
	bool pre_hold;
	/*
	 * Documents being parsed and stored (recon_hold); guarded by lock. The
	 * periodic and the debounced full passes wait for them: a full pass's
	 * arrays (some 30 MB at 100,000 routes) would otherwise add to the
	 * document's (its items, 45 MB). Kicked passes run.
	 */
	unsigned doc_holds;
	/*
	 * The revision the document was stored as (recon_preapply_wait), 0 when
	 * its commit failed; guarded by lock. sg_pre_ok (the thread's own):
	 * r->sg_applied was compiled from that document (recon_preapply_sg), so
	 * a pass that reads that revision reads what sg_applied was compiled
	 * from. The first security-group pass after a preapply clears sg_pre_ok.
	 */
	int64_t pre_rev;
	bool sg_pre_ok;
	/* Full passes asked for by kicks: taken so far, and the last one finished (recon_resync).
	 */
	uint64_t full_taken, full_done;
};

/*
 * The reconciler's state outside the lock is written by its thread alone:
 * the passes check that they run there.
 */
#define recon_assert_thread(r) assert(pthread_equal(pthread_self(), (r)->self))

/* Say that statuses changed (recon_status_gen); call under r->lock, after the change. */
#define recon_status_changed(r) __atomic_add_fetch(&(r)->status_gen, 1, __ATOMIC_RELEASE)

/*
 * Subnets and settings, in two steps around the routes of a full pass:
 * recon_net_addrs puts the router addresses on their links and plans the
 * associations (whose copies of connected networks recon_sync_full applies
 * with the routes), recon_net_rules then installs the policy rules of the
 * subnets that are whole (address and copies in place), records every
 * subnet's status and enforces IP forwarding. The state is small (one entry
 * per subnet), so every pass takes all of it.
 */
struct net_pass {
	struct subnet *subs;
	size_t n;
	struct settings set;
	int64_t rev;
	char **why;  /* per subnet: failure reason, NULL when fine */
	bool *ready; /* per subnet: its address is in place */
	struct plan_assoc as;
	int *copy_res; /* per as.routes[i]: 0 in the kernel, else -errno (recon_sync_full) */
	uint64_t rep_a;
};

/*
 * The passes. Each returns 0 when everything applied, 1 when some objects
 * failed (their statuses say why), -1 when it could not run (err says why);
 * *rev_out is the revision it read.
 */

/*
 * Every desired route from the store, and the copies of connected networks
 * that associations want (as->routes), against every owned route in the
 * kernel. copy_res[i] gets 0 when the copy as->routes[i] is in the kernel,
 * else -errno (a copy whose key a desired route holds is first dropped from
 * as).
 */
int recon_sync_full(struct recon *r, struct plan_assoc *as, int *copy_res, int64_t *rev_out,
                    char *err, size_t errlen);
/*
 * A document's routes[0..n) (checked, table numbers filled), with the
 * copies of connected networks the last pass wanted, against every owned
 * route in the kernel: the kernel is changed, nothing is recorded (the full
 * pass after the commit records the statuses, and puts back what the
 * document's failed commit took out). 0, or -1 with err.
 */
int recon_preapply_routes(struct recon *r, const struct route *routes,
                          const struct route_pack *pack, size_t n, char *err, size_t errlen);
/*
 * A document's groups g[0..ng) and rules rl[0..nr) (the whole desired set)
 * into table inet vrouter: compiled and sent as the difference from what
 * the table holds, which they then are (r->sg_applied), so that the full
 * pass after the commit finds nothing to send. Nothing is recorded (that
 * pass records the statuses, and puts back what a failed commit took out).
 * 0, or -1 with err (what the table holds is then unknown, and that pass
 * replaces it whole).
 */
int recon_preapply_sg(struct recon *r, const struct security_group *g, size_t ng,
                      const struct sg_rule *rl, size_t nr, char *err, size_t errlen);
/*
 * Some routes changed (ids: n distinct ids): apply just those (O(n) in the
 * size of the state): one read of the store, one kernel batch, each route's
 * status recorded. Returns 0, 1 when one failed, or 2 when only a full pass
 * can sort it out.
 */
int recon_sync_routes(struct recon *r, const char *const *ids, size_t n);
/*
 * Step one of the subnets: load them and the settings, apply the router
 * addresses, read the links and plan the associations into np->as. No
 * revision: recon_net_rules gives it. On -1 np is to be freed.
 */
int recon_net_addrs(struct recon *r, struct net_pass *np, char *err, size_t errlen);
/* Step three: the rules of the subnets that are whole, every status, IP forwarding. */
int recon_net_rules(struct recon *r, struct net_pass *np, int64_t *rev_out, char *err,
                    size_t errlen);
void recon_net_pass_free(struct net_pass *np);
/*
 * Security groups: compile the whole desired state and send nftables the
 * difference. check_kernel: read the table back first and rebuild it if
 * someone changed it (drift).
 */
int recon_sync_sg(struct recon *r, bool check_kernel, int64_t *rev_out, char *err, size_t errlen);

/* ---- shared by the passes (recon.c) ---- */

/* CLOCK_MONOTONIC in microseconds: the passes time their steps. */
int64_t recon_now_us(void);
/* What the first pass after a start removes is logged, one line per object. */
void recon_log_removed(const struct recon *r, const char *kind, const char *words);
/* Record a status in map m (NULL reason for active). 0 or -ENOMEM. */
int recon_ostatus_put(struct idmap *m, const char *id, int64_t rev, enum obj_state state,
                      const char *reason) __attribute__((warn_unused_result));
/* Free a map of struct ostatus* with its values. NULL-safe. */
void recon_ostatus_map_free(struct idmap *m);
/* A zeroed route entry for id. NULL when out of memory. */
struct rentry *recon_rentry_new(const char *id);
void recon_rentry_free(struct rentry *e);
void recon_rentry_set(struct rentry *e, enum obj_state state, const char *reason);
/* True when v[0..n) (elements of size bytes) holds one that same() finds equal to x. */
bool recon_applied_has(const void *v, size_t n, size_t size, const void *x,
                       bool (*same)(const void *, const void *));
/* Replace *v (n elements) with a malloc'd copy of src[0..ns). 0 or -ENOMEM (then *v is kept). */
int recon_keep_copy(void **v, size_t *n, const void *src, size_t ns, size_t size)
    __attribute__((warn_unused_result));
/* The kinds of kernel object the passes plan with recon_diff and apply with recon_apply. */
enum recon_kobj { RECON_KROUTE, RECON_KADDR, RECON_KRULE };

/*
 * The plan step's end: read the kernel's owned objects of a kind and diff
 * desired[0..nd) (struct kroute, kaddr or krule) against them with the
 * planner: *ops (struct kroute_op...; malloc'd, NULL when none), ok[i] as
 * plan_routes says. 0, or -1 with err ("reading the kernel's routes: ...",
 * "out of memory").
 */
int recon_diff(struct recon *r, enum recon_kobj kind, const void *desired, size_t nd, bool *ok,
               void **ops, size_t *nops, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Apply ops[0..n) (struct kroute_op, kaddr_op or krule_op as kind says);
 * *res is calloc'd and gets the kernel's answer per op (NULL when n is 0).
 * 0, or -1 with err ("applying routes: ...") when the socket failed or
 * memory ran out.
 */
int recon_apply(struct recon *r, enum recon_kobj kind, const void *ops, size_t n, int **res,
                char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
