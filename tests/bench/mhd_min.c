/*
 * mhd_min: the anchor of the api-rps benchmark. The least a libmicrohttpd
 * server can do to answer like vrouterd: same threading flags and options as
 * server/http.c (one internal polling thread, a thread per connection,
 * poll(), 256 connections, 30 s timeout), and for every request that carries
 * the expected Authorization header, the same response bytes vrouterd sent
 * for GET /v1/routes/{id} (body and Content-Type, ETag captured from it).
 * Without the header: 401 with an empty body.
 *
 *   mhd_min -l ADDR:PORT -b BODY_FILE -a "Bearer TOKEN" [-c CONTENT_TYPE]
 *           [-e ETAG] [-d MAXSECS]
 *
 * Runs until SIGTERM/SIGINT, or MAXSECS (default 600) at most.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The same as server/http.c. */
#define HTTP_CONN_LIMIT 256
#define HTTP_CONN_TIMEOUT_S 30

static char *body;
static size_t body_len;
static const char *auth, *content_type = "application/json", *etag;
static volatile sig_atomic_t stop;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
	struct MHD_Response *r;
	const char *h;
	enum MHD_Result ret;
	static int marker;

	(void)cls, (void)url, (void)method, (void)version, (void)upload;
	if (*state == NULL) { /* first call: headers only */
		*state = &marker;
		return MHD_YES;
	}
	if (*upload_size) { /* a body is ignored */
		*upload_size = 0;
		return MHD_YES;
	}
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strcmp(h, auth)) {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED, r);
		MHD_destroy_response(r);
		return ret;
	}
	r = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (etag)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: mhd_min -l ADDR:PORT -b BODY_FILE -a AUTH_HEADER_VALUE "
	                "[-c CONTENT_TYPE] [-e ETAG] [-d MAXSECS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *listen_at = NULL, *body_file = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct sigaction sig = {.sa_handler = on_signal};
	struct MHD_Daemon *d;
	char host[64], *colon;
	double maxsecs = 600;
	time_t end;
	FILE *f;
	long n;
	int opt;

	while ((opt = getopt(argc, argv, "l:b:a:c:e:d:")) != -1) {
		switch (opt) {
		case 'l': listen_at = optarg; break;
		case 'b': body_file = optarg; break;
		case 'a': auth = optarg; break;
		case 'c': content_type = optarg; break;
		case 'e': etag = optarg; break;
		case 'd': maxsecs = atof(optarg); break;
		default: usage();
		}
	}
	if (!listen_at || !body_file || !auth || maxsecs <= 0 || maxsecs > 3600)
		usage();
	snprintf(host, sizeof(host), "%s", listen_at);
	colon = strrchr(host, ':');
	if (!colon)
		usage();
	*colon = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		usage();

	f = fopen(body_file, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "mhd_min: cannot read %s: %s\n", body_file, strerror(errno));
		return 1;
	}
	body = malloc((size_t)n + 1);
	if (!body || fread(body, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "mhd_min: cannot read %s\n", body_file);
		return 1;
	}
	fclose(f);
	body_len = (size_t)n;

	sigaction(SIGINT, &sig, NULL);
	sigaction(SIGTERM, &sig, NULL);
	d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
	    NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HTTP_CONN_TIMEOUT_S, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_min: cannot listen on %s\n", listen_at);
		return 1;
	}
	fprintf(stderr, "mhd_min: listening on %s, %zu-byte body\n", listen_at, body_len);
	end = time(NULL) + (time_t)maxsecs;
	while (!stop && time(NULL) < end)
		usleep(100 * 1000);
	MHD_stop_daemon(d);
	free(body);
	return 0;
}
