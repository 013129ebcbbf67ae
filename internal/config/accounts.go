package config

import (
	"regexp"
	"strings"
)

var (
	accountNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
	roleARNRE     = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
)

// accounts reads the AWS accounts: each with a unique name and a region,
// and no two reaching the same AWS account.
func (l *loader) accounts(top fields) []Account {
	var out []Account
	first := map[string]pos{}
	seen := map[string]accountEntry{} // by AWS account, see sameAWSAccount
	for i, item := range l.seq(top, "accounts") {
		path := index("accounts", i)
		fs := l.mapping(item, top.keyPos("accounts"), path, "name", "region", "roleArn")
		a := Account{Name: l.str(fs, "name"), Region: l.str(fs, "region"), RoleARN: l.str(fs, "roleArn")}
		nameOK := false
		if l.required(fs, "name", a.Name, accountNameRE, "not a valid account name (letters, digits, '.', '_' and '-', at most 64)") {
			k := strings.ToLower(a.Name)
			if p, dup := first[k]; dup {
				l.errf(fs.get("name").valPos(), join(path, "name"), "duplicate account %q (first at line %d)", a.Name, p.line)
			} else {
				first[k] = fs.get("name").valPos()
				nameOK = true
			}
		}
		l.required(fs, "region", a.Region, regionRE, "not an AWS region name such as us-east-1")
		roleOK := true
		if fs.has("roleArn") && !roleARNRE.MatchString(a.RoleARN) {
			l.errf(fs.get("roleArn").valPos(), join(path, "roleArn"), "%q is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)", a.RoleARN)
			roleOK = false
		}
		if roleOK && nameOK {
			l.sameAWSAccount(fs, path, a, seen)
		}
		out = append(out, a)
	}
	return out
}

// accountEntry is an accounts entry already read, for sameAWSAccount.
type accountEntry struct {
	path, name string
	line       int
}

// sameAWSAccount refuses a second entry that reaches an AWS account an
// earlier entry already reaches: the same IAM user could then be rotated by
// two rotations at once (two workflow IDs, no mutual exclusion), each
// deleting the other's key. Entries with a roleArn reach the role's account
// (partition and account ID); entries without one all reach the account of
// the rotator's own credentials.
func (l *loader) sameAWSAccount(fs fields, path string, a Account, seen map[string]accountEntry) {
	key, why := "ambient", "both use the rotator's own credentials (no roleArn)"
	at := fs.at
	if a.RoleARN != "" {
		parts := strings.SplitN(a.RoleARN, ":", 6)
		key = parts[1] + ":" + parts[4]
		why = "both assume roles in AWS account " + parts[4]
		at = fs.get("roleArn").valPos()
	}
	if prev, dup := seen[key]; dup {
		l.errf(at, path, "account %q is the same AWS account as %q (%s at line %d): %s; keep one entry per AWS account so that no IAM user can be rotated twice at once",
			a.Name, prev.name, prev.path, prev.line, why)
		return
	}
	seen[key] = accountEntry{path: path, name: a.Name, line: fs.at.line}
}
