package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// DefaultBitbucketURL is Bitbucket Cloud's API host.
const DefaultBitbucketURL = "https://api.bitbucket.org"

// bitbucketPageLen is the page size asked for in lists: Bitbucket's
// maximum for most 2.0 endpoints (the default is 10).
const bitbucketPageLen = "100"

// BitbucketClient calls Bitbucket Cloud's REST API 2.0 for Pipelines
// repository and deployment variables
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-pipelines/).
// Bitbucket has no maintained Go SDK for these.
type BitbucketClient struct {
	rest restClient
}

// NewBitbucketClient builds the Bitbucket client the activities use.
// baseURL is the API host ("https://api.bitbucket.org", an emulator's URL;
// "" means Bitbucket Cloud) or its API root (".../2.0"). token is a
// repository or workspace access token with the pipeline:variable scope,
// sent as a Bearer token. hc may be nil; a client without a timeout gets
// the default of 30 s.
func NewBitbucketClient(baseURL string, token model.Secret, hc *http.Client) *BitbucketClient {
	return &BitbucketClient{rest: restClient{
		provider: "bitbucket",
		base:     apiRoot(baseURL, DefaultBitbucketURL, "/2.0"),
		hc:       restHTTPClient(hc),
		token:    token,
		authorize: func(h http.Header, token string) {
			h.Set("Authorization", "Bearer "+token)
		},
		errorText: bitbucketErrorText,
	}}
}

