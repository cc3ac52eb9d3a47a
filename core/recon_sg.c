/*
 * The reconciler's security groups: load the groups and rules, compile them
 * (sgc.h, pure), send nftables the difference from what the table holds,
 * record every group's and rule's status. The state is small enough to
 * recompile whole on every change; the kernel gets only the difference.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "log.h"
#include "metrics.h"
#include "recon_int.h"
#include "store.h"

static void count_failed(void *v, void *arg)
{
	*(uint64_t *)arg += ((const struct ostatus *)v)->state == OBJ_FAILED;
}

/* Mark every group and rule of the loaded state with one status, in a fresh map. */
static struct idmap *sg_statuses(const struct security_group *g, size_t ng,
                                 const struct sg_rule *rl, size_t nr, const char *bad_group,
                                 const char *why, bool all_failed)
{
	struct idmap *m = idmap_new();

	if (!m)
		return NULL;
	for (size_t i = 0; i < ng; i++) {
		bool bad = all_failed || (bad_group && !strcmp(bad_group, g[i].id));

		if (recon_ostatus_put(m, g[i].id, g[i].rev, bad ? OBJ_FAILED : OBJ_ACTIVE,
		                      bad ? why : NULL))
			goto oom;
	}
	for (size_t i = 0; i < nr; i++) {
		bool bad = all_failed || (bad_group && !strcmp(bad_group, rl[i].group_id));

		if (recon_ostatus_put(m, rl[i].id, rl[i].rev, bad ? OBJ_FAILED : OBJ_ACTIVE,
		                      bad ? why : NULL))
			goto oom;
	}
	return m;
oom:
	recon_ostatus_map_free(m);
	return NULL;
}

/* A security-group pass: the loaded state, the compiled one, and how sending it went. */
struct sg_pass {
	const struct security_group *g;
	const struct sg_rule *rl;
	size_t ng, nr;
	int64_t rev;
	struct sgc *c; /* compiled; moves to r->sg_applied once the kernel holds it */
	int sent;      /* how making the kernel hold c went: 0 or -errno */
	char why[REASON_MAX];
	char origin[ID_MAX]; /* the group a refused message was for, "" when shared */
	bool repaired;       /* the table was changed by someone else and is rebuilt */
	/* Where the pass's time went (microseconds), for the debug line. */
	int64_t t_load, t_compile, t_check, t_batch, t_send;
	size_t bytes, nmsgs; /* of the last batch sent */
};

/* Add the time since *t0 to *acc; *t0 becomes now. */
static void sg_lap(int64_t *acc, int64_t *t0)
{
	int64_t now = recon_now_us();

	*acc += now - *t0;
	*t0 = now;
}

static void sg_batch_size(struct sg_pass *sp, const struct sgc_batch *b)
{
	sgc_batch_data(b, &sp->bytes);
	sp->nmsgs = sgc_batch_nmsgs(b);
}

/*
 * Send the batch that turns the kernel into c: the smallest update from what
 * was applied, or the full atomic replacement when the applied state is
 * unknown or the update was refused. Returns 0 or -errno with why, and origin
 * (the group the refused message was for, "" when shared).
 */
static int sg_send(struct recon *r, struct sg_pass *sp, const struct sgc *c, char *why, size_t len,
                   char *origin, size_t olen)
{
	struct sgc_batch *b = NULL;
	size_t failed = 0;
	int64_t t0 = recon_now_us();
	int rc;

	origin[0] = '\0';
	rc = r->sg_applied ? sgc_batch_update(r->sg_applied, c, &b) : sgc_batch_full(c, &b);
	sg_lap(&sp->t_batch, &t0);
	if (rc) {
		snprintf(why, len, "building the nftables batch: %s", strerror(-rc));
		return rc;
	}
	sg_batch_size(sp, b);
	rc = r->k.nft_send(r->k.nft, b, &failed, why, len);
	sg_lap(&sp->t_send, &t0);
	if (rc && !sgc_batch_is_full(b)) {
		/* The kernel was not what we thought: replace it whole, atomically. */
		log_warnx("incremental nftables update refused (%s); replacing the table", why);
		sgc_batch_free(b);
		b = NULL;
		rc = sgc_batch_full(c, &b);
		sg_lap(&sp->t_batch, &t0);
		if (rc) {
			snprintf(why, len, "building the nftables batch: %s", strerror(-rc));
			return rc;
		}
		sg_batch_size(sp, b);
		rc = r->k.nft_send(r->k.nft, b, &failed, why, len);
		sg_lap(&sp->t_send, &t0);
	}
	if (rc && failed)
		snprintf(origin, olen, "%s", sgc_batch_msg_origin(b, failed));
	sgc_batch_free(b);
	return rc;
}

