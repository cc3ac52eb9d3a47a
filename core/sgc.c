#include "sgc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* nftables' datatype ids (its src/datatype.h): `nft list` prints our sets with these types. */
#define DT_IPADDR 7
#define DT_IP6ADDR 8
#define DT_INET_PROTO 12
#define DT_INET_SERVICE 13
#define DT_ICMP6_TYPE 29
#define DT_BITS 6

/* ct state bits as the ct expression reports them (NF_CT_STATE_BIT). */
#define CT_INVALID 0x1u
#define CT_ESTABLISHED 0x2u
#define CT_RELATED 0x4u

#define LOOPBACK_IFINDEX 1 /* "lo" in every network namespace */
#define KEY_MAX 24         /* ip6 addr . proto . port, each field padded to 4 bytes */
#define NUM_LEN 17         /* a 128-bit address plus one carry byte */

/* ICMPv6 types that conntrack cannot track and the network needs: ND, RA, MLD. */
static const uint8_t nd6_types[] = {130, 131, 132, 133, 134, 135, 136, 137, 143};

/* ---- the intermediate representation ---- */

struct ir_elem {
	uint8_t lo[KEY_MAX]; /* first key of the interval, fields padded */
	uint8_t hi[KEY_MAX]; /* last key, inclusive */
	char *chain;         /* maps: "jump chain"; NULL in sets */
};

enum set_shape {
	SHAPE_ADDR,            /* ipv4_addr or ipv6_addr, interval */
	SHAPE_ADDR_PROTO_PORT, /* addr . inet_proto . inet_service, interval */
	SHAPE_PROTO_PORT,      /* inet_proto . inet_service, interval */
	SHAPE_ICMP6_TYPE,      /* icmpv6_type, exact */
};

struct ir_set {
	char name[SGC_NAME_MAX];
	char origin[ID_MAX];
	enum set_shape shape;
	int family; /* AF_INET / AF_INET6 for address shapes, 0 otherwise */
	bool map;   /* verdict map */
	struct ir_elem *el;
	size_t nel, cap;
};

enum rule_kind {
	RK_CT_ESTREL,    /* ct state established,related accept */
	RK_CT_INVALID,   /* ct state invalid drop */
	RK_ND,           /* icmpv6 type @set accept */
	RK_IIF_LO,       /* iif lo accept */
	RK_OIF_LO,       /* oif lo accept */
	RK_API,          /* meta nfproto F [ip[6] daddr ADDR] tcp dport PORT accept */
	RK_VMAP,         /* ip[6] s/daddr vmap @set */
	RK_JUMP,         /* jump chain */
	RK_CIDR_PORTS,   /* ip[6] addr . meta l4proto . th dport @set accept */
	RK_CIDR_ICMP,    /* meta l4proto icmp[v6] ip[6] addr @set accept */
	RK_CIDR_ALL,     /* ip[6] addr @set accept */
	RK_REMOTE_ALL,   /* ip[6] addr @members accept */
	RK_REMOTE_ICMP,  /* ip[6] addr @members meta l4proto icmp[v6] accept */
	RK_REMOTE_PORTS, /* ip[6] addr @members meta l4proto . th dport @set accept */
	RK_DROP,         /* counter name ... drop */
};

struct ir_rule {
	enum rule_kind kind;
	int family;           /* AF_INET / AF_INET6 where the rule is family-specific */
	bool daddr;           /* match the destination address (else the source) */
	bool has_addr;        /* RK_API: match addr too (else every address) */
	uint8_t addr[16];     /* RK_API: the API's address, cidr_addr_len(family) bytes */
	uint16_t port;        /* RK_API: host order */
	char a[SGC_NAME_MAX]; /* set, map, member set or chain */
	char b[SGC_NAME_MAX]; /* RK_REMOTE_PORTS: the proto . port set */
	char *counters;       /* RK_DROP: counter names separated by spaces */
};

struct ir_chain {
	char name[SGC_NAME_MAX];
	char origin[ID_MAX];
	bool base;
	uint32_t hook; /* NF_INET_* */
	struct ir_rule *r;
	size_t nr, cap;
};

struct ir_counter {
	char name[SGC_NAME_MAX];
	char origin[ID_MAX];
};

struct sgc {
	uint32_t table_flags;
	bool empty;
	struct ir_set *sets;
	size_t nsets, capsets;
	struct ir_chain *chains;
	size_t nchains, capchains;
	struct ir_counter *ctrs;
	size_t nctrs, capctrs;
};

/* ---- small helpers ---- */

static int grow(void **v, size_t *cap, size_t need, size_t elsz)
{
	size_t n = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, n * elsz);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

/* qsort and bsearch, tolerating an empty (possibly NULL) array. */
static void sort(void *v, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(v, n, sz, cmp);
}

static void *search(const void *key, const void *v, size_t n, size_t sz,
                    int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, v, n, sz, cmp) : NULL;
}

static void fmt_name(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fmt_name(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, SGC_NAME_MAX, fmt, ap);
	va_end(ap);
}

static const char *hook_name(uint32_t hook)
{
	switch (hook) {
	case NF_INET_FORWARD: return "forward";
	case NF_INET_LOCAL_IN: return "input";
	case NF_INET_LOCAL_OUT: return "output";
	}
	return "?";
}

static int fam_nfproto(int family)
{
	return family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

static int fam_digit(int family)
{
	return family == AF_INET6 ? 6 : 4;
}

/* Length in bytes of the set key (fields padded to 4 bytes) and of each field. */
static size_t shape_key_len(enum set_shape s, int family)
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

static uint32_t shape_key_type(enum set_shape s, int family)
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

static bool shape_concat(enum set_shape s)
{
	return s == SHAPE_ADDR_PROTO_PORT || s == SHAPE_PROTO_PORT;
}

static bool shape_interval(enum set_shape s)
{
	return s != SHAPE_ICMP6_TYPE;
}

/* ---- the IR: building ---- */

static void set_clear(struct ir_set *s)
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

void sgc_free(struct sgc *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsets; i++)
		set_clear(&c->sets[i]);
	for (size_t i = 0; i < c->nchains; i++)
		chain_clear(&c->chains[i]);
	free(c->sets);
	free(c->chains);
	free(c->ctrs);
	free(c);
}

static struct ir_set *add_set(struct sgc *c, const char *name, enum set_shape shape, int family,
                              bool map, const char *origin)
{
	struct ir_set *s;

	if (grow((void **)&c->sets, &c->capsets, c->nsets + 1, sizeof(*c->sets)))
		return NULL;
	s = &c->sets[c->nsets++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->origin, sizeof(s->origin), "%s", origin ? origin : "");
	s->shape = shape;
	s->family = family;
	s->map = map;
	return s;
}

static struct ir_chain *find_chain(struct sgc *c, const char *name)
{
	for (size_t i = 0; i < c->nchains; i++)
		if (!strcmp(c->chains[i].name, name))
			return &c->chains[i];
	return NULL;
}

static struct ir_chain *add_chain(struct sgc *c, const char *name, bool base, uint32_t hook,
                                  const char *origin)
{
	struct ir_chain *ch;

	if (grow((void **)&c->chains, &c->capchains, c->nchains + 1, sizeof(*c->chains)))
		return NULL;
	ch = &c->chains[c->nchains++];
	memset(ch, 0, sizeof(*ch));
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	snprintf(ch->origin, sizeof(ch->origin), "%s", origin ? origin : "");
	ch->base = base;
	ch->hook = hook;
	return ch;
}

static struct ir_rule *add_rule(struct ir_chain *ch, enum rule_kind k)
{
	struct ir_rule *r;

	if (grow((void **)&ch->r, &ch->cap, ch->nr + 1, sizeof(*ch->r)))
		return NULL;
	r = &ch->r[ch->nr++];
	memset(r, 0, sizeof(*r));
	r->kind = k;
	return r;
}

static int add_counter(struct sgc *c, const char *name, const char *origin)
{
	struct ir_counter *k;

	for (size_t i = 0; i < c->nctrs; i++)
		if (!strcmp(c->ctrs[i].name, name))
			return 0;
	if (grow((void **)&c->ctrs, &c->capctrs, c->nctrs + 1, sizeof(*c->ctrs)))
		return -ENOMEM;
	k = &c->ctrs[c->nctrs++];
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->origin, sizeof(k->origin), "%s", origin ? origin : "");
	return 0;
}

static struct ir_elem *add_elem(struct ir_set *s)
{
	struct ir_elem *e;

	if (grow((void **)&s->el, &s->cap, s->nel + 1, sizeof(*s->el)))
		return NULL;
	e = &s->el[s->nel++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* ---- interval arithmetic: addresses as 17-byte big-endian numbers ---- */

struct num {
	uint8_t b[NUM_LEN]; /* right-aligned: an IPv4 address occupies the last 4 bytes */
};

static int num_cmp(const struct num *a, const struct num *b)
{
	return memcmp(a->b, b->b, NUM_LEN);
}

static void num_inc(struct num *n)
{
	for (int i = NUM_LEN - 1; i >= 0; i--)
		if (++n->b[i])
			break;
}

static void num_dec(struct num *n)
{
	for (int i = NUM_LEN - 1; i >= 0; i--)
		if (n->b[i]--)
			break;
}

/* The addresses of p as [lo, hi_excl). */
static void prefix_span(const struct prefix *p, struct num *lo, struct num *hi_excl)
{
	size_t alen = cidr_addr_len(p->addr.family);
	struct num h;

	memset(lo, 0, sizeof(*lo));
	memset(&h, 0, sizeof(h));
	for (size_t i = 0; i < alen; i++) {
		int bits = (int)p->len - (int)(8 * i);
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));

		lo->b[NUM_LEN - alen + i] = p->addr.a[i] & mask;
		h.b[NUM_LEN - alen + i] = (p->addr.a[i] & mask) | (uint8_t)~mask;
	}
	num_inc(&h);
	*hi_excl = h;
}

/* The address bytes (alen of them) of n. */
static const uint8_t *num_addr(const struct num *n, size_t alen)
{
	return n->b + NUM_LEN - alen;
}

/* A segment [lo, hi_excl) of the address line, tagged with what covers it. */
struct seg {
	struct num lo, hi_excl;
	size_t tag;
};

