/*
 * What the kernel holds compared with a compiled ruleset (sgc_check): every
 * chain, rule, set with its elements and counter, as the kernel dumps them.
 */
#include "sgc_int.h"

#include <assert.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 4096 /* one rule's expressions, or one element, as text */

/* A rule's expressions as libnftnl prints them, without table/chain/handle. */
static void rule_text(const struct nftnl_rule *r, char *buf, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	size_t off = 0;

	buf[0] = '\0';
	if (!it)
		return;
	while ((e = nftnl_expr_iter_next(it)) && off + 2 < len) {
		int n = nftnl_expr_snprintf(buf + off, len - off, e, NFTNL_OUTPUT_DEFAULT, 0);

		if (n < 0)
			break;
		off += (size_t)n < len - off ? (size_t)n : len - off - 1;
		off += (size_t)snprintf(buf + off, len - off, "; ");
		if (off >= len)
			off = len - 1;
	}
	nftnl_expr_iter_destroy(it);
}

static void hex(char *out, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* One kernel element as comparable text: key, key end, interval-end flag, verdict. */
static char *elem_text(struct nftnl_set_elem *e)
{
	char k[2 * 64 + 1] = "", ke[2 * 64 + 1] = "", *out;
	const void *p;
	uint32_t n = 0, flags = 0, verdict = 0;
	const char *chain = "";

	p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &n);
	if (p && n <= 64)
		hex(k, p, n);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_KEY_END)) {
		p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &n);
		if (p && n <= 64)
			hex(ke, p, n);
	}
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
		flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END;
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
		verdict = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
	if (asprintf(&out, "%s-%s/%u:%d:%s", k, ke, flags, (int)verdict, chain) < 0)
		return NULL;
	return out;
}

struct texts {
	char **v;
	size_t n, cap;
	int err;
};

static int texts_elem_cb(struct nftnl_set_elem *e, void *data)
{
	struct texts *t = data;
	char *s = elem_text(e);
	int err = s ? vr_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v), SGC_SET_ELEMS_MAX)
	            : -ENOMEM;

	if (err) {
		free(s);
		t->err = err;
		return -1;
	}
	t->v[t->n++] = s;
	return 0;
}

