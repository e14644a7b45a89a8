package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// segmentScan is what recovery read in a segment.
type segmentScan struct {
	legacy    bool   // version 1: no segment header
	blank     bool   // nothing but zeros: a version 1 segment never written to
	badHeader bool   // a damaged segment header before intact version 2 records
	end       int64  // end of the intact records
	next      uint64 // sequence number due after them
	damage    []damage
}

// damage is a run of bytes where a record was due and none is intact.
type damage struct {
	off    int64 // where the damaged record starts
	reason error
	seq    uint64 // the first record it takes
	skip   int64  // where the next intact record starts, or the segment's size
	lost   uint64 // how many records it takes; 0 when no intact record follows
	// later: an intact record of a later write follows, so the damaged
	// write had been synced (and acknowledged) before the crash; closed:
	// a close marker or a lost record follows.
	later, closed bool
}

// scanSegment reads a segment's records from its start, and on damage
// looks for the next intact record and goes on from there.
func scanSegment(rd *reader, f file, size int64, first uint64) (*segmentScan, error) {
	sc := &segmentScan{}
	start, err := sc.readHeader(rd, f, size, first)
	if err != nil || sc.blank {
		sc.end, sc.next = start, first
		return sc, err
	}
	off, seq := start, first
	rd.reset(f, off, size, sc.legacy)
	for {
		h, _, err := rd.next(size - off)
		if err == errEnd {
			var nz int64
			if nz, err = firstNonZero(f, off, size); err != nil {
				return sc, err
			}
			if nz < 0 {
				sc.end, sc.next = off, seq
				return sc, nil
			}
			err = damaged("zeros at offset %d, but data again at offset %d", off, nz)
		}
		if err == nil && h.seq != seq {
			err = damaged("sequence %d where %d was due", h.seq, seq)
		}
		damageAt, from := off, off+minRecord
		if err == nil && h.kind == kindClose {
			sc.mark(h)
			sc.end, sc.next = off, seq
			var nz int64
			if nz, err = firstNonZero(f, off+headerSize, size); err != nil || nz < 0 {
				return sc, err
			}
			// Taken with the marker, for the writer goes on from it.
			from, err = off+headerSize, damaged("data after the close marker, at offset %d", nz)
		}
		if err != nil {
			if !errors.Is(err, errDamaged) {
				return sc, err
			}
			d := damage{off: damageAt, reason: err, seq: seq, skip: size}
			y := int64(-1)
			if !sc.legacy {
				if y, h, err = resync(f, from, size, seq); err != nil {
					return sc, err
				}
			}
			if y < 0 {
				sc.damage = append(sc.damage, d)
				sc.end, sc.next = damageAt, seq
				return sc, nil
			}
			d.skip, d.lost = y, h.seq-seq
			sc.damage = append(sc.damage, d)
			off, seq = y, h.seq
			rd.reset(f, off, size, false)
			continue
		}
		sc.mark(h)
		off += h.size(sc.legacy)
		if h.kind == kindLost {
			seq += uint64(h.lead)
		} else {
			seq++
		}
	}
}

// readHeader reads the segment header and returns where records start.
func (sc *segmentScan) readHeader(rd *reader, f file, size int64, first uint64) (int64, error) {
	head := make([]byte, min(size, segHeaderSize))
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		return 0, err
	}
	if validSegmentHeader(head) {
		return segHeaderSize, nil
	}
	if !slices.ContainsFunc(head, func(b byte) bool { return b != 0 }) {
		nz, err := firstNonZero(f, 0, size)
		sc.blank = nz < 0
		if err != nil || sc.blank {
			return 0, err
		}
	}
	rd.reset(f, 0, size, true)
	if h, _, err := rd.next(size); err == nil && h.seq == first {
		sc.legacy = true
		return 0, nil
	}
	// A damaged header before version 2 records (or none) is repaired.
	rd.reset(f, segHeaderSize, size, false)
	h, _, err := rd.next(size - segHeaderSize)
	if err == nil && h.seq == first || err == errEnd {
		if nz, zerr := firstNonZero(f, segHeaderSize, size); err == nil || zerr == nil && nz < 0 {
			sc.badHeader = true
			return segHeaderSize, nil
		}
	}
	if err != nil && !errors.Is(err, errDamaged) && err != errEnd {
		return 0, err
	}
	return 0, damaged("at offset 0: not a segment header, and no intact record follows")
}

