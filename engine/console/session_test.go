package console

import (
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/admin"
	"github.com/arbiter-dev/arbiter/engine/testing/fakeclock"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestSessionExpiry: a session ends after its idle time unused, and after
// its absolute time however much it is used; ending it ends it at once.
func TestSessionExpiry(t *testing.T) {
	clock := fakeclock.At(time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC))
	ss := newSessions(30*time.Minute, 2*time.Hour, clock.Now)

	idle := ss.create(admin.RoleAdmin)
	busy := ss.create(admin.RoleReadOnly)
	require.True(t, idle != busy && len(idle) == 43, "random ids")
	s := ss.get(busy)
	require.True(t, s != nil && s.role == admin.RoleReadOnly && !s.CanWrite(), "a read-only session")
	require.True(t, len(s.csrf) == 43, "a CSRF token")

	clock.Advance(29 * time.Minute)
	require.True(t, ss.get(idle) != nil && ss.get(busy) != nil, "used within their idle time")
	clock.Advance(29 * time.Minute)
	require.True(t, ss.get(busy) != nil, "idle time counts from the last use")
	clock.Advance(2 * time.Minute)
	require.True(t, ss.get(idle) == nil, "idle for 31 minutes")
	for range 2 { // used every 20 minutes: never idle
		clock.Advance(20 * time.Minute)
		require.True(t, ss.get(busy) != nil, "busy")
	}
	clock.Advance(20 * time.Minute) // two hours since the login
	require.True(t, ss.get(busy) == nil, "absolute expiry")

	other := ss.create(admin.RoleAdmin)
	ss.end(other)
	require.True(t, ss.get(other) == nil, "logged out")
	require.True(t, ss.get("") == nil && ss.get("not-an-id") == nil, "unknown ids")
}

// TestLoginLimiter: failed logins from one address are refused past the
// burst and allowed again as time passes; other addresses are not held up.
func TestLoginLimiter(t *testing.T) {
	clock := fakeclock.At(time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC))
	l := newLimiter(3, 10*time.Second, clock.Now)
	for range 3 {
		require.True(t, l.allow("10.0.0.1"), "within the burst")
		l.fail("10.0.0.1")
	}
	require.False(t, l.allow("10.0.0.1"), "past the burst")
	require.True(t, l.allow("10.0.0.2"), "another address")
	clock.Advance(10 * time.Second)
	require.True(t, l.allow("10.0.0.1"), "one more after the interval")
	l.fail("10.0.0.1")
	require.False(t, l.allow("10.0.0.1"), "and then no more")
}
