package activities

import "context"

// IAM is replaced by the IAM helper's implementation.
type IAM struct{}

func (a *IAM) InspectKeys(ctx context.Context, in InspectKeysInput) (InspectKeysResult, error) {
	panic("todo")
}
func (a *IAM) CreateAccessKey(ctx context.Context, in CreateAccessKeyInput) (CreateAccessKeyResult, error) {
	panic("todo")
}
func (a *IAM) VerifyAccessKey(ctx context.Context, in VerifyAccessKeyInput) (VerifyAccessKeyResult, error) {
	panic("todo")
}
func (a *IAM) GetAccessKeyLastUsed(ctx context.Context, in KeyInput) (KeyLastUsedResult, error) {
	panic("todo")
}
func (a *IAM) DeactivateAccessKey(ctx context.Context, in KeyInput) (KeyChangeResult, error) {
	panic("todo")
}
func (a *IAM) ActivateAccessKey(ctx context.Context, in KeyInput) (KeyChangeResult, error) {
	panic("todo")
}
func (a *IAM) DeleteAccessKey(ctx context.Context, in KeyInput) (KeyChangeResult, error) {
	panic("todo")
}
