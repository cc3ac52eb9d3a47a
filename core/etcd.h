/*
 * A small client of etcd's v3 API through its JSON gateway (etcd 3.4: POST
 * /v3/kv/range, /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn, /v3/kv/compaction,
 * /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke, /v3/maintenance/status,
 * and /v3/watch, a streaming POST answered by one JSON object per line). It speaks
 * HTTP(S) with libcurl and JSON with jansson; keys and values travel base64-encoded,
 * revisions and lease ids as strings of digits, parsed here as int64.
 *
 * Endpoints: a request goes to the endpoint that last answered, and on to the next
 * one (in the order given) when that one cannot be reached or times out. Whether a
 * failed request may be sent again depends on what it does:
 *   - reads (range, status), lease grant/keepalive/revoke: retried on every endpoint
 *     in turn (a lease granted twice is harmless: the spare one expires);
 *   - writes (put, delete, txn, compaction): retried only while no byte of the request
 *     has left (connection refused, no route, connect timeout). Once it was sent, a
 *     timeout, a lost connection or a 5xx answer (leader lost, request timed out in
 *     raft) gives ETCD_EUNKNOWN: it may or may not have been applied, and the caller
 *     must find out (read the key's mod_revision) before it says either.
 *
 * Every function returns 0 or one of the negative ETCD_E* codes below, and fills
 * *err (when not NULL) with a message naming the endpoint and etcd's own words.
 * The handle is safe to share between threads: requests take an easy handle from a
 * small pool, each watch runs on a thread and a handle of its own.
 */
#ifndef VR_ETCD_H
#define VR_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct etcd;
struct etcd_watch;

/* Bounds: endpoints in a list, one answer's size, one key's length. */
#define ETCD_MAX_ENDPOINTS 16
#define ETCD_MAX_RESPONSE (256u << 20)
#define ETCD_MAX_KEY 4096

enum etcd_rc {
	ETCD_OK = 0,
	ETCD_EUNREACHABLE = -1, /* no endpoint answered (all refused, unreachable or timed out) */
	ETCD_EREJECTED = -2,    /* etcd answered with an error (bad request, too large, ...) */
	ETCD_ECOMPACTED = -3,   /* the revision asked for is compacted: resync from the present */
	ETCD_EUNKNOWN = -4,     /* a write was sent and no answer came: it may have been applied */
	ETCD_ENOTFOUND = -5,    /* the lease does not exist (expired or revoked) */
	ETCD_EINTERNAL = -6,    /* here: memory, an answer that is not what etcd sends */
};

/* The words for a code ("unreachable", "rejected", ...). */
const char *etcd_rc_str(int rc);

struct etcd_opts {
	const char *endpoints; /* "http://10.0.0.1:2379,https://..." (required) */
	const char *ca_file;   /* TLS: CA bundle to verify the server with; NULL: system's */
	const char *cert_file; /* TLS client certificate (PEM); NULL: none */
	const char *key_file;  /* its key (PEM) */
	int timeout_ms; /* one request on one endpoint; 0: 3000 (and 4 s more a MiB of body) */
	int connect_timeout_ms; /* the TCP (and TLS) connect on one endpoint; 0: 1000 */
};

/* A client for opts' endpoints (nothing is sent yet); NULL with *err set when the
 * list is empty, too long, or an endpoint is not an http(s):// URL. */
struct etcd *etcd_open(const struct etcd_opts *opts, struct vr_err *err);
/* Stops nothing: stop every watch first. Accepts NULL. */
void etcd_close(struct etcd *e);
/* The endpoint requests go to first (the last one that answered); borrowed. */
const char *etcd_endpoint_get(struct etcd *e);

struct etcd_kv {
	char *key;   /* NUL-terminated */
	char *value; /* value_len bytes, NUL-terminated too; "" after a delete */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision; /* a write's If-Match: the revision of the key's last change */
	int64_t version;      /* changes since creation; 0: absent */
	int64_t lease;        /* 0: none */
};

struct etcd_kvs {
	struct etcd_kv *kv;
	size_t n;
	bool more;        /* limit cut the answer: range again from after the last key */
	int64_t revision; /* the store's revision the answer reflects */
};

/* Frees the pairs and zeroes *kvs. Accepts NULL. */
void etcd_kvs_free(struct etcd_kvs *kvs);

struct etcd_range_req {
	const char *key;
	bool prefix;           /* every key starting with key ("" = all keys) */
	const char *range_end; /* or [key, range_end); NULL with !prefix: key alone */
	bool after_key;        /* start just after key (paging: key = the last one seen) */
	int64_t revision;      /* the store as of this revision; 0: now (compacted: ECOMPACTED) */
	int64_t limit;         /* at most this many pairs, in key order; 0: all */
};

/* The pairs in the range, in key order, into *out (zeroed first; free with
 * etcd_kvs_free). Linearizable: served through the leader. */
int etcd_range(struct etcd *e, const struct etcd_range_req *req, struct etcd_kvs *out,
               struct vr_err *err) __attribute__((warn_unused_result));