/* Delete table inet vrouter if it exists; empty is the compiled empty state. */
static int sg_remove_table(struct recon *r, const struct sgc *empty, char *why, size_t len)
{
	/* Only the first pass says so: nft_check reads the table back, which costs. */
	bool present = r->starting && r->k.nft_check(r->k.nft, empty, why, len) == 1;
	int rc = r->k.nft_delete(r->k.nft, why, len);

	if (rc == 0 && present)
		recon_log_removed(r, "nftables",
		                  "table inet vrouter (no security group is desired)");
	return rc;
}

/* Read the table back: when it is not what we applied, forget what we applied. */
static void sg_check(struct recon *r, struct sg_pass *sp)
{
	int rc;

	if (!r->sg_applied)
		return;
	rc = r->k.nft_check(r->k.nft, r->sg_applied, sp->why, sizeof(sp->why));
	if (rc == 0)
		return;
	if (rc == 1) {
		log_info("table inet vrouter was changed by someone else (%s); rebuilding it",
		         sp->why);
		sp->repaired = true;
	}
	sgc_free(r->sg_applied);
	r->sg_applied = NULL;
}

/*
 * Plan and apply: compile, and make the kernel hold it. sp->sent gets
 * nftables' answer (sp->why, sp->origin say why it refused). compiled: the
 * loaded state is what r->sg_applied was compiled from, which the kernel
 * holds unless check_kernel finds otherwise (sp->c stays NULL: nothing to
 * compile or send). Returns 0, or -1 when compiling failed (err says why).
 */
static int sg_enforce(struct recon *r, struct sg_pass *sp, bool check_kernel, bool compiled,
                      char *err, size_t errlen)
{
	if (compiled && r->sg_applied) {
		if (check_kernel)
			sg_check(r, sp);
		check_kernel = false;
		if (r->sg_applied) {
			sp->sent = 0;
			return 0;
		}
	}
	for (;;) {
		struct sgc_input in = {.groups = sp->g,
		                       .ngroups = sp->ng,
		                       .rules = sp->rl,
		                       .nrules = sp->nr,
		                       .api = r->api,
		                       .table_flags = r->nft_flags};
		int64_t t0 = recon_now_us();
		int rc = sgc_compile(&in, &sp->c, sp->why, sizeof(sp->why));

		sg_lap(&sp->t_compile, &t0);
		if (rc) {
			snprintf(err, errlen, "compiling security groups: %s", sp->why);
			return -1;
		}
		if (check_kernel)
			sg_check(r, sp);
		check_kernel = false;
		sg_lap(&sp->t_check, &t0);
		if (r->sg_applied && sgc_equal(r->sg_applied, sp->c))
			rc = 0;
		else if (sgc_empty(sp->c) && !r->sg_applied)
			/* Nothing to enforce: the table must not exist (a previous run may have
			 * left it). When it is absent this changes nothing. */
			rc = sg_remove_table(r, sp->c, sp->why, sizeof(sp->why));
		else
			rc = sg_send(r, sp, sp->c, sp->why, sizeof(sp->why), sp->origin,
			             sizeof(sp->origin));
		sp->sent = rc;
		if (rc != -EOPNOTSUPP || !r->nft_flags)
			return 0;
		/* A kernel without NFT_TABLE_F_PERSIST: an unowned table, kept by repair. */
		log_warnx("kernel refused nftables table flags (%s); using an unowned table",
		          sp->why);
		r->nft_flags = 0;
		sgc_free(sp->c);
		sp->c = NULL;
	}
}

/* Every group's and rule's status after the send, and the counts. 0 or -ENOMEM. */
static int sg_record(struct recon *r, struct sg_pass *sp)
{
	int rc = sp->sent;
	size_t sets = 0, chains = 0, counters = 0, elems = 0;
	struct idmap *st;
	uint64_t failed = 0;
	bool none;

	if (rc == 0) {
		if (sp->c) { /* else r->sg_applied is what the kernel holds (sg_enforce) */
			sgc_free(r->sg_applied);
			r->sg_applied = sp->c;
			sp->c = NULL;
		}
		st = sg_statuses(sp->g, sp->ng, sp->rl, sp->nr, NULL, NULL, false);
	} else {
		/* nftables transactions are all-or-nothing: the old guard is still in place. */
		char reason[REASON_MAX];

		snprintf(reason, sizeof(reason), "nftables refused the change: %s", sp->why);
		st = sg_statuses(sp->g, sp->ng, sp->rl, sp->nr, sp->origin[0] ? sp->origin : NULL,
		                 reason, !sp->origin[0]);
		log_warnx("security groups not applied: %s", sp->why);
	}
	if (!st)
		return -ENOMEM;
	idmap_each(st, count_failed, &failed);
	none = sgc_empty(r->sg_applied);
	if (!none)
		sgc_counts(r->sg_applied, &sets, &chains, &counters, &elems);
	pthread_mutex_lock(&r->lock);
	recon_ostatus_map_free(r->sg);
	r->sg = st;
	r->stats.nft_objects = none ? 0 : sets + chains + counters + elems;
	r->stats.drift_repairs_nft += sp->repaired && rc == 0;
	r->sg_failed = failed;
	r->stats.objects_failed = r->net_failed + r->sg_failed;
	recon_status_changed(r);
	pthread_mutex_unlock(&r->lock);
	metrics_owned(MK_NFTABLES, none ? 0 : sets + chains + counters + elems);
	if (sp->repaired && rc == 0)
		metrics_drift_repair(MK_NFTABLES, 1);
	return 0;
}

