// Package discover expands the configuration's selectors (rotations that
// select IAM users by path and tags) into concrete rotations: one per user
// a selector finds, its targets rendered from the file's templates.
//
// It only reads: iam:ListUsers (with the selector's path prefix, paginated)
// and iam:ListUserTags per user, through a narrow client per account. The
// file stays the only authority on where keys go: a user's tags fill in
// placeholders the file wrote, and every rendered target is checked as a
// written one is. A user whose targets do not render (a missing tag, an
// invalid value) is skipped and reported; an account whose listing fails
// is reported as failed, so that nobody mistakes "unknown" for "gone".
package discover

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/model"
)

// IAM is the part of the IAM client discovery calls: reads only.
type IAM interface {
	ListUsers(ctx context.Context, in *iam.ListUsersInput, optFns ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	ListUserTags(ctx context.Context, in *iam.ListUserTagsInput, optFns ...func(*iam.Options)) (*iam.ListUserTagsOutput, error)
}

// Clients returns an account's IAM client.
type Clients func(ctx context.Context, account string) (IAM, error)

// FromAWS reaches every account as the worker does: its region, and its
// roleArn assumed with the rotator's credentials.
func FromAWS(a *clients.AWS) Clients {
	return func(_ context.Context, account string) (IAM, error) {
		cfg, err := a.Config(account)
		if err != nil {
			return nil, err
		}
		return iam.NewFromConfig(cfg), nil
	}
}

// Found is one discovered user's rotation and the selector that found it.
type Found struct {
	model.Rotation
	Selector *config.Selector `json:"-"`
	// SelectedBy is the selector's name, e.g. rotations[2].
	SelectedBy string `json:"selectedBy"`
}

// Problem is a user that was skipped, or an account that could not be
// listed (User empty).
type Problem struct {
	Account  string `json:"account"`
	User     string `json:"user,omitempty"`
	Selector string `json:"selector"`
	Msg      string `json:"error"`
}

func (p Problem) Error() string { return p.Msg }

// Result is what discovery found.
type Result struct {
	// Rotations are the discovered users' rotations, by account and user.
	Rotations []Found `json:"rotations"`
	// Matched are the workflow IDs (model.WorkflowID) of every user a
	// selector matched, whether its targets rendered or not.
	Matched map[string]bool `json:"-"`
	// FailedAccounts could not be listed (or a user's tags not read):
	// what their selectors select is unknown.
	FailedAccounts []string `json:"failedAccounts,omitempty"`
	// Problems are the skipped users and the failed listings.
	Problems []Problem `json:"problems,omitempty"`
}

// Lookup returns the discovered rotation of user in account (any account
// when account is ""; the user must then be found in exactly one). User
// names are compared without regard to case, as IAM does.
func (r *Result) Lookup(account, user string) (Found, bool) {
	var found []Found
	for _, f := range r.Rotations {
		if strings.EqualFold(f.User, user) && (account == "" || f.Account == account) {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		return Found{}, false
	}
	return found[0], true
}

// Err summarises the problems, nil when there are none.
func (r *Result) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	msgs := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		msgs[i] = p.Msg
	}
	return fmt.Errorf("discovery: %s", strings.Join(msgs, "\n"))
}

