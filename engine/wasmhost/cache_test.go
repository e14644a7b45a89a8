package wasmhost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"
	"github.com/arbiter-dev/arbiter/engine/testing/tmpfs"
)

// The compilation cache only saves compiling again after a restart: a
// cache that cannot be written (a full disk) or made at all compiles in
// memory, with a warning, and the plugins load.
func TestCompilationCacheCannotBeWritten(t *testing.T) {
	for _, c := range []struct {
		name string
		dir  func(t *testing.T) string
		warn string
	}{
		{"full disk", func(t *testing.T) string {
			dir := tmpfs.Mount(t, 1<<20)
			tmpfs.Fill(t, dir)
			return filepath.Join(dir, "wasm-cache")
		}, "the compilation cache cannot be written; compiling in memory"},
		{"not a directory", func(t *testing.T) string {
			file := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(file, "wasm-cache")
		}, "the compilation cache cannot be opened; compiling in memory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs capture.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
			h, err := New(context.Background(), Config{CacheDir: c.dir(t), Plugins: []PluginConfig{{Name: "m", Path: guest["minimal"]}}}, WithLogger(log))
			requireNoError(t, err)
			defer h.Close(context.Background())
			requireOK(t, h, "m", action(`{"type":"x"}`))
			if !strings.Contains(logs.String(), c.warn) {
				t.Fatalf("no warning %q in the log:\n%s", c.warn, logs.String())
			}
		})
	}
}
