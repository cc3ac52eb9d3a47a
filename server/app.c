#include "app.h"

#include <errno.h>

#include "err.h"
#include "fleet.h"
#include "log.h"
#include "metrics.h"
#include "recon.h"
#include "store.h"

#define APP_READER_CACHE_KIB 2048

int app_readers_open(struct app *app, const char *path, size_t n, struct vr_err *e)
{
	pthread_mutex_init(&app->reader_lock, NULL);
	pthread_cond_init(&app->reader_free, NULL);
	if (n > APP_READERS)
		n = APP_READERS;
	for (size_t i = 0; i < n; i++) {
		if (store_open(path, &app->readers[i], e)) {
			app_readers_close(app);
			return -1;
		}
		/* SQLite's default size, set explicitly: a smaller cache cost GET throughput (0.69
		 * -> 0.63). */
		if (store_set_cache_kib(app->readers[i], APP_READER_CACHE_KIB, e)) {
			store_close(app->readers[i]);
			app_readers_close(app);
			return -1;
		}
		app->idle[app->nidle++] = app->readers[i];
		app->nreaders++;
	}
	pthread_mutex_init(&app->probe_lock, NULL);
	if (store_open(path, &app->probe, e)) {
		app_readers_close(app);
		return -1;
	}
	return 0;
}

void app_readers_close(struct app *app)
{
	for (size_t i = 0; i < app->nreaders; i++)
		store_close(app->readers[i]);
	app->nreaders = app->nidle = 0;
	store_close(app->probe);
	app->probe = NULL;
}

int app_store_probe(struct app *app, struct vr_err *e)
{
	struct store *s;
	int rc;

	if (!app->probe) {
		s = app_read_begin(app);
		rc = store_probe(s, e);
		app_read_done(app, s);
		return rc;
	}
	pthread_mutex_lock(&app->probe_lock);
	rc = store_probe(app->probe, e);
	pthread_mutex_unlock(&app->probe_lock);
	return rc;
}

struct store *app_read_begin(struct app *app)
{
	struct store *s;

	if (!app->nreaders) {
		pthread_mutex_lock(&app->store_lock);
		return app->store;
	}
	pthread_mutex_lock(&app->reader_lock);
	while (!app->nidle)
		pthread_cond_wait(&app->reader_free, &app->reader_lock);
	s = app->idle[--app->nidle];
	pthread_mutex_unlock(&app->reader_lock);
	return s;
}

void app_read_done(struct app *app, struct store *s)
{
	if (!app->nreaders) {
		pthread_mutex_unlock(&app->store_lock);
		return;
	}
	pthread_mutex_lock(&app->reader_lock);
	app->idle[app->nidle++] = s;
	pthread_cond_signal(&app->reader_free);
	pthread_mutex_unlock(&app->reader_lock);
}

void app_init(struct app *app)
{
	pthread_mutex_init(&app->store_lock, NULL);
	pthread_mutex_init(&app->write_lock, NULL);
	app->write_queue = NULL;
	app->write_tail = &app->write_queue;
	app->write_leader = false;
}

bool app_write_again(struct app *app, int run, struct vr_err *e)
{
	int64_t target;
	int rc;

	if (!app->fleet || !fleet_lost_compare(app->fleet, run, &target))
		return false;
	pthread_mutex_unlock(&app->store_lock);
	rc = fleet_catch_up(app->fleet, target, e);
	pthread_mutex_lock(&app->store_lock);
	if (rc == 0)
		log_info("fleet: a write lost etcd's compare to another router's (etcd revision "
		         "%lld); caught up, running it again (run %d)",
		         (long long)target, run + 1);
	return rc == 0;
}

/* One write alone: its own transaction, as the store's calls make it (again after a lost compare).
 */
static void run_one(struct app *app, struct app_write *w)
{
	int run = 0;

	do
		w->rc = w->fn(app, w->arg, w->e);
	while (w->rc < 0 && app_write_again(app, ++run, w->e));
	if (w->rc >= 0)
		metrics_write_commit(1);
	if (w->rc >= 0 && w->committed)
		w->apply_rev = w->committed(app, w->arg, w->rc);
}

/*
 * Several writes in one transaction, each in a savepoint, each with its own
 * audit event; the reconciler hears of them once they are durable.
 */
static void run_group(struct app *app, struct app_write *g)
{
	struct store_event *mine = store_audit_armed();
	struct vr_err ge = {0};
	struct app_write *w;
	uint64_t n = 0;

	if (store_group_begin(app->store, &ge) < 0) {
		for (w = g; w; w = w->next) {
			*w->e = ge;
			w->rc = -1;
		}
		return;
	}
	for (w = g; w; w = w->next) {
		store_audit_arm(w->ev);
		w->rc = w->fn(app, w->arg, w->e);
	}
	store_audit_arm(mine);
	if (store_group_end(app->store, &ge) < 0) {
		for (w = g; w; w = w->next) {
			if (w->rc < 0)
				continue;
			*w->e = ge;
			w->rc = -1;
			if (w->ev)
				w->ev->id =
				    0; /* rolled back with the write: recorded as failed later */
		}
		return;
	}
	app->write_groups++;
	for (w = g; w; w = w->next)
		n += w->rc >= 0;
	metrics_write_commit(n);
	for (w = g; w; w = w->next) {
		app->writes_grouped++;
		if (w->rc >= 0 && w->committed)
			w->apply_rev = w->committed(app, w->arg, w->rc);
	}
}

