/*
 * GET/PUT /v1/config: the whole desired state as one document
 *
 *   {"route_tables": [...], "routes": [...], "subnets": [...],
 *    "security_groups": [...], "security_group_rules": [...],
 *    "settings": {"forwarding": {"ipv4": bool, "ipv6": bool}}}
 *
 * Items are written as each collection's GET shows them, without the
 * server-computed keys (a PUT accepts and ignores those). A document of
 * 100,000 routes is some 15 MB of text but would be well over 100 MB as a
 * jansson tree, so neither direction holds one: GET streams the text as the
 * client reads it, a page of items at a time from one read transaction (its
 * memory does not grow with the table), PUT finds the extent of each item in
 * the text and parses items one at a time into the model structs.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "crud.h"
#include "grow.h"
#include "http.h"
#include "log.h"
#include "preview.h"
#include "recon.h"
#include "store.h"

/* The most one page of GET's text may hold (a page is CONFIG_PAGE items). */
#define CONFIG_TEXT_MAX (64u * 1024 * 1024)
/* First allocation of the GET buffer; it doubles from there. */
#define CONFIG_TEXT_FIRST (64u * 1024)
/* Objects GET reads from the store at a time: its memory is bounded by a page. */
#define CONFIG_PAGE 512
/* Invalid items listed in one answer; the detail gives their total. */
#define CONFIG_ERRORS_MAX 20
/* The settings as a document part: its index after the collections. */
#define PART_SETTINGS STORE_KINDS

static const char *const computed_keys[] = {"status", "created_at", "updated_at", NULL};

/* Each collection's JSON translation, by kind. */
static const struct crud_resource *const part_rs[STORE_KINDS] = {
    [STORE_RTB] = &api_route_tables,         [STORE_ROUTE] = &api_routes,
    [STORE_SUBNET] = &api_subnets,           [STORE_SG] = &api_security_groups,
    [STORE_SGR] = &api_security_group_rules,
};

static const char *part_key(int part)
{
	return part == PART_SETTINGS ? "settings" : store_kind_key((enum store_kind)part);
}

/* ---- GET ---- */

/* A growable text buffer with a maximum. */
struct text {
	char *p;
	size_t len, cap;
	bool full; /* an append did not fit: the text is incomplete */
};

