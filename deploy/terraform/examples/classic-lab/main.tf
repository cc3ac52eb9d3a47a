# The article's lab as one Terraform configuration (README, "Terraform"):
#
#   net01 192.168.150.2 -- router -- 192.168.100.2 net02
#
# net01 learns that 192.168.100.0/24 is behind the router, net02 learns the way back
# (the step people forget), and a ufw-like security group on net02 lets net01 ping it
# and reach tcp/12345; anything else sent to net02 is dropped. The router keeps IP
# forwarding on. Each host runs its own vrouterd, reached over the lab's management
# network: build the lab with `deploy/lab.sh up --mgmt` and run Terraform inside the
# management namespace (ip netns exec vrlab-mgmt terraform apply).

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
  description = "Where deploy/lab.sh keeps each host's API address (<host>/url) and token (<host>/token): its VRLAB_DIR."
  type        = string
  default     = "/run/vrlab"
}

variable "port" {
  description = "The TCP port net02 opens to net01."
  type        = number
  default     = 12345
}

locals {
  # The lab writes each daemon's base URL and token; point these at your own routers
  # (and take the tokens from a secret store) outside the lab.
  api = { for h in ["router", "net01", "net02"] : h => {
    uri   = trimspace(file("${var.lab_dir}/${h}/url"))
    token = trimspace(file("${var.lab_dir}/${h}/token"))
  } }
}

# One provider configuration per host. write_returns_object: the daemon answers every
# POST and PUT with the whole object, so objects created without a client id get the
# one the daemon assigns (the modules need this unless every call gives an id).
provider "restapi" {
  alias                = "router"
  uri                  = local.api.router.uri
  write_returns_object = true
  headers              = { Authorization = "Bearer ${local.api.router.token}" }
}

provider "restapi" {
  alias                = "net01"
  uri                  = local.api.net01.uri
  write_returns_object = true
  headers              = { Authorization = "Bearer ${local.api.net01.token}" }
}

provider "restapi" {
  alias                = "net02"
  uri                  = local.api.net02.uri
  write_returns_object = true
  headers              = { Authorization = "Bearer ${local.api.net02.token}" }
}

# The router forwards between its two legs (deploy/lab.sh turned it on; from here on
# vrouter keeps it so).
module "router_forwarding" {
  source     = "../../modules/settings"
  providers  = { restapi = restapi.router }
  forwarding = { ipv4 = true, ipv6 = true }
}

# ip route add 192.168.100.0/24 via 192.168.150.3, on net01.
module "to_net02" {
  source      = "../../modules/route"
  providers   = { restapi = restapi.net01 }
  destination = "192.168.100.0/24"
  via         = "192.168.150.3"
}

# The return path, on net02.
module "to_net01" {
  source      = "../../modules/route"
  providers   = { restapi = restapi.net02 }
  destination = "192.168.150.0/24"
  via         = "192.168.100.3"
}

# ufw default deny incoming, on net02 ...
module "net02_guard" {
  source      = "../../modules/security_group"
  providers   = { restapi = restapi.net02 }
  name        = "net02"
  description = "net02 itself: only what the rules below allow comes in"
  targets     = ["local"]
}

# ... ufw allow from 192.168.150.0/24 to any port 12345 proto tcp ...
module "net02_from_net01" {
  source            = "../../modules/security_group_rule"
  providers         = { restapi = restapi.net02 }
  security_group_id = module.net02_guard.id
  direction         = "ingress"
  protocol          = "tcp"
  port_from         = var.port
  port_to           = var.port
  cidr              = "192.168.150.0/24"
  description       = "the nc message from net01"
}

# ... and ping from net01.
module "net02_ping" {
  source            = "../../modules/security_group_rule"
  providers         = { restapi = restapi.net02 }
  security_group_id = module.net02_guard.id
  direction         = "ingress"
  protocol          = "icmp"
  cidr              = "192.168.150.0/24"
}

output "routes" {
  value = {
    to_net02 = { id = module.to_net02.id, status = module.to_net02.status }
    to_net01 = { id = module.to_net01.id, status = module.to_net01.status }
  }
}

output "net02_guard" {
  value = {
    id     = module.net02_guard.id
    status = module.net02_guard.status
    rules  = [module.net02_from_net01.id, module.net02_ping.id]
  }
}
