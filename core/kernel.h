/*
 * The kernel as the reconciler sees it: a small table of operations, so the
 * planner and reconciler can be tested with a fake. nl_kernel.c implements it
 * for the namespace the process runs in, with one file per kernel object
 * (nl_route.c, nl_ifaddr.c, nl_rule.c, nl_link.c) over a netlink transport
 * (nl_xport.c, on libnl-route-3); nft.c adds the nftables operations.
 */
#ifndef VR_KERNEL_H
#define VR_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "model.h"

/*
 * Our routing protocol number ("proto vrouter"); see deploy/rt_protos.d/vrouter.conf.
 * It marks every route (rtm_protocol), policy rule (FRA_PROTOCOL) and address
 * (IFA_PROTO) we create, so what we own is known again after a restart.
 */
#define VR_RTPROT 245

/*
 * Priorities of our policy rules. The kernel walks rules by ascending
 * priority: "local" sits at 0 and "main" at 32766, so ours come after the
 * local table (which must answer first) and before main, which they exist
 * to override. The planner picks priorities inside this range.
 */
#define VR_RULE_PRIO_FIRST 20000
#define VR_RULE_PRIO_LAST 20999

/*
 * A route as the kernel holds it. Only RTN_UNICAST routes have a next hop:
 * for the other types route_apply sends no gateway or device and route_dump
 * reports none (the kernel shows IPv6 reject routes on "lo").
 */
struct kroute {
	uint32_t table;
	struct prefix dst;
	uint8_t type;      /* RTN_UNICAST, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT */
	struct ipaddr via; /* family 0 = no gateway */
	int oif;           /* 0 = no device; route_dump gives -1 for a multipath route */
	/*
	 * IPv6: the kernel stores metric 0 as 1024 and route_dump reports 1024,
	 * so callers must pass 1024 for an IPv6 route with metric 0.
	 */
	uint32_t metric;
};

/*
 * KOP_ADD creates a route whose key (table, dst, metric) is free in the
 * kernel (NLM_F_CREATE|NLM_F_EXCL): a foreign route holding the key is left
 * alone and the op fails with -EEXIST. KOP_REPLACE overwrites the route at
 * that key (NLM_F_CREATE|NLM_F_REPLACE); use it only for keys we own.
 * KOP_DELETE removes the route matching r exactly (protocol VR_RTPROT).
 */
enum kop_kind { KOP_REPLACE, KOP_DELETE, KOP_ADD };

struct kroute_op {
	enum kop_kind kind;
	struct kroute r;
	size_t tag; /* caller's index (e.g. into the desired array); not used by the kernel */
};

/*
 * An address we put on a link: p.addr is the address itself (host bits set),
 * p.len the prefix length, as in "192.168.100.1/24".
 */
struct kaddr {
	int ifindex;
	struct prefix p;
};

/*
 * KOP_ADD creates the address (NLM_F_CREATE|NLM_F_EXCL, IFA_PROTO VR_RTPROT):
 * an address already on the link, ours or not, fails with -EEXIST and is not
 * adopted. IPv6 addresses are added with IFA_F_NODAD so they are usable at
 * once (no tentative second, no DAD failure for a router address the
 * operator chose). The kernel adds the connected (prefix) route itself.
 * KOP_DELETE removes the address at that key; the kernel does not check
 * ownership on delete, so only delete what addr_dump reported. Deleting an
 * IPv4 primary address would take the link's secondaries in the same subnet
 * with it; addr_apply then sets promote_secondaries on the link first, so a
 * foreign secondary survives (promoted). KOP_REPLACE is refused (-EOPNOTSUPP).
 */
struct kaddr_op {
	enum kop_kind kind;
	struct kaddr a;
	size_t tag;
};

/* What a policy rule does with the traffic it selects. */
enum krule_action {
	KRULE_LOOKUP = 0,  /* look up table (FR_ACT_TO_TBL); a miss goes on to the next rule */
	KRULE_UNREACHABLE, /* refuse it, ICMP unreachable to the sender (FR_ACT_UNREACHABLE) */
};

