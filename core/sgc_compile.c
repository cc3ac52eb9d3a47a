/*
 * Compile security groups and rules into the IR of table inet vrouter (the
 * layout is sgc.h's design comment): group chains and their CIDR and member
 * sets, the maps that classify covered hosts, the base chains.
 */
#include "sgc_int.h"

#include <netinet/in.h> /* before linux/ headers: they defer to it */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

/* ICMPv6 types that conntrack cannot track and the network needs: ND, RA, MLD. */
static const uint8_t nd6_types[] = {130, 131, 132, 133, 134, 135, 136, 137, 143};
static const int fams[] = {AF_INET, AF_INET6};

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
	return sgc_search(id, x->g, x->ng, sizeof(*x->g), gref_key_cmp);
}

static int rule_ptr_cmp(const void *a, const void *b)
{
	const struct sg_rule *r = *(const struct sg_rule *const *)a;
	const struct sg_rule *s = *(const struct sg_rule *const *)b;
	int c = strcmp(r->group_id, s->group_id);

	return c ? c : strcmp(r->id, s->id);
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

	sgc_sort(v, n, sizeof(*v), size_cmp);
	for (size_t i = 0; i < n; i++)
		if (!m || v[m - 1] != v[i])
			v[m++] = v[i];
	return m;
}

