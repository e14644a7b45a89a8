package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// Report is the outcome of a Run.
type Report struct {
	URL          string        `json:"url"`
	Scheme       engine.Scheme `json:"scheme"`
	Shape        Shape         `json:"shape"`
	Connections  int           `json:"connections"`
	TargetRate   float64       `json:"targetRate,omitempty"` // 0: as fast as possible
	Pregenerated int           `json:"pregenerated"`         // requests built before the clock started
	Interrupted  bool          `json:"interrupted,omitempty"`

	Elapsed time.Duration `json:"-"`
	Sent    int64         `json:"sent"`   // requests that got a response or failed
	OK      int64         `json:"ok"`     // 2xx responses
	Status  map[int]int64 `json:"non2xx"` // other responses by status code
	Errors  int64         `json:"errors"` // no response: connection, timeout, protocol
	Samples []Sample      `json:"samples,omitempty"`

	EventsPerSec float64 `json:"eventsPerSec"` // 2xx responses per second
	Latency      Latency `json:"latencyMs"`
}

// Sample is one distinct failure and how often it happened.
type Sample struct {
	What  string `json:"what"`
	Count int64  `json:"count"`
}

// Latency summarizes request latencies, from sending the request to reading
// the whole response, of every request that was sent.
type Latency struct {
	Min, Mean, P50, P90, P99, P999, Max time.Duration
}

// MarshalJSON writes the latencies in milliseconds.
func (l Latency) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return json.Marshal(struct {
		Min  float64 `json:"min"`
		Mean float64 `json:"mean"`
		P50  float64 `json:"p50"`
		P90  float64 `json:"p90"`
		P99  float64 `json:"p99"`
		P999 float64 `json:"p999"`
		Max  float64 `json:"max"`
	}{ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max)})
}

// MarshalJSON adds the elapsed time in seconds.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		*plain
		ElapsedSeconds float64 `json:"elapsedSeconds"`
	}{(*plain)(r), r.Elapsed.Seconds()})
}

// Failed reports whether any request went without a 2xx response.
func (r *Report) Failed() bool { return r.Errors > 0 || len(r.Status) > 0 }

func (r *Report) finish(h *histogram) {
	slices.SortFunc(r.Samples, func(a, b Sample) int { return int(b.Count - a.Count) })
	if s := r.Elapsed.Seconds(); s > 0 {
		r.EventsPerSec = float64(r.OK) / s
	}
	r.Latency = h.summary()
}

// WriteText writes the report as an aligned table for people.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "as fast as possible"
	if r.TargetRate > 0 {
		rate = fmt.Sprintf("target %.0f/s", r.TargetRate)
	}
	non2xx := "none"
	if len(r.Status) > 0 {
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(r.Status)) {
			parts = append(parts, fmt.Sprintf("%d×%d", r.Status[code], code))
		}
		non2xx = strings.Join(parts, ", ")
	}
	l := r.Latency
	fmt.Fprintf(tw, "target\t%s\n", r.URL)
	fmt.Fprintf(tw, "load\t%s scheme, %s shape, %d connections, %s\n", r.Scheme, r.Shape, r.Connections, rate)
	interrupted := ""
	if r.Interrupted {
		interrupted = " (interrupted)"
	}
	fmt.Fprintf(tw, "elapsed\t%.2fs%s\n", r.Elapsed.Seconds(), interrupted)
	fmt.Fprintf(tw, "sent\t%d\n", r.Sent)
	fmt.Fprintf(tw, "2xx\t%d\n", r.OK)
	fmt.Fprintf(tw, "non-2xx\t%s\n", non2xx)
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	fmt.Fprintf(tw, "events/s\t%.1f\t(2xx per second)\n", r.EventsPerSec)
	fmt.Fprintf(tw, "latency\tp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean))
	for _, s := range r.Samples {
		fmt.Fprintf(tw, "failure\t%d× %s\n", s.Count, s.What)
	}
	return tw.Flush()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}
