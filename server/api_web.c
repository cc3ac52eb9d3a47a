/*
 * The web UI and the API document: files compiled into the binary
 * (schema/embed.cmake), served with a content-derived ETag and the headers
 * that keep a browser from doing anything with them but show the UI: a
 * Content-Security-Policy that allows only this origin's own scripts, styles,
 * images and API calls (no inline script, no framing), no MIME sniffing and
 * no Referer. Conditional GETs (If-None-Match -> 304) are answered by the
 * HTTP layer from the ETag.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "embedded.h"
#include "http.h"

static const char *const web_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    "X-Frame-Options",
    "DENY",
    /* Revalidate every time: a 304 costs one round trip on loopback, a stale UI more. */
    "Cache-Control",
    "no-cache",
    NULL,
};

static const char *content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
	    {".yaml", "application/yaml"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

void api_web_file(struct http_req *req, struct http_resp *resp)
{
	const char *name = req->cls ? req->cls : req->params[0];

	for (const struct embedded_asset *a = embedded_assets; a->name; a++) {
		if (strcmp(a->name, name))
			continue;
		resp->status = 200;
		resp->raw = a->data;
		resp->raw_len = a->len;
		resp->content_type = content_type(name);
		snprintf(resp->etag, sizeof(resp->etag), "%s", a->etag);
		resp->headers = web_headers;
		return;
	}
	http_problemf(resp, 404, NULL, "%s is not part of this build", name);
}
