package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/keyrotor/keyrotor/internal/clients"
	"github.com/keyrotor/keyrotor/internal/model"
)

// The parts of go-tfe the terraform kinds use; a *tfe.Client's Workspaces,
// Variables, VariableSets and VariableSetVariables satisfy them.
type (
	terraformWorkspaces interface {
		Read(ctx context.Context, organization, workspace string) (*tfe.Workspace, error)
	}
	terraformVariables interface {
		List(ctx context.Context, workspaceID string, options *tfe.VariableListOptions) (*tfe.VariableList, error)
		Create(ctx context.Context, workspaceID string, options tfe.VariableCreateOptions) (*tfe.Variable, error)
		Update(ctx context.Context, workspaceID, variableID string, options tfe.VariableUpdateOptions) (*tfe.Variable, error)
	}
	terraformVariableSets interface {
		List(ctx context.Context, organization string, options *tfe.VariableSetListOptions) (*tfe.VariableSetList, error)
	}
	terraformVariableSetVariables interface {
		List(ctx context.Context, variableSetID string, options *tfe.VariableSetVariableListOptions) (*tfe.VariableSetVariableList, error)
		Create(ctx context.Context, variableSetID string, options *tfe.VariableSetVariableCreateOptions) (*tfe.VariableSetVariable, error)
		Update(ctx context.Context, variableSetID, variableID string, options *tfe.VariableSetVariableUpdateOptions) (*tfe.VariableSetVariable, error)
	}
)

// terraformServices are one go-tfe client's services.
type terraformServices struct {
	workspaces terraformWorkspaces
	variables  terraformVariables
	varsets    terraformVariableSets
	varsetVars terraformVariableSetVariables
}

// Terraform pushes the key into HCP Terraform (or Terraform Enterprise)
// variables: a workspace's (terraform-workspace) or a variable set's
// (terraform-varset), two variables in the target's category, written
// sensitive and not HCL.
//
// HCP Terraform never shows a sensitive value again, so the push is
// confirmed by metadata: every write is answered with the variable as
// stored, and that answer must show the variable written (its ID, key,
// category, sensitive, not HCL) under a version-id the write made new.
// The answer is the confirmation: a read-back would show the same fields
// of the same state a round trip later, and could only add a write by
// someone else in between, which is not the risk that matters (a
// Terraform configuration managing the same variable reverts it on its
// next apply, hours later, and neither would see that). A write made by an
// earlier attempt is confirmed the same way: its version-id is kept in the
// heartbeat (PushProgress.Versions), and the next attempt trusts the write
// only while the listing it makes anyway still shows that version-id.
//
// Calls per target, with go-tfe's retries of 429 counted as the calls they
// are (plus one GET /api/v2/ping per worker process, when go-tfe's client
// is made):
//
//   - workspace: read the workspace by organization and name (1), list its
//     variables (1), write both variables, each an update of the one
//     listed or a create (2): 4.
//   - variable set: find it by name (VariableSets.List with q, 1 unless
//     the name matches more than 100 sets), list its variables (1), write
//     both (2): 4.
//
// A create refused because the key is taken (a create of ours whose answer
// was lost, or another writer) lists again and updates: 2 more calls. An
// update answered 404 (the variable deleted since the listing, or a token
// that may not write there) tries a create: 1 more.
type Terraform struct {
	kindBase
	connect func() (terraformServices, error)
}

// NewTerraform returns the terraform-workspace and terraform-varset kinds
// over c, whose go-tfe client is made on first use.
func NewTerraform(c *clients.Terraform, s Sealer, rs Rotations, opts ...Option) *Terraform {
	return &Terraform{kindBase: newKindBase("terraform", rs, s, opts), connect: func() (terraformServices, error) {
		tc, err := c.Client()
		if err != nil {
			return terraformServices{}, err
		}
		return terraformServices{workspaces: tc.Workspaces, variables: tc.Variables, varsets: tc.VariableSets, varsetVars: tc.VariableSetVariables}, nil
	}}
}

