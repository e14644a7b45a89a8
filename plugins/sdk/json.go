package sdk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// A small JSON scanner: it splits an object into raw member values without
// reflection, which in Wasm is many times faster than encoding/json. It
// checks structure, not every detail of validity: the host sends valid JSON.

var errSyntax = errors.New("invalid JSON")

// eachMember calls fn with the key and raw value of each member of the JSON
// object b, in order.
func eachMember(b []byte, fn func(key string, value []byte) error) error {
	it := objIter{b: b}
	for {
		key, val, ok := it.next()
		if !ok {
			return it.err
		}
		k, err := unquote(key)
		if err != nil {
			return err
		}
		if err := fn(k, val); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
}

// objIter walks the members of a JSON object without allocating. key is the
// raw key, quotes included.
type objIter struct {
	b       []byte
	i       int
	started bool
	done    bool
	err     error
}

func (it *objIter) fail(format string, args ...any) bool {
	it.err = fmt.Errorf("%w: "+format, append([]any{errSyntax}, args...)...)
	it.done = true
	return false
}

// next returns the next member; ok is false at the end or on error (it.err).
func (it *objIter) next() (key, val []byte, ok bool) {
	if it.done {
		return nil, nil, false
	}
	b := it.b
	i := skipSpace(b, it.i)
	if !it.started {
		it.started = true
		if i >= len(b) || b[i] != '{' {
			return nil, nil, it.fail("not an object")
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return nil, nil, it.end(i + 1)
		}
	} else {
		switch {
		case i >= len(b):
			return nil, nil, it.fail("unterminated object")
		case b[i] == ',':
			i = skipSpace(b, i+1)
		case b[i] == '}':
			return nil, nil, it.end(i + 1)
		default:
			return nil, nil, it.fail("want ',' or '}' at offset %d", i)
		}
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, it.fail("want a key at offset %d", i)
	}
	end, err := skipString(b, i)
	if err != nil {
		it.err, it.done = err, true
		return nil, nil, false
	}
	key = b[i:end]
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, it.fail("want ':' at offset %d", i)
	}
	i = skipSpace(b, i+1)
	end, err = skipValue(b, i)
	if err != nil {
		it.err, it.done = err, true
		return nil, nil, false
	}
	it.i = end
	return key, b[i:end], true
}

func (it *objIter) end(i int) bool {
	it.done = true
	if skipSpace(it.b, i) != len(it.b) {
		it.fail("data after the object")
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	end, _, ok := scanString(b, i)
	if !ok {
		return 0, fmt.Errorf("%w: unterminated string", errSyntax)
	}
	return end, nil
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// scanString finds the end of the string starting at b[i] == '"' and
// whether it has escapes. It looks at eight bytes at a time: under the
// host's deadline checks each loop iteration in Wasm costs as much as dozens
// of instructions, so a byte-at-a-time loop (or memchr's) is what makes JSON
// decoding slow in a guest.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	j := i + 1
	for {
		for j+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[j:])
			q, e := x^('"'*swarLo), x^('\\'*swarLo)
			m := ((q-swarLo)&^q | (e-swarLo)&^e) & swarHi
			if m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j >= len(b) {
			return 0, false, false
		}
		if b[j] == '"' {
			return j + 1, escaped, true
		}
		escaped = true
		j += 2 // the backslash and the character it escapes
	}
}

// skipValue returns the offset just past the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", errSyntax)
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		// One loop over the bytes, strings handled inline: in Wasm under
		// the host's deadline checks every loop iteration and function
		// call costs, so this avoids both.
		depth, inString := 0, false
		for j := i; j < len(b); j++ {
			switch ch := b[j]; {
			case inString:
				if ch == '\\' {
					j++
				} else if ch == '"' {
					inString = false
				}
			case ch == '"':
				inString = true
			case ch == '{' || ch == '[':
				depth++
			case ch == '}' || ch == ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: unterminated %c", errSyntax, c)
	default:
		j := i
		for j < len(b) && !isDelim(b[j]) {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%w: unexpected %q at offset %d", errSyntax, c, i)
		}
		return j, nil
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// unquote decodes a raw JSON string; null decodes to "".
func unquote(raw []byte) (string, error) {
	if string(raw) == "null" {
		return "", nil
	}
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("%w: not a string", errSyntax)
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// Field is one member of a JSON object, its value still raw.
type Field struct {
	Key   string
	Value json.RawMessage
}

// Fields are an object's members in their original order.
type Fields []Field

// ParseFields splits a JSON object into its members.
func ParseFields(obj []byte) (Fields, error) {
	var f Fields
	err := eachMember(obj, func(k string, v []byte) error {
		f = append(f, Field{Key: k, Value: v})
		return nil
	})
	return f, err
}

// Raw returns the raw value of key; of duplicate keys the last wins, as in
// encoding/json.
func (f Fields) Raw(key string) (json.RawMessage, bool) {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i].Key == key {
			return f[i].Value, true
		}
	}
	return nil, false
}

// String returns key's value if it is a string, else "".
func (f Fields) String(key string) string {
	v, ok := f.Raw(key)
	if !ok || len(v) == 0 || v[0] != '"' {
		return ""
	}
	s, _ := unquote(v)
	return s
}

// Number returns key's value if it is a number.
func (f Fields) Number(key string) (float64, bool) {
	v, ok := f.Raw(key)
	if !ok || len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		return 0, false
	}
	n, err := strconv.ParseFloat(string(v), 64)
	return n, err == nil
}

// Bool returns key's value if it is true or false.
func (f Fields) Bool(key string) (value, ok bool) {
	v, _ := f.Raw(key)
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// Text renders a raw scalar for display: strings unquoted, numbers and
// literals as written; objects and arrays as compact JSON.
func Text(v json.RawMessage) string {
	if len(v) > 0 && v[0] == '"' {
		s, err := unquote(v)
		if err == nil {
			return s
		}
	}
	if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			return buf.String()
		}
	}
	return string(v)
}
