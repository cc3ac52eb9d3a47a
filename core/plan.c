/*
 * The route planner. Both sides are sorted by key (table, family, prefix,
 * metric) through arrays of pointers and merged, so a plan over 100,000
 * routes is O(n log n) and touches neither input array.
 */
#include "plan.h"

#include <assert.h>
#include <errno.h>
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

static int key_cmp(const struct kroute *a, const struct kroute *b)
{
	int c;

	c = cmp_u32(a->table, b->table);
	if (c)
		return c;
	c = (a->dst.addr.family > b->dst.addr.family) - (a->dst.addr.family < b->dst.addr.family);
	if (c)
		return c;
	c = (a->dst.len > b->dst.len) - (a->dst.len < b->dst.len);
	if (c)
		return c;
	c = memcmp(a->dst.addr.a, b->dst.addr.a, addr_bytes(a->dst.addr.family));
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
