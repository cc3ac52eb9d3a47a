# One variable per writable field of a route (schema/openapi.yaml, RouteInput), named and
# defaulted as the API does, plus the client-chosen id and require_active.

variable "id" {
  description = "Client-chosen id (rt- and 1 to 40 lowercase hex digits); null: the daemon assigns one. It cannot change once created."
  type        = string
  default     = null
  validation {
    condition     = var.id == null || can(regex("^rt-[0-9a-f]{1,40}$", var.id))
    error_message = "The id must be rt- followed by 1 to 40 lowercase hex digits."
  }
}

variable "route_table_id" {
  description = "The route table (rtb-main is the kernel's main table)."
  type        = string
  default     = "rtb-main"
  nullable    = false
  validation {
    condition     = can(regex("^(rtb-main|rtb-main-[a-z0-9][a-z0-9-]{0,31}|rtb-[0-9a-f]{1,40})$", var.route_table_id))
    error_message = "The route_table_id must be rtb-main, rtb-main-<router> (fleet mode) or rtb- followed by 1 to 40 lowercase hex digits."
  }
}

variable "destination" {
  description = "An IPv4 or IPv6 CIDR with no host bits set, or \"default\" (0.0.0.0/0)."
  type        = string
  validation {
    # cidrhost of the address as a /32 or /128 is that address, written the canonical way.
    condition = var.destination == "default" || try(
      cidrhost(var.destination, 0) == cidrhost(format("%s/%d", split("/", var.destination)[0], length(regexall(":", var.destination)) > 0 ? 128 : 32), 0),
    false)
    error_message = "The destination must be a CIDR with no host bits set (192.168.100.0/24, fd00:100::/64) or \"default\"."
  }
}

variable "type" {
  description = "unicast, blackhole, unreachable or prohibit."
  type        = string
  default     = "unicast"
  nullable    = false
  validation {
    condition     = contains(["unicast", "blackhole", "unreachable", "prohibit"], var.type)
    error_message = "The type must be one of unicast, blackhole, unreachable, prohibit."
  }
}

variable "via" {
  description = "Gateway address, of the destination's family (unicast only); null: none."
  type        = string
  default     = null
  validation {
    condition     = var.via == null || try(length(regexall("/", var.via)) == 0 && cidrhost(format("%s/%d", var.via, length(regexall(":", var.via)) > 0 ? 128 : 32), 0) != "", false)
    error_message = "The via must be an IPv4 or IPv6 address (no prefix length)."
  }
}

variable "dev" {
  description = "Output interface name (unicast only); null: none."
  type        = string
  default     = null
  validation {
    condition     = var.dev == null || can(regex("^[^/:\\s]{1,15}$", var.dev)) && var.dev != "." && var.dev != ".."
    error_message = "The dev must be an interface name: 1 to 15 bytes, no '/', ':' or whitespace."
  }
}

variable "metric" {
  description = "Route priority (ip route ... metric N)."
  type        = number
  default     = 0
  nullable    = false
  validation {
    condition     = var.metric >= 0 && var.metric <= 4294967295 && floor(var.metric) == var.metric
    error_message = "The metric must be an integer 0..4294967295."
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
  description = "Send ?require_active=true: a route the kernel would not take (gateway on no connected network, missing device) fails the apply with the daemon's reason and is not stored."
  type        = bool
  default     = true
  nullable    = false
}

variable "router" {
  description = "Fleet mode (vrouterd --etcd): the router this route belongs to, whichever router's API Terraform talks to; null: the router that serves the request. Leave it null for a single router (without --etcd the API takes no router field)."
  type        = string
  default     = null
  validation {
    condition     = var.router == null || can(regex("^[a-z0-9][a-z0-9-]{0,31}$", coalesce(var.router, "-")))
    error_message = "The router must be 1 to 32 of a-z, 0-9 and '-', starting with a letter or digit."
  }
}
