/*
 * The shape every collection shares (SPEC "Conventions"): POST/GET/PUT/DELETE
 * on /v1/<c>[/{id}], idempotent creates with client ids, ETag/If-Match, lists
 * with limit/after and reference filters, and waiting for the apply. A
 * resource supplies the translation and names its kind of object, which the
 * store's verbs take; crud_* handlers do the rest.
 */
#ifndef VR_CRUD_H
#define VR_CRUD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"
#include "recon.h"
#include "store.h"

struct app;
struct store;

#define CRUD_LIMIT_DEFAULT 100
#define CRUD_LIMIT_MAX 1000

/* A reference filter a list takes: its query parameter and where it goes in a store_filter. */
struct crud_filter {
	const char *name;
	size_t field; /* offsetof(struct store_filter, ...) */
};

struct crud_resource {
	const char *collection;     /* "/v1/routes" */
	enum recon_obj kind;        /* what the reconciler is told a write changed */
	enum store_kind store_kind; /* what the store calls these objects */
	size_t size;                /* sizeof the model struct */
	/* Body -> object (already zeroed, defaults to be set here), validated. */
	int (*from_json)(json_t *body, void *obj, struct vr_err *e);
	json_t *(*to_json)(struct app *app, const void *obj);
	void (*clear)(void *obj);
	const char *(*id)(const void *obj);
	/* Whether text is a well-formed id of this kind: the only cursors a list takes. */
	bool (*id_valid)(const char *text);
	int64_t (*rev)(const void *obj);
	/*
	 * The create, when it needs what only the app knows (route tables: the
	 * kernel's table numbers); NULL: store_obj_create. Called with the store
	 * lock held. Every other store call is the store's verb for store_kind.
	 */
	int (*create)(struct app *app, void *obj, struct vr_err *e);
	/* Reference fields accepted as query filters, ended by a NULL name. */
	const struct crud_filter *filters;
	/*
	 * Offsets in the model struct of its router (0: the kind has none:
	 * security groups and rules are the fleet's) and of its route_table_id
	 * (0: none; a route table's router is its own).
	 */
	size_t router_off, table_off;
};

void crud_create(struct http_req *req, struct http_resp *resp);
void crud_get(struct http_req *req, struct http_resp *resp);
void crud_replace(struct http_req *req, struct http_resp *resp);
void crud_delete(struct http_req *req, struct http_resp *resp);
void crud_list(struct http_req *req, struct http_resp *resp);

/* 200 with a page of a list: {"items": items (stolen), "next": next, null when NULL}. */
void crud_page(struct http_resp *resp, json_t *items, const char *next);

/* ?limit= as every list takes it: default CRUD_LIMIT_DEFAULT, 422 outside 1..CRUD_LIMIT_MAX. */
int crud_query_limit(struct http_req *req, size_t *limit, struct vr_err *e)
    __attribute__((warn_unused_result));

/* Tell the reconciler what a committed write changed; call with the store lock held. */
void crud_kick(struct app *app, int64_t rev, enum recon_obj kind, const char *id);
/* Wait (bounded) until revision rev has been applied. */
void crud_wait(struct app *app, int64_t rev);

/*
 * ?require_active= on a write: true/1 or false/0, absent false; anything else
 * is a 422 naming require_active. Any other query parameter is a 400.
 */
int crud_query_require_active(struct http_req *req, bool *on, struct vr_err *e)
    __attribute__((warn_unused_result));
/* crud_query_require_active where query parameter extra (NULL: none) is allowed too. */
int crud_query_options(struct http_req *req, const char *extra, bool *on, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * After a write with ?require_active=true was applied: 0 when object id is
 * active; else -1 with e a 422 carrying the kernel's reason (503 when the
 * apply did not finish or there is no kernel). The caller then undoes its
 * write and calls crud_undone.
 */
int crud_require_active(struct app *app, const char *id, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * After the undo of a write refused by crud_require_active: wait for the undo
 * committed at revision rev and add what was undone to e's detail. rev 0: the
 * undo failed with ue; a later write that replaced or removed the object
 * stands (said so), any other failure makes e a 500.
 */
void crud_undone(struct app *app, int64_t rev, const struct vr_err *ue, const char *what,
                 struct vr_err *e);

/* The object's status as JSON {"state","reason"}. */
json_t *crud_status_json(struct app *app, const char *id);

/*
 * An object as its answers show it: rs->to_json, and in fleet mode (app->fleet)
 * its "router", with the status of another router's object {"state":
 * "remote", "reason": "applied by router N"} (this daemon's kernel never
 * gets it). A single router's answers are to_json's alone.
 */
json_t *crud_to_json(struct app *app, const struct crud_resource *rs, const void *obj);
/* The status of another router's object: {"state": "remote", "reason": "applied by router N"}. */
json_t *crud_remote_status(const char *router);
/*
 * Before rs->from_json in fleet mode: take "router" out of body into obj's
 * router (422 naming router for a value that is not a router name); without
 * one, dflt (a router name; NULL: none) is a route table's router, and a
 * route's or subnet's when its route_table_id is absent or "rtb-main" (which
 * then means dflt's main table); otherwise the store takes the table's.
 * In single mode nothing: a "router" key stays for from_json to refuse.
 */
int crud_router_take(struct app *app, const struct crud_resource *rs, json_t *body, void *obj,
                     const char *dflt, struct vr_err *e) __attribute__((warn_unused_result));
/*
 * After rs->from_json in single mode (app NULL or not a fleet): another
 * router's main table id (rtb-main-N, as the route table's id or a
 * route_table_id) is no id there, a 422 worded as before fleet mode.
 */
int crud_single_ids(struct app *app, const struct crud_resource *rs, const void *obj,
                    struct vr_err *e) __attribute__((warn_unused_result));
/*
 * A ?router= query value (fleet mode): NULL when absent, else it must be a
 * router name (422 naming router). 0 or -1 with e.
 */
int crud_query_router(struct http_req *req, const char **router, struct vr_err *e)
    __attribute__((warn_unused_result));

#endif
