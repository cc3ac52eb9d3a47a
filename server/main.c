/*
 * vrouterd: the REST-managed virtual router daemon for the network namespace it runs in.
 * main() forks first (core/privsep.h): this process goes on as the front end, without
 * capabilities (as --user when started as root); the child keeps CAP_NET_ADMIN and
 * performs the kernel operations the front asks for.
 */
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
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adopt.h"
#include "api.h"
#include "app.h"
#include "fleet.h"
#include "http.h"
#include "instance.h"
#include "kernel.h"
#include "log.h"
#include "nft.h"
#include "privdrop.h"
#include "privsep.h"
#include "recon.h"
#include "sgc.h"
#include "store.h"
#include "tls.h"
#include "token.h"
#include "version.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_DB "/var/lib/vrouter/vrouter.db"
#define DEFAULT_RESYNC_S 30
/* --audit-keep's bound: a billion events is far beyond any disk it is meant for. */
#define AUDIT_KEEP_MAX 1000000000LL
#define APPLY_TIMEOUT_MS 60000
/*
 * Exit status of a start refused for a reason that only the operator can
 * fix (another vrouterd, the database, the token file, owned objects with no
 * desired state): EX_CONFIG. deploy/vrouterd.service does not restart on it.
 */
#define EXIT_REFUSED 78
/*
 * Allocations from this size up get their own mapping, returned to the
 * system when freed. Fixed, because glibc otherwise raises the threshold
 * after each large free (up to 32 MB): a whole-state PUT or a full pass over
 * 100,000 routes would then leave tens of MB in the threads' arenas.
 */
#define MALLOC_MMAP_THRESHOLD (128 * 1024)
/*
 * At most this many malloc arenas. glibc makes one per thread that
 * allocates, up to 8 per CPU; with a thread per HTTP connection that was 16
 * arenas on 2 CPUs, each keeping its own free space: 3.3 MB free of 15 MB
 * under tests/bench/load.sh, 0.4 MB with 2 (tests/bench/README.md, "load").
 * With the threads' caches off (below) every allocation takes one of these.
 */
#define MALLOC_ARENA_MAX 2
/*
 * glibc's per-thread cache off: each thread keeps up to 7 freed chunks of
 * every small size for itself, and with a thread per HTTP connection that
 * kept the daemon's RSS creeping under load (64 connections: the load
 * test's growth 3.9-6.6 % with it, 0.7-1.4 % without, ~1.9 MB lower, at the
 * same mixed request rate; GETs alone ~10 % slower: tests/bench/README.md,
 * "load"). glibc reads this only from the environment when a program
 * starts, so main() starts vrouterd again with it (malloc_tunables).
 */
#define MALLOC_TCACHE_TUNABLE "glibc.malloc.tcache_count"
#define MALLOC_TCACHE_OFF MALLOC_TCACHE_TUNABLE "=0"

