/*
 * server/instance.c: one claim per abstract socket name and per database
 * file, the holder named by pid. The other claimant is a child process (a
 * process's own POSIX locks never conflict with each other). The socket name
 * is unique to the test, so a vrouterd running on this machine is not met.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "instance.h"
#include "tmpdir.h"

#define WHY_MAX 512

static char name[64], other[64];

static int setup(void **state)
{
	snprintf(name, sizeof(name), "vrouterd-test-%ld-a", (long)getpid());
	snprintf(other, sizeof(other), "vrouterd-test-%ld-b", (long)getpid());
	*state = tmpdir_fx_new("instance", "vrouter.db");
	return 0;
}

static int teardown(void **state)
{
	tmpdir_fx_free(*state);
	return 0;
}

/* In a child: claim (sock, db) and expect rc with words in why; exit status 0 when so. */
static int child_claims(const char *sock, const char *db, int rc, const char *words)
{
	pid_t pid = fork();
	int status = -1;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct instance *in = NULL;
		char why[WHY_MAX] = "";
		int got = instance_claim(sock, db, &in, why, sizeof(why));

		if (got != rc || (words && !strstr(why, words))) {
			fprintf(stderr, "claim(%s, %s): %d (expected %d): %s\n", sock, db, got, rc,
			        why);
			_exit(1);
		}
		instance_release(in);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

static void one_holder_named_by_pid(void **state)
{
	struct tmpdir_fx *f = *state;
	struct instance *in = NULL;
	char why[WHY_MAX], db2[PATH_MAX + 8], link[PATH_MAX + 8], via_link[PATH_MAX * 2];
	char ns_words[64], db_words[PATH_MAX + 64];
	struct pollfd pfd;

	snprintf(db2, sizeof(db2), "%s/other.db", f->dir);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	snprintf(via_link, sizeof(via_link), "%s/vrouter.db", link);
	assert_int_equal(symlink(f->dir, link), 0);
	snprintf(ns_words, sizeof(ns_words), "another vrouterd (pid %ld) already manages",
	         (long)getpid());
	snprintf(db_words, sizeof(db_words), "in use by another vrouterd (pid %ld holds the lock",
	         (long)getpid());

	assert_int_equal(instance_claim(name, f->path, &in, why, sizeof(why)), 0);
	/* The lock file is private. */
	{
		char lock[PATH_MAX + 8];
		struct stat st;

		snprintf(lock, sizeof(lock), "%s.lock", f->path);
		assert_int_equal(stat(lock, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	/* The same name with another database: the namespace is taken. */
	assert_int_equal(child_claims(name, db2, -EBUSY, ns_words), 0);
	/* Another name (another namespace) with the same database: the database is taken. */
	assert_int_equal(child_claims(other, f->path, -EBUSY, db_words), 0);
	/* Also through a symbolic link to its directory. */
	assert_int_equal(child_claims(other, via_link, -EBUSY, db_words), 0);
	/* Another name and another database: free. */
	assert_int_equal(child_claims(other, db2, 0, NULL), 0);

	/* The asking child's connection waits to be answered, then is gone. */
	pfd.fd = instance_fd(in);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 1);
	instance_answer(in);
	assert_int_equal(poll(&pfd, 1, 0), 0);

	instance_release(in);
	/* Released: a newcomer gets both. */
	assert_int_equal(child_claims(name, f->path, 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(one_holder_named_by_pid, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
