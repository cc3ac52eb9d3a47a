locals {
  # Every writable field, defaults included: the daemon's answer equals what was sent.
  body = { for k, v in {
    id          = var.id
    name        = var.name
    description = var.description
    targets     = var.targets
  } : k => v if v != null }
}

resource "restapi_object" "this" {
  path              = "/v1/security-groups"
  id_attribute      = "id"
  data              = jsonencode(local.body)
  query_string      = var.require_active ? "require_active=true" : null
  ignore_changes_to = ["id", "status", "created_at", "updated_at"]
}
