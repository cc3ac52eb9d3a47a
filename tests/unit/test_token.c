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
static int parse(const char *text, struct token_set *out, char *why)
{
	return token_parse(text, strlen(text), out, why, TOKEN_WHY_MAX);
}

/* The old format: the whole file one token, taken as a write token named "default". */
static void parse_accepts_one_token(void **state)
{
	struct token_set s;
	char why[TOKEN_WHY_MAX], lng[TOKEN_MAX_LEN + 2];

	(void)state;
	assert_int_equal(parse(T32, &s, why), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0].secret, T32);
	assert_string_equal(s.v[0].name, "default");
	assert_int_equal(s.v[0].scope, TOKEN_WRITE);
	assert_int_equal(parse(T32 "\n", &s, why), 0);
	assert_string_equal(s.v[0].secret, T32);
	assert_int_equal(parse(T32 "\r\n", &s, why), 0);
	assert_string_equal(s.v[0].secret, T32);
	/* Every visible ASCII character may be part of it, "#" first too. */
	assert_int_equal(parse("#!~" T32 "+/=", &s, why), 0);
	assert_string_equal(s.v[0].secret, "#!~" T32 "+/=");
	memset(lng, 'x', TOKEN_MAX_LEN);
	lng[TOKEN_MAX_LEN] = '\n';
	lng[TOKEN_MAX_LEN + 1] = '\0';
	assert_int_equal(parse(lng, &s, why), 0);
	assert_int_equal(strlen(s.v[0].secret), TOKEN_MAX_LEN);
}

static void parse_refuses_one_token(void **state)
{
	struct token_set s;
	char why[TOKEN_WHY_MAX], lng[TOKEN_MAX_LEN + 3];

	(void)state;
	assert_int_equal(parse("", &s, why), -EINVAL);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(parse("\n", &s, why), -EINVAL);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(parse("0123456789012345678901234567890\n", &s, why), -EINVAL);
	assert_string_equal(why, "the token is 31 characters long; it needs at least 32");
	assert_int_equal(parse("x", &s, why), -EINVAL);
	assert_non_null(strstr(why, "1 characters long"));
	memset(lng, 'x', TOKEN_MAX_LEN + 1);
	lng[TOKEN_MAX_LEN + 1] = '\n';
	lng[TOKEN_MAX_LEN + 2] = '\0';
	assert_int_equal(parse(lng, &s, why), -EINVAL);
	assert_string_equal(why, "the token is 256 bytes long; it may have at most 255");
	assert_int_equal(parse("0123456789abcdef\x01"
	                       "0123456789abcdef",
	                       &s, why),
	                 -EINVAL);
	assert_string_equal(why, "the token holds a control character (0x01) at byte 17");
	assert_int_equal(parse(T32 "\x7f", &s, why), -EINVAL);
	assert_non_null(strstr(why, "control character (0x7f)"));
	assert_int_equal(parse("\r" T32, &s, why), -EINVAL);
	assert_non_null(strstr(why, "control character (0x0d) at byte 1"));
	assert_int_equal(parse(T32 "\xc3\xa9", &s, why), -EINVAL);
	assert_non_null(strstr(why, "not ASCII (0xc3) at byte 33"));
	/* A NUL inside the file is a control character too. */
	assert_int_equal(token_parse(T32 "\0" T32, 65, &s, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "control character (0x00) at byte 33"));
	/* Two lines of a token each are not the old format: the first line is short of fields. */
	assert_int_equal(parse(T32 "\n" T32 "\n", &s, why), -EINVAL);
	assert_non_null(strstr(why, "line 1: 1 field where NAME SCOPE TOKEN"));
}

#define TA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define TC "cccccccccccccccccccccccccccccccc"

