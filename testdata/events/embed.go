// Package events embeds the webhook body fixtures in this directory, so that
// tools such as `arbiter emit` can send them from outside the repository.
// Only the valid top-level *.json fixtures are embedded; bad/ is not.
package events

import "embed"

// FS holds the fixtures as "<name>.json", for example "delta.verified.json".
//
//go:embed *.json
var FS embed.FS
