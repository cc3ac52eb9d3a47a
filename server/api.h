/* The resources served under /v1, one file of handlers per family. */
#ifndef VR_API_H
#define VR_API_H

#include "crud.h"

extern const struct crud_resource api_route_tables;
extern const struct crud_resource api_routes;
extern const struct crud_resource api_security_groups;
extern const struct crud_resource api_security_group_rules;
extern const struct crud_resource api_subnets;

/* GET/PUT /v1/settings and GET /v1/interfaces (server/api_net.c). */
void api_settings_get(struct http_req *req, struct http_resp *resp);
void api_settings_put(struct http_req *req, struct http_resp *resp);
void api_interfaces_list(struct http_req *req, struct http_resp *resp);

#endif
