/*
 * connrate: new TCP connections per second, for tests/bench/run.sh.
 *
 *   connrate server [-a ADDR] -p PORT [-p PORT...] [-t THREADS] [-d MAXSECS]
 *       accept, read the request, write a short reply, close. Runs until
 *       killed, or MAXSECS (default 600, at most 3600).
 *   connrate client -a ADDR -p PORT [-c WORKERS] [-d SECS] [-T TIMEOUT_MS]
 *       WORKERS threads (default 4), each opening connections one after the
 *       other for SECS seconds (default 5, at most 600): connect, write the
 *       request, read the reply to EOF, close with SO_LINGER 0 (an RST: no
 *       TIME_WAIT on either side, so the run never exhausts ports). Prints
 *         connections=N failures=F seconds=S conn_per_s=R p50_us=X p99_us=Y
 *       and exits 0 when at least one connection succeeded.
 *   connrate probe -a ADDR -p PORT [-T TIMEOUT_MS]
 *       one connection; exit 0 when it completed, 1 when not (refused,
 *       dropped: timed out).
 *
 * IPv4 only: the benchmark's topology is IPv4. Everything is bounded in
 * time: connect and read have timeouts, the client stops after SECS, the
 * server after MAXSECS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 8
#define MAX_THREADS 256
#define REQUEST "ping\n"
#define REPLY "pong\n"
#define HIST_BUCKETS 2000 /* 10 us each: 0 .. 20 ms, the last one is "more" */
#define HIST_US 10

static struct sockaddr_in target;
static double duration_s = 5.0;
static int timeout_ms = 1000;
static _Atomic bool stop;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* also bounds connect() */
}

/* ------------------------------------------------------------------ client */

struct worker {
	pthread_t th;
	uint64_t ok, failed;
	uint64_t hist[HIST_BUCKETS];
	int first_errno;
};

/* One connection: 0 when the reply came and the peer closed, -errno otherwise. */
static int one_connection(void)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int one = 1, fd, rc = 0;
	char buf[64];
	ssize_t n;
	size_t got = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_timeouts(fd, timeout_ms);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0) {
		rc = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto out;
	}
	if (write(fd, REQUEST, sizeof(REQUEST) - 1) != (ssize_t)(sizeof(REQUEST) - 1)) {
		rc = errno ? -errno : -EIO;
		goto out;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto out;
	}
	if (got != sizeof(REPLY) - 1)
		rc = -EPROTO;
out:
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return rc;
}

static void *client_worker(void *arg)
{
	struct worker *w = arg;
	double end = now_s() + duration_s;

	while (!atomic_load(&stop)) {
		double t0 = now_s();
		int rc;

		if (t0 >= end)
			break;
		rc = one_connection();
		if (rc == 0) {
			size_t b = (size_t)((now_s() - t0) * 1e6 / HIST_US);

			w->hist[b < HIST_BUCKETS ? b : HIST_BUCKETS - 1]++;
			w->ok++;
		} else {
			if (!w->first_errno)
				w->first_errno = -rc;
			w->failed++;
			if (rc == -EADDRNOTAVAIL || rc == -EMFILE || rc == -ENOBUFS)
				usleep(1000);
		}
	}
	return NULL;
}

static unsigned percentile_us(const uint64_t *hist, uint64_t total, double p)
{
	uint64_t want = (uint64_t)((double)total * p), acc = 0;

	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		acc += hist[i];
		if (acc > want)
			return (unsigned)((i + 1) * HIST_US);
	}
	return HIST_BUCKETS * HIST_US;
}

