#include "http_frame.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HTTP_BAD_REQUEST 400
#define HTTP_TOO_LARGE 413
#define HTTP_URI_TOO_LONG 414
#define HTTP_HEADERS_TOO_LARGE 431

#define METHOD_MAX 16    /* bytes; the longest method served is DELETE */
#define CL_DIGITS_MAX 18 /* more digits could pass 2^63 */
#define QUOTE_MAX 40     /* how much of a bad value a message quotes */

/* RFC 9110 tchar: what a method or a header name is made of. */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Fill r with status and the message; returns -1 so callers can `return reject(...)`. */
static int reject(struct http_reject *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(struct http_reject *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* How much of s (n bytes) to quote: printable ASCII only, so the message stays valid JSON text. */
static int quotable(const char *s, size_t n)
{
	size_t k = 0;

	while (k < n && k < QUOTE_MAX && (unsigned char)s[k] >= 0x20 && (unsigned char)s[k] < 0x7f)
		k++;
	return (int)k;
}

int http_frame_target(const char *t, size_t len, struct http_reject *e)
{
	const char *q = memchr(t, '?', len);
	size_t path = q ? (size_t)(q - t) : len;

	if (len > HTTP_TARGET_MAX)
		return reject(e, HTTP_URI_TOO_LONG, "the request target is %zu bytes, at most %d",
		              len, HTTP_TARGET_MAX);
	if (path >= HTTP_PATH_MAX)
		return reject(e, HTTP_URI_TOO_LONG, "the path is %zu bytes, at most %d", path,
		              HTTP_PATH_MAX - 1);
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (is_ctl((unsigned char)t[i]))
			return reject(e, HTTP_BAD_REQUEST,
			              "the request target has a control byte (0x%02x at byte %zu)",
			              (unsigned char)t[i], i);
		if (t[i] != '%' || i + 2 >= len || (hi = hexval(t[i + 1])) < 0 ||
		    (lo = hexval(t[i + 2])) < 0)
			continue;
		if (is_ctl((unsigned char)(hi << 4 | lo)))
			return reject(
			    e, HTTP_BAD_REQUEST,
			    "the request target \"%.*s\" encodes a control byte (%%%c%c at "
			    "byte %zu): ids and values never hold one",
			    quotable(t, len), t, t[i + 1], t[i + 2], i);
	}
	return 0;
}

/* The request line "METHOD SP TARGET SP HTTP/1.x" (n bytes, no line end). */
static int request_line(const char *l, size_t n, struct http_reject *e)
{
	const char *sp1 = memchr(l, ' ', n), *sp2;
	size_t m, tlen;

	if (!sp1 || sp1 == l)
		return reject(e, HTTP_BAD_REQUEST,
		              "the request line \"%.*s\" is not METHOD TARGET HTTP/1.1",
		              quotable(l, n), l);
	m = (size_t)(sp1 - l);
	for (size_t i = 0; i < m; i++)
		if (!is_tchar((unsigned char)l[i]) || m > METHOD_MAX)
			return reject(e, HTTP_BAD_REQUEST, "the method \"%.*s\" is not a token",
			              quotable(l, m), l);
	sp2 = memchr(sp1 + 1, ' ', n - m - 1);
	if (!sp2 || sp2 == sp1 + 1)
		return reject(e, HTTP_BAD_REQUEST,
		              "the request line \"%.*s\" is not METHOD TARGET HTTP/1.1",
		              quotable(l, n), l);
	tlen = (size_t)(sp2 - sp1 - 1);
	if (http_frame_target(sp1 + 1, tlen, e) < 0)
		return -1;
	n -= (size_t)(sp2 + 1 - l);
	l = sp2 + 1;
	if (n == 8 && (!memcmp(l, "HTTP/1.1", 8) || !memcmp(l, "HTTP/1.0", 8)))
		return 0;
	if (n == 8 && !memcmp(l, "HTTP/", 5) && l[5] >= '0' && l[5] <= '9' && l[6] == '.' &&
	    l[7] >= '0' && l[7] <= '9')
		/* Bad input, so a 400 (SPEC: never a 5xx), not RFC 9110's 505. */
		return reject(e, HTTP_BAD_REQUEST,
		              "%.8s is not supported: this server speaks HTTP/1.1", l);
	return reject(e, HTTP_BAD_REQUEST, "\"%.*s\" is not an HTTP version (HTTP/1.1)",
	              quotable(l, n), l);
}

/* What the headers say about the body, gathered over every header line. */
struct framing {
	const char *cl; /* the first Content-Length value */
	size_t cl_len;
	bool te;
};

/* The value of a Content-Length header: digits only, the same in every such header. */
static int content_length(struct framing *f, const char *v, size_t n, struct http_reject *e)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return reject(e, HTTP_BAD_REQUEST,
			              "Content-Length \"%.*s\" is not a number of bytes",
			              quotable(v, n), v);
	if (n == 0)
		return reject(e, HTTP_BAD_REQUEST, "Content-Length is empty");
	if (f->cl && (f->cl_len != n || memcmp(f->cl, v, n)))
		return reject(
		    e, HTTP_BAD_REQUEST,
		    "Content-Length is given twice, as %.*s and %.*s: which body is meant?",
		    quotable(f->cl, f->cl_len), f->cl, quotable(v, n), v);
	/* Leading zeros do not make a number bigger. */
	for (i = 0; i + 1 < n && v[i] == '0'; i++)
		;
	if (n - i > CL_DIGITS_MAX)
		return reject(e, HTTP_TOO_LARGE, "Content-Length %.*s is too large", quotable(v, n),
		              v);
	f->cl = v;
	f->cl_len = n;
	return 0;
}

