/* The fake kernel of fake_kernel.h. */
#include "fake_kernel.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plan.h"

struct fake fk;

/* Append ops[0..n) (elements of size bytes) and their results to a log. */
static void fake_log(void *log, int *lres, size_t *nlog, const void *ops, size_t n, size_t size,
                     const int *res)
{
	for (size_t i = 0; i < n && *nlog < FAKE_LOG_MAX; i++, (*nlog)++) {
		memcpy((char *)log + *nlog * size, (const char *)ops + i * size, size);
		lres[*nlog] = res[i];
	}
}

/* A malloc'd copy of v[0..nv) (elements of size bytes), taken under the lock. */
static void *fake_copy(const void *v, size_t nv, size_t size, size_t *n)
{
	void *out;

	pthread_mutex_lock(&fk.lock);
	out = malloc(size * (nv + 1));
	memcpy(out, v, size * nv);
	*n = nv;
	pthread_mutex_unlock(&fk.lock);
	return out;
}

static int fake_dump(void *ctx, struct kroute **out, size_t *n)
{
	*out = fake_copy(fk.r, fk.n, sizeof(**out), n);
	return 0;
}

static int fake_find(const struct kroute *k)
{
	for (size_t i = 0; i < fk.n; i++)
		if (plan_kroute_same_key(&fk.r[i], k))
			return (int)i;
	return -1;
}

