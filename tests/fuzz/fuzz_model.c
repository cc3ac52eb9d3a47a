/*
 * Request bodies into the model: the JSON is read as the HTTP layer reads a
 * body and handed to every resource's from_json (server/api_*.c, which ends
 * in core/model.c's validation) and to the settings'. A refusal must be a
 * 400 or 422 that says something; an object accepted must read back
 * unchanged from the JSON a GET shows for it.
 */
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "fuzz.h"
#include "http.h"
#include "model.h"

static const struct crud_resource *const resources[] = {
    &api_route_tables, &api_routes, &api_subnets, &api_security_groups, &api_security_group_rules,
};

static void check_refusal(const char *what, const struct vr_err *e)
{
	int status = http_status_of(e->code);

	FUZZ_CHECK(status == 400 || status == 422, "%s: refused with %d: %s", what, status, e->msg);
	FUZZ_CHECK(e->msg[0], "%s: refused (%d) without a word", what, status);
}

/* What a GET shows for obj, without the kernel's status (no reconciler here). */
static json_t *shown(const struct crud_resource *rs, void *obj)
{
	static struct app no_kernel;

	/* The store gives a route table without a number one of its own. */
	if (rs == &api_route_tables && !((struct route_table *)obj)->table)
		((struct route_table *)obj)->table = RTB_AUTO_FIRST;
	return rs->to_json(&no_kernel, obj);
}

static void check_resource(const struct crud_resource *rs, json_t *body)
{
	void *obj = calloc(1, rs->size), *back = calloc(1, rs->size);
	struct vr_err e = {0};
	json_t *j1 = NULL, *j2 = NULL;

	FUZZ_CHECK(obj && back, "out of memory");
	if (rs->from_json(body, obj, &e)) {
		check_refusal(rs->collection, &e);
		goto out;
	}
	j1 = shown(rs, obj);
	FUZZ_CHECK(j1, "%s: no JSON for an accepted object", rs->collection);
	FUZZ_CHECK(rs->from_json(j1, back, &e) == 0, "%s: its own JSON is refused: %d %s: %s",
	           rs->collection, http_status_of(e.code), e.field, e.msg);
	j2 = shown(rs, back);
	if (!json_equal(j1, j2)) {
		char *a = json_dumps(j1, JSON_COMPACT | JSON_SORT_KEYS);
		char *b = json_dumps(j2, JSON_COMPACT | JSON_SORT_KEYS);

		FUZZ_CHECK(0, "%s: %s reads back as %s", rs->collection, a, b);
	}
out:
	json_decref(j1);
	json_decref(j2);
	rs->clear(obj);
	rs->clear(back);
	free(obj);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As server/http.c parses a request body. */
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	struct settings set = {0};
	struct vr_err e = {0};

	if (!body)
		return 0;
	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
		check_resource(resources[i], body);
	if (api_settings_from_json(body, &set, &e))
		check_refusal("settings", &e);
	json_decref(body);
	return 0;
}
