/*
 * Fleet mode: the write path (the store's commit hook sends each write to etcd
 * as one txn), the applier (a watch on the prefix, each revision one SQLite
 * transaction), the first sync, resync after compaction, and the member key.
 * fleet.h says what the keys hold.
 */
#include "fleet.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "app.h"
#include "crud.h"
#include "etcd.h"
#include "log.h"
#include "recon.h"
#include "store.h"

#define FLEET_PREFIX_MAX 256
#define FLEET_KEY_MAX (FLEET_PREFIX_MAX + 64 + ID_MAX)
/* The member key's lease, its keepalive period, and the least time between two puts of it. */
#define MEMBER_TTL_S 10
#define MEMBER_KEEPALIVE_S 3
#define MEMBER_PUT_MIN_S 1
/*
 * The pause after a first sync or a resync that failed (etcd unreachable, an
 * import it refuses, a value it holds that this copy refuses).
 */
#define RESYNC_PAUSE_S 2
/* How often the fleet's thread looks at what it has to do. */
#define TICK_MS 250
/* The meta row holding M: the mod_revision of P/rev this copy has applied. */
#define META_APPLIED "etcd_revision"
#define SETTINGS_KIND_KEY "settings"
/* The meta row holding when (Unix seconds) this copy last knew it was current. */
#define META_CURRENT_AT "etcd_current_at"

/* Each kind's JSON translation (the GET form). */
static const struct crud_resource *const kind_rs[STORE_KINDS] = {
    [STORE_RTB] = &api_route_tables,         [STORE_ROUTE] = &api_routes,
    [STORE_SUBNET] = &api_subnets,           [STORE_SG] = &api_security_groups,
    [STORE_SGR] = &api_security_group_rules,
};

struct fleet {
	struct app *app;
	struct etcd *etcd;
	char prefix[FLEET_PREFIX_MAX];
	char watch_prefix[FLEET_PREFIX_MAX + 1]; /* prefix + "/" */
	char router[FLEET_ROUTER_MAX + 1];
	char api[128];
	char key_rev[FLEET_KEY_MAX];
	char key_obj[FLEET_KEY_MAX]; /* prefix + "/obj/" */
	char key_members[FLEET_KEY_MAX];
	char key_member[FLEET_KEY_MAX];

	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t cond;
	int64_t applied;  /* M: the mod_revision of P/rev in this copy */
	int64_t lost_to;  /* the write just refused lost the compare to P/rev at this revision */
	bool synced;      /* the first sync with etcd is done: writes may go */
	bool live;        /* the watch delivers */
	bool need_resync; /* the watch met a compacted revision, or an apply failed */
	bool stop;
	time_t current_at; /* wall clock: when this copy last knew it was current */
	bool member_dirty;
	char unsynced_why[ERR_MSG_MAX];

	/* The fleet thread's own. */
	int64_t watch_from;
	struct etcd_watch *watch;
	int64_t lease;
	struct timespec keepalive_at, member_put_at, grant_at, resync_failed_at;
	pthread_t thread;
	bool thread_on;
};

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double since_s(const struct timespec *t)
{
	return mono_s() - ((double)t->tv_sec + (double)t->tv_nsec / 1e9);
}

/* The CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static void deadline_in(int ms, struct timespec *until)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += ms / 1000;
	until->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

static void rfc3339(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int fleet_router_valid(const char *name, struct vr_err *e)
{
	size_t n = strlen(name);

	if (n == 0 || n > FLEET_ROUTER_MAX ||
	    !(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])))
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) &&
		    name[i] != '-')
			goto bad;
	return 0;
bad:
	return err_set(e, VR_ERR_INVALID, "router",
	               "router name \"%s\" must be 1 to %d characters of a-z, 0-9 and '-', "
	               "starting with a letter or digit",
	               name, FLEET_ROUTER_MAX);
}

int fleet_prefix_valid(const char *prefix, struct vr_err *e)
{
	size_t n = strlen(prefix);

	if (n < 2 || n >= FLEET_PREFIX_MAX || prefix[0] != '/' || prefix[n - 1] == '/')
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)prefix[i]))
			goto bad;
	return 0;
bad:
	return err_set(e, VR_ERR_INVALID, "etcd-prefix",
	               "etcd prefix \"%s\" must start with '/', not end with one, and be 2 to %d "
	               "visible characters",
	               prefix, FLEET_PREFIX_MAX - 1);
}

const char *fleet_router(const struct fleet *f)
{
	return f->router;
}

/* ---- keys and values ---- */

static const char *kind_key(int kind)
{
	return kind == STORE_KIND_SETTINGS ? SETTINGS_KIND_KEY
	                                   : store_kind_key((enum store_kind)kind);
}

static void obj_key(const struct fleet *f, int kind, const char *id, char *key, size_t size)
{
	snprintf(key, size, "%s%s/%s", f->key_obj, kind_key(kind), id);
}

/* key's kind and id when it is an object's key: 0, else -1. */
static int key_obj_parse(const struct fleet *f, const char *key, int *kind, char id[ID_MAX])
{
	size_t pl = strlen(f->key_obj);
	const char *rest, *slash;

	if (strncmp(key, f->key_obj, pl))
		return -1;
	rest = key + pl;
	slash = strchr(rest, '/');
	if (!slash || strlen(slash + 1) >= ID_MAX || !slash[1])
		return -1;
	for (int k = 0; k <= STORE_KIND_SETTINGS; k++) {
		const char *name = kind_key(k);

		if (strlen(name) == (size_t)(slash - rest) && !strncmp(rest, name, strlen(name))) {
			*kind = k;
			snprintf(id, ID_MAX, "%s", slash + 1);
			return 0;
		}
	}
	return -1;
}