static int text_add(struct text *t, const char *s, size_t n)
{
	if (t->full)
		return -1;
	if (t->len + n + 1 > t->cap) {
		size_t need = t->len + n + 1;

		if (vr_grow((void **)&t->p, &t->cap,
		            need > CONFIG_TEXT_FIRST ? need : CONFIG_TEXT_FIRST, 1,
		            CONFIG_TEXT_MAX)) {
			t->full = true;
			return -1;
		}
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
	return 0;
}

static int text_str(struct text *t, const char *s)
{
	return text_add(t, s, strlen(s));
}

static int text_dump_cb(const char *buf, size_t size, void *data)
{
	return text_add(data, buf, size);
}

struct get_walk {
	struct app *app;
	struct text t;
	int part;     /* the part being written, -1 before the first */
	size_t items; /* items written in it */
};

/* Close the parts before `part` and open it: every collection appears, empty or not. */
static int open_part(struct get_walk *w, int part)
{
	char head[64];

	while (w->part < part) {
		if (w->part >= 0 && text_str(&w->t, w->items ? "\n]" : "]") < 0)
			return -1;
		w->part++;
		w->items = 0;
		if (w->part == PART_SETTINGS)
			break;
		snprintf(head, sizeof(head), "%s\"%s\": [", w->part ? ",\n" : "{\n",
		         part_key(w->part));
		if (text_str(&w->t, head) < 0)
			return -1;
	}
	return 0;
}

static int get_item(void *arg, enum store_kind kind, const void *obj, struct vr_err *e)
{
	struct get_walk *w = arg;
	json_t *o;
	int rc;

	if (open_part(w, (int)kind) < 0 || text_str(&w->t, w->items++ ? ",\n" : "\n") < 0)
		return err_set(e, VR_ERR_INTERNAL, NULL, "a page of the document exceeds %u bytes",
		               CONFIG_TEXT_MAX);
	o = crud_to_json(w->app, part_rs[kind], obj);
	if (!o)
		return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory");
	for (const char *const *k = computed_keys; *k; k++)
		json_object_del(o, *k);
	rc = json_dump_callback(o, text_dump_cb, &w->t, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (rc)
		return err_set(e, VR_ERR_INTERNAL, NULL, "a page of the document exceeds %u bytes",
		               CONFIG_TEXT_MAX);
	return 0;
}

/*
 * Fleet mode: the router a document is for, ?router= or the one this daemon
 * serves (*router stays NULL in single mode: the whole state).
 */
static int config_router(struct http_req *req, const char **router, struct vr_err *e)
{
	*router = NULL;
	if (!req->app->fleet)
		return 0;
	if (crud_query_router(req, router, e))
		return -1;
	if (!*router)
		*router = model_router_or_local(req->app->router);
	return 0;
}

/*
 * The answer to a GET, written as the client reads it: a page of items at a
 * time into w.t, handed out from w.t[sent..]. The reader handle s keeps one
 * read transaction open from the handler to the last piece, so the document
 * is one revision's state however long the client takes.
 */
struct get_stream {
	struct get_walk w;
	struct store *s;
	size_t sent;        /* bytes of w.t handed out */
	int kind;           /* the kind paged next; PART_SETTINGS: the tail; above: done */
	char after[ID_MAX]; /* the last id written of kind ("": none yet) */
	/* Fleet mode: whose objects (and the fleet's groups); NULL: all. */
	const char *router;
	char router_buf[ROUTER_MAX];
	struct settings set;
	int64_t rev;
};

/* Write the next page (or the tail) into w.t. 0, or -1 with e set. */
static int get_page(struct get_stream *g, struct vr_err *e)
{
	const struct crud_resource *rs;
	void *v = NULL;
	size_t n = 0;
	bool more = false;
	char tail[128];
	int rc = 0;

	g->w.t.len = 0;
	g->sent = 0;
	if (g->kind == PART_SETTINGS) {
		g->kind++;
		if (open_part(&g->w, PART_SETTINGS) < 0)
			return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory");
		/* Settings nobody set are the kernel's: a document carrying them would take them
		 * over. */
		if (g->set.managed)
			snprintf(
			    tail, sizeof(tail),
			    ",\n\"settings\": {\"forwarding\": {\"ipv4\": %s, \"ipv6\": %s}}\n}\n",
			    g->set.fwd_v4 ? "true" : "false", g->set.fwd_v6 ? "true" : "false");
		else
			snprintf(tail, sizeof(tail), "\n}\n");
		return text_str(&g->w.t, tail) < 0
		           ? err_set(e, VR_ERR_INTERNAL, NULL, "out of memory")
		           : 0;
	}
	rs = part_rs[g->kind];
	if (store_obj_list(g->s, (enum store_kind)g->kind,
	                   &(struct store_filter){.router = g->router},
	                   g->after[0] ? g->after : NULL, CONFIG_PAGE, &v, &n, &more, e) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = get_item(&g->w, (enum store_kind)g->kind, (const char *)v + i * rs->size, e);
	if (rc == 0 && n)
		snprintf(g->after, sizeof(g->after), "%s",
		         rs->id((const char *)v + (n - 1) * rs->size));
	store_objs_free((enum store_kind)g->kind, v, n);
	if (rc == 0 && !more) {
		g->kind++;
		g->after[0] = '\0';
	}
	return rc ? -1 : 0;
}

static ssize_t get_read(void *cls, char *buf, size_t max)
{
	struct get_stream *g = cls;
	struct vr_err e = {0};
	size_t n;

	/* Pages of an empty kind write nothing: go on to the next one. */
	while (g->sent == g->w.t.len) {
		if (g->kind > PART_SETTINGS)
			return 0;
		if (get_page(g, &e) < 0) {
			log_error("GET /v1/config: the document is cut short at revision %lld: %s",
			          (long long)g->rev, e.msg);
			return -1;
		}
	}
	n = g->w.t.len - g->sent;
	if (n > max)
		n = max;
	memcpy(buf, g->w.t.p + g->sent, n);
	g->sent += n;
	return (ssize_t)n;
}

static void get_free(void *cls)
{
	struct get_stream *g = cls;

	store_snapshot_end(g->s);
	app_read_done(g->w.app, g->s);
	free(g->w.t.p);
	free(g);
}

void api_config_get(struct http_req *req, struct http_resp *resp)
{
	const char *const params[] = {req->app->fleet ? "router" : NULL, NULL};
	const char *router = NULL;
	struct get_stream *g;
	struct vr_err e = {0};

	if (http_req_check_query(req, params, &e) || config_router(req, &router, &e)) {
		http_problem(resp, &e);
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		http_problemf(resp, 500, NULL, "out of memory");
		return;
	}
	g->w.app = req->app;
	g->w.part = -1;
	if (router) {
		snprintf(g->router_buf, sizeof(g->router_buf), "%s", router);
		g->router = g->router_buf;
	}
	g->s = app_read_begin(req->app);
	if (store_snapshot_begin(g->s, &g->set, &g->rev, &e) < 0) {
		app_read_done(req->app, g->s);
		free(g);
		http_problem(resp, &e);
		return;
	}
	/* The scope's settings, read in the snapshot just begun. */
	if (router && store_settings_get_of(g->s, router, &g->set, &e) < 0) {
		store_snapshot_end(g->s);
		app_read_done(req->app, g->s);
		free(g);
		http_problem(resp, &e);
		return;
	}
	resp->status = 200;
	resp->content_type = "application/json";
	snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", (long long)g->rev);
	resp->stream = get_read;
	resp->stream_free = get_free;
	resp->stream_cls = g;
}

/* ---- PUT: finding the parts and items in the text ---- */

/* The document text, and where each part's value lies in it (at SIZE_MAX: absent). */
struct doc {
	const char *t;
	size_t len;
	size_t at[STORE_KINDS + 1];
	size_t end[STORE_KINDS + 1];
	/*
	 * Whether the pages of a part's text may go back to the system once its
	 * items are parsed (doc_release): the text is the caller's to free and
	 * nothing reads it afterwards. [gone_at, gone_end) of each part is what
	 * went back, with its newlines and the characters after the last of them
	 * (SIZE_MAX: it has none), so that bad_json still counts lines right.
	 */
	bool release;
	size_t gone_at[STORE_KINDS], gone_end[STORE_KINDS];
	size_t gone_lines[STORE_KINDS], gone_tail[STORE_KINDS];
};

/* Invalid items, reported together: the first in full, up to CONFIG_ERRORS_MAX listed. */
struct errs {
	struct vr_err first;
	json_t *list;
	size_t n;
};

static void errs_add(struct errs *x, const struct vr_err *e)
{
	if (!x->n)
		x->first = *e;
	if (!x->list)
		x->list = json_array();
	if (x->n++ < CONFIG_ERRORS_MAX)
		json_array_append_new(
		    x->list, json_pack("{s:s, s:s}", "field", e->field, "message", e->msg));
}

/* The text's released part k, when it lies in [from, to): -1 when none does. */
static int gone_in(const struct doc *d, size_t from, size_t to)
{
	int first = -1;

	for (int k = 0; k < STORE_KINDS; k++)
		if (d->gone_end[k] > d->gone_at[k] && d->gone_at[k] >= from &&
		    d->gone_end[k] <= to && (first < 0 || d->gone_at[k] < d->gone_at[first]))
			first = k;
	return first;
}

/* 400 for malformed JSON at byte pos: line and column as jansson counts them. */
static int bad_json(const struct doc *d, size_t pos, const char *what, struct vr_err *e)
{
	size_t line = 1, col = 0, i = 0, end = pos < d->len ? pos : d->len;

	for (;;) {
		/* The text given back is not read: its count of lines was kept. */
		int k = gone_in(d, i, end);
		size_t stop = k < 0 ? end : d->gone_at[k];

		for (; i < stop; i++) {
			if (d->t[i] == '\n') {
				line++;
				col = 0;
			} else {
				col++;
			}
		}
		if (k < 0)
			break;
		line += d->gone_lines[k];
		col = d->gone_tail[k] == SIZE_MAX ? col + (d->gone_end[k] - d->gone_at[k])
		                                  : d->gone_tail[k];
		i = d->gone_end[k];
	}
	return err_set(e, VR_ERR_MALFORMED, NULL, "malformed JSON at line %zu column %zu: %s", line,
	               col + 1, what);
}

/* Text is given back in steps of at least this much: one madvise per step. */
#define DOC_RELEASE_STEP ((size_t)1 << 20)

/*
 * Part p's items are parsed up to byte upto: its whole pages before that go
 * back to the system (a 100,000-route document is 7 to 17 MB, held beside
 * the items parsed from it otherwise). Their newlines are counted first, for
 * bad_json. A failed madvise only keeps the pages.
 */
static void doc_release(struct doc *d, int p, size_t upto)
{
	static size_t page;
	uintptr_t base = (uintptr_t)d->t, from, to;
	size_t lines, tail;

	if (!d->release || p >= STORE_KINDS)
		return;
	if (!page) {
		long ps = sysconf(_SC_PAGESIZE);

		page = ps > 0 ? (size_t)ps : 4096;
	}
	if (d->gone_end[p] == d->gone_at[p]) {
		from = (base + d->at[p] + page - 1) & ~(uintptr_t)(page - 1);
		d->gone_at[p] = d->gone_end[p] = from - base;
		d->gone_tail[p] = SIZE_MAX;
	}
	from = base + d->gone_end[p];
	to = (base + upto) & ~(uintptr_t)(page - 1);
	if (to <= from || to - from < DOC_RELEASE_STEP)
		return;
	lines = d->gone_lines[p];
	tail = d->gone_tail[p];
	for (const char *c = (const char *)from, *stop = (const char *)to;;) {
		const char *nl = memchr(c, '\n', (size_t)(stop - c));

		if (!nl) {
			if (tail != SIZE_MAX)
				tail += (size_t)(stop - c);
			break;
		}
		lines++;
		tail = 0;
		c = nl + 1;
	}
	/* The text is the request's own buffer (api_config_put): writable, freed after. */
	if (madvise((void *)from, to - from, MADV_DONTNEED) < 0)
		return;
	d->gone_end[p] = to - base;
	d->gone_lines[p] = lines;
	d->gone_tail[p] = tail;
}

static size_t skip_ws(const struct doc *d, size_t i)
{
	while (i < d->len &&
	       (d->t[i] == ' ' || d->t[i] == '\t' || d->t[i] == '\n' || d->t[i] == '\r'))
		i++;
	return i;
}

/* One past the closing quote of the string opening at t[i], or 0 when it does not end. */
static size_t skip_string(const struct doc *d, size_t i)
{
	for (i++; i < d->len; i++) {
		if (d->t[i] == '\\')
			i++;
		else if (d->t[i] == '"')
			return i + 1;
	}
	return 0;
}

/*
 * One past the end of the value starting at t[i], or 0 when the text ends
 * first. Only the extent is found, by counting brackets outside strings; the
 * value is parsed later, and a value whose brackets do not match fails there.
 */
static size_t skip_value(const struct doc *d, size_t i)
{
	size_t depth = 0, end;

	if (i >= d->len)
		return 0;
	if (d->t[i] == '"')
		return skip_string(d, i);
	if (d->t[i] != '{' && d->t[i] != '[') {
		while (i < d->len && !strchr(",]} \t\r\n", d->t[i]))
			i++;
		return i;
	}
	for (; i < d->len; i++) {
		switch (d->t[i]) {
		case '"':
			end = skip_string(d, i);
			if (!end)
				return 0;
			i = end - 1;
			break;
		case '{':
		case '[': depth++; break;
		case '}':
		case ']':
			if (--depth == 0)
				return i + 1;
			break;
		}
	}
	return 0;
}

/* Parse the value at [at, end) with jansson; NULL and a 400 naming its position when malformed. */
static json_t *load_slice(const struct doc *d, size_t at, size_t end, size_t flags,
                          struct vr_err *e)
{
	json_error_t jerr;
	json_t *v = json_loadb(d->t + at, end - at, flags | JSON_REJECT_DUPLICATES, &jerr);

	if (!v)
		bad_json(d, at + (size_t)(jerr.position > 0 ? jerr.position - 1 : 0), jerr.text, e);
	return v;
}

/* The top level: an object whose keys are the parts. Records where each part's value is. */
static int doc_scan(struct doc *d, struct vr_err *e)
{
	size_t i = skip_ws(d, 0), ke, ve;
	unsigned seen = 0;

	for (int p = 0; p <= PART_SETTINGS; p++)
		d->at[p] = SIZE_MAX;
	if (i >= d->len || d->t[i] != '{')
		return i >= d->len
		           ? bad_json(d, i, "'{' expected", e)
		           : err_set(e, VR_ERR_MALFORMED, NULL,
		                     "the document must be a JSON object {\"route_tables\": "
		                     "[...], \"routes\": [...], ...}");
	i = skip_ws(d, i + 1);
	if (i < d->len && d->t[i] == '}')
		return skip_ws(d, i + 1) == d->len ? 0
		                                   : bad_json(d, i + 1, "end of input expected", e);
	for (;;) {
		const char *key;
		json_t *k;
		int p;

		if (i >= d->len || d->t[i] != '"')
			return bad_json(d, i, "string or '}' expected", e);
		ke = skip_string(d, i);
		if (!ke)
			return bad_json(d, i, "unterminated string", e);
		k = load_slice(d, i, ke, JSON_DECODE_ANY, e);
		if (!k)
			return -1;
		key = json_string_value(k);
		for (p = 0; p <= PART_SETTINGS && strcmp(key, part_key(p)); p++)
			;
		if (p > PART_SETTINGS) {
			err_set(e, VR_ERR_MALFORMED, key,
			        "unknown key \"%s\": a document has route_tables, routes, subnets, "
			        "security_groups, security_group_rules and settings",
			        key);
			json_decref(k);
			return -1;
		}
		json_decref(k);
		if (seen & (1u << p))
			return bad_json(d, i, "duplicate object key", e);
		seen |= 1u << p;
		i = skip_ws(d, ke);
		if (i >= d->len || d->t[i] != ':')
			return bad_json(d, i, "':' expected", e);
		i = skip_ws(d, i + 1);
		ve = skip_value(d, i);
		if (!ve || ve == i)
			return bad_json(d, i, "a value expected", e);
		/* An explicit null is the part's default, as if the key were absent. */
		if (ve - i != 4 || memcmp(d->t + i, "null", 4)) {
			d->at[p] = i;
			d->end[p] = ve;
		}
		i = skip_ws(d, ve);
		if (i < d->len && d->t[i] == ',') {
			i = skip_ws(d, i + 1);
			continue;
		}
		if (i < d->len && d->t[i] == '}')
			break;
		return bad_json(d, i, "',' or '}' expected", e);
	}
	if (skip_ws(d, i + 1) != d->len)
		return bad_json(d, skip_ws(d, i + 1), "end of input expected", e);
	return 0;
}

/*
 * Walk the items of the array at d->at[p]: fn for each item's extent, in
 * order. Returns the number of items, or -1 (e filled) when the array is
 * malformed or fn fails.
 */
static ssize_t each_item(struct doc *d, int p,
                         int (*fn)(const struct doc *d, size_t i, size_t at, size_t end, void *arg,
                                   struct vr_err *e),
                         void *arg, struct vr_err *e)
{
	size_t i = skip_ws(d, d->at[p] + 1), end, n = 0;

	if (i < d->len && d->t[i] == ']')
		return 0;
	for (;;) {
		end = skip_value(d, i);
		if (!end || end == i)
			return bad_json(d, i, "a value expected", e);
		if (fn && fn(d, n, i, end, arg, e) < 0)
			return -1;
		if (fn)
			doc_release(d, p, end);
		n++;
		i = skip_ws(d, end);
		if (i < d->len && d->t[i] == ',') {
			i = skip_ws(d, i + 1);
			continue;
		}
		if (i < d->len && d->t[i] == ']')
			return (ssize_t)n;
		return bad_json(d, i, "',' or ']' expected", e);
	}
}

/* "" as NULL, as the store reads it back: one allocation less per item. */
static void desc_trim(enum store_kind k, void *obj)
{
	char **desc;

	switch (k) {
	case STORE_RTB: desc = &((struct route_table *)obj)->description; break;
	case STORE_ROUTE: desc = &((struct route *)obj)->description; break;
	case STORE_SUBNET: desc = &((struct subnet *)obj)->description; break;
	case STORE_SG: desc = &((struct security_group *)obj)->description; break;
	default: desc = &((struct sg_rule *)obj)->description; break;
	}
	if (*desc && !**desc) {
		free(*desc);
		*desc = NULL;
	}
}

struct part_conv {
	struct app *app;    /* NULL: a single router's document */
	const char *router; /* fleet mode: the router the document is for */
	enum store_kind kind;
	char *items;             /* zeroed array of the kind's structs */
	struct route_pack *pack; /* or, for routes, where they go: compact */
	size_t n;                /* its length: the items the counting pass found */
	struct errs *errs;
};

/*
 * INVALID naming router for an item of a fleet's document that names a
 * router other than the document's: another router's objects are replaced
 * by a document for that router (?router=).
 */
static int item_router(const struct part_conv *pc, const void *obj, struct vr_err *e)
{
	const struct crud_resource *rs = part_rs[pc->kind];
	const char *router = rs->router_off ? (const char *)obj + rs->router_off : "";

	if (!pc->router || !router[0] || !strcmp(router, pc->router))
		return 0;
	return err_set(e, VR_ERR_INVALID, "router",
	               "router \"%s\" is not the router this document is for (\"%s\"): give "
	               "?router=%s to replace that router's objects",
	               router, pc->router, router);
}

/* Item i of a part: parse it alone, translate it, free its tree. */
static int conv_item(const struct doc *d, size_t i, size_t at, size_t end, void *arg,
                     struct vr_err *e)
{
	struct part_conv *pc = arg;
	const struct crud_resource *rs = part_rs[pc->kind];
	struct route route = {0};
	void *obj = pc->pack ? (void *)&route : pc->items + i * rs->size;
	const char *key = store_kind_key(pc->kind);
	struct vr_err ie = {0};
	json_t *v;

	/* Both passes find the same extents; this only guards the array's bound. */
	if (i >= pc->n)
		return err_set(e, VR_ERR_INTERNAL, NULL, "%s: more items than counted", key);
	v = load_slice(d, at, end, JSON_DECODE_ANY, e);
	if (!v)
		return -1;
	if (!json_is_object(v)) {
		err_set(&ie, VR_ERR_INVALID, "", "%s[%zu] must be an object", key, i);
		snprintf(ie.field, sizeof(ie.field), "%s[%zu]", key, i);
		errs_add(pc->errs, &ie);
	} else if ((pc->app && crud_router_take(pc->app, rs, v, obj, pc->router, &ie)) ||
	           item_router(pc, obj, &ie) || rs->from_json(v, obj, &ie) ||
	           crud_single_ids(pc->app, rs, obj, &ie)) {
		char field[ERR_FIELD_MAX];

		if (ie.field[0])
			snprintf(field, sizeof(field), "%s[%zu].%s", key, i, ie.field);
		else
			snprintf(field, sizeof(field), "%s[%zu]", key, i);
		snprintf(ie.field, sizeof(ie.field), "%s", field);
		errs_add(pc->errs, &ie);
	} else {
		desc_trim(pc->kind, obj);
	}
	json_decref(v);
	if (pc->pack && route_pack_put(pc->pack, i, &route) < 0) {
		model_route_clear(&route);
		return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory");
	}
	return 0;
}

/*
 * Translate the items of part k into *items (calloc'd, *n of them, even when
 * some fail); routes into *pack instead, when pack is not NULL.
 */
static int doc_part(struct doc *d, struct app *app, const char *router, enum store_kind k,
                    void **items, struct route_pack **pack, size_t *n, struct errs *errs,
                    struct vr_err *e)
{
	struct part_conv pc = {.app = app, .router = router, .kind = k, .errs = errs};
	const char *key = store_kind_key(k);
	ssize_t count;

	if (d->t[d->at[k]] != '[') {
		json_t *v = load_slice(d, d->at[k], d->end[k], JSON_DECODE_ANY, e);

		if (!v)
			return -1;
		json_decref(v);
		return err_set(e, VR_ERR_INVALID, key, "%s must be an array of objects", key);
	}
	/* Count first: one allocation of the exact size. */
	count = each_item(d, k, NULL, NULL, e);
	if (count < 0)
		return -1;
	if (pack) {
		pc.pack = *pack = route_pack_new((size_t)count);
		if (!pc.pack)
			return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory");
	} else {
		pc.items = calloc(count ? (size_t)count : 1, part_rs[k]->size);
		if (!pc.items)
			return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory");
		*items = pc.items;
	}
	*n = pc.n = (size_t)count;
	return each_item(d, k, conv_item, &pc, e) < 0 ? -1 : 0;
}

static int doc_settings(const struct doc *d, struct store_config *c, struct errs *errs,
                        struct vr_err *e)
{
	struct settings set = {0};
	struct vr_err ie = {0};
	json_t *v = load_slice(d, d->at[PART_SETTINGS], d->end[PART_SETTINGS], JSON_DECODE_ANY, e);

	if (!v)
		return -1;
	if (!json_is_object(v)) {
		json_decref(v);
		return err_set(e, VR_ERR_INVALID, "settings",
		               "settings must be an object {\"forwarding\": {\"ipv4\": bool, "
		               "\"ipv6\": bool}}");
	}
	if (api_settings_from_json(v, &set, &ie)) {
		char field[ERR_FIELD_MAX];

		snprintf(field, sizeof(field), "settings%s%s", ie.field[0] ? "." : "", ie.field);
		snprintf(ie.field, sizeof(ie.field), "%s", field);
		errs_add(errs, &ie);
	}
	json_decref(v);
	c->has_settings = true;
	c->fwd_v4 = set.fwd_v4;
	c->fwd_v6 = set.fwd_v6;
	return 0;
}

/*
 * The document text -> c. Malformed JSON stops at once; invalid items are
 * collected (errs) so one answer names as many as it can. app (NULL: none,
 * a single router's) in fleet mode: the items are c->router's. release: the
 * text is not read once parsed (struct doc).
 */
static int doc_parse(struct app *app, const char *text, size_t len, bool release,
                     struct store_config *c, struct errs *errs, struct vr_err *e)
{
	struct doc d = {.t = text, .len = len, .release = release};
	void **items[STORE_KINDS] = {(void **)&c->tables, (void **)&c->routes, (void **)&c->subnets,
	                             (void **)&c->groups, (void **)&c->rules};
	size_t *ns[STORE_KINDS] = {&c->ntables, &c->nroutes, &c->nsubnets, &c->ngroups, &c->nrules};

	if (doc_scan(&d, e) < 0)
		return -1;
	for (int k = 0; k < STORE_KINDS; k++)
		if (d.at[k] != SIZE_MAX &&
		    doc_part(&d, app, c->router, (enum store_kind)k, items[k],
		             k == STORE_ROUTE ? &c->pack : NULL, ns[k], errs, e) < 0)
			return -1;
	if (d.at[PART_SETTINGS] != SIZE_MAX && doc_settings(&d, c, errs, e) < 0)
		return -1;
	return 0;
}

int api_config_parse(const char *text, size_t len, struct store_config *c, struct vr_err *e)
{
	struct errs errs = {0};
	int rc = doc_parse(NULL, text, len, false, c, &errs, e);

	if (rc == 0 && errs.n) {
		*e = errs.first;
		rc = -1;
	}
	json_decref(errs.list);
	return rc;
}

/* ---- PUT: the answer ---- */

static json_t *ids_json(const struct store_diff_ids *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->nids; i++)
		json_array_append_new(a, json_string(l->ids[i]));
	return a;
}

static json_t *db_plan_json(const struct store_config *c, const struct store_diff *d)
{
	json_t *o = json_object();
	bool truncated = false;

	for (int k = 0; k < STORE_KINDS; k++) {
		truncated = truncated || d->added[k].nids < d->added[k].n ||
		            d->changed[k].nids < d->changed[k].n ||
		            d->removed[k].nids < d->removed[k].n;
		json_object_set_new(
		    o, store_kind_key((enum store_kind)k),
		    json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "added",
		              (json_int_t)d->added[k].n, "changed", (json_int_t)d->changed[k].n,
		              "removed", (json_int_t)d->removed[k].n, "unchanged",
		              (json_int_t)d->unchanged[k], "added_ids", ids_json(&d->added[k]),
		              "changed_ids", ids_json(&d->changed[k]), "removed_ids",
		              ids_json(&d->removed[k])));
	}
	json_object_set_new(
	    o, "settings",
	    json_pack("{s:b, s:o, s:o}", "changed", d->settings_changed, "before",
	              d->settings_before.managed
	                  ? json_pack("{s:{s:b, s:b}}", "forwarding", "ipv4",
	                              d->settings_before.fwd_v4, "ipv6", d->settings_before.fwd_v6)
	                  : json_null(),
	              "after",
	              c->has_settings || d->settings_before.managed
	                  ? json_pack("{s:{s:b, s:b}}", "forwarding", "ipv4",
	                              c->has_settings ? c->fwd_v4 : d->settings_before.fwd_v4,
	                              "ipv6",
	                              c->has_settings ? c->fwd_v6 : d->settings_before.fwd_v6)
	                  : json_null()));
	/* Ids are listed up to STORE_DIFF_IDS_MAX per list; the counts are exact. */
	json_object_set_new(o, "ids_truncated", json_boolean(truncated));
	return o;
}

static const char *op_name(enum preview_op op)
{
	switch (op) {
	case PREVIEW_ADD: return "add";
	case PREVIEW_CHANGE: return "change";
	case PREVIEW_REMOVE: return "remove";
	case PREVIEW_FAIL: break;
	}
	return "fail";
}

static json_t *list_json(const struct preview_list *l)
{
	json_t *items = json_array();

	for (size_t i = 0; i < l->nitems; i++) {
		json_t *it = json_pack("{s:s, s:s}", "op", op_name(l->items[i].op), "what",
		                       l->items[i].what);

		if (l->items[i].id[0])
			json_object_set_new(it, "id", json_string(l->items[i].id));
		json_array_append_new(items, it);
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:b}", "add", (json_int_t)l->add, "change",
	                 (json_int_t)l->change, "remove", (json_int_t)l->remove, "fail",
	                 (json_int_t)l->fail, "items", items, "items_truncated",
	                 l->nitems < l->add + l->change + l->remove + l->fail);
}

