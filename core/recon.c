/*
 * The reconciler's thread and its public face: kicks, waits, statuses and
 * counts; the order of a full pass; the status entries the passes share.
 * The passes themselves are in recon_routes.c, recon_net.c and recon_sg.c
 * (recon_int.h).
 */
#include "recon.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "grow.h"
#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "recon_int.h"
#include "store.h"

/* After a notification, wait this long for more before resyncing: link flaps come in bursts. */
#define RECON_DEBOUNCE_MS 50
/* After a pass that could not run (store or socket failure), try again after this long. */
#define RECON_RETRY_MS 1000
/* More queued changes than this are cheaper as one full pass. */
#define RECON_QUEUE_MAX 4096

void recon_log_removed(const struct recon *r, const char *kind, const char *words)
{
	if (r->starting)
		log_info("start: removed %s %s: owned by vrouter, not in the desired state", kind,
		         words);
}

int64_t recon_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
	return recon_now_us() / 1000;
}

/* Wake the thread up: a kick, a handed-over document, a stop. */
static void wake(struct recon *r)
{
	uint64_t one = 1;

	if (write(r->wake_fd, &one, sizeof(one)) < 0)
		log_warn("reconciler wake");
}

/* ---- status entries ---- */

void recon_rentry_free(struct rentry *e)
{
	if (e)
		free(e->reason);
	free(e);
}

static void rentry_free_v(void *v, void *arg)
{
	recon_rentry_free(v);
}

static void ostatus_free(void *v, void *arg)
{
	struct ostatus *o = v;

	if (o)
		free(o->reason);
	free(o);
}

static void idmap_free_with(struct idmap *m, void (*fn)(void *, void *))
{
	if (!m)
		return;
	idmap_each(m, fn, NULL);
	idmap_free(m);
}

void recon_ostatus_map_free(struct idmap *m)
{
	idmap_free_with(m, ostatus_free);
}

int recon_ostatus_put(struct idmap *m, const char *id, int64_t rev, enum obj_state state,
                      const char *reason)
{
	struct ostatus *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	snprintf(o->id, sizeof(o->id), "%s", id);
	o->rev = rev;
	o->state = state;
	o->reason = reason && *reason ? strdup(reason) : NULL;
	ostatus_free(idmap_del(m, id), NULL);
	if (idmap_put(m, id, o)) {
		ostatus_free(o, NULL);
		return -ENOMEM;
	}
	return 0;
}

void recon_rentry_set(struct rentry *e, enum obj_state state, const char *reason)
{
	e->state = state;
	free(e->reason);
	e->reason = reason && *reason ? strdup(reason) : NULL;
}

struct rentry *recon_rentry_new(const char *id)
{
	size_t len = strlen(id) + 1;
	struct rentry *e = calloc(1, sizeof(*e) + len);

	if (e)
		memcpy(e->id, id, len);
	return e;
}

bool recon_applied_has(const void *v, size_t n, size_t size, const void *x,
                       bool (*same)(const void *, const void *))
{
	for (size_t i = 0; i < n; i++)
		if (same((const char *)v + i * size, x))
			return true;
	return false;
}

int recon_keep_copy(void **v, size_t *n, const void *src, size_t ns, size_t size)
{
	void *c = malloc(ns ? ns * size : 1);

	if (!c)
		return -ENOMEM;
	if (ns)
		memcpy(c, src, ns * size);
	free(*v);
	*v = c;
	*n = ns;
	return 0;
}

/* The kinds of kernel object in words, for messages. */
static const char *const kobj_words[] = {
    [RECON_KROUTE] = "routes", [RECON_KADDR] = "addresses", [RECON_KRULE] = "policy rules"};

/* The kernel's owned objects of a kind: *out is malloc'd. 0 or -errno. */
static int kobj_dump(struct recon *r, enum recon_kobj kind, void **out, size_t *n)
{
	struct kroute *routes = NULL;
	struct kaddr *addrs = NULL;
	struct krule *rules = NULL;
	int rc = 0;

	switch (kind) {
	case RECON_KROUTE:
		rc = r->k.route_dump(r->k.ctx, &routes, n);
		*out = routes;
		break;
	case RECON_KADDR:
		rc = r->k.addr_dump(r->k.ctx, &addrs, n);
		*out = addrs;
		break;
	case RECON_KRULE:
		rc = r->k.rule_dump(r->k.ctx, &rules, n);
		*out = rules;
		break;
	}
	return rc;
}

