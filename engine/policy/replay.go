package policy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/arbiter-dev/arbiter/engine"
)

// LoadCandidate loads the policy set in dir exactly as e loads its own
// source, data overrides included, compiled and gated by its tests, without
// making it active: what the agent would decide if pointed at dir.
func (e *Engine) LoadCandidate(ctx context.Context, dir string) (*Set, error) {
	return Load(ctx, Source{Dir: dir, DataOverrides: e.cfg.Source.DataOverrides})
}

// DecideStored evaluates a stored input document, the JSON the worker
// recorded with its decision, so that a replay sees the settlement state as
// it was when the event was decided.
func (s *Set) DecideStored(ctx context.Context, doc []byte) (Decision, error) {
	var in engine.Input
	if err := json.Unmarshal(doc, &in); err != nil {
		return Decision{Revision: s.revision}, fmt.Errorf("policy: stored input document: %w", err)
	}
	return s.Decide(ctx, &in)
}
