/* The resources served under /v1, one file of handlers per family. */
#ifndef VR_API_H
#define VR_API_H

#include "crud.h"

struct app;
struct settings;
struct store_config;

extern const struct crud_resource api_route_tables;
extern const struct crud_resource api_routes;
extern const struct crud_resource api_security_groups;
extern const struct crud_resource api_security_group_rules;
extern const struct crud_resource api_subnets;

/* GET/PUT /v1/settings and GET /v1/interfaces (server/api_net.c). */
void api_settings_get(struct http_req *req, struct http_resp *resp);
void api_settings_put(struct http_req *req, struct http_resp *resp);
void api_interfaces_list(struct http_req *req, struct http_resp *resp);
/* {"forwarding": {...}} as PUT /v1/settings takes it; errors name "forwarding.ipv4". */
int api_settings_from_json(json_t *body, struct settings *set, struct vr_err *e)
    __attribute__((warn_unused_result));
/* The settings as GET /v1/settings shows them. */
json_t *api_settings_json(struct app *app, const struct settings *set);

/* GET /v1/routers: the fleet's members (server/api_fleet.c); single mode: this daemon. */
void api_routers_list(struct http_req *req, struct http_resp *resp);

/*
 * GET / and GET /ui/{file}, the web UI, and GET /openapi.yaml
 * (server/api_web.c): files compiled into the binary. The endpoint's cls
 * names the file, or NULL to take it from the path.
 */
void api_web_file(struct http_req *req, struct http_resp *resp);

/*
 * GET/PUT /v1/config (server/api_config.c): the whole desired state as one
 * document. PUT takes up to API_CONFIG_BODY_MAX bytes (1,000,000 routes are
 * some 157 MB of JSON), every other endpoint HTTP_BODY_MAX_DEFAULT.
 */
#define API_CONFIG_BODY_MAX (256u * 1024 * 1024)
void api_config_get(struct http_req *req, struct http_resp *resp);
void api_config_put(struct http_req *req, struct http_resp *resp);
/* POST /v1/diagnostics/reachability: why can't A reach B? (api_diag.c). */
void api_diag_reachability(struct http_req *req, struct http_resp *resp);
/* GET /v1/events: the audit log, newest first (api_events.c). */
void api_events_list(struct http_req *req, struct http_resp *resp);
/*
 * /v1/diagnostics/captures (api_capture.c): bounded packet captures. Start,
 * list, show, stop early, delete, and download the pcap file (which forgets
 * the capture). api_captures_open gives app its capture manager, over
 * app->kernel_query; 0 or -errno.
 */
int api_captures_open(struct app *app) __attribute__((warn_unused_result));
void api_captures_close(struct app *app);
void api_capture_start(struct http_req *req, struct http_resp *resp);
void api_capture_list(struct http_req *req, struct http_resp *resp);
void api_capture_get(struct http_req *req, struct http_resp *resp);
void api_capture_stop(struct http_req *req, struct http_resp *resp);
void api_capture_delete(struct http_req *req, struct http_resp *resp);
void api_capture_pcap(struct http_req *req, struct http_resp *resp);
/*
 * What PUT /v1/config does with the text before the store sees it (len bytes,
 * no NUL needed): 0 and c filled, or -1 with e the answer's problem, a 400
 * for malformed JSON or the first invalid item's 422. c holds what was read
 * either way: free it with store_config_clear. For tests/fuzz.
 */
int api_config_parse(const char *text, size_t len, struct store_config *c, struct vr_err *e)
    __attribute__((warn_unused_result));

#endif
