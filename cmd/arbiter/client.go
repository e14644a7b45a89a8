package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

// Environment for the admin API clients (webhooks, deliveries, ledger,
// events, chains).
const (
	envServer = "ARBITER_SERVER"
	envOutput = "ARBITER_OUTPUT"
)

// clientOptions are the flags shared by every command that talks to a
// running agent's admin API.
type clientOptions struct {
	server, token, configFile, output string
	timeout                           time.Duration
}

// addClientFlags declares the admin client flags on a command group; its
// subcommands inherit them.
func addClientFlags(cmd *cobra.Command) *clientOptions {
	o := &clientOptions{}
	fs := cmd.PersistentFlags()
	fs.StringVar(&o.server, "server", "", "admin API base URL (env "+envServer+"; default: from the config file, else "+baseURL(config.Default().Listen)+")")
	fs.StringVar(&o.token, "token", "", "admin bearer token (env "+config.EnvAdminToken+"; default: the config file's first admin.tokens)")
	fs.StringVar(&o.configFile, "config", "", "agent configuration file to take the address and token from (env "+config.EnvConfigFile+")")
	fs.StringVarP(&o.output, "output", "o", "", "table or json (env "+envOutput+"; default table)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "time limit for each request")
	return o
}

// client resolves flags, environment and config file, in that order.
func (o *clientOptions) client(cmd *cobra.Command) (*apiClient, error) {
	server, token, output := o.server, o.token, o.output
	if server == "" {
		server = os.Getenv(envServer)
	}
	if token == "" {
		token = os.Getenv(config.EnvAdminToken)
	}
	if output == "" {
		output = os.Getenv(envOutput)
	}
	if output == "" {
		output = "table"
	}
	if output != "table" && output != "json" {
		return nil, fmt.Errorf("--output must be table or json, not %q", output)
	}
	file := o.configFile
	if file == "" {
		file = os.Getenv(config.EnvConfigFile)
	}
	if server == "" || token == "" {
		cfg := config.Default()
		if file != "" {
			var err error
			if cfg, err = config.Load(config.Sources{File: file}); err != nil {
				return nil, err
			}
		}
		if server == "" {
			addr := cfg.Listen
			if cfg.Admin.Listen != "" {
				addr = cfg.Admin.Listen
			}
			server = baseURL(addr)
		}
		if token == "" && len(cfg.Admin.Tokens) > 0 {
			token = cfg.Admin.Tokens[0]
		}
	}
	if token == "" {
		return nil, errors.New("no admin token: pass --token or set " + config.EnvAdminToken +
			" (the first `arbiter serve` printed a generated one)")
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not a URL", server)
	}
	return &apiClient{
		base:  strings.TrimRight(u.String(), "/"),
		token: token,
		http:  &http.Client{Timeout: o.timeout},
		out:   cmd.OutOrStdout(),
		json:  output == "json",
	}, nil
}

// baseURL turns a listen address into a URL to reach it from this host.
func baseURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// apiClient calls the admin API and prints results as a table or JSON.
type apiClient struct {
	base, token string
	http        *http.Client
	out         io.Writer
	json        bool
}

// apiError is a failure answer of the admin API.
type apiError struct {
	Status  int
	Message string
	Fields  map[string]string
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d)", e.Message, e.Status)
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %s", k, e.Fields[k])
	}
	return b.String()
}

// send makes a request and returns the response for the caller to read,
// for streams such as CSV exports. A non-2xx answer is returned as an
// *apiError.
func (c *apiClient) send(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var env struct {
		Error *struct {
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(raw, &env) != nil || env.Error == nil {
		return nil, &apiError{Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
	}
	return nil, &apiError{Status: resp.StatusCode, Message: env.Error.Message, Fields: env.Error.Fields}
}

// do makes a request and decodes the envelope's data into out (if not nil).
// It returns the raw data too, for --output json.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body, out any) (json.RawMessage, error) {
	resp, err := c.send(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("%s %s: bad response: %w", method, path, err)
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return nil, fmt.Errorf("%s %s: bad response: %w", method, path, err)
		}
	}
	return env.Data, nil
}

// print writes data as indented JSON with --output json, or else calls
// table with a tab-aligned writer.
func (c *apiClient) print(data json.RawMessage, table func(tw *tabwriter.Writer)) error {
	if c.json {
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := c.out.Write(buf.Bytes())
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// row writes one tab-separated table row.
func row(tw io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		fmt.Fprint(tw, c)
	}
	io.WriteString(tw, "\n")
}

// timeCell formats an optional time for a table.
func timeCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// pageFooter ends a table of one page of a list.
func pageFooter(w io.Writer, p httpapi.Pagination, noun string) {
	if p.Total == 0 {
		fmt.Fprintf(w, "no %s\n", noun)
		return
	}
	fmt.Fprintf(w, "page %d of %d, %d %s\n", p.Page, max(p.TotalPages, 1), p.Total, noun)
}

// shortCell fits s on one table line of at most n characters; "-" when
// empty. --output json has it whole.
func shortCell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
