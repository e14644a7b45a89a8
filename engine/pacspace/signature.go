// Package pacspace is PacSpace's webhook wire format: header names, the two
// signature schemes, and signing for the tools that act as PacSpace (emit,
// the load generator, the simulator).
package pacspace

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// Header names PacSpace sends.
const (
	HeaderSignature = "X-PacSpace-Signature"
	HeaderTimestamp = "X-PacSpace-Timestamp"
	HeaderEventID   = "X-Event-ID"
)

// Scheme prefixes inside the signature header.
const (
	prefixV1     = "v1="
	prefixLegacy = "sha256="
)

// DefaultTolerance is how far a v1 timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Verification failures, one per rejection reason so callers can label them.
var (
	ErrMissingSignature   = errors.New("missing " + HeaderSignature + " header")
	ErrMalformedSignature = errors.New("malformed " + HeaderSignature + " header")
	ErrBadSignature       = errors.New("signature does not match")
	ErrMissingTimestamp   = errors.New("missing or malformed " + HeaderTimestamp + " header")
	ErrStaleTimestamp     = errors.New("timestamp is older than the tolerance window")
	ErrFutureTimestamp    = errors.New("timestamp is further in the future than the tolerance window")
	ErrLegacyRefused      = errors.New("legacy sha256= signatures are refused on this endpoint")
)

// Signatures is a parsed signature header: the MACs offered per scheme. A
// sender may list several ("v1=…,v1=…") while it rotates secrets.
type Signatures struct {
	V1     [][]byte
	Legacy [][]byte
}

// ParseSignatures parses a header of one or more comma-separated
// "v1=<hex>" or "sha256=<hex>" entries.
func ParseSignatures(header string) (Signatures, error) {
	var s Signatures
	if strings.TrimSpace(header) == "" {
		return s, ErrMissingSignature
	}
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		var dst *[][]byte
		switch {
		case strings.HasPrefix(part, prefixV1):
			dst, part = &s.V1, part[len(prefixV1):]
		case strings.HasPrefix(part, prefixLegacy):
			dst, part = &s.Legacy, part[len(prefixLegacy):]
		default:
			return Signatures{}, ErrMalformedSignature
		}
		if len(part) != hex.EncodedLen(sha256.Size) {
			return Signatures{}, ErrMalformedSignature
		}
		mac, err := hex.DecodeString(part)
		if err != nil {
			return Signatures{}, ErrMalformedSignature
		}
		*dst = append(*dst, mac)
	}
	return s, nil
}

// ParseTimestamp parses X-PacSpace-Timestamp: Unix seconds, digits only.
func ParseTimestamp(v string) (time.Time, error) {
	if v == "" || len(v) > 12 {
		return time.Time{}, ErrMissingTimestamp
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return time.Time{}, ErrMissingTimestamp
		}
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, ErrMissingTimestamp
	}
	return time.Unix(sec, 0), nil
}

// Verifier checks requests against an endpoint's secrets.
type Verifier struct {
	Tolerance   time.Duration // v1 timestamp window each side of now
	AllowLegacy bool
}

// Verify authenticates body given the signature and timestamp headers. It
// prefers v1 when the header offers it. Every MAC comparison is constant-time.
func (v Verifier) Verify(sigHeader, tsHeader string, body []byte, secrets []string, now time.Time) (engine.Scheme, error) {
	sigs, err := ParseSignatures(sigHeader)
	if err != nil {
		return "", err
	}
	if len(sigs.V1) > 0 {
		ts, err := ParseTimestamp(tsHeader)
		if err != nil {
			return "", err
		}
		tol := v.Tolerance
		if tol <= 0 {
			tol = DefaultTolerance
		}
		switch {
		case ts.Before(now.Add(-tol)):
			return "", ErrStaleTimestamp
		case ts.After(now.Add(tol)):
			return "", ErrFutureTimestamp
		}
		for _, secret := range secrets {
			if anyEqual(macV1([]byte(secret), tsHeader, body), sigs.V1) {
				return engine.SchemeV1, nil
			}
		}
		return "", ErrBadSignature
	}
	if !v.AllowLegacy {
		return "", ErrLegacyRefused
	}
	for _, secret := range secrets {
		if anyEqual(macLegacy([]byte(secret), body), sigs.Legacy) {
			return engine.SchemeLegacy, nil
		}
	}
	return "", ErrBadSignature
}

func anyEqual(want []byte, offered [][]byte) bool {
	ok := false
	for _, mac := range offered {
		// No early exit: the time taken does not say which entry matched.
		if hmac.Equal(want, mac) {
			ok = true
		}
	}
	return ok
}

func macV1(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func macLegacy(secret []byte, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// SignV1 returns the v1 signature header value for body sent at ts.
func SignV1(secret string, ts time.Time, body []byte) string {
	return prefixV1 + hex.EncodeToString(macV1([]byte(secret), strconv.FormatInt(ts.Unix(), 10), body))
}

// SignLegacy returns the legacy sha256= signature header value for body.
func SignLegacy(secret string, body []byte) string {
	return prefixLegacy + hex.EncodeToString(macLegacy([]byte(secret), body))
}

// Sign sets the headers PacSpace sends for body on h: content type, event id
// (when not empty), and the signature in the given scheme.
func Sign(h http.Header, scheme engine.Scheme, secret, eventID string, ts time.Time, body []byte) error {
	h.Set("Content-Type", "application/json")
	if eventID != "" {
		h.Set(HeaderEventID, eventID)
	}
	switch scheme {
	case engine.SchemeV1:
		h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(HeaderSignature, SignV1(secret, ts, body))
	case engine.SchemeLegacy:
		h.Set(HeaderSignature, SignLegacy(secret, body))
	default:
		return fmt.Errorf("sign: unknown scheme %q (want v1 or legacy)", scheme)
	}
	return nil
}
