/*
 * The netlink kernel adapter's files, shared among them only (the rest of the
 * code sees kernel.h). Layered as iproute2 lays out ip(8) over libnetlink:
 *
 *   nl_kernel.c  assembles kernel_ops; hands each notification to its owner
 *   nl_route.c   routes         nl_ifaddr.c  addresses (and the set we own)
 *   nl_rule.c    policy rules   nl_link.c    links, forwarding, interface names
 *   nl_ct.c      connection tracking (read only, its own netfilter socket)
 *   nl_packet.c  packet sockets for captures (no netlink)
 *   nl_xport.c   the transport: sockets, dumps, ack-matched batches,
 *                extended acks; it knows no object type
 *
 * Calls go down only: the object files call the transport, the assembler
 * calls both, nothing calls up. Each object file keeps its own state and
 * parses only its own messages; a question about several objects (the links
 * with their addresses, the tables in use) is put together by the assembler.
 * The address file is nl_ifaddr.c, not nl_addr.c: libnl owns the nl_addr_*
 * names and struct nl_addr, which nl_route.c uses.
 */
#ifndef VR_NL_INT_H
#define VR_NL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <sys/types.h>

#include "kernel.h"

struct nl_msg;
struct nlmsghdr;
struct nlattr;

/*
 * The payload of netlink message h, as NLMSG_DATA finds it but keeping h's
 * const (the macro casts it away, which -Wcast-qual rightly refuses).
 */
static inline const void *nl_data(const struct nlmsghdr *h)
{
	return (const char *)h + NLMSG_HDRLEN;
}

/* The largest request an object file builds: every batch has room for one. */
#define NL_MSG_MAX 512

/* ---- nl_xport.c: the transport ---- */

struct nl_xport;

/*
 * Open the request socket and, when groups is not NULL, a notification
 * socket that joins those ngroups RTNLGRP_* groups. 0 or -errno; *out is
 * NULL on failure.
 */
int nl_xport_open(struct nl_xport **out, const unsigned *groups, size_t ngroups)
    __attribute__((warn_unused_result));
void nl_xport_free(struct nl_xport *x);
/* Our port: notifications caused by our own requests carry it (IPv6 address ones do not). */
uint32_t nl_xport_port(const struct nl_xport *x);

/*
 * A dump: one request of type (RTM_GET*) per family in families, each with
 * the family header hdr (hlen bytes) whose first byte, the family as in
 * every rtnetlink family header, is set here. cb is called for every message
 * of the answers and returns 0 or -errno to stop. A dump the kernel marks
 * torn (NLM_F_DUMP_INTR) is read again from the start, *count zeroed first
 * (the caller's array starts over), and fails with -EAGAIN when it keeps
 * changing; with torn_ok it is taken as it is.
 */
struct nl_xport_dump {
	uint16_t type;
	const void *hdr;
	size_t hlen;
	const int *families;
	size_t nfamilies;
	const char *what; /* names the dump in logs ("route") */
	int (*cb)(struct nlmsghdr *h, void *arg);
	void *arg;
	size_t *count;
	bool torn_ok;
};

int nl_xport_dump(struct nl_xport *x, const struct nl_xport_dump *d)
    __attribute__((warn_unused_result));

/*
 * One request and its answer: req (NLM_F_REQUEST and NLM_F_ACK are set
 * here, the sequence number too) is sent, cb gets every message answering
 * it, and the kernel's ack ends the exchange: 0, or the kernel's -errno
 * (not logged: for a question such as RTM_GETROUTE it is the answer).
 */
int nl_xport_request(struct nl_xport *x, struct nlmsghdr *req, const char *what,
                     int (*cb)(struct nlmsghdr *h, void *arg), void *arg)
    __attribute__((warn_unused_result));

