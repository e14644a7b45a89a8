package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/plugins"
)

// bundledPrefix marks a plugin path that names a plugin built into the
// binary rather than a file.
const bundledPrefix = "bundled:"

// loadPlugins starts the wasm host with the configured plugin instances.
func (a *Agent) loadPlugins(ctx context.Context) (*wasmhost.Host, error) {
	hc := wasmhost.Config{CacheDir: filepath.Join(a.cfg.DataDir, "wasm-cache")}
	for _, p := range a.cfg.Plugins {
		path, err := a.pluginPath(p.Path)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", p.Name, err)
		}
		raw := []byte("{}")
		if p.Config != nil {
			if raw, err = json.Marshal(p.Config); err != nil {
				return nil, fmt.Errorf("plugin %s: config: %w", p.Name, err)
			}
		}
		hc.Plugins = append(hc.Plugins, wasmhost.PluginConfig{
			Name: p.Name, Path: path, Config: raw, AllowHosts: p.AllowHosts, Secrets: p.Secrets,
			PoolSize: p.PoolSize, Timeout: p.Timeout, MemoryLimitPages: p.MemoryLimitPages,
			MaxCallsPerInstance: p.MaxCallsPerInstance, HTTPTimeout: p.HTTPTimeout,
			MaxResponseBytes: p.MaxResponseBytes, MaxOutputBytes: p.MaxOutputBytes,
		})
	}
	return wasmhost.New(ctx, hc, wasmhost.WithLogger(a.log.Named("plugin")), wasmhost.WithKV(a.store.PluginKV()))
}

// pluginPath resolves "bundled:<name>" to a file in the data directory,
// written from the binary when it differs, so the compilation cache keys on
// stable content.
func (a *Agent) pluginPath(path string) (string, error) {
	name, ok := strings.CutPrefix(path, bundledPrefix)
	if !ok {
		return path, nil
	}
	wasm, err := fs.ReadFile(plugins.Bundled, "bundled/"+name+".wasm")
	if err != nil {
		return "", fmt.Errorf("no bundled plugin %q in this binary (build with `make build`, which runs `make plugins` first)", name)
	}
	dir := filepath.Join(a.cfg.DataDir, "bundled-plugins")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, name+".wasm")
	if cur, err := os.ReadFile(dst); err == nil && bytes.Equal(cur, wasm) {
		return dst, nil
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, wasm, 0o600); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp, dst)
}

var _ wasmhost.KV = store.PluginKV{}

// pluginNames lists configured plugin instance names.
func pluginNames(ps []config.Plugin) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}