static void texts_free(struct texts *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* The elements the kernel should hold for s, as sorted text. */
static int expected_elems(const struct ir_set *s, struct texts *t)
{
	struct nftnl_set *ns = nftnl_set_alloc();
	int rc = ns ? 0 : -ENOMEM;

	for (size_t i = 0; i < s->nel && !rc; i++)
		rc = sgc_kernel_elems(ns, s, &s->el[i], false);
	if (!rc) {
		nftnl_set_elem_foreach(ns, texts_elem_cb, t);
		rc = t->err;
	}
	if (ns)
		nftnl_set_free(ns);
	if (!rc)
		sgc_sort(t->v, t->n, sizeof(*t->v), sgc_str_cmp);
	return rc;
}

struct check {
	const struct sgc *c;
	char *why;
	size_t len;
	int rc;         /* 0 same so far, 1 differs, -errno */
	size_t *nrules; /* per chain of c: rules seen so far */
	bool *seen;     /* per chain / set / counter of c */
	char *a, *b;    /* TEXT_MAX scratch */
};

static int differs(struct check *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int differs(struct check *k, const char *fmt, ...)
{
	va_list ap;

	if (k->rc)
		return -1;
	k->rc = 1;
	va_start(ap, fmt);
	vsnprintf(k->why, k->len, fmt, ap);
	va_end(ap);
	return -1;
}

static int check_chain_cb(struct nftnl_chain *kc, void *data)
{
	struct check *k = data;
	const char *name = nftnl_chain_get_str(kc, NFTNL_CHAIN_NAME);
	const struct ir_chain *ch;
	bool base = nftnl_chain_is_set(kc, NFTNL_CHAIN_HOOKNUM);

	ch = name ? sgc_search(name, k->c->chains, k->c->nchains, sizeof(*ch), sgc_name_cmp) : NULL;
	if (!ch)
		return differs(k, "chain %s is not ours", name ? name : "?");
	if (ch->base != base || (base && nftnl_chain_get_u32(kc, NFTNL_CHAIN_HOOKNUM) != ch->hook))
		return differs(k, "chain %s has another hook", name);
	if (base && nftnl_chain_is_set(kc, NFTNL_CHAIN_POLICY) &&
	    nftnl_chain_get_u32(kc, NFTNL_CHAIN_POLICY) != NF_ACCEPT)
		return differs(k, "chain %s has another policy", name);
	k->seen[ch - k->c->chains] = true;
	return 0;
}

static int check_rule_cb(struct nftnl_rule *kr, void *data)
{
	struct check *k = data;
	const char *name = nftnl_rule_get_str(kr, NFTNL_RULE_CHAIN);
	const struct ir_chain *ch;
	struct nftnl_rule *want;
	size_t ci, i;
	int rc;

	ch = name ? sgc_search(name, k->c->chains, k->c->nchains, sizeof(*ch), sgc_name_cmp) : NULL;
	if (!ch)
		return differs(k, "a rule in chain %s, which is not ours", name ? name : "?");
	ci = (size_t)(ch - k->c->chains);
	i = k->nrules[ci]++;
	if (i >= ch->nr)
		return differs(k, "chain %s has more than its %zu rule(s)", ch->name, ch->nr);
	want = nftnl_rule_alloc();
	if (!want) {
		k->rc = -ENOMEM;
		return -1;
	}
	rc = sgc_rule_exprs(want, &ch->r[i]);
	rule_text(want, k->a, TEXT_MAX);
	nftnl_rule_free(want);
	if (rc) {
		k->rc = rc;
		return -1;
	}
	rule_text(kr, k->b, TEXT_MAX);
	if (strcmp(k->a, k->b))
		return differs(k, "chain %s rule %zu differs", ch->name, i + 1);
	return 0;
}

static int check_set_cb(struct nftnl_set *ks, void *data)
{
	struct check *k = data;
	const char *name = nftnl_set_get_str(ks, NFTNL_SET_NAME);
	const struct ir_set *s;
	struct texts want = {0}, got = {0};
	uint32_t flags;

	s = name ? sgc_search(name, k->c->sets, k->c->nsets, sizeof(*s), sgc_name_cmp) : NULL;
	if (!s)
		return differs(k, "set %s is not ours", name ? name : "?");
	flags = nftnl_set_get_u32(ks, NFTNL_SET_FLAGS);
	if (nftnl_set_get_u32(ks, NFTNL_SET_KEY_TYPE) != sgc_key_type(s->shape, s->family) ||
	    nftnl_set_get_u32(ks, NFTNL_SET_KEY_LEN) != sgc_key_len(s->shape, s->family) ||
	    !(flags & NFT_SET_MAP) != !s->map ||
	    !(flags & NFT_SET_INTERVAL) != !sgc_shape_interval(s->shape))
		return differs(k, "set %s has another type", name);
	k->seen[k->c->nchains + (size_t)(s - k->c->sets)] = true;
	if (expected_elems(s, &want)) {
		k->rc = -ENOMEM;
		goto out;
	}
	nftnl_set_elem_foreach(ks, texts_elem_cb, &got);
	if (got.err) {
		k->rc = got.err;
		goto out;
	}
	sgc_sort(got.v, got.n, sizeof(*got.v), sgc_str_cmp);
	if (got.n != want.n) {
		differs(k, "set %s has %zu element(s), not %zu", name, got.n, want.n);
		goto out;
	}
	for (size_t i = 0; i < got.n; i++) {
		if (strcmp(got.v[i], want.v[i])) {
			differs(k, "set %s: element %s instead of %s", name, got.v[i], want.v[i]);
			goto out;
		}
	}
out:
	texts_free(&want);
	texts_free(&got);
	return k->rc ? -1 : 0;
}

static int check_obj_cb(struct nftnl_obj *o, void *data)
{
	struct check *k = data;
	const char *name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME);
	const struct ir_counter *ctr;

	ctr = name ? sgc_search(name, k->c->ctrs, k->c->nctrs, sizeof(*ctr), sgc_name_cmp) : NULL;
	if (!ctr || nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER)
		return differs(k, "object %s is not ours", name ? name : "?");
	k->seen[k->c->nchains + k->c->nsets + (size_t)(ctr - k->c->ctrs)] = true;
	return 0;
}

int sgc_check(const struct sgc *c, struct nftnl_chain_list *chains, struct nftnl_rule_list *rules,
              struct nftnl_set_list *sets, struct nftnl_obj_list *objs, char *why, size_t len)
{
	size_t total = c->nchains + c->nsets + c->nctrs;
	struct check k = {.c = c, .why = why, .len = len};

	why[0] = '\0';
	assert(sgc_ir_sorted(c)); /* its objects are found by name with bsearch */
	k.nrules = calloc(c->nchains + 1, sizeof(*k.nrules));
	k.seen = calloc(total + 1, sizeof(*k.seen));
	k.a = malloc(TEXT_MAX);
	k.b = malloc(TEXT_MAX);
	if (!k.nrules || !k.seen || !k.a || !k.b) {
		k.rc = -ENOMEM;
		goto out;
	}
	nftnl_chain_list_foreach(chains, check_chain_cb, &k);
	if (!k.rc)
		nftnl_rule_list_foreach(rules, check_rule_cb, &k);
	if (!k.rc)
		nftnl_set_list_foreach(sets, check_set_cb, &k);
	if (!k.rc)
		nftnl_obj_list_foreach(objs, check_obj_cb, &k);
	for (size_t i = 0; i < c->nchains && !k.rc; i++) {
		if (!k.seen[i])
			differs(&k, "chain %s is missing", c->chains[i].name);
		else if (k.nrules[i] != c->chains[i].nr)
			differs(&k, "chain %s has %zu rule(s), not %zu", c->chains[i].name,
			        k.nrules[i], c->chains[i].nr);
	}
	for (size_t i = 0; i < c->nsets && !k.rc; i++)
		if (!k.seen[c->nchains + i])
			differs(&k, "set %s is missing", c->sets[i].name);
	for (size_t i = 0; i < c->nctrs && !k.rc; i++)
		if (!k.seen[c->nchains + c->nsets + i])
			differs(&k, "counter %s is missing", c->ctrs[i].name);
out:
	free(k.nrules);
	free(k.seen);
	free(k.a);
	free(k.b);
	return k.rc;
}
