/*
 * The planner. Routes: both sides are sorted by key (table, family, prefix,
 * metric) through arrays of pointers and merged, so a plan over 100,000
 * routes is O(n log n) and touches neither input array.
 */
#include "plan.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

/* Bytes of an address that count for the family; the rest may be garbage. */
static size_t addr_bytes(int family)
{
	if (family == AF_INET)
		return 4;
	if (family == AF_INET6)
		return 16;
	return 0;
}

static bool addr_same(const struct ipaddr *a, const struct ipaddr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->a, b->a, addr_bytes(a->family)) == 0;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return (a > b) - (a < b);
}

/* By family, length, then the address's bytes. */
static int prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	int c;

	c = (a->addr.family > b->addr.family) - (a->addr.family < b->addr.family);
	if (c)
		return c;
	c = (a->len > b->len) - (a->len < b->len);
	if (c)
		return c;
	return memcmp(a->addr.a, b->addr.a, addr_bytes(a->addr.family));
}

static int key_cmp(const struct kroute *a, const struct kroute *b)
{
	int c;

	c = cmp_u32(a->table, b->table);
	if (c)
		return c;
	c = prefix_cmp(&a->dst, &b->dst);
	if (c)
		return c;
	return cmp_u32(a->metric, b->metric);
}

static int ptr_cmp(const void *pa, const void *pb)
{
	const struct kroute *a = *(const struct kroute *const *)pa;
	const struct kroute *b = *(const struct kroute *const *)pb;
	int c = key_cmp(a, b);

	if (c)
		return c;
	/* Ties (duplicate observed keys) keep input order, so plans are deterministic. */
	return (a > b) - (a < b);
}

bool plan_kroute_same_key(const struct kroute *a, const struct kroute *b)
{
	return key_cmp(a, b) == 0;
}

bool plan_kroute_equal(const struct kroute *a, const struct kroute *b)
{
	return plan_kroute_same_key(a, b) && a->type == b->type && addr_same(&a->via, &b->via) &&
	       a->oif == b->oif;
}

bool plan_kroute_satisfies(const struct kroute *want, const struct kroute *have)
{
	if (!plan_kroute_same_key(want, have) || want->type != have->type)
		return false;
	/* A reject route has no next hop; whatever the kernel shows there means nothing. */
	if (want->type != RTN_UNICAST)
		return true;
	if (!addr_same(&want->via, &have->via))
		return false;
	/* With a gateway and no device the kernel picks the device and reports it. */
	if (want->oif == 0 && want->via.family != 0)
		return true;
	return want->oif == have->oif;
}

static const struct kroute **sorted_ptrs(const struct kroute *v, size_t n)
{
	const struct kroute **p;

	p = malloc((n ? n : 1) * sizeof(*p));
	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof(*p), ptr_cmp);
	return p;
}

static void emit(struct kroute_op *ops, size_t *nops, enum kop_kind kind, const struct kroute *r,
                 size_t tag)
{
	struct kroute_op *op = &ops[(*nops)++];

	op->kind = kind;
	op->r = *r;
	op->tag = tag;
}

int plan_routes(const struct kroute *desired, size_t nd, const struct kroute *observed, size_t no,
                struct kroute_op **ops, size_t *nops, bool *ok)
{
	const struct kroute **d = NULL, **o = NULL;
	struct kroute_op *out = NULL;
	size_t i = 0, j = 0, n = 0;
	int ret = -ENOMEM;

	*ops = NULL;
	*nops = 0;
	if (ok)
		for (size_t k = 0; k < nd; k++)
			ok[k] = false;
	if (nd + no == 0)
		return 0;
	d = sorted_ptrs(desired, nd);
	o = sorted_ptrs(observed, no);
	/* Every input yields at most one op. */
	out = malloc((nd + no) * sizeof(*out));
	if (!d || !o || !out)
		goto out;

