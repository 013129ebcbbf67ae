package clients

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/model"
)

// DefaultCircleCIURL is CircleCI cloud's root; CircleCI server uses its own hostname.
const DefaultCircleCIURL = "https://circleci.com"

// CircleCIClient calls CircleCI's API v2 for project and context
// environment variables (https://circleci.com/docs/api/v2/). CircleCI has
// no maintained Go SDK.
type CircleCIClient struct {
	rest restClient
}

// NewCircleCIClient builds the CircleCI client the activities use. baseURL
// is CircleCI's root ("https://circleci.com", a server installation's
// hostname, or an emulator's URL; "" means CircleCI cloud) or its API root
// (".../api/v2"). token is a personal API token (project tokens are not
// accepted by API v2), sent as Circle-Token. hc may be nil; a client
// without a timeout gets the default of 30 s.
func NewCircleCIClient(baseURL string, token model.Secret, hc *http.Client) *CircleCIClient {
	return &CircleCIClient{rest: restClient{
		provider: "circleci",
		base:     apiRoot(baseURL, DefaultCircleCIURL, "/api/v2"),
		hc:       restHTTPClient(hc),
		token:    token,
		authorize: func(h http.Header, token string) {
			h.Set("Circle-Token", token)
		},
		errorText: circleCIErrorText,
	}}
}

// circleCIErrorText reads CircleCI's error shape, {"message": "..."}.
func circleCIErrorText(body []byte) (string, string) {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Message, ""
}

// CircleCIEnvVar is a project environment variable as CircleCI shows it:
// the value masked, "xxxx" and its last four characters.
type CircleCIEnvVar struct {
	Name        string
	MaskedValue string
	CreatedAt   time.Time // zero when CircleCI does not say
}

// Confirms reports whether the masked value is the one CircleCI shows for
// value: four "x" and the last four characters of the value. That is all a
// read-back can confirm.
func (v CircleCIEnvVar) Confirms(value model.Secret) bool {
	return v.MaskedValue == CircleCIMask(value)
}

// CircleCIMask is how CircleCI shows value: "xxxx" followed by its last
// four characters (all of it when shorter).
func CircleCIMask(value model.Secret) string {
	r := []rune(value.Reveal())
	return "xxxx" + string(r[max(len(r)-4, 0):])
}

type circleCIEnvVarJSON struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	CreatedAt string `json:"created-at"`
}

func (j circleCIEnvVarJSON) envVar() CircleCIEnvVar {
	return CircleCIEnvVar{Name: j.Name, MaskedValue: j.Value, CreatedAt: parseTimeLoose(j.CreatedAt)}
}