/*
 * A policy rule "from src lookup table" or "from src unreachable" at priority
 * (FRA_PROTOCOL VR_RTPROT, no other selector). src.len 0 means "from all".
 * An unreachable rule has table 0.
 */
struct krule {
	int family;
	struct prefix src;
	uint32_t table;
	uint32_t priority;
	enum krule_action action;
};

/*
 * KOP_ADD creates the rule (NLM_F_CREATE|NLM_F_EXCL); its priority must lie
 * in VR_RULE_PRIO_FIRST..VR_RULE_PRIO_LAST (else -ERANGE). KOP_DELETE removes
 * a rule with exactly this family, source, table, priority and our protocol:
 * a foreign rule that looks the same is never matched (-ENOENT).
 * KOP_REPLACE is refused (-EOPNOTSUPP): rules have no replace.
 */
struct krule_op {
	enum kop_kind kind;
	struct krule r;
	size_t tag;
};

/* A link of the namespace, for display (GET /v1/interfaces). */
struct klink {
	int ifindex;
	char name[16]; /* IFNAMSIZ */
	bool up;       /* administratively up (IFF_UP) */
	bool lower_up; /* carrier (IFF_LOWER_UP, or operstate up) */
	char mac[18];  /* "aa:bb:cc:dd:ee:ff"; "" for a link without a 6-byte address */
	unsigned mtu;
	struct prefix *addrs; /* every address on the link, owned or not (address/prefix length) */
	size_t naddrs;
};

/*
 * Diagnostics (issue 13): the kernel's own answer for one packet, as
 * "ip route get [fibmatch] DST from SRC iif DEV" gives it.
 */
struct kroute_query {
	struct ipaddr dst;
	struct ipaddr src; /* family 0 = none (required with iif) */
	int iif;           /* 0 = a packet this host sends (output lookup) */
};

struct kroute_answer {
	uint8_t type;      /* RTN_UNICAST, RTN_LOCAL, RTN_BLACKHOLE, RTN_PROHIBIT, ... */
	uint32_t table;    /* table of the matched route */
	struct prefix dst; /* the matched route's prefix (a fibmatch lookup), 0/0 for a default */
	struct ipaddr via; /* family 0 = directly connected */
	int oif;           /* 0 = none */
	struct ipaddr prefsrc;
	uint8_t protocol; /* rtm_protocol of the matched route (VR_RTPROT = ours) */
	uint32_t metric;
};

/* A connection-tracking entry, original direction. */
struct kflow {
	uint8_t l4proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	struct ipaddr src, dst;
	uint16_t sport, dport;                /* icmp: id in sport, type << 8 | code in dport */
	bool seen_reply;                      /* IPS_SEEN_REPLY: something came back */
	bool assured;                         /* IPS_ASSURED */
	uint8_t tcp_state;                    /* TCP_CONNTRACK_* for tcp, 0 otherwise */
	uint32_t timeout;                     /* seconds left */
	uint64_t packets_orig, packets_reply; /* 0 when accounting is off */
};

/* Which flows kernel_ops.ct_find reports: 0 / family 0 fields match anything. */
struct kflow_query {
	uint8_t l4proto;
	struct ipaddr src, dst;
	uint16_t dport;
};

/* A named counter object of table inet vrouter. */
struct kcounter {
	char name[64];
	uint64_t packets, bytes;
};

struct sock_filter;

/*
 * Not thread-safe: one thread (the reconciler) drives one kernel_ops; code on
 * another thread that needs the kernel opens its own with nl_kernel_open.
 */
struct sgc;
struct sgc_batch;

