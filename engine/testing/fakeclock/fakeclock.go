// Package fakeclock is a clock tests set and advance by hand, for the
// Now func() time.Time that Arbiter's components take, so that grace
// windows, retention and timestamps end when a test says.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use. The zero value reads the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// At returns a clock that reads t.
func At(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the time the clock reads.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set makes the clock read t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
