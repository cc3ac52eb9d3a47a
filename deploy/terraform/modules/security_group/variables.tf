# One variable per writable field of a security group (schema/openapi.yaml,
# SecurityGroupInput), named and defaulted as the API does, plus the client-chosen id
# and require_active.

variable "id" {
  description = "Client-chosen id (sg- and 1 to 40 lowercase hex digits); null: the daemon assigns one. It cannot change once created."
  type        = string
  default     = null
  validation {
    condition     = var.id == null || can(regex("^sg-[0-9a-f]{1,40}$", var.id))
    error_message = "The id must be sg- followed by 1 to 40 lowercase hex digits."
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

variable "targets" {
  description = "What the group guards, in order: \"local\" (this host), or addresses and CIDRs of hosts this host forwards for. []: nothing (it can still be a remote group of rules)."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = length(var.targets) <= 256 && length(distinct(var.targets)) == length(var.targets)
    error_message = "The targets must be at most 256, none repeated."
  }
  validation {
    # "local", an address, or a CIDR whose address is its network address.
    condition = alltrue([for t in var.targets : t == "local" || try(
      cidrhost(length(regexall("/", t)) > 0 ? t : format("%s/%d", t, length(regexall(":", t)) > 0 ? 128 : 32), 0) ==
      cidrhost(format("%s/%d", split("/", t)[0], length(regexall(":", t)) > 0 ? 128 : 32), 0),
    false)])
    error_message = "Each target must be \"local\", an IPv4 or IPv6 address, or a CIDR with no host bits set."
  }
}

variable "require_active" {
  description = "Send ?require_active=true: a group the kernel would not take fails the apply with the daemon's reason and is not stored."
  type        = bool
  default     = true
  nullable    = false
}
