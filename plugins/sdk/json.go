package sdk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON scanner: it splits an object into raw member values without
// reflection, which in Wasm is many times faster than encoding/json. It
// checks structure, not every detail of validity: the host sends valid JSON.
//
// The SDK calls neither encoding/json nor fmt (it imports encoding/json for
// the RawMessage type only). Linking them would add about 1 MB to every
// plugin, which the host validates at every start and compiles on the
// first; see "Module size" in engine/wasmhost/RATIONALE.md.

var errSyntax = errors.New("invalid JSON")

// syntaxError is errSyntax saying what was wrong and where.
func syntaxError(what string, offset int) error {
	return &wrapError{errSyntax.Error() + ": " + what + " at offset " + strconv.Itoa(offset), errSyntax}
}

// wrapError is an error with context, as fmt.Errorf with %w would make.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

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
			return &wrapError{k + ": " + err.Error(), err}
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

func (it *objIter) fail(what string, offset int) bool {
	it.err = syntaxError(what, offset)
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
			return nil, nil, it.fail("not an object", i)
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return nil, nil, it.end(i + 1)
		}
	} else {
		switch {
		case i >= len(b):
			return nil, nil, it.fail("unterminated object", i)
		case b[i] == ',':
			i = skipSpace(b, i+1)
		case b[i] == '}':
			return nil, nil, it.end(i + 1)
		default:
			return nil, nil, it.fail("want ',' or '}'", i)
		}
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, it.fail("want a key", i)
	}
	end, err := skipString(b, i)
	if err != nil {
		it.err, it.done = err, true
		return nil, nil, false
	}
	key = b[i:end]
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, it.fail("want ':'", i)
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
		it.fail("data after the object", i)
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
		return 0, syntaxError("unterminated string", i)
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
		return 0, syntaxError("missing value", i)
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
		return 0, syntaxError("unterminated "+string(rune(c)), i)
	default:
		j := i
		for j < len(b) && !isDelim(b[j]) {
			j++
		}
		if j == i {
			return 0, syntaxError("unexpected "+strconv.QuoteRune(rune(c)), i)
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

// unquote decodes a raw JSON string; null decodes to "". As with
// encoding/json, invalid UTF-8 and unpaired surrogates become U+FFFD.
func unquote(raw []byte) (string, error) {
	if string(raw) == "null" {
		return "", nil
	}
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", syntaxError("not a string", 0)
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	b := make([]byte, 0, len(inner))
	for i := 0; i < len(inner); {
		c := inner[i]
		switch {
		case c == '\\':
			r, n := unescape(inner[i:])
			if n == 0 {
				return "", syntaxError("bad escape", i+1)
			}
			b = utf8.AppendRune(b, r)
			i += n
		case c < 0x20:
			return "", syntaxError("control character in string", i+1)
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(inner[i:])
			b = utf8.AppendRune(b, r) // RuneError for invalid UTF-8
			i += size
		}
	}
	return string(b), nil
}

// unescape decodes the escape sequence at the start of s, a surrogate pair
// as one rune, and returns it with its length; n is 0 if it is not valid.
func unescape(s []byte) (r rune, n int) {
	if len(s) < 2 {
		return 0, 0
	}
	switch s[1] {
	case '"', '\\', '/':
		return rune(s[1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, ok := hex4(s[2:])
		if !ok {
			return 0, 0
		}
		if !utf16.IsSurrogate(r) {
			return r, 6
		}
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if r2, ok := hex4(s[8:]); ok {
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					return pair, 12
				}
			}
		}
		return utf8.RuneError, 6
	}
	return 0, 0
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
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

// FieldsCache parses an object once and returns the same Fields while it is
// given the same bytes: for a plugin's config, which the host sends
// unchanged with every call. It is ConfigCache without encoding/json.
type FieldsCache struct {
	raw []byte
	f   Fields
	err error
}

// Get returns the members of raw (Request.Config).
func (c *FieldsCache) Get(raw []byte) (Fields, error) {
	if c.raw != nil && bytes.Equal(c.raw, raw) {
		return c.f, c.err
	}
	c.raw = append([]byte{}, raw...) // the Fields point into this copy
	c.f, c.err = ParseFields(c.raw)
	return c.f, c.err
}

// ParseArray splits a JSON array into its raw elements.
func ParseArray(arr []byte) ([]json.RawMessage, error) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, syntaxError("not an array", i)
	}
	var elems []json.RawMessage
	for i = skipSpace(arr, i+1); i < len(arr) && arr[i] != ']'; {
		if len(elems) > 0 {
			if arr[i] != ',' {
				return nil, syntaxError("want ',' or ']'", i)
			}
			i = skipSpace(arr, i+1)
		}
		end, err := skipValue(arr, i)
		if err != nil {
			return nil, err
		}
		elems = append(elems, arr[i:end])
		i = skipSpace(arr, end)
	}
	if i >= len(arr) {
		return nil, syntaxError("unterminated array", i)
	}
	if skipSpace(arr, i+1) != len(arr) {
		return nil, syntaxError("data after the array", i+1)
	}
	return elems, nil
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
		if c, err := appendCompact(nil, v); err == nil {
			return string(c)
		}
	}
	return string(v)
}