	while (i < nd || j < no) {
		const struct kroute *want, *keep = NULL;
		size_t first, end;
		int c;

		if (i == nd)
			c = 1;
		else if (j == no)
			c = -1;
		else
			c = key_cmp(d[i], o[j]);

		if (c > 0) {
			emit(out, &n, KOP_DELETE, o[j], (size_t)(o[j] - observed));
			j++;
			continue;
		}
		want = d[i++];
		assert(i == nd || key_cmp(want, d[i]) != 0);
		if (c < 0) {
			emit(out, &n, KOP_ADD, want, (size_t)(want - desired));
			continue;
		}

		/*
		 * Usually one observed route per key, but IPv6 (and IPv4 with
		 * append) can hold several: keep one that already satisfies the
		 * desire, remove the others before replacing.
		 */
		first = j;
		end = j;
		while (end < no && key_cmp(want, o[end]) == 0)
			end++;
		for (size_t k = first; k < end && !keep; k++)
			if (plan_kroute_satisfies(want, o[k]))
				keep = o[k];
		for (size_t k = first + (keep ? 0 : 1); k < end; k++)
			if (o[k] != keep)
				emit(out, &n, KOP_DELETE, o[k], (size_t)(o[k] - observed));
		if (keep) {
			if (ok)
				ok[want - desired] = true;
		} else {
			emit(out, &n, KOP_REPLACE, want, (size_t)(want - desired));
		}
		j = end;
	}

	if (n == 0) {
		free(out);
		out = NULL;
	}
	*ops = out;
	*nops = n;
	out = NULL;
	ret = 0;
out:
	free(out);
	free(d);
	free(o);
	return ret;
}

/*
 * Addresses and rules have nothing beyond their key, so their plans are a
 * plain sorted merge: one core works on opaque elements through a key
 * comparison and says which element becomes which op.
 */
struct pick {
	enum kop_kind kind;
	size_t tag;
};

static int kaddr_cmp(const struct kaddr *a, const struct kaddr *b)
{
	int c;

	c = (a->ifindex > b->ifindex) - (a->ifindex < b->ifindex);
	if (c)
		return c;
	return prefix_cmp(&a->p, &b->p);
}

static int krule_cmp(const struct krule *a, const struct krule *b)
{
	int c;

	c = (a->family > b->family) - (a->family < b->family);
	if (c)
		return c;
	c = (a->src.len > b->src.len) - (a->src.len < b->src.len);
	if (c)
		return c;
	if (a->src.len) {
		c = memcmp(a->src.addr.a, b->src.addr.a, addr_bytes(a->family));
		if (c)
			return c;
	}
	c = cmp_u32(a->table, b->table);
	if (c)
		return c;
	c = cmp_u32(a->priority, b->priority);
	if (c)
		return c;
	return cmp_u32(a->action, b->action);
}

static int kaddr_cmp_v(const void *a, const void *b)
{
	return kaddr_cmp(a, b);
}

static int krule_cmp_v(const void *a, const void *b)
{
	return krule_cmp(a, b);
}

bool plan_kaddr_same_key(const struct kaddr *a, const struct kaddr *b)
{
	return kaddr_cmp(a, b) == 0;
}

bool plan_krule_same_key(const struct krule *a, const struct krule *b)
{
	return krule_cmp(a, b) == 0;
}

struct key_cmp {
	int (*cmp)(const void *a, const void *b);
};

static int ptr_cmp_r(const void *pa, const void *pb, void *arg)
{
	const struct key_cmp *kc = arg;
	const void *a = *(const void *const *)pa;
	const void *b = *(const void *const *)pb;
	int c = kc->cmp(a, b);

	if (c)
		return c;
	/* Ties keep input order, so plans are deterministic. */
	return ((const char *)a > (const char *)b) - ((const char *)a < (const char *)b);
}

