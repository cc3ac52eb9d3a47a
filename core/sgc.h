/*
 * The security-group compiler: desired groups and rules in, the complete
 * content of nftables `table inet vrouter` out. Pure: no sockets, no I/O;
 * nft.c sends what it builds.
 *
 * Two steps:
 *   sgc_compile      groups + rules + the API's listening socket -> a
 *                    compiled ruleset (an intermediate representation of
 *                    named sets, maps, chains and counters, deterministic,
 *                    sorted by name);
 *   sgc_batch_*      a compiled ruleset (and the one applied before) -> the
 *                    netlink messages of one nftables transaction.
 *
 * Layout of the table (sgc_dump prints it; names are deterministic so that
 * a change touches only what it must). Base chains, all priority 0, policy
 * accept, each starting with `ct state established,related accept`:
 *
 *   chain forward_in   hook forward: ip daddr vmap @in4; ip6 daddr vmap @in6
 *   chain forward_eg   hook forward: ip saddr vmap @eg4; ip6 saddr vmap @eg6
 *   chain output_in    hook output: this host's own connections to covered
 *                        hosts: [icmpv6 type @nd6 accept]; oif lo accept;
 *                        ip daddr vmap @in4; ip6 daddr vmap @in6
 *   chain input_eg     hook input: covered hosts' connections to this host:
 *                        [icmpv6 type @nd6 accept]; iif lo accept;
 *                        ip saddr vmap @eg4; ip6 saddr vmap @eg6
 *   chain input        hook input, `local`: icmpv6 type @nd6 accept; iif lo
 *                        accept; the API rule; jump cin_<local groups>
 *   chain output       hook output, `local`: icmpv6 type @nd6 accept; oif lo
 *                        accept; jump ceg_<local groups with egress rules>
 *
 * and the chains and sets they reach:
 *
 *   map in4/in6        destination address intervals -> jump cin_<combo>;
 *                      the targets of all groups split into disjoint
 *                      intervals, each mapped to its combination of groups
 *   map eg4/eg6        source address intervals -> jump ceg_<combo>, only
 *                      where one of the host's groups has egress rules
 *   chain cin_<combo>  ct state invalid drop; jump in_<g> for each group;
 *                      counter name drop_in_<g>... drop
 *   chain ceg_<combo>  the same with eg_<g> and drop_eg_<g>
 *   chain in_<g>       the group's ingress rules, each a set lookup that
 *                      accepts: ip saddr . meta l4proto . th dport @in4p_<g>
 *                      (tcp/udp), meta l4proto icmp ip saddr @in4i_<g>,
 *                      ip saddr @in4a_<g> (all), the same for ip6, and per
 *                      remote group R: ip saddr @m4_<R> [meta l4proto icmp |
 *                      meta l4proto . th dport @inr_<g>_<R>] accept
 *   chain eg_<g>       the same on the destination address for egress
 *   set m4_<R>/m6_<R>  members (targets) of a group named by a remote rule
 *   set nd6            ICMPv6 ND, RA, redirect, MLD types (130-137, 143)
 *
 * Every check is a base chain of its own: an accept ends only its own base
 * chain, so an egress allow of the source never skips the destination's
 * ingress check, a `local` allow never skips a covered host's check on the
 * same hook (nor the reverse), and group chains can simply accept. The
 * per-packet cost of a new connection is one map lookup per base chain of
 * its hook, plus per group of the host a fixed number of set lookups (and
 * one per remote group it names): it does not grow with the number of rules
 * or targets. output_in and input_eg reuse the maps and group chains of the
 * forward hook; the nd6 rule is there only when an IPv6 map is.
 *
 * A covered host gets only what a rule allows, whoever sends it: the same
 * ingress rules govern forwarded connections to it and those this host opens
 * (output_in, the peer being this host's source address), the same egress
 * rules its forwarded connections and those to this host's own addresses
 * (input_eg). Only the covered side is classified: on output the source, on
 * input the destination is this host, which forward targets never guard.
 * So a target CIDR holding one of this host's addresses (192.168.100.0/24
 * on a router at 192.168.100.3) guards the other hosts in it, not this host:
 * to guard this host, use `local`. Traffic of this host to itself passes
 * on loopback before any classification; as a peer of a covered host it is
 * its source address, which a rule's CIDR may contain.
 *
 * `local` guards this host on input and output. Its anti-lockout is the
 * API's listening socket, nothing more: `ip[6] daddr ADDR tcp dport PORT
 * accept` on input, its port on every address of the family when it listens
 * on the unspecified address (`meta nfproto F tcp dport PORT`), no rule when
 * it listens on loopback (loopback always passes). Its replies leave as
 * established traffic: no rule matches a source port, so no process escapes
 * egress rules by choosing the API's port. The anti-lockout is `local`'s: a
 * covered host's egress rules govern its connections to the API as well.
 *
 * Hosts covered by no group have no map entry and are not filtered; `ct
 * state invalid drop` applies to covered hosts only, after ICMPv6 neighbour
 * discovery, router advertisements and MLD (which conntrack marks invalid)
 * are accepted on input/output.
 *
 * Table flags: NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST (kernel >= 6.9). While
 * vrouterd runs, the table belongs to its nftables socket and the kernel
 * refuses any change by anyone else (`nft flush ruleset` skips it, `nft
 * delete table` gets EPERM). When the process exits or is killed the table
 * stays in the kernel, orphaned (fail closed), and the next process replaces
 * it in one transaction. OWNER alone would drop the guard with the process;
 * no flags would leave the table open to a stray flush. A kernel without
 * PERSIST refuses the flags with EOPNOTSUPP: compile with table_flags 0 and
 * rely on the notification socket (nft.h) to repair foreign changes.
 */
