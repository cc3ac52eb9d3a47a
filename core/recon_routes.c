/*
 * The reconciler's routes: a full pass over every desired route (with the
 * associations' copies of connected networks), and one route alone after a
 * write to it. Both go load -> plan -> apply -> record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "preview.h"
#include "recon_int.h"
#include "store.h"

static bool same_kroute(const void *a, const void *b)
{
	return plan_kroute_equal(a, b);
}

static bool same_key(const void *a, const void *b)
{
	return plan_kroute_same_key(a, b);
}

/* Fill e (all but its id) from the desired route: the kernel form, or failed when its device is
 * missing. */
static void rentry_from_route(struct recon *r, struct rentry *e, const struct route *rt)
{
	char why[REASON_MAX];

	e->rev = rt->rev;
	e->resolved = plan_kroute_of(rt, &r->links, &e->k, why, sizeof(why)) == 0;
	recon_rentry_set(e, e->resolved ? OBJ_PENDING : OBJ_FAILED, e->resolved ? NULL : why);
}

/* ---- the full pass ---- */

/* One desired route of a full pass, before it is recorded. */
struct dslot {
	char id[ID_MAX];
	int64_t rev;
	struct kroute k;
	bool resolved;
	bool in_kernel;
	bool drifted;
	enum obj_state state;
	char *reason;
};

/*
 * A full pass through its steps. The routes are streamed from the store into
 * a compact array (load), the kernel is changed without the lock held (plan,
 * apply), and the status map is then updated in place (record), not rebuilt
 * beside the old one: at 100,000 routes two maps at once cost tens of
 * megabytes.
 */
/* Desired routes one pass loads: as many as the netlink adapter dumps back (NLR_ROUTES_MAX). */
#define RECON_ROUTES_MAX ((size_t)4 * 1024 * 1024)

struct route_pass {
	struct recon *r;
	/* load */
	struct dslot *v;
	size_t n, cap;
	int64_t rev;
	/* plan: the user's resolved routes first (map: their slots), then the copies */
	struct kroute *desired;
	size_t nd, nu;
	size_t *map;
	bool *ok;
	struct kroute_op *ops;
	size_t nops;
	/* apply */
	int *res;
	/* record */
	uint64_t repairs, failed;
};

static void route_pass_free(struct route_pass *rp)
{
	for (size_t i = 0; i < rp->n; i++)
		free(rp->v[i].reason);
	free(rp->v);
	free(rp->desired);
	free(rp->map);
	free(rp->ok);
	free(rp->ops);
	free(rp->res);
}

/* store_routes_each callback: the route in its kernel form (no lock: only this thread writes). */
static int collect_route(void *arg, const struct route *rt)
{
	struct route_pass *rp = arg;
	struct rentry tmp = {0};
	struct dslot *d;
	int err;

	recon_assert_thread(rp->r);
	/* Each slot is written whole below. */
	err = vr_grow_raw((void **)&rp->v, &rp->cap, rp->n + 1, sizeof(*rp->v), RECON_ROUTES_MAX);
	if (err)
		return err;
	rentry_from_route(rp->r, &tmp, rt);
	d = &rp->v[rp->n++];
	*d = (struct dslot){.rev = tmp.rev,
	                    .k = tmp.k,
	                    .resolved = tmp.resolved,
	                    .state = tmp.state,
	                    .reason = tmp.reason}; /* reason moved */
	snprintf(d->id, sizeof(d->id), "%s", rt->id);
	return 0;
}

static int routes_load(struct route_pass *rp, char *err, size_t errlen)
{
	struct recon *r = rp->r;
	struct vr_err e = {0};
	int rc;

	rc = store_routes_each_of(r->store, r->router, collect_route, rp, &rp->rev, &e);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	else if (rc)
		snprintf(err, errlen, "reading the desired state: %s", e.msg);
	return rc ? -1 : 0;
}

