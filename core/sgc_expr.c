/*
 * The IR in libnftnl's terms: a rule's expressions, an element's kernel
 * elements. Batches send them; the check compares the kernel's with them.
 */
#include "sgc_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <assert.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

/* ct state bits as the ct expression reports them (NF_CT_STATE_BIT). */
#define CT_INVALID 0x1u
#define CT_ESTABLISHED 0x2u
#define CT_RELATED 0x4u

#define LOOPBACK_IFINDEX 1 /* "lo" in every network namespace */

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
	uint8_t v = (uint8_t)sgc_fam_nfproto(family);

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

/* Load the peer's (or the classified host's) address of the rule's family into reg 1. */
static void x_peer(struct rb *rb, const struct ir_rule *r)
{
	x_nfproto(rb, r->family);
	x_addr(rb, r->family, r->daddr);
}

/* The match of r, then its verdict: accept unless the kind has one of its own. */
static void rule_exprs(struct rb *rb, const struct ir_rule *r)
{
	uint8_t icmp = r->family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	uint32_t lo = LOOPBACK_IFINDEX;
	uint16_t port = htons(r->port);
	/* Concatenations: each field in its own 32-bit register after the address. */
	uint32_t preg = (uint32_t)cidr_addr_len(r->family) / 4;
	const char *p = r->counters;
	char name[SGC_NAME_MAX];

	switch (r->kind) {
	case RK_CT_ESTREL: x_ct_state(rb, CT_ESTABLISHED | CT_RELATED); break;
	case RK_CT_INVALID:
		x_ct_state(rb, CT_INVALID);
		x_verdict(rb, NF_DROP, NULL);
		return;
	case RK_ND:
		x_nfproto(rb, AF_INET6);
		x_l4proto(rb, IPPROTO_ICMPV6);
		x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		x_lookup(rb, r->a, false);
		break;
	case RK_IIF_LO:
	case RK_OIF_LO:
		x_meta(rb, r->kind == RK_IIF_LO ? NFT_META_IIF : NFT_META_OIF, NFT_REG_1);
		x_cmp(rb, NFT_CMP_EQ, &lo, sizeof(lo));
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
		break;
	case RK_VMAP:
		x_peer(rb, r);
		x_lookup(rb, r->a, true);
		return;
	case RK_JUMP: x_verdict(rb, NFT_JUMP, r->a); return;
	case RK_CIDR_PORTS:
		x_peer(rb, r);
		x_meta(rb, NFT_META_L4PROTO, reg32(preg));
		x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32(preg + 1));
		x_lookup(rb, r->a, false);
		break;
	case RK_CIDR_ICMP:
		x_nfproto(rb, r->family);
		x_l4proto(rb, icmp);
		x_addr(rb, r->family, r->daddr);
		x_lookup(rb, r->a, false);
		break;
	case RK_CIDR_ALL:
	case RK_REMOTE_ALL:
		x_peer(rb, r);
		x_lookup(rb, r->a, false);
		break;
	case RK_REMOTE_ICMP:
		x_peer(rb, r);
		x_lookup(rb, r->a, false);
		x_l4proto(rb, icmp);
		break;
	case RK_REMOTE_PORTS:
		x_peer(rb, r);
		x_lookup(rb, r->a, false);
		x_meta(rb, NFT_META_L4PROTO, reg32(0));
		x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32(1));
		x_lookup(rb, r->b, false);
		break;
	case RK_DROP:
		while (sgc_next_name(&p, name))
			x_objref_counter(rb, name);
		x_verdict(rb, NF_DROP, NULL);
		return;
	}
	x_verdict(rb, NF_ACCEPT, NULL);
}

/* True when the key is the highest of its field: an interval ending there has no end element. */
static bool key_is_max(const uint8_t *k, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (k[i] != 0xff)
			return false;
	return true;
}

/* hi + 1, big-endian over len bytes: hi is not the highest key. */
static void key_next(uint8_t *out, const uint8_t *hi, size_t len)
{
	assert(!key_is_max(hi, len));
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
int sgc_kernel_elems(struct nftnl_set *ns, const struct ir_set *s, const struct ir_elem *e,
                     bool del)
{
	size_t klen = sgc_key_len(s->shape, s->family);
	struct nftnl_set_elem *k = nftnl_set_elem_alloc();

	if (!k)
		return -ENOMEM;
	nftnl_set_elem_set(k, NFTNL_SET_ELEM_KEY, e->lo, (uint32_t)klen);
	if (sgc_shape_concat(s->shape))
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

int sgc_rule_exprs(struct nftnl_rule *kr, const struct ir_rule *r)
{
	struct rb rb = {.r = kr};

	rule_exprs(&rb, r);
	return rb.err;
}
