package worker

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Hold is a delta waiting for its predecessor: its previousProofHash is not
// in the customer's chain yet, and the grace window is still open.
type Hold struct {
	Customer          string
	EventSeq          int64
	EventID           string
	ProofHash         string
	PreviousProofHash string
	Since             time.Time // when the worker put it on hold
	Until             time.Time // end of its grace window
}

// holdSet mirrors the holds of every partition for readers outside the
// worker; each partition keeps its own held jobs without locking.
type holdSet struct {
	mu sync.Mutex
	m  map[int64]Hold // by event seq
}

func (s *holdSet) add(h Hold) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int64]Hold{}
	}
	s.m[h.EventSeq] = h
}

func (s *holdSet) remove(seq int64) {
	s.mu.Lock()
	delete(s.m, seq)
	s.mu.Unlock()
}

// Holds returns the events held now, by customer and then inbox order. It
// is safe for concurrent use.
func (w *Worker) Holds() []Hold {
	w.holds.mu.Lock()
	out := make([]Hold, 0, len(w.holds.m))
	for _, h := range w.holds.m {
		out = append(out, h)
	}
	w.holds.mu.Unlock()
	slices.SortFunc(out, func(a, b Hold) int {
		return cmp.Or(cmp.Compare(a.Customer, b.Customer), cmp.Compare(a.EventSeq, b.EventSeq))
	})
	return out
}
