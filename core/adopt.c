#include "adopt.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "grow.h"
#include "log.h"
#include "model.h"
#include "plan.h"
#include "preview.h"
#include "sgc.h"
#include "store.h"

#define IMPORTED_DESC "imported from the kernel at start"
#define RTB_LIST_PAGE 1000 /* route tables read per store call */

enum adopt_action adopt_decide(bool db_empty, bool found_any, enum adopt_mode mode)
{
	if (!db_empty || !found_any)
		return ADOPT_START;
	switch (mode) {
	case ADOPT_TAKE_OVER: return ADOPT_REMOVE_START;
	case ADOPT_IMPORT: return ADOPT_IMPORT_START;
	case ADOPT_REFUSE: break;
	}
	return ADOPT_REFUSE_START;
}

/* An association's copy of a connected network (plan.h), not a route anyone wrote. */
static bool connected_copy(const struct kroute *r)
{
	return r->table != RTB_MAIN_TABLE && r->metric == PLAN_CONNECTED_METRIC;
}

/* The routes people wrote first, so that a refusal's examples show them (stable). */
static void connected_copies_last(struct kroute *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (connected_copy(&v[i]))
			continue;
		if (i != k) {
			struct kroute t = v[i];

			memmove(&v[k + 1], &v[k], (i - k) * sizeof(*v));
			v[k] = t;
		}
		k++;
	}
}

int adopt_survey(const struct kernel_ops *k, struct adopt_found *f, char *why, size_t len)
{
	struct sgc_input none = {.table_flags = SGC_TABLE_FLAGS};
	struct sgc *empty = NULL;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = k->route_dump(k->ctx, &f->routes, &f->nroutes);
	if (rc) {
		snprintf(why, len, "reading the kernel's routes: %s", strerror(-rc));
		goto out;
	}
	connected_copies_last(f->routes, f->nroutes);
	rc = k->rule_dump(k->ctx, &f->rules, &f->nrules);
	if (rc) {
		snprintf(why, len, "reading the kernel's policy rules: %s", strerror(-rc));
		goto out;
	}
	rc = k->addr_dump(k->ctx, &f->addrs, &f->naddrs);
	if (rc) {
		snprintf(why, len, "reading the kernel's addresses: %s", strerror(-rc));
		goto out;
	}
	if (!k->nft_check)
		goto out; /* no nftables here: no table to find */
	rc = sgc_compile(&none, &empty, why, len);
	if (rc)
		goto out;
	/* Against the empty state: 1 means the table exists. */
	rc = k->nft_check(k->nft, empty, why, len);
	f->nft_table = rc == 1;
	if (rc == 1)
		rc = 0;
	else if (rc < 0)
		snprintf(why, len, "reading table inet vrouter: %s", strerror(-rc));
out:
	sgc_free(empty);
	if (rc)
		adopt_found_clear(f);
	return rc;
}

bool adopt_found_any(const struct adopt_found *f)
{
	return f->nroutes || f->nrules || f->naddrs || f->nft_table;
}

void adopt_found_clear(struct adopt_found *f)
{
	free(f->routes);
	free(f->rules);
	free(f->addrs);
	memset(f, 0, sizeof(*f));
}

/* Append to buf (used so far: *at) what printf makes, cut at len. */
static void add(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at += (size_t)n;
}

/* One line: "N <noun>: <example>; <example>; and M more". */
static void describe_kind(char *buf, size_t len, size_t *at, size_t n, const char *one,
                          const char *many, const void *v, size_t size,
                          void (*words)(const void *, char *, size_t))
{
	char w[PREVIEW_WHAT_MAX];

	if (!n)
		return;
	add(buf, len, at, "%s%zu %s:", *at ? "\n" : "", n, n == 1 ? one : many);
	for (size_t i = 0; i < n && i < ADOPT_EXAMPLES; i++) {
		words((const char *)v + i * size, w, sizeof(w));
		add(buf, len, at, "%s %s", i ? ";" : "", w);
	}
	if (n > ADOPT_EXAMPLES)
		add(buf, len, at, "; and %zu more", n - ADOPT_EXAMPLES);
}

