/*
 * The kernel side of a dry run: what making a desired state true would do to
 * the kernel, compared with what the kernel holds now (owned routes,
 * addresses and policy rules, IP forwarding) and, for nftables, with the
 * compiled current desired state (what the reconciler keeps in the table).
 * It reads the kernel through a kernel_ops and writes nothing.
 */
#ifndef VR_PREVIEW_H
#define VR_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"
#include "model.h"
#include "sgc.h"

#define PREVIEW_ITEMS_MAX 100 /* objects described per part; the counts are always exact */
#define PREVIEW_WHAT_MAX 192

enum preview_op {
	PREVIEW_ADD,    /* the kernel would gain it */
	PREVIEW_CHANGE, /* it would be replaced at the same key */
	PREVIEW_REMOVE, /* the kernel would lose it */
	PREVIEW_FAIL    /* desired, but cannot be applied now (its device does not exist) */
};

struct preview_item {
	enum preview_op op;
	char id[ID_MAX]; /* the desired object it comes from; "" for a removal */
	char what[PREVIEW_WHAT_MAX];
};

struct preview_list {
	size_t add, change, remove, fail;
	size_t nitems; /* the first PREVIEW_ITEMS_MAX of them, failures first */
	struct preview_item items[PREVIEW_ITEMS_MAX];
};

enum preview_nft {
	PREVIEW_NFT_NONE,   /* the table stays as it is (or absent) */
	PREVIEW_NFT_CREATE, /* table inet vrouter would appear */
	PREVIEW_NFT_UPDATE, /* its content would change */
	PREVIEW_NFT_REMOVE  /* it would go */
};

struct preview {
	struct preview_list routes, addrs, rules;
	/* IP forwarding: the kernel's values now, and the new state's when it manages them. */
	bool fwd_v4, fwd_v6;
	bool fwd_managed;
	bool want_v4, want_v6;
	/* nftables: the one transaction that would turn the current table into the new one. */
	enum preview_nft nft;
	size_t nft_msgs;
	size_t nft_elems_now, nft_elems_new;   /* set elements (address intervals, ports...) */
	size_t nft_chains_now, nft_chains_new; /* chains */
	size_t nft_nitems;                     /* its first messages, in words */
	char nft_items[PREVIEW_ITEMS_MAX][SGC_WHAT_MAX];
};

struct preview_input {
	const struct route *routes;    /* the new state, table numbers resolved */
	const struct route_pack *pack; /* or these (a PUT's document), when set */
	size_t nroutes;
	const struct subnet *subnets; /* the same */
	size_t nsubnets;
	bool fwd_managed; /* false: forwarding is left as it is */
	bool fwd_v4, fwd_v6;
	const struct security_group *groups_now; /* the current state, targets parsed */
	size_t ngroups_now;
	const struct sg_rule *rules_now;
	size_t nrules_now;
	const struct security_group *groups; /* the new state, validated */
	size_t ngroups;
	const struct sg_rule *rules;
	size_t nrules;
	struct sgc_listen api; /* as the reconciler compiles with it */
};

/*
 * Compare in with the kernel k and describe the difference in *out (malloc'd,
 * free with preview_free). Returns 0, or -errno with why (a dump failed, out
 * of memory).
 */
int preview_kernel(const struct kernel_ops *k, const struct preview_input *in, struct preview **out,
                   char *why, size_t len) __attribute__((warn_unused_result));
void preview_free(struct preview *p);

/*
 * Kernel objects in words, as ip says them: "10.1.0.0/24 via 10.0.0.1 dev
 * eth0 table 254 metric 0", "192.168.100.1/24 dev eth1", "ipv4 from
 * 192.168.150.0/24 lookup 10000 priority 20000".
 */
void preview_route_words(const struct kroute *r, char *buf, size_t len);
void preview_addr_words(const struct kaddr *a, char *buf, size_t len);
void preview_rule_words(const struct krule *r, char *buf, size_t len);

#endif
