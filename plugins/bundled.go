// Package plugins holds the bundled plugins' sources, one package per
// folder, and embeds the module they are built into, bundled/bundled.wasm
// (from bundled/main.go), so the agent can run them with no plugin files
// on disk. `make plugins` builds it; a binary built without it carries no
// bundled plugins and says so when one is configured.
package plugins

import (
	"embed"
	"errors"
	"io/fs"
	"slices"
)

// bundled is the folder, not the module alone: embedding a file that is not
// there would break every build made before `make plugins`.
//
//go:embed all:bundled
var bundled embed.FS

// BundledNames are the plugins bundled.wasm holds, sorted: the entries a
// "bundled:<name>" plugin path may name. bundled/main.go imports each.
var BundledNames = []string{"auditlog", "console", "pagerduty", "slack", "webhook"}

// ErrNotBuilt is Module's error when the binary was built without
// `make plugins`.
var ErrNotBuilt = errors.New("bundled plugins not built into this binary (build with `make build`, which runs `make plugins` first)")

const modulePath = "bundled/bundled.wasm"

// Module returns a copy of bundled.wasm, the module of every bundled plugin.
func Module() ([]byte, error) {
	b, err := fs.ReadFile(bundled, modulePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotBuilt
	}
	return b, err
}

// Built reports whether the binary carries the bundled plugins, without
// copying them as Module does.
func Built() bool {
	_, err := fs.Stat(bundled, modulePath)
	return err == nil
}

// IsBundled reports whether name is a bundled plugin.
func IsBundled(name string) bool {
	_, ok := slices.BinarySearch(BundledNames, name)
	return ok
}
