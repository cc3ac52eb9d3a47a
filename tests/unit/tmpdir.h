/* A private temporary directory for a test's files, removed with everything in it. */
#ifndef VR_TEST_TMPDIR_H
#define VR_TEST_TMPDIR_H

#include <limits.h>
#include <stddef.h>

/* Make $TMPDIR/vr-<name>-XXXXXX (mode 0700) into dir (size >= PATH_MAX); fails the test if not. */
void tmpdir_make(char *dir, size_t size, const char *name);
/* Remove dir and everything below it; fails the test if that fails. */
void tmpdir_remove(const char *dir);

/* A test's directory and the path of one file in it (not created). */
struct tmpdir_fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
};

/* A new directory vr-<name>-XXXXXX and path = dir/file; fails the test if not. */
struct tmpdir_fx *tmpdir_fx_new(const char *name, const char *file);
/* Remove the directory with everything in it, and free f. */
void tmpdir_fx_free(struct tmpdir_fx *f);

#endif
