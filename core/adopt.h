/*
 * At start, before the reconciler's first pass: what to do with the kernel
 * objects vrouter owns (proto 245 routes and policy rules, IFA_PROTO 245
 * addresses, table inet vrouter) when the database holds no desired state.
 * That pass would remove them all and open the firewall: a new database may
 * be a typo or a lost /var/lib/vrouter. So the start is refused unless the
 * operator says what to do: take them over (the first pass removes them, and
 * says so) or import them (they become desired state; the kernel does not
 * change).
 */
#ifndef VR_ADOPT_H
#define VR_ADOPT_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel.h"

struct store;

#define ADOPT_EXAMPLES 3   /* objects shown per kind in a refusal */
#define ADOPT_WHY_MAX 1024 /* room for a reason naming objects */

enum adopt_mode {
	ADOPT_REFUSE = 0, /* the default: refuse to start */
	ADOPT_TAKE_OVER,  /* --take-over: start; the first pass removes them */
	ADOPT_IMPORT      /* --import-owned: make them desired state, then start */
};

/* What a start does. */
enum adopt_action {
	ADOPT_START,        /* nothing at stake: the database has state, or the kernel nothing */
	ADOPT_REFUSE_START, /* refuse, naming what was found and the flags */
	ADOPT_REMOVE_START, /* start; the first pass removes what was found */
	ADOPT_IMPORT_START  /* import what was found, then start */
};

/* What the kernel holds that vrouter owns. */
struct adopt_found {
	struct kroute *routes;
	size_t nroutes;
	struct krule *rules;
	size_t nrules;
	struct kaddr *addrs;
	size_t naddrs;
	bool nft_table; /* table inet vrouter exists */
};

/* Pure: the action for a database that is empty or not, a kernel holding owned objects or not. */
enum adopt_action adopt_decide(bool db_empty, bool found_any, enum adopt_mode mode);

/* Read every owned route, policy rule and address, and whether the table exists. 0 or -errno. */
int adopt_survey(const struct kernel_ops *k, struct adopt_found *f, char *why, size_t len)
    __attribute__((warn_unused_result));
bool adopt_found_any(const struct adopt_found *f);
/* Free what adopt_survey filled; f is zeroed. */
void adopt_found_clear(struct adopt_found *f);
/*
 * f in words, one line per kind ("3 routes: <first>; <second>; <third>; and 2
 * more"), lines separated by '\n'; link names are the namespace's own.
 */
void adopt_describe(const struct adopt_found *f, char *buf, size_t len);

struct adopt_counts {
	size_t routes, tables, subnets;
};

/*
 * Write f into the empty database s as desired state, in one transaction:
 * every route (in a route table named "table-N" for kernel table N, main for
 * 254) with its next hop and device as the kernel holds them, every address
 * as a subnet on its link, associated with the table of the policy rule
 * "from <its network>". Refused (-EINVAL, why naming the object, nothing
 * written) when something has no faithful equivalent (table inet vrouter:
 * security groups are not read back; a multipath route; a rule for no owned
 * address) or when the reconciler would still change the kernel afterwards.
 */
int adopt_import(struct store *s, const struct kernel_ops *k, const struct adopt_found *f,
                 struct adopt_counts *n, char *why, size_t len) __attribute__((warn_unused_result));

/*
 * The start-up step, for the daemon before it starts the reconciler: decide
 * with the database s (at path db) and the kernel k, log what is found and
 * done (a refusal says what was found and which flag takes over or imports).
 * Returns 0 to go on, 1 when the start is refused, -1 when it could not tell
 * (why says why).
 */
int adopt_at_start(struct store *s, const struct kernel_ops *k, const char *db,
                   enum adopt_mode mode, char *why, size_t len) __attribute__((warn_unused_result));

#endif
