package clients

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/keyrotor/keyrotor/internal/model"
)

// DefaultTravisURL is Travis CI's API host.
const DefaultTravisURL = "https://api.travis-ci.com"

// TravisClient calls Travis CI's API v3 for repository environment
// variables (https://developer.travis-ci.com/resource/env_vars,
// https://developer.travis-ci.com/resource/env_var). Travis CI has no
// maintained Go SDK.
type TravisClient struct {
	rest restClient
}

// NewTravisClient builds the Travis CI client the activities use. baseURL
// is the API host ("https://api.travis-ci.com", an Enterprise
// installation's API, an emulator's URL; "" means travis-ci.com). token is
// an API token, sent as "Authorization: token <token>". Every request
// carries Travis-API-Version: 3: without it Travis answers from its legacy
// API, which has none of these endpoints. hc may be nil; a client without
// a timeout gets the default of 30 s.
func NewTravisClient(baseURL string, token model.Secret, hc *http.Client) *TravisClient {
	return &TravisClient{rest: restClient{
		provider: "travis",
		base:     apiRoot(baseURL, DefaultTravisURL, ""),
		hc:       restHTTPClient(hc),
		token:    token,
		authorize: func(h http.Header, token string) {
			h.Set("Authorization", "token "+token)
		},
		header:    travisHeader(),
		errorText: travisErrorText,
	}}
}

func travisHeader() http.Header {
	h := http.Header{}
	h.Set("Travis-API-Version", "3")
	return h
}

