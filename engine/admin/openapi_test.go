package admin_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/arbiter-dev/arbiter/engine/admin"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/policies"
)

// TestOpenAPIMatchesRoutes checks that docs/openapi.yaml is a valid spec
// that documents exactly the routes the API serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile("../../docs/openapi.yaml")
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))

	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	pe, err := policy.New(context.Background(), policy.Config{Source: policy.Source{FS: policies.FS}})
	require.NoError(t, err)
	served := admin.New(admin.Config{Policies: pe}).Patterns()
	slices.Sort(documented)
	slices.Sort(served)
	for _, p := range served {
		if !slices.Contains(documented, p) {
			t.Errorf("served but not in docs/openapi.yaml: %s", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(served, p) {
			t.Errorf("in docs/openapi.yaml but not served: %s", p)
		}
	}
}
