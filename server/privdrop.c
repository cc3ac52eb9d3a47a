/*
 * Dropping the front's privileges (privdrop.h). No libcap: prctl and the
 * capset system call do it.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

int privdrop_lookup(const char *name, struct privdrop_user *u, char *why, size_t len)
{
	struct passwd *pw;

	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	if (geteuid() != 0)
		return 0;
	if (strlen(name) >= sizeof(u->name)) {
		snprintf(why, len, "--user \"%s\": the name is too long", name);
		return -EINVAL;
	}
	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		snprintf(why, len,
		         "the user %s, which the HTTP front end runs as, does not exist: create it "
		         "with `useradd --system --no-create-home --shell /usr/sbin/nologin %s` "
		         "(deploy/setup.sh does), or name another with --user",
		         name, name);
		return -ENOENT;
	}
	if (pw->pw_uid == 0) {
		snprintf(why, len, "--user %s is root: the HTTP front end must not run as root",
		         name);
		return -EINVAL;
	}
	u->switch_user = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

/* Give path to the user if it exists, is a regular file and is someone else's. */
static int give(const struct privdrop_user *u, const char *path, char *why, size_t len)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT
		           ? 0
		           : (snprintf(why, len, "%s: %s", path, strerror(errno)), -errno);
	if (!S_ISREG(st.st_mode) || (st.st_uid == u->uid && st.st_gid == u->gid))
		return 0;
	if (lchown(path, u->uid, u->gid)) {
		int e = errno;

		snprintf(why, len, "cannot give %s to user %s: %s", path, u->name, strerror(e));
		return -e;
	}
	log_info("%s now belongs to user %s (the HTTP front end opens it)", path, u->name);
	return 0;
}

int privdrop_prepare_db(const struct privdrop_user *u, const char *db, const char *token_file,
                        char *why, size_t len)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char buf[PATH_MAX];
	char *p;
	int rc;

	if (!u->switch_user)
		return 0;
	if (snprintf(buf, sizeof(buf), "%s", db) >= (int)sizeof(buf)) {
		snprintf(why, len, "%s: %s", db, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	/* mkdir -p; what we create belongs to the user. */
	p = strrchr(buf, '/');
	if (p && p != buf) {
		*p = '\0';
		for (char *q = buf + 1;; q++) {
			bool last = !*q;

			if (*q && *q != '/')
				continue;
			*q = '\0';
			if (!mkdir(buf, 0700)) {
				if (chown(buf, u->uid, u->gid)) {
					rc = -errno;
					snprintf(why, len, "cannot give %s to user %s: %s", buf,
					         u->name, strerror(-rc));
					return rc;
				}
				log_info("created %s for user %s", buf, u->name);
			} else if (errno != EEXIST) {
				rc = -errno;
				snprintf(why, len, "cannot create the directory %s: %s", buf,
				         strerror(-rc));
				return rc;
			}
			if (last)
				break;
			*q = '/';
		}
	}
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", db, sfx[i]);
		rc = give(u, buf, why, len);
		if (rc)
			return rc;
	}
	/*
	 * The token file is the front's: it creates it, and reads it at start and on
	 * SIGHUP, and token_load refuses one that others may read, so its owner must
	 * be the user.
	 */
	return give(u, token_file, why, len);
}

static int capset_zero(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	return (int)syscall(SYS_capset, &h, d);
}

static bool caps_empty(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return false;
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return false;
	return true;
}

/* Empty the bounding set: needs CAP_SETPCAP; without it the set stays (and is unusable). */
static int drop_bounding(bool must)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) {
			if (!must && errno == EPERM)
				return 0;
			return -errno;
		}
	}
	return 0;
}

int privdrop_drop(const struct privdrop_user *u, char *why, size_t len)
{
	int rc;

	rc = drop_bounding(u->switch_user);
	if (rc) {
		snprintf(why, len, "emptying the capability bounding set: %s", strerror(-rc));
		return rc;
	}
	if (u->switch_user) {
		if (setgroups(0, NULL) || setresgid(u->gid, u->gid, u->gid) ||
		    setresuid(u->uid, u->uid, u->uid)) {
			rc = -errno;
			snprintf(why, len, "becoming user %s: %s", u->name, strerror(-rc));
			return rc;
		}
		if (!setresuid(0, 0, 0)) {
			snprintf(why, len, "becoming user %s: root could be regained", u->name);
			return -EPERM;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		rc = -errno;
		snprintf(why, len, "PR_SET_NO_NEW_PRIVS: %s", strerror(-rc));
		return rc;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) {
		rc = -errno;
		snprintf(why, len, "clearing the ambient capabilities: %s", strerror(-rc));
		return rc;
	}
	if (capset_zero() || !caps_empty()) {
		rc = errno ? -errno : -EPERM;
		snprintf(why, len, "dropping every capability: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int privdrop_check_db(const struct privdrop_user *u, const char *db, char *why, size_t len)
{
	char buf[PATH_MAX], dir[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", db);
	snprintf(dir, sizeof(dir), "%s", dirname(buf));
	if (access(dir, W_OK | X_OK)) {
		snprintf(why, len,
		         "the database directory %s is not writable by user %s, which runs the "
		         "HTTP front end (it keeps the database): `chown %s: %s` (and let it "
		         "through the directories above), or choose another --db or --user",
		         dir, u->name, u->name, dir);
		return -EACCES;
	}
	if (access(db, F_OK) == 0 && access(db, R_OK | W_OK)) {
		snprintf(why, len,
		         "the database %s is not readable and writable by user %s, which runs the "
		         "HTTP front end: `chown %s: %s`",
		         db, u->name, u->name, db);
		return -EACCES;
	}
	return 0;
}
