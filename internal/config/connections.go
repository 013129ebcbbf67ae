package config

import (
	"path/filepath"
	"strings"

	"github.com/keyrotor/keyrotor/internal/model"
)

// Connection is a token-authenticated connection to a provider beyond
// GitHub and GitLab (HCP Terraform, CircleCI, Bitbucket, Travis CI): a
// top-level section {baseURL, token}.
type Connection struct {
	BaseURL string // API root, defaulted per provider
	Token   model.Secret

	tokenSource
}

// tokenProviders are the sections that hold such a connection, with their
// default base URLs. A target of one of these kinds needs its section.
var tokenProviders = []struct{ key, defaultURL string }{
	{"terraform", "https://app.terraform.io"},
	{"circleci", "https://circleci.com"},
	{"bitbucket", "https://api.bitbucket.org"},
	{"travis", "https://api.travis-ci.com"},
}

// Kubernetes is how the worker reaches Kubernetes clusters: a kubeconfig
// (whose contexts targets name), or the cluster it runs in.
type Kubernetes struct {
	// Kubeconfig is the kubeconfig file (relative to the configuration
	// file); empty for KUBECONFIG or ~/.kube/config.
	Kubeconfig string
}

// connections reads the token-provider sections and kubernetes.
func (l *loader) connections(top fields, cfg *Config) {
	for _, p := range tokenProviders {
		f := top.m[p.key]
		if f == nil {
			continue
		}
		fs := l.mapping(f.val, f.keyPos, p.key, "baseURL", "token")
		c := &Connection{BaseURL: l.baseURL(fs, p.defaultURL, false)}
		c.Token, c.tokenSource = l.token(fs)
		if cfg.Connections == nil {
			cfg.Connections = map[string]*Connection{}
		}
		cfg.Connections[p.key] = c
	}
	if f := top.m["kubernetes"]; f != nil {
		fs := l.mapping(f.val, f.keyPos, "kubernetes", "kubeconfig")
		k := &Kubernetes{Kubeconfig: l.nonEmpty(fs, "kubeconfig", " (leave it out for KUBECONFIG or ~/.kube/config)")}
		if k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) {
			k.Kubeconfig = filepath.Join(filepath.Dir(l.file), k.Kubeconfig)
		}
		cfg.Kubernetes = k
	}
}

// connectionKeys are the top-level keys of the sections connections reads.
func connectionKeys() []string {
	var keys []string
	for _, p := range tokenProviders {
		keys = append(keys, p.key)
	}
	return append(keys, "kubernetes")
}

// Connection returns the connection of a token provider ("terraform", …),
// nil when the file has no such section.
func (c *Config) Connection(provider string) *Connection {
	return c.Connections[strings.ToLower(provider)]
}

// connectionConfigured reports whether the file has provider's section: the
// configured func of a token provider's target kinds.
func connectionConfigured(provider string) func(*Config) bool {
	return func(c *Config) bool { return c.Connection(provider) != nil }
}

// checkConnections is CheckWorker's token check for the token providers.
func (c *Config) checkConnections(check func(provider string, present bool, token model.Secret, src tokenSource)) {
	for _, p := range tokenProviders {
		if conn := c.Connection(p.key); conn != nil {
			check(p.key, true, conn.Token, conn.tokenSource)
		} else {
			check(p.key, false, "", tokenSource{})
		}
	}
}
