/* The in-process server fixture and HTTP client shared by the test_http*.c programs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_kernel.h"
#include "http.h"
#include "http_client.h"
#include "recon.h"
#include "store.h"

void reply_free(struct reply *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* The body of a chunked answer (a streamed one), its chunks joined; cut short: what came. */
static char *dechunk(const char *p)
{
	char *out = malloc(strlen(p) + 1), *end;
	size_t len = 0;
	unsigned long n;

	while ((n = strtoul(p, &end, 16)) > 0 && (end = strstr(end, "\r\n")) &&
	       strlen(end + 2) >= n + 2) {
		memcpy(out + len, end + 2, n);
		len += n;
		p = end + 2 + n + 2;
	}
	out[len] = '\0';
	return out;
}

void request(struct fixture *f, const char *method, const char *path, const char *auth,
             const char *ctype, const char *body, size_t body_len, const char *extra,
             struct reply *out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	char head[2048];
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;
	char *sep;

	memset(out, 0, sizeof(*out));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(head, sizeof(head),
	         "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s%s%s%sContent-Length: "
	         "%zu\r\n\r\n",
	         method, path, auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "",
	         ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
	         body ? body_len : 0);
	if (extra) {
		/* splice extra headers before the blank line */
		char *end = strstr(head, "Content-Length:");
		char tmp[2048];

		snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(end - head), head, extra, end);
		snprintf(head, sizeof(head), "%s", tmp);
	}
	assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
	if (body && body_len) {
		size_t off = 0;

		while (off < body_len) {
			n = write(fd, body + off, body_len - off);
			if (n <= 0)
				break; /* the server may close early (413) */
			off += (size_t)n;
		}
	}
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	buf[len] = '\0';
	assert_true(sscanf(buf, "HTTP/1.1 %d", &out->status) == 1);
	sep = strstr(buf, "\r\n\r\n");
	assert_non_null(sep);
	snprintf(out->headers, sizeof(out->headers), "%.*s", (int)(sep - buf), buf);
	out->body = strcasestr(out->headers, "\r\nTransfer-Encoding: chunked") ? dechunk(sep + 4)
	                                                                       : strdup(sep + 4);
	out->json = json_loads(out->body, 0, NULL);
	free(buf);
}

void call(struct fixture *f, const char *method, const char *path, const char *body,
          struct reply *out)
{
	request(f, method, path, "Bearer " TOKEN, body ? "application/json" : NULL, body,
	        body ? strlen(body) : 0, NULL, out);
}

const char *jstr(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_string_value(v);
}

const char *err_field(const struct reply *r)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "field"));
}

int http_fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	snprintf(f->dir, sizeof(f->dir), "/tmp/vr-http-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/v.db", f->dir);
	assert_int_equal(store_open(f->db, &f->app.store, &e), 0);
	app_init(&f->app);
	f->app.tokens.n = 1;
	snprintf(f->app.tokens.v[0].name, sizeof(f->app.tokens.v[0].name), "test");
	f->app.tokens.v[0].scope = TOKEN_WRITE;
	snprintf(f->app.tokens.v[0].secret, sizeof(f->app.tokens.v[0].secret), "%s", TOKEN);
	assert_int_equal(http_start(&f->app, "127.0.0.1:0", &f->srv, &e), 0);
	f->port = http_port(f->srv);
	assert_true(f->port > 0);
	*state = f;
	return 0;
}

int http_fixture_teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	http_stop(f->srv);
	store_close(f->app.store);
	pthread_mutex_destroy(&f->app.store_lock);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

int http_fixture_setup_recon(void **state, int apply_timeout_ms)
{
	struct fixture *f;
	struct vr_err e = {0};

	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	pthread_cond_init(&fk.gate, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	http_fixture_setup(state);
	f = *state;
	f->app.apply_timeout_ms = apply_timeout_ms;
	assert_int_equal(recon_start(f->db, &fake_ops, 60000, NULL, &f->app.recon, &e), 0);
	return 0;
}

int http_fixture_teardown_recon(void **state)
{
	struct fixture *f = *state;

	http_stop(f->srv);
	f->srv = NULL;
	/* A test that failed with the fake kernel held must not leave the reconciler stuck in it.
	 */
	pthread_mutex_lock(&fk.lock);
	fk.hold = false;
	pthread_cond_broadcast(&fk.gate);
	pthread_mutex_unlock(&fk.lock);
	recon_stop(f->app.recon);
	close(fk.efd);
	return http_fixture_teardown(state);
}

/* The number of items a GET of path lists (all of them: path has no limit yet). */
size_t count_items(struct fixture *f, const char *path)
{
	struct reply r;
	char p[256];
	size_t n;

	snprintf(p, sizeof(p), "%s%slimit=1000", path, strchr(path, '?') ? "&" : "?");
	call(f, "GET", p, NULL, &r);
	assert_int_equal(r.status, 200);
	n = json_array_size(json_object_get(r.json, "items"));
	reply_free(&r);
	return n;
}

json_int_t status_revision(struct fixture *f)
{
	struct reply r;
	json_int_t rev;

	call(f, "GET", "/v1/status", NULL, &r);
	assert_int_equal(r.status, 200);
	rev = json_integer_value(json_object_get(r.json, "desired_revision"));
	reply_free(&r);
	assert_true(rev > 0);
	return rev;
}

/* POST body to path, expect status, and return the new object's id (malloc'd) or NULL. */
char *post_id(struct fixture *f, const char *path, const char *body, int status)
{
	struct reply r;
	char *id = NULL;

	call(f, "POST", path, body, &r);
	if (r.status != status)
		fail_msg("POST %s %s -> %d %s, want %d", path, body, r.status, r.body, status);
	if (jstr(r.json, "id", NULL))
		id = strdup(jstr(r.json, "id", NULL));
	reply_free(&r);
	return id;
}

void expect_status(struct fixture *f, const char *method, const char *path, const char *body,
                   int status)
{
	struct reply r;

	call(f, method, path, body, &r);
	if (r.status != status)
		fail_msg("%s %s %s -> %d %s, want %d", method, path, body ? body : "", r.status,
		         r.body, status);
	reply_free(&r);
}

/* The ETag header of r ("" when there is none). */
static void reply_etag(const struct reply *r, char *buf, size_t size)
{
	const char *h = strstr(r->headers, "ETag: ");
	size_t n;

	buf[0] = '\0';
	if (!h)
		return;
	h += strlen("ETag: ");
	n = strcspn(h, "\r\n");
	snprintf(buf, size, "%.*s", (int)n, h);
}

void expect_put_unchanged(struct fixture *f, const char *path, const struct reply *got)
{
	char *again = json_dumps(got->json, 0);
	json_int_t rev = status_revision(f);
	char before[128], after[128];
	struct reply r;

	reply_etag(got, before, sizeof(before));
	assert_true(before[0]);
	call(f, "PUT", path, again, &r);
	if (r.status != 200)
		fail_msg("PUT %s %s -> %d %s, want 200", path, again, r.status, r.body);
	reply_etag(&r, after, sizeof(after));
	assert_string_equal(after, before);
	assert_string_equal(jstr(r.json, "updated_at", NULL), jstr(got->json, "updated_at", NULL));
	reply_free(&r);
	free(again);
	assert_int_equal(status_revision(f), rev);
}
