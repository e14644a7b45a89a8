package policy_test

import (
	"context"
	"fmt"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/policy"
)

// Load a policy set (it is compiled and its own tests run), then decide one
// input document. Overrides change a threshold without editing the files.
func Example() {
	ctx := context.Background()
	set, err := policy.Load(ctx, policy.Source{
		Dir:           "testdata/basic",
		DataOverrides: map[string]any{"thresholds": map[string]any{"drift": 2}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("tests passed:", set.Tests().Passed)

	in := &engine.Input{
		Version: engine.InputVersion,
		Event:   engine.Envelope{ID: "evt_1", Type: "delta.verified", Shape: "delta"},
		Period:  &engine.PeriodSection{ID: "2026-04", NetDelta: 103.5},
		State:   engine.State{Period: &engine.PeriodState{Ours: 100}},
	}
	d, err := set.Decide(ctx, in)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range d.Actions {
		fmt.Println(a.Type, a.Reason, a.Severity, a.Targets)
		fmt.Println(string(a.Raw))
	}
	// Output:
	// tests passed: 3
	// alert period_drift high [console pager]
	// {"drift":3.5,"marker":"a","reason":"period_drift","severity":"high","targets":["console","pager"],"type":"alert"}
}
