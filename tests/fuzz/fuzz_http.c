/*
 * A whole request through the HTTP layer, in process: the input is sent as
 * is on a fresh loopback connection to a server run as vrouterd runs it
 * (server/http.c: the front's head checks in http_guard.c and
 * http_frame.c, libmicrohttpd, routing, auth, bodies, the handlers) with a
 * real store and no kernel, like the unit tests' fixture. The sending side
 * then half-closes, and the whole answer is read until the server closes.
 * Every answer must be a 1xx-4xx or a 503 (no kernel here), and the server
 * must close within FUZZ_HTTP_WAIT_S: the client has said all it will, so
 * no exchange may wait for one of the server's deadlines. Inputs that may have written anything are
 * followed by PUT /v1/config {} so that each starts from an empty state.
 * Seeds carry "Authorization: Bearer " FUZZ_TOKEN.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "fuzz.h"
#include "http.h"
#include "http_guard.h"
#include "log.h"
#include "store.h"

#define FUZZ_TOKEN "fuzz0123456789abcdef0123456789ab"
/* Below every deadline (the head's is the shortest), far above any real answer. */
#define FUZZ_HTTP_WAIT_S (HTTP_HEAD_TIMEOUT_S / 2)
#define FUZZ_ANSWER_MAX (16u * 1024 * 1024) /* bytes of answer kept; the rest is read */
#define FUZZ_NO_KERNEL 503                  /* what /v1/interfaces says without one */
/*
 * A known gap, not a pass: a request that follows another on a kept-alive
 * connection is read by libmicrohttpd alone (README: its malformed heads get
 * libmicrohttpd's own answers), which answers an HTTP version other than 1.x
 * with a 505 the front cannot turn into a 400. Allowed there only; a 505
 * anywhere else, or one of the daemon's own, is still a finding.
 */
#define FUZZ_MHD_FOLLOW_UP_VERSION 505

static struct {
	char dir[64];
	char db[96];
	struct app app;
	struct http_server *srv;
	uint16_t port;
} fx;

static void stop(void)
{
	char wal[128], shm[128];

	http_stop(fx.srv);
	store_close(fx.app.store);
	snprintf(wal, sizeof(wal), "%s-wal", fx.db);
	snprintf(shm, sizeof(shm), "%s-shm", fx.db);
	unlink(fx.db);
	unlink(wal);
	unlink(shm);
	rmdir(fx.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vr_err e = {0};

	log_set_level(LOG_LVL_ERROR);
	/* tmpfs where there is one: each write's fsync would cost more than the request. */
	snprintf(fx.dir, sizeof(fx.dir), "%s/vr-fuzz-http-XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	FUZZ_CHECK(mkdtemp(fx.dir), "mkdtemp %s: %s", fx.dir, strerror(errno));
	snprintf(fx.db, sizeof(fx.db), "%s/v.db", fx.dir);
	FUZZ_CHECK(store_open(fx.db, &fx.app.store, &e) == 0, "store_open: %s", e.msg);
	app_init(&fx.app); /* its locks and the write queue */
	pthread_rwlock_init(&fx.app.token_lock, NULL);
	fx.app.tokens.n = 1;
	snprintf(fx.app.tokens.v[0].name, sizeof(fx.app.tokens.v[0].name), "fuzz");
	fx.app.tokens.v[0].scope = TOKEN_WRITE;
	snprintf(fx.app.tokens.v[0].secret, sizeof(fx.app.tokens.v[0].secret), "%s", FUZZ_TOKEN);
	FUZZ_CHECK(http_start(&fx.app, "127.0.0.1:0", &fx.srv, &e) == 0, "http_start: %s", e.msg);
	fx.port = http_port(fx.srv);
	atexit(stop);
	return 0;
}

struct answer {
	char *p;
	size_t len;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Send data on a new connection, half-close, and read until the server closes. */
static void exchange(const uint8_t *data, size_t size, struct answer *a)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(fx.port)};
	double give_up = now_s() + FUZZ_HTTP_WAIT_S;
	size_t off = 0, cap = 0;
	bool sending = true;
	char buf[65536];
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS,
	           "connect: %s", strerror(errno));
	a->p = NULL;
	a->len = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (sending ? POLLOUT : 0)};
		double left = give_up - now_s();
		ssize_t n;

		FUZZ_CHECK(left > 0, "the server did not close within %d s (%zu bytes answered)",
		           FUZZ_HTTP_WAIT_S, a->len);
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0) {
			FUZZ_CHECK(errno == EINTR, "poll: %s", strerror(errno));
			continue;
		}
		if (sending && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = off < size ? send(fd, data + off, size - off, MSG_NOSIGNAL) : 0;
			if (n > 0)
				off += (size_t)n;
			/* Done, or the server stopped reading (it answered, or it cut us off). */
			if (off == size || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				shutdown(fd, SHUT_WR);
				sending = false;
			}
		}
		if (!(p.revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break; /* closed, or reset after an answer to a request it refused */
		if (a->len + (size_t)n + 1 > cap && a->len + (size_t)n < FUZZ_ANSWER_MAX) {
			cap = (a->len + (size_t)n + 1) * 2;
			a->p = realloc(a->p, cap);
			FUZZ_CHECK(a->p, "out of memory");
		}
		if (a->len + (size_t)n + 1 <= cap) {
			memcpy(a->p + a->len, buf, (size_t)n);
			a->len += (size_t)n;
			a->p[a->len] = '\0';
		}
	}
	close(fd);
}

/* Is the answer at s libmicrohttpd's own (not problem+json), as far as its head shows? */
static bool mhd_own(const char *s)
{
	const char *end = strstr(s, "\r\n\r\n");
	const char *type = strstr(s, "application/problem+json");

	return !type || (end && type > end);
}

/*
 * Every status line at the start of a line: no 5xx but the kernel's absence
 * (and FUZZ_MHD_FOLLOW_UP_VERSION's gap). Returns the first.
 */
static int check_statuses(const struct answer *a)
{
	int first = 0;

	for (const char *s = a->p; s && (s = strstr(s, "HTTP/1.")); s++) {
		int st;

		if (s != a->p && s[-1] != '\n')
			continue;
		if (sscanf(s, "HTTP/1.%*[01] %3d", &st) != 1)
			continue;
		FUZZ_CHECK(st >= 100 && (st < 500 || st == FUZZ_NO_KERNEL ||
		                         (st == FUZZ_MHD_FOLLOW_UP_VERSION && first && mhd_own(s))),
		           "answered %d:\n%s", st, s);
		if (!first)
			first = st;
	}
	return first;
}

/* Could data have changed the desired state? (A superset: any write method named.) */
static bool may_write(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"POST", "PUT", "DELETE"};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (memmem(data, size, methods[i], strlen(methods[i])))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char reset[] =
	    "PUT /v1/config HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer " FUZZ_TOKEN
	    "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\n{}";
	struct answer a;

	exchange(data, size, &a);
	check_statuses(&a);
	free(a.p);
	if (may_write(data, size)) {
		exchange((const uint8_t *)reset, sizeof(reset) - 1, &a);
		FUZZ_CHECK(check_statuses(&a) == 200, "emptying the state: %s", a.p ? a.p : "");
		free(a.p);
	}
	return 0;
}
