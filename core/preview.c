#include "preview.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "plan.h"

/* Count one op in l and, while there is room, describe it. */
static void note(struct preview_list *l, enum preview_op op, const char *id, const char *what)
{
	struct preview_item *it;

	switch (op) {
	case PREVIEW_ADD: l->add++; break;
	case PREVIEW_CHANGE: l->change++; break;
	case PREVIEW_REMOVE: l->remove++; break;
	case PREVIEW_FAIL: l->fail++; break;
	}
	if (l->nitems >= PREVIEW_ITEMS_MAX)
		return;
	it = &l->items[l->nitems++];
	it->op = op;
	snprintf(it->id, sizeof(it->id), "%s", id ? id : "");
	snprintf(it->what, sizeof(it->what), "%s", what);
}

static enum preview_op op_of(enum kop_kind k)
{
	switch (k) {
	case KOP_ADD: return PREVIEW_ADD;
	case KOP_REPLACE: return PREVIEW_CHANGE;
	case KOP_DELETE: break;
	}
	return PREVIEW_REMOVE;
}

static void dev_name(int ifindex, char *buf, size_t len)
{
	char name[IF_NAMESIZE];

	if (ifindex < 0)
		snprintf(buf, len, "(multipath)");
	else if (if_indextoname((unsigned)ifindex, name))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "#%d", ifindex);
}

static const char *rtn_name(uint8_t type)
{
	switch (type) {
	case RTN_BLACKHOLE: return "blackhole ";
	case RTN_UNREACHABLE: return "unreachable ";
	case RTN_PROHIBIT: return "prohibit ";
	}
	return "";
}

void preview_route_words(const struct kroute *r, char *buf, size_t len)
{
	char dst[CIDR_STR_MAX], via[CIDR_STR_MAX + 8] = "", dev[IF_NAMESIZE + 16] = "";

	cidr_format_prefix(&r->dst, dst, sizeof(dst));
	if (r->type == RTN_UNICAST && r->via.family) {
		char a[CIDR_STR_MAX];

		cidr_format_addr(&r->via, a, sizeof(a));
		snprintf(via, sizeof(via), " via %s", a);
	}
	if (r->type == RTN_UNICAST && r->oif) {
		char n[IF_NAMESIZE + 12];

		dev_name(r->oif, n, sizeof(n));
		snprintf(dev, sizeof(dev), " dev %s", n);
	}
	snprintf(buf, len, "%s%s%s%s table %u metric %u", rtn_name(r->type), dst, via, dev,
	         r->table, r->metric);
}

/* The first subnet that wants the copy c (for the plan's "id"). */
static const char *copy_owner(const struct preview_input *in, const struct plan_assoc *as,
                              const struct kroute *c)
{
	for (size_t i = 0; i < as->nrules; i++) {
		const struct subnet *sn = &in->subnets[as->rule_subnet[i]];

		if (plan_copy_for(sn, c))
			return sn->id;
	}
	return NULL;
}

/* A desired object that cannot be applied: the list to note it in, and the input. */
struct fail_note {
	struct preview_list *l;
	const struct preview_input *in;
};

static void route_fail(void *arg, size_t i, const char *why)
{
	const struct fail_note *fn = arg;
	struct route tmp;
	const struct route *rt = route_pack_at(fn->in->routes, fn->in->pack, i, &tmp);
	char what[PREVIEW_WHAT_MAX];

	snprintf(what, sizeof(what), "%s: %s", rt->destination, why);
	note(fn->l, PREVIEW_FAIL, rt->id, what);
}

/*
 * Routes: the kernel form of every desired route and the associations'
 * copies of connected networks, as the planner makes them, against
 * route_dump.
 */
static int preview_routes(const struct kernel_ops *k, const struct preview_input *in,
                          struct plan_assoc *as, struct preview_list *l, char *why, size_t len)
{
	const struct plan_links lk = {.index = k->link_index, .ctx = k->ctx};
	struct fail_note fn = {.l = l, .in = in};
	struct kroute *desired = NULL, *observed = NULL;
	struct kroute_op *ops = NULL;
	size_t *map = NULL, nd, nu, no = 0, nops = 0;
	char what[PREVIEW_WHAT_MAX];
	int ret = -ENOMEM;

