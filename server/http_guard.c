#include "http_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "http_frame.h"
#include "log.h"

#define GUARD_TICK_MS 200     /* how often the deadlines of MHD's connections are looked at */
#define GUARD_DRAIN_MS 2000   /* a refused request is read (and dropped) this long before close */
#define GUARD_ACCEPT_BATCH 64 /* connections accepted per wake-up */
#define ADDR_KEY_LEN 9        /* family, then 4 bytes (IPv4) or 8 (an IPv6 /64) */

#define STR_(x) #x
#define STR(x) STR_(x) /* a number constant in a message */

#define HTTP_BAD_REQUEST 400
#define HTTP_TIMEOUT 408
#define HTTP_TOO_MANY 429
#define HTTP_UNAVAILABLE 503
#define TLS_HANDSHAKE 0x16 /* the first byte of a TLS handshake record (a ClientHello) */

/* A connection's state word: its phase in the top bits, its deadline (ms) below. */
#define STATE_SHIFT 60
#define STATE_DEADLINE ((UINT64_C(1) << STATE_SHIFT) - 1)
#define PHASE_CUT 15u /* the guard is closing it */

/* A connection MHD serves, from its STARTED to its CLOSED notification. */
struct http_guard_conn {
	struct http_guard_conn *prev, *next;
	int fd; /* MHD's; valid until CLOSED, which takes the guard's lock first */
	uint8_t key[ADDR_KEY_LEN];
	_Atomic uint64_t state;
	unsigned answered;    /* requests answered; only the connection's thread counts */
	_Atomic bool leaving; /* its last answer is queued: it closes after sending it */
};

/* A connection the guard reads itself, until its first request head is whole. */
struct pending {
	int fd;
	uint8_t key[ADDR_KEY_LEN];
	struct sockaddr_storage addr;
	socklen_t alen;
	int64_t deadline; /* ms */
	size_t seen;      /* bytes of head seen so far; SO_RCVLOWAT waits for more */
	bool draining;    /* answered: read and dropped until EOF or the deadline */
};

/* A TLS connection handed to MHD, until MHD reports it started: its first head's deadline. */
struct handoff {
	int fd;
	int64_t deadline; /* ms */
};

struct http_guard {
	int listen_fd;
	bool tls;    /* the port speaks TLS: no plain-text answers but to plain HTTP */
	int wake[2]; /* written to stop the thread */
	pthread_t thread;
	bool running;
	struct MHD_Daemon *d;
	int64_t accept_after; /* ms: out of descriptors, accepting waits a tick */
	pthread_mutex_t lock; /* live, and the descriptors of its connections */
	struct http_guard_conn *live;
	struct handoff hand[HTTP_CONN_LIMIT]; /* under lock */
	size_t nhand;
	/* The thread's own: */
	struct pending pend[HTTP_CONN_LIMIT];
	size_t npend;
	struct pollfd pfd[HTTP_CONN_LIMIT + 2];
	char peek[HTTP_HEAD_MAX + 1];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The address a cap counts by: IPv4 as is, IPv6 by its /64 (one host's usual share). */
static void addr_key(const struct sockaddr *sa, uint8_t key[ADDR_KEY_LEN])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(key, 0, ADDR_KEY_LEN);
	if (sa && sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (!memcmp(a, mapped, sizeof(mapped))) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 8);
		}
	}
}

static unsigned phase_of(uint64_t st)
{
	return (unsigned)(st >> STATE_SHIFT);
}

static bool evictable(unsigned phase)
{
	return phase == HTTP_PHASE_IDLE || phase == HTTP_PHASE_HEAD || phase == HTTP_PHASE_BODY;
}

/* Best effort: a short answer on a socket that is about to be closed. */
static void send_problem(int fd, int status, const char *detail)
{
	size_t len = 0;
	char *text = http_problem_response(status, detail, &len);

	if (text && send(fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("http: answering %d on a refused connection: %s", status,
		          strerror(errno));
	free(text);
}

static void set_lowat(int fd, size_t n)
{
	int v = (int)n;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) < 0)
		log_debug("http: SO_RCVLOWAT %d: %s", v, strerror(errno));
}

/*
 * Close MHD's connection gc, which was in state st (lock held, so its
 * descriptor is still MHD's): a 408 when a request was under way, then a
 * shutdown that MHD's thread sees as the client leaving. false when gc moved
 * on meanwhile (it is no longer late, or someone else cuts it).
 */
