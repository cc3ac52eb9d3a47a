#include "token.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

const char *token_scope_name(enum token_scope s)
{
	return s == TOKEN_WRITE ? "write" : "read";
}

/* Whether buf[0..n) is a token: TOKEN_MIN_LEN..TOKEN_MAX_LEN visible ASCII characters. */
static int token_check(const char *buf, size_t n, char *why, size_t len)
{
	if (n == 0) {
		snprintf(why, len, "the token is empty");
		return -EINVAL;
	}
	if (n > TOKEN_MAX_LEN) {
		snprintf(why, len, "the token is %zu bytes long; it may have at most %d", n,
		         TOKEN_MAX_LEN);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 0x20 || c == 0x7f) {
			snprintf(why, len,
			         "the token holds a control character (0x%02x) at byte %zu", c,
			         i + 1);
			return -EINVAL;
		}
		if (c == ' ') {
			snprintf(why, len, "the token holds a space at byte %zu", i + 1);
			return -EINVAL;
		}
		if (c > 0x7e) {
			snprintf(why, len,
			         "the token holds a byte that is not ASCII (0x%02x) at byte %zu", c,
			         i + 1);
			return -EINVAL;
		}
	}
	if (n < TOKEN_MIN_LEN) {
		snprintf(why, len, "the token is %zu characters long; it needs at least %d", n,
		         TOKEN_MIN_LEN);
		return -EINVAL;
	}
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Split line[0..n) at blanks into up to 4 fields (a 4th means too many); returns the count. */
static size_t split(const char *line, size_t n, const char *f[4], size_t fl[4])
{
	size_t k = 0, i = 0;

	while (i < n && k < 4) {
		while (i < n && is_blank(line[i]))
			i++;
		if (i == n)
			break;
		f[k] = line + i;
		while (i < n && !is_blank(line[i]))
			i++;
		fl[k] = (size_t)(line + i - f[k]);
		k++;
	}
	return k;
}

/* One "NAME SCOPE TOKEN" line into e; the set so far (s) for duplicates. */
static int parse_line(const char *line, size_t n, const struct token_set *s, size_t *lines,
                      struct token_ent *e, char *why, size_t len)
{
	const char *f[4];
	size_t fl[4], k = split(line, n, f, fl);