/* The planner's ops for a kind (plan_routes, plan_addrs, plan_rules). 0 or -ENOMEM. */
static int kobj_plan(enum recon_kobj kind, const void *desired, size_t nd, const void *observed,
                     size_t no, bool *ok, void **ops, size_t *nops)
{
	struct kroute_op *rops = NULL;
	struct kaddr_op *aops = NULL;
	struct krule_op *lops = NULL;
	int rc = 0;

	switch (kind) {
	case RECON_KROUTE:
		rc = plan_routes(desired, nd, observed, no, &rops, nops, ok);
		*ops = rops;
		break;
	case RECON_KADDR:
		rc = plan_addrs(desired, nd, observed, no, &aops, nops, ok);
		*ops = aops;
		break;
	case RECON_KRULE:
		rc = plan_rules(desired, nd, observed, no, &lops, nops, ok);
		*ops = lops;
		break;
	}
	return rc;
}

int recon_diff(struct recon *r, enum recon_kobj kind, const void *desired, size_t nd, bool *ok,
               void **ops, size_t *nops, char *err, size_t errlen)
{
	void *observed = NULL;
	size_t no = 0;
	int rc = kobj_dump(r, kind, &observed, &no);

	*ops = NULL;
	*nops = 0;
	if (rc) {
		free(observed);
		snprintf(err, errlen, "reading the kernel's %s: %s", kobj_words[kind],
		         strerror(-rc));
		return -1;
	}
	rc = kobj_plan(kind, desired, nd, observed, no, ok, ops, nops);
	free(observed);
	if (rc == 0)
		return 0;
	snprintf(err, errlen, "out of memory");
	return -1;
}

int recon_apply(struct recon *r, enum recon_kobj kind, const void *ops, size_t n, int **res,
                char *err, size_t errlen)
{
	int rc = 0;

	*res = NULL;
	if (!n)
		return 0;
	*res = calloc(n, sizeof(**res));
	if (!*res) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	switch (kind) {
	case RECON_KROUTE: rc = r->k.route_apply(r->k.ctx, ops, n, *res); break;
	case RECON_KADDR: rc = r->k.addr_apply(r->k.ctx, ops, n, *res); break;
	case RECON_KRULE: rc = r->k.rule_apply(r->k.ctx, ops, n, *res); break;
	}
	if (!rc)
		return 0;
	snprintf(err, errlen, "applying %s: %s", kobj_words[kind], strerror(-rc));
	return -1;
}

/* ---- passes ---- */

/* Under lock: wake the recon_wait threads whose revision is applied now. */
static void wake_waiters(struct recon *r)
{
	for (struct recon_waiter **p = &r->waiters, *w; (w = *p);) {
		if (w->rev > r->stats.applied_rev) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->woken = true;
		sem_post(w->sem); /* w's thread may return (and w go) once lock is let go */
	}
}

/* Record a pass's outcome. rc as recon_sync_full; rev the revision it reached (0 = unchanged). */
static void record(struct recon *r, int rc, int64_t rev, double ms, const char *err)
{
	recon_assert_thread(r);
	pthread_mutex_lock(&r->lock);
	r->stats.applies++;
	r->stats.last_apply_ms = ms;
	model_now(r->stats.last_apply_at);
	r->stats.last_apply_ok = rc == 0;
	if (rc < 0) {
		r->stats.apply_failures++;
		snprintf(r->stats.last_error, sizeof(r->stats.last_error), "%s", err);
	} else if (rc > 0) {
		r->stats.apply_failures++;
		snprintf(r->stats.last_error, sizeof(r->stats.last_error), "%llu route(s) failed",
		         (unsigned long long)r->stats.routes_failed);
	} else {
		r->stats.last_error[0] = '\0';
	}
	if (rc >= 0 && rev > r->stats.applied_rev) {
		r->stats.applied_rev = rev;
		wake_waiters(r);
	}
	metrics_owned(MK_ROUTE, r->stats.routes_owned);
	pthread_cond_broadcast(&r->applied);
	pthread_mutex_unlock(&r->lock);
	metrics_apply(ms / 1000.0, rc != 0);
	if (rc < 0)
		log_warnx("apply failed: %s", err);
	else
		log_debug("applied revision %lld in %.2f ms", (long long)rev, ms);
}

