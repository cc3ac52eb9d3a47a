/*
 * The planner, in two halves. Translation: desired routes and subnets + a
 * link lookup -> the kernel objects that make them true (routes, addresses,
 * policy rules, copies of connected networks). Planning: those + the
 * kernel's owned ones -> operations.
 * Pure: no I/O, no allocation beyond the returned arrays.
 */
#ifndef VR_PLAN_H
#define VR_PLAN_H

#include <stddef.h>

#include "kernel.h"

/*
 * desired[0..nd) must have distinct keys (table, family, dst, metric).
 * Produces KOP_ADD for each desired route whose key is missing in the kernel
 * and KOP_REPLACE for each one present but different (tag = its index in
 * desired), and KOP_DELETE for each observed route that is not desired (tag =
 * its index in observed); extra observed routes on a desired key are deleted
 * before its replace. "Present and fine" is plan_kroute_satisfies. Those
 * produce nothing and have ok[i] set true, every other ok[i] false (ok may be
 * NULL). *ops is malloc'd (NULL when *nops == 0). Returns 0 or -ENOMEM.
 */
int plan_routes(const struct kroute *desired, size_t nd, const struct kroute *observed, size_t no,
                struct kroute_op **ops, size_t *nops, bool *ok) __attribute__((warn_unused_result));

/* Same key: table, family, destination prefix, metric. */
bool plan_kroute_same_key(const struct kroute *a, const struct kroute *b);
/* Same key and same attributes (type, gateway, device). */
bool plan_kroute_equal(const struct kroute *a, const struct kroute *b);
/*
 * True when the kernel's route have fulfils the desired route want: same key
 * and type; for unicast also the same gateway, and the same device unless want
 * names a gateway without a device (the kernel then reports the device it
 * chose). Next hops of non-unicast routes are ignored.
 */
bool plan_kroute_satisfies(const struct kroute *want, const struct kroute *have);

/*
 * Addresses: desired[0..nd) must have distinct keys (ifindex, family, prefix
 * length, address). An address has nothing but its key, so there is no
 * replace: KOP_DELETE for each observed address not desired (tag = index in
 * observed; a repeated observed key is deleted once per extra copy), KOP_ADD
 * for each desired one missing (tag = index in desired); ok[i] as for
 * plan_routes. Every delete comes before every add: IPv6 refuses the same
 * address twice on a link, so an address changing its prefix length must go
 * before it comes back. *ops is malloc'd (NULL when *nops == 0). Returns 0
 * or -ENOMEM.
 */
int plan_addrs(const struct kaddr *desired, size_t nd, const struct kaddr *observed, size_t no,
               struct kaddr_op **ops, size_t *nops, bool *ok) __attribute__((warn_unused_result));

/*
 * Policy rules: the same, keyed by (family, source prefix, table, priority,
 * action); src.addr.family is not compared (r->family is), nor the address
 * bytes of a source of length 0. Every add comes before every delete, so
 * traffic moving from one rule to another always finds one of them.
 */
int plan_rules(const struct krule *desired, size_t nd, const struct krule *observed, size_t no,
               struct krule_op **ops, size_t *nops, bool *ok) __attribute__((warn_unused_result));

bool plan_kaddr_same_key(const struct kaddr *a, const struct kaddr *b);
bool plan_krule_same_key(const struct krule *a, const struct krule *b);

/*
 * Route-table associations, as in a VPC: traffic from a subnet associated
 * with a table other than main uses that table instead of main. Per subnet,
 * two policy rules: "from cidr lookup table" at PLAN_PRIO_LOOKUP and, right
 * after it, "from cidr unreachable" at PLAN_PRIO_MISS, so a miss in the
 * table is refused with an ICMP unreachable to the sender instead of going
 * on to main. And, as a VPC route table's implicit local route, the table
 * holds a copy of every connected network of the router (of the families
 * associated with it) at PLAN_CONNECTED_METRIC: the copies sit in the table
 * itself so that the longest prefix decides between them and the user's
 * routes (a default route there does not hide a connected network; a more
 * specific route, or one for the same network at any other metric, wins
 * over the copy), and they name the same device as the kernel's own
 * connected route in main, so a foreign rule looking the table up finds for
 * those destinations what main would have given it.
 */
#define PLAN_PRIO_LOOKUP VR_RULE_PRIO_FIRST
#define PLAN_PRIO_MISS (VR_RULE_PRIO_FIRST + 1)
#define PLAN_CONNECTED_METRIC UINT32_MAX

/*
 * The connected networks of the links: every address on a link that is up,
 * with its host bits cleared ("192.168.150.0/24" on ifindex 2), as the
 * kernel's connected routes in main have them. Left out: loopback
 * (127.0.0.0/8, ::1), IPv6 link-local (fe80::/10) and host prefixes (/32,
 * /128: no connected route). A network on two links is kept once, on the
 * lower ifindex. pending (may be NULL): address ops about to be applied,
 * whose outcome is to be assumed (deleted addresses gone, added ones there
 * if their link is up; other kinds are ignored), for a dry run. *out is
 * malloc'd (NULL when *nout == 0), sorted by (family, prefix). Returns 0 or
 * -ENOMEM.
 */
int plan_connected(const struct klink *links, size_t nlinks, const struct kaddr_op *pending,
                   size_t npending, struct kaddr **out, size_t *nout)
    __attribute__((warn_unused_result));

struct plan_assoc {
	struct krule *rules; /* two per subnet: lookup, then unreachable */
	size_t *rule_subnet; /* rules[i] belongs to subnets[rule_subnet[i]] */
	size_t nrules;
	struct kroute *routes; /* the copies, sorted by key, keys distinct */
	size_t nroutes;
};