struct kernel_ops {
	void *ctx;
	/* All routes carrying VR_RTPROT, every table, both families. *out is malloc'd. */
	int (*route_dump)(void *ctx, struct kroute **out, size_t *n);
	/*
	 * Apply ops in order. res[i] gets 0 or -errno for ops[i]
	 * (kernel_route_reason turns it into words). Returns 0 when every op was
	 * attempted (even if some failed), -errno if the socket itself failed;
	 * then ops without an answer have res[i] = that -errno.
	 */
	int (*route_apply)(void *ctx, const struct kroute_op *ops, size_t n, int *res);
	/* Interface index for a name, 0 if there is no such link. */
	int (*link_index)(void *ctx, const char *name);
	/*
	 * Notifications: a file descriptor to poll for route/link/address/rule/
	 * netconf changes, and a function to drain it that returns true when a
	 * resync is needed: a change or deletion of our routes, rules or
	 * addresses made by someone else, any link or foreign address change,
	 * a change of the namespace-wide forwarding value away from what
	 * forwarding_get/forwarding_set last saw, or lost messages. What our
	 * own requests cause is ignored; so are foreign routes and rules, and
	 * per-link forwarding settings.
	 */
	int (*events_fd)(void *ctx);
	bool (*events_drain)(void *ctx);

	/*
	 * Addresses carrying IFA_PROTO VR_RTPROT, every link, both families.
	 * *out is malloc'd. Foreign addresses are never reported.
	 */
	int (*addr_dump)(void *ctx, struct kaddr **out, size_t *n);
	/* Apply address ops in order; results as for route_apply. */
	int (*addr_apply)(void *ctx, const struct kaddr_op *ops, size_t n, int *res);
	/*
	 * Policy rules carrying FRA_PROTOCOL VR_RTPROT whose action is one of
	 * enum krule_action, both families. *out is malloc'd.
	 */
	int (*rule_dump)(void *ctx, struct krule **out, size_t *n);
	/* Apply rule ops in order; results as for route_apply. */
	int (*rule_apply)(void *ctx, const struct krule_op *ops, size_t n, int *res);
	/*
	 * IP forwarding of the namespace (net.ipv4.ip_forward,
	 * net.ipv6.conf.all.forwarding). forwarding_set writes only a value that
	 * differs. Both return 0 or -errno. A kernel without IPv6 reads as IPv6
	 * off, and setting it on there fails with -EAFNOSUPPORT.
	 */
	int (*forwarding_get)(void *ctx, bool *v4, bool *v6);
	int (*forwarding_set)(void *ctx, bool v4, bool v6);
	/* Every link with its addresses; free with kernel_links_free. */
	int (*links_list)(void *ctx, struct klink **out, size_t *n);
	/*
	 * Every routing table number that holds a route (any protocol, any
	 * family) or that a policy rule points to; sorted, distinct, malloc'd.
	 */
	int (*tables_in_use)(void *ctx, uint32_t **out, size_t *n);