var _ TargetKind = (*Terraform)(nil)

func (a *Terraform) kinds() []model.TargetKind {
	return []model.TargetKind{model.TerraformWorkspace, model.TerraformVarSet}
}

// terraformVariableDescription is set on the variables keyrotor creates.
const terraformVariableDescription = "Managed by keyrotor: rotated automatically"

// confirmedByVersionID is how a terraform push is confirmed: by the
// version-id each write was answered with.
const confirmedByVersionID = ConfirmedMetadata + " (version-id)"

// tfVar is a variable as the API shows it (a sensitive one without its
// value).
type tfVar struct {
	id, key, category, versionID string
	sensitive, hcl               bool
}

// tfWant is a variable to write.
type tfWant struct {
	key   string
	Value model.Secret // exported: %+v of the struct prints it redacted
}

// tfOwner is the workspace or variable set holding a target's variables.
type tfOwner interface {
	// list returns one page (from 1) of the variables and the next page (0: none).
	list(ctx context.Context, page int) ([]tfVar, int, error)
	create(ctx context.Context, v tfWant, category string) (tfVar, error)
	update(ctx context.Context, id string, v tfWant) (tfVar, error)
}

func (a *Terraform) push(ctx context.Context, in PushInput) (PushResult, error) {
	return a.run(ctx, in, func(ctx context.Context, p *pushRun) (string, error) {
		t, vars, err := terraformRequest(p)
		if err != nil {
			return "", err
		}
		api, err := a.connect()
		if err != nil {
			// Reaching the server failed before any call of this attempt;
			// Temporal retries.
			return "", fmt.Errorf("%s: %s", p.target, p.redactor().clean(err.Error()))
		}
		tp := &tfPush{pushRun: p, api: api, t: t}
		owner, err := tp.owner(ctx)
		if err != nil {
			return "", err
		}
		listed, err := tp.listAll(ctx, owner, "list the variables")
		if err != nil {
			return "", err
		}
		tp.resume(ctx, listed)
		for _, v := range vars {
			if tp.progress.wrote(v.key) {
				continue
			}
			if err := tp.writeVar(owner, v, listed[v.key]); err != nil {
				return "", err
			}
		}
		return confirmedByVersionID, nil
	})
}

// terraformRequest checks the target and the key before any call, so that
// a mistake fails at once rather than after half the pair is written.
func terraformRequest(p *pushRun) (model.TerraformTarget, []tfWant, error) {
	t := p.req.Target.Terraform
	invalid := func(msg string) (model.TerraformTarget, []tfWant, error) {
		return model.TerraformTarget{}, nil, nonRetryable(TypeValidation, p.target+": "+msg, nil)
	}
	switch {
	case t == nil, t.Organization == "",
		p.req.Target.Kind == model.TerraformWorkspace && (t.Workspace == "" || t.VariableSet != ""),
		p.req.Target.Kind == model.TerraformVarSet && (t.VariableSet == "" || t.Workspace != ""):
		return invalid("not a terraform workspace or variable set target")
	}
	tt := *t
	if tt.Category == "" {
		tt.Category = string(tfe.CategoryEnv)
	}
	if tt.Category != string(tfe.CategoryEnv) && tt.Category != string(tfe.CategoryTerraform) {
		return invalid(fmt.Sprintf("category %q is neither env nor terraform", tt.Category))
	}
	n := withDefaultNames(p.req.SecretNames)
	if n.AccessKeyID == n.SecretAccessKey {
		return invalid("the key ID and the secret need different variable names")
	}
	if p.req.Key.ID == "" || p.req.Key.Secret.Reveal() == "" {
		return invalid("the access key to push is empty")
	}
	return tt, []tfWant{{key: n.AccessKeyID, Value: model.Secret(p.req.Key.ID)}, {key: n.SecretAccessKey, Value: p.req.Key.Secret}}, nil
}

