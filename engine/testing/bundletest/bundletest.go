// Package bundletest builds signed OPA bundles and serves them on
// loopback, for tests of policy bundle loading. Bundles are built with
// OPA's own compile package, the code behind opa build, so a test bundle
// is byte for byte the kind an operator publishes.
package bundletest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/compile"
)

// Key is an RSA key pair in PEM, as opa build --signing-key and
// policy.bundle_verification_key take them.
type Key struct{ Private, Public string }

var (
	keysOnce sync.Once
	keys     [2]Key
	keysErr  error
)

// Keys returns two key pairs, made once per test binary (RSA key
// generation takes a while).
func Keys(t testing.TB) (Key, Key) {
	t.Helper()
	keysOnce.Do(func() {
		for i := range keys {
			if keys[i], keysErr = newKey(); keysErr != nil {
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys[0], keys[1]
}

func newKey() (Key, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Key{}, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return Key{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return Key{}, err
	}
	return Key{
		Private: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
		Public:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
	}, nil
}

// Build builds dir as opa build -b . --revision REVISION --signing-key KEY
// does in dir. An empty privateKey builds an unsigned bundle.
func Build(t testing.TB, dir, revision, privateKey string) []byte {
	t.Helper()
	var buf bytes.Buffer
	c := compile.New().
		WithAsBundle(true).
		WithRegoAnnotationEntrypoints(true).
		WithFS(os.DirFS(dir)).
		WithPaths(".").
		WithRegoVersion(ast.RegoV1).
		WithRevision(revision).
		WithOutput(&buf)
	if privateKey != "" {
		// opa build's defaults: RS256, key id "default".
		c = c.WithBundleSigningConfig(bundle.NewSigningConfig(privateKey, "RS256", "")).
			WithBundleVerificationKeyID("default")
	}
	if err := c.Build(context.Background()); err != nil {
		t.Fatalf("build bundle of %s: %v", dir, err)
	}
	return buf.Bytes()
}

// Server serves one bundle at a time with an ETag, answers 304 to a
// matching If-None-Match, and can be taken down (503).
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	etag     string
	down     bool
	requests []string // the If-None-Match of each request, "-" for none
}

// NewServer starts a server on loopback with nothing to serve (404), and
// closes it when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		s.requests = append(s.requests, "-")
	} else {
		s.requests = append(s.requests, inm)
	}
	switch {
	case s.down:
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	case s.body == nil:
		http.NotFound(w, r)
	case inm == s.etag:
		w.WriteHeader(http.StatusNotModified)
	default:
		w.Header().Set("ETag", s.etag)
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(s.body)
	}
}

// Serve makes body the bundle served, under a new ETag, and the server up.
func (s *Server) Serve(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.down = body, false
	s.etag = fmt.Sprintf(`"%d-%d"`, len(s.requests), len(body))
}

// ServeWithETag serves body under etag, the server up.
func (s *Server) ServeWithETag(body []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.down = body, etag, false
}

// SetDown makes every request answer 503, or not.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// ETag is the ETag of the bundle served.
func (s *Server) ETag() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.etag
}

// Body is the bundle served.
func (s *Server) Body() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.body
}

// Requests is how many requests the server has had.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// LastIfNoneMatch is the If-None-Match of the last request, "-" for none.
func (s *Server) LastIfNoneMatch() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return ""
	}
	return s.requests[len(s.requests)-1]
}
