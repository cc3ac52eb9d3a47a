/*
 * The security-group compiler's intermediate representation: building,
 * sorting, comparing and freeing it, and the small helpers its siblings
 * share (see sgc_int.h).
 */
#include "sgc_int.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

/* nftables' datatype ids (its src/datatype.h): `nft list` prints our sets with these types. */
#define DT_IPADDR 7
#define DT_IP6ADDR 8
#define DT_INET_PROTO 12
#define DT_INET_SERVICE 13
#define DT_ICMP6_TYPE 29
#define DT_BITS 6

/* Named objects start with their name, then their origin: sgc_name_cmp and named_add. */
#define NAMED_FIRST(T)                                                                             \
	_Static_assert(offsetof(struct T, name) == 0 &&                                            \
	                   offsetof(struct T, origin) == SGC_NAME_MAX,                             \
	               #T " starts with name and origin")
NAMED_FIRST(ir_set);
NAMED_FIRST(ir_chain);
NAMED_FIRST(ir_counter);

/* ---- helpers ---- */

void sgc_sort(void *v, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(v, n, sz, cmp);
}

void *sgc_search(const void *key, const void *v, size_t n, size_t sz,
                 int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, v, n, sz, cmp) : NULL;
}

int sgc_name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int sgc_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sgc_name(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, SGC_NAME_MAX, fmt, ap);
	va_end(ap);
}

bool sgc_next_name(const char **p, char *name)
{
	size_t n;

	if (!*p || !**p)
		return false;
	n = strcspn(*p, " ");
	snprintf(name, SGC_NAME_MAX, "%.*s", (int)n, *p);
	*p += n;
	*p += **p == ' ';
	return true;
}

const char *sgc_hook_name(uint32_t hook)
{
	switch (hook) {
	case NF_INET_FORWARD: return "forward";
	case NF_INET_LOCAL_IN: return "input";
	case NF_INET_LOCAL_OUT: return "output";
	}
	return "?";
}

