# One variable per writable field of a route table (schema/openapi.yaml,
# RouteTableInput), named and defaulted as the API does, plus the client-chosen id and
# require_active.

variable "id" {
  description = "Client-chosen id (rtb- and 1 to 40 lowercase hex digits); null: the daemon assigns one. It cannot change once created."
  type        = string
  default     = null
  validation {
    condition     = var.id == null || can(regex("^rtb-[0-9a-f]{1,40}$", var.id))
    error_message = "The id must be rtb- followed by 1 to 40 lowercase hex digits."
  }
}

variable "name" {
  description = "Unique name, 1 to 128 bytes, no control characters."
  type        = string
  validation {
    condition     = can(regex("^[^\\x00-\\x1f\\x7f]{1,128}$", var.name)) && length(var.name) <= 128
    error_message = "The name must be 1 to 128 bytes without control characters."
  }
}

variable "table" {
  description = "Kernel table number; null: the daemon picks a free one in 10000..19999 (see the table output)."
  type        = number
  default     = null
  validation {
    condition     = var.table == null || try(var.table >= 1 && var.table <= 4294967295 && floor(var.table) == var.table && !contains([253, 254, 255], var.table), false)
    error_message = "The table must be an integer 1..4294967295 other than 253, 254 (main) and 255."
  }
}

variable "description" {
  description = "Free text, at most 1024 bytes."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = length(var.description) <= 1024
    error_message = "The description must be at most 1024 bytes."
  }
}

variable "require_active" {
  description = "Send ?require_active=true (a route table has no kernel object of its own, so it has no effect here; kept for a uniform interface)."
  type        = bool
  default     = true
  nullable    = false
}

variable "router" {
  description = "Fleet mode (vrouterd --etcd): the router this route table belongs to, whichever router's API Terraform talks to; null: the router that serves the request. Leave it null for a single router (without --etcd the API takes no router field)."
  type        = string
  default     = null
  validation {
    condition     = var.router == null || can(regex("^[a-z0-9][a-z0-9-]{0,31}$", coalesce(var.router, "-")))
    error_message = "The router must be 1 to 32 of a-z, 0-9 and '-', starting with a letter or digit."
  }
}
