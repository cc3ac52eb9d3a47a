/*
 * A main for the harnesses where libFuzzer is not linked (gcc, the default
 * and the ASan builds): each argument is an input file or a directory of
 * them, run once through LLVMFuzzerTestOneInput in name order. Fails when
 * there was nothing to run, so an empty corpus cannot pass.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_INPUT_MAX (64u * 1024 * 1024) /* bytes; no seed comes near */

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int rc = -1;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || len > REPLAY_INPUT_MAX ||
	    fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "replay: %s: cannot size it (at most %u bytes)\n", path,
		        REPLAY_INPUT_MAX);
		goto out;
	}
	/* Exactly len bytes, as libFuzzer hands them: ASan sees a read past the end. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: %s: cannot read it\n", path);
		goto out;
	}
	fprintf(stderr, "replay: %s (%ld bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* Run path, a file or every regular file of a directory; *n counts the inputs. */
static int replay_path(const char *path, size_t *n)
{
	struct dirent **names = NULL;
	struct stat st;
	int count, rc = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) < 0)
			return -1;
		(*n)++;
		return 0;
	}
	count = scandir(path, &names, NULL, alphasort);
	if (count < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < count; i++) {
		char file[PATH_MAX];

		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(file) < 0)
				rc = -1;
			else
				(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t n = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &n) < 0)
			rc = 1;
	if (n == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	if (rc == 0)
		printf("replayed %zu inputs, none broke a property\n", n);
	return rc;
}