static int run_client(int workers)
{
	static struct worker w[MAX_THREADS];
	static uint64_t hist[HIST_BUCKETS];
	uint64_t ok = 0, failed = 0;
	int first_errno = 0;
	double t0, el;

	t0 = now_s();
	for (int i = 0; i < workers; i++)
		if (pthread_create(&w[i].th, NULL, client_worker, &w[i])) {
			fprintf(stderr, "connrate: cannot start worker %d\n", i);
			return 2;
		}
	for (int i = 0; i < workers; i++) {
		pthread_join(w[i].th, NULL);
		ok += w[i].ok;
		failed += w[i].failed;
		if (!first_errno)
			first_errno = w[i].first_errno;
		for (size_t b = 0; b < HIST_BUCKETS; b++)
			hist[b] += w[i].hist[b];
	}
	el = now_s() - t0;
	printf("connections=%llu failures=%llu seconds=%.3f conn_per_s=%.0f p50_us=%u p99_us=%u\n",
	       (unsigned long long)ok, (unsigned long long)failed, el, (double)ok / el,
	       percentile_us(hist, ok, 0.5), percentile_us(hist, ok, 0.99));
	if (failed)
		fprintf(stderr, "connrate: %llu connections failed, first: %s\n",
		        (unsigned long long)failed, strerror(first_errno));
	return ok > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ server */

static int listeners[MAX_PORTS];
static int nlisteners;

static void serve(int fd)
{
	char buf[256];
	ssize_t n;

	set_timeouts(fd, timeout_ms);
	n = read(fd, buf, sizeof(buf));
	if (n > 0)
		(void)!write(fd, REPLY, sizeof(REPLY) - 1);
	close(fd);
}

static void *server_worker(void *arg)
{
	struct pollfd pfd[MAX_PORTS];

	(void)arg;
	for (int i = 0; i < nlisteners; i++)
		pfd[i] = (struct pollfd){.fd = listeners[i], .events = POLLIN};
	while (!atomic_load(&stop)) {
		if (poll(pfd, (nfds_t)nlisteners, 200) <= 0)
			continue;
		for (int i = 0; i < nlisteners; i++) {
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			while ((c = accept4(listeners[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
				serve(c);
		}
	}
	return NULL;
}

static int run_server(const char *addr, const int *ports, int nports, int threads)
{
	static pthread_t th[MAX_THREADS];
	double end = now_s() + duration_s;

	for (int i = 0; i < nports; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)ports[i])};
		int one = 1, fd;

		if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
			fprintf(stderr, "connrate: bad address %s\n", addr);
			return 2;
		}
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return perror("socket"), 2;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
			fprintf(stderr, "connrate: cannot listen on %s:%d: %s\n", addr, ports[i],
			        strerror(errno));
			return 2;
		}
		listeners[nlisteners++] = fd;
	}
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, server_worker, NULL)) {
			fprintf(stderr, "connrate: cannot start thread %d\n", i);
			return 2;
		}
	while (!atomic_load(&stop) && now_s() < end)
		usleep(100 * 1000);
	atomic_store(&stop, true);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* ------------------------------------------------------------------ main */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, true);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: connrate server [-a ADDR] -p PORT [-p PORT...] [-t THREADS] [-d MAXSECS]\n"
	        "       connrate client -a ADDR -p PORT [-c WORKERS] [-d SECS] [-T TIMEOUT_MS]\n"
	        "       connrate probe  -a ADDR -p PORT [-T TIMEOUT_MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode, *addr = NULL;
	int ports[MAX_PORTS], nports = 0, workers = 4, threads = 4, opt;
	bool have_d = false;
	struct sigaction sa = {.sa_handler = on_signal};

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "a:p:c:t:d:T:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p':
			if (nports == MAX_PORTS)
				usage();
			ports[nports++] = atoi(optarg);
			break;
		case 'c': workers = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'd':
			duration_s = atof(optarg);
			have_d = true;
			break;
		case 'T': timeout_ms = atoi(optarg); break;
		default: usage();
		}
	}
	if (nports < 1 || workers < 1 || workers > MAX_THREADS || threads < 1 ||
	    threads > MAX_THREADS || timeout_ms < 1 || duration_s <= 0 ||
	    duration_s > (strcmp(mode, "server") ? 600 : 3600))
		usage();
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!strcmp(mode, "server")) {
		if (!have_d)
			duration_s = 600;
		return run_server(addr ? addr : "0.0.0.0", ports, nports, threads);
	}
	if (!addr || nports != 1)
		usage();
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)ports[0]);
	if (inet_pton(AF_INET, addr, &target.sin_addr) != 1) {
		fprintf(stderr, "connrate: bad address %s\n", addr);
		return 2;
	}
	if (!strcmp(mode, "client"))
		return run_client(workers);
	if (!strcmp(mode, "probe")) {
		int rc = one_connection();

		if (rc)
			fprintf(stderr, "connrate: probe %s:%d: %s\n", addr, ports[0],
			        strerror(-rc));
		return rc ? 1 : 0;
	}
	usage();
}
