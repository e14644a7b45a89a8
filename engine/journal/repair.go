package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// stall refuses appends after err failed a commit whose first record was
// next and whose first durable records were kept; the others are numbered
// again. rotate says the next segment could not be started.
func (j *Journal) stall(next uint64, durable int, rotate bool, err error) (int, error) {
	j.next = next + uint64(durable)
	f := &failure{err: fmt.Errorf("%w: %w", ErrUnavailable, err), rotate: rotate}
	j.down.Store(f)
	j.log.Error("journal: a write failed; appends are refused until it is repaired", "error", err, "retry", j.opts.RetryInterval)
	return durable, f.err
}

// retry tries to repair the journal: it zeroes what the failed write left
// after the committed records (without a sync per commit, it writes the
// whole segment again, for a failed sync may have dropped what it held),
// syncs, and, if a rotation failed, prepares the next segment, which needs
// the space a full disk lacked. Appends resume when it succeeds.
func (j *Journal) retry() {
	f := j.down.Load()
	err := j.fixActive()
	var broken *brokenError
	if errors.As(err, &broken) {
		f = &failure{err: fmt.Errorf("%w: %w", ErrBroken, err), broken: true}
		j.down.Store(f)
		j.log.Error("journal: the segment no longer holds what was committed; nothing more is accepted until a restart recovers it", "error", err)
		return
	}
	if err == nil && f.rotate && j.ready == nil {
		j.ready, err = j.takePrepared()
	}
	if err != nil {
		f.retries++
		if f.retries%60 == 0 {
			j.log.Warn("journal: still cannot write", "error", err, "tries", f.retries)
		}
		return
	}
	j.down.Store(nil)
	j.log.Info("journal: repaired; appends resume", "tries", f.retries+1)
}

// brokenError reports committed records missing from the active segment.
type brokenError struct{ err error }

func (e *brokenError) Error() string { return e.err.Error() }
func (e *brokenError) Unwrap() error { return e.err }

// fixActive checks that the active segment still holds every committed
// record, and zeroes what a failed write left after them.
func (j *Journal) fixActive() error {
	seg := j.active
	if seg.legacy {
		return nil // never written to
	}
	buf := make([]byte, max(j.off, j.dirty)-seg.start)
	if n, err := seg.f.ReadAt(buf, seg.start); err != nil && !(err == io.EOF && n == len(buf)) {
		return err
	}
	committed := j.off - seg.start
	if err := verify(buf[:committed], seg.first, j.next); err != nil {
		return &brokenError{fmt.Errorf("%s: %w", seg.path, err)}
	}
	clear(buf[committed:])
	at, b := j.off, buf[committed:]
	if j.opts.NoSync {
		at, b = seg.start, buf
	}
	if len(b) > 0 {
		if _, err := seg.f.WriteAt(b, at); err != nil {
			return err
		}
	}
	if err := seg.f.Datasync(); err != nil {
		return err
	}
	j.dirty = j.off
	return nil
}

// verify checks that b holds records first to next-1, back to back.
func verify(b []byte, first, next uint64) error {
	var rd reader
	rd.reset(bytes.NewReader(b), 0, int64(len(b)), false)
	seq := first
	for off := int64(0); off < int64(len(b)); {
		h, _, err := rd.next(int64(len(b)) - off)
		if err == nil && (h.seq != seq || h.kind == kindClose) {
			err = fmt.Errorf("sequence %d where %d was due", h.seq, seq)
		}
		if err == errEnd {
			err = fmt.Errorf("record %d is missing", seq)
		}
		if err != nil {
			return fmt.Errorf("offset %d from the first record: %w", off, err)
		}
		off += h.size(false)
		if h.kind == kindLost {
			seq += uint64(h.lead)
		} else {
			seq++
		}
	}
	if seq != next {
		return fmt.Errorf("the records end before %d, not before %d", seq, next)
	}
	return nil
}
