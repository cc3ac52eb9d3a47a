#include "recon.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "plan.h"
#include "preview.h"
#include "sgc.h"
#include "store.h"

/* After a notification, wait this long for more before resyncing: link flaps come in bursts. */
#define RECON_DEBOUNCE_MS 50
/* After a pass that could not run (store or socket failure), try again after this long. */
#define RECON_RETRY_MS 1000
/* More queued changes than this are cheaper as one full pass. */
#define RECON_QUEUE_MAX 4096

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
	char id[]; /* exactly as long as it is: 100,000 of these stay in memory */
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
	int wake_fd;

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
	struct store *store;
	struct kernel_ops k;
	int resync_ms;
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
	bool starting;          /* no full pass has run yet: log each removal */
};

/* What the first pass after a start removes is logged, one line per object. */
static void log_removed(const struct recon *r, const char *kind, const char *words)
{
	if (r->starting)
		log_info("start: removed %s %s: owned by vrouter, not in the desired state", kind,
		         words);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
	return now_us() / 1000;
}

static void rentry_free(void *v, void *arg)
{
	struct rentry *e = v;

	if (e)
		free(e->reason);
	free(e);
}

static void ostatus_free(void *v, void *arg)
{
	struct ostatus *o = v;

	if (o)
		free(o->reason);
	free(o);
}

static void idmap_free_with(struct idmap *m, void (*fn)(void *, void *))
{
	if (!m)
		return;
	idmap_each(m, fn, NULL);
	idmap_free(m);
}

/* Record a status in map m (NULL reason for active). 0 or -ENOMEM. */
static int ostatus_put(struct idmap *m, const char *id, int64_t rev, enum obj_state state,
		       const char *reason)
{
	struct ostatus *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	snprintf(o->id, sizeof(o->id), "%s", id);
	o->rev = rev;
	o->state = state;
	o->reason = reason && *reason ? strdup(reason) : NULL;
	ostatus_free(idmap_del(m, id), NULL);
	if (idmap_put(m, id, o)) {
		ostatus_free(o, NULL);
		return -ENOMEM;
	}
	return 0;
}

static void rentry_set(struct rentry *e, enum obj_state state, const char *reason)
{
	e->state = state;
	free(e->reason);
	e->reason = reason && *reason ? strdup(reason) : NULL;
}

static uint8_t rtn_type(enum route_type t)
{
	switch (t) {
	case ROUTE_BLACKHOLE: return RTN_BLACKHOLE;
	case ROUTE_UNREACHABLE: return RTN_UNREACHABLE;
	case ROUTE_PROHIBIT: return RTN_PROHIBIT;
	case ROUTE_UNICAST: break;
	}
	return RTN_UNICAST;
}

/* A zeroed entry for id. NULL when out of memory. */
static struct rentry *rentry_new(const char *id)
{
	size_t len = strlen(id) + 1;
	struct rentry *e = calloc(1, sizeof(*e) + len);

	if (e)
		memcpy(e->id, id, len);
	return e;
}

