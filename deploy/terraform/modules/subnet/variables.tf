# One variable per writable field of a subnet (schema/openapi.yaml, SubnetInput), named
# and defaulted as the API does, plus the client-chosen id and require_active.

variable "id" {
  description = "Client-chosen id (subnet- and 1 to 40 lowercase hex digits); null: the daemon assigns one. It cannot change once created."
  type        = string
  default     = null
  validation {
    condition     = var.id == null || can(regex("^subnet-[0-9a-f]{1,40}$", var.id))
    error_message = "The id must be subnet- followed by 1 to 40 lowercase hex digits."
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

variable "cidr" {
  description = "The subnet: an IPv4 or IPv6 CIDR with a prefix length and no host bits set."
  type        = string
  validation {
    condition = try(
      cidrhost(var.cidr, 0) == cidrhost(format("%s/%d", split("/", var.cidr)[0], length(regexall(":", var.cidr)) > 0 ? 128 : 32), 0) && tonumber(split("/", var.cidr)[1]) >= 1,
    false)
    error_message = "The cidr must be a CIDR with a prefix length of at least 1 and no host bits set (192.168.150.0/24, fd00:150::/64)."
  }
}

variable "interface" {
  description = "The link the router address goes on (it need not exist yet)."
  type        = string
  validation {
    condition     = can(regex("^[^/:\\s]{1,15}$", var.interface)) && var.interface != "." && var.interface != ".."
    error_message = "The interface must be an interface name: 1 to 15 bytes, no '/', ':' or whitespace."
  }
}

variable "router_ip" {
  description = "This host's address in the subnet, without prefix length (it gets cidr's)."
  type        = string
  validation {
    condition     = try(length(regexall("/", var.router_ip)) == 0 && cidrhost(format("%s/%d", var.router_ip, length(regexall(":", var.router_ip)) > 0 ? 128 : 32), 0) != "", false)
    error_message = "The router_ip must be an IPv4 or IPv6 address (no prefix length)."
  }
}

variable "route_table_id" {
  description = "The route table traffic from cidr uses (rtb-main: the kernel's main table)."
  type        = string
  default     = "rtb-main"
  nullable    = false
  validation {
    condition     = can(regex("^(rtb-main|rtb-main-[a-z0-9][a-z0-9-]{0,31}|rtb-[0-9a-f]{1,40})$", var.route_table_id))
    error_message = "The route_table_id must be rtb-main, rtb-main-<router> (fleet mode) or rtb- followed by 1 to 40 lowercase hex digits."
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
  description = "Send ?require_active=true: a subnet the kernel would not take (a link that does not exist, an address held by someone else) fails the apply with the daemon's reason and is not stored."
  type        = bool
  default     = true
  nullable    = false
}

variable "router" {
  description = "Fleet mode (vrouterd --etcd): the router this subnet belongs to, whichever router's API Terraform talks to; null: the router that serves the request. Leave it null for a single router (without --etcd the API takes no router field)."
  type        = string
  default     = null
  validation {
    condition     = var.router == null || can(regex("^[a-z0-9][a-z0-9-]{0,31}$", coalesce(var.router, "-")))
    error_message = "The router must be 1 to 32 of a-z, 0-9 and '-', starting with a letter or digit."
  }
}
