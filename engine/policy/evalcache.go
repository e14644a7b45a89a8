package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// evalCache is the virtual-document cache of one evaluation: the values of
// the rules evaluated so far for its input. OPA's default cache is a trie
// with a hash map on every level of every ref, so a quiet decision, which
// caches two documents, built five maps for them: a tenth of its
// allocations. A few dozen entries at most, firing or not, are found as
// fast by a list that compares their refs' hashes first.
type evalCache struct {
	entries []evalCacheEntry
	frames  []int // where each frame starts in entries; `with` pushes one
	first   [4]evalCacheEntry
}

type evalCacheEntry struct {
	hash      int
	ref       ast.Ref
	value     *ast.Term // nil and undefined: the ref is known to be undefined
	undefined bool
}

func newEvalCache() *evalCache {
	c := &evalCache{}
	c.entries = c.first[:0]
	return c
}

// Push starts an empty frame: entries of the frames below are not seen
// until Pop, as in OPA's cache, since `with` may change what they depend on.
func (c *evalCache) Push() { c.frames = append(c.frames, len(c.entries)) }

func (c *evalCache) Pop() {
	top := c.frames[len(c.frames)-1]
	c.frames = c.frames[:len(c.frames)-1]
	clear(c.entries[top:])
	c.entries = c.entries[:top]
}

// frame is the entries of the top frame.
func (c *evalCache) frame() []evalCacheEntry {
	if len(c.frames) == 0 {
		return c.entries
	}
	return c.entries[c.frames[len(c.frames)-1]:]
}

func (c *evalCache) find(ref ast.Ref, hash int) *evalCacheEntry {
	f := c.frame()
	for i := range f {
		if f[i].hash == hash && f[i].ref.Equal(ref) {
			return &f[i]
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
		e = &c.entries[len(c.entries)-1]
	}
	if value != nil {
		e.value = value
	} else {
		e.undefined = true
	}
}

// Keys are the refs the top frame holds a value for.
func (c *evalCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range c.frame() {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