static bool live_cut(const struct http_guard *g, struct http_guard_conn *gc, uint64_t st,
                     const char *why)
{
	unsigned phase = phase_of(st);

	if (!atomic_compare_exchange_strong(&gc->state, &st, (uint64_t)PHASE_CUT << STATE_SHIFT))
		return false;
	/* Over TLS the stream is MHD's session: plain bytes in it would only be garbage. */
	if (!g->tls &&
	    (phase == HTTP_PHASE_HEAD || phase == HTTP_PHASE_BODY || phase == HTTP_PHASE_BODY_AUTH))
		send_problem(gc->fd, HTTP_TIMEOUT, why);
	shutdown(gc->fd, SHUT_RDWR);
	log_debug("http: closed connection %d: %s", gc->fd, why);
	return true;
}

static void pending_drop(struct http_guard *g, size_t i)
{
	close(g->pend[i].fd);
	g->pend[i] = g->pend[--g->npend];
}

/* Answer pending connection i with a problem and read what it still sends, briefly. */
static void pending_answer(struct http_guard *g, size_t i, int status, const char *detail,
                           int64_t now)
{
	struct pending *p = &g->pend[i];

	set_lowat(p->fd, 1);
	send_problem(p->fd, status, detail);
	shutdown(p->fd, SHUT_WR);
	p->draining = true;
	p->deadline = now + GUARD_DRAIN_MS;
}

/*
 * Close pending connection i with a last answer: what it sent is read first,
 * so that the close is an orderly one (unread input would make it a reset,
 * which can cost the client the answer). No more time to read: it was slow.
 */
static void pending_close(struct http_guard *g, size_t i, int status, const char *detail)
{
	struct pending *p = &g->pend[i];

	while (recv(p->fd, g->peek, sizeof(g->peek), MSG_DONTWAIT) > 0)
		;
	if (!g->tls) /* a TLS client waiting here has sent nothing yet */
		send_problem(p->fd, status, detail);
	pending_drop(g, i);
}

/* Pending connection i is past its deadline. */
static void pending_late(struct http_guard *g, size_t i)
{
	if (g->pend[i].draining || !g->pend[i].seen) {
		pending_drop(g, i);
		return;
	}
	log_debug("http: a request head did not arrive within %d s", HTTP_HEAD_TIMEOUT_S);
	pending_close(g, i, HTTP_TIMEOUT,
	              "the request head did not arrive within " STR(HTTP_HEAD_TIMEOUT_S) " s");
}

/* Connections from key, and all of them, that are not on their way out. */
static void count(struct http_guard *g, const uint8_t *key, size_t *same, size_t *all)
{
	*same = *all = 0;
	for (size_t i = 0; i < g->npend; i++) {
		(*all)++;
		*same += !memcmp(g->pend[i].key, key, ADDR_KEY_LEN);
	}
	pthread_mutex_lock(&g->lock);
	for (struct http_guard_conn *c = g->live; c; c = c->next) {
		/* One that closes after its last answer: its client may already reconnect. */
		if (phase_of(atomic_load(&c->state)) == PHASE_CUT || atomic_load(&c->leaving))
			continue;
		(*all)++;
		*same += !memcmp(c->key, key, ADDR_KEY_LEN);
	}
	pthread_mutex_unlock(&g->lock);
}

/*
 * Make room: the connection that has been slow the longest (the earliest
 * deadline among those still sending a request head, a body without a token,
 * or idle) is closed. false when every connection is doing useful work.
 */
static bool evict(struct http_guard *g)
{
	ssize_t best_pend = -1;
	struct http_guard_conn *best_live = NULL;
	uint64_t best_st = 0;
	int64_t best = INT64_MAX;
	bool done = false;

	for (size_t i = 0; i < g->npend; i++) {
		if (!g->pend[i].draining && g->pend[i].deadline < best) {
			best = g->pend[i].deadline;
			best_pend = (ssize_t)i;
		}
	}
	pthread_mutex_lock(&g->lock);
	for (struct http_guard_conn *c = g->live; c; c = c->next) {
		uint64_t st = atomic_load(&c->state);

		if (evictable(phase_of(st)) && (int64_t)(st & STATE_DEADLINE) < best) {
			best = (int64_t)(st & STATE_DEADLINE);
			best_live = c;
			best_st = st;
		}
	}
	if (best_live)
		done = live_cut(g, best_live, best_st,
		                "closed to make room: every connection was taken");
	pthread_mutex_unlock(&g->lock);
	if (best_live)
		return done;
	if (best_pend < 0)
		return false;
	log_debug("http: closed a connection still sending its request head, to make room");
	pending_close(g, (size_t)best_pend, HTTP_TIMEOUT,
	              "closed to make room: the request head was too slow to arrive");
	return true;
}

