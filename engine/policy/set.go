package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	opametrics "github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/arbiter-dev/arbiter/engine"
)

// Query is the one query Arbiter evaluates for every input document. It
// must produce {"actions": [ACTION, ...]}; see Decide.
const Query = "data.arbiter.decision"

var queryRef = ast.MustParseRef(Query)

// Set is a loaded, compiled and tested policy set, prepared for evaluation.
// It is immutable and safe for concurrent use.
type Set struct {
	revision string
	digest   string // the content hash: the revision of a directory, not always of a bundle
	files    []string
	tests    TestReport
	compiler *ast.Compiler
	store    storage.Store
	query    ast.Body // Query compiled, its value bound to decisionVar
	data     dataCache
}

// Revision is the hex SHA-256 of the set's file names, their contents and
// the merged data, overrides included: the same files and data always give
// the same revision. A bundle's revision is its manifest's (see
// LoadBundle).
func (s *Set) Revision() string { return s.revision }

// Files are the set's files as shown to the operator, sorted.
func (s *Set) Files() []string { return slices.Clone(s.files) }

// Tests is the result of the set's own tests, all passing.
func (s *Set) Tests() TestReport { return s.tests }

// ShortRevision is the first 12 hex digits of a content hash, for display.
// A bundle's revision is its author's name for it and is shown whole.
func ShortRevision(rev string) string {
	if len(rev) == sha256.Size*2 && isHex(rev) {
		return rev[:12]
	}
	return rev
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(hexDigits, rune(s[i])) {
			return false
		}
	}
	return true
}

// Load reads, compiles and gates a policy set: every non-test module
// compiles into the evaluation set, a rule defines data.arbiter.decision,
// and every test in the _test.rego modules passes. A set that does not
// compile is rejected with a *CompileError, one whose tests fail with a
// *GateError; both list their problems with file:row.
func Load(ctx context.Context, src Source) (*Set, error) {
	if err := src.validate(); err != nil {
		return nil, err
	}
	if src.Bundle != nil {
		return nil, errors.New("policy: load: a bundle source is fetched by an Engine, or loaded with LoadBundle")
	}
	snap, err := read(src)
	if err != nil {
		return nil, err
	}
	return load(ctx, snap, src, "")
}

// load compiles and gates a snapshot of src. revision names the set;
// empty, it is the hash of the snapshot and its merged data.
func load(ctx context.Context, snap *snapshot, src Source, revision string) (*Set, error) {
	loaded, err := loader.NewFileLoader().
		WithFS(snap.fs()).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		Filtered([]string{"."}, nil)
	if err != nil {
		return nil, &CompileError{Problems: loaderProblems(err, snap)}
	}
	fileData := loaded.Documents
	data, problems := applyOverrides(fileData, src.DataOverrides)
	if len(problems) > 0 {
		return nil, &CompileError{Problems: problems}
	}
	digest, err := revisionOf(snap, data)
	if err != nil {
		return nil, err
	}
	if revision == "" {
		revision = digest
	}

	all := make(map[string]*ast.Module, len(loaded.Modules))
	evalModules := make(map[string]*ast.Module, len(loaded.Modules))
	for name, f := range loaded.Modules {
		all[name] = f.Parsed
		if !isTestModule(name) {
			evalModules[name] = f.Parsed
		}
	}
	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithCapabilities(capabilities())
	if compiler.Compile(evalModules); compiler.Failed() {
		return nil, &CompileError{Problems: astProblems(compiler.Errors, snap.display)}
	}
	if len(compiler.GetRules(queryRef)) == 0 {
		return nil, &CompileError{Problems: []Problem{{
			Code:    CodeMissingDecision,
			Message: "no rule defines " + Query + " in " + snap.display("."),
		}}}
	}

	// The tests pin the thresholds of the data files (a boundary test of
	// the default drift threshold would fail under an override), so they
	// run against the data files alone.
	report, err := runTests(ctx, all, fileData, snap)
	if err != nil {
		return nil, err
	}

	store := inmem.NewFromObjectWithOpts(data,
		inmem.OptRoundTripOnWrite(false),     // data comes fresh from the loader and is never written again
		inmem.OptReturnASTValuesOnRead(true)) // convert data to AST once, not on every evaluation
	cache, err := readData(ctx, store)
	if err != nil {
		return nil, err
	}
	query, err := compiler.QueryCompiler().Compile(ast.NewBody(ast.Equality.Expr(ast.NewTerm(decisionVar), ast.NewTerm(queryRef))))
	if err != nil {
		if errs, ok := errors.AsType[ast.Errors](err); ok {
			return nil, &CompileError{Problems: astProblems(errs, snap.display)}
		}
		return nil, fmt.Errorf("policy: compile %s: %w", Query, err)
	}
	files := make([]string, len(snap.names))
	for i, n := range snap.names {
		files[i] = snap.display(n)
	}
	return &Set{revision: revision, digest: digest, files: files, tests: report, compiler: compiler, store: store, query: query, data: cache}, nil
}

