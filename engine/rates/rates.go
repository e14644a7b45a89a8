// Package rates keeps an hour of samples of Prometheus counters, so that
// the operator API can say what happened over the last hour — webhooks
// received, refused by reason, decisions per minute — without a
// Prometheus server. Samples live in memory: after a restart the window
// starts again from zero.
package rates

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Defaults of Config.
const (
	DefaultEvery  = 10 * time.Second
	DefaultWindow = time.Hour
)

// Config says what to sample and how often.
type Config struct {
	Gatherer prometheus.Gatherer
	// Counters are the metric names to keep; other metrics are ignored.
	Counters []string
	Every    time.Duration    // between samples; default DefaultEvery
	Window   time.Duration    // how far back samples are kept; default DefaultWindow
	Now      func() time.Time // default time.Now
}

// Sampler samples counters into a sliding window. It is safe for
// concurrent use.
type Sampler struct {
	cfg Config

	mu      sync.Mutex
	samples []sample // oldest first, spanning at most the window
}

// sample is every kept series' value at one moment.
type sample struct {
	at     time.Time
	values map[series]float64
}

// series is a metric and one label's value ("" for a metric summed over
// its labels).
type series struct{ name, label, value string }

// New returns a sampler; Run takes the samples.
func New(cfg Config) *Sampler {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sampler{cfg: cfg}
}

// Run samples every cfg.Every until ctx is done. Take the first sample
// with Sample before the counters can move, so that the window starts
// from them as they were.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Sample(); err != nil {
			return err
		}
	}
}

// Sample takes one sample now and drops those older than the window needs.
func (s *Sampler) Sample() error {
	cur, err := s.gather()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, cur)
	// Keep one sample at or before the window's start, to measure from.
	start := cur.at.Add(-s.cfg.Window)
	drop := 0
	for drop+1 < len(s.samples) && !s.samples[drop+1].at.After(start) {
		drop++
	}
	s.samples = slices.Delete(s.samples, 0, drop)
	return nil
}

func (s *Sampler) gather() (sample, error) {
	mfs, err := s.cfg.Gatherer.Gather()
	if err != nil {
		return sample{}, fmt.Errorf("rates: gather: %w", err)
	}
	out := sample{at: s.cfg.Now(), values: map[series]float64{}}
	for _, mf := range mfs {
		if !slices.Contains(s.cfg.Counters, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := value(m)
			out.values[series{name: mf.GetName()}] += v
			for _, l := range m.GetLabel() {
				out.values[series{mf.GetName(), l.GetName(), l.GetValue()}] += v
			}
		}
	}
	return out, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// Window is what the counters did from Since to At.
type Window struct {
	Since, At time.Time // Since is later than At-window while the sampler has run less long
	from, to  sample
	history   []sample
}

// Now compares the counters as they are now with the oldest sample of the
// window. Before the first sample the window is empty.
func (s *Sampler) Now() (Window, error) {
	cur, err := s.gather()
	if err != nil {
		return Window{}, err
	}
	s.mu.Lock()
	history := slices.Clone(s.samples)
	s.mu.Unlock()
	// From the newest sample at or before the window's start, else the
	// oldest there is.
	from, start := cur, cur.at.Add(-s.cfg.Window)
	if len(history) > 0 {
		from = history[0]
	}
	for _, h := range history {
		if !h.at.After(start) {
			from = h
		}
	}
	return Window{Since: from.at, At: cur.at, from: from, to: cur, history: append(history, cur)}, nil
}

// Delta is how much metric name grew over the window, over all its labels.
func (w Window) Delta(name string) float64 {
	k := series{name: name}
	return max(w.to.values[k]-w.from.values[k], 0)
}

// DeltaBy is how much metric name grew over the window for each value of
// label that grew.
func (w Window) DeltaBy(name, label string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range w.to.values {
		if k.name != name || k.label != label {
			continue
		}
		if d := v - w.from.values[k]; d > 0 {
			out[k.value] = d
		}
	}
	return out
}

// PerMinute is how much metric name grew in each of the window's last n
// minutes, oldest first, for the label's values (all when values is
// empty). Minutes before the first sample count 0.
func (w Window) PerMinute(n int, name, label string, values ...string) []float64 {
	first := w.history[0]
	// at is the series' value at t: that of the last sample by then, or of
	// the first sample for a t before it, so that a minute the sampling
	// started in counts from its start.
	at := func(t time.Time) float64 {
		v := sum(first.values, name, label, values)
		for _, h := range w.history {
			if h.at.After(t) {
				break
			}
			v = sum(h.values, name, label, values)
		}
		return v
	}
	out := make([]float64, n)
	for i := range n {
		start := w.At.Add(-time.Duration(n-i) * time.Minute)
		out[i] = max(at(start.Add(time.Minute))-at(start), 0)
	}
	return out
}

func sum(values map[series]float64, name, label string, of []string) float64 {
	if len(of) == 0 {
		return values[series{name: name}]
	}
	t := 0.0
	for _, v := range of {
		t += values[series{name, label, v}]
	}
	return t
}
