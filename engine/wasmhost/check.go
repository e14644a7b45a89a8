package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Report is the outcome of Check: one entry per conformance check, in the
// order they ran.
type Report struct {
	Path   string
	Info   Info // as described, if describe ran
	Checks []CheckResult
}

// CheckResult is one conformance check.
type CheckResult struct {
	Name    string
	Passed  bool
	Skipped bool // an earlier check failed, so this one could not run
	Detail  string
}

// Passed reports whether every check passed.
func (r Report) Passed() bool {
	for _, c := range r.Checks {
		if !c.Passed {
			return false
		}
	}
	return len(r.Checks) > 0
}

// String renders the report one check a line, e.g. "PASS exports".
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Path)
	for _, c := range r.Checks {
		status := "PASS"
		switch {
		case c.Skipped:
			status = "SKIP"
		case !c.Passed:
			status = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s", status, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(&b, ": %s", strings.ReplaceAll(c.Detail, "\n", "\n       "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Check names, in order.
const (
	CheckCompile     = "compile"
	CheckExports     = "exports"
	CheckImports     = "imports"
	CheckInstantiate = "instantiate"
	CheckDescribe    = "describe"
	CheckHandle      = "handle"
	CheckReuse       = "reuse"
)

// checkTimeout bounds each guest call during Check.
const checkTimeout = 5 * time.Second

// sampleRequests are what CheckHandle sends: a detailed action like the
// default policies emit, and a minimal one of a type no plugin knows. Any
// result status is fine; a trap, a timeout or a malformed result is not.
var sampleRequests = []Request{
	{
		Action: json.RawMessage(`{"type":"alert","reason":"chain_discontinuity","severity":"critical",` +
			`"expected":"0x5e1f","received":"0x9a2c","customerId":"cus_check"}`),
		Event: EventSummary{ID: "evt_check_1", Type: "delta.verified", Endpoint: "pacspace", CustomerID: "cus_check",
			ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 0, time.UTC)},
		DeliveryID: "dlv_check_1", IdempotencyKey: "evt_check_1/0/check", Attempt: 1,
	},
	{
		Action:     json.RawMessage(`{"type":"x_unknown","reason":"conformance","severity":"info"}`),
		Event:      EventSummary{ID: "evt_check_2"},
		DeliveryID: "dlv_check_2", IdempotencyKey: "evt_check_2/0/check", Attempt: 3,
	},
}

// Check runs the ABI conformance kit against the module at wasmPath: exports
// and their signatures, imports, instantiation, describe output (valid JSON,
// name, kind, version, a compilable config schema), and handle answering the
// sample actions with valid results, twice on one instance. The plugin runs
// sandboxed as in production, with an empty config, no allowed hosts, no
// secrets and no store. Options are as for New (e.g. WithLogger to see the
// guest's log).
func Check(ctx context.Context, wasmPath string, opts ...Option) Report {
	r := Report{Path: wasmPath}
	pass := func(name, detail string) {
		r.Checks = append(r.Checks, CheckResult{Name: name, Passed: true, Detail: detail})
	}
	fail := func(name string, err error) {
		r.Checks = append(r.Checks, CheckResult{Name: name, Detail: err.Error()})
	}
	skip := func(names ...string) {
		for _, n := range names {
			r.Checks = append(r.Checks, CheckResult{Name: n, Skipped: true})
		}
	}

	o := newOptions(opts)
	cache, err := newCache(o.checkCacheDir)
	if err != nil {
		fail(CheckCompile, err)
		skip(CheckExports, CheckImports, CheckInstantiate, CheckDescribe, CheckHandle, CheckReuse)
		return r
	}
	d := deps{cache: cache, transport: newTransport(), opts: o}
	defer d.cache.Close(context.WithoutCancel(ctx))
	defer d.transport.CloseIdleConnections()

	p, err := newPlugin(ctx, PluginConfig{Name: "check", Path: wasmPath, PoolSize: 1, Timeout: checkTimeout}, d)
	if err != nil {
		fail(CheckCompile, err)
		skip(CheckExports, CheckImports, CheckInstantiate, CheckDescribe, CheckHandle, CheckReuse)
		return r
	}
	defer p.rt.Close(context.WithoutCancel(ctx))

	err = p.compile(ctx)
	var abiErr *abiError
	switch {
	case errors.As(err, &abiErr):
		pass(CheckCompile, "")
		if abiErr.exports != nil {
			fail(CheckExports, abiErr.exports)
		} else {
			pass(CheckExports, "")
		}
		if abiErr.imports != nil {
			fail(CheckImports, abiErr.imports)
		} else {
			pass(CheckImports, "")
		}
		skip(CheckInstantiate, CheckDescribe, CheckHandle, CheckReuse)
		return r
	case err != nil:
		fail(CheckCompile, err)
		skip(CheckExports, CheckImports, CheckInstantiate, CheckDescribe, CheckHandle, CheckReuse)
		return r
	}
	pass(CheckCompile, "")
	exports := "alloc, handle"
	if p.hasDescribe {
		exports += ", describe"
	}
	pass(CheckExports, exports)
	pass(CheckImports, "")

	first, err := p.newInstance(ctx)
	if err != nil {
		fail(CheckInstantiate, p.classifyInit(ctx, err))
		skip(CheckDescribe, CheckHandle, CheckReuse)
		return r
	}
	pass(CheckInstantiate, "")

	if err := p.describe(ctx, first); err != nil {
		fail(CheckDescribe, err)
		first.close(ctx)
		first, err = p.newInstance(ctx) // handle may still be checked
		if err != nil {
			skip(CheckHandle, CheckReuse)
			return r
		}
	} else if p.hasDescribe {
		r.Info = p.info
		pass(CheckDescribe, fmt.Sprintf("%s %s (%s)", p.info.Name, p.info.Version, p.info.Kind))
	} else {
		pass(CheckDescribe, "not exported (optional)")
	}
	p.pool = newPool(1, first)

	var results []string
	before := p.stats.snapshot().Instantiations
	for _, req := range sampleRequests {
		res, err := p.invoke(ctx, req)
		if err != nil {
			fail(CheckHandle, fmt.Errorf("action %s: %w", req.Action, err))
			skip(CheckReuse)
			return r
		}
		results = append(results, string(res.Status))
	}
	pass(CheckHandle, "answered "+strings.Join(results, ", "))

	if st := p.stats.snapshot(); st.Instantiations != before {
		fail(CheckReuse, fmt.Errorf("%d calls needed %d new instances", st.Calls, st.Instantiations-before))
		return r
	}
	pass(CheckReuse, "")
	return r
}