	if (k != 3) {
		snprintf(why, len,
		         "%zu field%s where NAME SCOPE TOKEN are expected (a token alone is "
		         "allowed only as the whole file)",
		         k, k == 1 ? "" : "s");
		if (k == 4)
			snprintf(why, len,
			         "more than 3 fields where NAME SCOPE TOKEN are expected");
		return -EINVAL;
	}
	if (fl[0] >= TOKEN_NAME_MAX) {
		snprintf(why, len, "the name is %zu bytes long; it may have at most %d", fl[0],
		         TOKEN_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < fl[0]; i++) {
		if (!name_char(f[0][i])) {
			snprintf(why, len,
			         "the name holds a character other than A-Z a-z 0-9 . _ - at byte "
			         "%zu",
			         i + 1);
			return -EINVAL;
		}
	}
	if (fl[1] == 4 && !memcmp(f[1], "read", 4))
		e->scope = TOKEN_READ;
	else if (fl[1] == 5 && !memcmp(f[1], "write", 5))
		e->scope = TOKEN_WRITE;
	else {
		snprintf(why, len, "the scope must be read or write");
		return -EINVAL;
	}
	if (token_check(f[2], fl[2], why, len))
		return -EINVAL;
	memcpy(e->name, f[0], fl[0]);
	e->name[fl[0]] = '\0';
	memcpy(e->secret, f[2], fl[2]);
	e->secret[fl[2]] = '\0';
	for (size_t j = 0; j < s->n; j++) {
		if (!strcmp(s->v[j].name, e->name)) {
			snprintf(why, len, "the name %s is already used on line %zu", e->name,
			         lines[j]);
			return -EINVAL;
		}
		if (!strcmp(s->v[j].secret, e->secret)) {
			snprintf(why, len, "the token is the same as on line %zu", lines[j]);
			return -EINVAL;
		}
	}
	return 0;
}

/* The format before names: the whole file is one token and an optional line end. */
static int parse_single(const char *buf, size_t n, struct token_set *out, char *why, size_t len)
{
	if (token_check(buf, n, why, len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->n = 1;
	snprintf(out->v[0].name, sizeof(out->v[0].name), "default");
	out->v[0].scope = TOKEN_WRITE;
	memcpy(out->v[0].secret, buf, n);
	return 0;
}

int token_parse(const char *buf, size_t n, struct token_set *out, char *why, size_t len)
{
	struct token_set s;
	size_t lines[TOKENS_MAX], no = 0, i = 0, m = n;
	char reason[TOKEN_WHY_MAX];
	int rc = 0;

	if (m > 0 && buf[m - 1] == '\n') {
		m--;
		if (m > 0 && buf[m - 1] == '\r')
			m--;
	}
	if (m == 0) {
		snprintf(why, len, "the file is empty");
		return -EINVAL;
	}
	if (!memchr(buf, '\n', m) && !memchr(buf, ' ', m) && !memchr(buf, '\t', m))
		return parse_single(buf, m, out, why, len);
	memset(&s, 0, sizeof(s));
	while (i < n) {
		const char *line = buf + i, *nl = memchr(line, '\n', n - i);
		size_t l = nl ? (size_t)(nl - line) : n - i, j = 0;

		i += l + (nl ? 1 : 0);
		no++;
		if (l > 0 && line[l - 1] == '\r')
			l--;
		while (j < l && is_blank(line[j]))
			j++;
		if (j == l || line[j] == '#')
			continue;
		if (s.n == TOKENS_MAX) {
			snprintf(why, len, "line %zu: more than %d tokens", no, TOKENS_MAX);
			rc = -EINVAL;
			break;
		}
		if (parse_line(line, l, &s, lines, &s.v[s.n], reason, sizeof(reason))) {
			snprintf(why, len, "line %zu: %s", no, reason);
			rc = -EINVAL;
			break;
		}
		lines[s.n++] = no;
	}
	if (!rc && s.n == 0) {
		snprintf(why, len, "the file holds no token, only comments and blank lines");
		rc = -EINVAL;
	}
	if (!rc)
		memcpy(out, &s, sizeof(s));
	explicit_bzero(&s, sizeof(s));
	return rc;
}

int token_match(const struct token_set *s, const char *given, size_t glen)
{
	char g[TOKEN_MAX_LEN + 1] = {0};
	unsigned found = 0, idx = 0;

	/* Longer than any token: the caller's own length, so no secret in how fast we say no. */
	if (glen > TOKEN_MAX_LEN || glen == 0 || memchr(given, '\0', glen))
		return -1;
	memcpy(g, given, glen);
	/*
	 * Every token against the zero-padded guess over the full width; a token
	 * holds no NUL, so equal widths mean equal lengths too.
	 */
	for (size_t k = 0; k < s->n; k++) {
		unsigned char diff = 0;
		unsigned eq;

		for (size_t i = 0; i < sizeof(g); i++)
			diff |= (unsigned char)(s->v[k].secret[i] ^ g[i]);
		eq = (unsigned)(((unsigned)diff - 1u) >> 8) & 1u; /* 1 when diff == 0 */
		idx |= (unsigned)k & (0u - eq);
		found |= eq;
	}
	explicit_bzero(g, sizeof(g));
	return found ? (int)idx : -1;
}

/* A new file at path holding a fresh random token as hex; never replaces an existing file. */
static int token_create(const char *path, char *why, size_t len)
{
	unsigned char raw[TOKEN_NEW_BYTES];
	char hex[TOKEN_NEW_BYTES * 2 + 2];
	size_t n = sizeof(hex) - 1;
	int fd, rc = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		snprintf(why, len, "no random bytes for a new token: %s", strerror(errno));
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[n - 1] = '\n';
	hex[n] = '\0';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, len, "cannot create it: %s", strerror(errno));
		return rc;
	}
	if (write(fd, hex, n) != (ssize_t)n || fsync(fd)) {
		rc = -EIO;
		snprintf(why, len, "cannot write it: %s", strerror(errno));
	}
	close(fd);
	if (rc)
		unlink(path);
	else
		log_info("created a new API token in %s", path);
	return rc;
}

int token_load(const char *path, bool create, struct token_set *out, char *why, size_t len)
{
	char buf[TOKEN_FILE_MAX + 1];
	char reason[TOKEN_WHY_MAX];
	struct stat st;
	size_t got = 0;
	ssize_t n = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT && create) {
		rc = token_create(path, reason, sizeof(reason));
		if (rc)
			goto out;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	}
	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(reason, sizeof(reason), "not a regular file");
		goto out;
	}
	/* Whoever else can read it can call the API; whoever can write it can lock us out. */
	if (st.st_mode & 077) {
		rc = -EACCES;
		snprintf(reason, sizeof(reason),
		         "the file is open to its group or others (mode %04o); it must be private "
		         "to its owner: chmod 600 %s",
		         (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	/* One byte more than allowed, to see it is longer. */
	while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	if (n < 0) {
		rc = -errno;
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
	} else if (got == 0) {
		rc = -EINVAL;
		snprintf(reason, sizeof(reason), "the file is empty");
	} else if (got == sizeof(buf)) {
		rc = -EINVAL;
		snprintf(reason, sizeof(reason),
		         "the file is %lld bytes long; a token file may have at most %d",
		         (long long)st.st_size, TOKEN_FILE_MAX);
	} else {
		rc = token_parse(buf, got, out, reason, sizeof(reason));
	}
	explicit_bzero(buf, got);
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		snprintf(why, len, "token file %s: %s", path, reason);
	return rc;
}
