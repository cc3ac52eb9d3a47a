/*
 * The front's privileges (core/privsep.h has the split): started as root it
 * becomes the user --user names; in every case it ends with no capability
 * it could use or regain: no_new_privs, the ambient, inheritable, permitted
 * and effective sets empty, and the bounding set empty where it may be
 * changed (it needs CAP_SETPCAP: root has it, a systemd unit's user does
 * not, and with everything else empty it cannot be used).
 */
#ifndef VR_PRIVDROP_H
#define VR_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PRIVDROP_DEFAULT_USER "vrouter"

struct privdrop_user {
	bool switch_user; /* started as root: become uid/gid */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/*
 * As root, look name up (refused with why naming the fix when there is no
 * such user, or when it is root); otherwise nothing to switch to. 0 or -errno.
 */
int privdrop_lookup(const char *name, struct privdrop_user *u, char *why, size_t len);
/*
 * As root, before the switch: create the database's missing directories
 * owned by the user (0700), and give the user the database file, its -wal,
 * -shm and -journal, and the token file (the front reads it, and it must be
 * private to its owner). Nothing else changes owner. 0 or -errno with why.
 */
int privdrop_prepare_db(const struct privdrop_user *u, const char *db, const char *token_file,
                        char *why, size_t len);
/* Switch (if u->switch_user) and drop every capability. 0 or -errno with why. */
int privdrop_drop(const struct privdrop_user *u, char *why, size_t len);
/*
 * After the drop: can the front create and write the database (its
 * directory writable, the file if present readable and writable)? 0, or
 * -EACCES with why naming the path and the fix.
 */
int privdrop_check_db(const struct privdrop_user *u, const char *db, char *why, size_t len);

#endif
