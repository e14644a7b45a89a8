// Package sdk is the Go guest SDK for Arbiter plugins (ABI v1, see
// plugins/ABI.md). A plugin is a main package that registers one Handle
// function and is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o myplugin.wasm .
//
// A reactor's main is never called; the host runs package initialization
// once per instance, so a plugin registers itself from init — the one place
// it can:
//
//	func init() {
//		sdk.Register(sdk.Plugin{
//			Info:   sdk.Info{Name: "console", Kind: sdk.KindNotifier, Version: "1.0.0"},
//			Handle: handle,
//		})
//	}
//
//	func main() {}
//
//	func handle(req *sdk.Request) sdk.Result {
//		sdk.Log(sdk.LevelInfo, "got "+string(req.Action))
//		return sdk.OK("logged")
//	}
//
// A module may hold several plugins: each is a package that registers
// itself, and a main package imports them all (plugins/bundled does, for
// the bundled plugins). The host then names the plugin an instance serves
// through the select export; see Register.
//
// The SDK exports alloc, handle, describe and select, and wraps the host
// functions: Log, HTTP, KVGet, KVSet, Now and Secret. A panic in Handle is
// not recovered: the host counts the call as a trap and replaces the
// instance.
//
// Decoding JSON with encoding/json is slow in Wasm (tens of microseconds for
// a small object), so the SDK splits the input with a small scanner and
// leaves the action and config raw; read what you need with Fields, and the
// config with FieldsCache. Write JSON with JSON. The bundled plugins use
// neither encoding/json nor fmt, which add about 1 MB and 0.3 MB to a
// module; the host pays for every byte at startup.
package sdk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/abi"
)

// Request is one delivery of an action.
type Request struct {
	ABI int
	// Action is the action object as the policy produced it: type, reason,
	// severity and any details. Use Fields for cheap access.
	Action json.RawMessage
	Event  Event
	// DeliveryID names this delivery; stable across attempts.
	DeliveryID string
	// IdempotencyKey is what to pass to services that dedupe.
	IdempotencyKey string
	// Attempt counts from 1.
	Attempt int
	// Config is the plugin's config, as the operator wrote it and validated
	// against Info.ConfigSchema.
	Config json.RawMessage
}

// Event identifies the event the action was decided for.
type Event struct {
	ID         string
	Type       string
	Endpoint   string
	CustomerID string
	ReceivedAt time.Time
}

// Fields parses the action's top-level members.
func (r *Request) Fields() (Fields, error) { return ParseFields(r.Action) }

// DecodeAction decodes the action into v with encoding/json, which links
// encoding/json into the plugin.
func (r *Request) DecodeAction(v any) error { return json.Unmarshal(r.Action, v) }

// Status is a plugin's verdict.
type Status string

const (
	StatusOK    Status = "ok"
	StatusRetry Status = "retry"
	StatusFail  Status = "fail"
)

// Result is what Handle returns.
type Result struct {
	Status  Status
	Message string
	// RetryAfter asks for a delay before the next attempt (Retry only).
	RetryAfter time.Duration
}

// OK reports the action carried out.
func OK(msg string) Result { return Result{Status: StatusOK, Message: msg} }

// Retry reports a failure that may pass later; after is the delay to wait,
// zero to leave it to the host.
func Retry(msg string, after time.Duration) Result {
	return Result{Status: StatusRetry, Message: msg, RetryAfter: after}
}

// Fail reports a failure that retrying will not fix.
func Fail(msg string) Result { return Result{Status: StatusFail, Message: msg} }

// Info describes the plugin to the host (the describe export).
type Info struct {
	Name    string
	Kind    string // KindNotifier or KindStore
	Version string
	// ConfigSchema is a JSON Schema for Request.Config; the host validates
	// the operator's config against it at startup.
	ConfigSchema json.RawMessage
	// MaxInstances, if above zero, caps the instances the host runs at
	// once; 1 serializes calls.
	MaxInstances int
}

// Plugin is what a plugin registers.
type Plugin struct {
	Info   Info
	Handle func(*Request) Result
}

