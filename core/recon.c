#include "recon.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "plan.h"
#include "store.h"

/* After a notification, wait this long for more before resyncing: link flaps come in bursts. */
#define RECON_DEBOUNCE_MS 50
/* After a failed store read, try again after this long. */
#define RECON_RETRY_MS 1000

/* One object's applied status; reason is malloc'd and only set when failed. */
struct status_entry {
	char id[ID_MAX];
	int64_t rev;
	enum obj_state state;
	char *reason;
};

struct recon {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t applied;
	int wake_fd;
	bool stop;
	int64_t want_rev;

	struct store *store; /* the thread's own handle */
	struct kernel_ops k;
	int resync_ms;

	/* Guarded by lock: sorted by id. */
	struct status_entry *status;
	size_t nstatus;
	struct recon_stats stats;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
	return now_us() / 1000;
}

static int status_cmp(const void *a, const void *b)
{
	return strcmp(((const struct status_entry *)a)->id, ((const struct status_entry *)b)->id);
}

static void status_free(struct status_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].reason);
	free(v);
}

static const struct status_entry *status_find(const struct status_entry *v, size_t n,
					      const char *id)
{
	struct status_entry key;

	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, v, n, sizeof(*v), status_cmp);
}

static uint8_t rtn_type(enum route_type t)
{
	switch (t) {
	case ROUTE_BLACKHOLE: return RTN_BLACKHOLE;
	case ROUTE_UNREACHABLE: return RTN_UNREACHABLE;
	case ROUTE_PROHIBIT: return RTN_PROHIBIT;
	case ROUTE_UNICAST: break;
	}
	return RTN_UNICAST;
}

static void set_failed(struct status_entry *st, const char *reason)
{
	st->state = OBJ_FAILED;
	free(st->reason);
	st->reason = strdup(reason);
}

/*
 * One full pass: desired routes from the store against the kernel's owned
 * routes. Returns 0 when the pass ran (some objects may have failed), -1
 * when it could not (store or socket failure; err says why).
 */
static int sync_routes(struct recon *r, int64_t *rev_out, char *err, size_t errlen)
{
	struct route *routes = NULL;
	size_t n = 0, nd = 0, no = 0, nops = 0;
	struct kroute *desired = NULL, *observed = NULL;
	size_t *map = NULL; /* desired index -> routes index */
	struct kroute_op *ops = NULL;
	struct status_entry *st = NULL;
	bool *ok = NULL;
	int *res = NULL;
	struct vr_err e = {0};
	uint64_t repairs = 0, failed = 0, active = 0;
	int64_t rev = 0;
	int ret = -1, rc;

	if (store_routes_load(r->store, &routes, &n, &rev, &e)) {
		snprintf(err, errlen, "reading the desired state: %s", e.msg);
		goto out;
	}
	desired = calloc(n ? n : 1, sizeof(*desired));
	map = calloc(n ? n : 1, sizeof(*map));
	st = calloc(n ? n : 1, sizeof(*st));
	ok = calloc(n ? n : 1, sizeof(*ok));
	if (!desired || !map || !st || !ok) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct route *rt = &routes[i];
		struct kroute *k = &desired[nd];

		snprintf(st[i].id, sizeof(st[i].id), "%s", rt->id);
		st[i].rev = rt->rev;
		st[i].state = OBJ_PENDING;
		memset(k, 0, sizeof(*k));
		if (rt->dev[0]) {
			k->oif = r->k.link_index(r->k.ctx, rt->dev);
			if (!k->oif) {
				char why[REASON_MAX];

				snprintf(why, sizeof(why), "device %s does not exist", rt->dev);
				set_failed(&st[i], why);
				continue;
			}
		}
		k->table = rt->table;
		k->dst = rt->dst;
		k->type = rtn_type(rt->type);
		k->via = rt->via;
		k->metric = rt->metric;
		if (rt->dst.addr.family == AF_INET6 && k->metric == 0)
			k->metric = 1024; /* what the kernel stores for IPv6 metric 0 */
		map[nd++] = i;
	}

	rc = r->k.route_dump(r->k.ctx, &observed, &no);
	if (rc) {
		snprintf(err, errlen, "reading the kernel's routes: %s", strerror(-rc));
		goto out;
	}
	if (plan_routes(desired, nd, observed, no, &ops, &nops, ok)) {
		snprintf(err, errlen, "out of memory while planning");
		goto out;
	}
	if (nops) {
		res = calloc(nops, sizeof(*res));
		if (!res) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		rc = r->k.route_apply(r->k.ctx, ops, nops, res);
		if (rc) {
			snprintf(err, errlen, "applying routes: %s", strerror(-rc));
			goto out;
		}
	}
	for (size_t j = 0; j < nd; j++)
		if (ok[j])
			st[map[j]].state = OBJ_ACTIVE;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < nops; i++) {
		const struct kroute_op *op = &ops[i];
		struct status_entry *s;
		const struct status_entry *prev;

		if (op->kind == KOP_DELETE) {
			if (res[i] && res[i] != -ESRCH && res[i] != -ENOENT)
				log_warnx("could not remove a route vrouter no longer wants: %s",
					  strerror(-res[i]));
			continue;
		}
		s = &st[map[op->tag]];
		if (res[i] == 0) {
			s->state = OBJ_ACTIVE;
			/* Applied before at this very revision and gone since: drift. */
			prev = status_find(r->status, r->nstatus, s->id);
			if (prev && prev->rev == s->rev && prev->state == OBJ_ACTIVE)
				repairs++;
		} else {
			char why[REASON_MAX];

			kernel_route_reason(&op->r, res[i], why, sizeof(why));
			set_failed(s, why);
		}
	}
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		failed += st[i].state == OBJ_FAILED;
		active += st[i].state == OBJ_ACTIVE;
	}
	qsort(st, n, sizeof(*st), status_cmp);

	pthread_mutex_lock(&r->lock);
	status_free(r->status, r->nstatus);
	r->status = st;
	r->nstatus = n;
	st = NULL;
	r->stats.drift_repairs_routes += repairs;
	r->stats.routes_failed = failed;
	r->stats.routes_owned = active;
	pthread_mutex_unlock(&r->lock);
	if (repairs)
		log_info("repaired %llu owned route(s) missing from the kernel",
			 (unsigned long long)repairs);
	*rev_out = rev;
	ret = failed ? 1 : 0;