/* Fill e (all but its id) from the desired route: the kernel form, or failed when its device is missing. */
static void rentry_from_route(struct recon *r, struct rentry *e, const struct route *rt)
{
	e->rev = rt->rev;
	memset(&e->k, 0, sizeof(e->k));
	e->resolved = true;
	rentry_set(e, OBJ_PENDING, NULL);
	if (rt->dev[0]) {
		e->k.oif = r->k.link_index(r->k.ctx, rt->dev);
		if (!e->k.oif) {
			char why[REASON_MAX];

			snprintf(why, sizeof(why), "device %s does not exist", rt->dev);
			e->resolved = false;
			rentry_set(e, OBJ_FAILED, why);
		}
	}
	e->k.table = rt->table;
	e->k.dst = rt->dst;
	e->k.type = rtn_type(rt->type);
	e->k.via = rt->via;
	e->k.metric = rt->metric;
	if (rt->dst.addr.family == AF_INET6 && e->k.metric == 0)
		e->k.metric = 1024; /* what the kernel stores for IPv6 metric 0 */
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

/* Recount owned/failed from the map, and the copies of associations. Called under lock. */
static void recount(struct recon *r)
{
	r->stats.routes_owned = r->ncopies_applied;
	r->stats.routes_failed = 0;
	idmap_each(r->routes, count_entry, &r->stats);
}

/* True when v[0..n) (elements of size bytes) holds one that same() finds equal to x. */
static bool applied_has(const void *v, size_t n, size_t size, const void *x,
                        bool (*same)(const void *, const void *))
{
	for (size_t i = 0; i < n; i++)
		if (same((const char *)v + i * size, x))
			return true;
	return false;
}

static bool same_kroute(const void *a, const void *b)
{
	return plan_kroute_equal(a, b);
}

static bool same_key(const void *a, const void *b)
{
	return plan_kroute_same_key(a, b);
}

static bool same_kaddr(const void *a, const void *b)
{
	return plan_kaddr_same_key(a, b);
}

static bool same_krule(const void *a, const void *b)
{
	return plan_krule_same_key(a, b);
}

/* Replace *v (n elements) with a malloc'd copy of src[0..ns). 0 or -ENOMEM (then *v is kept). */
static int keep_copy(void **v, size_t *n, const void *src, size_t ns, size_t size)
{
	void *c = malloc(ns ? ns * size : 1);

	if (!c)
		return -ENOMEM;
	if (ns)
		memcpy(c, src, ns * size);
	free(*v);
	*v = c;
	*n = ns;
	return 0;
}

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

struct full_pass {
	struct recon *r;
	struct dslot *v;
	size_t n, cap;
};

/* store_routes_each callback: the route in its kernel form (no lock: only this thread writes). */
static int collect_route(void *arg, const struct route *rt)
{
	struct full_pass *fp = arg;
	struct rentry tmp = {0};
	struct dslot *d;

	if (fp->n == fp->cap) {
		size_t cap = fp->cap ? fp->cap * 2 : 1024;
		struct dslot *nv = realloc(fp->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		fp->v = nv;
		fp->cap = cap;
	}
	rentry_from_route(fp->r, &tmp, rt);
	d = &fp->v[fp->n++];
	snprintf(d->id, sizeof(d->id), "%s", rt->id);
	d->rev = tmp.rev;
	d->k = tmp.k;
	d->resolved = tmp.resolved;
	d->in_kernel = false;
	d->drifted = false;
	d->state = tmp.state;
	d->reason = tmp.reason; /* moved */
	return 0;
}

static void dslot_fail(struct dslot *d, const char *why)
{
	d->state = OBJ_FAILED;
	free(d->reason);
	d->reason = strdup(why);
}

/*
 * A full pass: every desired route from the store, and the copies of
 * connected networks that associations want (as->routes), against every
 * owned route in the kernel. The routes are streamed from the store into a
 * compact array, the kernel is changed without the lock held, and the status
 * map is then updated in place (not rebuilt beside the old one: at 100,000
 * routes two maps at once cost tens of megabytes). copy_res[i] gets 0 when
 * the copy as->routes[i] is in the kernel, else -errno (a copy whose key a
 * desired route holds is first dropped from as). Returns 0 when all applied,
 * 1 when some objects failed, -1 when the pass could not run (err says why);
 * *rev_out is the revision read.
 */
static int sync_full(struct recon *r, struct plan_assoc *as, int *copy_res, int64_t *rev_out,
                     char *err, size_t errlen)
{
	struct full_pass fp = {.r = r};
	size_t nd = 0, nu = 0, no = 0, nops = 0, ndel = 0, ncopies_in = 0;
	struct kroute *desired = NULL, *observed = NULL;
	size_t *map = NULL; /* desired index -> slot index */
	struct kroute_op *ops = NULL;
	struct rentry **gone = NULL;
	bool *ok = NULL;
	int *res = NULL;
	struct vr_err e = {0};
	uint64_t repairs = 0, failed = 0;
	int64_t rev = 0;
	int ret = -1, rc;

	rc = store_routes_each(r->store, collect_route, &fp, &rev, &e);
	if (rc) {
		if (rc == -ENOMEM)
			goto oom;
		snprintf(err, errlen, "reading the desired state: %s", e.msg);
		goto out;
	}
	/* The user's routes first (map: their slots), then the copies (index - nu). */
	desired = malloc((fp.n + as->nroutes + 1) * sizeof(*desired));
	map = malloc((fp.n ? fp.n : 1) * sizeof(*map));
	ok = calloc(fp.n + as->nroutes + 1, sizeof(*ok));
	if (!desired || !map || !ok)
		goto oom;
	for (size_t i = 0; i < fp.n; i++) {
		if (!fp.v[i].resolved)
			continue;
		map[nd] = i;
		desired[nd++] = fp.v[i].k;
	}
	nu = nd;
	if (keep_copy((void **)&r->copies, &r->ncopies, as->routes, as->nroutes,
	              sizeof(*as->routes)))
		goto oom;
	plan_assoc_shadow(as, desired, nu);
	for (size_t i = 0; i < as->nroutes; i++) {
		copy_res[i] = -EINPROGRESS; /* not applied (yet) */
		desired[nd++] = as->routes[i];
	}
	rc = r->k.route_dump(r->k.ctx, &observed, &no);
	if (rc) {
		snprintf(err, errlen, "reading the kernel's routes: %s", strerror(-rc));
		goto out;
	}
	if (plan_routes(desired, nd, observed, no, &ops, &nops, ok))
		goto oom;
	free(observed);
	observed = NULL;
	if (nops) {
		res = calloc(nops, sizeof(*res));
		if (!res)
			goto oom;
		rc = r->k.route_apply(r->k.ctx, ops, nops, res);
		if (rc) {
			snprintf(err, errlen, "applying routes: %s", strerror(-rc));
			goto out;
		}
	}
	for (size_t j = 0; j < nd; j++) {
		if (!ok[j])
			continue;
		if (j >= nu) {
			copy_res[j - nu] = 0;
			continue;
		}
		fp.v[map[j]].in_kernel = true;
		fp.v[map[j]].state = OBJ_ACTIVE;
	}
	for (size_t i = 0; i < nops; i++) {
		struct dslot *d;
		const struct rentry *prev;

		if (ops[i].kind == KOP_DELETE) {
			char words[PREVIEW_WHAT_MAX];

			if (res[i] && res[i] != -ESRCH && res[i] != -ENOENT) {
				log_warnx("could not remove a route vrouter no longer wants: %s",
				          strerror(-res[i]));
			} else if (!res[i] && r->starting) {
				preview_route_words(&ops[i].r, words, sizeof(words));
				log_removed(r, "route", words);
			}
			continue;
		}
		if (ops[i].tag >= nu) {
			/* A copy: drift when it was in the kernel just like this. */
			copy_res[ops[i].tag - nu] = res[i];
			repairs +=
			    res[i] == 0 && applied_has(r->copies_applied, r->ncopies_applied,
			                               sizeof(ops[i].r), &ops[i].r, same_kroute);
			continue;
		}
		d = &fp.v[map[ops[i].tag]];
		/*
		 * Applied before in this very kernel form and changed or gone
		 * since: drift. A route whose form changed (its table renumbered,
		 * a new gateway) is the user's change, whatever its revision. A
		 * route lost with its link stays drifted through the passes that
		 * cannot put it back, and counts once it is back.
		 */
		prev = idmap_get(r->routes, d->id);
		d->drifted = prev && plan_kroute_equal(&prev->k, &d->k) &&
		             (prev->in_kernel || prev->drifted);
		if (res[i] == 0) {
			d->in_kernel = true;
			d->state = OBJ_ACTIVE;
			repairs += d->drifted;
			d->drifted = false;
		} else {
			char why[REASON_MAX];

			kernel_route_reason(&ops[i].r, res[i], why, sizeof(why));
			dslot_fail(d, why);
		}
	}
	free(ops);
	ops = NULL;
	/* The copies now in the kernel: the next pass's measure of drift. */
	for (size_t i = 0; i < as->nroutes; i++)
		if (copy_res[i] == 0)
			desired[ncopies_in++] = as->routes[i];
	if (keep_copy((void **)&r->copies_applied, &r->ncopies_applied, desired, ncopies_in,
	              sizeof(*desired)))
		goto oom;
	free(desired);
	desired = NULL;

	/* Record: update entries in place, add new ones, then drop those no longer desired. */
	gone = malloc((idmap_count(r->routes) + 1) * sizeof(*gone));
	if (!gone)
		goto oom;
	pthread_mutex_lock(&r->lock);
	r->gen++;
	for (size_t i = 0; i < fp.n; i++) {
		struct dslot *d = &fp.v[i];
		struct rentry *ent = idmap_get(r->routes, d->id);

		if (!ent) {
			ent = rentry_new(d->id);
			/* The map borrows the entry's own id as its key. */
			if (!ent || idmap_put(r->routes, ent->id, ent)) {
				free(ent);
				r->full_pending = true; /* out of memory: try again soon */
				continue;
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
		failed += ent->state == OBJ_FAILED;
	}
	idmap_each(r->routes, collect_stale, &(struct stale_walk){r->gen, gone, &ndel});
	for (size_t i = 0; i < ndel; i++)
		rentry_free(idmap_del(r->routes, gone[i]->id), NULL);
	r->stats.drift_repairs_routes += repairs;
	recount(r);
	pthread_mutex_unlock(&r->lock);
	metrics_drift_repair(MK_ROUTE, repairs);
	if (repairs)
		log_info("repaired %llu owned route(s) that were missing or changed in the kernel",
		         (unsigned long long)repairs);
	*rev_out = rev;
	ret = failed ? 1 : 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	for (size_t i = 0; i < fp.n; i++)
		free(fp.v[i].reason);
	free(fp.v);
	free(gone);
	free(desired);
	free(observed);
	free(map);
	free(ops);
	free(ok);
	free(res);
	return ret;
}

/*
 * One route changed: apply just that route (O(1) in the size of the state).
 * Returns 0/1 like sync_full, or 2 when only a full pass can sort it out.
 */
static int sync_route(struct recon *r, const char *id)
{
	struct route rt = {0};
	struct vr_err e = {0};
	struct rentry *old, *ent = NULL;
	struct kroute_op ops[2];
	int res[2] = {0, 0}, rc, nops = 0, add = -1;
	bool gone;

	rc = store_obj_get(r->store, STORE_ROUTE, id, &rt, &e);
	if (rc && e.status != 404) {
		log_warnx("reading route %s: %s", id, e.msg);
		return 2;
	}
	gone = rc != 0;
	old = idmap_get(r->routes, id);
	/* It held the key of an association's copy, which must come back: a full pass. */
	if (old && old->in_kernel && old->k.metric == PLAN_CONNECTED_METRIC &&
	    applied_has(r->copies, r->ncopies, sizeof(*r->copies), &old->k, same_key)) {
		model_route_clear(&rt);
		return 2;
	}
	if (!gone) {
		ent = rentry_new(id);
		if (!ent) {
			model_route_clear(&rt);
			return 2;
		}
		rentry_from_route(r, ent, &rt);
	}
	model_route_clear(&rt);
	/* The old key goes unless the new route sits on the very same key. */
	if (old && old->in_kernel &&
	    (!ent || !ent->resolved || !plan_kroute_same_key(&old->k, &ent->k)))
		ops[nops++] = (struct kroute_op){.kind = KOP_DELETE, .r = old->k};
	if (ent && ent->resolved) {
		bool ours = old && old->in_kernel && plan_kroute_same_key(&old->k, &ent->k);

		add = nops;
		ops[nops++] = (struct kroute_op){.kind = ours ? KOP_REPLACE : KOP_ADD, .r = ent->k};
	}
	if (nops) {
		rc = r->k.route_apply(r->k.ctx, ops, (size_t)nops, res);
		if (rc) {
			rentry_free(ent, NULL);
			return 2;
		}
	}
	if (add >= 0) {
		if (res[add] == 0) {
			ent->in_kernel = true;
			rentry_set(ent, OBJ_ACTIVE, NULL);
		} else {
			char why[REASON_MAX];

			kernel_route_reason(&ent->k, res[add], why, sizeof(why));
			rentry_set(ent, OBJ_FAILED, why);
		}
	}
	pthread_mutex_lock(&r->lock);
	if (old) {
		r->stats.routes_owned -= old->in_kernel;
		r->stats.routes_failed -= old->state == OBJ_FAILED;
		rentry_free(idmap_del(r->routes, id), NULL);
		old = NULL;
	}
	if (ent && idmap_put(r->routes, ent->id, ent)) {
		rentry_free(ent, NULL);
		ent = NULL;
		r->full_pending = true;
	}
	if (ent) {
		r->stats.routes_owned += ent->in_kernel;
		r->stats.routes_failed += ent->state == OBJ_FAILED;
	}
	pthread_mutex_unlock(&r->lock);
	/*
	 * EEXIST on an add: either a foreign route holds the key (the status says
	 * so) or our own does and our picture was stale; a full pass tells which.
	 */
	if (add >= 0 && res[add] == -EEXIST)
		return 2;
	return ent && ent->state == OBJ_FAILED ? 1 : 0;
}

/*
 * Subnets and settings, in two steps around the routes of a full pass:
 * net_addrs puts the router addresses on their links and plans the
 * associations (whose copies of connected networks sync_full applies with
 * the routes), net_rules then installs the policy rules of the subnets that
 * are whole (address and copies in place), records every subnet's status and
 * enforces IP forwarding. The state is small (one entry per subnet), so every
 * pass takes all of it.
 */
struct net_pass {
	struct subnet *subs;
	size_t n;
	struct settings set;
	int64_t rev;
	char **why;  /* per subnet: failure reason, NULL when fine */
	bool *ready; /* per subnet: its address is in place */
	struct plan_assoc as;
	int *copy_res; /* per as.routes[i]: 0 in the kernel, else -errno (sync_full) */
	uint64_t rep_a;
};

static void net_pass_free(struct net_pass *np)
{
	for (size_t i = 0; np->why && i < np->n; i++)
		free(np->why[i]);
	free(np->why);
	free(np->ready);
	free(np->copy_res);
	plan_assoc_free(&np->as);
	model_subnets_free(np->subs, np->n);
	memset(np, 0, sizeof(*np));
}

static void net_why(struct net_pass *np, size_t i, const char *reason)
{
	if (!np->why[i])
		np->why[i] = strdup(reason);
	np->ready[i] = false;
}

/*
 * Step one: load subnets and settings, apply the router addresses, read the
 * links and plan the associations into np->as. Returns 0, 1 when some
 * address failed, -1 when the step could not run (np is then to be freed).
 */
static int net_addrs(struct recon *r, struct net_pass *np, char *err, size_t errlen)
{
	struct kaddr *da = NULL, *oa = NULL, *conn = NULL;
	size_t na = 0, noa = 0, nops = 0, nin = 0, nconn = 0, nlinks = 0;
	size_t *amap = NULL; /* desired index -> subnet index */
	struct kaddr_op *aops = NULL;
	struct klink *links = NULL;
	bool *aok = NULL, want_links = false;
	int *res = NULL;
	struct vr_err e = {0};
	int ret = -1, rc;
	char buf[REASON_MAX];

	if (store_net_load(r->store, &np->subs, &np->n, &np->set, &np->rev, &e)) {
		snprintf(err, errlen, "reading subnets: %s", e.msg);
		goto out;
	}
	da = calloc(np->n + 1, sizeof(*da));
	amap = calloc(np->n + 1, sizeof(*amap));
	aok = calloc(np->n + 1, sizeof(*aok));
	np->why = calloc(np->n + 1, sizeof(*np->why));
	np->ready = calloc(np->n + 1, sizeof(*np->ready));
	if (!da || !amap || !aok || !np->why || !np->ready)
		goto oom;
	for (size_t i = 0; i < np->n; i++) {
		int ifindex = r->k.link_index(r->k.ctx, np->subs[i].interface);

		if (!ifindex) {
			snprintf(
			    buf, sizeof(buf),
			    "interface %s does not exist; the address is applied when it appears",
			    np->subs[i].interface);
			net_why(np, i, buf);
			continue;
		}
		da[na].ifindex = ifindex;
		da[na].p.addr = np->subs[i].router_ip;
		da[na].p.len = np->subs[i].cidr.len;
		amap[na++] = i;
	}

	rc = r->k.addr_dump(r->k.ctx, &oa, &noa);
	if (rc) {
		snprintf(err, errlen, "reading the kernel's addresses: %s", strerror(-rc));
		goto out;
	}
	if (plan_addrs(da, na, oa, noa, &aops, &nops, aok))
		goto oom;
	if (nops) {
		res = calloc(nops, sizeof(*res));
		if (!res)
			goto oom;
		rc = r->k.addr_apply(r->k.ctx, aops, nops, res);
		if (rc) {
			snprintf(err, errlen, "applying addresses: %s", strerror(-rc));
			goto out;
		}
	}
	for (size_t i = 0; i < nops; i++) {
		if (aops[i].kind == KOP_DELETE) {
			if (res[i] && res[i] != -EADDRNOTAVAIL && res[i] != -ENODEV) {
				log_warnx("could not remove an address vrouter no longer wants: %s",
				          strerror(-res[i]));
			} else if (!res[i] && r->starting) {
				preview_addr_words(&aops[i].a, buf, sizeof(buf));
				log_removed(r, "address", buf);
			}
			continue;
		}
		if (res[i]) {
			kernel_addr_reason(&aops[i].a, res[i], buf, sizeof(buf));
			net_why(np, amap[aops[i].tag], buf);
			continue;
		}
		aok[aops[i].tag] = true;
		np->rep_a += applied_has(r->addrs_applied, r->naddrs_applied, sizeof(*da),
		                         &aops[i].a, same_kaddr);
	}
	/* The addresses in place: ready subnets, and the next pass's measure of drift. */
	for (size_t j = 0; j < na; j++) {
		if (!aok[j])
			continue;
		np->ready[amap[j]] = true;
		da[nin++] = da[j];
	}
	if (keep_copy((void **)&r->addrs_applied, &r->naddrs_applied, da, nin, sizeof(*da)))
		goto oom;

	/* The connected networks as they are now, with the addresses just added (if wanted). */
	for (size_t i = 0; i < np->n && !want_links; i++)
		want_links = np->ready[i] && strcmp(np->subs[i].table_id, RTB_MAIN_ID);
	if (want_links && r->k.links_list) {
		rc = r->k.links_list(r->k.ctx, &links, &nlinks);
		if (rc) {
			snprintf(err, errlen, "reading the kernel's links: %s", strerror(-rc));
			goto out;
		}
	}
	if (plan_connected(links, nlinks, NULL, 0, &conn, &nconn) ||
	    plan_assoc(np->subs, np->n, np->ready, conn, nconn, &np->as))
		goto oom;
	np->copy_res = calloc(np->as.nroutes + 1, sizeof(*np->copy_res));
	if (!np->copy_res)
		goto oom;
	ret = na == nin ? 0 : 1;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	kernel_links_free(links, nlinks);
	free(conn);
	free(da);
	free(oa);
	free(amap);
	free(aops);
	free(aok);
	free(res);
	return ret;
}

/*
 * Step three: the policy rules of the subnets that are whole, every subnet's
 * status, IP forwarding, the counts. Returns 0, 1 when some object failed,
 * -1 when the step could not run.
 */
static int net_rules(struct recon *r, struct net_pass *np, int64_t *rev_out, char *err,
                     size_t errlen)
{
	const struct plan_assoc *as = &np->as;
	struct krule *dr = NULL, *orl = NULL;
	size_t nr = 0, nor = 0, nops = 0, nin = 0;
	size_t *rmap = NULL; /* desired index -> subnet index */
	struct krule_op *rops = NULL;
	bool *rok = NULL;
	int *res = NULL;
	struct idmap *next = NULL;
	uint64_t rep_r = 0, rep_f = 0, failed = 0;
	int ret = -1, rc;
	char buf[REASON_MAX];

	/* A copy that is not in the kernel: the subnets of its table and family are not whole. */
	for (size_t c = 0; c < as->nroutes; c++) {
		char dst[CIDR_STR_MAX], why[REASON_MAX];

		if (!np->copy_res[c])
			continue;
		kernel_route_reason(&as->routes[c], np->copy_res[c], why, sizeof(why));
		cidr_format_prefix(&as->routes[c].dst, dst, sizeof(dst));
		snprintf(buf, sizeof(buf), "connected network %s in table %u: %s", dst,
		         as->routes[c].table, why);
		for (size_t i = 0; i < as->nrules; i++) {
			const struct subnet *sn = &np->subs[as->rule_subnet[i]];

			if (sn->table == as->routes[c].table &&
			    sn->cidr.addr.family == as->routes[c].dst.addr.family)
				net_why(np, as->rule_subnet[i], buf);
		}
	}
	dr = calloc(as->nrules + 1, sizeof(*dr));
	rmap = calloc(as->nrules + 1, sizeof(*rmap));
	rok = calloc(as->nrules + 1, sizeof(*rok));
	next = idmap_new();
	if (!dr || !rmap || !rok || !next)
		goto oom;
	for (size_t i = 0; i < as->nrules; i++) {
		if (!np->ready[as->rule_subnet[i]])
			continue;
		rmap[nr] = as->rule_subnet[i];
		dr[nr++] = as->rules[i];
	}
	rc = r->k.rule_dump(r->k.ctx, &orl, &nor);
	if (rc) {
		snprintf(err, errlen, "reading the kernel's policy rules: %s", strerror(-rc));
		goto out;
	}
	if (plan_rules(dr, nr, orl, nor, &rops, &nops, rok))
		goto oom;
	if (nops) {
		res = calloc(nops, sizeof(*res));
		if (!res)
			goto oom;
		rc = r->k.rule_apply(r->k.ctx, rops, nops, res);
		if (rc) {
			snprintf(err, errlen, "applying policy rules: %s", strerror(-rc));
			goto out;
		}
	}
	for (size_t i = 0; i < nops; i++) {
		if (rops[i].kind == KOP_DELETE) {
			if (!res[i] && r->starting) {
				preview_rule_words(&rops[i].r, buf, sizeof(buf));
				log_removed(r, "policy rule", buf);
			}
			continue;
		}
		if (res[i]) {
			kernel_rule_reason(&rops[i].r, res[i], buf, sizeof(buf));
			net_why(np, rmap[rops[i].tag], buf);
			continue;
		}
		rok[rops[i].tag] = true;
		rep_r += applied_has(r->rules_applied, r->nrules_applied, sizeof(*dr), &rops[i].r,
		                     same_krule);
	}
	for (size_t j = 0; j < nr; j++)
		if (rok[j])
			dr[nin++] = dr[j];
	if (keep_copy((void **)&r->rules_applied, &r->nrules_applied, dr, nin, sizeof(*dr)))
		goto oom;

	for (size_t i = 0; i < np->n; i++) {
		failed += np->why[i] != NULL;
		if (ostatus_put(next, np->subs[i].id, np->subs[i].rev,
		                np->why[i] ? OBJ_FAILED : OBJ_ACTIVE, np->why[i]))
			goto oom;
	}

	{
		const struct settings *set = &np->set;
		bool v4 = false, v6 = false;

		rc = r->k.forwarding_get(r->k.ctx, &v4, &v6);
		if (set->managed) {
			const char *fail = NULL;

			if (rc == 0 && (v4 != set->fwd_v4 || v6 != set->fwd_v6)) {
				/* Drift only if these very values were in force. */
				if (r->fwd_applied && r->fwd_applied_v4 == set->fwd_v4 &&
				    r->fwd_applied_v6 == set->fwd_v6)
					rep_f++;
				rc = r->k.forwarding_set(r->k.ctx, set->fwd_v4, set->fwd_v6);
				if (rc == 0) {
					v4 = set->fwd_v4;
					v6 = set->fwd_v6;
				}
			}
			if (rc) {
				snprintf(buf, sizeof(buf), "setting IP forwarding: %s", strerror(-rc));
				fail = buf;
				failed++;
			}
			r->fwd_applied = rc == 0;
			r->fwd_applied_v4 = set->fwd_v4;
			r->fwd_applied_v6 = set->fwd_v6;
			if (ostatus_put(next, "settings", set->rev, fail ? OBJ_FAILED : OBJ_ACTIVE,
			                fail))
				goto oom;
		} else {
			r->fwd_applied = false;
		}
		pthread_mutex_lock(&r->lock);
		r->stats.forwarding_managed = set->managed;
		r->stats.fwd_v4 = v4;
		r->stats.fwd_v6 = v6;
		pthread_mutex_unlock(&r->lock);
	}

	pthread_mutex_lock(&r->lock);
	idmap_free_with(r->net, ostatus_free);
	r->net = next;
	next = NULL;
	r->stats.drift_repairs_addrs += np->rep_a;
	r->stats.drift_repairs_rules += rep_r;
	r->stats.drift_repairs_forwarding += rep_f;
	r->stats.addrs_owned = r->naddrs_applied;
	r->stats.rules_owned = r->nrules_applied;
	r->net_failed = failed;
	r->stats.objects_failed = r->net_failed + r->sg_failed;
	pthread_mutex_unlock(&r->lock);
	metrics_owned(MK_ADDRESS, r->naddrs_applied);
	metrics_owned(MK_RULE, r->nrules_applied);
	metrics_drift_repair(MK_ADDRESS, np->rep_a);
	metrics_drift_repair(MK_RULE, rep_r);
	metrics_drift_repair(MK_FORWARDING, rep_f);
	if (np->rep_a + rep_r + rep_f)
		log_info(
		    "repaired %llu address(es), %llu policy rule(s), %llu forwarding setting(s)",
		    (unsigned long long)np->rep_a, (unsigned long long)rep_r,
		    (unsigned long long)rep_f);
	*rev_out = np->rev;
	ret = failed ? 1 : 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	idmap_free_with(next, ostatus_free);
	free(dr);
	free(orl);
	free(rmap);
	free(rops);
	free(rok);
	free(res);
	return ret;
}

static void count_failed(void *v, void *arg)
{
	*(uint64_t *)arg += ((const struct ostatus *)v)->state == OBJ_FAILED;
}

/* Mark every group and rule of the loaded state with one status, in a fresh map. */
static struct idmap *sg_statuses(const struct security_group *g, size_t ng,
				 const struct sg_rule *rl, size_t nr, const char *bad_group,
				 const char *why, bool all_failed)
{
	struct idmap *m = idmap_new();

	if (!m)
		return NULL;
	for (size_t i = 0; i < ng; i++) {
		bool bad = all_failed || (bad_group && !strcmp(bad_group, g[i].id));

		if (ostatus_put(m, g[i].id, g[i].rev, bad ? OBJ_FAILED : OBJ_ACTIVE,
				bad ? why : NULL))
			goto oom;
	}
	for (size_t i = 0; i < nr; i++) {
		bool bad = all_failed || (bad_group && !strcmp(bad_group, rl[i].group_id));

		if (ostatus_put(m, rl[i].id, rl[i].rev, bad ? OBJ_FAILED : OBJ_ACTIVE,
				bad ? why : NULL))
			goto oom;
	}
	return m;
oom:
	idmap_free_with(m, ostatus_free);
	return NULL;
}

/*
 * Send the batch that turns the kernel into c: the smallest update from what
 * was applied, or the full atomic replacement when the applied state is
 * unknown or the update was refused. Returns 0 or -errno with why, and origin
 * (the group the refused message was for, "" when shared).
 */
static int sg_send(struct recon *r, const struct sgc *c, char *why, size_t len, char *origin,
		   size_t olen)
{
	struct sgc_batch *b = NULL;
	size_t failed = 0;
	int rc;

	origin[0] = '\0';
	rc = r->sg_applied ? sgc_batch_update(r->sg_applied, c, &b) : sgc_batch_full(c, &b);
	if (rc) {
		snprintf(why, len, "building the nftables batch: %s", strerror(-rc));
		return rc;
	}
	rc = r->k.nft_send(r->k.nft, b, &failed, why, len);
	if (rc && !sgc_batch_is_full(b)) {
		/* The kernel was not what we thought: replace it whole, atomically. */
		log_warnx("incremental nftables update refused (%s); replacing the table", why);
		sgc_batch_free(b);
		b = NULL;
		rc = sgc_batch_full(c, &b);
		if (rc) {
			snprintf(why, len, "building the nftables batch: %s", strerror(-rc));
			return rc;
		}
		rc = r->k.nft_send(r->k.nft, b, &failed, why, len);
	}
	if (rc && failed)
		snprintf(origin, olen, "%s", sgc_batch_msg_origin(b, failed));
	sgc_batch_free(b);
	return rc;
}

/* Delete table inet vrouter if it exists; empty is the compiled empty state. */
static int sg_remove_table(struct recon *r, const struct sgc *empty, char *why, size_t len)
{
	/* Only the first pass says so: nft_check reads the table back, which costs. */
	bool present = r->starting && r->k.nft_check(r->k.nft, empty, why, len) == 1;
	int rc = r->k.nft_delete(r->k.nft, why, len);

	if (rc == 0 && present)
		log_removed(r, "nftables", "table inet vrouter (no security group is desired)");
	return rc;
}

/*
 * Security groups: compile the whole desired state (pure and fast) and send
 * the difference to nftables. check_kernel: read the table back first and
 * rebuild it if someone changed it (drift). Returns 0, 1 (some object
 * failed), -1 (could not run).
 */
static int sync_sg(struct recon *r, bool check_kernel, int64_t *rev_out, char *err, size_t errlen)
{
	struct security_group *g = NULL;
	struct sg_rule *rl = NULL;
	size_t ng = 0, nr = 0;
	struct sgc *c = NULL;
	struct idmap *st = NULL;
	struct vr_err e = {0};
	char why[REASON_MAX] = "", origin[ID_MAX] = "";
	int64_t rev = 0;
	bool repaired = false;
	int ret = -1, rc;

	if (store_sg_load(r->store, &g, &ng, &rl, &nr, &rev, &e)) {
		snprintf(err, errlen, "reading security groups: %s", e.msg);
		goto out;
	}
	if (!r->k.nft_send) {
		/* No nftables here (unit tests with a fake kernel): objects stay pending. */
		*rev_out = rev;
		ret = 0;
		goto out;
	}
	for (;;) {
		struct sgc_input in = {.groups = g,
				       .ngroups = ng,
				       .rules = rl,
				       .nrules = nr,
				       .api = r->api,
				       .table_flags = r->nft_flags};

		rc = sgc_compile(&in, &c, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "compiling security groups: %s", why);
			goto out;
		}
		if (check_kernel && r->sg_applied) {
			rc = r->k.nft_check(r->k.nft, r->sg_applied, why, sizeof(why));
			if (rc != 0) {
				if (rc == 1) {
					log_info("table inet vrouter was changed by someone else (%s); "
						 "rebuilding it",
						 why);
					repaired = true;
				}
				sgc_free(r->sg_applied);
				r->sg_applied = NULL;
			}
			check_kernel = false;
		}
		if (r->sg_applied && sgc_equal(r->sg_applied, c))
			rc = 0;
		else if (sgc_empty(c) && !r->sg_applied)
			/* Nothing to enforce: the table must not exist (a previous run may have
			 * left it). When it is absent this changes nothing. */
			rc = sg_remove_table(r, c, why, sizeof(why));
		else
			rc = sg_send(r, c, why, sizeof(why), origin, sizeof(origin));
		if (rc == -EOPNOTSUPP && r->nft_flags) {
			/* A kernel without NFT_TABLE_F_PERSIST: an unowned table, kept by repair. */
			log_warnx("kernel refused nftables table flags (%s); using an unowned table",
				  why);
			r->nft_flags = 0;
			sgc_free(c);
			c = NULL;
			continue;
		}
		break;
	}
	if (rc == 0) {
		sgc_free(r->sg_applied);
		r->sg_applied = c;
		c = NULL;
		st = sg_statuses(g, ng, rl, nr, NULL, NULL, false);
	} else {
		/* nftables transactions are all-or-nothing: the old guard is still in place. */
		char reason[REASON_MAX];

		snprintf(reason, sizeof(reason), "nftables refused the change: %s", why);
		st = sg_statuses(g, ng, rl, nr, origin[0] ? origin : NULL, reason, !origin[0]);
		log_warnx("security groups not applied: %s", why);
	}
	if (!st) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	{
		size_t sets = 0, chains = 0, counters = 0, elems = 0;
		bool none = sgc_empty(r->sg_applied);
		uint64_t failed = 0;

		idmap_each(st, count_failed, &failed);

		if (!none)
			sgc_counts(r->sg_applied, &sets, &chains, &counters, &elems);
		pthread_mutex_lock(&r->lock);
		idmap_free_with(r->sg, ostatus_free);
		r->sg = st;
		st = NULL;
		r->stats.nft_objects = none ? 0 : sets + chains + counters + elems;
		r->stats.drift_repairs_nft += repaired && rc == 0;
		r->sg_failed = failed;
		r->stats.objects_failed = r->net_failed + r->sg_failed;
		pthread_mutex_unlock(&r->lock);
		metrics_owned(MK_NFTABLES, none ? 0 : sets + chains + counters + elems);
		if (repaired && rc == 0)
			metrics_drift_repair(MK_NFTABLES, 1);
	}
	*rev_out = rev;
	ret = rc == 0 ? 0 : 1;
out:
	sgc_free(c);
	idmap_free_with(st, ostatus_free);
	model_sgs_free(g, ng);
	model_sg_rules_free(rl, nr);
	return ret;
}

/* Record a pass's outcome. rc as sync_full; rev the revision it reached (0 = unchanged). */
static void record(struct recon *r, int rc, int64_t rev, double ms, const char *err)
{
	pthread_mutex_lock(&r->lock);
	r->stats.applies++;
	r->stats.last_apply_ms = ms;
	model_now(r->stats.last_apply_at);
	r->stats.last_apply_ok = rc == 0;
	if (rc < 0) {
		r->stats.apply_failures++;
		snprintf(r->stats.last_error, sizeof(r->stats.last_error), "%s", err);
	} else if (rc > 0) {
		r->stats.apply_failures++;
		snprintf(r->stats.last_error, sizeof(r->stats.last_error), "%llu route(s) failed",
		         (unsigned long long)r->stats.routes_failed);
	} else {
		r->stats.last_error[0] = '\0';
	}
	if (rc >= 0 && rev > r->stats.applied_rev)
		r->stats.applied_rev = rev;
	metrics_owned(MK_ROUTE, r->stats.routes_owned);
	pthread_cond_broadcast(&r->applied);
	pthread_mutex_unlock(&r->lock);
	metrics_apply(ms / 1000.0, rc != 0);
	if (rc < 0)
		log_warnx("apply failed: %s", err);
	else
		log_debug("applied revision %lld in %.2f ms", (long long)rev, ms);
}

/* Combine one part's outcome into the pass's: the worst wins, with its words. */
static void combine(int *rc, int64_t *rev, char *err, size_t len, int prc, int64_t prev,
		    const char *perr)
{
	if (prc < 0 || (*rc >= 0 && prc > *rc)) {
		*rc = prc;
		snprintf(err, len, "%s", perr);
	}
	if (prev < *rev)
		*rev = prev;
}

/*
 * Everything: router addresses first (a route's gateway may need a subnet's
 * address), then routes with the associations' copies of connected
 * networks, then the policy rules that send a subnet's traffic to its table
 * (once the table holds the copies), then security groups. When the subnet
 * step cannot run, the routes keep the copies of the last pass and the rules
 * are left as they are; when the route step cannot run, so are the rules.
 * The revision reached is the lowest of the reads, so a write that landed
 * between them is applied again later. check_nft: also read the nftables
 * table back.
 */
static int run_full(struct recon *r, bool check_nft)
{
	char err[REASON_MAX] = "", perr[REASON_MAX] = "";
	int64_t t0 = now_us(), rev = INT64_MAX, prev = 0;
	struct net_pass np = {0};
	int rc = 0, prc, nrc;

	nrc = net_addrs(r, &np, perr, sizeof(perr));
	combine(&rc, &rev, err, sizeof(err), nrc, nrc < 0 ? 0 : INT64_MAX, perr);
	if (nrc < 0) {
		net_pass_free(&np);
		np.copy_res = calloc(r->ncopies + 1, sizeof(*np.copy_res));
		if (!np.copy_res || keep_copy((void **)&np.as.routes, &np.as.nroutes, r->copies,
		                              r->ncopies, sizeof(*r->copies))) {
			net_pass_free(&np);
			record(r, -1, 0, (double)(now_us() - t0) / 1000.0, "out of memory");
			return -1;
		}
	}
	prc = sync_full(r, &np.as, np.copy_res, &prev, perr, sizeof(perr));
	combine(&rc, &rev, err, sizeof(err), prc, prev, perr);
	if (nrc >= 0 && prc >= 0) {
		prc = net_rules(r, &np, &prev, perr, sizeof(perr));
		combine(&rc, &rev, err, sizeof(err), prc, prev, perr);
	}
	net_pass_free(&np);
	prc = sync_sg(r, check_nft, &prev, perr, sizeof(perr));
	combine(&rc, &rev, err, sizeof(err), prc, prev, perr);
	record(r, rc, rc < 0 ? 0 : rev, (double)(now_us() - t0) / 1000.0, err);
	if (rc >= 0)
		r->starting = false;
	return rc;
}

/*
 * Apply queued changes one by one; any that needs more than its own object
 * turns the rest into one full pass. Returns true when a full pass is needed.
 */
static bool run_changes(struct recon *r, struct change *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = now_us();
		int rc;

		switch (q[i].kind) {
		case RECON_ROUTE: rc = sync_route(r, q[i].id); break;
		case RECON_SG:
		case RECON_SG_RULE: {
			char err[REASON_MAX] = "";
			int64_t rev = 0;

			/* Small enough to recompile whole; the kernel gets only the difference. */
			rc = sync_sg(r, false, &rev, err, sizeof(err));
			if (rc < 0)
				return true;
			break;
		}
		default:
			rc = 2; /* table renumbering and the like touch many routes */
			break;
		}
		if (rc == 2)
			return true;
		record(r, rc, q[i].rev, (double)(now_us() - t0) / 1000.0, "");
	}
	return false;
}

static void *recon_main(void *arg)
{
	struct recon *r = arg;
	int64_t next_resync = 0, debounce_at = -1;
	int efd = r->k.events_fd(r->k.ctx);
	int nfd = r->k.nft_events_fd ? r->k.nft_events_fd(r->k.nft) : -1;
	bool check_nft = true; /* read the table back on the first pass */

	for (;;) {
		struct pollfd pfd[3] = {{.fd = r->wake_fd, .events = POLLIN},
		                        {.fd = efd, .events = POLLIN},
		                        {.fd = nfd, .events = POLLIN}};
		int64_t now = now_ms(), deadline = next_resync;
		struct change *q = NULL;
		size_t nq = 0;
		bool full;
		int timeout;

		if (debounce_at >= 0 && debounce_at < deadline)
			deadline = debounce_at;
		timeout = deadline > now ? (int)(deadline - now) : 0;
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
			log_warn("reconciler poll");
			usleep(100 * 1000);
		}
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("reconciler wake read");
		}
		if (efd >= 0 && (pfd[1].revents & POLLIN) && r->k.events_drain(r->k.ctx) &&
		    debounce_at < 0)
			debounce_at = now_ms() + RECON_DEBOUNCE_MS;
		if (nfd >= 0 && (pfd[2].revents & POLLIN) && r->k.nft_events_drain(r->k.nft)) {
			check_nft = true;
			if (debounce_at < 0)
				debounce_at = now_ms() + RECON_DEBOUNCE_MS;
		}

		pthread_mutex_lock(&r->lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		full = r->full_pending;
		r->full_pending = false;
		q = r->queue;
		nq = r->nqueue;
		r->queue = NULL;
		r->nqueue = r->capqueue = 0;
		pthread_mutex_unlock(&r->lock);

		now = now_ms();
		if (now >= next_resync || (debounce_at >= 0 && now >= debounce_at))
			full = true;
		if (!full && nq)
			full = run_changes(r, q, nq);
		free(q);
		if (full) {
			debounce_at = -1;
			/*
			 * A pass that could not run is retried soon; failed objects wait
			 * for a link or address change, or the next periodic resync.
			 */
			bool periodic = now >= next_resync;
			int rc = run_full(r, check_nft || periodic);

			next_resync = now_ms() + (rc < 0 ? RECON_RETRY_MS : r->resync_ms);
			check_nft = false;
		}
	}
	return NULL;
}

int recon_start(const char *db_path, const struct kernel_ops *k, int resync_ms,
		const struct sgc_listen *api, struct recon **out, struct vr_err *e)
{
	pthread_condattr_t ca;
	struct recon *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(e, 500, NULL, "out of memory"), -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->applied, &ca);
	pthread_condattr_destroy(&ca);
	r->k = *k;
	r->resync_ms = resync_ms > 0 ? resync_ms : 30000;
	r->routes = idmap_new_ref();
	r->net = idmap_new();
	r->sg = idmap_new();
	r->nft_flags = SGC_TABLE_FLAGS;
	if (api)
		r->api = *api;
	r->starting = true;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!r->routes || !r->net || !r->sg || r->wake_fd < 0) {
		rc = -ENOMEM;
		err_set(e, 500, NULL, "reconciler set-up: %s", strerror(errno));
		goto fail;
	}
	rc = store_open(db_path, &r->store, e);
	if (rc)
		goto fail;
	r->stats.desired_rev = store_revision(r->store);
	rc = pthread_create(&r->thread, NULL, recon_main, r);
	if (rc) {
		err_set(e, 500, NULL, "starting the reconciler: %s", strerror(rc));
		rc = -rc;
		goto fail;
	}
	r->started = true;
	*out = r;
	return 0;
