#include "tmpdir.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

void tmpdir_make(char *dir, size_t size, const char *name)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, size, "%s/vr-%s-XXXXXX", base && base[0] ? base : "/tmp", name);
	assert_non_null(mkdtemp(dir));
}

void tmpdir_remove(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

struct tmpdir_fx *tmpdir_fx_new(const char *name, const char *file)
{
	struct tmpdir_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(f->dir, sizeof(f->dir), name);
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, file);
	return f;
}

void tmpdir_fx_free(struct tmpdir_fx *f)
{
	tmpdir_remove(f->dir);
	free(f);
}