struct ev {
	struct num at;
	size_t tag;
	bool add;
};

static int ev_cmp(const void *a, const void *b)
{
	return num_cmp(&((const struct ev *)a)->at, &((const struct ev *)b)->at);
}

/* Called for each elementary interval [lo, hi_excl) with the tags covering it (unsorted). */
typedef int (*sweep_cb)(void *ctx, const struct num *lo, const struct num *hi_excl,
                        const size_t *tags, size_t ntags);

/*
 * Split the address line at every segment boundary and report each piece
 * that some segment covers, left to right: the disjoint intervals that nft
 * interval sets need, whatever the overlaps of the input.
 */
static int sweep(const struct seg *s, size_t n, sweep_cb cb, void *ctx)
{
	struct ev *ev = NULL;
	size_t *act = NULL, nact = 0, i = 0;
	int rc = 0;

	if (!n)
		return 0;
	ev = calloc(2 * n, sizeof(*ev));
	act = calloc(n, sizeof(*act));
	if (!ev || !act) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		ev[2 * k] = (struct ev){.at = s[k].lo, .tag = s[k].tag, .add = true};
		ev[2 * k + 1] = (struct ev){.at = s[k].hi_excl, .tag = s[k].tag, .add = false};
	}
	sort(ev, 2 * n, sizeof(*ev), ev_cmp);
	while (i < 2 * n) {
		struct num at = ev[i].at;

		for (; i < 2 * n && !num_cmp(&ev[i].at, &at); i++) {
			if (ev[i].add) {
				act[nact++] = ev[i].tag;
				continue;
			}
			for (size_t k = 0; k < nact; k++) {
				if (act[k] == ev[i].tag) {
					act[k] = act[--nact];
					break;
				}
			}
		}
		if (nact && i < 2 * n) {
			rc = cb(ctx, &at, &ev[i].at, act, nact);
			if (rc)
				goto out;
		}
	}
out:
	free(ev);
	free(act);
	return rc;
}

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and deduplicate in place; returns the new count. */
static size_t sort_unique(size_t *v, size_t n)
{
	size_t m = 0;

	sort(v, n, sizeof(*v), size_cmp);
	for (size_t i = 0; i < n; i++)
		if (!m || v[m - 1] != v[i])
			v[m++] = v[i];
	return m;
}

/* A port range, inclusive. */
struct prange {
	uint16_t lo, hi;
};

static int prange_cmp(const void *a, const void *b)
{
	const struct prange *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->hi > y->hi) - (x->hi < y->hi);
}

/* Union of port ranges, sorted and merged (adjacent ranges too); returns the count. */
static size_t prange_union(struct prange *v, size_t n)
{
	size_t m = 0;

	sort(v, n, sizeof(*v), prange_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && (uint32_t)v[i].lo <= (uint32_t)v[m - 1].hi + 1) {
			if (v[i].hi > v[m - 1].hi)
				v[m - 1].hi = v[i].hi;
		} else {
			v[m++] = v[i];
		}
	}
	return m;
}

/* ---- element keys ---- */

static void key_addr_proto_port(uint8_t *k, const uint8_t *addr, size_t alen, uint8_t proto,
                                uint16_t port)
{
	memset(k, 0, KEY_MAX);
	memcpy(k, addr, alen);
	k[alen] = proto;
	k[alen + 4] = (uint8_t)(port >> 8);
	k[alen + 5] = (uint8_t)port;
}

static void key_proto_port(uint8_t *k, uint8_t proto, uint16_t port)
{
	memset(k, 0, KEY_MAX);
	k[0] = proto;
	k[4] = (uint8_t)(port >> 8);
	k[5] = (uint8_t)port;
}

/* ---- runs: adjacent pieces with the same value merge into one element ---- */

/* Address-only sets: merge every adjacent covered piece. */
struct run_addr {
	struct ir_set *set;
	size_t alen;
	bool open;
	struct num lo, hi_excl;
};

static int run_addr_flush(struct run_addr *r)
{
	struct ir_elem *e;
	struct num hi;

	if (!r->open)
		return 0;
	r->open = false;
	e = add_elem(r->set);
	if (!e)
		return -ENOMEM;
	hi = r->hi_excl;
	num_dec(&hi);
	memcpy(e->lo, num_addr(&r->lo, r->alen), r->alen);
	memcpy(e->hi, num_addr(&hi, r->alen), r->alen);
	return 0;
}

static int run_addr_cb(void *ctx, const struct num *lo, const struct num *hi_excl,
                       const size_t *tags, size_t ntags)
{
	struct run_addr *r = ctx;
	int rc;

	if (r->open && !num_cmp(&r->hi_excl, lo)) {
		r->hi_excl = *hi_excl;
		return 0;
	}
	rc = run_addr_flush(r);
	r->open = true;
	r->lo = *lo;
	r->hi_excl = *hi_excl;
	return rc;
}

/* Fill an address set with the union of segments. */
static int fill_addr_set(struct ir_set *s, const struct seg *segs, size_t n)
{
	struct run_addr r = {.set = s, .alen = cidr_addr_len(s->family)};
	int rc = sweep(segs, n, run_addr_cb, &r);

	return rc ? rc : run_addr_flush(&r);
}

/* addr . proto . port sets: per address piece, the union of the port ranges covering it. */
struct box {
	struct num lo, hi_excl;
	uint8_t proto;
	struct prange ports;
};

struct run_ports {
	struct ir_set *set;
	size_t alen;
	uint8_t proto;
	const struct box *boxes;
	bool open;
	struct num lo, hi_excl;
	struct prange *cur, *tmp; /* the open run's union, and scratch */
	size_t ncur;
};

static int run_ports_flush(struct run_ports *r)
{
	struct num hi;

	if (!r->open)
		return 0;
	r->open = false;
	hi = r->hi_excl;
	num_dec(&hi);
	for (size_t i = 0; i < r->ncur; i++) {
		struct ir_elem *e = add_elem(r->set);

		if (!e)
			return -ENOMEM;
		key_addr_proto_port(e->lo, num_addr(&r->lo, r->alen), r->alen, r->proto,
		                    r->cur[i].lo);
		key_addr_proto_port(e->hi, num_addr(&hi, r->alen), r->alen, r->proto, r->cur[i].hi);
	}
	return 0;
}

static int run_ports_cb(void *ctx, const struct num *lo, const struct num *hi_excl,
                        const size_t *tags, size_t ntags)
{
	struct run_ports *r = ctx;
	struct prange *swap;
	size_t m;
	int rc;

	for (size_t i = 0; i < ntags; i++)
		r->tmp[i] = r->boxes[tags[i]].ports;
	m = prange_union(r->tmp, ntags);
	if (r->open && !num_cmp(&r->hi_excl, lo) && m == r->ncur &&
	    !memcmp(r->tmp, r->cur, m * sizeof(*r->cur))) {
		r->hi_excl = *hi_excl;
		return 0;
	}
	rc = run_ports_flush(r);
	swap = r->cur;
	r->cur = r->tmp;
	r->tmp = swap;
	r->ncur = m;
	r->open = true;
	r->lo = *lo;
	r->hi_excl = *hi_excl;
	return rc;
}

/* Fill an addr . proto . port set from boxes (tcp first, then udp). */
static int fill_port_set(struct ir_set *s, const struct box *boxes, size_t n)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	struct seg *segs = calloc(n ? n : 1, sizeof(*segs));
	struct run_ports r = {.set = s, .alen = cidr_addr_len(s->family), .boxes = boxes};
	int rc = 0;

	r.cur = calloc(n ? n : 1, sizeof(*r.cur));
	r.tmp = calloc(n ? n : 1, sizeof(*r.tmp));
	if (!segs || !r.cur || !r.tmp) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t p = 0; p < sizeof(protos); p++) {
		size_t ns = 0;

		for (size_t i = 0; i < n; i++)
			if (boxes[i].proto == protos[p])
				segs[ns++] = (struct seg){boxes[i].lo, boxes[i].hi_excl, i};
		r.proto = protos[p];
		r.open = false;
		rc = sweep(segs, ns, run_ports_cb, &r);
		if (!rc)
			rc = run_ports_flush(&r);
		if (rc)
			goto out;
	}
out:
	free(segs);
	free(r.cur);
	free(r.tmp);
	return rc;
}

/* ---- compile ---- */

struct gref {
	const struct security_group *g;
	bool has[2];              /* has rules in direction SG_INGRESS / SG_EGRESS */
	const struct sg_rule **r; /* its rules, sorted by id */
	size_t nr;
};

struct cctx {
	struct sgc *c;
	const struct sgc_input *in;
	struct gref *g; /* sorted by id */
	size_t ng;
	const struct sg_rule **rules; /* all known rules, grouped by group */
	char **remote;                /* ids of groups named by remote rules */
	size_t nremote, capremote;
};

static int gref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gref *)a)->g->id, ((const struct gref *)b)->g->id);
}

static int gref_key_cmp(const void *key, const void *b)
{
	return strcmp(key, ((const struct gref *)b)->g->id);
}

static struct gref *find_group(struct cctx *x, const char *id)
{
	return search(id, x->g, x->ng, sizeof(*x->g), gref_key_cmp);
}