/*
 * A second kernel handle for the HTTP threads' read-only questions (links,
 * tables in use, diagnostics: route_get, ct_find, and nft_counters through a
 * read-only nftables handle): the reconciler's sockets are its own. One
 * question at a time.
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
	fprintf(
	    f,
	    "usage: vrouterd [options]\n"
	    "Keeps desired routes in SQLite and enforces them in this network namespace.\n"
	    "Run it in another namespace with: ip netns exec NS vrouterd ...\n"
	    "One vrouterd per namespace and per database; SIGHUP reloads the token file\n"
	    "and the TLS certificate and key.\n\n"
	    "  --listen ADDR:PORT      HTTP API address, IPv4 or [IPv6] (default %s)\n"
	    "  --tls-cert FILE         serve HTTPS (TLS 1.2 and 1.3 only) with this PEM\n"
	    "                          certificate chain, the server's certificate first\n"
	    "  --tls-key FILE          its PEM private key, unencrypted, not readable by\n"
	    "                          others (both or neither; reloaded on SIGHUP)\n"
	    "  --db FILE               SQLite database, created (0600) and migrated on first\n"
	    "                          start; checked (PRAGMA quick_check) at every start\n"
	    "                          (default %s)\n"
	    "  --token-file FILE       bearer tokens, one a line: NAME SCOPE TOKEN, scope\n"
	    "                          read or write, token %d to %d visible ASCII\n"
	    "                          characters (# comments); or one token alone, a\n"
	    "                          write token named default. Private to its owner\n"
	    "                          (0600); created with one token of 32 random bytes\n"
	    "                          as hex if missing (default: \"token\" beside the\n"
	    "                          database)\n"
	    "  --take-over             when the database holds no desired state but the\n"
	    "                          namespace holds routes, rules, addresses or table inet\n"
	    "                          vrouter that vrouter owns, start anyway and remove them\n"
	    "                          (without it or --import-owned, such a start is refused)\n"
	    "  --import-owned          in that case, make the owned routes, addresses and\n"
	    "                          policy rules desired state instead, leaving the kernel\n"
	    "                          as it is (refused while table inet vrouter exists)\n"
	    "  --resync-interval SEC   full kernel resync period (default %d)\n"
	    "  --audit-keep N          keep the newest N events of the audit log, GET\n"
	    "                          /v1/events (default %d)\n"
	    "  --user NAME             started as root, the HTTP front end (HTTP, JSON, the\n"
	    "                          database, the token file) runs as this user, with no\n"
	    "                          capability (default %s); only a small process that\n"
	    "                          talks netlink and nftables for it keeps CAP_NET_ADMIN\n"
	    "                          (and CAP_NET_RAW). The database's directory must be\n"
	    "                          writable by NAME: missing directories are created for\n"
	    "                          it, and the database and the token file are given\n"
	    "                          to it. Not started as root, the front end only drops\n"
	    "                          its capabilities\n"
	    "  --etcd URL[,URL...]     fleet mode: etcd (v3, its JSON gateway; http:// or\n"
	    "                          https://) holds the desired state and this database\n"
	    "                          is the router's local copy (docs/etcd.md). Without\n"
	    "                          it, nothing of the fleet runs\n"
	    "  --etcd-prefix P         the fleet's keys in etcd (default %s)\n"
	    "  --router NAME           this router's name in the fleet: 1 to %d of a-z, 0-9\n"
	    "                          and '-', not starting with '-' (default %s)\n"
	    "  --etcd-ca FILE          TLS to etcd: the CA bundle to verify it with\n"
	    "  --etcd-cert FILE        and the client certificate (PEM) ...\n"
	    "  --etcd-key FILE         ... and its key, when etcd asks for one\n"
	    "  --log-level LEVEL       error, warn, info or debug (default info)\n"
	    "  --help                  this text\n"
	    "  --version               print the version\n\n"
	    "A refused start (another vrouterd, a damaged database, a bad token file or\n"
	    "TLS certificate or key, owned objects and no desired state) exits with\n"
	    "status %d.\n",
	    DEFAULT_LISTEN, DEFAULT_DB, TOKEN_MIN_LEN, TOKEN_MAX_LEN, DEFAULT_RESYNC_S,
	    STORE_AUDIT_KEEP_DEFAULT, PRIVDROP_DEFAULT_USER, FLEET_DEFAULT_PREFIX, FLEET_ROUTER_MAX,
	    FLEET_DEFAULT_ROUTER, EXIT_REFUSED);
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

/* The tokens' names and scopes (never the tokens) in the log. */
static void log_tokens(const char *when, const struct token_set *s)
{
	char names[1024];
	size_t off = 0;

	names[0] = '\0';
	for (size_t i = 0; i < s->n && off < sizeof(names); i++)
		off +=
		    (size_t)snprintf(names + off, sizeof(names) - off, "%s%s (%s)", i ? ", " : "",
		                     s->v[i].name, token_scope_name(s->v[i].scope));
	log_info("%s%zu token%s in force: %s", when, s->n, s->n == 1 ? "" : "s", names);
}

/* SIGHUP: read the token file again; a bad one leaves the tokens in force. */
static void reload_token(struct app *app, const char *path)
{
	struct token_set tokens;
	char why[TOKEN_WHY_MAX + PATH_MAX];

	log_info("SIGHUP: reloading the token file %s", path);
	if (token_load(path, false, &tokens, why, sizeof(why))) {
		log_error("SIGHUP: %s; the tokens in force stay", why);
		return;
	}
	pthread_rwlock_wrlock(&app->token_lock);
	memcpy(&app->tokens, &tokens, sizeof(tokens));
	pthread_rwlock_unlock(&app->token_lock);
	explicit_bzero(&tokens, sizeof(tokens));
	log_tokens("SIGHUP: ", &app->tokens);
}

