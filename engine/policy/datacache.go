package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
)

// dataCache is the base-document cache every evaluation of a set shares.
// OPA's default cache starts empty on every evaluation, so each decision
// read its thresholds from the store again and cached them for itself:
// a tenth of a quiet decision's allocations, and more of its time. A set's
// data never changes after Load, so one read-only cache can answer all
// evaluations, concurrently, from the data as the store holds it.
type dataCache struct{ root ast.Value }

func readData(ctx context.Context, store storage.Store) (dataCache, error) {
	root, err := storage.ReadOne(ctx, store, storage.RootPath)
	if err != nil {
		return dataCache{}, fmt.Errorf("policy: read data: %w", err)
	}
	v, ok := root.(ast.Value)
	if !ok {
		return dataCache{}, fmt.Errorf("policy: read data: the store returned %T, want an AST value", root)
	}
	return dataCache{root: v}, nil
}

// Get returns the value at ref, or nil to have OPA read the store itself:
// for data as a whole, which OPA filters, and for whatever Find does not
// reach, which the store may still find or report missing.
func (c dataCache) Get(ref ast.Ref) ast.Value {
	if len(ref) < 2 {
		return nil
	}
	v, err := c.root.Find(ref[1:])
	if err != nil {
		return nil
	}
	return v
}

// Put keeps nothing: the cache is shared and never changes. What Get
// declined is read from the store each time, which is what evaluation
// did for everything before.
func (dataCache) Put(ast.Ref, ast.Value) {}