static int fake_apply(void *ctx, const struct kroute_op *ops, size_t n, int *res)
{
	pthread_mutex_lock(&fk.lock);
	fk.held = true;
	while (fk.hold)
		pthread_cond_wait(&fk.gate, &fk.lock);
	fk.held = false;
	fk.applies++;
	for (size_t i = 0; i < n; i++) {
		int at = fake_find(&ops[i].r);
		uint8_t gw4[4] = {10, 0, 0, 1};

		fk.ops++;
		res[i] = 0;
		if (ops[i].r.via.family == AF_INET && !memcmp(ops[i].r.via.a, gw4, 4)) {
			res[i] = -ENETUNREACH; /* 10.0.0.1 is on no connected network here */
			continue;
		}
		switch (ops[i].kind) {
		case KOP_ADD:
			if (at >= 0) {
				res[i] = -EEXIST;
				break;
			}
			fk.r[fk.n++] = ops[i].r;
			break;
		case KOP_REPLACE:
			if (at >= 0)
				fk.r[at] = ops[i].r;
			else
				fk.r[fk.n++] = ops[i].r;
			break;
		case KOP_DELETE:
			if (at < 0) {
				res[i] = -ESRCH;
				break;
			}
			fk.r[at] = fk.r[--fk.n];
			break;
		}
	}
	fake_log(fk.rlog, fk.rres, &fk.nrlog, ops, n, sizeof(*ops), res);
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_link_index(void *ctx, const char *name)
{
	if (!strcmp(name, "eth0"))
		return 2;
	return !strcmp(name, "eth1") ? 3 : 0;
}

/* lo (1), eth0 (2), eth1 (3), with the owned and the foreign addresses. */
static int fake_links_list(void *ctx, struct klink **out, size_t *n)
{
	struct klink *l = calloc(3, sizeof(*l));

	pthread_mutex_lock(&fk.lock);
	for (int i = 0; i < 3; i++) {
		static const char *const names[] = {"lo", "eth0", "eth1"};

		l[i].ifindex = i + 1;
		snprintf(l[i].name, sizeof(l[i].name), "%s", names[i]);
		l[i].up = i != 2 || !fk.eth1_down;
		l[i].addrs = calloc(2 * FAKE_MAX + 1, sizeof(*l[i].addrs));
	}
	l[0].addrs[l[0].naddrs].addr.family = AF_INET;
	l[0].addrs[l[0].naddrs].addr.a[0] = 127;
	l[0].addrs[l[0].naddrs++].len = 8;
	for (size_t i = 0; i < fk.na + fk.nfa; i++) {
		const struct kaddr *a = i < fk.na ? &fk.a[i] : &fk.fa[i - fk.na];

		if (a->ifindex >= 1 && a->ifindex <= 3)
			l[a->ifindex - 1].addrs[l[a->ifindex - 1].naddrs++] = a->p;
	}
	pthread_mutex_unlock(&fk.lock);
	*out = l;
	*n = 3;
	return 0;
}

static int fake_events_fd(void *ctx)
{
	return fk.efd;
}

static bool fake_events_drain(void *ctx)
{
	uint64_t v;

	return read(fk.efd, &v, sizeof(v)) == sizeof(v);
}

static int fake_addr_dump(void *ctx, struct kaddr **out, size_t *n)
{
	*out = fake_copy(fk.a, fk.na, sizeof(**out), n);
	return 0;
}

static bool fake_foreign(const struct kaddr *a)
{
	for (size_t i = 0; i < fk.nfa; i++)
		if (plan_kaddr_same_key(&fk.fa[i], a))
			return true;
	return false;
}

/*
 * One op on the keyed objects v[0..*n) (size bytes each): add (-EEXIST when
 * the key is there, or taken by someone else) or delete (missing when the
 * key is not there). Call with the lock held.
 */
static int fake_keyed(void *v, size_t *n, size_t size, enum kop_kind kind, const void *obj,
                      bool (*same)(const void *, const void *), bool taken, int missing)
{
	char *base = v;
	size_t j;

	for (j = 0; j < *n && !same(base + j * size, obj); j++)
		;
	if (kind == KOP_DELETE) {
		if (j == *n)
			return missing;
		memcpy(base + j * size, base + --*n * size, size);
		return 0;
	}
	if (j < *n || taken)
		return -EEXIST;
	memcpy(base + (*n)++ * size, obj, size);
	return 0;
}

static bool same_kaddr(const void *a, const void *b)
{
	return plan_kaddr_same_key(a, b);
}

static bool same_krule(const void *a, const void *b)
{
	return plan_krule_same_key(a, b);
}

static int fake_addr_apply(void *ctx, const struct kaddr_op *ops, size_t n, int *res)
{
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < n; i++)
		res[i] = fake_keyed(fk.a, &fk.na, sizeof(*fk.a), ops[i].kind, &ops[i].a, same_kaddr,
		                    fake_foreign(&ops[i].a), -EADDRNOTAVAIL);
	fake_log(fk.alog, fk.ares, &fk.nalog, ops, n, sizeof(*ops), res);
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_rule_dump(void *ctx, struct krule **out, size_t *n)
{
	*out = fake_copy(fk.rl, fk.nrl, sizeof(**out), n);
	return 0;
}

static int fake_rule_apply(void *ctx, const struct krule_op *ops, size_t n, int *res)
{
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < n; i++)
		res[i] = fake_keyed(fk.rl, &fk.nrl, sizeof(*fk.rl), ops[i].kind, &ops[i].r,
		                    same_krule, false, -ENOENT);
	fake_log(fk.rllog, fk.rlres, &fk.nrllog, ops, n, sizeof(*ops), res);
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_fwd_get(void *ctx, bool *v4, bool *v6)
{
	pthread_mutex_lock(&fk.lock);
	*v4 = fk.fwd4;
	*v6 = fk.fwd6;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_fwd_set(void *ctx, bool v4, bool v6)
{
	pthread_mutex_lock(&fk.lock);
	fk.fwd4 = v4;
	fk.fwd6 = v6;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_route_get(void *ctx, const struct kroute_query *q, struct kroute_answer *a)
{
	const struct fake_rget *best = NULL;
	int rc = -ENETUNREACH;

	pthread_mutex_lock(&fk.lock);
	if (fk.nrg_last < FAKE_MAX)
		fk.rg_last[fk.nrg_last++] = *q;
	for (size_t i = 0; i < fk.nrg; i++) {
		const struct fake_rget *g = &fk.rg[i];

		if ((g->iif == -1 || g->iif == q->iif) && cidr_contains(&g->dst, &q->dst) &&
		    (!best || g->dst.len > best->dst.len ||
		     (g->dst.len == best->dst.len && g->iif != -1)))
			best = g;
	}
	memset(a, 0, sizeof(*a));
	if (best) {
		*a = best->a;
		rc = best->rc;
	}
	pthread_mutex_unlock(&fk.lock);
	return rc;
}

static bool flow_match(const struct kflow *f, const struct kflow_query *q)
{
	return (!q->l4proto || q->l4proto == f->l4proto) &&
	       (!q->src.family || cidr_addr_equal(&q->src, &f->src)) &&
	       (!q->dst.family || cidr_addr_equal(&q->dst, &f->dst)) &&
	       (!q->dport || q->dport == f->dport);
}

static int fake_ct_find(void *ctx, const struct kflow_query *q, struct kflow **out, size_t *n)
{
	struct kflow *v = calloc(FAKE_MAX, sizeof(*v));

	if (!v)
		return -ENOMEM;
	*n = 0;
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < fk.nct; i++)
		if (flow_match(&fk.ct[i], q))
			v[(*n)++] = fk.ct[i];
	pthread_mutex_unlock(&fk.lock);
	if (!*n) { /* as the real adapter: nothing found is NULL */
		free(v);
		v = NULL;
	}
	*out = v;
	return 0;
}

int fake_nft_counters(void *nft, struct kcounter **out, size_t *n)
{
	*out = fake_copy(fk.ctr, fk.nctr, sizeof(*fk.ctr), n);
	return 0;
}

const struct kernel_ops fake_ops = {
    .addr_dump = fake_addr_dump,
    .addr_apply = fake_addr_apply,
    .rule_dump = fake_rule_dump,
    .rule_apply = fake_rule_apply,
    .forwarding_get = fake_fwd_get,
    .forwarding_set = fake_fwd_set,
    .route_dump = fake_dump,
    .route_apply = fake_apply,
    .link_index = fake_link_index,
    .links_list = fake_links_list,
    .events_fd = fake_events_fd,
    .events_drain = fake_events_drain,
    .route_get = fake_route_get,
    .ct_find = fake_ct_find,
};

bool fake_has(uint8_t a0, uint8_t a1)
{
	bool has = false;

	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < fk.n; i++)
		has = has || (fk.r[i].dst.addr.a[0] == a0 && fk.r[i].dst.addr.a[1] == a1);
	pthread_mutex_unlock(&fk.lock);
	return has;
}

size_t fake_count(void)
{
	size_t n;

	pthread_mutex_lock(&fk.lock);
	n = fk.n;
	pthread_mutex_unlock(&fk.lock);
	return n;
}
