output "id" {
  description = "The security group's id (for rules: security_group_id, remote_security_group_id)."
  value       = restapi_object.this.id
}

output "status" {
  description = "The group's status as last read: {state = active|pending|failed, reason}."
  value       = try(jsondecode(restapi_object.this.api_response).status, null)
}
