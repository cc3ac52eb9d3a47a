/*
 * The reconciler against a fake kernel: incremental applies, full passes,
 * failures with reasons, drift repair on a notification, table renumbering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kernel.h"
#include "plan.h"
#include "recon.h"
#include "store.h"

#define FAKE_MAX 64
#define WAIT_MS 5000

struct fake {
	pthread_mutex_t lock;
	struct kroute r[FAKE_MAX];
	size_t n;
	struct kaddr a[FAKE_MAX];
	size_t na;
	struct krule rl[FAKE_MAX];
	size_t nrl;
	bool fwd4, fwd6;
	int efd;
	unsigned applies; /* route_apply calls */
	unsigned ops;     /* ops applied in total */
};

static struct fake fk;

static int fake_dump(void *ctx, struct kroute **out, size_t *n)
{
	pthread_mutex_lock(&fk.lock);
	*out = malloc(sizeof(**out) * (fk.n ? fk.n : 1));
	memcpy(*out, fk.r, sizeof(**out) * fk.n);
	*n = fk.n;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_find(const struct kroute *k)
{
	for (size_t i = 0; i < fk.n; i++)
		if (plan_kroute_same_key(&fk.r[i], k))
			return (int)i;
	return -1;
}

static int fake_apply(void *ctx, const struct kroute_op *ops, size_t n, int *res)
{
	pthread_mutex_lock(&fk.lock);
	fk.applies++;
	for (size_t i = 0; i < n; i++) {
		int at = fake_find(&ops[i].r);
		uint8_t gw4[4] = {10, 0, 0, 1};

		fk.ops++;
		res[i] = 0;
		if (ops[i].r.via.family == AF_INET && !memcmp(ops[i].r.via.a, gw4, 4)) {
			res[i] = -ENETUNREACH; /* 10.0.0.1 is on no connected network here */
			continue;
		}
		switch (ops[i].kind) {
		case KOP_ADD:
			if (at >= 0) {
				res[i] = -EEXIST;
				break;
			}
			fk.r[fk.n++] = ops[i].r;
			break;
		case KOP_REPLACE:
			if (at >= 0)
				fk.r[at] = ops[i].r;
			else
				fk.r[fk.n++] = ops[i].r;
			break;
		case KOP_DELETE:
			if (at < 0) {
				res[i] = -ESRCH;
				break;
			}
			fk.r[at] = fk.r[--fk.n];
			break;
		}
	}
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_link_index(void *ctx, const char *name)
{
	return !strcmp(name, "eth0") ? 2 : 0;
}

static int fake_events_fd(void *ctx)
{
	return fk.efd;
}

static bool fake_events_drain(void *ctx)
{
	uint64_t v;

	return read(fk.efd, &v, sizeof(v)) == sizeof(v);
}

static int fake_addr_dump(void *ctx, struct kaddr **out, size_t *n)
{
	pthread_mutex_lock(&fk.lock);
	*out = malloc(sizeof(**out) * (fk.na + 1));
	memcpy(*out, fk.a, sizeof(**out) * fk.na);
	*n = fk.na;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_addr_apply(void *ctx, const struct kaddr_op *ops, size_t n, int *res)
{
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < fk.na && !plan_kaddr_same_key(&fk.a[j], &ops[i].a); j++)
			;
		res[i] = 0;
		if (ops[i].kind == KOP_DELETE) {
			if (j < fk.na)
				fk.a[j] = fk.a[--fk.na];
			else
				res[i] = -EADDRNOTAVAIL;
		} else if (j < fk.na) {
			res[i] = -EEXIST;
		} else {
			fk.a[fk.na++] = ops[i].a;
		}
	}
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_rule_dump(void *ctx, struct krule **out, size_t *n)
{
	pthread_mutex_lock(&fk.lock);
	*out = malloc(sizeof(**out) * (fk.nrl + 1));
	memcpy(*out, fk.rl, sizeof(**out) * fk.nrl);
	*n = fk.nrl;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_rule_apply(void *ctx, const struct krule_op *ops, size_t n, int *res)
{
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < fk.nrl && !plan_krule_same_key(&fk.rl[j], &ops[i].r); j++)
			;
		res[i] = 0;
		if (ops[i].kind == KOP_DELETE) {
			if (j < fk.nrl)
				fk.rl[j] = fk.rl[--fk.nrl];
			else
				res[i] = -ENOENT;
		} else if (j < fk.nrl) {
			res[i] = -EEXIST;
		} else {
			fk.rl[fk.nrl++] = ops[i].r;
		}
	}
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_fwd_get(void *ctx, bool *v4, bool *v6)
{
	pthread_mutex_lock(&fk.lock);
	*v4 = fk.fwd4;
	*v6 = fk.fwd6;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static int fake_fwd_set(void *ctx, bool v4, bool v6)
{
	pthread_mutex_lock(&fk.lock);
	fk.fwd4 = v4;
	fk.fwd6 = v6;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static const struct kernel_ops fake_ops = {
	.addr_dump = fake_addr_dump,
	.addr_apply = fake_addr_apply,
	.rule_dump = fake_rule_dump,
	.rule_apply = fake_rule_apply,
	.forwarding_get = fake_fwd_get,
	.forwarding_set = fake_fwd_set,
    .route_dump = fake_dump,
    .route_apply = fake_apply,
    .link_index = fake_link_index,
    .events_fd = fake_events_fd,
    .events_drain = fake_events_drain,
};

struct fixture {
	char dir[64], db[128];
	struct store *s;
	struct recon *r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vr-recon-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/v.db", f->dir);
	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	assert_int_equal(recon_start(f->db, &fake_ops, 60000, NULL, &f->r, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	recon_stop(f->r);
	store_close(f->s);
	close(fk.efd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Create a route in the store, kick, wait; returns its id in id. */
static void add_route(struct fixture *f, const char *dst, const char *via, const char *dev,
                      char id[ID_MAX])
{
	struct route r = {0};
	struct vr_err e = {0};

	snprintf(r.table_id, sizeof(r.table_id), "rtb-main");
	snprintf(r.destination, sizeof(r.destination), "%s", dst);
	snprintf(r.via_text, sizeof(r.via_text), "%s", via ? via : "");
	snprintf(r.dev, sizeof(r.dev), "%s", dev ? dev : "");
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_route_create(f->s, &r, &e), STORE_CREATED);
	recon_kick(f->r, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	snprintf(id, ID_MAX, "%s", r.id);
	model_route_clear(&r);
}

static size_t fake_count(void)
{
	size_t n;

	pthread_mutex_lock(&fk.lock);
	n = fk.n;
	pthread_mutex_unlock(&fk.lock);
	return n;
}

static void test_incremental_and_status(void **state)
{
	struct fixture *f = *state;
	struct obj_status st;
	struct recon_stats stats;
	char a[ID_MAX], b[ID_MAX], c[ID_MAX];
	unsigned ops_before;

	/* The first full pass at start-up has run (it may have found nothing). */
	add_route(f, "192.168.100.0/24", "192.168.150.3", NULL, a);
	recon_status(f->r, a, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	assert_int_equal(fake_count(), 1);

	add_route(f, "10.20.0.0/16", "10.0.0.1", NULL, b);
	recon_status(f->r, b, &st);
	assert_int_equal(st.state, OBJ_FAILED);
	assert_non_null(strstr(st.reason, "10.0.0.1"));

	add_route(f, "10.30.0.0/16", NULL, "eth9", c);
	recon_status(f->r, c, &st);
	assert_int_equal(st.state, OBJ_FAILED);
	assert_non_null(strstr(st.reason, "device eth9 does not exist"));
	assert_int_equal(fake_count(), 1);

	/* One more route costs one op, whatever is already there. */
	ops_before = fk.ops;
	add_route(f, "10.40.0.0/16", NULL, "eth0", c);
	assert_int_equal(fk.ops - ops_before, 1);
	assert_int_equal(fake_count(), 2);

	recon_stats(f->r, &stats);
	assert_int_equal(stats.routes_owned, 2);
	assert_int_equal(stats.routes_failed, 2);
	assert_true(stats.applied_rev >= stats.desired_rev);

	{
		struct recon_failure fl[8];
		size_t nf = recon_failures(f->r, fl, 8);

		assert_int_equal(nf, 2);
		for (size_t i = 0; i < nf; i++)
			assert_true(!strcmp(fl[i].id, b) || strstr(fl[i].reason, "eth9"));
	}
	/* Unknown ids are pending, not an error. */
	recon_status(f->r, "rt-ffff", &st);
	assert_int_equal(st.state, OBJ_PENDING);
}

static void test_replace_delete(void **state)
{
	struct fixture *f = *state;
	struct route r = {0};
	struct vr_err e = {0};
	char id[ID_MAX];
	int64_t rev;

	add_route(f, "192.168.100.0/24", "192.168.150.3", NULL, id);
	assert_int_equal(store_route_get(f->s, id, &r, &e), 0);
	snprintf(r.via_text, sizeof(r.via_text), "192.168.150.4");
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_route_replace(f->s, &r, 0, &e), 0);
	recon_kick(f->r, r.rev, RECON_ROUTE, id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 1);
	assert_int_equal(fk.r[0].via.a[3], 4);

	/* A new metric is a new key: the old one goes, the new one comes. */
	r.metric = 50;
	assert_int_equal(store_route_replace(f->s, &r, 0, &e), 0);
	recon_kick(f->r, r.rev, RECON_ROUTE, id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 1);
	assert_int_equal(fk.r[0].metric, 50);
	model_route_clear(&r);

	assert_int_equal(store_route_delete(f->s, id, 0, &e), 0);
	rev = store_revision(f->s);
	recon_kick(f->r, rev, RECON_ROUTE, id);
	assert_int_equal(recon_wait(f->r, rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 0);
}

static void test_drift_repair(void **state)
{
	struct fixture *f = *state;
	struct recon_stats stats;
	char id[ID_MAX];
	uint64_t one = 1;

	add_route(f, "192.168.100.0/24", "192.168.150.3", NULL, id);
	pthread_mutex_lock(&fk.lock);
	fk.n = 0; /* deleted by hand */
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	for (int i = 0; i < 200 && fake_count() == 0; i++)
		usleep(10 * 1000);
	assert_int_equal(fake_count(), 1);
	for (int i = 0; i < 100; i++) {
		recon_stats(f->r, &stats);
		if (stats.drift_repairs_routes)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(stats.drift_repairs_routes, 1);
}

static void test_table_renumber(void **state)
{
	struct fixture *f = *state;
	struct route_table t = {0};
	struct route r = {0};
	struct vr_err e = {0};

	snprintf(t.name, sizeof(t.name), "blue");
	t.table = 100;
	assert_int_equal(model_rtb_validate(&t, &e), 0);
	assert_int_equal(store_rtb_create(f->s, &t, NULL, 0, &e), STORE_CREATED);
	snprintf(r.table_id, sizeof(r.table_id), "%s", t.id);
	snprintf(r.destination, sizeof(r.destination), "10.1.0.0/16");
	r.type = ROUTE_BLACKHOLE;
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_route_create(f->s, &r, &e), STORE_CREATED);
	recon_kick(f->r, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	assert_int_equal(fk.r[0].table, 100);

	t.table = 200;
	assert_int_equal(store_rtb_replace(f->s, &t, 0, &e), 0);
	recon_kick(f->r, t.rev, RECON_ROUTE_TABLE, t.id);
	assert_int_equal(recon_wait(f->r, t.rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 1);
	assert_int_equal(fk.r[0].table, 200);
	model_route_clear(&r);
	model_rtb_clear(&t);
}

static void add_subnet(struct fixture *f, const char *name, const char *cidr, const char *rip,
		       const char *ifname, const char *table_id, char id[ID_MAX])
{
	struct subnet sn = {0};
	struct vr_err e = {0};

	snprintf(sn.name, sizeof(sn.name), "%s", name);
	snprintf(sn.cidr_text, sizeof(sn.cidr_text), "%s", cidr);
	snprintf(sn.router_ip_text, sizeof(sn.router_ip_text), "%s", rip);
	snprintf(sn.interface, sizeof(sn.interface), "%s", ifname);
	snprintf(sn.table_id, sizeof(sn.table_id), "%s", table_id);
	assert_int_equal(model_subnet_validate(&sn, &e), 0);
	assert_int_equal(store_subnet_create(f->s, &sn, &e), STORE_CREATED);
	recon_kick(f->r, sn.rev, RECON_SUBNET, sn.id);
	assert_int_equal(recon_wait(f->r, sn.rev, WAIT_MS), 0);
	snprintf(id, ID_MAX, "%s", sn.id);
	model_subnet_clear(&sn);
}

static void test_subnets_settings(void **state)
{
	struct fixture *f = *state;
	struct route_table t = {0};
	struct settings set = {0};
	struct obj_status st;
	struct recon_stats stats;
	struct vr_err e = {0};
	char a[ID_MAX], b[ID_MAX];
	uint64_t one = 1;

	add_subnet(f, "net01", "192.168.150.0/24", "192.168.150.3", "eth0", "rtb-main", a);
	recon_status(f->r, a, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	assert_int_equal(fk.na, 1);
	assert_int_equal(fk.a[0].ifindex, 2);
	assert_int_equal(fk.a[0].p.len, 24);
	assert_int_equal(fk.a[0].p.addr.a[3], 3);
	assert_int_equal(fk.nrl, 0);

	/* A missing link: desired, failed, saying why. */
	add_subnet(f, "net09", "10.9.0.0/24", "10.9.0.1", "eth9", "rtb-main", b);
	recon_status(f->r, b, &st);
	assert_int_equal(st.state, OBJ_FAILED);
	assert_non_null(strstr(st.reason, "eth9"));

	/* A table other than main: a policy rule from the subnet to it. */
	snprintf(t.name, sizeof(t.name), "blue");
	t.table = 100;
	assert_int_equal(model_rtb_validate(&t, &e), 0);
	assert_int_equal(store_rtb_create(f->s, &t, NULL, 0, &e), STORE_CREATED);
	add_subnet(f, "net02", "192.168.100.0/24", "192.168.100.3", "eth0", t.id, b);
	assert_int_equal(fk.nrl, 1);
	assert_int_equal(fk.rl[0].table, 100);
	assert_int_equal(fk.rl[0].src.len, 24);
	assert_true(fk.rl[0].priority >= VR_RULE_PRIO_FIRST && fk.rl[0].priority <= VR_RULE_PRIO_LAST);
	model_rtb_clear(&t);

	/* Forwarding is left alone until settings are written, then enforced and repaired. */
	fk.fwd4 = false;
	assert_int_equal(fk.fwd6, false);
	set.managed = true;
	set.fwd_v4 = true;
	set.fwd_v6 = true;
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	recon_kick(f->r, set.rev, RECON_SETTINGS, "settings");
	assert_int_equal(recon_wait(f->r, set.rev, WAIT_MS), 0);
	assert_true(fk.fwd4 && fk.fwd6);
	recon_status(f->r, "settings", &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	pthread_mutex_lock(&fk.lock);
	fk.fwd4 = false; /* sysctl -w by hand */
	fk.na = 0;	 /* address removed by hand */
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	for (int i = 0; i < 200 && !(fk.fwd4 && fk.na == 2); i++)
		usleep(10 * 1000);
	assert_true(fk.fwd4);
	assert_int_equal(fk.na, 2);
	recon_stats(f->r, &stats);
	assert_int_equal(stats.drift_repairs_forwarding, 1);
	assert_int_equal(stats.drift_repairs_addrs, 2);

	/* Deleting a subnet removes its address and rule, nothing else. */
	assert_int_equal(store_subnet_delete(f->s, b, 0, &e), 0);
	recon_kick(f->r, store_revision(f->s), RECON_SUBNET, b);
	assert_int_equal(recon_wait(f->r, store_revision(f->s), WAIT_MS), 0);
	assert_int_equal(fk.na, 1);
	assert_int_equal(fk.nrl, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_incremental_and_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drift_repair, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_table_renumber, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subnets_settings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