/*
 * A batch of n requests, each sent with NLM_F_ACK and its own sequence
 * number, the acks matched back by it. build makes the request for op i with
 * sequence number seq (a malloc'd nl_msg, freed by the transport) or returns
 * -errno, which becomes res[i]; failed (may be NULL) is told about each op
 * the kernel refused, with the kernel's own words when it gave some. next is
 * the first op not yet sent: 0 to start.
 */
struct nl_xport_batch {
	size_t n;
	size_t next;
	int (*build)(const void *arg, size_t i, uint32_t seq, struct nl_msg **msg);
	void (*failed)(const void *arg, size_t i, int err, const char *text);
	const void *arg; /* the ops, only read */
	int *res;
};

/*
 * Send the next sendmsg's worth of the batch and read its acks. The caller
 * runs the steps until next == n, free to read notifications between them
 * (our own requests' notifications would otherwise overflow the socket).
 * Returns 0 when every op of the step was attempted, even if some failed,
 * or -errno when the socket itself failed: then every op from the broken
 * step on has res[i] = that -errno and next == n.
 */
int nl_xport_batch_step(struct nl_xport *x, struct nl_xport_batch *b)
    __attribute__((warn_unused_result));

/* The notification socket to poll, -1 when opened without. */
int nl_xport_events_fd(const struct nl_xport *x);
/*
 * Read one datagram of notifications without waiting: its length, the
 * messages at *msgs (valid until the next call on x), or -EAGAIN when none
 * is waiting, -ENOBUFS when some were lost (more may follow), another -errno
 * when the socket failed.
 */
ssize_t nl_xport_events_read(struct nl_xport *x, struct nlmsghdr **msgs);

/* libnl's NLE_* code as -errno. */
int nl_xport_errno(int nle);
/*
 * nlmsg_parse for a message the caller only reads: tb[0..max] point into h.
 * 0 or libnl's negative NLE_* code.
 */
int nl_xport_parse(const struct nlmsghdr *h, int hdrlen, struct nlattr **tb, int max);
/*
 * Words for the failures the transport itself causes (a lost or missing
 * answer, no memory): true when err (sign ignored) is one of them.
 */
bool nl_xport_reason(int err, char *buf, size_t len);
/*
 * Make room for one more element in *v (n used of *cap, elements of size
 * bytes), at most max elements: 0, -E2BIG (logged, naming what), -ENOMEM.
 */
int nl_xport_grow(void **v, size_t *cap, size_t n, size_t size, size_t max, const char *what)
    __attribute__((warn_unused_result));
/* The same, the new elements not zeroed (vr_grow_raw): each is written whole. */
int nl_xport_grow_raw(void **v, size_t *cap, size_t n, size_t size, size_t max, const char *what)
    __attribute__((warn_unused_result));

/*
 * ---- the objects ----
 *
 * For a notification, each object file's nl_*_event says whether h is its
 * own kind (false: not mine, *resync untouched) and, if so, sets *resync to
 * whether it calls for a resync. port is nl_xport_port.
 */

/* nl_route.c: routes carrying VR_RTPROT. */
int nl_route_dump(struct nl_xport *x, struct kroute **out, size_t *n)
    __attribute__((warn_unused_result));
void nl_route_batch(struct nl_xport_batch *b, const struct kroute_op *ops, size_t n, int *res);
/* The table of every route, any protocol, as the dump gives them (repeats possible). */
int nl_route_tables(struct nl_xport *x, uint32_t **out, size_t *n)
    __attribute__((warn_unused_result));
bool nl_route_event(const struct nlmsghdr *h, uint32_t port, bool *resync);
/*
 * The kernel's lookup for q (route_get in kernel.h): the plain answer for
 * the packet, then the fibmatch one for the route it matched. On a reject
 * route's errno, with name_reject, the most specific route of that type
 * holding q->dst (any table) is named in *a.
 */
int nl_route_get(struct nl_xport *x, const struct kroute_query *q, bool name_reject,
                 struct kroute_answer *a) __attribute__((warn_unused_result));

