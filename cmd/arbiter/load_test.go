package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		wantN  int
		scheme string
	}{
		{"legacy batch json", []string{"--scheme", "legacy", "--shape", "batch", "-c", "4", "-n", "300", "--json"}, 300, "legacy"},
		{"v1 delta text", []string{"--shape", "delta", "-c", "8", "-n", "200", "--json-file", "@report.json"}, 200, "v1"},
		{"duration", []string{"-c", "2", "-d", "200ms", "--pregenerate", "100", "--json"}, -1, "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newCLIReceiver(t)
			jsonFile := filepath.Join(t.TempDir(), "report.json")
			args := []string{"--url", rc.URL, "--secret", cliTestSecret}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "@report.json", jsonFile))
			}
			out, stderr, err := runCLI(t, newLoadCmd(), "", args...)
			if err != nil {
				t.Fatalf("load: %v\n%s", err, out)
			}
			if !strings.HasPrefix(stderr, "load: "+tt.scheme) {
				t.Errorf("announcement: %q", stderr)
			}
			d := rc.got()
			if tt.wantN >= 0 && len(d) != tt.wantN || len(d) == 0 {
				t.Fatalf("receiver verified %d, want %d", len(d), tt.wantN)
			}
			for _, x := range d {
				if string(x.scheme) != tt.scheme {
					t.Fatalf("verified as %s, want %s", x.scheme, tt.scheme)
				}
			}
			if slices.Contains(tt.args, "--json") {
				var rep struct {
					Sent, OK, Errors int
					Non2xx           map[string]int
					EventsPerSec     float64
					LatencyMs        struct{ P50, P99 float64 }
				}
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("report is not JSON: %v\n%s", err, out)
				}
				if rep.OK != len(d) || rep.Sent != len(d) || rep.Errors != 0 || len(rep.Non2xx) != 0 || rep.EventsPerSec <= 0 || rep.LatencyMs.P99 < rep.LatencyMs.P50 {
					t.Fatalf("report %+v for %d verified", rep, len(d))
				}
			} else if !hasFields(out, "2xx", "200") || !hasFields(out, "errors", "0") {
				t.Fatalf("text report:\n%s", out)
			}
			if slices.Contains(tt.args, "--json-file") {
				b, err := os.ReadFile(jsonFile)
				if err != nil || !json.Valid(b) || !strings.Contains(string(b), `"ok": 200`) {
					t.Fatalf("--json-file: %v\n%s", err, b)
				}
			}
		})
	}
}

// hasFields reports whether text has a line made of exactly these fields.
func hasFields(text string, fields ...string) bool {
	for line := range strings.Lines(text) {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

func TestLoadFailuresExitNonZero(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	out, _, err := runCLI(t, newLoadCmd(), "", "--url", srv.URL, "--secret", cliTestSecret, "-n", "20", "-c", "2", "-q")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want exit status 1", err)
	}
	if !strings.Contains(out, "20×503") || !strings.Contains(out, "HTTP 503: busy") {
		t.Fatalf("report:\n%s", out)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Setenv(envWebhookSecret, "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no secret", nil, "load: no webhook secret"},
		{"scheme", []string{"--secret", cliTestSecret, "--scheme", "v3"}, `loadgen: unknown scheme "v3"`},
		{"shape", []string{"--secret", cliTestSecret, "--shape", "ring"}, `loadgen: unknown shape "ring"`},
		{"url", []string{"--secret", cliTestSecret, "--url", "127.0.0.1:3000"}, "loadgen: url"},
		{"args", []string{"--secret", cliTestSecret, "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, newLoadCmd(), "", append([]string{"-q"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want …%s…", err, tt.want)
			}
		})
	}
}
