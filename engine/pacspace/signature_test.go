package pacspace_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

// testdata is the repository's shared testdata directory.
var testdata = filepath.Join("..", "..", "testdata")

// sentinels maps the error names used in vectors.json to the errors.
var sentinels = map[string]error{
	"ErrMissingSignature":   pacspace.ErrMissingSignature,
	"ErrMalformedSignature": pacspace.ErrMalformedSignature,
	"ErrBadSignature":       pacspace.ErrBadSignature,
	"ErrMissingTimestamp":   pacspace.ErrMissingTimestamp,
	"ErrStaleTimestamp":     pacspace.ErrStaleTimestamp,
	"ErrFutureTimestamp":    pacspace.ErrFutureTimestamp,
	"ErrLegacyRefused":      pacspace.ErrLegacyRefused,
}

// isSentinel reports whether err is nil or one of the verification errors.
func isSentinel(err error) bool {
	if err == nil {
		return true
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

type vectorFile struct {
	Description string   `json:"description"`
	Cases       []vector `json:"cases"`
}

type vector struct {
	Name             string   `json:"name"`
	Note             string   `json:"note"`
	Secrets          []string `json:"secrets"`
	Signature        string   `json:"signature"`
	Timestamp        string   `json:"timestamp"`
	Body             *string  `json:"body"`
	BodyFile         string   `json:"bodyFile"`
	Now              string   `json:"now"`
	ToleranceSeconds int      `json:"toleranceSeconds"`
	AllowLegacy      bool     `json:"allowLegacy"`
	WantScheme       string   `json:"wantScheme"`
	WantError        string   `json:"wantError"`
	SignedWith       *struct {
		Scheme    string `json:"scheme"`
		Secret    string `json:"secret"`
		Timestamp string `json:"timestamp"`
	} `json:"signedWith"`
}

func (v vector) body(t testing.TB) []byte {
	t.Helper()
	switch {
	case v.Body != nil && v.BodyFile != "":
		t.Fatalf("%s: both body and bodyFile", v.Name)
	case v.Body != nil:
		return []byte(*v.Body)
	case v.BodyFile != "":
		b, err := os.ReadFile(filepath.Join(testdata, filepath.FromSlash(v.BodyFile)))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		return b
	}
	t.Fatalf("%s: neither body nor bodyFile", v.Name)
	return nil
}

func (v vector) now(t testing.TB) time.Time {
	t.Helper()
	now, err := time.Parse(time.RFC3339Nano, v.Now)
	if err != nil {
		t.Fatalf("%s: now: %v", v.Name, err)
	}
	return now
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "signatures", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f vectorFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("decode vectors.json: %v", err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("vectors.json has no cases")
	}
	return f.Cases
}

func TestVectors(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if (v.WantScheme == "") == (v.WantError == "") {
				t.Fatal("want exactly one of wantScheme and wantError")
			}
			var want error
			if v.WantError != "" {
				var ok bool
				if want, ok = sentinels[v.WantError]; !ok {
					t.Fatalf("unknown error name %q", v.WantError)
				}
			}
			seen[v.WantError+v.WantScheme] = true

			verifier := pacspace.Verifier{
				Tolerance:   time.Duration(v.ToleranceSeconds) * time.Second,
				AllowLegacy: v.AllowLegacy,
			}
			got, err := verifier.Verify(v.Signature, v.Timestamp, v.body(t), v.Secrets, v.now(t))
			if !errors.Is(err, want) || (want == nil && err != nil) {
				t.Fatalf("Verify error = %v, want %v (%s)", err, want, v.Note)
			}
			if string(got) != v.WantScheme {
				t.Fatalf("Verify scheme = %q, want %q (%s)", got, v.WantScheme, v.Note)
			}
		})
	}
	// Every outcome is pinned by at least one vector.
	for name := range sentinels {
		if !seen[name] {
			t.Errorf("no vector expects %s", name)
		}
	}
	for _, s := range []engine.Scheme{engine.SchemeV1, engine.SchemeLegacy} {
		if !seen[string(s)] {
			t.Errorf("no vector expects scheme %s", s)
		}
	}
}

