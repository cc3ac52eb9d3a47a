/* Files compiled into the binary by schema/embed.cmake. */
#ifndef VR_EMBEDDED_H
#define VR_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name; /* "001_init.sql"; NULL ends the array */
	const char *text; /* NUL-terminated */
};

struct embedded_asset {
	const char *name; /* "index.html", "openapi.yaml"; NULL ends the array */
	const char *data;
	size_t len;
	const char *etag; /* "\"<16 hex digits of the content's MD5>\"", fixed at build time */
};

/* Migrations in order of their number. */
extern const struct embedded_file embedded_migrations[];
extern const size_t embedded_migrations_n;
extern const struct embedded_asset embedded_assets[];

#endif
