/*
 * Bounded packet captures, the article's tcpdump as an API (issue 13).
 * A capture reads one packet socket, made for it by the kernel adapter's
 * capture_open (in a privilege-separated daemon, by the privileged process,
 * which passes the descriptor back): this code only compiles the filter
 * (libpcap, no privilege needed), reads the descriptor and writes a standard
 * pcap file in memory. Captures are bounded in number, packets, seconds and
 * bytes, and forgotten after download or CAPTURE_KEEP_S.
 */
#ifndef VR_CAPTURE_H
#define VR_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"

#define CAPTURE_MAX 4             /* captures held at once, in any state */
#define CAPTURE_PACKETS_MAX 10000 /* max_packets bound */
#define CAPTURE_PACKETS_DEFAULT 1000
#define CAPTURE_SECONDS_MAX 60 /* max_seconds bound */
#define CAPTURE_SECONDS_DEFAULT 10
#define CAPTURE_BYTES_MIN 1024               /* max_bytes bounds: the pcap file's size */
#define CAPTURE_BYTES_MAX (8u * 1024 * 1024) /* so CAPTURE_MAX captures hold 32 MiB at most */
#define CAPTURE_SNAPLEN 65535                /* bytes kept of each packet */
#define CAPTURE_FILTER_MAX 1024              /* a filter's length in bytes */
#define CAPTURE_KEEP_S 3600                  /* a finished capture is forgotten after this */
#define CAPTURE_DOWNLOADED_S 60 /* and this soon after its file was downloaded (a retry's time) */
#define CAPTURE_PREFIX "cap-"
#define CAPTURE_REASON_MAX 16
#define CAPTURE_ERROR_MAX 256

struct capture_mgr;
struct sock_filter;

enum capture_state { CAPTURE_RUNNING, CAPTURE_DONE, CAPTURE_FAILED };

/* What to capture. */
struct capture_req {
	char id[ID_MAX]; /* the client's choice, CAPTURE_PREFIX + hex digits; "" = a new one */
	char ifname[IFNAME_MAX];
	char filter[CAPTURE_FILTER_MAX + 1]; /* pcap filter syntax; "" = every packet */
	uint32_t max_packets;                /* 1..CAPTURE_PACKETS_MAX */
	uint32_t max_seconds;                /* 1..CAPTURE_SECONDS_MAX */
	uint32_t max_bytes;                  /* CAPTURE_BYTES_MIN..CAPTURE_BYTES_MAX */
};

/* A capture as GET shows it. */
struct capture_info {
	char id[ID_MAX];
	struct capture_req req;
	enum capture_state state;
	/* Why it ended: "max_packets", "max_seconds", "max_bytes", "stopped", "error"; "" running.
	 */
	char reason[CAPTURE_REASON_MAX];
	char error[CAPTURE_ERROR_MAX]; /* what failed, "" unless state is CAPTURE_FAILED */
	uint64_t packets;              /* packets in the file */
	uint64_t bytes;                /* the file's size so far, header included */
	uint64_t dropped;              /* packets the kernel dropped for want of room */
	bool downloaded;               /* its file was downloaded: it is forgotten soon */
	char started_at[TIME_MAX];
	char ended_at[TIME_MAX];   /* "" while running */
	char expires_at[TIME_MAX]; /* "" while running */
};

/*
 * The way to a packet socket: the link named ifname, with prog[0..len)
 * attached before it is bound (kernel_ops.capture_open after link_index).
 * Returns the descriptor, which the manager owns from then on, or -errno:
 * -ENODEV when there is no such link, -EOPNOTSUPP when captures are not
 * available.
 */
typedef int (*capture_open_fn)(void *ctx, const char *ifname, const struct sock_filter *prog,
                               size_t len);

/* A manager and its reader thread. 0 or -errno. */
int capture_mgr_new(capture_open_fn open, void *ctx, struct capture_mgr **out)
    __attribute__((warn_unused_result));
/* Stop every capture and the thread, free everything (m may be NULL). */
void capture_mgr_free(struct capture_mgr *m);

/*
 * Compile filter (pcap syntax) for an Ethernet link into a classic BPF
 * program that keeps CAPTURE_SNAPLEN bytes of a packet: *prog malloc'd, *len
 * instructions. INVALID on field "filter" with libpcap's own message.
 */
int capture_filter_compile(const char *filter, struct sock_filter **prog, size_t *len,
                           struct vr_err *e) __attribute__((warn_unused_result));

/*
 * Check r, compile its filter, open the socket and start reading. 0 with
 * *out the new capture; -1 with e: INVALID naming the field (a limit out of
 * range, a bad id or interface name, an unknown link, a filter that does
 * not compile), CONFLICT when CAPTURE_MAX captures are held or the id is
 * taken, UNAVAILABLE when
 * the kernel cannot give a packet socket.
 */
int capture_start(struct capture_mgr *m, const struct capture_req *r, struct capture_info *out,
                  struct vr_err *e) __attribute__((warn_unused_result));
/* The capture id, or NOT_FOUND. */
int capture_get(struct capture_mgr *m, const char *id, struct capture_info *out, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Every capture held, oldest first, into out[CAPTURE_MAX]; returns how many. */
size_t capture_list(struct capture_mgr *m, struct capture_info *out);
/* End a running capture now (reason "stopped"), keeping its file; a finished one is left as is. */
int capture_stop(struct capture_mgr *m, const char *id, struct capture_info *out, struct vr_err *e)
    __attribute__((warn_unused_result));
/* Stop the capture if it runs and forget it with its file. NOT_FOUND. */
int capture_delete(struct capture_mgr *m, const char *id, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * A copy of the finished capture's pcap file (*buf malloc'd, *len bytes).
 * With download, the capture is then forgotten within CAPTURE_DOWNLOADED_S
 * (a failed transfer can be retried until then); without (a HEAD), nothing
 * changes. NOT_FOUND; CONFLICT while it is still running.
 */
int capture_pcap(struct capture_mgr *m, const char *id, bool download, unsigned char **buf,
                 size_t *len, struct vr_err *e) __attribute__((warn_unused_result));

/* "running", "done", "failed". */
const char *capture_state_name(enum capture_state s);

#endif