/* Over TLS a refusal is a close: the client expects a handshake, not an HTTP answer. */
static void refuse(const struct http_guard *g, int fd, int status, const char *detail)
{
	if (!g->tls)
		send_problem(fd, status, detail);
	close(fd);
}

static void accept_some(struct http_guard *g, int64_t now)
{
	for (int k = 0; k < GUARD_ACCEPT_BATCH; k++) {
		struct pending p = {.alen = sizeof(p.addr)};
		size_t same, all;

		p.fd = accept4(g->listen_fd, (struct sockaddr *)&p.addr, &p.alen,
		               SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (p.fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The listening socket stays readable: do not spin on it. */
				log_warn("http: accept");
				g->accept_after = now + GUARD_TICK_MS;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			           errno != ECONNABORTED) {
				log_warn("http: accept");
			}
			return;
		}
		addr_key((struct sockaddr *)&p.addr, p.key);
		count(g, p.key, &same, &all);
		if (same >= HTTP_CONN_PER_ADDR) {
			refuse(g, p.fd, HTTP_TOO_MANY,
			       "too many connections from this address (at most " STR(
			           HTTP_CONN_PER_ADDR) "): reuse one, or close some");
			continue;
		}
		if ((all >= HTTP_CONN_LIMIT && !evict(g)) || g->npend == HTTP_CONN_LIMIT) {
			refuse(g, p.fd, HTTP_UNAVAILABLE,
			       "every connection is busy with a request: try again shortly");
			continue;
		}
		p.deadline = now + HTTP_HEAD_TIMEOUT_S * 1000;
		g->pend[g->npend++] = p;
	}
}

/*
 * Remember the deadline of TLS connection fd's first head until MHD reports
 * it started (on MHD's thread). Entries that are past their deadline, or for
 * a descriptor MHD closed before it started, are dropped on the way.
 */
static void handoff_put(struct http_guard *g, int fd, int64_t deadline, int64_t now)
{
	size_t j = 0;

	pthread_mutex_lock(&g->lock);
	for (size_t k = 0; k < g->nhand; k++)
		if (g->hand[k].fd != fd && g->hand[k].deadline > now)
			g->hand[j++] = g->hand[k];
	g->nhand = j;
	if (g->nhand < HTTP_CONN_LIMIT)
		g->hand[g->nhand++] = (struct handoff){.fd = fd, .deadline = deadline};
	pthread_mutex_unlock(&g->lock);
}

/* The deadline handoff_put left for fd, taken (lock held). */
static bool handoff_take(struct http_guard *g, int fd, int64_t *deadline)
{
	for (size_t k = 0; k < g->nhand; k++) {
		if (g->hand[k].fd != fd)
			continue;
		*deadline = g->hand[k].deadline;
		g->hand[k] = g->hand[--g->nhand];
		return true;
	}
	return false;
}

/* Give pending connection i to MHD; a TLS one keeps its accept's deadline for its head. */
static void hand_over(struct http_guard *g, size_t i, int64_t now)
{
	struct pending h = g->pend[i];
	int64_t unused;

	g->pend[i] = g->pend[--g->npend];
	if (g->tls)
		handoff_put(g, h.fd, h.deadline, now);
	/* MHD takes the descriptor over, also when it fails (it closes it then). */
	if (MHD_add_connection(g->d, h.fd, (struct sockaddr *)&h.addr, h.alen) != MHD_YES) {
		log_warn("http: handing a connection to libmicrohttpd");
		if (g->tls) {
			pthread_mutex_lock(&g->lock);
			handoff_take(g, h.fd, &unused);
			pthread_mutex_unlock(&g->lock);
		}
	}
}

/*
 * TLS: pending connection i sent its first byte. A handshake goes to MHD,
 * plain HTTP gets a 400 saying what to use, anything else is closed.
 */
