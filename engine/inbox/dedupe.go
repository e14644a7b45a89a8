package inbox

import (
	"crypto/sha256"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
)

// key names one dedupe key of an event: its endpoint with its event id, or
// its endpoint with its body digest. 128 bits of SHA-256, so that two
// different events never share a key in practice, as they never share a
// digest.
type key [16]byte

func keysOf(endpoint, eventID, digest string) [2]key {
	return [2]key{keyOf(endpoint, 'i', eventID), keyOf(endpoint, 'd', digest)}
}

func keyOf(endpoint string, kind byte, v string) key {
	// Hashed from one buffer, on the stack for the usual short ids: this runs
	// twice per acknowledgement.
	var stack [256]byte
	b := append(stack[:0], endpoint...)
	b = append(b, 0, kind, 0)
	b = append(b, v...)
	sum := sha256.Sum256(b)
	return key(sum[:16])
}

// filterFalsePositives is the filter's target false-positive rate: one
// acknowledgement in a thousand asks the store whether it is a duplicate.
const filterFalsePositives = 0.001

// minFilterKeys sizes the smallest filter: 2 Mi keys (1 Mi events) take
// about 3.6 MB.
const minFilterKeys = 2 << 20

// dedupe answers "was this event seen?" without the store for almost every
// new event. Keys of events in the journal but not yet loaded are held
// exactly in pending; keys of stored events go into a Bloom filter, and
// only a filter hit is confirmed against the store. Until the filter is
// built from the store (at start, in the background), every event is
// confirmed there.
type dedupe struct {
	mu      sync.Mutex
	pending map[key]struct{}
	filter  *bloom.BloomFilter // nil: not built yet
	gen     uint64             // loads committed, to spot one between reserve and claim
	// building receives the keys of events loaded while a filter is being
	// built, so that none loaded after the build's scan began is missed.
	building *bloom.BloomFilter
	// keys counts the keys added to filter (and building) and capacity is
	// what each was sized for; past it the false-positive rate climbs.
	keys, capacity           uint
	buildKeys, buildCapacity uint
}

func newDedupe() *dedupe {
	return &dedupe{pending: make(map[key]struct{})}
}

// Outcomes of reserve and claim.
const (
	claimed   = iota // ks are now pending: journal the event
	duplicate        // one of ks is pending or stored
	ask              // the filter cannot rule ks out: ask the store, then claim
	retry            // a load moved keys since reserve: reserve again
)

// reserve claims ks when neither is pending and the filter rules both out,
// in one critical section, so that no load can slip in between. Otherwise
// it says to ask the store, with the load generation to claim under.
func (d *dedupe) reserve(ks [2]key) (outcome int, gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.isPending(ks):
		return duplicate, 0
	case d.filter == nil || d.filter.Test(ks[0][:]) || d.filter.Test(ks[1][:]):
		return ask, d.gen
	}
	d.pending[ks[0]], d.pending[ks[1]] = struct{}{}, struct{}{}
	return claimed, 0
}

// claim makes ks pending after the store said it has neither, unless one
// is pending now (a concurrent delivery of the same event) or a load has
// committed since reserve (the store's answer may be stale).
func (d *dedupe) claim(ks [2]key, gen uint64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.isPending(ks):
		return duplicate
	case d.gen != gen:
		return retry
	}
	d.pending[ks[0]], d.pending[ks[1]] = struct{}{}, struct{}{}
	return claimed
}

// take makes ks pending unconditionally: replaying the journal at start.
func (d *dedupe) take(ks [2]key) {
	d.mu.Lock()
	d.pending[ks[0]], d.pending[ks[1]] = struct{}{}, struct{}{}
	d.mu.Unlock()
}

func (d *dedupe) isPending(ks [2]key) bool {
	_, a := d.pending[ks[0]]
	_, b := d.pending[ks[1]]
	return a || b
}

// release drops a claim whose event was not journaled.
func (d *dedupe) release(ks [2]key) {
	d.mu.Lock()
	delete(d.pending, ks[0])
	delete(d.pending, ks[1])
	d.mu.Unlock()
}

// stored moves keys from pending to the filter once their events are
// committed to the store. It reports whether the filter holds more keys than
// it was sized for and should be rebuilt larger.
func (d *dedupe) stored(ks [][2]key) (full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range ks {
		delete(d.pending, k[0])
		delete(d.pending, k[1])
		if d.filter != nil {
			d.filter.Add(k[0][:])
			d.filter.Add(k[1][:])
		}
		if d.building != nil {
			d.building.Add(k[0][:])
			d.building.Add(k[1][:])
		}
	}
	d.gen++
	d.keys += 2 * uint(len(ks))
	d.buildKeys += 2 * uint(len(ks))
	return d.filter != nil && d.building == nil && d.keys > d.capacity
}

// startBuild begins a filter for n keys; the caller then adds every stored
// event's keys with add and ends with finishBuild.
func (d *dedupe) startBuild(n uint) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.building != nil {
		return false
	}
	d.buildCapacity = max(n, minFilterKeys)
	d.building = bloom.NewWithEstimates(d.buildCapacity, filterFalsePositives)
	d.buildKeys = 0
	return true
}

func (d *dedupe) add(ks [][2]key) {
	d.mu.Lock()
	for _, k := range ks {
		d.building.Add(k[0][:])
		d.building.Add(k[1][:])
	}
	d.buildKeys += 2 * uint(len(ks))
	d.mu.Unlock()
}

func (d *dedupe) finishBuild() {
	d.mu.Lock()
	d.filter, d.building = d.building, nil
	d.keys, d.capacity = d.buildKeys, d.buildCapacity
	d.mu.Unlock()
}

func (d *dedupe) abandonBuild() {
	d.mu.Lock()
	d.building = nil
	d.mu.Unlock()
}
