/*
 * The reconciler's subnets and settings (see struct net_pass): router
 * addresses, the associations' policy rules, IP forwarding, and the status
 * of every subnet. Load -> plan -> apply -> record, around the routes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "preview.h"
#include "recon_int.h"
#include "store.h"

static bool same_kaddr(const void *a, const void *b)
{
	return plan_kaddr_same_key(a, b);
}

static bool same_krule(const void *a, const void *b)
{
	return plan_krule_same_key(a, b);
}

void recon_net_pass_free(struct net_pass *np)
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

/* Subnet i is not whole, for this reason (the first one given stays). */
static void net_why(struct net_pass *np, size_t i, const char *reason)
{
	if (!np->why[i])
		np->why[i] = strdup(reason);
	np->ready[i] = false;
}

/* ---- step one: addresses ---- */

/* The addresses of a pass: desired (da, amap: their subnets), the plan, the kernel's answers. */
struct addr_pass {
	struct kaddr *da;
	size_t na, nin;
	size_t *amap;
	bool *aok;
	struct kaddr_op *aops;
	size_t nops;
	int *res;
};

static void addr_pass_free(struct addr_pass *ap)
{
	free(ap->da);
	free(ap->amap);
	free(ap->aok);
	free(ap->aops);
	free(ap->res);
}

