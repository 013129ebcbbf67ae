package activities

import "context"

// GitLab is replaced by the GitLab helper's implementation.
type GitLab struct{}

func (a *GitLab) PushGitLabVariable(ctx context.Context, in PushInput) (PushResult, error) {
	panic("todo")
}