static const char **sorted_generic(const void *v, size_t n, size_t size,
                                   int (*cmp)(const void *, const void *))
{
	struct key_cmp kc = {.cmp = cmp};
	const char **p = malloc((n ? n : 1) * sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = (const char *)v + i * size;
	qsort_r(p, n, sizeof(*p), ptr_cmp_r, &kc);
	return p;
}

/*
 * The merge: picks with deletes first (deletes_first) or adds first, each
 * group in key order. *out is malloc'd, or NULL when *nout == 0.
 */
static int merge_plan(const void *desired, size_t nd, const void *observed, size_t no, size_t size,
                      int (*cmp)(const void *, const void *), bool deletes_first, struct pick **out,
                      size_t *nout, bool *ok)
{
	const char *dbase = desired, *obase = observed;
	const char **d = NULL, **o = NULL;
	struct pick *adds = NULL, *dels = NULL, *res = NULL;
	size_t i = 0, j = 0, na = 0, ndel = 0;
	int ret = -ENOMEM;

	*out = NULL;
	*nout = 0;
	if (ok)
		for (size_t k = 0; k < nd; k++)
			ok[k] = false;
	if (nd + no == 0)
		return 0;
	d = sorted_generic(desired, nd, size, cmp);
	o = sorted_generic(observed, no, size, cmp);
	adds = malloc((nd ? nd : 1) * sizeof(*adds));
	dels = malloc((no ? no : 1) * sizeof(*dels));
	if (!d || !o || !adds || !dels)
		goto out;

	while (i < nd || j < no) {
		int c;

		if (i == nd)
			c = 1;
		else if (j == no)
			c = -1;
		else
			c = cmp(d[i], o[j]);
		if (c > 0) {
			dels[ndel].kind = KOP_DELETE;
			dels[ndel++].tag = (size_t)(o[j++] - obase) / size;
			continue;
		}
		assert(i + 1 == nd || cmp(d[i], d[i + 1]) != 0);
		if (c < 0) {
			adds[na].kind = KOP_ADD;
			adds[na++].tag = (size_t)(d[i++] - dbase) / size;
			continue;
		}
		/* Present: keep the first copy, delete any other. */
		if (ok)
			ok[(size_t)(d[i] - dbase) / size] = true;
		for (j++; j < no && cmp(d[i], o[j]) == 0; j++) {
			dels[ndel].kind = KOP_DELETE;
			dels[ndel++].tag = (size_t)(o[j] - obase) / size;
		}
		i++;
	}

	if (na + ndel) {
		const struct pick *first = deletes_first ? dels : adds;
		const struct pick *second = deletes_first ? adds : dels;
		size_t nfirst = deletes_first ? ndel : na, nsecond = deletes_first ? na : ndel;

		res = malloc((na + ndel) * sizeof(*res));
		if (!res)
			goto out;
		memcpy(res, first, nfirst * sizeof(*res));
		memcpy(res + nfirst, second, nsecond * sizeof(*res));
	}
	*out = res;
	*nout = na + ndel;
	ret = 0;
out:
	free(d);
	free(o);
	free(adds);
	free(dels);
	return ret;
}

/*
 * merge_plan made into ops of opsize bytes each: put(op, kind, tag, obj)
 * fills one from the element it names (desired for an add, observed for a
 * delete). *ops is malloc'd, NULL when *nops == 0. 0 or -ENOMEM.
 */
static int keyed_plan(const void *desired, size_t nd, const void *observed, size_t no, size_t size,
                      int (*cmp)(const void *, const void *), bool deletes_first, bool *ok,
                      size_t opsize, void (*put)(void *, enum kop_kind, size_t, const void *),
                      void **ops, size_t *nops)
{
	const char *dbase = desired, *obase = observed;
	struct pick *p = NULL;
	char *out = NULL;
	size_t np = 0;
	int ret;

	*ops = NULL;
	*nops = 0;
	ret = merge_plan(desired, nd, observed, no, size, cmp, deletes_first, &p, &np, ok);
	if (ret || !np)
		goto out;
	out = malloc(np * opsize);
	if (!out) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < np; k++)
		put(out + k * opsize, p[k].kind, p[k].tag,
		    (p[k].kind == KOP_ADD ? dbase : obase) + p[k].tag * size);
	*ops = out;
	*nops = np;
out:
	free(p);
	return ret;
}

