/*
 * The front of the HTTP server: its own listening socket and one thread that
 * accepts, caps connections per client address and in all, reads each new
 * connection's first request head (bounded in time and size) and answers a
 * malformed one with problem+json itself, and only then hands the connection
 * to libmicrohttpd. It keeps watching the connections MHD serves and cuts
 * those that take too long to send a request's head or body, so slow clients
 * cannot hold every slot: when all are taken, the slowest one gives way.
 *
 * Over TLS the head is encrypted: the guard then reads only the first byte,
 * hands a TLS handshake to libmicrohttpd at once (the handshake and the
 * first head still have HTTP_HEAD_TIMEOUT_S from the accept), answers plain
 * HTTP with a 400 saying the port speaks TLS, and sends no plain-text
 * answer into a TLS connection: refusals (caps) and cuts (deadlines) close
 * it without one. Malformed heads are then libmicrohttpd's to answer.
 */
#ifndef VR_HTTP_GUARD_H
#define VR_HTTP_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#define HTTP_CONN_LIMIT 256             /* connections in all, being read or served */
#define HTTP_CONN_PER_ADDR 32           /* from one IPv4 address or one IPv6 /64 */
#define HTTP_HEAD_TIMEOUT_S 10          /* a request line and its headers, from the first byte */
#define HTTP_IDLE_TIMEOUT_S 30          /* a kept-alive connection waiting for its next request */
#define HTTP_BODY_TIMEOUT_S 30          /* a request body, plus its size at HTTP_BODY_MIN_RATE */
#define HTTP_BODY_MIN_RATE (256 * 1024) /* bytes per second */
/*
 * Requests one kept-alive connection serves; the answer to the last says
 * Connection: close (as nginx's keepalive_requests). A connection is a
 * thread here, and a thread keeps what it freed in its own malloc cache
 * until it ends: recycling bounds that, and the client simply reconnects.
 */
#define HTTP_KEEPALIVE_REQUESTS 1000

struct http_guard;
struct http_guard_conn;

/*
 * Where a connection served by MHD is. A request head that arrives, a body
 * being received, and a kept-alive connection waiting for its next request
 * each have a deadline; a request being handled or answered has none (MHD's
 * own inactivity timeout covers a client that stops reading).
 */
enum http_phase {
	HTTP_PHASE_IDLE,      /* waiting for the next request line */
	HTTP_PHASE_HEAD,      /* request line read, headers arriving */
	HTTP_PHASE_BODY,      /* receiving a body, not authenticated: may give way */
	HTTP_PHASE_BODY_AUTH, /* receiving an authenticated request's body */
	HTTP_PHASE_WORK,      /* handling the request, sending the answer */
};

/*
 * A guard for listen_fd (bound, listening); it takes the descriptor over.
 * tls: the port speaks TLS (see above). NULL: no memory.
 */
struct http_guard *http_guard_new(int listen_fd, bool tls);
/* Start accepting for d (whose MHD_OPTION_NOTIFY_CONNECTION is http_guard_notify). 0 or -errno. */
int http_guard_run(struct http_guard *g, struct MHD_Daemon *d) __attribute__((warn_unused_result));
/* Stop accepting: the thread ends, connections not yet handed to MHD are closed. */
void http_guard_stop(struct http_guard *g);
/* Free g, after MHD_stop_daemon (MHD reports closing connections to it until then). NULL-safe. */
void http_guard_free(struct http_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the guard. */
void http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);
/* The guard's record of connection c (NULL if it has none). */
struct http_guard_conn *http_guard_conn_of(struct MHD_Connection *c);
/*
 * Connection gc moves to phase p; expect is the body size for the BODY phases
 * (its deadline grows with it). A connection already in HTTP_PHASE_HEAD keeps
 * its deadline (a new connection's first head counts from its accept). false
 * when the guard is cutting the connection (past its deadline, or giving
 * way): the request must not go on.
 */
bool http_guard_phase(struct http_guard_conn *gc, enum http_phase p, size_t expect);
/*
 * Count an answer on gc (called by the connection's own thread, once per
 * request): true when it is the connection's HTTP_KEEPALIVE_REQUESTS-th, so
 * the connection closes after it; from then on it no longer counts against
 * its address's or the server's limits (its client may reconnect before the
 * close is done). false for NULL.
 */
bool http_guard_answered(struct http_guard_conn *gc);

#endif
