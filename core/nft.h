/*
 * The nftables adapter: the only code that talks to nf_tables, and only
 * about `table inet vrouter`. It sends the batches sgc.h builds, reads the
 * table back, and watches for changes made by others.
 *
 * One handle holds two netlink sockets: the command socket, which owns the
 * table (NFT_TABLE_F_OWNER binds the table to this socket's port id, so keep
 * one handle open for the life of the process and send every batch through
 * it), and the notification socket (NFNLGRP_NFTABLES). Not thread-safe: the
 * reconciler thread is the only user.
 */
#ifndef VR_NFT_H
#define VR_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sgc.h"

#define NFT_WHY_MAX 512 /* room for a reason naming the failing message */

struct nft;
struct kcounter;

struct nft_table_info {
	bool exists;
	uint32_t flags; /* NFT_TABLE_F_* */
	uint32_t owner; /* port id of the owning socket; 0 when not owned (orphan) */
	bool ours;      /* owned by this handle's command socket */
	uint32_t use;   /* chains, sets, counters... in the table */
};

/* Open both sockets in the current network namespace. -errno, why filled. */
int nft_open(struct nft **out, char *why, size_t len) __attribute__((warn_unused_result));
/* Close. A table we own with NFT_TABLE_F_PERSIST stays in the kernel, orphaned. NULL-safe. */
void nft_close(struct nft *n);
/* The command socket's netlink port id (the table's owner while we own it). */
uint32_t nft_portid(const struct nft *n);

/*
 * Send one batch in one sendmsg and read every ack (each message asks for
 * one). 0 when the kernel committed it; otherwise -errno and the kernel
 * changed nothing (nftables transactions are all-or-nothing): *failed is the
 * index (1..n, see sgc_batch_msg_what/origin) of the first message refused,
 * or 0 when the batch as a whole failed, and why says
 * "<what the message did>: <strerror>[ (<kernel's extended ack>)]".
 * -ENOBUFS means acks were lost and the outcome is unknown: rebuild.
 * An empty batch (no messages) sends nothing and returns 0.
 */
int nft_send(struct nft *n, const struct sgc_batch *b, size_t *failed, char *why, size_t len)
    __attribute__((warn_unused_result));

/* Does `inet vrouter` exist, with which flags, owned by whom. 0 or -errno. */
int nft_table_probe(struct nft *n, struct nft_table_info *info, char *why, size_t len)
    __attribute__((warn_unused_result));

/*
 * Delete `inet vrouter` if it exists: 0 when absent afterwards, -EPERM when
 * another live process owns it, other -errno on failure.
 */
int nft_table_delete(struct nft *n, char *why, size_t len) __attribute__((warn_unused_result));

/*
 * Read the whole table back and compare it with c (chains and hooks, every
 * rule's expressions, sets and every element, counters). 0 when the kernel
 * holds exactly c (for an empty c: when the table is absent), 1 when it
 * differs (why names the first difference), -errno when it could not read.
 */
int nft_table_check(struct nft *n, const struct sgc *c, char *why, size_t len)
    __attribute__((warn_unused_result));

/* The notification socket, to poll for POLLIN. */
int nft_events_fd(const struct nft *n);
/*
 * Read every pending notification without blocking. True when `inet
 * vrouter` (or anything in it) was changed by another socket than ours, or
 * notifications were lost: check the table (nft_table_probe /
 * nft_table_check) and rebuild if needed. Our own changes are ignored.
 */
bool nft_events_drain(struct nft *n);

/*
 * Every named counter of `inet vrouter` with its packets and bytes; *out
 * malloc'd, n = 0 when the table does not exist. 0 or -errno.
 */
int nft_counters(struct nft *n, struct kcounter **out, size_t *nout)
    __attribute__((warn_unused_result));

struct kernel_ops;

/*
 * Open an nftables handle for this namespace and plug it into k's nft_*
 * operations; nft_detach closes it (the table stays, fail closed).
 */
int nft_attach(struct kernel_ops *k, char *why, size_t len) __attribute__((warn_unused_result));
/*
 * A read-only handle for another thread's questions: only the command
 * socket (no notifications), only k's nft_counters; it never sends a batch,
 * so it never owns the table. nft_detach closes it.
 */
int nft_attach_query(struct kernel_ops *k, char *why, size_t len)
    __attribute__((warn_unused_result));
void nft_detach(struct kernel_ops *k);

#endif