// mark notes an intact record h in every damage before it.
func (sc *segmentScan) mark(h header) {
	for i := range sc.damage {
		d := &sc.damage[i]
		switch {
		case h.kind != kindData:
			d.later, d.closed = true, true
		case h.seq-uint64(h.lead) > d.seq:
			d.later = true
		}
	}
}

// resync returns the offset and header of the first intact record at or
// after from whose sequence number is seq or more, or -1.
func resync(f file, from, size int64, seq uint64) (int64, header, error) {
	if from+headerSize > size {
		return -1, header{}, nil
	}
	buf := make([]byte, size-from)
	if n, err := f.ReadAt(buf, from); err != nil && !(err == io.EOF && n == len(buf)) {
		return -1, header{}, err
	}
	limit := seq + uint64(size/minRecord) // no more records fit before
	for o := 0; o+headerSize <= len(buf); o++ {
		if k := binary.LittleEndian.Uint32(buf[o+20:]); k > kindClose {
			continue
		}
		if s := binary.LittleEndian.Uint64(buf[o+8:]); s < seq || s > limit {
			continue
		}
		if h, ok := parseAt(buf[o:]); ok {
			return from + int64(o), h, nil
		}
	}
	return -1, header{}, nil
}

// firstNonZero returns the offset of the first non-zero byte of f in
// [from, size), or -1.
func firstNonZero(f file, from, size int64) (int64, error) {
	chunk := min(64<<10, size-from)
	buf := make([]byte, max(chunk, 0))
	for pos := from; pos < size; pos += chunk {
		n := min(chunk, size-pos)
		if _, err := f.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
			return -1, err
		}
		if i := slices.IndexFunc(buf[:n], func(b byte) bool { return b != 0 }); i >= 0 {
			return pos + int64(i), nil
		}
	}
	return -1, nil
}

// recover opens and checks the segments in j.dir and sets up the writer at
// the end of the last one.
func (j *Journal) recover() error {
	// A prepared segment that was never renamed holds no records; it may be
	// half zeroed, so start it over.
	if err := j.fs.Remove(j.tmpPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	firsts, err := listSegments(j.fs, j.dir)
	if err != nil {
		return err
	}
	// Segments holding nothing after Loaded go unread, as Release would
	// have deleted them.
	for len(firsts) > 1 && firsts[1] <= j.opts.Loaded+1 {
		if err := j.remove(j.segPath(firsts[0])); err != nil {
			return err
		}
		firsts = firsts[1:]
	}
	if len(firsts) == 0 {
		return j.startNew(j.opts.Loaded + 1)
	}
	var rd reader
	next := firsts[0]
	for i, first := range firsts {
		path := j.segPath(first)
		if first != next {
			prev := j.segs[len(j.segs)-1]
			return fmt.Errorf("journal: %s starts at sequence %d, but %s ends before %d, at offset %d: a segment is missing or damaged",
				path, first, prev.path, next, prev.end.Load())
		}
		var following uint64 // the next segment's first record, 0 for the last
		if i+1 < len(firsts) {
			following = firsts[i+1]
		}
		if next, err = j.recoverSegment(&rd, path, first, following); err != nil {
			return err
		}
	}
	j.next, j.dirty = next, j.off
	if next <= j.opts.Loaded {
		return j.startOver()
	}
	return j.syncInherited()
}

// startOver replaces a journal that ends at or before Loaded, whose records
// the reader has all, with an empty one that starts after Loaded.
func (j *Journal) startOver() error {
	if retained := j.next - j.segs[0].first; retained > 0 {
		j.log.Warn("journal: every record is already loaded, but the journal ends before the last one loaded; starting over after it",
			"dir", j.dir, "records", retained, "ends", j.next-1, "loaded", j.opts.Loaded)
	} else {
		j.log.Info("journal: empty and behind the last record loaded; starting over after it", "dir", j.dir, "loaded", j.opts.Loaded)
	}
	for _, s := range j.segs {
		s.f.Close()
		if err := j.remove(s.path); err != nil {
			return err
		}
	}
	j.segs = nil
	return j.startNew(j.opts.Loaded + 1)
}

// remove deletes a segment durably, so that a crash leaves a suffix of the
// segments, never a gap, which Open would rightly refuse.
func (j *Journal) remove(path string) error {
	if err := j.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return syncDir(j.fs, j.dir)
}

// startNew starts an empty journal whose first record will be first.
func (j *Journal) startNew(first uint64) error {
	// A new journal starts with a small segment, so that a first start
	// does not wait for SegmentBytes of zeros; the next is full size.
	size := min(j.opts.SegmentBytes, firstSegmentBytes)
	f, err := prepareSegment(j.fs, j.tmpPath(), size, nil)
	if err != nil {
		return err
	}
	path := j.segPath(first)
	if err := j.fs.Rename(j.tmpPath(), path); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.fs, j.dir); err != nil {
		f.Close()
		return err
	}
	seg := &segment{first: first, path: path, f: f, size: size, start: segHeaderSize}
	seg.end.Store(segHeaderSize)
	j.segs = []*segment{seg}
	j.active, j.off, j.dirty, j.next = seg, segHeaderSize, segHeaderSize, first
	return nil
}