static void route_w(const void *v, char *buf, size_t len)
{
	preview_route_words(v, buf, len);
}

static void rule_w(const void *v, char *buf, size_t len)
{
	preview_rule_words(v, buf, len);
}

static void addr_w(const void *v, char *buf, size_t len)
{
	preview_addr_words(v, buf, len);
}

void adopt_describe(const struct adopt_found *f, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	describe_kind(buf, len, &at, f->nroutes, "route", "routes", f->routes, sizeof(*f->routes),
	              route_w);
	describe_kind(buf, len, &at, f->nrules, "policy rule", "policy rules", f->rules,
	              sizeof(*f->rules), rule_w);
	describe_kind(buf, len, &at, f->naddrs, "address", "addresses", f->addrs, sizeof(*f->addrs),
	              addr_w);
	if (f->nft_table)
		add(buf, len, &at, "%stable inet vrouter (security groups)", at ? "\n" : "");
}

/* ---- import ---- */

/* Route tables one adoption makes: as many table numbers as netlink dumps (NLR_TABLES_MAX). */
#define ADOPT_TABLES_MAX ((size_t)1024 * 1024)

struct imp {
	struct store_config c;
	size_t cap_tables;
	struct klink *links;
	size_t nlinks;
	size_t tables_new;
};

static const char *link_name(const struct imp *x, int ifindex)
{
	for (size_t i = 0; i < x->nlinks; i++)
		if (x->links[i].ifindex == ifindex)
			return x->links[i].name;
	return NULL;
}

/* Room for one more route table in x->c.tables. */
static int tables_room(struct imp *x, char *why, size_t len)
{
	int err = vr_grow((void **)&x->c.tables, &x->cap_tables, x->c.ntables + 1,
	                  sizeof(*x->c.tables), ADOPT_TABLES_MAX);

	if (err == -E2BIG)
		snprintf(why, len, "more than %zu route tables", ADOPT_TABLES_MAX);
	else if (err)
		snprintf(why, len, "out of memory");
	return err;
}

/* The id of the route table with kernel number table, added ("table-N") when there is none. */
static int table_id(struct imp *x, uint32_t table, char *id, char *why, size_t len)
{
	struct route_table *t;
	struct vr_err e = {0};

	if (table == RTB_MAIN_TABLE) {
		snprintf(id, ID_MAX, "%s", RTB_MAIN_ID);
		return 0;
	}
	for (size_t i = 0; i < x->c.ntables; i++) {
		if (x->c.tables[i].table == table) {
			snprintf(id, ID_MAX, "%s", x->c.tables[i].id);
			return 0;
		}
	}
	if (tables_room(x, why, len))
		return -ENOMEM;
	t = &x->c.tables[x->c.ntables];
	memset(t, 0, sizeof(*t));
	model_id_new("rtb-", t->id);
	snprintf(t->name, sizeof(t->name), "table-%u", table);
	t->table = table;
	t->description = strdup(IMPORTED_DESC);
	x->c.ntables++;
	if (!t->description) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	if (model_rtb_validate(t, &e)) {
		snprintf(why, len, "kernel table %u: %s", table, e.msg);
		return -EINVAL;
	}
	x->tables_new++;
	snprintf(id, ID_MAX, "%s", t->id);
	return 0;
}

/* The route tables already stored (a database with tables only counts as empty): kept. */
static int keep_tables(struct imp *x, struct store *s, char *why, size_t len)
{
	char after[ID_MAX] = "";
	struct vr_err e = {0};
	bool more = true;

	while (more) {
		struct route_table *v = NULL;
		size_t n = 0;

		if (store_obj_list(s, STORE_RTB, NULL, after[0] ? after : NULL, RTB_LIST_PAGE,
		                   (void **)&v, &n, &more, &e)) {
			snprintf(why, len, "reading the route tables: %s", e.msg);
			return -EIO;
		}
		if (n)
			snprintf(after, sizeof(after), "%s", v[n - 1].id);
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(v[i].id, RTB_MAIN_ID))
				continue;
			if (tables_room(x, why, len)) {
				model_rtbs_free(v, n);
				return -ENOMEM;
			}
			x->c.tables[x->c.ntables++] = v[i];
			memset(&v[i], 0, sizeof(v[i])); /* its description moved */
		}
		model_rtbs_free(v, n);
	}
	return 0;
}

