#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define INSTANCE_BACKLOG 16
/* A holder that has bound but not yet listened refuses connections for a moment. */
#define INSTANCE_CONNECT_TRIES 20
#define INSTANCE_CONNECT_PAUSE_US 10000

struct instance {
	int sock; /* the abstract socket, listening */
	int lock; /* <db>.lock, locked */
};

/* The abstract address of name (truncated to fit). */
static socklen_t abstract_addr(const char *name, struct sockaddr_un *sa)
{
	size_t n = strnlen(name, sizeof(sa->sun_path) - 1);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays '\0': an abstract name, no file. */
	memcpy(sa->sun_path + 1, name, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* The pid listening on the abstract name, or 0 when it cannot be told. */
static pid_t holder_pid(const char *name)
{
	struct sockaddr_un sa;
	socklen_t sl = abstract_addr(name, &sa);
	struct ucred cred = {0};
	socklen_t cl = sizeof(cred);
	pid_t pid = 0;

	for (int i = 0; i < INSTANCE_CONNECT_TRIES && !pid; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return 0;
		if (connect(fd, (struct sockaddr *)&sa, sl) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
			pid = cred.pid;
		close(fd);
		if (!pid)
			usleep(INSTANCE_CONNECT_PAUSE_US);
	}
	return pid;
}

static int claim_namespace(const char *name, int *out, char *why, size_t len)
{
	struct sockaddr_un sa;
	socklen_t sl = abstract_addr(name, &sa);
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, len, "single-instance socket: %s", strerror(errno));
		return rc;
	}
	if (bind(fd, (struct sockaddr *)&sa, sl)) {
		rc = -errno;
		close(fd);
		if (rc == -EADDRINUSE) {
			pid_t pid = holder_pid(name);

			if (pid > 0)
				snprintf(why, len,
				         "another vrouterd (pid %ld) already manages this network "
				         "namespace; one vrouterd per namespace",
				         (long)pid);
			else
				snprintf(
				    why, len,
				    "another vrouterd already manages this network namespace (it "
				    "holds the abstract socket @%s); one vrouterd per namespace",
				    name);
			return -EBUSY;
		}
		snprintf(why, len, "single-instance socket @%s: %s", name, strerror(-rc));
		return rc;
	}
	if (listen(fd, INSTANCE_BACKLOG)) {
		rc = -errno;
		snprintf(why, len, "single-instance socket @%s: %s", name, strerror(errno));
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/*
 * The lock file of the database db: beside the file it resolves to (its
 * directory resolved when the file does not exist yet), "<file>.lock".
 */
static int lock_path(const char *db, char *path, size_t size)
{
	char real[PATH_MAX], dir[PATH_MAX];
	const char *base = strrchr(db, '/');
	int n;

	if (realpath(db, real)) {
		n = snprintf(path, size, "%s.lock", real);
	} else if (errno == ENOENT) {
		if (base == db)
			snprintf(dir, sizeof(dir), "/");
		else if (base)
			snprintf(dir, sizeof(dir), "%.*s", (int)(base - db), db);
		else
			snprintf(dir, sizeof(dir), ".");
		if (!realpath(dir, real))
			return -errno;
		n = snprintf(path, size, "%s/%s.lock", strcmp(real, "/") ? real : "",
		             base ? base + 1 : db);
	} else {
		return -errno;
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int lock_database(const char *db, int *out, char *why, size_t len)
{
	char path[PATH_MAX], pid[32];
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd, rc, n;

	rc = lock_path(db, path, sizeof(path));
	if (rc) {
		snprintf(why, len, "lock file of database %s: %s", db, strerror(-rc));
		return rc;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, len, "lock file %s: %s", path, strerror(errno));
		return rc;
	}
	if (fcntl(fd, F_SETLK, &fl)) {
		rc = -errno;
		if (rc == -EAGAIN || rc == -EACCES) {
			struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

			if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK && who.l_pid > 0)
				snprintf(
				    why, len,
				    "database %s is in use by another vrouterd (pid %ld holds the "
				    "lock on %s)",
				    db, (long)who.l_pid, path);
			else
				snprintf(
				    why, len,
				    "database %s is in use by another vrouterd (it holds the lock "
				    "on %s)",
				    db, path);
			rc = -EBUSY;
		} else {
			snprintf(why, len, "lock file %s: %s", path, strerror(-rc));
		}
		close(fd);
		return rc;
	}
	/* For people reading the file; the lock itself is what counts. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("lock file %s: writing the pid", path);
	*out = fd;
	return 0;
}

int instance_claim(const char *name, const char *db_path, struct instance **out, char *why,
                   size_t len)
{
	struct instance *in = calloc(1, sizeof(*in));
	int rc;

	*out = NULL;
	if (!in) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	in->sock = in->lock = -1;
	rc = claim_namespace(name, &in->sock, why, len);
	if (rc == 0)
		rc = lock_database(db_path, &in->lock, why, len);
	if (rc) {
		instance_release(in);
		return rc;
	}
	*out = in;
	return 0;
}

int instance_fd(const struct instance *in)
{
	return in ? in->sock : -1;
}

void instance_answer(struct instance *in)
{
	int fd;

	while ((fd = accept4(in->sock, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

void instance_release(struct instance *in)
{
	if (!in)
		return;
	if (in->sock >= 0)
		close(in->sock);
	if (in->lock >= 0)
		close(in->lock);
	free(in);
}
