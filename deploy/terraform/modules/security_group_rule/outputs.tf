output "id" {
  description = "The rule's id."
  value       = restapi_object.this.id
}

output "status" {
  description = "The rule's status as last read: {state = active|pending|failed, reason}."
  value       = try(jsondecode(restapi_object.this.api_response).status, null)
}