static json_t *kernel_plan_json(const struct preview *p)
{
	static const char *const nft_action[] = {"none", "create", "update", "remove"};
	json_t *items = json_array();

	for (size_t i = 0; i < p->nft_nitems; i++)
		json_array_append_new(items, json_string(p->nft_items[i]));
	return json_pack("{s:o, s:o, s:o, s:{s:{s:b, s:b}, s:{s:b, s:b}, s:b}, "
	                 "s:{s:s, s:s, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:o, s:b}}",
	                 "routes", list_json(&p->routes), "addresses", list_json(&p->addrs),
	                 "rules", list_json(&p->rules), "forwarding", "ipv4", "now", p->fwd_v4,
	                 "then", p->want_v4, "ipv6", "now", p->fwd_v6, "then", p->want_v6,
	                 "managed", p->fwd_managed, "nftables", "table", "inet " SGC_TABLE,
	                 "action", nft_action[p->nft], "messages", (json_int_t)p->nft_msgs,
	                 "chains", "now", (json_int_t)p->nft_chains_now, "then",
	                 (json_int_t)p->nft_chains_new, "elements", "now",
	                 (json_int_t)p->nft_elems_now, "then", (json_int_t)p->nft_elems_new,
	                 "items", items, "items_truncated", p->nft_nitems < p->nft_msgs);
}

