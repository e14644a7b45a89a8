// Package plugins holds the bundled plugins' sources, one main package per
// folder, and embeds their compiled .wasm files from bundled/ so the agent
// can run them with no plugin files on disk. `make plugins` fills bundled/;
// a binary built without it carries no bundled plugins and says so when
// one is configured.
package plugins

import "embed"

// Bundled holds bundled/<name>.wasm for each bundled plugin that was built.
//
//go:embed all:bundled
var Bundled embed.FS