/* SIGHUP: read the certificate and key again; bad ones leave the pair in force. */
static void reload_tls(struct tls *tls)
{
	char why[TLS_WHY_MAX], info[TLS_INFO_MAX];
	bool changed = false;

	log_info("SIGHUP: reloading the TLS certificate and key");
	if (tls_reload(tls, &changed, why, sizeof(why))) {
		log_error("SIGHUP: TLS: %s; the certificate in force stays", why);
		return;
	}
	tls_describe(tls, info, sizeof(info));
	log_info("SIGHUP: TLS: %s for new connections: %s",
	         changed ? "a new certificate is in force" : "the certificate is unchanged", info);
}

/*
 * Start this program again, same process, with MALLOC_TCACHE_OFF added to
 * GLIBC_TUNABLES, unless that already names the tunable (then it ran
 * already, or the user chose a value, which stands). By its path, not
 * /proc/self/exe, whose name would become the process's (ps, pgrep, the
 * journal). Returns only when it cannot: vrouterd then runs with glibc's
 * caches, and says so.
 */
static void malloc_tunables(char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES");
	char self[PATH_MAX], *v = NULL;
	ssize_t n;

	if (t && strstr(t, MALLOC_TCACHE_TUNABLE))
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0 && (size_t)n < sizeof(self) - 1) {
		self[n] = 0;
		if (asprintf(&v, "%s%s" MALLOC_TCACHE_OFF, t ? t : "", t && *t ? ":" : "") < 0)
			v = NULL;
		else if (!setenv("GLIBC_TUNABLES", v, 1))
			execv(self, argv);
	}
	log_warn("cannot start again with GLIBC_TUNABLES=%s (glibc reads it only then); the "
	         "threads' malloc caches stay on",
	         v ? v : MALLOC_TCACHE_OFF);
	free(v);
}

/*
 * Until SIGTERM or SIGINT: reload on SIGHUP, and answer daemons that ask
 * whether this namespace is taken. Returns the signal that ended it.
 */