fail:
	recon_stop(r);
	return rc ? rc : -EIO;
}

void recon_stop(struct recon *r)
{
	uint64_t one = 1;

	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_mutex_unlock(&r->lock);
		if (write(r->wake_fd, &one, sizeof(one)) < 0)
			log_warn("reconciler wake");
		pthread_join(r->thread, NULL);
	}
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	store_close(r->store);
	idmap_free_with(r->routes, rentry_free);
	idmap_free_with(r->net, ostatus_free);
	idmap_free_with(r->sg, ostatus_free);
	sgc_free(r->sg_applied);
	free(r->addrs_applied);
	free(r->rules_applied);
	free(r->copies_applied);
	free(r->copies);
	free(r->queue);
	pthread_cond_destroy(&r->applied);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void recon_kick(struct recon *r, int64_t rev, enum recon_obj kind, const char *id)
{
	uint64_t one = 1;

	pthread_mutex_lock(&r->lock);
	if (rev > r->stats.desired_rev)
		r->stats.desired_rev = rev;
	if (kind == RECON_ALL || !id || r->nqueue >= RECON_QUEUE_MAX) {
		r->full_pending = true;
	} else {
		if (r->nqueue == r->capqueue) {
			size_t cap = r->capqueue ? r->capqueue * 2 : 16;
			struct change *nq = realloc(r->queue, cap * sizeof(*nq));

			if (!nq) {
				r->full_pending = true;
				goto wake;
			}
			r->queue = nq;
			r->capqueue = cap;
		}
		r->queue[r->nqueue].rev = rev;
		r->queue[r->nqueue].kind = kind;
		snprintf(r->queue[r->nqueue].id, ID_MAX, "%s", id);
		r->nqueue++;
	}
wake:
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake_fd, &one, sizeof(one)) < 0)
		log_warn("reconciler wake");
}

