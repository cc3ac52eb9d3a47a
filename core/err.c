#include "err.h"

#include <stdio.h>
#include <string.h>

int err_set(struct vr_err *e, enum vr_errc code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void err_clear(struct vr_err *e)
{
	if (!e)
		return;
	e->code = VR_ERR_NONE;
	e->field[0] = '\0';
	e->msg[0] = '\0';
}
