package policy

import "github.com/prometheus/client_golang/prometheus"

// Reload results: the result label of arbiter_policy_reloads_total.
const (
	ResultOK           = "ok"
	ResultCompileError = "compile_error" // *CompileError: parse, compile, data or override problems
	ResultTestFailure  = "test_failure"  // *GateError: the set's own tests failed
	ResultLoadError    = "load_error"    // the files or the bundle could not be read
	ResultBundleError  = "bundle_error"  // *BundleError: not a signed rego bundle, a bad signature, or a changed bundle under an active revision
)

type metrics struct {
	reloads      *prometheus.CounterVec
	revision     *prometheus.GaugeVec
	lastSuccess  prometheus.Gauge
	lastOK       prometheus.Gauge
	evalSeconds  prometheus.Histogram
	decideErrors prometheus.Counter
	fetches      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_policy_reloads_total",
			Help: "Policy set loads (the first one included), by result.",
		}, []string{"result"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "arbiter_policy_active_revision_info",
			Help: "The active policy set: 1 for its short revision.",
		}, []string{"revision"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "arbiter_policy_last_reload_success_timestamp_seconds",
			Help: "When a policy set last loaded and passed its tests.",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "arbiter_policy_last_reload_successful",
			Help: "1 if the last policy reload succeeded, 0 if it was rejected and an older revision is active.",
		}),
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "arbiter_policy_eval_seconds",
			Help:    "Time to decide one input document: conversion and evaluation.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
		}),
		decideErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "arbiter_policy_decide_errors_total",
			Help: "Decisions that failed: evaluation errors or actions without type, reason or severity.",
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arbiter_policy_bundle_fetches_total",
			Help: "Requests for the policy bundle, by result: ok (a bundle was downloaded), not_modified (304), error.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.reloads, m.revision, m.lastSuccess, m.lastOK, m.evalSeconds, m.decideErrors, m.fetches)
	for _, r := range []string{FetchOK, FetchNotModified, FetchError} {
		m.fetches.WithLabelValues(r)
	}
	for _, r := range []string{ResultOK, ResultCompileError, ResultTestFailure, ResultLoadError, ResultBundleError} {
		m.reloads.WithLabelValues(r) // so every result is exported at 0
	}
	return m
}