struct preview_call {
	const struct preview_input *in;
	struct preview *out;
	char why[256];
};

static int preview_fn(const struct kernel_ops *k, void *arg)
{
	struct preview_call *pc = arg;

	return preview_kernel(k, pc->in, &pc->out, pc->why, sizeof(pc->why));
}

/*
 * The kernel part of a dry run: c against the kernel now, and c's groups
 * against the stored ones (groups_now) for nftables.
 */
static json_t *kernel_plan(struct app *app, const struct store_config *c,
                           const struct store_diff *d, const struct security_group *gnow,
                           size_t ngnow, const struct sg_rule *rnow, size_t nrnow)
{
	struct preview_input in = {
	    .routes = c->routes,
	    .pack = c->pack,
	    .nroutes = c->nroutes,
	    .subnets = c->subnets,
	    .nsubnets = c->nsubnets,
	    .fwd_managed = c->has_settings || d->settings_before.managed,
	    .fwd_v4 = c->has_settings ? c->fwd_v4 : d->settings_before.fwd_v4,
	    .fwd_v6 = c->has_settings ? c->fwd_v6 : d->settings_before.fwd_v6,
	    .groups_now = gnow,
	    .ngroups_now = ngnow,
	    .rules_now = rnow,
	    .nrules_now = nrnow,
	    .groups = c->groups,
	    .ngroups = c->ngroups,
	    .rules = c->rules,
	    .nrules = c->nrules,
	};
	struct preview_call pc = {.in = &in};
	json_t *o;

	if (app->api)
		in.api = *app->api;
	if (app->kernel_query(app->query_ctx, preview_fn, &pc))
		return json_pack("{s:s}", "error", pc.why);
	o = kernel_plan_json(pc.out);
	preview_free(pc.out);
	return o;
}