/* The value etcd holds for an object: its GET form without the status, plus its rev. */
static char *value_of(json_t *o, int64_t rev)
{
	char *text;

	json_object_del(o, "status");
	json_object_set_new(o, "rev", json_integer(rev));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static char *obj_value(struct fleet *f, enum store_kind k, const void *obj)
{
	const struct crud_resource *rs = kind_rs[k];

	return value_of(rs->to_json(f->app, obj), rs->rev(obj));
}

static char *settings_value(struct fleet *f, const struct settings *set)
{
	return value_of(api_settings_json(f->app, set), set->rev);
}

/* Read and render object id of kind as it stands in s's open transaction. */
static char *stored_value(struct fleet *f, struct store *s, int kind, const char *id,
                          struct vr_err *e)
{
	const struct crud_resource *rs;
	char *text = NULL;
	void *obj;

	if (kind == STORE_KIND_SETTINGS) {
		struct settings set;

		if (store_settings_get_of(s, id, &set, e) < 0)
			return NULL;
		text = settings_value(f, &set);
		if (!text)
			err_set(e, VR_ERR_INTERNAL, "", "out of memory");
		return text;
	}
	rs = kind_rs[kind];
	obj = calloc(1, rs->size);
	if (!obj) {
		err_set(e, VR_ERR_INTERNAL, "", "out of memory");
		return NULL;
	}
	if (store_obj_get(s, (enum store_kind)kind, id, obj, e) == 0) {
		text = obj_value(f, (enum store_kind)kind, obj);
		if (!text)
			err_set(e, VR_ERR_INTERNAL, "", "out of memory");
	}
	rs->clear(obj);
	free(obj);
	return text;
}

/* A string field of o into buf (size), "" when absent. */
static void json_str_field(json_t *o, const char *key, char *buf, size_t size)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(buf, size, "%s", v ? v : "");
}

/*
 * A value from etcd -> the object (kind's struct, zeroed here) with the stamps
 * it carries. What the resource's from_json refuses is refused here too.
 */
static int obj_from_value(int kind, const char *val, size_t len, void *obj, struct vr_err *e)
{
	json_error_t je;
	json_t *o = json_loadb(val, len, 0, &je);
	int64_t rev;
	int ret = -1;

	if (!o || !json_is_object(o)) {
		err_set(e, VR_ERR_INVALID, "", "not a JSON object: %s", o ? "" : je.text);
		goto out;
	}
	rev = json_integer_value(json_object_get(o, "rev"));
	json_object_del(o, "rev");
	if (kind == STORE_KIND_SETTINGS) {
		struct settings *set = obj;

		memset(set, 0, sizeof(*set));
		/* Whose: the key says it too; the body's field is not one settings_from_json takes.
		 */
		json_str_field(o, "router", set->router, sizeof(set->router));
		json_object_del(o, "router");
		if (api_settings_from_json(o, set, e))
			goto out;
		set->managed = json_is_true(json_object_get(o, "managed"));
		json_str_field(o, "updated_at", set->updated_at, sizeof(set->updated_at));
		set->rev = rev;
		ret = 0;
		goto out;
	}
	memset(obj, 0, kind_rs[kind]->size);
	if (kind_rs[kind]->from_json(o, obj, e))
		goto out;
	/* Every kind's struct has its stamps where struct kind says; set them by type. */
	switch (kind) {
#define STAMPS(type)                                                                               \
	do {                                                                                       \
		type *x = obj;                                                                     \
		json_str_field(o, "created_at", x->created_at, sizeof(x->created_at));             \
		json_str_field(o, "updated_at", x->updated_at, sizeof(x->updated_at));             \
		x->rev = rev;                                                                      \
	} while (0)
	case STORE_RTB: STAMPS(struct route_table); break;
	case STORE_ROUTE: STAMPS(struct route); break;
	case STORE_SUBNET: STAMPS(struct subnet); break;
	case STORE_SG: STAMPS(struct security_group); break;
	default: STAMPS(struct sg_rule); break;
#undef STAMPS
	}
	ret = 0;
out:
	json_decref(o);
	return ret;
}

/* Apply a put of key (an object's) to s, inside a replica transaction. */
static int apply_put(struct fleet *f, struct store *s, const struct etcd_kv *kv, struct vr_err *e)
{
	union {
		struct route_table t;
		struct route r;
		struct subnet sn;
		struct security_group g;
		struct sg_rule sr;
		struct settings set;
	} obj;
	char id[ID_MAX];
	int kind, rc;

	if (key_obj_parse(f, kv->key, &kind, id) < 0)
		return 0; /* not ours to know: left alone */
	if (obj_from_value(kind, kv->value, kv->value_len, &obj, e) < 0) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", e->msg);
		return err_set(e, VR_ERR_INVALID, "", "etcd key %s: %s", kv->key, msg);
	}
	if (kind == STORE_KIND_SETTINGS) {
		snprintf(obj.set.router, sizeof(obj.set.router), "%s", id); /* the key says whose */
		return store_replica_settings(s, &obj.set, e);
	}
	rc = store_replica_put(s, (enum store_kind)kind, &obj, e);
	kind_rs[kind]->clear(&obj);
	return rc;
}

