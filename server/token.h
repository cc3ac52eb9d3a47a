/*
 * The API's bearer tokens, each with a name and a scope: read from their
 * file at start and again on SIGHUP. The one place that knows the file's
 * rules.
 */
#ifndef VR_TOKEN_H
#define VR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_MIN_LEN 32           /* characters */
#define TOKEN_MAX_LEN 255          /* bytes */
#define TOKEN_NEW_BYTES 32         /* random bytes of a created token, written as 64 hex digits */
#define TOKEN_WHY_MAX 256          /* room for a reason */
#define TOKEN_NAME_MAX 64          /* a name's bytes and its NUL */
#define TOKENS_MAX 64              /* tokens in one file */
#define TOKEN_FILE_MAX (64 * 1024) /* bytes in a token file */

/*
 * The file format (README "Running it for real"):
 *
 *   # comment; blank lines are ignored
 *   NAME SCOPE TOKEN
 *
 * one token a line, fields separated by spaces or tabs. NAME: 1 to 63 of
 * A-Z a-z 0-9 . _ -, unique in the file. SCOPE: read (GET and HEAD only) or
 * write (everything). TOKEN: TOKEN_MIN_LEN..TOKEN_MAX_LEN visible ASCII
 * characters, unique in the file. A file that is one line without a space
 * or a tab (the format before names) is one write token named "default".
 */
enum token_scope { TOKEN_READ, TOKEN_WRITE };

struct token_ent {
	char name[TOKEN_NAME_MAX]; /* may be logged */
	enum token_scope scope;
	char secret[TOKEN_MAX_LEN + 1]; /* zero padded; never logged */
};

struct token_set {
	size_t n;
	struct token_ent v[TOKENS_MAX];
};

/* "read" or "write". */
const char *token_scope_name(enum token_scope s);

/*
 * The tokens in a file's content buf[0..n) into out. Returns 0, or -EINVAL
 * with why saying what is wrong and on which line ("line 3: the scope must be
 * read or write"); why never holds a token or a field that may be one.
 */
int token_parse(const char *buf, size_t n, struct token_set *out, char *why, size_t len)
    __attribute__((warn_unused_result));

/*
 * Read the tokens from the file at path into out. The file must be a
 * regular file that neither its group nor others may read, write or
 * execute, holding what token_parse accepts. create: a missing file is
 * created (0600, never over an existing one) with one new random token in
 * the old one-token format. Returns 0, or -errno with why naming the file
 * and the problem; out is only written on success.
 */
int token_load(const char *path, bool create, struct token_set *out, char *why, size_t len)
    __attribute__((warn_unused_result));

/*
 * The index in s of the token equal to given[0..glen), or -1. Time depends
 * on s->n and nothing else: every byte of every token is compared, with no
 * exit on a difference or a match.
 */
int token_match(const struct token_set *s, const char *given, size_t glen);

#endif
