#ifndef VR_VERSION_H
#define VR_VERSION_H
const char *vr_version(void);
#endif