/* Before the puts: the object of a put key steps aside (store_replica_make_way). */
static int make_way(struct fleet *f, struct store *s, const char *key, struct vr_err *e)
{
	char id[ID_MAX];
	int kind;

	if (key_obj_parse(f, key, &kind, id) < 0 || kind == STORE_KIND_SETTINGS)
		return 0;
	return store_replica_make_way(s, (enum store_kind)kind, id, e);
}

static int apply_delete(struct fleet *f, struct store *s, const char *key, struct vr_err *e)
{
	char id[ID_MAX];
	int kind;

	if (key_obj_parse(f, key, &kind, id) < 0 || kind == STORE_KIND_SETTINGS)
		return 0;
	/* The built-in table stays: every copy has it, and every route may name it. */
	if (kind == STORE_RTB && model_rtb_main_router(id))
		return 0;
	return store_replica_delete(s, (enum store_kind)kind, id, e);
}

static int64_t parse_rev(const struct etcd_kv *kv)
{
	return strtoll(kv->value, NULL, 10);
}

/* ---- the write path ---- */

/* What an etcd failure of a write means to the client. */
static int write_failed(int rc, size_t nops, const char *msg, struct vr_err *e)
{
	switch (rc) {
	case ETCD_EUNREACHABLE: /* msg says "etcd unreachable: " and the last endpoint's words */
		return err_set(e, VR_ERR_UNAVAILABLE, "", "%s", msg);
	case ETCD_EUNKNOWN:
		return err_set(
		    e, VR_ERR_UNAVAILABLE, "",
		    "etcd: the outcome of this write is unknown (%s); this router's copy is "
		    "unchanged, and if etcd applied it the watch brings it here: read "
		    "before writing again",
		    msg);
	case ETCD_EREJECTED:
		if (strstr(msg, "too many operations"))
			return err_set(
			    e, VR_ERR_TOO_LARGE, "",
			    "this write is %zu etcd operations in one txn, more than the "
			    "cluster's --max-txn-ops allows (default 128): %s",
			    nops, msg);
		if (strstr(msg, "too large"))
			return err_set(
			    e, VR_ERR_TOO_LARGE, "",
			    "this write is larger than the cluster's --max-request-bytes "
			    "allows (default 1.5 MiB): %s",
			    msg);
		return err_set(e, VR_ERR_UNAVAILABLE, "", "etcd refused the write: %s", msg);
	default: return err_set(e, VR_ERR_UNAVAILABLE, "", "etcd: %s", msg);
	}
}

/* A txn being built: ops and the texts they point to. */
struct txn {
	struct etcd_op *ops;
	char **texts; /* keys and values, freed with it */
	size_t n, cap, ntexts;
};

static void txn_free(struct txn *t)
{
	for (size_t i = 0; i < t->ntexts; i++)
		free(t->texts[i]);
	free(t->texts);
	free(t->ops);
	memset(t, 0, sizeof(*t));
}

/* Add an op on key (copied) with value (taken; NULL: a delete). */
static int txn_add(struct txn *t, const char *key, char *value, struct vr_err *e)
{
	char *k = strdup(key);

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct etcd_op *ops = realloc(t->ops, cap * sizeof(*ops));
		char **texts = ops ? realloc(t->texts, cap * 2 * sizeof(*texts)) : NULL;

		if (ops)
			t->ops = ops;
		if (texts)
			t->texts = texts;
		if (!ops || !texts) {
			free(k);
			free(value);
			return err_set(e, VR_ERR_INTERNAL, "", "out of memory");
		}
		t->cap = cap;
	}
	if (!k) {
		free(value);
		return err_set(e, VR_ERR_INTERNAL, "", "out of memory");
	}
	t->texts[t->ntexts++] = k;
	if (value)
		t->texts[t->ntexts++] = value;
	t->ops[t->n++] = (struct etcd_op){
	    .type = value ? ETCD_OP_PUT : ETCD_OP_DELETE,
	    .key = k,
	    .value = value,
	    .value_len = value ? strlen(value) : 0,
	};
	return 0;
}

static int txn_add_rev(struct fleet *f, struct txn *t, int64_t rev, struct vr_err *e)
{
	char *v = malloc(24);

	if (!v)
		return err_set(e, VR_ERR_INTERNAL, "", "out of memory");
	snprintf(v, 24, "%" PRId64, rev);
	return txn_add(t, f->key_rev, v, e);
}

/* The mod_revision of P/rev now (0: absent), or -1 when etcd cannot say. */
static int64_t fleet_rev_now(struct fleet *f)
{
	struct etcd_range_req q = {.key = f->key_rev};
	struct etcd_kvs kvs = {0};
	int64_t m = -1;

	if (etcd_range(f->etcd, &q, &kvs, NULL) == ETCD_OK)
		m = kvs.n ? kvs.kv[0].mod_revision : 0;
	etcd_kvs_free(&kvs);
	return m;
}

/*
 * The commit hook: the changed objects and the new revision as one txn that
 * holds only while P/rev is what this copy has applied. On success the copy
 * records the txn's revision in the same transaction and commits.
 */
static int commit_hook(void *arg, struct store *s, const struct store_change *ch, size_t n,
                       struct vr_err *e)
{
	struct fleet *f = arg;
	struct txn t = {0};
	struct vr_err ee = {0};
	int64_t rev, applied, x = 0;
	struct etcd_cmp cmp;
	char key[FLEET_KEY_MAX];
	bool ok = false;
	int ret = -1, rc;