// TestSignMatchesVectors checks our signing against the MACs Node computed.
func TestSignMatchesVectors(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.SignedWith == nil {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			sw, body := v.SignedWith, v.body(t)
			var got string
			switch engine.Scheme(sw.Scheme) {
			case engine.SchemeV1:
				sec, err := strconv.ParseInt(sw.Timestamp, 10, 64)
				if err != nil || strconv.FormatInt(sec, 10) != sw.Timestamp {
					t.Fatalf("signedWith.timestamp %q is not canonical Unix seconds", sw.Timestamp)
				}
				got = pacspace.SignV1(sw.Secret, time.Unix(sec, 0), body)
			case engine.SchemeLegacy:
				got = pacspace.SignLegacy(sw.Secret, body)
			default:
				t.Fatalf("signedWith.scheme %q", sw.Scheme)
			}
			if got != v.Signature {
				t.Fatalf("signed %s, vector has %s", got, v.Signature)
			}
		})
	}
	if n == 0 {
		t.Fatal("no vector has signedWith")
	}
}

func TestSignRoundTrip(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join(testdata, "events", "delta.verified.json"))
	if err != nil {
		t.Fatal(err)
	}
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	bodies := map[string][]byte{
		"empty":   nil,
		"fixture": fixture,
		"binary":  binary,
		"large":   bytes.Repeat([]byte(`{"k":"v"},`), 100_000),
	}
	// A sub-second instant: the header carries whole seconds and must still
	// verify against the same clock.
	now := time.Date(2026, 4, 10, 12, 0, 0, 999_999_999, time.UTC)
	tests := []struct {
		scheme  engine.Scheme
		secret  string
		eventID string
	}{
		{engine.SchemeV1, "whsec_abc123def456xyz789", "evt_1"},
		{engine.SchemeV1, "", ""},
		{engine.SchemeV1, "whsec_ünïcode secret,with=comma", "evt_2"},
		{engine.SchemeLegacy, "whsec_your_secret_here", "evt_3"},
		{engine.SchemeLegacy, "", ""},
	}
	for _, tt := range tests {
		for name, body := range bodies {
			t.Run(string(tt.scheme)+"/"+name+"/"+tt.eventID, func(t *testing.T) {
				h := http.Header{}
				if err := pacspace.Sign(h, tt.scheme, tt.secret, tt.eventID, now, body); err != nil {
					t.Fatal(err)
				}
				if got := h.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
				if got := h.Get(pacspace.HeaderEventID); got != tt.eventID {
					t.Errorf("%s = %q, want %q", pacspace.HeaderEventID, got, tt.eventID)
				}
				_, hasTS := h[http.CanonicalHeaderKey(pacspace.HeaderTimestamp)]
				if hasTS != (tt.scheme == engine.SchemeV1) {
					t.Errorf("timestamp header present = %v for %s", hasTS, tt.scheme)
				}
				sig, ts := h.Get(pacspace.HeaderSignature), h.Get(pacspace.HeaderTimestamp)
				v := pacspace.Verifier{AllowLegacy: true}

				got, err := v.Verify(sig, ts, body, []string{"whsec_other", tt.secret}, now)
				if err != nil || got != tt.scheme {
					t.Fatalf("Verify = %q, %v; want %q", got, err, tt.scheme)
				}
				if _, err := v.Verify(sig, ts, body, []string{tt.secret + "x"}, now); !errors.Is(err, pacspace.ErrBadSignature) {
					t.Fatalf("wrong secret: err = %v, want ErrBadSignature", err)
				}
				if _, err := v.Verify(sig, ts, append(bytes.Clone(body), ' '), []string{tt.secret}, now); !errors.Is(err, pacspace.ErrBadSignature) {
					t.Fatalf("longer body: err = %v, want ErrBadSignature", err)
				}
			})
		}
	}
}

