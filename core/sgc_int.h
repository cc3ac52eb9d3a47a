/*
 * The security-group compiler's private header, shared by its siblings
 * (sgc.h is the public contract and its comment the design):
 *
 *   sgc_ir.c       the intermediate representation: building, sorting,
 *                  comparing, freeing; small shared helpers
 *   sgc_addr.c     interval arithmetic on addresses and the set elements it
 *                  yields (disjoint intervals, merged runs, element keys)
 *   sgc_compile.c  groups and rules -> the IR (sgc_compile)
 *   sgc_text.c     the IR as nft-like text (sgc_dump)
 *   sgc_expr.c     IR rules as nftables expressions, IR elements as kernel
 *                  set elements
 *   sgc_batch.c    the IR -> netlink messages of one transaction
 *   sgc_update.c   the smallest transaction from one IR to the next
 *   sgc_check.c    what the kernel holds compared with the IR
 *
 * Calls go one way: compile -> addr -> ir; update -> batch -> expr -> ir;
 * check -> expr; text -> ir. Nothing calls up into compile, update or check.
 */
#ifndef VR_SGC_INT_H
#define VR_SGC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grow.h"
#include "model.h"
#include "sgc.h"

#define KEY_MAX 24 /* ip6 addr . proto . port, each field padded to 4 bytes */
#define NUM_LEN 17 /* a 128-bit address plus one carry byte */

/* ---- the intermediate representation ---- */

/*
 * Every named object starts with its name: one comparison (sgc_name_cmp)
 * sorts them and finds them by name.
 */
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

/*
 * Growth bounds (vr_grow) of what one compile builds: far above what the
 * largest states measured (tests/bench) yield; they stop a runaway, not a user.
 */
#define SGC_SET_ELEMS_MAX ((size_t)1 << 24)   /* elements of one set */
#define SGC_CHAIN_RULES_MAX ((size_t)1 << 24) /* rules of one chain */
#define SGC_OBJS_MAX ((size_t)1 << 24)        /* sets, chains or counters of one compile */

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

/* Once compiled: sets, chains and counters each sorted by name, names unique. */
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

/* ---- sgc_ir.c: helpers ---- */

/* qsort and bsearch, tolerating an empty (possibly NULL) array. */
void sgc_sort(void *v, size_t n, size_t sz, int (*cmp)(const void *, const void *));
void *sgc_search(const void *key, const void *v, size_t n, size_t sz,
                 int (*cmp)(const void *, const void *));
