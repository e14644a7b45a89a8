package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 127, 128, 129, 130, 255, 256, 1e3, 1e6, 1e9, 1e12, 1<<63 - 1} {
		i := bucketOf(v)
		if i < prev || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", v, i, prev, numBuckets)
		}
		prev = i
		if high := bucketHigh(i); high < v || bucketOf(high) != i {
			t.Fatalf("bucket %d of %d: high %d (bucket %d)", i, v, high, bucketOf(high))
		}
		if v > 0 && bucketHigh(i)-v > v/subCount {
			t.Fatalf("bucket %d of %d is wider than 1/%d", i, v, subCount)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func(i int) time.Duration
		n    int
	}{
		{"constant", func(int) time.Duration { return 5 * time.Millisecond }, 1000},
		{"linear", func(i int) time.Duration { return time.Duration(i+1) * time.Microsecond }, 10_000},
		{"exponential", func(int) time.Duration { return time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond)) }, 50_000},
		{"single", func(int) time.Duration { return 42 * time.Second }, 1},
		{"tiny", func(i int) time.Duration { return time.Duration(i % 7) }, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two halves merged must equal one histogram of everything.
			var a, b, all histogram
			exact := make([]time.Duration, tt.n)
			for i := range tt.n {
				d := tt.gen(i)
				exact[i] = d
				all.record(d)
				if i%2 == 0 {
					a.record(d)
				} else {
					b.record(d)
				}
			}
			a.merge(&b)
			if a != all {
				t.Fatal("merged halves differ from the whole")
			}
			slices.Sort(exact)
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := max(int(math.Ceil(float64(tt.n)*q)), 1)
				want := exact[rank-1]
				got := all.quantile(q)
				if got < want || got-want > want/subCount {
					t.Errorf("q%.3f = %v, exact %v", q, got, want)
				}
			}
			if all.max != exact[tt.n-1] || all.min != exact[0] {
				t.Errorf("min/max %v/%v, exact %v/%v", all.min, all.max, exact[0], exact[tt.n-1])
			}
		})
	}
	var empty histogram
	if empty.quantile(0.5) != 0 || empty.mean() != 0 {
		t.Error("empty histogram reports values")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	d := time.Duration(0)
	for b.Loop() {
		d += 997
		h.record(d % (50 * time.Millisecond))
	}
}
