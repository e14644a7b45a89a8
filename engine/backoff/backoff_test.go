package backoff_test

import (
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/backoff"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func TestDelay(t *testing.T) {
	top := func(n int64) int64 { return n - 1 } // the largest draw: the window itself
	p := backoff.Policy{Base: time.Second, Max: 30 * time.Second, Rand: top}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 40: 30 * time.Second} {
		require.Equal(t, want, p.Delay(attempt, 0), "attempt", attempt)
	}
	require.Equal(t, 7*time.Second, p.Delay(3, 7*time.Second), "Retry-After wins")
	require.Equal(t, 30*time.Second, p.Delay(3, time.Hour), "capped at Max")

	p.Rand = func(int64) int64 { return 0 } // the smallest draw
	require.Equal(t, time.Nanosecond, p.Delay(1, 0), "never zero: a retry is never immediate")

	p = backoff.Policy{Base: 10 * time.Millisecond, Max: time.Second}
	for range 1000 {
		d := p.Delay(3, 0)
		require.True(t, d > 0 && d <= 40*time.Millisecond, d)
	}
}