static int note_remote(struct cctx *x, const char *id)
{
	for (size_t i = 0; i < x->nremote; i++)
		if (!strcmp(x->remote[i], id))
			return 0;
	if (vr_grow((void **)&x->remote, &x->capremote, x->nremote + 1, sizeof(*x->remote),
	            SGC_OBJS_MAX))
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

/* The segments of g's targets in family fam (local ones have none), tagged tag; the count. */
static size_t target_segs(const struct security_group *g, int fam, size_t tag, struct seg *out)
{
	size_t n = 0;

	for (size_t t = 0; t < g->ntargets; t++) {
		const struct sg_target *tg = &g->targets[t];

		if (!sgc_target_of(tg, fam))
			continue;
		sgc_prefix_span(&tg->p, &out[n].lo, &out[n].hi_excl);
		out[n++].tag = tag;
	}
	return n;
}

/* ---- group chains: in_<g> and eg_<g> and the sets they look up ---- */

/* The rule matching a CIDR set or member set on the peer's address. */
static struct ir_rule *peer_rule(struct ir_chain *ch, enum rule_kind k, int family,
                                 enum sg_direction d, const char *set)
{
	struct ir_rule *r = sgc_rule_add(ch, k);

	if (r) {
		r->family = family;
		r->daddr = d == SG_EGRESS; /* ingress: the peer is the source */
		snprintf(r->a, sizeof(r->a), "%s", set);
	}
	return r;
}

/* The CIDR set <dir><4|6><kind>_<group> and the rule of ch that looks the peer up in it. */
static struct ir_set *cidr_set(struct cctx *x, const struct gref *gr, enum sg_direction d,
                               struct ir_chain *ch, int fam, char kind, enum set_shape shape,
                               enum rule_kind rk)
{
	char name[SGC_NAME_MAX];
	struct ir_set *s;

	sgc_name(name, "%s%d%c_%s", dir_name(d), sgc_fam_digit(fam), kind, gr->g->id);
	s = sgc_set_add(x->c, name, shape, fam, false, gr->g->id);
	return s && peer_rule(ch, rk, fam, d, name) ? s : NULL;
}

/* The group's CIDR rules of one family: three sets, each one lookup. */
static int compile_cidr(struct cctx *x, const struct gref *gr, enum sg_direction d,
                        struct ir_chain *ch, int fam)
{
	size_t cap = gr->nr ? gr->nr : 1, nb = 0, ni = 0, na = 0;
	struct box *boxes = calloc(cap, sizeof(*boxes));
	struct seg *icmp = calloc(cap, sizeof(*icmp)), *all = calloc(cap, sizeof(*all));
	struct ir_set *s;
	int rc = -ENOMEM;

	if (!boxes || !icmp || !all)
		goto out;
	for (size_t i = 0; i < gr->nr; i++) {
		const struct sg_rule *r = gr->r[i];
		struct num lo, hi;

		if (r->direction != d || r->remote_group_id[0] || !r->cidr_text[0] ||
		    r->cidr.addr.family != fam)
			continue;
		sgc_prefix_span(&r->cidr, &lo, &hi);
		switch (r->protocol) {
		case SG_PROTO_TCP:
		case SG_PROTO_UDP:
			boxes[nb].lo = lo;
			boxes[nb].hi_excl = hi;
			boxes[nb].proto = r->protocol == SG_PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;
			boxes[nb].ports = sgc_rule_ports(r);
			nb++;
			break;
		case SG_PROTO_ICMP:
		case SG_PROTO_ICMPV6:
			if (sgc_icmp_fits(r->protocol, fam))
				icmp[ni++] = (struct seg){lo, hi, 0};
			break;
		case SG_PROTO_ALL: all[na++] = (struct seg){lo, hi, 0}; break;
		}
	}
	if (nb) {
		s = cidr_set(x, gr, d, ch, fam, 'p', SHAPE_ADDR_PROTO_PORT, RK_CIDR_PORTS);
		if (!s || sgc_fill_port_set(s, boxes, nb))
			goto out;
	}
	if (ni) {
		s = cidr_set(x, gr, d, ch, fam, 'i', SHAPE_ADDR, RK_CIDR_ICMP);
		if (!s || sgc_fill_addr_set(s, icmp, ni))
			goto out;
	}
	if (na) {
		s = cidr_set(x, gr, d, ch, fam, 'a', SHAPE_ADDR, RK_CIDR_ALL);
		if (!s || sgc_fill_addr_set(s, all, na))
			goto out;
	}
	rc = 0;
out:
	free(boxes);
	free(icmp);
	free(all);
	return rc;
}

/*
 * The group's rules naming remote group rid: the peer is looked up in rid's
 * member sets, the ports in <dir>r_<group>_<rid>. pr: scratch for gr->nr
 * tcp and as many udp port ranges.
 */
static int compile_remote(struct cctx *x, const struct gref *gr, enum sg_direction d,
                          struct ir_chain *ch, const char *rid, struct prange *pr[2])
{
	const char *gid = gr->g->id, *dn = dir_name(d);
	bool any_all = false, icmp4 = false, icmp6 = false;
	size_t npr[2] = {0, 0};
	char pset[SGC_NAME_MAX] = "";

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
			pr[t][npr[t]++] = sgc_rule_ports(r);
			break;
		}
	}
	if (note_remote(x, rid))
		return -ENOMEM;
	if (npr[0] || npr[1]) {
		struct ir_set *s;

		sgc_name(pset, "%sr_%s_%s", dn, gid, rid);
		s = sgc_set_add(x->c, pset, SHAPE_PROTO_PORT, 0, false, gid);
		if (!s || sgc_fill_proto_port_set(s, pr[0], npr[0], pr[1], npr[1]))
			return -ENOMEM;
	}
	for (size_t f = 0; f < 2; f++) {
		int fam = fams[f];
		char mset[SGC_NAME_MAX];
		struct ir_rule *r;

		sgc_name(mset, "m%d_%s", sgc_fam_digit(fam), rid);
		if (any_all && !peer_rule(ch, RK_REMOTE_ALL, fam, d, mset))
			return -ENOMEM;
		if ((fam == AF_INET ? icmp4 : icmp6) &&
		    !peer_rule(ch, RK_REMOTE_ICMP, fam, d, mset))
			return -ENOMEM;
		if (pset[0]) {
			r = peer_rule(ch, RK_REMOTE_PORTS, fam, d, mset);
			if (!r)
				return -ENOMEM;
			snprintf(r->b, sizeof(r->b), "%s", pset);
		}
	}
	return 0;
}

