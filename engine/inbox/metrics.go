package inbox

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	loaded, lateDuplicates, lookups, loadErrors, waited, lost prometheus.Counter
	waiting                                                   prometheus.Gauge
	loadSeconds                                               prometheus.Histogram
}

func newMetrics(r prometheus.Registerer, in *Inbox) metrics {
	m := metrics{
		loaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_inbox_loaded_total", Help: "Journaled events loaded into the store.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_inbox_lost_total", Help: "Acknowledged events lost to damage in the journal, found when it was opened (the journal logs where; the damaged segment is kept aside).",
		}),
		lateDuplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_inbox_late_duplicates_total", Help: "Journaled events the store already had, skipped when loaded.",
		}),
		lookups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_inbox_dedupe_lookups_total", Help: "Acknowledgements that asked the store whether they were duplicates.",
		}),
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_inbox_load_errors_total", Help: "Failed loads of journaled events into the store (retried).",
		}),
		waited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_inbox_load_waited_seconds_total", Help: "Time loading gave way to a stream of acknowledgements.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "arbiter_inbox_load_waiting", Help: "1 while loading gives way to a stream of acknowledgements.",
		}),
		loadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "arbiter_inbox_load_seconds", Help: "Time to load one batch of journaled events into the store.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
		}),
	}
	r.MustRegister(m.loaded, m.lost, m.lateDuplicates, m.lookups, m.loadErrors, m.waited, m.waiting, m.loadSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "arbiter_inbox_journal_backlog", Help: "Acknowledged events in the journal, not yet in the store.",
		}, func() float64 { return float64(in.Backlog()) }))
	return m
}
