/* /v1/security-groups and /v1/security-group-rules: translation between JSON and core/. */
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

/* ---- security groups ---- */

static const char *const sg_keys[] = {"id", "name", "description", "targets", NULL};

/* "targets": an array of at most SG_TARGETS_MAX strings, each one kept as written. */
static int sg_targets_from_json(json_t *body, struct security_group *g, struct vr_err *e)
{
	json_t *arr = jsonv_get(body, "targets");
	json_t *v;
	size_t i, n;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return err_set(e, VR_ERR_INVALID, "targets",
		               "targets must be an array of strings (\"local\", addresses, CIDRs)");
	n = json_array_size(arr);
	if (n > SG_TARGETS_MAX)
		return err_set(e, VR_ERR_INVALID, "targets",
		               "targets has %zu entries, at most %d are allowed", n,
		               SG_TARGETS_MAX);
	if (n == 0)
		return 0;
	g->targets = calloc(n, sizeof(*g->targets));
	if (!g->targets)
		return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory");
	json_array_foreach(arr, i, v)
	{
		char field[ERR_FIELD_MAX];
		size_t len;

		snprintf(field, sizeof(field), "targets[%zu]", i);
		if (!json_is_string(v))
			return err_set(e, VR_ERR_INVALID, field, "%s must be a string", field);
		len = json_string_length(v);
		if (len >= sizeof(g->targets[i].text))
			return err_set(e, VR_ERR_INVALID, field,
			               "%s is too long (%zu bytes, at most %zu)", field, len,
			               sizeof(g->targets[i].text) - 1);
		if (strlen(json_string_value(v)) != len)
			return err_set(e, VR_ERR_INVALID, field,
			               "%s must not contain NUL characters", field);
		memcpy(g->targets[i].text, json_string_value(v), len + 1);
		g->ntargets = i + 1;
	}
	return 0;
}

static int sg_from_json(json_t *body, void *obj, struct vr_err *e)
{
	struct security_group *g = obj;

	if (jsonv_check_keys(body, sg_keys, computed_keys, e) ||
	    jsonv_str(body, "id", g->id, sizeof(g->id), NULL, e) ||
	    jsonv_str(body, "name", g->name, sizeof(g->name), NULL, e) ||
	    jsonv_strdup(body, "description", &g->description, DESC_MAX_LEN, e) ||
	    sg_targets_from_json(body, g, e))
		return -1;
	return model_sg_validate(g, e);
}

static json_t *sg_to_json(struct app *app, const void *obj)
{
	const struct security_group *g = obj;
	json_t *o = json_object();
	json_t *targets = json_array();
	size_t i;

	for (i = 0; i < g->ntargets; i++)
		json_array_append_new(targets, json_string(g->targets[i].text));
	json_object_set_new(o, "id", json_string(g->id));
	json_object_set_new(o, "name", json_string(g->name));
	json_object_set_new(o, "description", json_string(g->description ? g->description : ""));
	json_object_set_new(o, "targets", targets);
	json_object_set_new(o, "status", crud_status_json(app, g->id));
	json_object_set_new(o, "created_at", json_string(g->created_at));
	json_object_set_new(o, "updated_at", json_string(g->updated_at));
	return o;
}

static void sg_clear(void *obj)
{
	model_sg_clear(obj);
}
static const char *sg_id(const void *obj)
{
	return ((const struct security_group *)obj)->id;
}
static bool sg_id_valid(const char *text)
{
	return model_id_valid(text, "sg-");
}
static int64_t sg_rev(const void *obj)
{
	return ((const struct security_group *)obj)->rev;
}

const struct crud_resource api_security_groups = {
    .collection = "/v1/security-groups",
    .kind = RECON_SG,
    .store_kind = STORE_SG,
    .size = sizeof(struct security_group),
    .from_json = sg_from_json,
    .to_json = sg_to_json,
    .clear = sg_clear,
    .id = sg_id,
    .id_valid = sg_id_valid,
    .rev = sg_rev,
};

/* ---- security group rules ---- */

static const char *const sgr_keys[] = {
    "id",   "security_group_id",        "direction",   "protocol", "port_from", "port_to",
    "cidr", "remote_security_group_id", "description", NULL};
static const struct crud_filter sgr_filters[] = {
    {"security_group_id", offsetof(struct store_filter, group_id)},
    {"remote_security_group_id", offsetof(struct store_filter, remote_id)},
    {NULL, 0},
};

/* A port as written: any JSON integer (the model checks the range), absent = not given. */
static int port_from_json(json_t *body, const char *key, bool *set, int64_t *dst, struct vr_err *e)
{
	return jsonv_int(body, key, "an integer 1..65535", set, dst, e);
}

