/*
 * The netlink messages of one nftables transaction: the batch buffer, one
 * builder per kind of message, and the full replacement (sgc_batch_full).
 */
#include "sgc_int.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

struct msg_info {
	int type;
	char what[SGC_WHAT_MAX];
	char origin[ID_MAX];
};

/* Growth bounds: a message's sequence number (b_seq) is a u32; a batch's bytes. */
#define SGC_BATCH_MSGS_MAX ((size_t)UINT32_MAX - 1)
#define SGC_BATCH_BYTES_MAX ((size_t)1 << 32)

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

/* ---- the buffer ---- */

/* Room for one more message of at most SGC_MSG_MAX bytes. */
static char *b_reserve(struct sgc_batch *b)
{
	if (vr_grow((void **)&b->buf, &b->cap, b->len + SGC_MSG_MAX, 1, SGC_BATCH_BYTES_MAX))
		return NULL;
	memset(b->buf + b->len, 0, SGC_MSG_MAX);
	return b->buf + b->len;
}

static uint32_t b_seq(const struct sgc_batch *b)
{
	return (uint32_t)b->nmi + 1;
}

/* The header of the next message (asking for an ack), in room reserved for it; NULL: ENOMEM. */
static struct nlmsghdr *b_header(struct sgc_batch *b, int type, uint16_t flags)
{
	char *p = b_reserve(b);

	if (!p)
		return NULL;
	return nftnl_nlmsg_build_hdr(p, (uint16_t)type, NFPROTO_INET, flags | NLM_F_ACK, b_seq(b));
}

/* Keep the message nlh built in the room b_header reserved, and what it does. */
static int b_commit(struct sgc_batch *b, struct nlmsghdr *nlh, int type, const char *origin,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int b_commit(struct sgc_batch *b, struct nlmsghdr *nlh, int type, const char *origin,
                    const char *fmt, ...)
{
	struct msg_info *m;
	va_list ap;

	if (nlh->nlmsg_len > SGC_MSG_MAX)
		abort(); /* memory past the reservation was written: a bug, not an input */
	if (vr_grow((void **)&b->mi, &b->capmi, b->nmi + 1, sizeof(*b->mi), SGC_BATCH_MSGS_MAX))
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

struct sgc_batch *sgc_batch_begin(void)
{
	struct sgc_batch *b = calloc(1, sizeof(*b));
	char *p = b ? b_reserve(b) : NULL;

	if (!p) {
		sgc_batch_free(b);
		return NULL;
	}
	b->len += NLMSG_ALIGN(nftnl_batch_begin(p, 0)->nlmsg_len);
	return b;
}

int sgc_batch_close(struct sgc_batch *b, int rc, struct sgc_batch **out)
{
	char *p = rc ? NULL : b_reserve(b);

	if (p) {
		b->len += NLMSG_ALIGN(nftnl_batch_end(p, b_seq(b))->nlmsg_len);
		*out = b;
		return 0;
	}
	sgc_batch_free(b);
	return rc ? rc : -ENOMEM;
}

/* ---- one builder per message ---- */

/* NLM_F_CREATE | NLM_F_EXCL for a create, nothing for a delete. */
static uint16_t create_flags(bool create)
{
	return create ? NLM_F_CREATE | NLM_F_EXCL : 0;
}

static const char *verb(bool create)
{
	return create ? "create" : "delete";
}

static int m_table(struct sgc_batch *b, int type, uint16_t nlflags, bool with_flags,
                   uint32_t tflags, const char *what)
{
	struct nlmsghdr *nlh = b_header(b, type, nlflags);
	struct nftnl_table *t = nlh ? nftnl_table_alloc() : NULL;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, SGC_TABLE);
	if (with_flags)
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, tflags);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return b_commit(b, nlh, type, "", "%s", what);
}

int sgc_msg_chain(struct sgc_batch *b, int type, const struct ir_chain *ch)
{
	bool create = type == NFT_MSG_NEWCHAIN;
	struct nlmsghdr *nlh = b_header(b, type, create_flags(create));
	struct nftnl_chain *c = nlh ? nftnl_chain_alloc() : NULL;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, SGC_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, ch->name);
	if (create && ch->base) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, ch->hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return b_commit(b, nlh, type, ch->origin, "%s chain %s", verb(create), ch->name);
}

/*
 * A rule message: DELRULE naming only the chain flushes it (i == 0), or
 * NEWRULE appending rule i (1..nr) of the chain.
 */
static int m_rule(struct sgc_batch *b, const struct ir_chain *ch, size_t i)
{
	int type = i ? NFT_MSG_NEWRULE : NFT_MSG_DELRULE;
	struct nlmsghdr *nlh = b_header(b, type, i ? NLM_F_CREATE | NLM_F_APPEND : 0);
	struct nftnl_rule *r = nlh ? nftnl_rule_alloc() : NULL;
	int rc;

	if (!r)
		return -ENOMEM;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, SGC_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, ch->name);
	rc = i ? sgc_rule_exprs(r, &ch->r[i - 1]) : 0;
	if (!rc)
		nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	if (rc)
		return rc;
	if (!i)
		return b_commit(b, nlh, type, ch->origin, "flush chain %s", ch->name);
	return b_commit(b, nlh, type, ch->origin, "add rule %zu to chain %s", i, ch->name);
}

int sgc_msg_flush(struct sgc_batch *b, const struct ir_chain *ch)
{
	return m_rule(b, ch, 0);
}

int sgc_msg_rules(struct sgc_batch *b, const struct ir_chain *ch)
{
	for (size_t i = 1; i <= ch->nr; i++) {
		int rc = m_rule(b, ch, i);

		if (rc)
			return rc;
	}
	return 0;
}