// tfPush is one attempt of a terraform push.
type tfPush struct {
	*pushRun
	api terraformServices
	t   model.TerraformTarget
	// last is the last HTTP exchange of the call under way, sent the
	// exchanges it made: go-tfe's errors carry no status, the exchange does.
	last clients.TerraformExchange
	sent int
}

// observed wraps a go-tfe call so that its exchanges are seen: the status
// it ended with (for judge), each retry go-tfe made of a 429 counted as a
// call and a rate-limit wait, and a heartbeat while go-tfe waits one out.
func (tp *tfPush) observed(call func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		tp.last, tp.sent = clients.TerraformExchange{}, 0
		return call(clients.ObserveTerraform(ctx, func(ex clients.TerraformExchange) {
			tp.sent++
			if tp.sent > 1 {
				// go-tfe retried the previous answer, a 429 (it retries
				// nothing else: RetryServerErrors is off).
				tp.calls.calls++
				if tp.calls.onWait != nil {
					tp.calls.onWait(terraformWait(tp.last.Header))
				}
			}
			tp.last = ex
			if ex.Status == http.StatusTooManyRequests {
				tp.calls.heartbeat(ctx)
			}
		}))
	}
}

// owner finds the workspace (by organization and name) or the variable set
// (by name, among the organization's).
func (tp *tfPush) owner(ctx context.Context) (tfOwner, error) {
	org := tp.t.Organization
	if tp.t.Workspace != "" {
		var ws *tfe.Workspace
		err := tp.call(ctx, tp.observed(func(ctx context.Context) (err error) {
			ws, err = tp.api.workspaces.Read(ctx, org, tp.t.Workspace)
			return err
		}), tp.judge("read the workspace", "the workspace does not exist, or the token cannot see it"))
		if err != nil {
			return nil, err
		}
		if ws.Permissions != nil && !ws.Permissions.CanUpdateVariable {
			return nil, nonRetryable(TypeUnauthorized, tp.target+": the token may read the workspace but not write its variables; "+terraformWorkspaceAccess, nil)
		}
		return tfWorkspace{api: tp.api.variables, id: ws.ID}, nil
	}
	id, err := tp.findVariableSet(ctx)
	if err != nil {
		return nil, err
	}
	return tfVariableSet{api: tp.api.varsetVars, id: id}, nil
}

// terraformWorkspaceAccess says what a token needs on a workspace.
const terraformWorkspaceAccess = "its team needs write access to the workspace (or a custom role with \"Read and write variables\")"

// terraformVarSetAccess says what a token needs on a variable set.
const terraformVarSetAccess = "its team needs the organization's \"Manage all workspaces\" access (or, for a project's variable set, to manage that project's variable sets)"

// tfPageSize is the API's largest page.
const tfPageSize = 100

// findVariableSet pages through the organization's variable sets whose
// name contains the target's (the API's q), for the one named exactly so.
func (tp *tfPush) findVariableSet(ctx context.Context) (string, error) {
	for page := 1; page != 0; {
		var l *tfe.VariableSetList
		err := tp.call(ctx, tp.observed(func(ctx context.Context) (err error) {
			l, err = tp.api.varsets.List(ctx, tp.t.Organization, &tfe.VariableSetListOptions{
				Query: tp.t.VariableSet, ListOptions: tfe.ListOptions{PageNumber: page, PageSize: tfPageSize},
			})
			return err
		}), tp.judge("find the variable set", "the organization does not exist, or the token cannot see it"))
		if err != nil {
			return "", err
		}
		for _, vs := range l.Items {
			if vs != nil && vs.Name == tp.t.VariableSet {
				return vs.ID, nil
			}
		}
		page = nextPage(l.Pagination, page)
	}
	return "", nonRetryable(TypeNotFound, fmt.Sprintf("%s: organization %s has no variable set named %q that the token can see",
		tp.target, tp.t.Organization, tp.t.VariableSet), nil)
}

// nextPage is the page after current, 0 when there is none (or when the
// pagination does not move forward).
func nextPage(p *tfe.Pagination, current int) int {
	if p == nil || p.NextPage <= current {
		return 0
	}
	return p.NextPage
}

