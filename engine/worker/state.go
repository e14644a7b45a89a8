package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine/store"
)

// maxCached bounds each cache; past it the cache is dropped and refilled
// from the store on demand.
const maxCached = 200_000

// state is one partition's settlement state: read through from the store,
// written back in the batch's transaction. The partition owns its streams,
// so nothing else writes these rows while it runs.
type state struct {
	st *store.Store

	chains  map[string]chainEntry
	proofs  map[string]proofEntry
	periods map[string]store.PeriodTotal
	streams map[string]streamEntry
	applied map[string]string // stream, seq → batch id ("" when not applied)
	// gaps are batch streams with batches missing below applied ones, and
	// since when; they outlive cache resets.
	gaps  map[string]time.Time
	items map[string]store.Item

	dirtyChains  map[string]struct{}
	dirtyPeriods map[string]struct{}
	dirtyStreams map[string]struct{}
	dirtyItems   map[string]struct{}
}

type chainEntry struct {
	store.ChainHead
	exists bool
}

type proofEntry struct {
	store.Proof
	exists bool
}

type streamEntry struct {
	store.BatchStream
	exists bool
	maxSeq int64 // highest applied batch
}

func newState(st *store.Store) *state {
	s := &state{st: st, gaps: map[string]time.Time{}}
	s.reset()
	return s
}

func (s *state) reset() {
	s.chains = map[string]chainEntry{}
	s.proofs = map[string]proofEntry{}
	s.periods = map[string]store.PeriodTotal{}
	s.streams = map[string]streamEntry{}
	s.applied = map[string]string{}
	s.items = map[string]store.Item{}
	s.clearDirty()
}

func (s *state) clearDirty() {
	s.dirtyChains = map[string]struct{}{}
	s.dirtyPeriods = map[string]struct{}{}
	s.dirtyStreams = map[string]struct{}{}
	s.dirtyItems = map[string]struct{}{}
}

// trim drops caches that grew past maxCached. Only call between batches,
// when nothing is dirty.
func (s *state) trim() {
	if len(s.proofs) > maxCached || len(s.chains) > maxCached || len(s.periods) > maxCached ||
		len(s.streams) > maxCached || len(s.applied) > maxCached || len(s.items) > maxCached {
		s.reset()
	}
}

func (s *state) chain(ctx context.Context, customer string) (chainEntry, error) {
	if c, ok := s.chains[customer]; ok {
		return c, nil
	}
	h, ok, err := s.st.Chain(ctx, customer)
	if err != nil {
		return chainEntry{}, err
	}
	c := chainEntry{ChainHead: h, exists: ok}
	s.chains[customer] = c
	return c, nil
}

func (s *state) setChain(h store.ChainHead) {
	s.chains[h.Customer] = chainEntry{ChainHead: h, exists: true}
	s.dirtyChains[h.Customer] = struct{}{}
}

func (s *state) proof(ctx context.Context, customer, hash string) (proofEntry, error) {
	k := customer + "\x00" + hash
	if p, ok := s.proofs[k]; ok {
		return p, nil
	}
	p, ok, err := s.st.Proof(ctx, customer, hash)
	if err != nil {
		return proofEntry{}, err
	}
	e := proofEntry{Proof: p, exists: ok}
	s.proofs[k] = e
	return e, nil
}

// addProof records a new proof; the caller also adds it to the changes
// (proofs are insert-only).
func (s *state) addProof(p store.Proof) {
	s.proofs[p.Customer+"\x00"+p.Hash] = proofEntry{Proof: p, exists: true}
}

func (s *state) period(ctx context.Context, customer, period string) (store.PeriodTotal, error) {
	k := customer + "\x00" + period
	if p, ok := s.periods[k]; ok {
		return p, nil
	}
	p, err := s.st.PeriodTotal(ctx, customer, period)
	if err != nil {
		return p, err
	}
	s.periods[k] = p
	return p, nil
}

func (s *state) setPeriod(p store.PeriodTotal) {
	k := p.Customer + "\x00" + p.Period
	s.periods[k] = p
	s.dirtyPeriods[k] = struct{}{}
}

