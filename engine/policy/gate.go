package policy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Test outcomes.
const (
	OutcomePass  = "pass"
	OutcomeFail  = "fail"  // the test was false or undefined
	OutcomeError = "error" // evaluating the test failed, e.g. a conflict or a timeout
	OutcomeSkip  = "skip"  // a todo_ test
)

// TestReport is the outcome of a policy set's own tests, run in process
// with OPA's tester, as opa test would run them.
type TestReport struct {
	Results  []TestResult  `json:"results"`
	Passed   int           `json:"passed"`
	Failed   int           `json:"failed"` // failed or errored
	Skipped  int           `json:"skipped"`
	Duration time.Duration `json:"duration"` // wall time of the whole run
}

// Total is the number of tests found.
func (r TestReport) Total() int { return r.Passed + r.Failed + r.Skipped }

// TestResult is one test's outcome. For a failure, File and Row point at
// the expression that failed when it can be found, and Message shows it.
type TestResult struct {
	Name     string        `json:"name"` // data.package.test_name
	File     string        `json:"file"`
	Row      int           `json:"row"`
	Outcome  string        `json:"outcome"`
	Duration time.Duration `json:"duration"`
	Message  string        `json:"message,omitempty"`
	Output   string        `json:"output,omitempty"` // what the test print()ed
}

// testTimeout bounds one test, as opa test does by default.
const testTimeout = 5 * time.Second

// runTests runs every test of modules against data. A failing test makes a
// *GateError; a test module that does not compile, a *CompileError.
func runTests(ctx context.Context, modules map[string]*ast.Module, data map[string]any, snap *snapshot) (TestReport, error) {
	start := time.Now()
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return TestReport{}, fmt.Errorf("policy: test: %w", err)
	}
	defer store.Abort(ctx, txn)

	results, err := runner(store, modules).RunTests(ctx, txn)
	if err != nil {
		if errs, ok := errors.AsType[ast.Errors](err); ok {
			return TestReport{}, &CompileError{Problems: astProblems(errs, snap.display)}
		}
		return TestReport{}, fmt.Errorf("policy: test: %w", err)
	}
	var rep TestReport
	var failed []string
	for tr := range results {
		r := TestResult{
			Name:     tr.Package + "." + tr.Name,
			Duration: tr.Duration,
			Output:   string(tr.Output),
		}
		if tr.Location != nil {
			r.File, r.Row = snap.display(tr.Location.File), tr.Location.Row
		}
		switch {
		case tr.Skip:
			r.Outcome = OutcomeSkip
			rep.Skipped++
		case tr.Error != nil:
			r.Outcome = OutcomeError
			r.Message = errorMessage(tr.Error, snap)
			rep.Failed++
		case tr.Fail:
			r.Outcome = OutcomeFail
			r.Message = "test failed"
			rep.Failed++
			failed = append(failed, r.Name)
		default:
			r.Outcome = OutcomePass
			rep.Passed++
		}
		rep.Results = append(rep.Results, r)
	}
	if err := ctx.Err(); err != nil {
		return TestReport{}, fmt.Errorf("policy: test: %w", err)
	}
	slices.SortFunc(rep.Results, func(a, b TestResult) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(failed) > 0 {
		// Tracing every test would slow every reload; trace only the
		// failures, again, to show the expression that failed.
		lines := failureLines(ctx, store, txn, modules, failed, snap)
		for i, r := range rep.Results {
			if l, ok := lines[r.Name]; ok {
				rep.Results[i].File, rep.Results[i].Row, rep.Results[i].Message = l.file, l.row, l.message
			}
		}
	}
	rep.Duration = time.Since(start)
	if rep.Failed > 0 {
		ge := &GateError{Tests: rep}
		for _, r := range rep.Results {
			if r.Outcome != OutcomeFail && r.Outcome != OutcomeError {
				continue
			}
			code := CodeTestFailed
			if r.Outcome == OutcomeError {
				code = CodeTestError
			}
			ge.Problems = append(ge.Problems, Problem{File: r.File, Row: r.Row, Code: code, Test: r.Name, Message: r.Message})
		}
		return rep, ge
	}
	return rep, nil
}

func runner(store storage.Store, modules map[string]*ast.Module) *tester.Runner {
	return tester.NewRunner().
		SetCompiler(ast.NewCompiler().
			WithCapabilities(capabilities()).
			WithEnablePrintStatements(true).
			WithDefaultRegoVersion(ast.RegoV1)).
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetModules(modules).
		SetTimeout(testTimeout)
}

func errorMessage(err error, snap *snapshot) string {
	if te, ok := errors.AsType[*topdown.Error](err); ok {
		msg := te.Code + ": " + te.Message
		if te.Location != nil {
			msg += fmt.Sprintf(" (at %s:%d)", snap.display(te.Location.File), te.Location.Row)
		}
		return msg
	}
	return err.Error()
}

type failureLine struct {
	file    string
	row     int
	message string
}

// failureLines runs the named tests again with tracing and finds, as
// opa test --show-failure-line does, the last expression that failed in
// each. Tests it cannot trace keep their plain "test failed".
func failureLines(ctx context.Context, store storage.Store, txn storage.Transaction, modules map[string]*ast.Module, names []string, snap *snapshot) map[string]failureLine {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	results, err := runner(store, modules).
		EnableTracing(true).
		Filter("^("+strings.Join(quoted, "|")+")$").
		RunTests(ctx, txn)
	if err != nil {
		return nil
	}
	lines := map[string]failureLine{}
	for tr := range results {
		for _, e := range slices.Backward(tr.Trace) {
			if e.Op != topdown.FailOp || e.Location == nil || e.QueryID == 0 {
				continue
			}
			expr, ok := e.Node.(*ast.Expr)
			if !ok {
				continue
			}
			if _, isEvery := expr.Terms.(*ast.Every); isEvery {
				continue // the failing expression inside its body is the one to show
			}
			text, _, _ := strings.Cut(strings.TrimSpace(string(e.Location.Text)), "\n")
			lines[tr.Package+"."+tr.Name] = failureLine{
				file:    snap.display(e.Location.File),
				row:     e.Location.Row,
				message: "failed: " + text,
			}
			break
		}
	}
	return lines
}