static int rule_ptr_cmp(const void *a, const void *b)
{
	const struct sg_rule *x = *(const struct sg_rule *const *)a;
	const struct sg_rule *y = *(const struct sg_rule *const *)b;
	int c = strcmp(x->group_id, y->group_id);

	return c ? c : strcmp(x->id, y->id);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int note_remote(struct cctx *x, const char *id)
{
	for (size_t i = 0; i < x->nremote; i++)
		if (!strcmp(x->remote[i], id))
			return 0;
	if (grow((void **)&x->remote, &x->capremote, x->nremote + 1, sizeof(*x->remote)))
		return -ENOMEM;
	x->remote[x->nremote] = strdup(id);
	if (!x->remote[x->nremote])
		return -ENOMEM;
	x->nremote++;
	return 0;
}

static const char *dir_name(enum sg_direction d)
{
	return d == SG_INGRESS ? "in" : "eg";
}

/* The rule matching a CIDR set or member set on the peer's address. */
static struct ir_rule *peer_rule(struct ir_chain *ch, enum rule_kind k, int family,
                                 enum sg_direction d, const char *set)
{
	struct ir_rule *r = add_rule(ch, k);

	if (r) {
		r->family = family;
		r->daddr = d == SG_EGRESS; /* ingress: the peer is the source */
		snprintf(r->a, sizeof(r->a), "%s", set);
	}
	return r;
}

/* The port range of a tcp/udp rule; all ports when it names none. */
static struct prange rule_ports(const struct sg_rule *r)
{
	uint16_t a = r->port_from, b = r->port_to;

	if (!r->has_ports)
		return (struct prange){0, 65535};
	return (struct prange){a < b ? a : b, a < b ? b : a};
}

/* The chain in_<g> or eg_<g> and the sets it looks up. */
static int compile_group_dir(struct cctx *x, struct gref *gr, enum sg_direction d)
{
	static const int fams[] = {AF_INET, AF_INET6};
	const char *gid = gr->g->id, *dn = dir_name(d);
	char name[SGC_NAME_MAX];
	struct ir_chain *ch;
	struct box *boxes = NULL;
	struct seg *icmp = NULL, *all = NULL;
	const char **rids = NULL;
	struct prange *pr[2] = {NULL, NULL}; /* tcp, udp port ranges for one remote group */
	size_t nr = 0, cap = gr->nr ? gr->nr : 1;
	int rc = -ENOMEM;

	fmt_name(name, "%s_%s", dn, gid);
	ch = add_chain(x->c, name, false, 0, gid);
	boxes = calloc(cap, sizeof(*boxes));
	icmp = calloc(cap, sizeof(*icmp));
	all = calloc(cap, sizeof(*all));
	rids = calloc(cap, sizeof(*rids));
	pr[0] = calloc(cap, sizeof(*pr[0]));
	pr[1] = calloc(cap, sizeof(*pr[1]));
	if (!ch || !boxes || !icmp || !all || !rids || !pr[0] || !pr[1])
		goto out;

	/* CIDR rules: three sets per family, each one lookup. */
	for (size_t f = 0; f < 2; f++) {
		int fam = fams[f], d4 = fam_digit(fam);
		size_t nb = 0, ni = 0, na = 0;
		struct ir_set *s;

		for (size_t i = 0; i < gr->nr; i++) {
			const struct sg_rule *r = gr->r[i];
			struct num lo, hi;

			if (r->direction != d || r->remote_group_id[0] || !r->cidr_text[0] ||
			    r->cidr.addr.family != fam)
				continue;
			prefix_span(&r->cidr, &lo, &hi);
			switch (r->protocol) {
			case SG_PROTO_TCP:
			case SG_PROTO_UDP:
				boxes[nb].lo = lo;
				boxes[nb].hi_excl = hi;
				boxes[nb].proto =
				    r->protocol == SG_PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;
				boxes[nb].ports = rule_ports(r);
				nb++;
				break;
			case SG_PROTO_ICMP:
			case SG_PROTO_ICMPV6:
				/* icmp with an IPv6 cidr (or the reverse) can never match. */
				if ((r->protocol == SG_PROTO_ICMP) == (fam == AF_INET))
					icmp[ni++] = (struct seg){lo, hi, 0};
				break;
			case SG_PROTO_ALL: all[na++] = (struct seg){lo, hi, 0}; break;
			}
		}
		if (nb) {
			fmt_name(name, "%s%dp_%s", dn, d4, gid);
			s = add_set(x->c, name, SHAPE_ADDR_PROTO_PORT, fam, false, gid);
			if (!s || fill_port_set(s, boxes, nb) ||
			    !peer_rule(ch, RK_CIDR_PORTS, fam, d, name))
				goto out;
		}
		if (ni) {
			fmt_name(name, "%s%di_%s", dn, d4, gid);
			s = add_set(x->c, name, SHAPE_ADDR, fam, false, gid);
			if (!s || fill_addr_set(s, icmp, ni) ||
			    !peer_rule(ch, RK_CIDR_ICMP, fam, d, name))
				goto out;
		}
		if (na) {
			fmt_name(name, "%s%da_%s", dn, d4, gid);
			s = add_set(x->c, name, SHAPE_ADDR, fam, false, gid);
			if (!s || fill_addr_set(s, all, na) ||
			    !peer_rule(ch, RK_CIDR_ALL, fam, d, name))
				goto out;
		}
	}

	/* Remote-group rules: the peer is looked up in the group's member sets. */
	for (size_t i = 0; i < gr->nr; i++)
		if (gr->r[i]->direction == d && gr->r[i]->remote_group_id[0])
			rids[nr++] = gr->r[i]->remote_group_id;
	sort(rids, nr, sizeof(*rids), str_cmp);
	for (size_t i = 0; i < nr; i++) {
		const char *rid = rids[i];
		bool any_all = false, icmp4 = false, icmp6 = false;
		size_t npr[2] = {0, 0};
		char pset[SGC_NAME_MAX] = "";

		if (i && !strcmp(rids[i - 1], rid))
			continue;
		for (size_t k = 0; k < gr->nr; k++) {
			const struct sg_rule *r = gr->r[k];
			int t;

			if (r->direction != d || strcmp(r->remote_group_id, rid))
				continue;
			switch (r->protocol) {
			case SG_PROTO_ALL: any_all = true; break;
			case SG_PROTO_ICMP: icmp4 = true; break;
			case SG_PROTO_ICMPV6: icmp6 = true; break;
			case SG_PROTO_TCP:
			case SG_PROTO_UDP:
				t = r->protocol == SG_PROTO_UDP;
				pr[t][npr[t]++] = rule_ports(r);
				break;
			}
		}
		if (note_remote(x, rid))
			goto out;
		if (npr[0] || npr[1]) {
			struct ir_set *s;

			fmt_name(pset, "%sr_%s_%s", dn, gid, rid);
			s = add_set(x->c, pset, SHAPE_PROTO_PORT, 0, false, gid);
			if (!s)
				goto out;
			for (int t = 0; t < 2; t++) {
				size_t m = prange_union(pr[t], npr[t]);

				for (size_t k = 0; k < m; k++) {
					struct ir_elem *e = add_elem(s);
					uint8_t proto = t ? IPPROTO_UDP : IPPROTO_TCP;

					if (!e)
						goto out;
					key_proto_port(e->lo, proto, pr[t][k].lo);
					key_proto_port(e->hi, proto, pr[t][k].hi);
				}
			}
		}
		for (size_t f = 0; f < 2; f++) {
			int fam = fams[f];
			char mset[SGC_NAME_MAX];
			struct ir_rule *r;

			fmt_name(mset, "m%d_%s", fam_digit(fam), rid);
			if (any_all && !peer_rule(ch, RK_REMOTE_ALL, fam, d, mset))
				goto out;
			if ((fam == AF_INET ? icmp4 : icmp6) &&
			    !peer_rule(ch, RK_REMOTE_ICMP, fam, d, mset))
				goto out;
			if (pset[0]) {
				r = peer_rule(ch, RK_REMOTE_PORTS, fam, d, mset);
				if (!r)
					goto out;
				snprintf(r->b, sizeof(r->b), "%s", pset);
			}
		}
	}
	rc = 0;
out:
	free(boxes);
	free(icmp);
	free(all);
	free(rids);
	free(pr[0]);
	free(pr[1]);
	return rc;
}

/* FNV-1a, for the names of chains of several groups. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * The chain name for a combination of groups (indices into x->g, sorted):
 * prefix_<group id> for one group, prefix_x<hash> for several.
 */
static void combo_name(struct cctx *x, const char *prefix, const size_t *gi, size_t n, char *out)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (n == 1) {
		fmt_name(out, "%s_%s", prefix, x->g[gi[0]].g->id);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		h = fnv1a(h, x->g[gi[i]].g->id);
		h = fnv1a(h, ",");
	}
	fmt_name(out, "%s_x%016" PRIx64, prefix, h);
}

/*
 * Make sure the chain for a combination exists: cin_* jumps to the ingress
 * chain of each group and drops the rest; ceg_* likewise for egress. gi must
 * be sorted; for egress, only groups with egress rules are passed.
 */
static int combo_chain(struct cctx *x, enum sg_direction d, const size_t *gi, size_t n, char *out)
{
	const char *dn = dir_name(d);
	char prefix[8], name[SGC_NAME_MAX];
	struct ir_chain *ch;
	struct ir_rule *r;
	size_t cap = 1;
	char *ctr;

	snprintf(prefix, sizeof(prefix), "c%s", dn);
	combo_name(x, prefix, gi, n, out);
	if (find_chain(x->c, out))
		return 0;
	ch = add_chain(x->c, out, false, 0, n == 1 ? x->g[gi[0]].g->id : "");
	if (!ch || !add_rule(ch, RK_CT_INVALID))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!x->g[gi[i]].has[d])
			continue;
		r = add_rule(ch, RK_JUMP);
		if (!r)
			return -ENOMEM;
		fmt_name(r->a, "%s_%s", dn, x->g[gi[i]].g->id);
		cap += SGC_NAME_MAX;
	}
	for (size_t i = 0; i < n; i++)
		cap += strlen(x->g[gi[i]].g->id) + 16;
	r = add_rule(ch, RK_DROP);
	ctr = calloc(1, cap);
	if (!r || !ctr) {
		free(ctr);
		return -ENOMEM;
	}
	r->counters = ctr;
	for (size_t i = 0; i < n; i++) {
		fmt_name(name, "drop_%s_%s", dn, x->g[gi[i]].g->id);
		if (add_counter(x->c, name, x->g[gi[i]].g->id))
			return -ENOMEM;
		if (i)
			strcat(ctr, " ");
		strcat(ctr, name);
	}
	return 0;
}

/* One map (in4/in6/eg4/eg6): the targets' disjoint intervals -> combination chains. */
struct run_map {
	struct cctx *x;
	struct ir_set *set;
	enum sg_direction d;
	size_t alen;
	size_t *scratch;
	bool open;
	struct num lo, hi_excl;
	char chain[SGC_NAME_MAX];
};

