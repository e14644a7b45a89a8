package worker

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/normalize"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// partition applies the streams hashed to it, one batch per transaction.
type partition struct {
	w     *Worker
	id    int
	in    chan *job
	state *state
	log   hclog.Logger

	// held are deltas waiting for their predecessor, keyed by customer
	// stream and the previousProofHash they wait for.
	held map[string][]*heldJob
	// ledger holds the batch's internal ledger records, read in one query.
	// Not cached across batches: records can be imported at any time.
	ledger        map[string]engine.LedgerRecord
	ledgerFetched map[string]struct{}
	// changes and released belong to the batch being built.
	changes  *store.Changes
	released []*job
}

type heldJob struct {
	*job
	until time.Time
}

func (w *Worker) newPartition(id int) *partition {
	return &partition{
		w: w, id: id,
		in:    make(chan *job, w.cfg.BatchSize),
		state: newState(w.store),
		log:   w.log.Named("partition").With("partition", id),
		held:  map[string][]*heldJob{},
	}
}

func (p *partition) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	batch := make([]*job, 0, p.w.cfg.BatchSize)
	for {
		batch = batch[:0]
		p.resetTimer(timer)
		select {
		case j, ok := <-p.in:
			if !ok {
				return nil
			}
			batch = append(batch, j)
		case <-timer.C:
		}
	fill:
		for len(batch) < p.w.cfg.BatchSize {
			select {
			case j, ok := <-p.in:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		if err := p.process(ctx, batch, len(p.in) == 0); err != nil {
			return err
		}
	}
}

// resetTimer arms the timer for the earliest hold or gap deadline.
func (p *partition) resetTimer(t *time.Timer) {
	next := time.Hour
	now := p.w.cfg.Now()
	for _, hs := range p.held {
		for _, h := range hs {
			if d := h.until.Sub(now); d < next {
				next = max(d, time.Millisecond)
			}
		}
	}
	for _, since := range p.state.gaps {
		if d := since.Add(p.w.cfg.Grace).Sub(now); d < next {
			next = max(d, time.Millisecond)
		}
	}
	t.Reset(next)
}

// process applies one batch and commits it. Holds expire only when caught up
// (idle) so a backlog replayed after a restart is not mistaken for gaps, or
// when long overdue.
func (p *partition) process(ctx context.Context, batch []*job, idle bool) error {
	p.changes = &store.Changes{}
	if err := p.prefetch(ctx, batch); err != nil {
		return err
	}
	for _, j := range batch {
		if err := p.apply(ctx, j, false); err != nil {
			return err
		}
	}
	if err := p.expireHolds(ctx, idle); err != nil {
		return err
	}
	p.state.flush(p.changes)
	if p.changes.Empty() {
		return nil
	}
	start := time.Now()
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if err = p.w.store.Apply(ctx, p.changes); err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.log.Error("committing a batch failed; retrying", "attempt", attempt+1, "error", err)
		p.w.m.commitErrors.Inc()
		select {
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	// Most batches queue nothing; waking the dispatcher for them would
	// only have it look for work in the writer's time.
	if len(p.changes.Deliveries) > 0 {
		p.w.cfg.Committed()
	}
	p.w.m.commitSeconds.Observe(time.Since(start).Seconds())
	p.w.m.batchSize.Observe(float64(len(p.changes.Outcomes)))
	for _, o := range p.changes.Outcomes {
		p.w.m.processed.WithLabelValues(string(o.Status)).Inc()
	}
	held := 0
	for _, hs := range p.held {
		held += len(hs)
	}
	p.w.m.held.WithLabelValues(strconv.Itoa(p.id)).Set(float64(held))
	p.state.trim()
	return nil
}

// apply processes one event, and then any held events it unblocks.
func (p *partition) apply(ctx context.Context, j *job, expired bool) error {
	p.released = p.released[:0]
	if err := p.applyOne(ctx, j, expired); err != nil {
		return err
	}
	for len(p.released) > 0 {
		next := p.released[0]
		p.released = p.released[1:]
		if err := p.applyOne(ctx, next, false); err != nil {
			return err
		}
	}
	return nil
}

func (p *partition) applyOne(ctx context.Context, j *job, expired bool) error {
	if j.err != nil {
		p.fail(j, "", j.err.Error())
		return nil
	}
	n := j.norm
	in := n.Input // a copy: held events are re-evaluated from their pristine form
	in.State.Throttle = p.throttleState(j.ev.Endpoint)
	tr := noTransition() // generic events change no settlement state
	var err error
	switch in.Event.Shape {
	case normalize.ShapeDelta:
		tr, err = p.deltaState(ctx, j, &in, expired)
	case normalize.ShapeBatch:
		tr, err = p.batchState(ctx, j, &in, expired)
	}
	if err != nil {
		return err
	}
	if tr.hold {
		p.hold(j, n.Stream)
		return nil
	}
	d, derr := p.w.decide.Decide(ctx, &in)
	tr.commit()
	if in.Usage != nil {
		if snap, err := json.Marshal(in.Usage); err == nil {
			p.changes.Usage = append(p.changes.Usage, store.Usage{Scope: j.ev.Endpoint, Snapshot: snap})
		}
	}
	raw, _ := json.Marshal(&in)
	digest := sha256.Sum256(raw)
	dec := store.Decision{EventSeq: j.ev.Seq, EventID: j.ev.EventID, Revision: d.Revision,
		InputDigest: hex.EncodeToString(digest[:]), Input: raw, Actions: []byte("[]"), Eval: d.EvalDuration}
	if derr != nil {
		dec.Error = derr.Error()
		p.changes.Decisions = append(p.changes.Decisions, dec)
		p.fail(j, n.Stream, "policy evaluation: "+derr.Error())
		return nil
	}
	dec.Actions = actionsJSON(d.Actions)
	p.changes.Decisions = append(p.changes.Decisions, dec)
	for i, a := range d.Actions {
		p.w.m.actions.WithLabelValues(a.Type, a.Reason).Inc()
		p.applyThrottle(j, a)
		for _, target := range a.Targets {
			key := deliveryKey(j.ev.Endpoint, j.ev.EventID, i, target)
			p.changes.Deliveries = append(p.changes.Deliveries, store.NewDelivery{
				ID: "dlv_" + key[:24], EventSeq: j.ev.Seq, EventID: j.ev.EventID, Plugin: target,
				ActionIndex: i, ActionType: a.Type, Action: a.Raw, IdempotencyKey: key,
			})
		}
	}
	p.changes.Outcomes = append(p.changes.Outcomes, store.Outcome{Seq: j.ev.Seq, Status: engine.StatusProcessed,
		Type: in.Event.Type, Stream: n.Stream})
	return nil
}

func (p *partition) fail(j *job, stream, reason string) {
	p.log.Warn("event failed", "seq", j.ev.Seq, "event_id", j.ev.EventID, "reason", reason)
	typ := ""
	if j.norm != nil {
		typ = j.norm.Input.Event.Type
	}
	p.changes.Outcomes = append(p.changes.Outcomes, store.Outcome{Seq: j.ev.Seq, Status: engine.StatusFailed,
		Error: reason, Type: typ, Stream: stream})
}

func (p *partition) hold(j *job, stream string) {
	key := holdKey(stream, j.norm.Input.Proof.PreviousProofHash)
	for _, h := range p.held[key] {
		if h.ev.Seq == j.ev.Seq {
			return // already waiting
		}
	}
	until := j.ev.ReceivedAt.Add(p.w.cfg.Grace)
	p.held[key] = append(p.held[key], &heldJob{job: j, until: until})
	p.w.holds.add(Hold{Customer: j.norm.CustomerID, EventSeq: j.ev.Seq, EventID: j.ev.EventID,
		ProofHash: j.norm.Input.Proof.ProofHash, PreviousProofHash: j.norm.Input.Proof.PreviousProofHash,
		Since: p.w.cfg.Now(), Until: until})
	p.changes.Outcomes = append(p.changes.Outcomes, store.Outcome{Seq: j.ev.Seq, Status: engine.StatusHeld,
		Type: j.norm.Input.Event.Type, Stream: stream})
}

func holdKey(stream, prev string) string { return stream + "\x00" + prev }

// release queues the events of stream waiting for proof hash.
func (p *partition) release(stream, hash string) {
	key := holdKey(stream, hash)
	for _, h := range p.held[key] {
		p.released = append(p.released, h.job)
		p.w.holds.remove(h.ev.Seq)
	}
	delete(p.held, key)
}

// expireHolds evaluates held events whose grace window is over: their
// predecessor never came, which is a real gap. Only when caught up (idle),
// so a backlog replayed after a restart is not mistaken for gaps, or when
// long overdue.
func (p *partition) expireHolds(ctx context.Context, idle bool) error {
	now := p.w.cfg.Now()
	var due []*heldJob
	for _, hs := range p.held {
		for _, h := range hs {
			if now.After(h.until) && (idle || now.After(h.until.Add(p.w.cfg.Grace))) {
				due = append(due, h)
			}
		}
	}
	slices.SortFunc(due, func(a, b *heldJob) int { return cmp.Compare(a.ev.Seq, b.ev.Seq) })
	for _, h := range due {
		key := holdKey(h.norm.Stream, h.norm.Input.Proof.PreviousProofHash)
		hs := p.held[key]
		i := slices.Index(hs, h)
		if i < 0 {
			continue // released meanwhile by an earlier expiry
		}
		if hs = slices.Delete(hs, i, i+1); len(hs) == 0 {
			delete(p.held, key)
		} else {
			p.held[key] = hs
		}
		p.w.holds.remove(h.ev.Seq)
		if err := p.apply(ctx, h.job, true); err != nil {
			return err
		}
	}
	return p.expireGaps(ctx, now)
}

func (p *partition) throttleState(scope string) engine.ThrottleState {
	t := p.w.Throttle(scope)
	ts := engine.ThrottleState{Active: t.Active, Reason: t.Reason}
	if t.Active && !t.Since.IsZero() {
		ts.Since = t.Since.UTC().Format(engine.TimeFormat)
	}
	return ts
}

// applyThrottle keeps the throttle state the user's app reads in step with
// throttle and unthrottle actions.
func (p *partition) applyThrottle(j *job, a engine.Action) {
	var t store.Throttle
	switch a.Type {
	case "throttle":
		if p.w.Throttle(j.ev.Endpoint).Active {
			return
		}
		t = store.Throttle{Scope: j.ev.Endpoint, Active: true, Since: p.w.cfg.Now(), Reason: a.Reason}
	case "unthrottle":
		if !p.w.Throttle(j.ev.Endpoint).Active {
			return
		}
		t = store.Throttle{Scope: j.ev.Endpoint, Active: false, Reason: a.Reason}
	default:
		return
	}
	p.w.setThrottle(t)
	p.changes.Throttles = append(p.changes.Throttles, t)
}

// deliveryKey is stable per event, action and plugin, so a redelivery of the
// same action carries the same idempotency key.
func deliveryKey(endpoint, eventID string, index int, plugin string) string {
	h := sha256.New()
	h.Write([]byte(endpoint + "\x00" + eventID + "\x00" + strconv.Itoa(index) + "\x00" + plugin))
	return hex.EncodeToString(h.Sum(nil))[:40]
}

func actionsJSON(actions []engine.Action) []byte {
	if len(actions) == 0 {
		return []byte("[]")
	}
	buf := []byte{'['}
	for i, a := range actions {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, a.Raw...)
	}
	return append(buf, ']')
}

// transition is the state change an event causes, applied only once the
// event is decided (not while it is held).
type transition struct {
	hold   bool
	commit func()
}

func noTransition() transition { return transition{commit: func() {}} }

func (p *partition) deltaState(ctx context.Context, j *job, in *engine.Input, expired bool) (transition, error) {
	st := p.state
	customer := in.Delta.CustomerID
	var rec *engine.LedgerRecord
	if r, ok := p.ledger[in.Delta.ReferenceID]; ok {
		rec = &r
	} else if _, fetched := p.ledgerFetched[in.Delta.ReferenceID]; !fetched {
		r, err := p.w.store.LedgerRecord(ctx, in.Delta.ReferenceID)
		if err != nil {
			return transition{}, err
		}
		rec = r
	}
	in.State.Record = rec
	tr := noTransition()
	counts := true // whether this delta adds to our period total
	if in.Proof != nil {
		ct, err := p.chainState(ctx, j, in, expired)
		if err != nil {
			return transition{}, err
		}
		if ct.hold {
			return ct, nil
		}
		tr = ct
		s := in.State.Chain.Status
		counts = s != engine.ChainDuplicate && s != engine.ChainMismatch
	}
	// A duplicate's netDelta is a snapshot from earlier in the chain; our
	// total has moved on, so there is nothing to compare it with.
	if in.Period != nil && counts {
		per, err := st.period(ctx, customer, in.Period.ID)
		if err != nil {
			return transition{}, err
		}
		if rec != nil {
			per.Total += rec.Amount
		}
		per.Deltas++
		in.State.Period = &engine.PeriodState{Ours: per.Total}
		chainCommit := tr.commit
		tr.commit = func() {
			chainCommit()
			st.setPeriod(per)
		}
	}
	return tr, nil
}

// chainState decides how the event's proof links into the customer's chain.
func (p *partition) chainState(ctx context.Context, j *job, in *engine.Input, expired bool) (transition, error) {
	st := p.state
	customer := in.Delta.CustomerID
	hash, prev := in.Proof.ProofHash, in.Proof.PreviousProofHash
	head, err := st.chain(ctx, customer)
	if err != nil {
		return transition{}, err
	}
	cs := &engine.ChainState{Head: head.Head, Length: head.Length}
	in.State.Chain = cs
	tr := noTransition()
	stored, err := st.proof(ctx, customer, hash)
	if err != nil {
		return transition{}, err
	}
	extend := func(verdict string) {
		tr.commit = func() {
			st.setChain(store.ChainHead{Customer: customer, Head: hash, Length: head.Length + 1})
			pr := store.Proof{Customer: customer, Hash: hash, Previous: prev, EventSeq: j.ev.Seq, Verdict: verdict}
			st.addProof(pr)
			p.changes.Proofs = append(p.changes.Proofs, pr)
			// Anything waiting for this proof can go now.
			p.release(j.norm.Stream, hash)
		}
	}
	switch {
	case stored.exists && stored.Previous == prev:
		cs.Status = engine.ChainDuplicate
	case stored.exists:
		cs.Status, cs.Expected, cs.Received = engine.ChainMismatch, stored.Previous, prev
	case !head.exists && (isGenesisHash(prev) || expired):
		// The chain's first proof, or the first we were sent once nothing
		// older turned up within the grace window.
		cs.Status = engine.ChainGenesis
		extend(cs.Status)
	case !head.exists:
		p.log.Info("first proof seen for this customer; waiting for an older one before deciding",
			"customer", customer, "event_id", j.ev.EventID, "up_to", p.w.cfg.Grace)
		return transition{hold: true}, nil
	case prev == head.Head:
		cs.Status = engine.ChainLinked
		extend(cs.Status)
	default:
		known, err := st.proof(ctx, customer, prev)
		if err != nil {
			return transition{}, err
		}
		switch {
		case known.exists:
			// The predecessor already has a successor: two proofs claim it.
			cs.Status, cs.Expected, cs.Received = engine.ChainFork, head.Head, prev
			tr.commit = func() {
				pr := store.Proof{Customer: customer, Hash: hash, Previous: prev, EventSeq: j.ev.Seq, Verdict: engine.ChainFork}
				st.addProof(pr)
				p.changes.Proofs = append(p.changes.Proofs, pr)
			}
		case !expired:
			return transition{hold: true}, nil
		default:
			cs.Status, cs.Expected, cs.Received = engine.ChainGap, head.Head, prev
			extend(cs.Status)
		}
	}
	return tr, nil
}

// batchState places a seed-000 batch in its stream. Batches are applied as
// they come, in any order: the stream's watermark is the highest sequence
// number below which every batch was applied or given up on. A batch that
// was applied before, or is at or below the watermark, is a replay and never
// counts twice. A batch ahead of the watermark is accepted; if the batches
// between do not arrive within the grace window, the watermark moves past
// them.
func (p *partition) batchState(ctx context.Context, j *job, in *engine.Input, _ bool) (transition, error) {
	st := p.state
	stream := j.norm.Stream
	b := in.Batch
	bs, err := st.stream(ctx, stream)
	if err != nil {
		return transition{}, err
	}
	state := &engine.BatchState{LastSeq: bs.LastSeq, LastBatchID: bs.LastBatchID}
	in.State.Batch = state
	items := make(map[string]engine.ItemTotal, len(b.Items))
	for _, it := range b.Items {
		cur, ok, err := st.item(ctx, it.Key)
		if err != nil {
			return transition{}, err
		}
		if ok {
			items[it.Key] = engine.ItemTotal{Bits: cur.Bits, Writes: cur.Writes}
		}
	}
	in.State.Items = items
	applied := false
	if b.Seq > 0 {
		if applied, err = st.batchApplied(ctx, stream, b.Seq); err != nil {
			return transition{}, err
		}
	}
	switch {
	case b.Seq == 0:
		state.Status = engine.BatchUnsequenced
	case applied || (bs.exists && b.Seq <= bs.LastSeq):
		state.Status = engine.BatchReplay
		return noTransition(), nil // a replay never counts twice
	case !bs.exists:
		state.Status = engine.BatchFirst
	case b.Seq == bs.LastSeq+1:
		state.Status = engine.BatchNext
	default:
		state.Status = engine.BatchAhead
	}
	return transition{commit: func() {
		for _, it := range b.Items {
			cur, _, _ := st.item(ctx, it.Key) // cached by the read above
			st.setItem(store.Item{Key: it.Key, Bits: cur.Bits + it.Bits, Writes: cur.Writes + 1})
		}
		if b.Seq == 0 {
			return
		}
		st.markApplied(stream, b.Seq, b.ID)
		p.changes.Batches = append(p.changes.Batches, store.BatchSeen{Stream: stream, Seq: b.Seq, BatchID: b.ID, EventSeq: j.ev.Seq})
		if !bs.exists {
			// The first batch seen need not be the stream's first: wait a grace
			// window for older ones before fixing the watermark.
			st.setStream(store.BatchStream{Stream: stream})
			st.openGap(stream, p.w.cfg.Now())
			return
		}
		if b.Seq == bs.LastSeq+1 {
			if err := st.advance(ctx, stream, b.Seq, b.ID); err != nil {
				p.log.Error("advancing a batch watermark failed", "stream", stream, "error", err)
			}
		} else {
			st.openGap(stream, p.w.cfg.Now())
		}
	}}, nil
}

// expireGaps moves past the missing batches of streams whose gap outlived
// the grace window.
func (p *partition) expireGaps(ctx context.Context, now time.Time) error {
	for stream, since := range p.state.gaps {
		if now.Sub(since) < p.w.cfg.Grace {
			continue
		}
		delete(p.state.gaps, stream)
		if err := p.state.skipGap(ctx, stream, now); err != nil {
			return err
		}
	}
	return nil
}

// isGenesisHash reports whether a previousProofHash marks the first delta of
// a chain: empty, or all zeros.
func isGenesisHash(h string) bool {
	for i := 0; i < len(h); i++ {
		if h[i] != '0' {
			return false
		}
	}
	return true
}

// prefetch reads the batch's state in a few queries. Held events released
// by this batch read theirs one by one.
func (p *partition) prefetch(ctx context.Context, jobs []*job) error {
	var refs []string
	p.ledgerFetched = map[string]struct{}{}
	for _, j := range jobs {
		if j.norm != nil && j.norm.Input.Delta != nil {
			ref := j.norm.Input.Delta.ReferenceID
			if _, ok := p.ledgerFetched[ref]; !ok {
				p.ledgerFetched[ref] = struct{}{}
				refs = append(refs, ref)
			}
		}
	}
	var err error
	if p.ledger, err = p.w.store.LedgerRecords(ctx, refs); err != nil {
		return err
	}
	return p.state.prefetch(ctx, jobs)
}
