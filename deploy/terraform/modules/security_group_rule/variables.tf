# One variable per writable field of a security group rule (schema/openapi.yaml,
# SecurityGroupRuleInput), named and defaulted as the API does, plus the client-chosen
# id and require_active.

variable "id" {
  description = "Client-chosen id (sgr- and 1 to 40 lowercase hex digits); null: the daemon assigns one. It cannot change once created."
  type        = string
  default     = null
  validation {
    condition     = var.id == null || can(regex("^sgr-[0-9a-f]{1,40}$", var.id))
    error_message = "The id must be sgr- followed by 1 to 40 lowercase hex digits."
  }
}

variable "security_group_id" {
  description = "The group this rule belongs to."
  type        = string
  validation {
    condition     = can(regex("^sg-[0-9a-f]{1,40}$", var.security_group_id))
    error_message = "The security_group_id must be sg- followed by 1 to 40 lowercase hex digits."
  }
}

variable "direction" {
  description = "ingress (what may come in) or egress (what may go out)."
  type        = string
  validation {
    condition     = contains(["ingress", "egress"], var.direction)
    error_message = "The direction must be ingress or egress."
  }
}

variable "protocol" {
  description = "tcp, udp, icmp, icmpv6 or all."
  type        = string
  validation {
    condition     = contains(["tcp", "udp", "icmp", "icmpv6", "all"], var.protocol)
    error_message = "The protocol must be one of tcp, udp, icmp, icmpv6, all."
  }
}

variable "port_from" {
  description = "First port (tcp and udp only; with port_to); null: all ports."
  type        = number
  default     = null
  validation {
    condition     = var.port_from == null || try(var.port_from >= 1 && var.port_from <= 65535 && floor(var.port_from) == var.port_from, false)
    error_message = "The port_from must be an integer 1..65535."
  }
}

variable "port_to" {
  description = "Last port (tcp and udp only; with port_from); null: all ports."
  type        = number
  default     = null
  validation {
    condition     = var.port_to == null || try(var.port_to >= 1 && var.port_to <= 65535 && floor(var.port_to) == var.port_to, false)
    error_message = "The port_to must be an integer 1..65535."
  }
}

variable "cidr" {
  description = "The peer as a CIDR with no host bits set (exactly one of cidr and remote_security_group_id)."
  type        = string
  default     = null
  validation {
    condition = var.cidr == null || try(
      cidrhost(var.cidr, 0) == cidrhost(format("%s/%d", split("/", var.cidr)[0], length(regexall(":", var.cidr)) > 0 ? 128 : 32), 0),
    false)
    error_message = "The cidr must be a CIDR with a prefix length and no host bits set (192.168.150.0/24; one host is /32 or /128)."
  }
}

variable "remote_security_group_id" {
  description = "The peer as a security group: its targets (exactly one of cidr and remote_security_group_id)."
  type        = string
  default     = null
  validation {
    condition     = var.remote_security_group_id == null || can(regex("^sg-[0-9a-f]{1,40}$", var.remote_security_group_id))
    error_message = "The remote_security_group_id must be sg- followed by 1 to 40 lowercase hex digits."
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
  description = "Send ?require_active=true: a rule the kernel would not take fails the apply with the daemon's reason and is not stored."
  type        = bool
  default     = true
  nullable    = false
}
