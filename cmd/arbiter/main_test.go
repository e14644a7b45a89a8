package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"
)

// arbiterBin is the real binary, built once for the acceptance tests.
var arbiterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "arbiter-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	arbiterBin = filepath.Join(dir, "arbiter")
	// The default configuration runs the bundled console plugin, so build
	// the bundled plugins first, as `make build` does.
	if out, err := exec.Command("bash", "../../plugins/build.sh", "../../plugins/bundled", "bundled").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build plugins: %v\n%s", err, out)
		os.Exit(1)
	}
	out, err := exec.Command("go", "build", "-o", arbiterBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build arbiter: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is one running arbiter.
type process struct {
	cmd    *exec.Cmd
	addr   string
	stdout *capture.Buffer
	stderr *capture.Buffer
	exited chan struct{}
}

var listeningRE = regexp.MustCompile(`listening: addr=(\S+)`)

// start runs `arbiter args...` with exactly env and waits until it listens.
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(arbiterBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	p := &process{cmd: cmd, stdout: &capture.Buffer{}, stderr: &capture.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout = p.stdout
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(p.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("arbiter stderr:\n%s", p.stderr.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case p.addr = <-found:
	case <-p.exited:
		t.Fatalf("arbiter exited before listening: %s", p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("arbiter did not listen within 30s: %s", p.stderr.String())
	}
	p.addr = strings.Replace(p.addr, "[::]", "127.0.0.1", 1)
	return p
}

func (p *process) url(path string) string { return "http://" + p.addr + path }

// waitLog waits until the process has written want to stderr: its logs go
// through a pipe, so a line can land after the change it reports is
// already visible through the API.
func (p *process) waitLog(t *testing.T, want string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); !strings.Contains(p.stderr.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %v", want, within)
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("arbiter did not exit within %s", within)
		return -1
	}
}

func getJSON(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