/* Compare two named objects, or a name (as key) with a named object. */
int sgc_name_cmp(const void *a, const void *b);
/* Compare two (char *) array elements. */
int sgc_str_cmp(const void *a, const void *b);
/* Print a name of at most SGC_NAME_MAX bytes into dst. */
void sgc_name(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next name of the space-separated list *p into name (SGC_NAME_MAX); false at its end. */
bool sgc_next_name(const char **p, char *name);

const char *sgc_hook_name(uint32_t hook);
int sgc_fam_nfproto(int family);
int sgc_fam_digit(int family);
/* Length in bytes of the set key (fields padded to 4 bytes), and its nftables type. */
size_t sgc_key_len(enum set_shape s, int family);
uint32_t sgc_key_type(enum set_shape s, int family);
bool sgc_shape_concat(enum set_shape s);
bool sgc_shape_interval(enum set_shape s);

/* ---- sgc_ir.c: building (NULL or -ENOMEM when out of memory) ---- */

struct ir_set *sgc_set_add(struct sgc *c, const char *name, enum set_shape shape, int family,
                           bool map, const char *origin);
struct ir_chain *sgc_chain_add(struct sgc *c, const char *name, bool base, uint32_t hook,
                               const char *origin);
struct ir_rule *sgc_rule_add(struct ir_chain *ch, enum rule_kind k);
/* Add the counter unless c has it already. */
int sgc_counter_add(struct sgc *c, const char *name, const char *origin)
    __attribute__((warn_unused_result));
struct ir_elem *sgc_elem_add(struct ir_set *s);
/* Linear lookups, for a c still being built (unsorted). */
struct ir_set *sgc_set_find(struct sgc *c, const char *name);
struct ir_chain *sgc_chain_find(struct sgc *c, const char *name);
/* Free the contents of one set or of everything in c; c stays usable. */
void sgc_set_clear(struct ir_set *s);
void sgc_clear(struct sgc *c);
/* Sort what c holds (see struct sgc) and the elements of every set by their first key. */
void sgc_ir_sort(struct sgc *c);
/* The invariant the diff and the checks rely on; for assert(). */
bool sgc_ir_sorted(const struct sgc *c);

/* ---- sgc_ir.c: comparing ---- */

bool sgc_elem_equal(const struct ir_elem *a, const struct ir_elem *b);
/* Same type: shape, family, map. */
bool sgc_set_meta_equal(const struct ir_set *a, const struct ir_set *b);
bool sgc_chain_rules_equal(const struct ir_chain *a, const struct ir_chain *b);
/* Elements are disjoint, so their first keys order them. */
int sgc_elem_order(const struct ir_elem *a, const struct ir_elem *b);

/* ---- sgc_addr.c: interval arithmetic ---- */

/* An address as a number, right-aligned: an IPv4 address occupies the last 4 bytes. */
struct num {
	uint8_t b[NUM_LEN];
};

/* A segment [lo, hi_excl) of the address line, tagged with what covers it. */
struct seg {
	struct num lo, hi_excl;
	size_t tag;
};

/* A port range, inclusive. */
struct prange {
	uint16_t lo, hi;
};

/* A tcp or udp rule's peer and ports: an address segment times a port range. */
struct box {
	struct num lo, hi_excl;
	uint8_t proto;
	struct prange ports;
};

/*
 * What a rule or target means, shared by the compiler and by sgc_match.c,
 * which answers "does this rule allow this flow" with the same semantics.
 */
/* The port range of a tcp/udp rule; all ports when it names none. */
struct prange sgc_rule_ports(const struct sg_rule *r);
/* icmp rules match IPv4 only, icmpv6 rules IPv6 only; other protocols any family. */
bool sgc_icmp_fits(enum sg_protocol p, int fam);
/* True when target t is an address or CIDR of family fam (`local` is none). */
bool sgc_target_of(const struct sg_target *t, int fam);

/* The addresses of p as [lo, hi_excl). */
void sgc_prefix_span(const struct prefix *p, struct num *lo, struct num *hi_excl);

/* Fill an address set with the union of segments. */
int sgc_fill_addr_set(struct ir_set *s, const struct seg *segs, size_t n)
    __attribute__((warn_unused_result));
/* Fill an addr . proto . port set from boxes (tcp first, then udp). */
int sgc_fill_port_set(struct ir_set *s, const struct box *boxes, size_t n)
    __attribute__((warn_unused_result));
/* Fill a proto . port set: the union of the tcp ranges, then of the udp ones (both reordered). */
int sgc_fill_proto_port_set(struct ir_set *s, struct prange *tcp, size_t ntcp, struct prange *udp,
                            size_t nudp) __attribute__((warn_unused_result));

/*
 * Names the map entry for a piece of the address line covered by the
 * segments tagged tags[0..ntags) (unsorted, with repeats; the callee may
 * reorder them): the chain to jump to in chain (SGC_NAME_MAX), or "" for
 * no entry. 0 or -errno.
 */
typedef int (*sgc_label_fn)(void *ctx, size_t *tags, size_t ntags, char *chain);
/* Fill a verdict map: each piece of the union of segs mapped to its label. */
int sgc_fill_map(struct ir_set *s, const struct seg *segs, size_t n, sgc_label_fn label, void *ctx)
    __attribute__((warn_unused_result));

/* ---- sgc_expr.c ---- */

struct nftnl_rule;
struct nftnl_set;

/* Append the expressions of r to kr. 0 or -ENOMEM. */
int sgc_rule_exprs(struct nftnl_rule *kr, const struct ir_rule *r)
    __attribute__((warn_unused_result));
/*
 * Add to ks the kernel elements for e of s (one or two; without the verdict
 * when deleting). 0 or -ENOMEM.
 */
int sgc_kernel_elems(struct nftnl_set *ks, const struct ir_set *s, const struct ir_elem *e,
                     bool del) __attribute__((warn_unused_result));

/* ---- sgc_batch.c: messages, for sgc_update.c ---- */

/* A batch holding its begin message, or NULL. */
struct sgc_batch *sgc_batch_begin(void);
/*
 * Finish b: when rc is 0, append the batch end and hand b out in *out;
 * otherwise (or out of memory) free b. Returns rc, or -ENOMEM.
 */
int sgc_batch_close(struct sgc_batch *b, int rc, struct sgc_batch **out)
    __attribute__((warn_unused_result));

/* type: NFT_MSG_NEW* creates, NFT_MSG_DEL* deletes. 0 or -ENOMEM. */
int sgc_msg_counter(struct sgc_batch *b, int type, const struct ir_counter *k)
    __attribute__((warn_unused_result));
int sgc_msg_chain(struct sgc_batch *b, int type, const struct ir_chain *ch)
    __attribute__((warn_unused_result));
int sgc_msg_set(struct sgc_batch *b, int type, const struct ir_set *s)
    __attribute__((warn_unused_result));
/* Delete every rule of the chain. */
int sgc_msg_flush(struct sgc_batch *b, const struct ir_chain *ch)
    __attribute__((warn_unused_result));
/* Append every rule of the chain. */
int sgc_msg_rules(struct sgc_batch *b, const struct ir_chain *ch)
    __attribute__((warn_unused_result));
/* Elements v[0..n) of s, added or deleted (NFT_MSG_NEWSETELEM / DELSETELEM). */
int sgc_msg_elems(struct sgc_batch *b, int type, const struct ir_set *s,
                  const struct ir_elem *const *v, size_t n) __attribute__((warn_unused_result));
/* Every element of s, added. */
int sgc_msg_all_elems(struct sgc_batch *b, const struct ir_set *s)
    __attribute__((warn_unused_result));

#endif