// registry holds the registered plugins in order; served is the one this
// instance serves, chosen by selectPlugin or, failing that, on first use.
var (
	registry []Plugin
	served   *Plugin
	noServed string // why served is nil
	chosen   bool
)

// Register installs a plugin. Call it from init; a reactor has no main.
// A module may hold several plugins, each registered under its own
// Info.Name (the bundled plugins are one module): the host names the one
// an instance serves through the select export, which a module holding
// one plugin does not need. Registering a name twice panics.
func Register(p Plugin) {
	for _, r := range registry {
		if r.Info.Name == p.Info.Name {
			panic("sdk: plugin " + strconv.Quote(p.Info.Name) + " registered twice")
		}
	}
	registry = append(registry, p)
}

// selectPlugin serves the plugin called name, and reports whether the
// module holds one.
func selectPlugin(name string) bool {
	served, noServed = choose(registry, name, true)
	chosen = true
	return served != nil
}

// plugin returns the plugin this instance serves, or why there is none.
func plugin() (*Plugin, string) {
	if !chosen {
		served, noServed = choose(registry, "", false)
		chosen = true
	}
	return served, noServed
}

// choose picks the plugin called name, or, when none was selected (set is
// false), the only one.
func choose(ps []Plugin, name string, set bool) (*Plugin, string) {
	if len(ps) == 0 {
		return nil, "plugin registered no Handle function"
	}
	if !set && len(ps) == 1 {
		return &ps[0], ""
	}
	for i := range ps {
		if ps[i].Info.Name == name {
			return &ps[i], ""
		}
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = strconv.Quote(p.Info.Name)
	}
	holds := strings.Join(names, ", ")
	if !set {
		return nil, "this module holds plugins " + holds + "; select one of them"
	}
	return nil, "this module holds no plugin " + strconv.Quote(name) + "; it holds " + holds
}

// dispatch runs the served plugin's Handle on one input and appends the
// output JSON to dst.
func dispatch(dst, in []byte) []byte {
	p, why := plugin()
	switch {
	case p == nil:
		return encodeResult(dst, Fail(why))
	case p.Handle == nil:
		return encodeResult(dst, Fail("plugin registered no Handle function"))
	}
	req, err := decodeRequest(in)
	if err != nil {
		return encodeResult(dst, Fail("sdk: bad input: "+err.Error()))
	}
	return encodeResult(dst, p.Handle(req))
}

// describeOutput is the describe export's JSON: the served plugin's Info,
// or, when there is none, the names the module holds and why.
func describeOutput() []byte {
	p, why := plugin()
	if p != nil {
		return encodeInfo(p.Info)
	}
	var j JSON
	j.Object()
	j.Key("abi").Int(ABIVersion)
	j.Key("plugins").Array()
	for _, r := range registry {
		j.String(r.Info.Name)
	}
	j.End()
	j.Key("error").String(why)
	return j.End().Bytes()
}

var lastConfig []byte

// decodeRequest decodes the handle input in one pass. It relies on ABI v1's
// promise that "action" is the last member.
//
// In Wasm under the host's deadline checks every jump back costs about as
// much as a hundred plain instructions, and Go compiles each function as a
// loop, so this decoder is written for few calls and few branches: one pass,
// members read in place, strings cut from one copy of the input, no
// reflection. Unknown members are skipped.
func decodeRequest(in []byte) (*Request, error) {
	d := decoder{b: in, s: string(in)}
	req := &Request{}
	if !d.open() {
		return nil, d.err("not an object")
	}
	for more := !d.closes(); more; more = d.next() {
		key, ok := d.key()
		if !ok {
			return nil, d.err("want a key")
		}
		var ok2 bool
		switch key {
		case `abi`:
			req.ABI, ok2 = d.int()
		case `action`:
			var v []byte
			v, ok2 = d.last()
			req.Action = bytes.Clone(v)
		case `event`:
			ok2 = d.event(&req.Event)
		case `deliveryId`:
			req.DeliveryID, ok2 = d.string()
		case `idempotencyKey`:
			req.IdempotencyKey, ok2 = d.string()
		case `attempt`:
			req.Attempt, ok2 = d.int()
		case `config`:
			var v []byte
			v, ok2 = d.value()
			// The host sends the same config every call: keep one copy, so
			// ConfigCache sees the same bytes.
			if !bytes.Equal(v, lastConfig) {
				lastConfig = bytes.Clone(v)
			}
			req.Config = lastConfig
		default:
			_, ok2 = d.value()
		}
		if !ok2 {
			return nil, d.err("bad value of " + strconv.Quote(key))
		}
	}
	if d.failed || d.ws() != len(d.b) {
		return nil, d.err("unterminated object or data after it")
	}
	return req, nil
}

