package sdk

import (
	"strconv"

	"github.com/arbiter-dev/arbiter/plugins/abi"
)

// JSON writes a JSON document by appending to a byte slice, without
// reflection: what a plugin uses instead of encoding/json.Marshal, which
// would make its module about 1 MB larger. Commas are placed for you:
//
//	var j sdk.JSON
//	j.Object()
//	j.Key("text").String("drift on cus_42")
//	j.Key("blocks").Array()
//	j.Object().Key("type").String("divider").End()
//	j.End() // blocks
//	j.End() // the object
//	body := j.Bytes() // {"text":"drift on cus_42","blocks":[{"type":"divider"}]}
//
// Strings are escaped as abi.AppendString does; Raw values are copied as
// they are and must be valid JSON.
type JSON struct {
	b     []byte
	open  []byte // closing brackets of the open objects and arrays
	comma bool   // a value was written at this level: the next one needs a comma
}

// Object opens an object.
func (j *JSON) Object() *JSON { return j.begin('{', '}') }

// Array opens an array.
func (j *JSON) Array() *JSON { return j.begin('[', ']') }

func (j *JSON) begin(open, close byte) *JSON {
	j.sep()
	j.b = append(j.b, open)
	j.open = append(j.open, close)
	j.comma = false
	return j
}

// End closes the innermost open object or array.
func (j *JSON) End() *JSON {
	if n := len(j.open); n > 0 {
		j.b = append(j.b, j.open[n-1])
		j.open = j.open[:n-1]
	}
	j.comma = true
	return j
}

// Key writes an object member's name; the member's value comes next.
func (j *JSON) Key(k string) *JSON {
	j.sep()
	j.b = abi.AppendString(j.b, k)
	j.b = append(j.b, ':')
	j.comma = false
	return j
}

// String writes s as a JSON string.
func (j *JSON) String(s string) *JSON {
	j.sep()
	j.b = abi.AppendString(j.b, s)
	j.comma = true
	return j
}

// Int writes n.
func (j *JSON) Int(n int64) *JSON {
	j.sep()
	j.b = strconv.AppendInt(j.b, n, 10)
	j.comma = true
	return j
}

// Bool writes true or false.
func (j *JSON) Bool(v bool) *JSON {
	j.sep()
	j.b = strconv.AppendBool(j.b, v)
	j.comma = true
	return j
}

// Raw writes v, which must be one valid JSON value, as it is.
func (j *JSON) Raw(v []byte) *JSON {
	j.sep()
	j.b = append(j.b, v...)
	j.comma = true
	return j
}

func (j *JSON) sep() {
	if j.comma {
		j.b = append(j.b, ',')
	}
}

// Bytes returns the document written so far.
func (j *JSON) Bytes() []byte { return j.b }

// maxDepth bounds nesting in appendCompact, as encoding/json does.
const maxDepth = 10000

// appendCompact checks that src is exactly one valid JSON value and appends
// it to dst without insignificant whitespace: json.Compact, validation
// included, without encoding/json.
func appendCompact(dst, src []byte) ([]byte, error) {
	c := compactor{src: src, dst: dst}
	if err := c.value(); err != nil {
		return dst, err
	}
	if c.space(); c.i != len(src) {
		return dst, syntaxError("data after the value", c.i)
	}
	return c.dst, nil
}

type compactor struct {
	src, dst []byte
	i, depth int
}

func (c *compactor) space() { c.i = skipSpace(c.src, c.i) }

// value copies one value.
func (c *compactor) value() error {
	c.space()
	if c.i >= len(c.src) {
		return syntaxError("missing value", c.i)
	}
	switch ch := c.src[c.i]; {
	case ch == '{':
		return c.container('}')
	case ch == '[':
		return c.container(']')
	case ch == '"':
		return c.string()
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number()
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(c.src)-c.i >= len(lit) && string(c.src[c.i:c.i+len(lit)]) == lit {
			c.dst = append(c.dst, lit...)
			c.i += len(lit)
			return nil
		}
	}
	return syntaxError("unexpected "+strconv.QuoteRune(rune(c.src[c.i])), c.i)
}

// container copies an object (close '}') or an array (close ']').
func (c *compactor) container(close byte) error {
	if c.depth++; c.depth > maxDepth {
		return syntaxError("nested too deep", c.i)
	}
	c.dst = append(c.dst, c.src[c.i])
	c.i++
	c.space()
	if c.i < len(c.src) && c.src[c.i] == close {
		c.dst = append(c.dst, close)
		c.i++
		c.depth--
		return nil
	}
	for {
		if close == '}' {
			c.space()
			if c.i >= len(c.src) || c.src[c.i] != '"' {
				return syntaxError("want a key", c.i)
			}
			if err := c.string(); err != nil {
				return err
			}
			if c.space(); c.i >= len(c.src) || c.src[c.i] != ':' {
				return syntaxError("want ':'", c.i)
			}
			c.dst = append(c.dst, ':')
			c.i++
		}
		if err := c.value(); err != nil {
			return err
		}
		if c.space(); c.i >= len(c.src) {
			return syntaxError("unterminated "+string(rune(close)), c.i)
		}
		switch c.src[c.i] {
		case ',':
			c.dst = append(c.dst, ',')
			c.i++
		case close:
			c.dst = append(c.dst, close)
			c.i++
			c.depth--
			return nil
		default:
			return syntaxError("want ',' or "+strconv.QuoteRune(rune(close)), c.i)
		}
	}
}

// string copies a string after checking its escapes and that it has no
// control characters.
func (c *compactor) string() error {
	end, escaped, ok := scanString(c.src, c.i)
	if !ok {
		return syntaxError("unterminated string", c.i)
	}
	s := c.src[c.i+1 : end-1]
	for k := 0; k < len(s); {
		switch {
		case s[k] < 0x20:
			return syntaxError("control character in string", c.i+1+k)
		case escaped && s[k] == '\\':
			_, n := unescape(s[k:])
			if n == 0 {
				return syntaxError("bad escape", c.i+1+k)
			}
			k += n
		default:
			k++
		}
	}
	c.dst = append(c.dst, c.src[c.i:end]...)
	c.i = end
	return nil
}

// number copies -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (c *compactor) number() error {
	b, start := c.src, c.i
	i := start
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return syntaxError("bad number", start)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return syntaxError("bad number", start)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return syntaxError("bad number", start)
		}
	}
	c.dst = append(c.dst, b[start:i]...)
	c.i = i
	return nil
}
