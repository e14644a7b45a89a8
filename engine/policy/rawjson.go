package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// rawValue parses JSON straight into an ast.Value: the payload's data
// object and PacSpace's discrepancies arrive as JSON and are parsed once per
// event. ast.ValueFromReader decodes into Go maps and then converts those;
// going straight to AST terms takes half the allocations and bytes
// (BenchmarkRawValue). The result is ast.ValueFromReader's, numbers kept as
// their literals, except that trailing data after the value is an error, as
// in json.Marshal of a RawMessage: FuzzRawValue holds it to that.
func rawValue(b []byte) (ast.Value, error) { return (&termSlab{}).rawValue(b) }

func (ts *termSlab) rawValue(b []byte) (ast.Value, error) {
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v) // words the error
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	// One copy of the document as a string: every string and number in it
	// is a substring of that copy, so none needs an allocation of its own.
	p := rawParser{b: b, s: string(b), ts: ts}
	p.space()
	v := p.value()
	if p.err != nil {
		return nil, p.err
	}
	return v, nil
}

// rawParser reads JSON that json.Valid has accepted, so it checks only
// what JSON allows and OPA does not: huge exponents.
type rawParser struct {
	b   []byte
	s   string // b as a string
	i   int
	ts  *termSlab
	err error // a number OPA refuses to evaluate, such as 1e400000
}

func (p *rawParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *rawParser) value() ast.Value {
	switch c := p.b[p.i]; c {
	case '{':
		p.i++
		p.space()
		if p.b[p.i] == '}' {
			p.i++
			return ast.NewObject()
		}
		var kv [][2]*ast.Term
		for {
			k := p.ts.term(p.string())
			p.space()
			p.i++ // ':'
			p.space()
			v := p.ts.term(p.value())
			kv = append(kv, [2]*ast.Term{k, v})
			p.space()
			if p.b[p.i] == '}' {
				p.i++
				return object(kv)
			}
			p.i++ // ','
			p.space()
		}
	case '[':
		p.i++
		p.space()
		if p.b[p.i] == ']' {
			p.i++
			return ast.NewArray()
		}
		var elems []*ast.Term
		for {
			elems = append(elems, p.ts.term(p.value()))
			p.space()
			if p.b[p.i] == ']' {
				p.i++
				return ast.NewArray(elems...)
			}
			p.i++ // ','
			p.space()
		}
	case '"':
		return p.string()
	case 't':
		p.i += 4
		return ast.Boolean(true)
	case 'f':
		p.i += 5
		return ast.Boolean(false)
	case 'n':
		p.i += 4
		return ast.Null{}
	default:
		start := p.i
		for p.i < len(p.b) && isNumberByte(p.b[p.i]) {
			p.i++
		}
		n, err := ast.NumberChecked(p.s[start:p.i])
		if err != nil && p.err == nil {
			p.err = err
		}
		return n
	}
}

// string reads a string at p.i. Strings without escapes or invalid UTF-8,
// nearly all of them, are copied as they are; the others go through
// encoding/json, which decodes surrogate pairs and replaces invalid bytes.
func (p *rawParser) string() ast.String {
	start := p.i
	p.i++
	plain := true
	for {
		c := p.b[p.i]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			p.i++ // skip the escaped byte, which may be a quote
		} else if c >= utf8.RuneSelf {
			plain = false
		}
		p.i++
	}
	p.i++
	raw := p.b[start:p.i]
	if plain || utf8.Valid(raw) && bytes.IndexByte(raw, '\\') < 0 {
		return ast.String(p.s[start+1 : p.i-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s) // valid: json.Valid accepted the document
	return ast.String(s)
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// object builds an object; a key given twice keeps its last value, as
// encoding/json does.
func object(kv [][2]*ast.Term) ast.Object {
	if hasDuplicateKey(kv) {
		obj := ast.NewObjectWithCapacity(len(kv))
		for _, e := range kv {
			obj.Insert(e[0], e[1])
		}
		return obj
	}
	return ast.NewObject(kv...)
}

func hasDuplicateKey(kv [][2]*ast.Term) bool {
	if len(kv) <= 16 { // payload objects are small: compare pairwise, allocate nothing
		for i := 1; i < len(kv); i++ {
			for j := range i {
				if kv[i][0].Value.(ast.String) == kv[j][0].Value.(ast.String) {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[ast.String]struct{}, len(kv))
	for _, e := range kv {
		k := e[0].Value.(ast.String)
		if _, dup := seen[k]; dup {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}
