package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
)

// Problem codes Arbiter adds to OPA's own (rego_parse_error,
// rego_compile_error, rego_type_error, ...).
const (
	CodeDataError       = "data_error"       // a data.json or data.yaml file that is not a JSON object
	CodeOverrideError   = "override_error"   // a data override that names no key of the set's data
	CodeMissingDecision = "missing_decision" // no rule defines data.arbiter.decision
	CodeTestFailed      = "test_failed"      // a _test.rego test evaluated to false or undefined
	CodeTestError       = "test_error"       // evaluating a test failed: a conflict, a builtin error, a timeout
)

// Problem is one located error in a policy set: a parse, compile or data
// error, or a failed test.
type Problem struct {
	File    string `json:"file,omitempty"`
	Row     int    `json:"row,omitempty"`
	Col     int    `json:"col,omitempty"`
	Code    string `json:"code"`
	Test    string `json:"test,omitempty"` // data.package.test_name, for a failed test
	Message string `json:"message"`
}

// String formats p as "file:row:col: code: message", leaving out the parts
// that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Row > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Row))
			if p.Col > 0 {
				b.WriteByte(':')
				b.WriteString(strconv.Itoa(p.Col))
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Code)
	b.WriteString(": ")
	if p.Test != "" {
		b.WriteString(p.Test)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// CompileError rejects a policy set that does not compile: a module that
// does not parse or compile, a data file that is not valid, an override that
// does not fit the data, or no decision rule.
type CompileError struct {
	Problems []Problem
}

func (e *CompileError) Error() string { return formatProblems("policy: compile", e.Problems) }

// GateError rejects a policy set that compiles but whose own _test.rego
// tests do not all pass. Tests holds every result, passing ones included.
type GateError struct {
	Problems []Problem
	Tests    TestReport
}

func (e *GateError) Error() string {
	return formatProblems(fmt.Sprintf("policy: %d of %d tests failed", e.Tests.Failed, e.Tests.Total()), e.Problems)
}

// ErrDecision wraps every error that comes from evaluating a loaded set: an
// evaluation error (such as a conflict between complete rules) or a decision
// that does not have the required shape.
var ErrDecision = errors.New("policy: decide")

func formatProblems(prefix string, ps []Problem) string {
	var b strings.Builder
	b.WriteString(prefix)
	switch len(ps) {
	case 0:
	case 1:
		b.WriteString(": ")
		b.WriteString(ps[0].String())
	default:
		fmt.Fprintf(&b, ": %d problems:", len(ps))
		for _, p := range ps {
			b.WriteString("\n\t")
			b.WriteString(p.String())
		}
	}
	return b.String()
}

// ProblemsOf returns the located problems err carries, if it is a
// *CompileError or a *GateError.
func ProblemsOf(err error) []Problem {
	if ce, ok := errors.AsType[*CompileError](err); ok {
		return ce.Problems
	}
	if ge, ok := errors.AsType[*GateError](err); ok {
		return ge.Problems
	}
	return nil
}

// astProblems turns OPA's located errors into problems; display maps a file
// name inside the source to the name shown to the operator.
func astProblems(errs ast.Errors, display func(string) string) []Problem {
	ps := make([]Problem, 0, len(errs))
	for _, e := range errs {
		p := Problem{Code: e.Code, Message: e.Message}
		if e.Location != nil {
			p.File, p.Row, p.Col = display(e.Location.File), e.Location.Row, e.Location.Col
		}
		if e.Details != nil {
			for _, line := range e.Details.Lines() {
				p.Message += "\n\t\t" + line
			}
		}
		ps = append(ps, p)
	}
	sortProblems(ps)
	return ps
}

var yamlLine = regexp.MustCompile(`\byaml: line (\d+):`)

// loaderProblems turns the errors of OPA's loader into problems. Rego
// errors come located; data file errors come as "name: message", so the
// file is recognized by its name and, for JSON syntax errors, the row and
// column computed from the byte offset in the snapshot.
func loaderProblems(err error, snap *snapshot) []Problem {
	var errs []error
	if le, ok := errors.AsType[loader.Errors](err); ok {
		errs = le
	} else {
		errs = []error{err}
	}
	var ps []Problem
	for _, e := range errs {
		if ae, ok := errors.AsType[*ast.Error](e); ok {
			ps = append(ps, astProblems(ast.Errors{ae}, snap.display)...)
			continue
		}
		if ae, ok := errors.AsType[ast.Errors](e); ok {
			ps = append(ps, astProblems(ae, snap.display)...)
			continue
		}
		p := Problem{Code: CodeDataError, Message: e.Error()}
		// The longest file name the message starts with is the file.
		for _, name := range snap.names {
			if strings.HasPrefix(p.Message, name+":") && len(name) >= len(p.File) {
				p.File = name
			}
		}
		if p.File != "" {
			p.Message = strings.TrimSpace(strings.TrimPrefix(p.Message, p.File+":"))
			if se, ok := errors.AsType[*json.SyntaxError](e); ok {
				p.Row, p.Col = position(snap.files[p.File], se.Offset)
			} else if m := yamlLine.FindStringSubmatch(p.Message); m != nil {
				p.Row, _ = strconv.Atoi(m[1])
			}
			p.File = snap.display(p.File)
		}
		ps = append(ps, p)
	}
	sortProblems(ps)
	return ps
}

// position returns the 1-based row and column of the byte at offset. A JSON
// syntax error's offset is just past the offending byte.
func position(b []byte, offset int64) (row, col int) {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	if offset > 0 {
		offset-- // the offending byte itself
	}
	row, col = 1, 1
	for _, c := range b[:offset] {
		if c == '\n' {
			row++
			col = 1
		} else {
			col++
		}
	}
	return row, col
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return a.Col - b.Col
	})
}