/* Put key = value (value_len bytes), attached to lease (0: none). *revision (may be
 * NULL) gets the write's revision. A lease that does not exist: ETCD_ENOTFOUND. */
int etcd_put(struct etcd *e, const char *key, const char *value, size_t value_len, int64_t lease,
             int64_t *revision, struct vr_err *err) __attribute__((warn_unused_result));

/* Delete key (or every key under it with prefix); *deleted and *revision may be NULL. */
int etcd_delete(struct etcd *e, const char *key, bool prefix, int64_t *deleted, int64_t *revision,
                struct vr_err *err) __attribute__((warn_unused_result));

enum etcd_cmp_target {
	ETCD_CMP_MOD_REVISION, /* key's mod_revision == value */
	ETCD_CMP_VERSION,      /* key's version == value; 0: the key is absent */
};

struct etcd_cmp {
	const char *key;
	enum etcd_cmp_target target;
	int64_t value;
};

enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_DELETE };

struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	const char *value; /* put: value_len bytes */
	size_t value_len;
	int64_t lease; /* put: 0 none */
	bool prefix;   /* delete: every key under key */
};

/* One transaction: when every comparison holds, every op is applied at one revision
 * (*succeeded = true, *revision = that revision); otherwise nothing is applied
 * (*succeeded = false, *revision = the store's revision then). etcd refuses two ops
 * on one key (ETCD_EREJECTED). ETCD_EUNKNOWN: sent, no answer; see the top. */
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmps, size_t ncmp, const struct etcd_op *ops,
             size_t nops, bool *succeeded, int64_t *revision, struct vr_err *err)
    __attribute__((warn_unused_result));

/* Drop the history before revision (the keys' present values stay). */
int etcd_compact(struct etcd *e, int64_t revision, struct vr_err *err)
    __attribute__((warn_unused_result));

/* A lease of ttl seconds (etcd may raise a short one): *id and the granted *ttl_out
 * (may be NULL). Keys put with it are deleted when it expires or is revoked. */
int etcd_lease_grant(struct etcd *e, int64_t ttl, int64_t *id, int64_t *ttl_out, struct vr_err *err)
    __attribute__((warn_unused_result));
/* Renew the lease for its full TTL (*ttl_out, may be NULL); ETCD_ENOTFOUND when it
 * has expired or was revoked. Call it well within the TTL (a third of it). */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_out, struct vr_err *err)
    __attribute__((warn_unused_result));
/* End the lease now and delete its keys; ETCD_ENOTFOUND when it is gone already. */
int etcd_lease_revoke(struct etcd *e, int64_t id, struct vr_err *err)
    __attribute__((warn_unused_result));

struct etcd_status {
	uint64_t member_id; /* the member that answered */
	uint64_t leader;    /* its view of the leader's member id; 0: none */
	int64_t revision;   /* its store's revision */
	int64_t raft_term;
	char version[32]; /* etcd's version, "3.4.23" */
};

/* The status of one member: endpoint is one of the handle's endpoints (or any URL),
 * asked alone with no failover; NULL: whichever answers first, in the usual order. */
int etcd_status(struct etcd *e, const char *endpoint, struct etcd_status *out, struct vr_err *err)
    __attribute__((warn_unused_result));

enum etcd_event_type { ETCD_EV_PUT, ETCD_EV_DELETE };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv; /* after the change; a delete has the key and mod_revision only */
};

/* What a watch reports, on its own thread. */
struct etcd_watch_update {
	int rc; /* ETCD_OK: events (n may be 0 when the stream (re)connects);
	         * ETCD_EUNREACHABLE: the stream was lost, reconnecting (again and again,
	         *   from the revision after the last event delivered);
	         * ETCD_ECOMPACTED: the next revision is compacted: the watch has ended
	         *   (stop it, read the state afresh, watch from there) */
	const struct etcd_event *events; /* in revision order; borrowed for the call */
	size_t n;
	int64_t revision;         /* the next revision this watch will deliver from */
	int64_t compact_revision; /* ECOMPACTED: the oldest revision still kept */
	const char *msg;          /* words for rc other than ETCD_OK */
};

typedef void (*etcd_watch_cb)(void *arg, const struct etcd_watch_update *u);

/* Watch every key under prefix from revision from (inclusive; 0: from now on), calling
 * cb on a thread of the watch's own with every batch of events, in order, never
 * twice for one revision across reconnects. A lost stream is opened again (next
 * endpoint, growing pause up to 2 s), a dead peer is noticed by TCP keepalive within
 * a few seconds. NULL with *err set when the thread cannot start; nothing is sent
 * before it runs, so an unreachable cluster shows in the callback. */
struct etcd_watch *etcd_watch_start(struct etcd *e, const char *prefix, int64_t from,
                                    etcd_watch_cb cb, void *arg, struct vr_err *err);
/* Stop the watch and join its thread (not from inside cb). Accepts NULL. */
void etcd_watch_stop(struct etcd_watch *w);

#endif