// noMetrics spares every evaluation a fresh metrics.Metrics it would
// fill and drop; Engine keeps its own.
var noMetrics = opametrics.NoOp()

// deniedBuiltins reach the network. A decision must not wait on, or leak
// to, other hosts: plugins are the only doors out, with their allow lists
// and deadlines. A policy that calls one fails to compile, with file:row.
var deniedBuiltins = map[string]bool{"http.send": true, "net.lookup_ip_addr": true}

// capabilities are OPA's, less deniedBuiltins.
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool { return deniedBuiltins[b.Name] })
	return caps
}

// decisionVar is bound to the decision in the compiled query.
var decisionVar = ast.Var("decision")

// applyOverrides deep-merges overrides over data and returns the merged
// document; data itself is not changed. Objects merge key by key; any other
// value replaces. A key that data does not have is a problem: an override
// with a typo must not leave the default silently in force.
func applyOverrides(data map[string]any, overrides map[string]any) (map[string]any, []Problem) {
	if len(overrides) == 0 {
		return data, nil
	}
	// Normalize to what the loader produces (json.Number, []any, map[string]any).
	b, err := json.Marshal(overrides)
	if err != nil {
		return nil, []Problem{{Code: CodeOverrideError, Message: "data overrides are not JSON: " + err.Error()}}
	}
	var over map[string]any
	if err := util.UnmarshalJSON(b, &over); err != nil {
		return nil, []Problem{{Code: CodeOverrideError, Message: "data overrides: " + err.Error()}}
	}
	var problems []Problem
	merged := mergeInto(data, over, "data", &problems)
	sortProblems(problems)
	slices.SortStableFunc(problems, func(a, b Problem) int { return strings.Compare(a.Message, b.Message) })
	return merged, problems
}

func mergeInto(dst, over map[string]any, path string, problems *[]Problem) map[string]any {
	out := maps.Clone(dst)
	for k, ov := range over {
		p := path + "." + k
		dv, ok := dst[k]
		if !ok {
			*problems = append(*problems, Problem{Code: CodeOverrideError, Message: p + ": no such key in the policy data"})
			continue
		}
		dm, dIsObj := dv.(map[string]any)
		om, oIsObj := ov.(map[string]any)
		switch {
		case dIsObj && oIsObj:
			out[k] = mergeInto(dm, om, p, problems)
		case dIsObj != oIsObj:
			*problems = append(*problems, Problem{Code: CodeOverrideError, Message: p + ": an object cannot be overridden by a non-object or the other way round"})
		default:
			out[k] = ov
		}
	}
	return out
}

