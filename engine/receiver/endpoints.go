package receiver

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/arbiter-dev/arbiter/engine"
)

// Endpoints is the receiver's in-memory view of the store's endpoints, so a
// request costs no query. Reload after any change.
type Endpoints struct {
	store engine.Store
	m     atomic.Pointer[map[string]engine.Endpoint]
}

// NewEndpoints loads the endpoints from st.
func NewEndpoints(ctx context.Context, st engine.Store) (*Endpoints, error) {
	e := &Endpoints{store: st}
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload replaces the view with what the store holds now.
func (e *Endpoints) Reload(ctx context.Context) error {
	list, err := e.store.Endpoints(ctx)
	if err != nil {
		return fmt.Errorf("reload endpoints: %w", err)
	}
	m := make(map[string]engine.Endpoint, len(list))
	for _, ep := range list {
		m[ep.Name] = ep
	}
	e.m.Store(&m)
	return nil
}

// Get returns the endpoint called name.
func (e *Endpoints) Get(name string) (engine.Endpoint, bool) {
	ep, ok := (*e.m.Load())[name]
	return ep, ok
}