// parseTimeLoose reads an RFC 3339 time, or returns zero.
func parseTimeLoose(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func circleCIProjectPath(projectSlug string, rest ...string) string {
	p := "/project/" + escapeSegments(projectSlug) + "/envvar"
	for _, s := range rest {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// SetProjectEnvVar creates or replaces the project's variable name
// (POST /project/{project-slug}/envvar) and returns it as CircleCI shows it.
// projectSlug is "vcs-slug/org/repo": "gh/acme/api", or for GitHub App
// and GitLab projects "circleci/<org-id>/<project-id>".
func (c *CircleCIClient) SetProjectEnvVar(ctx context.Context, projectSlug, name string, value model.Secret) (CircleCIEnvVar, error) {
	if err := requireArgs("circleci", "project slug", projectSlug, "variable name", name); err != nil {
		return CircleCIEnvVar{}, err
	}
	body := struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}{name, value.Reveal()}
	var out circleCIEnvVarJSON
	err := c.rest.do(ctx, call{method: http.MethodPost, path: circleCIProjectPath(projectSlug), body: body, secret: value, out: &out})
	return out.envVar(), err
}

// ProjectEnvVar reads the project's variable name, masked
// (GET /project/{project-slug}/envvar/{name}); an unknown project or
// variable is an *HTTPError with status 404.
func (c *CircleCIClient) ProjectEnvVar(ctx context.Context, projectSlug, name string) (CircleCIEnvVar, error) {
	if err := requireArgs("circleci", "project slug", projectSlug, "variable name", name); err != nil {
		return CircleCIEnvVar{}, err
	}
	var out circleCIEnvVarJSON
	err := c.rest.do(ctx, call{method: http.MethodGet, path: circleCIProjectPath(projectSlug, name), out: &out})
	return out.envVar(), err
}

// ProjectEnvVars lists the project's variables, masked, following
// next_page_token to the last page.
func (c *CircleCIClient) ProjectEnvVars(ctx context.Context, projectSlug string) ([]CircleCIEnvVar, error) {
	if err := requireArgs("circleci", "project slug", projectSlug); err != nil {
		return nil, err
	}
	var all []CircleCIEnvVar
	err := circleCIPages(ctx, &c.rest, circleCIProjectPath(projectSlug), func(raw json.RawMessage) error {
		var items []circleCIEnvVarJSON
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		for _, it := range items {
			all = append(all, it.envVar())
		}
		return nil
	})
	return all, err
}

// DeleteProjectEnvVar deletes the project's variable name.
func (c *CircleCIClient) DeleteProjectEnvVar(ctx context.Context, projectSlug, name string) error {
	if err := requireArgs("circleci", "project slug", projectSlug, "variable name", name); err != nil {
		return err
	}
	return c.rest.do(ctx, call{method: http.MethodDelete, path: circleCIProjectPath(projectSlug, name)})
}

// CircleCIContextEnvVar is a context's environment variable: CircleCI
// never shows a context variable's value, masked or not.
type CircleCIContextEnvVar struct {
	Name      string
	ContextID string
	CreatedAt time.Time
	UpdatedAt time.Time // when the value was last written: the read-back a push can check
}

type circleCIContextEnvVarJSON struct {
	Variable  string `json:"variable"`
	ContextID string `json:"context_id"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func (j circleCIContextEnvVarJSON) envVar() CircleCIContextEnvVar {
	return CircleCIContextEnvVar{
		Name: j.Variable, ContextID: j.ContextID,
		CreatedAt: parseTimeLoose(j.CreatedAt), UpdatedAt: parseTimeLoose(j.UpdatedAt),
	}
}

func circleCIContextPath(contextID string, rest ...string) string {
	p := "/context/" + url.PathEscape(contextID) + "/environment-variable"
	for _, s := range rest {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// SetContextEnvVar adds or updates the context's variable name
// (PUT /context/{context-id}/environment-variable/{env-var-name}).
func (c *CircleCIClient) SetContextEnvVar(ctx context.Context, contextID, name string, value model.Secret) (CircleCIContextEnvVar, error) {
	if err := requireArgs("circleci", "context ID", contextID, "variable name", name); err != nil {
		return CircleCIContextEnvVar{}, err
	}
	body := struct {
		Value string `json:"value"`
	}{value.Reveal()}
	var out circleCIContextEnvVarJSON
	err := c.rest.do(ctx, call{method: http.MethodPut, path: circleCIContextPath(contextID, name), body: body, secret: value, out: &out})
	return out.envVar(), err
}

// ContextEnvVars lists the context's variables (names and dates), following
// next_page_token to the last page.
func (c *CircleCIClient) ContextEnvVars(ctx context.Context, contextID string) ([]CircleCIContextEnvVar, error) {
	if err := requireArgs("circleci", "context ID", contextID); err != nil {
		return nil, err
	}
	var all []CircleCIContextEnvVar
	err := circleCIPages(ctx, &c.rest, circleCIContextPath(contextID), func(raw json.RawMessage) error {
		var items []circleCIContextEnvVarJSON
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		for _, it := range items {
			all = append(all, it.envVar())
		}
		return nil
	})
	return all, err
}

// ContextEnvVar finds the context's variable name by listing (the API has
// no single-variable read); found is false when the context has none.
func (c *CircleCIClient) ContextEnvVar(ctx context.Context, contextID, name string) (v CircleCIContextEnvVar, found bool, err error) {
	all, err := c.ContextEnvVars(ctx, contextID)
	if err != nil {
		return CircleCIContextEnvVar{}, false, err
	}
	for _, e := range all {
		if e.Name == name {
			return e, true, nil
		}
	}
	return CircleCIContextEnvVar{}, false, nil
}

// DeleteContextEnvVar removes the context's variable name.
func (c *CircleCIClient) DeleteContextEnvVar(ctx context.Context, contextID, name string) error {
	if err := requireArgs("circleci", "context ID", contextID, "variable name", name); err != nil {
		return err
	}
	return c.rest.do(ctx, call{method: http.MethodDelete, path: circleCIContextPath(contextID, name)})
}

// circleCIPages walks a paginated list ({"items": [...], "next_page_token": "..."}),
// passing each page's items to page.
func circleCIPages(ctx context.Context, rc *restClient, path string, page func(json.RawMessage) error) error {
	token := ""
	for range maxPages {
		var q url.Values
		if token != "" {
			q = url.Values{"page-token": {token}}
		}
		var out struct {
			Items         json.RawMessage `json:"items"`
			NextPageToken *string         `json:"next_page_token"`
		}
		if err := rc.do(ctx, call{method: http.MethodGet, path: path, query: q, out: &out}); err != nil {
			return err
		}
		if len(out.Items) > 0 && string(out.Items) != "null" {
			if err := page(out.Items); err != nil {
				return fmt.Errorf("circleci: GET %s: items are not the JSON expected (%T)", path, err)
			}
		}
		if out.NextPageToken == nil || strings.TrimSpace(*out.NextPageToken) == "" {
			return nil
		}
		if *out.NextPageToken == token {
			return fmt.Errorf("circleci: GET %s: the next page token repeats", path)
		}
		token = *out.NextPageToken
	}
	return fmt.Errorf("circleci: GET %s: %w", path, errNoPages)
}