func (s *state) stream(ctx context.Context, stream string) (streamEntry, error) {
	if b, ok := s.streams[stream]; ok {
		return b, nil
	}
	b, ok, err := s.st.BatchStream(ctx, stream)
	if err != nil {
		return streamEntry{}, err
	}
	e := streamEntry{BatchStream: b, exists: ok, maxSeq: b.MaxSeq}
	if e.maxSeq > b.LastSeq {
		// Batches above the watermark: a gap was open when this state was
		// last written. Give the missing ones a fresh grace window.
		s.openGap(stream, time.Now())
	}
	s.streams[stream] = e
	return e, nil
}
func (s *state) setStream(b store.BatchStream) {
	e := s.streams[b.Stream]
	e.BatchStream, e.exists = b, true
	e.maxSeq = max(e.maxSeq, b.LastSeq)
	s.streams[b.Stream] = e
	s.dirtyStreams[b.Stream] = struct{}{}
}

// openGap notes that stream has batches missing below applied ones.
func (s *state) openGap(stream string, now time.Time) {
	if _, ok := s.gaps[stream]; !ok {
		s.gaps[stream] = now
	}
}

// advance moves the watermark of stream to seq, and on over every batch
// applied right after it.
func (s *state) advance(ctx context.Context, stream string, seq int64, id string) error {
	for {
		next, err := s.batchID(ctx, stream, seq+1)
		if err != nil {
			return err
		}
		if next == "" {
			break
		}
		seq, id = seq+1, next
	}
	s.setStream(store.BatchStream{Stream: stream, LastSeq: seq, LastBatchID: id})
	if e := s.streams[stream]; e.maxSeq > seq {
		s.openGap(stream, time.Now())
	} else {
		delete(s.gaps, stream)
	}
	return nil
}

// skipGap gives up on the batches missing above the watermark: it moves to
// the lowest applied batch above it, and on from there.
func (s *state) skipGap(ctx context.Context, stream string, now time.Time) error {
	e, err := s.stream(ctx, stream)
	if err != nil {
		return err
	}
	seq, id, ok, err := s.st.NextBatch(ctx, stream, e.LastSeq)
	if err != nil || !ok {
		return err
	}
	return s.advance(ctx, stream, seq, id)
}

func (s *state) batchApplied(ctx context.Context, stream string, seq int64) (bool, error) {
	id, err := s.batchID(ctx, stream, seq)
	return id != "", err
}

// batchID is the id of applied batch seq of stream, or "" when not applied.
func (s *state) batchID(ctx context.Context, stream string, seq int64) (string, error) {
	k := stream + "\x00" + strconv.FormatInt(seq, 10)
	if v, ok := s.applied[k]; ok {
		return v, nil
	}
	m, err := s.st.BatchesApplied(ctx, stream, []int64{seq})
	if err != nil {
		return "", err
	}
	s.applied[k] = m[seq]
	return m[seq], nil
}
func (s *state) markApplied(stream string, seq int64, id string) {
	s.applied[stream+"\x00"+strconv.FormatInt(seq, 10)] = id
	if e, ok := s.streams[stream]; ok && seq > e.maxSeq {
		e.maxSeq = seq
		s.streams[stream] = e
	}
}

func (s *state) item(ctx context.Context, key string) (store.Item, bool, error) {
	if it, ok := s.items[key]; ok {
		return it, it.Writes > 0, nil
	}
	it, ok, err := s.st.Item(ctx, key)
	if err != nil {
		return it, false, err
	}
	s.items[key] = it
	return it, ok, nil
}

func (s *state) setItem(it store.Item) {
	s.items[it.Key] = it
	s.dirtyItems[it.Key] = struct{}{}
}

// flush adds the final value of every row changed in this batch to c.
func (s *state) flush(c *store.Changes) {
	for k := range s.dirtyChains {
		c.Chains = append(c.Chains, s.chains[k].ChainHead)
	}
	for k := range s.dirtyPeriods {
		c.Periods = append(c.Periods, s.periods[k])
	}
	for k := range s.dirtyStreams {
		c.BatchStreams = append(c.BatchStreams, s.streams[k].BatchStream)
	}
	for k := range s.dirtyItems {
		c.Items = append(c.Items, s.items[k])
	}
	s.clearDirty()
}