#ifndef VR_SGC_H
#define VR_SGC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4 /* linux 6.9; Debian 12's headers lack it */
#endif

#define SGC_TABLE "vrouter"     /* family inet */
#define SGC_TABLE_FLAGS 0x6u    /* NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST */
#define SGC_NAME_MAX 128        /* our set/chain/counter names, NUL included */
#define SGC_WHAT_MAX 192        /* description of one batch message */
#define SGC_ELEMS_PER_MSG 128   /* set elements per netlink message */
#define SGC_MSG_MAX (64 * 1024) /* largest single message we build */

struct sgc;
struct sgc_batch;

/*
 * The API's listening socket, which `local` guards never block: its address
 * (the unspecified address of a family: every address of this host in that
 * family) and TCP port. Family 0 or port 0: no API socket to keep open.
 */
struct sgc_listen {
	struct ipaddr addr;
	uint16_t port;
};

struct sgc_input {
	const struct security_group *groups; /* validated; targets parsed */
	size_t ngroups;
	const struct sg_rule *rules; /* validated; cidr parsed when cidr_text != "" */
	size_t nrules;
	struct sgc_listen api;
	uint32_t table_flags; /* SGC_TABLE_FLAGS, or 0 on kernels without PERSIST */
};

/*
 * Compile the desired state. Rules whose group is unknown are ignored; a
 * remote group that does not exist has no members. Rules that can never
 * match (icmp with an IPv6 cidr, icmpv6 with an IPv4 one) still make their
 * group restrict that direction. Returns 0, or -ENOMEM (why says so).
 */
int sgc_compile(const struct sgc_input *in, struct sgc **out, char *why, size_t len)
    __attribute__((warn_unused_result));
void sgc_free(struct sgc *c);

/* True when there is nothing to enforce: the table must not exist. NULL counts as empty. */
bool sgc_empty(const struct sgc *c);
/* The table flags c was compiled with. */
uint32_t sgc_table_flags(const struct sgc *c);
/* The number of named sets/maps, chains, counters, and set elements (intervals). */
void sgc_counts(const struct sgc *c, size_t *sets, size_t *chains, size_t *counters, size_t *elems);
/* True when the two compiled rulesets would put the same content in the kernel. */
bool sgc_equal(const struct sgc *a, const struct sgc *b);
/* The compiled ruleset as nft-like text, for logs, diagnostics and tests. */
void sgc_dump(const struct sgc *c, FILE *f);