// revisionOf hashes the file names and contents, in name order, and the
// merged data as canonical JSON (encoding/json sorts object keys).
func revisionOf(snap *snapshot, data map[string]any) (string, error) {
	h := sha256.New()
	var n [8]byte
	for _, name := range snap.names {
		h.Write([]byte(name))
		h.Write([]byte{0})
		binary.BigEndian.PutUint64(n[:], uint64(len(snap.files[name])))
		h.Write(n[:])
		h.Write(snap.files[name])
	}
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("policy: revision: %w", err)
	}
	h.Write([]byte("data\x00"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Decision is what a policy set decided for one input document.
type Decision struct {
	Revision     string          // the set that decided
	Actions      []engine.Action // in the order the policy produced them; empty when nothing fires
	EvalDuration time.Duration   // input conversion and evaluation
}

// Decide evaluates the set for in. The decision must be undefined, or an
// object whose "actions" (if present) is an array or set of objects, each
// with non-empty string "type", "reason" and "severity" and, if present,
// "targets" as an array of strings. Anything else is an ErrDecision naming
// the offending action.
func (s *Set) Decide(ctx context.Context, in *engine.Input) (Decision, error) {
	start := time.Now()
	d := Decision{Revision: s.revision}
	b := getInputBuilder()
	defer putInputBuilder(b)
	v, err := b.value(in)
	if err != nil {
		return d, err
	}
	t, err := s.eval(ctx, b.term(v), s.data)
	if err != nil {
		return d, fmt.Errorf("%w: %w", ErrDecision, err)
	}
	if t != nil {
		if d.Actions, err = actionsOf(t.Value); err != nil {
			return d, fmt.Errorf("%w: %w", ErrDecision, err)
		}
	}
	d.EvalDuration = time.Since(start)
	return d, nil
}

// eval evaluates the query for input with topdown, OPA's evaluator, and
// returns the decision, nil if it is undefined. data caches base
// documents: the set's dataCache, or nil for one of OPA's own.
//
// rego, the usual way in, would add an allocation for every option and
// start a goroutine to watch ctx; the evaluator can ask ctx itself.
func (s *Set) eval(ctx context.Context, input *ast.Term, data topdown.BaseCache) (*ast.Term, error) {
	txn, err := s.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer s.store.Abort(ctx, txn)
	st := getEvalState(ctx)
	defer putEvalState(st)
	err = topdown.NewQuery(s.query).
		WithCompiler(s.compiler).
		WithStore(s.store).
		WithTransaction(txn).
		WithInput(input).
		WithBaseCache(data).
		WithVirtualCache(&st.cache).
		WithCancel(&st.cancel).
		WithMetrics(noMetrics).
		WithRequestMetadata(noRequestMetadata).
		Iter(ctx, st.iter)
	return st.decision, err
}

// noRequestMetadata spares every evaluation the empty map the evaluator
// would make. It is only handed to builtins, and none of OPA's writes it.
var noRequestMetadata = map[string]any{}

// evalState is what one evaluation needs besides the evaluator itself:
// pooled, so that a decision does not allocate it again. Nothing in it
// outlives the evaluation: eval takes the decision out before the state
// goes back, and putEvalState drops every reference it held, the cached
// values of rules included.
type evalState struct {
	cache    evalCache
	cancel   ctxCancel
	decision *ast.Term
	iter     func(topdown.QueryResult) error // sets decision; made once, not per evaluation
}

var evalStates = sync.Pool{New: func() any {
	st := &evalState{}
	st.cache.reset()
	st.iter = func(qr topdown.QueryResult) error {
		st.decision = qr[decisionVar]
		return nil
	}
	return st
}}

func getEvalState(ctx context.Context) *evalState {
	st := evalStates.Get().(*evalState)
	st.cancel.ctx = ctx
	return st
}

func putEvalState(st *evalState) {
	st.cancel.ctx = nil
	st.decision = nil
	st.cache.reset()
	evalStates.Put(st)
}

// ctxCancel stops an evaluation once its context is done. The evaluator
// asks before every step, and ctx.Err is an atomic load; a flag set from a
// callback registered on ctx would cost two allocations and a lock of the
// parent context, which every partition's decisions share.
type ctxCancel struct{ ctx context.Context }

// Cancel does nothing: the context is what cancels.
func (*ctxCancel) Cancel() {}

func (c *ctxCancel) Cancelled() bool { return c.ctx.Err() != nil }

var (
	kActions  = ast.StringTerm("actions")
	kTargets  = ast.StringTerm("targets")
	kSeverity = ast.StringTerm("severity")
)

func actionsOf(decision ast.Value) ([]engine.Action, error) {
	obj, ok := decision.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%s is %s, want an object {\"actions\": [...]}", Query, ast.ValueName(decision))
	}
	at := obj.Get(kActions)
	if at == nil {
		return nil, nil
	}
	elems, ok := elemsOf(at.Value)
	if !ok {
		return nil, fmt.Errorf("%s.actions is %s, want an array", Query, ast.ValueName(at.Value))
	}
	if len(elems) == 0 {
		return nil, nil
	}
	actions := make([]engine.Action, 0, len(elems))
	for i, e := range elems {
		a, err := actionOf(e.Value)
		if err != nil {
			return nil, fmt.Errorf("%s.actions[%d] %s: %w", Query, i, abbreviate(e.String()), err)
		}
		actions = append(actions, a)
	}
	return actions, nil
}

func actionOf(v ast.Value) (engine.Action, error) {
	var a engine.Action
	obj, ok := v.(ast.Object)
	if !ok {
		return a, fmt.Errorf("is %s, want an object", ast.ValueName(v))
	}
	var missing []string
	for _, f := range []struct {
		key *ast.Term
		dst *string
	}{{kType, &a.Type}, {kReason, &a.Reason}, {kSeverity, &a.Severity}} {
		t := obj.Get(f.key)
		s, ok := stringOf(t)
		if !ok || s == "" {
			missing = append(missing, string(f.key.Value.(ast.String)))
			continue
		}
		*f.dst = s
	}
	if len(missing) > 0 {
		return a, fmt.Errorf("lacks a non-empty string %s", strings.Join(missing, ", "))
	}
	a.Targets = []string{}
	if t := obj.Get(kTargets); t != nil {
		elems, ok := elemsOf(t.Value)
		if !ok {
			return a, fmt.Errorf("targets is %s, want an array of strings", ast.ValueName(t.Value))
		}
		for _, e := range elems {
			s, ok := stringOf(e)
			if !ok {
				return a, fmt.Errorf("targets has %s, want strings", e)
			}
			a.Targets = append(a.Targets, s)
		}
	}
	raw, err := appendJSON(nil, obj)
	if err != nil {
		return a, err
	}
	a.Raw = raw
	return a, nil
}

// elemsOf returns the elements of an array, or of a set in sorted order.
func elemsOf(v ast.Value) ([]*ast.Term, bool) {
	switch x := v.(type) {
	case *ast.Array:
		elems := make([]*ast.Term, x.Len())
		for i := range elems {
			elems[i] = x.Elem(i)
		}
		return elems, true
	case ast.Set:
		return x.Slice(), true
	}
	return nil, false
}

func stringOf(t *ast.Term) (string, bool) {
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

func abbreviate(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// appendJSON writes v as compact JSON with object keys sorted, the form
// plugins receive: the same action always has the same bytes.
func appendJSON(b []byte, v ast.Value) ([]byte, error) {
	switch x := v.(type) {
	case ast.Null:
		return append(b, "null"...), nil
	case ast.Boolean:
		return append(b, x.String()...), nil
	case ast.Number:
		return append(b, x...), nil
	case ast.String:
		return appendJSONString(b, string(x)), nil
	case *ast.Array:
		b = append(b, '[')
		for i := 0; i < x.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, x.Elem(i).Value); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case ast.Set:
		return appendJSON(b, x.Sorted())
	case ast.Object:
		type kv struct {
			k string
			v ast.Value
		}
		kvs := make([]kv, 0, x.Len())
		var err error
		x.Foreach(func(k, v *ast.Term) {
			ks, ok := k.Value.(ast.String)
			if !ok {
				err = fmt.Errorf("object key %s is not a string", k)
				return
			}
			kvs = append(kvs, kv{string(ks), v.Value})
		})
		if err != nil {
			return nil, err
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
		b = append(b, '{')
		for i, e := range kvs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e.k)
			b = append(b, ':')
			if b, err = appendJSON(b, e.v); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	default:
		return nil, fmt.Errorf("%s is not JSON", ast.ValueName(v))
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string: quote, backslash and control
// characters escaped, invalid UTF-8 as U+FFFD, nothing else changed.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
