#include "err.h"

#include <stdio.h>
#include <string.h>

int err_set(struct vr_err *e, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->status = status;
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
	e->status = 0;
	e->field[0] = '\0';
	e->msg[0] = '\0';
}