int recon_wait(struct recon *r, int64_t rev, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	while (r->stats.applied_rev < rev && rc == 0)
		rc = pthread_cond_timedwait(&r->applied, &r->lock, &until);
	rc = r->stats.applied_rev >= rev ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void recon_status(struct recon *r, const char *id, struct obj_status *out)
{
	const struct rentry *s;

	memset(out, 0, sizeof(*out));
	out->state = OBJ_PENDING;
	pthread_mutex_lock(&r->lock);
	s = idmap_get(r->routes, id);
	if (s) {
		out->state = s->state;
		if (s->reason)
			snprintf(out->reason, sizeof(out->reason), "%s", s->reason);
	} else {
		const struct ostatus *o = idmap_get(r->net, id);

		if (!o)
			o = idmap_get(r->sg, id);
		if (o) {
			out->state = o->state;
			if (o->reason)
				snprintf(out->reason, sizeof(out->reason), "%s", o->reason);
		}
	}
	pthread_mutex_unlock(&r->lock);
}

void recon_stats(struct recon *r, struct recon_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}

struct failure_walk {
	struct recon_failure *out;
	size_t max, n;
	bool route; /* the map holds struct rentry, else struct ostatus */
};

static void collect_failure(void *v, void *arg)
{
	struct failure_walk *w = arg;
	const char *id = NULL, *reason = NULL;

	if (w->n >= w->max)
		return;
	if (w->route) {
		const struct rentry *e = v;

		if (e->state == OBJ_FAILED) {
			id = e->id;
			reason = e->reason;
		}
	} else {
		const struct ostatus *o = v;

		if (o->state == OBJ_FAILED) {
			id = o->id;
			reason = o->reason;
		}
	}
	if (!id)
		return;
	snprintf(w->out[w->n].id, ID_MAX, "%s", id);
	snprintf(w->out[w->n].reason, REASON_MAX, "%s", reason ? reason : "");
	w->n++;
}

size_t recon_failures(struct recon *r, struct recon_failure *out, size_t max)
{
	struct failure_walk w = {.out = out, .max = max, .route = true};

	pthread_mutex_lock(&r->lock);
	idmap_each(r->routes, collect_failure, &w);
	w.route = false;
	idmap_each(r->net, collect_failure, &w);
	idmap_each(r->sg, collect_failure, &w);
	pthread_mutex_unlock(&r->lock);
	return w.n;
}