static int net_load(struct recon *r, struct net_pass *np, char *err, size_t errlen)
{
	struct vr_err e = {0};

	if (store_net_load_of(r->store, r->router, &np->subs, &np->n, &np->set, &np->rev, &e)) {
		snprintf(err, errlen, "reading subnets: %s", e.msg);
		return -1;
	}
	np->why = calloc(np->n + 1, sizeof(*np->why));
	np->ready = calloc(np->n + 1, sizeof(*np->ready));
	if (np->why && np->ready)
		return 0;
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* plan_kaddrs_of callback: the subnet's interface is missing. */
static void addr_unplaced(void *arg, size_t i, const char *why)
{
	struct net_pass *np = arg;
	char buf[REASON_MAX];

	snprintf(buf, sizeof(buf), "%s; the address is applied when it appears", why);
	net_why(np, i, buf);
}

/* The subnets' router addresses (the planner's translation) against the kernel's: ap->aops. */
static int addrs_plan(struct recon *r, struct net_pass *np, struct addr_pass *ap, char *err,
                      size_t errlen)
{
	ap->da = calloc(np->n + 1, sizeof(*ap->da));
	ap->amap = calloc(np->n + 1, sizeof(*ap->amap));
	ap->aok = calloc(np->n + 1, sizeof(*ap->aok));
	if (!ap->da || !ap->amap || !ap->aok)
		goto oom;
	ap->na = plan_kaddrs_of(np->subs, np->n, &r->links, ap->da, ap->amap, addr_unplaced, np);
	return recon_diff(r, RECON_KADDR, ap->da, ap->na, ap->aok, (void **)&ap->aops, &ap->nops,
	                  err, errlen);
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* The kernel's answers: failures, removals, drift; then the addresses in place. */
static int addrs_outcome(struct recon *r, struct net_pass *np, struct addr_pass *ap)
{
	char buf[REASON_MAX];

	for (size_t i = 0; i < ap->nops; i++) {
		const struct kaddr_op *op = &ap->aops[i];
		int res = ap->res[i];

		if (op->kind == KOP_DELETE) {
			if (res && res != -EADDRNOTAVAIL && res != -ENODEV) {
				log_warnx("could not remove an address vrouter no longer wants: %s",
				          strerror(-res));
			} else if (!res && r->starting) {
				preview_addr_words(&op->a, buf, sizeof(buf));
				recon_log_removed(r, "address", buf);
			}
			continue;
		}
		if (res) {
			kernel_addr_reason(&op->a, res, buf, sizeof(buf));
			net_why(np, ap->amap[op->tag], buf);
			continue;
		}
		ap->aok[op->tag] = true;
		np->rep_a += recon_applied_has(r->addrs_applied, r->naddrs_applied, sizeof(*ap->da),
		                               &op->a, same_kaddr);
	}
	/* The addresses in place: ready subnets, and the next pass's measure of drift. */
	for (size_t j = 0; j < ap->na; j++) {
		if (!ap->aok[j])
			continue;
		np->ready[ap->amap[j]] = true;
		ap->da[ap->nin++] = ap->da[j];
	}
	return recon_keep_copy((void **)&r->addrs_applied, &r->naddrs_applied, ap->da, ap->nin,
	                       sizeof(*ap->da));
}

/* The associations of the ready subnets, with the connected networks as they are now. */
static int assoc_plan(struct recon *r, struct net_pass *np, char *err, size_t errlen)
{
	struct klink *links = NULL;
	size_t nlinks = 0;
	bool want_links = false;
	int rc;

	for (size_t i = 0; i < np->n && !want_links; i++)
		want_links = np->ready[i] && !model_rtb_main_router(np->subs[i].table_id);
	if (want_links && r->k.links_list) {
		rc = r->k.links_list(r->k.ctx, &links, &nlinks);
		if (rc) {
			snprintf(err, errlen, "reading the kernel's links: %s", strerror(-rc));
			return -1;
		}
	}
	rc = plan_assoc_links(np->subs, np->n, np->ready, links, nlinks, NULL, 0, &np->as);
	kernel_links_free(links, nlinks);
	if (rc == 0)
		np->copy_res = calloc(np->as.nroutes + 1, sizeof(*np->copy_res));
	if (rc == 0 && np->copy_res)
		return 0;
	snprintf(err, errlen, "out of memory");
	return -1;
}

int recon_net_addrs(struct recon *r, struct net_pass *np, char *err, size_t errlen)
{
	struct addr_pass ap = {0};
	int ret = -1;

	recon_assert_thread(r);
	if (net_load(r, np, err, errlen) || addrs_plan(r, np, &ap, err, errlen) ||
	    recon_apply(r, RECON_KADDR, ap.aops, ap.nops, &ap.res, err, errlen))
		goto out;
	if (addrs_outcome(r, np, &ap)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (assoc_plan(r, np, err, errlen))
		goto out;
	ret = ap.na == ap.nin ? 0 : 1;
out:
	addr_pass_free(&ap);
	return ret;
}

/* ---- step three: policy rules, statuses, forwarding ---- */

/* The rules of a pass: desired (dr, rmap: their subnets), the plan, the kernel's answers. */
struct rule_pass {
	struct krule *dr;
	size_t nr, nin;
	size_t *rmap;
	bool *rok;
	struct krule_op *rops;
	size_t nops;
	int *res;
	uint64_t rep_r, rep_f, failed;
};

static void rule_pass_free(struct rule_pass *rp)
{
	free(rp->dr);
	free(rp->rmap);
	free(rp->rok);
	free(rp->rops);
	free(rp->res);
}

/* A copy that is not in the kernel: the subnets of its table and family are not whole. */
static void copies_missing(struct net_pass *np)
{
	const struct plan_assoc *as = &np->as;
	char buf[REASON_MAX];

	for (size_t c = 0; c < as->nroutes; c++) {
		char dst[CIDR_STR_MAX], why[REASON_MAX];

		if (!np->copy_res[c])
			continue;
		kernel_route_reason(&as->routes[c], np->copy_res[c], why, sizeof(why));
		cidr_format_prefix(&as->routes[c].dst, dst, sizeof(dst));
		snprintf(buf, sizeof(buf), "connected network %s in table %u: %s", dst,
		         as->routes[c].table, why);
		for (size_t i = 0; i < as->nrules; i++)
			if (plan_copy_for(&np->subs[as->rule_subnet[i]], &as->routes[c]))
				net_why(np, as->rule_subnet[i], buf);
	}
}

/* The rules of the subnets still whole against the kernel's: rp->rops. */
static int rules_plan(struct recon *r, struct net_pass *np, struct rule_pass *rp, char *err,
                      size_t errlen)
{
	const struct plan_assoc *as = &np->as;

	rp->dr = calloc(as->nrules + 1, sizeof(*rp->dr));
	rp->rmap = calloc(as->nrules + 1, sizeof(*rp->rmap));
	rp->rok = calloc(as->nrules + 1, sizeof(*rp->rok));
	if (!rp->dr || !rp->rmap || !rp->rok)
		goto oom;
	rp->nr = plan_assoc_rules(as, np->ready, rp->dr, rp->rmap);
	return recon_diff(r, RECON_KRULE, rp->dr, rp->nr, rp->rok, (void **)&rp->rops, &rp->nops,
	                  err, errlen);
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* The kernel's answers: failures, removals, drift; then the rules in place. */
static int rules_outcome(struct recon *r, struct net_pass *np, struct rule_pass *rp)
{
	char buf[REASON_MAX];

	for (size_t i = 0; i < rp->nops; i++) {
		const struct krule_op *op = &rp->rops[i];

		if (op->kind == KOP_DELETE) {
			if (!rp->res[i] && r->starting) {
				preview_rule_words(&op->r, buf, sizeof(buf));
				recon_log_removed(r, "policy rule", buf);
			}
			continue;
		}
		if (rp->res[i]) {
			kernel_rule_reason(&op->r, rp->res[i], buf, sizeof(buf));
			net_why(np, rp->rmap[op->tag], buf);
			continue;
		}
		rp->rok[op->tag] = true;
		rp->rep_r += recon_applied_has(r->rules_applied, r->nrules_applied, sizeof(*rp->dr),
		                               &op->r, same_krule);
	}
	for (size_t j = 0; j < rp->nr; j++)
		if (rp->rok[j])
			rp->dr[rp->nin++] = rp->dr[j];
	return recon_keep_copy((void **)&r->rules_applied, &r->nrules_applied, rp->dr, rp->nin,
	                       sizeof(*rp->dr));
}

/*
 * IP forwarding, when the settings manage it: enforced, and counted as drift
 * when the kernel moved away from values we had put in force. Its status
 * goes to next. 0 or -ENOMEM.
 */
static int net_forwarding(struct recon *r, const struct settings *set, struct rule_pass *rp,
                          struct idmap *next)
{
	bool v4 = false, v6 = false;
	char buf[REASON_MAX];
	int rc = r->k.forwarding_get(r->k.ctx, &v4, &v6);

	if (set->managed) {
		const char *fail = NULL;

		if (rc == 0 && (v4 != set->fwd_v4 || v6 != set->fwd_v6)) {
			/* Drift only if these very values were in force. */
			if (r->fwd_applied && r->fwd_applied_v4 == set->fwd_v4 &&
			    r->fwd_applied_v6 == set->fwd_v6)
				rp->rep_f++;
			rc = r->k.forwarding_set(r->k.ctx, set->fwd_v4, set->fwd_v6);
			if (rc == 0) {
				v4 = set->fwd_v4;
				v6 = set->fwd_v6;
			}
		}
		if (rc) {
			snprintf(buf, sizeof(buf), "setting IP forwarding: %s", strerror(-rc));
			fail = buf;
			rp->failed++;
		}
		r->fwd_applied = rc == 0;
		r->fwd_applied_v4 = set->fwd_v4;
		r->fwd_applied_v6 = set->fwd_v6;
		if (recon_ostatus_put(next, "settings", set->rev, fail ? OBJ_FAILED : OBJ_ACTIVE,
		                      fail))
			return -ENOMEM;
	} else {
		r->fwd_applied = false;
	}
	pthread_mutex_lock(&r->lock);
	r->stats.forwarding_managed = set->managed;
	r->stats.fwd_v4 = v4;
	r->stats.fwd_v6 = v6;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* The new statuses (next, taken) and counts, under the lock; then metrics and a log line. */
static void net_record(struct recon *r, const struct net_pass *np, const struct rule_pass *rp,
                       struct idmap **next)
{
	pthread_mutex_lock(&r->lock);
	recon_ostatus_map_free(r->net);
	r->net = *next;
	*next = NULL;
	r->stats.drift_repairs_addrs += np->rep_a;
	r->stats.drift_repairs_rules += rp->rep_r;
	r->stats.drift_repairs_forwarding += rp->rep_f;
	r->stats.addrs_owned = r->naddrs_applied;
	r->stats.rules_owned = r->nrules_applied;
	r->net_failed = rp->failed;
	r->stats.objects_failed = r->net_failed + r->sg_failed;
	recon_status_changed(r);
	pthread_mutex_unlock(&r->lock);
	metrics_owned(MK_ADDRESS, r->naddrs_applied);
	metrics_owned(MK_RULE, r->nrules_applied);
	metrics_drift_repair(MK_ADDRESS, np->rep_a);
	metrics_drift_repair(MK_RULE, rp->rep_r);
	metrics_drift_repair(MK_FORWARDING, rp->rep_f);
	if (np->rep_a + rp->rep_r + rp->rep_f)
		log_info(
		    "repaired %llu address(es), %llu policy rule(s), %llu forwarding setting(s)",
		    (unsigned long long)np->rep_a, (unsigned long long)rp->rep_r,
		    (unsigned long long)rp->rep_f);
}

int recon_net_rules(struct recon *r, struct net_pass *np, int64_t *rev_out, char *err,
                    size_t errlen)
{
	struct rule_pass rp = {0};
	struct idmap *next = NULL;
	int ret = -1;

	recon_assert_thread(r);
	copies_missing(np);
	next = idmap_new();
	if (!next)
		goto oom;
	if (rules_plan(r, np, &rp, err, errlen) ||
	    recon_apply(r, RECON_KRULE, rp.rops, rp.nops, &rp.res, err, errlen))
		goto out;
	if (rules_outcome(r, np, &rp))
		goto oom;
	for (size_t i = 0; i < np->n; i++) {
		rp.failed += np->why[i] != NULL;
		if (recon_ostatus_put(next, np->subs[i].id, np->subs[i].rev,
		                      np->why[i] ? OBJ_FAILED : OBJ_ACTIVE, np->why[i]))
			goto oom;
	}
	if (net_forwarding(r, &np->set, &rp, next))
		goto oom;
	net_record(r, np, &rp, &next);
	*rev_out = np->rev;
	ret = rp.failed ? 1 : 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	recon_ostatus_map_free(next);
	rule_pass_free(&rp);
	return ret;
}
