/*
 * The planner: desired routes, addresses and policy rules + the kernel's
 * owned ones -> operations.
 * Pure: no I/O, no allocation beyond the returned array.
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
 * Policy rules: the same, keyed by (family, source prefix, table, priority);
 * src.addr.family is not compared (r->family is), nor the address bytes of
 * a source of length 0. Every add comes before every delete, so traffic
 * moving from one rule to another always finds one of them.
 */
int plan_rules(const struct krule *desired, size_t nd, const struct krule *observed, size_t no,
               struct krule_op **ops, size_t *nops, bool *ok) __attribute__((warn_unused_result));

bool plan_kaddr_same_key(const struct kaddr *a, const struct kaddr *b);
bool plan_krule_same_key(const struct krule *a, const struct krule *b);

#endif