static void parse_accepts_named_tokens(void **state)
{
	struct token_set s;
	char why[TOKEN_WHY_MAX];

	(void)state;
	assert_int_equal(parse("# the API's tokens\n"
	                       "\n"
	                       "admin write " TA "\n"
	                       "   # indented comment\n"
	                       "ui-viewer.2 read\t" TB "  \r\n"
	                       "\t \n"
	                       "CI_bot\t\twrite   " TC,
	                       &s, why),
	                 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.v[0].name, "admin");
	assert_int_equal(s.v[0].scope, TOKEN_WRITE);
	assert_string_equal(s.v[0].secret, TA);
	assert_string_equal(s.v[1].name, "ui-viewer.2");
	assert_int_equal(s.v[1].scope, TOKEN_READ);
	assert_string_equal(s.v[1].secret, TB);
	assert_string_equal(s.v[2].name, "CI_bot");
	assert_int_equal(s.v[2].scope, TOKEN_WRITE);
	assert_string_equal(s.v[2].secret, TC);
	/* One named line is the new format too. */
	assert_int_equal(parse("viewer read " TA "\n", &s, why), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0].name, "viewer");
	assert_int_equal(s.v[0].scope, TOKEN_READ);
	assert_string_equal(token_scope_name(TOKEN_READ), "read");
	assert_string_equal(token_scope_name(TOKEN_WRITE), "write");
}

/* Each malformed line is refused with its number, and the message holds no token. */
static void parse_refuses_malformed_lines(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"a write " TA "\nb read\n", "line 2: 2 fields where NAME SCOPE TOKEN"},
	    {"# c\na write " TA " extra\n", "line 2: more than 3 fields"},
	    {"a write " TA "\n\n\nb admin " TB "\n", "line 4: the scope must be read or write"},
	    {"a Write " TA "\n", "line 1: the scope must be read or write"},
	    {"a write " TA "\nb read 0123456789012345678901234567890\n",
	     "line 2: the token is 31 characters long; it needs at least 32"},
	    {"a write " TA "\xc3\xa9\n", "line 1: the token holds a byte that is not ASCII"},
	    {"a write " TA "\x01\n", "line 1: the token holds a control character (0x01)"},
	    {"a/b write " TA "\n", "line 1: the name holds a character other than"},
	    {"n\xc3\xa9 write " TA "\n", "line 1: the name holds a character other than"},
	    {"a write " TA "\n# x\nb read " TA "\n", "line 3: the token is the same as on line 1"},
	    {"a write " TA "\na read " TB "\n", "line 2: the name a is already used on line 1"},
	    {"# only\n  \n# comments\n", "the file holds no token"},
	    {"0123456789012345678901234567890123456789012345678901234567890123 write " TA "\n",
	     "line 1: the name is 64 bytes long; it may have at most 63"},
	};
	struct token_set s;
	char why[TOKEN_WHY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.n = 99;
		assert_int_equal(parse(bad[i].text, &s, why), -EINVAL);
		if (!strstr(why, bad[i].why))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why, bad[i].why);
		assert_null(strstr(why, TA));
		assert_null(strstr(why, TB));
		assert_int_equal(s.n, 99); /* out untouched */
	}
}

static void parse_refuses_too_many(void **state)
{
	static char text[TOKENS_MAX * 64 + 64];
	struct token_set s;
	char why[TOKEN_WHY_MAX];
	size_t off = 0;

	(void)state;
	for (int i = 0; i < TOKENS_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "t%d read %032d\n", i, i);
	assert_int_equal(parse(text, &s, why), 0);
	assert_int_equal(s.n, TOKENS_MAX);
	snprintf(text + off, sizeof(text) - off, "one-more read %032d\n", TOKENS_MAX);
	assert_int_equal(parse(text, &s, why), -EINVAL);
	assert_string_equal(why, "line 65: more than 64 tokens");
}

