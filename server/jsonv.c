#include "jsonv.h"

#include <stdlib.h>
#include <string.h>

static bool in_list(const char *key, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(*list, key))
			return true;
	return false;
}

json_t *jsonv_get(json_t *body, const char *key)
{
	json_t *v = json_object_get(body, key);

	return json_is_null(v) ? NULL : v;
}

int jsonv_check_keys(json_t *body, const char *const *writable, const char *const *computed,
                     struct vr_err *e)
{
	const char *key;
	json_t *v;

	if (!json_is_object(body))
		return err_set(e, VR_ERR_MALFORMED, NULL, "request body must be a JSON object");
	json_object_foreach(body, key, v)
	{
		if (!in_list(key, writable) && !in_list(key, computed))
			return err_set(e, VR_ERR_MALFORMED, key, "unknown field \"%s\"", key);
	}
	return 0;
}

int jsonv_str(json_t *body, const char *key, char *dst, size_t len, bool *present, struct vr_err *e)
{
	json_t *v = jsonv_get(body, key);
	size_t n;

	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(e, VR_ERR_INVALID, key, "%s must be a string", key);
	n = json_string_length(v);
	if (n >= len)
		return err_set(e, VR_ERR_INVALID, key, "%s is too long (%zu bytes, at most %zu)",
		               key, n, len - 1);
	if (strlen(json_string_value(v)) != n)
		return err_set(e, VR_ERR_INVALID, key, "%s must not contain NUL characters", key);
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

int jsonv_strdup(json_t *body, const char *key, char **dst, size_t max, struct vr_err *e)
{
	json_t *v = jsonv_get(body, key);
	size_t n;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(e, VR_ERR_INVALID, key, "%s must be a string", key);
	n = json_string_length(v);
	if (n > max)
		return err_set(e, VR_ERR_INVALID, key, "%s is too long (%zu bytes, at most %zu)",
		               key, n, max);
	if (strlen(json_string_value(v)) != n)
		return err_set(e, VR_ERR_INVALID, key, "%s must not contain NUL characters", key);
	free(*dst);
	*dst = strdup(json_string_value(v));
	if (!*dst)
		return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory");
	return 0;
}

int jsonv_u32(json_t *body, const char *key, uint32_t *dst, bool *present, struct vr_err *e)
{
	json_t *v = jsonv_get(body, key);
	json_int_t n;

	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, VR_ERR_INVALID, key, "%s must be an integer", key);
	n = json_integer_value(v);
	if (n < 0 || n > (json_int_t)UINT32_MAX)
		return err_set(e, VR_ERR_INVALID, key, "%s %lld is out of range 0..4294967295", key,
		               (long long)n);
	*dst = (uint32_t)n;
	return 0;
}

int jsonv_int(json_t *body, const char *key, const char *what, bool *present, int64_t *dst,
              struct vr_err *e)
{
	json_t *v = jsonv_get(body, key);

	*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, VR_ERR_INVALID, key, "%s must be %s", key, what);
	*dst = json_integer_value(v);
	return 0;
}
