variable "rotator_principal_arn" {
  description = "ARN of the rotator's own IAM role or user (the identity the keyrotor worker runs as). Only this principal may assume the role."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:(role|user)/.+$", var.rotator_principal_arn))
    error_message = "rotator_principal_arn must be an IAM role or user ARN."
  }
}

variable "external_id" {
  description = "Optional sts:ExternalId the rotator must present when assuming the role; empty for none."
  type        = string
  default     = ""
  sensitive   = true
}

variable "user_path" {
  description = "IAM path of the users whose keys keyrotor rotates (starts and ends with /). \"/\" allows every user of the account (not recommended)."
  type        = string
  default     = "/keyrotor/"

  validation {
    condition     = can(regex("^/([!-~]+/)?$", var.user_path))
    error_message = "user_path must start and end with / (e.g. /keyrotor/)."
  }
}

variable "role_name" {
  description = "Name of the role. The rotator's policy (deploy/iam-policy.json) allows sts:AssumeRole on role/keyrotor; change both together."
  type        = string
  default     = "keyrotor"
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