static int import_route(struct imp *x, const struct kroute *k, struct route *r, char *why,
                        size_t len)
{
	char w[PREVIEW_WHAT_MAX];
	struct vr_err e = {0};
	int rc;

	preview_route_words(k, w, sizeof(w));
	memset(r, 0, sizeof(*r));
	if (plan_route_type_of(k->type, &r->type)) {
		snprintf(why, len, "route %s: kernel route type %u has no API equivalent", w,
		         k->type);
		return -EINVAL;
	}
	if (k->type == RTN_UNICAST && k->oif < 0) {
		snprintf(why, len, "route %s has several next hops; vrouter writes none such", w);
		return -EINVAL;
	}
	cidr_format_prefix(&k->dst, r->destination, sizeof(r->destination));
	if (k->type == RTN_UNICAST && k->via.family)
		cidr_format_addr(&k->via, r->via_text, sizeof(r->via_text));
	if (k->type == RTN_UNICAST && k->oif > 0) {
		const char *dev = link_name(x, k->oif);

		if (!dev) {
			snprintf(why, len, "route %s: no link has index %d", w, k->oif);
			return -EINVAL;
		}
		snprintf(r->dev, sizeof(r->dev), "%s", dev);
	}
	r->metric = plan_route_metric_of(k);
	rc = table_id(x, k->table, r->table_id, why, len);
	if (rc)
		return rc;
	r->table = k->table;
	r->description = strdup(IMPORTED_DESC);
	if (!r->description) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	if (model_route_validate(r, &e)) {
		snprintf(why, len, "route %s: %s", w, e.msg);
		return -EINVAL;
	}
	return 0;
}

/* An owned address as a subnet on its link; used[] marks the rule that associates it. */
static int import_subnet(struct imp *x, const struct adopt_found *f, const struct kaddr *a,
                         bool *used, struct subnet *sn, char *why, size_t len)
{
	char w[PREVIEW_WHAT_MAX], addr[CIDR_STR_MAX];
	struct prefix net = a->p;
	struct vr_err e = {0};
	const char *dev = link_name(x, a->ifindex);
	int rc;

	preview_addr_words(a, w, sizeof(w));
	memset(sn, 0, sizeof(*sn));
	if (!dev) {
		snprintf(why, len, "address %s: no link has index %d", w, a->ifindex);
		return -EINVAL;
	}
	cidr_mask(&net);
	cidr_format_prefix(&net, sn->cidr_text, sizeof(sn->cidr_text));
	cidr_format_addr(&a->p.addr, addr, sizeof(addr));
	snprintf(sn->router_ip_text, sizeof(sn->router_ip_text), "%s", addr);
	snprintf(sn->interface, sizeof(sn->interface), "%s", dev);
	snprintf(sn->name, sizeof(sn->name), "%s %s/%u", dev, addr, a->p.len);
	snprintf(sn->table_id, sizeof(sn->table_id), "%s", RTB_MAIN_ID);
	sn->table = RTB_MAIN_TABLE;
	/* An association is a lookup rule and the unreachable rule after it (plan.h). */
	for (size_t i = 0; i < f->nrules; i++) {
		const struct krule *r = &f->rules[i];

		if (used[i] || r->family != net.addr.family || !cidr_prefix_equal(&r->src, &net))
			continue;
		if (r->action == KRULE_UNREACHABLE) {
			used[i] = true;
			continue;
		}
		if (sn->table != RTB_MAIN_TABLE)
			continue;
		rc = table_id(x, r->table, sn->table_id, why, len);
		if (rc)
			return rc;
		sn->table = r->table;
		used[i] = true;
	}
	sn->description = strdup(IMPORTED_DESC);
	if (!sn->description) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	if (model_subnet_validate(sn, &e)) {
		snprintf(why, len, "address %s: %s", w, e.msg);
		return -EINVAL;
	}
	return 0;
}