static int run_map_flush(struct run_map *r)
{
	struct ir_elem *e;
	struct num hi;

	if (!r->open)
		return 0;
	r->open = false;
	e = add_elem(r->set);
	if (!e)
		return -ENOMEM;
	e->chain = strdup(r->chain);
	if (!e->chain)
		return -ENOMEM;
	hi = r->hi_excl;
	num_dec(&hi);
	memcpy(e->lo, num_addr(&r->lo, r->alen), r->alen);
	memcpy(e->hi, num_addr(&hi, r->alen), r->alen);
	return 0;
}

static int run_map_cb(void *ctx, const struct num *lo, const struct num *hi_excl,
                      const size_t *tags, size_t ntags)
{
	struct run_map *r = ctx;
	char chain[SGC_NAME_MAX];
	size_t n = 0;
	int rc;

	memcpy(r->scratch, tags, ntags * sizeof(*tags));
	ntags = sort_unique(r->scratch, ntags);
	for (size_t i = 0; i < ntags; i++)
		if (r->d == SG_INGRESS || r->x->g[r->scratch[i]].has[SG_EGRESS])
			r->scratch[n++] = r->scratch[i];
	if (!n) { /* egress not restricted here: no entry, the gap ends a run */
		rc = run_map_flush(r);
		return rc;
	}
	rc = combo_chain(r->x, r->d, r->scratch, n, chain);
	if (rc)
		return rc;
	if (r->open && !num_cmp(&r->hi_excl, lo) && !strcmp(r->chain, chain)) {
		r->hi_excl = *hi_excl;
		return 0;
	}
	rc = run_map_flush(r);
	r->open = true;
	r->lo = *lo;
	r->hi_excl = *hi_excl;
	memcpy(r->chain, chain, sizeof(chain));
	return rc;
}

static int compile_maps(struct cctx *x)
{
	static const int fams[] = {AF_INET, AF_INET6};
	struct seg *segs = NULL;
	size_t *scratch = NULL, total = 0;
	int rc = -ENOMEM;

	for (size_t i = 0; i < x->ng; i++)
		total += x->g[i].g->ntargets;
	segs = calloc(total ? total : 1, sizeof(*segs));
	scratch = calloc(total ? total : 1, sizeof(*scratch));
	if (!segs || !scratch)
		goto out;
	for (size_t f = 0; f < 2; f++) {
		size_t n = 0;

		for (size_t i = 0; i < x->ng; i++) {
			const struct security_group *g = x->g[i].g;

			for (size_t t = 0; t < g->ntargets; t++) {
				if (g->targets[t].local || g->targets[t].p.addr.family != fams[f])
					continue;
				prefix_span(&g->targets[t].p, &segs[n].lo, &segs[n].hi_excl);
				segs[n++].tag = i;
			}
		}
		for (int d = SG_INGRESS; d <= SG_EGRESS; d++) {
			char name[SGC_NAME_MAX];
			struct run_map r = {
			    .x = x, .d = d, .alen = cidr_addr_len(fams[f]), .scratch = scratch};

			fmt_name(name, "%s%d", dir_name(d), fam_digit(fams[f]));
			r.set = add_set(x->c, name, SHAPE_ADDR, fams[f], true, "");
			if (!r.set)
				goto out;
			rc = sweep(segs, n, run_map_cb, &r);
			if (!rc)
				rc = run_map_flush(&r);
			if (rc)
				goto out;
			rc = -ENOMEM;
		}
	}
	rc = 0;
out:
	free(segs);
	free(scratch);
	return rc;
}

static struct ir_set *find_set(struct sgc *c, const char *name)
{
	for (size_t i = 0; i < c->nsets; i++)
		if (!strcmp(c->sets[i].name, name))
			return &c->sets[i];
	return NULL;
}

/* Drop the maps that stayed empty. */
static void drop_empty_maps(struct sgc *c)
{
	size_t m = 0;

	for (size_t i = 0; i < c->nsets; i++) {
		if (c->sets[i].map && !c->sets[i].nel) {
			set_clear(&c->sets[i]);
			continue;
		}
		c->sets[m++] = c->sets[i];
	}
	c->nsets = m;
}

/*
 * The start of a base chain: the established shortcut and, on the input and
 * output hooks, what must never be classified: ICMPv6 plumbing (nd, when
 * the chain may see IPv6 peers) and loopback (this host talking to itself,
 * whichever of its addresses a target covers).
 */
static int base_chain(struct cctx *x, const char *name, uint32_t hook, bool nd, bool *need_nd,
                      struct ir_chain **out)
{
	struct ir_chain *ch = add_chain(x->c, name, true, hook, "");
	struct ir_rule *r;

	*out = ch;
	if (!ch || !add_rule(ch, RK_CT_ESTREL))
		return -ENOMEM;
	if (hook == NF_INET_FORWARD)
		return 0;
	if (nd) {
		r = add_rule(ch, RK_ND);
		if (!r)
			return -ENOMEM;
		snprintf(r->a, sizeof(r->a), "nd6");
		*need_nd = true;
	}
	return add_rule(ch, hook == NF_INET_LOCAL_IN ? RK_IIF_LO : RK_OIF_LO) ? 0 : -ENOMEM;
}

/*
 * The base chains that classify covered hosts by the maps of direction d,
 * one vmap per family: ingress classifies the destination of forwarded
 * traffic (forward_in) and of this host's own (output_in); egress the
 * source of forwarded traffic (forward_eg) and of traffic to this host
 * (input_eg). Only that side is classified: on output the source, on input
 * the destination is this host, which a forward target never guards.
 */
static int compile_classify(struct cctx *x, enum sg_direction d, bool *need_nd)
{
	const uint32_t hooks[] = {NF_INET_FORWARD,
	                          d == SG_INGRESS ? NF_INET_LOCAL_OUT : NF_INET_LOCAL_IN};
	char name[SGC_NAME_MAX], m4[SGC_NAME_MAX], m6[SGC_NAME_MAX];
	bool has4, has6;
	struct ir_chain *ch;
	struct ir_rule *r;

	fmt_name(m4, "%s4", dir_name(d));
	fmt_name(m6, "%s6", dir_name(d));
	has4 = find_set(x->c, m4) != NULL;
	has6 = find_set(x->c, m6) != NULL;
	if (!has4 && !has6)
		return 0;
	for (size_t h = 0; h < 2; h++) {
		fmt_name(name, "%s_%s", hook_name(hooks[h]), dir_name(d));
		if (base_chain(x, name, hooks[h], has6, need_nd, &ch))
			return -ENOMEM;
		for (int f = 0; f < 2; f++) {
			if (!(f ? has6 : has4))
				continue;
			r = add_rule(ch, RK_VMAP);
			if (!r)
				return -ENOMEM;
			r->family = f ? AF_INET6 : AF_INET;
			r->daddr = d == SG_INGRESS; /* ingress: classify the destination */
			snprintf(r->a, sizeof(r->a), "%s", f ? m6 : m4);
		}
	}
	return 0;
}

/*
 * The rule that keeps the API's listening socket open on input: its address
 * and port exactly, or its port on every address of its family when it
 * listens on the unspecified address; none when it listens on loopback,
 * which always passes. Its replies leave as established traffic.
 */
static int api_rule(struct ir_chain *ch, const struct sgc_listen *api)
{
	const struct ipaddr *a = &api->addr;
	size_t alen = cidr_addr_len(a->family);
	static const uint8_t zero[16];
	struct ir_rule *r;

	if (!alen || !api->port)
		return 0;
	if (a->family == AF_INET ? a->a[0] == 127
	                         : !memcmp(a->a, zero, 15) && a->a[15] == 1) /* ::1 */
		return 0;
	r = add_rule(ch, RK_API);
	if (!r)
		return -ENOMEM;
	r->family = a->family;
	r->port = api->port;
	r->has_addr = memcmp(a->a, zero, alen) != 0;
	memcpy(r->addr, a->a, alen);
	return 0;
}

/* input / output: plumbing and anti-lockout first, then the local groups' chain. */
static int compile_local(struct cctx *x, enum sg_direction d, bool *need_nd)
{
	size_t *gi = NULL, n = 0;
	char chain[SGC_NAME_MAX];
	struct ir_chain *ch;
	struct ir_rule *r;
	int rc = -ENOMEM;

	gi = calloc(x->ng ? x->ng : 1, sizeof(*gi));
	if (!gi)
		return -ENOMEM;
	for (size_t i = 0; i < x->ng; i++) {
		const struct security_group *g = x->g[i].g;
		bool local = false;

		for (size_t t = 0; t < g->ntargets; t++)
			local |= g->targets[t].local;
		if (local && (d == SG_INGRESS || x->g[i].has[SG_EGRESS]))
			gi[n++] = i;
	}
	if (!n) {
		rc = 0;
		goto out;
	}
	if (combo_chain(x, d, gi, n, chain))
		goto out;
	if (base_chain(x, d == SG_INGRESS ? "input" : "output",
	               d == SG_INGRESS ? NF_INET_LOCAL_IN : NF_INET_LOCAL_OUT, true, need_nd, &ch))
		goto out;
	if (d == SG_INGRESS && api_rule(ch, &x->in->api))
		goto out;
	r = add_rule(ch, RK_JUMP);
	if (!r)
		goto out;
	snprintf(r->a, sizeof(r->a), "%s", chain);
	rc = 0;
out:
	free(gi);
	return rc;
}

static int set_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ir_set *)a)->name, ((const struct ir_set *)b)->name);
}

static int chain_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ir_chain *)a)->name, ((const struct ir_chain *)b)->name);
}

static int ctr_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ir_counter *)a)->name, ((const struct ir_counter *)b)->name);
}

/* Elements are disjoint, so their first keys order them; the diff walks them in this order. */
static int elem_lo_cmp(const void *a, const void *b)
{
	return memcmp(((const struct ir_elem *)a)->lo, ((const struct ir_elem *)b)->lo, KEY_MAX);
}

