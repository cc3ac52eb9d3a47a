/* What every handler can reach: the store, the reconciler, the tokens. */
#ifndef VR_APP_H
#define VR_APP_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "recon.h"

struct store;
struct recon;
struct klink;
struct kernel_ops;
struct sgc_listen;
struct capture_mgr;
struct app;
struct store_event;
struct vr_err;
struct fleet;

/*
 * A write waiting to be run under store_lock (app_write): by the thread
 * that asked, or by the one leading the group it joined.
 */
struct app_write {
	int (*fn)(struct app *app, void *arg, struct vr_err *e); /* the write; < 0 failed */
	/* After it is durable: kick the reconciler; returns the revision to wait for (0: none). */
	int64_t (*committed)(struct app *app, void *arg, int rc);
	void *arg;
	struct store_event *ev; /* the asking thread's audit event (store_audit_armed) */
	struct vr_err *e;
	int rc;
	bool finished; /* run (rc is its outcome); false when woken to lead instead */
	/*
	 * Posted once: the write is finished (and its revision applied, when it
	 * waits for one), or its thread is to lead the next group. A semaphore
	 * of its own, so that the leader wakes exactly the threads it has
	 * business with: a condition variable broadcast woke every waiting
	 * writer, which then queued on write_lock (issue 15,
	 * tests/bench/README.md "post-rate").
	 */
	sem_t wake;
	/*
	 * The revision committed returned; the leader hands the sleeping thread
	 * to the reconciler (in_apply, under write_lock), which posts wake once
	 * it is applied: the thread wakes once, not once for the commit and
	 * again for the apply. It gives up at apply_until (CLOCK_MONOTONIC).
	 */
	int64_t apply_rev;
	bool in_apply;
	struct timespec apply_until;
	struct recon_waiter applied;
	struct app_write *next;
};

#include "token.h"

#define TOKEN_MAX (TOKEN_MAX_LEN + 1) /* the token and its NUL */

#define APP_READERS 8 /* read-only database handles shared by the HTTP threads */
/*
 * The page cache of the handle that writes (app.store), in KiB: what it
 * keeps is mostly pages it appended (audit events, new rows), read again
 * rarely; SQLite's default, 2 MB, filled in the first seconds of
 * tests/bench/load.sh and stayed full (tests/bench/README.md, "load").
 */
#define APP_WRITER_CACHE_KIB 512