/* The chain in_<g> or eg_<g>: CIDR lookups per family, then one block per remote group. */
static int compile_group_dir(struct cctx *x, const struct gref *gr, enum sg_direction d)
{
	size_t cap = gr->nr ? gr->nr : 1, nr = 0;
	const char **rids = calloc(cap, sizeof(*rids));
	struct prange *pr[2] = {calloc(cap, sizeof(*pr[0])), calloc(cap, sizeof(*pr[1]))};
	char name[SGC_NAME_MAX];
	struct ir_chain *ch;
	int rc = -ENOMEM;

	sgc_name(name, "%s_%s", dir_name(d), gr->g->id);
	ch = sgc_chain_add(x->c, name, false, 0, gr->g->id);
	if (!ch || !rids || !pr[0] || !pr[1])
		goto out;
	for (size_t f = 0; f < 2; f++)
		if (compile_cidr(x, gr, d, ch, fams[f]))
			goto out;
	for (size_t i = 0; i < gr->nr; i++)
		if (gr->r[i]->direction == d && gr->r[i]->remote_group_id[0])
			rids[nr++] = gr->r[i]->remote_group_id;
	sgc_sort(rids, nr, sizeof(*rids), sgc_str_cmp);
	for (size_t i = 0; i < nr; i++) {
		if (i && !strcmp(rids[i - 1], rids[i]))
			continue;
		if (compile_remote(x, gr, d, ch, rids[i], pr))
			goto out;
	}
	rc = 0;
out:
	free(rids);
	free(pr[0]);
	free(pr[1]);
	return rc;
}

/* The member sets m4_<R> and m6_<R> of every group named by a remote rule. */
static int compile_members(struct cctx *x)
{
	sgc_sort(x->remote, x->nremote, sizeof(*x->remote), sgc_str_cmp);
	for (size_t i = 0; i < x->nremote; i++) {
		const struct gref *gr = find_group(x, x->remote[i]);

		for (size_t f = 0; f < 2; f++) {
			char name[SGC_NAME_MAX];
			struct ir_set *s;
			struct seg *segs;
			int rc;

			sgc_name(name, "m%d_%s", sgc_fam_digit(fams[f]), x->remote[i]);
			s = sgc_set_add(x->c, name, SHAPE_ADDR, fams[f], false, x->remote[i]);
			if (!s)
				return -ENOMEM;
			if (!gr)
				continue; /* an unknown group has no members */
			segs = calloc(gr->g->ntargets ? gr->g->ntargets : 1, sizeof(*segs));
			if (!segs)
				return -ENOMEM;
			rc = sgc_fill_addr_set(s, segs, target_segs(gr->g, fams[f], 0, segs));
			free(segs);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- combination chains and the maps that jump to them ---- */

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
		sgc_name(out, "%s_%s", prefix, x->g[gi[0]].g->id);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		h = fnv1a(h, x->g[gi[i]].g->id);
		h = fnv1a(h, ",");
	}
	sgc_name(out, "%s_x%016" PRIx64, prefix, h);
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

	assert(n > 0);
	for (size_t i = 0; i < n; i++) {
		assert(!i || gi[i - 1] < gi[i]);
		assert(d == SG_INGRESS || x->g[gi[i]].has[SG_EGRESS]);
	}
	snprintf(prefix, sizeof(prefix), "c%s", dn);
	combo_name(x, prefix, gi, n, out);
	if (sgc_chain_find(x->c, out))
		return 0;
	ch = sgc_chain_add(x->c, out, false, 0, n == 1 ? x->g[gi[0]].g->id : "");
	if (!ch || !sgc_rule_add(ch, RK_CT_INVALID))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!x->g[gi[i]].has[d])
			continue;
		r = sgc_rule_add(ch, RK_JUMP);
		if (!r)
			return -ENOMEM;
		sgc_name(r->a, "%s_%s", dn, x->g[gi[i]].g->id);
		cap += SGC_NAME_MAX;
	}
	for (size_t i = 0; i < n; i++)
		cap += strlen(x->g[gi[i]].g->id) + 16;
	r = sgc_rule_add(ch, RK_DROP);
	ctr = calloc(1, cap);
	if (!r || !ctr) {
		free(ctr);
		return -ENOMEM;
	}
	r->counters = ctr;
	for (size_t i = 0; i < n; i++) {
		sgc_drop_counter_name(x->g[gi[i]].g->id, d, name);
		if (sgc_counter_add(x->c, name, x->g[gi[i]].g->id))
			return -ENOMEM;
		assert(strlen(ctr) + 1 + strlen(name) < cap);
		if (i)
			strcat(ctr, " ");
		strcat(ctr, name);
	}
	return 0;
}

