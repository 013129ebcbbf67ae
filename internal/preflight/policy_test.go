package preflight

import "testing"

func TestPolicySourceOf(t *testing.T) {
	tests := []struct {
		roleARN, caller string
		want            string
		all             bool
	}{
		{"arn:aws:iam::1:role/p/r", "arn:aws:sts::1:assumed-role/r/s", "arn:aws:iam::1:role/p/r", false},
		{"", "arn:aws:iam::1:user/ci/rotator", "arn:aws:iam::1:user/ci/rotator", false},
		{"", "arn:aws-cn:sts::1:assumed-role/r/s", "arn:aws-cn:iam::1:role/r", false},
		{"", "arn:aws:iam::1:root", "", true},
		{"", "arn:aws:sts::1:federated-user/bob", "", false},
		{"", "garbage", "", false},
	}
	for _, tt := range tests {
		got := policySourceOf(tt.roleARN, tt.caller)
		if got.arn != tt.want || got.all != tt.all {
			t.Errorf("policySourceOf(%q, %q) = %+v, want arn %q all %v", tt.roleARN, tt.caller, got, tt.want, tt.all)
		}
		if got.arn == "" && !got.all && got.note == "" {
			t.Errorf("policySourceOf(%q, %q): no note explains why nothing is simulated", tt.roleARN, tt.caller)
		}
	}
}
