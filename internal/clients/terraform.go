package clients

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/keyrotor/keyrotor/internal/model"
)

// DefaultTerraformURL is HCP Terraform's root; Terraform Enterprise uses its
// own hostname.
const DefaultTerraformURL = "https://app.terraform.io"

// terraformRequestTimeout bounds one HTTP exchange (go-tfe's retries of a
// 429 are exchanges of their own), so a hung server fails the call well
// before the activity's StartToClose timeout.
const terraformRequestTimeout = 30 * time.Second

// Terraform reaches HCP Terraform or Terraform Enterprise through go-tfe.
// go-tfe's NewClient sends a request (GET /api/v2/ping, whose
// X-RateLimit-Limit sets the client's own pacing), so the client is made
// on first use rather than at worker start: a worker whose HCP Terraform
// is unreachable for a moment still starts, and its terraform pushes retry.
// A failed creation is tried again by the next call; a made client is kept
// for the life of the process, so that its pacing covers every push the
// worker makes with the token.
//
// go-tfe's retries are set deliberately:
//
//   - 429 Too Many Requests: go-tfe always retries it (no option turns that
//     off), up to 30 times, each after the X-RateLimit-Reset the answer
//     carries (the seconds left in HCP Terraform's one-second window) plus
//     100–400 ms of jitter, and it paces every request at two thirds of the
//     limit the ping reported, so one worker rarely meets a 429 at all.
//     That is what keyrotor would do itself, so it stays on. A 429 is an
//     answer to a request the server did not process, so repeating even a
//     create is safe. The activity hears of every such exchange
//     (ObserveTerraform): it counts it as a call and a rate-limit wait, and
//     heartbeats while go-tfe waits.
//   - 5xx and transport errors: RetryServerErrors is false, so go-tfe
//     returns them at once and the activity's own policy retries the call
//     (a few jittered tries, heartbeating, within the attempt's deadline;
//     then Temporal's backoff). go-tfe's own would make 30 more tries with
//     a backoff growing linearly to 27 s, several minutes without a
//     heartbeat, and would blindly repeat a create whose answer was lost,
//     which the activity instead turns into an update of the variable the
//     lost create made.
type Terraform struct {
	address string
	token   model.Secret
	hc      *http.Client

	mu     sync.Mutex
	client *tfe.Client
}

// NewTerraform returns the connection to baseURL (the instance's root,
// "https://app.terraform.io" when empty; go-tfe adds /api/v2) with token, a
// team or user API token. It sends nothing until Client is called.
func NewTerraform(baseURL string, token model.Secret) *Terraform {
	if baseURL == "" {
		baseURL = DefaultTerraformURL
	}
	return &Terraform{
		address: baseURL,
		token:   token,
		hc:      &http.Client{Timeout: terraformRequestTimeout, Transport: observingTransport{base: providerTransport}},
	}
}

// Client returns the go-tfe client, making it (and sending go-tfe's ping)
// on the first call that succeeds. Its error names the address, never the
// token.
func (t *Terraform) Client() (*tfe.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client != nil {
		return t.client, nil
	}
	c, err := tfe.NewClient(&tfe.Config{
		Address:           t.address,
		Token:             t.token.Reveal(),
		HTTPClient:        t.hc,
		RetryServerErrors: false, // see Terraform
	})
	if err != nil {
		// A transport error quotes the ping's URL; the cause says enough.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("HCP Terraform at %s: %w", t.address, err)
	}
	t.client = c
	return c, nil
}

// TerraformExchange is one HTTP exchange go-tfe made: the answer's status
// and headers, or none (Status 0) when no answer came.
type TerraformExchange struct {
	Status int
	Header http.Header
}

type terraformObserverKey struct{}

// ObserveTerraform returns a context under which every HTTP exchange a
// go-tfe call makes is reported to observe as it ends, before go-tfe sees
// it: the call's own request and each of go-tfe's retries of a 429. go-tfe's
// errors carry no status code (a 503 reads "503 Service Unavailable" or the
// body's title); the last exchange observed is the status the call ended
// with. observe runs on the goroutine that made the call.
func ObserveTerraform(ctx context.Context, observe func(TerraformExchange)) context.Context {
	return context.WithValue(ctx, terraformObserverKey{}, observe)
}

// observingTransport reports each exchange to the request's observer.
type observingTransport struct{ base http.RoundTripper }

func (o observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.base.RoundTrip(req)
	if observe, ok := req.Context().Value(terraformObserverKey{}).(func(TerraformExchange)); ok {
		var ex TerraformExchange
		if resp != nil {
			ex.Status, ex.Header = resp.StatusCode, resp.Header
		}
		observe(ex)
	}
	return resp, err
}
