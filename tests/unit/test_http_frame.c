/* server/http_frame.c: request heads as clients (and attackers) send them. No sockets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_frame.h"

struct frame_case {
	const char *head;
	int want; /* 1: complete, 0: needs more, else the error status */
	const char *msg;
};

static const struct frame_case cases[] = {
    {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1, NULL},
    {"GET /healthz HTTP/1.0\r\n\r\n", 1, NULL},
    {"GET /healthz HTTP/1.1\nHost: x\n\n", 1, NULL},
    {"HEAD /v1/routes?limit=5 HTTP/1.1\r\nHost: x\r\n\r\n", 1, NULL},
    {"POST /v1/routes HTTP/1.1\r\nContent-Length: 12\r\ncontent-length:  12 \r\n\r\n", 1, NULL},
    {"POST /v1/routes HTTP/1.1\r\nContent-Length: 0012\r\n\r\n", 1, NULL},
    {"POST /v1/routes HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", 1, NULL},
    {"GET /v1/routes/rt-1%2Fx HTTP/1.1\r\nUser-Agent: a\tb\r\n\r\n", 1, NULL},
    {"GET /healthz HTTP/1.1\r\nHost: x\r\n", 0, NULL},
    {"GET /healthz HTTP/1.1\r\nHost: x", 0, NULL},
    {"GET /hea", 0, NULL},
    {"", 0, NULL},
    /* Content-Length */
    {"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "Content-Length \"abc\""},
    {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "not a number"},
    {"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400, "not a number"},
    {"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "not a number"},
    {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "empty"},
    {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 60\r\n\r\n", 400,
     "given twice, as 5 and 60"},
    {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, "too large"},
    {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
     "both Content-Length and Transfer-Encoding"},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400, "only one, chunked"},
    /* header lines */
    {"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "has no name: value"},
    {"GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "has no name"},
    {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "is not a token"},
    {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "folding"},
    {"GET / HTTP/1.1\r\nX: a\001b\r\n\r\n", 400, "control byte (0x01)"},
    {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "control byte (0x0d)"},
    /* request line */
    {"\r\nGET / HTTP/1.1\r\n\r\n", 400, "is not METHOD TARGET"},
    {"GET /\r\n\r\n", 400, "is not METHOD TARGET"},
    {"GET  / HTTP/1.1\r\n\r\n", 400, "is not METHOD TARGET"},
    {"G(T / HTTP/1.1\r\n\r\n", 400, "is not a token"},
    {"GET / HTTP/2.0\r\n\r\n", 400, "HTTP/2.0 is not supported"},
    {"GET / HTTP/1.2\r\n\r\n", 400, "HTTP/1.2"},
    {"GET / HTTPS/1.1\r\n\r\n", 400, "not an HTTP version"},
    {"GET / HTTP/1.1 x\r\n\r\n", 400, "not an HTTP version"},
    /* targets */
    {"DELETE /v1/routes/rt-1%00junk HTTP/1.1\r\n\r\n", 400, "%00"},
    {"GET /v1/routes?after=rt-1%0ax HTTP/1.1\r\n\r\n", 400, "%0a"},
    {"GET /v1/routes/rt-1%7F HTTP/1.1\r\n\r\n", 400, "%7F"},
    {"GET /v1/routes/rt-1%1f HTTP/1.1\r\n\r\n", 400, "encodes a control byte"},
    {"GET /a\001b HTTP/1.1\r\n\r\n", 400, "control byte (0x01"},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct frame_case *c = &cases[i];
		struct http_reject e = {0};
		size_t len = strlen(c->head);
		long rc = http_frame_check(c->head, len, &e);
		int got = rc > 0 ? 1 : rc == 0 ? 0 : e.status;

		if (got != c->want || (c->msg && !strstr(e.msg, c->msg)))
			fail_msg("case %zu \"%s\": got %d (%ld) \"%s\", want %d \"%s\"", i, c->head,
			         got, rc, e.msg, c->want, c->msg ? c->msg : "");
		if (rc > 0)
			assert_int_equal(rc, (long)len);
	}
}

/* A complete head is measured without what follows it (a body, a pipelined request). */
static void test_head_length(void **state)
{
	const char *req =
	    "POST /v1/routes HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n";
	struct http_reject e = {0};

	(void)state;
	assert_int_equal(http_frame_check(req, strlen(req), &e), (long)(strstr(req, "{}") - req));
}

/* Limits: target, path, head. */
static void test_limits(void **state)
{
	char *buf = malloc(HTTP_HEAD_MAX + 64);
	struct http_reject e = {0};
	size_t n;

	(void)state;
	/* A path of HTTP_PATH_MAX bytes: 414. */
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', HTTP_PATH_MAX - 1);
	n += HTTP_PATH_MAX - 1;
	n += (size_t)sprintf(buf + n, " HTTP/1.1\r\n\r\n");
	assert_int_equal(http_frame_check(buf, n, &e), -1);
	assert_int_equal(e.status, 414);
	/* One byte less: fine. */
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', HTTP_PATH_MAX - 2);
	n += HTTP_PATH_MAX - 2;
	n += (size_t)sprintf(buf + n, " HTTP/1.1\r\n\r\n");
	assert_true(http_frame_check(buf, n, &e) > 0);
	/* A long query: 414 above HTTP_TARGET_MAX, and already before the line ends. */
	n = (size_t)sprintf(buf, "GET /v1/routes?x=");
	memset(buf + n, 'a', HTTP_TARGET_MAX + 100);
	n += HTTP_TARGET_MAX + 100;
	e = (struct http_reject){0};
	assert_int_equal(http_frame_check(buf, n, &e), -1);
	assert_int_equal(e.status, 414);
	/* A head with no end within HTTP_HEAD_MAX: 431. */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
	while (n < HTTP_HEAD_MAX + 8)
		n += (size_t)sprintf(buf + n, "X-Filler: %028d\r\n", 0);
	e = (struct http_reject){0};
	assert_int_equal(http_frame_check(buf, n, &e), -1);
	assert_int_equal(e.status, 431);
	/* The same, still arriving below the limit: more is needed. */
	assert_int_equal(http_frame_check(buf, HTTP_HEAD_MAX - 100, &e), 0);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_head_length),
	    cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
