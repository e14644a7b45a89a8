package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/engine/testing/bundletest"
	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
	"github.com/spf13/cobra"
)

// The world's secrets, in the environment as an operator's would be.
const (
	exampleSecret   = "whsec_examples_0123456789abcdef"
	exampleToken    = "arb_examples_0123456789abcdef"
	exampleSimToken = "simtok_examples_0123456789abcdef"
)

// example is one example to run: a command's --help examples, or one shell
// block of a README.
type example struct {
	name string // a file name: help.sim.run, README.md.3
	text string
	// serve is the URL that answers 200 once the example's server is up;
	// empty for an example that runs to its end.
	serve string
	skip  string // why a README block is not run
}

// TestExamples runs every example of arbiter's --help, and every shell
// block of the READMEs unless the block says why not, as written, in the
// world it presupposes (testdata/examples/world.sh): a copy of the
// repository with bin/arbiter, an agent on 127.0.0.1:3000 with the webhook
// secret and admin token in the environment, and the files the examples
// name. Each world is a fresh network namespace, so the examples' own
// addresses are free and nothing leaves loopback. The help examples of
// each top-level command run in one world, in the order of the command
// tree; each README block in its own.
//
// Placeholders an operator fills in are filled in: a README's
// --secret whsec_… gets the world's secret. An example passes when each
// of its lines exits 0, except a line whose comment says "expect NNN",
// which must fail and print NNN, and no line may print an API's error
// envelope; an example that serves passes once its URL answers (world.sh).
//
// It takes minutes, so it runs with make test-examples (which sets
// ARBITER_TEST_EXAMPLES=1), and CI runs that.
func TestExamples(t *testing.T) {
	if os.Getenv("ARBITER_TEST_EXAMPLES") == "" {
		t.Skip("runs with make test-examples (ARBITER_TEST_EXAMPLES=1)")
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		t.Fatalf("the examples run in a network namespace of their own, which unshare -n (root) makes: %v %s", err, out)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", repo, "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Fields(string(out))

	// The examples of one top-level command share a world, in the order
	// of the command tree: a command's examples may follow on an
	// earlier one's (sim verify scores what sim run sent).
	n := 0
	for _, top := range newRootCmd().Commands() {
		var exs []example
		walkCommands(top, func(c *cobra.Command) {
			if c.Example != "" {
				exs = append(exs, example{name: strings.ReplaceAll(c.CommandPath(), " ", "."), text: c.Example})
			}
		})
		n += len(exs)
		if len(exs) > 0 {
			t.Run("help."+top.Name(), func(t *testing.T) {
				t.Parallel()
				runWorld(t, repo, files, exs)
			})
		}
	}
	if n < 20 {
		t.Fatalf("only %d commands with examples", n)
	}
	var blocks []example
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			blocks = append(blocks, markdownBlocks(t, repo, f)...)
		}
	}
	for _, b := range blocks {
		t.Run(b.name, func(t *testing.T) {
			if b.skip != "" {
				t.Skip(b.skip)
			}
			t.Parallel()
			runWorld(t, repo, files, []example{b})
		})
	}
}

func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, fn)
	}
}

var (
	fenceRE      = regexp.MustCompile("^```(sh|bash|shell)\\s*$")
	annotationRE = regexp.MustCompile(`^<!-- example: (not run: .+|serves (\S+)) -->$`)
)