func TestSignUnknownScheme(t *testing.T) {
	for _, scheme := range []engine.Scheme{"", "V1", "sha256", "v2"} {
		t.Run(string(scheme), func(t *testing.T) {
			h := http.Header{}
			err := pacspace.Sign(h, scheme, "whsec_secret_value", "evt_1", time.Now(), []byte("{}"))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "sign: ") || !strings.Contains(err.Error(), strconv.Quote(string(scheme))) {
				t.Errorf("error %q does not name the operation and scheme", err)
			}
			if strings.Contains(err.Error(), "whsec_secret_value") {
				t.Errorf("error %q leaks the secret", err)
			}
			if h.Get(pacspace.HeaderSignature) != "" {
				t.Error("signature header set despite the error")
			}
		})
	}
}

func TestParseSignatures(t *testing.T) {
	mac := strings.Repeat("ab", 32)
	tests := []struct {
		header     string
		v1, legacy int
		err        error
	}{
		{"v1=" + mac, 1, 0, nil},
		{"sha256=" + mac, 0, 1, nil},
		{"v1=" + mac + ",sha256=" + mac + ",v1=" + strings.ToUpper(mac), 2, 1, nil},
		{" v1=" + mac + " ,\tv1=" + mac, 2, 0, nil},
		{"", 0, 0, pacspace.ErrMissingSignature},
		{" \t", 0, 0, pacspace.ErrMissingSignature},
		{",", 0, 0, pacspace.ErrMalformedSignature},
		{"v1=" + mac + ",", 0, 0, pacspace.ErrMalformedSignature},
		{"v1=" + mac[:62], 0, 0, pacspace.ErrMalformedSignature},
		{"v1=" + mac + "ab", 0, 0, pacspace.ErrMalformedSignature},
		{"v1=" + mac[:63] + "z", 0, 0, pacspace.ErrMalformedSignature},
		{"V1=" + mac, 0, 0, pacspace.ErrMalformedSignature},
		{"v2=" + mac, 0, 0, pacspace.ErrMalformedSignature},
		{"sha512=" + mac, 0, 0, pacspace.ErrMalformedSignature},
		{"v1=" + mac + ",x", 0, 0, pacspace.ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			s, err := pacspace.ParseSignatures(tt.header)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if len(s.V1) != tt.v1 || len(s.Legacy) != tt.legacy {
				t.Fatalf("got %d v1, %d legacy; want %d, %d", len(s.V1), len(s.Legacy), tt.v1, tt.legacy)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1739270400", 1739270400, true},
		{"0", 0, true},
		{"01739270400", 1739270400, true},
		{"999999999999", 999999999999, true},
		{"1739270400000", 0, false}, // milliseconds: 13 digits
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1.5", 0, false},
		{"1e9", 0, false},
		{"0x10", 0, false},
		{"２０２６", 0, false}, // full-width digits
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := pacspace.ParseTimestamp(tt.in)
			if !tt.ok {
				if !errors.Is(err, pacspace.ErrMissingTimestamp) {
					t.Fatalf("err = %v, want ErrMissingTimestamp", err)
				}
				return
			}
			if err != nil || got.Unix() != tt.want {
				t.Fatalf("got %v, %v; want %d", got.Unix(), err, tt.want)
			}
		})
	}
}

