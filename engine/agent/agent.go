// Package agent assembles a running Arbiter from its configuration: the
// store, the inbox and its journal, the webhook receiver, the policy engine,
// the worker, the plugin host and dispatcher, and the HTTP surface (health,
// readiness, metrics, admin API). It owns startup order and graceful
// shutdown.
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
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/admin"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/console"
	"github.com/arbiter-dev/arbiter/engine/dispatch"
	"github.com/arbiter-dev/arbiter/engine/inbox"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/rates"
	"github.com/arbiter-dev/arbiter/engine/receiver"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/worker"
	"github.com/arbiter-dev/arbiter/policies"
)

// Agent is one running Arbiter process.
type Agent struct {
	cfg       config.Config
	log       hclog.Logger
	store     *store.Store
	inbox     *inbox.Inbox
	endpoints *receiver.Endpoints
	counters  *store.EndpointCounters
	rates     *rates.Sampler
	policies  *policy.Engine
	worker    *worker.Worker
	plugins   *pluginLanes
	dispatch  *dispatch.Dispatcher
	registry  *prometheus.Registry
	servers   []*http.Server
	listeners []net.Listener
	began     time.Time // when New was called, for the startup log
}

// Options are the parts of an agent that are not configuration.
type Options struct {
	Logger hclog.Logger
	// Announce receives one-time notices meant for the operator's terminal
	// and never for logs, such as a newly generated webhook secret.
	Announce io.Writer
}

// settingAdminToken keeps the admin token generated on first run.
const settingAdminToken = "admin.generated_token"

// New opens the store, provisions endpoints, checks the plugin
// configuration and starts loading the plugins in the background, loads the
// policies and binds the listeners. Serving starts with Run; deliveries
// start once the plugins are up.
func New(ctx context.Context, cfg config.Config, opts Options) (a *Agent, err error) {
	began := time.Now()
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
	a = &Agent{cfg: cfg, log: log, store: st, registry: prometheus.NewRegistry(), began: began}
	log.Debug("store open", "took", sinceMs(began))
	defer func(a *Agent) { // a itself is nil by then: return nil, err
		if err != nil {
			a.close()
		}
	}(a)
	if err := a.provisionEndpoints(ctx, opts.Announce); err != nil {
		return nil, err
	}
	if a.endpoints, err = receiver.NewEndpoints(ctx, st); err != nil {
		return nil, err
	}
	// The plugins are only checked here; they load in the background once
	// the agent serves (see pluginLanes).
	checked := time.Now()
	if a.plugins, err = a.preparePlugins(); err != nil {
		return nil, err
	}
	log.Debug("plugin configuration checked", "took", sinceMs(checked))
	// With the bundled plugins in one module, loading it beside the policy
	// gate puts plugins up about 90 ms sooner warm for 30 ms later
	// readiness (BENCHMARKS.md, Startup).
	a.plugins.start(a.began)
	src, err := policySource(cfg)
	if err != nil {
		return nil, err
	}
	gate := time.Now()
	if a.policies, err = policy.New(ctx, policy.Config{Source: src, Logger: log, Registerer: a.registry}); err != nil {
		return nil, err
	}
	log.Debug("policy gate passed", "took", sinceMs(gate))
	a.dispatch = dispatch.New(dispatch.Config{
		MaxAttempts: cfg.Dispatch.MaxAttempts,
		BaseDelay:   cfg.Dispatch.BaseDelay,
		MaxDelay:    cfg.Dispatch.MaxDelay,
		Concurrency: cfg.Dispatch.Concurrency,
		Plugins:     pluginNames(cfg.Plugins),
		Logger:      log.Named("dispatch"),
		Registerer:  a.registry,
	}, st, a.plugins)
	a.worker, err = worker.New(ctx, worker.Config{
		Partitions: cfg.Worker.Partitions,
		BatchSize:  cfg.Worker.BatchSize,
		Grace:      cfg.Worker.Grace,
		Logger:     log.Named("worker"),
		Registerer: a.registry,
		Committed:  a.dispatch.Notify,
	}, st, a.policies)
	if err != nil {
		return nil, err
	}
	if a.inbox, err = inbox.Open(ctx, inbox.Config{
		Dir:    filepath.Join(cfg.DataDir, "journal"),
		NoSync: cfg.Store.Sync == store.SyncNormal,
		// Room for several of the largest events in each segment.
		SegmentBytes: max(16<<20, 4*cfg.Receiver.MaxBodyBytes),
		MaxBatch:     cfg.Store.MaxBatch,
		BatchSize:    cfg.Inbox.BatchSize,
		MaxLag:       cfg.Inbox.MaxLag,
		MaxBacklog:   cfg.Inbox.MaxBacklog,
		Loaded:       a.worker.Notify,
		Logger:       log.Named("inbox"),
		Registerer:   a.registry,
	}, st); err != nil {
		return nil, err
	}
	tokens, err := a.adminTokens(ctx, opts.Announce)
	if err != nil {
		return nil, err
	}

	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "arbiter_inbox_depth",
		Help: "Events received but not yet processed.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := a.inbox.Stats(ctx)
		if err != nil {
			return -1
		}
		return float64(s.Pending)
	}))
	a.counters = store.NewEndpointCounters(st)
	a.rates = rates.New(rates.Config{Gatherer: a.registry, Counters: admin.OverviewCounters()})
	rc := receiver.New(receiver.Config{
		MaxBodyBytes: cfg.Receiver.MaxBodyBytes,
		Tolerance:    cfg.Receiver.Tolerance,
		Logger:       log.Named("receiver"),
		Registerer:   a.registry,
		Rejected:     a.counters.Reject,
	}, a.inbox, a.endpoints)
	api := admin.New(admin.Config{Tokens: tokens, ReadOnlyTokens: cfg.Admin.ReadOnlyTokens, Store: st, Policies: a.policies, Throttles: a.worker, Logger: log.Named("admin"),
		NotifyDispatch: a.dispatch.Notify,
		Endpoints:      a.endpoints, Counters: a.counters, Webhooks: rc, Configured: cfg.Endpoints, Holds: a.worker,
		Plugins: cfg.Plugins, PluginHost: a.plugins, Rates: a.rates, Inbox: a.inbox})

	mux := http.NewServeMux()
	mux.Handle("/webhooks/{endpoint}", rc)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /health", a.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{Registry: a.registry}))
	adminMux := mux
	if cfg.Admin.Listen != "" {
		adminMux = http.NewServeMux()
	}
	for _, route := range admin.Routes() {
		adminMux.Handle(route, api)
	}
	ui, err := console.New(console.Config{API: api, BasePath: cfg.Console.BasePath, SessionIdle: cfg.Console.SessionIdle,
		SessionMax: cfg.Console.SessionMax, SecureCookie: cfg.Console.SecureCookie, Logger: log.Named("console")})
	if err != nil {
		return nil, err
	}
	for _, route := range console.Routes() {
		adminMux.Handle(route, ui)
	}
	if err := a.listen(cfg.Listen, mux); err != nil {
		return nil, err
	}
	if cfg.Admin.Listen != "" {
		if err := a.listen(cfg.Admin.Listen, adminMux); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Agent) listen(addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	a.listeners = append(a.listeners, l)
	a.servers = append(a.servers, &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          a.log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	})
	return nil
}