	desired = calloc(in->nroutes + as->nroutes + 1, sizeof(*desired));
	map = calloc(in->nroutes + 1, sizeof(*map));
	if (!desired || !map)
		goto oom;
	nu = plan_kroutes_of(in->routes, in->pack, in->nroutes, &lk, desired, map, route_fail, &fn);
	nd = plan_with_copies(desired, nu, as);
	ret = k->route_dump(k->ctx, &observed, &no);
	if (ret) {
		snprintf(why, len, "reading the kernel's routes: %s", strerror(-ret));
		goto out;
	}
	ret = plan_routes(desired, nd, observed, no, &ops, &nops, NULL);
	if (ret)
		goto oom;
	/* The ops carry their routes: 100,000 of each need not wait for the words. */
	free(desired);
	free(observed);
	desired = observed = NULL;
	for (size_t i = 0; i < nops; i++) {
		const char *id = NULL;
		struct route tmp;

		if (ops[i].kind != KOP_DELETE)
			id = ops[i].tag < nu
			         ? route_pack_at(in->routes, in->pack, map[ops[i].tag], &tmp)->id
			         : copy_owner(in, as, &ops[i].r);
		preview_route_words(&ops[i].r, what, sizeof(what));
		note(l, op_of(ops[i].kind), id, what);
	}
	ret = 0;
	goto out;
oom:
	ret = -ENOMEM;
	snprintf(why, len, "out of memory");
out:
	free(desired);
	free(observed);
	free(map);
	free(ops);
	return ret;
}

void preview_addr_words(const struct kaddr *a, char *buf, size_t len)
{
	char p[CIDR_STR_MAX], dev[IF_NAMESIZE + 12];

	cidr_format_prefix(&a->p, p, sizeof(p));
	dev_name(a->ifindex, dev, sizeof(dev));
	snprintf(buf, len, "%s dev %s", p, dev);
}

void preview_rule_words(const struct krule *r, char *buf, size_t len)
{
	char src[CIDR_STR_MAX] = "all";

	if (r->src.len)
		cidr_format_prefix(&r->src, src, sizeof(src));
	if (r->action == KRULE_UNREACHABLE)
		snprintf(buf, len, "%s from %s unreachable priority %u",
		         r->family == AF_INET6 ? "ipv6" : "ipv4", src, r->priority);
	else
		snprintf(buf, len, "%s from %s lookup %u priority %u",
		         r->family == AF_INET6 ? "ipv6" : "ipv4", src, r->table, r->priority);
}

/* True when the link holds the address a (someone else's: vrouter's would not be added). */
static bool link_holds(const struct klink *links, size_t n, const struct kaddr *a)
{
	for (size_t i = 0; i < n; i++) {
		if (links[i].ifindex != a->ifindex)
			continue;
		for (size_t j = 0; j < links[i].naddrs; j++) {
			struct kaddr b = {.ifindex = a->ifindex, .p = links[i].addrs[j]};

			if (plan_kaddr_same_key(a, &b))
				return true;
		}
	}
	return false;
}

static void subnet_fail(void *arg, size_t i, const char *why)
{
	const struct fail_note *fn = arg;
	const struct subnet *sn = &fn->in->subnets[i];
	char what[PREVIEW_WHAT_MAX];

	snprintf(what, sizeof(what), "%s/%u: %s", sn->router_ip_text, sn->cidr.len, why);
	note(fn->l, PREVIEW_FAIL, sn->id, what);
}

/*
 * The address ops in words, and what the reconciler would find once they
 * are applied: ready[i] for each subnet whose address would be in place. An
 * add of an address someone else holds on its link would fail (EEXIST): it
 * is noted as a failure and becomes KOP_REPLACE, which plan_connected
 * ignores.
 */
static void addr_notes(const struct preview_input *in, const struct klink *links, size_t nlinks,
                       struct kaddr_op *aops, size_t nops, const size_t *amap,
                       struct preview_list *l, bool *ready)
{
	char what[PREVIEW_WHAT_MAX];

