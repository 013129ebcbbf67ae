package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// GitHubApp authenticates as an installation of a GitHub App, which
// organisations prefer to a personal token: the App's permissions are
// reviewed once, its installation tokens live an hour, and nobody's personal
// account is involved.
type GitHubApp struct {
	AppID          int64
	InstallationID int64
	// PrivateKeyFile is the App's private key (PEM, as GitHub downloads it).
	// A relative path in the file is resolved against the file's directory.
	// CheckWorker reads the file and keeps what it read for PrivateKeyPEM;
	// Parse never reads it, so validate works without it.
	PrivateKeyFile string

	keyAt   pos      // the privateKeyFile field, for CheckWorker's messages
	keyVars []string // the environment variables privateKeyFile reads
	// keyPEM is the key file as CheckWorker read and parsed it. A pointer:
	// fmt prints it as an address, where it would print an unexported
	// field's value in full (Secret's Format is not called there).
	keyPEM *model.Secret
}

// PrivateKeyPEM returns the content of PrivateKeyFile as CheckWorker read
// it, so the file is read once and the worker signs with the key that was
// checked. Before CheckWorker has accepted the key, it reads the file.
func (app *GitHubApp) PrivateKeyPEM() ([]byte, error) {
	if app.keyPEM != nil {
		return []byte(app.keyPEM.Reveal()), nil
	}
	return os.ReadFile(app.PrivateKeyFile)
}

// githubApp reads github.app. Only the shape is checked here; the key file
// is CheckWorker's business.
func (l *loader) githubApp(f *field) *GitHubApp {
	fs := l.mapping(f.val, f.keyPos, "github.app", "appId", "installationId", "privateKeyFile")
	app := &GitHubApp{}
	if f.val.kind != kMap && f.val.kind != kNull {
		return app // mapping reported it; "is required" thrice would be noise
	}
	app.AppID = l.positiveID(fs, "appId", "the App ID shown on the App's settings page")
	app.InstallationID = l.positiveID(fs, "installationId", "the number at the end of the installation's settings URL")
	app.PrivateKeyFile, app.keyAt, app.keyVars = l.privateKeyFile(fs)
	return app
}

// positiveID reads a required GitHub ID. IDs are int64 on GitHub's side, so
// this does not share integer's int32 limit.
func (l *loader) positiveID(fs fields, key, hint string) int64 {
	path := join(fs.path, key)
	f := fs.get(key)
	if f == nil {
		l.errf(fs.keyPos(key), path, "is required: %s", hint)
		return 0
	}
	if f.val.kind != kScalar || f.val.typ != tInt {
		l.errf(f.valPos(), path, "must be a positive integer (%s), not %s", hint, f.val.describe())
		return 0
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(f.val.text, "_", ""), 0, 64)
	if err != nil || n <= 0 {
		l.errf(f.valPos(), path, "must be a positive integer (%s), not %s", hint, f.val.text)
		return 0
	}
	return n
}

// privateKeyFile reads github.app.privateKeyFile. Like a token, a value
// that only comes out empty because a variable is unset is a warning here
// (Parse already gave it) and an error in CheckWorker, so validate can run
// where the worker's environment is not set.
func (l *loader) privateKeyFile(fs fields) (string, pos, []string) {
	path := join(fs.path, "privateKeyFile")
	if !fs.has("privateKeyFile") {
		l.errf(fs.keyPos("privateKeyFile"), path, "is required: the path of the App's private key (.pem)")
		return "", fs.keyPos("privateKeyFile"), nil
	}
	at := fs.get("privateKeyFile").valPos()
	p, set, vars := l.strRefs(fs, "privateKeyFile")
	switch {
	case !set:
		return "", at, vars // wrong type, already reported
	case strings.TrimSpace(p) == "" && len(vars) == 0:
		l.errf(at, path, "must not be empty: the path of the App's private key (.pem)")
		return "", at, vars
	case strings.TrimSpace(p) == "":
		return "", at, vars
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(l.file), p)
	}
	return p, at, vars
}

// checkGitHubApp is CheckWorker's part for App authentication: it reads
// and parses the key the worker will sign with, and says, naming the file,
// if it cannot. The key's content never appears in a message; once
// parsed, it is kept for PrivateKeyPEM.
func (c *Config) checkGitHubApp(app *GitHubApp) *Error {
	const path = "github.app.privateKeyFile"
	e := &Error{File: c.File, Line: app.keyAt.line, Column: app.keyAt.col, Path: path}
	switch {
	case app.PrivateKeyFile == "" && len(app.keyVars) > 0:
		e.Msg = fmt.Sprintf("is empty: the worker needs the GitHub App's private key; set %s", strings.Join(app.keyVars, ", "))
		return e
	case app.PrivateKeyFile == "":
		return nil // reported by Parse
	}
	data, err := os.ReadFile(app.PrivateKeyFile)
	if err != nil {
		e.Msg = fmt.Sprintf("cannot read %s: %v", app.PrivateKeyFile, pathErrCause(err))
		return e
	}
	if _, err := ParseGitHubAppKey(data); err != nil {
		if errors.Is(err, errKeyNotPEM) { // the whole file, then, not a block in it
			err = errors.New("not a PEM file; want the .pem private key GitHub generated for the App")
		}
		e.Msg = fmt.Sprintf("%s: %v", app.PrivateKeyFile, err)
		return e
	}
	key := model.Secret(data)
	app.keyPEM = &key
	return nil
}

// pathErrCause drops the path from an *fs.PathError, which the message
// already names.
func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// errKeyNotPEM is ParseGitHubAppKey's error for data without a PEM block.
var errKeyNotPEM = errors.New("not PEM-encoded")

// ParseGitHubAppKey parses a GitHub App private key: an RSA key in a PEM
// block, PKCS#1 ("RSA PRIVATE KEY", what GitHub downloads) or PKCS#8
// ("PRIVATE KEY", what openssl pkcs8 converts it to). CheckWorker and the
// worker's GitHub client both parse the key with it. Its errors never quote
// the input, which is a secret.
func ParseGitHubAppKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errKeyNotPEM
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the PEM block %q is not an RSA private key in PKCS#1 or PKCS#8 form", block.Type)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the PEM block holds a %T, not an RSA private key; GitHub Apps sign with RSA", parsed)
	}
	return key, nil
}