/* token_match: the right index for each token, -1 for everything near one. */
static void match_finds_exactly_one(void **state)
{
	struct token_set s;
	char why[TOKEN_WHY_MAX], lng[TOKEN_MAX_LEN + 2];

	(void)state;
	assert_int_equal(parse("a write " TA "\nb read " TB "\nc read " TC "x\n", &s, why), 0);
	assert_int_equal(token_match(&s, TA, strlen(TA)), 0);
	assert_int_equal(token_match(&s, TB, strlen(TB)), 1);
	assert_int_equal(token_match(&s, TC "x", strlen(TC) + 1), 2);
	/* A prefix, a longer one, one byte off, empty, the name: no. */
	assert_int_equal(token_match(&s, TC, strlen(TC)), -1);
	assert_int_equal(token_match(&s, TA "a", strlen(TA) + 1), -1);
	assert_int_equal(token_match(&s, TA, strlen(TA) - 1), -1);
	assert_int_equal(token_match(&s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", strlen(TA)), -1);
	assert_int_equal(token_match(&s, "", 0), -1);
	assert_int_equal(token_match(&s, "a", 1), -1);
	/* A NUL in the guess does not end it early: "TA\0" is not TA. */
	assert_int_equal(token_match(&s, TA "\0", strlen(TA) + 1), -1);
	memset(lng, 'a', sizeof(lng));
	assert_int_equal(token_match(&s, lng, sizeof(lng)), -1);
	/* The last of a full set is found, and an empty set finds nothing. */
	s.n = 0;
	assert_int_equal(token_match(&s, TA, strlen(TA)), -1);
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
	struct token_set out, again;
	char why[TOKEN_WHY_MAX + PATH_MAX];
	struct stat st;

	/* Not without create (SIGHUP): a missing file is an error. */
	assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, f->path));
	umask(022);
	assert_int_equal(token_load(f->path, true, &out, why, sizeof(why)), 0);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.v[0].name, "default");
	assert_int_equal(out.v[0].scope, TOKEN_WRITE);
	assert_int_equal(strlen(out.v[0].secret), TOKEN_NEW_BYTES * 2);
	assert_int_equal(strspn(out.v[0].secret, "0123456789abcdef"), TOKEN_NEW_BYTES * 2);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, TOKEN_NEW_BYTES * 2 + 1);
	/* It is read back, not replaced. */
	assert_int_equal(token_load(f->path, true, &again, why, sizeof(why)), 0);
	assert_string_equal(again.v[0].secret, out.v[0].secret);
}

static void load_refuses_open_files(void **state)
{
	struct tmpdir_fx *f = *state;
	struct token_set out;
	char why[TOKEN_WHY_MAX + PATH_MAX];
	static const mode_t bad[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char mode[16];

		write_file(f->path, T32 "\n", 33, bad[i]);
		assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), -EACCES);
		snprintf(mode, sizeof(mode), "mode %04o", (unsigned)bad[i]);
		assert_non_null(strstr(why, mode));
		assert_non_null(strstr(why, f->path));
	}
	write_file(f->path, T32 "\n", 33, 0400);
	assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), 0);
	assert_string_equal(out.v[0].secret, T32);
	/* Not a regular file. */
	assert_int_equal(token_load(f->dir, false, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
}

static void load_refuses_bad_contents(void **state)
{
	struct tmpdir_fx *f = *state;
	struct token_set out;
	char why[TOKEN_WHY_MAX + PATH_MAX], big[4096];

	write_file(f->path, "", 0, 0600);
	assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "empty"));
	write_file(f->path, "x\n", 2, 0600);
	assert_int_equal(token_load(f->path, true, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "1 characters long; it needs at least 32"));
	assert_non_null(strstr(why, f->path));
	memset(big, 'a', sizeof(big));
	write_file(f->path, big, sizeof(big), 0600);
	assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "the token is 4096 bytes long"));
	write_file(f->path, T32 "\x01\n", 34, 0600);
	assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "control character"));
	/* A malformed line: its number, the file's name, no token. */
	write_file(f->path, "a write " T32 "\nb sudo " T32 "x\n", 82, 0600);
	assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "line 2: the scope must be read or write"));
	assert_non_null(strstr(why, f->path));
	assert_null(strstr(why, T32));
	/* Past TOKEN_FILE_MAX bytes, whatever they hold. */
	{
		static char huge[TOKEN_FILE_MAX + 10];

		memset(huge, '#', sizeof(huge));
		write_file(f->path, huge, sizeof(huge), 0600);
		assert_int_equal(token_load(f->path, false, &out, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "at most 65536"));
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_accepts_one_token),
	    cmocka_unit_test(parse_refuses_one_token),
	    cmocka_unit_test(parse_accepts_named_tokens),
	    cmocka_unit_test(parse_refuses_malformed_lines),
	    cmocka_unit_test(parse_refuses_too_many),
	    cmocka_unit_test(match_finds_exactly_one),
	    T(load_creates_a_private_token),
	    T(load_refuses_open_files),
	    T(load_refuses_bad_contents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