// listAll returns the owner's variables of the target's category, by key.
func (tp *tfPush) listAll(ctx context.Context, o tfOwner, what string) (map[string]*tfVar, error) {
	out := map[string]*tfVar{}
	for page := 1; page != 0; {
		var got []tfVar
		var next int
		err := tp.call(ctx, tp.observed(func(ctx context.Context) (err error) {
			got, next, err = o.list(ctx, page)
			return err
		}), tp.judge(what, "it no longer exists, or the token cannot read its variables"))
		if err != nil {
			return nil, err
		}
		for i := range got {
			if got[i].category == tp.t.Category {
				out[got[i].key] = &got[i]
			}
		}
		if next <= page {
			next = 0
		}
		page = next
	}
	return out, nil
}

// resume checks the writes an earlier attempt made for this key against
// the listing: each must still be the variable it wrote, under the
// version-id its write was answered with. Otherwise something wrote it
// since, and the pair is written again.
func (tp *tfPush) resume(ctx context.Context, listed map[string]*tfVar) {
	for _, name := range tp.progress.Written {
		cur := listed[name]
		if cur == nil || !cur.sensitive || tp.progress.Versions[name] == "" || cur.versionID != tp.progress.Versions[name] {
			tp.progress.restart("variable " + name + " changed since an earlier attempt wrote it")
			tp.calls.heartbeat(ctx)
			return
		}
	}
}

// Errors the write closures hand to their caller, through judge.
var (
	errTFTaken = errors.New("the key is taken")        // a create answered 422 "has already been taken"
	errTFGone  = errors.New("the variable is missing") // an update answered 404
)

// tfUnconfirmed is a write whose answer does not show what was written.
type tfUnconfirmed struct{ why string }

func (e tfUnconfirmed) Error() string { return e.why }

// writeVar writes one variable: an update of the one listed, else a
// create. A create refused because the key is taken lists again and
// updates what it finds; an update of a variable deleted since the listing
// creates it.
func (tp *tfPush) writeVar(o tfOwner, v tfWant, cur *tfVar) error {
	if cur != nil {
		err := tp.update(o, v, *cur)
		if !errors.Is(err, errTFGone) {
			return err
		}
	}
	err := tp.create(o, v)
	if !errors.Is(err, errTFTaken) {
		return err
	}
	listed, err := tp.listAll(tp.pair.ctx, o, "list the variables again")
	if err != nil {
		return err
	}
	if cur = listed[v.key]; cur == nil {
		return errors.New(tp.target + ": variable " + v.key + " appeared and disappeared while being written; retrying")
	}
	if err := tp.update(o, v, *cur); errors.Is(err, errTFGone) {
		return errors.New(tp.target + ": variable " + v.key + " disappeared while being written; retrying")
	} else if err != nil {
		return err
	}
	return nil
}

// update writes v over the listed variable cur, by its ID. A 404 comes back
// as errTFGone.
func (tp *tfPush) update(o tfOwner, v tfWant, cur tfVar) error {
	return tp.write(v.key, tp.observed(func(ctx context.Context) error {
		got, err := o.update(ctx, cur.id, v)
		switch {
		case err != nil && tp.last.Status == http.StatusNotFound:
			return errTFGone
		case err != nil:
			return err
		}
		return tp.accept(v, got, cur)
	}), tp.judge("update variable "+v.key, ""))
}

// create writes v as a new variable. A 422 saying the key is taken comes
// back as errTFTaken.
func (tp *tfPush) create(o tfOwner, v tfWant) error {
	return tp.write(v.key, tp.observed(func(ctx context.Context) error {
		got, err := o.create(ctx, v, tp.t.Category)
		switch {
		case err != nil && tp.last.Status == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "has already been taken"):
			return errTFTaken
		case err != nil:
			return err
		}
		return tp.accept(v, got, tfVar{})
	}), tp.judge("create variable "+v.key, "the token may not write variables there (the API answers 404 for what a token may not do), or it no longer exists"))
}

