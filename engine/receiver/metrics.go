package receiver

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	received    *prometheus.CounterVec
	acked       *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	legacy      *prometheus.CounterVec
	storeErrors prometheus.Counter
	ackLatency  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_webhooks_received_total",
			Help: "Authenticated webhook requests, before dedupe.",
		}, []string{"endpoint"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_webhooks_acknowledged_total",
			Help: "New events committed to the inbox and answered 200.",
		}, []string{"endpoint", "scheme"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_webhooks_duplicates_total",
			Help: "Events answered 200 as duplicates (same event id or same body).",
		}, []string{"endpoint"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_webhooks_rejected_total",
			Help: "Requests refused with a 4xx, by reason.",
		}, []string{"reason"}),
		legacy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_webhooks_legacy_signature_total",
			Help: "Requests accepted on the replayable legacy sha256= scheme.",
		}, []string{"endpoint"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_webhooks_store_errors_total",
			Help: "Requests answered 503 because the inbox commit failed.",
		}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "arbiter_webhook_ack_seconds",
			Help:    "Time from request to acknowledgement, durable commit included.",
			Buckets: []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128, .256, .512, 1, 2},
		}),
	}
	reg.MustRegister(m.received, m.acked, m.duplicates, m.rejected, m.legacy, m.storeErrors, m.ackLatency)
	for _, r := range []string{ReasonUnknownEndpoint, ReasonDisabled, ReasonMethod, ReasonContentType, ReasonTooLarge,
		ReasonReadError, ReasonMissingSignature, ReasonMalformed, ReasonBadSignature, ReasonMissingTimestamp, ReasonStale,
		ReasonFuture, ReasonLegacyRefused, ReasonInvalidJSON, ReasonNotObject, ReasonBadEventID} {
		m.rejected.WithLabelValues(r) // so every reason is exported at 0
	}
	return m
}