// Run expands every selector of cfg. A user that a named rotation of the
// file already covers is left to it; a user two selectors match is
// skipped (which one applies would be a guess). Run never fails as a
// whole: failures are in the result.
func Run(ctx context.Context, cfg *config.Config, clientsOf Clients) Result {
	res := Result{Matched: map[string]bool{}}
	byUser := map[userKey][]int{} // indexes into candidates
	type candidate struct {
		user config.SelectedUser
		sel  *config.Selector
	}
	var candidates []candidate
	tagCache := map[userKey]map[string]string{}
	failed := map[string]bool{}
	for _, s := range cfg.Selectors {
		if failed[s.Account] {
			continue
		}
		users, err := listUsers(ctx, clientsOf, s, tagCache)
		if err != nil {
			failed[s.Account] = true
			res.Problems = append(res.Problems, Problem{Account: s.Account, Selector: s.Name,
				Msg: fmt.Sprintf("account %s (%s): %v", s.Account, s.Name, err)})
			continue
		}
		for _, u := range users {
			if !s.Matches(u) {
				continue
			}
			k := userKey{u.Account, strings.ToLower(u.User)}
			byUser[k] = append(byUser[k], len(candidates))
			candidates = append(candidates, candidate{u, s})
		}
	}
	for _, idx := range byUser {
		c := candidates[idx[0]]
		u := c.user
		if failed[u.Account] {
			continue
		}
		if _, err := cfg.Rotation(u.Account, u.User); err == nil {
			continue // the file names the user: its rotation wins
		}
		res.Matched[model.WorkflowID(u.Account, u.User)] = true
		if len(idx) > 1 {
			names := make([]string, len(idx))
			for i, j := range idx {
				names[i] = candidates[j].sel.Name
			}
			res.Problems = append(res.Problems, Problem{Account: u.Account, User: u.User, Selector: names[0],
				Msg: fmt.Sprintf("user %s in account %s is selected by %s: skipped, make the selectors exclusive", u.User, u.Account, strings.Join(names, " and "))})
			continue
		}
		r, err := cfg.Expand(c.sel, u)
		if err != nil {
			res.Problems = append(res.Problems, Problem{Account: u.Account, User: u.User, Selector: c.sel.Name, Msg: err.Error()})
			continue
		}
		res.Rotations = append(res.Rotations, Found{Rotation: r, Selector: c.sel, SelectedBy: c.sel.Name})
	}
	for a := range failed {
		res.FailedAccounts = append(res.FailedAccounts, a)
	}
	slices.Sort(res.FailedAccounts)
	slices.SortFunc(res.Rotations, func(a, b Found) int {
		return strings.Compare(a.Account+"/"+strings.ToLower(a.User), b.Account+"/"+strings.ToLower(b.User))
	})
	slices.SortFunc(res.Problems, func(a, b Problem) int {
		return strings.Compare(a.Account+"/"+strings.ToLower(a.User), b.Account+"/"+strings.ToLower(b.User))
	})
	return res
}

type userKey struct{ account, user string }

// listUsers lists the users under the selector's path with their tags
// (read once per user and run).
func listUsers(ctx context.Context, clientsOf Clients, s *config.Selector, cache map[userKey]map[string]string) ([]config.SelectedUser, error) {
	c, err := clientsOf(ctx, s.Account)
	if err != nil {
		return nil, err
	}
	var out []config.SelectedUser
	var marker *string
	for {
		page, err := c.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String(s.Path), Marker: marker, MaxItems: aws.Int32(1000)})
		if err != nil {
			return nil, fmt.Errorf("iam:ListUsers under %s: %w", s.Path, err)
		}
		for _, u := range page.Users {
			name := aws.ToString(u.UserName)
			k := userKey{s.Account, strings.ToLower(name)}
			tags, ok := cache[k]
			if !ok {
				if tags, err = userTags(ctx, c, name); err != nil {
					return nil, err
				}
				cache[k] = tags
			}
			out = append(out, config.SelectedUser{Account: s.Account, User: name, Path: aws.ToString(u.Path), Tags: tags})
		}
		if !page.IsTruncated || page.Marker == nil {
			return out, nil
		}
		marker = page.Marker
	}
}

func userTags(ctx context.Context, c IAM, user string) (map[string]string, error) {
	tags := map[string]string{}
	var marker *string
	for {
		page, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String(user), Marker: marker})
		if err != nil {
			return nil, fmt.Errorf("iam:ListUserTags of %s: %w", user, err)
		}
		for _, t := range page.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if !page.IsTruncated || page.Marker == nil {
			return tags, nil
		}
		marker = page.Marker
	}
}