/* Combine one part's outcome into the pass's: the worst wins, with its words. */
static void combine(int *rc, int64_t *rev, char *err, size_t len, int prc, int64_t prev,
                    const char *perr)
{
	if (prc < 0 || (*rc >= 0 && prc > *rc)) {
		*rc = prc;
		snprintf(err, len, "%s", perr);
	}
	if (prev < *rev)
		*rev = prev;
}

/*
 * Everything: router addresses first (a route's gateway may need a subnet's
 * address), then routes with the associations' copies of connected
 * networks, then the policy rules that send a subnet's traffic to its table
 * (once the table holds the copies), then security groups. When the subnet
 * step cannot run, the routes keep the copies of the last pass and the rules
 * are left as they are; when the route step cannot run, so are the rules.
 * The revision reached is the lowest of the reads, so a write that landed
 * between them is applied again later. check_nft: also read the nftables
 * table back.
 */
static int run_full(struct recon *r, bool check_nft)
{
	char err[REASON_MAX] = "", perr[REASON_MAX] = "";
	int64_t t0 = recon_now_us(), rev = INT64_MAX, prev = 0;
	struct net_pass np = {0};
	int rc = 0, prc, nrc;

	nrc = recon_net_addrs(r, &np, perr, sizeof(perr));
	combine(&rc, &rev, err, sizeof(err), nrc, nrc < 0 ? 0 : INT64_MAX, perr);
	if (nrc < 0) {
		recon_net_pass_free(&np);
		np.copy_res = calloc(r->ncopies + 1, sizeof(*np.copy_res));
		if (!np.copy_res || recon_keep_copy((void **)&np.as.routes, &np.as.nroutes,
		                                    r->copies, r->ncopies, sizeof(*r->copies))) {
			recon_net_pass_free(&np);
			record(r, -1, 0, (double)(recon_now_us() - t0) / 1000.0, "out of memory");
			return -1;
		}
	}
	prc = recon_sync_full(r, &np.as, np.copy_res, &prev, perr, sizeof(perr));
	combine(&rc, &rev, err, sizeof(err), prc, prev, perr);
	if (nrc >= 0 && prc >= 0) {
		prc = recon_net_rules(r, &np, &prev, perr, sizeof(perr));
		combine(&rc, &rev, err, sizeof(err), prc, prev, perr);
	}
	recon_net_pass_free(&np);
	prc = recon_sync_sg(r, check_nft, &prev, perr, sizeof(perr));
	combine(&rc, &rev, err, sizeof(err), prc, prev, perr);
	record(r, rc, rc < 0 ? 0 : rev, (double)(recon_now_us() - t0) / 1000.0, err);
	if (rc >= 0)
		r->starting = false;
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The route changes q[0..n) (all RECON_ROUTE) in one batch: each route once
 * (its state now is what counts), one read, one kernel batch. Returns as
 * recon_sync_routes.
 */
static int run_routes(struct recon *r, const struct change *q, size_t n)
{
	const char **ids = malloc(n * sizeof(*ids));
	size_t m = 0;
	int rc;

	if (!ids)
		return 2;
	for (size_t i = 0; i < n; i++)
		ids[i] = q[i].id;
	qsort(ids, n, sizeof(*ids), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (!m || strcmp(ids[m - 1], ids[i]))
			ids[m++] = ids[i];
	rc = recon_sync_routes(r, ids, m);
	free(ids);
	return rc;
}

/*
 * Apply queued changes in order, a run of route changes as one batch; any
 * that needs more than its own objects turns the rest into one full pass.
 * Returns true when a full pass is needed.
 */
static bool run_changes(struct recon *r, struct change *q, size_t n)
{
	for (size_t i = 0, j; i < n; i = j) {
		int64_t t0 = recon_now_us(), rev = q[i].rev;
		int rc;

		j = i + 1;
		switch (q[i].kind) {
		case RECON_ROUTE:
			while (j < n && q[j].kind == RECON_ROUTE)
				j++;
			rc = run_routes(r, q + i, j - i);
			break;
		case RECON_SG:
		case RECON_SG_RULE: {
			char err[REASON_MAX] = "";
			int64_t srev = 0;

			/* Small enough to recompile whole; the kernel gets only the difference. */
			rc = recon_sync_sg(r, false, &srev, err, sizeof(err));
			if (rc < 0)
				return true;
			break;
		}
		default:
			rc = 2; /* table renumbering and the like touch many routes */
			break;
		}
		if (rc == 2)
			return true;
		for (size_t k = i + 1; k < j; k++)
			if (q[k].rev > rev)
				rev = q[k].rev;
		record(r, rc, rev, (double)(recon_now_us() - t0) / 1000.0, "");
	}
	return false;
}

/* What the thread waits on between passes, and when the next pass is due. */
struct recon_wakeup {
	int efd, nfd;        /* route/link/address and nftables notifications; -1: none */
	int64_t next_resync; /* the periodic full pass (ms) */
	int64_t debounce_at; /* a full pass after a burst of notifications; -1: none */
	bool check_nft;      /* read the nftables table back on the next full pass */
};

/* A document is being committed beside its routes' apply (pre_hold): passes wait. */
static bool on_hold(struct recon *r)
{
	bool hold;

	pthread_mutex_lock(&r->lock);
	hold = r->pre_hold && !r->pre_pending && !r->stop;
	pthread_mutex_unlock(&r->lock);
	return hold;
}

/* A document is being parsed and stored (recon_hold): periodic and debounced passes wait. */
static bool doc_held(struct recon *r)
{
	bool held;

	pthread_mutex_lock(&r->lock);
	held = r->doc_holds > 0 && !r->stop;
	pthread_mutex_unlock(&r->lock);
	return held;
}

/* Sleep until a kick, a notification or a deadline, and take note of which. */
static void wait_wakeup(struct recon *r, struct recon_wakeup *w)
{
	struct pollfd pfd[3] = {{.fd = r->wake_fd, .events = POLLIN},
	                        {.fd = w->efd, .events = POLLIN},
	                        {.fd = w->nfd, .events = POLLIN}};
	int64_t now = now_ms(), deadline = w->next_resync;
	int timeout;

	if (w->debounce_at >= 0 && w->debounce_at < deadline)
		deadline = w->debounce_at;
	timeout = deadline > now ? (int)(deadline - now) : 0;
	/* Deadlines that pass on hold wait for its end, which wakes the thread. */
	if (on_hold(r) || doc_held(r))
		timeout = -1;
	if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
		log_warn("reconciler poll");
		usleep(100 * 1000);
	}
	if (pfd[0].revents & POLLIN) {
		uint64_t v;

		if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_warn("reconciler wake read");
	}
	if (w->efd >= 0 && (pfd[1].revents & POLLIN) && r->k.events_drain(r->k.ctx) &&
	    w->debounce_at < 0)
		w->debounce_at = now_ms() + RECON_DEBOUNCE_MS;
	if (w->nfd >= 0 && (pfd[2].revents & POLLIN) && r->k.nft_events_drain(r->k.nft)) {
		w->check_nft = true;
		if (w->debounce_at < 0)
			w->debounce_at = now_ms() + RECON_DEBOUNCE_MS;
	}
}

/*
 * The document of recon_preapply, when handed over: its routes and security
 * groups into the kernel now, recorded by the full pass that the caller's
 * commit kicks.
 */
static void run_preapply(struct recon *r)
{
	char err[REASON_MAX] = "";
	struct recon_doc doc;
	int64_t t0 = recon_now_us(), t1;

	pthread_mutex_lock(&r->lock);
	if (!r->pre_pending || r->stop) { /* a waiter let go at the stop */
		pthread_mutex_unlock(&r->lock);
		return;
	}
	doc = r->pre;
	r->pre_pending = false;
	r->pre_running = true;
	pthread_mutex_unlock(&r->lock);
	if (recon_preapply_routes(r, doc.routes, doc.pack, doc.nroutes, err, sizeof(err)))
		log_warnx("applying a document's routes ahead of its commit: %s (the pass after "
		          "the commit applies them)",
		          err);
	t1 = recon_now_us();
	if (recon_preapply_sg(r, doc.groups, doc.ngroups, doc.rules, doc.nrules, err, sizeof(err)))
		log_warnx("applying a document's security groups ahead of its commit: %s (the "
		          "pass after the commit applies them)",
		          err);
	log_debug("applied a document's %zu routes in %.2f ms and %zu groups with %zu rules in "
	          "%.2f ms ahead of its commit",
	          doc.nroutes, (double)(t1 - t0) / 1000.0, doc.ngroups, doc.nrules,
	          (double)(recon_now_us() - t1) / 1000.0);
	pthread_mutex_lock(&r->lock);
	r->pre_running = false;
	memset(&r->pre, 0, sizeof(r->pre));
	pthread_cond_broadcast(&r->applied);
	pthread_mutex_unlock(&r->lock);
}

/*
 * Take the queued changes and the full-pass flag (*ticket: the kicked full
 * pass's number, 0 when none was kicked). False when the thread is to stop.
 */
static bool take_work(struct recon *r, struct change **q, size_t *nq, bool *full, uint64_t *ticket)
{
	pthread_mutex_lock(&r->lock);
	if (r->stop) {
		pthread_mutex_unlock(&r->lock);
		return false;
	}
	*full = r->full_pending;
	*ticket = r->full_pending ? ++r->full_taken : 0;
	r->full_pending = false;
	*q = r->queue;
	*nq = r->nqueue;
	r->queue = NULL;
	r->nqueue = r->capqueue = 0;
	pthread_mutex_unlock(&r->lock);
	return true;
}

static void *recon_main(void *arg)
{
	struct recon *r = arg;
	struct recon_wakeup w = {
	    .efd = r->k.events_fd(r->k.ctx),
	    .nfd = r->k.nft_events_fd ? r->k.nft_events_fd(r->k.nft) : -1,
	    .debounce_at = -1,
	    .check_nft = true, /* read the table back on the first pass */
	};

	r->self = pthread_self();
	for (;;) {
		struct change *q = NULL;
		size_t nq = 0;
		uint64_t ticket;
		bool full;
		int64_t now;

		wait_wakeup(r, &w);
		run_preapply(r);
		if (on_hold(r))
			continue; /* kicks stay queued, deadlines stay due */
		if (!take_work(r, &q, &nq, &full, &ticket))
			break;
		now = now_ms();
		/* Held, they stay due: recon_release wakes the thread. */
		if ((now >= w.next_resync || (w.debounce_at >= 0 && now >= w.debounce_at)) &&
		    !doc_held(r))
			full = true;
		if (!full && nq)
			full = run_changes(r, q, nq);
		free(q);
		if (full) {
			/*
			 * A pass that could not run is retried soon; failed objects wait
			 * for a link or address change, or the next periodic resync.
			 */
			bool periodic = now >= w.next_resync;
			int rc;

			w.debounce_at = -1;
			rc = run_full(r, w.check_nft || periodic);
			w.next_resync = now_ms() + (rc < 0 ? RECON_RETRY_MS : r->resync_ms);
			w.check_nft = false;
		}
		if (ticket) {
			pthread_mutex_lock(&r->lock);
			r->full_done = ticket;
			pthread_cond_broadcast(&r->applied);
			pthread_mutex_unlock(&r->lock);
		}
	}
	return NULL;
}

int recon_start(const char *db_path, const struct kernel_ops *k, int resync_ms,
                const struct sgc_listen *api, struct recon **out, struct vr_err *e)
{
	return recon_start_router(db_path, NULL, k, resync_ms, api, out, e);
}

int recon_start_router(const char *db_path, const char *router, const struct kernel_ops *k,
                       int resync_ms, const struct sgc_listen *api, struct recon **out,
                       struct vr_err *e)
{
	pthread_condattr_t ca;
	struct recon *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory"), -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->applied, &ca);
	pthread_condattr_destroy(&ca);
	r->k = *k;
	r->links = (struct plan_links){.index = k->link_index, .ctx = k->ctx};
	r->resync_ms = resync_ms > 0 ? resync_ms : 30000;
	if (router) {
		snprintf(r->router_buf, sizeof(r->router_buf), "%s", router);
		r->router = r->router_buf;
	}
	r->routes = idmap_new_ref();
	r->net = idmap_new();
	r->sg = idmap_new();
	r->nft_flags = SGC_TABLE_FLAGS;
	if (api)
		r->api = *api;
	r->starting = true;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!r->routes || !r->net || !r->sg || r->wake_fd < 0) {
		rc = -ENOMEM;
		err_set(e, VR_ERR_INTERNAL, NULL, "reconciler set-up: %s", strerror(errno));
		goto fail;
	}
	rc = store_open(db_path, &r->store, e);
	if (rc)
		goto fail;
	r->stats.desired_rev = store_revision(r->store);
	rc = pthread_create(&r->thread, NULL, recon_main, r);
	if (rc) {
		err_set(e, VR_ERR_INTERNAL, NULL, "starting the reconciler: %s", strerror(rc));
		rc = -rc;
		goto fail;
	}
	r->started = true;
	*out = r;
	return 0;
fail:
	recon_stop(r);
	return rc ? rc : -EIO;
}

