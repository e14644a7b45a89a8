package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of Check: one entry per conformance check, in the
// order they ran.
type Report struct {
	Path   string
	Entry  string // the plugin checked, in a module that holds several
	Info   Info   // as described, if describe ran
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
	fmt.Fprintf(&b, "%s", r.Path)
	if r.Entry != "" {
		fmt.Fprintf(&b, " (entry %s)", r.Entry)
	}
	b.WriteByte('\n')
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
// guest's log). A module holding several plugins fails describe unless
// entry names one of them; CheckModule checks each.
func Check(ctx context.Context, wasmPath, entry string, opts ...Option) Report {
	return checkModule(ctx, wasmPath, entry, false, opts)[0]
}

// CheckModule is Check, except that a module holding several plugins and
// given no entry is checked once for each plugin it holds, as its describe
// lists them, with the module compiled once. It returns a report per plugin.
func CheckModule(ctx context.Context, wasmPath, entry string, opts ...Option) []Report {
	return checkModule(ctx, wasmPath, entry, true, opts)
}

func checkModule(ctx context.Context, wasmPath, entry string, each bool, opts []Option) []Report {
	r := Report{Path: wasmPath, Entry: entry}
	pass := func(name, detail string) {
		r.Checks = append(r.Checks, CheckResult{Name: name, Passed: true, Detail: detail})
	}
	fail := func(name string, err error) []Report {
		r.Checks = append(r.Checks, CheckResult{Name: name, Detail: err.Error()})
		return []Report{r.skip(CheckExports, CheckImports, CheckInstantiate, CheckDescribe, CheckHandle, CheckReuse)}
	}

	o := newOptions(opts)
	d := deps{cache: newCache(o.checkCacheDir, o.logger), transport: newTransport(), opts: o}
	defer d.cache.Close(context.WithoutCancel(ctx))
	defer d.transport.CloseIdleConnections()

	rt, err := newRuntime(ctx, d, DefaultMemoryLimitPages)
	if err != nil {
		return fail(CheckCompile, err)
	}
	defer rt.Close(context.WithoutCancel(ctx))
	wasm, err := readModule(PluginConfig{Path: wasmPath})
	if err != nil {
		return fail(CheckCompile, err)
	}
	mod, err := compileModule(ctx, rt, wasm, wasmPath)
	var abiErr *abiError
	switch {
	case errors.As(err, &abiErr):
		pass(CheckCompile, "")
		for _, c := range []struct {
			name string
			err  error
		}{{CheckExports, abiErr.exports}, {CheckImports, abiErr.imports}} {
			if c.err != nil {
				r.Checks = append(r.Checks, CheckResult{Name: c.name, Detail: c.err.Error()})
			} else {
				pass(c.name, "")
			}
		}
		return []Report{r.skip(CheckInstantiate, CheckDescribe, CheckHandle, CheckReuse)}
	case err != nil:
		return fail(CheckCompile, err)
	}
	pass(CheckCompile, "")
	exports := "alloc, handle"
	if mod.hasDescribe {
		exports += ", describe"
	}
	if mod.hasSelect {
		exports += ", select"
	}
	pass(CheckExports, exports)
	pass(CheckImports, "")

	compiled := r.Checks
	r, err = checkPlugin(ctx, r, mod, d)
	var ee *entryError
	if !each || entry != "" || !errors.As(err, &ee) {
		return []Report{r}
	}
	reports := make([]Report, len(ee.plugins))
	for i, name := range ee.plugins {
		reports[i], _ = checkPlugin(ctx, Report{Path: wasmPath, Entry: name, Checks: slices.Clone(compiled)}, mod, d)
	}
	return reports
}

// checkPlugin runs the checks from instantiate on, for r.Entry, on a
// compiled module. The error is describe's, if it failed.
func checkPlugin(ctx context.Context, r Report, mod *module, d deps) (Report, error) {
	pass := func(name, detail string) {
		r.Checks = append(r.Checks, CheckResult{Name: name, Passed: true, Detail: detail})
	}
	fail := func(name string, err error) {
		r.Checks = append(r.Checks, CheckResult{Name: name, Detail: err.Error()})
	}
	p, err := newPlugin(PluginConfig{Name: "check", Path: r.Path, Entry: r.Entry, PoolSize: 1, Timeout: checkTimeout}, d)
	if err != nil {
		fail(CheckInstantiate, err)
		return r.skip(CheckDescribe, CheckHandle, CheckReuse), nil
	}
	p.mod = mod
	if err := p.checkEntry(); err != nil {
		fail(CheckInstantiate, err)
		return r.skip(CheckDescribe, CheckHandle, CheckReuse), nil
	}
	first, err := p.newInstance(ctx)
	var ee *entryError
	switch {
	case errors.As(err, &ee):
		fail(CheckInstantiate, err)
		return r.skip(CheckDescribe, CheckHandle, CheckReuse), nil
	case err != nil:
		fail(CheckInstantiate, p.classifyInit(ctx, err))
		return r.skip(CheckDescribe, CheckHandle, CheckReuse), nil
	}
	pass(CheckInstantiate, "")
	p.pool = newPool(1, first)
	defer p.close(context.WithoutCancel(ctx))

	describeErr := p.describe(ctx, first)
	if describeErr != nil {
		fail(CheckDescribe, describeErr)
		p.pool.discard(<-p.pool.slots) // handle may still be checked, on a fresh instance
	} else if mod.hasDescribe {
		r.Info = p.info
		pass(CheckDescribe, fmt.Sprintf("%s %s (%s)", p.info.Name, p.info.Version, p.info.Kind))
	} else {
		pass(CheckDescribe, "not exported (optional)")
	}

	var results []string
	before := p.stats.snapshot().Instantiations
	if describeErr != nil {
		before++ // the fresh instance
	}
	for _, req := range sampleRequests {
		res, err := p.invoke(ctx, req)
		if err != nil {
			fail(CheckHandle, fmt.Errorf("action %s: %w", req.Action, err))
			return r.skip(CheckReuse), describeErr
		}
		results = append(results, string(res.Status))
	}
	pass(CheckHandle, "answered "+strings.Join(results, ", "))

	if st := p.stats.snapshot(); st.Instantiations != before {
		fail(CheckReuse, fmt.Errorf("%d calls needed %d new instances", st.Calls, st.Instantiations-before))
		return r, describeErr
	}
	pass(CheckReuse, "")
	return r, describeErr
}

// skip adds the named checks as skipped: an earlier one failed.
func (r Report) skip(names ...string) Report {
	for _, n := range names {
		r.Checks = append(r.Checks, CheckResult{Name: n, Skipped: true})
	}
	return r
}
