package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/testdata/events"
)

// Shared by emit and load.
const (
	defaultWebhookURL = "http://127.0.0.1:3000/webhooks/pacspace"
	envWebhookSecret  = "PACSPACE_WEBHOOK_SECRET"
)

// webhookSecret is the --secret flag, else $PACSPACE_WEBHOOK_SECRET. The env
// value is read here rather than shown as the flag default, so --help never
// prints it.
func webhookSecret(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if s := os.Getenv(envWebhookSecret); s != "" {
		return s, nil
	}
	return "", fmt.Errorf("no webhook secret: pass --secret or set %s", envWebhookSecret)
}

type emitOptions struct {
	url       string
	secret    string
	scheme    string
	eventID   string
	timestamp string
	count     int
	timeout   time.Duration
	list      bool
}

func newEmitCmd() *cobra.Command {
	var o emitOptions
	cmd := &cobra.Command{
		Use:   "emit [fixture | file | -]",
		Short: "Sign an event as PacSpace does and post it",
		Long: `Sign a webhook body as PacSpace does and POST it, for manual tests and scripts.

The body is a fixture name (delta.verified sends testdata/events/delta.verified.json;
the fixtures are also built into the binary, so this works outside the
repository; --list shows them), a file path, or - for standard input. It is
sent byte for byte as read.

Each request gets a fresh X-Event-ID unless --event-id is given, which is then
sent on every repeat (use it to test deduplication; --event-id - sends none).
Repeats of one body have the same digest, so a receiver that deduplicates on
the body treats them as duplicates whatever their ids.

Prints each response's status and body, and exits with status 1 if any
response was not 2xx.`,
		Example: `  arbiter emit --list
  arbiter emit delta.verified
  arbiter emit --scheme legacy batch.verified
  arbiter emit --timestamp -10m test              # stale: expect 401
  arbiter emit --count 3 --event-id evt_same test # the same id three times
  printf '%s' '{"event":"test","timestamp":"2026-04-10T12:00:00.000Z","data":{}}' | arbiter emit -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.list {
				return listFixtures(cmd.OutOrStdout())
			}
			if len(args) != 1 {
				return errors.New("emit: name a fixture, a file or - (see --list)")
			}
			return runEmit(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", defaultWebhookURL, "webhook URL to post to")
	f.StringVar(&o.secret, "secret", "", "webhook signing secret (default $"+envWebhookSecret+")")
	f.StringVar(&o.scheme, "scheme", string(engine.SchemeV1), `signature scheme: "v1" (timestamped) or "legacy" (sha256=)`)
	f.StringVar(&o.eventID, "event-id", "", `X-Event-ID to send (default a fresh evt_<random> per request; "-" for none)`)
	f.StringVar(&o.timestamp, "timestamp", "", "v1 timestamp: Unix seconds, RFC 3339, or an offset from now such as -10m (default now)")
	f.IntVarP(&o.count, "count", "n", 1, "how many times to send it")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	f.BoolVar(&o.list, "list", false, "list the fixtures and exit")
	return cmd
}

func runEmit(cmd *cobra.Command, o emitOptions, arg string) error {
	secret, err := webhookSecret(o.secret)
	if err != nil {
		return fmt.Errorf("emit: %w", err)
	}
	scheme := engine.Scheme(o.scheme)
	if scheme != engine.SchemeV1 && scheme != engine.SchemeLegacy {
		return fmt.Errorf("emit: unknown --scheme %q (want v1 or legacy)", o.scheme)
	}
	if o.timestamp != "" && scheme != engine.SchemeV1 {
		return errors.New("emit: --timestamp applies to the v1 scheme only; legacy signatures carry no timestamp")
	}
	if o.count < 1 {
		return fmt.Errorf("emit: --count %d: want at least 1", o.count)
	}
	ts, err := emitTimestamp(o.timestamp, time.Now())
	if err != nil {
		return fmt.Errorf("emit: --timestamp: %w", err)
	}
	body, source, err := readEventBody(arg, cmd.InOrStdin())
	if err != nil {
		return fmt.Errorf("emit: %w", err)
	}

	out := cmd.OutOrStdout()
	client := &http.Client{Timeout: o.timeout}
	failed := 0
	for range o.count {
		id := o.eventID
		switch id {
		case "":
			id = newEventID()
		case "-":
			id = ""
		}
		at := ts
		if at.IsZero() {
			at = time.Now()
		}
		req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, o.url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("emit: %w", err)
		}
		if err := pacspace.Sign(req.Header, scheme, secret, id, at, body); err != nil {
			return fmt.Errorf("emit: %w", err)
		}
		fmt.Fprintf(out, "POST %s  %s (%d bytes, %s", o.url, source, len(body), scheme)
		if id != "" {
			fmt.Fprintf(out, ", %s %s", pacspace.HeaderEventID, id)
		}
		fmt.Fprintln(out, ")")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("emit: post: %w", err)
		}
		respBody, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("emit: read response: %w", err)
		}
		fmt.Fprintf(out, "%s  %s\n", resp.Status, strings.TrimSpace(string(respBody)))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			failed++
		}
	}
	if failed > 0 {
		if o.count > 1 {
			fmt.Fprintf(cmd.ErrOrStderr(), "emit: %d of %d responses were not 2xx\n", failed, o.count)
		}
		return exitError{code: 1}
	}
	return nil
}

// emitTimestamp parses --timestamp; zero means "now, at each send".
func emitTimestamp(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(sec, 0), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not Unix seconds, RFC 3339 or a duration such as -10m", v)
}

// readEventBody reads "-" from stdin, an existing file, or a fixture by
// name: from the repository's testdata/events when run inside it (so edits
// show without a rebuild), else the copy built into the binary. source
// describes where it came from.
func readEventBody(arg string, stdin io.Reader) (body []byte, source string, err error) {
	if arg == "-" {
		body, err = io.ReadAll(stdin)
		if err != nil {
			return nil, "", fmt.Errorf("read stdin: %w", err)
		}
		return body, "stdin", nil
	}
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		body, err = os.ReadFile(arg)
		if err != nil {
			return nil, "", fmt.Errorf("read body: %w", err)
		}
		return body, arg, nil
	}
	name := strings.TrimSuffix(arg, ".json")
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, "", fmt.Errorf("read body: %s: no such file", arg)
	}
	if dir := repoFixtureDir(); dir != "" {
		if body, err := os.ReadFile(filepath.Join(dir, name+".json")); err == nil {
			return body, name, nil
		}
	}
	body, err = fs.ReadFile(events.FS, name+".json")
	if err != nil {
		return nil, "", fmt.Errorf("read body: %q is neither a file nor a fixture (see arbiter emit --list)", arg)
	}
	return body, name, nil
}

// repoFixtureDir finds testdata/events in the working directory or one of its
// parents that holds the arbiter module; "" when not inside the repository.
func repoFixtureDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(mod), "module github.com/arbiter-dev/arbiter\n") {
			d := filepath.Join(dir, "testdata", "events")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// listFixtures prints the names of the fixtures, built in or in the repository.
func listFixtures(w io.Writer) error {
	names := map[string]bool{}
	if dir := repoFixtureDir(); dir != "" {
		if m, err := filepath.Glob(filepath.Join(dir, "*.json")); err == nil {
			for _, p := range m {
				names[strings.TrimSuffix(filepath.Base(p), ".json")] = true
			}
		}
	}
	embedded, err := fs.Glob(events.FS, "*.json")
	if err != nil {
		return fmt.Errorf("emit: list fixtures: %w", err)
	}
	for _, p := range embedded {
		names[strings.TrimSuffix(p, ".json")] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return fmt.Errorf("emit: list fixtures: %w", err)
		}
	}
	return nil
}

// newEventID returns evt_ and 24 random hex digits.
func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "evt_" + hex.EncodeToString(b[:])
}
