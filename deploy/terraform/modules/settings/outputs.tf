output "id" {
  description = "Always \"settings\": there is one settings object."
  value       = restapi_object.this.id
}

output "status" {
  description = "The settings' status as last read: {state = active|pending|failed, reason}."
  value       = try(jsondecode(restapi_object.this.api_response).status, null)
}
