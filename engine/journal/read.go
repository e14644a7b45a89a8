package journal

import (
	"fmt"
	"sort"
)

// cursor remembers where the last Read stopped, so that a loader reading
// forward does not rescan its segment from the start on every call.
type cursor struct {
	seg *segment
	off int64
	seq uint64 // the record at off
}

// Read calls fn with each durable record whose sequence number is >= from,
// in order, at most limit records, and returns how many records fn accepted
// (returned nil for). payload is only valid during the call; it is nil for
// a record that Open found damaged and lost. from below the first retained
// record is ErrReleased (0 counts as 1); from above Committed() reads
// nothing.
func (j *Journal) Read(from uint64, limit int, fn func(seq uint64, payload []byte) error) (int, error) {
	j.readMu.Lock()
	defer j.readMu.Unlock()
	if j.filesClosed {
		return 0, ErrClosed
	}
	from = max(from, 1)
	c := j.committed.Load() // before segs: a segment holding records <= c is in the list
	j.mu.Lock()
	segs := j.segs
	j.mu.Unlock()
	if from < segs[0].first {
		return 0, fmt.Errorf("%w: reading from %d, the first retained record is %d", ErrReleased, from, segs[0].first)
	}
	if from > c || limit <= 0 {
		return 0, nil
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].first > from }) - 1
	n, seq := 0, from
	for ; i < len(segs) && n < limit && seq <= c; i++ {
		seg := segs[i]
		last := c // the last record to read in seg
		if i+1 < len(segs) {
			last = min(last, segs[i+1].first-1)
		}
		off, at := seg.start, seg.first
		if j.cur.seg == seg && j.cur.seq <= seq {
			off, at = j.cur.off, j.cur.seq
		}
		end := seg.end.Load()
		j.rd.reset(seg.f, off, end, seg.legacy)
		for at <= last && n < limit {
			h, p, err := j.rd.next(end - off)
			switch {
			case err == errEnd:
				err = fmt.Errorf("record %d is missing", at)
			case err == nil && (h.seq != at || h.kind == kindClose):
				err = fmt.Errorf("record %d is missing", at)
			}
			if err != nil {
				j.cur = cursor{}
				return n, fmt.Errorf("journal: reading %s at offset %d: %w", seg.path, off, err)
			}
			count := uint64(1)
			if h.kind == kindLost {
				count = uint64(h.lead) // p is nil: each one reads as lost
			}
			for s := at; s < at+count; s++ {
				if s < seq {
					continue
				}
				if s > last || n >= limit {
					j.cur = cursor{seg, off, at}
					return n, nil
				}
				if err := fn(s, p); err != nil {
					j.cur = cursor{seg, off, at}
					return n, err
				}
				n++
				seq++
			}
			off += h.size(seg.legacy)
			at += count
		}
		j.cur = cursor{seg, off, at}
	}
	return n, nil
}

// Release says every record with sequence number <= seq is no longer
// needed: segments holding only such records are deleted, oldest first.
// The segment being written is never deleted; its name keeps the sequence
// going across restarts.
func (j *Journal) Release(seq uint64) error {
	j.readMu.Lock()
	defer j.readMu.Unlock()
	if j.filesClosed {
		return ErrClosed
	}
	seq = min(seq, j.committed.Load())
	for {
		j.mu.Lock()
		if len(j.segs) < 2 || j.segs[1].first-1 > seq {
			j.mu.Unlock()
			return nil
		}
		seg := j.segs[0]
		j.mu.Unlock()
		if err := j.remove(seg.path); err != nil {
			return fmt.Errorf("journal: release: %w", err)
		}
		seg.f.Close()
		j.mu.Lock()
		j.segs = j.segs[1:]
		j.mu.Unlock()
		if j.cur.seg == seg {
			j.cur = cursor{}
		}
		j.log.Debug("journal segment released", "file", seg.path)
	}
}

// Releasable reports whether Release(seq) would delete a segment.
func (j *Journal) Releasable(seq uint64) bool {
	seq = min(seq, j.committed.Load())
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.segs) > 1 && j.segs[1].first-1 <= seq
}

// First returns the lowest retained sequence number (Committed()+1 when
// nothing is retained).
func (j *Journal) First() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.segs[0].first
}