	pthread_mutex_lock(&f->lock);
	f->lost_to = 0;
	if (!f->synced) {
		err_set(e, VR_ERR_UNAVAILABLE, "",
		        "etcd unreachable: this router has not synchronised its copy with etcd "
		        "yet (%s); it serves reads only",
		        f->unsynced_why);
		pthread_mutex_unlock(&f->lock);
		return -1;
	}
	pthread_mutex_unlock(&f->lock);
	if (store_meta_get(s, "revision", &rev, e) < 0 ||
	    store_meta_get(s, META_APPLIED, &applied, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *v = NULL;

		obj_key(f, ch[i].kind, ch[i].id, key, sizeof(key));
		if (!ch[i].del && !(v = stored_value(f, s, ch[i].kind, ch[i].id, e)))
			goto out;
		if (txn_add(&t, key, v, e) < 0)
			goto out;
	}
	if (txn_add_rev(f, &t, rev, e) < 0)
		goto out;
	cmp = (struct etcd_cmp){
	    .key = f->key_rev,
	    .target = applied ? ETCD_CMP_MOD_REVISION : ETCD_CMP_VERSION,
	    .value = applied,
	};
	rc = etcd_txn(f->etcd, &cmp, 1, t.ops, t.n, &ok, &x, &ee);
	if (rc != ETCD_OK) {
		write_failed(rc, t.n, ee.msg, e);
		goto out;
	}
	if (!ok) {
		/* Another router wrote first: this copy must see that write before trying again. */
		int64_t m = fleet_rev_now(f);

		pthread_mutex_lock(&f->lock);
		f->lost_to = m > 0 ? m : x;
		pthread_mutex_unlock(&f->lock);
		err_set(e, VR_ERR_UNAVAILABLE, "",
		        "this router's copy (etcd revision %" PRId64 ") is behind the fleet's "
		        "(etcd revision %" PRId64 ") and did not catch up in time: try again",
		        applied, m > 0 ? m : x);
		goto out;
	}
	if (store_meta_set(s, META_APPLIED, x, e) < 0 ||
	    store_meta_set(s, META_CURRENT_AT, time(NULL), e) < 0) {
		/* etcd has it; the watch brings it back into this copy. */
		log_error("etcd revision %" PRId64 " written but not recorded here: %s", x, e->msg);
		goto out;
	}
	pthread_mutex_lock(&f->lock);
	if (x > f->applied)
		f->applied = x;
	f->member_dirty = true;
	pthread_mutex_unlock(&f->lock);
	log_debug("fleet: revision %" PRId64 " written to etcd at %" PRId64 " (%zu changes)", rev,
	          x, n);
	ret = 0;
out:
	txn_free(&t);
	return ret;
}

bool fleet_lost_compare(struct fleet *f, int run, int64_t *target)
{
	bool again;

	pthread_mutex_lock(&f->lock);
	*target = f->lost_to;
	again = f->lost_to > 0 && run < FLEET_WRITE_RUNS;
	f->lost_to = 0;
	pthread_mutex_unlock(&f->lock);
	return again;
}

int fleet_catch_up(struct fleet *f, int64_t target, struct vr_err *e)
{
	struct timespec until;
	int rc = 0;

	deadline_in(FLEET_CATCHUP_MS, &until);
	pthread_mutex_lock(&f->lock);
	while (f->applied < target && !f->stop && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&f->cond, &f->lock, &until);
	rc = f->applied >= target ? 0 : -1;
	pthread_mutex_unlock(&f->lock);
	if (rc)
		err_set(e, VR_ERR_UNAVAILABLE, "",
		        "this router's copy is behind the fleet (etcd revision %" PRId64
		        ") and did not catch up within %d ms: try again",
		        target, FLEET_CATCHUP_MS);
	return rc;
}

/* ---- the applier ---- */

static void kick_all(struct fleet *f, struct store *s)
{
	crud_kick(f->app, store_revision(s), RECON_ALL, NULL);
}

/*
 * End a replica transaction: when ok, record the desired revision rev (> 0)
 * and M = m (record), commit, and kick the reconciler; else (or when that
 * fails: -1) roll it back.
 */
static int replica_close(struct fleet *f, struct store *s, bool ok, bool record, int64_t rev,
                         int64_t m, struct vr_err *e)
{
	int ret = -1;

	if (ok && (!record || ((rev <= 0 || store_replica_set_revision(s, rev, e) == 0) &&
	                       store_meta_set(s, META_APPLIED, m, e) == 0 &&
	                       store_meta_set(s, META_CURRENT_AT, time(NULL), e) == 0)))
		ret = store_replica_commit(s, e) < 0 ? -1 : 0;
	store_replica_end(s);
	if (ret == 0)
		kick_all(f, s);
	return ret;
}

static void applied_now(struct fleet *f, int64_t m)
{
	pthread_mutex_lock(&f->lock);
	if (m > f->applied)
		f->applied = m;
	f->current_at = time(NULL);
	f->member_dirty = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static bool is_ours(const struct fleet *f, const char *key)
{
	return !strcmp(key, f->key_rev) || !strncmp(key, f->key_obj, strlen(f->key_obj));
}

/* The events of etcd revision x (n of them) into the copy, in one transaction. */
static int apply_revision(struct fleet *f, const struct etcd_event *ev, size_t n, int64_t x,
                          struct vr_err *e)
{
	struct app *app = f->app;
	struct store *s = app->store;
	int64_t m = 0, rev = -1;
	bool any = false;
	int ret = -1;

	for (size_t i = 0; i < n && !any; i++)
		any = is_ours(f, ev[i].kv.key);
	if (!any)
		return 0;
	pthread_mutex_lock(&app->store_lock);
	if (store_meta_get(s, META_APPLIED, &m, e) < 0)
		goto unlock;
	if (x <= m) {
		ret = 0; /* this router's own write, committed with its txn */
		goto unlock;
	}
	if (store_replica_begin(s, e) < 0)
		goto unlock;
	for (size_t i = 0; i < n; i++)
		if (ev[i].type == ETCD_EV_PUT && make_way(f, s, ev[i].kv.key, e) < 0)
			goto end;
	for (size_t i = 0; i < n; i++) {
		const struct etcd_kv *kv = &ev[i].kv;

		if (!strcmp(kv->key, f->key_rev)) {
			if (ev[i].type == ETCD_EV_PUT)
				rev = parse_rev(kv);
			continue;
		}
		if (ev[i].type == ETCD_EV_PUT ? apply_put(f, s, kv, e)
		                              : apply_delete(f, s, kv->key, e))
			goto end;
	}
	ret = replica_close(f, s, true, rev > 0, rev, x, e);
	goto unlock;
end:
	replica_close(f, s, false, false, 0, 0, e);
unlock:
	pthread_mutex_unlock(&app->store_lock);
	if (ret == 0 && rev > 0)
		applied_now(f, x);
	return ret;
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct fleet *f = arg;
	struct vr_err e = {0};
	size_t i = 0;
	bool live;

	if (u->rc == ETCD_ECOMPACTED || u->rc != ETCD_OK) {
		pthread_mutex_lock(&f->lock);
		if (f->live)
			log_warnx("fleet: the etcd watch %s: %s",
			          u->rc == ETCD_ECOMPACTED ? "reached a compacted revision"
			                                   : "is lost",
			          u->msg ? u->msg : "");
		f->live = false;
		if (u->rc == ETCD_ECOMPACTED)
			f->need_resync = true;
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	while (i < u->n) {
		int64_t x = u->events[i].kv.mod_revision;
		size_t j = i;

		while (j < u->n && u->events[j].kv.mod_revision == x)
			j++;
		if (apply_revision(f, u->events + i, j - i, x, &e) < 0) {
			log_error("fleet: etcd revision %" PRId64 " could not be applied (%s): "
			          "resyncing the copy",
			          x, e.msg);
			pthread_mutex_lock(&f->lock);
			f->need_resync = true;
			f->live = false;
			pthread_cond_broadcast(&f->cond);
			pthread_mutex_unlock(&f->lock);
			return;
		}
		i = j;
	}
	pthread_mutex_lock(&f->lock);
	live = f->live;
	pthread_mutex_unlock(&f->lock);
	/*
	 * Connected again, or catching up: live (reads current) once the copy
	 * holds the fleet's last write as etcd shows it now.
	 */
	if (!live) {
		int64_t m = fleet_rev_now(f);

		pthread_mutex_lock(&f->lock);
		live = m >= 0 && f->applied >= m;
		if (live)
			log_info("fleet: current with etcd (revision %" PRId64
			         "), watching from %" PRId64,
			         f->applied, u->revision);
		pthread_mutex_unlock(&f->lock);
		if (!live)
			return;
	}
	pthread_mutex_lock(&f->lock);
	f->live = true;
	f->current_at = time(NULL);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* ---- sync: import, resync, catch up ---- */

/* Whether key is one of kvs's (in key order, as etcd answers a range). */
static bool kvs_has(const struct etcd_kvs *kvs, const char *key)
{
	size_t lo = 0, hi = kvs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(kvs->kv[mid].key, key);

		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * Replace the copy with what etcd holds under the prefix at one revision, in
 * one transaction: the reconciler sees the old state or the new, never an
 * empty one in between.
 */
static int resync(struct fleet *f, struct vr_err *e)
{
	struct etcd_range_req q = {.key = f->watch_prefix, .prefix = true};
	struct etcd_kvs kvs = {0};
	struct store *s = f->app->store;
	char key[FLEET_KEY_MAX];
	int64_t m = 0, rev = -1;
	size_t nobj = 0;
	int ret = -1, rc;

	rc = etcd_range(f->etcd, &q, &kvs, e);
	if (rc != ETCD_OK) {
		etcd_kvs_free(&kvs);
		return -1;
	}
	pthread_mutex_lock(&f->app->store_lock);
	if (store_replica_begin(s, e) < 0)
		goto unlock;
	for (int k = 0; k < STORE_KINDS; k++) {
		char(*ids)[ID_MAX] = NULL;
		size_t n = 0;

		if (store_replica_ids(s, (enum store_kind)k, &ids, &n, e) < 0)
			goto end;
		for (size_t i = 0; i < n; i++) {
			obj_key(f, k, ids[i], key, sizeof(key));
			if (!kvs_has(&kvs, key) && apply_delete(f, s, key, e) < 0) {
				free(ids);
				goto end;
			}
		}
		free(ids);
	}
	for (size_t i = 0; i < kvs.n; i++)
		if (make_way(f, s, kvs.kv[i].key, e) < 0)
			goto end;
	for (size_t i = 0; i < kvs.n; i++) {
		if (!strcmp(kvs.kv[i].key, f->key_rev)) {
			rev = parse_rev(&kvs.kv[i]);
			m = kvs.kv[i].mod_revision;
			continue;
		}
		if (strncmp(kvs.kv[i].key, f->key_obj, strlen(f->key_obj)))
			continue;
		if (apply_put(f, s, &kvs.kv[i], e) < 0)
			goto end;
		nobj++;
	}
	ret = replica_close(f, s, true, true, rev, m, e);
	goto unlock;
end:
	replica_close(f, s, false, false, 0, 0, e);
unlock:
	pthread_mutex_unlock(&f->app->store_lock);
	if (ret == 0) {
		log_info("fleet: resynced the copy from etcd at revision %" PRId64 " (%zu objects, "
		         "desired revision %" PRId64 ")",
		         kvs.revision, nobj, rev);
		pthread_mutex_lock(&f->lock);
		f->applied = m;
		f->current_at = time(NULL);
		f->member_dirty = true;
		f->need_resync = false;
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
		f->watch_from = kvs.revision + 1;
	}
	etcd_kvs_free(&kvs);
	return ret;
}

struct import {
	struct fleet *f;
	struct txn t;
};

static int import_obj(void *arg, enum store_kind kind, const void *obj, struct vr_err *e)
{
	struct import *im = arg;
	char key[FLEET_KEY_MAX];
	char *v = obj_value(im->f, kind, obj);

	if (!v)
		return err_set(e, VR_ERR_INTERNAL, "", "out of memory");
	obj_key(im->f, kind, kind_rs[kind]->id(obj), key, sizeof(key));
	return txn_add(&im->t, key, v, e);
}

/*
 * The fleet is empty and this copy never was in one: its objects become the
 * fleet's, in one txn that holds only while the fleet is still empty. 1 when
 * another router imported first.
 */
static int import(struct fleet *f, struct vr_err *e)
{
	struct import im = {.f = f};
	struct store *s = f->app->store;
	struct settings set;
	struct vr_err ee = {0};
	struct etcd_cmp cmp = {.key = f->key_rev, .target = ETCD_CMP_VERSION, .value = 0};
	char key[FLEET_KEY_MAX];
	int64_t rev, x = 0;
	bool ok = false;
	int ret = -1, rc;
	char *v;

	pthread_mutex_lock(&f->app->store_lock);
	if (store_config_walk(s, import_obj, &im, &set, &rev, e) < 0)
		goto out;
	obj_key(f, STORE_KIND_SETTINGS, model_router_or_local(set.router), key, sizeof(key));
	v = settings_value(f, &set);
	if (!v || txn_add(&im.t, key, v, e) < 0 || txn_add_rev(f, &im.t, rev, e) < 0)
		goto out;
	rc = etcd_txn(f->etcd, &cmp, 1, im.t.ops, im.t.n, &ok, &x, &ee);
	if (rc != ETCD_OK) {
		write_failed(rc, im.t.n, ee.msg, e);
		goto out;
	}
	if (!ok) {
		ret = 1;
		goto out;
	}
	if (store_meta_set(s, META_APPLIED, x, e) < 0)
		goto out;
	log_info("fleet: the fleet was empty: imported this copy's %zu objects (desired revision "
	         "%" PRId64 ") at etcd revision %" PRId64,
	         im.t.n - 1, rev, x);
	pthread_mutex_lock(&f->lock);
	f->applied = x;
	f->current_at = time(NULL);
	pthread_mutex_unlock(&f->lock);
	f->watch_from = x + 1;
	ret = 0;
out:
	pthread_mutex_unlock(&f->app->store_lock);
	txn_free(&im.t);
	return ret;
}

/* The first sync: catch up from M, import into an empty fleet, or resync. */
static int sync_first(struct fleet *f, struct vr_err *e)
{
	struct etcd_range_req q = {.key = f->key_rev};
	struct etcd_kvs kvs = {0};
	int64_t m = 0, mf;
	int rc;

	rc = etcd_range(f->etcd, &q, &kvs, e);
	if (rc != ETCD_OK)
		return -1;
	mf = kvs.n ? kvs.kv[0].mod_revision : 0;
	etcd_kvs_free(&kvs);
	pthread_mutex_lock(&f->app->store_lock);
	rc = store_meta_get(f->app->store, META_APPLIED, &m, e);
	pthread_mutex_unlock(&f->app->store_lock);
	if (rc < 0)
		return -1;
	if (!mf && !m) {
		rc = import(f, e);
		if (rc < 0)
			return -1;
		if (rc == 0)
			goto synced;
	}
	if (mf && m && m <= mf) {
		/* The watch replays what this copy missed (or says it is compacted). */
		log_info("fleet: catching up from etcd revision %" PRId64
		         " (the fleet is at %" PRId64 ")",
		         m, mf);
		pthread_mutex_lock(&f->lock);
		f->applied = m;
		pthread_mutex_unlock(&f->lock);
		f->watch_from = m + 1;
		goto synced;
	}
	if (resync(f, e) < 0)
		return -1;
synced:
	pthread_mutex_lock(&f->lock);
	f->synced = true;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* ---- members ---- */

static json_t *member_json(struct fleet *f)
{
	struct recon_stats st = {0};
	int64_t applied;

	if (f->app->recon)
		recon_stats(f->app->recon, &st);
	pthread_mutex_lock(&f->lock);
	applied = f->applied;
	pthread_mutex_unlock(&f->lock);
	return json_pack("{s:s, s:s, s:I, s:I, s:o}", "name", f->router, "api", f->api,
	                 "applied_revision", (json_int_t)applied, "failed",
	                 (json_int_t)(st.routes_failed + st.objects_failed), "last_apply",
	                 st.last_apply_at[0] ? json_string(st.last_apply_at) : json_null());
}

static void member_upkeep(struct fleet *f)
{
	struct vr_err e = {0};
	bool dirty;

	if (!f->lease) {
		if (since_s(&f->grant_at) < MEMBER_KEEPALIVE_S)
			return;
		clock_gettime(CLOCK_MONOTONIC, &f->grant_at);
		if (etcd_lease_grant(f->etcd, MEMBER_TTL_S, &f->lease, NULL, &e) != ETCD_OK) {
			f->lease = 0;
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &f->keepalive_at);
		pthread_mutex_lock(&f->lock);
		f->member_dirty = true;
		pthread_mutex_unlock(&f->lock);
	} else if (since_s(&f->keepalive_at) >= MEMBER_KEEPALIVE_S) {
		int rc = etcd_lease_keepalive(f->etcd, f->lease, NULL, &e);

		if (rc == ETCD_ENOTFOUND) {
			log_warnx("fleet: the member lease expired; granting a new one");
			f->lease = 0;
			return;
		}
		if (rc == ETCD_OK)
			clock_gettime(CLOCK_MONOTONIC, &f->keepalive_at);
	}
	pthread_mutex_lock(&f->lock);
	dirty = f->member_dirty;
	pthread_mutex_unlock(&f->lock);
	if (dirty && since_s(&f->member_put_at) >= MEMBER_PUT_MIN_S) {
		json_t *m = member_json(f);
		char *v = json_dumps(m, JSON_COMPACT);

		json_decref(m);
		clock_gettime(CLOCK_MONOTONIC, &f->member_put_at);
		if (v &&
		    etcd_put(f->etcd, f->key_member, v, strlen(v), f->lease, NULL, &e) == ETCD_OK) {
			pthread_mutex_lock(&f->lock);
			f->member_dirty = false;
			pthread_mutex_unlock(&f->lock);
		}
		free(v);
	}
}

json_t *fleet_members(struct fleet *f, struct vr_err *e)
{
	struct etcd_range_req q = {.key = f->key_members, .prefix = true};
	struct etcd_kvs kvs = {0};
	json_t *items;
	int rc = etcd_range(f->etcd, &q, &kvs, e);

	if (rc != ETCD_OK) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", e->msg);
		err_set(e, VR_ERR_UNAVAILABLE, "", "%s", msg);
		etcd_kvs_free(&kvs);
		return NULL;
	}
	items = json_array();
	for (size_t i = 0; i < kvs.n; i++) {
		json_t *m = json_loadb(kvs.kv[i].value, kvs.kv[i].value_len, 0, NULL);
		json_t *o;

		if (!json_is_object(m)) {
			json_decref(m);
			continue;
		}
		/* The key says the name; the value says the rest. */
		o = json_pack("{s:s, s:O, s:b, s:O, s:O, s:O}", "name",
		              kvs.kv[i].key + strlen(f->key_members), "api",
		              json_object_get(m, "api") ?: json_null(), "alive", 1,
		              "applied_revision",
		              json_object_get(m, "applied_revision") ?: json_null(), "failed",
		              json_object_get(m, "failed") ?: json_null(), "last_apply",
		              json_object_get(m, "last_apply") ?: json_null());
		json_decref(m);
		if (o)
			json_array_append_new(items, o);
	}
	etcd_kvs_free(&kvs);
	return items;
}

/* ---- the fleet's thread ---- */

static void watch_start(struct fleet *f)
{
	struct vr_err e = {0};

	f->watch = etcd_watch_start(f->etcd, f->watch_prefix, f->watch_from, on_watch, f, &e);
	if (!f->watch)
		log_error("fleet: cannot start the etcd watch: %s", e.msg);
}

static void *fleet_thread(void *arg)
{
	struct fleet *f = arg;
	bool said = false;

	for (;;) {
		struct vr_err e = {0};
		struct timespec until;
		bool synced, resync_now;

		pthread_mutex_lock(&f->lock);
		if (f->stop) {
			pthread_mutex_unlock(&f->lock);
			break;
		}
		synced = f->synced;
		resync_now = f->need_resync;
		pthread_mutex_unlock(&f->lock);
		if (!synced) {
			if (since_s(&f->resync_failed_at) < RESYNC_PAUSE_S) {
				/* paced: an import etcd refuses is not resent every tick */
			} else if (sync_first(f, &e) == 0) {
				log_info("fleet: synchronised with etcd");
				watch_start(f);
			} else {
				if (!said)
					log_warnx(
					    "fleet: etcd: %s; serving the local copy, retrying",
					    e.msg);
				said = true;
				clock_gettime(CLOCK_MONOTONIC, &f->resync_failed_at);
				pthread_mutex_lock(&f->lock);
				snprintf(f->unsynced_why, sizeof(f->unsynced_why), "%s", e.msg);
				pthread_mutex_unlock(&f->lock);
			}
		} else if (resync_now && since_s(&f->resync_failed_at) >= RESYNC_PAUSE_S) {
			etcd_watch_stop(f->watch);
			f->watch = NULL;
			if (resync(f, &e) == 0) {
				watch_start(f);
			} else {
				log_warnx("fleet: resync failed: %s; trying again in %d s", e.msg,
				          RESYNC_PAUSE_S);
				clock_gettime(CLOCK_MONOTONIC, &f->resync_failed_at);
			}
		} else if (!f->watch) {
			watch_start(f);
		}
		member_upkeep(f);
		deadline_in(TICK_MS, &until);
		pthread_mutex_lock(&f->lock);
		if (!f->stop)
			pthread_cond_timedwait(&f->cond, &f->lock, &until);
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

/* ---- open, run, close ---- */

/*
 * A database a single vrouterd kept (never in a fleet) holds router local's desired
 * state: started as another router, that router's reconciler would take it for another
 * router's and remove it from this kernel, and an import would hand it to local.
 * Refused, saying what to do; -1 with e, else 0.
 */
static int single_copy_of_other(struct fleet *f, struct vr_err *e)
{
	bool empty = true;
	int rc;

	if (f->applied != 0 || !strcmp(f->router, ROUTER_LOCAL))
		return 0;
	pthread_mutex_lock(&f->app->store_lock);
	rc = store_desired_empty(f->app->store, &empty, e);
	pthread_mutex_unlock(&f->app->store_lock);
	if (rc < 0 || empty)
		return rc;
	return err_set(
	    e, VR_ERR_CONFLICT, "router",
	    "the database holds the desired state of a single vrouterd (router %s) and "
	    "was never in a fleet: start it with --router %s to bring that state into an "
	    "empty fleet as router %s, or give router %s a new --db (its state then comes "
	    "from etcd)",
	    ROUTER_LOCAL, ROUTER_LOCAL, ROUTER_LOCAL, f->router);
}

int fleet_open(struct app *app, const struct fleet_opts *o, struct fleet **out, struct vr_err *e)
{
	struct etcd_opts eo = {
	    .endpoints = o->endpoints,
	    .ca_file = o->ca_file,
	    .cert_file = o->cert_file,
	    .key_file = o->key_file,
	};
	struct fleet *f;
	struct vr_err se = {0};

	*out = NULL;
	if (fleet_router_valid(o->router, e) || fleet_prefix_valid(o->prefix, e))
		return -1;
	f = calloc(1, sizeof(*f));
	if (!f)
		return err_set(e, VR_ERR_INTERNAL, "", "out of memory");
	f->app = app;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	snprintf(f->prefix, sizeof(f->prefix), "%s", o->prefix);
	snprintf(f->watch_prefix, sizeof(f->watch_prefix), "%s/", o->prefix);
	snprintf(f->router, sizeof(f->router), "%s", o->router);
	snprintf(f->api, sizeof(f->api), "%s", o->api ? o->api : "");
	snprintf(f->key_rev, sizeof(f->key_rev), "%s/rev", o->prefix);
	snprintf(f->key_obj, sizeof(f->key_obj), "%s/obj/", o->prefix);
	snprintf(f->key_members, sizeof(f->key_members), "%s/members/", o->prefix);
	snprintf(f->key_member, sizeof(f->key_member), "%s/members/%s", o->prefix, o->router);
	snprintf(f->unsynced_why, sizeof(f->unsynced_why), "not tried yet");
	f->etcd = etcd_open(&eo, e);
	if (!f->etcd)
		goto fail;
	if (store_set_commit_hook(app->store, commit_hook, f, e) < 0)
		goto fail;
	pthread_mutex_lock(&app->store_lock);
	{
		int64_t at = 0;

		if (store_meta_get(app->store, META_APPLIED, &f->applied, e) < 0 ||
		    store_meta_get(app->store, META_CURRENT_AT, &at, e) < 0) {
			pthread_mutex_unlock(&app->store_lock);
			goto fail;
		}
		f->current_at = (time_t)at;
	}
	pthread_mutex_unlock(&app->store_lock);
	if (single_copy_of_other(f, e) < 0)
		goto fail;
	if (sync_first(f, &se) < 0) {
		log_warnx("fleet: etcd %s: %s; starting from the local copy (etcd revision %" PRId64
		          "), reads only until etcd answers",
		          o->endpoints, se.msg, f->applied);
		snprintf(f->unsynced_why, sizeof(f->unsynced_why), "%s", se.msg);
	} else {
		log_info(
		    "fleet: router %s synchronised with etcd %s under %s (etcd revision %" PRId64
		    ")",
		    f->router, etcd_endpoint_get(f->etcd), f->prefix, f->applied);
	}
	*out = f;
	return 0;
fail:
	if (app->store)
		if (store_set_commit_hook(app->store, NULL, NULL, &se) < 0)
			log_error("%s", se.msg);
	etcd_close(f->etcd);
	free(f);
	return -1;
}

int fleet_run(struct fleet *f, struct vr_err *e)
{
	int rc;

	pthread_mutex_lock(&f->lock);
	if (f->synced) {
		pthread_mutex_unlock(&f->lock);
		watch_start(f);
	} else {
		pthread_mutex_unlock(&f->lock);
	}
	rc = pthread_create(&f->thread, NULL, fleet_thread, f);
	if (rc)
		return err_set(e, VR_ERR_INTERNAL, "", "fleet thread: %s", strerror(rc));
	f->thread_on = true;
	return 0;
}

void fleet_close(struct fleet *f)
{
	struct vr_err e = {0};

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->thread_on)
		pthread_join(f->thread, NULL);
	etcd_watch_stop(f->watch);
	if (f->lease && etcd_lease_revoke(f->etcd, f->lease, &e) != ETCD_OK)
		log_debug("fleet: revoking the member lease: %s", e.msg);
	etcd_close(f->etcd);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void fleet_headers(struct fleet *f, char *rev, size_t rev_size, char *stale, size_t stale_size)
{
	pthread_mutex_lock(&f->lock);
	snprintf(rev, rev_size, "%" PRId64, f->applied);
	stale[0] = '\0';
	if (!f->live) {
		if (f->current_at)
			rfc3339(f->current_at, stale, stale_size);
		else
			snprintf(stale, stale_size, "1970-01-01T00:00:00Z");
	}
	pthread_mutex_unlock(&f->lock);
}
