package loadgen

import (
	"fmt"
	"sync"
	"time"
)

// Latencies collects latencies from many goroutines, for senders other than
// Run (arbiter sim run) that report the same quantiles. The zero value is
// ready to use.
type Latencies struct {
	mu sync.Mutex
	h  histogram
}

// Record adds one latency.
func (l *Latencies) Record(d time.Duration) {
	l.mu.Lock()
	l.h.record(d)
	l.mu.Unlock()
}

// Summary returns the quantiles of what was recorded so far.
func (l *Latencies) Summary() Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.summary()
}

func (h *histogram) summary() Latency {
	return Latency{
		Min: h.min, Mean: h.mean(), Max: h.max,
		P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), P999: h.quantile(0.999),
	}
}

// String is the quantiles in milliseconds, for a report line.
func (l Latency) String() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
}
