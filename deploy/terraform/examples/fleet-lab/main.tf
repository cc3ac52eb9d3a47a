# The fleet lab as one Terraform configuration (README, "A fleet of routers"):
#
#   h1 192.168.1.2 -- r1 --+
#   h2 192.168.2.2 -- r2 --+-- core 10.255.0.0/24
#   h3 192.168.3.2 -- r3 --+
#
# Three routers in fleet mode share one etcd cluster, so one provider endpoint (r1's
# API) manages all of them: every router's transit and host subnets, its forwarding,
# its routes (r1 to h2's and h3's networks, r2 and r3 the way back), and one
# security group, defined once, that guards h2 and h3 wherever their traffic is
# forwarded: h1 may reach tcp/12345 and ping them, nothing else gets in. Build the lab
# with `deploy/lab.sh fleet` and run Terraform inside its management namespace
# (ip netns exec vrlab-mgmt terraform apply).

terraform {
  required_version = ">= 1.3"
  required_providers {
    # Works with 3.0.0 (what this gets unpinned) and 2.0.1.
    restapi = {
      source = "Mastercard/restapi"
    }
  }
}

variable "lab_dir" {
  description = "Where deploy/lab.sh keeps each router's API address (<router>/url) and the fleet's token (<router>/token): its VRLAB_DIR."
  type        = string
  default     = "/run/vrlab"
}

variable "port" {
  description = "The TCP port h2 and h3 open to h1's network."
  type        = number
  default     = 12345
}

locals {
  # Router N: transit address 10.255.0.N, hosts' network 192.168.N.0/24 behind enp0s2.
  routers = { for n in [1, 2, 3] : "r${n}" => n }
}

# One endpoint for the whole fleet: any router's API writes every router's objects.
provider "restapi" {
  uri                  = trimspace(file("${var.lab_dir}/r1/url"))
  write_returns_object = true
  headers              = { Authorization = "Bearer ${trimspace(file("${var.lab_dir}/r1/token"))}" }
}

module "transit" {
  source    = "../../modules/subnet"
  for_each  = local.routers
  router    = each.key
  name      = "transit"
  cidr      = "10.255.0.0/24"
  interface = "enp0s1"
  router_ip = "10.255.0.${each.value}"
  # Only r1's own objects are applied by the router Terraform talks to; the others are
  # applied by their routers, which report in GET /v1/routers.
  require_active = each.key == "r1"
}

module "hosts" {
  source         = "../../modules/subnet"
  for_each       = local.routers
  router         = each.key
  name           = "hosts"
  cidr           = "192.168.${each.value}.0/24"
  interface      = "enp0s2"
  router_ip      = "192.168.${each.value}.1"
  require_active = each.key == "r1"
}

module "forwarding" {
  source         = "../../modules/settings"
  for_each       = local.routers
  router         = each.key
  forwarding     = { ipv4 = true, ipv6 = false }
  require_active = each.key == "r1"
}

# r1 reaches h2's and h3's networks through r2 and r3 ...
module "r1_to" {
  source      = "../../modules/route"
  for_each    = { r2 = 2, r3 = 3 }
  router      = "r1"
  destination = "192.168.${each.value}.0/24"
  via         = "10.255.0.${each.value}"
  depends_on  = [module.transit]
}

# ... and they answer through r1: the return path, written through r1's API too.
module "back_to_h1" {
  source         = "../../modules/route"
  for_each       = { r2 = 2, r3 = 3 }
  router         = each.key
  destination    = "192.168.1.0/24"
  via            = "10.255.0.1"
  require_active = false
  depends_on     = [module.transit]
}

# Defined once, enforced on r2 and r3 (the routers that forward to its targets).
module "web" {
  source      = "../../modules/security_group"
  name        = "web"
  description = "h2 and h3: only what the rules below allow comes in"
  targets     = ["192.168.2.2", "192.168.3.2"]
}

module "web_from_h1" {
  source            = "../../modules/security_group_rule"
  security_group_id = module.web.id
  direction         = "ingress"
  protocol          = "tcp"
  port_from         = var.port
  port_to           = var.port
  cidr              = "192.168.1.0/24"
  description       = "the nc message from h1's network"
}

module "web_ping" {
  source            = "../../modules/security_group_rule"
  security_group_id = module.web.id
  direction         = "ingress"
  protocol          = "icmp"
  cidr              = "192.168.1.0/24"
}

output "routes" {
  value = merge(
    { for k, m in module.r1_to : "r1_to_${k}" => m.id },
    { for k, m in module.back_to_h1 : "${k}_to_h1" => m.id },
  )
}

output "web" {
  value = { id = module.web.id, rules = [module.web_from_h1.id, module.web_ping.id] }
}
