/*
 * Print the daemon's endpoint table (server/api.c's api_endpoints), one
 * "METHOD PATTERN" a line, for tests/api/coverage.mjs to compare with
 * schema/openapi.yaml.
 */
#include <stdio.h>

#include "http.h"

int main(void)
{
	for (const struct http_endpoint *ep = api_endpoints; ep->method; ep++)
		printf("%s %s\n", ep->method, ep->pattern);
	return 0;
}
