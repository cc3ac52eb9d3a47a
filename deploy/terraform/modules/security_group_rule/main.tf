locals {
  # Every writable field, defaults included: the daemon's answer equals what was sent.
  # Unset ports and the unused peer are left out, as the daemon leaves them out.
  body = { for k, v in {
    id                       = var.id
    security_group_id        = var.security_group_id
    direction                = var.direction
    protocol                 = var.protocol
    port_from                = var.port_from
    port_to                  = var.port_to
    cidr                     = var.cidr
    remote_security_group_id = var.remote_security_group_id
    description              = var.description
  } : k => v if v != null }
}

resource "restapi_object" "this" {
  path              = "/v1/security-group-rules"
  id_attribute      = "id"
  data              = jsonencode(local.body)
  query_string      = var.require_active ? "require_active=true" : null
  ignore_changes_to = ["id", "status", "created_at", "updated_at"]

  lifecycle {
    precondition {
      condition     = (var.cidr == null) != (var.remote_security_group_id == null)
      error_message = "A rule needs exactly one of cidr and remote_security_group_id."
    }
    precondition {
      condition     = (var.port_from == null) == (var.port_to == null)
      error_message = "Give both port_from and port_to, or neither (all ports)."
    }
    precondition {
      condition     = var.port_from == null || contains(["tcp", "udp"], var.protocol)
      error_message = "Ports apply only to tcp and udp, not to protocol ${var.protocol} (leave port_from and port_to out)."
    }
    precondition {
      condition     = var.port_from == null || var.port_to == null || try(var.port_from <= var.port_to, false)
      error_message = "The port_from must not be above port_to."
    }
  }
}