static void put_kaddr(void *op, enum kop_kind kind, size_t tag, const void *obj)
{
	*(struct kaddr_op *)op =
	    (struct kaddr_op){.kind = kind, .tag = tag, .a = *(const struct kaddr *)obj};
}

static void put_krule(void *op, enum kop_kind kind, size_t tag, const void *obj)
{
	*(struct krule_op *)op =
	    (struct krule_op){.kind = kind, .tag = tag, .r = *(const struct krule *)obj};
}

int plan_addrs(const struct kaddr *desired, size_t nd, const struct kaddr *observed, size_t no,
               struct kaddr_op **ops, size_t *nops, bool *ok)
{
	void *out;
	int ret = keyed_plan(desired, nd, observed, no, sizeof(*desired), kaddr_cmp_v, true, ok,
	                     sizeof(**ops), put_kaddr, &out, nops);

	*ops = out;
	return ret;
}

int plan_rules(const struct krule *desired, size_t nd, const struct krule *observed, size_t no,
               struct krule_op **ops, size_t *nops, bool *ok)
{
	void *out;
	int ret = keyed_plan(desired, nd, observed, no, sizeof(*desired), krule_cmp_v, false, ok,
	                     sizeof(**ops), put_krule, &out, nops);

	*ops = out;
	return ret;
}

/* ---- route-table associations ---- */

#ifndef NDEBUG
/* True when v[0..n) (size bytes each) ascends strictly by cmp: sorted, no key twice. */
static bool ascending(const void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++)
		if (cmp((const char *)v + (i - 1) * size, (const char *)v + i * size) >= 0)
			return false;
	return true;
}

static int conn_prefix_cmp(const void *a, const void *b)
{
	return prefix_cmp(&((const struct kaddr *)a)->p, &((const struct kaddr *)b)->p);
}
#endif

/* Loopback, IPv6 link-local and host prefixes have no connected route worth copying. */
static bool conn_skip(const struct prefix *p)
{
	if (p->len == 0 || p->len >= cidr_max_len(p->addr.family))
		return true;
	if (p->addr.family == AF_INET)
		return p->addr.a[0] == 127;
	if (p->addr.family == AF_INET6)
		return p->addr.a[0] == 0xfe && (p->addr.a[1] & 0xc0) == 0x80;
	return true;
}

/* Connected networks: by family, prefix, then ifindex (the lower one is kept). */
static int conn_cmp(const void *pa, const void *pb)
{
	const struct kaddr *a = pa, *b = pb;
	int c = prefix_cmp(&a->p, &b->p);

	if (c)
		return c;
	return (a->ifindex > b->ifindex) - (a->ifindex < b->ifindex);
}

static const struct klink *link_up(const struct klink *links, size_t n, int ifindex)
{
	for (size_t i = 0; i < n; i++)
		if (links[i].ifindex == ifindex)
			return links[i].up ? &links[i] : NULL;
	return NULL;
}

static bool pending_delete(const struct kaddr_op *ops, size_t n, const struct kaddr *a)
{
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind == KOP_DELETE && plan_kaddr_same_key(&ops[i].a, a))
			return true;
	return false;
}

