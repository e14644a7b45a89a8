package loadgen

import (
	"sync"
	"testing"
	"time"
)

func TestLatenciesConcurrent(t *testing.T) {
	var l Latencies
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				l.Record(time.Duration(g*1000+i+1) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	s := l.Summary()
	if s.Min != time.Microsecond || s.Max != 4000*time.Microsecond {
		t.Fatalf("min %v max %v", s.Min, s.Max)
	}
	// The median of 1…4000 µs, to the histogram's 1/64 precision.
	if s.P50 < 2000*time.Microsecond || s.P50 > 2032*time.Microsecond {
		t.Fatalf("p50 %v", s.P50)
	}
}
