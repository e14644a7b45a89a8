// Package policies embeds the default Rego policy set so the agent runs
// without a policy directory. Operators who change rules point the agent at
// a copy of this directory instead (policy.dir), which it watches and
// hot-reloads.
package policies

import "embed"

// FS holds the default policies, their tests and data.json.
//
//go:embed *.rego data.json
var FS embed.FS