func (d *decoder) event(e *Event) bool {
	if !d.open() {
		return false
	}
	for more := !d.closes(); more; more = d.next() {
		key, ok := d.key()
		if !ok {
			return false
		}
		switch key {
		case `id`:
			e.ID, ok = d.string()
		case `type`:
			e.Type, ok = d.string()
		case `endpoint`:
			e.Endpoint, ok = d.string()
		case `customerId`:
			e.CustomerID, ok = d.string()
		case `receivedAt`:
			var s string
			if s, ok = d.string(); ok && s != "" {
				var err error
				e.ReceivedAt, err = parseTime(s)
				ok = err == nil
			}
		default:
			_, ok = d.value()
		}
		if !ok {
			return false
		}
	}
	return !d.failed
}

// decoder reads JSON from b; s is a string copy of b that strings are cut
// from, so they need no allocation of their own.
type decoder struct {
	b      []byte
	s      string
	i      int
	failed bool
}

func (d *decoder) err(what string) error {
	return syntaxError(what, d.i)
}

// ws skips whitespace and returns the new offset.
func (d *decoder) ws() int {
	for d.i < len(d.b) && d.b[d.i] <= ' ' {
		d.i++
	}
	return d.i
}

// open consumes '{'.
func (d *decoder) open() bool {
	if d.ws() < len(d.b) && d.b[d.i] == '{' {
		d.i++
		return true
	}
	return false
}

// closes consumes '}' if it is next.
func (d *decoder) closes() bool {
	if d.ws() < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	return false
}

// next consumes ',' and reports true, or '}' and reports false; anything
// else marks the decoder failed.
func (d *decoder) next() bool {
	if d.ws() < len(d.b) {
		switch d.b[d.i] {
		case ',':
			d.i++
			return true
		case '}':
			d.i++
			return false
		}
	}
	d.failed = true
	return false
}

// key reads a member name and its ':'.
func (d *decoder) key() (string, bool) {
	k, ok := d.string()
	if !ok || d.ws() >= len(d.b) || d.b[d.i] != ':' {
		return "", false
	}
	d.i++
	d.ws()
	return k, true
}

// string reads a JSON string (or null, as "").
func (d *decoder) string() (string, bool) {
	start := d.ws()
	if start >= len(d.b) {
		return "", false
	}
	if d.b[start] != '"' {
		_, ok := d.value()
		return "", ok && d.s[start:d.i] == "null"
	}
	end, escaped, ok := scanString(d.b, start)
	if !ok {
		return "", false
	}
	d.i = end
	if !escaped {
		return d.s[start+1 : end-1], true
	}
	s, err := unquote(d.b[start:end])
	return s, err == nil
}

// int reads a JSON integer.
func (d *decoder) int() (int, bool) {
	v, ok := d.value()
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(v))
	return n, err == nil
}

// last returns the value of the object's last member without scanning it:
// everything up to the object's closing brace. ABI v1 promises the host
// writes "action" last, and actions are the one member that can be large.
func (d *decoder) last() ([]byte, bool) {
	start, end := d.ws(), len(d.b)
	for end > start && d.b[end-1] <= ' ' {
		end--
	}
	if end <= start || d.b[end-1] != '}' {
		return nil, false
	}
	d.i = end - 1 // at the closing brace, for next
	for end--; end > start && d.b[end-1] <= ' '; end-- {
	}
	if v := d.b[start:end]; len(v) >= 2 && v[0] == '{' && v[len(v)-1] == '}' {
		return v, true // the host sends an object; this is a sanity check
	}
	return nil, false
}