/* nl_ifaddr.c: addresses, and the set of those we believe we own. */
struct nl_ifaddr;
int nl_ifaddr_new(struct nl_ifaddr **out) __attribute__((warn_unused_result));
void nl_ifaddr_free(struct nl_ifaddr *a);
/* The addresses carrying IFA_PROTO VR_RTPROT; refreshes the owned set. */
int nl_ifaddr_dump(struct nl_ifaddr *a, struct nl_xport *x, struct kaddr **out, size_t *n)
    __attribute__((warn_unused_result));
/* Every address of every link, ours or not, in the kernel's order. */
int nl_ifaddr_all(struct nl_xport *x, struct kaddr **out, size_t *n)
    __attribute__((warn_unused_result));
/*
 * Prepare the ops for sending (see addr_apply in kernel.h) and describe
 * their batch in b; once it ran, nl_ifaddr_applied brings the owned set up to
 * date with what took effect.
 */
void nl_ifaddr_batch(struct nl_xport *x, struct nl_xport_batch *b, const struct kaddr_op *ops,
                     size_t n, int *res);
void nl_ifaddr_applied(struct nl_ifaddr *a, const struct kaddr_op *ops, size_t n, const int *res);
bool nl_ifaddr_event(const struct nl_ifaddr *a, const struct nlmsghdr *h, uint32_t port,
                     bool *resync);

/* nl_rule.c: policy rules carrying FRA_PROTOCOL VR_RTPROT. */
int nl_rule_dump(struct nl_xport *x, struct krule **out, size_t *n)
    __attribute__((warn_unused_result));
void nl_rule_batch(struct nl_xport_batch *b, const struct krule_op *ops, size_t n, int *res);
/* The table every rule (any protocol) points to, table 0 left out; repeats possible. */
int nl_rule_tables(struct nl_xport *x, uint32_t **out, size_t *n)
    __attribute__((warn_unused_result));
bool nl_rule_event(const struct nlmsghdr *h, uint32_t port, bool *resync);

/* nl_ct.c: connection-tracking entries matching q (ct_find in kernel.h); its own socket. */
int nl_ct_find(const struct kflow_query *q, struct kflow **out, size_t *n)
    __attribute__((warn_unused_result));

/* nl_link.c: links, interface names, and forwarding with its last known value. */
struct nl_link;
int nl_link_new(struct nl_link **out) __attribute__((warn_unused_result));
void nl_link_free(struct nl_link *l);
int nl_link_index(const char *name);
/* Every link, sorted by ifindex, without addresses; free with kernel_links_free. */
int nl_link_dump(struct nl_xport *x, struct klink **out, size_t *n)
    __attribute__((warn_unused_result));
/* Give each link of v (sorted by ifindex) its addresses among addrs, in their order. */
int nl_link_attach(struct klink *v, size_t n, const struct kaddr *addrs, size_t naddrs)
    __attribute__((warn_unused_result));
int nl_link_forwarding_get(struct nl_link *l, bool *v4, bool *v6)
    __attribute__((warn_unused_result));
int nl_link_forwarding_set(struct nl_link *l, bool v4, bool v6) __attribute__((warn_unused_result));
/* Forwarding of family on one link (net.ipv4.conf.DEV.forwarding): 0 or -errno. */
int nl_link_forwarding_of(int ifindex, int family, bool *on) __attribute__((warn_unused_result));
/* Link and netconf notifications. */
bool nl_link_event(const struct nl_link *l, const struct nlmsghdr *h, bool *resync);

/*
 * nl_packet.c: a packet socket on link ifindex, every protocol, with the
 * classic BPF program prog[0..len) attached before it is bound (see
 * capture_open in kernel.h); non-blocking, close-on-exec, timestamped.
 * The descriptor or -errno.
 */
struct sock_filter;
int nl_packet_open(int ifindex, const struct sock_filter *prog, size_t len)
    __attribute__((warn_unused_result));

#endif
