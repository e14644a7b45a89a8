package wasmhost

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHostileGuests runs each hostile guest on a host that also serves a
// healthy plugin: the hostile call fails alone, the host keeps serving both
// plugins, and the broken instance is replaced.
func TestHostileGuests(t *testing.T) {
	var outsideHits atomic.Int32
	outside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outsideHits.Add(1)
	}))
	defer outside.Close()

	tests := []struct {
		name     string
		action   string
		timeout  time.Duration
		wantErr  error  // host-side failure
		wantFail string // or a plugin "fail" result containing this
		replaced bool
	}{
		{name: "loop", timeout: time.Second, wantErr: ErrTimeout, replaced: true},
		{name: "membomb", wantErr: ErrMemoryLimit, replaced: true},
		{name: "panic", wantErr: ErrTrap, replaced: true},
		{name: "unreachable", wantErr: ErrTrap, replaced: true},
		{name: "oob", wantErr: ErrTrap, replaced: true},
		{name: "hugeout", wantErr: ErrBadOutput, replaced: true},
		{name: "escape", action: fmt.Sprintf(`{"type":"x","url":%q}`, outside.URL), wantFail: "not in allow_hosts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, []PluginConfig{
				{Name: "bad", Path: guest[tc.name], Timeout: tc.timeout, PoolSize: 1, AllowHosts: []string{"example.com"}},
				{Name: "good", Path: guest["probe"]},
			})
			act := tc.action
			if act == "" {
				act = `{"type":"x"}`
			}
			for round := 1; round <= 2; round++ {
				start := time.Now()
				res, err := h.Invoke(context.Background(), "bad", action(act))
				elapsed := time.Since(start)
				switch {
				case tc.wantErr != nil:
					requireErrorIs(t, err, tc.wantErr)
					if !Retryable(err) && tc.wantErr != ErrBadOutput {
						t.Errorf("%v: want retryable", err)
					}
					t.Logf("round %d: %v (%s)", round, err, elapsed)
				default:
					requireNoError(t, err)
					requireEqual(t, StatusFail, res.Status)
					requireContains(t, res.Message, tc.wantFail)
				}
				// The host still serves: the healthy plugin, and the
				// hostile one's next call gets a fresh instance.
				requireOK(t, h, "good", action(`{"type":"probe","op":"now"}`))
			}
			st, _ := h.Stats("bad")
			if tc.replaced {
				// Each failed instance was closed; the second call ran on a
				// fresh one. Slots are refilled on demand.
				requireEqual(t, uint64(2), st.Replaced)
				requireEqual(t, uint64(2), st.Instantiations)
			} else {
				requireEqual(t, uint64(0), st.Replaced)
			}
		})
	}
	requireEqual(t, int32(0), outsideHits.Load())
}

func TestBadSignatureRefused(t *testing.T) {
	_, err := New(context.Background(), Config{CacheDir: compileCache, Plugins: []PluginConfig{{Name: "bad", Path: guest["badsig"]}}})
	if err == nil {
		t.Fatal("New loaded a guest with a wrong handle signature")
	}
	for _, want := range []string{
		`load plugin "bad"`,
		"func[handle] with signature (i32) -> (i32); want handle(ptr i32, len i32) -> (packed i64)",
		"func[select] with signature (i32) -> (i64); want select(ptr i32, len i32) -> (status i32)",
		"unknown func[arbiter.exec]",
	} {
		requireContains(t, err.Error(), want)
	}
	if strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("want all three problems, one per line: %q", err)
	}
}