/*
 * The kernel objects of the associations of subnets[0..n) (a table_id other
 * than RTB_MAIN_ID), for the subnets with ready[i] true: a subnet is applied
 * whole or not at all, so one whose address is not in place gets no rule,
 * and a table gets copies (of conn[0..nconn), from plan_connected) only for
 * the families of its ready subnets. Returns 0 or -ENOMEM; free *out with
 * plan_assoc_free.
 */
int plan_assoc(const struct subnet *subnets, size_t n, const bool *ready, const struct kaddr *conn,
               size_t nconn, struct plan_assoc *out) __attribute__((warn_unused_result));
void plan_assoc_free(struct plan_assoc *a);

/*
 * A desired (user) route on the very key of a copy takes its place: drop
 * those copies from a->routes. desired[0..nd) as for plan_routes. O(nd).
 */
void plan_assoc_shadow(struct plan_assoc *a, const struct kroute *desired, size_t nd);

/* ---- desired objects -> kernel objects: the one translation ---- */

/*
 * The reconciler (recon_*.c), the dry-run plan (preview.c) and diagnostics
 * turn the desired state into kernel objects with these functions and
 * compute none of it themselves, so what a dry run announces is what the
 * reconciler does. A pass, in the reconciler's order:
 *
 *   1. plan_kaddrs_of: the subnets' router addresses -> plan_addrs;
 *   2. plan_assoc_links with the subnets whose address is (or would be) in
 *      place: the associations' policy rules and copies of connected
 *      networks;
 *   3. plan_kroute_of for every route, then plan_with_copies -> plan_routes;
 *   4. plan_assoc_rules with the subnets still whole -> plan_rules.
 *
 * The only thing they need from the kernel, a link's index by name, comes
 * through a plan_links (kernel_ops' link_index and ctx fit it).
 */
struct plan_links {
	int (*index)(void *ctx, const char *name); /* the ifindex, 0 when there is no such link */
	void *ctx;
};

/* The kernel's route type (RTN_UNICAST, RTN_BLACKHOLE...) of a route type. */
uint8_t plan_route_type(enum route_type t);
/*
 * Back from the kernel (taking over its routes, adopt.c): the route type of
 * a kernel route type, 0; -EINVAL when the API has none (RTN_LOCAL...).
 */
int plan_route_type_of(uint8_t rtn, enum route_type *out) __attribute__((warn_unused_result));
/* The metric the API writes for kernel route k: an IPv6 1024 is the 0 it came from. */
uint32_t plan_route_metric_of(const struct kroute *k);

/*
 * The kernel form of the desired route rt (table number resolved): its
 * table, destination, type, gateway and metric, and the ifindex of the
 * device it names (0 when none). An IPv6 metric 0 becomes 1024, which is
 * what the kernel stores and reports for it. Returns 0, or -ENODEV when the
 * device does not exist: why then says so ("device eth9 does not exist")
 * and *out holds everything but the device.
 */
int plan_kroute_of(const struct route *rt, const struct plan_links *lk, struct kroute *out,
                   char *why, size_t len) __attribute__((warn_unused_result));

/*
 * The address subnet sn puts on its interface: the router address with the
 * subnet's prefix length ("192.168.100.3/24" on eth0). Returns 0, or
 * -ENODEV when the interface does not exist (why: "interface eth9 does not
 * exist").
 */
int plan_kaddr_of(const struct subnet *sn, const struct plan_links *lk, struct kaddr *out,
                  char *why, size_t len) __attribute__((warn_unused_result));

/*
 * The same over routes[0..n) (or pack's n routes when pack is set) /
 * subnets[0..n): out[k] and of[k] (its index in the input) for each object
 * that has a kernel form, in input order; fail(arg, i, why) (fail may be
 * NULL) for each other, with the reason. out and of hold n. Returns the count.
 */
size_t plan_kroutes_of(const struct route *routes, const struct route_pack *pack, size_t n,
                       const struct plan_links *lk, struct kroute *out, size_t *of,
                       void (*fail)(void *arg, size_t i, const char *why), void *arg);
size_t plan_kaddrs_of(const struct subnet *subnets, size_t n, const struct plan_links *lk,
                      struct kaddr *out, size_t *of,
                      void (*fail)(void *arg, size_t i, const char *why), void *arg);

/*
 * The routes a pass plans: desired[0..nu) holds the kernel form of the
 * user's routes and has room for as->nroutes more. A user route on the very
 * key of a copy takes its place (plan_assoc_shadow drops it from as); the
 * other copies are appended. Returns the count: in the ops plan_routes makes
 * of them, a tag below nu is a user route, from nu on it is the copy
 * as->routes[tag - nu].
 */
size_t plan_with_copies(struct kroute *desired, size_t nu, struct plan_assoc *as);

/*
 * plan_connected over links[0..nlinks) (pending as there) and then
 * plan_assoc: the associations of the ready subnets. Returns 0 or -ENOMEM;
 * free *out with plan_assoc_free.
 */
int plan_assoc_links(const struct subnet *subnets, size_t n, const bool *ready,
                     const struct klink *links, size_t nlinks, const struct kaddr_op *pending,
                     size_t npending, struct plan_assoc *out) __attribute__((warn_unused_result));

/* True when the copy c of as->routes is there for subnet sn (same table and family). */
bool plan_copy_for(const struct subnet *sn, const struct kroute *c);

/*
 * The rules of as whose subnet is still ready (ready[i] for subnets[i]:
 * its address and its table's copies in place): out[k] with of[k] the
 * subnet's index. out and of hold as->nrules. Returns the count.
 */
size_t plan_assoc_rules(const struct plan_assoc *as, const bool *ready, struct krule *out,
                        size_t *of);

#endif
