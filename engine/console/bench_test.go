package console_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	arbiter "github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// benchEvents is how many events the page benchmark's inbox holds; set
// CONSOLE_BENCH_EVENTS to try another size.
const benchEvents = 1_000_000

// BenchmarkPages renders each console page against an inbox of 1,000,000
// events, each decided, 5% with an alert delivered or dead-lettered, over
// 50 customers' chains and periods: the figure is the page's time in the
// agent, over loopback, per request. The seeded database is kept in the
// temporary directory (it takes a minute to build) and reused while its
// schema and size stay the same.
func BenchmarkPages(b *testing.B) {
	n := benchEvents
	if v, err := strconv.Atoi(os.Getenv("CONSOLE_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	dir := seededDir(b, n)
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Log.Level = "error"
	cfg.Admin.Tokens = []string{adminToken}
	cfg.Plugins = []config.Plugin{}
	cfg.Endpoints = map[string]config.Endpoint{"pacspace": {Secrets: []string{webhookSecret}}}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	a, err := arbiter.New(ctx, cfg, arbiter.Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: logs})})
	require.NoError(b, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(b, <-done) }()
	// Pages are timed once the start's background work, the dedupe
	// filter over every stored event, is done.
	for deadline := time.Now().Add(5 * time.Minute); !strings.Contains(logs.String(), "dedupe filter built"); time.Sleep(100 * time.Millisecond) {
		require.True(b, time.Now().Before(deadline), "no dedupe filter after 5 minutes")
	}

	base := "http://" + a.Addr().String()
	c := benchClient(b, base)
	customer, mid := "cus_07", fmt.Sprintf("evt_%07d", n/2)
	var failed string
	{
		resp, err := c.Get(base + "/ui/deliveries?status=failed&limit=1")
		require.NoError(b, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := deliveryLink.FindSubmatch(page)
		require.True(b, m != nil, "a failed delivery on the page")
		failed = string(m[1])
	}
	since := url.QueryEscape(time.Now().UTC().Add(-26 * time.Hour).Format("2006-01-02T15:04"))
	until := url.QueryEscape(time.Now().UTC().Add(-25 * time.Hour).Format("2006-01-02T15:04"))
	pages := []struct{ name, path string }{
		{"overview", "/ui/"},
		{"events", "/ui/events"},
		{"events/page50", "/ui/events?page=50"},
		{"events/customer", "/ui/events?customer=" + customer},
		{"events/type", "/ui/events?type=delta.failed"},
		{"events/type-most", "/ui/events?type=delta.verified"},
		{"events/status", "/ui/events?status=failed"},
		{"events/status-most", "/ui/events?status=processed"},
		{"events/reason", "/ui/events?reason=chain_discontinuity"},
		{"events/hour", "/ui/events?since=" + since + "&until=" + until},
		{"events/id", "/ui/events?id=" + mid},
		{"event", "/ui/events/" + mid + "?raw=1"},
		{"deliveries", "/ui/deliveries"},
		{"deliveries/failed", "/ui/deliveries?status=failed"},
		{"deliveries/delivered", "/ui/deliveries?status=delivered"},
		{"deliveries/plugin", "/ui/deliveries?plugin=console&actionType=alert"},
		{"delivery", "/ui/deliveries/" + failed},
		{"retry-preview", "/ui/deliveries/retry?actionType=alert"},
		{"chains", "/ui/chains"},
		{"chain", "/ui/chains/" + customer},
		{"policies", "/ui/policies"},
		{"dry-run-form", "/ui/policies/dry-run"},
		{"plugins", "/ui/plugins"},
		{"webhooks", "/ui/webhooks"},
		{"webhook", "/ui/webhooks/pacspace"},
		{"jump", "/ui/go?q=" + mid},
	}
	get := func(b *testing.B, path string) {
		resp, err := c.Get(base + path)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			// The first view may fill a cache (an endpoint's accepted
			// count): the loop times the views after it.
			get(b, p.path)
			for b.Loop() {
				get(b, p.path)
			}
		})
	}
}

var deliveryLink = regexp.MustCompile(`href="/ui/deliveries/(dlv_[0-9a-f]+)"`)