// accept checks a write's answer shows the variable written, under a new
// version-id, and keeps that version-id for later attempts. before is the
// variable the write replaced (zero for a create).
func (tp *tfPush) accept(v tfWant, got tfVar, before tfVar) error {
	var why string
	switch {
	case before.id != "" && got.id != before.id:
		why = fmt.Sprintf("the update of variable %s (%s) was answered for variable %s", v.key, before.id, got.id)
	case got.id == "" || got.key != v.key || got.category != tp.t.Category:
		why = fmt.Sprintf("the write of variable %s was answered with another variable (%q, category %q)", v.key, got.key, got.category)
	case !got.sensitive || got.hcl:
		why = fmt.Sprintf("variable %s was answered sensitive=%t hcl=%t, want sensitive and not HCL", v.key, got.sensitive, got.hcl)
	case got.versionID == "" || got.versionID == before.versionID:
		why = fmt.Sprintf("the write of variable %s was answered without a new version-id", v.key)
	}
	if why != "" {
		return tfUnconfirmed{why: why}
	}
	if tp.progress.Versions == nil {
		tp.progress.Versions = map[string]string{}
	}
	tp.progress.Versions[v.key] = got.versionID
	return nil
}

// judge classifies a failed call in the one vocabulary, from the status of
// the call's last exchange (go-tfe's errors carry none). notFound says what
// a 404 means for this call ("" when the caller handles 404 itself).
func (tp *tfPush) judge(what, notFound string) func(error) failure {
	return func(err error) failure {
		where := tp.target + ": " + what
		var unconfirmed tfUnconfirmed
		switch {
		case errors.Is(err, errTFTaken), errors.Is(err, errTFGone):
			return failure{err: err}
		case errors.As(err, &unconfirmed):
			// Nothing was recorded for this write: the next attempt writes again.
			return failure{err: retryable(TypeNotConfirmed, tp.target+": "+unconfirmed.why+"; writing again", nil)}
		}
		status := tp.last.Status
		if status == 0 {
			return tp.noAnswer(where, err)
		}
		detail := fmt.Sprintf("%s: HTTP %d", where, status)
		if text := tp.redactor().clean(err.Error()); text != "" && !strings.HasPrefix(text, strconv.Itoa(status)) {
			detail += ": " + text
		}
		switch {
		case status == http.StatusTooManyRequests:
			// go-tfe has already waited out the limit, up to 30 times in
			// this call: Temporal waits the rest, without a worker slot.
			wait := terraformWait(tp.last.Header)
			return failure{err: rateLimited(detail+fmt.Sprintf(" (still rate limited after go-tfe's retries; retry after %s)", wait), wait, nil)}
		case status == http.StatusUnauthorized:
			return failure{err: nonRetryable(TypeUnauthorized, detail+" (the token is invalid, expired or revoked)", nil)}
		case status == http.StatusForbidden:
			return failure{err: nonRetryable(TypeUnauthorized, detail, nil)}
		case status == http.StatusNotFound:
			if notFound != "" {
				detail += " (" + notFound + ")"
			}
			return failure{err: nonRetryable(TypeNotFound, detail, nil)}
		case status == http.StatusRequestTimeout || status >= 500,
			status < 400: // an answer go-tfe could not read (a proxy's page)
			return failure{err: errors.New(detail), transient: true}
		}
		return failure{err: nonRetryable(TypeUnprocessable, detail, nil)}
	}
}

// noAnswer classifies a call that got no HTTP answer: a transport error
// (retried), the attempt's context ending, or go-tfe refusing the call
// before sending it (final: the input will not change).
func (tp *tfPush) noAnswer(where string, err error) failure {
	var ue *url.Error
	switch {
	case errors.As(err, &ue):
		// url.Error's text quotes the request URL; its cause says enough
		// (kept for errors.Is, as GitLab's transport errors keep it).
		return failure{err: fmt.Errorf("%s: %w", where, gitlabRedactedError{err: ue.Err, text: tp.redactor().clean(ue.Err.Error())}), transient: true}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), tp.sent > 0,
		strings.HasPrefix(err.Error(), "rate: "): // go-tfe's own pacing, near the deadline
		return failure{err: fmt.Errorf("%s: %w", where, gitlabRedactedError{err: err, text: tp.redactor().clean(err.Error())}), transient: true}
	}
	return failure{err: nonRetryable(TypeValidation, where+": go-tfe refused the call: "+tp.redactor().clean(err.Error()), nil)}
}

