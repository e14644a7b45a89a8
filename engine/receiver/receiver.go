// Package receiver is the webhook edge: POST /webhooks/{endpoint}. It checks
// size, content type and signature on the raw bytes, dedupes, and answers 200
// only once the event is durably in the inbox. Nothing downstream (policies,
// plugins) runs on the request path.
package receiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

// Config tunes the receiver.
type Config struct {
	MaxBodyBytes int64         // larger bodies get 413; default 1 MiB
	Tolerance    time.Duration // v1 timestamp window; default 5 minutes
	Now          func() time.Time
	Logger       hclog.Logger
	Registerer   prometheus.Registerer
	// Rejected is called for each request refused on a known endpoint,
	// with the reason. It runs on the request path, so it must be cheap.
	Rejected func(endpoint, reason string)
}

// Inbox keeps acknowledged events: Append returns once ev is durable, or
// reports it a duplicate. The agent's is engine/inbox; the store's own
// Append serves too.
type Inbox interface {
	Append(ctx context.Context, ev *engine.Event) (engine.AppendResult, error)
}

// Receiver handles webhook posts.
type Receiver struct {
	cfg       Config
	inbox     Inbox
	endpoints *Endpoints
	log       hclog.Logger
	m         metrics
}

// Rejection reasons: the metric label and the "reason" in the JSON error.
const (
	ReasonUnknownEndpoint  = "unknown_endpoint"
	ReasonDisabled         = "endpoint_disabled"
	ReasonMethod           = "method_not_allowed"
	ReasonContentType      = "unsupported_media_type"
	ReasonTooLarge         = "body_too_large"
	ReasonReadError        = "read_error"
	ReasonMissingSignature = "missing_signature"
	ReasonMalformed        = "malformed_signature"
	ReasonBadSignature     = "bad_signature"
	ReasonMissingTimestamp = "missing_timestamp"
	ReasonStale            = "stale_timestamp"
	ReasonFuture           = "future_timestamp"
	ReasonLegacyRefused    = "legacy_refused"
	ReasonInvalidJSON      = "invalid_json"
	ReasonNotObject        = "not_object"
	ReasonBadEventID       = "bad_event_id"
	ReasonInboxFull        = "inbox_full" // 503: backpressure, not bad input
)

// maxEventIDLen bounds X-Event-ID; PacSpace ids are short.
const maxEventIDLen = 200

// New returns a receiver that appends to in and authenticates against eps.
func New(cfg Config, in Inbox, eps *Endpoints) *Receiver {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = pacspace.DefaultTolerance
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Rejected == nil {
		cfg.Rejected = func(string, string) {}
	}
	return &Receiver{cfg: cfg, inbox: in, endpoints: eps, log: cfg.Logger, m: newMetrics(cfg.Registerer)}
}

var (
	ackBody       = []byte(`{"received":true}` + "\n")
	duplicateBody = []byte(`{"received":true,"duplicate":true}` + "\n")
)