/* One header line "name: value" (n bytes, no line end). */
static int header_line(struct framing *f, const char *l, size_t n, struct http_reject *e)
{
	const char *colon = memchr(l, ':', n);
	size_t name, vs, ve;

	if (l[0] == ' ' || l[0] == '\t')
		return reject(e, HTTP_BAD_REQUEST,
		              "a header line starts with white space (obsolete line folding)");
	if (!colon || colon == l)
		return reject(e, HTTP_BAD_REQUEST, "the header line \"%.*s\" has no name: value",
		              quotable(l, n), l);
	name = (size_t)(colon - l);
	for (size_t i = 0; i < name; i++)
		if (!is_tchar((unsigned char)l[i]))
			return reject(e, HTTP_BAD_REQUEST,
			              "the header name \"%.*s\" is not a token", quotable(l, name),
			              l);
	for (size_t i = name + 1; i < n; i++)
		if (is_ctl((unsigned char)l[i]) && l[i] != '\t')
			return reject(e, HTTP_BAD_REQUEST,
			              "the header %.*s has a control byte (0x%02x) in its value",
			              quotable(l, name), l, (unsigned char)l[i]);
	for (vs = name + 1; vs < n && (l[vs] == ' ' || l[vs] == '\t'); vs++)
		;
	for (ve = n; ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'); ve--)
		;
	if (name == 14 && !strncasecmp(l, "Content-Length", 14))
		return content_length(f, l + vs, ve - vs, e);
	if (name == 17 && !strncasecmp(l, "Transfer-Encoding", 17)) {
		if (f->te || ve - vs != 7 || strncasecmp(l + vs, "chunked", 7))
			return reject(
			    e, HTTP_BAD_REQUEST,
			    "Transfer-Encoding \"%.*s\": only one, chunked, is understood",
			    quotable(l + vs, ve - vs), l + vs);
		f->te = true;
	}
	return 0;
}

long http_frame_check(const char *buf, size_t len, struct http_reject *e)
{
	struct framing f = {0};
	size_t at = 0;
	bool first = true;

	for (;;) {
		const char *line = buf + at, *nl = memchr(line, '\n', len - at);
		size_t n;

		if (!nl) {
			/* A request line longer than any acceptable one will not get better. */
			if (first && len > HTTP_TARGET_MAX + METHOD_MAX + sizeof(" HTTP/1.1\r\n"))
				return reject(e, HTTP_URI_TOO_LONG,
				              "the request target is over %d bytes",
				              HTTP_TARGET_MAX);
			if (len >= HTTP_HEAD_MAX)
				return reject(e, HTTP_HEADERS_TOO_LARGE,
				              "the request head is over %d bytes", HTTP_HEAD_MAX);
			return 0;
		}
		n = (size_t)(nl - line);
		at += n + 1;
		if (at > HTTP_HEAD_MAX)
			return reject(e, HTTP_HEADERS_TOO_LARGE,
			              "the request head is over %d bytes", HTTP_HEAD_MAX);
		if (n && line[n - 1] == '\r')
			n--;
		if (first) {
			if (request_line(line, n, e) < 0)
				return -1;
			first = false;
		} else if (n == 0) {
			break;
		} else if (header_line(&f, line, n, e) < 0) {
			return -1;
		}
	}
	if (f.te && f.cl)
		return reject(e, HTTP_BAD_REQUEST,
		              "both Content-Length and Transfer-Encoding: which body is meant?");
	return (long)at;
}