// recoverSegment opens and checks one segment; following is the next
// segment's first record, 0 for the last segment. Damage before the last
// write of the last segment (or, without a sync per commit, before a close
// marker) cannot be a torn write: the segment is copied aside and each
// damaged run replaced with a lost record. Damage in the last write is
// taken for a torn write and dropped. It returns the sequence number due
// after the segment.
func (j *Journal) recoverSegment(rd *reader, path string, first, following uint64) (uint64, error) {
	last := following == 0
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := j.fs.OpenFile(path, flag, 0)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("journal: %w", err)
	}
	seg := &segment{first: first, path: path, f: f, size: size}
	j.segs = append(j.segs, seg) // closed by Open on failure
	sc, err := scanSegment(rd, f, size, first)
	if err != nil {
		return 0, fmt.Errorf("journal: %s: %w", path, err)
	}
	seg.legacy = sc.legacy
	if !sc.legacy {
		seg.start = segHeaderSize
	}
	end, next := sc.end, sc.next
	var fix []damage
	for i, d := range sc.damage {
		// Without a sync per commit, writes since the last sync may reach
		// the disk in any order: only a close marker proves them written.
		explained := d.later
		if j.opts.NoSync {
			explained = d.closed
		}
		if last && !explained {
			// Only the last write can be torn, and it was never
			// acknowledged: everything from its damage on goes.
			j.log.Warn("journal: dropping the torn tail of the last segment", "file", path, "offset", d.off,
				"reason", d.reason, "next", d.seq)
			end, next = d.off, d.seq
			break
		}
		if d.lost == 0 {
			if !last && following == d.seq {
				// Bytes after the last record of a full segment: the next
				// segment starts where its records end, so none is lost.
				j.log.Warn("journal: ignoring bytes after the last record of a segment", "file", path, "offset", d.off, "reason", d.reason)
				break
			}
			if last || following < d.seq {
				return 0, fmt.Errorf("journal: %s: bad record at offset %d (%v), and no intact record follows it", path, d.off, d.reason)
			}
			d.lost = following - d.seq
			end, next = size, following
			sc.damage[i] = d
		}
		if sc.legacy || d.skip-d.off < headerSize {
			return 0, fmt.Errorf("journal: %s: bad record at offset %d (%v); refusing to drop records", path, d.off, d.reason)
		}
		fix = append(fix, d)
	}
	if len(fix) > 0 || sc.badHeader {
		if err := j.moveAside(seg, sc.badHeader, fix); err != nil {
			return 0, err
		}
	}
	if last {
		if sc.blank {
			// A version 1 segment that never got a record becomes version 2.
			if _, err := f.WriteAt(segmentHeader(), 0); err != nil {
				return 0, fmt.Errorf("journal: %s: %w", path, err)
			}
			seg.start, end = segHeaderSize, segHeaderSize
		}
		if err := zeroTail(f, end, size); err != nil {
			return 0, fmt.Errorf("journal: zeroing the tail of %s: %w", path, err)
		}
		j.active, j.off = seg, end
		if seg.legacy {
			j.off = size // the next record starts a version 2 segment
		}
	}
	seg.end.Store(end)
	return next, nil
}