struct app {
	struct store *store; /* guarded by store_lock; every write goes through it */
	pthread_mutex_t store_lock;
	/*
	 * Writes that arrive while another is being committed queue here and are
	 * committed together, one transaction and one fsync (app_write).
	 */
	pthread_mutex_t write_lock;
	struct app_write *write_queue;
	struct app_write **write_tail;         /* where the next write is appended */
	bool write_leader;                     /* a thread is running a group now */
	uint64_t write_groups, writes_grouped; /* groups of 2+ committed so far, their writes */
	/*
	 * Reads take a handle of their own (WAL lets them run beside a write and
	 * each other) instead of queueing on store_lock behind a write's fsync.
	 * None open (unit tests): reads use store under store_lock.
	 */
	struct store *readers[APP_READERS];
	size_t nreaders;
	struct store *idle[APP_READERS]; /* the ones not lent out; guarded by reader_lock */
	size_t nidle;
	pthread_mutex_t reader_lock;
	pthread_cond_t reader_free;
	struct recon *recon;         /* NULL in tests that run without a kernel */
	struct token_set tokens;     /* bearer tokens; never logged; replaced on SIGHUP */
	pthread_rwlock_t token_lock; /* guards tokens */
	/*
	 * GET /healthz's own handle on the database (app_readers_open opens
	 * it): each probe drops its page cache and reads from the file.
	 * NULL (unit tests): a reader is used.
	 */
	struct store *probe;
	pthread_mutex_t probe_lock;
	const struct sgc_listen *api; /* the API's listening socket (anti-lockout); NULL: none */
	int apply_timeout_ms;         /* how long a write waits for its apply */
	/*
	 * GET /v1/interfaces: every link of the namespace with its addresses
	 * (kernel.h's links_list and kernel_links_free). Called from HTTP
	 * threads while the reconciler runs, so it must be thread-safe. NULL
	 * when there is no kernel (unit tests): the endpoint answers 503.
	 */
	int (*links_list)(void *ctx, struct klink **out, size_t *n);
	void (*links_free)(struct klink *v, size_t n);
	/*
	 * Routing table numbers in use in the namespace (kernel.h's
	 * tables_in_use), so assigned numbers never collide. NULL: none known.
	 */
	int (*tables_in_use)(void *ctx, uint32_t **out, size_t *n);
	/*
	 * Run fn with the HTTP threads' own kernel handle (read-only questions:
	 * dumps of owned routes, addresses, rules; forwarding; link indexes),
	 * one caller at a time; returns what fn returns. Used by the dry run of
	 * PUT /v1/config. NULL when there is no kernel (unit tests).
	 */
	int (*kernel_query)(void *ctx, int (*fn)(const struct kernel_ops *k, void *arg), void *arg);
	void *query_ctx; /* handed to links_list, tables_in_use and kernel_query */
	/* Packet captures (api_capture.c); NULL when there is no kernel: 503. */
	struct capture_mgr *captures;
	/*
	 * Fleet mode (issue 16; --etcd): fleet != NULL (server/fleet.h). Then
	 * route tables, routes, subnets and settings carry a router, which a
	 * write without one takes from router, the router this daemon serves
	 * (--router, default "local"; its kernel gets only that router's:
	 * recon_start_router). NULL: a single router, whose answers show no
	 * router at all. listen: the API address given, for GET /v1/routers.
	 */
	const char *router;
	struct fleet *fleet;
	const char *listen;
};

/* Initialise app's locks (before any other app_* call). */
void app_init(struct app *app);
/*
 * Run fn(app, arg, e) under store_lock as one write, and committed(app, arg,
 * rc) once it is durable (kick the reconciler there); returns fn's rc, or -1
 * with e set when the commit failed. When committed returns a revision > 0,
 * app_write returns once the reconciler has applied it, or after
 * apply_timeout_ms (logged): the caller answers with the kernel's state.
 * Writes that arrive while one commits wait and are then run together by
 * one of their threads, each in a savepoint of one transaction
 * (store_group_begin): group commit. fn must do its work through the
 * store's write calls and nothing that waits for another write; the calling
 * thread's armed audit event goes with it.
 */
int app_write(struct app *app, int (*fn)(struct app *app, void *arg, struct vr_err *e),
              int64_t (*committed)(struct app *app, void *arg, int rc), void *arg,
              struct vr_err *e);
/*
 * Wait until revision rev is applied, at most apply_timeout_ms (then log it
 * and return: the answer shows the status so far). No reconciler, rev <= 0:
 * returns at once.
 */
void app_wait_applied(struct app *app, int64_t rev);

/*
 * A write that failed (rc < 0) with the store lock held: true when it should
 * run again because, in fleet mode, it lost etcd's compare to another
 * router's write and this copy has caught up since (waited for with the lock
 * released, at most FLEET_CATCHUP_MS; FLEET_WRITE_RUNS runs in all). run: the
 * runs so far. False in single mode.
 */
bool app_write_again(struct app *app, int run, struct vr_err *e);

/* Open n read handles on the database at path (after app->store opened and migrated it). */
int app_readers_open(struct app *app, const char *path, size_t n, struct vr_err *e)
    __attribute__((warn_unused_result));
void app_readers_close(struct app *app);
/*
 * Can the database be read? 0, or -1 with e naming the database and the
 * problem (malformed, deleted, I/O error): GET /healthz.
 */
int app_store_probe(struct app *app, struct vr_err *e) __attribute__((warn_unused_result));
/* A handle to read with, until app_read_done. Never NULL. */
struct store *app_read_begin(struct app *app);
void app_read_done(struct app *app, struct store *s);

#endif