// travisErrorText reads Travis's error shape:
// {"@type": "error", "error_type": "duplicate_resource", "error_message": "resource already exists"}.
func travisErrorText(body []byte) (string, string) {
	var e struct {
		Type    string `json:"error_type"`
		Message string `json:"error_message"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Message, e.Type
}

// TravisEnvVar is a repository's environment variable. Travis shows the
// value of public variables only.
type TravisEnvVar struct {
	ID     string
	Name   string
	Public bool
	Branch string // "" when the variable applies to every branch
	Value  string // public variables only; "" for private ones
}

type travisEnvVarJSON struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Value  *string `json:"value"`
	Public bool    `json:"public"`
	Branch *string `json:"branch"`
}

func (j travisEnvVarJSON) envVar() TravisEnvVar {
	v := TravisEnvVar{ID: j.ID, Name: j.Name, Public: j.Public}
	if j.Branch != nil {
		v.Branch = *j.Branch
	}
	if j.Value != nil && j.Public {
		v.Value = *j.Value
	}
	return v
}

// travisRepoPath is /repo/{slug or id}: a slug travels as one segment,
// its "/" escaped ("acme%2Fapi"), as Travis's router requires.
func travisRepoPath(repoSlug string) string { return "/repo/" + url.PathEscape(repoSlug) }

// CreateEnvVar creates the variable name for every branch
// (POST /repo/{repository.slug_or_id}/env_vars). repoSlug is "owner/name"
// or the repository's numeric ID. A name the repository already has is an
// *HTTPError with status 409 (duplicate_resource).
func (c *TravisClient) CreateEnvVar(ctx context.Context, repoSlug, name string, value model.Secret, public bool) (TravisEnvVar, error) {
	if err := requireArgs("travis", "repository", repoSlug, "variable name", name); err != nil {
		return TravisEnvVar{}, err
	}
	body := map[string]any{"env_var.name": name, "env_var.value": value.Reveal(), "env_var.public": public}
	var out travisEnvVarJSON
	err := c.rest.do(ctx, call{method: http.MethodPost, path: travisRepoPath(repoSlug) + "/env_vars", body: body, secret: value, out: &out})
	return out.envVar(), err
}

// UpdateEnvVar writes value to the variable id, leaving its name, branch
// and visibility as they are (PATCH /repo/{slug}/env_var/{env_var.id}).
func (c *TravisClient) UpdateEnvVar(ctx context.Context, repoSlug, id string, value model.Secret) (TravisEnvVar, error) {
	if err := requireArgs("travis", "repository", repoSlug, "variable ID", id); err != nil {
		return TravisEnvVar{}, err
	}
	body := map[string]any{"env_var.value": value.Reveal()}
	var out travisEnvVarJSON
	err := c.rest.do(ctx, call{method: http.MethodPatch, path: travisRepoPath(repoSlug) + "/env_var/" + url.PathEscape(id),
		body: body, secret: value, out: &out})
	return out.envVar(), err
}

// UpdatePrivateEnvVar writes value to the variable id and makes it private
// in the same request (PATCH /repo/{slug}/env_var/{env_var.id} with
// env_var.public false), leaving its name and branch as they are: a value
// written this way is never shown by Travis, whatever the variable was.
func (c *TravisClient) UpdatePrivateEnvVar(ctx context.Context, repoSlug, id string, value model.Secret) (TravisEnvVar, error) {
	if err := requireArgs("travis", "repository", repoSlug, "variable ID", id); err != nil {
		return TravisEnvVar{}, err
	}
	body := map[string]any{"env_var.value": value.Reveal(), "env_var.public": false}
	var out travisEnvVarJSON
	err := c.rest.do(ctx, call{method: http.MethodPatch, path: travisRepoPath(repoSlug) + "/env_var/" + url.PathEscape(id),
		body: body, secret: value, out: &out})
	return out.envVar(), err
}

// SetEnvVar updates the variable name that applies to every branch, or
// creates it (private unless public) when the repository has none. A
// create that meets 409 (the variable appeared meanwhile) looks again and
// updates.
func (c *TravisClient) SetEnvVar(ctx context.Context, repoSlug, name string, value model.Secret, public bool) (TravisEnvVar, error) {
	for attempt := 0; ; attempt++ {
		cur, found, err := c.EnvVarByName(ctx, repoSlug, name)
		if err != nil {
			return TravisEnvVar{}, err
		}
		if found {
			return c.UpdateEnvVar(ctx, repoSlug, cur.ID, value)
		}
		v, err := c.CreateEnvVar(ctx, repoSlug, name, value, public)
		var he *HTTPError
		if attempt == 0 && errors.As(err, &he) && he.StatusCode == http.StatusConflict {
			continue
		}
		return v, err
	}
}

// EnvVar reads the variable id (GET /repo/{slug}/env_var/{env_var.id}).
func (c *TravisClient) EnvVar(ctx context.Context, repoSlug, id string) (TravisEnvVar, error) {
	if err := requireArgs("travis", "repository", repoSlug, "variable ID", id); err != nil {
		return TravisEnvVar{}, err
	}
	var out travisEnvVarJSON
	err := c.rest.do(ctx, call{method: http.MethodGet, path: travisRepoPath(repoSlug) + "/env_var/" + url.PathEscape(id), out: &out})
	return out.envVar(), err
}

// EnvVars lists the repository's variables (GET /repo/{slug}/env_vars:
// one answer, the list is not paginated).
func (c *TravisClient) EnvVars(ctx context.Context, repoSlug string) ([]TravisEnvVar, error) {
	if err := requireArgs("travis", "repository", repoSlug); err != nil {
		return nil, err
	}
	var out struct {
		EnvVars []travisEnvVarJSON `json:"env_vars"`
	}
	if err := c.rest.do(ctx, call{method: http.MethodGet, path: travisRepoPath(repoSlug) + "/env_vars", out: &out}); err != nil {
		return nil, err
	}
	all := make([]TravisEnvVar, 0, len(out.EnvVars))
	for _, v := range out.EnvVars {
		all = append(all, v.envVar())
	}
	return all, nil
}

// EnvVarByName finds the variable name that applies to every branch (no
// branch set) by listing; found is false when the repository has none.
func (c *TravisClient) EnvVarByName(ctx context.Context, repoSlug, name string) (v TravisEnvVar, found bool, err error) {
	all, err := c.EnvVars(ctx, repoSlug)
	if err != nil {
		return TravisEnvVar{}, false, err
	}
	for _, e := range all {
		if e.Name == name && e.Branch == "" {
			return e, true, nil
		}
	}
	return TravisEnvVar{}, false, nil
}

// DeleteEnvVar deletes the variable id.
func (c *TravisClient) DeleteEnvVar(ctx context.Context, repoSlug, id string) error {
	if err := requireArgs("travis", "repository", repoSlug, "variable ID", id); err != nil {
		return err
	}
	return c.rest.do(ctx, call{method: http.MethodDelete, path: travisRepoPath(repoSlug) + "/env_var/" + url.PathEscape(id)})
}