/* The first kernel change the planner still sees between state in and the kernel, or none. */
static bool first_change(const struct preview *p, char *buf, size_t len)
{
	const struct preview_list *l[] = {&p->routes, &p->addrs, &p->rules};
	const char *kind[] = {"route", "address", "policy rule"};
	static const char *const op[] = {"add", "change", "remove", "fail to apply"};

	for (size_t i = 0; i < 3; i++) {
		if (!(l[i]->add + l[i]->change + l[i]->remove + l[i]->fail))
			continue;
		if (l[i]->nitems)
			snprintf(buf, len, "%s %s %s", op[l[i]->items[0].op], kind[i],
			         l[i]->items[0].what);
		else
			snprintf(buf, len, "change %ss", kind[i]);
		return true;
	}
	if (p->nft != PREVIEW_NFT_NONE) {
		snprintf(buf, len, "change table inet vrouter");
		return true;
	}
	return false;
}

/* c as the whole desired state, or (dry_run) only checked as such. */
static int write_state(struct store *s, struct store_config *c, bool dry_run, char *why, size_t len)
{
	struct store_diff d = {0};
	struct vr_err e = {0};

	if (store_config_replace(s, c, 0, NULL, 0, dry_run, &d, &e)) {
		snprintf(why, len, "%s: %s",
		         dry_run ? "the imported state is not valid" : "writing the imported state",
		         e.msg);
		return dry_run ? -EINVAL : -EIO;
	}
	store_diff_free(&d);
	return 0;
}

int adopt_import(struct store *s, const struct kernel_ops *k, const struct adopt_found *f,
                 struct adopt_counts *n, char *why, size_t len)
{
	struct imp x = {0};
	struct preview *p = NULL;
	bool *used = NULL;
	char change[PREVIEW_WHAT_MAX + 32];
	int rc = -EINVAL;

	memset(n, 0, sizeof(*n));
	if (f->nft_table) {
		snprintf(why, len,
		         "table inet vrouter cannot be imported: security groups are not read back "
		         "from nftables");
		return -EINVAL;
	}
	rc = k->links_list(k->ctx, &x.links, &x.nlinks);
	if (rc) {
		snprintf(why, len, "reading the links: %s", strerror(-rc));
		return rc;
	}
	rc = keep_tables(&x, s, why, len);
	if (rc)
		goto out;
	rc = -ENOMEM;
	x.c.routes = calloc(f->nroutes + 1, sizeof(*x.c.routes));
	x.c.subnets = calloc(f->naddrs + 1, sizeof(*x.c.subnets));
	used = calloc(f->nrules + 1, sizeof(*used));
	if (!x.c.routes || !x.c.subnets || !used) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < f->nroutes; i++) {
		/*
		 * Copies of connected networks belong to an association, not to
		 * the routes: the subnet brings them back. Were one a user's
		 * route, the check below would see it removed and refuse.
		 */
		if (connected_copy(&f->routes[i]))
			continue;
		rc = import_route(&x, &f->routes[i], &x.c.routes[x.c.nroutes], why, len);
		x.c.nroutes++; /* freed with the rest, also when half filled */
		if (rc)
			goto out;
	}
	for (size_t i = 0; i < f->naddrs; i++) {
		rc = import_subnet(&x, f, &f->addrs[i], used, &x.c.subnets[i], why, len);
		x.c.nsubnets = i + 1;
		if (rc)
			goto out;
	}
	for (size_t i = 0; i < f->nrules; i++) {
		if (!used[i]) {
			char w[PREVIEW_WHAT_MAX];

			preview_rule_words(&f->rules[i], w, sizeof(w));
			snprintf(why, len,
			         "policy rule %s is for no address vrouter owns, so no subnet", w);
			rc = -EINVAL;
			goto out;
		}
	}

	/* The same checks as PUT /v1/config, written and rolled back. */
	rc = write_state(s, &x.c, true, why, len);
	if (rc)
		goto out;
	/* What the reconciler would do with it: nothing, or the import is not faithful. */
	{
		struct preview_input in = {.routes = x.c.routes,
		                           .nroutes = x.c.nroutes,
		                           .subnets = x.c.subnets,
		                           .nsubnets = x.c.nsubnets};

		rc = preview_kernel(k, &in, &p, why, len);
		if (rc)
			goto out;
	}
	if (first_change(p, change, sizeof(change))) {
		snprintf(why, len, "the imported state would still change the kernel: %s", change);
		rc = -EINVAL;
		goto out;
	}
	rc = write_state(s, &x.c, false, why, len);
	if (rc)
		goto out;
	n->routes = x.c.nroutes;
	n->tables = x.tables_new;
	n->subnets = x.c.nsubnets;
	rc = 0;