/* The set's identity in every set and element message. */
static struct nftnl_set *set_new(const struct ir_set *s)
{
	struct nftnl_set *ns = nftnl_set_alloc();

	if (ns) {
		nftnl_set_set_str(ns, NFTNL_SET_TABLE, SGC_TABLE);
		nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
		nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	}
	return ns;
}

/* What a new set needs besides its name: its type and flags. */
static void set_type(struct nftnl_set *ns, const struct ir_set *s, uint32_t id)
{
	uint32_t flags = 0;

	/* The kernel wants an id unique within the transaction for every new set. */
	nftnl_set_set_u32(ns, NFTNL_SET_ID, id);
	if (sgc_shape_interval(s->shape))
		flags |= NFT_SET_INTERVAL;
	if (sgc_shape_concat(s->shape)) {
		uint8_t fields[NFT_REG32_COUNT] = {0};
		size_t n = 0;

		flags |= NFT_SET_CONCAT;
		if (s->shape == SHAPE_ADDR_PROTO_PORT)
			fields[n++] = (uint8_t)cidr_addr_len(s->family);
		fields[n++] = 1; /* inet_proto */
		fields[n++] = 2; /* inet_service */
		nftnl_set_set_data(ns, NFTNL_SET_DESC_CONCAT, fields, sizeof(fields));
	}
	if (s->map) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, sgc_key_type(s->shape, s->family));
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, (uint32_t)sgc_key_len(s->shape, s->family));
}

int sgc_msg_set(struct sgc_batch *b, int type, const struct ir_set *s)
{
	bool create = type == NFT_MSG_NEWSET;
	struct nlmsghdr *nlh = b_header(b, type, create_flags(create));
	struct nftnl_set *ns = nlh ? set_new(s) : NULL;

	if (!ns)
		return -ENOMEM;
	if (create)
		set_type(ns, s, b_seq(b));
	nftnl_set_nlmsg_build_payload(nlh, ns);
	nftnl_set_free(ns);
	return b_commit(b, nlh, type, s->origin, "%s %s %s", verb(create), s->map ? "map" : "set",
	                s->name);
}

/* One message of m elements of s, v[0..m), added or deleted. */
static int m_elems(struct sgc_batch *b, int type, const struct ir_set *s,
                   const struct ir_elem *const *v, size_t m)
{
	bool del = type == NFT_MSG_DELSETELEM;
	struct nlmsghdr *nlh = b_header(b, type, create_flags(!del));
	struct nftnl_set *ns = nlh ? set_new(s) : NULL;
	int rc = ns ? 0 : -ENOMEM;

	for (size_t i = 0; i < m && !rc; i++)
		rc = sgc_kernel_elems(ns, s, v[i], del);
	if (!rc)
		nftnl_set_elems_nlmsg_build_payload(nlh, ns);
	if (ns)
		nftnl_set_free(ns);
	if (rc)
		return rc;
	return b_commit(b, nlh, type, s->origin, "%s %zu element(s) %s %s %s",
	                del ? "delete" : "add", m, del ? "from" : "to", s->map ? "map" : "set",
	                s->name);
}

int sgc_msg_elems(struct sgc_batch *b, int type, const struct ir_set *s,
                  const struct ir_elem *const *v, size_t n)
{
	for (size_t at = 0; at < n; at += SGC_ELEMS_PER_MSG) {
		int rc = m_elems(b, type, s, v + at,
		                 n - at < SGC_ELEMS_PER_MSG ? n - at : SGC_ELEMS_PER_MSG);

		if (rc)
			return rc;
	}
	return 0;
}

int sgc_msg_all_elems(struct sgc_batch *b, const struct ir_set *s)
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
	rc = sgc_msg_elems(b, NFT_MSG_NEWSETELEM, s, v, s->nel);
	free(v);
	return rc;
}

int sgc_msg_counter(struct sgc_batch *b, int type, const struct ir_counter *k)
{
	bool create = type == NFT_MSG_NEWOBJ;
	struct nlmsghdr *nlh = b_header(b, type, create_flags(create));
	struct nftnl_obj *o = nlh ? nftnl_obj_alloc() : NULL;

	if (!o)
		return -ENOMEM;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, SGC_TABLE);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, k->name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFPROTO_INET);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_obj_nlmsg_build_payload(nlh, o);
	nftnl_obj_free(o);
	return b_commit(b, nlh, type, k->origin, "%s counter %s", verb(create), k->name);
}

/* ---- the full replacement ---- */

/* Everything of c, into a table that does not exist yet in this transaction. */
static int m_content(struct sgc_batch *b, const struct sgc *c)
{
	int rc = 0;

	for (size_t i = 0; i < c->nctrs && !rc; i++)
		rc = sgc_msg_counter(b, NFT_MSG_NEWOBJ, &c->ctrs[i]);
	for (size_t i = 0; i < c->nchains && !rc; i++)
		rc = sgc_msg_chain(b, NFT_MSG_NEWCHAIN, &c->chains[i]);
	for (size_t i = 0; i < c->nsets && !rc; i++)
		rc = sgc_msg_set(b, NFT_MSG_NEWSET, &c->sets[i]);
	for (size_t i = 0; i < c->nsets && !rc; i++)
		rc = sgc_msg_all_elems(b, &c->sets[i]);
	for (size_t i = 0; i < c->nchains && !rc; i++)
		rc = sgc_msg_rules(b, &c->chains[i]);
	return rc;
}

int sgc_batch_full(const struct sgc *c, struct sgc_batch **out)
{
	struct sgc_batch *b = sgc_batch_begin();
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
	return sgc_batch_close(b, rc, out);
}