/* A required enum field: 422 when absent or not one of its names. */
static int enum_from_json(json_t *body, const char *key, int (*parse)(const char *),
                          const char *names, int *dst, struct vr_err *e)
{
	char text[16];
	bool present = false;

	if (jsonv_str(body, key, text, sizeof(text), &present, e))
		return -1;
	if (!present)
		return err_set(e, VR_ERR_INVALID, key, "%s is required (%s)", key, names);
	*dst = parse(text);
	if (*dst < 0)
		return err_set(e, VR_ERR_INVALID, key, "%s \"%s\" is not one of %s", key, text,
		               names);
	return 0;
}

/* An optional string that, when given, must say something: "" would not echo back. */
static int nonempty_from_json(json_t *body, const char *key, char *dst, size_t len,
                              struct vr_err *e)
{
	bool present = false;

	if (jsonv_str(body, key, dst, len, &present, e))
		return -1;
	if (present && !dst[0])
		return err_set(e, VR_ERR_INVALID, key,
		               "%s is empty; omit it instead (a rule has cidr or "
		               "remote_security_group_id)",
		               key);
	return 0;
}

static int sgr_from_json(json_t *body, void *obj, struct vr_err *e)
{
	struct sg_rule *r = obj;
	int dir = 0, proto = 0;

	if (jsonv_check_keys(body, sgr_keys, computed_keys, e) ||
	    jsonv_str(body, "id", r->id, sizeof(r->id), NULL, e) ||
	    jsonv_str(body, "security_group_id", r->group_id, sizeof(r->group_id), NULL, e) ||
	    enum_from_json(body, "direction", model_sg_direction_parse, "ingress, egress", &dir,
	                   e) ||
	    enum_from_json(body, "protocol", model_sg_protocol_parse, "tcp, udp, icmp, icmpv6, all",
	                   &proto, e) ||
	    port_from_json(body, "port_from", &r->port_from_set, &r->port_from_in, e) ||
	    port_from_json(body, "port_to", &r->port_to_set, &r->port_to_in, e) ||
	    nonempty_from_json(body, "cidr", r->cidr_text, sizeof(r->cidr_text), e) ||
	    nonempty_from_json(body, "remote_security_group_id", r->remote_group_id,
	                       sizeof(r->remote_group_id), e) ||
	    jsonv_strdup(body, "description", &r->description, DESC_MAX_LEN, e))
		return -1;
	r->direction = (enum sg_direction)dir;
	r->protocol = (enum sg_protocol)proto;
	return model_sg_rule_validate(r, e);
}

static json_t *sgr_to_json(struct app *app, const void *obj)
{
	const struct sg_rule *r = obj;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "security_group_id", json_string(r->group_id));
	json_object_set_new(o, "direction", json_string(model_sg_direction_name(r->direction)));
	json_object_set_new(o, "protocol", json_string(model_sg_protocol_name(r->protocol)));
	if (r->port_from_set)
		json_object_set_new(o, "port_from", json_integer(r->port_from_in));
	if (r->port_to_set)
		json_object_set_new(o, "port_to", json_integer(r->port_to_in));
	if (r->cidr_text[0])
		json_object_set_new(o, "cidr", json_string(r->cidr_text));
	if (r->remote_group_id[0])
		json_object_set_new(o, "remote_security_group_id", json_string(r->remote_group_id));
	json_object_set_new(o, "description", json_string(r->description ? r->description : ""));
	json_object_set_new(o, "status", crud_status_json(app, r->id));
	json_object_set_new(o, "created_at", json_string(r->created_at));
	json_object_set_new(o, "updated_at", json_string(r->updated_at));
	return o;
}

static void sgr_clear(void *obj)
{
	model_sg_rule_clear(obj);
}
static const char *sgr_id(const void *obj)
{
	return ((const struct sg_rule *)obj)->id;
}
static bool sgr_id_valid(const char *text)
{
	return model_id_valid(text, "sgr-");
}
static int64_t sgr_rev(const void *obj)
{
	return ((const struct sg_rule *)obj)->rev;
}

const struct crud_resource api_security_group_rules = {
    .collection = "/v1/security-group-rules",
    .kind = RECON_SG_RULE,
    .store_kind = STORE_SGR,
    .size = sizeof(struct sg_rule),
    .from_json = sgr_from_json,
    .to_json = sgr_to_json,
    .clear = sgr_clear,
    .id = sgr_id,
    .id_valid = sgr_id_valid,
    .rev = sgr_rev,
    .filters = sgr_filters,
};