int plan_connected(const struct klink *links, size_t nlinks, const struct kaddr_op *pending,
                   size_t npending, struct kaddr **out, size_t *nout)
{
	struct kaddr *v;
	size_t cap = npending, n = 0, m = 0;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < nlinks; i++)
		cap += links[i].up ? links[i].naddrs : 0;
	if (cap == 0)
		return 0;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < nlinks; i++) {
		for (size_t j = 0; links[i].up && j < links[i].naddrs; j++) {
			struct kaddr a = {.ifindex = links[i].ifindex, .p = links[i].addrs[j]};

			if (!pending_delete(pending, npending, &a))
				v[n++] = a;
		}
	}
	for (size_t i = 0; i < npending; i++)
		if (pending[i].kind == KOP_ADD && link_up(links, nlinks, pending[i].a.ifindex))
			v[n++] = pending[i].a;
	for (size_t i = 0; i < n; i++) {
		cidr_mask(&v[i].p);
		if (!conn_skip(&v[i].p))
			v[m++] = v[i];
	}
	qsort(v, m, sizeof(*v), conn_cmp);
	n = 0;
	for (size_t i = 0; i < m; i++)
		if (!n || !cidr_prefix_equal(&v[n - 1].p, &v[i].p))
			v[n++] = v[i];
	if (!n) {
		free(v);
		v = NULL;
	}
	*out = v;
	assert(ascending(v, n, sizeof(*v), conn_prefix_cmp)); /* sorted, each network once */
	*nout = n;
	return 0;
}

/* A (table, family) that ready associated subnets use. */
struct tfam {
	uint32_t table;
	int family;
};

static int tfam_cmp(const void *pa, const void *pb)
{
	const struct tfam *a = pa, *b = pb;
	int c = cmp_u32(a->table, b->table);

	return c ? c : (a->family > b->family) - (a->family < b->family);
}

static int kroute_cmp_v(const void *a, const void *b)
{
	return key_cmp(a, b);
}

int plan_assoc(const struct subnet *subnets, size_t n, const bool *ready, const struct kaddr *conn,
               size_t nconn, struct plan_assoc *out)
{
	struct tfam *tf = NULL;
	size_t ntf = 0, k = 0;

	memset(out, 0, sizeof(*out));
	out->rules = malloc((2 * n + 1) * sizeof(*out->rules));
	out->rule_subnet = malloc((2 * n + 1) * sizeof(*out->rule_subnet));
	tf = malloc((n + 1) * sizeof(*tf));
	if (!out->rules || !out->rule_subnet || !tf)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const struct subnet *sn = &subnets[i];
		struct krule r = {.family = sn->cidr.addr.family, .src = sn->cidr};

		if (model_rtb_main_router(sn->table_id) || !ready[i])
			continue;
		r.table = sn->table;
		r.priority = PLAN_PRIO_LOOKUP;
		r.action = KRULE_LOOKUP;
		out->rule_subnet[out->nrules] = i;
		out->rules[out->nrules++] = r;
		r.table = 0;
		r.priority = PLAN_PRIO_MISS;
		r.action = KRULE_UNREACHABLE;
		out->rule_subnet[out->nrules] = i;
		out->rules[out->nrules++] = r;
		tf[ntf++] = (struct tfam){.table = sn->table, .family = sn->cidr.addr.family};
	}
	qsort(tf, ntf, sizeof(*tf), tfam_cmp);
	for (size_t i = 0; i < ntf; i++)
		if (!k || tfam_cmp(&tf[k - 1], &tf[i]))
			tf[k++] = tf[i];
	ntf = k;
	if (ntf && nconn) {
		out->routes = malloc(ntf * nconn * sizeof(*out->routes));
		if (!out->routes)
			goto oom;
	}
	for (size_t i = 0; i < ntf; i++) {
		for (size_t j = 0; j < nconn; j++) {
			if (conn[j].p.addr.family != tf[i].family)
				continue;
			out->routes[out->nroutes++] =
			    (struct kroute){.table = tf[i].table,
			                    .dst = conn[j].p,
			                    .type = RTN_UNICAST,
			                    .oif = conn[j].ifindex,
			                    .metric = PLAN_CONNECTED_METRIC};
		}
	}
	if (out->nroutes)
		qsort(out->routes, out->nroutes, sizeof(*out->routes), kroute_cmp_v);
	/* Distinct (table, family) pairs times distinct networks: keys are distinct. */
	assert(ascending(out->routes, out->nroutes, sizeof(*out->routes), kroute_cmp_v));
	free(tf);
	return 0;
