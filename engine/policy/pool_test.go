package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// echoInput is a set whose actions are made of the input's own terms,
// whole sub-documents included, so a decision shows any term of another
// evaluation's document that it sees.
const echoInput = `package arbiter

decision := {"actions": _actions}

_actions := input.data.actions if {
	input.data.actions
} else := [{"type": "echo", "reason": input.event.id, "severity": "info", "event": input.event, "state": input.state, "n": _n}]

_n := input.period.netDelta * 2
`

// TestPooledStateIsNotShared decides different inputs alternately, from
// several goroutines, and requires of each decision what its input gets
// alone: Decide reuses term slabs and evaluation state through pools, and
// nothing of one evaluation (input terms, cached rule values) may show in
// another.
func TestPooledStateIsNotShared(t *testing.T) {
	ctx := context.Background()
	echo, err := Load(ctx, Source{FS: fstest.MapFS{"decision.rego": {Data: []byte(echoInput)}}})
	require.NoError(t, err)
	type job struct {
		set  *Set
		in   *engine.Input
		want []string // the actions' Raw
	}
	var jobs []job
	for i := range 12 {
		in := driftInput(float64(i) + 0.25)
		in.Event.ID = fmt.Sprintf("evt_%d", i)
		if i%3 == 0 {
			// Actions straight from the payload, a different number each.
			var acts []string
			for j := range i/3 + 1 {
				acts = append(acts, fmt.Sprintf(`{"type":"t","reason":"r%d_%d","severity":"s"}`, i, j))
			}
			in.Data = json.RawMessage(`{"actions":[` + strings.Join(acts, ",") + `]}`)
		}
		jobs = append(jobs, job{set: echo, in: in})
	}
	def := loadDefault(t)
	inputs, err := filepath.Glob("../../testdata/inputs/*.input.json")
	require.NoError(t, err)
	for _, p := range inputs {
		jobs = append(jobs, job{set: def, in: goldenInput(t, strings.TrimSuffix(filepath.Base(p), ".input.json"))})
	}
	jobs = append(jobs, job{set: def, in: allFiring()})

	decide := func(j job) ([]string, error) {
		d, err := j.set.Decide(ctx, j.in)
		raw := make([]string, len(d.Actions))
		for i, a := range d.Actions {
			raw[i] = string(a.Raw)
		}
		return raw, err
	}
	for i := range jobs {
		jobs[i].want, err = decide(jobs[i])
		require.NoError(t, err)
	}
	// The echo set's decisions say which input they come from.
	for i, j := range jobs[:12] {
		if i%3 == 0 {
			require.Equal(t, i/3+1, len(j.want))
			require.Contains(t, j.want[0], fmt.Sprintf(`"reason":"r%d_0"`, i))
		} else {
			require.Equal(t, 1, len(j.want))
			require.Contains(t, j.want[0], fmt.Sprintf(`"reason":"evt_%d"`, i))
			require.Contains(t, j.want[0], fmt.Sprintf(`"n":%g`, 2*(float64(i)+0.25)))
		}
	}

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 300 {
				j := jobs[rng.IntN(len(jobs))]
				got, err := decide(j)
				if err != nil || !slices.Equal(j.want, got) {
					t.Errorf("%s: got %q (%v), want %q", j.in.Event.ID, got, err, j.want)
					return
				}
			}
		})
	}
	wg.Wait()
}
