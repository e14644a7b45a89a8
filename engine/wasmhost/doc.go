// Package wasmhost runs Arbiter's plugins: WebAssembly modules, hosted with
// wazero, that carry out the actions policies decide.
//
// A Host loads every configured plugin instance once at startup (compiled
// through an on-disk compilation cache, checked against ABI v1, config
// validated against the schema the plugin describes) and keeps a pool of
// initialized instances per plugin. Invoke runs one delivery on a pooled
// instance under a deadline and a memory cap; an instance that traps, times
// out or runs out of memory is closed and replaced, and only that call
// fails. The guest's only ways out are the host functions of the ABI —
// log, now, http (to its allowed hosts), a key-value store scoped to the
// plugin, and the secrets granted to it — see abi.go and plugins/ABI.md.
//
//	h, err := wasmhost.New(ctx, wasmhost.Config{
//		CacheDir: filepath.Join(dataDir, "wasm-cache"),
//		Plugins: []wasmhost.PluginConfig{{
//			Name:       "slack",
//			Path:       "plugins/slack.wasm",
//			Config:     json.RawMessage(`{"webhook_url_secret":"slack_url"}`),
//			AllowHosts: []string{"hooks.slack.com"},
//			Secrets:    wasmhost.Secrets{"slack_url": os.Getenv("SLACK_WEBHOOK_URL")},
//		}},
//	}, wasmhost.WithLogger(logger), wasmhost.WithKV(store))
//	...
//	res, err := h.Invoke(ctx, "slack", wasmhost.Request{Action: action.Raw, ...})
//	switch {
//	case err != nil && wasmhost.Retryable(err): // back off and retry
//	case err != nil: // dead-letter
//	case res.Status == wasmhost.StatusRetry: // retry after res.RetryAfter
//	...
//	}
//
// Check is the ABI conformance kit behind `arbiter plugin check`.
// RATIONALE.md records why the host is built this way.
package wasmhost
