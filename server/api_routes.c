/* /v1/route-tables and /v1/routes: translation between JSON and core/. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "crud.h"
#include "jsonv.h"
#include "model.h"
#include "store.h"

static const char *const computed_keys[] = {"status", "created_at", "updated_at", NULL};

/* ---- route tables ---- */

static const char *const rtb_keys[] = {"id", "name", "table", "description", NULL};

static int rtb_from_json(json_t *body, void *obj, struct vr_err *e)
{
	struct route_table *t = obj;
	bool have_table = false;

	if (jsonv_check_keys(body, rtb_keys, computed_keys, e) ||
	    jsonv_str(body, "id", t->id, sizeof(t->id), NULL, e) ||
	    jsonv_str(body, "name", t->name, sizeof(t->name), NULL, e) ||
	    jsonv_u32(body, "table", &t->table, &have_table, e) ||
	    jsonv_strdup(body, "description", &t->description, DESC_MAX_LEN, e))
		return -1;
	/* 0 would read back as the number assigned: not what was written. */
	if (have_table && t->table == 0)
		return err_set(e, VR_ERR_INVALID, "table",
		               "table 0 is not a kernel table number: omit table (or send null) to "
		               "have one assigned, or give one of 1..4294967295");
	return model_rtb_validate(t, e);
}

static json_t *rtb_to_json(struct app *app, const void *obj)
{
	const struct route_table *t = obj;

	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "id", t->id, "name", t->name, "table",
	                 (json_int_t)t->table, "description", t->description ? t->description : "",
	                 "created_at", t->created_at, "updated_at", t->updated_at);
}

static void rtb_clear(void *obj)
{
	model_rtb_clear(obj);
}
static const char *rtb_id(const void *obj)
{
	return ((const struct route_table *)obj)->id;
}
static bool rtb_id_valid(const char *text)
{
	return model_rtb_id_valid(text);
}
static int64_t rtb_rev(const void *obj)
{
	return ((const struct route_table *)obj)->rev;
}
static int rtb_create(struct app *app, void *obj, struct vr_err *e)
{
	uint32_t *used = NULL;
	size_t nused = 0;
	int rc;

	/* Tables someone else uses in this namespace are never handed out. */
	if (app->tables_in_use && app->tables_in_use(app->query_ctx, &used, &nused))
		nused = 0;
	rc = store_rtb_create(app->store, obj, used, nused, e);
	free(used);
	return rc;
}

const struct crud_resource api_route_tables = {
    .collection = "/v1/route-tables",
    .kind = RECON_ROUTE_TABLE,
    .store_kind = STORE_RTB,
    .size = sizeof(struct route_table),
    .from_json = rtb_from_json,
    .to_json = rtb_to_json,
    .clear = rtb_clear,
    .id = rtb_id,
    .id_valid = rtb_id_valid,
    .rev = rtb_rev,
    .create = rtb_create,
    .router_off = offsetof(struct route_table, router),
};

/* ---- routes ---- */

static const char *const route_keys[] = {"id",  "route_table_id", "destination", "type", "via",
                                         "dev", "metric",         "description", NULL};
static const struct crud_filter route_filters[] = {
    {"route_table_id", offsetof(struct store_filter, table_id)},
    {NULL, 0},
};

static int route_from_json(json_t *body, void *obj, struct vr_err *e)
{
	struct route *r = obj;
	char type[32] = "unicast";
	bool have_dst = false;
	int t;

	snprintf(r->table_id, sizeof(r->table_id), "%s", RTB_MAIN_ID);
	if (jsonv_check_keys(body, route_keys, computed_keys, e) ||
	    jsonv_str(body, "id", r->id, sizeof(r->id), NULL, e) ||
	    jsonv_str(body, "route_table_id", r->table_id, sizeof(r->table_id), NULL, e) ||
	    jsonv_str(body, "destination", r->destination, sizeof(r->destination), &have_dst, e) ||
	    jsonv_str(body, "type", type, sizeof(type), NULL, e) ||
	    jsonv_str(body, "via", r->via_text, sizeof(r->via_text), NULL, e) ||
	    jsonv_str(body, "dev", r->dev, sizeof(r->dev), NULL, e) ||
	    jsonv_u32(body, "metric", &r->metric, NULL, e) ||
	    jsonv_strdup(body, "description", &r->description, DESC_MAX_LEN, e))
		return -1;
	if (!have_dst)
		return err_set(e, VR_ERR_INVALID, "destination", "destination is required");
	t = model_route_type_parse(type);
	if (t < 0)
		return err_set(
		    e, VR_ERR_INVALID, "type",
		    "type \"%s\" is not one of unicast, blackhole, unreachable, prohibit", type);
	r->type = (enum route_type)t;
	return model_route_validate(r, e);
}

static json_t *route_to_json(struct app *app, const void *obj)
{
	const struct route *r = obj;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "route_table_id", json_string(r->table_id));
	json_object_set_new(o, "destination", json_string(r->destination));
	json_object_set_new(o, "type", json_string(model_route_type_name(r->type)));
	if (r->via_text[0])
		json_object_set_new(o, "via", json_string(r->via_text));
	if (r->dev[0])
		json_object_set_new(o, "dev", json_string(r->dev));
	json_object_set_new(o, "metric", json_integer(r->metric));
	json_object_set_new(o, "description", json_string(r->description ? r->description : ""));
	json_object_set_new(o, "status", crud_status_json(app, r->id));
	json_object_set_new(o, "created_at", json_string(r->created_at));
	json_object_set_new(o, "updated_at", json_string(r->updated_at));
	return o;
}

static void route_clear(void *obj)
{
	model_route_clear(obj);
}
static const char *route_id(const void *obj)
{
	return ((const struct route *)obj)->id;
}
static bool route_id_valid(const char *text)
{
	return model_id_valid(text, "rt-");
}
static int64_t route_rev(const void *obj)
{
	return ((const struct route *)obj)->rev;
}

const struct crud_resource api_routes = {
    .collection = "/v1/routes",
    .kind = RECON_ROUTE,
    .store_kind = STORE_ROUTE,
    .size = sizeof(struct route),
    .from_json = route_from_json,
    .to_json = route_to_json,
    .clear = route_clear,
    .id = route_id,
    .id_valid = route_id_valid,
    .rev = route_rev,
    .filters = route_filters,
    .router_off = offsetof(struct route, router),
    .table_off = offsetof(struct route, table_id),
};