	/*
	 * Diagnostics. route_get: the kernel's route lookup for q (RTM_GETROUTE;
	 * with q->iif as an input lookup, so policy rules and forwarding count).
	 * Returns 0 with *a filled, or the kernel's -errno (-ENETUNREACH no route,
	 * -EHOSTUNREACH, -EACCES, -EINVAL, -EXDEV, ...); for a reject route
	 * (blackhole, unreachable, prohibit) a->type names it whatever the errno.
	 *
	 * On success: type, via, oif and prefsrc are the packet's own answer
	 * ("ip route get"); table, dst, protocol and metric those of the route it
	 * matched ("ip route get fibmatch"); prefsrc falls back to the route's.
	 * What the kernel answers (seen on Linux 6.18, tests/e2e/test_kernel_diag.sh),
	 * IPv4 and IPv6 alike, output lookups and input lookups with forwarding on:
	 *   blackhole   -EINVAL        unreachable  -EHOSTUNREACH
	 *   prohibit    -EACCES        no route     -ENETUNREACH
	 * A failed lookup names no route, fibmatch neither: route_get then names
	 * the most specific route of the errno's type holding q->dst in any table
	 * (type, table, dst, protocol, metric; a->type stays RTN_UNSPEC when there
	 * is none, e.g. -EINVAL for a martian source). With several tables
	 * holding such a route, the one named may not be the one the rules chose.
	 * Forwarding off: an IPv4 input lookup (q->iif) on a link that does not
	 * forward fails with -EHOSTUNREACH for every destination that is not
	 * local, before the route's type counts (ip_route_input_slow): then no
	 * route is named (a->type RTN_UNSPEC), even for an unreachable route.
	 * IPv6 input lookups ignore forwarding (ip6_forward drops the packet
	 * later) and answer as with forwarding on. A local destination answers
	 * type RTN_LOCAL on "lo"; IPv4 reports its table as 254 (main) while no
	 * policy rule exists (the kernel keeps local merged into main), 255 after.
	 * q->src of another family than q->dst, or q->iif without q->src: -EINVAL.
	 */
	int (*route_get)(void *ctx, const struct kroute_query *q, struct kroute_answer *a);
	/*
	 * Connection-tracking entries matching q (ctnetlink dump); *out malloc'd.
	 * A namespace tracks connections only once something asks for it (an nft
	 * "ct" expression, such as the guard's): before that the answer is empty.
	 * Packet counters stay 0 unless net.netfilter.nf_conntrack_acct is 1.
	 * A dump torn by changing entries is read again, then taken as it is.
	 */
	int (*ct_find)(void *ctx, const struct kflow_query *q, struct kflow **out, size_t *n);
	/*
	 * A packet socket (AF_PACKET, every protocol) on link ifindex with the
	 * classic BPF program prog[0..len) attached before it is bound, so it
	 * never reads an unfiltered packet. Returns the descriptor (the caller
	 * owns it) or -errno.
	 */
	int (*capture_open)(void *ctx, int ifindex, const struct sock_filter *prog, size_t len);

	/*
	 * nftables, table inet vrouter (nft.c; nft_attach fills these). NULL
	 * when not attached: security groups then stay pending.
	 */
	void *nft;
	/* Send one batch, every ack read; on failure *failed is the refused message (1..n). */
	int (*nft_send)(void *nft, const struct sgc_batch *b, size_t *failed, char *why,
	                size_t len);
	/* 0 when the kernel holds exactly c, 1 when it differs (why says how), -errno. */
	int (*nft_check)(void *nft, const struct sgc *c, char *why, size_t len);
	/* Delete the table if it exists (0 when absent afterwards). */
	int (*nft_delete)(void *nft, char *why, size_t len);
	int (*nft_events_fd)(void *nft);
	/* True when someone else changed the table or notifications were lost. */
	bool (*nft_events_drain)(void *nft);
	/*
	 * Every named counter of table inet vrouter; *out malloc'd; n = 0
	 * without the table. The guard's are drop_in_<group id> and
	 * drop_eg_<group id> (sgc.h). nft_attach_query gives a read-only handle
	 * with only this op, for a thread other than the reconciler.
	 */
	int (*nft_counters)(void *nft, struct kcounter **out, size_t *n);
};

/* The libnl-backed kernel for the current network namespace. */
int nl_kernel_open(struct kernel_ops *out) __attribute__((warn_unused_result));
/* The same without a notification socket, for read-only questions from other threads. */
int nl_kernel_open_query(struct kernel_ops *out) __attribute__((warn_unused_result));
void nl_kernel_close(struct kernel_ops *k);

/*
 * Human words for a failed route op ("gateway 10.0.0.1 is not on any connected
 * network"). err is the -errno from route_apply (the sign is ignored).
 */
void kernel_route_reason(const struct kroute *r, int err, char *buf, size_t len);
/* The same for a failed address op and a failed rule op. */
void kernel_addr_reason(const struct kaddr *a, int err, char *buf, size_t len);
void kernel_rule_reason(const struct krule *r, int err, char *buf, size_t len);

/* Free what links_list returned (v may be NULL). */
void kernel_links_free(struct klink *v, size_t n);

#endif