// value skips any JSON value and returns its raw bytes.
func (d *decoder) value() ([]byte, bool) {
	start := d.ws()
	end, err := skipValue(d.b, start)
	if err != nil {
		return nil, false
	}
	d.i = end
	return d.b[start:end], true
}

// parseTime parses an RFC 3339 timestamp. The host always sends UTC as
// "2006-01-02T15:04:05.999999999Z", which is parsed by hand: time.Parse is
// slow in Wasm.
func parseTime(s string) (time.Time, error) {
	if t, ok := parseUTC(s); ok {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// parseUTC parses "2006-01-02T15:04:05[.fraction]Z" with plain arithmetic.
func parseUTC(s string) (time.Time, bool) {
	if len(s) < 20 || len(s) > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	// Each digit minus '0' is 0-9 exactly when it is a digit; OR-ing
	// them and checking against 0-9 would wrongly pass 9|6, so the bad
	// ones are counted.
	bad := 0
	digit := func(i int) int {
		c := int(s[i]) - '0'
		if uint(c) > 9 {
			bad++
		}
		return c
	}
	year := digit(0)*1000 + digit(1)*100 + digit(2)*10 + digit(3)
	month := digit(5)*10 + digit(6)
	day := digit(8)*10 + digit(9)
	hour := digit(11)*10 + digit(12)
	minute := digit(14)*10 + digit(15)
	sec := digit(17)*10 + digit(18)
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 {
			return time.Time{}, false
		}
		scale := 100_000_000
		for i := 20; i < len(s)-1; i++ {
			nsec += digit(i) * scale
			scale /= 10
		}
	}
	if bad > 0 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	dim := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		dim = 29
	}
	if day > dim {
		return time.Time{}, false
	}
	// Days from 1970-01-01 to year-month-day (Howard Hinnant's
	// days_from_civil), valid for any proleptic Gregorian date.
	y := year
	if month <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return time.Unix(int64(days)*86400+int64(hour*3600+minute*60+sec), int64(nsec)).UTC(), true
}

// encodeResult appends the output JSON for r.
func encodeResult(b []byte, r Result) []byte {
	status := r.Status
	switch status {
	case StatusOK, StatusRetry, StatusFail:
	default:
		status, r.Message = StatusFail, "plugin returned unknown status "+strconv.Quote(string(r.Status))
	}
	b = append(b, `{"status":"`...)
	b = append(b, status...)
	b = append(b, '"')
	if r.Message != "" {
		b = append(b, `,"message":`...)
		b = abi.AppendString(b, r.Message)
	}
	if r.RetryAfter > 0 {
		b = append(b, `,"retryAfterMs":`...)
		b = strconv.AppendInt(b, r.RetryAfter.Milliseconds(), 10)
	}
	return append(b, '}')
}

// encodeInfo returns the describe output JSON.
func encodeInfo(i Info) []byte {
	var j JSON
	j.Object()
	j.Key("abi").Int(ABIVersion)
	j.Key("name").String(i.Name)
	j.Key("kind").String(i.Kind)
	j.Key("version").String(i.Version)
	if len(i.ConfigSchema) > 0 {
		j.Key("configSchema")
		if schema, err := appendCompact(nil, i.ConfigSchema); err == nil {
			j.Raw(schema)
		} else {
			// The host refuses a schema that is not an object, and says why.
			j.String("invalid configSchema: " + err.Error())
		}
	}
	if i.MaxInstances != 0 {
		j.Key("maxInstances").Int(int64(i.MaxInstances))
	}
	return j.End().Bytes()
}

// ConfigCache decodes a plugin's config once and reuses it while the host
// keeps sending the same bytes, which it does for the life of an instance.
// Decoding is strict: unknown fields are errors. It uses encoding/json,
// which makes a module about 1 MB larger; FieldsCache does not.
type ConfigCache[T any] struct {
	raw []byte
	val T
	err error
}

// Get returns the config decoded from raw (Request.Config).
func (c *ConfigCache[T]) Get(raw json.RawMessage) (T, error) {
	if c.raw != nil && bytes.Equal(c.raw, raw) {
		return c.val, c.err
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	c.raw, c.val, c.err = bytes.Clone(raw), v, err
	if c.raw == nil {
		c.raw = []byte{}
	}
	return v, err
}
