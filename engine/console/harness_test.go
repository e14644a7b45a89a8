package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/plugins"
)

// The end-to-end tests run the real arbiter binary on loopback, fill it with
// a scenario from arbiter sim, and drive the console in headless Chromium.

const (
	adminToken    = "arb_console_admin_0123456789"
	readOnlyToken = "arb_console_reader_0123456789"
	webhookSecret = "whsec_console_test_0123456789"
)

// binary is the arbiter binary built once for the package's tests.
var binary struct {
	once sync.Once
	path string
	err  error
}

func arbiterBinary(t testing.TB) string {
	t.Helper()
	if !plugins.Built() {
		t.Skip("bundled plugins not built: run `make plugins` first")
	}
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "arbiter-console-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "arbiter")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/arbiter")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binary.err)
	return binary.path
}

// sink is a loopback webhook receiver the agent's plugin posts actions
// to; it fails every request until told otherwise.
type sink struct {
	srv  *httptest.Server
	ok   atomic.Bool
	hits atomic.Int64
}

func newSink() *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.hits.Add(1)
		if s.ok.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	return s
}

// agent is a running arbiter serve.
type agent struct {
	bin, dir, base string
	sink           *sink
	logs           *syncBuffer
}

// syncBuffer is a log that the process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent runs arbiter serve with the console's tokens, the default
// routing's "console" target served by the bundled webhook plugin posting
// to the sink, and one attempt per delivery, so a refused post is a dead
// letter at once. extra is appended to the YAML config; it may replace the
// plugins. The agent stops when stop is called.
func startAgent(t testing.TB, extra string) (a *agent, stop func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", "arbiter-console")
	require.NoError(t, err)
	a = &agent{bin: arbiterBinary(t), dir: dir, sink: newSink(), logs: &syncBuffer{}}
	host := strings.TrimPrefix(a.sink.srv.URL, "http://")
	plugins := fmt.Sprintf(`plugins:
  - name: console
    path: "bundled:webhook"
    allow_hosts: [%q]
    secrets: {sink: whsec_sink_0123456789abcdef}
    config: {url: %q, secret_name: sink}
`, host, a.sink.srv.URL+"/hook")
	if strings.Contains(extra, "plugins:") {
		plugins = ""
	}
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
data_dir: %q
log: {level: info, format: json}
worker: {grace: 1s}
dispatch: {max_attempts: 1, base_delay: 100ms}
admin:
  tokens: [%s]
  read_only_tokens: [%s]
endpoints:
  pacspace: {secrets: [%s]}
%s%s`, filepath.Join(a.dir, "data"), adminToken, readOnlyToken, webhookSecret, plugins, extra)
	conf := filepath.Join(a.dir, "arbiter.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(cfg), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, a.bin, "serve", "--config", conf)
	cmd.Env = childEnv()
	out, err := cmd.StderrPipe() // the log
	require.NoError(t, err)
	cmd.Stdout = a.logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	require.NoError(t, cmd.Start())
	stop = func() {
		cancel()
		cmd.Wait()
		a.sink.srv.Close()
		os.RemoveAll(a.dir)
	}
	// The JSON log names the address it listens on.
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			a.logs.Write(append(sc.Bytes(), '\n'))
			var line struct {
				Message string `json:"@message"`
				Addr    string `json:"addr"`
			}
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "listening" {
				addr <- line.Addr
				sent = true
			}
		}
	}()
	select {
	case ad := <-addr:
		a.base = "http://" + ad
	case <-time.After(time.Minute):
		stop()
		t.Fatalf("arbiter serve did not listen; log:\n%s", a.logs.String())
	}
	a.waitReady(t)
	return a, stop
}

// waitReady waits until the plugins are loaded, so that deliveries run.
func (a *agent) waitReady(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(a.base + "/readyz")
		if err == nil {
			var body struct{ Plugins string }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if body.Plugins == "ready" {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "agent not ready; log:\n", a.logs.String())
	}
}

// childEnv is the test's environment without Arbiter's own variables, so
// that the agent reads the test's configuration alone.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARBITER_") && !strings.HasPrefix(kv, "PACSPACE_") && !strings.HasPrefix(kv, "PORT=") {
			env = append(env, kv)
		}
	}
	return env
}

// run runs an arbiter subcommand against the agent and returns its output.
func (a *agent) run(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(a.bin, args...)
	cmd.Dir = a.dir
	cmd.Env = append(childEnv(), "ARBITER_ADMIN_TOKEN="+adminToken, "PACSPACE_WEBHOOK_SECRET="+webhookSecret)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, fmt.Sprintf("arbiter %s:\n%s", strings.Join(args, " "), out))
	return string(out)
}

// fill plays a scenario of the simulator into the agent, with its ledger
// imported first, and waits until every event is decided. It returns the
// scenario's ground truth, one line per injected fault.
func (a *agent) fill(t testing.TB, count int, faults ...string) []truthLine {
	t.Helper()
	scenario := []string{"--seed", "11", "--start", time.Now().UTC().Add(-30 * time.Minute).Format(time.RFC3339),
		"--customers", "4", "--count", fmt.Sprint(count)}
	for _, f := range faults {
		scenario = append(scenario, "--fault", f)
	}
	ledger := filepath.Join(a.dir, "ledger.csv")
	a.run(t, "", append([]string{"sim", "run", "--dry-run", "--ledger-out", ledger}, scenario...)...)
	a.run(t, "", "ledger", "import", "--server", a.base, ledger)
	truth := filepath.Join(a.dir, "truth.jsonl")
	a.run(t, "", append([]string{"sim", "run", "--target", a.base + "/webhooks/pacspace", "--truth", truth}, scenario...)...)
	a.settle(t)
	b, err := os.ReadFile(truth)
	require.NoError(t, err)
	var out []truthLine
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var tl truthLine
		require.NoError(t, json.Unmarshal([]byte(line), &tl))
		out = append(out, tl)
	}
	return out
}

// truthLine is what the simulator says it injected.
type truthLine struct {
	EventID  string `json:"eventId"`
	Kind     string `json:"kind"`
	Customer string `json:"customerId"`
}

// settle waits until the inbox has no undecided event and the outbox no
// pending delivery.
func (a *agent) settle(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var h struct{ InboxPending int64 }
		a.getJSON(t, "/health", "", &h)
		var d struct {
			Data struct{ Pagination struct{ Total int } }
		}
		a.getJSON(t, "/v1/deliveries?status=pending&limit=1", adminToken, &d)
		if h.InboxPending == 0 && d.Data.Pagination.Total == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "agent did not settle; log:\n", a.logs.String())
	}
}

// getJSON reads a JSON answer, with a bearer token when given.
func (a *agent) getJSON(t testing.TB, path, token string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	return resp.StatusCode
}

// chromium finds a Chromium or Chrome to drive; tests that need one skip
// without it.
func chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (install Debian's chromium, or set CHROME to a Chrome binary): the browser tests need one")
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context. Nothing it does leaves loopback.
func browser(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	require.NoError(t, chromedp.Do(ctx)) // starts the browser
	return ctx
}

// failedDelivery is the id of a dead letter of the agent's.
func failedDelivery(t testing.TB, a *agent) string {
	t.Helper()
	var del struct {
		Data struct {
			Deliveries []struct{ ID string } `json:"deliveries"`
		}
	}
	a.getJSON(t, "/v1/deliveries?status=failed&limit=1", adminToken, &del)
	require.Equal(t, 1, len(del.Data.Deliveries))
	return del.Data.Deliveries[0].ID
}
