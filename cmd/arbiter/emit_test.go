package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

const cliTestSecret = "whsec_cli_test_0123456789abcdef"

// delivery is one request the test receiver authenticated.
type delivery struct {
	eventID   string
	hasID     bool
	timestamp string
	scheme    engine.Scheme
	body      []byte
}

// cliReceiver is a loopback PacSpace receiver that verifies signatures with
// engine/pacspace: 200 for a valid one, 401 with the reason otherwise.
type cliReceiver struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []delivery
	rejected   int
}

func newCLIReceiver(t *testing.T) *cliReceiver {
	t.Helper()
	rc := &cliReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		scheme, err := pacspace.Verifier{AllowLegacy: true}.Verify(
			r.Header.Get(pacspace.HeaderSignature), r.Header.Get(pacspace.HeaderTimestamp), body, []string{cliTestSecret}, time.Now())
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err != nil {
			rc.rejected++
			http.Error(w, `{"received":false,"error":"`+err.Error()+`"}`, http.StatusUnauthorized)
			return
		}
		_, hasID := r.Header[http.CanonicalHeaderKey(pacspace.HeaderEventID)]
		rc.deliveries = append(rc.deliveries, delivery{
			eventID: r.Header.Get(pacspace.HeaderEventID), hasID: hasID,
			timestamp: r.Header.Get(pacspace.HeaderTimestamp), scheme: scheme, body: body,
		})
		io.WriteString(w, `{"received":true}`)
	}))
	if !strings.HasPrefix(rc.URL, "http://127.0.0.1:") {
		t.Fatalf("receiver not on 127.0.0.1: %s", rc.URL)
	}
	t.Cleanup(rc.Close)
	return rc
}

func (rc *cliReceiver) got() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.deliveries)
}

