locals {
  # Fleet mode: rtb-main of a router other than local is rtb-main-<router>, the id the
  # daemon answers with; sending that id keeps the next plan empty.
  route_table_id = var.route_table_id == "rtb-main" && var.router != null && var.router != "local" ? "rtb-main-${var.router}" : var.route_table_id
  # Every writable field, defaults included: the daemon's answer equals what was sent.
  body = { for k, v in {
    id             = var.id
    router         = var.router
    name           = var.name
    cidr           = var.cidr
    interface      = var.interface
    router_ip      = var.router_ip
    route_table_id = local.route_table_id
    description    = var.description
  } : k => v if v != null }
  prefix = split("/", var.cidr)[1]
}

resource "restapi_object" "this" {
  path         = "/v1/subnets"
  id_attribute = "id"
  data         = jsonencode(local.body)
  query_string = var.require_active ? "require_active=true" : null
  # What the daemon computes (and, in fleet mode, the router it chose when none was given).
  ignore_changes_to = concat(["id", "status", "created_at", "updated_at"], var.router == null ? ["router"] : [])

  lifecycle {
    precondition {
      condition     = try(cidrsubnet("${var.router_ip}/${local.prefix}", 0, 0) == cidrsubnet(var.cidr, 0, 0), false)
      error_message = "The router_ip ${var.router_ip} must be inside cidr ${var.cidr}."
    }
  }
}
