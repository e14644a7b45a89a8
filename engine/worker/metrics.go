package worker

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	processed     *prometheus.CounterVec
	actions       *prometheus.CounterVec
	held          *prometheus.GaugeVec
	commitErrors  prometheus.Counter
	commitSeconds prometheus.Histogram
	batchSize     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_events_processed_total",
			Help: "Inbox events processed, by outcome (processed, failed, held).",
		}, []string{"status"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_actions_total",
			Help: "Actions decided by policies.",
		}, []string{"type", "reason"}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "arbiter_events_held",
			Help: "Out-of-order events waiting for their predecessor, by worker partition.",
		}, []string{"partition"}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_worker_commit_errors_total",
			Help: "Failed batch commits (retried).",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "arbiter_worker_commit_seconds",
			Help:    "Time to commit one processing batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "arbiter_worker_batch_events",
			Help:    "Events per processing batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	reg.MustRegister(m.processed, m.actions, m.held, m.commitErrors, m.commitSeconds, m.batchSize)
	return m
}