static int compile(struct cctx *x)
{
	const struct sgc_input *in = x->in;
	struct sgc *c = x->c;
	bool need_nd = false;
	size_t nr = 0;

	x->ng = in->ngroups;
	x->g = calloc(x->ng ? x->ng : 1, sizeof(*x->g));
	x->rules = calloc(in->nrules ? in->nrules : 1, sizeof(*x->rules));
	if (!x->g || !x->rules)
		return -ENOMEM;
	for (size_t i = 0; i < x->ng; i++)
		x->g[i].g = &in->groups[i];
	sort(x->g, x->ng, sizeof(*x->g), gref_cmp);
	for (size_t i = 0; i < in->nrules; i++)
		if (find_group(x, in->rules[i].group_id))
			x->rules[nr++] = &in->rules[i];
	sort(x->rules, nr, sizeof(*x->rules), rule_ptr_cmp);
	for (size_t i = 0; i < nr;) {
		struct gref *gr = find_group(x, x->rules[i]->group_id);

		gr->r = &x->rules[i];
		while (i < nr && !strcmp(x->rules[i]->group_id, gr->g->id)) {
			gr->has[x->rules[i]->direction == SG_EGRESS] = true;
			gr->nr++;
			i++;
		}
	}

	/* Group chains only for groups that cover something. */
	for (size_t i = 0; i < x->ng; i++) {
		if (!x->g[i].g->ntargets)
			continue;
		for (int d = SG_INGRESS; d <= SG_EGRESS; d++)
			if (x->g[i].has[d] && compile_group_dir(x, &x->g[i], d))
				return -ENOMEM;
	}
	sort(x->remote, x->nremote, sizeof(*x->remote), str_cmp);
	for (size_t i = 0; i < x->nremote; i++) {
		struct gref *gr = find_group(x, x->remote[i]);

		for (int f = 0; f < 2; f++) {
			int fam = f ? AF_INET6 : AF_INET;
			char name[SGC_NAME_MAX];
			struct ir_set *s;
			struct seg *segs;
			size_t n = 0;

			fmt_name(name, "m%d_%s", fam_digit(fam), x->remote[i]);
			s = add_set(c, name, SHAPE_ADDR, fam, false, x->remote[i]);
			if (!s)
				return -ENOMEM;
			if (!gr)
				continue; /* an unknown group has no members */
			segs = calloc(gr->g->ntargets ? gr->g->ntargets : 1, sizeof(*segs));
			if (!segs)
				return -ENOMEM;
			for (size_t t = 0; t < gr->g->ntargets; t++) {
				const struct sg_target *tg = &gr->g->targets[t];

				if (tg->local || tg->p.addr.family != fam)
					continue;
				prefix_span(&tg->p, &segs[n].lo, &segs[n].hi_excl);
				n++;
			}
			if (fill_addr_set(s, segs, n)) {
				free(segs);
				return -ENOMEM;
			}
			free(segs);
		}
	}
	if (compile_maps(x))
		return -ENOMEM;
	drop_empty_maps(c);
	if (compile_classify(x, SG_INGRESS, &need_nd) || compile_classify(x, SG_EGRESS, &need_nd) ||
	    compile_local(x, SG_INGRESS, &need_nd) || compile_local(x, SG_EGRESS, &need_nd))
		return -ENOMEM;
	if (need_nd) {
		struct ir_set *s = add_set(c, "nd6", SHAPE_ICMP6_TYPE, 0, false, "");

		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < sizeof(nd6_types); i++) {
			struct ir_elem *e = add_elem(s);

			if (!e)
				return -ENOMEM;
			e->lo[0] = e->hi[0] = nd6_types[i];
		}
	}
	c->empty = true;
	for (size_t i = 0; i < c->nchains; i++)
		if (c->chains[i].base)
			c->empty = false;
	if (c->empty) { /* nothing hooks: nothing to keep either */
		for (size_t i = 0; i < c->nsets; i++)
			set_clear(&c->sets[i]);
		for (size_t i = 0; i < c->nchains; i++)
			chain_clear(&c->chains[i]);
		c->nsets = c->nchains = c->nctrs = 0;
	}
	for (size_t i = 0; i < c->nsets; i++)
		sort(c->sets[i].el, c->sets[i].nel, sizeof(*c->sets[i].el), elem_lo_cmp);
	sort(c->sets, c->nsets, sizeof(*c->sets), set_name_cmp);
	sort(c->chains, c->nchains, sizeof(*c->chains), chain_name_cmp);
	sort(c->ctrs, c->nctrs, sizeof(*c->ctrs), ctr_name_cmp);
	return 0;
}

int sgc_compile(const struct sgc_input *in, struct sgc **out, char *why, size_t len)
{
	struct cctx x = {0};
	int rc;

	*out = NULL;
	x.in = in;
	x.c = calloc(1, sizeof(*x.c));
	if (!x.c) {
		snprintf(why, len, "out of memory compiling security groups");
		return -ENOMEM;
	}
	x.c->table_flags = in->table_flags;
	rc = compile(&x);
	for (size_t i = 0; i < x.nremote; i++)
		free(x.remote[i]);
	free(x.remote);
	free(x.g);
	free(x.rules);
	if (rc) {
		sgc_free(x.c);
		snprintf(why, len, "out of memory compiling security groups");
		return rc;
	}
	*out = x.c;
	return 0;
}

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

static bool elem_equal(const struct ir_elem *a, const struct ir_elem *b)
{
	if (memcmp(a->lo, b->lo, KEY_MAX) || memcmp(a->hi, b->hi, KEY_MAX))
		return false;
	if (!a->chain || !b->chain)
		return a->chain == b->chain;
	return !strcmp(a->chain, b->chain);
}

static bool set_meta_equal(const struct ir_set *a, const struct ir_set *b)
{
	return a->shape == b->shape && a->family == b->family && a->map == b->map;
}

static bool set_equal(const struct ir_set *a, const struct ir_set *b)
{
	if (strcmp(a->name, b->name) || !set_meta_equal(a, b) || a->nel != b->nel)
		return false;
	for (size_t i = 0; i < a->nel; i++)
		if (!elem_equal(&a->el[i], &b->el[i]))
			return false;
	return true;
}

static bool rule_equal(const struct ir_rule *a, const struct ir_rule *b)
{
	if (a->kind != b->kind || a->family != b->family || a->daddr != b->daddr ||
	    a->has_addr != b->has_addr || memcmp(a->addr, b->addr, sizeof(a->addr)) ||
	    a->port != b->port || strcmp(a->a, b->a) || strcmp(a->b, b->b))
		return false;
	if (!a->counters || !b->counters)
		return a->counters == b->counters;
	return !strcmp(a->counters, b->counters);
}

static bool chain_rules_equal(const struct ir_chain *a, const struct ir_chain *b)
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
		    !chain_rules_equal(&a->chains[i], &b->chains[i]))
			return false;
	for (size_t i = 0; i < a->nctrs; i++)
		if (strcmp(a->ctrs[i].name, b->ctrs[i].name))
			return false;
	return true;
}

/* ---- text ---- */

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "ipv6-icmp";
	}
	return "?";
}

static void print_range_addr(FILE *f, int family, const uint8_t *lo, const uint8_t *hi)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	inet_ntop(family, lo, a, sizeof(a));
	inet_ntop(family, hi, b, sizeof(b));
	if (!strcmp(a, b))
		fprintf(f, "%s", a);
	else
		fprintf(f, "%s-%s", a, b);
}

static void print_range_port(FILE *f, const uint8_t *lo, const uint8_t *hi)
{
	unsigned a = (unsigned)lo[0] << 8 | lo[1], b = (unsigned)hi[0] << 8 | hi[1];

	if (a == b)
		fprintf(f, "%u", a);
	else
		fprintf(f, "%u-%u", a, b);
}

static void print_elem(FILE *f, const struct ir_set *s, const struct ir_elem *e)
{
	size_t alen = cidr_addr_len(s->family);

	switch (s->shape) {
	case SHAPE_ADDR: print_range_addr(f, s->family, e->lo, e->hi); break;
	case SHAPE_ADDR_PROTO_PORT:
		print_range_addr(f, s->family, e->lo, e->hi);
		fprintf(f, " . %s . ", proto_name(e->lo[alen]));
		print_range_port(f, e->lo + alen + 4, e->hi + alen + 4);
		break;
	case SHAPE_PROTO_PORT:
		fprintf(f, "%s . ", proto_name(e->lo[0]));
		print_range_port(f, e->lo + 4, e->hi + 4);
		break;
	case SHAPE_ICMP6_TYPE: fprintf(f, "%u", e->lo[0]); break;
	}
	if (e->chain)
		fprintf(f, " : jump %s", e->chain);
}

static const char *set_type_text(const struct ir_set *s)
{
	bool v6 = s->family == AF_INET6;

	switch (s->shape) {
	case SHAPE_ADDR: return v6 ? "ipv6_addr" : "ipv4_addr";
	case SHAPE_ADDR_PROTO_PORT:
		return v6 ? "ipv6_addr . inet_proto . inet_service"
		          : "ipv4_addr . inet_proto . inet_service";
	case SHAPE_PROTO_PORT: return "inet_proto . inet_service";
	case SHAPE_ICMP6_TYPE: return "icmpv6_type";
	}
	return "?";
}

static void print_rule(FILE *f, const struct ir_rule *r)
{
	const char *ip = r->family == AF_INET6 ? "ip6" : "ip";
	const char *fld = r->daddr ? "daddr" : "saddr";
	const char *icmp = r->family == AF_INET6 ? "ipv6-icmp" : "icmp";

	switch (r->kind) {
	case RK_CT_ESTREL: fprintf(f, "ct state established,related accept"); break;
	case RK_CT_INVALID: fprintf(f, "ct state invalid drop"); break;
	case RK_ND: fprintf(f, "icmpv6 type @%s accept", r->a); break;
	case RK_IIF_LO: fprintf(f, "iif \"lo\" accept"); break;
	case RK_OIF_LO: fprintf(f, "oif \"lo\" accept"); break;
	case RK_API:
		if (r->has_addr) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(r->family, r->addr, a, sizeof(a));
			fprintf(f, "%s daddr %s ", ip, a);
		} else {
			fprintf(f, "meta nfproto %s ", r->family == AF_INET6 ? "ipv6" : "ipv4");
		}
		fprintf(f, "tcp dport %u accept", r->port);
		break;
	case RK_VMAP: fprintf(f, "%s %s vmap @%s", ip, fld, r->a); break;
	case RK_JUMP: fprintf(f, "jump %s", r->a); break;
	case RK_CIDR_PORTS:
		fprintf(f, "%s %s . meta l4proto . th dport @%s accept", ip, fld, r->a);
		break;
	case RK_CIDR_ICMP:
		fprintf(f, "meta l4proto %s %s %s @%s accept", icmp, ip, fld, r->a);
		break;
	case RK_CIDR_ALL:
	case RK_REMOTE_ALL: fprintf(f, "%s %s @%s accept", ip, fld, r->a); break;
	case RK_REMOTE_ICMP:
		fprintf(f, "%s %s @%s meta l4proto %s accept", ip, fld, r->a, icmp);
		break;
	case RK_REMOTE_PORTS:
		fprintf(f, "%s %s @%s meta l4proto . th dport @%s accept", ip, fld, r->a, r->b);
		break;
	case RK_DROP: {
		const char *p = r->counters;

		while (p && *p) {
			size_t n = strcspn(p, " ");

			fprintf(f, "counter name \"%.*s\" ", (int)n, p);
			p += n;
			p += *p == ' ';
		}
		fprintf(f, "drop");
		break;
	}
	}
}

