package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// input is as the host writes it: action last.
const input = `{"abi":1,` +
	`"event":{"id":"evt_1","type":"delta.verified","endpoint":"pacspace","customerId":"cus_\u00e9","receivedAt":"2026-02-11T10:00:00.25Z"},` +
	`"deliveryId":"dlv_1","idempotencyKey":"evt_1/0/slack","attempt":2,"config":{"webhook_url_secret":"s"},` +
	`"action":{"type":"alert","reason":"period_drift","severity":"high","drift":12.5,"note":"a \"b\" \\ c"}}`

func TestDecodeRequest(t *testing.T) {
	req, err := decodeRequest([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	want := &Request{
		ABI:    1,
		Action: json.RawMessage(`{"type":"alert","reason":"period_drift","severity":"high","drift":12.5,"note":"a \"b\" \\ c"}`),
		Event: Event{ID: "evt_1", Type: "delta.verified", Endpoint: "pacspace", CustomerID: "cus_é",
			ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 250_000_000, time.UTC)},
		DeliveryID: "dlv_1", IdempotencyKey: "evt_1/0/slack", Attempt: 2,
		Config: json.RawMessage(`{"webhook_url_secret":"s"}`),
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("decodeRequest:\n got %+v\nwant %+v", req, want)
	}
	// Spacing is the host's choice, and unknown members are skipped.
	spaced := strings.NewReplacer(`,"`, ",\n  \"", `":`, `" : `, `{"abi"`, `{"new":[{"x":"}"}], "abi"`).Replace(input) + "\n"
	req2, err := decodeRequest([]byte(spaced))
	if err != nil || req2.DeliveryID != "dlv_1" || req2.Event.CustomerID != "cus_é" || !json.Valid(req2.Action) {
		t.Errorf("spaced input: %+v, %v", req2, err)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"abi":"x"}`, `{"deliveryId":1}`, `{"action":{"a":1}`, `{"a":1}x`, `{"a" 1}`, `{"action": }`, `{"event":{"id":1}}`} {
		if _, err := decodeRequest([]byte(in)); err == nil {
			t.Errorf("decodeRequest(%q) accepted", in)
		}
	}
}

func TestParseUTC(t *testing.T) {
	for _, s := range []string{"2026-02-11T10:00:00Z", "2026-02-11T10:00:00.1Z", "2026-12-31T23:59:59.123456789Z",
		"2024-02-29T00:00:00Z", "2000-02-29T12:00:00Z", "1969-07-20T20:17:40Z", "0001-01-01T00:00:00Z", "2026-03-01T00:00:00.000001Z"} {
		got, ok := parseUTC(s)
		want, _ := time.Parse(time.RFC3339Nano, s)
		if !ok || !got.Equal(want) {
			t.Errorf("parseUTC(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"2026-02-11T10:00:00+01:00", "2026-02-11", "2026-13-11T10:00:00Z", "2026-02-11T10:00:00.Z",
		"2026-02-11T10:00:00.1234567890Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-02-11T24:00:00Z", "2026-0a-11T10:00:00Z"} {
		if _, ok := parseUTC(s); ok {
			t.Errorf("parseUTC(%q) accepted", s)
		}
	}
}

func TestEncodeResult(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{OK(""), `{"status":"ok"}`},
		{Retry("slow \"down\"\n", 1500*time.Millisecond), `{"status":"retry","message":"slow \"down\"\n","retryAfterMs":1500}`},
		{Fail("no"), `{"status":"fail","message":"no"}`},
		{Result{Status: "weird"}, `{"status":"fail","message":"plugin returned unknown status \"weird\""}`},
	}
	for _, tc := range tests {
		if got := string(encodeResult(nil, tc.r)); got != tc.want {
			t.Errorf("encodeResult(%+v) = %s, want %s", tc.r, got, tc.want)
		}
	}
}

func TestEncodeInfo(t *testing.T) {
	got := string(encodeInfo(Info{Name: "x", Kind: KindStore, Version: "1", ConfigSchema: json.RawMessage(`{"type":"object"}`), MaxInstances: 1}))
	want := `{"abi":1,"name":"x","kind":"store","version":"1","configSchema":{"type":"object"},"maxInstances":1}`
	if got != want {
		t.Errorf("encodeInfo = %s, want %s", got, want)
	}
}

func TestFields(t *testing.T) {
	f, err := ParseFields([]byte(`{"s":"x\ty","n":-1.5e2,"b":false,"o":{"k":[1,"}"]},"a":[],"z":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.String("s") != "x\ty" || f.String("n") != "" || f.String("missing") != "" {
		t.Errorf("String: %q %q", f.String("s"), f.String("n"))
	}
	if n, ok := f.Number("n"); !ok || n != -150 {
		t.Errorf("Number = %v, %v", n, ok)
	}
	if b, ok := f.Bool("b"); !ok || b {
		t.Errorf("Bool = %v, %v", b, ok)
	}
	if Text(f[3].Value) != `{"k":[1,"}"]}` || f[3].Key != "o" {
		t.Errorf("object member: %+v", f[3])
	}
	if len(f) != 6 || f[5].Key != "z" {
		t.Errorf("members: %d", len(f))
	}
}

// FuzzParseFields: on any valid JSON object, the scanner agrees with
// encoding/json on the members; on anything else it does not panic.
func FuzzParseFields(f *testing.F) {
	f.Add([]byte(input))
	f.Add([]byte(`{"a":"\\\"","b":[{"c":"]"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := ParseFields(b)
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil || want == nil {
			return
		}
		if err != nil {
			t.Fatalf("ParseFields(%s): %v", b, err)
		}
		for _, m := range fields {
			if _, ok := want[m.Key]; !ok {
				t.Fatalf("extra key %q", m.Key)
			}
		}
		for k, w := range want {
			v, ok := fields.Raw(k)
			var a, c any
			if !ok || json.Unmarshal(v, &a) != nil {
				t.Fatalf("member %q: %s, %v", k, v, ok)
			}
			json.Unmarshal(w, &c)
			if !reflect.DeepEqual(a, c) {
				t.Fatalf("member %q: %s, want %s", k, v, w)
			}
		}
	})
}

func TestConfigCache(t *testing.T) {
	type cfg struct {
		A string `json:"a"`
	}
	var c ConfigCache[cfg]
	v, err := c.Get(json.RawMessage(`{"a":"x"}`))
	if err != nil || v.A != "x" {
		t.Fatalf("Get = %+v, %v", v, err)
	}
	if _, err := c.Get(json.RawMessage(`{"b":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
	if v, err := c.Get(json.RawMessage(`{"a":"y"}`)); err != nil || v.A != "y" {
		t.Errorf("changed config: %+v, %v", v, err)
	}
}

func TestHTTPResult(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(httpDate)
	tests := []struct {
		resp HTTPResponse
		err  error
		want Status
		wait time.Duration // at least
	}{
		{resp: HTTPResponse{Status: 200}, want: StatusOK},
		{resp: HTTPResponse{Status: 204}, want: StatusOK},
		{resp: HTTPResponse{Status: 429, Headers: map[string]string{"retry-after": "7"}}, want: StatusRetry, wait: 7 * time.Second},
		{resp: HTTPResponse{Status: 503, Headers: map[string]string{"retry-after": date}}, want: StatusRetry, wait: 80 * time.Second},
		{resp: HTTPResponse{Status: 500}, want: StatusRetry},
		{resp: HTTPResponse{Status: 408}, want: StatusRetry},
		{resp: HTTPResponse{Status: 404, Body: []byte("no_service")}, want: StatusFail},
		{resp: HTTPResponse{Status: 301}, want: StatusFail},
		{err: &HostError{Func: "http", Code: CodeTimeout}, want: StatusRetry},
		{err: &HostError{Func: "http", Code: CodeFailed}, want: StatusRetry},
		{err: &HostError{Func: "http", Code: CodeDenied}, want: StatusFail},
		{err: &HostError{Func: "http", Code: CodeTooLarge}, want: StatusFail},
	}
	for _, tc := range tests {
		got := HTTPResult("svc", tc.resp, tc.err)
		if got.Status != tc.want || got.RetryAfter < tc.wait || !strings.HasPrefix(got.Message, "svc: ") {
			t.Errorf("HTTPResult(%d, %v) = %+v, want %s after %s", tc.resp.Status, tc.err, got, tc.want, tc.wait)
		}
	}
}

func TestHostErrorIs(t *testing.T) {
	err := error(&HostError{Func: "http", Code: CodeDenied, Message: "host \"x\" is not in allow_hosts"})
	if !errors.Is(err, ErrDenied) || errors.Is(err, ErrTimeout) {
		t.Error("errors.Is does not match by code")
	}
	if err.Error() != `http: denied: host "x" is not in allow_hosts` {
		t.Errorf("Error() = %q", err)
	}
}

func TestOutsideWasm(t *testing.T) {
	// Natively the host functions are stand-ins: they say so.
	if _, err := HTTP(HTTPRequest{URL: "http://x"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("HTTP outside Wasm: %v", err)
	}
	if _, ok := Secret("x"); ok {
		t.Error("Secret outside Wasm")
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	in := []byte(input)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRequest(in); err != nil {
			b.Fatal(err)
		}
	}
}

// useRegistry makes ps the registered plugins for the rest of the test,
// with the served one to be chosen again.
func useRegistry(t *testing.T, ps ...Plugin) {
	old := registry
	t.Cleanup(func() { registry, chosen = old, false })
	registry, chosen = nil, false
	for _, p := range ps {
		Register(p)
	}
}

func TestDispatch(t *testing.T) {
	useRegistry(t)
	if got := string(dispatch(nil, []byte(input))); got != `{"status":"fail","message":"plugin registered no Handle function"}` {
		t.Errorf("unregistered: %s", got)
	}
	useRegistry(t, Plugin{Handle: func(r *Request) Result {
		return Retry(r.Event.ID+" "+r.IdempotencyKey, 2*time.Second)
	}})
	if got := string(dispatch(nil, []byte(input))); got != `{"status":"retry","message":"evt_1 evt_1/0/slack","retryAfterMs":2000}` {
		t.Errorf("dispatch: %s", got)
	}
	if got := string(dispatch(nil, []byte(`{"abi":`))); !strings.HasPrefix(got, `{"status":"fail","message":"sdk: bad input: `) {
		t.Errorf("bad input: %s", got)
	}
}

func TestSeveralPlugins(t *testing.T) {
	answer := func(msg string) func(*Request) Result {
		return func(*Request) Result { return OK(msg) }
	}
	a := Plugin{Info: Info{Name: "a", Kind: KindNotifier, Version: "1"}, Handle: answer("from a")}
	b := Plugin{Info: Info{Name: "b", Kind: KindStore, Version: "2"}, Handle: answer("from b")}
	ps := []Plugin{a, b}

	tests := []struct {
		name    string
		ps      []Plugin
		sel     string // the name selected, if set
		set     bool
		want    string // the chosen plugin's name
		wantWhy string
	}{
		{"one, none selected", ps[:1], "", false, "a", ""},
		{"one, selected", ps[:1], "a", true, "a", ""},
		{"one, misnamed", ps[:1], "b", true, "", `this module holds no plugin "b"; it holds "a"`},
		{"several, selected", ps, "b", true, "b", ""},
		{"several, none selected", ps, "", false, "", `this module holds plugins "a", "b"; select one of them`},
		{"several, unknown", ps, "c", true, "", `this module holds no plugin "c"; it holds "a", "b"`},
		{"several, empty", ps, "", true, "", `this module holds no plugin ""; it holds "a", "b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, why := choose(tc.ps, tc.sel, tc.set)
			if why != tc.wantWhy {
				t.Errorf("why = %q, want %q", why, tc.wantWhy)
			}
			if got := ""; p != nil {
				got = p.Info.Name
				if got != tc.want {
					t.Errorf("chose %q, want %q", got, tc.want)
				}
			} else if tc.want != "" {
				t.Errorf("chose none, want %q", tc.want)
			}
		})
	}

	t.Run("serves the selected", func(t *testing.T) {
		useRegistry(t, a, b)
		if !selectPlugin("b") {
			t.Fatal("select b failed")
		}
		if got := string(describeOutput()); got != `{"abi":1,"name":"b","kind":"store","version":"2"}` {
			t.Errorf("describe: %s", got)
		}
		if got := string(dispatch(nil, []byte(input))); got != `{"status":"ok","message":"from b"}` {
			t.Errorf("dispatch: %s", got)
		}
	})
	t.Run("lists them when none is selected", func(t *testing.T) {
		useRegistry(t, a, b)
		want := `{"abi":1,"plugins":["a","b"],"error":"this module holds plugins \"a\", \"b\"; select one of them"}`
		if got := string(describeOutput()); got != want {
			t.Errorf("describe: %s\nwant      %s", got, want)
		}
		if got := string(dispatch(nil, []byte(input))); got != `{"status":"fail","message":"this module holds plugins \"a\", \"b\"; select one of them"}` {
			t.Errorf("dispatch: %s", got)
		}
	})
	t.Run("lists them when the selection fails", func(t *testing.T) {
		useRegistry(t, a, b)
		if selectPlugin("c") {
			t.Fatal("select c succeeded")
		}
		want := `{"abi":1,"plugins":["a","b"],"error":"this module holds no plugin \"c\"; it holds \"a\", \"b\""}`
		if got := string(describeOutput()); got != want {
			t.Errorf("describe: %s\nwant      %s", got, want)
		}
		if got := string(dispatch(nil, []byte(input))); got != `{"status":"fail","message":"this module holds no plugin \"c\"; it holds \"a\", \"b\""}` {
			t.Errorf("dispatch: %s", got)
		}
	})
	t.Run("a name registered twice panics", func(t *testing.T) {
		useRegistry(t, a)
		defer func() {
			if r := recover(); r != `sdk: plugin "a" registered twice` {
				t.Errorf("recovered %v", r)
			}
		}()
		Register(a)
	})
}

// FuzzDecodeRequest: no input makes the decoder panic, and whatever it
// accepts has a valid JSON action.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(input))
	f.Add([]byte(`{"abi":1,"event":{"id":"a\"b"},"action":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeRequest(b)
		if err != nil || req.Action == nil {
			return
		}
		if req.Action[0] != '{' || req.Action[len(req.Action)-1] != '}' {
			t.Fatalf("action %q", req.Action)
		}
	})
}

func TestScanString(t *testing.T) {
	for _, tc := range []struct {
		in      string
		end     int
		escaped bool
	}{
		{`""`, 2, false},
		{`"abcdefghijklmnop"x`, 18, false},
		{`"abcdefgh\"ijklmnop"`, 20, true},
		{`"a\\"`, 5, true},
		{`"abcdefg\\\\\"hij"`, 18, true},
		{`"0123456789abcdef0123"`, 22, false},
	} {
		end, esc, ok := scanString([]byte(tc.in), 0)
		if !ok || end != tc.end || esc != tc.escaped {
			t.Errorf("scanString(%s) = %d, %v, %v; want %d, %v", tc.in, end, esc, ok, tc.end, tc.escaped)
		}
	}
	for _, in := range []string{`"`, `"abc`, `"abcdefghijklmnop\"`, `"\`} {
		if _, _, ok := scanString([]byte(in), 0); ok {
			t.Errorf("scanString(%s) accepted", in)
		}
	}
}

func TestJSON(t *testing.T) {
	var j JSON
	j.Object()
	j.Key("s").String("a \"q\"\n<é>")
	j.Key("n").Int(-42)
	j.Key("b").Bool(true)
	j.Key("raw").Raw([]byte(`{"x":[1,2]}`))
	j.Key("list").Array()
	j.Object().Key("k").String("v").End()
	j.Array().End()
	j.Int(7)
	j.End()
	j.Key("empty").Object().End()
	j.End()
	got := string(j.Bytes())
	want := `{"s":"a \"q\"\n<é>","n":-42,"b":true,"raw":{"x":[1,2]},"list":[{"k":"v"},[],7],"empty":{}}`
	if got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
	if !json.Valid(j.Bytes()) {
		t.Error("not valid JSON")
	}
}

func TestUnquote(t *testing.T) {
	for _, raw := range []string{`"plain"`, `"tab\there"`, `"\u00e9\u4e16"`, `"\ud83d\ude00 smile"`, `"lone \ud83d surrogate"`,
		`"\/\b\f\r\n\"\\"`, "\"bad utf8 \xff\"", `"\uDE00 low first"`} {
		got, err := unquote([]byte(raw))
		var want string
		if jerr := json.Unmarshal([]byte(raw), &want); jerr != nil {
			t.Fatalf("test case %s: %v", raw, jerr)
		}
		if err != nil || got != want {
			t.Errorf("unquote(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{`"\x"`, `"\u12"`, `"\u12g4"`, `"a\"`, `"open`, `x`} {
		if s, err := unquote([]byte(raw)); err == nil {
			t.Errorf("unquote(%s) = %q, want an error", raw, s)
		}
	}
}

// FuzzUnquote: the hand-written unquote agrees with encoding/json on every
// string both accept, and accepts every string encoding/json does.
func FuzzUnquote(f *testing.F) {
	f.Add([]byte(`"a\u00e9\ud83d\ude00\n"`))
	f.Add([]byte(`"\ud800"`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		// unquote gets a value the scanner cut out: no space around it.
		if json.Unmarshal(raw, &want) != nil || len(raw) == 0 || raw[0] != '"' || raw[len(raw)-1] != '"' {
			return
		}
		got, err := unquote(raw)
		if err != nil || got != want {
			t.Fatalf("unquote(%q) = %q, %v; want %q", raw, got, err, want)
		}
	})
}

// FuzzCompact: appendCompact accepts exactly what json.Valid does, and
// writes what json.Compact writes.
func FuzzCompact(f *testing.F) {
	f.Add([]byte(` { "a" : [ 1 , -2.5e+3 , true , null , "x\"y" ] , "b" : { } } `))
	f.Add([]byte(`[01]`))
	f.Add([]byte(`{"a":1,}`))
	f.Add([]byte(`"\u00zz"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := appendCompact(nil, b)
		if valid := json.Valid(b); valid != (err == nil) {
			t.Fatalf("appendCompact(%q): error %v, json.Valid %v", b, err, valid)
		}
		if err != nil {
			return
		}
		var want bytes.Buffer
		json.Compact(&want, b)
		if string(got) != want.String() {
			t.Fatalf("appendCompact(%q) = %q, json.Compact %q", b, got, want.String())
		}
	})
}

func TestParseArray(t *testing.T) {
	elems, err := ParseArray([]byte(` [ 1, "a,]", {"k":[2]}, [] ] `))
	if err != nil || len(elems) != 4 || string(elems[1]) != `"a,]"` || string(elems[2]) != `{"k":[2]}` {
		t.Errorf("ParseArray = %q, %v", elems, err)
	}
	if elems, err := ParseArray([]byte(`[]`)); err != nil || len(elems) != 0 {
		t.Errorf("empty array: %q, %v", elems, err)
	}
	for _, in := range []string{``, `{}`, `[1,]`, `[,1]`, `[1 2]`, `[1`, `[1]x`} {
		if _, err := ParseArray([]byte(in)); err == nil {
			t.Errorf("ParseArray(%q) accepted", in)
		}
	}
}

func TestFieldsCache(t *testing.T) {
	var c FieldsCache
	raw := []byte(`{"a":"x"}`)
	f, err := c.Get(raw)
	if err != nil || f.String("a") != "x" {
		t.Fatalf("Get = %v, %v", f, err)
	}
	raw[6] = 'y' // the host's buffer is reused: the cached fields must not change
	if f, _ := c.Get([]byte(`{"a":"x"}`)); f.String("a") != "x" {
		t.Errorf("cached fields changed with the input buffer: %v", f)
	}
	if f, err := c.Get([]byte(`{"a":"z"}`)); err != nil || f.String("a") != "z" {
		t.Errorf("changed config: %v, %v", f, err)
	}
	if _, err := c.Get([]byte(`[1]`)); err == nil {
		t.Error("non-object accepted")
	}
}

func TestEncodeInfoInvalidSchema(t *testing.T) {
	got := encodeInfo(Info{Name: "x", Kind: KindNotifier, Version: "1", ConfigSchema: []byte(`{"type":`)})
	var info struct{ ConfigSchema string }
	if err := json.Unmarshal(got, &info); err != nil || !strings.HasPrefix(info.ConfigSchema, "invalid configSchema: invalid JSON") {
		t.Errorf("encodeInfo = %s (%v)", got, err)
	}
}
