// Package agent assembles a running Arbiter from its configuration: the
// store, the webhook receiver and the HTTP surface (health, readiness,
// metrics). It owns startup order and graceful shutdown.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/receiver"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// Agent is one running Arbiter process.
type Agent struct {
	cfg       config.Config
	log       hclog.Logger
	store     *store.Store
	endpoints *receiver.Endpoints
	registry  *prometheus.Registry
	server    *http.Server
	listener  net.Listener
}

// Options are the parts of an agent that are not configuration.
type Options struct {
	Logger hclog.Logger
	// Announce receives one-time notices meant for the operator's terminal
	// and never for logs, such as a newly generated webhook secret.
	Announce io.Writer
}

// New opens the store, provisions endpoints and binds the listener. Serving
// starts with Run.
func New(ctx context.Context, cfg config.Config, opts Options) (*Agent, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Announce == nil {
		opts.Announce = io.Discard
	}
	st, err := store.Open(ctx, store.Config{
		Driver:   cfg.Store.Driver,
		Path:     filepath.Join(cfg.DataDir, "arbiter.db"),
		DSN:      cfg.Store.DSN,
		MaxBatch: cfg.Store.MaxBatch,
		Sync:     cfg.Store.Sync,
		Logger:   log.Named("store"),
	})
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, store: st, registry: prometheus.NewRegistry()}
	if err := a.provisionEndpoints(ctx, opts.Announce); err != nil {
		st.Close()
		return nil, err
	}
	if a.endpoints, err = receiver.NewEndpoints(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "arbiter_inbox_depth",
		Help: "Events received but not yet processed.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := st.InboxStats(ctx)
		if err != nil {
			return -1
		}
		return float64(s.Pending)
	}))
	rc := receiver.New(receiver.Config{
		MaxBodyBytes: cfg.Receiver.MaxBodyBytes,
		Tolerance:    cfg.Receiver.Tolerance,
		Logger:       log.Named("receiver"),
		Registerer:   a.registry,
	}, st, a.endpoints)

	mux := http.NewServeMux()
	mux.Handle("/webhooks/{endpoint}", rc)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /health", a.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{Registry: a.registry}))
	a.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	if a.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return a, nil
}

// Addr is the address the agent listens on.
func (a *Agent) Addr() net.Addr { return a.listener.Addr() }

// Run serves until ctx is cancelled, then stops accepting, lets in-flight
// requests finish their commits, and closes the store.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("listening", "addr", a.listener.Addr().String(), "data_dir", a.cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- a.server.Serve(a.listener) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Shutdown)
	defer cancel()
	shutErr := a.server.Shutdown(sctx)
	closeErr := a.store.Close()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	if err := errors.Join(serveErr, shutErr, closeErr); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// provisionEndpoints writes the configured endpoints to the store. An
// endpoint with no secret anywhere gets a generated one, shown once.
func (a *Agent) provisionEndpoints(ctx context.Context, announce io.Writer) error {
	for name, ec := range a.cfg.Endpoints {
		ep := engine.Endpoint{Name: name, AllowLegacy: !ec.RefuseLegacy, Enabled: !ec.Disabled}
		for _, s := range ec.Secrets {
			ep.Secrets = append(ep.Secrets, engine.Secret{Value: s})
		}
		stored, err := a.store.Endpoint(ctx, name)
		switch {
		case err == nil:
			ep.CreatedAt = stored.CreatedAt
			if len(ep.Secrets) == 0 {
				ep.Secrets = stored.Secrets
			}
		case !errors.Is(err, engine.ErrNotFound):
			return err
		}
		if len(ep.Secrets) == 0 {
			secret, err := NewSecret()
			if err != nil {
				return err
			}
			ep.Secrets = []engine.Secret{{Value: secret}}
			fmt.Fprintf(announce, "\nNo webhook secret was configured for endpoint %q; generated one and saved it in %s.\n"+
				"It is shown only this once. Give it to PacSpace as the webhook secret:\n\n    %s\n\n",
				name, a.cfg.DataDir, secret)
			a.log.Info("generated webhook secret", "endpoint", name)
		}
		if err := a.store.PutEndpoint(ctx, ep); err != nil {
			return err
		}
	}
	return nil
}

// NewSecret returns a fresh "whsec_" webhook secret with 256 bits of entropy.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return "whsec_" + hex.EncodeToString(b), nil
}
