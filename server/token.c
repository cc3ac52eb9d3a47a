#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Bytes read from a token file: the longest token, "\r\n", and one more to see it is longer. */
#define TOKEN_READ_MAX (TOKEN_MAX_LEN + 3)

int token_parse(const char *buf, size_t n, char *out, size_t size, char *why, size_t len)
{
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
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
	if (n >= size) {
		snprintf(why, len, "no room for the token");
		return -ENOBUFS;
	}
	memcpy(out, buf, n);
	out[n] = '\0';
	return 0;
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

int token_load(const char *path, bool create, char *out, size_t size, char *why, size_t len)
{
	char buf[TOKEN_READ_MAX];
	char reason[TOKEN_WHY_MAX];
	struct stat st;
	ssize_t n;
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
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		rc = -errno;
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
	} else if (n == 0) {
		rc = -EINVAL;
		snprintf(reason, sizeof(reason), "the file is empty");
	} else if ((size_t)n == sizeof(buf)) {
		/* More than the longest token and its line end: too long, whatever follows. */
		rc = -EINVAL;
		snprintf(reason, sizeof(reason),
		         "the file is %lld bytes long, longer than a token of at most %d bytes and "
		         "its newline",
		         (long long)st.st_size, TOKEN_MAX_LEN);
	} else {
		rc = token_parse(buf, (size_t)n, out, size, reason, sizeof(reason));
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		snprintf(why, len, "token file %s: %s", path, reason);
	return rc;
}
