# The settings always exist and cannot be deleted: creating this resource is a PUT,
# and destroying it only forgets them (a GET): vrouter keeps enforcing the last values,
# as the API has no way to hand forwarding back to whoever set it before.
locals {
  # Fleet mode: ?router= names whose settings these are (every request: read, write).
  query = join("&", compact([
    var.router == null ? "" : "router=${var.router}",
    var.require_active ? "require_active=true" : "",
  ]))
}

resource "restapi_object" "this" {
  path           = "/v1/settings"
  object_id      = "settings"
  create_method  = "PUT"
  create_path    = "/v1/settings"
  read_path      = "/v1/settings"
  update_path    = "/v1/settings"
  destroy_path   = "/v1/settings"
  destroy_method = "GET"
  # Fleet mode: the daemon answers with router; sent when given, ignored when not.
  data              = jsonencode(merge({ forwarding = var.forwarding }, var.router == null ? {} : { router = var.router }))
  query_string      = local.query == "" ? null : local.query
  ignore_changes_to = concat(["managed", "status", "updated_at"], var.router == null ? ["router"] : [])
}