// bitbucketErrorText reads Bitbucket's error shape:
// {"type": "error", "error": {"message": "...", "detail": "..." or {...}, "data": {"key": "..."}}}.
// A string detail is appended to the message; data.key is the code.
func bitbucketErrorText(body []byte) (string, string) {
	var e struct {
		Error struct {
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
			Data    struct {
				Key string `json:"key"`
			} `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	msg := e.Error.Message
	var detail string
	if json.Unmarshal(e.Error.Detail, &detail) == nil && detail != "" && detail != msg {
		if msg != "" {
			msg += ": "
		}
		msg += detail
	}
	return msg, e.Error.Data.Key
}

// BitbucketVariable is a Pipelines variable (repository or deployment).
// Bitbucket never returns a secured variable's value: a write is confirmed
// by the variable's UUID and key.
type BitbucketVariable struct {
	UUID    string // with its braces: "{2d9f…}"
	Key     string
	Secured bool
	Value   string // unsecured variables only; "" for secured ones
}

type bitbucketVariableJSON struct {
	Type    string  `json:"type,omitempty"`
	UUID    string  `json:"uuid,omitempty"`
	Key     string  `json:"key"`
	Value   *string `json:"value,omitempty"`
	Secured bool    `json:"secured"`
}

func (j bitbucketVariableJSON) variable() BitbucketVariable {
	v := BitbucketVariable{UUID: j.UUID, Key: j.Key, Secured: j.Secured}
	if j.Value != nil && !j.Secured {
		v.Value = *j.Value
	}
	return v
}

// BitbucketEnvironment is a deployment environment.
type BitbucketEnvironment struct {
	UUID string // with its braces
	Name string // "Production"
	Slug string // "production"
	Type string // the environment type: "Test", "Staging" or "Production"
}

func bitbucketRepoPath(workspace, repoSlug string) string {
	return "/repositories/" + url.PathEscape(workspace) + "/" + url.PathEscape(repoSlug)
}

// bitbucketVars addresses one set of variables: a repository's, or a
// deployment environment's.
type bitbucketVars struct {
	path string // the collection: .../pipelines_config/variables
}

func repoVars(workspace, repoSlug string) bitbucketVars {
	return bitbucketVars{path: bitbucketRepoPath(workspace, repoSlug) + "/pipelines_config/variables"}
}

func deploymentVars(workspace, repoSlug, environmentUUID string) bitbucketVars {
	return bitbucketVars{path: bitbucketRepoPath(workspace, repoSlug) +
		"/deployments_config/environments/" + url.PathEscape(environmentUUID) + "/variables"}
}

func (s bitbucketVars) one(variableUUID string) string {
	return s.path + "/" + url.PathEscape(variableUUID)
}

func (c *BitbucketClient) create(ctx context.Context, s bitbucketVars, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	v := value.Reveal()
	var out bitbucketVariableJSON
	err := c.rest.do(ctx, call{method: http.MethodPost, path: s.path,
		body: bitbucketVariableJSON{Key: key, Value: &v, Secured: secured}, secret: value, out: &out})
	return out.variable(), err
}

func (c *BitbucketClient) update(ctx context.Context, s bitbucketVars, variableUUID, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	v := value.Reveal()
	var out bitbucketVariableJSON
	err := c.rest.do(ctx, call{method: http.MethodPut, path: s.one(variableUUID),
		body: bitbucketVariableJSON{UUID: variableUUID, Key: key, Value: &v, Secured: secured}, secret: value, out: &out})
	return out.variable(), err
}

func (c *BitbucketClient) list(ctx context.Context, s bitbucketVars) ([]BitbucketVariable, error) {
	var all []BitbucketVariable
	err := bitbucketPages(ctx, &c.rest, s.path, func(raw json.RawMessage) error {
		var vs []bitbucketVariableJSON
		if err := json.Unmarshal(raw, &vs); err != nil {
			return err
		}
		for _, v := range vs {
			all = append(all, v.variable())
		}
		return nil
	})
	return all, err
}

func (c *BitbucketClient) byKey(ctx context.Context, s bitbucketVars, key string) (BitbucketVariable, bool, error) {
	all, err := c.list(ctx, s)
	if err != nil {
		return BitbucketVariable{}, false, err
	}
	for _, v := range all {
		if v.Key == key {
			return v, true, nil
		}
	}
	return BitbucketVariable{}, false, nil
}

// set updates the variable key if it exists, else creates it. A create
// that meets 409 (the variable appeared meanwhile) looks again and updates.
func (c *BitbucketClient) set(ctx context.Context, s bitbucketVars, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	for attempt := 0; ; attempt++ {
		cur, found, err := c.byKey(ctx, s, key)
		if err != nil {
			return BitbucketVariable{}, err
		}
		if found {
			return c.update(ctx, s, cur.UUID, key, value, secured)
		}
		v, err := c.create(ctx, s, key, value, secured)
		var he *HTTPError
		if attempt == 0 && errors.As(err, &he) && he.StatusCode == http.StatusConflict {
			continue
		}
		return v, err
	}
}

// CreateRepositoryVariable creates the repository variable key
// (POST /repositories/{workspace}/{repo_slug}/pipelines_config/variables);
// a key the repository already has is an *HTTPError with status 409.
func (c *BitbucketClient) CreateRepositoryVariable(ctx context.Context, workspace, repoSlug, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "key", key); err != nil {
		return BitbucketVariable{}, err
	}
	return c.create(ctx, repoVars(workspace, repoSlug), key, value, secured)
}

// UpdateRepositoryVariable writes key, value and secured to the repository
// variable variableUUID (PUT .../pipelines_config/variables/{variable_uuid}).
func (c *BitbucketClient) UpdateRepositoryVariable(ctx context.Context, workspace, repoSlug, variableUUID, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "variable UUID", variableUUID, "key", key); err != nil {
		return BitbucketVariable{}, err
	}
	return c.update(ctx, repoVars(workspace, repoSlug), variableUUID, key, value, secured)
}

// SetRepositoryVariable updates the repository variable key, or creates
// it when the repository has none.
func (c *BitbucketClient) SetRepositoryVariable(ctx context.Context, workspace, repoSlug, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "key", key); err != nil {
		return BitbucketVariable{}, err
	}
	return c.set(ctx, repoVars(workspace, repoSlug), key, value, secured)
}

// RepositoryVariable reads the repository variable variableUUID
// (GET .../pipelines_config/variables/{variable_uuid}).
func (c *BitbucketClient) RepositoryVariable(ctx context.Context, workspace, repoSlug, variableUUID string) (BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "variable UUID", variableUUID); err != nil {
		return BitbucketVariable{}, err
	}
	var out bitbucketVariableJSON
	err := c.rest.do(ctx, call{method: http.MethodGet, path: repoVars(workspace, repoSlug).one(variableUUID), out: &out})
	return out.variable(), err
}

// RepositoryVariables lists the repository's variables, every page.
func (c *BitbucketClient) RepositoryVariables(ctx context.Context, workspace, repoSlug string) ([]BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug); err != nil {
		return nil, err
	}
	return c.list(ctx, repoVars(workspace, repoSlug))
}

// RepositoryVariableByKey finds the repository variable key by listing;
// found is false when the repository has none.
func (c *BitbucketClient) RepositoryVariableByKey(ctx context.Context, workspace, repoSlug, key string) (v BitbucketVariable, found bool, err error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "key", key); err != nil {
		return BitbucketVariable{}, false, err
	}
	return c.byKey(ctx, repoVars(workspace, repoSlug), key)
}

// DeleteRepositoryVariable deletes the repository variable variableUUID.
func (c *BitbucketClient) DeleteRepositoryVariable(ctx context.Context, workspace, repoSlug, variableUUID string) error {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "variable UUID", variableUUID); err != nil {
		return err
	}
	return c.rest.do(ctx, call{method: http.MethodDelete, path: repoVars(workspace, repoSlug).one(variableUUID)})
}

// CreateDeploymentVariable creates the variable key in the deployment
// environment environmentUUID
// (POST .../deployments_config/environments/{environment_uuid}/variables).
func (c *BitbucketClient) CreateDeploymentVariable(ctx context.Context, workspace, repoSlug, environmentUUID, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "environment UUID", environmentUUID, "key", key); err != nil {
		return BitbucketVariable{}, err
	}
	return c.create(ctx, deploymentVars(workspace, repoSlug, environmentUUID), key, value, secured)
}

// UpdateDeploymentVariable writes key, value and secured to the deployment
// variable variableUUID (PUT .../variables/{variable_uuid}).
func (c *BitbucketClient) UpdateDeploymentVariable(ctx context.Context, workspace, repoSlug, environmentUUID, variableUUID, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "environment UUID", environmentUUID,
		"variable UUID", variableUUID, "key", key); err != nil {
		return BitbucketVariable{}, err
	}
	return c.update(ctx, deploymentVars(workspace, repoSlug, environmentUUID), variableUUID, key, value, secured)
}

// SetDeploymentVariable updates the environment's variable key, or
// creates it when the environment has none.
func (c *BitbucketClient) SetDeploymentVariable(ctx context.Context, workspace, repoSlug, environmentUUID, key string, value model.Secret, secured bool) (BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "environment UUID", environmentUUID, "key", key); err != nil {
		return BitbucketVariable{}, err
	}
	return c.set(ctx, deploymentVars(workspace, repoSlug, environmentUUID), key, value, secured)
}

// DeploymentVariables lists the environment's variables, every page. (The
// API has no single-variable read for deployment variables.)
func (c *BitbucketClient) DeploymentVariables(ctx context.Context, workspace, repoSlug, environmentUUID string) ([]BitbucketVariable, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "environment UUID", environmentUUID); err != nil {
		return nil, err
	}
	return c.list(ctx, deploymentVars(workspace, repoSlug, environmentUUID))
}

// DeploymentVariableByKey finds the environment's variable key by
// listing; found is false when the environment has none.
func (c *BitbucketClient) DeploymentVariableByKey(ctx context.Context, workspace, repoSlug, environmentUUID, key string) (v BitbucketVariable, found bool, err error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "environment UUID", environmentUUID, "key", key); err != nil {
		return BitbucketVariable{}, false, err
	}
	return c.byKey(ctx, deploymentVars(workspace, repoSlug, environmentUUID), key)
}

// DeleteDeploymentVariable deletes the deployment variable variableUUID.
func (c *BitbucketClient) DeleteDeploymentVariable(ctx context.Context, workspace, repoSlug, environmentUUID, variableUUID string) error {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug, "environment UUID", environmentUUID,
		"variable UUID", variableUUID); err != nil {
		return err
	}
	return c.rest.do(ctx, call{method: http.MethodDelete, path: deploymentVars(workspace, repoSlug, environmentUUID).one(variableUUID)})
}

// Environments lists the repository's deployment environments
// (GET /repositories/{workspace}/{repo_slug}/environments), every page.
func (c *BitbucketClient) Environments(ctx context.Context, workspace, repoSlug string) ([]BitbucketEnvironment, error) {
	if err := requireArgs("bitbucket", "workspace", workspace, "repository", repoSlug); err != nil {
		return nil, err
	}
	var all []BitbucketEnvironment
	err := bitbucketPages(ctx, &c.rest, bitbucketRepoPath(workspace, repoSlug)+"/environments", func(raw json.RawMessage) error {
		var es []struct {
			UUID            string `json:"uuid"`
			Name            string `json:"name"`
			Slug            string `json:"slug"`
			EnvironmentType struct {
				Name string `json:"name"`
			} `json:"environment_type"`
		}
		if err := json.Unmarshal(raw, &es); err != nil {
			return err
		}
		for _, e := range es {
			all = append(all, BitbucketEnvironment{UUID: e.UUID, Name: e.Name, Slug: e.Slug, Type: e.EnvironmentType.Name})
		}
		return nil
	})
	return all, err
}

// EnvironmentByName finds the deployment environment called name, or
// with that slug ("production"); an exact match wins over one that ignores
// case. found is false when the repository has none.
func (c *BitbucketClient) EnvironmentByName(ctx context.Context, workspace, repoSlug, name string) (env BitbucketEnvironment, found bool, err error) {
	all, err := c.Environments(ctx, workspace, repoSlug)
	if err != nil {
		return BitbucketEnvironment{}, false, err
	}
	for _, e := range all {
		if e.Name == name || e.Slug == name {
			return e, true, nil
		}
	}
	for _, e := range all {
		if strings.EqualFold(e.Name, name) || strings.EqualFold(e.Slug, name) {
			return e, true, nil
		}
	}
	return BitbucketEnvironment{}, false, nil
}

// bitbucketPages walks a paginated list ({"values": [...], "next": "<url>"}),
// passing each page's values to page. Next links must stay on the API root.
func bitbucketPages(ctx context.Context, rc *restClient, path string, page func(json.RawMessage) error) error {
	r := call{method: http.MethodGet, path: path, query: url.Values{"pagelen": {bitbucketPageLen}}}
	seen := map[string]bool{}
	for range maxPages {
		var out struct {
			Values json.RawMessage `json:"values"`
			Next   string          `json:"next"`
		}
		r.out = &out
		if err := rc.do(ctx, r); err != nil {
			return err
		}
		if len(out.Values) > 0 && string(out.Values) != "null" {
			if err := page(out.Values); err != nil {
				return fmt.Errorf("bitbucket: GET %s: values are not the JSON expected (%T)", path, err)
			}
		}
		if out.Next == "" {
			return nil
		}
		if seen[out.Next] {
			return fmt.Errorf("bitbucket: GET %s: the next page link repeats", path)
		}
		seen[out.Next] = true
		r = call{method: http.MethodGet, next: out.Next}
	}
	return fmt.Errorf("bitbucket: GET %s: %w", path, errNoPages)
}