// terraformWait is how long HCP Terraform asks to wait: X-RateLimit-Reset,
// the seconds (fractional) left in its rate-limit window, rounded up to
// whole seconds; at least one.
func terraformWait(h http.Header) time.Duration {
	secs, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 64)
	if err != nil || secs <= 0 || math.IsNaN(secs) || secs > 3600 {
		return time.Second
	}
	return max(time.Duration(math.Ceil(secs))*time.Second, time.Second)
}

// check reads the workspace, whose permissions say whether the token may
// write its variables (1 call), or finds the variable set and lists its
// variables (2 calls): whether the token may write a variable set's
// variables only a write would show.
func (a *Terraform) check(ctx context.Context, t model.Target) TargetCheck {
	tt := t.Terraform
	if tt == nil {
		return TargetCheck{Detail: "not a terraform target"}
	}
	api, err := a.connect()
	if err != nil {
		return TargetCheck{Detail: "cannot reach HCP Terraform: " + truncate(err.Error(), maxQuoted)}
	}
	var last clients.TerraformExchange
	ctx = clients.ObserveTerraform(ctx, func(ex clients.TerraformExchange) { last = ex })
	problem := func(err error) string {
		if last.Status != 0 {
			return fmt.Sprintf("%d %s", last.Status, http.StatusText(last.Status))
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return truncate(err.Error(), maxQuoted)
	}
	if t.Kind == model.TerraformWorkspace {
		ws, err := api.workspaces.Read(ctx, tt.Organization, tt.Workspace)
		switch {
		case err != nil:
			return TargetCheck{Detail: "cannot read the workspace: " + problem(err) + "; the token needs to see it, and " + terraformWorkspaceAccess}
		case ws.Permissions != nil && !ws.Permissions.CanUpdateVariable:
			return TargetCheck{Detail: "the token may read the workspace but not write its variables; " + terraformWorkspaceAccess}
		}
		return TargetCheck{OK: true, Detail: "read the workspace: the token may write its variables"}
	}
	for page := 1; page != 0; {
		l, err := api.varsets.List(ctx, tt.Organization, &tfe.VariableSetListOptions{
			Query: tt.VariableSet, ListOptions: tfe.ListOptions{PageNumber: page, PageSize: tfPageSize},
		})
		if err != nil {
			return TargetCheck{Detail: "cannot list the organization's variable sets: " + problem(err)}
		}
		for _, vs := range l.Items {
			if vs == nil || vs.Name != tt.VariableSet {
				continue
			}
			if _, err := api.varsetVars.List(ctx, vs.ID, nil); err != nil {
				return TargetCheck{Detail: "found the variable set but cannot list its variables: " + problem(err)}
			}
			return TargetCheck{OK: true, Detail: "found the variable set and listed its variables; to write them " + terraformVarSetAccess}
		}
		page = nextPage(l.Pagination, page)
	}
	return TargetCheck{Detail: fmt.Sprintf("organization %s has no variable set named %q that the token can see", tt.Organization, tt.VariableSet)}
}

// --- the workspace and the variable set as owners ---------------------------------

type tfWorkspace struct {
	api terraformVariables
	id  string
}

func fromTFEVariable(v *tfe.Variable) tfVar {
	if v == nil {
		return tfVar{}
	}
	return tfVar{id: v.ID, key: v.Key, category: string(v.Category), versionID: v.VersionID, sensitive: v.Sensitive, hcl: v.HCL}
}

func (w tfWorkspace) list(ctx context.Context, page int) ([]tfVar, int, error) {
	l, err := w.api.List(ctx, w.id, &tfe.VariableListOptions{ListOptions: tfe.ListOptions{PageNumber: page, PageSize: tfPageSize}})
	if err != nil {
		return nil, 0, err
	}
	out := make([]tfVar, 0, len(l.Items))
	for _, v := range l.Items {
		out = append(out, fromTFEVariable(v))
	}
	return out, nextPage(l.Pagination, page), nil
}

func (w tfWorkspace) create(ctx context.Context, v tfWant, category string) (tfVar, error) {
	got, err := w.api.Create(ctx, w.id, tfe.VariableCreateOptions{
		Key:         tfe.String(v.key),
		Value:       tfe.String(v.Value.Reveal()),
		Description: tfe.String(terraformVariableDescription),
		Category:    tfe.Category(tfe.CategoryType(category)),
		HCL:         tfe.Bool(false),
		Sensitive:   tfe.Bool(true),
	})
	return fromTFEVariable(got), err
}

func (w tfWorkspace) update(ctx context.Context, id string, v tfWant) (tfVar, error) {
	got, err := w.api.Update(ctx, w.id, id, tfe.VariableUpdateOptions{
		Value:     tfe.String(v.Value.Reveal()),
		HCL:       tfe.Bool(false),
		Sensitive: tfe.Bool(true),
	})
	return fromTFEVariable(got), err
}

type tfVariableSet struct {
	api terraformVariableSetVariables
	id  string
}

func fromTFEVariableSetVariable(v *tfe.VariableSetVariable) tfVar {
	if v == nil {
		return tfVar{}
	}
	return tfVar{id: v.ID, key: v.Key, category: string(v.Category), versionID: v.VersionID, sensitive: v.Sensitive, hcl: v.HCL}
}

func (s tfVariableSet) list(ctx context.Context, page int) ([]tfVar, int, error) {
	l, err := s.api.List(ctx, s.id, &tfe.VariableSetVariableListOptions{ListOptions: tfe.ListOptions{PageNumber: page, PageSize: tfPageSize}})
	if err != nil {
		return nil, 0, err
	}
	out := make([]tfVar, 0, len(l.Items))
	for _, v := range l.Items {
		out = append(out, fromTFEVariableSetVariable(v))
	}
	return out, nextPage(l.Pagination, page), nil
}

func (s tfVariableSet) create(ctx context.Context, v tfWant, category string) (tfVar, error) {
	got, err := s.api.Create(ctx, s.id, &tfe.VariableSetVariableCreateOptions{
		Key:         tfe.String(v.key),
		Value:       tfe.String(v.Value.Reveal()),
		Description: tfe.String(terraformVariableDescription),
		Category:    tfe.Category(tfe.CategoryType(category)),
		HCL:         tfe.Bool(false),
		Sensitive:   tfe.Bool(true),
	})
	return fromTFEVariableSetVariable(got), err
}

func (s tfVariableSet) update(ctx context.Context, id string, v tfWant) (tfVar, error) {
	got, err := s.api.Update(ctx, s.id, id, &tfe.VariableSetVariableUpdateOptions{
		Value:     tfe.String(v.Value.Reveal()),
		HCL:       tfe.Bool(false),
		Sensitive: tfe.Bool(true),
	})
	return fromTFEVariableSetVariable(got), err
}

// plan: two sensitive variables in the target's category, confirmed by
// the version-id each write's answer carries.
func (a *Terraform) plan(t model.Target, names model.SecretNames) TargetPlan {
	p := TargetPlan{Names: names, Where: "workspace variables", ConfirmedBy: confirmedByVersionID}
	if t.Kind == model.TerraformVarSet {
		p.Where = "variable set variables"
	}
	category := string(tfe.CategoryEnv)
	if t.Terraform != nil && t.Terraform.Category != "" {
		category = t.Terraform.Category
	}
	p.Detail = "category " + category + ", sensitive"
	return p
}