// ServeHTTP handles POST /webhooks/{endpoint}.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := rc.cfg.Now()
	name := r.PathValue("endpoint")
	ep, ok := rc.endpoints.Get(name)
	if !ok {
		rc.reject(w, name, http.StatusNotFound, ReasonUnknownEndpoint, "no endpoint named "+strconv.Quote(name))
		return
	}
	if !ep.Enabled {
		rc.reject(w, name, http.StatusForbidden, ReasonDisabled, "endpoint "+name+" is disabled")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.reject(w, name, http.StatusMethodNotAllowed, ReasonMethod, "use POST")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		rc.reject(w, name, http.StatusUnsupportedMediaType, ReasonContentType, "Content-Type must be application/json")
		return
	}
	limit := rc.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		// Refuse before reading a byte of it.
		w.Header().Set("Connection", "close")
		rc.reject(w, name, http.StatusRequestEntityTooLarge, ReasonTooLarge, "body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
		return
	}
	body, err := readBody(r.Body, r.ContentLength, limit)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			w.Header().Set("Connection", "close")
			rc.reject(w, name, http.StatusRequestEntityTooLarge, ReasonTooLarge, "body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		rc.reject(w, name, http.StatusBadRequest, ReasonReadError, "could not read body")
		return
	}

	secrets := make([]string, 0, len(ep.Secrets))
	for _, s := range ep.Secrets {
		if s.Active(start) {
			secrets = append(secrets, s.Value)
		}
	}
	v := pacspace.Verifier{Tolerance: rc.cfg.Tolerance, AllowLegacy: ep.AllowLegacy}
	scheme, err := v.Verify(r.Header.Get(pacspace.HeaderSignature), r.Header.Get(pacspace.HeaderTimestamp), body, secrets, start)
	if err != nil {
		status, reason := verifyFailure(err)
		rc.reject(w, name, status, reason, err.Error())
		return
	}
	if scheme == engine.SchemeLegacy {
		rc.m.legacy.WithLabelValues(name).Inc()
	}
	if !isJSONObject(body) {
		if json.Valid(body) {
			rc.reject(w, name, http.StatusBadRequest, ReasonNotObject, "body must be a JSON object")
		} else {
			rc.reject(w, name, http.StatusBadRequest, ReasonInvalidJSON, "body is not valid JSON")
		}
		return
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	id := r.Header.Get(pacspace.HeaderEventID)
	if id == "" {
		id = "digest_" + digest[:32]
	} else if !validEventID(id) {
		rc.reject(w, name, http.StatusBadRequest, ReasonBadEventID, pacspace.HeaderEventID+" must be 1-200 printable ASCII characters")
		return
	}
	rc.m.received.WithLabelValues(name).Inc()
	ev := &engine.Event{
		Endpoint:   name,
		EventID:    id,
		Digest:     digest,
		Scheme:     scheme,
		Headers:    keptHeaders(r.Header),
		Body:       body,
		ReceivedAt: start,
	}
	res, err := rc.inbox.Append(r.Context(), ev)
	if errors.Is(err, engine.ErrInboxFull) {
		w.Header().Set("Retry-After", "5")
		rc.reject(w, name, http.StatusServiceUnavailable, ReasonInboxFull, "too many events wait to be processed; retry later")
		return
	}
	if err != nil {
		rc.m.storeErrors.Inc()
		rc.log.Error("inbox append failed", "endpoint", name, "event_id", id, "error", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody("store_unavailable", "event not stored; retry later"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if res.Duplicate {
		rc.m.duplicates.WithLabelValues(name).Inc()
		w.WriteHeader(http.StatusOK)
		w.Write(duplicateBody)
	} else {
		rc.m.acked.WithLabelValues(name, string(scheme)).Inc()
		w.WriteHeader(http.StatusOK)
		w.Write(ackBody)
	}
	rc.m.ackLatency.Observe(rc.cfg.Now().Sub(start).Seconds())
}

func verifyFailure(err error) (int, string) {
	switch {
	case errors.Is(err, pacspace.ErrMissingSignature):
		return http.StatusUnauthorized, ReasonMissingSignature
	case errors.Is(err, pacspace.ErrMalformedSignature):
		return http.StatusBadRequest, ReasonMalformed
	case errors.Is(err, pacspace.ErrMissingTimestamp):
		return http.StatusBadRequest, ReasonMissingTimestamp
	case errors.Is(err, pacspace.ErrStaleTimestamp):
		return http.StatusUnauthorized, ReasonStale
	case errors.Is(err, pacspace.ErrFutureTimestamp):
		return http.StatusUnauthorized, ReasonFuture
	case errors.Is(err, pacspace.ErrLegacyRefused):
		return http.StatusUnauthorized, ReasonLegacyRefused
	default:
		return http.StatusUnauthorized, ReasonBadSignature
	}
}

func (rc *Receiver) reject(w http.ResponseWriter, endpoint string, status int, reason, msg string) {
	rc.m.rejected.WithLabelValues(reason).Inc()
	if reason != ReasonUnknownEndpoint {
		rc.cfg.Rejected(endpoint, reason)
	}
	writeJSON(w, status, errorBody(reason, msg))
}

type errorResponse struct {
	Received bool   `json:"received"`
	Error    string `json:"error"`
	Reason   string `json:"reason"`
}

func errorBody(reason, msg string) errorResponse {
	return errorResponse{Error: msg, Reason: reason}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

var errTooLarge = errors.New("body too large")

// readBody reads at most limit bytes, sized up front when the length is known.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length >= 0 {
		buf := make([]byte, length)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return b.Bytes(), nil
}

// isJSONObject reports whether body is one valid JSON object.
func isJSONObject(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(body)
}

func validEventID(id string) bool {
	if len(id) > maxEventIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// keptHeaders are stored with the event for audit and replay; credentials of
// any other kind are not.
var keptHeaderNames = []string{
	"Content-Type", "User-Agent",
	pacspace.HeaderSignature, pacspace.HeaderTimestamp, pacspace.HeaderEventID,
}

func keptHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(keptHeaderNames))
	for _, k := range keptHeaderNames {
		if v := h.Get(k); v != "" {
			out[k] = v
		}
	}
	return out
}
