/* server/token.c: the token file's rules, on contents and on real files in a temp dir. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "token.h"
#include "tmpdir.h"

#define T32 "0123456789abcdef0123456789abcdef"

static int setup(void **state)
{
	*state = tmpdir_fx_new("token", "token");
	return 0;
}

static int teardown(void **state)
{
	tmpdir_fx_free(*state);
	return 0;
}

/* token_parse on text (NUL-free); 0 or the error, with why. */
static int parse(const char *text, char *out, char *why)
{
	return token_parse(text, strlen(text), out, TOKEN_MAX_LEN + 1, why, TOKEN_WHY_MAX);
}

static void parse_accepts(void **state)
{
	char out[TOKEN_MAX_LEN + 1], why[TOKEN_WHY_MAX], lng[TOKEN_MAX_LEN + 2];

	assert_int_equal(parse(T32, out, why), 0);
	assert_string_equal(out, T32);
	assert_int_equal(parse(T32 "\n", out, why), 0);
	assert_string_equal(out, T32);
	assert_int_equal(parse(T32 "\r\n", out, why), 0);
	assert_string_equal(out, T32);
	/* Every visible ASCII character may be part of it. */
	assert_int_equal(parse("!~" T32 "+/=", out, why), 0);
	assert_string_equal(out, "!~" T32 "+/=");
	memset(lng, 'x', TOKEN_MAX_LEN);
	lng[TOKEN_MAX_LEN] = '\n';
	lng[TOKEN_MAX_LEN + 1] = '\0';
	assert_int_equal(parse(lng, out, why), 0);
	assert_int_equal(strlen(out), TOKEN_MAX_LEN);
}

static void parse_refuses(void **state)
{
	char out[TOKEN_MAX_LEN + 1], why[TOKEN_WHY_MAX], lng[TOKEN_MAX_LEN + 3];

	assert_int_equal(parse("", out, why), -EINVAL);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(parse("\n", out, why), -EINVAL);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(parse("0123456789012345678901234567890\n", out, why), -EINVAL);
	assert_string_equal(why, "the token is 31 characters long; it needs at least 32");
	assert_int_equal(parse("x", out, why), -EINVAL);
	assert_non_null(strstr(why, "1 characters long"));
	memset(lng, 'x', TOKEN_MAX_LEN + 1);
	lng[TOKEN_MAX_LEN + 1] = '\n';
	lng[TOKEN_MAX_LEN + 2] = '\0';
	assert_int_equal(parse(lng, out, why), -EINVAL);
	assert_string_equal(why, "the token is 256 bytes long; it may have at most 255");
	assert_int_equal(parse("0123456789abcdef\t0123456789abcdef", out, why), -EINVAL);
	assert_string_equal(why, "the token holds a control character (0x09) at byte 17");
	assert_int_equal(parse(T32 "\n\n", out, why), -EINVAL);
	assert_non_null(strstr(why, "control character (0x0a) at byte 33"));
	assert_int_equal(parse(T32 "\x7f", out, why), -EINVAL);
	assert_non_null(strstr(why, "control character (0x7f)"));
	assert_int_equal(parse("\r" T32, out, why), -EINVAL);
	assert_non_null(strstr(why, "control character (0x0d) at byte 1"));
	assert_int_equal(parse(T32 " ", out, why), -EINVAL);
	assert_string_equal(why, "the token holds a space at byte 33");
	assert_int_equal(parse(T32 "\xc3\xa9", out, why), -EINVAL);
	assert_non_null(strstr(why, "not ASCII (0xc3) at byte 33"));
	/* A NUL inside the file is a control character too. */
	assert_int_equal(token_parse(T32 "\0" T32, 65, out, sizeof(out), why, sizeof(why)),
	                 -EINVAL);
	assert_non_null(strstr(why, "control character (0x00) at byte 33"));
}

static void write_file(const char *path, const char *text, size_t n, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void load_creates_a_private_token(void **state)
{
	struct tmpdir_fx *f = *state;
	char out[TOKEN_MAX_LEN + 1], again[TOKEN_MAX_LEN + 1], why[TOKEN_WHY_MAX + PATH_MAX];
	struct stat st;

	/* Not without create (SIGHUP): a missing file is an error. */
	assert_int_equal(token_load(f->path, false, out, sizeof(out), why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, f->path));
	umask(022);
	assert_int_equal(token_load(f->path, true, out, sizeof(out), why, sizeof(why)), 0);
	assert_int_equal(strlen(out), TOKEN_NEW_BYTES * 2);
	assert_int_equal(strspn(out, "0123456789abcdef"), TOKEN_NEW_BYTES * 2);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, TOKEN_NEW_BYTES * 2 + 1);
	/* It is read back, not replaced. */
	assert_int_equal(token_load(f->path, true, again, sizeof(again), why, sizeof(why)), 0);
	assert_string_equal(again, out);
}

static void load_refuses_open_files(void **state)
{
	struct tmpdir_fx *f = *state;
	char out[TOKEN_MAX_LEN + 1], why[TOKEN_WHY_MAX + PATH_MAX];
	static const mode_t bad[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char mode[16];

		write_file(f->path, T32 "\n", 33, bad[i]);
		assert_int_equal(token_load(f->path, false, out, sizeof(out), why, sizeof(why)),
		                 -EACCES);
		snprintf(mode, sizeof(mode), "mode %04o", (unsigned)bad[i]);
		assert_non_null(strstr(why, mode));
		assert_non_null(strstr(why, f->path));
	}
	write_file(f->path, T32 "\n", 33, 0400);
	assert_int_equal(token_load(f->path, false, out, sizeof(out), why, sizeof(why)), 0);
	assert_string_equal(out, T32);
	/* Not a regular file. */
	assert_int_equal(token_load(f->dir, false, out, sizeof(out), why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
}

static void load_refuses_bad_contents(void **state)
{
	struct tmpdir_fx *f = *state;
	char out[TOKEN_MAX_LEN + 1], why[TOKEN_WHY_MAX + PATH_MAX], big[4096];

	write_file(f->path, "", 0, 0600);
	assert_int_equal(token_load(f->path, false, out, sizeof(out), why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "empty"));
	write_file(f->path, "x\n", 2, 0600);
	assert_int_equal(token_load(f->path, true, out, sizeof(out), why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "1 characters long; it needs at least 32"));
	assert_non_null(strstr(why, f->path));
	memset(big, 'a', sizeof(big));
	write_file(f->path, big, sizeof(big), 0600);
	assert_int_equal(token_load(f->path, false, out, sizeof(out), why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "4096 bytes long"));
	write_file(f->path, T32 "\t\n", 34, 0600);
	assert_int_equal(token_load(f->path, false, out, sizeof(out), why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "control character"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_accepts), cmocka_unit_test(parse_refuses),
	    T(load_creates_a_private_token), T(load_refuses_open_files),
	    T(load_refuses_bad_contents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