out:
	preview_free(p);
	free(used);
	if (x.links)
		kernel_links_free(x.links, x.nlinks);
	store_config_clear(&x.c);
	return rc;
}

/* ---- the start-up step ---- */

/* Each line of text, indented, through log function fn. */
static void log_lines(void (*fn)(const char *fmt, ...), const char *text)
{
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		fn("  %.*s", n, p);
		p += n + (nl ? 1 : 0);
	}
}

int adopt_at_start(struct store *s, const struct kernel_ops *k, const char *db,
                   enum adopt_mode mode, char *why, size_t len)
{
	struct adopt_found f = {0};
	struct adopt_counts n;
	struct vr_err e = {0};
	bool empty;
	char *text = NULL;
	int ret = -1, rc;

	if (store_desired_empty(s, &empty, &e)) {
		snprintf(why, len, "%s", e.msg);
		return -1;
	}
	if (!empty) {
		if (mode != ADOPT_REFUSE)
			log_info("%s: the database holds desired state; nothing to take over or "
			         "import",
			         mode == ADOPT_TAKE_OVER ? "--take-over" : "--import-owned");
		return 0;
	}
	if (adopt_survey(k, &f, why, len))
		return -1;
	text = malloc(ADOPT_WHY_MAX * 4);
	if (!text) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	adopt_describe(&f, text, ADOPT_WHY_MAX * 4);
	switch (adopt_decide(empty, adopt_found_any(&f), mode)) {
	case ADOPT_START: ret = 0; break;
	case ADOPT_REFUSE_START:
		log_error("refusing to start: the database %s holds no desired state, but this "
		          "network namespace holds objects vrouter owns, which starting would "
		          "remove%s:",
		          db, f.nft_table ? ", opening the firewall" : "");
		log_lines(log_error, text);
		log_error("is --db the right file? If it is, start once with --import-owned to "
		          "keep them as desired state%s, or with --take-over to remove them",
		          f.nft_table ? " (not possible while table inet vrouter exists)" : "");
		ret = 1;
		break;
	case ADOPT_REMOVE_START:
		log_warnx("--take-over: the database %s holds no desired state; removing what "
		          "vrouter owns in this namespace:",
		          db);
		log_lines(log_warnx, text);
		ret = 0;
		break;
	case ADOPT_IMPORT_START:
		rc = adopt_import(s, k, &f, &n, why, len);
		if (rc == -EINVAL) {
			log_error(
			    "refusing to start: --import-owned cannot import what vrouter owns "
			    "in this namespace: %s",
			    why);
			log_lines(log_error, text);
			log_error(
			    "restore the database that made them, or start with --take-over to "
			    "remove them");
			ret = 1;
		} else if (rc == 0) {
			log_info("imported %zu route(s), %zu subnet(s) and %zu new route table(s) "
			         "from the kernel into %s; the kernel is unchanged",
			         n.routes, n.subnets, n.tables, db);
			ret = 0;
		}
		break;
	}
out:
	free(text);
	adopt_found_clear(&f);
	return ret;
}
