package rates_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine/rates"
	"github.com/arbiter-dev/arbiter/engine/testing/fakeclock"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func TestWindow(t *testing.T) {
	reg := prometheus.NewRegistry()
	received := prometheus.NewCounter(prometheus.CounterOpts{Name: "received_total"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rejected_total"}, []string{"reason"})
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "other_total"})
	reg.MustRegister(received, rejected, other)
	clock := fakeclock.At(time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC))
	s := rates.New(rates.Config{Gatherer: reg, Counters: []string{"received_total", "rejected_total"}, Now: clock.Now})

	w, err := s.Now()
	require.NoError(t, err)
	require.Equal(t, 0.0, w.Delta("received_total"))

	// 90 minutes, a sample every 10 s: 10 received a minute, and in the
	// last 30 minutes one bad signature a minute.
	for m := range 90 {
		for range 6 {
			require.NoError(t, s.Sample())
			clock.Advance(10 * time.Second)
		}
		received.Add(10)
		other.Add(1)
		if m >= 60 {
			rejected.WithLabelValues("bad_signature").Inc()
		}
	}
	rejected.WithLabelValues("stale_timestamp").Add(2)
	w, err = s.Now()
	require.NoError(t, err)
	require.Equal(t, time.Hour, w.At.Sub(w.Since))
	require.Equal(t, 600.0, w.Delta("received_total"))
	require.Equal(t, 0.0, w.Delta("other_total")) // not kept
	require.Equal(t, map[string]float64{"bad_signature": 30, "stale_timestamp": 2}, w.DeltaBy("rejected_total", "reason"))
	per := w.PerMinute(60, "rejected_total", "reason", "bad_signature")
	require.Equal(t, 60, len(per))
	require.Equal(t, 0.0, per[0])
	require.Equal(t, 1.0, per[59])
	all := w.PerMinute(60, "received_total", "")
	for i, v := range all {
		require.Equal(t, 10.0, v, i)
	}
}

func TestWindowBeforeAnHour(t *testing.T) {
	reg := prometheus.NewRegistry()
	received := prometheus.NewCounter(prometheus.CounterOpts{Name: "received_total"})
	reg.MustRegister(received)
	clock := fakeclock.At(time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC))
	s := rates.New(rates.Config{Gatherer: reg, Counters: []string{"received_total"}, Now: clock.Now})
	received.Add(5) // before the first sample: not in the window
	require.NoError(t, s.Sample())
	clock.Advance(5 * time.Minute)
	received.Add(7)
	w, err := s.Now()
	require.NoError(t, err)
	require.Equal(t, 5*time.Minute, w.At.Sub(w.Since))
	require.Equal(t, 7.0, w.Delta("received_total"))
	per := w.PerMinute(60, "received_total", "")
	require.Equal(t, 0.0, per[54]) // before the first sample
	require.Equal(t, 7.0, per[59]+per[58]+per[57]+per[56]+per[55])
}
