/* vrouterd: the REST-managed virtual router daemon for the network namespace it runs in. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "http.h"
#include "kernel.h"
#include "log.h"
#include "nft.h"
#include "recon.h"
#include "sgc.h"
#include "store.h"
#include "version.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_DB "/var/lib/vrouter/vrouter.db"
#define DEFAULT_RESYNC_S 30
#define APPLY_TIMEOUT_MS 60000
#define TOKEN_BYTES 32
/*
 * Allocations from this size up get their own mapping, returned to the
 * system when freed. Fixed, because glibc otherwise raises the threshold
 * after each large free (up to 32 MB): a whole-state PUT or a full pass over
 * 100,000 routes would then leave tens of MB in the threads' arenas.
 */
#define MALLOC_MMAP_THRESHOLD (128 * 1024)

/*
 * A second kernel handle for the HTTP threads' read-only questions (links,
 * tables in use): the reconciler's sockets are its own. One question at a time.
 */
struct query_kernel {
	struct kernel_ops k;
	pthread_mutex_t lock;
};

static int query_links(void *ctx, struct klink **out, size_t *n)
{
	struct query_kernel *q = ctx;
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = q->k.links_list(q->k.ctx, out, n);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int query_tables(void *ctx, uint32_t **out, size_t *n)
{
	struct query_kernel *q = ctx;
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = q->k.tables_in_use(q->k.ctx, out, n);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int query_run(void *ctx, int (*fn)(const struct kernel_ops *k, void *arg), void *arg)
{
	struct query_kernel *q = ctx;
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = fn(&q->k, arg);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: vrouterd [options]\n"
	        "Keeps desired routes in SQLite and enforces them in this network namespace.\n"
	        "Run it in another namespace with: ip netns exec NS vrouterd ...\n\n"
	        "  --listen ADDR:PORT      HTTP API address, IPv4 or [IPv6] (default %s)\n"
	        "  --db FILE               SQLite database, created and migrated on first start\n"
	        "                          (default %s)\n"
	        "  --token-file FILE       bearer token; created (0600, 32 random bytes as hex)\n"
	        "                          if missing (default: \"token\" beside the database)\n"
	        "  --resync-interval SEC   full kernel resync period (default %d)\n"
	        "  --log-level LEVEL       error, warn, info or debug (default info)\n"
	        "  --help                  this text\n"
	        "  --version               print the version\n",
	        DEFAULT_LISTEN, DEFAULT_DB, DEFAULT_RESYNC_S);
}

/* mkdir -p for the database's directory; new directories are private. */
static int make_parent_dirs(const char *file)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", file) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	p = strrchr(buf, '/');
	if (!p || p == buf)
		return 0;
	*p = '\0';
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Read the token, or create the file (0600, O_EXCL) with a fresh one. */
static int load_token(const char *path, char *token, size_t len)
{
	unsigned char raw[TOKEN_BYTES];
	char hex[TOKEN_BYTES * 2 + 2];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
			return -EIO;
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(hex + 2 * i, 3, "%02x", raw[i]);
		hex[TOKEN_BYTES * 2] = '\n';
		hex[TOKEN_BYTES * 2 + 1] = '\0';
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (write(fd, hex, TOKEN_BYTES * 2 + 1) != TOKEN_BYTES * 2 + 1 || fsync(fd))
			rc = -EIO;
		close(fd);
		if (rc)
			return rc;
		log_info("created a new API token in %s", path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		log_warnx("token file %s is readable by others (mode %03o); chmod 600 it", path,
		          st.st_mode & 0777);
	n = read(fd, token, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	token[n] = '\0';
	while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' '))
		token[--n] = '\0';
	return n > 0 ? 0 : -ENODATA;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"db", required_argument, NULL, 'd'},
	    {"token-file", required_argument, NULL, 't'},
	    {"resync-interval", required_argument, NULL, 'r'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen = DEFAULT_LISTEN, *db = DEFAULT_DB, *token_file = NULL;
	char token_path[PATH_MAX];
	long resync_s = DEFAULT_RESYNC_S;
	struct app app = {.apply_timeout_ms = APPLY_TIMEOUT_MS};
	struct kernel_ops k = {0};
	struct query_kernel qk = {.lock = PTHREAD_MUTEX_INITIALIZER};
	bool k_open = false, qk_open = false;
	struct sgc_listen api = {0};
	char why[512];
	struct http_server *http = NULL;
	struct vr_err e = {0};
	sigset_t sigs;
	int c, sig, rc, status = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'd': db = optarg; break;
		case 't': token_file = optarg; break;
		case 'r': {
			char *end;

			resync_s = strtol(optarg, &end, 10);
			if (*end || end == optarg || resync_s < 1 || resync_s > 86400) {
				fprintf(stderr,
				        "vrouterd: --resync-interval \"%s\": expected 1..86400 "
				        "seconds\n",
				        optarg);
				return 2;
			}
			break;
		}
		case 'L':
			if (!strcmp(optarg, "error"))
				log_set_level(LOG_LVL_ERROR);
			else if (!strcmp(optarg, "warn"))
				log_set_level(LOG_LVL_WARN);
			else if (!strcmp(optarg, "info"))
				log_set_level(LOG_LVL_INFO);
			else if (!strcmp(optarg, "debug"))
				log_set_level(LOG_LVL_DEBUG);
			else {
				fprintf(stderr,
				        "vrouterd: --log-level \"%s\": expected error, warn, info "
				        "or debug\n",
				        optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vrouterd %s\n", vr_version()); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vrouterd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	{
		struct sockaddr_storage ss;
		unsigned sl;

		if (http_parse_listen(listen, &ss, &sl, &e)) {
			fprintf(stderr, "vrouterd: --listen: %s\n", e.msg);
			return 2;
		}
		/* The socket `local` security groups must never block. */
		if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

			api.addr.family = AF_INET6;
			memcpy(api.addr.a, &s6->sin6_addr, sizeof(s6->sin6_addr));
			api.port = ntohs(s6->sin6_port);
		} else {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

			api.addr.family = AF_INET;
			memcpy(api.addr.a, &s4->sin_addr, sizeof(s4->sin_addr));
			api.port = ntohs(s4->sin_port);
		}
		app.api = &api;
	}
	if (!token_file) {
		char tmp[PATH_MAX];

		snprintf(tmp, sizeof(tmp), "%s", db);
		snprintf(token_path, sizeof(token_path), "%s/token", dirname(tmp));
		token_file = token_path;
	}

	/* Signals are taken by sigwait below; every thread started from here inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD))
		log_warnx("mallopt(M_MMAP_THRESHOLD) refused; memory may be slow to return");
	pthread_mutex_init(&app.store_lock, NULL);

	rc = make_parent_dirs(db);
	if (rc) {
		log_error("cannot create the directory of %s: %s", db, strerror(-rc));
		goto out;
	}
	rc = load_token(token_file, app.token, sizeof(app.token));
	if (rc) {
		log_error("token file %s: %s", token_file, strerror(-rc));
		goto out;
	}
	if (store_open(db, &app.store, &e)) {
		log_error("database %s: %s", db, e.msg);
		goto out;
	}
	if (app_readers_open(&app, db, APP_READERS, &e)) {
		log_error("database %s: %s", db, e.msg);
		goto out;
	}
	rc = nl_kernel_open(&k);
	if (rc) {
		log_error("netlink: %s", strerror(-rc));
		goto out;
	}
	k_open = true;
	rc = nft_attach(&k, why, sizeof(why));
	if (rc) {
		log_error("nftables: %s", why);
		goto out;
	}
	rc = nl_kernel_open_query(&qk.k);
	if (rc) {
		log_error("netlink: %s", strerror(-rc));
		goto out;
	}
	qk_open = true;
	app.links_list = query_links;
	app.links_free = kernel_links_free;
	app.tables_in_use = query_tables;
	app.kernel_query = query_run;
	app.query_ctx = &qk;
	if (recon_start(db, &k, (int)resync_s * 1000, &api, &app.recon, &e)) {
		log_error("reconciler: %s", e.msg);
		goto out;
	}
	if (http_start(&app, listen, &http, &e)) {
		log_error("%s", e.msg);
		goto out;
	}
	log_info("vrouterd %s listening on %s (database %s, token %s)", vr_version(), listen, db,
	         token_file);
	if (sigwait(&sigs, &sig) == 0)
		log_info("%s: shutting down; kernel state is left in place", strsignal(sig));
	status = 0;
out:
	http_stop(http);
	recon_stop(app.recon);
	nft_detach(&k);
	if (k_open)
		nl_kernel_close(&k);
	if (qk_open)
		nl_kernel_close(&qk.k);
	app_readers_close(&app);
	store_close(app.store);
	pthread_mutex_destroy(&app.store_lock);
	return status;
}