void sgc_dump(const struct sgc *c, FILE *f)
{
	if (c->empty) {
		fprintf(f, "# no table inet %s: nothing to enforce\n", SGC_TABLE);
		return;
	}
	fprintf(f, "table inet %s {\n\t# flags 0x%x\n", SGC_TABLE, c->table_flags);
	for (size_t i = 0; i < c->nctrs; i++)
		fprintf(f, "\tcounter %s {\n\t}\n", c->ctrs[i].name);
	for (size_t i = 0; i < c->nsets; i++) {
		const struct ir_set *s = &c->sets[i];

		fprintf(f, "\t%s %s {\n\t\ttype %s%s\n", s->map ? "map" : "set", s->name,
		        set_type_text(s), s->map ? " : verdict" : "");
		if (shape_interval(s->shape))
			fprintf(f, "\t\tflags interval\n");
		if (s->nel) {
			fprintf(f, "\t\telements = { ");
			for (size_t k = 0; k < s->nel; k++) {
				if (k)
					fprintf(f, ",\n\t\t\t     ");
				print_elem(f, s, &s->el[k]);
			}
			fprintf(f, " }\n");
		}
		fprintf(f, "\t}\n");
	}
	for (size_t i = 0; i < c->nchains; i++) {
		const struct ir_chain *ch = &c->chains[i];

		fprintf(f, "\tchain %s {\n", ch->name);
		if (ch->base)
			fprintf(f, "\t\ttype filter hook %s priority filter; policy accept;\n",
			        hook_name(ch->hook));
		for (size_t k = 0; k < ch->nr; k++) {
			fprintf(f, "\t\t");
			print_rule(f, &ch->r[k]);
			fprintf(f, "\n");
		}
		fprintf(f, "\t}\n");
	}
	fprintf(f, "}\n");
}

/* ---- netlink messages ---- */

struct msg_info {
	int type;
	char what[SGC_WHAT_MAX];
	char origin[ID_MAX];
};

struct sgc_batch {
	char *buf;
	size_t len, cap;
	struct msg_info *mi; /* mi[0] describes message 1 */
	size_t nmi, capmi;
	bool full;
};

void sgc_batch_free(struct sgc_batch *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b->mi);
	free(b);
}

bool sgc_batch_is_full(const struct sgc_batch *b)
{
	return b->full;
}

const void *sgc_batch_data(const struct sgc_batch *b, size_t *len)
{
	*len = b->len;
	return b->buf;
}

size_t sgc_batch_nmsgs(const struct sgc_batch *b)
{
	return b->nmi;
}

int sgc_batch_msg_type(const struct sgc_batch *b, size_t i)
{
	return i >= 1 && i <= b->nmi ? b->mi[i - 1].type : -1;
}

const char *sgc_batch_msg_what(const struct sgc_batch *b, size_t i)
{
	if (i == 0)
		return "batch begin";
	if (i > b->nmi)
		return "batch end";
	return b->mi[i - 1].what;
}

const char *sgc_batch_msg_origin(const struct sgc_batch *b, size_t i)
{
	return i >= 1 && i <= b->nmi ? b->mi[i - 1].origin : "";
}

bool sgc_batch_elements_only(const struct sgc_batch *b)
{
	for (size_t i = 0; i < b->nmi; i++)
		if (b->mi[i].type != NFT_MSG_NEWSETELEM && b->mi[i].type != NFT_MSG_DELSETELEM)
			return false;
	return true;
}

/* Room for one more message of at most SGC_MSG_MAX bytes. */
static char *b_reserve(struct sgc_batch *b)
{
	if (grow((void **)&b->buf, &b->cap, b->len + SGC_MSG_MAX, 1))
		return NULL;
	memset(b->buf + b->len, 0, SGC_MSG_MAX);
	return b->buf + b->len;
}

static uint32_t b_seq(const struct sgc_batch *b)
{
	return (uint32_t)b->nmi + 1;
}

static int b_commit(struct sgc_batch *b, struct nlmsghdr *nlh, int type, const char *origin,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int b_commit(struct sgc_batch *b, struct nlmsghdr *nlh, int type, const char *origin,
                    const char *fmt, ...)
{
	struct msg_info *m;
	va_list ap;

	if (nlh->nlmsg_len > SGC_MSG_MAX)
		abort(); /* memory past the reservation was written: a bug, not an input */
	if (grow((void **)&b->mi, &b->capmi, b->nmi + 1, sizeof(*b->mi)))
		return -ENOMEM;
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	m = &b->mi[b->nmi++];
	m->type = type;
	snprintf(m->origin, sizeof(m->origin), "%s", origin ? origin : "");
	va_start(ap, fmt);
	vsnprintf(m->what, sizeof(m->what), fmt, ap);
	va_end(ap);
	return 0;
}

static int b_begin(struct sgc_batch *b)
{
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;

	if (!p)
		return -ENOMEM;
	nlh = nftnl_batch_begin(p, 0);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

static int b_end(struct sgc_batch *b)
{
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;

	if (!p)
		return -ENOMEM;
	nlh = nftnl_batch_end(p, b_seq(b));
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

static int m_table(struct sgc_batch *b, int type, uint16_t nlflags, bool with_flags,
                   uint32_t tflags, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;

	if (!t || !p) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, SGC_TABLE);
	if (with_flags)
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, tflags);
	nlh = nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, nlflags | NLM_F_ACK, b_seq(b));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return b_commit(b, nlh, type, "", "%s", what);
}

static int m_chain(struct sgc_batch *b, int type, const struct ir_chain *ch)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;
	uint16_t fl = type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE | NLM_F_EXCL : 0;

	if (!c || !p) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, SGC_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, ch->name);
	if (type == NFT_MSG_NEWCHAIN && ch->base) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, ch->hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, fl | NLM_F_ACK, b_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return b_commit(b, nlh, type, ch->origin, "%s chain %s",
	                type == NFT_MSG_NEWCHAIN ? "create" : "delete", ch->name);
}

/* Flush: delete every rule of the chain (DELRULE naming only the chain). */
static int m_flush(struct sgc_batch *b, const struct ir_chain *ch)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;

	if (!r || !p) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, SGC_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, ch->name);
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_DELRULE, NFPROTO_INET, NLM_F_ACK, b_seq(b));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return b_commit(b, nlh, NFT_MSG_DELRULE, ch->origin, "flush chain %s", ch->name);
}

/* Expressions, appended to a rule; the first failure sticks in err. */
struct rb {
	struct nftnl_rule *r;
	int err;
};

static struct nftnl_expr *x_new(struct rb *rb, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		rb->err = -ENOMEM;
	else
		nftnl_rule_add_expr(rb->r, e);
	return e;
}

