/*
 * The smallest transaction from the kernel holding one compiled ruleset to
 * it holding the next: sgc_batch_update.
 */
#include "sgc_int.h"

#include <assert.h>
#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>

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
		if (o && n && !sgc_set_meta_equal(o, n))
			ok = false;
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (o && n && (o->base != n->base || o->hook != n->hook))
			ok = false;
	});
	return ok;
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
		int c = i >= o->nel ? 1 : j >= n->nel ? -1 : sgc_elem_order(&o->el[i], &n->el[j]);

		if (c == 0 && sgc_elem_equal(&o->el[i], &n->el[j])) {
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
	rc = sgc_msg_elems(b, adds ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, adds ? n : o, v, m);
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
			rc = sgc_msg_counter(b, NFT_MSG_NEWOBJ, n);
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (!o && !rc)
			rc = sgc_msg_chain(b, NFT_MSG_NEWCHAIN, n);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (!o && !rc)
			rc = sgc_msg_set(b, NFT_MSG_NEWSET, n);
	});
	/* Rules that change or go: flushed before anything they reference is deleted. */
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (o && (!n || !sgc_chain_rules_equal(o, n)) && o->nr && !rc)
			rc = sgc_msg_flush(b, o);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (o && n && !rc)
			rc = m_elem_diff(b, o, n, false);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (n && !rc)
			rc = o ? m_elem_diff(b, o, n, true) : sgc_msg_all_elems(b, n);
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (n && (!o || !sgc_chain_rules_equal(o, n)) && !rc)
			rc = sgc_msg_rules(b, n);
	});
	MERGE_WALK(old->sets, old->nsets, new->sets, new->nsets, name, {
		if (!n && !rc)
			rc = sgc_msg_set(b, NFT_MSG_DELSET, o);
	});
	MERGE_WALK(old->chains, old->nchains, new->chains, new->nchains, name, {
		if (!n && !rc)
			rc = sgc_msg_chain(b, NFT_MSG_DELCHAIN, o);
	});
	MERGE_WALK(old->ctrs, old->nctrs, new->ctrs, new->nctrs, name, {
		if (!n && !rc)
			rc = sgc_msg_counter(b, NFT_MSG_DELOBJ, o);
	});
	return rc;
}

int sgc_batch_update(const struct sgc *old, const struct sgc *new, struct sgc_batch **out)
{
	bool nothing = old && old->empty && new->empty; /* nothing before, nothing now */
	struct sgc_batch *b;
	int rc;

	*out = NULL;
	assert(sgc_ir_sorted(new) && (!old || sgc_ir_sorted(old))); /* for MERGE_WALK */
	if (!nothing && (!old || !same_shape(old, new)))
		return sgc_batch_full(new, out);
	b = sgc_batch_begin();
	if (!b)
		return -ENOMEM;
	rc = nothing ? 0 : m_update(b, old, new);
	return sgc_batch_close(b, rc, out);
}