oom:
	free(tf);
	plan_assoc_free(out);
	return -ENOMEM;
}

void plan_assoc_free(struct plan_assoc *a)
{
	if (!a)
		return;
	free(a->rules);
	free(a->rule_subnet);
	free(a->routes);
	memset(a, 0, sizeof(*a));
}

void plan_assoc_shadow(struct plan_assoc *a, const struct kroute *desired, size_t nd)
{
	size_t m = 0;

	assert(ascending(a->routes, a->nroutes, sizeof(*a->routes), kroute_cmp_v)); /* bsearch */
	for (size_t i = 0; i < nd && a->nroutes; i++) {
		struct kroute *hit;

		if (desired[i].metric != PLAN_CONNECTED_METRIC)
			continue;
		hit = bsearch(&desired[i], a->routes, a->nroutes, sizeof(*a->routes), kroute_cmp_v);
		if (hit)
			hit->type = RTN_UNSPEC; /* marked: dropped below */
	}
	for (size_t i = 0; i < a->nroutes; i++)
		if (a->routes[i].type != RTN_UNSPEC)
			a->routes[m++] = a->routes[i];
	a->nroutes = m;
}

/* ---- desired objects -> kernel objects ---- */

uint8_t plan_route_type(enum route_type t)
{
	switch (t) {
	case ROUTE_BLACKHOLE: return RTN_BLACKHOLE;
	case ROUTE_UNREACHABLE: return RTN_UNREACHABLE;
	case ROUTE_PROHIBIT: return RTN_PROHIBIT;
	case ROUTE_UNICAST: break;
	}
	return RTN_UNICAST;
}

int plan_route_type_of(uint8_t rtn, enum route_type *out)
{
	switch (rtn) {
	case RTN_UNICAST: *out = ROUTE_UNICAST; return 0;
	case RTN_BLACKHOLE: *out = ROUTE_BLACKHOLE; return 0;
	case RTN_UNREACHABLE: *out = ROUTE_UNREACHABLE; return 0;
	case RTN_PROHIBIT: *out = ROUTE_PROHIBIT; return 0;
	}
	return -EINVAL;
}

/* What the kernel stores for an IPv6 route given metric 0, and reports back. */
#define PLAN_IP6_METRIC_DEFAULT 1024

uint32_t plan_route_metric_of(const struct kroute *k)
{
	if (k->dst.addr.family == AF_INET6 && k->metric == PLAN_IP6_METRIC_DEFAULT)
		return 0;
	return k->metric;
}

int plan_kroute_of(const struct route *rt, const struct plan_links *lk, struct kroute *out,
                   char *why, size_t len)
{
	memset(out, 0, sizeof(*out));
	out->table = rt->table;
	out->dst = rt->dst;
	out->type = plan_route_type(rt->type);
	out->via = rt->via;
	out->metric = rt->metric;
	if (rt->dst.addr.family == AF_INET6 && out->metric == 0)
		out->metric = PLAN_IP6_METRIC_DEFAULT;
	if (!rt->dev[0])
		return 0;
	out->oif = lk->index(lk->ctx, rt->dev);
	if (out->oif)
		return 0;
	snprintf(why, len, "device %s does not exist", rt->dev);
	return -ENODEV;
}

int plan_kaddr_of(const struct subnet *sn, const struct plan_links *lk, struct kaddr *out,
                  char *why, size_t len)
{
	memset(out, 0, sizeof(*out));
	out->p.addr = sn->router_ip;
	out->p.len = sn->cidr.len;
	out->ifindex = lk->index(lk->ctx, sn->interface);
	if (out->ifindex)
		return 0;
	snprintf(why, len, "interface %s does not exist", sn->interface);
	return -ENODEV;
}

