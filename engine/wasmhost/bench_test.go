package wasmhost

import (
	"context"
	"sync"
	"testing"
)

var benchAction = `{"type":"alert","reason":"period_drift","severity":"high","ours":1250.5,"pacspace":1238,"drift":12.5}`

// BenchmarkInvoke is a warm call through the pool: encode the input, write
// it, call handle, read and decode the output. "trivial" is a Go guest built
// with the SDK (Go runtime and input decoding included); "minimal" is the
// hand-written WAT guest, so it measures the host alone.
//
// The sub-benchmarks show what the deadline costs, and (raw-*) what the
// guest costs alone. "close-on-done" is how
// the host always runs (wazero's CloseOnContextDone); "no-close-on-done"
// turns it off, which leaves calls without an enforceable deadline and is
// never done outside this benchmark.
func BenchmarkInvoke(b *testing.B) {
	for _, g := range []string{"trivial", "minimal"} {
		b.Run(g, func(b *testing.B) {
			for _, closeOnDone := range []bool{true, false} {
				name := "close-on-done"
				var opts []Option
				if !closeOnDone {
					name = "no-close-on-done"
					opts = append(opts, func(o *options) { o.noCloseOnDone = true })
				}
				b.Run(name, func(b *testing.B) {
					h := newHost(b, []PluginConfig{{Name: "p", Path: guest[g], PoolSize: 1}}, opts...)
					req := action(benchAction)
					ctx := context.Background()
					requireOK(b, h, "p", req)
					b.ReportAllocs()
					for b.Loop() {
						if _, err := h.Invoke(ctx, "p", req); err != nil {
							b.Fatal(err)
						}
					}
				})
				// raw: the same compiled guest's handle called straight
				// through wazero with the input already in its memory: the
				// guest's own cost. Invoke less raw is the host's overhead
				// per call (pool, deadline, encoding, copies, parsing).
				b.Run("raw-"+name, func(b *testing.B) {
					h := newHost(b, []PluginConfig{{Name: "p", Path: guest[g], PoolSize: 1}}, opts...)
					p := h.plugins["p"]
					ctx := context.Background()
					in, err := p.newInstance(ctx)
					if err != nil {
						b.Fatal(err)
					}
					defer in.close(ctx)
					req := action(benchAction)
					input := appendInput(nil, &req, p.cfg.Config)
					if err := in.write(ctx, input); err != nil {
						b.Fatal(err)
					}
					ctx = withState(ctx, p.newState(""))
					s := in.stack[:]
					b.ReportAllocs()
					for b.Loop() {
						s[0], s[1] = uint64(in.inPtr), uint64(len(input))
						if err := in.handle.CallWithStack(ctx, s); err != nil {
							b.Fatal(err)
						}
					}
					out, err := in.readPacked(s[0], p.cfg.MaxOutputBytes, "handle")
					if err != nil {
						b.Fatal(err)
					}
					if res, err := parseOutput(out); err != nil || res.Status != StatusOK {
						b.Fatalf("raw call answered %q (%v)", out, err)
					}
				})
			}
		})
	}
}

// BenchmarkInvokeParallel is BenchmarkInvoke/trivial from GOMAXPROCS
// goroutines sharing one warm pool.
func BenchmarkInvokeParallel(b *testing.B) {
	h := newHost(b, []PluginConfig{{Name: "p", Path: guest["trivial"], PoolSize: 4}})
	req := action(benchAction)
	var wg sync.WaitGroup
	for range 4 { // instantiate the whole pool before timing
		wg.Go(func() { requireOK(b, h, "p", req) })
	}
	wg.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Invoke(context.Background(), "p", req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkInstantiate is what a fresh instance costs (instantiation plus
// _initialize): what a call pays after its slot's instance was replaced or
// recycled.
func BenchmarkInstantiate(b *testing.B) {
	for _, g := range []string{"trivial", "minimal"} {
		b.Run(g, func(b *testing.B) {
			h := newHost(b, []PluginConfig{{Name: "p", Path: guest[g]}})
			p := h.plugins["p"]
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				in, err := p.newInstance(ctx)
				if err != nil {
					b.Fatal(err)
				}
				in.close(ctx)
			}
		})
	}
}

// BenchmarkAppendInput is the host's input encoding alone.
func BenchmarkAppendInput(b *testing.B) {
	req := action(benchAction)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendInput(buf[:0], &req, []byte(`{"webhook_url_secret":"slack_url"}`))
	}
}

// BenchmarkParseOutput is the host's output decoding alone.
func BenchmarkParseOutput(b *testing.B) {
	out := []byte(`{"status":"retry","message":"slack: HTTP 429: rate_limited","retryAfterMs":30000}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseOutput(out); err != nil {
			b.Fatal(err)
		}
	}
}
