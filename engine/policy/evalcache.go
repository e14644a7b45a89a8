package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// evalCache is the virtual-document cache of one evaluation: the values of
// the rules evaluated so far for its input. OPA's default cache is a trie
// with a hash map on every level of every ref, so a quiet decision, which
// caches two documents, built five maps for them: a tenth of its
// allocations. A list that compares the refs' hashes first finds a few
// dozen entries as fast (all rules firing cache about 25); past
// evalCacheScan (a batch with many items firing caches a few per action)
// a map from hash to position takes over, or lookups would grow with the
// square of the actions.
type evalCache struct {
	entries []evalCacheEntry
	frames  []int           // where each frame starts in entries; `with` pushes one
	byHash  map[int][]int32 // positions in entries by hash, once there are many
	first   [4]evalCacheEntry
}

// evalCacheScan is how many entries are searched by scanning.
const evalCacheScan = 64

type evalCacheEntry struct {
	hash      int
	ref       ast.Ref
	value     *ast.Term
	undefined bool // Get returns nil for the ref, whatever value holds
}

func newEvalCache() *evalCache {
	c := &evalCache{}
	c.reset()
	return c
}

// evalCacheKeep is how many entries a reset cache keeps room for; a pooled
// cache that once held a thousand is not kept that large.
const evalCacheKeep = evalCacheScan

// reset empties the cache for another evaluation, dropping every ref and
// value it held.
func (c *evalCache) reset() {
	clear(c.entries)  // past len they are clear already: Pop clears what it drops
	clear(c.first[:]) // entries may have outgrown first and left copies in it
	if cap(c.entries) > evalCacheKeep || c.entries == nil {
		c.entries = c.first[:0]
	}
	c.entries = c.entries[:0]
	c.frames = c.frames[:0]
	c.byHash = nil
}

// Push starts an empty frame: entries of the frames below are not seen
// until Pop, as in OPA's cache, since `with` may change what they depend on.
func (c *evalCache) Push() { c.frames = append(c.frames, len(c.entries)) }

func (c *evalCache) Pop() {
	top := c.top()
	c.frames = c.frames[:len(c.frames)-1]
	if c.byHash != nil {
		// The popped entries are the last positions of their hashes.
		for i := len(c.entries) - 1; i >= top; i-- {
			h := c.entries[i].hash
			c.byHash[h] = c.byHash[h][:len(c.byHash[h])-1]
		}
	}
	clear(c.entries[top:])
	c.entries = c.entries[:top]
}

// top is where the top frame starts in entries.
func (c *evalCache) top() int {
	if len(c.frames) == 0 {
		return 0
	}
	return c.frames[len(c.frames)-1]
}

func (c *evalCache) find(ref ast.Ref, hash int) *evalCacheEntry {
	top := c.top()
	if c.byHash != nil {
		for _, i := range c.byHash[hash] {
			if int(i) >= top && c.entries[i].ref.Equal(ref) {
				return &c.entries[i]
			}
		}
		return nil
	}
	for i := top; i < len(c.entries); i++ {
		if c.entries[i].hash == hash && c.entries[i].ref.Equal(ref) {
			return &c.entries[i]
		}
	}
	return nil
}

// Get returns ref's value; nil and true if it is known to be undefined,
// nil and false if it is not cached.
func (c *evalCache) Get(ref ast.Ref) (*ast.Term, bool) {
	e := c.find(ref, ref.Hash())
	if e == nil {
		return nil, false
	}
	if e.undefined {
		return nil, true
	}
	return e.value, false
}

// Put caches ref's value, or that it is undefined if value is nil.
func (c *evalCache) Put(ref ast.Ref, value *ast.Term) {
	hash := ref.Hash()
	e := c.find(ref, hash)
	if e == nil {
		// ref may be a window on a buffer the evaluator goes on to reuse.
		c.entries = append(c.entries, evalCacheEntry{hash: hash, ref: slices.Clone(ref)})
		c.index(len(c.entries) - 1)
		e = &c.entries[len(c.entries)-1]
	}
	if value != nil {
		e.value = value
	} else {
		e.undefined = true
	}
}

// index records the entry at position i in byHash, building byHash once
// the entries outgrow scanning.
func (c *evalCache) index(i int) {
	switch {
	case c.byHash != nil:
		c.byHash[c.entries[i].hash] = append(c.byHash[c.entries[i].hash], int32(i))
	case len(c.entries) > evalCacheScan:
		c.byHash = make(map[int][]int32, 2*len(c.entries))
		for j := range c.entries {
			c.byHash[c.entries[j].hash] = append(c.byHash[c.entries[j].hash], int32(j))
		}
	}
}

// Keys are the refs the top frame holds a value for.
func (c *evalCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range c.entries[c.top():] {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