/* plan_kroute_of and plan_kaddr_of of input i, with the types the loop below takes. */
static int kroute_of_v(const void *in, size_t i, const struct plan_links *lk, void *out, char *why,
                       size_t len)
{
	return plan_kroute_of(&((const struct route *)in)[i], lk, out, why, len);
}

/* The same for a pack's route, filled one at a time. */
static int kroute_of_pack(const void *in, size_t i, const struct plan_links *lk, void *out,
                          char *why, size_t len)
{
	struct route tmp;

	route_pack_get_parsed(in, i, &tmp);
	return plan_kroute_of(&tmp, lk, out, why, len);
}

static int kaddr_of_v(const void *in, size_t i, const struct plan_links *lk, void *out, char *why,
                      size_t len)
{
	return plan_kaddr_of(&((const struct subnet *)in)[i], lk, out, why, len);
}

/*
 * of(in, i) into out[k] (elements of outsize bytes) for every input i that
 * has a kernel form, with of[k] = i; fail(arg, i, why) for the others.
 * Returns k.
 */
static size_t kernel_forms(const void *in, size_t n, const struct plan_links *lk,
                           int (*of_one)(const void *, size_t, const struct plan_links *, void *,
                                         char *, size_t),
                           void *out, size_t outsize, size_t *of,
                           void (*fail)(void *arg, size_t i, const char *why), void *arg)
{
	char why[REASON_MAX];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (of_one(in, i, lk, (char *)out + k * outsize, why, sizeof(why))) {
			if (fail)
				fail(arg, i, why);
			continue;
		}
		of[k++] = i;
	}
	return k;
}

size_t plan_kroutes_of(const struct route *routes, const struct route_pack *pack, size_t n,
                       const struct plan_links *lk, struct kroute *out, size_t *of,
                       void (*fail)(void *arg, size_t i, const char *why), void *arg)
{
	if (pack)
		return kernel_forms(pack, n, lk, kroute_of_pack, out, sizeof(*out), of, fail, arg);
	return kernel_forms(routes, n, lk, kroute_of_v, out, sizeof(*out), of, fail, arg);
}

size_t plan_kaddrs_of(const struct subnet *subnets, size_t n, const struct plan_links *lk,
                      struct kaddr *out, size_t *of,
                      void (*fail)(void *arg, size_t i, const char *why), void *arg)
{
	return kernel_forms(subnets, n, lk, kaddr_of_v, out, sizeof(*out), of, fail, arg);
}

size_t plan_with_copies(struct kroute *desired, size_t nu, struct plan_assoc *as)
{
	plan_assoc_shadow(as, desired, nu);
	if (as->nroutes)
		memcpy(desired + nu, as->routes, as->nroutes * sizeof(*as->routes));
	return nu + as->nroutes;
}

int plan_assoc_links(const struct subnet *subnets, size_t n, const bool *ready,
                     const struct klink *links, size_t nlinks, const struct kaddr_op *pending,
                     size_t npending, struct plan_assoc *out)
{
	struct kaddr *conn = NULL;
	size_t nconn = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = plan_connected(links, nlinks, pending, npending, &conn, &nconn);
	if (rc == 0)
		rc = plan_assoc(subnets, n, ready, conn, nconn, out);
	free(conn);
	return rc;
}

bool plan_copy_for(const struct subnet *sn, const struct kroute *c)
{
	return sn->table == c->table && sn->cidr.addr.family == c->dst.addr.family;
}

size_t plan_assoc_rules(const struct plan_assoc *as, const bool *ready, struct krule *out,
                        size_t *of)
{
	size_t k = 0;

	for (size_t i = 0; i < as->nrules; i++) {
		if (!ready[as->rule_subnet[i]])
			continue;
		of[k] = as->rule_subnet[i];
		out[k++] = as->rules[i];
	}
	return k;
}