// prefetch reads, in a few queries, the state a batch of delta events needs
// and is not cached yet: chain heads, the proofs they name, period totals.
// What the store does not have is cached as absent; the partition owns these
// streams, so nothing else can add it meanwhile.
func (s *state) prefetch(ctx context.Context, jobs []*job) error {
	var (
		customers []string
		proofs    []store.Key
		periods   []store.Key
		seen      = map[string]bool{}
	)
	var (
		items   []string
		batches = map[string][]int64{}
	)
	for _, j := range jobs {
		if j.norm == nil {
			continue
		}
		if b := j.norm.Input.Batch; b != nil {
			for _, it := range b.Items {
				if _, ok := s.items[it.Key]; !ok && !seen["i\x00"+it.Key] {
					seen["i\x00"+it.Key] = true
					items = append(items, it.Key)
				}
			}
			k := j.norm.Stream + "\x00" + strconv.FormatInt(b.Seq, 10)
			if _, ok := s.applied[k]; !ok && b.Seq > 0 && !seen["b\x00"+k] {
				seen["b\x00"+k] = true
				batches[j.norm.Stream] = append(batches[j.norm.Stream], b.Seq)
			}
			continue
		}
		if j.norm.Input.Delta == nil {
			continue
		}
		in := &j.norm.Input
		c := in.Delta.CustomerID
		if _, ok := s.chains[c]; !ok && !seen["c\x00"+c] {
			seen["c\x00"+c] = true
			customers = append(customers, c)
		}
		if in.Proof != nil {
			for _, h := range []string{in.Proof.ProofHash, in.Proof.PreviousProofHash} {
				k := c + "\x00" + h
				if _, ok := s.proofs[k]; !ok && h != "" && !seen["p\x00"+k] {
					seen["p\x00"+k] = true
					proofs = append(proofs, store.Key{Customer: c, Value: h})
				}
			}
		}
		if in.Period != nil {
			k := c + "\x00" + in.Period.ID
			if _, ok := s.periods[k]; !ok && !seen["t\x00"+k] {
				seen["t\x00"+k] = true
				periods = append(periods, store.Key{Customer: c, Value: in.Period.ID})
			}
		}
	}
	chains, err := s.st.Chains(ctx, customers)
	if err != nil {
		return err
	}
	for _, c := range customers {
		h, ok := chains[c]
		if !ok {
			h = store.ChainHead{Customer: c}
		}
		s.chains[c] = chainEntry{ChainHead: h, exists: ok}
	}
	found, err := s.st.Proofs(ctx, proofs)
	if err != nil {
		return err
	}
	for _, k := range proofs {
		p, ok := found[k]
		if !ok {
			p = store.Proof{Customer: k.Customer, Hash: k.Value}
		}
		s.proofs[k.Customer+"\x00"+k.Value] = proofEntry{Proof: p, exists: ok}
	}
	found2, err := s.st.Items(ctx, items)
	if err != nil {
		return err
	}
	for _, k := range items {
		it, ok := found2[k]
		if !ok {
			it = store.Item{Key: k}
		}
		s.items[k] = it
	}
	for stream, seqs := range batches {
		applied, err := s.st.BatchesApplied(ctx, stream, seqs)
		if err != nil {
			return err
		}
		for _, q := range seqs {
			s.applied[stream+"\x00"+strconv.FormatInt(q, 10)] = applied[q]
		}
		if _, ok := s.streams[stream]; !ok {
			if _, err := s.stream(ctx, stream); err != nil {
				return err
			}
		}
	}
	totals, err := s.st.PeriodTotals(ctx, periods)
	if err != nil {
		return err
	}
	for _, k := range periods {
		p, ok := totals[k]
		if !ok {
			p = store.PeriodTotal{Customer: k.Customer, Period: k.Value}
		}
		s.periods[k.Customer+"\x00"+k.Value] = p
	}
	return nil
}