/* The desired routes and the copies against the kernel's: rp->ops. */
static int routes_plan(struct route_pass *rp, struct plan_assoc *as, int *copy_res, char *err,
                       size_t errlen)
{
	struct recon *r = rp->r;

	rp->desired = malloc((rp->n + as->nroutes + 1) * sizeof(*rp->desired));
	rp->map = malloc((rp->n ? rp->n : 1) * sizeof(*rp->map));
	rp->ok = calloc(rp->n + as->nroutes + 1, sizeof(*rp->ok));
	if (!rp->desired || !rp->map || !rp->ok)
		goto oom;
	for (size_t i = 0; i < rp->n; i++) {
		if (!rp->v[i].resolved)
			continue;
		rp->map[rp->nu] = i;
		rp->desired[rp->nu++] = rp->v[i].k;
	}
	if (recon_keep_copy((void **)&r->copies, &r->ncopies, as->routes, as->nroutes,
	                    sizeof(*as->routes)))
		goto oom;
	rp->nd = plan_with_copies(rp->desired, rp->nu, as);
	for (size_t i = 0; i < as->nroutes; i++)
		copy_res[i] = -EINPROGRESS; /* not applied (yet) */
	return recon_diff(r, RECON_KROUTE, rp->desired, rp->nd, rp->ok, (void **)&rp->ops,
	                  &rp->nops, err, errlen);
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void dslot_fail(struct dslot *d, const char *why)
{
	d->state = OBJ_FAILED;
	free(d->reason);
	d->reason = strdup(why);
}

/* The kernel's answer to op i, for a route we no longer want. */
static void route_removed(struct route_pass *rp, size_t i)
{
	const struct kroute_op *op = &rp->ops[i];
	int res = rp->res[i];

	if (res && res != -ESRCH && res != -ENOENT) {
		log_warnx("could not remove a route vrouter no longer wants: %s", strerror(-res));
	} else if (!res && rp->r->starting) {
		char words[PREVIEW_WHAT_MAX];

		preview_route_words(&op->r, words, sizeof(words));
		recon_log_removed(rp->r, "route", words);
	}
}

/*
 * The kernel's answer to op i, for a desired route. Applied before in this
 * very kernel form and changed or gone since: drift. A route whose form
 * changed (its table renumbered, a new gateway) is the user's change,
 * whatever its revision. A route lost with its link stays drifted through
 * the passes that cannot put it back, and counts once it is back.
 */
static void route_answered(struct route_pass *rp, size_t i)
{
	const struct kroute_op *op = &rp->ops[i];
	struct dslot *d = &rp->v[rp->map[op->tag]];
	const struct rentry *prev = idmap_get(rp->r->routes, d->id);

	d->drifted =
	    prev && plan_kroute_equal(&prev->k, &d->k) && (prev->in_kernel || prev->drifted);
	if (rp->res[i] == 0) {
		d->in_kernel = true;
		d->state = OBJ_ACTIVE;
		rp->repairs += d->drifted;
		d->drifted = false;
	} else {
		char why[REASON_MAX];

		kernel_route_reason(&op->r, rp->res[i], why, sizeof(why));
		dslot_fail(d, why);
	}
}

/* What the plan and the kernel's answers say of every desired route and copy. */
static int routes_outcome(struct route_pass *rp, const struct plan_assoc *as, int *copy_res,
                          char *err, size_t errlen)
{
	struct recon *r = rp->r;
	size_t ncopies_in = 0;

	for (size_t j = 0; j < rp->nd; j++) {
		if (!rp->ok[j])
			continue;
		if (j >= rp->nu) {
			copy_res[j - rp->nu] = 0;
			continue;
		}
		rp->v[rp->map[j]].in_kernel = true;
		rp->v[rp->map[j]].state = OBJ_ACTIVE;
	}
	for (size_t i = 0; i < rp->nops; i++) {
		const struct kroute_op *op = &rp->ops[i];

		if (op->kind == KOP_DELETE) {
			route_removed(rp, i);
		} else if (op->tag >= rp->nu) {
			/* A copy: drift when it was in the kernel just like this. */
			copy_res[op->tag - rp->nu] = rp->res[i];
			rp->repairs += rp->res[i] == 0 &&
			               recon_applied_has(r->copies_applied, r->ncopies_applied,
			                                 sizeof(op->r), &op->r, same_kroute);
		} else {
			route_answered(rp, i);
		}
	}
	/* The copies now in the kernel: the next pass's measure of drift. */
	for (size_t i = 0; i < as->nroutes; i++)
		if (copy_res[i] == 0)
			rp->desired[ncopies_in++] = as->routes[i];
	if (recon_keep_copy((void **)&r->copies_applied, &r->ncopies_applied, rp->desired,
	                    ncopies_in, sizeof(*rp->desired))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Move slot d into its entry of the status map (made when new). Under the
 * lock. True when the route is recorded failed.
 */
static bool slot_record(struct recon *r, struct dslot *d)
{
	struct rentry *ent = idmap_get(r->routes, d->id);

	if (!ent) {
		ent = recon_rentry_new(d->id);
		/* The map borrows the entry's own id as its key. */
		if (!ent || idmap_put(r->routes, ent->id, ent)) {
			free(ent);
			r->full_pending = true; /* out of memory: try again soon */
			return false;
		}
	}
	ent->rev = d->rev;
	ent->k = d->k;
	ent->resolved = d->resolved;
	ent->in_kernel = d->in_kernel;
	ent->drifted = d->drifted;
	ent->state = d->state == OBJ_PENDING ? OBJ_FAILED : d->state;
	free(ent->reason);
	ent->reason = d->reason;
	d->reason = NULL;
	if (ent->state == OBJ_FAILED && !ent->reason)
		ent->reason = strdup("not applied");
	ent->gen = r->gen;
	return ent->state == OBJ_FAILED;
}

static void count_entry(void *v, void *arg)
{
	const struct rentry *e = v;
	struct recon_stats *st = arg;

	st->routes_owned += e->in_kernel;
	st->routes_failed += e->state == OBJ_FAILED;
}

struct stale_walk {
	uint32_t gen;
	struct rentry **out;
	size_t *n;
};

/* idmap_each callback: entries the current full pass did not see. */
static void collect_stale(void *v, void *arg)
{
	struct rentry *e = v;
	struct stale_walk *w = arg;

	if (e->gen != w->gen)
		w->out[(*w->n)++] = e;
}

/* Record: update entries in place, add new ones, then drop those no longer desired. */
static int routes_record(struct route_pass *rp, char *err, size_t errlen)
{
	struct recon *r = rp->r;
	struct rentry **gone = malloc((idmap_count(r->routes) + 1) * sizeof(*gone));
	size_t ndel = 0;

	if (!gone) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	r->gen++;
	for (size_t i = 0; i < rp->n; i++)
		rp->failed += slot_record(r, &rp->v[i]);
	idmap_each(r->routes, collect_stale, &(struct stale_walk){r->gen, gone, &ndel});
	for (size_t i = 0; i < ndel; i++)
		recon_rentry_free(idmap_del(r->routes, gone[i]->id));
	r->stats.drift_repairs_routes += rp->repairs;
	/* The owned count: the entries in the kernel and the copies of associations. */
	r->stats.routes_owned = r->ncopies_applied;
	r->stats.routes_failed = 0;
	idmap_each(r->routes, count_entry, &r->stats);
	recon_status_changed(r);
	pthread_mutex_unlock(&r->lock);
	free(gone);
	metrics_drift_repair(MK_ROUTE, rp->repairs);
	if (rp->repairs)
		log_info("repaired %llu owned route(s) that were missing or changed in the kernel",
		         (unsigned long long)rp->repairs);
	return 0;
}

int recon_sync_full(struct recon *r, struct plan_assoc *as, int *copy_res, int64_t *rev_out,
                    char *err, size_t errlen)
{
	struct route_pass rp = {.r = r};
	int ret = -1;

	recon_assert_thread(r);
	if (routes_load(&rp, err, errlen) || routes_plan(&rp, as, copy_res, err, errlen) ||
	    recon_apply(r, RECON_KROUTE, rp.ops, rp.nops, &rp.res, err, errlen) ||
	    routes_outcome(&rp, as, copy_res, err, errlen))
		goto out;
	/* The plan is spent: at 100,000 routes its arrays are worth freeing first. */
	free(rp.ops);
	free(rp.desired);
	rp.ops = NULL;
	rp.desired = NULL;
	if (routes_record(&rp, err, errlen))
		goto out;
	*rev_out = rp.rev;
	ret = rp.failed ? 1 : 0;
out:
	route_pass_free(&rp);
	return ret;
}

/* ---- a document's routes, ahead of its commit ---- */

int recon_preapply_routes(struct recon *r, const struct route *routes,
                          const struct route_pack *pack, size_t n, char *err, size_t errlen)
{
	struct plan_assoc as = {0};
	struct kroute *desired = malloc((n + r->ncopies + 1) * sizeof(*desired));
	bool *ok = calloc(n + r->ncopies + 1, sizeof(*ok));
	struct kroute_op *ops = NULL;
	char why[REASON_MAX];
	size_t nu = 0, nops = 0;
	int *res = NULL, ret = -1;

	recon_assert_thread(r);
	if (!desired || !ok ||
	    recon_keep_copy((void **)&as.routes, &as.nroutes, r->copies, r->ncopies,
	                    sizeof(*r->copies))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* A route whose device is missing fails in the pass after the commit, with its reason. */
	for (size_t i = 0; i < n; i++) {
		struct route tmp;

		if (pack)
			route_pack_get_parsed(pack, i, &tmp);
		nu += plan_kroute_of(pack ? &tmp : &routes[i], &r->links, &desired[nu], why,
		                     sizeof(why)) == 0;
	}
	if (recon_diff(r, RECON_KROUTE, desired, plan_with_copies(desired, nu, &as), ok,
	               (void **)&ops, &nops, err, errlen) == 0 &&
	    recon_apply(r, RECON_KROUTE, ops, nops, &res, err, errlen) == 0)
		ret = 0;
out:
	plan_assoc_free(&as);
	free(desired);
	free(ok);
	free(ops);
	free(res);
	return ret;
}

/* ---- one route ---- */

/* Swap old's entry for ent's (NULL: the route is gone) and fix the counts. */
static void route_one_record(struct recon *r, const char *id, const struct rentry *old,
                             struct rentry **ent)
{
	pthread_mutex_lock(&r->lock);
	if (old) {
		r->stats.routes_owned -= old->in_kernel;
		r->stats.routes_failed -= old->state == OBJ_FAILED;
		recon_rentry_free(idmap_del(r->routes, id));
	}
	if (*ent && idmap_put(r->routes, (*ent)->id, *ent)) {
		recon_rentry_free(*ent);
		*ent = NULL;
		r->full_pending = true;
	}
	if (*ent) {
		r->stats.routes_owned += (*ent)->in_kernel;
		r->stats.routes_failed += (*ent)->state == OBJ_FAILED;
	}
	recon_status_changed(r);
	pthread_mutex_unlock(&r->lock);
}

/* What one route of a batch has: its entry before and after, and its add op. */
struct route_one {
	const char *id;
	struct rentry *old, *ent;
	int add; /* index of the op that puts ent in; -1: none */
};

/* Read the routes of b from one snapshot and make their new entries. 0, or 2 for a full pass. */
static int routes_read(struct recon *r, struct route_one *b, size_t n)
{
	struct settings set;
	struct vr_err e = {0};
	int64_t rev;
	int ret = 0;

	if (store_snapshot_begin(r->store, &set, &rev, &e)) {
		log_warnx("reading routes: %s", e.msg);
		return 2;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		struct route rt = {0};
		int rc = store_obj_get(r->store, STORE_ROUTE, b[i].id, &rt, &e);
		/* Another router's route is not this kernel's: as if there were none. */
		bool mine = rc == 0 && (!r->router || strcmp(rt.router, r->router) == 0);

		b[i].old = idmap_get(r->routes, b[i].id);
		if (rc && e.code != VR_ERR_NOT_FOUND) {
			log_warnx("reading route %s: %s", b[i].id, e.msg);
			ret = 2;
		} else if (b[i].old && b[i].old->in_kernel &&
		           b[i].old->k.metric == PLAN_CONNECTED_METRIC &&
		           recon_applied_has(r->copies, r->ncopies, sizeof(*r->copies),
		                             &b[i].old->k, same_key)) {
			/* It held the key of an association's copy, which must come back. */
			ret = 2;
		} else if (mine) {
			b[i].ent = recon_rentry_new(b[i].id);
			if (b[i].ent)
				rentry_from_route(r, b[i].ent, &rt);
			else
				ret = 2;
		}
		model_route_clear(&rt);
	}
	store_snapshot_end(r->store);
	return ret;
}

/*
 * The ops that take the kernel from each route's old entry to its new one,
 * every delete before any add, so that a key one route leaves is free for
 * another of the batch to take. Returns how many; ops has room for 2n.
 */
static size_t routes_plan_ops(struct route_one *b, size_t n, struct kroute_op *ops)
{
	size_t nops = 0;

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			const struct rentry *old = b[i].old, *ent = b[i].ent;
			bool same = old && old->in_kernel && ent && ent->resolved &&
			            plan_kroute_same_key(&old->k, &ent->k);

			if (pass == 0 && old && old->in_kernel && !same)
				ops[nops++] = (struct kroute_op){.kind = KOP_DELETE, .r = old->k};
			if (pass == 0)
				continue;
			b[i].add = -1;
			if (ent && ent->resolved) {
				b[i].add = (int)nops;
				ops[nops++] = (struct kroute_op){
				    .kind = same ? KOP_REPLACE : KOP_ADD, .r = ent->k};
			}
		}
	return nops;
}

int recon_sync_routes(struct recon *r, const char *const *ids, size_t n)
{
	struct route_one *b = calloc(n ? n : 1, sizeof(*b));
	struct kroute_op *ops = calloc(2 * n + 1, sizeof(*ops));
	int *res = calloc(2 * n + 1, sizeof(*res));
	size_t nops;
	int ret = 2;

	recon_assert_thread(r);
	if (!b || !ops || !res)
		goto out;
	for (size_t i = 0; i < n; i++)
		b[i].id = ids[i];
	if (routes_read(r, b, n))
		goto out;
	nops = routes_plan_ops(b, n, ops);
	if (nops && r->k.route_apply(r->k.ctx, ops, nops, res))
		goto out;
	ret = 0;
	for (size_t i = 0; i < n; i++) {
		int add = b[i].add;

		if (add >= 0) {
			char why[REASON_MAX];

			if (res[add] == 0)
				b[i].ent->in_kernel = true;
			else
				kernel_route_reason(&b[i].ent->k, res[add], why, sizeof(why));
			recon_rentry_set(b[i].ent, res[add] ? OBJ_FAILED : OBJ_ACTIVE,
			                 res[add] ? why : NULL);
		}
		route_one_record(r, b[i].id, b[i].old, &b[i].ent);
		b[i].old = NULL; /* freed by the record */
		/*
		 * EEXIST on an add: either a foreign route holds the key (the status says
		 * so) or our own does and our picture was stale; a full pass tells which.
		 */
		if (add >= 0 && res[add] == -EEXIST)
			ret = 2;
		else if (ret == 0 && b[i].ent && b[i].ent->state == OBJ_FAILED)
			ret = 1;
		b[i].ent = NULL; /* the map's now */
	}
out:
	for (size_t i = 0; b && i < n; i++)
		recon_rentry_free(b[i].ent);
	free(b);
	free(ops);
	free(res);
	return ret;
}
