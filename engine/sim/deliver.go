package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

// UserAgent is sent with every delivery.
const UserAgent = "PacSpace-Webhooks/1.0"

const (
	// maxResponseBody is how much of a response is kept for Attempt.Body.
	maxResponseBody = 4 << 10
	// maxDiscard is how much more is read so the connection can be reused.
	maxDiscard = 64 << 10
)

// delivery is a Delivery with what sending it needs. Guarded by Sim.mu,
// except body and fault, which never change.
type delivery struct {
	Delivery
	seq   uint64 // creation order, the tie-break of every sort
	body  []byte // nil once delivered: only failed deliveries are resent
	fault DeliveryFault
	limit int // the attempt after which it fails for good
}

// target is where and how a webhook is sent, copied out of the lock.
type target struct {
	url, secret string
	scheme      engine.Scheme
}

func (w *webhook) target() target { return target{url: w.URL, secret: w.secret, scheme: w.scheme} }

// response is what one request came back with.
type response struct {
	status     int
	body       []byte
	retryAfter time.Duration
	err        error
	latency    time.Duration
}

type outcome int

const (
	delivered outcome = iota
	retry
	fail
)

// outcome classifies a response: a 4xx other than 408 and 429 is the
// receiver's verdict on the request itself, which a retry would repeat.
func (r response) outcome() outcome {
	switch {
	case r.err != nil:
		return retry
	case r.status >= 200 && r.status < 300:
		return delivered
	case r.status == http.StatusRequestTimeout, r.status == http.StatusTooManyRequests, r.status >= 500:
		return retry
	}
	return fail
}

// describe says what went wrong, for a record's lastError.
func (r response) describe() string {
	if r.err != nil {
		return r.err.Error()
	}
	msg := "HTTP " + strconv.Itoa(r.status)
	if s := strings.Join(strings.Fields(string(r.body)), " "); s != "" {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		msg += ": " + s
	}
	return msg
}

// send makes one signed request, within Config.Timeout.
func (s *Sim) send(ctx context.Context, t target, eventID string, body []byte, f DeliveryFault) response {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return response{err: err}
	}
	secret := t.secret
	if f.BadSignature {
		secret = "wrong_" + secret
	}
	now := s.cfg.Now()
	if err := pacspace.Sign(req.Header, t.scheme, secret, eventID, now.Add(f.TimestampSkew), body); err != nil {
		return response{err: err}
	}
	req.Header.Set("User-Agent", UserAgent)
	start := time.Now()
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return response{err: err, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	io.CopyN(io.Discard, resp.Body, maxDiscard)
	r := response{status: resp.StatusCode, body: b, latency: time.Since(start), err: err}
	r.retryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	return r
}

// retryAfter parses a Retry-After header, seconds or an HTTP date; zero
// when absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// attempt sends d once and records the outcome: delivered, failed, or
// scheduled again.
func (s *Sim) attempt(d *delivery) {
	s.mu.Lock()
	wh, ok := s.webhooks[d.WebhookID]
	if !ok || !wh.Enabled {
		err := ErrWebhookDeleted
		if ok {
			err = ErrWebhookDisabled
		}
		s.mu.Unlock()
		s.cfg.OnAttempt(Attempt{DeliveryID: d.ID, EventID: d.EventID, WebhookID: d.WebhookID, Err: err, Final: true})
		s.mu.Lock()
		d.LastError = err.Error()
		s.finish(d, false)
		s.mu.Unlock()
		return
	}
	t := wh.target()
	d.Attempts++
	n, limit := d.Attempts, d.limit
	s.stats.Attempts++
	if n > 1 {
		s.stats.Retried++
	}
	triggered := s.now()
	wh.LastTriggered = &triggered
	s.mu.Unlock()

	// In-flight attempts outlive Run's context: they finish on their own
	// timeout.
	res := s.send(context.Background(), t, d.EventID, d.body, d.fault)
	out := res.outcome()
	final := out != retry || n >= limit

	// Reported before it is recorded: once Drain returns, every attempt
	// has been reported.
	s.cfg.OnAttempt(Attempt{
		DeliveryID: d.ID, EventID: d.EventID, WebhookID: d.WebhookID, Number: n,
		Status: res.status, Body: res.body, Err: res.err, Latency: res.latency,
		Final: final, Delivered: out == delivered,
	})
	s.mu.Lock()
	d.LastStatus = res.status
	d.LastError = ""
	if out != delivered {
		d.LastError = res.describe()
	}
	if final {
		s.finish(d, out == delivered)
	}
	s.mu.Unlock()
	if final {
		if out != delivered {
			s.log.Debug("delivery failed", "delivery", d.ID, "event", d.EventID, "webhook", d.WebhookID,
				"attempts", n, "error", res.describe())
		}
		return
	}
	delay := s.backoff.Delay(n, res.retryAfter)
	s.log.Debug("delivery will be retried", "delivery", d.ID, "attempt", n, "in", delay, "error", res.describe())
	s.enqueueAfter(d, delay)
}