static int serve(struct app *app, int sigfd, struct instance *inst, const char *token_file,
                 struct tls *tls, int life)
{
	for (;;) {
		struct pollfd pfd[3] = {{.fd = sigfd, .events = POLLIN},
		                        {.fd = instance_fd(inst), .events = POLLIN},
		                        {.fd = life, .events = POLLRDHUP}};
		struct signalfd_siginfo si;

		if (poll(pfd, 3, -1) < 0) {
			if (errno != EINTR)
				log_warn("poll");
			continue;
		}
		if (pfd[2].revents) {
			log_error("the privileged process ended; stopping (kernel state is left in "
			          "place)");
			return 0;
		}
		if (pfd[1].revents & POLLIN)
			instance_answer(inst);
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo != SIGHUP)
			return (int)si.ssi_signo;
		reload_token(app, token_file);
		if (tls)
			reload_tls(tls);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"db", required_argument, NULL, 'd'},
	    {"token-file", required_argument, NULL, 't'},
	    {"resync-interval", required_argument, NULL, 'r'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"take-over", no_argument, NULL, 'T'},
	    {"import-owned", no_argument, NULL, 'I'},
	    {"audit-keep", required_argument, NULL, 'A'},
	    {"user", required_argument, NULL, 'U'},
	    {"etcd", required_argument, NULL, 'E'},
	    {"etcd-prefix", required_argument, NULL, 'P'},
	    {"router", required_argument, NULL, 'R'},
	    {"etcd-ca", required_argument, NULL, '1'},
	    {"etcd-cert", required_argument, NULL, '2'},
	    {"etcd-key", required_argument, NULL, '3'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen = DEFAULT_LISTEN, *db = DEFAULT_DB, *token_file = NULL;
	const char *tls_cert = NULL, *tls_key = NULL, *user = PRIVDROP_DEFAULT_USER;
	struct privdrop_user pu;
	struct privsep *ps = NULL;
	struct tls *tls = NULL;
	char token_path[PATH_MAX];
	char why[ADOPT_WHY_MAX + PATH_MAX];
	long resync_s = DEFAULT_RESYNC_S;
	long long audit_keep = STORE_AUDIT_KEEP_DEFAULT;
	enum adopt_mode adopt = ADOPT_REFUSE;
	struct instance *inst = NULL;
	int sigfd = -1;
	struct app app = {.apply_timeout_ms = APPLY_TIMEOUT_MS};
	struct kernel_ops k = {0};
	struct query_kernel qk = {.lock = PTHREAD_MUTEX_INITIALIZER};
	bool k_open = false, qk_open = false;
	struct sgc_listen api = {0};
	struct http_server *http = NULL;
	struct fleet_opts fo = {.prefix = FLEET_DEFAULT_PREFIX, .router = FLEET_DEFAULT_ROUTER};
	struct vr_err e = {0};
	sigset_t sigs;
	int c, sig, rc, status = 1;

	malloc_tunables(argv); /* first: getopt_long reorders argv */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'C': tls_cert = optarg; break;
		case 'K': tls_key = optarg; break;
		case 'd': db = optarg; break;
		case 'U': user = optarg; break;
		case 'E': fo.endpoints = optarg; break;
		case 'P': fo.prefix = optarg; break;
		case 'R': fo.router = optarg; break;
		case '1': fo.ca_file = optarg; break;
		case '2': fo.cert_file = optarg; break;
		case '3': fo.key_file = optarg; break;
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
		case 'A': {
			char *end;

			errno = 0;
			audit_keep = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || audit_keep < 1 ||
			    audit_keep > AUDIT_KEEP_MAX) {
				fprintf(stderr,
				        "vrouterd: --audit-keep \"%s\": expected 1..%lld events\n",
				        optarg, (long long)AUDIT_KEEP_MAX);
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
		case 'T':
		case 'I':
			if (adopt != ADOPT_REFUSE) {
				fprintf(stderr, "vrouterd: --take-over and --import-owned exclude "
				                "each other\n");
				return 2;
			}
			adopt = c == 'T' ? ADOPT_TAKE_OVER : ADOPT_IMPORT;
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
	if (fleet_router_valid(fo.router, &e) || fleet_prefix_valid(fo.prefix, &e)) {
		fprintf(stderr, "vrouterd: --%s: %s\n", e.field, e.msg);
		return 2;
	}
	if (!fo.endpoints && (fo.ca_file || fo.cert_file || fo.key_file)) {
		fprintf(stderr, "vrouterd: --etcd-ca, --etcd-cert and --etcd-key need --etcd\n");
		return 2;
	}
	if (!fo.cert_file != !fo.key_file) {
		fprintf(stderr,
		        "vrouterd: --etcd-cert and --etcd-key go together (%s is missing)\n",
		        fo.cert_file ? "--etcd-key" : "--etcd-cert");
		return 2;
	}
	app.router = fo.router;
	app.listen = fo.api = listen;
	if (!tls_cert != !tls_key) {
		fprintf(stderr, "vrouterd: --tls-cert and --tls-key go together (%s is missing)\n",
		        tls_cert ? "--tls-key" : "--tls-cert");
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

	/*
	 * The split, before anything reads a file or a socket of the outside world:
	 * the privileged child closes all but its channels; this process drops its
	 * privileges before it opens the database, the token file or the listener.
	 */
	if (privdrop_lookup(user, &pu, why, sizeof(why))) {
		log_error("refusing to start: %s", why);
		return EXIT_REFUSED;
	}
	rc = privsep_fork(&ps);
	if (rc) {
		log_error("starting the privileged process: %s", strerror(-rc));
		return 1;
	}
	if (privdrop_prepare_db(&pu, db, token_file, why, sizeof(why)) ||
	    privdrop_drop(&pu, why, sizeof(why))) {
		log_error("refusing to start: %s", why);
		privsep_close(ps, 5000);
		return EXIT_REFUSED;
	}
	if (pu.switch_user && privdrop_check_db(&pu, db, why, sizeof(why))) {
		log_error("refusing to start: %s", why);
		privsep_close(ps, 5000);
		return EXIT_REFUSED;
	}
	log_info("the HTTP front end runs %s%s with no capability; the privileged process "
	         "(pid %d) talks to the kernel",
	         pu.switch_user ? "as user " : "", pu.switch_user ? pu.name : "",
	         (int)privsep_pid(ps));

	/* Signals are read from sigfd by serve(); every thread started from here inherits the mask.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sigfd < 0) {
		log_warn("signalfd");
		goto out;
	}
	if (!mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD))
		log_warnx("mallopt(M_MMAP_THRESHOLD) refused; memory may be slow to return");
	if (!mallopt(M_ARENA_MAX, MALLOC_ARENA_MAX))
		log_warnx("mallopt(M_ARENA_MAX) refused; each connection thread may get an arena");
	app_init(&app);
	pthread_rwlock_init(&app.token_lock, NULL);

	rc = make_parent_dirs(db);
	if (rc) {
		log_error("cannot create the directory of %s: %s", db, strerror(-rc));
		goto out;
	}
	/* Before anything reads or changes the namespace or the database. */
	rc = instance_claim(INSTANCE_SOCKET, db, &inst, why, sizeof(why));
	if (rc) {
		log_error("refusing to start: %s", why);
		status = rc == -EBUSY ? EXIT_REFUSED : 1;
		goto out;
	}
	if (token_load(token_file, true, &app.tokens, why, sizeof(why))) {
		log_error("refusing to start: %s", why);
		status = EXIT_REFUSED;
		goto out;
	}
	log_tokens("", &app.tokens);
	if (tls_cert) {
		char twhy[TLS_WHY_MAX], info[TLS_INFO_MAX];

		if (tls_open(tls_cert, tls_key, &tls, twhy, sizeof(twhy))) {
			log_error("refusing to start: TLS: %s", twhy);
			status = EXIT_REFUSED;
			goto out;
		}
		tls_describe(tls, info, sizeof(info));
		log_info("TLS: serving %s", info);
	}
	rc = store_open_checked(db, &app.store, &e);
	if (rc) {
		log_error("%s%s", rc == -EUCLEAN ? "refusing to start: " : "", e.msg);
		status = rc == -EUCLEAN ? EXIT_REFUSED : 1;
		goto out;
	}
	store_audit_keep(app.store, audit_keep);
	if (store_set_cache_kib(app.store, APP_WRITER_CACHE_KIB, &e)) {
		log_error("database %s: %s", db, e.msg);
		goto out;
	}
	if (app_readers_open(&app, db, APP_READERS, &e)) {
		log_error("database %s: %s", db, e.msg);
		goto out;
	}
	rc = privsep_kernel_open(ps, &k);
	if (rc) {
		log_error("netlink: %s", strerror(-rc));
		goto out;
	}
	k_open = true;
	rc = privsep_nft_attach(ps, &k, why, sizeof(why));
	if (rc) {
		log_error("nftables: %s", why);
		goto out;
	}
	/* Fleet mode: the copy catches up with etcd (or imports into an empty fleet) first. */
	if (fo.endpoints && fleet_open(&app, &fo, &app.fleet, &e)) {
		log_error("refusing to start: fleet: %s", e.msg);
		status = EXIT_REFUSED;
		goto out;
	}
	/* A new or empty database must not wipe what vrouter owns here (never fail open). */
	rc = adopt_at_start(app.store, &k, db, adopt, why, sizeof(why));
	if (rc) {
		if (rc < 0)
			log_error("owned kernel objects: %s", why);
		status = rc > 0 ? EXIT_REFUSED : 1;
		goto out;
	}
	rc = privsep_kernel_open_query(ps, &qk.k);
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
	rc = api_captures_open(&app);
	if (rc) {
		log_error("packet captures: %s", strerror(-rc));
		goto out;
	}
	if (recon_start_router(db, app.fleet ? app.router : NULL, &k, (int)resync_s * 1000, &api,
	                       &app.recon, &e)) {
		log_error("reconciler: %s", e.msg);
		goto out;
	}
	if (app.fleet && fleet_run(app.fleet, &e)) {
		log_error("%s", e.msg);
		goto out;
	}
	if (http_start_tls(&app, listen, tls, &http, &e)) {
		log_error("%s", e.msg);
		goto out;
	}
	log_info("vrouterd %s listening on %s://%s (database %s, token %s)", vr_version(),
	         tls ? "https" : "http", listen, db, token_file);
	sig = serve(&app, sigfd, inst, token_file, tls, privsep_life_fd(ps));
	if (sig) {
		log_info("%s: shutting down; kernel state is left in place", strsignal(sig));
		status = 0;
	}
out:
	http_stop(http);
	fleet_close(app.fleet);
	tls_close(tls);
	api_captures_close(&app);
	recon_stop(app.recon);
	if (k_open)
		privsep_kernel_close(&k);
	if (qk_open)
		privsep_kernel_close(&qk.k);
	app_readers_close(&app);
	store_close(app.store);
	pthread_mutex_destroy(&app.store_lock);
	pthread_rwlock_destroy(&app.token_lock);
	explicit_bzero(&app.tokens, sizeof(app.tokens));
	instance_release(inst);
	if (sigfd >= 0)
		close(sigfd);
	/* The privileged process exits when its channels close. */
	privsep_close(ps, 5000);
	return status;
}