out:
	if (st)
		status_free(st, n);
	model_routes_free(routes, n);
	free(desired);
	free(observed);
	free(map);
	free(ops);
	free(ok);
	free(res);
	return ret;
}

/* Returns the pass's outcome: 0 all applied, 1 some objects failed, -1 the pass could not run. */
static int run_sync(struct recon *r)
{
	char err[REASON_MAX] = "";
	int64_t t0 = now_us(), rev = 0;
	int rc = sync_routes(r, &rev, err, sizeof(err));
	double ms = (double)(now_us() - t0) / 1000.0;

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
	if (rc >= 0 && rev > r->stats.applied_rev)
		r->stats.applied_rev = rev;
	pthread_cond_broadcast(&r->applied);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0)
		log_warnx("apply failed: %s", err);
	else
		log_debug("applied revision %lld in %.1f ms", (long long)rev, ms);
	return rc;
}

static void *recon_main(void *arg)
{
	struct recon *r = arg;
	int64_t next_resync = 0, debounce_at = -1;
	int efd = r->k.events_fd(r->k.ctx);

	for (;;) {
		struct pollfd pfd[2] = {{.fd = r->wake_fd, .events = POLLIN},
					{.fd = efd, .events = POLLIN}};
		int64_t now = now_ms(), deadline = next_resync;
		bool due = false;
		int timeout;

		if (debounce_at >= 0 && debounce_at < deadline)
			deadline = debounce_at;
		timeout = deadline > now ? (int)(deadline - now) : 0;
		if (poll(pfd, efd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR) {
			log_warn("reconciler poll");
			usleep(100 * 1000);
		}
		pthread_mutex_lock(&r->lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		pthread_mutex_unlock(&r->lock);
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("reconciler wake read");
			due = true;
		}
		if (efd >= 0 && (pfd[1].revents & POLLIN) && r->k.events_drain(r->k.ctx) &&
		    debounce_at < 0)
			debounce_at = now_ms() + RECON_DEBOUNCE_MS;
		now = now_ms();
		if (now >= next_resync || (debounce_at >= 0 && now >= debounce_at))
			due = true;
		if (!due)
			continue;
		debounce_at = -1;
		/* A pass that could not run at all is retried soon; failed objects wait for
		 * a link or address change, or the next periodic resync. */
		next_resync = now_ms() + (run_sync(r) < 0 ? RECON_RETRY_MS : r->resync_ms);
	}
	return NULL;
}

int recon_start(const char *db_path, const struct kernel_ops *k, int resync_ms, struct recon **out,
		struct vr_err *e)
{
	struct recon *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(e, 500, NULL, "out of memory"), -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->applied, &ca);
	pthread_condattr_destroy(&ca);
	r->k = *k;
	r->resync_ms = resync_ms > 0 ? resync_ms : 30000;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		rc = -errno;
		err_set(e, 500, NULL, "eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = store_open(db_path, &r->store, e);
	if (rc)
		goto fail;
	r->want_rev = store_revision(r->store);
	r->stats.desired_rev = r->want_rev;
	rc = pthread_create(&r->thread, NULL, recon_main, r);
	if (rc) {
		err_set(e, 500, NULL, "starting the reconciler: %s", strerror(rc));
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
	uint64_t one = 1;

	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_mutex_unlock(&r->lock);
		if (write(r->wake_fd, &one, sizeof(one)) < 0)
			log_warn("reconciler wake");
		pthread_join(r->thread, NULL);
	}
	/* Wake anyone still waiting; they will time out cleanly. */
	pthread_cond_broadcast(&r->applied);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	store_close(r->store);
	status_free(r->status, r->nstatus);
	pthread_cond_destroy(&r->applied);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void recon_kick(struct recon *r, int64_t rev)
{
	uint64_t one = 1;

	pthread_mutex_lock(&r->lock);
	if (rev > r->want_rev)
		r->want_rev = rev;
	if (rev > r->stats.desired_rev)
		r->stats.desired_rev = rev;
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake_fd, &one, sizeof(one)) < 0)
		log_warn("reconciler wake");
}

int recon_wait(struct recon *r, int64_t rev, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	while (r->stats.applied_rev < rev && rc == 0)
		rc = pthread_cond_timedwait(&r->applied, &r->lock, &until);
	rc = r->stats.applied_rev >= rev ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void recon_status(struct recon *r, const char *id, struct obj_status *out)
{
	const struct status_entry *s;

	memset(out, 0, sizeof(*out));
	out->state = OBJ_PENDING;
	pthread_mutex_lock(&r->lock);
	s = status_find(r->status, r->nstatus, id);
	if (s) {
		out->state = s->state;
		if (s->reason)
			snprintf(out->reason, sizeof(out->reason), "%s", s->reason);
	}
	pthread_mutex_unlock(&r->lock);
}

void recon_stats(struct recon *r, struct recon_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}
