#include "version.h"

const char *vr_version(void)
{
	return VR_VERSION;
}