void recon_stop(struct recon *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_broadcast(&r->applied); /* recon_preapply_wait and recon_resync */
		pthread_mutex_unlock(&r->lock);
		wake(r);
		pthread_join(r->thread, NULL);
	}
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	store_close(r->store);
	idmap_free_with(r->routes, rentry_free_v);
	recon_ostatus_map_free(r->net);
	recon_ostatus_map_free(r->sg);
	sgc_free(r->sg_applied);
	free(r->addrs_applied);
	free(r->rules_applied);
	free(r->copies_applied);
	free(r->copies);
	free(r->queue);
	pthread_cond_destroy(&r->applied);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void recon_kick(struct recon *r, int64_t rev, enum recon_obj kind, const char *id)
{
	pthread_mutex_lock(&r->lock);
	if (rev > r->stats.desired_rev)
		r->stats.desired_rev = rev;
	if (kind == RECON_ALL || !id || r->nqueue >= RECON_QUEUE_MAX) {
		r->full_pending = true;
	} else {
		if (vr_grow((void **)&r->queue, &r->capqueue, r->nqueue + 1, sizeof(*r->queue),
		            RECON_QUEUE_MAX)) {
			r->full_pending = true;
			goto out;
		}
		r->queue[r->nqueue].rev = rev;
		r->queue[r->nqueue].kind = kind;
		snprintf(r->queue[r->nqueue].id, ID_MAX, "%s", id);
		r->nqueue++;
	}
out:
	pthread_mutex_unlock(&r->lock);
	wake(r);
}