static void x_meta(struct rb *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = x_new(rb, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void x_cmp(struct rb *rb, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = x_new(rb, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void x_payload(struct rb *rb, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = x_new(rb, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
}

/* Look reg 1 up in a set; a map writes its verdict. */
static void x_lookup(struct rb *rb, const char *set, bool verdict)
{
	struct nftnl_expr *e = x_new(rb, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS,
	                   0); /* the kernel reports it: compare alike */
	if (verdict)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
}

static void x_verdict(struct rb *rb, int verdict, const char *chain)
{
	struct nftnl_expr *e = x_new(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void x_ct_state(struct rb *rb, uint32_t mask)
{
	struct nftnl_expr *e = x_new(rb, "ct");
	uint32_t zero = 0;

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	e = x_new(rb, "bitwise");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	x_cmp(rb, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static void x_nfproto(struct rb *rb, int family)
{
	uint8_t v = (uint8_t)fam_nfproto(family);

	x_meta(rb, NFT_META_NFPROTO, NFT_REG_1);
	x_cmp(rb, NFT_CMP_EQ, &v, sizeof(v));
}

static void x_l4proto(struct rb *rb, uint8_t proto)
{
	x_meta(rb, NFT_META_L4PROTO, NFT_REG_1);
	x_cmp(rb, NFT_CMP_EQ, &proto, sizeof(proto));
}

/* Load the source or destination address of the family into reg 1. */
static void x_addr(struct rb *rb, int family, bool daddr)
{
	if (family == AF_INET6)
		x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, daddr ? 24 : 8, 16, NFT_REG_1);
	else
		x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, daddr ? 16 : 12, 4, NFT_REG_1);
}

static void x_objref_counter(struct rb *rb, const char *name)
{
	struct nftnl_expr *e = x_new(rb, "objref");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
	nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
}

/*
 * The i-th 32-bit register, named as the kernel names it in dumps: one that
 * starts a 128-bit register by the legacy number (NFT_REG32_04 is NFT_REG_2).
 */
static uint32_t reg32(uint32_t i)
{
	return i % 4 ? NFT_REG32_00 + i : NFT_REG_1 + i / 4;
}

static void rule_exprs(struct rb *rb, const struct ir_rule *r)
{
	uint8_t icmp = r->family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	uint32_t lo = LOOPBACK_IFINDEX;
	uint16_t port = htons(r->port);
	/* Concatenations: each field in its own 32-bit register after the address. */
	uint32_t preg = (uint32_t)cidr_addr_len(r->family) / 4;

	switch (r->kind) {
	case RK_CT_ESTREL:
		x_ct_state(rb, CT_ESTABLISHED | CT_RELATED);
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_CT_INVALID:
		x_ct_state(rb, CT_INVALID);
		x_verdict(rb, NF_DROP, NULL);
		break;
	case RK_ND:
		x_nfproto(rb, AF_INET6);
		x_l4proto(rb, IPPROTO_ICMPV6);
		x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		x_lookup(rb, r->a, false);
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_IIF_LO:
	case RK_OIF_LO:
		x_meta(rb, r->kind == RK_IIF_LO ? NFT_META_IIF : NFT_META_OIF, NFT_REG_1);
		x_cmp(rb, NFT_CMP_EQ, &lo, sizeof(lo));
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_API:
		x_nfproto(rb, r->family);
		if (r->has_addr) {
			x_addr(rb, r->family, true);
			x_cmp(rb, NFT_CMP_EQ, r->addr, (uint32_t)cidr_addr_len(r->family));
		}
		x_l4proto(rb, IPPROTO_TCP);
		x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
		x_cmp(rb, NFT_CMP_EQ, &port, sizeof(port));
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_VMAP:
		x_nfproto(rb, r->family);
		x_addr(rb, r->family, r->daddr);
		x_lookup(rb, r->a, true);
		break;
	case RK_JUMP: x_verdict(rb, NFT_JUMP, r->a); break;
	case RK_CIDR_PORTS:
		x_nfproto(rb, r->family);
		x_addr(rb, r->family, r->daddr);
		x_meta(rb, NFT_META_L4PROTO, reg32(preg));
		x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32(preg + 1));
		x_lookup(rb, r->a, false);
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_CIDR_ICMP:
		x_nfproto(rb, r->family);
		x_l4proto(rb, icmp);
		x_addr(rb, r->family, r->daddr);
		x_lookup(rb, r->a, false);
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_CIDR_ALL:
	case RK_REMOTE_ALL:
		x_nfproto(rb, r->family);
		x_addr(rb, r->family, r->daddr);
		x_lookup(rb, r->a, false);
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_REMOTE_ICMP:
		x_nfproto(rb, r->family);
		x_addr(rb, r->family, r->daddr);
		x_lookup(rb, r->a, false);
		x_l4proto(rb, icmp);
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_REMOTE_PORTS:
		x_nfproto(rb, r->family);
		x_addr(rb, r->family, r->daddr);
		x_lookup(rb, r->a, false);
		x_meta(rb, NFT_META_L4PROTO, reg32(0));
		x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32(1));
		x_lookup(rb, r->b, false);
		x_verdict(rb, NF_ACCEPT, NULL);
		break;
	case RK_DROP: {
		const char *p = r->counters;

		while (p && *p) {
			char name[SGC_NAME_MAX];
			size_t n = strcspn(p, " ");

			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			x_objref_counter(rb, name);
			p += n;
			p += *p == ' ';
		}
		x_verdict(rb, NF_DROP, NULL);
		break;
	}
	}
}

static int m_rule(struct sgc_batch *b, const struct ir_chain *ch, size_t i)
{
	struct rb rb = {.r = nftnl_rule_alloc()};
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;

	if (!rb.r || !p) {
		nftnl_rule_free(rb.r);
		return -ENOMEM;
	}
	nftnl_rule_set_str(rb.r, NFTNL_RULE_TABLE, SGC_TABLE);
	nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, ch->name);
	rule_exprs(&rb, &ch->r[i]);
	if (rb.err) {
		nftnl_rule_free(rb.r);
		return rb.err;
	}
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWRULE, NFPROTO_INET,
	                            NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, b_seq(b));
	nftnl_rule_nlmsg_build_payload(nlh, rb.r);
	nftnl_rule_free(rb.r);
	return b_commit(b, nlh, NFT_MSG_NEWRULE, ch->origin, "add rule %zu to chain %s", i + 1,
	                ch->name);
}

static int m_rules(struct sgc_batch *b, const struct ir_chain *ch)
{
	for (size_t i = 0; i < ch->nr; i++) {
		int rc = m_rule(b, ch, i);

		if (rc)
			return rc;
	}
	return 0;
}

static int m_set(struct sgc_batch *b, int type, const struct ir_set *s)
{
	struct nftnl_set *ns = nftnl_set_alloc();
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;
	uint16_t fl = type == NFT_MSG_NEWSET ? NLM_F_CREATE | NLM_F_EXCL : 0;

	if (!ns || !p) {
		nftnl_set_free(ns);
		return -ENOMEM;
	}
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, SGC_TABLE);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (type == NFT_MSG_NEWSET) {
		uint32_t flags = 0;

		/* The kernel wants an id unique within the transaction for every new set. */
		nftnl_set_set_u32(ns, NFTNL_SET_ID, b_seq(b));

		if (shape_interval(s->shape))
			flags |= NFT_SET_INTERVAL;
		if (shape_concat(s->shape)) {
			uint8_t fields[NFT_REG32_COUNT] = {0};
			size_t alen = cidr_addr_len(s->family), n = 0;

			flags |= NFT_SET_CONCAT;
			if (s->shape == SHAPE_ADDR_PROTO_PORT)
				fields[n++] = (uint8_t)alen;
			fields[n++] = 1; /* inet_proto */
			fields[n++] = 2; /* inet_service */
			nftnl_set_set_data(ns, NFTNL_SET_DESC_CONCAT, fields, sizeof(fields));
		}
		if (s->map) {
			flags |= NFT_SET_MAP;
			nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		}
		nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, flags);
		nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, shape_key_type(s->shape, s->family));
		nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN,
		                  (uint32_t)shape_key_len(s->shape, s->family));
	}
	nlh = nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, fl | NLM_F_ACK, b_seq(b));
	nftnl_set_nlmsg_build_payload(nlh, ns);
	nftnl_set_free(ns);
	return b_commit(b, nlh, type, s->origin, "%s %s %s",
	                type == NFT_MSG_NEWSET ? "create" : "delete", s->map ? "map" : "set",
	                s->name);
}

/* True when the key is the highest of its field: an interval ending there has no end element. */
static bool key_is_max(const uint8_t *k, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (k[i] != 0xff)
			return false;
	return true;
}

/* hi + 1, big-endian over len bytes (the caller checked it does not overflow). */
static void key_next(uint8_t *out, const uint8_t *hi, size_t len)
{
	memcpy(out, hi, len);
	for (size_t i = len; i-- > 0;)
		if (++out[i])
			break;
}

/*
 * The kernel elements for one interval: concatenations (pipapo) carry the
 * inclusive end in the same element; plain interval sets (rbtree) take a
 * start element and an end element at hi + 1, flagged as interval end.
 */
static int add_kernel_elems(struct nftnl_set *ns, const struct ir_set *s, const struct ir_elem *e,
                            bool del)
{
	size_t klen = shape_key_len(s->shape, s->family);
	struct nftnl_set_elem *k = nftnl_set_elem_alloc();

	if (!k)
		return -ENOMEM;
	nftnl_set_elem_set(k, NFTNL_SET_ELEM_KEY, e->lo, (uint32_t)klen);
	if (shape_concat(s->shape))
		nftnl_set_elem_set(k, NFTNL_SET_ELEM_KEY_END, e->hi, (uint32_t)klen);
	if (e->chain && !del) {
		nftnl_set_elem_set_u32(k, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		nftnl_set_elem_set_str(k, NFTNL_SET_ELEM_CHAIN, e->chain);
	}
	nftnl_set_elem_add(ns, k);
	if (s->shape == SHAPE_ADDR && !key_is_max(e->hi, klen)) {
		uint8_t next[KEY_MAX];

		k = nftnl_set_elem_alloc();
		if (!k)
			return -ENOMEM;
		key_next(next, e->hi, klen);
		nftnl_set_elem_set(k, NFTNL_SET_ELEM_KEY, next, (uint32_t)klen);
		nftnl_set_elem_set_u32(k, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
		nftnl_set_elem_add(ns, k);
	}
	return 0;
}

/* Elements v[0..n) of s, added or deleted, SGC_ELEMS_PER_MSG per message. */
static int m_elems(struct sgc_batch *b, int type, const struct ir_set *s,
                   const struct ir_elem *const *v, size_t n)
{
	bool del = type == NFT_MSG_DELSETELEM;

	for (size_t at = 0; at < n; at += SGC_ELEMS_PER_MSG) {
		size_t m = n - at < SGC_ELEMS_PER_MSG ? n - at : SGC_ELEMS_PER_MSG;
		struct nftnl_set *ns = nftnl_set_alloc();
		char *p = b_reserve(b);
		struct nlmsghdr *nlh;
		int rc = 0;

		if (!ns || !p) {
			nftnl_set_free(ns);
			return -ENOMEM;
		}
		nftnl_set_set_str(ns, NFTNL_SET_TABLE, SGC_TABLE);
		nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
		nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
		for (size_t i = 0; i < m && !rc; i++)
			rc = add_kernel_elems(ns, s, v[at + i], del);
		if (rc) {
			nftnl_set_free(ns);
			return rc;
		}
		nlh = nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET,
		                            (del ? 0 : NLM_F_CREATE | NLM_F_EXCL) | NLM_F_ACK,
		                            b_seq(b));
		nftnl_set_elems_nlmsg_build_payload(nlh, ns);
		nftnl_set_free(ns);
		rc = b_commit(b, nlh, type, s->origin, "%s %zu element(s) %s %s %s",
		              del ? "delete" : "add", m, del ? "from" : "to",
		              s->map ? "map" : "set", s->name);
		if (rc)
			return rc;
	}
	return 0;
}

static int m_all_elems(struct sgc_batch *b, const struct ir_set *s)
{
	const struct ir_elem **v;
	int rc;

	if (!s->nel)
		return 0;
	v = calloc(s->nel, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->nel; i++)
		v[i] = &s->el[i];
	rc = m_elems(b, NFT_MSG_NEWSETELEM, s, v, s->nel);
	free(v);
	return rc;
}

static int m_counter(struct sgc_batch *b, int type, const struct ir_counter *k)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	char *p = b_reserve(b);
	struct nlmsghdr *nlh;
	uint16_t fl = type == NFT_MSG_NEWOBJ ? NLM_F_CREATE | NLM_F_EXCL : 0;

	if (!o || !p) {
		nftnl_obj_free(o);
		return -ENOMEM;
	}
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, SGC_TABLE);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, k->name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFPROTO_INET);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nlh = nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, fl | NLM_F_ACK, b_seq(b));
	nftnl_obj_nlmsg_build_payload(nlh, o);
	nftnl_obj_free(o);
	return b_commit(b, nlh, type, k->origin, "%s counter %s",
	                type == NFT_MSG_NEWOBJ ? "create" : "delete", k->name);
}