	for (size_t i = 0; i < nops; i++) {
		const char *id =
		    aops[i].kind == KOP_DELETE ? NULL : in->subnets[amap[aops[i].tag]].id;

		if (aops[i].kind == KOP_ADD && link_holds(links, nlinks, &aops[i].a)) {
			kernel_addr_reason(&aops[i].a, -EEXIST, what, sizeof(what));
			note(l, PREVIEW_FAIL, id, what);
			aops[i].kind = KOP_REPLACE; /* not applied: not a connected network */
			continue;
		}
		if (aops[i].kind == KOP_ADD)
			ready[amap[aops[i].tag]] = true;
		preview_addr_words(&aops[i].a, what, sizeof(what));
		note(l, op_of(aops[i].kind), id, what);
	}
}

/*
 * Addresses of the subnets, as the planner makes them, against the dump,
 * and the associations planned from them as the reconciler would once they
 * are applied: ready[i] when subnet i's address would be in place (its link
 * exists, and no one else holds the address there), the connected networks
 * as they would be. *as is for the caller to free.
 */
static int preview_addrs(const struct kernel_ops *k, const struct preview_input *in,
                         struct preview *p, struct plan_assoc *as, bool *ready, char *why,
                         size_t len)
{
	const struct plan_links lk = {.index = k->link_index, .ctx = k->ctx};
	struct fail_note fn = {.l = &p->addrs, .in = in};
	size_t n = in->nsubnets, na, noa = 0, nops = 0, nlinks = 0;
	struct kaddr *da = NULL, *oa = NULL;
	size_t *amap = NULL;
	struct kaddr_op *aops = NULL;
	struct klink *links = NULL;
	bool *aok = NULL;
	int ret = -ENOMEM;

	da = calloc(n + 1, sizeof(*da));
	amap = calloc(n + 1, sizeof(*amap));
	aok = calloc(n + 1, sizeof(*aok));
	if (!da || !amap || !aok)
		goto oom;
	na = plan_kaddrs_of(in->subnets, n, &lk, da, amap, subnet_fail, &fn);
	ret = k->addr_dump(k->ctx, &oa, &noa);
	if (ret) {
		snprintf(why, len, "reading the kernel's addresses: %s", strerror(-ret));
		goto out;
	}
	if (k->links_list) {
		ret = k->links_list(k->ctx, &links, &nlinks);
		if (ret) {
			snprintf(why, len, "reading the kernel's links: %s", strerror(-ret));
			goto out;
		}
	}
	if (plan_addrs(da, na, oa, noa, &aops, &nops, aok))
		goto oom;
	for (size_t i = 0; i < na; i++)
		ready[amap[i]] = aok[i];
	addr_notes(in, links, nlinks, aops, nops, amap, &p->addrs, ready);
	if (plan_assoc_links(in->subnets, n, ready, links, nlinks, aops, nops, as))
		goto oom;
	ret = 0;
	goto out;
oom:
	ret = -ENOMEM;
	snprintf(why, len, "out of memory");
out:
	kernel_links_free(links, nlinks);
	free(da);
	free(oa);
	free(amap);
	free(aops);
	free(aok);
	return ret;
}

/* The policy rules of the subnets that would be whole, against the dump. */
static int preview_rules(const struct kernel_ops *k, const struct preview_input *in,
                         const struct plan_assoc *as, const bool *ready, struct preview *p,
                         char *why, size_t len)
{
	struct krule *dr = NULL, *orl = NULL;
	struct krule_op *rops = NULL;
	size_t *rmap = NULL, nr, nor = 0, nops = 0;
	char what[PREVIEW_WHAT_MAX];
	int ret = -ENOMEM;

	dr = calloc(as->nrules + 1, sizeof(*dr));
	rmap = calloc(as->nrules + 1, sizeof(*rmap));
	if (!dr || !rmap)
		goto oom;
	nr = plan_assoc_rules(as, ready, dr, rmap);
	ret = k->rule_dump(k->ctx, &orl, &nor);
	if (ret) {
		snprintf(why, len, "reading the kernel's policy rules: %s", strerror(-ret));
		goto out;
	}
	if (plan_rules(dr, nr, orl, nor, &rops, &nops, NULL))
		goto oom;
	for (size_t i = 0; i < nops; i++) {
		preview_rule_words(&rops[i].r, what, sizeof(what));
		note(&p->rules, op_of(rops[i].kind),
		     rops[i].kind == KOP_DELETE ? NULL : in->subnets[rmap[rops[i].tag]].id, what);
	}
	ret = 0;
	goto out;
oom:
	ret = -ENOMEM;
	snprintf(why, len, "out of memory");
out:
	free(dr);
	free(orl);
	free(rmap);
	free(rops);
	return ret;
}

