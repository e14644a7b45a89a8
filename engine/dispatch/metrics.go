package dispatch

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	attempts    *prometheus.CounterVec
	delivered   *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_delivery_attempts_total",
			Help: "Delivery attempts by plugin and result (ok, retry, fail, error).",
		}, []string{"plugin", "result"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_deliveries_delivered_total",
			Help: "Deliveries a plugin accepted.",
		}, []string{"plugin"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_deliveries_failed_total",
			Help: "Deliveries moved to failed (the dead letter) after their last attempt.",
		}, []string{"plugin"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "arbiter_delivery_attempt_seconds",
			Help:    "Duration of one delivery attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"plugin"}),
	}
	reg.MustRegister(m.attempts, m.delivered, m.deadLetters, m.duration)
	return m
}
