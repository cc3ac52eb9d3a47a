output "id" {
  description = "The subnet's id."
  value       = restapi_object.this.id
}

output "status" {
  description = "The subnet's status as last read: {state = active|pending|failed, reason}."
  value       = try(jsondecode(restapi_object.this.api_response).status, null)
}
