package activities

import (
	"context"

	"github.com/keyrotor/keyrotor/internal/model"
)

// DeleteStrayKeysResult lists the strays deleted.
type DeleteStrayKeysResult struct {
	DeletedStray []string `json:"deletedStray,omitempty"`
}

// DeleteStrayKeys removes what an interrupted CreateAccessKey may have left:
// the keys CreateAccessKey itself would delete as its own strays before
// creating again (see strayKeys), and nothing else. A rotation cancelled
// while creating calls it, so a cancel never leaves a third key behind.
func (a *IAM) DeleteStrayKeys(ctx context.Context, in CreateAccessKeyInput) (DeleteStrayKeysResult, error) {
	t, err := a.target(in.Account, in.User, "", false)
	if err != nil {
		return DeleteStrayKeysResult{}, err
	}
	api, err := a.iamAPI(ctx, t)
	if err != nil {
		return DeleteStrayKeysResult{}, err
	}
	deleted, _, listed, err := a.deleteStrays(ctx, api, t, in)
	if err == nil {
		a.observe(t, withoutKeys(listed, deleted))
	}
	return DeleteStrayKeysResult{DeletedStray: deleted}, err
}

// deleteStrays lists the user's keys and deletes the provable strays; kept
// are the known keys that remain, listed every key the listing showed
// (strays included).
func (a *IAM) deleteStrays(ctx context.Context, api IAMAPI, t iamTarget, in CreateAccessKeyInput) (deleted, kept []string, listed []model.AccessKey, err error) {
	keys, err := iamListKeys(ctx, api, t)
	if err != nil {
		return nil, nil, nil, err
	}
	kept, strays, err := a.strayKeys(ctx, api, t, keys, in)
	if err != nil {
		return nil, nil, keys, err
	}
	for _, id := range strays {
		if err := iamDeleteKey(ctx, api, t.withKey(id)); err != nil {
			return deleted, kept, keys, err
		}
		t.log(ctx).Info("deleted stray access key from a lost attempt", "accessKeyId", id)
		deleted = append(deleted, id)
	}
	return deleted, kept, keys, nil
}
