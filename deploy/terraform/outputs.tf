output "role_arn" {
  description = "Put this in the account's roleArn in the keyrotor configuration."
  value       = aws_iam_role.keyrotor.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.keyrotor.name
}