/*
 * The one transaction that makes the kernel hold exactly c, whatever is
 * there now: create the table if absent (no flags, so an existing table is
 * untouched), delete it, create it again with its flags and content. When c
 * is empty it only deletes the table (create-if-absent + delete). Atomic:
 * the old guard stays until the new one is in place. Fails with -EPERM in
 * the kernel when another live process owns the table. c may be NULL.
 */
int sgc_batch_full(const struct sgc *c, struct sgc_batch **out) __attribute__((warn_unused_result));
/*
 * The smallest transaction that turns the kernel content `old` (the last
 * applied compile, NULL = unknown) into `new`: set elements added and
 * removed, chains created, replaced (flushed and refilled) or deleted, sets
 * and counters created or deleted. Falls back to sgc_batch_full when the
 * shape changed (table created or removed, flags, a set's type, a base
 * chain's hook) or old is NULL; sgc_batch_is_full says which. A batch with
 * no messages means nothing changed.
 */
int sgc_batch_update(const struct sgc *old, const struct sgc *new, struct sgc_batch **out)
    __attribute__((warn_unused_result));
void sgc_batch_free(struct sgc_batch *b);

bool sgc_batch_is_full(const struct sgc_batch *b);
/*
 * The bytes to send in one sendmsg: batch begin, the messages, batch end.
 * Sequence numbers are 0 for the begin, 1..n for the messages, n + 1 for
 * the end; nft_send adds its own base. Every message asks for an ack.
 */
const void *sgc_batch_data(const struct sgc_batch *b, size_t *len);
/* Number of messages between begin and end. */
size_t sgc_batch_nmsgs(const struct sgc_batch *b);
/* Message i (1..n): NFT_MSG_* type, what it does, and the group id it is for ("" if shared). */
int sgc_batch_msg_type(const struct sgc_batch *b, size_t i);
const char *sgc_batch_msg_what(const struct sgc_batch *b, size_t i);
const char *sgc_batch_msg_origin(const struct sgc_batch *b, size_t i);
/* True when every message only adds or deletes set elements. */
bool sgc_batch_elements_only(const struct sgc_batch *b);

/*
 * Diagnostics: what the compiled guard does with one new connection, asked
 * of the groups and rules themselves so the answer can name the rule
 * (sgc_match.c, on the predicates the compiler builds its sets with).
 */
struct sgc_flow {
	struct ipaddr src, dst;
	enum sg_protocol proto; /* tcp, udp, icmp or icmpv6 (never all) */
	uint16_t dport;         /* tcp/udp */
	bool src_local;         /* src is an address of this host */
	bool dst_local;
};

/*
 * Whether g guards the host at a: `local` when is_local (this host),
 * otherwise a target containing a. A target CIDR holding this host's
 * address guards the other hosts in it, never this host.
 */
bool sgc_covers(const struct security_group *g, const struct ipaddr *a, bool is_local);
/*
 * Whether rule r allows f in its direction (ingress: the peer is f->src,
 * egress: f->dst): protocol, ports, and the peer inside its cidr or among
 * the targets of its remote group (looked up in groups[0..ng)).
 */
bool sgc_rule_allows(const struct sg_rule *r, const struct security_group *groups, size_t ng,
                     const struct sgc_flow *f);
/* The name of the drop counter of group gid in direction d ("drop_in_sg-..."), SGC_NAME_MAX. */
void sgc_drop_counter_name(const char *gid, enum sg_direction d, char *out);

struct nftnl_chain_list;
struct nftnl_rule_list;
struct nftnl_set_list;
struct nftnl_obj_list;

/*
 * Compare what the kernel holds (the objects of table inet vrouter only, as
 * dumped: chains, rules in order, sets each carrying its elements, counter
 * objects) with c: chain names and hooks, every rule's expressions, set
 * types and every element, counter names. 0 when equal, 1 when not (why
 * names the first difference), -ENOMEM.
 */
int sgc_check(const struct sgc *c, struct nftnl_chain_list *chains, struct nftnl_rule_list *rules,
              struct nftnl_set_list *sets, struct nftnl_obj_list *objs, char *why, size_t len)
    __attribute__((warn_unused_result));

#endif
