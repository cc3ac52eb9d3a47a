/*
 * Interval arithmetic for the security-group compiler: addresses as 17-byte
 * big-endian numbers, the address line split into disjoint pieces, and the
 * set elements those pieces become (adjacent pieces of the same value
 * merged into one element).
 */
#include "sgc_int.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

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

void sgc_prefix_span(const struct prefix *p, struct num *lo, struct num *hi_excl)
{
	size_t alen = cidr_addr_len(p->addr.family);
	struct num h;

	assert(alen && alen < NUM_LEN); /* the carry byte stays free */
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

/* ---- the sweep: the address line split at every segment boundary ---- */

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
 * interval sets need, whatever the overlaps of the input. A callback gets
 * at most n tags.
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
		assert(num_cmp(&s[k].lo, &s[k].hi_excl) < 0);
		ev[2 * k] = (struct ev){.at = s[k].lo, .tag = s[k].tag, .add = true};
		ev[2 * k + 1] = (struct ev){.at = s[k].hi_excl, .tag = s[k].tag, .add = false};
	}
	sgc_sort(ev, 2 * n, sizeof(*ev), ev_cmp);
	while (i < 2 * n) {
		struct num at = ev[i].at;

		for (; i < 2 * n && !num_cmp(&ev[i].at, &at); i++) {
			if (ev[i].add) {
				assert(nact < n); /* each segment opens once */
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

	sgc_sort(v, n, sizeof(*v), prange_cmp);
	for (size_t i = 0; i < n; i++) {
		assert(v[i].lo <= v[i].hi);
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

/* The open run of pieces: [lo, hi_excl) of the address line. */
struct run {
	struct ir_set *set;
	size_t alen;
	bool open;
	struct num lo, hi_excl;
};

/* True when the piece starting at lo continues the open run. */
static bool run_continues(const struct run *r, const struct num *lo)
{
	return r->open && !num_cmp(&r->hi_excl, lo);
}

static void run_start(struct run *r, const struct num *lo, const struct num *hi_excl)
{
	r->open = true;
	r->lo = *lo;
	r->hi_excl = *hi_excl;
}

/* The run's last address, inclusive. */
static struct num run_last(const struct run *r)
{
	struct num hi = r->hi_excl;

	num_dec(&hi);
	return hi;
}

/* Close the run as one address element (and the chain a map entry jumps to), if open. */
static int run_flush_addr(struct run *r, const char *chain)
{
	struct ir_elem *e;
	struct num hi;

	if (!r->open)
		return 0;
	r->open = false;
	e = sgc_elem_add(r->set);
	if (!e)
		return -ENOMEM;
	if (chain) {
		e->chain = strdup(chain);
		if (!e->chain)
			return -ENOMEM;
	}
	hi = run_last(r);
	memcpy(e->lo, num_addr(&r->lo, r->alen), r->alen);
	memcpy(e->hi, num_addr(&hi, r->alen), r->alen);
	return 0;
}

/* Address-only sets: merge every adjacent covered piece. */
static int run_addr_cb(void *ctx, const struct num *lo, const struct num *hi_excl,
                       const size_t *tags, size_t ntags)
{
	struct run *r = ctx;
	int rc;

	if (run_continues(r, lo)) {
		r->hi_excl = *hi_excl;
		return 0;
	}
	rc = run_flush_addr(r, NULL);
	run_start(r, lo, hi_excl);
	return rc;
}

int sgc_fill_addr_set(struct ir_set *s, const struct seg *segs, size_t n)
{
	struct run r = {.set = s, .alen = cidr_addr_len(s->family)};
	int rc = sweep(segs, n, run_addr_cb, &r);

	return rc ? rc : run_flush_addr(&r, NULL);
}

/* addr . proto . port sets: per address piece, the union of the port ranges covering it. */
struct run_ports {
	struct run run;
	uint8_t proto;
	const struct box *boxes;
	size_t nboxes;
	struct prange *cur, *tmp; /* the open run's union, and scratch: nboxes each */
	size_t ncur;
};

static int run_ports_flush(struct run_ports *rp)
{
	struct run *r = &rp->run;
	struct num hi;

	if (!r->open)
		return 0;
	r->open = false;
	hi = run_last(r);
	for (size_t i = 0; i < rp->ncur; i++) {
		struct ir_elem *e = sgc_elem_add(r->set);

		if (!e)
			return -ENOMEM;
		key_addr_proto_port(e->lo, num_addr(&r->lo, r->alen), r->alen, rp->proto,
		                    rp->cur[i].lo);
		key_addr_proto_port(e->hi, num_addr(&hi, r->alen), r->alen, rp->proto,
		                    rp->cur[i].hi);
	}
	return 0;
}

static int run_ports_cb(void *ctx, const struct num *lo, const struct num *hi_excl,
                        const size_t *tags, size_t ntags)
{
	struct run_ports *rp = ctx;
	struct prange *swap;
	size_t m;
	int rc;

	assert(ntags <= rp->nboxes);
	for (size_t i = 0; i < ntags; i++)
		rp->tmp[i] = rp->boxes[tags[i]].ports;
	m = prange_union(rp->tmp, ntags);
	if (run_continues(&rp->run, lo) && m == rp->ncur &&
	    !memcmp(rp->tmp, rp->cur, m * sizeof(*rp->cur))) {
		rp->run.hi_excl = *hi_excl;
		return 0;
	}
	rc = run_ports_flush(rp);
	swap = rp->cur;
	rp->cur = rp->tmp;
	rp->tmp = swap;
	rp->ncur = m;
	run_start(&rp->run, lo, hi_excl);
	return rc;
}

int sgc_fill_port_set(struct ir_set *s, const struct box *boxes, size_t n)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	struct seg *segs = calloc(n ? n : 1, sizeof(*segs));
	struct run_ports rp = {
	    .run = {.set = s, .alen = cidr_addr_len(s->family)}, .boxes = boxes, .nboxes = n};
	int rc = 0;

	rp.cur = calloc(n ? n : 1, sizeof(*rp.cur));
	rp.tmp = calloc(n ? n : 1, sizeof(*rp.tmp));
	if (!segs || !rp.cur || !rp.tmp) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t p = 0; p < sizeof(protos); p++) {
		size_t ns = 0;

		for (size_t i = 0; i < n; i++)
			if (boxes[i].proto == protos[p])
				segs[ns++] = (struct seg){boxes[i].lo, boxes[i].hi_excl, i};
		rp.proto = protos[p];
		rp.run.open = false;
		rc = sweep(segs, ns, run_ports_cb, &rp);
		if (!rc)
			rc = run_ports_flush(&rp);
		if (rc)
			goto out;
	}
out:
	free(segs);
	free(rp.cur);
	free(rp.tmp);
	return rc;
}

int sgc_fill_proto_port_set(struct ir_set *s, struct prange *tcp, size_t ntcp, struct prange *udp,
                            size_t nudp)
{
	struct prange *pr[2] = {tcp, udp};
	size_t npr[2] = {ntcp, nudp};

	for (int t = 0; t < 2; t++) {
		uint8_t proto = t ? IPPROTO_UDP : IPPROTO_TCP;
		size_t m = prange_union(pr[t], npr[t]);

		for (size_t k = 0; k < m; k++) {
			struct ir_elem *e = sgc_elem_add(s);

			if (!e)
				return -ENOMEM;
			key_proto_port(e->lo, proto, pr[t][k].lo);
			key_proto_port(e->hi, proto, pr[t][k].hi);
		}
	}
	return 0;
}

/* Verdict maps: adjacent pieces with the same label merge; a piece without one is a gap. */
struct run_map {
	struct run run;
	sgc_label_fn label;
	void *ctx;
	size_t *scratch; /* the tags of one piece, for the label to reorder */
	char chain[SGC_NAME_MAX];
};

static int run_map_cb(void *ctx, const struct num *lo, const struct num *hi_excl,
                      const size_t *tags, size_t ntags)
{
	struct run_map *rm = ctx;
	char chain[SGC_NAME_MAX] = "";
	int rc;

	memcpy(rm->scratch, tags, ntags * sizeof(*tags));
	rc = rm->label(rm->ctx, rm->scratch, ntags, chain);
	if (rc)
		return rc;
	if (!chain[0]) /* no entry: the gap ends a run */
		return run_flush_addr(&rm->run, rm->chain);
	if (run_continues(&rm->run, lo) && !strcmp(rm->chain, chain)) {
		rm->run.hi_excl = *hi_excl;
		return 0;
	}
	rc = run_flush_addr(&rm->run, rm->chain);
	run_start(&rm->run, lo, hi_excl);
	memcpy(rm->chain, chain, sizeof(chain));
	return rc;
}

int sgc_fill_map(struct ir_set *s, const struct seg *segs, size_t n, sgc_label_fn label, void *ctx)
{
	struct run_map rm = {
	    .run = {.set = s, .alen = cidr_addr_len(s->family)}, .label = label, .ctx = ctx};
	int rc;

	assert(s->map);
	rm.scratch = calloc(n ? n : 1, sizeof(*rm.scratch));
	if (!rm.scratch)
		return -ENOMEM;
	rc = sweep(segs, n, run_map_cb, &rm);
	if (!rc)
		rc = run_flush_addr(&rm.run, rm.chain);
	free(rm.scratch);
	return rc;
}
