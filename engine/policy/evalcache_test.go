package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestEvalCacheActsLikeOPAs applies the same random operations to evalCache
// and to OPA's own virtual cache and requires the same answers throughout,
// with few entries (scanned) and with many (indexed by hash), and after
// reset.
func TestEvalCacheActsLikeOPAs(t *testing.T) {
	refs := []ast.Ref{
		ast.MustParseRef("data.a"),
		ast.MustParseRef("data.a.b"),
		ast.MustParseRef("data.a.c"),
		ast.MustParseRef("data.x.b.a"), // the same terms as data.a.b, in another order: the same hash sum
		ast.MustParseRef(`data.f[{"k": 1}]`),
		ast.MustParseRef(`data.f[{"k": 2}]`),
		ast.MustParseRef(`data.f[{"k": 1}][1]`),
	}
	for i := range 3 * evalCacheScan {
		refs = append(refs, ast.MustParseRef(fmt.Sprintf(`data.g[%d]`, i)))
	}
	values := []*ast.Term{nil, ast.StringTerm("v"), ast.NumberTerm("1"), ast.MustParseTerm(`{"k": [1]}`)}
	rng := rand.New(rand.NewPCG(1, 2))
	indexed := 0
	ours := newEvalCache()
	for run := range 300 {
		// One cache for all runs, reset between them as the pool resets
		// it: nothing of a run may be seen in the next.
		ours.reset()
		theirs := topdown.NewVirtualCache()
		some, ops := refs[:7], 60
		if run%3 == 0 {
			some, ops = refs, 10*evalCacheScan
		}
		depth := 0
		for op := range ops {
			ref := some[rng.IntN(len(some))]
			switch n := rng.IntN(10); {
			case n < 4:
				// Put a copy and then scribble over it, as the evaluator
				// reuses the buffer a ref it caches is a window on.
				buf := slices.Clone(ref)
				v := values[rng.IntN(len(values))]
				ours.Put(buf, v)
				theirs.Put(ref, v)
				for i := range buf {
					buf[i] = ast.StringTerm("scribbled")
				}
			case n < 5:
				ours.Push()
				theirs.Push()
				depth++
			case n < 6 && depth > 0:
				ours.Pop()
				theirs.Pop()
				depth--
			default:
				got, gotUndefined := ours.Get(ref)
				want, wantUndefined := theirs.Get(ref)
				require.True(t, got.Equal(want) && gotUndefined == wantUndefined,
					"run ", run, " op ", op, ": Get(", ref, ") = ", got, gotUndefined, ", OPA's ", want, wantUndefined)
			}
			if op%8 == 0 {
				require.Equal(t, sortedRefs(theirs.Keys()), sortedRefs(ours.Keys()), "run ", run, " op ", op, ": Keys")
			}
		}
		if ours.byHash != nil {
			indexed++
		}
		if run%3 == 0 {
			// Leave frames pushed: an evaluation that fails stops anywhere.
			ours.Push()
			ours.Put(refs[0], values[1])
		}
	}
	require.True(t, indexed > 50, "runs that reached the index: ", indexed)
}

func sortedRefs(refs []ast.Ref) []string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	slices.Sort(s)
	return s
}
