# The writable field of the settings (schema/openapi.yaml, SettingsInput), named as the
# API does, plus require_active. The settings are one object, always there: no id.

variable "forwarding" {
  description = "IP forwarding per family (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding), enforced by vrouter from the first apply on."
  type = object({
    ipv4 = bool
    ipv6 = bool
  })
  nullable = false
}

variable "require_active" {
  description = "Send ?require_active=true: settings the kernel would not take fail the apply with the daemon's reason and are left as they were."
  type        = bool
  default     = true
  nullable    = false
}

variable "router" {
  description = "Fleet mode (vrouterd --etcd): the router whose settings these are, whichever router's API Terraform talks to; null: the router that serves the request. Leave it null for a single router."
  type        = string
  default     = null
  validation {
    condition     = var.router == null || can(regex("^[a-z0-9][a-z0-9-]{0,31}$", coalesce(var.router, "-")))
    error_message = "The router must be 1 to 32 of a-z, 0-9 and '-', starting with a letter or digit."
  }
}