// moveAside copies a damaged segment to a file beside it and then, in the
// segment, writes a fresh header if fixHeader is set and replaces each
// damaged run with a lost record, so that every intact record stays
// readable and the reader learns which ones are lost.
func (j *Journal) moveAside(seg *segment, fixHeader bool, ds []damage) error {
	aside, err := j.copyAside(seg)
	if err != nil {
		return fmt.Errorf("journal: keeping a copy of damaged %s: %w", seg.path, err)
	}
	f, err := j.fs.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: repairing %s: %w", seg.path, err)
	}
	defer f.Close()
	// A lost record vouches for what precedes it (see recoverSegment): it
	// may only reach the disk after it.
	if err := f.Datasync(); err != nil {
		return fmt.Errorf("journal: repairing %s: %w", seg.path, err)
	}
	if fixHeader {
		j.log.Error("journal: damaged segment header rewritten; the damaged segment is kept aside", "file", seg.path, "copy", aside)
		if _, err := f.WriteAt(segmentHeader(), 0); err != nil {
			return fmt.Errorf("journal: repairing %s: %w", seg.path, err)
		}
	}
	for _, d := range ds {
		j.log.Error("journal: damaged records are lost; every intact record after them is kept, and the damaged segment is kept aside",
			"file", seg.path, "offset", d.off, "reason", d.reason, "first_lost", d.seq, "lost", d.lost, "copy", aside)
		h := header{length: uint32(d.skip - d.off - headerSize), seq: d.seq, lead: uint32(d.lost), kind: kindLost}
		if _, err := f.WriteAt(appendHeader(nil, h, nil), d.off); err != nil {
			return fmt.Errorf("journal: repairing %s: %w", seg.path, err)
		}
	}
	if err := f.Datasync(); err != nil {
		return fmt.Errorf("journal: repairing %s: %w", seg.path, err)
	}
	return nil
}

// copyAside copies seg to the first free name of <segment>.damaged,
// <segment>.damaged.2, ..., durably, and returns that name.
func (j *Journal) copyAside(seg *segment) (string, error) {
	names, err := j.fs.List(j.dir)
	if err != nil {
		return "", err
	}
	aside := seg.path + ".damaged"
	for n := 2; slices.Contains(names, aside[len(j.dir)+1:]); n++ {
		aside = fmt.Sprintf("%s.damaged.%d", seg.path, n)
	}
	f, err := j.fs.OpenFile(aside, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, min(1<<20, seg.size))
	for off := int64(0); off < seg.size; {
		n, err := seg.f.ReadAt(buf[:min(int64(len(buf)), seg.size-off)], off)
		if err != nil && !(err == io.EOF && n > 0) {
			return "", err
		}
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return "", err
		}
		off += int64(n)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return aside, syncDir(j.fs, j.dir)
}

// syncInherited makes durable what a crashed process may have left in the
// page cache only, before any of it is reported committed: the segments'
// data (a tail written but never synced) and the directory's entries (a
// segment renamed into place but never synced, which a power cut would
// turn back into next.tmp).
func (j *Journal) syncInherited() error {
	for _, s := range j.segs {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("journal: syncing %s: %w", s.path, err)
		}
	}
	return syncDir(j.fs, j.dir)
}