/* How the reconciler fared with the revision, once crud_wait returned. */
static json_t *apply_json(struct app *app, int64_t rev)
{
	struct recon_stats st = {0};

	if (!app->recon)
		return json_null();
	recon_stats(app->recon, &st);
	return json_pack("{s:I, s:b, s:{s:I, s:I}, s:s}", "applied_revision",
	                 (json_int_t)st.applied_rev, "converged", st.applied_rev >= rev, "failed",
	                 "routes", (json_int_t)st.routes_failed, "other",
	                 (json_int_t)st.objects_failed, "last_error", st.last_error);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static bool any_table_to_number(const struct store_config *c)
{
	for (size_t i = 0; i < c->ntables; i++)
		if (!c->tables[i].table && strcmp(c->tables[i].id, RTB_MAIN_ID))
			return true;
	return false;
}

/* Answer the collected item errors: the first as the problem, all of them listed. */
static void errs_reply(struct http_resp *resp, struct errs *x)
{
	http_problem(resp, &x->first);
	if (x->n > 1) {
		char detail[ERR_MSG_MAX + 64];

		snprintf(detail, sizeof(detail), "%zu items are invalid%s; the first: %s", x->n,
		         x->n > CONFIG_ERRORS_MAX ? " (the first 20 are listed)" : "",
		         x->first.msg);
		json_object_set_new(resp->body, "detail", json_string(detail));
	}
	json_object_set(resp->body, "errors", x->list);
}

/* A PUT's routes handed to the reconciler ahead of the commit. */
struct put_pre {
	struct app *app;
	bool started;
};

/*
 * store_config_replace's hook (store.h): the document is checked and changes
 * something, so its routes go to the kernel while the write and the commit
 * run.
 */
static void put_checked(void *arg, const struct store_config *c)
{
	struct put_pre *pre = arg;

	recon_preapply_config(pre->app->recon, c);
	pre->started = true;
}

void api_config_put(struct http_req *req, struct http_resp *resp)
{
	struct app *app = req->app;
	const char *const params[] = {"dry_run", app->fleet ? "router" : NULL, NULL};
	const char *dry_arg = http_req_query(req, "dry_run");
	struct store_config c = {0};
	struct store_diff d = {0};
	struct errs errs = {0};
	struct vr_err e = {0};
	struct security_group *gnow = NULL;
	struct sg_rule *rnow = NULL;
	size_t ngnow = 0, nrnow = 0, navoid = 0;
	uint32_t *avoid = NULL;
	int64_t if_rev = http_if_match_rev(req->if_match), sg_rev;
	bool dry = false, have_now = false, mine, held = false;
	json_t *plan, *kernel;
	struct put_pre pre = {.app = app};
	struct timespec t0;
	double parse_ms, store_ms, pre_ms = 0;
	char pre_note[96] = "";
	size_t nroutes;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (http_req_check_query(req, params, &e) || config_router(req, &c.router, &e))
		goto fail;
	/* Another router's document never reaches this kernel: no preapply, no kernel plan. */
	mine = !c.router || !strcmp(c.router, model_router_or_local(app->router));
	if (dry_arg) {
		if (!strcmp(dry_arg, "true") || !strcmp(dry_arg, "1")) {
			dry = true;
		} else if (strcmp(dry_arg, "false") && strcmp(dry_arg, "0")) {
			err_set(&e, VR_ERR_INVALID, "dry_run",
			        "dry_run \"%s\" must be true or false", dry_arg);
			goto fail;
		}
	}
	if (if_rev < 0) {
		err_set(&e, VR_ERR_PRECONDITION, NULL,
		        "If-Match %s does not match the current ETag", req->if_match);
		goto fail;
	}
	if (!req->raw) {
		err_set(&e, VR_ERR_MALFORMED, NULL,
		        "a JSON object body is required ({} empties the desired state)");
		goto fail;
	}
	/* Until the document's items are freed, full passes that are not kicked wait. */
	if (app->recon) {
		recon_hold(app->recon);
		held = true;
	}
	/* The body is ours and freed below: its pages go back as its items are parsed. */
	if (doc_parse(app, req->raw, req->raw_len, true, &c, &errs, &e))
		goto fail;
	if (errs.n) {
		errs_reply(resp, &errs);
		goto out;
	}
	/* The text is all in c now; the apply below may take a while. */
	free(req->raw);
	req->raw = NULL;
	parse_ms = ms_since(&t0);
	/* Tables someone else uses in this namespace are never handed out. */
	if (any_table_to_number(&c) && app->tables_in_use &&
	    app->tables_in_use(app->query_ctx, &avoid, &navoid))
		navoid = 0;

	if (!dry && app->recon && mine) {
		c.checked = put_checked;
		c.checked_arg = &pre;
	}
	pthread_mutex_lock(&app->store_lock);
	rc = store_config_replace(app->store, &c, if_rev, avoid, navoid, dry, &d, &e);
	if (rc == 0 && !dry && d.any)
		crud_kick(app, d.rev, RECON_ALL, NULL);
	/* The dry run's nftables part compares with the state stored now (unchanged by it). */
	if (rc == 0 && dry && app->kernel_query && mine)
		have_now =
		    store_sg_load(app->store, &gnow, &ngnow, &rnow, &nrnow, &sg_rev, &e) == 0;
	pthread_mutex_unlock(&app->store_lock);
	store_ms = ms_since(&t0) - parse_ms;
	if (pre.started) {
		/* The routes are the document's (c): they are borrowed until this returns. */
		recon_preapply_wait(app->recon, rc ? 0 : d.rev);
		pre_ms = ms_since(&t0) - parse_ms - store_ms;
		/* Not stored, but the kernel took the document: the stored state goes back first.
		 */
		if (rc && recon_resync(app->recon, app->apply_timeout_ms))
			log_warnx("PUT /v1/config failed (%s) and the kernel was not back to the "
			          "stored state within %d ms",
			          e.msg, app->apply_timeout_ms);
	}
	if (rc)
		goto fail;
	nroutes = c.nroutes;

	plan = json_pack("{s:o}", "database", db_plan_json(&c, &d));
	if (!dry) {
		/* Nothing of the document is needed while the kernel catches up. */
		store_config_clear(&c);
		if (held) {
			recon_release(app->recon);
			held = false;
		}
		if (d.any)
			crud_wait(app, d.rev);
		if (pre.started)
			snprintf(
			    pre_note, sizeof(pre_note),
			    " (the routes went to the kernel beside the store, %.1f ms past it)",
			    pre_ms);
		log_info("PUT /v1/config: %zu routes; parsed and checked in %.1f ms, stored in "
		         "%.1f ms (revision %lld%s), applied in %.1f ms%s",
		         nroutes, parse_ms, store_ms, (long long)d.rev, d.any ? "" : ", unchanged",
		         ms_since(&t0) - parse_ms - store_ms, pre_note);
		json_object_set_new(plan, "kernel", json_null());
		http_json(resp, 200,
		          json_pack("{s:I, s:b, s:b, s:o, s:o}", "revision", (json_int_t)d.rev,
		                    "dry_run", false, "changed", d.any, "plan", plan, "apply",
		                    apply_json(app, d.rev)));
	} else {
		if (!app->kernel_query || !mine)
			kernel = json_null();
		else if (!have_now)
			kernel = json_pack("{s:s}", "error", e.msg);
		else
			kernel = kernel_plan(app, &c, &d, gnow, ngnow, rnow, nrnow);
		json_object_set_new(plan, "kernel", kernel);
		log_info("PUT /v1/config?dry_run=true: %zu routes; parsed and checked in %.1f ms, "
		         "database plan in %.1f ms, kernel plan in %.1f ms",
		         nroutes, parse_ms, store_ms, ms_since(&t0) - parse_ms - store_ms);
		http_json(resp, 200,
		          json_pack("{s:I, s:b, s:b, s:o}", "revision", (json_int_t)d.rev,
		                    "dry_run", true, "changed", d.any, "plan", plan));
	}
	snprintf(resp->etag, sizeof(resp->etag), "\"%lld\"", (long long)d.rev);
	goto out;
fail:
	http_problem(resp, &e);
out:
	json_decref(errs.list);
	store_diff_free(&d);
	store_config_clear(&c);
	if (held)
		recon_release(app->recon);
	model_sgs_free(gnow, ngnow);
	model_sg_rules_free(rnow, nrnow);
	free(avoid);
}
