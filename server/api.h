/* The resources served under /v1, one file of handlers per family. */
#ifndef VR_API_H
#define VR_API_H

#include "crud.h"

extern const struct crud_resource api_route_tables;
extern const struct crud_resource api_routes;
extern const struct crud_resource api_security_groups;
extern const struct crud_resource api_security_group_rules;

#endif
