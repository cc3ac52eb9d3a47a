/*
 * A slow HTTP client for test_http_hostile.sh: opens N connections from each
 * of some source addresses and never finishes its requests, sending one more
 * header line (or one more body byte) every interval, like the attack of
 * issue 9 (one header line every 10 s). Reports how the server treated them,
 * as key=value words on one line:
 *
 *   slow_client -p PORT -s 127.0.0.2,127.0.0.3 -n 30 [-i MS] [-d S] [-b LEN]
 *
 *   conns      connections opened
 *   refused    answered 429 or 503 within a second of opening (a cap said no)
 *   timeout    answered 408 (a deadline cut them)
 *   silent     closed without an answer
 *   open       still open when -d seconds were up
 *   alive_min / alive_max   seconds from open to close of those not refused
 *
 * -b LEN: send a whole head announcing a body of LEN bytes, then the body slowly.
 * -k: send one whole request first, then the head of a second one slowly (a
 *     kept-alive connection; status is the last answer's).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096

struct conn {
	int fd;
	double opened, closed;
	int status; /* the last status line seen, 0: none */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void close_conn(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->closed = now();
}

/* Note the status of every answer that starts in buf (n bytes). */
static void saw(struct conn *c, char *buf, size_t n)
{
	buf[n] = '\0';
	for (char *p = buf; (p = strstr(p, "HTTP/1.1 ")); p++)
		sscanf(p, "HTTP/1.1 %d", &c->status);
}

int main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	static struct pollfd pfd[MAX_CONNS];
	const char *srcs = "127.0.0.2";
	int port = 8080, per = 1, interval = 2000, duration = 20, opt;
	long body = -1;
	int keep = 0;
	char head[256], *list, *src, *save = NULL;
	size_t n = 0;
	double start, next;
	int refused = 0, timeout = 0, silent = 0, open = 0;
	double amin = 1e9, amax = 0;

	while ((opt = getopt(argc, argv, "p:s:n:i:d:b:k")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 's': srcs = optarg; break;
		case 'n': per = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 'd': duration = atoi(optarg); break;
		case 'b': body = atol(optarg); break;
		case 'k': keep = 1; break;
		default:
			fprintf(
			    stderr,
			    "usage: %s -p PORT -s SRC[,SRC] -n N [-i MS] [-d S] [-b LEN] [-k]\n",
			    argv[0]);
			return 2;
		}
	}
	if (body >= 0)
		snprintf(head, sizeof(head),
		         "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %ld\r\n\r\n", body);
	else if (keep)
		snprintf(
		    head, sizeof(head),
		    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n");
	else
		snprintf(head, sizeof(head), "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	list = strdup(srcs);
	for (src = strtok_r(list, ",", &save); src; src = strtok_r(NULL, ",", &save)) {
		for (int i = 0; i < per && n < MAX_CONNS; i++) {
			struct sockaddr_in from = {.sin_family = AF_INET},
			                   to = {.sin_family = AF_INET};
			struct conn *c = &conns[n];

			inet_pton(AF_INET, src, &from.sin_addr);
			inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
			to.sin_port = htons((uint16_t)port);
			c->fd = socket(AF_INET, SOCK_STREAM, 0);
			if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
			    connect(c->fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
				perror(src);
				return 1;
			}
			fcntl(c->fd, F_SETFL, O_NONBLOCK);
			c->opened = now();
			if (send(c->fd, head, strlen(head), MSG_NOSIGNAL) < 0)
				close_conn(c);
			n++;
		}
	}
	free(list);
	start = now();
	next = start + interval / 1000.0;
	while (now() < start + duration) {
		size_t k = 0;
		int wait = (int)((next - now()) * 1000);

		for (size_t i = 0; i < n; i++)
			if (conns[i].fd >= 0)
				pfd[k++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
		if (k == 0)
			break;
		poll(pfd, k, wait > 0 ? wait : 0);
		for (size_t i = 0, j = 0; i < n; i++) {
			struct conn *c = &conns[i];
			char buf[4096];
			ssize_t r;

			if (c->fd < 0)
				continue;
			if (!pfd[j++].revents)
				continue;
			r = recv(c->fd, buf, sizeof(buf) - 1, 0);
			if (r > 0) {
				saw(c, buf, (size_t)r);
				continue;
			}
			if (r < 0 && errno == EAGAIN)
				continue;
			close_conn(c);
		}
		if (now() >= next) {
			for (size_t i = 0; i < n; i++) {
				struct conn *c = &conns[i];
				const char *more = body >= 0 ? "x" : "X-Slow: 1\r\n";

				if (c->fd >= 0 &&
				    send(c->fd, more, strlen(more), MSG_NOSIGNAL) < 0 &&
				    errno != EAGAIN)
					close_conn(c);
			}
			next += interval / 1000.0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct conn *c = &conns[i];
		double alive;

		if (c->fd >= 0) {
			open++;
			continue;
		}
		alive = c->closed - c->opened;
		if ((c->status == 429 || c->status == 503) && alive < 1.0) {
			refused++;
			continue;
		}
		if (c->status == 408)
			timeout++;
		else
			silent++;
		amin = alive < amin ? alive : amin;
		amax = alive > amax ? alive : amax;
	}
	printf("conns=%zu refused=%d timeout=%d silent=%d open=%d alive_min=%.1f alive_max=%.1f\n",
	       n, refused, timeout, silent, open, timeout + silent ? amin : 0.0, amax);
	return 0;
}