// FuzzParseSignatures checks that any header either parses into 32-byte MACs,
// one per comma-separated entry, that re-encode to the same parse, or fails
// with one of the two header errors.
func FuzzParseSignatures(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Signature)
	}
	f.Add("v1=" + strings.Repeat("0", 64) + ",sha256=" + strings.Repeat("F", 64))
	f.Fuzz(func(t *testing.T, header string) {
		s, err := pacspace.ParseSignatures(header)
		if err != nil {
			if !errors.Is(err, pacspace.ErrMissingSignature) && !errors.Is(err, pacspace.ErrMalformedSignature) {
				t.Fatalf("unexpected error %v", err)
			}
			if s.V1 != nil || s.Legacy != nil {
				t.Fatal("MACs returned with an error")
			}
			return
		}
		if got, want := len(s.V1)+len(s.Legacy), strings.Count(header, ",")+1; got != want {
			t.Fatalf("%d MACs from %d entries", got, want)
		}
		var entries []string
		for _, m := range s.V1 {
			entries = append(entries, "v1="+hex.EncodeToString(m))
		}
		for _, m := range s.Legacy {
			entries = append(entries, "sha256="+hex.EncodeToString(m))
		}
		for _, m := range append(s.V1, s.Legacy...) {
			if len(m) != 32 {
				t.Fatalf("MAC of %d bytes", len(m))
			}
		}
		again, err := pacspace.ParseSignatures(strings.Join(entries, ","))
		if err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		if !equalMACs(again.V1, s.V1) || !equalMACs(again.Legacy, s.Legacy) {
			t.Fatal("canonical form parses differently")
		}
	})
}

func equalMACs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzVerify checks that Verify never panics and only returns its sentinel
// errors on arbitrary headers, that a body signed in either scheme always
// verifies, and that flipping any byte of it never does.
func FuzzVerify(f *testing.F) {
	for _, v := range loadVectors(f) {
		secret := ""
		if len(v.Secrets) > 0 {
			secret = v.Secrets[0]
		}
		f.Add(v.Signature, v.Timestamp, v.body(f), secret, v.now(f).Unix(), uint16(len(v.Name)))
	}
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte, secret string, sec int64, flip uint16) {
		// Any header pair: no panic, no error but ours.
		now := time.Unix(sec, 0)
		for _, legacy := range []bool{false, true} {
			_, err := pacspace.Verifier{AllowLegacy: legacy}.Verify(sig, ts, body, []string{secret}, now)
			if !isSentinel(err) {
				t.Fatalf("Verify(%q, %q) returned a foreign error: %v", sig, ts, err)
			}
		}

		// A timestamp the v1 header can carry: 0 ≤ sec < 10¹².
		if sec < 0 {
			sec = -(sec + 1)
		}
		now = time.Unix(sec%1e12, 0)
		mutated := bytes.Clone(body)
		if len(mutated) == 0 {
			mutated = append(mutated, byte(flip))
		} else {
			mutated[int(flip)%len(mutated)] ^= byte(flip>>8) | 1
		}
		v := pacspace.Verifier{AllowLegacy: true}
		for _, scheme := range []engine.Scheme{engine.SchemeV1, engine.SchemeLegacy} {
			h := http.Header{}
			if err := pacspace.Sign(h, scheme, secret, "", now, body); err != nil {
				t.Fatal(err)
			}
			sig, ts := h.Get(pacspace.HeaderSignature), h.Get(pacspace.HeaderTimestamp)
			got, err := v.Verify(sig, ts, body, []string{secret}, now)
			if err != nil || got != scheme {
				t.Fatalf("%s: valid signature: %q, %v", scheme, got, err)
			}
			if _, err := v.Verify(sig, ts, mutated, []string{secret}, now); !errors.Is(err, pacspace.ErrBadSignature) {
				t.Fatalf("%s: mutated body: err = %v, want ErrBadSignature", scheme, err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	secrets := []string{"whsec_abc123def456xyz789"}
	now := time.Unix(1739270400, 0)
	for _, scheme := range []engine.Scheme{engine.SchemeV1, engine.SchemeLegacy} {
		b.Run(string(scheme), func(b *testing.B) {
			h := http.Header{}
			if err := pacspace.Sign(h, scheme, secrets[0], "", now, body); err != nil {
				b.Fatal(err)
			}
			sig, ts := h.Get(pacspace.HeaderSignature), h.Get(pacspace.HeaderTimestamp)
			v := pacspace.Verifier{AllowLegacy: true}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(sig, ts, body, secrets, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