static struct sgc_batch *batch_new(void)
{
	struct sgc_batch *b = calloc(1, sizeof(*b));

	if (b && b_begin(b)) {
		sgc_batch_free(b);
		return NULL;
	}
	return b;
}

/* Everything of c, into a table that does not exist yet in this transaction. */
static int m_content(struct sgc_batch *b, const struct sgc *c)
{
	int rc = 0;

	for (size_t i = 0; i < c->nctrs && !rc; i++)
		rc = m_counter(b, NFT_MSG_NEWOBJ, &c->ctrs[i]);
	for (size_t i = 0; i < c->nchains && !rc; i++)
		rc = m_chain(b, NFT_MSG_NEWCHAIN, &c->chains[i]);
	for (size_t i = 0; i < c->nsets && !rc; i++)
		rc = m_set(b, NFT_MSG_NEWSET, &c->sets[i]);
	for (size_t i = 0; i < c->nsets && !rc; i++)
		rc = m_all_elems(b, &c->sets[i]);
	for (size_t i = 0; i < c->nchains && !rc; i++)
		rc = m_rules(b, &c->chains[i]);
	return rc;
}

int sgc_batch_full(const struct sgc *c, struct sgc_batch **out)
{
	struct sgc_batch *b = batch_new();
	int rc;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->full = true;
	/* Without flags the create leaves an existing table as it is: the delete always finds one.
	 */
	rc = m_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, false, 0,
	             "create table inet " SGC_TABLE " if absent");
	if (!rc)
		rc = m_table(b, NFT_MSG_DELTABLE, 0, false, 0, "delete table inet " SGC_TABLE);
	if (!rc && !sgc_empty(c)) {
		rc = m_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, true, c->table_flags,
		             "create table inet " SGC_TABLE);
		if (!rc)
			rc = m_content(b, c);
	}
	if (!rc)
		rc = b_end(b);
	if (rc) {
		sgc_batch_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* ---- incremental ---- */

/* Walk two name-sorted arrays: cb gets (old or NULL, new or NULL) for each name. */
#define MERGE_WALK(OA, ON, NA, NN, NAME, BODY)                                                     \
	do {                                                                                       \
		size_t i_ = 0, j_ = 0;                                                             \
		while (i_ < (ON) || j_ < (NN)) {                                                   \
			int c_ = i_ >= (ON)   ? 1                                                  \
			         : j_ >= (NN) ? -1                                                 \
			                      : strcmp((OA)[i_].NAME, (NA)[j_].NAME);              \
			__typeof__(&(OA)[0]) o = c_ <= 0 ? &(OA)[i_++] : NULL;                     \
			__typeof__(&(NA)[0]) n = c_ >= 0 ? &(NA)[j_++] : NULL;                     \
			BODY                                                                       \
		}                                                                                  \
	} while (0)

/* Can the kernel holding old be turned into new without recreating the table? */
static bool same_shape(const struct sgc *old, const struct sgc *new)
{
	bool ok = true;

	if (old->empty || new->empty || old->table_flags != new->table_flags)
		return false;
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (o && n && !set_meta_equal(o, n))
			ok = false;
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (o && n && (o->base != n->base || o->hook != n->hook))
			ok = false;
	});
	return ok;
}

static int elem_order(const struct ir_elem *a, const struct ir_elem *b)
{
	return memcmp(a->lo, b->lo, KEY_MAX);
}

/* The element differences of one set kept in both: deletions or additions. */
static int m_elem_diff(struct sgc_batch *b, const struct ir_set *o, const struct ir_set *n,
                       bool adds)
{
	const struct ir_elem **v;
	size_t i = 0, j = 0, m = 0;
	int rc;

	v = calloc(o->nel + n->nel + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (i < o->nel || j < n->nel) {
		int c = i >= o->nel ? 1 : j >= n->nel ? -1 : elem_order(&o->el[i], &n->el[j]);

		if (c == 0 && elem_equal(&o->el[i], &n->el[j])) {
			i++;
			j++;
			continue;
		}
		if (c <= 0) { /* gone, or changed (same start): delete the old one */
			if (!adds)
				v[m++] = &o->el[i];
			i++;
		}
		if (c >= 0) {
			if (adds)
				v[m++] = &n->el[j];
			j++;
		}
	}
	rc = m_elems(b, adds ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, adds ? n : o, v, m);
	free(v);
	return rc;
}

/*
 * Order matters inside the transaction: what a message references must
 * exist, and what it deletes must no longer be referenced (a chain still
 * jumped to, a set still looked up, a counter still named are EBUSY).
 */
static int m_update(struct sgc_batch *b, const struct sgc *old, const struct sgc *new)
{
	int rc = 0;

	MERGE_WALK(old->ctrs, old->nctrs, new->ctrs, new->nctrs, name, {
		if (!o && !rc)
			rc = m_counter(b, NFT_MSG_NEWOBJ, n);
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (!o && !rc)
			rc = m_chain(b, NFT_MSG_NEWCHAIN, n);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (!o && !rc)
			rc = m_set(b, NFT_MSG_NEWSET, n);
	});
	/* Rules that change or go: flushed before anything they reference is deleted. */
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (o && (!n || !chain_rules_equal(o, n)) && o->nr && !rc)
			rc = m_flush(b, o);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (o && n && !rc)
			rc = m_elem_diff(b, o, n, false);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (n && !rc)
			rc = o ? m_elem_diff(b, o, n, true) : m_all_elems(b, n);
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (n && (!o || !chain_rules_equal(o, n)) && !rc)
			rc = m_rules(b, n);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (!n && !rc)
			rc = m_set(b, NFT_MSG_DELSET, o);
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (!n && !rc)
			rc = m_chain(b, NFT_MSG_DELCHAIN, o);
	});
	MERGE_WALK(old->ctrs, old->nctrs, new->ctrs, new->nctrs, name, {
		if (!n && !rc)
			rc = m_counter(b, NFT_MSG_DELOBJ, o);
	});
	return rc;
}

int sgc_batch_update(const struct sgc *old, const struct sgc *new, struct sgc_batch **out)
{
	struct sgc_batch *b;
	int rc;

	*out = NULL;
	if (old && old->empty && new->empty) { /* nothing before, nothing now */
		b = batch_new();
		if (!b || b_end(b)) {
			sgc_batch_free(b);
			return -ENOMEM;
		}
		*out = b;
		return 0;
	}
	if (!old || !same_shape(old, new))
		return sgc_batch_full(new, out);
	b = batch_new();
	if (!b)
		return -ENOMEM;
	rc = m_update(b, old, new);
	if (!rc)
		rc = b_end(b);
	if (rc) {
		sgc_batch_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* ---- checking what the kernel holds ---- */

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

	if (!s || grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v))) {
		free(s);
		t->err = -ENOMEM;
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
		rc = add_kernel_elems(ns, s, &s->el[i], false);
	if (!rc) {
		nftnl_set_elem_foreach(ns, texts_elem_cb, t);
		rc = t->err;
	}
	nftnl_set_free(ns);
	if (!rc)
		sort(t->v, t->n, sizeof(*t->v), str_cmp);
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

static int chain_key_cmp(const void *key, const void *b)
{
	return strcmp(key, ((const struct ir_chain *)b)->name);
}

static int set_key_cmp(const void *key, const void *b)
{
	return strcmp(key, ((const struct ir_set *)b)->name);
}

static int ctr_key_cmp(const void *key, const void *b)
{
	return strcmp(key, ((const struct ir_counter *)b)->name);
}

static int check_chain_cb(struct nftnl_chain *kc, void *data)
{
	struct check *k = data;
	const char *name = nftnl_chain_get_str(kc, NFTNL_CHAIN_NAME);
	const struct ir_chain *ch;
	bool base = nftnl_chain_is_set(kc, NFTNL_CHAIN_HOOKNUM);

	ch = name ? search(name, k->c->chains, k->c->nchains, sizeof(*ch), chain_key_cmp) : NULL;
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
	struct rb rb = {0};
	size_t ci, i;

	ch = name ? search(name, k->c->chains, k->c->nchains, sizeof(*ch), chain_key_cmp) : NULL;
	if (!ch)
		return differs(k, "a rule in chain %s, which is not ours", name ? name : "?");
	ci = (size_t)(ch - k->c->chains);
	i = k->nrules[ci]++;
	if (i >= ch->nr)
		return differs(k, "chain %s has more than its %zu rule(s)", ch->name, ch->nr);
	rb.r = nftnl_rule_alloc();
	if (!rb.r) {
		k->rc = -ENOMEM;
		return -1;
	}
	rule_exprs(&rb, &ch->r[i]);
	rule_text(rb.r, k->a, TEXT_MAX);
	nftnl_rule_free(rb.r);
	if (rb.err) {
		k->rc = rb.err;
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

	s = name ? search(name, k->c->sets, k->c->nsets, sizeof(*s), set_key_cmp) : NULL;
	if (!s)
		return differs(k, "set %s is not ours", name ? name : "?");
	flags = nftnl_set_get_u32(ks, NFTNL_SET_FLAGS);
	if (nftnl_set_get_u32(ks, NFTNL_SET_KEY_TYPE) != shape_key_type(s->shape, s->family) ||
	    nftnl_set_get_u32(ks, NFTNL_SET_KEY_LEN) != shape_key_len(s->shape, s->family) ||
	    !(flags & NFT_SET_MAP) != !s->map ||
	    !(flags & NFT_SET_INTERVAL) != !shape_interval(s->shape))
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
	sort(got.v, got.n, sizeof(*got.v), str_cmp);
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

	ctr = name ? search(name, k->c->ctrs, k->c->nctrs, sizeof(*ctr), ctr_key_cmp) : NULL;
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