struct map_label {
	struct cctx *x;
	enum sg_direction d;
};

/*
 * A piece of the address line covered by the targets of groups tags: the
 * combination chain of those groups (for egress, of those with egress
 * rules; none, no entry: egress is not restricted there).
 */
static int map_label(void *ctx, size_t *tags, size_t ntags, char *chain)
{
	struct map_label *ml = ctx;
	size_t n = 0;

	ntags = sort_unique(tags, ntags);
	for (size_t i = 0; i < ntags; i++)
		if (ml->d == SG_INGRESS || ml->x->g[tags[i]].has[SG_EGRESS])
			tags[n++] = tags[i];
	return n ? combo_chain(ml->x, ml->d, tags, n, chain) : 0;
}

/* The maps in4/in6/eg4/eg6: the targets' disjoint intervals -> combination chains. */
static int compile_maps(struct cctx *x)
{
	struct seg *segs = NULL;
	size_t total = 0;
	int rc = -ENOMEM;

	for (size_t i = 0; i < x->ng; i++)
		total += x->g[i].g->ntargets;
	segs = calloc(total ? total : 1, sizeof(*segs));
	if (!segs)
		goto out;
	for (size_t f = 0; f < 2; f++) {
		size_t n = 0;

		for (size_t i = 0; i < x->ng; i++)
			n += target_segs(x->g[i].g, fams[f], i, segs + n);
		for (int d = SG_INGRESS; d <= SG_EGRESS; d++) {
			struct map_label ml = {.x = x, .d = d};
			char name[SGC_NAME_MAX];
			struct ir_set *s;

			sgc_name(name, "%s%d", dir_name(d), sgc_fam_digit(fams[f]));
			s = sgc_set_add(x->c, name, SHAPE_ADDR, fams[f], true, "");
			if (!s)
				goto out;
			rc = sgc_fill_map(s, segs, n, map_label, &ml);
			if (rc)
				goto out;
			rc = -ENOMEM;
		}
	}
	rc = 0;
out:
	free(segs);
	return rc;
}

/* Drop the maps that stayed empty. */
static void drop_empty_maps(struct sgc *c)
{
	size_t m = 0;

	for (size_t i = 0; i < c->nsets; i++) {
		if (c->sets[i].map && !c->sets[i].nel) {
			sgc_set_clear(&c->sets[i]);
			continue;
		}
		c->sets[m++] = c->sets[i];
	}
	c->nsets = m;
}

/* ---- base chains ---- */

/*
 * The start of a base chain: the established shortcut and, on the input and
 * output hooks, what must never be classified: ICMPv6 plumbing (nd, when
 * the chain may see IPv6 peers) and loopback (this host talking to itself,
 * whichever of its addresses a target covers).
 */
static int base_chain(struct cctx *x, const char *name, uint32_t hook, bool nd, bool *need_nd,
                      struct ir_chain **out)
{
	struct ir_chain *ch = sgc_chain_add(x->c, name, true, hook, "");
	struct ir_rule *r;

	*out = ch;
	if (!ch || !sgc_rule_add(ch, RK_CT_ESTREL))
		return -ENOMEM;
	if (hook == NF_INET_FORWARD)
		return 0;
	if (nd) {
		r = sgc_rule_add(ch, RK_ND);
		if (!r)
			return -ENOMEM;
		snprintf(r->a, sizeof(r->a), "nd6");
		*need_nd = true;
	}
	return sgc_rule_add(ch, hook == NF_INET_LOCAL_IN ? RK_IIF_LO : RK_OIF_LO) ? 0 : -ENOMEM;
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

