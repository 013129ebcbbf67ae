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

const codecServerHelp = `codec-server --listen ADDR [--config FILE] [--token-file FILE] [--allow-origin URL]... [--namespace NS]...

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
http://ADDR/TOKEN and treat that URL like the token.`

func codecServerCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("codec-server", codecServerHelp)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	configPath := fs.String("config", "", "keyrotor configuration file (for codec.keyFile)")
	tokenFile := fs.String("token-file", "", "file holding the access token (instead of "+envCodecServerToken+")")
	var origins, namespaces listFlag
	fs.Var(&origins, "allow-origin", "Web UI origin allowed to call from a browser, e.g. http://localhost:8233 (repeatable)")
	fs.Var(&namespaces, "namespace", "only serve this Temporal namespace (repeatable; default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys, err := codecKeys(*configPath)
	if err != nil {
		return err
	}
	token, err := codecServerToken(*tokenFile, os.Getenv)
	if err != nil {
		return err
	}
	h, err := codec.NewHTTPHandler(keys, codec.ServerOptions{Token: token, AllowedOrigins: origins, Namespaces: namespaces})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	fmt.Fprintf(stdout, "codec server on http://%s (keys %s); UI origins allowed: %s\n", l.Addr(), keys, orAll(origins))
	return serveUntilDone(ctx, l, h)
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
