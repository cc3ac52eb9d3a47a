/*
 * One vrouterd per network namespace, and one per database file.
 *
 * The namespace: the daemon binds the abstract unix socket "@vrouterd"
 * (abstract names belong to the network namespace, so one name per namespace)
 * and keeps it listening; a second daemon finds the name taken, connects, and
 * learns the holder's pid from SO_PEERCRED. The holder accepts and closes such
 * connections (instance_answer) so they never pile up.
 *
 * The database: a POSIX record lock on "<database>.lock" (created 0600), held
 * for the life of the process; F_GETLK names the holder, also across
 * namespaces (two daemons in different namespaces on one file).
 */
#ifndef VR_INSTANCE_H
#define VR_INSTANCE_H

#include <stddef.h>

struct instance;

#define INSTANCE_SOCKET "vrouterd" /* abstract name, shown by ss -x as @vrouterd */

/*
 * Claim this network namespace (the abstract socket name, INSTANCE_SOCKET
 * for the daemon) and the database at db_path (its directory must exist;
 * the lock sits beside the file db_path resolves to, so a path through a
 * symbolic link finds the same lock). 0 with *out set; -EBUSY when another
 * process holds either (why names it: "another vrouterd (pid 1234) already
 * manages this network namespace"); other -errno on failure, why filled.
 */
int instance_claim(const char *name, const char *db_path, struct instance **out, char *why,
                   size_t len) __attribute__((warn_unused_result));
/* The listening socket, to poll for POLLIN; then call instance_answer. */
int instance_fd(const struct instance *in);
/* Accept and close every pending connection of a daemon asking who we are. */
void instance_answer(struct instance *in);
/* Give both up. NULL-safe. */
void instance_release(struct instance *in);

#endif
