package activities

import "context"

// GitHub is replaced by the GitHub helper's implementation.
type GitHub struct{}

func (a *GitHub) PushGitHubSecret(ctx context.Context, in PushInput) (PushResult, error) {
	panic("todo")
}
