# keyrotor target-account role: the rotator (var.rotator_principal_arn) may
# assume it, and it may rotate the access keys of the users under
# var.user_path and nothing else. Same as ../cloudformation/keyrotor-role.yaml.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.rotator_principal_arn]
    }

    # Only when an ExternalId is set: a condition with an empty value would
    # make the role impossible to assume.
    dynamic "condition" {
      for_each = var.external_id == "" ? [] : [var.external_id]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

data "aws_iam_policy_document" "rotate" {
  statement {
    sid    = "RotateAccessKeysOfManagedUsers"
    effect = "Allow"
    actions = [
      "iam:ListAccessKeys",
      "iam:CreateAccessKey",
      "iam:UpdateAccessKey",
      "iam:DeleteAccessKey",
      "iam:GetAccessKeyLastUsed",
    ]
    resources = [
      "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:user${var.user_path}*",
    ]
  }
}

resource "aws_iam_role" "keyrotor" {
  name                 = var.role_name
  description          = "Assumed by keyrotor to rotate IAM user access keys"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "rotate" {
  name   = "rotate-access-keys"
  role   = aws_iam_role.keyrotor.id
  policy = data.aws_iam_policy_document.rotate.json
}
