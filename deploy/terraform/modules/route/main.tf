locals {
  # Fleet mode: rtb-main of a router other than local is rtb-main-<router>, the id the
  # daemon answers with; sending that id keeps the next plan empty.
  route_table_id = var.route_table_id == "rtb-main" && var.router != null && var.router != "local" ? "rtb-main-${var.router}" : var.route_table_id
  family         = var.destination == "default" || length(regexall(":", var.destination)) == 0 ? 4 : 6
  # Every writable field, defaults included, so that what the daemon echoes equals what
  # was sent and a second plan is empty; an unset via or dev is left out, as the daemon
  # leaves it out of its answers.
  body = { for k, v in {
    id             = var.id
    router         = var.router
    route_table_id = local.route_table_id
    destination    = var.destination
    type           = var.type
    via            = var.via
    dev            = var.dev
    metric         = var.metric
    description    = var.description
  } : k => v if v != null }
}

resource "restapi_object" "this" {
  path         = "/v1/routes"
  id_attribute = "id"
  data         = jsonencode(local.body)
  query_string = var.require_active ? "require_active=true" : null
  # What the daemon computes (and, in fleet mode, the router it chose when none was
  # given); any other field changed outside Terraform is planned back.
  ignore_changes_to = concat(["id", "status", "created_at", "updated_at"], var.router == null ? ["router"] : [])

  lifecycle {
    precondition {
      condition     = var.type == "unicast" ? (var.via != null || var.dev != null) : (var.via == null && var.dev == null)
      error_message = "A unicast route needs via or dev (or both); a ${var.type} route takes neither."
    }
    precondition {
      condition     = var.via == null || (length(regexall(":", coalesce(var.via, "-"))) > 0 ? 6 : 4) == local.family
      error_message = "The via must be of the destination's family (IPv${local.family})."
    }
  }
}