// runCLI runs a subcommand in-process and checks that the secret shows
// nowhere in what it printed or returned.
func runCLI(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(t.Context())
	for what, s := range map[string]string{"stdout": out.String(), "stderr": errOut.String(), "error": errString(err)} {
		if strings.Contains(s, cliTestSecret) {
			t.Fatalf("%s shows the secret: %s", what, s)
		}
	}
	return out.String(), errOut.String(), err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEmit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "custom.json")
	custom := []byte(`{"event":"test","timestamp":"2026-04-10T12:00:00.000Z","data":{"n":1.50}}`)
	if err := os.WriteFile(file, custom, 0o600); err != nil {
		t.Fatal(err)
	}
	past := strconv.FormatInt(time.Now().Unix()-60, 10)
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantN   int
		scheme  engine.Scheme
		body    []byte
		check   func(t *testing.T, d []delivery)
		wantErr bool // exit status 1 after a non-2xx
	}{
		{name: "fixture v1", args: []string{"delta.verified"}, wantN: 1, scheme: engine.SchemeV1, body: readFixture(t, "delta.verified")},
		{name: "fixture name with .json", args: []string{"test.json"}, wantN: 1, scheme: engine.SchemeV1, body: readFixture(t, "test")},
		{name: "fixture legacy", args: []string{"--scheme", "legacy", "batch.verified"}, wantN: 1, scheme: engine.SchemeLegacy, body: readFixture(t, "batch.verified"),
			check: func(t *testing.T, d []delivery) {
				if d[0].timestamp != "" {
					t.Errorf("legacy request carried a timestamp %q", d[0].timestamp)
				}
			}},
		{name: "file", args: []string{file}, wantN: 1, scheme: engine.SchemeV1, body: custom},
		{name: "stdin", args: []string{"-"}, stdin: string(custom), wantN: 1, scheme: engine.SchemeV1, body: custom},
		{name: "count gives fresh ids", args: []string{"-n", "3", "test"}, wantN: 3, scheme: engine.SchemeV1, body: readFixture(t, "test"),
			check: func(t *testing.T, d []delivery) {
				seen := map[string]bool{}
				for _, x := range d {
					if !strings.HasPrefix(x.eventID, "evt_") || len(x.eventID) != 28 || seen[x.eventID] {
						t.Errorf("event id %q (seen %v)", x.eventID, seen)
					}
					seen[x.eventID] = true
				}
			}},
		{name: "fixed event id", args: []string{"--count", "2", "--event-id", "evt_same", "test"}, wantN: 2, scheme: engine.SchemeV1, body: readFixture(t, "test"),
			check: func(t *testing.T, d []delivery) {
				if d[0].eventID != "evt_same" || d[1].eventID != "evt_same" {
					t.Errorf("ids %q %q", d[0].eventID, d[1].eventID)
				}
			}},
		{name: "no event id", args: []string{"--event-id", "-", "test"}, wantN: 1, scheme: engine.SchemeV1, body: readFixture(t, "test"),
			check: func(t *testing.T, d []delivery) {
				if d[0].hasID {
					t.Errorf("sent X-Event-ID %q", d[0].eventID)
				}
			}},
		{name: "explicit timestamp", args: []string{"--timestamp", past, "test"}, wantN: 1, scheme: engine.SchemeV1, body: readFixture(t, "test"),
			check: func(t *testing.T, d []delivery) {
				if d[0].timestamp != past {
					t.Errorf("timestamp %q, want %s", d[0].timestamp, past)
				}
			}},
		{name: "rfc3339 timestamp", args: []string{"--timestamp", time.Now().Add(time.Minute).Format(time.RFC3339), "test"}, wantN: 1, scheme: engine.SchemeV1, body: readFixture(t, "test")},
		{name: "stale timestamp is refused", args: []string{"--timestamp", "-10m", "test"}, wantN: 0, wantErr: true},
		{name: "future timestamp is refused", args: []string{"--timestamp=+6m", "test"}, wantN: 0, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newCLIReceiver(t)
			args := append([]string{"--url", rc.URL, "--secret", cliTestSecret}, tt.args...)
			out, _, err := runCLI(t, newEmitCmd(), tt.stdin, args...)
			if tt.wantErr {
				var ee exitError
				if !errors.As(err, &ee) || ee.code != 1 {
					t.Fatalf("err = %v, want exit status 1", err)
				}
				if !strings.Contains(out, "401 Unauthorized") {
					t.Fatalf("output lacks the 401:\n%s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("emit: %v\n%s", err, out)
			}
			d := rc.got()
			if len(d) != tt.wantN {
				t.Fatalf("%d deliveries, want %d\n%s", len(d), tt.wantN, out)
			}
			for _, x := range d {
				if x.scheme != tt.scheme || !bytes.Equal(x.body, tt.body) {
					t.Fatalf("got %s body %s, want %s body %s", x.scheme, x.body, tt.scheme, tt.body)
				}
			}
			if got := strings.Count(out, "200 OK  {\"received\":true}"); got != tt.wantN {
				t.Fatalf("output shows %d responses, want %d:\n%s", got, tt.wantN, out)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestEmitSecretFromEnvironment(t *testing.T) {
	rc := newCLIReceiver(t)
	t.Setenv(envWebhookSecret, cliTestSecret)
	if _, _, err := runCLI(t, newEmitCmd(), "", "--url", rc.URL, "test"); err != nil {
		t.Fatal(err)
	}
	if len(rc.got()) != 1 {
		t.Fatal("not delivered")
	}
	// The flag wins over the environment.
	if _, _, err := runCLI(t, newEmitCmd(), "", "--url", rc.URL, "--secret", "whsec_some_other_secret", "test"); err == nil {
		t.Fatal("a wrong --secret was not used")
	}
	help, _, err := runCLI(t, newEmitCmd(), "", "--help")
	if err != nil || !strings.Contains(help, envWebhookSecret) {
		t.Fatalf("help: %v\n%s", err, help)
	}
}

func TestEmitOutsideRepository(t *testing.T) {
	rc := newCLIReceiver(t)
	want := readFixture(t, "checkpoint.verified")
	t.Chdir(t.TempDir())
	if repoFixtureDir() != "" {
		t.Fatal("found a repository in a temporary directory")
	}
	if _, _, err := runCLI(t, newEmitCmd(), "", "--url", rc.URL, "--secret", cliTestSecret, "checkpoint.verified"); err != nil {
		t.Fatal(err)
	}
	if d := rc.got(); len(d) != 1 || !bytes.Equal(d[0].body, want) {
		t.Fatalf("embedded fixture not sent as in testdata: %+v", d)
	}
	out, _, err := runCLI(t, newEmitCmd(), "", "--list")
	if err != nil || !strings.Contains(out, "checkpoint.verified\n") {
		t.Fatalf("--list outside the repository: %v\n%s", err, out)
	}
}

func TestEmitList(t *testing.T) {
	out, _, err := runCLI(t, newEmitCmd(), "", "--list")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "events", "*.json"))
	if len(files) == 0 || strings.Count(out, "\n") != len(files) {
		t.Fatalf("--list shows %d lines for %d fixtures:\n%s", strings.Count(out, "\n"), len(files), out)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".json"); !strings.Contains(out, name+"\n") {
			t.Errorf("--list lacks %s", name)
		}
	}
}

func TestEmitErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no secret", []string{"test"}, "pass --secret or set PACSPACE_WEBHOOK_SECRET"},
		{"no body", []string{"--secret", cliTestSecret}, "name a fixture"},
		{"unknown fixture", []string{"--secret", cliTestSecret, "delta.exploded"}, `"delta.exploded" is neither a file nor a fixture`},
		{"missing file", []string{"--secret", cliTestSecret, "./nope/missing.json"}, "no such file"},
		{"scheme", []string{"--secret", cliTestSecret, "--scheme", "v2", "test"}, `unknown --scheme "v2"`},
		{"timestamp with legacy", []string{"--secret", cliTestSecret, "--scheme", "legacy", "--timestamp", "1", "test"}, "v1 scheme only"},
		{"bad timestamp", []string{"--secret", cliTestSecret, "--timestamp", "yesterday", "test"}, "not Unix seconds"},
		{"count", []string{"--secret", cliTestSecret, "-n", "0", "test"}, "--count 0"},
		{"unreachable", []string{"--secret", cliTestSecret, "--url", "http://127.0.0.1:1/webhooks/pacspace", "test"}, "emit: post:"},
	}
	t.Setenv(envWebhookSecret, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, newEmitCmd(), "", tt.args...)
			if err == nil || !strings.HasPrefix(err.Error(), "emit: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want emit: …%s…", err, tt.want)
			}
		})
	}
}