/* nftables: compile both states and build the transaction between them, as the reconciler would. */
static int preview_nft(const struct preview_input *in, struct preview *p, char *why, size_t len)
{
	struct sgc_input now = {.groups = in->groups_now,
	                        .ngroups = in->ngroups_now,
	                        .rules = in->rules_now,
	                        .nrules = in->nrules_now,
	                        .api = in->api,
	                        .table_flags = SGC_TABLE_FLAGS};
	struct sgc_input neu = now;
	struct sgc *cnow = NULL, *cnew = NULL;
	struct sgc_batch *b = NULL;
	size_t sets, counters;
	int ret;

	neu.groups = in->groups;
	neu.ngroups = in->ngroups;
	neu.rules = in->rules;
	neu.nrules = in->nrules;
	ret = sgc_compile(&now, &cnow, why, len);
	if (ret == 0)
		ret = sgc_compile(&neu, &cnew, why, len);
	if (ret)
		goto out;
	if (!sgc_empty(cnow))
		sgc_counts(cnow, &sets, &p->nft_chains_now, &counters, &p->nft_elems_now);
	if (!sgc_empty(cnew))
		sgc_counts(cnew, &sets, &p->nft_chains_new, &counters, &p->nft_elems_new);
	if (sgc_empty(cnow) && sgc_empty(cnew))
		p->nft = PREVIEW_NFT_NONE;
	else if (sgc_empty(cnow))
		p->nft = PREVIEW_NFT_CREATE;
	else if (sgc_empty(cnew))
		p->nft = PREVIEW_NFT_REMOVE;
	else
		p->nft = sgc_equal(cnow, cnew) ? PREVIEW_NFT_NONE : PREVIEW_NFT_UPDATE;
	if (p->nft == PREVIEW_NFT_NONE)
		goto out;
	ret = p->nft == PREVIEW_NFT_UPDATE ? sgc_batch_update(cnow, cnew, &b)
	                                   : sgc_batch_full(cnew, &b);
	if (ret) {
		snprintf(why, len, "building the nftables batch: %s", strerror(-ret));
		goto out;
	}
	p->nft_msgs = sgc_batch_nmsgs(b);
	for (size_t i = 1; i <= p->nft_msgs && p->nft_nitems < PREVIEW_ITEMS_MAX; i++)
		snprintf(p->nft_items[p->nft_nitems++], SGC_WHAT_MAX, "%s",
		         sgc_batch_msg_what(b, i));
out:
	sgc_batch_free(b);
	sgc_free(cnow);
	sgc_free(cnew);
	return ret;
}

int preview_kernel(const struct kernel_ops *k, const struct preview_input *in, struct preview **out,
                   char *why, size_t len)
{
	struct preview *p = calloc(1, sizeof(*p));
	struct plan_assoc as = {0};
	bool *ready;
	int ret;

	*out = NULL;
	if (!p) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	ready = calloc(in->nsubnets + 1, sizeof(*ready));
	if (!ready) {
		free(p);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	/* In the reconciler's order: addresses, routes with the copies, then rules. */
	ret = preview_addrs(k, in, p, &as, ready, why, len);
	if (ret == 0)
		ret = preview_routes(k, in, &as, &p->routes, why, len);
	if (ret == 0)
		ret = preview_rules(k, in, &as, ready, p, why, len);
	plan_assoc_free(&as);
	free(ready);
	if (ret == 0) {
		ret = k->forwarding_get(k->ctx, &p->fwd_v4, &p->fwd_v6);
		if (ret)
			snprintf(why, len, "reading IP forwarding: %s", strerror(-ret));
	}
	p->fwd_managed = in->fwd_managed;
	p->want_v4 = in->fwd_managed ? in->fwd_v4 : p->fwd_v4;
	p->want_v6 = in->fwd_managed ? in->fwd_v6 : p->fwd_v6;
	if (ret == 0)
		ret = preview_nft(in, p, why, len);
	if (ret) {
		preview_free(p);
		return ret;
	}
	*out = p;
	return 0;
}

void preview_free(struct preview *p)
{
	free(p);
}