// Addr is the address the agent listens on for webhooks.
func (a *Agent) Addr() net.Addr { return a.listeners[0].Addr() }

// Run serves until ctx is cancelled, then stops accepting, lets in-flight
// requests finish their commits, stops the worker at a batch boundary, and
// closes the store. SIGHUP reloads the policies. The plugins load while it
// serves; delivery starts when they are up, and a plugin that fails to load
// stops the agent with the error.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(a.servers)+2)
	// The overview's window starts from the counters before any request.
	if err := a.rates.Sample(); err != nil {
		a.log.Error("sampling the overview's counters failed", "error", err)
	}
	for i, srv := range a.servers {
		a.log.Info("listening", "addr", a.listeners[i].Addr().String(), "data_dir", a.cfg.DataDir,
			"policy_revision", policy.ShortRevision(a.policies.Set().Revision()), "startup", sinceMs(a.began))
		go func(srv *http.Server, l net.Listener) { errc <- srv.Serve(l) }(srv, a.listeners[i])
	}
	inboxCtx, stopInbox := context.WithCancel(context.Background())
	inboxDone := make(chan error, 1)
	go func() { inboxDone <- a.inbox.Run(inboxCtx) }()
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	go func() { workerDone <- a.worker.Run(workerCtx) }()
	ratesCtx, stopRates := context.WithCancel(context.Background())
	ratesDone := make(chan struct{})
	go func() {
		defer close(ratesDone)
		if err := a.rates.Run(ratesCtx); err != nil {
			a.log.Error("sampling the overview's counters stopped", "error", err)
		}
	}()
	countersCtx, stopCounters := context.WithCancel(context.Background())
	countersDone := make(chan error, 1)
	go func() { countersDone <- a.counters.Run(countersCtx) }()
	// Deliveries wait in the outbox until the plugins have loaded.
	pluginsLoaded := a.plugins.done
	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	dispatchDone := make(chan error, 1)
	go func() {
		select {
		case <-dispatchCtx.Done():
			dispatchDone <- nil
		case <-a.plugins.done:
			if a.plugins.err != nil {
				dispatchDone <- nil // Run stops the agent
				return
			}
			dispatchDone <- a.dispatch.Run(dispatchCtx)
		}
	}()
	if a.cfg.Policy.Dir != "" {
		go func() {
			if err := a.policies.Watch(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("policy watcher stopped; reload with SIGHUP or POST /-/reload", "error", err)
			}
		}()
	}
	if a.cfg.Policy.BundleURL != "" {
		go a.policies.Poll(ctx) // fails only for a source that is not a bundle
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			a.log.Info("SIGHUP: reloading policies")
			a.policies.Reload(ctx) // logged, counted and kept for status by the engine
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				runErr = err
			}
			break loop
		case err := <-workerDone:
			runErr = fmt.Errorf("worker stopped: %w", err)
			workerDone <- nil
			break loop
		case <-pluginsLoaded:
			if a.plugins.err != nil {
				runErr = a.plugins.err
				break loop
			}
			pluginsLoaded = nil
		}
	}
	a.log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), a.cfg.Shutdown)
	defer scancel()
	var errs []error
	for _, srv := range a.servers {
		errs = append(errs, srv.Shutdown(sctx))
	}
	stopRates()
	<-ratesDone
	stopCounters() // nothing is refused any more: store the last counts
	errs = append(errs, <-countersDone)
	// Nothing is acknowledged any more: load the journal's backlog, as much
	// as the shutdown timeout allows; the rest loads on the next start.
	stopInbox()
	errs = append(errs, <-inboxDone)
	if err := a.inbox.Drain(sctx); err != nil {
		a.log.Warn("journal not fully loaded at shutdown; the rest loads on the next start", "backlog", a.inbox.Backlog(), "error", err)
	}
	stopWorker()
	if err := <-workerDone; err != nil {
		errs = append(errs, err)
	}
	stopDispatch() // deliveries in flight finish and are recorded
	errs = append(errs, <-dispatchDone, a.plugins.close(sctx))
	errs = append(errs, runErr, a.inbox.Close(), a.store.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

func (a *Agent) close() {
	for _, l := range a.listeners {
		l.Close()
	}
	if a.plugins != nil {
		a.plugins.close(context.Background())
	}
	if a.inbox != nil {
		a.inbox.Close()
	}
	a.store.Close()
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
			secret, err := newToken("whsec_")
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

// adminTokens returns the configured admin tokens or, with none, the one
// generated on first run (shown once).
func (a *Agent) adminTokens(ctx context.Context, announce io.Writer) ([]string, error) {
	if len(a.cfg.Admin.Tokens) > 0 {
		return a.cfg.Admin.Tokens, nil
	}
	tok, ok, err := a.store.Setting(ctx, settingAdminToken)
	if err != nil {
		return nil, err
	}
	if ok {
		return []string{tok}, nil
	}
	if tok, err = newToken("arb_"); err != nil {
		return nil, err
	}
	if err := a.store.PutSetting(ctx, settingAdminToken, tok); err != nil {
		return nil, err
	}
	fmt.Fprintf(announce, "\nNo admin token was configured; generated one and saved it in %s.\n"+
		"It is shown only this once. Use it as the bearer token for /v1 (ARBITER_ADMIN_TOKEN for the CLI):\n\n    %s\n\n",
		a.cfg.DataDir, tok)
	a.log.Info("generated admin token")
	return []string{tok}, nil
}

// newToken returns prefix followed by 256 random bits in hex.
func newToken(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// sinceMs is the time since t, rounded for a log line.
func sinceMs(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// policySource is the configured policy set: a signed bundle, a directory,
// or the set built into the binary. The last good bundle is kept in the
// data directory, so that a start while the bundle server is down has a
// set to decide with.
func policySource(cfg config.Config) (policy.Source, error) {
	p := cfg.Policy
	switch {
	case p.BundleURL != "":
		key := p.BundleVerificationKey
		if p.BundleVerificationKeyFile != "" {
			b, err := os.ReadFile(p.BundleVerificationKeyFile)
			if err != nil {
				return policy.Source{}, fmt.Errorf("policy.bundle_verification_key_file: %w", err)
			}
			key = string(b)
		}
		return policy.Source{DataOverrides: p.Data, Bundle: &policy.BundleSource{
			URL:             p.BundleURL,
			VerificationKey: key,
			SigningAlg:      p.BundleSigningAlg,
			PollInterval:    p.BundlePollInterval,
			StartTimeout:    p.BundleStartTimeout,
			LastGood:        filepath.Join(cfg.DataDir, "policy", "bundle.tar.gz"),
		}}, nil
	case p.Dir != "":
		return policy.Source{Dir: p.Dir, DataOverrides: p.Data}, nil
	}
	return policy.Source{FS: policies.FS, DataOverrides: p.Data}, nil
}
