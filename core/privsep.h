/*
 * Privilege separation (OpenBSD bgpd style): vrouterd forks early into two
 * processes. The front (HTTP, JSON, SQLite, the reconciler's logic) runs
 * with no capability, as its own user when started as root; the privileged
 * process keeps CAP_NET_ADMIN, never sees a client socket, never parses HTTP
 * or JSON, and performs kernel_ops calls for the front. struct kernel_ops
 * (kernel.h) is the whole boundary: the front's kernel_ops are proxies that
 * marshal each call into one request and read one answer back (one round
 * trip per call, arrays in one message), the privileged side unmarshals,
 * checks, and calls the real libnl/nftables kernel.
 *
 * Channels (SOCK_STREAM socketpairs made at fork time, so a slow preview on
 * the query channel never waits behind the reconciler):
 *   recon   the reconciler's kernel (nl_kernel_open + nft_attach)
 *   query   the HTTP threads' read-only kernel (nl_kernel_open_query); its
 *           write operations are refused on the privileged side
 *   kev     one byte "resync needed" when the routes/links/addresses/rules
 *           notifications say so (the front's events_fd / events_drain)
 *   nev     the same for table inet vrouter's notifications
 *   life    nothing flows: its end of file tells the front the privileged
 *           process is gone (and each channel's tells the privileged side
 *           the front is gone: it exits)
 *
 * Messages: struct ps_hdr (type, body length), then the body. Requests are
 * checked by ps_check_hdr (known type, a length that is exact for fixed-size
 * bodies, at most PS_BODY_MAX for arrays) before the body is read, and by
 * ps_check_body after (arrays a whole number of elements, strings
 * NUL-terminated in their field, enums in range, an nftables batch
 * well-formed and addressing only table inet vrouter). Anything else closes
 * the channel and is logged. Answers carry struct ps_answer first; a
 * capture_open answer carries its descriptor (SCM_RIGHTS).
 *
 * nft_check: the privileged side returns the raw table dump (nft_table_dump)
 * and the front parses and compares it (nft_table_compare), so no sgc and no
 * parsing of the front's data crosses into the privileged process.
 */
#ifndef VR_PRIVSEP_H
#define VR_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kernel.h"

/* Requests (the answer has the same type). */
enum ps_type {
	PS_OPEN = 1,    /* open the channel's kernel; answer aux = mask of ops served */
	PS_NFT_ATTACH,  /* nft_attach on the recon channel; answer why */
	PS_ROUTE_DUMP,  /* answer n * struct kroute */
	PS_ROUTE_APPLY, /* n * struct kroute_op; answer n * int32 */
	PS_LINK_INDEX,  /* struct ps_name; answer rc = index */
	PS_ADDR_DUMP,
	PS_ADDR_APPLY,
	PS_RULE_DUMP,
	PS_RULE_APPLY,
	PS_FWD_GET,       /* answer aux bit 0 v4, bit 1 v6 */
	PS_FWD_SET,       /* struct ps_fwd */
	PS_LINKS_LIST,    /* answer n * struct ps_link, then every link's addresses */
	PS_TABLES_IN_USE, /* answer n * uint32 */
	PS_ROUTE_GET,     /* struct kroute_query; answer struct kroute_answer */
	PS_CT_FIND,       /* struct kflow_query; answer n * struct kflow */
	PS_CAPTURE_OPEN,  /* struct ps_capture + n * struct sock_filter; answer the descriptor */
	PS_NFT_SEND,      /* struct ps_nft_send + the batch's bytes; answer n = failed, why */
	PS_NFT_DUMP,      /* answer struct ps_nft_info, why, then the raw dump */
	PS_NFT_DELETE,    /* answer why */
	PS_NFT_COUNTERS,  /* answer n * struct kcounter */
	PS_TYPE_END
};

#define PS_BODY_MAX (256u * 1024 * 1024) /* a 100k-route apply or batch fits many times */
#define PS_WHY_MAX 512                   /* NFT_WHY_MAX */
#define PS_BPF_MAX 4096                  /* BPF_MAXINSNS */