	sgc_name(m4, "%s4", dir_name(d));
	sgc_name(m6, "%s6", dir_name(d));
	has4 = sgc_set_find(x->c, m4) != NULL;
	has6 = sgc_set_find(x->c, m6) != NULL;
	if (!has4 && !has6)
		return 0;
	for (size_t h = 0; h < 2; h++) {
		sgc_name(name, "%s_%s", sgc_hook_name(hooks[h]), dir_name(d));
		if (base_chain(x, name, hooks[h], has6, need_nd, &ch))
			return -ENOMEM;
		for (int f = 0; f < 2; f++) {
			if (!(f ? has6 : has4))
				continue;
			r = sgc_rule_add(ch, RK_VMAP);
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
	r = sgc_rule_add(ch, RK_API);
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
	r = sgc_rule_add(ch, RK_JUMP);
	if (!r)
		goto out;
	snprintf(r->a, sizeof(r->a), "%s", chain);
	rc = 0;
out:
	free(gi);
	return rc;
}

static int compile_nd6(struct sgc *c)
{
	struct ir_set *s = sgc_set_add(c, "nd6", SHAPE_ICMP6_TYPE, 0, false, "");

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(nd6_types); i++) {
		struct ir_elem *e = sgc_elem_add(s);

		if (!e)
			return -ENOMEM;
		e->lo[0] = e->hi[0] = nd6_types[i];
	}
	return 0;
}

/* ---- the whole ---- */

/* x->g sorted by id, each with its rules; rules of unknown groups left out. */
static int index_groups(struct cctx *x)
{
	const struct sgc_input *in = x->in;
	size_t nr = 0;

	x->ng = in->ngroups;
	x->g = calloc(x->ng ? x->ng : 1, sizeof(*x->g));
	x->rules = calloc(in->nrules ? in->nrules : 1, sizeof(*x->rules));
	if (!x->g || !x->rules)
		return -ENOMEM;
	for (size_t i = 0; i < x->ng; i++)
		x->g[i].g = &in->groups[i];
	sgc_sort(x->g, x->ng, sizeof(*x->g), gref_cmp);
	for (size_t i = 0; i < in->nrules; i++)
		if (find_group(x, in->rules[i].group_id))
			x->rules[nr++] = &in->rules[i];
	sgc_sort(x->rules, nr, sizeof(*x->rules), rule_ptr_cmp);
	for (size_t i = 0; i < nr;) {
		struct gref *gr = find_group(x, x->rules[i]->group_id);

		assert(gr); /* only rules of known groups were kept */
		gr->r = &x->rules[i];
		while (i < nr && !strcmp(x->rules[i]->group_id, gr->g->id)) {
			gr->has[x->rules[i]->direction == SG_EGRESS] = true;
			gr->nr++;
			i++;
		}
	}
	return 0;
}

static int compile(struct cctx *x)
{
	struct sgc *c = x->c;
	bool need_nd = false;

	if (index_groups(x))
		return -ENOMEM;
	/* Group chains only for groups that cover something. */
	for (size_t i = 0; i < x->ng; i++) {
		if (!x->g[i].g->ntargets)
			continue;
		for (int d = SG_INGRESS; d <= SG_EGRESS; d++)
			if (x->g[i].has[d] && compile_group_dir(x, &x->g[i], d))
				return -ENOMEM;
	}
	if (compile_members(x) || compile_maps(x))
		return -ENOMEM;
	drop_empty_maps(c);
	if (compile_classify(x, SG_INGRESS, &need_nd) || compile_classify(x, SG_EGRESS, &need_nd) ||
	    compile_local(x, SG_INGRESS, &need_nd) || compile_local(x, SG_EGRESS, &need_nd))
		return -ENOMEM;
	if (need_nd && compile_nd6(c))
		return -ENOMEM;
	c->empty = true;
	for (size_t i = 0; i < c->nchains; i++)
		if (c->chains[i].base)
			c->empty = false;
	if (c->empty) /* nothing hooks: nothing to keep either */
		sgc_clear(c);
	sgc_ir_sort(c);
	assert(sgc_ir_sorted(c));
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