// markdownBlocks returns the shell blocks of a Markdown file. A block may
// be preceded by <!-- example: not run: REASON --> or
// <!-- example: serves URL -->.
func markdownBlocks(t *testing.T, repo, file string) []example {
	f, err := os.Open(filepath.Join(repo, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out        []example
		cur        *example
		annotation string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case fenceRE.MatchString(line):
			cur = &example{name: fmt.Sprintf("%s:%d", file, n)}
			if m := annotationRE.FindStringSubmatch(annotation); m != nil {
				if m[2] != "" {
					cur.serve = m[2]
				} else {
					cur.skip = strings.TrimPrefix(m[1], "not run: ")
				}
			}
		case strings.TrimSpace(line) != "":
			annotation = strings.TrimSpace(line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// apiErrorPattern finds the error envelopes of Arbiter's APIs and of both
// dashboard dialects in an example's output, for grep -E.
const apiErrorPattern = `'"success": ?false|"statusCode": ?[45][0-9]{2}'`

var (
	expectRE      = regexp.MustCompile(`#.*\bexpect (\d{3})\b`)
	placeholderRE = regexp.MustCompile(`--secret (whsec_)?…`)
)

// checkedScript is an example as a bash script that runs its lines in
// order and stops at the first that fails, naming it. A line whose comment
// says "expect NNN" must fail and print NNN. An example that serves ends
// with its server, which runs until it is stopped.
func checkedScript(ex example) string {
	text := placeholderRE.ReplaceAllString(ex.text, `--secret "$$PACSPACE_WEBHOOK_SECRET"`)
	var lines []string
	var cont string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, `\`) {
			cont += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		if strings.HasSuffix(l, "|") || strings.HasSuffix(l, "&&") {
			cont += l + " "
			continue
		}
		l, cont = cont+l, ""
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var b strings.Builder
	b.WriteString("set -uo pipefail\n__o=$(mktemp)\n")
	for i, l := range lines {
		quoted := "'" + strings.ReplaceAll(l, "'", `'\''`) + "'"
		fmt.Fprintf(&b, "printf '+ %%s\\n' %s\n", quoted)
		switch m := expectRE.FindStringSubmatch(l); {
		case ex.serve != "" && i == len(lines)-1:
			fmt.Fprintf(&b, "%s\n", l)
		case m != nil:
			fmt.Fprintf(&b, "__out=$( { %s\n} 2>&1 ); __rc=$?; printf '%%s\\n' \"$__out\"\n", l)
			fmt.Fprintf(&b, "if [ $__rc -eq 0 ] || [[ $__out != *%s* ]]; then echo \"example: expected a failure with %s, got exit $__rc at: \"%s >&2; exit 1; fi\n", m[1], m[1], quoted)
		default:
			// curl -s exits 0 on any answer: an API's error envelope in
			// the output fails the line too.
			fmt.Fprintf(&b, "{ %s\n} >\"$__o\" 2>&1\n__rc=$?; cat \"$__o\"\n", l)
			fmt.Fprintf(&b, "if [ $__rc -ne 0 ]; then echo \"example: exit $__rc at: \"%s >&2; exit 1; fi\n", quoted)
			fmt.Fprintf(&b, "if grep -Eq %s \"$__o\"; then echo \"example: an API error at: \"%s >&2; exit 1; fi\n", apiErrorPattern, quoted)
		}
	}
	return b.String()
}

// runWorld runs exs in one world and reports each as a subtest.
func runWorld(t *testing.T, repo string, files []string, exs []example) {
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if fi, err := os.Stat(filepath.Join(repo, f)); err == nil && fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", ".examples", ".world/home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(arbiterBin, filepath.Join(dir, "bin", "arbiter")); err != nil {
		t.Fatal(err)
	}
	// The operator's signed bundle of the default set, and its key.
	key, _ := bundletest.Keys(t)
	if err := os.WriteFile(filepath.Join(dir, "bundle.tar.gz"), bundletest.Build(t, filepath.Join(repo, "policies"), "2026.04.10-1", key.Private), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.pub.pem"), []byte(key.Public), 0o644); err != nil {
		t.Fatal(err)
	}
	var manifest strings.Builder
	for _, ex := range exs {
		if err := os.WriteFile(filepath.Join(dir, ".examples", safeName(ex.name)+".sh"), []byte(checkedScript(ex)), 0o644); err != nil {
			t.Fatal(err)
		}
		kind := "run"
		switch {
		case ex.serve != "":
			kind = "serve " + ex.serve
		case !strings.Contains(ex.text, "arbiter") && !strings.Contains(ex.text, ":3000"):
			kind = "alone"
		}
		fmt.Fprintf(&manifest, "%s %s\n", safeName(ex.name), kind)
	}
	if err := os.WriteFile(filepath.Join(dir, ".examples", "manifest"), []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	world, err := filepath.Abs("testdata/examples/world.sh")
	if err != nil {
		t.Fatal(err)
	}
	wasmCache, err := wasmtest.CacheDir("examples-wasm-cache")
	if err == nil {
		err = os.MkdirAll(wasmCache, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "unshare", "-n", "bash", world, dir)
	cmd.Env = append(goEnv(t),
		"PATH="+os.Getenv("PATH"), "HOME="+filepath.Join(dir, ".world/home"),
		"PACSPACE_WEBHOOK_SECRET="+exampleSecret, "ARBITER_ADMIN_TOKEN="+exampleToken,
		"ARBITER_SIM_TOKEN="+exampleSimToken, "ARBITER="+filepath.Join(dir, "bin", "arbiter"),
		"TMPDIR="+filepath.Join(dir, ".world"), "EXAMPLES_WASM_CACHE="+wasmCache)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("world.sh: %v\n%s", err, out)
	}
	agentLog, _ := os.ReadFile(filepath.Join(dir, ".world", "agent.log"))
	for _, ex := range exs {
		name := safeName(ex.name)
		rc, _ := os.ReadFile(filepath.Join(dir, ".examples", name+".rc"))
		log, _ := os.ReadFile(filepath.Join(dir, ".examples", name+".log"))
		report := func(t *testing.T) {
			if strings.TrimSpace(string(rc)) != "0" {
				t.Errorf("%s did not run as written (exit %q):\n%s\n--- the example:\n%s--- the agent's log, last 3 KB:\n%s",
					ex.name, strings.TrimSpace(string(rc)), log, ex.text, tail(agentLog, 3<<10))
			}
		}
		if len(exs) == 1 {
			report(t)
		} else {
			t.Run(name, report)
		}
	}
}

// goEnv passes the Go toolchain's caches, so that go tool opa in a world
// builds nothing again and fetches nothing.
func goEnv(t *testing.T) []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOPATH=" + v[2], "GOPROXY=off", "GOTOOLCHAIN=local",
		"GOFLAGS=" + os.Getenv("GOFLAGS")}
}

func safeName(name string) string {
	return strings.NewReplacer("/", "_", ":", ".", " ", "_").Replace(name)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// TestCheckedScriptCatchesRefusals: the sim serve example as it was, whose
// curl sent no Content-Type, is refused by the real dashboard, and the
// harness says so though curl -s exits 0; the example as it is now passes.
func TestCheckedScriptCatchesRefusals(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	s := sim.New(sim.Config{Token: exampleSimToken})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	run := func(text string) (string, error) {
		f := filepath.Join(t.TempDir(), "example.sh")
		if err := os.WriteFile(f, []byte(checkedScript(example{text: strings.ReplaceAll(text, "127.0.0.1:8090", addr)})), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", f)
		cmd.Env = append(os.Environ(), "ARBITER_SIM_TOKEN="+exampleSimToken,
			"PATH="+filepath.Dir(arbiterBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(`curl -s -H "Authorization: Bearer $ARBITER_SIM_TOKEN" -d '{"url":"http://127.0.0.1:3000/webhooks/pacspace"}' 127.0.0.1:8090/dashboard/webhooks`)
	if err == nil || !strings.Contains(out, "Content-Type must be application/json") || !strings.Contains(out, "example: an API error at:") {
		t.Errorf("the old example passed: %v\n%s", err, out)
	}
	cmd := newSimServeCmd()
	current := strings.SplitN(cmd.Example, "\n", 3)[2] // past the export and the server, which the test runs itself
	if out, err := run(current); err != nil {
		t.Errorf("the example as it is: %v\n%s", err, out)
	}
	if n := len(s.Webhooks()); n != 1 {
		t.Errorf("%d webhooks created, want 1", n)
	}
}
