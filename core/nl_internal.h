/*
 * Shared by the two halves of the netlink kernel adapter, nl_route.c (sockets,
 * routes, events, the batch engine) and nl_link.c (addresses, policy rules,
 * forwarding, links). Not for anyone else: the rest of the code sees kernel.h.
 */
#ifndef VR_NL_INTERNAL_H
#define VR_NL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kernel.h"

struct nl_msg;
struct nl_sock;
struct nlmsghdr;
struct iovec;
struct mmsghdr;

struct nlr {
	struct nl_sock *req; /* requests and dumps; blocking, with a timeout */
	struct nl_sock *ev;  /* notifications; non-blocking */
	uint32_t req_port;   /* our port: notifications of our own requests carry it */
	uint32_t seq;
	size_t batch_ops;
	size_t batch_bytes;
	uint8_t *rbuf;   /* NLR_RECV_MAX */
	uint8_t *sbuf;   /* NLR_BATCH_BYTES */
	size_t *pending; /* batch position -> op index, SIZE_MAX once answered */
	uint8_t *ackbuf; /* NLR_BATCH_OPS * NLR_ACK_SLOT */
	struct iovec *iov;
	struct mmsghdr *mm;

	/*
	 * nl_link.c: the addresses we believe we hold, sorted, so that events
	 * can tell our own changes from others' (IPv6 address notifications
	 * carry no sender port). Valid once owned_known.
	 */
	struct kaddr *owned;
	size_t nowned;
	bool owned_known;
	/* Forwarding (IPv4, IPv6) as last read or written: 0, 1, or -1 unknown. */
	int fwd_known[2];
	/*
	 * Notifications are drained between the batches of a large apply (else
	 * our own route notifications overflow the socket and force a needless
	 * resync); what they said waits here for the next events_drain.
	 */
	bool ev_pending;
};

/* libnl's NLE_* code as -errno. */
int nlr_nle_errno(int nle);
/* Address bytes for the family (4, 16), 0 for any other. */
size_t nlr_addr_len(int family);
/* Send len bytes to the kernel on the request socket. */
int nlr_send(struct nlr *k, const void *buf, size_t len) __attribute__((warn_unused_result));
/* One datagram from sk into k->rbuf; its length or -errno (-EMSGSIZE when truncated). */
ssize_t nlr_recv(struct nlr *k, struct nl_sock *sk, int flags);

/*
 * Send the dump request req (its sequence number is filled in here) and call
 * cb for every message of the answer until NLMSG_DONE; cb returns 0 or -errno
 * to stop. Sets *intr when the kernel marked the dump torn (NLM_F_DUMP_INTR):
 * the caller should read again. what names the dump in logs ("route").
 */
int nlr_dump(struct nlr *k, struct nlmsghdr *req, const char *what,
             int (*cb)(struct nlmsghdr *h, void *arg), void *arg, bool *intr)
    __attribute__((warn_unused_result));

/*
 * Send n requests in batches, each with NLM_F_ACK and its own sequence
 * number, and match the acks back. build makes the request for op i with
 * sequence number seq (a malloc'd nl_msg, freed here) or returns -errno,
 * which becomes res[i]; failed (may be NULL) is told about each op the
 * kernel refused, with the kernel's own words when it gave some. Results
 * and return value as for route_apply in kernel.h.
 */
int nlr_batch(struct nlr *k, size_t n,
              int (*build)(void *arg, size_t i, uint32_t seq, struct nl_msg **msg),
              void (*failed)(void *arg, size_t i, int err, const char *text), void *arg, int *res)
    __attribute__((warn_unused_result));

/* nl_link.c: fill the address, rule, forwarding, link and table ops. */
void nlr_link_ops(struct kernel_ops *out);
/* nl_link.c: free what the link half keeps in k. */
void nlr_link_free(struct nlr *k);
/*
 * nl_link.c: for an address, rule or netconf notification, whether it calls
 * for a resync. Returns false (and leaves *relevant alone) for other types.
 */
bool nlr_link_event(const struct nlr *k, const struct nlmsghdr *h, bool *relevant);

#endif
