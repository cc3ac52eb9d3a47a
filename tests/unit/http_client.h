/*
 * A vrouterd HTTP server in-process on loopback, with a real store in a temp
 * directory and no kernel (no reconciler: objects stay "pending"), and a tiny
 * client for it. Shared by the test_http*.c programs.
 */
#ifndef VR_TEST_HTTP_CLIENT_H
#define VR_TEST_HTTP_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

struct http_server;

struct fixture {
	char dir[64];
	char db[128];
	struct app app;
	struct http_server *srv;
	uint16_t port;
};

struct reply {
	int status;
	char headers[4096];
	char *body;
	json_t *json; /* NULL when the body is not JSON */
};

/* cmocka group setup/teardown: *state is a struct fixture with the server running. */
int http_fixture_setup(void **state);
int http_fixture_teardown(void **state);
/*
 * The same with a reconciler on the fake kernel (fk, zeroed first), writes
 * waiting at most apply_timeout_ms for their apply.
 */
int http_fixture_setup_recon(void **state, int apply_timeout_ms);
int http_fixture_teardown_recon(void **state);

void reply_free(struct reply *r);
/*
 * One request over a fresh connection. auth and ctype are header values or
 * NULL; extra is inserted as extra header lines ("If-Match: ...\r\n").
 */
void request(struct fixture *f, const char *method, const char *path, const char *auth,
             const char *ctype, const char *body, size_t body_len, const char *extra,
             struct reply *out);
/* request with the right token and, when body is non-NULL, application/json. */
void call(struct fixture *f, const char *method, const char *path, const char *body,
          struct reply *out);
/* The string at o.path1(.path2), or NULL. */
const char *jstr(json_t *o, const char *path1, const char *path2);
/* The first validation error's field, or NULL. */
const char *err_field(const struct reply *r);

/* The number of items a GET of path lists (all of them: path has no limit yet). */
size_t count_items(struct fixture *f, const char *path);
/* GET /v1/status's desired_revision, asserted positive. */
json_int_t status_revision(struct fixture *f);
/* POST body to path, expect status, and return the new object's id (malloc'd) or NULL. */
char *post_id(struct fixture *f, const char *path, const char *body, int status);
/*
 * PUT the JSON of a GET's reply got back to path: 200 with the same ETag and
 * updated_at, and the same desired revision: a write that changes nothing.
 */
void expect_put_unchanged(struct fixture *f, const char *path, const struct reply *got);
/* method path body (NULL: none), failing the test unless the reply has status. */
void expect_status(struct fixture *f, const char *method, const char *path, const char *body,
                   int status);

#endif