// benchClient is a client signed in to the console at base.
func benchClient(b *testing.B, base string) *http.Client {
	c := client(b)
	signIn(b, c, base+"/ui", adminToken)
	return c
}

// seededDir returns a data directory whose database holds n seeded events,
// building it once.
func seededDir(b *testing.B, n int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("arbiter-console-bench-v%d-%d", seedVersion, n))
	if _, err := os.Stat(filepath.Join(dir, "seeded")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	require.NoError(b, os.MkdirAll(dir, 0o755))
	db := filepath.Join(dir, "arbiter.db")
	st, err := store.Open(context.Background(), store.Config{Driver: "sqlite", Path: db, Sync: "normal", MaxBatch: 256})
	require.NoError(b, err)
	require.NoError(b, st.Close())
	began := time.Now()
	require.NoError(b, seed(db, n))
	b.Logf("seeded %d events in %s", n, time.Since(began).Round(time.Second))
	require.NoError(b, os.WriteFile(filepath.Join(dir, "seeded"), nil, 0o644))
	return dir
}

// seedVersion changes when seed writes something else.
const seedVersion = 1

// seed writes n events into the inbox of the database at path, each
// processed and decided as the worker would record it: the events of 50
// customers spread over the last 30 days, proof chains with a gap and a
// fork every 5,000 events, period totals, and an alert delivery for one
// event in 20, one in four of them dead-lettered.
func seed(path string, n int) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	const customers = 50
	now := time.Now().UTC()
	start := now.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(n)
	micros := func(t time.Time) int64 { return t.UnixMicro() }
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	const batch = 20_000
	for lo := 0; lo < n; lo += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ev, _ := tx.Prepare(`INSERT INTO events (seq, endpoint, event_id, digest, scheme, headers, body, received_at, status,
			error, event_type, stream, processed_at) VALUES (?, 'pacspace', ?, ?, 'v1', ?, ?, ?, ?, ?, ?, ?, ?)`)
		dec, _ := tx.Prepare(`INSERT INTO decisions (event_seq, event_id, revision, input_digest, input, actions, eval_micros,
			error, decided_at) VALUES (?, ?, 'bench0000000000000000000000000000000000000000000000000000000000', ?, ?, ?, 140, '', ?)`)
		del, _ := tx.Prepare(`INSERT INTO deliveries (id, event_seq, event_id, plugin, action_index, action_type, action,
			idempotency_key, status, attempts, last_error, next_attempt_at, created_at, delivered_at, updated_at)
			VALUES (?, ?, ?, 'console', 0, 'alert', ?, ?, ?, ?, ?, 0, ?, ?, ?)`)
		att, _ := tx.Prepare(`INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_us, result, error)
			VALUES (?, ?, ?, 900, ?, ?)`)
		for i := lo + 1; i <= min(lo+batch, n); i++ {
			id := fmt.Sprintf("evt_%07d", i)
			cus := fmt.Sprintf("cus_%02d", i%customers)
			at := start.Add(time.Duration(i) * step)
			period := at.Format("2006-01")
			typ, status, reason := "delta.verified", "processed", ""
			switch {
			case i%997 == 0:
				typ = "delta.failed"
			case i%5000 == 0:
				reason = "chain_discontinuity"
			case i%20 == 0:
				reason = "unmatched_delta"
			}
			if i%50_000 == 7 {
				status = "failed"
			}
			prev, proof := hash(fmt.Sprint(i-customers)), hash(fmt.Sprint(i))
			body := fmt.Sprintf(`{"event":%q,"timestamp":%q,"data":{"delta":{"customerId":%q,"referenceId":"ref_%07d","amount":%d.25},`+
				`"deltaIndex":%d,"proof":{"proofHash":%q,"previousProofHash":%q},"period":{"id":%q,"netDelta":%d.5},`+
				`"usage":{"consumedDeltas":%d,"includedDeltas":100000},"receiptId":"rcpt_%07d"}}`,
				typ, at.Format(time.RFC3339Nano), cus, i, i%900, i/customers, proof, prev, period, i%100000, i%100000, i)
			headers := fmt.Sprintf(`{"Content-Type":"application/json","X-Event-ID":%q,"X-PacSpace-Signature":"v1=%s","X-PacSpace-Timestamp":"%d"}`,
				id, hash(body), at.Unix())
			if _, err := ev.Exec(i, id, hash(body), headers, body, micros(at), status, map[bool]string{true: "policy evaluation failed", false: ""}[status == "failed"],
				typ, "customer:"+cus, micros(at.Add(40*time.Millisecond))); err != nil {
				return fmt.Errorf("seed event %d: %w", i, err)
			}
			chain := "linked"
			if reason == "chain_discontinuity" {
				chain = "gap"
			}
			input := fmt.Sprintf(`{"version":"arbiter.input/v1","event":{"id":%q,"type":%q,"timestamp":%q,"receivedAt":%q,"endpoint":"pacspace","scheme":"v1","shape":"delta"},`+
				`"delta":{"customerId":%q,"referenceId":"ref_%07d","amount":%d.25,"deltaIndex":%d},"proof":{"proofHash":%q,"previousProofHash":%q},`+
				`"period":{"id":%q,"netDelta":%d.5},"usage":{"consumedDeltas":%d,"includedDeltas":100000},"derived":{"utilization":%d},`+
				`"state":{"record":null,"chain":{"status":%q,"head":%q,"length":%d},"period":{"ours":%d.5},"throttle":{"active":false}}}`,
				id, typ, at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano), cus, i, i%900, i/customers, proof, prev,
				period, i%100000, i%100000, i%100, chain, prev, i/customers, i%100000)
			actions := "[]"
			if reason != "" {
				actions = fmt.Sprintf(`[{"type":"alert","reason":%q,"severity":"high","customerId":%q,"eventId":%q,"targets":["console"]}]`, reason, cus, id)
			}
			if _, err := dec.Exec(i, id, hash(input), input, actions, micros(at.Add(30*time.Millisecond))); err != nil {
				return fmt.Errorf("seed decision %d: %w", i, err)
			}
			if reason == "" {
				continue
			}
			did := "dlv_" + hash(id)[:24]
			dstatus, attempts, lastErr, delivered := "delivered", 1, "", micros(at.Add(time.Second))
			if i%80 == 0 {
				dstatus, attempts, lastErr, delivered = "failed", 8, "webhook: HTTP 500", 0
			}
			if _, err := del.Exec(did, i, id, actions[1:len(actions)-1], did, dstatus, attempts, lastErr,
				micros(at.Add(40*time.Millisecond)), delivered, micros(at.Add(time.Minute))); err != nil {
				return fmt.Errorf("seed delivery %d: %w", i, err)
			}
			for k := 1; k <= attempts; k++ {
				result, msg := "ok", ""
				if dstatus == "failed" {
					result, msg = "retry", "webhook: HTTP 500"
				}
				if _, err := att.Exec(did, k, micros(at.Add(time.Duration(k)*time.Second)), result, msg); err != nil {
					return err
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	// Chains, their breaks and period totals.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for c := range customers {
		cus := fmt.Sprintf("cus_%02d", c)
		last := n - (n % customers) + c
		if last > n {
			last -= customers
		}
		if _, err := tx.Exec(`INSERT INTO chains (customer_id, head, length, updated_at) VALUES (?, ?, ?, ?)`,
			cus, hash(fmt.Sprint(last)), n/customers, micros(now)); err != nil {
			return err
		}
		for m := range 12 {
			p := now.AddDate(0, -m, 0).Format("2006-01")
			if _, err := tx.Exec(`INSERT OR IGNORE INTO period_totals (customer_id, period_id, total, deltas, updated_at) VALUES (?, ?, ?, ?, ?)`,
				cus, p, float64(1000*m)+0.5, 100*m, micros(now)); err != nil {
				return err
			}
		}
	}
	for i := 5000; i <= n; i += 5000 {
		cus := fmt.Sprintf("cus_%02d", i%customers)
		verdict := "gap"
		if i%10000 == 0 {
			verdict = "fork"
		}
		if _, err := tx.Exec(`INSERT OR IGNORE INTO proofs (customer_id, proof_hash, previous_hash, event_seq, verdict) VALUES (?, ?, ?, ?, ?)`,
			cus, hash(fmt.Sprint(i)), hash(fmt.Sprint(i-customers)), i, verdict); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'`, n); err != nil {
		return err
	}
	return tx.Commit() // no ANALYZE: the agent never runs one either
}
