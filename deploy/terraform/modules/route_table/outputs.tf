output "id" {
  description = "The route table's id."
  value       = restapi_object.this.id
}

output "status" {
  description = "Always null: a route table has no kernel object of its own (its routes and subnets have a status)."
  value       = try(jsondecode(restapi_object.this.api_response).status, null)
}

output "table" {
  description = "The kernel table number, as given or as the daemon picked it."
  value       = try(jsondecode(restapi_object.this.api_response).table, null)
}