static void pending_tls(struct http_guard *g, size_t i, int64_t now)
{
	unsigned char c;
	ssize_t n = recv(g->pend[i].fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pending_drop(g, i);
		return;
	}
	if (c == TLS_HANDSHAKE) {
		hand_over(g, i, now);
		return;
	}
	if (c >= 'A' && c <= 'Z') { /* a request method */
		log_debug("http: plain HTTP on the TLS port");
		pending_answer(g, i, 400,
		               "this port speaks HTTPS (TLS): plain HTTP is not served here; use "
		               "https://",
		               now);
		return;
	}
	pending_drop(g, i);
}

/*
 * Pending connection i has something to read: more of its head, or its end
 * (ended: the client will send nothing more, though what it sent may remain).
 */
static void pending_read(struct http_guard *g, size_t i, bool ended, int64_t now)
{
	char *buf = g->peek;
	struct pending *p = &g->pend[i];
	struct http_reject e = {0};
	ssize_t n;
	long rc;

	if (p->draining) {
		n = recv(p->fd, buf, sizeof(g->peek), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			pending_drop(g, i);
		return;
	}
	if (g->tls) {
		pending_tls(g, i, now);
		return;
	}
	n = recv(p->fd, buf, HTTP_HEAD_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pending_drop(g, i); /* gone before it asked anything */
		return;
	}
	rc = http_frame_check(buf, (size_t)n, &e);
	if (rc < 0) {
		pending_answer(g, i, e.status, e.msg, now);
		return;
	}
	if (rc == 0 && ended) {
		/* Else it would stay readable, and be read again, for ever. */
		pending_answer(g, i, HTTP_BAD_REQUEST,
		               "the connection ended before the request head did (an empty line "
		               "ends it)",
		               now);
		return;
	}
	if (rc == 0) {
		/* Wake up only when more than this has arrived. */
		p->seen = (size_t)n;
		set_lowat(p->fd, p->seen + 1);
		return;
	}
	if (p->seen)
		set_lowat(p->fd, 1);
	hand_over(g, i, now);
}

/* Close MHD's connections that are past their deadline. */
static void live_scan(struct http_guard *g, int64_t now)
{
	pthread_mutex_lock(&g->lock);
	for (struct http_guard_conn *c = g->live; c; c = c->next) {
		uint64_t st = atomic_load(&c->state);
		unsigned phase = phase_of(st);

		if (phase == PHASE_CUT || phase == HTTP_PHASE_WORK ||
		    (int64_t)(st & STATE_DEADLINE) > now)
			continue;
		live_cut(g, c, st,
		         phase == HTTP_PHASE_IDLE   ? "idle for " STR(HTTP_IDLE_TIMEOUT_S) " s"
		         : phase == HTTP_PHASE_HEAD ? "the request head did not arrive within " STR(
		                                          HTTP_HEAD_TIMEOUT_S) " s"
		                                    : "the request body did not arrive in time");
	}
	pthread_mutex_unlock(&g->lock);
}

static void *guard_main(void *arg)
{
	struct http_guard *g = arg;
	int64_t next_scan = now_ms() + GUARD_TICK_MS;

	for (;;) {
		int64_t now = now_ms(), wait = next_scan - now;
		size_t n = 2;

		g->pfd[0] = (struct pollfd){.fd = g->wake[0], .events = POLLIN};
		g->pfd[1] = (struct pollfd){.fd = now < g->accept_after ? -1 : g->listen_fd,
		                            .events = POLLIN};
		for (size_t i = 0; i < g->npend; i++) {
			g->pfd[n++] =
			    (struct pollfd){.fd = g->pend[i].fd, .events = POLLIN | POLLRDHUP};
			if (g->pend[i].deadline - now < wait)
				wait = g->pend[i].deadline - now;
		}
		if (poll(g->pfd, n, wait < 0 ? 0 : (int)wait) < 0 && errno != EINTR) {
			log_warn("http: poll");
			break;
		}
		if (g->pfd[0].revents)
			break;
		now = now_ms();
		/* Backwards: dropping i moves the last one, already seen, into its place. */
		for (size_t i = g->npend; i-- > 0;) {
			if (g->pfd[i + 2].revents)
				pending_read(g, i, g->pfd[i + 2].revents & (POLLRDHUP | POLLHUP),
				             now);
			else if (now >= g->pend[i].deadline)
				pending_late(g, i);
		}
		if (g->pfd[1].revents & POLLIN)
			accept_some(g, now);
		if (now >= next_scan) {
			live_scan(g, now);
			next_scan = now + GUARD_TICK_MS;
		}
	}
	while (g->npend)
		pending_drop(g, g->npend - 1);
	return NULL;
}

struct http_guard *http_guard_new(int listen_fd, bool tls)
{
	struct http_guard *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	if (pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(g);
		return NULL;
	}
	g->listen_fd = listen_fd;
	g->tls = tls;
	pthread_mutex_init(&g->lock, NULL);
	return g;
}

int http_guard_run(struct http_guard *g, struct MHD_Daemon *d)
{
	int rc;

	g->d = d;
	rc = pthread_create(&g->thread, NULL, guard_main, g);
	if (rc)
		return -rc;
	g->running = true;
	return 0;
}

void http_guard_stop(struct http_guard *g)
{
	if (!g || !g->running)
		return;
	if (write(g->wake[1], "x", 1) < 0)
		log_warn("http: waking the accepting thread");
	pthread_join(g->thread, NULL);
	g->running = false;
}

void http_guard_free(struct http_guard *g)
{
	if (!g)
		return;
	http_guard_stop(g);
	close(g->listen_fd);
	close(g->wake[0]);
	close(g->wake[1]);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static uint64_t state_at(enum http_phase p, int64_t deadline)
{
	return (uint64_t)p << STATE_SHIFT | ((uint64_t)deadline & STATE_DEADLINE);
}

static uint64_t state_for(enum http_phase p, size_t expect)
{
	int64_t now = now_ms(), deadline;

	switch (p) {
	case HTTP_PHASE_IDLE: deadline = now + HTTP_IDLE_TIMEOUT_S * 1000; break;
	case HTTP_PHASE_HEAD: deadline = now + HTTP_HEAD_TIMEOUT_S * 1000; break;
	case HTTP_PHASE_BODY:
	case HTTP_PHASE_BODY_AUTH:
		deadline = now + HTTP_BODY_TIMEOUT_S * 1000 +
		           (int64_t)(expect / (HTTP_BODY_MIN_RATE / 1000));
		break;
	default: deadline = 0; break;
	}
	return state_at(p, deadline);
}

void http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe)
{
	struct http_guard *g = cls;
	struct http_guard_conn *gc = *socket_context;
	int64_t deadline;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		gc = calloc(1, sizeof(*gc));
		if (!gc || !fd) {
			/* Served, but not watched: no worse than before the guard. */
			log_warnx("http: a connection goes unwatched (out of memory)");
			free(gc);
			return;
		}
		gc->fd = fd->connect_fd;
		addr_key(addr ? addr->client_addr : NULL, gc->key);
		pthread_mutex_lock(&g->lock);
		/* A TLS connection's handshake and first head count from its accept. */
		atomic_init(&gc->state, handoff_take(g, gc->fd, &deadline)
		                            ? state_at(HTTP_PHASE_HEAD, deadline)
		                            : state_for(HTTP_PHASE_HEAD, 0));
		gc->next = g->live;
		if (g->live)
			g->live->prev = gc;
		g->live = gc;
		pthread_mutex_unlock(&g->lock);
		*socket_context = gc;
		return;
	}
	if (!gc)
		return;
	pthread_mutex_lock(&g->lock);
	if (gc->prev)
		gc->prev->next = gc->next;
	else
		g->live = gc->next;
	if (gc->next)
		gc->next->prev = gc->prev;
	pthread_mutex_unlock(&g->lock);
	*socket_context = NULL;
	free(gc);
}

struct http_guard_conn *http_guard_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

bool http_guard_answered(struct http_guard_conn *gc)
{
	if (!gc || ++gc->answered < HTTP_KEEPALIVE_REQUESTS)
		return false;
	atomic_store(&gc->leaving, true);
	return true;
}

bool http_guard_phase(struct http_guard_conn *gc, enum http_phase p, size_t expect)
{
	uint64_t st, next = state_for(p, expect);

	if (!gc)
		return true;
	st = atomic_load(&gc->state);
	do {
		if (phase_of(st) == PHASE_CUT)
			return false;
		if (p == HTTP_PHASE_HEAD && phase_of(st) == HTTP_PHASE_HEAD)
			return true;
	} while (!atomic_compare_exchange_weak(&gc->state, &st, next));
	return true;
}
