// Command bundled is the one Wasm module that holds every bundled plugin.
// Each instance serves the plugin the host names through the select
// export (see plugins/ABI.md), so five plugins share one Go runtime and the
// host decodes, validates and compiles one module instead of five.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bundled.wasm ./plugins/bundled
//
// A plugin added here must be added to plugins.BundledNames too.
package main

import (
	_ "github.com/arbiter-dev/arbiter/plugins/auditlog"
	_ "github.com/arbiter-dev/arbiter/plugins/console"
	_ "github.com/arbiter-dev/arbiter/plugins/pagerduty"
	_ "github.com/arbiter-dev/arbiter/plugins/slack"
	_ "github.com/arbiter-dev/arbiter/plugins/webhook"
)

func main() {}
