/*
 * The PUT /v1/config document scanner (server/api_config.c): it finds the
 * extent of each part and item in the text itself and hands only single
 * items to jansson. What it refuses must be refused with a 400 or 422 that
 * says something, and a document it accepts must be JSON that jansson
 * parses whole, as one object.
 */
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "fuzz.h"
#include "http.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_config c = {0};
	struct vr_err e = {0};
	int rc = api_config_parse((const char *)data, size, &c, &e);

	if (rc) {
		int status = http_status_of(e.code);

		FUZZ_CHECK(status == 400 || status == 422, "refused with %d: %s", status, e.msg);
		FUZZ_CHECK(e.msg[0], "refused (%d) without a word", status);
	}
	if (rc == 0) {
		json_error_t jerr;
		json_t *whole = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);

		/* One document level more than any item: jansson's depth limit may be met here
		 * only. */
		FUZZ_CHECK(whole || strstr(jerr.text, "depth"),
		           "the scanner passed what jansson refuses: %s (line %d column %d)",
		           jerr.text, jerr.line, jerr.column);
		FUZZ_CHECK(!whole || json_is_object(whole), "the scanner passed a non-object");
		json_decref(whole);
	}
	store_config_clear(&c);
	return 0;
}