int recon_sync_sg(struct recon *r, bool check_kernel, int64_t *rev_out, char *err, size_t errlen)
{
	struct sg_pass sp = {0};
	struct security_group *g = NULL;
	struct sg_rule *rl = NULL;
	struct vr_err e = {0};
	int64_t start = recon_now_us(), t0 = start;
	int ret = -1;
	bool compiled;

	recon_assert_thread(r);
	if (store_sg_load(r->store, &g, &sp.ng, &rl, &sp.nr, &sp.rev, &e)) {
		snprintf(err, errlen, "reading security groups: %s", e.msg);
		goto out;
	}
	sp.g = g;
	sp.rl = rl;
	if (!r->k.nft_send) {
		/* No nftables here (unit tests with a fake kernel): objects stay pending. */
		*rev_out = sp.rev;
		ret = 0;
		goto out;
	}
	sg_lap(&sp.t_load, &t0);
	/* The first pass after a document's preapply: is it reading that document? */
	pthread_mutex_lock(&r->lock);
	compiled = r->sg_pre_ok && r->pre_rev > 0 && sp.rev == r->pre_rev;
	pthread_mutex_unlock(&r->lock);
	r->sg_pre_ok = false;
	if (sg_enforce(r, &sp, check_kernel, compiled, err, errlen))
		goto out;
	if (sg_record(r, &sp)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*rev_out = sp.rev;
	ret = sp.sent == 0 ? 0 : 1;
	log_debug("security groups: %zu group(s), %zu rule(s): load %.1f ms, compile %.1f ms, "
	          "check %.1f ms, batch %.1f ms (%zu messages, %zu bytes), send %.1f ms, "
	          "total %.1f ms",
	          sp.ng, sp.nr, sp.t_load / 1e3, sp.t_compile / 1e3, sp.t_check / 1e3,
	          sp.t_batch / 1e3, sp.nmsgs, sp.bytes, sp.t_send / 1e3,
	          (recon_now_us() - start) / 1e3);
out:
	sgc_free(sp.c);
	model_sgs_free(g, sp.ng);
	model_sg_rules_free(rl, sp.nr);
	return ret;
}

/* ---- a document's groups and rules, ahead of its commit ---- */

int recon_preapply_sg(struct recon *r, const struct security_group *g, size_t ng,
                      const struct sg_rule *rl, size_t nr, char *err, size_t errlen)
{
	struct sg_pass sp = {.g = g, .ng = ng, .rl = rl, .nr = nr};
	int64_t t0 = recon_now_us();
	int ret = -1;

	recon_assert_thread(r);
	r->sg_pre_ok = false;
	if (!r->k.nft_send)
		return 0; /* no nftables here (unit tests with a fake kernel) */
	if (sg_enforce(r, &sp, false, false, err, errlen))
		goto out;
	if (sp.sent) {
		/* The table may be half-way ("outcome unknown"): the next pass replaces it. */
		snprintf(err, errlen, "nftables refused the change: %s", sp.why);
		sgc_free(r->sg_applied);
		r->sg_applied = NULL;
		goto out;
	}
	sgc_free(r->sg_applied);
	r->sg_applied = sp.c;
	sp.c = NULL;
	r->sg_pre_ok = true;
	ret = 0;
	log_debug("a document's security groups: %zu group(s), %zu rule(s): compile %.1f ms, "
	          "batch %.1f ms (%zu messages, %zu bytes), send %.1f ms, total %.1f ms",
	          ng, nr, sp.t_compile / 1e3, sp.t_batch / 1e3, sp.nmsgs, sp.bytes, sp.t_send / 1e3,
	          (recon_now_us() - t0) / 1e3);
out:
	sgc_free(sp.c);
	return ret;
}