// enqueueAfter queues d for a worker after delay, without holding up the
// caller when the queue is full.
func (s *Sim) enqueueAfter(d *delivery, delay time.Duration) {
	time.AfterFunc(delay, func() { s.ready <- d })
}

// add records a new pending delivery, dropping the oldest finished records
// past Config.History. s.mu must be held.
func (s *Sim) add(d *delivery) {
	s.seq++
	d.seq = s.seq
	s.hist.PushBack(d)
	s.byEvent[d.EventID] = append(s.byEvent[d.EventID], d)
	s.stats.Published++
	s.inFlight(1)
	// Pending records are never dropped, so there is a finished one to
	// drop exactly when the history holds more records than are in flight.
	for s.hist.Len() > s.cfg.History && int64(s.hist.Len()) > s.stats.InFlight {
		s.evictOldestFinished()
	}
}

func (s *Sim) evictOldestFinished() {
	for e := s.hist.Front(); e != nil; e = e.Next() {
		d := e.Value.(*delivery)
		if d.Status == StatusPending {
			continue
		}
		s.hist.Remove(e)
		rest := slices.DeleteFunc(s.byEvent[d.EventID], func(x *delivery) bool { return x == d })
		if len(rest) == 0 {
			delete(s.byEvent, d.EventID)
		} else {
			s.byEvent[d.EventID] = rest
		}
		return
	}
}

// finish makes d final. s.mu must be held.
func (s *Sim) finish(d *delivery, ok bool) {
	wh := s.webhooks[d.WebhookID]
	if ok {
		at := s.now()
		d.Status, d.DeliveredAt, d.body = StatusDelivered, &at, nil
		s.stats.Delivered++
		if wh != nil {
			wh.SuccessCount++
		}
	} else {
		d.Status = StatusFailed
		s.stats.Failed++
		if wh != nil {
			wh.FailureCount++
		}
	}
	s.inFlight(-1)
}

// Retry queues every failed delivery of an event again, each with a fresh
// Config.MaxAttempts. It returns ErrNotFound for an event with no records
// and ErrNotFailed when none of them has failed.
func (s *Sim) Retry(eventID string) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.byEvent[eventID]
	if len(ds) == 0 {
		return nil, fmt.Errorf("event %q: %w", eventID, ErrNotFound)
	}
	var out []Delivery
	for _, d := range ds {
		if d.Status != StatusFailed {
			continue
		}
		d.Status = StatusPending
		d.limit = d.Attempts + s.cfg.MaxAttempts
		s.stats.Failed--
		s.inFlight(1)
		s.enqueueAfter(d, 0)
		out = append(out, d.Delivery)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("event %q has no failed delivery: %w", eventID, ErrNotFailed)
	}
	return out, nil
}
