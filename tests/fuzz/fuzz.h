/*
 * What every harness in tests/fuzz shares: libFuzzer's entry points, which
 * replay.c also calls where there is no libFuzzer (gcc builds, ctest), and a
 * check that aborts on a broken property so that either one keeps the input.
 */
#ifndef VR_FUZZ_H
#define VR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once before the first input; optional (replay.c and libFuzzer check). */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* One input; returns 0 (libFuzzer reserves other values). Aborts on a finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property every input must keep: otherwise say which, and abort. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: broken: %s: ", __FILE__, __LINE__, #cond);         \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input as a NUL-terminated string (malloc'd; an embedded NUL ends it early). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

#endif
