package policy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// Bundle defaults.
const (
	DefaultPollInterval   = time.Minute
	DefaultStartTimeout   = 30 * time.Second
	DefaultBundleMaxBytes = 64 << 20
	DefaultSigningAlg     = "RS256" // opa build --signing-alg's default
	bundleFetchTimeout    = 30 * time.Second
	bundleKeyID           = "default" // opa build --verification-key-id's default
)

// BundleSource is a signed OPA bundle, as opa build --signing-key makes
// it, served over HTTP.
type BundleSource struct {
	URL string
	// VerificationKey is the PEM public key (RSA, ECDSA) or the HMAC secret
	// the bundle's .signatures.json must verify with. It is required: an
	// unsigned bundle is refused.
	VerificationKey string
	// SigningAlg is the signature's algorithm, e.g. RS256 (the default),
	// ES256 or HS256.
	SigningAlg string
	// Scope, when set, must equal the scope the bundle was signed with.
	Scope string
	// PollInterval is how often Poll asks for a new bundle; default
	// DefaultPollInterval.
	PollInterval time.Duration
	// LastGood is a file where each bundle that passes the gate is kept,
	// so that the agent can start on it while the server is down. Empty
	// keeps none.
	LastGood string
	// StartTimeout is how long an Engine with no last good bundle waits at
	// start for a server that does not answer; default DefaultStartTimeout.
	StartTimeout time.Duration
	// MaxBytes bounds a download, compressed; default DefaultBundleMaxBytes.
	MaxBytes int64
	// Client fetches the bundle; default one with a 30 s timeout.
	Client *http.Client
}

// BundleError refuses a bundle that cannot be read as an OPA bundle or
// whose signature does not verify with the configured key.
type BundleError struct {
	Err error
}

func (e *BundleError) Error() string { return "policy: bundle refused: " + e.Err.Error() }
func (e *BundleError) Unwrap() error { return e.Err }

// BundleStatus is where a bundle source stands, for Status.
type BundleStatus struct {
	URL         string    `json:"url"`            // without its query, which may hold a token
	ETag        string    `json:"etag,omitempty"` // of the active bundle, sent as If-None-Match
	LastFetchAt time.Time `json:"lastFetchAt,omitzero"`
	LastFetch   string    `json:"lastFetch,omitempty"` // a Fetch… constant
	// StartedOnLastGood is set when the agent started on the bundle kept
	// in LastGood because the server's could not be had.
	StartedOnLastGood bool `json:"startedOnLastGood,omitempty"`
}

// Fetch results: the result label of arbiter_policy_bundle_fetches_total.
const (
	FetchOK          = "ok"           // a new bundle was downloaded (it may still be refused)
	FetchNotModified = "not_modified" // 304: the active bundle is current
	FetchError       = "error"        // no answer, or one other than 200 or 304
)

// errNotModified is what fetch returns for a 304.
var errNotModified = errors.New("not modified")

func (b *BundleSource) withDefaults() *BundleSource {
	c := *b
	if c.SigningAlg == "" {
		c.SigningAlg = DefaultSigningAlg
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultBundleMaxBytes
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: bundleFetchTimeout}
	}
	return &c
}

func (b *BundleSource) validate() error {
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("policy: bundle: url %q: want an http:// or https:// URL", displayURL(b.URL))
	}
	if b.VerificationKey == "" {
		return errors.New("policy: bundle: no verification key: bundles must be signed")
	}
	return nil
}

// displayURL is u without its query and fragment, which may hold a token.
func displayURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery, p.Fragment, p.User = "", "", nil
	return p.String()
}

// fetch downloads the bundle unless etag still names it: then it returns
// errNotModified.
func (b *BundleSource) fetch(ctx context.Context, etag string) (raw []byte, newETag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("policy: bundle: fetch %s: %w", displayURL(b.URL), err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream")
	resp, err := b.Client.Do(req)
	if err != nil {
		// The client's error repeats the full URL; name it without its query.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", fmt.Errorf("policy: bundle: fetch %s: %w", displayURL(b.URL), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return nil, etag, errNotModified
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, "", fmt.Errorf("policy: bundle: fetch %s: HTTP %d", displayURL(b.URL), resp.StatusCode)
	}
	raw, err = io.ReadAll(io.LimitReader(resp.Body, b.MaxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("policy: bundle: fetch %s: %w", displayURL(b.URL), err)
	}
	if int64(len(raw)) > b.MaxBytes {
		return nil, "", fmt.Errorf("policy: bundle: fetch %s: larger than %d bytes", displayURL(b.URL), b.MaxBytes)
	}
	return raw, resp.Header.Get("ETag"), nil
}

// LoadBundle verifies the signature of raw, a bundle of src.Bundle, with
// its key and loads it as Load loads a directory: it compiles, and its own
// _test.rego tests must pass. The set's revision is the bundle manifest's
// revision (followed by +data.HASH when src's overrides change its data),
// or the content hash when the manifest has none. A bundle that is not a
// signed rego bundle is refused with a *BundleError.
func LoadBundle(ctx context.Context, raw []byte, src Source) (*Set, error) {
	s := src.Bundle
	if s == nil || s.VerificationKey == "" {
		return nil, errors.New("policy: bundle: no verification key: bundles must be signed")
	}
	alg := cmp.Or(s.SigningAlg, DefaultSigningAlg)
	verify := bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{
		bundleKeyID: {Key: s.VerificationKey, Algorithm: alg, Scope: s.Scope},
	}, bundleKeyID, s.Scope, nil)
	b, err := bundle.NewReader(bytes.NewReader(raw)).
		WithBundleVerificationConfig(verify).
		WithRegoVersion(ast.RegoV1).
		WithSizeLimitBytes(cmp.Or(s.MaxBytes, DefaultBundleMaxBytes)).
		Read()
	if err != nil {
		return nil, &BundleError{Err: err}
	}
	if len(b.WasmModules) > 0 || len(b.PlanModules) > 0 {
		return nil, &BundleError{Err: errors.New("a wasm or plan bundle: build it with opa build's default target, rego")}
	}
	snap, err := bundleSnapshot(b)
	if err != nil {
		return nil, &BundleError{Err: err}
	}
	revision := b.Manifest.Revision
	if revision != "" && len(src.DataOverrides) > 0 {
		o, err := json.Marshal(src.DataOverrides)
		if err != nil {
			return nil, fmt.Errorf("policy: bundle: overrides: %w", err)
		}
		sum := sha256.Sum256(o)
		revision += "+data." + hex.EncodeToString(sum[:6])
	}
	return load(ctx, snap, src, revision)
}

// bundleSnapshot turns a bundle into the snapshot Load compiles: its
// modules as they were signed, and its data, merged by the bundle reader
// from every data file, as one data.json at the root.
func bundleSnapshot(b bundle.Bundle) (*snapshot, error) {
	s := &snapshot{
		files: map[string][]byte{},
		display: func(name string) string {
			if name == "" || name == "." {
				return "bundle"
			}
			return "/" + strings.TrimPrefix(name, "/")
		},
	}
	for _, m := range b.Modules {
		name := strings.TrimPrefix(m.Path, "/")
		if !strings.HasSuffix(name, ".rego") || strings.HasPrefix(filepath.Base(name), ".") {
			continue
		}
		s.files[name] = m.Raw
	}
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	d, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	s.files["data.json"] = d
	for name := range s.files {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s, nil
}

// keepLastGood writes raw to path atomically: a crash leaves the previous
// file or the new one, never half of one.
func keepLastGood(path string, raw []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".bundle-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
