terraform {
  required_version = ">= 1.3"
  required_providers {
    # Tested with 2.0.1 and 3.0.0 (deploy/terraform/README.md).
    restapi = {
      source  = "Mastercard/restapi"
      version = ">= 2.0.1, < 4.0.0"
    }
  }
}
