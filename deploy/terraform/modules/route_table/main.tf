locals {
  # Every writable field, defaults included, so that the daemon's answer equals what was
  # sent; a table number left to the daemon is not sent, and not compared.
  body = { for k, v in {
    id          = var.id
    router      = var.router
    name        = var.name
    table       = var.table
    description = var.description
  } : k => v if v != null }
}

resource "restapi_object" "this" {
  path              = "/v1/route-tables"
  id_attribute      = "id"
  data              = jsonencode(local.body)
  query_string      = var.require_active ? "require_active=true" : null
  ignore_changes_to = concat(["id", "status", "created_at", "updated_at"], var.table == null ? ["table"] : [], var.router == null ? ["router"] : [])
}