/* A write's revision was not applied within the time an answer waits for it. */
static void applied_late(const struct app *app, int64_t rev)
{
	log_warnx("revision %lld not applied within %d ms; answering with its status so far",
	          (long long)rev, app->apply_timeout_ms);
}

void app_wait_applied(struct app *app, int64_t rev)
{
	if (!app->recon || rev <= 0)
		return;
	if (recon_wait(app->recon, rev, app->apply_timeout_ms))
		applied_late(app, rev);
}

/* The CLOCK_MONOTONIC time ms from now. */
static struct timespec ms_from_now(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static bool passed(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/*
 * Sleep until w->wake is posted: w finished (its revision applied, if it
 * waits for one), or its thread leads. A commit has no time limit; the
 * apply has, from the moment the leader handed w to the reconciler.
 */
static void write_sleep(struct app *app, struct app_write *w)
{
	struct timespec until = ms_from_now(app->apply_timeout_ms);
	bool in_apply;

	for (;;) {
		if (sem_clockwait(&w->wake, CLOCK_MONOTONIC, &until) == 0)
			return;
		if (errno == EINTR)
			continue;
		pthread_mutex_lock(&app->write_lock);
		in_apply = w->in_apply;
		pthread_mutex_unlock(&app->write_lock);
		if (!in_apply) { /* still queued or being run */
			until = ms_from_now(app->apply_timeout_ms);
			continue;
		}
		until = w->apply_until;
		if (!passed(&until))
			continue;
		if (!recon_wait_cancel(app->recon, &w->applied))
			applied_late(app, w->apply_rev);
		return;
	}
}

/*
 * After a commit, under write_lock: the writes of g that wait for their
 * revision go to the reconciler, which wakes each once it is applied; the
 * others are returned, to be woken now. me is left out: its thread is this one.
 */
static struct app_write *hand_over(struct app *app, struct app_write *g, struct app_write *me)
{
	struct app_write *wake = NULL, *next;
	struct timespec until = ms_from_now(app->apply_timeout_ms);

	for (struct app_write *w = g; w; w = next) {
		next = w->next; /* a write handed over may be woken, and gone, at once */
		if (w == me)
			continue;
		w->finished = true;
		if (w->rc >= 0 && w->apply_rev > 0 && app->recon) {
			w->in_apply = true;
			w->apply_until = until;
			w->applied = (struct recon_waiter){.rev = w->apply_rev, .sem = &w->wake};
			recon_wait_post(app->recon, &w->applied);
		} else {
			w->next = wake;
			wake = w;
		}
	}
	return wake;
}

int app_write(struct app *app, int (*fn)(struct app *app, void *arg, struct vr_err *e),
              int64_t (*committed)(struct app *app, void *arg, int rc), void *arg, struct vr_err *e)
{
	struct app_write me = {
	    .fn = fn, .committed = committed, .arg = arg, .ev = store_audit_armed(), .e = e};
	struct app_write *g, *lead, *wake;

	sem_init(&me.wake, 0, 0);
	pthread_mutex_lock(&app->write_lock);
	*app->write_tail = &me; /* in arrival order */
	app->write_tail = &me.next;
	if (app->write_leader) {
		/* One commits now: this write is run by it or a later leader, or leads. */
		pthread_mutex_unlock(&app->write_lock);
		write_sleep(app, &me);
		if (me.finished) {
			sem_destroy(&me.wake);
			return me.rc;
		}
		pthread_mutex_lock(&app->write_lock); /* handed the lead: write_leader stays set */
	}
	/* Lead: take every write waiting now, this one among them. */
	app->write_leader = true;
	g = app->write_queue;
	app->write_queue = NULL;
	app->write_tail = &app->write_queue;
	pthread_mutex_unlock(&app->write_lock);

	pthread_mutex_lock(&app->store_lock);
	if (app->fleet) {
		/*
		 * Fleet mode: no group commit. Each write is its own etcd txn
		 * (compare on the fleet's revision), committed locally before the
		 * next runs, so every txn compares with the revision the previous
		 * one made.
		 */
		struct store_event *mine = store_audit_armed();

		for (struct app_write *w = g; w; w = w->next) {
			store_audit_arm(w->ev);
			run_one(app, w);
		}
		store_audit_arm(mine);
	} else if (!g->next) {
		run_one(app, g);
	} else {
		run_group(app, g);
	}
	pthread_mutex_unlock(&app->store_lock);

	/* The first write that queued meanwhile leads the next group. */
	pthread_mutex_lock(&app->write_lock);
	lead = app->write_queue;
	app->write_leader = lead != NULL;
	wake = hand_over(app, g, &me);
	pthread_mutex_unlock(&app->write_lock);
	if (lead)
		sem_post(&lead->wake); /* first: its fsync overlaps the wake-ups below */
	for (struct app_write *w = wake, *next; w; w = next) {
		next = w->next;
		sem_post(&w->wake); /* its thread may return (and its frame go) from here on */
	}
	sem_destroy(&me.wake);
	if (me.rc >= 0)
		app_wait_applied(app, me.apply_rev);
	return me.rc;
}
