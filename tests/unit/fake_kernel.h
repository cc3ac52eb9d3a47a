/*
 * A fake kernel for the reconciler and the dry-run plan: routes, addresses,
 * policy rules and forwarding in memory, three links (lo 1, eth0 2, eth1 3),
 * foreign addresses that only links_list shows, and a log of every op
 * applied, in order. Tests reach into fk directly, under fk.lock when the
 * reconciler may be running.
 */
#ifndef VR_TEST_FAKE_KERNEL_H
#define VR_TEST_FAKE_KERNEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

#define FAKE_MAX 64
#define FAKE_LOG_MAX 256

/*
 * What route_get answers for a destination inside dst (the longest such
 * entry wins) asked with input interface iif (-1: any): rc, and a when rc is
 * 0 or a names a reject route. No entry: -ENETUNREACH.
 */
struct fake_rget {
	struct prefix dst;
	int iif;
	int rc;
	struct kroute_answer a;
};

struct fake {
	pthread_mutex_t lock;
	struct kroute r[FAKE_MAX];
	size_t n;
	struct kaddr a[FAKE_MAX];
	size_t na;
	struct krule rl[FAKE_MAX];
	size_t nrl;
	struct kaddr fa[FAKE_MAX]; /* foreign addresses: in links_list, never in addr_dump */
	size_t nfa;
	bool eth1_down;
	bool fwd4, fwd6;
	int efd;
	unsigned applies; /* route_apply calls */
	/*
	 * While hold is set, route_apply waits on gate (held says one does), so a
	 * test can queue changes behind a reconciler that is busy in the kernel.
	 */
	bool hold, held;
	pthread_cond_t gate;
	unsigned ops; /* ops applied in total */
	/* Every op handed to route_apply, addr_apply and rule_apply, in order, with its result. */
	struct kroute_op rlog[FAKE_LOG_MAX];
	int rres[FAKE_LOG_MAX];
	size_t nrlog;
	struct kaddr_op alog[FAKE_LOG_MAX];
	int ares[FAKE_LOG_MAX];
	size_t nalog;
	struct krule_op rllog[FAKE_LOG_MAX];
	int rlres[FAKE_LOG_MAX];
	size_t nrllog;
	/* Diagnostics: route_get's answers and the last question, conntrack, counters. */
	struct fake_rget rg[FAKE_MAX];
	size_t nrg;
	struct kroute_query rg_last[FAKE_MAX];
	size_t nrg_last;
	struct kflow ct[FAKE_MAX];
	size_t nct;
	struct kcounter ctr[FAKE_MAX];
	size_t nctr;
};

/* The one fake; zero it, init its lock and give it an eventfd before use. */
extern struct fake fk;
/* Whether a route whose destination starts a0.a1 is in the fake (under fk.lock). */
bool fake_has(uint8_t a0, uint8_t a1);
/* How many routes the fake holds (under fk.lock). */
size_t fake_count(void);
/* Its kernel_ops (no nftables: security groups stay pending). */
extern const struct kernel_ops fake_ops;
/* The nft_counters of the fake (fake_ops has no nft: set .nft = &fk and this on a copy). */
int fake_nft_counters(void *nft, struct kcounter **out, size_t *n);

#endif