/* The CLOCK_MONOTONIC time timeout_ms from now, for r->applied. */
static void deadline_in(int timeout_ms, struct timespec *until)
{
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_sec += timeout_ms / 1000;
	until->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

void recon_preapply(struct recon *r, const struct recon_doc *doc)
{
	pthread_mutex_lock(&r->lock);
	r->pre = *doc;
	r->pre_rev = 0;
	r->pre_pending = true;
	r->pre_hold = true;
	pthread_mutex_unlock(&r->lock);
	wake(r);
}

void recon_preapply_config(struct recon *r, const struct store_config *c)
{
	struct recon_doc doc = {.routes = c->routes,
	                        .pack = c->pack,
	                        .nroutes = c->nroutes,
	                        .groups = c->groups,
	                        .ngroups = c->ngroups,
	                        .rules = c->rules,
	                        .nrules = c->nrules};

	recon_preapply(r, &doc);
}

void recon_preapply_wait(struct recon *r, int64_t rev)
{
	pthread_mutex_lock(&r->lock);
	r->pre_rev = rev; /* before the hold ends: every pass after it sees rev */
	r->pre_hold = false;
	pthread_mutex_unlock(&r->lock);
	wake(r); /* the passes held back run now */
	pthread_mutex_lock(&r->lock);
	/* The document is borrowed: no timeout, the thread lets go of it when it stops. */
	while ((r->pre_pending || r->pre_running) && !r->stop)
		pthread_cond_wait(&r->applied, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

void recon_hold(struct recon *r)
{
	pthread_mutex_lock(&r->lock);
	r->doc_holds++;
	pthread_mutex_unlock(&r->lock);
}

void recon_release(struct recon *r)
{
	pthread_mutex_lock(&r->lock);
	r->doc_holds--;
	pthread_mutex_unlock(&r->lock);
	wake(r); /* a pass that fell due meanwhile runs now */
}

int recon_resync(struct recon *r, int timeout_ms)
{
	struct timespec until;
	uint64_t ticket;
	int rc = 0;

	deadline_in(timeout_ms, &until);
	pthread_mutex_lock(&r->lock);
	/* The first full pass taken after this one: never one that had started already. */
	ticket = r->full_taken + 1;
	r->full_pending = true;
	pthread_mutex_unlock(&r->lock);
	wake(r);
	pthread_mutex_lock(&r->lock);
	while (r->full_done < ticket && !r->stop && rc == 0)
		rc = pthread_cond_timedwait(&r->applied, &r->lock, &until);
	rc = r->full_done >= ticket ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void recon_wait_post(struct recon *r, struct recon_waiter *w)
{
	w->woken = false;
	pthread_mutex_lock(&r->lock);
	if (r->stats.applied_rev >= w->rev) {
		w->woken = true;
		sem_post(w->sem);
	} else {
		w->next = r->waiters;
		r->waiters = w;
	}
	pthread_mutex_unlock(&r->lock);
}

bool recon_wait_cancel(struct recon *r, struct recon_waiter *w)
{
	bool woken;

	pthread_mutex_lock(&r->lock);
	woken = w->woken;
	if (!woken)
		for (struct recon_waiter **p = &r->waiters; *p; p = &(*p)->next)
			if (*p == w) {
				*p = w->next;
				break;
			}
	pthread_mutex_unlock(&r->lock);
	return woken;
}

int recon_wait(struct recon *r, int64_t rev, int timeout_ms)
{
	sem_t sem;
	struct recon_waiter w = {.rev = rev, .sem = &sem};
	struct timespec until;
	int rc;

	deadline_in(timeout_ms, &until);
	pthread_mutex_lock(&r->lock);
	rc = r->stats.applied_rev >= rev;
	pthread_mutex_unlock(&r->lock);
	if (rc)
		return 0;
	sem_init(&sem, 0, 0);
	recon_wait_post(r, &w);
	while ((rc = sem_clockwait(&sem, CLOCK_MONOTONIC, &until)) < 0 && errno == EINTR)
		;
	if (rc < 0 && recon_wait_cancel(r, &w)) /* the post came after the time was up */
		rc = 0;
	sem_destroy(&sem);
	return rc < 0 ? -ETIMEDOUT : 0;
}

void recon_status(struct recon *r, const char *id, struct obj_status *out)
{
	const struct rentry *s;

	memset(out, 0, sizeof(*out));
	out->state = OBJ_PENDING;
	pthread_mutex_lock(&r->lock);
	s = idmap_get(r->routes, id);
	if (s) {
		out->state = s->state;
		if (s->reason)
			snprintf(out->reason, sizeof(out->reason), "%s", s->reason);
	} else {
		const struct ostatus *o = idmap_get(r->net, id);

		if (!o)
			o = idmap_get(r->sg, id);
		if (o) {
			out->state = o->state;
			if (o->reason)
				snprintf(out->reason, sizeof(out->reason), "%s", o->reason);
		}
	}
	pthread_mutex_unlock(&r->lock);
}

uint64_t recon_status_gen(struct recon *r)
{
	return __atomic_load_n(&r->status_gen, __ATOMIC_ACQUIRE);
}

void recon_stats(struct recon *r, struct recon_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}

struct failure_walk {
	struct recon_failure *out;
	size_t max, n;
	bool route; /* the map holds struct rentry, else struct ostatus */
};

static void collect_failure(void *v, void *arg)
{
	struct failure_walk *w = arg;
	const char *id = NULL, *reason = NULL;

	if (w->n >= w->max)
		return;
	if (w->route) {
		const struct rentry *e = v;

		if (e->state == OBJ_FAILED) {
			id = e->id;
			reason = e->reason;
		}
	} else {
		const struct ostatus *o = v;

		if (o->state == OBJ_FAILED) {
			id = o->id;
			reason = o->reason;
		}
	}
	if (!id)
		return;
	snprintf(w->out[w->n].id, ID_MAX, "%s", id);
	snprintf(w->out[w->n].reason, REASON_MAX, "%s", reason ? reason : "");
	w->n++;
}

size_t recon_failures(struct recon *r, struct recon_failure *out, size_t max)
{
	struct failure_walk w = {.out = out, .max = max, .route = true};

	pthread_mutex_lock(&r->lock);
	idmap_each(r->routes, collect_failure, &w);
	w.route = false;
	idmap_each(r->net, collect_failure, &w);
	idmap_each(r->sg, collect_failure, &w);
	pthread_mutex_unlock(&r->lock);
	return w.n;
}
