package policy

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// dataReads reads base data every way a policy can: a leaf, an object, an
// array element, a string index the store resolves but Find does not,
// iteration, a missing key, and a value replaced with `with`.
const dataReads = `package arbiter

decision := {"actions": [a | some a in _actions]}

_action(reason, v) := {"type": "t", "reason": reason, "severity": "info", "v": v}

_actions contains _action("leaf", data.limits.drift) if input.period.netDelta > data.limits.drift
_actions contains _action("object", data.limits)
_actions contains _action("element", data.routes[1].to)
_actions contains _action("string index", data.routes["0"])
_actions contains _action("iteration", k) if some k, _ in data.limits
_actions contains _action("missing", null) if not data.limits.nope
_actions contains _action("with", v) if v := data.limits.drift with data.limits.drift as 99
_actions contains _action("after with", data.limits.drift)
`

// TestDataCacheAgreesWithStore decides with the shared data cache and with
// OPA's own per-evaluation cache, which reads the store: the decisions must
// be the same.
func TestDataCacheAgreesWithStore(t *testing.T) {
	ctx := context.Background()
	set, err := Load(ctx, Source{FS: fstest.MapFS{
		"decision.rego": {Data: []byte(dataReads)},
		"data.json":     {Data: []byte(`{"limits": {"drift": 1, "lag": 2.5}, "routes": [{"to": ["a"]}, {"to": ["b", "c"]}]}`)},
	}})
	require.NoError(t, err)
	for _, in := range []*engine.Input{quietInput(), driftInput(105), {}} {
		d, err := set.Decide(ctx, in)
		require.NoError(t, err)
		require.True(t, len(d.Actions) >= 7, d.Actions)

		v, err := inputValue(in)
		require.NoError(t, err)
		decision, err := set.eval(ctx, ast.NewTerm(v), nil)
		require.NoError(t, err)
		want, err := actionsOf(decision.Value)
		require.NoError(t, err)
		require.Equal(t, len(want), len(d.Actions))
		for i := range want {
			require.Equal(t, string(want[i].Raw), string(d.Actions[i].Raw))
		}
	}
}
