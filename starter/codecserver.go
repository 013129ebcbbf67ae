package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/codec"
	"github.com/keyrotor/keyrotor/internal/config"
	"github.com/keyrotor/keyrotor/internal/connect"
	"github.com/keyrotor/keyrotor/internal/model"
)

// envCodecServerToken holds the codec server's access token.
const envCodecServerToken = "KEYROTOR_CODEC_SERVER_TOKEN"

const codecServerHelp = `codec-server --listen ADDR [--config FILE] [--token-file FILE | --oidc-jwks-url URL --oidc-audience AUD [--oidc-issuer ISS] [--oidc-subjects A,B] [--oidc-groups G1,G2]] [--allow-origin URL]... [--namespace NS]...

Serves the Temporal codec server protocol (POST /encode, /decode) with keyrotor's
payload keys, so the Web UI and the CLI can show decoded payloads while the
Temporal server keeps only ciphertext.

Keys: KEYROTOR_CODEC_KEY_FILE, else the config's codec.keyFile.
Token: KEYROTOR_CODEC_SERVER_TOKEN, or --token-file; letters, digits, '-', '.', '_'
and '~' only, as it must fit in a URL path (openssl rand -hex 32 > codec-server.token;
base64 output is refused: its '/' and '+' break the path). Clients send it as
"Authorization: Bearer TOKEN" (temporal workflow show --codec-endpoint http://ADDR
--codec-auth "Bearer TOKEN"), or, for the Web UI (which cannot send our header),
as the first path segment of the endpoint: set the UI's codec endpoint to
http://ADDR/TOKEN and treat that URL like the token. The UI server hands that URL
to every browser that loads the UI (in its settings), so the path token is only
for a UI without sign-in, reachable by the people who may read payloads.

OIDC: with --oidc-jwks-url, the server accepts only the signed-in UI user's own
access token, which the UI forwards when its codec setting "pass access token"
is on (the endpoint is then plain http(s)://ADDR, with no secret in it). The
token must be a JWT signed RS256 or ES256 by a key in the issuer's JWKS; exp,
nbf, --oidc-issuer and --oidc-audience are checked, and --oidc-subjects /
--oidc-groups (claim "groups"), when given, must match the subject or one of
the groups. No static token is read or accepted then, neither as a bearer
token nor in the path; CLI users pass their own access token:
--codec-auth "Bearer ACCESS_TOKEN".`

func codecServerCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("codec-server", codecServerHelp)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	configPath := fs.String("config", "", "keyrotor configuration file (for codec.keyFile)")
	tokenFile := fs.String("token-file", "", "file holding the access token (instead of "+envCodecServerToken+")")
	var origins, namespaces listFlag
	fs.Var(&origins, "allow-origin", "Web UI origin allowed to call from a browser, e.g. http://localhost:8233 (repeatable)")
	fs.Var(&namespaces, "namespace", "only serve this Temporal namespace (repeatable; default: all)")
	jwksURL := fs.String("oidc-jwks-url", "", "the UI identity provider's JWKS URL: accept the UI user's access token (JWT) instead of a static token")
	issuer := fs.String("oidc-issuer", "", "with --oidc-jwks-url: the token's required iss claim")
	audience := fs.String("oidc-audience", "", "with --oidc-jwks-url (required): a value the token's aud claim must hold")
	subjects := fs.String("oidc-subjects", "", "with --oidc-jwks-url: comma-separated subjects (sub claim) allowed; with --oidc-groups, either may match")
	groups := fs.String("oidc-groups", "", "with --oidc-jwks-url: comma-separated groups (groups claim) allowed; with --oidc-subjects, either may match")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys, err := codecKeys(*configPath)
	if err != nil {
		return err
	}
	oidc, err := codecServerOIDC(*jwksURL, *issuer, *audience, *subjects, *groups)
	if err != nil {
		return err
	}
	opts := codec.ServerOptions{AllowedOrigins: origins, Namespaces: namespaces, OIDC: oidc}
	if oidc.Enabled() {
		// No static token with OIDC: it would be a second way in, and the
		// one whose secret ends up in the UI's endpoint URL.
		if *tokenFile != "" || os.Getenv(envCodecServerToken) != "" {
			return usageError("--oidc-jwks-url excludes a static token: drop --token-file and %s", envCodecServerToken)
		}
		oidc.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
		opts.OIDC = oidc
	} else {
		if opts.Token, err = codecServerToken(*tokenFile, os.Getenv); err != nil {
			return err
		}
	}
	h, err := codec.NewHTTPHandler(keys, opts)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	auth := "static token"
	if oidc.Enabled() {
		auth = "OIDC access tokens for audience " + oidc.Audience
	}
	fmt.Fprintf(stdout, "codec server on http://%s (keys %s, auth: %s); UI origins allowed: %s\n", l.Addr(), keys, auth, orAll(origins))
	return serveUntilDone(ctx, l, h)
}

// codecServerOIDC checks the --oidc-* flags: all but --oidc-jwks-url need
// it, and it needs --oidc-audience.
func codecServerOIDC(jwksURL, issuer, audience, subjects, groups string) (codec.OIDCOptions, error) {
	o := codec.OIDCOptions{JWKSURL: jwksURL, Issuer: issuer, Audience: audience, Subjects: splitList(subjects), Groups: splitList(groups)}
	if jwksURL == "" {
		if issuer != "" || audience != "" || len(o.Subjects) > 0 || len(o.Groups) > 0 {
			return codec.OIDCOptions{}, usageError("--oidc-issuer, --oidc-audience, --oidc-subjects and --oidc-groups need --oidc-jwks-url")
		}
		return o, nil
	}
	if audience == "" {
		return codec.OIDCOptions{}, usageError("--oidc-jwks-url needs --oidc-audience (the audience the UI's access tokens are issued for)")
	}
	return o, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func codecKeys(configPath string) (*codec.Keyring, error) {
	if configPath == "" {
		return codec.KeyringFromEnv(os.LookupEnv, nil)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	return connect.Keyring(cfg)
}

// codecServerToken reads the token from --token-file, else from
// KEYROTOR_CODEC_SERVER_TOKEN, and refuses at start one the Web UI could not
// send (see codec.CheckToken), naming where it came from.
func codecServerToken(file string, getenv func(string) string) (model.Secret, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		t := model.Secret(strings.TrimSpace(string(b)))
		if t == "" {
			return "", fmt.Errorf("--token-file %s is empty; %s", file, codec.TokenHowTo)
		}
		if err := codec.CheckToken(t); err != nil {
			return "", fmt.Errorf("--token-file %s: %w", file, err)
		}
		return t, nil
	}
	t := model.Secret(strings.TrimSpace(getenv(envCodecServerToken)))
	if t == "" {
		return "", usageError("no access token: set %s or --token-file (%s)", envCodecServerToken, codec.TokenHowTo)
	}
	if err := codec.CheckToken(t); err != nil {
		return "", fmt.Errorf("%s: %w", envCodecServerToken, err)
	}
	return t, nil
}

// serveUntilDone serves until ctx ends, then shuts down gracefully.
func serveUntilDone(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := codec.NewHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

var _ flag.Value = (*listFlag)(nil)

func orAll(origins []string) string {
	if len(origins) == 0 {
		return "none (CLI and SDK only)"
	}
	return strings.Join(origins, ", ")
}