struct ps_hdr {
	uint32_t type;
	uint32_t len; /* body bytes after the header */
};

struct ps_answer {
	int32_t rc;
	uint32_t aux;
	uint64_t n; /* elements that follow */
};

struct ps_name {
	char name[16]; /* IFNAMSIZ, NUL-terminated */
};

struct ps_fwd {
	uint8_t v4, v6; /* 0 or 1 */
};

struct ps_link {
	int32_t ifindex;
	char name[16];
	uint8_t up, lower_up;
	char mac[18];
	uint32_t mtu;
	uint32_t naddrs;
};

struct ps_capture {
	int32_t ifindex;
	uint32_t pad;
};

struct ps_nft_send {
	uint64_t nmsgs; /* messages between batch begin and end */
};

struct ps_nft_info {
	uint8_t exists, ours;
	uint32_t flags, owner, use;
};

/* ---- the checker (privsep_msg.c; unit-tested) ---- */

/* 0 when a request header may be read further, -EBADMSG (why says why) when not. */
int ps_check_hdr(const struct ps_hdr *h, char *why, size_t len);
/* 0 when the body of a request whose header passed is well-formed, -EBADMSG otherwise. */
int ps_check_body(uint32_t type, const void *body, size_t blen, char *why, size_t len);
/*
 * An nftables batch as nft_send sends it: batch begin, nmsgs nf_tables
 * messages of family inet, each naming table "vrouter" (every attribute 1,
 * the table attribute of every nf_tables object), batch end, nothing else.
 */
int ps_check_nft_batch(const void *data, size_t len, uint64_t nmsgs, char *why, size_t wlen);
/* The name of a request type for the log ("route_apply"), "?" if unknown. */
const char *ps_type_name(uint32_t type);

/* ---- framing (privsep_msg.c) ---- */

/*
 * Write one message: header, fixed part, array; fd >= 0 goes along
 * (SCM_RIGHTS). 0 or -errno.
 */
int ps_send(int sock, uint32_t type, const void *fixed, size_t flen, const void *arr, size_t alen,
            int fd);
/*
 * Read one message's header (and a descriptor that came with it into *fd,
 * else -1), then its body into *body (malloc'd; NULL when empty) once
 * check (if not NULL) accepts the header. 0, -EPIPE at end of file, -EBADMSG
 * for a refused header or a body cut short, other -errno.
 */
int ps_recv(int sock, struct ps_hdr *h, void **body, int *fd,
            int (*check)(const struct ps_hdr *h, char *why, size_t len), char *why, size_t wlen);

/* ---- the processes (privsep_proc.c) ---- */

struct privsep;

/*
 * Fork. In the parent (the front) returns 0 with *out set; in the child
 * (privileged) serves until the front is gone and exits, never returning.
 * -errno when the fork or the socketpairs failed.
 */
int privsep_fork(struct privsep **out) __attribute__((warn_unused_result));
/* The privileged process's pid. */
pid_t privsep_pid(const struct privsep *ps);
/* A descriptor to poll (POLLRDHUP): it hangs up when the privileged process ends. */
int privsep_life_fd(const struct privsep *ps);
/*
 * Proxies: the reconciler's kernel, its nftables operations, and the HTTP
 * threads' read-only kernel, as nl_kernel_open, nft_attach and
 * nl_kernel_open_query give them. Ops the privileged side lacks stay NULL.
 */
int privsep_kernel_open(struct privsep *ps, struct kernel_ops *out)
    __attribute__((warn_unused_result));
int privsep_nft_attach(struct privsep *ps, struct kernel_ops *k, char *why, size_t len)
    __attribute__((warn_unused_result));
int privsep_kernel_open_query(struct privsep *ps, struct kernel_ops *out)
    __attribute__((warn_unused_result));
void privsep_kernel_close(struct kernel_ops *k);
/*
 * Close the channels (the privileged process then exits) and wait up to
 * wait_ms for it; NULL-safe.
 */
void privsep_close(struct privsep *ps, int wait_ms);

/* The privileged side's loop over one channel (privsep_priv.c). */
void privsep_serve(int sock, bool query, int kev, int nev);

#endif