int sgc_fam_nfproto(int family)
{
	return family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

struct prange sgc_rule_ports(const struct sg_rule *r)
{
	uint16_t a = r->port_from, b = r->port_to;

	if (!r->has_ports)
		return (struct prange){0, 65535};
	return (struct prange){a < b ? a : b, a < b ? b : a};
}

bool sgc_icmp_fits(enum sg_protocol p, int fam)
{
	if (p == SG_PROTO_ICMP)
		return fam == AF_INET;
	if (p == SG_PROTO_ICMPV6)
		return fam == AF_INET6;
	return true;
}

bool sgc_target_of(const struct sg_target *t, int fam)
{
	return !t->local && t->p.addr.family == fam;
}

int sgc_fam_digit(int family)
{
	return family == AF_INET6 ? 6 : 4;
}

size_t sgc_key_len(enum set_shape s, int family)
{
	size_t alen = cidr_addr_len(family);

	switch (s) {
	case SHAPE_ADDR: return alen;
	case SHAPE_ADDR_PROTO_PORT: return alen + 8;
	case SHAPE_PROTO_PORT: return 8;
	case SHAPE_ICMP6_TYPE: return 1;
	}
	return 0;
}

uint32_t sgc_key_type(enum set_shape s, int family)
{
	uint32_t at = family == AF_INET6 ? DT_IP6ADDR : DT_IPADDR;

	switch (s) {
	case SHAPE_ADDR: return at;
	case SHAPE_ADDR_PROTO_PORT:
		return (at << 2 * DT_BITS) | (DT_INET_PROTO << DT_BITS) | DT_INET_SERVICE;
	case SHAPE_PROTO_PORT: return (DT_INET_PROTO << DT_BITS) | DT_INET_SERVICE;
	case SHAPE_ICMP6_TYPE: return DT_ICMP6_TYPE;
	}
	return 0;
}

bool sgc_shape_concat(enum set_shape s)
{
	return s == SHAPE_ADDR_PROTO_PORT || s == SHAPE_PROTO_PORT;
}

bool sgc_shape_interval(enum set_shape s)
{
	return s != SHAPE_ICMP6_TYPE;
}

/* ---- building ---- */

void sgc_set_clear(struct ir_set *s)
{
	for (size_t i = 0; i < s->nel; i++)
		free(s->el[i].chain);
	free(s->el);
	s->el = NULL;
	s->nel = s->cap = 0;
}

static void chain_clear(struct ir_chain *ch)
{
	for (size_t i = 0; i < ch->nr; i++)
		free(ch->r[i].counters);
	free(ch->r);
	ch->r = NULL;
	ch->nr = ch->cap = 0;
}

void sgc_clear(struct sgc *c)
{
	for (size_t i = 0; i < c->nsets; i++)
		sgc_set_clear(&c->sets[i]);
	for (size_t i = 0; i < c->nchains; i++)
		chain_clear(&c->chains[i]);
	c->nsets = c->nchains = c->nctrs = 0;
}

void sgc_free(struct sgc *c)
{
	if (!c)
		return;
	sgc_clear(c);
	free(c->sets);
	free(c->chains);
	free(c->ctrs);
	free(c);
}

/*
 * Append a zeroed named object of sz bytes to the array *v of *n: its name
 * and origin first (see the asserts above). NULL when out of memory.
 */
static void *named_add(void **v, size_t *n, size_t *cap, size_t sz, const char *name,
                       const char *origin)
{
	char *p;

	if (vr_grow(v, cap, *n + 1, sz, SGC_OBJS_MAX))
		return NULL;
	p = (char *)*v + (*n)++ * sz;
	memset(p, 0, sz);
	snprintf(p, SGC_NAME_MAX, "%s", name);
	snprintf(p + SGC_NAME_MAX, ID_MAX, "%s", origin ? origin : "");
	return p;
}

struct ir_set *sgc_set_add(struct sgc *c, const char *name, enum set_shape shape, int family,
                           bool map, const char *origin)
{
	struct ir_set *s =
	    named_add((void **)&c->sets, &c->nsets, &c->capsets, sizeof(*s), name, origin);

	if (s) {
		s->shape = shape;
		s->family = family;
		s->map = map;
	}
	return s;
}

struct ir_set *sgc_set_find(struct sgc *c, const char *name)
{
	for (size_t i = 0; i < c->nsets; i++)
		if (!strcmp(c->sets[i].name, name))
			return &c->sets[i];
	return NULL;
}

struct ir_chain *sgc_chain_find(struct sgc *c, const char *name)
{
	for (size_t i = 0; i < c->nchains; i++)
		if (!strcmp(c->chains[i].name, name))
			return &c->chains[i];
	return NULL;
}

struct ir_chain *sgc_chain_add(struct sgc *c, const char *name, bool base, uint32_t hook,
                               const char *origin)
{
	struct ir_chain *ch =
	    named_add((void **)&c->chains, &c->nchains, &c->capchains, sizeof(*ch), name, origin);

	if (ch) {
		ch->base = base;
		ch->hook = hook;
	}
	return ch;
}

struct ir_rule *sgc_rule_add(struct ir_chain *ch, enum rule_kind k)
{
	struct ir_rule *r;

	if (vr_grow((void **)&ch->r, &ch->cap, ch->nr + 1, sizeof(*ch->r), SGC_CHAIN_RULES_MAX))
		return NULL;
	r = &ch->r[ch->nr++];
	memset(r, 0, sizeof(*r));
	r->kind = k;
	return r;
}

int sgc_counter_add(struct sgc *c, const char *name, const char *origin)
{
	for (size_t i = 0; i < c->nctrs; i++)
		if (!strcmp(c->ctrs[i].name, name))
			return 0;
	if (!named_add((void **)&c->ctrs, &c->nctrs, &c->capctrs, sizeof(*c->ctrs), name, origin))
		return -ENOMEM;
	return 0;
}

struct ir_elem *sgc_elem_add(struct ir_set *s)
{
	struct ir_elem *e;

	if (vr_grow((void **)&s->el, &s->cap, s->nel + 1, sizeof(*s->el), SGC_SET_ELEMS_MAX))
		return NULL;
	e = &s->el[s->nel++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* ---- sorting ---- */

int sgc_elem_order(const struct ir_elem *a, const struct ir_elem *b)
{
	return memcmp(a->lo, b->lo, KEY_MAX);
}

static int elem_lo_cmp(const void *a, const void *b)
{
	return sgc_elem_order(a, b);
}

void sgc_ir_sort(struct sgc *c)
{
	for (size_t i = 0; i < c->nsets; i++)
		sgc_sort(c->sets[i].el, c->sets[i].nel, sizeof(*c->sets[i].el), elem_lo_cmp);
	sgc_sort(c->sets, c->nsets, sizeof(*c->sets), sgc_name_cmp);
	sgc_sort(c->chains, c->nchains, sizeof(*c->chains), sgc_name_cmp);
	sgc_sort(c->ctrs, c->nctrs, sizeof(*c->ctrs), sgc_name_cmp);
}

/* Names strictly increasing: sorted, each once. */
static bool names_sorted(const void *v, size_t n, size_t sz)
{
	const char *p = v;

	for (size_t i = 1; i < n; i++)
		if (sgc_name_cmp(p + (i - 1) * sz, p + i * sz) >= 0)
			return false;
	return true;
}

/* Each element an interval (lo <= hi), first keys strictly increasing. */
static bool elems_sorted(const struct ir_set *s)
{
	for (size_t i = 0; i < s->nel; i++) {
		if (memcmp(s->el[i].lo, s->el[i].hi, KEY_MAX) > 0)
			return false;
		if (i && sgc_elem_order(&s->el[i - 1], &s->el[i]) >= 0)
			return false;
	}
	return true;
}

bool sgc_ir_sorted(const struct sgc *c)
{
	if (!names_sorted(c->sets, c->nsets, sizeof(*c->sets)) ||
	    !names_sorted(c->chains, c->nchains, sizeof(*c->chains)) ||
	    !names_sorted(c->ctrs, c->nctrs, sizeof(*c->ctrs)))
		return false;
	for (size_t i = 0; i < c->nsets; i++)
		if (!elems_sorted(&c->sets[i]))
			return false;
	return true;
}

/* ---- reading ---- */

bool sgc_empty(const struct sgc *c)
{
	return !c || c->empty;
}

uint32_t sgc_table_flags(const struct sgc *c)
{
	return c ? c->table_flags : 0;
}

void sgc_counts(const struct sgc *c, size_t *sets, size_t *chains, size_t *counters, size_t *elems)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nsets; i++)
		n += c->sets[i].nel;
	if (sets)
		*sets = c->nsets;
	if (chains)
		*chains = c->nchains;
	if (counters)
		*counters = c->nctrs;
	if (elems)
		*elems = n;
}

/* ---- comparing ---- */

/* Two optional strings: both absent, or both present and equal. */
static bool opt_str_equal(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

bool sgc_elem_equal(const struct ir_elem *a, const struct ir_elem *b)
{
	if (memcmp(a->lo, b->lo, KEY_MAX) || memcmp(a->hi, b->hi, KEY_MAX))
		return false;
	return opt_str_equal(a->chain, b->chain);
}

bool sgc_set_meta_equal(const struct ir_set *a, const struct ir_set *b)
{
	return a->shape == b->shape && a->family == b->family && a->map == b->map;
}

static bool set_equal(const struct ir_set *a, const struct ir_set *b)
{
	if (strcmp(a->name, b->name) || !sgc_set_meta_equal(a, b) || a->nel != b->nel)
		return false;
	for (size_t i = 0; i < a->nel; i++)
		if (!sgc_elem_equal(&a->el[i], &b->el[i]))
			return false;
	return true;
}

static bool rule_equal(const struct ir_rule *a, const struct ir_rule *b)
{
	if (a->kind != b->kind || a->family != b->family || a->daddr != b->daddr ||
	    a->has_addr != b->has_addr || memcmp(a->addr, b->addr, sizeof(a->addr)) ||
	    a->port != b->port || strcmp(a->a, b->a) || strcmp(a->b, b->b))
		return false;
	return opt_str_equal(a->counters, b->counters);
}

bool sgc_chain_rules_equal(const struct ir_chain *a, const struct ir_chain *b)
{
	if (a->nr != b->nr)
		return false;
	for (size_t i = 0; i < a->nr; i++)
		if (!rule_equal(&a->r[i], &b->r[i]))
			return false;
	return true;
}

bool sgc_equal(const struct sgc *a, const struct sgc *b)
{
	if (a->table_flags != b->table_flags || a->empty != b->empty || a->nsets != b->nsets ||
	    a->nchains != b->nchains || a->nctrs != b->nctrs)
		return false;
	for (size_t i = 0; i < a->nsets; i++)
		if (!set_equal(&a->sets[i], &b->sets[i]))
			return false;
	for (size_t i = 0; i < a->nchains; i++)
		if (strcmp(a->chains[i].name, b->chains[i].name) ||
		    a->chains[i].base != b->chains[i].base ||
		    a->chains[i].hook != b->chains[i].hook ||
		    !sgc_chain_rules_equal(&a->chains[i], &b->chains[i]))
			return false;
	for (size_t i = 0; i < a->nctrs; i++)
		if (strcmp(a->ctrs[i].name, b->ctrs[i].name))
			return false;
	return true;
}
