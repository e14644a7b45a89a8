// Package backoff spaces retries: an exponentially growing window with full
// jitter, capped, unless the other side said when to come back. The
// dispatcher retries plugin deliveries with it, and the simulator its
// webhook deliveries.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is how retries back off.
type Policy struct {
	Base, Max time.Duration
	// Rand is uniform in [0, n); nil is math/rand/v2's.
	Rand func(n int64) int64
}

// Delay is the wait after attempt (1 for the first): retryAfter when the
// other side gave one (a Retry-After), else uniform in (0, window] where
// the window doubles from Base with every attempt; both capped at Max.
// Full jitter spreads the retries of many failures that began together.
func (p Policy) Delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, p.Max)
	}
	window := p.Max
	if shift := attempt - 1; shift >= 0 && shift < 30 {
		window = min(p.Base<<shift, p.Max)
	}
	r := p.Rand
	if r == nil {
		r = rand.Int64N
	}
	return time.Duration(r(int64(window)) + 1)
}
